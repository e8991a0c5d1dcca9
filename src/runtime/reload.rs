//! Reloading the app in place, in the container it runs in: for a server
//! that forks workers (gunicorn, which the Azure ML inference server runs),
//! a graceful worker restart (SIGHUP to the master), so the new workers
//! import the edited code and run `init()` again.
//!
//! Everything goes through `Runtime::exec_stream`/`exec` and the small
//! program `python/reload.py`, which reads `/proc` inside the container, so
//! every runtime that can run a process (Docker, Compose, Kubernetes)
//! reloads the same way. One reloader process finds the server and, told
//! to, replaces its workers (`find_ahead`, `Reloader::reload`). This module does not speak DAP: re-attaching the debugger to
//! the new worker is the session's (`session::reattach`).

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::programs::WAITER;
use super::{ContainerError, Link, Runtime};
use crate::transport::{BoxRead, BoxWrite};

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

/// Words of a command line shown to the user: a command line can carry a
/// secret (debugpy's adapter its `--server-access-token`, apps their
/// `--password=...`), so the value of any option whose name speaks of one
/// is masked, and only the first few words are shown.
pub(crate) fn shown_command(command: &str) -> String {
    const SECRET: [&str; 5] = ["token", "secret", "password", "passwd", "key"];
    let secret = |name: &str| SECRET.iter().any(|s| name.to_ascii_lowercase().contains(s));
    let mut shown = Vec::new();
    let mut mask_next = false;
    for word in command.split_whitespace().take(6) {
        if mask_next {
            shown.push("***".to_owned());
            mask_next = false;
        } else if let Some((name, _)) = word.split_once('=').filter(|(n, _)| n.starts_with('-') && secret(n)) {
            shown.push(format!("{name}=***"));
        } else {
            mask_next = word.starts_with('-') && secret(word);
            shown.push(word.to_owned());
        }
    }
    if command.split_whitespace().count() > 6 {
        shown.push("...".to_owned());
    }
    shown.join(" ")
}

/// The reloader's answer to `find`: the server, or why there is none.
fn target_of(said: &str, ended: &str) -> Result<Target, ContainerError> {
    if let Ok(target) = serde_json::from_str::<Target>(said) {
        return Ok(target);
    }
    let running = match serde_json::from_str::<Refusal>(said) {
        Ok(refusal) if !refusal.processes.is_empty() => {
            let shown: Vec<String> = refusal.processes.iter().map(|c| shown_command(c)).collect();
            format!("it runs {}", shown.join("; "))
        }
        Ok(refusal) => refusal.error,
        Err(_) => format!("the reloader said {said:?} ({ended})"),
    };
    Err(ContainerError::Unsupported(format!(
        "the app cannot be reloaded in place: no server that forks workers (gunicorn, azmlinfsrv) runs in the container ({running}); use `restart` to start it again"
    )))
}

/// A reloader started ahead (`reload.py serve`): it has found the server
/// and waits on its stdin for the word to reload it. Once the debugger has
/// detached from the old worker, the reload then needs no `docker exec` of
/// its own (a process started through the engine takes 0.1 to 0.7 s, the
/// more the busier the machine). Dropped, it exits without reloading.
pub struct Reloader(Box<(BufReader<BoxRead>, BoxWrite)>);

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reloader")
    }
}

/// Finds the pre-forking server in the container, by a reloader that then
/// waits to reload it; the error says why there is none, and what to do
/// instead. `Target::ours` are the adapters of dockdap's listening on
/// `debug_port`: the next one, started meanwhile, does not listen there
/// until it is attached, so it is not taken for old.
pub async fn find_ahead(runtime: &dyn Runtime, debug_port: u16) -> Result<(Target, Reloader), ContainerError> {
    for python in ["python3", "python"] {
        let command = vec![python.into(), "-c".into(), RELOADER.into(), "serve".into(), debug_port.to_string()];
        let Link { reader, writer } = runtime.exec_stream(command, Vec::new()).await?;
        let mut reader = BufReader::new(reader);
        let mut said = String::new();
        let _ = reader.read_line(&mut said).await;
        if said.trim().is_empty() && python == "python3" {
            continue; // no python3 in the image: its `python`
        }
        let target = target_of(said.trim(), "then it ended")?;
        return Ok((target, Reloader(Box::new((reader, writer)))));
    }
    Err(ContainerError::Unusable(
        "the app cannot be reloaded in place: the container has no python3 or python to run dockdap's reloader".into(),
    ))
}

impl Reloader {
    /// `reload`, by this reloader.
    pub async fn reload(self, target: &Target) -> Result<Reloaded, ContainerError> {
        let (mut reader, mut writer) = *self.0;
        let line = format!("{}\n", reload_args(target).join(" "));
        let sent = async {
            writer.write_all(line.as_bytes()).await?;
            writer.flush().await
        };
        if let Err(e) = sent.await {
            return Err(ContainerError::Unusable(format!("the reloader started ahead is gone: {e}")));
        }
        let mut said = String::new();
        let _ = reader.read_line(&mut said).await;
        reloaded_of(target, said.trim(), "then it ended")
    }
}

/// Reloads the workers of `target` (SIGHUP to its master), after ending
/// the debugpy adapters dockdap ran in the container when `target` was
/// found (they hold the debug port the new worker connects to). When debugpy runs in the workers
/// themselves, waits until the old workers and their adapters are gone
/// (they hold the port the new worker listens on).
pub async fn reload(runtime: &dyn Runtime, target: &Target) -> Result<Reloaded, ContainerError> {
    let args = reload_args(target);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(runtime, &args).await?;
    reloaded_of(target, out.stdout.trim(), &format!("exit code {}", out.code))
}

/// The reloader's command line for `target`: `reload MASTER WAIT ENDS PID...`.
fn reload_args(target: &Target) -> Vec<String> {
    let wait = if target.adapters.is_empty() { "0" } else { "1" };
    let ends: Vec<String> = target.ours.iter().map(u32::to_string).collect();
    let ends = if ends.is_empty() { "-".to_owned() } else { ends.join(",") };
    let mut args = vec!["reload".to_owned(), target.master.to_string(), wait.to_owned(), ends];
    args.extend(target.workers.iter().chain(&target.adapters).map(u32::to_string));
    args
}

/// The reloader's answer to `reload`.
fn reloaded_of(target: &Target, said: &str, ended: &str) -> Result<Reloaded, ContainerError> {
    serde_json::from_str(said).map_err(|_| {
        ContainerError::Unusable(format!(
            "reloading the workers of {} (pid {}) failed: {said:?} ({ended})",
            target.server, target.master
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
    let mut all = vec!["-c", RELOADER];
    all.extend_from_slice(args);
    run_python(runtime, &all).await
}

/// Runs the container's Python (`python3`, else `python`) with `args`.
pub(crate) async fn run_python(runtime: &dyn Runtime, args: &[&str]) -> Result<super::ExecOutput, ContainerError> {
    let mut last = None;
    for python in ["python3", "python"] {
        let mut command = vec![python];
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
    fn command_lines_shown_to_the_user_carry_no_secret() {
        let adapter = "python3 -m debugpy.adapter --for-server 41235 --server-access-token abc123 --port 5678";
        assert_eq!(shown_command(adapter), "python3 -m debugpy.adapter --for-server 41235 --server-access-token ...");
        assert_eq!(shown_command("adapter --server-access-token abc123"), "adapter --server-access-token ***");
        assert_eq!(shown_command("app --db-password=hunter2 --port 1"), "app --db-password=*** --port 1");
        assert_eq!(shown_command("python3 app.py"), "python3 app.py");
    }

    #[test]
    fn the_reloaders_answers_are_read() {
        let target: Target =
            serde_json::from_str(r#"{"server": "azmlinfsrv", "master": 7, "workers": [9], "adapters": []}"#).unwrap();
        assert_eq!(target.master, 7);
        let done: Reloaded = serde_json::from_str(r#"{"workers": [12], "waited": 0.1, "left": []}"#).unwrap();
        assert_eq!(done.workers, [12]);
        assert!(serde_json::from_str::<Target>(r#"{"error": "no pre-forking server", "processes": []}"#).is_err());
    }

    #[test]
    fn a_refusal_says_what_runs_and_a_reload_names_what_to_end() {
        let refused = r#"{"error": "no pre-forking server", "processes": ["python3 app.py"]}"#;
        let why = target_of(refused, "exit code 3").unwrap_err().to_string();
        assert!(why.contains("(it runs python3 app.py); use `restart`"), "{why}");
        let target: Target = serde_json::from_str(
            r#"{"server": "gunicorn", "master": 1, "workers": [9], "adapters": [12], "ours": [5, 6]}"#,
        )
        .unwrap();
        assert_eq!(reload_args(&target), ["reload", "1", "1", "5,6", "9", "12"]);
    }
}
