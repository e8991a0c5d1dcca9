//! `Message`: one DAP message, with only its envelope lifted out.
//!
//! A proxy must not lose what it does not understand, so a message is kept as
//! the ordered list of its top-level fields, each value as the raw JSON text it
//! arrived with. Only `seq`, `type`, `command`/`event` and `request_seq` are
//! read; `arguments`/`body` are read further only when someone asks (as
//! text, `raw_field`/`set_field_text`, or as a `serde_json::Value`,
//! `edit_field`), which for dockdap means only for messages that carry file
//! paths. Everything else goes back out byte-for-byte, in its original key
//! order.
//!
//! The fields are not copied out of the frame: a parsed message keeps the
//! frame's `Bytes` and each field is a span into it, until someone replaces
//! it. Forwarding a message therefore costs one scan of its JSON (`dap::scan`
//! finds the fields and checks the object's shape; the envelope fields are
//! parsed) and one copy into the output buffer, with the new `seq` rendered
//! in between (issue 9: boxing every field into its own allocation was half
//! of the proxy's CPU under an output flood).
//!
//! This module does not stamp sequence numbers (the session does) and knows
//! nothing about paths.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio_util::codec::Encoder;

use super::codec::{CodecError, DapCodec, put_header};
use super::scan;

/// The three kinds of DAP message, with the fields that route them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `"type": "request"`.
    Request {
        /// The request's `command`.
        command: String,
    },
    /// `"type": "response"`.
    Response {
        /// The `seq` of the request this answers.
        request_seq: i64,
        /// The `command` of that request.
        command: String,
        /// Whether the request succeeded.
        success: bool,
    },
    /// `"type": "event"`.
    Event {
        /// The event's name.
        event: String,
    },
}

/// Why a frame body is not a DAP message.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The body is not UTF-8 JSON (or not a JSON object).
    #[error("message is not a JSON object: {0}")]
    NotJson(#[source] serde_json::Error),
    /// A required envelope field is missing.
    #[error("message has no `{0}` field")]
    Missing(&'static str),
    /// An envelope field has the wrong JSON type.
    #[error("message field `{field}` should be {expected}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What it should have been.
        expected: &'static str,
    },
    /// `type` is not request, response or event.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// A field's value could not be read or written as asked.
    #[error("message field `{field}`: {source}")]
    Field {
        /// The field.
        field: String,
        /// What went wrong.
        #[source]
        source: serde_json::Error,
    },
}

/// A top-level key: where it sits in the frame (a key without escapes, so
/// its text is its name), or its name when it had escapes or was added.
#[derive(Clone)]
enum Key {
    Span(Range<usize>),
    Owned(String),
}

/// A top-level value: its raw JSON in the frame, a stamped integer, new
/// JSON text, or the frame's text with a few strings replaced.
#[derive(Clone)]
enum Val {
    Span(Range<usize>),
    Int(i64),
    Raw(Box<RawValue>),
    Spliced(Box<str>),
}

#[derive(Clone)]
struct Field {
    key: Key,
    value: Val,
}

/// One DAP message: the envelope, plus every field as raw JSON.
#[derive(Clone)]
pub struct Message {
    seq: i64,
    kind: Kind,
    /// The frame the message was parsed from; `Span`s point into it.
    frame: Bytes,
    /// In order. A key can appear twice in a hostile frame: reads take the
    /// last one (as `serde_json` does), writes replace it and drop the others.
    fields: Vec<Field>,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

fn raw(value: &impl Serialize) -> Result<Box<RawValue>, serde_json::Error> {
    serde_json::value::to_raw_value(value)
}

impl Message {
    /// Parses a frame body. Only the envelope fields are interpreted.
    pub fn parse(body: &[u8]) -> Result<Message, MessageError> {
        Message::from_frame(Bytes::copy_from_slice(body))
    }

    /// Parses a frame body without copying it: the message keeps `frame`.
    pub fn from_frame(frame: Bytes) -> Result<Message, MessageError> {
        let fields = split(&frame)?;
        let mut m = Message { seq: 0, kind: Kind::Event { event: String::new() }, frame, fields };
        m.seq = m.envelope::<i64>("seq", "an integer")?.ok_or(MessageError::Missing("seq"))?;
        let kind_name = m.envelope::<String>("type", "a string")?.ok_or(MessageError::Missing("type"))?;
        let command =
            |m: &Message| m.envelope::<String>("command", "a string")?.ok_or(MessageError::Missing("command"));
        m.kind = match kind_name.as_str() {
            "request" => Kind::Request { command: command(&m)? },
            "response" => Kind::Response {
                request_seq: m
                    .envelope::<i64>("request_seq", "an integer")?
                    .ok_or(MessageError::Missing("request_seq"))?,
                command: command(&m)?,
                success: m.envelope::<bool>("success", "a boolean")?.ok_or(MessageError::Missing("success"))?,
            },
            "event" => {
                Kind::Event { event: m.envelope::<String>("event", "a string")?.ok_or(MessageError::Missing("event"))? }
            }
            _ => return Err(MessageError::UnknownType(kind_name)),
        };
        Ok(m)
    }

    /// A request the bridge makes itself. Its `seq` is stamped when it is sent.
    pub fn request(command: &str, arguments: &impl Serialize) -> Result<Message, MessageError> {
        let mut m = Message::new("request", Kind::Request { command: command.to_owned() });
        m.put("command", raw_str(command));
        m.set_field("arguments", arguments)?;
        Ok(m)
    }

    /// An event the bridge sends itself.
    pub fn event(event: &str, body: &impl Serialize) -> Result<Message, MessageError> {
        let mut m = Message::new("event", Kind::Event { event: event.to_owned() });
        m.put("event", raw_str(event));
        m.set_field("body", body)?;
        Ok(m)
    }

    /// A successful response to `request_seq`/`command`, with an optional body.
    pub fn success(request_seq: i64, command: &str, body: Option<&Value>) -> Message {
        let mut m = Message::response(request_seq, command, true);
        if let Some(body) = body {
            // A `Value` always serialises.
            if let Ok(raw) = raw(body) {
                m.put("body", Val::Raw(raw));
            }
        }
        m
    }

    /// A failed response: `message` is what editors show the user.
    pub fn failure(request_seq: i64, command: &str, message: &str) -> Message {
        let mut m = Message::response(request_seq, command, false);
        m.put("message", raw_str(message));
        let body = serde_json::json!({
            "error": { "id": 1, "format": message, "showUser": true }
        });
        if let Ok(raw) = raw(&body) {
            m.put("body", Val::Raw(raw));
        }
        m
    }

    fn response(request_seq: i64, command: &str, success: bool) -> Message {
        let mut m = Message::new("response", Kind::Response { request_seq, command: command.to_owned(), success });
        m.put("request_seq", Val::Int(request_seq));
        m.put("success", raw_bool(success));
        m.put("command", raw_str(command));
        m
    }

    fn new(type_name: &str, kind: Kind) -> Message {
        let mut m = Message { seq: 0, kind, frame: Bytes::new(), fields: Vec::with_capacity(6) };
        m.put("seq", Val::Int(0));
        m.put("type", raw_str(type_name));
        m
    }

    /// The `seq` as it arrived, or as last stamped.
    pub fn seq(&self) -> i64 {
        self.seq
    }

    /// Stamps a new `seq`.
    pub fn set_seq(&mut self, seq: i64) {
        self.seq = seq;
        self.put("seq", Val::Int(seq));
    }

    /// The routing fields.
    pub fn kind(&self) -> &Kind {
        &self.kind
    }

    /// The command of a request or response.
    pub fn command(&self) -> Option<&str> {
        match &self.kind {
            Kind::Request { command } | Kind::Response { command, .. } => Some(command),
            Kind::Event { .. } => None,
        }
    }

    /// The `request_seq` of a response.
    pub fn request_seq(&self) -> Option<i64> {
        match self.kind {
            Kind::Response { request_seq, .. } => Some(request_seq),
            _ => None,
        }
    }

    /// Points a response at another request (the other link's numbering).
    pub fn set_request_seq(&mut self, seq: i64) {
        if let Kind::Response { request_seq, .. } = &mut self.kind {
            *request_seq = seq;
            self.put("request_seq", Val::Int(seq));
        }
    }

    /// Renames the command of a request or response (an `attach` the bridge
    /// sent on behalf of the client's `launch` is answered as `launch`).
    pub fn set_command(&mut self, name: &str) {
        if let Kind::Request { command } | Kind::Response { command, .. } = &mut self.kind {
            name.clone_into(command);
            self.put("command", raw_str(name));
        }
    }

    /// Whether this is a request with this command.
    pub fn is_request(&self, name: &str) -> bool {
        matches!(&self.kind, Kind::Request { command } if command == name)
    }

    /// Whether this is an event with this name.
    pub fn is_event(&self, name: &str) -> bool {
        matches!(&self.kind, Kind::Event { event } if event == name)
    }

    /// The raw JSON text of a top-level field, as bytes: as it came for a
    /// field of the frame (checked for shape only, see `dap::scan`), or as
    /// dockdap wrote it.
    pub fn raw_field(&self, name: &str) -> Option<Cow<'_, [u8]>> {
        Some(self.value_bytes(&self.find(name)?.value))
    }

    /// Reads a top-level field as `T`; `Ok(None)` when absent.
    pub fn field<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, MessageError> {
        match self.find(name) {
            None => Ok(None),
            Some(f) => serde_json::from_slice(&self.value_bytes(&f.value))
                .map(Some)
                .map_err(|source| MessageError::Field { field: name.to_owned(), source }),
        }
    }

    /// Replaces (or adds, at the end) a top-level field.
    pub fn set_field(&mut self, name: &str, value: &impl Serialize) -> Result<(), MessageError> {
        let value = raw(value).map_err(|source| MessageError::Field { field: name.to_owned(), source })?;
        self.put(name, Val::Raw(value));
        Ok(())
    }

    /// Replaces a top-level field with JSON text made from its own (paths
    /// rewritten where they stood, `PathRewriter::*_text`): written as
    /// given, not parsed again, so the text must be JSON.
    pub fn set_field_text(&mut self, name: &str, json: String) {
        debug_assert!(serde_json::from_str::<serde::de::IgnoredAny>(&json).is_ok(), "{json}");
        self.put(name, Val::Spliced(json.into_boxed_str()));
    }

    /// Removes a top-level field, keeping the order of the others.
    pub fn remove_field(&mut self, name: &str) {
        let frame = &self.frame;
        self.fields.retain(|f| key_bytes(frame, &f.key) != name.as_bytes());
    }

    /// Parses one field (typically `arguments` or `body`) into a `Value`, lets
    /// `edit` change it, and writes it back if `edit` says it changed
    /// anything. Absent fields are not created. Returns whether it changed.
    pub fn edit_field(&mut self, name: &str, edit: impl FnOnce(&mut Value) -> bool) -> Result<bool, MessageError> {
        let Some(mut value) = self.field::<Value>(name)? else {
            return Ok(false);
        };
        if !edit(&mut value) {
            return Ok(false);
        }
        self.set_field(name, &value)?;
        Ok(true)
    }

    /// Serialises the message: the fields in their order, raw values as they came.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.encoded_len());
        self.write_body(&mut out);
        out.freeze()
    }

    /// The length of `to_bytes()`, without writing it.
    fn encoded_len(&self) -> usize {
        let mut len = 2 + self.fields.len().saturating_sub(1);
        for f in &self.fields {
            len += match &f.key {
                Key::Span(r) => r.len() + 2,
                Key::Owned(k) => json_str_len(k),
            } + 1;
            len += match &f.value {
                Val::Span(r) => r.len(),
                Val::Int(n) => itoa::Buffer::new().format(*n).len(),
                Val::Raw(raw) => raw.get().len(),
                Val::Spliced(text) => text.len(),
            };
        }
        len
    }

    fn write_body(&self, out: &mut BytesMut) {
        out.put_u8(b'{');
        for (i, f) in self.fields.iter().enumerate() {
            if i > 0 {
                out.put_u8(b',');
            }
            match &f.key {
                Key::Span(r) => {
                    out.put_u8(b'"');
                    out.put_slice(&self.frame[r.clone()]);
                    out.put_u8(b'"');
                }
                // Writing a string into a buffer cannot fail.
                Key::Owned(k) => drop(serde_json::to_writer(out.writer(), k)),
            }
            out.put_u8(b':');
            match &f.value {
                Val::Span(r) => out.put_slice(&self.frame[r.clone()]),
                Val::Int(n) => out.put_slice(itoa::Buffer::new().format(*n).as_bytes()),
                Val::Raw(raw) => out.put_slice(raw.get().as_bytes()),
                Val::Spliced(text) => out.put_slice(text.as_bytes()),
            }
        }
        out.put_u8(b'}');
    }

    /// One line for `debug` logs: kind, name and seq, never the payload.
    pub fn summary(&self) -> String {
        match &self.kind {
            Kind::Request { command } => format!("request {command} #{}", self.seq),
            Kind::Response { request_seq, command, success } => {
                format!("response {command} #{} to #{request_seq}{}", self.seq, if *success { "" } else { " (failed)" })
            }
            Kind::Event { event } => format!("event {event} #{}", self.seq),
        }
    }

    /// The last field called `name`.
    fn find(&self, name: &str) -> Option<&Field> {
        self.fields.iter().rev().find(|f| key_bytes(&self.frame, &f.key) == name.as_bytes())
    }

    /// Replaces the field called `name` where it stands (dropping any
    /// duplicates), or adds it at the end.
    fn put(&mut self, name: &str, value: Val) {
        let frame = &self.frame;
        let mut at = None;
        let mut i = 0;
        self.fields.retain(|f| {
            let keep = key_bytes(frame, &f.key) != name.as_bytes() || at.is_none();
            if keep && at.is_none() && key_bytes(frame, &f.key) == name.as_bytes() {
                at = Some(i);
            }
            i += usize::from(keep);
            keep
        });
        match at {
            Some(i) => self.fields[i].value = value,
            None => self.fields.push(Field { key: Key::Owned(name.to_owned()), value }),
        }
    }

    fn value_bytes<'a>(&'a self, value: &'a Val) -> Cow<'a, [u8]> {
        match value {
            Val::Span(r) => Cow::Borrowed(&self.frame[r.clone()]),
            Val::Int(n) => Cow::Owned(itoa::Buffer::new().format(*n).as_bytes().to_vec()),
            Val::Raw(raw) => Cow::Borrowed(raw.get().as_bytes()),
            Val::Spliced(text) => Cow::Borrowed(text.as_bytes()),
        }
    }

    /// An envelope field, read as `T`; a wrong type is `Invalid`.
    fn envelope<T: DeserializeOwned>(
        &self,
        field: &'static str,
        expected: &'static str,
    ) -> Result<Option<T>, MessageError> {
        self.field(field).map_err(|_| MessageError::Invalid { field, expected })
    }
}

/// Frames a message: the codec's header, then the body written straight
/// into the output buffer.
impl Encoder<Message> for DapCodec {
    type Error = CodecError;

    fn encode(&mut self, message: Message, dst: &mut BytesMut) -> Result<(), CodecError> {
        let len = message.encoded_len();
        put_header(len, dst);
        dst.reserve(len);
        message.write_body(dst);
        Ok(())
    }
}

/// The frame's top-level fields as spans; `serde_json` says what is wrong
/// with a frame the scanner refuses.
fn split(frame: &[u8]) -> Result<Vec<Field>, MessageError> {
    let by_serde = || -> Result<Vec<Field>, MessageError> {
        let fields = scan::serde_fields(frame).map_err(MessageError::NotJson)?;
        Ok(fields.into_iter().map(|(key, value)| Field { key: Key::Owned(key), value: Val::Span(value) }).collect())
    };
    let Ok(raw) = scan::object_fields(frame) else {
        return by_serde();
    };
    let mut fields = Vec::with_capacity(raw.len());
    for f in raw {
        let key = if f.key_escaped {
            // The key with its quotes, unescaped.
            match serde_json::from_slice::<String>(&frame[f.key.start - 1..f.key.end + 1]) {
                Ok(name) => Key::Owned(name),
                Err(_) => return by_serde(),
            }
        } else {
            Key::Span(f.key)
        };
        fields.push(Field { key, value: Val::Span(f.value) });
    }
    Ok(fields)
}

fn key_bytes<'a>(frame: &'a [u8], key: &'a Key) -> &'a [u8] {
    match key {
        Key::Span(r) => &frame[r.clone()],
        Key::Owned(k) => k.as_bytes(),
    }
}

/// The length of `s` as a JSON string, quotes included.
fn json_str_len(s: &str) -> usize {
    serde_json::to_string(s).map_or(2, |j| j.len())
}

fn raw_str(s: &str) -> Val {
    Val::Raw(raw(&s).unwrap_or_else(|_| Box::<RawValue>::default()))
}

fn raw_bool(b: bool) -> Val {
    Val::Raw(raw(&b).unwrap_or_else(|_| Box::<RawValue>::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames seen from VS Code and debugpy, with vendor fields and custom events.
    const CORPUS: &[&str] = &[
        r#"{"command":"initialize","arguments":{"clientID":"vscode","clientName":"Visual Studio Code","adapterID":"dockdap","pathFormat":"path","linesStartAt1":true,"columnsStartAt1":true,"supportsVariableType":true,"supportsVariablePaging":true,"supportsRunInTerminalRequest":true,"locale":"en","supportsProgressReporting":true,"supportsInvalidatedEvent":true,"supportsMemoryReferences":true,"supportsArgsCanBeInterpretedByShell":true,"supportsMemoryEvent":true,"supportsStartDebuggingRequest":true},"type":"request","seq":1}"#,
        r#"{"seq": 3, "type": "event", "event": "debugpySockets", "body": {"sockets": [{"host": "127.0.0.1", "port": 5678, "internal": false}]}}"#,
        r#"{"seq":9,"type":"response","request_seq":2,"success":true,"command":"setBreakpoints","body":{"breakpoints":[{"verified":true,"id":0,"source":{"path":"/var/azureml-app/score.py"},"line":3}]},"x-vendor":{"nested":[1,2.50,"é"]}}"#,
        r#"{"seq":0,"type":"request","command":"threads"}"#,
        r#"{"type":"event","seq":12,"event":"output","body":{"category":"stdout","output":"\u00e9\ud83e\udd80 line\n"},"__sessionId":"abc"}"#,
        r#"{"seq":4,"type":"response","request_seq":4,"success":false,"command":"evaluate","message":"cancelled"}"#,
    ];

    #[test]
    fn corpus_round_trips_byte_for_byte_once_compact() {
        for frame in CORPUS {
            let m = Message::parse(frame.as_bytes()).unwrap();
            let out = m.to_bytes();
            // Raw values keep their own text; only the whitespace between
            // top-level keys is normalised.
            let again = Message::parse(&out).unwrap();
            assert_eq!(again.to_bytes(), out, "{frame}");
            let a: Value = serde_json::from_str(frame).unwrap();
            let b: Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(a, b, "{frame}");
        }
    }

    #[test]
    fn raw_values_are_untouched() {
        let frame = r#"{"seq":9,"type":"response","request_seq":2,"success":true,"command":"x","body":{"n":2.50,"s":"\u00e9"}}"#;
        let mut m = Message::parse(frame.as_bytes()).unwrap();
        m.set_seq(41);
        m.set_request_seq(7);
        assert_eq!(
            String::from_utf8(m.to_bytes().to_vec()).unwrap(),
            r#"{"seq":41,"type":"response","request_seq":7,"success":true,"command":"x","body":{"n":2.50,"s":"\u00e9"}}"#
        );
    }

    #[track_caller]
    fn check_err(frame: &str, expect: &str) {
        let err = Message::parse(frame.as_bytes()).unwrap_err();
        assert_eq!(err.to_string(), expect, "{frame}");
    }

    #[test]
    fn malformed() {
        check_err("[1]", "message is not a JSON object: invalid type: sequence, expected a map at line 1 column 0");
        check_err("{", "message is not a JSON object: EOF while parsing an object at line 1 column 1");
        check_err(r#"{"type":"request","command":"x"}"#, "message has no `seq` field");
        check_err(r#"{"seq":"1","type":"request","command":"x"}"#, "message field `seq` should be an integer");
        check_err(r#"{"seq":1,"type":"request"}"#, "message has no `command` field");
        check_err(r#"{"seq":1,"type":"reply"}"#, "unknown message type \"reply\"");
        check_err(r#"{"seq":1,"type":"response","command":"x","success":true}"#, "message has no `request_seq` field");
        check_err(r#"{"seq":1,"type":"event"}"#, "message has no `event` field");
        let invalid_utf8 = b"{\"seq\":1,\"type\":\"event\",\"event\":\"\xff\"}";
        assert!(Message::parse(invalid_utf8).is_err());
    }

    #[test]
    fn edit_field_rewrites_only_when_changed() {
        let frame =
            r#"{"seq":1,"type":"request","command":"setBreakpoints","arguments":{"source":{"path":"/a"},"z":1.0}}"#;
        let mut m = Message::parse(frame.as_bytes()).unwrap();
        assert!(!m.edit_field("arguments", |_| false).unwrap());
        assert_eq!(&m.to_bytes()[..], frame.as_bytes());
        assert!(
            m.edit_field("arguments", |v| {
                v["source"]["path"] = "/b".into();
                true
            })
            .unwrap()
        );
        assert_eq!(
            String::from_utf8(m.to_bytes().to_vec()).unwrap(),
            r#"{"seq":1,"type":"request","command":"setBreakpoints","arguments":{"source":{"path":"/b"},"z":1.0}}"#
        );
        assert!(!m.edit_field("body", |_| true).unwrap());
        m.set_field_text("arguments", r#"{"source":{"path":"/c"},"z":1.0}"#.to_owned());
        assert_eq!(m.raw_field("arguments").unwrap(), &br#"{"source":{"path":"/c"},"z":1.0}"#[..]);
        assert_eq!(m.encoded_len(), m.to_bytes().len());
        assert_eq!(
            String::from_utf8(m.to_bytes().to_vec()).unwrap(),
            r#"{"seq":1,"type":"request","command":"setBreakpoints","arguments":{"source":{"path":"/c"},"z":1.0}}"#
        );
    }

    #[test]
    fn built_messages() {
        let mut m = Message::failure(4, "launch", "image not found");
        m.set_seq(2);
        assert_eq!(
            String::from_utf8(m.to_bytes().to_vec()).unwrap(),
            r#"{"seq":2,"type":"response","request_seq":4,"success":false,"command":"launch","message":"image not found","body":{"error":{"id":1,"format":"image not found","showUser":true}}}"#
        );
        let m = Message::event("output", &serde_json::json!({"output": "x"})).unwrap();
        assert_eq!(
            String::from_utf8(m.to_bytes().to_vec()).unwrap(),
            r#"{"seq":0,"type":"event","event":"output","body":{"output":"x"}}"#
        );
    }

    #[test]
    fn escaped_and_duplicate_keys() {
        // A key with escapes is kept by name and written back escaped.
        let frame = r#"{"seq":1,"type":"event","event":"e","k\u0065y":1,"q\"":2}"#;
        let m = Message::parse(frame.as_bytes()).unwrap();
        assert_eq!(m.field::<i64>("key").unwrap(), Some(1));
        assert_eq!(
            String::from_utf8(m.to_bytes().to_vec()).unwrap(),
            r#"{"seq":1,"type":"event","event":"e","key":1,"q\"":2}"#
        );
        // Duplicates: reads take the last (as serde_json does); stamping
        // leaves one `seq`, where the first stood.
        let mut m = Message::parse(br#"{"seq":1,"type":"event","seq":2,"event":"e"}"#).unwrap();
        assert_eq!(m.seq(), 2);
        m.set_seq(7);
        assert_eq!(&m.to_bytes()[..], br#"{"seq":7,"type":"event","event":"e"}"#);
    }

    #[test]
    fn encoder_writes_header_and_body_in_one_buffer() {
        for frame in CORPUS {
            let mut m = Message::parse(frame.as_bytes()).unwrap();
            m.set_seq(123_456);
            m.set_command("renamed");
            let body = m.to_bytes();
            assert_eq!(m.encoded_len(), body.len(), "{frame}");
            let mut dst = BytesMut::new();
            DapCodec::default().encode(m, &mut dst).unwrap();
            let mut expect = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
            expect.extend_from_slice(&body);
            assert_eq!(&dst[..], &expect[..]);
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = Message::parse(&bytes);
        }

        #[test]
        fn stamped_messages_keep_their_length_and_json(extra in "[a-z\"\\\\é]{0,12}", seq in proptest::num::i64::ANY) {
            let frame = serde_json::json!({"seq": 1, "type": "event", "event": "e", extra.clone(): [extra.clone(), 2.50]}).to_string();
            let mut m = Message::parse(frame.as_bytes()).unwrap();
            m.set_seq(seq);
            let out = m.to_bytes();
            proptest::prop_assert_eq!(m.encoded_len(), out.len());
            let a: Value = serde_json::from_slice(&out).unwrap();
            proptest::prop_assert_eq!(&a["seq"], &serde_json::json!(seq));
            proptest::prop_assert_eq!(&a[extra.as_str()][0], &serde_json::json!(extra));
        }
    }
}
