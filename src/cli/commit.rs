//! `dockdap commit NAME`: snapshot a container into the next version of its
//! image (`debug:1` -> `debug:2`), the seed's `docker commit debug debug:2`,
//! labelled and without pausing it unless asked. The snapshot itself is
//! `container::commit`; this prints the image, what changed under the app
//! root, and the warnings.

use std::process::ExitCode;

use super::CliError;
use super::output;
use crate::runtime::CommitRequest;
use crate::runtime::docker::ContainerRef;

/// `dockdap commit NAME [--tag REPO:TAG] [--pause] [--app-root DIR]`.
#[derive(Debug, Clone, clap::Args)]
pub struct CommitArgs {
    /// The container's name or id.
    pub name: String,
    /// The image to create, as REPOSITORY:TAG (default: the next free version of the container's image).
    #[arg(long, value_name = "REPO:TAG")]
    pub tag: Option<String>,
    /// Pause the container while committing (a consistent snapshot; a debugged program freezes meanwhile).
    #[arg(long)]
    pub pause: bool,
    /// The app's folder in the container, whose changed files the image's comment lists.
    #[arg(long, value_name = "PATH", default_value = crate::config::DEFAULT_APP_ROOT)]
    pub app_root: String,
}

/// Runs `dockdap commit`.
pub async fn run(args: CommitArgs) -> Result<ExitCode, CliError> {
    let CommitArgs { name, tag, pause, app_root } = args;
    let container = ContainerRef::find(&name).await?;
    let request = CommitRequest { tag, pause, app_root };
    let snapshot = container
        .commit(&request)
        .await
        .map_err(|cause| CliError::Failed { what: format!("cannot snapshot {name}"), cause })?;
    output::out(&snapshot.image)?;
    if snapshot.changed.is_empty() {
        output::out(&format!("  nothing changed under {}", request.app_root))?;
    } else {
        output::out(&format!("  changed under {}: {}", request.app_root, snapshot.changed.join(", ")))?;
    }
    for warning in &snapshot.warnings {
        output::out(&format!("  warning: {warning}"))?;
    }
    Ok(ExitCode::SUCCESS)
}
