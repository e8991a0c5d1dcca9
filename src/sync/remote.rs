//! The container side of sync: the session's `Runtime` seen through the
//! `Remote` trait. Only translation lives here; which runtime it is (a
//! Docker container, a pod) sync never learns.

use std::sync::Arc;

use bytes::Bytes;

use super::engine::{Remote, RemoteChange, RemoteKind, RemoteStat};
use super::extract::Hash;
use super::names::{HostOs, RelPath};
use super::proof::Identity;
use super::watch::{self, WatchEvent};
use crate::runtime::{Change, ContainerError, FileKind, FileStat, Link, Runtime};

fn change(c: Change) -> RemoteChange {
    RemoteChange { path: c.path, deleted: c.deleted, links: c.links }
}

fn remote_stat(stat: FileStat) -> RemoteStat {
    let kind = match stat.kind {
        FileKind::File => RemoteKind::File,
        FileKind::Folder => RemoteKind::Folder,
        FileKind::Link(target) => RemoteKind::Link(target),
        FileKind::Other => RemoteKind::Other,
    };
    RemoteStat { size: stat.size, mtime: stat.mtime, kind }
}

impl Remote for Arc<dyn Runtime> {
    async fn changes(&self) -> Result<Vec<RemoteChange>, ContainerError> {
        tracing::debug!("reading the container's change list");
        Ok(Runtime::changes(self.as_ref()).await?.into_iter().map(change).collect())
    }

    async fn changes_once(&self, app_root: &str) -> Result<Vec<RemoteChange>, ContainerError> {
        Ok(Runtime::changes_once(self.as_ref(), app_root).await?.into_iter().map(change).collect())
    }

    async fn stat(&self, path: &str) -> Result<Option<RemoteStat>, ContainerError> {
        Ok(Runtime::stat(self.as_ref(), path).await?.map(remote_stat))
    }

    async fn stat_many(&self, paths: &[String]) -> Result<Option<Vec<Option<RemoteStat>>>, ContainerError> {
        let stats = Runtime::stat_many(self.as_ref(), paths).await?;
        Ok(stats.map(|stats| stats.into_iter().map(|s| s.map(remote_stat)).collect()))
    }

    async fn fetch_many(
        &self,
        root: &str,
        files: &[String],
        max_bytes: u64,
    ) -> Result<Option<Vec<Bytes>>, ContainerError> {
        Runtime::read_files(self.as_ref(), root, files, max_bytes).await
    }

    async fn fetch(&self, path: &str, max_bytes: u64) -> Result<Option<Bytes>, ContainerError> {
        self.read_archive(path, max_bytes).await
    }

    async fn put(&self, dir: &str, archive: Bytes) -> Result<(), ContainerError> {
        self.write_archive(dir, archive).await
    }

    async fn identities(&self, paths: &[String]) -> Result<Vec<Identity>, ContainerError> {
        Runtime::identities(self.as_ref(), paths).await
    }

    async fn watch(&self, command: Vec<String>) -> Result<Link, ContainerError> {
        self.exec_stream(command, vec!["DOCKDAP_ROLE=watcher".to_owned()]).await
    }

    fn runs(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Runtime::runs(self.as_ref())
    }

    /// The watcher program's one-removal mode, under the first Python that runs.
    async fn remove(&self, app_root: &str, path: &RelPath, agreed: Hash) -> Result<bool, ContainerError> {
        let mut why = Vec::new();
        for python in ["python3", "python"] {
            let command = watch::removal_command(python, app_root, path, agreed);
            let command: Vec<&str> = command.iter().map(String::as_str).collect();
            let out = Runtime::exec(self.as_ref(), &command).await?;
            let answer = out.stdout.lines().next().unwrap_or_default();
            match watch::parse_line(answer, HostOs::current()) {
                Ok(Some(WatchEvent::Removed(_))) => return Ok(true),
                Ok(Some(WatchEvent::NotRemoved { why, .. })) => return Err(ContainerError::Api(why)),
                Ok(_) if out.code == 0 => return Ok(false),
                _ => why.push(format!("{python}: exit code {}", out.code)),
            }
        }
        Err(ContainerError::Unsupported(format!("no Python runs in the container ({})", why.join("; "))))
    }
}
