//! What the session says about an app reloaded by restarting its container
//! in place (`runtime::inplace`; the steps are `reattach`'s): the console
//! line before the restart, and the `dockdap/reload` answer after it, with
//! the service ports as they are now (a port published on any free host
//! port gets a new one in the container's new run).

use serde_json::{Value, json};
use tokio::io::AsyncWrite;

use super::Session;
use crate::runtime::inplace::MainProcess;

impl<W: AsyncWrite + Send + Unpin> Session<W> {
    /// The console line before the restart: what runs, what happens to it,
    /// what stays.
    pub(super) fn restarting_line(&self, files: &str, main: &MainProcess) -> String {
        let name = self.runtime.as_ref().and_then(|r| r.container()).map(|c| c.name.clone()).unwrap_or_default();
        format!(
            "[dockdap] reloading: {files}; no server that forks workers runs in the container, so container {name} is restarted in place: its main process, {}, starts again ({}); what dockdap copied in and the synced files stay",
            main.describe(),
            main.stopping()
        )
    }

    /// The `dockdap/reload` answer after a restart in place.
    pub(super) fn process_reloaded(&self, pushed: Vec<String>) -> Value {
        let ports = self.runtime.as_ref().map(|r| r.service_ports()).unwrap_or_default();
        let ports: Vec<Value> = ports
            .iter()
            .map(|p| json!({ "container": p.container, "host": p.address.port(), "url": p.url() }))
            .collect();
        json!({ "reloaded": "process", "pushed": pushed, "ports": ports })
    }
}
