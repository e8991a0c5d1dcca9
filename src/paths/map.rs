//! `PathMap`: pure, lexical translation of one path string between the
//! user's workspace (host) and the container, in both directions.
//!
//! Container paths are POSIX strings. Host paths are POSIX or Windows (drive
//! letter, UNC, `\\?\` verbatim), and the flavour of each mapping is detected
//! from its configured host folder, never from the OS dockdap runs on, so
//! nothing here touches `std::path`. Both sides are normalised before
//! matching (repeated and trailing separators, `.`, `..`); Windows host paths
//! compare case-insensitively with `/` == `\`. This module deliberately does
//! not touch the file system (no symlink resolution, no existence checks),
//! does not know about DAP messages (see `locate.rs`) and does not remember
//! how the editor spelled a path (the `PathRewriter` does).

use std::borrow::Cow;
use std::fmt;

/// One workspace <-> container folder pair, as configured by the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// Workspace folder on the host: `/home/me/ws`, `C:\Users\me\ws`, `\\server\share\ws`.
    pub host: String,
    /// Folder inside the container, an absolute POSIX path such as `/var/azureml-app`.
    pub container: String,
}

impl Mapping {
    pub fn new(host: impl Into<String>, container: impl Into<String>) -> Mapping {
        Mapping { host: host.into(), container: container.into() }
    }
}

/// Why a configured mapping cannot be used; shown to the user as is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MappingError {
    HostNotAbsolute { host: String },
    ContainerNotAbsolute { container: String },
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MappingError::HostNotAbsolute { host } => write!(
                f,
                "workspace folder {host:?} in a path mapping is not an absolute path; \
                 use a full path such as /home/me/project or C:\\Users\\me\\project"
            ),
            MappingError::ContainerNotAbsolute { container } => write!(
                f,
                "container folder {container:?} in a path mapping is not an absolute posix path; \
                 use a full path such as /var/azureml-app"
            ),
        }
    }
}

impl std::error::Error for MappingError {}

/// How host paths of one mapping are spelled and compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostFlavour {
    /// `/home/me/ws`: `/` separates, case-sensitive.
    Posix,
    /// `C:\ws`, `c:/ws`, `\\server\share`: `/` and `\` separate, case-insensitive.
    Windows,
}

impl HostFlavour {
    /// Detects the flavour from a configured host folder: a drive letter or a
    /// leading `\\` means Windows, anything else POSIX.
    pub fn detect(host_root: &str) -> HostFlavour {
        let b = host_root.as_bytes();
        let drive = b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':';
        if drive || host_root.starts_with("\\\\") { HostFlavour::Windows } else { HostFlavour::Posix }
    }
}

/// Pure, both directions; the longest matching root wins, compared component
/// by component (`/var/azureml-app2` does not match `/var/azureml-app`); on a
/// tie the mapping configured first wins.
#[derive(Clone, Debug, Default)]
pub struct PathMap {
    mappings: Vec<Mapping>,
    entries: Vec<Entry>,
}

#[derive(Clone, Debug)]
struct Entry {
    host: Root,
    container: Root,
}

impl PathMap {
    /// Keeps the usable mappings and logs a warning for each unusable one, so
    /// a bad entry never stops a debug session; use [`PathMap::try_new`] to
    /// report it to the user instead.
    pub fn new(mappings: Vec<Mapping>) -> PathMap {
        let mut map = PathMap::default();
        for m in mappings {
            match Entry::new(&m) {
                Ok(entry) => {
                    map.entries.push(entry);
                    map.mappings.push(m);
                }
                Err(err) => tracing::warn!("ignoring path mapping: {err}"),
            }
        }
        map
    }

    /// Like [`PathMap::new`], but fails on the first unusable mapping.
    pub fn try_new(mappings: Vec<Mapping>) -> Result<PathMap, MappingError> {
        let mut map = PathMap::default();
        for m in mappings {
            map.entries.push(Entry::new(&m)?);
            map.mappings.push(m);
        }
        Ok(map)
    }

    /// The mappings in use, as configured (unusable ones dropped by `new`).
    pub fn mappings(&self) -> &[Mapping] {
        &self.mappings
    }

    /// The container path for a host path; `None` when it lies outside every
    /// mapping (or is relative, or `..` climbs above the file system root).
    pub fn to_container(&self, host_path: &str) -> Option<String> {
        let mut posix = None;
        let mut windows = None;
        let mut best: Option<(&Entry, Vec<&str>)> = None;
        for entry in &self.entries {
            let parsed = match entry.host.flavour {
                HostFlavour::Posix => posix.get_or_insert_with(|| parse_posix(host_path)),
                HostFlavour::Windows => windows.get_or_insert_with(|| parse_windows(host_path)),
            };
            let Some(parsed) = parsed else { continue };
            let Some(rest) = entry.host.strip(parsed) else {
                continue;
            };
            if best.as_ref().is_none_or(|(b, _)| entry.host.comps.len() > b.host.comps.len()) {
                best = Some((entry, rest.to_vec()));
            }
        }
        let (entry, rest) = best?;
        Some(entry.container.join(&rest))
    }

    /// The host path for a container path, in the configured host folder's
    /// spelling and separator style; `None` when it lies outside every
    /// mapping, or when a name holds a `\` that a Windows host cannot spell.
    pub fn to_host(&self, container_path: &str) -> Option<String> {
        let parsed = parse_posix(container_path)?;
        let mut best: Option<(&Entry, &[&str])> = None;
        for entry in &self.entries {
            let Some(rest) = entry.container.strip(&parsed) else {
                continue;
            };
            if best.is_none_or(|(b, _)| entry.container.comps.len() > b.container.comps.len()) {
                best = Some((entry, rest));
            }
        }
        let (entry, rest) = best?;
        if entry.host.flavour == HostFlavour::Windows && rest.iter().any(|c| c.contains('\\')) {
            return None;
        }
        Some(entry.host.join(rest))
    }

    /// Text that every container path this map translates holds: the last
    /// component of each container root (normalising a path only drops
    /// components, it never makes new text). `None` when a root is `/`,
    /// which every path is under.
    pub fn container_markers(&self) -> Option<Vec<&str>> {
        self.entries.iter().map(|e| e.container.comps.last().map(String::as_str)).collect()
    }

    /// Lexically normalises an absolute POSIX path (`/a//b/./c/../d` ->
    /// `/a/b/d`); `None` for relative paths or a `..` above `/`. Used as the
    /// key when remembering how the editor spelled a path.
    pub fn normalize_container(container_path: &str) -> Option<String> {
        let parsed = parse_posix(container_path)?;
        Some(Root::posix_display(&parsed.comps))
    }
}

impl Entry {
    fn new(m: &Mapping) -> Result<Entry, MappingError> {
        let host = Root::host(&m.host).ok_or_else(|| MappingError::HostNotAbsolute { host: m.host.clone() })?;
        let container = parse_posix(&m.container)
            .map(|p| Root::from_parsed(HostFlavour::Posix, &p, '/'))
            .ok_or_else(|| MappingError::ContainerNotAbsolute { container: m.container.clone() })?;
        Ok(Entry { host, container })
    }
}

/// The start of an absolute path, before its first ordinary component.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Prefix<'a> {
    /// `/`
    Posix,
    /// `C:\`, also spelled `\\?\C:\`.
    Drive(char),
    /// `\\server\share`, also spelled `\\?\UNC\server\share`.
    Unc { server: &'a str, share: &'a str },
}

/// A lexically normalised absolute path, borrowing from its input.
#[derive(Clone, Debug)]
struct Parsed<'a> {
    prefix: Prefix<'a>,
    comps: Vec<&'a str>,
}

/// A normalised mapping root with its comparison keys precomputed.
#[derive(Clone, Debug)]
struct Root {
    flavour: HostFlavour,
    /// Spelling used when building paths: `C:`, `\\server\share` or empty.
    prefix_display: String,
    /// Lowercased on Windows.
    prefix_key: String,
    comps: Vec<String>,
    keys: Vec<String>,
    sep: char,
    unc: bool,
}

impl Root {
    fn host(root: &str) -> Option<Root> {
        match HostFlavour::detect(root) {
            HostFlavour::Posix => Some(Root::from_parsed(HostFlavour::Posix, &parse_posix(root)?, '/')),
            HostFlavour::Windows => {
                let sep = root.chars().find(|&c| c == '\\' || c == '/').unwrap_or('\\');
                Some(Root::from_parsed(HostFlavour::Windows, &parse_windows(root)?, sep))
            }
        }
    }

    fn from_parsed(flavour: HostFlavour, p: &Parsed<'_>, sep: char) -> Root {
        let prefix_display = match &p.prefix {
            Prefix::Posix => String::new(),
            Prefix::Drive(letter) => format!("{letter}:"),
            Prefix::Unc { server, share } => format!("{sep}{sep}{server}{sep}{share}"),
        };
        Root {
            flavour,
            prefix_key: prefix_key(&p.prefix),
            prefix_display,
            comps: p.comps.iter().map(ToString::to_string).collect(),
            keys: p.comps.iter().map(|c| key(flavour, c).into_owned()).collect(),
            sep,
            unc: matches!(p.prefix, Prefix::Unc { .. }),
        }
    }

    /// The components of `p` below this root, or `None` if `p` is not under it.
    fn strip<'p, 'a>(&self, p: &'p Parsed<'a>) -> Option<&'p [&'a str]> {
        if prefix_key(&p.prefix) != self.prefix_key || p.comps.len() < self.comps.len() {
            return None;
        }
        let (head, rest) = p.comps.split_at(self.comps.len());
        let same = match self.flavour {
            HostFlavour::Posix => head.iter().zip(&self.comps).all(|(a, b)| a == b),
            HostFlavour::Windows => head.iter().zip(&self.keys).all(|(a, k)| key(self.flavour, a) == *k),
        };
        same.then_some(rest)
    }

    fn join<S: AsRef<str>>(&self, rest: &[S]) -> String {
        let mut out = self.prefix_display.clone();
        let all = self.comps.iter().map(String::as_str).chain(rest.iter().map(AsRef::as_ref));
        for comp in all {
            out.push(self.sep);
            out.push_str(comp);
        }
        // A bare `/` or drive (`C:`) needs its separator; a UNC share does not.
        if out.len() == self.prefix_display.len() && !self.unc {
            out.push(self.sep);
        }
        out
    }

    fn posix_display(comps: &[&str]) -> String {
        if comps.is_empty() {
            return "/".to_string();
        }
        comps.iter().fold(String::new(), |mut s, c| {
            s.push('/');
            s.push_str(c);
            s
        })
    }
}

fn key(flavour: HostFlavour, comp: &str) -> Cow<'_, str> {
    match flavour {
        HostFlavour::Posix => Cow::Borrowed(comp),
        HostFlavour::Windows => Cow::Owned(comp.to_lowercase()),
    }
}

fn prefix_key(p: &Prefix<'_>) -> String {
    match p {
        Prefix::Posix => "/".to_string(),
        Prefix::Drive(letter) => format!("{}:", letter.to_ascii_lowercase()),
        Prefix::Unc { server, share } => {
            format!("\\\\{}\\{}", server.to_lowercase(), share.to_lowercase())
        }
    }
}

/// Drops empty and `.` components and applies `..`; `None` if `..` climbs
/// above the prefix.
fn normalize<'a>(parts: impl Iterator<Item = &'a str>) -> Option<Vec<&'a str>> {
    let mut out = Vec::new();
    for part in parts {
        match part {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            _ => out.push(part),
        }
    }
    Some(out)
}

fn parse_posix(path: &str) -> Option<Parsed<'_>> {
    let rest = path.strip_prefix('/')?;
    Some(Parsed { prefix: Prefix::Posix, comps: normalize(rest.split('/'))? })
}

fn is_win_sep(c: char) -> bool {
    c == '\\' || c == '/'
}

fn parse_windows(path: &str) -> Option<Parsed<'_>> {
    let (prefix, rest) = if let Some(after) = strip_two_seps(path) {
        if let Some(verbatim) = after.strip_prefix('?').and_then(strip_one_sep) {
            if let Some((letter, rest)) = split_drive(verbatim) {
                (Prefix::Drive(letter), rest)
            } else {
                let unc = verbatim.get(..3).filter(|s| s.eq_ignore_ascii_case("unc"));
                let after_unc = unc.and_then(|_| strip_one_sep(&verbatim[3..]))?;
                split_unc(after_unc)?
            }
        } else {
            split_unc(after)?
        }
    } else {
        let (letter, rest) = split_drive(path)?;
        (Prefix::Drive(letter), rest)
    };
    Some(Parsed { prefix, comps: normalize(rest.split(is_win_sep))? })
}

fn strip_one_sep(s: &str) -> Option<&str> {
    s.strip_prefix(is_win_sep)
}

fn strip_two_seps(s: &str) -> Option<&str> {
    strip_one_sep(s).and_then(strip_one_sep)
}

/// `C:\rest` -> (`C`, `rest`); a bare or drive-relative `C:` is refused.
fn split_drive(s: &str) -> Option<(char, &str)> {
    let mut chars = s.chars();
    let letter = chars.next().filter(char::is_ascii_alphabetic)?;
    let rest = chars.as_str().strip_prefix(':')?;
    Some((letter, strip_one_sep(rest)?))
}

/// `server\share\rest` -> UNC prefix and `rest`; `.` and `?` servers are
/// device namespaces, not shares.
fn split_unc(s: &str) -> Option<(Prefix<'_>, &str)> {
    let mut parts = s.splitn(3, is_win_sep);
    let server = parts.next().filter(|p| !p.is_empty() && *p != "." && *p != "?")?;
    let share = parts.next().filter(|p| !p.is_empty() && *p != "." && *p != "..")?;
    Some((Prefix::Unc { server, share }, parts.next().unwrap_or("")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const AML: &str = "/var/azureml-app";

    fn map(pairs: &[(&str, &str)]) -> PathMap {
        PathMap::try_new(pairs.iter().map(|(h, c)| Mapping::new(*h, *c)).collect()).unwrap()
    }

    #[derive(Clone, Copy, Debug)]
    enum To {
        Container,
        Host,
    }
    use To::{Container, Host};

    /// Maps `input` with the (host, container) `pairs` in direction `to`;
    /// `None` means "outside every mapping".
    #[track_caller]
    fn check(pairs: &[(&str, &str)], to: To, input: &str, expect: Option<&str>) {
        let m = map(pairs);
        let got = match to {
            Container => m.to_container(input),
            Host => m.to_host(input),
        };
        assert_eq!(got.as_deref(), expect, "{to:?} {input:?}");
    }

    #[test]
    #[rustfmt::skip]
    fn posix_to_container() {
        let ws = &[("/home/u/ws", AML)];
        check(ws, Container, "/home/u/ws/app.py", Some("/var/azureml-app/app.py"));
        check(ws, Container, "/home/u/ws", Some(AML));
        check(ws, Container, "/home/u/ws/", Some(AML));
        check(ws, Container, "/home/u/ws/sub/deep/x.py", Some("/var/azureml-app/sub/deep/x.py"));
        check(ws, Container, "/home/u/ws2/app.py", None);
        check(ws, Container, "/home/u/w", None);
        check(ws, Container, "/home/U/ws/app.py", None);
        check(ws, Container, "home/u/ws/app.py", None);
        check(ws, Container, "", None);
        check(ws, Container, "C:\\home\\u\\ws\\app.py", None);
        check(ws, Container, "//home///u/ws//./app.py", Some("/var/azureml-app/app.py"));
        check(ws, Container, "/home/u/ws/sub/../app.py", Some("/var/azureml-app/app.py"));
        check(ws, Container, "/home/u/ws/../ws/app.py", Some("/var/azureml-app/app.py"));
        check(ws, Container, "/home/u/ws/../ws2/app.py", None);
        check(ws, Container, "/home/u/ws/../../../../etc/passwd", None);
        check(ws, Container, "/home/u/ws/a\\b.py", Some("/var/azureml-app/a\\b.py"));
        check(&[("/home/u/ws/", "/var/azureml-app/")], Container, "/home/u/ws/app.py", Some("/var/azureml-app/app.py"));
        check(&[("/home/u/./ws", "/var//azureml-app/.")], Container, "/home/u/ws/app.py", Some("/var/azureml-app/app.py"));
        check(&[("/", "/mnt/host")], Container, "/etc/hosts", Some("/mnt/host/etc/hosts"));
        check(&[("/home/u/ws", "/")], Container, "/home/u/ws/app.py", Some("/app.py"));
        check(&[("/home/u/ws", "/")], Container, "/home/u/ws", Some("/"));
    }

    #[test]
    #[rustfmt::skip]
    fn posix_to_host() {
        let ws = &[("/home/u/ws", AML)];
        check(ws, Host, "/var/azureml-app/app.py", Some("/home/u/ws/app.py"));
        check(ws, Host, "/var/azureml-app", Some("/home/u/ws"));
        check(ws, Host, "/var/azureml-app/", Some("/home/u/ws"));
        check(ws, Host, "/var/azureml-app2/x.py", None);
        check(ws, Host, "/var/azureml-ap/x.py", None);
        check(ws, Host, "/usr/local/lib/python3.11/site-packages/x.py", None);
        check(ws, Host, "/var/azureml-app/../etc/passwd", None);
        check(ws, Host, "/var/azureml-app/../azureml-app/x.py", Some("/home/u/ws/x.py"));
        check(ws, Host, "/var/AzureML-app/x.py", None);
        check(ws, Host, "var/azureml-app/x.py", None);
        check(ws, Host, "<string>", None);
        check(ws, Host, "/var/azureml-app/données/a b.py", Some("/home/u/ws/données/a b.py"));
        check(ws, Host, "/var/azureml-app/a\\b.py", Some("/home/u/ws/a\\b.py"));
        check(&[("/", AML)], Host, "/var/azureml-app/etc/x", Some("/etc/x"));
        check(&[("/", AML)], Host, AML, Some("/"));
    }

    #[test]
    #[rustfmt::skip]
    fn windows_to_container() {
        let ws = &[("C:\\Users\\U\\ws", AML)];
        check(ws, Container, "C:\\Users\\U\\ws\\app.py", Some("/var/azureml-app/app.py"));
        check(ws, Container, "c:\\Users\\U\\WS\\app.py", Some("/var/azureml-app/app.py"));
        check(ws, Container, "c:/users/u/ws/App.py", Some("/var/azureml-app/App.py"));
        check(ws, Container, "C:/Users/U/ws\\sub/app.py", Some("/var/azureml-app/sub/app.py"));
        check(ws, Container, "C:\\Users\\U\\ws\\\\sub\\.\\x\\..\\app.py", Some("/var/azureml-app/sub/app.py"));
        check(ws, Container, "C:\\Users\\U\\ws\\", Some(AML));
        check(ws, Container, "C:\\Users\\U\\ws2\\app.py", None);
        check(ws, Container, "D:\\Users\\U\\ws\\app.py", None);
        check(ws, Container, "C:\\Users\\U\\ws\\..\\..\\..\\..\\x.py", None);
        check(ws, Container, "C:Users\\U\\ws\\app.py", None);
        check(ws, Container, "\\Users\\U\\ws\\app.py", None);
        check(ws, Container, "/Users/U/ws/app.py", None);
        check(ws, Container, "\\\\?\\C:\\Users\\U\\ws\\app.py", Some("/var/azureml-app/app.py"));
        check(ws, Container, "\\\\.\\C:\\Users\\U\\ws\\app.py", None);
        check(ws, Container, "C:\\Users\\U\\ws\\Données\\A B.py", Some("/var/azureml-app/Données/A B.py"));
        check(&[("C:\\Users\\Ü\\ws", AML)], Container, "c:\\users\\ü\\WS\\x.py", Some("/var/azureml-app/x.py"));
        check(&[("c:/Users/U/ws/", AML)], Container, "C:\\USERS\\u\\Ws\\x.py", Some("/var/azureml-app/x.py"));
        check(&[("C:\\", AML)], Container, "c:\\x\\y.py", Some("/var/azureml-app/x/y.py"));
        check(&[("\\\\?\\C:\\ws", AML)], Container, "C:/ws/y.py", Some("/var/azureml-app/y.py"));
    }

    #[test]
    #[rustfmt::skip]
    fn windows_to_host() {
        let ws = &[("C:\\Users\\U\\ws", AML)];
        check(ws, Host, "/var/azureml-app/app.py", Some("C:\\Users\\U\\ws\\app.py"));
        check(ws, Host, "/var/azureml-app/sub/a b.py", Some("C:\\Users\\U\\ws\\sub\\a b.py"));
        check(ws, Host, AML, Some("C:\\Users\\U\\ws"));
        check(ws, Host, "/var/azureml-app/a\\b.py", None);
        check(ws, Host, "/var/azureml-app2/app.py", None);
        check(&[("c:/Users/U/ws/", AML)], Host, "/var/azureml-app/sub/x.py", Some("c:/Users/U/ws/sub/x.py"));
        check(&[("C:\\", AML)], Host, "/var/azureml-app/x.py", Some("C:\\x.py"));
        check(&[("C:\\", AML)], Host, AML, Some("C:\\"));
        check(&[("c:/", AML)], Host, AML, Some("c:/"));
        check(&[("\\\\?\\C:\\ws", AML)], Host, "/var/azureml-app/x.py", Some("C:\\ws\\x.py"));
    }

    #[test]
    #[rustfmt::skip]
    fn unc() {
        let ws = &[("\\\\Server\\Share\\ws", AML)];
        check(ws, Container, "\\\\server\\share\\WS\\x.py", Some("/var/azureml-app/x.py"));
        check(ws, Container, "//server/share/ws/x.py", Some("/var/azureml-app/x.py"));
        check(ws, Container, "\\\\?\\UNC\\server\\share\\ws\\x.py", Some("/var/azureml-app/x.py"));
        check(ws, Container, "\\\\other\\share\\ws\\x.py", None);
        check(ws, Container, "\\\\server\\share\\..\\x.py", None);
        check(ws, Container, "\\\\server", None);
        check(ws, Host, "/var/azureml-app/x.py", Some("\\\\Server\\Share\\ws\\x.py"));
        check(&[("\\\\srv\\share", AML)], Host, AML, Some("\\\\srv\\share"));
        check(&[("\\\\srv\\share\\", AML)], Host, "/var/azureml-app/a", Some("\\\\srv\\share\\a"));
    }

    #[test]
    #[rustfmt::skip]
    fn longest_prefix_wins() {
        let several = &[
            ("/home/u/ws", AML),
            ("/home/u/ws/lib", "/opt/lib"),
            ("/home/u/ws/lib/vendored", "/opt/vendored"),
            ("/home/u/ws-other", "/srv/other"),
        ];
        check(several, Container, "/home/u/ws/app.py", Some("/var/azureml-app/app.py"));
        check(several, Container, "/home/u/ws/lib/x.py", Some("/opt/lib/x.py"));
        check(several, Container, "/home/u/ws/lib/vendored/y.py", Some("/opt/vendored/y.py"));
        check(several, Container, "/home/u/ws/library/x.py", Some("/var/azureml-app/library/x.py"));
        check(several, Container, "/home/u/ws-other/z.py", Some("/srv/other/z.py"));
        check(several, Host, "/opt/lib/x.py", Some("/home/u/ws/lib/x.py"));
        check(several, Host, "/opt/vendored/y.py", Some("/home/u/ws/lib/vendored/y.py"));
        let nested_container = &[("/home/u/ws", AML), ("/home/u/models", "/var/azureml-app/models")];
        check(nested_container, Container, "/home/u/models/m.pkl", Some("/var/azureml-app/models/m.pkl"));
        check(nested_container, Host, "/var/azureml-app/models/m.pkl", Some("/home/u/models/m.pkl"));
        check(nested_container, Host, "/var/azureml-app/modelsx", Some("/home/u/ws/modelsx"));
        let tie = &[("/a", "/same"), ("/b", "/same")];
        check(tie, Host, "/same/x", Some("/a/x"));
        let mixed = &[("C:\\ws", AML), ("/home/u/ws", "/srv")];
        check(mixed, Container, "c:/ws/x.py", Some("/var/azureml-app/x.py"));
        check(mixed, Container, "/home/u/ws/x.py", Some("/srv/x.py"));
        check(mixed, Host, "/srv/x.py", Some("/home/u/ws/x.py"));
    }

    #[test]
    fn bad_mappings() {
        let err = |h: &str, c: &str| PathMap::try_new(vec![Mapping::new(h, c)]).unwrap_err().to_string();
        assert!(err(".", AML).starts_with("workspace folder \".\" in a path mapping is not an absolute path"));
        assert!(err("C:ws", AML).contains("not an absolute path"));
        assert!(err("/ws", "var/azureml-app").starts_with("container folder \"var/azureml-app\""));
        assert!(err("/ws", "/..").contains("not an absolute posix path"));
        let m = PathMap::new(vec![Mapping::new(".", AML), Mapping::new("/ws", AML)]);
        assert_eq!(m.mappings(), &[Mapping::new("/ws", AML)]);
        assert_eq!(m.to_container("/ws/x"), Some("/var/azureml-app/x".to_string()));
        assert_eq!(PathMap::default().to_container("/ws/x"), None);
    }

    #[test]
    fn normalize_container() {
        let n = |s: &str| PathMap::normalize_container(s);
        assert_eq!(n("/var//azureml-app/./x/../y.py").as_deref(), Some("/var/azureml-app/y.py"));
        assert_eq!(n("/").as_deref(), Some("/"));
        assert_eq!(n("/a/").as_deref(), Some("/a"));
        assert_eq!(n("/.."), None);
        assert_eq!(n("a/b"), None);
    }

    #[test]
    fn detect_flavour() {
        for (root, flavour) in [
            ("C:\\x", HostFlavour::Windows),
            ("c:/x", HostFlavour::Windows),
            ("\\\\srv\\share", HostFlavour::Windows),
            ("/home/u", HostFlavour::Posix),
            ("//srv/share", HostFlavour::Posix),
            ("ws", HostFlavour::Posix),
        ] {
            assert_eq!(HostFlavour::detect(root), flavour, "{root}");
        }
    }

    fn segment() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 ._~éüßÅ日本語-]{1,12}".prop_filter("not . or ..", |s| s != "." && s != "..")
    }

    fn rest() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(segment(), 0..6)
    }

    fn join(root: &str, sep: char, rest: &[String]) -> String {
        let mut s = root.to_string();
        for c in rest {
            if !s.ends_with(sep) {
                s.push(sep);
            }
            s.push_str(c);
        }
        s
    }

    proptest! {
        #[test]
        fn posix_round_trip(rest in rest()) {
            let m = map(&[("/home/u/my ws", AML), ("/home/u/my ws/lib", "/opt/lib")]);
            let host = join("/home/u/my ws", '/', &rest);
            let container = m.to_container(&host).unwrap();
            prop_assert_eq!(m.to_host(&container), Some(host));
            let container = join(AML, '/', &rest);
            let host = m.to_host(&container).unwrap();
            prop_assert_eq!(m.to_container(&host), Some(container));
        }

        #[test]
        fn windows_round_trip(rest in rest()) {
            let m = map(&[("C:\\Users\\Zoë\\ws", AML), ("\\\\srv\\share", "/mnt/share")]);
            let host = join("C:\\Users\\Zoë\\ws", '\\', &rest);
            let container = m.to_container(&host).unwrap();
            prop_assert_eq!(m.to_host(&container), Some(host));
            let host = join("\\\\srv\\share", '\\', &rest);
            let container = m.to_container(&host).unwrap();
            prop_assert_eq!(m.to_host(&container), Some(host));
            let container = join(AML, '/', &rest);
            let host = m.to_host(&container).unwrap();
            prop_assert_eq!(m.to_container(&host), Some(container));
        }

        #[test]
        fn container_round_trip_any_name(rest in prop::collection::vec("[^/]{1,8}", 0..5)) {
            prop_assume!(rest.iter().all(|s| s != "." && s != ".."));
            let container = join(AML, '/', &rest);
            for m in [map(&[("/ws", AML)]), map(&[("C:\\ws", AML)])] {
                if let Some(host) = m.to_host(&container) {
                    prop_assert_eq!(m.to_container(&host), Some(container.clone()));
                }
            }
        }

        #[test]
        fn never_panics(s in ".{0,40}", t in "[/\\\\.:?a-zC]{0,16}") {
            let maps = [map(&[("/ws", AML)]), map(&[("C:\\ws", AML), ("\\\\s\\h", "/s")])];
            for m in &maps {
                for p in [&s, &t] {
                    let _ = m.to_container(p);
                    let _ = m.to_host(p);
                    let _ = PathMap::normalize_container(p);
                }
            }
            let _ = PathMap::new(vec![Mapping::new(s.clone(), t.clone()), Mapping::new(t, s)]);
        }
    }
}
