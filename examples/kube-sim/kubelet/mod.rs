//! The node agent: runs every pod in the store as Docker containers and
//! writes back what happens to them (status, events), as a kubelet does.
//!
//! It learns about pods only from the store (its change log plus a
//! once-a-second resync), never from the REST handlers: a pod created by a
//! client and one created by the ReplicaSet controller take the same path.
//! Each pod gets one worker task (`pod.rs`); this module starts and stops
//! them and answers the streaming handlers' questions (which Docker
//! container is container X of pod Y, which network namespace is the pod's).

mod container;
mod docker;
mod pod;
mod status;
mod volumes;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::errors::ApiError;
use crate::kinds::Kind;
use crate::sim::Sim;

pub use docker::{cleanup_instance, cleanup_leftovers};

/// The Docker side of one pod, shared by its worker and the stream handlers.
#[derive(Default)]
pub struct PodRuntime {
    state: Mutex<RuntimeState>,
}

#[derive(Default, Clone)]
struct RuntimeState {
    /// The sandbox container that owns the pod's network namespace.
    sandbox: Option<Sandbox>,
    /// Per container name: the Docker ids of the current and previous attempts.
    attempts: HashMap<String, Attempts>,
}

#[derive(Clone, Debug)]
pub struct Sandbox {
    pub id: String,
    /// The process whose network namespace the pod's containers share.
    pub pid: i64,
    pub ip: String,
}

#[derive(Default, Clone, Debug)]
struct Attempts {
    current: Option<String>,
    previous: Option<String>,
}

impl PodRuntime {
    fn lock(&self) -> std::sync::MutexGuard<'_, RuntimeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn sandbox(&self) -> Option<Sandbox> {
        self.lock().sandbox.clone()
    }

    fn set_sandbox(&self, sandbox: Sandbox) {
        self.lock().sandbox = Some(sandbox);
    }

    /// Records a new attempt; returns the attempt before the previous one,
    /// which nobody can ask for any more (to be removed).
    fn new_attempt(&self, container: &str, id: &str) -> Option<String> {
        let mut state = self.lock();
        let attempts = state.attempts.entry(container.to_owned()).or_default();
        let dropped = attempts.previous.take();
        attempts.previous = attempts.current.replace(id.to_owned());
        dropped
    }

    fn attempt(&self, container: &str, previous: bool) -> Option<String> {
        let state = self.lock();
        let attempts = state.attempts.get(container)?;
        if previous { attempts.previous.clone() } else { attempts.current.clone() }
    }
}

struct Worker {
    runtime: Arc<PodRuntime>,
    terminate: watch::Sender<Option<i64>>,
    gone: CancellationToken,
    done: CancellationToken,
}

#[derive(Default)]
pub struct Kubelet {
    workers: Mutex<HashMap<String, Worker>>,
}

impl Kubelet {
    fn workers(&self) -> std::sync::MutexGuard<'_, HashMap<String, Worker>> {
        self.workers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn runtime_of(&self, sim: &Sim, namespace: &str, name: &str) -> Result<(Value, Arc<PodRuntime>), ApiError> {
        let pod = sim.store.get(Kind::Pod, namespace, name).ok_or_else(|| ApiError::not_found(Kind::Pod, name))?;
        let uid = pod.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default();
        let runtime = self.workers().get(uid).map(|w| w.runtime.clone());
        let runtime =
            runtime.ok_or_else(|| ApiError::bad_request(format!("pod {name} is not running on a node yet")))?;
        Ok((pod, runtime))
    }

    /// The Docker container of a pod's container: the current attempt, or
    /// the one before it (`previous`); the errors are the kubelet's.
    pub fn container_id(
        &self,
        sim: &Sim,
        namespace: &str,
        name: &str,
        container: &str,
        previous: bool,
    ) -> Result<String, ApiError> {
        let (pod, runtime) = self.runtime_of(sim, namespace, name)?;
        if let Some(id) = runtime.attempt(container, previous) {
            return Ok(id);
        }
        if previous {
            return Err(ApiError::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{name}\" not found"
            )));
        }
        let statuses = ["containerStatuses", "initContainerStatuses"]
            .iter()
            .filter_map(|f| pod.pointer(&format!("/status/{f}")).and_then(Value::as_array).cloned())
            .flatten()
            .collect::<Vec<_>>();
        let reason = statuses
            .iter()
            .find(|s| s.get("name").and_then(Value::as_str) == Some(container))
            .and_then(|s| s.pointer("/state/waiting/reason").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| "ContainerCreating".into());
        let reason = if reason.contains("ImagePull") { "trying and failing to pull image".to_owned() } else { reason };
        Err(ApiError::bad_request(format!("container \"{container}\" in pod \"{name}\" is waiting to start: {reason}")))
    }

    /// The pod's network: the sandbox (its process and address).
    pub fn sandbox(&self, sim: &Sim, namespace: &str, name: &str) -> Result<Sandbox, ApiError> {
        let (_, runtime) = self.runtime_of(sim, namespace, name)?;
        runtime.sandbox().ok_or_else(|| ApiError::bad_request(format!("pod {name} has no network yet")))
    }

    /// Starts workers for new pods, tells workers of deletions, and stops
    /// workers whose pod is gone.
    fn reconcile(&self, sim: &Arc<Sim>) {
        let (pods, _) = sim.store.list(Kind::Pod, None);
        let mut workers = self.workers();
        workers.retain(|_, w| !w.done.is_cancelled());
        let mut seen = std::collections::HashSet::new();
        for pod in pods {
            let uid = pod.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default().to_owned();
            seen.insert(uid.clone());
            let grace = pod.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64);
            let worker = workers.entry(uid.clone()).or_insert_with(|| start_worker(sim, pod.clone()));
            if grace.is_some() && *worker.terminate.borrow() != grace {
                let _ = worker.terminate.send(grace);
            }
        }
        for (uid, worker) in workers.iter() {
            if !seen.contains(uid) {
                worker.gone.cancel();
            }
        }
    }

    /// Runs until shutdown: reconciles on every pod change and every second.
    pub async fn run(sim: Arc<Sim>) {
        sim.control_loop(|kind| kind == Kind::Pod, || sim.kubelet.reconcile(&sim)).await;
        let workers: Vec<CancellationToken> = sim.kubelet.workers().values().map(|w| w.gone.clone()).collect();
        for gone in workers {
            gone.cancel();
        }
    }

    /// Waits (up to `limit`) until every worker has cleaned up.
    pub async fn drain(&self, limit: Duration) {
        let done: Vec<CancellationToken> = self.workers().values().map(|w| w.done.clone()).collect();
        let all = futures_util::future::join_all(done.iter().map(|d| d.cancelled()));
        let _ = tokio::time::timeout(limit, all).await;
    }
}

fn start_worker(sim: &Arc<Sim>, pod: Value) -> Worker {
    let runtime = Arc::new(PodRuntime::default());
    let (terminate, terminate_rx) = watch::channel(None);
    let gone = CancellationToken::new();
    let done = CancellationToken::new();
    let worker = Worker { runtime: runtime.clone(), terminate, gone: gone.clone(), done: done.clone() };
    let sim = sim.clone();
    // Not on the shutdown tracker's cancellation: a worker cleans up its
    // containers on every exit path, shutdown included.
    sim.tasks.clone().spawn(async move {
        pod::run(sim, runtime, pod, terminate_rx, gone).await;
        done.cancel();
    });
    worker
}
