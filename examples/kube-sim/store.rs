//! The object store: every object kept as its JSON, one resourceVersion
//! counter for all of them, and the change log that watches read from.
//!
//! Like etcd behind a real API server, the store knows nothing of what the
//! objects mean: defaulting, validation and the controllers live elsewhere.
//! It does not persist anything; a restarted simulation starts empty.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::errors::ApiError;
use crate::kinds::Kind;

/// How many changes stay readable for watches that resume from an older
/// resourceVersion; older ones get 410 Gone, as from a compacted etcd.
const LOG_LEN: usize = 20_000;

/// What happened to an object, as watch events name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeType {
    Added,
    Modified,
    Deleted,
}

/// One entry of the change log.
#[derive(Clone, Debug)]
pub struct Change {
    pub rv: u64,
    pub kind: Kind,
    pub namespace: String,
    pub change: ChangeType,
    pub object: Arc<Value>,
    /// The object before a modification (watches with a selector turn a
    /// modification that leaves or enters the selection into DELETED or ADDED).
    pub previous: Option<Arc<Value>>,
}

type Key = (Kind, String, String);

struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    log: VecDeque<Change>,
}

pub struct Store {
    inner: Mutex<Inner>,
    changes: broadcast::Sender<Change>,
}

/// What a watch starts from: the changes after its resourceVersion that are
/// already past, and a receiver for the ones to come (no gap between them).
pub struct Subscription {
    pub backlog: Vec<Change>,
    pub live: broadcast::Receiver<Change>,
}

impl Store {
    pub fn new() -> Self {
        let (changes, _) = broadcast::channel(8192);
        Store { inner: Mutex::new(Inner { rv: 1, objects: BTreeMap::new(), log: VecDeque::new() }), changes }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock would be a bug in a closure below;
        // the data is still consistent JSON, so go on with it.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The current resourceVersion (what a list reports).
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
        self.lock().objects.get(&(kind, namespace.to_owned(), name.to_owned())).cloned()
    }

    /// Objects of a kind, in one namespace or all (`None`), and the
    /// resourceVersion they were read at.
    pub fn list(&self, kind: Kind, namespace: Option<&str>) -> (Vec<Value>, u64) {
        let inner = self.lock();
        (items_of(&inner, kind, namespace), inner.rv)
    }

    /// Stores a new object; stamps uid, creationTimestamp and
    /// resourceVersion. The name must be set (generateName is resolved by
    /// the caller).
    pub fn create(&self, kind: Kind, namespace: &str, mut object: Value) -> Result<Value, ApiError> {
        let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_owned();
        let mut inner = self.lock();
        if kind.namespaced() {
            let ns = inner.objects.get(&(Kind::Namespace, String::new(), namespace.to_owned()));
            match ns {
                None => return Err(ApiError::not_found(Kind::Namespace, namespace)),
                Some(ns) if ns.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating") => {
                    return Err(ApiError::forbidden(format!(
                        "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                        kind.plural()
                    )));
                }
                Some(_) => {}
            }
        }
        let key = (kind, namespace.to_owned(), name.clone());
        if inner.objects.contains_key(&key) {
            return Err(ApiError::already_exists(kind, &name));
        }
        inner.rv += 1;
        let rv = inner.rv;
        let meta = meta_mut(&mut object);
        meta.insert("uid".into(), json!(crate::ids::uuid()));
        meta.insert("creationTimestamp".into(), json!(crate::ids::now()));
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        if kind.namespaced() {
            meta.insert("namespace".into(), json!(namespace));
        } else {
            meta.remove("namespace");
        }
        inner.objects.insert(key, object.clone());
        self.record(&mut inner, kind, namespace, ChangeType::Added, &object, None);
        Ok(object)
    }

    /// Changes an object in place. `change` returns an error to refuse;
    /// an update that leaves the object as it was is not a change and
    /// keeps its resourceVersion.
    pub fn update(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut Value) -> Result<(), ApiError>,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let key = (kind, namespace.to_owned(), name.to_owned());
        let Some(current) = inner.objects.get(&key) else {
            return Err(ApiError::not_found(kind, name));
        };
        let mut object = current.clone();
        change(&mut object)?;
        if &object == current {
            return Ok(object);
        }
        let previous = Arc::new(current.clone());
        inner.rv += 1;
        let rv = inner.rv;
        meta_mut(&mut object).insert("resourceVersion".into(), json!(rv.to_string()));
        inner.objects.insert(key, object.clone());
        self.record(&mut inner, kind, namespace, ChangeType::Modified, &object, Some(previous));
        Ok(object)
    }

    /// Removes an object for good (the end of a graceful deletion).
    pub fn remove(&self, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
        let mut inner = self.lock();
        let mut object = inner.objects.remove(&(kind, namespace.to_owned(), name.to_owned()))?;
        inner.rv += 1;
        let rv = inner.rv;
        meta_mut(&mut object).insert("resourceVersion".into(), json!(rv.to_string()));
        self.record(&mut inner, kind, namespace, ChangeType::Deleted, &object, None);
        Some(object)
    }

    /// Removes an object only if it is still the one with this uid (a pod
    /// deleted and created again under its name is another pod).
    pub fn remove_uid(&self, kind: Kind, namespace: &str, name: &str, uid: &str) -> Option<Value> {
        let current = self.get(kind, namespace, name)?;
        if current.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid) {
            return None;
        }
        self.remove(kind, namespace, name)
    }

    fn record(
        &self,
        inner: &mut Inner,
        kind: Kind,
        namespace: &str,
        change: ChangeType,
        object: &Value,
        previous: Option<Arc<Value>>,
    ) {
        let entry = Change {
            rv: inner.rv,
            kind,
            namespace: namespace.to_owned(),
            change,
            object: Arc::new(object.clone()),
            previous,
        };
        if inner.log.len() == LOG_LEN {
            inner.log.pop_front();
        }
        inner.log.push_back(entry.clone());
        // No receiver is fine: nobody watches.
        let _ = self.changes.send(entry);
    }

    /// Changes after `rv` and a receiver for what follows; `Err` when the
    /// log no longer reaches back that far (the client must list again).
    pub fn subscribe(&self, rv: u64) -> Result<Subscription, ApiError> {
        let inner = self.lock();
        let oldest = inner.log.front().map_or(inner.rv, |c| c.rv);
        if rv + 1 < oldest {
            return Err(ApiError::gone(format!("too old resource version: {rv} ({})", oldest - 1)));
        }
        let backlog = inner.log.iter().filter(|c| c.rv > rv).cloned().collect();
        Ok(Subscription { backlog, live: self.changes.subscribe() })
    }

    /// The objects of a kind now, their resourceVersion, and a receiver for
    /// every change after it (a watch that starts with the current state).
    pub fn snapshot(&self, kind: Kind, namespace: Option<&str>) -> (Vec<Value>, u64, broadcast::Receiver<Change>) {
        let inner = self.lock();
        (items_of(&inner, kind, namespace), inner.rv, self.changes.subscribe())
    }

    /// A receiver of every change from now on (for controllers).
    pub fn changes(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }
}

fn items_of(inner: &Inner, kind: Kind, namespace: Option<&str>) -> Vec<Value> {
    inner
        .objects
        .iter()
        .filter(|((k, ns, _), _)| *k == kind && namespace.is_none_or(|n| n == ns))
        .map(|(_, v)| v.clone())
        .collect()
}

/// The object's `metadata` map, created when missing. Objects in the store
/// are always JSON maps (bodies are checked before they get here).
pub fn meta_mut(object: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !object.is_object() {
        *object = json!({});
    }
    let Value::Object(root) = object else { unreachable!("made a map above") };
    let meta = root.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    let Value::Object(meta) = meta else { unreachable!("made a map above") };
    meta
}

/// `metadata.name`, or "" when it is missing.
pub fn name_of(object: &Value) -> &str {
    object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default()
}
