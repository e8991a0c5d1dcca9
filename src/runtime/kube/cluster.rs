//! Reaching the API server as `kubectl` would: the kubeconfig named in the
//! configuration, else `KUBECONFIG` or `~/.kube/config`, else the pod's own
//! service account (in-cluster); the context named, else the current one;
//! the namespace named, else the context's. API errors become
//! `ContainerError`s that say what to do.

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::config::KubernetesTarget;
use crate::runtime::ContainerError;

/// A client for one cluster and the namespace a session works in.
#[derive(Clone)]
pub(crate) struct Cluster {
    pub client: Client,
    /// The namespace of the pod.
    pub namespace: String,
    /// The context, for messages (`kubectl --context`).
    pub context: String,
    /// The API server's address, for messages.
    pub server: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("namespace", &self.namespace).field("server", &self.server).finish()
    }
}

impl Cluster {
    /// Reads the configuration and builds a client (nothing is sent yet).
    pub async fn connect(target: &KubernetesTarget) -> Result<Cluster, ContainerError> {
        let options = KubeConfigOptions { context: target.context.clone(), ..Default::default() };
        let unusable = |what: String| ContainerError::Unusable(what);
        let config = match &target.kubeconfig {
            Some(path) => {
                let file = Kubeconfig::read_from(path).map_err(|e| {
                    unusable(format!(
                        "cannot read the kubeconfig {path} ({e}); fix `kubernetes.kubeconfig`, or leave it out to read KUBECONFIG or ~/.kube/config"
                    ))
                })?;
                Config::from_custom_kubeconfig(file, &options).await.map_err(|e| kubeconfig_error(&e, target))?
            }
            None if target.context.is_some() => {
                Config::from_kubeconfig(&options).await.map_err(|e| kubeconfig_error(&e, target))?
            }
            None => Config::infer().await.map_err(|e| {
                unusable(format!(
                    "no Kubernetes configuration found ({e}); get one as for kubectl (for AKS: `az aks get-credentials --resource-group GROUP --name CLUSTER`), set KUBECONFIG, or name the file in `kubernetes.kubeconfig`"
                ))
            })?,
        };
        let context = target.context.clone().unwrap_or_else(|| "the current context".into());
        let namespace = target.namespace.clone().unwrap_or_else(|| config.default_namespace.clone());
        let server = config.cluster_url.to_string();
        let client = Client::try_from(config)
            .map_err(|e| unusable(format!("cannot set up a client for the API server at {server}: {e}")))?;
        Ok(Cluster { client, namespace, context, server })
    }

    /// An API error in the user's terms; `what` names the object
    /// (`pod "score-1"`), `doing` what dockdap asked for.
    pub fn error(&self, error: kube::Error, what: &str, doing: &str) -> ContainerError {
        match error {
            kube::Error::Api(status) => match status.code {
                401 => ContainerError::Unusable(format!(
                    "the API server at {} refused dockdap's credentials (401 Unauthorized) while {doing}; log in again as for kubectl (for AKS: `az aks get-credentials`, then `kubectl get pods`)",
                    self.server
                )),
                403 => ContainerError::Unusable(format!(
                    "not allowed to {doing} in namespace {} ({}); ask for a Role that grants it (the README's \"Kubernetes\" section lists what dockdap needs), or check with `dockdap doctor`",
                    self.namespace, status.message
                )),
                404 => ContainerError::Unusable(format!(
                    "{what} not found in namespace {} ({}); `kubectl get pods -n {}` lists the pods, and `kubernetes.namespace` or `kubernetes.context` choose another place",
                    self.namespace, self.context, self.namespace
                )),
                _ => ContainerError::Unusable(format!(
                    "the API server refused to {doing}: {} ({} {})",
                    status.message, status.code, status.reason
                )),
            },
            other => ContainerError::Unusable(format!(
                "cannot reach the API server at {} while {doing} ({other}); is the cluster up and is {} right? (`kubectl cluster-info` tells)",
                self.server, self.context
            )),
        }
    }
}

fn kubeconfig_error(error: &kube::config::KubeconfigError, target: &KubernetesTarget) -> ContainerError {
    let context = target.context.as_deref().map(|c| format!(" with context {c:?}")).unwrap_or_default();
    ContainerError::Unusable(format!(
        "cannot use the kubeconfig{context} ({error}); `kubectl config get-contexts` lists the contexts: fix `kubernetes.context`, or leave it out for the current one"
    ))
}
