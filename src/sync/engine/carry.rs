//! Writing the sync engine's decisions out: a file into the workspace
//! (atomically, beneath the root), the container's version beside a
//! conflicting workspace file, a file into the container (as a one-file
//! archive, with its missing folders when needed). Nothing is decided here.
//! Writes and packing run on tokio's blocking pool.

use bytes::Bytes;

use super::look::{Seen, off_runtime};
use super::{Remote, SyncEngine, SyncReport};
use crate::runtime::ContainerError;
use crate::sync::extract::{ArchiveFile, Hash};
use crate::sync::names::{CONFLICT_SUFFIX, RelPath};
use crate::sync::proof;
use crate::sync::state::{Action, Base};
use crate::sync::write;

impl<R: Remote> SyncEngine<R> {
    /// Writes the container's `path` into the workspace, if what is read
    /// now is provably that file (`fetch_proven`) and still has `expected`'s
    /// content (else the next round looks again).
    pub(super) async fn pull_proven(
        &mut self,
        path: &RelPath,
        expected: Option<Hash>,
        report: &mut SyncReport,
    ) -> bool {
        let file = match self.fetch_proven(path).await {
            Ok(file) if Some(file.hash) == expected => file,
            Ok(_) => return false,
            Err(note) => {
                self.problem(report, note);
                return false;
            }
        };
        match self.write_workspace(path.clone(), Bytes::from(file.content), file.mode).await {
            Ok(()) => {
                report.pulled.push(path.clone());
                true
            }
            Err(note) => {
                report.notes.push(note);
                false
            }
        }
    }

    /// Writes the container's version of `path` beside the workspace file
    /// (`NAME.container`), if it is provably that file.
    pub(super) async fn keep_container_copy(&mut self, path: &RelPath, report: &mut SyncReport) -> bool {
        let file = match self.fetch_proven(path).await {
            Ok(file) => file,
            Err(note) => {
                self.problem(report, note);
                return false;
            }
        };
        let beside = path.with_suffix(CONFLICT_SUFFIX);
        match self.write_workspace(beside, Bytes::from(file.content), file.mode & !0o111).await {
            Ok(()) => true,
            Err(note) => {
                report.notes.push(note);
                false
            }
        }
    }

    /// Copies of the container's `paths` into `dest`, a folder of their own
    /// (a pod has no commit: `dockdap/commit` saves its changed files
    /// there), each provably that file as a pull would write it. Returns
    /// what was saved and what was refused or could not be written.
    pub async fn save_copies(&mut self, paths: &[RelPath], dest: &std::path::Path) -> (Vec<RelPath>, Vec<String>) {
        let (mut saved, mut notes) = (Vec::new(), Vec::new());
        for path in paths {
            let file = match self.fetch_proven(path).await {
                Ok(file) => file,
                Err(note) => {
                    notes.push(note);
                    continue;
                }
            };
            let (root, rel, content) = (dest.to_path_buf(), path.clone(), file.content);
            let what = format!("saving {rel}");
            let written =
                off_runtime(&what, move || write::write_beneath_capped(&root, &rel, &content, file.mode)).await;
            match written {
                Ok(Ok(())) => saved.push(path.clone()),
                Ok(Err(e)) => notes.push(e.to_string()),
                Err(note) => notes.push(note),
            }
        }
        (saved, notes)
    }

    /// The container's `path` as it may be written into the workspace:
    /// read between two looks at the identity of the file and of every
    /// folder above it (`proof`), which must show a file with one link
    /// reached through folders, and agree.
    async fn fetch_proven(&mut self, path: &RelPath) -> Result<ArchiveFile, String> {
        let target = path.in_container(&self.app_root);
        let refuse = |why: String| format!("refused {target} from the container: {why}");
        if let Some(offered) = self.offered.get(path) {
            // Read by the container's watcher with the same proof (`sync::watch`).
            return offered.clone().ok_or_else(|| refuse("it is gone".into()));
        }
        let chain = proof::chain(&self.app_root, path);
        let look = |e: ContainerError| refuse(format!("its link count cannot be read, so it is not copied ({e})"));
        let before = self.remote.identities(&chain).await.map_err(look)?;
        proof::judge(&chain, &before).map_err(refuse)?;
        let archive = self
            .remote
            .fetch(&target, self.limits.max_file_bytes.saturating_add(64 << 10))
            .await
            .map_err(|e| format!("cannot copy {target} out of the container: {e}"))?
            .ok_or_else(|| refuse("it is gone".into()))?;
        let file = self.read_single(path, archive).await?;
        let after = self.remote.identities(&chain).await.map_err(look)?;
        if !proof::unchanged(&before, &after) {
            return Err(refuse("it changed while it was read; it is looked at again on the next round".into()));
        }
        Ok(file)
    }

    /// `write::write_beneath_capped` on the blocking pool: group and others
    /// get no more than `mode` gives them in the container.
    async fn write_workspace(&self, rel: RelPath, content: Bytes, mode: u32) -> Result<(), String> {
        let root = self.workspace.clone();
        let what = format!("writing {rel}");
        off_runtime(&what, move || write::write_beneath_capped(&root, &rel, &content, mode))
            .await?
            .map_err(|e| e.to_string())
    }

    /// The container deleted `path`, and the workspace still holds what
    /// both last agreed on (`agreed`): the workspace file goes too, unless
    /// it changed meanwhile (then it stays, and the next round sees it).
    pub(super) async fn remove_agreed(&mut self, path: &RelPath, agreed: Hash, report: &mut SyncReport) {
        let (root, rel, max_bytes) = (self.workspace.clone(), path.clone(), self.limits.max_file_bytes);
        let removed =
            off_runtime(&format!("removing {path}"), move || write::remove_beneath(&root, &rel, agreed, max_bytes))
                .await
                .and_then(|r| r.map_err(|e| e.to_string()));
        match removed {
            Ok(true) => {
                let state = self.files.entry(path.clone()).or_default();
                state.base = Base::Agreed(None);
                state.reported = None;
                report.removed.push(path.clone());
            }
            Ok(false) => {}
            Err(note) => report.notes.push(note),
        }
    }

    /// The workspace deleted `path`, and the container still holds what
    /// both last agreed on (`agreed`): the container's file goes too, but
    /// only while it still holds that content (checked in the container,
    /// after renaming it aside). The container's watcher does it when it
    /// runs, and its answer comes among its events; else one process.
    /// Whether it is gone already (not when the watcher was asked).
    pub(super) async fn remove_in_container(
        &mut self,
        path: &RelPath,
        agreed: Hash,
        local: &Seen,
        remote: &Seen,
        report: &mut SyncReport,
    ) -> bool {
        if self.watcher.as_ref().is_some_and(|w| w.remove(path, agreed)) {
            return false;
        }
        match self.remote.remove(&self.app_root, path, agreed).await {
            Ok(true) => {
                let state = self.files.entry(path.clone()).or_default();
                state.base = Base::Agreed(None);
                state.remote_seen = Some((None, None));
                state.reported = None;
                report.removed_in_container.push(path.clone());
                true
            }
            // It holds something else now: the next look sees what, and decides again.
            Ok(false) => false,
            Err(e) => {
                let why = format!("it could not be removed there: {e}");
                self.report_deletion(path, Action::DeletedInWorkspace, local, remote, Some(&why), report);
                false
            }
        }
    }

    /// Copies the workspace's version (`local`) of `path` into the container.
    pub(super) async fn push(&mut self, path: &RelPath, local: &Seen, report: &mut SyncReport) -> bool {
        let Some(content) = local.content.clone() else {
            return false;
        };
        match self.put_file(path, content, local.executable).await {
            Ok(()) => {
                let target = path.in_container(&self.app_root);
                let stat = self.remote.stat(&target).await.ok().flatten().map(|s| (s.size, s.mtime));
                let state = self.files.entry(path.clone()).or_default();
                state.remote_seen = Some((local.hash, stat));
                state.changed_in_container = true;
                report.pushed.push(path.clone());
                true
            }
            Err(e) => {
                report.notes.push(format!("could not copy {path} into the container: {e}"));
                false
            }
        }
    }

    /// Puts one file into the container: into its folder if that exists,
    /// else from the app root with the missing folders.
    async fn put_file(&self, path: &RelPath, content: Bytes, executable: bool) -> Result<(), ContainerError> {
        let mode = if executable { 0o755 } else { 0o644 };
        let dir = match path.parent() {
            Some(parent) => parent.in_container(&self.app_root),
            None => self.app_root.clone(),
        };
        let single = pack_off_runtime(Vec::new(), path.file_name().to_owned(), content.clone(), mode).await?;
        match self.remote.put(&dir, single).await {
            Err(ContainerError::PathNotFound { .. }) if path.parent().is_some() => {
                let folders: Vec<String> = path
                    .parent()
                    .map(|p| {
                        let parts: Vec<&str> = p.components().collect();
                        (1..=parts.len()).map(|n| parts[..n].join("/")).collect()
                    })
                    .unwrap_or_default();
                let archive = pack_off_runtime(folders, path.as_str().to_owned(), content, mode).await?;
                self.remote.put(&self.app_root, archive).await
            }
            other => other,
        }
    }
}

/// `pack` on the blocking pool (it copies the whole file).
async fn pack_off_runtime(
    folders: Vec<String>,
    name: String,
    content: Bytes,
    mode: u32,
) -> Result<Bytes, ContainerError> {
    off_runtime(&format!("packing {name}"), move || pack(&folders, &name, &content, mode))
        .await
        .map_err(ContainerError::Api)?
        .map_err(|e| ContainerError::Api(e.to_string()))
}

/// A tar archive holding `folders` (relative names, outermost first) and one file.
pub fn pack(folders: &[String], name: &str, content: &[u8], mode: u32) -> std::io::Result<Bytes> {
    let mut builder = tar::Builder::new(Vec::new());
    let mtime = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    for folder in folders {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        header.set_mtime(mtime);
        builder.append_data(&mut header, format!("{folder}/"), std::io::empty())?;
    }
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(mode);
    header.set_size(content.len() as u64);
    header.set_mtime(mtime);
    builder.append_data(&mut header, name, content)?;
    Ok(Bytes::from(builder.into_inner()?))
}
