//! The checks a configuration passes before dockdap uses it. Each failure
//! names the attribute, says what was wrong and shows an example of what is
//! right: `` `ports` must be a list of "HOST:CONTAINER" strings, e.g.
//! ["8000:5001"], not the number 5001 ``.
//!
//! Two layers. [`against_schema`] compares every attribute dockdap owns with
//! the request's own JSON schema (the one `dockdap schema` prints), so an
//! attribute is checked as soon as it is declared in `config`'s types; serde
//! then reads values already known to fit. [`meanings`] checks what a type
//! cannot say: a port over 65535, a relative path (which would silently
//! leave breakpoints unmapped), a container name Docker refuses.
//! [`likely_typos`] finds attributes that look like a misspelt dockdap
//! attribute: they would otherwise go to debugpy unnoticed.
//!
//! This module only judges values; it reads no file and starts nothing.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::{AttachArguments, LaunchArguments, PathArguments, Request};
use crate::paths::{HostFlavour, Mapping, PathMap};

/// What one attribute must be and an example of it, for the attributes whose
/// schema alone says too little. Keys are attribute paths with list indices
/// and object keys left out: `pathMappings[].localRoot`, `env.*`.
const ATTRIBUTES: &[(&str, &str, &str)] = &[
    ("image", "an image name", r#""debug:1""#),
    ("containerName", "a container name", r#""score-debug""#),
    ("appRoot", "an absolute path in the container", r#""/var/azureml-app""#),
    ("localRoot", "an absolute path on this machine", r#""${workspaceFolder}""#),
    (
        "pathMappings",
        "a list of {localRoot, remoteRoot} objects",
        r#"[{"localRoot": "${workspaceFolder}/lib", "remoteRoot": "/opt/lib"}]"#,
    ),
    ("pathMappings[]", "an object", r#"{"localRoot": "${workspaceFolder}/lib", "remoteRoot": "/opt/lib"}"#),
    ("pathMappings[].localRoot", "a folder on this machine", r#""${workspaceFolder}/lib""#),
    ("pathMappings[].remoteRoot", "a folder in the container", r#""/opt/lib""#),
    ("ports", r#"a list of "HOST:CONTAINER" strings"#, r#"["8000:5001"]"#),
    ("ports[]", r#"a "HOST:CONTAINER" string"#, r#""8000:5001""#),
    ("debugPort", "a port number", "5678"),
    ("timeout", "a number of seconds", "60"),
    ("env", "an object of environment variables", r#"{"AZUREML_MODEL_DIR": "/var/azureml-app/azureml-models"}"#),
    ("env.*", "a string", r#""1""#),
    ("command", "a list of strings", r#"["python3", "score.py"]"#),
    ("command[]", "a string", r#""score.py""#),
    ("entrypoint", "a list of strings", r#"["/bin/sh", "/var/azureml-app/start.sh"]"#),
    ("entrypoint[]", "a string", r#""/bin/sh""#),
    ("tmpfs", "a list of absolute paths in the container", r#"["/tmp"]"#),
    ("tmpfs[]", "an absolute path in the container", r#""/tmp""#),
    ("sync", "an object", r#"{"fromContainer": "auto", "toContainer": "off"}"#),
    ("debugpyPath", "a folder on this machine", r#""/usr/lib/python3/dist-packages/debugpy""#),
    ("container", "a container name or id", r#""score-debug""#),
    ("connect", "an object", r#"{"host": "127.0.0.1", "port": 5678}"#),
    ("connect.host", "a host name or address", r#""127.0.0.1""#),
    ("connect.port", "a port number", "5678"),
    ("compose", "an object", r#"{"service": "scoring"}"#),
    ("compose.file", "a list of Compose files", r#"["docker-compose.yml"]"#),
    ("compose.file[]", "a Compose file", r#""docker-compose.yml""#),
    ("compose.service", "a service name", r#""scoring""#),
    ("compose.project", "a project name", r#""shop""#),
    ("compose.profiles", "a list of profile names", r#"["debug"]"#),
    ("compose.profiles[]", "a profile name", r#""debug""#),
    ("compose.index", "a replica number", "1"),
    ("compose.alsoDebug", "a list of service names", r#"["features"]"#),
    ("compose.alsoDebug[]", "a service name", r#""features""#),
    ("kubernetes", "an object", r#"{"pod": "score-7d4f9", "namespace": "default"}"#),
    ("kubernetes.pod", "a pod name", r#""score-7d4f9""#),
    ("kubernetes.selector", "a label selector", r#""app=score""#),
    ("kubernetes.deployment", "a Deployment name", r#""score""#),
    ("kubernetes.namespace", "a namespace", r#""default""#),
    ("kubernetes.container", "a container name in the pod", r#""score""#),
    ("kubernetes.context", "a kubeconfig context", r#""my-aks""#),
    ("kubernetes.kubeconfig", "a kubeconfig file on this machine", r#""/home/me/.kube/config""#),
];

/// Where a value sits: as shown to the user (`pathMappings[0].localRoot`)
/// and as looked up in [`ATTRIBUTES`] (`pathMappings[].localRoot`).
#[derive(Debug, Clone)]
struct Place {
    shown: String,
    pattern: String,
}

impl Place {
    fn top(key: &str) -> Place {
        Place { shown: key.to_owned(), pattern: key.to_owned() }
    }
    fn index(&self, i: usize) -> Place {
        Place { shown: format!("{}[{i}]", self.shown), pattern: format!("{}[]", self.pattern) }
    }
    fn field(&self, key: &str) -> Place {
        Place { shown: format!("{}.{key}", self.shown), pattern: format!("{}.{key}", self.pattern) }
    }
    fn any_key(&self, key: &str) -> Place {
        Place { shown: format!("{}.{key}", self.shown), pattern: format!("{}.*", self.pattern) }
    }
    fn known(&self) -> Option<(&'static str, &'static str)> {
        ATTRIBUTES.iter().find(|(p, _, _)| *p == self.pattern).map(|(_, noun, example)| (*noun, *example))
    }
}

/// Checks every attribute of `args` that `schema` (one request's schema)
/// declares, and that its required ones are there.
pub(super) fn against_schema(args: &Map<String, Value>, schema: &Value) -> Result<(), String> {
    let properties = schema.get("properties").and_then(Value::as_object);
    for (key, value) in args {
        if let Some(property) = properties.and_then(|p| p.get(key)) {
            check(&Place::top(key), value, property)?;
        }
    }
    for key in required(schema) {
        if !args.contains_key(key) {
            return Err(missing(key, args));
        }
    }
    Ok(())
}

/// "`key` is required: ..." and the attribute it was probably misspelt as.
pub(super) fn missing(key: &str, args: &Map<String, Value>) -> String {
    let place = Place::top(key);
    let (noun, example) = place.known().unwrap_or(("a value", "\"...\""));
    let mut message = format!("`{key}` is required: {noun} such as {example}");
    if key == "image" {
        message = format!(
            "`image` is required: the image to debug, e.g. {example} (build the example with `dockdap demo`), `compose` with the service to debug, e.g. \"compose\": {{\"service\": \"scoring\"}}, or `kubernetes` with the Deployment or pod to copy, e.g. \"kubernetes\": {{\"deployment\": \"score\"}}"
        );
    }
    if let Some(near) = nearest(key, args.keys().map(String::as_str)) {
        message.push_str(&format!("; `{near}` is not a dockdap attribute: did you mean `{key}`?"));
    }
    message
}

fn required(schema: &Value) -> impl Iterator<Item = &str> {
    schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
}

fn check(place: &Place, value: &Value, schema: &Value) -> Result<(), String> {
    if let Some(choices) = choices(schema) {
        return match value.as_str() {
            Some(s) if choices.contains(&s) => Ok(()),
            _ => Err(wrong(place, value, schema)),
        };
    }
    let types = types(schema);
    if value.is_null() && types.contains(&"null") {
        return Ok(());
    }
    match types.iter().copied().find(|t| *t != "null").unwrap_or("") {
        "" => Ok(()),
        "string" if value.is_string() => Ok(()),
        "boolean" if value.is_boolean() => Ok(()),
        kind @ ("integer" | "number") => match number(value) {
            Some(n) if in_range(n, kind == "integer", schema) => Ok(()),
            _ => Err(wrong(place, value, schema)),
        },
        "array" if value.is_array() => {
            let items = value.as_array().into_iter().flatten();
            match schema.get("items") {
                Some(item_schema) => {
                    items.enumerate().try_for_each(|(i, item)| check(&place.index(i), item, item_schema))
                }
                None => Ok(()),
            }
        }
        "object" => match value.as_object() {
            Some(map) => object(place, map, schema),
            None => Err(wrong(place, value, schema)),
        },
        _ => Err(wrong(place, value, schema)),
    }
}

/// An object's fields: those it declares (required ones present, no others:
/// a misspelt `sync.fromcontainer` would otherwise be ignored), or any key
/// with values of one schema (`env`).
fn object(place: &Place, map: &Map<String, Value>, schema: &Value) -> Result<(), String> {
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (key, value) in map {
            match properties.get(key) {
                Some(property) => check(&place.field(key), value, property)?,
                None => {
                    let names: Vec<String> = properties.keys().map(|k| format!("`{k}`")).collect();
                    let mut message =
                        format!("`{}` has no setting `{key}`: it takes {}", place.shown, names.join(", "));
                    if let Some(near) = nearest(key, properties.keys().map(String::as_str)) {
                        message.push_str(&format!(" (did you mean `{near}`?)"));
                    }
                    return Err(format!("{message}, e.g. {}", example(place, schema)));
                }
            }
        }
        for key in required(schema) {
            if !map.contains_key(key) {
                let mut message = format!("`{}` needs `{key}`, e.g. {}", place.shown, example(place, schema));
                if place.pattern == "pathMappings[]" {
                    message.push_str(
                        "; each entry maps one more folder (the top-level `localRoot` and `appRoot` are mapped already: remove the entry if that is all you meant)",
                    );
                }
                return Err(message);
            }
        }
        return Ok(());
    }
    if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        for (key, value) in map {
            check(&place.any_key(key), value, values)?;
        }
    }
    Ok(())
}

/// The allowed strings of an enum (`oneOf` of `const`s, or `enum`).
fn choices(schema: &Value) -> Option<Vec<&str>> {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values.iter().map(Value::as_str).collect();
    }
    let variants = schema.get("oneOf").or_else(|| schema.get("anyOf"))?.as_array()?;
    variants.iter().map(|v| v.get("const").and_then(Value::as_str)).collect()
}

fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// A number, or a string holding one (Helix and vimspector can only send
/// strings; see `lenient`). Never NaN or infinite.
fn number(value: &Value) -> Option<f64> {
    let n = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    n.is_finite().then_some(n)
}

fn in_range(n: f64, integer: bool, schema: &Value) -> bool {
    let min = schema.get("minimum").and_then(Value::as_f64).unwrap_or(f64::MIN);
    let max = schema.get("maximum").and_then(Value::as_f64).unwrap_or(f64::MAX);
    (!integer || n.fract() == 0.0) && (min..=max).contains(&n)
}

/// "`place` must be NOUN, e.g. EXAMPLE, not WHAT-IT-WAS" and a hint.
fn wrong(place: &Place, value: &Value, schema: &Value) -> String {
    let mut message = format!(
        "`{}` must be {}, e.g. {}, not {}",
        place.shown,
        noun(place, schema),
        example(place, schema),
        shown(value)
    );
    if let Some(hint) = hint(place, value, schema) {
        message.push_str("; ");
        message.push_str(&hint);
    }
    message
}

fn noun(place: &Place, schema: &Value) -> String {
    let mut noun = match (place.known(), choices(schema)) {
        (_, Some(choices)) => {
            let quoted: Vec<String> = choices.iter().map(|c| format!("{c:?}")).collect();
            return format!("one of {}", quoted.join(", "));
        }
        (Some((noun, _)), None) => noun.to_owned(),
        (None, None) => derived_noun(schema),
    };
    let types = types(schema);
    if types.contains(&"integer") || types.contains(&"number") {
        let min = schema.get("minimum").and_then(Value::as_f64);
        let max = schema.get("maximum").and_then(Value::as_f64);
        if let (Some(min), Some(max)) = (min, max) {
            noun.push_str(&format!(" from {min} to {max}"));
        } else if let Some(min) = min {
            noun.push_str(&format!(" of {min} or more"));
        }
    }
    noun
}

fn derived_noun(schema: &Value) -> String {
    match types(schema).iter().copied().find(|t| *t != "null").unwrap_or("") {
        "string" => "a string".into(),
        "boolean" => "true or false".into(),
        "integer" => "a whole number".into(),
        "number" => "a number".into(),
        "array" => match schema.get("items").map(types) {
            Some(item) if item.contains(&"string") => "a list of strings".into(),
            Some(item) if item.contains(&"object") => "a list of objects".into(),
            _ => "a list".into(),
        },
        "object" => match schema.get("properties").and_then(Value::as_object) {
            Some(p) => format!("an object with {}", p.keys().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")),
            None => "an object".into(),
        },
        _ => "a value".into(),
    }
}

/// An example of a right value: from the table, else the schema's default
/// when it says something, else the first choice.
fn example(place: &Place, schema: &Value) -> String {
    if let Some((_, example)) = place.known() {
        return example.to_owned();
    }
    match (schema.get("default"), choices(schema)) {
        (_, Some(choices)) if !choices.is_empty() => format!("{:?}", choices[0]),
        (Some(d), _) if !d.is_null() && d != &Value::Array(vec![]) && d != &Value::Object(Map::new()) => d.to_string(),
        _ => match derived_noun(schema).as_str() {
            "true or false" => "true".into(),
            "a whole number" | "a number" => "1".into(),
            "a list of strings" => r#"["..."]"#.into(),
            _ => r#""...""#.into(),
        },
    }
}

/// How a wrong value is named: `the number 5001`, `the string "x"`, `a list`.
fn shown(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() > 60 => {
            format!("the string {:?}...", s.chars().take(60).collect::<String>())
        }
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// What the user probably meant, when it can be guessed from what they wrote.
fn hint(place: &Place, value: &Value, schema: &Value) -> Option<String> {
    let types = types(schema);
    let text = match value {
        Value::String(s) => Some(s.as_str()),
        _ => None,
    };
    if types.contains(&"boolean") && matches!(text, Some("true" | "false")) {
        return Some("write it without quotes".into());
    }
    let fits_as_item = schema.get("items").is_some_and(|items| check(&place.index(0), value, items).is_ok());
    if types.contains(&"array") && (fits_as_item || matches!(value, Value::Number(_))) {
        let item = match (value, place.pattern.as_str()) {
            (Value::String(s), "command" | "entrypoint") => {
                let words: Vec<String> = s.split_whitespace().map(|w| format!("{w:?}")).collect();
                return Some(format!("write one string per word: [{}]", words.join(", ")));
            }
            (Value::String(s), _) => format!("{s:?}"),
            (other, _) => format!("\"{other}\""),
        };
        return Some(format!("a single value is written as a list: [{item}]"));
    }
    if place.pattern == "connect"
        && let Some((host, port)) = text.and_then(|t| t.rsplit_once(':'))
        && let Ok(port) = port.parse::<u16>()
    {
        return Some(format!("write {{\"host\": {host:?}, \"port\": {port}}}"));
    }
    if place.pattern == "env" && value.is_array() {
        let pairs: Option<Vec<String>> = value
            .as_array()?
            .iter()
            .map(|v| v.as_str()?.split_once('=').map(|(k, v)| format!("{k:?}: {v:?}")))
            .collect();
        return pairs.map(|pairs| format!("write [\"A=1\"] as {{\"A\": \"1\"}}: {{{}}}", pairs.join(", ")));
    }
    None
}

/// The closest of `candidates` to `word`, if it is close enough to be a
/// slip of the keyboard (same letters in another case, or one or two edits).
pub(crate) fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| (strsim::levenshtein(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len() / 4).clamp(1, 2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Attributes that dockdap does not own but that look like one it does
/// (`localroot`, `appRooot`): each goes to debugpy, so say so.
pub(super) fn likely_typos(args: &Map<String, Value>, owned: &[String]) -> Vec<String> {
    args.keys()
        .filter(|k| !owned.contains(k))
        .filter_map(|k| {
            let near = nearest(k, owned.iter().map(String::as_str))?;
            // debugpy's own `port`/`host` are not misspelt `ports`/`connect`.
            (!DEBUGPY_ATTRIBUTES.contains(&k.as_str())).then(|| {
                format!("`{k}` is not a dockdap attribute (did you mean `{near}`?); it is passed to debugpy as it is")
            })
        })
        .collect()
}

/// debugpy's attach attributes that are one edit away from dockdap's.
const DEBUGPY_ATTRIBUTES: &[&str] = &["port", "host", "timeout"];

/// What types cannot say: ports in range and not used twice, absolute
/// paths, names Docker accepts.
pub(super) fn meanings(request: &Request) -> Result<(), String> {
    match request {
        Request::Launch(args) => launch(args),
        Request::Attach(args) => attach(args),
    }
}

fn launch(args: &LaunchArguments) -> Result<(), String> {
    if let Some(compose) = &args.compose {
        super::targets::compose_service(compose)?;
        if let Some(name) = &args.container_name {
            return Err(format!(
                "`containerName` {name:?} cannot be used with `compose`: the Compose tool names the service's container; remove it, e.g. \"compose\": {{\"service\": {:?}}}",
                compose.service
            ));
        }
        if args.commit_on_restart {
            return Err(format!(
                "`commitOnRestart` cannot be used with `compose`: a restart brings the project up again from its Compose files; remove it (`commitOnExit` still snapshots the service's container), e.g. \"compose\": {{\"service\": {:?}}}",
                compose.service
            ));
        }
        return paths(&args.paths);
    }
    if let Some(target) = &args.kubernetes {
        return super::targets::kubernetes_launch(args, target);
    }
    if args.image.trim().is_empty() {
        return Err("`image` is empty: name the image to debug, e.g. \"debug:1\"".into());
    }
    image_reference(&args.image)?;
    if let Some(name) = &args.container_name {
        container_name(name)?;
    }
    paths(&args.paths)?;
    let mut hosts = BTreeSet::new();
    for (i, pair) in args.ports.iter().enumerate() {
        let (host, _) = super::parse_port_pair(pair).map_err(|e| format!("`ports[{i}]` {e}"))?;
        if host != 0 && !hosts.insert(host) {
            return Err(format!(
                "`ports[{i}]` {pair:?} publishes host port {host} a second time: give each pair its own host port, e.g. [\"8000:5001\", \"8001:5002\"] (or 0 to let Docker choose)"
            ));
        }
    }
    for (i, path) in args.tmpfs.iter().enumerate() {
        if !path.starts_with('/') || path.contains(':') || path.trim() != path {
            return Err(format!(
                "`tmpfs[{i}]` {path:?} is not an absolute path in the container: write a folder such as \"/tmp\" (Docker's `--tmpfs` options are not taken here)"
            ));
        }
    }
    for name in args.env.keys() {
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            return Err(format!(
                "`env` has the name {name:?}, which cannot be an environment variable (no `=`, not empty): write {{\"NAME\": \"value\"}}, e.g. {{\"AZUREML_MODEL_DIR\": \"/var/azureml-app/azureml-models\"}}"
            ));
        }
    }
    Ok(())
}

fn attach(args: &AttachArguments) -> Result<(), String> {
    if let Some(compose) = &args.compose {
        super::targets::compose_service(compose)?;
        if let Some(other) = compose.also_debug.first() {
            return Err(format!(
                "`compose.alsoDebug` is for `launch`: an attach joins one running service; attach to {other:?} from a configuration of its own, e.g. \"compose\": {{\"service\": {other:?}}}"
            ));
        }
    }
    if let Some(name) = &args.container
        && name.trim().is_empty()
    {
        return Err(
            "`container` is empty: name a running container, e.g. \"score-debug\" (`docker ps` lists them)".into()
        );
    }
    if let Some(connect) = &args.connect
        && connect.host.trim().is_empty()
    {
        return Err("`connect.host` is empty: write a host name or address, e.g. \"127.0.0.1\"".into());
    }
    if let Some(target) = &args.kubernetes {
        super::kubernetes::check(target)?;
    }
    paths(&args.paths)
}

/// The careless mistakes in an image reference that Docker would answer
/// with "invalid reference format" (which dockdap then reported as a
/// missing image): white space, and capitals in the repository path (a
/// registry host such as `MyReg.azurecr.io` may have them). Docker still
/// judges everything else.
fn image_reference(image: &str) -> Result<(), String> {
    let example = |fixed: &str| format!("e.g. {fixed:?}");
    if image.chars().any(char::is_whitespace) {
        let fixed: String = image.split_whitespace().collect::<Vec<_>>().join("-");
        return Err(format!(
            "`image` {image:?} is not an image name: it cannot hold spaces, {}",
            example(&fixed.to_ascii_lowercase())
        ));
    }
    let name = image.split('@').next().unwrap_or(image);
    let (path, tag) = match name.rsplit_once(':') {
        Some((path, tag)) if !tag.contains('/') => (path, Some(tag)),
        _ => (name, None),
    };
    let mut components: Vec<&str> = path.split('/').collect();
    let registry = components.len() > 1
        && (components[0].contains('.') || components[0].contains(':') || components[0] == "localhost");
    if registry {
        components.remove(0);
    }
    if components.iter().any(|c| c.chars().any(|ch| ch.is_ascii_uppercase())) {
        let lower = components.join("/").to_ascii_lowercase();
        let host = if registry { format!("{}/", path.split('/').next().unwrap_or_default()) } else { String::new() };
        let fixed = format!("{host}{lower}{}", tag.map(|t| format!(":{t}")).unwrap_or_default());
        return Err(format!(
            "`image` {image:?} is not an image name Docker accepts: repository names are lowercase, {}",
            example(&fixed)
        ));
    }
    Ok(())
}

/// Docker's rule for container names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
fn container_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return Ok(());
    }
    Err(format!(
        "`containerName` {name:?} is not a name Docker accepts: use letters, digits, `_`, `.` and `-`, starting with a letter or digit, e.g. \"score-debug\" (leave it out to get a generated one)"
    ))
}

/// The roots must be absolute: a relative one used to switch path mapping
/// off with only a line on stderr, so breakpoints silently did not bind.
pub(super) fn paths(paths: &PathArguments) -> Result<(), String> {
    let placeholder = "/workspace";
    let host = |s: &str| s.replace("${workspaceFolder}", placeholder);
    let absolute_host = |s: &str| PathMap::try_new(vec![Mapping::new(host(s), "/")]).is_ok();
    let absolute_container = |s: &str| PathMap::try_new(vec![Mapping::new(placeholder, s)]).is_ok();
    if !absolute_container(&paths.app_root) {
        return Err(format!(
            "`appRoot` {:?} is not an absolute path in the container: write the full path of the app's folder, e.g. \"/var/azureml-app\"",
            paths.app_root
        ));
    }
    if let Some(local) = &paths.local_root
        && !absolute_host(local)
    {
        return Err(format!(
            "`localRoot` {local:?} is not an absolute path{}: write the full path of the folder on this machine, e.g. \"${{workspaceFolder}}\" or \"${{workspaceFolder}}/src\" (a relative one would leave breakpoints unmapped)",
            why_relative(local)
        ));
    }
    for (i, mapping) in paths.path_mappings.iter().enumerate() {
        if !absolute_host(&mapping.local_root) {
            return Err(format!(
                "`pathMappings[{i}].localRoot` {:?} is not an absolute path{}: write a full path on this machine, e.g. \"${{workspaceFolder}}/lib\"",
                mapping.local_root,
                why_relative(&mapping.local_root)
            ));
        }
        if !absolute_container(&mapping.remote_root) {
            return Err(format!(
                "`pathMappings[{i}].remoteRoot` {:?} is not an absolute path in the container: write a full path, e.g. \"/opt/lib\"",
                mapping.remote_root
            ));
        }
    }
    Ok(())
}

/// Why a host path that looks meant to be absolute is not.
fn why_relative(path: &str) -> &'static str {
    if path.starts_with('~') {
        " (`~` is not expanded)"
    } else if path.starts_with("${") {
        " (only ${workspaceFolder} is substituted; the editor left this variable as it was)"
    } else if HostFlavour::detect(path) == HostFlavour::Windows {
        " (a drive letter needs a backslash after it, e.g. C:\\\\Users\\\\me\\\\project)"
    } else {
        ""
    }
}
