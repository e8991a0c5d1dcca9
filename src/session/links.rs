//! The session's two links: every message to the client or to debugpy is
//! written here, with its `seq` stamped here and only here, into a buffer
//! that the loop flushes once it has no input waiting.
//!
//! Also the session's own lines for the user (`console`, `progress`).

use bytes::BytesMut;
use futures_util::SinkExt;
use tokio::io::AsyncWrite;
use tokio_util::codec::FramedWrite;

use super::Session;
use crate::console::Category;
use crate::dap::{AdapterSeq, ClientSeq, DapCodec, Message, Origin, Pending};

/// A buffer that grew past this for a large frame is given back once the
/// frame has gone through, so one 16 MiB `variables` answer does not keep
/// dockdap at 100 MB for the rest of the session.
pub(super) const SHRINK_ABOVE: usize = 1024 * 1024;

/// Replaces an oversized, empty write buffer with a new one.
fn shrink(buffer: &mut BytesMut) {
    if buffer.capacity() > SHRINK_ABOVE && buffer.is_empty() {
        *buffer = BytesMut::new();
    }
}

/// How much a link buffers before it writes even though more input waits.
const WRITE_BATCH: usize = 64 * 1024;

/// A frame writer that buffers up to `WRITE_BATCH` (the session flushes).
pub(super) fn buffered<T>(mut writer: FramedWrite<T, DapCodec>) -> FramedWrite<T, DapCodec> {
    writer.set_backpressure_boundary(WRITE_BATCH);
    writer
}

impl<W: AsyncWrite + Send + Unpin> Session<W> {
    /// Writes a message to the client, stamping its seq. A failed write
    /// means the client is gone; the loop notices through `client_open`.
    pub(super) async fn send_to_client(&mut self, mut message: Message) -> Option<ClientSeq> {
        if !self.client_open {
            return None;
        }
        let seq = self.seq.stamp_to_client();
        message.set_seq(seq.0);
        tracing::debug!("client <- {}", message.summary());
        tracing::trace!(target: "dockdap::wire", "client <- {message:?}");
        if let Err(e) = self.client.feed(message).await {
            tracing::info!(error = %e, "cannot write to the client; ending the session");
            self.client_open = false;
            return None;
        }
        self.client_dirty = true;
        Some(seq)
    }

    /// Sends what both links have buffered, debugpy's first (after a stop,
    /// the prefetch's requests go out before the `stopped` event). A failed
    /// flush is a closed link, as a failed write is.
    pub(super) async fn flush_links(&mut self) {
        if std::mem::take(&mut self.adapter_dirty)
            && let Some(adapter) = self.adapter.as_mut()
        {
            match SinkExt::<Message>::flush(adapter).await {
                Ok(()) => shrink(adapter.write_buffer_mut()),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot write to debugpy");
                    self.adapter = None;
                }
            }
        }
        if std::mem::take(&mut self.client_dirty) && self.client_open {
            match SinkExt::<Message>::flush(&mut self.client).await {
                Ok(()) => shrink(self.client.write_buffer_mut()),
                Err(e) => {
                    tracing::info!(error = %e, "cannot write to the client; ending the session");
                    self.client_open = false;
                }
            }
        }
    }

    /// Writes a request to the client and remembers who is waiting for it.
    pub(super) async fn request_client(&mut self, message: Message, origin: Origin<AdapterSeq>) {
        let command = message.command().unwrap_or_default().to_owned();
        if let Some(seq) = self.send_to_client(message).await {
            self.seq.sent_to_client(seq, Pending { origin, command });
        }
    }

    /// Writes a message to debugpy, stamping its seq. Returns `None` if there
    /// is no adapter link or the write failed (the link's reader reports the close).
    pub(super) async fn send_to_adapter(&mut self, mut message: Message) -> Option<AdapterSeq> {
        let adapter = self.adapter.as_mut()?;
        let seq = self.seq.stamp_to_adapter();
        message.set_seq(seq.0);
        tracing::debug!("adapter <- {}", message.summary());
        tracing::trace!(target: "dockdap::wire", "adapter <- {message:?}");
        if let Err(e) = adapter.feed(message).await {
            tracing::warn!(error = %e, "cannot write to debugpy");
            self.adapter = None;
            return None;
        }
        self.adapter_dirty = true;
        Some(seq)
    }

    /// Writes a request to debugpy and remembers who is waiting for it. If it
    /// cannot be written, a client asker gets an error response at once.
    pub(super) async fn request_adapter(&mut self, message: Message, origin: Origin<ClientSeq>, answer_as: &str) {
        let pending = Pending { origin, command: answer_as.to_owned() };
        match self.send_to_adapter(message).await {
            Some(seq) => self.seq.sent_to_adapter(seq, pending),
            None => {
                if let Origin::Peer(client_seq) = pending.origin {
                    let reply = Message::failure(client_seq.0, answer_as, "debugpy is not connected");
                    self.send_to_client(reply).await;
                }
            }
        }
    }

    /// A line in the editor's debug console.
    pub(super) async fn console(&mut self, category: Category, text: &str) {
        let body = serde_json::json!({ "category": category.as_str(), "output": format!("{text}\n") });
        if let Ok(event) = Message::event("output", &body) {
            self.send_to_client(event).await;
        }
    }

    /// Reports a step of starting the runtime: as a progress notification when
    /// the client supports them, else as a console line.
    pub(super) async fn progress(&mut self, step: &str) {
        let supports = self.info.as_ref().is_some_and(|i| i.supports_progress);
        if !supports {
            self.console(Category::Console, &format!("[dockdap] {step}")).await;
            return;
        }
        let (event, body) = match &self.progress_id {
            Some(id) => ("progressUpdate", serde_json::json!({ "progressId": id, "message": step })),
            None => {
                let id = format!("dockdap-start-{}", std::process::id());
                self.progress_id = Some(id.clone());
                ("progressStart", serde_json::json!({ "progressId": id, "title": "dockdap", "message": step }))
            }
        };
        if let Ok(event) = Message::event(event, &body) {
            self.send_to_client(event).await;
        }
    }

    pub(super) async fn end_progress(&mut self, message: &str) {
        if let Some(id) = self.progress_id.take() {
            let body = serde_json::json!({ "progressId": id, "message": message });
            if let Ok(event) = Message::event("progressEnd", &body) {
                self.send_to_client(event).await;
            }
        }
    }
}
