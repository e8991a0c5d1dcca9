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
                let tail = tail_lines(&args).map(|lines| self.runtime.as_ref().and_then(|r| r.output_tail(lines)));
                let reply = match tail {
                    Err(why) => Message::failure(seq, command, &why),
                    Ok(Some(text)) => Message::success(seq, command, Some(&json!({ "text": text }))),
                    Ok(None) => {
                        Message::failure(seq, command, "this session has no container, so there are no container logs")
                    }
                };
                self.send_to_client(reply).await;
            }
            "dockdap/score" => {
                let address =
                    score_arguments(&args).and_then(|(port, path, data)| Ok((self.score_address(port)?, path, data)));
                let (addr, path, data) = match address {
                    Ok(parsed) => parsed,
                    Err(why) => {
                        self.send_to_client(Message::failure(seq, command, &why)).await;
                        return;
                    }
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
            "dockdap/reload" => self.reload(Some(seq)).await,
            _ => {
                let why = format!(
                    "{command} is not a request dockdap knows (known: dockdap/logs, dockdap/score, dockdap/sync, dockdap/commit, dockdap/reload)"
                );
                self.send_to_client(Message::failure(seq, command, &why)).await;
            }
        }
    }

    /// Where `dockdap/score` posts: `port` on 127.0.0.1, else the
    /// runtime's first service port.
    fn score_address(&self, port: Option<u16>) -> Result<String, String> {
        if let Some(port) = port {
            return Ok(format!("127.0.0.1:{port}"));
        }
        // As they are now: a container restarted in place may have new ones.
        let ports = self.runtime.as_ref().map(|r| r.service_ports()).unwrap_or_default();
        match ports.first() {
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

/// `dockdap/logs`'s `tail`, checked.
fn tail_lines(args: &Value) -> Result<usize, String> {
    match args.get("tail") {
        None | Some(Value::Null) => Ok(200),
        Some(tail) => match tail.as_u64() {
            Some(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            None => Err(format!("`tail` must be a number of lines, e.g. 200, not {tail}")),
        },
    }
}

/// `dockdap/score`'s `port` (checked, not cast: `70000 as u16` is 4464,
/// someone else's port), `path` and `data`.
fn score_arguments(args: &Value) -> Result<(Option<u16>, String, String), String> {
    let port = match args.get("port") {
        None | Some(Value::Null) => None,
        Some(port) => match port.as_u64().and_then(|p| u16::try_from(p).ok()).filter(|p| *p > 0) {
            Some(port) => Some(port),
            None => {
                return Err(format!(
                    "`port` must be the scoring service's host port, from 1 to 65535, e.g. 8000, not {port}"
                ));
            }
        },
    };
    let path = match args.get("path") {
        None | Some(Value::Null) => "/score".to_owned(),
        Some(Value::String(path)) if path.starts_with('/') => path.clone(),
        Some(other) => return Err(format!("`path` must be the service's path, e.g. \"/score\", not {other}")),
    };
    let data = match args.get("data") {
        None | Some(Value::Null) => http::SAMPLE.to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    Ok((port, path, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_and_logs_arguments_are_checked_not_cast() {
        let err = |args: Value| score_arguments(&args).unwrap_err();
        assert_eq!(
            err(json!({"port": 70000})),
            "`port` must be the scoring service's host port, from 1 to 65535, e.g. 8000, not 70000"
        );
        assert!(err(json!({"port": "x"})).contains("not \"x\""));
        assert_eq!(err(json!({"path": "score"})), "`path` must be the service's path, e.g. \"/score\", not \"score\"");
        assert_eq!(score_arguments(&json!({"port": 8000})).unwrap().0, Some(8000));
        assert_eq!(tail_lines(&json!({"tail": -1})).unwrap_err(), "`tail` must be a number of lines, e.g. 200, not -1");
        assert_eq!(tail_lines(&json!({})), Ok(200));
    }
}
