//! One scoring request: a POST over plain HTTP/1.1 and its reply, through
//! hyper's connection-level client (already in the tree through bollard).
//!
//! The scoring endpoint is a local Flask app behind gunicorn, often behind
//! docker-proxy. Connection refused or reset, and a connection closed before
//! any reply (docker-proxy accepts while nothing listens behind it), are
//! retried until a deadline; any reply, whatever its status, is returned to
//! the caller. No TLS, no redirects, no connection reuse: one request each.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
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

/// One connection, one request, the whole reply.
async fn try_post(addr: &str, path: &str, body: &str) -> io::Result<Reply> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await.map_err(io_error)?;
    let request = hyper::Request::post(path)
        .header(HOST, addr)
        .header(CONTENT_TYPE, "application/json")
        .header(CONNECTION, "close")
        .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let exchange = async move {
        let response = sender.send_request(request).await.map_err(io_error)?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.map_err(io_error)?.to_bytes();
        Ok(Reply { status, body: String::from_utf8_lossy(&bytes).into_owned() })
    };
    // The connection is driven here, not in a task of its own: it ends
    // with the exchange (the sender is dropped, the server closes).
    let (reply, ended) = tokio::join!(exchange, connection);
    if let Err(e) = &ended {
        tracing::debug!(addr, error = %e, "the scoring connection ended with an error");
    }
    reply
}

/// hyper's error as the I/O error it amounts to: a connection closed before
/// a reply is an unexpected end (retried), a reply hyper cannot parse is
/// invalid data (not retried).
fn io_error(e: hyper::Error) -> io::Error {
    if e.is_parse() {
        return io::Error::new(io::ErrorKind::InvalidData, e);
    }
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            return io::Error::new(io.kind(), e.to_string());
        }
        source = cause.source();
    }
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        return io::Error::new(io::ErrorKind::UnexpectedEof, e);
    }
    io::Error::other(e)
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A one-shot server: reads one request, answers `reply` (raw bytes), closes.
    /// Returns its address and the request it got.
    async fn serve_once(reply: &'static [u8]) -> (String, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then the body (SAMPLE's length).
            while !request.windows(4).any(|w| w == b"\r\n\r\n") || !request.ends_with(b"]]}") {
                let n = stream.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            stream.write_all(reply).await.unwrap();
            stream.shutdown().await.unwrap();
            String::from_utf8_lossy(&request).into_owned()
        });
        (addr, server)
    }

    #[tokio::test]
    async fn replies_plain_and_chunked() {
        let (addr, server) =
            serve_once(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n[1, 2]\n").await;
        let reply = post_json(&addr, "/score", SAMPLE, Instant::now()).await.unwrap();
        assert_eq!(reply, Reply { status: 200, body: "[1, 2]\n".into() });
        let request = server.await.unwrap().to_ascii_lowercase();
        assert!(request.starts_with("post /score http/1.1\r\n"), "{request}");
        for header in [
            format!("host: {addr}"),
            "content-type: application/json".into(),
            format!("content-length: {}", SAMPLE.len()),
        ] {
            assert!(request.contains(&header), "{header} in {request}");
        }
        assert!(request.ends_with(&SAMPLE.to_ascii_lowercase()), "{request}");

        let (addr, _server) =
            serve_once(b"HTTP/1.1 500 ERR\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").await;
        let reply = post_json(&addr, "/score", SAMPLE, Instant::now()).await.unwrap();
        assert_eq!(reply, Reply { status: 500, body: "abcde".into() });
    }

    #[tokio::test]
    async fn a_reply_that_is_not_http_is_not_retried() {
        let (addr, _server) = serve_once(b"garbage\r\n\r\n").await;
        let deadline = Instant::now() + Duration::from_secs(30);
        let err = post_json(&addr, "/score", SAMPLE, deadline).await.unwrap_err();
        assert!(matches!(err, HttpError::BadReply { .. }), "{err:?}");
        assert!(err.to_string().starts_with(&format!("the reply from http://{addr} is not HTTP")), "{err}");
    }

    #[tokio::test]
    async fn a_connection_closed_before_any_reply_is_retried() {
        // docker-proxy's way: accept, then close while nothing listens behind it.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (first, _) = listener.accept().await.unwrap();
            drop(first);
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await.unwrap();
        });
        let reply = post_json(&addr, "/score", SAMPLE, Instant::now() + Duration::from_secs(10)).await.unwrap();
        assert_eq!(reply, Reply { status: 200, body: "ok".into() });
    }

    #[tokio::test]
    async fn nothing_listening_is_a_clear_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let err = post_json(&format!("127.0.0.1:{port}"), "/score", SAMPLE, Instant::now()).await.unwrap_err();
        assert!(err.to_string().starts_with(&format!("nothing answered at http://127.0.0.1:{port}/score")), "{err}");
    }
}
