//! The crate's error type, and who is to blame for each error.
//!
//! Every variant's message is written for the user: lowercase, specific, and
//! saying what to do. `Blame` decides how the session shows an error: a user
//! error becomes an error response with `showUser`, an internal one is logged
//! as a bug, and "nobody" covers the expected (a peer hanging up at the end).

use std::io;

use crate::config::ConfigError;
use crate::dap::{CodecError, MessageError};
use crate::runtime::ContainerError;

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
    /// The place debugpy runs said no (Docker, a container, an address).
    #[error(transparent)]
    Container(#[from] ContainerError),
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
            Error::Container(ContainerError::Cancelled) => Blame::Nobody,
            Error::Config(_) | Error::Container(_) => Blame::User,
            Error::Codec(_) | Error::Io(_) => Blame::Nobody,
            Error::Message(_) => Blame::Internal,
        }
    }
}
