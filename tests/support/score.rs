//! One whole debug session of the example deployment (`score.py`) in an
//! image, as a user runs it: launch, breakpoints in `init()` and `run()`, a
//! real POST to the published service port, `continue`, disconnect.

use std::time::Duration;

use dockdap::http;
use serde_json::{Value, json};

use super::{example_dir, inspect_container, line_of, spawn_stdio, wait_gone};

/// What a session saw.
pub struct Session {
    /// The debug console's lines (`output` events).
    pub console: Vec<String>,
    /// The container's name.
    pub name: String,
    /// `docker inspect` of the container while it ran.
    pub inspect: Value,
    /// The line a `next` from the `run()` breakpoint stopped on (when asked).
    pub stepped_to: Option<i64>,
}

fn body(m: &dockdap::dap::Message) -> Value {
    m.field("body").unwrap().unwrap_or_default()
}

/// Launches `image` with the example's workspace and `extra` attributes,
/// stops in `init()` and in `run()` (after a real POST to the service port),
/// checks the source paths are the workspace's, optionally steps once in
/// `run()`, continues, checks the reply, and checks the container is gone
/// after the disconnect.
pub async fn debug_score(image: &str, extra: Value, start_debugging: bool, step: bool) -> Session {
    let score = example_dir().join("score.py");
    let score_path = score.to_str().unwrap().to_owned();
    let init_line = line_of(&score, "dockdap-demo: init-breakpoint");
    let run_line = line_of(&score, "dockdap-demo: breakpoint");
    let (mut dockdap, mut client) = spawn_stdio(&example_dir());
    // A cold container start on a busy machine: the waits are for answers, not speed.
    client.set_timeout(Duration::from_secs(180));
    client
        .request(
            "initialize",
            json!({"adapterID": "dockdap", "pathFormat": "path", "linesStartAt1": true,
                   "supportsStartDebuggingRequest": start_debugging}),
        )
        .await
        .unwrap();
    let mut args = json!({"type": "dockdap", "request": "launch", "image": image,
                          "localRoot": example_dir(), "ports": ["0:5001"], "timeout": 150});
    args.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let launch = client.send_request("launch", args).await.unwrap();
    let first =
        client.wait_for("initialized", |m| m.is_event("initialized") || m.request_seq() == Some(launch)).await.unwrap();
    assert!(first.is_event("initialized"), "{image}: launch failed: {:?}", first.field::<String>("message"));
    client
        .request(
            "setBreakpoints",
            json!({"source": {"path": score_path}, "breakpoints": [{"line": init_line}, {"line": run_line}]}),
        )
        .await
        .unwrap();
    client.request("configurationDone", json!({})).await.unwrap();
    let launched = client.wait_response(launch).await.unwrap();
    let info = body(&launched)["dockdap"].clone();
    let name = info["container"].as_str().unwrap().to_owned();
    let port = info["ports"][0]["host"].as_u64().unwrap();

    let mut reply = None;
    let mut stepped_to = None;
    for expected in [init_line, run_line] {
        if expected == run_line {
            let addr = format!("127.0.0.1:{port}");
            reply = Some(tokio::spawn(async move {
                http::post_json(&addr, "/score", http::SAMPLE, tokio::time::Instant::now() + Duration::from_secs(60))
                    .await
            }));
        }
        let stopped = client.wait_event("stopped").await.unwrap();
        let thread = body(&stopped)["threadId"].as_i64().unwrap();
        let top = top_frame(&mut client, thread).await;
        assert_eq!(top["source"]["path"], score_path.as_str(), "{image}: {top}");
        assert_eq!(top["line"], expected, "{image}: {top}");
        if expected == run_line && step {
            client.request("next", json!({"threadId": thread})).await.unwrap();
            let stopped = client.wait_event("stopped").await.unwrap();
            assert_eq!(body(&stopped)["reason"], "step", "{image}: {stopped:?}");
            let top = top_frame(&mut client, thread).await;
            assert_eq!(top["source"]["path"], score_path.as_str(), "{image}: {top}");
            stepped_to = top["line"].as_i64();
        }
        client.request("continue", json!({"threadId": thread})).await.unwrap();
    }
    let reply = reply.unwrap().await.unwrap().unwrap();
    assert_eq!(reply.status, 200, "{image}: {}", reply.body);
    assert_eq!(serde_json::from_str::<Value>(&reply.body).unwrap(), json!([39.0, 22.5]), "{image}");

    let console: Vec<String> = client
        .drain_backlog()
        .iter()
        .filter(|m| m.is_event("output"))
        .filter_map(|m| body(m)["output"].as_str().map(str::to_owned))
        .collect();
    let inspect = inspect_container(&name).unwrap();
    client.request("disconnect", json!({})).await.unwrap();
    assert!(wait_gone(&name, Duration::from_secs(120)).await, "{image}: container {name} is still there");
    let _ = tokio::time::timeout(Duration::from_secs(15), dockdap.wait()).await;
    Session { console, name, inspect, stepped_to }
}

async fn top_frame(client: &mut dockdap::client::DapClient, thread: i64) -> Value {
    let trace = client.request("stackTrace", json!({"threadId": thread, "levels": 1})).await.unwrap();
    body(&trace)["stackFrames"][0].clone()
}
