//! Subprocesses: the gunicorn master is debugged (debugpy started by the
//! command, as many images do), so `init()` and `run()` run in a forked
//! worker that debugpy reports as a child. An editor with `startDebugging`
//! opens a child session through dockdap; an editor without it is served the
//! child inside the same session. Both hit the breakpoint in `run()`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use dockdap::client::DapClient;
use dockdap::http;
use serde_json::{Value, json};
use support::*;

fn body(m: &dockdap::dap::Message) -> Value {
    m.field("body").unwrap().unwrap_or_default()
}

/// Starts the debug image with debugpy debugging the gunicorn master.
async fn launch_master(client: &mut DapClient, start_debugging: bool) -> (i64, String) {
    client
        .request(
            "initialize",
            json!({"adapterID": "dockdap", "pathFormat": "path", "supportsStartDebuggingRequest": start_debugging}),
        )
        .await
        .unwrap();
    let launch = client
        .send_request(
            "launch",
            json!({"image": DEBUG_IMAGE, "debugger": "image", "ports": ["0:5001"], "localRoot": example_dir(),
                   "env": {"AZUREML_ENTRY_SCRIPT": "score.py"},
                   "command": ["python3", "-m", "debugpy", "--listen", "0.0.0.0:5678", "--wait-for-client",
                               "-m", "azureml_inference_server_http.amlserver", "--entry_script", "score.py", "--port", "5001"]}),
        )
        .await
        .unwrap();
    client.wait_event("initialized").await.unwrap();
    (launch, String::new())
}

async fn set_run_breakpoint(client: &mut DapClient) {
    let score = example_dir().join("score.py");
    let line = line_of(&score, "dockdap-demo: breakpoint");
    client
        .request("setBreakpoints", json!({"source": {"path": score}, "breakpoints": [{"line": line}]}))
        .await
        .unwrap();
}

/// POSTs the sample and expects `client` to stop in run(); returns the reply.
async fn hit_run(client: &mut DapClient, port: u64) {
    let addr = format!("127.0.0.1:{port}");
    let post = tokio::spawn(async move {
        http::post_json(&addr, "/score", http::SAMPLE, tokio::time::Instant::now() + Duration::from_secs(60)).await
    });
    let stopped = client.wait_event("stopped").await.unwrap();
    let thread = body(&stopped)["threadId"].as_i64().unwrap();
    let trace = client.request("stackTrace", json!({"threadId": thread, "levels": 1})).await.unwrap();
    let top = body(&trace)["stackFrames"][0].clone();
    assert_eq!(top["name"], "run", "{top}");
    assert_eq!(top["source"]["path"], example_dir().join("score.py").to_str().unwrap());
    client.request("continue", json!({"threadId": thread})).await.unwrap();
    let reply = post.await.unwrap().unwrap();
    assert_eq!(serde_json::from_str::<Value>(&reply.body).unwrap(), json!([39.0, 22.5]));
}

#[tokio::test]
async fn an_editor_without_start_debugging_is_served_the_worker_in_the_same_session() {
    if !require_docker() {
        return;
    }
    let (_dockdap, mut client) = spawn_stdio(&example_dir());
    let (launch, _) = launch_master(&mut client, false).await;
    set_run_breakpoint(&mut client).await;
    client.request("configurationDone", json!({})).await.unwrap();
    let launched = client.wait_response(launch).await.unwrap();
    let info = body(&launched)["dockdap"].clone();
    let port = info["ports"][0]["host"].as_u64().unwrap();
    client
        .wait_for("the follow notice", |m| {
            m.is_event("output") && body(m)["output"].as_str().unwrap_or("").contains("following subprocess")
        })
        .await
        .unwrap();
    hit_run(&mut client, port).await;
    assert!(client.drain_backlog().iter().all(|m| !m.is_event("debugpyAttach")), "the event is handled, not passed on");
    client.request("disconnect", json!({})).await.unwrap();
    // A bound, not a measure: the last sync and the removal are slow on a loaded machine.
    assert!(wait_gone(info["container"].as_str().unwrap(), Duration::from_secs(60)).await);
}

#[tokio::test]
async fn an_editor_with_start_debugging_opens_a_child_session_through_dockdap() {
    if !require_docker() {
        return;
    }
    let (_dockdap, mut client) = spawn_stdio(&example_dir());
    let (launch, _) = launch_master(&mut client, true).await;
    client.request("configurationDone", json!({})).await.unwrap();
    let launched = client.wait_response(launch).await.unwrap();
    let info = body(&launched)["dockdap"].clone();
    let port = info["ports"][0]["host"].as_u64().unwrap();
    let request = client.wait_request("startDebugging").await.unwrap();
    let config = request.field::<Value>("arguments").unwrap().unwrap()["configuration"].clone();
    assert_eq!(config["type"], "dockdap");
    assert_eq!(config["container"], info["container"], "the child joins the same container: {config}");
    assert!(config.get("connect").is_none(), "no address inside the container reaches the editor: {config}");
    client.respond(&request, true, None).await.unwrap();

    // What the editor does next: a second dockdap session with that configuration.
    let (_child_dockdap, mut child) = spawn_stdio(&example_dir());
    child
        .request(
            "initialize",
            json!({"adapterID": "dockdap", "pathFormat": "path", "supportsStartDebuggingRequest": true}),
        )
        .await
        .unwrap();
    let attach = child.send_request("attach", config).await.unwrap();
    child.wait_event("initialized").await.unwrap();
    set_run_breakpoint(&mut child).await;
    child.request("configurationDone", json!({})).await.unwrap();
    child.wait_response(attach).await.unwrap();
    hit_run(&mut child, port).await;
    child.request("disconnect", json!({})).await.unwrap();
    client.request("disconnect", json!({})).await.unwrap();
    // A bound, not a measure: the last sync and the removal are slow on a loaded machine.
    assert!(wait_gone(info["container"].as_str().unwrap(), Duration::from_secs(60)).await);
}

/// The stock image serving `tests/fixtures/fork/score.py`, whose run()
/// forks a subprocess; removed on drop.
struct ForkImage(String);

impl ForkImage {
    fn build(test: &str) -> ForkImage {
        let tag = format!("dockdap-test/fork-{test}:{}", std::process::id());
        let docker = |args: &[&str]| std::process::Command::new("docker").args(args).output().unwrap();
        let created = docker(&["create", STOCK_IMAGE]);
        assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
        let id = String::from_utf8_lossy(&created.stdout).trim().to_owned();
        let score = fork_workspace().join("score.py");
        assert!(docker(&["cp", score.to_str().unwrap(), &format!("{id}:/var/azureml-app/score.py")]).status.success());
        assert!(docker(&["commit", &id, &tag]).status.success());
        docker(&["rm", "-f", &id]);
        ForkImage(tag)
    }
}

impl Drop for ForkImage {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

fn fork_workspace() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fork")
}

/// The default configuration on an Azure ML image (the hook: dockdap's
/// adapter in the container) whose run() forks: the subprocess is a child
/// session for an editor with `startDebugging` (its attach relays to the
/// child's adapter port and never carries `listen`, which debugpy refuses
/// with `subProcessId`), and is followed in the same session otherwise.
async fn debug_forked_subprocess(start_debugging: bool) {
    if !(require_docker() && require(&format!("the image {STOCK_IMAGE}"), have_image(STOCK_IMAGE))) {
        return;
    }
    let image = ForkImage::build(if start_debugging { "start-debugging" } else { "follow" });
    let workspace = fork_workspace();
    let score = workspace.join("score.py");
    let line = line_of(&score, "dockdap-demo: child-breakpoint");
    let (_dockdap, mut client) = spawn_stdio(&workspace);
    client.set_timeout(Duration::from_secs(60));
    let init = json!({"adapterID": "dockdap", "pathFormat": "path", "supportsStartDebuggingRequest": start_debugging});
    client.request("initialize", init.clone()).await.unwrap();
    let launch = client
        .send_request("launch", json!({"image": image.0, "localRoot": workspace, "ports": ["0:5001"]}))
        .await
        .unwrap();
    client.wait_event("initialized").await.unwrap();
    let breakpoints = json!({"source": {"path": score}, "breakpoints": [{"line": line}]});
    client.request("setBreakpoints", breakpoints.clone()).await.unwrap();
    client.request("configurationDone", json!({})).await.unwrap();
    let launched = client.wait_response(launch).await.unwrap();
    let info = body(&launched)["dockdap"].clone();
    let port = info["ports"][0]["host"].as_u64().unwrap();
    let addr = format!("127.0.0.1:{port}");
    let post = tokio::spawn(async move {
        http::post_json(&addr, "/score", http::SAMPLE, tokio::time::Instant::now() + Duration::from_secs(120)).await
    });

    let mut child_session = None;
    if start_debugging {
        let request = client.wait_request("startDebugging").await.unwrap();
        let config = request.field::<Value>("arguments").unwrap().unwrap()["configuration"].clone();
        assert!(config.get("listen").is_none(), "{config}");
        assert!(config.get("subProcessId").is_some(), "{config}");
        client.respond(&request, true, None).await.unwrap();
        let (child_dockdap, mut child) = spawn_stdio(&workspace);
        child.set_timeout(Duration::from_secs(60));
        child.request("initialize", init).await.unwrap();
        let attach = child.send_request("attach", config).await.unwrap();
        let first = child
            .wait_for("initialized", |m| m.is_event("initialized") || m.request_seq() == Some(attach))
            .await
            .unwrap();
        assert!(first.is_event("initialized"), "the child's attach failed: {first:?}");
        child.request("setBreakpoints", breakpoints).await.unwrap();
        child.request("configurationDone", json!({})).await.unwrap();
        let attached = child.wait_response(attach).await.unwrap();
        assert!(attached.field::<bool>("success").unwrap().unwrap_or(false), "{attached:?}");
        child_session = Some((child_dockdap, child));
    }
    {
        let stopping = match child_session.as_mut() {
            Some((_, child)) => child,
            None => &mut client,
        };
        let stopped = stopping.wait_event("stopped").await.unwrap();
        let thread = body(&stopped)["threadId"].as_i64().unwrap();
        let trace = stopping.request("stackTrace", json!({"threadId": thread, "levels": 1})).await.unwrap();
        let top = body(&trace)["stackFrames"][0].clone();
        assert_eq!(top["name"], "child", "{top}");
        assert_eq!(top["source"]["path"], score.to_str().unwrap(), "{top}");
        stopping.request("continue", json!({"threadId": thread})).await.unwrap();
    }
    let reply =
        tokio::time::timeout(Duration::from_secs(150), post).await.expect("no reply to the POST").unwrap().unwrap();
    assert_eq!(serde_json::from_str::<Value>(&reply.body).unwrap(), json!([55, 55]), "{}", reply.body);
    if let Some((_child_dockdap, mut child)) = child_session {
        child.request("disconnect", json!({})).await.unwrap();
    }
    client.request("disconnect", json!({})).await.unwrap();
    let name = info["container"].as_str().unwrap();
    assert!(wait_gone(name, Duration::from_secs(60)).await, "container {name} is still there");
}

#[tokio::test]
async fn a_forked_subprocess_under_the_azureml_hook_is_a_child_session() {
    debug_forked_subprocess(true).await;
}

#[tokio::test]
async fn a_forked_subprocess_under_the_azureml_hook_is_followed_without_start_debugging() {
    debug_forked_subprocess(false).await;
}
