//! Driving debug sessions with dockdap's own `DapClient`: connecting
//! (straight to debugpy, or to dockdap), configuring a breakpoint, and the
//! timed iteration of the round-trip benchmark.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use dockdap::client::DapClient;
use dockdap::dap::{Kind, Message};
use serde_json::{Value, json};

use super::stats::Timings;

/// Per-wait timeout; generous, because an untuned debugpy in a busy
/// container can be slow, and a benchmark must not fail on a slow answer.
pub const WAIT: Duration = Duration::from_secs(60);

/// The body of a message, or `null`.
pub fn body(m: &Message) -> Value {
    m.field("body").ok().flatten().unwrap_or_default()
}

/// The 1-based line of `marker` in `file`.
pub fn line_of(file: &Path, marker: &str) -> anyhow::Result<i64> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let index = text.lines().position(|l| l.contains(marker)).ok_or_else(|| anyhow!("{marker} not in {file:?}"))?;
    Ok(index as i64 + 1)
}

/// A client on a TCP connection, with TCP_NODELAY as editors set it.
pub async fn connect(addr: &str) -> anyhow::Result<DapClient> {
    let stream = tokio::net::TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (r, w) = stream.into_split();
    Ok(DapClient::new(Box::new(r), Box::new(w), WAIT))
}

/// The `initialize` an editor sends.
pub fn initialize_arguments() -> Value {
    json!({"clientID": "dockdap-bench", "adapterID": "dockdap", "pathFormat": "path",
           "linesStartAt1": true, "columnsStartAt1": true})
}

/// Connects to a debugpy that may not listen yet, the way a person retries
/// an attach: connect, `initialize`, and on a refused or closed connection
/// (docker-proxy accepts before anything listens in the container) try
/// again shortly. Returns the client with `initialize` answered.
pub async fn connect_when_ready(addr: &str, within: Duration) -> anyhow::Result<DapClient> {
    let deadline = Instant::now() + within;
    loop {
        // A slow answer is waited for, never abandoned: debugpy serves one
        // client, and dropping a connection it accepted can end its session.
        let attempt = async {
            let mut client = connect(addr).await?;
            client.request("initialize", initialize_arguments()).await?;
            anyhow::Ok(client)
        };
        match attempt.await {
            Ok(client) => return Ok(client),
            Err(e) if Instant::now() >= deadline => return Err(e.context(format!("debugpy at {addr} never answered"))),
            Err(_) => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
}

/// The second half of a session start, as editors do it: `attach` or
/// `launch` (answered only after `configurationDone`), `initialized`,
/// breakpoints, `configurationDone`, then the first `stopped`. Returns the
/// stopped thread.
pub async fn configure(
    client: &mut DapClient,
    request: &str,
    arguments: Value,
    source_path: &str,
    lines: &[i64],
) -> anyhow::Result<i64> {
    Ok(configure_answered(client, request, arguments, source_path, lines).await?.0)
}

/// `configure`, also returning the body of the `launch`/`attach` response
/// (dockdap's has the container and its service ports).
pub async fn configure_answered(
    client: &mut DapClient,
    request: &str,
    arguments: Value,
    source_path: &str,
    lines: &[i64],
) -> anyhow::Result<(i64, Value)> {
    let seq = client.send_request(request, arguments).await?;
    let first = client
        .wait_for("initialized or the start response", |m| m.is_event("initialized") || m.request_seq() == Some(seq))
        .await?;
    if first.request_seq() == Some(seq) {
        check_success(&first, request)?;
        client.wait_event("initialized").await?;
    }
    let breakpoints: Vec<Value> = lines.iter().map(|l| json!({ "line": l })).collect();
    let set =
        client.request("setBreakpoints", json!({"source": {"path": source_path}, "breakpoints": breakpoints})).await?;
    let verified = body(&set)["breakpoints"].as_array().is_some_and(|b| b.iter().all(|b| b["verified"] == true));
    if !verified {
        bail!("breakpoints at {source_path}:{lines:?} were not verified: {}", body(&set));
    }
    client.request("configurationDone", json!({})).await?;
    let answer = if first.request_seq() != Some(seq) {
        let started = client.wait_response(seq).await?;
        check_success(&started, request)?;
        body(&started)
    } else {
        body(&first)
    };
    let stopped = client.wait_event("stopped").await?;
    let thread =
        body(&stopped)["threadId"].as_i64().ok_or_else(|| anyhow!("stopped without a threadId: {}", body(&stopped)))?;
    Ok((thread, answer))
}

fn check_success(response: &Message, request: &str) -> anyhow::Result<()> {
    if let Kind::Response { success: false, .. } = response.kind() {
        let message: String = response.field("message").ok().flatten().unwrap_or_default();
        bail!("{request} failed: {message}");
    }
    Ok(())
}

/// Ends a session politely; errors are ignored (the other end may be gone).
pub async fn disconnect(client: &mut DapClient) {
    client.set_timeout(Duration::from_secs(20));
    let _ = client.request("disconnect", json!({"terminateDebuggee": true})).await;
}

/// One side of the round-trip benchmark: a session stopped at the breakpoint.
pub struct Side {
    pub client: DapClient,
    pub thread: i64,
    pub timings: Timings,
    /// Frame body sizes of the last `stackTrace` and `variables` answers.
    pub stack_bytes: usize,
    pub variables_bytes: usize,
    /// The line the breakpoint is on, to check every stop.
    pub line: i64,
    /// The top frame and its locals at the last stop.
    pub frame: i64,
    pub locals: i64,
}

impl Side {
    pub fn new(client: DapClient, thread: i64, line: i64) -> Side {
        Side {
            client,
            thread,
            timings: Timings::default(),
            stack_bytes: 0,
            variables_bytes: 0,
            line,
            frame: 0,
            locals: 0,
        }
    }

    /// One iteration: `continue` -> `stopped`, `threads`, `stackTrace` (20
    /// frames), `scopes`, `variables`, and with `next`, `next` -> `stopped`.
    /// Records each round trip and the whole iteration when `record`.
    pub async fn iteration(&mut self, with_next: bool, record: bool) -> anyhow::Result<()> {
        let c = &mut self.client;
        let mut t: Vec<(&'static str, Duration)> = Vec::with_capacity(7);
        let begin = Instant::now();

        let t0 = Instant::now();
        let cont = c.send_request("continue", json!({"threadId": self.thread})).await?;
        let stopped = c.wait_event("stopped").await?;
        t.push(("continue", t0.elapsed()));
        c.wait_response(cont).await?;
        self.thread = body(&stopped)["threadId"].as_i64().unwrap_or(self.thread);

        let t0 = Instant::now();
        c.request("threads", json!({})).await?;
        t.push(("threads", t0.elapsed()));

        let t0 = Instant::now();
        let trace = c.request("stackTrace", json!({"threadId": self.thread, "startFrame": 0, "levels": 20})).await?;
        t.push(("stackTrace", t0.elapsed()));
        let trace_body = body(&trace);
        let frames = trace_body["stackFrames"].as_array().cloned().unwrap_or_default();
        if frames.len() < 20 || frames[0]["line"] != self.line {
            bail!(
                "expected 20 frames stopped at line {}, got {} frames: {}",
                self.line,
                frames.len(),
                frames.first().cloned().unwrap_or_default()
            );
        }
        self.stack_bytes = trace.to_bytes().len();
        let frame = frames[0]["id"].as_i64().unwrap_or_default();
        self.frame = frame;

        let t0 = Instant::now();
        let scopes = c.request("scopes", json!({"frameId": frame})).await?;
        t.push(("scopes", t0.elapsed()));
        let locals = body(&scopes)["scopes"][0]["variablesReference"].as_i64().unwrap_or_default();
        self.locals = locals;

        let t0 = Instant::now();
        let vars = c.request("variables", json!({"variablesReference": locals})).await?;
        t.push(("variables", t0.elapsed()));
        let count = body(&vars)["variables"].as_array().map_or(0, Vec::len);
        if count < 100 {
            bail!("expected 100 locals, got {count}");
        }
        self.variables_bytes = vars.to_bytes().len();

        if with_next {
            let t0 = Instant::now();
            let next = c.send_request("next", json!({"threadId": self.thread})).await?;
            c.wait_event("stopped").await?;
            t.push(("next", t0.elapsed()));
            c.wait_response(next).await?;
        }
        let whole = begin.elapsed();
        c.drain_backlog();
        if record {
            for (name, d) in t {
                self.timings.push(name, d);
            }
            self.timings.push("iteration", whole);
        }
        Ok(())
    }

    /// One timed request from the current stop: `threads`, `stackTrace`,
    /// `variables` (the top frame's locals), or `next` -> `stopped`.
    pub async fn one(&mut self, command: &str) -> anyhow::Result<Duration> {
        let c = &mut self.client;
        let t0 = Instant::now();
        match command {
            "threads" => {
                c.request("threads", json!({})).await?;
            }
            "stackTrace" => {
                c.request("stackTrace", json!({"threadId": self.thread, "startFrame": 0, "levels": 20})).await?;
            }
            "variables" => {
                c.request("variables", json!({"variablesReference": self.locals})).await?;
            }
            "next" => {
                let next = c.send_request("next", json!({"threadId": self.thread})).await?;
                let stopped = c.wait_event("stopped").await?;
                let elapsed = t0.elapsed();
                c.wait_response(next).await?;
                c.drain_backlog();
                self.thread = body(&stopped)["threadId"].as_i64().unwrap_or(self.thread);
                return Ok(elapsed);
            }
            other => bail!("no timed request {other}"),
        }
        Ok(t0.elapsed())
    }
}
