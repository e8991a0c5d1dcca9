//! The Azure ML debugging guide's own images (issue 14): an entry script
//! that starts a debugger itself, with debugpy (`dockdap/guide:debugpy`) or
//! with ptvsd 4 (`dockdap/guide:ptvsd`), both built by
//! `images/build-guide-images.sh`. Each is debugged end to end with the
//! default configuration (no `debugger`, no `transport`): a stop in `init()`,
//! a stop in `run()` after a real POST, with workspace paths, the right reply
//! after `continue`, and no container left. Clients with and without
//! `startDebugging` both get there. With `debugger` set to a mode that starts
//! dockdap's own debugpy, the script's calls are absorbed, not run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::PathBuf;
use std::time::Duration;

use dockdap::client::DapClient;
use dockdap::http;
use serde_json::{Value, json};
use support::*;

const GUIDE_DEBUGPY: &str = "dockdap/guide:debugpy";
const GUIDE_PTVSD: &str = "dockdap/guide:ptvsd";

fn body(m: &dockdap::dap::Message) -> Value {
    m.field("body").unwrap().unwrap_or_default()
}

/// The workspace of a guide image: `examples/azureml-guide/<debugger>`.
fn workspace(image: &str) -> PathBuf {
    let flavour = image.rsplit(':').next().unwrap();
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/azureml-guide").join(flavour)
}

fn require_guide(image: &str) -> bool {
    require("a Docker Engine", have_docker())
        && require(&format!("the image {image} (built by images/build-guide-images.sh)"), have_image(image))
}

async fn initialize(client: &mut DapClient, start_debugging: bool) {
    client
        .request(
            "initialize",
            json!({"adapterID": "dockdap", "pathFormat": "path", "linesStartAt1": true,
                   "supportsStartDebuggingRequest": start_debugging}),
        )
        .await
        .unwrap();
}

async fn set_breakpoints(client: &mut DapClient, score: &str, lines: &[i64]) {
    let breakpoints: Vec<Value> = lines.iter().map(|l| json!({"line": l})).collect();
    client.request("setBreakpoints", json!({"source": {"path": score}, "breakpoints": breakpoints})).await.unwrap();
}

/// The output events in `messages`.
fn outputs(messages: &[dockdap::dap::Message]) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m.is_event("output"))
        .filter_map(|m| body(m)["output"].as_str().map(str::to_owned))
        .collect()
}

/// What one debug run of a guide image showed.
struct Run {
    /// The debug console (output events) of the session that stopped.
    console: Vec<String>,
    /// `docker inspect` of the container while it ran.
    inspect: Value,
}

/// Launches `image` with `extra` on top of the default configuration, stops
/// in init() and in run() after a real POST (in a child session when
/// dockdap asks the editor for one), checks the reply and that the container
/// is gone afterwards.
async fn debug_guide(image: &str, extra: Value, start_debugging: bool) -> Run {
    let root = workspace(image);
    let score = root.join("score.py");
    let score_path = score.to_str().unwrap().to_owned();
    let init_line = line_of(&score, "dockdap-demo: init-breakpoint");
    let run_line = line_of(&score, "dockdap-demo: breakpoint");
    let (mut dockdap, mut client) = spawn_stdio(&root);
    client.set_timeout(Duration::from_secs(60));
    initialize(&mut client, start_debugging).await;
    let mut args = json!({"type": "dockdap", "request": "launch", "image": image, "localRoot": root,
                          "ports": ["0:5001"]});
    args.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let launch = client.send_request("launch", args).await.unwrap();
    let first =
        client.wait_for("initialized", |m| m.is_event("initialized") || m.request_seq() == Some(launch)).await.unwrap();
    assert!(first.is_event("initialized"), "launch failed: {:?}", first.field::<String>("message"));
    set_breakpoints(&mut client, &score_path, &[init_line, run_line]).await;
    client.request("configurationDone", json!({})).await.unwrap();
    let launched = client.wait_response(launch).await.unwrap();
    assert!(launched.field::<bool>("success").unwrap().unwrap_or(false), "{launched:?}");
    let info = body(&launched)["dockdap"].clone();
    let name = info["container"].as_str().unwrap().to_owned();
    let port = info["ports"][0]["host"].as_u64().unwrap();
    let inspect = inspect_container(&name).unwrap();

    // The first stop, or debugpy's request for a child session.
    let first = client.wait_for("a stop or a child", |m| m.is_event("stopped") || m.is_request("startDebugging")).await;
    let first = first.unwrap();
    let mut child_session = None;
    let mut pending_stop = None;
    if first.is_request("startDebugging") {
        assert!(start_debugging, "startDebugging sent to a client that does not support it");
        let config = first.field::<Value>("arguments").unwrap().unwrap()["configuration"].clone();
        assert!(config.get("listen").is_none() || config.get("subProcessId").is_none(), "{config}");
        client.respond(&first, true, None).await.unwrap();
        let (child_dockdap, mut child) = spawn_stdio(&root);
        child.set_timeout(Duration::from_secs(60));
        initialize(&mut child, true).await;
        let attach = child.send_request("attach", config).await.unwrap();
        child.wait_event("initialized").await.unwrap();
        set_breakpoints(&mut child, &score_path, &[init_line, run_line]).await;
        child.request("configurationDone", json!({})).await.unwrap();
        let attached = child.wait_response(attach).await.unwrap();
        assert!(attached.field::<bool>("success").unwrap().unwrap_or(false), "{attached:?}");
        child_session = Some((child_dockdap, child));
    } else {
        pending_stop = Some(first);
    }

    let mut post = None;
    {
        let stopping = match child_session.as_mut() {
            Some((_, child)) => child,
            None => &mut client,
        };
        for expected in [init_line, run_line] {
            if expected == run_line {
                let addr = format!("127.0.0.1:{port}");
                post = Some(tokio::spawn(async move {
                    http::post_json(
                        &addr,
                        "/score",
                        http::SAMPLE,
                        tokio::time::Instant::now() + Duration::from_secs(90),
                    )
                    .await
                }));
            }
            let stopped = match pending_stop.take() {
                Some(stopped) => stopped,
                None => stopping.wait_event("stopped").await.unwrap(),
            };
            let thread = body(&stopped)["threadId"].as_i64().unwrap();
            let trace = stopping.request("stackTrace", json!({"threadId": thread, "levels": 1})).await.unwrap();
            let top = body(&trace)["stackFrames"][0].clone();
            assert_eq!(top["source"]["path"], score_path.as_str(), "{top}");
            assert_eq!(top["line"], expected, "{top}");
            stopping.request("continue", json!({"threadId": thread})).await.unwrap();
        }
    }
    let reply = post.unwrap().await.unwrap().unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(serde_json::from_str::<Value>(&reply.body).unwrap(), json!([39.0, 22.5]));

    let mut console = outputs(&client.drain_backlog());
    if let Some((mut child_dockdap, mut child)) = child_session {
        console.extend(outputs(&child.drain_backlog()));
        child.request("disconnect", json!({})).await.unwrap();
        let _ = tokio::time::timeout(Duration::from_secs(15), child_dockdap.wait()).await;
    }
    client.request("disconnect", json!({})).await.unwrap();
    // A bound, not a measure: the last sync and the removal are slow on a loaded machine.
    assert!(wait_gone(&name, Duration::from_secs(60)).await, "container {name} is still there");
    let _ = tokio::time::timeout(Duration::from_secs(15), dockdap.wait()).await;
    Run { console, inspect }
}

/// The console line that says which debugger runs and why.
fn decision(run: &Run) -> String {
    run.console.iter().find(|l| l.contains("debugger:")).cloned().unwrap_or_default()
}

/// Whether some console line contains all of `parts`.
fn said(run: &Run, parts: &[&str]) -> bool {
    run.console.iter().any(|line| parts.iter().all(|p| line.contains(p)))
}

/// The default transport (exec) publishes no debug port.
fn no_debug_port_published(run: &Run) {
    let bindings = run.inspect["HostConfig"]["PortBindings"].to_string();
    assert!(!bindings.contains("5678"), "{bindings}");
}

/// The guide's debugpy pattern: `auto` reads score.py, sees it listen on
/// the debug port as it loads, and attaches to the image's own debugpy.
async fn guide_debugpy_default(start_debugging: bool) {
    if !require_guide(GUIDE_DEBUGPY) {
        return;
    }
    let run = debug_guide(GUIDE_DEBUGPY, json!({}), start_debugging).await;
    let decision = decision(&run);
    assert!(decision.contains("debugger: image"), "{decision}");
    assert!(decision.contains("score.py:11 calls debugpy.listen on port 5678"), "says why: {decision}");
    assert!(!said(&run, &["Address already in use"]), "{:?}", run.console);
    no_debug_port_published(&run);
}

#[tokio::test]
async fn guide_debugpy_default_configuration_editor_with_start_debugging() {
    guide_debugpy_default(true).await;
}

#[tokio::test]
async fn guide_debugpy_default_configuration_editor_without_start_debugging() {
    guide_debugpy_default(false).await;
}

/// The guide's ptvsd pattern: dockdap's debugpy through the Azure ML hook,
/// the script's ptvsd calls mapped onto it (ptvsd's own would crash).
async fn guide_ptvsd_default(start_debugging: bool) {
    if !require_guide(GUIDE_PTVSD) {
        return;
    }
    let run = debug_guide(GUIDE_PTVSD, json!({}), start_debugging).await;
    let decision = decision(&run);
    assert!(decision.contains("debugger: azureml"), "{decision}");
    assert!(decision.contains("score.py:15 calls ptvsd.enable_attach"), "says why: {decision}");
    assert!(said(&run, &["score.py:12 imports ptvsd", "map onto debugpy"]), "{:?}", run.console);
    assert!(said(&run, &["score.py:15 calls ptvsd.enable_attach", "does nothing"]), "{:?}", run.console);
    assert!(said(&run, &["score.py:17 calls ptvsd.wait_for_attach()", "returns at once"]), "{:?}", run.console);
    assert!(!said(&run, &["AttributeError"]), "{:?}", run.console);
    no_debug_port_published(&run);
}

#[tokio::test]
async fn guide_ptvsd_default_configuration_editor_with_start_debugging() {
    guide_ptvsd_default(true).await;
}

#[tokio::test]
async fn guide_ptvsd_default_configuration_editor_without_start_debugging() {
    guide_ptvsd_default(false).await;
}

/// With a mode that starts dockdap's own debugpy, the script's
/// `debugpy.listen` and `wait_for_client` do nothing: no second port, no
/// second wait, and the console says so.
async fn guide_debugpy_absorbed(debugger: &str, start_debugging: bool) {
    if !require_guide(GUIDE_DEBUGPY) {
        return;
    }
    let run = debug_guide(GUIDE_DEBUGPY, json!({"debugger": debugger}), start_debugging).await;
    assert!(decision(&run).contains(&format!("debugger: {debugger}")), "{}", decision(&run));
    assert!(
        said(&run, &["score.py:11 calls debugpy.listen(('0.0.0.0', 5678)), but debugpy already runs", "does nothing"]),
        "{:?}",
        run.console
    );
    assert!(said(&run, &["score.py:12 calls debugpy.wait_for_client()", "returns at once"]), "{:?}", run.console);
    assert!(!said(&run, &["Address already in use"]), "{:?}", run.console);
}

#[tokio::test]
async fn guide_debugpy_calls_are_absorbed_by_the_azureml_hook() {
    guide_debugpy_absorbed("azureml", true).await;
}

#[tokio::test]
async fn guide_debugpy_calls_are_absorbed_by_injection() {
    guide_debugpy_absorbed("inject", false).await;
}

/// The bootstrap on this machine's Python, no container: after dockdap's
/// own `debugpy.listen`, the app's listen, wait and ptvsd calls (ptvsd is
/// not even installed here) answer at once, with dockdap's endpoint, and
/// say so; without `DOCKDAP_ABSORB` nothing is touched (and debugpy
/// refuses the second listen).
#[test]
fn the_bootstrap_absorbs_the_apps_own_debugger_calls() {
    if !require("debugpy for the test Python", have_debugpy()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app.py");
    std::fs::write(
        &app,
        "import debugpy\n\
         print('listen', debugpy.listen(('0.0.0.0', 5678)))\n\
         debugpy.wait_for_client()\n\
         import ptvsd\n\
         ptvsd.enable_attach(address=('0.0.0.0', 5678), redirect_output=True)\n\
         ptvsd.wait_for_attach(timeout=30)\n\
         print('attached', ptvsd.is_attached())\n",
    )
    .unwrap();
    let port = free_port();
    let bootstrap = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/runtime/python");
    let run = |absorb: bool| {
        let mut command = std::process::Command::new(python());
        command
            .arg(&app)
            .env("PYTHONPATH", &bootstrap)
            .env("PYDEVD_DISABLE_FILE_VALIDATION", "1")
            .env("DOCKDAP_LISTEN", format!("127.0.0.1:{port}"))
            .env("DOCKDAP_WAIT", "0");
        if absorb {
            command.env("DOCKDAP_ABSORB", "1");
        }
        command.output().unwrap()
    };
    let out = run(true);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("listen ('127.0.0.1', {port})")), "dockdap's endpoint: {stdout}");
    assert!(stdout.contains("attached False"), "{stdout}");
    for expected in [
        "app.py:2 calls debugpy.listen(('0.0.0.0', 5678)), but debugpy already runs in this process (dockdap started it",
        "app.py:3 calls debugpy.wait_for_client(), but this process already waited",
        "app.py:4 imports ptvsd: dockdap debugs this container with debugpy",
        "app.py:5 calls ptvsd.enable_attach(('0.0.0.0', 5678)), but debugpy already runs",
        "app.py:6 calls ptvsd.wait_for_attach(), but this process already waited",
    ] {
        assert!(stderr.contains(expected), "{expected:?} not in:\n{stderr}");
    }
    // Without DOCKDAP_ABSORB the bootstrap leaves the app's calls alone, and debugpy refuses the second listen.
    let out = run(false);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("debugpy.listen() has already been called"), "{out:?}");
}
