//! `dockdap demo`: the main job, end to end, through the same code editors use.
//!
//! It makes sure the example image exists (`example_image`: built from the
//! Dockerfile when a registry answers, else offline), runs a session
//! in-process over an in-memory pipe with the built-in DAP client standing
//! in for the editor, launches the example deployment, sends the sample
//! scoring request to the published service port, stops at the breakpoint
//! in `run()`, prints what an editor would show (the stack with workspace
//! paths, the locals), continues, prints the service's reply, and cleans up.
//!
//! It talks to Docker only through `container`'s functions, and to the
//! session only through DAP.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::example_image::{self, EXAMPLE_IMAGE};
use crate::client::{ClientError, DapClient};
use crate::http;
use crate::runtime::docker::{Engine, inspect};
use crate::session::{self, SessionOptions};

/// What can stop the demo.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The example files are not where the source tree put them.
    #[error("the example deployment is not at {0}; run the demo from a dockdap source checkout (`cargo run -- demo`)")]
    NoExample(PathBuf),
    /// Building the image failed.
    #[error("building the example image failed ({0}); run `bash images/build-images.sh` to see why")]
    Build(String),
    /// Nothing can build the image on this machine yet.
    #[error(
        "cannot build the example image {EXAMPLE_IMAGE}: {why}, and the offline recipe (images/build-images.sh) needs what this machine lacks:\n  - {missing}\nthen run `cargo run -- demo` again"
    )]
    CannotBuild {
        /// Why the Dockerfile was not used.
        why: String,
        /// What is missing, one item a line, each with how to get it.
        missing: String,
    },
    /// Docker said no.
    #[error("{0}")]
    Container(crate::runtime::ContainerError),
    /// The session misbehaved.
    #[error("the debug session failed: {0}")]
    Session(ClientError),
    /// The scoring request failed.
    #[error("{0}")]
    Http(http::HttpError),
    /// Writing the report failed.
    #[error("{0}")]
    Io(std::io::Error),
}

from_error!(DemoError:
    Container(crate::runtime::ContainerError),
    Session(ClientError),
    Http(http::HttpError),
    Io(std::io::Error),
);

/// The source checkout's root, where `examples/` and `images/` live: the
/// current folder or the nearest folder above it holding the example (a
/// checkout the user is in: a binary built elsewhere, on another system,
/// knows no path of this machine), else the checkout this binary was built
/// from.
pub fn source_root() -> PathBuf {
    let holds_example = |dir: &std::path::Path| dir.join("examples").join("azureml-score").join("score.py").is_file();
    std::env::current_dir()
        .ok()
        .and_then(|cwd| cwd.ancestors().find(|dir| holds_example(dir)).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// Runs `dockdap demo`, reporting on stdout.
pub async fn run() -> Result<ExitCode, DemoError> {
    demo(&mut std::io::stdout()).await?;
    Ok(ExitCode::SUCCESS)
}

/// The demo, reporting on `out`.
pub async fn demo(out: &mut impl Write) -> Result<(), DemoError> {
    let root = source_root();
    let workspace = root.join("examples").join("azureml-score");
    let score = workspace.join("score.py");
    if !score.is_file() {
        return Err(DemoError::NoExample(workspace));
    }
    let line = marker_line(&score, "dockdap-demo: breakpoint")?;
    let started = Instant::now();
    writeln!(out, "dockdap demo: debugging {} inside {EXAMPLE_IMAGE}", score.display())?;
    let engine = Engine::connect().await?;
    example_image::ensure(&engine, &root, out).await?;

    let mut editor = Editor::start(&workspace);
    let (container, port) = editor.launch(&workspace, &score, line).await?;
    writeln!(out, "  container {container} is up; the service listens on http://127.0.0.1:{port}")?;
    writeln!(out, "  breakpoint set in run() at score.py:{line}; sending the sample request to POST /score")?;
    let addr = format!("127.0.0.1:{port}");
    let request = tokio::spawn(async move {
        http::post_json(&addr, "/score", http::SAMPLE, tokio::time::Instant::now() + Duration::from_secs(60)).await
    });
    let thread = editor.show_stop(out).await?;

    writeln!(out, "\ncontinuing")?;
    editor.client.request("continue", json!({"threadId": thread})).await?;
    let reply = match request.await {
        Ok(reply) => reply?,
        Err(e) => return Err(DemoError::Build(format!("the scoring request task failed: {e}"))),
    };
    writeln!(out, "  POST /score -> {}: {}", reply.status, reply.body.trim())?;
    editor.disconnect().await?;
    let gone = inspect::container_info(&engine, &container).await.is_err();
    writeln!(
        out,
        "\ndisconnected; container {container} {} ({:.1}s in all)",
        if gone { "removed" } else { "is STILL THERE (remove it with `dockdap reap`)" },
        started.elapsed().as_secs_f64()
    )?;
    Ok(())
}

/// The editor's side: a DAP client on one end of an in-memory pipe, a
/// session on the other.
struct Editor {
    client: DapClient,
    session: tokio::task::JoinHandle<Result<(), crate::error::Error>>,
}

impl Editor {
    fn start(workspace: &Path) -> Editor {
        let (editor_side, adapter_side) = tokio::io::duplex(256 * 1024);
        let (session_read, session_write) = tokio::io::split(adapter_side);
        let options =
            SessionOptions { workspace: workspace.to_path_buf(), shutdown: tokio_util::sync::CancellationToken::new() };
        let session = tokio::spawn(session::run(session_read, session_write, options));
        let (client_read, client_write) = tokio::io::split(editor_side);
        let client = DapClient::new(Box::new(client_read), Box::new(client_write), Duration::from_secs(120));
        Editor { client, session }
    }

    /// `initialize`, `launch` of the example image, the breakpoint at
    /// `score:line`, `configurationDone`; the container's name and the
    /// service's host port.
    async fn launch(&mut self, workspace: &Path, score: &Path, line: i64) -> Result<(String, u64), DemoError> {
        let client = &mut self.client;
        let hello =
            json!({"clientID": "dockdap-demo", "adapterID": "dockdap", "pathFormat": "path", "linesStartAt1": true});
        client.request("initialize", hello).await?;
        let arguments = json!({"type": "dockdap", "request": "launch", "name": "demo", "image": EXAMPLE_IMAGE,
                               "localRoot": workspace, "ports": ["0:5001"], "justMyCode": true});
        let launch = client.send_request("launch", arguments).await?;
        // debugpy says `initialized` once attached; a failed launch answers first.
        let first = client
            .wait_for("initialized or the launch response", |m| {
                m.is_event("initialized") || m.request_seq() == Some(launch)
            })
            .await?;
        if first.request_seq() == Some(launch) {
            return Err(launch_failed(first.field("message").ok().flatten().unwrap_or_default()));
        }
        client.request("setBreakpoints", json!({"source": {"path": score}, "breakpoints": [{"line": line}]})).await?;
        client.request("configurationDone", json!({})).await?;
        let launched = client.wait_response(launch).await?;
        let body: Value = launched.field("body").ok().flatten().unwrap_or_default();
        if launched.request_seq().is_some() && body.get("dockdap").is_none() {
            return Err(launch_failed(launched.field("message").ok().flatten().unwrap_or_default()));
        }
        let container = body["dockdap"]["container"].as_str().unwrap_or("?").to_owned();
        let port = body["dockdap"]["ports"][0]["host"].as_u64().unwrap_or(0);
        Ok((container, port))
    }

    /// Waits for the stop and prints what the editor would show; the stopped thread.
    async fn show_stop(&mut self, out: &mut impl Write) -> Result<i64, DemoError> {
        let stopped = self.client.wait_event("stopped").await?;
        let stopped: Value = stopped.field("body").ok().flatten().unwrap_or_default();
        let thread = stopped["threadId"].as_i64().unwrap_or(0);
        let reason = stopped["reason"].as_str().unwrap_or("?");
        writeln!(out, "\nstopped ({reason}) in thread {thread}; this is what the editor shows:")?;
        let trace = self.body("stackTrace", json!({"threadId": thread, "levels": 6})).await?;
        writeln!(out, "  call stack:")?;
        let frames = trace["stackFrames"].as_array().cloned().unwrap_or_default();
        for frame in &frames {
            let path = frame["source"]["path"].as_str().unwrap_or("<no source>");
            writeln!(out, "    {:<16} {}:{}", frame["name"].as_str().unwrap_or("?"), path, frame["line"])?;
        }
        if let Some(top) = frames.first().and_then(|f| f["id"].as_i64()) {
            self.show_locals(top, out).await?;
        }
        Ok(thread)
    }

    async fn show_locals(&mut self, frame: i64, out: &mut impl Write) -> Result<(), DemoError> {
        let scopes = self.body("scopes", json!({"frameId": frame})).await?;
        let Some(locals) = scopes["scopes"][0]["variablesReference"].as_i64() else {
            return Ok(());
        };
        let vars = self.body("variables", json!({"variablesReference": locals})).await?;
        writeln!(out, "  locals:")?;
        for var in vars["variables"].as_array().into_iter().flatten() {
            let value = var["value"].as_str().unwrap_or("");
            writeln!(out, "    {} = {}", var["name"].as_str().unwrap_or("?"), shorten(value, 70))?;
        }
        Ok(())
    }

    /// A request's response body.
    async fn body(&mut self, command: &str, arguments: Value) -> Result<Value, DemoError> {
        let response = self.client.request(command, arguments).await?;
        Ok(response.field("body").ok().flatten().unwrap_or_default())
    }

    /// `disconnect`, then waits (40 s at most) for the session to clean up.
    async fn disconnect(mut self) -> Result<(), DemoError> {
        self.client.request("disconnect", json!({"terminateDebuggee": true})).await?;
        let _ = tokio::time::timeout(Duration::from_secs(40), self.session).await;
        Ok(())
    }
}

fn launch_failed(message: String) -> DemoError {
    DemoError::Session(ClientError::Failed { command: "launch".into(), message })
}

/// `value`, cut to about `max` characters with `...`.
fn shorten(value: &str, max: usize) -> String {
    if value.len() > max { format!("{}...", &value[..value.floor_char_boundary(max - 3)]) } else { value.to_owned() }
}

/// The 1-based line of the line carrying `marker`.
fn marker_line(file: &Path, marker: &str) -> Result<i64, DemoError> {
    let text = std::fs::read_to_string(file)?;
    text.lines()
        .position(|l| l.contains(marker))
        .map(|i| i as i64 + 1)
        .ok_or_else(|| DemoError::NoExample(file.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_their_cause_once() {
        let e = launch_failed("image not found".into());
        assert!(std::error::Error::source(&e).is_none(), "main prints the chain: a source would repeat it");
        assert_eq!(e.to_string(), "the debug session failed: request launch failed: image not found");
    }

    #[test]
    fn long_values_are_shortened_on_a_character_boundary() {
        assert_eq!(shorten("short", 70), "short");
        let long = "é".repeat(50);
        let cut = shorten(&long, 70);
        assert!(cut.ends_with("...") && cut.len() <= 70, "{cut}");
    }
}
