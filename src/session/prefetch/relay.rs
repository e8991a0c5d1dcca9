//! The session's side of the prefetch: its requests go out as the bridge's
//! own, and editor requests are answered from, or joined to, them.

use serde_json::Value;
use tokio::io::AsyncWrite;

use super::{Fetch, Hit, in_cycle};
use crate::dap::{AdapterSeq, BridgeTag, ClientSeq, Message, Origin, Pending};
use crate::session::Session;

impl<W: AsyncWrite + Send + Unpin> Session<W> {
    /// Sends fetches to debugpy as the bridge's own `Prefetch` requests.
    pub(in crate::session) async fn send_fetches(&mut self, fetches: Vec<Fetch>) {
        for Fetch { slot, message } in fetches {
            let command = message.command().unwrap_or_default().to_owned();
            if let Some(seq) = self.send_to_adapter(message).await {
                self.seq.sent_to_adapter(seq, Pending { origin: Origin::Bridge(BridgeTag::Prefetch), command });
                self.prefetch.sent(slot, seq);
            }
        }
    }

    /// debugpy stopped: fetch what the editor asked after its last stop of this reason.
    pub(in crate::session) async fn prefetch_on_stop(&mut self, message: &Message) {
        let thread = message.field::<Value>("body").ok().flatten().and_then(|b| b.get("threadId")?.as_i64());
        let reason =
            message.field::<Value>("body").ok().flatten().and_then(|b| Some(b.get("reason")?.as_str()?.to_owned()));
        let fetches = self.prefetch.on_stopped(thread, reason.as_deref().unwrap_or_default());
        self.send_fetches(fetches).await;
    }

    /// An editor request of the step cycle: answered from a fetch, joined
    /// to one in flight, or (`Some(message)`) to be forwarded as always.
    pub(in crate::session) async fn answer_from_prefetch(
        &mut self,
        command: &str,
        message: Message,
    ) -> Option<Message> {
        if !in_cycle(command) || !self.prefetch.watching() {
            return Some(message);
        }
        let client_seq = ClientSeq(message.seq());
        let arguments = message.field::<Value>("arguments").ok().flatten();
        match self.prefetch.on_client_request(client_seq.0, command, arguments) {
            Hit::Miss => Some(message),
            Hit::Ready(answer) => {
                tracing::debug!(command, "answered from the prefetch");
                self.answer_client(client_seq, command, command, answer).await;
                None
            }
            Hit::InFlight(seq) => {
                let pending = Pending { origin: Origin::Peer(client_seq), command: command.to_owned() };
                if self.seq.adopt(seq, pending) {
                    tracing::debug!(command, "joined a prefetch in flight");
                    None
                } else {
                    Some(message)
                }
            }
        }
    }

    /// A response from debugpy to a request of the step cycle: what the
    /// prefetch learns from it; `Some` if the client should have it.
    pub(in crate::session) async fn prefetch_on_answer(
        &mut self,
        seq: AdapterSeq,
        client: Option<ClientSeq>,
        command: &str,
        message: Message,
    ) -> Option<Message> {
        if !in_cycle(command) {
            return Some(message);
        }
        let (fetches, message) = self.prefetch.on_answer(seq, client.map(|c| c.0), command, message);
        self.send_fetches(fetches).await;
        message
    }
}
