//! Labels on everything dockdap creates, and removing what dead dockdap
//! processes left behind.
//!
//! A container carries the session id, the owning process's pid and host
//! name, and the image. A later dockdap (any session start, or `dockdap
//! reap`) removes labelled containers whose owner is no longer alive on this
//! host. Nothing without dockdap's labels is ever touched, and containers
//! owned by another host's dockdap are left alone: a pid means nothing there.

use std::collections::HashMap;

use bollard::query_parameters::{ListContainersOptions, RemoveContainerOptions};

use super::engine::{ContainerError, Engine, Subject};
use super::{LABEL_HOST, LABEL_IMAGE, LABEL_KEEP, LABEL_PID, LABEL_SESSION};

/// A short random id for a session, used in labels and container names.
pub fn new_session_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("{:08x}", hasher.finish() as u32)
}

/// The labels for a container this process creates.
pub fn labels(session_id: &str, image: &str) -> HashMap<String, String> {
    HashMap::from([
        (LABEL_SESSION.to_owned(), session_id.to_owned()),
        (LABEL_PID.to_owned(), std::process::id().to_string()),
        (LABEL_HOST.to_owned(), host_name()),
        (LABEL_IMAGE.to_owned(), image.to_owned()),
    ])
}

/// The labels for a debug container this process launches. One to be kept
/// (`keepContainer`, `dockdap up`) has no owner process to outlive: it is
/// marked `dockdap.keep`, and its `dockdap.pid` is `kept` (not a pid, so
/// reaping by older dockdap versions leaves it alone as well).
pub fn launch_labels(session_id: &str, image: &str, keep: bool) -> HashMap<String, String> {
    let mut labels = labels(session_id, image);
    if keep {
        labels.insert(LABEL_KEEP.to_owned(), "true".to_owned());
        labels.insert(LABEL_PID.to_owned(), "kept".to_owned());
    }
    labels
}

/// This machine's host name, as the kernel reports it.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Whether the dockdap that owns a container with these labels may still be
/// running. Unknown means alive: we never remove what we are unsure about.
/// A container marked to be kept (`keepContainer`, `dockdap up`) counts as
/// alive: it was left running on purpose.
pub fn owner_alive(labels: &HashMap<String, String>) -> bool {
    if labels.contains_key(LABEL_KEEP) {
        return true;
    }
    if labels.get(LABEL_HOST).map(String::as_str) != Some(host_name().as_str()) {
        return true;
    }
    let Some(pid) = labels.get(LABEL_PID).and_then(|p| p.parse::<u32>().ok()) else {
        return true;
    };
    if pid == std::process::id() {
        return true;
    }
    if !std::path::Path::new("/proc/self").exists() {
        // No procfs (macOS): no reliable way to tell.
        return true;
    }
    std::path::Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes every dockdap-labelled container whose owner is dead; returns their names.
pub async fn reap(engine: &Engine) -> Result<Vec<String>, ContainerError> {
    let filters = HashMap::from([("label".to_owned(), vec![LABEL_SESSION.to_owned()])]);
    let containers = engine
        .docker
        .list_containers(Some(ListContainersOptions { all: true, filters: Some(filters), ..Default::default() }))
        .await
        .map_err(|e| engine.error(e, Subject::Engine))?;
    let mut removed = Vec::new();
    for container in containers {
        let labels = container.labels.unwrap_or_default();
        if !labels.contains_key(LABEL_SESSION) || owner_alive(&labels) {
            continue;
        }
        let Some(id) = container.id else { continue };
        let name = container
            .names
            .and_then(|n| n.into_iter().next())
            .map(|n| n.trim_start_matches('/').to_owned())
            .unwrap_or_else(|| id.clone());
        let options = RemoveContainerOptions { force: true, v: true, ..Default::default() };
        match engine.docker.remove_container(&id, Some(options)).await {
            Ok(()) => {
                tracing::info!(%name, "removed a container left behind by a dead dockdap");
                removed.push(name);
            }
            Err(e) => tracing::warn!(%name, error = %e, "could not remove a leftover container"),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dead_local_owners_are_reaped() {
        let mut labels = labels("s", "img");
        assert!(owner_alive(&labels), "our own containers are alive");
        // A pid that cannot exist (above pid_max).
        labels.insert(LABEL_PID.into(), "4194305".into());
        assert!(!owner_alive(&labels));
        labels.insert(LABEL_HOST.into(), "another-machine".into());
        assert!(owner_alive(&labels), "other hosts' containers are never touched");
        labels.insert(LABEL_HOST.into(), host_name());
        labels.insert(LABEL_PID.into(), "not-a-pid".into());
        assert!(owner_alive(&labels));
        labels.insert(LABEL_PID.into(), "4194305".into());
        labels.insert(LABEL_KEEP.into(), "true".into());
        assert!(owner_alive(&labels), "kept containers are left running on purpose");
        let kept = launch_labels("s", "img", true);
        assert_eq!(kept[LABEL_PID], "kept");
        labels.remove(LABEL_KEEP);
        labels.insert(LABEL_PID.into(), "kept".into());
        assert!(owner_alive(&labels), "and so are they by dockdap versions that do not know dockdap.keep");
    }
}
