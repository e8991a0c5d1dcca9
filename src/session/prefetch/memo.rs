//! `scopes` answers remembered across stops (issue 22).
//!
//! pydevd answers `scopes` from the frame id alone: the two scopes it hands
//! out are its own ids for (that frame, `locals`) and (that frame,
//! `globals`), which it never reuses for anything else and never forgets
//! (`pydevd_base_schema._translate_id_to_dap`, `on_scopes_request`). So while
//! a frame lives, the answer for its id is the same at every stop, and after
//! each `next` in a function an editor asks it again and waits one more turn
//! of debugpy's adapter, which answers one request after another. dockdap
//! answers it from memory instead, but only:
//! - for a frame id that a stack answered at this stop holds (the editor
//!   can have it from nowhere else; a frame that is gone is never in one);
//! - for arguments that got a byte-identical answer at two stops before;
//! - while this adapter link has never answered the same arguments in two
//!   ways (after that, nothing is remembered on the link: an adapter whose
//!   ids are made per stop is never answered for);
//! - for an answer without counts (`namedVariables`, `indexedVariables`),
//!   which would change with the program even where the ids do not.

use std::collections::VecDeque;

use serde::Deserialize;
use serde_json::Value;

use crate::dap::{Kind, Message};

/// At most this many frames' answers are kept (the oldest go first): a long
/// session calls into many frames that are gone.
const CAPACITY: usize = 256;

/// An answer is used once the same arguments got it at this many stops.
const TRUSTED_AFTER: u32 = 2;

#[derive(Debug)]
struct Entry {
    arguments: Option<Value>,
    /// debugpy's answer, served with the editor's `request_seq`.
    answer: Message,
    /// The scopes' references in it (what a `variables` is then asked with).
    ids: Vec<i64>,
    /// At how many stops it came back the same.
    stops: u32,
    /// The stop it was last seen at.
    last_stop: u64,
}

/// The remembered `scopes` answers of one adapter link.
#[derive(Debug, Default)]
pub(super) struct Memo {
    entries: VecDeque<Entry>,
    /// The link answered the same arguments in two ways: nothing is remembered.
    distrusted: bool,
}

/// `{"scopes": [{...}, ...]}`, for the fields that make an answer unfit.
#[derive(Deserialize)]
struct Scopes {
    scopes: Vec<Scope>,
}
#[derive(Deserialize)]
struct Scope {
    #[serde(rename = "namedVariables")]
    named: Option<Value>,
    #[serde(rename = "indexedVariables")]
    indexed: Option<Value>,
}

/// Whether a successful `scopes` answer can be remembered (it has no counts).
fn rememberable(answer: &Message) -> bool {
    matches!(answer.kind(), Kind::Response { success: true, .. })
        && answer
            .field::<Scopes>("body")
            .ok()
            .flatten()
            .is_some_and(|b| b.scopes.iter().all(|s| s.named.is_none() && s.indexed.is_none()))
}

impl Memo {
    /// debugpy answered `scopes` with these arguments at stop `stop`.
    pub(super) fn record(&mut self, stop: u64, arguments: Option<&Value>, answer: &Message, ids: &[i64]) {
        if self.distrusted || !rememberable(answer) {
            return;
        }
        let body = answer.raw_field("body");
        match self.entries.iter_mut().find(|e| e.arguments.as_ref() == arguments) {
            Some(entry) if entry.answer.raw_field("body") == body => {
                if entry.last_stop != stop {
                    entry.stops += 1;
                    entry.last_stop = stop;
                }
            }
            Some(_) => {
                tracing::debug!(?arguments, "scopes answered in two ways: none is remembered on this link");
                self.distrusted = true;
                self.entries.clear();
            }
            None => {
                if self.entries.len() >= CAPACITY {
                    self.entries.pop_front();
                }
                let arguments = arguments.cloned();
                self.entries.push_back(Entry {
                    arguments,
                    answer: answer.clone(),
                    ids: ids.to_vec(),
                    stops: 1,
                    last_stop: stop,
                });
            }
        }
    }

    /// The remembered answer to `scopes` with these arguments, and its
    /// references, if it came back the same at enough stops. The caller
    /// checks that the frame is in a stack of this stop.
    pub(super) fn recall(&self, arguments: Option<&Value>) -> Option<(Message, Vec<i64>)> {
        if self.distrusted {
            return None;
        }
        let entry = self.entries.iter().find(|e| e.arguments.as_ref() == arguments)?;
        (entry.stops >= TRUSTED_AFTER).then(|| (entry.answer.clone(), entry.ids.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scopes(body: Value) -> Message {
        let frame = json!({"seq": 9, "type": "response", "request_seq": 3, "success": true,
                           "command": "scopes", "body": body});
        Message::parse(frame.to_string().as_bytes()).unwrap()
    }

    fn pydevd(locals: i64) -> Message {
        scopes(json!({"scopes": [
            {"name": "Locals", "variablesReference": locals, "expensive": false, "presentationHint": "locals"},
            {"name": "Globals", "variablesReference": locals + 1, "expensive": false}]}))
    }

    #[test]
    fn an_answer_is_recalled_only_once_two_stops_gave_it_the_same() {
        let mut memo = Memo::default();
        let args = json!({"frameId": 7});
        memo.record(1, Some(&args), &pydevd(11), &[11, 12]);
        memo.record(1, Some(&args), &pydevd(11), &[11, 12]);
        assert!(memo.recall(Some(&args)).is_none(), "one stop is not enough");
        memo.record(2, Some(&args), &pydevd(11), &[11, 12]);
        let (answer, ids) = memo.recall(Some(&args)).expect("two stops gave the same answer");
        assert_eq!(ids, vec![11, 12]);
        assert_eq!(answer.raw_field("body"), pydevd(11).raw_field("body"));
        assert!(memo.recall(Some(&json!({"frameId": 8}))).is_none(), "other arguments");
    }

    #[test]
    fn an_adapter_that_answers_in_two_ways_is_never_answered_for() {
        let mut memo = Memo::default();
        let (a, b) = (json!({"frameId": 7}), json!({"frameId": 9}));
        for stop in 1..=3 {
            memo.record(stop, Some(&b), &pydevd(30), &[30, 31]);
        }
        memo.record(1, Some(&a), &pydevd(11), &[11, 12]);
        memo.record(2, Some(&a), &pydevd(21), &[21, 22]);
        memo.record(3, Some(&a), &pydevd(21), &[21, 22]);
        memo.record(4, Some(&a), &pydevd(21), &[21, 22]);
        assert!(memo.recall(Some(&a)).is_none());
        assert!(memo.recall(Some(&b)).is_none(), "nothing at all is trusted on that link");
    }

    #[test]
    fn answers_with_counts_or_failures_are_not_remembered() {
        let mut memo = Memo::default();
        let args = json!({"frameId": 7});
        let counted = scopes(json!({"scopes": [{"name": "Locals", "variablesReference": 5, "namedVariables": 3}]}));
        let failed = Message::failure(3, "scopes", "no such frame");
        for stop in 1..=3 {
            memo.record(stop, Some(&args), &counted, &[5]);
            memo.record(stop, Some(&args), &failed, &[]);
        }
        assert!(memo.recall(Some(&args)).is_none());
    }
}
