//! Tasks with an owner: every task a session starts (directly, or through
//! its runtime and its sync worker) is spawned here, stops when its owner's
//! `CancellationToken` is cancelled, and is awaited by the owner's shutdown.
//!
//! After tokio's `graceful-shutdown` example: a `TaskTracker` to wait on and
//! a `CancellationToken` to stop with, kept together so that nobody spawns a
//! task that nothing stops. This module knows nothing of what the tasks do.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Where an owner's tasks run: one tracker, one stop signal.
#[derive(Debug, Clone)]
pub struct Tasks {
    tracker: TaskTracker,
    stop: CancellationToken,
}

impl Tasks {
    /// Tasks that stop when `stop` is cancelled.
    pub fn new(stop: CancellationToken) -> Tasks {
        Tasks { tracker: TaskTracker::new(), stop }
    }

    /// The same tracker, stopped by a child of this stop signal: tasks that
    /// end earlier than their owner (cancel the child), and are still
    /// awaited and stopped with it.
    pub fn child(&self) -> Tasks {
        Tasks { tracker: self.tracker.clone(), stop: self.stop.child_token() }
    }

    /// The stop signal.
    pub fn stop_token(&self) -> &CancellationToken {
        &self.stop
    }

    /// Stops every task (they end at their next await).
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Runs `task` until it ends or the owner stops.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let stop = self.stop.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = task => {}
            }
        });
    }

    /// Runs `task` to its end even after the owner stops (a task that must
    /// finish what it started, such as reporting a start's result); it is
    /// still awaited by `wait`.
    pub fn spawn_unstoppable<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task);
    }

    /// How many tasks are running.
    pub fn len(&self) -> usize {
        self.tracker.len()
    }

    /// Whether no task is running.
    pub fn is_empty(&self) -> bool {
        self.tracker.is_empty()
    }

    /// Stops every task and waits for them, at most `within`; `false` if
    /// some were still running then.
    pub async fn shutdown(&self, within: Duration) -> bool {
        self.stop.cancel();
        self.tracker.close();
        tokio::time::timeout(within, self.tracker.wait()).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stopping_the_owner_ends_its_tasks_and_children() {
        let tasks = Tasks::new(CancellationToken::new());
        let child = tasks.child();
        tasks.spawn(std::future::pending());
        child.spawn(std::future::pending());
        assert_eq!(tasks.len(), 2);
        child.stop();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(tasks.len(), 1, "a child's stop ends only its tasks");
        assert!(tasks.shutdown(Duration::from_secs(1)).await);
        assert!(tasks.is_empty());
    }
}
