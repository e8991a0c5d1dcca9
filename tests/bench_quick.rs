//! The benchmark suite (`benches/dockdap.rs`) in quick mode: each part once,
//! at a small size, checking only that it runs and prints its figures. No
//! time is asserted. Parts that need debugpy or Docker fail under `CI=true`
//! when those are missing, and are skipped loudly elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../benches/suite/mod.rs"]
mod suite;
mod support;

use std::path::PathBuf;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_benchmarks_run_and_print_every_figure() {
    let options = suite::Options::new(true, PathBuf::from(env!("CARGO_BIN_EXE_dockdap")));
    let mut out = Vec::new();
    let report = suite::run(&options, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    eprintln!("{text}");
    for skipped in &report.skipped {
        // Fails under CI=true, where debugpy and Docker must be there.
        support::require(skipped, false);
    }

    // Every figure line is `name value unit` with a number for the value.
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with(['#', '|']) && !l.starts_with("note:")) {
        let words: Vec<&str> = line.split(' ').collect();
        if line.contains(" not implemented yet") || line.contains(" skipped: ") {
            continue;
        }
        assert!(words.len() >= 3, "not `name value unit`: {line:?}");
        assert!(words[1].parse::<f64>().is_ok(), "not a number in {line:?}");
    }
    let names: Vec<&str> = report.figures.iter().map(|f| f.name.as_str()).collect();
    let mut expected = vec![
        "throughput.messages.ratio",
        "throughput.mb.ratio",
        "big.to_adapter.ratio",
        "big.to_client.ratio",
        "footprint.idle.peak_rss",
        "footprint.flood.peak_rss",
        "footprint.sessions.rss_growth",
    ];
    if report.skipped.iter().all(|s| !s.starts_with("roundtrip.proxy")) {
        expected.extend(["roundtrip.proxy.iteration.ratio", "roundtrip.proxy_tuned.iteration.ratio"]);
        expected.extend(["roundtrip.proxy.variables.ratio", "roundtrip.proxy_tuned.iteration.relay_ratio"]);
        expected.push("footprint.roundtrip.peak_rss");
        expected.extend(["steps.ratio", "steps.stock_ratio"]);
    }
    if report.skipped.iter().all(|s| !s.starts_with("roundtrip.user") && !s.starts_with("launch")) {
        expected.extend([
            "roundtrip.user.iteration.ratio",
            "roundtrip.user.next.ratio",
            "tune.threads.ratio",
            "launch.ratio",
        ]);
    }
    if report.skipped.iter().all(|s| !s.starts_with("sync") && !s.starts_with("commit")) {
        expected.extend([
            "sync.container_to_workspace.median",
            "sync.workspace_to_container.median",
            "sync.container_to_workspace.cp_ratio",
            "sync.workspace_to_container.cp_ratio",
            "sync.new_file_to_workspace.median",
            "sync.deletion_to_workspace.p90",
            "sync.idle.watcher_cpu",
            "commit.ratio",
        ]);
    }
    if report.skipped.iter().all(|s| !s.starts_with("reload:")) {
        expected.extend(["reload.reload.median", "reload.restart.median", "reload.ratio"]);
    }
    if report.skipped.iter().all(|s| !s.starts_with("reload_process:")) {
        expected.extend(["reload_process.reload.median", "reload_process.restart.median", "reload_process.ratio"]);
    }
    if report.skipped.iter().all(|s| !s.starts_with("kube")) {
        expected.extend(["kube.launch.ratio", "kube.stack_trace.ratio"]);
    }
    for name in expected {
        let figure = report.figures.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("no {name} in {names:?}"));
        assert!(figure.value.is_finite() && figure.value >= 0.0, "{name} = {}", figure.value);
    }
    assert!(report.not_implemented.is_empty(), "every part is implemented: {:?}", report.not_implemented);
    assert!(text.contains("| what | figure | value | goal |"), "the summary table: {text}");
}
