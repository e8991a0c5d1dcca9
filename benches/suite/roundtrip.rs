//! Part 1, round trips: the same scripted session direct to debugpy (A) and
//! through dockdap (B). Both sessions are open side by side, each stopped at
//! the breakpoint of its own copy of `benches/workload.py`, and their
//! iterations alternate A B B A, so drift in the machine's speed falls on
//! both alike. The first iterations are warm-up and not recorded.

use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;

use super::dap::{self, Side, configure, connect, connect_when_ready, initialize_arguments, line_of};
use super::docker::{Containers, Direct};
use super::procs::{Debugpy, Listener};
use super::report::{Goal, progress};
use super::stats::Timings;
use super::synthetic;
use super::{IMAGE, Options, Prerequisites, Reporter};

/// Where the workload lives in the container, and the app root dockdap maps.
const APP_ROOT: &str = "/var/azureml-app";

/// Writes the workload (passed in the environment) into the container and
/// runs it under debugpy, as `python -m debugpy --listen` users do.
const CONTAINER_SCRIPT: &str = "printf '%s' \"$DOCKDAP_BENCH_WORKLOAD\" > /var/azureml-app/workload.py \
     && exec python3 -m debugpy --listen 0.0.0.0:5678 --wait-for-client /var/azureml-app/workload.py";

pub async fn run(
    options: &Options,
    prereq: &Prerequisites,
    listener: &Listener,
    report: &mut Reporter<'_>,
) -> anyhow::Result<()> {
    let n = options.iterations();
    let warmup = if options.quick { 2 } else { 10 };
    let on_host = ["proxy", "proxy_tuned", "steps"].iter().any(|piece| options.wants_piece(piece));
    match &prereq.no_debugpy {
        Some(why) if on_host => report.skip("roundtrip.proxy", why)?,
        Some(_) => {}
        None => {
            if options.wants_piece("proxy") {
                host(options, listener, report, "roundtrip.proxy", false, n, warmup).await?;
            }
            if options.wants_piece("proxy_tuned") {
                host(options, listener, report, "roundtrip.proxy_tuned", true, n, warmup).await?;
            }
            if options.wants_piece("steps") {
                super::steps::run(options, listener, report, n, warmup).await?;
            }
        }
    }
    match &prereq.no_docker {
        _ if !options.wants_piece("user") => {}
        Some(why) => report.skip("roundtrip.user", why)?,
        None => user(options, listener, report, n, warmup).await?,
    }
    Ok(())
}

/// Attaches straight to a debugpy on this machine (or through a relay in
/// front of it, at `addr`); returns the session stopped at the breakpoint.
pub async fn attach_direct(addr: &str, debugpy: &Debugpy, line: i64) -> anyhow::Result<Side> {
    let mut client = connect_when_ready(addr, Duration::from_secs(30)).await?;
    let path = debugpy.app_root.join("workload.py");
    let thread = configure(&mut client, "attach", json!({"request": "attach"}), &path.to_string_lossy(), &[line])
        .await
        .with_context(|| format!("attaching straight to debugpy: {}", debugpy.log()))?;
    Ok(Side::new(client, thread, line))
}

/// Attaches through dockdap (`attach` with `connect`) to a debugpy on this
/// machine; returns the session stopped at the breakpoint.
pub async fn attach_through(
    options: &Options,
    listener: &Listener,
    debugpy: &Debugpy,
    line: i64,
) -> anyhow::Result<Side> {
    attach_through_with(options, listener, debugpy, line, serde_json::Map::new()).await
}

/// `attach_through` with more launch attributes (`{"prefetch": false}`).
pub async fn attach_through_with(
    options: &Options,
    listener: &Listener,
    debugpy: &Debugpy,
    line: i64,
    extra: serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<Side> {
    let workload = options.source_root.join("benches/workload.py");
    let mut client = connect(&listener.addr).await?;
    client.request("initialize", initialize_arguments()).await?;
    let mut args = json!({"type": "dockdap", "request": "attach", "name": "bench",
                      "connect": {"host": "127.0.0.1", "port": debugpy.port},
                      "appRoot": debugpy.app_root, "localRoot": options.source_root.join("benches"), "timeout": 30});
    if let Some(object) = args.as_object_mut() {
        object.extend(extra);
    }
    let thread = configure(&mut client, "attach", args, &workload.to_string_lossy(), &[line])
        .await
        .with_context(|| format!("attaching through dockdap: {}; {}", debugpy.log(), listener.log()))?;
    Ok(Side::new(client, thread, line))
}

/// (a) Debugpy processes on this machine, configured alike, one per side:
/// A attaches straight to its own, B through dockdap (`attach` with
/// `connect`). With `tune`, debugpy's sockets have TCP_NODELAY (no 40 ms
/// stall to hide the proxy's cost), and a third side C goes through a raw
/// byte relay: the floor that any proxy pays for the extra hop.
async fn host(
    options: &Options,
    listener: &Listener,
    report: &mut Reporter<'_>,
    prefix: &str,
    tune: bool,
    n: usize,
    warmup: usize,
) -> anyhow::Result<()> {
    progress(&format!("{prefix}: {n} iterations a side against debugpy on this machine (tuned: {tune})"));
    let workload = options.source_root.join("benches/workload.py");
    let line = line_of(&workload, "bench: breakpoint")?;
    let debugpy_a = Debugpy::start(&options.python, &workload, tune)?;
    let debugpy_b = Debugpy::start(&options.python, &workload, tune)?;
    let mut a = attach_direct(&debugpy_a.addr(), &debugpy_a, line).await?;

    let mut b = attach_through(options, listener, &debugpy_b, line).await?;

    let relayed = if tune {
        let debugpy_c = Debugpy::start(&options.python, &workload, tune)?;
        let relay = synthetic::relay(debugpy_c.addr())?;
        let c = attach_direct(&relay.addr, &debugpy_c, line).await?;
        Some((c, relay, debugpy_c))
    } else {
        None
    };
    let mut c = relayed.map(|(c, relay, debugpy)| (c, (relay, debugpy)));

    interleave(&mut a, &mut b, c.as_mut().map(|(c, _)| c), n, warmup, false).await.with_context(|| listener.log())?;
    figures(report, prefix, &a, &b)?;
    report.goal(
        &format!("{prefix}: iteration, dockdap / direct"),
        &format!("{prefix}.iteration.ratio"),
        Some(Goal::AtMost(1.05)),
    );
    report.goal(
        &format!("{prefix}: added p99, worst command"),
        &format!("{prefix}.max_added_p99"),
        Some(Goal::AtMost(1.0)),
    );
    if let Some((c, _)) = &mut c {
        relay_figures(report, prefix, &a, &b, c)?;
        report.goal(
            &format!("{prefix}: iteration, raw relay / direct (the hop's floor)"),
            &format!("{prefix}.iteration.relay_ratio"),
            None,
        );
        dap::disconnect(&mut c.client).await;
    }
    dap::disconnect(&mut a.client).await;
    dap::disconnect(&mut b.client).await;
    Ok(())
}

/// (b) What the user feels: A is the stock debugpy in a container started by
/// hand (untuned), B a container dockdap launched, as it runs by default
/// (`tuneDebugger` on). Same image, same workload; each iteration also does
/// `next` -> `stopped`, and issue 10's repeated requests follow.
async fn user(
    options: &Options,
    listener: &Listener,
    report: &mut Reporter<'_>,
    n: usize,
    warmup: usize,
) -> anyhow::Result<()> {
    let prefix = "roundtrip.user";
    progress(&format!("{prefix}: {n} iterations a side, stock debugpy in a container vs dockdap's launch"));
    let workload = options.source_root.join("benches/workload.py");
    let source = std::fs::read_to_string(&workload)?;
    let line = line_of(&workload, "bench: breakpoint")?;
    let command = vec!["sh".to_owned(), "-c".to_owned(), CONTAINER_SCRIPT.to_owned()];
    let mut containers = Containers::default();

    let a_name = containers.name("direct");
    let direct =
        Direct::start(&a_name, IMAGE, Some(command.clone()), vec![format!("DOCKDAP_BENCH_WORKLOAD={source}")]).await?;
    let result = async {
        let mut a = connect_when_ready(&direct.debug_addr, Duration::from_secs(60)).await?;
        let a_thread =
            configure(&mut a, "attach", json!({"request": "attach"}), &format!("{APP_ROOT}/workload.py"), &[line])
                .await?;

        let mut b = connect(&listener.addr).await?;
        b.request("initialize", initialize_arguments()).await?;
        let args = json!({"type": "dockdap", "request": "launch", "name": "bench", "image": IMAGE,
                          "containerName": containers.name("dockdap"), "command": command,
                          "env": {"DOCKDAP_BENCH_WORKLOAD": source}, "ports": [],
                          "appRoot": APP_ROOT, "localRoot": options.source_root.join("benches"), "timeout": 60});
        let b_thread = configure(&mut b, "launch", args, &workload.to_string_lossy(), &[line])
            .await
            .with_context(|| format!("launching through dockdap: {}", listener.log()))?;

        let mut a = Side::new(a, a_thread, line);
        let mut b = Side::new(b, b_thread, line);
        interleave(&mut a, &mut b, None, n, warmup, true).await.with_context(|| listener.log())?;
        figures(report, prefix, &a, &b)?;
        repeated(report, &mut a, &mut b, if options.quick { 5 } else { 30 }).await?;
        dap::disconnect(&mut b.client).await;
        dap::disconnect(&mut a.client).await;
        anyhow::Ok(())
    }
    .await;
    direct.remove().await;
    result?;
    report.goal(
        &format!("{prefix}: iteration, dockdap (tuned) / stock direct"),
        &format!("{prefix}.iteration.ratio"),
        Some(Goal::AtMost(0.1)),
    );
    for command in REPEATED {
        report.goal(
            &format!("issue 10: `{command}` repeated, dockdap (tuned) / stock direct"),
            &format!("tune.{command}.ratio"),
            Some(Goal::AtMost(0.1)),
        );
    }
    Ok(())
}

/// Runs the iterations A B (C), then (C) B A, ... and records all but the warm-up.
async fn interleave(
    a: &mut Side,
    b: &mut Side,
    mut c: Option<&mut Side>,
    n: usize,
    warmup: usize,
    with_next: bool,
) -> anyhow::Result<()> {
    for i in 0..warmup + n {
        let record = i >= warmup;
        let mut sides: Vec<&mut Side> = vec![&mut *a, &mut *b];
        if let Some(c) = c.as_deref_mut() {
            sides.push(c);
        }
        if i % 2 == 1 {
            sides.reverse();
        }
        for side in sides {
            side.iteration(with_next, record).await?;
        }
    }
    Ok(())
}

/// The requests of issue 10's table, in the order they are repeated.
const REPEATED: [&str; 4] = ["threads", "stackTrace", "variables", "next"];

/// Issue 10's figure: each request many times in a row from the stop at
/// the breakpoint, as the issue measured it (`next` last, since it moves
/// the stop), A and B alternating.
async fn repeated(report: &mut Reporter<'_>, a: &mut Side, b: &mut Side, times: usize) -> anyhow::Result<()> {
    progress(&format!("tune: {times} of each of threads, stackTrace, variables, next a side"));
    let (mut direct, mut dockdap) = (Timings::default(), Timings::default());
    for command in REPEATED {
        for i in 0..times {
            if i % 2 == 0 {
                direct.push(command, a.one(command).await?);
                dockdap.push(command, b.one(command).await?);
            } else {
                dockdap.push(command, b.one(command).await?);
                direct.push(command, a.one(command).await?);
            }
        }
    }
    for command in REPEATED {
        let (sa, sb) = (direct.get(command), dockdap.get(command));
        report.figure(&format!("tune.{command}.direct.median"), sa.median(), "ms")?;
        report.figure(&format!("tune.{command}.dockdap.median"), sb.median(), "ms")?;
        report.figure(&format!("tune.{command}.ratio"), sb.median() / sa.median(), "x")?;
    }
    Ok(())
}

/// Median and p99 of each command on both sides, the ratio of medians and
/// the added p99.
fn figures(report: &mut Reporter<'_>, prefix: &str, a: &Side, b: &Side) -> anyhow::Result<()> {
    let mut worst_added = f64::NEG_INFINITY;
    for name in a.timings.names() {
        let (sa, sb) = (a.timings.get(name), b.timings.get(name));
        report.figure(&format!("{prefix}.{name}.direct.median"), sa.median(), "ms")?;
        report.figure(&format!("{prefix}.{name}.direct.p99"), sa.p99(), "ms")?;
        report.figure(&format!("{prefix}.{name}.dockdap.median"), sb.median(), "ms")?;
        report.figure(&format!("{prefix}.{name}.dockdap.p99"), sb.p99(), "ms")?;
        report.figure(&format!("{prefix}.{name}.ratio"), sb.median() / sa.median(), "x")?;
        let added = sb.p99() - sa.p99();
        report.figure(&format!("{prefix}.{name}.added_p99"), added, "ms")?;
        if name != "iteration" {
            worst_added = worst_added.max(added);
        }
    }
    report.figure(&format!("{prefix}.max_added_p99"), worst_added, "ms")?;
    report.figure(&format!("{prefix}.stackTrace.response_size"), b.stack_bytes as f64 / 1024.0, "KiB")?;
    report.figure(&format!("{prefix}.variables.response_size"), b.variables_bytes as f64 / 1024.0, "KiB")?;
    report.figure(&format!("{prefix}.iterations"), a.timings.get("iteration").len() as f64, "per side")?;
    Ok(())
}

/// The raw relay side: its medians, its ratio to direct (the hop's floor),
/// and dockdap's ratio to it (dockdap's own work above the hop).
fn relay_figures(report: &mut Reporter<'_>, prefix: &str, a: &Side, b: &Side, c: &Side) -> anyhow::Result<()> {
    for name in c.timings.names() {
        let (sa, sb, sc) = (a.timings.get(name), b.timings.get(name), c.timings.get(name));
        report.figure(&format!("{prefix}.{name}.relay.median"), sc.median(), "ms")?;
        report.figure(&format!("{prefix}.{name}.relay_ratio"), sc.median() / sa.median(), "x")?;
        report.figure(&format!("{prefix}.{name}.dockdap_over_relay"), sb.median() / sc.median(), "x")?;
    }
    Ok(())
}
