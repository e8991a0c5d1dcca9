//! Debugging on an engine other than the machine's own, end to end
//! (`scripts/engines.sh`): the example's stock image in the default
//! configuration (the Azure ML hook, DAP over `docker exec`), and the Azure
//! ML guide's debugpy image (`dockdap/guide:debugpy`, its own
//! `debugpy.listen`), on a second Docker Engine in its own network
//! namespace over TLS and over SSH, and on Podman's API service. A breakpoint in `init()` and one in `run()` are
//! hit, the `run()` one by a real POST to the service port on *this*
//! machine's 127.0.0.1 (forwarded through the Engine API when the engine is
//! remote), the reply is right after `continue`, and at the end the
//! container is gone from that engine and no process of the session
//! (`ssh`, the watchdog) is left. And sync's watcher in the container on
//! each (issue 20).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use dockdap::http;
use serde_json::{Value, json};
use support::engines::{Engines, engines};
use support::*;

fn body(m: &dockdap::dap::Message) -> Value {
    m.field("body").unwrap().unwrap_or_default()
}

/// An image a test debugs, and the workspace it was built from.
#[derive(Debug, Clone, Copy)]
struct Image {
    name: &'static str,
    /// The workspace, under the repository.
    workspace: &'static str,
}

/// The example deployment without a debugger (the Azure ML hook runs dockdap's debugpy).
const STOCK: Image = Image { name: STOCK_IMAGE, workspace: "examples/azureml-score" };
/// The guide's image: its `score.py` calls `debugpy.listen` and `wait_for_client` itself.
const GUIDE_DEBUGPY: Image = Image { name: "dockdap/guide:debugpy", workspace: "examples/azureml-guide/debugpy" };

impl Image {
    fn workspace(&self) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(self.workspace)
    }

    /// A short name for tags (`stock`, `debugpy`).
    fn flavour(&self) -> &'static str {
        self.name.rsplit(':').next().unwrap_or(self.name)
    }
}

/// How the test sends its scoring request.
#[derive(Debug, Clone, Copy)]
enum Post {
    /// `dockdap::http::post_json` from the test, as `curl` would.
    Http,
    /// The `dockdap/score` DAP request.
    Dap,
    /// The `dockdap score --port N` command.
    Command,
}

/// Whether any process started with `DOCKDAP_TEST_MARK=mark` in its
/// environment is still alive (ssh processes and watchdogs inherit it).
fn marked_processes(mark: &str) -> Vec<String> {
    let needle = format!("DOCKDAP_TEST_MARK={mark}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else { continue };
        if environ.split(|b| *b == 0).any(|var| var == needle.as_bytes()) {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            found.push(format!("{}: {cmdline}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

/// The containers of `name` on the engine.
fn containers_named(e: &Engines, which: &str, name: &str) -> String {
    let out = std::process::Command::new("docker")
        .args(e.docker_args(which))
        .args(["ps", "-a", "-q", "--filter", &format!("name=^{name}$")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `docker exec NAME sh -c SCRIPT` on the engine; its stdout.
fn exec_on(e: &Engines, which: &str, name: &str, script: &str) -> String {
    let out = std::process::Command::new("docker")
        .args(e.docker_args(which))
        .args(["exec", name, "sh", "-c", script])
        .output()
        .unwrap();
    assert!(out.status.success(), "{script}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// While the debuggee is stopped: a file made in the container comes into
/// the workspace and one made in the workspace goes into the container
/// (`dockdap/sync`), and `dockdap/commit` makes a labelled image on that
/// engine (removed again).
async fn sync_and_commit(
    e: &Engines,
    which: &str,
    image: Image,
    client: &mut dockdap::client::DapClient,
    ws: &Path,
    name: &str,
) {
    exec_on(e, which, name, "echo made-in-the-container > /var/azureml-app/from-container.txt");
    std::fs::write(ws.join("from-editor.txt"), "made-in-the-editor\n").unwrap();
    let reply = body(&client.request("dockdap/sync", json!({})).await.unwrap());
    assert_eq!(reply["conflicts"], json!([]), "{reply}");
    assert_eq!(std::fs::read_to_string(ws.join("from-container.txt")).unwrap(), "made-in-the-container\n", "{reply}");
    assert_eq!(exec_on(e, which, name, "cat /var/azureml-app/from-editor.txt"), "made-in-the-editor\n", "{reply}");
    let tag = format!("dockdap-engines2-test/{which}-{}:{}", image.flavour(), std::process::id());
    let reply = body(&client.request("dockdap/commit", json!({"tag": tag})).await.unwrap());
    assert_eq!(reply["image"], tag.as_str(), "{reply}");
    let out = std::process::Command::new("docker")
        .args(e.docker_args(which))
        .args(["image", "inspect", "--format", "{{json .Config.Labels}}", &tag])
        .output()
        .unwrap();
    let _ = std::process::Command::new("docker").args(e.docker_args(which)).args(["rmi", "-f", &tag]).output();
    assert!(out.status.success(), "{out:?}");
    let labels: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(labels["dockdap.snapshot"], "true", "{labels}");
    assert_eq!(labels["dockdap.image"], image.name, "{labels}");
}

/// Debugs `image` on the engine `which` in the default configuration;
/// returns the console lines.
async fn debug_on(which: &str, image: Image, post: Post) -> Vec<String> {
    let e = engines().expect("the test engines");
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("project");
    let copied = std::process::Command::new("cp").arg("-r").arg(image.workspace()).arg(&ws).status().unwrap();
    assert!(copied.success());
    let score = ws.join("score.py");
    let score_path = score.to_str().unwrap().to_owned();
    let init_line = line_of(&score, "dockdap-demo: init-breakpoint");
    let run_line = line_of(&score, "dockdap-demo: breakpoint");
    let mark = format!("{which}-{}", std::process::id());
    let mut env = e.process_env(which);
    env.push(("DOCKDAP_TEST_MARK".into(), mark.clone()));
    let (mut dockdap, mut client) = spawn_stdio_with(&ws, &env);
    client.set_timeout(Duration::from_secs(60));
    client
        .request("initialize", json!({"adapterID": "dockdap", "pathFormat": "path", "linesStartAt1": true}))
        .await
        .unwrap();
    let args = json!({"type": "dockdap", "request": "launch", "image": image.name,
                      "localRoot": ws, "ports": ["0:5001"], "timeout": 60});
    let info = start_with_breakpoints(&mut client, "launch", args, &score, &[init_line, run_line]).await;
    let name = info["container"].as_str().unwrap().to_owned();
    let port = info["ports"][0]["host"].as_u64().unwrap();
    assert_eq!(info["ports"][0]["url"], format!("http://127.0.0.1:{port}"), "{info}");

    let mut posted = None;
    let mut score_request = None;
    for expected in [init_line, run_line] {
        if expected == run_line {
            match post {
                Post::Http => {
                    let addr = format!("127.0.0.1:{port}");
                    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                    posted = Some(tokio::spawn(async move {
                        let reply = http::post_json(&addr, "/score", http::SAMPLE, deadline).await.unwrap();
                        (reply.status, reply.body)
                    }));
                }
                Post::Command => {
                    let command = tokio::process::Command::new(dockdap_bin())
                        .args(["score", "--port", &port.to_string(), "--json"])
                        .output();
                    posted = Some(tokio::spawn(async move {
                        let out = command.await.unwrap();
                        let reply: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{out:?}"));
                        (reply["status"].as_u64().unwrap() as u16, reply["body"].to_string())
                    }));
                }
                Post::Dap => score_request = Some(client.send_request("dockdap/score", json!({})).await.unwrap()),
            }
        }
        let stopped = client.wait_event("stopped").await.unwrap();
        let thread = body(&stopped)["threadId"].as_i64().unwrap();
        let trace = client.request("stackTrace", json!({"threadId": thread, "levels": 1})).await.unwrap();
        let top = body(&trace)["stackFrames"][0].clone();
        assert_eq!(top["source"]["path"], score_path.as_str(), "{top}");
        assert_eq!(top["line"], expected, "{top}");
        if expected == run_line {
            sync_and_commit(&e, which, image, &mut client, &ws, &name).await;
        }
        client.request("continue", json!({"threadId": thread})).await.unwrap();
    }
    let (status, reply) = match (posted, score_request) {
        (Some(posted), _) => posted.await.unwrap(),
        (None, Some(seq)) => {
            let answer = body(&client.wait_response(seq).await.unwrap());
            (answer["status"].as_u64().unwrap() as u16, answer["body"].to_string())
        }
        (None, None) => unreachable!(),
    };
    assert_eq!(status, 200, "{reply}");
    let reply: Value = serde_json::from_str(&reply).unwrap();
    let reply = reply.as_str().map(|s| serde_json::from_str(s).unwrap()).unwrap_or(reply);
    assert_eq!(reply, json!([39.0, 22.5]));

    let console: Vec<String> = client
        .drain_backlog()
        .iter()
        .filter(|m| m.is_event("output"))
        .filter_map(|m| body(m)["output"].as_str().map(str::to_owned))
        .collect();
    assert!(!containers_named(&e, which, &name).is_empty(), "the container runs on the {which} engine");
    client.request("disconnect", json!({})).await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(30), dockdap.wait()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (left, processes) = (containers_named(&e, which, &name), marked_processes(&mark));
        if left.is_empty() && processes.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "left behind on {which}: container {left:?}, processes {processes:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    console
}

#[tokio::test]
async fn stock_image_over_tls_with_the_service_port_forwarded_here() {
    if engines().is_none() {
        return;
    }
    let console = debug_on("tls", STOCK, Post::Http).await;
    assert!(console.iter().any(|l| l.contains("forwarded from the remote engine")), "{console:#?}");
}

#[tokio::test]
async fn stock_image_over_ssh_with_dockdap_score() {
    if engines().is_none() {
        return;
    }
    let console = debug_on("ssh", STOCK, Post::Dap).await;
    assert!(console.iter().any(|l| l.contains("forwarded from the remote engine")), "{console:#?}");
}

#[tokio::test]
async fn stock_image_on_podman_with_the_score_command() {
    if engines().is_none() {
        return;
    }
    let console = debug_on("podman", STOCK, Post::Command).await;
    assert!(!console.iter().any(|l| l.contains("forwarded")), "Podman here is local: {console:#?}");
}

/// The guide's debugpy image on `which`: its own debugpy is the one
/// debugged (`auto` reads `score.py`), over exec, the POST sent by the test.
/// `None`: the engines or the image are missing (a loud skip, or a failure under `CI=true`).
async fn guide_debugpy_on(which: &str) -> Option<Vec<String>> {
    let built = format!("the image {} (built by images/build-guide-images.sh)", GUIDE_DEBUGPY.name);
    if engines().is_none() || !require(&built, have_image(GUIDE_DEBUGPY.name)) {
        return None;
    }
    let console = debug_on(which, GUIDE_DEBUGPY, Post::Http).await;
    let decision = console.iter().find(|l| l.contains("debugger:")).cloned().unwrap_or_default();
    assert!(decision.contains("debugger: image"), "{decision}");
    assert!(decision.contains("calls debugpy.listen on port 5678"), "says why: {decision}");
    Some(console)
}

#[tokio::test]
async fn guide_debugpy_image_over_tls() {
    let Some(console) = guide_debugpy_on("tls").await else { return };
    assert!(console.iter().any(|l| l.contains("forwarded from the remote engine")), "{console:#?}");
}

#[tokio::test]
async fn guide_debugpy_image_over_ssh() {
    let Some(console) = guide_debugpy_on("ssh").await else { return };
    assert!(console.iter().any(|l| l.contains("forwarded from the remote engine")), "{console:#?}");
}

#[tokio::test]
async fn guide_debugpy_image_on_podman() {
    let Some(console) = guide_debugpy_on("podman").await else { return };
    assert!(!console.iter().any(|l| l.contains("forwarded")), "Podman here is local: {console:#?}");
}

/// Issue 20 on the engine `which`: the watcher runs in the container,
/// started through the runtime's exec stream; a file made in the container
/// reaches the workspace with no change list read meanwhile (no `docker
/// diff`), and its deletion in the workspace removes it from the container
/// through the same watcher.
async fn watcher_on(which: &str) {
    let e = engines().expect("the test engines");
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("project");
    let copied = std::process::Command::new("cp").arg("-r").arg(example_dir()).arg(&ws).status().unwrap();
    assert!(copied.success());
    let (mut dockdap, mut client, logs) = spawn_stdio_logged(&ws, &e.process_env(which));
    client.set_timeout(Duration::from_secs(60));
    client.request("initialize", json!({"adapterID": "dockdap", "pathFormat": "path"})).await.unwrap();
    let args = json!({"type": "dockdap", "request": "launch", "image": STOCK_IMAGE,
                      "localRoot": ws, "ports": ["0:5001"], "timeout": 60});
    let info = start_with_breakpoints(&mut client, "launch", args, &ws.join("score.py"), &[]).await;
    let name = info["container"].as_str().unwrap().to_owned();
    let said = |needle: &str| logs.lock().unwrap().iter().any(|l| l.contains(needle));
    const LISTING: &str = "reading the container's change list";
    // The watcher runs, and the one change list read that follows its start has begun.
    let ready = wait_until(Duration::from_secs(30), || {
        said("watching /var/azureml-app in the container") && said("inotify") && said(LISTING)
    });
    assert!(ready.await.is_some(), "no inotify watcher on {which}");
    let mark = logs.lock().unwrap().len();
    let made = ws.join("watched.txt");
    exec_on(&e, which, &name, "echo made-in-the-container > /var/azureml-app/watched.txt");
    let arrived = wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&made).is_ok_and(|t| t == "made-in-the-container\n")
    });
    let arrived = arrived.await.unwrap_or_else(|| panic!("a new container file did not arrive on {which}"));
    eprintln!("{which}: a new file in the container reached the workspace in {arrived:?}");
    std::fs::remove_file(&made).unwrap();
    let gone = wait_until(Duration::from_secs(10), || {
        exec_on(&e, which, &name, "test -e /var/azureml-app/watched.txt && echo yes || echo no").trim() == "no"
    });
    let gone = gone.await.unwrap_or_else(|| panic!("a workspace deletion did not reach the container on {which}"));
    eprintln!("{which}: a deletion in the workspace reached the container in {gone:?}");
    let listings: Vec<String> = logs.lock().unwrap()[mark..].iter().filter(|l| l.contains(LISTING)).cloned().collect();
    assert!(listings.is_empty(), "the change list was read on {which}: {listings:#?}");
    client.request("disconnect", json!({})).await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(30), dockdap.wait()).await;
    let removed = wait_until(Duration::from_secs(30), || containers_named(&e, which, &name).is_empty());
    assert!(removed.await.is_some(), "the container is gone from {which}");
}

#[tokio::test]
async fn the_watcher_runs_on_a_remote_engine_over_tls() {
    if engines().is_none() {
        return;
    }
    watcher_on("tls").await;
}

#[tokio::test]
async fn the_watcher_runs_on_a_remote_engine_over_ssh() {
    if engines().is_none() {
        return;
    }
    watcher_on("ssh").await;
}

#[tokio::test]
async fn the_watcher_runs_on_podman() {
    if engines().is_none() {
        return;
    }
    watcher_on("podman").await;
}

/// The port transport needs debugpy's port on this machine's loopback: on a
/// remote engine it is refused with the reason, before anything is created.
#[tokio::test]
async fn the_port_transport_is_refused_on_a_remote_engine() {
    let Some(e) = engines() else { return };
    let (mut dockdap, mut client) = spawn_stdio_with(&example_dir(), &e.process_env("tls"));
    client.request("initialize", json!({"adapterID": "dockdap"})).await.unwrap();
    let args = json!({"type": "dockdap", "request": "launch", "image": STOCK_IMAGE, "debugger": "inject",
                      "transport": "port", "localRoot": example_dir(), "ports": ["0:5001"]});
    let launch = client.send_request("launch", args).await.unwrap();
    let answer = client.wait_response(launch).await.unwrap();
    let message: String = answer.field("message").unwrap().unwrap();
    for part in ["`transport: \"port\"`", "the engine is remote", "is not an address of this machine", "exec"] {
        assert!(message.contains(part), "{part} not in {message}");
    }
    let _ = client.request("disconnect", json!({})).await;
    let _ = tokio::time::timeout(Duration::from_secs(15), dockdap.wait()).await;
}

/// `dockdap` with the engine's variables; its stdout (it must succeed).
async fn command_on(e: &Engines, which: &str, args: &[&str], cwd: &Path) -> String {
    let mut command = tokio::process::Command::new(dockdap_bin());
    command.args(args).current_dir(cwd).env("NO_COLOR", "1");
    for (key, value) in e.process_env(which) {
        if value.is_empty() {
            command.env_remove(key);
        } else {
            command.env(key, value);
        }
    }
    let out = tokio::time::timeout(Duration::from_secs(120), command.output()).await.unwrap().unwrap();
    assert!(out.status.success(), "dockdap {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `dockdap up` on a remote engine, then the attach configuration it
/// printed: the attach session forwards the container's service port to
/// this machine again, and a POST there stops in `run()`. `dockdap down`
/// removes the container.
#[tokio::test]
async fn up_then_attach_on_a_remote_engine_forwards_the_port_again() {
    let Some(e) = engines() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("up.json");
    let launch = json!({"request": "launch", "image": STOCK_IMAGE, "localRoot": example_dir(), "ports": ["0:5001"],
                        "sync": {"fromContainer": "manual", "toContainer": "manual"}});
    std::fs::write(&config, launch.to_string()).unwrap();
    let up: Value =
        serde_json::from_str(&command_on(&e, "ssh", &["up", config.to_str().unwrap(), "--json"], dir.path()).await)
            .unwrap();
    let name = up["container"].as_str().unwrap().to_owned();
    let mut attach = up["attach"].clone();
    attach["localRoot"] = json!(example_dir());
    attach["timeout"] = json!(60);

    let score = example_dir().join("score.py");
    let run_line = line_of(&score, "dockdap-demo: breakpoint");
    let (mut dockdap, mut client) = spawn_stdio_with(&example_dir(), &e.process_env("ssh"));
    client.set_timeout(Duration::from_secs(60));
    client.request("initialize", json!({"adapterID": "dockdap", "pathFormat": "path"})).await.unwrap();
    let info = start_with_breakpoints(&mut client, "attach", attach, &score, &[run_line]).await;
    let port = info["ports"][0]["host"].as_u64().unwrap();
    let addr = format!("127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let posted = tokio::spawn(async move { http::post_json(&addr, "/score", http::SAMPLE, deadline).await.unwrap() });
    let stopped = client.wait_event("stopped").await.unwrap();
    let thread = body(&stopped)["threadId"].as_i64().unwrap();
    client.request("continue", json!({"threadId": thread})).await.unwrap();
    let reply = posted.await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    client.request("disconnect", json!({})).await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(30), dockdap.wait()).await;
    assert!(!containers_named(&e, "ssh", &name).is_empty(), "an attach session leaves the container running");
    command_on(&e, "ssh", &["down", &name], dir.path()).await;
    assert!(containers_named(&e, "ssh", &name).is_empty(), "dockdap down removed it");
}
