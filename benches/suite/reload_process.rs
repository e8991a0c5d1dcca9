//! Part `reload_process` (issue 18): the edit loop for an app that no
//! pre-forking server runs. One session launched by dockdap on the plain
//! Python image, running `tests/fixtures/plain/app.py` as pid 1 (`python3
//! app.py`, debugpy injected), with a breakpoint on its start-up line.
//! Each round saves an edit to the workspace's `app.py` and then times, to
//! the next `stopped` on that line, `dockdap/reload` (the container
//! restarted in place, the debugger attached to the new run) against DAP
//! `restart` (the container recreated from the image); the arms alternate
//! A B B A in the same session, on the same image, in the same run.

use std::time::Duration;

use serde_json::json;

use super::dap::{self, configure, connect, initialize_arguments, line_of};
use super::docker::Containers;
use super::procs::Listener;
use super::report::progress;
use super::{Options, Prerequisites, Reporter};

/// A Debian image with Python only: dockdap injects debugpy.
pub const PYTHON: &str = "dockdap/python:3.11-bookworm";

/// Writes the app into a container that has none, then runs it as pid 1.
const START: &str = "mkdir -p /app && { test -f /app/app.py || printf '%s' \"$DOCKDAP_BENCH_APP\" > /app/app.py; } \
                     && exec python3 /app/app.py";

/// Runs the part on `listener`'s dockdap; skipped when the engine, the
/// image or this machine's debugpy (which dockdap copies in) is missing.
pub async fn run(
    report: &mut Reporter<'_>,
    options: &Options,
    prereq: &Prerequisites,
    listener: &Listener,
) -> anyhow::Result<()> {
    let missing = match (&prereq.no_docker, &prereq.no_debugpy) {
        (Some(why), _) | (None, Some(why)) => Some(why.clone()),
        (None, None) => super::docker::check(PYTHON).await.err(),
    };
    if let Some(why) = missing {
        return report.skip("reload_process", &why);
    }
    let rounds = if options.quick { 1 } else { 2 };
    progress(&format!("reload_process: {rounds} rounds of reload, restart, restart, reload"));
    let dir = tempfile::tempdir()?;
    let workspace = dir.path().join("project");
    std::fs::create_dir(&workspace)?;
    let source = std::fs::read_to_string(options.source_root.join("tests/fixtures/plain/app.py"))?;
    let app = workspace.join("app.py");
    std::fs::write(&app, &source)?;
    let line = line_of(&app, "dockdap-test: serving")?;
    let mut containers = Containers::default();
    let name = containers.name("reload-process");
    let mut client = connect(&listener.addr).await?;
    client.set_timeout(Duration::from_secs(180));
    client.request("initialize", initialize_arguments()).await?;
    let args = json!({"type": "dockdap", "request": "launch", "name": "bench", "image": PYTHON,
                      "containerName": name, "command": ["sh", "-c", START], "env": {"DOCKDAP_BENCH_APP": source},
                      "appRoot": "/app", "localRoot": workspace, "ports": [], "timeout": 60});
    let thread = configure(&mut client, "launch", args, &app.to_string_lossy(), &[line]).await?;
    let result = super::reload::alternate(&mut client, &app, rounds, thread, (line, None)).await;
    dap::disconnect(&mut client).await;
    drop(containers);
    let (reload, restart) = result?;
    report.figure("reload_process.reload.median", reload.median() / 1000.0, "s")?;
    report.figure("reload_process.restart.median", restart.median() / 1000.0, "s")?;
    report.figure("reload_process.ratio", reload.median() / restart.median(), "x")?;
    report.goal("edit + reload of a plain app to `stopped`, reload / restart", "reload_process.ratio", None);
    Ok(())
}
