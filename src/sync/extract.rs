//! Reading archives that come from a container, which is untrusted input.
//!
//! The entries are iterated one by one (never `Archive::unpack`, whose link
//! handling has a history of escapes: RUSTSEC-2018-0002, -2021-0080,
//! -2026-0067). Only regular files and folders are accepted; symlinks, hard
//! links, devices, FIFOs, sparse files and anything else are refused with a
//! diagnostic. Each name must pass `RelPath::parse` and land inside the
//! mapped folder. Entry count, file size and total size are capped before
//! any content is read, so a header that claims 2 GiB costs nothing.
//! Permission bits are kept only as a cap: a copy never gives group or
//! others more than the container's file did.
//!
//! This module reads; `extract_to` writes what it read through
//! `write::write_beneath` (for callers that want everything, like the tests).

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};
use tar::EntryType;

use super::names::{HostOs, Refusal, RelPath};
use super::write::{self, WriteError};

/// A SHA-256 of a file's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Hash {
        Hash(Sha256::digest(bytes).into())
    }

    /// All of it in hex, as `sha256sum` prints it.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The first bytes in hex, for logs.
    pub fn short(&self) -> String {
        self.0[..4].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Caps on what one archive may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Entries of any kind.
    pub max_entries: usize,
    /// Bytes in one file.
    pub max_file_bytes: u64,
    /// Bytes in all files together.
    pub max_total_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_entries: 10_000, max_file_bytes: 32 << 20, max_total_bytes: 256 << 20 }
    }
}

/// A regular file read from an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveFile {
    /// Where it goes, relative to the mapped folder.
    pub path: RelPath,
    /// Its content.
    pub content: Vec<u8>,
    /// Its hash.
    pub hash: Hash,
    /// Its permission bits in the container (`0o640`): what the workspace
    /// copy may at most give group and others (`write::write_beneath_capped`).
    pub mode: u32,
}

/// What an archive held, and what was refused.
#[derive(Debug, Default)]
pub struct ArchiveContents {
    /// Regular files, in archive order.
    pub files: Vec<ArchiveFile>,
    /// Folders.
    pub dirs: Vec<RelPath>,
    /// Entries refused, each a line for the user.
    pub refusals: Vec<Refusal>,
    /// Set when a cap stopped the reading; what follows was not read.
    pub truncated: Option<String>,
}

/// Where an archive's entries belong: the archive's names are relative to
/// `base` (a POSIX folder in the container), and only what lies inside
/// `root` is wanted. For `GET /archive?path=/var/azureml-app/score.py`,
/// `base` is `/var/azureml-app` and names look like `score.py`; for the
/// whole app folder, `base` is `/var` and names look like `azureml-app/score.py`.
#[derive(Debug, Clone)]
pub struct Placement<'a> {
    /// The folder the archive's names are relative to.
    pub base: &'a str,
    /// The mapped folder in the container.
    pub root: &'a str,
}

impl Placement<'_> {
    /// The path relative to `root` of an archive name, or why not. `None`
    /// means the entry is `root` itself.
    fn locate(&self, name: &str, host: HostOs) -> Result<Option<RelPath>, Refusal> {
        let checked = RelPath::parse(name, host)?;
        let base: Vec<&str> = self.base.split('/').filter(|c| !c.is_empty()).collect();
        let root: Vec<&str> = self.root.split('/').filter(|c| !c.is_empty()).collect();
        let full: Vec<&str> = base.iter().copied().chain(checked.components()).collect();
        if full.len() < root.len() || full[..root.len()] != root[..] {
            if root.starts_with(&full) {
                // A folder above the root (the archive's top entry): nothing to write.
                return Ok(None);
            }
            return Err(Refusal::new(name, format!("it is outside the mapped folder {}", self.root)));
        }
        if full.len() == root.len() {
            return Ok(None);
        }
        RelPath::from_components(full[root.len()..].iter().copied(), host).map(Some)
    }
}

fn kind_name(kind: EntryType) -> String {
    match kind {
        EntryType::Symlink => "a symbolic link".into(),
        EntryType::Link => "a hard link".into(),
        EntryType::Char => "a character device".into(),
        EntryType::Block => "a block device".into(),
        EntryType::Fifo => "a FIFO".into(),
        EntryType::GNUSparse => "a sparse file".into(),
        other => format!("an entry of type {:?}", other.as_byte() as char),
    }
}

/// Reads an archive from the container: accepted files (with content),
/// folders, and refusals. Never fails as a whole on a hostile entry; a
/// broken archive stops the reading with a note in `truncated`.
pub fn read_archive<R: Read>(reader: R, place: &Placement<'_>, limits: Limits, host: HostOs) -> ArchiveContents {
    let mut out = ArchiveContents::default();
    let mut archive = tar::Archive::new(reader);
    let entries = match archive.entries() {
        Ok(entries) => entries,
        Err(e) => {
            out.truncated = Some(format!("the archive cannot be read: {e}"));
            return out;
        }
    };
    let mut count = 0usize;
    let mut total = 0u64;
    for entry in entries {
        let mut entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                out.truncated = Some(format!("the archive is damaged: {e}"));
                break;
            }
        };
        count += 1;
        if count > limits.max_entries {
            out.truncated =
                Some(format!("the archive has more than {} entries; the rest was not read", limits.max_entries));
            break;
        }
        let raw = entry.path_bytes().into_owned();
        let Ok(name) = String::from_utf8(raw.clone()) else {
            out.refusals.push(Refusal::new(String::from_utf8_lossy(&raw), "its name is not UTF-8"));
            continue;
        };
        let kind = entry.header().entry_type();
        if !matches!(kind, EntryType::Regular | EntryType::Directory) {
            out.refusals
                .push(Refusal::new(&name, format!("it is {}; only files and folders are synced", kind_name(kind))));
            continue;
        }
        let path = match place.locate(&name, host) {
            Ok(Some(path)) => path,
            Ok(None) => continue,
            Err(refusal) => {
                out.refusals.push(refusal);
                continue;
            }
        };
        if kind == EntryType::Directory {
            out.dirs.push(path);
            continue;
        }
        let size = entry.size();
        if size > limits.max_file_bytes {
            out.refusals.push(Refusal::new(
                &name,
                format!("it is {size} bytes, over the {} bytes dockdap syncs per file", limits.max_file_bytes),
            ));
            continue;
        }
        if total.saturating_add(size) > limits.max_total_bytes {
            out.truncated =
                Some(format!("the archive holds more than {} bytes; the rest was not read", limits.max_total_bytes));
            break;
        }
        let mode = entry.header().mode().unwrap_or(0o644);
        let mut content = Vec::with_capacity(size as usize);
        if let Err(e) = (&mut entry).take(limits.max_file_bytes + 1).read_to_end(&mut content) {
            out.truncated = Some(format!("the archive is damaged at {name:?}: {e}"));
            break;
        }
        total += content.len() as u64;
        out.files.push(ArchiveFile { path, hash: Hash::of(&content), content, mode: mode & 0o777 });
    }
    out
}

/// What `extract_to` did.
#[derive(Debug, Default)]
pub struct Extraction {
    /// Files written.
    pub written: Vec<RelPath>,
    /// Lines for the user: refused entries, refused writes, caps hit.
    pub diagnostics: Vec<String>,
}

/// Reads an archive and writes every accepted file beneath `root` (folders
/// are created as files need them). For callers that want the whole archive;
/// sync decides file by file instead.
pub fn extract_to<R: Read>(reader: R, root: &Path, place: &Placement<'_>, limits: Limits, host: HostOs) -> Extraction {
    let contents = read_archive(reader, place, limits, host);
    let mut out =
        Extraction { written: Vec::new(), diagnostics: contents.refusals.iter().map(|r| r.to_string()).collect() };
    if let Some(why) = &contents.truncated {
        out.diagnostics.push(why.clone());
    }
    for file in contents.files {
        match write::write_beneath_capped(root, &file.path, &file.content, file.mode) {
            Ok(()) => out.written.push(file.path),
            Err(e @ (WriteError::Refused { .. } | WriteError::Io { .. })) => out.diagnostics.push(e.to_string()),
        }
    }
    out
}
