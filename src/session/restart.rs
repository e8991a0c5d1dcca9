//! DAP `restart`: the editor keeps its session while dockdap brings the
//! files in, optionally snapshots the container, recreates it from the
//! newest snapshot, re-attaches, and re-sends the client's breakpoints.
//!
//! The order:
//!
//! 1. (task) the last sync of the old container: its edits come into the
//!    workspace, pending workspace saves go out; then the snapshot if
//!    `commitOnRestart` (or the request's `arguments.commitOnRestart`).
//! 2. (loop) the old adapter link is retired (its late messages are dropped,
//!    requests pending on it are answered), the old container removed.
//! 3. A new container from the newest snapshot this session made (else the
//!    configured image) is started like a `launch`, with the phase
//!    `Starting { command: Restart }`, so debugpy's `attach` answer
//!    becomes the `restart` response.
//! 4. debugpy's `initialized` event is not forwarded (the client is already
//!    configured): dockdap replays the client's last `setBreakpoints` per
//!    source, `setFunctionBreakpoints`, `setExceptionBreakpoints`, then
//!    `configurationDone`.
//!
//! A restart starts from the snapshot only when one is asked for
//! (`commitOnRestart`); a snapshot made earlier (`dockdap/commit`) is not
//! used unless asked again.
//!
//! An `attach` session's container is not dockdap's to recreate: its
//! `restart` attaches again to the same target (`reattach`).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tokio::io::AsyncWrite;

use super::{Initialized, Input, Phase, Session, StartCommand, Task};
use crate::config::{Request, SessionConfig};
use crate::console::Category;
use crate::dap::{BridgeTag, ClientSeq, Message, Origin};
use crate::paths::PathRewriter;
use crate::runtime::CommitRequest;

/// The client's breakpoint requests, as it last sent them (its own paths),
/// to be replayed to a new debugpy.
#[derive(Debug, Default)]
pub(super) struct Breakpoints {
    /// `setBreakpoints` arguments by source (path, or sourceReference).
    by_source: BTreeMap<String, Value>,
    function: Option<Value>,
    exception: Option<Value>,
}

impl Breakpoints {
    /// Remembers a client request if it sets breakpoints.
    pub(super) fn remember(&mut self, command: &str, message: &Message) {
        let args = || message.field::<Value>("arguments").ok().flatten();
        match command {
            "setBreakpoints" => {
                let Some(args) = args() else { return };
                let source = &args["source"];
                let key = source["path"]
                    .as_str()
                    .map(str::to_owned)
                    .or_else(|| source["sourceReference"].as_i64().map(|r| format!("#{r}")));
                if let Some(key) = key {
                    self.by_source.insert(key, args);
                }
            }
            "setFunctionBreakpoints" => self.function = args(),
            "setExceptionBreakpoints" => self.exception = args(),
            _ => {}
        }
    }

    /// The requests to replay, in the order a client sends them.
    fn replay(&self) -> Vec<(&'static str, Value)> {
        let mut out: Vec<(&'static str, Value)> = Vec::new();
        for args in self.by_source.values() {
            // A sourceReference means nothing to a new debugpy.
            if args["source"]["path"].is_string() {
                out.push(("setBreakpoints", args.clone()));
            }
        }
        if let Some(args) = &self.function {
            out.push(("setFunctionBreakpoints", args.clone()));
        }
        if let Some(args) = &self.exception {
            out.push(("setExceptionBreakpoints", args.clone()));
        }
        out
    }
}

impl<W: AsyncWrite + Send + Unpin> Session<W> {
    /// `restart` from the client.
    pub(super) async fn restart(&mut self, message: Message) {
        let seq = message.seq();
        let fail = |why: &str| Message::failure(seq, "restart", why);
        if !matches!(self.phase, Phase::Running { next_initialized: Initialized::Forward | Initialized::Suppress }) {
            self.send_to_client(fail("the session is not running, or is already restarting")).await;
            return;
        }
        let Some(mut config) = self.config.clone() else {
            self.send_to_client(fail("the session has not started")).await;
            return;
        };
        // The client may send the configuration again, edited.
        let args = message.field::<Value>("arguments").ok().flatten().unwrap_or_default();
        if let Some(new) = args.get("arguments").filter(|a| a.is_object()) {
            match SessionConfig::parse(matches!(config.request, Request::Launch(_)), new) {
                Ok(parsed) => config = parsed,
                Err(e) => {
                    self.send_to_client(fail(&e.to_string())).await;
                    return;
                }
            }
        }
        let Request::Launch(launch) = &config.request else {
            self.config = Some(config);
            self.restart_attach(seq).await;
            return;
        };
        let Some(runtime) = self.runtime.clone().filter(|r| r.container().is_some()) else {
            self.send_to_client(fail("the session has no container to restart")).await;
            return;
        };
        let commit = launch.commit_on_restart;
        let app_root = launch.paths.app_root.clone();
        self.config = Some(config);
        self.phase = Phase::Restarting;
        self.console(Category::Console, "[dockdap] restarting: bringing the container's files in first").await;
        let sync = self.sync.take();
        let tx = self.inputs_tx.clone();
        let events = self.events_tx.clone();
        self.tasks.spawn(async move {
            if let Some(sync) = &sync {
                let _ = sync.finish().await;
            }
            let mut result = Ok(None);
            if commit {
                let request = CommitRequest { tag: None, pause: false, app_root };
                result = super::files::snapshot(runtime.as_ref(), &request, &events, None)
                    .await
                    .map(|snap| Some(snap.image));
            }
            let _ = tx.send(Input::Task(Task::RestartPrepared { seq, result })).await;
        });
    }

    /// Step 2 and 3: the files are in (and the snapshot made, if asked).
    pub(super) async fn restart_prepared(&mut self, seq: i64, result: Result<Option<String>, String>) {
        let snapshot = match result {
            Ok(image) => {
                if let Some(image) = &image {
                    self.snapshot = Some(image.clone());
                }
                image
            }
            Err(why) => {
                self.phase = Phase::Running { next_initialized: Initialized::Forward };
                let why = format!("restart stopped: {why}; the session goes on as it was");
                self.start_sync().await;
                self.send_to_client(Message::failure(seq, "restart", &why)).await;
                return;
            }
        };
        // Retire the old debugpy: late messages from it are dropped, requests
        // waiting on it are answered, and its container goes.
        self.adapter_link += 1;
        self.prefetch.reset();
        self.adapter = None;
        self.answer_adapter_pending("debugpy is restarting").await;
        if let Some(old) = self.runtime.take()
            && tokio::time::timeout(super::shutdown::TEARDOWN_TIMEOUT, old.end()).await.is_err()
        {
            tracing::error!("removing the old container took too long; `dockdap reap` removes it");
        }
        let Some(mut config) = self.config.clone() else { return };
        if let (Request::Launch(launch), Some(image)) = (&mut config.request, &snapshot) {
            launch.image = image.clone();
        }
        let from = match &config.request {
            Request::Launch(launch) => match &launch.compose {
                Some(compose) => format!("Compose service {}", compose.service),
                None => launch.image.clone(),
            },
            Request::Attach(_) => String::new(),
        };
        self.console(Category::Console, &format!("[dockdap] restarting from {from}")).await;
        self.spawn_start(config, ClientSeq(seq), StartCommand::Restart);
    }

    /// Configures a new debugpy as the client had configured the old one:
    /// its last breakpoints (rewritten to container paths), then
    /// `configurationDone`. Used by restart and by following a subprocess.
    pub(super) async fn replay_configuration(&mut self) {
        for (command, args) in self.breakpoints.replay() {
            let Ok(mut message) = Message::request(command, &args) else { continue };
            if PathRewriter::request_has_paths(command)
                && let Some(rewriter) = self.rewriter.as_mut()
                && let Err(e) = message.edit_field("arguments", |a| rewriter.request_to_container(command, a))
            {
                tracing::warn!(error = %e, command, "could not rewrite paths in a replayed request");
            }
            self.request_adapter(message, Origin::Bridge(BridgeTag::Other), command).await;
        }
        if let Ok(done) = Message::request("configurationDone", &json!({})) {
            self.request_adapter(done, Origin::Bridge(BridgeTag::Other), "configurationDone").await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_breakpoints_per_source_are_replayed() {
        let mut bps = Breakpoints::default();
        let request = |command: &str, args: Value| Message::request(command, &args).unwrap();
        bps.remember(
            "setBreakpoints",
            &request("setBreakpoints", json!({"source": {"path": "/a.py"}, "breakpoints": [{"line": 1}]})),
        );
        bps.remember(
            "setBreakpoints",
            &request("setBreakpoints", json!({"source": {"path": "/a.py"}, "breakpoints": [{"line": 2}]})),
        );
        bps.remember(
            "setBreakpoints",
            &request("setBreakpoints", json!({"source": {"sourceReference": 7}, "breakpoints": []})),
        );
        bps.remember("setExceptionBreakpoints", &request("setExceptionBreakpoints", json!({"filters": ["uncaught"]})));
        bps.remember("threads", &request("threads", json!({})));
        let replay = bps.replay();
        assert_eq!(replay.len(), 2);
        assert_eq!(replay[0], ("setBreakpoints", json!({"source": {"path": "/a.py"}, "breakpoints": [{"line": 2}]})));
        assert_eq!(replay[1], ("setExceptionBreakpoints", json!({"filters": ["uncaught"]})));
    }
}
