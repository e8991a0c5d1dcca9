//! A small DAP client: what `dockdap demo`, the benchmarks and the tests use
//! to drive a session the way an editor would.
//!
//! It numbers its requests, waits for their responses under a timeout, and
//! keeps every other message it reads (events, reverse requests) in a
//! backlog that `wait_event` searches first, so a test can be written as a
//! conversation. It does not interpret the session it drives.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::dap::{CodecError, DapCodec, Kind, Message, MessageError};
use crate::transport::{BoxRead, BoxWrite};

/// What went wrong while driving a session.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The stream failed.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A message could not be built or parsed.
    #[error(transparent)]
    Message(#[from] MessageError),
    /// The peer sent a frame that is not a DAP message.
    #[error("malformed frame from the adapter: {0}")]
    Frame(String),
    /// The stream ended.
    #[error("the adapter closed the stream while we waited for {0}")]
    Closed(String),
    /// Nothing came in time.
    #[error("timed out after {secs:.1}s waiting for {what}; last messages seen: {seen}")]
    Timeout {
        /// What we waited for.
        what: String,
        /// How long.
        secs: f64,
        /// A summary of the last messages that did arrive.
        seen: String,
    },
    /// A request failed.
    #[error("request {command} failed: {message}")]
    Failed {
        /// The request.
        command: String,
        /// The adapter's message.
        message: String,
    },
}

/// A DAP client over any byte stream.
pub struct DapClient {
    reader: FramedRead<BoxRead, DapCodec>,
    writer: FramedWrite<BoxWrite, DapCodec>,
    last_seq: i64,
    backlog: VecDeque<Message>,
    seen: VecDeque<String>,
    timeout: Duration,
}

impl DapClient {
    /// A client over these halves; each wait gives up after `timeout`.
    pub fn new(reader: BoxRead, writer: BoxWrite, timeout: Duration) -> DapClient {
        DapClient {
            reader: FramedRead::new(reader, DapCodec::default()),
            writer: FramedWrite::new(writer, DapCodec::default()),
            last_seq: 0,
            backlog: VecDeque::new(),
            seen: VecDeque::new(),
            timeout,
        }
    }

    /// Changes the per-wait timeout.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Sends a request and returns its seq without waiting.
    pub async fn send_request(&mut self, command: &str, arguments: Value) -> Result<i64, ClientError> {
        let mut message = Message::request(command, &arguments)?;
        self.last_seq += 1;
        message.set_seq(self.last_seq);
        self.writer.send(message.to_bytes()).await?;
        Ok(self.last_seq)
    }

    /// Sends raw bytes (for tests that misbehave on purpose).
    pub async fn send_raw_body(&mut self, body: &[u8]) -> Result<(), ClientError> {
        self.writer.send(bytes::Bytes::copy_from_slice(body)).await?;
        Ok(())
    }

    /// Sends bytes exactly as given, with no header (for tests of the framing itself).
    pub async fn send_raw_bytes(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        use tokio::io::AsyncWriteExt as _;
        SinkExt::<bytes::Bytes>::flush(&mut self.writer).await?;
        let writer = self.writer.get_mut();
        writer.write_all(bytes).await.map_err(CodecError::Io)?;
        writer.flush().await.map_err(CodecError::Io)?;
        Ok(())
    }

    /// Answers a reverse request.
    pub async fn respond(&mut self, request: &Message, success: bool, body: Option<Value>) -> Result<(), ClientError> {
        let command = request.command().unwrap_or_default();
        let mut message = if success {
            Message::success(request.seq(), command, body.as_ref())
        } else {
            Message::failure(request.seq(), command, "refused")
        };
        self.last_seq += 1;
        message.set_seq(self.last_seq);
        self.writer.send(message.to_bytes()).await?;
        Ok(())
    }

    /// Sends a request and waits for its response, which must succeed.
    pub async fn request(&mut self, command: &str, arguments: Value) -> Result<Message, ClientError> {
        let seq = self.send_request(command, arguments).await?;
        let response = self.wait_response(seq).await?;
        if let Kind::Response { success: false, .. } = response.kind() {
            let message = response.field::<String>("message").ok().flatten().unwrap_or_default();
            return Err(ClientError::Failed { command: command.to_owned(), message });
        }
        Ok(response)
    }

    /// Waits for the response to `seq`, successful or not.
    pub async fn wait_response(&mut self, seq: i64) -> Result<Message, ClientError> {
        self.wait_for(&format!("the response to request #{seq}"), |m| m.request_seq() == Some(seq)).await
    }

    /// Waits for an event called `name`.
    pub async fn wait_event(&mut self, name: &str) -> Result<Message, ClientError> {
        self.wait_for(&format!("event {name:?}"), |m| m.is_event(name)).await
    }

    /// Waits for a reverse request called `name`.
    pub async fn wait_request(&mut self, name: &str) -> Result<Message, ClientError> {
        self.wait_for(&format!("request {name:?}"), |m| m.is_request(name)).await
    }

    /// Waits for the first message that satisfies `want`, searching the
    /// backlog first; everything else read meanwhile goes to the backlog.
    pub async fn wait_for(&mut self, what: &str, want: impl Fn(&Message) -> bool) -> Result<Message, ClientError> {
        if let Some(i) = self.backlog.iter().position(&want)
            && let Some(found) = self.backlog.remove(i)
        {
            return Ok(found);
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let next = match tokio::time::timeout_at(deadline, self.reader.next()).await {
                Ok(next) => next,
                Err(_) => {
                    return Err(ClientError::Timeout {
                        what: what.to_owned(),
                        secs: self.timeout.as_secs_f64(),
                        seen: self.seen.iter().cloned().collect::<Vec<_>>().join(", "),
                    });
                }
            };
            let message = match next {
                None => return Err(ClientError::Closed(what.to_owned())),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Err(e))) => return Err(ClientError::Frame(e.to_string())),
                Some(Ok(Ok(body))) => Message::from_frame(body)?,
            };
            if self.seen.len() >= 12 {
                self.seen.pop_front();
            }
            self.seen.push_back(message.summary());
            if want(&message) {
                return Ok(message);
            }
            self.backlog.push_back(message);
        }
    }

    /// Takes every message read so far and not yet waited for.
    pub fn drain_backlog(&mut self) -> Vec<Message> {
        self.backlog.drain(..).collect()
    }

    /// Reads until the stream ends, returning what arrived (backlog first).
    pub async fn read_to_end(&mut self) -> Result<Vec<Message>, ClientError> {
        let mut all = self.drain_backlog();
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.reader.next()).await {
                Err(_) => {
                    return Err(ClientError::Timeout {
                        what: "the end of the stream".into(),
                        secs: self.timeout.as_secs_f64(),
                        seen: all.iter().map(Message::summary).collect::<Vec<_>>().join(", "),
                    });
                }
                Ok(None) => return Ok(all),
                Ok(Some(Ok(Ok(body)))) => all.push(Message::from_frame(body)?),
                Ok(Some(Ok(Err(e)))) => return Err(ClientError::Frame(e.to_string())),
                Ok(Some(Err(e))) => return Err(e.into()),
            }
        }
    }
}
