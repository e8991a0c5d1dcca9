//! Re-attaching: the process debugpy runs in goes away and a new one comes,
//! in the same container, and the editor's session goes on with it.
//!
//! Three ways in, one way through:
//!
//! - `dockdap/reload` (and `reloadOnSave`): pending workspace saves go into
//!   the container and the pre-forking server is found (a task); dockdap
//!   detaches from the old worker (`disconnect` without terminating it),
//!   waits for debugpy's link to close, and then (a task) has the server
//!   replace its workers (`runtime::reload`: SIGHUP to the gunicorn master)
//!   and connects again. An app no such server runs has its container
//!   restarted in place instead (`runtime::inplace`,
//!   `Runtime::restart_in_place`): its main process starts again, the
//!   files dockdap copied in stay.
//! - DAP `restart` of an `attach` session: detach, connect again.
//! - The debuggee's process going away by itself (a worker recycled, a
//!   crash) while the container runs on: debugpy's `terminated` is held
//!   back, and once its link closes dockdap connects again, unless the
//!   container exited within a second and did not start again within
//!   `RESTART_GRACE` (then the session ends as before), or
//!   `"reattach": false`. So a `docker restart` of the container (or its
//!   restart policy) is followed into the container's new run.
//!
//! Connecting again is `Runtime::connect_debugger`, as at the start: with
//! the Azure ML hook a new in-container adapter that the new worker's
//! `debugpy.connect()` finds (the bootstrap's gate holds the worker until it
//! listens), with debugpy started in the worker a relay to its port. The new
//! debugpy gets the client's `initialize`, an `attach`, and, on its
//! `initialized`, the client's last breakpoints and `configurationDone`
//! (`Initialized::Replay`, as after a restart), so a breakpoint in `init()`
//! is hit by the new worker. The editor is told that the old threads exited
//! and what the new process is. Client requests made meanwhile wait
//! (`Phase::Reattaching`) and go to the new debugpy.

use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncWrite;
use tokio::time::Instant;
use tokio_util::codec::FramedWrite;

use super::{Initialized, Input, Phase, Session, Side, Task};
use crate::config::Request;
use crate::console::Category;
use crate::dap::{BridgeTag, DapCodec, Message, Origin};
use crate::runtime::inplace::{self, Reload};
use crate::runtime::reload::{self, Reloaded, Reloader};
use crate::runtime::{AdapterStream, ContainerError};

/// How long the old debugpy may take to close its link after dockdap detached.
const DETACH_TIMEOUT: Duration = Duration::from_secs(5);
/// After debugpy's link closed by itself: how long to watch for the
/// container's exit before taking it for a replaced process.
const SETTLE: Duration = Duration::from_secs(1);
/// After connecting again failed: how long to watch for the container's
/// exit, which the failure may be (`Runtime::exit_watch` can lag).
const EXIT_GRACE: Duration = Duration::from_secs(3);
/// How long a re-attach waits for the new process before saying what to do.
const NO_PROCESS_HINT: Duration = Duration::from_secs(20);
/// After the container exited: how long to wait for it to start again (a
/// `docker restart` starts it within a moment of its exit).
const RESTART_GRACE: Duration = Duration::from_secs(3);

/// Who is waiting for a re-attach, and what for.
#[derive(Debug)]
pub(super) enum Waiting {
    /// Nobody: the process went away by itself.
    Nobody,
    /// `dockdap/reload` (`seq`, or `None` from `reloadOnSave`): the files
    /// copied in first, how the app reloads, and the reloader that found
    /// its server, waiting to replace the workers.
    Reload { seq: Option<i64>, pushed: Vec<String>, how: Reload, reloader: Option<Reloader> },
    /// DAP `restart` of an `attach` session.
    Restart { seq: i64 },
}

/// What the first half of a reload found and started.
#[derive(Debug)]
pub(super) struct Prepared {
    how: Reload,
    /// The reloader that found the server, waiting to reload it.
    reloader: Option<Reloader>,
    /// Workspace paths copied into the container.
    pushed: Vec<String>,
    /// The next in-container adapter, started while the old worker is
    /// replaced (its Python takes seconds to start on a busy machine).
    next: Option<AdapterStream>,
}

/// A re-attach under way.
#[derive(Debug)]
pub(super) struct Reattach {
    pub(super) waiting: Waiting,
    /// The next adapter's stream, already open.
    next: Option<AdapterStream>,
    /// The debuggee's pid before, for the console.
    old_pid: Option<i64>,
    /// The new workers, once the reload replaced them.
    workers: Vec<u32>,
    /// When it began (for the log).
    since: Instant,
}

/// Why connecting again did not work.
#[derive(Debug)]
pub(super) enum ReattachFailed {
    /// The container exited: the session ends as it always did.
    Exited,
    /// Anything else, for the user.
    Failed(String),
}

/// How to connect again (a task of its own).
struct Again {
    runtime: std::sync::Arc<dyn crate::runtime::Runtime>,
    /// The link closed by itself: first watch a moment for the container's exit.
    settle: bool,
    /// How a reload replaces the process first.
    how: Option<Reload>,
    /// The reloader started ahead for a server's workers.
    reloader: Option<Reloader>,
    /// The next adapter, already started.
    next: Option<AdapterStream>,
    /// debugpy listens in the new process itself: wait for its port.
    wait_for_port: Option<u16>,
    timeout: f64,
}

impl Again {
    async fn connect(mut self) -> Result<(AdapterStream, Option<Reloaded>), ReattachFailed> {
        let runtime = self.runtime.as_ref();
        if self.settle {
            tokio::select! {
                () = exited(runtime) => {
                    if !restarted(runtime).await {
                        return Err(ReattachFailed::Exited);
                    }
                }
                () = tokio::time::sleep(SETTLE) => {}
            }
        }
        let connect = async {
            let t0 = Instant::now();
            let reloaded = match (&self.how, self.reloader.take()) {
                (Some(Reload::Workers(target)), Some(reloader)) => Some(reloader.reload(target).await?),
                (Some(Reload::Workers(target)), None) => Some(reload::reload(runtime, target).await?),
                (Some(Reload::Process(main)), _) => {
                    runtime.restart_in_place(main.stop_grace()).await?;
                    None
                }
                (None, _) => None,
            };
            tracing::info!(took = ?t0.elapsed(), "re-attach: workers replaced");
            let deadline = Instant::now() + Duration::from_secs_f64(self.timeout);
            if let Some(port) = self.wait_for_port {
                reload::until_listening(runtime, port, self.timeout).await?;
            }
            let stream = match self.next {
                Some(stream) => stream,
                None => runtime.connect_debugger(deadline).await?,
            };
            tracing::info!(took = ?t0.elapsed(), "re-attach: connected");
            Ok::<(AdapterStream, Option<Reloaded>), ContainerError>((stream, reloaded))
        };
        let failed = tokio::select! {
            connected = connect => match connected {
                Ok(connected) => return Ok(connected),
                Err(e) => e,
            },
            () = exited(runtime) => return Err(ReattachFailed::Exited),
        };
        // A runtime may see the program's end a moment after its processes
        // are gone (a pod is read once a second): a connection refused by a
        // container that is ending is its exit, reported as such.
        tokio::select! {
            () = exited(runtime) => Err(ReattachFailed::Exited),
            () = tokio::time::sleep(EXIT_GRACE) => Err(ReattachFailed::Failed(failed.to_string())),
        }
    }
}

/// Returns once the runtime's program has exited (never, for a runtime
/// that does not see it).
async fn exited(runtime: &dyn crate::runtime::Runtime) {
    let mut exit = runtime.exit_watch();
    if exit.wait_for(Option::is_some).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// After an exit: whether the container started again within
/// `RESTART_GRACE` (a runtime that follows restarts takes the exit back).
async fn restarted(runtime: &dyn crate::runtime::Runtime) -> bool {
    if runtime.restartable().is_err() {
        return false;
    }
    let mut exit = runtime.exit_watch();
    matches!(tokio::time::timeout(RESTART_GRACE, exit.wait_for(Option::is_none)).await, Ok(Ok(_)))
}

impl<W: AsyncWrite + Send + Unpin> Session<W> {
    /// Whether debugpy going away means re-attaching rather than the end:
    /// `reattach` is on and the session runs in a container.
    pub(super) fn may_reattach(&self) -> bool {
        let container = self.runtime.as_ref().is_some_and(|r| r.container().is_some());
        let on = self.config.as_ref().is_some_and(|c| c.reattach());
        let phase = matches!(self.phase, Phase::Running { .. } | Phase::Reattaching);
        // An exit may be taken back by a restart (`docker restart`).
        let running = self.exit_code.is_none() || self.runtime.as_ref().is_some_and(|r| r.restartable().is_ok());
        container && on && phase && running && !self.debuggee.leaving
    }

    /// Whether an exit of the container may be taken back by a restart
    /// that the session follows (`docker restart`, a restart policy).
    pub(super) fn may_follow_a_restart(&self) -> bool {
        self.may_reattach() && self.runtime.as_ref().is_some_and(|r| r.restartable().is_ok())
    }

    /// The debugger's port in the container.
    fn debug_port(&self) -> u16 {
        match self.config.as_ref().map(|c| &c.request) {
            Some(Request::Launch(a)) => a.debug_port,
            Some(Request::Attach(a)) => a.debug_port,
            None => crate::config::DEFAULT_DEBUG_PORT,
        }
    }

    /// `dockdap/reload` (`seq`), or a save with `reloadOnSave` (`None`).
    pub(super) async fn reload(&mut self, seq: Option<i64>) {
        let command = "dockdap/reload";
        // A re-attach that no process came to (see `waiting_too_long`) may be
        // replaced by a reload.
        let stuck = matches!(self.reattach, Some(Reattach { waiting: Waiting::Nobody, .. }))
            && matches!(self.phase, Phase::Running { .. });
        if stuck {
            self.reattach = None;
        }
        let busy = !matches!(self.phase, Phase::Running { next_initialized: Initialized::Forward }) && !stuck;
        let why = if self.runtime.as_ref().and_then(|r| r.container()).is_none() {
            Some("this session has no container to reload the app in; use `restart`")
        } else if busy || self.reattach.is_some() {
            Some("the session is starting, restarting or reloading; try again when it has")
        } else {
            None
        };
        if let Some(why) = why {
            match seq {
                Some(seq) => {
                    self.send_to_client(Message::failure(seq, command, why)).await;
                }
                None if busy || self.reattach.is_some() => self.debuggee.reload_again = true,
                None => self.console(Category::Console, &format!("[dockdap] reloadOnSave: {why}")).await,
            }
            return;
        }
        let Some(runtime) = self.runtime.clone() else { return };
        self.phase = Phase::Restarting;
        let what = if seq.is_some() { "reloading" } else { "a save reached the container (reloadOnSave): reloading" };
        self.console(Category::Console, &format!("[dockdap] {what} the app in place")).await;
        let sync = self.sync.clone();
        let tx = self.inputs_tx.clone();
        // With an adapter in the container (the Azure ML hook), the next
        // one starts now: it binds the debug port only when attached.
        let in_container = self.adapter_attach.contains_key("listen");
        let timeout = self.config.as_ref().map_or(60.0, |c| c.timeout()).max(1.0);
        let port = self.debug_port();
        self.tasks.spawn(async move {
            let t0 = Instant::now();
            let copy = async {
                let pushed = match &sync {
                    Some(sync) => sync.to_container().await.map(|a| a.pushed).unwrap_or_default(),
                    None => Vec::new(),
                };
                tracing::info!(took = ?t0.elapsed(), "reload: pending saves copied");
                pushed
            };
            // Both at once: the next adapter is not taken for the old one
            // (`reload::find_ahead` takes only adapters listening on the port).
            let find = async {
                let found = inplace::plan(runtime.as_ref(), port).await;
                tracing::info!(took = ?t0.elapsed(), "reload: server found");
                found
            };
            let next = async {
                if !in_container {
                    return Ok(None);
                }
                let deadline = Instant::now() + Duration::from_secs_f64(timeout);
                let next = runtime.connect_debugger(deadline).await;
                tracing::info!(took = ?t0.elapsed(), "reload: next adapter started");
                next.map(Some)
            };
            let find = async {
                let (plan, next) = tokio::join!(find, next);
                let (how, reloader) = plan?;
                // A restarted container's processes end with it: the adapter
                // started ahead is not needed (dropping it ends it).
                let next = if matches!(how, Reload::Workers(_)) { next? } else { None };
                Ok::<_, ContainerError>((how, reloader, next))
            };
            let (pushed, found) = tokio::join!(copy, find);
            let result =
                found.map(|(how, reloader, next)| Prepared { how, reloader, pushed, next }).map_err(|e| e.to_string());
            let _ = tx.send(Input::Task(Task::ReloadPrepared { seq, result })).await;
        });
    }

    /// The saves are in and the server is found: detach from the old worker.
    pub(super) async fn reload_prepared(&mut self, seq: Option<i64>, result: Result<Prepared, String>) {
        let Prepared { how, reloader, pushed, next } = match result {
            Ok(found) => found,
            Err(why) => {
                self.phase = Phase::Running { next_initialized: Initialized::Forward };
                self.console(Category::Stderr, &format!("[dockdap] {why}")).await;
                if let Some(seq) = seq {
                    self.send_to_client(Message::failure(seq, "dockdap/reload", &why)).await;
                }
                return;
            }
        };
        let files =
            if pushed.is_empty() { "no file to copy".to_owned() } else { format!("copied {}", pushed.join(", ")) };
        let target = match &how {
            Reload::Workers(target) => target,
            Reload::Process(main) => {
                let line = self.restarting_line(&files, main);
                self.console(Category::Console, &line).await;
                self.detach(Waiting::Reload { seq, pushed, how, reloader }, next).await;
                return;
            }
        };
        let workers: Vec<String> = target.workers.iter().map(u32::to_string).collect();
        self.console(
            Category::Console,
            &format!(
                "[dockdap] reloading: {files}; {} (pid {}) replaces its worker{} {} (graceful restart, the debugger detached from it first)",
                target.server,
                target.master,
                if workers.len() == 1 { "" } else { "s" },
                workers.join(", ")
            ),
        )
        .await;
        self.detach(Waiting::Reload { seq, pushed, how, reloader }, next).await;
    }

    /// DAP `restart` of an `attach` session: connect again to the same target.
    pub(super) async fn restart_attach(&mut self, seq: i64) {
        self.console(Category::Console, "[dockdap] restarting: attaching again").await;
        self.detach(Waiting::Restart { seq }, None).await;
    }

    /// Tells debugpy goodbye without ending the program, and waits for its
    /// link to close (`on_adapter_closed` goes on in `adapter_gone`).
    async fn detach(&mut self, waiting: Waiting, next: Option<AdapterStream>) {
        self.reattach =
            Some(Reattach { waiting, next, old_pid: self.debuggee.pid, workers: Vec::new(), since: Instant::now() });
        self.phase = Phase::Reattaching;
        let args = json!({ "restart": false, "terminateDebuggee": false });
        let sent = match Message::request("disconnect", &args) {
            Ok(request) => self.send_to_adapter(request).await,
            Err(_) => None,
        };
        if sent.is_none() {
            self.adapter_gone().await;
            return;
        }
        if let Some(seq) = sent {
            // Its answer (`detach_answered`) is all dockdap waits for: an
            // adapter that served the old worker may keep its link open.
            let pending =
                crate::dap::Pending { origin: Origin::Bridge(BridgeTag::Reattach), command: "disconnect".into() };
            self.seq.sent_to_adapter(seq, pending);
        }
        let link = self.adapter_link;
        let tx = self.inputs_tx.clone();
        self.tasks.spawn(async move {
            tokio::time::sleep(DETACH_TIMEOUT).await;
            let _ = tx.send(Input::Task(Task::DetachTimeout { link })).await;
        });
    }

    /// The old debugpy did not close its link in time: drop it.
    pub(super) async fn detach_timeout(&mut self, link: u64) {
        if link == self.adapter_link && matches!(self.phase, Phase::Reattaching) && self.adapter.is_some() {
            tracing::warn!("debugpy did not close its link after the detach; dropping it");
            self.adapter_gone().await;
        }
    }

    /// debugpy's link closed (or was dropped): retire it, tell the editor
    /// the old threads are gone, and connect again in a task.
    pub(super) async fn adapter_gone(&mut self) {
        let settle = self.reattach.is_none();
        let reattach = self.reattach.get_or_insert_with(|| Reattach {
            waiting: Waiting::Nobody,
            next: None,
            old_pid: None,
            workers: Vec::new(),
            since: Instant::now(),
        });
        if settle {
            reattach.old_pid = self.debuggee.pid;
        }
        let old_pid = reattach.old_pid;
        let (how, reloader) = match &mut reattach.waiting {
            Waiting::Reload { how, reloader, .. } => (Some(how.clone()), reloader.take()),
            _ => (None, None),
        };
        let next = reattach.next.take();
        self.phase = Phase::Reattaching;
        self.adapter_link += 1;
        self.prefetch.reset();
        self.adapter = None;
        self.answer_adapter_pending("debugpy is re-attaching to the new process").await;
        if let Ok(event) = Message::event("continued", &json!({ "threadId": 0, "allThreadsContinued": true })) {
            self.send_to_client(event).await;
        }
        for thread in std::mem::take(&mut self.debuggee.threads) {
            if let Ok(event) = Message::event("thread", &json!({ "reason": "exited", "threadId": thread })) {
                self.send_to_client(event).await;
            }
        }
        if settle {
            let pid = old_pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
            self.console(
                Category::Console,
                &format!("[dockdap] the debuggee{pid} went away; if the container runs on, dockdap attaches to the process that replaces it (`\"reattach\": false` ends the session instead)"),
            )
            .await;
        }
        self.debuggee.announce = Some(old_pid);
        let Some(runtime) = self.runtime.clone() else { return };
        let timeout = self.config.as_ref().map_or(60.0, |c| c.timeout());
        // debugpy started by the new process itself (not an adapter dockdap
        // runs in the container, which listens only once attached): wait
        // until it listens, as at the start.
        let wait_for_port = (!self.adapter_attach.contains_key("listen")).then(|| self.debug_port());
        let plan = Again { runtime, settle, how, reloader, next, wait_for_port, timeout: timeout.max(1.0) };
        let tx = self.inputs_tx.clone();
        self.tasks.spawn(async move {
            let result = plan.connect().await;
            let _ = tx.send(Input::Task(Task::Reattached(Box::new(result)))).await;
        });
    }

    /// Connected again (or not): configure the new debugpy as the client had.
    pub(super) async fn reattached(&mut self, result: Result<(AdapterStream, Option<Reloaded>), ReattachFailed>) {
        if !matches!(self.phase, Phase::Reattaching) {
            if let Ok((stream, _)) = result {
                drop(stream);
            }
            return;
        }
        let (stream, reloaded) = match result {
            Ok(connected) => connected,
            Err(failed) => {
                let why = match failed {
                    ReattachFailed::Exited => "the container exited".to_owned(),
                    ReattachFailed::Failed(why) => {
                        self.console(Category::Stderr, &format!("[dockdap] could not attach again: {why}")).await;
                        why
                    }
                };
                self.answer_reattach(Err(format!("could not attach again: {why}"))).await;
                self.end_without_adapter().await;
                return;
            }
        };
        if let (Some(reloaded), Some(reattach)) = (&reloaded, self.reattach.as_mut()) {
            reattach.workers.clone_from(&reloaded.workers);
            let new: Vec<String> = reloaded.workers.iter().map(u32::to_string).collect();
            let left = if reloaded.left.is_empty() {
                String::new()
            } else {
                format!("; still finishing: {:?}", reloaded.left)
            };
            self.console(
                Category::Console,
                &format!(
                    "[dockdap] new worker {} started (the old one was gone after {:.2}s{left}); attaching before init()",
                    new.join(", "),
                    reloaded.waited
                ),
            )
            .await;
        }
        // A restart took the container's exit back.
        self.exit_code = None;
        self.debuggee.held_exit = None;
        self.adapter_link += 1;
        self.prefetch.reset();
        let AdapterStream { link, attach } = stream;
        self.spawn_reader(link.reader, Side::Adapter(self.adapter_link));
        self.adapter = Some(FramedWrite::new(link.writer, DapCodec::default()));
        self.adapter_attach = attach;
        self.phase = Phase::Running { next_initialized: Initialized::Replay };
        let replay = self.replayed_initialize();
        if let Ok(init) = Message::request("initialize", &replay) {
            self.request_adapter(init, Origin::Bridge(BridgeTag::Initialize), "initialize").await;
        }
        if let Ok(attach) = Message::request("attach", &self.attach_arguments()) {
            self.request_adapter(attach, Origin::Bridge(BridgeTag::Reattach), "attach").await;
        }
        while let Some(queued) = self.queued.pop_front() {
            self.forward_request_to_adapter(queued).await;
        }
        let link = self.adapter_link;
        let tx = self.inputs_tx.clone();
        self.tasks.spawn(async move {
            tokio::time::sleep(NO_PROCESS_HINT).await;
            let _ = tx.send(Input::Task(Task::ReattachSlow { link })).await;
        });
    }

    /// No process has come to the new debugpy for a while: say what to do.
    pub(super) async fn waiting_too_long(&mut self, link: u64) {
        if link != self.adapter_link || self.reattach.is_none() {
            return;
        }
        self.console(
            Category::Important,
            &format!(
                "[dockdap] no process has reached the debugger {}s after the old one went away; if the server started its replacement before dockdap attached anew, that one runs undebugged: `dockdap/reload` replaces it with one that waits for the debugger",
                NO_PROCESS_HINT.as_secs()
            ),
        )
        .await;
    }

    /// debugpy answered the detach (`disconnect`) or the new `attach`.
    pub(super) async fn reattach_answered(&mut self, command: &str, message: &Message) {
        if command == "disconnect" {
            if matches!(self.phase, Phase::Reattaching) && self.adapter.is_some() {
                self.adapter_gone().await;
            }
            return;
        }
        let ok = message.field::<bool>("success").ok().flatten().unwrap_or(false);
        let result = if ok {
            Ok(())
        } else {
            let why = message.field::<String>("message").ok().flatten().unwrap_or_default();
            self.console(Category::Stderr, &format!("[dockdap] debugpy refused to attach again: {why}")).await;
            Err(format!("debugpy refused to attach again: {why}"))
        };
        self.answer_reattach(result).await;
        if std::mem::take(&mut self.debuggee.reload_again) {
            self.reload(None).await;
        }
    }

    /// Answers whoever waited for the re-attach.
    async fn answer_reattach(&mut self, result: Result<(), String>) {
        let Some(reattach) = self.reattach.take() else { return };
        tracing::info!(took = ?reattach.since.elapsed(), ok = result.is_ok(), "re-attach done");
        let (seq, command, body) = match reattach.waiting {
            Waiting::Nobody | Waiting::Reload { seq: None, .. } => return,
            Waiting::Reload { seq: Some(seq), pushed, how: Reload::Workers(_), .. } => {
                (seq, "dockdap/reload", json!({ "reloaded": "workers", "pushed": pushed, "workers": reattach.workers }))
            }
            Waiting::Reload { seq: Some(seq), pushed, how: Reload::Process(_), .. } => {
                (seq, "dockdap/reload", self.process_reloaded(pushed))
            }
            Waiting::Restart { seq } => (seq, "restart", json!({})),
        };
        let reply = match result {
            Ok(()) => Message::success(seq, command, Some(&body)),
            Err(why) => Message::failure(seq, command, &why),
        };
        self.send_to_client(reply).await;
    }

    /// A line for the console when the new process announces itself.
    pub(super) async fn note_debuggee_event(&mut self, event: &str, message: &Message) {
        if let Some(line) = self.debuggee.on_event(event, message) {
            self.console(Category::Console, &line).await;
        }
    }
}
