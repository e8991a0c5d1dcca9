//! The wire: framing, the message envelope, sequence numbering and the
//! specification's list of requests.
//!
//! **Architecture Invariant:** this module knows nothing of Docker, paths or
//! sessions. It could serve any DAP proxy.

pub mod codec;
pub mod message;
pub mod requests;
pub mod scan;
pub mod seq;

pub use codec::{CodecError, DapCodec, FrameError};
pub use message::{Kind, Message, MessageError};
pub use seq::{AdapterSeq, BridgeTag, ClientSeq, Origin, Pending, SeqTable};
