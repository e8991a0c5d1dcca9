//! `dockdap score`: send one scoring request and show the reply, the seed's
//! `service.run(input_data)` / `curl -d @sample.json .../score`.
//!
//! The status line and timing go to stderr and the reply body to stdout
//! (pretty-printed when it is JSON), so `dockdap score | jq` works. Through
//! `http::post_json`, the same single POST the `dockdap/score` DAP request
//! uses; plain HTTP only: the service is a local container.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncReadExt as _;
use tokio::time::Instant;

use super::output::{self, Style};
use super::{CliError, json_failure};
use crate::http;

/// The service port `dockdap score` posts to by default (the example
/// launch configuration publishes 5001 there).
pub const DEFAULT_PORT: u16 = 8000;

/// `dockdap score [--port N | --url URL] [--data FILE | -]`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:
  dockdap score                                   # the sample to http://127.0.0.1:8000/score
  dockdap score --port 32768 --data sample.json
  echo '{\"data\": [[1,2,3,4,5,6,7,8,9,10]]}' | dockdap score --data -
  dockdap score --url http://localhost:8000/score --json | jq .status")]
pub struct ScoreArgs {
    /// The service's port on 127.0.0.1 [default: 8000]
    #[arg(long, short = 'p', conflicts_with = "url")]
    pub port: Option<u16>,
    /// The scoring endpoint's URL (http only), instead of --port
    #[arg(long)]
    pub url: Option<String>,
    /// The request body: a file, or - for stdin [default: the sample
    /// {"data": [[1..10], [10..1]]}]
    #[arg(long, short = 'd', value_name = "FILE|-")]
    pub data: Option<String>,
    /// The path with --port
    #[arg(long, default_value = "/score", conflicts_with = "url")]
    pub path: String,
    /// Keep trying for this many seconds while nothing answers (a service still starting)
    #[arg(long, value_name = "SECS", default_value_t = 0.0, value_parser = super::seconds)]
    pub wait: f64,
    /// Print one JSON document ({url, status, ms, body}) on stdout
    #[arg(long)]
    pub json: bool,
}

/// Runs `dockdap score`; exits 1 on an HTTP error status.
pub async fn run(args: ScoreArgs) -> Result<ExitCode, CliError> {
    let json = args.json;
    score(args).await.map_err(|e| json_failure(json, e))
}

async fn score(args: ScoreArgs) -> Result<ExitCode, CliError> {
    let (addr, path) = match &args.url {
        Some(url) => parse_url(url)?,
        None => (format!("127.0.0.1:{}", args.port.unwrap_or(DEFAULT_PORT)), normalize_path(&args.path)),
    };
    let body = match args.data.as_deref() {
        None => http::SAMPLE.to_owned(),
        Some("-") => {
            let mut text = String::new();
            tokio::io::stdin()
                .read_to_string(&mut text)
                .await
                .map_err(|e| CliError::Usage(format!("cannot read the request body from stdin: {e}")))?;
            text
        }
        Some(file) => tokio::fs::read_to_string(file)
            .await
            .map_err(|e| CliError::Usage(format!("cannot read the request body from {file}: {e}")))?,
    };
    let url = format!("http://{addr}{path}");
    if serde_json::from_str::<Value>(&body).is_err() {
        output::err(&format!("dockdap score: warning: the request body is not JSON; sending it as is to {url}"));
    }
    let started = Instant::now();
    let retry_until = started + Duration::from_secs_f64(args.wait.max(0.0));
    let reply = http::post_json(&addr, &path, &body, retry_until).await?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let parsed: Option<Value> = serde_json::from_str(&reply.body).ok();
    let ok = reply.status < 400;
    if args.json {
        output::print_json(&json!({
            "url": url,
            "status": reply.status,
            "ok": ok,
            "ms": (ms * 10.0).round() / 10.0,
            "body": parsed.clone().unwrap_or_else(|| Value::String(reply.body.clone())),
        }))?;
    } else {
        let style = Style::stderr();
        let status = format!("{} {}", reply.status, reason(reply.status));
        let status = if ok { style.green(&status) } else { style.red(&status) };
        output::err(&format!("POST {url} -> {status} in {ms:.0} ms"));
        let text = match &parsed {
            Some(value) => serde_json::to_string_pretty(value).unwrap_or_else(|_| reply.body.clone()),
            None => reply.body.trim_end().to_owned(),
        };
        output::out(&text)?;
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `http://host[:port][/path]` into (`host:port`, `/path`).
fn parse_url(url: &str) -> Result<(String, String), CliError> {
    if url.starts_with("https://") {
        return Err(CliError::Usage(format!(
            "{url}: https is not supported; `dockdap score` talks plain HTTP to a service on this machine (use http://)"
        )));
    }
    let rest = url.strip_prefix("http://").unwrap_or(url);
    if rest.contains("://") {
        return Err(CliError::Usage(format!("{url}: only http:// URLs are supported")));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/score"),
    };
    if authority.is_empty() {
        return Err(CliError::Usage(format!("{url}: no host; e.g. http://127.0.0.1:8000/score")));
    }
    let has_port = match authority.rfind(':') {
        // `[::1]:8000` has its port after the bracket; `[::1]` has none.
        Some(i) => !authority[i..].contains(']'),
        None => false,
    };
    let addr = if has_port { authority.to_owned() } else { format!("{authority}:80") };
    Ok((addr, path.to_owned()))
}

fn normalize_path(path: &str) -> String {
    if path.starts_with('/') { path.to_owned() } else { format!("/{path}") }
}

/// The reason phrase of the statuses a scoring service sends.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(url: &str, addr: &str, path: &str) {
        let (a, p) = parse_url(url).unwrap();
        assert_eq!((a.as_str(), p.as_str()), (addr, path), "{url}");
    }

    #[test]
    fn urls() {
        check("http://127.0.0.1:8000/score", "127.0.0.1:8000", "/score");
        check("http://localhost/score?x=1", "localhost:80", "/score?x=1");
        check("127.0.0.1:9000", "127.0.0.1:9000", "/score");
        check("http://[::1]:8000/s", "[::1]:8000", "/s");
        check("http://[::1]/s", "[::1]:80", "/s");
        assert!(parse_url("https://x/score").unwrap_err().to_string().contains("https is not supported"));
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("http:///score").is_err());
        assert_eq!(normalize_path("score"), "/score");
    }
}
