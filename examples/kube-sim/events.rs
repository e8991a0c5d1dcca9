//! Events (`core/v1`), as the kubelet, the scheduler and the controllers
//! record them: one object per (object, reason, message), its `count` and
//! `lastTimestamp` raised when it happens again.

use serde_json::{Value, json};

use crate::kinds::Kind;
use crate::sim::Sim;

/// What an event is about.
pub struct About<'a> {
    pub kind: Kind,
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
    /// `spec.containers{NAME}` for container events.
    pub field_path: Option<String>,
}

impl<'a> About<'a> {
    pub fn object(kind: Kind, object: &'a Value) -> About<'a> {
        let text = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or_default();
        About {
            kind,
            namespace: text("/metadata/namespace"),
            name: text("/metadata/name"),
            uid: text("/metadata/uid"),
            field_path: None,
        }
    }
}

/// Records (or counts again) an event. `kind` is `Normal` or `Warning`.
pub fn record(sim: &Sim, about: &About<'_>, kind: &str, reason: &str, message: &str, component: &str) {
    let ns = about.namespace;
    let (events, _) = sim.store.list(Kind::Event, Some(ns));
    let same = events.iter().find(|e| {
        let p = |ptr: &str| e.pointer(ptr).and_then(Value::as_str).unwrap_or_default();
        p("/involvedObject/uid") == about.uid
            && p("/reason") == reason
            && p("/message") == message
            && p("/involvedObject/fieldPath") == about.field_path.as_deref().unwrap_or_default()
    });
    let now = crate::ids::now();
    if let Some(existing) = same {
        let name = crate::store::name_of(existing).to_owned();
        let _ = sim.store.update(Kind::Event, ns, &name, |e| {
            let count = e.get("count").and_then(Value::as_i64).unwrap_or(1);
            e["count"] = json!(count + 1);
            e["lastTimestamp"] = json!(now);
            Ok(())
        });
        return;
    }
    let nanos = crate::ids::timestamp().as_nanosecond();
    let mut involved = json!({
        "kind": about.kind.kind(),
        "namespace": ns,
        "name": about.name,
        "uid": about.uid,
        "apiVersion": about.kind.api_version(),
    });
    if let Some(path) = &about.field_path {
        involved["fieldPath"] = json!(path);
    }
    let host = if component == "kubelet" { Some(sim.config.node.clone()) } else { None };
    let event = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": format!("{}.{nanos:x}", about.name), "namespace": ns},
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "source": match &host { Some(h) => json!({"component": component, "host": h}), None => json!({"component": component}) },
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": kind,
        "eventTime": null,
        "reportingComponent": component,
        "reportingInstance": host.clone().unwrap_or_default(),
    });
    if let Err(e) = sim.store.create(Kind::Event, ns, event) {
        tracing::debug!(error = %e.message, "recording event {reason}");
    }
}
