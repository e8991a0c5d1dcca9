//! Edit, reload, stop again (issue 18): a real Docker Engine, the stock
//! example image (no debugpy in it) with the default configuration, so
//! the real Azure ML inference server runs `score.py` in a gunicorn worker
//! and dockdap debugs it through the server's `AZUREML_DEBUG_PORT` hook.
//!
//! Each test stops in `init()`, changes the model's bias in `score.py` (in
//! the workspace, or inside the container as the guide does with vim),
//! reloads (`dockdap/reload`, or `reloadOnSave`), stops in `init()` again in
//! the new code at the workspace path, continues, and a real POST returns
//! the new result; the session, the container and the editor's breakpoints
//! are the same throughout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use dockdap::client::DapClient;
use dockdap::dap::Message;
use dockdap::http;
use serde_json::{Value, json};
use support::*;

/// The line of score.py that the tests change, and what they change it to
/// (same line count, so the breakpoint in `init()` stays where it was).
const BIAS: &str = "    bias = float(loaded.get(\"bias\", 0.0))\n";
const NEW_BIAS: &str = "    bias = float(loaded.get(\"bias\", 0.0)) + 100.0  # dockdap-test: new bias\n";

/// What `run()` returns for the sample before and after the edit.
const OLD_REPLY: [f64; 2] = [39.0, 22.5];
const NEW_REPLY: [f64; 2] = [139.0, 122.5];

fn body(m: &Message) -> Value {
    m.field("body").unwrap().unwrap_or_default()
}

fn require_stock() -> bool {
    require("a Docker Engine", have_docker())
        && require(&format!("the image {STOCK_IMAGE} (built by images/build-images.sh)"), have_image(STOCK_IMAGE))
}

fn unique(what: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("dockdap-test-{what}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A copy of the example deployment: the workspace the test edits.
fn copy_example(to: &Path) {
    let out = std::process::Command::new("cp").arg("-R").arg(example_dir()).arg(to).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Where the edit is made, and what reloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edit {
    /// The workspace's score.py, then `dockdap/reload`.
    Workspace,
    /// score.py inside the container (`docker exec ... sed`), then `dockdap/reload`.
    Container,
    /// The workspace's score.py with `reloadOnSave`: no request.
    OnSave,
}

/// A debug session of the stock image.
struct Session {
    _dir: tempfile::TempDir,
    ws: PathBuf,
    dockdap: tokio::process::Child,
    client: DapClient,
    name: String,
    port: u64,
    init_line: i64,
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker").args(["rm", "-f", &self.name]).output();
    }
}

/// Launches the stock image with the default configuration (plus `extra`)
/// and a breakpoint in `init()`.
async fn launch(start_debugging: bool, extra: Value) -> Session {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("project");
    copy_example(&ws);
    let score = ws.join("score.py");
    let init_line = line_of(&score, "dockdap-demo: init-breakpoint");
    let name = unique("reload");
    let (dockdap, mut client) = spawn_stdio(&ws);
    client.set_timeout(Duration::from_secs(90));
    client
        .request(
            "initialize",
            json!({"clientID": "test", "adapterID": "dockdap", "pathFormat": "path", "linesStartAt1": true,
                   "supportsStartDebuggingRequest": start_debugging}),
        )
        .await
        .unwrap();
    let mut args = json!({"type": "dockdap", "request": "launch", "image": STOCK_IMAGE, "localRoot": ws,
                          "ports": ["0:5001"], "containerName": name});
    // `extra` may name another image.
    args.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let info = start_with_breakpoints(&mut client, "launch", args, &score, &[init_line]).await;
    assert_eq!(info["container"], name.as_str(), "{info}");
    let port = info["ports"][0]["host"].as_u64().unwrap();
    Session { _dir: dir, ws, dockdap, client, name, port, init_line }
}

impl Session {
    fn score(&self) -> PathBuf {
        self.ws.join("score.py")
    }

    /// Waits for the stop in `init()`, checks where it is, and returns the
    /// thread and the top frame.
    async fn stopped_in_init(&mut self) -> (i64, Value) {
        let first =
            self.client.wait_for("a stop in init()", |m| m.is_event("stopped") || m.is_request("startDebugging")).await;
        let first = first.unwrap_or_else(|e| panic!("{e}; the console said:\n{}", self.console().join("")));
        self.in_init(&first).await
    }

    /// Checks that `first` is a stop in `init()` at the workspace path.
    async fn in_init(&mut self, first: &Message) -> (i64, Value) {
        assert!(first.is_event("stopped"), "the worker is debugged in this session, not a child: {first:?}");
        let thread = body(first)["threadId"].as_i64().unwrap();
        let trace = self.client.request("stackTrace", json!({"threadId": thread, "levels": 1})).await.unwrap();
        let top = body(&trace)["stackFrames"][0].clone();
        assert_eq!(top["name"], "init", "{top}");
        assert_eq!(top["source"]["path"], self.score().to_str().unwrap(), "the workspace path: {top}");
        assert_eq!(top["line"], self.init_line, "{top}");
        (thread, top)
    }

    /// Whether the stopped `init()` is the edited one: its code holds the
    /// new constant (the file on disk could say anything).
    async fn runs_new_code(&mut self, frame: &Value) -> bool {
        let reply = self
            .client
            .request(
                "evaluate",
                json!({"expression": "100.0 in init.__code__.co_consts", "frameId": frame["id"], "context": "repl"}),
            )
            .await
            .unwrap();
        body(&reply)["result"] == "True"
    }

    /// POSTs the sample while the debuggee runs; returns the predictions.
    async fn score_sample(&mut self) -> Vec<f64> {
        let addr = format!("127.0.0.1:{}", self.port);
        let reply =
            http::post_json(&addr, "/score", http::SAMPLE, tokio::time::Instant::now() + Duration::from_secs(60))
                .await
                .unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
        serde_json::from_str(&reply.body).unwrap()
    }

    /// The debug console so far.
    fn console(&mut self) -> Vec<String> {
        self.client
            .drain_backlog()
            .iter()
            .filter(|m| m.is_event("output"))
            .filter_map(|m| body(m)["output"].as_str().map(str::to_owned))
            .collect()
    }

    /// Kills the gunicorn worker behind dockdap's back (the master is pid 1).
    fn kill_worker(&self) {
        let out = std::process::Command::new("docker")
            .args(["exec", &self.name, "sh", "-c", "kill -9 $(cat /proc/1/task/1/children)"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    async fn end(mut self) {
        self.client.request("disconnect", json!({})).await.unwrap();
        assert!(wait_gone(&self.name, Duration::from_secs(60)).await, "container {} is still there", self.name);
        let _ = tokio::time::timeout(Duration::from_secs(15), self.dockdap.wait()).await;
    }
}

/// The whole loop: stop in init(), edit, reload, stop in the new init(),
/// continue, the new reply.
async fn edit_reload_stop_again(edit: Edit, start_debugging: bool) {
    if !require_stock() {
        return;
    }
    let extra = if edit == Edit::OnSave { json!({"reloadOnSave": true}) } else { json!({}) };
    edit_reload_stop_again_with(edit, start_debugging, extra).await;
}

async fn edit_reload_stop_again_with(edit: Edit, start_debugging: bool, extra: Value) {
    let mut s = launch(start_debugging, extra).await;
    let (thread, top) = s.stopped_in_init().await;
    assert!(!s.runs_new_code(&top).await, "the first init() is the original one");
    s.client.request("continue", json!({"threadId": thread})).await.unwrap();
    assert_eq!(s.score_sample().await, OLD_REPLY);
    let before = s.console();
    assert!(!before.iter().any(|l| l.contains("re-attached")), "{before:?}");

    let score = s.score();
    let original = std::fs::read_to_string(&score).unwrap();
    assert!(original.contains(BIAS));
    let started = std::time::Instant::now();
    let reload = match edit {
        Edit::Workspace => {
            std::fs::write(&score, original.replace(BIAS, NEW_BIAS)).unwrap();
            Some(s.client.send_request("dockdap/reload", json!({})).await.unwrap())
        }
        Edit::OnSave => {
            std::fs::write(&score, original.replace(BIAS, NEW_BIAS)).unwrap();
            None
        }
        Edit::Container => {
            let sed = r#"s/\(bias = float(loaded.get("bias", 0.0))\)$/\1 + 100.0  # dockdap-test: new bias/"#;
            let out = std::process::Command::new("docker")
                .args(["exec", &s.name, "sed", "-i", sed, "/var/azureml-app/score.py"])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            // The guide's vim-in-the-container edit comes back into the workspace.
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while !std::fs::read_to_string(&score).unwrap().contains("dockdap-test: new bias") {
                assert!(std::time::Instant::now() < deadline, "the container's edit never reached the workspace");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert_eq!(std::fs::read_to_string(&score).unwrap(), original.replace(BIAS, NEW_BIAS));
            Some(s.client.send_request("dockdap/reload", json!({})).await.unwrap())
        }
    };

    let (thread, top) = s.stopped_in_init().await;
    let took = started.elapsed();
    assert!(s.runs_new_code(&top).await, "the second init() runs the edited score.py");
    if let Some(reload) = reload {
        let answer = s.client.wait_response(reload).await.unwrap();
        assert!(answer.field::<bool>("success").unwrap().unwrap(), "{answer:?}");
        let answer = body(&answer);
        assert_eq!(answer["reloaded"], "workers", "{answer}");
        // The save may have gone in already through the watcher; what had not is listed.
        assert!(answer["pushed"].is_array(), "{answer}");
    }
    s.client.request("continue", json!({"threadId": thread})).await.unwrap();
    assert_eq!(s.score_sample().await, NEW_REPLY);
    let console = s.console();
    if std::env::var_os("DOCKDAP_TEST_CONSOLE").is_some() {
        eprintln!("{}", console.join(""));
    }
    assert!(console.iter().any(|l| l.contains("re-attached: debugging pid")), "{console:?}");
    assert!(!s.client.drain_backlog().iter().any(|m| m.is_event("terminated")), "the session never ended");
    eprintln!("{edit:?} (startDebugging: {start_debugging}): edit to the stop in the new init() took {took:?}");
    s.end().await;
}

#[tokio::test]
async fn a_workspace_edit_is_reloaded_and_init_stops_in_the_new_code() {
    edit_reload_stop_again(Edit::Workspace, true).await;
}

#[tokio::test]
async fn a_workspace_edit_is_reloaded_for_an_editor_without_start_debugging() {
    edit_reload_stop_again(Edit::Workspace, false).await;
}

#[tokio::test]
async fn an_edit_inside_the_container_is_reloaded() {
    edit_reload_stop_again(Edit::Container, true).await;
}

#[tokio::test]
async fn reload_on_save_reloads_without_a_request() {
    edit_reload_stop_again(Edit::OnSave, false).await;
}

/// `"reattach": false`: the worker dying ends the session, as before.
#[tokio::test]
async fn reattach_false_ends_the_session_when_the_worker_dies() {
    if !require_stock() {
        return;
    }
    let mut s = launch(true, json!({"reattach": false})).await;
    let (thread, _) = s.stopped_in_init().await;
    s.client.request("continue", json!({"threadId": thread})).await.unwrap();
    s.kill_worker();
    s.client.wait_event("terminated").await.unwrap();
    s.end().await;
}

/// gunicorn replaces a worker that died (here: killed behind dockdap's
/// back): the session does not end; it attaches to the replacement, or,
/// when the replacement started before dockdap's new adapter listened (and
/// so runs undebugged), it says so and `dockdap/reload` gets a worker that
/// stops in `init()` again.
#[tokio::test]
async fn a_worker_that_dies_does_not_end_the_session() {
    if !require_stock() {
        return;
    }
    let mut s = launch(true, json!({})).await;
    let (thread, _) = s.stopped_in_init().await;
    s.client.request("continue", json!({"threadId": thread})).await.unwrap();
    s.kill_worker();
    let next = s
        .client
        .wait_for("a stop, or the hint", |m| {
            m.is_event("stopped")
                || m.is_event("terminated")
                || (m.is_event("output")
                    && body(m)["output"].as_str().is_some_and(|o| o.contains("no process has reached")))
        })
        .await
        .unwrap();
    assert!(!next.is_event("terminated"), "the session ended");
    let (thread, _) = if next.is_event("stopped") {
        s.in_init(&next).await
    } else {
        s.client.request("dockdap/reload", json!({})).await.unwrap();
        s.stopped_in_init().await
    };
    s.client.request("continue", json!({"threadId": thread})).await.unwrap();
    assert_eq!(s.score_sample().await, OLD_REPLY);
    s.end().await;
}

/// The example's debug image, whose worker starts debugpy itself
/// (`debugger: image` by default): dockdap waits until the old worker and
/// its debugpy are gone and the new worker listens, then attaches.
#[tokio::test]
async fn a_worker_that_starts_debugpy_itself_is_reloaded() {
    if !require_docker() {
        return;
    }
    edit_reload_stop_again_with(Edit::Workspace, true, json!({"image": DEBUG_IMAGE})).await;
}

/// POSTs the sample to `addr` (waiting up to a minute for an answer).
async fn post_sample(addr: String) -> Result<http::Reply, http::HttpError> {
    http::post_json(&addr, "/score", http::SAMPLE, tokio::time::Instant::now() + Duration::from_secs(60)).await
}

/// The next stop's thread and top frame.
async fn top_of_next_stop(client: &mut DapClient) -> (i64, Value) {
    let thread = body(&client.wait_event("stopped").await.unwrap())["threadId"].as_i64().unwrap();
    let frames = client.request("stackTrace", json!({"threadId": thread, "levels": 1})).await.unwrap();
    (thread, body(&frames)["stackFrames"][0].clone())
}

/// DAP `restart` of an `attach` session attaches again to the same
/// container (never recreating it), with the editor's breakpoints: a POST
/// afterwards stops in `run()`.
#[tokio::test]
async fn restart_of_an_attach_session_attaches_again() {
    if !require_docker() {
        return;
    }
    let name = unique("join");
    let run = std::process::Command::new("docker")
        .args(["run", "-d", "--name", &name, "-p", "127.0.0.1::5001", DEBUG_IMAGE])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let _cleanup = RemoveOnDrop(name.clone());
    let id = inspect_container(&name).unwrap()["Id"].clone();
    let port = inspect_container(&name).unwrap()["NetworkSettings"]["Ports"]["5001/tcp"][0]["HostPort"]
        .as_str()
        .unwrap()
        .parse::<u16>()
        .unwrap();
    let (_dockdap, mut client) = spawn_stdio(&example_dir());
    client.set_timeout(Duration::from_secs(90));
    client.request("initialize", json!({"adapterID": "dockdap", "pathFormat": "path"})).await.unwrap();
    let score = example_dir().join("score.py");
    let run_line = line_of(&score, "dockdap-demo: breakpoint");
    let lines = [line_of(&score, "dockdap-demo: init-breakpoint"), run_line];
    let args = json!({"container": name, "localRoot": example_dir(), "timeout": 30});
    start_with_breakpoints(&mut client, "attach", args, &score, &lines).await;
    let (thread, top) = top_of_next_stop(&mut client).await;
    assert_eq!(top["name"], "init", "{top}");
    client.request("continue", json!({"threadId": thread})).await.unwrap();

    client.request("restart", json!({})).await.unwrap();
    assert_eq!(inspect_container(&name).unwrap()["Id"], id, "the same container");
    let post = tokio::spawn(post_sample(format!("127.0.0.1:{port}")));
    let (thread, top) = top_of_next_stop(&mut client).await;
    assert_eq!((top["name"].as_str(), top["line"].as_i64()), (Some("run"), Some(run_line)), "{top}");
    client.request("continue", json!({"threadId": thread})).await.unwrap();
    assert_eq!(post.await.unwrap().unwrap().status, 200);
    client.request("disconnect", json!({})).await.unwrap();
}

/// A module of the app's own beside `score.py`, imported by the first
/// worker, edited, reloaded: the new worker imports the edited module (the
/// server's master, which dockdap warms with installed packages, never
/// imports anything from the app root).
#[tokio::test]
async fn an_edit_of_a_module_beside_score_py_is_reloaded() {
    if !require_stock() {
        return;
    }
    let mut s = launch(true, json!({})).await;
    let (thread, _) = s.stopped_in_init().await;
    s.client.request("continue", json!({"threadId": thread})).await.unwrap();
    assert_eq!(s.score_sample().await, OLD_REPLY);

    // score.py takes its bias from helper.py (same line count: the
    // breakpoint in init() stays where it was).
    let helper = s.ws.join("helper.py");
    std::fs::write(&helper, "OFFSET = 100.0\n").unwrap();
    let score = s.score();
    let original = std::fs::read_to_string(&score).unwrap();
    let uses_helper = "    bias = float(loaded.get(\"bias\", 0.0)) + __import__(\"helper\").OFFSET\n";
    std::fs::write(&score, original.replace(BIAS, uses_helper)).unwrap();
    for (offset, reply) in [(100.0, NEW_REPLY), (200.0, [239.0, 222.5])] {
        std::fs::write(&helper, format!("OFFSET = {offset:.1}\n")).unwrap();
        s.client.request("dockdap/reload", json!({})).await.unwrap();
        let (thread, _) = s.stopped_in_init().await;
        s.client.request("continue", json!({"threadId": thread})).await.unwrap();
        assert_eq!(s.score_sample().await, reply, "helper.py with OFFSET = {offset}");
    }
    let console = s.console();
    assert!(
        console.iter().any(|l| l.contains("in gunicorn's master") && l.contains("debugpy")),
        "the master was warmed: {console:?}"
    );
    s.end().await;
}
