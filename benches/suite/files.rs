//! Parts 4 and 5, files in step and snapshots, on one session that dockdap
//! launched from a temporary copy of `examples/azureml-score` (never the
//! repository's own files), sync `auto` both ways.
//!
//! `sync`: (a) an edit inside the container (a line appended to `score.py`
//! through a `docker exec -i sh` kept open, so no exec is started per edit)
//! until the workspace file holds it, polled every 2 ms; (b) a workspace save
//! until the container's file holds it, polled inside the container by that
//! shell (`grep` every 5 ms; its own cost is printed as
//! `sync.container_poll.cost`). Each sample is paired with the manual
//! routine for the same file, `docker cp` out of or into the container
//! (into `/tmp`, so dockdap does not see it), alternating A B B A; gaps
//! between edits vary so edits fall at every phase of dockdap's poll.
//!
//! `commit`: `dockdap/commit` (`pause: false`) against `docker commit`
//! through the Engine API (`pause=false`) of the same container,
//! alternating A B B A. Every image made is removed again.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use bollard::models::ContainerConfig;
use bollard::query_parameters::CommitContainerOptions;
use dockdap::client::DapClient;
use dockdap::dap::Kind;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::dap::{self, body, connect, initialize_arguments};
use super::docker::Containers;
use super::procs::Listener;
use super::report::{Goal, progress};
use super::stats::Samples;
use super::{IMAGE, Options, Prerequisites, Reporter};

const APP: &str = "/var/azureml-app/score.py";
/// How long one edit may take to arrive before the part fails.
const ARRIVE: Duration = Duration::from_secs(30);

pub async fn run(
    options: &Options,
    prereq: &Prerequisites,
    listener: &Listener,
    report: &mut Reporter<'_>,
) -> anyhow::Result<()> {
    let (sync, commit) = (options.wants("sync"), options.wants("commit"));
    let watcher = sync || options.wants("watcher");
    if let Some(why) = &prereq.no_docker {
        for part in ["sync", "watcher", "commit"].into_iter().filter(|p| options.wants(p)) {
            report.skip(part, why)?;
        }
        return Ok(());
    }
    let workspace = Workspace::new(&options.source_root.join("examples/azureml-score"))?;
    let mut containers = Containers::default();
    let name = containers.name("files");
    progress("sync/commit: launching the example through dockdap (sync auto both ways)");
    let mut client = launch(listener, &workspace.ws, &name).await?;
    let mut shell = Shell::open(&name).await?;
    let result = async {
        if sync {
            run_sync(options, report, &workspace, &name, &mut shell).await?;
        }
        if watcher {
            super::watcher::run(options.quick, report, &workspace.ws, &mut shell, listener).await?;
        }
        if commit {
            run_commit(options, report, &mut client, &name).await?;
        }
        anyhow::Ok(())
    }
    .await;
    shell.close().await;
    dap::disconnect(&mut client).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while super::docker::exists(&name).await && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    result
}

/// A temporary copy of the example deployment; `ws` is the workspace,
/// `scratch` a folder beside it for `docker cp`.
struct Workspace {
    _dir: tempfile::TempDir,
    ws: PathBuf,
    scratch: PathBuf,
}

impl Workspace {
    fn new(example: &Path) -> anyhow::Result<Workspace> {
        let dir = tempfile::tempdir()?;
        let ws = dir.path().join("project");
        let scratch = dir.path().join("scratch");
        copy_dir(example, &ws)?;
        std::fs::create_dir_all(&scratch)?;
        Ok(Workspace { _dir: dir, ws, scratch })
    }
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// `launch` without breakpoints, as an editor does it; returns once the
/// launch is answered.
async fn launch(listener: &Listener, ws: &Path, name: &str) -> anyhow::Result<DapClient> {
    let mut client = connect(&listener.addr).await?;
    client.request("initialize", initialize_arguments()).await?;
    let args = json!({"type": "dockdap", "request": "launch", "name": "bench", "image": IMAGE,
                      "containerName": name, "localRoot": ws, "ports": [], "timeout": 60,
                      "sync": {"fromContainer": "auto", "toContainer": "auto"}});
    let seq = client.send_request("launch", args).await?;
    client.wait_event("initialized").await?;
    client.request("configurationDone", json!({})).await?;
    let launched = client.wait_response(seq).await?;
    if let Kind::Response { success: false, .. } = launched.kind() {
        let message: String = launched.field("message").ok().flatten().unwrap_or_default();
        bail!("launch failed: {message}");
    }
    Ok(client)
}

/// `docker exec -i NAME sh`, kept open: a command costs a pipe write, not
/// an exec.
pub struct Shell {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Shell {
    async fn open(name: &str) -> anyhow::Result<Shell> {
        let mut child = tokio::process::Command::new("docker")
            .args(["exec", "-i", name, "sh"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("docker exec -i sh")?;
        let stdin = child.stdin.take().context("no stdin")?;
        let lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
        let mut shell = Shell { child, stdin, lines };
        shell.run("true").await?;
        Ok(shell)
    }

    /// Sends `script` (one line); its end is `wait`ed for separately.
    pub async fn send(&mut self, script: &str) -> anyhow::Result<()> {
        self.stdin.write_all(format!("{script}; echo __dockdap_done__\n").as_bytes()).await?;
        self.stdin.flush().await?;
        Ok(())
    }

    pub async fn wait(&mut self) -> anyhow::Result<()> {
        self.read_to_done(None).await
    }

    /// The lines `script` prints.
    pub async fn capture(&mut self, script: &str) -> anyhow::Result<Vec<String>> {
        self.send(script).await?;
        let mut out = Vec::new();
        self.read_to_done(Some(&mut out)).await?;
        Ok(out)
    }

    /// Reads to the end of the last script sent, keeping its lines in `out`.
    async fn read_to_done(&mut self, mut out: Option<&mut Vec<String>>) -> anyhow::Result<()> {
        let done = tokio::time::timeout(ARRIVE, async {
            while let Some(line) = self.lines.next_line().await? {
                if line == "__dockdap_done__" {
                    return Ok(());
                }
                if let Some(out) = out.as_deref_mut() {
                    out.push(line);
                }
            }
            bail!("the shell in the container ended")
        });
        done.await.map_err(|_| anyhow!("the shell in the container did not answer within {ARRIVE:?}"))?
    }

    async fn run(&mut self, script: &str) -> anyhow::Result<()> {
        self.send(script).await?;
        self.wait().await
    }

    async fn close(mut self) {
        let _ = self.stdin.write_all(b"exit\n").await;
        drop(self.stdin);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// A varying gap between edits (20..220 ms), so that edits land at every
/// phase of dockdap's container poll.
pub fn gap(i: usize) -> Duration {
    Duration::from_millis(20 + (i as u64 * 37) % 200)
}

async fn timed_cp(args: [&str; 2]) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    let out = tokio::process::Command::new("docker").arg("cp").args(args).output().await?;
    let elapsed = t0.elapsed();
    if !out.status.success() {
        bail!("docker cp {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(elapsed)
}

async fn run_sync(
    options: &Options,
    report: &mut Reporter<'_>,
    w: &Workspace,
    name: &str,
    shell: &mut Shell,
) -> anyhow::Result<()> {
    let n = if options.quick { 3 } else { 50 };
    let score = w.ws.join("score.py");
    let pid = std::process::id();

    // What the container-side poll costs by itself: one `grep` through the shell.
    let mut poll_cost = Samples::default();
    for _ in 0..5 {
        let t0 = Instant::now();
        shell.run(&format!("grep -qF dockdap-bench-nothing {APP}")).await?;
        poll_cost.push(t0.elapsed());
    }

    progress(&format!("sync: {n} edits in the container, {n} in the workspace, each with a docker cp"));
    let (mut pulled, mut cp_out) = (Samples::default(), Samples::default());
    let copy_out = format!("{name}:{APP}");
    let scratch = w.scratch.join("score.py");
    let scratch = scratch.to_string_lossy();
    for i in 0..n {
        let cp_first = i % 4 == 1 || i % 4 == 2;
        if cp_first {
            cp_out.push(timed_cp([&copy_out, &scratch]).await?);
        }
        let marker = format!("# dockdap-bench c2w {pid} {i}");
        let t0 = Instant::now();
        shell.send(&format!("echo '{marker}' >> {APP}")).await?;
        loop {
            if std::fs::read_to_string(&score).is_ok_and(|t| t.contains(&marker)) {
                pulled.push(t0.elapsed());
                break;
            }
            if t0.elapsed() > ARRIVE {
                bail!("the container edit {i} did not reach the workspace within {ARRIVE:?}");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        shell.wait().await?;
        if !cp_first {
            cp_out.push(timed_cp([&copy_out, &scratch]).await?);
        }
        tokio::time::sleep(gap(i)).await;
    }

    let (mut pushed, mut cp_in) = (Samples::default(), Samples::default());
    let ws_score = score.to_string_lossy();
    let copy_in = format!("{name}:/tmp/dockdap-bench-score.py");
    for i in 0..n {
        let cp_first = i % 4 == 1 || i % 4 == 2;
        if cp_first {
            cp_in.push(timed_cp([&ws_score, &copy_in]).await?);
        }
        let marker = format!("# dockdap-bench w2c {pid} {i}");
        let text = std::fs::read_to_string(&score)?;
        // The shell polls before the save, so its start is not in the time.
        shell.send(&format!("until grep -qF '{marker}' {APP}; do sleep 0.005; done")).await?;
        let t0 = Instant::now();
        std::fs::write(&score, format!("{text}{marker}\n"))?;
        shell.wait().await.with_context(|| format!("the workspace save {i} did not reach the container"))?;
        pushed.push(t0.elapsed());
        if !cp_first {
            cp_in.push(timed_cp([&ws_score, &copy_in]).await?);
        }
        tokio::time::sleep(gap(i)).await;
    }

    let secs = |ms: f64| ms / 1000.0;
    report.figure("sync.container_to_workspace.median", secs(pulled.median()), "s")?;
    report.figure("sync.container_to_workspace.p90", secs(pulled.percentile(90.0)), "s")?;
    report.figure("sync.docker_cp_out.median", secs(cp_out.median()), "s")?;
    report.figure("sync.container_to_workspace.cp_ratio", pulled.median() / cp_out.median(), "x")?;
    report.figure("sync.workspace_to_container.median", secs(pushed.median()), "s")?;
    report.figure("sync.workspace_to_container.p90", secs(pushed.percentile(90.0)), "s")?;
    report.figure("sync.docker_cp_in.median", secs(cp_in.median()), "s")?;
    report.figure("sync.workspace_to_container.cp_ratio", pushed.median() / cp_in.median(), "x")?;
    report.figure("sync.container_poll.cost", poll_cost.median(), "ms")?;
    report.goal(
        "sync, container edit -> workspace, median",
        "sync.container_to_workspace.median",
        Some(Goal::AtMost(0.3)),
    );
    report.goal("the same, p90", "sync.container_to_workspace.p90", Some(Goal::AtMost(0.5)));
    report.goal("the same, / `docker cp` out of the container", "sync.container_to_workspace.cp_ratio", None);
    report.goal(
        "sync, workspace save -> container, median",
        "sync.workspace_to_container.median",
        Some(Goal::AtMost(0.2)),
    );
    report.goal("the same, p90", "sync.workspace_to_container.p90", Some(Goal::AtMost(0.5)));
    report.goal("the same, / `docker cp` into the container", "sync.workspace_to_container.cp_ratio", None);
    report.note(
        "sync.workspace_to_container includes the container-side poll (every 5 ms plus sync.container_poll.cost)",
    );
    Ok(())
}

/// Images this part made; whatever is left when dropped is removed.
#[derive(Default)]
struct Images(Vec<String>);

impl Images {
    async fn remove(&mut self, image: &str) {
        let out = tokio::process::Command::new("docker").args(["rmi", image]).output().await;
        if out.is_ok_and(|o| o.status.success()) {
            self.0.retain(|i| i != image);
        }
    }
}

impl Drop for Images {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let mut cmd = std::process::Command::new("docker");
        cmd.arg("rmi").args(&self.0);
        let _ = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

async fn run_commit(
    options: &Options,
    report: &mut Reporter<'_>,
    client: &mut DapClient,
    name: &str,
) -> anyhow::Result<()> {
    let pairs = if options.quick { 1 } else { 5 };
    progress(&format!("commit: {pairs} pairs of dockdap/commit and docker commit, pause off"));
    let docker = super::docker::connect().await?;
    let mut images = Images::default();
    let (mut ours, mut theirs) = (Samples::default(), Samples::default());
    for round in 0..pairs * 2 {
        // A B B A A B: which goes first alternates from pair to pair.
        if matches!(round % 4, 0 | 3) {
            let t0 = Instant::now();
            let reply = client.request("dockdap/commit", json!({"pause": false})).await?;
            let elapsed = t0.elapsed();
            if let Kind::Response { success: false, .. } = reply.kind() {
                let message: String = reply.field("message").ok().flatten().unwrap_or_default();
                bail!("dockdap/commit failed: {message}");
            }
            let image =
                body(&reply)["image"].as_str().map(str::to_owned).ok_or_else(|| anyhow!("no image in {reply:?}"))?;
            images.0.push(image.clone());
            ours.push(elapsed);
            images.remove(&image).await;
        } else {
            let (repo, tag) = ("dockdap-bench-commit".to_owned(), format!("{}-{round}", std::process::id()));
            let image = format!("{repo}:{tag}");
            images.0.push(image.clone());
            let commit = CommitContainerOptions {
                container: Some(name.to_owned()),
                repo: Some(repo),
                tag: Some(tag),
                pause: false,
                ..Default::default()
            };
            let t0 = Instant::now();
            docker.commit_container(commit, ContainerConfig::default()).await.context("docker commit")?;
            theirs.push(t0.elapsed());
            images.remove(&image).await;
        }
    }
    report.figure("commit.dockdap.median", ours.median() / 1000.0, "s")?;
    report.figure("commit.docker.median", theirs.median() / 1000.0, "s")?;
    report.figure("commit.ratio", ours.median() / theirs.median(), "x")?;
    report.goal("commit, dockdap/commit / docker commit (pause off)", "commit.ratio", Some(Goal::AtMost(1.05)));
    Ok(())
}
