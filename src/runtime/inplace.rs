//! Reloading an app that no pre-forking server runs (a Flask or uvicorn
//! dev server, `python app.py`, a plain script): its container is restarted
//! in place, so its main process starts again and imports the edited code,
//! while the container's files (debugpy and the bootstrap dockdap copied in,
//! the files sync put there, edits made inside) stay: a restart keeps the
//! writable layer, where a new container from the image would not.
//!
//! Here: which way an app reloads (`plan`: gunicorn's workers through
//! `reload`, else the container), and what its main process is
//! (`python/pid1.py`, through `Runtime::exec`), which decides how long the
//! restart waits for it after SIGTERM. Restarting is the runtime's
//! (`Runtime::restart_in_place`); re-attaching is the session's.

use std::time::Duration;

use serde::Deserialize;

use super::reload::{self, Reloader, Target};
use super::{ContainerError, Runtime};

/// The look at pid 1 (`python/pid1.py`), run with `python -c`.
pub const PID1: &str = include_str!("python/pid1.py");

/// How long a main process that handles SIGTERM may take to end (the
/// engine's own default for `docker restart`).
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How the app is reloaded in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// The pre-forking server replaces its workers (`reload::reload`).
    Workers(Target),
    /// The container is restarted in place (`Runtime::restart_in_place`).
    Process(MainProcess),
}

/// The container's main process (pid 1), as `python/pid1.py` saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct MainProcess {
    /// Its command line; empty when it could not be read.
    pub command: Vec<String>,
    /// Whether it handles SIGTERM (else SIGTERM does nothing to a pid 1).
    pub catches_term: bool,
}

impl MainProcess {
    /// How long the restart waits after SIGTERM before killing it: nothing
    /// when it ignores SIGTERM (a pid 1 without a handler cannot get it).
    pub fn stop_grace(&self) -> Duration {
        if self.catches_term || self.command.is_empty() { STOP_GRACE } else { Duration::ZERO }
    }

    /// What it is, for the console: `the app itself (python3 app.py)`,
    /// `a shell (sh -c ...)`, `an init (tini -- ...)`.
    pub fn describe(&self) -> String {
        let Some(first) = self.command.first() else { return "not readable".to_owned() };
        // No secret of its command line in the console (`reload::shown_command`).
        let mut line = reload::shown_command(&self.command.join(" "));
        if line.chars().count() > 80 {
            line = line.chars().take(77).collect::<String>() + "...";
        }
        let program = first.rsplit('/').next().unwrap_or(first);
        let what = match program {
            "sh" | "bash" | "dash" | "ash" | "zsh" => "a shell",
            "tini" | "tini-static" | "dumb-init" | "docker-init" | "catatonit" | "s6-svscan" => "an init",
            p if p.starts_with("python") || p == "uvicorn" || p == "flask" || p == "hypercorn" => "the app itself",
            _ => "",
        };
        if what.is_empty() { format!("`{line}`") } else { format!("{what} (`{line}`)") }
    }

    /// What the restart does to it, for the console.
    pub fn stopping(&self) -> String {
        if self.stop_grace().is_zero() {
            "it does not handle SIGTERM, so it is stopped at once".to_owned()
        } else {
            format!("it is given {}s to end after SIGTERM", self.stop_grace().as_secs())
        }
    }
}

/// Finds how the app reloads in place: the pre-forking server's workers
/// (with the reloader that found them, waiting to replace them; see
/// `reload::find_ahead` for `debug_port`), else the container restarted;
/// the error says why neither can be done (a pod's container), and offers
/// `restart`.
pub async fn plan(runtime: &dyn Runtime, debug_port: u16) -> Result<(Reload, Option<Reloader>), ContainerError> {
    let no_server = match reload::find_ahead(runtime, debug_port).await {
        Ok((target, reloader)) => return Ok((Reload::Workers(target), Some(reloader))),
        Err(ContainerError::Unsupported(why)) => why,
        Err(e) => return Err(e),
    };
    if let Err(why) = runtime.restartable() {
        return Err(ContainerError::Unsupported(refusal(&no_server, &why)));
    }
    Ok((Reload::Process(main_process(runtime).await), None))
}

/// Why neither way works: no pre-forking server (`no_server`, as
/// `reload::find_ahead` said it), and no restart in place (`why`).
fn refusal(no_server: &str, why: &str) -> String {
    let no_server = no_server.strip_suffix("; use `restart` to start it again").unwrap_or(no_server);
    format!("{no_server}, and its main process cannot be restarted in place: {why}; use `restart` to start it again")
}

/// Reads what pid 1 is; when it cannot be read, an unknown process that
/// gets the full grace.
async fn main_process(runtime: &dyn Runtime) -> MainProcess {
    match reload::run_python(runtime, &["-c", PID1]).await {
        Ok(out) => serde_json::from_str(out.stdout.trim()).unwrap_or_else(|_| {
            tracing::debug!(out = %out.stdout.trim(), code = out.code, "pid 1 could not be read");
            MainProcess::default()
        }),
        Err(e) => {
            tracing::debug!(error = %e, "pid 1 could not be read");
            MainProcess::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(command: &[&str], catches_term: bool, describe: &str, grace: u64) {
        let main = MainProcess { command: command.iter().map(|w| (*w).to_owned()).collect(), catches_term };
        assert_eq!(main.describe(), describe);
        assert_eq!(main.stop_grace().as_secs(), grace);
    }

    #[test]
    fn the_main_process_is_told_apart() {
        check(&["python3", "/app/app.py"], false, "the app itself (`python3 /app/app.py`)", 0);
        check(&["/bin/sh", "-c", "python3 app.py"], false, "a shell (`/bin/sh -c python3 app.py`)", 0);
        check(&["/usr/bin/tini", "--", "python3", "app.py"], true, "an init (`/usr/bin/tini -- python3 app.py`)", 10);
        check(&["uvicorn", "main:app"], true, "the app itself (`uvicorn main:app`)", 10);
        check(&["/srv/serve"], false, "`/srv/serve`", 0);
        check(&[], false, "not readable", 10);
        let long = ["python3"].into_iter().chain(std::iter::repeat_n("--flag", 30)).collect::<Vec<_>>();
        assert!(
            MainProcess { command: long.iter().map(|w| (*w).to_owned()).collect(), catches_term: false }
                .describe()
                .ends_with("...`)")
        );
    }

    #[test]
    fn a_pod_says_why_it_cannot_be_reloaded_and_offers_restart() {
        let no_server = "the app cannot be reloaded in place: no server that forks workers (gunicorn, azmlinfsrv) runs in the container (it runs python3 app.py); use `restart` to start it again";
        let why = "Kubernetes cannot restart the container of pod web-1 in place: a restarted container starts again from its image, without the files synced into it";
        assert_eq!(
            refusal(no_server, why),
            "the app cannot be reloaded in place: no server that forks workers (gunicorn, azmlinfsrv) runs in the container (it runs python3 app.py), and its main process cannot be restarted in place: Kubernetes cannot restart the container of pod web-1 in place: a restarted container starts again from its image, without the files synced into it; use `restart` to start it again"
        );
    }

    #[test]
    fn the_look_at_pid_1_is_read() {
        let main: MainProcess =
            serde_json::from_str(r#"{"command": ["python3", "app.py"], "catches_term": false}"#).unwrap();
        assert_eq!(main.stop_grace(), Duration::ZERO);
    }
}
