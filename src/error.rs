//! The crate's error type, and who is to blame for each error.
//!
//! Every variant's message is written for the user: lowercase, specific, and
//! saying what to do. `Blame` decides how the session shows an error: a user
//! error becomes an error response with `showUser`, an internal one is logged
//! as a bug, and "nobody" covers the expected (a peer hanging up at the end).

use std::io;

use crate::config::ConfigError;
use crate::container::ContainerError;
use crate::dap::{CodecError, MessageError};

/// Who caused an error, which decides how it is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The user can fix it (configuration, Docker not running, image missing).
    User,
    /// A bug in dockdap.
    Internal,
    /// Nobody: an expected end, such as a peer closing the stream.
    Nobody,
}

/// Everything that can go wrong in a session.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The launch/attach configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// debugpy could not be reached in time.
    #[error(
        "debugpy did not accept a connection on {addr} within {secs}s ({source}); is it running and listening there?"
    )]
    Connect {
        /// Where we tried.
        addr: String,
        /// How long we tried.
        secs: f64,
        /// The last connection error.
        #[source]
        source: io::Error,
    },
    /// Docker said no.
    #[error(transparent)]
    Container(#[from] ContainerError),
    /// The request needs something this build cannot do.
    #[error("{0}")]
    Unsupported(String),
    /// The session ended before the operation finished.
    #[error("cancelled: the debug session ended")]
    Cancelled,
    /// A DAP stream failed.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A message could not be built or read.
    #[error(transparent)]
    Message(#[from] MessageError),
    /// An I/O error outside a DAP stream.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Error {
    /// Who is to blame.
    pub fn blame(&self) -> Blame {
        match self {
            Error::Config(_) | Error::Connect { .. } | Error::Unsupported(_) | Error::Container(_) => Blame::User,
            Error::Cancelled => Blame::Nobody,
            Error::Codec(_) | Error::Io(_) => Blame::Nobody,
            Error::Message(_) => Blame::Internal,
        }
    }
}
