//! Starting a debug container, and joining one the user started.
//!
//! The order matters: create (labelled, ports on 127.0.0.1 only, the debug
//! port, if the port transport is used, on an ephemeral host port), copy the
//! bootstrap and debugpy in (`inject`), attach to its output, start, read the
//! host ports back from inspect, then wait until debugpy listens *inside*
//! the container while watching for the container to exit, and only then
//! connect (through the published port, or through `docker exec`). A container that dies while we wait is reported within a second
//! with its exit code and a reading of its last lines. Anything created is
//! removed again if a later step fails or the session is cancelled.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{ContainerCreateBody, HostConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum};
use bollard::query_parameters::{
    AttachContainerOptions, CreateContainerOptions, EventsOptions, InspectContainerOptions, LogsOptions,
    RemoveContainerOptions, UploadToContainerOptions, WaitContainerOptions,
};
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::engine::{ContainerError, Engine, Subject};
use super::logs::{self, LogTail};
use super::{diagnose, exec, inject, ready, reap, tune};
use crate::config::{DebuggerMode, LaunchArguments, TransportMode, parse_port_pair};
use crate::console::{Category, Event, EventSender};
use crate::transport::{BoxRead, BoxWrite};

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
    /// How debugpy was started in it.
    pub mode: DebuggerMode,
    /// How dockdap reaches debugpy.
    pub transport: TransportMode,
    /// debugpy's port inside the container.
    pub debug_port: u16,
    /// The container's Python, for processes dockdap runs in it.
    python: String,
    /// `PYTHONPATH` for processes dockdap runs in it (the injected debugpy).
    pythonpath: Option<String>,
    exit: watch::Receiver<Option<i64>>,
}

/// A byte stream to debugpy, and what debugpy's `attach` must add for it.
pub struct AdapterStream {
    /// Reads from debugpy.
    pub reader: BoxRead,
    /// Writes to debugpy.
    pub writer: BoxWrite,
    /// Extra `attach` arguments (the in-container adapter's `listen`).
    pub attach: serde_json::Map<String, serde_json::Value>,
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
        events.send(Event::Progress("connecting to the Docker Engine".into())).await;
        let engine = Engine::connect().await?;
        match reap::reap(&engine).await {
            Ok(removed) if !removed.is_empty() => {
                events.output(
                    Category::Console,
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
        // A missing image whose reference names a registry is pulled with the user's credentials.
        let mut pull_progress = |line: String| events.output(Category::Console, format!("[dockdap] {line}\n"));
        let image = super::pull::inspect_or_pull(&engine, &args.image, &mut pull_progress).await?;
        let facts = image_facts(&image, args);
        let choice = inject::choose(args.debugger, &facts, args.debug_port);
        let transport = match (args.transport, choice.mode) {
            (TransportMode::Port, DebuggerMode::Azureml) => {
                return Err(ContainerError::Unusable(
                    "`debugger: \"azureml\"` needs `transport: \"exec\"` (or \"auto\"): the server's hook connects out to debugpy's adapter, which dockdap runs inside the container".into(),
                ));
            }
            (TransportMode::Auto, _) => TransportMode::Exec,
            (transport, _) => transport,
        };
        events.output(
            Category::Console,
            format!(
                "[dockdap] debugger: {} ({}); transport: {}\n",
                mode_name(choice.mode),
                choice.reason,
                if transport == TransportMode::Exec {
                    "exec (no debug port is published)"
                } else {
                    "port (published on 127.0.0.1)"
                }
            ),
        );
        let debugpy = match choice.mode {
            DebuggerMode::Inject | DebuggerMode::Azureml => {
                inject::check_wrappable(&facts).map_err(ContainerError::Unusable)?;
                Some(
                    inject::find_debugpy(args.debugpy_path.as_deref())
                        .map_err(|e| ContainerError::Unusable(e.to_string()))?,
                )
            }
            _ => None,
        };
        let plan = Plan { mode: choice.mode, transport, debugpy };

        let name = args.container_name.clone().unwrap_or_else(|| generated_name(&args.image, session_id));
        let body = create_body(args, session_id, &facts, &plan)?;
        events.send(Event::Progress(format!("creating container {name} from {}", args.image))).await;
        let created = engine
            .docker
            .create_container(Some(CreateContainerOptions { name: Some(name.clone()), ..Default::default() }), body)
            .await
            .map_err(|e| engine.error(e, Subject::Container(&name)))?;
        if !args.keep_container {
            super::watchdog::spawn(&created.id);
        }
        let mut container = DebugContainer {
            engine,
            id: created.id,
            name,
            owned: true,
            keep: args.keep_container,
            debug_addr: String::new(),
            ports: Vec::new(),
            tail: LogTail::default(),
            mode: plan.mode,
            transport: plan.transport,
            debug_port: args.debug_port,
            python: "python3".into(),
            pythonpath: plan.debugpy.is_some().then(|| format!("{}:{}", tune::TUNE_DIR, inject::PYTHON_DIR)),
            exit: watch::channel(None).1,
        };
        // From here on, any failure removes the container again.
        let result = tokio::select! {
            r = container.start_and_wait(args, &plan, events) => r,
            () = cancel.cancelled() => Err(ContainerError::Unusable("cancelled: the debug session ended".into())),
        };
        match result {
            Ok(()) => Ok(container),
            Err(e) => {
                container.keep = false;
                let _ = container.remove().await;
                Err(e)
            }
        }
    }

    async fn start_and_wait(
        &mut self,
        args: &LaunchArguments,
        plan: &Plan,
        events: &EventSender,
    ) -> Result<(), ContainerError> {
        let docker = self.engine.docker.clone();
        if plan.needs_bootstrap(args) {
            let archive =
                inject::archive(plan.debugpy.as_deref()).map_err(|e| ContainerError::Unusable(e.to_string()))?;
            docker
                .upload_to_container(
                    &self.id,
                    Some(UploadToContainerOptions { path: "/".into(), ..Default::default() }),
                    bollard::body_full(archive),
                )
                .await
                .map_err(|e| self.engine.error(e, Subject::Container(&self.name)))?;
            if let Some(debugpy) = &plan.debugpy {
                events.output(
                    Category::Console,
                    format!("[dockdap] copied debugpy from {} into the container\n", debugpy.display()),
                );
            }
            if args.tune_debugger {
                events.output(Category::Console,
                    "[dockdap] tuneDebugger: TCP_NODELAY on debugpy's sockets in the container (about 40 ms less per request; `tuneDebugger: false` turns it off)\n".into(),
                );
            }
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
        self.watch_state(events.clone());

        events.send(Event::Progress(format!("starting container {}", self.name))).await;
        if let Err(e) = docker.start_container(&self.id, None).await {
            return Err(self.start_error(e, args));
        }
        let inspect = docker
            .inspect_container(&self.id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| self.engine.error(e, Subject::Container(&self.name)))?;
        let published = published_ports(inspect.network_settings.and_then(|n| n.ports).unwrap_or_default());
        if plan.transport == TransportMode::Port {
            let debug_host_port =
                published.iter().find(|(c, _)| *c == args.debug_port).map(|(_, h)| *h).ok_or_else(|| {
                    ContainerError::Unusable(format!(
                        "the debug port {} was not published; is the container still running?",
                        args.debug_port
                    ))
                })?;
            self.debug_addr = format!("127.0.0.1:{debug_host_port}");
        } else {
            self.debug_addr = format!("docker exec into {}", self.name);
        }
        self.ports = published.into_iter().filter(|(c, _)| *c != args.debug_port).collect();
        for (container_port, host_port) in &self.ports {
            events.output(
                Category::Console,
                format!("[dockdap] service port {container_port} is at http://127.0.0.1:{host_port}\n"),
            );
        }

        // With an injected debugpy, Python must be there before anything
        // else can work; an image that starts debugpy proves it has Python.
        if plan.debugpy.is_some() {
            self.python = self.find_python().await?;
        }
        if plan.mode == DebuggerMode::Azureml {
            // debugpy's adapter runs in the container once dockdap connects;
            // the server's workers wait for it at the bootstrap's gate.
            return Ok(());
        }
        events.send(Event::Progress(format!("waiting for debugpy on port {} in {}", args.debug_port, self.name))).await;
        self.wait_for_debugger(args.debug_port, args.timeout).await?;
        if plan.transport == TransportMode::Exec && plan.debugpy.is_none() {
            self.python = self.find_python().await?;
        }
        Ok(())
    }

    /// The container's Python; a container that exits meanwhile is reported
    /// as such, not as missing Python.
    async fn find_python(&self) -> Result<String, ContainerError> {
        match exec::find_python(&self.engine, &self.id, &self.name).await {
            Ok(python) => Ok(python),
            Err(e) => {
                let mut exit = self.exit.clone();
                let _ = tokio::time::timeout(Duration::from_secs(1), exit.wait_for(Option::is_some)).await;
                match *exit.borrow() {
                    Some(code) => Err(ContainerError::ExitedEarly {
                        code,
                        diagnosis: diagnose::diagnose(code, &self.tail.last(20)),
                    }),
                    None => Err(e),
                }
            }
        }
    }

    /// Opens the stream to debugpy: through the published port, or through
    /// `docker exec` (the in-container adapter for the Azure ML hook, else a
    /// relay to the port debugpy listens on).
    pub async fn connect(&self, deadline: Instant) -> Result<AdapterStream, ContainerError> {
        let mut attach = serde_json::Map::new();
        let (reader, writer) = match (self.transport, self.mode) {
            (TransportMode::Exec, DebuggerMode::Azureml) => {
                attach.insert("listen".into(), serde_json::json!({ "host": "127.0.0.1", "port": self.debug_port }));
                exec::stream(
                    &self.engine,
                    &self.id,
                    vec![self.python.clone(), "-m".into(), "debugpy.adapter".into()],
                    self.exec_env("adapter"),
                )
                .await?
            }
            (TransportMode::Exec, _) => {
                exec::stream(
                    &self.engine,
                    &self.id,
                    vec![self.python.clone(), "-c".into(), exec::RELAY.into(), self.debug_port.to_string()],
                    self.exec_env("relay"),
                )
                .await?
            }
            _ => {
                let stream = crate::transport::connect_with_retry(&self.debug_addr, deadline).await.map_err(|e| {
                    ContainerError::Unusable(format!("cannot connect to debugpy at {}: {e}", self.debug_addr))
                })?;
                crate::transport::split_tcp(stream)
            }
        };
        Ok(AdapterStream { reader, writer, attach })
    }

    /// Opens another stream to a port debugpy listens on inside the
    /// container (a subprocess's session on debugpy's adapter).
    pub async fn connect_port(&self, port: u16) -> Result<(BoxRead, BoxWrite), ContainerError> {
        match self.transport {
            TransportMode::Port if port == self.debug_port => {
                let deadline = Instant::now() + Duration::from_secs(10);
                let stream = crate::transport::connect_with_retry(&self.debug_addr, deadline).await.map_err(|e| {
                    ContainerError::Unusable(format!("cannot connect to debugpy at {}: {e}", self.debug_addr))
                })?;
                Ok(crate::transport::split_tcp(stream))
            }
            TransportMode::Port => Err(ContainerError::Unusable(format!(
                "port {port} inside the container is not published; use `transport: \"exec\"` to reach subprocesses"
            ))),
            _ => {
                exec::stream(
                    &self.engine,
                    &self.id,
                    vec![self.python.clone(), "-c".into(), exec::RELAY.into(), port.to_string()],
                    self.exec_env("relay"),
                )
                .await
            }
        }
    }

    fn exec_env(&self, role: &str) -> Vec<String> {
        let mut env = vec![format!("DOCKDAP_ROLE={role}")];
        if let Some(path) = &self.pythonpath {
            env.push(format!("PYTHONPATH={path}"));
        }
        env
    }

    /// Tells the user when the container is paused, resumed or runs out of
    /// memory: a paused container's debugpy cannot answer, and without a word
    /// the editor would just seem to hang.
    fn watch_state(&self, events: EventSender) {
        let docker = self.engine.docker.clone();
        let id = self.id.clone();
        let name = self.name.clone();
        tokio::spawn(async move {
            let filters = HashMap::from([
                ("container".to_owned(), vec![id.clone()]),
                ("type".to_owned(), vec!["container".to_owned()]),
            ]);
            let mut stream = docker.events(Some(EventsOptions { filters: Some(filters), ..Default::default() }));
            while let Some(Ok(event)) = stream.next().await {
                let text = match event.action.as_deref() {
                    Some("pause") => format!(
                        "[dockdap] container {name} was paused: debugpy cannot answer until it is resumed (`docker unpause {name}`)\n"
                    ),
                    Some("unpause") => format!("[dockdap] container {name} was resumed\n"),
                    Some("oom") => format!("[dockdap] container {name} ran out of memory (raise its memory limit)\n"),
                    Some("die" | "destroy") => return,
                    _ => continue,
                };
                events.output(Category::Console, text);
            }
        });
    }

    /// Watches for the container's exit; the code lands in `self.exit`, and
    /// the session hears of it as a `Event::Exited`.
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
            events.send(Event::Exited { code, diagnosis }).await;
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
        exec::run(&self.engine, &self.id, cmd).await.map(|(_, out)| out)
    }

    /// Joins a container the user started: its debugpy must listen on
    /// `debug_port` inside it (and, with the port transport, be published).
    pub async fn join(
        name: &str,
        debug_port: u16,
        transport: TransportMode,
        timeout: f64,
        events: &EventSender,
    ) -> Result<DebugContainer, ContainerError> {
        let transport = if transport == TransportMode::Auto { TransportMode::Exec } else { transport };
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
        let hook = azureml_hook(inspect.config.as_ref().and_then(|c| c.env.as_deref()).unwrap_or_default());
        if hook.is_some() && transport == TransportMode::Port {
            return Err(ContainerError::Unusable(format!(
                "container {name:?} was started with the Azure ML hook (`debugger: \"azureml\"`), whose server connects out to debugpy's adapter inside the container; attach with `transport: \"exec\"` (or \"auto\")"
            )));
        }
        let debug_port = hook.as_ref().map_or(debug_port, |h| h.port);
        let published = published_ports(inspect.network_settings.and_then(|n| n.ports).unwrap_or_default());
        let debug_addr = match published.iter().find(|(c, _)| *c == debug_port) {
            Some((_, host_port)) => format!("127.0.0.1:{host_port}"),
            None if transport == TransportMode::Exec => format!("docker exec into {name}"),
            None => {
                return Err(ContainerError::Unusable(format!(
                    "container {name:?} does not publish its debug port {debug_port} on the host; use `transport: \"exec\"`, restart it with `-p 127.0.0.1::{debug_port}`, or let dockdap start it with a `launch` configuration"
                )));
            }
        };
        let mut container = DebugContainer {
            id: inspect.id.unwrap_or_else(|| name.to_owned()),
            name: inspect.name.map(|n| n.trim_start_matches('/').to_owned()).unwrap_or_else(|| name.to_owned()),
            owned: false,
            keep: true,
            debug_addr,
            mode: if hook.is_some() { DebuggerMode::Azureml } else { DebuggerMode::Image },
            transport,
            debug_port,
            python: "python3".into(),
            pythonpath: hook.and_then(|h| h.pythonpath),
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
        container.watch_state(events.clone());
        if transport == TransportMode::Exec {
            container.python = exec::find_python(&container.engine, &container.id, &container.name).await?;
        }
        if container.mode == DebuggerMode::Azureml {
            // Nothing listens until `connect` runs debugpy's adapter in the
            // container; the server's workers wait for it at the bootstrap's gate.
            return Ok(container);
        }
        // The container may have just started: connect only once debugpy listens.
        events.send(Event::Progress(format!("waiting for debugpy on port {debug_port} in {name}"))).await;
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
    /// to be kept; a container dockdap joined is never touched. The error
    /// says what the user should do about a container left behind.
    pub async fn end(self) -> Result<(), String> {
        if self.owned && !self.keep {
            return self.remove().await;
        }
        if self.owned {
            tracing::info!(name = %self.name, "keeping the container (keepContainer)");
        }
        Ok(())
    }

    async fn remove(&self) -> Result<(), String> {
        let removed = self
            .engine
            .docker
            .remove_container(&self.id, Some(RemoveContainerOptions { force: true, v: true, ..Default::default() }))
            .await;
        match removed {
            Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                tracing::info!(name = %self.name, "removed the container");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(name = %self.name, error = %e, "could not remove the container");
                Err(format!(
                    "could not remove container {} ({e}); `dockdap reap` removes it once the Docker Engine answers",
                    self.name
                ))
            }
        }
    }
}

/// The Azure ML hook of a container dockdap launched with `debugger:
/// "azureml"`, read from its environment: the port the server connects to
/// (`AZUREML_DEBUG_PORT`), present only with dockdap's gate (`DOCKDAP_GATE`),
/// and the `PYTHONPATH` that holds the debugpy dockdap copied in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AzuremlHook {
    port: u16,
    pythonpath: Option<String>,
}

fn azureml_hook(env: &[String]) -> Option<AzuremlHook> {
    let var = |name: &str| env.iter().rev().find_map(|e| e.strip_prefix(name)?.strip_prefix('='));
    var("DOCKDAP_GATE")?;
    let port = var("AZUREML_DEBUG_PORT")?.trim().parse().ok()?;
    Some(AzuremlHook { port, pythonpath: var("PYTHONPATH").map(str::to_owned) })
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
    facts: &inject::ImageFacts,
    plan: &Plan,
) -> Result<ContainerCreateBody, ContainerError> {
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    let loopback =
        |host_port: String| Some(vec![PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(host_port) }]);
    if plan.transport == TransportMode::Port {
        bindings.insert(format!("{}/tcp", args.debug_port), loopback(String::new()));
    }
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
    env.extend(inject::environment(args, plan.mode, facts));
    if plan.needs_bootstrap(args) {
        if !args.tune_debugger {
            env.push("DOCKDAP_TUNE_DEBUGGER=0".into());
        }
        let existing = args
            .env
            .get("PYTHONPATH")
            .map(String::as_str)
            .or_else(|| facts.env.iter().find_map(|e| e.strip_prefix("PYTHONPATH=")));
        let existing = match (&plan.debugpy, existing) {
            (Some(_), Some(p)) if !p.is_empty() => Some(format!("{}:{p}", inject::PYTHON_DIR)),
            (Some(_), _) => Some(inject::PYTHON_DIR.to_owned()),
            (None, p) => p.map(str::to_owned),
        };
        env.retain(|e| !e.starts_with("PYTHONPATH="));
        env.push(format!("PYTHONPATH={}", tune::pythonpath(existing.as_deref())));
    }
    Ok(ContainerCreateBody {
        image: Some(args.image.clone()),
        cmd: args.command.clone(),
        entrypoint: args.entrypoint.clone(),
        env: (!env.is_empty()).then_some(env),
        labels: Some(reap::launch_labels(session_id, &args.image, args.keep_container)),
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

/// What a launch decided: the debugger mode, the transport, and the debugpy
/// package to copy in (inject and azureml modes).
#[derive(Debug, Clone)]
struct Plan {
    mode: DebuggerMode,
    transport: TransportMode,
    debugpy: Option<std::path::PathBuf>,
}

impl Plan {
    /// The bootstrap goes in for tuning, and to start or gate debugpy.
    fn needs_bootstrap(&self, args: &LaunchArguments) -> bool {
        args.tune_debugger || self.debugpy.is_some()
    }
}

/// The image's command, environment, exposed ports and labels.
fn image_facts(image: &bollard::models::ImageInspect, args: &LaunchArguments) -> inject::ImageFacts {
    let config = image.config.clone().unwrap_or_default();
    let mut command = args.entrypoint.clone().or(config.entrypoint).unwrap_or_default();
    command.extend(args.command.clone().or(config.cmd).unwrap_or_default());
    let mut env = config.env.unwrap_or_default();
    env.extend(args.env.iter().map(|(k, v)| format!("{k}={v}")));
    inject::ImageFacts {
        command,
        env,
        exposed: config.exposed_ports.unwrap_or_default(),
        labels: config.labels.unwrap_or_default().into_iter().collect(),
    }
}

/// The attribute value of a debugger mode.
fn mode_name(mode: DebuggerMode) -> &'static str {
    match mode {
        DebuggerMode::Auto => "auto",
        DebuggerMode::Image => "image",
        DebuggerMode::Inject => "inject",
        DebuggerMode::Azureml => "azureml",
    }
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
        let plan = Plan { mode: DebuggerMode::Image, transport: TransportMode::Port, debugpy: None };
        let body = create_body(&args, "s", &inject::ImageFacts::default(), &plan).unwrap();
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
    fn joined_containers_with_the_azureml_hook() {
        let env = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            azureml_hook(&env(&["AZUREML_DEBUG_PORT=5679", "DOCKDAP_GATE=5679", "PYTHONPATH=/opt/a:/opt/b"])),
            Some(AzuremlHook { port: 5679, pythonpath: Some("/opt/a:/opt/b".into()) })
        );
        assert_eq!(azureml_hook(&env(&["AZUREML_DEBUG_PORT=5678"])), None, "the user's own hook: not dockdap's");
        assert_eq!(azureml_hook(&env(&["DOCKDAP_GATE=5678"])), None);
        assert_eq!(azureml_hook(&env(&["DOCKDAP_GATE=5678", "AZUREML_DEBUG_PORT=x"])), None);
    }

    #[test]
    fn debug_port_cannot_be_published_by_hand() {
        let args: LaunchArguments =
            serde_json::from_value(serde_json::json!({"image": "x", "ports": ["5678:5678"]})).unwrap();
        let plan = Plan { mode: DebuggerMode::Image, transport: TransportMode::Port, debugpy: None };
        let facts = inject::ImageFacts::default();
        assert!(create_body(&args, "s", &facts, &plan).unwrap_err().to_string().contains("publishes the debug port"));
    }
}
