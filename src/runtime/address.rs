//! debugpy at a bare address (`request: "attach"` with `connect`): a
//! `Runtime` with nothing to start, watch or put back, and no files.
//!
//! The session still maps paths and renumbers messages; what needs a
//! container (sync, snapshots, logs) answers that there is none.

use tokio::sync::watch;
use tokio::time::Instant;

use super::{
    AdapterStream, Change, CommitRequest, ContainerError, ContainerFacts, ExecOutput, FileStat, Link, Runtime,
    Snapshot, SnapshotPlan,
};
use crate::console::EventSender;
use crate::transport;

/// debugpy listening at `host:port`.
#[derive(Debug)]
pub struct AddressRuntime {
    address: String,
    secs: f64,
    events: EventSender,
    exit: watch::Sender<Option<i64>>,
}

impl AddressRuntime {
    /// debugpy at `host:port`; connecting gives up after `secs` (the configuration's `timeout`).
    pub fn new(host: &str, port: u16, secs: f64, events: EventSender) -> AddressRuntime {
        AddressRuntime { address: format!("{host}:{port}"), secs, events, exit: watch::channel(None).0 }
    }

    fn no_container(&self) -> ContainerError {
        ContainerError::Unsupported(format!(
            "debugpy at {} is not in a container dockdap can see, so there are no files, processes or snapshots",
            self.address
        ))
    }
}

async fn connect(address: &str, deadline: Instant, secs: f64) -> Result<Link, ContainerError> {
    let stream = transport::connect_with_retry(address, deadline).await.map_err(|source| ContainerError::Connect {
        addr: address.to_owned(),
        secs,
        source,
    })?;
    let (reader, writer) = transport::split_tcp(stream);
    Ok(Link { reader, writer })
}

#[async_trait::async_trait]
impl Runtime for AddressRuntime {
    fn describe(&self) -> String {
        format!("debugpy at {}", self.address)
    }

    fn container(&self) -> Option<&ContainerFacts> {
        None
    }

    fn debug_address(&self) -> &str {
        &self.address
    }

    async fn connect_debugger(&self, deadline: Instant) -> Result<AdapterStream, ContainerError> {
        self.events.progress(format!("waiting for debugpy at {}", self.address)).await;
        let link = connect(&self.address, deadline, self.secs).await?;
        Ok(AdapterStream { link, attach: serde_json::Map::new() })
    }

    async fn connect_port(&self, host: &str, port: u16) -> Result<Link, ContainerError> {
        let address = format!("{host}:{port}");
        connect(&address, Instant::now() + std::time::Duration::from_secs(10), 10.0).await
    }

    async fn exec_stream(&self, _command: Vec<String>, _env: Vec<String>) -> Result<Link, ContainerError> {
        Err(self.no_container())
    }

    async fn exec(&self, _command: &[&str]) -> Result<ExecOutput, ContainerError> {
        Err(self.no_container())
    }

    async fn changes(&self) -> Result<Vec<Change>, ContainerError> {
        Err(self.no_container())
    }

    async fn stat(&self, _path: &str) -> Result<Option<FileStat>, ContainerError> {
        Err(self.no_container())
    }

    async fn identities(&self, _paths: &[String]) -> Result<Vec<crate::runtime::FileIdentity>, ContainerError> {
        Err(self.no_container())
    }

    async fn read_archive(&self, _path: &str, _max_bytes: u64) -> Result<Option<bytes::Bytes>, ContainerError> {
        Err(self.no_container())
    }

    async fn write_archive(&self, _dir: &str, _archive: bytes::Bytes) -> Result<(), ContainerError> {
        Err(self.no_container())
    }

    async fn plan_snapshot(&self, _request: &CommitRequest) -> Result<SnapshotPlan, ContainerError> {
        Err(self.no_container())
    }

    async fn snapshot(&self, _plan: SnapshotPlan) -> Result<Snapshot, ContainerError> {
        Err(self.no_container())
    }

    fn output_tail(&self, _lines: usize) -> Option<String> {
        None
    }

    fn exit_watch(&self) -> watch::Receiver<Option<i64>> {
        self.exit.subscribe()
    }

    fn exit_report(&self) -> Option<(i64, String)> {
        None
    }

    async fn end(&self) -> Result<(), String> {
        Ok(())
    }
}
