//! Pass-through: messages that go from one peer to the other, renumbered and
//! with their paths rewritten, and nothing else changed.
//!
//! A message is parsed beyond its envelope only when its command or event is
//! one that carries paths (`PathRewriter::*_has_paths`), and an `output`
//! event only when its text shows a `source` or a traceback frame
//! (`PathRewriter::event_body_may_have_paths`), and a response only when its
//! text can hold a mapped path (`PathRewriter::response_may_change`: a
//! `scopes` answer never does); everything else is forwarded with envelope
//! work only. Requests of the step cycle may be answered by the prefetch
//! (`prefetch`) instead.

use tokio::io::AsyncWrite;

use super::{End, Farewell, Initialized, Phase, Session};
use crate::dap::{AdapterSeq, BridgeTag, ClientSeq, Kind, Message, Origin, Pending};
use crate::paths::PathRewriter;

impl<W: AsyncWrite + Send + Unpin> Session<W> {
    /// A client request, rewritten to container paths, on to debugpy.
    pub(super) async fn forward_request_to_adapter(&mut self, message: Message) {
        let command = message.command().unwrap_or_default().to_owned();
        self.breakpoints.remember(&command, &message);
        let Some(mut message) = self.answer_from_prefetch(&command, message).await else {
            return;
        };
        if PathRewriter::request_has_paths(&command)
            && let Some(rewriter) = self.rewriter.as_mut()
            && let Err(e) = message.edit_field("arguments", |args| rewriter.request_to_container(&command, args))
        {
            tracing::warn!(error = %e, command, "could not rewrite paths; forwarding unchanged");
        }
        let origin = Origin::Peer(ClientSeq(message.seq()));
        self.request_adapter(message, origin, &command).await;
    }

    /// A message from debugpy.
    pub(super) async fn on_adapter_message(&mut self, message: Message) -> Option<End> {
        tracing::debug!("adapter -> {}", message.summary());
        tracing::trace!(target: "dockdap::wire", "adapter -> {message:?}");
        match message.kind().clone() {
            Kind::Response { request_seq, command, .. } => {
                self.adapter_response(AdapterSeq(request_seq), &command, message).await
            }
            Kind::Event { event } => {
                self.adapter_event(&event, message).await;
                None
            }
            Kind::Request { command } => {
                self.adapter_request(&command, message).await;
                None
            }
        }
    }

    async fn adapter_response(&mut self, request_seq: AdapterSeq, command: &str, message: Message) -> Option<End> {
        let Some(Pending { origin, command: asked_as }) = self.seq.answered_by_adapter(request_seq) else {
            tracing::warn!(request_seq = request_seq.0, command, "dropping a debugpy response to an unknown request");
            return None;
        };
        match origin {
            Origin::Peer(client_seq) => {
                let message = self.prefetch_on_answer(request_seq, Some(client_seq), command, message).await?;
                self.answer_client(client_seq, &asked_as, command, message).await
            }
            Origin::Bridge(BridgeTag::Initialize) => {
                self.on_adapter_initialized(&message).await;
                None
            }
            Origin::Bridge(BridgeTag::Prefetch) => {
                self.prefetch_on_answer(request_seq, None, command, message).await;
                None
            }
            Origin::Bridge(BridgeTag::Reattach) => {
                self.reattach_answered(command, &message).await;
                None
            }
            Origin::Bridge(BridgeTag::Other) => None,
        }
    }

    /// debugpy's answer to `command`, to the client's request `client_seq`
    /// (made as `asked_as`): paths rewritten, renumbered, renamed.
    pub(super) async fn answer_client(
        &mut self,
        client_seq: ClientSeq,
        asked_as: &str,
        command: &str,
        mut message: Message,
    ) -> Option<End> {
        if PathRewriter::response_has_paths(command)
            && let Some(rewriter) = self.rewriter.as_ref()
            && message.raw_field("body").is_some_and(|b| rewriter.response_may_change(&b))
            && let Err(e) = message.edit_field("body", |body| rewriter.response_to_host(command, body))
        {
            tracing::warn!(error = %e, command, "could not rewrite paths; forwarding unchanged");
        }
        message.set_request_seq(client_seq.0);
        if asked_as != command {
            message.set_command(asked_as);
        }
        let started = matches!(asked_as, "launch" | "attach" | "restart");
        if started {
            self.describe_target_in(&mut message);
        }
        let succeeded = matches!(message.kind(), Kind::Response { success: true, .. });
        self.send_to_client(message).await;
        if started && succeeded {
            self.open_more_targets().await;
        }
        (asked_as == "disconnect").then_some(End::Disconnected)
    }

    /// Adds what dockdap started to the `launch`/`attach` response body
    /// (`body.dockdap`), so editors and scripts learn the container and the
    /// host ports of its service without parsing console text.
    fn describe_target_in(&self, message: &mut Message) {
        let Some(container) = self.runtime.as_ref().and_then(|r| r.container()) else {
            return;
        };
        let ports: Vec<serde_json::Value> = container
            .service_ports
            .iter()
            .map(|p| serde_json::json!({ "container": p.container, "host": p.address.port(), "url": p.url() }))
            .collect();
        let info = serde_json::json!({
            "container": container.name,
            "containerId": container.id,
            "debugAddress": container.debug_address,
            "ports": ports,
        });
        let mut body =
            message.field::<serde_json::Value>("body").ok().flatten().unwrap_or_else(|| serde_json::json!({}));
        if let Some(obj) = body.as_object_mut() {
            obj.insert("dockdap".into(), info);
            if let Err(e) = message.set_field("body", &body) {
                tracing::warn!(error = %e, "could not describe the container in the response");
            }
        }
    }

    async fn adapter_event(&mut self, event: &str, mut message: Message) {
        if event == "stopped" {
            self.prefetch_on_stop(&message).await;
        } else if super::prefetch::event_changes_state(event) {
            self.prefetch.drop_answers();
        }
        if message.raw_field("body").is_some_and(|b| PathRewriter::event_body_may_have_paths(event, &b))
            && let Some(rewriter) = self.rewriter.as_ref()
            && let Err(e) = message.edit_field("body", |body| rewriter.event_to_host(event, body))
        {
            tracing::warn!(error = %e, event, "could not rewrite paths; forwarding unchanged");
        }
        match event {
            // The process may be replaced: the editor hears of the end only
            // if the container ends too (`reattach`).
            "terminated" | "exited" if self.may_reattach() => {
                tracing::debug!(event, "holding back debugpy's end while the container runs on");
                // Let go of this debugpy at once: an adapter dockdap runs in the
                // container ends only when its client does, and until then it
                // would take the replacing worker for itself.
                if self.adapter.is_some() {
                    self.adapter_gone().await;
                }
                return;
            }
            "terminated" => self.farewell = self.farewell.max(Farewell::Terminated),
            "process" | "thread" => self.note_debuggee_event(event, &message).await,
            "initialized" => {
                if let Phase::Running { next_initialized } = &mut self.phase {
                    match std::mem::replace(next_initialized, Initialized::Forward) {
                        Initialized::Forward => {}
                        // A followed subprocess's: not the client's business.
                        Initialized::Suppress => return,
                        // A restarted debugpy's: configured as the client had.
                        Initialized::Replay => {
                            self.replay_configuration().await;
                            return;
                        }
                    }
                }
            }
            "debugpyAttach" if !self.info.as_ref().is_some_and(|i| i.supports_start_debugging) => {
                let child = message.field::<serde_json::Value>("body").ok().flatten().unwrap_or_default();
                self.follow_child(child).await;
                return;
            }
            _ if event.starts_with("debugpy") && self.info.as_ref().is_some_and(|i| i.drops_custom_events) => {
                tracing::debug!(event, "not passing debugpy's own event to a client that cannot take it");
                return;
            }
            _ => {}
        }
        if event == "stopped" {
            self.sync_on_stop();
        }
        self.send_to_client(message).await;
    }
}
