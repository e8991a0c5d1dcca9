//! `dockdap down NAME`: stop and remove a container dockdap started (what
//! `dockdap up` prints at the end), the seed's `docker stop debug`.
//!
//! Only containers carrying dockdap's labels are touched; any other one
//! only with `--force`, because it was named explicitly.

use std::process::ExitCode;

use super::CliError;
use super::output::{self, Progress};
use crate::runtime::docker::{Engine, inspect};

/// `dockdap down NAME`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:
  dockdap down dockdap-azureml-score-debug-1a2b3c4d
  dockdap down someone-elses-container --force")]
pub struct DownArgs {
    /// The container's name or id
    pub name: String,
    /// Also stop and remove a container dockdap did not create
    #[arg(long)]
    pub force: bool,
    /// Seconds to wait after SIGTERM before SIGKILL
    #[arg(long, short = 't', default_value_t = 5)]
    pub time: i32,
}

/// Runs `dockdap down`.
pub async fn run(args: DownArgs) -> Result<ExitCode, CliError> {
    let engine = Engine::connect().await?;
    let info = inspect::container_info(&engine, &args.name).await?;
    if !info.is_dockdap() && !args.force {
        return Err(CliError::Refused(format!(
            "container {:?} was not started by dockdap (it has no dockdap.session label), so dockdap leaves it alone; `dockdap down {} --force` stops and removes it anyway",
            info.name, args.name
        )));
    }
    let progress = Progress::start(&format!("stopping {}", info.name));
    let result = inspect::stop_and_remove(&engine, &info.id, args.time.max(0)).await;
    progress.finish(None);
    result?;
    output::out(&format!("stopped and removed {}", info.name))?;
    Ok(ExitCode::SUCCESS)
}
