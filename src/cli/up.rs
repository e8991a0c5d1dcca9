//! `dockdap up CONFIG`: a debug container without an editor, the seed's
//! `docker run ... debug:1` done right (`down` removes it).
//!
//! `up` starts the container through the same `DebugContainer::launch` the
//! adapter uses (labels, ports on 127.0.0.1, the debugger mode, waiting for
//! debugpy, the diagnosis when it dies), with `keepContainer` forced on so it
//! outlives `up` (and is left alone by reaping), then prints the service
//! URLs and an attach configuration to paste into the editor.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::configfile;
use super::output::{self, Progress, Style};
use super::{CliError, json_failure};
use crate::config::{
    DEFAULT_APP_ROOT, DEFAULT_DEBUG_PORT, DebuggerMode, LaunchArguments, Request, SessionConfig, TransportMode,
};
use crate::console::{Category, Event, EventSender};
use crate::runtime::docker::DebugContainer;
use crate::runtime::{Context, Runtime};
use crate::tasks::Tasks;

/// How long the Azure ML hook's workers wait for an editor to attach after
/// `up` (the session's `timeout` is meant for a session that is attaching now).
const UP_GATE_TIMEOUT_SECS: &str = "86400";

/// `dockdap up CONFIG`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:
  dockdap up .vscode/launch.json                      # its (first) dockdap launch configuration
  dockdap up .vscode/launch.json --name \"debug score\"
  dockdap up debug.json --json                         # debug.json: {\"request\": \"launch\", \"image\": \"debug:1\"}
Then attach from the editor with the printed configuration, and `dockdap down NAME` at the end.")]
pub struct UpArgs {
    /// A launch configuration file: one JSON object ("request": "launch"),
    /// or a VS Code launch.json (comments allowed) with a dockdap launch configuration
    pub config: PathBuf,
    /// Which configuration of a launch.json (its "name"; default: the first dockdap launch one)
    #[arg(long)]
    pub name: Option<String>,
    /// Print one JSON document ({container, id, debugger, transport, ports, attach}) on stdout
    #[arg(long)]
    pub json: bool,
}

/// Runs `dockdap up`.
pub async fn run(args: UpArgs, shutdown: CancellationToken) -> Result<ExitCode, CliError> {
    let json = args.json;
    up(args, shutdown).await.map_err(|e| json_failure(json, e))
}

async fn up(args: UpArgs, shutdown: CancellationToken) -> Result<ExitCode, CliError> {
    let cwd = std::env::current_dir()?;
    let (file, launch) = read_launch(&args, &cwd)?;
    let workspace = PathBuf::from(launch.paths.local_root_on(&cwd));
    let container = start(&launch, workspace, shutdown).await?;
    let attach = attach_configuration(&container.name, &file.raw, &launch.debug_port, container.transport);
    if args.json {
        let ports: Vec<Value> = container
            .facts()
            .service_ports
            .iter()
            .map(|p| json!({"container": p.container, "host": p.address.port(), "url": p.url()}))
            .collect();
        output::print_json(&json!({
            "container": container.name,
            "id": container.id,
            "image": launch.image,
            "debugger": container.mode,
            "transport": container.transport,
            "debugPort": container.debug_port,
            "ports": ports,
            "attach": attach,
        }))?;
    } else {
        print_up(&container, &launch.image, &attach, launch.wait_for_debugger)?;
    }
    // Kept: `end` leaves the container running and only stops watching it.
    if let Err(why) = container.end().await {
        tracing::warn!(%why, "ending the launch handle");
    }
    Ok(ExitCode::SUCCESS)
}

/// The launch configuration `up` starts, as `up` runs it: kept after `up`
/// ends, the Azure ML hook's workers waiting a day for an editor.
fn read_launch(args: &UpArgs, cwd: &std::path::Path) -> Result<(configfile::LaunchFile, LaunchArguments), CliError> {
    let file = configfile::load(&args.config, args.name.as_deref(), cwd)?;
    if let Some(note) = &file.note {
        output::err(&format!("dockdap up: {note}"));
    }
    let parsed = SessionConfig::parse(true, &file.config)?;
    let Request::Launch(mut launch) = parsed.request else {
        return Err(CliError::Usage("not a launch configuration".into()));
    };
    if launch.compose.is_some() {
        return Err(CliError::Usage(
            "`dockdap up` starts one container from an image; for a Compose service, bring the project up with `docker compose up` and debug it with an `attach` configuration with `compose`".into(),
        ));
    }
    launch.keep_container = true;
    if matches!(launch.debugger, DebuggerMode::Auto | DebuggerMode::Azureml) {
        launch.env.entry("DOCKDAP_GATE_TIMEOUT".into()).or_insert_with(|| UP_GATE_TIMEOUT_SECS.into());
    }
    Ok((file, launch))
}

/// Starts the container, showing its progress; a container left half-made
/// by a failed start is removed.
async fn start(
    launch: &LaunchArguments,
    workspace: PathBuf,
    shutdown: CancellationToken,
) -> Result<DebugContainer, CliError> {
    let (events, mut rx) = EventSender::channel(256);
    let cx = Context { events, tasks: Tasks::new(shutdown.child_token()), workspace, child_sessions: false };
    let mut progress = Progress::start(&format!("starting {}", launch.image));
    let style = progress.style();
    let started = tokio::time::Instant::now();
    let launched = {
        let launching = DebugContainer::launch(launch, &cx);
        tokio::pin!(launching);
        loop {
            tokio::select! {
                result = &mut launching => break result,
                Some(event) = rx.recv() => show(&mut progress, style, event),
            }
        }
    };
    while let Ok(event) = rx.try_recv() {
        show(&mut progress, style, event);
    }
    let container = match launched {
        Ok(container) => container,
        Err(failed) => {
            progress.finish(None);
            if let Some(leftover) = failed.leftover
                && let Err(why) = leftover.end().await
            {
                output::err(&format!("dockdap up: {why}"));
            }
            return Err(failed.error.into());
        }
    };
    progress.finish(Some(&format!(
        "{} container {} is up ({:.1}s)",
        style.green("✓"),
        container.name,
        started.elapsed().as_secs_f64()
    )));
    Ok(container)
}

/// Progress and dockdap's own console lines; the program's output is left
/// for `dockdap logs`.
fn show(progress: &mut Progress, style: Style, event: Event) {
    match event {
        Event::Progress(message) => progress.set(&message),
        Event::Output { category: Category::Console, text } => {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                progress.println(&style.dim(line));
            }
        }
        Event::Output { .. } | Event::Exited { .. } => {}
    }
}

/// The configuration an editor needs to attach to the container: its name
/// and the path attributes as the file wrote them (so `${workspaceFolder}`
/// stays a variable).
fn attach_configuration(name: &str, raw: &Value, debug_port: &u16, transport: TransportMode) -> Value {
    let mut attach = Map::new();
    attach.insert("type".into(), json!("dockdap"));
    attach.insert("request".into(), json!("attach"));
    attach.insert("name".into(), json!(format!("dockdap: attach {name}")));
    attach.insert("container".into(), json!(name));
    attach.insert("localRoot".into(), raw.get("localRoot").cloned().unwrap_or_else(|| json!("${workspaceFolder}")));
    attach.insert("appRoot".into(), raw.get("appRoot").cloned().unwrap_or_else(|| json!(DEFAULT_APP_ROOT)));
    if let Some(mappings) = raw.get("pathMappings").filter(|m| m.as_array().is_some_and(|a| !a.is_empty())) {
        attach.insert("pathMappings".into(), mappings.clone());
    }
    if *debug_port != DEFAULT_DEBUG_PORT {
        attach.insert("debugPort".into(), json!(debug_port));
    }
    if transport == TransportMode::Port {
        attach.insert("transport".into(), json!("port"));
    }
    // debugpy's own options (justMyCode, ...) apply to the attach as well.
    for (key, value) in raw.as_object().into_iter().flatten() {
        if !crate::config::owned_attributes(true).iter().any(|o| o == key)
            && !["type", "request", "name", "preLaunchTask", "postDebugTask"].contains(&key.as_str())
        {
            attach.insert(key.clone(), value.clone());
        }
    }
    Value::Object(attach)
}

fn print_up(container: &DebugContainer, image: &str, attach: &Value, waits: bool) -> std::io::Result<()> {
    let style = Style::stdout();
    let name = &container.name;
    let mode = serde_json::to_value(container.mode).ok().and_then(|v| v.as_str().map(str::to_owned));
    output::out(&format!(
        "{} runs {image} (debugger: {}, transport: {}); it keeps running until `dockdap down {name}`",
        style.bold(name),
        mode.as_deref().unwrap_or("?"),
        if container.transport == TransportMode::Port { "port" } else { "exec" },
    ))?;
    for port in &container.facts().service_ports {
        if container.is_remote() {
            // The forwarding ends with this command; an attach session forwards again.
            output::out(&format!(
                "  service   port {} in the container, on a remote engine: forwarded to this machine while a debug session is attached",
                port.container
            ))?;
            continue;
        }
        output::out(&format!(
            "  service   {} (port {} in the container); try `dockdap score --port {}`",
            port.url(),
            port.container,
            port.address.port()
        ))?;
    }
    let waiting = if container.mode == DebuggerMode::Azureml {
        "the server's workers wait for the debugger before init()"
    } else if waits {
        "debugpy waits for the debugger before the app goes on (waitForDebugger)"
    } else {
        "debugpy listens; the app runs"
    };
    output::out(&format!("  debugger  port {} in the container: {waiting}", container.debug_port))?;
    output::out(&format!("  logs      dockdap logs {name} -f"))?;
    output::out(&format!("  stop      dockdap down {name}"))?;
    output::out("")?;
    output::out("Attach from your editor with this configuration (e.g. in .vscode/launch.json \"configurations\"):")?;
    output::out(&serde_json::to_string_pretty(attach).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_configuration_keeps_variables_and_debugpy_options() {
        let raw = json!({"type": "dockdap", "request": "launch", "name": "x", "image": "i", "env": {"A": "1"},
                         "localRoot": "${workspaceFolder}/src", "justMyCode": false, "ports": ["0:5001"]});
        let attach = attach_configuration("c1", &raw, &5678, TransportMode::Exec);
        assert_eq!(
            attach,
            json!({"type": "dockdap", "request": "attach", "name": "dockdap: attach c1", "container": "c1",
                   "localRoot": "${workspaceFolder}/src", "appRoot": "/var/azureml-app", "justMyCode": false})
        );
        let attach = attach_configuration("c1", &json!({"appRoot": "/app"}), &5679, TransportMode::Port);
        assert_eq!(attach["debugPort"], 5679);
        assert_eq!(attach["transport"], "port");
        assert_eq!(attach["appRoot"], "/app");
        assert_eq!(attach["localRoot"], "${workspaceFolder}");
    }
}
