//! What the sync engine is told (which directions copy, which side wins a
//! conflict) and what it tells back (`SyncReport`, one per round).

use super::super::names::RelPath;
use super::super::notes::Notes;

/// Which directions may copy files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Directions {
    /// Container edits come into the workspace (`sync.fromContainer`).
    pub from_container: bool,
    /// Workspace edits go into the container (`sync.toContainer`).
    pub to_container: bool,
}

/// Which side wins when the user resolves a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The workspace's version goes into the container.
    Workspace,
    /// The container's version replaces the workspace's.
    Container,
}

/// What one sync round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// Files copied from the container into the workspace.
    pub pulled: Vec<RelPath>,
    /// Files copied from the workspace into the container.
    pub pushed: Vec<RelPath>,
    /// Workspace files removed because the container deleted them.
    pub removed: Vec<RelPath>,
    /// Container files removed because the workspace deleted them.
    pub removed_in_container: Vec<RelPath>,
    /// Conflicts found in this round (also in `conflicts` of the engine).
    pub new_conflicts: Vec<RelPath>,
    /// Lines for the debug console: refusals, deletions, conflicts, errors.
    pub notes: Notes,
}

impl SyncReport {
    /// Whether anything happened that the user should hear about.
    pub fn is_empty(&self) -> bool {
        self.pulled.is_empty()
            && self.pushed.is_empty()
            && self.removed.is_empty()
            && self.removed_in_container.is_empty()
            && self.new_conflicts.is_empty()
            && self.notes.is_empty()
    }

    pub(super) fn merge(&mut self, other: SyncReport) {
        self.pulled.extend(other.pulled);
        self.pushed.extend(other.pushed);
        self.removed.extend(other.removed);
        self.removed_in_container.extend(other.removed_in_container);
        self.new_conflicts.extend(other.new_conflicts);
        self.notes.extend(other.notes);
    }
}
