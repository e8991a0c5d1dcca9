//! Speculative fetch of the step cycle (issue 22).
//!
//! After every stop an editor asks the same few things, each only once the
//! previous answer is in (the ids come from it): `threads`, `stackTrace` of
//! the stopped thread, `scopes` of its top frame, `variables` of the first
//! scope. dockdap sees the `stopped` event before the editor does, so it asks
//! debugpy for what this editor asked after its last stop of the same
//! reason (`breakpoint`, `step`, ...), with the editor's own arguments and
//! the ids taken from the new answers, while the event is on its way. An editor request that matches one of those exactly
//! is answered from its answer (or waits for it, if it is still in flight);
//! anything else is forwarded as always.
//!
//! **Invariants** (held by `tests/prefetch.rs`):
//! - nothing is fetched that this editor has not asked for after its last
//!   stop of the same reason in this session (a `__repr__` can have side
//!   effects);
//! - every answer not yet used is dropped at the first request that can
//!   change state (anything but the read-only requests in `READ_ONLY`) and at
//!   any event other than the harmless ones in `HARMLESS_EVENTS`; after that,
//!   nothing more is fetched until the next stop;
//! - a request is answered from a fetch only when command and arguments are
//!   equal, as JSON, to what was fetched;
//! - the one request sent before the answer its id comes from is a `scopes`
//!   with the frame id of the previous stop (`guess`), right behind the
//!   stack; it is served, and its `variables` fetched, only once the stack's
//!   answer has that frame id at the same place, and dropped otherwise.
//!   pydevd answers `scopes` from the frame id alone and never reuses a DAP
//!   id for another `id(frame)`; a new frame at a freed frame's address gets
//!   the old id, and then the `variables` fetched after the check are the
//!   new frame's, as the editor's own request would get.
//! - the one answer kept across stops is `scopes` (`memo`): pydevd makes it
//!   from the frame id alone, so it is served from memory only once the
//!   same arguments got the same answer at two stops, only for a frame a
//!   stack of this stop holds, and only until the first state change.
//!
//! This module decides; the session writes. It owns no link and stamps no
//! `seq`: a fetch in flight is a `BridgeTag::Prefetch` request in the
//! `SeqTable`, and an editor request that joins it becomes that entry's
//! asker (`SeqTable::adopt`), so its answer, a `cancel` and the link closing
//! are handled as for any forwarded request.

mod learn;
mod memo;
mod relay;

use serde::Deserialize;
use serde_json::Value;

use learn::{IdRef, Observed, Step};
use memo::Memo;

use crate::dap::{AdapterSeq, Kind, Message};

/// Requests that change nothing in the debuggee: they keep the fetched
/// answers. Every other request (`continue`, `next`, `setVariable`,
/// `evaluate`, `completions`, `restartFrame`, `goto`, dockdap's own, ...)
/// drops them.
const READ_ONLY: &[&str] = &[
    "threads",
    "stackTrace",
    "scopes",
    "variables",
    "source",
    "loadedSources",
    "modules",
    "exceptionInfo",
    "cancel",
    "breakpointLocations",
    "stepInTargets",
    "gotoTargets",
];

/// Events that say nothing about the debuggee's state. Any other event
/// (`continued`, `stopped`, `thread`, `invalidated`, `exited`, `process`, a
/// custom one, ...) drops the fetched answers.
const HARMLESS_EVENTS: &[&str] = &[
    "output",
    "breakpoint",
    "module",
    "loadedSource",
    "progressStart",
    "progressUpdate",
    "progressEnd",
    "debugpySockets",
];

/// The commands of the step cycle and the argument that holds their id.
fn id_field(command: &str) -> Option<Option<&'static str>> {
    match command {
        "threads" => Some(None),
        "stackTrace" => Some(Some("threadId")),
        "scopes" => Some(Some("frameId")),
        "variables" => Some(Some("variablesReference")),
        _ => None,
    }
}

/// One fetch, for the learned step of the same index.
#[derive(Debug)]
struct Slot {
    command: String,
    arguments: Option<Value>,
    /// The request in flight (until answered).
    seq: Option<AdapterSeq>,
    /// debugpy's answer, unused so far.
    answer: Option<Message>,
    /// The frame ids or scope references in the answer.
    ids: Option<Vec<i64>>,
    /// An editor request was answered by this slot (or joined it).
    used: bool,
    /// A `scopes` sent with the frame id of the previous stop, before this
    /// stop's stack said which frame that is (`Prefetch::guess`): never
    /// served, and nothing fetched from its answer, until the stack's
    /// answer shows the same frame at the same place (then `None`).
    guess: Option<i64>,
}

/// What the session should do with an editor request.
#[derive(Debug)]
pub(super) enum Hit {
    /// Forward it as always.
    Miss,
    /// Answer it with this (debugpy's answer to the same request).
    Ready(Message),
    /// The same request is in flight as `AdapterSeq`: adopt it.
    InFlight(AdapterSeq),
}

/// A request to send to debugpy for slot `slot` (the session stamps it and
/// reports the seq with `Prefetch::sent`).
pub(super) struct Fetch {
    pub slot: usize,
    pub message: Message,
}

/// What the fetch did in a session, logged at its end (`info`, target
/// `dockdap::session::prefetch`; the benchmark prints it).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counts {
    /// Requests sent to debugpy on the editor's behalf.
    fetched: u64,
    /// Editor requests answered from a fetch's answer.
    answered: u64,
    /// Editor requests that joined a fetch in flight.
    joined: u64,
    /// Editor requests of the step cycle forwarded as always.
    missed: u64,
    /// `scopes` sent with the previous stop's frame id, ahead of the stack.
    guessed: u64,
    /// Of those, the ones the stack proved wrong (dropped unused).
    wrong: u64,
    /// `scopes` answers taken from memory (`memo`) instead of asked.
    remembered: u64,
}

/// The per-session state of the speculative fetch.
#[derive(Debug, Default)]
pub(super) struct Prefetch {
    enabled: bool,
    /// Over the whole session, across resets.
    counts: Counts,
    /// What the editor asked after its previous stop of the current stop's
    /// reason (the requests fetched now).
    learned: Vec<Step>,
    /// What it asked after its last stop of each reason (`breakpoint`,
    /// `step`, `exception`, ...): a test harness or a user who looks at
    /// every breakpoint but steps on without looking has one cycle per reason.
    by_reason: Vec<(String, Vec<Step>)>,
    /// The reason of the current stop.
    reason: Option<String>,
    /// What it asked after the current stop, so far.
    observed: Observed,
    /// The thread of the current stop.
    thread: Option<i64>,
    /// The fetches of the current stop, by learned step.
    slots: Vec<Option<Slot>>,
    /// Fetching goes on (false from the first state change after a stop).
    active: bool,
    /// Stops so far on this link.
    stop: u64,
    /// The frame ids the stacks answered at this stop held (while `active`).
    frames: Vec<i64>,
    /// `scopes` answers that came back the same at earlier stops.
    memo: Memo,
}

/// `{"stackFrames": [{"id": N}, ...]}`, everything else skipped.
#[derive(Deserialize)]
struct Frames {
    #[serde(rename = "stackFrames")]
    frames: Vec<FrameId>,
}
#[derive(Deserialize)]
struct FrameId {
    id: i64,
}
/// `{"scopes": [{"variablesReference": N}, ...]}`.
#[derive(Deserialize)]
struct Scopes {
    scopes: Vec<ScopeRef>,
}
#[derive(Deserialize)]
struct ScopeRef {
    #[serde(rename = "variablesReference")]
    reference: i64,
}

/// The ids a successful `stackTrace` or `scopes` answer hands out.
fn answer_ids(command: &str, message: &Message) -> Option<Vec<i64>> {
    if !matches!(message.kind(), Kind::Response { success: true, .. }) {
        return None;
    }
    match command {
        "stackTrace" => Some(message.field::<Frames>("body").ok()??.frames.into_iter().map(|f| f.id).collect()),
        "scopes" => Some(message.field::<Scopes>("body").ok()??.scopes.into_iter().map(|s| s.reference).collect()),
        _ => None,
    }
}

/// Whether a request of this command can change the debuggee's state.
pub(super) fn changes_state(command: &str) -> bool {
    !READ_ONLY.contains(&command)
}

/// Whether an event of this name can mean the debuggee's state changed.
pub(super) fn event_changes_state(event: &str) -> bool {
    !HARMLESS_EVENTS.contains(&event)
}

impl Prefetch {
    /// A session's prefetch; `enabled: false` (the `prefetch` attribute)
    /// never fetches anything.
    pub(super) fn new(enabled: bool) -> Prefetch {
        Prefetch { enabled, ..Prefetch::default() }
    }

    /// Forgets everything (a new adapter link: its ids mean nothing here).
    pub(super) fn reset(&mut self) {
        *self = Prefetch { counts: self.counts, ..Prefetch::new(self.enabled) };
    }

    /// Logs what the fetch did in this session (at its end).
    pub(super) fn log_counts(&self) {
        let Counts { fetched, answered, joined, missed, guessed, wrong, remembered } = self.counts;
        if self.enabled {
            tracing::info!(fetched, answered, joined, missed, guessed, wrong, remembered, "prefetch");
        }
    }

    /// Drops every unused answer and stops fetching until the next stop.
    pub(super) fn drop_answers(&mut self) {
        self.active = false;
        self.frames.clear();
        for slot in self.slots.iter_mut().flatten() {
            slot.answer = None;
        }
    }

    /// debugpy stopped on `thread` for `reason`: what the editor asked after
    /// its previous stop is remembered for that stop's reason, what it asked
    /// after its last stop of this reason becomes what is learned, and the
    /// requests that need no answer of this stop are returned, to be sent at once.
    pub(super) fn on_stopped(&mut self, thread: Option<i64>, reason: &str) -> Vec<Fetch> {
        let observed = std::mem::take(&mut self.observed).steps;
        if let Some(previous) = self.reason.replace(reason.to_owned()) {
            match self.by_reason.iter_mut().find(|(r, _)| *r == previous) {
                Some((_, steps)) => *steps = observed,
                None => self.by_reason.push((previous, observed)),
            }
        }
        self.learned = self.by_reason.iter().find(|(r, _)| r == reason).map(|(_, s)| s.clone()).unwrap_or_default();
        let same_thread = thread.is_some() && thread == self.thread;
        self.thread = thread;
        self.stop += 1;
        self.frames.clear();
        self.slots = Vec::new();
        self.active = self.enabled && thread.is_some();
        if !self.active {
            return Vec::new();
        }
        self.slots = (0..self.learned.len()).map(|_| None).collect();
        let (first, rest): (Vec<usize>, Vec<usize>) = (0..self.learned.len())
            .filter(|&i| matches!(self.learned[i].id, Some(IdRef::Plain | IdRef::StoppedThread)))
            .partition(|&i| self.has_dependents(i));
        let guesses: Vec<usize> = if same_thread {
            (0..self.learned.len()).filter(|&i| self.guessable(i, &first)).collect()
        } else {
            Vec::new()
        };
        // debugpy's adapter answers one request after another: what later
        // fetches wait for (the stack) goes first, the guessed `scopes`
        // right behind it, so that each is on its way while debugpy answers
        // the one before, and what nothing waits for (`threads`) last.
        let mut fetches: Vec<Fetch> = first.into_iter().filter_map(|i| self.fetch(i)).collect();
        fetches.extend(guesses.into_iter().filter_map(|i| self.guess(i)));
        fetches.extend(rest.into_iter().filter_map(|i| self.fetch(i)));
        fetches
    }

    /// Whether learned step `i` is a `scopes` of a frame of a stack fetched
    /// now (`stacks`), which can be sent with the previous stop's frame id
    /// before the stack is in. Only `scopes`: debugpy answers it from the
    /// frame id alone, running nothing in the debuggee, so a wrong guess
    /// costs one answer thrown away. A `variables` runs `__repr__`s and is
    /// never guessed: after a step into a call, the previous frame's locals
    /// are still there (one frame down) and would be shown to no one.
    fn guessable(&self, i: usize, stacks: &[usize]) -> bool {
        let step = &self.learned[i];
        step.command == "scopes"
            && matches!(step.id, Some(IdRef::Frame { step, .. }) if stacks.contains(&step))
            && self.learned_frame(i).is_some()
    }

    /// The frame id learned step `i` (a `scopes`) was asked with.
    fn learned_frame(&self, i: usize) -> Option<i64> {
        self.learned[i].arguments.as_ref()?.get("frameId")?.as_i64()
    }

    /// Sends learned step `i` (a `scopes`) as the editor sent it after the
    /// previous stop, with that stop's frame id.
    /// A `scopes` remembered for that frame is filled in from memory
    /// instead, still held as a guess until the stack confirms the frame.
    fn guess(&mut self, i: usize) -> Option<Fetch> {
        let frame = self.learned_frame(i)?;
        let arguments = self.learned[i].arguments.clone();
        if self.fill_from_memo(i, &arguments, Some(frame)) {
            return None;
        }
        let fetch = self.start(i, arguments, Some(frame))?;
        self.counts.guessed += 1;
        Some(fetch)
    }

    /// Whether a learned step's answer gives the id of another learned step.
    fn has_dependents(&self, i: usize) -> bool {
        self.learned
            .iter()
            .any(|s| matches!(s.id, Some(IdRef::Frame { step, .. } | IdRef::Scope { step, .. }) if step == i))
    }

    /// Builds the request for learned step `i`, if its id is known by now.
    fn fetch(&mut self, i: usize) -> Option<Fetch> {
        let step = &self.learned[i];
        let id = match step.id? {
            IdRef::Plain => None,
            IdRef::StoppedThread => Some(self.thread?),
            IdRef::Frame { step, index } | IdRef::Scope { step, index } => {
                Some(*self.slots.get(step)?.as_ref()?.ids.as_ref()?.get(index)?)
            }
        };
        let mut arguments = step.arguments.clone();
        if let (Some(id), Some(Some(field))) = (id, id_field(&step.command)) {
            arguments.as_mut()?.as_object_mut()?.insert(field.to_owned(), Value::from(id));
        }
        if self.fill_from_memo(i, &arguments, None) {
            return None;
        }
        self.start(i, arguments, None)
    }

    /// Fills slot `i` (a `scopes`) with the answer remembered for these
    /// arguments, if there is one: nothing is sent, and what waits for it
    /// can be fetched at once (`advance`).
    fn fill_from_memo(&mut self, i: usize, arguments: &Option<Value>, guess: Option<i64>) -> bool {
        if self.learned[i].command != "scopes" {
            return false;
        }
        let Some((answer, ids)) = self.memo.recall(arguments.as_ref()) else {
            return false;
        };
        let command = self.learned[i].command.clone();
        let arguments = arguments.clone();
        tracing::debug!(?arguments, "scopes taken from memory");
        self.slots[i] =
            Some(Slot { command, arguments, seq: None, answer: Some(answer), ids: Some(ids), used: false, guess });
        self.counts.remembered += 1;
        true
    }

    /// The answer remembered for an editor's `scopes` of a frame a stack
    /// answered at this stop holds.
    fn remembered(&self, command: &str, arguments: Option<&Value>) -> Option<(Message, Vec<i64>)> {
        let frame = arguments?.get("frameId")?.as_i64()?;
        if command != "scopes" || !self.active || !self.frames.contains(&frame) {
            return None;
        }
        self.memo.recall(arguments)
    }

    /// Everything that can be fetched now. A `scopes` filled from memory
    /// needs no answer, so what waits for it is looked at again at once.
    fn advance(&mut self) -> Vec<Fetch> {
        let mut fetches = Vec::new();
        loop {
            let ready: Vec<usize> = (0..self.learned.len()).filter(|&k| self.can_fetch(k)).collect();
            let mut filled = false;
            for k in ready {
                match self.fetch(k) {
                    Some(fetch) => fetches.push(fetch),
                    None => filled |= self.slots[k].is_some(),
                }
            }
            if !filled {
                return fetches;
            }
        }
    }

    /// The request of learned step `i` with these arguments, its slot made.
    fn start(&mut self, i: usize, arguments: Option<Value>, guess: Option<i64>) -> Option<Fetch> {
        let command = self.learned[i].command.clone();
        let message =
            Message::request(&command, arguments.as_ref().unwrap_or(&Value::Object(Default::default()))).ok()?;
        self.slots[i] = Some(Slot { command, arguments, seq: None, answer: None, ids: None, used: false, guess });
        self.counts.fetched += 1;
        Some(Fetch { slot: i, message })
    }

    /// The fetch for `slot` went out as `seq`.
    pub(super) fn sent(&mut self, slot: usize, seq: AdapterSeq) {
        if let Some(Some(s)) = self.slots.get_mut(slot) {
            s.seq = Some(seq);
        }
    }

    /// The editor sent a request: a state change drops the answers; a step
    /// of the cycle is learned and looked up. Call for every client request.
    pub(super) fn on_client_request(&mut self, client_seq: i64, command: &str, arguments: Option<Value>) -> Hit {
        if changes_state(command) {
            self.drop_answers();
            return Hit::Miss;
        }
        if !in_cycle(command) || !self.watching() {
            return Hit::Miss;
        }
        let (hit, ids) = match self.look_up(command, arguments.as_ref()) {
            Hit::Miss => match self.remembered(command, arguments.as_ref()) {
                Some((answer, ids)) => {
                    tracing::debug!(?arguments, "scopes taken from memory");
                    self.counts.remembered += 1;
                    (Hit::Ready(answer), Some(ids))
                }
                None => {
                    self.counts.missed += 1;
                    (Hit::Miss, None)
                }
            },
            Hit::Ready(answer) => {
                self.counts.answered += 1;
                (Hit::Ready(answer), self.slot_of(command, arguments.as_ref()).and_then(|s| s.ids.clone()))
            }
            Hit::InFlight(seq) => {
                self.counts.joined += 1;
                (Hit::InFlight(seq), None)
            }
        };
        self.observed.learn(self.thread, client_seq, command, arguments, ids, matches!(hit, Hit::Ready(_)));
        hit
    }

    fn slot_of(&self, command: &str, arguments: Option<&Value>) -> Option<&Slot> {
        self.slots
            .iter()
            .flatten()
            .find(|s| s.guess.is_none() && s.command == command && s.arguments.as_ref() == arguments)
    }

    fn look_up(&mut self, command: &str, arguments: Option<&Value>) -> Hit {
        let Some(slot) = self
            .slots
            .iter_mut()
            .flatten()
            .find(|s| !s.used && s.guess.is_none() && s.command == command && s.arguments.as_ref() == arguments)
        else {
            return Hit::Miss;
        };
        if let Some(answer) = slot.answer.take() {
            slot.used = true;
            return Hit::Ready(answer);
        }
        match slot.seq {
            Some(seq) if self.active => {
                slot.used = true;
                Hit::InFlight(seq)
            }
            _ => Hit::Miss,
        }
    }

    /// debugpy answered `seq`, which is the editor's request `client` (forwarded,
    /// or a fetch it joined) or a fetch nobody joined (`client: None`).
    /// Records the ids the answer hands out (for learning, and for the fetches
    /// that need them), keeps the answer of an unjoined fetch for the editor,
    /// and returns what can be fetched now and the message when it is the
    /// editor's to have.
    pub(super) fn on_answer(
        &mut self,
        seq: AdapterSeq,
        client: Option<i64>,
        command: &str,
        message: Message,
    ) -> (Vec<Fetch>, Option<Message>) {
        let waiting = client.and_then(|c| self.observed.waiting.iter().position(|(w, _)| *w == c));
        let slot = self.slots.iter().position(|s| s.as_ref().is_some_and(|s| s.seq == Some(seq)));
        if waiting.is_none() && slot.is_none() {
            return (Vec::new(), Some(message));
        }
        let ids = answer_ids(command, &message);
        if let (true, "stackTrace", Some(ids)) = (self.active, command, ids.as_ref()) {
            self.frames.extend(ids);
        }
        let mut step = None;
        if let Some(at) = waiting {
            let (_, index) = self.observed.waiting.swap_remove(at);
            if self.observed.answers[index].is_none() {
                self.observed.answers[index] = ids.clone();
            }
            step = Some(index);
        }
        if let ("scopes", Some(ids)) = (command, ids.as_ref()) {
            let asked = match slot.and_then(|i| self.slots[i].as_ref()) {
                Some(slot) => slot.arguments.as_ref(),
                None => step.and_then(|j| self.observed.steps[j].arguments.as_ref()),
            };
            self.memo.record(self.stop, asked, &message, ids);
        }
        let Some(i) = slot else {
            return (Vec::new(), Some(message));
        };
        let active = self.active;
        let mut message = Some(message);
        if let Some(slot) = self.slots[i].as_mut() {
            slot.seq = None;
            slot.ids = ids;
            if client.is_none() && active {
                slot.answer = message.take();
            } else if client.is_none() {
                message = None;
            }
            if !active || slot.ids.is_none() {
                return (Vec::new(), message);
            }
        }
        self.check_guesses(i);
        (self.advance(), message)
    }

    /// The answer to slot `i` is in: each `scopes` guessed for one of its
    /// frames is confirmed if the frame at that place has the guessed id,
    /// and dropped otherwise (its answer, in or still coming, is never
    /// served; `can_fetch` then asks again with the right id).
    fn check_guesses(&mut self, i: usize) {
        let Some(ids) = self.slots[i].as_ref().and_then(|s| s.ids.clone()) else {
            return;
        };
        for k in 0..self.learned.len() {
            let Some(IdRef::Frame { step, index }) = self.learned[k].id else {
                continue;
            };
            let Some(slot) = self.slots[k].as_mut().filter(|s| step == i && s.guess.is_some()) else {
                continue;
            };
            if ids.get(index) == slot.guess.as_ref() {
                slot.guess = None;
            } else {
                tracing::debug!(guess = slot.guess, "the frame changed: the guessed scopes are dropped");
                self.slots[k] = None;
                self.counts.wrong += 1;
            }
        }
    }

    /// Whether learned step `k` can be fetched now: not yet fetched, and the
    /// answer its id comes from is in and is not a guess.
    fn can_fetch(&self, k: usize) -> bool {
        let Some(IdRef::Frame { step, .. } | IdRef::Scope { step, .. }) = self.learned[k].id else {
            return false;
        };
        self.slots.get(k).is_some_and(Option::is_none)
            && self.slots.get(step).and_then(Option::as_ref).is_some_and(|s| s.guess.is_none() && s.ids.is_some())
    }

    /// Whether requests of the step cycle are looked up and learned now.
    pub(super) fn watching(&self) -> bool {
        self.enabled && self.thread.is_some()
    }
}

/// Whether `command` is one of the step cycle's requests.
pub(super) fn in_cycle(command: &str) -> bool {
    id_field(command).is_some()
}

#[cfg(test)]
mod tests;
