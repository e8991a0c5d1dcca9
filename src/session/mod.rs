//! One debug session: the client (the editor) on one side, the adapter
//! (debugpy) on the other, and one loop between them.
//!
//! Reader tasks own the read halves and turn frames into `Input`s; the loop
//! owns both write halves, the `SeqTable`, the `PathRewriter` and the phase of
//! the session, so numbering and rewriting happen in exactly one place. The
//! loop is a single `select!` over a closed set of inputs (after
//! rust-analyzer's main loop): protocol input and background results first,
//! then what the user should see (program output), so a chatty program
//! cannot starve the protocol. Background work reports back as a typed
//! `Task`, never as a command string.
//!
//! **Architecture Invariant:** only this module stamps `seq` or touches the
//! `SeqTable`; every message written to either peer goes through
//! `send_to_client`/`send_to_adapter` (`links`).
//!
//! **Architecture Invariant:** every task the session starts (its readers,
//! the start, the runtime's watchers, sync, dockdap's own requests) is
//! spawned on its `Tasks`, stopped by its end and awaited (under a timeout)
//! by `shutdown`.
//!
//! The place debugpy runs is an `Arc<dyn Runtime>`: the session does not
//! know whether it is a Docker container, a pod or an address.
//!
//! Shutdown runs in a fixed order on every exit path (`shutdown`): stop
//! reading, answer every pending request, tell debugpy goodbye, sync the
//! container's last edits into the workspace (and `commitOnExit`), send
//! `terminated`/`exited`, put the runtime back (remove the container), flush.

mod child;
mod custom;
mod debuggee;
mod files;
mod forward;
mod inplace;
mod intercept;
mod links;
mod more;
mod prefetch;
mod reattach;
mod restart;
mod shutdown;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::BytesMut;
use futures_util::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::SessionConfig;
use crate::console::{Category, Event, EventSender};
use crate::dap::{ClientSeq, DapCodec, Message, SeqTable};
use crate::error::Error;
use crate::paths::PathRewriter;
use crate::runtime::{Failed, Runtime, Snapshot, Started};
use crate::tasks::Tasks;
use crate::transport::BoxWrite;

/// What a session needs from the process that runs it.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// The workspace folder: the default `localRoot`.
    pub workspace: PathBuf,
    /// Cancelled when the process is asked to stop (SIGINT, SIGTERM, SIGHUP).
    pub shutdown: CancellationToken,
}

/// Which link an input came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    /// The adapter link; the number tells links apart across restarts.
    Adapter(u64),
}

/// Everything the loop reacts to.
enum Input {
    /// A message arrived.
    Message(Side, Message),
    /// A frame arrived that is not a DAP message; the link lives on.
    Malformed(Side, String),
    /// A link closed (with the reason, if it was not a plain end of stream).
    Closed(Side, Option<String>),
    /// Background work finished.
    Task(Task),
}

/// The result of background work the session started (after
/// rust-analyzer's `Task`): each kind is answered its own way.
enum Task {
    /// The runtime came up (or failed to).
    Started(Box<Result<Started, Failed>>),
    /// `dockdap/score` was answered by the service.
    Score { seq: i64, result: Result<Value, String> },
    /// `dockdap/sync` finished.
    Sync { seq: i64, result: Result<Value, String> },
    /// `dockdap/commit` finished.
    Commit { seq: i64, result: Result<Snapshot, String> },
    /// The first half of a DAP `restart` finished: the files are in, and
    /// the snapshot (if one was asked for) is made.
    RestartPrepared { seq: i64, result: Result<Option<String>, String> },
    /// The first half of a reload finished: the saves are in, and the
    /// server whose workers are replaced is found (`seq`: `dockdap/reload`,
    /// or `None` for `reloadOnSave`).
    ReloadPrepared { seq: Option<i64>, result: Result<reattach::Prepared, String> },
    /// debugpy did not close its link in time after dockdap detached.
    DetachTimeout { link: u64 },
    /// A re-attach has waited long for the new process (`link`: the new debugpy's).
    ReattachSlow { link: u64 },
    /// Connected again to the process that replaced the debuggee (or not).
    Reattached(Box<ReattachResult>),
    /// The sync worker copied workspace saves into the container (`reloadOnSave`).
    SavesCopied,
}

/// What connecting again to a replaced debuggee gave.
type ReattachResult =
    Result<(crate::runtime::AdapterStream, Option<crate::runtime::reload::Reloaded>), reattach::ReattachFailed>;

/// Why the loop ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// The client asked (`disconnect`) and was answered.
    Disconnected,
    /// The client closed its stream.
    ClientGone,
    /// debugpy closed its stream.
    AdapterGone,
    /// The process was asked to stop.
    Signal,
}

/// Which client request a start answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StartCommand {
    Launch,
    Attach,
    Restart,
}

impl StartCommand {
    fn as_str(self) -> &'static str {
        match self {
            StartCommand::Launch => "launch",
            StartCommand::Attach => "attach",
            StartCommand::Restart => "restart",
        }
    }
}

/// What the next `initialized` event from debugpy means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Initialized {
    /// The client's business: forwarded.
    Forward,
    /// A followed subprocess's (see `child`): dropped.
    Suppress,
    /// A restarted debugpy's: dockdap configures it as the client had (see `restart`).
    Replay,
}

/// Where the session is in its life.
#[derive(Debug)]
enum Phase {
    /// Waiting for `launch` or `attach`.
    Idle,
    /// The runtime is being started (since `since`) for the client's
    /// request `request`; cancelling `cancel` aborts the start.
    Starting { request: ClientSeq, command: StartCommand, cancel: CancellationToken, since: tokio::time::Instant },
    /// Messages flow.
    Running { next_initialized: Initialized },
    /// Messages flow while the first half of a restart runs (see `restart`).
    Restarting,
    /// The debuggee's process is being replaced and dockdap attaches to the
    /// new one (see `reattach`); client requests wait.
    Reattaching,
    /// Starting failed; the client is expected to disconnect.
    Failed(String),
    /// debugpy is gone and the client was told; waiting for its `disconnect`.
    Ended,
}

impl Phase {
    /// Messages flow to debugpy.
    fn is_running(&self) -> bool {
        matches!(self, Phase::Running { .. } | Phase::Restarting)
    }
}

/// How much of the goodbye the client has had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Farewell {
    Nothing,
    /// `terminated` (from dockdap or debugpy).
    Terminated,
    /// `terminated` and `exited`.
    Exited,
}

/// What the client told us about itself in `initialize`.
#[derive(Debug, Default, Clone)]
struct ClientInfo {
    /// The `initialize` arguments, replayed to debugpy.
    arguments: Value,
    supports_progress: bool,
    supports_start_debugging: bool,
    /// The client times out on events it does not know (Helix, helix#11777),
    /// so debugpy's own `debugpy*` events are not passed to it.
    drops_custom_events: bool,
}

struct Session<W> {
    options: SessionOptions,
    client: FramedWrite<W, DapCodec>,
    client_open: bool,
    /// Written to since the last flush.
    client_dirty: bool,
    adapter: Option<FramedWrite<BoxWrite, DapCodec>>,
    adapter_dirty: bool,
    adapter_link: u64,
    seq: SeqTable,
    rewriter: Option<PathRewriter>,
    phase: Phase,
    info: Option<ClientInfo>,
    config: Option<SessionConfig>,
    /// Client requests that arrived while the runtime was starting.
    queued: VecDeque<Message>,
    /// Where debugpy runs, once started.
    runtime: Option<Arc<dyn Runtime>>,
    /// What the connection needs in debugpy's `attach` (see `AdapterStream::attach`).
    adapter_attach: serde_json::Map<String, Value>,
    /// Links to debugpy that the session moved away from (see `child`).
    parked: Vec<FramedWrite<BoxWrite, DapCodec>>,
    /// The capabilities the client was promised in our `initialize` answer.
    advertised: Value,
    farewell: Farewell,
    exit_code: Option<i64>,
    /// After debugpy went away: when to stop waiting for the client's `disconnect`.
    linger_until: Option<tokio::time::Instant>,
    /// The client's `launch`/`attach` waits for debugpy's answer: when to
    /// look whether the runtime stalled (a paused container), so that it is
    /// answered all the same.
    start_watch: Option<(ClientSeq, tokio::time::Instant)>,
    progress_id: Option<String>,
    inputs_tx: mpsc::Sender<Input>,
    inputs: mpsc::Receiver<Input>,
    events_tx: EventSender,
    events: mpsc::Receiver<Event>,
    /// Every task the session starts; stopped and awaited in shutdown.
    tasks: Tasks,
    /// The reader tasks: stopped first in shutdown.
    readers: Tasks,
    /// Removals of runtimes that failed to start, awaited in shutdown step 5.
    teardown: TaskTracker,
    /// The file sync worker, once a container is up and sync is on.
    sync: Option<crate::sync::SyncHandle>,
    /// The newest snapshot this session made (`dockdap/commit`, `commitOnExit`).
    snapshot: Option<String>,
    /// The client's breakpoint requests, replayed after a restart.
    breakpoints: restart::Breakpoints,
    /// The speculative fetch of the step cycle.
    prefetch: prefetch::Prefetch,
    /// A re-attach under way (reload, restart of an attach, a replaced process).
    reattach: Option<reattach::Reattach>,
    /// What debugpy said about the process and its threads.
    debuggee: debuggee::Debuggee,
}

/// Runs one session over a client stream until it ends, then cleans up.
pub async fn run<R, W>(reader: R, writer: W, options: SessionOptions) -> Result<(), Error>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin,
{
    let (inputs_tx, inputs) = mpsc::channel(64);
    let (events_tx, events) = EventSender::channel(1024);
    let tasks = Tasks::new(options.shutdown.child_token());
    let readers = tasks.child();
    let mut session = Session {
        options,
        client: links::buffered(FramedWrite::new(writer, DapCodec::default())),
        client_open: true,
        client_dirty: false,
        adapter: None,
        adapter_dirty: false,
        adapter_link: 0,
        seq: SeqTable::default(),
        rewriter: None,
        phase: Phase::Idle,
        info: None,
        config: None,
        queued: VecDeque::new(),
        runtime: None,
        adapter_attach: serde_json::Map::new(),
        parked: Vec::new(),
        advertised: Value::Null,
        farewell: Farewell::Nothing,
        exit_code: None,
        linger_until: None,
        start_watch: None,
        progress_id: None,
        inputs_tx,
        inputs,
        events_tx,
        events,
        tasks,
        readers,
        teardown: TaskTracker::new(),
        sync: None,
        snapshot: None,
        breakpoints: restart::Breakpoints::default(),
        prefetch: prefetch::Prefetch::default(),
        reattach: None,
        debuggee: debuggee::Debuggee::default(),
    };
    session.spawn_reader(reader, Side::Client);
    let end = session.run_loop().await;
    tracing::info!(?end, "session ending");
    session.prefetch.log_counts();
    session.shutdown(end).await;
    Ok(())
}

/// How much a reader asks for in one read (more when a frame is larger).
const READ_BUFFER: usize = 64 * 1024;

/// Sleeps until the deadline, or forever without one.
async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

impl<W: AsyncWrite + Send + Unpin> Session<W> {
    fn spawn_reader<R: AsyncRead + Send + Unpin + 'static>(&self, reader: R, side: Side) {
        let tx = self.inputs_tx.clone();
        self.readers.spawn(async move {
            let mut frames = FramedRead::with_capacity(reader, DapCodec::default(), READ_BUFFER);
            loop {
                let next = frames.next().await;
                // A large frame's allocation stays shared with the buffer's
                // rest: give it back once the frame is out.
                if let Some(Ok(Ok(body))) = &next
                    && body.len() > links::SHRINK_ABOVE
                {
                    let rest = frames.read_buffer_mut();
                    let mut small = BytesMut::with_capacity(READ_BUFFER.max(rest.len()));
                    small.extend_from_slice(rest);
                    *rest = small;
                }
                let input = match next {
                    Some(Ok(Ok(body))) => match Message::from_frame(body) {
                        Ok(message) => Input::Message(side, message),
                        Err(e) => Input::Malformed(side, e.to_string()),
                    },
                    Some(Ok(Err(frame_error))) => Input::Malformed(side, frame_error.to_string()),
                    Some(Err(e)) => {
                        let _ = tx.send(Input::Closed(side, Some(e.to_string()))).await;
                        return;
                    }
                    None => {
                        let _ = tx.send(Input::Closed(side, None)).await;
                        return;
                    }
                };
                if tx.send(input).await.is_err() {
                    return;
                }
            }
        });
    }

    async fn run_loop(&mut self) -> End {
        // One wait for the shutdown, kept across messages: making a new one
        // per message cost as much as parsing the message's envelope.
        let shutdown = self.options.shutdown.clone();
        let shutdown = shutdown.cancelled_owned();
        tokio::pin!(shutdown);
        loop {
            if self.inputs.is_empty() && self.events.is_empty() {
                self.flush_links().await;
            }
            let linger = self.linger_until;
            let start_watch = self.start_watch.map(|(_, at)| at);
            let input = tokio::select! {
                biased;
                () = &mut shutdown => return End::Signal,
                () = sleep_until_some(linger) => return End::AdapterGone,
                () = sleep_until_some(start_watch) => {
                    self.check_start().await;
                    continue;
                }
                Some(input) = self.inputs.recv() => input,
                Some(event) = self.events.recv() => {
                    self.on_event(event).await;
                    continue;
                }
            };
            let end = self.on_input(input).await;
            if !self.client_open {
                return End::ClientGone;
            }
            if let Some(end) = end {
                return end;
            }
        }
    }

    async fn on_input(&mut self, input: Input) -> Option<End> {
        match input {
            Input::Message(Side::Client, message) => self.on_client_message(message).await,
            Input::Message(Side::Adapter(link), message) if link == self.adapter_link => {
                self.on_adapter_message(message).await
            }
            Input::Message(Side::Adapter(_), message) => {
                tracing::debug!(message = %message.summary(), "dropping a message from an old adapter link");
                None
            }
            Input::Malformed(side, why) => {
                self.on_malformed(side, &why).await;
                None
            }
            Input::Closed(Side::Client, why) => {
                match why {
                    Some(why) => tracing::warn!(%why, "client stream failed"),
                    None => tracing::info!("client closed the stream"),
                }
                self.client_open = false;
                Some(End::ClientGone)
            }
            Input::Closed(Side::Adapter(link), why) if link == self.adapter_link => self.on_adapter_closed(why).await,
            Input::Closed(Side::Adapter(_), _) => None,
            Input::Task(task) => self.on_task(task).await,
        }
    }

    async fn on_task(&mut self, task: Task) -> Option<End> {
        match task {
            Task::Started(result) => self.on_started(*result).await,
            Task::Score { seq, result } => {
                self.answer_custom(seq, "dockdap/score", result).await;
                None
            }
            Task::Sync { seq, result } => {
                self.answer_custom(seq, "dockdap/sync", result).await;
                None
            }
            Task::Commit { seq, result } => {
                self.commit_done(seq, result).await;
                None
            }
            Task::RestartPrepared { seq, result } => {
                self.restart_prepared(seq, result).await;
                None
            }
            Task::ReloadPrepared { seq, result } => {
                self.reload_prepared(seq, result).await;
                None
            }
            Task::DetachTimeout { link } => {
                self.detach_timeout(link).await;
                None
            }
            Task::ReattachSlow { link } => {
                self.waiting_too_long(link).await;
                None
            }
            Task::Reattached(result) => {
                self.reattached(*result).await;
                None
            }
            Task::SavesCopied => {
                self.reload(None).await;
                None
            }
        }
    }

    async fn on_malformed(&mut self, side: Side, why: &str) {
        let from = match side {
            Side::Client => "the editor",
            Side::Adapter(_) => "debugpy",
        };
        tracing::warn!(%why, "ignoring a malformed message from {from}");
        self.console(Category::Console, &format!("[dockdap] ignored a malformed message from {from}: {why}")).await;
    }

    /// Something the user should see, from the runtime, sync or a task.
    async fn on_event(&mut self, event: Event) {
        match event {
            Event::Output { category, text } => {
                self.events_tx.delivered(text.len());
                let body = serde_json::json!({ "category": category.as_str(), "output": text });
                if let Ok(event) = Message::event("output", &body) {
                    self.send_to_client(event).await;
                }
            }
            Event::Progress(step) => self.progress(&step).await,
            Event::Exited { code, diagnosis } => {
                if self.exit_code.replace(code).is_some() {
                    return;
                }
                if self.may_follow_a_restart() {
                    // Said only if the container does not start again.
                    self.debuggee.held_exit = Some(diagnosis);
                    return;
                }
                if self.phase.is_running() || matches!(self.phase, Phase::Ended | Phase::Reattaching) {
                    self.console(Category::Stderr, &diagnosis).await;
                }
                if matches!(self.phase, Phase::Ended) {
                    // debugpy went first and `terminated` is out: `exited` follows now.
                    self.say_goodbye_to_client().await;
                }
            }
        }
    }
}
