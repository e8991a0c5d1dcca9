//! The REST verbs on stored objects: get, list, create, replace, patch,
//! delete and deletecollection, with the API server's answers (the object,
//! a `KindList`, a Table for kubectl, a `Status` on errors).
//!
//! Deletion follows the API server: a pod is marked (`deletionTimestamp`,
//! `deletionGracePeriodSeconds`) and the kubelet removes it once its
//! containers are stopped; a namespace turns `Terminating` until the
//! namespace controller has emptied it; workloads go at once and the
//! garbage collector deletes what they own. Creation and updates reach the
//! kubelet and the controllers only through the store's change log.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::admission;
use crate::errors::ApiError;
use crate::http::{self, Query, Reply, Shape};
use crate::ids;
use crate::kinds::Kind;
use crate::patch;
use crate::router::Target;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::sim::Sim;
use crate::store::{meta_mut, name_of};
use crate::tables::{self, Include};

pub fn get(sim: &Sim, target: &Target, name: &str, shape: Shape, query: &Query) -> Result<Reply, ApiError> {
    let object = sim.store.get(target.kind, target.ns(), name).ok_or_else(|| ApiError::not_found(target.kind, name))?;
    if target.subresource.as_deref() == Some("scale") {
        return Ok(http::json(200, &scale_of(&object)));
    }
    match shape {
        Shape::Table => {
            let rv = sim.store.resource_version();
            Ok(http::json(200, &tables::table(target.kind, &[object], rv, Include::parse(query.get("includeObject")))))
        }
        Shape::Object => Ok(http::json(200, &object)),
    }
}

pub fn list(sim: &Sim, target: &Target, query: &Query, shape: Shape) -> Result<Reply, ApiError> {
    let labels = LabelSelector::parse(query.get("labelSelector").unwrap_or_default())?;
    let fields = FieldSelector::parse(query.get("fieldSelector").unwrap_or_default(), target.kind)?;
    let (items, rv) = sim.store.list(target.kind, target.namespace.as_deref());
    let items: Vec<Value> = items.into_iter().filter(|o| labels.matches(o) && fields.matches(o)).collect();
    if shape == Shape::Table {
        return Ok(http::json(
            200,
            &tables::table(target.kind, &items, rv, Include::parse(query.get("includeObject"))),
        ));
    }
    let items: Vec<Value> = items
        .into_iter()
        .map(|mut o| {
            if let Some(map) = o.as_object_mut() {
                map.shift_remove("kind");
                map.shift_remove("apiVersion");
            }
            o
        })
        .collect();
    Ok(http::json(200, &list_of(target.kind, rv, items)))
}

/// A `KindList`.
fn list_of(kind: Kind, rv: u64, items: Vec<Value>) -> Value {
    json!({
        "kind": format!("{}List", kind.kind()),
        "apiVersion": kind.api_version(),
        "metadata": {"resourceVersion": rv.to_string()},
        "items": items,
    })
}

/// Creates an object as a client would (also used by the controllers).
pub fn create_object(sim: &Sim, kind: Kind, namespace: &str, mut body: Value) -> Result<Value, ApiError> {
    if kind.namespaced()
        && let Some(ns) = body.pointer("/metadata/namespace").and_then(Value::as_str)
        && !ns.is_empty()
        && ns != namespace
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    for field in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "managedFields",
    ] {
        meta_mut(&mut body).remove(field);
    }
    let generate = body.pointer("/metadata/generateName").and_then(Value::as_str).map(str::to_owned);
    let tries = if generate.is_some() && name_of(&body).is_empty() { 8 } else { 1 };
    let mut last = None;
    for _ in 0..tries {
        let mut attempt = body.clone();
        if let Some(prefix) = &generate
            && name_of(&body).is_empty()
        {
            meta_mut(&mut attempt).insert("name".into(), json!(format!("{prefix}{}", ids::suffix(5))));
        }
        let admitted = admission::create(kind, namespace, attempt)?;
        match sim.store.create(kind, namespace, admitted) {
            Err(e) if e.reason == "AlreadyExists" && generate.is_some() => last = Some(e),
            other => return other,
        }
    }
    Err(last.unwrap_or_else(|| ApiError::internal("could not generate a unique name")))
}

pub fn create(sim: &Sim, kind: Kind, namespace: &str, body: Value) -> Result<Reply, ApiError> {
    create_object(sim, kind, namespace, body).map(|o| http::json(201, &o))
}

fn scale_of(object: &Value) -> Value {
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": name_of(object),
            "namespace": object.pointer("/metadata/namespace"),
            "uid": object.pointer("/metadata/uid"),
            "resourceVersion": object.pointer("/metadata/resourceVersion"),
            "creationTimestamp": object.pointer("/metadata/creationTimestamp"),
        },
        "spec": {"replicas": object.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)},
        "status": {
            "replicas": object.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": crate::controllers::selector_string(object),
        },
    })
}

fn store_update(sim: &Sim, target: &Target, name: &str, new: Value) -> Result<Value, ApiError> {
    let kind = target.kind;
    let scale = target.subresource.as_deref() == Some("scale");
    if matches!(target.subresource.as_deref(), Some(sub) if sub != "scale") {
        return Err(ApiError::method_not_allowed(format!(
            "kube-sim does not let clients write {}/{}",
            kind.plural(),
            target.subresource.as_deref().unwrap_or_default()
        )));
    }
    let updated = sim.store.update(kind, target.ns(), name, |old| {
        let wanted = new.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or_default();
        let current = old.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or_default();
        if !wanted.is_empty() && wanted != current {
            return Err(ApiError::conflict(
                kind,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        let next = if scale {
            let mut next = old.clone();
            next["spec"]["replicas"] = new.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
            next
        } else {
            new
        };
        *old = admission::update(kind, old, next)?;
        Ok(())
    })?;
    Ok(if scale { scale_of(&updated) } else { updated })
}

pub fn replace(sim: &Sim, target: &Target, name: &str, body: Value) -> Result<Reply, ApiError> {
    store_update(sim, target, name, body).map(|o| http::json(200, &o))
}

pub fn patch(sim: &Sim, target: &Target, name: &str, content_type: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let current =
        sim.store.get(target.kind, target.ns(), name).ok_or_else(|| ApiError::not_found(target.kind, name))?;
    let base = if target.subresource.as_deref() == Some("scale") { scale_of(&current) } else { current };
    let mut patched = patch::apply(content_type, &base, body)?;
    // A patch only carries a resourceVersion precondition if it says so.
    if patched.pointer("/metadata/resourceVersion") == base.pointer("/metadata/resourceVersion") {
        meta_mut(&mut patched).remove("resourceVersion");
    }
    store_update(sim, target, name, patched).map(|o| http::json(200, &o))
}

/// The grace period of a pod deletion: the request's, else the pod's own.
fn grace_period(query: &Query, options: &Value, pod: &Value) -> Result<i64, ApiError> {
    if let Some(g) = query.int("gracePeriodSeconds")? {
        return Ok(g.max(0));
    }
    if let Some(g) = options.get("gracePeriodSeconds").and_then(Value::as_i64) {
        return Ok(g.max(0));
    }
    Ok(pod.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(30).max(0))
}

pub fn delete(sim: &Sim, kind: Kind, ns: &str, name: &str, query: &Query, options: &Value) -> Result<Reply, ApiError> {
    delete_object(sim, kind, ns, name, query, options).map(|o| http::json(200, &o))
}

/// Deletes (or starts deleting) an object; returns it as it stands.
pub fn delete_object(
    sim: &Sim,
    kind: Kind,
    ns: &str,
    name: &str,
    query: &Query,
    options: &Value,
) -> Result<Value, ApiError> {
    let object = sim.store.get(kind, ns, name).ok_or_else(|| ApiError::not_found(kind, name))?;
    if let Some(uid) = options.pointer("/preconditions/uid").and_then(Value::as_str)
        && object.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid)
    {
        return Err(ApiError::conflict(
            kind,
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                object.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default()
            ),
        ));
    }
    let policy = query
        .get("propagationPolicy")
        .or_else(|| options.get("propagationPolicy").and_then(Value::as_str))
        .unwrap_or("Background")
        .to_owned();
    match kind {
        Kind::Pod => {
            let grace = grace_period(query, options, &object)?;
            if grace == 0 {
                return sim.store.remove(kind, ns, name).ok_or_else(|| ApiError::not_found(kind, name));
            }
            sim.store.update(kind, ns, name, |pod| {
                let current = pod.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64);
                if current.is_none_or(|c| grace < c) {
                    let at = crate::ids::timestamp().as_second() + grace;
                    let at = k8s_openapi::jiff::Timestamp::from_second(at).unwrap_or_else(|_| crate::ids::timestamp());
                    let meta = meta_mut(pod);
                    meta.insert("deletionTimestamp".into(), json!(at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()));
                    meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
                }
                Ok(())
            })
        }
        Kind::Namespace => {
            if matches!(name, "default" | "kube-system" | "kube-public") {
                return Err(ApiError::forbidden(format!(
                    "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
                )));
            }
            sim.store.update(kind, ns, name, |object| {
                if object.pointer("/metadata/deletionTimestamp").is_none() {
                    meta_mut(object).insert("deletionTimestamp".into(), json!(ids::now()));
                }
                object["status"]["phase"] = json!("Terminating");
                Ok(())
            })
        }
        _ => {
            if policy == "Orphan" {
                crate::controllers::orphan_dependents(sim, &object);
            }
            sim.store.remove(kind, ns, name).ok_or_else(|| ApiError::not_found(kind, name))
        }
    }
}

pub fn delete_collection(sim: &Sim, target: &Target, query: &Query) -> Result<Reply, ApiError> {
    let labels = LabelSelector::parse(query.get("labelSelector").unwrap_or_default())?;
    let fields = FieldSelector::parse(query.get("fieldSelector").unwrap_or_default(), target.kind)?;
    let (items, rv) = sim.store.list(target.kind, target.namespace.as_deref());
    let mut deleted = Vec::new();
    for item in items.iter().filter(|o| labels.matches(o) && fields.matches(o)) {
        let ns = item.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
        if let Ok(object) = delete_object(sim, target.kind, ns, name_of(item), query, &Value::Null) {
            deleted.push(object);
        }
    }
    Ok(http::json(200, &list_of(target.kind, rv, deleted)))
}

/// For code that holds an `Arc<Sim>`.
pub fn delete_quietly(sim: &Arc<Sim>, kind: Kind, ns: &str, name: &str) {
    if let Err(e) = delete_object(sim, kind, ns, name, &Query::default(), &Value::Null)
        && e.code != 404
    {
        tracing::warn!(error = %e.message, "deleting {}/{name}", kind.plural());
    }
}
