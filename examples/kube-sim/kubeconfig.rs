//! The kubeconfig the simulation writes: one cluster (plain HTTP on
//! 127.0.0.1), one user (a bearer token), one context, current, with the
//! `default` namespace. kubectl, client-go, kube-rs and the Python client
//! all read it as they read any kubeconfig.

use std::path::Path;

/// The first line of every kubeconfig the simulation writes; a file
/// without it is someone else's and is not overwritten.
pub const MARKER: &str = "# written by kube-sim (dockdap's Kubernetes API simulation); removed when it exits";

pub fn render(server: &str, token: &str, context: &str) -> String {
    format!(
        "{MARKER}
apiVersion: v1
kind: Config
clusters:
- name: {context}
  cluster:
    server: {server}
users:
- name: {context}-user
  user:
    token: {token}
contexts:
- name: {context}
  context:
    cluster: {context}
    user: {context}-user
    namespace: default
current-context: {context}
preferences: {{}}
"
    )
}

/// Writes the file (atomically: a temporary file renamed over it). A file
/// that is not one of ours is refused unless `force`, and then kept as
/// `FILE.kube-sim-backup`.
pub fn write(path: &Path, text: &str, force: bool) -> anyhow::Result<()> {
    if let Ok(existing) = std::fs::read_to_string(path)
        && !existing.starts_with(MARKER)
    {
        if !force {
            anyhow::bail!(
                "{} exists and was not written by kube-sim; give another --kubeconfig path, or --force to replace it (it is kept as {}.kube-sim-backup)",
                path.display(),
                path.display()
            );
        }
        std::fs::copy(path, path.with_extension("kube-sim-backup"))?;
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = path.with_extension("kube-sim-tmp");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}

/// Removes the file if it is still ours.
pub fn remove(path: &Path) {
    if std::fs::read_to_string(path).is_ok_and(|t| t.starts_with(MARKER)) {
        let _ = std::fs::remove_file(path);
    }
}
