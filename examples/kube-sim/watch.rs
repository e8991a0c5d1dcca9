//! `?watch=true`: a chunked stream of `{"type": ..., "object": ...}` lines,
//! from a resourceVersion (or the current state as ADDED events), filtered
//! by namespace and selectors, ended by `timeoutSeconds` or the client.
//!
//! Like the watch cache, a modification that moves an object out of (into)
//! the selection is sent as DELETED (ADDED). Bookmarks are only sent to
//! mark the end of initial events (`sendInitialEvents=true`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::errors::ApiError;
use crate::http::{self, Query, Reply, Shape};
use crate::kinds::Kind;
use crate::router::Target;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::sim::Sim;
use crate::store::{Change, ChangeType};
use crate::tables::{self, Include};

/// The API server's default watch length is 30 to 60 minutes.
const DEFAULT_TIMEOUT: i64 = 1800;

struct Filter {
    kind: Kind,
    namespace: Option<String>,
    name: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    shape: Shape,
    include: Include,
}

impl Filter {
    fn matches(&self, object: &Value) -> bool {
        self.name.as_deref().is_none_or(|n| crate::store::name_of(object) == n)
            && self.labels.matches(object)
            && self.fields.matches(object)
    }

    fn in_scope(&self, change: &Change) -> bool {
        change.kind == self.kind && self.namespace.as_deref().is_none_or(|ns| ns == change.namespace)
    }

    /// The event a change becomes for this watch, if any.
    fn event(&self, change: &Change) -> Option<(&'static str, Value)> {
        if !self.in_scope(change) {
            return None;
        }
        let now = self.matches(&change.object);
        let before = change.previous.as_deref().is_some_and(|p| self.matches(p));
        let kind = match (change.change, before, now) {
            (ChangeType::Added, _, true) => "ADDED",
            (ChangeType::Modified, true, true) => "MODIFIED",
            (ChangeType::Modified, false, true) => "ADDED",
            (ChangeType::Modified, true, false) => "DELETED",
            (ChangeType::Deleted, _, true) => "DELETED",
            _ => return None,
        };
        Some((kind, (*change.object).clone()))
    }

    fn line(&self, event: &str, object: Value, rv: u64) -> Bytes {
        let object = match self.shape {
            Shape::Table => tables::table(self.kind, &[object], rv, self.include),
            Shape::Object => object,
        };
        let mut line = serde_json::to_vec(&json!({"type": event, "object": object})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }
}

pub fn serve(sim: Arc<Sim>, target: Target, query: &Query, shape: Shape) -> Result<Reply, ApiError> {
    let filter = Filter {
        kind: target.kind,
        namespace: target.namespace.clone(),
        name: target.name.clone(),
        labels: LabelSelector::parse(query.get("labelSelector").unwrap_or_default())?,
        fields: FieldSelector::parse(query.get("fieldSelector").unwrap_or_default(), target.kind)?,
        shape,
        include: Include::parse(query.get("includeObject")),
    };
    let timeout = Duration::from_secs(query.int("timeoutSeconds")?.unwrap_or(DEFAULT_TIMEOUT).max(1) as u64);
    let send_initial = query.flag("sendInitialEvents");
    let from = match query.get("resourceVersion") {
        None | Some("" | "0") => None,
        Some(v) if send_initial => {
            let _ = v;
            None
        }
        Some(v) => Some(v.parse::<u64>().map_err(|_| ApiError::bad_request(format!("invalid resource version: {v}")))?),
    };
    let (initial, rv, live) = match from {
        Some(rv) => {
            let subscription = sim.store.subscribe(rv)?;
            (
                subscription.backlog.into_iter().filter_map(|c| filter.event(&c).map(|e| (e, c.rv))).collect(),
                rv,
                subscription.live,
            )
        }
        None => {
            let (items, rv, live) = sim.store.snapshot(filter.kind, filter.namespace.as_deref());
            let events: Vec<_> = items.into_iter().filter(|o| filter.matches(o)).map(|o| (("ADDED", o), rv)).collect();
            (events, rv, live)
        }
    };
    let (tx, reply) = http::streamed("application/json");
    let shutdown = sim.shutdown.clone();
    sim.tasks.spawn(async move {
        let run = stream(&filter, initial, rv, send_initial, live, &tx);
        tokio::select! {
            _ = run => {}
            _ = tokio::time::sleep(timeout) => {}
            _ = shutdown.cancelled() => {}
        }
    });
    Ok(reply)
}

async fn stream(
    filter: &Filter,
    initial: Vec<((&'static str, Value), u64)>,
    rv: u64,
    send_initial: bool,
    mut live: broadcast::Receiver<Change>,
    tx: &mpsc::Sender<Bytes>,
) {
    for ((event, object), at) in initial {
        if tx.send(filter.line(event, object, at)).await.is_err() {
            return;
        }
    }
    if send_initial {
        let bookmark = json!({
            "kind": filter.kind.kind(),
            "apiVersion": filter.kind.api_version(),
            "metadata": {"resourceVersion": rv.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}},
        });
        let line = serde_json::to_vec(&json!({"type": "BOOKMARK", "object": bookmark})).unwrap_or_default();
        if tx.send(Bytes::from([line, b"\n".to_vec()].concat())).await.is_err() {
            return;
        }
    }
    loop {
        let change = tokio::select! {
            change = live.recv() => change,
            _ = tx.closed() => return,
        };
        match change {
            Ok(change) => {
                if let Some((event, object)) = filter.event(&change)
                    && tx.send(filter.line(event, object, change.rv)).await.is_err()
                {
                    return;
                }
            }
            // A watcher that fell this far behind starts over, as after a
            // watch cache overflow.
            Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
