//! Writing the sync engine's decisions out: a file into the workspace
//! (atomically, beneath the root), the container's version beside a
//! conflicting workspace file, a file into the container (as a one-file
//! archive, with its missing folders when needed). Nothing is decided here.

use bytes::Bytes;

use super::{Remote, SyncEngine, SyncReport};
use crate::container::ContainerError;
use crate::sync::extract::Hash;
use crate::sync::names::{CONFLICT_SUFFIX, RelPath};
use crate::sync::write;

impl<R: Remote> SyncEngine<R> {
    pub(super) fn pull(&mut self, path: &RelPath, content: &[u8], executable: bool, report: &mut SyncReport) -> bool {
        match write::write_beneath(&self.workspace, path, content, executable) {
            Ok(()) => {
                report.pulled.push(path.clone());
                true
            }
            Err(e) => {
                report.notes.push(e.to_string());
                false
            }
        }
    }

    pub(super) fn write_conflict_copy(&mut self, path: &RelPath, content: &[u8], report: &mut SyncReport) -> bool {
        let beside = path.with_suffix(CONFLICT_SUFFIX);
        match write::write_beneath(&self.workspace, &beside, content, false) {
            Ok(()) => true,
            Err(e) => {
                report.notes.push(e.to_string());
                false
            }
        }
    }

    pub(super) async fn push(
        &mut self,
        path: &RelPath,
        content: &[u8],
        executable: bool,
        report: &mut SyncReport,
    ) -> bool {
        let result = self.put_file(path, content, executable).await;
        match result {
            Ok(()) => {
                let target = path.in_container(&self.app_root);
                let stat = self.remote.stat(&target).await.ok().flatten().map(|s| (s.size, s.mtime));
                let state = self.files.entry(path.clone()).or_default();
                state.remote_seen = Some((Some(Hash::of(content)), stat));
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
    pub(super) async fn put_file(
        &self,
        path: &RelPath,
        content: &[u8],
        executable: bool,
    ) -> Result<(), ContainerError> {
        let mode = if executable { 0o755 } else { 0o644 };
        let dir = match path.parent() {
            Some(parent) => parent.in_container(&self.app_root),
            None => self.app_root.clone(),
        };
        let single = pack(&[], path.file_name(), content, mode).map_err(|e| ContainerError::Api(e.to_string()))?;
        match self.remote.put(&dir, single).await {
            Err(ContainerError::PathNotFound { .. }) if path.parent().is_some() => {
                let folders: Vec<String> = path
                    .parent()
                    .map(|p| {
                        let parts: Vec<&str> = p.components().collect();
                        (1..=parts.len()).map(|n| parts[..n].join("/")).collect()
                    })
                    .unwrap_or_default();
                let archive =
                    pack(&folders, path.as_str(), content, mode).map_err(|e| ContainerError::Api(e.to_string()))?;
                self.remote.put(&self.app_root, archive).await
            }
            other => other,
        }
    }
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
