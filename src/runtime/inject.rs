//! Getting debugpy into a container that does not have it, and choosing how
//! the debugger starts there.
//!
//! debugpy is pure Python, so dockdap copies a debugpy package from this
//! machine into the created container through the archive API (no bind
//! mount: remote engines work too) together with its bootstrap
//! (`python/sitecustomize.py`), and puts both on `PYTHONPATH`. The bootstrap
//! then starts debugpy inside whatever Python process the image runs, however
//! it is launched (a shell-script entrypoint, a console script such as
//! `gunicorn` or `azmlinfsrv`, `python app.py`): no command is rewritten.
//!
//! This module decides and packs; `launch` does the Docker calls.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::scan::{self, Debugger, ImageFiles};
use super::tune::{SITECUSTOMIZE, TUNE_DIR};
use crate::config::{DebuggerMode, LaunchArguments};

/// Where the copied debugpy package goes in the container.
pub const PYTHON_DIR: &str = "/opt/dockdap/python";

/// The folder holding everything dockdap copies into a container (the
/// bootstrap's and debugpy's folders): on a read-only root filesystem, a
/// volume of the container's own is mounted here and the files go into it.
pub const DOCKDAP_DIR: &str = "/opt/dockdap";

/// Why debugpy could not be injected.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    /// No debugpy on this machine.
    #[error(
        "debugger \"inject\" needs a debugpy package on this machine to copy into the container, and none was found ({0}); install it (`python3 -m pip install debugpy`), or set `debugpyPath` (or DOCKDAP_DEBUGPY) to a debugpy package folder"
    )]
    NoDebugpy(String),
    /// The configured path is not a debugpy package.
    #[error("`debugpyPath` {0:?} is not a debugpy package folder (it should contain __init__.py and adapter/)")]
    NotDebugpy(PathBuf),
    /// Packing failed.
    #[error("cannot pack debugpy from {path}: {source}")]
    Pack {
        /// The package folder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The debugger mode to use, and why, for the debug console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The mode.
    pub mode: DebuggerMode,
    /// One sentence on why.
    pub reason: String,
}

/// What dockdap knows about an image before running it.
#[derive(Debug, Clone, Default)]
pub struct ImageFacts {
    /// `Entrypoint` then `Cmd`, as the container will run them.
    pub command: Vec<String>,
    /// `Env`, as `K=V`.
    pub env: Vec<String>,
    /// `ExposedPorts` keys, e.g. `5678/tcp`.
    pub exposed: Vec<String>,
    /// Labels.
    pub labels: Vec<(String, String)>,
    /// What the image's files say (read before start; empty when unread).
    pub files: ImageFiles,
}

impl ImageFacts {
    fn mentions(&self, needle: &str) -> bool {
        self.command.iter().any(|c| c.contains(needle)) || self.env.iter().any(|e| e.contains(needle))
    }
}

/// Whether the image's command runs the Azure ML inference server.
pub fn runs_azureml_server(facts: &ImageFacts) -> bool {
    facts.mentions("azmlinfsrv") || facts.mentions("azureml_inference_server_http")
}

/// Whether the command runs a pre-forking server whose workers run the app.
pub fn forks_workers(facts: &ImageFacts) -> bool {
    runs_azureml_server(facts) || facts.mentions("gunicorn") || facts.mentions("uwsgi")
}

/// `debugger: "auto"`, from what the image will really do: the image's own
/// debugpy when its command or entry script starts one as it loads (on the
/// debug port), else dockdap's debugpy (through the Azure ML server's hook
/// when it runs that server, else injected), which absorbs the debugger
/// calls the app makes itself (ptvsd's included: ptvsd is never the better
/// choice, its calls map onto debugpy).
pub fn choose(requested: DebuggerMode, facts: &ImageFacts, debug_port: u16) -> Choice {
    let reason = |mode, reason: String| Choice { mode, reason };
    match requested {
        DebuggerMode::Image => reason(DebuggerMode::Image, "as configured (`debugger: \"image\"`)".into()),
        DebuggerMode::Inject => reason(DebuggerMode::Inject, "as configured (`debugger: \"inject\"`)".into()),
        DebuggerMode::Azureml => reason(DebuggerMode::Azureml, "as configured (`debugger: \"azureml\"`)".into()),
        DebuggerMode::Auto => choose_auto(facts, debug_port),
    }
}

fn choose_auto(facts: &ImageFacts, debug_port: u16) -> Choice {
    let reason = |mode, reason: String| Choice { mode, reason };
    let port = format!("{debug_port}/tcp");
    let calls: Vec<scan::DebuggerCall> = facts.files.scripts.iter().flat_map(scan::debugger_calls).collect();
    let debugpy_missing = facts.files.has_package("debugpy") == Some(false);
    let own_listen = calls.iter().find(|c| {
        c.call == "debugpy.listen" && c.when_loaded && c.port.is_none_or(|p| p == debug_port) && !debugpy_missing
    });
    let ptvsd = calls.iter().find(|c| c.debugger == Debugger::Ptvsd);
    let hook = runs_azureml_server(facts);
    let ours = if hook { DebuggerMode::Azureml } else { DebuggerMode::Inject };
    let how = if hook { "through the Azure ML server's AZUREML_DEBUG_PORT hook" } else { "injected at start-up" };
    let absorbed = match calls.first() {
        Some(call) => {
            format!("; {} ({}) is answered by that debugger instead of starting a second one", call.call, call.at)
        }
        None => String::new(),
    };
    if facts.labels.iter().any(|(k, v)| k == "dockdap.debugger" && v == "image") {
        reason(DebuggerMode::Image, "the image is labelled dockdap.debugger=image".into())
    } else if facts.mentions("debugpy") {
        reason(DebuggerMode::Image, "the image's command starts debugpy itself".into())
    } else if let Some(call) = own_listen {
        reason(
            DebuggerMode::Image,
            format!(
                "{} calls debugpy.listen on port {debug_port} as it loads, so dockdap attaches to the image's own debugpy",
                call.at
            ),
        )
    } else if let Some(call) = ptvsd {
        reason(
            ours,
            format!(
                "{} calls {} (ptvsd, debugpy's deprecated predecessor): dockdap starts debugpy {how} and maps the script's ptvsd calls onto it",
                call.at, call.call
            ),
        )
    } else if facts.exposed.contains(&port) && !debugpy_missing {
        reason(DebuggerMode::Image, format!("the image exposes {port}, so it starts debugpy itself"))
    } else if hook {
        reason(
            DebuggerMode::Azureml,
            format!(
                "the image runs the Azure ML inference server, whose AZUREML_DEBUG_PORT hook connects each worker to the debugger{absorbed}"
            ),
        )
    } else {
        reason(
            DebuggerMode::Inject,
            format!("the image does not start debugpy as it loads, so dockdap adds it{absorbed}"),
        )
    }
}

/// Refuses commands that would ignore `PYTHONPATH` (`python -I`/`-E`).
pub fn check_wrappable(facts: &ImageFacts) -> Result<(), String> {
    let isolated = facts.command.windows(2).any(|w| {
        w[0].contains("python")
            && w[1].starts_with('-')
            && !w[1].starts_with("--")
            && (w[1].contains('I') || w[1].contains('E'))
    });
    if isolated {
        return Err(format!(
            "the image runs Python with -I or -E ({}), which ignores PYTHONPATH, so dockdap cannot start debugpy in it; set `command` to run it without those flags, or use an image that starts debugpy itself (`debugger: \"image\"`)",
            facts.command.join(" ")
        ));
    }
    Ok(())
}

/// Finds the debugpy package to copy: `debugpyPath`, else `DOCKDAP_DEBUGPY`,
/// else the one `python3` (or `python`) on this machine imports, else the
/// newest one an editor bundles (`bundled`: VS Code's Python debugger).
pub fn find_debugpy(configured: Option<&str>) -> Result<PathBuf, InjectError> {
    let configured = configured.map(str::to_owned).or_else(|| std::env::var("DOCKDAP_DEBUGPY").ok());
    if let Some(path) = configured {
        let path = PathBuf::from(path);
        return if is_debugpy(&path) { Ok(path) } else { Err(InjectError::NotDebugpy(path)) };
    }
    let mut tried = Vec::new();
    for python in ["python3", "python"] {
        let out = std::process::Command::new(python)
            .args(["-c", "import debugpy, os; print(os.path.dirname(debugpy.__file__))"])
            .output();
        match out {
            Ok(out) if out.status.success() => {
                let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
                if is_debugpy(&path) {
                    return Ok(path);
                }
                tried.push(format!("{python} gave {}", path.display()));
            }
            Ok(_) => tried.push(format!("{python} cannot import debugpy")),
            Err(_) => tried.push(format!("no {python}")),
        }
    }
    if let Some(path) = super::bundled::find() {
        tracing::info!(path = %path.display(), "no Python here imports debugpy; using the one an editor bundles");
        return Ok(path);
    }
    tried.push("no editor's extensions bundle one".into());
    Err(InjectError::NoDebugpy(tried.join("; ")))
}

/// Whether `path` is a debugpy package folder.
pub(super) fn is_debugpy(path: &Path) -> bool {
    path.join("__init__.py").is_file() && path.join("adapter").is_dir()
}

/// A tar with the bootstrap and, if given, a debugpy package, to be
/// extracted at `root`: `/`, or [`DOCKDAP_DIR`] (a volume on a read-only
/// root filesystem, where the folders above it cannot be written).
pub fn archive(debugpy: Option<&Path>, root: &str) -> Result<Bytes, InjectError> {
    let pack_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| InjectError::Pack { path, source }
    };
    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    let under =
        |dir: &str| dir.strip_prefix(root.trim_end_matches('/')).unwrap_or(dir).trim_start_matches('/').to_owned();
    append_dirs(&mut builder, &under(TUNE_DIR)).map_err(pack_err(Path::new(TUNE_DIR)))?;
    let mut file = tar::Header::new_gnu();
    file.set_entry_type(tar::EntryType::Regular);
    file.set_mode(0o644);
    file.set_size(SITECUSTOMIZE.len() as u64);
    builder
        .append_data(&mut file, format!("{}/sitecustomize.py", under(TUNE_DIR)), SITECUSTOMIZE.as_bytes())
        .map_err(pack_err(Path::new(TUNE_DIR)))?;
    if let Some(debugpy) = debugpy {
        append_dirs(&mut builder, &under(PYTHON_DIR)).map_err(pack_err(debugpy))?;
        append_tree(&mut builder, debugpy, &format!("{}/debugpy", under(PYTHON_DIR))).map_err(pack_err(debugpy))?;
    }
    builder.into_inner().map(Bytes::from).map_err(pack_err(Path::new("/")))
}

fn append_dirs(builder: &mut tar::Builder<Vec<u8>>, dir: &str) -> std::io::Result<()> {
    let mut dir_header = tar::Header::new_gnu();
    dir_header.set_entry_type(tar::EntryType::Directory);
    dir_header.set_mode(0o755);
    dir_header.set_size(0);
    let mut path = String::new();
    for part in dir.trim_start_matches('/').split('/').filter(|p| !p.is_empty()) {
        path.push_str(part);
        path.push('/');
        builder.append_data(&mut dir_header.clone(), &path, std::io::empty())?;
    }
    Ok(())
}

/// Adds a folder's regular files and folders (no links, no caches).
fn append_tree(builder: &mut tar::Builder<Vec<u8>>, from: &Path, to: &str) -> std::io::Result<()> {
    let mut stack = vec![(from.to_path_buf(), to.to_owned())];
    while let Some((dir, prefix)) = stack.pop() {
        builder.append_dir(format!("{prefix}/"), &dir)?;
        let mut entries: Vec<_> = std::fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name == "__pycache__" || name.ends_with(".pyc") {
                continue;
            }
            let kind = entry.file_type()?;
            let target = format!("{prefix}/{name}");
            if kind.is_dir() {
                stack.push((entry.path(), target));
            } else if kind.is_file() {
                builder.append_path_with_name(entry.path(), target)?;
            }
        }
    }
    Ok(())
}

/// The environment a launch adds for its debugger mode. `facts` are the
/// image's; `listen` the in-container address debugpy should listen on
/// (inject mode), `gate` the port of the in-container adapter (azureml mode).
pub fn environment(args: &LaunchArguments, mode: DebuggerMode, facts: &ImageFacts) -> Vec<String> {
    let mut env = Vec::new();
    let has = |name: &str| args.env.contains_key(name);
    match mode {
        DebuggerMode::Inject => {
            env.push("DOCKDAP_ABSORB=1".into());
            env.push(format!("DOCKDAP_LISTEN=0.0.0.0:{}", args.debug_port));
            env.push(format!("DOCKDAP_LISTEN_AT={}", if forks_workers(facts) { "fork" } else { "start" }));
            env.push(format!("DOCKDAP_WAIT={}", if args.wait_for_debugger { 1 } else { 0 }));
        }
        DebuggerMode::Azureml => {
            env.push("DOCKDAP_ABSORB=1".into());
            env.push(format!("AZUREML_DEBUG_PORT={}", args.debug_port));
            env.push(format!("DOCKDAP_GATE={}", args.debug_port));
            if !has("DOCKDAP_GATE_TIMEOUT") {
                env.push(format!("DOCKDAP_GATE_TIMEOUT={}", args.timeout.max(1.0).ceil()));
            }
        }
        DebuggerMode::Image | DebuggerMode::Auto => {}
    }
    if matches!(mode, DebuggerMode::Inject | DebuggerMode::Azureml) && forks_workers(facts) {
        // A worker paused at a breakpoint stops sending heartbeats; gunicorn
        // would kill it after WORKER_TIMEOUT (300 s in the Azure ML server).
        if !has("WORKER_TIMEOUT") {
            env.push("WORKER_TIMEOUT=86400".into());
        }
        // The bootstrap imports debugpy's and the server's modules in the
        // master, so a worker a reload forks reaches `init()` sooner
        // (`sitecustomize.py`, part 5); `"env": {"DOCKDAP_WARM": "0"}` opts out.
        if !has("DOCKDAP_WARM") {
            env.push("DOCKDAP_WARM=1".into());
        }
        if !has("GUNICORN_CMD_ARGS") {
            // Added to the image's own arguments (gunicorn's last
            // `--timeout` wins), never in place of them: an image may
            // need its `--worker-tmp-dir /dev/shm` on a read-only root.
            let image_args = facts.env.iter().rev().find_map(|e| e.strip_prefix("GUNICORN_CMD_ARGS="));
            env.push(match image_args {
                Some(args) if !args.trim().is_empty() => format!("GUNICORN_CMD_ARGS={args} --timeout 86400"),
                _ => "GUNICORN_CMD_ARGS=--timeout 86400".into(),
            });
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(command: &[&str], env: &[&str], exposed: &[&str]) -> ImageFacts {
        ImageFacts {
            command: command.iter().map(|s| (*s).to_owned()).collect(),
            env: env.iter().map(|s| (*s).to_owned()).collect(),
            exposed: exposed.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        }
    }

    fn with_script(mut f: ImageFacts, text: &str, packages: &[&str]) -> ImageFacts {
        f.files.scripts.push(scan::ScriptFile { path: "/var/azureml-app/score.py".into(), text: text.into() });
        f.files.packages = Some(packages.iter().map(|p| (*p).to_owned()).collect());
        f
    }

    #[track_caller]
    fn check(f: &ImageFacts, mode: DebuggerMode) {
        assert_eq!(choose(DebuggerMode::Auto, f, 5678).mode, mode, "{f:?}");
    }

    #[test]
    fn auto_picks_from_the_image() {
        check(
            &facts(&["python3", "-m", "azureml_inference_server_http.amlserver"], &[], &["5001/tcp"]),
            DebuggerMode::Azureml,
        );
        check(
            &facts(&["runsvdir", "/var/runit"], &["PATH=/x", "AZUREML_ENTRY_SCRIPT=score.py", "SVDIR=x"], &[]),
            DebuggerMode::Inject,
        );
        check(&facts(&["azmlinfsrv", "--entry_script", "score.py"], &[], &[]), DebuggerMode::Azureml);
        check(&facts(&["python3", "app.py"], &[], &["5678/tcp"]), DebuggerMode::Image);
        check(
            &facts(&["python3", "-m", "debugpy", "--listen", "0.0.0.0:5678", "app.py"], &[], &[]),
            DebuggerMode::Image,
        );
        check(&facts(&["python3", "app.py"], &[], &[]), DebuggerMode::Inject);
        assert_eq!(choose(DebuggerMode::Inject, &facts(&["azmlinfsrv"], &[], &[]), 5678).mode, DebuggerMode::Inject);
    }

    #[test]
    fn auto_reads_the_entry_script() {
        let server = || facts(&["azmlinfsrv", "--entry_script", "score.py"], &[], &["5001/tcp"]);
        let listen = "import debugpy\ndebugpy.listen((\"0.0.0.0\", 5678))\ndebugpy.wait_for_client()\n";
        let choice = choose(DebuggerMode::Auto, &with_script(server(), listen, &["debugpy"]), 5678);
        assert_eq!(choice.mode, DebuggerMode::Image, "{choice:?}");
        assert!(choice.reason.contains("score.py:2 calls debugpy.listen on port 5678"), "{choice:?}");
        // Another port, a conditional call, or no debugpy installed: dockdap's own, absorbing the call.
        for (text, packages) in [
            ("debugpy.listen(5679)\n", &["debugpy"][..]),
            ("def init():\n    debugpy.listen(5678)\n", &["debugpy"][..]),
            (listen, &[][..]),
        ] {
            let choice = choose(DebuggerMode::Auto, &with_script(server(), text, packages), 5678);
            assert_eq!(choice.mode, DebuggerMode::Azureml, "{text}: {choice:?}");
            assert!(choice.reason.contains("is answered by that debugger"), "{choice:?}");
        }
        let ptvsd = "import ptvsd\nptvsd.enable_attach(address=('0.0.0.0', 5678), redirect_output=True)\n";
        let mut exposed = with_script(server(), ptvsd, &["ptvsd"]);
        exposed.exposed.push("5678/tcp".into());
        let choice = choose(DebuggerMode::Auto, &exposed, 5678);
        assert_eq!(choice.mode, DebuggerMode::Azureml, "ptvsd is never the better choice: {choice:?}");
        assert!(choice.reason.contains("score.py:2 calls ptvsd.enable_attach"), "{choice:?}");
        let plain = with_script(facts(&["python3", "app.py"], &[], &[]), ptvsd, &["ptvsd"]);
        assert_eq!(choose(DebuggerMode::Auto, &plain, 5678).mode, DebuggerMode::Inject);
        let no_debugpy = with_script(facts(&["python3", "app.py"], &[], &["5678/tcp"]), "print(1)\n", &[]);
        assert_eq!(choose(DebuggerMode::Auto, &no_debugpy, 5678).mode, DebuggerMode::Inject, "nothing can listen");
    }

    #[test]
    fn isolated_python_cannot_be_wrapped() {
        assert!(check_wrappable(&facts(&["python3", "-I", "app.py"], &[], &[])).is_err());
        assert!(check_wrappable(&facts(&["/usr/bin/python3.11", "-Es", "app.py"], &[], &[])).is_err());
        assert!(check_wrappable(&facts(&["python3", "-u", "app.py"], &[], &[])).is_ok());
        assert!(check_wrappable(&facts(&["python3", "--version"], &[], &[])).is_ok());
    }

    #[test]
    fn workers_get_time_to_pause() {
        let args: LaunchArguments = serde_json::from_value(serde_json::json!({"image": "x"})).unwrap();
        let f = facts(&["azmlinfsrv"], &[], &[]);
        let env = environment(&args, DebuggerMode::Azureml, &f);
        assert!(env.contains(&"AZUREML_DEBUG_PORT=5678".to_owned()), "{env:?}");
        assert!(env.contains(&"DOCKDAP_ABSORB=1".to_owned()), "the app's own debugger calls are absorbed: {env:?}");
        assert!(env.contains(&"WORKER_TIMEOUT=86400".to_owned()));
        assert!(env.contains(&"DOCKDAP_WARM=1".to_owned()), "the master warms the workers' imports: {env:?}");
        let env = environment(&args, DebuggerMode::Inject, &f);
        assert!(env.contains(&"DOCKDAP_LISTEN_AT=fork".to_owned()), "{env:?}");
        let env = environment(&args, DebuggerMode::Inject, &facts(&["python3", "app.py"], &[], &[]));
        assert!(env.contains(&"DOCKDAP_LISTEN_AT=start".to_owned()), "{env:?}");
        assert!(!env.iter().any(|e| e.starts_with("WORKER_TIMEOUT") || e.starts_with("DOCKDAP_WARM")));
        let args: LaunchArguments =
            serde_json::from_value(serde_json::json!({"image": "x", "env": {"DOCKDAP_WARM": "0"}})).unwrap();
        let env = environment(&args, DebuggerMode::Azureml, &f);
        assert!(!env.contains(&"DOCKDAP_WARM=1".to_owned()), "the user's own setting stays: {env:?}");
    }

    #[test]
    fn archive_packs_bootstrap_and_package() {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("debugpy");
        std::fs::create_dir_all(pkg.join("adapter/__pycache__")).unwrap();
        std::fs::write(pkg.join("__init__.py"), "").unwrap();
        std::fs::write(pkg.join("adapter/__main__.py"), "x = 1").unwrap();
        std::fs::write(pkg.join("adapter/__pycache__/x.pyc"), "junk").unwrap();
        assert!(is_debugpy(&pkg));
        let names = |root: &str| -> Vec<String> {
            let bytes = archive(Some(&pkg), root).unwrap();
            let mut names: Vec<String> = tar::Archive::new(&bytes[..])
                .entries()
                .unwrap()
                .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let at_root = names("/");
        assert!(at_root.contains(&"opt/dockdap/tune/sitecustomize.py".to_owned()), "{at_root:?}");
        assert!(at_root.contains(&"opt/dockdap/python/debugpy/adapter/__main__.py".to_owned()), "{at_root:?}");
        assert!(!at_root.iter().any(|n| n.contains("__pycache__")), "{at_root:?}");
        // Into the volume of a read-only root: the same files, under it.
        let in_volume = names(DOCKDAP_DIR);
        assert!(in_volume.contains(&"tune/sitecustomize.py".to_owned()), "{in_volume:?}");
        assert!(in_volume.contains(&"python/debugpy/adapter/__main__.py".to_owned()), "{in_volume:?}");
        assert!(!in_volume.iter().any(|n| n.starts_with("opt") || n.starts_with('/')), "{in_volume:?}");
    }

    #[test]
    fn gunicorn_arguments_of_the_image_are_kept() {
        let args: LaunchArguments = serde_json::from_value(serde_json::json!({"image": "x"})).unwrap();
        let f = facts(&["gunicorn", "app:app"], &["GUNICORN_CMD_ARGS=--worker-tmp-dir /dev/shm"], &[]);
        let env = environment(&args, DebuggerMode::Inject, &f);
        assert!(env.contains(&"GUNICORN_CMD_ARGS=--worker-tmp-dir /dev/shm --timeout 86400".to_owned()), "{env:?}");
    }
}
