//! dockdap: a Debug Adapter Protocol bridge for debugging Python services in
//! Docker containers.
//!
//! An editor talks DAP to dockdap; dockdap starts (or finds) the container,
//! gets debugpy running in it, and proxies every message between the two,
//! rewriting file paths between the workspace and the container's app root.
//! ARCHITECTURE.md has the map; the modules, in reading order:
//!
//! - [`dap`]: the wire (framing, envelope, sequence numbers); knows nothing else.
//! - [`paths`]: the path map and where paths live in DAP messages; pure.
//! - [`config`]: the launch/attach configuration, parsed once.
//! - [`session`]: one debug session, one loop.
//! - [`target`]: where debugpy runs and how to reach it.
//! - [`container`]: Docker, and nothing but Docker.
//! - [`sync`]: files in step between the workspace and the container.
//! - [`transport`]: stdio and TCP streams.
//! - [`client`]: a small DAP client for the demo, benchmarks and tests.
//! - [`http`]: one POST to a scoring endpoint.
//! - [`demo`]: `dockdap demo`, the main job end to end.
//! - [`cli`]: the command-line helpers (`doctor`, `score`, `logs`, `up`/`down`, `completions`).
//! - [`error`]: the error type and who is to blame.

pub mod cli;
pub mod client;
pub mod config;
pub mod console;
pub mod dap;
pub mod demo;
pub mod error;
pub mod http;
pub mod paths;
pub mod runtime;
pub mod session;
pub mod sync;
pub mod tasks;
pub mod transport;
