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
//!
//! A container that starts again after an exit (`docker restart`, a
//! restart policy, dockdap's own restart in place, `restart.rs`) is
//! followed into its new run: its exit is taken back (`exit` goes back to
//! `None`, and is not reported at all when the new run began first or
//! dockdap restarted it), its output is followed from the new run's start,
//! its published ports are read again (a port published on any free host
//! port gets a new one), and `runs` counts it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::query_parameters::{EventsOptions, LogsOptions, WaitContainerOptions};
use futures_util::{Stream, StreamExt};
use tokio::sync::watch;

use super::engine::Engine;
use crate::console::{Category, Event, EventSender};
use crate::runtime::tail::LogTail;
use crate::tasks::Tasks;

/// The published `(container, host)` ports read after the last restart;
/// `None` while they are those of the start.
pub(super) type Republished = Arc<Mutex<Option<Vec<(u16, u16)>>>>;

/// What the watchers keep up to date.
#[derive(Debug)]
pub(super) struct Watched {
    /// The exit code, once the container exits.
    pub exit: watch::Receiver<Option<i64>>,
    /// Whether the container is paused.
    pub paused: watch::Receiver<bool>,
    /// Sets `paused` from an inspect (the event stream only tells changes).
    pub set_paused: watch::Sender<bool>,
    /// How many times the container started again after an exit.
    pub runs: watch::Receiver<u64>,
    /// Set while dockdap restarts the container itself: the exit on the
    /// way is not reported.
    pub restarting: Arc<AtomicBool>,
    /// The ports after the last restart.
    pub republished: Republished,
}

/// What the watchers of one container share.
#[derive(Debug, Clone)]
struct Follow {
    engine: Engine,
    id: String,
    name: String,
    tail: LogTail,
    events: EventSender,
    tasks: Tasks,
    exit: watch::Sender<Option<i64>>,
    runs: watch::Sender<u64>,
    restarting: Arc<AtomicBool>,
    republished: Republished,
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
    let (runs_tx, runs) = watch::channel(0);
    let follow = Follow {
        engine: engine.clone(),
        id: id.to_owned(),
        name: name.to_owned(),
        tail: tail.clone(),
        events: events.clone(),
        tasks: tasks.clone(),
        exit: exit_tx,
        runs: runs_tx,
        restarting: Arc::default(),
        republished: Arc::default(),
    };
    let (restarting, republished) = (follow.restarting.clone(), follow.republished.clone());
    tasks.spawn(wait_exit(follow.clone()));
    tasks.spawn(watch_state(follow, set_paused.clone()));
    Watched { exit, paused, set_paused, runs, restarting, republished }
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
/// that no process is started in a paused container. A start after a
/// death is a restart: see `restarted`.
async fn watch_state(follow: Follow, paused: watch::Sender<bool>) {
    let filters = HashMap::from([
        ("container".to_owned(), vec![follow.id.clone()]),
        ("type".to_owned(), vec!["container".to_owned()]),
    ]);
    let mut stream = follow.engine.docker.events(Some(EventsOptions { filters: Some(filters), ..Default::default() }));
    let name = &follow.name;
    let mut died = false;
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
            Some("die" | "died") => {
                died = true;
                continue;
            }
            Some("start") if died => {
                died = false;
                paused.send_replace(false);
                restarted(&follow, event.time.unwrap_or_default()).await;
                continue;
            }
            Some("destroy" | "remove") => return,
            _ => continue,
        };
        follow.events.output(Category::Console, text);
    }
}

/// The container started again after an exit (at `since`, in seconds):
/// its output is followed from the new run's start, its ports read again,
/// its exit taken back, and the run counted; said on the console unless
/// dockdap restarted it itself.
async fn restarted(follow: &Follow, since: i64) {
    // Read first: dockdap's restart ends when `runs` moves.
    let ours = follow.restarting.load(Ordering::SeqCst);
    let inspect = match super::handle::ContainerRef::new(follow.engine.clone(), follow.id.clone(), follow.name.clone())
        .inspect()
        .await
    {
        Ok(inspect) => inspect,
        Err(e) => {
            tracing::debug!(error = %e, "could not inspect the restarted container");
            super::handle::Inspected::default()
        }
    };
    let output = follow_logs_since(&follow.engine, &follow.id, since, inspect.started_at.clone());
    follow.tasks.spawn(pump(output, follow.events.clone(), follow.tail.clone()));
    if let Ok(mut republished) = follow.republished.lock() {
        *republished = Some(inspect.ports);
    }
    follow.exit.send_replace(None);
    follow.runs.send_modify(|n| *n += 1);
    tracing::info!(name = %follow.name, run = *follow.runs.borrow(), "the container started again");
    if !ours {
        follow.events.console(format!(
            "[dockdap] container {} was restarted (`docker restart`, or its restart policy): its processes started again, its files are kept",
            follow.name
        ));
    }
}

/// Waits for the container's exit; the code lands in `exit`, and the
/// session hears of it as an `Event::Exited`, unless the container is on
/// its way to a new run (dockdap restarts it, or it started again
/// already). Then waits for the next run, and its exit.
async fn wait_exit(follow: Follow) {
    let mut runs = follow.runs.subscribe();
    loop {
        let armed = *runs.borrow_and_update();
        // "next-exit": a container that is created but not yet started counts
        // as not running, and the default condition would return at once.
        let options = WaitContainerOptions { condition: "next-exit".into() };
        let mut wait = follow.engine.docker.wait_container(&follow.id, Some(options));
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
        if follow.restarting.load(Ordering::SeqCst) || *runs.borrow() != armed {
            tracing::debug!(code, "the container exited on its way to a restart");
        } else {
            follow.exit.send_replace(Some(code));
            let diagnosis = super::container::exit_report(code, &follow.tail);
            follow.events.send(Event::Exited { code, diagnosis }).await;
        }
        // One exit per run: the next wait is for the next run's.
        if runs.wait_for(|n| *n != armed).await.is_err() {
            return;
        }
    }
}

/// What a running container prints from now on.
pub(super) fn follow_logs(
    engine: &Engine,
    id: &str,
) -> impl Stream<Item = Result<LogOutput, bollard::errors::Error>> + Unpin + Send + 'static {
    let options = LogsOptions { follow: true, stdout: true, stderr: true, tail: "0".into(), ..Default::default() };
    Box::pin(engine.docker.logs(id, Some(options)))
}

/// What a restarted container prints from its new start on (`since`, in
/// seconds; the lines of that second before `started_at`, the old run's
/// last ones, are dropped).
fn follow_logs_since(
    engine: &Engine,
    id: &str,
    since: i64,
    started_at: String,
) -> impl Stream<Item = Result<LogOutput, bollard::errors::Error>> + Unpin + Send + 'static {
    let options = LogsOptions {
        follow: true,
        stdout: true,
        stderr: true,
        since: i32::try_from(since).unwrap_or(0),
        timestamps: true,
        ..Default::default()
    };
    let start = comparable_time(&started_at);
    Box::pin(engine.docker.logs(id, Some(options)).filter_map(move |item| {
        let item = match item {
            Ok(LogOutput::StdOut { message }) => {
                after(&start, message).map(|message| Ok(LogOutput::StdOut { message }))
            }
            Ok(LogOutput::StdErr { message }) => {
                after(&start, message).map(|message| Ok(LogOutput::StdErr { message }))
            }
            Ok(LogOutput::Console { message }) => {
                after(&start, message).map(|message| Ok(LogOutput::Console { message }))
            }
            other => Some(other),
        };
        std::future::ready(item)
    }))
}

/// A log line (`TIMESTAMP text`) without its timestamp, or `None` when it
/// was printed before `start`. Podman writes whole seconds: such a line is
/// kept (the logs' `since` already dropped the seconds before).
fn after(start: &Option<String>, line: bytes::Bytes) -> Option<bytes::Bytes> {
    let space = line.iter().position(|b| *b == b' ')?;
    let stamp = std::str::from_utf8(&line[..space]).ok().filter(|s| s.contains('.')).and_then(comparable_time);
    if let (Some(start), Some(stamp)) = (start, stamp)
        && stamp < *start
    {
        return None;
    }
    Some(line.slice(space + 1..))
}

/// An RFC 3339 UTC time with its fraction padded to nine digits, so that
/// two compare as strings (the engine trims trailing zeros); `None` for
/// other forms (an offset instead of `Z`).
fn comparable_time(time: &str) -> Option<String> {
    let time = time.strip_suffix('Z')?;
    let (seconds, fraction) = time.split_once('.').unwrap_or((time, ""));
    if seconds.len() != 19 || fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(format!("{seconds}.{fraction:0<9}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_the_old_run_are_dropped() {
        let start = comparable_time("2026-12-02T00:40:00.5Z");
        assert_eq!(start.as_deref(), Some("2026-12-02T00:40:00.500000000"));
        let line = |s: &str| bytes::Bytes::from(s.to_owned());
        assert_eq!(after(&start, line("2026-12-02T00:40:00.49Z old\n")), None);
        assert_eq!(after(&start, line("2026-12-02T00:40:00.500000001Z new\n")), Some(line("new\n")));
        assert_eq!(after(&start, line("2026-12-02T00:40:01Z later\n")), Some(line("later\n")));
        // Unreadable times keep the line (without its first word), and so do
        // Podman's whole seconds.
        assert_eq!(after(&None, line("2026-12-02T00:40:00+01:00 x\n")), Some(line("x\n")));
        assert_eq!(after(&start, line("2026-12-02T00:40:00Z podman\n")), Some(line("podman\n")));
        assert_eq!(comparable_time("2026-12-02T00:40:00+01:00"), None);
    }
}
