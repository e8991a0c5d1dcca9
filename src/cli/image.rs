//! `dockdap image debug IMAGE`: a debuggable variant of an image (debugpy
//! added, listening on 5678 and waiting for the debugger) without a
//! Dockerfile or a network; `container::image` makes it, this prints how to
//! launch it.

use std::process::ExitCode;

use super::CliError;
use super::output;
use crate::runtime::docker::{Engine, image};

/// `dockdap image ...`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ImageCommand {
    /// Make a debuggable variant of an image (debugpy added, started on port
    /// 5678, waiting for the debugger) without a Dockerfile or a network.
    ///
    /// Example: dockdap image debug debug:1 --tag debug:1-debug
    Debug {
        /// The image to start from.
        image: String,
        /// The new image's tag (default: IMAGE's tag with `-debug` appended).
        #[arg(long)]
        tag: Option<String>,
        /// The debugpy package folder to copy in (default: DOCKDAP_DEBUGPY,
        /// else the one this machine's python3 imports).
        #[arg(long, value_name = "DIR")]
        debugpy: Option<String>,
    },
}

/// Runs `dockdap image ...`.
pub async fn run(command: ImageCommand) -> Result<ExitCode, CliError> {
    let ImageCommand::Debug { image, tag, debugpy } = command;
    let engine = Engine::connect().await?;
    let made = image::make_debug_image(&engine, &image, tag.as_deref(), debugpy.as_deref()).await?;
    output::out(&format!("built {} from {image} (debugpy from {})", made.tag, made.debugpy))?;
    output::out("it starts debugpy on port 5678 and waits for the debugger; launch it with")?;
    output::out(&format!(
        "  {{\"type\": \"dockdap\", \"request\": \"launch\", \"image\": \"{}\", \"debugger\": \"image\"}}",
        made.tag
    ))?;
    Ok(ExitCode::SUCCESS)
}
