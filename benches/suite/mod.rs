//! dockdap's benchmark suite: every figure is dockdap against the best
//! alternative, measured in the same run, because absolute times on shared
//! two-core machines drift.
//!
//! Shared by `benches/dockdap.rs` (`cargo bench --bench dockdap`, the full
//! run, or `-- --quick`) and `tests/bench_quick.rs` (quick mode under
//! `cargo test`). The parts, in the order they run:
//!
//! 1. `roundtrip`: a scripted session (breakpoint in a loop, then N times
//!    `continue` -> `stopped`, `threads`, `stackTrace` (20 frames), `scopes`,
//!    `variables` (100 locals)) direct to debugpy and through dockdap, the two
//!    sessions open side by side and their iterations alternating A B B A.
//!    (a) `roundtrip.proxy`: both sides against the same untuned debugpy on
//!    this machine; `roundtrip.proxy_tuned`: the same with TCP_NODELAY on
//!    debugpy's sockets, where the proxy's own cost is not hidden under a 40 ms
//!    stall. (b) `roundtrip.user`: dockdap as it runs by default (a container
//!    it launched, `tuneDebugger` on) against the stock debugpy in a container
//!    started by hand, with `next` -> `stopped` added (issue 10's figure).
//!    (c) `steps`: the step cycle (`next` -> `stopped`, `threads`,
//!    `stackTrace`, `scopes`, `variables`, each after the previous answer)
//!    through dockdap, straight to a tuned debugpy and straight to the stock
//!    one, side by side (issue 22).
//! 2. `throughput`: a synthetic adapter floods 1 KiB `output` events; dockdap
//!    against a raw byte relay (`copy_bidirectional`); one 16 MiB message
//!    each way.
//! 3. `launch`: `launch` to the first `stopped` in `init()` against the
//!    manual routine (create + start by API, connect straight to debugpy).
//! 4. `sync`: on a session dockdap launched from a copy of the example
//!    (sync `auto` both ways), a container edit until the workspace file
//!    holds it, and a workspace save until the container's file holds it,
//!    each against `docker cp` of the same file; then `watcher` (also run
//!    alone, `--only watcher`), the changes the container's watcher carries
//!    (`watcher.rs`). 5. `commit`:
//!    `dockdap/commit` against `docker commit` (both without a pause) of
//!    that container, A B B A. Both in `files.rs`.
//! 6. `reload`: on a session dockdap launched from the stock image (the
//!    Azure ML hook), an edit then `dockdap/reload` to the next `stopped` in
//!    `init()`, against an edit then DAP `restart` to the same stop, A B B A
//!    (issue 18; `reload.rs`); then `reload_process`, the same for a plain
//!    `python3 app.py` on the Python image, whose container a reload
//!    restarts in place (`reload_process.rs`).
//! 7. `kube`: the Kubernetes runtime through the Kubernetes API simulation
//!    against the Docker runtime: `launch` to the first `stopped` in
//!    `init()` (a debug copy of a Deployment against a container), and
//!    `stackTrace` round trips through the API server's exec stream against
//!    Docker's exec stream (`kube.rs`). It runs before `footprint`'s
//!    sessions, on the same dockdap process as parts 1, 3, 4, 5 and 6.
//! 8. `footprint`: dockdap's peak RSS (VmHWM) idle, under 1 and under 2, and
//!    its RSS over many sessions.
//! 9. `engines`, only when named (`--only engines`: it starts the test
//!    engines of `scripts/engines.sh`, as root): launch to the first stop,
//!    `stackTrace` and a forwarded scoring request on a remote engine over
//!    TLS and over SSH and on Podman, against the same on the local engine,
//!    and scoring requests while `docker diff` runs (`engines.rs`).
//!
//! Quick mode runs each part once at a small size and checks only that it
//! works. Nothing here asserts a time.

#![allow(dead_code)]

pub mod dap;
pub mod docker;
pub mod engines;
pub mod files;
pub mod footprint;
pub mod kube;
pub mod launch;
pub mod procs;
pub mod reload;
pub mod reload_process;
pub mod report;
pub mod roundtrip;
pub mod stats;
pub mod steps;
pub mod synthetic;
pub mod throughput;
pub mod watcher;

use std::io::Write;
use std::path::PathBuf;

pub use report::{Reporter, Summary};

/// The parts, by name (for `--only`). `proxy`, `proxy_tuned`, `steps` and
/// `user` are the pieces of `roundtrip`, to run one alone.
pub const PARTS: &[&str] = &[
    "roundtrip",
    "throughput",
    "launch",
    "sync",
    "watcher",
    "commit",
    "reload",
    "reload_process",
    "kube",
    "footprint",
    "engines",
    "proxy",
    "proxy_tuned",
    "steps",
    "user",
];
/// Parts run only when named in `--only`.
pub const ON_REQUEST: &[&str] = &["engines"];

/// The pieces of part 1.
const ROUNDTRIP_PIECES: &[&str] = &["proxy", "proxy_tuned", "steps", "user"];

/// How to run the suite.
#[derive(Debug, Clone)]
pub struct Options {
    /// Each part once, at a small size.
    pub quick: bool,
    /// Run only these parts (all when empty).
    pub only: Vec<String>,
    /// The dockdap binary.
    pub dockdap_bin: PathBuf,
    /// The source checkout (for `benches/workload.py` and the example app).
    pub source_root: PathBuf,
    /// The Python that runs debugpy on this machine.
    pub python: String,
}

impl Options {
    /// Options for this checkout. `DOCKDAP_BENCH_DOCKDAP` replaces the
    /// dockdap binary (e.g. a script that runs it under a profiler).
    pub fn new(quick: bool, dockdap_bin: PathBuf) -> Options {
        Options {
            quick,
            only: Vec::new(),
            dockdap_bin: std::env::var_os("DOCKDAP_BENCH_DOCKDAP").map(PathBuf::from).unwrap_or(dockdap_bin),
            source_root: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
            python: std::env::var("DOCKDAP_TEST_PYTHON").unwrap_or_else(|_| "python3".into()),
        }
    }

    fn wants(&self, part: &str) -> bool {
        let named = self.only.iter().any(|p| p == part);
        named || (self.only.is_empty() && !ON_REQUEST.contains(&part))
    }

    /// Whether a piece of part 1 runs: asked for by name, or all of part 1.
    fn wants_piece(&self, piece: &str) -> bool {
        self.wants("roundtrip") || self.only.iter().any(|p| p == piece)
    }

    /// Iterations of the round-trip script per side (`DOCKDAP_BENCH_ITERATIONS`
    /// overrides, for experiments).
    pub fn iterations(&self) -> usize {
        let default = if self.quick { 20 } else { 500 };
        std::env::var("DOCKDAP_BENCH_ITERATIONS").ok().and_then(|n| n.parse().ok()).unwrap_or(default)
    }
}

/// Runs the suite, printing one `name value unit` line per figure on `out`
/// as it goes and the summary table at the end. Progress goes to stderr.
pub async fn run(options: &Options, out: &mut dyn Write) -> anyhow::Result<Summary> {
    let mut report = Reporter::new(out, options.quick);
    report.header(options)?;
    let prereq = Prerequisites::probe(options).await;

    // One dockdap process serves parts 1, 3, 4 and 5; its peak RSS is read idle
    // and after part 1.
    let mut listener = procs::Listener::spawn(&options.dockdap_bin, &options.source_root).await?;
    if options.wants("footprint") {
        footprint::idle(&mut report, &listener)?;
    }
    // The flood is CPU-bound on two cores: it runs first, before the Docker
    // parts leave the engine busy removing containers and images.
    if options.wants("throughput") {
        throughput::run(options, &mut report).await?;
    }
    if ROUNDTRIP_PIECES.iter().any(|piece| options.wants_piece(piece)) {
        roundtrip::run(options, &prereq, &listener, &mut report).await?;
        if options.wants("footprint") {
            footprint::after(&mut report, &listener, "footprint.roundtrip.peak_rss", 30.0)?;
        }
    }
    if options.wants("launch") {
        launch::run(options, &prereq, &listener, &mut report).await?;
    }
    if options.wants("sync") || options.wants("watcher") || options.wants("commit") {
        files::run(options, &prereq, &listener, &mut report).await?;
    }
    if options.wants("reload") {
        reload::run(&mut report, options, prereq.no_docker.as_deref(), &listener).await?;
    }
    if options.wants("reload_process") {
        reload_process::run(&mut report, options, &prereq, &listener).await?;
    }
    if options.wants("kube") {
        kube::run(options, &prereq, &listener, &mut report).await?;
    }
    listener.stop().await;
    if options.wants("engines") {
        engines::run(options, &mut report).await?;
    }
    if options.wants("footprint") {
        footprint::sessions(options, &mut report).await?;
    }
    report.summary()?;
    Ok(report.into_summary())
}

/// What this machine offers; a part whose needs are missing is skipped and
/// says so (`Reporter::skipped`), so that a caller can fail on it under CI.
#[derive(Debug, Clone)]
pub struct Prerequisites {
    /// Why debugpy cannot run on this machine, if it cannot.
    pub no_debugpy: Option<String>,
    /// Why Docker parts cannot run, if they cannot.
    pub no_docker: Option<String>,
}

/// The image every Docker part runs: the example deployment with debugpy.
pub const IMAGE: &str = "dockdap/azureml-score:debug";

impl Prerequisites {
    async fn probe(options: &Options) -> Prerequisites {
        let debugpy = tokio::process::Command::new(&options.python)
            .args(["-c", "import debugpy"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await;
        let no_debugpy = match debugpy {
            Ok(s) if s.success() => None,
            _ => Some(format!("{} cannot import debugpy (pip install debugpy)", options.python)),
        };
        let no_docker = docker::check(IMAGE).await.err();
        Prerequisites { no_debugpy, no_docker }
    }
}
