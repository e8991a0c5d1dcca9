//! The session under load, in process: a flood of `output` events from the
//! adapter arrives complete and in order (writes are batched, never
//! dropped), an answer still arrives while the loop is otherwise idle, and a
//! message just under the 16 MiB limit goes through both ways. The speed of
//! all this is measured by `cargo bench --bench dockdap`, not here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use dockdap::client::DapClient;
use dockdap::dap::Message;
use dockdap::session::{self, SessionOptions};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(60);

fn body(m: &Message) -> Value {
    m.field("body").unwrap().unwrap_or_default()
}

/// A session in this process with an editor on a small in-memory pipe, attached
/// to a scripted adapter on a loopback port.
async fn attached() -> (DapClient, DapClient) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (editor_side, session_side) = tokio::io::duplex(16 * 1024);
    let (r, w) = tokio::io::split(session_side);
    let options = SessionOptions { workspace: "/home/u/ws".into(), shutdown: CancellationToken::new() };
    tokio::spawn(async move { session::run(r, w, options).await.unwrap() });
    let (er, ew) = tokio::io::split(editor_side);
    let mut editor = DapClient::new(Box::new(er), Box::new(ew), WAIT);
    editor.request("initialize", json!({"adapterID": "dockdap", "pathFormat": "path"})).await.unwrap();
    let attach = editor
        .send_request("attach", json!({"connect": {"host": "127.0.0.1", "port": port}, "appRoot": "/var/azureml-app"}))
        .await
        .unwrap();
    let (stream, _) = tokio::time::timeout(WAIT, listener.accept()).await.unwrap().unwrap();
    let (ar, aw) = stream.into_split();
    let mut adapter = DapClient::new(Box::new(ar), Box::new(aw), WAIT);
    let init = adapter.wait_request("initialize").await.unwrap();
    adapter.respond(&init, true, Some(json!({"supportsConfigurationDoneRequest": true}))).await.unwrap();
    let attach_request = adapter.wait_request("attach").await.unwrap();
    adapter.respond(&attach_request, true, None).await.unwrap();
    editor.wait_response(attach).await.unwrap();
    (editor, adapter)
}

async fn event(adapter: &mut DapClient, name: &str, body: Value) {
    let mut m = Message::event(name, &body).unwrap();
    m.set_seq(0);
    adapter.send_raw_body(&m.to_bytes()).await.unwrap();
}

#[tokio::test]
async fn a_flood_of_output_arrives_complete_and_in_order() {
    let (mut editor, mut adapter) = attached().await;
    let count = 3000;
    let text = "x".repeat(900);
    let flood = tokio::spawn(async move {
        for i in 0..count {
            event(&mut adapter, "output", json!({"category": "stdout", "output": format!("{i} {text}\n")})).await;
        }
        // A traceback among them is still rewritten: the cheap check lets it through.
        let frame = "  File \"/var/azureml-app/score.py\", line 3, in run\n";
        event(&mut adapter, "output", json!({"category": "stderr", "output": frame})).await;
        adapter
    });
    let mut seen = Vec::new();
    while seen.len() < count + 1 {
        let m = editor.wait_event("output").await.unwrap();
        let text = body(&m)["output"].as_str().unwrap().to_owned();
        if !text.starts_with("[dockdap]") {
            seen.push(text);
        }
    }
    for (i, text) in seen.iter().take(count).enumerate() {
        assert!(text.starts_with(&format!("{i} ")), "event {i} out of order: {}", &text[..20.min(text.len())]);
    }
    assert_eq!(seen[count], "  File \"/home/u/ws/score.py\", line 3, in run\n");

    // Afterwards, with nothing else going on, an answer goes out at once.
    let mut adapter = flood.await.unwrap();
    let seq = editor.send_request("threads", json!({})).await.unwrap();
    let threads = adapter.wait_request("threads").await.unwrap();
    adapter.respond(&threads, true, Some(json!({"threads": [{"id": 1, "name": "MainThread"}]}))).await.unwrap();
    let answer = editor.wait_response(seq).await.unwrap();
    assert_eq!(body(&answer)["threads"][0]["name"], "MainThread");
}

#[tokio::test]
async fn a_message_just_under_16_mib_goes_through_both_ways() {
    let (mut editor, mut adapter) = attached().await;
    let size = 16 * 1024 * 1024 - 4096;
    let big = "y".repeat(size);
    let seq = editor.send_request("evaluate", json!({"expression": big, "context": "repl"})).await.unwrap();
    let request = adapter.wait_request("evaluate").await.unwrap();
    let expression: Value = request.field("arguments").unwrap().unwrap();
    assert_eq!(expression["expression"].as_str().unwrap().len(), size);
    adapter.respond(&request, true, Some(json!({"result": big, "variablesReference": 0}))).await.unwrap();
    let answer = editor.wait_response(seq).await.unwrap();
    assert_eq!(body(&answer)["result"].as_str().unwrap().len(), size);

    // The session goes on normally after it.
    let seq = editor.send_request("threads", json!({})).await.unwrap();
    let threads = adapter.wait_request("threads").await.unwrap();
    adapter.respond(&threads, true, Some(json!({"threads": []}))).await.unwrap();
    editor.wait_response(seq).await.unwrap();
}
