//! Request routing: authentication, the path's parts (group, namespace,
//! resource, name, subresource), authorization, and the handler for the
//! verb.
//!
//! The paths are the API server's (`/api/v1/namespaces/NS/pods/NAME/exec`,
//! `/apis/apps/v1/deployments`, the legacy `/api/v1/watch/...` form); any
//! other path is the API server's own 404 `Status`.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request};
use serde_json::Value;

use crate::errors::ApiError;
use crate::http::{self, Query, Reply, Shape};
use crate::kinds::Kind;
use crate::sim::Sim;
use crate::{authz, discovery, logs, portforward, proto, rest, streams, watch};

/// Bodies larger than this are refused, like the API server's 3 MiB limit.
const MAX_BODY: usize = 3 * 1024 * 1024;

pub async fn handle(sim: Arc<Sim>, req: Request<Incoming>) -> Reply {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let reply = match route(sim, req).await {
        Ok(reply) => reply,
        Err(e) => http::error(&e),
    };
    tracing::debug!(%method, %path, status = reply.status().as_u16(), "request");
    reply
}

/// What a resource path names.
#[derive(Debug, Clone)]
pub struct Target {
    pub kind: Kind,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

impl Target {
    /// The namespace for a namespaced kind ("" for cluster-scoped ones).
    pub fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or_default()
    }
}

async fn route(sim: Arc<Sim>, req: Request<Incoming>) -> Result<Reply, ApiError> {
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let public = matches!(segments.as_slice(), ["version"] | ["healthz" | "livez" | "readyz", ..]);
    if !public {
        sim.authenticate(req.headers())?;
    }
    let get = req.method() == Method::GET;
    match segments.as_slice() {
        ["version"] if get => Ok(discovery::version()),
        ["healthz" | "livez" | "readyz", ..] if get => Ok(http::text(200, "ok")),
        ["api"] if get => Ok(discovery::core_versions()),
        ["apis"] if get => Ok(discovery::groups()),
        ["api", "v1"] if get => discovery::resources(""),
        ["apis", group] if get => discovery::group(group),
        ["apis", group, "v1"] if get => discovery::resources(group),
        ["openapi", "v3"] if get => Ok(discovery::openapi_root()),
        ["openapi", "v3", rest @ ..] if get => discovery::openapi_group(&rest.join("/")),
        ["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"] => {
            if req.method() != Method::POST {
                return Err(ApiError::method_not_allowed("only create is served for selfsubjectaccessreviews"));
            }
            let body = read_object(req, "SelfSubjectAccessReview", "authorization.k8s.io/v1").await?;
            authz::review(&sim, body)
        }
        ["api", "v1", rest @ ..] => resource(sim, "", rest, req).await,
        ["apis", "apps", "v1", rest @ ..] => resource(sim, "apps", rest, req).await,
        _ => Err(ApiError::no_route()),
    }
}

/// Parses `[watch/][namespaces/NS/]PLURAL[/NAME[/SUB]]`.
fn parse_target(group: &str, rest: &[&str]) -> Option<(Target, bool)> {
    let (watch_path, rest) = match rest {
        ["watch", tail @ ..] => (true, tail),
        _ => (false, rest),
    };
    let (namespace, tail) = match rest {
        ["namespaces", ns, plural, ..] if Kind::from_path(group, plural).is_some_and(Kind::namespaced) => {
            (Some((*ns).to_owned()), &rest[2..])
        }
        _ => (None, rest),
    };
    let (kind, name, subresource) = match tail {
        [plural] => (Kind::from_path(group, plural)?, None, None),
        [plural, name] => (Kind::from_path(group, plural)?, Some(*name), None),
        [plural, name, sub] => (Kind::from_path(group, plural)?, Some(*name), Some(*sub)),
        _ => return None,
    };
    if kind.namespaced() && namespace.is_none() && name.is_some() {
        return None;
    }
    if let Some(sub) = subresource
        && !kind.subresources().iter().any(|(s, _, _)| *s == sub)
    {
        return None;
    }
    let target = Target { kind, namespace, name: name.map(str::to_owned), subresource: subresource.map(str::to_owned) };
    Some((target, watch_path))
}

async fn resource(sim: Arc<Sim>, group: &str, rest: &[&str], req: Request<Incoming>) -> Result<Reply, ApiError> {
    let (target, watch_path) = parse_target(group, rest).ok_or_else(ApiError::no_route)?;
    let query = Query::parse(req.uri().query());
    let shape = http::shape(req.headers());
    let method = req.method().clone();
    let watching = watch_path || (method == Method::GET && query.flag("watch"));
    let verb = verb(&method, &target, watching);
    sim.authorize(verb, &target)?;

    match (target.subresource.as_deref(), target.name.as_deref()) {
        (Some("exec" | "attach" | "portforward"), Some(_)) if http::is_websocket(req.headers()) => {
            if target.subresource.as_deref() == Some("portforward") {
                portforward::serve(sim, target, query, req).await
            } else {
                streams::serve(sim, target, query, req).await
            }
        }
        (Some("exec" | "attach" | "portforward"), Some(_)) => Err(ApiError::bad_request(
            "Upgrade request required: kube-sim serves exec, attach and portforward over WebSocket only \
             (v5.channel.k8s.io, v4.channel.k8s.io); SPDY is not simulated",
        )),
        (Some("log"), Some(name)) if method == Method::GET => logs::serve(sim, target.ns(), name, &query).await,
        _ if watching => watch::serve(sim, target, &query, shape),
        _ => crud(sim, target, query, shape, req).await,
    }
}

async fn crud(
    sim: Arc<Sim>,
    target: Target,
    query: Query,
    shape: Shape,
    req: Request<Incoming>,
) -> Result<Reply, ApiError> {
    let method = req.method().clone();
    let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let ns = target.ns().to_owned();
    match (method, target.name.clone()) {
        (Method::GET, Some(name)) => rest::get(&sim, &target, &name, shape, &query),
        (Method::GET, None) => rest::list(&sim, &target, &query, shape),
        (Method::POST, None) => {
            let body = read_object(req, target.kind.kind(), target.kind.api_version()).await?;
            rest::create(&sim, target.kind, &ns, body)
        }
        (Method::PUT, Some(name)) => {
            let body = read_object(req, target.kind.kind(), target.kind.api_version()).await?;
            rest::replace(&sim, &target, &name, body)
        }
        (Method::PATCH, Some(name)) => {
            let body = read_body(req).await?;
            rest::patch(&sim, &target, &name, &content_type, &body)
        }
        (Method::DELETE, Some(name)) => {
            let body = read_body(req).await?;
            let options = if body.is_empty() { Value::Null } else { parse_json(&body)? };
            rest::delete(&sim, target.kind, &ns, &name, &query, &options)
        }
        (Method::DELETE, None) => rest::delete_collection(&sim, &target, &query),
        (method, _) => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource: {method}"
        ))),
    }
}

/// The RBAC verb of a request.
fn verb(method: &Method, target: &Target, watching: bool) -> &'static str {
    match (method.as_str(), target.name.is_some(), target.subresource.as_deref()) {
        (_, _, Some("exec" | "attach" | "portforward")) => "create",
        ("GET", _, _) if watching => "watch",
        ("GET", true, _) => "get",
        ("GET", false, _) => "list",
        ("POST", _, _) => "create",
        ("PUT", _, _) => "update",
        ("PATCH", _, _) => "patch",
        ("DELETE", true, _) => "delete",
        ("DELETE", false, _) => "deletecollection",
        _ => "get",
    }
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, ApiError> {
    let body = http_body_util::Limited::new(req.into_body(), MAX_BODY);
    body.collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))
}

/// A request body holding an object of `kind`: JSON, or the protobuf
/// kubectl's typed clients send.
async fn read_object(req: Request<Incoming>, kind: &str, api_version: &str) -> Result<Value, ApiError> {
    let media =
        req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("application/json").to_owned();
    if media.starts_with("application/vnd.kubernetes.protobuf") {
        return proto::decode(kind, api_version, &read_body(req).await?);
    }
    if media.contains("yaml") {
        return Err(ApiError::unsupported_media(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/vnd.kubernetes.protobuf (kube-sim does not read {media})"
        )));
    }
    parse_json(&read_body(req).await?)
}

pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body of the request could not be decoded as JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request("the body of the request must be a JSON object"));
    }
    Ok(value)
}
