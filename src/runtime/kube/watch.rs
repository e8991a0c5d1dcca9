//! Watching the pod's container while a session runs: its output (the
//! container log, followed from now on, into the debug console and the
//! tail) and its end (the container exits or restarts, or the pod goes).
//!
//! The end is read by polling the pod once a second rather than a watch:
//! one `get` works through every proxy and RBAC that allows the session at
//! all, and a second is well within what a user notices of an exit.

use std::time::Duration;

use futures_util::AsyncBufReadExt;
use futures_util::StreamExt;
use kube::api::LogParams;
use tokio::sync::watch;

use super::exec::PodRef;
use super::pod;
use crate::console::{Category, Event, EventSender};
use crate::runtime::diagnose;
use crate::runtime::tail::LogTail;
use crate::tasks::Tasks;

/// How often the pod is read for the container's end.
const POLL: Duration = Duration::from_secs(1);

/// Streams the container's log from now on into the session and `tail`,
/// and watches for its end; the exit code lands in the returned watch.
pub(crate) fn start(pod: &PodRef, tail: &LogTail, events: &EventSender, tasks: &Tasks) -> watch::Receiver<Option<i64>> {
    start_from(pod, tail, events, tasks, false)
}

/// `start`, with the log from the container's start (`from_start`: a debug
/// copy dockdap started, whose first lines matter) or from now.
pub(crate) fn start_from(
    pod: &PodRef,
    tail: &LogTail,
    events: &EventSender,
    tasks: &Tasks,
    from_start: bool,
) -> watch::Receiver<Option<i64>> {
    let (exit_tx, exit) = watch::channel(None);
    tasks.spawn(follow_logs(pod.clone(), tail.clone(), events.clone(), from_start));
    tasks.spawn(wait_exit(pod.clone(), tail.clone(), events.clone(), exit_tx));
    exit
}

async fn follow_logs(pod: PodRef, tail: LogTail, events: EventSender, from_start: bool) {
    let params = LogParams {
        container: Some(pod.container.clone()),
        follow: true,
        tail_lines: (!from_start).then_some(0),
        ..Default::default()
    };
    let stream = match pod.api.log_stream(&pod.pod, &params).await {
        Ok(stream) => stream,
        Err(e) => {
            events.console(format!(
                "[dockdap] cannot follow the log of {} ({e}); its output is not shown\n",
                pod.describe()
            ));
            return;
        }
    };
    let mut lines = Box::pin(stream.lines());
    while let Some(Ok(line)) = lines.next().await {
        let text = format!("{line}\n");
        tail.push(&text);
        events.output(Category::Stdout, text);
    }
    tracing::debug!(pod = %pod.pod, "the container log ended");
}

async fn wait_exit(pod: PodRef, tail: LogTail, events: EventSender, exit: watch::Sender<Option<i64>>) {
    let mut restarts = None;
    loop {
        tokio::time::sleep(POLL).await;
        let code = match pod.api.get_opt(&pod.pod).await {
            Ok(Some(found)) => {
                let Some(status) = pod::status(&found, &pod.container) else { continue };
                let before = *restarts.get_or_insert(status.restart_count);
                let state = status.state.as_ref();
                if let Some(done) = state.and_then(|s| s.terminated.as_ref()) {
                    i64::from(done.exit_code)
                } else if status.restart_count > before {
                    let last = status.last_state.as_ref().and_then(|s| s.terminated.as_ref());
                    last.map_or(-1, |t| i64::from(t.exit_code))
                } else {
                    continue;
                }
            }
            Ok(None) => -1,
            Err(e) => {
                tracing::debug!(error = %e, "reading the pod for its end");
                continue;
            }
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        exit.send_replace(Some(code));
        events.send(Event::Exited { code, diagnosis: exit_report(&pod, code, &tail) }).await;
        return;
    }
}

/// What the debug console says when the container ends.
pub(crate) fn exit_report(pod: &PodRef, code: i64, tail: &LogTail) -> String {
    let what = if code < 0 { "went away (the pod was deleted)".to_owned() } else { format!("exited with code {code}") };
    format!("[dockdap] {} {what}\n{}", pod.describe(), diagnose::diagnose(code, &tail.last(20)))
}
