//! Finding the Kubernetes API simulation's binary (`examples/kube-sim`) for
//! tests and the benchmark, built only when its own sources changed.
//!
//! Two things made each test run rebuild the whole crate. First, `cargo
//! test` gives the test process the variables cargo sets for a crate
//! (`CARGO_MANIFEST_DIR`, `CARGO_PKG_NAME`, ...), and a nested `cargo build`
//! passed them on to build scripts that watch them (`ring`'s build script
//! says `rerun-if-env-changed=CARGO_MANIFEST_DIR`): ring was rebuilt with
//! them set, and the next `cargo test`, without them, rebuilt ring, rustls,
//! kube, bollard and dockdap again. The nested build now runs without them
//! (`CRATE_VARIABLES`). Second, cargo links every example against the
//! package's library, so after any
//! change to dockdap's library `cargo build --example kube-sim` compiles the
//! whole simulation again (its k8s-openapi, bollard and hyper server code:
//! half a minute on an idle machine, minutes on a loaded one), although the
//! simulation never uses the library (`tests/layering.rs` holds that). A
//! binary newer than the simulation's sources, `Cargo.toml` and `Cargo.lock`
//! is therefore used as it is; cargo builds it (same profile as the caller)
//! only when it is missing or older.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What cargo sets for a crate's test process (and build scripts), which a
/// nested cargo must not pass on: build scripts watch some of them.
const CRATE_VARIABLES: &[&str] = &[
    "CARGO",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_MANIFEST_LINKS",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
];
const CRATE_PREFIXES: &[&str] = &["CARGO_PKG_", "CARGO_CFG_", "CARGO_FEATURE_"];

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
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if CRATE_VARIABLES.contains(&&*name) || CRATE_PREFIXES.iter().any(|p| name.starts_with(p)) {
            build.env_remove(&*name);
        }
    }
    if release {
        build.arg("--release");
    }
    let out = build.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!("building the kube-sim example failed:\n{}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(binary)
}

/// The newest modification time of the simulation's Rust files and the manifests.
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
            } else if entry.path().extension().is_some_and(|e| e == "rs")
                && let Ok(modified) = meta.modified()
            {
                newest = newest.max(modified);
            }
        }
    }
    newest
}
