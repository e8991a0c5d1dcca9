//! One debug session: the client (the editor) on one side, the adapter
//! (debugpy) on the other, and one loop between them.
//!
//! Reader tasks own the read halves and turn frames into `Input`s; the loop
//! owns both write halves, the `SeqTable`, the `PathRewriter` and the phase of
//! the session, so numbering and rewriting happen in exactly one place. The
//! loop is a single `select!` over a closed set of inputs (after
//! rust-analyzer's main loop): protocol input first, then target events
//! (program output), so a chatty program cannot starve the protocol.
//!
//! **Architecture Invariant:** only this module stamps `seq` or touches the
//! `SeqTable`; every message written to either peer goes through
//! `send_to_client`/`send_to_adapter`.
//!
//! Writes are buffered and flushed once the loop has no input waiting
//! (`flush_links`): an answer goes out as soon as the loop is idle, and a
//! flood of program output leaves in large writes instead of one system
//! call per message. A frame is never split between two writes by dockdap.
//!
//! Shutdown runs in a fixed order on every exit path (`shutdown`): stop
//! reading, answer every pending request, tell debugpy goodbye, sync the
//! container's last edits into the workspace (and `commitOnExit`), send
//! `terminated`/`exited`, put the target back (remove the container), flush.

mod child;
mod custom;
mod files;
mod forward;
mod intercept;
mod restart;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::SessionConfig;
use crate::console::{Category, Event, EventSender};
use crate::dap::{AdapterSeq, ClientSeq, DapCodec, Message, Origin, Pending, SeqTable};
use crate::error::Error;
use crate::paths::PathRewriter;
use crate::target::{Connected, Target};
use crate::transport::BoxWrite;

/// How long the goodbye to debugpy and the last flush to the client may take.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long to wait for the client's `disconnect` after debugpy went away.
const LINGER: Duration = Duration::from_secs(5);
/// How long putting the target back (removing a container) may take.
const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(30);

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
    /// The target came up (or failed to).
    Started(Box<Result<Connected, Error>>),
    /// One of dockdap's own requests finished.
    Custom { seq: i64, command: String, result: Result<Value, String> },
}

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

/// Where the session is in its life.
#[derive(Debug)]
enum Phase {
    /// Waiting for `launch` or `attach`.
    Idle,
    /// The target is being started for the client's request `request`.
    Starting { request: ClientSeq, command: String },
    /// Messages flow.
    Running,
    /// Starting failed; the client is expected to disconnect.
    Failed(String),
    /// debugpy is gone and the client was told; waiting for its `disconnect`.
    Ended,
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
    /// Client requests that arrived while the target was starting.
    queued: VecDeque<Message>,
    target: Option<Target>,
    /// What the connection needs in debugpy's `attach` (see `Connected::attach`).
    adapter_attach: serde_json::Map<String, Value>,
    /// Links to debugpy that the session moved away from (see `child`).
    parked: Vec<FramedWrite<BoxWrite, DapCodec>>,
    /// The next `initialized` event comes from a followed subprocess and is
    /// not the client's business.
    suppress_initialized: bool,
    /// A start task is running and will send `Input::Started`.
    starting: bool,
    /// The capabilities the client was promised in our `initialize` answer.
    advertised: Value,
    terminated_sent: bool,
    exited_sent: bool,
    exit_code: Option<i64>,
    /// After debugpy went away: when to stop waiting for the client's `disconnect`.
    linger_until: Option<tokio::time::Instant>,
    progress_id: Option<String>,
    inputs_tx: mpsc::Sender<Input>,
    inputs: mpsc::Receiver<Input>,
    events_tx: EventSender,
    events: mpsc::Receiver<Event>,
    /// Stops the reader tasks and the start task.
    stop: CancellationToken,
    tasks: TaskTracker,
    /// The file sync worker, once a container is up and sync is on.
    sync: Option<crate::sync::SyncHandle>,
    /// The newest snapshot this session made (`dockdap/commit`, `commitOnExit`).
    snapshot: Option<String>,
    /// A DAP `restart` is under way (see `restart`).
    restarting: bool,
    /// The client's breakpoint requests, replayed after a restart.
    breakpoints: restart::Breakpoints,
}

/// Runs one session over a client stream until it ends, then cleans up.
pub async fn run<R, W>(reader: R, writer: W, options: SessionOptions) -> Result<(), Error>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin,
{
    let (inputs_tx, inputs) = mpsc::channel(64);
    let (events_tx, events) = EventSender::channel(1024);
    let stop = options.shutdown.child_token();
    let mut session = Session {
        options,
        client: buffered(FramedWrite::new(writer, DapCodec::default())),
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
        target: None,
        adapter_attach: serde_json::Map::new(),
        parked: Vec::new(),
        suppress_initialized: false,
        starting: false,
        advertised: Value::Null,
        terminated_sent: false,
        exited_sent: false,
        exit_code: None,
        linger_until: None,
        progress_id: None,
        inputs_tx,
        inputs,
        events_tx,
        events,
        stop,
        tasks: TaskTracker::new(),
        sync: None,
        snapshot: None,
        restarting: false,
        breakpoints: restart::Breakpoints::default(),
    };
    session.spawn_reader(reader, Side::Client);
    let end = session.run_loop().await;
    tracing::info!(?end, "session ending");
    session.shutdown(end).await;
    Ok(())
}

/// How much a reader asks for in one read (more when a frame is larger).
const READ_BUFFER: usize = 64 * 1024;

/// A buffer that grew past this for a large frame is given back once the
/// frame has gone through, so one 16 MiB `variables` answer does not keep
/// dockdap at 100 MB for the rest of the session.
const SHRINK_ABOVE: usize = 1024 * 1024;

/// Replaces an oversized, empty write buffer with a new one.
fn shrink(buffer: &mut BytesMut) {
    if buffer.capacity() > SHRINK_ABOVE && buffer.is_empty() {
        *buffer = BytesMut::new();
    }
}

/// How much a link buffers before it writes even though more input waits.
const WRITE_BATCH: usize = 64 * 1024;

/// A frame writer that buffers up to `WRITE_BATCH` (the session flushes).
fn buffered<T>(mut writer: FramedWrite<T, DapCodec>) -> FramedWrite<T, DapCodec> {
    writer.set_backpressure_boundary(WRITE_BATCH);
    writer
}

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
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            let mut frames = FramedRead::with_capacity(reader, DapCodec::default(), READ_BUFFER);
            // One wait for the stop, kept across frames: making a new one per
            // frame cost as much as parsing the frame's envelope.
            let stopped = stop.cancelled();
            tokio::pin!(stopped);
            loop {
                let next = tokio::select! {
                    () = &mut stopped => return,
                    next = frames.next() => next,
                };
                // A large frame's allocation stays shared with the buffer's
                // rest: give it back once the frame is out.
                if let Some(Ok(Ok(body))) = &next
                    && body.len() > SHRINK_ABOVE
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
        // One wait for the shutdown, kept across messages (see spawn_reader).
        let shutdown = self.options.shutdown.clone();
        let shutdown = shutdown.cancelled_owned();
        tokio::pin!(shutdown);
        loop {
            if self.inputs.is_empty() && self.events.is_empty() {
                self.flush_links().await;
            }
            let linger = self.linger_until;
            let input = tokio::select! {
                biased;
                () = &mut shutdown => return End::Signal,
                () = sleep_until_some(linger) => return End::AdapterGone,
                Some(input) = self.inputs.recv() => input,
                Some(event) = self.events.recv() => {
                    if let Some(end) = self.on_target_event(event).await {
                        return end;
                    }
                    continue;
                }
            };
            let end = match input {
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
                Input::Closed(Side::Adapter(link), why) if link == self.adapter_link => {
                    self.on_adapter_closed(why).await
                }
                Input::Closed(Side::Adapter(_), _) => None,
                Input::Started(result) => self.on_started(*result).await,
                Input::Custom { seq, command, result } => {
                    self.custom_done(seq, &command, result).await;
                    None
                }
            };
            if !self.client_open {
                return End::ClientGone;
            }
            if let Some(end) = end {
                return end;
            }
        }
    }

    /// Writes a message to the client, stamping its seq. A failed write
    /// means the client is gone; the loop notices through `client_open`.
    async fn send_to_client(&mut self, mut message: Message) -> Option<ClientSeq> {
        if !self.client_open {
            return None;
        }
        let seq = self.seq.stamp_to_client();
        message.set_seq(seq.0);
        tracing::debug!("client <- {}", message.summary());
        tracing::trace!(target: "dockdap::wire", "client <- {message:?}");
        if let Err(e) = self.client.feed(message).await {
            tracing::info!(error = %e, "cannot write to the client; ending the session");
            self.client_open = false;
            return None;
        }
        self.client_dirty = true;
        Some(seq)
    }

    /// Sends what both links have buffered. A failed flush is a closed link,
    /// as a failed write is.
    async fn flush_links(&mut self) {
        if std::mem::take(&mut self.client_dirty) && self.client_open {
            match SinkExt::<Message>::flush(&mut self.client).await {
                Ok(()) => shrink(self.client.write_buffer_mut()),
                Err(e) => {
                    tracing::info!(error = %e, "cannot write to the client; ending the session");
                    self.client_open = false;
                }
            }
        }
        if std::mem::take(&mut self.adapter_dirty)
            && let Some(adapter) = self.adapter.as_mut()
        {
            match SinkExt::<Message>::flush(adapter).await {
                Ok(()) => shrink(adapter.write_buffer_mut()),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot write to debugpy");
                    self.adapter = None;
                }
            }
        }
    }

    /// Writes a request to the client and remembers who is waiting for it.
    async fn request_client(&mut self, message: Message, origin: Origin<AdapterSeq>) {
        let command = message.command().unwrap_or_default().to_owned();
        if let Some(seq) = self.send_to_client(message).await {
            self.seq.sent_to_client(seq, Pending { origin, command });
        }
    }

    /// Writes a message to debugpy, stamping its seq. Returns `None` if there
    /// is no adapter link or the write failed (the link's reader reports the close).
    async fn send_to_adapter(&mut self, mut message: Message) -> Option<AdapterSeq> {
        let adapter = self.adapter.as_mut()?;
        let seq = self.seq.stamp_to_adapter();
        message.set_seq(seq.0);
        tracing::debug!("adapter <- {}", message.summary());
        tracing::trace!(target: "dockdap::wire", "adapter <- {message:?}");
        if let Err(e) = adapter.feed(message).await {
            tracing::warn!(error = %e, "cannot write to debugpy");
            self.adapter = None;
            return None;
        }
        self.adapter_dirty = true;
        Some(seq)
    }

    /// Writes a request to debugpy and remembers who is waiting for it. If it
    /// cannot be written, a client asker gets an error response at once.
    async fn request_adapter(&mut self, message: Message, origin: Origin<ClientSeq>, answer_as: &str) {
        let pending = Pending { origin, command: answer_as.to_owned() };
        match self.send_to_adapter(message).await {
            Some(seq) => self.seq.sent_to_adapter(seq, pending),
            None => {
                if let Origin::Peer(client_seq) = pending.origin {
                    let reply = Message::failure(client_seq.0, answer_as, "debugpy is not connected");
                    self.send_to_client(reply).await;
                }
            }
        }
    }

    /// A line in the editor's debug console.
    async fn console(&mut self, category: Category, text: &str) {
        let body = serde_json::json!({ "category": category.as_str(), "output": format!("{text}\n") });
        if let Ok(event) = Message::event("output", &body) {
            self.send_to_client(event).await;
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

    async fn on_target_event(&mut self, event: Event) -> Option<End> {
        match event {
            Event::Output { category, text } => {
                self.events_tx.delivered(text.len());
                let body = serde_json::json!({ "category": category.as_str(), "output": text });
                if let Ok(event) = Message::event("output", &body) {
                    self.send_to_client(event).await;
                }
                None
            }
            Event::Progress(step) => {
                self.progress(&step).await;
                None
            }
            Event::Exited { code, diagnosis } => {
                if self.exit_code.replace(code).is_some() {
                    return None;
                }
                if matches!(self.phase, Phase::Running | Phase::Ended) {
                    self.console(Category::Stderr, &diagnosis).await;
                }
                if matches!(self.phase, Phase::Ended) {
                    // debugpy went first and `terminated` is out: `exited` follows now.
                    self.say_goodbye_to_client().await;
                }
                None
            }
        }
    }

    /// Reports a step of starting the target: as a progress notification when
    /// the client supports them, else as a console line.
    async fn progress(&mut self, step: &str) {
        let supports = self.info.as_ref().is_some_and(|i| i.supports_progress);
        if !supports {
            self.console(Category::Console, &format!("[dockdap] {step}")).await;
            return;
        }
        let (event, body) = match &self.progress_id {
            Some(id) => ("progressUpdate", serde_json::json!({ "progressId": id, "message": step })),
            None => {
                let id = format!("dockdap-start-{}", std::process::id());
                self.progress_id = Some(id.clone());
                ("progressStart", serde_json::json!({ "progressId": id, "title": "dockdap", "message": step }))
            }
        };
        if let Ok(event) = Message::event(event, &body) {
            self.send_to_client(event).await;
        }
    }

    async fn end_progress(&mut self, message: &str) {
        if let Some(id) = self.progress_id.take() {
            let body = serde_json::json!({ "progressId": id, "message": message });
            if let Ok(event) = Message::event("progressEnd", &body) {
                self.send_to_client(event).await;
            }
        }
    }

    async fn on_adapter_closed(&mut self, why: Option<String>) -> Option<End> {
        match &why {
            Some(why) => tracing::warn!(%why, "debugpy stream failed"),
            None => tracing::info!("debugpy closed the connection"),
        }
        self.adapter = None;
        self.answer_adapter_pending("debugpy closed the connection before answering").await;
        // Tell the client now, then give it a moment to send `disconnect`
        // (DAP clients do, after `terminated`) so that it gets an answer.
        self.report_exit(true).await;
        self.say_goodbye_to_client().await;
        self.phase = Phase::Ended;
        self.linger_until = Some(tokio::time::Instant::now() + LINGER);
        None
    }

    /// Sends `terminated`, and `exited` when the exit code is known, once each.
    async fn say_goodbye_to_client(&mut self) {
        if self.client_open && !self.terminated_sent {
            if let Ok(event) = Message::event("terminated", &serde_json::json!({})) {
                self.send_to_client(event).await;
            }
            self.terminated_sent = true;
        }
        if let Some(code) = self.exit_code
            && self.client_open
            && !self.exited_sent
            && let Ok(event) = Message::event("exited", &serde_json::json!({ "exitCode": code }))
        {
            self.send_to_client(event).await;
            self.exited_sent = true;
        }
    }

    /// Answers every client request that debugpy will now never answer.
    /// A pending `disconnect` is answered with success: the client wanted to
    /// be disconnected, and it is.
    async fn answer_adapter_pending(&mut self, why: &str) {
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
    async fn shutdown(mut self, end: End) {
        // What the loop wrote last (a `disconnect` answer) goes out now.
        self.flush_links().await;
        // 1. Stop reading both links; a start still under way is cancelled.
        self.stop.cancel();
        if self.starting {
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
        // 3. Tell debugpy goodbye, so an attached program resumes.
        if self.adapter.is_some() && end != End::Disconnected && end != End::AdapterGone {
            self.goodbye_to_adapter().await;
        }
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
        // 5. Put the target back.
        if let Some(target) = self.target.take() {
            tracing::info!(target = %target.describe(), "ending target");
            match tokio::time::timeout(TEARDOWN_TIMEOUT, target.end()).await {
                Ok(Ok(())) => {}
                Ok(Err(why)) => self.console(Category::Stderr, &format!("[dockdap] {why}")).await,
                Err(_) => {
                    tracing::error!("putting the target back took over {TEARDOWN_TIMEOUT:?}; giving up");
                    self.console(
                        Category::Stderr,
                        "[dockdap] removing the container timed out; `dockdap reap` removes it later",
                    )
                    .await;
                }
            }
        }
        // 6. Flush, and let the reader tasks finish.
        if self.client_open {
            let _ = tokio::time::timeout(GOODBYE_TIMEOUT, SinkExt::<Message>::flush(&mut self.client)).await;
        }
        if let Some(mut adapter) = self.adapter.take() {
            let _ = tokio::time::timeout(GOODBYE_TIMEOUT, SinkExt::<Message>::close(&mut adapter)).await;
        }
        self.tasks.close();
        let _ = tokio::time::timeout(GOODBYE_TIMEOUT, self.tasks.wait()).await;
    }

    /// Flushes the program's last output and, if the container died, says
    /// so with its exit code and a reading of its last lines.
    async fn report_exit(&mut self, adapter_gone: bool) {
        if adapter_gone
            && self.exit_code.is_none()
            && let Some(container) = self.target.as_ref().and_then(|t| t.container())
        {
            // debugpy's stream usually closes a moment before the container's exit is seen.
            let mut exit = container.exit_watch();
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
                self.on_target_event(event).await;
            }
        }
        // The exit may be known before its event is queued.
        if self.exit_code.is_none()
            && let Some((code, diagnosis)) =
                self.target.as_ref().and_then(|t| t.container()).and_then(|c| c.exit_report())
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
                if let Input::Started(result) = input {
                    return Some(*result);
                }
            }
            None
        };
        match tokio::time::timeout(TEARDOWN_TIMEOUT, wait).await {
            Ok(Some(Ok(connected))) => self.target = Some(connected.target),
            Ok(Some(Err(e))) => tracing::debug!(error = %e, "start ended"),
            Ok(None) | Err(_) => tracing::error!(
                "the start task did not finish; its container may be left behind (`dockdap reap` removes it)"
            ),
        }
        self.starting = false;
    }

    /// Sends `disconnect` to debugpy, so an attached program resumes. The
    /// answer is not awaited: the readers are stopped, and debugpy treats the
    /// stream closing right after as the end of the client anyway.
    async fn goodbye_to_adapter(&mut self) {
        let args = serde_json::json!({ "restart": false, "terminateDebuggee": false });
        if let Ok(request) = Message::request("disconnect", &args) {
            self.send_to_adapter(request).await;
        }
    }
}
