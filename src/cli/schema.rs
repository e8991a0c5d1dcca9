//! `dockdap schema`: the JSON schema of the launch and attach
//! configurations, generated from `config`'s types (what the editors'
//! configuration files are checked against). Nothing else is printed.

use std::process::ExitCode;

use super::CliError;
use super::output;

/// Runs `dockdap schema`.
pub fn run() -> Result<ExitCode, CliError> {
    let text = serde_json::to_string_pretty(&crate::config::schema()).map_err(std::io::Error::other)?;
    output::out(&text)?;
    Ok(ExitCode::SUCCESS)
}
