//! The place debugpy runs: the seam between a debug session and the
//! container engine, cluster or address that hosts the program.
//!
//! A session and its file sync hold an `Arc<dyn Runtime>` and never learn
//! which runtime it is. `start` picks one from the configuration and brings
//! it up: the Docker Engine (`docker`: a local or remote engine, and Podman
//! through its Docker-compatible API; a Compose service is a Docker container
//! the Compose tool created, `docker::compose`), a Kubernetes cluster (`kube`:
//! exec and port-forward through the API server), or a bare address
//! (`address`). The next runtimes are added here, as a module and a branch of
//! `start`, without the session knowing.
//!
//! What every runtime shares lives beside the trait: the debugger modes and
//! what is copied into a container (`inject`, `tune`, `python/`), the
//! reading of a crash (`diagnose`), the output tail (`tail`), the labels
//! (`labels`) and the errors (`ContainerError`).
//!
//! **Architecture Invariant:** only `docker` imports `bollard`, only `kube`
//! imports `kube` and `k8s_openapi`, and only
//! `start` (and the command-line helpers) name a runtime; the session and
//! sync see the trait.
//!
//! This module does not speak DAP: it hands out byte streams and never reads
//! or writes a message.

pub(crate) mod address;
mod bundled;
pub(crate) mod diagnose;
pub mod docker;
mod error;
pub(crate) mod files;
pub(crate) mod fit;
pub(crate) mod inject;
pub(crate) mod inplace;
mod kube;
pub(crate) mod labels;
pub(crate) mod offload;
pub(crate) mod programs;
pub(crate) mod ready;
pub(crate) mod reload;
pub(crate) mod scan;
pub(crate) mod tail;
pub mod tune;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;

pub use error::ContainerError;

use crate::config::{Request, SessionConfig, TransportMode};
use crate::console::EventSender;
use crate::tasks::Tasks;
use crate::transport::{BoxRead, BoxWrite};

/// A byte stream both ways: a process's stdout and stdin, or a TCP connection.
pub struct Link {
    /// What the other end writes.
    pub reader: BoxRead,
    /// What the other end reads.
    pub writer: BoxWrite,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Link")
    }
}

/// The stream to debugpy for a session, and what debugpy's `attach` must
/// add for it (the in-container adapter's `listen`).
#[derive(Debug)]
pub struct AdapterStream {
    /// The stream.
    pub link: Link,
    /// Extra `attach` arguments.
    pub attach: serde_json::Map<String, serde_json::Value>,
}

/// What a one-shot command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Its exit code.
    pub code: i64,
    /// Its standard output.
    pub stdout: String,
}

/// A port of the program, reachable from the editor's machine (published on
/// 127.0.0.1, or forwarded there by the runtime).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServicePort {
    /// The port inside the container.
    pub container: u16,
    /// Where it is reachable from this machine.
    pub address: SocketAddr,
}

impl ServicePort {
    /// `http://ADDRESS`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

/// What the session shows about a container (the `launch` response's
/// `dockdap` body, the child sessions it starts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerFacts {
    /// Its name, as the user knows it.
    pub name: String,
    /// Its id.
    pub id: String,
    /// Where debugpy is reached, for messages (an address, or "docker exec into NAME").
    pub debug_address: String,
    /// How debugpy is reached.
    pub transport: TransportMode,
    /// The program's ports.
    pub service_ports: Vec<ServicePort>,
}

/// One entry of the change list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The absolute path in the container.
    pub path: String,
    /// Whether the path was deleted (otherwise added or modified).
    pub deleted: bool,
    /// Its link count, when the list says (`find` does, `docker diff` does
    /// not): above one, the same file has another name in the container.
    pub links: Option<u64>,
}

/// Who a path in the container is, looked at without following a symlink
/// at the path: what proves that an archive held the file at that path and
/// not a hard link to another one (`sync::proof`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIdentity {
    /// The absolute path.
    pub path: String,
    /// `f` file, `d` folder, `l` symlink, anything else for other kinds.
    pub kind: char,
    /// The inode number.
    pub inode: u64,
    /// How many names the inode has.
    pub links: u64,
    /// The change time, as the runtime printed it (compared, never read).
    pub ctime: String,
}

/// What a path in the container is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A folder.
    Folder,
    /// A symbolic link, and where it points.
    Link(String),
    /// A device, FIFO, socket or anything else.
    Other,
}

/// What is at a path in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStat {
    /// Size in bytes.
    pub size: u64,
    /// Modification time as the runtime reports it (RFC 3339).
    pub mtime: String,
    /// What it is.
    pub kind: FileKind,
}

/// What to snapshot and how.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    /// `repo:tag` for the image; the next version of the container's image when absent.
    pub tag: Option<String>,
    /// Pause the container while committing (a consistent snapshot, a frozen debuggee).
    pub pause: bool,
    /// The app's folder in the container: its changes are named in the comment.
    pub app_root: String,
}

/// A snapshot worked out and not made yet: `Runtime::snapshot` makes it.
/// The session copies `changed` into the workspace while the snapshot is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotPlan {
    /// `repo:tag`.
    pub image: String,
    /// The image's description.
    pub comment: String,
    /// Labels set on the image.
    pub labels: Vec<(String, String)>,
    /// Pause the container meanwhile.
    pub pause: bool,
    /// Paths under the app root (relative to it) that changed; deleted ones
    /// end in ` (deleted)`.
    pub changed: Vec<String>,
    /// What the user should know (mounts, secrets).
    pub warnings: Vec<String>,
}

/// How `SnapshotPlan::changed` marks a deleted path.
pub const DELETED: &str = " (deleted)";

impl SnapshotPlan {
    /// The changed paths that still exist (relative to the app root).
    pub fn existing_files(&self) -> impl Iterator<Item = &str> {
        self.changed.iter().filter(|c| !c.ends_with(DELETED)).map(String::as_str)
    }
}

/// A snapshot made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// `repo:tag`.
    pub image: String,
    /// The image id.
    pub id: String,
    /// Files under the app root that differ from the image the container ran.
    pub changed: Vec<String>,
    /// What the user should know (mounts, secrets).
    pub warnings: Vec<String>,
}

/// The place debugpy runs, as a session and its sync use it.
///
/// Every method may be called from any task at any time after `start`
/// returned it, and concurrently. Runtimes report output, progress and the
/// program's exit through the `EventSender` they were started with, and
/// run their background work on the `Tasks` they were given, so that
/// `end` (or the session's shutdown) stops it.
///
/// Who calls what: the session calls `describe`, `container`,
/// `connect_debugger` (once, from `start`), `connect_port` (following a
/// subprocess), `output_tail` (`dockdap/logs`), `exit_watch`/`exit_report`
/// (shutdown) and `end`; sync calls the file methods through its `Remote`
/// adapter; snapshots (`dockdap/commit`, `commitOnExit`, `commitOnRestart`)
/// call `plan_snapshot` then `snapshot`; `exec`/`exec_stream` are for
/// features that run a process in the container (the in-container watcher).
/// What a runtime cannot do it answers with `ContainerError::Unsupported`
/// saying why.
#[async_trait::async_trait]
pub trait Runtime: Send + Sync + fmt::Debug {
    /// What the session is attached to, for the debug console.
    fn describe(&self) -> String;

    /// The container's facts; `None` when debugpy runs at a bare address.
    fn container(&self) -> Option<&ContainerFacts>;

    /// Where debugpy is reached, for messages.
    fn debug_address(&self) -> &str;

    /// Opens the session's stream to debugpy, trying until `deadline`. The
    /// first connection is the session's: runtimes never probe.
    async fn connect_debugger(&self, deadline: Instant) -> Result<AdapterStream, ContainerError>;

    /// Opens another stream to a port debugpy listens on at `host:port` as
    /// the program sees it (a subprocess's adapter).
    async fn connect_port(&self, host: &str, port: u16) -> Result<Link, ContainerError>;

    /// Starts `command` in the container with `env` (`K=V`) added, and
    /// returns its stdout and stdin; it runs until its stdin closes or it
    /// exits.
    async fn exec_stream(&self, command: Vec<String>, env: Vec<String>) -> Result<Link, ContainerError>;

    /// Runs `command` in the container to its end.
    async fn exec(&self, command: &[&str]) -> Result<ExecOutput, ContainerError>;

    /// Every path the container added, changed or deleted since it was
    /// created. Periodic callers use this, so it must not start a process
    /// in the container.
    async fn changes(&self) -> Result<Vec<Change>, ContainerError>;

    /// The same list for a one-off look under `root`, read the quickest way
    /// the container allows (deleted files may be missing).
    async fn changes_once(&self, root: &str) -> Result<Vec<Change>, ContainerError> {
        let _ = root;
        self.changes().await
    }

    /// What is at `path`, or `None` if nothing is.
    async fn stat(&self, path: &str) -> Result<Option<FileStat>, ContainerError>;

    /// What is at each of `paths` (absolute; `None` where nothing is), in as
    /// few calls as the runtime allows; `Ok(None)` when it does no better
    /// than one `stat` each, and the caller asks one at a time.
    async fn stat_many(&self, paths: &[String]) -> Result<Option<Vec<Option<FileStat>>>, ContainerError> {
        let _ = paths;
        Ok(None)
    }

    /// Tar archives holding the regular files `files` (relative to `root`,
    /// names relative to it), at most `max_bytes` in all, in as few calls as
    /// the runtime allows; `Ok(None)` when it does no better than one
    /// `read_archive` each, or could not read one of them. Untrusted, like
    /// `read_archive`'s.
    async fn read_files(
        &self,
        root: &str,
        files: &[String],
        max_bytes: u64,
    ) -> Result<Option<Vec<Bytes>>, ContainerError> {
        let _ = (root, files, max_bytes);
        Ok(None)
    }

    /// The identity of each of `paths` (absolute) that exists, not following
    /// a symlink at the path itself. Never started in a paused container.
    async fn identities(&self, paths: &[String]) -> Result<Vec<FileIdentity>, ContainerError>;

    /// A tar archive of `path` (a file or a folder; names relative to its
    /// folder), at most `max_bytes` long; `None` if nothing is there. The
    /// archive is untrusted: callers check every entry.
    async fn read_archive(&self, path: &str, max_bytes: u64) -> Result<Option<Bytes>, ContainerError>;

    /// Extracts a tar archive into the folder `dir`, never replacing a
    /// folder by a file or a file by a folder; `ContainerError::PathNotFound`
    /// when `dir` is missing.
    async fn write_archive(&self, dir: &str, archive: Bytes) -> Result<(), ContainerError>;

    /// Why this runtime can never snapshot (a pod has no commit), worded
    /// for the user; `dockdap/commit` then saves the changed files beside
    /// the workspace instead. `None` when `plan_snapshot` may work.
    fn no_snapshot(&self) -> Option<String> {
        None
    }

    /// Works out a snapshot (tag, labels, what changed, warnings).
    async fn plan_snapshot(&self, request: &CommitRequest) -> Result<SnapshotPlan, ContainerError>;

    /// Makes a planned snapshot.
    async fn snapshot(&self, plan: SnapshotPlan) -> Result<Snapshot, ContainerError>;

    /// The program's last `lines` lines of output; `None` when the runtime
    /// does not see the program's output.
    fn output_tail(&self, lines: usize) -> Option<String>;

    /// Sees the program's exit code once it exits.
    fn exit_watch(&self) -> watch::Receiver<Option<i64>>;

    /// The exit code and what the debug console says about it, once known.
    fn exit_report(&self) -> Option<(i64, String)>;

    /// Why debugpy cannot answer right now, if the runtime knows (a paused
    /// container; `during` says what was waiting), worded for the user.
    fn stall(&self, during: &str) -> Option<ContainerError> {
        let _ = during;
        None
    }

    /// More targets the start made debuggable beside this one (the other
    /// services of a Compose launch's `alsoDebug`), each to be debugged in
    /// a session of its own: the session opens a child session for each
    /// (`startDebugging`) or tells the user how to attach.
    fn more_targets(&self) -> Vec<MoreTarget> {
        Vec::new()
    }

    /// The program's service ports now: a container restarted in place may
    /// have been given new host ports for ports published on any free one.
    fn service_ports(&self) -> Vec<ServicePort> {
        self.container().map(|c| c.service_ports.clone()).unwrap_or_default()
    }

    /// Counts the container's runs after restarts (see `restartable`), for
    /// whoever keeps a process in it (sync's watcher starts again); `None`
    /// where restarts are not followed.
    fn runs(&self) -> Option<watch::Receiver<u64>> {
        None
    }

    /// Whether the container can be restarted in place (its main process
    /// started again, what dockdap copied in kept) and is followed across a
    /// restart, also one made behind dockdap's back (`docker restart`): its
    /// exit is taken back (`exit_watch` goes back to `None`) and its output
    /// followed again. `Err` says why not, worded for the user.
    fn restartable(&self) -> Result<(), String> {
        Err("debugpy does not run in a container dockdap can restart".into())
    }

    /// Restarts the container in place, giving its main process `stop_grace`
    /// to end after SIGTERM before it is killed; returns once it runs again
    /// (its output followed, its ports read again). Its exit on the way is
    /// not reported. `ContainerError::Unsupported` where `restartable` says so.
    async fn restart_in_place(&self, stop_grace: Duration) -> Result<(), ContainerError> {
        let _ = stop_grace;
        Err(ContainerError::Unsupported(self.restartable().err().unwrap_or_default()))
    }

    /// Stops the runtime's background work and puts back what it created
    /// (removes a container it started, unless it is to be kept). Called
    /// once; the error is for the user.
    async fn end(&self) -> Result<(), String>;
}

/// A target made debuggable beside a session's own (`Runtime::more_targets`).
#[derive(Debug, Clone, PartialEq)]
pub struct MoreTarget {
    /// What it is, for the editor's session list and the console
    /// (`service features of Compose project shop`).
    pub name: String,
    /// The `attach` arguments that join it; the session adds the paths.
    pub attach: serde_json::Map<String, serde_json::Value>,
}

/// What a runtime needs from the session that starts it.
#[derive(Debug, Clone)]
pub struct Context {
    /// Where the user's output, progress and exit go.
    pub events: EventSender,
    /// Where the runtime's background work runs (a child of the session's:
    /// stopped by `Runtime::end` or by the session's end, whichever is first).
    pub tasks: Tasks,
    /// The folder `localRoot` names on this machine: where the Compose tool
    /// looks for the project's files.
    pub workspace: std::path::PathBuf,
    /// The editor opens child sessions (`startDebugging`): targets beside
    /// the session's own may wait for their debugger as the session's does.
    pub child_sessions: bool,
}

/// A runtime that is up, and the session's stream to its debugpy.
#[derive(Debug)]
pub struct Started {
    /// The runtime.
    pub runtime: Arc<dyn Runtime>,
    /// The stream to debugpy.
    pub adapter: AdapterStream,
}

/// A start that failed, and what it left that must still be put back
/// (after the client has its answer: removing a container can take a while).
#[derive(Debug)]
pub struct Failed {
    /// Why.
    pub error: ContainerError,
    /// A runtime that was created and must be ended.
    pub leftover: Option<Arc<dyn Runtime>>,
}

impl From<ContainerError> for Failed {
    fn from(error: ContainerError) -> Failed {
        Failed { error, leftover: None }
    }
}

/// One finding of `dockdap doctor` for a Kubernetes target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeCheck {
    /// `cluster` or `permissions`.
    pub check: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// What was found.
    pub message: String,
    /// What to do, when it failed.
    pub fix: Option<String>,
}

impl KubeCheck {
    pub(crate) fn ok(check: &'static str, message: String) -> KubeCheck {
        KubeCheck { check, ok: true, message, fix: None }
    }
    pub(crate) fn problem(check: &'static str, message: String, fix: impl Into<String>) -> KubeCheck {
        KubeCheck { check, ok: false, message, fix: Some(fix.into()) }
    }
}

/// `dockdap doctor` for a Kubernetes target: the cluster answers, and
/// `SelfSubjectAccessReview` says the user may do what a session does.
pub async fn check_kubernetes(target: &crate::config::KubernetesTarget) -> Vec<KubeCheck> {
    self::kube::check(target).await
}

/// Deletes the Kubernetes debug pods of dead dockdap sessions in every
/// namespace of the current context (`dockdap reap`); `None` when no
/// Kubernetes configuration is found (nothing to look at).
pub async fn reap_kubernetes() -> Option<Result<Vec<String>, ContainerError>> {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let configured = std::env::var_os("KUBECONFIG").is_some_and(|k| !k.is_empty())
        || home.is_some_and(|h| h.join(".kube/config").exists())
        || std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
    if !configured {
        return None;
    }
    Some(self::kube::reap().await)
}

/// How long a failed or cancelled start waits for a bare address to answer.
const MIN_CONNECT: Duration = Duration::from_secs(5);

/// Picks the runtime the configuration names, brings it up, and connects
/// to its debugpy. Stopping `cx.tasks` aborts the start; what it created
/// is then in `Failed::leftover`.
pub async fn start(config: &SessionConfig, cx: &Context) -> Result<Started, Failed> {
    let deadline = Instant::now() + Duration::from_secs_f64(config.timeout().max(0.0));
    let cancel = cx.tasks.stop_token().clone();
    let runtime: Arc<dyn Runtime> = match &config.request {
        Request::Attach(attach) => match (&attach.connect, &attach.container, &attach.compose) {
            (None, None, None) if let Some(target) = &attach.kubernetes => {
                cx.events.progress("reaching the Kubernetes API server").await;
                tokio::select! {
                    joined = self::kube::attach(target, attach, cx) => joined?,
                    () = cancel.cancelled() => return Err(ContainerError::Cancelled.into()),
                }
            }
            (Some(connect), _, _) => {
                Arc::new(address::AddressRuntime::new(&connect.host, connect.port, config.timeout(), cx.events.clone()))
            }
            (None, Some(name), _) => {
                cx.events.progress(format!("joining container {name}")).await;
                let subprocess = config.for_debugpy.contains_key("subProcessId");
                let joining = docker::join(name, attach, subprocess, cx);
                tokio::select! {
                    joined = joining => joined?,
                    () = cancel.cancelled() => return Err(ContainerError::Cancelled.into()),
                }
            }
            (None, None, Some(compose)) => {
                cx.events.progress(format!("joining Compose service {}", compose.service)).await;
                let joining = docker::join_compose(attach, compose, cx);
                tokio::select! {
                    joined = joining => joined?,
                    () = cancel.cancelled() => return Err(ContainerError::Cancelled.into()),
                }
            }
            (None, None, None) => return Err(ContainerError::Unusable("nothing to attach to".into()).into()),
        },
        Request::Launch(launch) => match (&launch.compose, &launch.kubernetes) {
            (Some(compose), _) => docker::launch_compose(launch, compose, cx).await?,
            (None, Some(target)) => {
                cx.events.progress("reaching the Kubernetes API server").await;
                self::kube::launch(target, launch, cx).await?
            }
            (None, None) => docker::launch(launch, cx).await?,
        },
    };
    let deadline = deadline.max(Instant::now() + MIN_CONNECT);
    let connected = tokio::select! {
        connected = runtime.connect_debugger(deadline) => connected,
        () = cancel.cancelled() => Err(ContainerError::Cancelled),
    };
    match connected {
        Ok(adapter) => Ok(Started { runtime, adapter }),
        Err(error) => Err(Failed { error, leftover: Some(runtime) }),
    }
}
