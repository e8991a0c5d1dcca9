//! The session's memory of the debuggee process: its pid and threads from
//! debugpy's events, so that a re-attach (`reattach`) can tell the editor
//! which threads of the old process exited and which process is new; and
//! what decides whether its going away is the session's end or a re-attach
//! (the client leaving, a reload asked again meanwhile, the container's
//! exit said only if it does not start again).

use serde_json::Value;

use crate::dap::Message;

/// The session's memory of the debuggee, for telling old from new.
#[derive(Debug, Default)]
pub(super) struct Debuggee {
    /// From debugpy's last `process` event.
    pub(super) pid: Option<i64>,
    /// Threads debugpy reported started and not exited.
    pub(super) threads: Vec<i64>,
    /// A re-attach's new process is yet to be announced (the old pid).
    pub(super) announce: Option<Option<i64>>,
    /// A save arrived while a reload ran (`reloadOnSave`): reload again after.
    pub(super) reload_again: bool,
    /// The client asked to end the session (`disconnect`, `terminate`):
    /// debugpy's end is the end.
    pub(super) leaving: bool,
    /// What the console says about the container's exit, held while the
    /// container may start again (said when it does not).
    pub(super) held_exit: Option<String>,
}

impl Debuggee {
    /// Notes what a debugpy event says about the process and its threads.
    pub(super) fn on_event(&mut self, event: &str, message: &Message) -> Option<String> {
        let body = || message.field::<Value>("body").ok().flatten().unwrap_or_default();
        match event {
            "process" => {
                let pid = body()["systemProcessId"].as_i64();
                self.pid = pid.or(self.pid);
                let old = self.announce.take()?;
                let new = pid.map_or_else(|| "the new process".to_owned(), |p| format!("pid {p}"));
                let was = match old {
                    // The same pid in a container's new run.
                    Some(p) if Some(p) == pid => " (in the container's new run)".to_owned(),
                    Some(p) => format!(" (was pid {p})"),
                    None => String::new(),
                };
                return Some(format!("[dockdap] re-attached: debugging {new}{was}"));
            }
            "thread" => {
                let body = body();
                let id = body["threadId"].as_i64()?;
                match body["reason"].as_str() {
                    Some("started") if !self.threads.contains(&id) => self.threads.push(id),
                    Some("exited") => self.threads.retain(|t| *t != id),
                    _ => {}
                }
            }
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_new_process_is_announced_once_with_the_old_pid() {
        let mut debuggee = Debuggee::default();
        let event = |name: &str, body: Value| Message::event(name, &body).unwrap();
        assert_eq!(debuggee.on_event("process", &event("process", json!({"systemProcessId": 10}))), None);
        debuggee.on_event("thread", &event("thread", json!({"reason": "started", "threadId": 1})));
        debuggee.on_event("thread", &event("thread", json!({"reason": "started", "threadId": 2})));
        debuggee.on_event("thread", &event("thread", json!({"reason": "exited", "threadId": 1})));
        assert_eq!(debuggee.threads, [2]);
        debuggee.announce = Some(debuggee.pid);
        let line = debuggee.on_event("process", &event("process", json!({"systemProcessId": 12})));
        assert_eq!(line.as_deref(), Some("[dockdap] re-attached: debugging pid 12 (was pid 10)"));
        assert_eq!(debuggee.on_event("process", &event("process", json!({"systemProcessId": 12}))), None);
    }
}
