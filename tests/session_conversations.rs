//! Whole sessions as conversations: the real `session::run` with an editor on
//! an in-memory pipe and a scripted debugpy on a loopback TCP port, so every
//! byte each side sees can be asserted, including seq numbers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use dockdap::client::DapClient;
use dockdap::dap::Message;
use dockdap::session::{self, SessionOptions};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

/// The editor's side of a session running in this process.
fn start_session() -> (DapClient, tokio::task::JoinHandle<()>) {
    let (editor, adapter_side) = tokio::io::duplex(64 * 1024);
    let (r, w) = tokio::io::split(adapter_side);
    let options = SessionOptions { workspace: "/home/u/ws".into(), shutdown: CancellationToken::new() };
    let task = tokio::spawn(async move {
        session::run(r, w, options).await.unwrap();
    });
    let (er, ew) = tokio::io::split(editor);
    (DapClient::new(Box::new(er), Box::new(ew), WAIT), task)
}

/// A scripted debugpy: accepts one connection and is driven by the test.
struct FakeDebugpy {
    client: DapClient,
}

impl FakeDebugpy {
    async fn accept(listener: TcpListener) -> FakeDebugpy {
        let (stream, _) = tokio::time::timeout(WAIT, listener.accept()).await.unwrap().unwrap();
        let (r, w) = stream.into_split();
        FakeDebugpy { client: DapClient::new(Box::new(r), Box::new(w), WAIT) }
    }

    /// Waits for a request and checks its command.
    async fn expect(&mut self, command: &str) -> Message {
        self.client.wait_for(command, |m| m.is_request(command)).await.unwrap()
    }

    async fn reply(&mut self, request: &Message, body: Value) {
        self.client.respond(request, true, Some(body)).await.unwrap();
    }

    async fn event(&mut self, name: &str, body: Value) {
        let mut m = Message::event(name, &body).unwrap();
        m.set_seq(0);
        self.client.send_raw_body(&m.to_bytes()).await.unwrap();
    }

    /// Sends a reverse request and returns the seq it used.
    async fn reverse(&mut self, command: &str, arguments: Value) -> i64 {
        self.client.send_request(command, arguments).await.unwrap()
    }
}

fn body(m: &Message) -> Value {
    m.field("body").unwrap().unwrap_or_default()
}

fn args(m: &Message) -> Value {
    m.field("arguments").unwrap().unwrap_or_default()
}

/// initialize, attach to the fake, and the fake's side of the handshake.
async fn attached(extra_caps: Value) -> (DapClient, FakeDebugpy, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (mut editor, task) = start_session();
    // nvim-dap starts at seq 0 (S1).
    let init = editor
        .send_raw_body(
            br#"{"seq":0,"type":"request","command":"initialize","arguments":{"clientID":"neovim","adapterID":"dockdap","pathFormat":"path","supportsRunInTerminalRequest":true}}"#,
        )
        .await;
    init.unwrap();
    let answer = editor.wait_response(0).await.unwrap();
    assert_eq!(
        body(&answer)["supportsConfigurationDoneRequest"],
        true,
        "initialize is answered before any debugpy exists"
    );

    let attach = editor
        .send_request(
            "attach",
            json!({"connect": {"host": "127.0.0.1", "port": port}, "appRoot": "/var/azureml-app",
                   "localRoot": "/home/u/ws", "justMyCode": false, "pathMappings": [{"localRoot": "/home/u/lib", "remoteRoot": "/opt/lib"}]}),
        )
        .await
        .unwrap();
    let mut fake = FakeDebugpy::accept(listener).await;
    let replayed = fake.expect("initialize").await;
    assert_eq!(replayed.seq(), 1, "the bridge numbers its own messages to debugpy from 1");
    assert_eq!(args(&replayed)["pathFormat"], "path");
    assert_eq!(args(&replayed)["supportsRunInTerminalRequest"], false, "debugpy is never invited to run commands");
    let mut caps = dockdap_caps();
    caps.as_object_mut().unwrap().extend(extra_caps.as_object().unwrap().clone());
    fake.reply(&replayed, caps).await;
    let attach_to_fake = fake.expect("attach").await;
    let a = args(&attach_to_fake);
    assert_eq!(a["justMyCode"], false, "debugpy's own attributes pass through");
    for owned in ["connect", "appRoot", "localRoot", "pathMappings"] {
        assert!(a.get(owned).is_none(), "{owned} is dockdap's, not debugpy's: {a}");
    }
    fake.event("initialized", json!({})).await;
    fake.reply(&attach_to_fake, json!({})).await;
    editor.wait_event("initialized").await.unwrap();
    let attached = editor.wait_response(attach).await.unwrap();
    assert_eq!(attached.command(), Some("attach"));
    (editor, fake, task)
}

fn dockdap_caps() -> Value {
    json!({"supportsConfigurationDoneRequest": true})
}

#[tokio::test]
async fn paths_and_seq_are_rewritten_both_ways() {
    let (mut editor, mut fake, _task) = attached(json!({})).await;

    // Raw bytes: a number written as 2.50 must reach debugpy as 2.50.
    editor
        .send_raw_body(
            br#"{"seq":40,"type":"request","command":"setBreakpoints","arguments":{"source":{"path":"/home/u/ws/score.py"},"breakpoints":[{"line":3}],"x-vendor":{"kept":[1,2.50]}}}"#,
        )
        .await
        .unwrap();
    let seq = 40;
    let forwarded = fake.expect("setBreakpoints").await;
    assert_eq!(args(&forwarded)["source"]["path"], "/var/azureml-app/score.py");

    let raw = String::from_utf8(forwarded.to_bytes().to_vec()).unwrap();
    assert!(raw.contains(r#""x-vendor":{"kept":[1,2.50]}"#), "byte for byte: {raw}");
    fake.reply(
        &forwarded,
        json!({"breakpoints": [{"verified": true, "line": 3, "source": {"path": "/var/azureml-app/score.py"}}]}),
    )
    .await;
    let answer = editor.wait_response(seq).await.unwrap();
    assert_eq!(body(&answer)["breakpoints"][0]["source"]["path"], "/home/u/ws/score.py");

    // Extra mappings and library paths.
    let trace = editor.send_request("stackTrace", json!({"threadId": 1})).await.unwrap();
    let forwarded = fake.expect("stackTrace").await;
    fake.reply(
        &forwarded,
        json!({"stackFrames": [
            {"id": 1, "name": "run", "line": 3, "source": {"path": "/var/azureml-app/score.py"}},
            {"id": 2, "name": "helper", "line": 9, "source": {"path": "/opt/lib/util.py"}},
            {"id": 3, "name": "loads", "line": 1, "source": {"path": "/usr/lib/python3.11/json/__init__.py"}},
            {"id": 4, "name": "<string>", "line": 1, "source": {"path": "/var/azureml-app/gen.py", "sourceReference": 7}}
        ]}),
    )
    .await;
    let frames = body(&editor.wait_response(trace).await.unwrap())["stackFrames"].clone();
    assert_eq!(frames[0]["source"]["path"], "/home/u/ws/score.py");
    assert_eq!(frames[1]["source"]["path"], "/home/u/lib/util.py", "the longest matching mapping wins");
    assert_eq!(frames[2]["source"]["path"], "/usr/lib/python3.11/json/__init__.py", "library paths stay");
    assert_eq!(frames[3]["source"]["path"], "/var/azureml-app/gen.py", "sourceReference > 0 is left alone");

    // Tracebacks in output become clickable workspace paths; values do not change.
    fake.event(
        "output",
        json!({"category": "stderr", "output": "  File \"/var/azureml-app/score.py\", line 3, in run\n"}),
    )
    .await;
    let output =
        editor.wait_for("traceback output", |m| m.is_event("output") && body(m)["category"] == "stderr").await.unwrap();
    assert_eq!(body(&output)["output"], "  File \"/home/u/ws/score.py\", line 3, in run\n");
    let vars = editor.send_request("variables", json!({"variablesReference": 5})).await.unwrap();
    let forwarded = fake.expect("variables").await;
    fake.reply(
        &forwarded,
        json!({"variables": [{"name": "p", "value": "'/var/azureml-app/score.py'", "variablesReference": 0}]}),
    )
    .await;
    let vars = editor.wait_response(vars).await.unwrap();
    assert_eq!(body(&vars)["variables"][0]["value"], "'/var/azureml-app/score.py'", "program data is never rewritten");
}

#[tokio::test]
async fn cancel_and_reverse_requests_are_renumbered() {
    let (mut editor, mut fake, _task) = attached(json!({})).await;

    // S4: cancel names the request by the editor's seq; debugpy sees its own.
    let evaluate = editor.send_request("evaluate", json!({"expression": "slow()"})).await.unwrap();
    let forwarded = fake.expect("evaluate").await;
    editor.send_request("cancel", json!({"requestId": evaluate})).await.unwrap();
    let cancel = fake.expect("cancel").await;
    assert_eq!(args(&cancel)["requestId"], forwarded.seq());
    fake.client.respond(&forwarded, false, None).await.unwrap();
    let answer = editor.wait_response(evaluate).await.unwrap();
    assert_eq!(answer.command(), Some("evaluate"));

    // V1: runInTerminal from debugpy is refused and never reaches the editor.
    let rit = fake.reverse("runInTerminal", json!({"args": ["rm", "-rf", "/"], "cwd": "/"})).await;
    let refusal = fake.client.wait_response(rit).await.unwrap();
    assert_eq!(
        refusal.kind(),
        &dockdap::dap::Kind::Response { request_seq: rit, command: "runInTerminal".into(), success: false }
    );
    let warning = editor
        .wait_for("a warning", |m| m.is_event("output") && body(m)["output"].as_str().unwrap_or("").contains("refused"))
        .await
        .unwrap();
    assert!(body(&warning)["output"].as_str().unwrap().contains("terminal"));

    // S7: startDebugging comes to the editor under the bridge's seq, pointing a
    // child dockdap session at the child's debugpy with the same mapping.
    let sd = fake
        .reverse("startDebugging", json!({"request": "attach", "configuration": {"connect": {"host": "127.0.0.1", "port": 41000}, "subProcessId": 9}}))
        .await;
    let to_editor = editor.wait_request("startDebugging").await.unwrap();
    let config = args(&to_editor)["configuration"].clone();
    assert_eq!(config["type"], "dockdap");
    assert_eq!(config["request"], "attach");
    assert_eq!(config["connect"]["port"], 41000);
    assert_eq!(config["appRoot"], "/var/azureml-app");
    assert_eq!(config["localRoot"], "/home/u/ws");
    editor.respond(&to_editor, true, None).await.unwrap();
    let answered = fake.client.wait_response(sd).await.unwrap();
    assert_eq!(answered.command(), Some("startDebugging"));
}

#[tokio::test]
async fn debugpy_vanishing_answers_everything_pending() {
    let (mut editor, fake, task) = attached(json!({})).await;
    // S8: five requests in flight, then debugpy dies.
    let mut pending = Vec::new();
    for _ in 0..5 {
        pending.push(editor.send_request("threads", json!({})).await.unwrap());
    }
    let mut fake = fake;
    for _ in 0..5 {
        fake.expect("threads").await;
    }
    drop(fake);
    for seq in pending {
        let answer = editor.wait_response(seq).await.unwrap();
        assert!(matches!(answer.kind(), dockdap::dap::Kind::Response { success: false, .. }));
        let message: String = answer.field("message").unwrap().unwrap();
        assert!(message.contains("debugpy closed the connection"), "{message}");
    }
    editor.wait_event("terminated").await.unwrap();
    editor.request("disconnect", json!({})).await.unwrap();
    tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
}

#[tokio::test]
async fn differing_capabilities_are_announced() {
    let (mut editor, _fake, _task) = attached(json!({"supportsStepBack": true})).await;
    let event = editor.wait_event("capabilities").await.unwrap();
    assert_eq!(body(&event)["capabilities"]["supportsStepBack"], true);
}

#[tokio::test]
async fn malformed_input_is_reported_and_the_session_lives_on() {
    let (mut editor, mut fake, _task) = attached(json!({})).await;
    editor.send_raw_body(b"{not json").await.unwrap();
    let note = editor
        .wait_for("a note", |m| m.is_event("output") && body(m)["output"].as_str().unwrap_or("").contains("malformed"))
        .await
        .unwrap();
    assert!(body(&note)["output"].as_str().unwrap().contains("from the editor"));
    let threads = editor.send_request("threads", json!({})).await.unwrap();
    let forwarded = fake.expect("threads").await;
    fake.reply(&forwarded, json!({"threads": []})).await;
    editor.wait_response(threads).await.unwrap();
}

/// Issue 21: an absurd `Content-Length` is reported once and skipped up to
/// the next header, and garbage is one report per run, not one per byte;
/// the next good request is answered either way.
#[tokio::test]
async fn absurd_lengths_and_garbage_do_not_silence_the_editor() {
    let (mut editor, mut fake, _task) = attached(json!({})).await;
    let notes = |messages: &[Message], what: &str| {
        messages
            .iter()
            .filter(|m| m.is_event("output") && body(m)["output"].as_str().unwrap_or("").contains(what))
            .count()
    };
    for junk in [&b"Content-Length: 18446744073709551615\r\n\r\n{\"seq\":"[..], b"garbage\r\n\r\n"] {
        editor.send_raw_bytes(junk).await.unwrap();
        let threads = editor.send_request("threads", json!({})).await.unwrap();
        let forwarded = fake.expect("threads").await;
        fake.reply(&forwarded, json!({"threads": []})).await;
        let answer = editor.wait_response(threads).await.unwrap();
        assert_eq!(answer.field::<bool>("success").unwrap(), Some(true));
        let seen = editor.drain_backlog();
        assert_eq!(notes(&seen, "malformed message from the editor"), 1, "one note for {junk:?}: {seen:?}");
    }
}

#[tokio::test]
async fn requests_before_launch_and_bad_configurations_get_clear_errors() {
    let (mut editor, _task) = start_session();
    editor.request("initialize", json!({"adapterID": "dockdap"})).await.unwrap();
    let early = editor.send_request("threads", json!({})).await.unwrap();
    let answer = editor.wait_response(early).await.unwrap();
    let message: String = answer.field("message").unwrap().unwrap();
    assert_eq!(message, "the debug session has not started: send `launch` or `attach` first");
    // A misspelt request is unknown, not early (issue 21).
    let typo = editor.send_request("launch2", json!({"image": "x"})).await.unwrap();
    let answer = editor.wait_response(typo).await.unwrap();
    let message: String = answer.field("message").unwrap().unwrap();
    assert_eq!(
        message,
        "`launch2` is not a Debug Adapter Protocol request (did you mean `launch`?); a session starts with `initialize`, then `launch` or `attach`"
    );
    let bad = editor.send_request("attach", json!({})).await.unwrap();
    let answer = editor.wait_response(bad).await.unwrap();
    let message: String = answer.field("message").unwrap().unwrap();
    assert!(
        message.starts_with(
            "invalid attach configuration: `container`, `compose`, `connect` or `kubernetes` says what to attach to"
        ),
        "{message}"
    );
    editor.request("disconnect", json!({})).await.unwrap();
}

/// Arguments that are not JSON are said to be broken, not read as `{}`
/// ("`image` is required", issue 21).
#[tokio::test]
async fn unparsable_launch_arguments_are_named() {
    let (mut editor, _task) = start_session();
    editor.request("initialize", json!({})).await.unwrap();
    editor.send_raw_body(br#"{"seq":9,"type":"request","command":"launch","arguments":{"image": tru}}"#).await.unwrap();
    let answer = editor.wait_response(9).await.unwrap();
    let message: String = answer.field("message").unwrap().unwrap();
    assert!(message.starts_with("invalid launch configuration: its `arguments` are not valid JSON ("), "{message}");
    assert!(!message.contains("`image` is required"), "{message}");
}

/// Issue 21: a workspace that is a file system root, the home folder or far
/// larger than an app (or an `appRoot` of `/`) is refused before a container
/// is started or a file read, saying which attribute and what to write.
#[tokio::test]
async fn unfit_folders_are_refused_before_anything_starts() {
    let many = tempfile::tempdir().unwrap();
    for i in 0..=dockdap::sync::guard::MAX_ENTRIES {
        std::fs::File::create(many.path().join(format!("f{i}"))).unwrap();
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let image = "dockdap-hostile/never-built:1";
    let file = many.path().join("f0");
    let mut cases = vec![
        (json!({"image": image, "localRoot": "/"}), "`localRoot` is \"/\", the root of the file system"),
        (json!({"image": image, "localRoot": file}), "is a file: write the folder that holds the app, e.g."),
        (json!({"image": image, "localRoot": many.path()}), "files and folders, far more than an app"),
        (json!({"image": image, "localRoot": "/tmp", "appRoot": "/"}), "`appRoot` is \"/\", the container's root"),
        (json!({"container": "x", "localRoot": "/"}), "`localRoot` is \"/\", the root of the file system"),
    ];
    if !home.is_empty() && home != "/" {
        cases.push((json!({"image": image, "localRoot": home}), "your home folder"));
    }
    for (args, expect) in cases {
        let (mut editor, _task) = start_session();
        editor.request("initialize", json!({})).await.unwrap();
        let command = if args.get("image").is_some() { "launch" } else { "attach" };
        let started = std::time::Instant::now();
        let seq = editor.send_request(command, args.clone()).await.unwrap();
        let answer = editor.wait_response(seq).await.unwrap();
        eprintln!("refused {args} in {:?}", started.elapsed());
        let message: String = answer.field("message").unwrap().unwrap();
        assert!(message.contains(expect), "{args}: {message}");
        let suggests_off = message.contains("\"sync\": {\"fromContainer\": \"off\", \"toContainer\": \"off\"}");
        assert!(suggests_off || expect.contains("is a file"), "{message}");
    }
    // Sync off, or the explicit override, lets the launch go on (here to an
    // image that does not exist, or an engine that is not there).
    for sync in [json!({"fromContainer": "off", "toContainer": "off"}), json!({"allowAnyFolder": true})] {
        let (mut editor, _task) = start_session();
        editor.request("initialize", json!({})).await.unwrap();
        let args = json!({"image": image, "localRoot": "/", "sync": sync, "timeout": 1});
        let seq = editor.send_request("launch", args).await.unwrap();
        let message: String = editor.wait_response(seq).await.unwrap().field("message").unwrap().unwrap();
        assert!(!message.contains("`localRoot`"), "{message}");
    }
}

#[tokio::test]
async fn unreachable_debugpy_fails_attach_with_the_address() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (mut editor, _task) = start_session();
    editor.request("initialize", json!({})).await.unwrap();
    let attach = editor.send_request("attach", json!({"connect": {"port": port}, "timeout": 0.3})).await.unwrap();
    let answer = editor.wait_response(attach).await.unwrap();
    let message: String = answer.field("message").unwrap().unwrap();
    assert!(
        message.starts_with(&format!("debugpy did not accept a connection on 127.0.0.1:{port} within 0.3s")),
        "{message}"
    );
}

#[tokio::test]
async fn cancel_of_a_queued_request_is_answered_by_the_bridge() {
    // S5: debugpy is not reachable yet, so requests wait in the bridge.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (mut editor, _task) = start_session();
    editor.request("initialize", json!({})).await.unwrap();
    let attach = editor
        .send_request(
            "attach",
            json!({"connect": {"port": port}, "appRoot": "/app", "localRoot": "/home/u/ws", "timeout": 20}),
        )
        .await
        .unwrap();
    let threads = editor.send_request("threads", json!({})).await.unwrap();
    let kept = editor.send_request("loadedSources", json!({})).await.unwrap();
    let cancel = editor.send_request("cancel", json!({"requestId": threads})).await.unwrap();
    let cancelled = editor.wait_response(threads).await.unwrap();
    let message: String = cancelled.field("message").unwrap().unwrap();
    assert_eq!(message, "cancelled");
    editor.wait_response(cancel).await.unwrap();

    // Now debugpy comes up; the queued request that was not cancelled goes through.
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let mut fake = FakeDebugpy::accept(listener).await;
    let init = fake.expect("initialize").await;
    fake.reply(&init, dockdap_caps()).await;
    let attach_to_fake = fake.expect("attach").await;
    fake.reply(&attach_to_fake, json!({})).await;
    let forwarded = fake.expect("loadedSources").await;
    fake.reply(&forwarded, json!({"sources": [{"path": "/app/a.py"}]})).await;
    editor.wait_response(attach).await.unwrap();
    let answer = editor.wait_response(kept).await.unwrap();
    assert_eq!(body(&answer)["sources"][0]["path"], "/home/u/ws/a.py");
    assert!(
        fake.client.drain_backlog().iter().all(|m| !m.is_request("threads")),
        "a cancelled request never reaches debugpy"
    );
}

#[tokio::test]
async fn a_message_just_under_16_mib_passes_intact() {
    // F11: a huge `variables` response, each way within the frame limit.
    let (mut editor, mut fake, _task) = attached(json!({})).await;
    let seq = editor.send_request("variables", json!({"variablesReference": 1})).await.unwrap();
    let forwarded = fake.expect("variables").await;
    let value = "é".repeat(7 * 1024 * 1024); // 14 MiB of two-byte characters
    fake.reply(&forwarded, json!({"variables": [{"name": "big", "value": value, "variablesReference": 0}]})).await;
    let answer = editor.wait_response(seq).await.unwrap();
    assert_eq!(body(&answer)["variables"][0]["value"].as_str().unwrap().len(), value.len());
}

#[tokio::test]
async fn helix_is_spared_debugpys_own_events() {
    // V4: Helix times out on events it does not know (helix#11777).
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (mut editor, _task) = start_session();
    editor.request("initialize", json!({"clientID": "hx", "clientName": "helix"})).await.unwrap();
    let attach = editor.send_request("attach", json!({"connect": {"port": port}})).await.unwrap();
    let mut fake = FakeDebugpy::accept(listener).await;
    let init = fake.expect("initialize").await;
    fake.event("debugpySockets", json!({"sockets": []})).await;
    fake.reply(&init, dockdap_caps()).await;
    let attach_to_fake = fake.expect("attach").await;
    fake.event("debugpyWaitingForServer", json!({"host": "127.0.0.1", "port": 1})).await;
    fake.event("initialized", json!({})).await;
    fake.reply(&attach_to_fake, json!({})).await;
    editor.wait_event("initialized").await.unwrap();
    editor.wait_response(attach).await.unwrap();
    let seen = editor.drain_backlog();
    assert!(
        seen.iter().all(|m| !m.kind().clone().eq(&dockdap::dap::Kind::Event { event: "debugpySockets".into() })),
        "{seen:?}"
    );
    assert!(seen.iter().all(|m| !m.is_event("debugpyWaitingForServer")), "{seen:?}");
}
