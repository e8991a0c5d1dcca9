//! `DebugContainer`: a container a session debugs, one dockdap started
//! (`launch`) or one it joined (`join`), as the session's `Runtime`.
//!
//! It holds what launch and join found out (the debugger mode, how debugpy
//! is reached, the service ports), the program's output tail, its exit and
//! its paused state (kept by `watch`), and the tasks that keep them; `end`
//! stops those tasks and removes the container if dockdap owns it.
//!
//! Every process dockdap starts in the container goes through
//! `start_process`, which never starts one while the container is paused
//! and notices one that a pause froze half-started (runc#2753).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::engine::Engine;
use super::exec;
use super::handle::ContainerRef;
use super::watch;
use crate::config::{DebuggerMode, TransportMode};
use crate::console::EventSender;
use crate::runtime::tail::LogTail;
use crate::runtime::{
    AdapterStream, Change, CommitRequest, ContainerError, ContainerFacts, Context, ExecOutput, FileIdentity, FileStat,
    Link, Runtime, Snapshot, SnapshotPlan, diagnose,
};
use crate::tasks::Tasks;

/// How long removing a container whose process a pause froze is tried:
/// Docker hangs on it until the freezer is thawed by hand.
const FROZEN_REMOVE: Duration = Duration::from_secs(2);

/// A container a session debugs.
#[derive(Debug)]
pub struct DebugContainer {
    pub(super) handle: ContainerRef,
    /// The container's id.
    pub id: String,
    /// The container's name.
    pub name: String,
    /// Whether dockdap created it (and so removes it at the end).
    pub(super) owned: bool,
    /// Leave it running at the end even if owned.
    pub(super) keep: bool,
    /// How debugpy was started in it.
    pub mode: DebuggerMode,
    /// How dockdap reaches debugpy.
    pub transport: TransportMode,
    /// debugpy's port inside the container.
    pub debug_port: u16,
    pub(super) facts: ContainerFacts,
    pub(super) tail: LogTail,
    /// The container's Python, for processes dockdap runs in it.
    pub(super) python: String,
    /// `PYTHONPATH` for processes dockdap runs in it (the injected debugpy).
    pub(super) pythonpath: Option<String>,
    pub(super) exit: tokio::sync::watch::Receiver<Option<i64>>,
    /// Runs after restarts, and what the watchers learnt of the last (`restart`).
    pub(super) runs: tokio::sync::watch::Receiver<u64>,
    pub(super) restarting: std::sync::Arc<AtomicBool>,
    pub(super) republished: watch::Republished,
    pub(super) paused: tokio::sync::watch::Receiver<bool>,
    /// Sets `paused` from what inspect or a refused exec says.
    pub(super) set_paused: tokio::sync::watch::Sender<bool>,
    /// A process dockdap started was frozen half-started by a pause.
    pub(super) frozen: AtomicBool,
    pub(super) events: EventSender,
    pub(super) tasks: Tasks,
    /// The Compose project dockdap brought up for this container: the end
    /// brings it down (the container with it).
    pub(super) project: Option<std::sync::Arc<super::compose::Project>>,
    /// The other services of that project made debuggable for sessions of their own.
    pub(super) more: Vec<crate::runtime::MoreTarget>,
}

impl DebugContainer {
    /// A debug container for the existing container `id`, watched from now
    /// on (its exit and state), on a child of the session's tasks.
    pub(super) fn new(
        engine: Engine,
        id: String,
        name: String,
        mode: DebuggerMode,
        transport: TransportMode,
        debug_port: u16,
        cx: &Context,
    ) -> DebugContainer {
        let tasks = cx.tasks.child();
        let tail = LogTail::default();
        let watched = watch::start(&engine, &id, &name, &tail, &cx.events, &tasks);
        DebugContainer {
            handle: ContainerRef::new(engine, id.clone(), name.clone()),
            facts: ContainerFacts {
                name: name.clone(),
                id: id.clone(),
                debug_address: String::new(),
                transport,
                service_ports: Vec::new(),
            },
            id,
            name,
            owned: false,
            keep: true,
            mode,
            transport,
            debug_port,
            tail,
            python: "python3".into(),
            pythonpath: None,
            exit: watched.exit,
            runs: watched.runs,
            restarting: watched.restarting,
            republished: watched.republished,
            paused: watched.paused,
            set_paused: watched.set_paused,
            frozen: AtomicBool::new(false),
            events: cx.events.clone(),
            tasks,
            project: None,
            more: Vec::new(),
        }
    }

    /// The container's facts (ports, how debugpy is reached).
    pub fn facts(&self) -> &ContainerFacts {
        &self.facts
    }

    /// The exit code, if the container has exited.
    pub fn exit_code(&self) -> Option<i64> {
        *self.exit.borrow()
    }

    /// Waits until the container is not paused; at `deadline` (if any) a
    /// pause that is still on is `ContainerError::Paused`.
    pub(super) async fn until_unpaused(&self, deadline: Option<Instant>, during: &str) -> Result<(), ContainerError> {
        let mut paused = self.paused.clone();
        if !*paused.borrow_and_update() {
            return Ok(());
        }
        let resumed = paused.wait_for(|p| !*p);
        let resumed = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, resumed).await.ok().map(|r| r.is_ok()),
            None => Some(resumed.await.is_ok()),
        };
        match resumed {
            Some(true) => Ok(()),
            _ => Err(self.paused_error(during)),
        }
    }

    pub(super) fn paused_error(&self, during: &str) -> ContainerError {
        ContainerError::Paused { name: self.name.clone(), during: during.to_owned() }
    }

    /// Whether the engine is remote (its service ports are forwarded to
    /// this machine only while this handle lives).
    pub fn is_remote(&self) -> bool {
        self.handle.engine.is_remote()
    }

    /// Whether the container is paused now, as far as dockdap has heard.
    pub(super) fn is_paused(&self) -> bool {
        *self.paused.borrow()
    }

    /// Starts `cmd` with the container's Python environment and waits until
    /// it runs. Never while the container is paused (waiting until
    /// `deadline` for it to resume); a start that a pause froze is
    /// `ContainerError::Frozen`.
    pub(super) async fn start_process(
        &self,
        cmd: Vec<String>,
        role: &str,
        deadline: Option<Instant>,
    ) -> Result<exec::Process, ContainerError> {
        self.start_process_with(cmd, self.exec_env(role), deadline).await
    }

    /// `start_process` with the environment given.
    async fn start_process_with(
        &self,
        cmd: Vec<String>,
        env: Vec<String>,
        deadline: Option<Instant>,
    ) -> Result<exec::Process, ContainerError> {
        loop {
            self.until_unpaused(deadline, "while dockdap was starting a process in it").await?;
            match exec::start(&self.handle, cmd.clone(), env.clone()).await {
                Err(exec::StartError::Paused) => {
                    // The engine knew before its event reached us.
                    self.set_paused.send_replace(true);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(exec::StartError::Stuck) => return Err(self.stuck()),
                Err(exec::StartError::Failed(e)) => return Err(e),
                Ok(process) => return Ok(process),
            }
        }
    }

    /// A process did not start in time: frozen by a pause, or the engine is stuck.
    fn stuck(&self) -> ContainerError {
        if self.is_paused() {
            self.frozen.store(true, Ordering::Relaxed);
            return ContainerError::Frozen { name: self.name.clone(), id: self.id.clone() };
        }
        ContainerError::Api(format!(
            "a process dockdap started in container {} did not start within {}s; is the Docker Engine overloaded?",
            self.name,
            exec::START_TIMEOUT.as_secs()
        ))
    }

    pub(super) fn exec_env(&self, role: &str) -> Vec<String> {
        let mut env = vec![format!("DOCKDAP_ROLE={role}")];
        if let Some(path) = &self.pythonpath {
            env.push(format!("PYTHONPATH={path}"));
        }
        env
    }

    /// A stream through a relay to `port` inside the container.
    async fn relay(&self, port: u16, deadline: Option<Instant>) -> Result<Link, ContainerError> {
        let cmd = vec![self.python.clone(), "-c".into(), exec::RELAY.into(), port.to_string()];
        Ok(self.start_process(cmd, "relay", deadline).await?.link)
    }

    /// Removes the container (also a paused one).
    pub(super) async fn remove(&self) -> Result<(), String> {
        let removing = self.handle.remove();
        let removed = if self.frozen.load(Ordering::Relaxed) {
            match tokio::time::timeout(FROZEN_REMOVE, removing).await {
                Ok(removed) => removed,
                Err(_) => {
                    return Err(format!(
                        "could not remove container {}: a pause froze a process dockdap started in it, and Docker hangs on it until its freezer cgroup is thawed (runc#2753); dockdap's watchdog removes it once Docker answers again, or `dockdap reap` does",
                        self.name
                    ));
                }
            }
        } else {
            removing.await
        };
        match removed {
            Ok(()) => {
                tracing::info!(name = %self.name, "removed the container");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(name = %self.name, error = %e, "could not remove the container");
                Err(format!(
                    "could not remove container {} ({e}); `dockdap reap` removes it once the Docker Engine answers",
                    self.name
                ))
            }
        }
    }
}

/// What the debug console says when the container exits.
pub(super) fn exit_report(code: i64, tail: &LogTail) -> String {
    format!("[dockdap] the container exited with code {code}\n{}", diagnose::diagnose(code, &tail.last(20)))
}

#[async_trait::async_trait]
impl Runtime for DebugContainer {
    fn describe(&self) -> String {
        format!("debugpy in container {} (via {})", self.name, self.facts.debug_address)
    }

    fn container(&self) -> Option<&ContainerFacts> {
        Some(&self.facts)
    }

    fn more_targets(&self) -> Vec<crate::runtime::MoreTarget> {
        self.more.clone()
    }

    fn debug_address(&self) -> &str {
        &self.facts.debug_address
    }

    fn service_ports(&self) -> Vec<crate::runtime::ServicePort> {
        self.service_ports_now()
    }

    fn restartable(&self) -> Result<(), String> {
        Ok(())
    }

    fn runs(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        let mut runs = self.runs.clone();
        runs.borrow_and_update();
        Some(runs)
    }

    async fn restart_in_place(&self, stop_grace: Duration) -> Result<(), ContainerError> {
        self.restart(stop_grace).await
    }

    /// Through the published port, or through `docker exec`: the
    /// in-container adapter for the Azure ML hook, else a relay to the port
    /// debugpy listens on.
    async fn connect_debugger(&self, deadline: Instant) -> Result<AdapterStream, ContainerError> {
        let mut attach = serde_json::Map::new();
        let link = match (self.transport, self.mode) {
            (TransportMode::Exec, DebuggerMode::Azureml) => {
                attach.insert("listen".into(), serde_json::json!({ "host": "127.0.0.1", "port": self.debug_port }));
                let cmd = vec![self.python.clone(), "-m".into(), "debugpy.adapter".into()];
                self.start_process(cmd, "adapter", Some(deadline)).await?.link
            }
            (TransportMode::Exec, _) => self.relay(self.debug_port, Some(deadline)).await?,
            _ => {
                let addr = &self.debug_address_now();
                let stream = crate::transport::connect_with_retry(addr, deadline)
                    .await
                    .map_err(|e| ContainerError::Unusable(format!("cannot connect to debugpy at {addr}: {e}")))?;
                let (reader, writer) = crate::transport::split_tcp(stream);
                Link { reader, writer }
            }
        };
        Ok(AdapterStream { link, attach })
    }

    /// A subprocess's adapter port: through a relay with the exec transport;
    /// with the port transport only debugpy's own port is published.
    async fn connect_port(&self, _host: &str, port: u16) -> Result<Link, ContainerError> {
        match self.transport {
            TransportMode::Port if port == self.debug_port => {
                let addr = &self.debug_address_now();
                let deadline = Instant::now() + Duration::from_secs(10);
                let stream = crate::transport::connect_with_retry(addr, deadline)
                    .await
                    .map_err(|e| ContainerError::Unusable(format!("cannot connect to debugpy at {addr}: {e}")))?;
                let (reader, writer) = crate::transport::split_tcp(stream);
                Ok(Link { reader, writer })
            }
            TransportMode::Port => Err(ContainerError::Unusable(format!(
                "port {port} inside the container is not published; use `transport: \"exec\"` to reach subprocesses"
            ))),
            _ => self.relay(port, Some(Instant::now() + Duration::from_secs(10))).await,
        }
    }

    /// Fails at once while the container is paused.
    async fn exec_stream(&self, command: Vec<String>, env: Vec<String>) -> Result<Link, ContainerError> {
        let mut all = self.exec_env("exec");
        all.extend(env);
        Ok(self.start_process_with(command, all, Some(Instant::now())).await?.link)
    }

    /// Fails at once while the container is paused.
    async fn exec(&self, command: &[&str]) -> Result<ExecOutput, ContainerError> {
        let (code, stdout) = self.run_command(command, Instant::now()).await?;
        Ok(ExecOutput { code, stdout })
    }

    async fn changes(&self) -> Result<Vec<Change>, ContainerError> {
        self.handle.changes().await
    }

    async fn changes_once(&self, root: &str) -> Result<Vec<Change>, ContainerError> {
        let root = root.trim_end_matches('/');
        if !self.is_paused()
            && let Some(files) = self.handle.quick_changes(root).await
        {
            return Ok(files
                .into_iter()
                .map(|(f, links)| Change { path: format!("{root}/{f}"), deleted: false, links: Some(links) })
                .collect());
        }
        self.handle.changes().await
    }

    async fn stat(&self, path: &str) -> Result<Option<FileStat>, ContainerError> {
        self.handle.stat(path).await
    }

    async fn identities(&self, paths: &[String]) -> Result<Vec<FileIdentity>, ContainerError> {
        self.handle.identities(paths).await
    }

    async fn read_archive(&self, path: &str, max_bytes: u64) -> Result<Option<Bytes>, ContainerError> {
        self.handle.download(path, max_bytes).await
    }

    async fn write_archive(&self, dir: &str, archive: Bytes) -> Result<(), ContainerError> {
        self.handle.upload(dir, archive).await
    }

    async fn plan_snapshot(&self, request: &CommitRequest) -> Result<SnapshotPlan, ContainerError> {
        self.handle.plan_commit(request).await
    }

    async fn snapshot(&self, plan: SnapshotPlan) -> Result<Snapshot, ContainerError> {
        self.handle.run_commit(plan).await
    }

    fn stall(&self, during: &str) -> Option<ContainerError> {
        self.is_paused().then(|| self.paused_error(during))
    }

    fn output_tail(&self, lines: usize) -> Option<String> {
        Some(self.tail.last(lines))
    }

    fn exit_watch(&self) -> tokio::sync::watch::Receiver<Option<i64>> {
        self.exit.clone()
    }

    fn exit_report(&self) -> Option<(i64, String)> {
        self.exit_code().map(|code| (code, exit_report(code, &self.tail)))
    }

    /// Stops watching the container and removes it if dockdap started it
    /// and it is not to be kept; a container dockdap joined is never touched.
    async fn end(&self) -> Result<(), String> {
        self.tasks.stop();
        if let Some(project) = &self.project {
            if self.keep {
                tracing::info!(name = %self.name, "keeping the Compose project up (keepContainer)");
                return Ok(());
            }
            return project.down().await;
        }
        if self.owned && !self.keep {
            return self.remove().await;
        }
        if self.owned {
            tracing::info!(name = %self.name, "keeping the container (keepContainer)");
        }
        Ok(())
    }
}
