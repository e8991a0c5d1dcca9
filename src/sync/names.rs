//! Names of synced files: a validated relative path inside the mapped
//! folder, the rules that refuse hostile names from a container archive, and
//! the files sync never touches.
//!
//! A `RelPath` is the only way a name from the container becomes a path in
//! the workspace, so every check lives here: no absolute paths, no `..` or
//! `.` segments, no NUL or backslash, and on Windows hosts no drive letters,
//! reserved device names (`CON`, `aux.py`), `:` streams or trailing dots and
//! spaces. It does not touch the file system (see `write` for that).

use std::fmt;
use std::path::{Path, PathBuf};

/// The kind of host whose file system names are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostOs {
    /// Linux, macOS.
    Posix,
    /// Windows: reserved names and `:` are refused as well.
    Windows,
}

impl HostOs {
    /// The host dockdap runs on.
    pub fn current() -> HostOs {
        if cfg!(windows) { HostOs::Windows } else { HostOs::Posix }
    }
}

/// A name refused, and why; shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The name as the container gave it.
    pub path: String,
    /// Why it was refused.
    pub why: String,
}

impl Refusal {
    /// A refusal of `path` because `why`.
    pub fn new(path: impl Into<String>, why: impl Into<String>) -> Refusal {
        Refusal { path: path.into(), why: why.into() }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused {:?}: {}", self.path, self.why)
    }
}

/// A path relative to the mapped folder, `/`-separated, every component
/// checked. Never empty, never absolute, never climbing out.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelPath(String);

/// Names Windows reserves for devices, with or without an extension.
const WINDOWS_RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9", "COM¹", "COM²",
    "COM³", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9", "LPT¹", "LPT²", "LPT³", "CONIN$",
    "CONOUT$",
];

impl RelPath {
    /// Checks a `/`-separated relative name. A trailing `/` (how archives
    /// mark folders) is allowed; empty segments (`a//b`) are not.
    pub fn parse(name: &str, host: HostOs) -> Result<RelPath, Refusal> {
        let refuse = |why: &str| Refusal::new(name, why);
        if name.is_empty() {
            return Err(refuse("the name is empty"));
        }
        if name.starts_with('/') {
            return Err(refuse("it is an absolute path"));
        }
        let trimmed = name.strip_suffix('/').unwrap_or(name);
        if trimmed.is_empty() {
            return Err(refuse("the name is empty"));
        }
        for component in trimmed.split('/') {
            check_component(component, host).map_err(|why| refuse(&why))?;
        }
        Ok(RelPath(trimmed.to_owned()))
    }

    /// Joins checked components (from a host path walk).
    pub fn from_components<'a>(parts: impl IntoIterator<Item = &'a str>, host: HostOs) -> Result<RelPath, Refusal> {
        let joined = parts.into_iter().collect::<Vec<_>>().join("/");
        RelPath::parse(&joined, host)
    }

    /// The path as `/`-separated text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The components, outermost first.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The last component.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The folder it is in, if it is not at the top.
    pub fn parent(&self) -> Option<RelPath> {
        self.0.rsplit_once('/').map(|(parent, _)| RelPath(parent.to_owned()))
    }

    /// The same path with `suffix` added to its last component
    /// (`score.py` -> `score.py.container`).
    pub fn with_suffix(&self, suffix: &str) -> RelPath {
        RelPath(format!("{}{suffix}", self.0))
    }

    /// `child` inside this folder.
    pub fn join(&self, child: &RelPath) -> RelPath {
        RelPath(format!("{}/{}", self.0, child.0))
    }

    /// Where it is under a host folder.
    pub fn on_host(&self, root: &Path) -> PathBuf {
        let mut path = root.to_path_buf();
        for component in self.components() {
            path.push(component);
        }
        path
    }

    /// Where it is under a POSIX folder in the container.
    pub fn in_container(&self, root: &str) -> String {
        format!("{}/{}", root.trim_end_matches('/'), self.0)
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_component(c: &str, host: HostOs) -> Result<(), String> {
    match c {
        "" => return Err("it has an empty path segment".into()),
        "." => return Err("it has a `.` segment".into()),
        ".." => return Err("it climbs out of the folder (`..`)".into()),
        _ => {}
    }
    if c.contains('\0') {
        return Err("it contains a NUL byte".into());
    }
    if c.contains('\\') {
        return Err("it contains a backslash (a Windows path separator)".into());
    }
    if c.chars().any(char::is_control) {
        return Err("it contains a control character".into());
    }
    if host == HostOs::Windows {
        if c.contains(':') {
            return Err("it contains `:` (a drive letter or an NTFS stream on Windows)".into());
        }
        if let Some(bad) = c.chars().find(|ch| matches!(ch, '<' | '>' | '"' | '|' | '?' | '*')) {
            return Err(format!("it contains {bad:?}, which Windows does not allow in names"));
        }
        if c.ends_with('.') || c.ends_with(' ') {
            return Err("it ends with a dot or a space, which Windows drops".into());
        }
        let stem = c.split('.').next().unwrap_or(c).trim_end();
        if WINDOWS_RESERVED.iter().any(|r| r.eq_ignore_ascii_case(stem)) {
            return Err(format!("{stem:?} is a device name on Windows"));
        }
    }
    Ok(())
}

/// The suffix of the container's version of a conflicting file, written beside it in the workspace.
pub const CONFLICT_SUFFIX: &str = ".container";
/// The suffix of dockdap's temporary files (atomic writes).
pub const TEMP_SUFFIX: &str = ".dockdap-tmp";

/// Files sync never copies in either direction: bytecode caches, version
/// control, dockdap's own conflict copies and temporary files, and editors'
/// swap and backup files.
pub fn is_ignored(path: &RelPath) -> bool {
    let name = path.file_name();
    path.components().any(|c| c == "__pycache__" || c == ".git")
        || name.ends_with(".pyc")
        || is_own_file(name)
        || is_editor_scratch(name)
}

/// Vim's `.x.swp` and `4913`, Emacs's `x~` and `.#x`, and other editors' temporary files.
fn is_editor_scratch(name: &str) -> bool {
    name.ends_with('~')
        || name.starts_with(".#")
        || name == "4913"
        || [".swp", ".swo", ".swx", ".tmp"].iter().any(|s| name.ends_with(s))
}

/// A file dockdap itself writes beside others (a conflict copy or a temporary file).
pub fn is_own_file(name: &str) -> bool {
    name.ends_with(CONFLICT_SUFFIX) || name.ends_with(TEMP_SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(name: &str, host: HostOs, expect: Result<&str, &str>) {
        let got = RelPath::parse(name, host);
        match (got, expect) {
            (Ok(path), Ok(want)) => assert_eq!(path.as_str(), want),
            (Err(refusal), Err(why)) => assert!(refusal.why.contains(why), "{name:?}: {}", refusal.why),
            (got, want) => panic!("{name:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn hostile_names_are_refused() {
        use HostOs::*;
        check("score.py", Posix, Ok("score.py"));
        check("sub/dir/", Posix, Ok("sub/dir"));
        check("../../etc/x", Posix, Err("climbs out"));
        check("a/../../x", Posix, Err("climbs out"));
        check("/abs/x", Posix, Err("absolute"));
        check("C:\\x", Posix, Err("backslash"));
        check("./x", Posix, Err("`.` segment"));
        check("a//b", Posix, Err("empty path segment"));
        check("a\0b", Posix, Err("NUL"));
        check("new\nline", Posix, Err("control"));
        check("", Posix, Err("empty"));
        // Legal on POSIX, refused on Windows.
        check("aux.py", Posix, Ok("aux.py"));
        check("aux.py", Windows, Err("device name"));
        check("con", Windows, Err("device name"));
        check("COM1.txt", Windows, Err("device name"));
        check("score.py:stream", Windows, Err("`:`"));
        check("C:x", Windows, Err("`:`"));
        check("trailing.", Windows, Err("dot or a space"));
        check("space ", Windows, Err("dot or a space"));
        check("what?.py", Windows, Err("does not allow"));
        check("console.py", Windows, Ok("console.py"));
    }

    #[test]
    fn ignored_files() {
        let p = |s: &str| RelPath::parse(s, HostOs::Posix).unwrap();
        assert!(is_ignored(&p("__pycache__/score.cpython-311.pyc")));
        assert!(is_ignored(&p("pkg/__pycache__/x")));
        assert!(is_ignored(&p("x.pyc")));
        assert!(is_ignored(&p(".git/config")));
        assert!(is_ignored(&p("score.py.container")));
        assert!(is_ignored(&p(".score.py.1.dockdap-tmp")));
        assert!(!is_ignored(&p("score.py")));
        assert!(!is_ignored(&p(".gitignore")));
        assert!(is_ignored(&p(".score.py.swp")));
        assert!(is_ignored(&p("score.py~")));
        assert!(is_ignored(&p("4913")));
    }

    #[test]
    fn paths_on_both_sides() {
        let p = RelPath::parse("sub/score.py", HostOs::Posix).unwrap();
        assert_eq!(p.in_container("/var/azureml-app/"), "/var/azureml-app/sub/score.py");
        assert_eq!(p.on_host(Path::new("/ws")), Path::new("/ws/sub/score.py"));
        assert_eq!(p.parent().unwrap().as_str(), "sub");
        assert_eq!(p.file_name(), "score.py");
        assert_eq!(p.with_suffix(CONFLICT_SUFFIX).as_str(), "sub/score.py.container");
    }
}
