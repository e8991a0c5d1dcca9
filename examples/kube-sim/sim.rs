//! The simulation's shared state: the object store, the Docker Engine, the
//! node agent running pods, the configuration, and the shutdown signal.

use std::time::Duration;

use bollard::Docker;
use hyper::header::HeaderMap;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::authz::Rule;
use crate::errors::ApiError;
use crate::kinds::Kind;
use crate::kubelet::Kubelet;
use crate::store::Store;

pub struct Config {
    /// The bearer token clients must send (written into the kubeconfig).
    pub token: String,
    /// The one node's name.
    pub node: String,
    /// The node's address as pods see it (the Docker bridge's gateway).
    pub host_ip: String,
    /// Deny rules that hold in every namespace.
    pub deny: Vec<Rule>,
    /// This process's id on everything it creates in Docker.
    pub instance: String,
    /// The first CrashLoopBackOff delay (Kubernetes: 10 s, doubling to 5 min).
    pub backoff: Duration,
}

pub struct Sim {
    pub store: Store,
    pub docker: Docker,
    pub config: Config,
    pub kubelet: Kubelet,
    pub shutdown: CancellationToken,
    pub tasks: TaskTracker,
}

impl Sim {
    /// Calls `reconcile` after every change of a kind `wanted` accepts and
    /// once a second (a resync, as informers do), until shutdown.
    pub async fn control_loop(&self, wanted: impl Fn(Kind) -> bool, mut reconcile: impl FnMut()) {
        let mut changes = self.store.changes();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                change = changes.recv() => match change {
                    Ok(change) if !wanted(change.kind) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    _ => {}
                },
                _ = tick.tick() => {}
            }
            reconcile();
        }
    }

    /// Checks `Authorization: Bearer TOKEN` when one is sent. Requests
    /// without credentials are let in: kubectl (client-go's clientcmd)
    /// sends no credentials to a plain-HTTP server, and the simulation
    /// serves plain HTTP on 127.0.0.1 only.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(given) = headers.get("authorization") else { return Ok(()) };
        let token = given.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
        if token == Some(self.config.token.as_str()) { Ok(()) } else { Err(ApiError::unauthorized()) }
    }
}
