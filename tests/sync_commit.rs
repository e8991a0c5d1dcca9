//! Files in step and snapshots, end to end: a real Docker Engine, the
//! example image, debugpy inside, and dockdap over real stdio. Each test
//! works on a temporary copy of `examples/azureml-score` (never the
//! repository's own files) and removes every container and snapshot image
//! it created.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use dockdap::client::DapClient;
use dockdap::dap::Message;
use serde_json::{Value, json};
use support::*;

/// Removes what a test created, even when it fails.
#[derive(Default)]
struct Cleanup {
    containers: Vec<String>,
    images: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for name in &self.containers {
            let _ = Command::new("docker").args(["rm", "-f", name]).output();
        }
        for image in &self.images {
            let _ = Command::new("docker").args(["rmi", "-f", image]).output();
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A temporary copy of the example deployment; `ws` is the workspace.
struct Workspace {
    _dir: tempfile::TempDir,
    top: PathBuf,
    ws: PathBuf,
}

fn workspace() -> Workspace {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().to_path_buf();
    let ws = top.join("project");
    copy_dir(&example_dir(), &ws);
    Workspace { _dir: dir, top, ws }
}

fn body(m: &Message) -> Value {
    m.field("body").unwrap().unwrap_or_default()
}

fn unique(what: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("dockdap-test-{what}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A session on a running container: initialize, launch (with `extra`),
/// breakpoints, configurationDone.
struct Running {
    _dockdap: tokio::process::Child,
    client: DapClient,
    name: String,
}

async fn launch(ws: &Path, name: &str, extra: Value, breakpoints: &[i64]) -> Running {
    let (dockdap, mut client) = spawn_stdio(ws);
    client
        .request(
            "initialize",
            json!({"clientID": "test", "adapterID": "dockdap", "pathFormat": "path", "linesStartAt1": true}),
        )
        .await
        .unwrap();
    let mut args = json!({"type": "dockdap", "request": "launch", "image": DEBUG_IMAGE, "localRoot": ws,
                          "ports": ["0:5001"], "timeout": 60, "containerName": name});
    args.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let launch = client.send_request("launch", args).await.unwrap();
    client.wait_event("initialized").await.unwrap();
    if !breakpoints.is_empty() {
        let lines: Vec<Value> = breakpoints.iter().map(|l| json!({"line": l})).collect();
        client
            .request("setBreakpoints", json!({"source": {"path": ws.join("score.py")}, "breakpoints": lines}))
            .await
            .unwrap();
    }
    client.request("configurationDone", json!({})).await.unwrap();
    let launched = client.wait_response(launch).await.unwrap();
    assert_eq!(body(&launched)["dockdap"]["container"], name, "{launched:?}");
    Running { _dockdap: dockdap, client, name: name.to_owned() }
}

fn exec(name: &str, script: &str) -> String {
    let out = Command::new("docker").args(["exec", name, "sh", "-c", script]).output().unwrap();
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn wait_until(within: Duration, mut ok: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if ok() {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn disconnect(mut running: Running) {
    running.client.request("disconnect", json!({"terminateDebuggee": true})).await.unwrap();
    assert!(wait_gone(&running.name, Duration::from_secs(20)).await, "the container is removed");
}

#[tokio::test]
async fn container_edit_appears_in_the_workspace() {
    if !require_docker() {
        return;
    }
    let w = workspace();
    let mut cleanup = Cleanup::default();
    let name = unique("pull");
    cleanup.containers.push(name.clone());
    let running = launch(&w.ws, &name, json!({}), &[]).await;
    let score = w.ws.join("score.py");
    let mut latencies = Vec::new();
    for i in 0..5 {
        let marker = format!("# edited in the container {i}");
        exec(&name, &format!("echo '{marker}' >> /var/azureml-app/score.py"));
        let seen = wait_until(Duration::from_secs(5), || {
            std::fs::read_to_string(&score).is_ok_and(|t| t.ends_with(&format!("{marker}\n")))
        })
        .await;
        latencies.push(seen.unwrap_or_else(|| panic!("edit {i} did not reach the workspace within 5 s")));
    }
    // A new file in a new folder comes too (reported by the watcher in the
    // container; where none can run, found through the change list).
    exec(&name, "mkdir -p /var/azureml-app/lib && echo 'X = 1' > /var/azureml-app/lib/helper.py");
    let helper = w.ws.join("lib/helper.py");
    let found =
        wait_until(Duration::from_secs(40), || std::fs::read_to_string(&helper).is_ok_and(|t| t == "X = 1\n")).await;
    eprintln!("a new container file reached the workspace after {found:?}");
    assert!(found.is_some());
    eprintln!("container -> workspace latency: median {:?} of {latencies:?}", median(latencies.clone()));
    assert!(median(latencies) < Duration::from_secs(2));
    disconnect(running).await;
}

#[tokio::test]
async fn workspace_edit_appears_in_the_container() {
    if !require_docker() {
        return;
    }
    let w = workspace();
    let mut cleanup = Cleanup::default();
    let name = unique("push");
    cleanup.containers.push(name.clone());
    let mut running = launch(&w.ws, &name, json!({}), &[]).await;
    let score = w.ws.join("score.py");
    let original = std::fs::read_to_string(&score).unwrap();
    let mut latencies = Vec::new();
    for i in 0..5 {
        let edited = format!("{original}# edited in the workspace {i}\n");
        let started = Instant::now();
        std::fs::write(&score, &edited).unwrap();
        // dockdap says so in the debug console once the file is in the container.
        let said = running
            .client
            .wait_for("the copy into the container", |m| {
                m.is_event("output")
                    && body(m)["output"]
                        .as_str()
                        .is_some_and(|o| o.contains("score.py copied from the workspace into the container"))
            })
            .await;
        said.unwrap();
        latencies.push(started.elapsed());
        assert_eq!(exec(&name, "cat /var/azureml-app/score.py"), edited);
    }
    eprintln!("workspace -> container latency: median {:?} of {latencies:?}", median(latencies.clone()));
    assert!(median(latencies) < Duration::from_secs(2));
    // dockdap's own copy is not echoed back into the workspace as an edit.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let echoes = running
        .client
        .drain_backlog()
        .iter()
        .filter(|m| {
            m.is_event("output") && body(m)["output"].as_str().is_some_and(|o| o.contains("copied from the container"))
        })
        .count();
    assert_eq!(echoes, 0);
    disconnect(running).await;
}

#[tokio::test]
async fn both_sides_edited_keeps_both_and_reports_the_conflict() {
    if !require_docker() {
        return;
    }
    let w = workspace();
    let mut cleanup = Cleanup::default();
    let name = unique("conflict");
    cleanup.containers.push(name.clone());
    let manual = json!({"sync": {"fromContainer": "manual", "toContainer": "manual"}});
    let mut running = launch(&w.ws, &name, manual, &[]).await;
    let score = w.ws.join("score.py");
    let original = std::fs::read_to_string(&score).unwrap();
    exec(&name, "echo '# the container fix' >> /var/azureml-app/score.py");
    std::fs::write(&score, format!("{original}# the workspace fix\n")).unwrap();
    let reply = running.client.request("dockdap/sync", json!({})).await.unwrap();
    let reply = body(&reply);
    assert_eq!(reply["conflicts"], json!([score.to_str().unwrap()]), "{reply}");
    assert_eq!(reply["pulled"], json!([]));
    assert_eq!(reply["pushed"], json!([]));
    // Both versions exist: the workspace's in place, the container's beside it and in the container.
    assert_eq!(std::fs::read_to_string(&score).unwrap(), format!("{original}# the workspace fix\n"));
    let beside = std::fs::read_to_string(w.ws.join("score.py.container")).unwrap();
    assert_eq!(beside, format!("{original}# the container fix\n"));
    assert_eq!(exec(&name, "cat /var/azureml-app/score.py"), beside);
    // The debug console says so.
    running
        .client
        .wait_for("the conflict in the console", |m| {
            m.is_event("output") && body(m)["output"].as_str().is_some_and(|o| o.contains("conflict: score.py"))
        })
        .await
        .unwrap();
    // Resolving for the workspace puts its version into the container.
    let reply = running.client.request("dockdap/sync", json!({"resolve": "workspace"})).await.unwrap();
    assert_eq!(body(&reply)["conflicts"], json!([]), "{:?}", body(&reply));
    assert_eq!(exec(&name, "cat /var/azureml-app/score.py"), format!("{original}# the workspace fix\n"));
    disconnect(running).await;
}

#[tokio::test]
async fn hostile_container_gets_nothing_written_outside_the_workspace() {
    if !require_docker() {
        return;
    }
    let w = workspace();
    let mut cleanup = Cleanup::default();
    let name = unique("hostile");
    cleanup.containers.push(name.clone());
    let probe = std::env::temp_dir().join(format!("dockdap-hostile-probe-{}", std::process::id()));
    let manual = json!({"sync": {"fromContainer": "manual", "toContainer": "manual"}});
    let mut running = launch(&w.ws, &name, manual, &[]).await;
    let before = tree(&w.top, &w.ws);
    exec(
        &name,
        &format!(
            "cd /var/azureml-app && ln -s /etc etc && ln -s ../../.. up && ln -s {probe} probe.py \
             && ln -s /etc/passwd passwd.py && mkdir -p sub && ln -s ../../../../tmp sub/tmp \
             && touch 'back\\slash.py' \"$(printf 'new\\nline.py')\" && mkfifo fifo.py \
             && mknod device.py c 1 3 && head -c 34000000 /dev/zero > big.py \
             && echo '# fine' > fine.py",
            probe = probe.display()
        ),
    );
    let reply = running.client.request("dockdap/sync", json!({})).await.unwrap();
    let reply = body(&reply);
    let notes: Vec<String> =
        reply["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_owned()).collect();
    assert_eq!(reply["pulled"], json!([w.ws.join("fine.py").to_str().unwrap()]), "{reply}");
    for refused in ["etc", "up", "probe.py", "passwd.py", "sub/tmp", "fifo.py", "device.py"] {
        assert!(
            notes.iter().any(|n| n.contains(&format!("/var/azureml-app/{refused} from the container"))),
            "{refused} not refused: {notes:#?}"
        );
    }
    assert!(
        notes.iter().any(|n| n.contains("/var/azureml-app/big.py") && n.contains("larger than 33619968 bytes")),
        "files over 32 MiB: {notes:#?}"
    );
    assert!(notes.iter().any(|n| n.contains("backslash")), "{notes:#?}");
    assert!(notes.iter().any(|n| n.contains("control character")), "{notes:#?}");
    // Nothing outside the workspace changed; inside, only fine.py (and the empty folder) appeared.
    assert_eq!(tree(&w.top, &w.ws), before);
    assert!(!probe.exists());
    let mut names: Vec<String> =
        std::fs::read_dir(&w.ws).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    let mut expected: Vec<String> = std::fs::read_dir(example_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .chain(["fine.py".to_owned()])
        .collect();
    expected.sort();
    assert_eq!(names, expected);
    for entry in walk(&w.ws) {
        assert!(!std::fs::symlink_metadata(&entry).unwrap().file_type().is_symlink(), "{entry:?} is a symlink");
    }
    disconnect(running).await;
}

/// README: with `manual` sync, the container's edits come in when the
/// debuggee stops (here at a breakpoint in `run()`), not before.
#[tokio::test]
async fn manual_sync_brings_container_edits_in_when_the_debuggee_stops() {
    if !require_docker() {
        return;
    }
    let w = workspace();
    let mut cleanup = Cleanup::default();
    let name = unique("onstop");
    cleanup.containers.push(name.clone());
    let line = line_of(&w.ws.join("score.py"), "dockdap-demo: breakpoint");
    let manual = json!({"sync": {"fromContainer": "manual", "toContainer": "manual"}});
    let mut running = launch(&w.ws, &name, manual, &[line]).await;
    exec(&name, "echo 'made while running' > /var/azureml-app/notes.txt");
    let notes = w.ws.join("notes.txt");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!notes.exists(), "manual sync does not copy while the program runs");
    let score = running.client.send_request("dockdap/score", json!({})).await.unwrap();
    let stopped = running.client.wait_event("stopped").await.unwrap();
    let arrived = wait_until(Duration::from_secs(30), || notes.exists()).await;
    eprintln!("the container's new file arrived {arrived:?} after the stop");
    assert!(arrived.is_some(), "the stop brings the container's edits in");
    let thread = body(&stopped)["threadId"].as_i64().unwrap();
    running.client.request("continue", json!({"threadId": thread})).await.unwrap();
    running.client.wait_response(score).await.unwrap();
    disconnect(running).await;
}

/// Issue 21: a hard link in the app folder to the container's `/etc/shadow`
/// (or any file with more than one name) never comes into the workspace:
/// not by continuous sync, `dockdap/sync`, a conflict copy, the snapshot's
/// copy or the last sync. A plain file keeps its mode no more open than in
/// the container (0640 stays 0640).
#[tokio::test]
async fn hard_links_never_come_out_of_the_container() {
    if !require_docker() {
        return;
    }
    let w = workspace();
    let mut cleanup = Cleanup::default();
    let name = unique("hardlink");
    cleanup.containers.push(name.clone());
    let tag = format!("{name}:1");
    cleanup.images.push(tag.clone());
    let mut running = launch(&w.ws, &name, json!({}), &[]).await;
    running.client.set_timeout(Duration::from_secs(120));
    let shadow = exec(&name, "cat /etc/shadow");
    let app = "/var/azureml-app";
    // A new hard link, a hard link over a file both sides then edit (the
    // workspace's edit comes second: a push racing `ln -f` would replace
    // the link), and a plain private file as the witness that sync ran.
    exec(
        &name,
        &format!(
            "ln /etc/shadow {app}/shadow.py && mkdir -p {app}/sub && ln /etc/passwd {app}/sub/passwd.py \
             && ln -f /etc/shadow {app}/score.py && echo private > {app}/private.py && chmod 640 {app}/private.py"
        ),
    );
    std::fs::write(w.ws.join("score.py"), "# edited in the workspace\n").unwrap();
    let private = w.ws.join("private.py");
    let arrived = wait_until(Duration::from_secs(40), || private.exists()).await;
    assert!(arrived.is_some(), "the plain file arrives by continuous sync");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "group and others get no more than in the container");
    }
    let reply = running.client.request("dockdap/sync", json!({})).await.unwrap();
    let notes = body(&reply)["notes"].to_string();
    let commit = running.client.request("dockdap/commit", json!({"tag": tag})).await.unwrap();
    assert!(body(&commit)["changed"].to_string().contains("shadow.py"), "{commit:?}");
    running.client.request("disconnect", json!({"terminateDebuggee": true})).await.unwrap();
    let rest = running.client.read_to_end().await.unwrap();
    let console: String = rest
        .iter()
        .chain(running.client.drain_backlog().iter())
        .filter(|m| m.is_event("output"))
        .filter_map(|m| body(m)["output"].as_str().map(str::to_owned))
        .collect();
    assert!(wait_gone(&name, Duration::from_secs(20)).await, "the container is removed");
    let secrets = [shadow.lines().next().unwrap_or("root:").to_owned(), "root:x:0:0:".to_owned()];
    for file in walk(&w.ws) {
        let content = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(!secrets.iter().any(|s| content.contains(s)), "{file:?} holds the container's shadow or passwd");
    }
    assert!(!w.ws.join("shadow.py").exists() && !w.ws.join("sub/passwd.py").exists());
    assert!(!w.ws.join("score.py.container").exists(), "no conflict copy of a hard link");
    assert_eq!(std::fs::read_to_string(w.ws.join("score.py")).unwrap(), "# edited in the workspace\n");
    assert!(!shadow.is_empty());
    let said = format!("{notes}\n{console}");
    for refused in ["shadow.py", "sub/passwd.py", "score.py"] {
        let refusal = format!("refused {app}/{refused} from the container: it has ");
        assert!(said.lines().any(|l| l.contains(&refusal) && l.contains(" hard links")), "{refused}: {said}");
    }
}

/// Every path under `top` but outside `ws`, with its kind and content.
fn tree(top: &Path, ws: &Path) -> Vec<(PathBuf, String)> {
    let mut out: Vec<(PathBuf, String)> = walk(top)
        .into_iter()
        .filter(|p| !p.starts_with(ws))
        .map(|p| {
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let content = if meta.is_file() { std::fs::read_to_string(&p).unwrap_or_default() } else { String::new() };
            (p, format!("{:?} {content}", meta.file_type()))
        })
        .collect();
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        out.push(path.clone());
        if std::fs::symlink_metadata(&path).unwrap().is_dir() {
            out.extend(walk(&path));
        }
    }
    out
}

#[tokio::test]
async fn dap_requests_during_a_commit_are_answered() {
    if !require_docker() {
        return;
    }
    let w = workspace();
    let mut cleanup = Cleanup::default();
    let name = unique("commit-pause");
    cleanup.containers.push(name.clone());
    let init_line = line_of(&w.ws.join("score.py"), "dockdap-demo: init-breakpoint");
    let mut running = launch(&w.ws, &name, json!({}), &[init_line]).await;
    let stopped = running.client.wait_event("stopped").await.unwrap();
    let thread = body(&stopped)["threadId"].as_i64().unwrap();
    for pause in [false, true] {
        let commit = running.client.send_request("dockdap/commit", json!({"pause": pause})).await.unwrap();
        // Ask once the commit itself is under way (after the sync that precedes it).
        running
            .client
            .wait_for("the snapshot starting", |m| {
                m.is_event("output") && body(m)["output"].as_str().is_some_and(|o| o.contains("[dockdap] snapshotting"))
            })
            .await
            .unwrap();
        // Keep asking while the commit runs (3 s, or until it is done):
        // every request is answered, frozen or not.
        let asked = Instant::now();
        let mut slowest = Duration::ZERO;
        let mut answered = 0;
        while asked.elapsed() < Duration::from_secs(3) {
            let one = Instant::now();
            let trace = running.client.request("stackTrace", json!({"threadId": thread, "levels": 1})).await.unwrap();
            slowest = slowest.max(one.elapsed());
            answered += 1;
            assert_eq!(body(&trace)["stackFrames"][0]["line"], init_line);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let committed = running.client.wait_response(commit).await.unwrap();
        let committed_after = asked.elapsed();
        assert!(matches!(committed.kind(), dockdap::dap::Kind::Response { success: true, .. }), "{committed:?}");
        let image = body(&committed)["image"].as_str().unwrap().to_owned();
        cleanup.images.push(image.clone());
        eprintln!(
            "pause={pause}: {answered} stackTrace requests answered during the commit, the slowest after {slowest:?}; the commit after {committed_after:?}"
        );
        if !pause {
            assert!(slowest < Duration::from_secs(1), "without a pause nothing waits for the commit: {slowest:?}");
        }
    }
    // The session still works afterwards.
    running.client.request("continue", json!({"threadId": thread})).await.unwrap();
    disconnect(running).await;
}

#[tokio::test]
async fn commit_makes_the_next_version_with_the_edit() {
    if !require_docker() {
        return;
    }
    let w = workspace();
    let mut cleanup = Cleanup::default();
    let name = unique("commit");
    cleanup.containers.push(name.clone());
    let running_env = json!({"env": {"STORAGE_ACCOUNT_KEY": "not-really"}});
    let mut running = launch(&w.ws, &name, running_env, &[]).await;
    let score = w.ws.join("score.py");
    let original = std::fs::read_to_string(&score).unwrap();
    let edited = original.replace("predictions.append(round(score, 6))", "predictions.append(round(score, 6) + 1000)");
    assert_ne!(edited, original);
    std::fs::write(&score, &edited).unwrap();
    // A file the program wrote just now: the snapshot names it and the
    // workspace has it when the reply comes, not at the next poll.
    let made = Command::new("docker")
        .args(["exec", &name, "sh", "-c", "echo written-in-the-container > /var/azureml-app/notes.txt"])
        .status()
        .unwrap();
    assert!(made.success());
    let reply = running.client.request("dockdap/commit", json!({})).await.unwrap();
    let reply = body(&reply);
    let image = reply["image"].as_str().unwrap().to_owned();
    cleanup.images.push(image.clone());
    let (repo, tag) = image.rsplit_once(':').unwrap();
    assert_eq!(repo, "dockdap/azureml-score");
    assert!(tag.parse::<u32>().is_ok_and(|n| n >= 2), "{image}");
    assert_eq!(reply["changed"], json!(["notes.txt", "score.py"]), "{reply}");
    assert_eq!(
        std::fs::read_to_string(w.ws.join("notes.txt")).unwrap_or_default(),
        "written-in-the-container\n",
        "the container's new file is in the workspace when the snapshot is done"
    );
    assert!(reply["warnings"][0].as_str().unwrap().contains("STORAGE_ACCOUNT_KEY"), "{reply}");
    assert!(!reply["warnings"][0].as_str().unwrap().contains("not-really"), "values are never shown");
    let out = Command::new("docker")
        .args(["run", "--rm", "--entrypoint", "cat", &image, "/var/azureml-app/score.py"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), edited, "the snapshot holds the edit");
    let inspect = Command::new("docker")
        .args(["image", "inspect", &image, "--format", "{{json .Config.Labels}}|{{.Comment}}"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&inspect.stdout);
    let (labels, comment) = text.trim().split_once('|').unwrap();
    let labels: Value = serde_json::from_str(labels).unwrap();
    assert_eq!(labels["dockdap.snapshot-of"], DEBUG_IMAGE);
    assert_eq!(labels["dockdap.image"], DEBUG_IMAGE);
    assert_eq!(labels["dockdap.snapshot"], "true");
    assert_eq!(labels["dockdap.pid"], "", "a container run from the snapshot must not look like a leftover");
    assert!(comment.contains("score.py") && comment.contains("notes.txt"), "{comment}");
    disconnect(running).await;
}

#[tokio::test]
async fn restart_from_the_snapshot_hits_a_breakpoint_in_the_edited_code() {
    if !require_docker() {
        return;
    }
    let w = workspace();
    let mut cleanup = Cleanup::default();
    let name = unique("restart");
    cleanup.containers.push(name.clone());
    let mut running = launch(&w.ws, &name, json!({"commitOnRestart": true}), &[]).await;
    running.client.set_timeout(Duration::from_secs(120));
    let score = w.ws.join("score.py");
    let original = std::fs::read_to_string(&score).unwrap();
    let edited = original.replace(
        "    return predictions\n",
        "    bonus = 1000  # dockdap-test: edited\n    predictions = [p + bonus for p in predictions]\n    return predictions\n",
    );
    assert_ne!(edited, original);
    std::fs::write(&score, &edited).unwrap();
    running
        .client
        .wait_for("the edit in the container", |m| {
            m.is_event("output")
                && body(m)["output"].as_str().is_some_and(|o| o.contains("score.py copied from the workspace"))
        })
        .await
        .unwrap();
    let edited_line = line_of(&score, "dockdap-test: edited");
    let bps = running
        .client
        .request("setBreakpoints", json!({"source": {"path": score}, "breakpoints": [{"line": edited_line}]}))
        .await
        .unwrap();
    assert_eq!(body(&bps)["breakpoints"][0]["verified"], true, "{:?}", body(&bps));

    // The editor keeps its session: one `restart` request.
    let restarted = running.client.request("restart", json!({})).await.unwrap();
    let info = body(&restarted)["dockdap"].clone();
    let new_name = info["container"].as_str().unwrap().to_owned();
    cleanup.containers.push(new_name.clone());
    let inspect = inspect_container(&new_name).unwrap();
    let image = inspect["Config"]["Image"].as_str().unwrap().to_owned();
    cleanup.images.push(image.clone());
    let (repo, tag) = image.rsplit_once(':').unwrap();
    assert_eq!(repo, "dockdap/azureml-score", "{image}");
    assert!(tag.parse::<u32>().is_ok_and(|n| n >= 2), "restarted from the snapshot, not {image}");
    assert!(inspect_container(&name).is_none() || new_name == name, "the old container is gone");

    // A real request reaches the edited code, and the replayed breakpoint stops it there.
    let addr = format!("127.0.0.1:{}", info["ports"][0]["host"].as_u64().unwrap());
    let post = tokio::spawn(async move {
        dockdap::http::post_json(
            &addr,
            "/score",
            dockdap::http::SAMPLE,
            tokio::time::Instant::now() + Duration::from_secs(60),
        )
        .await
    });
    let stopped = running.client.wait_event("stopped").await.unwrap();
    let thread = body(&stopped)["threadId"].as_i64().unwrap();
    let trace = running.client.request("stackTrace", json!({"threadId": thread, "levels": 1})).await.unwrap();
    let top = body(&trace)["stackFrames"][0].clone();
    assert_eq!(top["source"]["path"], score.to_str().unwrap(), "{top}");
    assert_eq!(top["line"], edited_line, "{top}");
    running.client.request("continue", json!({"threadId": thread})).await.unwrap();
    let reply = post.await.unwrap().unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(serde_json::from_str::<Value>(&reply.body).unwrap(), json!([1039.0, 1022.5]));
    running.name = new_name;
    disconnect(running).await;
}

#[tokio::test]
async fn the_end_of_the_session_brings_the_last_edits_in_and_commits() {
    if !require_docker() {
        return;
    }
    let w = workspace();
    let mut cleanup = Cleanup::default();
    let name = unique("exit");
    cleanup.containers.push(name.clone());
    // No continuous sync: only the end of the session can bring the edit in.
    let extra = json!({"sync": {"fromContainer": "manual", "toContainer": "manual"}, "commitOnExit": true});
    let mut running = launch(&w.ws, &name, extra, &[]).await;
    running.client.set_timeout(Duration::from_secs(120));
    exec(&name, "echo '# last edit' >> /var/azureml-app/score.py");
    running.client.request("disconnect", json!({"terminateDebuggee": true})).await.unwrap();
    let rest = running.client.read_to_end().await.unwrap();
    let outputs: Vec<String> = rest
        .iter()
        .filter(|m| m.is_event("output"))
        .filter_map(|m| body(m)["output"].as_str().map(str::to_owned))
        .collect();
    let snapshot = outputs
        .iter()
        .find_map(|o| o.strip_prefix("[dockdap] snapshot ").and_then(|r| r.split_whitespace().next()))
        .map(str::to_owned);
    if let Some(image) = &snapshot {
        cleanup.images.push(image.clone());
    }
    assert!(std::fs::read_to_string(w.ws.join("score.py")).unwrap().ends_with("# last edit\n"), "{outputs:#?}");
    let image = snapshot.unwrap_or_else(|| panic!("no snapshot reported: {outputs:#?}"));
    let out = Command::new("docker")
        .args(["run", "--rm", "--entrypoint", "tail", &image, "-n", "1", "/var/azureml-app/score.py"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "# last edit\n");
    assert!(wait_gone(&name, Duration::from_secs(20)).await, "the container is removed after the snapshot");
}

/// The debug console's text so far (what the client has read).
fn console(running: &mut Running) -> String {
    running
        .client
        .drain_backlog()
        .iter()
        .filter(|m| m.is_event("output"))
        .filter_map(|m| body(m)["output"].as_str().map(str::to_owned))
        .collect()
}

/// The pid of dockdap's watcher in the container (`runtime/python/watcher.py`),
/// found by its program text on its command line.
fn watcher_pids(name: &str) -> Vec<String> {
    // The bracket keeps the pattern from matching grep's own command line.
    let out = exec(name, "grep -l '[d]ockdap.s watcher' /proc/[0-9]*/cmdline 2>/dev/null || true");
    out.lines().filter_map(|l| l.strip_prefix("/proc/")?.strip_suffix("/cmdline")).map(str::to_owned).collect()
}

/// Issue 20: every kind of change made inside the container reaches the
/// workspace by itself (no `dockdap/sync`), through the one watcher the
/// session starts in the container; a pause and an unpause keep the
/// session and the same watcher.
#[tokio::test]
async fn container_changes_arrive_through_the_watcher() {
    if !require_docker() {
        return;
    }
    let w = workspace();
    let mut cleanup = Cleanup::default();
    let name = unique("watch");
    cleanup.containers.push(name.clone());
    let mut running = launch(&w.ws, &name, json!({}), &[]).await;
    let app = "/var/azureml-app";
    let watchers = watcher_pids(&name);
    assert_eq!(watchers.len(), 1, "one watcher in the container: {watchers:?}");
    let arrives = |what: &str, path: &Path, want: Option<&str>| {
        let (what, path, want) = (what.to_owned(), path.to_path_buf(), want.map(str::to_owned));
        async move {
            let seen = wait_until(Duration::from_secs(10), || match &want {
                Some(want) => std::fs::read_to_string(&path).is_ok_and(|t| t == *want),
                None => !path.exists(),
            })
            .await;
            let seen = seen.unwrap_or_else(|| panic!("{what} did not reach the workspace within 10 s"));
            eprintln!("{what}: {seen:?}");
            seen
        }
    };
    exec(&name, &format!("echo 'X = 1' > {app}/new.py"));
    arrives("a new file", &w.ws.join("new.py"), Some("X = 1\n")).await;
    let score = w.ws.join("score.py");
    let edited = format!("{}# edited in the container\n", std::fs::read_to_string(&score).unwrap());
    exec(&name, &format!("echo '# edited in the container' >> {app}/score.py"));
    arrives("an edit", &score, Some(&edited)).await;
    exec(&name, &format!("mv {app}/new.py {app}/renamed.py"));
    arrives("a rename (new name)", &w.ws.join("renamed.py"), Some("X = 1\n")).await;
    arrives("a rename (old name)", &w.ws.join("new.py"), None).await;
    exec(&name, &format!("rm {app}/renamed.py"));
    arrives("a deletion", &w.ws.join("renamed.py"), None).await;
    exec(&name, &format!("for i in $(seq 1 300); do echo \"line $i\" >> {app}/log.txt; done"));
    let log: String = (1..=300).map(|i| format!("line {i}\n")).collect();
    arrives("300 small appends", &w.ws.join("log.txt"), Some(&log)).await;
    exec(&name, &format!("mkdir -p {app}/lib/deep && echo 'Y = 2' > {app}/lib/deep/helper.py"));
    arrives("a file in new folders", &w.ws.join("lib/deep/helper.py"), Some("Y = 2\n")).await;
    // Paused and resumed: the session answers, the same watcher goes on.
    let paused = Command::new("docker").args(["pause", &name]).status().unwrap();
    assert!(paused.success());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(Command::new("docker").args(["unpause", &name]).status().unwrap().success());
    running.client.request("threads", json!({})).await.unwrap();
    exec(&name, &format!("echo 'after the pause' > {app}/after.txt"));
    arrives("a new file after a pause", &w.ws.join("after.txt"), Some("after the pause\n")).await;
    assert_eq!(watcher_pids(&name), watchers, "the same watcher runs after the pause");
    let console = console(&mut running);
    assert!(console.contains("renamed.py was deleted in the container, so it was removed"), "{console}");
    assert!(!console.contains("cannot watch") && !console.contains("watcher in the container ended"), "{console}");
    disconnect(running).await;
}

/// Whether `path` exists in the container.
fn exists_in(name: &str, path: &str) -> bool {
    exec(name, &format!("test -e {path} && echo yes || echo no")).trim() == "yes"
}

/// Issue 20: a deletion made on either side reaches the other by itself
/// (no `dockdap/sync`): in the workspace through the container's watcher,
/// which removes the container's file only while it holds the agreed
/// content.
#[tokio::test]
async fn deletions_reach_the_other_side_by_themselves() {
    if !require_docker() {
        return;
    }
    let w = workspace();
    let mut cleanup = Cleanup::default();
    let name = unique("deletions");
    cleanup.containers.push(name.clone());
    let mut running = launch(&w.ws, &name, json!({}), &[]).await;
    let app = "/var/azureml-app";
    // Made in the workspace, deleted there: gone from the container too.
    std::fs::write(w.ws.join("from_ws.py"), "A = 1\n").unwrap();
    let pushed = wait_until(Duration::from_secs(10), || exists_in(&name, &format!("{app}/from_ws.py"))).await;
    assert!(pushed.is_some(), "the new workspace file reached the container");
    std::fs::remove_file(w.ws.join("from_ws.py")).unwrap();
    let removed = wait_until(Duration::from_secs(10), || !exists_in(&name, &format!("{app}/from_ws.py"))).await;
    let removed = removed.expect("a deletion in the workspace reaches the container within 10 s");
    eprintln!("a deletion in the workspace reached the container: {removed:?}");
    // Made in the container, deleted there: gone from the workspace too.
    exec(&name, &format!("echo 'B = 2' > {app}/from_container.py"));
    let local = w.ws.join("from_container.py");
    assert!(wait_until(Duration::from_secs(10), || local.exists()).await.is_some(), "the new file arrived");
    exec(&name, &format!("rm {app}/from_container.py"));
    let removed = wait_until(Duration::from_secs(10), || !local.exists()).await;
    let removed = removed.expect("a deletion in the container reaches the workspace within 10 s");
    eprintln!("a deletion in the container reached the workspace: {removed:?}");
    // Nothing came back, nothing was left aside on either side.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!w.ws.join("from_ws.py").exists() && !local.exists());
    let left = exec(&name, &format!("ls -a {app}"));
    assert!(!left.contains("dockdap") && !left.contains("from_"), "{left}");
    // A request, so the console lines sent so far have been read.
    running.client.request("threads", json!({})).await.unwrap();
    let console = console(&mut running);
    assert!(
        console.contains("from_ws.py was deleted in the workspace, so it was removed from the container"),
        "{console}"
    );
    assert!(console.contains("from_container.py was deleted in the container, so it was removed"), "{console}");
    assert!(!console.contains("conflict"), "{console}");
    disconnect(running).await;
}

/// Issue 20: deletions under the rule of edits, where no watcher runs
/// (`manual` sync: one process per removal, on `dockdap/sync`): a file
/// deleted on one side goes from the other only while that side holds the
/// agreed content; else it is a conflict that keeps both, both ways.
/// `sync.deletions: "report"` keeps the report-only behaviour.
#[tokio::test]
async fn deletions_follow_the_agreed_content_rule_and_conflicts_keep_both() {
    if !require_docker() {
        return;
    }
    let w = workspace();
    let mut cleanup = Cleanup::default();
    let name = unique("delete-rule");
    cleanup.containers.push(name.clone());
    let manual = json!({"sync": {"fromContainer": "manual", "toContainer": "manual"}});
    let mut running = launch(&w.ws, &name, manual, &[]).await;
    let app = "/var/azureml-app";
    for file in ["plain.py", "edited_there.py", "edited_here.py"] {
        std::fs::write(w.ws.join(file), format!("# {file}\n")).unwrap();
    }
    let reply = body(&running.client.request("dockdap/sync", json!({})).await.unwrap());
    assert_eq!(reply["pushed"].as_array().map(Vec::len), Some(3), "{reply}");
    // Deleted in the workspace, unchanged in the container: removed there.
    std::fs::remove_file(w.ws.join("plain.py")).unwrap();
    // Deleted in the workspace, edited in the container: a conflict.
    std::fs::remove_file(w.ws.join("edited_there.py")).unwrap();
    exec(&name, &format!("echo '# the container fix' >> {app}/edited_there.py"));
    // Edited in the workspace, deleted in the container: a conflict.
    std::fs::write(w.ws.join("edited_here.py"), "# the workspace fix\n").unwrap();
    exec(&name, &format!("rm {app}/edited_here.py"));
    let reply = body(&running.client.request("dockdap/sync", json!({})).await.unwrap());
    let host = |f: &str| w.ws.join(f).to_str().unwrap().to_owned();
    assert_eq!(reply["removedInContainer"], json!([host("plain.py")]), "{reply}");
    assert_eq!(reply["conflicts"], json!([host("edited_here.py"), host("edited_there.py")]), "{reply}");
    assert!(!exists_in(&name, &format!("{app}/plain.py")));
    // Both kept: the container's edit in the container and beside the
    // workspace's (absent) file; the workspace's edit in the workspace.
    let fixed = "# edited_there.py\n# the container fix\n";
    assert_eq!(exec(&name, &format!("cat {app}/edited_there.py")), fixed);
    assert_eq!(std::fs::read_to_string(w.ws.join("edited_there.py.container")).unwrap(), fixed);
    assert!(!w.ws.join("edited_there.py").exists());
    assert_eq!(std::fs::read_to_string(w.ws.join("edited_here.py")).unwrap(), "# the workspace fix\n");
    assert!(!exists_in(&name, &format!("{app}/edited_here.py")));
    disconnect(running).await;

    // `sync.deletions: "report"`: a deletion in the workspace is only reported.
    let name = unique("delete-report");
    cleanup.containers.push(name.clone());
    let report = json!({"sync": {"fromContainer": "manual", "toContainer": "manual", "deletions": "report"}});
    let mut running = launch(&w.ws, &name, report, &[]).await;
    std::fs::write(w.ws.join("kept.py"), "# kept\n").unwrap();
    running.client.request("dockdap/sync", json!({})).await.unwrap();
    std::fs::remove_file(w.ws.join("kept.py")).unwrap();
    let reply = body(&running.client.request("dockdap/sync", json!({})).await.unwrap());
    assert_eq!(reply["removedInContainer"], json!([]), "{reply}");
    let notes = reply["notes"].to_string();
    assert!(notes.contains("kept.py was deleted in the workspace; the container keeps its copy"), "{reply}");
    assert_eq!(exec(&name, &format!("cat {app}/kept.py")), "# kept\n");
    disconnect(running).await;
}
