//! `dockdap image debug IMAGE`: a debuggable variant of an image, made
//! without a Dockerfile or a network.
//!
//! The variant is the image plus dockdap's bootstrap and a debugpy package
//! (the same ones `debugger: "inject"` copies in at launch), committed with
//! environment variables that make the bootstrap start debugpy listening on
//! 5678 and wait for the client. It is labelled `dockdap.debugger=image`, so
//! `debugger: "auto"` treats it as an image that starts debugpy itself.

use bollard::models::{ContainerConfig, ContainerCreateBody};
use bollard::query_parameters::{
    CommitContainerOptions, CreateContainerOptions, RemoveContainerOptions, UploadToContainerOptions,
};

use super::engine::{ContainerError, Engine, Subject};
use crate::config::DEFAULT_DEBUG_PORT;
use crate::runtime::labels::LABEL_IMAGE;
use crate::runtime::{inject, offload, tune};

/// What `make_debug_image` produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugImage {
    /// The new image's reference.
    pub tag: String,
    /// Where the debugpy package came from.
    pub debugpy: String,
}

/// The default tag of a debug variant: `repo:tag-debug`.
pub fn default_tag(image: &str) -> String {
    let (repo, tag) = split_reference(image);
    format!("{repo}:{}-debug", tag.unwrap_or("latest"))
}

/// Splits `repo[:tag]`, minding registry ports (`host:5000/repo`).
pub fn split_reference(image: &str) -> (&str, Option<&str>) {
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag)),
        _ => (image, None),
    }
}

/// Builds the debug variant of `image` as `tag` (default: `default_tag`).
pub async fn make_debug_image(
    engine: &Engine,
    image: &str,
    tag: Option<&str>,
    debugpy_path: Option<&str>,
) -> Result<DebugImage, ContainerError> {
    let inspect = engine.docker.inspect_image(image).await.map_err(|e| engine.error(e, Subject::Image(image)))?;
    let config = inspect.config.unwrap_or_default();
    let facts = inject::ImageFacts {
        command: config
            .entrypoint
            .clone()
            .unwrap_or_default()
            .into_iter()
            .chain(config.cmd.clone().unwrap_or_default())
            .collect(),
        env: config.env.clone().unwrap_or_default(),
        exposed: config.exposed_ports.clone().unwrap_or_default(),
        ..Default::default()
    };
    inject::check_wrappable(&facts).map_err(ContainerError::Unusable)?;
    let debugpy = offload::find_debugpy(debugpy_path.map(str::to_owned))
        .await
        .map_err(|e| ContainerError::Unusable(e.to_string()))?;
    let archive =
        offload::archive(Some(debugpy.clone()), "/").await.map_err(|e| ContainerError::Unusable(e.to_string()))?;
    let tag = tag.map(str::to_owned).unwrap_or_else(|| default_tag(image));

    let created = engine
        .docker
        .create_container(
            None::<CreateContainerOptions>,
            ContainerCreateBody { image: Some(image.to_owned()), ..Default::default() },
        )
        .await
        .map_err(|e| engine.error(e, Subject::Image(image)))?;
    let result = async {
        engine
            .docker
            .upload_to_container(
                &created.id,
                Some(UploadToContainerOptions { path: "/".into(), ..Default::default() }),
                bollard::body_full(archive),
            )
            .await
            .map_err(|e| engine.error(e, Subject::Container(&created.id)))?;
        let (repo, image_tag) = split_reference(&tag);
        let options = CommitContainerOptions {
            container: Some(created.id.clone()),
            repo: Some(repo.to_owned()),
            tag: image_tag.map(str::to_owned),
            comment: Some(format!("dockdap image debug {image}: debugpy from {} added", debugpy.display())),
            pause: false,
            ..Default::default()
        };
        let new_config = debug_config(image, &config, &facts);
        engine.docker.commit_container(options, new_config).await.map_err(|e| engine.error(e, Subject::Image(&tag)))?;
        Ok(DebugImage { tag: tag.clone(), debugpy: debugpy.display().to_string() })
    }
    .await;
    let remove = RemoveContainerOptions { force: true, v: true, ..Default::default() };
    if let Err(e) = engine.docker.remove_container(&created.id, Some(remove)).await {
        tracing::warn!(error = %e, "could not remove the temporary container");
    }
    result
}

/// The debug variant's configuration: the image's own, with the bootstrap
/// and debugpy on `PYTHONPATH`, debugpy listening on 5678 and waiting, and
/// the labels that make `debugger: "auto"` take it as an image that starts
/// debugpy itself.
fn debug_config(image: &str, config: &bollard::models::ImageConfig, facts: &inject::ImageFacts) -> ContainerConfig {
    let existing = facts.env.iter().find_map(|e| e.strip_prefix("PYTHONPATH=")).filter(|p| !p.is_empty());
    let pythonpath = match existing {
        Some(p) => format!("{}:{}:{p}", tune::TUNE_DIR, inject::PYTHON_DIR),
        None => format!("{}:{}", tune::TUNE_DIR, inject::PYTHON_DIR),
    };
    let mut env: Vec<String> = facts.env.iter().filter(|e| !e.starts_with("PYTHONPATH=")).cloned().collect();
    env.push(format!("PYTHONPATH={pythonpath}"));
    env.push(format!("DOCKDAP_LISTEN=0.0.0.0:{DEFAULT_DEBUG_PORT}"));
    env.push(format!("DOCKDAP_LISTEN_AT={}", if inject::forks_workers(facts) { "fork" } else { "start" }));
    env.push("DOCKDAP_WAIT=1".into());
    if inject::forks_workers(facts) {
        env.push("WORKER_TIMEOUT=86400".into());
        env.push("GUNICORN_CMD_ARGS=--timeout 86400".into());
    }
    let mut exposed = facts.exposed.clone();
    exposed.push(format!("{DEFAULT_DEBUG_PORT}/tcp"));
    let mut labels = config.labels.clone().unwrap_or_default();
    labels.insert("dockdap.debugger".into(), "image".into());
    labels.insert(LABEL_IMAGE.into(), image.to_owned());
    ContainerConfig {
        env: Some(env),
        exposed_ports: Some(exposed),
        labels: Some(labels),
        cmd: config.cmd.clone(),
        entrypoint: config.entrypoint.clone(),
        working_dir: config.working_dir.clone(),
        user: config.user.clone(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert_eq!(default_tag("debug:1"), "debug:1-debug");
        assert_eq!(default_tag("myimg"), "myimg:latest-debug");
        assert_eq!(default_tag("registry:5000/team/img"), "registry:5000/team/img:latest-debug");
        assert_eq!(split_reference("registry:5000/team/img:2"), ("registry:5000/team/img", Some("2")));
    }
}
