//! Watching a debug container while a session runs: its output (streamed to
//! the session and kept in the tail), its exit (`wait`), and its state
//! changes from the engine's event stream (paused, resumed, out of memory).
//!
//! Output is attached *before* a launched container starts (create, attach,
//! start), so nothing it prints in its first second is lost, and a container
//! that dies at once still leaves its traceback behind.
//!
//! Every watcher runs on the container's `Tasks`: `Runtime::end` and the
//! session's end stop them, also for a joined container that keeps running.

use std::collections::HashMap;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::query_parameters::{EventsOptions, LogsOptions, WaitContainerOptions};
use futures_util::{Stream, StreamExt};
use tokio::sync::watch;

use super::engine::Engine;
use crate::console::{Category, Event, EventSender};
use crate::runtime::tail::LogTail;
use crate::tasks::Tasks;

/// What the watchers keep up to date.
#[derive(Debug)]
pub(super) struct Watched {
    /// The exit code, once the container exits.
    pub exit: watch::Receiver<Option<i64>>,
    /// Whether the container is paused.
    pub paused: watch::Receiver<bool>,
    /// Sets `paused` from an inspect (the event stream only tells changes).
    pub set_paused: watch::Sender<bool>,
}

/// Starts the exit and state watchers for container `id`.
pub(super) fn start(
    engine: &Engine,
    id: &str,
    name: &str,
    tail: &LogTail,
    events: &EventSender,
    tasks: &Tasks,
) -> Watched {
    let (exit_tx, exit) = watch::channel(None);
    let (set_paused, paused) = watch::channel(false);
    tasks.spawn(wait_exit(engine.clone(), id.to_owned(), tail.clone(), events.clone(), exit_tx));
    tasks.spawn(watch_state(engine.clone(), id.to_owned(), name.to_owned(), events.clone(), set_paused.clone()));
    Watched { exit, paused, set_paused }
}

/// Forwards a container output stream to the session and the tail until it ends.
pub(super) async fn pump<S>(mut output: S, events: EventSender, tail: LogTail)
where
    S: Stream<Item = Result<LogOutput, bollard::errors::Error>> + Unpin,
{
    while let Some(item) = output.next().await {
        let (category, bytes) = match item {
            Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => (Category::Stdout, message),
            Ok(LogOutput::StdErr { message }) => (Category::Stderr, message),
            Ok(LogOutput::StdIn { .. }) => continue,
            Err(e) => {
                tracing::debug!(error = %e, "container output stream ended");
                break;
            }
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        tail.push(&text);
        events.output(category, text);
    }
}

/// Tells the user when the container is paused, resumed or runs out of
/// memory (a paused container's debugpy cannot answer, and without a word
/// the editor would just seem to hang), and keeps `paused` up to date so
/// that no process is started in a paused container.
async fn watch_state(engine: Engine, id: String, name: String, events: EventSender, paused: watch::Sender<bool>) {
    let filters =
        HashMap::from([("container".to_owned(), vec![id]), ("type".to_owned(), vec!["container".to_owned()])]);
    let mut stream = engine.docker.events(Some(EventsOptions { filters: Some(filters), ..Default::default() }));
    while let Some(Ok(event)) = stream.next().await {
        let text = match event.action.as_deref() {
            Some("pause") => {
                paused.send_replace(true);
                format!(
                    "[dockdap] container {name} was paused: debugpy cannot answer until it is resumed (`docker unpause {name}`)\n"
                )
            }
            Some("unpause") => {
                paused.send_replace(false);
                format!("[dockdap] container {name} was resumed\n")
            }
            Some("oom") => format!("[dockdap] container {name} ran out of memory (raise its memory limit)\n"),
            // Podman's compatible API says "died" where Docker says "die".
            Some("die" | "died" | "destroy" | "remove") => return,
            _ => continue,
        };
        events.output(Category::Console, text);
    }
}

/// Waits for the container's exit; the code lands in `exit`, and the
/// session hears of it as an `Event::Exited`.
async fn wait_exit(engine: Engine, id: String, tail: LogTail, events: EventSender, exit: watch::Sender<Option<i64>>) {
    // "next-exit": a container that is created but not yet started counts
    // as not running, and the default condition would return at once.
    let options = WaitContainerOptions { condition: "next-exit".into() };
    let mut wait = engine.docker.wait_container(&id, Some(options));
    tracing::debug!("watching for the container's exit");
    let code = match wait.next().await {
        Some(Ok(response)) => response.status_code,
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
        Some(Err(e)) => {
            tracing::debug!(error = %e, "stopped watching the container");
            return;
        }
        None => return,
    };
    tracing::debug!(code, "the container exited");
    // Give the output pump a moment to take in the last lines.
    tokio::time::sleep(Duration::from_millis(200)).await;
    exit.send_replace(Some(code));
    events.send(Event::Exited { code, diagnosis: super::container::exit_report(code, &tail) }).await;
}

/// What a running container prints from now on.
pub(super) fn follow_logs(
    engine: &Engine,
    id: &str,
) -> impl Stream<Item = Result<LogOutput, bollard::errors::Error>> + Unpin + Send + 'static {
    let options = LogsOptions { follow: true, stdout: true, stderr: true, tail: "0".into(), ..Default::default() };
    Box::pin(engine.docker.logs(id, Some(options)))
}
