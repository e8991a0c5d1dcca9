//! Edit, reload, stop again for an app that no pre-forking server runs
//! (issue 18): `python3 app.py` serving HTTP with the standard library
//! (`tests/fixtures/plain/app.py`), as a `docker run python app.py` image
//! does. A reload restarts its container in place, so the main process
//! starts again in the same container, with what dockdap copied in; a
//! `docker restart` of a joined container is followed the same way.
//!
//! Real Docker, real debugpy, real HTTP requests: the tests stop in the
//! request handler at the workspace path, see the old and then the new code
//! (the module's `GREETING`, read in the stopped frame) and the new reply.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

mod support;

use std::path::PathBuf;
use std::time::Duration;

use dockdap::client::DapClient;
use dockdap::dap::Message;
use dockdap::http;
use serde_json::{Value, json};
use support::*;

/// A Debian image with Python and nothing else (no debugpy: dockdap injects it).
const PYTHON_IMAGE: &str = "dockdap/python:3.11-bookworm";
const GREETING: &str = "GREETING = \"hello\"\n";
const NEW_GREETING: &str = "GREETING = \"hi again\"\n";
/// Writes the app into the container once (a restart keeps the file, edits
/// and all) and runs it as pid 1, as `CMD ["python3", "app.py"]` would.
const START: &str = "mkdir -p /app && { test -f /app/app.py || printf '%s' \"$DOCKDAP_TEST_APP\" > /app/app.py; }";

fn body(m: &Message) -> Value {
    m.field("body").unwrap().unwrap_or_default()
}

fn app_source() -> String {
    std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plain/app.py")).unwrap()
}

fn unique(what: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("dockdap-test-{what}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

fn docker(args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new("docker").args(args).output().unwrap();
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The host port Docker published container port 8080 on, now.
fn published_port(name: &str) -> u16 {
    inspect_container(name).unwrap()["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// `docker restart -t 2 NAME`, off the test's thread (the session's
/// messages keep arriving meanwhile).
async fn restart(name: &str) {
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || docker(&["restart", "-t", "2", &name])).await.unwrap();
}

/// A session debugging the plain app.
struct Plain {
    _dir: tempfile::TempDir,
    ws: PathBuf,
    client: DapClient,
    _dockdap: tokio::process::Child,
    name: String,
    line: i64,
}

impl Plain {
    fn app(&self) -> PathBuf {
        self.ws.join("app.py")
    }

    /// A workspace holding the app, and dockdap over stdio in it.
    async fn new(what: &str) -> Plain {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("project");
        std::fs::create_dir(&ws).unwrap();
        std::fs::write(ws.join("app.py"), app_source()).unwrap();
        let line = line_of(&ws.join("app.py"), "dockdap-test: greet");
        let (dockdap, mut client) = spawn_stdio(&ws);
        client.set_timeout(Duration::from_secs(90));
        client
            .request("initialize", json!({"clientID": "test", "adapterID": "dockdap", "pathFormat": "path"}))
            .await
            .unwrap();
        Plain { _dir: dir, ws, client, _dockdap: dockdap, name: unique(what), line }
    }

    /// Sends a request to the app on `port`, waits for the stop in
    /// `greet()` it causes, checks that the stop is at the workspace path
    /// and that the code runs `greeting`, continues, and checks the reply.
    async fn request_stops_in(&mut self, port: u16, greeting: &str) {
        let addr = format!("127.0.0.1:{port}");
        let reply = tokio::spawn(async move {
            http::post_json(&addr, "/", "{}", tokio::time::Instant::now() + Duration::from_secs(60)).await
        });
        let stop = self.client.wait_for("a stop in greet()", |m| m.is_event("stopped") || m.is_event("terminated"));
        let stop = stop.await.unwrap_or_else(|e| panic!("{e}; the console said:\n{}", self.console().join("")));
        assert!(stop.is_event("stopped"), "the session ended; the console said:\n{}", self.console().join(""));
        let thread = body(&stop)["threadId"].as_i64().unwrap();
        let trace = self.client.request("stackTrace", json!({"threadId": thread, "levels": 1})).await.unwrap();
        let top = body(&trace)["stackFrames"][0].clone();
        assert_eq!(top["name"], "greet", "{top}");
        assert_eq!(top["source"]["path"], self.app().to_str().unwrap(), "the workspace path: {top}");
        assert_eq!(top["line"], self.line, "{top}");
        let seen = self
            .client
            .request("evaluate", json!({"expression": "GREETING", "frameId": top["id"], "context": "repl"}))
            .await
            .unwrap();
        assert_eq!(body(&seen)["result"], format!("'{greeting}'"), "the code that runs");
        self.client.request("continue", json!({"threadId": thread})).await.unwrap();
        let reply = reply.await.unwrap().unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
        let reply: Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(reply["greeting"], format!("{greeting}, world"));
    }

    /// The debug console so far.
    fn console(&mut self) -> Vec<String> {
        output_lines(&self.client.drain_backlog())
    }

    /// Asserts the console says `what`, and the session did not end;
    /// returns the console.
    fn said(&mut self, what: &[&str]) -> String {
        let backlog = self.client.drain_backlog();
        assert!(!backlog.iter().any(|m| m.is_event("terminated")), "the session never ended");
        let console = output_lines(&backlog).join("");
        if std::env::var_os("DOCKDAP_TEST_CONSOLE").is_some() {
            eprintln!("{console}");
        }
        for line in what {
            assert!(console.contains(line), "the console does not say {line:?}:\n{console}");
        }
        console
    }
}

/// The main loop for a plain app: stopped in the handler, the workspace
/// file edited, `dockdap/reload`, stopped again in the new code at the
/// workspace path, the new reply, in the same container.
#[tokio::test]
async fn a_plain_app_is_reloaded_by_restarting_its_container_in_place() {
    if !require("python3 with debugpy", have_debugpy())
        || !require(&format!("the image {PYTHON_IMAGE} (images/build-images.sh)"), have_image(PYTHON_IMAGE))
    {
        return;
    }
    let mut s = Plain::new("plain").await;
    let _cleanup = RemoveOnDrop(s.name.clone());
    let command = format!("{START} && exec python3 /app/app.py");
    let args = json!({"type": "dockdap", "request": "launch", "image": PYTHON_IMAGE, "containerName": s.name,
                      "command": ["sh", "-c", command], "env": {"DOCKDAP_TEST_APP": app_source()},
                      "appRoot": "/app", "localRoot": s.ws, "ports": ["0:8080"]});
    let app = s.app();
    let line = s.line;
    let info = start_with_breakpoints(&mut s.client, "launch", args, &app, &[line]).await;
    let id = inspect_container(&s.name).unwrap()["Id"].clone();
    let port = info["ports"][0]["host"].as_u64().unwrap() as u16;
    s.request_stops_in(port, "hello").await;

    let original = std::fs::read_to_string(&app).unwrap();
    std::fs::write(&app, original.replace(GREETING, NEW_GREETING)).unwrap();
    let started = std::time::Instant::now();
    let reload = s.client.request("dockdap/reload", json!({})).await.unwrap();
    assert!(reload.field::<bool>("success").unwrap().unwrap(), "{reload:?}");
    let answer = body(&reload);
    assert_eq!(answer["reloaded"], "process", "{answer}");
    // The port was published on any free host port: the new run has its own.
    let port = answer["ports"][0]["host"].as_u64().unwrap() as u16;
    assert_eq!(port, published_port(&s.name), "{answer}");
    s.request_stops_in(port, "hi again").await;
    eprintln!("edit to the stop in the new code took {:?}", started.elapsed());
    assert_eq!(inspect_container(&s.name).unwrap()["Id"], id, "the same container");
    let said = ["is restarted in place", "the app itself (`python3 /app/app.py`)", "stopped at once", "re-attached"];
    let console = s.said(&said);
    assert!(!console.contains("`docker restart`, or its restart policy"), "dockdap's own restart: {console}");
    assert!(console.contains("watching /app in it again"), "sync's watcher runs in the new run: {console}");

    // Sync goes on in the new run: an edit made inside the container
    // reaches the workspace (through the watcher, started again).
    docker(&["exec", &s.name, "sed", "-i", "s/hi again/edited inside/", "/app/app.py"]);
    let arrived = wait_until(Duration::from_secs(30), || {
        std::fs::read_to_string(&app).unwrap().contains("GREETING = \"edited inside\"")
    })
    .await;
    assert!(arrived.is_some(), "the container's edit never reached the workspace");
    s.client.request("disconnect", json!({})).await.unwrap();
    assert!(wait_gone(&s.name, Duration::from_secs(60)).await, "the container is removed");
}

/// A container the user started with the app under debugpy, joined.
async fn join(s: &mut Plain, extra: Value) {
    let command = format!("{START} && exec python3 -m debugpy --listen 0.0.0.0:5678 --wait-for-client /app/app.py");
    let env = format!("DOCKDAP_TEST_APP={}", app_source());
    let publish = "127.0.0.1::8080";
    docker(&["run", "-d", "--name", &s.name, "-p", publish, "-e", &env, DEBUG_IMAGE, "sh", "-c", &command]);
    let mut args = json!({"type": "dockdap", "request": "attach", "container": s.name, "appRoot": "/app",
                          "localRoot": s.ws, "timeout": 60});
    args.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let (app, line) = (s.app(), s.line);
    start_with_breakpoints(&mut s.client, "attach", args, &app, &[line]).await;
}

/// The user's own `docker restart` of a joined container: the session
/// follows the container into its new run and stops at the breakpoint
/// again.
#[tokio::test]
async fn a_joined_container_restarted_with_docker_restart_is_attached_again() {
    if !require_docker() {
        return;
    }
    let mut s = Plain::new("restart").await;
    let _cleanup = RemoveOnDrop(s.name.clone());
    join(&mut s, json!({})).await;
    s.request_stops_in(published_port(&s.name), "hello").await;

    // pid 1 (python) has no SIGTERM handler: the engine kills it after 2s.
    restart(&s.name).await;
    s.request_stops_in(published_port(&s.name), "hello").await;
    s.said(&["was restarted", "re-attached", "watching /app in it again"]);
    s.client.request("disconnect", json!({})).await.unwrap();
    assert_eq!(inspect_container(&s.name).unwrap()["State"]["Running"], true, "a joined container is left running");
}

/// `"reattach": false`: a `docker restart` ends the session, as before.
#[tokio::test]
async fn reattach_false_ends_the_session_when_the_container_restarts() {
    if !require_docker() {
        return;
    }
    let mut s = Plain::new("noreattach").await;
    let _cleanup = RemoveOnDrop(s.name.clone());
    join(&mut s, json!({"reattach": false})).await;
    s.request_stops_in(published_port(&s.name), "hello").await;
    restart(&s.name).await;
    s.client.wait_event("terminated").await.unwrap();
    s.client.request("disconnect", json!({})).await.unwrap();
}
