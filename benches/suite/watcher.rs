//! Part 4b, the container's changes as its watcher reports them (issue
//! 20), on the session of part 4: (c) a new file made inside the container
//! (through the kept-open shell, so no exec is started per change) until
//! the workspace holds it, (d) its deletion until the workspace file is
//! gone, each polled every 2 ms with varying gaps; (e) a file deleted in
//! the workspace until the container's is gone (the watcher removes it),
//! polled inside the container by the shell every 5 ms; and (f) the CPU
//! the watcher (from its `/proc/PID/stat` in the container) and dockdap
//! use while nothing changes.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use super::Reporter;
use super::files::Shell;
use super::procs::{Listener, cpu_ticks};
use super::report::{Goal, progress};
use super::stats::Samples;

const DIR: &str = "/var/azureml-app";
/// How long one change may take to arrive before the part fails.
const ARRIVE: Duration = Duration::from_secs(30);

pub async fn run(
    quick: bool,
    report: &mut Reporter<'_>,
    ws: &Path,
    shell: &mut Shell,
    listener: &Listener,
) -> anyhow::Result<()> {
    let n = if quick { 3 } else { 40 };
    progress(&format!("sync: {n} new files and {n} deletions in the container"));
    let pid = std::process::id();
    let (mut created, mut deleted) = (Samples::default(), Samples::default());
    for i in 0..n {
        let name = format!("bench_new_{pid}_{i}.py");
        let local = ws.join(&name);
        let content = format!("X = {i}\n");
        let t0 = Instant::now();
        shell.send(&format!("echo 'X = {i}' > {DIR}/{name}")).await?;
        created.push(until(t0, || std::fs::read_to_string(&local).is_ok_and(|t| t == content)).await?);
        shell.wait().await?;
        tokio::time::sleep(super::files::gap(i)).await;
        let t0 = Instant::now();
        shell.send(&format!("rm {DIR}/{name}")).await?;
        deleted.push(until(t0, || !local.exists()).await.context("a deletion (is `sync.deletions` \"copy\"?)")?);
        shell.wait().await?;
        tokio::time::sleep(super::files::gap(i + 1)).await;
    }
    let secs = |ms: f64| ms / 1000.0;
    report.figure("sync.new_file_to_workspace.median", secs(created.median()), "s")?;
    report.figure("sync.new_file_to_workspace.p90", secs(created.percentile(90.0)), "s")?;
    report.figure("sync.deletion_to_workspace.median", secs(deleted.median()), "s")?;
    report.figure("sync.deletion_to_workspace.p90", secs(deleted.percentile(90.0)), "s")?;
    report.goal(
        "sync, new file in the container -> workspace, median",
        "sync.new_file_to_workspace.median",
        Some(Goal::AtMost(0.3)),
    );
    report.goal("the same, p90", "sync.new_file_to_workspace.p90", Some(Goal::AtMost(0.5)));
    report.goal(
        "sync, deletion in the container -> workspace, median",
        "sync.deletion_to_workspace.median",
        Some(Goal::AtMost(0.3)),
    );
    report.goal("the same, p90", "sync.deletion_to_workspace.p90", Some(Goal::AtMost(0.5)));

    progress(&format!("sync: {n} deletions in the workspace"));
    let mut removed = Samples::default();
    for i in 0..n {
        let name = format!("bench_ws_{pid}_{i}.py");
        let local = ws.join(&name);
        std::fs::write(&local, format!("Y = {i}\n"))?;
        shell.send(&format!("until [ -e {DIR}/{name} ]; do sleep 0.005; done")).await?;
        shell.wait().await.context("a workspace file did not reach the container")?;
        tokio::time::sleep(super::files::gap(i)).await;
        // The shell polls before the deletion, so its start is not in the time.
        shell.send(&format!("while [ -e {DIR}/{name} ]; do sleep 0.005; done")).await?;
        let t0 = Instant::now();
        std::fs::remove_file(&local)?;
        shell.wait().await.context("a deletion in the workspace (is `sync.deletions` \"copy\"?)")?;
        removed.push(t0.elapsed());
        tokio::time::sleep(super::files::gap(i + 1)).await;
    }
    report.figure("sync.deletion_to_container.median", secs(removed.median()), "s")?;
    report.figure("sync.deletion_to_container.p90", secs(removed.percentile(90.0)), "s")?;
    report.goal(
        "sync, deletion in the workspace -> container, median",
        "sync.deletion_to_container.median",
        Some(Goal::AtMost(0.3)),
    );
    report.goal("the same, p90", "sync.deletion_to_container.p90", Some(Goal::AtMost(0.5)));
    report.note("sync.deletion_to_container includes the container-side poll (every 5 ms)");

    let idle = if quick { Duration::from_secs(2) } else { Duration::from_secs(20) };
    progress(&format!("sync: the watcher's and dockdap's CPU over {idle:?} with nothing changing"));
    let pids = shell.capture("grep -l '[d]ockdap.s watcher' /proc/[0-9]*/cmdline").await?;
    let Some(watcher) =
        pids.first().and_then(|l| l.strip_prefix("/proc/")?.strip_suffix("/cmdline")).map(str::to_owned)
    else {
        bail!("no watcher runs in the container ({pids:?})");
    };
    let stat = format!("cat /proc/{watcher}/stat");
    let before = (cpu_ticks(&shell.capture(&stat).await?.concat()), listener.cpu_time()?);
    let t0 = Instant::now();
    tokio::time::sleep(idle).await;
    let after = (cpu_ticks(&shell.capture(&stat).await?.concat()), listener.cpu_time()?);
    let window = t0.elapsed().as_secs_f64();
    let percent = |used: Duration| used.as_secs_f64() / window * 100.0;
    report.figure("sync.idle.watcher_cpu", percent(after.0.saturating_sub(before.0)), "%")?;
    report.figure("sync.idle.dockdap_cpu", percent(after.1.saturating_sub(before.1)), "%")?;
    report.goal("the container's watcher, idle, CPU of one core", "sync.idle.watcher_cpu", Some(Goal::AtMost(1.0)));
    report.goal("dockdap, one idle session, CPU of one core", "sync.idle.dockdap_cpu", None);
    Ok(())
}

/// How long after `t0` `done` held (polled every 2 ms).
async fn until(t0: Instant, mut done: impl FnMut() -> bool) -> anyhow::Result<Duration> {
    while !done() {
        if t0.elapsed() > ARRIVE {
            bail!("a change in the container did not reach the workspace within {ARRIVE:?}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(t0.elapsed())
}
