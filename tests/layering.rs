//! The crate's layering, checked: every module imports only the modules
//! below it (ARCHITECTURE.md, "Layers"), so there are no cycles; `bollard`
//! is used only by the Docker runtime (`src/runtime/docker/`), `kube` and
//! `k8s_openapi` only by the Kubernetes runtime (`src/runtime/kube/`); and
//! the Docker runtime is named only by the runtime's factory and the
//! commands, the Kubernetes runtime only by the factory.
//!
//! It reads the source as text: every `crate::NAME` path in a module's code
//! (its tests excepted), `use` lines and paths written inline alike.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each top-level module and the modules it may import, bottom up.
const LAYERS: &[(&str, &[&str])] = &[
    // What the user sees, tasks with an owner, the wire, paths, streams: leaves.
    ("console", &[]),
    ("tasks", &[]),
    ("dap", &[]),
    ("paths", &[]),
    ("transport", &[]),
    ("http", &[]),
    ("config", &["paths"]),
    ("client", &["dap", "transport"]),
    // The place debugpy runs.
    ("runtime", &["config", "console", "tasks", "transport"]),
    ("error", &["config", "dap", "runtime"]),
    ("sync", &["console", "runtime", "tasks", "transport"]),
    ("session", &["config", "console", "dap", "error", "http", "paths", "runtime", "sync", "tasks", "transport"]),
    // The commands (`demo` runs a whole session through `client`).
    ("cli", &["client", "config", "console", "error", "http", "paths", "runtime", "session", "tasks"]),
];

/// Files outside `src/runtime/kube/` that may name the Kubernetes runtime.
const NAMES_KUBE: &[&str] = &["runtime/mod.rs"];

/// Files outside `src/runtime/docker/` and `src/cli/` that may name the Docker runtime.
const NAMES_DOCKER: &[&str] = &["runtime/mod.rs", "main.rs"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file's code: comments dropped, and nothing from its tests on.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let before_tests = text.split("#[cfg(test)]").next().unwrap_or_default();
    before_tests.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The modules a piece of code names as `crate::NAME`.
fn imports(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `dockdap_crate::`, not ours
        }
        let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
        if !name.is_empty() {
            found.push(name);
        }
    }
    found
}

/// Every import against the layering, as "file: names module" lines.
fn violations() -> Vec<String> {
    let layers: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut bad = Vec::new();
    for path in files {
        let rel = path.strip_prefix(src()).unwrap().to_string_lossy().replace('\\', "/");
        let top = rel.split('/').next().unwrap().trim_end_matches(".rs").to_owned();
        let code = code(&path);
        let in_docker = rel.starts_with("runtime/docker/");
        if !in_docker && (code.contains("bollard::") || code.contains("use bollard")) {
            bad.push(format!("{rel}: imports bollard, which only src/runtime/docker/ may"));
        }
        if !in_docker && !NAMES_DOCKER.contains(&rel.as_str()) && !rel.starts_with("cli/") && code.contains("docker::")
        {
            bad.push(format!("{rel}: names the Docker runtime; only the runtime's factory and the commands may"));
        }
        let in_kube = rel.starts_with("runtime/kube/");
        if !in_kube && code.contains("k8s_openapi") {
            bad.push(format!("{rel}: uses k8s_openapi, which only src/runtime/kube/ may"));
        }
        if !in_kube && !NAMES_KUBE.contains(&rel.as_str()) && code.contains("kube::") {
            bad.push(format!(
                "{rel}: names kube or the Kubernetes runtime; only src/runtime/kube/ and the factory may"
            ));
        }
        if rel == "main.rs" || rel == "lib.rs" {
            continue;
        }
        let Some(allowed) = layers.get(top.as_str()) else {
            bad.push(format!("{rel}: module {top} is not in the layering (tests/layering.rs, ARCHITECTURE.md)"));
            continue;
        };
        for name in imports(&code) {
            if name != top && !allowed.contains(&name.as_str()) {
                bad.push(format!("{rel}: imports crate::{name}, which {top} may not"));
            }
        }
    }
    bad.sort();
    bad.dedup();
    bad
}

#[test]
fn modules_import_only_what_is_below_them() {
    let bad = violations();
    assert!(bad.is_empty(), "imports against the layering:\n{}", bad.join("\n"));
}

#[test]
fn the_layering_has_no_cycles() {
    // Each module may import only modules listed before it.
    for (i, (module, allowed)) in LAYERS.iter().enumerate() {
        for dep in *allowed {
            let at = LAYERS.iter().position(|(m, _)| m == dep);
            assert!(at.is_some_and(|at| at < i), "{module} may import {dep}, which is not below it");
        }
    }
}

#[test]
fn the_checker_sees_imports() {
    assert_eq!(imports("use crate::dap::{Message};\nlet x = crate::runtime::docker::reap::x();"), ["dap", "runtime"]);
    assert_eq!(imports("use my_crate::dap;"), Vec::<String>::new());
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    assert!(files.len() > 40, "the checker reads the whole crate");
}

/// The Kubernetes API simulation stands on its own: it never uses dockdap's
/// library (it must not share dockdap's reading of Kubernetes), so tests
/// reuse its binary across library changes (`support/kube_sim_bin.rs`).
#[test]
fn the_kubernetes_simulation_does_not_use_the_library() {
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kube-sim"), &mut files);
    assert!(files.len() > 20, "the simulation's files are read");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("dockdap::"), "{} uses the dockdap library", file.display());
    }
}
