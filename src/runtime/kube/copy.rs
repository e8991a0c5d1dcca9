//! The debug copy of a pod, worked out from a pod template (a Deployment's
//! or a pod's own spec): the same spec and image, with
//!
//! - new labels only: dockdap's owner labels (`labels.rs`) and
//!   `dockdap.copy-of`, none of the original's, so no Service routes real
//!   traffic to it and no ReplicaSet adopts it;
//! - `restartPolicy: Never`: a crash ends the session with its diagnosis
//!   instead of a crash loop;
//! - an `emptyDir` at `/opt/dockdap` and an init container, `dockdap-hold`,
//!   from the same image, that waits until dockdap has copied the bootstrap
//!   and debugpy in (by exec into it) and written the settings file: the
//!   program starts only then, so a breakpoint in `init()` is hit;
//! - `PYTHONPATH` and `DOCKDAP_SETTINGS` on the debugged container, which
//!   load the bootstrap; the settings (the debugger mode, the image's own
//!   `PYTHONPATH`) are decided once dockdap has looked inside the image.
//!
//! Pure: it builds the object; `launch` creates it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, EmptyDirVolumeSource, EnvVar, Pod, PodSpec, Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::runtime::{inject, labels, tune};

/// The init container that holds the program until dockdap is ready.
pub(crate) const HOLD: &str = "dockdap-hold";
/// The shared folder (an `emptyDir`): the bootstrap, debugpy, the settings.
pub(crate) const DIR: &str = "/opt/dockdap";
/// The settings file the bootstrap reads (`DOCKDAP_SETTINGS`).
pub(crate) const SETTINGS: &str = "/opt/dockdap/settings";
/// Written last: the hold container lets the program start.
pub(crate) const READY: &str = "/opt/dockdap/.ready";
/// Label: the Deployment or pod the copy was made from.
pub(crate) const LABEL_COPY_OF: &str = "dockdap.copy-of";
const VOLUME: &str = "dockdap";

/// What the copy is made of.
#[derive(Debug, Clone)]
pub(crate) struct CopyPlan<'a> {
    /// `deployment/NAME` or `pod/NAME`, for the label and annotation.
    pub source_kind: &'a str,
    pub source_name: &'a str,
    pub session_id: &'a str,
    /// The debugged container.
    pub container: &'a str,
    /// Environment added to it (`env` of the launch configuration).
    pub env: &'a BTreeMap<String, String>,
    /// Keep the pod after the session (`keepContainer`).
    pub keep: bool,
}

/// The copy's name: the source's, `-dockdap-` and the session id, within 63 characters.
pub(crate) fn name(source: &str, session_id: &str) -> String {
    let suffix = format!("-dockdap-{session_id}");
    let keep = 63usize.saturating_sub(suffix.len());
    let base: String = source.chars().take(keep).collect();
    format!("{}{suffix}", base.trim_end_matches(['-', '.']))
}

/// A label value Kubernetes accepts: at most 63 of `[A-Za-z0-9_.-]`,
/// starting and ending with a letter or digit.
pub(crate) fn label_value(value: &str) -> String {
    let cleaned: String =
        value.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' }).take(63).collect();
    cleaned.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_owned()
}

/// The debug copy of `template` (its metadata's namespace is kept).
pub(crate) fn debug_copy(template_spec: &PodSpec, namespace: &str, plan: &CopyPlan<'_>) -> Pod {
    let mut owner: BTreeMap<String, String> = labels::launch_labels(plan.session_id, "", plan.keep)
        .into_iter()
        .filter(|(k, _)| k != labels::LABEL_IMAGE)
        .map(|(k, v)| (k, label_value(&v)))
        .collect();
    owner.insert(LABEL_COPY_OF.into(), label_value(plan.source_name));
    owner.insert("app.kubernetes.io/managed-by".into(), "dockdap".into());
    let annotations =
        BTreeMap::from([("dockdap/copy-of".to_owned(), format!("{}/{}", plan.source_kind, plan.source_name))]);
    let mut spec = template_spec.clone();
    spec.restart_policy = Some("Never".into());
    spec.node_name = None;
    spec.ephemeral_containers = None;
    let mount = VolumeMount { name: VOLUME.into(), mount_path: DIR.into(), ..Default::default() };
    spec.volumes.get_or_insert_with(Vec::new).push(Volume {
        name: VOLUME.into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    });
    let mut hold = None;
    for container in &mut spec.containers {
        if container.name != plan.container {
            continue;
        }
        container.volume_mounts.get_or_insert_with(Vec::new).push(mount.clone());
        let env = container.env.get_or_insert_with(Vec::new);
        add_env(env, plan.env);
        hold = Some(hold_container(container, &mount));
    }
    if let Some(hold) = hold {
        spec.init_containers.get_or_insert_with(Vec::new).push(hold);
    }
    Pod {
        metadata: ObjectMeta {
            name: Some(name(plan.source_name, plan.session_id)),
            namespace: Some(namespace.to_owned()),
            labels: Some(owner),
            annotations: Some(annotations),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// The user's `env`, then the bootstrap's `PYTHONPATH` (in front of the
/// spec's own, if it sets one) and `DOCKDAP_SETTINGS`.
fn add_env(env: &mut Vec<EnvVar>, extra: &BTreeMap<String, String>) {
    for (name, value) in extra {
        env.retain(|e| &e.name != name);
        env.push(EnvVar { name: name.clone(), value: Some(value.clone()), value_from: None });
    }
    let ours = format!("{}:{}", tune::TUNE_DIR, inject::PYTHON_DIR);
    match env.iter_mut().find(|e| e.name == "PYTHONPATH" && e.value.is_some()) {
        Some(existing) => {
            let old = existing.value.take().unwrap_or_default();
            existing.value = Some(if old.is_empty() { ours } else { format!("{ours}:{old}") });
        }
        None => {
            env.retain(|e| e.name != "PYTHONPATH");
            env.push(EnvVar { name: "PYTHONPATH".into(), value: Some(ours), value_from: None });
        }
    }
    env.push(EnvVar { name: "DOCKDAP_SETTINGS".into(), value: Some(SETTINGS.into()), value_from: None });
}

/// The init container: the debugged container's image and security
/// context, waiting for `READY`.
fn hold_container(debugged: &Container, mount: &VolumeMount) -> Container {
    Container {
        name: HOLD.into(),
        image: debugged.image.clone(),
        image_pull_policy: debugged.image_pull_policy.clone(),
        command: Some(vec![
            "sh".into(),
            "-c".into(),
            format!(
                "echo 'dockdap: holding the program until the debugger is ready'; until [ -e {READY} ]; do sleep 0.2; done"
            ),
        ]),
        security_context: debugged.security_context.clone(),
        volume_mounts: Some(vec![mount.clone()]),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> PodSpec {
        PodSpec {
            containers: vec![
                Container {
                    name: "score".into(),
                    image: Some("reg.io/score:1".into()),
                    env: Some(vec![EnvVar { name: "PYTHONPATH".into(), value: Some("/app".into()), value_from: None }]),
                    ..Default::default()
                },
                Container { name: "sidecar".into(), image: Some("proxy:1".into()), ..Default::default() },
            ],
            restart_policy: Some("Always".into()),
            node_name: Some("node-1".into()),
            ..Default::default()
        }
    }

    #[test]
    fn the_copy_is_held_labelled_as_dockdap_s_and_selected_by_no_service() {
        let env = BTreeMap::from([("A".to_owned(), "1".to_owned())]);
        let plan = CopyPlan {
            source_kind: "deployment",
            source_name: "score",
            session_id: "abcd1234",
            container: "score",
            env: &env,
            keep: false,
        };
        let pod = debug_copy(&template(), "prod", &plan);
        assert_eq!(pod.metadata.name.as_deref(), Some("score-dockdap-abcd1234"));
        let labels = pod.metadata.labels.clone().unwrap();
        assert_eq!(labels.get("dockdap.copy-of").map(String::as_str), Some("score"));
        assert_eq!(labels.get("dockdap.session").map(String::as_str), Some("abcd1234"));
        assert!(labels.contains_key("dockdap.pid") && labels.contains_key("dockdap.host"));
        assert!(!labels.contains_key("app"), "none of the original's labels: {labels:?}");
        let spec = pod.spec.unwrap();
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
        assert_eq!(spec.node_name, None);
        let hold = &spec.init_containers.as_ref().unwrap()[0];
        assert_eq!((hold.name.as_str(), hold.image.as_deref()), (HOLD, Some("reg.io/score:1")));
        let score = &spec.containers[0];
        let env: Vec<(String, String)> =
            score.env.iter().flatten().map(|e| (e.name.clone(), e.value.clone().unwrap_or_default())).collect();
        assert!(env.contains(&("PYTHONPATH".into(), "/opt/dockdap/tune:/opt/dockdap/python:/app".into())), "{env:?}");
        assert!(env.contains(&("DOCKDAP_SETTINGS".into(), SETTINGS.into())));
        assert!(env.contains(&("A".into(), "1".into())));
        assert_eq!(score.volume_mounts.as_ref().unwrap()[0].mount_path, DIR);
        assert!(spec.containers[1].volume_mounts.is_none(), "the sidecar is left as it was");
    }

    #[test]
    fn names_and_label_values_fit() {
        let long = "a".repeat(80);
        assert!(name(&long, "abcd1234").len() <= 63);
        assert_eq!(label_value("my host.example.com"), "my-host.example.com");
        assert_eq!(label_value("-x-"), "x");
    }
}
