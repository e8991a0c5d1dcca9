//! dockdap's benchmarks against the direct path, in one run:
//!
//! ```text
//! cargo bench --bench dockdap               # the full suite (about 9 minutes on 2 cores)
//! cargo bench --bench dockdap -- --quick    # each part once, at a small size
//! cargo bench --bench dockdap -- --only roundtrip,throughput
//! cargo bench --bench dockdap -- --only reload   # issue 18's figure alone
//! cargo bench --bench dockdap -- --only kube   # the Kubernetes row alone
//! cargo bench --bench dockdap -- --only engines  # remote engines and Podman (root; not in the full run)
//! ```
//!
//! `DOCKDAP_LOG=dockdap=info DOCKDAP_BENCH_LOG_FILE=/tmp/dockdap.log` keeps
//! the benchmarked dockdap's whole log in that file (where a part's time goes).
//!
//! One line per figure (`name value unit`) on stdout as it is measured, then
//! a summary table with the goals of issues 9 and 10; progress on stderr.
//! Needs debugpy for `python3` (or `DOCKDAP_TEST_PYTHON`) and a Docker
//! Engine with `dockdap/azureml-score:debug` (`images/build-images.sh`); a
//! part whose needs are missing says so and is skipped. `suite/mod.rs`
//! describes the parts. Run without cargo bench's `--bench` flag (as
//! `cargo test --benches` does), it runs in quick mode unless given `--full`.

#[path = "suite/mod.rs"]
mod suite;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: cargo bench --bench dockdap [-- --quick | --full] [--only PART[,PART...]]\nparts: roundtrip (or one of its pieces: proxy, proxy_tuned, steps, user), throughput, launch, sync, watcher, commit, reload, reload_process, kube, footprint, engines (only when named)";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut bench, mut quick, mut full, mut only) = (false, false, false, Vec::new());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bench" => bench = true,
            "--quick" => quick = true,
            "--full" => full = true,
            "--only" => only.extend(args.next().unwrap_or_default().split(',').map(str::to_owned)),
            "-h" | "--help" => {
                let _ = writeln!(std::io::stderr(), "{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                let _ = writeln!(std::io::stderr(), "unknown argument {other:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(part) = only.iter().find(|p| !suite::PARTS.contains(&p.as_str())) {
        let _ = writeln!(std::io::stderr(), "unknown part {part:?}\n{USAGE}");
        return ExitCode::from(2);
    }
    let mut options = suite::Options::new(quick || !(bench || full), PathBuf::from(env!("CARGO_BIN_EXE_dockdap")));
    options.only = only;
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout();
    match runtime.block_on(suite::run(&options, &mut stdout)) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "bench: failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
