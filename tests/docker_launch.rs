//! Container sessions end to end: a real Docker Engine, the example image
//! built locally, debugpy inside it, the Azure ML inference server serving
//! `score.py`, and dockdap over real stdio, driven the way an editor would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use dockdap::client::DapClient;
use dockdap::http;
use serde_json::{Value, json};
use support::*;

/// initialize + launch; returns the launch request's seq.
async fn start_launch(client: &mut DapClient, extra: Value) -> i64 {
    client
        .request("initialize", json!({"clientID": "test", "adapterID": "dockdap", "pathFormat": "path", "linesStartAt1": true, "supportsProgressReporting": true}))
        .await
        .unwrap();
    let mut args = json!({"type": "dockdap", "request": "launch", "image": DEBUG_IMAGE,
                          "localRoot": example_dir(), "ports": ["0:5001"], "timeout": 60});
    args.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    client.send_request("launch", args).await.unwrap()
}

fn body(m: &dockdap::dap::Message) -> Value {
    m.field("body").unwrap().unwrap_or_default()
}

#[tokio::test]
async fn launch_debugs_init_and_run_with_workspace_paths() {
    if !require_docker() {
        return;
    }
    let score = example_dir().join("score.py");
    let score_path = score.to_str().unwrap();
    let init_line = line_of(&score, "dockdap-demo: init-breakpoint");
    let run_line = line_of(&score, "dockdap-demo: breakpoint");
    let (mut dockdap, mut client) = spawn_stdio(&example_dir());

    // The published-port transport; the exec transport (the default) is
    // covered in tests/docker_inject.rs.
    let launch = start_launch(&mut client, json!({"transport": "port"})).await;
    client.wait_event("initialized").await.unwrap();
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
    let info = body(&launched)["dockdap"].clone();
    let name = info["container"].as_str().unwrap().to_owned();
    let port = info["ports"][0]["host"].as_u64().unwrap();
    assert_eq!(info["ports"][0]["container"], 5001);

    // Every published port is on 127.0.0.1, the debug port included.
    let inspect = inspect_container(&name).unwrap();
    let bindings = inspect["HostConfig"]["PortBindings"].as_object().unwrap();
    assert!(bindings.contains_key("5678/tcp") && bindings.contains_key("5001/tcp"), "{bindings:?}");
    for (port_name, list) in bindings {
        for b in list.as_array().unwrap() {
            assert_eq!(b["HostIp"], "127.0.0.1", "{port_name} must be published on loopback only");
        }
    }
    for (port_name, list) in inspect["NetworkSettings"]["Ports"].as_object().unwrap() {
        for b in list.as_array().into_iter().flatten() {
            assert_eq!(b["HostIp"], "127.0.0.1", "{port_name}");
        }
    }
    assert_eq!(inspect["HostConfig"]["Privileged"], false);
    assert!(inspect["HostConfig"]["CapAdd"].is_null(), "no added capabilities");
    assert!(inspect["HostConfig"]["Binds"].is_null(), "nothing of the host is mounted");
    assert_eq!(inspect["Mounts"], json!([]), "no docker.sock or anything else mounted");
    assert_eq!(inspect["HostConfig"]["RestartPolicy"]["Name"], "no");
    assert_eq!(inspect["Config"]["Labels"]["dockdap.image"], DEBUG_IMAGE);

    // The app waited for the debugger, so the breakpoint in init() is hit.
    let stopped = client.wait_event("stopped").await.unwrap();
    let thread = body(&stopped)["threadId"].as_i64().unwrap();
    let trace = client.request("stackTrace", json!({"threadId": thread, "levels": 1})).await.unwrap();
    let top = body(&trace)["stackFrames"][0].clone();
    assert_eq!(top["source"]["path"], score_path, "{top}");
    assert_eq!(top["line"], init_line);
    client.request("continue", json!({"threadId": thread})).await.unwrap();

    // A real POST to the published service port reaches run().
    let addr = format!("127.0.0.1:{port}");
    let post = tokio::spawn(async move {
        http::post_json(&addr, "/score", http::SAMPLE, tokio::time::Instant::now() + Duration::from_secs(60)).await
    });
    let stopped = client.wait_event("stopped").await.unwrap();
    let thread = body(&stopped)["threadId"].as_i64().unwrap();
    let trace = client.request("stackTrace", json!({"threadId": thread, "levels": 5})).await.unwrap();
    let top = body(&trace)["stackFrames"][0].clone();
    assert_eq!(top["source"]["path"], score_path);
    assert_eq!(top["line"], run_line);
    assert_eq!(top["name"], "run");
    let scopes = client.request("scopes", json!({"frameId": top["id"]})).await.unwrap();
    let locals = body(&scopes)["scopes"][0]["variablesReference"].as_i64().unwrap();
    let vars = client.request("variables", json!({"variablesReference": locals})).await.unwrap();
    let raw = body(&vars)["variables"].as_array().unwrap().iter().find(|v| v["name"] == "raw_data").cloned().unwrap();
    assert!(raw["value"].as_str().unwrap().contains("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"), "{raw}");

    // dockdap/logs shows the container's output.
    let logs = client.request("dockdap/logs", json!({"tail": 50})).await.unwrap();
    assert!(body(&logs)["text"].as_str().unwrap().contains("score.init: model"), "{:?}", body(&logs));

    client.request("continue", json!({"threadId": thread})).await.unwrap();
    let reply = post.await.unwrap().unwrap();
    assert_eq!(reply.status, 200);
    let predictions: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(predictions, json!([39.0, 22.5]));

    client.request("disconnect", json!({"terminateDebuggee": true})).await.unwrap();
    assert!(wait_gone(&name, Duration::from_secs(15)).await, "the container is removed after disconnect");
    let status = tokio::time::timeout(Duration::from_secs(15), dockdap.wait()).await.unwrap().unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn container_dying_in_init_fails_launch_with_the_traceback() {
    if !require_docker() {
        return;
    }
    let (_dockdap, mut client) = spawn_stdio(&example_dir());
    let launch = start_launch(
        &mut client,
        json!({
            "env": {"AZUREML_MODEL_DIR": "/nonexistent"},
            "command": ["python3", "-c", "import sys; sys.path.insert(0, '/var/azureml-app'); import score; score.init()"],
            "containerName": format!("dockdap-test-init-crash-{}", std::process::id()),
        }),
    )
    .await;
    let started = std::time::Instant::now();
    let response = client.wait_response(launch).await.unwrap();
    let message: String = response.field("message").unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(20), "diagnosed promptly, not at the 60 s timeout");
    assert!(message.contains("exited with code 1"), "{message}");
    assert!(message.contains("init() in the scoring script raised"), "{message}");
    assert!(message.contains("FileNotFoundError: model file not found: /nonexistent/model.json"), "{message}");
    let name = format!("dockdap-test-init-crash-{}", std::process::id());
    assert!(wait_gone(&name, Duration::from_secs(10)).await, "a failed launch leaves no container");
    client.request("disconnect", json!({})).await.unwrap();
}

#[tokio::test]
async fn killed_container_ends_the_session() {
    if !require_docker() {
        return;
    }
    let score = example_dir().join("score.py");
    let (mut dockdap, mut client) = spawn_stdio(&example_dir());
    let launch = start_launch(&mut client, json!({})).await;
    client.wait_event("initialized").await.unwrap();
    let line = line_of(&score, "dockdap-demo: init-breakpoint");
    client
        .request("setBreakpoints", json!({"source": {"path": score}, "breakpoints": [{"line": line}]}))
        .await
        .unwrap();
    client.request("configurationDone", json!({})).await.unwrap();
    let launched = client.wait_response(launch).await.unwrap();
    let name = body(&launched)["dockdap"]["container"].as_str().unwrap().to_owned();
    client.wait_event("stopped").await.unwrap();

    std::process::Command::new("docker").args(["kill", &name]).output().unwrap();
    client.wait_event("terminated").await.unwrap();
    let exited = client.wait_event("exited").await.unwrap();
    assert_eq!(body(&exited)["exitCode"], 137);
    let said: Vec<String> = client
        .drain_backlog()
        .iter()
        .filter(|m| m.is_event("output"))
        .filter_map(|m| body(m)["output"].as_str().map(str::to_owned))
        .collect();
    assert!(said.iter().any(|o| o.contains("exited with code 137")), "{said:?}");
    // The client's disconnect after `terminated` is still answered.
    client.request("disconnect", json!({})).await.unwrap();
    assert!(wait_gone(&name, Duration::from_secs(15)).await);
    let status = tokio::time::timeout(Duration::from_secs(15), dockdap.wait()).await.unwrap().unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn editor_vanishing_removes_the_container() {
    if !require_docker() {
        return;
    }
    let (mut dockdap, mut client) = spawn_stdio(&example_dir());
    let name = format!("dockdap-test-vanish-{}", std::process::id());
    start_launch(&mut client, json!({"containerName": name})).await;
    client.wait_event("initialized").await.unwrap();
    assert!(inspect_container(&name).is_some());
    // The editor dies: its end of the pipes closes.
    drop(client);
    assert!(wait_gone(&name, Duration::from_secs(20)).await, "dockdap removes the container when the editor goes away");
    let status = tokio::time::timeout(Duration::from_secs(15), dockdap.wait()).await.unwrap().unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn missing_image_says_how_to_build_it() {
    if !require_docker() {
        return;
    }
    let (_dockdap, mut client) = spawn_stdio(&example_dir());
    let launch = start_launch(&mut client, json!({"image": "dockdap/no-such-image:1"})).await;
    let response = client.wait_response(launch).await.unwrap();
    let message: String = response.field("message").unwrap().unwrap();
    assert!(message.contains("image \"dockdap/no-such-image:1\" not found"), "{message}");
    assert!(message.contains("build it first"), "{message}");
}

#[tokio::test]
async fn sigterm_sigint_and_sighup_to_dockdap_remove_the_container() {
    if !require_docker() {
        return;
    }
    for signal in ["TERM", "INT", "HUP"] {
        let (mut dockdap, mut client) = spawn_stdio(&example_dir());
        let name = format!("dockdap-test-sig{}-{}", signal.to_lowercase(), std::process::id());
        start_launch(&mut client, json!({"containerName": name})).await;
        client.wait_event("initialized").await.unwrap();
        let pid = dockdap.id().unwrap().to_string();
        std::process::Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap();
        client.wait_event("terminated").await.unwrap();
        let status = tokio::time::timeout(Duration::from_secs(20), dockdap.wait()).await.unwrap().unwrap();
        assert!(status.success(), "SIG{signal}: {status}");
        assert!(inspect_container(&name).is_none(), "SIG{signal}: the container is gone by the time dockdap exits");
    }
}

#[tokio::test]
async fn reap_removes_only_dead_sessions_containers() {
    if !require_docker() {
        return;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_owned();
    let id = std::process::id();
    let create = |name: &str, labels: &[String]| {
        let mut cmd = std::process::Command::new("docker");
        cmd.args(["create", "--name", name]);
        for l in labels {
            cmd.args(["--label", l]);
        }
        cmd.args([DEBUG_IMAGE, "true"]);
        assert!(cmd.output().unwrap().status.success());
    };
    let dead = format!("dockdap-test-reap-dead-{id}");
    let alive = format!("dockdap-test-reap-alive-{id}");
    let foreign = format!("dockdap-test-reap-unlabelled-{id}");
    // A pid above Linux's pid_max cannot be alive.
    create(&dead, &["dockdap.session=x".into(), "dockdap.pid=4194305".into(), format!("dockdap.host={host}")]);
    create(&alive, &["dockdap.session=y".into(), format!("dockdap.pid={id}"), format!("dockdap.host={host}")]);
    create(&foreign, &[]);
    let out = std::process::Command::new(dockdap_bin()).arg("reap").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    // Another test's session start may have reaped it first; either way it is gone.
    assert!(inspect_container(&dead).is_none(), "{stdout}");
    assert!(inspect_container(&alive).is_some(), "a live owner's container stays");
    assert!(inspect_container(&foreign).is_some(), "containers without dockdap's labels are never touched");
    std::process::Command::new("docker").args(["rm", "-f", &alive, &foreign]).output().unwrap();
}

/// A launch that must fail before anything starts; returns the error message.
async fn failed_launch(env: &[(&str, &str)], extra: Value) -> String {
    let mut cmd = tokio::process::Command::new(dockdap_bin());
    cmd.current_dir(example_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut client =
        DapClient::new(Box::new(child.stdout.take().unwrap()), Box::new(child.stdin.take().unwrap()), WAIT);
    let launch = start_launch(&mut client, extra).await;
    let response = client.wait_response(launch).await.unwrap();
    assert!(matches!(response.kind(), dockdap::dap::Kind::Response { success: false, .. }));
    response.field("message").unwrap().unwrap()
}

#[tokio::test]
async fn docker_failures_say_what_to_do() {
    if !require_docker() {
        return;
    }
    let message = failed_launch(&[("DOCKER_HOST", "unix:///tmp/dockdap-no-such.sock")], json!({})).await;
    assert!(message.starts_with("cannot reach the Docker Engine at unix:///tmp/dockdap-no-such.sock"), "{message}");
    assert!(message.contains("is Docker running?"), "{message}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let message = failed_launch(&[], json!({"ports": [format!("{port}:5001")]})).await;
    assert!(message.starts_with(&format!("host port {port} is already in use on 127.0.0.1")), "{message}");

    let name = format!("dockdap-test-conflict-{}", std::process::id());
    let created =
        std::process::Command::new("docker").args(["create", "--name", &name, DEBUG_IMAGE, "true"]).output().unwrap();
    assert!(created.status.success());
    let message = failed_launch(&[], json!({"containerName": name})).await;
    assert!(message.starts_with(&format!("a container named \"{name}\" already exists")), "{message}");
    assert!(inspect_container(&name).is_some(), "someone else's container is left alone");
    std::process::Command::new("docker").args(["rm", "-f", &name]).output().unwrap();
}

#[tokio::test]
async fn attach_joins_a_running_container_and_leaves_it_running() {
    if !require_docker() {
        return;
    }
    let name = format!("dockdap-test-join-{}", std::process::id());
    let run = std::process::Command::new("docker")
        .args(["run", "-d", "--name", &name, "-p", "127.0.0.1::5678", "-p", "127.0.0.1::5001", DEBUG_IMAGE])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let _cleanup = RemoveOnDrop(name.clone());
    let score = example_dir().join("score.py");
    let (_dockdap, mut client) = spawn_stdio(&example_dir());
    client.request("initialize", json!({"adapterID": "dockdap", "pathFormat": "path"})).await.unwrap();
    let attach = client
        .send_request("attach", json!({"container": name, "localRoot": example_dir(), "timeout": 30}))
        .await
        .unwrap();
    client.wait_event("initialized").await.unwrap();
    let thread = break_at_marker_and_stop(&mut client, attach, "dockdap-demo: init-breakpoint").await;
    let trace = client.request("stackTrace", json!({"threadId": thread, "levels": 1})).await.unwrap();
    assert_eq!(body(&trace)["stackFrames"][0]["source"]["path"], score.to_str().unwrap());
    client.request("disconnect", json!({})).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let inspect = inspect_container(&name).expect("a joined container is never removed");
    assert_eq!(inspect["State"]["Running"], true);
}
