//! `transport: "exec"`: DAP through the Docker API, with no port published.
//!
//! dockdap runs a process in the container with `docker exec` and speaks DAP
//! over its stdin/stdout: either debugpy's own adapter (`python -m
//! debugpy.adapter`, for the Azure ML hook, where the debuggee connects to
//! the adapter), or a small relay to the port debugpy listens on inside the
//! container. Only someone who can already talk to the Docker daemon can
//! reach the debugger this way (the approach VS Code's container tools took
//! in 2026).

use std::io;

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::StreamExt;
use tokio_util::io::StreamReader;

use super::engine::{ContainerError, Engine, Subject};
use crate::transport::{BoxRead, BoxWrite};

/// Copies between stdin/stdout and a TCP port inside the container.
/// `os.read`/`os.write` avoid Python's buffering; TCP_NODELAY keeps
/// request round trips from waiting on Nagle's algorithm.
pub const RELAY: &str = r#"
import os, socket, sys, threading
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def to_port():
    while True:
        b = os.read(0, 65536)
        if not b:
            s.shutdown(socket.SHUT_WR)
            return
        s.sendall(b)
threading.Thread(target=to_port, daemon=True).start()
while True:
    b = s.recv(65536)
    if not b:
        break
    os.write(1, b)
"#;

/// Starts `cmd` in the container with `env` and returns its stdout (as a
/// byte stream) and stdin. What it writes to stderr goes to the log.
pub async fn stream(
    engine: &Engine,
    container: &str,
    cmd: Vec<String>,
    env: Vec<String>,
) -> Result<(BoxRead, BoxWrite), ContainerError> {
    let docker = &engine.docker;
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(cmd),
                env: Some(env),
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(false),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| engine.error(e, Subject::Container(container)))?;
    let started = docker
        .start_exec(&exec.id, Some(StartExecOptions { detach: false, tty: false, output_capacity: None }))
        .await
        .map_err(|e| engine.error(e, Subject::Container(container)))?;
    let StartExecResults::Attached { output, input } = started else {
        return Err(ContainerError::Api("docker exec did not attach to the process".into()));
    };
    let stdout = output.filter_map(|item| async move {
        match item {
            Ok(LogOutput::StdOut { message }) => Some(Ok(message)),
            Ok(LogOutput::StdErr { message }) => {
                tracing::debug!(stderr = %String::from_utf8_lossy(&message).trim_end(), "exec'd process");
                None
            }
            Ok(_) => None,
            Err(e) => Some(Err(io::Error::other(e))),
        }
    });
    let reader: BoxRead = Box::new(StreamReader::new(Box::pin(stdout)));
    let writer: BoxWrite = Box::new(input);
    Ok((reader, writer))
}

/// Runs `cmd` to completion and returns (exit code, stdout).
pub async fn run(engine: &Engine, container: &str, cmd: &[&str]) -> Result<(i64, String), ContainerError> {
    let docker = &engine.docker;
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(cmd.iter().map(|s| (*s).to_owned()).collect()),
                env: Some(vec!["DOCKDAP_ROLE=probe".to_owned()]),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| engine.error(e, Subject::Container(container)))?;
    let started =
        docker.start_exec(&exec.id, None).await.map_err(|e| engine.error(e, Subject::Container(container)))?;
    let mut text = String::new();
    if let StartExecResults::Attached { mut output, .. } = started {
        while let Some(Ok(chunk)) = output.next().await {
            if let LogOutput::StdOut { message } = chunk {
                text.push_str(&String::from_utf8_lossy(&message));
            }
        }
    }
    let inspect = docker.inspect_exec(&exec.id).await.map_err(|e| engine.error(e, Subject::Container(container)))?;
    Ok((inspect.exit_code.unwrap_or(-1), text))
}

/// The container's Python interpreter: the first of `python3`, `python`
/// that runs.
pub async fn find_python(engine: &Engine, container: &str, name: &str) -> Result<String, ContainerError> {
    for python in ["python3", "python"] {
        if let Ok((0, _)) = run(engine, container, &[python, "-c", "pass"]).await {
            return Ok(python.to_owned());
        }
    }
    Err(ContainerError::Unusable(format!(
        "no Python found in container {name} (tried python3 and python on its PATH); debugging needs the image's Python interpreter: use an image with Python, or a `command` that starts the app with Python"
    )))
}
