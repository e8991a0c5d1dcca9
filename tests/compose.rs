//! Compose projects end to end: a real Docker Engine, the Compose tool on
//! this machine (`docker compose`, else `docker-compose`), a two-service
//! project (`tests/fixtures/compose`: the Azure ML scoring service and a
//! proxy that forwards to it over the project network), debugpy in the
//! scoring service, and dockdap over real stdio.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use dockdap::client::DapClient;
use dockdap::http;
use serde_json::{Value, json};
use support::*;

fn fixture(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compose").join(name)
}

/// The Compose tool as dockdap picks it.
fn compose_tool() -> Option<Vec<&'static str>> {
    [&["docker", "compose"][..], &["docker-compose"][..]]
        .into_iter()
        .map(<[&str]>::to_vec)
        .find(|tool| Command::new(tool[0]).args(&tool[1..]).arg("version").output().is_ok_and(|o| o.status.success()))
}

/// Docker, both images and the Compose tool; under CI all must be there.
fn require_compose() -> bool {
    require_docker()
        && require(&format!("the image {STOCK_IMAGE}"), have_image(STOCK_IMAGE))
        && require(&format!("the image {KUBE_SIM_IMAGE}"), have_image(KUBE_SIM_IMAGE))
        && require("the Compose tool (`docker compose` or `docker-compose`)", compose_tool().is_some())
}

/// A project name of this test run's own.
fn project(test: &str) -> String {
    format!("dockdap-compose-{test}-{}", std::process::id())
}

/// Runs the Compose tool on the fixture project `project` with `files`.
fn compose(project: &str, files: &[&str], command: &[&str]) -> std::process::Output {
    let tool = compose_tool().unwrap();
    let mut cmd = Command::new(tool[0]);
    cmd.args(&tool[1..]);
    for file in files {
        cmd.arg("-f").arg(fixture(file));
    }
    cmd.args(["-p", project]).args(command).output().unwrap()
}

/// For a test that launches the fixture project with `files`: the checks
/// (`None`: skip), a project name of its own, and its `down` at the end.
fn fixture_project(test: &str, files: Vec<&'static str>) -> Option<(String, DownOnDrop)> {
    if !require_compose() {
        return None;
    }
    let project = project(test);
    Some((project.clone(), DownOnDrop(project, files)))
}

/// Brings the project down at the end of a test, whatever happened.
struct DownOnDrop(String, Vec<&'static str>);

impl Drop for DownOnDrop {
    fn drop(&mut self) {
        let networks =
            Command::new("docker").args(["network", "ls", "-q", "--filter", &format!("name={}", self.0)]).output();
        if containers(&self.0).is_empty() && networks.is_ok_and(|n| n.stdout.is_empty()) {
            return;
        }
        let _ = compose(&self.0, &self.1, &["down", "--timeout", "1"]);
    }
}

/// The project's containers (running or not): `(service, name)`.
fn containers(project: &str) -> Vec<(String, String)> {
    let out = Command::new("docker")
        .args(["ps", "-a", "--filter", &format!("label=com.docker.compose.project={project}")])
        .args(["--format", "{{.Label \"com.docker.compose.service\"}} {{.Names}}"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(s, n)| (s.to_owned(), n.to_owned())))
        .collect()
}

fn container_of(project: &str, service: &str) -> String {
    containers(project).into_iter().find(|(s, _)| s == service).map(|(_, n)| n).unwrap()
}

/// Where the proxy's port 8080 is published.
fn proxy_address(project: &str) -> String {
    let name = container_of(project, "proxy");
    let out = Command::new("docker").args(["port", &name, "8080/tcp"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let address = text.lines().next().unwrap().trim().to_owned();
    assert!(address.starts_with("127.0.0.1:"), "the fixture publishes on loopback only: {address}");
    address
}

fn body(m: &dockdap::dap::Message) -> Value {
    m.field("body").unwrap().unwrap_or_default()
}

async fn initialize(client: &mut DapClient) {
    initialize_as(client, json!({})).await;
}

/// `initialize` with the editor's capabilities `caps` added.
async fn initialize_as(client: &mut DapClient, caps: Value) {
    // Each call of the Compose tool takes seconds on a busy machine.
    client.set_timeout(Duration::from_secs(180));
    let mut args = json!({"clientID": "test", "adapterID": "dockdap", "pathFormat": "path", "linesStartAt1": true});
    args.as_object_mut().unwrap().extend(caps.as_object().unwrap().clone());
    client.request("initialize", args).await.unwrap();
}

/// POSTs the sample through the proxy (so through the project network to
/// the scoring service), stops in run() with the workspace's path, and
/// checks the reply after `continue`.
async fn score_through_the_proxy(client: &mut DapClient, project: &str) {
    let score = example_dir().join("score.py");
    let run_line = line_of(&score, "dockdap-demo: breakpoint");
    let addr = proxy_address(project);
    let post = tokio::spawn(async move {
        http::post_json(&addr, "/score", http::SAMPLE, tokio::time::Instant::now() + Duration::from_secs(90)).await
    });
    let stopped = client.wait_event("stopped").await.unwrap();
    let thread = body(&stopped)["threadId"].as_i64().unwrap();
    let trace = client.request("stackTrace", json!({"threadId": thread, "levels": 1})).await.unwrap();
    let top = body(&trace)["stackFrames"][0].clone();
    assert_eq!(top["source"]["path"], score.to_str().unwrap(), "{top}");
    assert_eq!(top["line"], run_line);
    assert_eq!(top["name"], "run");
    client.request("continue", json!({"threadId": thread})).await.unwrap();
    let reply = post.await.unwrap().unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    let predictions: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(predictions, json!([39.0, 22.5]));
}

async fn wait_no_containers(project: &str, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if containers(project).is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// The editor's `disconnect`: dockdap exits, and the project is down.
async fn disconnect_and_down(client: &mut DapClient, dockdap: &mut tokio::process::Child, project: &str) {
    client.request("disconnect", json!({"terminateDebuggee": true})).await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), dockdap.wait()).await.unwrap().unwrap();
    assert!(status.success());
    assert!(
        wait_no_containers(project, Duration::from_secs(10)).await,
        "the project is down: {:?}",
        containers(project)
    );
}

/// `initialize`, then a `launch` of the fixture's scoring service (with
/// `extra`) until `initialized`; returns the launch's seq.
async fn launch_fixture(client: &mut DapClient, project: &str, extra: Value) -> i64 {
    launch_fixture_as(client, project, json!({}), json!({}), extra).await
}

/// `launch_fixture` for an editor with capabilities `caps`, with `compose`
/// attributes `more_compose` added.
async fn launch_fixture_as(
    client: &mut DapClient,
    project: &str,
    caps: Value,
    more_compose: Value,
    extra: Value,
) -> i64 {
    initialize_as(client, caps).await;
    let mut args = json!({"type": "dockdap", "request": "launch", "localRoot": example_dir(), "timeout": 60,
                          "compose": {"file": [fixture("docker-compose.yml")], "service": "scoring", "project": project}});
    args["compose"].as_object_mut().unwrap().extend(more_compose.as_object().unwrap().clone());
    args.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let launch = client.send_request("launch", args).await.unwrap();
    let first =
        client.wait_for("initialized", |m| m.is_event("initialized") || m.request_seq() == Some(launch)).await.unwrap();
    assert!(first.is_event("initialized"), "launch failed: {:?}", first.field::<String>("message"));
    launch
}

#[tokio::test]
async fn launch_debugs_one_service_reached_through_another_and_brings_the_project_down() {
    if !require_compose() {
        return;
    }
    let project = project("launch");
    let _down = DownOnDrop(project.clone(), vec!["docker-compose.yml"]);
    let score = example_dir().join("score.py");
    let score_path = score.to_str().unwrap();
    let init_line = line_of(&score, "dockdap-demo: init-breakpoint");
    let run_line = line_of(&score, "dockdap-demo: breakpoint");
    let (mut dockdap, mut client) = spawn_stdio(&example_dir());
    let launch = launch_fixture(&mut client, &project, json!({})).await;
    let bps = client
        .request(
            "setBreakpoints",
            json!({"source": {"path": score_path}, "breakpoints": [{"line": init_line}, {"line": run_line}]}),
        )
        .await
        .unwrap();
    assert!(body(&bps)["breakpoints"].as_array().unwrap().iter().all(|b| b["verified"] == true), "{:?}", body(&bps));
    client.request("configurationDone", json!({})).await.unwrap();
    let launched = client.wait_response(launch).await.unwrap();
    assert!(launched.field::<bool>("success").unwrap().unwrap_or(false), "{launched:?}");

    // waitForDebugger held the server before init().
    let stopped = client.wait_event("stopped").await.unwrap();
    let thread = body(&stopped)["threadId"].as_i64().unwrap();
    let trace = client.request("stackTrace", json!({"threadId": thread, "levels": 1})).await.unwrap();
    let top = body(&trace)["stackFrames"][0].clone();
    assert_eq!(top["source"]["path"], score_path, "{top}");
    assert_eq!(top["line"], init_line);
    client.request("continue", json!({"threadId": thread})).await.unwrap();

    // The debugged service publishes nothing (the exec transport), carries
    // dockdap's labels; the proxy runs as its file says.
    let scoring = inspect_container(&container_of(&project, "scoring")).unwrap();
    assert_eq!(scoring["Config"]["Labels"]["dockdap.image"], STOCK_IMAGE);
    assert_eq!(scoring["HostConfig"]["RestartPolicy"]["Name"], "no");
    for (port, list) in scoring["NetworkSettings"]["Ports"].as_object().into_iter().flatten() {
        assert!(list.is_null(), "{port} is not published: {list}");
    }
    let proxy = inspect_container(&container_of(&project, "proxy")).unwrap();
    let proxy_env = proxy["Config"]["Env"].to_string();
    assert!(!proxy_env.contains("DOCKDAP") && !proxy_env.contains("/opt/dockdap"), "{proxy_env}");
    assert!(proxy["Config"]["Labels"]["dockdap.session"].is_string(), "reaping knows the proxy is dockdap's");

    score_through_the_proxy(&mut client, &project).await;

    disconnect_and_down(&mut client, &mut dockdap, &project).await;
    let networks =
        Command::new("docker").args(["network", "ls", "-q", "--filter", &format!("name={project}")]).output().unwrap();
    assert!(networks.stdout.is_empty(), "its network is gone too");
}

#[tokio::test]
async fn the_editor_vanishing_brings_the_project_down() {
    if !require_compose() {
        return;
    }
    let project = project("vanish");
    let _down = DownOnDrop(project.clone(), vec!["docker-compose.yml"]);
    let (mut dockdap, mut client) = spawn_stdio(&example_dir());
    let launch = launch_fixture(&mut client, &project, json!({"waitForDebugger": false})).await;
    client.request("configurationDone", json!({})).await.unwrap();
    let launched = client.wait_response(launch).await.unwrap();
    assert!(launched.field::<bool>("success").unwrap().unwrap_or(false), "{launched:?}");
    assert_eq!(containers(&project).len(), 2);

    // The editor goes away without a word: its streams close.
    drop(client);
    let status = tokio::time::timeout(Duration::from_secs(60), dockdap.wait()).await.unwrap().unwrap();
    assert!(status.success());
    assert!(
        wait_no_containers(&project, Duration::from_secs(30)).await,
        "the project is down: {:?}",
        containers(&project)
    );
}

#[tokio::test]
async fn a_killed_dockdap_leaves_no_project_behind() {
    if !require_compose() {
        return;
    }
    let project = project("killed");
    let _down = DownOnDrop(project.clone(), vec!["docker-compose.yml"]);
    let (mut dockdap, mut client) = spawn_stdio(&example_dir());
    let launch = launch_fixture(&mut client, &project, json!({"waitForDebugger": false})).await;
    client.request("configurationDone", json!({})).await.unwrap();
    client.wait_response(launch).await.unwrap();
    assert_eq!(containers(&project).len(), 2);

    // SIGKILL: no shutdown runs; the watchdogs remove the containers, the
    // last one the project's network.
    dockdap.start_kill().unwrap();
    dockdap.wait().await.unwrap();
    assert!(wait_no_containers(&project, Duration::from_secs(60)).await, "{:?}", containers(&project));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let networks = Command::new("docker")
            .args(["network", "ls", "-q", "--filter", &format!("label=com.docker.compose.project={project}")])
            .output()
            .unwrap();
        if networks.stdout.is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the project's network is left");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn attach_joins_a_running_project_and_leaves_it_up() {
    if !require_compose() {
        return;
    }
    let project = project("attach");
    let files = vec!["docker-compose.yml", "debug-image.yml"];
    let _down = DownOnDrop(project.clone(), files.clone());
    let up = compose(&project, &files, &["up", "-d"]);
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));

    let score = example_dir().join("score.py");
    let run_line = line_of(&score, "dockdap-demo: breakpoint");
    let (mut dockdap, mut client) = spawn_stdio(&example_dir());
    initialize(&mut client).await;
    let attach = client
        .send_request(
            "attach",
            json!({"type": "dockdap", "request": "attach", "localRoot": example_dir(), "timeout": 60,
                   "compose": {"service": "scoring", "project": project}}),
        )
        .await
        .unwrap();
    let first =
        client.wait_for("initialized", |m| m.is_event("initialized") || m.request_seq() == Some(attach)).await.unwrap();
    assert!(first.is_event("initialized"), "attach failed: {:?}", first.field::<String>("message"));
    client
        .request(
            "setBreakpoints",
            json!({"source": {"path": score.to_str().unwrap()}, "breakpoints": [{"line": run_line}]}),
        )
        .await
        .unwrap();
    client.request("configurationDone", json!({})).await.unwrap();
    let attached = client.wait_response(attach).await.unwrap();
    assert!(attached.field::<bool>("success").unwrap().unwrap_or(false), "{attached:?}");

    score_through_the_proxy(&mut client, &project).await;

    client.request("disconnect", json!({})).await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), dockdap.wait()).await.unwrap().unwrap();
    assert!(status.success());
    let scoring = inspect_container(&container_of(&project, "scoring")).unwrap();
    assert_eq!(scoring["State"]["Running"], true, "the project is left up");
    assert_eq!(containers(&project).len(), 2);
}

/// What the proxy's container printed so far.
fn logs_of(project: &str, service: &str) -> String {
    let out = Command::new("docker").args(["logs", &container_of(project, service)]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// The proxy prints this once its own code runs (after debugpy let it go).
const PROXY_RUNS: &str = "proxy: forwarding to";

async fn wait_logged(project: &str, service: &str, text: &str, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if logs_of(project, service).contains(text) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// Sets breakpoints in init() and run(), `configurationDone`, the launch
/// answered, the stop in init() continued.
async fn configure_and_pass_init(client: &mut DapClient, launch: i64) {
    let score = example_dir().join("score.py");
    let lines = [line_of(&score, "dockdap-demo: init-breakpoint"), line_of(&score, "dockdap-demo: breakpoint")];
    client
        .request(
            "setBreakpoints",
            json!({"source": {"path": score.to_str().unwrap()}, "breakpoints": [{"line": lines[0]}, {"line": lines[1]}]}),
        )
        .await
        .unwrap();
    client.request("configurationDone", json!({})).await.unwrap();
    let launched = client.wait_response(launch).await.unwrap();
    assert!(launched.field::<bool>("success").unwrap().unwrap_or(false), "{launched:?}");
    let stopped = client.wait_event("stopped").await.unwrap();
    let thread = body(&stopped)["threadId"].as_i64().unwrap();
    let trace = client.request("stackTrace", json!({"threadId": thread, "levels": 1})).await.unwrap();
    assert_eq!(body(&trace)["stackFrames"][0]["line"], lines[0], "stopped in init()");
    client.request("continue", json!({"threadId": thread})).await.unwrap();
}

#[tokio::test]
async fn also_debug_opens_a_child_session_per_service_that_waits_for_it() {
    if !require_compose() {
        return;
    }
    let project = project("also");
    let _down = DownOnDrop(project.clone(), vec!["docker-compose.yml"]);
    let (mut dockdap, mut client) = spawn_stdio(&example_dir());
    let caps = json!({"supportsStartDebuggingRequest": true});
    let launch =
        launch_fixture_as(&mut client, &project, caps.clone(), json!({"alsoDebug": ["proxy"]}), json!({})).await;
    configure_and_pass_init(&mut client, launch).await;

    let request = client.wait_request("startDebugging").await.unwrap();
    let arguments = request.field::<Value>("arguments").unwrap().unwrap();
    assert_eq!(arguments["request"], "attach", "{arguments}");
    let config = arguments["configuration"].clone();
    assert_eq!(config["type"], "dockdap");
    assert_eq!(config["compose"], json!({"service": "proxy", "project": project}), "{config}");
    assert_eq!(config["localRoot"], example_dir().to_str().unwrap(), "the session's paths: {config}");
    client.respond(&request, true, None).await.unwrap();
    // The proxy's debugpy holds it until its session comes.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!logs_of(&project, "proxy").contains(PROXY_RUNS), "the proxy waits for its debugger");

    // What the editor does next: a second dockdap session with that configuration.
    let (mut child_dockdap, mut child) = spawn_stdio(&example_dir());
    initialize_as(&mut child, caps).await;
    let attach = child.send_request("attach", config).await.unwrap();
    let first =
        child.wait_for("initialized", |m| m.is_event("initialized") || m.request_seq() == Some(attach)).await.unwrap();
    assert!(first.is_event("initialized"), "attach failed: {:?}", first.field::<String>("message"));
    child.request("configurationDone", json!({})).await.unwrap();
    let attached = child.wait_response(attach).await.unwrap();
    assert!(attached.field::<bool>("success").unwrap().unwrap_or(false), "{attached:?}");
    assert!(wait_logged(&project, "proxy", PROXY_RUNS, Duration::from_secs(30)).await, "the proxy runs once attached");
    // The child session debugs the proxy: a pause stops it in its own code.
    let threads = child.request("threads", json!({})).await.unwrap();
    let thread = body(&threads)["threads"][0]["id"].as_i64().unwrap();
    child.request("pause", json!({"threadId": thread})).await.unwrap();
    let paused = child.wait_event("stopped").await.unwrap();
    let thread = body(&paused)["threadId"].as_i64().unwrap();
    let trace = child.request("stackTrace", json!({"threadId": thread})).await.unwrap();
    let names: Vec<String> = body(&trace)["stackFrames"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["name"].as_str().map(str::to_owned))
        .collect();
    // justMyCode hides the standard library's `serve_forever`: what is left
    // is the proxy's own code, its `python3 -c` module.
    assert_eq!(names.first().map(String::as_str), Some("<module>"), "the proxy's own code: {names:?}");
    child.request("continue", json!({"threadId": thread})).await.unwrap();

    // The scoring service is still this session's: a POST through the proxy stops in run().
    score_through_the_proxy(&mut client, &project).await;

    // The end of the session brings the project down, and the child session ends with it.
    disconnect_and_down(&mut client, &mut dockdap, &project).await;
    child_ends(&mut child, &mut child_dockdap).await;
}

/// A child session whose project went down: it ends, and so does its dockdap.
async fn child_ends(child: &mut DapClient, child_dockdap: &mut tokio::process::Child) {
    child.wait_event("terminated").await.unwrap();
    let _ = child.request("disconnect", json!({})).await;
    let status = tokio::time::timeout(Duration::from_secs(30), child_dockdap.wait()).await.unwrap().unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn also_debug_without_child_sessions_names_the_attach_and_holds_nothing() {
    if !require_compose() {
        return;
    }
    let project = project("also-plain");
    let _down = DownOnDrop(project.clone(), vec!["docker-compose.yml"]);
    let (mut dockdap, mut client) = spawn_stdio(&example_dir());
    let launch = launch_fixture_as(&mut client, &project, json!({}), json!({"alsoDebug": ["proxy"]}), json!({})).await;
    configure_and_pass_init(&mut client, launch).await;
    let said = client
        .wait_for("the attach configuration", |m| {
            m.is_event("output") && body(m)["output"].as_str().is_some_and(|t| t.contains("start a second session"))
        })
        .await
        .unwrap();
    let text = body(&said)["output"].as_str().unwrap().to_owned();
    let config: Value = serde_json::from_str(text.split_once("configuration: ").unwrap().1.trim()).unwrap();
    assert_eq!(config["request"], "attach", "{text}");
    assert_eq!(config["compose"]["service"], "proxy", "{text}");
    assert!(
        wait_logged(&project, "proxy", PROXY_RUNS, Duration::from_secs(30)).await,
        "nothing comes to release the proxy, so it never waits"
    );
    score_through_the_proxy(&mut client, &project).await;
    disconnect_and_down(&mut client, &mut dockdap, &project).await;
}

#[tokio::test]
async fn the_compose_tools_own_words_for_a_bad_file_and_an_unknown_service() {
    if !require_compose() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("docker-compose.yml"), "services:\n  scoring:\n    image: x\n   bad: [\n").unwrap();
    let (_dockdap, mut client) = spawn_stdio(dir.path());
    initialize(&mut client).await;
    let launch = client
        .send_request(
            "launch",
            json!({"localRoot": dir.path(), "compose": {"service": "scoring", "project": project("bad")}}),
        )
        .await
        .unwrap();
    let answer = client.wait_response(launch).await.unwrap();
    let message: String = answer.field("message").unwrap().unwrap();
    eprintln!("a bad file: {message}");
    assert!(message.contains("failed:") && message.contains("docker-compose.yml"), "{message}");
    assert!(message.contains("line 4"), "the tool's file and line: {message}");

    let (_dockdap, mut client) = spawn_stdio(&example_dir());
    initialize(&mut client).await;
    let launch = client
        .send_request(
            "launch",
            json!({"localRoot": example_dir(), "compose": {"file": [fixture("docker-compose.yml")], "service": "scorng", "project": project("unknown")}}),
        )
        .await
        .unwrap();
    let answer = client.wait_response(launch).await.unwrap();
    let message: String = answer.field("message").unwrap().unwrap();
    eprintln!("an unknown service: {message}");
    assert!(message.contains("no such service") && message.contains("scoring, proxy"), "{message}");
    assert!(containers(&project("unknown")).is_empty(), "nothing was created");

    // Attach without a project name asks the tool which containers are the
    // service's (`ps`): none, as this project is not up.
    let (_dockdap, mut client) = spawn_stdio(&example_dir());
    initialize(&mut client).await;
    let attach = client
        .send_request(
            "attach",
            json!({"localRoot": example_dir(), "compose": {"file": [fixture("docker-compose.yml")], "service": "scoring"}}),
        )
        .await
        .unwrap();
    let answer = client.wait_response(attach).await.unwrap();
    let message: String = answer.field("message").unwrap().unwrap();
    assert!(message.contains("has no container; is the project up"), "{message}");
}

/// Issue 18 on Compose: the scoring service stops in `init()`; the
/// workspace's score.py gets a new bias and `dockdap/reload` has gunicorn
/// in the service's container replace its worker (the edit copied in
/// first), which stops in `init()` again in the new code at the workspace
/// path, and a POST through the proxy (over the project network) returns
/// the new result. Then the worker is killed behind dockdap's back: the
/// session re-attaches to gunicorn's replacement (or says it came
/// undebugged, and a reload gets one that stops) instead of ending.
#[tokio::test]
async fn a_service_reloads_the_edited_code_in_place_and_survives_a_recycled_worker() {
    let Some((project, _down)) = fixture_project("reload", vec!["docker-compose.yml"]) else { return };
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("project");
    let copied = Command::new("cp").arg("-R").arg(example_dir()).arg(&ws).output().unwrap();
    assert!(copied.status.success(), "{}", String::from_utf8_lossy(&copied.stderr));
    let score = ws.join("score.py");
    let (mut dockdap, mut client) = spawn_stdio(&ws);
    initialize(&mut client).await;
    let compose = json!({"file": [fixture("docker-compose.yml")], "service": "scoring", "project": project});
    let args = json!({"type": "dockdap", "request": "launch", "localRoot": ws, "timeout": 60, "compose": compose});
    let init_line = line_of(&score, "dockdap-demo: init-breakpoint");
    start_with_breakpoints(&mut client, "launch", args, &score, &[init_line]).await;
    edit::stops_in_init_and_continues(&mut client, &score, 0.0).await;
    let proxy = proxy_address(&project);
    assert_eq!(edit::score_sample(&proxy).await, edit::OLD_REPLY);

    let original = std::fs::read_to_string(&score).unwrap();
    std::fs::write(&score, edit::with_bias(&original, 100.0)).unwrap();
    let answer = edit::reload_and_stop_in_init(&mut client, &score, 100.0).await;
    assert_eq!(edit::score_sample(&proxy).await, edit::reply_with(100.0), "{answer}");

    // gunicorn replaces a worker killed behind dockdap's back (its master is pid 1).
    let kill = "kill -9 $(cat /proc/1/task/1/children)";
    let killed = Command::new("docker").args(["exec", &container_of(&project, "scoring"), "sh", "-c", kill]).output();
    assert!(killed.as_ref().is_ok_and(|k| k.status.success()), "{killed:?}");
    match edit::next_stop_or(&mut client, "no process has reached").await {
        Some(stopped) => edit::continue_from_init(&mut client, &stopped, &score, 100.0).await,
        None => drop(edit::reload_and_stop_in_init(&mut client, &score, 100.0).await),
    }
    assert_eq!(edit::score_sample(&proxy).await, edit::reply_with(100.0));
    let console = output_lines(&client.drain_backlog());
    assert!(console.iter().any(|l| l.contains("re-attached: debugging pid")), "{console:?}");
    disconnect_and_down(&mut client, &mut dockdap, &project).await;
}

/// The child session of an `alsoDebug` service reloads its own service in
/// place: with `sync` off there (its code is not the session's workspace),
/// an edit made inside its container (or reaching it through a bind mount)
/// is what runs; the main session is not touched.
#[tokio::test]
async fn an_also_debug_child_session_reloads_its_own_service() {
    let files = vec!["docker-compose.yml", "second-scorer.yml"];
    let Some((project, _down)) = fixture_project("reload-child", files) else { return };
    let score = example_dir().join("score.py");
    let (mut dockdap, mut client) = spawn_stdio(&example_dir());
    let caps = json!({"supportsStartDebuggingRequest": true});
    let more =
        json!({"alsoDebug": ["features"], "file": [fixture("docker-compose.yml"), fixture("second-scorer.yml")]});
    let launch = launch_fixture_as(&mut client, &project, caps.clone(), more, json!({})).await;
    configure_and_pass_init(&mut client, launch).await;
    let request = client.wait_request("startDebugging").await.unwrap();
    let config = request.field::<Value>("arguments").unwrap().unwrap()["configuration"].clone();
    client.respond(&request, true, None).await.unwrap();

    let (mut child_dockdap, mut child) = spawn_stdio(&example_dir());
    initialize_as(&mut child, caps).await;
    let init_line = line_of(&score, "dockdap-demo: init-breakpoint");
    start_with_breakpoints(&mut child, "attach", config, &score, &[init_line]).await;
    edit::stops_in_init_and_continues(&mut child, &score, 0.0).await;

    let sed = r#"s/\(bias = float(loaded.get("bias", 0.0))\)$/\1 + 100.0  # dockdap-test: new bias/"#;
    let features = container_of(&project, "features");
    let edited =
        Command::new("docker").args(["exec", &features, "sed", "-i", sed, "/var/azureml-app/score.py"]).output();
    assert!(edited.as_ref().is_ok_and(|e| e.status.success()), "{edited:?}");
    edit::reload_and_stop_in_init(&mut child, &score, 100.0).await;
    let console = output_lines(&child.drain_backlog());
    assert!(console.iter().any(|l| l.contains("re-attached: debugging pid")), "{console:?}");

    // The main session's service runs on, unreloaded: a POST stops in its run().
    score_through_the_proxy(&mut client, &project).await;
    disconnect_and_down(&mut client, &mut dockdap, &project).await;
    child_ends(&mut child, &mut child_dockdap).await;
}
