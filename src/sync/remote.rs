//! The container side of sync: `container::ContainerRef` seen through the
//! `Remote` trait. Only translation lives here; the Engine API calls are in
//! `container::archive`.
//!
//! The change list is what finds files the container created, and sync reads
//! it at the start, on every stop of the debuggee, every few seconds and at
//! the end. `docker diff` takes seconds on fuse-overlayfs engines (rootless
//! and nested Docker), which made the last sync of a session ~3 s and a new
//! container file ~11 s late; `find` under the app folder takes tens of
//! milliseconds. So `AppContainer` lists with `find` and falls back to
//! `docker diff` for good when the image has no GNU `find`. `find` does not
//! see deletions; files sync knows are still stat'ed, so their deletion is
//! still noticed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use tokio::sync::OnceCell;

use super::engine::{Remote, RemoteChange, RemoteKind, RemoteStat};
use crate::container::{ContainerError, ContainerRef};

/// A container and the app folder sync works on.
#[derive(Debug, Clone)]
pub struct AppContainer {
    container: ContainerRef,
    app_root: String,
    /// When the container was created (RFC 3339): `find`'s reference time.
    created: Arc<OnceCell<Option<String>>>,
    /// Cleared the first time `find` fails: `docker diff` from then on.
    find_works: Arc<AtomicBool>,
}

impl AppContainer {
    /// Sync of `app_root` in `container`.
    pub fn new(container: ContainerRef, app_root: &str) -> AppContainer {
        AppContainer {
            container,
            app_root: app_root.trim_end_matches('/').to_owned(),
            created: Arc::new(OnceCell::new()),
            find_works: Arc::new(AtomicBool::new(true)),
        }
    }

    /// The changed files under the app folder by `find`, or `None`.
    async fn listed_by_find(&self) -> Option<Vec<RemoteChange>> {
        if !self.find_works.load(Ordering::Relaxed) || self.app_root.is_empty() {
            return None;
        }
        let created = self.created.get_or_init(|| async { self.container.created().await.ok() }).await;
        let files = match created {
            Some(created) => self.container.changed_since(&self.app_root, created).await,
            None => None,
        };
        let Some(files) = files else {
            tracing::debug!("listing the container's changes with docker diff from now on");
            self.find_works.store(false, Ordering::Relaxed);
            return None;
        };
        Some(
            files
                .into_iter()
                .map(|f| RemoteChange { path: format!("{}/{f}", self.app_root), deleted: false })
                .collect(),
        )
    }
}

impl Remote for AppContainer {
    async fn changes(&self) -> Result<Vec<RemoteChange>, ContainerError> {
        if let Some(listed) = self.listed_by_find().await {
            return Ok(listed);
        }
        let list = ContainerRef::changes(&self.container).await?;
        Ok(list.into_iter().map(|c| RemoteChange { path: c.path, deleted: c.deleted }).collect())
    }

    async fn stat(&self, path: &str) -> Result<Option<RemoteStat>, ContainerError> {
        let Some(stat) = ContainerRef::stat(&self.container, path).await? else {
            return Ok(None);
        };
        let kind = if stat.is_dir() {
            RemoteKind::Folder
        } else if stat.is_symlink() {
            RemoteKind::Link(stat.link_target.clone())
        } else if stat.is_file() {
            RemoteKind::File
        } else {
            RemoteKind::Other
        };
        Ok(Some(RemoteStat { size: stat.size, mtime: stat.mtime, kind }))
    }

    async fn fetch(&self, path: &str, max_bytes: u64) -> Result<Option<Bytes>, ContainerError> {
        self.container.download(path, max_bytes).await
    }

    async fn put(&self, dir: &str, archive: Bytes) -> Result<(), ContainerError> {
        self.container.upload(dir, archive).await
    }
}
