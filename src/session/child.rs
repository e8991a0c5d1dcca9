//! Following a subprocess for editors that cannot open child sessions.
//!
//! debugpy reports a new subprocess (a gunicorn worker forked by a debugged
//! master, a `multiprocessing` child) with the `startDebugging` reverse
//! request when the client supports it, and with its own `debugpyAttach`
//! event otherwise. Editors without `startDebugging` (Emacs dap-mode, older
//! Helix) would never see the child, and a breakpoint in the worker that runs
//! the app would never be hit. For them dockdap serves the child inside the
//! same session: it connects to the child through the same target and
//! transport, replays the client's breakpoints and `configurationDone`, and
//! from then on routes the session to the child. The parent's link is parked
//! (kept open, so debugpy does not take the parent's client as gone) and its
//! messages are ignored. The most recent subprocess wins.

use serde_json::{Value, json};
use tokio::io::AsyncWrite;
use tokio_util::codec::FramedWrite;

use super::{Initialized, Phase, Session, Side};
use crate::console::Category;
use crate::dap::{BridgeTag, DapCodec, Message, Origin};

impl<W: AsyncWrite + Send + Unpin> Session<W> {
    /// debugpy reported a subprocess to a client that cannot open a child
    /// session: follow it within this session.
    pub(super) async fn follow_child(&mut self, child: Value) {
        let pid = child.get("subProcessId").and_then(Value::as_i64).unwrap_or(0);
        let port = child.pointer("/connect/port").and_then(Value::as_u64).and_then(|p| u16::try_from(p).ok());
        let host = child.pointer("/connect/host").and_then(Value::as_str).unwrap_or("127.0.0.1").to_owned();
        let (Some(port), Some(runtime)) = (port, self.runtime.clone()) else {
            tracing::warn!(%child, "cannot follow a subprocess without its connect address (a port number)");
            return;
        };
        let link = match runtime.connect_port(&host, port).await {
            Ok(link) => link,
            Err(why) => {
                self.console(Category::Stderr, &format!("[dockdap] could not follow subprocess {pid}: {why}")).await;
                return;
            }
        };
        self.answer_adapter_pending("dockdap switched to the subprocess before debugpy answered").await;
        if let Some(parent) = self.adapter.take() {
            self.parked.push(parent);
        }
        self.adapter_link += 1;
        self.prefetch.reset();
        self.spawn_reader(link.reader, Side::Adapter(self.adapter_link));
        self.adapter = Some(FramedWrite::new(link.writer, DapCodec::default()));
        if let Phase::Running { next_initialized } = &mut self.phase {
            *next_initialized = Initialized::Suppress;
        }
        self.console(Category::Console,
            &format!(
                "[dockdap] following subprocess {pid}: the editor does not support child sessions (startDebugging), so dockdap debugs the subprocess in this session"
            ),
        )
        .await;

        let mut attach = child;
        if let Some(obj) = attach.as_object_mut() {
            obj.insert("request".into(), json!("attach"));
        }
        for (command, arguments) in [("initialize", self.replayed_initialize()), ("attach", attach)] {
            if let Ok(request) = Message::request(command, &arguments) {
                self.request_adapter(request, Origin::Bridge(BridgeTag::Other), command).await;
            }
        }
        self.replay_configuration().await;
    }
}
