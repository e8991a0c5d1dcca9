//! Restarting a debug container in place (`Runtime::restart_in_place`), for
//! reloading an app that no pre-forking server runs: the engine's restart
//! (`docker restart`) stops the container's main process and starts it
//! again in the same container, so its writable layer (the debugpy and
//! bootstrap dockdap copied in, the files sync put there) and its
//! configuration (the bootstrap's environment) stay; a container started
//! with `--rm` is not removed by it.
//!
//! The watchers (`watch`) do the following: they take no notice of the exit
//! on the way (`restarting`), follow the output of the new run and read
//! the published ports again, which a port published on any free host port
//! changes. Here: the restart, the wait for the watchers, and the ports as
//! they are now. Processes dockdap ran in the container (the relay, the
//! in-container adapter, sync's watcher) end with the old run; the session
//! connects again, and the forwarding relay starts again at the next
//! connection (`forward`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use bollard::query_parameters::RestartContainerOptions;

use super::container::DebugContainer;
use super::create;
use super::engine::{ContainerError, Subject};
use crate::config::TransportMode;
use crate::runtime::ServicePort;

/// How long the watchers may take to see the new run after the engine
/// said the container was restarted.
const SEEN_WITHIN: Duration = Duration::from_secs(30);

impl DebugContainer {
    /// Restarts the container, giving its main process `stop_grace` after
    /// SIGTERM; returns once the watchers follow the new run.
    pub(super) async fn restart(&self, stop_grace: Duration) -> Result<(), ContainerError> {
        let mut runs = self.runs.clone();
        let before = *runs.borrow_and_update();
        self.until_unpaused(None, "while dockdap was restarting it").await?;
        self.restarting.store(true, Ordering::SeqCst);
        let options = RestartContainerOptions {
            t: Some(i32::try_from(stop_grace.as_secs()).unwrap_or(i32::MAX)),
            ..Default::default()
        };
        let started = std::time::Instant::now();
        let restarted = self.handle.engine.docker.restart_container(&self.id, Some(options)).await;
        let result = match restarted {
            Ok(()) => match tokio::time::timeout(SEEN_WITHIN, runs.wait_for(|n| *n != before)).await {
                Ok(Ok(_)) => Ok(()),
                _ => Err(ContainerError::Unusable(format!(
                    "the Docker Engine restarted container {}, but its new run was not seen within {}s (is its event stream working?)",
                    self.name,
                    SEEN_WITHIN.as_secs()
                ))),
            },
            Err(e) => Err(self.handle.engine.error(e, Subject::Container(&self.name))),
        };
        self.restarting.store(false, Ordering::SeqCst);
        tracing::info!(name = %self.name, took = ?started.elapsed(), ok = result.is_ok(), "restarted the container in place");
        result?;
        if self.exit_code().is_none() {
            return Ok(());
        }
        Err(ContainerError::Unusable(format!("container {} exited at once after its restart", self.name)))
    }

    /// The published ports after the last restart, if any and if they are
    /// this machine's (a remote engine's are forwarded, and those stay).
    fn republished(&self) -> Option<Vec<(u16, u16)>> {
        if self.is_remote() {
            return None;
        }
        self.republished.lock().ok().and_then(|r| r.clone())
    }

    /// The service ports now (see `Runtime::service_ports`).
    pub(super) fn service_ports_now(&self) -> Vec<ServicePort> {
        match self.republished() {
            Some(ports) => create::service_ports(&ports, self.debug_port),
            None => self.facts.service_ports.clone(),
        }
    }

    /// Where the published debug port is now (the port transport).
    pub(super) fn debug_address_now(&self) -> String {
        let now = match (self.transport, self.republished()) {
            (TransportMode::Port, Some(ports)) => ports.iter().find(|(c, _)| *c == self.debug_port).map(|(_, h)| *h),
            _ => None,
        };
        now.map_or_else(|| self.facts.debug_address.clone(), |host| format!("127.0.0.1:{host}"))
    }
}
