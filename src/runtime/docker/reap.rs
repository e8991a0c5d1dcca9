//! Removing what dead dockdap processes left behind in a Docker Engine.
//!
//! A later dockdap (any session start, or `dockdap reap`) removes labelled
//! containers whose owner is no longer alive on this host
//! (`labels::owner_alive`). Nothing without dockdap's labels is ever
//! touched, and containers owned by another host's dockdap are left alone:
//! a pid means nothing there. A reaped container of a Compose project takes
//! the project's networks with it once nothing uses them (what `down` would
//! have removed).

use std::collections::{BTreeSet, HashMap};

use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions, RemoveContainerOptions};

use super::compose::LABEL_PROJECT;
use super::engine::{ContainerError, Engine, Subject};
use crate::runtime::labels::{LABEL_SESSION, owner_alive};

/// Removes every dockdap-labelled container whose owner is dead; returns their names.
pub async fn reap(engine: &Engine) -> Result<Vec<String>, ContainerError> {
    let filters = HashMap::from([("label".to_owned(), vec![LABEL_SESSION.to_owned()])]);
    let containers = engine
        .docker
        .list_containers(Some(ListContainersOptions { all: true, filters: Some(filters), ..Default::default() }))
        .await
        .map_err(|e| engine.error(e, Subject::Engine))?;
    let mut removed = Vec::new();
    let mut projects = BTreeSet::new();
    for container in containers {
        let labels = container.labels.unwrap_or_default();
        if !labels.contains_key(LABEL_SESSION) || owner_alive(&labels) {
            continue;
        }
        let Some(id) = container.id else { continue };
        let name = container
            .names
            .and_then(|n| n.into_iter().next())
            .map(|n| n.trim_start_matches('/').to_owned())
            .unwrap_or_else(|| id.clone());
        let options = RemoveContainerOptions { force: true, v: true, ..Default::default() };
        match engine.docker.remove_container(&id, Some(options)).await {
            Ok(()) => {
                tracing::info!(%name, "removed a container left behind by a dead dockdap");
                removed.push(name);
                projects.extend(labels.get(LABEL_PROJECT).cloned());
            }
            Err(e) => tracing::warn!(%name, error = %e, "could not remove a leftover container"),
        }
    }
    for project in projects {
        remove_project_networks(engine, &project).await;
    }
    Ok(removed)
}

/// Removes the networks of Compose project `project` that nothing uses any
/// more; the engine refuses to remove one still in use, which is left.
pub(super) async fn remove_project_networks(engine: &Engine, project: &str) {
    let filters = HashMap::from([("label".to_owned(), vec![format!("{LABEL_PROJECT}={project}")])]);
    let Ok(networks) = engine.docker.list_networks(Some(ListNetworksOptions { filters: Some(filters) })).await else {
        return;
    };
    for name in networks.into_iter().filter_map(|n| n.name) {
        match engine.docker.remove_network(&name).await {
            Ok(()) => tracing::info!(%name, "removed a Compose network left behind by a dead dockdap"),
            Err(e) => tracing::debug!(%name, error = %e, "left a Compose network (still in use?)"),
        }
    }
}
