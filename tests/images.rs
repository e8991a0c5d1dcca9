//! Images users really have (issue 14), each debugged end to end with the
//! DEFAULT configuration (no `debugger`, no `transport`): stop in `init()`,
//! stop in `run()` after a real POST to the published service port with
//! workspace paths, step once, the right reply after `continue`, and the
//! container gone after the session. The images come from
//! images/build-variants.sh: Python 3.9 (bullseye) and 3.13 (trixie, where
//! debugpy runs on `sys.monitoring`), an unprivileged user, a virtual
//! environment and a conda-style prefix first on `PATH` (the latter with no
//! /usr/bin/python3), and the stock image on a read-only root filesystem.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{Value, json};
use support::score::{Session, debug_score};
use support::*;

fn require_variant(image: &str) -> bool {
    require_docker() && require(&format!("the image {image} (built by images/build-variants.sh)"), have_image(image))
}

/// The session, plus what every image must show: the debugger `auto`
/// picked, said with its reason, and a step in `run()` landing on the next
/// line.
async fn debug_variant(image: &str, extra: Value, start_debugging: bool) -> Option<Session> {
    if !require_variant(image) {
        return None;
    }
    let session = debug_score(image, extra, start_debugging, true).await;
    let picked = session.console.iter().find(|l| l.contains("debugger:")).expect("auto says what it picked");
    assert!(picked.contains("debugger: azureml") && picked.contains("Azure ML inference server"), "{image}: {picked}");
    let run_line = line_of(&example_dir().join("score.py"), "dockdap-demo: breakpoint");
    assert_eq!(session.stepped_to, Some(run_line + 1), "{image}: `next` from run()'s first line");
    Some(session)
}

fn exec_in(image: &str, cmd: &[&str]) -> String {
    let out = std::process::Command::new("docker")
        .args(["run", "--rm", "--network", "none", "--entrypoint", cmd[0], image])
        .args(&cmd[1..])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn python_3_9_on_bullseye() {
    let image = "dockdap/azureml-score:py3.9";
    if debug_variant(image, json!({}), false).await.is_some() {
        assert!(exec_in(image, &["python3", "--version"]).starts_with("Python 3.9."));
    }
}

#[tokio::test]
async fn python_3_13_on_trixie_runs_debugpy_on_sys_monitoring() {
    let image = "dockdap/azureml-score:py3.13";
    if debug_variant(image, json!({}), true).await.is_some() {
        assert!(exec_in(image, &["python3", "--version"]).starts_with("Python 3.13."));
    }
}

#[tokio::test]
async fn an_unprivileged_user_whose_app_root_is_not_writable() {
    let image = "dockdap/azureml-score:user";
    let Some(session) = debug_variant(image, json!({}), false).await else { return };
    assert_eq!(session.inspect["Config"]["User"], "app", "the image's user ran the app");
}

#[tokio::test]
async fn a_virtual_environment_first_on_path() {
    let image = "dockdap/azureml-score:venv";
    if debug_variant(image, json!({}), true).await.is_some() {
        // The system python3 does not have the server: only the venv's does.
        assert_eq!(exec_in(image, &["sh", "-c", "command -v python3"]), "/opt/venv/bin/python3");
    }
}

#[tokio::test]
async fn a_conda_style_prefix_and_no_system_python() {
    let image = "dockdap/azureml-score:conda";
    if debug_variant(image, json!({}), false).await.is_some() {
        assert_eq!(
            exec_in(image, &["sh", "-c", "command -v python3; ls /usr/bin/python3 2>&1 || true"]).lines().next(),
            Some("/opt/conda/bin/python3")
        );
    }
}

#[tokio::test]
async fn a_read_only_root_filesystem() {
    // The user's container runs read-only with a tmpfs for /tmp (gunicorn's
    // worker files), as `docker run --read-only --tmpfs /tmp` would.
    let extra = json!({"readonlyRootfs": true, "tmpfs": ["/tmp"]});
    let Some(session) = debug_variant(STOCK_IMAGE, extra, true).await else { return };
    assert_eq!(session.inspect["HostConfig"]["ReadonlyRootfs"], true);
    let mounts = session.inspect["Mounts"].as_array().unwrap();
    assert!(
        mounts.iter().any(|m| m["Destination"] == "/opt/dockdap" && m["Type"] == "volume"),
        "dockdap's files went to a volume: {mounts:?}"
    );
    assert!(
        session.console.iter().any(|l| l.contains("root filesystem is read-only")),
        "the console says where dockdap's files went: {:?}",
        session.console
    );
    assert!(
        session.console.iter().any(|l| l.contains("workspace edits are not copied into the container")),
        "the console says why edits stay in the workspace: {:?}",
        session.console
    );
}

#[tokio::test]
async fn python_3_9_without_a_debugpy_that_fits_is_a_clear_error() {
    let image = "dockdap/azureml-score:py3.9";
    if !require_variant(image) {
        return;
    }
    // No debugpy in dockdap's cache: only the host's, which needs 3.10.
    let empty = tempfile::tempdir().unwrap();
    let (_dockdap, mut client) = spawn_stdio_env(&example_dir(), &[("DOCKDAP_CACHE", empty.path().as_os_str())]);
    client.set_timeout(std::time::Duration::from_secs(90));
    client.request("initialize", json!({"adapterID": "dockdap"})).await.unwrap();
    let name = format!("dockdap-test-images-nofit-{}", std::process::id());
    let launch = client
        .send_request("launch", json!({"image": image, "ports": ["0:5001"], "containerName": name}))
        .await
        .unwrap();
    let answer = client.wait_response(launch).await.unwrap();
    let message: String = answer.field("message").unwrap().unwrap_or_default();
    assert!(message.contains("the image runs Python 3.9") && message.contains("needs Python 3.10"), "{message}");
    assert!(message.contains("pip install --target") && message.contains("debugpyPath"), "says what to do: {message}");
    assert!(inspect_container(&name).is_none(), "nothing was created");
}
