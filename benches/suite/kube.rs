//! Part 7, kube: the Kubernetes runtime against the Docker runtime, in the
//! same run, on this machine's Docker Engine. The cluster is the Kubernetes
//! API simulation (`examples/kube-sim`, started here; a pod is a container
//! of the same engine), so the difference is what the API server's path
//! costs: exec and port-forward streams over WebSocket through the API
//! server, the debug copy's hold init container, the copy-in by exec.
//!
//! - `kube.launch`: `launch` of a debug copy of a Deployment of the stock
//!   example image to the first `stopped` in `init()`, against `launch` of
//!   the same image on Docker with `transport: "exec"` (DAP over Docker's exec
//!   stream), both through the same dockdap, arms alternating A B B A.
//! - `kube.stack_trace`: at that stop, `stackTrace` round trips through
//!   the API server's exec stream against Docker's.
//!
//! Launches are timed from connecting to dockdap to `stopped`; the copy or
//! container is removed between launches, outside the timed span.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use super::dap::{self, Side, configure, connect, initialize_arguments, line_of};
use super::docker::{self, Containers};
use super::procs::Listener;
use super::report::progress;
use super::stats::Samples;
use super::{Options, Prerequisites, Reporter};

/// The image both arms run: the example deployment without debugpy, so both
/// take the same path (`debugger: "auto"` picks the Azure ML server's hook,
/// debugpy copied in, DAP over an exec stream). The debug image would not
/// compare like with like: on Docker `auto` reads its command and joins the
/// image's own debugpy, which a pod spec without a command does not show.
const IMAGE: &str = "dockdap/azureml-score:stock";

// Shared with tests/support (bench_quick.rs holds both).
#[allow(clippy::duplicate_mod)]
#[path = "../../tests/support/kube_sim_bin.rs"]
mod kube_sim_bin;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Arm {
    Kube,
    Docker,
}

/// The simulation, running until dropped (its stdin closes).
struct Sim {
    child: std::process::Child,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sim {
    fn start() -> anyhow::Result<Sim> {
        let binary = kube_sim_bin::kube_sim_binary(!cfg!(debug_assertions)).map_err(anyhow::Error::msg)?;
        let dir = tempfile::tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        let child = std::process::Command::new(&binary)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--exit-with-stdin")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("kube-sim.log"))?)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut sim = Sim { child, kubeconfig, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !sim.kubeconfig.exists() {
            if let Some(status) = sim.child.try_wait()? {
                bail!("kube-sim exited ({status}) before serving");
            }
            if Instant::now() > deadline {
                bail!("kube-sim did not write its kubeconfig within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(sim)
    }

    /// `kubectl --kubeconfig K ARGS` with `stdin`; its stdout.
    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
        let mut command = std::process::Command::new("kubectl");
        command.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().context("running kubectl")?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use std::io::Write as _;
            pipe.write_all(text.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!("kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        // Closing stdin ends it; it removes its containers on the way out.
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A Deployment of the example image with no replicas: only its pod template matters.
const DEPLOYMENT: &str = r#"{"apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {"name": "score", "labels": {"app": "score"}},
  "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "score"}},
    "template": {"metadata": {"labels": {"app": "score"}},
      "spec": {"containers": [{"name": "score", "image": "IMAGE", "ports": [{"containerPort": 5001}]}]}}}}"#;

pub async fn run(
    options: &Options,
    prereq: &Prerequisites,
    listener: &Listener,
    report: &mut Reporter<'_>,
) -> anyhow::Result<()> {
    if let Some(why) = &prereq.no_docker {
        return report.skip("kube", why);
    }
    if let Err(why) = docker::check(IMAGE).await {
        return report.skip("kube", &why);
    }
    let kubectl = std::process::Command::new("kubectl").args(["version", "--client"]).output();
    if !kubectl.is_ok_and(|o| o.status.success()) {
        return report.skip("kube", "kubectl is not on the PATH (it creates the Deployment in the simulation)");
    }
    progress("kube: building or finding the Kubernetes API simulation (examples/kube-sim)");
    let sim = Sim::start()?;
    let namespace = format!("dockdap-bench-{}", std::process::id());
    sim.kubectl(&["create", "namespace", &namespace], None)?;
    sim.kubectl(&["apply", "-n", &namespace, "-f", "-"], Some(&DEPLOYMENT.replace("IMAGE", IMAGE)))?;

    let (rounds, traces) = if options.quick { (1, 10) } else { (4, 200) };
    progress(&format!("kube: {rounds} rounds of kube / docker launches, {traces} stackTrace round trips at each stop"));
    let workspace = options.source_root.join("examples/azureml-score");
    let score = workspace.join("score.py");
    let line = line_of(&score, "dockdap-demo: init-breakpoint")?;
    let kubeconfig = sim.kubeconfig.to_string_lossy().into_owned();
    let mut containers = Containers::default();
    let mut launches = [Samples::default(), Samples::default()];
    let mut stack_traces = [Samples::default(), Samples::default()];
    for round in 0..rounds {
        let mut arms = [Arm::Kube, Arm::Docker];
        if round % 2 == 1 {
            arms.reverse();
        }
        for arm in arms {
            let name = containers.name("kube-bench");
            let target = match arm {
                Arm::Kube => {
                    json!({"kubernetes": {"deployment": "score", "namespace": namespace, "kubeconfig": kubeconfig}})
                }
                Arm::Docker => json!({"image": IMAGE, "containerName": name, "transport": "exec"}),
            };
            let mut args = json!({"type": "dockdap", "request": "launch", "name": "bench", "localRoot": workspace,
                                  "ports": [], "timeout": 120});
            extend(&mut args, target);
            let i = usize::from(arm == Arm::Docker);
            let (launch, traced) = launch_and_trace(listener, args, &score, line, traces).await?;
            launches[i].push(launch);
            for d in traced {
                stack_traces[i].push(d);
            }
            match arm {
                Arm::Kube => wait_no_copy(&sim, &namespace).await,
                Arm::Docker => wait_gone(&name).await,
            }
        }
    }
    let _ = sim.kubectl(&["delete", "namespace", &namespace, "--wait=false"], None);
    let [kube, docker] = &launches;
    report.figure("kube.launch.median", kube.median() / 1000.0, "s")?;
    report.figure("kube.docker_launch.median", docker.median() / 1000.0, "s")?;
    report.figure("kube.launch.ratio", kube.median() / docker.median(), "x")?;
    let [kube, docker] = &stack_traces;
    report.figure("kube.stack_trace.median", kube.median(), "ms")?;
    report.figure("kube.docker_stack_trace.median", docker.median(), "ms")?;
    report.figure("kube.stack_trace.ratio", kube.median() / docker.median(), "x")?;
    report.goal(
        "Kubernetes (simulated API server) launch to `stopped` in init(), / Docker's",
        "kube.launch.ratio",
        None,
    );
    report.goal("`stackTrace` through the API server's exec stream / Docker's", "kube.stack_trace.ratio", None);
    Ok(())
}

fn extend(args: &mut Value, more: Value) {
    if let (Some(args), Value::Object(more)) = (args.as_object_mut(), more) {
        args.extend(more);
    }
}

/// One launch through dockdap, timed from connecting to `stopped`, then
/// `traces` timed `stackTrace` round trips at that stop, then `disconnect`.
async fn launch_and_trace(
    listener: &Listener,
    args: Value,
    score: &Path,
    line: i64,
    traces: usize,
) -> anyhow::Result<(Duration, Vec<Duration>)> {
    let t0 = Instant::now();
    let mut client = connect(&listener.addr).await?;
    client.request("initialize", initialize_arguments()).await?;
    let thread = configure(&mut client, "launch", args, &score.to_string_lossy(), &[line]).await?;
    let launch = t0.elapsed();
    let mut side = Side::new(client, thread, line);
    side.one("stackTrace").await?; // the first answer fills debugpy's caches
    let mut traced = Vec::with_capacity(traces);
    for _ in 0..traces {
        traced.push(side.one("stackTrace").await?);
    }
    dap::disconnect(&mut side.client).await;
    Ok((launch, traced))
}

/// Until no debug copy is left in the namespace (at most 60 s).
async fn wait_no_copy(sim: &Sim, namespace: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let left = sim.kubectl(&["get", "pods", "-n", namespace, "-l", "dockdap.copy-of", "-o", "name"], None);
        if left.is_ok_and(|l| l.trim().is_empty()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Until the container is removed (at most 30 s).
async fn wait_gone(name: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while docker::exists(name).await && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
