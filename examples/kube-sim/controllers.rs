//! The controllers a debugging client relies on: Deployment (one
//! ReplicaSet per pod template, the older ones scaled to zero; no rolling
//! update pacing), ReplicaSet (pods from the template, owned by it),
//! garbage collection (dependents of a deleted owner are deleted), and
//! namespace termination (a Terminating namespace is emptied, then removed).
//!
//! Like the real ones they only read and write through the store, and run
//! on every change and once a second.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::events::{self, About};
use crate::ids;
use crate::kinds::Kind;
use crate::rest;
use crate::selectors::LabelSelector;
use crate::sim::Sim;
use crate::store::name_of;

pub async fn run(sim: Arc<Sim>) {
    sim.control_loop(
        |kind| kind != Kind::Event,
        || {
            namespaces(&sim);
            deployments(&sim);
            replica_sets(&sim);
            garbage(&sim);
        },
    )
    .await;
}

fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn uid(object: &Value) -> &str {
    text(object, "/metadata/uid")
}

fn namespace(object: &Value) -> &str {
    text(object, "/metadata/namespace")
}

fn deleting(object: &Value) -> bool {
    object.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null())
}

/// The uid of the object's controller owner of `kind`, if any.
fn controller_of(object: &Value, kind: &str) -> Option<String> {
    object.pointer("/metadata/ownerReferences").and_then(Value::as_array)?.iter().find_map(|r| {
        (r.get("controller").and_then(Value::as_bool) == Some(true)
            && r.get("kind").and_then(Value::as_str) == Some(kind))
        .then(|| r.get("uid").and_then(Value::as_str).unwrap_or_default().to_owned())
    })
}

fn owner_reference(kind: Kind, owner: &Value) -> Value {
    json!([{
        "apiVersion": kind.api_version(),
        "kind": kind.kind(),
        "name": name_of(owner),
        "uid": uid(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    }])
}

/// `spec.selector` as a label selector string (`app=web,tier=front`).
pub fn selector_string(object: &Value) -> String {
    let labels = object.pointer("/spec/selector/matchLabels").and_then(Value::as_object);
    labels
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(","))
        .unwrap_or_default()
}

fn ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions").and_then(Value::as_array).is_some_and(|cs| {
        cs.iter().any(|c| {
            c.get("type").and_then(Value::as_str) == Some("Ready")
                && c.get("status").and_then(Value::as_str) == Some("True")
        })
    })
}

fn event(sim: &Sim, kind: Kind, object: &Value, reason: &str, message: &str, component: &str) {
    events::record(sim, &About::object(kind, object), "Normal", reason, message, component);
}

/// A condition that keeps its times while it does not change.
fn condition(old: &Value, kind: &str, status: bool, reason: &str, message: &str) -> Value {
    let status = if status { "True" } else { "False" };
    let previous =
        old.as_array().and_then(|cs| cs.iter().find(|c| c.get("type").and_then(Value::as_str) == Some(kind)));
    let now = ids::now();
    let same = previous.filter(|p| text(p, "/status") == status && text(p, "/reason") == reason);
    json!({
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastUpdateTime": same.map_or(now.clone(), |p| text(p, "/lastUpdateTime").to_owned()),
        "lastTransitionTime": same.map_or(now, |p| text(p, "/lastTransitionTime").to_owned()),
    })
}

fn deployments(sim: &Arc<Sim>) {
    let (deployments, _) = sim.store.list(Kind::Deployment, None);
    let (sets, _) = sim.store.list(Kind::ReplicaSet, None);
    for d in deployments.iter().filter(|d| !deleting(d)) {
        let (ns, name) = (namespace(d).to_owned(), name_of(d).to_owned());
        let template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let hash = ids::hash(&template.to_string());
        let current = format!("{name}-{hash}");
        let replicas = d.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
        let owned: Vec<&Value> =
            sets.iter().filter(|rs| controller_of(rs, "Deployment").as_deref() == Some(uid(d))).collect();
        if !owned.iter().any(|rs| name_of(rs) == current) {
            let mut template = template.clone();
            template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
            let mut selector = d.pointer("/spec/selector").cloned().unwrap_or(json!({}));
            selector["matchLabels"]["pod-template-hash"] = json!(hash);
            let body = json!({
                "metadata": {
                    "name": current,
                    "labels": template["metadata"]["labels"],
                    "annotations": {"deployment.kubernetes.io/revision": (owned.len() + 1).to_string(), "deployment.kubernetes.io/desired-replicas": replicas.to_string()},
                    "ownerReferences": owner_reference(Kind::Deployment, d),
                },
                "spec": {"replicas": replicas, "selector": selector, "template": template},
            });
            match rest::create_object(sim, Kind::ReplicaSet, &ns, body) {
                Ok(_) => event(
                    sim,
                    Kind::Deployment,
                    d,
                    "ScalingReplicaSet",
                    &format!("Scaled up replica set {current} from 0 to {replicas}"),
                    "deployment-controller",
                ),
                Err(e) => tracing::warn!(error = %e.message, "creating replica set {current}"),
            }
        }
        let mut status = (0, 0, 0);
        for rs in &owned {
            let want = if name_of(rs) == current { replicas } else { 0 };
            if rs.pointer("/spec/replicas").and_then(Value::as_i64) != Some(want) {
                let _ = sim.store.update(Kind::ReplicaSet, &ns, name_of(rs), |o| {
                    o["spec"]["replicas"] = json!(want);
                    Ok(())
                });
            }
            let count = |f: &str| rs.pointer(&format!("/status/{f}")).and_then(Value::as_i64).unwrap_or(0);
            status.0 += count("replicas");
            status.1 += count("readyReplicas");
            if name_of(rs) == current {
                status.2 += count("replicas");
            }
        }
        let generation = d.pointer("/metadata/generation").cloned().unwrap_or(json!(1));
        let _ = sim.store.update(Kind::Deployment, &ns, &name, |o| {
            let old = o.pointer("/status/conditions").cloned().unwrap_or(Value::Null);
            let available = status.1 >= replicas;
            let progressed = status.2 == replicas && status.1 >= replicas;
            o["status"] = json!({
                "observedGeneration": generation,
                "replicas": status.0,
                "updatedReplicas": status.2,
                "readyReplicas": status.1,
                "availableReplicas": status.1,
                "unavailableReplicas": (replicas - status.1).max(0),
                "conditions": [
                    if available { condition(&old, "Available", true, "MinimumReplicasAvailable", "Deployment has minimum availability.") }
                    else { condition(&old, "Available", false, "MinimumReplicasUnavailable", "Deployment does not have minimum availability.") },
                    if progressed { condition(&old, "Progressing", true, "NewReplicaSetAvailable", &format!("ReplicaSet \"{current}\" has successfully progressed.")) }
                    else { condition(&old, "Progressing", true, "ReplicaSetUpdated", &format!("ReplicaSet \"{current}\" is progressing.")) },
                ],
            });
            Ok(())
        });
    }
}

fn replica_sets(sim: &Arc<Sim>) {
    let (sets, _) = sim.store.list(Kind::ReplicaSet, None);
    let (pods, _) = sim.store.list(Kind::Pod, None);
    for rs in sets.iter().filter(|rs| !deleting(rs)) {
        let (ns, name) = (namespace(rs).to_owned(), name_of(rs).to_owned());
        let want = rs.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1).max(0) as usize;
        let selector = LabelSelector::from_object(rs.pointer("/spec/selector").unwrap_or(&Value::Null));
        let owned: Vec<&Value> = pods
            .iter()
            .filter(|p| {
                namespace(p) == ns && controller_of(p, "ReplicaSet").as_deref() == Some(uid(rs)) && !deleting(p)
            })
            .collect();
        for _ in owned.len()..want {
            let template = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
            let body = json!({
                "metadata": {
                    "generateName": format!("{name}-"),
                    "labels": template.pointer("/metadata/labels"),
                    "annotations": template.pointer("/metadata/annotations"),
                    "ownerReferences": owner_reference(Kind::ReplicaSet, rs),
                },
                "spec": template.get("spec"),
            });
            match rest::create_object(sim, Kind::Pod, &ns, body) {
                Ok(pod) => event(
                    sim,
                    Kind::ReplicaSet,
                    rs,
                    "SuccessfulCreate",
                    &format!("Created pod: {}", name_of(&pod)),
                    "replicaset-controller",
                ),
                Err(e) => tracing::warn!(error = %e.message, "creating a pod of {name}"),
            }
        }
        let mut newest: Vec<&&Value> = owned.iter().collect();
        newest.sort_by_key(|p| std::cmp::Reverse(text(p, "/metadata/creationTimestamp").to_owned()));
        for extra in newest.iter().take(owned.len().saturating_sub(want)) {
            rest::delete_quietly(sim, Kind::Pod, &ns, name_of(extra));
            event(
                sim,
                Kind::ReplicaSet,
                rs,
                "SuccessfulDelete",
                &format!("Deleted pod: {}", name_of(extra)),
                "replicaset-controller",
            );
        }
        let count = owned.len().min(want) as i64;
        let labeled = owned.iter().filter(|p| selector.matches(p)).count() as i64;
        let ready_count = owned.iter().filter(|p| ready(p)).count() as i64;
        let generation = rs.pointer("/metadata/generation").cloned().unwrap_or(json!(1));
        let _ = sim.store.update(Kind::ReplicaSet, &ns, &name, |o| {
            o["status"] = json!({
                "replicas": count,
                "fullyLabeledReplicas": labeled.min(count),
                "readyReplicas": ready_count,
                "availableReplicas": ready_count,
                "observedGeneration": generation,
            });
            Ok(())
        });
    }
}

/// Dependents whose controller is gone are deleted (background propagation).
fn garbage(sim: &Arc<Sim>) {
    let (deployments, _) = sim.store.list(Kind::Deployment, None);
    let (sets, _) = sim.store.list(Kind::ReplicaSet, None);
    let (pods, _) = sim.store.list(Kind::Pod, None);
    let live = |list: &[Value], u: &str| list.iter().any(|o| uid(o) == u);
    for rs in &sets {
        if let Some(owner) = controller_of(rs, "Deployment")
            && !live(&deployments, &owner)
        {
            sim.store.remove(Kind::ReplicaSet, namespace(rs), name_of(rs));
        }
    }
    for pod in pods.iter().filter(|p| !deleting(p)) {
        if let Some(owner) = controller_of(pod, "ReplicaSet")
            && !live(&sets, &owner)
        {
            rest::delete_quietly(sim, Kind::Pod, namespace(pod), name_of(pod));
        }
    }
}

/// With `propagationPolicy: Orphan`, dependents lose their owner reference.
pub fn orphan_dependents(sim: &Sim, owner: &Value) {
    let owner_uid = uid(owner).to_owned();
    for kind in [Kind::ReplicaSet, Kind::Pod] {
        let (items, _) = sim.store.list(kind, Some(namespace(owner)));
        for item in items.iter().filter(|i| {
            controller_of(i, "Deployment").as_deref() == Some(&owner_uid)
                || controller_of(i, "ReplicaSet").as_deref() == Some(&owner_uid)
        }) {
            let _ = sim.store.update(kind, namespace(item), name_of(item), |o| {
                if let Some(refs) = o.pointer_mut("/metadata/ownerReferences").and_then(Value::as_array_mut) {
                    refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid.as_str()));
                }
                Ok(())
            });
        }
    }
}

fn namespaces(sim: &Arc<Sim>) {
    let (namespaces, _) = sim.store.list(Kind::Namespace, None);
    for ns in namespaces.iter().filter(|n| text(n, "/status/phase") == "Terminating") {
        let name = name_of(ns);
        let (pods, _) = sim.store.list(Kind::Pod, Some(name));
        for pod in pods.iter().filter(|p| !deleting(p)) {
            rest::delete_quietly(sim, Kind::Pod, name, name_of(pod));
        }
        for kind in [Kind::Deployment, Kind::ReplicaSet] {
            let (items, _) = sim.store.list(kind, Some(name));
            for item in items {
                sim.store.remove(kind, name, name_of(&item));
            }
        }
        if pods.is_empty() {
            let (events, _) = sim.store.list(Kind::Event, Some(name));
            for e in events {
                sim.store.remove(Kind::Event, name, name_of(&e));
            }
            sim.store.remove(Kind::Namespace, "", name);
        }
    }
}
