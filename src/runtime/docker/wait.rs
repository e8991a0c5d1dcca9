//! Waiting until debugpy listens inside a container, and finding the
//! container's Python on the way.
//!
//! One process does the waiting: `programs::WAITER` under the image's
//! `python3` (else `python`), reading the container's own socket tables
//! until the debug port listens. An image without Python on its `PATH` (that
//! still starts debugpy itself) is polled with `cat /proc/net/tcp` instead,
//! backing off to once a second. Either way the wait ends early when the
//! container exits (with its exit code and a reading of its last lines), and
//! at the timeout says whether the container was paused (`docker unpause`)
//! or debugpy just never listened. No process is started while the
//! container is paused (see `container::start_process`).

use std::time::Duration;

use tokio::io::AsyncBufReadExt;
use tokio::time::Instant;

use super::container::DebugContainer;
use super::exec;
use crate::config::TransportMode;
use crate::runtime::{ContainerError, diagnose, ready};

/// The first pause between two `cat` polls; it doubles up to `POLL_MAX`.
const POLL_MIN: Duration = Duration::from_millis(100);
const POLL_MAX: Duration = Duration::from_secs(1);

/// What became of one waiter process.
enum Waited {
    /// debugpy listens.
    Listening,
    /// The interpreter is not in the image.
    NoInterpreter,
    /// It ended without an answer (with this exit code).
    Ended(i64),
}

impl DebugContainer {
    /// Waits until debugpy listens on `port` in the container, at most
    /// `timeout` seconds; learns the container's Python on the way, which
    /// `needs_python` (an injected debugpy) and the exec transport require.
    pub(super) async fn wait_for_debugger(
        &mut self,
        port: u16,
        timeout: f64,
        needs_python: bool,
    ) -> Result<(), ContainerError> {
        let deadline = Instant::now() + Duration::from_secs_f64(timeout.max(0.0));
        let mut said = false;
        for python in ["python3", "python"] {
            match self.run_waiter(python, port, deadline, timeout, &mut said).await {
                Ok(Waited::Listening) => {
                    self.python = python.to_owned();
                    return Ok(());
                }
                Ok(Waited::NoInterpreter) => continue,
                Ok(Waited::Ended(code)) => {
                    tracing::debug!(code, python, "the waiter ended without an answer; polling instead");
                    self.python = python.to_owned();
                    return self.poll_socket_table(port, deadline, timeout).await;
                }
                Err(e) => return Err(self.explain(e).await),
            }
        }
        if needs_python || self.transport == TransportMode::Exec {
            return Err(self.explain(exec::no_python(&self.name)).await);
        }
        if !said {
            self.say_waiting(port).await;
        }
        self.poll_socket_table(port, deadline, timeout).await
    }

    async fn say_waiting(&self, port: u16) {
        self.events.progress(format!("waiting for debugpy on port {port} in {}", self.name)).await;
    }

    /// One waiter process under `python`, until it answers, ends, the
    /// container exits, or the deadline.
    async fn run_waiter(
        &self,
        python: &str,
        port: u16,
        deadline: Instant,
        timeout: f64,
        said: &mut bool,
    ) -> Result<Waited, ContainerError> {
        let secs = deadline.saturating_duration_since(Instant::now()).as_secs_f64();
        let cmd = vec![python.to_owned(), "-c".into(), exec::WAITER.into(), port.to_string(), format!("{secs:.1}")];
        let process = self.start_process(cmd, "probe", Some(deadline)).await?;
        // Its stdin stays open while we wait: closing it ends the waiter.
        let exec::Process { link, exec_id } = process;
        let _stdin = link.writer;
        let mut lines = tokio::io::BufReader::new(link.reader).lines();
        loop {
            let line = tokio::select! {
                line = lines.next_line() => line,
                () = self.exited() => return Err(self.exited_early()),
                () = tokio::time::sleep_until(deadline) => return Err(self.not_listening(port, timeout)),
                // Once it runs, the user hears what it waits for (not
                // before: a missing interpreter ends it at once).
                () = tokio::time::sleep(Duration::from_millis(50)), if !*said => {
                    *said = true;
                    self.say_waiting(port).await;
                    continue;
                }
            };
            match line {
                Ok(Some(line)) if line.trim() == "listening" => return Ok(Waited::Listening),
                Ok(Some(line)) => tracing::debug!(%line, "waiter"),
                Ok(None) | Err(_) => break,
            }
        }
        match exec::exit_code(&self.handle, &exec_id).await {
            Some(126 | 127) => Ok(Waited::NoInterpreter),
            Some(2) => Err(self.not_listening(port, timeout)),
            Some(code) if self.exit_code().is_none() => Ok(Waited::Ended(code)),
            _ => Err(self.exited_early()),
        }
    }

    /// The fallback without Python: `cat` the socket tables, backing off.
    async fn poll_socket_table(&self, port: u16, deadline: Instant, timeout: f64) -> Result<(), ContainerError> {
        let mut delay = POLL_MIN;
        loop {
            if self.exit_code().is_some() {
                return Err(self.exited_early());
            }
            match self.run_command(&["cat", "/proc/net/tcp", "/proc/net/tcp6"], deadline).await {
                Ok((_, table)) if ready::listening(&table, port) => return Ok(()),
                Ok(_) => {}
                Err(ContainerError::Paused { .. }) => return Err(self.not_listening(port, timeout)),
                Err(e @ ContainerError::Frozen { .. }) => return Err(e),
                Err(e) => tracing::debug!(error = %e, "readiness check failed"),
            }
            if Instant::now() >= deadline {
                return Err(self.not_listening(port, timeout));
            }
            tokio::select! {
                () = tokio::time::sleep(delay.min(deadline.saturating_duration_since(Instant::now()))) => {}
                () = self.exited() => {}
            }
            delay = (delay * 2).min(POLL_MAX);
        }
    }

    /// The container's Python (`python3`, else `python`), for the adapter
    /// of the Azure ML hook.
    pub(super) async fn find_python(&self, deadline: Instant) -> Result<String, ContainerError> {
        for python in ["python3", "python"] {
            match self.run_command(&[python, "-c", "pass"], deadline).await {
                Ok((0, _)) => return Ok(python.to_owned()),
                Ok(_) => {}
                Err(e @ (ContainerError::Paused { .. } | ContainerError::Frozen { .. })) => return Err(e),
                Err(e) => tracing::debug!(error = %e, python, "looking for Python"),
            }
        }
        Err(self.explain(exec::no_python(&self.name)).await)
    }

    /// Runs `cmd` to its end, never while paused (waiting until `deadline`).
    pub(super) async fn run_command(&self, cmd: &[&str], deadline: Instant) -> Result<(i64, String), ContainerError> {
        let cmd = cmd.iter().map(|s| (*s).to_owned()).collect();
        let process = self.start_process(cmd, "probe", Some(deadline)).await?;
        Ok(exec::finish(&self.handle, process).await)
    }

    /// Resolves once the container has exited (never, if that is not watched).
    async fn exited(&self) {
        let mut exit = self.exit.clone();
        if exit.wait_for(Option::is_some).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    fn exited_early(&self) -> ContainerError {
        let code = self.exit_code().unwrap_or(-1);
        ContainerError::ExitedEarly { code, diagnosis: diagnose::diagnose(code, &self.tail.last(20)) }
    }

    /// The timeout's diagnosis: paused, or debugpy never listened.
    fn not_listening(&self, port: u16, timeout: f64) -> ContainerError {
        if self.is_paused() {
            return self.paused_error(&format!("while dockdap waited for debugpy (within {timeout}s)"));
        }
        ContainerError::DebuggerTimeout {
            name: self.name.clone(),
            port,
            secs: timeout,
            tail: format!("last lines:\n{}", self.tail.last(20)),
        }
    }

    /// A failure while the container may be dying is reported as its exit.
    pub(super) async fn explain(&self, e: ContainerError) -> ContainerError {
        if matches!(e, ContainerError::Paused { .. } | ContainerError::Frozen { .. }) {
            return e;
        }
        let mut exit = self.exit.clone();
        let _ = tokio::time::timeout(Duration::from_secs(1), exit.wait_for(Option::is_some)).await;
        if self.exit_code().is_some() { self.exited_early() } else { e }
    }
}
