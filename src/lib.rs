//! dockdap: a Debug Adapter Protocol bridge for debugging Python services in
//! Docker containers.
//!
//! An editor talks DAP to dockdap; dockdap starts (or finds) the container,
//! gets debugpy running in it, and proxies every message between the two,
//! rewriting file paths between the workspace and the container's app root.
//! ARCHITECTURE.md has the map; the modules, bottom-up (each imports only
//! modules above it in this list; `tests/layering.rs` checks it):
//!
//! - [`console`]: what the user sees (output, progress, the program's exit).
//! - [`tasks`]: tasks with an owner that stops and awaits them.
//! - [`dap`]: the wire (framing, envelope, sequence numbers); knows nothing else.
//! - [`paths`]: the path map and where paths live in DAP messages; pure.
//! - [`transport`]: stdio and TCP streams.
//! - [`http`]: one POST to a scoring endpoint.
//! - [`config`]: the launch/attach configuration, parsed once.
//! - [`client`]: a small DAP client for the demo, benchmarks and tests.
//! - [`runtime`]: the place debugpy runs, as one trait; the Docker Engine
//!   behind it (`runtime::docker`, the only module that imports bollard).
//! - [`error`]: the error type and who is to blame.
//! - [`sync`]: files in step between the workspace and the container.
//! - [`session`]: one debug session, one loop.
//! - [`cli`]: the commands (`demo`, `doctor`, `score`, `logs`, `up`, `down`,
//!   `commit`, `reap`, `image`, `schema`, `completions`), one file each.

pub mod cli;
pub mod client;
pub mod config;
pub mod console;
pub mod dap;
pub mod error;
pub mod http;
pub mod paths;
pub mod runtime;
pub mod session;
pub mod sync;
pub mod tasks;
pub mod transport;
