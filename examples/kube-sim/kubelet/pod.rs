//! One pod's worker: schedules it onto the node, prepares its volumes and
//! sandbox, runs its init containers in order and then its containers,
//! publishes its status, and on deletion stops its containers within the
//! grace period, removes everything it created in Docker and removes the
//! pod object (the end of a graceful deletion).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::query_parameters::{InspectContainerOptions, StopContainerOptions};
use k8s_openapi::api::core::v1::{ContainerState, ContainerStateWaiting, ContainerStatus, Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::docker::{self, PodIds};
use super::volumes::Volumes;
use super::{PodRuntime, Sandbox, container, status};
use crate::events::{self, About};
use crate::kinds::Kind;
use crate::sim::Sim;

enum SandboxState {
    None,
    Ready(String),
    /// The image cannot run the sandbox; containers get their own network.
    Own,
}

pub struct PodCtx {
    pub sim: Arc<Sim>,
    pub rt: Arc<PodRuntime>,
    pub pod: Pod,
    pub uid: String,
    pub namespace: String,
    pub name: String,
    status: Mutex<PodStatus>,
    sandbox: tokio::sync::Mutex<SandboxState>,
    pub volumes: tokio::sync::OnceCell<Volumes>,
}

fn waiting(reason: &str) -> Option<ContainerState> {
    Some(ContainerState {
        waiting: Some(ContainerStateWaiting { reason: Some(reason.into()), message: None }),
        ..Default::default()
    })
}

impl PodCtx {
    pub fn ids(&self) -> PodIds<'_> {
        PodIds { instance: &self.sim.config.instance, namespace: &self.namespace, name: &self.name, uid: &self.uid }
    }

    /// `NAME_NAMESPACE(UID)`, as the kubelet names pods in messages.
    pub fn display(&self) -> String {
        format!("{}_{}({})", self.name, self.namespace, self.uid)
    }

    pub fn restart_policy(&self) -> &str {
        self.pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()).unwrap_or("Always")
    }

    /// The pod as stored now (for `fieldRef`s that need its status).
    pub fn current(&self) -> Value {
        self.sim.store.get(Kind::Pod, &self.namespace, &self.name).unwrap_or(Value::Null)
    }

    /// Changes one container's status and publishes the pod's.
    pub fn set_container(&self, init: bool, name: &str, change: impl FnOnce(&mut ContainerStatus)) {
        {
            let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
            let list = if init { &mut status.init_container_statuses } else { &mut status.container_statuses };
            if let Some(c) = list.iter_mut().flatten().find(|c| c.name == name) {
                change(c);
            }
        }
        self.publish();
    }

    fn sandbox_ready(&self) -> bool {
        self.rt.sandbox().is_some()
    }

    pub fn publish(&self) {
        let snapshot = {
            let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
            let spec = self.pod.spec.clone().unwrap_or_default();
            status::refresh(&spec, &mut status, self.sandbox_ready());
            status.clone()
        };
        self.store_status(&snapshot);
    }

    /// Writes `status` into the stored pod, if it is still this pod (same uid).
    fn store_status(&self, status: &PodStatus) {
        let Ok(value) = serde_json::to_value(status) else { return };
        let uid = self.uid.clone();
        let _ = self.sim.store.update(Kind::Pod, &self.namespace, &self.name, |pod| {
            if pod.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid.as_str()) {
                return Err(crate::errors::ApiError::conflict(Kind::Pod, "", "another pod"));
            }
            pod["status"] = value;
            Ok(())
        });
    }

    /// Records an event about the pod or one of its containers.
    pub fn event(&self, container: Option<(bool, &str)>, kind: &str, reason: &str, message: &str) {
        let field_path = container
            .map(|(init, name)| format!("spec.{}{{{name}}}", if init { "initContainers" } else { "containers" }));
        let about = About { kind: Kind::Pod, namespace: &self.namespace, name: &self.name, uid: &self.uid, field_path };
        let component =
            if matches!(reason, "Scheduled" | "FailedScheduling") { "default-scheduler" } else { "kubelet" };
        events::record(&self.sim, &about, kind, reason, message, component);
    }

    /// Why the scheduler cannot place the pod on the one node, as
    /// kube-scheduler words it: a `nodeSelector` the node's labels do not
    /// satisfy. (Affinity, taints and resources are not simulated.)
    fn unschedulable(&self) -> Option<String> {
        let wanted = self.pod.spec.as_ref()?.node_selector.as_ref().filter(|s| !s.is_empty())?;
        let node = self.sim.store.get(Kind::Node, "", &self.sim.config.node).unwrap_or(Value::Null);
        let labels = node.pointer("/metadata/labels").cloned().unwrap_or(Value::Null);
        let fits = wanted.iter().all(|(k, v)| labels.get(k).and_then(Value::as_str) == Some(v.as_str()));
        (!fits).then(|| {
            "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.".to_owned()
        })
    }

    /// Leaves the pod Pending with the scheduler's `PodScheduled: False`
    /// condition and its `FailedScheduling` warning.
    fn leave_pending(&self, why: &str) {
        self.event(None, "Warning", "FailedScheduling", why);
        let status = PodStatus {
            phase: Some("Pending".into()),
            conditions: Some(vec![k8s_openapi::api::core::v1::PodCondition {
                type_: "PodScheduled".into(),
                status: "False".into(),
                reason: Some("Unschedulable".into()),
                message: Some(why.to_owned()),
                last_transition_time: Some(Time(crate::ids::timestamp())),
                ..Default::default()
            }]),
            qos_class: self.status.lock().unwrap_or_else(|p| p.into_inner()).qos_class.clone(),
            ..Default::default()
        };
        self.store_status(&status);
    }

    /// Binds the pod to the node and sets its first status.
    fn schedule(&self) {
        let node = self.sim.config.node.clone();
        let uid = self.uid.clone();
        let _ = self.sim.store.update(Kind::Pod, &self.namespace, &self.name, |pod| {
            if pod.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid.as_str()) {
                return Err(crate::errors::ApiError::conflict(Kind::Pod, "", "another pod"));
            }
            pod["spec"]["nodeName"] = json!(node);
            Ok(())
        });
        self.event(
            None,
            "Normal",
            "Scheduled",
            &format!("Successfully assigned {}/{} to {node}", self.namespace, self.name),
        );
        let spec = self.pod.spec.clone().unwrap_or_default();
        let has_init = spec.init_containers.as_ref().is_some_and(|l| !l.is_empty());
        let status_of = |c: &k8s_openapi::api::core::v1::Container, reason: &str| ContainerStatus {
            name: c.name.clone(),
            image: c.image.clone().unwrap_or_default(),
            state: waiting(reason),
            started: Some(false),
            ..Default::default()
        };
        {
            let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
            status.host_ip = Some(self.sim.config.host_ip.clone());
            status.host_ips = serde_json::from_value(json!([{"ip": self.sim.config.host_ip}])).ok();
            status.start_time = Some(Time(crate::ids::timestamp()));
            let app_reason = if has_init { "PodInitializing" } else { "ContainerCreating" };
            status.container_statuses = Some(spec.containers.iter().map(|c| status_of(c, app_reason)).collect());
            if has_init {
                status.init_container_statuses =
                    Some(spec.init_containers.iter().flatten().map(|c| status_of(c, "PodInitializing")).collect());
            }
        }
        self.publish();
    }

    /// The sandbox, created on first use with `image` (one the engine has).
    /// `Ok(None)`: no sandbox, the containers get their own network.
    pub async fn ensure_sandbox(&self, image: &str) -> Result<Option<String>, String> {
        let mut state = self.sandbox.lock().await;
        match &*state {
            SandboxState::Ready(id) => return Ok(Some(id.clone())),
            SandboxState::Own => return Ok(None),
            SandboxState::None => {}
        }
        let docker = &self.sim.docker;
        let volumes = self.volumes.get().map(Volumes::sandbox_mounts).unwrap_or_default();
        let body = docker::sandbox_body(&self.ids(), &self.pod, image, volumes);
        let options = bollard::query_parameters::CreateContainerOptions {
            name: Some(self.ids().container_name("sandbox")),
            ..Default::default()
        };
        let created = docker.create_container(Some(options), body).await.map_err(|e| e.to_string())?;
        docker
            .start_container(&created.id, None::<bollard::query_parameters::StartContainerOptions>)
            .await
            .map_err(|e| e.to_string())?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let inspect =
            docker.inspect_container(&created.id, None::<InspectContainerOptions>).await.map_err(|e| e.to_string())?;
        let running = inspect.state.as_ref().and_then(|s| s.running).unwrap_or(false);
        if !running {
            let _ = docker
                .remove_container(
                    &created.id,
                    Some(bollard::query_parameters::RemoveContainerOptions { force: true, ..Default::default() }),
                )
                .await;
            self.event(None, "Warning", "SandboxFallback", &format!("kube-sim: image {image} cannot run `sleep infinity` for the pod sandbox; each container gets its own network"));
            *state = SandboxState::Own;
            return Ok(None);
        }
        if let Some(volumes) = self.volumes.get() {
            volumes.fill(docker, &created.id).await?;
        }
        let pid = inspect.state.as_ref().and_then(|s| s.pid).unwrap_or(0);
        let ip = inspect
            .network_settings
            .as_ref()
            .and_then(|n| {
                n.networks
                    .as_ref()
                    .and_then(|m| m.values().find_map(|e| e.ip_address.clone().filter(|i| !i.is_empty())))
            })
            .unwrap_or_default();
        self.rt.set_sandbox(Sandbox { id: created.id.clone(), pid, ip: ip.clone() });
        {
            let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
            status.pod_ip = Some(ip.clone()).filter(|i| !i.is_empty());
            status.pod_ips = serde_json::from_value(json!([{"ip": ip}])).ok();
        }
        self.publish();
        *state = SandboxState::Ready(created.id.clone());
        Ok(Some(created.id))
    }

    /// Without a sandbox, the first running container is the pod's network.
    pub fn adopt_network(&self, id: &str, pid: i64, ip: &str) {
        if self.rt.sandbox().is_some() {
            return;
        }
        self.rt.set_sandbox(Sandbox { id: id.to_owned(), pid, ip: ip.to_owned() });
        self.status.lock().unwrap_or_else(|p| p.into_inner()).pod_ip = Some(ip.to_owned());
        self.publish();
    }

    /// Volumes, then init containers in order, then the containers.
    async fn run_containers(self: Arc<Self>) {
        let token = self.sim.config.token.clone();
        match Volumes::prepare(&self.sim.docker, &self.ids(), &self.pod, &token).await {
            Ok(volumes) => {
                let _ = self.volumes.set(volumes);
            }
            Err(message) => {
                self.event(None, "Warning", "FailedMount", &message);
                return std::future::pending().await;
            }
        }
        let spec = self.pod.spec.clone().unwrap_or_default();
        for c in spec.init_containers.iter().flatten() {
            if container::run(&self, c, true).await != container::Outcome::Succeeded {
                return;
            }
        }
        let all = spec.containers.iter().map(|c| container::run(&self, c, false));
        futures_util::future::join_all(all).await;
    }

    /// Stops the containers (gracefully when the pod was deleted, at once
    /// when it is already gone) and removes what the pod had in Docker.
    async fn teardown(&self, grace: Option<i64>) {
        let docker = &self.sim.docker;
        if let Some(grace) = grace {
            let status = self.status.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let running: Vec<(bool, String)> = status
                .init_container_statuses
                .iter()
                .flatten()
                .map(|c| (true, c))
                .chain(status.container_statuses.iter().flatten().map(|c| (false, c)))
                .filter(|(_, c)| c.state.as_ref().is_some_and(|s| s.running.is_some()))
                .map(|(init, c)| (init, c.name.clone()))
                .collect();
            let stops = running.iter().map(|(init, name)| async move {
                self.event(Some((*init, name)), "Normal", "Killing", &format!("Stopping container {name}"));
                if let Some(id) = self.rt.attempt(name, false) {
                    let options =
                        StopContainerOptions { t: Some(grace.clamp(0, i32::MAX as i64) as i32), ..Default::default() };
                    let _ = docker.stop_container(&id, Some(options)).await;
                }
            });
            futures_util::future::join_all(stops).await;
        }
        docker::cleanup_pod(docker, &self.uid).await;
        if grace.is_some() {
            self.sim.store.remove_uid(Kind::Pod, &self.namespace, &self.name, &self.uid);
        }
    }
}

pub async fn run(
    sim: Arc<Sim>,
    rt: Arc<PodRuntime>,
    json: Value,
    mut terminate: watch::Receiver<Option<i64>>,
    gone: CancellationToken,
) {
    let pod: Pod = match serde_json::from_value(json) {
        Ok(pod) => pod,
        Err(e) => {
            tracing::warn!(error = %e, "a stored pod does not decode");
            return;
        }
    };
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let ctx = Arc::new(PodCtx {
        uid: text(&pod.metadata.uid),
        namespace: text(&pod.metadata.namespace),
        name: text(&pod.metadata.name),
        sim,
        rt,
        status: Mutex::new(pod.status.clone().unwrap_or_default()),
        sandbox: tokio::sync::Mutex::new(SandboxState::None),
        volumes: tokio::sync::OnceCell::new(),
        pod,
    });
    let unschedulable = ctx.unschedulable();
    match &unschedulable {
        Some(why) => ctx.leave_pending(why),
        None => ctx.schedule(),
    }
    let grace = {
        let work = ctx.clone().run_containers();
        let work = async move {
            if unschedulable.is_none() {
                work.await;
            }
        };
        tokio::pin!(work);
        let mut finished = false;
        loop {
            tokio::select! {
                _ = &mut work, if !finished => finished = true,
                changed = terminate.changed() => {
                    if changed.is_err() {
                        break None;
                    }
                    if let Some(grace) = *terminate.borrow() {
                        break Some(grace);
                    }
                }
                _ = gone.cancelled() => break None,
            }
        }
    };
    ctx.teardown(grace).await;
}
