//! Many forwarded connections over one process in the container: the
//! client side of `programs::MUX`.
//!
//! A forwarded connection used to start its own relay through `docker
//! exec`, and an exec cannot be created while the engine holds the
//! container's lock: dockerd holds it for the whole of a `docker diff`
//! (`ContainerChanges`), which takes seconds on fuse-overlayfs, so a scoring
//! request sent while sync read the change list waited for it (and each
//! connection paid exec's create, start and inspect round trips, over SSH
//! too). Here one relay process, started once, carries every connection
//! as frames over its stdin and stdout; accepting a connection makes no
//! Engine API call. The frame format is described at `programs::MUX`.
//!
//! This module knows nothing of Docker: it is given the relay's `Link`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::runtime::Link;
use crate::tasks::Tasks;

const OPEN: u8 = 1;
const DATA: u8 = 2;
const SHUT: u8 = 3;
const CLOSE: u8 = 4;
/// The largest payload the relay sends (its reads are 64 KiB); more is a
/// broken stream.
const MAX_PAYLOAD: u32 = 1 << 20;
/// Frames waiting per connection (and towards the relay) before the
/// sender waits.
const QUEUE: usize = 64;

/// What the relay said about one connection.
#[derive(Debug)]
enum Inbound {
    Data(Bytes),
    /// The port's side is done sending.
    Shut,
    /// The connection was refused: why.
    Refused(String),
}

/// One relay process carrying connections.
#[derive(Debug)]
pub(super) struct Mux {
    frames: mpsc::Sender<Vec<u8>>,
    conns: Arc<Mutex<HashMap<u32, mpsc::Sender<Inbound>>>>,
    next: AtomicU32,
    /// Cancelled when the relay's output ends (the process is gone).
    dead: CancellationToken,
}

fn frame(id: u32, kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(9 + payload.len());
    frame.extend_from_slice(&id.to_be_bytes());
    frame.push(kind);
    // Payloads are at most one read (64 KiB) or a port number.
    frame.extend_from_slice(&u32::try_from(payload.len()).unwrap_or(u32::MAX).to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

impl Mux {
    /// Takes over a running relay: a task writes frames to it and one
    /// reads its frames, both on `tasks`.
    pub fn start(link: Link, tasks: &Tasks) -> Arc<Mux> {
        let Link { mut reader, mut writer } = link;
        let (frames, mut outgoing) = mpsc::channel::<Vec<u8>>(QUEUE);
        let conns: Arc<Mutex<HashMap<u32, mpsc::Sender<Inbound>>>> = Arc::default();
        let dead = CancellationToken::new();
        let mux = Arc::new(Mux { frames, conns: conns.clone(), next: AtomicU32::new(1), dead: dead.clone() });
        let writer_dead = dead.clone();
        tasks.spawn(async move {
            loop {
                let frame = tokio::select! {
                    () = writer_dead.cancelled() => break,
                    frame = outgoing.recv() => frame,
                };
                // Every sender gone: the forwarding ended.
                let Some(frame) = frame else { break };
                if writer.write_all(&frame).await.is_err() || writer.flush().await.is_err() {
                    break;
                }
            }
            // The relay's stdin ends, and with it the relay.
            let _ = writer.shutdown().await;
            writer_dead.cancel();
        });
        tasks.spawn(async move {
            if let Err(e) = read_frames(&mut reader, &conns).await {
                tracing::debug!(error = %e, "the forwarding relay's output");
            }
            // Dropping the senders ends every connection's stream back.
            if let Ok(mut conns) = conns.lock() {
                conns.clear();
            }
            dead.cancel();
        });
        mux
    }

    /// Whether the relay still runs.
    pub fn is_alive(&self) -> bool {
        !self.dead.is_cancelled()
    }

    async fn send(&self, id: u32, kind: u8, payload: &[u8]) -> bool {
        self.frames.send(frame(id, kind, payload)).await.is_ok()
    }

    fn forget(&self, id: u32) {
        if let Ok(mut conns) = self.conns.lock() {
            conns.remove(&id);
        }
    }

    /// Carries `stream` to `port` on the container's 127.0.0.1 until both
    /// sides are done, passing each side's end on as a half-close. A
    /// refused connection is closed at once (the client sees its end), and
    /// said in the log.
    pub async fn carry(&self, stream: TcpStream, port: u16) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, mut rx) = mpsc::channel(QUEUE);
        if let Ok(mut conns) = self.conns.lock() {
            conns.insert(id, tx);
        }
        if !self.send(id, OPEN, port.to_string().as_bytes()).await {
            self.forget(id);
            return;
        }
        let (mut from_client, mut to_client) = stream.into_split();
        let up = async {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match from_client.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => {
                        if !self.send(id, DATA, &buf[..n]).await {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, port, "forwarded connection: client to container");
                        break;
                    }
                }
            }
            self.send(id, SHUT, b"").await;
        };
        let down = async {
            while let Some(inbound) = rx.recv().await {
                match inbound {
                    Inbound::Data(bytes) => {
                        if to_client.write_all(&bytes).await.is_err() {
                            break;
                        }
                    }
                    Inbound::Shut => break,
                    Inbound::Refused(why) => {
                        tracing::debug!(port, %why, "the forwarded port refused the connection");
                        break;
                    }
                }
            }
            // Frames still coming for it are dropped, never waited on.
            self.forget(id);
            drop(rx);
            let _ = to_client.shutdown().await;
        };
        tokio::join!(up, down);
        self.send(id, CLOSE, b"").await;
    }
}

/// Reads the relay's frames and hands each to its connection, until the
/// relay's output ends.
async fn read_frames(
    reader: &mut crate::transport::BoxRead,
    conns: &Mutex<HashMap<u32, mpsc::Sender<Inbound>>>,
) -> std::io::Result<()> {
    let mut head = [0u8; 9];
    loop {
        match reader.read_exact(&mut head).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let id = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let len = u32::from_be_bytes([head[5], head[6], head[7], head[8]]);
        if len > MAX_PAYLOAD {
            return Err(std::io::Error::other(format!("a frame of {len} bytes from the relay")));
        }
        let mut payload = vec![0u8; len as usize];
        reader.read_exact(&mut payload).await?;
        let inbound = match head[4] {
            DATA => Inbound::Data(Bytes::from(payload)),
            SHUT => Inbound::Shut,
            CLOSE => Inbound::Refused(String::from_utf8_lossy(&payload).into_owned()),
            other => return Err(std::io::Error::other(format!("a frame of unknown kind {other} from the relay"))),
        };
        let Some(tx) = conns.lock().ok().and_then(|c| c.get(&id).cloned()) else { continue };
        // An error: the connection is gone; what was for it is dropped.
        let _ = tx.send(inbound).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::programs::MUX;
    use tokio::net::TcpListener;

    /// The relay run by this machine's Python, as a `Link`.
    fn relay() -> Option<(tokio::process::Child, Link)> {
        let mut child = tokio::process::Command::new("python3")
            .args(["-c", MUX])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .ok()?;
        let reader = Box::new(child.stdout.take()?);
        let writer = Box::new(child.stdin.take()?);
        Some((child, Link { reader, writer }))
    }

    /// A service that answers each connection with what it got, upper-cased,
    /// once the client has half-closed.
    async fn shouting_service() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    s.read_to_end(&mut got).await.unwrap();
                    s.write_all(&got.to_ascii_uppercase()).await.unwrap();
                });
            }
        });
        port
    }

    /// A forwarded connection's listener on this machine, carried by `mux` to `port`.
    async fn forwarded(mux: Arc<Mux>, port: u16) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let mux = mux.clone();
                tokio::spawn(async move { mux.carry(stream, port).await });
            }
        });
        addr
    }

    async fn exchange(addr: std::net::SocketAddr, text: &[u8]) -> Vec<u8> {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(text).await.unwrap();
        s.shutdown().await.unwrap();
        let mut back = Vec::new();
        s.read_to_end(&mut back).await.unwrap();
        back
    }

    /// Connections side by side over one relay, large and small, each
    /// half-closed by its client, each answered in full; a refused port
    /// ends its connection at once; when dockdap lets go, the relay exits.
    #[tokio::test]
    async fn one_relay_carries_many_connections_both_ways() {
        let Some((mut child, link)) = relay() else {
            eprintln!("SKIPPED: no python3 on this machine");
            return;
        };
        let tasks = Tasks::new(CancellationToken::new());
        let mux = Mux::start(link, &tasks);
        let port = shouting_service().await;
        let addr = forwarded(mux.clone(), port).await;
        let big: Vec<u8> = (0..3_000_000u32).map(|i| b"abcdefgh"[i as usize % 8]).collect();
        let mut exchanges = Vec::new();
        for i in 0..20 {
            let text = if i == 7 { big.clone() } else { format!("hello {i}").into_bytes() };
            exchanges.push(tokio::spawn(async move { (exchange(addr, &text).await, text.to_ascii_uppercase()) }));
        }
        for exchange in exchanges {
            let (got, want) =
                tokio::time::timeout(std::time::Duration::from_secs(30), exchange).await.unwrap().unwrap();
            assert_eq!(got.len(), want.len());
            assert!(got == want);
        }
        // Nothing listens on a port just freed: the connection ends, the relay lives on.
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
        let refused = forwarded(mux.clone(), closed).await;
        assert_eq!(exchange(refused, b"anyone?").await, b"");
        assert_eq!(exchange(addr, b"still here").await, b"STILL HERE");
        assert!(mux.is_alive());
        drop(mux);
        tasks.stop();
        let status = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait()).await.unwrap().unwrap();
        assert!(status.success(), "{status:?}");
    }
}
