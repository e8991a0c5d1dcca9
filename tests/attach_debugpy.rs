//! The DAP core against a real debugpy, no Docker: dockdap over real stdio
//! and over TCP, attached with `connect` to `python -m debugpy --listen`
//! running a program from one folder (standing in for `/var/azureml-app`),
//! while the client only ever names the same file under another folder (the
//! workspace).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use std::time::Duration;

use dockdap::client::DapClient;
use serde_json::{Value, json};
use support::*;

/// The whole conversation an editor has; asserts what a user would notice.
async fn debug_session(client: &mut DapClient, trees: &TwoTrees, port: u16) {
    let ws_file = trees.workspace.join("app.py");
    let ws_path = ws_file.to_str().unwrap();
    let line = line_of(&ws_file, "dockdap-test: breakpoint");

    let init = client
        .request(
            "initialize",
            json!({"clientID": "test", "adapterID": "dockdap", "pathFormat": "path",
                   "linesStartAt1": true, "columnsStartAt1": true, "supportsStartDebuggingRequest": false}),
        )
        .await
        .unwrap();
    let caps: Value = init.field("body").unwrap().unwrap();
    assert_eq!(caps["supportsConfigurationDoneRequest"], true);

    let attach = client
        .send_request(
            "attach",
            json!({"type": "dockdap", "request": "attach", "connect": {"host": "127.0.0.1", "port": port},
                   "appRoot": trees.app_root, "localRoot": trees.workspace, "justMyCode": false}),
        )
        .await
        .unwrap();
    client.wait_event("initialized").await.unwrap();

    let bps = client
        .request("setBreakpoints", json!({"source": {"path": ws_path}, "breakpoints": [{"line": line}]}))
        .await
        .unwrap();
    let body: Value = bps.field("body").unwrap().unwrap();
    assert_eq!(body["breakpoints"][0]["verified"], true, "{body}");
    assert_eq!(body["breakpoints"][0]["line"], line);
    if let Some(path) = body["breakpoints"][0]["source"]["path"].as_str() {
        assert_eq!(path, ws_path, "breakpoint source comes back as the workspace path");
    }
    client.request("configurationDone", json!({})).await.unwrap();
    let attached = client.wait_response(attach).await.unwrap();
    assert_eq!(attached.command(), Some("attach"));

    let stopped = client.wait_event("stopped").await.unwrap();
    let stopped: Value = stopped.field("body").unwrap().unwrap();
    assert_eq!(stopped["reason"], "breakpoint", "{stopped}");
    let thread = stopped["threadId"].as_i64().unwrap();

    let trace = client.request("stackTrace", json!({"threadId": thread, "levels": 20})).await.unwrap();
    let trace: Value = trace.field("body").unwrap().unwrap();
    let frames = trace["stackFrames"].as_array().unwrap();
    assert_eq!(frames[0]["source"]["path"], ws_path, "top frame is in the workspace: {trace}");
    assert_eq!(frames[0]["line"], line);
    let paths: Vec<&str> = frames.iter().filter_map(|f| f["source"]["path"].as_str()).collect();
    let app_root = trees.app_root.to_str().unwrap();
    assert!(paths.iter().all(|p| !p.starts_with(app_root)), "no frame shows the container path: {paths:?}");
    let library = paths
        .iter()
        .find(|p| p.ends_with("json/__init__.py"))
        .unwrap_or_else(|| panic!("a library frame of json: {paths:?}"));
    assert!(Path::new(library).exists(), "the library frame keeps its own, real path: {library}");

    let frame_id = frames[0]["id"].as_i64().unwrap();
    let scopes = client.request("scopes", json!({"frameId": frame_id})).await.unwrap();
    let scopes: Value = scopes.field("body").unwrap().unwrap();
    let locals = scopes["scopes"][0]["variablesReference"].as_i64().unwrap();
    let vars = client.request("variables", json!({"variablesReference": locals})).await.unwrap();
    let vars: Value = vars.field("body").unwrap().unwrap();
    let total = vars["variables"].as_array().unwrap().iter().find(|v| v["name"] == "total").unwrap();
    assert_eq!(total["value"], "6");

    let eval = client
        .request("evaluate", json!({"expression": "total * scale", "frameId": frame_id, "context": "repl"}))
        .await
        .unwrap();
    let eval: Value = eval.field("body").unwrap().unwrap();
    assert_eq!(eval["result"], "12");

    client.request("continue", json!({"threadId": thread})).await.unwrap();
    client.wait_event("terminated").await.unwrap();
    client.request("disconnect", json!({})).await.unwrap();
}

#[tokio::test]
async fn stdio_session_against_real_debugpy() {
    if !require("python3 with debugpy", have_debugpy()) {
        return;
    }
    let trees = two_trees();
    let debugpy = start_debugpy(&trees.app_root).await;
    let (mut dockdap, mut client) = spawn_stdio(&trees.workspace);

    debug_session(&mut client, &trees, debugpy.port).await;

    // Everything left on stdout must be DAP frames: read_to_end fails on any
    // byte that is not part of a frame.
    let rest = client.read_to_end().await.expect("stdout carries only DAP frames");
    assert!(rest.iter().all(|m| !m.is_request("runInTerminal")));
    let status = tokio::time::timeout(Duration::from_secs(10), dockdap.wait()).await.unwrap().unwrap();
    assert!(status.success(), "dockdap exits cleanly after disconnect: {status}");
    let out = tokio::time::timeout(Duration::from_secs(10), debugpy.child.wait_with_output()).await.unwrap().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "result 12\n");
}

#[tokio::test]
async fn tcp_session_against_real_debugpy() {
    if !require("python3 with debugpy", have_debugpy()) {
        return;
    }
    let trees = two_trees();
    let debugpy = start_debugpy(&trees.app_root).await;
    let (mut dockdap, addr) = spawn_listener(&trees.workspace, &[]).await;
    let mut client = connect_client(&addr).await;

    debug_session(&mut client, &trees, debugpy.port).await;
    let rest = client.read_to_end().await.expect("the session closes its connection after disconnect");
    // Module events carry the workspace path too.
    let main_module = rest
        .iter()
        .filter(|m| m.is_event("module"))
        .filter_map(|m| m.field::<Value>("body").unwrap())
        .find(|b| b["module"]["name"] == "__main__")
        .expect("a module event for __main__");
    assert_eq!(main_module["module"]["path"], trees.workspace.join("app.py").to_str().unwrap());

    // The listener keeps serving until a signal; SIGTERM ends it cleanly.
    let pid = dockdap.id().unwrap() as i32;
    std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), dockdap.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn listen_refuses_non_loopback_without_allow_remote() {
    let out = std::process::Command::new(dockdap_bin()).args(["--listen", "0.0.0.0:0"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refusing to listen on 0.0.0.0:0"), "{stderr}");
    assert!(stderr.contains("--allow-remote"), "{stderr}");
}
