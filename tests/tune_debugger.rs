//! `tuneDebugger` end to end (issue 10): real Docker, dockdap over stdio.
//!
//! - In the example image, the bootstrap reaches the gunicorn worker: stopped
//!   in `init()`, the worker's pydevd socket has TCP_NODELAY and Debian's own
//!   `sitecustomize` was chained. (`tests/docker_launch.rs` covers breakpoints
//!   in `init()` and `run()` of the same worker; sessions are tuned by default.)
//! - An image with its own `sitecustomize.py` on its `PYTHONPATH` still runs it.
//! - `tuneDebugger: false` leaves the bootstrap out, and the stock debugpy's
//!   socket is left with Nagle on.
//! - Debian's `python3-debugpy` 1.6 (with its separate `python3-pydevd`) is
//!   unharmed: the session stops at its breakpoint, tuned.
//!
//! The two test images are built here when missing, from local files (and,
//! for Debian's packages, `apt-get download`), and labelled with a hash of
//! their recipe like `images/build-images.sh` does. No time is asserted: the
//! speed-up itself is measured by `cargo bench --bench dockdap`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use dockdap::client::DapClient;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::*;

/// The example image plus an own `sitecustomize.py` on its `PYTHONPATH`
/// and the probe as its command.
const SITE_IMAGE: &str = "dockdap/test-image-sitecustomize:1";
/// Debian bookworm's python3 with Debian's own python3-debugpy 1.6.
const DEBIAN_IMAGE: &str = "dockdap/test-debian-debugpy:1.6";
const PROBE_CMD: &[&str] =
    &["python3", "-m", "debugpy", "--listen", "0.0.0.0:5678", "--wait-for-client", "/var/azureml-app/tune_probe.py"];

/// Image builds in this process run one at a time.
static BUILD: Mutex<()> = Mutex::new(());

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tune")
}

fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker").args(args).output().map_err(|e| format!("docker: {e}"))?;
    if !out.status.success() {
        return Err(format!("docker {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Builds `tag` from `base` plus the tree under `tree` and the config
/// `changes`, unless an image with the same recipe label exists. The image
/// a changed recipe replaces is left in place (images are never removed here).
fn ensure_image(tag: &str, base: &str, tree: &Path, changes: &[String]) -> Result<(), String> {
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let mut hash = Sha256::new();
    hash.update(docker(&["image", "inspect", "--format", "{{.Id}}", base])?);
    let mut files: Vec<PathBuf> = walk(tree);
    files.sort();
    for file in files {
        hash.update(file.strip_prefix(tree).unwrap().to_string_lossy().as_bytes());
        hash.update(std::fs::read(&file).map_err(|e| e.to_string())?);
    }
    for change in changes {
        hash.update(change);
    }
    let recipe = format!("{:x}", hash.finalize());
    let have = docker(&["image", "inspect", "--format", "{{index .Config.Labels \"dockdap.recipe\"}}", tag]);
    if have.as_deref() == Ok(recipe.as_str()) {
        return Ok(());
    }
    let cid = docker(&["create", base, "true"])?;
    let result = (|| {
        docker(&["cp", &format!("{}/.", tree.display()), &format!("{cid}:/")])?;
        let mut args = vec!["commit".to_owned()];
        for change in changes.iter().cloned().chain([format!("LABEL dockdap.recipe={recipe}")]) {
            args.extend(["--change".to_owned(), change]);
        }
        args.extend([cid.clone(), tag.to_owned()]);
        docker(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })();
    let _ = docker(&["rm", "-f", &cid]);
    result.map(|_| ())
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn description(text: &str) -> String {
    format!("LABEL org.opencontainers.image.description=\"{text}\"")
}

fn probe_changes() -> Vec<String> {
    vec![format!("CMD {}", serde_json::to_string(PROBE_CMD).unwrap()), "WORKDIR /var/azureml-app".into()]
}

/// The example image with its own `sitecustomize.py` on `PYTHONPATH`.
fn site_image() -> Result<(), String> {
    let tree = tempfile::tempdir().map_err(|e| e.to_string())?;
    let site = tree.path().join("opt/image-site");
    let app = tree.path().join("var/azureml-app");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::create_dir_all(&app).unwrap();
    std::fs::copy(fixtures().join("image_sitecustomize.py"), site.join("sitecustomize.py")).unwrap();
    std::fs::copy(fixtures().join("tune_probe.py"), app.join("tune_probe.py")).unwrap();
    let mut changes = probe_changes();
    changes.push("ENV PYTHONPATH=/opt/image-site".into());
    changes.push(description("the example image with its own sitecustomize.py on PYTHONPATH (tests/tune_debugger.rs)"));
    ensure_image(SITE_IMAGE, DEBUG_IMAGE, tree.path(), &changes)
}

/// `dockdap/python:3.11-bookworm` plus Debian's python3-debugpy and what it
/// needs at run time (python3-pydevd, python3-bytecode), unpacked from the
/// packages (`apt-get download`, cached under `~/.cache/dockdap/debs`).
fn debian_image() -> Result<(), String> {
    let cache = std::env::var_os("DOCKDAP_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/dockdap"))
        .join("debs");
    std::fs::create_dir_all(&cache).map_err(|e| e.to_string())?;
    let packages = ["python3-debugpy", "python3-pydevd", "python3-bytecode"];
    let have = |name: &str| {
        std::fs::read_dir(&cache)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(&format!("{name}_")))
    };
    if !packages.iter().all(|p| have(p)) {
        let download = || Command::new("apt-get").arg("download").args(packages).current_dir(&cache).output();
        let ok = download().is_ok_and(|o| o.status.success())
            || (Command::new("apt-get").args(["update", "-qq"]).status().is_ok_and(|s| s.success())
                && download().is_ok_and(|o| o.status.success()));
        if !ok {
            return Err(format!("apt-get download {} failed", packages.join(" ")));
        }
    }
    let tree = tempfile::tempdir().map_err(|e| e.to_string())?;
    for entry in std::fs::read_dir(&cache).map_err(|e| e.to_string())?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if packages.iter().any(|p| name.starts_with(&format!("{p}_"))) && name.ends_with(".deb") {
            let status = Command::new("dpkg-deb").arg("-x").arg(entry.path()).arg(tree.path()).status();
            if !status.is_ok_and(|s| s.success()) {
                return Err(format!("dpkg-deb -x {name} failed"));
            }
        }
    }
    // Documentation is not needed, and keeps the recipe hash independent of it.
    let _ = std::fs::remove_dir_all(tree.path().join("usr/share"));
    let app = tree.path().join("var/azureml-app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::copy(fixtures().join("tune_probe.py"), app.join("tune_probe.py")).unwrap();
    let mut changes = probe_changes();
    changes.push(description("Debian bookworm python3 with Debian's python3-debugpy 1.6 (tests/tune_debugger.rs)"));
    ensure_image(DEBIAN_IMAGE, "dockdap/python:3.11-bookworm", tree.path(), &changes)
}

fn body(m: &dockdap::dap::Message) -> Value {
    m.field("body").unwrap().unwrap_or_default()
}

/// initialize + launch of `image` with `extra` attributes, a breakpoint on
/// `line` of `source` (a workspace path), until the first `stopped`.
/// Returns dockdap, the client, the stopped thread and the top frame's id.
async fn launch_to_breakpoint(
    cwd: &Path,
    image: &str,
    extra: Value,
    source: &Path,
    line: i64,
) -> (tokio::process::Child, DapClient, i64, i64) {
    let (dockdap, mut client) = spawn_stdio(cwd);
    client
        .request(
            "initialize",
            json!({"clientID": "test", "adapterID": "dockdap", "pathFormat": "path", "linesStartAt1": true}),
        )
        .await
        .unwrap();
    let mut args = json!({"type": "dockdap", "request": "launch", "image": image, "localRoot": cwd,
                          "ports": [], "timeout": 60});
    args.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let launch = client.send_request("launch", args).await.unwrap();
    let first = client
        .wait_for("initialized or the launch response", |m| {
            m.is_event("initialized") || m.request_seq() == Some(launch)
        })
        .await
        .unwrap();
    assert!(first.is_event("initialized"), "launch failed: {first:?}");
    let bps = client
        .request("setBreakpoints", json!({"source": {"path": source}, "breakpoints": [{"line": line}]}))
        .await
        .unwrap();
    assert_eq!(body(&bps)["breakpoints"][0]["verified"], true, "{:?}", body(&bps));
    client.request("configurationDone", json!({})).await.unwrap();
    client.wait_response(launch).await.unwrap();
    let stopped = client.wait_event("stopped").await.unwrap();
    let thread = body(&stopped)["threadId"].as_i64().unwrap();
    let trace = client.request("stackTrace", json!({"threadId": thread, "levels": 1})).await.unwrap();
    let top = body(&trace)["stackFrames"][0].clone();
    assert_eq!(top["source"]["path"], source.to_str().unwrap(), "stopped in the workspace file: {top}");
    assert_eq!(top["line"], line);
    (dockdap, client, thread, top["id"].as_i64().unwrap())
}

async fn evaluate(client: &mut DapClient, frame: i64, expression: &str) -> String {
    let r = client
        .request("evaluate", json!({"expression": expression, "frameId": frame, "context": "repl"}))
        .await
        .unwrap();
    body(&r)["result"].as_str().unwrap().to_owned()
}

/// Every `output` event's text seen so far (the backlog).
fn outputs(client: &mut DapClient) -> Vec<String> {
    client
        .drain_backlog()
        .iter()
        .filter(|m| m.is_event("output"))
        .filter_map(|m| body(m)["output"].as_str().map(str::to_owned))
        .collect()
}

/// Continues the probe past its breakpoint and returns what it printed.
async fn probe_facts(client: &mut DapClient, thread: i64) -> (Value, Vec<String>) {
    client.request("continue", json!({"threadId": thread})).await.unwrap();
    let mut seen = Vec::new();
    let line = loop {
        let m = client.wait_event("output").await.unwrap();
        let text = body(&m)["output"].as_str().unwrap_or_default().to_owned();
        seen.push(text.clone());
        if let Some(json) = text.lines().find_map(|l| l.strip_prefix("tune-probe: ")) {
            break json.to_owned();
        }
    };
    seen.extend(outputs(client));
    (serde_json::from_str(&line).unwrap(), seen)
}

async fn end(mut dockdap: tokio::process::Child, mut client: DapClient) {
    let _ = client.request("disconnect", json!({"terminateDebuggee": true})).await;
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), dockdap.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status}");
}

const TUNE_LINE: &str = "[dockdap] tuneDebugger: TCP_NODELAY on debugpy's sockets";
const NODELAY: &str =
    "__import__('_pydevd_bundle.pydevd_constants', fromlist=['x']).get_global_debugger().writer.sock.getsockopt(6, 1)";

#[tokio::test]
async fn tuning_reaches_the_gunicorn_worker_of_the_example_image() {
    if !require_docker() {
        return;
    }
    let score = example_dir().join("score.py");
    let line = line_of(&score, "dockdap-demo: init-breakpoint");
    let (dockdap, mut client, _thread, frame) =
        launch_to_breakpoint(&example_dir(), DEBUG_IMAGE, json!({}), &score, line).await;
    // This frame is init() in the gunicorn worker that the inference server forked.
    assert_eq!(evaluate(&mut client, frame, "__import__('sitecustomize').DOCKDAP_TUNED").await, "True");
    assert_eq!(evaluate(&mut client, frame, NODELAY).await, "1", "pydevd's socket in the worker has TCP_NODELAY");
    // The image's own sitecustomize (Debian's, in the standard library) still runs, chained.
    assert_eq!(
        evaluate(&mut client, frame, "__import__('sitecustomize').DOCKDAP_CHAINED").await,
        "'/usr/lib/python3.11/sitecustomize.py'"
    );
    let said = outputs(&mut client);
    assert!(said.iter().any(|o| o.contains(TUNE_LINE)), "one console line says the tuning is on: {said:?}");
    end(dockdap, client).await;
}

#[tokio::test]
async fn image_sitecustomize_still_runs_under_the_tuning() {
    if !require_docker()
        || !require(&format!("the test image {SITE_IMAGE}"), site_image().map_err(|e| eprintln!("{e}")).is_ok())
    {
        return;
    }
    let probe = fixtures().join("tune_probe.py");
    let line = line_of(&probe, "tune-probe: breakpoint");
    let (dockdap, mut client, thread, frame) =
        launch_to_breakpoint(&fixtures(), SITE_IMAGE, json!({}), &probe, line).await;
    assert_eq!(evaluate(&mut client, frame, "facts['image_sitecustomize']").await, "'1'");
    let (facts, said) = probe_facts(&mut client, thread).await;
    assert_eq!(facts["tuned"], true, "{facts}");
    assert_eq!(facts["chained"], "/opt/image-site/sitecustomize.py", "{facts}");
    assert_eq!(facts["image_sitecustomize"], "1", "the image's own sitecustomize ran: {facts}");
    assert_eq!(facts["pythonpath"], "/opt/dockdap/tune:/opt/image-site", "the image's PYTHONPATH is kept: {facts}");
    assert_eq!(facts["nodelay"], 1, "{facts}");
    assert!(said.iter().any(|o| o.contains(TUNE_LINE)) || outputs(&mut client).iter().any(|o| o.contains(TUNE_LINE)));
    end(dockdap, client).await;
}

#[tokio::test]
async fn tune_debugger_false_leaves_the_bootstrap_out() {
    if !require_docker()
        || !require(&format!("the test image {SITE_IMAGE}"), site_image().map_err(|e| eprintln!("{e}")).is_ok())
    {
        return;
    }
    let probe = fixtures().join("tune_probe.py");
    let line = line_of(&probe, "tune-probe: breakpoint");
    let (dockdap, mut client, thread, _frame) =
        launch_to_breakpoint(&fixtures(), SITE_IMAGE, json!({"tuneDebugger": false}), &probe, line).await;
    let (facts, said) = probe_facts(&mut client, thread).await;
    assert_eq!(facts["bootstrap_present"], false, "nothing was copied into the container: {facts}");
    assert_eq!(facts["pythonpath"], "/opt/image-site", "{facts}");
    assert_eq!(facts["tuned"], Value::Null, "{facts}");
    assert_eq!(facts["image_sitecustomize"], "1", "{facts}");
    assert_eq!(facts["nodelay"], 0, "the stock debugpy leaves Nagle on: {facts}");
    assert!(!said.iter().any(|o| o.contains(TUNE_LINE)), "{said:?}");
    end(dockdap, client).await;
}

#[tokio::test]
async fn debian_debugpy_1_6_is_unharmed() {
    if !require_docker() {
        return;
    }
    let built = debian_image().map_err(|e| eprintln!("{e}")).is_ok();
    if !require(&format!("the test image {DEBIAN_IMAGE} (apt-get download python3-debugpy)"), built) {
        return;
    }
    let probe = fixtures().join("tune_probe.py");
    let line = line_of(&probe, "tune-probe: breakpoint");
    let (dockdap, mut client, thread, frame) =
        launch_to_breakpoint(&fixtures(), DEBIAN_IMAGE, json!({}), &probe, line).await;
    assert_eq!(evaluate(&mut client, frame, "facts['debugpy'].split('.')[:2]").await, "['1', '6']");
    let (facts, _) = probe_facts(&mut client, thread).await;
    assert_eq!(facts["tuned"], true, "{facts}");
    // Debian's python3 has its own sitecustomize in the standard library.
    assert_eq!(facts["chained"], "/usr/lib/python3.11/sitecustomize.py", "{facts}");
    assert_eq!(facts["nodelay"], 1, "pydevd 2.9 (Debian's python3-pydevd) gets TCP_NODELAY too: {facts}");
    end(dockdap, client).await;
}
