//! The commands: every `dockdap COMMAND`, one file each, as thin fronts
//! over the code the adapter uses. `main.rs` only parses the command line
//! and calls the command's `run`.
//!
//! - `demo`: the main job end to end (`example_image` gets its image ready:
//!   built from the Dockerfile when a registry answers, else offline).
//! - `doctor`: check an image and dry-run `init()` (its checks are in
//!   `doctor_checks`, the Python programs they run in `python/`).
//! - `score`: one scoring request. `logs`: a container's output.
//! - `up` / `down`: a debug container without an editor, and its end.
//! - `commit`: a snapshot. `reap`: dead sessions' containers.
//! - `image`: `image debug`, a debuggable variant of an image.
//! - `schema`: the configuration's JSON schema. `completions`: shell completions.
//!
//! `output` has colours, progress and `--json`, and `configfile` reads
//! launch configurations from files.
//!
//! Every command writes its report on stdout (with `--json`, exactly one
//! JSON document, also when it fails) and progress on stderr. Commands take
//! their arguments as a clap `Args` struct, so `main.rs` only names them.
//! Errors are `CliError`s (the demo's `DemoError`), which say what to do.

/// `From` impls that wrap each error type in its variant, without making it
/// the `source`: the variants' messages already include their causes, and
/// `main` prints the whole chain.
macro_rules! from_error {
    ($target:ident: $($variant:ident($ty:ty)),* $(,)?) => {$(
        impl From<$ty> for $target {
            fn from(e: $ty) -> $target {
                $target::$variant(e)
            }
        }
    )*};
}

pub mod commit;
pub mod completions;
pub mod configfile;
pub mod demo;
pub mod doctor;
mod doctor_checks;
pub mod down;
mod example_image;
pub mod image;
pub mod logs;
pub mod output;
pub mod reap;
pub mod schema;
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
    /// A step failed; `what` says which.
    #[error("{what}: {cause}")]
    Failed {
        /// The step, e.g. "cannot snapshot NAME".
        what: String,
        /// Why (not a `source`: the message already includes it).
        cause: ContainerError,
    },
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

from_error!(CliError:
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

/// A `--wait`/`--timeout` value: seconds from 0 to a day, checked when the
/// command line is read (a value `Duration` cannot hold used to panic).
pub fn seconds(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(n) if (0.0..=86400.0).contains(&n) => Ok(n),
        _ => Err(format!("{text:?} is not a number of seconds from 0 to 86400, e.g. 30")),
    }
}
