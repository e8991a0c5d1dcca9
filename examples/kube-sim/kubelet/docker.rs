//! The pod spec in Docker's terms: container names and labels, the create
//! body of a pod's sandbox and of each of its containers (command and args
//! over ENTRYPOINT and CMD, env with `$(VAR)` references and `fieldRef`s,
//! user, read-only root, capabilities, mounts), and the clean-up of what a
//! simulation left behind.
//!
//! A pod is a sandbox container (`sleep infinity` from one of the pod's
//! images; it owns the network and IPC namespaces, so containers restart
//! without losing the pod's IP, and `localhost` is shared as in a pod) plus
//! one Docker container per attempt of each container.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, Mount};
use bollard::query_parameters::{
    ListContainersOptions, ListVolumesOptions, RemoveContainerOptions, RemoveVolumeOptions,
};
use k8s_openapi::api::core::v1::{Container, Pod};

/// Every container and volume of a simulation carries these labels.
pub const LABEL_INSTANCE: &str = "kube-sim.instance";
pub const LABEL_PID: &str = "kube-sim.pid";
pub const LABEL_HOST: &str = "kube-sim.host";
pub const LABEL_POD: &str = "kube-sim.pod";
pub const LABEL_UID: &str = "kube-sim.uid";
pub const LABEL_ROLE: &str = "kube-sim.role";

/// What identifies a pod's Docker objects.
pub struct PodIds<'a> {
    pub instance: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
}

impl PodIds<'_> {
    pub fn labels(&self, role: &str, container: Option<&str>) -> HashMap<String, String> {
        let mut labels = HashMap::from([
            (LABEL_INSTANCE.to_owned(), self.instance.to_owned()),
            (LABEL_PID.to_owned(), std::process::id().to_string()),
            (LABEL_HOST.to_owned(), host_name()),
            (LABEL_POD.to_owned(), format!("{}/{}", self.namespace, self.name)),
            (LABEL_UID.to_owned(), self.uid.to_owned()),
            (LABEL_ROLE.to_owned(), role.to_owned()),
            // The labels dockershim put on pod containers.
            ("io.kubernetes.pod.name".to_owned(), self.name.to_owned()),
            ("io.kubernetes.pod.namespace".to_owned(), self.namespace.to_owned()),
            ("io.kubernetes.pod.uid".to_owned(), self.uid.to_owned()),
        ]);
        if let Some(c) = container {
            labels.insert("io.kubernetes.container.name".to_owned(), c.to_owned());
        }
        labels
    }

    /// `kube-sim-NS-POD-WHAT-UID8`, unique and readable in `docker ps`.
    pub fn container_name(&self, what: &str) -> String {
        let short: String = self.uid.chars().take(8).collect();
        format!("kube-sim-{}-{}-{what}-{short}", self.namespace, self.name)
    }
}

pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_owned()).unwrap_or_default()
}

/// The sandbox: the pod's hostname, network and IPC; it only sleeps.
pub fn sandbox_body(ids: &PodIds<'_>, pod: &Pod, image: &str, mounts: Vec<Mount>) -> ContainerCreateBody {
    let spec = pod.spec.clone().unwrap_or_default();
    let hostname: String = spec.hostname.clone().unwrap_or_else(|| ids.name.to_owned()).chars().take(63).collect();
    ContainerCreateBody {
        image: Some(image.to_owned()),
        entrypoint: Some(vec!["sleep".into()]),
        cmd: Some(vec!["infinity".into()]),
        user: Some("0".into()),
        hostname: Some(hostname.trim_end_matches(['-', '.']).to_owned()),
        labels: Some(ids.labels("sandbox", None)),
        host_config: Some(HostConfig {
            ipc_mode: Some("shareable".into()),
            mounts: Some(mounts),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Kubernetes' `$(VAR)` expansion (`$$(VAR)` escapes; unknown names stay).
pub fn expand(text: &str, env: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some(inner) = tail.strip_prefix("$(")
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            match env.iter().rev().find(|(k, _)| k == name) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(&tail[..end + 3]),
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// What a container's create body needs beyond its spec.
pub struct Placement<'a> {
    /// `container:ID` of the sandbox, or None to give the container its own network.
    pub sandbox: Option<&'a str>,
    pub env: Vec<(String, String)>,
    pub user: Option<String>,
    pub mounts: Vec<Mount>,
}

pub fn container_body(ids: &PodIds<'_>, c: &Container, place: Placement<'_>) -> ContainerCreateBody {
    let security = c.security_context.clone().unwrap_or_default();
    let capabilities = security.capabilities.clone().unwrap_or_default();
    let mut security_opt = Vec::new();
    if security.allow_privilege_escalation == Some(false) {
        security_opt.push("no-new-privileges".to_owned());
    }
    let expand_all =
        |list: &Option<Vec<String>>| list.as_ref().map(|l| l.iter().map(|a| expand(a, &place.env)).collect::<Vec<_>>());
    let (network_mode, ipc_mode) = match place.sandbox {
        Some(id) => (Some(format!("container:{id}")), Some(format!("container:{id}"))),
        None => (None, None),
    };
    ContainerCreateBody {
        image: c.image.clone(),
        // command replaces ENTRYPOINT (and with it the image's CMD), args replace CMD.
        entrypoint: expand_all(&c.command),
        cmd: expand_all(&c.args),
        env: Some(place.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        working_dir: c.working_dir.clone(),
        user: place.user,
        tty: c.tty,
        open_stdin: c.stdin,
        stdin_once: c.stdin_once,
        attach_stdin: c.stdin,
        labels: Some(ids.labels("container", Some(&c.name))),
        host_config: Some(HostConfig {
            network_mode,
            ipc_mode,
            mounts: Some(place.mounts),
            readonly_rootfs: security.read_only_root_filesystem,
            privileged: security.privileged,
            cap_add: capabilities.add.clone(),
            cap_drop: capabilities.drop.clone(),
            security_opt: Some(security_opt).filter(|s| !s.is_empty()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn alive(pid: &str) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes containers and volumes of simulations on this machine whose
/// process is gone (a simulation killed with SIGKILL), never others'.
pub async fn cleanup_leftovers(docker: &Docker) {
    let host = host_name();
    let dead = |labels: &HashMap<String, String>| {
        labels.get(LABEL_HOST) == Some(&host) && labels.get(LABEL_PID).is_some_and(|p| !alive(p))
    };
    remove_where(docker, LABEL_INSTANCE, dead).await;
}

/// Removes everything this simulation created.
pub async fn cleanup_instance(docker: &Docker, instance: &str) {
    remove_where(docker, &format!("{LABEL_INSTANCE}={instance}"), |_| true).await;
}

/// Removes everything of one pod.
pub async fn cleanup_pod(docker: &Docker, uid: &str) {
    remove_where(docker, &format!("{LABEL_UID}={uid}"), |_| true).await;
}

async fn remove_where(docker: &Docker, label: &str, pick: impl Fn(&HashMap<String, String>) -> bool) {
    let filters = HashMap::from([("label".to_owned(), vec![label.to_owned()])]);
    let options = ListContainersOptions { all: true, filters: Some(filters.clone()), ..Default::default() };
    let containers = docker.list_containers(Some(options)).await.unwrap_or_default();
    let removals = containers
        .iter()
        .filter(|c| pick(c.labels.as_ref().unwrap_or(&HashMap::new())))
        .filter_map(|c| c.id.clone())
        .map(|id| async move {
            let options = RemoveContainerOptions { force: true, v: true, ..Default::default() };
            if let Err(e) = docker.remove_container(&id, Some(options)).await {
                tracing::debug!(error = %e, %id, "removing a container");
            }
        });
    futures_util::future::join_all(removals).await;
    let volumes = docker.list_volumes(Some(ListVolumesOptions { filters: Some(filters) })).await.ok();
    for volume in volumes.and_then(|v| v.volumes).unwrap_or_default() {
        if pick(&volume.labels) {
            let _ = docker.remove_volume(&volume.name, Some(RemoveVolumeOptions { force: true })).await;
        }
    }
}
