//! What a round of sync did, told two ways: the `dockdap/sync` answer
//! (workspace paths, for the editor) and debug console lines (for the user).

use serde_json::{Value, json};

use super::engine::{Remote, SyncEngine, SyncReport};
use super::names::RelPath;
use crate::console::{Category, Event, EventSender};

/// What a `dockdap/sync` (or the final sync) reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncAnswer {
    /// Workspace paths written from the container.
    pub pulled: Vec<String>,
    /// Workspace paths copied into the container.
    pub pushed: Vec<String>,
    /// Workspace paths removed because the container deleted them.
    pub removed: Vec<String>,
    /// Workspace paths whose container file was removed because the
    /// workspace deleted them.
    pub removed_in_container: Vec<String>,
    /// Workspace paths in conflict, all of them (not only new ones).
    pub conflicts: Vec<String>,
    /// Workspace paths that differed at the start and were left alone.
    pub diverged: Vec<String>,
    /// What else the user should know.
    pub notes: Vec<String>,
}

impl SyncAnswer {
    /// The `dockdap/sync` response body.
    pub fn to_json(&self) -> Value {
        json!({
            "pulled": self.pulled,
            "pushed": self.pushed,
            "removed": self.removed,
            "removedInContainer": self.removed_in_container,
            "conflicts": self.conflicts,
            "diverged": self.diverged,
            "notes": self.notes,
        })
    }
}

/// What `SyncHandle::save_copies` saved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SavedCopies {
    /// Paths saved (relative to the folder).
    pub saved: Vec<String>,
    /// Files refused or not written, and why.
    pub notes: Vec<String>,
}

pub(super) fn merge(report: &mut SyncReport, other: SyncReport) {
    report.pulled.extend(other.pulled);
    report.pushed.extend(other.pushed);
    report.removed.extend(other.removed);
    report.removed_in_container.extend(other.removed_in_container);
    report.new_conflicts.extend(other.new_conflicts);
    report.notes.extend(other.notes);
}

pub(super) fn answer<R: Remote>(engine: &SyncEngine<R>, report: &SyncReport) -> SyncAnswer {
    let host = |p: &RelPath| p.on_host(engine.workspace()).to_string_lossy().into_owned();
    SyncAnswer {
        pulled: report.pulled.iter().map(host).collect(),
        pushed: report.pushed.iter().map(host).collect(),
        removed: report.removed.iter().map(host).collect(),
        removed_in_container: report.removed_in_container.iter().map(host).collect(),
        conflicts: engine.conflicts().map(host).collect(),
        diverged: engine.diverged().map(host).collect(),
        notes: report.notes.iter().map(str::to_owned).collect(),
    }
}

/// Debug console lines for what a round did.
pub(super) async fn tell(events: &EventSender, report: &SyncReport) {
    let mut lines: Vec<(Category, String)> = Vec::new();
    for path in &report.pulled {
        lines.push((Category::Console, format!("[dockdap] sync: {path} copied from the container into the workspace")));
    }
    for path in &report.pushed {
        lines.push((Category::Console, format!("[dockdap] sync: {path} copied from the workspace into the container")));
    }
    for path in &report.removed {
        lines.push((
            Category::Console,
            format!("[dockdap] sync: {path} was deleted in the container, so it was removed from the workspace"),
        ));
    }
    for path in &report.removed_in_container {
        lines.push((
            Category::Console,
            format!("[dockdap] sync: {path} was deleted in the workspace, so it was removed from the container"),
        ));
    }
    for note in report.notes.entries() {
        lines.push((note.category(), format!("[dockdap] sync: {}", note.text)));
    }
    for (category, text) in lines {
        tracing::info!("{text}");
        events.send(Event::Output { category, text: format!("{text}\n") }).await;
    }
}
