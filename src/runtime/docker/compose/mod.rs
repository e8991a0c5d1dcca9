//! Compose projects: one service debugged, the others running around it.
//!
//! A Compose service's container is a Docker container, so the Compose
//! tool only creates and starts (and at the end removes) the project, and
//! the Docker runtime does everything else with the service's container
//! (the exec transport, files, output, snapshots).
//!
//! `launch` brings the project up through the tool the user has, with an
//! override dockdap owns (`overlay`, in a folder of its own): first with
//! only dockdap's labels on every service, which creates the containers
//! (images pulled, networks and volumes made) without starting them; then,
//! knowing what the service runs (its image, command and environment, read
//! from its created container), with the debugger's environment for that
//! service, which the tool recreates; the bootstrap (and debugpy) is copied
//! into it, as into a plain launch's container, before `up -d` starts the
//! project. The session's end brings it `down`. A project that is up
//! already is refused: `attach` joins it without changing it.
//!
//! `join` finds a running project's service (replica `index`) by the
//! tool's labels and joins it like any container; the project is left as
//! it was.

mod overlay;
mod project;
mod tool;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::query_parameters::InspectContainerOptions;
use serde_json::json;

pub(super) use project::LABEL_PROJECT;
pub(crate) use project::Project;
use project::{LABEL_NUMBER, LABEL_SERVICE, Member, label_filter, members};
use tool::Tool;

use super::container::DebugContainer;
use super::create::{self, Plan};
use super::engine::{Engine, Subject};
use super::launch::{connect_and_reap, plan as plan_for};
use super::watchdog;
use crate::config::{AttachArguments, ComposeArguments, LaunchArguments, TransportMode};
use crate::runtime::labels::{self, LABEL_IMAGE, LABEL_SESSION};
use crate::runtime::{ContainerError, Context, Failed, MoreTarget, inject};

/// How long the steps after the project's containers exist may take
/// beyond the wait for debugpy (copying in, `up -d`).
const STEPS_TIMEOUT: Duration = Duration::from_secs(120);

/// Brings the project up with `compose.service` debuggable, and waits until
/// its debugpy listens. Stopping `cx.tasks` cancels the launch; whatever
/// was brought up is brought down.
pub(in crate::runtime::docker) async fn launch(
    args: &LaunchArguments,
    compose: &ComposeArguments,
    cx: &Context,
) -> Result<DebugContainer, Failed> {
    let cancel = cx.tasks.stop_token().clone();
    let (engine, project) = tokio::select! {
        checked = check(compose, cx) => checked?,
        () = cancel.cancelled() => return Err(ContainerError::Cancelled.into()),
    };
    let created = tokio::select! {
        created = create(&engine, &project, args, compose, cx) => created,
        () = cancel.cancelled() => Err(ContainerError::Cancelled),
    };
    let (debugged, others) = match created {
        Ok(created) => created,
        Err(error) => {
            if let Err(e) = project.down().await {
                tracing::warn!(error = %e, "could not bring the Compose project down after a failed launch");
            }
            return Err(error.into());
        }
    };
    let Prepared { member, effective, plan } = debugged;
    let mut container =
        DebugContainer::new(engine, member.id, member.name, plan.mode, plan.transport, args.debug_port, cx);
    container.keep = args.keep_container;
    container.pythonpath = plan.pythonpath();
    container.project = Some(project.clone());
    container.more = others.iter().map(|o| o.target(args)).collect();
    let limit = Duration::from_secs_f64(args.timeout.max(0.0)) + STEPS_TIMEOUT;
    let starting = async {
        container.prepare_created(&effective, &plan).await?;
        for other in &others {
            if other.plan.needs_bootstrap(&other.effective) {
                container
                    .copy_bootstrap_into(&other.member.id, &other.member.name, &other.effective, &other.plan)
                    .await?;
            }
        }
        cx.events.progress(format!("starting the Compose project (`{} up -d`)", project.tool.name())).await;
        project.run(&["up", "-d"]).await?;
        container.until_debugger(&effective, &plan).await
    };
    let result = tokio::select! {
        started = tokio::time::timeout(limit, starting) => started.unwrap_or_else(|_| Err(ContainerError::Api(format!(
            "starting the Compose project took over {}s", limit.as_secs()
        )))),
        () = cancel.cancelled() => Err(ContainerError::Cancelled),
    };
    match result {
        Ok(()) => Ok(container),
        Err(error) => {
            container.keep = false;
            Err(Failed { error, leftover: Some(Arc::new(container)) })
        }
    }
}

/// The engine, the tool and the project's services; refuses a service the
/// project does not have and a project that is up already.
async fn check(compose: &ComposeArguments, cx: &Context) -> Result<(Engine, Arc<Project>), ContainerError> {
    let engine = connect_and_reap(&cx.events).await?;
    let tool = Tool::find(compose, &cx.workspace).await?;
    cx.events.progress(format!("reading the Compose project (`{} config`)", tool.name())).await;
    let running = match &compose.project {
        Some(project) => {
            let all = members(&engine, label_filter(&[(LABEL_PROJECT, project)])).await?;
            all.into_iter().filter(|m| m.running).collect()
        }
        None => running(&engine, &tool, cx).await?,
    };
    if let Some(first) = running.first() {
        return Err(ContainerError::Unusable(format!(
            "the Compose project {:?} is up already ({} running, e.g. {}); debug its service with `\"request\": \"attach\"` and the same `compose`, or bring it down first (`{} down`) and launch again",
            first.project,
            running.len(),
            first.name,
            tool.name()
        )));
    }
    let session = labels::new_session_id();
    Ok((engine, Arc::new(Project::new(tool, &session, &cx.events)?)))
}

/// The project's running containers, as the tool lists them (it knows
/// the project's name: `COMPOSE_PROJECT_NAME`, `.env`, the file's `name`).
async fn running(engine: &Engine, tool: &Tool, cx: &Context) -> Result<Vec<Member>, ContainerError> {
    let ids = tool.run(None, &["ps", "-q"], &cx.events).await?;
    let ids: Vec<String> = ids.split_whitespace().map(str::to_owned).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found = members(engine, HashMap::from([("id".to_owned(), ids)])).await?;
    Ok(found.into_iter().filter(|m| m.running).collect())
}

/// A debugged service's created container, the launch arguments as they
/// apply to it, and how debugpy gets in.
struct Prepared {
    member: Member,
    effective: LaunchArguments,
    plan: Plan,
}

impl Prepared {
    /// How a session of its own joins this service (`alsoDebug`).
    fn target(&self, args: &LaunchArguments) -> MoreTarget {
        let service = self.member.service.clone();
        let mut attach = serde_json::Map::new();
        attach.insert("compose".into(), json!({ "service": service, "project": self.member.project }));
        attach.insert("transport".into(), json!(self.plan.transport));
        attach.insert("debugPort".into(), json!(args.debug_port));
        attach.insert("timeout".into(), json!(args.timeout));
        // The session's `localRoot` is the debugged service's folder, not
        // this one's: syncing it into this service would plant the wrong app.
        attach.insert("sync".into(), json!({ "fromContainer": "off", "toContainer": "off" }));
        MoreTarget { name: format!("service {service} of Compose project {}", self.member.project), attach }
    }
}

/// Creates the project's containers twice: with dockdap's labels, then with
/// the services to debug (`service`, then `alsoDebug`) made debuggable;
/// returns `service`'s container and the others'.
async fn create(
    engine: &Engine,
    project: &Project,
    args: &LaunchArguments,
    compose: &ComposeArguments,
    cx: &Context,
) -> Result<(Prepared, Vec<Prepared>), ContainerError> {
    let services = project.tool.run(None, &["config", "--services"], &cx.events).await?;
    let services: Vec<String> = services.lines().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    let wanted: Vec<(&str, u16)> = std::iter::once((compose.service.as_str(), compose.index))
        .chain(compose.also_debug.iter().map(|s| (s.as_str(), 1)))
        .collect();
    for (i, (service, _)) in wanted.iter().enumerate() {
        if !services.iter().any(|s| s == service) {
            let attribute =
                if i == 0 { "`compose.service`".to_owned() } else { format!("`compose.alsoDebug[{}]`", i - 1) };
            return Err(ContainerError::Unusable(format!(
                "{attribute} {service:?}: the Compose project has no such service; its services are {} (from {})",
                services.join(", "),
                files(&project.tool)
            )));
        }
    }
    let session = project.session.clone();
    let mut labels = labels::launch_labels(&session, "", args.keep_container);
    labels.remove(LABEL_IMAGE);
    project.write(&overlay::overlay(&services, &labels, &[]))?;
    cx.events
        .progress(format!("creating the Compose project's containers (`{} up --no-start`)", project.tool.name()))
        .await;
    project.run(&["up", "--no-start"]).await?;
    let mut debugged = Vec::new();
    let mut planned = Vec::new();
    for (i, (service, index)) in wanted.iter().enumerate() {
        let first = service_container(engine, &session, service, *index).await?;
        let (image, facts) = facts_of(engine, &first).await?;
        let mut effective = args.clone();
        effective.image = image.clone();
        effective.command = None;
        effective.entrypoint = None;
        // A service beside the session's own waits for its debugger only
        // when a child session will come to release it.
        effective.wait_for_debugger = args.wait_for_debugger && (i == 0 || cx.child_sessions);
        let plan = plan_for(engine, &effective, &facts, None, &cx.events).await?;
        debugged.push(overlay::Debugged {
            service: (*service).to_owned(),
            env: create::environment(&effective, &facts, &plan),
            labels: vec![(LABEL_IMAGE.to_owned(), image)],
            debug_port: (plan.transport == TransportMode::Port).then_some(args.debug_port),
        });
        planned.push((effective, plan));
    }
    project.write(&overlay::overlay(&services, &labels, &debugged))?;
    let names: Vec<&str> = wanted.iter().map(|(s, _)| *s).collect();
    cx.events.progress(format!("making {} debuggable", names.join(", "))).await;
    project.run(&["up", "--no-start"]).await?;
    let mut prepared = Vec::new();
    for ((service, index), (effective, plan)) in wanted.iter().zip(planned) {
        let member = service_container(engine, &session, service, *index).await?;
        prepared.push(Prepared { member, effective, plan });
    }
    if !args.keep_container {
        for m in members(engine, label_filter(&[(LABEL_SESSION, &session)])).await? {
            watchdog::spawn(&m.id);
        }
    }
    let mut prepared = prepared.into_iter();
    let first = prepared.next().ok_or_else(|| ContainerError::Api("no service to debug".into()))?;
    Ok((first, prepared.collect()))
}

/// The container of `service` (replica `index`) among those of session `session`.
async fn service_container(
    engine: &Engine,
    session: &str,
    service: &str,
    index: u16,
) -> Result<Member, ContainerError> {
    let filter = label_filter(&[(LABEL_SESSION, session), (LABEL_SERVICE, service)]);
    let found = members(engine, filter).await?;
    pick(&found, service, index).cloned()
}

/// Replica `index` of `service` among `found`.
fn pick<'a>(found: &'a [Member], service: &str, index: u16) -> Result<&'a Member, ContainerError> {
    if found.is_empty() {
        return Err(ContainerError::Unusable(format!(
            "service {service:?} of the Compose project has no container; is the project up (`docker compose up -d`)? A `launch` configuration with the same `compose` brings it up; a service in a profile needs it in `compose.profiles`"
        )));
    }
    found.iter().find(|m| m.number == index).ok_or_else(|| {
        let mut numbers: Vec<u16> = found.iter().map(|m| m.number).collect();
        numbers.sort_unstable();
        let numbers: Vec<String> = numbers.iter().map(u16::to_string).collect();
        ContainerError::Unusable(format!(
            "`compose.index` {index}: service {service:?} has no such replica; its replicas are {} (`{}` labels)",
            numbers.join(", "),
            LABEL_NUMBER
        ))
    })
}

/// What the service's created container runs: its image, and the facts
/// that decide how debugpy gets in (the command and environment as the
/// Compose file set them, over the image's).
async fn facts_of(engine: &Engine, member: &Member) -> Result<(String, inject::ImageFacts), ContainerError> {
    let inspect = engine
        .docker
        .inspect_container(&member.id, None::<InspectContainerOptions>)
        .await
        .map_err(|e| engine.error(e, Subject::Container(&member.name)))?;
    let config = inspect.config.unwrap_or_default();
    let mut command = config.entrypoint.unwrap_or_default();
    command.extend(config.cmd.unwrap_or_default());
    let facts = inject::ImageFacts {
        command,
        env: config.env.unwrap_or_default(),
        exposed: config.exposed_ports.unwrap_or_default(),
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        ..Default::default()
    };
    Ok((config.image.unwrap_or_default(), facts))
}

/// The project's files, for messages.
fn files(tool: &Tool) -> String {
    tool.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// Joins replica `compose.index` of a running service; the project is left
/// as it is, during the session and after.
pub(in crate::runtime::docker) async fn join(
    args: &AttachArguments,
    compose: &ComposeArguments,
    cx: &Context,
) -> Result<DebugContainer, ContainerError> {
    let engine = Engine::connect().await?;
    let found = match &compose.project {
        Some(project) => {
            members(&engine, label_filter(&[(LABEL_PROJECT, project), (LABEL_SERVICE, &compose.service)])).await?
        }
        None => {
            let tool = Tool::find(compose, &cx.workspace).await?;
            let ids = tool.run(None, &["ps", "-q", &compose.service], &cx.events).await?;
            let ids: Vec<String> = ids.split_whitespace().map(str::to_owned).collect();
            if ids.is_empty() { Vec::new() } else { members(&engine, HashMap::from([("id".to_owned(), ids)])).await? }
        }
    };
    let member = pick(&found, &compose.service, compose.index)?;
    if !member.running {
        return Err(ContainerError::Unusable(format!(
            "replica {} of service {:?} ({}) is not running; start it (`docker compose start {}`)",
            member.number, compose.service, member.name, compose.service
        )));
    }
    cx.events.console(format!(
        "[dockdap] joining service {} of Compose project {} (container {})",
        compose.service, member.project, member.name
    ));
    DebugContainer::join(&member.id, args, false, cx).await
}
