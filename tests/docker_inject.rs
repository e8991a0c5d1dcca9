//! Debugging a stock image as it is (issue 4): the Azure ML example image
//! *without* debugpy, served by the real `azmlinfsrv` (gunicorn, one forked
//! worker). dockdap injects debugpy or uses the server's AZUREML_DEBUG_PORT
//! hook, over the published-port or the exec transport, and a breakpoint in
//! `init()` and in `run()` is hit with workspace paths.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use dockdap::http;
use serde_json::{Value, json};
use support::*;

fn body(m: &dockdap::dap::Message) -> Value {
    m.field("body").unwrap().unwrap_or_default()
}

fn require_stock() -> bool {
    require_docker() && require(&format!("the image {STOCK_IMAGE}"), have_image(STOCK_IMAGE))
}

/// Launches the stock image with `extra`, stops in init() and in run() after a
/// real POST, checks the reply; returns the console output and the container name.
async fn debug_stock(extra: Value, start_debugging: bool) -> (Vec<String>, String) {
    let score = example_dir().join("score.py");
    let score_path = score.to_str().unwrap().to_owned();
    let init_line = line_of(&score, "dockdap-demo: init-breakpoint");
    let run_line = line_of(&score, "dockdap-demo: breakpoint");
    let (mut dockdap, mut client) = spawn_stdio(&example_dir());
    client
        .request(
            "initialize",
            json!({"adapterID": "dockdap", "pathFormat": "path", "linesStartAt1": true,
                   "supportsStartDebuggingRequest": start_debugging}),
        )
        .await
        .unwrap();
    let mut args = json!({"type": "dockdap", "request": "launch", "image": STOCK_IMAGE,
                          "localRoot": example_dir(), "ports": ["0:5001"], "timeout": 60});
    args.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let info = start_with_breakpoints(&mut client, "launch", args, &score, &[init_line, run_line]).await;
    let name = info["container"].as_str().unwrap().to_owned();
    let port = info["ports"][0]["host"].as_u64().unwrap();

    let mut stops = Vec::new();
    for expected in [init_line, run_line] {
        if expected == run_line {
            let addr = format!("127.0.0.1:{port}");
            stops.push(tokio::spawn(async move {
                http::post_json(&addr, "/score", http::SAMPLE, tokio::time::Instant::now() + Duration::from_secs(60))
                    .await
            }));
        }
        let stopped = client.wait_event("stopped").await.unwrap();
        let thread = body(&stopped)["threadId"].as_i64().unwrap();
        let trace = client.request("stackTrace", json!({"threadId": thread, "levels": 1})).await.unwrap();
        let top = body(&trace)["stackFrames"][0].clone();
        assert_eq!(top["source"]["path"], score_path.as_str(), "{top}");
        assert_eq!(top["line"], expected, "{top}");
        client.request("continue", json!({"threadId": thread})).await.unwrap();
    }
    let reply = stops.pop().unwrap().await.unwrap().unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(serde_json::from_str::<Value>(&reply.body).unwrap(), json!([39.0, 22.5]));

    let console: Vec<String> = client
        .drain_backlog()
        .iter()
        .filter(|m| m.is_event("output"))
        .filter_map(|m| body(m)["output"].as_str().map(str::to_owned))
        .collect();
    let inspect = inspect_container(&name).unwrap();
    client.request("disconnect", json!({})).await.unwrap();
    assert!(wait_gone(&name, Duration::from_secs(15)).await);
    let _ = tokio::time::timeout(Duration::from_secs(15), dockdap.wait()).await;
    let bindings = inspect["HostConfig"]["PortBindings"].clone();
    (console.into_iter().chain([bindings.to_string()]).collect(), name)
}

#[tokio::test]
async fn inject_over_the_published_port() {
    if !require_stock() {
        return;
    }
    let (console, _) = debug_stock(json!({"debugger": "inject", "transport": "port"}), true).await;
    let bindings = console.last().unwrap();
    assert!(bindings.contains("5678/tcp"), "{bindings}");
    assert!(console.iter().any(|l| l.contains("debugger: inject")), "{console:?}");
    assert!(console.iter().any(|l| l.contains("copied debugpy from")), "{console:?}");
}

#[tokio::test]
async fn inject_over_exec_publishes_no_debug_port() {
    if !require_stock() {
        return;
    }
    let (console, _) = debug_stock(json!({"debugger": "inject", "transport": "exec"}), false).await;
    let bindings = console.last().unwrap();
    assert!(!bindings.contains("5678"), "no debug port is published with the exec transport: {bindings}");
    assert!(bindings.contains("5001/tcp"), "{bindings}");
}

#[tokio::test]
async fn azureml_hook_is_picked_automatically_and_works_for_both_kinds_of_client() {
    if !require_stock() {
        return;
    }
    for start_debugging in [true, false] {
        let (console, _) = debug_stock(json!({}), start_debugging).await;
        let picked = console.iter().find(|l| l.contains("debugger:")).unwrap();
        assert!(picked.contains("debugger: azureml"), "{picked}");
        assert!(picked.contains("Azure ML inference server"), "says why: {picked}");
        assert!(!console.last().unwrap().contains("5678"), "exec transport: no debug port");
    }
}

#[tokio::test]
async fn injection_errors_say_what_to_do() {
    if !require_stock() {
        return;
    }
    let (_dockdap, mut client) = spawn_stdio(&example_dir());
    client.request("initialize", json!({})).await.unwrap();
    let launch = client
        .send_request(
            "launch",
            json!({"image": STOCK_IMAGE, "debugger": "inject", "debugpyPath": "/nonexistent/debugpy", "ports": ["0:5001"]}),
        )
        .await
        .unwrap();
    let answer = client.wait_response(launch).await.unwrap();
    let message: String = answer.field("message").unwrap().unwrap();
    assert!(message.contains("is not a debugpy package folder"), "{message}");

    let (_dockdap, mut client) = spawn_stdio(&example_dir());
    client.request("initialize", json!({})).await.unwrap();
    let launch = client
        .send_request(
            "launch",
            json!({"image": STOCK_IMAGE, "debugger": "inject", "command": ["python3", "-I", "-c", "pass"], "ports": ["0:5001"]}),
        )
        .await
        .unwrap();
    let answer = client.wait_response(launch).await.unwrap();
    let message: String = answer.field("message").unwrap().unwrap();
    assert!(message.contains("ignores PYTHONPATH") && message.contains("set `command`"), "{message}");

    let (_dockdap, mut client) = spawn_stdio(&example_dir());
    client.request("initialize", json!({})).await.unwrap();
    let launch = client
        .send_request(
            "launch",
            json!({"image": STOCK_IMAGE, "debugger": "azureml", "transport": "port", "ports": ["0:5001"]}),
        )
        .await
        .unwrap();
    let answer = client.wait_response(launch).await.unwrap();
    let message: String = answer.field("message").unwrap().unwrap();
    assert!(message.contains("needs `transport: \"exec\"`"), "{message}");
}

#[tokio::test]
async fn image_debug_makes_a_variant_that_debugs_with_debugger_image() {
    if !require_stock() {
        return;
    }
    let tag = format!("dockdap-test/stock-debug:{}", std::process::id());
    let out = std::process::Command::new(dockdap_bin())
        .args(["image", "debug", STOCK_IMAGE, "--tag", &tag])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("built {tag} from {STOCK_IMAGE}")), "{stdout}");
    let labels = std::process::Command::new("docker")
        .args(["image", "inspect", "-f", "{{json .Config.Labels}}", &tag])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&labels.stdout).contains("\"dockdap.debugger\":\"image\""));

    let (console, _) = {
        // debug_stock launches STOCK_IMAGE; launch the variant instead.
        let extra = json!({"image": tag, "debugger": "image", "tuneDebugger": false});
        debug_stock(extra, true).await
    };
    assert!(console.iter().any(|l| l.contains("debugger: image")), "{console:?}");
    std::process::Command::new("docker").args(["rmi", "-f", &tag]).output().unwrap();
}

#[tokio::test]
async fn an_image_without_python_is_a_clear_error() {
    if !require_stock() {
        return;
    }
    // A test image: the base image with its Python removed.
    let id = std::process::id();
    let builder = format!("dockdap-test-nopython-build-{id}");
    let image = format!("dockdap-test/nopython:{id}");
    let docker = |args: &[&str]| std::process::Command::new("docker").args(args).output().unwrap();
    assert!(
        docker(&["run", "-d", "--name", &builder, "dockdap/python:3.11-bookworm", "sleep", "600"]).status.success()
    );
    docker(&["exec", &builder, "sh", "-c", "rm -f /usr/bin/python3* /usr/bin/python"]);
    assert!(docker(&["commit", "-c", "CMD [\"sleep\", \"600\"]", &builder, &image]).status.success());
    docker(&["rm", "-f", &builder]);

    let (_dockdap, mut client) = spawn_stdio(&example_dir());
    client.request("initialize", json!({})).await.unwrap();
    let name = format!("dockdap-test-nopython-{id}");
    let launch = client
        .send_request("launch", json!({"image": image, "debugger": "inject", "ports": [], "containerName": name}))
        .await
        .unwrap();
    let answer = client.wait_response(launch).await.unwrap();
    let message: String = answer.field("message").unwrap().unwrap();
    assert!(message.starts_with(&format!("no Python found in container {name}")), "{message}");
    assert!(message.contains("debugging needs the image's Python interpreter"), "{message}");
    assert!(wait_gone(&name, Duration::from_secs(15)).await);
    docker(&["rmi", "-f", &image]);
}
