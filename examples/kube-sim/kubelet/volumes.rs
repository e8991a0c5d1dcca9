//! A pod's volumes in Docker: `emptyDir` as a Docker volume (or tmpfs for
//! `medium: Memory`), `hostPath` as a bind mount, and the volumes whose
//! files the kubelet writes (`projected`, `downwardAPI`; the service
//! account token volume every pod gets) as Docker volumes filled through
//! the sandbox, so this works with a remote engine too.
//!
//! There are no ConfigMaps or Secrets in the simulation: a volume that
//! needs one fails to mount as on a cluster where it is missing (unless
//! `optional`), except `kube-root-ca.crt` (empty: the API is plain HTTP).
//! Persistent volumes and the other volume types are refused with a
//! `FailedMount` event; `subPath` is not simulated.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{Mount, MountTmpfsOptions, MountType, VolumeCreateRequest};
use bollard::query_parameters::UploadToContainerOptions;
use k8s_openapi::api::core::v1::{Container, DownwardAPIVolumeFile, Pod, Volume};
use serde_json::Value;

use super::docker::PodIds;

/// Where the sandbox mounts the volumes it fills.
const FILL_ROOT: &str = "/kube-sim/volumes";

enum Source {
    Volume { name: String, files: Option<Vec<(String, Vec<u8>, u32)>> },
    Tmpfs,
    Bind(String),
}

#[derive(Default)]
pub struct Volumes {
    by_name: HashMap<String, Source>,
}

/// The value of a downward API `fieldRef`.
pub fn field_ref(pod: &Value, path: &str) -> String {
    let text = |p: &str| pod.pointer(p).and_then(Value::as_str).unwrap_or_default().to_owned();
    let map_lines = |p: &str| {
        pod.pointer(p)
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v)).collect::<Vec<_>>().join("\n"))
            .unwrap_or_default()
    };
    if let Some(key) = path.strip_prefix("metadata.labels['").and_then(|k| k.strip_suffix("']")) {
        return text(&format!("/metadata/labels/{}", key.replace('/', "~1")));
    }
    if let Some(key) = path.strip_prefix("metadata.annotations['").and_then(|k| k.strip_suffix("']")) {
        return text(&format!("/metadata/annotations/{}", key.replace('/', "~1")));
    }
    match path {
        "metadata.labels" => map_lines("/metadata/labels"),
        "metadata.annotations" => map_lines("/metadata/annotations"),
        _ => text(&format!("/{}", path.replace('.', "/"))),
    }
}

fn downward_files(pod: &Value, items: &[DownwardAPIVolumeFile], mode: u32) -> Vec<(String, Vec<u8>, u32)> {
    items
        .iter()
        .map(|item| {
            let value = item.field_ref.as_ref().map(|f| field_ref(pod, &f.field_path)).unwrap_or_default();
            (item.path.clone(), value.into_bytes(), item.mode.map_or(mode, |m| m as u32))
        })
        .collect()
}

fn missing(volume: &str, what: &str, name: &str) -> String {
    format!("MountVolume.SetUp failed for volume \"{volume}\" : {what} \"{name}\" not found")
}

/// The files of a projected volume.
fn projected(pod: &Value, v: &Volume, token: &str) -> Result<Vec<(String, Vec<u8>, u32)>, String> {
    let Some(p) = &v.projected else { return Ok(Vec::new()) };
    let mode = p.default_mode.unwrap_or(0o644) as u32;
    let mut files = Vec::new();
    for source in p.sources.iter().flatten() {
        if let Some(t) = &source.service_account_token {
            files.push((t.path.clone(), token.as_bytes().to_vec(), mode));
        }
        if let Some(cm) = &source.config_map {
            if cm.name == "kube-root-ca.crt" {
                for item in cm.items.iter().flatten() {
                    files.push((item.path.clone(), Vec::new(), mode));
                }
            } else if cm.optional != Some(true) {
                return Err(missing(&v.name, "configmap", &cm.name));
            }
        }
        if let Some(secret) = &source.secret
            && secret.optional != Some(true)
        {
            return Err(missing(&v.name, "secret", &secret.name));
        }
        if let Some(d) = &source.downward_api {
            files.extend(downward_files(pod, d.items.as_deref().unwrap_or_default(), mode));
        }
    }
    Ok(files)
}

impl Volumes {
    /// Creates the pod's volumes; `Err` is the FailedMount message.
    pub async fn prepare(docker: &Docker, ids: &PodIds<'_>, pod: &Pod, token: &str) -> Result<Volumes, String> {
        let json = serde_json::to_value(pod).unwrap_or(Value::Null);
        let mut volumes = Volumes::default();
        for v in pod.spec.as_ref().and_then(|s| s.volumes.clone()).unwrap_or_default() {
            let files = if v.empty_dir.is_some() {
                if v.empty_dir.as_ref().and_then(|e| e.medium.as_deref()) == Some("Memory") {
                    volumes.by_name.insert(v.name.clone(), Source::Tmpfs);
                    continue;
                }
                None
            } else if let Some(host) = &v.host_path {
                volumes.by_name.insert(v.name.clone(), Source::Bind(host.path.clone()));
                continue;
            } else if v.projected.is_some() {
                Some(projected(&json, &v, token)?)
            } else if let Some(d) = &v.downward_api {
                Some(downward_files(
                    &json,
                    d.items.as_deref().unwrap_or_default(),
                    d.default_mode.unwrap_or(0o644) as u32,
                ))
            } else if let Some(cm) = &v.config_map {
                if cm.optional != Some(true) {
                    return Err(missing(&v.name, "configmap", &cm.name));
                }
                Some(Vec::new())
            } else if let Some(secret) = &v.secret {
                if secret.optional != Some(true) {
                    return Err(missing(&v.name, "secret", secret.secret_name.as_deref().unwrap_or_default()));
                }
                Some(Vec::new())
            } else {
                return Err(format!(
                    "MountVolume.SetUp failed for volume \"{}\" : kube-sim simulates emptyDir, hostPath, projected, downwardAPI and optional configMap/secret volumes only",
                    v.name
                ));
            };
            let name = format!("{}-{}", ids.container_name("vol"), v.name);
            let request = VolumeCreateRequest {
                name: Some(name.clone()),
                labels: Some(ids.labels("volume", None)),
                ..Default::default()
            };
            docker
                .create_volume(request)
                .await
                .map_err(|e| format!("MountVolume.SetUp failed for volume \"{}\" : {e}", v.name))?;
            volumes.by_name.insert(v.name.clone(), Source::Volume { name, files });
        }
        Ok(volumes)
    }

    /// The sandbox mounts the volumes it fills.
    pub fn sandbox_mounts(&self) -> Vec<Mount> {
        self.by_name
            .iter()
            .filter_map(|(volume, source)| match source {
                Source::Volume { name, files: Some(_) } => Some(Mount {
                    target: Some(format!("{FILL_ROOT}/{volume}")),
                    source: Some(name.clone()),
                    typ: Some(MountType::VOLUME),
                    ..Default::default()
                }),
                _ => None,
            })
            .collect()
    }

    /// Writes the files of the kubelet-filled volumes through the sandbox.
    pub async fn fill(&self, docker: &Docker, sandbox: &str) -> Result<(), String> {
        for (volume, source) in &self.by_name {
            let Source::Volume { files: Some(files), .. } = source else { continue };
            let mut tar = tar::Builder::new(Vec::new());
            for (path, bytes, mode) in files {
                let mut header = tar::Header::new_gnu();
                header.set_size(bytes.len() as u64);
                header.set_mode(*mode);
                header.set_cksum();
                tar.append_data(&mut header, path.trim_start_matches('/'), bytes.as_slice())
                    .map_err(|e| e.to_string())?;
            }
            let archive = tar.into_inner().map_err(|e| e.to_string())?;
            let options = UploadToContainerOptions { path: format!("{FILL_ROOT}/{volume}"), ..Default::default() };
            docker
                .upload_to_container(sandbox, Some(options), bollard::body_full(archive.into()))
                .await
                .map_err(|e| format!("MountVolume.SetUp failed for volume \"{volume}\" : {e}"))?;
        }
        Ok(())
    }

    /// A container's mounts; `Err` is a CreateContainerConfigError message.
    pub fn mounts(&self, c: &Container) -> Result<Vec<Mount>, String> {
        let mut mounts = Vec::new();
        for m in c.volume_mounts.iter().flatten() {
            if m.sub_path.as_deref().is_some_and(|s| !s.is_empty()) || m.sub_path_expr.is_some() {
                return Err(format!(
                    "kube-sim does not simulate subPath (volume mount \"{}\" of container \"{}\")",
                    m.name, c.name
                ));
            }
            let mut mount = Mount { target: Some(m.mount_path.clone()), read_only: m.read_only, ..Default::default() };
            match self.by_name.get(&m.name) {
                Some(Source::Volume { name, .. }) => {
                    mount.typ = Some(MountType::VOLUME);
                    mount.source = Some(name.clone());
                }
                Some(Source::Tmpfs) => {
                    mount.typ = Some(MountType::TMPFS);
                    mount.tmpfs_options = Some(MountTmpfsOptions { mode: Some(0o1777), ..Default::default() });
                }
                Some(Source::Bind(path)) => {
                    mount.typ = Some(MountType::BIND);
                    mount.source = Some(path.clone());
                }
                None => return Err(format!("volume \"{}\" not found", m.name)),
            }
            mounts.push(mount);
        }
        Ok(mounts)
    }
}
