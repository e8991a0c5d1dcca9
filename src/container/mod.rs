//! Docker, and nothing but Docker.
//!
//! **Architecture Invariant:** this is the only module that imports
//! `bollard`. Everything else sees `Engine`, `DebugContainer` and
//! `ContainerError`, whose messages say what to do.
//!
//! - `discover`: which engine the Docker CLI would use (`DOCKER_HOST`, TLS
//!   settings, Docker contexts), else the default socket and Podman's; pure.
//! - `engine`: connecting to it with bollard's connectors (socket, TCP, TLS,
//!   SSH), and turning API errors into `ContainerError`s.
//! - `reach`: whether the engine shares this machine's loopback; SSH failures.
//! - `launch`: creating and starting a debug container, ports on 127.0.0.1.
//! - `inject`: choosing the debugger mode; copying debugpy and the bootstrap in.
//! - `offload`: `inject`'s host-side work (running python3, packing debugpy)
//!   on the blocking pool, off the runtime's threads.
//! - `exec`: DAP through `docker exec` (no published debug port).
//! - `image`: `dockdap image debug`, a debuggable variant of an image.
//! - `build`: building an image from a Dockerfile (the demo's example image).
//! - `ready`: telling when debugpy really listens inside the container.
//! - `logs`: streaming the container's output, keeping a tail for diagnoses.
//! - `diagnose`: a plain-language reading of why a container died.
//! - `reap`: labels, and removing what dead dockdap processes left behind.
//! - `tune`: the TCP_NODELAY bootstrap for debugpy's sockets (`tuneDebugger`).
//! - `archive`: a container's files: change list, stat, archives out and in.
//! - `commit`: snapshots (`docker commit`), their tags, labels and warnings.
//! - `inspect`: the engine's version, image and container facts, output,
//!   stopping (for the command-line helpers).
//! - `probe`: throwaway containers that run a short Python program (`doctor`).
//! - `pull`: pulling from a registry with the user's Docker credentials.
//! - `watchdog`: removes a session's container when its dockdap dies unclean.

pub mod archive;
pub mod build;
pub mod commit;
pub mod diagnose;
pub mod discover;
pub mod engine;
pub mod exec;
pub mod image;
pub mod inject;
pub mod inspect;
pub mod launch;
pub mod logs;
pub mod offload;
pub mod probe;
pub mod pull;
pub mod reach;
pub mod ready;
pub mod reap;
pub mod tune;
pub mod watchdog;

pub use archive::ContainerRef;
pub use engine::{ContainerError, Engine};
pub use launch::{AdapterStream, DebugContainer};

/// Label: the session that created the object.
pub const LABEL_SESSION: &str = "dockdap.session";
/// Label: the pid of the dockdap process that owns the object.
pub const LABEL_PID: &str = "dockdap.pid";
/// Label: the image the container was started from.
pub const LABEL_IMAGE: &str = "dockdap.image";
/// Label: the host name of the machine the owning dockdap runs on (a pid
/// means nothing on another machine sharing a remote engine).
pub const LABEL_HOST: &str = "dockdap.host";
/// Label: the container is meant to outlive the dockdap process that
/// started it (`keepContainer`, `dockdap up`), so reaping leaves it alone;
/// `dockdap down` removes it.
pub const LABEL_KEEP: &str = "dockdap.keep";
