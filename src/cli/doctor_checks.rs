//! The checks of `dockdap doctor`, as pure functions from what was found
//! (the engine's version, the image, the probe's and the dry run's reports)
//! to findings: ok / warning / problem, each with its fix. `doctor.rs` runs
//! the containers and prints; the Python programs they run are in `python/`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::paths::{PathMap, rewrite_traceback_to_host};
use crate::runtime::diagnose;
use crate::runtime::docker::inspect::{EngineVersion, ImageInfo, env_lookup};
use crate::runtime::docker::probe::ProgramRun;
use crate::runtime::inject::{self, InjectError};

/// The line that carries a probe's report among whatever else it printed.
pub(super) const MARKER: &str = "DOCKDAP-DOCTOR ";

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
    pub(super) fn ok(check: &'static str, message: impl Into<String>) -> Finding {
        Finding { check, status: Status::Ok, message: message.into(), fix: None, detail: None }
    }
    pub(super) fn warning(check: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding { check, status: Status::Warning, message: message.into(), fix: Some(fix.into()), detail: None }
    }
    pub(super) fn problem(check: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding { check, status: Status::Problem, message: message.into(), fix: Some(fix.into()), detail: None }
    }
    /// A problem whose message already says what to do (dockdap's errors do).
    pub(super) fn problem_as_said(check: &'static str, message: impl Into<String>) -> Finding {
        Finding { check, status: Status::Problem, message: message.into(), fix: None, detail: None }
    }
    pub(super) fn with_detail(mut self, detail: impl Into<String>) -> Finding {
        let detail = detail.into();
        if !detail.trim().is_empty() {
            self.detail = Some(detail);
        }
        self
    }
}

/// The entry script's path in the container and where the name came from.
pub(super) fn entry_script(env: &[String], app_root: &str) -> (String, String) {
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
pub(super) fn version_warnings(version: &EngineVersion) -> Vec<Finding> {
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
pub(super) fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
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
pub(super) struct ProbeReport {
    python: String,
    debugpy: Option<String>,
    debugpy_error: Option<String>,
    pub(super) app_root: bool,
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
pub(super) struct SyntaxErrorReport {
    line: Option<u64>,
    message: String,
    text: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct FunctionReport {
    line: u64,
    kind: String,
    params: Vec<String>,
    required: i64,
    varargs: bool,
}

/// How a dry run ended, as it reports itself.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct DryRunReport {
    ok: bool,
    stage: String,
    error: String,
    message: String,
    traceback: String,
    init_seconds: f64,
}

/// The last `MARKER` line of a run's stdout, parsed.
pub(super) fn parse_marker<T: for<'de> Deserialize<'de>>(run: &ProgramRun) -> Option<T> {
    run.stdout.lines().rev().find_map(|l| l.strip_prefix(MARKER)).and_then(|j| serde_json::from_str(j).ok())
}

pub(super) fn python_finding(python: &str, facts: &ProbeReport) -> Finding {
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

pub(super) fn app_root_finding(app_root: &str, facts: &ProbeReport) -> Finding {
    if facts.app_root {
        Finding::ok("appRoot", format!("appRoot {app_root} ({} entries)", facts.app_files))
    } else {
        Finding::problem(
            "appRoot",
            format!("appRoot {app_root} does not exist in the image"),
            "set `appRoot` (or --app-root) to the folder that holds the entry script; Azure ML images use /var/azureml-app",
        )
    }
}

impl ProbeReport {
    /// Whether the image's Python imports debugpy.
    pub(super) fn has_debugpy(&self) -> bool {
        self.debugpy.is_some()
    }
}

/// `host`: where this machine's debugpy is (asked only when the image has none).
pub(super) fn debugpy_finding(
    facts: &ProbeReport,
    image: &ImageInfo,
    host: Option<Result<PathBuf, InjectError>>,
) -> Finding {
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
    match host.unwrap_or_else(|| Err(InjectError::NoDebugpy("not looked for".into()))) {
        Ok(path) => Finding::ok(
            "debugpy",
            format!("debugpy is not in the image; dockdap injects it from {} {how}", path.display()),
        ),
        Err(e) => Finding::problem("debugpy", "debugpy is neither in the image nor on this machine", e.to_string())
            .with_detail(facts.debugpy_error.clone().unwrap_or_default()),
    }
}

pub(super) fn entry_finding(entry: &str, from: &str, facts: &ProbeReport, map: &PathMap) -> Finding {
    // The workspace's copy when there is one (what the user edits), else the image's path.
    let shown = map.to_host(entry).filter(|host| Path::new(host).is_file()).unwrap_or_else(|| entry.to_owned());
    entry_file_problem(entry, from, facts, &shown).unwrap_or_else(|| entry_functions_finding(&shown, from, facts))
}

/// The entry script missing, unreadable or not parsing.
fn entry_file_problem(entry: &str, from: &str, facts: &ProbeReport, shown: &str) -> Option<Finding> {
    if !facts.entry_exists {
        return Some(Finding::problem(
            "entryScript",
            format!("the entry script {entry} ({from}) is not in the image"),
            "set AZUREML_ENTRY_SCRIPT to the scoring script's path (relative to appRoot), or copy score.py into appRoot",
        ));
    }
    if let Some(error) = &facts.entry_error {
        return Some(Finding::problem(
            "entryScript",
            format!("cannot read the entry script {entry}: {error}"),
            "check its permissions and encoding (UTF-8)",
        ));
    }
    let syntax = facts.syntax_error.as_ref()?;
    let line = syntax.line.map(|l| format!(":{l}")).unwrap_or_default();
    Some(
        Finding::problem(
            "entryScript",
            format!("{shown}{line} does not parse: {}", syntax.message),
            "fix the syntax error (the server fails to import the script)",
        )
        .with_detail(syntax.text.clone()),
    )
}

/// `init()` and `run()` at the top level, callable the way the server calls them.
fn entry_functions_finding(shown: &str, from: &str, facts: &ProbeReport) -> Finding {
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

pub(super) fn model_findings(model_dir: &str, facts: &ProbeReport) -> Vec<Finding> {
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

pub(super) fn dry_run_finding(run: &ProgramRun, map: &PathMap, entry: &str, timeout: f64) -> Finding {
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
pub(super) fn seconds(secs: f64) -> String {
    if secs < 1.0 { format!("{:.0} ms", secs * 1000.0) } else { format!("{secs:.1} s") }
}

pub(super) fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.get(..12).unwrap_or(id)
}

pub(super) fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The last `n` lines of `text`.
pub(super) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Looks into the image; prints one `MARKER` line of JSON. Never imports
/// the entry script: it is parsed with `ast`.
pub(super) const PROBE: &str = include_str!("python/doctor_probe.py");

/// Imports the entry script and calls `init()`, as the Azure ML server's
/// worker would, without a debugger; prints one `MARKER` line of JSON with
/// the traceback (this program's own frame left out) on failure.
pub(super) const DRY_RUN: &str = include_str!("python/doctor_dry_run.py");

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::paths::Mapping;

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
