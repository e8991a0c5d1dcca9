//! Writing files beneath the workspace root, atomically and without ever
//! following a symlink.
//!
//! Every component under the root is checked with `symlink_metadata`: a
//! symlink (wherever it points) or a file where a folder should be is a
//! refusal, and missing folders are created one at a time. The content goes
//! to a temporary file in the same folder (`create_new`, so an existing name
//! is never opened) and is renamed over the target, so readers see the old
//! file or the new one, never half of one. Modes from an archive are never
//! applied: an existing file keeps its permissions, a new one gets 0644
//! (0755 if the archive marked it executable); setuid, setgid and sticky bits
//! never are. A container file's mode is only a cap: group and others never
//! get more than they had in the container (`write_beneath_capped`).
//!
//! dockdap itself never creates a symlink, so a symlink in the workspace is
//! the user's; the check-then-write window cannot be raced by the container.
//! This module does not decide *whether* to write (that is `state`).

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::names::{RelPath, TEMP_SUFFIX};

/// Why a write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The target or a folder on the way is not a plain folder or file.
    #[error("did not write {path}: {why}")]
    Refused {
        /// The relative path.
        path: String,
        /// Why.
        why: String,
    },
    /// The file system said no.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The host path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> WriteError + '_ {
    move |source| WriteError::Io { path: path.to_path_buf(), source }
}

/// Makes sure every folder of `rel`'s parent exists under `root` as a real
/// folder (no symlinks), creating missing ones; returns the parent's host path.
pub fn ensure_parent(root: &Path, rel: &RelPath) -> Result<PathBuf, WriteError> {
    let mut dir = root.to_path_buf();
    let refuse = |why: String| WriteError::Refused { path: rel.to_string(), why };
    let Some(parent) = rel.parent() else {
        return Ok(dir);
    };
    for component in parent.components() {
        dir.push(component);
        match fs::symlink_metadata(&dir) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(refuse(format!("{} is a symlink; dockdap never writes through one", dir.display())));
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(refuse(format!("{} is a file where a folder is needed", dir.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(&dir) {
                Ok(()) => {}
                // Created meanwhile: check it again.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let meta = fs::symlink_metadata(&dir).map_err(io_err(&dir))?;
                    if !meta.is_dir() || meta.file_type().is_symlink() {
                        return Err(refuse(format!("{} changed while dockdap created it", dir.display())));
                    }
                }
                Err(e) => return Err(io_err(&dir)(e)),
            },
            Err(e) => return Err(io_err(&dir)(e)),
        }
    }
    Ok(dir)
}

/// What is at a target path, without following symlinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Nothing.
    Nothing,
    /// A regular file, with its permission bits.
    File(u32),
    /// A name the file system matched only by ignoring case: a different file.
    CaseTwin,
}

/// Looks at what `name` is in `dir` (a folder already checked).
pub fn existing(dir: &Path, name: &str, rel: &RelPath) -> Result<Existing, WriteError> {
    let path = dir.join(name);
    let refuse = |why: String| WriteError::Refused { path: rel.to_string(), why };
    match fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            Err(refuse(format!("{} is a symlink; dockdap never writes through one", path.display())))
        }
        Ok(meta) if meta.is_dir() => Err(refuse(format!("{} is a folder", path.display()))),
        Ok(meta) if !meta.is_file() => Err(refuse(format!("{} is not a regular file", path.display()))),
        Ok(meta) => {
            // On a case-insensitive file system `a.py` finds `A.py`: that is another file.
            if !exact_name_exists(dir, name).map_err(io_err(dir))? {
                return Ok(Existing::CaseTwin);
            }
            Ok(Existing::File(permissions(&meta)))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Existing::Nothing),
        Err(e) => Err(io_err(&path)(e)),
    }
}

fn exact_name_exists(dir: &Path, name: &str) -> io::Result<bool> {
    for entry in fs::read_dir(dir)? {
        if entry?.file_name() == std::ffi::OsStr::new(name) {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(unix)]
fn permissions(meta: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    meta.permissions().mode() & 0o777
}

#[cfg(not(unix))]
fn permissions(_meta: &fs::Metadata) -> u32 {
    0o644
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `content` to `rel` under `root`, atomically, never through a
/// symlink. An existing file keeps its permissions; a new one is 0644, or
/// 0755 when `executable`. A file that only matches by case is refused.
pub fn write_beneath(root: &Path, rel: &RelPath, content: &[u8], executable: bool) -> Result<(), WriteError> {
    write_file(root, rel, content, executable, 0o777)
}

/// `write_beneath` with the final mode masked by `cap`.
fn write_file(root: &Path, rel: &RelPath, content: &[u8], executable: bool, cap: u32) -> Result<(), WriteError> {
    let dir = ensure_parent(root, rel)?;
    let name = rel.file_name();
    let mode = match existing(&dir, name, rel)? {
        Existing::File(mode) => mode,
        Existing::Nothing if executable => 0o755,
        Existing::Nothing => 0o644,
        Existing::CaseTwin => {
            return Err(WriteError::Refused {
                path: rel.to_string(),
                why: "a file whose name differs only in case is already there, and this file system does not tell them apart".into(),
            });
        }
    };
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!(".{name}.{}-{n}{TEMP_SUFFIX}", std::process::id()));
    let result = write_new(&temp, content, mode & cap & 0o777).and_then(|()| fs::rename(&temp, dir.join(name)));
    if let Err(e) = result {
        let _ = fs::remove_file(&temp);
        return Err(io_err(&dir.join(name))(e));
    }
    Ok(())
}

/// `write_beneath` for a file from the container whose permission bits
/// were `original`: executable if the owner could execute it there, and
/// group and others get no more than they had there (a 0640 file must not
/// become 0644 in the workspace). The owner keeps read and write: the
/// workspace is theirs.
pub fn write_beneath_capped(root: &Path, rel: &RelPath, content: &[u8], original: u32) -> Result<(), WriteError> {
    write_file(root, rel, content, original & 0o100 != 0, 0o700 | (original & 0o077))
}

fn write_new(path: &Path, content: &[u8], mode: u32) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path)?;
    file.write_all(content)?;
    // The umask may have narrowed the mode; set exactly what was decided.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    file.sync_all()
}

/// Reads a file beneath `root` if it is a regular file reached without
/// symlinks; `None` if there is none (or it is not a plain file).
pub fn read_beneath(root: &Path, rel: &RelPath, max_bytes: u64) -> Result<Option<Vec<u8>>, WriteError> {
    let mut path = root.to_path_buf();
    let mut components = rel.components().peekable();
    while let Some(component) = components.next() {
        path.push(component);
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&path)(e)),
        };
        let last = components.peek().is_none();
        if meta.file_type().is_symlink() || (last && !meta.is_file()) || (!last && !meta.is_dir()) {
            return Ok(None);
        }
        if last && meta.len() > max_bytes {
            return Err(WriteError::Refused {
                path: rel.to_string(),
                why: format!("it is larger than {max_bytes} bytes, the most dockdap syncs"),
            });
        }
    }
    match fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// Removes the file `rel` beneath `root` if it still holds the content
/// whose hash is `expected` (reached without symlinks, as `read_beneath`
/// reads it); `false` when it does not (changed, gone, not a plain file).
/// The file is first renamed aside and checked again there, so a save that
/// lands meanwhile is never what goes: then the file is put back, or, if
/// the name was taken again meanwhile, kept beside it and named in the error.
pub fn remove_beneath(
    root: &Path,
    rel: &RelPath,
    expected: super::extract::Hash,
    max_bytes: u64,
) -> Result<bool, WriteError> {
    use super::extract::Hash;
    let held = |path: &Path| -> io::Result<bool> {
        let meta = fs::symlink_metadata(path)?;
        if !meta.is_file() || meta.len() > max_bytes {
            return Ok(false);
        }
        Ok(Hash::of(&fs::read(path)?) == expected)
    };
    match read_beneath(root, rel, max_bytes)? {
        Some(content) if Hash::of(&content) == expected => {}
        _ => return Ok(false),
    }
    let target = rel.on_host(root);
    let dir = target.parent().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let aside = dir.join(format!(".{}.{}-{n}{TEMP_SUFFIX}", rel.file_name(), std::process::id()));
    match fs::rename(&target, &aside) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_err(&target)(e)),
    }
    if held(&aside).unwrap_or(false) {
        fs::remove_file(&aside).map_err(io_err(&aside))?;
        return Ok(true);
    }
    // Saved meanwhile: put it back, never over a newer file.
    if fs::symlink_metadata(&target).is_err() && fs::rename(&aside, &target).is_ok() {
        return Ok(false);
    }
    Err(WriteError::Refused {
        path: rel.to_string(),
        why: format!("it changed while dockdap removed it; that version is kept as {}", aside.display()),
    })
}

/// Whether a file beneath `root` is marked executable.
pub fn is_executable(root: &Path, rel: &RelPath) -> bool {
    fs::symlink_metadata(rel.on_host(root)).map(|m| permissions(&m) & 0o111 != 0).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::super::names::HostOs;
    use super::*;

    fn rel(s: &str) -> RelPath {
        RelPath::parse(s, HostOs::Posix).unwrap()
    }

    #[test]
    fn writes_atomically_and_keeps_permissions() {
        let dir = tempfile::tempdir().unwrap();
        write_beneath(dir.path(), &rel("a/b/c.py"), b"one", false).unwrap();
        assert_eq!(fs::read(dir.path().join("a/b/c.py")).unwrap(), b"one");
        let path = dir.path().join("a/b/c.py");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        }
        write_beneath(dir.path(), &rel("a/b/c.py"), b"two", true).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o7777, 0o600);
        }
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("a/b")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    /// Issue 21: a 0640 file from the container never becomes 0644 here.
    #[cfg(unix)]
    #[test]
    fn a_container_files_mode_caps_group_and_others() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let mode = |name: &str| fs::metadata(dir.path().join(name)).unwrap().permissions().mode() & 0o7777;
        write_beneath_capped(dir.path(), &rel("shadow"), b"x", 0o640).unwrap();
        assert_eq!(mode("shadow"), 0o640);
        write_beneath_capped(dir.path(), &rel("key"), b"x", 0o400).unwrap();
        assert_eq!(mode("key"), 0o600, "the owner keeps read and write");
        write_beneath_capped(dir.path(), &rel("run.sh"), b"x", 0o4755).unwrap();
        assert_eq!(mode("run.sh"), 0o755, "no setuid");
        // An existing file is narrowed, never widened.
        fs::set_permissions(dir.path().join("run.sh"), fs::Permissions::from_mode(0o644)).unwrap();
        write_beneath_capped(dir.path(), &rel("run.sh"), b"y", 0o600).unwrap();
        assert_eq!(mode("run.sh"), 0o600);
        write_beneath_capped(dir.path(), &rel("run.sh"), b"z", 0o777).unwrap();
        assert_eq!(mode("run.sh"), 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn never_writes_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        let outside = dir.path().join("outside");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("victim"), b"safe").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        std::os::unix::fs::symlink(outside.join("victim"), root.join("file-link")).unwrap();
        let err = write_beneath(&root, &rel("link/victim"), b"pwned", false).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        let err = write_beneath(&root, &rel("link/new/file"), b"pwned", false).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        let err = write_beneath(&root, &rel("file-link"), b"pwned", false).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        assert_eq!(fs::read(outside.join("victim")).unwrap(), b"safe");
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 1);
        assert_eq!(read_beneath(&root, &rel("link/victim"), 1 << 20).unwrap(), None);
    }

    #[test]
    fn file_in_the_way_of_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a"), b"x").unwrap();
        let err = write_beneath(dir.path(), &rel("a/b"), b"y", false).unwrap_err();
        assert!(err.to_string().contains("is a file where a folder is needed"), "{err}");
        fs::create_dir(dir.path().join("d")).unwrap();
        let err = write_beneath(dir.path(), &rel("d"), b"y", false).unwrap_err();
        assert!(err.to_string().contains("is a folder"), "{err}");
    }
}
