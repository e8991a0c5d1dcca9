//! Where the container engine is, worked out the way the Docker CLI works it
//! out, and nothing more.
//!
//! In order: `DOCKER_HOST` (with `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`,
//! default `~/.docker`), else the context named by `DOCKER_CONTEXT`, else
//! the `currentContext` of `$DOCKER_CONFIG/config.json` (default
//! `~/.docker`), each context with its endpoint from
//! `contexts/meta/<sha256 of the name>/meta.json` and its TLS material from
//! `contexts/tls/<sha256>/docker/{ca,cert,key}.pem`. When none of these names
//! an engine, the default engine (on Windows the named pipe
//! `npipe:////./pipe/docker_engine`, elsewhere) the default socket, then Podman's sockets
//! (`$XDG_RUNTIME_DIR/podman/podman.sock`, `/run/user/UID/podman/podman.sock`,
//! `/run/podman/podman.sock`) in that order: the caller takes the first that
//! answers.
//!
//! Pure: reads the variables it is handed and the files they name, never the
//! process environment, never the network. Connecting, and telling whether
//! the engine is on this machine, is `engine.rs`'s and `reach.rs`'s job.
//! bollard 0.21 resolves `DOCKER_HOST` but not contexts nor the CLI's TLS
//! rules, so this is written here.

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The default Docker socket.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// Rootful Podman's API socket.
pub const PODMAN_SYSTEM_SOCKET: &str = "/run/podman/podman.sock";
/// The default engine on Windows (Docker Desktop, and Podman's Docker
/// compatibility), as the pipe's path.
pub const DEFAULT_PIPE: &str = "//./pipe/docker_engine";

/// The variables the Docker CLI reads, taken once; an empty value counts as
/// unset, as in the CLI.
#[derive(Debug, Clone, Default)]
pub struct DockerEnv {
    /// `DOCKER_HOST`.
    pub docker_host: Option<String>,
    /// `DOCKER_CONTEXT`.
    pub docker_context: Option<String>,
    /// `DOCKER_TLS_VERIFY`: any non-empty value turns verification on (also "0").
    pub docker_tls_verify: Option<String>,
    /// `DOCKER_TLS`: TLS without checking the engine's certificate.
    pub docker_tls: Option<String>,
    /// `DOCKER_CERT_PATH`.
    pub docker_cert_path: Option<PathBuf>,
    /// `DOCKER_CONFIG`.
    pub docker_config: Option<PathBuf>,
    /// `HOME`.
    pub home: Option<PathBuf>,
    /// `XDG_RUNTIME_DIR`.
    pub xdg_runtime_dir: Option<PathBuf>,
    /// This process's user id (for `/run/user/UID`).
    pub uid: Option<u32>,
    /// Where the default Docker socket is (`DEFAULT_SOCKET`; tests move it).
    pub default_socket: PathBuf,
    /// Where rootful Podman's socket is (`PODMAN_SYSTEM_SOCKET`; tests move it).
    pub podman_system_socket: PathBuf,
    /// Whether this is Windows, where the default engine is the named pipe
    /// `DEFAULT_PIPE` rather than a socket.
    pub windows: bool,
}

impl DockerEnv {
    /// The variables of this process.
    pub fn from_process() -> DockerEnv {
        let text = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let path = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        DockerEnv {
            docker_host: text("DOCKER_HOST"),
            docker_context: text("DOCKER_CONTEXT"),
            docker_tls_verify: text("DOCKER_TLS_VERIFY"),
            docker_tls: text("DOCKER_TLS"),
            docker_cert_path: path("DOCKER_CERT_PATH"),
            docker_config: path("DOCKER_CONFIG"),
            home: path("HOME"),
            xdg_runtime_dir: path("XDG_RUNTIME_DIR"),
            uid: current_uid(),
            default_socket: PathBuf::from(DEFAULT_SOCKET),
            podman_system_socket: PathBuf::from(PODMAN_SYSTEM_SOCKET),
            windows: cfg!(windows),
        }
    }

    /// The CLI's configuration folder: `DOCKER_CONFIG`, else `~/.docker`.
    fn config_dir(&self) -> Option<PathBuf> {
        self.docker_config.clone().or_else(|| self.home.as_ref().map(|h| h.join(".docker")))
    }

    /// `path` with the home folder written as `~`, for messages.
    fn tilde(&self, path: &Path) -> String {
        match self.home.as_deref().and_then(|h| path.strip_prefix(h).ok()) {
            Some(rest) => format!("~{}{}", std::path::MAIN_SEPARATOR, rest.display()),
            None => path.display().to_string(),
        }
    }
}

/// The owner of `/proc/self`, which is this process's user id.
#[cfg(unix)]
fn current_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

#[cfg(not(unix))]
fn current_uid() -> Option<u32> {
    None
}

/// How to reach an engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A Unix socket on this machine.
    Unix(PathBuf),
    /// A Windows named pipe on this machine (`//./pipe/docker_engine`).
    NamedPipe(String),
    /// TCP, with TLS when `tls` is set (always verifying the engine).
    Tcp {
        /// Host name or IP address (IPv6 without brackets).
        host: String,
        /// Port (default 2376 with TLS, 2375 without, as in the CLI).
        port: u16,
        /// Certificates, when the connection uses TLS.
        tls: Option<Tls>,
    },
    /// `docker system dial-stdio` on the far side of the system `ssh`.
    Ssh {
        /// The user, if the address names one.
        user: Option<String>,
        /// The host, as `ssh` will resolve it (it may be a `Host` alias).
        host: String,
        /// The port, if the address names one.
        port: Option<u16>,
    },
}

impl Address {
    /// The address as a URL, for bollard and for messages.
    pub fn url(&self) -> String {
        match self {
            Address::Unix(path) => format!("unix://{}", path.display()),
            Address::NamedPipe(pipe) => format!("npipe://{pipe}"),
            Address::Tcp { host, port, .. } if host.contains(':') => format!("tcp://[{host}]:{port}"),
            Address::Tcp { host, port, .. } => format!("tcp://{host}:{port}"),
            Address::Ssh { user, host, port } => {
                let user = user.as_ref().map(|u| format!("{u}@")).unwrap_or_default();
                let port = port.map(|p| format!(":{p}")).unwrap_or_default();
                format!("ssh://{user}{host}{port}")
            }
        }
    }
}

/// The certificates for a TLS connection, in the CLI's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// The authority that signed the engine's certificate.
    pub ca: PathBuf,
    /// The client certificate.
    pub cert: PathBuf,
    /// The client key.
    pub key: PathBuf,
    /// Where they were found, for messages (`DOCKER_CERT_PATH=...`, a context's folder).
    pub from: String,
}

/// How an engine address was found: what `dockdap doctor` prints and error
/// messages repeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `DOCKER_HOST`.
    DockerHost(String),
    /// A Docker context, chosen by `DOCKER_CONTEXT` or by the CLI's configuration file.
    Context {
        /// The context's name.
        name: String,
        /// What chose it: `DOCKER_CONTEXT`, or the configuration file (as `~/...`).
        chosen_by: String,
    },
    /// Nothing was configured: the default socket.
    Default,
    /// Nothing was configured and no Docker engine answered: a Podman socket.
    Podman,
}

impl Origin {
    /// Whether the user named this engine (so no other is tried in its place).
    pub fn is_configured(&self) -> bool {
        matches!(self, Origin::DockerHost(_) | Origin::Context { .. })
    }
}

/// An engine to try, and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Where it is.
    pub address: Address,
    /// How it was found.
    pub origin: Origin,
}

impl fmt::Display for Candidate {
    /// "DOCKER_HOST=ssh://root@10.0.0.2 (environment)", "context `remote`
    /// (~/.docker/config.json)", "Podman socket /run/podman/podman.sock".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.origin, &self.address) {
            (Origin::DockerHost(value), _) => write!(f, "DOCKER_HOST={value} (environment)"),
            (Origin::Context { name, chosen_by }, address) => {
                write!(f, "context `{name}` ({chosen_by}) at {}", address.url())
            }
            (Origin::Default, Address::Unix(path)) => write!(f, "the default socket {}", path.display()),
            (Origin::Default, Address::NamedPipe(_)) => {
                write!(f, "the default named pipe {} (DOCKER_HOST is not set)", self.address.url())
            }
            (Origin::Default, address) => write!(f, "the default engine {}", address.url()),
            (Origin::Podman, Address::Unix(path)) => write!(f, "Podman socket {}", path.display()),
            (Origin::Podman, address) => write!(f, "Podman at {}", address.url()),
        }
    }
}

/// Why no engine address could be worked out; each says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// The context named does not exist.
    #[error(
        "Docker context `{name}` ({chosen_by}) does not exist (no {meta}); `docker context ls` lists the contexts, `docker context use default` goes back to the default engine"
    )]
    ContextNotFound {
        /// Its name.
        name: String,
        /// What named it.
        chosen_by: String,
        /// The file that should describe it.
        meta: String,
    },
    /// A file of the CLI's configuration cannot be read as JSON.
    #[error("cannot read {path}: {reason}; fix or remove it (the `docker` command reads it too)")]
    BadFile {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The address is not one dockdap can use.
    #[error("{origin}: {problem}")]
    BadAddress {
        /// Where the address came from.
        origin: String,
        /// What is wrong and what to do.
        problem: String,
    },
    /// TLS was asked for without checking the engine's certificate.
    #[error(
        "{origin} asks for TLS without checking the engine's certificate ({what}); dockdap always checks it: set DOCKER_TLS_VERIFY=1 and put the engine's CA certificate in ca.pem beside your cert.pem and key.pem"
    )]
    TlsWithoutVerify {
        /// Where the address came from.
        origin: String,
        /// `DOCKER_TLS=1`, or the context's `SkipTLSVerify`.
        what: String,
    },
    /// The TLS certificates are missing or are not certificates.
    #[error(
        "cannot use the TLS certificates for {url} ({from}): {problem}; that folder must hold ca.pem (the engine's CA), cert.pem and key.pem (your client certificate and key), as for `docker`"
    )]
    TlsMaterial {
        /// The engine.
        url: String,
        /// Where the certificates were looked for.
        from: String,
        /// What is wrong.
        problem: String,
    },
}

impl From<DiscoveryError> for crate::runtime::ContainerError {
    fn from(e: DiscoveryError) -> Self {
        crate::runtime::ContainerError::Discovery(e.to_string())
    }
}

/// The engines to try, in order: one when the user named it (`DOCKER_HOST`,
/// a context), else the default socket followed by Podman's sockets.
pub fn candidates(env: &DockerEnv) -> Result<Vec<Candidate>, DiscoveryError> {
    if let Some(host) = &env.docker_host {
        let origin = Origin::DockerHost(host.clone());
        let label = format!("DOCKER_HOST={host}");
        let tls = env_tls(env, &label)?;
        let address = parse_host(host, tls.as_ref(), &label, &env.default_socket)?;
        let address = with_tls(address, tls, &label)?;
        return Ok(vec![Candidate { address, origin }]);
    }
    let config_dir = env.config_dir();
    let chosen = match (&env.docker_context, &config_dir) {
        (Some(name), _) => Some((name.clone(), "DOCKER_CONTEXT".to_owned())),
        (None, Some(dir)) => current_context(env, dir)?,
        (None, None) => None,
    };
    match (chosen, config_dir) {
        (Some((name, chosen_by)), Some(dir)) if name != "default" => {
            Ok(vec![context_candidate(env, &dir, name, chosen_by)?])
        }
        _ => Ok(default_candidates(env)),
    }
}

/// `currentContext` of `DIR/config.json`, with what chose it.
fn current_context(env: &DockerEnv, dir: &Path) -> Result<Option<(String, String)>, DiscoveryError> {
    let path = dir.join("config.json");
    let Some(config) = read_json(env, &path)? else {
        return Ok(None);
    };
    let name = config.get("currentContext").and_then(|c| c.as_str()).filter(|c| !c.is_empty());
    Ok(name.map(|n| (n.to_owned(), env.tilde(&path))))
}

/// A JSON file of the CLI's; `None` when it does not exist.
fn read_json(env: &DockerEnv, path: &Path) -> Result<Option<serde_json::Value>, DiscoveryError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(DiscoveryError::BadFile { path: env.tilde(path), reason: e.to_string() }),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| DiscoveryError::BadFile { path: env.tilde(path), reason: e.to_string() })
}

/// The endpoint and TLS material of a named context.
fn context_candidate(
    env: &DockerEnv,
    dir: &Path,
    name: String,
    chosen_by: String,
) -> Result<Candidate, DiscoveryError> {
    let digest: String = Sha256::digest(name.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    let meta_path = dir.join("contexts").join("meta").join(&digest).join("meta.json");
    let Some(meta) = read_json(env, &meta_path)? else {
        return Err(DiscoveryError::ContextNotFound { name, chosen_by, meta: env.tilde(&meta_path) });
    };
    let label = format!("Docker context `{name}`");
    let endpoint = meta.pointer("/Endpoints/docker");
    let host = endpoint.and_then(|e| e.get("Host")).and_then(|h| h.as_str()).unwrap_or_default();
    let origin = Origin::Context { name: name.clone(), chosen_by };
    if host.is_empty() {
        // The CLI's default context has no host: the default engine, as if unnamed.
        return Ok(Candidate { address: default_address(env), origin });
    }
    if endpoint.and_then(|e| e.get("SkipTLSVerify")).and_then(|s| s.as_bool()) == Some(true) {
        return Err(DiscoveryError::TlsWithoutVerify { origin: label, what: "SkipTLSVerify in its meta.json".into() });
    }
    let tls_dir = dir.join("contexts").join("tls").join(&digest).join("docker");
    let tls = tls_dir.join("ca.pem").exists().then(|| tls_in(&tls_dir, env.tilde(&tls_dir)));
    let address = parse_host(host, tls.as_ref(), &label, &env.default_socket)?;
    let address = with_tls(address, tls, &label)?;
    Ok(Candidate { address, origin })
}

/// The TLS material the environment asks for, if any.
fn env_tls(env: &DockerEnv, label: &str) -> Result<Option<Tls>, DiscoveryError> {
    if env.docker_tls_verify.is_none() {
        if let Some(value) = &env.docker_tls {
            return Err(DiscoveryError::TlsWithoutVerify { origin: label.into(), what: format!("DOCKER_TLS={value}") });
        }
        return Ok(None);
    }
    let (dir, from) = match (&env.docker_cert_path, env.config_dir()) {
        (Some(dir), _) => (dir.clone(), format!("DOCKER_CERT_PATH={}", dir.display())),
        (None, Some(dir)) => {
            let from = format!("{}, the default for DOCKER_CERT_PATH", env.tilde(&dir));
            (dir, from)
        }
        (None, None) => {
            return Err(DiscoveryError::BadAddress {
                origin: label.into(),
                problem: "DOCKER_TLS_VERIFY is set but neither DOCKER_CERT_PATH nor HOME is; set DOCKER_CERT_PATH to the folder with ca.pem, cert.pem and key.pem".into(),
            });
        }
    };
    Ok(Some(tls_in(&dir, from)))
}

fn tls_in(dir: &Path, from: String) -> Tls {
    Tls { ca: dir.join("ca.pem"), cert: dir.join("cert.pem"), key: dir.join("key.pem"), from }
}

/// Puts the TLS material on a TCP address after checking the files are
/// there and hold what their names say; TLS on a socket or SSH is ignored,
/// as in the CLI.
fn with_tls(address: Address, tls: Option<Tls>, label: &str) -> Result<Address, DiscoveryError> {
    let (Address::Tcp { host, port, .. }, Some(tls)) = (&address, tls) else {
        return Ok(address);
    };
    let url = Address::Tcp { host: host.clone(), port: *port, tls: None }.url();
    let problem = |problem: String| DiscoveryError::TlsMaterial { url: url.clone(), from: tls.from.clone(), problem };
    for (path, marker, what) in [
        (&tls.ca, "CERTIFICATE-----", "a PEM certificate"),
        (&tls.cert, "CERTIFICATE-----", "a PEM certificate"),
        (&tls.key, "PRIVATE KEY-----", "a PEM private key"),
    ] {
        match std::fs::read_to_string(path) {
            Ok(text) if text.contains(marker) => {}
            Ok(_) => return Err(problem(format!("{} is not {what}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(problem(format!("there is no {}", path.display())));
            }
            Err(e) => return Err(problem(format!("cannot read {}: {e}", path.display()))),
        }
    }
    tracing::debug!(%label, "TLS material checked");
    Ok(Address::Tcp { host: host.clone(), port: *port, tls: Some(tls) })
}

/// Parses a `DOCKER_HOST`-style address: `unix://PATH`, `tcp://HOST[:PORT]`,
/// `ssh://[USER@]HOST[:PORT]`; no scheme means TCP, as in the CLI.
fn parse_host(value: &str, tls: Option<&Tls>, label: &str, default_socket: &Path) -> Result<Address, DiscoveryError> {
    let bad = |problem: String| DiscoveryError::BadAddress { origin: label.to_owned(), problem };
    let (scheme, rest) = value.split_once("://").unwrap_or(("tcp", value));
    match scheme {
        "unix" if rest.is_empty() => Ok(Address::Unix(default_socket.to_owned())),
        "unix" => {
            if !rest.starts_with('/') {
                return Err(bad(format!("{rest:?} is not an absolute path; write unix:///path/to/docker.sock")));
            }
            Ok(Address::Unix(PathBuf::from(rest)))
        }
        "tcp" | "http" | "https" => {
            let default_port = if tls.is_some() || scheme == "https" { 2376 } else { 2375 };
            let (host, port) = host_port(rest).map_err(bad)?;
            if scheme == "https" && tls.is_none() {
                return Err(bad(
                    "https:// needs the TLS certificates: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH, or write tcp://".into(),
                ));
            }
            Ok(Address::Tcp { host, port: port.unwrap_or(default_port), tls: None })
        }
        "ssh" => {
            let (user, host_port_text) = match rest.rsplit_once('@') {
                Some((user, hp)) => (Some(user.to_owned()), hp),
                None => (None, rest),
            };
            let (host, port) = host_port(host_port_text).map_err(bad)?;
            Ok(Address::Ssh { user, host, port })
        }
        "npipe" => {
            // npipe:////./pipe/NAME: the pipe's path follows the scheme.
            let pipe = if rest.is_empty() { DEFAULT_PIPE } else { rest };
            if !pipe.starts_with("//") || !pipe.contains("/pipe/") {
                return Err(bad(format!("{pipe:?} is not a named pipe; write npipe:////./pipe/docker_engine")));
            }
            Ok(Address::NamedPipe(pipe.to_owned()))
        }
        other => Err(bad(format!(
            "the scheme {other}:// is not one dockdap knows; use unix://, tcp://, ssh:// or (on Windows) npipe://"
        ))),
    }
}

/// `HOST[:PORT]` or `[V6]:PORT`, with nothing after it.
fn host_port(text: &str) -> Result<(String, Option<u16>), String> {
    let text = text.strip_suffix('/').unwrap_or(text);
    if text.contains('/') {
        return Err(format!("a path after the host ({text}) is not supported; give only host and port"));
    }
    let (host, port) = if let Some(v6) = text.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| format!("unclosed [ in {text}"))?;
        (host, after.strip_prefix(':'))
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return Err("no host name".into());
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().map_err(|_| format!("{p:?} is not a port number"))?),
        None => None,
    };
    Ok((host.to_owned(), port))
}

/// The default engine: the named pipe on Windows, else the default socket.
fn default_address(env: &DockerEnv) -> Address {
    if env.windows { Address::NamedPipe(DEFAULT_PIPE.to_owned()) } else { Address::Unix(env.default_socket.clone()) }
}

/// Nothing configured: the default socket, then Podman's; on Windows, the
/// named pipe (Podman's Docker compatibility serves the same pipe).
fn default_candidates(env: &DockerEnv) -> Vec<Candidate> {
    if env.windows {
        return vec![Candidate { address: default_address(env), origin: Origin::Default }];
    }
    let mut list = vec![Candidate { address: Address::Unix(env.default_socket.clone()), origin: Origin::Default }];
    let mut podman: Vec<PathBuf> = Vec::new();
    if let Some(dir) = &env.xdg_runtime_dir {
        podman.push(dir.join("podman/podman.sock"));
    }
    if let Some(uid) = env.uid {
        podman.push(PathBuf::from(format!("/run/user/{uid}/podman/podman.sock")));
    }
    podman.push(env.podman_system_socket.clone());
    podman.dedup();
    list.extend(podman.into_iter().map(|p| Candidate { address: Address::Unix(p), origin: Origin::Podman }));
    list
}

#[cfg(test)]
mod tests;
