//! Reading an image's files before a launch decides its debugger: the entry
//! script, the modules beside it that it imports, and which of the packages
//! `auto` weighs are installed. A container is created from the image
//! (labelled, so a killed dockdap's is reaped), read through the archive
//! API, and removed; it is never started, so nothing of the image runs.
//! What the files mean is `runtime::scan`'s.

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{CreateContainerOptions, RemoveContainerOptions};

use super::engine::{ContainerError, Engine, Subject};
use super::handle::ContainerRef;
use crate::runtime::scan::{self, ImageFiles, ScriptFile};
use crate::runtime::{FileKind, labels};

/// A script larger than this is not read.
const MAX_SCRIPT_BYTES: u64 = 1 << 20;

/// Reads what `auto` needs from `image`. `command` and `env` are the ones
/// the container will run with.
pub(super) async fn read_files(
    engine: &Engine,
    image: &str,
    command: &[String],
    env: &[String],
    working_dir: &str,
) -> Result<ImageFiles, ContainerError> {
    let body = ContainerCreateBody {
        image: Some(image.to_owned()),
        // Never started; an entrypoint keeps images without a command creatable.
        entrypoint: Some(vec!["/dockdap-never-runs".to_owned()]),
        cmd: Some(Vec::new()),
        labels: Some(labels::labels(&labels::new_session_id(), image)),
        network_disabled: Some(true),
        host_config: Some(HostConfig { network_mode: Some("none".into()), ..Default::default() }),
        ..Default::default()
    };
    let created = engine
        .docker
        .create_container(None::<CreateContainerOptions>, body)
        .await
        .map_err(|e| engine.error(e, Subject::Image(image)))?;
    let container = ContainerRef::new(engine.clone(), created.id.clone(), format!("a reader of {image}"));
    let files = read(&container, command, env, working_dir).await;
    let remove = RemoveContainerOptions { force: true, v: true, ..Default::default() };
    if let Err(e) = engine.docker.remove_container(&created.id, Some(remove)).await {
        tracing::warn!(error = %e, id = %created.id, "could not remove the container that read the image; `dockdap reap` will");
    }
    files
}

async fn read(
    container: &ContainerRef,
    command: &[String],
    env: &[String],
    working_dir: &str,
) -> Result<ImageFiles, ContainerError> {
    let mut files = ImageFiles::default();
    for path in scan::entry_script_paths(command, env, working_dir) {
        if let Some(text) = read_text(container, &path).await? {
            files.scripts.push(ScriptFile { path, text });
            break;
        }
    }
    if let Some(entry) = files.scripts.first().cloned() {
        let dir = entry.path.rsplit_once('/').map_or("", |(dir, _)| dir).to_owned();
        for module in scan::imported_modules(&entry.text).into_iter().take(scan::MAX_IMPORTS) {
            let path = format!("{dir}/{module}.py");
            if let Some(text) = read_text(container, &path).await? {
                files.scripts.push(ScriptFile { path, text });
            }
        }
    }
    files.packages = packages(container, env).await?;
    Ok(files)
}

/// A regular file's text, `None` when there is none (or it is too large).
async fn read_text(container: &ContainerRef, path: &str) -> Result<Option<String>, ContainerError> {
    match container.stat(path).await? {
        Some(stat) if stat.kind == FileKind::File && stat.size <= MAX_SCRIPT_BYTES => {}
        _ => return Ok(None),
    }
    let Some(archive) = container.download(path, MAX_SCRIPT_BYTES + 4096).await? else { return Ok(None) };
    let mut entries = tar::Archive::new(&archive[..]);
    let Ok(mut entries) = entries.entries() else { return Ok(None) };
    let Some(Ok(mut entry)) = entries.next() else { return Ok(None) };
    let mut text = String::new();
    Ok(std::io::Read::read_to_string(&mut entry, &mut text).ok().map(|_| text))
}

/// Which of `scan::PACKAGES` the image's `python3` has, found from the
/// version its link names; `None` when no such link is on `PATH`.
async fn packages(container: &ContainerRef, env: &[String]) -> Result<Option<Vec<String>>, ContainerError> {
    for dir in scan::python_dirs(env) {
        let mut path = format!("{dir}/python3");
        let mut version = None;
        for _ in 0..3 {
            match container.stat(&path).await? {
                Some(stat) => match stat.kind {
                    FileKind::Link(target) => {
                        version = scan::python_version(&target);
                        if version.is_some() {
                            break;
                        }
                        path = if target.starts_with('/') { target } else { format!("{dir}/{target}") };
                    }
                    _ => break,
                },
                None => break,
            }
        }
        let Some(version) = version else { continue };
        let mut found = Vec::new();
        for site in scan::site_dirs(&dir, &version) {
            for package in scan::PACKAGES {
                if !found.iter().any(|p| p == package) && container.stat(&format!("{site}/{package}")).await?.is_some()
                {
                    found.push(package.to_owned());
                }
            }
        }
        return Ok(Some(found));
    }
    Ok(None)
}
