//! Path rewriting between the user's workspace (host) and the container.
//!
//! - `map.rs`: [`PathMap`], pure string translation of one path in both
//!   directions (POSIX container, POSIX or Windows host, longest root wins).
//! - `locate.rs`: [`PathRewriter`], the list of path-carrying DAP fields as
//!   data, applied to request `arguments` and response/event `body`s; also
//!   `file://` URI clients and the memory of the client's own spellings.
//! - `uri.rs`: `file://` URI <-> path conversion for `pathFormat: "uri"`.
//! - `traceback.rs`: `File "<path>", line N` in free text.
//!
//! **Architecture Invariant:** paths are rewritten at the fields listed in
//! `locate.rs` and nowhere else; program data (variable values, evaluate
//! results) never goes through this module.
//!
//! **Architecture Invariant:** this module is pure: no I/O, no file system,
//! no async, nothing from the rest of the crate, only std, serde (the
//! traits `splice.rs` walks JSON text with), serde_json and
//! tracing. It does not own launch/attach arguments or `startDebugging`
//! configurations; the session rewrites those with
//! [`PathRewriter::value_to_container`] and [`PathRewriter::value_to_host`].

mod locate;
mod map;
mod splice;
mod traceback;
mod uri;

pub use locate::{PathRewriter, SPELLING_LIMIT};
pub use map::{HostFlavour, Mapping, MappingError, PathMap};
pub use traceback::rewrite_traceback_to_host;
