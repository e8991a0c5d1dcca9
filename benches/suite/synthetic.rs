//! A synthetic debug adapter with zero think time, and a raw byte relay.
//!
//! The adapter answers every request at once and, on `benchFlood`, writes
//! `count` `output` events of about 1 KiB as fast as the connection takes
//! them; `benchBigReply` is answered with a body of the asked size, and a
//! large request (`benchBig`) is answered without parsing its arguments. The
//! relay is the floor for any proxy: `tokio::io::copy_bidirectional`, no
//! framing, no parsing. Each runs on a thread and a single-threaded runtime
//! of its own, as a separate process would.

use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use dockdap::dap::{DapCodec, Kind, Message};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

/// Size of one flood event's frame body, in bytes (about).
pub const EVENT_BYTES: usize = 1024;

/// Something serving on a loopback port from a thread of its own.
pub struct Server {
    pub addr: String,
    pub port: u16,
    stop: CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Runs `serve` for every connection accepted on a fresh loopback port.
fn spawn_server<F, Fut>(name: &str, serve: F) -> anyhow::Result<Server>
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    std_listener.set_nonblocking(true)?;
    let port = std_listener.local_addr()?.port();
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    std::thread::Builder::new().name(name.to_owned()).spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return;
        };
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime, async move {
            let Ok(listener) = TcpListener::from_std(std_listener) else {
                return;
            };
            loop {
                let accepted = tokio::select! {
                    () = stopped.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                if let Ok((stream, _)) = accepted {
                    let _ = stream.set_nodelay(true);
                    tokio::task::spawn_local(serve(stream));
                }
            }
        });
    })?;
    Ok(Server { addr: format!("127.0.0.1:{port}"), port, stop })
}

/// The raw relay: every connection is piped to `target`, bytes untouched.
pub fn relay(target: String) -> anyhow::Result<Server> {
    spawn_server("bench-relay", move |mut client| {
        let target = target.clone();
        async move {
            let Ok(mut adapter) = TcpStream::connect(&target).await else {
                return;
            };
            let _ = adapter.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut adapter).await;
        }
    })
}

/// The synthetic adapter.
pub fn adapter() -> anyhow::Result<Server> {
    spawn_server("bench-adapter", |stream| async move {
        let _ = serve_adapter(stream).await;
    })
}

/// `seq` and `command` of a large request, read from its first bytes (the
/// envelope fields come first, as `Message` writes them and dockdap keeps them).
fn peek_request(body: &[u8]) -> Option<(i64, String)> {
    let head = String::from_utf8_lossy(&body[..body.len().min(256)]).into_owned();
    let seq = head.strip_prefix("{\"seq\":")?.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()?;
    let command = head.split("\"command\":\"").nth(1)?.split('"').next()?.to_owned();
    Some((seq, command))
}

struct Writer {
    stream: tokio::net::tcp::OwnedWriteHalf,
    seq: i64,
    buf: Vec<u8>,
}

impl Writer {
    fn frame(&mut self, body: &str) {
        self.buf.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        self.buf.extend_from_slice(body.as_bytes());
    }

    fn next_seq(&mut self) -> i64 {
        self.seq += 1;
        self.seq
    }

    fn response(&mut self, request_seq: i64, command: &str, body: &str) {
        let seq = self.next_seq();
        let command = Value::String(command.to_owned());
        self.frame(&format!(
            "{{\"seq\":{seq},\"type\":\"response\",\"request_seq\":{request_seq},\"success\":true,\"command\":{command},\"body\":{body}}}"
        ));
    }

    fn event(&mut self, event: &str, body: &str) {
        let seq = self.next_seq();
        self.frame(&format!("{{\"seq\":{seq},\"type\":\"event\",\"event\":\"{event}\",\"body\":{body}}}"));
    }

    async fn flush_if(&mut self, at_least: usize) -> std::io::Result<()> {
        if self.buf.len() >= at_least {
            self.stream.write_all(&self.buf).await?;
            self.buf.clear();
        }
        Ok(())
    }
}

/// The body of one flood event: a line of printable program output (no
/// paths, nothing to escape), about `EVENT_BYTES` in all.
fn flood_body(i: u64, pad: &str) -> String {
    format!("{{\"category\":\"stdout\",\"output\":\"line {i:08} of the benchmark's flood: {pad}\\n\"}}")
}

fn flood_pad() -> String {
    let mut pad = String::new();
    while pad.len() < EVENT_BYTES - 140 {
        pad.push_str("lorem ipsum dolor sit amet ");
    }
    pad.truncate(EVENT_BYTES - 140);
    pad
}

async fn serve_adapter(stream: TcpStream) -> anyhow::Result<()> {
    let (r, w) = stream.into_split();
    let mut frames = FramedRead::new(r, DapCodec::default());
    let mut out = Writer { stream: w, seq: 0, buf: Vec::with_capacity(128 * 1024) };
    while let Some(Ok(Ok(body))) = frames.next().await {
        let (seq, command, arguments) = if body.len() > 64 * 1024 {
            let (seq, command) = peek_request(&body).context("a large frame that is not a request")?;
            (seq, command, Value::Null)
        } else {
            let message = Message::parse(&body)?;
            let Kind::Request { command } = message.kind().clone() else {
                continue;
            };
            (message.seq(), command, message.field::<Value>("arguments").ok().flatten().unwrap_or_default())
        };
        match command.as_str() {
            "initialize" => out.response(seq, &command, r#"{"supportsConfigurationDoneRequest":true}"#),
            "attach" | "launch" => {
                out.response(seq, &command, "{}");
                out.event("initialized", "{}");
            }
            "benchFlood" => {
                out.response(seq, &command, "{}");
                let count = arguments["count"].as_u64().unwrap_or(0);
                let pad = flood_pad();
                for i in 0..count {
                    out.event("output", &flood_body(i, &pad));
                    out.flush_if(64 * 1024).await?;
                }
                out.event("benchFloodDone", &format!("{{\"count\":{count}}}"));
            }
            "benchBigReply" => {
                let size = arguments["size"].as_u64().unwrap_or(0) as usize;
                let body = format!("{{\"data\":\"{}\"}}", "x".repeat(size));
                out.response(seq, &command, &body);
            }
            "disconnect" => {
                out.response(seq, &command, "{}");
                out.flush_if(0).await?;
                tokio::time::sleep(Duration::from_millis(10)).await;
                return Ok(());
            }
            _ => out.response(seq, &command, "{}"),
        }
        out.flush_if(0).await?;
    }
    Ok(())
}

/// A lean DAP client for the throughput runs: frames are counted, not
/// parsed, so the client costs the same little on both paths.
pub struct Lean {
    frames: FramedRead<tokio::net::tcp::OwnedReadHalf, DapCodec>,
    writer: tokio::net::tcp::OwnedWriteHalf,
    seq: i64,
    backlog: Vec<Message>,
}

/// How long any one wait of the lean client may take.
const LEAN_WAIT: Duration = Duration::from_secs(120);

impl Lean {
    pub async fn connect(addr: &str) -> anyhow::Result<Lean> {
        let stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        Ok(Lean { frames: FramedRead::new(r, DapCodec::default()), writer: w, seq: 0, backlog: Vec::new() })
    }

    /// Sends a request whose arguments are already JSON text.
    pub async fn send_raw(&mut self, command: &str, arguments: &str) -> anyhow::Result<i64> {
        self.seq += 1;
        let body = format!(
            "{{\"seq\":{},\"type\":\"request\",\"command\":{},\"arguments\":{arguments}}}",
            self.seq,
            Value::String(command.to_owned())
        );
        let mut frame = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        frame.extend_from_slice(body.as_bytes());
        self.writer.write_all(&frame).await?;
        Ok(self.seq)
    }

    pub async fn send(&mut self, command: &str, arguments: &Value) -> anyhow::Result<i64> {
        self.send_raw(command, &arguments.to_string()).await
    }

    /// The next frame body.
    pub async fn next_frame(&mut self) -> anyhow::Result<Bytes> {
        match tokio::time::timeout(LEAN_WAIT, self.frames.next()).await {
            Err(_) => anyhow::bail!("nothing arrived within {LEAN_WAIT:?}"),
            Ok(None) => anyhow::bail!("the stream closed"),
            Ok(Some(Err(e))) => Err(e.into()),
            Ok(Some(Ok(Err(e)))) => anyhow::bail!("bad frame: {e}"),
            Ok(Some(Ok(Ok(body)))) => Ok(body),
        }
    }

    /// Waits for the first message that satisfies `want`, keeping others.
    pub async fn wait_for(&mut self, want: impl Fn(&Message) -> bool) -> anyhow::Result<Message> {
        if let Some(i) = self.backlog.iter().position(&want) {
            return Ok(self.backlog.remove(i));
        }
        loop {
            let message = Message::parse(&self.next_frame().await?)?;
            if want(&message) {
                return Ok(message);
            }
            self.backlog.push(message);
        }
    }

    pub async fn request(&mut self, command: &str, arguments: Value) -> anyhow::Result<Message> {
        let seq = self.send(command, &arguments).await?;
        self.wait_for(|m| m.request_seq() == Some(seq)).await
    }

    /// `initialize`, `attach` (`arguments`), `initialized`, `configurationDone`.
    pub async fn handshake(&mut self, attach: Value) -> anyhow::Result<()> {
        self.request("initialize", super::dap::initialize_arguments()).await?;
        let seq = self.send("attach", &attach).await?;
        self.wait_for(|m| m.is_event("initialized")).await?;
        self.request("configurationDone", json!({})).await?;
        let response = self.wait_for(|m| m.request_seq() == Some(seq)).await?;
        if let Kind::Response { success: false, .. } = response.kind() {
            anyhow::bail!("attach failed: {:?}", response);
        }
        self.backlog.clear();
        Ok(())
    }

    /// Asks for `count` output events and reads them all; returns the
    /// events and bytes that arrived (frame bodies).
    pub async fn flood(&mut self, count: u64) -> anyhow::Result<(u64, u64)> {
        self.send("benchFlood", &json!({"count": count})).await?;
        let (mut events, mut bytes) = (0u64, 0u64);
        loop {
            let body = self.next_frame().await?;
            let head = &body[..body.len().min(96)];
            if memchr::memmem::find(head, b"\"event\":\"output\"").is_some() {
                events += 1;
                bytes += body.len() as u64;
            } else if memchr::memmem::find(head, b"benchFloodDone").is_some() {
                return Ok((events, bytes));
            }
        }
    }

    /// Sends one request of about `size` bytes and waits for its answer.
    pub async fn big_to_adapter(&mut self, data: &str) -> anyhow::Result<()> {
        let seq = self.send_raw("benchBig", &format!("{{\"data\":\"{data}\"}}")).await?;
        self.wait_for(|m| m.request_seq() == Some(seq)).await?;
        Ok(())
    }

    /// Asks for one response of `size` bytes and waits until it arrived.
    pub async fn big_to_client(&mut self, size: usize) -> anyhow::Result<usize> {
        self.send("benchBigReply", &json!({"size": size})).await?;
        loop {
            let body = self.next_frame().await?;
            if body.len() >= size {
                return Ok(body.len());
            }
        }
    }

    pub async fn disconnect(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.request("disconnect", json!({}))).await;
    }
}
