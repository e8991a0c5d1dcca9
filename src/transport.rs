//! The byte streams a session runs over: stdio or a TCP connection to the
//! client, and a TCP connection to debugpy.
//!
//! Every TCP socket dockdap opens gets TCP_NODELAY: DAP is small
//! request/response messages, and Nagle's algorithm plus delayed ACKs would
//! add ~40 ms to each. This module does not frame or parse anything.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// A boxed read half, so stdio, TCP and Docker streams look alike.
pub type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
/// A boxed write half.
pub type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// Why a listen address was refused.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Anyone who reaches the port can run code in the debuggee.
    #[error(
        "refusing to listen on {0}: anyone who can reach this port can run code in the debugged program; \
         use 127.0.0.1:PORT, or pass --allow-remote if you really mean it"
    )]
    NotLoopback(SocketAddr),
}

/// Refuses non-loopback listen addresses unless `allow_remote`.
pub fn check_listen_addr(addr: SocketAddr, allow_remote: bool) -> Result<(), ListenError> {
    if addr.ip().is_loopback() || allow_remote { Ok(()) } else { Err(ListenError::NotLoopback(addr)) }
}

/// Connects to debugpy at `addr`, retrying with backoff until `deadline`:
/// debugpy may still be starting. Only the first successful connection is
/// made, because debugpy serves one client and a probe would use it up.
pub async fn connect_with_retry(addr: &str, deadline: Instant) -> io::Result<TcpStream> {
    let mut delay = Duration::from_millis(20);
    loop {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) if Instant::now() + delay >= deadline => return Err(e),
            Err(e) => {
                tracing::debug!(addr, error = %e, "debugpy not reachable yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(250));
            }
        }
    }
}

/// Splits a TCP stream into boxed halves.
pub fn split_tcp(stream: TcpStream) -> (BoxRead, BoxWrite) {
    let (r, w) = stream.into_split();
    (Box::new(r), Box::new(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only_unless_allowed() {
        let lo: SocketAddr = "127.0.0.1:4711".parse().unwrap();
        let lo6: SocketAddr = "[::1]:4711".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:4711".parse().unwrap();
        assert!(check_listen_addr(lo, false).is_ok());
        assert!(check_listen_addr(lo6, false).is_ok());
        assert_eq!(
            check_listen_addr(any, false).unwrap_err().to_string(),
            "refusing to listen on 0.0.0.0:4711: anyone who can reach this port can run code in the debugged program; \
             use 127.0.0.1:PORT, or pass --allow-remote if you really mean it"
        );
        assert!(check_listen_addr(any, true).is_ok());
    }

    #[tokio::test]
    async fn gives_up_at_the_deadline() {
        // Bind then drop a listener to find a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let start = Instant::now();
        let err =
            connect_with_retry(&format!("127.0.0.1:{port}"), start + Duration::from_millis(300)).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        assert!(start.elapsed() < Duration::from_secs(2));
    }
}
