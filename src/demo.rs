//! `dockdap demo`: the main job, end to end, through the same code editors use.
//!
//! It builds the example image if it is missing, runs a session in-process
//! over an in-memory pipe with the built-in DAP client standing in for the
//! editor, launches the example deployment, sends the sample scoring request
//! to the published service port, stops at the breakpoint in `run()`, prints
//! what an editor would show (the stack with workspace paths, the locals),
//! continues, prints the service's reply, and cleans up.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::DapClient;
use crate::http;
use crate::runtime::docker::{Engine, inspect};
use crate::session::{self, SessionOptions};

/// The example's debug image, as `images/build-images.sh` tags it.
pub const EXAMPLE_IMAGE: &str = "dockdap/azureml-score:debug";

/// What can stop the demo.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The example files are not where the source tree put them.
    #[error("the example deployment is not at {0}; run the demo from a dockdap source checkout (`cargo run -- demo`)")]
    NoExample(PathBuf),
    /// Building the image failed.
    #[error("building the example image failed ({0}); run `bash images/build-images.sh` to see why")]
    Build(String),
    /// Docker said no.
    #[error(transparent)]
    Container(#[from] crate::runtime::ContainerError),
    /// The session misbehaved.
    #[error("the debug session failed: {0}")]
    Session(#[from] crate::client::ClientError),
    /// The scoring request failed.
    #[error(transparent)]
    Http(#[from] http::HttpError),
    /// Writing the report failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The source checkout's root, where `examples/` and `images/` live.
pub fn source_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the demo, reporting on `out`.
pub async fn run(out: &mut impl Write) -> Result<(), DemoError> {
    let root = source_root();
    let workspace = root.join("examples/azureml-score");
    let score = workspace.join("score.py");
    if !score.is_file() {
        return Err(DemoError::NoExample(workspace));
    }
    let started = Instant::now();
    writeln!(out, "dockdap demo: debugging {} inside {EXAMPLE_IMAGE}", score.display())?;
    let engine = Engine::connect().await?;
    ensure_image(&engine, &root, out).await?;

    let (editor_side, adapter_side) = tokio::io::duplex(256 * 1024);
    let (session_read, session_write) = tokio::io::split(adapter_side);
    let options = SessionOptions { workspace: workspace.clone(), shutdown: tokio_util::sync::CancellationToken::new() };
    let session = tokio::spawn(session::run(session_read, session_write, options));
    let (client_read, client_write) = tokio::io::split(editor_side);
    let mut client = DapClient::new(Box::new(client_read), Box::new(client_write), Duration::from_secs(120));

    client
        .request(
            "initialize",
            json!({"clientID": "dockdap-demo", "adapterID": "dockdap", "pathFormat": "path", "linesStartAt1": true}),
        )
        .await?;
    let launch = client
        .send_request(
            "launch",
            json!({"type": "dockdap", "request": "launch", "name": "demo", "image": EXAMPLE_IMAGE,
                   "localRoot": workspace, "ports": ["0:5001"], "justMyCode": true}),
        )
        .await?;
    // debugpy says `initialized` once attached; a failed launch answers first.
    let first = client
        .wait_for("initialized or the launch response", |m| {
            m.is_event("initialized") || m.request_seq() == Some(launch)
        })
        .await?;
    if first.request_seq() == Some(launch) {
        let message: String = first.field("message").ok().flatten().unwrap_or_default();
        return Err(DemoError::Session(crate::client::ClientError::Failed { command: "launch".into(), message }));
    }
    let line = marker_line(&score, "dockdap-demo: breakpoint")?;
    client.request("setBreakpoints", json!({"source": {"path": score}, "breakpoints": [{"line": line}]})).await?;
    client.request("configurationDone", json!({})).await?;
    let launched = client.wait_response(launch).await?;
    let body: Value = launched.field("body").ok().flatten().unwrap_or_default();
    if launched.request_seq().is_some() && body.get("dockdap").is_none() {
        let message: String = launched.field("message").ok().flatten().unwrap_or_default();
        return Err(DemoError::Session(crate::client::ClientError::Failed { command: "launch".into(), message }));
    }
    let container = body["dockdap"]["container"].as_str().unwrap_or("?").to_owned();
    let port = body["dockdap"]["ports"][0]["host"].as_u64().unwrap_or(0);
    writeln!(out, "  container {container} is up; the service listens on http://127.0.0.1:{port}")?;
    writeln!(out, "  breakpoint set in run() at score.py:{line}; sending the sample request to POST /score")?;

    let addr = format!("127.0.0.1:{port}");
    let request = tokio::spawn(async move {
        http::post_json(&addr, "/score", http::SAMPLE, tokio::time::Instant::now() + Duration::from_secs(60)).await
    });
    let stopped = client.wait_event("stopped").await?;
    let stopped: Value = stopped.field("body").ok().flatten().unwrap_or_default();
    let thread = stopped["threadId"].as_i64().unwrap_or(0);
    writeln!(
        out,
        "\nstopped ({}) in thread {thread}; this is what the editor shows:",
        stopped["reason"].as_str().unwrap_or("?")
    )?;

    let trace = client.request("stackTrace", json!({"threadId": thread, "levels": 6})).await?;
    let trace: Value = trace.field("body").ok().flatten().unwrap_or_default();
    writeln!(out, "  call stack:")?;
    let frames = trace["stackFrames"].as_array().cloned().unwrap_or_default();
    for frame in &frames {
        let path = frame["source"]["path"].as_str().unwrap_or("<no source>");
        writeln!(out, "    {:<16} {}:{}", frame["name"].as_str().unwrap_or("?"), path, frame["line"])?;
    }
    if let Some(top) = frames.first().and_then(|f| f["id"].as_i64()) {
        let scopes = client.request("scopes", json!({"frameId": top})).await?;
        let scopes: Value = scopes.field("body").ok().flatten().unwrap_or_default();
        if let Some(locals) = scopes["scopes"][0]["variablesReference"].as_i64() {
            let vars = client.request("variables", json!({"variablesReference": locals})).await?;
            let vars: Value = vars.field("body").ok().flatten().unwrap_or_default();
            writeln!(out, "  locals:")?;
            for var in vars["variables"].as_array().into_iter().flatten() {
                let value = var["value"].as_str().unwrap_or("");
                let value = if value.len() > 70 {
                    format!("{}...", &value[..value.floor_char_boundary(67)])
                } else {
                    value.to_owned()
                };
                writeln!(out, "    {} = {}", var["name"].as_str().unwrap_or("?"), value)?;
            }
        }
    }

    writeln!(out, "\ncontinuing")?;
    client.request("continue", json!({"threadId": thread})).await?;
    let reply = match request.await {
        Ok(reply) => reply?,
        Err(e) => return Err(DemoError::Build(format!("the scoring request task failed: {e}"))),
    };
    writeln!(out, "  POST /score -> {}: {}", reply.status, reply.body.trim())?;
    client.request("disconnect", json!({"terminateDebuggee": true})).await?;
    let _ = tokio::time::timeout(Duration::from_secs(40), session).await;
    let gone = inspect::container_info(&engine, &container).await.is_err();
    writeln!(
        out,
        "\ndisconnected; container {container} {} ({:.1}s in all)",
        if gone { "removed" } else { "is STILL THERE (remove it with `dockdap reap`)" },
        started.elapsed().as_secs_f64()
    )?;
    Ok(())
}

/// Builds the example image with the offline recipe if it is not there.
async fn ensure_image(engine: &Engine, root: &Path, out: &mut impl Write) -> Result<(), DemoError> {
    if inspect::image_info(engine, EXAMPLE_IMAGE).await.is_ok() {
        return Ok(());
    }
    writeln!(out, "  the example image is missing; building it offline (first run only, a few minutes)")?;
    out.flush()?;
    let script = root.join("images/build-images.sh");
    let status = tokio::process::Command::new("bash")
        .arg(&script)
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .map_err(|e| DemoError::Build(format!("cannot run {}: {e}", script.display())))?;
    if !status.success() {
        return Err(DemoError::Build(format!("{} exited with {status}", script.display())));
    }
    Ok(())
}

/// The 1-based line of the line carrying `marker`.
fn marker_line(file: &Path, marker: &str) -> Result<i64, DemoError> {
    let text = std::fs::read_to_string(file)?;
    text.lines()
        .position(|l| l.contains(marker))
        .map(|i| i as i64 + 1)
        .ok_or_else(|| DemoError::NoExample(file.to_path_buf()))
}
