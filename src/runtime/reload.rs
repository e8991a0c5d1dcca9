//! Reloading the app in place, in the container it runs in: for a server
//! that forks workers (gunicorn, which the Azure ML inference server runs),
//! a graceful worker restart (SIGHUP to the master), so the new workers
//! import the edited code and run `init()` again.
//!
//! Everything goes through `Runtime::exec` and the small program
//! `python/reload.py`, which reads `/proc` inside the container, so every
//! runtime that can run a process (Docker, Compose, Kubernetes) reloads the
//! same way. This module does not speak DAP: re-attaching the debugger to
//! the new worker is the session's (`session::reattach`).

use serde::Deserialize;

use super::programs::WAITER;
use super::{ContainerError, Link, Runtime};

/// The reloader (`python/reload.py`), run with `python -c`.
pub const RELOADER: &str = include_str!("python/reload.py");

/// The server whose workers a reload replaces.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Target {
    /// `azmlinfsrv` or `gunicorn`.
    pub server: String,
    /// The master's pid (in the container's pid namespace).
    pub master: u32,
    /// Its workers now.
    pub workers: Vec<u32>,
    /// debugpy adapters that `debugpy.listen()` started in the workers:
    /// they end with their worker and hold the debug port until then.
    #[serde(default)]
    pub adapters: Vec<u32>,
    /// The debugpy adapters dockdap runs in the container (debugger
    /// "azureml"), found before dockdap started the next one: ended first.
    #[serde(default)]
    pub ours: Vec<u32>,
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Reloaded {
    /// The new workers.
    pub workers: Vec<u32>,
    /// Seconds until the old workers were gone.
    pub waited: f64,
    /// Old processes still there after the wait.
    #[serde(default)]
    pub left: Vec<u32>,
}

/// Why the app cannot be reloaded in place.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct Refusal {
    error: String,
    #[serde(default)]
    processes: Vec<String>,
}

/// Finds the pre-forking server in the container; the error says why
/// there is none, and what to do instead. `Target::ours` are the adapters
/// of dockdap's listening on `debug_port`: the next one, started meanwhile,
/// does not listen there until it is attached, so it is not taken for old.
pub async fn find(runtime: &dyn Runtime, debug_port: u16) -> Result<Target, ContainerError> {
    let port = debug_port.to_string();
    let out = run(runtime, &["find", &port]).await?;
    if let Ok(target) = serde_json::from_str::<Target>(out.stdout.trim()) {
        return Ok(target);
    }
    let running = match serde_json::from_str::<Refusal>(out.stdout.trim()) {
        Ok(refusal) if !refusal.processes.is_empty() => format!("it runs {}", refusal.processes.join("; ")),
        Ok(refusal) => refusal.error,
        Err(_) => format!("the reloader said {:?} (exit code {})", out.stdout.trim(), out.code),
    };
    Err(ContainerError::Unsupported(format!(
        "the app cannot be reloaded in place: no server that forks workers (gunicorn, azmlinfsrv) runs in the container ({running}); use `restart` to start it again"
    )))
}

/// Reloads the workers of `target` (SIGHUP to its master), after ending
/// the debugpy adapters dockdap ran in the container when `target` was
/// found (they hold the debug port the new worker connects to). When debugpy runs in the workers
/// themselves, waits until the old workers and their adapters are gone
/// (they hold the port the new worker listens on).
pub async fn reload(runtime: &dyn Runtime, target: &Target) -> Result<Reloaded, ContainerError> {
    let wait = if target.adapters.is_empty() { "0" } else { "1" };
    let ends: Vec<String> = target.ours.iter().map(u32::to_string).collect();
    let ends = if ends.is_empty() { "-".to_owned() } else { ends.join(",") };
    let mut args = vec!["reload".to_owned(), target.master.to_string(), wait.to_owned(), ends];
    args.extend(target.workers.iter().chain(&target.adapters).map(u32::to_string));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(runtime, &args).await?;
    serde_json::from_str(out.stdout.trim()).map_err(|_| {
        ContainerError::Unusable(format!(
            "reloading the workers of {} (pid {}) failed: {:?} (exit code {})",
            target.server,
            target.master,
            out.stdout.trim(),
            out.code
        ))
    })
}

/// Waits until something listens on `port` inside the container (a
/// debugpy that the new worker starts itself), at most `seconds`.
/// The waiter (`programs::WAITER`) runs while its stdin is open, so it
/// runs as a stream and its answer is read from it.
pub async fn until_listening(runtime: &dyn Runtime, port: u16, seconds: f64) -> Result<(), ContainerError> {
    for python in ["python3", "python"] {
        let command = vec![python.into(), "-c".into(), WAITER.into(), port.to_string(), format!("{seconds:.1}")];
        let Link { mut reader, writer } = runtime.exec_stream(command, Vec::new()).await?;
        let mut out = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut out).await;
        drop(writer);
        if out.starts_with(b"listening") {
            return Ok(());
        }
        if !out.is_empty() || python == "python" {
            break;
        }
    }
    Err(ContainerError::Unusable(format!(
        "nothing listened on the debug port {port} in the container within {seconds:.0}s after the process was replaced; is debugpy started by the new process?"
    )))
}

/// Runs the reloader with the container's Python (`python3`, else `python`).
async fn run(runtime: &dyn Runtime, args: &[&str]) -> Result<super::ExecOutput, ContainerError> {
    let mut last = None;
    for python in ["python3", "python"] {
        let mut command = vec![python, "-c", RELOADER];
        command.extend_from_slice(args);
        match runtime.exec(&command).await {
            Ok(out) if out.code == 126 || out.code == 127 => last = Some(Ok(out)),
            Ok(out) => return Ok(out),
            Err(e @ (ContainerError::Paused { .. } | ContainerError::Frozen { .. })) => return Err(e),
            Err(e) => last = Some(Err(e)),
        }
    }
    match last {
        Some(Err(e)) => Err(e),
        _ => Err(ContainerError::Unusable(
            "the app cannot be reloaded in place: the container has no python3 or python to run dockdap's reloader"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reloaders_answers_are_read() {
        let target: Target =
            serde_json::from_str(r#"{"server": "azmlinfsrv", "master": 7, "workers": [9], "adapters": []}"#).unwrap();
        assert_eq!(target.master, 7);
        let done: Reloaded = serde_json::from_str(r#"{"workers": [12], "waited": 0.1, "left": []}"#).unwrap();
        assert_eq!(done.workers, [12]);
        assert!(serde_json::from_str::<Target>(r#"{"error": "no pre-forking server", "processes": []}"#).is_err());
    }
}
