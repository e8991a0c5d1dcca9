//! Validation of the Kubernetes API simulation (`examples/kube-sim`) with
//! clients nobody here wrote: kubectl (1.32 on the CI machines) and the
//! official Python client. If these pass, the simulation behaves like an
//! API server for what they use; dockdap's own Kubernetes tests then rely
//! on it. One simulation serves all tests of this binary, each test in a
//! namespace of its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{KubeNamespace, kube_sim, require, require_kube_sim};

/// Runs a command with optional stdin, killing it after `limit`.
fn run(command: &mut Command, stdin: Option<&[u8]>, limit: Duration) -> Output {
    let mut child = command
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input).unwrap();
    }
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if rx.recv_timeout(limit).is_err() {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
    });
    let output = child.wait_with_output().unwrap();
    let _ = tx.send(());
    output
}

/// Runs a command that must succeed; returns its stdout.
#[track_caller]
fn ok(command: &mut Command) -> String {
    let output = run(command, None, Duration::from_secs(90));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Waits until `check` returns Some, polling; panics with `what` after `limit`.
#[track_caller]
fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn setup(test: &str) -> Option<KubeNamespace> {
    if !require_kube_sim() || !require("kubectl", support::have_kubectl()) {
        return None;
    }
    Some(kube_sim().namespace(test))
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kube-sim").join(name).display().to_string()
}

/// `kubectl get pod NAME -o jsonpath=PATH`.
fn pod_field(ns: &KubeNamespace, pod: &str, path: &str) -> String {
    ok(ns.kubectl().args(["get", "pod", pod, "-o", &format!("jsonpath={path}")]))
}

/// Docker containers of a pod, by the simulation's label.
fn docker_containers(ns: &KubeNamespace, pod: &str) -> Vec<String> {
    let filter = format!("label=kube-sim.pod={}/{pod}", ns.name);
    let out = ok(Command::new("docker").args(["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"]));
    out.lines().map(str::to_owned).collect()
}

/// A pod that sleeps, Ready.
fn sleeper(ns: &KubeNamespace, name: &str) {
    ok(ns.kubectl().args(["run", name, "--image", support::KUBE_SIM_IMAGE, "--restart=Never", "--", "sleep", "600"]));
    ok(ns.kubectl().args(["wait", "--for=condition=Ready", &format!("pod/{name}"), "--timeout=60s"]));
}

#[test]
fn kubectl_sees_a_cluster_with_one_ready_node() {
    let Some(_ns) = setup("discovery") else { return };
    let sim = kube_sim();
    let version: serde_json::Value = serde_json::from_str(&ok(sim.kubectl().args(["version", "-o", "json"]))).unwrap();
    assert_eq!(version["serverVersion"]["minor"], "32", "{version}");
    let resources = ok(sim.kubectl().args(["api-resources", "-o", "name"]));
    for name in [
        "pods",
        "namespaces",
        "events",
        "nodes",
        "deployments.apps",
        "replicasets.apps",
        "selfsubjectaccessreviews.authorization.k8s.io",
    ] {
        assert!(resources.lines().any(|l| l == name), "{name} not in api-resources:\n{resources}");
    }
    let node = ok(sim.kubectl().args([
        "get",
        "nodes",
        "-o",
        "jsonpath={.items[0].status.conditions[0].type}={.items[0].status.conditions[0].status}",
    ]));
    assert_eq!(node, "Ready=True");
    let table = ok(sim.kubectl().args(["get", "namespaces"]));
    assert!(table.lines().any(|l| l.starts_with("default ") && l.contains("Active")), "{table}");
}

#[test]
fn kubectl_runs_a_pod_waits_for_it_reads_its_logs_and_deletes_it_gracefully() {
    let Some(ns) = setup("run") else { return };
    ok(ns.kubectl().args([
        "run",
        "web",
        "--image",
        support::KUBE_SIM_IMAGE,
        "--restart=Never",
        "--labels=app=web,tier=front",
        "--",
        "python3",
        "-u",
        "-c",
        "print('started', flush=True); import time; time.sleep(600)",
    ]));
    ok(ns.kubectl().args(["wait", "--for=condition=Ready", "pod/web", "--timeout=60s"]));
    assert_eq!(pod_field(&ns, "web", "{.status.phase}"), "Running");
    assert_eq!(pod_field(&ns, "web", "{.spec.nodeName}"), "kube-sim");
    assert!(!pod_field(&ns, "web", "{.status.podIP}").is_empty());
    let table = ok(ns.kubectl().args(["get", "pods"]));
    assert!(table.lines().any(|l| l.starts_with("web ") && l.contains("1/1") && l.contains("Running")), "{table}");

    for (selector, expected) in
        [("app=web", "web"), ("app in (web,other)", "web"), ("app=web,tier!=front", ""), ("!app", "")]
    {
        let names = ok(ns.kubectl().args(["get", "pods", "-l", selector, "-o", "jsonpath={.items[*].metadata.name}"]));
        assert_eq!(names, expected, "selector {selector}");
    }
    let logs = wait_for("the pod's first line in its logs", Duration::from_secs(20), || {
        let logs = ok(ns.kubectl().args(["logs", "web"]));
        logs.contains("started").then_some(logs)
    });
    assert_eq!(logs.trim(), "started");
    assert_eq!(docker_containers(&ns, "web").len(), 2, "a sandbox and the container");

    // python as PID 1 ignores SIGTERM: the deletion takes the grace period.
    let started = Instant::now();
    ok(ns.kubectl().args(["delete", "pod", "web", "--grace-period=2"]));
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "deleted before its grace period: {:?}",
        started.elapsed()
    );
    let gone = run(ns.kubectl().args(["get", "pod", "web"]), None, Duration::from_secs(30));
    assert!(!gone.status.success() && String::from_utf8_lossy(&gone.stderr).contains("NotFound"), "{gone:?}");
    assert!(docker_containers(&ns, "web").is_empty(), "the pod's Docker containers are removed");
    let events = ok(ns.kubectl().args([
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=web",
        "-o",
        "jsonpath={.items[*].reason}",
    ]));
    for reason in ["Scheduled", "Pulled", "Created", "Started", "Killing"] {
        assert!(events.split(' ').any(|r| r == reason), "no {reason} event: {events}");
    }
}

#[test]
fn kubectl_logs_follow_ends_with_the_container() {
    let Some(ns) = setup("follow") else { return };
    ok(ns.kubectl().args([
        "run",
        "counter",
        "--image",
        support::KUBE_SIM_IMAGE,
        "--restart=Never",
        "--",
        "sh",
        "-c",
        "sleep 2; for i in 1 2 3 4 5 6 7 8; do echo line $i; sleep 0.3; done",
    ]));
    // Until the container has started, the kubelet answers "waiting to start".
    let out = wait_for("kubectl logs -f to follow the container", Duration::from_secs(60), || {
        let out = run(ns.kubectl().args(["logs", "-f", "counter"]), None, Duration::from_secs(60));
        let waiting = String::from_utf8_lossy(&out.stderr).contains("waiting to start");
        assert!(out.status.success() || waiting, "{out:?}");
        out.status.success().then_some(out)
    });
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(lines, (1..=8).map(|i| format!("line {i}")).collect::<Vec<_>>());
    ok(ns.kubectl().args(["wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/counter", "--timeout=30s"]));
    assert_eq!(pod_field(&ns, "counter", "{.status.containerStatuses[0].state.terminated.reason}"), "Completed");
    let tail = ok(ns.kubectl().args(["logs", "counter", "--tail=2"]));
    assert_eq!(tail, "line 7\nline 8\n");
}

#[test]
fn a_crashing_container_restarts_with_growing_back_off_and_keeps_its_previous_logs() {
    let Some(ns) = setup("crash") else { return };
    ok(ns.kubectl().args(["apply", "-f", &fixture("crash.yaml")]));
    let waiting = "{.status.containerStatuses[0].state.waiting.message}";
    // Kubernetes restarts at once after the first exit, then waits 10 s, 20 s, ...
    wait_for("back-off 10s", Duration::from_secs(60), || {
        pod_field(&ns, "crash", waiting).contains("back-off 10s").then_some(())
    });
    assert_eq!(pod_field(&ns, "crash", "{.status.containerStatuses[0].state.waiting.reason}"), "CrashLoopBackOff");
    assert_eq!(pod_field(&ns, "crash", "{.status.containerStatuses[0].restartCount}"), "1");
    assert_eq!(pod_field(&ns, "crash", "{.status.containerStatuses[0].lastState.terminated.exitCode}"), "2");
    // The attempt counter lives in an emptyDir: it survives the restarts.
    // (Read again if a restart fell between the two reads.)
    let attempt = |previous: bool| -> u32 {
        let mut kubectl = ns.kubectl();
        kubectl.args(["logs", "crash"]);
        if previous {
            kubectl.arg("--previous");
        }
        let text = ok(&mut kubectl);
        text.trim().strip_prefix("attempt ").and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{text:?}"))
    };
    let (previous, current) = wait_for("two consistent reads", Duration::from_secs(60), || {
        let pair = (attempt(true), attempt(false));
        (pair.1 == pair.0 + 1).then_some(pair)
    });
    assert!(previous >= 1 && current >= 2, "{previous} {current}");
    let table = ok(ns.kubectl().args(["get", "pod", "crash"]));
    assert!(table.contains("CrashLoopBackOff"), "{table}");

    wait_for("back-off 20s", Duration::from_secs(60), || {
        pod_field(&ns, "crash", waiting).contains("back-off 20s").then_some(())
    });
    assert_eq!(pod_field(&ns, "crash", "{.status.containerStatuses[0].restartCount}"), "2");
    assert_eq!(attempt(true), 2);
    let events = ok(ns.kubectl().args([
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=crash,reason=BackOff",
        "-o",
        "jsonpath={.items[0].message} x{.items[0].count}",
    ]));
    assert!(events.starts_with("Back-off restarting failed container app in pod crash_"), "{events}");
    assert!(!events.ends_with(" x1"), "the BackOff event is counted again: {events}");
}

#[test]
fn a_missing_image_is_err_image_pull_then_image_pull_back_off() {
    let Some(ns) = setup("missing-image") else { return };
    ok(ns.kubectl().args(["run", "ghost", "--image", "kube-sim-test/never-built:1", "--restart=Never"]));
    let reason = "{.status.containerStatuses[0].state.waiting.reason}";
    wait_for("ImagePullBackOff", Duration::from_secs(30), || {
        (pod_field(&ns, "ghost", reason) == "ImagePullBackOff").then_some(())
    });
    assert_eq!(pod_field(&ns, "ghost", "{.status.phase}"), "Pending");
    let events = ok(ns.kubectl().args([
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=ghost,reason=Failed",
        "-o",
        "jsonpath={.items[*].message}",
    ]));
    assert!(events.contains("Failed to pull image \"kube-sim-test/never-built:1\""), "{events}");
    let logs = run(ns.kubectl().args(["logs", "ghost"]), None, Duration::from_secs(30));
    assert!(String::from_utf8_lossy(&logs.stderr).contains("is waiting to start"), "{logs:?}");
}

#[test]
fn a_pod_no_node_can_take_stays_pending_unschedulable() {
    let Some(ns) = setup("unschedulable") else { return };
    ok(ns.kubectl().args(["apply", "-f", &fixture("score-pending.yaml")]));
    let scheduled = "{.status.conditions[?(@.type==\"PodScheduled\")]}";
    let condition = wait_for("the PodScheduled condition", Duration::from_secs(30), || {
        let text = pod_field(&ns, "pending", scheduled);
        (!text.is_empty()).then_some(text)
    });
    let condition: serde_json::Value = serde_json::from_str(&condition).unwrap();
    assert_eq!((condition["status"].as_str(), condition["reason"].as_str()), (Some("False"), Some("Unschedulable")));
    assert!(condition["message"].as_str().unwrap().contains("didn't match Pod's node affinity/selector"));
    assert_eq!(pod_field(&ns, "pending", "{.status.phase}"), "Pending");
    assert_eq!(pod_field(&ns, "pending", "{.spec.nodeName}"), "", "not bound to the node");
    let table = ok(ns.kubectl().args(["get", "pod", "pending", "--no-headers"]));
    assert!(table.contains("Pending"), "{table}");
    let events = ok(ns.kubectl().args([
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=pending,reason=FailedScheduling",
        "-o",
        "jsonpath={.items[*].source.component} {.items[*].message}",
    ]));
    assert!(events.starts_with("default-scheduler 0/1 nodes are available"), "{events}");
    assert!(docker_containers(&ns, "pending").is_empty(), "nothing runs for a pod that is not scheduled");
    ok(ns.kubectl().args(["delete", "pod", "pending", "--timeout=30s"]));
}

#[test]
fn kubectl_exec_passes_stdin_output_and_the_exit_code() {
    let Some(ns) = setup("exec") else { return };
    sleeper(&ns, "box");
    let script = "cat > /tmp/in; wc -c < /tmp/in; echo to-stderr >&2; exit 3";
    let out = run(
        ns.kubectl().args(["exec", "-i", "box", "--", "sh", "-c", script]),
        Some(b"payload\n"),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "8");
    assert!(String::from_utf8_lossy(&out.stderr).contains("to-stderr"), "{out:?}");
    assert_eq!(ok(ns.kubectl().args(["exec", "box", "--", "python3", "-c", "print(40 + 2)"])).trim(), "42");
    let big = vec![b'x'; 3 * 1024 * 1024];
    let out = run(ns.kubectl().args(["exec", "-i", "box", "--", "wc", "-c"]), Some(&big), Duration::from_secs(60));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), big.len().to_string(), "{out:?}");
}

#[test]
fn kubectl_run_attaches_to_the_container_and_removes_the_pod() {
    let Some(ns) = setup("attach") else { return };
    // `run -i` creates the pod with stdin open, attaches over WebSocket,
    // sends stdin, and with --rm deletes the pod after the container ends.
    let out = run(
        ns.kubectl().args([
            "run",
            "-i",
            "--rm",
            "--restart=Never",
            "reader",
            "--image",
            support::KUBE_SIM_IMAGE,
            "--",
            "sh",
            "-c",
            "read line; echo \"got: $line\"",
        ]),
        Some(b"hello attach\n"),
        Duration::from_secs(90),
    );
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("got: hello attach"), "{out:?}");
    wait_for("the pod to go", Duration::from_secs(60), || {
        ok(ns.kubectl().args(["get", "pods", "-o", "name"])).trim().is_empty().then_some(())
    });
}

#[test]
fn kubectl_cp_copies_files_both_ways() {
    let Some(ns) = setup("cp") else { return };
    sleeper(&ns, "box");
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("up");
    std::fs::create_dir(&local).unwrap();
    let content: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(local.join("data.bin"), &content).unwrap();
    ok(ns.kubectl().arg("cp").arg(&local).arg(format!("{}/box:/tmp/up", ns.name)));
    let size = ok(ns.kubectl().args(["exec", "box", "--", "wc", "-c", "/tmp/up/data.bin"]));
    assert_eq!(size.split_whitespace().next(), Some("200000"));
    let back = dir.path().join("back.bin");
    ok(ns.kubectl().arg("cp").arg(format!("{}/box:/tmp/up/data.bin", ns.name)).arg(&back));
    assert!(std::fs::read(&back).unwrap() == content, "the file came back changed");
}

#[test]
fn a_deployment_owns_its_pods_and_replaces_a_deleted_one() {
    let Some(ns) = setup("deployment") else { return };
    ok(ns.kubectl().args(["apply", "-f", &fixture("deployment.yaml")]));
    ok(ns.kubectl().args(["wait", "--for=condition=Available", "deployment/score", "--timeout=60s"]));
    let names = |ns: &KubeNamespace| -> Vec<String> {
        let out = ok(ns.kubectl().args([
            "get",
            "pods",
            "-l",
            "app=score",
            "--field-selector=status.phase=Running",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ]));
        out.split_whitespace().map(str::to_owned).collect()
    };
    let first = wait_for("two running pods", Duration::from_secs(30), || Some(names(&ns)).filter(|n| n.len() == 2));
    let owner = pod_field(&ns, &first[0], "{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}");
    let rs = ok(ns.kubectl().args(["get", "rs", "-l", "app=score", "-o", "jsonpath={.items[*].metadata.name}"]));
    assert_eq!(owner, format!("ReplicaSet/{rs}"));
    assert_eq!(pod_field(&ns, &first[0], "{.spec.containers[0].image}"), support::KUBE_SIM_IMAGE);
    let env = ok(ns.kubectl().args(["exec", &first[0], "--", "sh", "-c", "echo $POD_NAME; pwd"]));
    assert_eq!(env, format!("{}\n/tmp\n", first[0]));

    ok(ns.kubectl().args(["delete", "pod", &first[0], "--grace-period=1"]));
    let replaced = wait_for("a replacement pod", Duration::from_secs(60), || {
        Some(names(&ns)).filter(|n| n.len() == 2 && !n.contains(&first[0]))
    });
    assert!(replaced.contains(&first[1]));
    ok(ns.kubectl().args(["delete", "deployment", "score"]));
    wait_for("the deployment's pods to go", Duration::from_secs(60), || {
        ok(ns.kubectl().args(["get", "pods", "-o", "name"])).trim().is_empty().then_some(())
    });
    assert!(ok(ns.kubectl().args(["get", "rs", "-o", "name"])).trim().is_empty());
}

#[test]
fn auth_can_i_and_the_requests_follow_the_namespace_deny_rules() {
    let Some(ns) = setup("authz") else { return };
    sleeper(&ns, "box");
    // `pods/exec` would be the pod named "exec": subresources go in --subresource.
    let can_i = |what: &str| {
        let (resource, sub) = what.split_once('/').map_or((what, None), |(r, s)| (r, Some(s)));
        let mut kubectl = ns.kubectl();
        kubectl.args(["auth", "can-i", "create", resource]);
        if let Some(sub) = sub {
            kubectl.arg(format!("--subresource={sub}"));
        }
        run(&mut kubectl, None, Duration::from_secs(30))
    };
    assert!(can_i("pods/exec").status.success());
    ok(kube_sim().kubectl().args(["annotate", "namespace", &ns.name, "kube-sim.dockdap/deny=create pods/exec"]));
    let denied = can_i("pods/exec");
    assert_eq!(denied.status.code(), Some(1), "{denied:?}");
    assert_eq!(String::from_utf8_lossy(&denied.stdout).trim(), "no");
    assert!(can_i("pods/portforward").status.success());
    assert!(can_i("pods").status.success());
    let exec = run(ns.kubectl().args(["exec", "box", "--", "true"]), None, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&exec.stderr);
    assert!(!exec.status.success() && stderr.contains("cannot create resource \"pods/exec\""), "{stderr}");
}

#[test]
fn the_python_client_watches_port_forwards_and_execs_over_websocket() {
    let have_client = Command::new(support::python())
        .args(["-c", "import kubernetes"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !require_kube_sim() || !require("the Python kubernetes client (scripts/setup.sh installs it)", have_client) {
        return;
    }
    let Some(ns) = setup("python") else { return };
    let script = fixture("python_client.py");
    let out = run(
        Command::new(support::python()).arg(&script).arg(&kube_sim().kubeconfig).arg(&ns.name),
        None,
        Duration::from_secs(180),
    );
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["watch_types"][0], "ADDED", "{seen}");
    assert_eq!(seen["phase"], "Running", "{seen}");
    assert_eq!(seen["http_status"], 200, "{seen}");
    assert_eq!(seen["http_body_ok"], true, "port-forward changed the bytes: {seen}");
    assert!(seen["closed_port_error"].as_str().is_some_and(|e| e.contains("9")), "{seen}");
    assert_eq!(seen["exec_output"].as_str().map(|s| s.contains("out") && s.contains("err")), Some(true), "{seen}");
    assert_eq!(seen["exec_protocol"], "v5.channel.k8s.io", "{seen}");
    assert_eq!(seen["exec_stdin_echo"], "through stdin\n", "{seen}");
    assert_eq!(seen["exec_returncode"], 7, "{seen}");
    for reason in ["Scheduled", "Pulled", "Created", "Started"] {
        assert!(seen["event_reasons"].as_array().unwrap().iter().any(|r| r == reason), "{seen}");
    }
    assert_eq!(seen["delete_watch_types"].as_array().and_then(|t| t.last()).cloned(), Some("DELETED".into()), "{seen}");
    assert_eq!(seen["gone"], true, "{seen}");
}

/// A simulation of its own (not the shared one): stopping it removes every
/// container it started, and one killed outright is cleaned up by the next.
#[test]
fn the_simulation_removes_its_containers_when_it_stops_or_after_it_was_killed() {
    if !require_kube_sim() || !require("kubectl", support::have_kubectl()) {
        return;
    }
    let binary = {
        // The shared simulation's start builds the binary.
        kube_sim();
        std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("examples/kube-sim")
    };
    let start = |dir: &Path| {
        let kubeconfig = dir.join("kubeconfig");
        let child = Command::new(&binary)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for("the kubeconfig", Duration::from_secs(30), || kubeconfig.exists().then_some(()));
        (child, kubeconfig)
    };
    let pod = format!("own-{}", std::process::id());
    let containers = |pod: &str| {
        let filter = format!("label=kube-sim.pod=default/{pod}");
        ok(Command::new("docker").args(["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"])).lines().count()
    };
    let dir = tempfile::tempdir().unwrap();
    for (round, signal) in [(1, "-TERM"), (2, "-KILL")] {
        let (mut child, kubeconfig) = start(dir.path());
        let kubectl = || {
            let mut c = Command::new("kubectl");
            c.arg("--kubeconfig").arg(&kubeconfig);
            c
        };
        let name = format!("{pod}-{round}");
        ok(kubectl().args(["run", &name, "--image", support::KUBE_SIM_IMAGE, "--", "sleep", "600"]));
        ok(kubectl().args(["wait", "--for=condition=Ready", &format!("pod/{name}"), "--timeout=60s"]));
        assert_eq!(containers(&name), 2);
        ok(Command::new("kill").args([signal, &child.id().to_string()]));
        child.wait().unwrap();
        if signal == "-TERM" {
            assert_eq!(containers(&name), 0, "SIGTERM leaves no container behind");
            assert!(!kubeconfig.exists(), "the kubeconfig is removed");
        } else {
            assert_eq!(containers(&name), 2, "SIGKILL cannot clean up");
            std::fs::remove_file(&kubeconfig).unwrap();
            let (mut next, _) = start(dir.path());
            assert_eq!(containers(&name), 0, "the next simulation removes a dead one's containers");
            ok(Command::new("kill").args(["-TERM", &next.id().to_string()]));
            next.wait().unwrap();
        }
    }
}
