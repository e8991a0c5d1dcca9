//! Targets made debuggable beside the session's own (the other services of
//! a Compose launch's `compose.alsoDebug`): once the editor has the
//! `launch` answer, each gets a child session of its own through the
//! `startDebugging` reverse request, an `attach` that joins it with this
//! session's paths. An editor without child sessions is told, in the debug
//! console, the `attach` configuration to start for each one; those
//! services were started without waiting for a debugger.

use serde_json::{Map, Value, json};
use tokio::io::AsyncWrite;

use super::Session;
use crate::console::Category;
use crate::dap::{BridgeTag, Message, Origin};
use crate::runtime::MoreTarget;

impl<W: AsyncWrite + Send + Unpin> Session<W> {
    /// Opens a child session for each target the runtime made debuggable
    /// beside this one, or says how to attach to it.
    pub(super) async fn open_more_targets(&mut self) {
        let Some(runtime) = self.runtime.clone() else { return };
        let targets = runtime.more_targets();
        if targets.is_empty() {
            return;
        }
        let child_sessions = self.info.as_ref().is_some_and(|i| i.supports_start_debugging);
        for target in targets {
            let configuration = self.configuration_for(&target);
            if child_sessions {
                let arguments = json!({ "request": "attach", "configuration": configuration });
                match Message::request("startDebugging", &arguments) {
                    Ok(request) => {
                        self.console(Category::Console, &format!("[dockdap] opening a session for {}", target.name))
                            .await;
                        self.request_client(request, Origin::Bridge(BridgeTag::Other)).await;
                    }
                    Err(e) => tracing::warn!(error = %e, target = %target.name, "could not ask for a child session"),
                }
            } else {
                let text = format!(
                    "[dockdap] {} is debuggable, without waiting for a debugger: this editor does not open child sessions (startDebugging), so start a second session with this configuration: {}",
                    target.name,
                    Value::Object(configuration)
                );
                self.console(Category::Important, &text).await;
            }
        }
    }

    /// The `attach` configuration that joins `target` with this session's paths.
    fn configuration_for(&self, target: &MoreTarget) -> Map<String, Value> {
        let mut configuration = Map::new();
        configuration.insert("type".into(), json!("dockdap"));
        configuration.insert("request".into(), json!("attach"));
        configuration.insert("name".into(), json!(target.name));
        let local_root = self.rewriter.as_ref().and_then(|r| r.map().mappings().first()).map(|m| m.host.clone());
        super::intercept::with_session_paths(&mut configuration, self.config.as_ref(), local_root.as_deref());
        configuration.extend(target.attach.clone());
        configuration
    }
}
