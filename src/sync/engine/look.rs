//! Reading both sides of a file for the sync engine: the workspace's copy
//! (read beneath the root, never through a symlink), the container's (its
//! stat first, the archive only when the stat moved, checked like any
//! archive from a container), the container's change list under the app
//! root, and the workspace walk. Nothing is written here.
//!
//! File reads (up to 32 MiB), hashing, checking archives and the walk run on
//! tokio's blocking pool (`off_runtime`), never on the runtime's threads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::{Remote, RemoteChange, RemoteKind, RemoteStat, SyncEngine, SyncReport};
use crate::sync::extract::{self, ArchiveFile, Hash, Limits, Placement};
use crate::sync::names::{HostOs, RelPath, is_ignored};
use crate::sync::proof;
use crate::sync::write::{self, WriteError};

/// Most files a workspace walk looks at.
const MAX_WALK: usize = 20_000;

/// The current content of one side.
pub(super) struct Seen {
    pub(super) hash: Option<Hash>,
    pub(super) content: Option<Bytes>,
    pub(super) executable: bool,
}

impl<R: Remote> SyncEngine<R> {
    /// Both sides of `path` as they are now, or `None` after recording why
    /// one of them could not be read.
    pub(super) async fn both_sides(&mut self, report: &mut SyncReport, path: &RelPath) -> Option<(Seen, Seen)> {
        let sides = match self.local(path).await {
            Ok(local) => self.fetch_remote(path).await.map(|remote| (local, remote)),
            Err(note) => Err(note),
        };
        match sides {
            Ok(sides) => Some(sides),
            Err(note) => {
                self.problem(report, note);
                None
            }
        }
    }

    /// The workspace's current content of `path`.
    pub(super) async fn local(&self, path: &RelPath) -> Result<Seen, String> {
        let (root, rel, max_bytes) = (self.workspace.clone(), path.clone(), self.limits.max_file_bytes);
        off_runtime(&format!("reading {path}"), move || read_local(&root, &rel, max_bytes)).await?
    }

    /// Whether the container's `path` may differ from what was last seen
    /// (its stat moved, or it was never seen).
    pub(super) async fn remote_moved(&mut self, path: &RelPath) -> bool {
        let Some((hash, seen)) = self.files.get(path).and_then(|s| s.remote_seen.clone()) else {
            return true;
        };
        let target = path.in_container(&self.app_root);
        match self.remote.stat(&target).await {
            Ok(None) => hash.is_some(),
            Ok(Some(RemoteStat { kind: RemoteKind::File, size, mtime })) => seen != Some((size, mtime)),
            Ok(Some(RemoteStat { kind: RemoteKind::Folder, .. })) => hash.is_some(),
            Ok(Some(_)) => true,
            Err(_) => false,
        }
    }

    /// The container's current content of `path`, fetched only when the
    /// change list names it and its size or time moved since the last look.
    pub(super) async fn remote_now(&mut self, path: &RelPath, changed: bool) -> Result<Seen, String> {
        if let Some(offered) = self.offered.get(path) {
            let Some(file) = offered else {
                // The watcher found nothing there.
                self.files.entry(path.clone()).or_default().remote_seen = Some((None, None));
                return Ok(Seen { hash: None, content: None, executable: false });
            };
            let seen = Seen {
                hash: Some(file.hash),
                executable: file.mode & 0o100 != 0,
                content: Some(Bytes::from(file.content.clone())),
            };
            // No stat of the engine's kind was read: the next look reads one.
            self.files.entry(path.clone()).or_default().remote_seen = Some((seen.hash, None));
            return Ok(seen);
        }
        let seen = self.files.get(path).and_then(|s| s.remote_seen.clone());
        if let Some((hash, stat)) = &seen {
            if !changed {
                // Not in the change list: still the image's version, as when last seen.
                return Ok(Seen { hash: *hash, content: None, executable: false });
            }
            let target = path.in_container(&self.app_root);
            let now = self.remote.stat(&target).await.map_err(|e| format!("cannot look at {target}: {e}"))?;
            let now_key = now.as_ref().filter(|s| s.kind == RemoteKind::File).map(|s| (s.size, s.mtime.clone()));
            if matches!(now, Some(RemoteStat { kind: RemoteKind::Folder, .. })) {
                return Ok(Seen { hash: None, content: None, executable: false });
            }
            if now.is_none() && hash.is_none() {
                return Ok(Seen { hash: None, content: None, executable: false });
            }
            if now_key.is_some() && now_key == *stat {
                return Ok(Seen { hash: *hash, content: None, executable: false });
            }
        }
        self.fetch_remote(path).await
    }

    /// The container's side of `paths` for the first look, in as few calls
    /// as the container allows: one stat of them all, then one archive of
    /// the regular files among them. On Kubernetes that is one exec per 200
    /// files, where a look at each costs two round trips through the API
    /// server. What is left out (a folder, a link, a file too big, one the
    /// archive did not hold or that could not be read) is looked at on its
    /// own by the caller, which says what was wrong with it.
    pub(super) async fn look_many(&mut self, paths: &[RelPath]) -> BTreeMap<RelPath, Seen> {
        let mut seen = BTreeMap::new();
        if paths.len() < 2 {
            return seen;
        }
        let targets: Vec<String> = paths.iter().map(|p| p.in_container(&self.app_root)).collect();
        let stats = match self.remote.stat_many(&targets).await {
            Ok(Some(stats)) if stats.len() == paths.len() => stats,
            Ok(_) => return seen,
            Err(e) => {
                tracing::debug!(error = %e, "no stat of many files; looking at each");
                return seen;
            }
        };
        let mut files = BTreeMap::new();
        for (path, stat) in paths.iter().zip(stats) {
            match stat {
                None => {
                    self.files.entry(path.clone()).or_default().remote_seen = Some((None, None));
                    seen.insert(path.clone(), Seen { hash: None, content: None, executable: false });
                }
                Some(RemoteStat { kind: RemoteKind::File, size, mtime }) if size <= self.limits.max_file_bytes => {
                    files.insert(path.clone(), (size, mtime));
                }
                Some(_) => {}
            }
        }
        // Each header and padding is at most 1 KiB, each archive's end and
        // blocking at most 20 KiB.
        let budget: u64 =
            files.values().map(|(size, _)| size + 1024).sum::<u64>() + 20_480 * (files.len() as u64 / 100 + 1);
        if files.is_empty() || budget > self.limits.max_total_bytes {
            return seen;
        }
        let names: Vec<String> = files.keys().map(|p| p.as_str().to_owned()).collect();
        let archives = match self.remote.fetch_many(&self.app_root, &names, budget).await {
            Ok(Some(archives)) => archives,
            Ok(None) => return seen,
            Err(e) => {
                tracing::debug!(error = %e, "no archive of many files; looking at each");
                return seen;
            }
        };
        let (root, limits, host) = (self.app_root.clone(), self.limits, self.host);
        let read = off_runtime("checking the container's files", move || {
            let place = Placement { base: &root, root: &root };
            archives.iter().flat_map(|a| extract::read_archive(&a[..], &place, limits, host).files).collect::<Vec<_>>()
        });
        let asked = files.len();
        for file in read.await.unwrap_or_default() {
            // Only files the stat named, once each: the archive is the container's word.
            let Some((size, mtime)) = files.remove(&file.path) else { continue };
            self.files.entry(file.path.clone()).or_default().remote_seen = Some((Some(file.hash), Some((size, mtime))));
            let executable = file.mode & 0o100 != 0;
            seen.insert(
                file.path,
                Seen { hash: Some(file.hash), executable, content: Some(Bytes::from(file.content)) },
            );
        }
        tracing::debug!(
            paths = paths.len(),
            files = asked,
            read = asked - files.len(),
            "first look: many files at once"
        );
        seen
    }

    /// Fetches the container's content of `path` and remembers what it saw.
    pub(super) async fn fetch_remote(&mut self, path: &RelPath) -> Result<Seen, String> {
        let target = path.in_container(&self.app_root);
        let stat = self.remote.stat(&target).await.map_err(|e| format!("cannot look at {target}: {e}"))?;
        let seen = match &stat {
            None => Seen { hash: None, content: None, executable: false },
            // A folder is not a file; files in it are listed on their own.
            Some(RemoteStat { kind: RemoteKind::Folder, .. }) => Seen { hash: None, content: None, executable: false },
            Some(RemoteStat { kind: RemoteKind::Link(to), .. }) => {
                return Err(format!(
                    "refused {target} from the container: it is a symbolic link (to {to:?}); only files and folders are synced"
                ));
            }
            Some(RemoteStat { kind: RemoteKind::Other, .. }) => {
                return Err(format!(
                    "refused {target} from the container: it is not a regular file (a device, FIFO or socket); only files and folders are synced"
                ));
            }
            Some(_) => {
                let archive = self
                    .remote
                    .fetch(&target, self.limits.max_file_bytes.saturating_add(64 << 10))
                    .await
                    .map_err(|e| format!("cannot copy {target} out of the container: {e}"))?;
                match archive {
                    None => Seen { hash: None, content: None, executable: false },
                    Some(bytes) => {
                        let file = self.read_single(path, bytes).await?;
                        Seen {
                            hash: Some(file.hash),
                            executable: file.mode & 0o100 != 0,
                            content: Some(Bytes::from(file.content)),
                        }
                    }
                }
            }
        };
        let key = stat.filter(|s| s.kind == RemoteKind::File).map(|s| (s.size, s.mtime));
        self.files.entry(path.clone()).or_default().remote_seen = Some((seen.hash, key));
        Ok(seen)
    }

    /// The one file a single-path archive must hold, checked like any archive.
    pub(super) async fn read_single(&self, path: &RelPath, bytes: Bytes) -> Result<ArchiveFile, String> {
        let (rel, root, limits, host) = (path.clone(), self.app_root.clone(), self.limits, self.host);
        off_runtime(&format!("checking {path}"), move || read_single(&rel, &root, &bytes, limits, host)).await?
    }

    /// Keeps the change list's entries that are under the app root and
    /// synced. A name that is refused is reported once per session.
    pub(super) fn under_root(
        &mut self,
        changes: Vec<RemoteChange>,
        report: &mut SyncReport,
    ) -> BTreeMap<RelPath, bool> {
        let prefix = format!("{}/", self.app_root.trim_end_matches('/'));
        let mut out = BTreeMap::new();
        for change in changes {
            let Some(rest) = change.path.strip_prefix(&prefix) else { continue };
            match RelPath::parse(rest, self.host) {
                Ok(rel) if is_ignored(&rel) => {}
                Ok(_) if let Some(links) = change.links.filter(|n| *n > 1) => {
                    let why = proof::too_many_links(links);
                    self.problem(report, format!("refused {} from the container: {why}", change.path));
                }
                Ok(rel) => {
                    if !change.deleted {
                        self.files.entry(rel.clone()).or_default().changed_in_container = true;
                    }
                    out.insert(rel, change.deleted);
                }
                Err(refusal) => {
                    self.problem(report, format!("container file {refusal}"));
                }
            }
        }
        out
    }

    /// Every file under the workspace folder that sync handles, without
    /// following symlinks; notes for what was skipped.
    pub(super) async fn walk_workspace(&self) -> (Vec<RelPath>, Vec<String>) {
        let (root, host) = (self.workspace.clone(), self.host);
        off_runtime("walking the workspace", move || walk(root, host))
            .await
            .unwrap_or_else(|note| (Vec::new(), vec![note]))
    }
}

/// Runs `work` on the blocking pool; a note if it could not finish.
pub(super) async fn off_runtime<T: Send + 'static>(
    what: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work).await.map_err(|e| format!("{what} stopped: {e}"))
}

fn read_local(root: &Path, path: &RelPath, max_bytes: u64) -> Result<Seen, String> {
    match write::read_beneath(root, path, max_bytes) {
        Ok(Some(content)) => Ok(Seen {
            hash: Some(Hash::of(&content)),
            executable: write::is_executable(root, path),
            content: Some(Bytes::from(content)),
        }),
        Ok(None) => Ok(Seen { hash: None, content: None, executable: false }),
        Err(e @ (WriteError::Refused { .. } | WriteError::Io { .. })) => Err(e.to_string()),
    }
}

fn read_single(
    path: &RelPath,
    app_root: &str,
    bytes: &[u8],
    limits: Limits,
    host: HostOs,
) -> Result<ArchiveFile, String> {
    let base = match path.parent() {
        Some(parent) => parent.in_container(app_root),
        None => app_root.to_owned(),
    };
    let place = Placement { base: &base, root: app_root };
    let contents = extract::read_archive(bytes, &place, limits, host);
    let prefix = format!("from the container's {}: ", path.in_container(app_root));
    if let Some(refusal) = contents.refusals.first() {
        return Err(format!("{prefix}{refusal}"));
    }
    if let Some(why) = contents.truncated {
        return Err(format!("{prefix}{why}"));
    }
    let mut files = contents.files.into_iter();
    match (files.next(), files.next()) {
        (Some(file), None) if file.path == *path => Ok(file),
        _ => Err(format!("{prefix}the archive does not hold exactly that one file; not synced")),
    }
}

fn walk(workspace: PathBuf, host: HostOs) -> (Vec<RelPath>, Vec<String>) {
    let mut files = Vec::new();
    let mut notes = Vec::new();
    let mut stack: Vec<(PathBuf, Vec<String>)> = vec![(workspace, Vec::new())];
    while let Some((dir, parts)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else { continue };
            let mut child_parts = parts.clone();
            child_parts.push(name);
            let Ok(rel) = RelPath::from_components(child_parts.iter().map(String::as_str), host) else {
                continue;
            };
            if is_ignored(&rel) {
                continue;
            }
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                stack.push((entry.path(), child_parts));
            } else if kind.is_file() {
                if files.len() >= MAX_WALK {
                    notes.push(format!("the workspace holds more than {MAX_WALK} files; the rest are not synced"));
                    return (files, notes);
                }
                files.push(rel);
            }
        }
    }
    (files, notes)
}
