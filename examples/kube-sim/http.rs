//! HTTP plumbing: the body type every handler returns, JSON and text
//! responses, streamed bodies (watches, followed logs), query strings, and
//! what the client's `Accept` header asks for.
//!
//! Nothing here knows a Kubernetes kind; see `router` for the paths.

use std::convert::Infallible;
use std::io;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::errors::ApiError;

pub type Body = BoxBody<Bytes, io::Error>;
pub type Reply = Response<Body>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never: Infallible| match never {}).boxed()
}

/// A JSON reply with this status code.
pub fn json(code: u16, value: &Value) -> Reply {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    reply(code, "application/json", full(bytes))
}

/// A plain-text reply.
pub fn text(code: u16, body: impl Into<Bytes>) -> Reply {
    reply(code, "text/plain; charset=utf-8", full(body))
}

/// The `Status` reply for an error.
pub fn error(e: &ApiError) -> Reply {
    json(e.code, &e.status())
}

fn reply(code: u16, content_type: &'static str, body: Body) -> Reply {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A reply whose body is written by someone else, chunk by chunk (sent
/// with chunked transfer encoding). Dropping the reply (the client went
/// away) makes `send` on the sender fail, which is the writer's cue to stop.
pub fn streamed(content_type: &'static str) -> (mpsc::Sender<Bytes>, Reply) {
    let (tx, mut rx) = mpsc::channel::<Bytes>(64);
    let stream = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|chunk| chunk.map(|bytes| Ok::<_, io::Error>(Frame::data(bytes))))
    });
    (tx, reply(200, content_type, BodyExt::boxed(StreamBody::new(stream))))
}

/// Query parameters in order, percent-decoded (a name may repeat:
/// `command=sh&command=-c`).
#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(query: Option<&str>) -> Self {
        let pairs = query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect();
        Query(pairs)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    /// A boolean parameter as the API server reads it (`true`, `1`, ...).
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true" | "1" | "True" | "TRUE" | "t" | "T"))
    }

    /// An integer parameter; a malformed one is a 400.
    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid value for {name}: {v:?} is not an integer"))),
        }
    }
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How the client wants a read answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The object or list itself.
    Object,
    /// A `meta.k8s.io/v1` Table (kubectl's server-side printing).
    Table,
}

/// kubectl asks for `application/json;as=Table;v=v1;g=meta.k8s.io, ...`.
pub fn shape(headers: &HeaderMap) -> Shape {
    let accept = headers.get_all("accept").iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
    let first = accept.split(',').next().unwrap_or_default();
    if first.contains("as=Table") && first.contains("g=meta.k8s.io") { Shape::Table } else { Shape::Object }
}

/// Whether the request asks to switch to the WebSocket protocol.
pub fn is_websocket(headers: &HeaderMap) -> bool {
    headers.get("upgrade").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}
