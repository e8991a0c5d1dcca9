//! The example image `dockdap demo` debugs, made ready on a fresh machine.
//!
//! `dockdap/azureml-score:debug` is used as it is when the engine has it.
//! Otherwise it is built, about 2 minutes the first time:
//!
//! - **from the Dockerfiles** (`examples/azureml-score/Dockerfile`, then
//!   `Dockerfile.debug`) through the Engine API when the engine says a
//!   registry answers for `python:3.11-slim` (asked first, under 10 s);
//! - else **offline** by `images/build-images.sh` (debootstrap, PyPI wheels,
//!   `docker import`), after checking what that recipe needs from this
//!   machine, so that a missing piece is named with the way to get it
//!   instead of failing half-way.
//!
//! This module chooses and reports; building is `container::build` and the
//! script.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;

use super::demo::DemoError;
use crate::runtime::docker::{Engine, build, inspect};

/// The example's debug image, as `images/build-images.sh` tags it.
pub const EXAMPLE_IMAGE: &str = "dockdap/azureml-score:debug";
/// The image `Dockerfile.debug` builds on.
const STOCK_IMAGE: &str = "dockdap/azureml-score:stock";
/// The base image the offline recipe makes first (it replaces `debootstrap`).
const BASE_IMAGE: &str = "dockdap/python:3.11-bookworm";
/// What `examples/azureml-score/Dockerfile` starts from.
const DOCKERFILE_BASE: &str = "python:3.11-slim";
/// How long a network probe of the offline recipe's sources may take.
const PROBE: Duration = Duration::from_secs(3);

/// Makes sure the engine has `EXAMPLE_IMAGE`, building it if needed.
pub async fn ensure(engine: &Engine, root: &Path, out: &mut impl Write) -> Result<(), DemoError> {
    if inspect::image_info(engine, EXAMPLE_IMAGE).await.is_ok() {
        return Ok(());
    }
    writeln!(out, "  the example image {EXAMPLE_IMAGE} is missing; building it (about 2 minutes the first time)")?;
    out.flush()?;
    let no_registry = match build::registry_answers(engine, DOCKERFILE_BASE).await {
        Ok(()) => {
            writeln!(
                out,
                "  a registry answers: building from examples/azureml-score/Dockerfile (FROM {DOCKERFILE_BASE})"
            )?;
            out.flush()?;
            match from_dockerfiles(engine, root).await {
                Ok(()) => return Ok(()),
                Err(e) => format!("building from the Dockerfile failed: {e}"),
            }
        }
        Err(why) => format!("no registry answers ({why})"),
    };
    writeln!(out, "  {no_registry}; building offline with images/build-images.sh (debootstrap + PyPI wheels)")?;
    out.flush()?;
    let missing = offline_needs(&Machine::look(engine, root).await);
    if !missing.is_empty() {
        return Err(DemoError::CannotBuild { why: no_registry, missing: missing.join("\n  - ") });
    }
    offline(root).await
}

/// `Dockerfile` as `STOCK_IMAGE`, then `Dockerfile.debug` on top as `EXAMPLE_IMAGE`.
async fn from_dockerfiles(engine: &Engine, root: &Path) -> Result<(), DemoError> {
    let example = root.join("examples").join("azureml-score");
    let mut stock =
        vec![(example.join("Dockerfile"), "Dockerfile".to_owned()), (example.join("score.py"), "score.py".to_owned())];
    for file in files_under(&example.join("model"))? {
        let name = file.strip_prefix(&example).unwrap_or(&file).to_string_lossy().replace('\\', "/");
        stock.push((file, name));
    }
    let debug = [
        (example.join("Dockerfile.debug"), "examples/azureml-score/Dockerfile.debug".to_owned()),
        (root.join("images/debug/debug_entry.py"), "images/debug/debug_entry.py".to_owned()),
    ];
    let mut progress = |line: String| crate::cli::output::err(&format!("  {line}"));
    build::build_image(engine, context(&stock)?, "Dockerfile", STOCK_IMAGE, &[], &mut progress).await?;
    let args = [("BASE_IMAGE", STOCK_IMAGE)];
    build::build_image(
        engine,
        context(&debug)?,
        "examples/azureml-score/Dockerfile.debug",
        EXAMPLE_IMAGE,
        &args,
        &mut progress,
    )
    .await?;
    Ok(())
}

/// The regular files under `dir`, sorted.
fn files_under(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    Ok(files)
}

/// A build context: each file under its name in the archive.
fn context(files: &[(PathBuf, String)]) -> std::io::Result<Bytes> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    for (path, name) in files {
        builder.append_path_with_name(path, name)?;
    }
    builder.into_inner().map(Bytes::from)
}

/// What the offline recipe needs from this machine, as found.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Machine {
    /// Linux (debootstrap, bash and the recipe are Linux tools).
    linux: bool,
    bash: bool,
    /// The `docker` command (the recipe uses the CLI).
    docker_cli: bool,
    /// `python3 -m pip` works.
    pip: bool,
    /// `BASE_IMAGE` exists: no root filesystem needs to be made.
    base_image: bool,
    /// A root filesystem tarball from an earlier run is in the cache.
    rootfs_cached: bool,
    debootstrap: bool,
    root: bool,
    /// Debian's mirror answers (`None`: not asked, it is not needed).
    mirror: Option<bool>,
    /// Wheels from an earlier run are in the cache.
    wheels_cached: bool,
    /// PyPI answers (`None`: not asked, it is not needed).
    pypi: Option<bool>,
    cache: PathBuf,
}

impl Machine {
    async fn look(engine: &Engine, root: &Path) -> Machine {
        let cache = std::env::var_os("DOCKDAP_CACHE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/dockdap")))
            .unwrap_or_else(|| root.join(".cache/dockdap"));
        let base_image = inspect::image_info(engine, BASE_IMAGE).await.is_ok();
        let rootfs_cached =
            has_file(&cache.join("rootfs"), |n| n.starts_with("bookworm-minbase-python3-") && n.ends_with(".tar.gz"));
        let wheels_cached = has_file(&cache.join("wheels"), |n| n.ends_with(".whl"));
        let needs_rootfs = !base_image && !rootfs_cached;
        let mirror_host = mirror_host();
        Machine {
            linux: cfg!(target_os = "linux"),
            bash: succeeds("bash", &["-c", "true"]).await,
            docker_cli: succeeds("docker", &["--version"]).await,
            pip: succeeds("python3", &["-m", "pip", "--version"]).await,
            base_image,
            rootfs_cached,
            debootstrap: succeeds("debootstrap", &["--version"]).await,
            root: is_root().await,
            mirror: if needs_rootfs { Some(answers(&mirror_host, 80).await) } else { None },
            wheels_cached,
            pypi: if wheels_cached { None } else { Some(answers("pypi.org", 443).await) },
            cache,
        }
    }
}

/// What is missing for the offline recipe, each with how to get it; empty
/// when it can run.
fn offline_needs(m: &Machine) -> Vec<String> {
    if !m.linux {
        return vec![format!(
            "the offline recipe runs on Linux only (debootstrap); on this machine build from the Dockerfiles with a registry: `docker build -t {STOCK_IMAGE} examples/azureml-score` and `docker build -f examples/azureml-score/Dockerfile.debug --build-arg BASE_IMAGE={STOCK_IMAGE} -t {EXAMPLE_IMAGE} .`"
        )];
    }
    let mut missing = Vec::new();
    if !m.bash {
        missing.push("bash: `sudo apt-get install bash`".to_owned());
    }
    if !m.docker_cli {
        missing
            .push("the docker command (the recipe uses the Docker CLI): `sudo apt-get install docker.io`".to_owned());
    }
    if !m.pip {
        missing.push(
            "pip for python3 (it downloads and installs the wheels): `sudo apt-get install python3-pip`".to_owned(),
        );
    }
    if !m.base_image && !m.rootfs_cached {
        if !m.debootstrap {
            missing.push(
                "debootstrap (it makes the Debian root filesystem): `sudo apt-get install debootstrap`".to_owned(),
            );
        }
        if !m.root {
            missing.push(
                "root, for debootstrap: run `sudo bash images/build-images.sh` once, then `cargo run -- demo` again"
                    .to_owned(),
            );
        }
        if m.mirror == Some(false) {
            missing.push(format!(
                "Debian's package mirror ({}) does not answer: debootstrap downloads from it; set DOCKDAP_DEBIAN_MIRROR to a mirror you can reach",
                mirror_host()
            ));
        }
    }
    if m.pypi == Some(false) {
        missing.push(format!(
            "PyPI (pypi.org) does not answer and the wheel cache {} is empty: the inference server's wheels come from PyPI; connect to it, or fill the cache from a machine that can (`pip download`)",
            m.cache.join("wheels").display()
        ));
    }
    missing
}

/// Runs `images/build-images.sh`; its progress goes to stderr.
async fn offline(root: &Path) -> Result<(), DemoError> {
    let script = root.join("images/build-images.sh");
    let status = tokio::process::Command::new("bash")
        .arg(&script)
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .map_err(|e| DemoError::Build(format!("cannot run {}: {e}", script.display())))?;
    if !status.success() {
        return Err(DemoError::Build(format!("{} exited with {status}", script.display())));
    }
    Ok(())
}

/// The host of `DOCKDAP_DEBIAN_MIRROR` (what the recipe uses), else Debian's.
fn mirror_host() -> String {
    let mirror = std::env::var("DOCKDAP_DEBIAN_MIRROR").unwrap_or_default();
    let host = mirror.split("://").nth(1).and_then(|rest| rest.split(['/', ':']).next()).unwrap_or("");
    if host.is_empty() { "deb.debian.org".to_owned() } else { host.to_owned() }
}

fn has_file(dir: &Path, wanted: impl Fn(&str) -> bool) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().any(|e| e.file_name().to_str().is_some_and(&wanted)))
        .unwrap_or(false)
}

/// Whether `program args` runs and exits 0.
async fn succeeds(program: &str, args: &[&str]) -> bool {
    tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

async fn is_root() -> bool {
    match tokio::process::Command::new("id").arg("-u").output().await {
        Ok(out) => String::from_utf8_lossy(&out.stdout).trim() == "0",
        Err(_) => false,
    }
}

/// Whether something accepts a TCP connection at `host:port` within `PROBE`.
async fn answers(host: &str, port: u16) -> bool {
    matches!(tokio::time::timeout(PROBE, tokio::net::TcpStream::connect((host, port))).await, Ok(Ok(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready() -> Machine {
        Machine {
            linux: true,
            bash: true,
            docker_cli: true,
            pip: true,
            base_image: false,
            rootfs_cached: false,
            debootstrap: true,
            root: true,
            mirror: Some(true),
            wheels_cached: false,
            pypi: Some(true),
            cache: PathBuf::from("/home/u/.cache/dockdap"),
        }
    }

    #[track_caller]
    fn check(machine: Machine, expect: &[&str]) {
        let missing = offline_needs(&machine);
        assert_eq!(missing.len(), expect.len(), "{missing:#?}");
        for (line, needle) in missing.iter().zip(expect) {
            assert!(line.contains(needle), "{line:?} should say {needle:?}");
        }
    }

    #[test]
    fn what_the_offline_recipe_lacks_is_named_with_the_fix() {
        check(ready(), &[]);
        check(Machine { debootstrap: false, ..ready() }, &["apt-get install debootstrap"]);
        check(Machine { root: false, ..ready() }, &["sudo bash images/build-images.sh"]);
        check(Machine { mirror: Some(false), ..ready() }, &["DOCKDAP_DEBIAN_MIRROR"]);
        let wheels = format!("{} is empty", std::path::Path::new("/home/u/.cache/dockdap").join("wheels").display());
        check(Machine { pypi: Some(false), ..ready() }, &[&wheels]);
        check(Machine { pip: false, docker_cli: false, ..ready() }, &["docker.io", "python3-pip"]);
        // A cached root filesystem (or the base image) needs neither debootstrap, root nor the mirror.
        let cached = Machine { rootfs_cached: true, debootstrap: false, root: false, mirror: None, ..ready() };
        check(cached, &[]);
        let based = Machine { base_image: true, debootstrap: false, root: false, mirror: None, ..ready() };
        check(based, &[]);
        check(Machine { linux: false, ..ready() }, &["Linux only"]);
    }

    #[test]
    fn the_dockerfile_context_holds_the_named_files() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let example = root.join("examples").join("azureml-score");
        let model = files_under(&example.join("model")).unwrap();
        assert!(!model.is_empty());
        let files = [(example.join("score.py"), "score.py".to_owned())];
        let archive = context(&files).unwrap();
        let mut names = Vec::new();
        for entry in tar::Archive::new(&archive[..]).entries().unwrap() {
            names.push(entry.unwrap().path().unwrap().to_string_lossy().into_owned());
        }
        assert_eq!(names, ["score.py"]);
    }
}
