//! `dockdap logs NAME [-f] [--tail N]`: a container's output, its stdout on
//! stdout and its stderr on stderr, as `docker logs` does; with `-f`, new
//! output until the container stops or Ctrl-C.
//!
//! Any container can be read, not only dockdap's: reading changes nothing.

use std::io::Write as _;
use std::process::ExitCode;

use futures_util::StreamExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::output::{self, Style};
use super::{CliError, json_failure};
use crate::runtime::docker::Engine;
use crate::runtime::docker::inspect::{self, OutputStream};

/// `dockdap logs NAME [-f] [--tail N]`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:
  dockdap logs dockdap-azureml-score-debug-1a2b3c4d
  dockdap logs my-container -f --tail 50
  dockdap logs my-container --json | jq -r '.output[].text'")]
pub struct LogsArgs {
    /// The container's name or id
    pub name: String,
    /// Keep printing new output until the container stops (or Ctrl-C)
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only the last N lines
    #[arg(long, short = 'n', value_name = "N")]
    pub tail: Option<usize>,
    /// Print one JSON document ({container, running, exitCode, output: [{stream, text}]}) on stdout
    #[arg(long, conflicts_with = "follow")]
    pub json: bool,
}

/// Runs `dockdap logs`.
pub async fn run(args: LogsArgs, shutdown: CancellationToken) -> Result<ExitCode, CliError> {
    let json = args.json;
    logs(args, shutdown).await.map_err(|e| json_failure(json, e))
}

async fn logs(args: LogsArgs, shutdown: CancellationToken) -> Result<ExitCode, CliError> {
    let engine = Engine::connect().await?;
    let info = inspect::container_info(&engine, &args.name).await?;
    let mut stream = Box::pin(inspect::output(&engine, &info.id, args.follow, args.tail));
    let mut chunks: Vec<(OutputStream, String)> = Vec::new();
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            () = shutdown.cancelled() => break,
        };
        let Some(item) = item else { break };
        let chunk = item?;
        if args.json {
            let text = String::from_utf8_lossy(&chunk.bytes).into_owned();
            match chunks.last_mut() {
                Some((stream, previous)) if *stream == chunk.stream => previous.push_str(&text),
                _ => chunks.push((chunk.stream, text)),
            }
            continue;
        }
        // Bytes as the container wrote them; a closed pipe (`| head`) ends the command.
        let written = match chunk.stream {
            OutputStream::Stdout => std::io::stdout().lock().write_all(&chunk.bytes),
            OutputStream::Stderr => std::io::stderr().lock().write_all(&chunk.bytes),
        };
        if written.is_err() {
            break;
        }
    }
    let _ = std::io::stdout().flush();
    if args.json {
        let output: Vec<_> = chunks
            .into_iter()
            .map(|(stream, text)| {
                json!({"stream": if stream == OutputStream::Stdout { "stdout" } else { "stderr" }, "text": text})
            })
            .collect();
        output::print_json(&json!({
            "container": info.name,
            "running": info.running,
            "exitCode": info.exit_code,
            "output": output,
        }))?;
    } else if args.follow && !shutdown.is_cancelled() {
        // The stream ends when the container stops: say how.
        if let Ok(now) = inspect::container_info(&engine, &info.id).await
            && let Some(code) = now.exit_code
        {
            let style = Style::stderr();
            let line = format!("[dockdap] {} exited with code {code}", now.name);
            output::err(&if code == 0 { style.dim(&line) } else { style.yellow(&line) });
        }
    }
    Ok(ExitCode::SUCCESS)
}
