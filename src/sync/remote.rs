//! The container side of sync: `container::ContainerRef` seen through the
//! `Remote` trait. Only translation lives here; the Engine API calls are in
//! `container::archive`.

use bytes::Bytes;

use super::engine::{Remote, RemoteChange, RemoteKind, RemoteStat};
use super::proof::Identity;
use crate::container::{ContainerError, ContainerRef};

impl Remote for ContainerRef {
    async fn changes(&self) -> Result<Vec<RemoteChange>, ContainerError> {
        let list = ContainerRef::changes(self).await?;
        Ok(list.into_iter().map(|c| RemoteChange { path: c.path, deleted: c.deleted, links: None }).collect())
    }

    async fn changes_once(&self, app_root: &str) -> Result<Vec<RemoteChange>, ContainerError> {
        let root = app_root.trim_end_matches('/');
        if let Some(files) = self.quick_changes(root).await {
            return Ok(files
                .into_iter()
                .map(|(f, links)| RemoteChange { path: format!("{root}/{f}"), deleted: false, links: Some(links) })
                .collect());
        }
        Remote::changes(self).await
    }

    async fn stat(&self, path: &str) -> Result<Option<RemoteStat>, ContainerError> {
        let Some(stat) = ContainerRef::stat(self, path).await? else {
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
        self.download(path, max_bytes).await
    }

    async fn put(&self, dir: &str, archive: Bytes) -> Result<(), ContainerError> {
        self.upload(dir, archive).await
    }

    async fn identities(&self, paths: &[String]) -> Result<Vec<Identity>, ContainerError> {
        let seen = ContainerRef::identities(self, paths).await?;
        Ok(seen
            .into_iter()
            .map(|i| Identity { path: i.path, kind: i.kind, inode: i.inode, links: i.links, ctime: i.ctime })
            .collect())
    }
}
