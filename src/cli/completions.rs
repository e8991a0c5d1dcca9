//! `dockdap completions SHELL`: shell completion scripts, generated from the
//! same clap definitions that parse the command line, so they cannot drift.

use std::process::ExitCode;

use clap_complete::Shell;

use super::CliError;

/// `dockdap completions bash|zsh|fish`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:
  dockdap completions bash > ~/.local/share/bash-completion/completions/dockdap
  dockdap completions zsh > \"${fpath[1]}/_dockdap\"
  dockdap completions fish > ~/.config/fish/completions/dockdap.fish")]
pub struct CompletionsArgs {
    /// The shell to generate completions for
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Writes the completion script for `command` (the whole `dockdap` command tree) on stdout.
pub fn run(args: CompletionsArgs, mut command: clap::Command) -> Result<ExitCode, CliError> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "dockdap", &mut script);
    std::io::Write::write_all(&mut std::io::stdout().lock(), &script)?;
    Ok(ExitCode::SUCCESS)
}
