//! The direct path in Docker, as a person does it by hand: create and start
//! the container through the Engine API (bollard, like dockdap, so neither
//! side pays for a CLI), its debug port published on 127.0.0.1, then connect
//! straight to debugpy. Every container made here is removed again, on
//! errors too (`Containers` removes by name when dropped).

use std::collections::HashMap;

use anyhow::{Context as _, anyhow};
use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{CreateContainerOptions, InspectContainerOptions, RemoveContainerOptions};

/// The label on every container the benchmarks create by hand.
pub const LABEL: &str = "dockdap-bench";

/// A client of the engine the Docker CLI would use (`DOCKER_HOST`, else the
/// default socket), for the direct path: bollard itself, not dockdap.
pub async fn connect() -> anyhow::Result<Docker> {
    let docker = Docker::connect_with_defaults().context("connecting to the Docker Engine")?;
    docker.ping().await.context("the Docker Engine does not answer")?;
    Ok(docker)
}

/// Whether the engine answers and has `image`.
pub async fn check(image: &str) -> Result<(), String> {
    let docker = connect().await.map_err(|e| e.to_string())?;
    docker
        .inspect_image(image)
        .await
        .map(|_| ())
        .map_err(|_| format!("the image {image} is missing (images/build-images.sh builds it)"))
}

/// Names of containers this run created (by hand or through dockdap);
/// whatever is still there when this is dropped is removed.
#[derive(Default)]
pub struct Containers {
    names: Vec<String>,
}

impl Containers {
    /// A name for a container of this run, remembered for cleanup.
    pub fn name(&mut self, what: &str) -> String {
        let name = format!("dockdap-bench-{}-{what}-{}", std::process::id(), self.names.len());
        self.names.push(name.clone());
        name
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        if self.names.is_empty() {
            return;
        }
        let mut cmd = std::process::Command::new("docker");
        cmd.args(["rm", "-f"]).args(&self.names);
        let _ = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).status();
    }
}

/// A container started by hand.
pub struct Direct {
    docker: Docker,
    pub id: String,
    /// Where its debugpy is published on this machine.
    pub debug_addr: String,
}

impl Direct {
    /// `docker run -d -p 127.0.0.1::5678 [-e ENV] IMAGE [CMD]` through the API.
    pub async fn start(name: &str, image: &str, cmd: Option<Vec<String>>, env: Vec<String>) -> anyhow::Result<Direct> {
        let docker = connect().await?;
        let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        bindings.insert(
            "5678/tcp".into(),
            Some(vec![PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(String::new()) }]),
        );
        let body = ContainerCreateBody {
            image: Some(image.to_owned()),
            cmd,
            env: (!env.is_empty()).then_some(env),
            labels: Some(HashMap::from([(LABEL.to_owned(), std::process::id().to_string())])),
            exposed_ports: Some(vec!["5678/tcp".into()]),
            host_config: Some(HostConfig { port_bindings: Some(bindings), ..Default::default() }),
            ..Default::default()
        };
        let created = docker
            .create_container(Some(CreateContainerOptions { name: Some(name.to_owned()), ..Default::default() }), body)
            .await
            .with_context(|| format!("creating {name}"))?;
        docker.start_container(&created.id, None).await.with_context(|| format!("starting {name}"))?;
        let inspect = docker.inspect_container(&created.id, None::<InspectContainerOptions>).await?;
        let port = inspect
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|p| p.get("5678/tcp").cloned().flatten())
            .and_then(|b| b.into_iter().find_map(|b| b.host_port))
            .ok_or_else(|| anyhow!("{name}: the debug port was not published"))?;
        Ok(Direct { docker, id: created.id, debug_addr: format!("127.0.0.1:{port}") })
    }

    /// `docker rm -f`.
    pub async fn remove(&self) {
        let options = RemoveContainerOptions { force: true, v: true, ..Default::default() };
        let _ = self.docker.remove_container(&self.id, Some(options)).await;
    }
}

/// Whether a container still exists.
pub async fn exists(name: &str) -> bool {
    match connect().await {
        Ok(docker) => docker.inspect_container(name, None::<InspectContainerOptions>).await.is_ok(),
        Err(_) => false,
    }
}
