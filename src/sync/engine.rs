//! The sync engine: looks at both sides, asks `state::decide`, and carries
//! out the decision through `write` (workspace) and a `Remote` (container).
//!
//! It owns the per-file state of one session and is driven by one task (the
//! worker), so no two syncs ever interleave. The container is reached only
//! through the `Remote` trait, which the session's `Runtime` serves and the
//! tests fake; this module never imports Docker.
//!
//! Cost model: a container file is fetched only when its stat (size,
//! modification time; one HEAD request) moved since the last look. Files
//! sync already knows are polled by stat (`poll_known`); new files are
//! found through the engine's change list (`docker diff`), which names every
//! file the container changed since it started but can take seconds on some
//! storage drivers (fuse-overlayfs, vfs), so it is read on full syncs and at
//! a slower pace. The workspace side is hashed file by file (on a full sync,
//! every file under the mapped folder; from the watcher, the files it names).
//! File work (reads, writes, hashes, archive checks, the walk) runs on
//! tokio's blocking pool, never on the runtime's threads.
//!
//! The rounds and the decisions are here; reading both sides is `look`,
//! writing them is `carry`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::extract::{ArchiveFile, Hash, Limits};
use super::names::{CONFLICT_SUFFIX, HostOs, RelPath, is_ignored};
use super::notes::Note;
use super::state::{Action, Base, FileState, decide};
use super::watch::{Control, WatchBatch, Watched};
use crate::runtime::ContainerError;
use look::Seen;

mod carry;
mod look;
mod remote;
mod report;

pub use carry::pack;
pub use remote::{Remote, RemoteChange, RemoteKind, RemoteStat};
pub use report::{Directions, Side, SyncReport};

/// One session's sync between a workspace folder and a container folder.
pub struct SyncEngine<R> {
    remote: R,
    workspace: PathBuf,
    app_root: String,
    directions: Directions,
    host: HostOs,
    limits: Limits,
    files: BTreeMap<RelPath, FileState>,
    conflicts: BTreeSet<RelPath>,
    diverged: BTreeSet<RelPath>,
    /// Problems already reported (each is reported once per session).
    told: BTreeSet<String>,
    /// Where `poll_known` goes on next time.
    cursor: usize,
    /// Deletions are carried to the other side (else reported).
    copy_deletions: bool,
    /// The container's watcher, while it runs: it removes files in the
    /// container for deletions in the workspace.
    watcher: Option<Control>,
    /// What the container's watcher saw, for the round under way: content
    /// read with proof, or `None`: nothing is there.
    offered: BTreeMap<RelPath, Option<ArchiveFile>>,
}

impl<R: Remote> SyncEngine<R> {
    /// An engine between `workspace` (a host folder) and `app_root` (a folder in the container).
    pub fn new(remote: R, workspace: PathBuf, app_root: &str, directions: Directions) -> SyncEngine<R> {
        let app_root = if app_root.len() > 1 { app_root.trim_end_matches('/') } else { app_root };
        SyncEngine {
            remote,
            workspace,
            app_root: app_root.to_owned(),
            directions,
            host: HostOs::current(),
            limits: Limits::default(),
            files: BTreeMap::new(),
            conflicts: BTreeSet::new(),
            diverged: BTreeSet::new(),
            told: BTreeSet::new(),
            cursor: 0,
            copy_deletions: false,
            watcher: None,
            offered: BTreeMap::new(),
        }
    }

    /// Changes the caps (tests use small ones).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Whether a file one side deleted is removed from the other too (when
    /// that side still holds what both last agreed on), or only reported.
    pub fn set_copy_deletions(&mut self, copy: bool) {
        self.copy_deletions = copy;
    }

    /// The container's watcher, which removes files there for deletions in
    /// the workspace; `None` once it ended (then one process per removal).
    pub fn set_watcher(&mut self, watcher: Option<Control>) {
        self.watcher = watcher;
    }

    /// The container side.
    pub fn remote(&self) -> &R {
        &self.remote
    }

    /// The workspace folder.
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// The directions in force.
    pub fn directions(&self) -> Directions {
        self.directions
    }

    /// Files changed on both sides, not yet resolved.
    pub fn conflicts(&self) -> impl Iterator<Item = &RelPath> {
        self.conflicts.iter()
    }

    /// Files that differed at the start and have not been touched since.
    pub fn diverged(&self) -> impl Iterator<Item = &RelPath> {
        self.diverged.iter()
    }

    /// The relative path of a host path under the workspace, if it is one sync handles.
    pub fn relative(&self, path: &Path) -> Option<RelPath> {
        let rest = path.strip_prefix(&self.workspace).ok()?;
        let parts: Option<Vec<&str>> = rest.components().map(|c| c.as_os_str().to_str()).collect();
        let rel = RelPath::from_components(parts?, self.host).ok()?;
        (!is_ignored(&rel)).then_some(rel)
    }

    /// The first look at both sides. Files that are the same on both are
    /// recorded as agreed; files that differ are recorded, reported, and
    /// left alone (see `state`). Nothing is copied.
    pub async fn start(&mut self) -> SyncReport {
        let mut report = SyncReport::default();
        let (local_files, notes) = self.walk_workspace().await;
        report.notes.extend(notes);
        let changes = match self.remote.changes_once(&self.app_root).await {
            Ok(changes) => self.under_root(changes, &mut report),
            Err(e) => {
                self.problem(&mut report, format!("cannot list the container's changed files: {e}"));
                BTreeMap::new()
            }
        };
        let mut paths: BTreeSet<RelPath> = local_files.into_iter().collect();
        paths.extend(changes.into_keys());
        let mut looked = self.look_many(&paths.iter().cloned().collect::<Vec<_>>()).await;
        for path in paths {
            let sides = match looked.remove(&path) {
                Some(remote) => match self.local(&path).await {
                    Ok(local) => Some((local, remote)),
                    Err(note) => {
                        self.problem(&mut report, note);
                        None
                    }
                },
                None => self.both_sides(&mut report, &path).await,
            };
            let Some((local, remote)) = sides else { continue };
            let state = self.files.entry(path.clone()).or_default();
            if local.hash == remote.hash {
                state.base = Base::Agreed(local.hash);
            } else {
                state.base = Base::Diverged { local: local.hash, remote: remote.hash };
                // A file only in the workspace (a README, a Dockerfile) is normal, not news.
                if remote.hash.is_some() {
                    state.reported = Some((local.hash, remote.hash));
                    self.diverged.insert(path);
                }
            }
        }
        if !self.diverged.is_empty() {
            let names: Vec<&str> = self.diverged.iter().map(RelPath::as_str).collect();
            report.notes.push(format!(
                "{} file(s) differ between the workspace and the container: {}. Neither copy was changed; an edit to either is reported as a conflict until they agree (`dockdap/sync` with `resolve` picks a side)",
                names.len(),
                names.join(", ")
            ));
        }
        report
    }

    /// A full round: every workspace file and every file the container changed.
    pub async fn sync_all(&mut self) -> SyncReport {
        let mut report = SyncReport::default();
        let (local_files, notes) = self.walk_workspace().await;
        report.notes.extend(notes);
        let changes = match self.remote.changes().await {
            Ok(changes) => self.under_root(changes, &mut report),
            Err(e) => {
                self.problem(&mut report, format!("cannot list the container's changed files: {e}"));
                return report;
            }
        };
        let mut paths: BTreeSet<RelPath> = local_files.into_iter().collect();
        paths.extend(changes.keys().cloned());
        paths.extend(self.files.keys().cloned());
        for path in paths {
            let changed = changes.contains_key(&path) || self.changed_in_container(&path);
            let round = self.sync_one(&path, changed).await;
            report.merge(round);
        }
        report
    }

    /// Whether the container changed `path` since it started (see `FileState`).
    fn changed_in_container(&self, path: &RelPath) -> bool {
        self.files.get(path).is_some_and(|s| s.changed_in_container)
    }

    /// The container side only: files the container changed (what a poll or
    /// a stop of the debuggee looks at).
    pub async fn sync_from_container(&mut self) -> SyncReport {
        let listed = self.remote.changes().await;
        self.sync_changes(listed).await
    }

    /// The container side at the end of a session: `sync_from_container`
    /// with the change list read once, the quickest way.
    pub async fn last_from_container(&mut self) -> SyncReport {
        let listed = self.remote.changes_once(&self.app_root).await;
        self.sync_changes(listed).await
    }

    /// The container side, given a change list read elsewhere (the worker
    /// reads it in its own task, so a slow list does not hold up other work).
    pub async fn sync_changes(&mut self, listed: Result<Vec<RemoteChange>, ContainerError>) -> SyncReport {
        let mut report = SyncReport::default();
        let changes = match listed {
            Ok(changes) => self.under_root(changes, &mut report),
            Err(e) => {
                self.problem(&mut report, format!("cannot list the container's changed files: {e}"));
                return report;
            }
        };
        // Files the container made that are missing from the list now were deleted.
        let mut paths: BTreeSet<RelPath> = changes.into_keys().collect();
        paths.extend(self.files.iter().filter(|(_, s)| s.changed_in_container).map(|(p, _)| p.clone()));
        for path in &paths {
            let round = self.sync_one(path, true).await;
            report.merge(round);
        }
        report
    }

    /// Files the watcher saw change. The container side of each is looked
    /// at through its stat (one cheap request), not the change list, which
    /// some storage drivers take seconds to compute.
    pub async fn sync_paths(&mut self, paths: &BTreeSet<RelPath>) -> SyncReport {
        let mut report = SyncReport::default();
        for path in paths {
            let round = self.sync_one(path, true).await;
            report.merge(round);
        }
        report
    }

    /// Files the workspace watcher saw change. One whose content is what
    /// both sides last agreed on (an echo of dockdap's own write, an editor
    /// saving without a change) did not change in the workspace, and the
    /// container is not looked at for it: the container's changes are its
    /// watcher's (or the poll's) business. So a file sync just wrote costs
    /// one local read, not a stat and an archive of the container's copy
    /// while the next change waits.
    pub async fn sync_saved(&mut self, paths: &BTreeSet<RelPath>) -> SyncReport {
        let mut report = SyncReport::default();
        for path in paths {
            let local = match self.local(path).await {
                Ok(local) => local,
                Err(note) => {
                    self.problem(&mut report, note);
                    continue;
                }
            };
            let unchanged = match self.files.get(path).map(|s| s.base) {
                None => local.hash.is_none(),
                Some(Base::Agreed(agreed)) => agreed == local.hash,
                Some(Base::Diverged { local: then, .. }) => then == local.hash,
            };
            if unchanged && !self.conflicts.contains(path) {
                continue;
            }
            if local.hash.is_none() && self.ask_watcher_to_remove(path) {
                continue;
            }
            let round = self.sync_seen(path, local, true).await;
            report.merge(round);
        }
        report
    }

    /// A file deleted in the workspace that both sides last agreed on, and
    /// whose container copy was last seen with that content: the container's
    /// watcher is asked to remove it at once, without looking at the
    /// container first (a stat through the engine, tens of milliseconds):
    /// the watcher removes it only if it still holds that content, and
    /// reports it as changed otherwise, which is then a conflict.
    fn ask_watcher_to_remove(&self, path: &RelPath) -> bool {
        let Some(watcher) = &self.watcher else { return false };
        let Some(state) = self.files.get(path) else { return false };
        match (state.base, &state.remote_seen) {
            (Base::Agreed(Some(agreed)), Some((Some(seen), _)))
                if *seen == agreed && self.copy_deletions && self.directions.to_container =>
            {
                watcher.remove(path, agreed)
            }
            _ => false,
        }
    }

    /// What the container's watcher saw: each file, with the content it
    /// read with proof when it could (used instead of reading the file
    /// again), and the known files under folders that moved or went.
    pub async fn sync_watched(&mut self, batch: WatchBatch) -> SyncReport {
        let mut report = SyncReport::default();
        for refusal in batch.refused {
            self.problem(&mut report, refusal);
        }
        report.removed_in_container.extend(batch.removed);
        let mut paths: BTreeSet<RelPath> = batch.files.keys().cloned().collect();
        for path in &paths {
            self.files.entry(path.clone()).or_default().changed_in_container = true;
        }
        for folder in &batch.folders {
            let under = format!("{folder}/");
            paths.extend(self.files.keys().filter(|p| p.as_str().starts_with(&under)).cloned());
        }
        self.offered = batch
            .files
            .into_iter()
            .filter_map(|(path, now)| match now {
                Watched::Proven(file) => Some((path, Some(file))),
                Watched::Gone => Some((path, None)),
                Watched::Named => None,
            })
            .collect();
        for path in paths {
            let round = self.sync_one(&path, true).await;
            report.merge(round);
        }
        self.offered.clear();
        report
    }

    /// The cheap container poll: the stat of up to `budget` files sync
    /// already knows (taking turns when there are more), fetching only those
    /// whose size or time moved. New files in the container are found by
    /// `sync_from_container`, which reads the change list.
    pub async fn poll_known(&mut self, budget: usize) -> SyncReport {
        let mut report = SyncReport::default();
        let known: Vec<RelPath> = self.files.keys().cloned().collect();
        if known.is_empty() || budget == 0 {
            return report;
        }
        let first = self.cursor % known.len();
        let count = budget.min(known.len());
        for i in 0..count {
            let path = &known[(first + i) % known.len()];
            if !self.remote_moved(path).await {
                continue; // workspace edits are the watcher's business
            }
            let round = self.sync_one(path, true).await;
            report.merge(round);
        }
        self.cursor = (first + count) % known.len();
        report
    }

    /// The user picked a side for files in conflict (or that differed from
    /// the start): all of them when `only` is empty. The losing side's
    /// version is kept: the container's beside the workspace file
    /// (`.container`) before it is replaced.
    pub async fn resolve(&mut self, side: Side, only: &[RelPath]) -> SyncReport {
        let mut report = SyncReport::default();
        let targets: Vec<RelPath> = self
            .conflicts
            .iter()
            .chain(self.diverged.iter())
            .filter(|p| only.is_empty() || only.contains(p))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for name in only {
            if !targets.contains(name) {
                report.notes.push(format!("{name} is not in conflict; nothing to resolve"));
            }
        }
        for path in targets {
            let Some((local, remote)) = self.both_sides(&mut report, &path).await else { continue };
            let done = match side {
                Side::Workspace => {
                    let kept = remote.hash.is_none() || self.keep_container_copy(&path, &mut report).await;
                    match &local.content {
                        _ if !kept => false,
                        Some(_) => self.push(&path, &local, &mut report).await,
                        None if self.copy_deletions
                            && let Some(theirs) = remote.hash =>
                        {
                            self.remove_in_container(&path, theirs, &local, &remote, &mut report).await
                        }
                        None => {
                            report.notes.push(format!(
                                "{path}: the workspace has no such file, and deletions are not copied (`sync.deletions` is \"report\")"
                            ));
                            false
                        }
                    }
                }
                Side::Container => match &remote.content {
                    Some(_) => self.pull_proven(&path, remote.hash, &mut report).await,
                    None => {
                        report.notes.push(format!(
                            "{path}: the container has no such file, and deletions are not copied into the workspace"
                        ));
                        false
                    }
                },
            };
            if done {
                let hash = if side == Side::Workspace { local.hash } else { remote.hash };
                let state = self.files.entry(path.clone()).or_default();
                state.base = Base::Agreed(hash);
                state.reported = None;
                self.conflicts.remove(&path);
                self.diverged.remove(&path);
            }
        }
        report
    }

    /// Decides and acts for one file. `remote_changed`: the change list names it.
    async fn sync_one(&mut self, path: &RelPath, remote_changed: bool) -> SyncReport {
        match self.local(path).await {
            Ok(local) => self.sync_seen(path, local, remote_changed).await,
            Err(note) => {
                let mut report = SyncReport::default();
                self.problem(&mut report, note);
                report
            }
        }
    }

    /// `sync_one`, with the workspace's side already read.
    async fn sync_seen(&mut self, path: &RelPath, local: Seen, remote_changed: bool) -> SyncReport {
        let mut report = SyncReport::default();
        let remote = match self.remote_now(path, remote_changed).await {
            Ok(seen) => seen,
            Err(note) => {
                self.problem(&mut report, note);
                return report;
            }
        };
        let base = self.files.get(path).map(|s| s.base).unwrap_or(Base::Agreed(None));
        let action = decide(base, local.hash, remote.hash);
        tracing::debug!(%path, ?action, "sync decision");
        match action {
            Action::Agree => {
                let state = self.files.entry(path.clone()).or_default();
                state.base = Base::Agreed(local.hash);
                state.reported = None;
                self.conflicts.remove(path);
                self.diverged.remove(path);
            }
            Action::StillDiverged => {}
            Action::Pull if self.directions.from_container => {
                if self.pull_proven(path, remote.hash, &mut report).await {
                    self.files.entry(path.clone()).or_default().base = Base::Agreed(remote.hash);
                }
            }
            Action::Push if self.directions.to_container => {
                if local.content.is_some() && self.push(path, &local, &mut report).await {
                    self.files.entry(path.clone()).or_default().base = Base::Agreed(local.hash);
                }
            }
            Action::Pull | Action::Push => {}
            Action::DeletedInContainer if self.copy_deletions && self.directions.from_container => {
                if let Some(agreed) = local.hash {
                    self.remove_agreed(path, agreed, &mut report).await;
                }
            }
            Action::DeletedInWorkspace if self.copy_deletions && self.directions.to_container => {
                if let Some(agreed) = remote.hash {
                    self.remove_in_container(path, agreed, &local, &remote, &mut report).await;
                }
            }
            Action::DeletedInContainer | Action::DeletedInWorkspace => {
                self.report_deletion(path, action, &local, &remote, None, &mut report);
            }
            Action::Conflict => self.conflict(path, &local, remote, &mut report).await,
        }
        report
    }

    /// A deletion that is not copied is reported once, with why (`None`:
    /// `sync.deletions` is `"report"`, or that direction does not copy).
    fn report_deletion(
        &mut self,
        path: &RelPath,
        action: Action,
        local: &Seen,
        remote: &Seen,
        why: Option<&str>,
        report: &mut SyncReport,
    ) {
        if self.first_report(path, local.hash, remote.hash) {
            let (gone, kept) = if action == Action::DeletedInContainer {
                ("the container", "the workspace")
            } else {
                ("the workspace", "the container")
            };
            let why = why.unwrap_or("deletions are not copied");
            report.notes.push(format!("{path} was deleted in {gone}; {kept} keeps its copy ({why})"));
        }
    }

    /// Both sides changed: nothing is overwritten, the container's version
    /// goes beside the workspace file, and the user hears of it once.
    async fn conflict(&mut self, path: &RelPath, local: &Seen, remote: Seen, report: &mut SyncReport) {
        self.diverged.remove(path);
        let new = self.conflicts.insert(path.clone());
        if self.first_report(path, local.hash, remote.hash) {
            let mut beside = String::new();
            if self.directions.from_container && remote.hash.is_some() && self.keep_container_copy(path, report).await {
                beside = format!("; the container's version is beside it as {path}{CONFLICT_SUFFIX}");
            }
            let what = match (local.hash, remote.hash) {
                (None, _) => "was deleted in the workspace and changed in the container",
                (_, None) => "was changed in the workspace and deleted in the container",
                _ => "changed in both the workspace and the container",
            };
            report.notes.push(Note::conflict(format!("conflict: {path} {what}; neither copy was overwritten{beside}")));
        }
        if new {
            report.new_conflicts.push(path.clone());
        }
    }

    /// Reports a problem (a refused name, an unreachable container) once per session.
    fn problem(&mut self, report: &mut SyncReport, text: String) {
        if self.told.insert(text.clone()) {
            report.notes.push(text);
        }
    }

    /// Whether this (local, remote) pair is news for `path`; remembers it.
    fn first_report(&mut self, path: &RelPath, local: Option<Hash>, remote: Option<Hash>) -> bool {
        let state = self.files.entry(path.clone()).or_default();
        if state.reported == Some((local, remote)) {
            return false;
        }
        state.reported = Some((local, remote));
        true
    }
}
