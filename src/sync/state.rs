//! What both sides last agreed on, per file, and what to do when either
//! side changes: the pure heart of sync.
//!
//! For each file dockdap keeps a *base*: the content (hash) the workspace
//! and the container last both had, or that the file was absent on both.
//! Given the base and the current content on each side, `decide` says
//! whether to pull, push, report a conflict or do nothing. A side that
//! still has the base content is the one that did not change; if neither
//! has it, both changed, and that is a conflict: neither copy is ever
//! overwritten.
//!
//! Files that already differ when the session starts have no base: they are
//! recorded as `Diverged` with both sides' contents and reported once.
//! Nothing is copied for them; once either side changes again it is a
//! conflict, and once both sides hold the same content they agree again.
//! The exception is a file only one side had at the start (a README in the
//! workspace): once it is edited it is copied, since the other side has
//! nothing to lose.
//!
//! Deletions are reported, never propagated, unless the caller asks.

use super::extract::Hash;

/// What both sides last agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// Both had this content (`None`: both had no such file).
    Agreed(Option<Hash>),
    /// The sides differed when sync started, and have not agreed since.
    Diverged {
        /// The workspace's content then.
        local: Option<Hash>,
        /// The container's content then.
        remote: Option<Hash>,
    },
}

/// What to do about one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Both sides hold the same content (or both none): record the agreement.
    Agree,
    /// Only the container changed: copy its version into the workspace.
    Pull,
    /// Only the workspace changed: copy its version into the container.
    Push,
    /// The container deleted a file the workspace still has unchanged.
    DeletedInContainer,
    /// The workspace deleted a file the container still has unchanged.
    DeletedInWorkspace,
    /// Both changed since they last agreed: keep both, report.
    Conflict,
    /// The sides differed from the start and neither changed since: nothing to do.
    StillDiverged,
}

/// The decision for one file, given what both last agreed on and what each side has now.
pub fn decide(base: Base, local: Option<Hash>, remote: Option<Hash>) -> Action {
    if local == remote {
        return Action::Agree;
    }
    match base {
        Base::Agreed(agreed) if agreed == local => match remote {
            None => Action::DeletedInContainer,
            Some(_) => Action::Pull,
        },
        Base::Agreed(agreed) if agreed == remote => match local {
            None => Action::DeletedInWorkspace,
            Some(_) => Action::Push,
        },
        Base::Agreed(_) => Action::Conflict,
        Base::Diverged { local: l, remote: r } if l == local && r == remote => Action::StillDiverged,
        // One side never had the file and still has none: nothing there to lose.
        Base::Diverged { remote: None, .. } if remote.is_none() => Action::Push,
        Base::Diverged { local: None, .. } if local.is_none() => Action::Pull,
        Base::Diverged { .. } => Action::Conflict,
    }
}

/// A container file's size and modification time: if neither moved, its content did not either.
pub type StatKey = (u64, String);

/// Everything dockdap knows about one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    /// What both sides last agreed on.
    pub base: Base,
    /// The container's content when last looked at, and the stat it had then
    /// (size, modification time), so an unchanged file is not fetched again.
    pub remote_seen: Option<(Option<Hash>, Option<StatKey>)>,
    /// The (local, remote) pair last reported, so a conflict or deletion is reported once.
    pub reported: Option<(Option<Hash>, Option<Hash>)>,
    /// The container changed this file since it started (a change list
    /// named it, its watcher did, or sync put it there). The change list
    /// names a file the image did not have only while it exists, so once
    /// such a file is missing from it, it was deleted, not left alone.
    pub changed_in_container: bool,
}

impl FileState {
    /// A file nobody has seen on either side yet: both "had" nothing.
    pub fn new() -> FileState {
        FileState { base: Base::Agreed(None), remote_seen: None, reported: None, changed_in_container: false }
    }
}

impl Default for FileState {
    fn default() -> FileState {
        FileState::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u8) -> Option<Hash> {
        Some(Hash([n; 32]))
    }

    #[track_caller]
    fn check(base: Base, local: Option<Hash>, remote: Option<Hash>, expect: Action) {
        assert_eq!(decide(base, local, remote), expect, "base {base:?}, local {local:?}, remote {remote:?}");
    }

    #[test]
    fn decisions() {
        use Action::*;
        let agreed = |x| Base::Agreed(x);
        check(agreed(h(1)), h(1), h(1), Agree);
        check(agreed(h(1)), h(1), h(2), Pull);
        check(agreed(h(1)), h(2), h(1), Push);
        check(agreed(h(1)), h(2), h(3), Conflict);
        check(agreed(h(1)), h(2), h(2), Agree);
        check(agreed(h(1)), h(1), None, DeletedInContainer);
        check(agreed(h(1)), None, h(1), DeletedInWorkspace);
        check(agreed(h(1)), None, h(2), Conflict);
        check(agreed(h(1)), h(2), None, Conflict);
        // New files: absent on both before.
        check(agreed(None), h(1), None, Push);
        check(agreed(None), None, h(1), Pull);
        check(agreed(None), h(1), h(2), Conflict);
        check(agreed(None), None, None, Agree);
        // Different from the start.
        let diverged = Base::Diverged { local: h(1), remote: h(2) };
        check(diverged, h(1), h(2), StillDiverged);
        check(diverged, h(3), h(2), Conflict);
        check(diverged, h(1), h(3), Conflict);
        check(diverged, h(2), h(2), Agree);
        check(Base::Diverged { local: h(1), remote: None }, h(1), None, StillDiverged);
        check(Base::Diverged { local: h(1), remote: None }, h(2), None, Push);
        check(Base::Diverged { local: None, remote: h(1) }, None, h(2), Pull);
        check(Base::Diverged { local: h(1), remote: None }, h(1), h(2), Conflict);
    }
}
