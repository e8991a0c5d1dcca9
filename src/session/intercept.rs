//! What the bridge answers or changes itself, instead of passing it through.
//!
//! - `initialize` is answered at once with debugpy's known capabilities:
//!   debugpy does not exist yet (the container starts on `launch`), and
//!   nvim-dap warns after 2 s without an answer. Once connected, the client's
//!   `initialize` is replayed to debugpy, and a `capabilities` event corrects
//!   anything that differs.
//! - `launch`/`attach` start the target; debugpy always gets an `attach`,
//!   without dockdap's own attributes and without `pathMappings` (dockdap
//!   rewrites paths itself; debugpy must not map them a second time).
//! - `cancel` of a request still queued here is answered here.
//! - `runInTerminal` from debugpy is refused: it would run a command on the
//!   user's machine on behalf of code in a container.
//! - `startDebugging` from debugpy (a subprocess) is rewritten so the editor's
//!   child session comes back through dockdap with the same path mapping.
//!
//! Everything else goes through `forward`.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::io::AsyncWrite;
use tokio::time::Instant;
use tokio_util::codec::FramedWrite;

use super::{ClientInfo, End, Initialized, Input, Phase, Session, Side, StartCommand, Task};
use crate::config::{ConfigError, SessionConfig, TransportMode};
use crate::console::Category;
use crate::dap::requests::{CLIENT_REQUESTS, is_client_request};
use crate::dap::{AdapterSeq, BridgeTag, ClientSeq, DapCodec, Kind, Message, Origin, Pending};
use crate::error::{Blame, Error};
use crate::paths::PathRewriter;
use crate::runtime::{self, ContainerError, Context, Failed, Started};

/// How often a start waiting for debugpy's answer looks whether the runtime
/// stalled, once the configuration's `timeout` has passed.
const START_WATCH: Duration = Duration::from_secs(1);

/// debugpy's `initialize` answer (1.8, `adapter/clients.py`), promised to the
/// client before debugpy exists. The real answer is compared on arrival.
pub(super) fn debugpy_capabilities() -> Value {
    json!({
        "supportsCompletionsRequest": true,
        "supportsConditionalBreakpoints": true,
        "supportsConfigurationDoneRequest": true,
        "supportsDebuggerProperties": true,
        "supportsDelayedStackTraceLoading": true,
        "supportsEvaluateForHovers": true,
        "supportsExceptionInfoRequest": true,
        "supportsExceptionOptions": true,
        "supportsFunctionBreakpoints": true,
        "supportsHitConditionalBreakpoints": true,
        "supportsLogPoints": true,
        "supportsModulesRequest": true,
        "supportsSetExpression": true,
        "supportsSetVariable": true,
        "supportsValueFormattingOptions": true,
        "supportsTerminateDebuggee": true,
        "supportsTerminateRequest": true,
        "supportsGotoTargetsRequest": true,
        "supportsClipboardContext": true,
        "exceptionBreakpointFilters": [
            {"filter": "raised", "label": "Raised Exceptions", "default": false,
             "description": "Break whenever any exception is raised."},
            {"filter": "uncaught", "label": "Uncaught Exceptions", "default": true,
             "description": "Break when the process is exiting due to unhandled exception."},
            {"filter": "userUnhandled", "label": "User Uncaught Exceptions", "default": false,
             "description": "Break when exception escapes into library code."}
        ],
        "supportsStepInTargetsRequest": true,
        // dockdap's own (session/restart.rs), whatever debugpy says.
        "supportsRestartRequest": true,
    })
}

/// The keys of `actual` whose values differ from `promised` (what a
/// `capabilities` event must carry).
pub(super) fn capability_changes(promised: &Value, actual: &Value) -> Map<String, Value> {
    let (Some(promised), Some(actual)) = (promised.as_object(), actual.as_object()) else {
        return Map::new();
    };
    let mut changed: Map<String, Value> =
        actual.iter().filter(|(k, v)| promised.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    for (key, value) in promised {
        if !actual.contains_key(key) && value.as_bool() == Some(true) {
            changed.insert(key.clone(), Value::Bool(false));
        }
    }
    changed
}

impl<W: AsyncWrite + Send + Unpin> Session<W> {
    /// A message from the client.
    pub(super) async fn on_client_message(&mut self, message: Message) -> Option<End> {
        tracing::debug!("client -> {}", message.summary());
        tracing::trace!(target: "dockdap::wire", "client -> {message:?}");
        match message.kind().clone() {
            Kind::Request { command } => self.client_request(&command, message).await,
            Kind::Response { request_seq, .. } => {
                self.forward_response_to_adapter(ClientSeq(request_seq), message).await;
                None
            }
            Kind::Event { event } => {
                tracing::warn!(event, "ignoring an event from the client; clients do not send events");
                None
            }
        }
    }

    async fn client_request(&mut self, command: &str, message: Message) -> Option<End> {
        if super::prefetch::changes_state(command) {
            self.prefetch.drop_answers();
        }
        if matches!(command, "disconnect" | "terminate") {
            self.debuggee.leaving = true;
        }
        match command {
            "initialize" => {
                self.initialize(message).await;
                None
            }
            "launch" => {
                self.start(StartCommand::Launch, message).await;
                None
            }
            "attach" => {
                self.start(StartCommand::Attach, message).await;
                None
            }
            "cancel" => {
                self.cancel(message).await;
                None
            }
            "restart" => {
                self.restart(message).await;
                None
            }
            "disconnect" if self.adapter.is_none() => {
                self.send_to_client(Message::success(message.seq(), "disconnect", None)).await;
                Some(End::Disconnected)
            }
            "disconnect" if let Some(stall) = self.stall("when the editor disconnected") => {
                // debugpy cannot answer: the client is not kept waiting for it.
                self.console(Category::Console, &format!("[dockdap] {stall}; disconnecting without debugpy")).await;
                self.send_to_client(Message::success(message.seq(), "disconnect", None)).await;
                Some(End::Disconnected)
            }
            _ if command.starts_with("dockdap/") => {
                self.custom_request(command, message).await;
                None
            }
            _ => {
                match &self.phase {
                    Phase::Running { .. } | Phase::Restarting => self.forward_request_to_adapter(message).await,
                    Phase::Starting { .. } | Phase::Reattaching => self.queued.push_back(message),
                    Phase::Idle => {
                        let reply = Message::failure(message.seq(), command, &too_early(command));
                        self.send_to_client(reply).await;
                    }
                    Phase::Ended => {
                        let reply = Message::failure(message.seq(), command, "the debug session has ended");
                        self.send_to_client(reply).await;
                    }
                    Phase::Failed(why) => {
                        let why = format!("the debug session did not start: {why}");
                        self.send_to_client(Message::failure(message.seq(), command, &why)).await;
                    }
                }
                None
            }
        }
    }

    async fn initialize(&mut self, message: Message) {
        if self.info.is_some() {
            let reply = Message::failure(message.seq(), "initialize", "the session is already initialized");
            self.send_to_client(reply).await;
            return;
        }
        let arguments = message.field::<Value>("arguments").ok().flatten().unwrap_or_else(|| json!({}));
        let flag = |name: &str| arguments.get(name).and_then(Value::as_bool).unwrap_or(false);
        self.info = Some(ClientInfo {
            supports_progress: flag("supportsProgressReporting"),
            supports_start_debugging: flag("supportsStartDebuggingRequest"),
            drops_custom_events: ["clientID", "clientName"].iter().any(|k| {
                arguments
                    .get(*k)
                    .and_then(Value::as_str)
                    .is_some_and(|v| v == "hx" || v.to_ascii_lowercase().contains("helix"))
            }),
            arguments,
        });
        self.advertised = debugpy_capabilities();
        let reply = Message::success(message.seq(), "initialize", Some(&self.advertised));
        self.send_to_client(reply).await;
    }

    /// `launch` or `attach`: parse the configuration and start the runtime.
    async fn start(&mut self, command: StartCommand, message: Message) {
        let is_launch = command == StartCommand::Launch;
        let command = command.as_str();
        if !matches!(self.phase, Phase::Idle) {
            let reply = Message::failure(message.seq(), command, "the session has already started");
            self.send_to_client(reply).await;
            return;
        }
        // Arguments that are not JSON must not become `{}` ("`image` is required").
        let parsed = message.field::<Value>("arguments").map(|a| a.unwrap_or_else(|| json!({})));
        let config = match parsed {
            Ok(arguments) => SessionConfig::parse(is_launch, &arguments),
            Err(e) => Err(ConfigError {
                request: command,
                message: format!("its `arguments` are not valid JSON ({e}); the editor sent a broken configuration"),
            }),
        };
        let config = match config {
            Ok(config) => config,
            Err(e) => {
                let why = e.to_string();
                self.console(Category::Stderr, &format!("[dockdap] {why}")).await;
                self.send_to_client(Message::failure(message.seq(), command, &why)).await;
                self.phase = Phase::Failed(why);
                return;
            }
        };
        for note in &config.notes {
            self.console(Category::Important, &format!("[dockdap] {note}")).await;
        }
        let mut rewriter = PathRewriter::new(config.paths().path_map(&self.options.workspace));
        let uses_uris =
            self.info.as_ref().and_then(|i| i.arguments.get("pathFormat")).and_then(Value::as_str) == Some("uri");
        rewriter.set_client_uses_uris(uses_uris);
        for mapping in rewriter.map().mappings() {
            tracing::info!(host = %mapping.host, container = %mapping.container, "path mapping");
        }
        self.rewriter = Some(rewriter);
        self.prefetch = super::prefetch::Prefetch::new(config.prefetch());
        let command = if is_launch { StartCommand::Launch } else { StartCommand::Attach };
        self.spawn_start(config, ClientSeq(message.seq()), command);
    }

    /// Starts the runtime in a task that reports back with `Task::Started`;
    /// `request`/`command` is the client request the start answers.
    pub(super) fn spawn_start(&mut self, config: SessionConfig, request: ClientSeq, command: StartCommand) {
        let start = self.tasks.child();
        let since = tokio::time::Instant::now();
        self.phase = Phase::Starting { request, command, cancel: start.stop_token().clone(), since };
        self.config = Some(config.clone());
        let workspace = PathBuf::from(config.paths().local_root_on(&self.options.workspace));
        let child_sessions = self.info.as_ref().is_some_and(|i| i.supports_start_debugging);
        let cx = Context { events: self.events_tx.clone(), tasks: start, workspace: workspace.clone(), child_sessions };
        let tx = self.inputs_tx.clone();
        // Not stopped with the session: a cancelled start reports what it
        // created, so that shutdown puts it back.
        self.tasks.spawn_unstoppable(async move {
            // Nothing starts, and nothing is read, for folders unfit to sync.
            let result = match super::files::check_folders(&config, workspace).await {
                Ok(()) => runtime::start(&config, &cx).await,
                Err(refused) => Err(Failed::from(ContainerError::Unusable(refused.to_string()))),
            };
            let _ = tx.send(Input::Task(Task::Started(Box::new(result)))).await;
        });
    }

    /// The runtime is up (or failed): connect the adapter link, replay
    /// `initialize`, send debugpy its `attach`, and release queued requests.
    pub(super) async fn on_started(&mut self, result: Result<Started, Failed>) -> Option<End> {
        let next_initialized = Initialized::Forward;
        let running = Phase::Running { next_initialized };
        let Phase::Starting { request, command, since, .. } = std::mem::replace(&mut self.phase, running) else {
            // Started after the session moved on: just keep the runtime for cleanup.
            match result {
                Ok(started) => self.end_in_background(Some(started.runtime)),
                Err(failed) => self.end_in_background(failed.leftover),
            }
            return None;
        };
        if command == StartCommand::Restart {
            self.phase = Phase::Running { next_initialized: Initialized::Replay };
        }
        let command = command.as_str();
        let started = match result {
            Ok(started) => started,
            Err(failed) => {
                self.end_in_background(failed.leftover);
                let e = Error::from(failed.error);
                let why = match e.blame() {
                    Blame::Internal => {
                        tracing::error!(error = %e, "internal error while starting the runtime");
                        format!("internal error in dockdap (please report it): {e}")
                    }
                    Blame::User | Blame::Nobody => e.to_string(),
                };
                self.end_progress("failed").await;
                self.console(Category::Stderr, &format!("[dockdap] {why}")).await;
                self.send_to_client(Message::failure(request.0, command, &why)).await;
                self.phase = Phase::Failed(why);
                return None;
            }
        };
        self.adapter_link += 1;
        self.prefetch.reset();
        let Started { runtime, adapter } = started;
        self.spawn_reader(adapter.link.reader, Side::Adapter(self.adapter_link));
        self.adapter = Some(FramedWrite::new(adapter.link.writer, DapCodec::default()));
        let description = runtime.describe();
        self.runtime = Some(runtime);
        self.adapter_attach = adapter.attach;
        self.end_progress(&format!("attached to {description}")).await;
        self.console(Category::Console, &format!("[dockdap] attached to {description}")).await;
        self.start_sync().await;
        // Said once nothing more is started in the container: a pause the
        // user makes on reading it catches no process half-started (runc#2753).
        if let Some(runtime) = &self.runtime {
            let step = format!("connecting to debugpy ({})", runtime.debug_address());
            self.progress(&step).await;
        }
        let timeout = self.config.as_ref().map_or(0.0, SessionConfig::timeout);
        let answer_by = (since + Duration::from_secs_f64(timeout.max(0.0))).max(Instant::now() + START_WATCH);
        self.start_watch = Some((request, answer_by));

        let replay = self.replayed_initialize();
        if let Ok(init) = Message::request("initialize", &replay) {
            self.request_adapter(init, Origin::Bridge(BridgeTag::Initialize), "initialize").await;
        }
        let attach_args = self.attach_arguments();
        match Message::request("attach", &attach_args) {
            Ok(attach) => self.request_adapter(attach, Origin::Peer(request), command).await,
            Err(e) => {
                let reply = Message::failure(request.0, command, &e.to_string());
                self.send_to_client(reply).await;
            }
        }
        while let Some(queued) = self.queued.pop_front() {
            self.forward_request_to_adapter(queued).await;
        }
        None
    }

    /// Why debugpy cannot answer right now, if the runtime knows.
    fn stall(&self, during: &str) -> Option<String> {
        Some(self.runtime.as_ref()?.stall(during)?.to_string())
    }

    /// The client's `launch`/`attach` is still waiting for debugpy: if the
    /// runtime stalled (a paused container), answer it with why, retire the
    /// link (debugpy cannot answer it), and leave the session failed; else
    /// look again in a second.
    pub(super) async fn check_start(&mut self) {
        let Some((request, _)) = self.start_watch.take() else { return };
        if self.seq.adapter_seq_of(request).is_none() {
            return;
        }
        let Some(why) = self.stall("while debugpy was attaching") else {
            self.start_watch = Some((request, Instant::now() + START_WATCH));
            return;
        };
        tracing::warn!(%why, "debugpy cannot answer the start");
        self.adapter_link += 1;
        self.prefetch.reset();
        self.adapter = None;
        self.answer_adapter_pending(&why).await;
        self.console(Category::Stderr, &format!("[dockdap] {why}")).await;
        self.phase = Phase::Failed(why);
    }

    /// The client's `initialize` arguments as debugpy gets them: dockdap
    /// converts URIs itself, and never lets debugpy run commands on the
    /// user's machine.
    pub(super) fn replayed_initialize(&self) -> Value {
        let mut replay = self.info.as_ref().map(|i| i.arguments.clone()).unwrap_or_else(|| json!({}));
        if let Some(obj) = replay.as_object_mut() {
            obj.insert("pathFormat".into(), json!("path"));
            obj.insert("supportsRunInTerminalRequest".into(), json!(false));
        }
        replay
    }

    /// debugpy's `attach` arguments: the client's, minus dockdap's own.
    /// `request` is always there: VS Code sends it anyway, and pydevd
    /// rejects an attach whose arguments are an empty object.
    pub(super) fn attach_arguments(&self) -> Value {
        let mut args = self.config.as_ref().map(|c| c.for_debugpy.clone()).unwrap_or_default();
        args.insert("request".into(), json!("attach"));
        args.extend(self.adapter_attach.clone());
        without_listen_for_subprocess(&mut args);
        Value::Object(args)
    }

    /// debugpy answered the replayed `initialize`: correct the client's view.
    pub(super) async fn on_adapter_initialized(&mut self, response: &Message) {
        let Ok(Some(mut actual)) = response.field::<Value>("body") else {
            return;
        };
        if let Some(caps) = actual.as_object_mut() {
            // dockdap implements `restart` itself.
            caps.insert("supportsRestartRequest".into(), json!(true));
        }
        let changes = capability_changes(&self.advertised, &actual);
        if changes.is_empty() {
            return;
        }
        tracing::info!(changed = ?changes.keys().collect::<Vec<_>>(), "debugpy's capabilities differ from the promised ones");
        if let Ok(event) = Message::event("capabilities", &json!({ "capabilities": changes })) {
            self.send_to_client(event).await;
        }
        self.advertised = actual;
    }

    /// `cancel`: a queued request is answered here; an in-flight one has its
    /// `requestId` renumbered and the cancel goes on to debugpy.
    async fn cancel(&mut self, mut message: Message) {
        let args = message.field::<Value>("arguments").ok().flatten().unwrap_or_default();
        if let Some(id) = args.get("requestId").and_then(Value::as_i64) {
            if let Some(i) = self.queued.iter().position(|q| q.seq() == id) {
                if let Some(queued) = self.queued.remove(i) {
                    let command = queued.command().unwrap_or_default().to_owned();
                    self.send_to_client(Message::failure(id, &command, "cancelled")).await;
                }
                self.send_to_client(Message::success(message.seq(), "cancel", None)).await;
                return;
            }
            if let Some(adapter_seq) = self.seq.adapter_seq_of(ClientSeq(id)) {
                let _ = message.edit_field("arguments", |a| {
                    a["requestId"] = json!(adapter_seq.0);
                    true
                });
            } else {
                // Already answered, or never seen: nothing left to cancel.
                self.send_to_client(Message::success(message.seq(), "cancel", None)).await;
                return;
            }
        }
        if self.adapter.is_some() {
            self.forward_request_to_adapter(message).await;
        } else {
            self.send_to_client(Message::success(message.seq(), "cancel", None)).await;
        }
    }

    /// A request from debugpy to the client.
    pub(super) async fn adapter_request(&mut self, command: &str, mut message: Message) {
        match command {
            "runInTerminal" => {
                tracing::warn!("refused debugpy's runInTerminal request");
                let why = "dockdap does not run commands on the user's machine on behalf of a debuggee";
                let reply = Message::failure(message.seq(), command, why);
                self.send_to_adapter(reply).await;
                self.console(
                    Category::Console,
                    "[dockdap] refused a request from debugpy to run a command in the editor's terminal",
                )
                .await;
            }
            "startDebugging" => {
                let origin = Origin::Peer(AdapterSeq(message.seq()));
                let config = self.config.clone();
                let local_root =
                    self.rewriter.as_ref().and_then(|r| r.map().mappings().first()).map(|m| m.host.clone());
                let container =
                    self.runtime.as_ref().and_then(|r| r.container()).map(|c| (c.name.clone(), c.transport));
                let _ = message.edit_field("arguments", |args| {
                    child_configuration(args, config.as_ref(), local_root.as_deref(), container.as_ref())
                });
                self.request_client(message, origin).await;
            }
            _ => {
                let origin = Origin::Peer(AdapterSeq(message.seq()));
                self.request_client(message, origin).await;
            }
        }
    }

    /// The client answered a request the bridge sent it.
    async fn forward_response_to_adapter(&mut self, request_seq: ClientSeq, mut message: Message) {
        match self.seq.answered_by_client(request_seq) {
            Some(Pending { origin: Origin::Peer(adapter_seq), .. }) => {
                message.set_request_seq(adapter_seq.0);
                self.send_to_adapter(message).await;
            }
            Some(_) => {}
            None => tracing::warn!(request_seq = request_seq.0, "dropping a client response to an unknown request"),
        }
    }
}

/// The answer to a request made before `launch`/`attach`: too early if the
/// protocol knows it, else unknown (with a guess), so `launch2` is not
/// answered as if the session merely had not started.
fn too_early(command: &str) -> String {
    if is_client_request(command) {
        return "the debug session has not started: send `launch` or `attach` first".into();
    }
    let guess = crate::config::nearest(command, CLIENT_REQUESTS.iter().copied())
        .map(|near| format!(" (did you mean `{near}`?)"))
        .unwrap_or_default();
    format!(
        "`{command}` is not a Debug Adapter Protocol request{guess}; a session starts with `initialize`, then `launch` or `attach`"
    )
}

/// A subprocess's attach (`subProcessId`) reaches the adapter that already
/// serves it: debugpy refuses it with `listen` ("mutually exclusive").
pub(super) fn without_listen_for_subprocess(args: &mut serde_json::Map<String, Value>) {
    if args.contains_key("subProcessId") {
        args.remove("listen");
    }
}

/// A child session's paths are its parent's: `appRoot`, `pathMappings`,
/// and `localRoot` as the parent resolved it.
pub(super) fn with_session_paths(
    configuration: &mut serde_json::Map<String, Value>,
    config: Option<&SessionConfig>,
    local_root: Option<&str>,
) {
    if let Some(config) = config {
        let paths = config.paths();
        configuration.insert("appRoot".into(), json!(paths.app_root));
        if !paths.path_mappings.is_empty() {
            configuration.insert("pathMappings".into(), json!(paths.path_mappings));
        }
    }
    if let Some(local_root) = local_root {
        configuration.insert("localRoot".into(), json!(local_root));
    }
}

/// Rewrites the configuration of debugpy's `startDebugging` so that the
/// editor's child session is another dockdap session attached to the child's
/// debugpy, with the same path mapping as this one. debugpy's `connect`
/// address is inside the container when the session is: the child then joins
/// that container on that port instead (through the same transport).
fn child_configuration(
    args: &mut Value,
    config: Option<&SessionConfig>,
    local_root: Option<&str>,
    container: Option<&(String, TransportMode)>,
) -> bool {
    let Some(configuration) = args.get_mut("configuration").and_then(Value::as_object_mut) else {
        return false;
    };
    configuration.insert("type".into(), json!("dockdap"));
    configuration.insert("request".into(), json!("attach"));
    without_listen_for_subprocess(configuration);
    with_session_paths(configuration, config, local_root);
    if let Some((name, transport)) = container {
        let port = configuration.get("connect").and_then(|c| c.get("port")).cloned();
        configuration.remove("connect");
        configuration.insert("container".into(), json!(name));
        if let Some(port) = port {
            configuration.insert("debugPort".into(), port);
        }
        configuration.insert("transport".into(), json!(transport));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_diff() {
        let promised = json!({"a": true, "b": true, "c": false});
        assert_eq!(Value::Object(capability_changes(&promised, &promised)), json!({}));
        let actual = json!({"a": true, "c": true, "d": 1});
        assert_eq!(Value::Object(capability_changes(&promised, &actual)), json!({"c": true, "d": 1, "b": false}));
    }

    #[test]
    fn a_subprocess_attach_never_listens() {
        let mut args = json!({"configuration": {"request": "attach", "subProcessId": 7,
                              "listen": {"host": "127.0.0.1", "port": 5678}, "connect": {"host": "127.0.0.1", "port": 40001}}});
        assert!(child_configuration(&mut args, None, None, Some(&("c".to_owned(), TransportMode::Exec))));
        let config = &args["configuration"];
        assert!(config.get("listen").is_none(), "{config}");
        assert_eq!(config["debugPort"], 40001, "{config}");
        let mut parent = json!({"request": "attach", "listen": {"port": 5678}});
        without_listen_for_subprocess(parent.as_object_mut().unwrap());
        assert!(parent.get("listen").is_some(), "a parent's attach keeps it");
    }
}
