//! Connecting to the engine the Docker CLI would use, and errors a user can
//! act on.
//!
//! `discover` works out the candidates (`DOCKER_HOST`, `DOCKER_CONTEXT`, the
//! CLI's current context, else the default socket and then Podman's);
//! `connect` takes the first that answers, with bollard's own connectors
//! (Unix socket, HTTP, TLS with rustls), and for SSH `ssh::connect`
//! (the system `ssh` and `docker system dial-stdio`, one login per process), and records how it was found and whether it
//! shares this machine's loopback (`reach`). API errors become
//! `ContainerError` variants that name the cause and the fix; a 404 on an
//! image becomes "image not found: build it first", not "status 404", and an
//! answer from the engine that dockdap has no reading for is shown as the
//! engine said it.

use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::{API_DEFAULT_VERSION, Docker};

use super::discover::{self, Address, Candidate, DockerEnv, Origin};
use super::reach::{self, Locality};

/// bollard's timeout for one request, in seconds (its own default).
const REQUEST_TIMEOUT: u64 = 120;
/// How long the first answer may take; the Docker CLI's SSH connect timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

pub use crate::runtime::ContainerError;

/// A connection to the Docker Engine, where it is and how it was found.
#[derive(Debug, Clone)]
pub struct Engine {
    /// The bollard client: private to the Docker runtime.
    pub(super) docker: Docker,
    /// The address, for messages (`unix:///var/run/docker.sock`, `ssh://root@host`).
    pub host: String,
    /// How it was found: "DOCKER_HOST=ssh://root@10.0.0.2 (environment)",
    /// "context `remote` (~/.docker/config.json) at ...", "Podman socket /run/podman/podman.sock".
    pub found: String,
    /// Whether it shares this machine's loopback.
    pub locality: Locality,
    /// Where it is, for error readings.
    address: Address,
}

impl Engine {
    /// Connects as the Docker CLI would and checks that the engine answers;
    /// with nothing configured, falls back to Podman's sockets when the
    /// default socket is missing or refuses.
    pub async fn connect() -> Result<Engine, ContainerError> {
        Engine::connect_with(&DockerEnv::from_process()).await
    }

    /// `connect` with the variables given rather than this process's.
    pub async fn connect_with(env: &DockerEnv) -> Result<Engine, ContainerError> {
        let candidates = discover::candidates(env)?;
        let mut first_failure = None;
        for candidate in &candidates {
            if let (Origin::Podman, Address::Unix(path)) = (&candidate.origin, &candidate.address)
                && !path.exists()
            {
                continue;
            }
            match Engine::connect_to(candidate).await {
                Ok(engine) => return Ok(engine),
                Err(e @ ContainerError::Unreachable { .. }) if !candidate.origin.is_configured() => {
                    tracing::debug!(engine = %candidate, error = %e, "no engine there; trying the next");
                    first_failure.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(first_failure.unwrap_or_else(|| ContainerError::Api("no engine to try".into())))
    }

    /// Connects to one candidate with bollard's connector for its kind.
    async fn connect_to(candidate: &Candidate) -> Result<Engine, ContainerError> {
        let address = candidate.address.clone();
        let host = address.url();
        let docker = match &address {
            Address::Unix(_) => unix_socket(&host),
            Address::NamedPipe(_) => named_pipe(&host),
            Address::Tcp { tls: None, .. } => Docker::connect_with_http(&host, REQUEST_TIMEOUT, API_DEFAULT_VERSION),
            Address::Tcp { tls: Some(tls), .. } => {
                // One process-wide provider, whatever else links rustls in.
                let _ = rustls::crypto::ring::default_provider().install_default();
                Docker::connect_with_ssl(&host, &tls.key, &tls.cert, &tls.ca, REQUEST_TIMEOUT, API_DEFAULT_VERSION)
            }
            Address::Ssh { user, host: name, port } => {
                super::ssh::connect(&host, reach::ssh_target(user.as_deref(), name, *port), REQUEST_TIMEOUT).await
            }
        };
        let found = candidate.to_string();
        let docker = docker.map_err(|e| unreachable(&address, &host, &found, error_chain(&e)))?;
        let mut engine = Engine { docker, host, found, locality: Locality::Local, address };
        match tokio::time::timeout(CONNECT_TIMEOUT, engine.docker.ping()).await {
            Err(_) => {
                return Err(engine.unreachable_because(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())));
            }
            Ok(Err(e)) => return Err(engine.connect_error(&e).await),
            Ok(Ok(_)) => {}
        }
        engine.locality = reach::locality(&engine.address, &engine.docker).await;
        tracing::debug!(engine = %engine.found, locality = ?engine.locality, "connected");
        Ok(engine)
    }

    /// Whether the engine is on another machine (its 127.0.0.1 is not ours).
    pub fn is_remote(&self) -> bool {
        self.locality.is_remote()
    }

    /// The right error for a failed first contact: TLS and SSH failures name
    /// their cause; an engine that answered is never called unreachable.
    async fn connect_error(&self, e: &BollardError) -> ContainerError {
        let text = error_chain(e);
        match (&self.address, e) {
            (_, BollardError::DockerResponseServerError { message, .. })
                if message.contains("HTTP request to an HTTPS server") =>
            {
                ContainerError::TlsRequired { host: self.host.clone(), found: self.found.clone() }
            }
            (_, BollardError::DockerResponseServerError { message, .. }) => ContainerError::Api(message.clone()),
            (Address::Tcp { tls: Some(tls), .. }, _) if is_tls_failure(&text) => tls_error(&self.host, tls, text),
            (Address::Ssh { user, host, port }, _) => match reach::diagnose_ssh(user.as_deref(), host, *port).await {
                Some(trouble) => {
                    ContainerError::Ssh { host: self.host.clone(), said: trouble.said, advice: trouble.advice }
                }
                None => self.unreachable(e),
            },
            _ => self.unreachable(e),
        }
    }

    /// The right error for a failed connection.
    fn unreachable(&self, e: &BollardError) -> ContainerError {
        self.unreachable_because(error_chain(e))
    }

    fn unreachable_because(&self, reason: String) -> ContainerError {
        unreachable(&self.address, &self.host, &self.found, reason)
    }

    /// Maps an API error; `subject` names what the call was about.
    pub(super) fn error(&self, e: BollardError, subject: Subject<'_>) -> ContainerError {
        match (&e, subject) {
            (BollardError::DockerResponseServerError { status_code: 404, .. }, Subject::Image(image)) => {
                ContainerError::ImageNotFound { image: image.to_owned() }
            }
            (BollardError::DockerResponseServerError { status_code: 404, .. }, Subject::Container(name)) => {
                ContainerError::ContainerNotFound { name: name.to_owned() }
            }
            // A 409 is a name conflict only when the engine says so (Podman
            // answers 409 for other conflicts too).
            (BollardError::DockerResponseServerError { status_code: 409, message }, Subject::Container(name))
                if message.contains("already in use") =>
            {
                ContainerError::NameConflict { name: name.to_owned() }
            }
            (BollardError::DockerResponseServerError { message, .. }, _) => ContainerError::Api(message.clone()),
            _ => {
                let text = error_chain(&e);
                if text.contains("onnect") || text.contains("No such file") || text.contains("ermission denied") {
                    self.unreachable(&e)
                } else {
                    ContainerError::Api(text)
                }
            }
        }
    }
}

/// bollard's named-pipe connector (Windows only).
#[cfg(windows)]
fn named_pipe(url: &str) -> Result<Docker, BollardError> {
    Docker::connect_with_named_pipe(url, REQUEST_TIMEOUT, API_DEFAULT_VERSION)
}

/// A Unix socket, with bollard's connector for it.
#[cfg(unix)]
fn unix_socket(url: &str) -> Result<Docker, BollardError> {
    Docker::connect_with_unix(url, REQUEST_TIMEOUT, API_DEFAULT_VERSION)
}

/// Windows's engines listen on a named pipe (or TCP); a `unix://` address
/// there is refused when used.
#[cfg(not(unix))]
fn unix_socket(url: &str) -> Result<Docker, BollardError> {
    Err(BollardError::IOError {
        err: std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!("{url} is a Unix socket, which dockdap cannot use on Windows; use npipe:// or tcp://"),
        ),
    })
}

/// Named pipes are Windows's; elsewhere the address is refused when used.
#[cfg(not(windows))]
fn named_pipe(url: &str) -> Result<Docker, BollardError> {
    Err(BollardError::IOError {
        err: std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!("{url} is a Windows named pipe, and named pipes exist only on Windows"),
        ),
    })
}

/// Nothing answers at `address` (or this user may not use its socket).
fn unreachable(address: &Address, host: &str, found: &str, reason: String) -> ContainerError {
    if reason.contains("ermission denied") && matches!(address, Address::Unix(_)) {
        return ContainerError::PermissionDenied { host: host.to_owned() };
    }
    let advice = match address {
        Address::Unix(_) if found.starts_with("the default socket") => {
            "is Docker running? Start it (e.g. `sudo systemctl start docker`) or point DOCKER_HOST at it".to_owned()
        }
        Address::Unix(_) => {
            format!("is Docker running? Start the engine behind that socket, or correct the setting ({found})")
        }
        Address::NamedPipe(_) if !cfg!(windows) => {
            format!("point DOCKER_HOST or the context at unix://, tcp:// or ssh:// here (found through {found})")
        }
        _ => format!(
            "is the engine running there and listening on that address? (found through {found}; `docker version` tries the same)"
        ),
    };
    ContainerError::Unreachable { host: host.to_owned(), reason, advice }
}

/// rustls's words for a handshake that failed on a certificate or on the
/// other side not speaking TLS.
fn is_tls_failure(text: &str) -> bool {
    ["invalid peer certificate", "fatal alert", "corrupt message", "InvalidContentType", "tls handshake"]
        .iter()
        .any(|part| text.contains(part))
}

/// A TLS failure with the fix for its side.
fn tls_error(host: &str, tls: &discover::Tls, reason: String) -> ContainerError {
    let advice = if reason.contains("invalid peer certificate") {
        format!(
            "the engine's certificate is not signed by {} or does not name the host in DOCKER_HOST; check that the certificates ({}) are this engine's",
            tls.ca.display(),
            tls.from
        )
    } else if reason.contains("fatal alert") {
        format!(
            "the engine refused the client certificate {} ({}); it must be signed by the CA the engine was started with (`dockerd --tlscacert`)",
            tls.cert.display(),
            tls.from
        )
    } else {
        "the engine does not speak TLS on that port; unset DOCKER_TLS_VERIFY, or use the engine's TLS port (usually 2376)"
            .to_owned()
    };
    ContainerError::Tls { host: host.to_owned(), reason, advice }
}

/// What an API call was about, for error messages.
#[derive(Debug, Clone, Copy)]
pub(super) enum Subject<'a> {
    /// An image, by reference.
    Image(&'a str),
    /// A container, by name or id.
    Container(&'a str),
    /// Nothing in particular.
    Engine,
}

/// An error and its sources, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        let address = Address::Unix("/nonexistent.sock".into());
        Engine {
            docker: Docker::connect_with_http("tcp://127.0.0.1:1", 1, API_DEFAULT_VERSION).unwrap(),
            host: address.url(),
            found: "DOCKER_HOST=unix:///nonexistent.sock (environment)".into(),
            locality: Locality::Local,
            address,
        }
    }

    fn server_error(status_code: u16, message: &str) -> BollardError {
        BollardError::DockerResponseServerError { status_code, message: message.into() }
    }

    #[test]
    fn a_409_is_a_name_conflict_only_when_the_engine_says_so() {
        let docker = r#"Conflict. The container name "/x" is already in use by container "0123". You have to remove (or rename) that container to be able to reuse that name."#;
        let e = engine().error(server_error(409, docker), Subject::Container("x"));
        assert!(matches!(e, ContainerError::NameConflict { .. }), "{e}");
        let podman = "creating container storage: the container name \"x\" is already in use by 0123. You have to remove that container to be able to reuse that name: that name is already in use";
        let e = engine().error(server_error(409, podman), Subject::Container("x"));
        assert!(matches!(e, ContainerError::NameConflict { .. }), "{e}");
        // Podman 4.3 answers an attach to a container that cannot start with 409.
        let attach = "preparing container 8933 for attach: runc: runc create failed: unable to start container process: error during container init: error setting rlimits for ready process: error setting rlimit type 7: operation not permitted: OCI permission denied";
        let e = engine().error(server_error(409, attach), Subject::Container("x"));
        assert_eq!(e.to_string(), format!("the engine said: {attach}"));
    }

    #[test]
    fn only_the_default_socket_suggests_starting_docker() {
        let default = unreachable(
            &Address::Unix(discover::DEFAULT_SOCKET.into()),
            "unix:///var/run/docker.sock",
            "the default socket /var/run/docker.sock",
            "refused".into(),
        );
        assert!(default.to_string().contains("systemctl start docker"), "{default}");
        let tcp = Address::Tcp { host: "10.0.0.5".into(), port: 2375, tls: None };
        let remote =
            unreachable(&tcp, "tcp://10.0.0.5:2375", "DOCKER_HOST=tcp://10.0.0.5:2375 (environment)", "refused".into());
        assert!(!remote.to_string().contains("systemctl"), "{remote}");
        assert!(remote.to_string().contains("listening on that address"), "{remote}");
    }
}
