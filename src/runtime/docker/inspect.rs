//! Small read-and-tidy calls for the command-line helpers: the engine's
//! version, what an image and a container are, a container's output, and
//! stopping one.
//!
//! Each function is one Docker call (or two) turned into plain values and
//! `ContainerError`s; deciding what to make of them (warnings, refusals) is
//! the caller's job. Nothing here starts a debug session.

use std::collections::HashMap;

use bollard::container::LogOutput;
use bollard::query_parameters::{InspectContainerOptions, LogsOptions, RemoveContainerOptions, StopContainerOptions};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::engine::{ContainerError, Engine, Subject};
use crate::runtime::labels::LABEL_SESSION;

/// The engine's own account of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineVersion {
    /// The product, e.g. "Docker Engine" or "Podman Engine".
    pub product: String,
    /// Its version, e.g. "28.0.1" or "20.10.24+dfsg1".
    pub version: String,
    /// The API version it speaks.
    pub api_version: String,
    /// `linux/amd64` and the like.
    pub platform: String,
}

/// `GET /version`.
pub async fn engine_version(engine: &Engine) -> Result<EngineVersion, ContainerError> {
    let v = engine.docker.version().await.map_err(|e| engine.error(e, Subject::Engine))?;
    let product = v
        .components
        .as_ref()
        .and_then(|c| c.first())
        .map(|c| c.name.clone())
        .or_else(|| v.platform.as_ref().map(|p| p.name.clone()))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "Docker Engine".to_owned());
    Ok(EngineVersion {
        product: if product.contains("Podman") { "Podman Engine".to_owned() } else { "Docker Engine".to_owned() },
        version: v.version.unwrap_or_default(),
        api_version: v.api_version.unwrap_or_default(),
        platform: format!("{}/{}", v.os.unwrap_or_default(), v.arch.unwrap_or_default()),
    })
}

/// What an image is and how it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageInfo {
    /// Its id (`sha256:...`).
    pub id: String,
    /// Size in bytes.
    pub size: i64,
    /// `Env`, as `K=V`.
    pub env: Vec<String>,
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `WorkingDir`.
    pub working_dir: String,
    /// Labels.
    pub labels: HashMap<String, String>,
}

/// The value of `name` in a `K=V` list (the last one wins, as in Docker).
pub fn env_lookup<'a>(env: &'a [String], name: &str) -> Option<&'a str> {
    env.iter().rev().find_map(|e| e.strip_prefix(name)?.strip_prefix('='))
}

/// Inspects an image; a missing one is `ContainerError::ImageNotFound`.
pub async fn image_info(engine: &Engine, image: &str) -> Result<ImageInfo, ContainerError> {
    let inspect = engine.docker.inspect_image(image).await.map_err(|e| engine.error(e, Subject::Image(image)))?;
    Ok(image_info_from(inspect))
}

/// The plain values of an image inspection.
pub(crate) fn image_info_from(inspect: bollard::models::ImageInspect) -> ImageInfo {
    let config = inspect.config.unwrap_or_default();
    ImageInfo {
        id: inspect.id.unwrap_or_default(),
        size: inspect.size.unwrap_or_default(),
        env: config.env.unwrap_or_default(),
        entrypoint: config.entrypoint.unwrap_or_default(),
        cmd: config.cmd.unwrap_or_default(),
        working_dir: config.working_dir.unwrap_or_default(),
        labels: config.labels.unwrap_or_default().into_iter().collect(),
    }
}

/// What a container is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Its id.
    pub id: String,
    /// Its name, without the leading `/`.
    pub name: String,
    /// The image it was created from, as asked for.
    pub image: String,
    /// Whether it runs now.
    pub running: bool,
    /// Its exit code, once it has exited.
    pub exit_code: Option<i64>,
    /// Labels.
    pub labels: HashMap<String, String>,
    /// `Env`, as `K=V`.
    pub env: Vec<String>,
}

impl ContainerInfo {
    /// Whether dockdap created it (it carries dockdap's session label).
    pub fn is_dockdap(&self) -> bool {
        self.labels.contains_key(LABEL_SESSION)
    }
}

/// Inspects a container; an unknown one is `ContainerError::ContainerNotFound`.
pub async fn container_info(engine: &Engine, name: &str) -> Result<ContainerInfo, ContainerError> {
    let inspect = engine
        .docker
        .inspect_container(name, None::<InspectContainerOptions>)
        .await
        .map_err(|e| engine.error(e, Subject::Container(name)))?;
    let config = inspect.config.unwrap_or_default();
    let state = inspect.state.unwrap_or_default();
    let running = state.running.unwrap_or(false);
    Ok(ContainerInfo {
        id: inspect.id.unwrap_or_else(|| name.to_owned()),
        name: inspect.name.map(|n| n.trim_start_matches('/').to_owned()).unwrap_or_else(|| name.to_owned()),
        image: config.image.unwrap_or_default(),
        running,
        exit_code: if running { None } else { state.exit_code },
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        env: config.env.unwrap_or_default(),
    })
}

/// Which of a container's streams a piece of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    /// Standard output (and a TTY's combined output).
    Stdout,
    /// Standard error.
    Stderr,
}

/// A piece of a container's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputChunk {
    /// Where it came from.
    pub stream: OutputStream,
    /// The bytes, as the container wrote them.
    pub bytes: Bytes,
}

/// A container's output (stdout and stderr): the last `tail` lines (all
/// when `None`), then, with `follow`, everything new until the container
/// stops.
pub fn output(
    engine: &Engine,
    container: &str,
    follow: bool,
    tail: Option<usize>,
) -> impl Stream<Item = Result<OutputChunk, ContainerError>> + Send + 'static {
    let options = LogsOptions {
        follow,
        stdout: true,
        stderr: true,
        tail: tail.map_or_else(|| "all".to_owned(), |n| n.to_string()),
        ..Default::default()
    };
    let engine2 = engine.clone();
    let name = container.to_owned();
    engine.docker.logs(container, Some(options)).filter_map(move |item| {
        let result = match item {
            Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                Some(Ok(OutputChunk { stream: OutputStream::Stdout, bytes: message }))
            }
            Ok(LogOutput::StdErr { message }) => Some(Ok(OutputChunk { stream: OutputStream::Stderr, bytes: message })),
            Ok(LogOutput::StdIn { .. }) => None,
            Err(e) => Some(Err(engine2.error(e, Subject::Container(&name)))),
        };
        async move { result }
    })
}

/// Stops a container (SIGTERM, then SIGKILL after `grace_secs`) and removes it.
pub async fn stop_and_remove(engine: &Engine, container: &str, grace_secs: i32) -> Result<(), ContainerError> {
    let stop = StopContainerOptions { t: Some(grace_secs), signal: None };
    match engine.docker.stop_container(container, Some(stop)).await {
        Ok(()) => {}
        // 304: it was not running.
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 304, .. }) => {}
        Err(e) => return Err(engine.error(e, Subject::Container(container))),
    }
    engine
        .docker
        .remove_container(container, Some(RemoveContainerOptions { force: true, v: true, ..Default::default() }))
        .await
        .map_err(|e| engine.error(e, Subject::Container(container)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_lookup_takes_the_last_value() {
        let env: Vec<String> = ["A=1", "AB=2", "A=3", "EMPTY="].iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(env_lookup(&env, "A"), Some("3"));
        assert_eq!(env_lookup(&env, "AB"), Some("2"));
        assert_eq!(env_lookup(&env, "EMPTY"), Some(""));
        assert_eq!(env_lookup(&env, "B"), None);
    }
}
