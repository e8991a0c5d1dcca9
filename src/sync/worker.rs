//! The task that runs a session's sync: one engine, one loop, so no two
//! syncs interleave. It takes commands from the session (`dockdap/sync`, the
//! debuggee stopped, the session ends), watches the workspace (the `notify`
//! crate, debounced) and the container when the directions are `auto`, and
//! tells the user what it did through the session's `EventSender` (debug
//! console lines).
//!
//! The container is watched by a watcher inside it (`watch`: one
//! long-lived exec, started while the first look runs, then one change
//! list read catches what changed in between), whose events are acted on
//! as they come. Where it
//! cannot run (no Python, a runtime without exec) or once it ends, the
//! worker polls instead: the files it knows every `POLL` (cheap stats), and
//! the change list for new files at a pace set by what that costs.
//!
//! A file dockdap itself just wrote is not echoed back: the watcher sees it,
//! but its content is what both sides already agree on, so the decision is
//! "nothing to do".

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use super::answer::{SavedCopies, SyncAnswer};
use super::answer::{answer, merge, tell};
use super::engine::{Directions, Remote, RemoteChange, Side, SyncEngine, SyncReport};
use super::names::RelPath;
use super::watch::{self, WatchBatch, WatchEvent};
use super::workspace_watch::{files_below, start_watcher};

mod rerun;
use crate::console::{Category, Event, EventSender};
use crate::runtime::ContainerError;
use crate::tasks::Tasks;

/// How often files sync knows are polled in the container when `fromContainer` is `auto`.
pub const POLL: Duration = Duration::from_millis(250);
/// How many known files one poll looks at (more take turns).
pub const POLL_BUDGET: usize = 32;
/// The change list (new files in the container) is read at most this often...
pub const DISCOVER_MIN: Duration = Duration::from_secs(1);
/// ...and at least this often; in between, four times what reading it took.
pub const DISCOVER_MAX: Duration = Duration::from_secs(20);
/// How long a snapshot holds off reading the change list.
pub const SNAPSHOT_HOLD: Duration = Duration::from_secs(10);
/// How long the workspace must be quiet before saved files are copied.
pub const DEBOUNCE: Duration = Duration::from_millis(50);
/// The longest a burst of saves can delay a copy.
pub const MAX_DELAY: Duration = Duration::from_millis(300);
/// Most files taken from a folder that appeared in the workspace.
const NEW_FOLDER_FILES: usize = 20_000;
/// Most events of the container's watcher taken in one turn of the loop.
const WATCH_BATCH: usize = 512;

/// How a session's sync is set up.
#[derive(Debug, Clone)]
pub struct SyncSetup {
    /// The workspace folder (`localRoot`).
    pub workspace: PathBuf,
    /// The app's folder in the container (`appRoot`).
    pub app_root: String,
    /// Which directions copy files.
    pub directions: Directions,
    /// Watch the workspace and copy saves at once (`toContainer: "auto"`).
    pub watch_workspace: bool,
    /// Watch (or poll) the container (`fromContainer: "auto"`).
    pub poll_container: bool,
    /// A file one side deleted is removed from the other too
    /// (`sync.deletions: "copy"`), when that side still holds what both
    /// last agreed on; else deletions are only reported.
    pub copy_deletions: bool,
}

enum Command {
    Sync { resolve: Option<(Side, Vec<String>)>, reply: oneshot::Sender<SyncAnswer> },
    ToContainer { reply: oneshot::Sender<SyncAnswer> },
    Pull { paths: Vec<String>, reply: oneshot::Sender<SyncAnswer> },
    Save { paths: Vec<String>, dest: PathBuf, reply: oneshot::Sender<SavedCopies> },
    FromContainer,
    Finish { reply: oneshot::Sender<SyncAnswer> },
}

/// The session's end of a running sync worker.
#[derive(Debug, Clone)]
pub struct SyncHandle {
    tx: mpsc::Sender<Command>,
    stop: CancellationToken,
    started: tokio::sync::watch::Receiver<bool>,
    saves: tokio::sync::watch::Receiver<u64>,
}

impl SyncHandle {
    /// Starts the worker: a first look at both sides (reported, nothing
    /// copied), then watching and polling as `setup` says.
    /// The worker and its helpers run on a child of `tasks`: stopped by
    /// `stop` or by the owner's end, and awaited by the owner.
    pub fn spawn<R: Remote + 'static>(remote: R, setup: SyncSetup, events: EventSender, tasks: &Tasks) -> SyncHandle {
        let (tx, rx) = mpsc::channel(16);
        let tasks = tasks.child();
        let stop = tasks.stop_token().clone();
        let engine = SyncEngine::new(remote, setup.workspace.clone(), &setup.app_root, setup.directions);
        let (started_tx, started) = tokio::sync::watch::channel(false);
        let (saves_tx, saves) = tokio::sync::watch::channel(0);
        let helpers = tasks.clone();
        tasks.spawn(run(engine, setup, rx, events, helpers, started_tx, saves_tx));
        SyncHandle { tx, stop, started, saves }
    }

    /// Counts the batches of workspace saves the watcher copied into the
    /// container (`reloadOnSave` reloads the app on each).
    pub fn saves_copied(&self) -> tokio::sync::watch::Receiver<u64> {
        self.saves.clone()
    }

    /// Waits until the first look at both sides is done (or the worker ended).
    pub async fn first_look(&self) {
        let mut started = self.started.clone();
        let _ = started.wait_for(|done| *done).await;
    }

    /// A full sync now; `None` if the worker is gone. `resolve` first picks
    /// a side for conflicts: the named files (workspace paths, absolute or
    /// relative to the workspace folder), or all of them if none are named.
    pub async fn sync(&self, resolve: Option<(Side, Vec<String>)>) -> Option<SyncAnswer> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Command::Sync { resolve, reply }).await.ok()?;
        answer.await.ok()
    }

    /// Before a snapshot: the workspace's saves into the container, so the
    /// image holds them. With the watcher on, only the saves it has not
    /// copied yet (no change list is read); without it, a full sync.
    pub async fn to_container(&self) -> Option<SyncAnswer> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Command::ToContainer { reply }).await.ok()?;
        answer.await.ok()
    }

    /// These files (relative to the app folder) from the container into the
    /// workspace, if that direction syncs: a snapshot's changed files, so the
    /// workspace holds what the image holds without reading the change list.
    pub async fn pull(&self, paths: Vec<String>) -> Option<SyncAnswer> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Command::Pull { paths, reply }).await.ok()?;
        answer.await.ok()
    }

    /// Copies of these container files (relative to the app folder) saved
    /// under `dest`, a folder outside the workspace, whatever the
    /// directions: what a pod offers instead of a commit.
    pub async fn save_copies(&self, paths: Vec<String>, dest: PathBuf) -> Option<SavedCopies> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Command::Save { paths, dest, reply }).await.ok()?;
        answer.await.ok()
    }

    /// The debuggee stopped: bring the container's edits in, without waiting.
    pub fn debuggee_stopped(&self) {
        let _ = self.tx.try_send(Command::FromContainer);
    }

    /// The last sync (pending workspace saves out, the container's edits
    /// in), then the worker ends.
    pub async fn finish(&self) -> Option<SyncAnswer> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Command::Finish { reply }).await.ok()?;
        answer.await.ok()
    }

    /// Ends the worker without a last sync.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

async fn run<R: Remote>(
    mut engine: SyncEngine<R>,
    setup: SyncSetup,
    mut commands: mpsc::Receiver<Command>,
    events: EventSender,
    tasks: Tasks,
    started: tokio::sync::watch::Sender<bool>,
    saves: tokio::sync::watch::Sender<u64>,
) {
    let stop = tasks.stop_token().clone();
    engine.set_copy_deletions(setup.copy_deletions);
    let polling = setup.poll_container && setup.directions.from_container;
    // The container's watcher starts while the first look runs: a launch
    // waits for both (before "connecting to debugpy", after which no
    // process is started), not for one after the other.
    let remote = engine.remote().clone();
    let watching =
        async { if polling { start_container_watcher(&remote, &setup, &events, &tasks).await } else { None } };
    let (container_watcher, first) = tokio::join!(watching, engine.start());
    let container_events = container_watcher.map(|running| {
        engine.set_watcher(Some(running.control));
        running.events
    });
    let _ = started.send(true);
    tell(&events, &first).await;
    let (paths_tx, paths) = mpsc::unbounded_channel::<PathBuf>();
    let watcher = start_watcher(&setup, paths_tx, &events).await;
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A change list being read in its own task.
    let (listed_tx, mut listed_rx) = mpsc::channel(1);
    let mut worker = Worker::new(engine, events, tasks, watcher.is_some(), paths, listed_tx, container_events);
    loop {
        let deadline = worker.save_deadline();
        let command = tokio::select! {
            biased;
            () = stop.cancelled() => return,
            command = commands.recv() => command,
            Some(path) = worker.paths.recv() => {
                worker.on_saved(&path);
                continue;
            }
            () = sleep_until(deadline) => {
                if worker.copy_saves().await {
                    saves.send_modify(|n| *n += 1);
                }
                continue;
            }
            input = rerun::container_input(&mut worker.container_events, &mut worker.runs, polling) => {
                worker.on_container(input, &setup).await;
                continue;
            }
            // Looking at the container can take seconds (the engine answers
            // a stat only when no `docker diff` holds the container): a
            // command (the session's last sync above all) does not wait
            // for it. Nothing is lost: the next round looks again.
            _ = poll.tick(), if polling && worker.container_events.is_none() => tokio::select! {
                biased;
                command = commands.recv() => command,
                () = worker.poll() => continue,
            },
            () = tokio::time::sleep_until(worker.discover_at),
                if polling && worker.listing.is_none() && worker.container_events.is_none() => {
                worker.start_listing();
                continue;
            }
            Some(listed) = listed_rx.recv() => tokio::select! {
                biased;
                command = commands.recv() => command,
                () = worker.on_listed(listed) => continue,
            },
        };
        let Some(command) = command else { return };
        if worker.serve(command, &mut commands).await == Flow::Stop {
            return;
        }
    }
}

/// Starts the watcher in the container; says so in the debug console when
/// it cannot, and the worker polls instead.
async fn start_container_watcher<R: Remote>(
    remote: &R,
    setup: &SyncSetup,
    events: &EventSender,
    tasks: &Tasks,
) -> Option<watch::Running> {
    match watch::start(remote, &setup.app_root, tasks).await {
        Ok(running) => {
            tracing::info!(mode = %running.mode, "watching {} in the container", setup.app_root);
            Some(running)
        }
        Err(e) => {
            let text = format!(
                "[dockdap] cannot watch {} in the container ({e}); its edits are found by polling, new files within seconds\n",
                setup.app_root
            );
            events.send(Event::Output { category: Category::Console, text }).await;
            None
        }
    }
}

/// Whether the worker goes on after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// The worker's state between two turns of its loop; each arm of the loop
/// is one method.
struct Worker<R> {
    engine: SyncEngine<R>,
    events: EventSender,
    /// The worker's task set: helpers it starts are owned by the session.
    tasks: Tasks,
    /// The workspace watcher runs (saves arrive on `paths`).
    watching: bool,
    paths: mpsc::UnboundedReceiver<PathBuf>,
    /// When the change list is read next.
    discover_at: Instant,
    listed_tx: mpsc::Sender<Result<Vec<RemoteChange>, ContainerError>>,
    /// When the change list being read now was asked for.
    listing: Option<Instant>,
    /// Saved files not copied yet, the first save of the batch, and when
    /// the workspace will have been quiet long enough.
    pending: BTreeSet<RelPath>,
    first_pending: Option<Instant>,
    quiet_until: Option<Instant>,
    /// The container's watcher's events, while it runs (else the container is polled).
    container_events: Option<mpsc::Receiver<WatchEvent>>,
    /// The container's new runs after restarts (see `rerun`).
    runs: Option<tokio::sync::watch::Receiver<u64>>,
}

impl<R: Remote> Worker<R> {
    async fn on_command(&mut self, command: Command) -> Flow {
        match command {
            Command::Sync { resolve, reply } => {
                let answer = self.sync(resolve).await;
                let _ = reply.send(answer);
            }
            Command::ToContainer { reply } => {
                let answer = self.saves_before_snapshot().await;
                let _ = reply.send(answer);
            }
            Command::Pull { paths, reply } => {
                let answer = self.pull(&paths).await;
                let _ = reply.send(answer);
            }
            Command::Save { paths, dest, reply } => {
                let paths: Vec<RelPath> =
                    paths.iter().filter_map(|p| RelPath::parse(p, super::names::HostOs::current()).ok()).collect();
                let (saved, notes) = self.engine.save_copies(&paths, &dest).await;
                let _ = reply.send(SavedCopies { saved: saved.iter().map(ToString::to_string).collect(), notes });
            }
            Command::FromContainer => {
                // The container's watcher has reported every edit already: a
                // change list now would only hold the engine (a `docker diff`
                // takes seconds on some storage drivers, and every other call
                // for the container waits, a reload's among them).
                if self.engine.directions().from_container && self.container_events.is_none() {
                    let report = self.engine.sync_from_container().await;
                    tell(&self.events, &report).await;
                }
            }
            Command::Finish { reply } => {
                let answer = self.finish().await;
                let _ = reply.send(answer);
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    /// `dockdap/sync`: conflicts resolved first if asked, then a full round.
    async fn sync(&mut self, resolve: Option<(Side, Vec<String>)>) -> SyncAnswer {
        let mut report = SyncReport::default();
        if let Some((side, names)) = resolve {
            let mut only = Vec::new();
            for name in &names {
                let path = std::path::Path::new(name);
                let rel = if path.is_absolute() {
                    self.engine.relative(path)
                } else {
                    RelPath::parse(name, super::names::HostOs::current()).ok()
                };
                match rel {
                    Some(rel) => only.push(rel),
                    None => report
                        .notes
                        .push(format!("{name} is not a synced file under {}", self.engine.workspace().display())),
                }
            }
            if only.len() == names.len() {
                let round = self.engine.resolve(side, &only).await;
                merge(&mut report, round);
            }
        }
        self.pending.clear();
        self.first_pending = None;
        let round = self.engine.sync_all().await;
        merge(&mut report, round);
        tell(&self.events, &report).await;
        answer(&self.engine, &report)
    }

    /// Before a snapshot: the saves into the container.
    async fn saves_before_snapshot(&mut self) -> SyncAnswer {
        // A snapshot is about to be made, and its own listing of the changed
        // files comes next (`Pull`): no change list now, which would compete
        // with the commit for the storage driver (seconds on fuse-overlayfs).
        self.discover_at = self.discover_at.max(Instant::now() + SNAPSHOT_HOLD);
        let report = if !self.engine.directions().to_container {
            SyncReport::default()
        } else if self.watching {
            // Saves the watcher has seen but not handed over yet count too.
            while let Ok(path) = self.paths.try_recv() {
                self.pending.extend(self.engine.relative(&path));
            }
            self.first_pending = None;
            self.quiet_until = None;
            self.engine.sync_saved(&std::mem::take(&mut self.pending)).await
        } else {
            self.engine.sync_all().await
        };
        tell(&self.events, &report).await;
        answer(&self.engine, &report)
    }

    /// A snapshot's changed files into the workspace.
    async fn pull(&mut self, paths: &[String]) -> SyncAnswer {
        let mut report = SyncReport::default();
        if self.engine.directions().from_container {
            let paths = paths.iter().filter_map(|p| RelPath::parse(p, super::names::HostOs::current()).ok()).collect();
            report = self.engine.sync_paths(&paths).await;
            tell(&self.events, &report).await;
        }
        answer(&self.engine, &report)
    }

    /// The last round: pending saves out, the container's edits in.
    async fn finish(&mut self) -> SyncAnswer {
        let mut report = self.engine.sync_saved(&self.pending).await;
        if self.engine.directions().from_container {
            let round = self.engine.last_from_container().await;
            merge(&mut report, round);
        }
        tell(&self.events, &report).await;
        answer(&self.engine, &report)
    }

    /// When the saves waiting now are copied: once the workspace is quiet,
    /// and never later than `MAX_DELAY` after the first.
    fn save_deadline(&self) -> Option<Instant> {
        match (self.first_pending, self.quiet_until) {
            (Some(first), Some(quiet)) => Some(quiet.min(first + MAX_DELAY)),
            _ => None,
        }
    }

    /// The watcher saw `path` change. A new folder's files are taken too:
    /// files made in it before the watcher watched it give no event of
    /// their own (`mkdir data && cp labels.txt data/`).
    fn on_saved(&mut self, path: &std::path::Path) {
        let Some(rel) = self.engine.relative(path) else { return };
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
            for file in files_below(path, NEW_FOLDER_FILES) {
                if let Some(rel) = self.engine.relative(&file) {
                    self.pending.insert(rel);
                }
            }
        }
        self.pending.insert(rel);
        let now = Instant::now();
        self.first_pending.get_or_insert(now);
        self.quiet_until = Some(now + DEBOUNCE);
    }

    /// Copies the saves waiting; whether any file went into the container.
    async fn copy_saves(&mut self) -> bool {
        let batch = std::mem::take(&mut self.pending);
        self.first_pending = None;
        self.quiet_until = None;
        let report = self.engine.sync_saved(&batch).await;
        tell(&self.events, &report).await;
        !report.pushed.is_empty()
    }

    /// What the container's watcher saw (`event`, and whatever else is
    /// waiting); `None`: it ended, and polling takes over.
    async fn on_watched(&mut self, event: Option<WatchEvent>) {
        let Some(event) = event else {
            self.container_events = None;
            self.engine.set_watcher(None);
            let text = "[dockdap] the watcher in the container ended; its edits are found by polling from now on\n";
            self.events.send(Event::Output { category: Category::Console, text: text.into() }).await;
            return;
        };
        let mut batch = WatchBatch::default();
        batch.add(event);
        if let Some(events) = &mut self.container_events {
            for _ in 0..WATCH_BATCH {
                let Ok(event) = events.try_recv() else { break };
                batch.add(event);
            }
        }
        if std::mem::take(&mut batch.rescan) && self.listing.is_none() {
            self.start_listing();
        }
        let report = self.engine.sync_watched(batch).await;
        tell(&self.events, &report).await;
    }

    /// The cheap container poll.
    async fn poll(&mut self) {
        let report = self.engine.poll_known(POLL_BUDGET).await;
        tell(&self.events, &report).await;
    }

    /// The change list finds files the container created. It can take
    /// seconds, so it is read in its own task while the loop goes on, and
    /// its pace follows its cost.
    fn start_listing(&mut self) {
        self.listing = Some(Instant::now());
        let remote = self.engine.remote().clone();
        let tx = self.listed_tx.clone();
        self.tasks.spawn(async move {
            let _ = tx.send(remote.changes().await).await;
        });
    }

    /// The worker after the first look. With a watcher in the container,
    /// what changed after the first look read it and before the watcher
    /// watched it is in the change list (an Engine API call, no process),
    /// read at once.
    fn new(
        engine: SyncEngine<R>,
        events: EventSender,
        tasks: Tasks,
        watching: bool,
        paths: mpsc::UnboundedReceiver<PathBuf>,
        listed_tx: mpsc::Sender<Result<Vec<RemoteChange>, ContainerError>>,
        container_events: Option<mpsc::Receiver<WatchEvent>>,
    ) -> Self {
        let runs = engine.remote().runs();
        let mut worker = Worker {
            engine,
            events,
            tasks,
            watching,
            paths,
            discover_at: Instant::now() + DISCOVER_MIN,
            listed_tx,
            listing: None,
            pending: BTreeSet::new(),
            first_pending: None,
            quiet_until: None,
            container_events,
            runs,
        };
        if worker.container_events.is_some() {
            worker.start_listing();
        }
        worker
    }

    /// Handles a command. The sync on `stopped` is a courtesy: a command
    /// that follows it (the session's last sync above all) replaces it
    /// rather than waits. Dropping the round midway loses nothing: a file it
    /// already wrote makes both sides equal, which the next round records
    /// as agreed.
    async fn serve(&mut self, command: Command, commands: &mut mpsc::Receiver<Command>) -> Flow {
        let mut next = Some(command);
        while let Some(command) = next.take() {
            let flow = if matches!(command, Command::FromContainer) {
                tokio::select! {
                    biased;
                    command = commands.recv() => match command {
                        Some(command) => {
                            next = Some(command);
                            continue;
                        }
                        None => return Flow::Stop,
                    },
                    flow = self.on_command(command) => flow,
                }
            } else {
                self.on_command(command).await
            };
            if flow == Flow::Stop {
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    async fn on_listed(&mut self, listed: Result<Vec<RemoteChange>, ContainerError>) {
        let took = self.listing.take().map(|started| started.elapsed()).unwrap_or_default();
        self.discover_at = Instant::now() + (took * 4).clamp(DISCOVER_MIN, DISCOVER_MAX);
        let report = self.engine.sync_changes(listed).await;
        tell(&self.events, &report).await;
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
