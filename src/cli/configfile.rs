//! Reading a launch configuration from a file, as `dockdap up` and
//! `dockdap doctor` do: one JSON object (`"request": "launch"`), or a VS Code
//! `launch.json` whose `configurations` hold a dockdap one.
//!
//! VS Code's `launch.json` is JSON with comments (`//`, `/* */`) and
//! trailing commas; it is read by `jsonc-parser` with exactly those two
//! allowed (anything else JSON does not allow stays an error, with its line
//! and column), into a `serde_json::Value` that keeps the key order. `${workspaceFolder}`,
//! `${workspaceFolderBasename}` and `${env:NAME}` are substituted in every
//! string, as the editor would; the unsubstituted configuration is kept too,
//! for printing configurations meant to be pasted back into `launch.json`.
//!
//! This module reads and chooses; it does not validate the configuration
//! (`config::SessionConfig::parse` does).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Why a configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file cannot be read.
    #[error("cannot read the launch configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON (comments and trailing commas allowed).
    #[error("{path}:{line}:{column}: not valid JSON: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// A launch.json without a dockdap launch configuration.
    #[error(
        "{path} has no dockdap launch configuration (one with \"type\": \"dockdap\", \"request\": \"launch\" and an \"image\"); add one, e.g. {{\"type\": \"dockdap\", \"request\": \"launch\", \"name\": \"debug\", \"image\": \"debug:1\"}}"
    )]
    NoDockdapConfig {
        /// The file.
        path: PathBuf,
    },
    /// `--name` matches no configuration.
    #[error("{path} has no dockdap launch configuration named {name:?}; its dockdap launch configurations: {names}")]
    NoSuchName {
        /// The file.
        path: PathBuf,
        /// The name asked for.
        name: String,
        /// The names there are.
        names: String,
    },
    /// A single configuration that is not a launch.
    #[error(
        "{path} is an {request:?} configuration; this needs a \"launch\" configuration (it names the image to start)"
    )]
    NotLaunch {
        /// The file.
        path: PathBuf,
        /// Its `request`.
        request: String,
    },
}

/// A chosen launch configuration.
#[derive(Debug, Clone)]
pub struct LaunchFile {
    /// The configuration, variables substituted.
    pub config: Value,
    /// The same, as written in the file.
    pub raw: Value,
    /// Where `${workspaceFolder}` points: the folder holding `.vscode/`, else the current directory.
    pub workspace: PathBuf,
    /// The file it came from.
    pub path: PathBuf,
    /// Its `name`, if any.
    pub name: Option<String>,
    /// Set when other dockdap configurations were passed over.
    pub note: Option<String>,
}

/// `./.vscode/launch.json` if it exists.
pub fn default_launch_json(cwd: &Path) -> Option<PathBuf> {
    let path = cwd.join(".vscode").join("launch.json");
    path.is_file().then_some(path)
}

/// Reads `path` and picks the launch configuration to use (`name` chooses
/// among several in a launch.json).
pub fn load(path: &Path, name: Option<&str>, cwd: &Path) -> Result<LaunchFile, ConfigFileError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read { path: path.to_path_buf(), source })?;
    let value = parse_jsonc(&text).map_err(|e| ConfigFileError::Parse {
        path: path.to_path_buf(),
        line: e.line_display(),
        column: e.column_display(),
        message: e.kind().to_string(),
    })?;
    let workspace = workspace_of(path, cwd);
    let (raw, note) = choose(&value, name, path)?;
    let mut config = raw.clone();
    substitute(&mut config, &workspace);
    let name = raw.get("name").and_then(Value::as_str).map(str::to_owned);
    Ok(LaunchFile { config, raw, workspace, path: path.to_path_buf(), name, note })
}

/// The workspace folder of a configuration file: `X` for `X/.vscode/launch.json`.
fn workspace_of(path: &Path, cwd: &Path) -> PathBuf {
    let absolute = if path.is_absolute() { path.to_path_buf() } else { cwd.join(path) };
    match absolute.parent() {
        Some(dir) if dir.file_name().is_some_and(|n| n == ".vscode") => {
            dir.parent().map(Path::to_path_buf).unwrap_or_else(|| cwd.to_path_buf())
        }
        _ => cwd.to_path_buf(),
    }
}

fn choose(value: &Value, name: Option<&str>, path: &Path) -> Result<(Value, Option<String>), ConfigFileError> {
    let Some(object) = value.as_object() else {
        return Err(ConfigFileError::NoDockdapConfig { path: path.to_path_buf() });
    };
    let Some(configurations) = object.get("configurations") else {
        // A single configuration.
        return match object.get("request").and_then(Value::as_str) {
            Some(request) if request != "launch" => {
                Err(ConfigFileError::NotLaunch { path: path.to_path_buf(), request: request.to_owned() })
            }
            _ => Ok((value.clone(), None)),
        };
    };
    let candidates: Vec<&Map<String, Value>> = configurations
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .filter(|c| {
            c.get("type").and_then(Value::as_str) == Some("dockdap")
                && c.get("request").and_then(Value::as_str) == Some("launch")
        })
        .collect();
    let label = |c: &Map<String, Value>| c.get("name").and_then(Value::as_str).unwrap_or("(unnamed)").to_owned();
    match name {
        Some(wanted) => candidates
            .iter()
            .find(|c| c.get("name").and_then(Value::as_str) == Some(wanted))
            .map(|c| (Value::Object((*c).clone()), None))
            .ok_or_else(|| ConfigFileError::NoSuchName {
                path: path.to_path_buf(),
                name: wanted.to_owned(),
                names: if candidates.is_empty() {
                    "none".to_owned()
                } else {
                    candidates.iter().map(|c| format!("{:?}", label(c))).collect::<Vec<_>>().join(", ")
                },
            }),
        None => {
            let first =
                candidates.first().ok_or_else(|| ConfigFileError::NoDockdapConfig { path: path.to_path_buf() })?;
            let note = (candidates.len() > 1).then(|| {
                format!(
                    "using {:?}, the first of {} dockdap launch configurations (choose with --name)",
                    label(first),
                    candidates.len()
                )
            });
            Ok((Value::Object((*first).clone()), note))
        }
    }
}

/// Substitutes the editor's variables in every string.
fn substitute(value: &mut Value, workspace: &Path) {
    match value {
        Value::String(s) if s.contains("${") => *s = substitute_str(s, workspace),
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, workspace)),
        Value::Object(map) => map.values_mut().for_each(|v| substitute(v, workspace)),
        _ => {}
    }
}

fn substitute_str(s: &str, workspace: &Path) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let var = &after[..end];
        match var {
            "workspaceFolder" | "workspaceRoot" => out.push_str(&workspace.to_string_lossy()),
            "workspaceFolderBasename" => {
                out.push_str(&workspace.file_name().map(|n| n.to_string_lossy()).unwrap_or_default())
            }
            _ => match var.strip_prefix("env:") {
                Some(name) => out.push_str(&std::env::var(name).unwrap_or_default()),
                None => out.push_str(&rest[start..start + 2 + end + 1]),
            },
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// JSON as VS Code writes `launch.json`: comments and trailing commas, and
/// nothing else beyond JSON (no single quotes, unquoted keys, hex numbers...).
pub fn parse_jsonc(text: &str) -> Result<Value, jsonc_parser::errors::ParseError> {
    let options = jsonc_parser::ParseOptions {
        allow_comments: true,
        allow_trailing_commas: true,
        allow_loose_object_property_names: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    };
    jsonc_parser::parse_to_serde_value(text, &options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expect: Value) {
        let parsed = parse_jsonc(input).unwrap();
        assert_eq!(parsed, expect, "{input}");
    }

    #[test]
    fn comments_and_trailing_commas() {
        check("{\"a\": 1, // one\n \"b\": [1, 2,], /* two\n lines */ }", serde_json::json!({"a": 1, "b": [1, 2]}));
        check(
            "{\"url\": \"http://x//y\", \"c\": \"/* not */\", \"q\": \"\\\"//\"}",
            serde_json::json!({"url": "http://x//y", "c": "/* not */", "q": "\"//"}),
        );
        check("[1, /* , */ 2 , ]", serde_json::json!([1, 2]));
        check("{\"é\": \"ü\", // ñ\n}", serde_json::json!({"é": "ü"}));
        // Keys keep the file's order (printed configurations stay diffable).
        let keys: Vec<String> =
            parse_jsonc("{\"b\": 1, \"a\": 2}").unwrap().as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["b", "a"]);
        // Positions count the comments' lines; JSON5 extras stay errors.
        let err = parse_jsonc("{\n// x\n/* y\n */ \"a\": 1 2}").unwrap_err();
        assert_eq!((err.line_display(), err.column_display()), (4, 11), "{err}");
        for not_json in ["{'a': 1}", "{a: 1}", "[0x1]", "[+1]", "[1 2]"] {
            assert!(parse_jsonc(not_json).is_err(), "{not_json}");
        }
    }

    #[test]
    fn chooses_the_dockdap_launch_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let vscode = dir.path().join("ws/.vscode");
        std::fs::create_dir_all(&vscode).unwrap();
        let file = vscode.join("launch.json");
        std::fs::write(
            &file,
            r#"{
              // VS Code writes these
              "version": "0.2.0",
              "configurations": [
                {"type": "python", "request": "launch", "name": "local"},
                {"type": "dockdap", "request": "attach", "name": "join", "container": "x"},
                {"type": "dockdap", "request": "launch", "name": "one", "image": "a:1", "localRoot": "${workspaceFolder}/src",},
                {"type": "dockdap", "request": "launch", "name": "two", "image": "b:1", "env": {"H": "${env:DOCKDAP_TEST_NOPE}x"}},
              ],
            }"#,
        )
        .unwrap();
        let cwd = dir.path();
        let loaded = load(&file, None, cwd).unwrap();
        assert_eq!(loaded.name.as_deref(), Some("one"));
        assert!(loaded.note.unwrap().contains("first of 2"));
        let ws = dir.path().join("ws");
        assert_eq!(loaded.workspace, ws);
        assert_eq!(loaded.config["localRoot"], format!("{}/src", ws.display()));
        assert_eq!(loaded.raw["localRoot"], "${workspaceFolder}/src");
        let two = load(&file, Some("two"), cwd).unwrap();
        assert_eq!(two.config["image"], "b:1");
        assert_eq!(two.config["env"]["H"], "x");
        let err = load(&file, Some("three"), cwd).unwrap_err().to_string();
        assert!(
            err.contains("no dockdap launch configuration named \"three\"") && err.contains("\"one\", \"two\""),
            "{err}"
        );
    }

    #[test]
    fn single_objects_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.json");
        std::fs::write(&file, r#"{"type": "dockdap", "request": "launch", "image": "a:1"}"#).unwrap();
        let loaded = load(&file, None, Path::new("/cwd")).unwrap();
        assert_eq!((loaded.config["image"].as_str(), loaded.workspace.as_path()), (Some("a:1"), Path::new("/cwd")));
        std::fs::write(&file, r#"{"request": "attach", "container": "x"}"#).unwrap();
        assert!(matches!(load(&file, None, Path::new("/")), Err(ConfigFileError::NotLaunch { .. })));
        std::fs::write(&file, "{\n  \"image\": 1 2\n}").unwrap();
        let err = load(&file, None, Path::new("/")).unwrap_err().to_string();
        assert!(err.contains("c.json:2:"), "{err}");
        std::fs::write(&file, r#"{"configurations": []}"#).unwrap();
        assert!(matches!(load(&file, None, Path::new("/")), Err(ConfigFileError::NoDockdapConfig { .. })));
        assert!(matches!(load(&dir.path().join("none.json"), None, Path::new("/")), Err(ConfigFileError::Read { .. })));
    }

    #[test]
    fn variables() {
        let ws = Path::new("/home/u/proj");
        assert_eq!(substitute_str("${workspaceFolder}/a", ws), "/home/u/proj/a");
        assert_eq!(substitute_str("${workspaceFolderBasename}", ws), "proj");
        assert_eq!(substitute_str("${command:pick} ${unclosed", ws), "${command:pick} ${unclosed");
    }
}
