//! Service ports of a container on a remote engine, forwarded to 127.0.0.1
//! on this machine through the Engine API itself.
//!
//! A port published by a remote engine is on *its* loopback, not the
//! editor's, so the launch response, the console, `dockdap/score` and
//! `dockdap score` would point at nothing. Instead dockdap listens on
//! 127.0.0.1 here (on the host port the user asked for in `ports`, or a free
//! one; on the remote host the port is published on its loopback only, on
//! any free port, so that a later `attach` finds it); each connection accepted there
//! runs the relay (`programs::RELAY`, the same one DAP uses over exec) in the
//! container through `docker exec`, connected to the port on the container's
//! own 127.0.0.1, and bytes are piped both ways. No published port needs to
//! be reachable and no SSH tunnel is set up: whoever can use the engine's API
//! can reach the port, and nobody else.
//!
//! A connection ends both ways: the client closing its side closes the
//! relay's stdin (the relay half-closes towards the service and exits), the
//! service closing its side ends the relay and so the stream back. Every
//! exec therefore finishes; none is left running in the container.

use std::net::SocketAddr;

use tokio::io::{AsyncWriteExt, copy};
use tokio::net::{TcpListener, TcpStream};

use super::container::DebugContainer;
use super::engine::ContainerError;
use super::exec::{self, StartError};
use super::handle::ContainerRef;
use crate::console::EventSender;
use crate::runtime::{Link, ServicePort};
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

    /// Accepts connections until `tasks` stop; each runs `relay` (the
    /// relay's command line without the port) in the container.
    pub fn spawn(self, handle: ContainerRef, relay: Vec<String>, env: Vec<String>, tasks: &Tasks, events: EventSender) {
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
                let mut cmd = relay.clone();
                cmd.push(self.container.to_string());
                let (handle, env, events, port) = (handle.clone(), env.clone(), events.clone(), self.container);
                connections.spawn(async move {
                    let started = std::time::Instant::now();
                    match exec::start(&handle, cmd, env).await {
                        Ok(process) => {
                            tracing::debug!(port, ms = started.elapsed().as_millis(), "relay started");
                            pipe(stream, process.link).await;
                            tracing::debug!(port, ms = started.elapsed().as_millis(), "forwarded connection closed");
                        }
                        Err(e) => {
                            let why = match e {
                                StartError::Paused => "the container is paused".to_owned(),
                                StartError::Stuck => "the relay did not start in time".to_owned(),
                                StartError::Failed(e) => e.to_string(),
                            };
                            events.console(format!(
                                "[dockdap] could not forward a connection to port {port} of container {}: {why}",
                                handle.name
                            ));
                        }
                    }
                });
            }
        });
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
        let relay = vec![self.python.clone(), "-c".to_owned(), exec::RELAY.to_owned()];
        self.facts.service_ports = forwards.iter().map(Forward::service_port).collect();
        for forward in forwards {
            self.events.console(format!(
                "[dockdap] service port {} is at {} (forwarded from the remote engine through its API)",
                forward.container,
                forward.service_port().url()
            ));
            forward.spawn(
                self.handle.clone(),
                relay.clone(),
                self.exec_env("forward"),
                &self.tasks,
                self.events.clone(),
            );
        }
        Ok(())
    }
}

/// Copies both ways until both sides are done, passing on each side's end
/// as a half-close.
async fn pipe(stream: TcpStream, link: Link) {
    let (mut from_client, mut to_client) = stream.into_split();
    let Link { mut reader, mut writer } = link;
    let up = async move {
        if let Err(e) = copy(&mut from_client, &mut writer).await {
            tracing::debug!(error = %e, "forwarded connection: client to container");
        }
        let _ = writer.shutdown().await;
        // Dropping the exec's input ends the relay's stdin.
        drop(writer);
    };
    let down = async move {
        if let Err(e) = copy(&mut reader, &mut to_client).await {
            tracing::debug!(error = %e, "forwarded connection: container to client");
        }
        let _ = to_client.shutdown().await;
    };
    tokio::join!(up, down);
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

    /// A connection ends when the client closes: the exec's input is shut
    /// down and the other direction still carries the last bytes.
    #[tokio::test]
    async fn pipe_passes_both_ends_on() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"ping").await.unwrap();
            s.shutdown().await.unwrap();
            let mut back = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut s, &mut back).await.unwrap();
            back
        });
        let (accepted, _) = listener.accept().await.unwrap();
        // An "exec" that echoes what it got once its input ends.
        let (ours, theirs) = tokio::io::duplex(64);
        let (their_read, mut their_write) = tokio::io::split(theirs);
        let echo = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut their_read = their_read;
            tokio::io::AsyncReadExt::read_to_end(&mut their_read, &mut got).await.unwrap();
            their_write.write_all(&got).await.unwrap();
            their_write.write_all(b"!").await.unwrap();
        });
        let (r, w) = tokio::io::split(ours);
        pipe(accepted, Link { reader: Box::new(r), writer: Box::new(w) }).await;
        echo.await.unwrap();
        assert_eq!(client.await.unwrap(), b"ping!");
    }
}
