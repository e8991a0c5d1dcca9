//! `ContainerRef`: a cheap, clonable handle on one container, through which
//! the Docker runtime reaches it (its files in `archive`, its snapshots in
//! `commit`, its processes in `exec`), and so do the commands that name a
//! container. Here: finding one, what inspect says, removing it.

use std::collections::HashMap;

use bollard::models::PortBinding;
use bollard::query_parameters::{InspectContainerOptions, RemoveContainerOptions};

use super::create::published_ports;
use super::engine::{ContainerError, Engine, Subject};

/// A handle on one container for its files, snapshots and processes.
#[derive(Debug, Clone)]
pub struct ContainerRef {
    pub(super) engine: Engine,
    /// The container's id.
    pub id: String,
    /// Its name, for messages.
    pub name: String,
}

/// What inspect says about a container, as the runtime uses it.
#[derive(Debug, Clone, Default)]
pub(super) struct Inspected {
    /// Whether it runs.
    pub running: bool,
    /// Whether it is paused.
    pub paused: bool,
    /// Published `(container port, host port)` pairs.
    pub ports: Vec<(u16, u16)>,
    /// `Env`, as `K=V`.
    pub env: Vec<String>,
    /// When its current run started (RFC 3339, as the engine wrote it).
    pub started_at: String,
}

impl ContainerRef {
    /// A handle on a container the caller knows exists.
    pub(super) fn new(engine: Engine, id: String, name: String) -> ContainerRef {
        ContainerRef { engine, id, name }
    }

    /// A handle on the container called `name` (or with that id).
    pub async fn find(name: &str) -> Result<ContainerRef, ContainerError> {
        ContainerRef::find_in(Engine::connect().await?, name).await
    }

    /// A handle on the container called `name` (or with that id) in `engine`.
    pub(super) async fn find_in(engine: Engine, name: &str) -> Result<ContainerRef, ContainerError> {
        let inspect = engine
            .docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
            .map_err(|e| engine.error(e, Subject::Container(name)))?;
        Ok(ContainerRef {
            id: inspect.id.unwrap_or_else(|| name.to_owned()),
            name: inspect.name.map(|n| n.trim_start_matches('/').to_owned()).unwrap_or_else(|| name.to_owned()),
            engine,
        })
    }

    /// What inspect says now.
    pub(super) async fn inspect(&self) -> Result<Inspected, ContainerError> {
        let inspect = self
            .engine
            .docker
            .inspect_container(&self.id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| self.engine.error(e, Subject::Container(&self.name)))?;
        let state = inspect.state.unwrap_or_default();
        let ports: HashMap<String, Option<Vec<PortBinding>>> =
            inspect.network_settings.and_then(|n| n.ports).unwrap_or_default();
        Ok(Inspected {
            running: state.running.unwrap_or(false),
            paused: state.paused.unwrap_or(false),
            ports: published_ports(ports),
            env: inspect.config.and_then(|c| c.env).unwrap_or_default(),
            started_at: state.started_at.unwrap_or_default(),
        })
    }

    /// Removes the container (stopping it first, also when it is paused);
    /// one that is gone already counts as removed.
    pub async fn remove(&self) -> Result<(), ContainerError> {
        let options = RemoveContainerOptions { force: true, v: true, ..Default::default() };
        match self.engine.docker.remove_container(&self.id, Some(options)).await {
            Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
            Err(e) => Err(self.engine.error(e, Subject::Container(&self.name))),
        }
    }
}
