//! Whether a debugpy package can run on the image's Python, and which one
//! can when the default cannot.
//!
//! dockdap copies this machine's debugpy into the container, and debugpy's
//! releases drop old Pythons (1.8.18 and later need 3.10): on a Python 3.9
//! image a new debugpy exits at once, without a word. So before copying,
//! dockdap reads the package's `Requires-Python` (from its `dist-info`
//! beside it) and compares it with the image's Python (asked by
//! `probe::run_python`); when it does not fit, it looks for one that does
//! among the packages kept under `<cache>/debugpy/<anything>/debugpy` (the
//! cache of images/build-images.sh, `$DOCKDAP_CACHE` or
//! `~/.cache/dockdap`), and otherwise says what to install.
//!
//! Pure: reads files on this machine, starts nothing.

use std::path::{Path, PathBuf};

/// A Python version, `(major, minor)`.
pub type Version = (u32, u32);

/// The lowest Python a debugpy package folder supports, from the
/// `Requires-Python: >=X.Y` of the `debugpy-*.dist-info/METADATA` beside
/// it; `None` when that cannot be read (then nothing is checked).
pub fn lowest_python(package: &Path) -> Option<Version> {
    let (_, metadata) = dist_info(package)?;
    requires_python(&metadata)
}

/// The package's version and its METADATA text.
fn dist_info(package: &Path) -> Option<(String, String)> {
    let parent = package.parent()?;
    let mut infos: Vec<PathBuf> = std::fs::read_dir(parent)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("debugpy-") && n.ends_with(".dist-info"))
        })
        .collect();
    infos.sort();
    let info = infos.pop()?;
    let metadata = std::fs::read_to_string(info.join("METADATA")).ok()?;
    let version = metadata.lines().find_map(|l| l.strip_prefix("Version:")).unwrap_or("?").trim().to_owned();
    Some((version, metadata))
}

/// The package's version, for the debug console.
pub fn version_of(package: &Path) -> String {
    dist_info(package).map_or_else(|| "?".to_owned(), |(v, _)| v)
}

/// `>=X.Y` out of a METADATA's `Requires-Python`.
fn requires_python(metadata: &str) -> Option<Version> {
    let spec = metadata.lines().find_map(|l| l.strip_prefix("Requires-Python:"))?;
    spec.split(',').find_map(|clause| parse_version(clause.trim().strip_prefix(">=")?))
}

/// `3.9` (or `3.9.2`) as `(3, 9)`.
pub fn parse_version(text: &str) -> Option<Version> {
    let mut parts = text.trim().split('.');
    let major = parts.next()?.trim().parse().ok()?;
    let minor = parts.next()?.trim().parse().ok()?;
    Some((major, minor))
}

/// The debugpy packages kept in dockdap's cache: `<cache>/debugpy/*/debugpy`.
pub fn cached_packages() -> Vec<PathBuf> {
    let Some(cache) = cache_dir() else { return Vec::new() };
    let Ok(entries) = std::fs::read_dir(cache.join("debugpy")) else { return Vec::new() };
    let mut found: Vec<PathBuf> =
        entries.flatten().map(|e| e.path().join("debugpy")).filter(|p| p.join("__init__.py").is_file()).collect();
    // Newest first, by the folder's name (a version, as setup.sh names them).
    found.sort();
    found.reverse();
    found
}

/// `$DOCKDAP_CACHE`, else `$XDG_CACHE_HOME/dockdap`, else `~/.cache/dockdap`.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("DOCKDAP_CACHE")
        .or_else(|| var("XDG_CACHE_HOME").map(|p| p.join("dockdap")))
        .or_else(|| var("HOME").map(|p| p.join(".cache/dockdap")))
}

/// The first of `candidates` whose lowest Python is at most `python`
/// (an unknown lowest counts as fitting).
pub fn first_fitting(candidates: &[PathBuf], python: Version) -> Option<PathBuf> {
    candidates.iter().find(|c| lowest_python(c).is_none_or(|low| low <= python)).cloned()
}

/// What to tell a user whose image's Python no debugpy on this machine supports.
pub fn no_fit_message(package: &Path, lowest: Version, python: Version) -> String {
    let cache = cache_dir().map_or_else(|| "~/.cache/dockdap".to_owned(), |c| c.display().to_string());
    format!(
        "the image runs Python {}.{}, and the debugpy {} that dockdap would copy in ({}) needs Python {}.{} or later; install one that supports {}.{} where dockdap looks for it: `python3 -m pip install --target {cache}/debugpy/1.8.17 debugpy==1.8.17` (or set `debugpyPath` to such a debugpy package folder)",
        python.0,
        python.1,
        version_of(package),
        package.display(),
        lowest.0,
        lowest.1,
        python.0,
        python.1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(dir: &Path, version: &str, requires: &str) -> PathBuf {
        let pkg = dir.join(version).join("debugpy");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(pkg.join("__init__.py"), "").unwrap();
        let info = dir.join(version).join(format!("debugpy-{version}.dist-info"));
        std::fs::create_dir_all(&info).unwrap();
        std::fs::write(
            info.join("METADATA"),
            format!("Name: debugpy\nVersion: {version}\nRequires-Python: {requires}\n"),
        )
        .unwrap();
        pkg
    }

    #[test]
    fn requires_python_is_read_from_the_dist_info() {
        let dir = tempfile::tempdir().unwrap();
        let new = package(dir.path(), "1.8.22", ">=3.10");
        let old = package(dir.path(), "1.8.17", ">=3.8, <4");
        assert_eq!(lowest_python(&new), Some((3, 10)));
        assert_eq!(lowest_python(&old), Some((3, 8)));
        assert_eq!(version_of(&new), "1.8.22");
        assert_eq!(lowest_python(&dir.path().join("nowhere/debugpy")), None);
        let candidates = [new.clone(), old.clone()];
        assert_eq!(first_fitting(&candidates, (3, 13)), Some(new.clone()));
        assert_eq!(first_fitting(&candidates, (3, 9)), Some(old));
        assert_eq!(first_fitting(&candidates[..1], (3, 9)), None);
        let message = no_fit_message(&new, (3, 10), (3, 9));
        assert!(message.contains("runs Python 3.9") && message.contains("needs Python 3.10"), "{message}");
        assert!(message.contains("debugpy==1.8.17") && message.contains("debugpyPath"), "{message}");
    }

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("3.9.2\n"), Some((3, 9)));
        assert_eq!(parse_version("3.13"), Some((3, 13)));
        assert_eq!(parse_version("three"), None);
    }
}
