//! Snapshots: `docker commit` of a debug container into the next version of
//! its image (`debug:1` -> `debug:2`), labelled and described.
//!
//! Decisions (ARCHITECTURE.md has the reasons):
//!
//! - **No pause by default.** `docker commit` pauses the container unless
//!   told otherwise, which freezes debugpy mid-session: every DAP request
//!   waits until the commit is done (minutes on slow storage drivers,
//!   moby#10091). dockdap commits with `pause: false`; the caller may ask for
//!   a pause, and the session runs the commit as a task either way, so the
//!   editor is never blocked by it.
//! - **Tags.** A tag ending in digits has them incremented (`1` -> `2`,
//!   `v3` -> `v4`, `debug-1` -> `debug-2`); any other tag (`debug`, `latest`,
//!   none) becomes `2`. A tag that already exists is never moved: the number
//!   goes up until a free one is found. An image known only by id becomes
//!   `dockdap-snapshot:N`.
//! - **Labels.** `dockdap.session`, `dockdap.image` (the image the session
//!   started from), `dockdap.snapshot-of` (the image this container ran) and
//!   `dockdap.snapshot=true`. The container's `dockdap.pid`/`dockdap.host`
//!   labels are blanked in the image: inherited by a container someone runs
//!   from the snapshot, they would make it look like a dead session's
//!   leftover to `dockdap reap`.
//! - **What changed**, for the comment: the files under `appRoot` whose
//!   inode changed since the container was created, listed by `find` in the
//!   container (tens of milliseconds); `docker diff` only when the image has
//!   no GNU `find`, because on fuse-overlayfs engines it takes seconds, as
//!   long as the commit itself, and when the container is paused (an exec
//!   into a frozen container hangs, runc#2753). The `find` listing does not
//!   see deletions.
//!   The plan (`plan_commit`) is made before the commit runs (`run_commit`),
//!   so a session can copy the listed files into the workspace while the
//!   engine commits.
//! - **Warnings**, never refusals: `appRoot` on a mount (its files are not
//!   in the snapshot), and environment variables whose names look like
//!   secrets (the image keeps the container's `Env`). Values are never shown.

use bollard::models::ContainerConfig;
use bollard::query_parameters::{CommitContainerOptions, InspectContainerOptions};

use super::engine::{ContainerError, Subject};
use super::handle::ContainerRef;
use crate::runtime::labels::{LABEL_HOST, LABEL_IMAGE, LABEL_PID, LABEL_SESSION};
pub use crate::runtime::{CommitRequest, DELETED, Snapshot, SnapshotPlan};

/// Label on snapshot images: the image the committed container ran.
pub const LABEL_SNAPSHOT_OF: &str = "dockdap.snapshot-of";
/// Label on snapshot images: always `true`.
pub const LABEL_SNAPSHOT: &str = "dockdap.snapshot";

/// The next version of an image reference (without checking what exists).
fn next_tag(image: &str) -> (String, String) {
    let without_digest = image.split('@').next().unwrap_or(image);
    let is_id = without_digest.starts_with("sha256:")
        || (without_digest.len() == 64 && without_digest.chars().all(|c| c.is_ascii_hexdigit()));
    if is_id || without_digest.is_empty() {
        return ("dockdap-snapshot".into(), "1".into());
    }
    let (repo, tag) = split_reference(without_digest);
    (repo.to_owned(), bump(tag.unwrap_or("latest")))
}

/// `repo[:tag]`: the tag is after the last `:` that follows the last `/`
/// (`localhost:5000/app` has no tag).
pub fn split_reference(reference: &str) -> (&str, Option<&str>) {
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[slash..].rfind(':') {
        Some(i) => (&reference[..slash + i], Some(&reference[slash + i + 1..])),
        None => (reference, None),
    }
}

/// `1` -> `2`, `v3` -> `v4`, `debug` -> `2`.
fn bump(tag: &str) -> String {
    let digits = tag.len() - tag.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return "2".into();
    }
    let (prefix, number) = tag.split_at(tag.len() - digits);
    match number.parse::<u64>() {
        Ok(n) => format!("{prefix}{}", n.saturating_add(1)),
        Err(_) => format!("{tag}-2"),
    }
}

/// Names of environment variables that look like secrets.
fn secret_names(env: &[String]) -> Vec<String> {
    env.iter()
        .filter_map(|e| e.split('=').next())
        .filter(|name| {
            let upper = name.to_ascii_uppercase();
            ["KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL"].iter().any(|w| upper.contains(w))
        })
        .map(str::to_owned)
        .collect()
}

/// Dockerfile `LABEL` instructions setting `pairs`, one per line: Podman's
/// compatible API reads only the first pair of a `LABEL` line (the rest
/// became that label's value), and both engines read one instruction per line.
fn label_instruction(pairs: &[(&str, &str)]) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', " "));
    let lines: Vec<String> = pairs.iter().map(|(k, v)| format!("LABEL {k}={}", quote(v))).collect();
    lines.join("\n")
}

impl ContainerRef {
    /// Commits the container into a new image; see the module documentation.
    pub async fn commit(&self, request: &CommitRequest) -> Result<Snapshot, ContainerError> {
        let plan = self.plan_commit(request).await?;
        self.run_commit(plan).await
    }

    /// Works out the tag, the labels, the comment and the warnings.
    pub async fn plan_commit(&self, request: &CommitRequest) -> Result<SnapshotPlan, ContainerError> {
        let docker = &self.engine.docker;
        let inspect = docker
            .inspect_container(&self.id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| self.engine.error(e, Subject::Container(&self.name)))?;
        let config = inspect.config.unwrap_or_default();
        let ran = config.image.clone().unwrap_or_default();

        // The free tag and the listing are independent engine calls: both at once.
        let app_root = request.app_root.trim_end_matches('/');
        // No exec into a paused container: it would hang (runc#2753).
        let paused = inspect.state.as_ref().and_then(|s| s.paused).unwrap_or(false);
        let listed = async {
            match inspect.created.as_deref() {
                Some(created) if !app_root.is_empty() && !paused => self.changed_since(app_root, created).await,
                _ => None,
            }
        };
        let (tag, listed) = tokio::join!(self.tag_for(request, &ran), listed);
        let (repo, tag) = tag?;
        let (changed, elsewhere) = match listed {
            Some(files) => (files, 0),
            None => self.changed_by_diff(app_root).await?,
        };
        let image = format!("{repo}:{tag}");
        let mut warnings = mount_warnings(app_root, inspect.mounts.unwrap_or_default());
        let secrets = secret_names(&config.env.clone().unwrap_or_default());
        if !secrets.is_empty() {
            warnings.push(format!(
                "the snapshot keeps the container's environment, including {} (names that look like secrets); do not push {image} anywhere others can pull it, or pass such values at run time instead",
                secrets.join(", ")
            ));
        }
        Ok(SnapshotPlan {
            comment: comment(&self.name, &ran, app_root, &changed, elsewhere),
            labels: snapshot_labels(&config.labels.unwrap_or_default(), &ran),
            image,
            pause: request.pause,
            changed,
            warnings,
        })
    }

    /// The repository and tag: the one asked for, else the next free version.
    async fn tag_for(&self, request: &CommitRequest, ran: &str) -> Result<(String, String), ContainerError> {
        match &request.tag {
            Some(given) => {
                let (repo, tag) = split_reference(given);
                if repo.is_empty() {
                    return Err(ContainerError::Unusable(format!(
                        "{given:?} is not an image name; write it as REPOSITORY:TAG, e.g. debug:2"
                    )));
                }
                Ok((repo.to_owned(), tag.map_or_else(|| next_tag(repo).1, str::to_owned)))
            }
            None => Ok(self.free_tag(ran).await),
        }
    }

    /// Runs a planned commit.
    pub async fn run_commit(&self, plan: SnapshotPlan) -> Result<Snapshot, ContainerError> {
        let (repo, tag) = split_reference(&plan.image);
        let labels: Vec<(&str, &str)> = plan.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let options = CommitContainerOptions {
            container: Some(self.id.clone()),
            repo: Some(repo.to_owned()),
            tag: tag.map(str::to_owned),
            comment: Some(plan.comment),
            author: Some("dockdap".into()),
            pause: plan.pause,
            changes: Some(label_instruction(&labels)),
        };
        let id = self
            .engine
            .docker
            .commit_container(options, ContainerConfig::default())
            .await
            .map_err(|e| self.engine.error(e, Subject::Container(&self.name)))?
            .id;
        Ok(Snapshot { image: plan.image, id, changed: plan.changed, warnings: plan.warnings })
    }

    /// The changes under `app_root` (relative to it) and how many other
    /// paths changed, from `docker diff`.
    async fn changed_by_diff(&self, app_root: &str) -> Result<(Vec<String>, usize), ContainerError> {
        let mut changed = Vec::new();
        let mut elsewhere = 0usize;
        for change in self.changes().await? {
            if change.path == app_root || app_root.starts_with(&format!("{}/", change.path)) {
                continue; // the app folder itself, or a folder above it
            }
            match change.path.strip_prefix(app_root).and_then(|r| r.strip_prefix('/')) {
                Some(rest) => changed.push(if change.deleted { format!("{rest}{DELETED}") } else { rest.to_owned() }),
                None => elsewhere += 1,
            }
        }
        Ok((changed, elsewhere))
    }

    /// The next version of `image` whose tag is not taken yet.
    async fn free_tag(&self, image: &str) -> (String, String) {
        let (repo, mut tag) = next_tag(image);
        for _ in 0..1000 {
            let taken = self.engine.docker.inspect_image(&format!("{repo}:{tag}")).await.is_ok();
            if !taken {
                break;
            }
            tag = bump(&tag);
        }
        (repo, tag)
    }
}

/// The image's description: what it was taken of, and what changed.
fn comment(name: &str, ran: &str, app_root: &str, changed: &[String], elsewhere: usize) -> String {
    let mut comment = format!("dockdap snapshot of container {name} (ran {ran})");
    if changed.is_empty() {
        comment.push_str(&format!("; nothing changed under {app_root}"));
    } else {
        let shown: Vec<&str> = changed.iter().take(20).map(String::as_str).collect();
        comment.push_str(&format!("; changed under {app_root}: {}", shown.join(", ")));
        if changed.len() > shown.len() {
            comment.push_str(&format!(" and {} more", changed.len() - shown.len()));
        }
    }
    if elsewhere > 0 {
        comment.push_str(&format!("; {elsewhere} other path(s) changed outside it"));
    }
    comment
}

/// A warning for each mount that holds the app root: its files are not in the snapshot.
fn mount_warnings(app_root: &str, mounts: Vec<bollard::models::MountPoint>) -> Vec<String> {
    let mut warnings = Vec::new();
    for mount in mounts {
        let Some(destination) = mount.destination.as_deref() else { continue };
        let destination = destination.trim_end_matches('/');
        if app_root == destination || app_root.starts_with(&format!("{destination}/")) || destination.is_empty() {
            warnings.push(format!(
                "{app_root} is on a {} mount ({}): its files are not in the snapshot, which keeps only the container's own layer",
                mount.typ.as_deref().unwrap_or("volume"),
                mount.source.as_deref().or(mount.name.as_deref()).unwrap_or("?"),
            ));
        }
    }
    warnings
}

/// The snapshot's labels, from the container's (see the module documentation).
fn snapshot_labels(labels: &std::collections::HashMap<String, String>, ran: &str) -> Vec<(String, String)> {
    let original = labels.get(LABEL_IMAGE).map_or(ran, String::as_str);
    let session = labels.get(LABEL_SESSION).map_or("", String::as_str);
    [
        (LABEL_SESSION, session),
        (LABEL_IMAGE, original),
        (LABEL_SNAPSHOT_OF, ran),
        (LABEL_SNAPSHOT, "true"),
        (LABEL_PID, ""),
        (LABEL_HOST, ""),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(image: &str, repo: &str, tag: &str) {
        assert_eq!(next_tag(image), (repo.to_owned(), tag.to_owned()), "{image}");
    }

    #[test]
    fn next_versions() {
        check("debug:1", "debug", "2");
        check("debug:9", "debug", "10");
        check("dockdap/azureml-score:debug", "dockdap/azureml-score", "2");
        check("registry:5000/team/app:v3", "registry:5000/team/app", "v4");
        check("registry:5000/team/app", "registry:5000/team/app", "2");
        check("app:debug-1", "app", "debug-2");
        check("app:1@sha256:abcd", "app", "2");
        check("sha256:0123", "dockdap-snapshot", "1");
        check(&"a".repeat(64), "dockdap-snapshot", "1");
        assert_eq!(bump("2"), "3");
    }

    #[test]
    fn secrets_by_name_only() {
        let env =
            ["PATH=/bin", "AZURE_STORAGE_KEY=x", "api_token=y", "DB_PASSWORD=", "MONKEY_BUSINESS=1", "HOME=/root"]
                .map(String::from);
        assert_eq!(secret_names(&env), ["AZURE_STORAGE_KEY", "api_token", "DB_PASSWORD", "MONKEY_BUSINESS"]);
    }

    #[test]
    fn labels_are_quoted() {
        assert_eq!(
            label_instruction(&[("a.b", "x:1"), ("c", "say \"hi\""), ("d", "")]),
            "LABEL a.b=\"x:1\"\nLABEL c=\"say \\\"hi\\\"\"\nLABEL d=\"\""
        );
    }
}
