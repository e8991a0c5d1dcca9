//! How the sync engine reaches the container: the `Remote` trait, which
//! the session's `Runtime` serves and the tests fake, and what it reports.

use std::future::Future;

use bytes::Bytes;

use super::super::extract::Hash;
use super::super::names::RelPath;
use super::super::proof::Identity;
use crate::runtime::{ContainerError, Link};

/// What the container's file system says about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteStat {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, as the engine reports it.
    pub mtime: String,
    /// What it is.
    pub kind: RemoteKind,
}

/// What a path in the container is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteKind {
    /// A regular file.
    File,
    /// A folder.
    Folder,
    /// A symbolic link, and where it points.
    Link(String),
    /// A device, FIFO, socket or anything else.
    Other,
}

/// A change the container's change list reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteChange {
    /// The absolute path in the container.
    pub path: String,
    /// Whether it was deleted.
    pub deleted: bool,
    /// Its link count, when the list says (`find` does, `docker diff` does not).
    pub links: Option<u64>,
}

/// The container side, as sync needs it. Paths are absolute POSIX paths in the container.
pub trait Remote: Clone + Send + Sync + 'static {
    /// Everything the container changed since it started.
    fn changes(&self) -> impl Future<Output = Result<Vec<RemoteChange>, ContainerError>> + Send;
    /// The same list for a one-off look (the first look, the last sync),
    /// read the quickest way the container allows. The periodic reads use
    /// `changes`, which must never exec into the container: an exec racing
    /// `docker pause` can wedge the container (runc#2753).
    fn changes_once(&self, app_root: &str) -> impl Future<Output = Result<Vec<RemoteChange>, ContainerError>> + Send {
        let _ = app_root;
        self.changes()
    }
    /// What is at `path`, or `None` if nothing.
    fn stat(&self, path: &str) -> impl Future<Output = Result<Option<RemoteStat>, ContainerError>> + Send;
    /// What is at each of `paths`, in as few calls as the container allows;
    /// `None` when it does no better than one `stat` each (the default).
    fn stat_many(
        &self,
        paths: &[String],
    ) -> impl Future<Output = Result<Option<Vec<Option<RemoteStat>>>, ContainerError>> + Send {
        let _ = paths;
        async { Ok(None) }
    }
    /// Tar archives of the regular files `files` (relative to `root`, names
    /// relative to it), at most `max_bytes` in all, in as few calls as the
    /// container allows; `None` when it does no better than one `fetch`
    /// each (the default) or could not read one of them.
    fn fetch_many(
        &self,
        root: &str,
        files: &[String],
        max_bytes: u64,
    ) -> impl Future<Output = Result<Option<Vec<Bytes>>, ContainerError>> + Send {
        let _ = (root, files, max_bytes);
        async { Ok(None) }
    }
    /// A tar archive of `path` (names relative to its folder), at most
    /// `max_bytes` long, or `None` if there is nothing at `path`.
    fn fetch(&self, path: &str, max_bytes: u64) -> impl Future<Output = Result<Option<Bytes>, ContainerError>> + Send;
    /// Extracts a tar archive into folder `dir`, never replacing a folder by
    /// a file or a file by a folder. Fails with `PathNotFound` if `dir` does not exist.
    fn put(&self, dir: &str, archive: Bytes) -> impl Future<Output = Result<(), ContainerError>> + Send;
    /// The identity (kind, inode, link count, change time) of each of
    /// `paths` that exists, not following a symlink at the path; see `proof`.
    fn identities(&self, paths: &[String]) -> impl Future<Output = Result<Vec<Identity>, ContainerError>> + Send;
    /// Starts `command` in the container, once per session, and hands back
    /// its stdout and stdin: sync's watcher (`watch`). Never while the
    /// container is paused.
    fn watch(&self, command: Vec<String>) -> impl Future<Output = Result<Link, ContainerError>> + Send {
        let _ = command;
        async { Err(ContainerError::Unsupported("this container cannot run a watcher".into())) }
    }
    /// Counts the container's new runs after restarts (its processes, the
    /// watcher among them, end with a run); `None` where not followed.
    fn runs(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
    /// Removes `path` under `app_root` if it still holds content hashing to
    /// `agreed`, through one process in the container, where no watcher
    /// runs (the watcher does it otherwise, `watch::Control`). `Ok(true)`:
    /// removed; `Ok(false)`: it holds something else now, or nothing.
    /// Never while the container is paused.
    fn remove(
        &self,
        app_root: &str,
        path: &RelPath,
        agreed: Hash,
    ) -> impl Future<Output = Result<bool, ContainerError>> + Send {
        let _ = (app_root, path, agreed);
        async { Err(ContainerError::Unsupported("this container cannot remove files".into())) }
    }
}
