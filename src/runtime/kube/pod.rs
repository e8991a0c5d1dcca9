//! Finding the pod a configuration names (by name, by label selector, or
//! through a Deployment's selector), the container in it, and reading its
//! state in the user's terms: a pod that is not running says why (pending
//! and unscheduled, an image that cannot be pulled, a crash loop).

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::Api;
use kube::api::ListParams;

use super::cluster::Cluster;
use crate::config::PodChoice;
use crate::runtime::ContainerError;

/// The annotation kubectl reads for the container to use by default.
const DEFAULT_CONTAINER: &str = "kubectl.kubernetes.io/default-container";

/// Reads the pod `choice` names: by name, else the newest running pod the
/// selector (or the Deployment's) selects.
pub(crate) async fn find(cluster: &Cluster, choice: &PodChoice) -> Result<Pod, ContainerError> {
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let selector = match choice {
        PodChoice::Pod(name) => {
            return pods.get(name).await.map_err(|e| cluster.error(e, &format!("pod {name:?}"), "read the pod"));
        }
        PodChoice::Selector(selector) => selector.clone(),
        PodChoice::Deployment(name) => {
            let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
            let deployment = deployments
                .get(name)
                .await
                .map_err(|e| cluster.error(e, &format!("deployment {name:?}"), "read the deployment"))?;
            let selector = deployment.spec.map(|s| s.selector).unwrap_or_default();
            label_selector(&selector)
                .ok_or_else(|| ContainerError::Unusable(format!("deployment {name:?} selects no pods (no selector)")))?
        }
    };
    let list = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| cluster.error(e, &format!("pods with {selector:?}"), "list pods"))?;
    let total = list.items.len();
    let mut running: Vec<Pod> = list.items.into_iter().filter(is_running).collect();
    running.sort_by(|a, b| a.metadata.creation_timestamp.cmp(&b.metadata.creation_timestamp));
    running.pop().ok_or_else(|| {
        ContainerError::Unusable(format!(
            "no running pod matches {selector:?} in namespace {} ({total} pods match, none running); `kubectl get pods -n {} -l '{selector}'` shows them",
            cluster.namespace, cluster.namespace
        ))
    })
}

/// A `LabelSelector` as the query string selector (`a=b,c in (d,e)`).
pub(crate) fn label_selector(selector: &LabelSelector) -> Option<String> {
    let mut parts: Vec<String> = selector.match_labels.iter().flatten().map(|(k, v)| format!("{k}={v}")).collect();
    for expression in selector.match_expressions.iter().flatten() {
        let values = expression.values.clone().unwrap_or_default().join(",");
        let key = &expression.key;
        parts.push(match expression.operator.as_str() {
            "In" => format!("{key} in ({values})"),
            "NotIn" => format!("{key} notin ({values})"),
            "Exists" => key.clone(),
            _ => format!("!{key}"),
        });
    }
    (!parts.is_empty()).then(|| parts.join(","))
}

/// Running and not being deleted.
fn is_running(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none() && pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

/// The container to use: the one named, else the pod's default-container
/// annotation, else its only (or first) one.
pub(crate) fn container(pod: &Pod, named: Option<&str>) -> Result<String, ContainerError> {
    let names: Vec<&str> = pod.spec.iter().flat_map(|s| s.containers.iter()).map(|c| c.name.as_str()).collect();
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    if let Some(named) = named {
        if names.contains(&named) {
            return Ok(named.to_owned());
        }
        return Err(ContainerError::Unusable(format!(
            "pod {pod_name} has no container {named:?}; its containers are {}: fix `kubernetes.container`",
            names.join(", ")
        )));
    }
    let annotated = pod.metadata.annotations.as_ref().and_then(|a| a.get(DEFAULT_CONTAINER));
    match annotated.filter(|a| names.contains(&a.as_str())) {
        Some(name) => Ok(name.clone()),
        None => names
            .first()
            .map(|n| (*n).to_owned())
            .ok_or_else(|| ContainerError::Unusable(format!("pod {pod_name} has no containers"))),
    }
}

/// The container's status in the pod.
pub(crate) fn status<'a>(pod: &'a Pod, container: &str) -> Option<&'a ContainerStatus> {
    pod.status.as_ref()?.container_statuses.as_ref()?.iter().find(|s| s.name == container)
}

/// Why the container cannot be joined now (not running), in the user's
/// terms; `None` when it runs.
pub(crate) fn not_running(pod: &Pod, container: &str) -> Option<String> {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    if pod.metadata.deletion_timestamp.is_some() {
        return Some(format!("pod {name} is being deleted"));
    }
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Unknown");
    if let Some(state) = self::status(pod, container).and_then(|s| s.state.as_ref()) {
        if state.running.is_some() {
            return None;
        }
        if let Some(waiting) = &state.waiting {
            let reason = waiting.reason.as_deref().unwrap_or("Waiting");
            let message = waiting.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
            return Some(format!("container {container} of pod {name} is not running ({reason}{message})"));
        }
        if let Some(done) = &state.terminated {
            return Some(format!(
                "container {container} of pod {name} has exited with code {} ({})",
                done.exit_code,
                done.reason.as_deref().unwrap_or("Terminated")
            ));
        }
    }
    let why = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.status != "True" && c.message.is_some()))
        .and_then(|c| c.message.clone())
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    Some(format!("pod {name} is {phase}, not running{why}"))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    #[test]
    fn label_selectors_as_query_strings() {
        let selector = LabelSelector {
            match_labels: Some([("app".to_owned(), "score".to_owned())].into()),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: Some(vec!["a".into(), "b".into()]),
                },
                LabelSelectorRequirement { key: "canary".into(), operator: "DoesNotExist".into(), values: None },
            ]),
        };
        assert_eq!(label_selector(&selector).as_deref(), Some("app=score,tier in (a,b),!canary"));
        assert_eq!(label_selector(&LabelSelector::default()), None);
    }
}
