//! `dockdap reap`: remove the containers that dead dockdap processes left
//! behind, the same sweep every session start makes.
//!
//! It only removes containers carrying dockdap's labels whose owning process
//! is gone (`container::reap` decides); kept containers (`dockdap up`,
//! `keepContainer`) and other hosts' containers are left alone. The same
//! goes for Kubernetes debug pods in the current context, when there is one.

use std::process::ExitCode;

use super::CliError;
use super::output;
use crate::runtime::docker::{Engine, reap};

/// Runs `dockdap reap`: one line per removed container.
pub async fn run() -> Result<ExitCode, CliError> {
    let engine = Engine::connect().await?;
    let removed = reap::reap(&engine).await?;
    if removed.is_empty() {
        output::out("nothing to remove: no container of a dead dockdap session")?;
    }
    for name in removed {
        output::out(&format!("removed {name}"))?;
    }
    match crate::runtime::reap_kubernetes().await {
        Some(Ok(deleted)) => {
            for name in deleted {
                output::out(&format!("deleted debug pod {name}"))?;
            }
        }
        Some(Err(e)) => output::out(&format!("could not look for Kubernetes debug pods: {e}"))?,
        None => {}
    }
    Ok(ExitCode::SUCCESS)
}
