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
    assert!(wait_gone(info["container"].as_str().unwrap(), Duration::from_secs(15)).await);
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
    assert!(wait_gone(info["container"].as_str().unwrap(), Duration::from_secs(15)).await);
}
