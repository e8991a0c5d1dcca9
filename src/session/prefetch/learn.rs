//! What the editor asked after a stop, and where each id in it came from:
//! the stopped thread, frame *i* of an earlier `stackTrace` answer, scope
//! *j* of an earlier `scopes` answer. What is learned at one stop is what
//! is fetched at the next of the same reason.

use serde_json::Value;

/// At most this many requests are learned per stop (and so fetched).
const MAX_STEPS: usize = 16;

/// Where the id in a learned request's arguments comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IdRef {
    /// The request has no id (`threads`).
    Plain,
    /// `threadId`: the thread of the `stopped` event.
    StoppedThread,
    /// `frameId`: frame `index` of the answer to step `step` (a `stackTrace`).
    Frame { step: usize, index: usize },
    /// `variablesReference`: scope `index` of the answer to step `step` (a `scopes`).
    Scope { step: usize, index: usize },
}

/// One request the editor made after a stop.
#[derive(Debug, Clone)]
pub(super) struct Step {
    pub(super) command: String,
    /// The editor's own arguments (`None`: it sent none).
    pub(super) arguments: Option<Value>,
    /// `None` when the id could not be traced to an answer of this stop:
    /// such a step is never fetched, nor anything that depends on it.
    pub(super) id: Option<IdRef>,
}

/// What the editor asked after the current stop, and the ids it got back.
#[derive(Debug, Default)]
pub(super) struct Observed {
    pub(super) steps: Vec<Step>,
    /// Per step, the frame ids (`stackTrace`) or scope references (`scopes`) answered.
    pub(super) answers: Vec<Option<Vec<i64>>>,
    /// Editor requests in flight, by client seq: which step they are.
    pub(super) waiting: Vec<(i64, usize)>,
}

impl Observed {
    /// Records the editor's request as a step of this stop (stopped on
    /// `thread`), with where its id came from.
    pub(super) fn learn(
        &mut self,
        thread: Option<i64>,
        client_seq: i64,
        command: &str,
        arguments: Option<Value>,
        ids: Option<Vec<i64>>,
        done: bool,
    ) {
        let observed = self;
        if observed.steps.len() >= MAX_STEPS {
            return;
        }
        let id_of = |field: &str| arguments.as_ref().and_then(|a| a.get(field)).and_then(Value::as_i64);
        let find = |of: &str, wanted: Option<i64>| -> Option<(usize, usize)> {
            let wanted = wanted?;
            (0..observed.steps.len()).rev().find_map(|j| {
                let ids = observed.answers[j].as_ref()?;
                (observed.steps[j].command == of)
                    .then(|| ids.iter().position(|&x| x == wanted))
                    .flatten()
                    .map(|i| (j, i))
            })
        };
        let id = match command {
            "threads" => Some(IdRef::Plain),
            "stackTrace" => {
                (id_of("threadId").is_some() && id_of("threadId") == thread).then_some(IdRef::StoppedThread)
            }
            "scopes" => find("stackTrace", id_of("frameId")).map(|(step, index)| IdRef::Frame { step, index }),
            "variables" => {
                find("scopes", id_of("variablesReference")).map(|(step, index)| IdRef::Scope { step, index })
            }
            _ => None,
        };
        let step = Step { command: command.to_owned(), arguments, id };
        let duplicate = observed
            .steps
            .iter()
            .position(|s| s.command == step.command && s.arguments == step.arguments && s.id == step.id);
        let index = match duplicate {
            Some(j) => j,
            None => {
                observed.steps.push(step);
                observed.answers.push(None);
                observed.steps.len() - 1
            }
        };
        if done {
            if observed.answers[index].is_none() {
                observed.answers[index] = ids;
            }
        } else {
            observed.waiting.push((client_seq, index));
        }
    }
}
