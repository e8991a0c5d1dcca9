//! The Docker Engine runtime: debug containers through the Engine API
//! (bollard), for a local engine, a remote one (`DOCKER_HOST`, contexts),
//! and Podman through its Docker-compatible API.
//!
//! **Architecture Invariant:** this is the only module that imports
//! `bollard`, and `Engine`'s client is private to it. Everything else sees
//! `Runtime` (the session), `DebugContainer`, `ContainerRef`, the command
//! helpers' plain values, and `ContainerError`s whose messages say what to do.
//!
//! The session's runtime:
//!
//! - `container`: `DebugContainer`, the `Runtime` a session holds; starting
//!   processes in it, never while it is paused.
//! - `launch`: creating and starting a debug container; `create`: its
//!   configuration (labels, ports on 127.0.0.1); `join`: one the user started.
//! - `wait`: until debugpy listens inside the container.
//! - `watch`: its output, its exit, and its paused state.
//! - `exec`: processes in it (DAP through `docker exec`, no published port).
//! - `forward`: on a remote engine, service ports forwarded to this
//!   machine's 127.0.0.1 through one `docker exec` relay per container
//!   (`mux`: many connections over its stdio, no API call per connection).
//! - `handle`: `ContainerRef`, one container by id; `archive`: its files;
//!   `commit`: its snapshots.
//! - `discover`: which engine the Docker CLI would use (`DOCKER_HOST`, TLS
//!   settings, Docker contexts), else the default socket and Podman's; pure.
//! - `engine`: connecting to it with bollard's connectors (socket, TCP, TLS,
//!   SSH), and API errors as `ContainerError`s.
//! - `reach`: whether the engine shares this machine's loopback; SSH failures.
//! - `ssh`: an SSH engine over one master connection per process.
//! - `reap` and `watchdog`: removing what dead dockdap processes left behind.
//! - `restart`: a debug container restarted in place (a reload of an app
//!   no pre-forking server runs); `watch` follows it into its new run.
//! - `compose`: a Compose project's service: the project brought up (and
//!   down) through the Compose tool with an override dockdap owns, or a
//!   running one joined; its container is then a `DebugContainer`.
//!
//! For the command-line helpers: `inspect` (versions, image and container
//! facts, output, stopping), `probe` (throwaway containers running a short
//! Python program), `pull` (with the user's registry credentials), `image`
//! (`dockdap image debug`), `build` (an image from a Dockerfile, the demo's
//! example image).

mod archive;
pub(crate) mod build;
pub mod commit;
mod compose;
mod container;
mod create;
pub mod discover;
pub mod engine;
mod exec;
mod forward;
mod handle;
pub mod image;
pub mod inspect;
mod join;
mod launch;
mod mux;
mod peek;
pub mod probe;
pub(crate) mod pull;
pub mod reach;
pub mod reap;
mod restart;
mod ssh;
mod wait;
mod watch;
pub mod watchdog;

use std::sync::Arc;

pub use container::DebugContainer;
pub use engine::Engine;
pub use handle::ContainerRef;

use crate::config::{AttachArguments, ComposeArguments, LaunchArguments};
use crate::runtime::{ContainerError, Context, Failed, Runtime};

/// Launches a debug container (`request: "launch"`).
pub(super) async fn launch(args: &LaunchArguments, cx: &Context) -> Result<Arc<dyn Runtime>, Failed> {
    Ok(Arc::new(DebugContainer::launch(args, cx).await?))
}

/// Joins a running container (`request: "attach"` with `container`).
pub(super) async fn join(
    name: &str,
    args: &AttachArguments,
    subprocess: bool,
    cx: &Context,
) -> Result<Arc<dyn Runtime>, ContainerError> {
    Ok(Arc::new(DebugContainer::join(name, args, subprocess, cx).await?))
}

/// Brings a Compose project up with one service debuggable (`request:
/// "launch"` with `compose`).
pub(super) async fn launch_compose(
    args: &LaunchArguments,
    compose: &ComposeArguments,
    cx: &Context,
) -> Result<Arc<dyn Runtime>, Failed> {
    Ok(Arc::new(compose::launch(args, compose, cx).await?))
}

/// Joins a running Compose service (`request: "attach"` with `compose`).
pub(super) async fn join_compose(
    args: &AttachArguments,
    compose: &ComposeArguments,
    cx: &Context,
) -> Result<Arc<dyn Runtime>, ContainerError> {
    Ok(Arc::new(compose::join(args, compose, cx).await?))
}
