//! The test engines of `scripts/engines.sh`: a second Docker Engine in its
//! own network namespace (over TLS and over SSH) and Podman's API service.
//! Started once (by `.ci/run`, or here by the first test that asks, shared
//! by the rest: `up` is idempotent and locked), never stopped by a test.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use dockdap::runtime::docker::discover::DockerEnv;

use super::require;

/// What `scripts/engines.sh env` prints: addresses and certificate folders.
#[derive(Debug, Clone)]
pub struct Engines {
    vars: HashMap<String, String>,
}

impl Engines {
    /// One variable of `scripts/engines.sh env`, e.g. `DOCKDAP_ENGINE_SSH_HOST`.
    pub fn var(&self, name: &str) -> String {
        self.vars.get(name).cloned().unwrap_or_else(|| panic!("scripts/engines.sh env has no {name}"))
    }

    /// The environment a user of the TLS engine has.
    pub fn tls_env(&self, certs: &str) -> DockerEnv {
        DockerEnv {
            docker_host: Some(self.var("DOCKDAP_ENGINE_TLS_HOST")),
            docker_tls_verify: Some("1".into()),
            docker_cert_path: Some(PathBuf::from(certs)),
            ..plain_env()
        }
    }

    /// The variables a user of an engine sets, for a dockdap process: the
    /// TLS engine (`tls`), the SSH engine (`ssh`) or Podman (`podman`).
    /// Others the test process has (`DOCKER_CONTEXT`, ...) are removed.
    pub fn process_env(&self, which: &str) -> Vec<(String, String)> {
        let (host, certs) = match which {
            "tls" => (self.var("DOCKDAP_ENGINE_TLS_HOST"), self.var("DOCKDAP_ENGINE_TLS_CERTS")),
            "ssh" => (self.var("DOCKDAP_ENGINE_SSH_HOST"), String::new()),
            "podman" => (self.var("DOCKDAP_ENGINE_PODMAN_HOST"), String::new()),
            other => panic!("no test engine {other}"),
        };
        let verify = if certs.is_empty() { String::new() } else { "1".to_owned() };
        [("DOCKER_HOST", host), ("DOCKER_TLS_VERIFY", verify), ("DOCKER_CERT_PATH", certs)]
            .into_iter()
            .chain([("DOCKER_CONTEXT", String::new()), ("DOCKER_TLS", String::new())])
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
    }

    /// `docker` arguments reaching the same engine (`-H ... --tlsverify ...`).
    pub fn docker_args(&self, which: &str) -> Vec<String> {
        match which {
            "tls" => {
                let certs = self.var("DOCKDAP_ENGINE_TLS_CERTS");
                vec![
                    "-H".into(),
                    self.var("DOCKDAP_ENGINE_TLS_HOST"),
                    "--tlsverify".into(),
                    format!("--tlscacert={certs}/ca.pem"),
                    format!("--tlscert={certs}/cert.pem"),
                    format!("--tlskey={certs}/key.pem"),
                ]
            }
            "ssh" => vec!["-H".into(), self.var("DOCKDAP_ENGINE_SSH_HOST")],
            "podman" => vec!["-H".into(), self.var("DOCKDAP_ENGINE_PODMAN_HOST")],
            other => panic!("no test engine {other}"),
        }
    }

    /// The environment with only `DOCKER_HOST` set (from the named variable).
    pub fn host_env(&self, var: &str) -> DockerEnv {
        DockerEnv { docker_host: Some(self.var(var)), ..plain_env() }
    }
}

/// An environment with no Docker variable set and no HOME.
pub fn plain_env() -> DockerEnv {
    DockerEnv {
        default_socket: PathBuf::from(dockdap::runtime::docker::discover::DEFAULT_SOCKET),
        podman_system_socket: PathBuf::from(dockdap::runtime::docker::discover::PODMAN_SYSTEM_SOCKET),
        ..DockerEnv::default()
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/engines.sh")
}

/// The engines, started if they are not running; `None` (a loud skip, or a
/// failure under `CI=true`) when this machine cannot run them.
pub fn engines() -> Option<Engines> {
    static UP: OnceLock<Result<Engines, String>> = OnceLock::new();
    let up = UP.get_or_init(|| {
        let is_root = std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if !is_root {
            return Err(
                "root (scripts/engines.sh makes a network namespace and runs a second dockerd, sshd and podman)".into(),
            );
        }
        for (tool, path) in [("podman", "/usr/bin/podman"), ("openssh-server", "/usr/sbin/sshd")] {
            if !Path::new(path).exists() {
                return Err(format!("{tool} (scripts/setup.sh installs it)"));
            }
        }
        let out = std::process::Command::new("bash").arg(script()).arg("up").output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "the test engines (scripts/engines.sh up failed: {})",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        eprintln!("{}", String::from_utf8_lossy(&out.stderr).trim_end());
        let out = std::process::Command::new("bash").arg(script()).arg("env").output().map_err(|e| e.to_string())?;
        let vars = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Ok(Engines { vars })
    });
    match up {
        Ok(engines) => Some(engines.clone()),
        Err(what) => {
            require(what, false);
            None
        }
    }
}
