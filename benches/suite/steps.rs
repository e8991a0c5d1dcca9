//! Part 1c, the step cycle (issue 22): what a user feels while stepping.
//! `next` -> `stopped`, then `threads`, `stackTrace` (20 frames), `scopes`,
//! `variables` (100 locals), each sent once the previous answer is in, as
//! editors do. Four sessions side by side, each on its own debugpy running
//! `benches/workload.py --steps`: through dockdap (its defaults, prefetch
//! on) to a tuned debugpy, straight to a tuned debugpy (TCP_NODELAY, the
//! fastest direct path), straight to the stock debugpy, and through
//! dockdap with `"prefetch": false` (what the prefetch itself saves).
//! Iterations rotate the sides (A B C D, B C D A, C D A B, D A B C), so that
//! each side takes each place equally often and no side ever steps twice in
//! a row. A debuggee stepped again at once is warm (its caches, the CPU's
//! branch history): with A B C D, D C B A, A and D ran half their cycles
//! back to back and B and C none, and a back-to-back cycle of the side
//! without prefetch measured 9.9 ms against 11.0 ms after the other sides'
//! turns (`next` -> `stopped` 2.1 against 2.9 ms). An editor's user steps
//! seconds apart, so every cycle here comes after the other sides' turns.
//! Each step's wait is recorded too (`next` until
//! `stopped`, then each request), and what dockdap's prefetch did in its
//! session (fetched, answered, joined, missed, and the `scopes` guessed
//! ahead of the stack and how many were wrong: its `info` line at the
//! session's end).

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::json;

use super::dap::{Side, body, line_of};
use super::procs::{Debugpy, Listener};
use super::report::{Goal, progress};
use super::roundtrip::{attach_direct, attach_through, attach_through_with};
use super::stats::{Samples, Timings};
use super::{Options, Reporter};

/// The step cycle's parts, in order.
const PHASES: [&str; 5] = ["stopped", "threads", "stackTrace", "scopes", "variables"];

/// One step cycle; returns how long the editor waited for all of it, and
/// for each part.
async fn cycle(side: &mut Side) -> anyhow::Result<(Duration, [Duration; 5])> {
    let c = &mut side.client;
    let t0 = Instant::now();
    let mut marks = [t0; 5];
    let next = c.send_request("next", json!({"threadId": side.thread})).await?;
    let stopped = c.wait_event("stopped").await?;
    marks[0] = Instant::now();
    side.thread = body(&stopped)["threadId"].as_i64().unwrap_or(side.thread);
    c.request("threads", json!({})).await?;
    marks[1] = Instant::now();
    let trace = c.request("stackTrace", json!({"threadId": side.thread, "startFrame": 0, "levels": 20})).await?;
    marks[2] = Instant::now();
    let frame = body(&trace)["stackFrames"][0]["id"].as_i64().unwrap_or_default();
    let scopes = c.request("scopes", json!({"frameId": frame})).await?;
    marks[3] = Instant::now();
    let locals = body(&scopes)["scopes"][0]["variablesReference"].as_i64().unwrap_or_default();
    let vars = c.request("variables", json!({"variablesReference": locals})).await?;
    marks[4] = Instant::now();
    let elapsed = t0.elapsed();
    let count = body(&vars)["variables"].as_array().map_or(0, Vec::len);
    if count < 100 {
        bail!("expected 100 locals after a step, got {count}");
    }
    c.wait_response(next).await?;
    c.drain_backlog();
    let mut parts = [Duration::ZERO; 5];
    let mut from = t0;
    for (part, mark) in parts.iter_mut().zip(marks) {
        *part = mark - from;
        from = mark;
    }
    Ok((elapsed, parts))
}

/// dockdap's last `prefetch` log line (one per session, at its end).
fn prefetch_line(log: &str) -> Option<String> {
    log.lines().map(plain).rev().find(|l| l.contains("prefetch") && l.contains("answered="))
}

/// A log line without its colours (`ESC [ ... m`).
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find('\x1b') {
        out.push_str(&rest[..at]);
        rest = rest[at..].find('m').map_or("", |end| &rest[at + end + 1..]);
    }
    out.push_str(rest);
    out
}

/// The counts a `prefetch` log line has.
const COUNTS: [&str; 7] = ["fetched", "answered", "joined", "missed", "guessed", "wrong", "remembered"];

/// The counts in a `prefetch` log line, by name, in `COUNTS` order (those it has).
fn prefetch_counts(line: &str) -> Vec<(&'static str, u64)> {
    let count = |name: &str| -> Option<u64> {
        let at = line.find(&format!(" {name}="))? + name.len() + 2;
        line[at..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
    };
    COUNTS.iter().filter_map(|&name| Some((name, count(name)?))).collect()
}

pub async fn run(
    options: &Options,
    listener: &Listener,
    report: &mut Reporter<'_>,
    n: usize,
    warmup: usize,
) -> anyhow::Result<()> {
    progress(&format!(
        "steps: {n} step cycles a side: dockdap, tuned debugpy, stock debugpy, dockdap without prefetch"
    ));
    let workload = options.source_root.join("benches/workload.py");
    let line = line_of(&workload, "bench: step")?;
    let tuned = Debugpy::start_with(&options.python, &workload, true, &["--steps"])?;
    let behind = Debugpy::start_with(&options.python, &workload, true, &["--steps"])?;
    let stock = Debugpy::start_with(&options.python, &workload, false, &["--steps"])?;
    let unfetched = Debugpy::start_with(&options.python, &workload, true, &["--steps"])?;

    let mut a = attach_direct(&tuned.addr(), &tuned, line).await?;
    let mut b = attach_through(options, listener, &behind, line).await?;
    let mut c = attach_direct(&stock.addr(), &stock, line).await?;
    let off = serde_json::Map::from_iter([("prefetch".to_owned(), json!(false))]);
    let mut d = attach_through_with(options, listener, &unfetched, line, off).await?;

    let (mut ta, mut tb, mut tc, mut td) =
        (Samples::default(), Samples::default(), Samples::default(), Samples::default());
    let mut phases = [Timings::default(), Timings::default(), Timings::default(), Timings::default()];
    for i in 0..warmup + n {
        let order: [usize; 4] = std::array::from_fn(|k| (i + k) % 4);
        for side in order {
            let (s, t) = match side {
                0 => (&mut a, &mut ta),
                1 => (&mut b, &mut tb),
                2 => (&mut c, &mut tc),
                _ => (&mut d, &mut td),
            };
            let (d, parts) = cycle(s).await.with_context(|| listener.log())?;
            if i >= warmup {
                t.push(d);
                for (name, part) in PHASES.iter().zip(parts) {
                    phases[side].push(name, part);
                }
            }
        }
    }
    report.figure("steps.direct_tuned.median", ta.median(), "ms")?;
    report.figure("steps.direct_stock.median", tc.median(), "ms")?;
    report.figure("steps.dockdap.median", tb.median(), "ms")?;
    report.figure("steps.dockdap_unfetched.median", td.median(), "ms")?;
    report.figure("steps.dockdap.p99", tb.p99(), "ms")?;
    report.figure("steps.direct_tuned.p99", ta.p99(), "ms")?;
    report.figure("steps.ratio", tb.median() / ta.median(), "x")?;
    report.figure("steps.stock_ratio", tb.median() / tc.median(), "x")?;
    report.figure("steps.unfetched_ratio", td.median() / ta.median(), "x")?;
    report.figure("steps.prefetch_gain", tb.median() / td.median(), "x")?;
    report.goal("steps: step cycle, dockdap / tuned direct", "steps.ratio", Some(Goal::AtMost(0.8)));
    report.goal("steps: step cycle, dockdap / stock direct", "steps.stock_ratio", Some(Goal::AtMost(0.1)));
    for (side, timings) in ["direct_tuned", "dockdap", "direct_stock", "dockdap_unfetched"].iter().zip(&phases) {
        for name in PHASES {
            report.figure(&format!("steps.{side}.{name}.median"), timings.get(name).median(), "ms")?;
        }
    }
    // dockdap logs its counts as the session ends, just after `disconnect`.
    let before = prefetch_line(&listener.log());
    for side in [&mut a, &mut b, &mut c, &mut d] {
        super::dap::disconnect(&mut side.client).await;
    }
    let mut counts = None;
    for _ in 0..40 {
        let line = prefetch_line(&listener.log());
        if line.is_some() && line != before {
            counts = line.as_deref().map(prefetch_counts);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    match counts {
        Some(counts) if !counts.is_empty() => {
            for (name, value) in counts {
                report.figure(&format!("steps.prefetch.{name}"), value as f64, "requests")?;
            }
        }
        _ => progress("steps: dockdap logged no prefetch counts (DOCKDAP_LOG hides them?)"),
    }
    Ok(())
}
