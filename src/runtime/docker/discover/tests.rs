//! The discovery table: an environment and the CLI's files in a temporary
//! HOME, and the engines dockdap would try, in order, with how each was found.

use super::*;

const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const KEY: &str = "-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n";

/// The context store's folder name for a context.
fn digest(name: &str) -> String {
    Sha256::digest(name.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// `files` are (path under HOME, contents); `vars` are (name, value) with
/// `$HOME` replaced by the temporary HOME. Returns the candidates written one
/// a line as "URL [tls: FROM] = DESCRIPTION", or "error: MESSAGE".
fn run(vars: &[(&str, &str)], files: &[(&str, &str)]) -> String {
    let home = tempfile::tempdir().unwrap();
    let h = home.path().to_str().unwrap().to_owned();
    for (path, text) in files {
        let path = home.path().join(path.replace("$CTX_REMOTE", &digest("remote")).replace("$CTX_TLS", &digest("tls")));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let var = |name: &str| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.replace("$HOME", &h));
    let env = DockerEnv {
        docker_host: var("DOCKER_HOST"),
        docker_context: var("DOCKER_CONTEXT"),
        docker_tls_verify: var("DOCKER_TLS_VERIFY"),
        docker_tls: var("DOCKER_TLS"),
        docker_cert_path: var("DOCKER_CERT_PATH").map(PathBuf::from),
        docker_config: var("DOCKER_CONFIG").map(PathBuf::from),
        home: Some(home.path().to_owned()),
        xdg_runtime_dir: var("XDG_RUNTIME_DIR").map(PathBuf::from),
        uid: var("UID").map(|u| u.parse().unwrap()),
        default_socket: PathBuf::from(DEFAULT_SOCKET),
        podman_system_socket: PathBuf::from(PODMAN_SYSTEM_SOCKET),
        windows: var("WINDOWS").is_some(),
    };
    let text = match candidates(&env) {
        Ok(list) => list
            .iter()
            .map(|c| {
                let tls = match &c.address {
                    Address::Tcp { tls: Some(tls), .. } => format!(" [tls: {}]", tls.from),
                    _ => String::new(),
                };
                format!("{}{tls} = {c}", c.address.url())
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => format!("error: {e}"),
    };
    let text = text.replace(&h, "$HOME");
    // The table is about which engines are tried, in which order; on
    // Windows the same paths are written with its separator.
    if cfg!(windows) { text.replace('\\', "/") } else { text }
}

#[track_caller]
fn check(vars: &[(&str, &str)], files: &[(&str, &str)], want: &str) {
    let got = run(vars, files);
    assert_eq!(got, want.trim(), "\nvars: {vars:?}\nfiles: {files:?}");
}

#[track_caller]
fn check_error(vars: &[(&str, &str)], files: &[(&str, &str)], want: &[&str]) {
    let got = run(vars, files);
    assert!(got.starts_with("error: "), "expected an error, got {got}");
    for part in want {
        assert!(got.contains(part), "{part:?} not in {got}");
    }
}

#[test]
fn nothing_configured_tries_the_default_socket_then_podman() {
    check(
        &[("XDG_RUNTIME_DIR", "$HOME/run"), ("UID", "1000")],
        &[],
        "
unix:///var/run/docker.sock = the default socket /var/run/docker.sock
unix://$HOME/run/podman/podman.sock = Podman socket $HOME/run/podman/podman.sock
unix:///run/user/1000/podman/podman.sock = Podman socket /run/user/1000/podman/podman.sock
unix:///run/podman/podman.sock = Podman socket /run/podman/podman.sock",
    );
    check(
        &[],
        &[],
        "unix:///var/run/docker.sock = the default socket /var/run/docker.sock\nunix:///run/podman/podman.sock = Podman socket /run/podman/podman.sock",
    );
}

#[test]
fn docker_host_is_taken_as_written_and_wins_over_contexts() {
    let remote_ctx = [
        (".docker/config.json", r#"{"currentContext": "remote"}"#),
        (
            ".docker/contexts/meta/$CTX_REMOTE/meta.json",
            r#"{"Name":"remote","Endpoints":{"docker":{"Host":"ssh://me@build-vm"}}}"#,
        ),
    ];
    for (host, want) in [
        ("unix:///run/user/1000/docker.sock", "unix:///run/user/1000/docker.sock"),
        ("unix://", "unix:///var/run/docker.sock"),
        ("tcp://10.0.0.5:2375", "tcp://10.0.0.5:2375"),
        ("tcp://10.0.0.5", "tcp://10.0.0.5:2375"),
        ("10.0.0.5:2375", "tcp://10.0.0.5:2375"),
        ("tcp://[fd00::5]:2375", "tcp://[fd00::5]:2375"),
        ("tcp://build-vm:2375/", "tcp://build-vm:2375"),
        ("ssh://root@10.0.0.2", "ssh://root@10.0.0.2"),
        ("ssh://me@build-vm:2222", "ssh://me@build-vm:2222"),
        ("ssh://build-vm", "ssh://build-vm"),
    ] {
        check(
            &[("DOCKER_HOST", host), ("DOCKER_CONTEXT", "remote")],
            &remote_ctx,
            &format!("{want} = DOCKER_HOST={host} (environment)"),
        );
    }
}

#[test]
fn docker_host_with_tls_takes_the_certificates_from_docker_cert_path_or_docker_config() {
    let certs = [("certs/ca.pem", CA), ("certs/cert.pem", CA), ("certs/key.pem", KEY)];
    check(
        &[("DOCKER_HOST", "tcp://10.0.0.5:2376"), ("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", "$HOME/certs")],
        &certs,
        "tcp://10.0.0.5:2376 [tls: DOCKER_CERT_PATH=$HOME/certs] = DOCKER_HOST=tcp://10.0.0.5:2376 (environment)",
    );
    // Any non-empty value turns verification on, "0" too, as in the CLI; the
    // port defaults to 2376 with TLS.
    check(
        &[("DOCKER_HOST", "tcp://10.0.0.5"), ("DOCKER_TLS_VERIFY", "0")],
        &[(".docker/ca.pem", CA), (".docker/cert.pem", CA), (".docker/key.pem", KEY)],
        "tcp://10.0.0.5:2376 [tls: ~/.docker, the default for DOCKER_CERT_PATH] = DOCKER_HOST=tcp://10.0.0.5 (environment)",
    );
    check(
        &[("DOCKER_HOST", "tcp://10.0.0.5:2376"), ("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CONFIG", "$HOME/cfg")],
        &[("cfg/ca.pem", CA), ("cfg/cert.pem", CA), ("cfg/key.pem", KEY)],
        "tcp://10.0.0.5:2376 [tls: ~/cfg, the default for DOCKER_CERT_PATH] = DOCKER_HOST=tcp://10.0.0.5:2376 (environment)",
    );
    // TLS settings mean nothing to a socket or to SSH.
    check(
        &[("DOCKER_HOST", "ssh://root@10.0.0.2"), ("DOCKER_TLS_VERIFY", "1")],
        &certs,
        "ssh://root@10.0.0.2 = DOCKER_HOST=ssh://root@10.0.0.2 (environment)",
    );
}

#[test]
fn bad_tls_material_names_the_file_and_the_folder() {
    let vars =
        [("DOCKER_HOST", "tcp://10.0.0.5:2376"), ("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", "$HOME/nowhere")];
    check_error(
        &vars,
        &[],
        &[
            "cannot use the TLS certificates for tcp://10.0.0.5:2376 (DOCKER_CERT_PATH=$HOME/nowhere)",
            "there is no $HOME/nowhere/ca.pem",
            "ca.pem (the engine's CA), cert.pem and key.pem",
        ],
    );
    let vars =
        [("DOCKER_HOST", "tcp://10.0.0.5:2376"), ("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", "$HOME/certs")];
    check_error(&vars, &[("certs/ca.pem", CA), ("certs/cert.pem", CA)], &["there is no $HOME/certs/key.pem"]);
    check_error(
        &vars,
        &[("certs/ca.pem", "hello"), ("certs/cert.pem", CA), ("certs/key.pem", KEY)],
        &["$HOME/certs/ca.pem is not a PEM certificate"],
    );
    check_error(
        &vars,
        &[("certs/ca.pem", CA), ("certs/cert.pem", CA), ("certs/key.pem", CA)],
        &["$HOME/certs/key.pem is not a PEM private key"],
    );
}

#[test]
fn tls_without_verification_is_refused_with_the_fix() {
    check_error(
        &[("DOCKER_HOST", "tcp://10.0.0.5:2376"), ("DOCKER_TLS", "1")],
        &[],
        &[
            "DOCKER_HOST=tcp://10.0.0.5:2376 asks for TLS without checking the engine's certificate (DOCKER_TLS=1)",
            "set DOCKER_TLS_VERIFY=1",
        ],
    );
}

/// Windows: with nothing set, the named pipe Docker Desktop (and Podman's
/// Docker compatibility) serves, and no socket; a pipe named in
/// `DOCKER_HOST` or a context is taken as it is.
#[test]
fn on_windows_the_default_engine_is_the_named_pipe() {
    check(
        &[("WINDOWS", "1")],
        &[],
        "npipe:////./pipe/docker_engine = the default named pipe npipe:////./pipe/docker_engine (DOCKER_HOST is not set)",
    );
    check(
        &[("DOCKER_HOST", "npipe:////./pipe/podman-machine-default")],
        &[],
        "npipe:////./pipe/podman-machine-default = DOCKER_HOST=npipe:////./pipe/podman-machine-default (environment)",
    );
    check(
        &[("DOCKER_HOST", "npipe://"), ("WINDOWS", "1")],
        &[],
        "npipe:////./pipe/docker_engine = DOCKER_HOST=npipe:// (environment)",
    );
    let empty_context = [
        (".docker/config.json", r#"{"currentContext": "remote"}"#),
        (".docker/contexts/meta/$CTX_REMOTE/meta.json", r#"{"Name":"remote","Endpoints":{"docker":{"Host":""}}}"#),
    ];
    check(
        &[("WINDOWS", "1")],
        &empty_context,
        "npipe:////./pipe/docker_engine = context `remote` (~/.docker/config.json) at npipe:////./pipe/docker_engine",
    );
}

#[test]
fn addresses_dockdap_cannot_use_say_why() {
    for (host, want) in [
        ("npipe://C:/docker", "\"C:/docker\" is not a named pipe; write npipe:////./pipe/docker_engine"),
        ("fd://", "the scheme fd:// is not one dockdap knows"),
        ("unix://docker.sock", "\"docker.sock\" is not an absolute path"),
        ("tcp://10.0.0.5:http", "\"http\" is not a port number"),
        ("tcp://10.0.0.5:2375/v1", "a path after the host (10.0.0.5:2375/v1) is not supported"),
        ("ssh://root@", "no host name"),
        ("https://10.0.0.5", "https:// needs the TLS certificates"),
    ] {
        check_error(&[("DOCKER_HOST", host)], &[], &[&format!("DOCKER_HOST={host}: "), want]);
    }
}

#[test]
fn the_current_context_comes_with_its_tls_material() {
    let ctx = [
        (".docker/config.json", r#"{"auths": {}, "currentContext": "tls"}"#),
        (
            ".docker/contexts/meta/$CTX_TLS/meta.json",
            r#"{"Name":"tls","Metadata":{},"Endpoints":{"docker":{"Host":"tcp://10.0.0.5:2376","SkipTLSVerify":false}}}"#,
        ),
        (".docker/contexts/tls/$CTX_TLS/docker/ca.pem", CA),
        (".docker/contexts/tls/$CTX_TLS/docker/cert.pem", CA),
        (".docker/contexts/tls/$CTX_TLS/docker/key.pem", KEY),
    ];
    let tls_dir = format!("~/.docker/contexts/tls/{}/docker", digest("tls"));
    check(
        &[],
        &ctx,
        &format!("tcp://10.0.0.5:2376 [tls: {tls_dir}] = context `tls` (~/.docker/config.json) at tcp://10.0.0.5:2376"),
    );
    // DOCKER_CONTEXT chooses over the file; the environment's TLS settings
    // do not apply to a named context.
    check(
        &[("DOCKER_CONTEXT", "tls"), ("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", "$HOME/nowhere")],
        &ctx,
        &format!("tcp://10.0.0.5:2376 [tls: {tls_dir}] = context `tls` (DOCKER_CONTEXT) at tcp://10.0.0.5:2376"),
    );
    // DOCKER_CONFIG moves the whole store.
    let moved: Vec<(String, &str)> = ctx.iter().map(|(p, t)| (p.replace(".docker/", "cfg/"), *t)).collect();
    let moved: Vec<(&str, &str)> = moved.iter().map(|(p, t)| (p.as_str(), *t)).collect();
    check(
        &[("DOCKER_CONFIG", "$HOME/cfg")],
        &moved,
        &format!(
            "tcp://10.0.0.5:2376 [tls: ~/cfg/contexts/tls/{}/docker] = context `tls` (~/cfg/config.json) at tcp://10.0.0.5:2376",
            digest("tls")
        ),
    );
}

#[test]
fn contexts_without_tls_and_the_default_context() {
    let files = [
        (".docker/config.json", r#"{"currentContext": "remote"}"#),
        (
            ".docker/contexts/meta/$CTX_REMOTE/meta.json",
            r#"{"Name":"remote","Endpoints":{"docker":{"Host":"ssh://root@10.0.0.2"}}}"#,
        ),
    ];
    check(&[], &files, "ssh://root@10.0.0.2 = context `remote` (~/.docker/config.json) at ssh://root@10.0.0.2");
    check(
        &[("DOCKER_CONTEXT", "default")],
        &files,
        "unix:///var/run/docker.sock = the default socket /var/run/docker.sock\nunix:///run/podman/podman.sock = Podman socket /run/podman/podman.sock",
    );
    check(
        &[],
        &[(".docker/config.json", r#"{"currentContext": ""}"#)],
        "unix:///var/run/docker.sock = the default socket /var/run/docker.sock\nunix:///run/podman/podman.sock = Podman socket /run/podman/podman.sock",
    );
}

#[test]
fn context_problems_say_what_to_do() {
    check_error(
        &[("DOCKER_CONTEXT", "gone")],
        &[],
        &[
            "Docker context `gone` (DOCKER_CONTEXT) does not exist (no ~/.docker/contexts/meta/",
            "`docker context ls` lists the contexts",
        ],
    );
    check_error(
        &[],
        &[(".docker/config.json", r#"{"currentContext": "gone"}"#)],
        &["Docker context `gone` (~/.docker/config.json) does not exist"],
    );
    check_error(
        &[],
        &[(".docker/config.json", "{not json")],
        &["cannot read ~/.docker/config.json: key must be a string"],
    );
    check_error(
        &[("DOCKER_CONTEXT", "remote")],
        &[(
            ".docker/contexts/meta/$CTX_REMOTE/meta.json",
            r#"{"Endpoints":{"docker":{"Host":"tcp://10.0.0.5:2376","SkipTLSVerify":true}}}"#,
        )],
        &[
            "Docker context `remote` asks for TLS without checking the engine's certificate (SkipTLSVerify in its meta.json)",
        ],
    );
    check_error(
        &[("DOCKER_CONTEXT", "remote")],
        &[(".docker/contexts/meta/$CTX_REMOTE/meta.json", r#"{"Endpoints":{"docker":{"Host":"gopher://x"}}}"#)],
        &["Docker context `remote`: the scheme gopher:// is not one dockdap knows"],
    );
}
