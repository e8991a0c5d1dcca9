//! The command-line helpers: the parts of the debugging routine that happen
//! outside a debug session, as thin fronts over the code the adapter uses.
//!
//! One file per command: `doctor` (check an image and dry-run `init()`;
//! its checks are in `doctor_checks`),
//! `score` (one scoring request), `logs` (a container's output), `up`
//! (`up` and `down`: a debug container without an editor) and
//! `completions`; `output` has colours, progress and `--json`, and
//! `configfile` reads launch configurations from files.
//!
//! Every command writes its report on stdout (with `--json`, exactly one
//! JSON document, also when it fails) and progress on stderr. Commands take
//! their arguments as a clap `Args` struct, so `main.rs` only names them.
//! Errors are `CliError`s, which say what to do.

pub mod completions;
pub mod configfile;
pub mod doctor;
mod doctor_checks;
pub mod logs;
pub mod output;
pub mod score;
pub mod up;

use crate::config::ConfigError;
use crate::http::HttpError;
use crate::runtime::ContainerError;

/// Why a command failed. The messages already include their causes, so
/// the variants do not chain them again (`main` prints the whole chain).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Docker said no.
    #[error("{0}")]
    Container(ContainerError),
    /// The configuration is not usable.
    #[error("{0}")]
    Config(ConfigError),
    /// The configuration file is not usable.
    #[error("{0}")]
    ConfigFile(configfile::ConfigFileError),
    /// The service did not answer.
    #[error("{0}")]
    Http(HttpError),
    /// The command line asks for something impossible.
    #[error("{0}")]
    Usage(String),
    /// The command will not do it, and says why.
    #[error("{0}")]
    Refused(String),
    /// Writing the report failed.
    #[error("{0}")]
    Io(std::io::Error),
}

macro_rules! from_error {
    ($($variant:ident($ty:ty)),* $(,)?) => {$(
        impl From<$ty> for CliError {
            fn from(e: $ty) -> CliError {
                CliError::$variant(e)
            }
        }
    )*};
}

from_error!(
    Container(ContainerError),
    Config(ConfigError),
    ConfigFile(configfile::ConfigFileError),
    Http(HttpError),
    Io(std::io::Error),
);

/// With `--json`, a failure is also one JSON document on stdout
/// (`{"error": "..."}`); the message goes to stderr as usual.
pub(crate) fn json_failure(json: bool, error: CliError) -> CliError {
    if json {
        let _ = output::print_json(&serde_json::json!({ "error": error.to_string() }));
    }
    error
}
