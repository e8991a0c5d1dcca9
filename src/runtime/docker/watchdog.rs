//! An out-of-process safety net: removes a session's container when the
//! dockdap process that owns it dies without cleaning up (SIGKILL, a crash).
//!
//! Every session start also reaps containers of dead owners, but that waits
//! for the next session. The watchdog is the Ryuk model: a tiny detached
//! process (`dockdap watchdog --owner PID --container ID`) that watches the
//! owner's pid and removes the container within about a second of its
//! death. It exits as soon as the container is gone, and it only removes a
//! container whose `dockdap.pid` label still names the dead owner.
//!
//! How it sees the owner die: on Linux, `/proc/PID` disappearing. Elsewhere
//! (macOS, Windows: no `/proc`) the owner gives it a pipe as stdin and never
//! writes to it; when the owner dies, however it dies, the system closes its
//! end and the watchdog reads end-of-file (`--pipe`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bollard::query_parameters::{InspectContainerOptions, RemoveContainerOptions};
use tokio::io::AsyncReadExt as _;

use super::compose::LABEL_PROJECT;
use super::engine::{ContainerError, Engine};
use super::reap::remove_project_networks;
use crate::runtime::labels::LABEL_PID;

/// How often the owner's pid is checked.
const OWNER_POLL: Duration = Duration::from_millis(250);
/// How often the container's existence is checked.
const CONTAINER_POLL: Duration = Duration::from_secs(5);
/// How long one inspect may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one removal may take.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait between tries.
const RETRY: Duration = Duration::from_secs(2);
/// How long the watchdog tries before it leaves the container to `dockdap reap`.
const GIVE_UP: Duration = Duration::from_secs(3600);

/// Whether the owner hands the watchdog a pipe to watch (no `/proc`).
const PIPE: bool = !cfg!(target_os = "linux");

/// The watchdogs started with a pipe, kept (and with them the pipe's
/// writing end) until they have exited.
static PIPED: Mutex<Vec<tokio::process::Child>> = Mutex::new(Vec::new());

/// Starts a detached watchdog for `container`, owned by this process. It
/// is not waited for: it outlives this process if it must, and tokio reaps
/// it when it ends first (a long-lived `--listen` keeps no zombies).
pub fn spawn(container: &str) {
    let Ok(exe) = std::env::current_exe() else {
        tracing::warn!("cannot find dockdap's own executable; no watchdog for {container}");
        return;
    };
    let mut command = tokio::process::Command::new(exe);
    command
        .args(["watchdog", "--owner", &std::process::id().to_string(), "--container", container])
        .stdin(if PIPE { std::process::Stdio::piped() } else { std::process::Stdio::null() })
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if PIPE {
        command.arg("--pipe");
    }
    detach(&mut command);
    match command.spawn() {
        Ok(child) => {
            tracing::debug!(pid = child.id(), container, "watchdog started");
            if PIPE {
                let mut piped = PIPED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                piped.retain_mut(|w| matches!(w.try_wait(), Ok(None)));
                piped.push(child);
            }
        }
        Err(e) => tracing::warn!(error = %e, container, "could not start the watchdog"),
    }
}

/// Its own process group (and on Windows no console): a Ctrl-C, a closed
/// console or a SIGKILL of the editor's process group must not take the
/// watchdog with it.
fn detach(command: &mut tokio::process::Command) {
    #[cfg(unix)]
    command.process_group(0);
    #[cfg(windows)]
    {
        const DETACHED_PROCESS: u32 = 0x0000_0008;
        const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
        command.creation_flags(DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP);
    }
    #[cfg(not(any(unix, windows)))]
    let _ = command;
}

/// The watchdog's loop; returns when the container is gone or removed.
/// `pipe`: the owner's death is the end of stdin, not `/proc/PID`.
pub async fn run(owner: u32, container: &str, pipe: bool) -> Result<(), ContainerError> {
    let proc_owner = Path::new("/proc").join(owner.to_string());
    if !pipe && !Path::new("/proc/self").exists() {
        return Err(ContainerError::Unusable("the watchdog needs /proc or --pipe to watch its owner".into()));
    }
    let engine = Engine::connect().await?;
    let mut owner_gone = std::pin::pin!(async {
        if pipe {
            end_of_input(tokio::io::stdin()).await;
        } else {
            while proc_owner.exists() {
                tokio::time::sleep(OWNER_POLL).await;
            }
        }
    });
    let mut last_check = Instant::now();
    loop {
        tokio::select! {
            () = &mut owner_gone => return remove_if_owned(&engine, owner, container).await,
            () = tokio::time::sleep(OWNER_POLL) => {}
        }
        if last_check.elapsed() >= CONTAINER_POLL {
            last_check = Instant::now();
            // Only a 404 means gone; the engine may be away, or slow to
            // answer for this container, for a while.
            if let Ok(Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })) =
                tokio::time::timeout(CALL_TIMEOUT, inspect(&engine, container)).await
            {
                return Ok(());
            }
        }
    }
}

/// Returns at the end of `input` (or when it fails): the writer is gone.
async fn end_of_input(mut input: impl tokio::io::AsyncRead + Unpin) {
    let mut buf = [0u8; 64];
    while let Ok(n) = input.read(&mut buf).await {
        if n == 0 {
            return;
        }
    }
}

async fn inspect(
    engine: &Engine,
    container: &str,
) -> Result<bollard::models::ContainerInspectResponse, bollard::errors::Error> {
    engine.docker.inspect_container(container, None::<InspectContainerOptions>).await
}

/// Removes the container if the dead owner's label is still on it. Docker
/// may not answer for a while (the engine restarting, or a container whose
/// process a pause froze, runc#2753, until someone thaws it): every call
/// has a timeout, and the watchdog keeps trying until `GIVE_UP`.
async fn remove_if_owned(engine: &Engine, owner: u32, container: &str) -> Result<(), ContainerError> {
    let give_up = Instant::now() + GIVE_UP;
    loop {
        match tokio::time::timeout(CALL_TIMEOUT, inspect(engine, container)).await {
            Ok(Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })) => return Ok(()),
            Ok(Ok(inspect)) => {
                let labels: HashMap<String, String> = inspect.config.and_then(|c| c.labels).unwrap_or_default();
                if labels.get(LABEL_PID) != Some(&owner.to_string()) {
                    return Ok(());
                }
                let options = RemoveContainerOptions { force: true, v: true, ..Default::default() };
                let removing = engine.docker.remove_container(container, Some(options));
                match tokio::time::timeout(REMOVE_TIMEOUT, removing).await {
                    Ok(Ok(()))
                    | Ok(Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })) => {
                        // A Compose project's networks go with its last container.
                        if let Some(project) = labels.get(LABEL_PROJECT) {
                            let _ = tokio::time::timeout(CALL_TIMEOUT, remove_project_networks(engine, project)).await;
                        }
                        return Ok(());
                    }
                    Ok(Err(e)) => tracing::debug!(error = %e, "removing failed; trying again"),
                    Err(_) => tracing::debug!("removing took too long; trying again"),
                }
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "inspect failed; trying again"),
            Err(_) => tracing::debug!("the engine does not answer for the container; trying again"),
        }
        if Instant::now() >= give_up {
            return Err(ContainerError::Api(format!(
                "the watchdog gave up removing {container} after {}s; `dockdap reap` removes it",
                GIVE_UP.as_secs()
            )));
        }
        tokio::time::sleep(RETRY).await;
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_pipe_ends_when_its_writer_is_dropped() {
        let (writer, reader) = tokio::io::duplex(64);
        let watching = tokio::spawn(end_of_input(reader));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!watching.is_finished(), "the owner still holds its end");
        drop(writer);
        tokio::time::timeout(Duration::from_secs(5), watching).await.unwrap().unwrap();
    }
}
