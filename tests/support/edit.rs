//! The edit loop of issue 18 as the Kubernetes and Compose tests drive it
//! (`tests/reload.rs` has its own for Docker): stop in `init()` of the
//! example's `score.py`, change the model's bias, reload, stop in `init()`
//! again in the new code, and check the service's reply.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use dockdap::client::DapClient;
use dockdap::dap::Message;
use dockdap::http;
use serde_json::{Value, json};

/// The line of the example's score.py that an edit changes, and what to:
/// same line count, so a breakpoint in `init()` stays where it was.
const BIAS: &str = "    bias = float(loaded.get(\"bias\", 0.0))\n";

/// What `run()` returns for the sample with the image's own code.
pub const OLD_REPLY: [f64; 2] = [39.0, 22.5];

/// `text` (the example's score.py) with `extra` added to the bias; `run()`
/// then returns `OLD_REPLY` plus `extra`.
pub fn with_bias(text: &str, extra: f64) -> String {
    assert!(text.contains(BIAS), "score.py has the example's bias line");
    let line = format!("    bias = float(loaded.get(\"bias\", 0.0)) + {extra:.1}  # dockdap-test: new bias\n");
    text.replace(BIAS, &line)
}

/// `OLD_REPLY` with `extra` added.
pub fn reply_with(extra: f64) -> Vec<f64> {
    OLD_REPLY.iter().map(|r| r + extra).collect()
}

fn body(m: &Message) -> Value {
    m.field("body").ok().flatten().unwrap_or_default()
}

/// The next stop (a worker killed behind dockdap's back may come back
/// undebugged: then `hint` is what the console says, and `None` comes back).
pub async fn next_stop_or(client: &mut DapClient, hint: &str) -> Option<Message> {
    let next = client
        .wait_for("a stop", |m| {
            m.is_event("stopped")
                || m.is_event("terminated")
                || (m.is_event("output") && body(m)["output"].as_str().is_some_and(|o| o.contains(hint)))
        })
        .await
        .unwrap();
    assert!(!next.is_event("terminated"), "the session ended");
    next.is_event("stopped").then_some(next)
}

/// `stopped` is a stop in `init()` of `score` (the workspace file) at the
/// line marked `dockdap-demo: init-breakpoint`; returns the thread and
/// whether that `init()` runs the code with `extra` added to the bias (the
/// bias its code adds, read from the running code: the file could say anything).
pub async fn in_init(client: &mut DapClient, stopped: &Message, score: &Path, extra: f64) -> (i64, bool) {
    let thread = body(stopped)["threadId"].as_i64().unwrap();
    let trace = client.request("stackTrace", json!({"threadId": thread, "levels": 1})).await.unwrap();
    let top = body(&trace)["stackFrames"][0].clone();
    assert_eq!(top["name"], "init", "{top}");
    assert_eq!(top["source"]["path"], score.to_str().unwrap(), "the workspace path: {top}");
    assert_eq!(top["line"], super::line_of(score, "dockdap-demo: init-breakpoint"), "{top}");
    // The original code's only float constant is 0.0; an edit adds `extra`.
    let question = "[c for c in init.__code__.co_consts if isinstance(c, float) and c != 0.0]";
    let args = json!({"expression": question, "frameId": top["id"], "context": "repl"});
    let reply = client.request("evaluate", args).await.unwrap();
    let expected = if extra == 0.0 { "[]".to_owned() } else { format!("[{extra:.1}]") };
    (thread, body(&reply)["result"] == expected.as_str())
}

/// Waits for the stop in `init()` (see `in_init`), checks that it runs the
/// code with `extra` (0: the original), and continues.
pub async fn stops_in_init_and_continues(client: &mut DapClient, score: &Path, extra: f64) {
    let stopped = client.wait_event("stopped").await.unwrap();
    continue_from_init(client, &stopped, score, extra).await;
}

/// `in_init` for `stopped`, the code checked, then `continue`.
pub async fn continue_from_init(client: &mut DapClient, stopped: &Message, score: &Path, extra: f64) {
    let (thread, edited) = in_init(client, stopped, score, extra).await;
    assert!(edited, "init() runs the code with bias + {extra}");
    client.request("continue", json!({"threadId": thread})).await.unwrap();
}

/// POSTs the sample to `addr` (no breakpoint in `run()`); the predictions.
pub async fn score_sample(addr: &str) -> Vec<f64> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let reply = http::post_json(addr, "/score", http::SAMPLE, deadline).await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    serde_json::from_str(&reply.body).unwrap()
}

/// Sends `dockdap/reload`, waits for the stop in `init()` of the code with
/// `extra`, checks the answer (`reloaded: workers`), and continues.
pub async fn reload_and_stop_in_init(client: &mut DapClient, score: &Path, extra: f64) -> Value {
    let reload = client.send_request("dockdap/reload", json!({})).await.unwrap();
    let first = client
        .wait_for("a stop in the new init()", |m| m.is_event("stopped") || m.request_seq() == Some(reload))
        .await
        .unwrap();
    let (stopped, answer) = if first.is_event("stopped") {
        (first, None)
    } else {
        assert!(first.field::<bool>("success").unwrap().unwrap_or(false), "the reload failed: {first:?}");
        (client.wait_event("stopped").await.unwrap(), Some(first))
    };
    let (thread, edited) = in_init(client, &stopped, score, extra).await;
    assert!(edited, "the new init() runs the code with bias + {extra}");
    let answer = match answer {
        Some(answer) => answer,
        None => client.wait_response(reload).await.unwrap(),
    };
    assert!(answer.field::<bool>("success").unwrap().unwrap_or(false), "{answer:?}");
    let answer = body(&answer);
    assert_eq!(answer["reloaded"], "workers", "{answer}");
    client.request("continue", json!({"threadId": thread})).await.unwrap();
    answer
}
