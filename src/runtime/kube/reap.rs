//! Deleting the debug copies that dead dockdap processes left behind: pods
//! with dockdap's labels whose owner process on this machine is gone
//! (`labels::owner_alive` decides, as for containers). Every launch does it
//! in its namespace; `dockdap reap` in every namespace of the current
//! context. Kept copies and other machines' are never touched.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, ListParams};

use super::cluster::Cluster;
use crate::config::KubernetesTarget;
use crate::console::EventSender;
use crate::runtime::{ContainerError, labels};

/// The label selector of dockdap's debug copies.
const SELECTOR: &str = "app.kubernetes.io/managed-by=dockdap,dockdap.session";

/// Deletes dead sessions' copies in the cluster's namespace, and says so.
pub(crate) async fn reap_in(cluster: &Cluster, events: &EventSender) {
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    match reap_with(&api).await {
        Ok(deleted) if !deleted.is_empty() => events.console(format!(
            "[dockdap] deleted {} debug pod(s) left behind by dead dockdap sessions: {}\n",
            deleted.len(),
            deleted.join(", ")
        )),
        Ok(_) => {}
        Err(e) => tracing::debug!(error = %e, "could not look for leftover debug pods"),
    }
}

/// `dockdap reap` for Kubernetes: every namespace of the current context
/// (`KUBECONFIG`, `~/.kube/config` or in-cluster). Returns `namespace/pod`
/// for each deleted copy.
pub async fn reap() -> Result<Vec<String>, ContainerError> {
    let cluster = Cluster::connect(&KubernetesTarget::default()).await?;
    let api: Api<Pod> = Api::all(cluster.client.clone());
    reap_with(&api).await.map_err(|e| cluster.error(e, "pods", "list and delete pods"))
}

async fn reap_with(api: &Api<Pod>) -> Result<Vec<String>, kube::Error> {
    let list = api.list(&ListParams::default().labels(SELECTOR)).await?;
    let mut deleted = Vec::new();
    for pod in list.items {
        let labels: HashMap<String, String> = pod.metadata.labels.clone().unwrap_or_default().into_iter().collect();
        if labels::owner_alive(&labels) || pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let (Some(name), Some(namespace)) = (pod.metadata.name, pod.metadata.namespace) else { continue };
        let api: Api<Pod> = Api::namespaced(api.clone().into_client(), &namespace);
        match api.delete(&name, &DeleteParams { grace_period_seconds: Some(0), ..Default::default() }).await {
            Ok(_) => deleted.push(format!("{namespace}/{name}")),
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(deleted)
}
