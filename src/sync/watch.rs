//! The container side of continuous sync: one watcher process per session
//! inside the container (`runtime/python/watcher.py`), started once through
//! one long-lived exec, reporting changes under `appRoot` as they happen.
//! No periodic exec ever runs (an exec racing `docker pause` can wedge the
//! container, runc#2753); a paused container's watcher just goes quiet.
//!
//! Its output is untrusted input, read here with limits: lines of at most
//! `MAX_LINE` bytes (a longer one ends the stream, and sync falls back to
//! polling), every path through `RelPath::parse` and the ignore rules,
//! content only up to `MAX_INLINE` bytes, and a bounded channel between the
//! reader and the sync worker, so a flooding container costs itself time,
//! never dockdap memory.
//!
//! A changed file may come with its content, read by the watcher through
//! folders opened without following a symlink, from a regular file with one
//! link, unchanged while read (`proven`): the same proof `fetch_proven`
//! gets from two identity looks around an archive, without the two execs.
//! The identity looks run in the container's own `find` today; the watcher
//! is the container's own Python, trusted to the same degree.
//!
//! The same process removes files at sync's request (`Control::remove`: a
//! deletion made in the workspace), each only while it still holds the
//! content both sides last agreed on, checked after renaming it aside; the
//! answer comes back among the events (`WatchEvent::Removed`). Where no
//! watcher runs, the same program does one removal through one exec
//! (`removal_command`, `Remote::remove`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use base64::Engine as _;
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, LinesCodec};

use super::engine::Remote;
use super::extract::{ArchiveFile, Hash};
use super::names::{HostOs, RelPath, is_ignored};
use crate::runtime::ContainerError;
use crate::tasks::Tasks;

/// The most bytes of one file the watcher sends inline; larger files are
/// only named, and read the usual way.
pub const MAX_INLINE: u64 = 1 << 20;
/// The longest line read from the watcher: a file of `MAX_INLINE` bytes in
/// base64, with room for its name.
pub const MAX_LINE: usize = (MAX_INLINE as usize).div_ceil(3) * 4 + 16 * 1024;
/// How long the watcher may take to say it runs.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Events waiting between the reader and the worker.
const QUEUE: usize = 256;
/// Requests waiting for the watcher's stdin.
const REQUESTS: usize = 256;
/// Lines above this size are parsed (base64, hash) on the blocking pool.
const BIG_LINE: usize = 16 * 1024;

/// What the watcher says a changed path holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watched {
    /// This content, read with proof (see the module comment).
    Proven(ArchiveFile),
    /// Nothing: it was deleted (or moved away). Taken at its word: a
    /// container that lies about it can only make sync remove a workspace
    /// file whose content it still holds itself.
    Gone,
    /// Something the watcher could not prove: sync looks the usual way.
    Named,
}

/// What the watcher saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// A file changed, appeared or went.
    File {
        /// The path under `appRoot`.
        path: RelPath,
        /// What it holds now, as far as the watcher could tell.
        now: Watched,
    },
    /// A folder moved away or was removed: the files sync knows under it changed.
    Folder(RelPath),
    /// Events were lost (the kernel's queue overflowed): everything is looked at.
    Rescan,
    /// The watcher removed this file at sync's request (it still held the
    /// content asked for).
    Removed(RelPath),
    /// The watcher could not remove this file at sync's request, and why.
    NotRemoved {
        /// The path under `appRoot`.
        path: RelPath,
        /// What the container said.
        why: String,
    },
    /// A name or line that was refused, said once per session.
    Refused(String),
}

/// What the worker does with a batch of events.
#[derive(Debug, Default)]
pub struct WatchBatch {
    /// Files to look at, with what the watcher saw (the last event for a path wins).
    pub files: BTreeMap<RelPath, Watched>,
    /// Folders whose known files are looked at.
    pub folders: BTreeSet<RelPath>,
    /// Everything is to be looked at.
    pub rescan: bool,
    /// Files the watcher removed at sync's request.
    pub removed: BTreeSet<RelPath>,
    /// Refusals to report.
    pub refused: Vec<String>,
}

impl WatchBatch {
    /// Most paths one batch holds; more make it a rescan.
    pub const MAX_PATHS: usize = 5_000;

    /// Adds one event.
    pub fn add(&mut self, event: WatchEvent) {
        match event {
            WatchEvent::File { path, now } => {
                self.files.insert(path, now);
            }
            WatchEvent::Folder(path) => {
                self.folders.insert(path);
            }
            WatchEvent::Rescan => self.rescan = true,
            WatchEvent::Removed(path) => {
                // Nothing is there now, unless a later event of the batch says otherwise.
                self.files.insert(path.clone(), Watched::Gone);
                self.removed.insert(path);
            }
            WatchEvent::NotRemoved { path, why } => self.refused.push(format!(
                "{path} was deleted in the workspace; the container keeps its copy (it could not be removed there: {why})"
            )),
            WatchEvent::Refused(why) => self.refused.push(why),
        }
        if self.files.len() + self.folders.len() > Self::MAX_PATHS {
            self.files.clear();
            self.folders.clear();
            self.rescan = true;
        }
    }
}

/// One line of the watcher's output, as it may come: every field optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    hello: Option<u8>,
    mode: Option<serde_json::Value>,
    p: Option<String>,
    data: Option<String>,
    gone: Option<u8>,
    dir: Option<u8>,
    rescan: Option<u8>,
    rm: Option<String>,
    why: Option<String>,
}

/// Reads one line of the watcher's output. `Ok(None)`: a line that says
/// nothing to sync (the greeting).
pub fn parse_line(line: &str, host: HostOs) -> Result<Option<WatchEvent>, String> {
    let line: Line =
        serde_json::from_str(line).map_err(|e| format!("the container's watcher sent a bad line ({e})"))?;
    if line.rescan.is_some() {
        return Ok(Some(WatchEvent::Rescan));
    }
    let Some(name) = line.p else {
        return match line.hello {
            Some(_) => Ok(None),
            None => Err("the container's watcher sent a line without a path".into()),
        };
    };
    let path = match RelPath::parse(&name, host) {
        Ok(path) => path,
        Err(refusal) => return Ok(Some(WatchEvent::Refused(format!("container file {refusal}")))),
    };
    if is_ignored(&path) {
        return Ok(None);
    }
    if let Some(outcome) = line.rm {
        return Ok(match outcome.as_str() {
            "removed" => Some(WatchEvent::Removed(path)),
            "refused" => {
                let why = line.why.unwrap_or_default().chars().take(200).collect();
                Some(WatchEvent::NotRemoved { path, why })
            }
            // "kept", "absent": the file's own events say what it holds.
            _ => None,
        });
    }
    if line.dir.is_some() {
        return Ok(Some(WatchEvent::Folder(path)));
    }
    let now = match (line.data, line.mode) {
        (None, None) if line.gone.is_some() => Watched::Gone,
        (Some(data), Some(serde_json::Value::Number(mode))) => {
            let mode = mode.as_u64().filter(|m| *m <= 0o7777).ok_or("the container's watcher sent a bad mode")?;
            let content = base64::engine::general_purpose::STANDARD
                .decode(data.as_bytes())
                .map_err(|e| format!("the container's watcher sent bad content for {path} ({e})"))?;
            if content.len() as u64 > MAX_INLINE {
                return Err(format!("the container's watcher sent more than {MAX_INLINE} bytes for {path}"));
            }
            let hash = Hash::of(&content);
            Watched::Proven(ArchiveFile { path: path.clone(), content, hash, mode: (mode as u32) & 0o777 })
        }
        (None, None) => Watched::Named,
        _ => return Err(format!("the container's watcher sent content for {path} without its mode")),
    };
    Ok(Some(WatchEvent::File { path, now }))
}

/// A watcher that said it runs: how it watches, and its events.
#[derive(Debug)]
pub struct Running {
    /// `inotify` or `walk`.
    pub mode: String,
    /// Its events; closed when the watcher ends (or sent something that ends the stream).
    pub events: mpsc::Receiver<WatchEvent>,
    /// Requests to it.
    pub control: Control,
}

/// Requests to a running watcher (its stdin).
#[derive(Debug, Clone)]
pub struct Control(mpsc::Sender<String>);

impl Control {
    /// A control whose requests arrive on the receiver (tests).
    pub fn channel() -> (Control, mpsc::Receiver<String>) {
        let (tx, rx) = mpsc::channel(REQUESTS);
        (Control(tx), rx)
    }

    /// Asks the watcher to remove `path` if it still holds content hashing
    /// to `agreed`; its answer comes among the events. `false`: it cannot
    /// be asked now (it ended, or too many requests wait).
    pub fn remove(&self, path: &RelPath, agreed: Hash) -> bool {
        self.0.try_send(removal_request(path, agreed)).is_ok()
    }
}

/// One removal request, as the watcher reads it (one line, without its end).
pub fn removal_request(path: &RelPath, agreed: Hash) -> String {
    serde_json::json!({"rm": path.as_str(), "sha256": agreed.hex()}).to_string()
}

/// The command that removes one file under `app_root` with `python`, when
/// no watcher runs (the watcher program's one-removal mode): its answer is
/// one line, read by `parse_line`.
pub fn removal_command(python: &str, app_root: &str, path: &RelPath, agreed: Hash) -> Vec<String> {
    program(python, app_root, ["0".to_owned(), "rm".to_owned(), removal_request(path, agreed)])
}

/// The watcher program under `python` (isolated, no site folders) on `app_root`, with `args`.
fn program(python: &str, app_root: &str, args: impl IntoIterator<Item = String>) -> Vec<String> {
    let start = [python, "-I", "-S", "-c", crate::runtime::programs::WATCHER, app_root];
    start.into_iter().map(str::to_owned).chain(args).collect()
}

/// Starts the watcher in the container under `app_root`, with the first
/// Python that answers, and reads its events on `tasks` until they stop.
/// Fails when no Python runs there (or the container is paused: nothing is
/// started then), and sync falls back to polling and the change list.
pub async fn start<R: Remote>(remote: &R, app_root: &str, tasks: &Tasks) -> Result<Running, String> {
    let mut why = Vec::new();
    for python in ["python3", "python"] {
        let link = match remote.watch(program(python, app_root, [MAX_INLINE.to_string()])).await {
            Ok(link) => link,
            Err(
                e @ (ContainerError::Paused { .. } | ContainerError::Frozen { .. } | ContainerError::Unsupported(_)),
            ) => {
                return Err(e.to_string());
            }
            Err(e) => {
                why.push(format!("{python}: {e}"));
                continue;
            }
        };
        let mut lines = FramedRead::new(link.reader, LinesCodec::new_with_max_length(MAX_LINE));
        let mode = match tokio::time::timeout(HELLO_TIMEOUT, lines.next()).await {
            Ok(Some(Ok(line))) => match serde_json::from_str::<Line>(&line) {
                Ok(Line { hello: Some(_), mode: Some(serde_json::Value::String(mode)), .. }) => mode,
                _ => {
                    why.push(format!("{python}: it did not start ({})", line.chars().take(80).collect::<String>()));
                    continue;
                }
            },
            Ok(_) => {
                why.push(format!("{python}: not found, or it did not start"));
                continue;
            }
            Err(_) => {
                why.push(format!("{python}: no answer within {}s", HELLO_TIMEOUT.as_secs()));
                continue;
            }
        };
        let (tx, events) = mpsc::channel(QUEUE);
        let (control, requests) = Control::channel();
        tasks.spawn(serve(lines, link.writer, tx, requests));
        return Ok(Running { mode, events, control });
    }
    Err(why.join("; "))
}

/// Reads the watcher's events and writes sync's requests to it until it
/// ends. The watcher runs while its stdin is open: this task holds it, and
/// drops it when reading ends.
async fn serve(
    lines: FramedRead<crate::transport::BoxRead, LinesCodec>,
    mut stdin: crate::transport::BoxWrite,
    tx: mpsc::Sender<WatchEvent>,
    mut requests: mpsc::Receiver<String>,
) {
    use tokio::io::AsyncWriteExt as _;
    let reading = read(lines, tx);
    tokio::pin!(reading);
    let mut writing = true;
    loop {
        tokio::select! {
            () = &mut reading => return,
            request = requests.recv(), if writing => match request {
                Some(line) => {
                    let sent = async {
                        stdin.write_all(format!("{line}\n").as_bytes()).await?;
                        stdin.flush().await
                    };
                    if let Err(e) = sent.await {
                        tracing::debug!(error = %e, "cannot write to the container's watcher");
                        writing = false;
                    }
                }
                None => writing = false,
            },
        }
    }
}

/// Reads the watcher's lines until it ends, the worker stops listening, or
/// a line breaks the limits.
async fn read(mut lines: FramedRead<crate::transport::BoxRead, LinesCodec>, tx: mpsc::Sender<WatchEvent>) {
    let host = HostOs::current();
    let mut told_bad = false;
    while let Some(line) = lines.next().await {
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                tracing::warn!(error = %e, "the container's watcher broke its limits; sync falls back to polling");
                return;
            }
        };
        let parsed = if line.len() > BIG_LINE {
            match tokio::task::spawn_blocking(move || parse_line(&line, host)).await {
                Ok(parsed) => parsed,
                Err(_) => return,
            }
        } else {
            parse_line(&line, host)
        };
        let event = match parsed {
            Ok(Some(event)) => event,
            Ok(None) => continue,
            Err(why) if !told_bad => {
                told_bad = true;
                WatchEvent::Refused(why)
            }
            Err(why) => {
                tracing::debug!("{why}");
                continue;
            }
        };
        if tx.send(event).await.is_err() {
            return;
        }
    }
    tracing::debug!("the container's watcher ended");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(p: &str) -> RelPath {
        RelPath::parse(p, HostOs::Posix).unwrap()
    }

    #[test]
    fn lines_are_read_with_their_proof_or_refused() {
        let parse = |l: &str| parse_line(l, HostOs::Posix);
        assert_eq!(parse(r#"{"hello":1,"mode":"inotify"}"#), Ok(None));
        assert_eq!(parse(r#"{"rescan":1}"#), Ok(Some(WatchEvent::Rescan)));
        assert_eq!(parse(r#"{"p":"a/b.py"}"#), Ok(Some(WatchEvent::File { path: rel("a/b.py"), now: Watched::Named })));
        assert_eq!(
            parse(r#"{"p":"a.py","gone":1}"#),
            Ok(Some(WatchEvent::File { path: rel("a.py"), now: Watched::Gone }))
        );
        assert_eq!(parse(r#"{"p":"lib","dir":1}"#), Ok(Some(WatchEvent::Folder(rel("lib")))));
        // Answers to removals: only "removed" and "refused" are news.
        assert_eq!(parse(r#"{"p":"a.py","rm":"removed"}"#), Ok(Some(WatchEvent::Removed(rel("a.py")))));
        assert_eq!(parse(r#"{"p":"a.py","rm":"kept"}"#), Ok(None));
        assert_eq!(parse(r#"{"p":"a.py","rm":"absent"}"#), Ok(None));
        assert_eq!(
            parse(r#"{"p":"a.py","rm":"refused","why":"Permission denied (a.py)"}"#),
            Ok(Some(WatchEvent::NotRemoved { path: rel("a.py"), why: "Permission denied (a.py)".into() }))
        );
        assert!(matches!(parse(r#"{"p":"../a.py","rm":"removed"}"#), Ok(Some(WatchEvent::Refused(_)))));
        let Ok(Some(WatchEvent::File { now: Watched::Proven(file), .. })) =
            parse(r#"{"p":"x.py","data":"aGkK","mode":2541}"#)
        else {
            panic!("no content");
        };
        assert_eq!((file.content.as_slice(), file.mode, file.hash), (&b"hi\n"[..], 0o755, Hash::of(b"hi\n")));
        // Ignored files say nothing; hostile names are refused with the reason.
        assert_eq!(parse(r#"{"p":"__pycache__/x.pyc"}"#), Ok(None));
        for bad in [r#"{"p":"../x"}"#, r#"{"p":"/etc/passwd"}"#, r#"{"p":"a\\b"}"#, r#"{"p":"a\nb"}"#, r#"{"p":""}"#] {
            assert!(matches!(parse(bad), Ok(Some(WatchEvent::Refused(_)))), "{bad}: {:?}", parse(bad));
        }
        // Malformed lines are errors, never events.
        for bad in [
            "not json",
            r#"{"p":1}"#,
            r#"{"x":1}"#,
            r#"{"p":"x.py","data":"aGkK"}"#,
            r#"{"p":"x.py","data":"!!","mode":420}"#,
            r#"{"p":"x.py","data":"aGkK","mode":-1}"#,
            r#"{"p":"x.py","data":"aGkK","mode":"420"}"#,
            r#"{"p":"x.py","data":"aGkK","mode":99999999999}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}: {:?}", parse(bad));
        }
        let big = base64::engine::general_purpose::STANDARD.encode(vec![0u8; MAX_INLINE as usize + 1]);
        assert!(parse(&format!(r#"{{"p":"x.py","data":"{big}","mode":420}}"#)).is_err());
    }

    /// The watcher program itself, run by this machine's Python on a
    /// temporary folder, in both of its modes: what it reports, and that a
    /// hard link, a symlink and a FIFO never come with content.
    #[cfg(unix)]
    #[test]
    fn the_watcher_program_reports_changes_with_proof() {
        use std::io::BufRead as _;
        if std::process::Command::new("python3").arg("-c").arg("pass").status().is_err() {
            eprintln!("SKIPPED: no python3 on this machine");
            return;
        }
        for mode in ["inotify", "walk"] {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("app");
            std::fs::create_dir(&root).unwrap();
            let mut child = std::process::Command::new("python3")
                .args(["-I", "-S", "-c", crate::runtime::programs::WATCHER, root.to_str().unwrap(), "100"])
                .env("DOCKDAP_WATCH", if mode == "walk" { "walk" } else { "" })
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let stdin = child.stdin.take();
            let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
            let hello = lines.next().unwrap().unwrap();
            assert_eq!(hello, format!(r#"{{"hello":1,"mode":"{mode}"}}"#));
            std::fs::create_dir(root.join("lib")).unwrap();
            std::fs::write(root.join("lib/new.py"), "new\n").unwrap();
            std::fs::write(root.join("big.py"), [b'x'; 101]).unwrap();
            std::fs::write(root.join("secret"), "s").unwrap();
            std::fs::hard_link(root.join("secret"), root.join("linked.py")).unwrap();
            std::os::unix::fs::symlink("/etc/passwd", root.join("passwd.py")).unwrap();
            let want = ["lib/new.py", "big.py", "linked.py", "passwd.py"];
            let mut seen = BTreeMap::new();
            while !want.iter().all(|w| seen.contains_key(*w)) {
                let line = lines.next().unwrap().unwrap();
                if let Some(WatchEvent::File { path, now }) = parse_line(&line, HostOs::Posix).unwrap() {
                    let content = match now {
                        Watched::Proven(file) => Some(file.content),
                        _ => None,
                    };
                    seen.insert(path.as_str().to_owned(), content);
                }
            }
            assert_eq!(seen["lib/new.py"].as_deref(), Some(&b"new\n"[..]), "{mode}");
            for unproven in ["big.py", "linked.py", "passwd.py"] {
                assert_eq!(seen[unproven], None, "{mode}: {unproven}");
            }
            std::fs::remove_file(root.join("lib/new.py")).unwrap();
            loop {
                let line = lines.next().unwrap().unwrap();
                if let Some(WatchEvent::File { path, now }) = parse_line(&line, HostOs::Posix).unwrap()
                    && path.as_str() == "lib/new.py"
                {
                    assert_eq!(now, Watched::Gone, "{mode}");
                    break;
                }
            }
            // A removal at sync's request: only over the content asked for.
            let mut stdin = stdin;
            std::fs::write(root.join("keep.py"), "edited\n").unwrap();
            std::fs::write(root.join("go.py"), "agreed\n").unwrap();
            for name in ["keep.py", "go.py"] {
                let request = removal_request(&rel(name), Hash::of(b"agreed\n"));
                std::io::Write::write_all(stdin.as_mut().unwrap(), format!("{request}\n").as_bytes()).unwrap();
            }
            let mut answers = Vec::new();
            while answers.len() < 2 {
                let line = lines.next().unwrap().unwrap();
                match parse_line(&line, HostOs::Posix).unwrap() {
                    Some(WatchEvent::Removed(path)) => answers.push(format!("removed {path}")),
                    _ if line.contains(r#""rm":"kept""#) => answers.push("kept".to_owned()),
                    _ => {}
                }
            }
            assert_eq!(answers, ["kept", "removed go.py"], "{mode}");
            assert!(root.join("keep.py").exists() && !root.join("go.py").exists(), "{mode}");
            let left: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name()).collect();
            assert!(!left.iter().any(|n| n.to_string_lossy().contains("dockdap")), "{mode}: {left:?}");
            // It ends when its stdin closes.
            drop(stdin);
            assert!(child.wait().unwrap().success());
        }
    }

    #[test]
    fn a_flood_of_paths_becomes_one_rescan() {
        let mut batch = WatchBatch::default();
        for i in 0..=WatchBatch::MAX_PATHS {
            batch.add(WatchEvent::File { path: rel(&format!("f{i}.py")), now: Watched::Named });
        }
        assert!(batch.rescan && batch.files.is_empty());
    }
}
