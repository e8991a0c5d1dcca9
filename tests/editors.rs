//! The editor configurations in `editors/`, checked against dockdap itself:
//!
//! - the VS Code extension's `configurationAttributes` equal `dockdap schema`
//!   (after the one transformation in [`vscode_attributes`]; regenerate with
//!   `UPDATE_EXPECT=1 cargo test --test editors`), and the extension's
//!   commands send the right custom requests (`node editors/vscode/test/run.js`);
//! - every file is parsed or compiled by its own tool (Lua by `luac5.4`,
//!   Emacs Lisp byte-compiled by `emacs --batch`, TOML and JSON parsed);
//! - every attribute name any editor config uses is one of the schema's (or
//!   a DAP/debugpy name dockdap passes on), so a typo such as `apRoot` fails;
//! - a real DAP client we did not write, Emacs dap-mode (Debian's
//!   `elpa-dap-mode`), drives sessions through dockdap: an attach to a real
//!   debugpy on this machine, and a launch of the example image in Docker.
//!
//! Tools missing from the machine fail the test under `CI=true` and skip
//! loudly elsewhere (`support::require`); `scripts/setup.sh` installs them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Map, Value, json};
use support::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Runs a command to the end; panics with its output unless it succeeded.
#[track_caller]
fn run_ok(command: &mut Command) -> Output {
    let out = command.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Whether `program --version` runs.
fn have(program: &str) -> bool {
    // Lua knows only `-v`; the others take `--version`.
    let flag = if program.starts_with("lua") { "-v" } else { "--version" };
    Command::new(program).arg(flag).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// What the dockdap binary prints for `dockdap schema`.
fn dockdap_schema() -> Value {
    let out = run_ok(Command::new(dockdap_bin()).arg("schema"));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The one transformation from `dockdap schema` to VS Code's
/// `configurationAttributes`: per request, the schema's `required` (when it
/// has one) and `properties`, unchanged. The rest (`$schema`, `title`,
/// `type`, `description`) describes the whole configuration, which VS Code
/// owns.
fn vscode_attributes(schema: &Value) -> Value {
    let mut out = Map::new();
    for request in ["launch", "attach"] {
        let mut attrs = Map::new();
        for key in ["required", "properties"] {
            if let Some(value) = schema[request].get(key) {
                attrs.insert(key.to_owned(), value.clone());
            }
        }
        out.insert(request.to_owned(), Value::Object(attrs));
    }
    Value::Object(out)
}

/// Names a configuration may carry besides the schema's: what every DAP
/// client sends, and debugpy's own attributes that dockdap passes on.
const PASSED_ON: &[&str] =
    &["type", "request", "name", "justMyCode", "subProcess", "redirectOutput", "showReturnValue"];

/// The attribute names in `config` (recursing into objects the schema
/// describes) that the schema of its request does not know.
fn unknown_attributes(config: &Value, schema: &Value) -> Vec<String> {
    fn walk(config: &Map<String, Value>, schema: &Value, prefix: &str, out: &mut Vec<String>) {
        for (key, value) in config {
            if prefix.is_empty() && PASSED_ON.contains(&key.as_str()) {
                continue;
            }
            let Some(property) = schema.get("properties").and_then(|p| p.get(key)) else {
                out.push(format!("{prefix}{key}"));
                continue;
            };
            let nested = format!("{prefix}{key}.");
            match value {
                Value::Object(object) if property.get("properties").is_some() => walk(object, property, &nested, out),
                Value::Array(items) if property["items"].get("properties").is_some() => {
                    for item in items.iter().filter_map(Value::as_object) {
                        walk(item, &property["items"], &nested, out);
                    }
                }
                _ => {}
            }
        }
    }
    let request = config["request"].as_str().unwrap_or_else(|| panic!("no request in {config}"));
    assert!(["launch", "attach"].contains(&request), "request {request:?} in {config}");
    let mut out = Vec::new();
    walk(config.as_object().unwrap(), &schema[request], "", &mut out);
    out
}

/// Every attribute in `configs` is dockdap's or passed on, and the configs
/// cover the three cases: the Azure ML launch, attach to a container, attach
/// to an address.
#[track_caller]
fn check_configs(editor: &str, configs: &[Value], schema: &Value) {
    for config in configs {
        let unknown = unknown_attributes(config, schema);
        assert!(unknown.is_empty(), "{editor}: attributes `dockdap schema` does not know: {unknown:?} in {config}");
    }
    let has = |pred: &dyn Fn(&Value) -> bool| configs.iter().any(pred);
    assert!(
        has(&|c| c["request"] == "launch"
            && c.get("image").is_some()
            && c["appRoot"] == "/var/azureml-app"
            && c["ports"] == json!(["8000:5001"])),
        "{editor}: no Azure ML launch (image, appRoot /var/azureml-app, ports 8000:5001) in {configs:?}"
    );
    assert!(has(&|c| c["request"] == "attach" && c.get("container").is_some()), "{editor}: no attach to a container");
    assert!(
        has(&|c| c["request"] == "attach" && c["connect"].get("host").is_some() && c["connect"].get("port").is_some()),
        "{editor}: no attach to host:port"
    );
}

#[test]
fn attribute_check_catches_typos() {
    let schema = dockdap_schema();
    let check = |config: Value| unknown_attributes(&config, &schema);
    assert_eq!(check(json!({"request": "launch", "image": "x", "apRoot": "/a", "justMyCode": false})), ["apRoot"]);
    assert_eq!(check(json!({"request": "attach", "connect": {"hots": "h", "port": 1}})), ["connect.hots"]);
    assert_eq!(
        check(json!({"request": "launch", "pathMappings": [{"localRoot": "/l", "remotRoot": "/r"}]})),
        ["pathMappings.remotRoot"]
    );
    assert_eq!(check(json!({"request": "attach", "image": "x"})), ["image"], "image is launch's only");
    assert!(check(json!({"request": "launch", "image": "x", "env": {"ANY_NAME": "1"}})).is_empty());
}

// --- VS Code ---

fn package_json_path() -> PathBuf {
    repo().join("editors/vscode/package.json")
}

#[test]
fn vscode_configuration_attributes_equal_dockdap_schema() {
    let expected = vscode_attributes(&dockdap_schema());
    let mut package = read_json(&package_json_path());
    let debugger = &mut package["contributes"]["debuggers"][0];
    assert_eq!(debugger["type"], "dockdap");
    if std::env::var("UPDATE_EXPECT").is_ok_and(|v| v == "1") {
        debugger["configurationAttributes"] = expected;
        let text = serde_json::to_string_pretty(&package).unwrap() + "\n";
        std::fs::write(package_json_path(), text).unwrap();
        eprintln!("updated {}", package_json_path().display());
        return;
    }
    let actual = serde_json::to_string_pretty(&debugger["configurationAttributes"]).unwrap();
    let expected = serde_json::to_string_pretty(&expected).unwrap();
    assert!(
        actual == expected,
        "editors/vscode/package.json's configurationAttributes differ from `dockdap schema`; \
         regenerate with `UPDATE_EXPECT=1 cargo test --test editors`.\n--- package.json\n{actual}\n--- dockdap schema\n{expected}"
    );
}

#[test]
fn vscode_configurations_use_schema_attributes() {
    let schema = dockdap_schema();
    let package = read_json(&package_json_path());
    let debugger = &package["contributes"]["debuggers"][0];
    let mut configs: Vec<Value> = debugger["initialConfigurations"].as_array().unwrap().clone();
    configs.extend(debugger["configurationSnippets"].as_array().unwrap().iter().map(|s| s["body"].clone()));
    check_configs("editors/vscode/package.json", &configs, &schema);
    let example = read_json(&repo().join("examples/azureml-score/.vscode/launch.json"));
    for config in example["configurations"].as_array().unwrap() {
        let unknown = unknown_attributes(config, &schema);
        assert!(unknown.is_empty(), "examples/azureml-score/.vscode/launch.json: {unknown:?}");
    }
}

#[test]
fn vscode_extension_commands_in_node() {
    if !require("node (Node.js, /usr/bin/node)", have("node")) {
        return;
    }
    let out = run_ok(Command::new("node").arg(repo().join("editors/vscode/test/run.js")));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let passed = stdout.lines().find_map(|l| l.strip_prefix("# pass ")).and_then(|n| n.parse::<u32>().ok());
    assert!(passed.is_some_and(|n| n > 0) && stdout.contains("\n# fail 0"), "{stdout}");
}

// --- Neovim ---

#[test]
fn neovim_lua_compiles_and_uses_schema_attributes() {
    if !require("lua5.4 (apt-get install lua5.4)", have("lua5.4")) {
        return;
    }
    let dir = repo().join("editors/neovim");
    for file in ["lua/dockdap.lua", "test/check.lua"] {
        run_ok(Command::new("luac5.4").args(["-p", "--"]).arg(dir.join(file)));
    }
    let out = run_ok(Command::new("lua5.4").arg(dir.join("test/check.lua")).arg(&dir));
    let dump: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(dump["adapters"]["dockdap"], json!({"type": "executable", "command": "dockdap", "args": []}));
    assert_eq!(
        dump["adapters"]["dockdap-tcp"],
        json!({"type": "server", "port": "${port}",
               "executable": {"command": "dockdap", "args": ["--listen", "127.0.0.1:${port}"]}})
    );
    let configs = dump["configurations"].as_array().unwrap();
    for config in configs {
        assert!(dump["adapters"].get(config["type"].as_str().unwrap()).is_some(), "{config}");
    }
    check_configs("editors/neovim", configs, &dockdap_schema());
    assert_eq!(
        dump["commands"],
        json!(["DockdapCommit", "DockdapLogs", "DockdapReload", "DockdapScore", "DockdapSync"])
    );
    assert_eq!(
        dump["requests"],
        json!([
            {"command": "dockdap/commit", "args": {}},
            {"command": "dockdap/logs", "args": {}},
            {"command": "dockdap/reload", "args": {}},
            {"command": "dockdap/score", "args": {}},
            {"command": "dockdap/sync", "args": {}},
            {"command": "dockdap/score", "args": {"data": "{\"data\": [[1, 2]]}"}},
            {"command": "dockdap/commit", "args": {"tag": "debug:7"}},
        ])
    );
}

// --- Emacs ---

#[test]
fn emacs_lisp_byte_compiles_without_warnings() {
    if !require("emacs (apt-get install emacs-nox)", have("emacs")) {
        return;
    }
    // -Q: neither dape nor dap-mode is loadable, as on a machine without them.
    let out_dir = tempfile::tempdir().unwrap();
    let setup = format!(
        "(setq byte-compile-error-on-warn t byte-compile-dest-file-function \
         (lambda (f) (expand-file-name (concat (file-name-nondirectory f) \"c\") {:?})))",
        out_dir.path().to_str().unwrap()
    );
    let out = run_ok(
        Command::new("emacs")
            .args(["--batch", "-Q", "--eval", &setup, "-f", "batch-byte-compile"])
            .arg(repo().join("editors/emacs/dockdap.el")),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("Warning") && !stderr.contains("Error"), "{stderr}");
    assert!(out_dir.path().join("dockdap.elc").exists());
}

#[test]
fn emacs_configs_use_schema_attributes() {
    if !require("emacs (apt-get install emacs-nox)", have("emacs")) {
        return;
    }
    let out = run_ok(
        Command::new("emacs").args(["--batch", "-Q", "-l"]).arg(repo().join("editors/emacs/test/dump-configs.el")),
    );
    let dump: Value = serde_json::from_slice(&out.stdout).unwrap();
    let schema = dockdap_schema();

    let dape = dump["dape"].as_array().unwrap();
    let names: Vec<&str> = dape.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 4, "{names:?}");
    for entry in dape {
        assert_eq!(entry["adapter"]["command"], "dockdap", "{entry}");
        assert_eq!(entry["config"]["type"], "dockdap", "{entry}");
    }
    let tcp = dape.iter().find(|c| c["name"] == "dockdap-launch-tcp").unwrap();
    assert_eq!(tcp["adapter"]["command-args"], json!(["--listen", "127.0.0.1::autoport"]));
    assert_eq!(tcp["adapter"]["port"], "<:autoport>");
    let configs: Vec<Value> = dape.iter().map(|c| c["config"].clone()).collect();
    check_configs("editors/emacs (dape)", &configs, &schema);

    assert_eq!(dump["provider"], "dockdap");
    let dap_mode = dump["dapMode"].as_array().unwrap();
    for entry in dap_mode {
        assert_eq!(entry["provided"], json!({"dap-server-path": ["dockdap"]}), "{entry}");
    }
    let configs: Vec<Value> = dap_mode.iter().map(|c| c["config"].clone()).collect();
    check_configs("editors/emacs (dap-mode)", &configs, &schema);
}

// --- Helix ---

#[test]
fn helix_languages_toml_parses_and_uses_schema_attributes() {
    let text = std::fs::read_to_string(repo().join("editors/helix/languages.toml")).unwrap();
    let parsed: toml::Table = toml::from_str(&text).unwrap();
    let parsed = serde_json::to_value(parsed).unwrap();
    let python = parsed["language"].as_array().unwrap().iter().find(|l| l["name"] == "python").unwrap();
    let debugger = &python["debugger"];
    assert_eq!(debugger["transport"], "stdio");
    assert_eq!(debugger["command"], "dockdap");
    let mut configs = Vec::new();
    for template in debugger["templates"].as_array().unwrap() {
        let mut config = template["args"].clone();
        config["request"] = template["request"].clone();
        // Helix fills {0}, {1} ... from `completion`, in order: every placeholder has one.
        let completions = template["completion"].as_array().map_or(0, Vec::len);
        let args = template["args"].to_string();
        for i in 0..4 {
            assert_eq!(args.contains(&format!("{{{i}}}")), i < completions, "{template}");
        }
        configs.push(config);
    }
    check_configs("editors/helix/languages.toml", &configs, &dockdap_schema());
}

// --- Vim (vimspector) ---

#[test]
fn vimspector_json_parses_and_uses_schema_attributes() {
    let file = read_json(&repo().join("editors/vim/.vimspector.json"));
    let adapters = file["adapters"].as_object().unwrap();
    assert_eq!(adapters["dockdap"]["command"], json!(["dockdap"]));
    assert_eq!(adapters["dockdap-tcp"]["command"], json!(["dockdap", "--listen", "127.0.0.1:${unusedLocalPort}"]));
    assert_eq!(adapters["dockdap-tcp"]["port"], "${unusedLocalPort}");
    let mut configs = Vec::new();
    for (name, entry) in file["configurations"].as_object().unwrap() {
        let adapter = entry["adapter"].as_str().unwrap();
        assert!(adapters.contains_key(adapter), "{name}: adapter {adapter} is not defined");
        configs.push(entry["configuration"].clone());
    }
    check_configs("editors/vim/.vimspector.json", &configs, &dockdap_schema());
}

/// vimspector asks a question at every start for each exception filter a
/// configuration does not answer, and gives up on a request after its
/// `async_timeout` (15 s by default): every shipped configuration answers
/// each filter dockdap really advertises, and waits longer than dockdap's
/// own launch timeout, so a cold container start is reported by dockdap.
#[tokio::test]
async fn vimspector_asks_nothing_and_outwaits_a_cold_start() {
    let file = read_json(&repo().join("editors/vim/.vimspector.json"));
    let (_child, mut client) = spawn_stdio(&repo());
    let answer = client.request("initialize", json!({"adapterID": "dockdap"})).await.unwrap();
    let capabilities: Value = answer.field("body").unwrap().expect("initialize has a body");
    let filters: Vec<String> = capabilities["exceptionBreakpointFilters"]
        .as_array()
        .expect("dockdap advertises exception filters")
        .iter()
        .map(|f| f["filter"].as_str().unwrap().to_owned())
        .collect();
    assert!(!filters.is_empty());
    for (name, entry) in file["configurations"].as_object().unwrap() {
        let answers = &entry["breakpoints"]["exception"];
        for filter in &filters {
            let answer = answers[filter].as_str();
            assert!(
                matches!(answer, Some("Y" | "N" | "")),
                "{name}: vimspector would ask about the {filter:?} exception filter on every start"
            );
        }
    }
    let launch_timeout_ms = dockdap_schema()["launch"]["properties"]["timeout"]["default"]
        .as_f64()
        .expect("the schema gives launch's timeout a default")
        * 1000.0;
    for (name, adapter) in file["adapters"].as_object().unwrap() {
        let wait = adapter["async_timeout"].as_f64().unwrap_or(15_000.0);
        assert!(
            wait > launch_timeout_ms,
            "{name}: vimspector gives up after {wait} ms, before dockdap's launch timeout"
        );
    }
}

// --- A real client: Emacs dap-mode ---

fn have_dap_mode() -> bool {
    Command::new("emacs")
        .args(["--batch", "--eval", "(require 'dap-mode)"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `editors/emacs/test/dap-mode-session.el` with `env` and asserts it
/// reports success.
async fn run_dap_mode_session(cwd: &Path, env: &[(&str, &std::ffi::OsStr)]) {
    let home = tempfile::tempdir().unwrap();
    let mut emacs = tokio::process::Command::new("emacs");
    emacs
        .args(["--batch", "-l"])
        .arg(repo().join("editors/emacs/test/dap-mode-session.el"))
        .current_dir(cwd)
        .env("HOME", home.path()) // dap-mode and lsp-mode write state files there
        .env("DOCKDAP_BIN", dockdap_bin())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for (key, value) in env {
        emacs.env(key, value);
    }
    let out =
        tokio::time::timeout(Duration::from_secs(180), emacs.output()).await.expect("emacs took over 180 s").unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("dap-mode-session: ok"),
        "dap-mode session failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
}

/// dap-mode starts dockdap on stdio through editors/emacs/dockdap.el and
/// attaches it (`connect`) to a real debugpy running the fixture app from
/// another folder; the breakpoint is on the workspace copy.
#[tokio::test]
async fn emacs_dap_mode_drives_a_session_through_dockdap() {
    if !require("python3 with debugpy", have_debugpy())
        || !require("Emacs with dap-mode (apt-get install emacs-nox elpa-dap-mode)", have_dap_mode())
    {
        return;
    }
    let trees = two_trees();
    let debugpy = start_debugpy(&trees.app_root).await;
    let line = line_of(&trees.workspace.join("app.py"), "dockdap-test: breakpoint");
    run_dap_mode_session(
        &trees.workspace,
        &[
            ("SCENARIO", "attach".as_ref()),
            ("DEBUGPY_PORT", debugpy.port.to_string().as_ref()),
            ("APP_ROOT", trees.app_root.as_os_str()),
            ("WORKSPACE", trees.workspace.as_os_str()),
            ("BREAK_LINE", line.to_string().as_ref()),
        ],
    )
    .await;
    let program = tokio::time::timeout(WAIT, debugpy.child.wait_with_output()).await.unwrap().unwrap();
    assert_eq!(String::from_utf8_lossy(&program.stdout), "result 12\n", "the program ran to its end");
}

/// dap-mode launches the example's debug image through dockdap, sends
/// scoring requests with dockdap.el's commands that stop in run(), and
/// disconnects; the container must be gone afterwards, although dap-mode
/// kills its adapter's process group as soon as it sees `terminated`.
#[tokio::test]
async fn emacs_dap_mode_launches_the_example_image() {
    if !require_docker() || !require("Emacs with dap-mode (apt-get install emacs-nox elpa-dap-mode)", have_dap_mode()) {
        return;
    }
    let workspace = example_dir();
    let line = line_of(&workspace.join("score.py"), "dockdap-demo: breakpoint");
    let name = format!("dockdap-test-dap-mode-{}", std::process::id());
    run_dap_mode_session(
        &workspace,
        &[
            ("SCENARIO", "launch".as_ref()),
            ("IMAGE", DEBUG_IMAGE.as_ref()),
            ("CONTAINER", name.as_ref()),
            ("WORKSPACE", workspace.as_os_str()),
            ("BREAK_LINE", line.to_string().as_ref()),
        ],
    )
    .await;
    let gone = wait_gone(&name, Duration::from_secs(20)).await;
    if !gone {
        let _ = Command::new("docker").args(["rm", "-f", &name]).output();
    }
    assert!(gone, "the container {name} is removed when the dap-mode session ends");
}
