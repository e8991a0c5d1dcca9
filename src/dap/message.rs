//! `Message`: one DAP message, with only its envelope lifted out.
//!
//! A proxy must not lose what it does not understand, so a message is kept as
//! the ordered list of its top-level fields, each value as the raw JSON text it
//! arrived with (`serde_json::value::RawValue`). Only `seq`, `type`,
//! `command`/`event` and `request_seq` are read; `arguments`/`body` are parsed
//! into a `serde_json::Value` only when someone asks (`edit_field`), which for
//! dockdap means only for messages that carry file paths. Everything else goes
//! back out byte-for-byte, in its original key order.
//!
//! This module does not stamp sequence numbers (the session does) and knows
//! nothing about paths.

use std::fmt;

use bytes::Bytes;
use indexmap::IndexMap;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

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

/// One DAP message: the envelope, plus every field as raw JSON.
#[derive(Clone)]
pub struct Message {
    seq: i64,
    kind: Kind,
    fields: IndexMap<String, Box<RawValue>>,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

fn raw(value: &impl Serialize) -> Result<Box<RawValue>, serde_json::Error> {
    serde_json::value::to_raw_value(value)
}

fn raw_int(n: i64) -> Box<RawValue> {
    // An integer always renders as valid JSON.
    RawValue::from_string(n.to_string()).unwrap_or_else(|_| Box::<RawValue>::default())
}

impl Message {
    /// Parses a frame body. Only the envelope fields are interpreted.
    pub fn parse(body: &[u8]) -> Result<Message, MessageError> {
        let fields: IndexMap<String, Box<RawValue>> = serde_json::from_slice(body).map_err(MessageError::NotJson)?;
        let seq = int_field(&fields, "seq")?.ok_or(MessageError::Missing("seq"))?;
        let kind_name = str_field(&fields, "type")?.ok_or(MessageError::Missing("type"))?;
        let kind = match kind_name.as_str() {
            "request" => {
                Kind::Request { command: str_field(&fields, "command")?.ok_or(MessageError::Missing("command"))? }
            }
            "response" => Kind::Response {
                request_seq: int_field(&fields, "request_seq")?.ok_or(MessageError::Missing("request_seq"))?,
                command: str_field(&fields, "command")?.ok_or(MessageError::Missing("command"))?,
                success: match fields.get("success") {
                    None => return Err(MessageError::Missing("success")),
                    Some(v) => serde_json::from_str(v.get())
                        .map_err(|_| MessageError::Invalid { field: "success", expected: "a boolean" })?,
                },
            },
            "event" => Kind::Event { event: str_field(&fields, "event")?.ok_or(MessageError::Missing("event"))? },
            _ => return Err(MessageError::UnknownType(kind_name)),
        };
        Ok(Message { seq, kind, fields })
    }

    /// A request the bridge makes itself. Its `seq` is stamped when it is sent.
    pub fn request(command: &str, arguments: &impl Serialize) -> Result<Message, MessageError> {
        let mut m = Message::new("request", Kind::Request { command: command.to_owned() });
        m.fields.insert("command".into(), raw_str(command));
        m.set_field("arguments", arguments)?;
        Ok(m)
    }

    /// An event the bridge sends itself.
    pub fn event(event: &str, body: &impl Serialize) -> Result<Message, MessageError> {
        let mut m = Message::new("event", Kind::Event { event: event.to_owned() });
        m.fields.insert("event".into(), raw_str(event));
        m.set_field("body", body)?;
        Ok(m)
    }

    /// A successful response to `request_seq`/`command`, with an optional body.
    pub fn success(request_seq: i64, command: &str, body: Option<&Value>) -> Message {
        let mut m = Message::response(request_seq, command, true);
        if let Some(body) = body {
            // A `Value` always serialises.
            if let Ok(raw) = raw(body) {
                m.fields.insert("body".into(), raw);
            }
        }
        m
    }

    /// A failed response: `message` is what editors show the user.
    pub fn failure(request_seq: i64, command: &str, message: &str) -> Message {
        let mut m = Message::response(request_seq, command, false);
        m.fields.insert("message".into(), raw_str(message));
        let body = serde_json::json!({
            "error": { "id": 1, "format": message, "showUser": true }
        });
        if let Ok(raw) = raw(&body) {
            m.fields.insert("body".into(), raw);
        }
        m
    }

    fn response(request_seq: i64, command: &str, success: bool) -> Message {
        let mut m = Message::new("response", Kind::Response { request_seq, command: command.to_owned(), success });
        m.fields.insert("request_seq".into(), raw_int(request_seq));
        m.fields.insert("success".into(), raw_bool(success));
        m.fields.insert("command".into(), raw_str(command));
        m
    }

    fn new(type_name: &str, kind: Kind) -> Message {
        let mut fields = IndexMap::new();
        fields.insert("seq".into(), raw_int(0));
        fields.insert("type".into(), raw_str(type_name));
        Message { seq: 0, kind, fields }
    }

    /// The `seq` as it arrived, or as last stamped.
    pub fn seq(&self) -> i64 {
        self.seq
    }

    /// Stamps a new `seq`.
    pub fn set_seq(&mut self, seq: i64) {
        self.seq = seq;
        self.fields.insert("seq".into(), raw_int(seq));
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
            self.fields.insert("request_seq".into(), raw_int(seq));
        }
    }

    /// Renames the command of a request or response (an `attach` the bridge
    /// sent on behalf of the client's `launch` is answered as `launch`).
    pub fn set_command(&mut self, name: &str) {
        if let Kind::Request { command } | Kind::Response { command, .. } = &mut self.kind {
            name.clone_into(command);
            self.fields.insert("command".into(), raw_str(name));
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

    /// The raw JSON of a top-level field.
    pub fn raw_field(&self, name: &str) -> Option<&RawValue> {
        self.fields.get(name).map(|v| &**v)
    }

    /// Reads a top-level field as `T`; `Ok(None)` when absent.
    pub fn field<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, MessageError> {
        match self.fields.get(name) {
            None => Ok(None),
            Some(v) => serde_json::from_str(v.get())
                .map(Some)
                .map_err(|source| MessageError::Field { field: name.to_owned(), source }),
        }
    }

    /// Replaces (or adds, at the end) a top-level field.
    pub fn set_field(&mut self, name: &str, value: &impl Serialize) -> Result<(), MessageError> {
        let value = raw(value).map_err(|source| MessageError::Field { field: name.to_owned(), source })?;
        self.fields.insert(name.to_owned(), value);
        Ok(())
    }

    /// Removes a top-level field, keeping the order of the others.
    pub fn remove_field(&mut self, name: &str) {
        self.fields.shift_remove(name);
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
        let size: usize = self.fields.iter().map(|(k, v)| k.len() + v.get().len() + 4).sum();
        let mut out = Vec::with_capacity(size + 2);
        out.push(b'{');
        for (i, (key, value)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // Writing a string into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut out, key);
            out.push(b':');
            out.extend_from_slice(value.get().as_bytes());
        }
        out.push(b'}');
        Bytes::from(out)
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
}

fn raw_str(s: &str) -> Box<RawValue> {
    raw(&s).unwrap_or_else(|_| Box::<RawValue>::default())
}

fn raw_bool(b: bool) -> Box<RawValue> {
    raw(&b).unwrap_or_else(|_| Box::<RawValue>::default())
}

fn int_field(fields: &IndexMap<String, Box<RawValue>>, field: &'static str) -> Result<Option<i64>, MessageError> {
    fields
        .get(field)
        .map(|v| {
            serde_json::from_str::<i64>(v.get()).map_err(|_| MessageError::Invalid { field, expected: "an integer" })
        })
        .transpose()
}

fn str_field(fields: &IndexMap<String, Box<RawValue>>, field: &'static str) -> Result<Option<String>, MessageError> {
    fields
        .get(field)
        .map(|v| {
            serde_json::from_str::<String>(v.get()).map_err(|_| MessageError::Invalid { field, expected: "a string" })
        })
        .transpose()
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

    proptest::proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = Message::parse(&bytes);
        }
    }
}
