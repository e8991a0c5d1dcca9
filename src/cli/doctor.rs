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

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::doctor_checks::*;
use super::output::{self, Progress, Style};
use super::{CliError, configfile, json_failure};
use crate::config::DEFAULT_APP_ROOT;
use crate::paths::{Mapping, PathMap};
use crate::runtime::docker::inspect::{self, ImageInfo, env_lookup};
use crate::runtime::docker::probe::{self, ProgramRun, PythonProgram};
use crate::runtime::docker::reach::Locality;
use crate::runtime::docker::{Engine, pull};
use crate::runtime::{ContainerError, offload};

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
    #[arg(long, value_name = "SECS", default_value_t = 120.0, value_parser = super::seconds)]
    pub timeout: f64,
    /// Skip the dry run of init()
    #[arg(long)]
    pub no_dry_run: bool,
    /// Print one JSON document ({image, findings: [{check, status, message, fix?, detail?}], problems, warnings}) on stdout
    #[arg(long)]
    pub json: bool,
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
    /// The configuration's `kubernetes` target: the cluster is checked instead of an image.
    kubernetes: Option<crate::config::KubernetesTarget>,
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
    let kubernetes = match file.as_ref().and_then(|f| f.config.get("kubernetes")).filter(|_| args.image.is_none()) {
        Some(value) => Some(serde_json::from_value::<crate::config::KubernetesTarget>(value.clone()).map_err(|e| {
            CliError::Usage(format!(
                "the configuration's `kubernetes` is not usable ({e}); `dockdap schema` shows its shape"
            ))
        })?),
        None => None,
    };
    let image = match (&args.image, &file) {
        (Some(image), _) => image.clone(),
        (None, Some(_)) if kubernetes.is_some() => "the pod's image".to_owned(),
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
    Ok(Target {
        image,
        app_root: args.app_root.clone().or_else(|| field("appRoot")),
        local_root,
        env,
        source,
        kubernetes,
    })
}

/// The four sections, in order; each stops the checks when what follows
/// cannot run (no engine, no image, no Python in it).
async fn check_all(target: &Target, args: &DoctorArgs, report: &mut Report, shutdown: &CancellationToken) {
    if let Some(kubernetes) = &target.kubernetes {
        report.step("asking the Kubernetes API server");
        for check in crate::runtime::check_kubernetes(kubernetes).await {
            report.add(match check.fix {
                None => Finding::ok(check.check, check.message),
                Some(fix) => Finding::problem(check.check, check.message, fix),
            });
        }
        return;
    }
    let Some(engine) = check_engine(report).await else { return };
    let Some(image) = check_image(&engine, target, report).await else { return };
    let Some(inside) = check_inside(&engine, target, &image, report, shutdown).await else { return };
    if !args.no_dry_run && inside.can_dry_run {
        dry_run(&engine, target, &inside, args.timeout, report, shutdown).await;
    }
}

/// The engine, and warnings for versions with known problems.
async fn check_engine(report: &mut Report) -> Option<Engine> {
    report.step("connecting to the Docker Engine");
    let engine = match Engine::connect().await {
        Ok(engine) => engine,
        Err(e) => {
            report.end_step();
            // The engine's errors say what to do.
            report.add(Finding::problem_as_said("engine", e.to_string()));
            return None;
        }
    };
    match inspect::engine_version(&engine).await {
        Ok(version) => {
            report.add(Finding::ok(
                "engine",
                format!(
                    "{} {} (API {}, {}) at {}, found through {}; {}",
                    version.product,
                    version.version,
                    version.api_version,
                    version.platform,
                    engine.host,
                    engine.found,
                    match &engine.locality {
                        Locality::Local => "on this machine".to_owned(),
                        Locality::Remote { why } => format!("remote: {why}"),
                    }
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
    Some(engine)
}

/// The image, pulled when its reference names a registry.
async fn check_image(engine: &Engine, target: &Target, report: &mut Report) -> Option<ImageInfo> {
    report.step(&format!("looking for {}", target.image));
    let image = {
        let mut pulling = |line: String| report.step(&line);
        pull::image_info_or_pull(engine, &target.image, &mut pulling).await
    };
    match image {
        Ok(image) => {
            report.add(Finding::ok(
                "image",
                format!("image {} ({}, {:.0} MB)", target.image, short_id(&image.id), image.size as f64 / 1_000_000.0),
            ));
            Some(image)
        }
        Err(e) => {
            report.end_step();
            report.add(Finding::problem_as_said("image", e.to_string()));
            None
        }
    }
}

/// What the checks inside the image found out, for the dry run.
struct Inside {
    app_root: String,
    entry: String,
    map: PathMap,
    /// The app root exists in the image (the dry run starts there).
    has_app_root: bool,
    /// No problem that makes a dry run pointless.
    can_dry_run: bool,
}

/// Python, debugpy, the app root, the entry script and the model, from one
/// probe container.
async fn check_inside(
    engine: &Engine,
    target: &Target,
    image: &ImageInfo,
    report: &mut Report,
    shutdown: &CancellationToken,
) -> Option<Inside> {
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
    let probed = probe::run_python(engine, &program, shutdown).await;
    report.end_step();
    let (python, facts) = probe_facts(probed, report)?;
    report.add(python_finding(&python, &facts));
    let host_debugpy = if facts.has_debugpy() { None } else { Some(offload::find_debugpy(None).await) };
    report.add(debugpy_finding(&facts, image, host_debugpy));
    report.add(app_root_finding(&app_root, &facts));
    let map = PathMap::new(vec![Mapping::new(target.local_root.to_string_lossy(), app_root.clone())]);
    let entry_finding = entry_finding(&entry, &entry_from, &facts, &map);
    let can_dry_run = entry_finding.status != Status::Problem;
    report.add(entry_finding);
    for finding in model_findings(&model_dir, &facts) {
        report.add(finding);
    }
    Some(Inside { app_root, entry, map, has_app_root: facts.app_root, can_dry_run })
}

/// The probe's report, or `None` after a finding that says why there is none.
fn probe_facts(
    probed: Result<Option<ProgramRun>, ContainerError>,
    report: &mut Report,
) -> Option<(String, ProbeReport)> {
    let run = match probed {
        Ok(Some(run)) => run,
        Ok(None) => {
            report.add(Finding::problem(
                "python",
                "no Python in the image (neither python3 nor python is on its PATH)",
                "debugging needs the image's own Python interpreter; use an image built on a Python base (e.g. FROM python:3.11-slim)",
            ));
            return None;
        }
        Err(e) => {
            report.add(Finding::problem(
                "python",
                format!("cannot run a probe container from the image: {e}"),
                "check that the image runs on this engine (`docker run --rm IMAGE python3 --version`)",
            ));
            return None;
        }
    };
    match parse_marker::<ProbeReport>(&run) {
        Some(facts) => Some((run.python, facts)),
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
            None
        }
    }
}

/// The image's Python imports the entry script and calls `init()`, without a debugger.
async fn dry_run(
    engine: &Engine,
    target: &Target,
    inside: &Inside,
    timeout: f64,
    report: &mut Report,
    shutdown: &CancellationToken,
) {
    report.step(&format!("dry run: importing {} and calling init()", file_name(&inside.entry)));
    let program = PythonProgram {
        image: target.image.clone(),
        code: DRY_RUN.to_owned(),
        args: vec![inside.entry.clone(), inside.app_root.clone()],
        env: {
            let mut env = target.env.clone();
            env.push("PYTHONDONTWRITEBYTECODE=1".into());
            env
        },
        working_dir: inside.has_app_root.then(|| inside.app_root.clone()),
        no_network: false,
        timeout: Duration::from_secs_f64(timeout.max(1.0)),
    };
    let result = probe::run_python(engine, &program, shutdown).await;
    report.end_step();
    report.add(match result {
        Ok(Some(run)) => dry_run_finding(&run, &inside.map, &inside.entry, timeout),
        Ok(None) => Finding::problem("dryRun", "no Python in the image for the dry run", "see the python check"),
        Err(e) => Finding::problem("dryRun", format!("the dry run could not start: {e}"), "see the checks above"),
    });
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
