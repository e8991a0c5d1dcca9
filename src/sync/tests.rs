//! Sync without Docker: hostile archives against an escape detector (the
//! T1-T11 cases of the research notes), and the engine against a fake
//! container.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tar::{EntryType, Header};

use super::engine::{Directions, Remote, RemoteChange, RemoteKind, RemoteStat, Side, SyncEngine, pack};
use super::extract::{Hash, Limits, Placement, extract_to};
use super::names::{HostOs, RelPath};
use super::proof::Identity;
use crate::runtime::ContainerError;

// ---------------------------------------------------------------- archives

/// Builds archives with any names, types and modes: `tar::Builder` refuses
/// hostile paths, so headers are written by hand.
struct Hostile(tar::Builder<Vec<u8>>);

impl Hostile {
    fn new() -> Hostile {
        Hostile(tar::Builder::new(Vec::new()))
    }

    fn entry(mut self, name: &str, kind: EntryType, data: &[u8], link: Option<&str>, mode: u32) -> Hostile {
        let mut header = Header::new_gnu();
        let old = header.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(link) = link {
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        self.0.append(&header, data).unwrap();
        self
    }

    fn file(self, name: &str, data: &[u8]) -> Hostile {
        self.entry(name, EntryType::Regular, data, None, 0o644)
    }

    fn symlink(self, name: &str, to: &str) -> Hostile {
        self.entry(name, EntryType::Symlink, b"", Some(to), 0o777)
    }

    fn dir(self, name: &str) -> Hostile {
        self.entry(name, EntryType::Directory, b"", None, 0o755)
    }

    fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// A temporary tree with the workspace `root` inside and things around it;
/// `check` fails if anything outside `root` was created or changed.
struct EscapeDetector {
    _dir: tempfile::TempDir,
    top: PathBuf,
    root: PathBuf,
    outside: PathBuf,
    before: BTreeMap<PathBuf, String>,
    absolute_probe: PathBuf,
}

impl EscapeDetector {
    fn new() -> EscapeDetector {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().to_path_buf();
        let root = top.join("a/b/ws");
        let outside = top.join("outside");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(outside.join("victim-dir")).unwrap();
        fs::write(outside.join("victim"), b"precious").unwrap();
        fs::write(top.join("a/sibling.py"), b"precious").unwrap();
        let absolute_probe = std::env::temp_dir().join(format!("dockdap-escape-probe-{}", std::process::id()));
        let mut detector = EscapeDetector { _dir: dir, top, root, outside, before: BTreeMap::new(), absolute_probe };
        detector.before = detector.snapshot();
        detector
    }

    fn snapshot(&self) -> BTreeMap<PathBuf, String> {
        let mut out = BTreeMap::new();
        let mut stack = vec![self.top.clone()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).unwrap() {
                let entry = entry.unwrap();
                let path = entry.path();
                if path.starts_with(&self.root) {
                    continue;
                }
                let meta = fs::symlink_metadata(&path).unwrap();
                #[cfg(unix)]
                let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions());
                #[cfg(not(unix))]
                let mode = 0;
                let content = if meta.is_file() { fs::read(&path).unwrap() } else { Vec::new() };
                out.insert(path.clone(), format!("{:?} {mode:o} {content:?}", meta.file_type()));
                if meta.is_dir() {
                    stack.push(path);
                }
            }
        }
        out
    }

    #[track_caller]
    fn check(&self) {
        assert_eq!(self.snapshot(), self.before, "something outside the workspace was created or changed");
        assert!(!self.absolute_probe.exists(), "an absolute path was written");
        assert!(!Path::new("/etc/dockdap-escape").exists());
    }

    fn extract(&self, archive: &[u8], host: HostOs, limits: Limits) -> super::extract::Extraction {
        let place = Placement { base: "/var/azureml-app", root: "/var/azureml-app" };
        extract_to(archive, &self.root, &place, limits, host)
    }
}

fn diagnostics_mention(diagnostics: &[String], words: &str) -> bool {
    diagnostics.iter().any(|d| d.contains(words))
}

#[test]
fn t1_climbing_and_absolute_names_are_refused() {
    let d = EscapeDetector::new();
    let probe = format!("{}/x", d.absolute_probe.display());
    let archive = Hostile::new()
        .file("../../etc/x", b"evil")
        .file("../../../outside/victim", b"evil")
        .file(&probe, b"evil")
        .file("/etc/dockdap-escape", b"evil")
        .file("C:\\x", b"evil")
        .file("a/../../x", b"evil")
        .file("ok.py", b"fine")
        .bytes();
    let out = d.extract(&archive, HostOs::Posix, Limits::default());
    d.check();
    assert_eq!(out.written, [RelPath::parse("ok.py", HostOs::Posix).unwrap()]);
    assert_eq!(out.diagnostics.len(), 6, "{:#?}", out.diagnostics);
    assert!(diagnostics_mention(&out.diagnostics, "climbs out"));
    assert!(diagnostics_mention(&out.diagnostics, "absolute"));
    assert!(diagnostics_mention(&out.diagnostics, "backslash"));
}

#[test]
fn t2_symlink_to_parent_then_file_through_it() {
    let d = EscapeDetector::new();
    let archive = Hostile::new().symlink("s", "..").file("s/evil/file", b"evil").bytes();
    let out = d.extract(&archive, HostOs::Posix, Limits::default());
    d.check();
    assert!(diagnostics_mention(&out.diagnostics, "symbolic link"), "{:?}", out.diagnostics);
    // The file lands as a plain file in a plain folder inside the workspace.
    assert!(fs::symlink_metadata(d.root.join("s")).unwrap().is_dir());
    assert_eq!(fs::read(d.root.join("s/evil/file")).unwrap(), b"evil");
}

#[test]
fn t3_symlink_then_same_name_folder_changes_no_mode() {
    let d = EscapeDetector::new();
    let victim = d.outside.join("victim-dir");
    let archive = Hostile::new()
        .symlink("foo", victim.to_str().unwrap())
        .entry("foo", EntryType::Directory, b"", None, 0o777)
        .bytes();
    let out = d.extract(&archive, HostOs::Posix, Limits::default());
    d.check();
    assert!(diagnostics_mention(&out.diagnostics, "symbolic link"));
}

#[test]
fn t4_symlink_then_same_name_file_leaves_the_target_alone() {
    let d = EscapeDetector::new();
    let target = d.outside.join("victim");
    let archive = Hostile::new().symlink("link", target.to_str().unwrap()).file("link", b"pwned").bytes();
    let out = d.extract(&archive, HostOs::Posix, Limits::default());
    d.check();
    assert_eq!(fs::read(&target).unwrap(), b"precious");
    assert!(!fs::symlink_metadata(d.root.join("link")).unwrap().file_type().is_symlink());
    assert_eq!(out.written.len(), 1);
}

#[test]
fn t5_links_devices_and_fifos_are_refused() {
    let d = EscapeDetector::new();
    let archive = Hostile::new()
        .entry("passwd", EntryType::Link, b"", Some("/etc/passwd"), 0o644)
        .entry("tty", EntryType::Char, b"", None, 0o666)
        .entry("disk", EntryType::Block, b"", None, 0o666)
        .entry("pipe", EntryType::Fifo, b"", None, 0o666)
        .entry("sparse", EntryType::GNUSparse, b"", None, 0o644)
        .bytes();
    let out = d.extract(&archive, HostOs::Posix, Limits::default());
    d.check();
    assert!(out.written.is_empty());
    for what in ["a hard link", "a character device", "a block device", "a FIFO"] {
        assert!(diagnostics_mention(&out.diagnostics, what), "{what}: {:?}", out.diagnostics);
    }
    // A sparse header without its map is refused by the parser itself.
    assert!(
        diagnostics_mention(&out.diagnostics, "a sparse file") || diagnostics_mention(&out.diagnostics, "damaged"),
        "{:?}",
        out.diagnostics
    );
    assert_eq!(fs::read_dir(&d.root).unwrap().count(), 0);
}

/// A PAX record: "<len> key=value\n", where len counts the whole record.
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}{body}").len() != len {
        len += 1;
    }
    format!("{len}{body}").into_bytes()
}

#[test]
fn t6_pax_size_disagreeing_with_ustar_size_smuggles_nothing() {
    let d = EscapeDetector::new();
    // The payload is itself a tar header for an escaping file: a reader that
    // trusts the ustar size (0) would see it as the next entry.
    let smuggled = Hostile::new().file("../../smuggled", b"evil").bytes();
    let payload = &smuggled[..1024];
    let mut builder = tar::Builder::new(Vec::new());
    let pax = pax_record("size", &payload.len().to_string());
    let mut xheader = Header::new_ustar();
    xheader.set_entry_type(EntryType::XHeader);
    xheader.set_size(pax.len() as u64);
    xheader.set_path("PaxHeaders/innocent").unwrap();
    xheader.set_cksum();
    builder.append(&xheader, &pax[..]).unwrap();
    let mut file = Header::new_ustar();
    file.set_path("innocent").unwrap();
    file.set_entry_type(EntryType::Regular);
    file.set_size(0);
    file.set_mode(0o644);
    file.set_cksum();
    let mut raw = builder.into_inner().unwrap();
    raw.extend_from_slice(file.as_bytes());
    raw.extend_from_slice(payload);
    raw.extend_from_slice(&[0u8; 1024]);
    let out = d.extract(&raw, HostOs::Posix, Limits::default());
    d.check();
    // tar >= 0.4.45 honours the PAX size: the payload is the file's content.
    assert!(!out.written.iter().any(|p| p.as_str().contains("smuggled")));
    assert!(!d.top.join("a/smuggled").exists() && !d.top.join("smuggled").exists());
}

#[cfg(unix)]
#[test]
fn t7_symlink_already_in_the_workspace_is_not_written_through() {
    let d = EscapeDetector::new();
    std::os::unix::fs::symlink(&d.outside, d.root.join("models")).unwrap();
    let archive = Hostile::new().file("models/victim", b"pwned").file("models/new.py", b"pwned").bytes();
    let out = d.extract(&archive, HostOs::Posix, Limits::default());
    d.check();
    assert!(out.written.is_empty());
    assert_eq!(out.diagnostics.iter().filter(|d| d.contains("symlink")).count(), 2, "{:?}", out.diagnostics);
}

#[test]
fn t9_windows_reserved_names_and_streams_on_windows_hosts() {
    let d = EscapeDetector::new();
    let archive = Hostile::new()
        .file("aux.py", b"x")
        .file("con", b"x")
        .file("score.py:hidden", b"x")
        .file("trailing.", b"x")
        .file("ok.py", b"x")
        .bytes();
    let out = d.extract(&archive, HostOs::Windows, Limits::default());
    d.check();
    assert_eq!(out.written.len(), 1, "{:?}", out.diagnostics);
    assert_eq!(out.diagnostics.len(), 4);
    // The same names are ordinary on a POSIX host (which Windows cannot be).
    if cfg!(unix) {
        let d = EscapeDetector::new();
        assert_eq!(d.extract(&archive, HostOs::Posix, Limits::default()).written.len(), 5);
    }
}

#[test]
fn t10_caps_stop_reading_with_a_message() {
    let limits = Limits { max_entries: 100, max_file_bytes: 1024, max_total_bytes: 4096 };
    // Many tiny files.
    let d = EscapeDetector::new();
    let mut many = Hostile::new();
    for i in 0..150 {
        many = many.file(&format!("f{i}.py"), b"x");
    }
    let out = d.extract(&many.bytes(), HostOs::Posix, limits);
    assert_eq!(out.written.len(), 100);
    assert!(diagnostics_mention(&out.diagnostics, "more than 100 entries"), "{:?}", out.diagnostics);
    // A header that claims 2 GiB: refused from the header alone.
    let mut header = Header::new_gnu();
    header.set_path("huge.bin").unwrap();
    header.set_entry_type(EntryType::Regular);
    header.set_size(2 << 30);
    header.set_cksum();
    let mut raw = header.as_bytes().to_vec();
    raw.extend_from_slice(&[0u8; 4096]);
    let out = d.extract(&raw, HostOs::Posix, limits);
    assert!(diagnostics_mention(&out.diagnostics, "over the 1024 bytes"), "{:?}", out.diagnostics);
    assert!(!d.root.join("huge.bin").exists());
    // Total bytes.
    let d = EscapeDetector::new();
    let mut big = Hostile::new();
    for i in 0..10 {
        big = big.file(&format!("b{i}"), &[b'x'; 1000]);
    }
    let out = d.extract(&big.bytes(), HostOs::Posix, limits);
    assert_eq!(out.written.len(), 4);
    assert!(diagnostics_mention(&out.diagnostics, "more than 4096 bytes"));
    d.check();
}

#[cfg(unix)]
#[test]
fn t11_setuid_and_sticky_bits_are_never_applied() {
    use std::os::unix::fs::PermissionsExt as _;
    let d = EscapeDetector::new();
    let archive = Hostile::new()
        .entry("suid.sh", EntryType::Regular, b"#!/bin/sh", None, 0o6755)
        .entry("sticky", EntryType::Regular, b"x", None, 0o1666)
        .dir("d/")
        .bytes();
    d.extract(&archive, HostOs::Posix, Limits::default());
    d.check();
    let mode = |p: &str| fs::metadata(d.root.join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode("suid.sh"), 0o755);
    assert_eq!(mode("sticky"), 0o644);
}

#[test]
fn archives_of_the_whole_app_folder_are_placed_under_it() {
    let d = EscapeDetector::new();
    let archive =
        Hostile::new().dir("azureml-app/").file("azureml-app/score.py", b"x").file("other-app/score.py", b"x").bytes();
    let place = Placement { base: "/var", root: "/var/azureml-app" };
    let out = extract_to(&archive[..], &d.root, &place, Limits::default(), HostOs::Posix);
    d.check();
    assert_eq!(out.written, [RelPath::parse("score.py", HostOs::Posix).unwrap()]);
    assert!(diagnostics_mention(&out.diagnostics, "outside the mapped folder"));
}

// ---------------------------------------------------------- the fake container

#[derive(Debug, Default)]
struct FakeFs {
    files: BTreeMap<String, (Vec<u8>, u64)>,
    dirs: BTreeSet<String>,
    links: BTreeMap<String, String>,
    changed: BTreeSet<String>,
    /// Archives served instead of the real content (a hostile container).
    hostile: BTreeMap<String, Vec<u8>>,
    /// Link counts above one (a hard link to a file elsewhere).
    nlinks: BTreeMap<String, u64>,
    /// Whether identities cannot be read (no find, no Python, paused).
    blind: bool,
    clock: u64,
    puts: usize,
    /// Stats and archives read.
    looks: usize,
    /// Whether many files are read at once (`stat_many`, `fetch_many`), as from a pod.
    batched: bool,
    /// Calls of `stat_many` and `fetch_many`.
    batch_calls: usize,
    /// Files `fetch_many`'s archive leaves out.
    batch_skips: BTreeSet<String>,
}

impl FakeFs {
    /// The folders on the way to `name` (relative to the app root).
    fn add_folders_of(&mut self, name: &str) {
        let mut at = APP.to_owned();
        let parts: Vec<&str> = name.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            at = format!("{at}/{part}");
            self.dirs.insert(at.clone());
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Fake(Arc<Mutex<FakeFs>>);

const APP: &str = "/var/azureml-app";

impl Fake {
    fn with(files: &[(&str, &str)]) -> Fake {
        let fake = Fake::default();
        {
            let mut fs = fake.0.lock().unwrap();
            fs.dirs.insert(APP.into());
            for (name, content) in files {
                fs.files.insert(format!("{APP}/{name}"), (content.as_bytes().to_vec(), 0));
                fs.add_folders_of(name);
            }
        }
        fake
    }

    /// An edit made inside the container (`docker exec`).
    fn edit(&self, name: &str, content: &str) {
        let mut fs = self.0.lock().unwrap();
        fs.clock += 1;
        let clock = fs.clock;
        let path = format!("{APP}/{name}");
        fs.files.insert(path.clone(), (content.as_bytes().to_vec(), clock));
        fs.changed.insert(path);
        fs.add_folders_of(name);
    }

    /// Makes `name` a hard link: its inode has `links` names.
    fn hard_link(&self, name: &str, links: u64) {
        self.0.lock().unwrap().nlinks.insert(format!("{APP}/{name}"), links);
    }

    fn remove(&self, name: &str) {
        let mut fs = self.0.lock().unwrap();
        let path = format!("{APP}/{name}");
        fs.files.remove(&path);
        fs.changed.insert(path);
    }

    fn content(&self, name: &str) -> Option<String> {
        let fs = self.0.lock().unwrap();
        fs.files.get(&format!("{APP}/{name}")).map(|(c, _)| String::from_utf8(c.clone()).unwrap())
    }

    fn puts(&self) -> usize {
        self.0.lock().unwrap().puts
    }
}

impl Remote for Fake {
    async fn changes(&self) -> Result<Vec<RemoteChange>, ContainerError> {
        let fs = self.0.lock().unwrap();
        Ok(fs
            .changed
            .iter()
            .map(|p| RemoteChange {
                path: p.clone(),
                deleted: !fs.files.contains_key(p) && !fs.links.contains_key(p),
                links: None,
            })
            .collect())
    }

    async fn stat(&self, path: &str) -> Result<Option<RemoteStat>, ContainerError> {
        let mut fs = self.0.lock().unwrap();
        fs.looks += 1;
        if let Some((content, mtime)) = fs.files.get(path) {
            return Ok(Some(RemoteStat {
                size: content.len() as u64,
                mtime: mtime.to_string(),
                kind: RemoteKind::File,
            }));
        }
        if let Some(to) = fs.links.get(path) {
            return Ok(Some(RemoteStat { size: 0, mtime: String::new(), kind: RemoteKind::Link(to.clone()) }));
        }
        if fs.dirs.contains(path) {
            return Ok(Some(RemoteStat { size: 0, mtime: String::new(), kind: RemoteKind::Folder }));
        }
        Ok(None)
    }

    async fn stat_many(&self, paths: &[String]) -> Result<Option<Vec<Option<RemoteStat>>>, ContainerError> {
        if !self.0.lock().unwrap().batched {
            return Ok(None);
        }
        let mut stats = Vec::new();
        for path in paths {
            stats.push(self.stat(path).await?);
        }
        let mut fs = self.0.lock().unwrap();
        fs.looks -= paths.len();
        fs.batch_calls += 1;
        Ok(Some(stats))
    }

    async fn fetch_many(&self, root: &str, files: &[String], _max: u64) -> Result<Option<Vec<Bytes>>, ContainerError> {
        let mut fs = self.0.lock().unwrap();
        if !fs.batched {
            return Ok(None);
        }
        fs.batch_calls += 1;
        let mut archive = tar::Builder::new(Vec::new());
        for name in files {
            let path = format!("{root}/{name}");
            let Some((content, _)) = fs.files.get(&path).filter(|_| !fs.batch_skips.contains(&path)) else { continue };
            let mut header = tar::Header::new_ustar();
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            archive.append_data(&mut header, name, &content[..]).unwrap();
        }
        Ok(Some(vec![Bytes::from(archive.into_inner().unwrap())]))
    }

    async fn fetch(&self, path: &str, _max_bytes: u64) -> Result<Option<Bytes>, ContainerError> {
        let mut fs = self.0.lock().unwrap();
        fs.looks += 1;
        if let Some(archive) = fs.hostile.get(path) {
            return Ok(Some(Bytes::from(archive.clone())));
        }
        let Some((content, _)) = fs.files.get(path) else { return Ok(None) };
        let name = path.rsplit('/').next().unwrap();
        Ok(Some(pack(&[], name, content, 0o644).unwrap()))
    }

    async fn identities(&self, paths: &[String]) -> Result<Vec<Identity>, ContainerError> {
        let fs = self.0.lock().unwrap();
        if fs.blind {
            return Err(ContainerError::Unusable("no find".into()));
        }
        let identity = |path: &String, kind: char, links: u64, ctime: u64| Identity {
            path: path.clone(),
            kind,
            inode: path.len() as u64,
            links,
            ctime: ctime.to_string(),
        };
        Ok(paths
            .iter()
            .filter_map(|p| {
                if let Some((_, clock)) = fs.files.get(p) {
                    Some(identity(p, 'f', fs.nlinks.get(p).copied().unwrap_or(1), *clock))
                } else if fs.links.contains_key(p) {
                    Some(identity(p, 'l', 1, 0))
                } else {
                    fs.dirs.contains(p).then(|| identity(p, 'd', 2, 0))
                }
            })
            .collect())
    }

    async fn put(&self, dir: &str, archive: Bytes) -> Result<(), ContainerError> {
        let mut fs = self.0.lock().unwrap();
        if !fs.dirs.contains(dir) {
            return Err(ContainerError::PathNotFound { container: "fake".into(), path: dir.into() });
        }
        fs.puts += 1;
        let mut archive = tar::Archive::new(&archive[..]);
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().trim_end_matches('/').to_owned();
            let path = format!("{dir}/{name}");
            if entry.header().entry_type() == EntryType::Directory {
                fs.dirs.insert(path);
                continue;
            }
            let mut content = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut content).unwrap();
            fs.clock += 1;
            let clock = fs.clock;
            fs.files.insert(path.clone(), (content, clock));
            fs.changed.insert(path);
        }
        Ok(())
    }

    async fn remove(&self, app_root: &str, path: &RelPath, agreed: Hash) -> Result<bool, ContainerError> {
        let mut fs = self.0.lock().unwrap();
        let full = path.in_container(app_root);
        match fs.files.get(&full) {
            Some((content, _)) if Hash::of(content) == agreed => {
                fs.files.remove(&full);
                fs.changed.insert(full);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

const BOTH: Directions = Directions { from_container: true, to_container: true };

struct Setup {
    _dir: tempfile::TempDir,
    ws: PathBuf,
    fake: Fake,
    engine: SyncEngine<Fake>,
}

fn setup(workspace: &[(&str, &str)], container: &[(&str, &str)]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    fs::create_dir_all(&ws).unwrap();
    for (name, content) in workspace {
        let path = ws.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }
    let fake = Fake::with(container);
    let engine = SyncEngine::new(fake.clone(), ws.clone(), APP, BOTH);
    Setup { _dir: dir, ws, fake, engine }
}

fn rel(s: &str) -> RelPath {
    RelPath::parse(s, HostOs::Posix).unwrap()
}

fn read(ws: &Path, name: &str) -> String {
    fs::read_to_string(ws.join(name)).unwrap()
}

/// Issue 21: a hard link (a file with more than one name) never comes
/// into the workspace, whichever way it would: a pull, a conflict copy, a
/// resolution; nor does anything when its link count cannot be read.
#[tokio::test]
async fn hard_links_and_unprovable_files_are_refused() {
    let mut s = setup(&[("score.py", "v1"), ("both.py", "v1")], &[("score.py", "v1"), ("both.py", "v1")]);
    assert!(s.engine.start().await.is_empty());
    s.fake.edit("shadow.py", "root:$6$secret");
    s.fake.hard_link("shadow.py", 2);
    s.fake.edit("score.py", "v2 linked");
    s.fake.hard_link("score.py", 3);
    fs::write(s.ws.join("both.py"), "v2 here").unwrap();
    s.fake.edit("both.py", "v2 there");
    s.fake.hard_link("both.py", 2);
    let report = s.engine.sync_all().await;
    assert!(report.pulled.is_empty(), "{report:?}");
    assert_eq!(read(&s.ws, "score.py"), "v1");
    assert!(!s.ws.join("shadow.py").exists());
    assert!(!s.ws.join("both.py.container").exists(), "no conflict copy of a hard link");
    for name in ["score.py", "shadow.py", "both.py"] {
        assert!(
            report
                .notes
                .iter()
                .any(|n| n.contains(&format!("{APP}/{name} from the container: it has")) && n.contains("hard links")),
            "{name}: {:?}",
            report.notes
        );
    }
    let resolved = s.engine.resolve(Side::Container, &[]).await;
    assert!(resolved.pulled.is_empty(), "{resolved:?}");
    assert_eq!(read(&s.ws, "both.py"), "v2 here");
    // Once it is a plain file again, it comes in.
    s.fake.hard_link("score.py", 1);
    s.fake.edit("score.py", "v3 plain");
    let report = s.engine.sync_from_container().await;
    assert_eq!(report.pulled, [rel("score.py")], "{report:?}");
    assert_eq!(read(&s.ws, "score.py"), "v3 plain");
    // A container whose link counts cannot be read gives nothing.
    s.fake.0.lock().unwrap().blind = true;
    s.fake.edit("score.py", "v4");
    let report = s.engine.sync_from_container().await;
    assert!(report.pulled.is_empty(), "{report:?}");
    assert!(report.notes.iter().any(|n| n.contains("its link count cannot be read")), "{report:?}");
    assert_eq!(read(&s.ws, "score.py"), "v3 plain");
}

#[tokio::test]
async fn container_edit_is_pulled_and_not_echoed_back() {
    let mut s = setup(&[("score.py", "v1")], &[("score.py", "v1")]);
    let first = s.engine.start().await;
    assert!(first.is_empty(), "{first:?}");
    s.fake.edit("score.py", "v2 from the container");
    let report = s.engine.sync_from_container().await;
    assert_eq!(report.pulled, [rel("score.py")]);
    assert_eq!(read(&s.ws, "score.py"), "v2 from the container");
    // T12: the watcher reports dockdap's own write; nothing goes back.
    let puts = s.fake.puts();
    let report = s.engine.sync_paths(&[rel("score.py")].into()).await;
    assert!(report.is_empty(), "{report:?}");
    assert_eq!(s.fake.puts(), puts);
    // Polling again changes nothing.
    assert!(s.engine.sync_from_container().await.is_empty());
}

#[tokio::test]
async fn workspace_edit_is_pushed_and_not_echoed_back() {
    let mut s = setup(&[("score.py", "v1")], &[("score.py", "v1")]);
    s.engine.start().await;
    fs::write(s.ws.join("score.py"), "v2 from the editor").unwrap();
    let report = s.engine.sync_paths(&[rel("score.py")].into()).await;
    assert_eq!(report.pushed, [rel("score.py")]);
    assert_eq!(s.fake.content("score.py").unwrap(), "v2 from the editor");
    // The container now lists the file as changed; polling must not pull it back.
    let report = s.engine.sync_from_container().await;
    assert!(report.is_empty(), "{report:?}");
    // New files and folders go too.
    fs::create_dir_all(s.ws.join("lib/deep")).unwrap();
    fs::write(s.ws.join("lib/deep/helper.py"), "def f(): pass").unwrap();
    let report = s.engine.sync_all().await;
    assert_eq!(report.pushed, [rel("lib/deep/helper.py")]);
    assert_eq!(s.fake.content("lib/deep/helper.py").unwrap(), "def f(): pass");
}

#[tokio::test]
async fn both_sides_edited_keeps_both_and_reports_once() {
    let mut s = setup(&[("score.py", "v1")], &[("score.py", "v1")]);
    s.engine.start().await;
    s.fake.edit("score.py", "container's fix");
    fs::write(s.ws.join("score.py"), "editor's fix").unwrap();
    let report = s.engine.sync_all().await;
    assert_eq!(report.new_conflicts, [rel("score.py")]);
    assert!(report.pulled.is_empty() && report.pushed.is_empty());
    assert!(report.notes[0].starts_with("conflict: score.py changed in both"), "{:?}", report.notes);
    assert_eq!(read(&s.ws, "score.py"), "editor's fix");
    assert_eq!(read(&s.ws, "score.py.container"), "container's fix");
    assert_eq!(s.fake.content("score.py").unwrap(), "container's fix");
    assert_eq!(s.engine.conflicts().collect::<Vec<_>>(), [&rel("score.py")]);
    // Reported once; the sidecar is never synced.
    assert!(s.engine.sync_all().await.is_empty());
    assert!(s.fake.content("score.py.container").is_none());
    // Making both the same resolves it.
    fs::write(s.ws.join("score.py"), "container's fix").unwrap();
    assert!(s.engine.sync_all().await.is_empty());
    assert_eq!(s.engine.conflicts().count(), 0);
}

#[tokio::test]
async fn resolving_a_conflict_for_one_side() {
    let mut s = setup(&[("score.py", "v1")], &[("score.py", "v1")]);
    s.engine.start().await;
    s.fake.edit("score.py", "container");
    fs::write(s.ws.join("score.py"), "workspace").unwrap();
    s.engine.sync_all().await;
    let report = s.engine.resolve(Side::Workspace, &[]).await;
    assert_eq!(report.pushed, [rel("score.py")]);
    assert_eq!(s.fake.content("score.py").unwrap(), "workspace");
    assert_eq!(read(&s.ws, "score.py.container"), "container", "the losing version is kept");
    assert_eq!(s.engine.conflicts().count(), 0);
    // Agreed again: a container edit is now pulled.
    s.fake.edit("score.py", "container 2");
    assert_eq!(s.engine.sync_from_container().await.pulled, [rel("score.py")]);
}

#[tokio::test]
async fn files_that_differ_at_the_start_are_reported_and_left_alone() {
    let mut s = setup(
        &[("score.py", "workspace version"), ("README.md", "docs")],
        &[("score.py", "image version"), ("azureml-models/m/1/model.json", "{}")],
    );
    let report = s.engine.start().await;
    assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
    assert!(report.notes[0].starts_with("1 file(s) differ between the workspace and the container: score.py"));
    assert_eq!(read(&s.ws, "score.py"), "workspace version");
    assert_eq!(s.fake.content("score.py").unwrap(), "image version");
    assert!(!s.ws.join("azureml-models").exists(), "the image's own files are not pulled");
    assert!(s.engine.sync_all().await.is_empty(), "nothing changed, nothing done");
    assert!(s.fake.content("README.md").is_none(), "workspace-only files are not pushed unasked");
    // A workspace-only file that is edited goes in: nothing to lose there.
    fs::write(s.ws.join("README.md"), "docs, edited").unwrap();
    assert_eq!(s.engine.sync_paths(&[rel("README.md")].into()).await.pushed, [rel("README.md")]);
    // An edit to a file that differed is a conflict, not an overwrite.
    fs::write(s.ws.join("score.py"), "workspace version 2").unwrap();
    let report = s.engine.sync_paths(&[rel("score.py")].into()).await;
    assert_eq!(report.new_conflicts, [rel("score.py")]);
    assert_eq!(s.fake.content("score.py").unwrap(), "image version");
    assert_eq!(read(&s.ws, "score.py.container"), "image version");
}

/// A first look over many files, on a container that reads many at once
/// (a pod, where each read is an exec through the API server): one stat of
/// them all and one archive of the files, and the same decisions as a look
/// at each file. A file the archive leaves out is looked at on its own.
#[tokio::test]
async fn the_first_look_reads_many_files_at_once_and_decides_the_same() {
    let workspace =
        [("score.py", "workspace version"), ("same.py", "same"), ("sub/deep.py", "deep"), ("README.md", "docs")];
    let container = [("score.py", "image version"), ("same.py", "same"), ("sub/deep.py", "deep"), ("left.py", "x")];
    let mut one = setup(&workspace, &container);
    let mut many = setup(&workspace, &container);
    many.fake.0.lock().unwrap().batched = true;
    many.fake.0.lock().unwrap().batch_skips.insert(format!("{APP}/sub/deep.py"));
    many.fake.edit("left.py", "container version");
    one.fake.edit("left.py", "container version");
    let (by_one, by_many) = (one.engine.start().await, many.engine.start().await);
    assert_eq!(by_many.notes, by_one.notes);
    assert!(
        by_many.notes[0].starts_with("2 file(s) differ between the workspace and the container: left.py, score.py")
    );
    assert!(one.fake.0.lock().unwrap().looks >= 8, "one by one: a stat and an archive a file");
    let counts = {
        let fs = many.fake.0.lock().unwrap();
        (fs.batch_calls, fs.looks)
    };
    assert_eq!(counts, (2, 2), "one stat and one archive for all, and a look at the file left out");
    for s in [&mut one, &mut many] {
        // Agreed files are pushed when edited; the file that differed stays a conflict.
        fs::write(s.ws.join("same.py"), "same, edited").unwrap();
        fs::write(s.ws.join("sub/deep.py"), "deep, edited").unwrap();
        let report = s.engine.sync_paths(&[rel("same.py"), rel("sub/deep.py")].into()).await;
        assert_eq!(report.pushed, [rel("same.py"), rel("sub/deep.py")]);
        fs::write(s.ws.join("score.py"), "workspace version 2").unwrap();
        assert_eq!(s.engine.sync_paths(&[rel("score.py")].into()).await.new_conflicts, [rel("score.py")]);
        assert!(!s.ws.join("left.py").exists(), "a file that differed is left alone");
    }
}

#[tokio::test]
async fn deletions_are_reported_not_copied() {
    let mut s = setup(&[("a.py", "a"), ("b.py", "b")], &[("a.py", "a"), ("b.py", "b")]);
    s.engine.start().await;
    s.fake.remove("a.py");
    fs::remove_file(s.ws.join("b.py")).unwrap();
    let report = s.engine.sync_all().await;
    assert_eq!(report.notes.len(), 2, "{:?}", report.notes);
    assert!(report.notes.iter().any(|n| n.starts_with("a.py was deleted in the container; the workspace keeps")));
    assert!(report.notes.iter().any(|n| n.starts_with("b.py was deleted in the workspace; the container keeps")));
    assert_eq!(read(&s.ws, "a.py"), "a");
    assert_eq!(s.fake.content("b.py").unwrap(), "b");
    assert!(s.engine.sync_all().await.is_empty(), "reported once");
}

#[tokio::test]
async fn a_hostile_container_gets_nothing_written() {
    let mut s = setup(&[("score.py", "v1")], &[("score.py", "v1")]);
    s.engine.start().await;
    {
        let mut fs = s.fake.0.lock().unwrap();
        // The change list names a file; the archive it serves holds something else.
        fs.files.insert(format!("{APP}/x.py"), (b"x".to_vec(), 1));
        fs.changed.insert(format!("{APP}/x.py"));
        fs.hostile.insert(format!("{APP}/x.py"), Hostile::new().file("../../../escaped", b"evil").bytes());
        fs.links.insert(format!("{APP}/etc"), "/etc".into());
        fs.changed.insert(format!("{APP}/etc"));
        fs.files.insert(format!("{APP}/y.py"), (b"y".to_vec(), 1));
        fs.changed.insert(format!("{APP}/y.py"));
        fs.hostile.insert(format!("{APP}/y.py"), Hostile::new().symlink("y.py", "/etc/passwd").bytes());
    }
    let report = s.engine.sync_from_container().await;
    assert!(report.pulled.is_empty(), "{report:?}");
    assert_eq!(report.notes.len(), 3, "{:#?}", report.notes);
    assert!(report.notes.iter().any(|n| n.contains("climbs out")));
    assert!(report.notes.iter().any(|n| n.contains("symbolic link (to \"/etc\")")));
    assert!(report.notes.iter().any(|n| n.contains("y.py") && n.contains("symbolic link")));
    let entries: Vec<_> = fs::read_dir(&s.ws).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(entries, ["score.py"]);
    assert!(!s.ws.parent().unwrap().join("escaped").exists());
    // Each refusal is reported once, not on every poll.
    assert!(s.engine.sync_from_container().await.is_empty());
}

#[tokio::test]
async fn directions_can_be_turned_off() {
    let mut s = setup(&[("score.py", "v1")], &[("score.py", "v1")]);
    let mut engine =
        SyncEngine::new(s.fake.clone(), s.ws.clone(), APP, Directions { from_container: false, to_container: true });
    engine.start().await;
    s.fake.edit("score.py", "v2");
    assert!(engine.sync_all().await.pulled.is_empty());
    assert_eq!(read(&s.ws, "score.py"), "v1");
    let _ = &mut s.engine;
}

/// A sync worker on `s` watching both sides, as a session with `auto` runs it.
fn watching(s: &Setup) -> (super::SyncHandle, crate::tasks::Tasks) {
    let (events, mut rx) = crate::console::EventSender::channel(1024);
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let tasks = crate::tasks::Tasks::new(tokio_util::sync::CancellationToken::new());
    let setup = super::SyncSetup {
        workspace: s.ws.clone(),
        app_root: APP.into(),
        directions: BOTH,
        watch_workspace: true,
        poll_container: true,
        copy_deletions: false,
    };
    (super::SyncHandle::spawn(s.fake.clone(), setup, events, &tasks), tasks)
}

#[tokio::test]
async fn saves_are_debounced_and_the_last_one_wins() {
    use std::time::Duration;
    let s = setup(&[("score.py", "v0")], &[("score.py", "v0")]);
    let (handle, _tasks) = watching(&s);
    // Let the first look and the watcher start.
    handle.sync(None).await.unwrap();
    let puts = s.fake.puts();
    // T13: 50 saves in about one second. A loaded machine can space them
    // wider than the debounce, and then each such pause may copy: the bound
    // counts what the writer really did.
    let started = std::time::Instant::now();
    let mut last = started;
    let mut pauses = 0;
    for i in 1..=50 {
        fs::write(s.ws.join("score.py"), format!("save {i}")).unwrap();
        let now = std::time::Instant::now();
        pauses += usize::from(now - last >= super::worker::DEBOUNCE);
        last = now;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let windows = (started.elapsed().as_millis() / super::worker::MAX_DELAY.as_millis()) as usize;
    let bound = 2 + pauses + windows;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while s.fake.content("score.py").as_deref() != Some("save 50") && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(s.fake.content("score.py").as_deref(), Some("save 50"));
    let uploads = s.fake.puts() - puts;
    assert!(
        (1..=bound.min(49)).contains(&uploads),
        "{uploads} uploads for 50 saves ({pauses} pauses over the debounce, {windows} max-delay windows)"
    );
    let last = handle.finish().await.unwrap();
    assert!(last.conflicts.is_empty());
}

/// Files made in a new workspace folder at once (`mkdir data && cp ...`)
/// give the watcher only the folder's event when they land before it
/// watches the folder: the folder's files go into the container all the same.
#[tokio::test]
async fn files_in_a_new_workspace_folder_reach_the_container() {
    use std::time::Duration;
    let s = setup(&[("score.py", "v0")], &[("score.py", "v0")]);
    let (handle, _tasks) = watching(&s);
    handle.sync(None).await.unwrap();
    fs::create_dir_all(s.ws.join("data/deeper")).unwrap();
    fs::write(s.ws.join("data/labels.txt"), "cat").unwrap();
    fs::write(s.ws.join("data/deeper/more.txt"), "dog").unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let arrived = |s: &Setup| {
        s.fake.content("data/labels.txt").as_deref() == Some("cat")
            && s.fake.content("data/deeper/more.txt").as_deref() == Some("dog")
    };
    while !arrived(&s) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(arrived(&s), "{:?} {:?}", s.fake.content("data/labels.txt"), s.fake.content("data/deeper/more.txt"));
    handle.finish().await.unwrap();
}

/// What the container's watcher says about `name`: its content read with
/// proof, or only its name.
fn watched(files: &[(&str, Option<&str>)]) -> super::watch::WatchBatch {
    let mut batch = super::watch::WatchBatch::default();
    for (name, content) in files {
        let now = match content {
            Some(c) => super::watch::Watched::Proven(super::extract::ArchiveFile {
                path: rel(name),
                content: c.as_bytes().to_vec(),
                hash: super::extract::Hash::of(c.as_bytes()),
                mode: 0o640,
            }),
            None => super::watch::Watched::Named,
        };
        batch.add(super::watch::WatchEvent::File { path: rel(name), now });
    }
    batch
}

#[tokio::test]
async fn the_watchers_proven_content_is_written_without_looking_again() {
    let mut s = setup(&[("score.py", "v1")], &[("score.py", "v1")]);
    s.engine.start().await;
    s.fake.edit("score.py", "v2");
    s.fake.edit("new.py", "new");
    // No identity look can be made: the watcher's proof stands in for it.
    s.fake.0.lock().unwrap().blind = true;
    let report = s.engine.sync_watched(watched(&[("score.py", Some("v2")), ("new.py", Some("new"))])).await;
    assert_eq!(report.pulled, [rel("new.py"), rel("score.py")], "{report:?}");
    assert_eq!(read(&s.ws, "score.py"), "v2");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(fs::metadata(s.ws.join("new.py")).unwrap().permissions().mode() & 0o777, 0o640);
    }
    // A file only named (not provable by the watcher) is looked at the
    // usual way, with the identity looks: a hard link is refused.
    s.fake.0.lock().unwrap().blind = false;
    s.fake.edit("shadow.py", "secret");
    s.fake.hard_link("shadow.py", 2);
    let report = s.engine.sync_watched(watched(&[("shadow.py", None)])).await;
    assert!(report.pulled.is_empty(), "{report:?}");
    assert!(report.notes.iter().any(|n| n.contains("hard links")), "{:?}", report.notes);
    assert!(!s.ws.join("shadow.py").exists());
    // What was offered is not kept for later rounds.
    s.fake.edit("score.py", "v3");
    let report = s.engine.sync_watched(watched(&[("score.py", None)])).await;
    assert_eq!(read(&s.ws, "score.py"), "v3", "{report:?}");
}

#[tokio::test]
async fn deletions_in_the_container_are_copied_only_over_the_agreed_content() {
    let files = [("a.py", "a"), ("b.py", "b"), ("lib/c.py", "c"), ("lib/d.py", "d")];
    let mut s = setup(&files, &files);
    s.engine.set_copy_deletions(true);
    s.engine.start().await;
    s.fake.remove("a.py");
    s.fake.remove("b.py");
    fs::write(s.ws.join("b.py"), "b edited in the workspace").unwrap();
    // Taken at the watcher's word for a.py (no look into the container), looked at for b.py.
    s.fake.0.lock().unwrap().blind = true;
    let mut batch = watched(&[("b.py", None)]);
    batch.add(super::watch::WatchEvent::File { path: rel("a.py"), now: super::watch::Watched::Gone });
    let report = s.engine.sync_watched(batch).await;
    s.fake.0.lock().unwrap().blind = false;
    assert_eq!(report.removed, [rel("a.py")], "{report:?}");
    assert!(!s.ws.join("a.py").exists());
    // Edited in the workspace, deleted in the container: a conflict, and the edit stays.
    assert_eq!(report.new_conflicts, [rel("b.py")]);
    assert_eq!(read(&s.ws, "b.py"), "b edited in the workspace");
    // A folder that went: the files sync knew under it are looked at.
    s.fake.remove("lib/c.py");
    s.fake.remove("lib/d.py");
    let mut batch = super::watch::WatchBatch::default();
    batch.add(super::watch::WatchEvent::Folder(rel("lib")));
    let report = s.engine.sync_watched(batch).await;
    assert_eq!(report.removed, [rel("lib/c.py"), rel("lib/d.py")], "{report:?}");
    // A file made again after its deletion comes back as new.
    s.fake.edit("a.py", "again");
    s.engine.sync_watched(watched(&[("a.py", Some("again"))])).await;
    assert_eq!(read(&s.ws, "a.py"), "again");
}

#[test]
fn a_file_saved_while_it_is_removed_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let hash = super::extract::Hash::of(b"agreed");
    fs::write(dir.path().join("x.py"), "agreed").unwrap();
    assert!(super::write::remove_beneath(dir.path(), &rel("x.py"), hash, 1 << 20).unwrap());
    assert!(!dir.path().join("x.py").exists());
    fs::write(dir.path().join("x.py"), "saved since").unwrap();
    assert!(!super::write::remove_beneath(dir.path(), &rel("x.py"), hash, 1 << 20).unwrap());
    assert_eq!(read(dir.path(), "x.py"), "saved since");
    #[cfg(unix)]
    {
        // Never through a symlinked folder.
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("y.py"), "agreed").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("sub")).unwrap();
        assert!(!super::write::remove_beneath(dir.path(), &rel("sub/y.py"), hash, 1 << 20).unwrap());
        assert!(outside.path().join("y.py").exists());
    }
    let entries: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(entries.len(), if cfg!(unix) { 2 } else { 1 }, "no temporary file left: {entries:?}");
}

#[tokio::test]
async fn deletions_in_the_workspace_are_copied_only_over_the_agreed_content() {
    let files = [("a.py", "a"), ("b.py", "b"), ("c.py", "c")];
    let mut s = setup(&files, &files);
    s.engine.set_copy_deletions(true);
    s.engine.start().await;
    // Without a watcher in the container: one removal, checked there.
    fs::remove_file(s.ws.join("a.py")).unwrap();
    let report = s.engine.sync_paths(&[rel("a.py")].into()).await;
    assert_eq!(report.removed_in_container, [rel("a.py")], "{report:?}");
    assert_eq!(s.fake.content("a.py"), None);
    assert!(s.engine.sync_all().await.is_empty(), "agreed: both have none");
    // Deleted in the workspace, edited in the container: a conflict that keeps both.
    fs::remove_file(s.ws.join("b.py")).unwrap();
    s.fake.edit("b.py", "b edited in the container");
    let report = s.engine.sync_paths(&[rel("b.py")].into()).await;
    assert_eq!(report.new_conflicts, [rel("b.py")], "{report:?}");
    assert_eq!(s.fake.content("b.py").unwrap(), "b edited in the container");
    assert_eq!(read(&s.ws, "b.py.container"), "b edited in the container");
    // With the watcher: it is asked (one line on its stdin), and its answer
    // comes among its events.
    let (control, mut requests) = super::watch::Control::channel();
    s.engine.set_watcher(Some(control));
    fs::remove_file(s.ws.join("c.py")).unwrap();
    let looks = s.fake.0.lock().unwrap().looks;
    let report = s.engine.sync_saved(&[rel("c.py")].into()).await;
    assert!(report.removed_in_container.is_empty() && report.notes.is_empty(), "{report:?}");
    assert_eq!(s.fake.0.lock().unwrap().looks, looks, "asked without a look into the container");
    let line = requests.try_recv().unwrap();
    assert_eq!(line, format!(r#"{{"rm":"c.py","sha256":"{}"}}"#, Hash::of(b"c").hex()));
    s.fake.0.lock().unwrap().files.remove(&format!("{APP}/c.py"));
    let mut batch = super::watch::WatchBatch::default();
    batch.add(super::watch::WatchEvent::Removed(rel("c.py")));
    let report = s.engine.sync_watched(batch).await;
    assert_eq!(report.removed_in_container, [rel("c.py")], "{report:?}");
    assert!(report.new_conflicts.is_empty() && report.notes.is_empty(), "{report:?}");
    // `sync.deletions: "report"`: reported once, the container keeps its copy.
    s.engine.set_copy_deletions(false);
    s.fake.edit("d.py", "d");
    s.engine.sync_watched(watched(&[("d.py", Some("d"))])).await;
    fs::remove_file(s.ws.join("d.py")).unwrap();
    let report = s.engine.sync_paths(&[rel("d.py")].into()).await;
    assert!(report.notes.iter().any(|n| n.starts_with("d.py was deleted in the workspace; the container keeps")));
    assert!(requests.try_recv().is_err(), "nothing asked");
    assert_eq!(s.fake.content("d.py").unwrap(), "d");
}

/// The change list names a file the image did not have only while it
/// exists (`docker diff`, `find`): once one the container made is missing
/// from it, it was deleted, and the rule of deletions applies.
#[tokio::test]
async fn a_file_the_container_made_and_deleted_is_seen_as_deleted() {
    let mut s = setup(&[], &[]);
    s.engine.set_copy_deletions(true);
    s.engine.start().await;
    s.fake.edit("made.py", "made");
    s.fake.edit("kept.py", "kept");
    let report = s.engine.sync_all().await;
    assert_eq!(report.pulled, [rel("kept.py"), rel("made.py")], "{report:?}");
    // Deleted in the container: no longer in its change list at all.
    s.fake.remove("made.py");
    s.fake.remove("kept.py");
    s.fake.0.lock().unwrap().changed.clear();
    fs::write(s.ws.join("kept.py"), "kept, edited in the workspace").unwrap();
    let report = s.engine.sync_from_container().await;
    assert_eq!(report.removed, [rel("made.py")], "{report:?}");
    assert_eq!(report.new_conflicts, [rel("kept.py")], "{report:?}");
    assert!(!s.ws.join("made.py").exists());
    assert_eq!(read(&s.ws, "kept.py"), "kept, edited in the workspace");
}

/// The workspace watcher's echo of a file sync just wrote (or removed)
/// costs no look into the container, so the next change does not wait
/// behind it; a real save still goes in.
#[tokio::test]
async fn an_echo_of_syncs_own_write_does_not_look_into_the_container() {
    let mut s = setup(&[("score.py", "v1"), ("gone.py", "g")], &[("score.py", "v1"), ("gone.py", "g")]);
    s.engine.set_copy_deletions(true);
    s.engine.start().await;
    s.fake.edit("score.py", "v2");
    s.fake.edit("new.py", "new");
    s.fake.remove("gone.py");
    let mut batch = watched(&[("score.py", Some("v2")), ("new.py", Some("new"))]);
    batch.add(super::watch::WatchEvent::File { path: rel("gone.py"), now: super::watch::Watched::Gone });
    let report = s.engine.sync_watched(batch).await;
    assert_eq!((report.pulled.len(), report.removed.len()), (2, 1), "{report:?}");
    let looks = s.fake.0.lock().unwrap().looks;
    let echo = [rel("score.py"), rel("new.py"), rel("gone.py"), rel("never.py")].into();
    assert!(s.engine.sync_saved(&echo).await.is_empty());
    assert_eq!(s.fake.0.lock().unwrap().looks, looks, "no stat, no archive");
    fs::write(s.ws.join("score.py"), "v3").unwrap();
    let report = s.engine.sync_saved(&[rel("score.py")].into()).await;
    assert_eq!(report.pushed, [rel("score.py")]);
    assert_eq!(s.fake.content("score.py").unwrap(), "v3");
}
