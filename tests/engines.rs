//! Engines other than the machine's own, for real (`scripts/engines.sh`): a
//! second Docker Engine in its own network namespace reached over TCP with
//! TLS and over SSH, the same through a Docker context, and Podman's API
//! service. Each is found as the Docker CLI finds it, runs a container and
//! removes it; each is told local or remote by what it is; each way of
//! getting the connection wrong says what is wrong.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use dockdap::runtime::ContainerError;
use dockdap::runtime::docker::Engine;
use dockdap::runtime::docker::discover::DockerEnv;
use dockdap::runtime::docker::probe::{self, PythonProgram};
use sha2::{Digest, Sha256};
use support::engines::{engines, plain_env};
use tokio_util::sync::CancellationToken;

/// Runs a short program in a throwaway container on `engine` and checks
/// what it printed and that the container is gone.
async fn runs_a_container(engine: &Engine, docker_host_args: &[&str]) {
    let marker = format!("dockdap-engines-{}", std::process::id());
    let program = PythonProgram {
        image: support::STOCK_IMAGE.into(),
        code: "import sys, platform; print(sys.argv[1], platform.python_version())".into(),
        args: vec![marker.clone()],
        env: vec![],
        working_dir: None,
        no_network: false,
        timeout: Duration::from_secs(60),
    };
    let run =
        probe::run_python(engine, &program, &CancellationToken::new()).await.unwrap().expect("python3 in the image");
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.starts_with(&format!("{marker} 3.")), "{run:?}");
    // Nothing left behind: the probe container carried its command line.
    let out = std::process::Command::new("docker")
        .args(docker_host_args)
        .args(["ps", "-a", "--no-trunc", "--format", "{{.Command}}"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&marker), "a container was left: {out:?}");
}

#[tokio::test]
async fn tls_engine_in_another_namespace_is_found_remote_and_runs_a_container() {
    let Some(e) = engines() else { return };
    let certs = e.var("DOCKDAP_ENGINE_TLS_CERTS");
    let engine = Engine::connect_with(&e.tls_env(&certs)).await.unwrap();
    let host = e.var("DOCKDAP_ENGINE_TLS_HOST");
    assert_eq!(engine.found, format!("DOCKER_HOST={host} (environment)"));
    assert!(engine.is_remote(), "{:?}", engine.locality);
    let tlsverify = ["-H", &host, "--tlsverify", "--tlscacert", &format!("{certs}/ca.pem")];
    let client = [&format!("--tlscert={certs}/cert.pem"), &format!("--tlskey={certs}/key.pem")];
    let args: Vec<&str> = tlsverify.iter().copied().chain(client.iter().map(|s| s.as_str())).collect();
    runs_a_container(&engine, &args).await;
}

#[tokio::test]
async fn ssh_engine_is_found_remote_and_runs_a_container() {
    let Some(e) = engines() else { return };
    let engine = Engine::connect_with(&e.host_env("DOCKDAP_ENGINE_SSH_HOST")).await.unwrap();
    let host = e.var("DOCKDAP_ENGINE_SSH_HOST");
    assert_eq!(engine.found, format!("DOCKER_HOST={host} (environment)"));
    assert!(engine.is_remote(), "{:?}", engine.locality);
    runs_a_container(&engine, &["-H", &host]).await;
}

#[tokio::test]
async fn podman_is_found_local_and_runs_a_container() {
    let Some(e) = engines() else { return };
    let engine = Engine::connect_with(&e.host_env("DOCKDAP_ENGINE_PODMAN_HOST")).await.unwrap();
    assert!(!engine.is_remote(), "{:?}", engine.locality);
    runs_a_container(&engine, &["-H", &e.var("DOCKDAP_ENGINE_PODMAN_HOST")]).await;
}

#[tokio::test]
async fn with_nothing_configured_and_no_docker_socket_podman_is_used() {
    let Some(e) = engines() else { return };
    let env = DockerEnv { default_socket: PathBuf::from("/nonexistent/docker.sock"), ..plain_env() };
    let engine = Engine::connect_with(&env).await.unwrap();
    let podman = e.var("DOCKDAP_ENGINE_PODMAN_HOST");
    assert_eq!(format!("unix://{}", engine.found.trim_start_matches("Podman socket ")), podman);
    assert_eq!(engine.host, podman);
}

#[tokio::test]
async fn the_current_context_with_tls_material_reaches_the_tls_engine() {
    let Some(e) = engines() else { return };
    let home = tempfile::tempdir().unwrap();
    let docker = home.path().join(".docker");
    let name = "remote-tls";
    let digest: String = Sha256::digest(name.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    let meta = docker.join("contexts/meta").join(&digest);
    let tls = docker.join("contexts/tls").join(&digest).join("docker");
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::create_dir_all(&tls).unwrap();
    let host = e.var("DOCKDAP_ENGINE_TLS_HOST");
    let endpoint = serde_json::json!({"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}}});
    std::fs::write(meta.join("meta.json"), endpoint.to_string()).unwrap();
    for file in ["ca.pem", "cert.pem", "key.pem"] {
        std::fs::copy(Path::new(&e.var("DOCKDAP_ENGINE_TLS_CERTS")).join(file), tls.join(file)).unwrap();
    }
    std::fs::write(docker.join("config.json"), format!(r#"{{"currentContext": "{name}"}}"#)).unwrap();
    let env = DockerEnv { home: Some(home.path().to_owned()), ..plain_env() };
    let engine = Engine::connect_with(&env).await.unwrap();
    assert_eq!(engine.found, format!("context `{name}` (~/.docker/config.json) at {host}"));
    assert!(engine.is_remote());
    assert!(dockdap::runtime::docker::inspect::image_info(&engine, support::STOCK_IMAGE).await.is_ok());
}

#[tokio::test]
async fn a_socket_served_from_another_network_namespace_is_remote() {
    let Some(e) = engines() else { return };
    let engine = Engine::connect_with(&e.host_env("DOCKDAP_ENGINE_REMOTE_SOCKET")).await.unwrap();
    let dockdap::runtime::docker::reach::Locality::Remote { why } = &engine.locality else {
        panic!("the namespace's engine was taken as local");
    };
    assert!(why.contains("runs in another network namespace"), "{why}");
    let local = Engine::connect_with(&plain_env()).await;
    if let Ok(local) = local {
        assert!(!local.is_remote(), "the machine's own engine was taken as remote: {:?}", local.locality);
    }
}

/// The message of a failed connection.
async fn failure(env: &DockerEnv) -> String {
    match Engine::connect_with(env).await {
        Ok(engine) => panic!("connected to {} ({})", engine.host, engine.found),
        Err(e) => e.to_string(),
    }
}

#[track_caller]
fn says(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "{part:?} not in: {message}");
    }
    assert!(!message.contains("systemctl"), "an engine that answered is not a stopped service: {message}");
}

#[tokio::test]
async fn tls_mistakes_say_what_is_wrong() {
    let Some(e) = engines() else { return };
    let host = e.var("DOCKDAP_ENGINE_TLS_HOST");
    // The TLS engine without TLS settings: it answers, in TLS terms.
    let plain = failure(&e.host_env("DOCKDAP_ENGINE_TLS_HOST")).await;
    says(
        &plain,
        &[&format!("the engine at {host}"), "speaks only TLS", "set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH"],
    );
    // A certificate folder that is not there.
    let missing = failure(&e.tls_env("/nonexistent/certs")).await;
    says(&missing, &[&format!("cannot use the TLS certificates for {host}"), "there is no /nonexistent/certs/ca.pem"]);
    // Certificates of another authority: the engine's certificate is not trusted.
    let stranger = e.var("DOCKDAP_ENGINE_TLS_STRANGER_CERTS");
    let foreign = failure(&e.tls_env(&stranger)).await;
    says(&foreign, &["UnknownIssuer", &format!("is not signed by {stranger}/ca.pem")]);
    // The right CA, but a client certificate the engine does not accept.
    let dir = tempfile::tempdir().unwrap();
    let certs = e.var("DOCKDAP_ENGINE_TLS_CERTS");
    std::fs::copy(Path::new(&certs).join("ca.pem"), dir.path().join("ca.pem")).unwrap();
    for file in ["cert.pem", "key.pem"] {
        std::fs::copy(Path::new(&stranger).join(file), dir.path().join(file)).unwrap();
    }
    let refused = failure(&e.tls_env(dir.path().to_str().unwrap())).await;
    says(&refused, &["the engine refused the client certificate", "cert.pem"]);
    assert!(matches!(
        Engine::connect_with(&e.tls_env(dir.path().to_str().unwrap())).await,
        Err(ContainerError::Tls { .. })
    ));
}

#[tokio::test]
async fn ssh_mistakes_say_what_is_wrong() {
    let Some(e) = engines() else { return };
    let no_docker = failure(&e.host_env("DOCKDAP_ENGINE_SSH_NODOCKER_HOST")).await;
    says(&no_docker, &["docker: command not found", "there is no `docker` command on dockdap-remote-nodocker"]);
    let wrong_key = failure(&e.host_env("DOCKDAP_ENGINE_SSH_WRONG_HOST_KEY_HOST")).await;
    says(&wrong_key, &["Host key verification failed", "ssh-keygen -R"]);
    let no_login = failure(&e.host_env("DOCKDAP_ENGINE_SSH_NO_KEY_HOST")).await;
    says(&no_login, &["Permission denied (publickey)", "the login was refused"]);
}

/// `dockdap doctor` against the SSH engine says which engine it used, how
/// it was found, and that it is remote.
#[tokio::test]
async fn doctor_names_the_engine_and_how_it_was_found() {
    let Some(e) = engines() else { return };
    let host = e.var("DOCKDAP_ENGINE_SSH_HOST");
    let out = tokio::process::Command::new(support::dockdap_bin())
        .args(["doctor", support::STOCK_IMAGE])
        .env("DOCKER_HOST", &host)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line =
        stdout.lines().find(|l| l.contains("Docker Engine") && l.contains(" at ")).unwrap_or_else(|| panic!("{out:?}"));
    says(
        line,
        &[
            &format!("at {host}, found through DOCKER_HOST={host} (environment); remote: "),
            "is not an address of this machine",
        ],
    );
}
