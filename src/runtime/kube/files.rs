//! The pod's files for sync, through commands run by exec: Kubernetes has
//! no file API (`kubectl cp` is `tar` over exec too). `find` lists what
//! changed and who a path is, `tar` carries archives both ways over the
//! exec stream's stdout and stdin.

use bytes::Bytes;

use super::exec::PodRef;
use crate::runtime::{Change, ContainerError, FileIdentity, FileKind, FileStat, files};

impl PodRef {
    /// Files under `root` changed since `since` (RFC 3339), with link
    /// counts. Deleted files are not seen.
    pub async fn changed_since(&self, root: &str, since: &str) -> Result<Vec<Change>, ContainerError> {
        let root = root.trim_end_matches('/');
        let (code, out) = self.run_text(&files::changed_since_command(root, since)).await?;
        if code != 0 && out.is_empty() {
            return Err(ContainerError::Unusable(format!(
                "GNU find could not list the changed files under {root} in {} (exit code {code}); sync needs `find` in the image",
                self.describe()
            )));
        }
        Ok(files::parse_changed(root, &out)
            .into_iter()
            .map(|(f, links)| Change { path: format!("{root}/{f}"), deleted: false, links: Some(links) })
            .collect())
    }

    /// What is at `path`, by `find -printf`.
    pub async fn stat(&self, path: &str) -> Result<Option<FileStat>, ContainerError> {
        let (code, out) = self.run_text(&["find", path, "-maxdepth", "0", "-printf", "%s %T@ %y %l"]).await?;
        if code != 0 || out.is_empty() {
            return Ok(None);
        }
        Ok(parse_stat(&out))
    }

    /// What is at each of `paths` (absolute), by one `find -printf` for at
    /// most [`MANY`] of them: a first look over a workspace costs one exec
    /// through the API server per [`MANY`] files, not one per file. A path
    /// `find` does not print is missing. `None` when `find` could not run.
    pub async fn stat_many(&self, paths: &[String]) -> Result<Option<Vec<Option<FileStat>>>, ContainerError> {
        let mut stats = Vec::with_capacity(paths.len());
        for chunk in paths.chunks(MANY) {
            let mut cmd = vec!["find"];
            cmd.extend(chunk.iter().map(String::as_str));
            cmd.extend(["-maxdepth", "0", "-printf", "%s %T@ %y %p\\0%l\\0"]);
            let (code, out) = self.run_text(&cmd).await?;
            if code != 0 && out.is_empty() {
                return Ok(None);
            }
            let mut found = parse_stats(&out);
            stats.extend(chunk.iter().map(|p| found.remove(p.as_str())));
        }
        Ok(Some(stats))
    }

    /// `tar -c` of the regular files `files` (relative to `root`, names kept
    /// relative to it): one archive per [`MANY`] files, at most `max` bytes
    /// in all; `None` when tar could not read one of them (the caller then
    /// looks at each on its own, and says what was wrong).
    pub async fn read_files(
        &self,
        root: &str,
        files: &[String],
        max: u64,
    ) -> Result<Option<Vec<Bytes>>, ContainerError> {
        let mut archives = Vec::new();
        let mut left = max;
        for chunk in files.chunks(MANY) {
            let mut cmd = vec!["tar", "-C", root, "-cf", "-", "--"];
            cmd.extend(chunk.iter().map(String::as_str));
            let (code, out, _) = self.run(&cmd, None, left).await?;
            if code != 0 || out.len() as u64 > left {
                return Ok(None);
            }
            left -= out.len() as u64;
            archives.push(Bytes::from(out));
        }
        Ok(Some(archives))
    }

    /// `files::identities_command`, else the same in Python.
    pub async fn identities(&self, paths: &[String]) -> Result<Vec<FileIdentity>, ContainerError> {
        match self.run_text(&files::identities_command(paths)).await {
            Ok((0 | 1, out)) if !out.is_empty() || paths.is_empty() => return Ok(files::parse_identities(&out)),
            _ => {}
        }
        for python in ["python3", "python"] {
            let mut cmd = vec![python, "-I", "-S", "-c", files::IDENTITIES_PY];
            cmd.extend(paths.iter().map(String::as_str));
            if let Ok((0, out)) = self.run_text(&cmd).await {
                return Ok(files::parse_identities(&out));
            }
        }
        Err(ContainerError::Unusable(format!(
            "neither GNU find nor Python can run in {}, so the link count of its files cannot be read",
            self.describe()
        )))
    }

    /// `tar -c` of `path` (names relative to its folder), at most `max` bytes.
    pub async fn read_archive(&self, path: &str, max: u64) -> Result<Option<Bytes>, ContainerError> {
        if self.stat(path).await?.is_none() {
            return Ok(None);
        }
        let trimmed = path.trim_end_matches('/');
        let (dir, name) = match trimmed.rsplit_once('/') {
            Some(("", name)) => ("/", name),
            Some((dir, name)) => (dir, name),
            None => (".", trimmed),
        };
        let (code, out, err) = self.run(&["tar", "-C", dir, "-cf", "-", "--", name], None, max).await?;
        if code != 0 {
            return Err(ContainerError::Unusable(format!(
                "tar could not read {path} in {} (exit code {code}): {}",
                self.describe(),
                err.trim()
            )));
        }
        Ok(Some(Bytes::from(out)))
    }

    /// Extracts `archive` into the folder `dir` with `tar -x`, as the user
    /// exec runs as, keeping folders that exist. One exec: whether `dir` is
    /// a folder is asked only when tar fails (each exec is a round trip
    /// through the API server, and a save is copied with this one).
    pub async fn write_archive(&self, dir: &str, archive: Bytes) -> Result<(), ContainerError> {
        let cmd = ["tar", "-C", dir, "-xf", "-", "--no-overwrite-dir", "--no-same-owner"];
        let (code, _, err) = self.run(&cmd, Some(archive), 1024 * 1024).await?;
        if code != 0 && !matches!(self.stat(dir).await?, Some(FileStat { kind: FileKind::Folder, .. })) {
            return Err(ContainerError::PathNotFound { container: self.describe(), path: dir.to_owned() });
        }
        if code != 0 {
            return Err(ContainerError::Unusable(format!(
                "the pod refused the files for {dir} (tar exit code {code}: {}); a folder and a file of the same name?",
                err.trim()
            )));
        }
        Ok(())
    }
}

/// Most paths in one `find` or `tar` command line: the command travels in
/// the exec request's URL, which API servers and proxies cap.
const MANY: usize = 200;

/// `%s %T@ %y %p\0%l\0` for many paths: each path's stat, by path.
fn parse_stats(out: &str) -> std::collections::HashMap<&str, FileStat> {
    let mut fields = out.split('\0');
    let mut found = std::collections::HashMap::new();
    while let (Some(head), Some(target)) = (fields.next(), fields.next()) {
        let mut parts = head.splitn(4, ' ');
        let (Some(size), Some(mtime), Some(kind), Some(path)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let line = format!("{size} {mtime} {kind} {target}");
        if let Some(stat) = parse_stat(&line) {
            found.insert(path, stat);
        }
    }
    found
}

/// `%s %T@ %y %l`: size, modification time, kind, symlink target.
fn parse_stat(out: &str) -> Option<FileStat> {
    let mut fields = out.splitn(4, ' ');
    let size = fields.next()?.parse().ok()?;
    let mtime = fields.next()?.to_owned();
    let kind = match fields.next()? {
        "f" => FileKind::File,
        "d" => FileKind::Folder,
        "l" => FileKind::Link(fields.next().unwrap_or_default().to_owned()),
        _ => FileKind::Other,
    };
    Some(FileStat { size, mtime, kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines() {
        let file = parse_stat("12 1700000000.5 f ").unwrap();
        assert_eq!((file.size, file.mtime.as_str(), file.kind), (12, "1700000000.5", FileKind::File));
        assert_eq!(parse_stat("0 1.0 l /etc/passwd").unwrap().kind, FileKind::Link("/etc/passwd".into()));
        assert_eq!(parse_stat("4096 1.0 d ").unwrap().kind, FileKind::Folder);
        assert_eq!(parse_stat("0 1.0 p ").unwrap().kind, FileKind::Other);
        assert_eq!(parse_stat("junk"), None);
    }

    #[test]
    fn many_stats_are_read_by_path_even_with_spaces() {
        let out =
            ["12 1.5 f /app/a b.py", "", "4096 2.0 d /app/sub", "", "0 3.0 l /app/link", "/etc/passwd", ""].join("\0");
        let found = parse_stats(&out);
        assert_eq!(found.len(), 3);
        assert_eq!(found["/app/a b.py"], FileStat { size: 12, mtime: "1.5".into(), kind: FileKind::File });
        assert_eq!(found["/app/sub"].kind, FileKind::Folder);
        assert_eq!(found["/app/link"].kind, FileKind::Link("/etc/passwd".into()));
        // A cut-off answer loses its last entry, never shifts the others.
        assert_eq!(parse_stats("12 1.5 f /app/x").len(), 0);
    }
}
