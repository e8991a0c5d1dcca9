//! Server-side printing: the `meta.k8s.io/v1` Table kubectl asks for, with
//! the columns (and the STATUS reasoning) of the API server's own printers
//! for pods, namespaces, events, deployments, replica sets and nodes.

use serde_json::{Value, json};

use crate::ids;
use crate::kinds::Kind;

/// What each row carries besides its cells (`includeObject`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Include {
    None,
    Metadata,
    Object,
}

impl Include {
    pub fn parse(value: Option<&str>) -> Include {
        match value {
            Some("None") => Include::None,
            Some("Object") => Include::Object,
            _ => Include::Metadata,
        }
    }
}

fn column(name: &str, kind: &str, priority: u8, description: &str) -> Value {
    let format = if name == "Name" { "name" } else { "" };
    json!({"name": name, "type": kind, "format": format, "description": description, "priority": priority})
}

fn columns(kind: Kind) -> Vec<Value> {
    let name = column("Name", "string", 0, "Name must be unique within a namespace.");
    let age = column(
        "Age",
        "string",
        0,
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
    );
    match kind {
        Kind::Pod => vec![
            name,
            column("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic."),
            column("Status", "string", 0, "The aggregate status of the containers in this pod."),
            column(
                "Restarts",
                "string",
                0,
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            age,
            column("IP", "string", 1, "IP address allocated to the pod."),
            column("Node", "string", 1, "Name of the node the pod is assigned to."),
            column("Nominated Node", "string", 1, "Name of the node the pod is nominated to."),
            column("Readiness Gates", "string", 1, "Readiness gates of the pod."),
        ],
        Kind::Namespace => vec![name, column("Status", "string", 0, "The status of the namespace"), age],
        Kind::Event => vec![
            column("Last Seen", "string", 0, "The time of the most recent occurrence."),
            column("Type", "string", 0, "Type of this event (Normal, Warning)."),
            column("Reason", "string", 0, "Why the action was taken."),
            column("Object", "string", 0, "The object this Event is about."),
            column("Subobject", "string", 1, "The subobject (container) this Event is about."),
            column("Source", "string", 1, "The component reporting this event."),
            column("Message", "string", 0, "A human-readable description of the status of this operation."),
            column("First Seen", "string", 1, "The time of the first occurrence."),
            column("Count", "string", 1, "The number of times this event has occurred."),
            column("Name", "string", 1, "The name of the event."),
        ],
        Kind::Deployment => vec![
            name,
            column("Ready", "string", 0, "Number of the pod with ready state"),
            column(
                "Up-to-date",
                "string",
                0,
                "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
            ),
            column(
                "Available",
                "string",
                0,
                "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
            ),
            age,
            column("Containers", "string", 1, "Names of each container in the template."),
            column("Images", "string", 1, "Images referenced by each container in the template."),
            column("Selector", "string", 1, "Label selector for pods."),
        ],
        Kind::ReplicaSet => vec![
            name,
            column("Desired", "integer", 0, "Number of desired pods."),
            column("Current", "integer", 0, "Number of actual pods."),
            column("Ready", "integer", 0, "Number of ready pods."),
            age,
            column("Containers", "string", 1, "Names of each container in the template."),
            column("Images", "string", 1, "Images referenced by each container in the template."),
            column("Selector", "string", 1, "Label selector for pods."),
        ],
        Kind::Node => vec![
            name,
            column("Status", "string", 0, "The status of the node"),
            column("Roles", "string", 0, "The roles of the node"),
            age,
            column("Version", "string", 0, "Kubelet Version reported by the node."),
        ],
    }
}

/// A Table of these objects.
pub fn table(kind: Kind, objects: &[Value], resource_version: u64, include: Include) -> Value {
    let rows: Vec<Value> = objects.iter().map(|o| row(kind, o, include)).collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version.to_string()},
        "columnDefinitions": columns(kind),
        "rows": rows,
    })
}

fn row(kind: Kind, object: &Value, include: Include) -> Value {
    let mut row = json!({"cells": cells(kind, object)});
    match include {
        Include::None => {}
        Include::Object => row["object"] = object.clone(),
        Include::Metadata => {
            row["object"] = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": object.get("metadata").cloned().unwrap_or(json!({})),
            })
        }
    }
    row
}

fn s<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn n(object: &Value, pointer: &str) -> i64 {
    object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn age(object: &Value, pointer: &str) -> String {
    ids::age_seconds(s(object, pointer)).map_or_else(|| "<unknown>".to_owned(), ids::human)
}

fn or_none(text: &str) -> String {
    if text.is_empty() { "<none>".into() } else { text.into() }
}

fn cells(kind: Kind, o: &Value) -> Vec<Value> {
    let name = json!(s(o, "/metadata/name"));
    match kind {
        Kind::Pod => pod_cells(o),
        Kind::Namespace => vec![name, json!(s(o, "/status/phase")), json!(age(o, "/metadata/creationTimestamp"))],
        Kind::Event => event_cells(o),
        Kind::Deployment => {
            let (containers, images) = template_summary(o);
            vec![
                name,
                json!(format!("{}/{}", n(o, "/status/readyReplicas"), n(o, "/spec/replicas"))),
                json!(n(o, "/status/updatedReplicas")),
                json!(n(o, "/status/availableReplicas")),
                json!(age(o, "/metadata/creationTimestamp")),
                json!(containers),
                json!(images),
                json!(selector_text(o)),
            ]
        }
        Kind::ReplicaSet => {
            let (containers, images) = template_summary(o);
            vec![
                name,
                json!(n(o, "/spec/replicas")),
                json!(n(o, "/status/replicas")),
                json!(n(o, "/status/readyReplicas")),
                json!(age(o, "/metadata/creationTimestamp")),
                json!(containers),
                json!(images),
                json!(selector_text(o)),
            ]
        }
        Kind::Node => vec![
            name,
            json!("Ready"),
            json!("control-plane"),
            json!(age(o, "/metadata/creationTimestamp")),
            json!(s(o, "/status/nodeInfo/kubeletVersion")),
        ],
    }
}

fn template_summary(o: &Value) -> (String, String) {
    let containers = o.pointer("/spec/template/spec/containers").and_then(Value::as_array).cloned().unwrap_or_default();
    let names: Vec<&str> = containers.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| s(c, "/image")).collect();
    (names.join(","), images.join(","))
}

fn selector_text(o: &Value) -> String {
    let labels = o.pointer("/spec/selector/matchLabels").and_then(Value::as_object);
    labels
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(","))
        .unwrap_or_default()
}

/// The STATUS column, reasoned as kubectl's `printPod`.
pub fn pod_reason(o: &Value) -> String {
    let mut reason = s(o, "/status/phase").to_owned();
    if !s(o, "/status/reason").is_empty() {
        reason = s(o, "/status/reason").to_owned();
    }
    let inits = o.pointer("/status/initContainerStatuses").and_then(Value::as_array).cloned().unwrap_or_default();
    let init_total = o.pointer("/spec/initContainers").and_then(Value::as_array).map_or(0, Vec::len);
    let mut initializing = false;
    for (i, c) in inits.iter().enumerate() {
        if c.pointer("/state/terminated").is_some() && n(c, "/state/terminated/exitCode") == 0 {
            continue;
        }
        if c.pointer("/state/terminated").is_some() {
            let r = s(c, "/state/terminated/reason");
            reason = if r.is_empty() {
                format!("Init:ExitCode:{}", n(c, "/state/terminated/exitCode"))
            } else {
                format!("Init:{r}")
            };
        } else if !s(c, "/state/waiting/reason").is_empty() && s(c, "/state/waiting/reason") != "PodInitializing" {
            reason = format!("Init:{}", s(c, "/state/waiting/reason"));
        } else {
            reason = format!("Init:{i}/{init_total}");
        }
        initializing = true;
        break;
    }
    if !initializing {
        let mut has_running = false;
        let statuses = o.pointer("/status/containerStatuses").and_then(Value::as_array).cloned().unwrap_or_default();
        for c in statuses.iter().rev() {
            if !s(c, "/state/waiting/reason").is_empty() {
                reason = s(c, "/state/waiting/reason").to_owned();
            } else if !s(c, "/state/terminated/reason").is_empty() {
                reason = s(c, "/state/terminated/reason").to_owned();
            } else if c.pointer("/state/terminated").is_some() {
                reason = format!("ExitCode:{}", n(c, "/state/terminated/exitCode"));
            } else if c.get("ready").and_then(Value::as_bool) == Some(true) && c.pointer("/state/running").is_some() {
                has_running = true;
            }
        }
        if reason == "Completed" && has_running {
            reason = "Running".into();
        }
    }
    if o.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null()) {
        reason = "Terminating".into();
    }
    reason
}

fn pod_cells(o: &Value) -> Vec<Value> {
    let statuses = o.pointer("/status/containerStatuses").and_then(Value::as_array).cloned().unwrap_or_default();
    let inits = o.pointer("/status/initContainerStatuses").and_then(Value::as_array).cloned().unwrap_or_default();
    let total = o.pointer("/spec/containers").and_then(Value::as_array).map_or(0, Vec::len);
    let ready = statuses.iter().filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true)).count();
    let restarts: i64 = statuses.iter().chain(inits.iter()).map(|c| n(c, "/restartCount")).sum();
    let last_restart = statuses
        .iter()
        .chain(inits.iter())
        .filter_map(|c| ids::age_seconds(s(c, "/lastState/terminated/finishedAt")))
        .min();
    let restarts_text = match last_restart {
        Some(ago) if restarts > 0 => format!("{restarts} ({} ago)", ids::human(ago)),
        _ => restarts.to_string(),
    };
    vec![
        json!(s(o, "/metadata/name")),
        json!(format!("{ready}/{total}")),
        json!(pod_reason(o)),
        json!(restarts_text),
        json!(age(o, "/metadata/creationTimestamp")),
        json!(or_none(s(o, "/status/podIP"))),
        json!(or_none(s(o, "/spec/nodeName"))),
        json!("<none>"),
        json!("<none>"),
    ]
}

fn event_cells(o: &Value) -> Vec<Value> {
    let last = if s(o, "/lastTimestamp").is_empty() { s(o, "/eventTime") } else { s(o, "/lastTimestamp") };
    let first = if s(o, "/firstTimestamp").is_empty() { last } else { s(o, "/firstTimestamp") };
    let count = n(o, "/count").max(1);
    let last_age = ids::age_seconds(last).map_or_else(|| "<unknown>".to_owned(), ids::human);
    let last_seen = if count > 1 {
        let span = ids::age_seconds(first).map_or_else(|| "<unknown>".to_owned(), ids::human);
        format!("{last_age} (x{count} over {span})")
    } else {
        last_age
    };
    let object = format!("{}/{}", s(o, "/involvedObject/kind").to_lowercase(), s(o, "/involvedObject/name"));
    let source = match (s(o, "/source/component"), s(o, "/source/host")) {
        (c, "") => c.to_owned(),
        (c, h) => format!("{c}, {h}"),
    };
    vec![
        json!(last_seen),
        json!(s(o, "/type")),
        json!(s(o, "/reason")),
        json!(object),
        json!(s(o, "/involvedObject/fieldPath")),
        json!(source),
        json!(s(o, "/message").trim()),
        json!(ids::age_seconds(first).map_or_else(|| "<unknown>".to_owned(), ids::human)),
        json!(count.to_string()),
        json!(s(o, "/metadata/name")),
    ]
}
