//! What a launched container is made of: its name, its configuration
//! (labels, ports on 127.0.0.1 only, the debugger's environment), and the
//! facts about its image that decide how debugpy gets in.
//!
//! Pure: this module builds values and calls no engine.

use std::collections::HashMap;
use std::net::SocketAddr;

use bollard::models::{
    ContainerCreateBody, HostConfig, Mount, MountType, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};

use super::engine::ContainerError;
use crate::config::{DebuggerMode, LaunchArguments, TransportMode, parse_port_pair};
use crate::runtime::{ServicePort, inject, labels, tune};

/// `dockdap-<image>-<session>`: recognisable in `docker ps`, unique per session.
pub(super) fn generated_name(image: &str, session_id: &str) -> String {
    let base: String = image
        .rsplit('/')
        .next()
        .unwrap_or(image)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .collect();
    format!("dockdap-{base}-{session_id}")
}

/// The container's configuration: labels, ports on 127.0.0.1 only, no
/// privileges, no restarts (a paused debuggee must not be restarted).
pub(super) fn create_body(
    args: &LaunchArguments,
    session_id: &str,
    facts: &inject::ImageFacts,
    plan: &Plan,
) -> Result<ContainerCreateBody, ContainerError> {
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    let loopback =
        |host_port: String| Some(vec![PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(host_port) }]);
    if plan.transport == TransportMode::Port {
        bindings.insert(format!("{}/tcp", args.debug_port), loopback(String::new()));
    }
    for pair in &args.ports {
        let (host, container) = parse_port_pair(pair).map_err(ContainerError::Unusable)?;
        if container == args.debug_port {
            return Err(ContainerError::Unusable(format!(
                "port {pair:?} publishes the debug port; dockdap publishes it itself on a free port of 127.0.0.1: remove it from `ports`"
            )));
        }
        // A remote engine's ports are forwarded here through the API
        // (`forward`); on the remote host they are published on its
        // loopback, on any free port, only so that a later `attach` finds them.
        let host = if host == 0 || plan.forward { String::new() } else { host.to_string() };
        bindings.insert(format!("{container}/tcp"), loopback(host));
    }
    let env = environment(args, facts, plan);
    Ok(ContainerCreateBody {
        image: Some(args.image.clone()),
        cmd: args.command.clone(),
        entrypoint: args.entrypoint.clone(),
        env: (!env.is_empty()).then_some(env),
        labels: Some(labels::launch_labels(session_id, &args.image, args.keep_container)),
        exposed_ports: Some(bindings.keys().cloned().collect()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(false),
        host_config: Some(HostConfig {
            port_bindings: Some(bindings),
            privileged: Some(false),
            auto_remove: Some(false),
            restart_policy: Some(RestartPolicy { name: Some(RestartPolicyNameEnum::NO), maximum_retry_count: None }),
            readonly_rootfs: args.readonly_rootfs.then_some(true),
            tmpfs: (!args.tmpfs.is_empty()).then(|| args.tmpfs.iter().map(|p| (p.clone(), String::new())).collect()),
            mounts: (plan.bootstrap_root(args) == inject::DOCKDAP_DIR).then(|| {
                // Anonymous: removed with the container (`v: true`).
                vec![Mount {
                    target: Some(inject::DOCKDAP_DIR.into()),
                    typ: Some(MountType::VOLUME),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// The environment dockdap adds for the debugger: `env`, the debugger
/// mode's variables, and `PYTHONPATH` with the bootstrap (and debugpy) in
/// front of the one the image or `env` sets.
pub(super) fn environment(args: &LaunchArguments, facts: &inject::ImageFacts, plan: &Plan) -> Vec<String> {
    let mut env: Vec<String> = args.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if !args.wait_for_debugger {
        // Understood by the debug entry of dockdap's example images.
        env.push("DOCKDAP_WAIT_FOR_CLIENT=0".into());
    }
    env.extend(inject::environment(args, plan.mode, facts));
    if plan.needs_bootstrap(args) {
        if !args.tune_debugger {
            env.push("DOCKDAP_TUNE_DEBUGGER=0".into());
        }
        let existing = args
            .env
            .get("PYTHONPATH")
            .map(String::as_str)
            .or_else(|| facts.env.iter().find_map(|e| e.strip_prefix("PYTHONPATH=")));
        let existing = match (&plan.debugpy, existing) {
            (Some(_), Some(p)) if !p.is_empty() => Some(format!("{}:{p}", inject::PYTHON_DIR)),
            (Some(_), _) => Some(inject::PYTHON_DIR.to_owned()),
            (None, p) => p.map(str::to_owned),
        };
        env.retain(|e| !e.starts_with("PYTHONPATH="));
        env.push(format!("PYTHONPATH={}", tune::pythonpath(existing.as_deref())));
    }
    env
}

/// What a launch decided: the debugger mode, the transport, and the debugpy
/// package to copy in (inject and azureml modes).
#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub mode: DebuggerMode,
    pub transport: TransportMode,
    pub debugpy: Option<std::path::PathBuf>,
    /// The engine is remote: service ports are forwarded to this machine
    /// through the API (`forward`), not published.
    pub forward: bool,
}

impl Plan {
    /// The bootstrap goes in for tuning, and to start or gate debugpy.
    pub fn needs_bootstrap(&self, args: &LaunchArguments) -> bool {
        args.tune_debugger || self.debugpy.is_some()
    }

    /// Where the bootstrap's archive is extracted: `/`, or on a read-only
    /// root filesystem a volume at `inject::DOCKDAP_DIR` (the archive API
    /// writes into a created container's volumes, not into a tmpfs, which
    /// exists only once it runs).
    pub fn bootstrap_root(&self, args: &LaunchArguments) -> &'static str {
        if args.readonly_rootfs && self.needs_bootstrap(args) { inject::DOCKDAP_DIR } else { "/" }
    }

    /// `PYTHONPATH` for processes dockdap runs in the container: the copied debugpy.
    pub fn pythonpath(&self) -> Option<String> {
        self.debugpy.is_some().then(|| format!("{}:{}", tune::TUNE_DIR, inject::PYTHON_DIR))
    }
}

/// The image's command, environment, exposed ports and labels.
pub(super) fn image_facts(image: &bollard::models::ImageInspect, args: &LaunchArguments) -> inject::ImageFacts {
    let config = image.config.clone().unwrap_or_default();
    let mut command = args.entrypoint.clone().or(config.entrypoint).unwrap_or_default();
    command.extend(args.command.clone().or(config.cmd).unwrap_or_default());
    let mut env = config.env.unwrap_or_default();
    env.extend(args.env.iter().map(|(k, v)| format!("{k}={v}")));
    inject::ImageFacts {
        command,
        env,
        exposed: config.exposed_ports.unwrap_or_default(),
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        ..Default::default()
    }
}

/// The attribute value of a debugger mode.
pub(super) fn mode_name(mode: DebuggerMode) -> &'static str {
    match mode {
        DebuggerMode::Auto => "auto",
        DebuggerMode::Image => "image",
        DebuggerMode::Inject => "inject",
        DebuggerMode::Azureml => "azureml",
    }
}

/// (container port, host port) pairs from inspect's port map.
pub(super) fn published_ports(map: HashMap<String, Option<Vec<PortBinding>>>) -> Vec<(u16, u16)> {
    let mut ports: Vec<(u16, u16)> = map
        .into_iter()
        .filter_map(|(key, bindings)| {
            let container: u16 = key.split('/').next()?.parse().ok()?;
            let host: u16 = bindings?.iter().find_map(|b| b.host_port.as_deref()?.parse().ok())?;
            Some((container, host))
        })
        .collect();
    ports.sort_unstable();
    ports
}

/// The service ports asked for in `ports`, as (host, container) pairs.
pub(super) fn asked_ports(args: &LaunchArguments) -> Result<Vec<(u16, u16)>, ContainerError> {
    args.ports.iter().map(|pair| parse_port_pair(pair).map_err(ContainerError::Unusable)).collect()
}

/// The service ports among published `(container, host)` pairs: all but the debug port.
pub(super) fn service_ports(published: &[(u16, u16)], debug_port: u16) -> Vec<ServicePort> {
    published
        .iter()
        .filter(|(c, _)| *c != debug_port)
        .map(|&(container, host)| ServicePort { container, address: SocketAddr::from(([127, 0, 0, 1], host)) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_docker_safe() {
        assert_eq!(generated_name("registry.io/team/debug:1", "ab12"), "dockdap-debug-1-ab12");
    }

    #[test]
    fn every_port_is_on_loopback() {
        let args: LaunchArguments =
            serde_json::from_value(serde_json::json!({"image": "x", "ports": ["8000:5001", "0:9000"]})).unwrap();
        let plan = Plan { mode: DebuggerMode::Image, transport: TransportMode::Port, debugpy: None, forward: false };
        let body = create_body(&args, "s", &inject::ImageFacts::default(), &plan).unwrap();
        let bindings = body.host_config.unwrap().port_bindings.unwrap();
        assert_eq!(bindings.len(), 3);
        for (port, list) in &bindings {
            for b in list.as_ref().unwrap() {
                assert_eq!(b.host_ip.as_deref(), Some("127.0.0.1"), "{port}");
            }
        }
        assert_eq!(bindings["5678/tcp"].as_ref().unwrap()[0].host_port.as_deref(), Some(""));
        assert_eq!(bindings["5001/tcp"].as_ref().unwrap()[0].host_port.as_deref(), Some("8000"));
        assert_eq!(bindings["9000/tcp"].as_ref().unwrap()[0].host_port.as_deref(), Some(""));
        let labels = body.labels.unwrap();
        assert_eq!(labels["dockdap.session"], "s");
        assert_eq!(labels["dockdap.image"], "x");
    }

    #[test]
    fn a_read_only_root_gets_a_volume_for_the_bootstrap() {
        let args: LaunchArguments = serde_json::from_value(
            serde_json::json!({"image": "x", "readonlyRootfs": true, "tmpfs": ["/tmp"], "ports": []}),
        )
        .unwrap();
        let plan = Plan {
            mode: DebuggerMode::Inject,
            transport: TransportMode::Exec,
            debugpy: Some("/d".into()),
            forward: false,
        };
        assert_eq!(plan.bootstrap_root(&args), inject::DOCKDAP_DIR);
        let host = create_body(&args, "s", &inject::ImageFacts::default(), &plan).unwrap().host_config.unwrap();
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.tmpfs.unwrap()["/tmp"], "");
        let mounts = host.mounts.unwrap();
        assert_eq!(mounts[0].target.as_deref(), Some(inject::DOCKDAP_DIR));
        assert_eq!(mounts[0].typ, Some(MountType::VOLUME));
        assert!(mounts[0].source.is_none(), "anonymous, so removed with the container");
        // A writable root needs no volume.
        let args: LaunchArguments = serde_json::from_value(serde_json::json!({"image": "x"})).unwrap();
        assert_eq!(plan.bootstrap_root(&args), "/");
        let host = create_body(&args, "s", &inject::ImageFacts::default(), &plan).unwrap().host_config.unwrap();
        assert!(host.mounts.is_none() && host.readonly_rootfs.is_none() && host.tmpfs.is_none());
    }

    #[test]
    fn forwarded_ports_take_any_port_of_the_remote_loopback() {
        let args: LaunchArguments =
            serde_json::from_value(serde_json::json!({"image": "x", "ports": ["8000:5001", "0:9000"]})).unwrap();
        let plan = Plan { mode: DebuggerMode::Image, transport: TransportMode::Exec, debugpy: None, forward: true };
        let body = create_body(&args, "s", &inject::ImageFacts::default(), &plan).unwrap();
        let bindings = body.host_config.unwrap().port_bindings.unwrap();
        assert_eq!(bindings.len(), 2);
        for list in bindings.values() {
            let binding = &list.as_ref().unwrap()[0];
            assert_eq!(binding.host_ip.as_deref(), Some("127.0.0.1"));
            assert_eq!(binding.host_port.as_deref(), Some(""), "the host port asked for is this machine's");
        }
        assert_eq!(asked_ports(&args).unwrap(), [(8000, 5001), (0, 9000)]);
    }

    #[test]
    fn debug_port_cannot_be_published_by_hand() {
        let args: LaunchArguments =
            serde_json::from_value(serde_json::json!({"image": "x", "ports": ["5678:5678"]})).unwrap();
        let plan = Plan { mode: DebuggerMode::Image, transport: TransportMode::Port, debugpy: None, forward: false };
        let facts = inject::ImageFacts::default();
        assert!(create_body(&args, "s", &facts, &plan).unwrap_err().to_string().contains("publishes the debug port"));
    }
}
