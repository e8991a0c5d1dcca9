//! Part 3, launch: from nothing to the first `stopped` in `init()` of the
//! example deployment, through dockdap's `launch` (as it runs by default,
//! and with `tuneDebugger: false`), against the manual routine: create and
//! start the same image through the Engine API with the debug port published
//! on 127.0.0.1, retry connecting until debugpy answers, attach, set the
//! breakpoint, `configurationDone`. Arms rotate each round; containers are
//! removed between launches, outside the timed span.

use std::time::{Duration, Instant};

use serde_json::json;

use super::dap::{self, configure, connect, connect_when_ready, initialize_arguments, line_of};
use super::docker::{self, Containers, Direct};
use super::procs::Listener;
use super::report::{Goal, progress};
use super::stats::Samples;
use super::{IMAGE, Options, Prerequisites, Reporter};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Arm {
    Manual,
    Dockdap,
    DockdapUntuned,
}

pub async fn run(
    options: &Options,
    prereq: &Prerequisites,
    listener: &Listener,
    report: &mut Reporter<'_>,
) -> anyhow::Result<()> {
    if let Some(why) = &prereq.no_docker {
        return report.skip("launch", why);
    }
    let rounds = if options.quick { 1 } else { 5 };
    progress(&format!("launch: {rounds} rounds of manual / dockdap / dockdap untuned"));
    let workspace = options.source_root.join("examples/azureml-score");
    let score = workspace.join("score.py");
    let line = line_of(&score, "dockdap-demo: init-breakpoint")?;
    let mut containers = Containers::default();
    let (mut manual, mut tuned, mut untuned) = (Samples::default(), Samples::default(), Samples::default());
    for round in 0..rounds {
        let mut arms = [Arm::Manual, Arm::Dockdap, Arm::DockdapUntuned];
        if round % 2 == 1 {
            arms.reverse();
        }
        for arm in arms {
            let name = containers.name("launch");
            let elapsed = match arm {
                Arm::Manual => launch_manual(&name, line).await?,
                Arm::Dockdap | Arm::DockdapUntuned => {
                    let args = json!({"type": "dockdap", "request": "launch", "name": "bench", "image": IMAGE,
                                      "containerName": name, "localRoot": workspace, "ports": [], "timeout": 60,
                                      "tuneDebugger": arm == Arm::Dockdap});
                    launch_dockdap(listener, args, &score.to_string_lossy(), line, &name).await?
                }
            };
            match arm {
                Arm::Manual => manual.push(elapsed),
                Arm::Dockdap => tuned.push(elapsed),
                Arm::DockdapUntuned => untuned.push(elapsed),
            }
        }
    }
    report.figure("launch.manual.median", manual.median() / 1000.0, "s")?;
    report.figure("launch.dockdap.median", tuned.median() / 1000.0, "s")?;
    report.figure("launch.ratio", tuned.median() / manual.median(), "x")?;
    report.figure("launch.dockdap_untuned.median", untuned.median() / 1000.0, "s")?;
    report.figure("launch.untuned_ratio", untuned.median() / manual.median(), "x")?;
    report.goal("launch to `stopped` in init(), dockdap / manual", "launch.ratio", Some(Goal::AtMost(1.10)));
    report.goal("the same with `tuneDebugger: false`", "launch.untuned_ratio", Some(Goal::AtMost(1.10)));
    Ok(())
}

/// The manual routine, timed from `create` to `stopped`.
async fn launch_manual(name: &str, line: i64) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    let direct = Direct::start(name, IMAGE, None, Vec::new()).await?;
    let result = async {
        let mut client = connect_when_ready(&direct.debug_addr, Duration::from_secs(60)).await?;
        configure(&mut client, "attach", json!({"request": "attach"}), "/var/azureml-app/score.py", &[line]).await?;
        let elapsed = t0.elapsed();
        dap::disconnect(&mut client).await;
        anyhow::Ok(elapsed)
    }
    .await;
    direct.remove().await;
    result
}

/// dockdap's `launch`, timed from connecting to `stopped`; waits (untimed)
/// until dockdap has removed the container.
async fn launch_dockdap(
    listener: &Listener,
    args: serde_json::Value,
    score: &str,
    line: i64,
    name: &str,
) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    let mut client = connect(&listener.addr).await?;
    client.request("initialize", initialize_arguments()).await?;
    configure(&mut client, "launch", args, score, &[line]).await?;
    let elapsed = t0.elapsed();
    dap::disconnect(&mut client).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while docker::exists(name).await && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(elapsed)
}
