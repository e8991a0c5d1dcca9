//! Building an image from a Dockerfile through the Engine API (`docker
//! build`, the classic builder), and asking the engine whether a registry
//! answers before trying: `dockdap demo` builds the example image this way
//! on machines that can pull `python:3.11-slim`.
//!
//! The caller hands over the build context as a tar archive; this module
//! does not choose files, and it never pulls or builds anything unasked.

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::BuildImageOptions;
use bytes::Bytes;
use futures_util::StreamExt as _;

use super::engine::{ContainerError, Engine, Subject};

/// How long the engine may take to say whether a registry answers.
const REGISTRY_PROBE: Duration = Duration::from_secs(10);

/// Whether the engine can reach the registry of `image` (it asks the
/// registry for the image's manifest, with the engine's own network and
/// proxy settings); the reason when it cannot.
pub async fn registry_answers(engine: &Engine, image: &str) -> Result<(), String> {
    match tokio::time::timeout(REGISTRY_PROBE, engine.docker.inspect_registry_image(image, None)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(match engine.error(e, Subject::Image(image)) {
            ContainerError::Api(message) => message,
            other => other.to_string(),
        }),
        Err(_) => Err(format!("the engine did not reach the registry of {image} within {}s", REGISTRY_PROBE.as_secs())),
    }
}

/// Builds `dockerfile` (a path inside `context`) as `tag`; `progress` gets
/// each step line (`Step 2/9 : RUN pip install ...`).
pub async fn build_image(
    engine: &Engine,
    context: Bytes,
    dockerfile: &str,
    tag: &str,
    build_args: &[(&str, &str)],
    progress: &mut (dyn FnMut(String) + Send),
) -> Result<(), ContainerError> {
    let options = BuildImageOptions {
        dockerfile: dockerfile.to_owned(),
        t: Some(tag.to_owned()),
        rm: true,
        forcerm: true,
        buildargs: Some(build_args.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<HashMap<_, _>>()),
        ..Default::default()
    };
    let mut stream = engine.docker.build_image(options, None, Some(bollard::body_full(context)));
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| engine.error(e, Subject::Image(tag)))?;
        if let Some(detail) = info.error_detail {
            let message = detail.message.unwrap_or_else(|| "the build failed".to_owned());
            return Err(ContainerError::Api(format!("building {tag} from {dockerfile}: {message}")));
        }
        if let Some(line) = info.stream.as_deref().map(str::trim).filter(|l| l.starts_with("Step ")) {
            progress(line.to_owned());
        }
    }
    Ok(())
}
