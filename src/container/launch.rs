//! Starting a debug container, and joining one the user started.
//!
//! The order matters: create (labelled, ports on 127.0.0.1 only, the debug
//! port on an ephemeral host port), attach to its output, start, read the
//! host ports back from inspect, then wait until debugpy listens *inside*
//! the container while watching for the container to exit, and only then
//! connect. A container that dies while we wait is reported within a second
//! with its exit code and a reading of its last lines. Anything created is
//! removed again if a later step fails or the session is cancelled.

use std::collections::HashMap;
use std::time::Duration;

use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum};
use bollard::query_parameters::{
    AttachContainerOptions, CreateContainerOptions, InspectContainerOptions, LogsOptions, RemoveContainerOptions,
    UploadToContainerOptions, WaitContainerOptions,
};
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::engine::{ContainerError, Engine, Subject};
use super::logs::{self, LogTail};
use super::{diagnose, ready, reap, tune};
use crate::config::{DebuggerMode, LaunchArguments, parse_port_pair};
use crate::target::{EventSender, TargetEvent};

/// How often readiness is checked while waiting for debugpy.
const POLL: Duration = Duration::from_millis(100);

/// A container a session debugs: one dockdap started, or one it joined.
#[derive(Debug)]
pub struct DebugContainer {
    pub(super) engine: Engine,
    /// The container's id.
    pub id: String,
    /// The container's name.
    pub name: String,
    /// Whether dockdap created it (and so removes it at the end).
    pub owned: bool,
    /// Leave it running at the end even if owned.
    pub keep: bool,
    /// Where debugpy is reachable from this machine.
    pub debug_addr: String,
    /// Published service ports: (container port, host port).
    pub ports: Vec<(u16, u16)>,
    /// The last lines of its output.
    pub tail: LogTail,
    exit: watch::Receiver<Option<i64>>,
}

impl DebugContainer {
    /// Creates and starts a container from `args`, and waits until debugpy
    /// listens in it.
    pub async fn launch(
        args: &LaunchArguments,
        session_id: &str,
        events: &EventSender,
        cancel: &CancellationToken,
    ) -> Result<DebugContainer, ContainerError> {
        if matches!(args.debugger, DebuggerMode::Inject | DebuggerMode::Azureml) {
            return Err(ContainerError::Unusable(format!(
                "`debugger: \"{}\"` is not available in this build; use an image that starts debugpy itself and `debugger: \"image\"`",
                serde_json::to_value(args.debugger)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            )));
        }
        events.send(TargetEvent::Progress("connecting to the Docker Engine".into())).await;
        let engine = Engine::connect().await?;
        match reap::reap(&engine).await {
            Ok(removed) if !removed.is_empty() => {
                events.output(
                    "console",
                    format!(
                        "[dockdap] removed {} container(s) left behind by dead dockdap sessions: {}\n",
                        removed.len(),
                        removed.join(", ")
                    ),
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not look for leftover containers"),
        }
        let image =
            engine.docker.inspect_image(&args.image).await.map_err(|e| engine.error(e, Subject::Image(&args.image)))?;
        let image_env = image.config.and_then(|c| c.env).unwrap_or_default();

        let name = args.container_name.clone().unwrap_or_else(|| generated_name(&args.image, session_id));
        let body = create_body(args, session_id, &image_env)?;
        events.send(TargetEvent::Progress(format!("creating container {name} from {}", args.image))).await;
        let created = engine
            .docker
            .create_container(Some(CreateContainerOptions { name: Some(name.clone()), ..Default::default() }), body)
            .await
            .map_err(|e| engine.error(e, Subject::Container(&name)))?;
        let mut container = DebugContainer {
            engine,
            id: created.id,
            name,
            owned: true,
            keep: args.keep_container,
            debug_addr: String::new(),
            ports: Vec::new(),
            tail: LogTail::default(),
            exit: watch::channel(None).1,
        };
        // From here on, any failure removes the container again.
        let result = tokio::select! {
            r = container.start_and_wait(args, events) => r,
            () = cancel.cancelled() => Err(ContainerError::Unusable("cancelled: the debug session ended".into())),
        };
        match result {
            Ok(()) => Ok(container),
            Err(e) => {
                container.keep = false;
                container.remove().await;
                Err(e)
            }
        }
    }

    async fn start_and_wait(&mut self, args: &LaunchArguments, events: &EventSender) -> Result<(), ContainerError> {
        let docker = self.engine.docker.clone();
        if args.tune_debugger {
            let archive = tune::archive()
                .map_err(|e| ContainerError::Unusable(format!("cannot pack the debugger tuning: {e}")))?;
            docker
                .upload_to_container(
                    &self.id,
                    Some(UploadToContainerOptions { path: "/".into(), ..Default::default() }),
                    bollard::body_full(archive),
                )
                .await
                .map_err(|e| self.engine.error(e, Subject::Container(&self.name)))?;
            events.output(
                "console",
                "[dockdap] tuneDebugger: TCP_NODELAY on debugpy's sockets in the container (about 40 ms less per request; `tuneDebugger: false` turns it off)\n".into(),
            );
        }
        let attached = docker
            .attach_container(
                &self.id,
                Some(AttachContainerOptions {
                    stream: true,
                    logs: true,
                    stdout: true,
                    stderr: true,
                    ..Default::default()
                }),
            )
            .await
            .map_err(|e| self.engine.error(e, Subject::Container(&self.name)))?;
        tokio::spawn(logs::pump(attached.output, events.clone(), self.tail.clone()));
        self.watch_exit(events.clone());

        events.send(TargetEvent::Progress(format!("starting container {}", self.name))).await;
        if let Err(e) = docker.start_container(&self.id, None).await {
            return Err(self.start_error(e, args));
        }
        let inspect = docker
            .inspect_container(&self.id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| self.engine.error(e, Subject::Container(&self.name)))?;
        let published = published_ports(inspect.network_settings.and_then(|n| n.ports).unwrap_or_default());
        let debug_host_port =
            published.iter().find(|(c, _)| *c == args.debug_port).map(|(_, h)| *h).ok_or_else(|| {
                ContainerError::Unusable(format!(
                    "the debug port {} was not published; is the container still running?",
                    args.debug_port
                ))
            })?;
        self.debug_addr = format!("127.0.0.1:{debug_host_port}");
        self.ports = published.into_iter().filter(|(c, _)| *c != args.debug_port).collect();
        for (container_port, host_port) in &self.ports {
            events.output(
                "console",
                format!("[dockdap] service port {container_port} is at http://127.0.0.1:{host_port}\n"),
            );
        }

        events
            .send(TargetEvent::Progress(format!("waiting for debugpy on port {} in {}", args.debug_port, self.name)))
            .await;
        self.wait_for_debugger(args.debug_port, args.timeout).await
    }

    /// Watches for the container's exit; the code lands in `self.exit`, and
    /// the session hears of it as a `TargetEvent::Exited`.
    fn watch_exit(&mut self, events: EventSender) {
        let (tx, rx) = watch::channel(None);
        self.exit = rx;
        let docker = self.engine.docker.clone();
        let id = self.id.clone();
        let tail = self.tail.clone();
        tokio::spawn(async move {
            // "next-exit": a container that is created but not yet started
            // counts as not running, and the default condition would return at once.
            let options = WaitContainerOptions { condition: "next-exit".into() };
            let mut wait = docker.wait_container(&id, Some(options));
            let code = match wait.next().await {
                Some(Ok(response)) => response.status_code,
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "stopped watching the container");
                    return;
                }
                None => return,
            };
            // Give the output pump a moment to take in the last lines.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let _ = tx.send(Some(code));
            let diagnosis = format!(
                "[dockdap] the container exited with code {code}\n{}",
                diagnose::diagnose(code, &tail.last(20))
            );
            events.send(TargetEvent::Exited { code, diagnosis }).await;
        });
    }

    fn start_error(&self, e: bollard::errors::Error, args: &LaunchArguments) -> ContainerError {
        let text = e.to_string();
        if text.contains("port is already allocated") || text.contains("address already in use") {
            for pair in &args.ports {
                if let Ok((host, container)) = parse_port_pair(pair)
                    && host != 0
                    && text.contains(&format!(":{host}"))
                {
                    return ContainerError::PortTaken { port: host, container_port: container };
                }
            }
        }
        self.engine.error(e, Subject::Container(&self.name))
    }

    /// Polls the container's socket table until debugpy listens, the
    /// container exits, or the timeout passes.
    async fn wait_for_debugger(&self, port: u16, timeout: f64) -> Result<(), ContainerError> {
        let deadline = Instant::now() + Duration::from_secs_f64(timeout.max(0.0));
        let mut exit = self.exit.clone();
        loop {
            if let Some(code) = *exit.borrow() {
                return Err(ContainerError::ExitedEarly {
                    code,
                    diagnosis: diagnose::diagnose(code, &self.tail.last(20)),
                });
            }
            match self.exec_output(&["cat", "/proc/net/tcp", "/proc/net/tcp6"]).await {
                Ok(table) if ready::listening(&table, port) => return Ok(()),
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "readiness check failed"),
            }
            if Instant::now() >= deadline {
                return Err(ContainerError::DebuggerTimeout {
                    name: self.name.clone(),
                    port,
                    secs: timeout,
                    tail: format!("last lines:\n{}", self.tail.last(20)),
                });
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                _ = exit.changed() => {}
            }
        }
    }

    /// Runs a command in the container and returns its standard output.
    pub async fn exec_output(&self, cmd: &[&str]) -> Result<String, ContainerError> {
        let docker = &self.engine.docker;
        let exec = docker
            .create_exec(
                &self.id,
                CreateExecOptions {
                    cmd: Some(cmd.iter().map(|s| (*s).to_owned()).collect()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(false),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| self.engine.error(e, Subject::Container(&self.name)))?;
        let started = docker
            .start_exec(&exec.id, None)
            .await
            .map_err(|e| self.engine.error(e, Subject::Container(&self.name)))?;
        let mut text = String::new();
        if let StartExecResults::Attached { mut output, .. } = started {
            while let Some(Ok(chunk)) = output.next().await {
                text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            }
        }
        Ok(text)
    }

    /// Joins a container the user started: its debugpy must listen on
    /// `debug_port` and be published on the host.
    pub async fn join(
        name: &str,
        debug_port: u16,
        timeout: f64,
        events: &EventSender,
    ) -> Result<DebugContainer, ContainerError> {
        let engine = Engine::connect().await?;
        let inspect = engine
            .docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
            .map_err(|e| engine.error(e, Subject::Container(name)))?;
        if !inspect.state.as_ref().and_then(|s| s.running).unwrap_or(false) {
            return Err(ContainerError::Unusable(format!(
                "container {name:?} is not running; start it first (`docker start {name}`)"
            )));
        }
        let published = published_ports(inspect.network_settings.and_then(|n| n.ports).unwrap_or_default());
        let Some((_, host_port)) = published.iter().find(|(c, _)| *c == debug_port) else {
            return Err(ContainerError::Unusable(format!(
                "container {name:?} does not publish its debug port {debug_port} on the host; restart it with `-p 127.0.0.1::{debug_port}`, or let dockdap start it with a `launch` configuration"
            )));
        };
        let mut container = DebugContainer {
            id: inspect.id.unwrap_or_else(|| name.to_owned()),
            name: inspect.name.map(|n| n.trim_start_matches('/').to_owned()).unwrap_or_else(|| name.to_owned()),
            owned: false,
            keep: true,
            debug_addr: format!("127.0.0.1:{host_port}"),
            ports: published.iter().copied().filter(|(c, _)| *c != debug_port).collect(),
            tail: LogTail::default(),
            exit: watch::channel(None).1,
            engine,
        };
        let output = container.engine.docker.logs(
            &container.id,
            Some(LogsOptions { follow: true, stdout: true, stderr: true, tail: "0".into(), ..Default::default() }),
        );
        tokio::spawn(logs::pump(Box::pin(output), events.clone(), container.tail.clone()));
        container.watch_exit(events.clone());
        // The container may have just started: connect only once debugpy listens.
        events.send(TargetEvent::Progress(format!("waiting for debugpy on port {debug_port} in {name}"))).await;
        container.wait_for_debugger(debug_port, timeout).await?;
        Ok(container)
    }

    /// A receiver that sees the exit code once the container exits.
    pub fn exit_watch(&self) -> watch::Receiver<Option<i64>> {
        self.exit.clone()
    }

    /// The exit code and its reading, if the container has exited.
    pub fn exit_report(&self) -> Option<(i64, String)> {
        self.exit_code().map(|code| (code, exit_report(code, &self.tail)))
    }

    /// The exit code, if the container has exited.
    pub fn exit_code(&self) -> Option<i64> {
        *self.exit.borrow()
    }

    /// Stops and removes the container if dockdap started it and it is not
    /// to be kept; a container dockdap joined is never touched.
    pub async fn end(self) {
        if self.owned && !self.keep {
            self.remove().await;
        } else if self.owned {
            tracing::info!(name = %self.name, "keeping the container (keepContainer)");
        }
    }

    async fn remove(&self) {
        let removed = self
            .engine
            .docker
            .remove_container(&self.id, Some(RemoveContainerOptions { force: true, v: true, ..Default::default() }))
            .await;
        match removed {
            Ok(()) => tracing::info!(name = %self.name, "removed the container"),
            Err(e) => {
                tracing::warn!(name = %self.name, error = %e, "could not remove the container; `dockdap reap` will")
            }
        }
    }
}

/// What the debug console says when the container exits.
fn exit_report(code: i64, tail: &LogTail) -> String {
    format!("[dockdap] the container exited with code {code}\n{}", diagnose::diagnose(code, &tail.last(20)))
}

/// `dockdap-<image>-<session>`: recognisable in `docker ps`, unique per session.
fn generated_name(image: &str, session_id: &str) -> String {
    let base: String = image
        .rsplit('/')
        .next()
        .unwrap_or(image)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .collect();
    format!("dockdap-{base}-{session_id}")
}

/// The container's configuration: labels, ports on 127.0.0.1 only, no
/// privileges, no restarts (a paused debuggee must not be restarted).
fn create_body(
    args: &LaunchArguments,
    session_id: &str,
    image_env: &[String],
) -> Result<ContainerCreateBody, ContainerError> {
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    let loopback =
        |host_port: String| Some(vec![PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(host_port) }]);
    bindings.insert(format!("{}/tcp", args.debug_port), loopback(String::new()));
    for pair in &args.ports {
        let (host, container) = parse_port_pair(pair).map_err(ContainerError::Unusable)?;
        if container == args.debug_port {
            return Err(ContainerError::Unusable(format!(
                "port {pair:?} publishes the debug port; dockdap publishes it itself on a free port of 127.0.0.1: remove it from `ports`"
            )));
        }
        let host = if host == 0 { String::new() } else { host.to_string() };
        bindings.insert(format!("{container}/tcp"), loopback(host));
    }
    let mut env: Vec<String> = args.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if !args.wait_for_debugger {
        // Understood by the debug entry of dockdap's example images.
        env.push("DOCKDAP_WAIT_FOR_CLIENT=0".into());
    }
    if args.tune_debugger {
        let existing = args
            .env
            .get("PYTHONPATH")
            .map(String::as_str)
            .or_else(|| image_env.iter().find_map(|e| e.strip_prefix("PYTHONPATH=")));
        env.retain(|e| !e.starts_with("PYTHONPATH="));
        env.push(format!("PYTHONPATH={}", tune::pythonpath(existing)));
    }
    Ok(ContainerCreateBody {
        image: Some(args.image.clone()),
        cmd: args.command.clone(),
        entrypoint: args.entrypoint.clone(),
        env: (!env.is_empty()).then_some(env),
        labels: Some(reap::labels(session_id, &args.image)),
        exposed_ports: Some(bindings.keys().cloned().collect()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(false),
        host_config: Some(HostConfig {
            port_bindings: Some(bindings),
            privileged: Some(false),
            auto_remove: Some(false),
            restart_policy: Some(RestartPolicy { name: Some(RestartPolicyNameEnum::NO), maximum_retry_count: None }),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// (container port, host port) pairs from inspect's port map.
fn published_ports(map: HashMap<String, Option<Vec<PortBinding>>>) -> Vec<(u16, u16)> {
    let mut ports: Vec<(u16, u16)> = map
        .into_iter()
        .filter_map(|(key, bindings)| {
            let container: u16 = key.split('/').next()?.parse().ok()?;
            let host: u16 = bindings?.iter().find_map(|b| b.host_port.as_deref()?.parse().ok())?;
            Some((container, host))
        })
        .collect();
    ports.sort_unstable();
    ports
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_docker_safe() {
        assert_eq!(generated_name("registry.io/team/debug:1", "ab12"), "dockdap-debug-1-ab12");
    }

    #[test]
    fn every_port_is_on_loopback() {
        let args: LaunchArguments =
            serde_json::from_value(serde_json::json!({"image": "x", "ports": ["8000:5001", "0:9000"]})).unwrap();
        let body = create_body(&args, "s", &[]).unwrap();
        let bindings = body.host_config.unwrap().port_bindings.unwrap();
        assert_eq!(bindings.len(), 3);
        for (port, list) in &bindings {
            for b in list.as_ref().unwrap() {
                assert_eq!(b.host_ip.as_deref(), Some("127.0.0.1"), "{port}");
            }
        }
        assert_eq!(bindings["5678/tcp"].as_ref().unwrap()[0].host_port.as_deref(), Some(""));
        assert_eq!(bindings["5001/tcp"].as_ref().unwrap()[0].host_port.as_deref(), Some("8000"));
        assert_eq!(bindings["9000/tcp"].as_ref().unwrap()[0].host_port.as_deref(), Some(""));
        let labels = body.labels.unwrap();
        assert_eq!(labels["dockdap.session"], "s");
        assert_eq!(labels["dockdap.image"], "x");
    }

    #[test]
    fn debug_port_cannot_be_published_by_hand() {
        let args: LaunchArguments =
            serde_json::from_value(serde_json::json!({"image": "x", "ports": ["5678:5678"]})).unwrap();
        assert!(create_body(&args, "s", &[]).unwrap_err().to_string().contains("publishes the debug port"));
    }
}
