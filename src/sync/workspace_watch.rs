//! Watching the workspace for edits (the `notify` crate): the watcher a
//! sync worker starts when `toContainer` is `auto`, and the files of a folder
//! that appeared before the watcher saw it.

use std::path::PathBuf;

use tokio::sync::mpsc;

use super::worker::SyncSetup;
use crate::console::{Category, Event, EventSender};

/// Watches the workspace when saves are to be copied at once; says so in
/// the debug console when it cannot.
pub(super) async fn start_watcher(
    setup: &SyncSetup,
    paths: mpsc::UnboundedSender<PathBuf>,
    events: &EventSender,
) -> Option<notify::RecommendedWatcher> {
    if !(setup.watch_workspace && setup.directions.to_container) {
        return None;
    }
    match watch(&setup.workspace, paths) {
        Ok(watcher) => Some(watcher),
        Err(e) => {
            let text = format!(
                "[dockdap] cannot watch {} for edits ({e}); workspace edits reach the container on `dockdap/sync` only\n",
                setup.workspace.display()
            );
            events.send(Event::Output { category: Category::Console, text }).await;
            None
        }
    }
}

/// Watches `root` recursively; every path an event names goes to `tx`.
fn watch(root: &std::path::Path, tx: mpsc::UnboundedSender<PathBuf>) -> notify::Result<notify::RecommendedWatcher> {
    use notify::{EventKind, RecursiveMode, Watcher as _};
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, EventKind::Access(_) | EventKind::Other) {
            return;
        }
        for path in event.paths {
            let _ = tx.send(path);
        }
    })?;
    watcher.watch(root, RecursiveMode::Recursive)?;
    Ok(watcher)
}

/// Regular files below `dir`, at most `most`, never through a symlink.
pub(super) fn files_below(dir: &std::path::Path, most: usize) -> Vec<PathBuf> {
    let (mut files, mut dirs) = (Vec::new(), vec![dir.to_path_buf()]);
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => dirs.push(entry.path()),
                Ok(kind) if kind.is_file() => files.push(entry.path()),
                _ => {}
            }
            if files.len() >= most {
                return files;
            }
        }
    }
    files
}
