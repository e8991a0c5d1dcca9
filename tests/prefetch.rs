//! The speculative fetch of the step cycle (`session::prefetch`, issue 22)
//! never answers with something stale, and never asks debugpy for what the
//! editor did not ask for before: a real debugpy (`python -m debugpy
//! --listen`) running `tests/fixtures/prefetch/steps.py`, dockdap over real
//! TCP (`--listen`) and over real stdio, an editor that steps through it;
//! and the same program in a container dockdap launched, reached over the
//! exec transport (`docker exec`), where a round trip costs most.
//!
//! Each test first runs one whole cycle (`threads`, `stackTrace`, `scopes`,
//! `variables`) so that dockdap learns it, then at the next stop does
//! something between the stop and the editor's `variables` that must show
//! in the answer. `probe` in the program counts its `__repr__` calls: what
//! debugpy was asked for is visible from the outside.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use dockdap::client::DapClient;
use serde_json::{Value, json};
use support::*;
use tokio::process::{Child, Command};

/// The program's folder twice: where debugpy runs it, and the editor's workspace.
struct Program {
    _dir: tempfile::TempDir,
    app_root: PathBuf,
    workspace: PathBuf,
    _debugpy: Child,
    port: u16,
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prefetch/steps.py")
}

/// Starts debugpy on the program (with `args`), waiting for a client.
fn start_program(args: &[&str]) -> Program {
    let dir = tempfile::tempdir().unwrap();
    let app_root = dir.path().join("app");
    let workspace = dir.path().join("workspace");
    for root in [&app_root, &workspace] {
        std::fs::create_dir_all(root).unwrap();
        std::fs::copy(fixture(), root.join("steps.py")).unwrap();
    }
    let port = free_port();
    let debugpy = Command::new(python())
        .args(["-m", "debugpy", "--listen", &format!("127.0.0.1:{port}"), "--wait-for-client", "steps.py"])
        .args(args)
        .current_dir(&app_root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    Program { _dir: dir, app_root, workspace, _debugpy: debugpy, port }
}

fn body(m: &dockdap::dap::Message) -> Value {
    m.field("body").unwrap().unwrap_or_default()
}

/// What an editor does to start: initialize, attach through dockdap,
/// breakpoints at `markers`, configurationDone; returns the first stop's thread.
async fn attach(client: &mut DapClient, program: &Program, markers: &[&str], extra: Value) -> i64 {
    client
        .request("initialize", json!({"clientID": "test", "adapterID": "dockdap", "pathFormat": "path"}))
        .await
        .unwrap();
    let mut args = json!({"type": "dockdap", "request": "attach",
                          "connect": {"host": "127.0.0.1", "port": program.port},
                          "appRoot": program.app_root, "localRoot": program.workspace});
    for (k, v) in extra.as_object().unwrap() {
        args[k] = v.clone();
    }
    let attach = client.send_request("attach", args).await.unwrap();
    client.wait_event("initialized").await.unwrap();
    let file = program.workspace.join("steps.py");
    let lines: Vec<Value> = markers.iter().map(|m| json!({"line": line_of(&file, m)})).collect();
    let set = client.request("setBreakpoints", json!({"source": {"path": file}, "breakpoints": lines})).await.unwrap();
    assert!(body(&set)["breakpoints"].as_array().unwrap().iter().all(|b| b["verified"] == true), "{}", body(&set));
    client.request("configurationDone", json!({})).await.unwrap();
    client.wait_response(attach).await.unwrap();
    stopped_thread(client).await
}

async fn stopped_thread(client: &mut DapClient) -> i64 {
    let stopped = client.wait_event("stopped").await.unwrap();
    body(&stopped)["threadId"].as_i64().unwrap()
}

/// `continue`, then the next stop's thread.
async fn resume(client: &mut DapClient, thread: i64) -> i64 {
    let seq = client.send_request("continue", json!({"threadId": thread})).await.unwrap();
    let thread = stopped_thread(client).await;
    client.wait_response(seq).await.unwrap();
    thread
}

/// Where the editor is after `threads`, `stackTrace` and `scopes`.
struct Stop {
    frames: Vec<Value>,
    frame: i64,
    locals: i64,
}

/// The first half of the step cycle, as editors send it, each after the previous answer.
async fn look(client: &mut DapClient, thread: i64) -> Stop {
    let threads = client.request("threads", json!({})).await.unwrap();
    assert!(body(&threads)["threads"].as_array().unwrap().iter().any(|t| t["id"] == thread));
    let trace = client.request("stackTrace", json!({"threadId": thread, "startFrame": 0, "levels": 20})).await.unwrap();
    let frames = body(&trace)["stackFrames"].as_array().unwrap().clone();
    let frame = frames[0]["id"].as_i64().unwrap();
    let scopes = client.request("scopes", json!({"frameId": frame})).await.unwrap();
    let locals = body(&scopes)["scopes"][0]["variablesReference"].as_i64().unwrap();
    Stop { frames, frame, locals }
}

/// `variables` of the locals, by name -> value.
async fn locals(client: &mut DapClient, arguments: Value) -> Vec<(String, String)> {
    let vars = client.request("variables", arguments).await.unwrap();
    body(&vars)["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap().to_owned(), v["value"].as_str().unwrap().to_owned()))
        .collect()
}

fn value_of<'a>(vars: &'a [(String, String)], name: &str) -> &'a str {
    &vars.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name} in {vars:?}")).1
}

/// How often `probe` was shown, read by an expression that shows nothing else.
async fn times_shown(client: &mut DapClient, frame: i64) -> i64 {
    let eval = client
        .request("evaluate", json!({"expression": "type(probe).shown", "frameId": frame, "context": "repl"}))
        .await
        .unwrap();
    body(&eval)["result"].as_str().unwrap().parse().unwrap()
}

/// dockdap `--listen` and a client on it (`cwd`: the workspace).
async fn through_tcp(program: &Program) -> (Child, DapClient) {
    let (child, addr) = spawn_listener(&program.workspace, &[]).await;
    (child, connect_client(&addr).await)
}

async fn full_cycle(client: &mut DapClient, thread: i64) -> (Stop, Vec<(String, String)>) {
    let stop = look(client, thread).await;
    let vars = locals(client, json!({"variablesReference": stop.locals})).await;
    (stop, vars)
}

#[tokio::test]
async fn a_set_variable_between_the_stop_and_variables_is_seen() {
    if !require("python3 with debugpy", have_debugpy()) {
        return;
    }
    let program = start_program(&[]);
    let (_dockdap, mut client) = through_tcp(&program).await;
    let thread = attach(&mut client, &program, &["dockdap-test: loop"], json!({})).await;
    let (_, vars) = full_cycle(&mut client, thread).await;
    assert_eq!(value_of(&vars, "value"), "255");

    let thread = resume(&mut client, thread).await;
    let stop = look(&mut client, thread).await;
    // The fetched `variables` (value 255) is in by now: debugpy answered it
    // before this request, which it reads after.
    let set = client
        .request("setVariable", json!({"variablesReference": stop.locals, "name": "value", "value": "12345"}))
        .await
        .unwrap();
    assert_eq!(body(&set)["value"], "12345", "{}", body(&set));
    let vars = locals(&mut client, json!({"variablesReference": stop.locals})).await;
    assert_eq!(value_of(&vars, "value"), "12345", "the editor sees the value it set, not the one fetched before");

    // And the next stop, after the change, shows it too.
    let thread = resume(&mut client, thread).await;
    let (_, vars) = full_cycle(&mut client, thread).await;
    assert_eq!(value_of(&vars, "value"), "12345");
    client.request("disconnect", json!({"terminateDebuggee": true})).await.unwrap();
}

#[tokio::test]
async fn an_evaluate_with_a_side_effect_between_the_stop_and_variables_is_seen() {
    if !require("python3 with debugpy", have_debugpy()) {
        return;
    }
    let program = start_program(&[]);
    let (_dockdap, mut client) = through_tcp(&program).await;
    let thread = attach(&mut client, &program, &["dockdap-test: loop"], json!({})).await;
    full_cycle(&mut client, thread).await;

    let thread = resume(&mut client, thread).await;
    let stop = look(&mut client, thread).await;
    client
        .request("evaluate", json!({"expression": "items.append(4)", "frameId": stop.frame, "context": "repl"}))
        .await
        .unwrap();
    let vars = locals(&mut client, json!({"variablesReference": stop.locals})).await;
    assert_eq!(value_of(&vars, "items"), "[1, 2, 3, 4]", "the side effect shows");
    client.request("disconnect", json!({"terminateDebuggee": true})).await.unwrap();
}

#[tokio::test]
async fn a_stop_on_another_thread_is_answered_for_that_thread() {
    if !require("python3 with debugpy", have_debugpy()) {
        return;
    }
    let program = start_program(&["--thread"]);
    let (_dockdap, mut client) = through_tcp(&program).await;
    let main = attach(&mut client, &program, &["dockdap-test: loop", "dockdap-test: second thread"], json!({})).await;
    let (stop, vars) = full_cycle(&mut client, main).await;
    assert_eq!(stop.frames[0]["name"], "main");
    assert_eq!(value_of(&vars, "value"), "255");

    let second = resume(&mut client, main).await;
    assert_ne!(second, main, "the second stop is on the other thread");
    let (stop, vars) = full_cycle(&mut client, second).await;
    assert_eq!(stop.frames[0]["name"], "second", "{:?}", stop.frames[0]);
    assert_eq!(value_of(&vars, "only_in_second"), "'second thread'");
    assert!(vars.iter().all(|(n, _)| n != "probe"), "not the first thread's locals: {vars:?}");

    // The first thread's stack, asked at this stop, is its own.
    let trace = client.request("stackTrace", json!({"threadId": main, "startFrame": 0, "levels": 20})).await.unwrap();
    let trace = body(&trace);
    let names: Vec<&Value> = trace["stackFrames"].as_array().unwrap().iter().map(|f| &f["name"]).collect();
    assert!(names.iter().all(|n| *n != "second"), "{names:?}");
    client.request("disconnect", json!({"terminateDebuggee": true})).await.unwrap();
}

#[tokio::test]
async fn different_arguments_get_their_own_answer() {
    if !require("python3 with debugpy", have_debugpy()) {
        return;
    }
    let program = start_program(&[]);
    let (_dockdap, mut client) = through_tcp(&program).await;
    let thread = attach(&mut client, &program, &["dockdap-test: loop"], json!({})).await;
    full_cycle(&mut client, thread).await;

    let thread = resume(&mut client, thread).await;
    let stop = look(&mut client, thread).await;
    let hex = locals(&mut client, json!({"variablesReference": stop.locals, "format": {"hex": true}})).await;
    assert_eq!(value_of(&hex, "value"), "0xff", "the editor's format: {hex:?}");
    let page = locals(&mut client, json!({"variablesReference": stop.locals, "start": 0, "count": 2})).await;
    let plain = locals(&mut client, json!({"variablesReference": stop.locals})).await;
    assert_eq!(value_of(&plain, "value"), "255");
    // `probe` counts how often it was shown: the plain request was answered
    // from the fetch made at the stop, before the two others, which debugpy
    // answered afresh (it shows no page of locals, so `count` changes nothing else).
    let shown = |vars: &[(String, String)]| -> i64 {
        value_of(vars, "probe").trim_start_matches("Probe(").trim_end_matches(')').parse().unwrap()
    };
    assert_eq!(shown(&hex), shown(&plain) + 1, "hex {hex:?}, plain {plain:?}");
    assert_eq!(shown(&page), shown(&plain) + 2, "page {page:?}, plain {plain:?}");

    // A stack page of one frame is not the twenty fetched.
    let one = client.request("stackTrace", json!({"threadId": thread, "startFrame": 0, "levels": 1})).await.unwrap();
    assert_eq!(body(&one)["stackFrames"].as_array().unwrap().len(), 1);
    assert!(stop.frames.len() > 1);
    client.request("disconnect", json!({"terminateDebuggee": true})).await.unwrap();
}

/// A step (`next`, `stepIn`), then the stop's thread.
async fn step(client: &mut DapClient, command: &str, thread: i64) -> i64 {
    let seq = client.send_request(command, json!({"threadId": thread})).await.unwrap();
    let thread = stopped_thread(client).await;
    client.wait_response(seq).await.unwrap();
    thread
}

/// dockdap guesses `scopes` with the frame id of the previous stop, before
/// the stack is in: a step into a call puts another frame on top, and the
/// editor must see that frame's locals, with nothing shown of the frame it
/// left; stops in a new call of the same function each round (a new frame,
/// possibly at the old one's address, so with its id) show that round's values.
#[tokio::test]
async fn a_step_into_another_frame_never_gets_the_previous_frames_guess() {
    if !require("python3 with debugpy", have_debugpy()) {
        return;
    }
    let program = start_program(&[]);
    let (_dockdap, addr, mut log) = spawn_logged_listener(&program.workspace).await;
    let mut client = connect_client(&addr).await;
    let thread = attach(&mut client, &program, &["dockdap-test: loop"], json!({})).await;
    let (_, vars) = full_cycle(&mut client, thread).await;
    assert_eq!(value_of(&vars, "probe"), "Probe(1)");

    // `next` stays in main. The first step teaches what the editor asks
    // after a step; a breakpoint and a step later it is fetched, with the
    // guessed scopes right (the same frame) and served.
    let thread = step(&mut client, "next", thread).await;
    let (stop, vars) = full_cycle(&mut client, thread).await;
    assert_eq!(stop.frames[0]["name"], "main");
    assert_eq!(value_of(&vars, "probe"), "Probe(2)");
    let thread = resume(&mut client, thread).await;
    let (_, vars) = full_cycle(&mut client, thread).await;
    assert_eq!(value_of(&vars, "probe"), "Probe(3)", "one fetch, not two: {vars:?}");
    let thread = step(&mut client, "next", thread).await;
    let (stop, vars) = full_cycle(&mut client, thread).await;
    assert_eq!(stop.frames[0]["name"], "main");
    assert_eq!(value_of(&vars, "probe"), "Probe(4)", "one fetch, not two: {vars:?}");

    // `stepIn` puts peek on top and main one below.
    let thread = step(&mut client, "stepIn", thread).await;
    let (stop, vars) = full_cycle(&mut client, thread).await;
    assert_eq!(stop.frames[0]["name"], "peek", "{:?}", stop.frames[0]);
    assert_eq!(stop.frames[1]["name"], "main");
    assert_eq!(value_of(&vars, "rounds"), "2");
    assert!(vars.iter().all(|(n, _)| n != "probe"), "peek's locals, not main's: {vars:?}");
    let dropped =
        std::iter::from_fn(|| log.try_recv().ok()).filter(|l| l.contains("guessed scopes are dropped")).count();
    assert!(dropped >= 1, "the guess for main's frame was made and dropped");
    let eval = client
        .request("evaluate", json!({"expression": "Probe.shown", "frameId": stop.frame, "context": "repl"}))
        .await
        .unwrap();
    assert_eq!(body(&eval)["result"], "4", "main's locals were not shown again at the stop in peek");

    // Round after round, a new call of peek: each stop shows its own round.
    let file = program.workspace.join("steps.py");
    let peek = json!([{"line": line_of(&file, "dockdap-test: peek")}]);
    client.request("setBreakpoints", json!({"source": {"path": file}, "breakpoints": peek})).await.unwrap();
    let mut thread = thread;
    for round in 3..6 {
        thread = resume(&mut client, thread).await;
        let (stop, vars) = full_cycle(&mut client, thread).await;
        assert_eq!(stop.frames[0]["name"], "peek");
        assert_eq!(value_of(&vars, "rounds"), round.to_string(), "round {round}: {vars:?}");
    }
    client.request("disconnect", json!({"terminateDebuggee": true})).await.unwrap();
}

/// What `expression` is now in `frame`, as the debug console shows it.
async fn now(client: &mut DapClient, frame: i64, expression: &str) -> String {
    let request = json!({"expression": expression, "frameId": frame, "context": "repl"});
    body(&client.request("evaluate", request).await.unwrap())["result"].as_str().unwrap().to_owned()
}

/// Once a frame's `scopes` came back the same at two stops, dockdap answers
/// it from memory (debugpy makes it from the frame id alone). What the
/// editor sees must still be each stop's own: the loop's counter after each
/// `next`, the callee's locals after a step in, the caller's current locals
/// after a step out, each checked against an `evaluate` at the same stop.
#[tokio::test]
async fn scopes_answered_from_memory_show_each_stops_own_values() {
    if !require("python3 with debugpy", have_debugpy()) {
        return;
    }
    let program = start_program(&[]);
    let (_dockdap, addr, mut log) = spawn_logged_listener(&program.workspace).await;
    let mut client = connect_client(&addr).await;
    let mut thread = attach(&mut client, &program, &["dockdap-test: loop"], json!({})).await;
    full_cycle(&mut client, thread).await;
    // `next` and `continue` around the loop in main: from the third stop on,
    // main's scopes is remembered.
    for _ in 0..3 {
        for command in ["next", "next", "next"] {
            thread = step(&mut client, command, thread).await;
            let (stop, vars) = full_cycle(&mut client, thread).await;
            assert_eq!(stop.frames[0]["name"], "main");
            assert_eq!(value_of(&vars, "rounds"), now(&mut client, stop.frame, "rounds").await);
        }
        thread = resume(&mut client, thread).await;
        let (stop, vars) = full_cycle(&mut client, thread).await;
        assert_eq!(value_of(&vars, "rounds"), now(&mut client, stop.frame, "rounds").await);
    }
    let remembered =
        std::iter::from_fn(|| log.try_recv().ok()).filter(|l| l.contains("scopes taken from memory")).count();
    assert!(remembered >= 4, "main's scopes was remembered ({remembered} times)");

    // Into peek and back out: the callee's own locals, then main's as they are now.
    thread = step(&mut client, "next", thread).await;
    thread = step(&mut client, "stepIn", thread).await;
    let (stop, vars) = full_cycle(&mut client, thread).await;
    assert_eq!(stop.frames[0]["name"], "peek");
    assert!(vars.iter().all(|(n, _)| n != "probe"), "peek's locals: {vars:?}");
    thread = step(&mut client, "stepOut", thread).await;
    let (stop, vars) = full_cycle(&mut client, thread).await;
    assert_eq!(stop.frames[0]["name"], "main");
    assert_eq!(value_of(&vars, "seen"), now(&mut client, stop.frame, "seen").await);
    assert_eq!(value_of(&vars, "rounds"), now(&mut client, stop.frame, "rounds").await);
    client.request("disconnect", json!({"terminateDebuggee": true})).await.unwrap();
}

/// Stops where the editor looks at the stack and scopes only; `probe`'s
/// `__repr__` tells whether anyone asked debugpy for the variables.
async fn stops_without_variables(client: &mut DapClient, thread: i64, rounds: usize) -> (i64, i64) {
    let mut thread = thread;
    let mut frame = 0;
    for _ in 0..rounds {
        thread = resume(client, thread).await;
        frame = look(client, thread).await.frame;
    }
    (thread, frame)
}

#[tokio::test]
async fn an_editor_that_never_asks_for_variables_gets_none_fetched() {
    if !require("python3 with debugpy", have_debugpy()) {
        return;
    }
    let program = start_program(&[]);
    // Over stdio, as most editors run an adapter.
    let (_dockdap, mut client) = spawn_stdio(&program.workspace);
    let thread = attach(&mut client, &program, &["dockdap-test: loop"], json!({})).await;
    let frame = look(&mut client, thread).await.frame;
    let (thread, frame_after) = stops_without_variables(&mut client, thread, 3).await;
    assert_ne!(frame, 0);
    assert_eq!(times_shown(&mut client, frame_after).await, 0, "nobody asked for the variables");

    // Once the editor has asked, the next stop fetches them (one `__repr__`
    // per stop: the fetch, and the editor's request answered from it).
    let thread = resume(&mut client, thread).await;
    let (stop, vars) = full_cycle(&mut client, thread).await;
    assert_eq!(value_of(&vars, "probe"), "Probe(1)");
    let thread = resume(&mut client, thread).await;
    let (stop2, vars) = full_cycle(&mut client, thread).await;
    assert_eq!(value_of(&vars, "probe"), "Probe(2)", "one fetch, not two: {vars:?}");
    assert_ne!(stop.locals, 0);
    // Not asked at this stop, but asked at the previous one: fetched.
    let (_, frame) = stops_without_variables(&mut client, thread, 1).await;
    assert_eq!(times_shown(&mut client, frame).await, 3, "fetched at the stop after the editor asked");
    assert_ne!(stop2.frame, 0);
    client.request("disconnect", json!({"terminateDebuggee": true})).await.unwrap();
}

#[tokio::test]
async fn prefetch_false_fetches_nothing() {
    if !require("python3 with debugpy", have_debugpy()) {
        return;
    }
    let program = start_program(&[]);
    let (_dockdap, mut client) = through_tcp(&program).await;
    let thread = attach(&mut client, &program, &["dockdap-test: loop"], json!({"prefetch": false})).await;
    let (_, vars) = full_cycle(&mut client, thread).await;
    assert_eq!(value_of(&vars, "probe"), "Probe(1)");
    let (_, frame) = stops_without_variables(&mut client, thread, 2).await;
    assert_eq!(times_shown(&mut client, frame).await, 1, "with prefetch off, only the editor's own request showed it");
    client.request("disconnect", json!({"terminateDebuggee": true})).await.unwrap();
}

/// Where the program runs in the container, and how: written from the
/// environment, then under debugpy, as `python -m debugpy --listen` users do.
const IN_CONTAINER: &str = "printf '%s' \"$DOCKDAP_TEST_PROGRAM\" > /var/azureml-app/steps.py \
     && exec python3 -m debugpy --listen 0.0.0.0:5678 --wait-for-client /var/azureml-app/steps.py";

#[tokio::test]
async fn the_prefetch_works_over_the_exec_transport() {
    if !require("python3 with debugpy", have_debugpy()) || !require_docker() {
        return;
    }
    let workspace = tempfile::tempdir().unwrap();
    std::fs::copy(fixture(), workspace.path().join("steps.py")).unwrap();
    let name = format!("dockdap-test-prefetch-exec-{}", std::process::id());
    let _guard = RemoveOnDrop(name.clone());
    let (_dockdap, addr, mut log) = spawn_logged_listener(workspace.path()).await;
    let mut client = connect_client(&addr).await;
    client
        .request("initialize", json!({"clientID": "test", "adapterID": "dockdap", "pathFormat": "path"}))
        .await
        .unwrap();
    let args = json!({"type": "dockdap", "request": "launch", "name": "prefetch over exec", "image": DEBUG_IMAGE,
                      "containerName": name, "command": ["sh", "-c", IN_CONTAINER],
                      "env": {"DOCKDAP_TEST_PROGRAM": std::fs::read_to_string(fixture()).unwrap()},
                      "ports": [], "transport": "exec", "sync": {"fromContainer": "off", "toContainer": "off"},
                      "appRoot": "/var/azureml-app", "localRoot": workspace.path(), "timeout": 60});
    let file = workspace.path().join("steps.py");
    let started =
        start_with_breakpoints(&mut client, "launch", args, &file, &[line_of(&file, "dockdap-test: loop")]).await;
    assert_eq!(started["container"], name.as_str(), "{started}");
    let thread = stopped_thread(&mut client).await;
    let (stop, vars) = full_cycle(&mut client, thread).await;
    assert_eq!(stop.frames[0]["source"]["path"], file.to_str().unwrap(), "workspace paths over exec");
    assert_eq!(value_of(&vars, "probe"), "Probe(1)");

    // The next stop's cycle is answered from what dockdap fetched over exec.
    let thread = resume(&mut client, thread).await;
    let (_, vars) = full_cycle(&mut client, thread).await;
    assert_eq!(value_of(&vars, "value"), "255");
    assert_eq!(value_of(&vars, "probe"), "Probe(2)", "one fetch, not two: {vars:?}");
    let mut served = 0;
    while let Ok(line) = log.try_recv() {
        served += usize::from(line.contains("answered from the prefetch") || line.contains("joined a prefetch"));
    }
    assert!(served >= 3, "threads, stackTrace, scopes and variables come from the fetch; {served} did");
    // Asked at the previous stop, not at this one: fetched all the same.
    let (_, frame) = stops_without_variables(&mut client, thread, 1).await;
    assert_eq!(times_shown(&mut client, frame).await, 3, "fetched at the stop after the editor asked");
    client.request("disconnect", json!({"terminateDebuggee": true})).await.unwrap();
    assert!(wait_gone(&name, std::time::Duration::from_secs(30)).await, "the container is removed");
}
