//! The resource kinds the simulation serves, with what discovery says about
//! each (group, plural, short names, verbs, subresources).
//!
//! Only the kinds a debugging client reads or creates are here; anything
//! else is a 404 like an API server without that resource.

/// A served resource kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Namespace,
    Node,
    Pod,
    Event,
    Deployment,
    ReplicaSet,
}

const READ: &[&str] = &["get", "list", "watch"];
const ALL_VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
const NAMESPACE_VERBS: &[&str] = &["create", "delete", "get", "list", "patch", "update", "watch"];

impl Kind {
    pub const ALL: [Kind; 6] =
        [Kind::Namespace, Kind::Node, Kind::Pod, Kind::Event, Kind::Deployment, Kind::ReplicaSet];

    pub fn kind(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::Node => "Node",
            Kind::Pod => "Pod",
            Kind::Event => "Event",
            Kind::Deployment => "Deployment",
            Kind::ReplicaSet => "ReplicaSet",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Kind::Namespace => "namespaces",
            Kind::Node => "nodes",
            Kind::Pod => "pods",
            Kind::Event => "events",
            Kind::Deployment => "deployments",
            Kind::ReplicaSet => "replicasets",
        }
    }

    pub fn singular(self) -> String {
        self.kind().to_lowercase()
    }

    /// The API group ("" for the core group).
    pub fn group(self) -> &'static str {
        match self {
            Kind::Deployment | Kind::ReplicaSet => "apps",
            _ => "",
        }
    }

    pub fn api_version(self) -> &'static str {
        match self.group() {
            "" => "v1",
            _ => "apps/v1",
        }
    }

    pub fn namespaced(self) -> bool {
        !matches!(self, Kind::Namespace | Kind::Node)
    }

    pub fn short_names(self) -> &'static [&'static str] {
        match self {
            Kind::Namespace => &["ns"],
            Kind::Node => &["no"],
            Kind::Pod => &["po"],
            Kind::Event => &["ev"],
            Kind::Deployment => &["deploy"],
            Kind::ReplicaSet => &["rs"],
        }
    }

    pub fn categories(self) -> &'static [&'static str] {
        match self {
            Kind::Pod | Kind::Deployment | Kind::ReplicaSet => &["all"],
            _ => &[],
        }
    }

    pub fn verbs(self) -> &'static [&'static str] {
        match self {
            Kind::Node => READ,
            Kind::Namespace => NAMESPACE_VERBS,
            _ => ALL_VERBS,
        }
    }

    /// Subresources: (name, kind of the object it takes or returns, verbs).
    pub fn subresources(self) -> &'static [(&'static str, &'static str, &'static [&'static str])] {
        match self {
            Kind::Pod => &[
                ("attach", "PodAttachOptions", &["create", "get"]),
                ("exec", "PodExecOptions", &["create", "get"]),
                ("log", "Pod", &["get"]),
                ("portforward", "PodPortForwardOptions", &["create", "get"]),
                ("status", "Pod", &["get", "patch", "update"]),
            ],
            Kind::Namespace => &[("status", "Namespace", &["get", "patch", "update"])],
            Kind::Deployment => &[("scale", "Scale", &["get", "patch", "update"]), ("status", "Deployment", &["get"])],
            Kind::ReplicaSet => &[("status", "ReplicaSet", &["get"])],
            _ => &[],
        }
    }

    /// The kind served at `plural` in `group`.
    pub fn from_path(group: &str, plural: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.group() == group && k.plural() == plural)
    }
}
