//! Whether two folders are fit to keep in step, decided before sync reads
//! or sends anything: a workspace that is a file system root, the home
//! folder or far larger than an app, or an app root that is the container's
//! `/`, would copy files nobody meant to copy (issue 21: `localRoot: "/"`
//! pushed the host's `/run/...` into the container).
//!
//! "Far larger than an app" is a bounded count: at most [`MAX_ENTRIES`]
//! files and folders (what sync's own walk reads at most), without following
//! symlinks or entering what sync ignores, and never longer than [`BUDGET`],
//! so the check itself costs milliseconds even on a huge tree.
//!
//! This module judges and counts; it reads no file's content and knows
//! nothing of configurations (the session words the refusal).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// More files and folders than this is not an app's folder. It is also the
/// most sync's walk of the workspace reads, so a folder that passes is
/// synced whole.
pub const MAX_ENTRIES: usize = 20_000;

/// The longest the count may take (a cold network share); past it, the
/// folder is judged too large to sync.
pub const BUDGET: Duration = Duration::from_secs(1);

/// Why a folder is not fit to sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unfit {
    /// A file system root (`/`, `C:\`), possibly reached through a symlink.
    Root,
    /// The user's home folder.
    Home,
    /// More than [`MAX_ENTRIES`] files and folders (the count stopped there).
    Large,
    /// The count did not finish within [`BUDGET`].
    Slow {
        /// Files and folders counted by then.
        counted: usize,
    },
}

/// Judges the workspace folder. A folder that does not exist is fit (sync
/// reports it missing and does nothing).
pub fn workspace(dir: &Path) -> Result<(), Unfit> {
    let Ok(canonical) = dir.canonicalize() else { return Ok(()) };
    if canonical.parent().is_none() {
        return Err(Unfit::Root);
    }
    if home().and_then(|h| h.canonicalize().ok()).is_some_and(|home| home == canonical) {
        return Err(Unfit::Home);
    }
    count(&canonical, MAX_ENTRIES, BUDGET)
}

/// Judges the app root in the container: its `/` is never an app's folder.
pub fn app_root(app_root: &str) -> Result<(), Unfit> {
    let mut depth = 0usize;
    for component in app_root.split('/') {
        match component {
            "" | "." => {}
            ".." => depth = depth.saturating_sub(1),
            _ => depth += 1,
        }
    }
    if depth == 0 { Err(Unfit::Root) } else { Ok(()) }
}

fn home() -> Option<PathBuf> {
    let var = if cfg!(windows) { "USERPROFILE" } else { "HOME" };
    std::env::var_os(var).filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// Counts files and folders under `root` until `limit` or `budget`.
fn count(root: &Path, limit: usize, budget: Duration) -> Result<(), Unfit> {
    let started = Instant::now();
    let mut counted = 0usize;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            counted += 1;
            if counted > limit {
                return Err(Unfit::Large);
            }
            if counted.is_multiple_of(256) && started.elapsed() > budget {
                return Err(Unfit::Slow { counted });
            }
            let name = entry.file_name();
            if name == "__pycache__" || name == ".git" {
                continue;
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(entry.path());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_are_unfit() {
        assert_eq!(workspace(Path::new("/")), Err(Unfit::Root));
        assert_eq!(app_root("/"), Err(Unfit::Root));
        assert_eq!(app_root("//"), Err(Unfit::Root));
        assert_eq!(app_root("/var/.."), Err(Unfit::Root));
        assert_eq!(app_root("/var/azureml-app"), Ok(()));
        assert_eq!(app_root("/app/../srv"), Ok(()));
    }

    #[test]
    fn a_missing_folder_is_left_to_sync() {
        assert_eq!(workspace(Path::new("/nonexistent/dockdap/ws")), Ok(()));
    }

    #[test]
    fn counting_stops_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..30 {
            std::fs::write(dir.path().join(format!("f{i}")), "x").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/g"), "x").unwrap();
        assert_eq!(count(dir.path(), 32, BUDGET), Ok(()));
        assert_eq!(count(dir.path(), 31, BUDGET), Err(Unfit::Large));
        // What sync ignores is not entered.
        std::fs::create_dir(dir.path().join(".git")).unwrap();
        for i in 0..10 {
            std::fs::write(dir.path().join(format!(".git/o{i}")), "x").unwrap();
        }
        assert_eq!(count(dir.path(), 33, BUDGET), Ok(()));
        assert_eq!(workspace(dir.path()), Ok(()));
    }
}
