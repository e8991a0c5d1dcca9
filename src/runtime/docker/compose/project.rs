//! A Compose project's containers as the Engine API sees them (by the
//! labels the Compose tool puts on each: project, service, replica
//! number), and a project dockdap brought up, which it brings down.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use bollard::models::ContainerSummaryStateEnum;
use bollard::query_parameters::ListContainersOptions;

use super::tool::Tool;
use crate::console::EventSender;
use crate::runtime::ContainerError;
use crate::runtime::docker::engine::{Engine, Subject};

/// The Compose tool's labels on a service's container.
pub(in crate::runtime::docker) const LABEL_PROJECT: &str = "com.docker.compose.project";
pub(super) const LABEL_SERVICE: &str = "com.docker.compose.service";
pub(super) const LABEL_NUMBER: &str = "com.docker.compose.container-number";

/// How long `down` waits for a container to stop before killing it: the
/// debuggee may be stopped at a breakpoint, and the rest is dockdap's to end.
const STOP_TIMEOUT_SECS: &str = "3";
/// How long `down` may take in all.
const DOWN_TIMEOUT: Duration = Duration::from_secs(120);

/// One container of a Compose project.
#[derive(Debug, Clone)]
pub(super) struct Member {
    pub id: String,
    pub name: String,
    pub project: String,
    /// Its service.
    pub service: String,
    /// Its replica number (`docker compose up --scale`), from 1.
    pub number: u16,
    pub running: bool,
}

/// The containers matching `filters` (`label=K=V`, `id=...`), stopped ones included.
pub(super) async fn members(
    engine: &Engine,
    filters: HashMap<String, Vec<String>>,
) -> Result<Vec<Member>, ContainerError> {
    let options = ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
    let list = engine.docker.list_containers(Some(options)).await.map_err(|e| engine.error(e, Subject::Engine))?;
    Ok(list
        .into_iter()
        .filter_map(|c| {
            let labels = c.labels.unwrap_or_default();
            let id = c.id?;
            Some(Member {
                name: c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .map(|n| n.trim_start_matches('/').to_owned())
                    .unwrap_or_else(|| id.clone()),
                id,
                project: labels.get(LABEL_PROJECT)?.clone(),
                service: labels.get(LABEL_SERVICE).cloned().unwrap_or_default(),
                number: labels.get(LABEL_NUMBER).and_then(|n| n.parse().ok()).unwrap_or(1),
                running: c.state == Some(ContainerSummaryStateEnum::RUNNING),
            })
        })
        .collect())
}

/// A `label` filter of `(name, value)` pairs.
pub(super) fn label_filter(pairs: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_owned(), pairs.iter().map(|(k, v)| format!("{k}={v}")).collect())])
}

/// A project dockdap brought up: the tool that names it, and dockdap's
/// override file in a folder of its own. `down` brings it down and
/// removes the folder.
#[derive(Debug)]
pub(crate) struct Project {
    pub(super) tool: Tool,
    /// dockdap's folder for the override.
    pub(super) folder: PathBuf,
    /// The override file in it.
    pub(super) overlay: PathBuf,
    /// The session whose labels the override puts on every service.
    pub(super) session: String,
    pub(super) events: EventSender,
}

impl Project {
    /// A folder of its own for the override of session `session`.
    pub(super) fn new(tool: Tool, session: &str, events: &EventSender) -> Result<Project, ContainerError> {
        let folder = std::env::temp_dir().join(format!("dockdap-compose-{session}"));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.recursive(true).create(&folder).map_err(|e| {
            ContainerError::Unusable(format!(
                "cannot make a folder for dockdap's Compose override at {}: {e}",
                folder.display()
            ))
        })?;
        let overlay = folder.join("dockdap.override.json");
        Ok(Project { tool, folder, overlay, session: session.to_owned(), events: events.clone() })
    }

    /// Writes the override.
    pub(super) fn write(&self, overlay: &serde_json::Value) -> Result<(), ContainerError> {
        let text = serde_json::to_string_pretty(overlay).unwrap_or_default();
        std::fs::write(&self.overlay, text).map_err(|e| {
            ContainerError::Unusable(format!("cannot write dockdap's Compose override {}: {e}", self.overlay.display()))
        })
    }

    /// Runs the tool on the project with dockdap's override.
    pub(super) async fn run(&self, command: &[&str]) -> Result<String, ContainerError> {
        self.tool.run(Some(&self.overlay), command, &self.events).await
    }

    /// `down`: the project's containers and networks go (its named volumes
    /// stay, as with `docker compose down`), then dockdap's folder.
    pub(crate) async fn down(&self) -> Result<(), String> {
        if !self.overlay.exists() {
            // Nothing was brought up with it.
            let _ = std::fs::remove_dir_all(&self.folder);
            return Ok(());
        }
        self.events.console(format!("[dockdap] bringing the Compose project down (`{} down`)", self.tool.name()));
        let downing =
            self.tool.run_to_the_end(Some(&self.overlay), &["down", "--timeout", STOP_TIMEOUT_SECS], &self.events);
        let result = match tokio::time::timeout(DOWN_TIMEOUT, downing).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("`{} down` took over {}s", self.tool.name(), DOWN_TIMEOUT.as_secs())),
        };
        if result.is_ok()
            && let Err(e) = std::fs::remove_dir_all(&self.folder)
        {
            tracing::debug!(error = %e, folder = %self.folder.display(), "could not remove the override's folder");
        }
        result
    }
}
