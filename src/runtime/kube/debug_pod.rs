//! `DebugPod`: a pod's container a session debugs, as the session's
//! `Runtime`. DAP runs over an exec stream through the API server (the
//! relay program to debugpy's port inside the pod): no Service, no
//! NodePort, no port of the pod exposed. The program's ports are
//! port-forwarded to 127.0.0.1.

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncBufReadExt;
use tokio::time::Instant;

use super::exec::PodRef;
use super::watch;
use crate::config::{DebuggerMode, TransportMode};
use crate::console::EventSender;
use crate::runtime::tail::LogTail;
use crate::runtime::{
    AdapterStream, Change, CommitRequest, ContainerError, ContainerFacts, ExecOutput, FileIdentity, FileStat, Link,
    Runtime, Snapshot, SnapshotPlan, programs,
};
use crate::tasks::Tasks;

/// How long a change list is reused: each one is a process in the pod,
/// started through the API server, and sync asks several times a second.
const CHANGES_FRESH: Duration = Duration::from_secs(1);

/// A pod's container a session debugs.
#[derive(Debug)]
pub(crate) struct DebugPod {
    pub(super) pod: PodRef,
    pub(super) facts: ContainerFacts,
    pub(super) mode: DebuggerMode,
    pub(super) debug_port: u16,
    /// The container's Python.
    pub(super) python: String,
    /// `PYTHONPATH` for processes dockdap runs (an injected debugpy).
    pub(super) pythonpath: Option<String>,
    /// The app's folder in the container: the change list looks there.
    pub(super) app_root: String,
    /// When the container started (RFC 3339): files changed since are the
    /// session's changes.
    pub(super) started: String,
    pub(super) tail: LogTail,
    pub(super) exit: tokio::sync::watch::Receiver<Option<i64>>,
    pub(super) changes: Mutex<Option<(Instant, Vec<Change>)>>,
    /// dockdap created the pod (a debug copy): it deletes it at the end.
    pub(super) owned: bool,
    /// Leave the copy after the session (`keepContainer`).
    pub(super) keep: bool,
    pub(super) events: EventSender,
    pub(super) tasks: Tasks,
}

impl DebugPod {
    /// The environment of processes dockdap runs in the container.
    fn exec_env(&self, role: &str) -> Vec<String> {
        let mut env = vec![format!("DOCKDAP_ROLE={role}")];
        if let Some(path) = &self.pythonpath {
            env.push(format!("PYTHONPATH={path}"));
        }
        env
    }

    /// A stream through the relay to `port` inside the pod.
    async fn relay(&self, port: u16) -> Result<Link, ContainerError> {
        let cmd = vec![self.python.clone(), "-c".into(), programs::RELAY.into(), port.to_string()];
        self.pod.link(cmd, self.exec_env("relay"), &self.tasks).await
    }

    /// Waits until something listens on `port` in the pod, up to
    /// `deadline`: one waiter process for the whole wait. `Ok(false)` when
    /// the deadline came first.
    pub(super) async fn listening(&self, port: u16, deadline: Instant) -> Result<bool, ContainerError> {
        let secs = deadline.saturating_duration_since(Instant::now()).as_secs_f64();
        let cmd =
            vec![self.python.clone(), "-c".into(), programs::WAITER.into(), port.to_string(), format!("{secs:.1}")];
        let link = self.pod.link(cmd, self.exec_env("probe"), &self.tasks).await?;
        // Its stdin stays open while we wait: closing it ends the waiter.
        let _stdin = link.writer;
        let mut lines = tokio::io::BufReader::new(link.reader).lines();
        let mut exit = self.exit.clone();
        loop {
            let line = tokio::select! {
                line = lines.next_line() => line,
                _ = exit.wait_for(Option::is_some) => return Err(self.ended()),
                () = tokio::time::sleep_until(deadline + Duration::from_secs(2)) => return Ok(false),
            };
            match line {
                Ok(Some(line)) if line.trim() == "listening" => return Ok(true),
                Ok(Some(line)) => tracing::debug!(%line, "waiter"),
                Ok(None) | Err(_) => return Ok(false),
            }
        }
    }

    /// The container ended while dockdap waited.
    fn ended(&self) -> ContainerError {
        let code = self.exit.borrow().unwrap_or(-1);
        ContainerError::Unusable(watch::exit_report(&self.pod, code, &self.tail))
    }
}

#[async_trait::async_trait]
impl Runtime for DebugPod {
    fn describe(&self) -> String {
        format!("debugpy in {} (via {})", self.pod.describe(), self.facts.debug_address)
    }

    fn container(&self) -> Option<&ContainerFacts> {
        Some(&self.facts)
    }

    fn debug_address(&self) -> &str {
        &self.facts.debug_address
    }

    /// The in-container adapter for the Azure ML hook, else the relay to
    /// debugpy's port; both over exec.
    async fn connect_debugger(&self, _deadline: Instant) -> Result<AdapterStream, ContainerError> {
        let mut attach = serde_json::Map::new();
        let link = match self.mode {
            DebuggerMode::Azureml => {
                attach.insert("listen".into(), serde_json::json!({ "host": "127.0.0.1", "port": self.debug_port }));
                let cmd = vec![self.python.clone(), "-m".into(), "debugpy.adapter".into()];
                self.pod.link(cmd, self.exec_env("adapter"), &self.tasks).await?
            }
            _ => self.relay(self.debug_port).await?,
        };
        Ok(AdapterStream { link, attach })
    }

    async fn connect_port(&self, _host: &str, port: u16) -> Result<Link, ContainerError> {
        self.relay(port).await
    }

    async fn exec_stream(&self, command: Vec<String>, env: Vec<String>) -> Result<Link, ContainerError> {
        let mut all = self.exec_env("exec");
        all.extend(env);
        self.pod.link(command, all, &self.tasks).await
    }

    async fn exec(&self, command: &[&str]) -> Result<ExecOutput, ContainerError> {
        let env = self.exec_env("probe");
        let mut all: Vec<&str> = vec!["env"];
        all.extend(env.iter().map(String::as_str));
        all.extend(command.iter().copied());
        let (code, stdout) = self.pod.run_text(&all).await?;
        Ok(ExecOutput { code, stdout })
    }

    /// `find` under the app's folder, reused for a second.
    async fn changes(&self) -> Result<Vec<Change>, ContainerError> {
        if let Ok(cached) = self.changes.lock()
            && let Some((at, list)) = cached.as_ref()
            && at.elapsed() < CHANGES_FRESH
        {
            return Ok(list.clone());
        }
        let list = self.pod.changed_since(&self.app_root, &self.started).await?;
        if let Ok(mut cached) = self.changes.lock() {
            *cached = Some((Instant::now(), list.clone()));
        }
        Ok(list)
    }

    async fn changes_once(&self, root: &str) -> Result<Vec<Change>, ContainerError> {
        self.pod.changed_since(root, &self.started).await
    }

    async fn stat(&self, path: &str) -> Result<Option<FileStat>, ContainerError> {
        self.pod.stat(path).await
    }

    async fn stat_many(&self, paths: &[String]) -> Result<Option<Vec<Option<FileStat>>>, ContainerError> {
        self.pod.stat_many(paths).await
    }

    async fn read_files(
        &self,
        root: &str,
        files: &[String],
        max_bytes: u64,
    ) -> Result<Option<Vec<Bytes>>, ContainerError> {
        self.pod.read_files(root, files, max_bytes).await
    }

    async fn identities(&self, paths: &[String]) -> Result<Vec<FileIdentity>, ContainerError> {
        self.pod.identities(paths).await
    }

    async fn read_archive(&self, path: &str, max_bytes: u64) -> Result<Option<Bytes>, ContainerError> {
        self.pod.read_archive(path, max_bytes).await
    }

    async fn write_archive(&self, dir: &str, archive: Bytes) -> Result<(), ContainerError> {
        self.pod.write_archive(dir, archive).await
    }

    /// A container of a pod that restarts is a new container from the
    /// image: what dockdap copied into the old one and the files synced
    /// into it are gone, and the API has no restart in place.
    fn restartable(&self) -> Result<(), String> {
        Err(format!(
            "Kubernetes cannot restart the container of {} in place: a restarted container starts again from its image, without the files synced into it",
            self.pod.describe()
        ))
    }

    fn no_snapshot(&self) -> Option<String> {
        Some(format!("a pod has no commit: Kubernetes cannot snapshot {} into an image", self.pod.describe()))
    }

    async fn plan_snapshot(&self, _request: &CommitRequest) -> Result<SnapshotPlan, ContainerError> {
        Err(ContainerError::Unsupported(format!(
            "a pod has no commit: Kubernetes cannot snapshot {} into an image. Sync brings the pod's edits into the workspace; rebuild and push the image from there",
            self.pod.describe()
        )))
    }

    async fn snapshot(&self, _plan: SnapshotPlan) -> Result<Snapshot, ContainerError> {
        Err(ContainerError::Unsupported("a pod has no commit".into()))
    }

    fn output_tail(&self, lines: usize) -> Option<String> {
        Some(self.tail.last(lines))
    }

    fn exit_watch(&self) -> tokio::sync::watch::Receiver<Option<i64>> {
        self.exit.clone()
    }

    fn exit_report(&self) -> Option<(i64, String)> {
        let code = (*self.exit.borrow())?;
        Some((code, watch::exit_report(&self.pod, code, &self.tail)))
    }

    /// Stops the watchers and port-forwards, and deletes the debug copy
    /// dockdap created (unless it is to be kept); a pod dockdap joined is
    /// never touched.
    async fn end(&self) -> Result<(), String> {
        self.tasks.stop();
        if self.owned && !self.keep {
            return super::launch::delete(&self.pod).await;
        }
        Ok(())
    }
}

/// How dockdap reaches debugpy in a pod: always through exec.
pub(super) const TRANSPORT: TransportMode = TransportMode::Exec;
