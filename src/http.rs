//! Just enough HTTP/1.1 to send a scoring request: one POST, one reply.
//!
//! The scoring endpoint is a local Flask app behind gunicorn; a full HTTP
//! client would be a large dependency for one request. Connection refused or
//! reset (the service still starting behind docker-proxy) is retried until a
//! deadline; any reply, whatever its status, is returned to the caller.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The sample the Azure ML docs use: two rows of ten features.
pub const SAMPLE: &str = r#"{"data": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]]}"#;

/// Why a request got no reply.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Nothing answered.
    #[error("nothing answered at http://{addr}{path} ({source}); is the service running and is the port right?")]
    NoAnswer {
        /// host:port.
        addr: String,
        /// The path.
        path: String,
        /// The last error.
        #[source]
        source: io::Error,
    },
    /// The reply is not HTTP.
    #[error("the reply from http://{addr} is not HTTP: {source}")]
    BadReply {
        /// host:port.
        addr: String,
        /// What was wrong.
        #[source]
        source: io::Error,
    },
}

/// A reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// The body, lossily decoded.
    pub body: String,
}

/// POSTs `body` as JSON to `http://addr/path`, retrying connection failures
/// until `retry_until`; the reply may take as long as the service needs
/// (it may be paused at a breakpoint).
pub async fn post_json(addr: &str, path: &str, body: &str, retry_until: Instant) -> Result<Reply, HttpError> {
    let mut delay = Duration::from_millis(50);
    loop {
        match try_post(addr, path, body).await {
            Ok(reply) => return Ok(reply),
            Err(e) if is_retryable(&e) && Instant::now() + delay < retry_until => {
                tracing::debug!(addr, error = %e, "service not answering yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(500));
            }
            Err(e) if is_retryable(&e) => {
                return Err(HttpError::NoAnswer { addr: addr.to_owned(), path: path.to_owned(), source: e });
            }
            Err(e) => return Err(HttpError::BadReply { addr: addr.to_owned(), source: e }),
        }
    }
}

fn is_retryable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::BrokenPipe
    )
}

async fn try_post(addr: &str, path: &str, body: &str) -> io::Result<Reply> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    if raw.is_empty() {
        // docker-proxy accepts and closes while nothing listens behind it.
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "empty reply"));
    }
    parse_reply(&raw)
}

/// Parses a whole HTTP/1.1 response (status line, headers, body; chunked or not).
fn parse_reply(raw: &[u8]) -> io::Result<Reply> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let split = memchr::memmem::find(raw, b"\r\n\r\n").ok_or_else(|| invalid("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.lines();
    let status_line = lines.next().ok_or_else(|| invalid("no status line"))?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| invalid("bad status line"))?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let mut body = &raw[split + 4..];
    let decoded;
    if chunked {
        let mut out = Vec::new();
        loop {
            let line_end = memchr::memmem::find(body, b"\r\n").ok_or_else(|| invalid("bad chunk"))?;
            let size_text = String::from_utf8_lossy(&body[..line_end]);
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| invalid("bad chunk size"))?;
            body = &body[line_end + 2..];
            if size == 0 {
                break;
            }
            let chunk = body.get(..size).ok_or_else(|| invalid("short chunk"))?;
            out.extend_from_slice(chunk);
            body = body.get(size + 2..).unwrap_or_default();
        }
        decoded = out;
        body = &decoded;
    }
    Ok(Reply { status, body: String::from_utf8_lossy(body).into_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n[1, 2]\n";
        assert_eq!(parse_reply(plain).unwrap(), Reply { status: 200, body: "[1, 2]\n".into() });
        let chunked = b"HTTP/1.1 500 ERR\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_reply(chunked).unwrap(), Reply { status: 500, body: "abcde".into() });
        assert!(parse_reply(b"garbage").is_err());
    }

    #[tokio::test]
    async fn nothing_listening_is_a_clear_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let err = post_json(&format!("127.0.0.1:{port}"), "/score", SAMPLE, Instant::now()).await.unwrap_err();
        assert!(err.to_string().starts_with(&format!("nothing answered at http://127.0.0.1:{port}/score")), "{err}");
    }
}
