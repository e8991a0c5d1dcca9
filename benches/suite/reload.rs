//! Part 7, reload (issue 18): the edit loop. One session launched by
//! dockdap (default configuration) on the stock example image, so the real
//! Azure ML inference server runs `score.py` in a gunicorn worker, with a
//! breakpoint in `init()`. Each round saves an edit to the workspace's
//! `score.py` and then times, to the next `stopped` in `init()`,
//! `dockdap/reload` (the workers replaced in place, the debugger attached to
//! the new one) against DAP `restart` (the container recreated from the
//! image); the arms alternate A B B A in the same session, on the same
//! image, in the same run.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use serde_json::{Value, json};

use super::dap::{self, body, configure, connect, initialize_arguments, line_of};
use super::docker::Containers;
use super::procs::Listener;
use super::report::{Goal, progress};
use super::stats::Samples;
use super::{Options, Reporter};

/// The image: the example deployment without debugpy, as users have it.
pub const STOCK: &str = "dockdap/azureml-score:stock";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Arm {
    Reload,
    Restart,
}

/// Runs the part on `listener`'s dockdap; skipped when the engine or the
/// stock image is missing (`no_docker` says why the engine is).
pub async fn run(
    report: &mut Reporter<'_>,
    options: &Options,
    no_docker: Option<&str>,
    listener: &Listener,
) -> anyhow::Result<()> {
    let missing = match no_docker {
        Some(why) => Some(why.to_owned()),
        None => super::docker::check(STOCK).await.err(),
    };
    if let Some(why) = missing {
        return report.skip("reload", &why);
    }
    let rounds = if options.quick { 1 } else { 2 };
    progress(&format!("reload: {rounds} rounds of reload, restart, restart, reload"));
    let dir = tempfile::tempdir()?;
    let workspace = dir.path().join("project");
    let copied = tokio::process::Command::new("cp")
        .arg("-R")
        .arg(options.source_root.join("examples/azureml-score"))
        .arg(&workspace)
        .status()
        .await?;
    if !copied.success() {
        bail!("cannot copy the example into {}", workspace.display());
    }
    let score = workspace.join("score.py");
    let line = line_of(&score, "dockdap-demo: init-breakpoint")?;
    let mut containers = Containers::default();
    let name = containers.name("reload");
    let mut client = connect(&listener.addr).await?;
    client.set_timeout(Duration::from_secs(180));
    client.request("initialize", initialize_arguments()).await?;
    let args = json!({"type": "dockdap", "request": "launch", "name": "bench", "image": STOCK,
                      "containerName": name, "localRoot": workspace, "ports": [], "timeout": 60});
    let thread = configure(&mut client, "launch", args, &score.to_string_lossy(), &[line]).await?;
    let result = alternate(&mut client, &score, rounds, thread, (line, Some("init"))).await;
    dap::disconnect(&mut client).await;
    drop(containers);
    let (reload, restart) = result?;
    report.figure("reload.reload.median", reload.median() / 1000.0, "s")?;
    report.figure("reload.restart.median", restart.median() / 1000.0, "s")?;
    report.figure("reload.ratio", reload.median() / restart.median(), "x")?;
    report.goal("edit + reload to `stopped` in init(), reload / restart", "reload.ratio", Some(Goal::AtMost(0.3)));
    Ok(())
}

/// The rounds of an edit loop, from a stop on `thread`: each saves an
/// edit to `file` and times, to the next stop at `at` (a line, and the
/// function it must be in), `dockdap/reload` and DAP `restart`, alternating
/// A B B A; returns the reload's and the restart's times.
pub async fn alternate(
    client: &mut dockdap::client::DapClient,
    file: &std::path::Path,
    rounds: usize,
    mut thread: i64,
    at: (i64, Option<&str>),
) -> anyhow::Result<(Samples, Samples)> {
    let (mut reload, mut restart) = (Samples::default(), Samples::default());
    let mut edits = 0;
    for _ in 0..rounds {
        for arm in [Arm::Reload, Arm::Restart, Arm::Restart, Arm::Reload] {
            client.request("continue", json!({"threadId": thread})).await?;
            edits += 1;
            let text = std::fs::read_to_string(file)?;
            std::fs::write(file, format!("{text}# dockdap-bench: edit {edits}\n"))?;
            let t0 = Instant::now();
            let seq = match arm {
                Arm::Reload => client.send_request("dockdap/reload", json!({})).await?,
                Arm::Restart => client.send_request("restart", json!({})).await?,
            };
            thread = stopped_at(client, at).await?;
            let elapsed = t0.elapsed();
            let answer = client.wait_response(seq).await?;
            if answer.field::<bool>("success").ok().flatten() != Some(true) {
                bail!("{} failed: {:?}", if arm == Arm::Reload { "reload" } else { "restart" }, answer);
            }
            match arm {
                Arm::Reload => reload.push(elapsed),
                Arm::Restart => restart.push(elapsed),
            }
        }
    }
    Ok((reload, restart))
}

/// The next `stopped`, which must be on `line` (in `function`, if named);
/// returns its thread.
async fn stopped_at(
    client: &mut dockdap::client::DapClient,
    (line, function): (i64, Option<&str>),
) -> anyhow::Result<i64> {
    let stopped = client.wait_event("stopped").await?;
    let thread = body(&stopped)["threadId"].as_i64().ok_or_else(|| anyhow!("stopped without a thread"))?;
    let trace = client.request("stackTrace", json!({"threadId": thread, "levels": 1})).await?;
    let top: Value = body(&trace)["stackFrames"][0].clone();
    if top["line"] != line || function.is_some_and(|f| top["name"] != f) {
        bail!("stopped elsewhere than {}:{line}: {top}", function.unwrap_or("the line"));
    }
    Ok(thread)
}
