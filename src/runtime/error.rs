//! What can go wrong in the place debugpy runs, worded for the user: each
//! message says what happened and what to do. Runtimes map their own API
//! errors onto these (the Docker runtime in `docker::engine`); nothing here
//! knows an API.

use std::io;

/// What went wrong with the place debugpy runs, worded for the user.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// Nothing answers at the engine's address.
    #[error("cannot reach the Docker Engine at {host} ({reason}); {advice}")]
    Unreachable {
        /// The engine address tried.
        host: String,
        /// What the connection said.
        reason: String,
        /// What to check, for this kind of address.
        advice: String,
    },
    /// The engine's address could not be worked out from the environment
    /// and the Docker CLI's files (the message names the setting and the fix).
    #[error("{0}")]
    Discovery(String),
    /// The engine answered in TLS terms and the connection did not.
    #[error(
        "the engine at {host} ({found}) speaks only TLS; tell dockdap as you tell `docker`: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH to the folder with ca.pem, cert.pem and key.pem (default ~/.docker), or use a Docker context that has them"
    )]
    TlsRequired {
        /// The engine address tried.
        host: String,
        /// How it was found.
        found: String,
    },
    /// The TLS handshake failed: a certificate was refused by either side.
    #[error("TLS with the engine at {host} failed ({reason}); {advice}")]
    Tls {
        /// The engine address tried.
        host: String,
        /// What TLS said.
        reason: String,
        /// What to check.
        advice: String,
    },
    /// SSH to the engine's host, or `docker` on the far side, failed.
    #[error("cannot reach the Docker Engine over {host}: {said}; {advice}")]
    Ssh {
        /// The `ssh://` address.
        host: String,
        /// What `ssh` or the far side said.
        said: String,
        /// The fix.
        advice: String,
    },
    /// The socket exists but this user may not use it.
    #[error(
        "permission denied on the Docker socket {host}; add your user to the `docker` group (`sudo usermod -aG docker $USER`, then log in again)"
    )]
    PermissionDenied {
        /// The engine address tried.
        host: String,
    },
    /// The image is not in the engine's store (and there is no registry to pull from).
    #[error(
        "image {image:?} not found in the Docker Engine; build it first (the example image: `dockdap demo` or `images/build-images.sh`), or fix `image` in the launch configuration"
    )]
    ImageNotFound {
        /// The image asked for.
        image: String,
    },
    /// A container with that name exists and is not one dockdap may remove.
    #[error(
        "a container named {name:?} already exists; remove it (`docker rm -f {name}`) or set another `containerName`"
    )]
    NameConflict {
        /// The name.
        name: String,
    },
    /// A host port asked for in `ports` is taken.
    #[error(
        "host port {port} is already in use on 127.0.0.1; pick another host port in `ports` (e.g. \"0:{container_port}\" lets Docker choose) or stop what uses it"
    )]
    PortTaken {
        /// The host port.
        port: u16,
        /// The container port it was meant for.
        container_port: u16,
    },
    /// The container named in `attach` does not exist.
    #[error("container {name:?} not found; is it running? (`docker ps` lists the running ones)")]
    ContainerNotFound {
        /// The name or id asked for.
        name: String,
    },
    /// A folder named in a copy into the container does not exist there.
    #[error("there is no folder {path} in container {container}")]
    PathNotFound {
        /// The container.
        container: String,
        /// The path in it.
        path: String,
    },
    /// The container ended before debugpy was reachable.
    #[error("the container exited with code {code} before debugpy was ready\n{diagnosis}")]
    ExitedEarly {
        /// Its exit code.
        code: i64,
        /// What it said last, read in plain language.
        diagnosis: String,
    },
    /// debugpy never listened in time.
    #[error(
        "debugpy did not listen on port {port} in container {name} within {secs}s; the container is still running (see `docker logs {name}`). Does the image start debugpy (`debugpy.listen((\"0.0.0.0\", {port}))`)? Otherwise raise `timeout` or check `debugPort`\n{tail}"
    )]
    DebuggerTimeout {
        /// The container.
        name: String,
        /// The debug port inside it.
        port: u16,
        /// How long we waited.
        secs: f64,
        /// The last log lines.
        tail: String,
    },
    /// The Compose tool refused or failed: what it said, as it said it
    /// (with the file and line, when it gave them).
    #[error("`{command}` failed:\n{said}")]
    Compose {
        /// The command, e.g. `docker compose up`.
        command: String,
        /// Its error output.
        said: String,
    },
    /// The configuration asks for something the container cannot give.
    #[error("{0}")]
    Unusable(String),
    /// The container was paused (`docker pause`) while dockdap needed it
    /// running; nothing that needs a process in it can happen until it is
    /// resumed.
    #[error("the container {name} was paused {during}; resume it with `docker unpause {name}`")]
    Paused {
        /// The container.
        name: String,
        /// What dockdap was doing, e.g. "while dockdap waited for debugpy".
        during: String,
    },
    /// A process dockdap started in the container did not start, and the
    /// container is paused: the start raced the pause, and Docker cannot
    /// unpause, stop or remove it until its freezer cgroup is thawed by hand
    /// (runc#2753).
    #[error(
        "the container {name} was paused while dockdap started a process in it, and that process is frozen half-started: Docker now hangs on every command for this container (`docker unpause`, `docker rm`) until its freezer cgroup is thawed as root on the engine's machine (runc#2753; with cgroup v1: `echo THAWED > /sys/fs/cgroup/freezer/docker/{id}/freezer.state`); dockdap's watchdog removes the container once Docker answers again"
    )]
    Frozen {
        /// The container.
        name: String,
        /// Its id.
        id: String,
    },
    /// debugpy at an address could not be reached in time.
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
    /// The runtime cannot do this at all (a pod has no `docker commit`).
    #[error("{0}")]
    Unsupported(String),
    /// The session ended before the operation finished.
    #[error("cancelled: the debug session ended")]
    Cancelled,
    /// Any other answer from the engine, as the engine said it.
    #[error("the engine said: {0}")]
    Api(String),
}
