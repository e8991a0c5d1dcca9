//! Service ports of a container on a remote engine, forwarded to 127.0.0.1
//! on this machine through the Engine API itself.
//!
//! A port published by a remote engine is on *its* loopback, not the
//! editor's, so the launch response, the console, `dockdap/score` and
//! `dockdap score` would point at nothing. Instead dockdap listens on
//! 127.0.0.1 here (on the host port the user asked for in `ports`, or a free
//! one; on the remote host the port is published on its loopback only, on
//! any free port, so that a later `attach` finds it). One relay
//! (`programs::MUX`) runs in the container through `docker exec`, started
//! as soon as the ports are forwarded, and carries every connection
//! accepted here to the port on the container's own 127.0.0.1 (`mux`). No
//! published port needs to be reachable and no SSH tunnel is set up:
//! whoever can use the engine's API can reach the port, and nobody else.
//!
//! A connection makes no Engine API call: dockerd holds a container's lock
//! for the whole of a `docker diff`, seconds on fuse-overlayfs, and an exec
//! per connection waited for it (issue 16). Should the relay end (the
//! container restarted its processes, say), the next connection starts
//! another.
//!
//! A connection ends both ways: the client closing its side half-closes the
//! connection to the service, the service closing its side ends the stream
//! back. When the session ends, the relay's stdin closes and it exits; no
//! process is left running in the container.

use std::net::SocketAddr;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Mutex;

use super::container::DebugContainer;
use super::engine::ContainerError;
use super::exec::{self, StartError};
use super::handle::ContainerRef;
use super::mux::Mux;
use crate::console::EventSender;
use crate::runtime::{ServicePort, programs};
use crate::tasks::Tasks;

/// One forwarded port: the listener on this machine's loopback and the
/// port inside the container it leads to.
#[derive(Debug)]
pub(super) struct Forward {
    /// The port inside the container.
    pub container: u16,
    listener: TcpListener,
    /// Where it listens.
    pub address: SocketAddr,
}

impl Forward {
    /// Listens on 127.0.0.1:`host` (0: a free port) for `container`.
    pub async fn bind(host: u16, container: u16) -> Result<Forward, ContainerError> {
        let listener = TcpListener::bind(("127.0.0.1", host)).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::AddrInUse => ContainerError::PortTaken { port: host, container_port: container },
            _ => {
                ContainerError::Unusable(format!("cannot listen on 127.0.0.1:{host} to forward port {container}: {e}"))
            }
        })?;
        let address = listener
            .local_addr()
            .map_err(|e| ContainerError::Unusable(format!("cannot read the forwarded port's address: {e}")))?;
        Ok(Forward { container, listener, address })
    }

    /// The port as the session shows it.
    pub fn service_port(&self) -> ServicePort {
        ServicePort { container: self.container, address: self.address }
    }

    /// Accepts connections until `tasks` stop; each is carried by the
    /// container's relay.
    pub fn spawn(self, relay: Arc<Relay>, tasks: &Tasks) {
        let connections = tasks.clone();
        tasks.spawn(async move {
            loop {
                let (stream, peer) = match self.listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of descriptors, say: try again a moment later, not in a tight loop.
                        tracing::debug!(error = %e, port = self.container, "accepting a forwarded connection");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                tracing::debug!(%peer, port = self.container, "forwarding a connection");
                let (relay, port) = (relay.clone(), self.container);
                connections.spawn(async move {
                    let started = std::time::Instant::now();
                    if let Some(mux) = relay.get().await {
                        mux.carry(stream, port).await;
                        tracing::debug!(port, ms = started.elapsed().as_millis(), "forwarded connection closed");
                    }
                });
            }
        });
    }
}

/// The relay in one container that carries its forwarded connections:
/// started once, and again when it has ended.
#[derive(Debug)]
pub(super) struct Relay {
    handle: ContainerRef,
    /// The relay's command line.
    command: Vec<String>,
    env: Vec<String>,
    tasks: Tasks,
    events: EventSender,
    running: Mutex<Option<Arc<Mux>>>,
}

impl Relay {
    /// The running relay, started when there is none; `None` (said on the
    /// console) when it cannot start.
    async fn get(&self) -> Option<Arc<Mux>> {
        match self.running().await {
            Ok(mux) => Some(mux),
            Err(why) => {
                self.events.console(format!(
                    "[dockdap] could not forward a connection to container {}: {why}",
                    self.handle.name
                ));
                None
            }
        }
    }

    /// The running relay, started when there is none.
    async fn running(&self) -> Result<Arc<Mux>, String> {
        let mut running = self.running.lock().await;
        if let Some(mux) = running.as_ref().filter(|m| m.is_alive()) {
            return Ok(mux.clone());
        }
        let started = std::time::Instant::now();
        match exec::start(&self.handle, self.command.clone(), self.env.clone()).await {
            Ok(process) => {
                tracing::debug!(ms = started.elapsed().as_millis(), "forwarding relay started");
                let mux = Mux::start(process.link, &self.tasks);
                *running = Some(mux.clone());
                Ok(mux)
            }
            Err(StartError::Paused) => Err("the container is paused".to_owned()),
            Err(StartError::Stuck) => Err("the relay did not start in time".to_owned()),
            Err(StartError::Failed(e)) => Err(e.to_string()),
        }
    }
}

impl DebugContainer {
    /// Forwards `(host, container)` port pairs to this machine's 127.0.0.1
    /// (host 0: a free port), sets them as the service ports and says so.
    /// Needs the container's Python (the relay is a Python program).
    pub(super) async fn forward_ports(&mut self, pairs: &[(u16, u16)]) -> Result<(), ContainerError> {
        let mut forwards = Vec::new();
        for &(host, container) in pairs {
            forwards.push(Forward::bind(host, container).await?);
        }
        let relay = Arc::new(Relay {
            handle: self.handle.clone(),
            command: vec![self.python.clone(), "-c".to_owned(), programs::MUX.to_owned()],
            env: self.exec_env("forward"),
            tasks: self.tasks.clone(),
            events: self.events.clone(),
            running: Mutex::new(None),
        });
        self.facts.service_ports = forwards.iter().map(Forward::service_port).collect();
        for forward in forwards {
            self.events.console(format!(
                "[dockdap] service port {} is at {} (forwarded from the remote engine through its API)",
                forward.container,
                forward.service_port().url()
            ));
            forward.spawn(relay.clone(), &self.tasks);
        }
        // Started now, so that the first connection finds it running (or,
        // should it fail now, tries again and says why).
        self.tasks.spawn(async move {
            if let Err(why) = relay.running().await {
                tracing::debug!(%why, "the forwarding relay did not start ahead of a connection");
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_taken_host_port_says_which() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let e = Forward::bind(port, 5001).await.unwrap_err();
        assert!(matches!(e, ContainerError::PortTaken { port: p, container_port: 5001 } if p == port), "{e}");
        let free = Forward::bind(0, 5001).await.unwrap();
        assert!(free.address.ip().is_loopback() && free.address.port() != 0);
        assert_eq!(free.service_port().url(), format!("http://{}", free.address));
    }
}
