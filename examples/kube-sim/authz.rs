//! Authorization: every request is allowed unless a deny rule names its
//! verb and resource, and `SelfSubjectAccessReview` answers from the same
//! rules, so a client's permission check and the request agree (as RBAC
//! does on a real cluster).
//!
//! Rules come from `--deny "VERB RESOURCE[/SUBRESOURCE]"` (everywhere) and
//! from a namespace's annotation `kube-sim.dockdap/deny` (a comma-separated
//! list of the same, for that namespace), so one simulation can serve tests
//! that need different permissions. There are no users, roles or bindings.

use serde_json::{Value, json};

use crate::errors::ApiError;
use crate::kinds::Kind;
use crate::router::Target;
use crate::sim::Sim;

/// The namespace annotation holding deny rules.
pub const DENY_ANNOTATION: &str = "kube-sim.dockdap/deny";

/// The user every request is made as.
pub const USER: &str = "kube-sim-user";

/// One deny rule: a verb (or `*`) and a resource with an optional subresource (or `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    verb: String,
    resource: String,
}

impl Rule {
    pub fn parse(text: &str) -> Option<Rule> {
        let mut words = text.split_whitespace();
        let (verb, resource) = (words.next()?, words.next()?);
        if words.next().is_some() {
            return None;
        }
        Some(Rule { verb: verb.to_owned(), resource: resource.to_owned() })
    }

    fn denies(&self, verb: &str, resource: &str) -> bool {
        (self.verb == "*" || self.verb == verb) && (self.resource == "*" || self.resource == resource)
    }
}

/// Rules in a comma-separated list; malformed entries are skipped.
pub fn parse_rules(text: &str) -> Vec<Rule> {
    text.split(',').filter_map(Rule::parse).collect()
}

impl Sim {
    fn denied(&self, verb: &str, resource: &str, namespace: &str) -> bool {
        if self.config.deny.iter().any(|r| r.denies(verb, resource)) {
            return true;
        }
        if namespace.is_empty() {
            return false;
        }
        self.store
            .get(Kind::Namespace, "", namespace)
            .and_then(|ns| ns.pointer("/metadata/annotations").and_then(|a| a.get(DENY_ANNOTATION)).cloned())
            .and_then(|v| v.as_str().map(parse_rules))
            .is_some_and(|rules| rules.iter().any(|r| r.denies(verb, resource)))
    }

    /// A 403 in RBAC's words when a rule denies this request.
    pub fn authorize(&self, verb: &str, target: &Target) -> Result<(), ApiError> {
        let mut resource = target.kind.plural().to_owned();
        if let Some(sub) = &target.subresource {
            resource = format!("{resource}/{sub}");
        }
        let namespace =
            if target.kind == Kind::Namespace { target.name.as_deref() } else { target.namespace.as_deref() };
        if !self.denied(verb, &resource, namespace.unwrap_or_default()) {
            return Ok(());
        }
        let group = match target.kind.group() {
            "" => String::new(),
            g => format!(" in API group \"{g}\""),
        };
        let scope = match &target.namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_owned(),
        };
        let name = target
            .name
            .as_deref()
            .map(|n| format!("{} \"{n}\" is forbidden: ", target.kind.plural()))
            .unwrap_or_else(|| format!("{} is forbidden: ", target.kind.plural()));
        Err(ApiError::forbidden(format!("{name}User \"{USER}\" cannot {verb} resource \"{resource}\"{group} {scope}")))
    }
}

/// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`.
pub fn review(sim: &Sim, mut body: Value) -> Result<crate::http::Reply, ApiError> {
    let attrs = body.pointer("/spec/resourceAttributes").cloned();
    let allowed = match attrs {
        Some(a) => {
            let text = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
            let mut resource = text("resource");
            if !text("subresource").is_empty() {
                resource = format!("{resource}/{}", text("subresource"));
            }
            !sim.denied(&text("verb"), &resource, &text("namespace"))
        }
        // Non-resource URLs (`/healthz`, `/version`) are readable by everyone.
        None => true,
    };
    body["apiVersion"] = json!("authorization.k8s.io/v1");
    body["kind"] = json!("SelfSubjectAccessReview");
    if body.get("metadata").is_none() {
        body["metadata"] = json!({});
    }
    body["metadata"]["creationTimestamp"] = Value::Null;
    body["status"] = if allowed {
        json!({"allowed": true, "reason": "kube-sim: no deny rule matches"})
    } else {
        // RBAC gives no reason for a denial; kubectl prints "no".
        json!({"allowed": false})
    };
    Ok(crate::http::json(201, &body))
}
