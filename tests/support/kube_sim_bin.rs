//! Finding the Kubernetes API simulation's binary (`examples/kube-sim`) for
//! tests and the benchmark, built only when its own sources changed.
//!
//! Cargo links every example against the package's library, so after any
//! change to dockdap's library `cargo build --example kube-sim` compiles the
//! whole simulation again (its k8s-openapi, bollard and hyper server code:
//! half a minute on an idle machine, minutes on a loaded one), although the
//! simulation never uses the library (`tests/layering.rs` holds that). A
//! binary newer than the simulation's sources, `Cargo.toml` and `Cargo.lock`
//! is therefore used as it is; cargo builds it (same profile as the caller)
//! only when it is missing or older.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// `target/PROFILE/examples/kube-sim`, beside the running test's or
/// bench's `deps` folder, built first when missing or stale; `release`
/// says which profile the caller was built with.
pub fn kube_sim_binary(release: bool) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this test's binary: {e}"))?;
    let profile_dir = exe.parent().and_then(Path::parent).ok_or("this test's binary is not in target/PROFILE/deps")?;
    let binary = profile_dir.join("examples/kube-sim");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let built = std::fs::metadata(&binary).and_then(|m| m.modified()).ok();
    if built.is_some_and(|built| newest_source(root) <= built) {
        return Ok(binary);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = std::process::Command::new(cargo);
    build.args(["build", "--quiet", "--example", "kube-sim"]).current_dir(root);
    if release {
        build.arg("--release");
    }
    let out = build.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!("building the kube-sim example failed:\n{}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(binary)
}

/// The newest modification time of the simulation's sources and the manifests.
fn newest_source(root: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut dirs = vec![root.join("examples/kube-sim")];
    for file in ["Cargo.toml", "Cargo.lock"] {
        if let Ok(modified) = std::fs::metadata(root.join(file)).and_then(|m| m.modified()) {
            newest = newest.max(modified);
        }
    }
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                dirs.push(entry.path());
            } else if let Ok(modified) = meta.modified() {
                newest = newest.max(modified);
            }
        }
    }
    newest
}
