//! `pods/portforward` over WebSocket, as the kubelet serves it
//! (`v4.channel.k8s.io`, its base64 form not served, or no subprotocol):
//! for the i-th port of `?ports=`, channel 2i carries data and 2i+1 errors,
//! and the server's first message on each channel is the port number (two
//! bytes, little-endian). One TCP connection per port per WebSocket; when
//! every connection has ended, the WebSocket is closed.
//!
//! The connection is made to `localhost:PORT` inside the pod's network
//! namespace (entered with `setns(2)` on a thread of its own, as CRI
//! runtimes do), so a server listening on 127.0.0.1 in the pod is reached.
//! Where that is not allowed (not root, or the engine is not on this
//! machine), it falls back to the pod IP, which reaches only servers
//! listening on all interfaces. kubectl's own `port-forward` speaks SPDY
//! (or SPDY tunnelled in WebSocket) and is refused: use the Python client,
//! kube-rs or client-go's WebSocket port-forwarder.

use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use hyper::Request;
use hyper::body::Incoming;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, mpsc};
use tokio_tungstenite::tungstenite::Message;

use crate::errors::ApiError;
use crate::http::{Query, Reply};
use crate::kinds::Kind;
use crate::kubelet::Sandbox;
use crate::router::Target;
use crate::sim::Sim;
use crate::streams::V4;
use crate::ws::{self, Socket};

type Sink = Arc<Mutex<SplitSink<Socket, Message>>>;

fn ports(query: &Query) -> Result<Vec<u16>, ApiError> {
    let mut ports = Vec::new();
    for value in query.all("ports") {
        for text in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let port: u16 = text.parse().ok().filter(|p| *p > 0).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "unable to parse \"{text}\" as a port: must be between 1 and 65535, inclusive"
                ))
            })?;
            ports.push(port);
        }
    }
    if ports.is_empty() {
        return Err(ApiError::bad_request("at least 1 port must be specified"));
    }
    Ok(ports)
}

pub async fn serve(sim: Arc<Sim>, target: Target, query: Query, mut req: Request<Incoming>) -> Result<Reply, ApiError> {
    let (ns, name) = (target.ns().to_owned(), target.name.clone().unwrap_or_default());
    sim.store.get(Kind::Pod, &ns, &name).ok_or_else(|| ApiError::not_found(Kind::Pod, &name))?;
    let ports = ports(&query)?;
    let sandbox = sim.kubelet.sandbox(&sim, &ns, &name)?;
    let offered = ws::offered(&req);
    let protocol = if offered.is_empty() {
        None
    } else {
        Some(offered.iter().find(|p| *p == V4).cloned().ok_or_else(|| {
            ApiError::bad_request(format!(
                "kube-sim serves port forwarding over WebSocket with {V4} (or no subprotocol); the client offered [{}] (kubectl port-forward's SPDY is not simulated)",
                offered.join(", ")
            ))
        })?)
    };
    let (reply, socket) = ws::accept(&mut req, protocol.as_deref())?;
    let uid = sim
        .store
        .get(Kind::Pod, &ns, &name)
        .and_then(|p| p.pointer("/metadata/uid").and_then(|u| u.as_str()).map(str::to_owned))
        .unwrap_or_default();
    sim.tasks.spawn(async move {
        if let Some(socket) = socket.await {
            forward(socket, sandbox, ports, uid).await;
        }
    });
    Ok(reply)
}

/// Connects to `localhost:port` in the network namespace of `pid`.
fn connect_in_namespace(pid: i64, port: u16) -> std::io::Result<std::net::TcpStream> {
    let namespace = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
    // A thread of its own: it stays in the pod's namespace after setns and
    // ends right after, so no other work ever runs there.
    std::thread::spawn(move || {
        rustix::thread::move_into_link_name_space(namespace.as_fd(), Some(rustix::thread::LinkNameSpaceType::Network))?;
        let v4 = std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(5));
        v4.or_else(|first| {
            std::net::TcpStream::connect_timeout(&(std::net::Ipv6Addr::LOCALHOST, port).into(), Duration::from_secs(5))
                .map_err(|_| first)
        })
    })
    .join()
    .map_err(|_| std::io::Error::other("the namespace thread panicked"))?
}

async fn connect(sandbox: &Sandbox, port: u16) -> Result<TcpStream, String> {
    let pid = sandbox.pid;
    let entered = tokio::task::spawn_blocking(move || connect_in_namespace(pid, port)).await;
    match entered {
        Ok(Ok(stream)) => {
            stream.set_nonblocking(true).map_err(|e| e.to_string())?;
            return TcpStream::from_std(stream).map_err(|e| e.to_string());
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused || e.kind() == std::io::ErrorKind::TimedOut => {
            return Err(format!("failed to connect to localhost:{port} inside namespace of the pod: {e}"));
        }
        Ok(Err(e)) => tracing::debug!(error = %e, "cannot enter the pod's network namespace; connecting to its IP"),
        Err(e) => tracing::debug!(error = %e, "the namespace thread failed"),
    }
    TcpStream::connect((sandbox.ip.as_str(), port))
        .await
        .map_err(|e| format!("failed to connect to {}:{port}: {e}", sandbox.ip))
}

async fn forward(socket: Socket, sandbox: Sandbox, ports: Vec<u16>, uid: String) {
    let (sink, mut source) = socket.split();
    let sink: Sink = Arc::new(Mutex::new(sink));
    let mut writers = Vec::new();
    let mut tasks = Vec::new();
    for (i, port) in ports.iter().copied().enumerate() {
        let (data, error) = ((2 * i) as u8, (2 * i + 1) as u8);
        {
            let mut s = sink.lock().await;
            let prefix = port.to_le_bytes();
            if !ws::send(&mut *s, data, &prefix).await || !ws::send(&mut *s, error, &prefix).await {
                return;
            }
        }
        let (tx, rx) = mpsc::channel::<Vec<u8>>(64);
        writers.push(tx);
        tasks.push(tokio::spawn(one_port(sink.clone(), sandbox.clone(), port, data, error, rx, uid.clone())));
    }
    let all_done = futures_util::future::join_all(tasks);
    tokio::pin!(all_done);
    loop {
        tokio::select! {
            _ = &mut all_done => break,
            message = source.next() => match message {
                Some(Ok(Message::Binary(bytes))) if !bytes.is_empty() => {
                    let channel = bytes[0] as usize;
                    if channel.is_multiple_of(2) && let Some(tx) = writers.get(channel / 2) {
                        let _ = tx.send(bytes[1..].to_vec()).await;
                    }
                }
                Some(Ok(Message::Text(text))) if !text.is_empty() => {
                    let bytes = text.as_str().as_bytes();
                    let channel = bytes[0] as usize;
                    if channel.is_multiple_of(2) && let Some(tx) = writers.get(channel / 2) {
                        let _ = tx.send(bytes[1..].to_vec()).await;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    writers.clear();
                    let _ = tokio::time::timeout(Duration::from_secs(1), &mut all_done).await;
                    return;
                }
                Some(Ok(_)) => {}
            }
        }
    }
    let _ = sink.lock().await.close().await;
}

/// One port: connect, then copy both ways until either side ends.
async fn one_port(
    sink: Sink,
    sandbox: Sandbox,
    port: u16,
    data: u8,
    error: u8,
    mut from_client: mpsc::Receiver<Vec<u8>>,
    uid: String,
) {
    let stream = match connect(&sandbox, port).await {
        Ok(stream) => stream,
        Err(e) => {
            let message = format!("error forwarding port {port} to pod {}, uid {uid}: {e}", sandbox.id);
            ws::send(&mut *sink.lock().await, error, message.as_bytes()).await;
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let (mut read, mut write) = stream.into_split();
    let to_pod = async {
        while let Some(bytes) = from_client.recv().await {
            if write.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = write.shutdown().await;
    };
    let from_pod = async {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if !ws::send(&mut *sink.lock().await, data, &buffer[..n]).await {
                        break;
                    }
                }
            }
        }
    };
    // The pod closing its side ends the stream, as with the kubelet.
    tokio::select! {
        _ = from_pod => {}
        _ = async { to_pod.await; std::future::pending::<()>().await } => {}
    }
}
