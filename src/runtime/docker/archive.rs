//! Files in a container through the Engine API: the change list (`docker
//! diff`, or `find` with each file's link count), a path's stat, the
//! identity of paths (inode, link count, change time: what proves that an
//! archive held the file at its path and not a hard link to another one),
//! archives out (`GET /archive`) and in (`PUT /archive` with
//! `noOverwriteDirNonDir`).
//!
//! These are `ContainerRef` methods. They move bytes and report what the
//! engine says; they do not judge archives (the container is untrusted:
//! `sync::extract` checks every entry) and never unpack anything on the host.

use bollard::models::ChangeType;
use bollard::query_parameters::{
    ContainerArchiveInfoOptions, DownloadFromContainerOptions, InspectContainerOptions, UploadToContainerOptions,
};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use super::engine::{ContainerError, Subject};
use super::handle::ContainerRef;
use crate::runtime::{Change, FileIdentity, FileKind, FileStat, files};

/// What is at a path in the container, as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PathStat {
    size: u64,
    mtime: String,
    /// Go's `os.FileMode` bits, as the engine sends them.
    mode: u32,
    /// Where a symlink points; empty otherwise.
    link_target: String,
}

impl PathStat {
    const DIR: u32 = 1 << 31;
    const SYMLINK: u32 = 1 << 27;
    const DEVICE: u32 = 1 << 26;
    const NAMED_PIPE: u32 = 1 << 25;
    const SOCKET: u32 = 1 << 24;
    const CHAR_DEVICE: u32 = 1 << 21;
    const IRREGULAR: u32 = 1 << 19;

    /// A folder.
    fn is_dir(&self) -> bool {
        self.mode & Self::DIR != 0
    }

    /// A symbolic link.
    fn is_symlink(&self) -> bool {
        self.mode & Self::SYMLINK != 0
    }

    /// A regular file.
    fn is_file(&self) -> bool {
        self.mode
            & (Self::DIR
                | Self::SYMLINK
                | Self::DEVICE
                | Self::NAMED_PIPE
                | Self::SOCKET
                | Self::CHAR_DEVICE
                | Self::IRREGULAR)
            == 0
    }
}

impl PathStat {
    fn into_file_stat(self) -> FileStat {
        let kind = if self.is_dir() {
            FileKind::Folder
        } else if self.is_symlink() {
            FileKind::Link(self.link_target.clone())
        } else if self.is_file() {
            FileKind::File
        } else {
            FileKind::Other
        };
        FileStat { size: self.size, mtime: self.mtime, kind }
    }
}

impl ContainerRef {
    /// Every path the container added, changed or deleted since it was created.
    pub async fn changes(&self) -> Result<Vec<Change>, ContainerError> {
        let list = self
            .engine
            .docker
            .container_changes(&self.id)
            .await
            .map_err(|e| self.engine.error(e, Subject::Container(&self.name)))?;
        Ok(list
            .unwrap_or_default()
            .into_iter()
            .map(|c| Change { path: c.path, deleted: c.kind == ChangeType::_2, links: None })
            .collect())
    }

    /// `changed_since_with_links` the container's creation, for a one-off
    /// look; `None` (use `changes()`) when the container is paused (no process
    /// is ever started in a paused container, runc#2753) or `find` cannot run.
    pub async fn quick_changes(&self, root: &str) -> Option<Vec<(String, u64)>> {
        let inspect = self.engine.docker.inspect_container(&self.id, None::<InspectContainerOptions>).await.ok()?;
        if inspect.state.as_ref().and_then(|s| s.paused).unwrap_or(false) || root.is_empty() {
            return None;
        }
        self.changed_since_with_links(root, inspect.created.as_deref()?).await
    }

    /// Files and links under `root` (relative to it) whose inode changed
    /// after `since` (the container's creation time, RFC 3339), listed by
    /// GNU `find` in the container: tens of milliseconds where `docker diff`
    /// takes seconds on fuse-overlayfs. `None` when the image has no GNU
    /// `find`, `root` is missing or the exec fails: use `changes()` then.
    /// Deleted files are not seen.
    pub async fn changed_since(&self, root: &str, since: &str) -> Option<Vec<String>> {
        let files = self.changed_since_with_links(root, since).await?;
        Some(files.into_iter().map(|(file, _)| file).collect())
    }

    /// `changed_since`, each file with its link count (`find`'s `%n`): a
    /// count above one means the same file is elsewhere in the container
    /// too (a hard link to `/etc/shadow`), which the archive API does not say.
    pub async fn changed_since_with_links(&self, root: &str, since: &str) -> Option<Vec<(String, u64)>> {
        let cmd = files::changed_since_command(root, since);
        match super::exec::run(self, &cmd).await {
            Ok((0, out)) => Some(files::parse_changed(root, &out)),
            Ok((code, _)) => {
                tracing::debug!(code, root, "find in the container failed; reading the change list instead");
                None
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot run find in the container; reading the change list instead");
                None
            }
        }
    }

    /// The identity of each of `paths` (absolute) that exists, looked at
    /// without following a symlink at the path itself: by GNU `find`
    /// (`%C@`: change time in nanoseconds), else by the container's Python
    /// (`-I -S`: nothing of the image's or dockdap's start-up code runs).
    /// Refused for a paused container (an exec would hang, runc#2753).
    pub async fn identities(&self, paths: &[String]) -> Result<Vec<FileIdentity>, ContainerError> {
        let find = files::identities_command(paths);
        // find exits 1 when a path is missing; what it printed still counts.
        match super::exec::run(self, &find).await {
            Ok((0 | 1, out)) if !out.is_empty() || paths.is_empty() => return Ok(files::parse_identities(&out)),
            Err(e @ (ContainerError::Paused { .. } | ContainerError::Frozen { .. })) => return Err(e),
            _ => {}
        }
        for python in ["python3", "python"] {
            let mut cmd = vec![python, "-I", "-S", "-c", files::IDENTITIES_PY];
            cmd.extend(paths.iter().map(String::as_str));
            if let Ok((0, out)) = super::exec::run(self, &cmd).await {
                return Ok(files::parse_identities(&out));
            }
        }
        Err(ContainerError::Unusable(format!(
            "neither GNU find nor Python can run in {}, so the link count of its files cannot be read",
            self.name
        )))
    }

    /// What is at `path`, or `None` if nothing is.
    pub async fn stat(&self, path: &str) -> Result<Option<FileStat>, ContainerError> {
        let options = ContainerArchiveInfoOptions { path: path.to_owned() };
        match self.engine.docker.get_container_archive_info(&self.id, Some(options)).await {
            Ok(stat) => Ok(Some(
                PathStat {
                    size: u64::try_from(stat.size).unwrap_or(0),
                    mtime: stat.modification_time.unwrap_or_default(),
                    mode: stat.file_mode,
                    link_target: stat.link_target,
                }
                .into_file_stat(),
            )),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
            Err(e) => Err(self.engine.error(e, Subject::Container(&self.name))),
        }
    }

    /// A tar archive of `path` (a file or a folder; names relative to its
    /// folder), read into memory up to `max_bytes`; `None` if nothing is there.
    pub async fn download(&self, path: &str, max_bytes: u64) -> Result<Option<Bytes>, ContainerError> {
        let options = DownloadFromContainerOptions { path: path.to_owned() };
        let mut stream = self.engine.docker.download_from_container(&self.id, Some(options));
        let mut buffer = BytesMut::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    if u64::try_from(buffer.len() + bytes.len()).unwrap_or(u64::MAX) > max_bytes {
                        return Err(ContainerError::Unusable(format!(
                            "the archive of {path} in {} is larger than {max_bytes} bytes; it is not copied",
                            self.name
                        )));
                    }
                    buffer.extend_from_slice(&bytes);
                }
                Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, message })
                    if !message.contains("No such container") =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(self.engine.error(e, Subject::Container(&self.name))),
            }
        }
        Ok(Some(buffer.freeze()))
    }

    /// Extracts a tar archive into the folder `dir` of the container. A
    /// folder is never replaced by a file or a file by a folder
    /// (`noOverwriteDirNonDir`): that is an error. A missing `dir` is
    /// `ContainerError::PathNotFound`.
    pub async fn upload(&self, dir: &str, archive: Bytes) -> Result<(), ContainerError> {
        let options = UploadToContainerOptions {
            path: dir.to_owned(),
            no_overwrite_dir_non_dir: Some("1".into()),
            copy_uidgid: None,
        };
        self.engine.docker.upload_to_container(&self.id, Some(options), bollard::body_full(archive)).await.map_err(
            |e| match e {
                bollard::errors::Error::DockerResponseServerError { status_code: 404, ref message }
                    if !message.contains("No such container") =>
                {
                    ContainerError::PathNotFound { container: self.name.clone(), path: dir.to_owned() }
                }
                bollard::errors::Error::DockerResponseServerError { status_code: 400, message } => {
                    ContainerError::Unusable(format!(
                        "the container refused the files for {dir}: {message} (a folder and a file of the same name?)"
                    ))
                }
                e => self.engine.error(e, Subject::Container(&self.name)),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_kinds_from_go_modes() {
        let stat = |mode: u32| PathStat { size: 0, mtime: String::new(), mode, link_target: String::new() };
        assert!(stat(0o644).is_file());
        assert!(stat(0o4755).is_file(), "setuid is still a regular file (its bits are never applied)");
        assert!(stat((1 << 31) | 0o755).is_dir());
        assert!(!stat((1 << 31) | 0o755).is_file());
        assert!(stat((1 << 27) | 0o777).is_symlink());
        assert!(!stat((1 << 27) | 0o777).is_file());
        assert!(!stat((1 << 25) | 0o644).is_file(), "FIFO");
        assert!(!stat((1 << 26) | (1 << 21) | 0o644).is_file(), "char device");
    }
}
