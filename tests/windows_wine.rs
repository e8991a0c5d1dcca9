//! dockdap's Windows build, run under Wine (`scripts/check-windows.sh`
//! builds it and installs Wine): `dockdap demo`, which drives a real DAP
//! session through the code editors use, from the checkout as Windows sees
//! it (`Z:\...`), against the remote TLS engine of `scripts/engines.sh`
//! with the certificates named by a Windows path. The breakpoint in `run()`
//! is hit at the Windows path of `score.py`, the scoring request reaches
//! the container through dockdap's forward to this machine's 127.0.0.1,
//! and the container is gone afterwards. What Wine cannot stand in for
//! (the named pipe of Docker Desktop, Windows' own file watching) is not
//! covered here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::engines::engines;
use support::{line_of, require};

const TARGET: &str = "x86_64-pc-windows-gnu";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Windows `dockdap.exe` and Wine, or a loud skip (a failure under CI).
fn windows_build() -> Option<(PathBuf, PathBuf)> {
    let exe = root().join("target/windows").join(TARGET).join("debug/dockdap.exe");
    let wine = ["/usr/bin/wine64", "/usr/lib/wine/wine64"].into_iter().map(PathBuf::from).find(|w| w.exists());
    match wine {
        Some(wine) if exe.is_file() => Some((exe, wine)),
        _ => {
            require("dockdap's Windows build and Wine (`bash scripts/check-windows.sh` makes both)", false);
            None
        }
    }
}

/// A path of this machine as a Windows program under Wine sees it.
fn as_windows(path: &Path) -> String {
    format!("Z:{}", path.to_str().unwrap().replace('/', "\\"))
}

#[tokio::test]
async fn the_windows_build_debugs_a_container_on_a_remote_engine_with_windows_paths() {
    let Some(e) = engines() else { return };
    let Some((exe, wine)) = windows_build() else { return };
    let certs = as_windows(Path::new(&e.var("DOCKDAP_ENGINE_TLS_CERTS")));
    let demo = tokio::process::Command::new(&wine)
        .arg(&exe)
        .arg("demo")
        .current_dir(root())
        .env("WINEPREFIX", root().join("target/windows/wine"))
        .env("WINEDEBUG", "-all")
        .env("DOCKER_HOST", e.var("DOCKDAP_ENGINE_TLS_HOST"))
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", &certs)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_CONFIG")
        .kill_on_drop(true)
        .output();
    let out =
        tokio::time::timeout(Duration::from_secs(300), demo).await.expect("the demo ends within 5 minutes").unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "dockdap.exe demo failed:\n{stdout}\n{stderr}");

    let score = root().join("examples/azureml-score/score.py");
    let stop = format!("{}:{}", as_windows(&score), line_of(&score, "dockdap-demo: breakpoint"));
    assert!(stdout.contains(&stop), "the stack shows {stop}:\n{stdout}");
    assert!(stdout.contains("POST /score -> 200: [39.0, 22.5]"), "{stdout}");
    let name = stdout
        .split_whitespace()
        .find(|w| w.starts_with("dockdap-azureml-score-debug-"))
        .unwrap_or_else(|| panic!("no container named in:\n{stdout}"));
    let left = std::process::Command::new("docker")
        .args(e.docker_args("tls"))
        .args(["ps", "-aq", "--filter", &format!("name={name}")])
        .output()
        .unwrap();
    assert!(left.status.success() && left.stdout.is_empty(), "{name} is left on the remote engine");
}
