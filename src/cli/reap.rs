//! `dockdap reap`: remove the containers that dead dockdap processes left
//! behind, the same sweep every session start makes.
//!
//! It only removes containers carrying dockdap's labels whose owning process
//! is gone (`container::reap` decides); kept containers (`dockdap up`,
//! `keepContainer`) and other hosts' containers are left alone.

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
    Ok(ExitCode::SUCCESS)
}
