//! Starting a debug container.
//!
//! The order matters: create (labelled, ports on 127.0.0.1 only, the debug
//! port, if the port transport is used, on an ephemeral host port), copy the
//! bootstrap and debugpy in (`inject`), attach to its output, start, read the
//! host ports (and whether someone paused it meanwhile) back from inspect,
//! then wait until debugpy listens *inside* the container while watching for
//! the container to exit (`wait`), and only then connect (through the
//! published port, or through `docker exec`). A container that dies while we
//! wait is reported within a second with its exit code and a reading of its
//! last lines. A launch that fails or is cancelled after the container was
//! created hands it back in `Failed::leftover`, to be removed once the
//! client has its answer.

use std::path::PathBuf;
use std::time::Duration;

use bollard::query_parameters::{AttachContainerOptions, CreateContainerOptions, UploadToContainerOptions};
use tokio::time::Instant;

use super::container::DebugContainer;
use super::create::{self, Plan};
use super::engine::{ContainerError, Engine, Subject};
use super::reach::Locality;
use super::{probe, reap, watch, watchdog};
use crate::config::{DebuggerMode, LaunchArguments, TransportMode, parse_port_pair};
use crate::console::EventSender;
use crate::runtime::{Context, Failed, fit, inject, labels, offload};

/// How long the steps around the wait for debugpy (copying files in,
/// attaching, starting) may take in all: a stuck engine call fails the
/// launch instead of hanging it.
const STEPS_TIMEOUT: Duration = Duration::from_secs(60);

impl DebugContainer {
    /// Creates and starts a container from `args`, and waits until debugpy
    /// listens in it. Stopping `cx.tasks` cancels the launch.
    pub async fn launch(args: &LaunchArguments, cx: &Context) -> Result<DebugContainer, Failed> {
        let cancel = cx.tasks.stop_token().clone();
        let (engine, facts, plan) = tokio::select! {
            prepared = prepare(args, &cx.events) => prepared?,
            () = cancel.cancelled() => return Err(ContainerError::Cancelled.into()),
        };
        let mut container = create(engine, args, &facts, &plan, cx).await?;
        let limit = Duration::from_secs_f64(args.timeout.max(0.0)) + STEPS_TIMEOUT;
        let result = tokio::select! {
            started = tokio::time::timeout(limit, container.start_and_wait(args, &plan)) => match started {
                Ok(started) => started,
                Err(_) => Err(ContainerError::Api(format!(
                    "starting container {} took over {}s; the Docker Engine does not answer for it",
                    container.name,
                    limit.as_secs()
                ))),
            },
            () = cancel.cancelled() => Err(ContainerError::Cancelled),
        };
        match result {
            Ok(()) => Ok(container),
            Err(error) => {
                container.keep = false;
                Err(Failed { error, leftover: Some(std::sync::Arc::new(container)) })
            }
        }
    }

    /// Copies the bootstrap (and debugpy) in, attaches to the output,
    /// starts the container, reads its ports, and waits for debugpy.
    async fn start_and_wait(&mut self, args: &LaunchArguments, plan: &Plan) -> Result<(), ContainerError> {
        self.prepare_created(args, plan).await?;
        self.events.progress(format!("starting container {}", self.name)).await;
        if let Err(e) = self.handle.engine.docker.start_container(&self.id, None).await {
            return Err(self.start_error(e, args));
        }
        self.until_debugger(args, plan).await
    }

    /// What a created container needs before it starts, however it is
    /// started (the Engine API, or the Compose tool): the bootstrap (and
    /// debugpy) copied in, and its output followed from the start.
    pub(super) async fn prepare_created(&self, args: &LaunchArguments, plan: &Plan) -> Result<(), ContainerError> {
        if plan.needs_bootstrap(args) {
            self.copy_bootstrap(args, plan).await?;
        }
        self.attach_output().await
    }

    /// After the start: reads its ports, and waits until debugpy listens
    /// (or, with the Azure ML hook, until its Python answers).
    pub(super) async fn until_debugger(&mut self, args: &LaunchArguments, plan: &Plan) -> Result<(), ContainerError> {
        self.read_ports(args.debug_port, plan.forward).await?;
        if plan.mode == DebuggerMode::Azureml {
            // debugpy's adapter runs in the container once dockdap connects;
            // the server's workers wait for it at the bootstrap's gate.
            let deadline = Instant::now() + Duration::from_secs_f64(args.timeout.max(0.0));
            self.python = self.find_python(deadline).await?;
        } else {
            self.wait_for_debugger(args.debug_port, args.timeout, plan.debugpy.is_some()).await?;
        }
        if plan.forward {
            // The relay needs the container's Python, known only now.
            self.forward_ports(&create::asked_ports(args)?).await?;
        }
        Ok(())
    }

    async fn copy_bootstrap(&self, args: &LaunchArguments, plan: &Plan) -> Result<(), ContainerError> {
        self.copy_bootstrap_into(&self.id, &self.name, args, plan).await
    }

    /// Copies the bootstrap (and debugpy) into the created container `id`
    /// (this one, or another service of its Compose project).
    pub(super) async fn copy_bootstrap_into(
        &self,
        id: &str,
        name: &str,
        args: &LaunchArguments,
        plan: &Plan,
    ) -> Result<(), ContainerError> {
        let root = plan.bootstrap_root(args);
        let archive =
            offload::archive(plan.debugpy.clone(), root).await.map_err(|e| ContainerError::Unusable(e.to_string()))?;
        let options = UploadToContainerOptions { path: root.into(), ..Default::default() };
        let engine = &self.handle.engine;
        engine
            .docker
            .upload_to_container(id, Some(options), bollard::body_full(archive))
            .await
            .map_err(|e| engine.error(e, Subject::Container(name)))?;
        if root != "/" {
            self.events.console(format!(
                "[dockdap] the root filesystem is read-only: dockdap's files go to a volume of the container's own at {root}, removed with it"
            ));
        }
        if let Some(debugpy) = &plan.debugpy {
            self.events.console(format!("[dockdap] copied debugpy from {} into {name}", debugpy.display()));
        }
        if args.tune_debugger && id == self.id {
            self.events.console(
                "[dockdap] tuneDebugger: TCP_NODELAY on debugpy's sockets in the container (about 40 ms less per request; `tuneDebugger: false` turns it off)",
            );
        }
        Ok(())
    }

    /// Streams the container's output (from its start) to the session.
    async fn attach_output(&self) -> Result<(), ContainerError> {
        let options =
            AttachContainerOptions { stream: true, logs: true, stdout: true, stderr: true, ..Default::default() };
        let engine = &self.handle.engine;
        let attached = engine
            .docker
            .attach_container(&self.id, Some(options))
            .await
            .map_err(|e| engine.error(e, Subject::Container(&self.name)))?;
        self.tasks.spawn(watch::pump(attached.output, self.events.clone(), self.tail.clone()));
        Ok(())
    }

    /// The host ports from inspect: the debug port with the port transport,
    /// the service ports (unless they are forwarded); and whether the
    /// container was paused meanwhile.
    async fn read_ports(&mut self, debug_port: u16, forwarded: bool) -> Result<(), ContainerError> {
        let inspect = self.handle.inspect().await?;
        self.set_paused.send_replace(inspect.paused);
        if self.transport == TransportMode::Port {
            let host_port = inspect.ports.iter().find(|(c, _)| *c == debug_port).map(|(_, h)| *h).ok_or_else(|| {
                ContainerError::Unusable(format!(
                    "the debug port {debug_port} was not published; is the container still running?"
                ))
            })?;
            self.facts.debug_address = format!("127.0.0.1:{host_port}");
        } else {
            self.facts.debug_address = format!("docker exec into {}", self.name);
        }
        if forwarded {
            return Ok(());
        }
        self.facts.service_ports = create::service_ports(&inspect.ports, debug_port);
        for port in &self.facts.service_ports {
            self.events.console(format!("[dockdap] service port {} is at {}", port.container, port.url()));
        }
        Ok(())
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
        self.handle.engine.error(e, Subject::Container(&self.name))
    }
}

/// What a launch decides before it creates anything: the engine, the
/// image's facts, the debugger mode and transport, the debugpy to copy in.
async fn prepare(
    args: &LaunchArguments,
    events: &EventSender,
) -> Result<(Engine, inject::ImageFacts, Plan), ContainerError> {
    let engine = connect_and_reap(events).await?;
    // A missing image whose reference names a registry is pulled with the user's credentials.
    let mut pull_progress = |line: String| events.console(format!("[dockdap] {line}"));
    let image = super::pull::inspect_or_pull(&engine, &args.image, &mut pull_progress).await?;
    let mut facts = create::image_facts(&image, args);
    if args.debugger == DebuggerMode::Auto {
        events.progress("reading the image's entry script").await;
        let working_dir = image.config.as_ref().and_then(|c| c.working_dir.clone()).unwrap_or_default();
        match super::peek::read_files(&engine, &args.image, &facts.command, &facts.env, &working_dir).await {
            Ok(files) => facts.files = files,
            Err(e) => tracing::warn!(error = %e, "could not read the image's files; `auto` decides from its command"),
        }
    }
    if let (TransportMode::Port, Locality::Remote { why }) = (args.transport, &engine.locality) {
        return Err(remote_port_transport(why));
    }
    let mut plan = plan(&engine, args, &facts, image.id.as_deref(), events).await?;
    plan.forward = engine.is_remote();
    Ok((engine, facts, plan))
}

/// Connects to the engine and removes what dead dockdap sessions left in it.
pub(super) async fn connect_and_reap(events: &EventSender) -> Result<Engine, ContainerError> {
    events.progress("connecting to the Docker Engine").await;
    let engine = Engine::connect().await?;
    match reap::reap(&engine).await {
        Ok(removed) if !removed.is_empty() => events.console(format!(
            "[dockdap] removed {} container(s) left behind by dead dockdap sessions: {}",
            removed.len(),
            removed.join(", ")
        )),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not look for leftover containers"),
    }
    Ok(engine)
}

/// The debugger mode and transport for what the container will run, and
/// the debugpy to copy in; says the choice in the debug console.
pub(super) async fn plan(
    engine: &Engine,
    args: &LaunchArguments,
    facts: &inject::ImageFacts,
    image_id: Option<&str>,
    events: &EventSender,
) -> Result<Plan, ContainerError> {
    let choice = inject::choose(args.debugger, facts, args.debug_port);
    let transport = match (args.transport, choice.mode) {
        (TransportMode::Port, DebuggerMode::Azureml) => {
            return Err(ContainerError::Unusable(
                "`debugger: \"azureml\"` needs `transport: \"exec\"` (or \"auto\"): the server's hook connects out to debugpy's adapter, which dockdap runs inside the container".into(),
            ));
        }
        (TransportMode::Auto, _) => TransportMode::Exec,
        (transport, _) => transport,
    };
    events.console(format!(
        "[dockdap] debugger: {} ({}); transport: {}",
        create::mode_name(choice.mode),
        choice.reason,
        if transport == TransportMode::Exec {
            "exec (no debug port is published)"
        } else {
            "port (published on 127.0.0.1)"
        }
    ));
    let debugpy = match choice.mode {
        DebuggerMode::Inject | DebuggerMode::Azureml => {
            inject::check_wrappable(facts).map_err(ContainerError::Unusable)?;
            let found = offload::find_debugpy(args.debugpy_path.clone())
                .await
                .map_err(|e| ContainerError::Unusable(e.to_string()))?;
            Some(fitting_debugpy(engine, args, image_id, found, events).await?)
        }
        _ => None,
    };
    Ok(Plan { mode: choice.mode, transport, debugpy, forward: false })
}

/// `transport: "port"` on an engine whose 127.0.0.1 is not this machine's.
pub(super) fn remote_port_transport(why: &str) -> ContainerError {
    ContainerError::Unusable(format!(
        "`transport: \"port\"` needs debugpy's port published on this machine's 127.0.0.1, but the engine is remote ({why}); use `transport: \"exec\"` (or \"auto\"): DAP then goes through the Engine API, and service ports are forwarded to 127.0.0.1 here"
    ))
}

/// `found`, if it runs on the image's Python; else a debugpy from dockdap's
/// cache that does (unless the user named one); else why none can.
async fn fitting_debugpy(
    engine: &Engine,
    args: &LaunchArguments,
    image_id: Option<&str>,
    found: PathBuf,
    events: &EventSender,
) -> Result<PathBuf, ContainerError> {
    let Some(lowest) = fit::lowest_python(&found) else { return Ok(found) };
    let Some(python) = image_python(engine, &args.image, image_id).await else { return Ok(found) };
    if lowest <= python {
        return Ok(found);
    }
    let named = args.debugpy_path.is_some() || std::env::var_os("DOCKDAP_DEBUGPY").is_some();
    let cached = if named { Vec::new() } else { fit::cached_packages() };
    match fit::first_fitting(&cached, python) {
        Some(other) => {
            events.console(format!(
                "[dockdap] the image runs Python {}.{}, older than debugpy {} on this machine supports ({}.{}+): copying debugpy {} from {} instead",
                python.0,
                python.1,
                fit::version_of(&found),
                lowest.0,
                lowest.1,
                fit::version_of(&other),
                other.display()
            ));
            Ok(other)
        }
        None => Err(ContainerError::Unusable(fit::no_fit_message(&found, lowest, python))),
    }
}

/// The image's Python version, asked once per image in this process (a
/// throwaway container, no network); `None` when it cannot be told.
async fn image_python(engine: &Engine, image: &str, image_id: Option<&str>) -> Option<fit::Version> {
    static SEEN: std::sync::Mutex<Vec<(String, fit::Version)>> = std::sync::Mutex::new(Vec::new());
    let key = image_id.unwrap_or(image).to_owned();
    if let Some(version) = SEEN.lock().ok()?.iter().find(|(k, _)| *k == key).map(|(_, v)| *v) {
        return Some(version);
    }
    let program = probe::PythonProgram {
        image: image.to_owned(),
        code: "import sys; print('%d.%d' % sys.version_info[:2])".into(),
        args: Vec::new(),
        env: Vec::new(),
        working_dir: None,
        no_network: true,
        timeout: Duration::from_secs(30),
    };
    let run = match probe::run_python(engine, &program, &tokio_util::sync::CancellationToken::new()).await {
        Ok(Some(run)) => run,
        Ok(None) => return None,
        Err(e) => {
            tracing::debug!(error = %e, "could not ask the image's Python for its version");
            return None;
        }
    };
    let version = fit::parse_version(&run.stdout)?;
    SEEN.lock().ok()?.push((key, version));
    Some(version)
}

/// Creates the container (and its watchdog), and starts watching it.
async fn create(
    engine: Engine,
    args: &LaunchArguments,
    facts: &inject::ImageFacts,
    plan: &Plan,
    cx: &Context,
) -> Result<DebugContainer, ContainerError> {
    let session_id = labels::new_session_id();
    let name = args.container_name.clone().unwrap_or_else(|| create::generated_name(&args.image, &session_id));
    let body = create::create_body(args, &session_id, facts, plan)?;
    cx.events.progress(format!("creating container {name} from {}", args.image)).await;
    let created = engine
        .docker
        .create_container(Some(CreateContainerOptions { name: Some(name.clone()), ..Default::default() }), body)
        .await
        .map_err(|e| engine.error(e, Subject::Container(&name)))?;
    if !args.keep_container {
        watchdog::spawn(&created.id);
    }
    let mut container = DebugContainer::new(engine, created.id, name, plan.mode, plan.transport, args.debug_port, cx);
    container.owned = true;
    container.keep = args.keep_container;
    container.pythonpath = plan.pythonpath();
    Ok(container)
}
