//! Part 6, footprint: dockdap's resident memory, read from `/proc/PID/status`
//! of the dockdap process (`VmHWM` is the peak), idle, after the other parts,
//! and over many sessions in one process (with its open file descriptors,
//! so a leak of either shows).

use serde_json::json;

use super::procs::{Listener, memory};
use super::report::{Goal, progress};
use super::synthetic::{self, Lean};
use super::{Options, Reporter};

/// KiB to MB (10^6 bytes), the unit of the goals.
pub fn mib(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1e6
}

/// The peak RSS of a dockdap that has served nothing yet.
pub fn idle(report: &mut Reporter<'_>, listener: &Listener) -> anyhow::Result<()> {
    let m = listener.memory()?;
    report.figure("footprint.idle.peak_rss", mib(m.peak_kib), "MB")?;
    report.goal("footprint: peak RSS idle", "footprint.idle.peak_rss", Some(Goal::AtMost(15.0)));
    Ok(())
}

/// The peak RSS so far, as `name`, held against `goal_mb`.
pub fn after(report: &mut Reporter<'_>, listener: &Listener, name: &str, goal_mb: f64) -> anyhow::Result<()> {
    let m = listener.memory()?;
    report.figure(name, mib(m.peak_kib), "MB")?;
    report.goal("footprint: peak RSS under the round trips", name, Some(Goal::AtMost(goal_mb)));
    Ok(())
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// Many short sessions, one after another, against one dockdap process:
/// RSS and open files after the first few and after the last.
pub async fn sessions(options: &Options, report: &mut Reporter<'_>) -> anyhow::Result<()> {
    let (total, early) = if options.quick { (5usize, 1usize) } else { (100, 10) };
    progress(&format!("footprint: {total} sessions in one dockdap process"));
    let adapter = synthetic::adapter()?;
    let mut listener = Listener::spawn(&options.dockdap_bin, &options.source_root).await?;
    let (mut early_rss, mut early_fds) = (0u64, 0usize);
    for i in 1..=total {
        let mut client = Lean::connect(&listener.addr).await?;
        client
            .handshake(json!({"type": "dockdap", "request": "attach", "name": "bench",
                               "connect": {"host": "127.0.0.1", "port": adapter.port}}))
            .await?;
        client.request("threads", json!({})).await?;
        client.request("stackTrace", json!({"threadId": 1, "levels": 20})).await?;
        client.flood(100).await?;
        client.disconnect().await;
        // Let the session finish its shutdown before reading.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        if i == early {
            early_rss = memory(listener.pid)?.rss_kib;
            early_fds = open_fds(listener.pid);
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let last = memory(listener.pid)?;
    let fds = open_fds(listener.pid);
    report.figure(&format!("footprint.sessions.rss_after_{early}"), mib(early_rss), "MB")?;
    report.figure(&format!("footprint.sessions.rss_after_{total}"), mib(last.rss_kib), "MB")?;
    let growth = mib(last.rss_kib) - mib(early_rss);
    report.figure("footprint.sessions.rss_growth", growth, "MB")?;
    report.figure("footprint.sessions.fd_growth", fds as f64 - early_fds as f64, "fds")?;
    report.figure("footprint.sessions.peak_rss", mib(last.peak_kib), "MB")?;
    report.goal(
        &format!("footprint: RSS growth from session {early} to {total}"),
        "footprint.sessions.rss_growth",
        Some(Goal::AtMost(1.0)),
    );
    report.goal(
        &format!("footprint: open files growth from session {early} to {total}"),
        "footprint.sessions.fd_growth",
        Some(Goal::AtMost(0.0)),
    );
    listener.stop().await;
    Ok(())
}
