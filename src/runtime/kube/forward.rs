//! The program's ports on 127.0.0.1 of the editor's machine, as `kubectl
//! port-forward` makes them: a listener per port, and per connection one
//! `portforward` WebSocket through the API server to that port in the pod.
//! Nothing is exposed beyond this machine's loopback.

use std::net::{Ipv4Addr, SocketAddr};

use tokio::net::{TcpListener, TcpStream};

use super::exec::PodRef;
use crate::runtime::{ContainerError, ServicePort};
use crate::tasks::Tasks;

/// Listens on 127.0.0.1:`host` (0: any free port) for each `(host,
/// container)` pair and forwards every connection to the pod's port.
pub(crate) async fn start(
    pod: &PodRef,
    pairs: &[(u16, u16)],
    tasks: &Tasks,
) -> Result<Vec<ServicePort>, ContainerError> {
    let mut ports = Vec::new();
    for &(host, container) in pairs {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, host))).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                ContainerError::PortTaken { port: host, container_port: container }
            } else {
                ContainerError::Unusable(format!(
                    "cannot listen on 127.0.0.1:{host} for the pod's port {container}: {e}"
                ))
            }
        })?;
        let address = listener.local_addr().map_err(|e| ContainerError::Unusable(e.to_string()))?;
        tracing::info!(%address, container, pod = %pod.pod, "forwarding");
        tasks.spawn(serve(listener, pod.clone(), container, tasks.clone()));
        ports.push(ServicePort { container, address });
    }
    Ok(ports)
}

async fn serve(listener: TcpListener, pod: PodRef, port: u16, tasks: Tasks) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else { return };
        tracing::debug!(%peer, port, "forwarding a connection");
        tasks.spawn(carry(stream, pod.clone(), port));
    }
}

async fn carry(mut stream: TcpStream, pod: PodRef, port: u16) {
    let _ = stream.set_nodelay(true);
    let mut forwarder = match pod.api.portforward(&pod.pod, &[port]).await {
        Ok(forwarder) => forwarder,
        Err(e) => {
            tracing::warn!(error = %e, port, pod = %pod.pod, "port-forward refused");
            return;
        }
    };
    let Some(mut upstream) = forwarder.take_stream(port) else { return };
    let error = forwarder.take_error(port);
    if let Err(e) = tokio::io::copy_bidirectional(&mut stream, &mut upstream).await {
        tracing::debug!(error = %e, port, "forwarded connection ended");
    }
    drop(upstream);
    if let Some(error) = error
        && let Ok(Some(message)) = tokio::time::timeout(std::time::Duration::from_millis(100), error).await
    {
        tracing::warn!(port, %message, "port-forward error");
    }
    let _ = forwarder.join().await;
}
