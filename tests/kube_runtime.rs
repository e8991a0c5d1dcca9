//! dockdap's Kubernetes runtime end to end, against the Kubernetes API
//! simulation (`examples/kube-sim`, validated by kubectl and the Python
//! client in `tests/kube_sim.rs`): real pods as Docker containers, the
//! example image, the real Azure ML inference server, debugpy inside, DAP
//! over an exec stream through the API server, the service reached through
//! port-forward on 127.0.0.1, and dockdap over real stdio driven the way an
//! editor would. One simulation serves the binary; each test has a
//! namespace of its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use dockdap::client::DapClient;
use dockdap::http;
use serde_json::{Value, json};
use support::*;

fn body(m: &dockdap::dap::Message) -> Value {
    m.field("body").unwrap().unwrap_or_default()
}

/// The simulation and the example images; under CI all must be there.
fn setup(test: &str) -> Option<KubeNamespace> {
    if !require_kube_sim() || !require_docker() || !require("kubectl", have_kubectl()) {
        return None;
    }
    Some(kube_sim().namespace(test))
}

/// `setup`, and `image` must be there too.
fn setup_with(test: &str, image: &str) -> Option<KubeNamespace> {
    let ns = setup(test)?;
    require(&format!("the image {image} (images/build-images.sh, images/build-guide-images.sh)"), have_image(image))
        .then_some(ns)
}

/// `kubectl apply -f tests/fixtures/kube-sim/NAME` in `ns`.
fn apply(ns: &KubeNamespace, name: &str) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kube-sim").join(name);
    ok(ns.kubectl().arg("apply").arg("-f").arg(manifest));
}

/// The `initialize` request, as an editor sends it.
async fn initialize(client: &mut DapClient) {
    let args = json!({"clientID": "test", "adapterID": "dockdap", "pathFormat": "path", "linesStartAt1": true});
    client.request("initialize", args).await.unwrap();
}

/// Runs a kubectl command that must succeed; returns its stdout.
#[track_caller]
fn ok(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The `initialized` event, or the answer to `request` if it failed; a
/// start through a loaded simulation may take longer than one client wait.
async fn started(client: &mut DapClient, request: i64) -> dockdap::dap::Message {
    for _ in 0..3 {
        match client.wait_for("initialized", |m| m.is_event("initialized") || m.request_seq() == Some(request)).await {
            Ok(message) => return message,
            Err(e) => eprintln!("still starting: {e}"),
        }
    }
    client.wait_for("initialized", |m| m.is_event("initialized") || m.request_seq() == Some(request)).await.unwrap()
}

/// A pod running `image` with the service port 5001 declared, Ready.
fn run_pod(ns: &KubeNamespace, name: &str, image: &str) {
    ok(ns.kubectl().args(["run", name, "--image", image, "--port=5001", "--restart=Never"]));
    ok(ns.kubectl().args(["wait", "--for=condition=Ready", &format!("pod/{name}"), "--timeout=60s"]));
}

/// initialize, then `attach` with `kubernetes` (plus `extra`); returns the attach seq.
async fn start_attach(client: &mut DapClient, ns: &KubeNamespace, kubernetes: Value, extra: Value) -> i64 {
    initialize(client).await;
    let mut target = json!({"namespace": ns.name, "kubeconfig": ns.sim.kubeconfig});
    target.as_object_mut().unwrap().extend(kubernetes.as_object().unwrap().clone());
    let mut args = json!({"type": "dockdap", "request": "attach", "kubernetes": target,
                          "localRoot": example_dir(), "timeout": 60});
    args.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    client.send_request("attach", args).await.unwrap()
}

/// After `request` (attach or launch) started: breakpoints in init() and
/// run() of `score`, `configurationDone`, and the answer's `dockdap` body
/// with the service's 127.0.0.1 address.
async fn configure(client: &mut DapClient, request: i64, score: &Path) -> (Value, String) {
    let first = started(client, request).await;
    assert!(first.is_event("initialized"), "the start failed: {:?}", first.field::<String>("message"));
    let lines =
        ["dockdap-demo: init-breakpoint", "dockdap-demo: breakpoint"].map(|m| json!({"line": line_of(score, m)}));
    client.request("setBreakpoints", json!({"source": {"path": score}, "breakpoints": lines})).await.unwrap();
    client.request("configurationDone", json!({})).await.unwrap();
    let answered = client.wait_response(request).await.unwrap();
    assert!(answered.field::<bool>("success").unwrap().unwrap_or(false), "{answered:?}");
    let info = body(&answered)["dockdap"].clone();
    let addr = info["ports"][0]["url"].as_str().unwrap().trim_start_matches("http://").to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "the service is forwarded to loopback only: {addr}");
    (info, addr)
}

/// The debuggee stops at `marker`'s line of `score`, in workspace paths; continues it.
async fn stops_at(client: &mut DapClient, score: &Path, marker: &str) {
    let stopped = client.wait_event("stopped").await.unwrap();
    let thread = body(&stopped)["threadId"].as_i64().unwrap();
    let trace = client.request("stackTrace", json!({"threadId": thread, "levels": 1})).await.unwrap();
    let top = body(&trace)["stackFrames"][0].clone();
    let expected = (score.to_str(), Some(line_of(score, marker)));
    assert_eq!((top["source"]["path"].as_str(), top["line"].as_i64()), expected, "{top}");
    client.request("continue", json!({"threadId": thread})).await.unwrap();
}

/// Stops in init(), then a real POST to `addr` (the port-forward) stops in
/// run(), and the reply is the model's.
async fn stop_in_init_then_in_run(client: &mut DapClient, score: &Path, addr: String) {
    stops_at(client, score, "dockdap-demo: init-breakpoint").await;
    let post = tokio::spawn(async move {
        http::post_json(&addr, "/score", http::SAMPLE, tokio::time::Instant::now() + Duration::from_secs(60)).await
    });
    stops_at(client, score, "dockdap-demo: breakpoint").await;
    let reply = post.await.unwrap().unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(serde_json::from_str::<Value>(&reply.body).unwrap(), json!([39.0, 22.5]));
}

#[tokio::test]
async fn attach_to_a_listening_pod_stops_in_init_and_in_run_after_a_post_through_the_port_forward() {
    let Some(ns) = setup("attach") else { return };
    run_pod(&ns, "score", DEBUG_IMAGE);
    let (mut dockdap, mut client) = spawn_stdio(&example_dir());
    let attach = start_attach(&mut client, &ns, json!({"pod": "score"}), json!({})).await;
    let score = example_dir().join("score.py");
    let (info, addr) = configure(&mut client, attach, &score).await;
    assert_eq!(info["container"], "pod/score", "{info}");
    assert_eq!(info["ports"][0]["container"], 5001, "{info}");
    // The image's debugpy waited for a client: init() stops; a real POST
    // through the port-forward reaches run().
    stop_in_init_then_in_run(&mut client, &score, addr).await;

    // Reload in place (issue 18): the image's worker starts debugpy itself;
    // dockdap waits until gunicorn's new worker listens, and it stops in init().
    edit::reload_and_stop_in_init(&mut client, &score, 0.0).await;

    // A pod has no commit, and says so.
    let commit = client.request("dockdap/commit", json!({})).await;
    let message = match commit {
        Ok(m) => m.field::<String>("message").unwrap().unwrap_or_default(),
        Err(e) => e.to_string(),
    };
    assert!(message.contains("a pod has no commit"), "{message}");

    client.request("disconnect", json!({})).await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(15), dockdap.wait()).await.unwrap().unwrap();
    assert!(status.success());
    // dockdap joined the pod; it never deletes what it did not create.
    let phase = ok(ns.kubectl().args(["get", "pod", "score", "-o", "jsonpath={.status.phase}"]));
    assert_eq!(phase, "Running");
}

/// `dockdap/reload` of a pod whose app no pre-forking server runs: a
/// pod's container cannot be restarted in place (Kubernetes starts a new
/// one from the image, without the synced files), so the request says why
/// and offers `restart`, and the session goes on.
#[tokio::test]
async fn reload_of_a_pod_without_a_pre_forking_server_says_why_and_offers_restart() {
    let Some(ns) = setup("reload-plain") else { return };
    let program = "import time\nwhile True: time.sleep(1)";
    ok(ns
        .kubectl()
        .args(["run", "plain", "--image", DEBUG_IMAGE, "--restart=Never", "--", "python3", "-m", "debugpy"])
        .args(["--listen", "0.0.0.0:5678", "-c", program]));
    ok(ns.kubectl().args(["wait", "--for=condition=Ready", "pod/plain", "--timeout=60s"]));
    let (_dockdap, mut client) = spawn_stdio(&example_dir());
    let attach = start_attach(&mut client, &ns, json!({"pod": "plain"}), json!({})).await;
    let first = started(&mut client, attach).await;
    assert!(first.is_event("initialized"), "the start failed: {:?}", first.field::<String>("message"));
    client.request("configurationDone", json!({})).await.unwrap();
    client.wait_response(attach).await.unwrap();
    let reload = client.request("dockdap/reload", json!({})).await;
    let message = match reload {
        Ok(m) => m.field::<String>("message").unwrap().unwrap_or_default(),
        Err(e) => e.to_string(),
    };
    assert!(message.contains("no server that forks workers"), "{message}");
    assert!(message.contains("Kubernetes cannot restart the container of pod"), "{message}");
    assert!(message.ends_with("use `restart` to start it again"), "{message}");
    let threads = client.request("threads", json!({})).await.unwrap();
    assert!(threads.field::<bool>("success").unwrap().unwrap(), "the session goes on: {threads:?}");
    client.request("disconnect", json!({})).await.unwrap();
}

#[tokio::test]
async fn attach_to_a_pod_without_debugpy_says_plainly_why_not() {
    let Some(ns) = setup_with("attach-stock", STOCK_IMAGE) else { return };
    run_pod(&ns, "stock", STOCK_IMAGE);
    let (_dockdap, mut client) = spawn_stdio(&example_dir());
    let attach = start_attach(&mut client, &ns, json!({"selector": "run=stock"}), json!({})).await;
    let response = started(&mut client, attach).await;
    let message: String = response.field("message").unwrap().unwrap_or_default();
    assert!(message.contains("nothing listens on debugPort 5678"), "{message}");
    assert!(message.contains("has no debugpy"), "{message}");
    assert!(message.contains("`launch` configuration"), "{message}");

    let (_dockdap, mut client) = spawn_stdio(&example_dir());
    let attach = start_attach(&mut client, &ns, json!({"pod": "no-such-pod"}), json!({})).await;
    let response = started(&mut client, attach).await;
    let message: String = response.field("message").unwrap().unwrap_or_default();
    assert!(message.contains("pod \"no-such-pod\" not found in namespace"), "{message}");
}

/// A Deployment whose pod crash-loops (init() raises: the model is not
/// where AZUREML_MODEL_DIR says) is diagnosed from its status, its events
/// and its last attempt's log, as a container crash is for Docker.
#[tokio::test]
async fn attach_to_a_crash_looping_pod_says_why_from_its_events_and_last_logs() {
    let Some(ns) = setup_with("crash-loop", STOCK_IMAGE) else { return };
    apply(&ns, "score-crash.yaml");
    let reason = || {
        ok(ns.kubectl().args([
            "get",
            "pods",
            "-l",
            "app=crash",
            "-o",
            "jsonpath={.items[0].status.containerStatuses[0].state.waiting.reason}",
        ]))
    };
    let looping = wait_until(Duration::from_secs(60), || reason() == "CrashLoopBackOff").await;
    assert!(looping.is_some(), "the pod never crash-looped: {}", reason());

    let (_dockdap, mut client) = spawn_stdio(&example_dir());
    let t0 = std::time::Instant::now();
    let attach = start_attach(&mut client, &ns, json!({"selector": "app=crash"}), json!({})).await;
    let response = started(&mut client, attach).await;
    let message: String = response.field("message").unwrap().unwrap_or_default();
    eprintln!("diagnosed in {:?}:\n{message}", t0.elapsed());
    assert!(t0.elapsed() < Duration::from_secs(20), "diagnosed at once, not at the timeout: {:?}", t0.elapsed());
    assert!(message.contains("is not running (CrashLoopBackOff: back-off"), "{message}");
    assert!(message.contains("the last attempt exited with code 1"), "{message}");
    assert!(message.contains("BackOff: Back-off restarting failed container"), "the events: {message}");
    assert!(message.contains("init() in the scoring script raised"), "the reading of the log: {message}");
    assert!(message.contains("FileNotFoundError: model file not found: /nonexistent/model.json"), "{message}");
    assert!(message.contains("`launch` configuration"), "what to do: {message}");
}

/// A debug copy that no node can take (its `nodeSelector` matches no node)
/// fails the launch at once with the scheduler's words, and is deleted.
#[tokio::test]
async fn a_debug_copy_that_cannot_be_scheduled_is_diagnosed_and_deleted() {
    let Some(ns) = setup_with("unschedulable", STOCK_IMAGE) else { return };
    apply(&ns, "score-pending.yaml");
    let phase = ok(ns.kubectl().args(["get", "pod", "pending", "-o", "jsonpath={.status.phase}"]));
    assert_eq!(phase, "Pending");

    let (mut dockdap, mut client) = spawn_stdio(&example_dir());
    initialize(&mut client).await;
    let t0 = std::time::Instant::now();
    let launch = client
        .send_request(
            "launch",
            json!({"type": "dockdap", "request": "launch", "localRoot": example_dir(), "timeout": 60,
                   "kubernetes": {"pod": "pending", "namespace": ns.name, "kubeconfig": ns.sim.kubeconfig}}),
        )
        .await
        .unwrap();
    let response = started(&mut client, launch).await;
    let message: String = response.field("message").unwrap().unwrap_or_default();
    eprintln!("diagnosed in {:?}:\n{message}", t0.elapsed());
    assert!(t0.elapsed() < Duration::from_secs(20), "diagnosed at once, not at the timeout: {:?}", t0.elapsed());
    assert!(message.contains("cannot be scheduled: 0/1 nodes are available"), "{message}");
    assert!(message.contains("didn't match Pod's node affinity/selector"), "{message}");
    assert!(message.contains("FailedScheduling"), "the events: {message}");
    client.request("disconnect", json!({})).await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(30), dockdap.wait()).await;
    let left = wait_until(Duration::from_secs(30), || {
        ok(ns.kubectl().args(["get", "pods", "-l", "dockdap.copy-of", "-o", "name"])).trim().is_empty()
    })
    .await;
    assert!(left.is_some(), "the copy is deleted");
}

/// A temporary copy of `from` as the workspace `TMP/project`: sync writes
/// into it, and the commit's folder goes beside it.
struct Workspace {
    _dir: tempfile::TempDir,
    top: PathBuf,
    ws: PathBuf,
}

fn workspace(from: &Path) -> Workspace {
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &to.join(entry.file_name()));
            } else {
                std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().to_path_buf();
    let ws = top.join("project");
    copy_dir(from, &ws);
    Workspace { _dir: dir, top, ws }
}

/// A debug copy of `kubernetes` (a Deployment or a pod in `ns`), launched
/// with the default configuration on a copy of `from`, end to end: the
/// copy carries none of `original_label`'s labels, init() stops, a real
/// POST through the port-forward stops in run() with workspace paths, a
/// workspace edit reaches the pod and the pod's edits reach the workspace,
/// `dockdap/commit` says a pod has no commit and saves the changed files
/// beside the workspace, and after `disconnect` the copy is gone and the
/// original untouched.
async fn debug_a_copy(ns: &KubeNamespace, kubernetes: Value, from: &Path, original_label: &str) -> Vec<String> {
    let w = workspace(from);
    let score = w.ws.join("score.py");
    let (mut dockdap, mut client) = spawn_stdio(&w.ws);
    initialize(&mut client).await;
    let mut target = json!({"namespace": ns.name, "kubeconfig": ns.sim.kubeconfig});
    target.as_object_mut().unwrap().extend(kubernetes.as_object().unwrap().clone());
    let t0 = std::time::Instant::now();
    let launch = client
        .send_request(
            "launch",
            json!({"type": "dockdap", "request": "launch", "localRoot": w.ws, "ports": ["0:5001"], "timeout": 90,
                   "kubernetes": target}),
        )
        .await
        .unwrap();
    let (info, addr) = configure(&mut client, launch, &score).await;
    let copy = info["container"].as_str().unwrap().trim_start_matches("pod/").to_owned();
    assert!(copy.contains("-dockdap-"), "{info}");
    let container = ok(ns.kubectl().args(["get", "pod", &copy, "-o", "jsonpath={.spec.containers[0].name}"]));

    // The copy carries none of the original's labels: no Service or ReplicaSet selects it.
    let labels = ok(ns.kubectl().args(["get", "pod", &copy, "-o", "jsonpath={.metadata.labels}"]));
    let labels: Value = serde_json::from_str(&labels).unwrap();
    assert!(labels["dockdap.copy-of"].is_string(), "{labels}");
    assert!(labels.get(original_label).is_none(), "{labels}");

    // The program was held until the debugger was in: init() stops.
    stops_at(&mut client, &score, "dockdap-demo: init-breakpoint").await;
    eprintln!("launch to the stop in init(): {:?}", t0.elapsed());
    let post = tokio::spawn(async move {
        http::post_json(&addr, "/score", http::SAMPLE, tokio::time::Instant::now() + Duration::from_secs(60)).await
    });
    stops_at(&mut client, &score, "dockdap-demo: breakpoint").await;
    let reply = post.await.unwrap().unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(serde_json::from_str::<Value>(&reply.body).unwrap(), json!([39.0, 22.5]));

    // Sync, workspace -> pod: a save reaches the pod's file.
    let in_pod = |path: &str| {
        let out = ns.kubectl().args(["exec", &copy, "-c", &container, "--", "cat", path]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let mut text = std::fs::read_to_string(&score).unwrap();
    text.push_str("# saved in the workspace\n");
    std::fs::write(&score, &text).unwrap();
    let took = wait_until(Duration::from_secs(30), || {
        in_pod("/var/azureml-app/score.py").contains("# saved in the workspace")
    })
    .await;
    eprintln!("workspace -> pod: {took:?}");
    assert!(took.is_some(), "the workspace edit did not reach the pod");
    // A new file in a new folder: the folder is made in the pod too.
    std::fs::create_dir(w.ws.join("data")).unwrap();
    std::fs::write(w.ws.join("data/labels.txt"), "cat\ndog\n").unwrap();
    let took = wait_until(Duration::from_secs(30), || in_pod("/var/azureml-app/data/labels.txt") == "cat\ndog\n").await;
    eprintln!("a new file in a new folder, workspace -> pod: {took:?}");
    assert!(took.is_some(), "the new file did not reach the pod");

    // Sync, pod -> workspace: an edit of score.py and a new file made in the pod.
    let script = "echo '# edited in the pod' >> /var/azureml-app/score.py && echo made-in-the-pod > /var/azureml-app/from_pod.txt";
    ok(ns.kubectl().args(["exec", &copy, "-c", &container, "--", "sh", "-c", script]));
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let took = wait_until(Duration::from_secs(30), || {
        read(&score).contains("# edited in the pod") && read(&w.ws.join("from_pod.txt")) == "made-in-the-pod\n"
    })
    .await;
    eprintln!("pod -> workspace: {took:?}");
    assert!(took.is_some(), "the pod's edits did not reach the workspace: {}", read(&score));
    assert!(read(&score).contains("# saved in the workspace"), "both edits are kept");

    // A pod has no commit: the answer says so, and the pod's changed files
    // are saved in a folder beside the workspace.
    let message = match client.request("dockdap/commit", json!({})).await {
        Ok(m) => m.field::<String>("message").unwrap().unwrap_or_default(),
        Err(e) => e.to_string(),
    };
    assert!(message.contains("a pod has no commit"), "{message}");
    let saved = w.top.join(format!("project.pod-{copy}.1"));
    assert!(message.contains(&saved.display().to_string()), "{message}");
    assert!(read(&saved.join("from_pod.txt")) == "made-in-the-pod\n", "{message}");
    let saved_score = read(&saved.join("score.py"));
    assert!(
        saved_score.contains("# edited in the pod") && saved_score.contains("# saved in the workspace"),
        "{message}"
    );

    let console = output_lines(&client.drain_backlog());
    client.request("disconnect", json!({"terminateDebuggee": true})).await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), dockdap.wait()).await.unwrap().unwrap();
    assert!(status.success());
    let gone = ns.kubectl().args(["get", "pod", &copy]).output().unwrap();
    assert!(String::from_utf8_lossy(&gone.stderr).contains("NotFound"), "the debug copy is deleted: {gone:?}");
    console
}

#[tokio::test]
async fn launch_a_debug_copy_of_a_deployment_of_the_stock_image_end_to_end() {
    let Some(ns) = setup_with("launch", STOCK_IMAGE) else { return };
    apply(&ns, "score-stock.yaml");
    let console = debug_a_copy(&ns, json!({"deployment": "score"}), &example_dir(), "app").await;
    assert!(console.iter().any(|l| l.contains("debugger: azureml")), "{console:?}");
    let original = ok(ns.kubectl().args(["get", "pods", "-l", "app=score", "-o", "jsonpath={.items[*].status.phase}"]));
    assert_eq!(original, "Running", "the Deployment's own pod is untouched");
}

/// The Azure ML guide's image (its score.py starts debugpy and waits for a
/// client) as a bare pod: the copy is made from the pod's own spec.
#[tokio::test]
async fn launch_a_debug_copy_of_a_bare_pod_of_the_guide_debugpy_image_end_to_end() {
    let Some(ns) = setup_with("launch-guide", GUIDE_DEBUGPY) else { return };
    run_pod(&ns, "guide", GUIDE_DEBUGPY);
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/azureml-guide/debugpy");
    let console = debug_a_copy(&ns, json!({"pod": "guide"}), &from, "run").await;
    // The Azure ML server's hook runs dockdap's debugpy; the script's own
    // `debugpy.listen` and `wait_for_client` are absorbed, as for Docker.
    let said = |parts: &[&str]| console.iter().any(|line| parts.iter().all(|p| line.contains(p)));
    assert!(said(&["debugger: azureml"]), "{console:?}");
    assert!(said(&["score.py:11 calls debugpy.listen", "does nothing"]), "{console:?}");
    assert!(said(&["calls debugpy.wait_for_client()", "returns at once"]), "{console:?}");
    assert!(!said(&["Address already in use"]), "{console:?}");
    let original = ok(ns.kubectl().args(["get", "pod", "guide", "-o", "jsonpath={.status.phase}"]));
    assert_eq!(original, "Running", "the pod copied is untouched");
}

const GUIDE_DEBUGPY: &str = "dockdap/guide:debugpy";

#[tokio::test]
async fn doctor_checks_the_cluster_and_the_permissions_a_session_needs() {
    let Some(ns) = setup("doctor") else { return };
    ok(ns.kubectl().args(["annotate", "namespace", &ns.name, "kube-sim.dockdap/deny=create pods/portforward"]));
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("launch.json");
    let launch = json!({"configurations": [{"type": "dockdap", "request": "launch", "name": "pod",
        "kubernetes": {"deployment": "score", "namespace": ns.name, "kubeconfig": ns.sim.kubeconfig}}]});
    std::fs::write(&config, launch.to_string()).unwrap();
    let out = Command::new(dockdap_bin()).arg("doctor").arg("--config").arg(&config).arg("--json").output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{out:?}"));
    assert_eq!(out.status.code(), Some(1), "a missing permission is a problem: {report:#}");
    let findings = report["findings"].as_array().unwrap();
    let said = |text: &str| findings.iter().find(|f| f["message"].as_str().unwrap().contains(text)).cloned();
    assert_eq!(said("Kubernetes 1.32").unwrap()["status"], "ok", "{report:#}");
    assert_eq!(said("may create pods/exec").unwrap()["status"], "ok", "{report:#}");
    let denied = said("may not create pods/portforward").unwrap();
    assert_eq!(denied["status"], "problem", "{report:#}");
    assert!(denied["fix"].as_str().unwrap().contains("`create` on `pods/portforward`"), "{denied}");
}

/// A debug copy of the Deployment `score` of the stock image (issue 18's
/// tests), launched on a copy of the example with a breakpoint in
/// `init()`, and the stop there passed.
struct Reloading {
    ns: KubeNamespace,
    w: Workspace,
    score: PathBuf,
    dockdap: tokio::process::Child,
    client: DapClient,
    /// The debug copy and its container.
    copy: String,
    container: String,
    /// The service's port-forward.
    addr: String,
}

async fn launch_for_reload(test: &str, extra: Value) -> Option<Reloading> {
    let ns = setup_with(test, STOCK_IMAGE)?;
    apply(&ns, "score-stock.yaml");
    let w = workspace(&example_dir());
    let score = w.ws.join("score.py");
    let (dockdap, mut client) = spawn_stdio(&w.ws);
    client.set_timeout(Duration::from_secs(90));
    initialize(&mut client).await;
    let target = json!({"deployment": "score", "namespace": ns.name, "kubeconfig": ns.sim.kubeconfig});
    let mut args = json!({"type": "dockdap", "request": "launch", "localRoot": w.ws, "ports": ["0:5001"],
                          "timeout": 90, "kubernetes": target});
    args.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let init_line = line_of(&score, "dockdap-demo: init-breakpoint");
    let info = start_with_breakpoints(&mut client, "launch", args, &score, &[init_line]).await;
    let copy = info["container"].as_str().unwrap().trim_start_matches("pod/").to_owned();
    let addr = info["ports"][0]["url"].as_str().unwrap().trim_start_matches("http://").to_owned();
    let container = ok(ns.kubectl().args(["get", "pod", &copy, "-o", "jsonpath={.spec.containers[0].name}"]));
    edit::stops_in_init_and_continues(&mut client, &score, 0.0).await;
    assert_eq!(edit::score_sample(&addr).await, edit::OLD_REPLY);
    Some(Reloading { ns, w, score, dockdap, client, copy, container, addr })
}

impl Reloading {
    /// `sh -c SCRIPT` in the debugged container.
    fn exec(&self, script: &str) {
        ok(self.ns.kubectl().args(["exec", &self.copy, "-c", &self.container, "--", "sh", "-c", script]));
    }

    /// The console says the session re-attached; `disconnect` deletes the copy.
    async fn end(mut self) {
        let console = output_lines(&self.client.drain_backlog());
        assert!(console.iter().any(|l| l.contains("re-attached: debugging pid")), "{console:?}");
        self.disconnect().await;
    }

    /// The program itself ending (gunicorn's master stopped) ends the
    /// session with the container's exit, not an attempt to re-attach.
    async fn end_with_the_program(mut self) {
        self.exec("kill -TERM 1");
        self.client.wait_event("terminated").await.unwrap();
        let console = output_lines(&self.client.drain_backlog());
        assert!(console.iter().any(|l| l.contains("re-attached: debugging pid")), "{console:?}");
        let said = console.join("");
        assert!(said.contains(&format!("pod {} (container {}", self.copy, self.container)), "{said}");
        assert!(said.contains("exited with code 0"), "{said}");
        assert!(!said.contains("could not attach again"), "{said}");
        self.disconnect().await;
    }

    async fn disconnect(mut self) {
        self.client.request("disconnect", json!({"terminateDebuggee": true})).await.unwrap();
        let status = tokio::time::timeout(Duration::from_secs(60), self.dockdap.wait()).await.unwrap().unwrap();
        assert!(status.success());
        let gone = self.ns.kubectl().args(["get", "pod", &self.copy]).output().unwrap();
        assert!(String::from_utf8_lossy(&gone.stderr).contains("NotFound"), "the debug copy is deleted: {gone:?}");
        drop(self.w);
    }
}

/// Issue 18 on Kubernetes: a debug copy of a Deployment of the stock image
/// stops in `init()`; the workspace's score.py gets a new bias and
/// `dockdap/reload` has gunicorn in the pod replace its worker (the edit
/// copied in first, everything over exec), which stops in `init()` again in
/// the new code at the workspace path, and a POST through the port-forward
/// returns the new result. Then the worker is killed behind dockdap's back:
/// the session re-attaches to gunicorn's replacement (or says it came
/// undebugged, and a reload gets one that stops) instead of ending.
#[tokio::test]
async fn a_debug_copy_reloads_the_edited_code_in_place_and_survives_a_recycled_worker() {
    let Some(mut r) = launch_for_reload("reload", json!({})).await else { return };
    let original = std::fs::read_to_string(&r.score).unwrap();
    std::fs::write(&r.score, edit::with_bias(&original, 100.0)).unwrap();
    let t0 = std::time::Instant::now();
    let answer = edit::reload_and_stop_in_init(&mut r.client, &r.score, 100.0).await;
    eprintln!("edit to the stop in the new init(): {:?}; {answer}", t0.elapsed());
    assert_eq!(edit::score_sample(&r.addr).await, edit::reply_with(100.0));

    // gunicorn replaces a worker killed behind dockdap's back (its master is pid 1).
    r.exec("kill -9 $(cat /proc/1/task/1/children)");
    match edit::next_stop_or(&mut r.client, "no process has reached").await {
        Some(stopped) => edit::continue_from_init(&mut r.client, &stopped, &r.score, 100.0).await,
        None => {
            eprintln!("the replacement came undebugged; reloading");
            edit::reload_and_stop_in_init(&mut r.client, &r.score, 100.0).await;
        }
    }
    assert_eq!(edit::score_sample(&r.addr).await, edit::reply_with(100.0));
    r.end_with_the_program().await;
}

/// `reloadOnSave` on Kubernetes: a workspace save reaches the pod and
/// reloads the app without a request; then an edit made inside the pod
/// (the guide's vim-in-the-container step) comes into the workspace, and
/// `dockdap/reload` runs it.
#[tokio::test]
async fn reload_on_save_and_an_edit_inside_the_pod_reload_a_debug_copy() {
    let Some(mut r) = launch_for_reload("reload-on-save", json!({"reloadOnSave": true})).await else { return };
    let original = std::fs::read_to_string(&r.score).unwrap();
    std::fs::write(&r.score, edit::with_bias(&original, 100.0)).unwrap();
    edit::stops_in_init_and_continues(&mut r.client, &r.score, 100.0).await;
    assert_eq!(edit::score_sample(&r.addr).await, edit::reply_with(100.0));

    let sed = r#"sed -i 's/+ 100.0  # dockdap-test/+ 200.0  # dockdap-test/' /var/azureml-app/score.py"#;
    r.exec(sed);
    let edited = edit::with_bias(&original, 200.0);
    let came = wait_until(Duration::from_secs(30), || std::fs::read_to_string(&r.score).unwrap() == edited).await;
    assert!(came.is_some(), "the pod's edit reached the workspace: {}", std::fs::read_to_string(&r.score).unwrap());
    edit::reload_and_stop_in_init(&mut r.client, &r.score, 200.0).await;
    assert_eq!(edit::score_sample(&r.addr).await, edit::reply_with(200.0));
    r.end().await;
}
