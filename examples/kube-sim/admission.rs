//! What the API server does to an object before storing it: decoding into
//! the Kubernetes type (unknown fields dropped), validation with the API
//! server's messages, defaulting (restartPolicy, terminationGracePeriodSeconds,
//! imagePullPolicy, ...) and the service account token volume that its
//! admission plugin adds to every pod, so what clients read back looks like
//! a real cluster's pods.
//!
//! Only the rules a client is likely to meet are checked; the rest of the
//! API server's validation is not reproduced.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Container, Namespace, Pod, PodSpec, PodStatus, PodTemplateSpec, Volume, VolumeMount};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::errors::ApiError;
use crate::ids;
use crate::kinds::Kind;
use crate::selectors::{LabelSelector, labels_of};

/// Where the service account volume is mounted in every container.
pub const SA_MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

fn decode<T: DeserializeOwned>(kind: Kind, body: Value) -> Result<T, ApiError> {
    serde_json::from_value(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding {} from the request body: {e}", kind.kind())))
}

fn encode<T: Serialize>(value: &T) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::internal(format!("encoding the object: {e}")))
}

/// Checks and defaults a new object of `kind`; the name is already set.
pub fn create(kind: Kind, namespace: &str, body: Value) -> Result<Value, ApiError> {
    let name = crate::store::name_of(&body).to_owned();
    check_name(kind, &name)?;
    match kind {
        Kind::Pod => {
            let mut pod: Pod = decode(kind, body)?;
            let spec = pod.spec.get_or_insert_with(Default::default);
            validate_pod_spec(&name, spec, "spec")?;
            default_pod_spec(spec);
            add_service_account_volume(spec);
            let qos = qos_class(spec);
            pod.status =
                Some(PodStatus { phase: Some("Pending".into()), qos_class: Some(qos.into()), ..Default::default() });
            encode(&pod)
        }
        Kind::Namespace => {
            let mut ns: Namespace = decode(kind, body)?;
            ns.metadata
                .labels
                .get_or_insert_with(Default::default)
                .insert("kubernetes.io/metadata.name".into(), name.clone());
            let mut value = encode(&ns)?;
            value["spec"] = json!({"finalizers": ["kubernetes"]});
            value["status"] = json!({"phase": "Active"});
            Ok(value)
        }
        Kind::Deployment => {
            let mut deployment: Deployment = decode(kind, body)?;
            deployment.status = None;
            let mut value = encode(&deployment)?;
            let template = check_workload(kind, &name, &value)?;
            value["spec"]["template"] = template;
            value["metadata"]["generation"] = json!(1);
            let spec = &mut value["spec"];
            default_field(spec, "replicas", json!(1));
            default_field(spec, "revisionHistoryLimit", json!(10));
            default_field(spec, "progressDeadlineSeconds", json!(600));
            default_field(
                spec,
                "strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
            );
            value["status"] = json!({});
            Ok(value)
        }
        Kind::ReplicaSet => {
            let mut rs: ReplicaSet = decode(kind, body)?;
            rs.status = None;
            let mut value = encode(&rs)?;
            let template = check_workload(kind, &name, &value)?;
            value["spec"]["template"] = template;
            value["metadata"]["generation"] = json!(1);
            default_field(&mut value["spec"], "replicas", json!(1));
            value["status"] = json!({"replicas": 0});
            Ok(value)
        }
        Kind::Event => {
            let event: k8s_openapi::api::core::v1::Event = decode(kind, body)?;
            let mut value = encode(&event)?;
            value["metadata"]["namespace"] = json!(namespace);
            Ok(value)
        }
        Kind::Node => Err(ApiError::method_not_allowed("kube-sim has one node and does not create others")),
    }
}

fn default_field(object: &mut Value, field: &str, value: Value) {
    if object.get(field).is_none_or(Value::is_null) {
        object[field] = value;
    }
}

/// Checks a Deployment's or ReplicaSet's selector against its template and
/// returns the defaulted template.
fn check_workload(kind: Kind, name: &str, value: &Value) -> Result<Value, ApiError> {
    let selector = value.pointer("/spec/selector").cloned().unwrap_or(Value::Null);
    if selector.is_null() || selector.as_object().is_some_and(|m| m.is_empty()) {
        return Err(ApiError::invalid(kind, name, &["spec.selector: Required value".into()]));
    }
    let template = value.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let mut template: PodTemplateSpec = decode(kind, template)?;
    let labels = labels_of(&encode(&template)?);
    if !LabelSelector::from_object(&selector).matches_labels(&labels) {
        return Err(ApiError::invalid(
            kind,
            name,
            &["spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`".into()],
        ));
    }
    let spec = template.spec.get_or_insert_with(Default::default);
    validate_pod_spec(name, spec, "spec.template.spec")?;
    default_pod_spec(spec);
    encode(&template)
}

/// DNS-1123 subdomain (object names) or label (container names) rules.
fn dns_ok(name: &str, max: usize, dots: bool) -> bool {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (dots && c == '.');
    !name.is_empty()
        && name.len() <= max
        && name.chars().all(ok_char)
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn check_name(kind: Kind, name: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::invalid(
            kind,
            name,
            &["metadata.name: Required value: name or generateName is required".into()],
        ));
    }
    let (max, dots) = if kind == Kind::Namespace { (63, false) } else { (253, true) };
    if !dns_ok(name, max, dots) {
        let what = if dots { "RFC 1123 subdomain" } else { "RFC 1123 label" };
        return Err(ApiError::invalid(
            kind,
            name,
            &[format!(
                "metadata.name: Invalid value: \"{name}\": a lowercase {what} must consist of lower case alphanumeric characters{}, and must start and end with an alphanumeric character",
                if dots { ", '-' or '.'" } else { " or '-'" }
            )],
        ));
    }
    Ok(())
}

fn validate_pod_spec(name: &str, spec: &PodSpec, at: &str) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    if spec.containers.is_empty() {
        causes.push(format!("{at}.containers: Required value"));
    }
    let mut seen = std::collections::BTreeSet::new();
    let inits = spec.init_containers.iter().flatten().map(|c| ("initContainers", c));
    for (i, (list, c)) in spec.containers.iter().map(|c| ("containers", c)).chain(inits).enumerate() {
        let field = format!("{at}.{list}[{i}]");
        if c.name.is_empty() {
            causes.push(format!("{field}.name: Required value"));
        } else if !dns_ok(&c.name, 63, false) {
            causes.push(format!("{field}.name: Invalid value: \"{}\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character", c.name));
        } else if !seen.insert(c.name.clone()) {
            causes.push(format!("{field}.name: Duplicate value: \"{}\"", c.name));
        }
        if c.image.as_deref().unwrap_or_default().is_empty() {
            causes.push(format!("{field}.image: Required value"));
        }
    }
    let volumes: Vec<&str> = spec.volumes.iter().flatten().map(|v| v.name.as_str()).collect();
    for c in spec.containers.iter().chain(spec.init_containers.iter().flatten()) {
        for m in c.volume_mounts.iter().flatten() {
            if !volumes.contains(&m.name.as_str()) {
                causes.push(format!("{at}.containers[{}].volumeMounts[0].name: Not found: \"{}\"", c.name, m.name));
            }
        }
    }
    if causes.is_empty() { Ok(()) } else { Err(ApiError::invalid(Kind::Pod, name, &causes)) }
}

fn default_container(c: &mut Container) {
    let image = c.image.clone().unwrap_or_default();
    let last = image.rsplit('/').next().unwrap_or_default();
    let latest = !last.contains(':') || last.ends_with(":latest");
    c.image_pull_policy
        .get_or_insert_with(|| if latest && !image.contains('@') { "Always" } else { "IfNotPresent" }.into());
    c.termination_message_path.get_or_insert_with(|| "/dev/termination-log".into());
    c.termination_message_policy.get_or_insert_with(|| "File".into());
    c.resources.get_or_insert_with(Default::default);
    for p in c.ports.iter_mut().flatten() {
        p.protocol.get_or_insert_with(|| "TCP".into());
    }
}

fn default_pod_spec(spec: &mut PodSpec) {
    spec.restart_policy.get_or_insert_with(|| "Always".into());
    spec.termination_grace_period_seconds.get_or_insert(30);
    spec.dns_policy.get_or_insert_with(|| "ClusterFirst".into());
    spec.scheduler_name.get_or_insert_with(|| "default-scheduler".into());
    spec.security_context.get_or_insert_with(Default::default);
    spec.enable_service_links.get_or_insert(true);
    spec.preemption_policy.get_or_insert_with(|| "PreemptLowerPriority".into());
    spec.priority.get_or_insert(0);
    let account = spec.service_account_name.get_or_insert_with(|| "default".into()).clone();
    spec.service_account.get_or_insert(account);
    if spec.tolerations.is_none() {
        spec.tolerations = serde_json::from_value(json!([
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        ]))
        .ok();
    }
    for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
        default_container(c);
    }
    for v in spec.volumes.iter_mut().flatten() {
        if let Some(cm) = v.config_map.as_mut() {
            cm.default_mode.get_or_insert(0o644);
        }
        if let Some(secret) = v.secret.as_mut() {
            secret.default_mode.get_or_insert(0o644);
        }
    }
}

/// The ServiceAccount admission plugin's `kube-api-access-XXXXX` volume:
/// a token, the cluster CA and the namespace, mounted read-only in every
/// container, unless the pod opts out or mounts something there itself.
fn add_service_account_volume(spec: &mut PodSpec) {
    if spec.automount_service_account_token == Some(false) {
        return;
    }
    let mounted =
        spec.containers.iter().flat_map(|c| c.volume_mounts.iter().flatten()).any(|m| m.mount_path == SA_MOUNT);
    if mounted {
        return;
    }
    let name = format!("kube-api-access-{}", ids::suffix(5));
    let volume: Option<Volume> = serde_json::from_value(json!({
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}, "path": "namespace"}]}},
            ],
        },
    }))
    .ok();
    let Some(volume) = volume else { return };
    spec.volumes.get_or_insert_with(Vec::new).push(volume);
    for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
        c.volume_mounts.get_or_insert_with(Vec::new).push(VolumeMount {
            name: name.clone(),
            mount_path: SA_MOUNT.into(),
            read_only: Some(true),
            ..Default::default()
        });
    }
}

fn qos_class(spec: &PodSpec) -> &'static str {
    let any = spec.containers.iter().any(|c| {
        c.resources.as_ref().is_some_and(|r| {
            r.limits.as_ref().is_some_and(|l| !l.is_empty()) || r.requests.as_ref().is_some_and(|q| !q.is_empty())
        })
    });
    if any { "Burstable" } else { "BestEffort" }
}

/// Checks a replacement of `old` by `new` (PUT or PATCH) and returns what
/// to store: identity and status stay the server's; a pod's spec cannot
/// change; a workload's generation counts spec changes.
pub fn update(kind: Kind, old: &Value, mut new: Value) -> Result<Value, ApiError> {
    let name = crate::store::name_of(old).to_owned();
    if crate::store::name_of(&new) != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            crate::store::name_of(&new)
        )));
    }
    for field in [
        "uid",
        "creationTimestamp",
        "namespace",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "ownerReferences",
    ] {
        let keep = old.pointer(&format!("/metadata/{field}")).cloned();
        let meta = crate::store::meta_mut(&mut new);
        match keep {
            Some(v) if field != "ownerReferences" || !meta.contains_key(field) => {
                meta.insert(field.into(), v);
            }
            None if field != "ownerReferences" => {
                meta.remove(field);
            }
            _ => {}
        }
    }
    new["apiVersion"] = json!(kind.api_version());
    new["kind"] = json!(kind.kind());
    if let Some(status) = old.get("status") {
        new["status"] = status.clone();
    }
    match kind {
        Kind::Pod => {
            if old.get("spec") != new.get("spec") {
                return Err(ApiError::invalid(kind, &name, &["spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing tolerations), `spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative) (kube-sim changes none of them)".into()]));
            }
        }
        Kind::Deployment | Kind::ReplicaSet => {
            let template = check_workload(kind, &name, &new)?;
            new["spec"]["template"] = template;
            if old.get("spec") != new.get("spec") {
                let generation = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
                new["metadata"]["generation"] = json!(generation + 1);
            }
        }
        Kind::Namespace => new["spec"] = old.get("spec").cloned().unwrap_or(json!({})),
        Kind::Event | Kind::Node => {}
    }
    Ok(new)
}
