//! What a configuration names as its target: a launch's image, Compose
//! service or pod to copy, an attach's container, Compose service, address
//! or pod; one of each, and the Compose and Kubernetes settings a tool or
//! cluster would refuse, checked before anything is started.

use serde_json::{Map, Value};

use super::check::{missing, paths};
use super::{AttachArguments, ComposeArguments, LaunchArguments};

/// A launch names what to run: an `image`, a Compose service or a pod to copy; one of them.
pub(super) fn launch_target(args: &Map<String, Value>) -> Result<(), String> {
    if args.contains_key("compose") && args.contains_key("kubernetes") {
        return Err(
            "`compose` and `kubernetes` exclude each other: a launch debugs a Compose service or a copy of a pod; keep one, e.g. \"compose\": {\"service\": \"scoring\"}".into(),
        );
    }
    match (args.contains_key("image"), args.contains_key("compose")) {
        (false, false) if args.contains_key("kubernetes") => Ok(()),
        (false, false) => Err(missing("image", args)),
        (true, true) => Err(
            "`image` and `compose` exclude each other: with `compose` the image is the service's, from the Compose file; remove `image`, e.g. \"compose\": {\"service\": \"scoring\"}".into(),
        ),
        _ => Ok(()),
    }
}

/// An attach names one thing to join: a container, a Compose service, an address or a pod.
pub(super) fn attach_target(args: &AttachArguments) -> Result<(), String> {
    let named: Vec<&str> = [
        args.container.as_ref().map(|_| "container"),
        args.compose.as_ref().map(|_| "compose"),
        args.connect.as_ref().map(|_| "connect"),
        args.kubernetes.as_ref().map(|_| "kubernetes"),
    ]
    .into_iter()
    .flatten()
    .collect();
    match named.as_slice() {
        [] => Err(
            "`container`, `compose`, `connect` or `kubernetes` says what to attach to: a running container's name or id, e.g. \"container\": \"score-debug\", a running Compose service, e.g. \"compose\": {\"service\": \"scoring\"}, a debugpy's address, e.g. \"connect\": {\"host\": \"127.0.0.1\", \"port\": 5678}, or a pod, e.g. \"kubernetes\": {\"pod\": \"score-7d4f9\"}".into(),
        ),
        [_] => Ok(()),
        [first, second, ..] => {
            let keep = match *first {
                "container" => format!("\"container\": {:?}", args.container.as_deref().unwrap_or_default()),
                "connect" => "\"connect\": {\"host\": \"127.0.0.1\", \"port\": 5678}".to_owned(),
                _ => format!("\"compose\": {{\"service\": {:?}}}", args.compose.as_ref().map(|c| c.service.as_str()).unwrap_or_default()),
            };
            Err(format!("`{first}` and `{second}` exclude each other: keep one, e.g. {keep}"))
        }
    }
}

/// A service and project name the Compose tool accepts, and files that are named.
pub(super) fn compose_service(compose: &ComposeArguments) -> Result<(), String> {
    if compose.service.trim().is_empty() {
        return Err("`compose.service` is empty: name the service to debug, e.g. \"scoring\" (`docker compose config --services` lists them)".into());
    }
    if let Some(project) = &compose.project {
        let mut chars = project.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !first_ok || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-')) {
            return Err(format!(
                "`compose.project` {project:?} is not a project name Compose accepts: lowercase letters, digits, `_` and `-`, starting with a letter or digit, e.g. \"shop\""
            ));
        }
    }
    for (i, file) in compose.file.iter().enumerate() {
        if file.trim().is_empty() {
            return Err(format!("`compose.file[{i}]` is empty: name a Compose file, e.g. \"docker-compose.yml\""));
        }
    }
    for (i, profile) in compose.profiles.iter().enumerate() {
        if profile.trim().is_empty() {
            return Err(format!("`compose.profiles[{i}]` is empty: name a profile, e.g. \"debug\""));
        }
    }
    for (i, other) in compose.also_debug.iter().enumerate() {
        if other.trim().is_empty() {
            return Err(format!("`compose.alsoDebug[{i}]` is empty: name another service to debug, e.g. \"features\""));
        }
        if *other == compose.service || compose.also_debug[..i].contains(other) {
            return Err(format!(
                "`compose.alsoDebug[{i}]` {other:?} is named twice (as `service` or earlier in `alsoDebug`): name each service once, e.g. \"service\": \"scoring\", \"alsoDebug\": [\"features\"]"
            ));
        }
    }
    Ok(())
}

/// A debug copy of a pod: the pod's own image, no snapshot, DAP over exec.
pub(super) fn kubernetes_launch(args: &LaunchArguments, target: &super::KubernetesTarget) -> Result<(), String> {
    super::kubernetes::check(target)?;
    if target.selector.is_some() {
        return Err(
            "`kubernetes.selector` is for attach: a launch copies one Deployment's or pod's pod, e.g. \"kubernetes\": {\"deployment\": \"score\"}"
                .into(),
        );
    }
    let refuse = |attribute: &str, why: &str| Err(format!("`{attribute}` {why}"));
    if !args.image.is_empty() {
        return refuse(
            "image",
            "and `kubernetes` exclude each other: the debug copy runs the pod's own image; remove `image`, e.g. \"kubernetes\": {\"deployment\": \"score\"}",
        );
    }
    if args.commit_on_exit || args.commit_on_restart {
        return refuse(
            if args.commit_on_exit { "commitOnExit" } else { "commitOnRestart" },
            "cannot be used with `kubernetes`: a pod has no commit; write false, e.g. \"commitOnExit\": false (sync brings the pod's edits into the workspace)",
        );
    }
    if args.transport == super::TransportMode::Port {
        return refuse(
            "transport",
            "\"port\" cannot be used with `kubernetes`: DAP runs over an exec stream through the API server; write \"exec\", e.g. \"transport\": \"exec\"",
        );
    }
    if args.container_name.is_some() {
        return refuse(
            "containerName",
            "cannot be used with `kubernetes`: the debug copy is named after its pod; remove it, e.g. \"kubernetes\": {\"deployment\": \"score\"}",
        );
    }
    paths(&args.paths)?;
    for (i, pair) in args.ports.iter().enumerate() {
        super::parse_port_pair(pair).map_err(|e| format!("`ports[{i}]` {e}"))?;
    }
    Ok(())
}
