//! Where file paths live in DAP messages, kept as data, and the
//! `PathRewriter` that applies a `PathMap` at exactly those places.
//!
//! The tables below were walked from `debugAdapterProtocol.json` (see §3.4 of
//! the research notes): `Source` objects in requests are rewritten host ->
//! container, `Source` objects, module paths and the process name in
//! responses and events container -> host, and traceback text in `output`
//! and `exceptionInfo` container -> host. The rewriter also converts between
//! `file://` URIs and paths when the client asked for `pathFormat: "uri"`
//! (debugpy only speaks paths), and remembers how the client spelled each
//! file so it gets its own spelling back. It deliberately does not walk
//! every string (a variable's value can look like a path), does not touch
//! `setExceptionBreakpoints`' `exceptionOptions[*].path` (exception names,
//! not files) or `Source`s with a `sourceReference` (the adapter serves their
//! content), and does not handle launch/attach/startDebugging arguments:
//! the session owns those and uses `value_to_container`/`value_to_host`.

use std::collections::{HashMap, VecDeque};

use serde_json::Value;
use serde_json::value::RawValue;

use super::map::PathMap;
use super::splice::{Splices, elements, members, reach, string};
use super::traceback::rewrite_frames;
use super::uri::{file_uri_to_path, is_file_uri, path_to_file_uri};

/// What sits at a path-carrying location.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    /// A DAP `Source`: `path` unless `sourceReference` > 0, then `sources[]`.
    Source,
    /// A string that is a file path (`Module.path`, `Module.symbolFilePath`).
    Path,
    /// `ProcessEvent.name`: "usually the full path"; rewritten only when it
    /// maps, and never turned into a URI because it is a name.
    ProcessName,
    /// Free text that may hold a Python traceback.
    Traceback,
    /// `ExceptionDetails`: `stackTrace` text, recursing into `innerException[]`.
    ExceptionDetails,
}

use Field::{ExceptionDetails, Path, ProcessName, Source, Traceback};

/// Client -> adapter requests: (command, pointer into `arguments`, field).
/// `*` stands for every element of an array.
const REQUEST_FIELDS: &[(&str, &str, Field)] = &[
    ("setBreakpoints", "/source", Source),
    ("breakpointLocations", "/source", Source),
    ("source", "/source", Source),
    ("gotoTargets", "/source", Source),
    ("evaluate", "/source", Source),
];

/// Adapter -> client responses: (command, pointer into `body`, field).
const RESPONSE_FIELDS: &[(&str, &str, Field)] = &[
    ("setBreakpoints", "/breakpoints/*/source", Source),
    ("setFunctionBreakpoints", "/breakpoints/*/source", Source),
    ("setExceptionBreakpoints", "/breakpoints/*/source", Source),
    ("setDataBreakpoints", "/breakpoints/*/source", Source),
    ("setInstructionBreakpoints", "/breakpoints/*/source", Source),
    ("stackTrace", "/stackFrames/*/source", Source),
    ("scopes", "/scopes/*/source", Source),
    ("loadedSources", "/sources/*", Source),
    ("modules", "/modules/*/path", Path),
    ("modules", "/modules/*/symbolFilePath", Path),
    ("disassemble", "/instructions/*/location", Source),
    ("locations", "/source", Source),
    ("exceptionInfo", "/details", ExceptionDetails),
];

/// Adapter -> client events: (event, pointer into `body`, field).
const EVENT_FIELDS: &[(&str, &str, Field)] = &[
    ("breakpoint", "/breakpoint/source", Source),
    ("loadedSource", "/source", Source),
    ("output", "/source", Source),
    ("output", "/output", Traceback),
    ("module", "/module/path", Path),
    ("module", "/module/symbolFilePath", Path),
    ("process", "/name", ProcessName),
];

/// How many client spellings are remembered; past this the oldest goes.
pub const SPELLING_LIMIT: usize = 10_000;

/// Guards recursion through `Source.sources[]` and `innerException[]`.
const MAX_DEPTH: usize = 32;

/// Applies a `PathMap` at the path-carrying fields of DAP messages, and nowhere else.
#[derive(Clone, Debug)]
pub struct PathRewriter {
    map: PathMap,
    /// `PathMap::container_markers`, found once.
    markers: Option<Vec<String>>,
    client_uses_uris: bool,
    rewrite_tracebacks: bool,
    spellings: Spellings,
}

impl PathRewriter {
    /// Paths in client format, tracebacks rewritten, nothing remembered yet.
    pub fn new(map: PathMap) -> PathRewriter {
        let markers = map.container_markers().map(|m| m.into_iter().map(str::to_owned).collect());
        PathRewriter {
            map,
            markers,
            client_uses_uris: false,
            rewrite_tracebacks: true,
            spellings: Spellings::default(),
        }
    }

    /// The client said `pathFormat: "uri"` in `initialize`: its paths are
    /// `file://` URIs, which debugpy does not accept, so they are converted
    /// (percent-decoded) on the way in and built again on the way out.
    /// Forgets remembered spellings, which were in the other format.
    pub fn set_client_uses_uris(&mut self, yes: bool) {
        if self.client_uses_uris != yes {
            self.spellings = Spellings::default();
        }
        self.client_uses_uris = yes;
    }

    pub fn client_uses_uris(&self) -> bool {
        self.client_uses_uris
    }

    /// Whether `File "<container path>", line N` in `output` events and
    /// `exceptionInfo` stack traces is rewritten (on by default). It is a
    /// heuristic over free text, so the user may want it off.
    pub fn set_rewrite_tracebacks(&mut self, yes: bool) {
        self.rewrite_tracebacks = yes;
    }

    pub fn map(&self) -> &PathMap {
        &self.map
    }

    /// Whether a client -> adapter request with this command can carry paths,
    /// so the caller deep-parses only those.
    pub fn request_has_paths(command: &str) -> bool {
        REQUEST_FIELDS.iter().any(|(c, ..)| *c == command)
    }

    /// Whether an adapter -> client response to this command can carry paths.
    pub fn response_has_paths(command: &str) -> bool {
        RESPONSE_FIELDS.iter().any(|(c, ..)| *c == command)
    }

    /// Whether an adapter -> client event can carry paths.
    pub fn event_has_paths(event: &str) -> bool {
        EVENT_FIELDS.iter().any(|(e, ..)| *e == event)
    }

    /// Whether the raw JSON `body` of an event can hold anything to rewrite:
    /// a look at the text before any parsing, so that the most frequent
    /// event, `output` (program output), is parsed only when it carries a
    /// `source` key or a traceback frame (`File \"`). Any `\u` escape, which
    /// could spell either, counts as yes. Quotes and backslashes are rare in
    /// program output, so the look costs two `memchr` passes. Other events:
    /// `event_has_paths`.
    pub fn event_body_may_have_paths(event: &str, raw: &[u8]) -> bool {
        if event != "output" {
            return Self::event_has_paths(event);
        }
        memchr::memchr_iter(b'"', raw).any(|i| raw[i..].starts_with(b"\"source\""))
            || memchr::memchr_iter(b'\\', raw).any(|i| {
                let after = &raw[i + 1..];
                after.starts_with(b"u") || (after.starts_with(b"\"") && raw[..i].ends_with(b"File "))
            })
    }

    /// Whether a response's raw JSON `body` can hold anything
    /// `response_to_host` changes, looked at before any parsing: a mapped
    /// container path holds the last component of its root as text, unless
    /// a `\u` escape spells it (then: yes). A client that takes URIs gets
    /// unmapped paths rewritten too (yes). A `stackTrace` of library frames
    /// or a `scopes` answer without paths is then forwarded without parsing.
    pub fn response_may_change(&self, raw: &[u8]) -> bool {
        if self.client_uses_uris || memchr::memmem::find(raw, b"\\u").is_some() {
            return true;
        }
        match &self.markers {
            None => true,
            Some(markers) => markers.iter().any(|m| memchr::memmem::find(raw, m.as_bytes()).is_some()),
        }
    }

    /// Rewrites the request's `arguments` host -> container and remembers
    /// the client's spelling of every mapped path; true if anything changed.
    /// (`request_to_container_text` does the same on the raw JSON.)
    pub fn request_to_container(&mut self, command: &str, arguments: &mut Value) -> bool {
        on_text(arguments, |json| self.request_to_container_text(command, json))
    }

    /// Rewrites a response `body` container -> host; true if anything changed.
    pub fn response_to_host(&self, command: &str, body: &mut Value) -> bool {
        on_text(body, |json| self.response_to_host_text(command, json))
    }

    /// Rewrites an event `body` container -> host; true if anything changed.
    pub fn event_to_host(&self, event: &str, body: &mut Value) -> bool {
        on_text(body, |json| self.event_to_host_text(event, json))
    }

    /// `request_to_container` on the JSON text of `arguments`: the text
    /// with only the rewritten strings replaced (`None`: nothing changed),
    /// never parsed into a `Value` (see `splice.rs`). An error only when the
    /// text is not JSON.
    pub fn request_to_container_text(
        &mut self,
        command: &str,
        json: &str,
    ) -> Result<Option<String>, serde_json::Error> {
        let mut splices = Splices::new(json);
        for (_, pointer, field) in REQUEST_FIELDS.iter().filter(|(c, ..)| *c == command) {
            for raw in reach(json, pointer)? {
                self.field_to_container(*field, raw, &mut splices);
            }
        }
        Ok(splices.finish())
    }

    /// `response_to_host` on the JSON text of `body`, as `request_to_container_text`.
    pub fn response_to_host_text(&self, command: &str, json: &str) -> Result<Option<String>, serde_json::Error> {
        self.fields_to_host(RESPONSE_FIELDS, command, json)
    }

    /// `event_to_host` on the JSON text of `body`, as `request_to_container_text`.
    pub fn event_to_host_text(&self, event: &str, json: &str) -> Result<Option<String>, serde_json::Error> {
        self.fields_to_host(EVENT_FIELDS, event, json)
    }

    /// One client path or `file://` URI (a `program`, a `cwd`) as a
    /// container path; `None` when it lies outside every mapping.
    pub fn value_to_container(&self, client_path: &str) -> Option<String> {
        self.map.to_container(&self.client_to_host_path(client_path)?)
    }

    /// Like [`PathRewriter::value_to_container`], and remembers the client's
    /// spelling so `*_to_host` gives it back.
    pub fn value_to_container_remembering(&mut self, client_path: &str) -> Option<String> {
        let container = self.value_to_container(client_path)?;
        self.spellings.remember(&container, client_path);
        Some(container)
    }

    /// One container path in client format: the client's own spelling if it
    /// sent this file before, else the mapped host path (a `file://` URI if
    /// the client uses URIs); `None` when it lies outside every mapping.
    pub fn value_to_host(&self, container_path: &str) -> Option<String> {
        if let Some(spelling) = self.spellings.get(container_path) {
            return Some(spelling.to_string());
        }
        let host = self.map.to_host(container_path)?;
        Some(if self.client_uses_uris { path_to_file_uri(&host) } else { host })
    }

    fn fields_to_host(
        &self,
        table: &[(&str, &str, Field)],
        name: &str,
        json: &str,
    ) -> Result<Option<String>, serde_json::Error> {
        let mut splices = Splices::new(json);
        for (_, pointer, field) in table.iter().filter(|(n, ..)| *n == name) {
            for raw in reach(json, pointer)? {
                self.field_to_host(*field, raw, &mut splices, 0);
            }
        }
        Ok(splices.finish())
    }

    fn field_to_container<'a>(&mut self, field: Field, raw: &'a RawValue, splices: &mut Splices<'a>) {
        match field {
            Source => source(raw, splices, 0, &mut |path| self.path_to_container(path)),
            Path => {
                if let Some(path) = string(raw) {
                    splices.replace_string(raw, &path, self.path_to_container(&path));
                }
            }
            ProcessName | Traceback | ExceptionDetails => {}
        }
    }

    fn field_to_host<'a>(&self, field: Field, raw: &'a RawValue, splices: &mut Splices<'a>, depth: usize) {
        let text = |to: &dyn Fn(&str) -> Option<String>, splices: &mut Splices<'a>| {
            if let Some(old) = string(raw) {
                splices.replace_string(raw, &old, to(&old));
            }
        };
        match field {
            Source => source(raw, splices, depth, &mut |path| self.path_to_client(path)),
            Path => text(&|path| self.path_to_client(path), splices),
            ProcessName => text(&|name| self.plain_host_path(name), splices),
            Traceback if self.rewrite_tracebacks => {
                text(&|text| rewrite_frames(text, |p| self.plain_host_path(p)), splices);
            }
            Traceback => {}
            ExceptionDetails => {
                let Some(details) = members(raw) else {
                    return;
                };
                let last = |name: &str| details.iter().rev().find(|(k, _)| k == name).map(|(_, v)| *v);
                if let Some(trace) = last("stackTrace") {
                    self.field_to_host(Traceback, trace, splices, depth);
                }
                if depth < MAX_DEPTH
                    && let Some(inner) = last("innerException").and_then(elements)
                {
                    for d in inner {
                        self.field_to_host(ExceptionDetails, d, splices, depth + 1);
                    }
                }
            }
        }
    }

    /// A client path for the adapter: mapped and remembered, or, if unmapped,
    /// at least a path rather than a URI. `None` = leave as is.
    fn path_to_container(&mut self, client_path: &str) -> Option<String> {
        let host = self.client_to_host_path(client_path)?;
        match self.map.to_container(&host) {
            Some(container) => {
                self.spellings.remember(&container, client_path);
                Some(container)
            }
            None => Some(host),
        }
    }

    /// An adapter path for the client: mapped (in the client's spelling), or,
    /// if unmapped, a URI when the client wants URIs. `None` = leave as is.
    fn path_to_client(&self, container_path: &str) -> Option<String> {
        self.value_to_host(container_path).or_else(|| {
            let absolute = container_path.starts_with('/');
            (self.client_uses_uris && absolute).then(|| path_to_file_uri(container_path))
        })
    }

    /// A mapped container path as a plain host path (never a URI), for text
    /// the client reads rather than parses.
    fn plain_host_path(&self, container_path: &str) -> Option<String> {
        match self.spellings.get(container_path) {
            Some(s) if is_file_uri(s) => file_uri_to_path(s),
            Some(s) => Some(s.to_string()),
            None => self.map.to_host(container_path),
        }
    }

    /// A client path as a host path: URIs decoded when the client uses them.
    /// Plain paths are accepted in URI mode too; `None` for a malformed URI.
    fn client_to_host_path(&self, client_path: &str) -> Option<String> {
        if self.client_uses_uris && is_file_uri(client_path) {
            file_uri_to_path(client_path)
        } else {
            Some(client_path.to_string())
        }
    }
}

/// Rewrites a `Value` through its JSON text; true if anything changed.
fn on_text(value: &mut Value, rewrite: impl FnOnce(&str) -> Result<Option<String>, serde_json::Error>) -> bool {
    match rewrite(&value.to_string()) {
        Ok(Some(text)) => match serde_json::from_str(&text) {
            Ok(new) => {
                *value = new;
                true
            }
            Err(_) => false,
        },
        _ => false,
    }
}

/// The `path` of a `Source` that names a file, and those of its
/// `sources[]`, through `to`. Of a key given twice, the last counts (as for
/// `serde_json`).
fn source<'a>(raw: &'a RawValue, splices: &mut Splices<'a>, depth: usize, to: &mut dyn FnMut(&str) -> Option<String>) {
    let Some(members) = members(raw) else {
        return;
    };
    let (mut path, mut reference, mut sources) = (None, None, None);
    for (key, value) in members {
        match &*key {
            "path" => path = Some(value),
            "sourceReference" => reference = Some(value),
            "sources" => sources = Some(value),
            _ => {}
        }
    }
    if names_a_file(reference)
        && let Some(path) = path
        && let Some(old) = string(path)
    {
        let new = to(&old);
        splices.replace_string(path, &old, new);
    }
    if depth < MAX_DEPTH
        && let Some(sources) = sources.and_then(elements)
    {
        for s in sources {
            source(s, splices, depth + 1, to);
        }
    }
}

/// A `Source` names a file only when `sourceReference` is absent, null or
/// 0; otherwise the adapter serves its content and `path` is just a label.
fn names_a_file(reference: Option<&RawValue>) -> bool {
    let Some(reference) = reference else {
        return true;
    };
    match serde_json::from_str::<Value>(reference.get()) {
        Ok(Value::Null) => true,
        Ok(Value::Number(n)) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

/// The client's spellings keyed by normalised container path, oldest first
/// out when full: the editor identifies files by string, and a different
/// drive-letter case opens a second tab (ptvsd#328).
#[derive(Clone, Debug, Default)]
struct Spellings {
    by_container: HashMap<String, String>,
    order: VecDeque<String>,
}

impl Spellings {
    fn remember(&mut self, container: &str, client: &str) {
        if let Some(old) = self.by_container.get_mut(container) {
            if old != client {
                *old = client.to_string();
            }
            return;
        }
        if self.by_container.len() >= SPELLING_LIMIT
            && let Some(oldest) = self.order.pop_front()
        {
            self.by_container.remove(&oldest);
        }
        self.order.push_back(container.to_string());
        self.by_container.insert(container.to_string(), client.to_string());
    }

    fn get(&self, container_path: &str) -> Option<&str> {
        if self.by_container.is_empty() {
            return None;
        }
        let key = PathMap::normalize_container(container_path)?;
        self.by_container.get(&key).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::map::Mapping;
    use proptest::prelude::*;
    use serde_json::json;

    #[derive(Clone, Copy, Debug)]
    enum Kind {
        Request,
        Response,
        Event,
    }
    use Kind::{Event, Request, Response};

    fn posix() -> PathRewriter {
        PathRewriter::new(PathMap::new(vec![Mapping::new("/home/u/ws", "/var/azureml-app")]))
    }

    fn windows() -> PathRewriter {
        PathRewriter::new(PathMap::new(vec![Mapping::new("C:\\Users\\U\\ws", "/var/azureml-app")]))
    }

    fn has_paths(kind: Kind, name: &str) -> bool {
        match kind {
            Request => PathRewriter::request_has_paths(name),
            Response => PathRewriter::response_has_paths(name),
            Event => PathRewriter::event_has_paths(name),
        }
    }

    /// Rewrites `before` (request `arguments`, response or event `body`) and
    /// asserts the whole result, the "changed" flag and the cheap check.
    #[track_caller]
    fn check(rw: &mut PathRewriter, kind: Kind, name: &str, before: Value, after: Value) {
        let mut got = before.clone();
        let changed = match kind {
            Request => rw.request_to_container(name, &mut got),
            Response => rw.response_to_host(name, &mut got),
            Event => rw.event_to_host(name, &mut got),
        };
        assert_eq!(got, after, "{kind:?} {name}");
        assert_eq!(changed, before != after, "{kind:?} {name}: changed flag");
        assert!(!changed || has_paths(kind, name), "{kind:?} {name}: has_paths");
    }

    #[test]
    #[rustfmt::skip]
    fn requests() {
        let rw = &mut posix();
        check(rw, Request, "setBreakpoints", json!({"source": {"name": "app.py", "path": "/home/u/ws/app.py"}, "breakpoints": [{"line": 3, "condition": "p == '/home/u/ws/x'"}], "lines": [3]}), json!({"source": {"name": "app.py", "path": "/var/azureml-app/app.py"}, "breakpoints": [{"line": 3, "condition": "p == '/home/u/ws/x'"}], "lines": [3]}));
        check(rw, Request, "breakpointLocations", json!({"source": {"path": "/home/u/ws/a.py"}, "line": 1}), json!({"source": {"path": "/var/azureml-app/a.py"}, "line": 1}));
        check(rw, Request, "source", json!({"source": {"path": "/home/u/ws/a.py"}, "sourceReference": 0}), json!({"source": {"path": "/var/azureml-app/a.py"}, "sourceReference": 0}));
        check(rw, Request, "gotoTargets", json!({"source": {"path": "/home/u/ws/a.py", "sourceReference": 0}, "line": 3}), json!({"source": {"path": "/var/azureml-app/a.py", "sourceReference": 0}, "line": 3}));
        check(rw, Request, "evaluate", json!({"expression": "open('/home/u/ws/x')", "context": "repl", "source": {"path": "/home/u/ws/a.py"}}), json!({"expression": "open('/home/u/ws/x')", "context": "repl", "source": {"path": "/var/azureml-app/a.py"}}));
        check(rw, Request, "evaluate", json!({"expression": "'/home/u/ws/x'", "context": "watch"}), json!({"expression": "'/home/u/ws/x'", "context": "watch"}));
        check(rw, Request, "setVariable", json!({"name": "p", "value": "'/home/u/ws/x'"}), json!({"name": "p", "value": "'/home/u/ws/x'"}));
    }

    #[test]
    #[rustfmt::skip]
    fn source_fields_other_than_path_untouched() {
        let rw = &mut posix();
        check(rw, Request, "setBreakpoints", json!({"source": {"name": "/home/u/ws/app.py", "path": "/home/u/ws/app.py", "origin": "/home/u/ws", "presentationHint": "emphasize", "adapterData": {"path": "/home/u/ws/app.py"}, "checksums": [{"algorithm": "MD5", "checksum": "/home/u/ws"}]}}), json!({"source": {"name": "/home/u/ws/app.py", "path": "/var/azureml-app/app.py", "origin": "/home/u/ws", "presentationHint": "emphasize", "adapterData": {"path": "/home/u/ws/app.py"}, "checksums": [{"algorithm": "MD5", "checksum": "/home/u/ws"}]}}));
    }

    #[test]
    #[rustfmt::skip]
    fn traps() {
        let rw = &mut posix();
        // P2: exception paths are exception names.
        check(rw, Request, "setExceptionBreakpoints", json!({"filters": [], "exceptionOptions": [{"path": [{"names": ["/home/u/ws/app.py"]}], "breakMode": "always"}]}), json!({"filters": [], "exceptionOptions": [{"path": [{"names": ["/home/u/ws/app.py"]}], "breakMode": "always"}]}));
        // P3: a sourceReference means the adapter serves the content.
        check(rw, Request, "source", json!({"source": {"path": "/home/u/ws/a.py", "sourceReference": 7}, "sourceReference": 7}), json!({"source": {"path": "/home/u/ws/a.py", "sourceReference": 7}, "sourceReference": 7}));
        check(rw, Response, "stackTrace", json!({"stackFrames": [{"id": 1, "name": "f", "line": 1, "column": 1, "source": {"path": "/var/azureml-app/gen.py", "sourceReference": 3}}]}), json!({"stackFrames": [{"id": 1, "name": "f", "line": 1, "column": 1, "source": {"path": "/var/azureml-app/gen.py", "sourceReference": 3}}]}));
        check(rw, Response, "stackTrace", json!({"stackFrames": [{"id": 1, "source": {"path": "/var/azureml-app/a.py", "sourceReference": "7"}}]}), json!({"stackFrames": [{"id": 1, "source": {"path": "/var/azureml-app/a.py", "sourceReference": "7"}}]}));
        check(rw, Response, "stackTrace", json!({"stackFrames": [{"id": 1, "source": {"path": "/var/azureml-app/a.py", "sourceReference": null}}]}), json!({"stackFrames": [{"id": 1, "source": {"path": "/home/u/ws/a.py", "sourceReference": null}}]}));
        // P4, P5: outside every mapping.
        check(rw, Request, "setBreakpoints", json!({"source": {"path": "/home/u/ws2/a.py"}}), json!({"source": {"path": "/home/u/ws2/a.py"}}));
        check(rw, Response, "stackTrace", json!({"stackFrames": [{"source": {"path": "/usr/local/lib/python3.11/site-packages/x.py"}}, {"source": {"path": "/var/azureml-app2/x.py"}}]}), json!({"stackFrames": [{"source": {"path": "/usr/local/lib/python3.11/site-packages/x.py"}}, {"source": {"path": "/var/azureml-app2/x.py"}}]}));
        // P10: nested sources, each level on its own.
        check(rw, Request, "setBreakpoints", json!({"source": {"path": "/home/u/ws/a.py", "sources": [{"path": "/home/u/ws/b.py", "sources": [{"path": "/home/u/ws/c.py"}]}, {"path": "/home/u/ws/d.py", "sourceReference": 3}]}}), json!({"source": {"path": "/var/azureml-app/a.py", "sources": [{"path": "/var/azureml-app/b.py", "sources": [{"path": "/var/azureml-app/c.py"}]}, {"path": "/home/u/ws/d.py", "sourceReference": 3}]}}));
        check(rw, Response, "loadedSources", json!({"sources": [{"sourceReference": 9, "path": "x", "sources": [{"path": "/var/azureml-app/b.py"}]}]}), json!({"sources": [{"sourceReference": 9, "path": "x", "sources": [{"path": "/home/u/ws/b.py"}]}]}));
        // Wrong shapes are skipped, never created or fixed.
        check(rw, Request, "setBreakpoints", json!({"source": "/home/u/ws/a.py"}), json!({"source": "/home/u/ws/a.py"}));
        check(rw, Request, "setBreakpoints", json!({"source": {"path": 3}}), json!({"source": {"path": 3}}));
        check(rw, Response, "stackTrace", json!({"stackFrames": {"source": {"path": "/var/azureml-app/a.py"}}}), json!({"stackFrames": {"source": {"path": "/var/azureml-app/a.py"}}}));
        check(rw, Response, "stackTrace", json!(null), json!(null));
    }

    #[test]
    #[rustfmt::skip]
    fn responses() {
        let rw = &mut posix();
        check(rw, Response, "setBreakpoints", json!({"breakpoints": [{"verified": true, "line": 3, "source": {"path": "/var/azureml-app/app.py"}}, {"verified": false, "message": "/var/azureml-app/app.py is not loaded"}]}), json!({"breakpoints": [{"verified": true, "line": 3, "source": {"path": "/home/u/ws/app.py"}}, {"verified": false, "message": "/var/azureml-app/app.py is not loaded"}]}));
        for command in ["setFunctionBreakpoints", "setExceptionBreakpoints", "setDataBreakpoints", "setInstructionBreakpoints"] {
            check(rw, Response, command, json!({"breakpoints": [{"verified": true, "source": {"path": "/var/azureml-app/a.py"}}]}), json!({"breakpoints": [{"verified": true, "source": {"path": "/home/u/ws/a.py"}}]}));
        }
        check(rw, Response, "stackTrace", json!({"stackFrames": [{"id": 1, "name": "run", "line": 3, "column": 1, "source": {"name": "score.py", "path": "/var/azureml-app/score.py"}}, {"id": 2, "name": "<module>", "source": {"path": "/usr/lib/python3.11/runpy.py"}}, {"id": 3, "name": "f", "source": {"name": "<string>", "sourceReference": 5}}], "totalFrames": 3}), json!({"stackFrames": [{"id": 1, "name": "run", "line": 3, "column": 1, "source": {"name": "score.py", "path": "/home/u/ws/score.py"}}, {"id": 2, "name": "<module>", "source": {"path": "/usr/lib/python3.11/runpy.py"}}, {"id": 3, "name": "f", "source": {"name": "<string>", "sourceReference": 5}}], "totalFrames": 3}));
        check(rw, Response, "scopes", json!({"scopes": [{"name": "Locals", "variablesReference": 1, "expensive": false, "source": {"path": "/var/azureml-app/score.py"}}]}), json!({"scopes": [{"name": "Locals", "variablesReference": 1, "expensive": false, "source": {"path": "/home/u/ws/score.py"}}]}));
        check(rw, Response, "loadedSources", json!({"sources": [{"path": "/var/azureml-app/a.py"}, {"path": "/usr/lib/x.py"}]}), json!({"sources": [{"path": "/home/u/ws/a.py"}, {"path": "/usr/lib/x.py"}]}));
        check(rw, Response, "modules", json!({"modules": [{"id": 1, "name": "score", "path": "/var/azureml-app/score.py", "symbolFilePath": "/var/azureml-app/score.pyc"}, {"id": 2, "name": "os", "path": "/usr/lib/python3.11/os.py"}], "totalModules": 2}), json!({"modules": [{"id": 1, "name": "score", "path": "/home/u/ws/score.py", "symbolFilePath": "/home/u/ws/score.pyc"}, {"id": 2, "name": "os", "path": "/usr/lib/python3.11/os.py"}], "totalModules": 2}));
        check(rw, Response, "disassemble", json!({"instructions": [{"address": "0x10", "instruction": "LOAD_CONST", "location": {"path": "/var/azureml-app/a.py"}, "line": 2}]}), json!({"instructions": [{"address": "0x10", "instruction": "LOAD_CONST", "location": {"path": "/home/u/ws/a.py"}, "line": 2}]}));
        check(rw, Response, "locations", json!({"source": {"path": "/var/azureml-app/a.py"}, "line": 4}), json!({"source": {"path": "/home/u/ws/a.py"}, "line": 4}));
        check(rw, Response, "exceptionInfo", json!({"exceptionId": "ValueError", "breakMode": "always", "details": {"message": "File \"/var/azureml-app/m.py\", line 1", "typeName": "ValueError", "stackTrace": "  File \"/var/azureml-app/score.py\", line 3, in run\n", "innerException": [{"stackTrace": "  File \"/var/azureml-app/inner.py\", line 9, in g\n", "innerException": [{"stackTrace": "  File \"/var/azureml-app/deep.py\", line 1, in h\n"}]}]}}), json!({"exceptionId": "ValueError", "breakMode": "always", "details": {"message": "File \"/var/azureml-app/m.py\", line 1", "typeName": "ValueError", "stackTrace": "  File \"/home/u/ws/score.py\", line 3, in run\n", "innerException": [{"stackTrace": "  File \"/home/u/ws/inner.py\", line 9, in g\n", "innerException": [{"stackTrace": "  File \"/home/u/ws/deep.py\", line 1, in h\n"}]}]}}));
        // Program data is never a path field.
        check(rw, Response, "evaluate", json!({"result": "'/var/azureml-app/app.py'", "variablesReference": 0}), json!({"result": "'/var/azureml-app/app.py'", "variablesReference": 0}));
        check(rw, Response, "variables", json!({"variables": [{"name": "p", "value": "'/var/azureml-app/a.py'", "variablesReference": 0}]}), json!({"variables": [{"name": "p", "value": "'/var/azureml-app/a.py'", "variablesReference": 0}]}));
    }

    #[test]
    #[rustfmt::skip]
    fn events() {
        let rw = &mut posix();
        check(rw, Event, "breakpoint", json!({"reason": "changed", "breakpoint": {"id": 1, "verified": true, "source": {"path": "/var/azureml-app/app.py"}}}), json!({"reason": "changed", "breakpoint": {"id": 1, "verified": true, "source": {"path": "/home/u/ws/app.py"}}}));
        check(rw, Event, "loadedSource", json!({"reason": "new", "source": {"path": "/var/azureml-app/app.py"}}), json!({"reason": "new", "source": {"path": "/home/u/ws/app.py"}}));
        check(rw, Event, "output", json!({"category": "stderr", "output": "Traceback (most recent call last):\n  File \"/var/azureml-app/score.py\", line 3, in run\nValueError: /var/azureml-app/x\n", "source": {"path": "/var/azureml-app/score.py"}, "line": 3}), json!({"category": "stderr", "output": "Traceback (most recent call last):\n  File \"/home/u/ws/score.py\", line 3, in run\nValueError: /var/azureml-app/x\n", "source": {"path": "/home/u/ws/score.py"}, "line": 3}));
        check(rw, Event, "output", json!({"category": "stdout", "output": "/var/azureml-app/score.py\n"}), json!({"category": "stdout", "output": "/var/azureml-app/score.py\n"}));
        check(rw, Event, "module", json!({"reason": "new", "module": {"id": 1, "name": "score", "path": "/var/azureml-app/score.py", "symbolFilePath": "/var/azureml-app/score.pyc"}}), json!({"reason": "new", "module": {"id": 1, "name": "score", "path": "/home/u/ws/score.py", "symbolFilePath": "/home/u/ws/score.pyc"}}));
        check(rw, Event, "process", json!({"name": "/var/azureml-app/score.py", "systemProcessId": 7, "startMethod": "attach"}), json!({"name": "/home/u/ws/score.py", "systemProcessId": 7, "startMethod": "attach"}));
        check(rw, Event, "process", json!({"name": "/usr/bin/python3", "systemProcessId": 7}), json!({"name": "/usr/bin/python3", "systemProcessId": 7}));
        check(rw, Event, "stopped", json!({"reason": "breakpoint", "description": "/var/azureml-app/a.py"}), json!({"reason": "breakpoint", "description": "/var/azureml-app/a.py"}));
        check(rw, Event, "debugpySockets", json!({"sockets": [{"path": "/var/azureml-app/a.py"}]}), json!({"sockets": [{"path": "/var/azureml-app/a.py"}]}));
        // P12 with the heuristic off: text stays, the source is still mapped.
        rw.set_rewrite_tracebacks(false);
        check(rw, Event, "output", json!({"output": "  File \"/var/azureml-app/s.py\", line 3\n", "source": {"path": "/var/azureml-app/s.py"}}), json!({"output": "  File \"/var/azureml-app/s.py\", line 3\n", "source": {"path": "/home/u/ws/s.py"}}));
        check(rw, Response, "exceptionInfo", json!({"details": {"stackTrace": "  File \"/var/azureml-app/s.py\", line 3\n"}}), json!({"details": {"stackTrace": "  File \"/var/azureml-app/s.py\", line 3\n"}}));
    }

    #[test]
    #[rustfmt::skip]
    fn windows_spelling() {
        let rw = &mut windows();
        // P6: mixed-case drive and folder map, and come back as sent.
        check(rw, Request, "setBreakpoints", json!({"source": {"path": "c:\\Users\\U\\WS\\app.py"}}), json!({"source": {"path": "/var/azureml-app/app.py"}}));
        check(rw, Response, "stackTrace", json!({"stackFrames": [{"source": {"path": "/var/azureml-app/app.py"}}, {"source": {"path": "/var/azureml-app/./app.py"}}, {"source": {"path": "/var/azureml-app/other.py"}}]}), json!({"stackFrames": [{"source": {"path": "c:\\Users\\U\\WS\\app.py"}}, {"source": {"path": "c:\\Users\\U\\WS\\app.py"}}, {"source": {"path": "C:\\Users\\U\\ws\\other.py"}}]}));
        check(rw, Event, "output", json!({"output": "  File \"/var/azureml-app/app.py\", line 1\n"}), json!({"output": "  File \"c:\\Users\\U\\WS\\app.py\", line 1\n"}));
        // P7: mixed separators.
        check(rw, Request, "breakpointLocations", json!({"source": {"path": "C:/Users/U/ws\\sub/app.py"}}), json!({"source": {"path": "/var/azureml-app/sub/app.py"}}));
        check(rw, Event, "breakpoint", json!({"breakpoint": {"source": {"path": "/var/azureml-app/sub/app.py"}}}), json!({"breakpoint": {"source": {"path": "C:/Users/U/ws\\sub/app.py"}}}));
        // The latest spelling wins.
        check(rw, Request, "setBreakpoints", json!({"source": {"path": "C:\\Users\\U\\ws\\app.py"}}), json!({"source": {"path": "/var/azureml-app/app.py"}}));
        check(rw, Event, "loadedSource", json!({"source": {"path": "/var/azureml-app/app.py"}}), json!({"source": {"path": "C:\\Users\\U\\ws\\app.py"}}));
        check(rw, Event, "process", json!({"name": "/var/azureml-app/app.py"}), json!({"name": "C:\\Users\\U\\ws\\app.py"}));
        // A POSIX-looking path is outside a Windows mapping.
        check(rw, Request, "setBreakpoints", json!({"source": {"path": "/Users/U/ws/app.py"}}), json!({"source": {"path": "/Users/U/ws/app.py"}}));
    }

    #[test]
    #[rustfmt::skip]
    fn uris() {
        // P11: the client's URIs become paths for debugpy, and come back as URIs.
        let rw = &mut windows();
        rw.set_client_uses_uris(true);
        check(rw, Request, "setBreakpoints", json!({"source": {"path": "file:///c%3A/Users/U/WS/app.py"}}), json!({"source": {"path": "/var/azureml-app/app.py"}}));
        check(rw, Response, "setBreakpoints", json!({"breakpoints": [{"source": {"path": "/var/azureml-app/app.py"}}]}), json!({"breakpoints": [{"source": {"path": "file:///c%3A/Users/U/WS/app.py"}}]}));
        check(rw, Response, "stackTrace", json!({"stackFrames": [{"source": {"path": "/var/azureml-app/a b/é.py"}}, {"source": {"path": "/usr/lib/x.py"}}, {"source": {"path": "<string>"}}]}), json!({"stackFrames": [{"source": {"path": "file:///C:/Users/U/ws/a%20b/%C3%A9.py"}}, {"source": {"path": "file:///usr/lib/x.py"}}, {"source": {"path": "<string>"}}]}));
        check(rw, Request, "source", json!({"source": {"path": "file:///d%3A/lib/x.py"}}), json!({"source": {"path": "d:\\lib\\x.py"}}));
        check(rw, Request, "source", json!({"source": {"path": "untitled:Untitled-1"}}), json!({"source": {"path": "untitled:Untitled-1"}}));
        check(rw, Request, "source", json!({"source": {"path": "file:///bad%zz"}}), json!({"source": {"path": "file:///bad%zz"}}));
        check(rw, Response, "modules", json!({"modules": [{"path": "/var/azureml-app/app.py"}]}), json!({"modules": [{"path": "file:///c%3A/Users/U/WS/app.py"}]}));
        // Text and names get plain paths, still in the client's spelling.
        check(rw, Event, "output", json!({"output": "  File \"/var/azureml-app/app.py\", line 1\n"}), json!({"output": "  File \"c:\\Users\\U\\WS\\app.py\", line 1\n"}));
        check(rw, Event, "process", json!({"name": "/var/azureml-app/b.py"}), json!({"name": "C:\\Users\\U\\ws\\b.py"}));

        let rw = &mut posix();
        rw.set_client_uses_uris(true);
        check(rw, Request, "gotoTargets", json!({"source": {"path": "file:///home/u/ws/donn%C3%A9es/a%20b.py"}}), json!({"source": {"path": "/var/azureml-app/données/a b.py"}}));
        check(rw, Request, "gotoTargets", json!({"source": {"path": "/home/u/ws/plain.py"}}), json!({"source": {"path": "/var/azureml-app/plain.py"}}));
        check(rw, Response, "locations", json!({"source": {"path": "/var/azureml-app/plain.py"}}), json!({"source": {"path": "/home/u/ws/plain.py"}}));
    }

    #[test]
    fn values() {
        let mut rw = windows();
        assert_eq!(rw.value_to_container("c:\\users\\u\\ws\\app.py").as_deref(), Some("/var/azureml-app/app.py"));
        assert_eq!(rw.value_to_host("/var/azureml-app/app.py").as_deref(), Some("C:\\Users\\U\\ws\\app.py"));
        assert_eq!(
            rw.value_to_container_remembering("c:\\users\\u\\ws\\app.py").as_deref(),
            Some("/var/azureml-app/app.py")
        );
        assert_eq!(rw.value_to_host("/var/azureml-app/app.py").as_deref(), Some("c:\\users\\u\\ws\\app.py"));
        assert_eq!(rw.value_to_host("/usr/lib/x.py"), None);
        assert_eq!(rw.value_to_container("D:\\x.py"), None);
        rw.set_client_uses_uris(true);
        assert_eq!(rw.value_to_host("/var/azureml-app/app.py").as_deref(), Some("file:///C:/Users/U/ws/app.py"));
        assert_eq!(rw.value_to_container("file:///c%3A/Users/U/ws/sub").as_deref(), Some("/var/azureml-app/sub"));
        assert_eq!(rw.value_to_container("file:///usr/lib/x.py"), None);
    }

    #[test]
    fn spelling_memory_is_bounded() {
        let mut rw = posix();
        for i in 0..=SPELLING_LIMIT {
            rw.value_to_container_remembering(&format!("/home/u/ws/./f{i}.py"));
        }
        assert_eq!(rw.spellings.by_container.len(), SPELLING_LIMIT);
        assert_eq!(rw.spellings.order.len(), SPELLING_LIMIT);
        assert_eq!(rw.value_to_host("/var/azureml-app/f0.py").as_deref(), Some("/home/u/ws/f0.py"));
        assert_eq!(rw.value_to_host("/var/azureml-app/f1.py").as_deref(), Some("/home/u/ws/./f1.py"));
    }

    #[test]
    fn cheap_checks() {
        for name in ["setBreakpoints", "breakpointLocations", "source", "gotoTargets", "evaluate"] {
            assert!(PathRewriter::request_has_paths(name), "{name}");
        }
        for name in ["setExceptionBreakpoints", "launch", "attach", "stackTrace", "initialize"] {
            assert!(!PathRewriter::request_has_paths(name), "{name}");
        }
        assert!(PathRewriter::response_has_paths("exceptionInfo"));
        assert!(!PathRewriter::response_has_paths("evaluate"));
        assert!(!PathRewriter::response_has_paths("variables"));
        assert!(PathRewriter::event_has_paths("process"));
        assert!(!PathRewriter::event_has_paths("stopped"));
    }

    #[test]
    fn text_is_rewritten_where_it_stands() {
        let mut rw = posix();
        // Only the mapped path changes: spacing, key order, number text,
        // escapes, vendor fields and unmapped paths stay byte for byte.
        let body = r#"{ "stackFrames" : [ {"id":1, "x-vendor": {"n": 2.50}, "source": {"name": "a.py", "path": "/var/azureml-app/a.py", "sourceReference": 0}, "line": 3},
            {"id": 2, "source": {"path": "/usr/lib/python3.11/runpy.py"}}, {"id": 3, "source": {"path": "/var/azureml-app/\u00e9.py", "sourceReference": 7}} ], "totalFrames": 3}"#;
        let out = rw.response_to_host_text("stackTrace", body).unwrap().unwrap();
        assert_eq!(out, body.replace("\"/var/azureml-app/a.py\"", "\"/home/u/ws/a.py\""));
        assert_eq!(rw.response_to_host_text("stackTrace", r#"{"stackFrames": []}"#).unwrap(), None);
        assert!(rw.response_to_host_text("stackTrace", r#"{"stackFrames": [}"#).is_err());
        // Requests remember the client's spelling, as through a `Value`.
        let args = r#"{"source": {"path": "/home/u/ws/./b.py"}, "lines": [1]}"#;
        let out = rw.request_to_container_text("setBreakpoints", args).unwrap().unwrap();
        assert_eq!(out, r#"{"source": {"path": "/var/azureml-app/b.py"}, "lines": [1]}"#);
        let out =
            rw.event_to_host_text("breakpoint", r#"{"breakpoint": {"source": {"path": "/var/azureml-app/b.py"}}}"#);
        assert_eq!(out.unwrap().unwrap(), r#"{"breakpoint": {"source": {"path": "/home/u/ws/./b.py"}}}"#);
    }

    #[test]
    fn responses_are_parsed_only_when_they_can_change() {
        let rw = posix();
        let may = |raw: &str| rw.response_may_change(raw.as_bytes());
        assert!(may(r#"{"stackFrames":[{"id":1,"source":{"path":"/var/azureml-app/a.py"}}]}"#));
        assert!(may(r#"{"stackFrames":[{"id":1,"source":{"path":"/var/./azureml-app/a.py"}}]}"#));
        assert!(!may(r#"{"stackFrames":[{"id":1,"source":{"path":"/usr/lib/python3/json/__init__.py"}}]}"#));
        assert!(!may(r#"{"scopes":[{"name":"Locals","variablesReference":3,"source":{}}]}"#));
        assert!(may(r#"{"stackFrames":[{"source":{"path":"/var/\u0061zureml-app/a.py"}}]}"#));
        // Whatever `response_may_change` says no to, `response_to_host` leaves alone.
        let mut body = json!({"stackFrames":[{"id":1,"source":{"path":"/usr/lib/python3/json/__init__.py"}}]});
        assert!(!rw.response_to_host("stackTrace", &mut body));
        let mut uris = posix();
        uris.set_client_uses_uris(true);
        assert!(uris.response_may_change(br#"{"stackFrames":[{"source":{"path":"/usr/lib/a.py"}}]}"#));
    }

    #[test]
    fn output_is_parsed_only_when_it_can_carry_paths() {
        let may = |raw: &str| PathRewriter::event_body_may_have_paths("output", raw.as_bytes());
        assert!(!may(r#"{"category":"stdout","output":"line 1 of the flood\n"}"#));
        assert!(!may(r#"{"category":"stderr","output":"Traceback (most recent call last):\n"}"#));
        assert!(may(r#"{"category":"stderr","output":"  File \"/var/azureml-app/score.py\", line 3\n"}"#));
        assert!(may(r#"{"output":"x","source":{"path":"/var/azureml-app/score.py"},"line":3}"#));
        // An escape could spell either marker; parse to be sure.
        assert!(may(r#"{"output":"\u0046ile \u0022/var/azureml-app/a.py\u0022, line 1"}"#));
        assert!(may(r#"{"output":"caf\u00e9"}"#));
        assert!(PathRewriter::event_body_may_have_paths("module", b"{}"));
        assert!(!PathRewriter::event_body_may_have_paths("stopped", br#"{"source":{}}"#));
        // What the check lets through unparsed, the rewriter would not have changed.
        let rewriter = posix();
        let mut body = json!({"category": "stdout", "output": "no frames, /var/azureml-app/score.py, line 3\n"});
        assert!(!may(&body.to_string()));
        assert!(!rewriter.event_to_host("output", &mut body));
    }

    fn path_like() -> impl Strategy<Value = String> {
        prop_oneof![
            "/var/azureml-app(/[a-zé .]{0,6}){0,3}",
            "/home/u/ws(/[a-zé .]{0,6}){0,3}",
            "[cC]:[\\\\/]Users[\\\\/]U[\\\\/]ws(/[a-z]{0,4})?",
            "file:///(c%3A/|home/u/ws/)?[a-z%0-9]{0,6}",
            "  File \"/var/azureml-app/[a-z]{1,4}.py\", line [0-9]\n",
            "\\PC{0,12}",
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        let names = [
            "source",
            "path",
            "sources",
            "sourceReference",
            "breakpoints",
            "breakpoint",
            "stackFrames",
            "scopes",
            "modules",
            "module",
            "symbolFilePath",
            "instructions",
            "location",
            "details",
            "stackTrace",
            "innerException",
            "output",
            "name",
            "exceptionOptions",
        ];
        prop_oneof![prop::sample::select(names.to_vec()).prop_map(String::from), "[a-z]{1,4}"]
    }

    fn json_tree() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            path_like().prop_map(Value::from),
        ];
        leaf.prop_recursive(6, 96, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    fn names() -> Vec<&'static str> {
        let all = REQUEST_FIELDS.iter().chain(RESPONSE_FIELDS).chain(EVENT_FIELDS);
        all.map(|(name, ..)| *name).chain(["next", "variables", "stopped"]).collect()
    }

    proptest! {
        #[test]
        fn never_panics_on_any_json(value in json_tree(), name in prop::sample::select(names()), uris in any::<bool>()) {
            for mut rw in [posix(), windows()] {
                rw.set_client_uses_uris(uris);
                let mut v = value.clone();
                let changed = rw.request_to_container(name, &mut v);
                prop_assert!(!changed || PathRewriter::request_has_paths(name));
                prop_assert_eq!(changed, v != value);
                let mut v = value.clone();
                let changed = rw.response_to_host(name, &mut v);
                prop_assert!(!changed || PathRewriter::response_has_paths(name));
                prop_assert_eq!(changed, v != value);
                let mut v = value.clone();
                let changed = rw.event_to_host(name, &mut v);
                prop_assert!(!changed || PathRewriter::event_has_paths(name));
                prop_assert!(!changed || PathRewriter::event_body_may_have_paths(name, value.to_string().as_bytes()));
                prop_assert_eq!(changed, v != value);
            }
        }

        #[test]
        fn uri_round_trip(rest in prop::collection::vec("[a-zA-Z0-9 éü日本%#?_.-]{1,8}", 0..4)) {
            prop_assume!(rest.iter().all(|s| s != "." && s != ".."));
            let container = format!("/var/azureml-app/{}", rest.join("/"));
            let container = PathMap::normalize_container(&container).unwrap();
            for mut rw in [posix(), windows()] {
                rw.set_client_uses_uris(true);
                let uri = rw.value_to_host(&container).unwrap();
                prop_assert_eq!(rw.value_to_container(&uri), Some(container.clone()));
                let mut args = json!({"source": {"path": uri}});
                rw.request_to_container("setBreakpoints", &mut args);
                prop_assert_eq!(&args["source"]["path"], &json!(container));
            }
        }
    }
}
