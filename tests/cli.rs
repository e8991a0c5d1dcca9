//! The commands against a real Docker Engine and the example images
//! (issue 7): `demo`, `doctor`, `score`, `logs`, `up`/`down`, `completions`,
//! and pulling from a registry, each on its main path and its main failure
//! (no daemon, unknown container, nothing listening, image missing).
//!
//! Every container a test creates is removed by a guard, also when the test
//! fails; the example images are only read.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;
use tokio::io::AsyncWriteExt;

/// What a `dockdap` command did.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {self:?}"))
    }
}

/// Runs `dockdap ARGS` in `cwd` with extra environment and optional stdin.
async fn dockdap(args: &[&str], cwd: &Path, env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let mut command = tokio::process::Command::new(dockdap_bin());
    command
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(text.as_bytes()).await.unwrap();
        drop(pipe);
    }
    let out = tokio::time::timeout(Duration::from_secs(180), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("dockdap {args:?} did not finish within 180 s"))
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Removes a container when dropped, whatever happened.
struct Removed(String);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker").args(["rm", "-f", "-v", &self.0]).output();
    }
}

fn unique(what: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("dockdap-cli-{what}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

fn docker(args: &[&str]) -> String {
    let out = std::process::Command::new("docker").args(args).output().unwrap();
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn require_stock() -> bool {
    require_docker() && require(&format!("the image {STOCK_IMAGE}"), have_image(STOCK_IMAGE))
}

const NO_DAEMON: (&str, &str) = ("DOCKER_HOST", "unix:///nonexistent.sock");

fn statuses(report: &Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["check"].as_str().unwrap().to_owned(), f["status"].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn doctor_passes_on_the_example_images() {
    if !require_stock() {
        return;
    }
    let stock = dockdap(&["doctor", STOCK_IMAGE, "--json"], &example_dir(), &[], None).await;
    assert_eq!(stock.code, 0, "{stock:?}");
    let report = stock.json();
    assert_eq!(report["problems"], 0, "{report:#}");
    let checks = statuses(&report);
    for check in ["engine", "image", "python", "debugpy", "appRoot", "entryScript", "modelDir", "dryRun"] {
        assert!(checks.iter().any(|(c, s)| c == check && s == "ok"), "{check} is not ok: {report:#}");
    }
    // Without IMAGE: the image of .vscode/launch.json in the cwd (the debug image), as a checklist.
    let debug = dockdap(&["doctor"], &example_dir(), &[], None).await;
    assert_eq!(debug.code, 0, "{debug:?}");
    assert!(debug.stdout.starts_with(&format!("dockdap doctor: {DEBUG_IMAGE} (from ")), "{}", debug.stdout);
    assert!(debug.stdout.contains("ok       debugpy 1."), "{}", debug.stdout);
    assert!(debug.stdout.contains("init() returned in"), "{}", debug.stdout);
    assert!(debug.stdout.contains("\n0 problems, "), "{}", debug.stdout);
    assert!(!debug.stdout.contains('\x1b'), "NO_COLOR: no escapes");
}

#[tokio::test]
async fn doctor_shows_the_traceback_with_workspace_paths_when_init_raises() {
    if !require_stock() {
        return;
    }
    let example = example_dir();
    let args = [
        "doctor",
        STOCK_IMAGE,
        "--env",
        "AZUREML_MODEL_DIR=/var/azureml-app/no-such-model",
        "--local-root",
        example.to_str().unwrap(),
    ];
    let run = dockdap(&args, Path::new("/"), &[], None).await;
    assert_eq!(run.code, 1, "{run:?}");
    let score = example.join("score.py");
    let frame = format!("File \"{}\", line {}, in init", score.display(), line_of(&score, "raise FileNotFoundError("));
    assert!(run.stdout.contains(&frame), "the traceback names the workspace file: {}", run.stdout);
    assert!(run.stdout.contains("problem  init() raised FileNotFoundError in the dry run"), "{}", run.stdout);
    assert!(run.stdout.contains("problem  the model directory /var/azureml-app/no-such-model"), "{}", run.stdout);
    assert!(!run.stdout.contains("/var/azureml-app/score.py\", line"), "{}", run.stdout);

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let report = dockdap(&json_args, Path::new("/"), &[], None).await;
    assert_eq!(report.code, 1);
    let report = report.json();
    let dry = report["findings"].as_array().unwrap().iter().find(|f| f["check"] == "dryRun").unwrap();
    assert_eq!(dry["status"], "problem");
    assert!(dry["detail"].as_str().unwrap().contains(&frame), "{dry:#}");
    assert!(dry["fix"].as_str().unwrap().contains("AZUREML_MODEL_DIR"), "{dry:#}");
}

#[tokio::test]
async fn doctor_failures_say_what_to_do() {
    if !require_docker() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let no_daemon = dockdap(&["doctor", STOCK_IMAGE], tmp.path(), &[NO_DAEMON], None).await;
    assert_eq!(no_daemon.code, 1, "{no_daemon:?}");
    assert!(
        no_daemon.stdout.contains("problem  cannot reach the Docker Engine at unix:///nonexistent.sock"),
        "{no_daemon:?}"
    );

    let missing = dockdap(&["doctor", "dockdap/no-such-image:1", "--json"], tmp.path(), &[], None).await;
    assert_eq!(missing.code, 1, "{missing:?}");
    let report = missing.json();
    assert_eq!(statuses(&report).last().unwrap(), &("image".to_owned(), "problem".to_owned()));
    assert!(report.to_string().contains("not found in the Docker Engine; build it first"), "{report:#}");

    let which = dockdap(&["doctor"], tmp.path(), &[], None).await;
    assert_eq!(which.code, 1, "{which:?}");
    assert!(which.stderr.contains("which image?"), "{which:?}");
    let bad_env = dockdap(&["doctor", STOCK_IMAGE, "--env", "NOEQUALS"], tmp.path(), &[], None).await;
    assert!(bad_env.code != 0 && bad_env.stderr.contains("is not of the form K=V"), "{bad_env:?}");
}

#[tokio::test]
async fn pulling_from_an_unreachable_registry_fails_quickly_and_clearly() {
    if !require_docker() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // An empty Docker config: no credentials, and nothing of the user's is read.
    let docker_config = tmp.path().join("docker-config");
    std::fs::create_dir_all(&docker_config).unwrap();
    let env = [("DOCKER_CONFIG", docker_config.to_str().unwrap())];
    for image in ["127.0.0.1:1/dockdap/x:1", "registry.invalid/dockdap/x:1"] {
        let registry = image.split('/').next().unwrap();
        let started = Instant::now();
        let doctor = dockdap(&["doctor", image], tmp.path(), &env, None).await;
        assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
        assert_eq!(doctor.code, 1, "{doctor:?}");
        assert!(
            doctor.stdout.contains(&format!("is not in the Docker Engine and pulling it from {registry} failed")),
            "{doctor:?}"
        );
        assert!(doctor.stdout.contains(&format!("cannot reach the registry {registry}")), "{doctor:?}");

        // `up` goes through the adapter's own launch, which pulls the same way.
        let config = tmp.path().join("pull.json");
        std::fs::write(&config, json!({"request": "launch", "image": image}).to_string()).unwrap();
        let up = dockdap(&["up", config.to_str().unwrap()], tmp.path(), &env, None).await;
        assert_eq!(up.code, 1, "{up:?}");
        assert!(up.stderr.contains(&format!("pulling it from {registry} failed")), "{up:?}");
        assert!(up.stderr.contains(&format!("pulling {image} from {registry}")), "progress is shown: {up:?}");
    }
}

// The stand-in credential helper is a shell script.
#[cfg(unix)]
#[tokio::test]
async fn pulls_use_the_docker_credential_helpers() {
    if !require_docker() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // A credential helper that answers for the registry it is asked about.
    let helper = bin.join("docker-credential-dockdaptest");
    std::fs::write(
        &helper,
        "#!/bin/sh\nread registry\necho \"$registry\" > \"$(dirname \"$0\")/asked\"\necho '{\"ServerURL\": \"'$registry'\", \"Username\": \"u\", \"Secret\": \"s\"}'\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let docker_config = tmp.path().join("docker-config");
    std::fs::create_dir_all(&docker_config).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let env = [("DOCKER_CONFIG", docker_config.to_str().unwrap()), ("PATH", path.as_str())];
    let image = "127.0.0.1:1/dockdap/x:1";

    std::fs::write(docker_config.join("config.json"), r#"{"credHelpers": {"127.0.0.1:1": "dockdaptest"}}"#).unwrap();
    let doctor = dockdap(&["doctor", image], tmp.path(), &env, None).await;
    assert_eq!(doctor.code, 1, "{doctor:?}");
    assert!(
        doctor.stderr.contains(&format!("pulling {image} from 127.0.0.1:1 with your Docker credentials")),
        "{doctor:?}"
    );
    assert_eq!(std::fs::read_to_string(bin.join("asked")).unwrap().trim(), "127.0.0.1:1");

    // A helper that is configured but missing is named in the error.
    std::fs::write(docker_config.join("config.json"), r#"{"credsStore": "dockdap-missing-helper"}"#).unwrap();
    let missing = dockdap(&["doctor", image], tmp.path(), &env, None).await;
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(
        missing
            .stdout
            .contains("no credentials were used: the credential helper docker-credential-dockdap-missing-helper"),
        "{missing:?}"
    );
}

#[tokio::test]
async fn score_posts_the_sample_and_reports_failures() {
    if !require_stock() {
        return;
    }
    let name = unique("score");
    let _guard = Removed(name.clone());
    docker(&["run", "-d", "--name", &name, "-p", "127.0.0.1::5001", STOCK_IMAGE]);
    let port = docker(&["port", &name, "5001/tcp"]).lines().next().unwrap().rsplit(':').next().unwrap().to_owned();
    let tmp = tempfile::tempdir().unwrap();

    let sample = dockdap(&["score", "--port", &port, "--wait", "60"], tmp.path(), &[], None).await;
    assert_eq!(sample.code, 0, "{sample:?}");
    assert_eq!(serde_json::from_str::<Value>(&sample.stdout).unwrap(), json!([39.0, 22.5]), "{sample:?}");
    assert!(sample.stdout.contains("[\n  39.0,"), "pretty JSON: {}", sample.stdout);
    assert!(sample.stderr.contains(&format!("POST http://127.0.0.1:{port}/score -> 200 OK in ")), "{sample:?}");

    let file = tmp.path().join("one-row.json");
    std::fs::write(&file, r#"{"data": [[1, 1, 1, 1, 1, 1, 1, 1, 1, 1]]}"#).unwrap();
    let url = format!("http://127.0.0.1:{port}/score");
    let from_file =
        dockdap(&["score", "--url", &url, "--data", file.to_str().unwrap(), "--json"], tmp.path(), &[], None).await;
    assert_eq!(from_file.code, 0, "{from_file:?}");
    let reply = from_file.json();
    assert_eq!((reply["status"].as_u64(), reply["body"].as_array().map(Vec::len)), (Some(200), Some(1)), "{reply}");

    let stdin = r#"{"data": [[10, 9, 8, 7, 6, 5, 4, 3, 2, 1]]}"#;
    let from_stdin = dockdap(&["score", "--port", &port, "--data", "-"], tmp.path(), &[], Some(stdin)).await;
    assert_eq!((from_stdin.code, serde_json::from_str::<Value>(&from_stdin.stdout).ok()), (0, Some(json!([22.5]))));

    let bad = dockdap(&["score", "--port", &port, "--data", "-"], tmp.path(), &[], Some(r#"{"data": [[1]]}"#)).await;
    assert_eq!(bad.code, 1, "an HTTP error status fails: {bad:?}");
    assert!(bad.stderr.contains("-> 500"), "{bad:?}");
    let not_found = dockdap(&["score", "--port", &port, "--path", "/nope"], tmp.path(), &[], None).await;
    assert_eq!(not_found.code, 1, "{not_found:?}");
    assert!(not_found.stderr.contains("-> 404 Not Found"), "{not_found:?}");

    let closed = free_port().to_string();
    let nothing = dockdap(&["score", "--port", &closed], tmp.path(), &[], None).await;
    assert_eq!(nothing.code, 1, "{nothing:?}");
    assert!(nothing.stderr.contains(&format!("nothing answered at http://127.0.0.1:{closed}/score")), "{nothing:?}");
    let nothing_json = dockdap(&["score", "--port", &closed, "--json"], tmp.path(), &[], None).await;
    assert_eq!(nothing_json.code, 1);
    assert!(nothing_json.json()["error"].as_str().unwrap().starts_with("nothing answered"), "{nothing_json:?}");
}

#[tokio::test]
async fn logs_prints_both_streams_and_follows_until_the_container_exits() {
    if !require_stock() {
        return;
    }
    let name = unique("logs");
    let _guard = Removed(name.clone());
    let script = "echo first; echo oops >&2; sleep 3; echo last; exit 3";
    docker(&["run", "-d", "--name", &name, "--entrypoint", "sh", STOCK_IMAGE, "-c", script]);
    let tmp = tempfile::tempdir().unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;

    let now = dockdap(&["logs", &name], tmp.path(), &[], None).await;
    assert_eq!(now.code, 0, "{now:?}");
    assert_eq!((now.stdout.as_str(), now.stderr.as_str()), ("first\n", "oops\n"));

    let started = Instant::now();
    let follow = dockdap(&["logs", &name, "-f"], tmp.path(), &[], None).await;
    assert_eq!(follow.code, 0, "{follow:?}");
    assert_eq!(follow.stdout, "first\nlast\n", "{follow:?}");
    assert!(follow.stderr.contains(&format!("[dockdap] {name} exited with code 3")), "{follow:?}");
    assert!(started.elapsed() > Duration::from_millis(1500), "it waited for the end");

    let json = dockdap(&["logs", &name, "--tail", "1", "--json"], tmp.path(), &[], None).await;
    let json = json.json();
    assert_eq!((json["running"].clone(), json["exitCode"].clone()), (json!(false), json!(3)));
    assert_eq!(json["output"], json!([{"stream": "stdout", "text": "last\n"}]), "{json}");

    let unknown = dockdap(&["logs", "dockdap-cli-no-such-container"], tmp.path(), &[], None).await;
    assert_eq!(unknown.code, 1);
    assert!(unknown.stderr.contains("container \"dockdap-cli-no-such-container\" not found"), "{unknown:?}");
    let no_daemon = dockdap(&["logs", &name], tmp.path(), &[NO_DAEMON], None).await;
    assert_eq!(no_daemon.code, 1);
    assert!(no_daemon.stderr.contains("cannot reach the Docker Engine"), "{no_daemon:?}");
}

/// Attaches with `attach` (the configuration `up` printed, paths made
/// concrete), stops at the breakpoint in init(), and disconnects.
async fn attach_and_stop_in_init(attach: &Value) {
    let score = example_dir().join("score.py");
    let (_dockdap, mut client) = spawn_stdio(&example_dir());
    client.request("initialize", json!({"adapterID": "dockdap", "pathFormat": "path"})).await.unwrap();
    let mut attach = attach.clone();
    attach["localRoot"] = json!(example_dir());
    attach["timeout"] = json!(60);
    let request = client.send_request("attach", attach).await.unwrap();
    let first = client
        .wait_for("initialized", |m| m.is_event("initialized") || m.request_seq() == Some(request))
        .await
        .unwrap();
    assert!(first.is_event("initialized"), "attach failed: {:?}", first.field::<String>("message"));
    let thread = break_at_marker_and_stop(&mut client, request, "dockdap-demo: init-breakpoint").await;
    let line = line_of(&score, "dockdap-demo: init-breakpoint");
    let trace = client.request("stackTrace", json!({"threadId": thread, "levels": 1})).await.unwrap();
    let trace: Value = trace.field("body").unwrap().unwrap_or_default();
    assert_eq!(trace["stackFrames"][0]["source"]["path"], score.to_str().unwrap());
    assert_eq!(trace["stackFrames"][0]["line"], line);
    client.request("continue", json!({"threadId": thread})).await.unwrap();
    client.request("disconnect", json!({})).await.unwrap();
}

/// `up` with `config`, checks what it printed, attaches, scores, `down`.
async fn up_attach_down(config_text: &str, mode: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let vscode = tmp.path().join(".vscode");
    std::fs::create_dir_all(&vscode).unwrap();
    let config = vscode.join("launch.json");
    std::fs::write(&config, config_text).unwrap();

    let up = dockdap(&["up", ".vscode/launch.json", "--name", "cli test", "--json"], tmp.path(), &[], None).await;
    assert_eq!(up.code, 0, "{up:?}");
    let report = up.json();
    let name = report["container"].as_str().unwrap().to_owned();
    let guard = Removed(name.clone());
    assert_eq!(report["debugger"], mode, "{report:#}");
    assert_eq!(
        report["attach"],
        json!({"type": "dockdap", "request": "attach", "name": format!("dockdap: attach {name}"), "container": name,
               "localRoot": "${workspaceFolder}", "appRoot": "/var/azureml-app", "justMyCode": true}),
    );
    let inspect = inspect_container(&name).expect("up leaves the container running");
    assert_eq!(inspect["State"]["Running"], true);
    assert_eq!(inspect["Config"]["Labels"]["dockdap.keep"], "true");
    for (port, bindings) in inspect["HostConfig"]["PortBindings"].as_object().unwrap() {
        assert_eq!(bindings[0]["HostIp"], "127.0.0.1", "{port}");
    }
    // The owner (`up`) is gone, and reaping leaves the container alone.
    let reap = dockdap(&["reap"], tmp.path(), &[], None).await;
    assert_eq!(reap.code, 0, "{reap:?}");
    assert!(inspect_container(&name).is_some(), "reap removed a container `up` left running: {reap:?}");

    attach_and_stop_in_init(&report["attach"]).await;
    let port = report["ports"][0]["host"].as_u64().unwrap().to_string();
    let score = dockdap(&["score", "--port", &port, "--wait", "30"], tmp.path(), &[], None).await;
    assert_eq!(score.code, 0, "the service answers after the debugger let init() run: {score:?}");

    let down = dockdap(&["down", &name], tmp.path(), &[], None).await;
    assert_eq!(down.code, 0, "{down:?}");
    assert_eq!(down.stdout.trim(), format!("stopped and removed {name}"));
    assert!(inspect_container(&name).is_none());
    let again = dockdap(&["down", &name], tmp.path(), &[], None).await;
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.stderr.contains("not found"), "{again:?}");
    drop(guard);
}

#[tokio::test]
async fn up_starts_an_image_that_starts_debugpy_and_an_editor_attaches() {
    if !require_docker() {
        return;
    }
    let config = format!(
        r#"{{
  // VS Code's launch.json: comments and trailing commas
  "version": "0.2.0",
  "configurations": [
    {{"type": "python", "request": "attach", "name": "other"}},
    {{
      "type": "dockdap", "request": "launch", "name": "cli test",
      "image": "{DEBUG_IMAGE}", "localRoot": "${{workspaceFolder}}", "ports": ["0:5001"], "justMyCode": true,
    }},
  ],
}}"#
    );
    up_attach_down(&config, "image").await;
}

#[tokio::test]
async fn up_with_the_azureml_hook_can_be_attached_by_container_name() {
    if !require_stock() {
        return;
    }
    let config = json!({"configurations": [{
        "type": "dockdap", "request": "launch", "name": "cli test", "image": STOCK_IMAGE,
        "localRoot": "${workspaceFolder}", "ports": ["0:5001"], "justMyCode": true, "timeout": 30
    }]});
    up_attach_down(&config.to_string(), "azureml").await;
}

#[tokio::test]
async fn up_and_down_failures_say_what_to_do() {
    if !require_docker() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("missing.json");
    std::fs::write(&config, json!({"request": "launch", "image": "dockdap/no-such-image:1"}).to_string()).unwrap();
    let path = config.to_str().unwrap();
    let missing = dockdap(&["up", path], tmp.path(), &[], None).await;
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(missing.stderr.contains("image \"dockdap/no-such-image:1\" not found in the Docker Engine"), "{missing:?}");
    let json = dockdap(&["up", path, "--json"], tmp.path(), &[], None).await;
    assert!(json.json()["error"].as_str().unwrap().contains("not found"), "{json:?}");
    let no_daemon = dockdap(&["up", path], tmp.path(), &[NO_DAEMON], None).await;
    assert_eq!(no_daemon.code, 1);
    assert!(no_daemon.stderr.contains("cannot reach the Docker Engine"), "{no_daemon:?}");
    let no_file = dockdap(&["up", "nope.json"], tmp.path(), &[], None).await;
    assert!(
        no_file.code == 1 && no_file.stderr.contains("cannot read the launch configuration nope.json"),
        "{no_file:?}"
    );
    std::fs::write(&config, r#"{"request": "attach", "container": "x"}"#).unwrap();
    let attach = dockdap(&["up", path], tmp.path(), &[], None).await;
    assert!(attach.code == 1 && attach.stderr.contains("needs a \"launch\" configuration"), "{attach:?}");

    // down: someone else's container is refused without --force.
    let name = unique("notours");
    let _guard = Removed(name.clone());
    docker(&["create", "--name", &name, STOCK_IMAGE, "true"]);
    let refused = dockdap(&["down", &name], tmp.path(), &[], None).await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("was not started by dockdap"), "{refused:?}");
    assert!(inspect_container(&name).is_some());
    let forced = dockdap(&["down", &name, "--force"], tmp.path(), &[], None).await;
    assert_eq!(forced.code, 0, "{forced:?}");
    assert!(inspect_container(&name).is_none());
    let unknown = dockdap(&["down", "dockdap-cli-no-such-container"], tmp.path(), &[], None).await;
    assert!(unknown.code == 1 && unknown.stderr.contains("not found"), "{unknown:?}");
}

/// The main job, as the README's quick start runs it: `dockdap demo` stops at
/// the breakpoint in run() after a real scoring request, shows the stack with
/// workspace paths and the locals, prints the service's reply, and leaves no
/// container behind.
#[tokio::test]
async fn demo_stops_in_run_shows_what_an_editor_shows_and_cleans_up() {
    if !require_docker() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let run = dockdap(&["demo"], tmp.path(), &[], None).await;
    let name =
        run.stdout.lines().find_map(|l| l.trim().strip_prefix("container ")?.split(' ').next()).map(str::to_owned);
    let _removed = name.clone().map(Removed);
    assert_eq!(run.code, 0, "{run:?}");
    let score = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/azureml-score/score.py");
    let line = line_of(&score, "dockdap-demo: breakpoint");
    for expected in [
        "stopped (breakpoint) in thread".to_owned(),
        format!("run              {}:{line}", score.display()),
        "raw_data = '{\"data\": [[1, 2, 3".to_owned(),
        "POST /score -> 200: [39.0, 22.5]".to_owned(),
    ] {
        assert!(run.stdout.contains(&expected), "the demo shows {expected:?}: {}", run.stdout);
    }
    let name = name.unwrap_or_else(|| panic!("no container line: {}", run.stdout));
    assert!(run.stdout.contains(&format!("container {name} removed")), "{}", run.stdout);
    assert!(inspect_container(&name).is_none(), "{name} is still there");
}

#[tokio::test]
async fn completions_and_help() {
    let tmp = tempfile::tempdir().unwrap();
    for (shell, marker) in [("bash", "_dockdap()"), ("zsh", "#compdef dockdap"), ("fish", "complete -c dockdap")] {
        let run = dockdap(&["completions", shell], tmp.path(), &[], None).await;
        assert_eq!(run.code, 0, "{run:?}");
        assert!(run.stdout.contains(marker), "{shell}: {}", &run.stdout[..run.stdout.len().min(300)]);
        for command in ["doctor", "score", "logs", "up", "down", "completions"] {
            assert!(run.stdout.contains(command), "{shell} completes {command}");
        }
    }
    for command in ["doctor", "score", "logs", "up", "down", "completions", "reap", "schema", "demo"] {
        let help = dockdap(&[command, "--help"], tmp.path(), &[], None).await;
        assert_eq!(help.code, 0, "{help:?}");
        assert!(help.stdout.contains("Example"), "`dockdap {command} --help` shows an example: {}", help.stdout);
    }
}
