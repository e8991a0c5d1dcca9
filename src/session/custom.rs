//! dockdap's own DAP requests (`dockdap/logs`, `dockdap/score`, ...), which
//! editors send to the running session and the bridge answers itself.
//!
//! Slow ones run as tasks and report back as a `Task`, so the session keeps
//! forwarding while, say, a scoring request waits on a breakpoint in `run()`.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWrite;
use tokio::time::Instant;

use super::{Input, Session, Task};
use crate::dap::Message;
use crate::http;

/// How long `dockdap/score` retries a service that is not answering yet.
const SCORE_RETRY: Duration = Duration::from_secs(30);

impl<W: AsyncWrite + Send + Unpin> Session<W> {
    /// Answers one of dockdap's own requests.
    pub(super) async fn custom_request(&mut self, command: &str, message: Message) {
        let args = message.field::<Value>("arguments").ok().flatten().unwrap_or_else(|| json!({}));
        let seq = message.seq();
        match command {
            "dockdap/logs" => {
                let lines =
                    args.get("tail").and_then(Value::as_u64).map_or(200, |n| usize::try_from(n).unwrap_or(usize::MAX));
                let reply = match self.runtime.as_ref().and_then(|r| r.output_tail(lines)) {
                    Some(text) => Message::success(seq, command, Some(&json!({ "text": text }))),
                    None => {
                        Message::failure(seq, command, "this session has no container, so there are no container logs")
                    }
                };
                self.send_to_client(reply).await;
            }
            "dockdap/score" => {
                let addr = match self.score_address(&args) {
                    Ok(addr) => addr,
                    Err(why) => {
                        self.send_to_client(Message::failure(seq, command, &why)).await;
                        return;
                    }
                };
                let path = args.get("path").and_then(Value::as_str).unwrap_or("/score").to_owned();
                let data = match args.get("data") {
                    None | Some(Value::Null) => http::SAMPLE.to_owned(),
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                };
                let tx = self.inputs_tx.clone();
                self.tasks.spawn(async move {
                    let result = http::post_json(&addr, &path, &data, Instant::now() + SCORE_RETRY)
                        .await
                        .map(|reply| json!({ "status": reply.status, "body": reply.body }))
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Input::Task(Task::Score { seq, result })).await;
                });
            }
            "dockdap/sync" => self.custom_sync(seq, command, &args).await,
            "dockdap/commit" => self.custom_commit(seq, command, &args).await,
            _ => {
                let why = format!(
                    "{command} is not a request dockdap knows (known: dockdap/logs, dockdap/score, dockdap/sync, dockdap/commit)"
                );
                self.send_to_client(Message::failure(seq, command, &why)).await;
            }
        }
    }

    /// Where `dockdap/score` posts: `port` on 127.0.0.1, else the
    /// runtime's first service port.
    fn score_address(&self, args: &Value) -> Result<String, String> {
        match args.get("port") {
            None | Some(Value::Null) => {}
            Some(port) => {
                return match port.as_u64().and_then(|p| u16::try_from(p).ok()).filter(|p| *p > 0) {
                    Some(port) => Ok(format!("127.0.0.1:{port}")),
                    None => Err(format!("`port` must be a port number (1 to 65535), not {port}")),
                };
            }
        }
        let container = self.runtime.as_ref().and_then(|r| r.container());
        match container.and_then(|c| c.service_ports.first()) {
            Some(port) => Ok(port.address.to_string()),
            None => Err("no service port is known: pass `port` (the host port of the scoring service)".into()),
        }
    }

    /// A custom request's task finished: its answer goes to the client.
    pub(super) async fn answer_custom(&mut self, seq: i64, command: &str, result: Result<Value, String>) {
        let reply = match result {
            Ok(body) => Message::success(seq, command, Some(&body)),
            Err(why) => Message::failure(seq, command, &why),
        };
        self.send_to_client(reply).await;
    }
}
