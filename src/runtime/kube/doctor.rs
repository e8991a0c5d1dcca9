//! `dockdap doctor` for a Kubernetes target: the cluster answers, and the
//! user may do what a session does there, asked with
//! `SelfSubjectAccessReview` (the API server's own answer, RBAC or not).

use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
use kube::Api;
use kube::api::PostParams;

use super::cluster::Cluster;
use crate::config::KubernetesTarget;
use crate::runtime::KubeCheck;

/// What a session needs: (verb, resource, subresource, what for).
const NEEDED: &[(&str, &str, &str, &str)] = &[
    ("get", "pods", "", "find the pod"),
    ("create", "pods/exec", "exec", "run DAP and file sync over exec"),
    ("create", "pods/portforward", "portforward", "forward the service ports to 127.0.0.1"),
    ("get", "pods/log", "log", "show the program's output"),
    ("create", "pods", "", "start a debug copy (launch)"),
    ("delete", "pods", "", "delete the debug copy at the end (launch)"),
];

/// The checks, in order; the permissions only once the cluster answered.
pub(crate) async fn check(target: &KubernetesTarget) -> Vec<KubeCheck> {
    let cluster = match Cluster::connect(target).await {
        Ok(cluster) => cluster,
        Err(e) => {
            return vec![KubeCheck::problem(
                "cluster",
                e.to_string(),
                "fix `kubernetes.kubeconfig` or `kubernetes.context`",
            )];
        }
    };
    let mut checks = Vec::new();
    match cluster.client.apiserver_version().await {
        Ok(version) => checks.push(KubeCheck::ok(
            "cluster",
            format!(
                "Kubernetes {}.{} at {} ({}, namespace {})",
                version.major, version.minor, cluster.server, cluster.context, cluster.namespace
            ),
        )),
        Err(e) => {
            checks.push(KubeCheck::problem(
                "cluster",
                format!("the API server at {} does not answer: {e}", cluster.server),
                "check the context (`kubectl cluster-info`) and your login (for AKS: `az aks get-credentials`)",
            ));
            return checks;
        }
    }
    let reviews: Api<SelfSubjectAccessReview> = Api::all(cluster.client.clone());
    for (verb, resource, subresource, why) in NEEDED {
        let base = resource.split('/').next().unwrap_or(resource);
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(cluster.namespace.clone()),
                    verb: Some((*verb).into()),
                    resource: Some(base.into()),
                    subresource: (!subresource.is_empty()).then(|| (*subresource).into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let what = format!("{verb} {resource} in namespace {}", cluster.namespace);
        checks.push(match reviews.create(&PostParams::default(), &review).await {
            Ok(answer) if answer.status.as_ref().is_some_and(|s| s.allowed) => {
                KubeCheck::ok("permissions", format!("may {what} ({why})"))
            }
            Ok(answer) => KubeCheck::problem(
                "permissions",
                format!(
                    "may not {what}, needed to {why}{}",
                    answer.status.and_then(|s| s.reason).map(|r| format!(" ({r})")).unwrap_or_default()
                ),
                format!("ask for a Role that grants `{verb}` on `{resource}` in namespace {}", cluster.namespace),
            ),
            Err(e) => KubeCheck::problem(
                "permissions",
                format!("could not ask whether you may {what}: {e}"),
                "check with `kubectl auth can-i`",
            ),
        });
    }
    checks
}
