//! Removing what dead dockdap processes left behind in a Docker Engine.
//!
//! A later dockdap (any session start, or `dockdap reap`) removes labelled
//! containers whose owner is no longer alive on this host
//! (`labels::owner_alive`). Nothing without dockdap's labels is ever
//! touched, and containers owned by another host's dockdap are left alone:
//! a pid means nothing there.

use std::collections::HashMap;

use bollard::query_parameters::{ListContainersOptions, RemoveContainerOptions};

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
            }
            Err(e) => tracing::warn!(%name, error = %e, "could not remove a leftover container"),
        }
    }
    Ok(removed)
}
