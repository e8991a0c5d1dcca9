//! The WebSocket side of exec, attach and portforward: the HTTP upgrade
//! (101 with the subprotocol chosen among the client's, in the client's
//! order, as the API server's `wsstream` does) and the channel framing
//! (each binary message starts with its channel number).

use bytes::Bytes;
use futures_util::{Sink, SinkExt};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_PROTOCOL, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::errors::ApiError;
use crate::http::{Body, Reply};

pub type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// The client's subprotocols, in its order (headers may repeat and hold lists).
pub fn offered(req: &Request<Incoming>) -> Vec<String> {
    req.headers()
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Answers the upgrade with `protocol` (None: no subprotocol header) and
/// returns the 101 reply and, once hyper has switched, the socket.
pub fn accept(
    req: &mut Request<Incoming>,
    protocol: Option<&str>,
) -> Result<(Reply, impl Future<Output = Option<Socket>> + use<>), ApiError> {
    let key =
        req.headers().get("sec-websocket-key").ok_or_else(|| ApiError::bad_request("missing Sec-WebSocket-Key"))?;
    let accept = derive_accept_key(key.as_bytes());
    let upgrade = hyper::upgrade::on(req);
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers
        .insert(SEC_WEBSOCKET_ACCEPT, HeaderValue::from_str(&accept).map_err(|e| ApiError::internal(e.to_string()))?);
    if let Some(p) = protocol {
        headers
            .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_str(p).map_err(|e| ApiError::internal(e.to_string()))?);
    }
    let socket = async move {
        match upgrade.await {
            Ok(upgraded) => Some(WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await),
            Err(e) => {
                tracing::debug!(error = %e, "the WebSocket upgrade did not complete");
                None
            }
        }
    };
    Ok((response, socket))
}

/// One binary message on a channel.
pub fn frame(channel: u8, data: &[u8]) -> Message {
    let mut bytes = Vec::with_capacity(data.len() + 1);
    bytes.push(channel);
    bytes.extend_from_slice(data);
    Message::Binary(Bytes::from(bytes))
}

/// Sends on a channel; `false` when the client is gone.
pub async fn send<S>(sink: &mut S, channel: u8, data: &[u8]) -> bool
where
    S: Sink<Message> + Unpin,
{
    sink.send(frame(channel, data)).await.is_ok()
}
