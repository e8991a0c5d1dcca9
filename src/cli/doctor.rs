//! `dockdap doctor [IMAGE]`: why would debugging (or serving) this image
//! fail? A checklist a user can act on, then a dry run of `init()`.
//!
//! The checks, in order, each ok / warning / problem with the fix: the
//! Docker Engine and its version (warnings for versions with known
//! problems), the image (pulled when its reference names a registry),
//! Python in it, debugpy in it or injectable from this machine, the app
//! root, the entry script (`DOCKDAP_ENTRY_SCRIPT` behind dockdap's debug
//! wrapper, else `AZUREML_ENTRY_SCRIPT`, else `score.py`; parsed with
//! Python's `ast` inside the container, never imported) with `init()` and
//! `run()`, and the model directory (`AZUREML_MODEL_DIR`) with the files the
//! script names. Then the dry run: the image's Python imports the entry
//! script and calls `init()`, without a debugger; a traceback is shown with
//! workspace paths.
//!
//! Both steps run in throwaway containers (`container::probe`): labelled,
//! no published ports, the probe without a network, always removed. The
//! exit code is 0 when no problem was found, 1 otherwise (warnings do not
//! count).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::configfile;
use super::output::{self, Progress, Style};
use super::{CliError, json_failure};
use crate::config::DEFAULT_APP_ROOT;
use crate::container::inspect::{self, EngineVersion, ImageInfo, env_lookup};
use crate::container::probe::{self, ProgramRun, PythonProgram};
use crate::container::{Engine, diagnose, inject, pull};
use crate::paths::{Mapping, PathMap, rewrite_traceback_to_host};

/// The line that carries a probe's report among whatever else it printed.
const MARKER: &str = "DOCKDAP-DOCTOR ";

/// `dockdap doctor [IMAGE]`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Without IMAGE, doctor checks the image of the dockdap launch configuration in
./.vscode/launch.json (or --config FILE), with its appRoot, localRoot and env.

Examples:
  dockdap doctor
  dockdap doctor dockdap/azureml-score:stock
  dockdap doctor myreg.azurecr.io/score:3 --env AZUREML_MODEL_DIR=/var/azureml-app/models --json

Exit code: 0 when no problem was found (warnings allowed), 1 otherwise.")]
pub struct DoctorArgs {
    /// The image to check [default: the `image` of ./.vscode/launch.json's dockdap launch configuration]
    pub image: Option<String>,
    /// The app's folder in the image [default: the configuration's appRoot, else the image's
    /// AML_APP_ROOT, else /var/azureml-app]
    #[arg(long, value_name = "DIR")]
    pub app_root: Option<String>,
    /// The same folder on this machine, for paths in tracebacks [default: the configuration's
    /// localRoot, else the current directory]
    #[arg(long, value_name = "DIR")]
    pub local_root: Option<PathBuf>,
    /// Set an environment variable for the checks and the dry run (repeatable)
    #[arg(long = "env", short = 'e', value_name = "K=V")]
    pub env: Vec<String>,
    /// A launch configuration file to take the defaults from [default: ./.vscode/launch.json]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Which configuration of the launch.json (its "name")
    #[arg(long)]
    pub name: Option<String>,
    /// Seconds init() may take in the dry run
    #[arg(long, value_name = "SECS", default_value_t = 120.0)]
    pub timeout: f64,
    /// Skip the dry run of init()
    #[arg(long)]
    pub no_dry_run: bool,
    /// Print one JSON document ({image, findings: [{check, status, message, fix?, detail?}], problems, warnings}) on stdout
    #[arg(long)]
    pub json: bool,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but worth knowing.
    Warning,
    /// Will fail.
    Problem,
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Which check (`engine`, `image`, `python`, `debugpy`, `appRoot`, `entryScript`, `modelDir`, `modelFiles`, `dryRun`).
    pub check: &'static str,
    /// How it came out.
    pub status: Status,
    /// What was found.
    pub message: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// More text: a traceback, a file list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Finding {
    fn ok(check: &'static str, message: impl Into<String>) -> Finding {
        Finding { check, status: Status::Ok, message: message.into(), fix: None, detail: None }
    }
    fn warning(check: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding { check, status: Status::Warning, message: message.into(), fix: Some(fix.into()), detail: None }
    }
    fn problem(check: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding { check, status: Status::Problem, message: message.into(), fix: Some(fix.into()), detail: None }
    }
    /// A problem whose message already says what to do (dockdap's errors do).
    fn problem_as_said(check: &'static str, message: impl Into<String>) -> Finding {
        Finding { check, status: Status::Problem, message: message.into(), fix: None, detail: None }
    }
    fn with_detail(mut self, detail: impl Into<String>) -> Finding {
        let detail = detail.into();
        if !detail.trim().is_empty() {
            self.detail = Some(detail);
        }
        self
    }
}

/// What doctor works on, after defaults.
#[derive(Debug, Clone)]
struct Target {
    image: String,
    app_root: Option<String>,
    local_root: PathBuf,
    env: Vec<String>,
    /// Where the defaults came from, for the header.
    source: Option<String>,
}

/// Runs `dockdap doctor`.
pub async fn run(args: DoctorArgs, shutdown: CancellationToken) -> Result<ExitCode, CliError> {
    let json = args.json;
    doctor(args, shutdown).await.map_err(|e| json_failure(json, e))
}

async fn doctor(args: DoctorArgs, shutdown: CancellationToken) -> Result<ExitCode, CliError> {
    let target = resolve_target(&args)?;
    let mut report = Report::new(args.json);
    report.header(&target);
    check_all(&target, &args, &mut report, &shutdown).await;
    if shutdown.is_cancelled() {
        return Err(CliError::Refused("cancelled".into()));
    }
    report.finish(&target)
}

/// The image and its surroundings: the arguments, else the launch configuration.
fn resolve_target(args: &DoctorArgs) -> Result<Target, CliError> {
    let cwd = std::env::current_dir()?;
    let config_path = args.config.clone().or_else(|| {
        // Only look for ./.vscode/launch.json when it is needed or harmless.
        configfile::default_launch_json(&cwd)
    });
    let file = match (&config_path, &args.config, &args.image) {
        // An explicit --config must load.
        (Some(path), Some(_), _) => Some(configfile::load(path, args.name.as_deref(), &cwd)?),
        // ./.vscode/launch.json: needed without IMAGE; else used only if it names the same image.
        (Some(path), None, None) => Some(configfile::load(path, args.name.as_deref(), &cwd)?),
        (Some(path), None, Some(image)) => configfile::load(path, args.name.as_deref(), &cwd)
            .ok()
            .filter(|f| f.config.get("image").and_then(|i| i.as_str()) == Some(image.as_str())),
        (None, _, _) => None,
    };
    let image = match (&args.image, &file) {
        (Some(image), _) => image.clone(),
        (None, Some(file)) => {
            file.config.get("image").and_then(|i| i.as_str()).map(str::to_owned).ok_or_else(|| {
                CliError::Usage(format!("{} names no `image`; give one: dockdap doctor IMAGE", file.path.display()))
            })?
        }
        (None, None) => {
            return Err(CliError::Usage(
                "which image? Give one (`dockdap doctor IMAGE`), or run doctor in a workspace whose .vscode/launch.json has a dockdap launch configuration (or pass --config FILE)".into(),
            ));
        }
    };
    let field = |name: &str| file.as_ref().and_then(|f| f.config.get(name)).and_then(|v| v.as_str()).map(str::to_owned);
    let mut env: Vec<String> = Vec::new();
    if let Some(map) = file.as_ref().and_then(|f| f.config.get("env")).and_then(|e| e.as_object()) {
        env.extend(map.iter().map(|(k, v)| format!("{k}={}", v.as_str().map_or_else(|| v.to_string(), str::to_owned))));
    }
    for pair in &args.env {
        match pair.split_once('=') {
            Some((key, _)) if !key.is_empty() => env.push(pair.clone()),
            _ => {
                return Err(CliError::Usage(format!(
                    "--env {pair:?} is not of the form K=V (e.g. --env AZUREML_MODEL_DIR=/var/azureml-app/models)"
                )));
            }
        }
    }
    let local_root = args
        .local_root
        .clone()
        .or_else(|| field("localRoot").map(PathBuf::from))
        .unwrap_or_else(|| file.as_ref().map_or_else(|| cwd.clone(), |f| f.workspace.clone()));
    let local_root = if local_root.is_absolute() { local_root } else { cwd.join(local_root) };
    let source = file.as_ref().map(|f| match &f.name {
        Some(name) => format!("{} ({name:?})", f.path.display()),
        None => f.path.display().to_string(),
    });
    Ok(Target { image, app_root: args.app_root.clone().or_else(|| field("appRoot")), local_root, env, source })
}

async fn check_all(target: &Target, args: &DoctorArgs, report: &mut Report, shutdown: &CancellationToken) {
    // The engine.
    report.step("connecting to the Docker Engine");
    let engine = match Engine::connect().await {
        Ok(engine) => engine,
        Err(e) => {
            report.end_step();
            // The engine's errors say what to do.
            report.add(Finding::problem_as_said("engine", e.to_string()));
            return;
        }
    };
    match inspect::engine_version(&engine).await {
        Ok(version) => {
            report.add(Finding::ok(
                "engine",
                format!(
                    "{} {} (API {}, {}) at {}",
                    version.product, version.version, version.api_version, version.platform, engine.host
                ),
            ));
            for finding in version_warnings(&version) {
                report.add(finding);
            }
        }
        Err(e) => report.add(Finding::warning(
            "engine",
            format!("cannot read the engine's version: {e}"),
            "check that the engine is a Docker Engine",
        )),
    }

    // The image.
    report.step(&format!("looking for {}", target.image));
    let image = {
        let mut pulling = |line: String| report.step(&line);
        pull::image_info_or_pull(&engine, &target.image, &mut pulling).await
    };
    let image = match image {
        Ok(image) => image,
        Err(e) => {
            report.end_step();
            report.add(Finding::problem_as_said("image", e.to_string()));
            return;
        }
    };
    report.add(Finding::ok(
        "image",
        format!("image {} ({}, {:.0} MB)", target.image, short_id(&image.id), image.size as f64 / 1_000_000.0),
    ));

    // What the container will see.
    let mut env = image.env.clone();
    env.extend(target.env.iter().cloned());
    let app_root = target
        .app_root
        .clone()
        .or_else(|| env_lookup(&env, "AML_APP_ROOT").filter(|r| !r.is_empty()).map(str::to_owned))
        .unwrap_or_else(|| DEFAULT_APP_ROOT.to_owned());
    report.app_root = Some(app_root.clone());
    let (entry, entry_from) = entry_script(&env, &app_root);
    let model_dir = env_lookup(&env, "AZUREML_MODEL_DIR").unwrap_or_default().to_owned();

    // The probe.
    report.step("looking inside the image");
    let program = PythonProgram {
        image: target.image.clone(),
        code: PROBE.to_owned(),
        args: vec![app_root.clone(), entry.clone(), model_dir.clone()],
        env: target.env.clone(),
        working_dir: None,
        no_network: true,
        timeout: Duration::from_secs(60),
    };
    let probed = probe::run_python(&engine, &program, shutdown).await;
    report.end_step();
    let run = match probed {
        Ok(Some(run)) => run,
        Ok(None) => {
            report.add(Finding::problem(
                "python",
                "no Python in the image (neither python3 nor python is on its PATH)",
                "debugging needs the image's own Python interpreter; use an image built on a Python base (e.g. FROM python:3.11-slim)",
            ));
            return;
        }
        Err(e) => {
            report.add(Finding::problem(
                "python",
                format!("cannot run a probe container from the image: {e}"),
                "check that the image runs on this engine (`docker run --rm IMAGE python3 --version`)",
            ));
            return;
        }
    };
    let facts = match parse_marker::<ProbeReport>(&run) {
        Some(facts) => facts,
        None => {
            report.add(
                Finding::problem(
                    "python",
                    format!(
                        "the image's {} did not run dockdap's probe (exit code {})",
                        run.python,
                        run.code.map_or("none: timed out".into(), |c| c.to_string())
                    ),
                    "dockdap's checks need Python 3.6 or later in the image",
                )
                .with_detail(tail(&format!("{}{}", run.stdout, run.stderr), 15)),
            );
            return;
        }
    };
    let mut can_dry_run = true;
    report.add(python_finding(&run.python, &facts));
    report.add(debugpy_finding(&facts, &image));
    if facts.app_root {
        report.add(Finding::ok("appRoot", format!("appRoot {app_root} ({} entries)", facts.app_files)));
    } else {
        report.add(Finding::problem(
            "appRoot",
            format!("appRoot {app_root} does not exist in the image"),
            "set `appRoot` (or --app-root) to the folder that holds the entry script; Azure ML images use /var/azureml-app",
        ));
    }
    let map = PathMap::new(vec![Mapping::new(target.local_root.to_string_lossy(), app_root.clone())]);
    let entry_finding = entry_finding(&entry, &entry_from, &facts, &map);
    can_dry_run &= entry_finding.status != Status::Problem;
    report.add(entry_finding);
    for finding in model_findings(&model_dir, &facts) {
        report.add(finding);
    }

    // The dry run.
    if args.no_dry_run || !can_dry_run {
        return;
    }
    report.step(&format!("dry run: importing {} and calling init()", file_name(&entry)));
    let program = PythonProgram {
        image: target.image.clone(),
        code: DRY_RUN.to_owned(),
        args: vec![entry.clone(), app_root.clone()],
        env: {
            let mut env = target.env.clone();
            env.push("PYTHONDONTWRITEBYTECODE=1".into());
            env
        },
        working_dir: facts.app_root.then(|| app_root.clone()),
        no_network: false,
        timeout: Duration::from_secs_f64(args.timeout.max(1.0)),
    };
    let result = probe::run_python(&engine, &program, shutdown).await;
    report.end_step();
    report.add(match result {
        Ok(Some(run)) => dry_run_finding(&run, &map, &entry, args.timeout),
        Ok(None) => Finding::problem("dryRun", "no Python in the image for the dry run", "see the python check"),
        Err(e) => Finding::problem("dryRun", format!("the dry run could not start: {e}"), "see the checks above"),
    });
}

/// The entry script's path in the container and where the name came from.
fn entry_script(env: &[String], app_root: &str) -> (String, String) {
    let (name, from) = if let Some(name) = env_lookup(env, "DOCKDAP_ENTRY_SCRIPT").filter(|n| !n.is_empty()) {
        (name, "DOCKDAP_ENTRY_SCRIPT, behind dockdap's debug entry")
    } else if let Some(name) = env_lookup(env, "AZUREML_ENTRY_SCRIPT").filter(|n| !n.is_empty()) {
        (name, "AZUREML_ENTRY_SCRIPT")
    } else {
        ("score.py", "the default")
    };
    let path =
        if name.starts_with('/') { name.to_owned() } else { format!("{}/{name}", app_root.trim_end_matches('/')) };
    (path, from.to_owned())
}

/// Warnings for engine versions with known problems (see the research notes).
pub fn version_warnings(version: &EngineVersion) -> Vec<Finding> {
    if version.product != "Docker Engine" {
        return Vec::new();
    }
    let Some(v) = parse_version(&version.version) else {
        return vec![Finding::warning(
            "engine",
            format!("cannot read the Docker Engine version {:?}", version.version),
            "check `docker version`; the warnings below about old versions could not be checked",
        )];
    };
    let mut findings = Vec::new();
    if v < (20, 10, 9) {
        findings.push(Finding::warning(
            "engine",
            format!(
                "Docker Engine {} is older than 20.10.9: copying files into a crafted container can change permissions of files on this machine (CVE-2021-41089); dockdap copies debugpy into containers this way",
                version.version
            ),
            "upgrade the Docker Engine to 20.10.9 or later",
        ));
    }
    if v < (28, 0, 0) {
        findings.push(Finding::warning(
            "engine",
            format!(
                "Docker Engine {} is older than 28.0.0: machines on your local network segment can reach ports published on 127.0.0.1 (moby/moby#45610), such as the service port",
                version.version
            ),
            "upgrade the Docker Engine to 28.0.0 or later; until then keep the default `transport: \"exec\"` (no debug port is published) and debug on trusted networks",
        ));
    }
    findings
}

/// `20.10.24+dfsg1` -> (20, 10, 24).
fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.trim().trim_start_matches('v').split('.').map(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().ok()
    });
    let major = parts.next().flatten()?;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

/// What the probe found in the image.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ProbeReport {
    python: String,
    debugpy: Option<String>,
    debugpy_error: Option<String>,
    app_root: bool,
    app_files: usize,
    entry_exists: bool,
    entry_error: Option<String>,
    syntax_error: Option<SyntaxErrorReport>,
    functions: std::collections::BTreeMap<String, FunctionReport>,
    model_refs: Vec<String>,
    uses_model_dir: bool,
    model_dir: Option<bool>,
    model_files: Vec<(String, u64)>,
    model_files_truncated: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct SyntaxErrorReport {
    line: Option<u64>,
    message: String,
    text: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct FunctionReport {
    line: u64,
    kind: String,
    params: Vec<String>,
    required: i64,
    varargs: bool,
}

/// How a dry run ended, as it reports itself.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct DryRunReport {
    ok: bool,
    stage: String,
    error: String,
    message: String,
    traceback: String,
    init_seconds: f64,
}

/// The last `MARKER` line of a run's stdout, parsed.
fn parse_marker<T: for<'de> Deserialize<'de>>(run: &ProgramRun) -> Option<T> {
    run.stdout.lines().rev().find_map(|l| l.strip_prefix(MARKER)).and_then(|j| serde_json::from_str(j).ok())
}

fn python_finding(python: &str, facts: &ProbeReport) -> Finding {
    let version = parse_version(&facts.python);
    match version {
        Some(v) if v < (3, 8, 0) => Finding::problem(
            "python",
            format!("Python {} ({python}) is too old for debugpy, which needs 3.8 or later", facts.python),
            "move the image to a newer Python (e.g. FROM python:3.11-slim)",
        ),
        _ => Finding::ok("python", format!("Python {} ({python})", facts.python)),
    }
}

fn debugpy_finding(facts: &ProbeReport, image: &ImageInfo) -> Finding {
    if let Some(version) = &facts.debugpy {
        return Finding::ok("debugpy", format!("debugpy {version} in the image"));
    }
    let facts_for_mode = inject::ImageFacts {
        command: image.entrypoint.iter().chain(&image.cmd).cloned().collect(),
        env: image.env.clone(),
        ..Default::default()
    };
    if let Err(why) = inject::check_wrappable(&facts_for_mode) {
        return Finding::problem("debugpy", "debugpy is not in the image and cannot be injected", why);
    }
    let how = if inject::runs_azureml_server(&facts_for_mode) {
        "through the Azure ML server's AZUREML_DEBUG_PORT hook"
    } else {
        "at start-up"
    };
    match inject::find_debugpy(None) {
        Ok(path) => Finding::ok(
            "debugpy",
            format!("debugpy is not in the image; dockdap injects it from {} {how}", path.display()),
        ),
        Err(e) => Finding::problem("debugpy", "debugpy is neither in the image nor on this machine", e.to_string())
            .with_detail(facts.debugpy_error.clone().unwrap_or_default()),
    }
}

fn entry_finding(entry: &str, from: &str, facts: &ProbeReport, map: &PathMap) -> Finding {
    // The workspace's copy when there is one (what the user edits), else the image's path.
    let shown = map.to_host(entry).filter(|host| Path::new(host).is_file()).unwrap_or_else(|| entry.to_owned());
    if !facts.entry_exists {
        return Finding::problem(
            "entryScript",
            format!("the entry script {entry} ({from}) is not in the image"),
            "set AZUREML_ENTRY_SCRIPT to the scoring script's path (relative to appRoot), or copy score.py into appRoot",
        );
    }
    if let Some(error) = &facts.entry_error {
        return Finding::problem(
            "entryScript",
            format!("cannot read the entry script {entry}: {error}"),
            "check its permissions and encoding (UTF-8)",
        );
    }
    if let Some(syntax) = &facts.syntax_error {
        let line = syntax.line.map(|l| format!(":{l}")).unwrap_or_default();
        return Finding::problem(
            "entryScript",
            format!("{shown}{line} does not parse: {}", syntax.message),
            "fix the syntax error (the server fails to import the script)",
        )
        .with_detail(syntax.text.clone());
    }
    let mut missing = Vec::new();
    let mut notes = Vec::new();
    let init = facts.functions.get("init");
    let run = facts.functions.get("run");
    if init.is_none() {
        missing.push("init()");
    }
    if run.is_none() {
        missing.push("run()");
    }
    if !missing.is_empty() {
        return Finding::problem(
            "entryScript",
            format!("{shown} ({from}) defines no {} at its top level", missing.join(" and no ")),
            "the Azure ML server calls init() once at start-up and run(raw_data) per request: define both at the top level of the script",
        );
    }
    if let Some(init) = init
        && init.kind == "def"
        && init.required > 0
    {
        return Finding::problem(
            "entryScript",
            format!(
                "init() in {shown}:{} requires arguments ({}); the server calls it with none",
                init.line,
                init.params.join(", ")
            ),
            "give init() no parameters (or defaults for all of them)",
        );
    }
    if let Some(run) = run
        && run.kind == "def"
        && run.params.is_empty()
        && !run.varargs
    {
        return Finding::problem(
            "entryScript",
            format!("run() in {shown}:{} takes no argument; the server passes the request data", run.line),
            "define it as run(raw_data)",
        );
    }
    let signature = |f: Option<&FunctionReport>, name: &str| match f {
        Some(f) if f.kind == "def" => format!("{name}({})", f.params.join(", ")),
        _ => format!("{name} (assigned, not a def)"),
    };
    if run.is_some_and(|r| r.required > 1) {
        notes.push("run() requires more than one argument: only inference-schema decorated functions get more");
    }
    let message =
        format!("entry script {shown} ({from}) defines {} and {}", signature(init, "init"), signature(run, "run"));
    match notes.first() {
        Some(note) => Finding::warning("entryScript", message, *note),
        None => Finding::ok("entryScript", message),
    }
}

fn model_findings(model_dir: &str, facts: &ProbeReport) -> Vec<Finding> {
    if model_dir.is_empty() {
        return if facts.uses_model_dir {
            vec![Finding::problem(
                "modelDir",
                "the entry script reads AZUREML_MODEL_DIR, which is not set in the image",
                "set AZUREML_MODEL_DIR (e.g. --env AZUREML_MODEL_DIR=/var/azureml-app/azureml-models/NAME/VERSION, or `env` in the launch configuration) to the folder that holds the model",
            )]
        } else {
            vec![Finding::ok("modelDir", "AZUREML_MODEL_DIR is not set (the entry script does not mention it)")]
        };
    }
    if facts.model_dir != Some(true) {
        return vec![Finding::problem(
            "modelDir",
            format!("the model directory {model_dir} (AZUREML_MODEL_DIR) does not exist in the image"),
            "copy the model into the image there, or point AZUREML_MODEL_DIR at where it is (Azure ML: azureml-models/<name>/<version> under the app root)",
        )];
    }
    let count = facts.model_files.len();
    let listing: Vec<String> = facts.model_files.iter().take(8).map(|(p, _)| p.clone()).collect();
    let more = if count > 8 || facts.model_files_truncated { ", ..." } else { "" };
    let mut findings = Vec::new();
    if count == 0 {
        findings.push(Finding::warning(
            "modelDir",
            format!("the model directory {model_dir} (AZUREML_MODEL_DIR) is empty"),
            "copy the model files into it",
        ));
    } else {
        findings.push(Finding::ok(
            "modelDir",
            format!(
                "model directory {model_dir}: {count} file{} ({}{more})",
                if count == 1 { "" } else { "s" },
                listing.join(", ")
            ),
        ));
    }
    if facts.uses_model_dir {
        for reference in &facts.model_refs {
            let found = facts.model_files.iter().any(|(path, _)| {
                path == reference || path.ends_with(&format!("/{reference}")) || file_name(path) == file_name(reference)
            });
            if found {
                findings.push(Finding::ok(
                    "modelFiles",
                    format!("{reference}, named in the entry script, is in the model directory"),
                ));
            } else {
                findings.push(Finding::warning(
                    "modelFiles",
                    format!("the entry script names {reference:?}, which is not in the model directory {model_dir}"),
                    "if init() loads it from AZUREML_MODEL_DIR, it will fail: copy it there or fix the name",
                ));
            }
        }
    }
    findings
}

fn dry_run_finding(run: &ProgramRun, map: &PathMap, entry: &str, timeout: f64) -> Finding {
    let to_host = |text: &str| rewrite_traceback_to_host(text, map).unwrap_or_else(|| text.to_owned());
    let script = map.to_host(entry).unwrap_or_else(|| entry.to_owned());
    let Some(code) = run.code else {
        return Finding::problem(
            "dryRun",
            format!("init() did not return within {timeout:.0}s in the dry run"),
            "raise --timeout if loading the model is slow, or debug init() with dockdap to see where it waits",
        )
        .with_detail(to_host(&tail(&format!("{}{}", run.stdout, run.stderr), 15)));
    };
    let report: Option<DryRunReport> = parse_marker(run);
    match report {
        Some(report) if report.ok && code == 0 => Finding::ok(
            "dryRun",
            format!("init() returned in {} (dry run without the debugger)", seconds(report.init_seconds)),
        ),
        Some(report) if !report.ok => {
            let what = if report.stage == "import" {
                format!("importing {script} raised {}", report.error)
            } else {
                format!("init() raised {}", report.error)
            };
            let message = report.message.lines().next().unwrap_or_default().to_owned();
            let traceback = to_host(&report.traceback);
            let readings: Vec<String> = diagnose::diagnose(1, &traceback)
                .lines()
                .take_while(|l| l.starts_with("- "))
                .map(|l| l.trim_start_matches("- ").to_owned())
                .filter(|l| !l.starts_with("init() in the scoring script raised"))
                .collect();
            let fix = if readings.is_empty() {
                "the traceback shows where; debug init() with dockdap (a breakpoint in init()) to look closer"
                    .to_owned()
            } else {
                readings.join("; ")
            };
            Finding::problem("dryRun", format!("{what} in the dry run: {message}"), fix)
                .with_detail(traceback.trim_end())
        }
        _ => Finding::problem(
            "dryRun",
            format!("the dry run exited with code {code} before init() returned"),
            "the output below shows why (a crash of the interpreter, or the script ending the process)",
        )
        .with_detail(to_host(&tail(&format!("{}{}", run.stdout, run.stderr), 20))),
    }
}

/// `0.004` -> "4 ms", `2.5` -> "2.5 s".
fn seconds(secs: f64) -> String {
    if secs < 1.0 { format!("{:.0} ms", secs * 1000.0) } else { format!("{secs:.1} s") }
}

fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.get(..12).unwrap_or(id)
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Collects findings and prints them as they come (or all at once as JSON).
struct Report {
    json: bool,
    /// The app root the checks used, once known.
    app_root: Option<String>,
    progress: Option<Progress>,
    findings: Vec<Finding>,
    style: Style,
}

impl Report {
    fn new(json: bool) -> Report {
        Report { json, app_root: None, progress: None, findings: Vec::new(), style: Style::stdout() }
    }

    fn header(&self, target: &Target) {
        if self.json {
            return;
        }
        let from = target.source.as_ref().map(|s| format!(" (from {s})")).unwrap_or_default();
        let _ = output::out(&format!("dockdap doctor: {}{from}", self.style.bold(&target.image)));
    }

    /// Shows progress of the step under way (a spinner on a terminal).
    fn step(&mut self, message: &str) {
        match &mut self.progress {
            Some(progress) => progress.set(message),
            None => self.progress = Some(Progress::start(message)),
        }
    }

    fn end_step(&mut self) {
        self.progress = None;
    }

    fn add(&mut self, finding: Finding) {
        if !self.json {
            let line = self.render(&finding);
            match &self.progress {
                // Not through the spinner's line.
                Some(progress) => progress.above(|| {
                    let _ = output::out(&line);
                }),
                None => {
                    let _ = output::out(&line);
                }
            }
        }
        self.findings.push(finding);
    }

    fn render(&self, f: &Finding) -> String {
        let s = self.style;
        let mark = match f.status {
            Status::Ok => s.green("ok      "),
            Status::Warning => s.yellow("warning "),
            Status::Problem => s.red("problem "),
        };
        let mut text = format!("  {mark} {}", f.message);
        if let Some(detail) = &f.detail {
            for line in detail.lines() {
                text.push_str("\n            ");
                text.push_str(&s.dim(line));
            }
        }
        if let Some(fix) = &f.fix {
            text.push_str(&format!("\n            {} {fix}", s.bold("fix:")));
        }
        text
    }

    fn count(&self, status: Status) -> usize {
        self.findings.iter().filter(|f| f.status == status).count()
    }

    fn finish(&mut self, target: &Target) -> Result<ExitCode, CliError> {
        self.end_step();
        let problems = self.count(Status::Problem);
        let warnings = self.count(Status::Warning);
        if self.json {
            output::print_json(&json!({
                "image": target.image,
                "appRoot": self.app_root.as_ref().or(target.app_root.as_ref()),
                "localRoot": target.local_root,
                "findings": self.findings,
                "problems": problems,
                "warnings": warnings,
                "ok": problems == 0,
            }))?;
        } else {
            let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
            let summary = format!("{}, {}", plural(problems, "problem"), plural(warnings, "warning"));
            let summary = if problems > 0 { self.style.red(&summary) } else { self.style.green(&summary) };
            output::out("")?;
            output::out(&summary)?;
        }
        Ok(if problems == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    }
}

/// Looks into the image; prints one `MARKER` line of JSON. Never imports
/// the entry script: it is parsed with `ast`.
const PROBE: &str = r#"
import ast, json, os, platform, re, sys
app_root, entry, model_dir = sys.argv[1], sys.argv[2], sys.argv[3]
r = {"python": platform.python_version()}
try:
    import importlib.util
    if importlib.util.find_spec("debugpy") is not None:
        import debugpy
        r["debugpy"] = str(getattr(debugpy, "__version__", "(unknown version)"))
except Exception as e:
    r["debugpyError"] = "%s: %s" % (type(e).__name__, e)
r["appRoot"] = os.path.isdir(app_root)
if r["appRoot"]:
    try:
        r["appFiles"] = len(os.listdir(app_root))
    except OSError:
        pass
r["entryExists"] = os.path.isfile(entry)
MODEL_FILE = re.compile(r"^[\w./-]*[\w-]\.(pkl|pickle|joblib|onnx|pt|pth|h5|hdf5|keras|sav|safetensors|ckpt|pb|bin|model|json|npy|npz|cbm|ubj|xgb|lgb)$", re.I)
if r["entryExists"]:
    try:
        with open(entry, "rb") as f:
            source = f.read()
        tree = ast.parse(source, entry)
    except SyntaxError as e:
        r["syntaxError"] = {"line": e.lineno, "message": str(e.msg), "text": (e.text or "").rstrip()}
    except Exception as e:
        r["entryError"] = "%s: %s" % (type(e).__name__, e)
    else:
        functions = {}
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in ("init", "run"):
                a = node.args
                positional = list(getattr(a, "posonlyargs", [])) + list(a.args)
                functions[node.name] = {"line": node.lineno, "kind": "def", "params": [p.arg for p in positional],
                                        "required": len(positional) - len(a.defaults), "varargs": a.vararg is not None}
            elif isinstance(node, ast.Assign):
                for t in node.targets:
                    if isinstance(t, ast.Name) and t.id in ("init", "run"):
                        functions[t.id] = {"line": node.lineno, "kind": "assigned"}
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    name = alias.asname or alias.name
                    if name in ("init", "run"):
                        functions[name] = {"line": node.lineno, "kind": "assigned"}
        r["functions"] = functions
        refs, uses = set(), False
        for node in ast.walk(tree):
            value = None
            if type(node).__name__ == "Constant":
                value = node.value
            elif type(node).__name__ == "Str":
                value = node.s
            if isinstance(value, str):
                if "AZUREML_MODEL_DIR" in value:
                    uses = True
                if MODEL_FILE.match(value):
                    refs.add(value)
            elif isinstance(node, ast.Attribute) and node.attr == "get_model_path":
                uses = True
            elif isinstance(node, ast.Name) and node.id == "get_model_path":
                uses = True
        r["modelRefs"] = sorted(refs)
        r["usesModelDir"] = uses
if model_dir:
    r["modelDir"] = os.path.isdir(model_dir)
    files = []
    if r["modelDir"]:
        for root, dirs, names in os.walk(model_dir):
            dirs.sort()
            for name in sorted(names):
                path = os.path.join(root, name)
                try:
                    size = os.path.getsize(path)
                except OSError:
                    size = 0
                files.append([os.path.relpath(path, model_dir), size])
            if len(files) >= 500:
                r["modelFilesTruncated"] = True
                break
    r["modelFiles"] = files
sys.stdout.write("\nDOCKDAP-DOCTOR " + json.dumps(r) + "\n")
sys.stdout.flush()
"#;

/// Imports the entry script and calls `init()`, as the Azure ML server's
/// worker would, without a debugger; prints one `MARKER` line of JSON with
/// the traceback (this program's own frame left out) on failure.
const DRY_RUN: &str = r#"
import importlib.util, json, os, sys, time, traceback
entry, app_root = sys.argv[1], sys.argv[2]
for p in (app_root, os.path.dirname(entry)):
    if p and p not in sys.path:
        sys.path.insert(0, p)
def report(d):
    sys.stderr.flush()
    sys.stdout.flush()
    sys.stdout.write("\nDOCKDAP-DOCTOR " + json.dumps(d) + "\n")
    sys.stdout.flush()
stage, started, init_started = "import", time.time(), None
try:
    name = os.path.splitext(os.path.basename(entry))[0]
    spec = importlib.util.spec_from_file_location(name, entry)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    stage = "init"
    init_started = time.time()
    module.init()
except BaseException as e:
    tb = e.__traceback__.tb_next if e.__traceback__ is not None else None
    text = "".join(traceback.format_exception(type(e), e, tb))
    report({"ok": False, "stage": stage, "error": type(e).__name__, "message": str(e)[:4000], "traceback": text})
    os._exit(1)
report({"ok": True, "importSeconds": init_started - started, "initSeconds": time.time() - init_started})
os._exit(0)
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(version: &str) -> EngineVersion {
        EngineVersion {
            product: "Docker Engine".into(),
            version: version.into(),
            api_version: "1.41".into(),
            platform: "linux/amd64".into(),
        }
    }

    #[test]
    fn engine_versions_with_known_problems() {
        let messages = |v: &str| version_warnings(&engine(v)).into_iter().map(|f| f.message).collect::<Vec<_>>();
        let old = messages("20.10.8");
        assert_eq!(old.len(), 2);
        assert!(old[0].contains("CVE-2021-41089") && old[1].contains("moby/moby#45610"), "{old:?}");
        let here = messages("20.10.24+dfsg1");
        assert_eq!(here.len(), 1);
        assert!(here[0].contains("older than 28.0.0"));
        assert!(messages("28.0.0").is_empty());
        assert!(messages("29.1.3").is_empty());
        assert!(messages("nonsense")[0].contains("cannot read"));
        let podman = EngineVersion { product: "Podman Engine".into(), ..engine("4.9.3") };
        assert!(version_warnings(&podman).is_empty());
        assert_eq!(parse_version("v27.5"), Some((27, 5, 0)));
    }

    #[test]
    fn entry_script_names() {
        let env = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(entry_script(&env(&[]), "/var/azureml-app").0, "/var/azureml-app/score.py");
        assert_eq!(entry_script(&env(&["AZUREML_ENTRY_SCRIPT=src/main.py"]), "/app/").0, "/app/src/main.py");
        assert_eq!(
            entry_script(
                &env(&["AZUREML_ENTRY_SCRIPT=/opt/dockdap-debug/debug_entry.py", "DOCKDAP_ENTRY_SCRIPT=score.py"]),
                "/a"
            )
            .0,
            "/a/score.py"
        );
        assert_eq!(entry_script(&env(&["AZUREML_ENTRY_SCRIPT=/x/y.py"]), "/a").0, "/x/y.py");
    }

    fn facts(functions: serde_json::Value) -> ProbeReport {
        serde_json::from_value(json!({"python": "3.11.2", "entryExists": true, "functions": functions})).unwrap()
    }

    #[track_caller]
    fn check_entry(functions: serde_json::Value, status: Status, needle: &str) {
        let map = PathMap::new(vec![Mapping::new("/ws", "/var/azureml-app")]);
        let f = entry_finding("/var/azureml-app/score.py", "the default", &facts(functions), &map);
        assert_eq!(f.status, status, "{f:?}");
        assert!(f.message.contains(needle), "{f:?}");
    }

    #[test]
    fn entry_script_checks() {
        let def = |params: &[&str], required: usize| json!({"line": 3, "kind": "def", "params": params, "required": required, "varargs": false});
        check_entry(
            json!({"init": def(&[], 0), "run": def(&["raw_data"], 1)}),
            Status::Ok,
            "/var/azureml-app/score.py (the default) defines init() and run(raw_data)",
        );
        check_entry(json!({"run": def(&["raw_data"], 1)}), Status::Problem, "defines no init()");
        check_entry(json!({}), Status::Problem, "no init() and no run()");
        check_entry(json!({"init": def(&["x"], 1), "run": def(&["d"], 1)}), Status::Problem, "requires arguments");
        check_entry(json!({"init": def(&[], 0), "run": def(&[], 0)}), Status::Problem, "takes no argument");
        check_entry(
            json!({"init": {"kind": "assigned", "line": 1}, "run": def(&["d"], 1)}),
            Status::Ok,
            "init (assigned, not a def)",
        );
    }

    #[test]
    fn model_checks() {
        let report: ProbeReport = serde_json::from_value(json!({
            "modelDir": true, "usesModelDir": true, "modelRefs": ["model.json", "missing.pkl"],
            "modelFiles": [["model.json", 120]]
        }))
        .unwrap();
        let findings = model_findings("/m", &report);
        let statuses: Vec<Status> = findings.iter().map(|f| f.status).collect();
        assert_eq!(statuses, [Status::Ok, Status::Ok, Status::Warning], "{findings:?}");
        let absent: ProbeReport = serde_json::from_value(json!({"modelDir": false})).unwrap();
        assert_eq!(model_findings("/nope", &absent)[0].status, Status::Problem);
        let unset: ProbeReport = serde_json::from_value(json!({"usesModelDir": true})).unwrap();
        assert_eq!(model_findings("", &unset)[0].status, Status::Problem);
    }

    #[test]
    fn failed_dry_run_shows_the_traceback_with_workspace_paths() {
        let map = PathMap::new(vec![Mapping::new("/home/u/ws", "/var/azureml-app")]);
        let report = json!({"ok": false, "stage": "init", "error": "FileNotFoundError", "message": "model file not found: /m/model.json",
            "traceback": "Traceback (most recent call last):\n  File \"/var/azureml-app/score.py\", line 38, in init\n    raise FileNotFoundError(\nFileNotFoundError: model file not found: /m/model.json\n"});
        let run = ProgramRun {
            python: "python3".into(),
            code: Some(1),
            stdout: format!("score.init: loading\n\n{MARKER}{report}\n"),
            stderr: String::new(),
        };
        let f = dry_run_finding(&run, &map, "/var/azureml-app/score.py", 120.0);
        assert_eq!(f.status, Status::Problem);
        assert_eq!(f.message, "init() raised FileNotFoundError in the dry run: model file not found: /m/model.json");
        assert!(f.detail.as_deref().unwrap().contains("File \"/home/u/ws/score.py\", line 38, in init"), "{f:?}");
        assert!(f.fix.as_deref().unwrap().starts_with("a file was not found"), "{f:?}");
        let timed_out = ProgramRun { code: None, ..run };
        assert!(dry_run_finding(&timed_out, &map, "/x", 5.0).message.contains("within 5s"));
    }
}
