//! Pulling an image from a registry with the user's Docker credentials: the
//! seed routine's `az acr login` + `docker pull`, done when `launch`, `up` or
//! `doctor` find an image missing.
//!
//! Only references that name a registry are pulled (`myreg.azurecr.io/x:1`,
//! `localhost:5000/x`): a bare `debug:1` that is missing was meant to be
//! built locally, and pulling it from Docker Hub would fetch someone else's
//! image. Credentials are found as the Docker CLI finds them in
//! `~/.docker/config.json` (or `$DOCKER_CONFIG`): `credHelpers[registry]`,
//! else `credsStore` (both through `docker-credential-<helper> get`), else
//! the base64 `auths[registry].auth`. Progress is reported through a callback,
//! at most about once a second.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::CreateImageOptions;
use futures_util::StreamExt;

use super::engine::{ContainerError, Engine, Subject};
use super::inspect::{ImageInfo, image_info_from};

/// How often progress is reported.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// How long a credential helper may take.
const HELPER_TIMEOUT: Duration = Duration::from_secs(15);

/// The registry a reference names, if it names one: its first path
/// component when that contains a `.` or a `:`, or is `localhost`.
pub fn registry_of(reference: &str) -> Option<&str> {
    let (first, rest) = reference.split_once('/')?;
    if rest.is_empty() {
        return None;
    }
    (first.contains('.') || first.contains(':') || first == "localhost").then_some(first)
}

/// Splits a reference into the repository and the tag or digest to pull
/// (`latest` when it has neither).
pub fn pull_parts(reference: &str) -> (&str, &str) {
    if let Some((repo, digest)) = reference.split_once('@') {
        return (repo, digest);
    }
    match super::image::split_reference(reference) {
        (repo, Some(tag)) => (repo, tag),
        (repo, None) => (repo, "latest"),
    }
}

/// Inspects `image`; if it is missing and its reference names a registry,
/// pulls it (reporting progress) and inspects it again.
pub async fn inspect_or_pull(
    engine: &Engine,
    image: &str,
    progress: &mut (dyn FnMut(String) + Send),
) -> Result<bollard::models::ImageInspect, ContainerError> {
    match engine.docker.inspect_image(image).await.map_err(|e| engine.error(e, Subject::Image(image))) {
        Err(ContainerError::ImageNotFound { .. }) if registry_of(image).is_some() => {
            pull(engine, image, progress).await?;
            engine.docker.inspect_image(image).await.map_err(|e| engine.error(e, Subject::Image(image)))
        }
        other => other,
    }
}

/// `inspect_or_pull`, as plain values.
pub async fn image_info_or_pull(
    engine: &Engine,
    image: &str,
    progress: &mut (dyn FnMut(String) + Send),
) -> Result<ImageInfo, ContainerError> {
    inspect_or_pull(engine, image, progress).await.map(image_info_from)
}

/// Pulls `image` from the registry its reference names.
pub async fn pull(
    engine: &Engine,
    image: &str,
    progress: &mut (dyn FnMut(String) + Send),
) -> Result<(), ContainerError> {
    let registry = registry_of(image).unwrap_or("docker.io").to_owned();
    let (credentials, note) = match credentials_for(&registry).await {
        Ok(found) => (found, None),
        Err(note) => (None, Some(note)),
    };
    if let Some(note) = &note {
        tracing::warn!(%registry, %note, "pulling without credentials");
    }
    progress(format!(
        "pulling {image} from {registry}{}",
        if credentials.is_some() { " with your Docker credentials" } else { "" }
    ));
    let (repo, tag) = pull_parts(image);
    let options =
        CreateImageOptions { from_image: Some(repo.to_owned()), tag: Some(tag.to_owned()), ..Default::default() };
    let mut stream = engine.docker.create_image(Some(options), None, credentials);
    let mut layers: HashMap<String, (i64, i64, bool)> = HashMap::new();
    let mut last = Instant::now();
    let fail = |reason: String| pull_error(image, &registry, &reason, note.as_deref());
    while let Some(item) = stream.next().await {
        let info = match item {
            Ok(info) => info,
            Err(bollard::errors::Error::DockerResponseServerError { message, .. }) => return Err(fail(message)),
            Err(e) => {
                return Err(match engine.error(e, Subject::Image(image)) {
                    ContainerError::Api(reason) => fail(reason),
                    other => other,
                });
            }
        };
        if let Some(detail) = info.error_detail {
            return Err(fail(detail.message.unwrap_or_else(|| "the registry refused the pull".into())));
        }
        if let (Some(id), Some(status)) = (&info.id, &info.status) {
            let entry = layers.entry(id.clone()).or_insert((0, 0, false));
            if let Some(detail) = &info.progress_detail {
                entry.0 = detail.current.unwrap_or(entry.0);
                entry.1 = detail.total.unwrap_or(entry.1);
            }
            entry.2 |= status.starts_with("Pull complete") || status.starts_with("Already exists");
        }
        if last.elapsed() >= PROGRESS_EVERY && !layers.is_empty() {
            last = Instant::now();
            let done = layers.values().filter(|l| l.2).count();
            let current: i64 = layers.values().map(|l| l.0).sum();
            let total: i64 = layers.values().map(|l| l.1).sum();
            progress(format!(
                "pulling {image}: {done}/{} layers, {:.1} of {:.1} MB",
                layers.len(),
                mb(current),
                mb(total)
            ));
        }
    }
    progress(format!("pulled {image}"));
    Ok(())
}

fn mb(bytes: i64) -> f64 {
    bytes as f64 / 1_000_000.0
}

/// The error for a failed pull, with what to do about its likely cause.
fn pull_error(image: &str, registry: &str, reason: &str, note: Option<&str>) -> ContainerError {
    let lower = reason.to_ascii_lowercase();
    let advice = if lower.contains("unauthorized")
        || lower.contains("denied")
        || lower.contains("authentication required")
        || lower.contains("no basic auth")
    {
        format!(
            "log in to the registry first (`docker login {registry}`; for Azure Container Registry `az acr login --name {}`)",
            registry.split('.').next().unwrap_or(registry)
        )
    } else if lower.contains("manifest unknown") || lower.contains("not found") || lower.contains("does not exist") {
        format!("the registry has no image {image}: check the repository name and the tag")
    } else if lower.contains("connection refused")
        || lower.contains("no such host")
        || lower.contains("timeout")
        || lower.contains("i/o timeout")
        || lower.contains("network is unreachable")
        || lower.contains("dial tcp")
    {
        format!(
            "the Docker Engine cannot reach the registry {registry}: check the name, your network or VPN, and the engine's proxy settings; or build the image locally"
        )
    } else {
        "check the image reference and that you are logged in to the registry".to_owned()
    };
    let note = note.map(|n| format!(" (no credentials were used: {n})")).unwrap_or_default();
    ContainerError::Unusable(format!(
        "image {image:?} is not in the Docker Engine and pulling it from {registry} failed: {}; {advice}{note}",
        reason.trim()
    ))
}

/// The Docker CLI's configuration folder.
fn docker_config_dir() -> Option<PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
}

/// The user's credentials for `registry`, found as the Docker CLI finds
/// them. `Ok(None)`: none configured (an anonymous pull). `Err`: configured
/// but unusable (a helper that is missing or failed), said in words.
pub async fn credentials_for(registry: &str) -> Result<Option<DockerCredentials>, String> {
    let Some(dir) = docker_config_dir() else { return Ok(None) };
    let text = match std::fs::read_to_string(dir.join("config.json")) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", dir.join("config.json").display())),
    };
    let config: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", dir.join("config.json").display()))?;
    let helper = config
        .pointer("/credHelpers")
        .and_then(|h| h.as_object())
        .and_then(|h| h.iter().find(|(k, _)| same_registry(k, registry)))
        .and_then(|(_, v)| v.as_str())
        .or_else(|| config.get("credsStore").and_then(|s| s.as_str()))
        .filter(|h| !h.is_empty());
    if let Some(helper) = helper {
        match from_helper(helper, registry).await {
            Ok(Some(found)) => return Ok(Some(found)),
            Ok(None) => {}
            Err(e) => {
                // A broken helper: the file store may still have them.
                return from_auths(&config, registry).map(Some).ok_or(e);
            }
        }
    }
    Ok(from_auths(&config, registry))
}

/// `auths[registry]` of the config file: `auth` is base64 of `user:password`.
fn from_auths(config: &serde_json::Value, registry: &str) -> Option<DockerCredentials> {
    let auths = config.get("auths")?.as_object()?;
    let (key, entry) = auths.iter().find(|(k, _)| same_registry(k, registry))?;
    let mut credentials = DockerCredentials { serveraddress: Some(key.clone()), ..Default::default() };
    if let Some(token) = entry.get("identitytoken").and_then(|t| t.as_str()).filter(|t| !t.is_empty()) {
        credentials.identitytoken = Some(token.to_owned());
    }
    if let Some(auth) = entry.get("auth").and_then(|a| a.as_str()).filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD.decode(auth.trim()).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (user, password) = decoded.split_once(':')?;
        credentials.username = Some(user.to_owned());
        credentials.password = Some(password.to_owned());
    }
    (credentials.username.is_some() || credentials.identitytoken.is_some()).then_some(credentials)
}

/// `docker-credential-<helper> get`, the registry on its stdin.
async fn from_helper(helper: &str, registry: &str) -> Result<Option<DockerCredentials>, String> {
    use tokio::io::AsyncWriteExt;
    let program = format!("docker-credential-{helper}");
    let mut child = tokio::process::Command::new(&program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("the credential helper {program} from your Docker config cannot run: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(server_url(registry).as_bytes()).await.map_err(|e| format!("{program}: {e}"))?;
    }
    let out = tokio::time::timeout(HELPER_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| format!("the credential helper {program} did not answer within {HELPER_TIMEOUT:?}"))?
        .map_err(|e| format!("{program}: {e}"))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        if said.to_ascii_lowercase().contains("not found") {
            return Ok(None);
        }
        return Err(format!("{program} get failed: {}", said.trim()));
    }
    parse_helper_reply(&out.stdout, registry).map(Some)
}

/// A helper's JSON reply; the user name `<token>` marks an identity token.
fn parse_helper_reply(reply: &[u8], registry: &str) -> Result<DockerCredentials, String> {
    let reply: serde_json::Value =
        serde_json::from_slice(reply).map_err(|e| format!("the credential helper's reply is not JSON: {e}"))?;
    let field = |name: &str| reply.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let user = field("Username").unwrap_or_default();
    let secret = field("Secret").unwrap_or_default();
    let mut credentials = DockerCredentials {
        serveraddress: field("ServerURL").or_else(|| Some(registry.to_owned())),
        ..Default::default()
    };
    if user == "<token>" {
        credentials.identitytoken = Some(secret);
    } else {
        credentials.username = Some(user);
        credentials.password = Some(secret);
    }
    Ok(credentials)
}

/// How Docker names a registry in its config: Docker Hub has its legacy URL.
fn server_url(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => "https://index.docker.io/v1/".to_owned(),
        other => other.to_owned(),
    }
}

/// Whether a config key (`https://reg.io`, `reg.io/v1/`, `reg.io`) means `registry`.
fn same_registry(key: &str, registry: &str) -> bool {
    let host = |s: &str| {
        let s = s.trim_start_matches("https://").trim_start_matches("http://");
        s.split('/').next().unwrap_or(s).to_ascii_lowercase()
    };
    let key = host(key);
    let registry = host(&server_url(registry));
    key == registry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_references_name_a_registry() {
        assert_eq!(registry_of("myreg.azurecr.io/team/score:1"), Some("myreg.azurecr.io"));
        assert_eq!(registry_of("localhost:5000/x"), Some("localhost:5000"));
        assert_eq!(registry_of("localhost/x"), Some("localhost"));
        assert_eq!(registry_of("127.0.0.1:1/x:1"), Some("127.0.0.1:1"));
        assert_eq!(registry_of("dockdap/azureml-score:debug"), None);
        assert_eq!(registry_of("debug:1"), None);
        assert_eq!(registry_of("python"), None);
    }

    #[test]
    fn pull_parts_split_tags_and_digests() {
        assert_eq!(pull_parts("reg.io:5000/a/b:2"), ("reg.io:5000/a/b", "2"));
        assert_eq!(pull_parts("reg.io:5000/a/b"), ("reg.io:5000/a/b", "latest"));
        assert_eq!(pull_parts("reg.io/a@sha256:abc"), ("reg.io/a", "sha256:abc"));
    }

    #[test]
    fn auths_are_base64_user_and_password() {
        let config = serde_json::json!({"auths": {
            "https://myreg.azurecr.io": {"auth": "dXNlcjpwYTpzcw=="},
            "other.io": {"identitytoken": "tok"},
            "https://index.docker.io/v1/": {"auth": "aHViOnNlY3JldA=="},
            "broken.io": {"auth": "%%%"}
        }});
        let found = from_auths(&config, "myreg.azurecr.io").unwrap();
        assert_eq!((found.username.as_deref(), found.password.as_deref()), (Some("user"), Some("pa:ss")));
        assert_eq!(from_auths(&config, "other.io").unwrap().identitytoken.as_deref(), Some("tok"));
        assert_eq!(from_auths(&config, "docker.io").unwrap().username.as_deref(), Some("hub"));
        assert!(from_auths(&config, "broken.io").is_none());
        assert!(from_auths(&config, "absent.io").is_none());
    }

    #[test]
    fn helper_replies() {
        let c = parse_helper_reply(br#"{"ServerURL":"r.io","Username":"<token>","Secret":"t"}"#, "r.io").unwrap();
        assert_eq!((c.identitytoken.as_deref(), c.username), (Some("t"), None));
        let c = parse_helper_reply(br#"{"Username":"u","Secret":"p"}"#, "r.io").unwrap();
        assert_eq!((c.username.as_deref(), c.password.as_deref()), (Some("u"), Some("p")));
        assert!(parse_helper_reply(b"nope", "r.io").is_err());
    }

    #[test]
    fn errors_say_what_to_do() {
        let e = pull_error(
            "127.0.0.1:1/x:1",
            "127.0.0.1:1",
            "Get \"http://127.0.0.1:1/v2/\": dial tcp 127.0.0.1:1: connect: connection refused",
            None,
        )
        .to_string();
        assert!(e.contains("cannot reach the registry 127.0.0.1:1"), "{e}");
        let e = pull_error("r.azurecr.io/x", "r.azurecr.io", "unauthorized: authentication required", None).to_string();
        assert!(e.contains("az acr login --name r"), "{e}");
    }
}
