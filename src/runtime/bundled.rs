//! The debugpy that editors bundle, for a machine whose Python has none.
//!
//! VS Code's Python debugger extension (and the editors built from VS Code:
//! Insiders, VSCodium, Cursor, Windsurf, and VS Code's remote server) ships
//! its own debugpy inside the extension, and never installs it into the
//! user's Python. So on many machines, Windows ones above all, `python -m
//! pip install debugpy` was never run, yet a debugpy dockdap can copy into
//! the container is on disk. The newest extension's copy is taken.

use std::path::{Path, PathBuf};

/// Editor folders under the home folder, each with an `extensions` folder.
const EDITORS: [&str; 7] =
    [".vscode", ".vscode-insiders", ".vscode-server", ".vscode-oss", ".cursor", ".windsurf", ".vscode-server-insiders"];

/// Extension folder prefixes and where each keeps debugpy: the debugger
/// extension today, the Python extension before it (2023 and older).
const EXTENSIONS: [(&str, &str); 2] =
    [("ms-python.debugpy-", "bundled/libs/debugpy"), ("ms-python.python-", "pythonFiles/lib/python/debugpy")];

/// The home folder (`USERPROFILE` on Windows).
fn home() -> Option<PathBuf> {
    let var = if cfg!(windows) { "USERPROFILE" } else { "HOME" };
    std::env::var_os(var).filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// The newest editor-bundled debugpy package folder under the home folder.
pub fn find() -> Option<PathBuf> {
    find_under(&home()?)
}

/// The newest editor-bundled debugpy under `home` that `is_debugpy` accepts.
fn find_under(home: &Path) -> Option<PathBuf> {
    let mut found: Vec<(Vec<u64>, PathBuf)> = Vec::new();
    for editor in EDITORS {
        let Ok(entries) = std::fs::read_dir(home.join(editor).join("extensions")) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            for (prefix, inside) in EXTENSIONS {
                let Some(rest) = name.strip_prefix(prefix) else { continue };
                let debugpy = inside.split('/').fold(entry.path(), |p, part| p.join(part));
                if super::inject::is_debugpy(&debugpy) {
                    found.push((version(rest), debugpy));
                }
            }
        }
    }
    found.into_iter().max_by(|a, b| a.0.cmp(&b.0)).map(|(_, path)| path)
}

/// `2024.10.0-win32-x64` -> [2024, 10, 0]: the numbers before any platform.
fn version(rest: &str) -> Vec<u64> {
    rest.split('-').next().unwrap_or_default().split('.').map(|n| n.parse().unwrap_or(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_debugpy(at: &Path) {
        std::fs::create_dir_all(at.join("adapter")).unwrap();
        std::fs::write(at.join("__init__.py"), "").unwrap();
    }

    #[test]
    fn the_newest_bundled_debugpy_of_any_editor_is_found() {
        let home = tempfile::tempdir().unwrap();
        assert_eq!(find_under(home.path()), None);
        let ext = |editor: &str, name: &str| home.path().join(editor).join("extensions").join(name);
        fake_debugpy(&ext(".vscode", "ms-python.python-2023.4.1").join("pythonFiles/lib/python/debugpy"));
        fake_debugpy(&ext(".vscode", "ms-python.debugpy-2024.2.0-win32-x64").join("bundled/libs/debugpy"));
        let newest = ext(".cursor", "ms-python.debugpy-2024.10.0-linux-x64").join("bundled/libs/debugpy");
        fake_debugpy(&newest);
        // Not a debugpy package (no adapter/): never taken, however new.
        std::fs::create_dir_all(ext(".vscode", "ms-python.debugpy-2025.1.0").join("bundled/libs/debugpy")).unwrap();
        assert_eq!(find_under(home.path()), Some(newest));
        assert_eq!(version("2024.10.0-win32-x64"), [2024, 10, 0]);
        assert!(version("2024.10.0") > version("2024.9.9"));
    }
}
