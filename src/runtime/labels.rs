//! Labels on everything dockdap creates, whatever the runtime: the session,
//! the owning process and its host, the image; and who owns a labelled
//! object (`owner_alive`), which decides what reaping may remove.
//!
//! Names and values only: applying them and listing by them is each
//! runtime's business.

use std::collections::HashMap;

/// Label: the session that created the object.
pub const LABEL_SESSION: &str = "dockdap.session";
/// Label: the pid of the dockdap process that owns the object.
pub const LABEL_PID: &str = "dockdap.pid";
/// Label: the image the container was started from.
pub const LABEL_IMAGE: &str = "dockdap.image";
/// Label: the host name of the machine the owning dockdap runs on (a pid
/// means nothing on another machine sharing a remote engine).
pub const LABEL_HOST: &str = "dockdap.host";
/// Label: the container is meant to outlive the dockdap process that
/// started it (`keepContainer`, `dockdap up`), so reaping leaves it alone;
/// `dockdap down` removes it.
pub const LABEL_KEEP: &str = "dockdap.keep";

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

/// This machine's host name: what the kernel reports on Linux, else
/// `/etc/hostname`, `COMPUTERNAME` (Windows), `HOSTNAME`, or the `hostname`
/// command (macOS). Looked up once per process.
pub fn host_name() -> String {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let file = |path: &str| std::fs::read_to_string(path).ok();
        let command = || {
            let out = std::process::Command::new("hostname").output().ok()?;
            out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
        };
        file("/proc/sys/kernel/hostname")
            .or_else(|| file("/etc/hostname"))
            .or_else(|| std::env::var("COMPUTERNAME").ok())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .or_else(command)
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unknown".to_owned())
    })
    .clone()
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
    if !cfg!(target_os = "linux") || !std::path::Path::new("/proc/self").exists() {
        // No procfs (macOS, Windows): no reliable way to tell; the watchdog
        // removes a dead owner's containers there.
        return true;
    }
    std::path::Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dead_local_owners_are_reaped() {
        let mut labels = labels("s", "img");
        assert!(owner_alive(&labels), "our own containers are alive");
        // A pid that cannot exist (above pid_max). Without procfs (Windows,
        // macOS) no owner can be judged dead: the watchdog removes those.
        labels.insert(LABEL_PID.into(), "4194305".into());
        assert_eq!(owner_alive(&labels), !cfg!(target_os = "linux"));
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
