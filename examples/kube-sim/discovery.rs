//! Discovery: `/version`, `/api`, `/apis` and the resource lists, in the
//! legacy (unaggregated) form. Clients that ask for aggregated discovery
//! (`as=APIGroupDiscoveryList`) get this form, see the plain
//! `application/json` content type, and fall back to it, as they do with
//! API servers older than 1.26.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    APIGroup, APIGroupList, APIResource, APIResourceList, APIVersions, GroupVersionForDiscovery,
    ServerAddressByClientCIDR,
};
use serde_json::{Value, json};

use crate::errors::ApiError;
use crate::http::{self, Reply};
use crate::kinds::Kind;

/// The Kubernetes version the simulation answers as (kubectl 1.32's).
pub const MAJOR: &str = "1";
pub const MINOR: &str = "32";
pub const GIT_VERSION: &str = "v1.32.0-kube-sim";

pub fn version() -> Reply {
    http::json(
        200,
        &json!({
            "major": MAJOR,
            "minor": MINOR,
            "gitVersion": GIT_VERSION,
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.23.0",
            "compiler": "gc",
            "platform": "linux/amd64",
        }),
    )
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

pub fn core_versions() -> Reply {
    let versions = APIVersions {
        versions: vec!["v1".into()],
        server_address_by_client_cidrs: vec![ServerAddressByClientCIDR {
            client_cidr: "0.0.0.0/0".into(),
            server_address: "127.0.0.1".into(),
        }],
    };
    http::json(200, &to_json(&versions))
}

const GROUPS: &[&str] = &["apps", "authorization.k8s.io"];

fn api_group(name: &str) -> APIGroup {
    let version = GroupVersionForDiscovery { group_version: format!("{name}/v1"), version: "v1".into() };
    APIGroup {
        name: name.into(),
        preferred_version: Some(version.clone()),
        server_address_by_client_cidrs: None,
        versions: vec![version],
    }
}

pub fn groups() -> Reply {
    let list = APIGroupList { groups: GROUPS.iter().map(|g| api_group(g)).collect() };
    http::json(200, &to_json(&list))
}

pub fn group(name: &str) -> Result<Reply, ApiError> {
    if !GROUPS.contains(&name) {
        return Err(ApiError::no_route());
    }
    Ok(http::json(200, &to_json(&api_group(name))))
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn kind_resources(kind: Kind) -> Vec<APIResource> {
    let main = APIResource {
        name: kind.plural().into(),
        singular_name: kind.singular(),
        namespaced: kind.namespaced(),
        kind: kind.kind().into(),
        verbs: strings(kind.verbs()),
        short_names: Some(strings(kind.short_names())).filter(|v| !v.is_empty()),
        categories: Some(strings(kind.categories())).filter(|v| !v.is_empty()),
        ..Default::default()
    };
    let subs = kind.subresources().iter().map(|(sub, sub_kind, verbs)| APIResource {
        name: format!("{}/{sub}", kind.plural()),
        singular_name: String::new(),
        namespaced: kind.namespaced(),
        kind: (*sub_kind).into(),
        verbs: strings(verbs),
        group: (*sub == "scale").then(|| "autoscaling".to_owned()),
        version: (*sub == "scale").then(|| "v1".to_owned()),
        ..Default::default()
    });
    std::iter::once(main).chain(subs).collect()
}

pub fn resources(group: &str) -> Result<Reply, ApiError> {
    let mut resources: Vec<APIResource> =
        Kind::ALL.into_iter().filter(|k| k.group() == group).flat_map(kind_resources).collect();
    match group {
        "" | "apps" => {}
        "authorization.k8s.io" => resources.push(APIResource {
            name: "selfsubjectaccessreviews".into(),
            singular_name: "selfsubjectaccessreview".into(),
            namespaced: false,
            kind: "SelfSubjectAccessReview".into(),
            verbs: strings(&["create"]),
            ..Default::default()
        }),
        _ => return Err(ApiError::no_route()),
    }
    let group_version = if group.is_empty() { "v1".to_owned() } else { format!("{group}/v1") };
    let list = APIResourceList { group_version, resources };
    Ok(http::json(200, &to_json(&list)))
}

/// The group-versions with an OpenAPI v3 document: the path kubectl asks
/// for (`api/v1`, `apis/apps/v1`) and the group.
const OPENAPI_GROUPS: &[(&str, &str)] =
    &[("api/v1", ""), ("apis/apps/v1", "apps"), ("apis/authorization.k8s.io/v1", "authorization.k8s.io")];

/// `/openapi/v3`: where each group-version's document is.
pub fn openapi_root() -> Reply {
    let mut paths = serde_json::Map::new();
    for (path, _) in OPENAPI_GROUPS {
        paths.insert((*path).into(), json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={}", GIT_VERSION)}));
    }
    http::json(200, &json!({"paths": paths}))
}

/// `/openapi/v3/GROUP/VERSION`: the operations of each kind, with the
/// `fieldValidation` parameter, so kubectl leaves validation to the
/// server (which decodes into the Kubernetes types). No schemas: clients
/// that validate against schemas (`kubectl explain`) get nothing to use.
pub fn openapi_group(path: &str) -> Result<Reply, ApiError> {
    let group = OPENAPI_GROUPS.iter().find(|(p, _)| *p == path).map(|(_, g)| *g).ok_or_else(ApiError::no_route)?;
    let parameter = json!([
        {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
    ]);
    let mut paths = serde_json::Map::new();
    for kind in Kind::ALL.into_iter().filter(|k| k.group() == group) {
        let gvk = json!({"group": group, "version": "v1", "kind": kind.kind()});
        let operation = |verb: &str| {
            json!({
                "operationId": format!("{verb}{}", kind.kind()),
                "parameters": parameter,
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": verb,
                "x-kubernetes-group-version-kind": gvk,
            })
        };
        let base = if group.is_empty() { "/api/v1".to_owned() } else { format!("/apis/{group}/v1") };
        let collection = if kind.namespaced() {
            format!("{base}/namespaces/{{namespace}}/{}", kind.plural())
        } else {
            format!("{base}/{}", kind.plural())
        };
        paths.insert(collection.clone(), json!({"post": operation("post"), "get": operation("list")}));
        paths.insert(format!("{collection}/{{name}}"), json!({"get": operation("get"), "put": operation("put"), "patch": operation("patch"), "delete": operation("delete")}));
    }
    Ok(http::json(
        200,
        &json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": GIT_VERSION}, "paths": paths}),
    ))
}
