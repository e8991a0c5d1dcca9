//! Sync's watcher across the container's runs. A container restarted in
//! place (`dockdap/reload` of an app without a pre-forking server, the
//! user's `docker restart`) ends every process dockdap ran in it, the
//! watcher among them; the worker then polls, as when the watcher ends for
//! any other reason, until the runtime says a new run began (`Remote::runs`),
//! and then starts the watcher again and reads the change list once, for
//! what changed while none ran. Where the runtime does not follow restarts
//! nothing changes.

use tokio::sync::{mpsc, watch as channel};

use super::{Remote, SyncSetup, WatchEvent, Worker, start_container_watcher};
use crate::console::{Category, Event};

/// What the container side has for the worker.
pub(super) enum ContainerInput {
    /// The watcher's next event; `None` once it ended.
    Event(Option<WatchEvent>),
    /// The container began a new run.
    NewRun,
}

/// The watcher's next event while it runs; else (when the worker watches
/// the container at all) the container's next run; else never.
pub(super) async fn container_input(
    events: &mut Option<mpsc::Receiver<WatchEvent>>,
    runs: &mut Option<channel::Receiver<u64>>,
    polling: bool,
) -> ContainerInput {
    if let Some(events) = events {
        return ContainerInput::Event(events.recv().await);
    }
    if let Some(runs) = runs.as_mut().filter(|_| polling)
        && runs.changed().await.is_ok()
    {
        return ContainerInput::NewRun;
    }
    // No runs to follow, or the runtime is gone.
    std::future::pending().await
}

impl<R: Remote> Worker<R> {
    /// Takes what the container side has.
    pub(super) async fn on_container(&mut self, input: ContainerInput, setup: &SyncSetup) {
        match input {
            ContainerInput::Event(event) => self.on_watched(event).await,
            ContainerInput::NewRun => self.watch_again(setup).await,
        }
    }

    /// The container began a new run: its watcher starts again, and the
    /// change list is read for what changed while none ran.
    async fn watch_again(&mut self, setup: &SyncSetup) {
        let remote = self.engine.remote().clone();
        let Some(running) = start_container_watcher(&remote, setup, &self.events, &self.tasks).await else { return };
        self.engine.set_watcher(Some(running.control));
        self.container_events = Some(running.events);
        let text = format!("[dockdap] the container runs again: watching {} in it again\n", setup.app_root);
        self.events.send(Event::Output { category: Category::Console, text }).await;
        if self.listing.is_none() {
            self.start_listing();
        }
    }
}
