//! The end of a session: debugpy going away, and the fixed shutdown order
//! every exit path runs (see the module documentation of `session`).
//!
//! Every wait here has a timeout: a runtime that does not answer (an engine
//! gone, a container a pause froze) costs time, never a hang.

use std::sync::Arc;
use std::time::Duration;

use futures_util::SinkExt;
use tokio::io::AsyncWrite;

use super::{End, Farewell, Input, Phase, Session, Side, Task};
use crate::console::{Category, Event};
use crate::dap::{Kind, Message, Origin};
use crate::runtime::Runtime;

/// How long the goodbye to debugpy and the last flush to the client may take.
pub(super) const GOODBYE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long to wait for the client's `disconnect` after debugpy went away.
const LINGER: Duration = Duration::from_secs(5);
/// How long putting a runtime back (removing a container) may take.
pub(super) const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(30);

impl<W: AsyncWrite + Send + Unpin> Session<W> {
    /// debugpy closed its link.
    pub(super) async fn on_adapter_closed(&mut self, why: Option<String>) -> Option<End> {
        match &why {
            Some(why) => tracing::warn!(%why, "debugpy stream failed"),
            None => tracing::info!("debugpy closed the connection"),
        }
        // An exit already seen may be taken back by a restart (`docker restart`).
        let may_return = self.runtime.as_ref().is_some_and(|r| r.exit_report().is_none() || r.restartable().is_ok());
        if matches!(self.phase, Phase::Reattaching) || (self.may_reattach() && may_return) {
            self.adapter_gone().await;
            return None;
        }
        self.end_without_adapter().await;
        None
    }

    /// debugpy is gone for good: tell the client, and wait a moment for its `disconnect`.
    pub(super) async fn end_without_adapter(&mut self) {
        self.adapter = None;
        self.answer_adapter_pending("debugpy closed the connection before answering").await;
        // Tell the client now, then give it a moment to send `disconnect`
        // (DAP clients do, after `terminated`) so that it gets an answer.
        self.report_exit(true).await;
        self.say_goodbye_to_client().await;
        self.phase = Phase::Ended;
        self.linger_until = Some(tokio::time::Instant::now() + LINGER);
    }

    /// Sends `terminated`, and `exited` when the exit code is known, once each.
    pub(super) async fn say_goodbye_to_client(&mut self) {
        if self.client_open && self.farewell < Farewell::Terminated {
            if let Ok(event) = Message::event("terminated", &serde_json::json!({})) {
                self.send_to_client(event).await;
            }
            self.farewell = Farewell::Terminated;
        }
        if let Some(code) = self.exit_code
            && self.client_open
            && self.farewell < Farewell::Exited
            && let Ok(event) = Message::event("exited", &serde_json::json!({ "exitCode": code }))
        {
            self.send_to_client(event).await;
            self.farewell = Farewell::Exited;
        }
    }

    /// Answers every client request that debugpy will now never answer.
    /// A pending `disconnect` is answered with success: the client wanted to
    /// be disconnected, and it is.
    pub(super) async fn answer_adapter_pending(&mut self, why: &str) {
        for (_, pending) in self.seq.drain_to_adapter() {
            if let Origin::Peer(client_seq) = pending.origin {
                let reply = if pending.command == "disconnect" {
                    Message::success(client_seq.0, "disconnect", None)
                } else {
                    Message::failure(client_seq.0, &pending.command, why)
                };
                self.send_to_client(reply).await;
            }
        }
        while let Some(request) = self.queued.pop_front() {
            if let Some(command) = request.command() {
                let reply = Message::failure(request.seq(), command, why);
                self.send_to_client(reply).await;
            }
        }
    }

    /// The fixed shutdown order; see the module documentation.
    pub(super) async fn shutdown(mut self, end: End) {
        // What the loop wrote last (a `disconnect` answer) goes out now.
        self.flush_links().await;
        // 1. Stop taking requests; a start still under way is cancelled
        // (what it created is kept for step 5).
        if let Phase::Starting { cancel, .. } = &self.phase {
            cancel.cancel();
        }
        if matches!(self.phase, Phase::Starting { .. }) {
            self.wait_for_start().await;
        }
        // 2. Answer everything that is pending, both ways.
        let why = match end {
            End::Signal => "dockdap is shutting down",
            _ => "the debug session ended",
        };
        self.answer_adapter_pending(why).await;
        for (_, pending) in self.seq.drain_to_client() {
            if let Origin::Peer(adapter_seq) = pending.origin {
                let reply = Message::failure(adapter_seq.0, &pending.command, "the editor went away");
                self.send_to_adapter(reply).await;
            }
        }
        // 3. Tell debugpy goodbye, so an attached program resumes, and stop
        // reading both links.
        if self.adapter.is_some() && end != End::Disconnected && end != End::AdapterGone {
            self.goodbye_to_adapter().await;
        }
        self.readers.stop();
        // 3b. While the container still exists: its last edits come into
        // the workspace, and `commitOnExit` snapshots it.
        self.finish_files().await;
        // 4. Tell the client the session is over: the program's last output,
        // why it ended if it died, then terminated/exited.
        self.report_exit(end == End::AdapterGone).await;
        if end != End::Disconnected {
            self.say_goodbye_to_client().await;
        }
        // Steps 2 to 4 must not wait for the container's removal.
        self.flush_links().await;
        // 5. Put the runtime back, and wait for the removal of any that
        // failed to start.
        if let Some(runtime) = self.runtime.take() {
            tracing::info!(runtime = %runtime.describe(), "ending the runtime");
            match tokio::time::timeout(TEARDOWN_TIMEOUT, runtime.end()).await {
                Ok(Ok(())) => {}
                Ok(Err(why)) => self.console(Category::Stderr, &format!("[dockdap] {why}")).await,
                Err(_) => {
                    tracing::error!("putting the runtime back took over {TEARDOWN_TIMEOUT:?}; giving up");
                    self.console(
                        Category::Stderr,
                        "[dockdap] removing the container timed out; `dockdap reap` removes it later",
                    )
                    .await;
                }
            }
        }
        // 6. Flush, and stop and await every task that is left.
        if self.client_open {
            let _ = tokio::time::timeout(GOODBYE_TIMEOUT, SinkExt::<Message>::flush(&mut self.client)).await;
        }
        if let Some(mut adapter) = self.adapter.take() {
            let _ = tokio::time::timeout(GOODBYE_TIMEOUT, SinkExt::<Message>::close(&mut adapter)).await;
        }
        self.teardown.close();
        if tokio::time::timeout(TEARDOWN_TIMEOUT, self.teardown.wait()).await.is_err() {
            tracing::error!(
                "removing what a failed start left took over {TEARDOWN_TIMEOUT:?}; `dockdap reap` removes it"
            );
        }
        if !self.tasks.shutdown(GOODBYE_TIMEOUT).await {
            tracing::warn!(tasks = self.tasks.len(), "some of the session's tasks did not stop in time");
        }
    }

    /// Flushes the program's last output and, if the container died, says
    /// so with its exit code and a reading of its last lines.
    async fn report_exit(&mut self, adapter_gone: bool) {
        if let Some(diagnosis) = self.debuggee.held_exit.take() {
            self.console(Category::Stderr, &diagnosis).await;
        }
        if adapter_gone
            && self.exit_code.is_none()
            && let Some(runtime) = self.runtime.as_ref()
        {
            // debugpy's stream usually closes a moment before the container's exit is seen.
            let mut exit = runtime.exit_watch();
            self.flush_links().await;
            let _ = tokio::time::timeout(Duration::from_secs(1), exit.wait_for(Option::is_some)).await;
        }
        while let Ok(event) = self.events.try_recv() {
            if let Event::Exited { code, diagnosis } = event {
                if self.exit_code.is_none() {
                    self.exit_code = Some(code);
                    self.console(Category::Stderr, &diagnosis).await;
                }
            } else {
                self.on_event(event).await;
            }
        }
        // The exit may be known before its event is queued.
        if self.exit_code.is_none()
            && let Some((code, diagnosis)) = self.runtime.as_ref().and_then(|r| r.exit_report())
        {
            self.exit_code = Some(code);
            self.console(Category::Stderr, &diagnosis).await;
        }
    }

    /// Waits for a cancelled start task to report, and keeps what it started
    /// so that step 5 of shutdown puts it back.
    async fn wait_for_start(&mut self) {
        let wait = async {
            while let Some(input) = self.inputs.recv().await {
                if let Input::Task(Task::Started(result)) = input {
                    return Some(*result);
                }
            }
            None
        };
        match tokio::time::timeout(TEARDOWN_TIMEOUT, wait).await {
            Ok(Some(Ok(started))) => self.runtime = Some(started.runtime),
            Ok(Some(Err(failed))) => {
                tracing::debug!(error = %failed.error, "start ended");
                self.end_in_background(failed.leftover);
            }
            Ok(None) | Err(_) => tracing::error!(
                "the start task did not finish; its container may be left behind (`dockdap reap` removes it)"
            ),
        }
        self.phase = Phase::Ended;
    }

    /// Ends a runtime that is no longer the session's (a failed start's
    /// leftover) without holding up the loop; shutdown waits for it.
    pub(super) fn end_in_background(&self, runtime: Option<Arc<dyn Runtime>>) {
        let Some(runtime) = runtime else { return };
        let events = self.events_tx.clone();
        self.teardown.spawn(async move {
            match tokio::time::timeout(TEARDOWN_TIMEOUT, runtime.end()).await {
                Ok(Ok(())) => {}
                Ok(Err(why)) => events.line(Category::Stderr, format!("[dockdap] {why}")).await,
                Err(_) => {
                    tracing::error!("removing a container took over {TEARDOWN_TIMEOUT:?}; `dockdap reap` removes it")
                }
            }
        });
    }

    /// Sends `disconnect` to debugpy, so an attached program resumes, and
    /// waits (at most `GOODBYE_TIMEOUT`) for its answer before the link is
    /// closed: debugpy that sees its client's stream close while it handles
    /// the `disconnect` keeps the program as "already being debugged", and
    /// the next editor cannot attach.
    async fn goodbye_to_adapter(&mut self) {
        let args = serde_json::json!({ "restart": false, "terminateDebuggee": false });
        let Ok(request) = Message::request("disconnect", &args) else { return };
        let Some(seq) = self.send_to_adapter(request).await else { return };
        self.flush_links().await;
        let link = self.adapter_link;
        let answered = async {
            while let Some(input) = self.inputs.recv().await {
                match input {
                    Input::Message(Side::Adapter(from), message) if from == link => {
                        if matches!(message.kind(), Kind::Response { request_seq, .. } if *request_seq == seq.0) {
                            return;
                        }
                    }
                    Input::Closed(Side::Adapter(from), _) if from == link => return,
                    _ => {}
                }
            }
        };
        if tokio::time::timeout(GOODBYE_TIMEOUT, answered).await.is_err() {
            tracing::debug!("debugpy did not answer the goodbye in time");
        }
    }
}
