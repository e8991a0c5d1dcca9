//! dockdap's own DAP requests (`dockdap/logs`, `dockdap/score`, ...), which
//! editors send to the running session and the bridge answers itself.
//!
//! Slow ones run as tasks and report back through `Input::Custom`, so the
//! session keeps forwarding while, say, a scoring request waits on a
//! breakpoint in `run()`.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWrite;
use tokio::time::Instant;

use super::{Input, Session};
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
                let lines = args.get("tail").and_then(Value::as_u64).unwrap_or(200) as usize;
                let reply = match self.target.as_ref().and_then(|t| t.container()) {
                    Some(container) => {
                        Message::success(seq, command, Some(&json!({ "text": container.tail.last(lines) })))
                    }
                    None => {
                        Message::failure(seq, command, "this session has no container, so there are no container logs")
                    }
                };
                self.send_to_client(reply).await;
            }
            "dockdap/score" => {
                let port = args.get("port").and_then(Value::as_u64).map(|p| p as u16).or_else(|| {
                    let container = self.target.as_ref()?.container()?;
                    container.ports.first().map(|(_, host)| *host)
                });
                let Some(port) = port else {
                    let why = "no service port is known: pass `port` (the host port of the scoring service)";
                    self.send_to_client(Message::failure(seq, command, why)).await;
                    return;
                };
                let path = args.get("path").and_then(Value::as_str).unwrap_or("/score").to_owned();
                let data = match args.get("data") {
                    None | Some(Value::Null) => http::SAMPLE.to_owned(),
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                };
                let tx = self.inputs_tx.clone();
                let command = command.to_owned();
                self.tasks.spawn(async move {
                    let addr = format!("127.0.0.1:{port}");
                    let result = http::post_json(&addr, &path, &data, Instant::now() + SCORE_RETRY)
                        .await
                        .map(|reply| json!({ "status": reply.status, "body": reply.body }))
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Input::Custom { seq, command, result }).await;
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

    /// A custom request's task finished.
    pub(super) async fn custom_done(&mut self, seq: i64, command: &str, result: Result<Value, String>) {
        if command == "restart" {
            // Not a custom request: the first half of a DAP `restart` finished.
            self.restart_prepared(seq, result).await;
            return;
        }
        if command == "dockdap/commit"
            && let Ok(body) = &result
            && let Some(image) = body.get("image").and_then(Value::as_str)
        {
            self.snapshot = Some(image.to_owned());
        }
        let reply = match result {
            Ok(body) => Message::success(seq, command, Some(&body)),
            Err(why) => Message::failure(seq, command, &why),
        };
        self.send_to_client(reply).await;
    }
}
