//! Part `engines` (only when asked for: `--only engines`): the same
//! session on each engine of `scripts/engines.sh` (a second Docker Engine
//! in its own network namespace over TLS and over SSH, Podman's API
//! service) and on this machine's own engine, in the same run, engines
//! taking turns each round. Each round and engine: `launch` of the example
//! deployment (`ports: ["0:5001"]`) to the first `stopped` in `init()`;
//! `stackTrace` round trips at that stop; then, with the breakpoints
//! cleared and the app running, scoring requests to the service port on
//! this machine's 127.0.0.1 (forwarded through the Engine API on the
//! remote engines), first alone and then while `docker diff` of the same
//! container runs in a loop on that engine (dockerd holds the container's
//! lock during a diff: a forwarded connection must not wait for it). Every
//! figure of an engine is also given as a ratio to the local engine's.
//!
//! Needs root (the engines are started if they are not running, as the
//! tests do) and the example images in the local engine (copied into the
//! others by `scripts/engines.sh up`).

use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use serde_json::json;

use super::dap::{self, configure_answered, connect, initialize_arguments, line_of};
use super::procs::Listener;
use super::report::progress;
use super::stats::Samples;
use super::{IMAGE, Options, Reporter};

/// The engines, local first.
const ENGINES: &[&str] = &["local", "tls", "ssh", "podman"];

/// What `scripts/engines.sh env` prints.
struct EngineVars(Vec<(String, String)>);

impl EngineVars {
    fn get(&self, name: &str) -> anyhow::Result<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| anyhow!("scripts/engines.sh env has no {name}"))
    }

    /// The variables a dockdap process for `engine` gets (empty: removed).
    fn process_env(&self, engine: &str) -> anyhow::Result<Vec<(String, String)>> {
        let (host, certs) = match engine {
            "local" => return Ok(Vec::new()),
            "tls" => (self.get("DOCKDAP_ENGINE_TLS_HOST")?, self.get("DOCKDAP_ENGINE_TLS_CERTS")?),
            "ssh" => (self.get("DOCKDAP_ENGINE_SSH_HOST")?, String::new()),
            "podman" => (self.get("DOCKDAP_ENGINE_PODMAN_HOST")?, String::new()),
            other => bail!("no engine {other}"),
        };
        let verify = if certs.is_empty() { "" } else { "1" };
        Ok([("DOCKER_HOST", host.as_str()), ("DOCKER_TLS_VERIFY", verify), ("DOCKER_CERT_PATH", certs.as_str())]
            .into_iter()
            .chain([("DOCKER_CONTEXT", ""), ("DOCKER_TLS", "")])
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }

    /// `docker` arguments for the same engine.
    fn docker_args(&self, engine: &str) -> anyhow::Result<Vec<String>> {
        Ok(match engine {
            "local" => Vec::new(),
            "tls" => {
                let certs = self.get("DOCKDAP_ENGINE_TLS_CERTS")?;
                vec![
                    "-H".into(),
                    self.get("DOCKDAP_ENGINE_TLS_HOST")?,
                    "--tlsverify".into(),
                    format!("--tlscacert={certs}/ca.pem"),
                    format!("--tlscert={certs}/cert.pem"),
                    format!("--tlskey={certs}/key.pem"),
                ]
            }
            "ssh" => vec!["-H".into(), self.get("DOCKDAP_ENGINE_SSH_HOST")?],
            "podman" => vec!["-H".into(), self.get("DOCKDAP_ENGINE_PODMAN_HOST")?],
            other => bail!("no engine {other}"),
        })
    }
}

/// `scripts/engines.sh up`, then its variables; why not, when it cannot run.
async fn start_engines(options: &Options) -> Result<EngineVars, String> {
    let script = options.source_root.join("scripts/engines.sh");
    let root = tokio::process::Command::new("id").arg("-u").output().await.is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !root {
        return Err("the test engines need root (scripts/engines.sh)".into());
    }
    let up = tokio::process::Command::new("bash").arg(&script).arg("up").output().await.map_err(|e| e.to_string())?;
    if !up.status.success() {
        return Err(format!("scripts/engines.sh up failed: {}", String::from_utf8_lossy(&up.stderr).trim()));
    }
    let env = tokio::process::Command::new("bash").arg(&script).arg("env").output().await.map_err(|e| e.to_string())?;
    let vars = String::from_utf8_lossy(&env.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Ok(EngineVars(vars))
}

/// One engine's samples.
#[derive(Default)]
struct Measured {
    launch: Samples,
    stack_trace: Samples,
    score: Samples,
    score_during_diff: Samples,
    diff: Samples,
}

pub async fn run(options: &Options, report: &mut Reporter<'_>) -> anyhow::Result<()> {
    let vars = match start_engines(options).await {
        Ok(vars) => vars,
        Err(why) => return report.skip("engines", &why),
    };
    let (rounds, requests) = if options.quick { (1, 3) } else { (3, 15) };
    progress(&format!("engines: {rounds} rounds over {ENGINES:?}, {requests} requests of each kind per round"));
    let workspace = options.source_root.join("examples/azureml-score");
    let mut listeners = Vec::new();
    for engine in ENGINES {
        let env = vars.process_env(engine)?;
        let listener = Listener::spawn_with_env(&options.dockdap_bin, &options.source_root, &env).await?;
        listeners.push((*engine, listener, Measured::default()));
    }
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..listeners.len()).collect();
        order.rotate_left(round % listeners.len());
        for i in order {
            let (engine, listener, measured) = &mut listeners[i];
            progress(&format!("engines: round {} on {engine}", round + 1));
            let docker = vars.docker_args(engine)?;
            one_session(listener, &docker, &workspace, requests, measured)
                .await
                .with_context(|| format!("on the {engine} engine; {}", listener.log()))?;
        }
    }
    let local = listeners.iter().find(|(e, ..)| *e == "local").map(|(.., m)| m).context("the local engine")?;
    let base = (local.launch.median(), local.stack_trace.median(), local.score.median());
    for (engine, _, m) in &listeners {
        report.figure(&format!("engines.{engine}.launch.median"), m.launch.median() / 1000.0, "s")?;
        report.figure(&format!("engines.{engine}.stack_trace.median"), m.stack_trace.median(), "ms")?;
        report.figure(&format!("engines.{engine}.score.median"), m.score.median(), "ms")?;
        report.figure(&format!("engines.{engine}.score_during_diff.median"), m.score_during_diff.median(), "ms")?;
        report.figure(
            &format!("engines.{engine}.score_during_diff.max"),
            m.score_during_diff.percentile(100.0),
            "ms",
        )?;
        report.figure(&format!("engines.{engine}.diff.median"), m.diff.median(), "ms")?;
        if *engine != "local" {
            report.figure(&format!("engines.{engine}.launch.ratio"), m.launch.median() / base.0, "x")?;
            report.figure(&format!("engines.{engine}.stack_trace.ratio"), m.stack_trace.median() / base.1, "x")?;
            report.figure(&format!("engines.{engine}.score.ratio"), m.score.median() / base.2, "x")?;
            report.goal(
                &format!("{engine}: launch to `stopped`, / local"),
                &format!("engines.{engine}.launch.ratio"),
                None,
            );
            report.goal(
                &format!("{engine}: `stackTrace`, / local"),
                &format!("engines.{engine}.stack_trace.ratio"),
                None,
            );
            report.goal(
                &format!("{engine}: a scoring request, / local"),
                &format!("engines.{engine}.score.ratio"),
                None,
            );
        }
        report.goal(
            &format!("{engine}: slowest scoring request while `docker diff` runs"),
            &format!("engines.{engine}.score_during_diff.max"),
            None,
        );
    }
    for (_, mut listener, _) in listeners {
        listener.stop().await;
    }
    Ok(())
}

/// One session on one engine: launch to the first stop, `stackTrace`s,
/// scoring requests alone and beside `docker diff`, then the end (untimed,
/// until the container is gone).
async fn one_session(
    listener: &Listener,
    docker: &[String],
    workspace: &std::path::Path,
    requests: usize,
    measured: &mut Measured,
) -> anyhow::Result<()> {
    let score = workspace.join("score.py");
    let score_path = score.to_string_lossy().into_owned();
    let line = line_of(&score, "dockdap-demo: init-breakpoint")?;
    let args = json!({"type": "dockdap", "request": "launch", "name": "bench", "image": IMAGE,
                      "localRoot": workspace, "ports": ["0:5001"], "timeout": 90});
    let t0 = Instant::now();
    let mut client = connect(&listener.addr).await?;
    client.request("initialize", initialize_arguments()).await?;
    let (thread, answer) = configure_answered(&mut client, "launch", args, &score_path, &[line]).await?;
    measured.launch.push(t0.elapsed());
    let container = answer["dockdap"]["container"].as_str().context("no container in the launch response")?.to_owned();
    let port = answer["dockdap"]["ports"][0]["host"].as_u64().context("no service port in the launch response")?;
    let result = async {
        for _ in 0..requests {
            let t0 = Instant::now();
            client.request("stackTrace", json!({"threadId": thread, "startFrame": 0, "levels": 20})).await?;
            measured.stack_trace.push(t0.elapsed());
        }
        client.request("setBreakpoints", json!({"source": {"path": score_path}, "breakpoints": []})).await?;
        client.request("continue", json!({"threadId": thread})).await?;
        let addr = format!("127.0.0.1:{port}");
        // The first answer says the service is up (untimed).
        post(&addr, Duration::from_secs(90)).await?;
        for _ in 0..requests {
            measured.score.push(post(&addr, Duration::from_secs(30)).await?);
        }
        let diffs = DiffLoop::start(docker, &container);
        // Let the first diff take hold of the container.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut during = Samples::default();
        for _ in 0..requests {
            during.push(post(&addr, Duration::from_secs(60)).await?);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let diff = diffs.stop().await?;
        if diff.is_empty() {
            bail!("no `docker diff` finished while the requests ran");
        }
        measured.score_during_diff.extend(&during);
        measured.diff.extend(&diff);
        anyhow::Ok(())
    }
    .await;
    dap::disconnect(&mut client).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while exists(docker, &container).await && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    result
}

/// One scoring request, timed; it must be answered with 200.
async fn post(addr: &str, within: Duration) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    let deadline = tokio::time::Instant::now() + within;
    let reply = dockdap::http::post_json(addr, "/score", dockdap::http::SAMPLE, deadline).await?;
    if reply.status != 200 {
        bail!("the service answered {}: {}", reply.status, reply.body);
    }
    Ok(t0.elapsed())
}

/// `docker diff NAME` over and over on the engine, each timed, until stopped.
struct DiffLoop {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<Samples>>,
}

impl DiffLoop {
    fn start(docker: &[String], container: &str) -> DiffLoop {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (docker, container) = (docker.to_vec(), container.to_owned());
        let task = tokio::spawn(async move {
            let mut samples = Samples::default();
            while !*stopped.borrow() {
                let t0 = Instant::now();
                let out = tokio::process::Command::new("docker")
                    .args(&docker)
                    .args(["diff", &container])
                    .output()
                    .await
                    .context("running docker diff")?;
                if !out.status.success() {
                    bail!("docker diff {container}: {}", String::from_utf8_lossy(&out.stderr).trim());
                }
                samples.push(t0.elapsed());
            }
            Ok(samples)
        });
        DiffLoop { stop, task }
    }

    /// Stops after the diff under way; the durations of the diffs.
    async fn stop(self) -> anyhow::Result<Samples> {
        let _ = self.stop.send(true);
        self.task.await?
    }
}

/// Whether `container` is still on the engine.
async fn exists(docker: &[String], container: &str) -> bool {
    let out = tokio::process::Command::new("docker")
        .args(docker)
        .args(["ps", "-a", "-q", "--filter", &format!("name=^{container}$")])
        .output()
        .await;
    out.is_ok_and(|o| o.status.success() && !o.stdout.trim_ascii().is_empty())
}
