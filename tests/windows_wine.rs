//! dockdap's Windows build, run under Wine (`scripts/check-windows.sh`
//! builds it and installs Wine): `dockdap demo`, which drives a real DAP
//! session through the code editors use, from the checkout as Windows sees
//! it (`Z:\...`), against the remote TLS engine of `scripts/engines.sh`
//! with the certificates named by a Windows path. The breakpoint in `run()`
//! is hit at the Windows path of `score.py`, the scoring request reaches
//! the container through dockdap's forward to this machine's 127.0.0.1,
//! and the container is gone afterwards. And an editor's session over
//! stdio with the Windows build: a workspace at a Windows path, a stop in
//! `init()` there, files synced both ways while stopped (the workspace
//! watched through Windows' API, which Wine implements). What Wine cannot
//! stand in for (Docker Desktop's named pipe) is not covered here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use support::engines::{Engines, engines};
use support::{STOCK_IMAGE, line_of, require, spawn_stdio_command, wait_until};

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

/// What a Windows user of the remote TLS engine sets, and Wine's own
/// settings (an empty value removes the variable).
fn windows_env(e: &Engines) -> Vec<(String, String)> {
    let certs = as_windows(Path::new(&e.var("DOCKDAP_ENGINE_TLS_CERTS")));
    [
        ("WINEPREFIX", root().join("target/windows/wine").to_str().unwrap().to_owned()),
        ("WINEDEBUG", "-all".to_owned()),
        ("DOCKER_HOST", e.var("DOCKDAP_ENGINE_TLS_HOST")),
        ("DOCKER_TLS_VERIFY", "1".to_owned()),
        ("DOCKER_CERT_PATH", certs),
        ("DOCKER_CONTEXT", String::new()),
        ("DOCKER_CONFIG", String::new()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// `docker` on the remote TLS engine; its stdout, `None` if it failed.
fn docker_tls(e: &Engines, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("docker").args(e.docker_args("tls")).args(args).output().unwrap();
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn the_windows_build_debugs_a_container_on_a_remote_engine_with_windows_paths() {
    let Some(e) = engines() else { return };
    let Some((exe, wine)) = windows_build() else { return };
    let mut demo = tokio::process::Command::new(&wine);
    demo.arg(&exe).arg("demo").current_dir(root()).kill_on_drop(true);
    for (key, value) in windows_env(&e) {
        if value.is_empty() {
            demo.env_remove(key);
        } else {
            demo.env(key, value);
        }
    }
    let demo = demo.output();
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
    let left = docker_tls(&e, &["ps", "-aq", "--filter", &format!("name={name}")]);
    assert_eq!(left.as_deref(), Some(""), "{name} is left on the remote engine");
}

/// The debugpy package the host's `python3` imports.
fn host_debugpy() -> PathBuf {
    let out = std::process::Command::new("python3")
        .args(["-c", "import debugpy, os; print(os.path.dirname(debugpy.__file__))"])
        .output()
        .unwrap();
    assert!(out.status.success(), "python3 has no debugpy (scripts/setup.sh installs it)");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn body(m: &dockdap::dap::Message) -> Value {
    m.field("body").unwrap().unwrap_or_default()
}

#[tokio::test]
async fn the_windows_build_syncs_a_workspace_at_a_windows_path_both_ways() {
    let Some(e) = engines() else { return };
    let Some((exe, wine)) = windows_build() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("project");
    let copied =
        std::process::Command::new("cp").arg("-r").arg(root().join("examples/azureml-score")).arg(&ws).status();
    assert!(copied.unwrap().success());
    let score = ws.join("score.py");
    let init_line = line_of(&score, "dockdap-demo: init-breakpoint");
    let mut command = tokio::process::Command::new(&wine);
    command.arg(&exe);
    // The stock image has no debugpy: dockdap copies in the one this
    // machine's Python has, named by its Windows path (Wine has no Python).
    let mut env = windows_env(&e);
    env.push(("DOCKDAP_DEBUGPY".into(), as_windows(&host_debugpy())));
    let (mut dockdap, mut client, logs) = spawn_stdio_command(command, &ws, &env, true);
    client.set_timeout(Duration::from_secs(90));
    let initialize = json!({"adapterID": "dockdap", "pathFormat": "path", "linesStartAt1": true});
    client.request("initialize", initialize).await.unwrap();
    let args = json!({"type": "dockdap", "request": "launch", "image": STOCK_IMAGE,
                      "localRoot": as_windows(&ws), "ports": ["0:5001"], "timeout": 60});
    let launch = client.send_request("launch", args).await.unwrap();
    let first = client.wait_for("initialized", |m| m.is_event("initialized") || m.request_seq() == Some(launch)).await;
    assert!(first.unwrap().is_event("initialized"), "{:#?}", logs.lock().unwrap());
    let source = json!({"path": as_windows(&score)});
    client.request("setBreakpoints", json!({"source": source, "breakpoints": [{"line": init_line}]})).await.unwrap();
    client.request("configurationDone", json!({})).await.unwrap();
    let info = body(&client.wait_response(launch).await.unwrap())["dockdap"].clone();
    let name = info["container"].as_str().unwrap().to_owned();

    let stopped = client.wait_event("stopped").await.unwrap();
    let thread = body(&stopped)["threadId"].as_i64().unwrap();
    let trace = client.request("stackTrace", json!({"threadId": thread, "levels": 1})).await.unwrap();
    let top = body(&trace)["stackFrames"][0].clone();
    assert_eq!(top["source"]["path"], as_windows(&score), "{top}");
    assert_eq!(top["line"], init_line, "{top}");

    // Saved in the workspace: in the container with no request.
    std::fs::write(ws.join("from-editor.txt"), "made-in-the-editor\n").unwrap();
    let cat = ["exec", &name, "cat", "/var/azureml-app/from-editor.txt"];
    let arrived =
        wait_until(Duration::from_secs(30), || docker_tls(&e, &cat).as_deref() == Some("made-in-the-editor\n")).await;
    assert!(arrived.is_some(), "a workspace save reaches the container: {:#?}", logs.lock().unwrap());
    // Made in the container: in the workspace with no request.
    let made = docker_tls(
        &e,
        &["exec", &name, "sh", "-c", "echo made-in-the-container > /var/azureml-app/from-container.txt"],
    );
    assert!(made.is_some());
    let from = ws.join("from-container.txt");
    let arrived = wait_until(Duration::from_secs(30), || {
        std::fs::read_to_string(&from).is_ok_and(|t| t == "made-in-the-container\n")
    })
    .await;
    assert!(arrived.is_some(), "a file made in the container reaches the workspace");

    client.request("continue", json!({"threadId": thread})).await.unwrap();
    client.request("disconnect", json!({})).await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(30), dockdap.wait()).await;
    let gone = wait_until(Duration::from_secs(30), || {
        docker_tls(&e, &["ps", "-aq", "--filter", &format!("name=^{name}$")]).as_deref() == Some("")
    })
    .await;
    assert!(gone.is_some(), "{name} is left on the remote engine");
}
