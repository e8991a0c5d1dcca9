//! The `launch` and `attach` configurations, parsed once into typed values.
//!
//! These types are the single source of the configuration's shape: `dockdap
//! schema` prints their JSON schema (which editor configs are checked
//! against), and the list of attributes dockdap owns is read off that same
//! schema. Every attribute *not* in it belongs to debugpy and is passed on
//! untouched (`justMyCode`, `subProcess`, `redirectOutput`, ...).
//!
//! This module only parses and validates (`check` says what is wrong in
//! words a user can act on); it starts nothing.

mod check;
mod kubernetes;
mod lenient;
mod targets;
#[cfg(test)]
mod tests_careless;

pub use kubernetes::{KubernetesTarget, PodChoice};

pub(crate) use check::nearest;

use std::collections::BTreeMap;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::paths::{Mapping, PathMap};

/// The app's folder inside Azure ML deployment images.
pub const DEFAULT_APP_ROOT: &str = "/var/azureml-app";
/// debugpy's customary port.
pub const DEFAULT_DEBUG_PORT: u16 = 5678;
/// Seconds to wait for the debugger; debugpy's own spawn timeout is 60 s.
pub const DEFAULT_TIMEOUT_SECS: f64 = 60.0;

/// `"request": "launch"`: start a container from an image and debug it.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "dockdap launch configuration")]
pub struct LaunchArguments {
    /// Image to run, e.g. `debug:1`; required unless `compose` names the service to debug or `kubernetes` the pod to copy.
    #[serde(default)]
    pub image: String,
    /// Debug one service of a Compose project, brought up by the Compose
    /// tool (`docker compose`, else `docker-compose`) with an override
    /// dockdap generates; the project's own files are never changed.
    #[serde(default)]
    pub compose: Option<ComposeArguments>,
    /// Start a debug copy of a Deployment's (or a pod's) pod in a Kubernetes
    /// cluster instead of a container.
    #[serde(default)]
    pub kubernetes: Option<KubernetesTarget>,
    /// Name of the container; generated when absent.
    #[serde(default)]
    pub container_name: Option<String>,
    /// Where the app's files are, in the container and on this machine.
    #[serde(flatten)]
    pub paths: PathArguments,
    /// `host:container` port pairs for the service, published on 127.0.0.1 only.
    #[serde(default = "default_ports")]
    pub ports: Vec<String>,
    /// The debugger's port inside the container.
    #[serde(default = "default_debug_port", deserialize_with = "lenient::port")]
    #[schemars(range(min = 1))]
    pub debug_port: u16,
    /// How debugpy is started.
    #[serde(default)]
    pub debugger: DebuggerMode,
    /// How dockdap reaches debugpy.
    #[serde(default)]
    pub transport: TransportMode,
    /// Hold the app before `init()` until the editor is attached.
    #[serde(default = "yes")]
    pub wait_for_debugger: bool,
    /// Seconds to wait for the debugger before giving up with a diagnosis.
    #[serde(default = "default_timeout", deserialize_with = "lenient::seconds")]
    #[schemars(range(min = 0, max = 86400))]
    pub timeout: f64,
    /// Environment variables added to the container's.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Replaces the image's command (`CMD`).
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Replaces the image's entrypoint.
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    /// Start the container with a read-only root filesystem (Docker's
    /// `--read-only`); dockdap's own files then go to a volume of their own.
    #[serde(default)]
    pub readonly_rootfs: bool,
    /// Container folders to mount a fresh tmpfs on (Docker's `--tmpfs`),
    /// e.g. `/tmp` for an app that writes temporary files on a read-only root.
    #[serde(default)]
    pub tmpfs: Vec<String>,
    /// Leave the container running after the session.
    #[serde(default)]
    pub keep_container: bool,
    /// Snapshot the container (`docker commit`) when the session ends.
    #[serde(default)]
    pub commit_on_exit: bool,
    /// Snapshot the container before a DAP `restart`, and restart from the snapshot.
    #[serde(default)]
    pub commit_on_restart: bool,
    /// After a workspace save reaches the container, reload the app in place
    /// (as `dockdap/reload`): a graceful worker restart, the debugger
    /// attached to the new worker before `init()`.
    #[serde(default)]
    pub reload_on_save: bool,
    /// When the debuggee's process goes away and the container runs on (a
    /// reload, a worker recycled by the server) or starts again (`docker
    /// restart`), attach to the new process and say so, instead of ending
    /// the session; false: end it.
    #[serde(default = "yes")]
    pub reattach: bool,
    /// Which directions files are synced in.
    #[serde(default)]
    pub sync: SyncSettings,
    /// Set TCP_NODELAY on debugpy's sockets inside the container (removes a
    /// ~44 ms stall per request).
    #[serde(default = "yes")]
    pub tune_debugger: bool,
    /// When debugpy stops, ask it at once for what the editor asked after its
    /// previous stop (threads, stack, scopes, variables) and answer the
    /// editor's identical requests from that; false: forward every request.
    #[serde(default = "yes")]
    pub prefetch: bool,
    /// `debugger: "inject"`/`"azureml"`: the debugpy package folder to copy into
    /// the container; default: DOCKDAP_DEBUGPY, else the one this machine's python3 imports.
    #[serde(default)]
    pub debugpy_path: Option<String>,
}

impl LaunchArguments {
    /// `readonlyRootfs` with `appRoot` on the read-only root (not under a `tmpfs`).
    fn app_root_is_read_only(&self) -> bool {
        let under = |dir: &str| {
            let dir = dir.trim_end_matches('/');
            self.paths.app_root == dir || self.paths.app_root.starts_with(&format!("{dir}/"))
        };
        self.readonly_rootfs && !self.tmpfs.iter().any(|t| under(t))
    }
}

/// `"request": "attach"`: join a running container, or a debugpy at an address.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "dockdap attach configuration")]
pub struct AttachArguments {
    /// Name or id of a running container whose debugpy to attach to.
    #[serde(default)]
    pub container: Option<String>,
    /// The address of a debugpy that is not in a container dockdap can see.
    #[serde(default)]
    pub connect: Option<ConnectArguments>,
    /// A service of a running Compose project whose debugpy to attach to.
    #[serde(default)]
    pub compose: Option<ComposeArguments>,
    /// A running pod's container, reached through the Kubernetes API server.
    #[serde(default)]
    pub kubernetes: Option<KubernetesTarget>,
    /// Where the app's files are, in the container and on this machine.
    #[serde(flatten)]
    pub paths: PathArguments,
    /// The debugger's port inside the container.
    #[serde(default = "default_debug_port", deserialize_with = "lenient::port")]
    #[schemars(range(min = 1))]
    pub debug_port: u16,
    /// How dockdap reaches debugpy.
    #[serde(default)]
    pub transport: TransportMode,
    /// Seconds to wait for the debugger before giving up.
    #[serde(default = "default_timeout", deserialize_with = "lenient::seconds")]
    #[schemars(range(min = 0, max = 86400))]
    pub timeout: f64,
    /// Which directions files are synced in.
    #[serde(default)]
    pub sync: SyncSettings,
    /// When debugpy stops, ask it at once for what the editor asked after its
    /// previous stop (threads, stack, scopes, variables) and answer the
    /// editor's identical requests from that; false: forward every request.
    #[serde(default = "yes")]
    pub prefetch: bool,
    /// When the debuggee's process goes away and the container runs on (a
    /// reload, a worker recycled by the server) or starts again (`docker
    /// restart`), attach to the new process and say so, instead of ending
    /// the session; false: end it.
    #[serde(default = "yes")]
    pub reattach: bool,
}

/// Where the app's files are, in both places.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PathArguments {
    /// The app's folder inside the container.
    #[serde(default = "default_app_root")]
    pub app_root: String,
    /// The same folder on this machine; default: the workspace folder, else the adapter's working directory.
    #[serde(default)]
    pub local_root: Option<String>,
    /// More `{localRoot, remoteRoot}` pairs; the longest matching prefix wins.
    #[serde(default)]
    pub path_mappings: Vec<PathMappingArgument>,
}

/// One extra mapping.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PathMappingArgument {
    /// A folder on this machine.
    pub local_root: String,
    /// The same folder in the container.
    pub remote_root: String,
}

/// Where a debugpy listens.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectArguments {
    /// Host name or address.
    #[serde(default = "default_host")]
    pub host: String,
    /// TCP port.
    #[serde(deserialize_with = "lenient::port")]
    #[schemars(range(min = 1))]
    pub port: u16,
}

/// One service of a Compose project.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ComposeArguments {
    /// Compose files, in order (`-f`), relative to `localRoot`; default: the
    /// Compose tool's own lookup from `localRoot` (`compose.yaml`,
    /// `docker-compose.yml`, ... and their `.override` file, in that folder or above).
    #[serde(default)]
    pub file: Vec<String>,
    /// The service to debug.
    pub service: String,
    /// The project name (`-p`); default: the Compose tool's (the folder of the first file).
    #[serde(default)]
    pub project: Option<String>,
    /// Profiles to enable (`--profile`).
    #[serde(default)]
    pub profiles: Vec<String>,
    /// Which replica of the service (its `com.docker.compose.container-number`).
    #[serde(default = "one", deserialize_with = "lenient::replica")]
    #[schemars(range(min = 1, max = 65535))]
    pub index: u16,
    /// `launch` only: more services of the project to make debuggable, each
    /// debugged in a child session of its own (`startDebugging`) with this
    /// configuration's paths; an editor without child sessions gets the
    /// `attach` configuration for each in the debug console.
    #[serde(default)]
    pub also_debug: Vec<String>,
}

/// How debugpy is started in the container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DebuggerMode {
    /// Detect from the image.
    #[default]
    Auto,
    /// The image starts debugpy itself.
    Image,
    /// dockdap adds debugpy and wraps the command.
    Inject,
    /// The Azure ML inference server's `AZUREML_DEBUG_PORT` hook.
    Azureml,
}

/// How dockdap reaches debugpy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TransportMode {
    /// Pick the best available.
    #[default]
    Auto,
    /// A debug port published on 127.0.0.1.
    Port,
    /// DAP through the Docker API; no port published.
    Exec,
}

/// One direction of file sync.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// Continuously (workspace saves within ~0.2 s, container edits within
    /// ~0.5 s), and also on demand, when the debuggee stops and at the end.
    #[default]
    Auto,
    /// Only on demand (`dockdap/sync`), when the debuggee stops and at the
    /// end of the session.
    Manual,
    /// Never sync in this direction.
    Off,
}

/// What sync does with a file deleted on one side (the container or the workspace).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeletionMode {
    /// Remove it from the other side too, when that side still holds what
    /// both last agreed on (else it is a conflict that keeps both).
    #[default]
    Copy,
    /// Only say so in the debug console; the other side keeps its copy.
    Report,
}

/// File sync directions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncSettings {
    /// Container edits come back into the workspace.
    #[serde(default)]
    pub from_container: SyncMode,
    /// Workspace edits go into the container.
    #[serde(default)]
    pub to_container: SyncMode,
    /// Sync even a `localRoot` that is a file system root, the home folder
    /// or holds more than 20000 files and folders, or an `appRoot` of `/`;
    /// such launches are refused otherwise.
    #[serde(default)]
    pub allow_any_folder: bool,
    /// A file deleted on one side: `"copy"` removes it from the other too
    /// (only when that side still holds what both last agreed on; else a
    /// conflict that keeps both), `"report"` only says so.
    #[serde(default)]
    pub deletions: DeletionMode,
}

fn default_ports() -> Vec<String> {
    vec!["8000:5001".to_owned()]
}
fn default_debug_port() -> u16 {
    DEFAULT_DEBUG_PORT
}
fn default_app_root() -> String {
    DEFAULT_APP_ROOT.to_owned()
}
fn default_timeout() -> f64 {
    DEFAULT_TIMEOUT_SECS
}
fn default_host() -> String {
    "127.0.0.1".to_owned()
}
fn yes() -> bool {
    true
}
fn one() -> u16 {
    1
}

/// A configuration that cannot be used, with what to change.
#[derive(Debug, thiserror::Error)]
#[error("invalid {request} configuration: {message}")]
pub struct ConfigError {
    /// `launch` or `attach`.
    pub request: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// What the client asked for, parsed.
#[derive(Debug, Clone)]
pub enum Request {
    /// Start a container.
    Launch(LaunchArguments),
    /// Join a container or an address.
    Attach(AttachArguments),
}

/// A parsed configuration plus the attributes that belong to debugpy.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// dockdap's own attributes.
    pub request: Request,
    /// Everything else, in the client's order, for debugpy.
    pub for_debugpy: Map<String, Value>,
    /// Lines for the debug console about what was accepted but looks wrong
    /// (an attribute that looks like a misspelt dockdap one).
    pub notes: Vec<String>,
}

impl SessionConfig {
    /// Parses the arguments of a `launch` (`is_launch`) or `attach` request.
    pub fn parse(is_launch: bool, arguments: &Value) -> Result<SessionConfig, ConfigError> {
        let request_name = if is_launch { "launch" } else { "attach" };
        let fail = |message: String| ConfigError { request: request_name, message };
        let Some(map) = arguments.as_object() else {
            return Err(fail("the arguments must be a JSON object".into()));
        };
        let owned = owned_attributes(is_launch);
        let schema = if is_launch { schema_of::<LaunchArguments>() } else { schema_of::<AttachArguments>() };
        check::against_schema(map, &schema).map_err(fail)?;
        if is_launch {
            targets::launch_target(map).map_err(fail)?;
        }
        let request = if is_launch {
            let args: LaunchArguments = serde_json::from_value(arguments.clone()).map_err(|e| fail(explain(&e)))?;
            Request::Launch(args)
        } else {
            let args: AttachArguments = serde_json::from_value(arguments.clone()).map_err(|e| fail(explain(&e)))?;
            targets::attach_target(&args).map_err(fail)?;
            Request::Attach(args)
        };
        check::meanings(&request).map_err(fail)?;
        let notes = check::likely_typos(map, &owned);
        let for_debugpy =
            map.iter().filter(|(k, _)| !owned.iter().any(|o| o == *k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        Ok(SessionConfig { request, for_debugpy, notes })
    }

    /// The path arguments, whichever the request.
    pub fn paths(&self) -> &PathArguments {
        match &self.request {
            Request::Launch(a) => &a.paths,
            Request::Attach(a) => &a.paths,
        }
    }

    /// The file sync directions. Workspace edits cannot go into an `appRoot`
    /// on a read-only root filesystem (one not under a `tmpfs`): that
    /// direction is off there, and [`SessionConfig::sync_note`] says why.
    pub fn sync(&self) -> SyncSettings {
        match &self.request {
            Request::Launch(a) if a.app_root_is_read_only() => SyncSettings { to_container: SyncMode::Off, ..a.sync },
            Request::Launch(a) => a.sync,
            Request::Attach(a) => a.sync,
        }
    }

    /// Whether to fetch the step cycle ahead of the editor (`session::prefetch`).
    pub fn prefetch(&self) -> bool {
        match &self.request {
            Request::Launch(a) => a.prefetch,
            Request::Attach(a) => a.prefetch,
        }
    }

    /// A line for the debug console when a sync direction the user asked
    /// for cannot be had.
    pub fn sync_note(&self) -> Option<String> {
        match &self.request {
            Request::Launch(a) if a.app_root_is_read_only() && a.sync.to_container != SyncMode::Off => Some(format!(
                "[dockdap] workspace edits are not copied into the container: `appRoot` {} is on its read-only root filesystem (`readonlyRootfs`); container edits still come back",
                a.paths.app_root
            )),
            _ => None,
        }
    }

    /// Whether to re-attach when the debuggee's process is replaced.
    pub fn reattach(&self) -> bool {
        match &self.request {
            Request::Launch(a) => a.reattach,
            Request::Attach(a) => a.reattach && a.connect.is_none(),
        }
    }

    /// Whether a workspace save reloads the app (`reloadOnSave`).
    pub fn reload_on_save(&self) -> bool {
        matches!(&self.request, Request::Launch(a) if a.reload_on_save)
    }

    /// Whether to snapshot the container when the session ends.
    pub fn commit_on_exit(&self) -> bool {
        matches!(&self.request, Request::Launch(a) if a.commit_on_exit)
    }

    /// Seconds to wait for the debugger.
    pub fn timeout(&self) -> f64 {
        match &self.request {
            Request::Launch(a) => a.timeout,
            Request::Attach(a) => a.timeout,
        }
    }
}

impl PathArguments {
    /// The folder on this machine that `appRoot` maps to: `localRoot` with
    /// `${workspaceFolder}` substituted, else `workspace`.
    pub fn local_root_on(&self, workspace: &Path) -> String {
        let workspace = workspace.to_string_lossy();
        match self.local_root.as_deref() {
            Some(root) => root.replace("${workspaceFolder}", &workspace),
            None => workspace.into_owned(),
        }
    }

    /// The path map: `localRoot` <-> `appRoot` plus the extra mappings.
    /// `workspace` stands in for an absent `localRoot` and for a literal
    /// `${workspaceFolder}` an editor did not substitute.
    pub fn path_map(&self, workspace: &Path) -> PathMap {
        let workspace = workspace.to_string_lossy();
        let substitute = |s: &str| s.replace("${workspaceFolder}", &workspace);
        let local_root = self.local_root.as_deref().map(substitute).unwrap_or_else(|| workspace.to_string());
        let mut mappings = vec![Mapping { host: local_root, container: self.app_root.clone() }];
        mappings.extend(
            self.path_mappings
                .iter()
                .map(|m| Mapping { host: substitute(&m.local_root), container: m.remote_root.clone() }),
        );
        PathMap::new(mappings)
    }
}

/// Parses `"8000:5001"` (or `"5001"`, same port on both sides) into
/// (host port, container port). Host port 0 lets Docker choose.
pub fn parse_port_pair(pair: &str) -> Result<(u16, u16), String> {
    let example = "e.g. \"8000:5001\" (host port 0 lets Docker choose)";
    if pair.matches(':').count() > 1 {
        return Err(format!(
            "{pair:?} is not of the form \"HOST:CONTAINER\" (e.g. \"8000:5001\"); ports are published on 127.0.0.1 only, so leave the address out"
        ));
    }
    if let Some((bare, protocol)) = pair.rsplit_once('/') {
        return Err(format!(
            "{pair:?} names a protocol: only TCP is published, so write {bare:?} without \"/{protocol}\""
        ));
    }
    let (host, container) = pair.split_once(':').unwrap_or((pair, pair));
    let number = |side: &str, text: &str, min: u32| -> Result<u16, String> {
        let text = text.trim();
        match text.parse::<u32>().ok().map(|n| (n, u16::try_from(n))) {
            Some((n, Ok(port))) if n >= min => Ok(port),
            Some((n, _)) => Err(format!(
                "{pair:?}: {side} port {n} is out of range ({min} to 65535); write \"HOST:CONTAINER\", {example}"
            )),
            None => {
                Err(format!("{pair:?}: {side} port {text:?} is not a port number; write \"HOST:CONTAINER\", {example}"))
            }
        }
    };
    let host = number("host", host, 0)?;
    let container = number("container", container, 1)?;
    Ok((host, container))
}

/// Turns serde's message into one that says what to write.
fn explain(e: &serde_json::Error) -> String {
    let text = e.to_string();
    if text.contains("missing field `image`") {
        return "`image` is required: the image to debug, e.g. \"debug:1\" (build the example with `dockdap demo`)"
            .into();
    }
    // serde_json appends " at line 1 column N", which means nothing to a user
    // whose configuration was a launch.json object.
    match text.find(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// The JSON schemas of both requests, as `dockdap schema` prints them:
/// `{"launch": SCHEMA, "attach": SCHEMA}`, each a self-contained JSON Schema
/// draft-07 object with every subschema inlined (no `$ref`, no
/// `definitions`). That is the dialect and shape editors consume: VS Code's
/// `configurationAttributes.launch` is this schema's `required` and
/// `properties` (checked by `tests/editors.rs`).
pub fn schema() -> Value {
    serde_json::json!({
        "launch": schema_of::<LaunchArguments>(),
        "attach": schema_of::<AttachArguments>(),
    })
}

/// One request's schema: draft-07, subschemas inlined.
fn schema_of<T: JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::draft07().with(|s| s.inline_subschemas = true).into_generator();
    generator.into_root_schema_for::<T>().to_value()
}

/// The attributes dockdap reads itself (never forwarded to debugpy), read off
/// the schema so the two cannot disagree. `connect` and `pathMappings` are
/// among them: debugpy must not map paths a second time.
pub fn owned_attributes(is_launch: bool) -> Vec<String> {
    let schema = if is_launch { schema_of::<LaunchArguments>() } else { schema_of::<AttachArguments>() };
    let mut names: Vec<String> =
        schema.get("properties").and_then(Value::as_object).map(|p| p.keys().cloned().collect()).unwrap_or_default();
    // Both requests own all path attributes, whichever the schema lists.
    for extra in ["appRoot", "localRoot", "pathMappings", "connect", "container", "kubernetes"] {
        if !names.iter().any(|n| n == extra) {
            names.push(extra.to_owned());
        }
    }
    names
}

#[cfg(test)]
mod tests;
