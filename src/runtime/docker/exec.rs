//! Processes in the container through `docker exec`: DAP with no port
//! published (`transport: "exec"`), the readiness waiter, one-off commands.
//!
//! dockdap runs a process in the container and speaks over its stdin and
//! stdout: debugpy's own adapter (`python -m debugpy.adapter`, for the
//! Azure ML hook, where the debuggee connects to the adapter), or a small
//! relay to the port debugpy listens on inside the container. Only someone
//! who can already talk to the Docker daemon can reach the debugger this way
//! (the approach VS Code's container tools took in 2026).
//!
//! A process is started only when the container is not paused (the engine
//! refuses, and `start` says `Paused`), and a start counts as done only once
//! the engine reports the process's pid: a `docker pause` that lands while
//! runc is still setting the process up freezes it half-started, and from
//! then on Docker hangs on every call for that container until its freezer
//! cgroup is thawed by hand (runc#2753). Such a start is `Stuck` after
//! `START_TIMEOUT` instead of a hang.

use std::io;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::StreamExt;
use tokio_util::io::StreamReader;

use super::engine::{ContainerError, Subject};
use super::handle::ContainerRef;
use crate::runtime::Link;
use crate::transport::{BoxRead, BoxWrite};

pub use crate::runtime::programs::{RELAY, WAITER};

/// How long a process may take to start before it counts as stuck.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a starting process's pid is looked for.
const START_POLL: Duration = Duration::from_millis(20);

/// A process dockdap started in the container.
#[derive(Debug)]
pub struct Process {
    /// Its stdout and stdin.
    pub link: Link,
    /// Its exec id, for its exit code.
    pub exec_id: String,
}

/// The exit code of a process, once it has exited.
/// Its output ends a moment before the engine records the exit, so a
/// process still running is asked again for a second.
pub async fn exit_code(handle: &ContainerRef, exec_id: &str) -> Option<i64> {
    for _ in 0..50 {
        let inspect = handle.engine.docker.inspect_exec(exec_id).await.ok()?;
        if !inspect.running.unwrap_or(false) {
            return inspect.exit_code;
        }
        tokio::time::sleep(START_POLL).await;
    }
    None
}

/// Why a process did not start.
#[derive(Debug)]
pub enum StartError {
    /// The container is paused: the engine refused to start anything.
    Paused,
    /// The engine did not report the process running within
    /// `START_TIMEOUT`: frozen half-started by a pause, or an engine in trouble.
    Stuck,
    /// Any other failure.
    Failed(ContainerError),
}

/// Whether an engine error says the container is paused.
fn is_paused(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 409, message } if message.contains("paused"))
}

/// Starts `cmd` in the container with `env`, attached to its stdin and
/// stdout, and waits until it runs. What it writes to stderr goes to the log.
pub async fn start(handle: &ContainerRef, cmd: Vec<String>, env: Vec<String>) -> Result<Process, StartError> {
    let docker = &handle.engine.docker;
    let error = |e| StartError::Failed(handle.engine.error(e, Subject::Container(&handle.name)));
    let options = CreateExecOptions {
        cmd: Some(cmd),
        env: Some(env),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(false),
        ..Default::default()
    };
    let exec = match docker.create_exec(&handle.id, options).await {
        Ok(exec) => exec,
        Err(e) if is_paused(&e) => return Err(StartError::Paused),
        Err(e) => return Err(error(e)),
    };
    let starting =
        docker.start_exec(&exec.id, Some(StartExecOptions { detach: false, tty: false, output_capacity: None }));
    let started = match tokio::time::timeout(START_TIMEOUT, starting).await {
        Err(_) => return Err(StartError::Stuck),
        Ok(Err(e)) if is_paused(&e) => return Err(StartError::Paused),
        Ok(Err(e)) => return Err(error(e)),
        Ok(Ok(started)) => started,
    };
    let StartExecResults::Attached { output, input } = started else {
        return Err(StartError::Failed(ContainerError::Api("docker exec did not attach to the process".into())));
    };
    confirm_started(handle, &exec.id).await?;
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
    Ok(Process { link: Link { reader, writer }, exec_id: exec.id })
}

/// Waits until the engine reports the exec's pid (it has started) or its
/// exit code (it has already ended).
async fn confirm_started(handle: &ContainerRef, exec_id: &str) -> Result<(), StartError> {
    let docker = &handle.engine.docker;
    let confirm = async {
        loop {
            match docker.inspect_exec(exec_id).await {
                Ok(inspect) if inspect.pid.is_some_and(|pid| pid > 0) || inspect.exit_code.is_some() => {
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) if is_paused(&e) => return Err(StartError::Paused),
                Err(e) => {
                    return Err(StartError::Failed(handle.engine.error(e, Subject::Container(&handle.name))));
                }
            }
            tokio::time::sleep(START_POLL).await;
        }
    };
    tokio::time::timeout(START_TIMEOUT, confirm).await.unwrap_or(Err(StartError::Stuck))
}

/// Runs `cmd` to completion and returns (exit code, stdout). A container
/// that is paused, or a start a pause froze, is an error, never a hang.
pub async fn run(handle: &ContainerRef, cmd: &[&str]) -> Result<(i64, String), ContainerError> {
    let cmd = cmd.iter().map(|s| (*s).to_owned()).collect();
    let process = match start(handle, cmd, vec!["DOCKDAP_ROLE=probe".to_owned()]).await {
        Ok(process) => process,
        Err(StartError::Paused) => {
            return Err(ContainerError::Paused {
                name: handle.name.clone(),
                during: "while dockdap was starting a process in it".into(),
            });
        }
        Err(StartError::Stuck) => {
            return Err(ContainerError::Frozen { name: handle.name.clone(), id: handle.id.clone() });
        }
        Err(StartError::Failed(e)) => return Err(e),
    };
    Ok(finish(handle, process).await)
}

/// Closes a process's stdin, reads its stdout to the end, and returns
/// (exit code, stdout); -1 when the engine does not say.
pub async fn finish(handle: &ContainerRef, process: Process) -> (i64, String) {
    let Process { link: Link { mut reader, writer }, exec_id } = process;
    drop(writer);
    let mut out = Vec::new();
    if let Err(e) = tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut out).await {
        tracing::debug!(error = %e, "reading an exec'd command's output");
    }
    (exit_code(handle, &exec_id).await.unwrap_or(-1), String::from_utf8_lossy(&out).into_owned())
}

/// The error for an image without Python.
pub fn no_python(name: &str) -> ContainerError {
    ContainerError::Unusable(format!(
        "no Python found in container {name} (tried python3 and python on its PATH); debugging needs the image's Python interpreter: use an image with Python, or a `command` that starts the app with Python"
    ))
}
