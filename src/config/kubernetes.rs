//! `"kubernetes": {...}`: which pod's container a session debugs, and which
//! cluster it is in, read as `kubectl` reads them (a kubeconfig and its
//! contexts, else the in-cluster service account).
//!
//! Only the shape and the names are judged here; whether the pod exists is
//! the runtime's question.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A pod (or the pods of a selector or a Deployment) in a Kubernetes cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesTarget {
    /// The pod's name.
    #[serde(default)]
    pub pod: Option<String>,
    /// A label selector; the newest running pod it selects, e.g. `app=score`.
    #[serde(default)]
    pub selector: Option<String>,
    /// A Deployment; one of its running pods.
    #[serde(default)]
    pub deployment: Option<String>,
    /// The namespace; default: the context's, else `default`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The container in the pod; default: the pod's
    /// `kubectl.kubernetes.io/default-container`, else its only or first one.
    #[serde(default)]
    pub container: Option<String>,
    /// The kubeconfig context; default: the current context.
    #[serde(default)]
    pub context: Option<String>,
    /// The kubeconfig file; default: `KUBECONFIG`, else `~/.kube/config`,
    /// else the in-cluster service account.
    #[serde(default)]
    pub kubeconfig: Option<String>,
}

/// How the pod is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodChoice {
    /// By name.
    Pod(String),
    /// The newest running pod a label selector selects.
    Selector(String),
    /// The newest running pod of a Deployment.
    Deployment(String),
}

impl KubernetesTarget {
    /// How the pod is named (checked to be exactly one way).
    pub fn choice(&self) -> PodChoice {
        match (&self.pod, &self.selector, &self.deployment) {
            (Some(pod), _, _) => PodChoice::Pod(pod.clone()),
            (None, Some(selector), _) => PodChoice::Selector(selector.clone()),
            (None, None, Some(deployment)) => PodChoice::Deployment(deployment.clone()),
            (None, None, None) => PodChoice::Selector(String::new()),
        }
    }
}

const EXAMPLE: &str = r#"{"pod": "score-7d4f9", "namespace": "default"}"#;

/// What a type cannot say: one way of naming the pod, names the API server
/// accepts, an absolute kubeconfig path.
pub(super) fn check(target: &KubernetesTarget) -> Result<(), String> {
    let named: Vec<&str> = [("pod", &target.pod), ("selector", &target.selector), ("deployment", &target.deployment)]
        .into_iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| k)
        .collect();
    match named.as_slice() {
        [] => {
            return Err(format!(
                "`kubernetes` needs `pod`, `selector` or `deployment` to say which pod, e.g. {EXAMPLE} or {{\"selector\": \"app=score\"}}"
            ));
        }
        [_] => {}
        [a, b, ..] => {
            return Err(format!("`kubernetes.{a}` and `kubernetes.{b}` exclude each other: keep one, e.g. {EXAMPLE}"));
        }
    }
    for (key, value, dots) in [
        ("pod", &target.pod, true),
        ("deployment", &target.deployment, true),
        ("namespace", &target.namespace, false),
        ("container", &target.container, false),
    ] {
        if let Some(value) = value {
            dns_name(key, value, dots)?;
        }
    }
    if let Some(selector) = &target.selector
        && selector.trim().is_empty()
    {
        return Err("`kubernetes.selector` is empty: write a label selector, e.g. \"app=score\"".into());
    }
    if let Some(context) = &target.context
        && context.trim().is_empty()
    {
        return Err(
            "`kubernetes.context` is empty: name a kubeconfig context (`kubectl config get-contexts`), e.g. \"my-aks\", or leave it out for the current one"
                .into(),
        );
    }
    if let Some(path) = &target.kubeconfig
        && !path.starts_with('/')
        && !windows_absolute(path)
    {
        return Err(format!(
            "`kubernetes.kubeconfig` {path:?} is not an absolute path: write the full path of the file, e.g. \"/home/me/.kube/config\" (`~` is not expanded), or leave it out to read KUBECONFIG or ~/.kube/config"
        ));
    }
    Ok(())
}

fn windows_absolute(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.len() > 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' && matches!(bytes[2], b'\\' | b'/')
}

/// A DNS-1123 label (`dots`: subdomain), as the API server wants names.
fn dns_name(key: &str, value: &str, dots: bool) -> Result<(), String> {
    let max = if dots { 253 } else { 63 };
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (dots && c == '.');
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !value.is_empty()
        && value.len() <= max
        && value.chars().all(ok_char)
        && ends_ok(value.chars().next())
        && ends_ok(value.chars().last())
    {
        return Ok(());
    }
    let example = match key {
        "pod" => "\"score-7d4f9\"",
        "deployment" => "\"score\"",
        "namespace" => "\"default\"",
        _ => "\"score\"",
    };
    let fixed: String = value.trim().to_ascii_lowercase().replace(['_', ' '], "-");
    let hint = if fixed != value && !fixed.is_empty() { format!(" (perhaps {fixed:?})") } else { String::new() };
    Err(format!(
        "`kubernetes.{key}` {value:?} is not a {key} name Kubernetes accepts{hint}: lowercase letters, digits and `-`{}, starting and ending with a letter or digit, at most {max} characters, e.g. {example}",
        if dots { " and `.`" } else { "" }
    ))
}
