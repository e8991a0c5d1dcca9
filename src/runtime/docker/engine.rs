//! Finding the Docker Engine the way the Docker CLI does, and errors a user
//! can act on.
//!
//! The engine is found as the `docker` command would find it: `DOCKER_HOST`,
//! else the context named by `DOCKER_CONTEXT`, else the `currentContext` of
//! `~/.docker/config.json`, else the default socket. API errors become
//! `ContainerError` variants that name the cause and the fix; a 404 on an
//! image becomes "image not found: build it first", not "status 404".

use std::path::PathBuf;

use bollard::Docker;
use bollard::errors::Error as BollardError;
use sha2::{Digest, Sha256};

pub use crate::runtime::ContainerError;

const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// A connection to the Docker Engine, and where it is.
#[derive(Debug, Clone)]
pub struct Engine {
    /// The bollard client: private to the Docker runtime.
    pub(super) docker: Docker,
    /// The address, for messages.
    pub host: String,
}

impl Engine {
    /// Connects as the Docker CLI would and checks that the engine answers.
    pub async fn connect() -> Result<Engine, ContainerError> {
        let host = engine_host();
        let docker = Docker::connect_with_host(&host)
            .map_err(|e| ContainerError::Unreachable { host: host.clone(), reason: e.to_string() })?;
        let engine = Engine { docker, host };
        engine.docker.ping().await.map_err(|e| engine.unreachable(&e))?;
        Ok(engine)
    }

    /// The right error for a failed connection.
    fn unreachable(&self, e: &BollardError) -> ContainerError {
        let text = error_chain(e);
        if text.contains("ermission denied") {
            ContainerError::PermissionDenied { host: self.host.clone() }
        } else {
            ContainerError::Unreachable { host: self.host.clone(), reason: text }
        }
    }

    /// Maps an API error; `subject` names what the call was about.
    pub(super) fn error(&self, e: BollardError, subject: Subject<'_>) -> ContainerError {
        match (&e, subject) {
            (BollardError::DockerResponseServerError { status_code: 404, .. }, Subject::Image(image)) => {
                ContainerError::ImageNotFound { image: image.to_owned() }
            }
            (BollardError::DockerResponseServerError { status_code: 404, .. }, Subject::Container(name)) => {
                ContainerError::ContainerNotFound { name: name.to_owned() }
            }
            (BollardError::DockerResponseServerError { status_code: 409, .. }, Subject::Container(name)) => {
                ContainerError::NameConflict { name: name.to_owned() }
            }
            (BollardError::DockerResponseServerError { message, .. }, _) => ContainerError::Api(message.clone()),
            _ => {
                let text = error_chain(&e);
                if text.contains("onnect") || text.contains("No such file") || text.contains("ermission denied") {
                    self.unreachable(&e)
                } else {
                    ContainerError::Api(text)
                }
            }
        }
    }
}

/// What an API call was about, for error messages.
#[derive(Debug, Clone, Copy)]
pub(super) enum Subject<'a> {
    /// An image, by reference.
    Image(&'a str),
    /// A container, by name or id.
    Container(&'a str),
    /// Nothing in particular.
    Engine,
}

/// An error and its sources, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// The engine address, resolved like the Docker CLI: `DOCKER_HOST`, then
/// `DOCKER_CONTEXT`, then `currentContext` in `~/.docker/config.json`.
pub fn engine_host() -> String {
    if let Ok(host) = std::env::var("DOCKER_HOST")
        && !host.is_empty()
    {
        return host;
    }
    let config_dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")));
    let Some(config_dir) = config_dir else {
        return DEFAULT_HOST.to_owned();
    };
    let context = std::env::var("DOCKER_CONTEXT").ok().filter(|c| !c.is_empty()).or_else(|| {
        let config = std::fs::read_to_string(config_dir.join("config.json")).ok()?;
        let config: serde_json::Value = serde_json::from_str(&config).ok()?;
        config.get("currentContext")?.as_str().map(str::to_owned)
    });
    match context {
        Some(name) if name != "default" => context_host(&config_dir, &name).unwrap_or_else(|| {
            tracing::warn!(context = %name, "Docker context not found; using the default socket");
            DEFAULT_HOST.to_owned()
        }),
        _ => DEFAULT_HOST.to_owned(),
    }
}

/// The docker endpoint of a named context: contexts live in
/// `contexts/meta/<sha256 of the name>/meta.json`.
fn context_host(config_dir: &std::path::Path, name: &str) -> Option<String> {
    let digest = Sha256::digest(name.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let meta = std::fs::read_to_string(config_dir.join("contexts/meta").join(hex).join("meta.json")).ok()?;
    let meta: serde_json::Value = serde_json::from_str(&meta).ok()?;
    meta.pointer("/Endpoints/docker/Host")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_lookup_reads_meta_by_hash() {
        let dir = tempfile::tempdir().unwrap();
        let name = "remote";
        let hex: String = Sha256::digest(name.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        let meta_dir = dir.path().join("contexts/meta").join(hex);
        std::fs::create_dir_all(&meta_dir).unwrap();
        std::fs::write(
            meta_dir.join("meta.json"),
            r#"{"Name":"remote","Endpoints":{"docker":{"Host":"tcp://10.0.0.5:2375"}}}"#,
        )
        .unwrap();
        assert_eq!(context_host(dir.path(), "remote").as_deref(), Some("tcp://10.0.0.5:2375"));
        assert_eq!(context_host(dir.path(), "other"), None);
    }
}
