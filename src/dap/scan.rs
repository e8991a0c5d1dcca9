//! Finds the top-level fields of a JSON object without parsing their values.
//!
//! `Message` needs only where each top-level key and value starts and ends.
//! Parsing the whole frame with `serde_json` to learn that validated every
//! string of every value (UTF-8 and escapes) and was nearly half of dockdap's
//! CPU under an output flood (issue 9). This scanner checks the top-level
//! object's shape, keeps brackets balanced and strings closed in the values,
//! and skips string contents with `memchr`. What it does not check inside a
//! value (an invalid number, a stray control character) is forwarded as it
//! came; the envelope fields `Message` reads are parsed by `serde_json`, and
//! so is a value dockdap rewrites.
//!
//! It accepts every JSON object `serde_json` accepts, with the same spans
//! (a property test checks that); when it refuses a frame, `Message` asks
//! `serde_json` for the precise error.

use std::ops::Range;

/// One top-level field: the key's text between its quotes, whether that
/// text has escapes (and so is not the key's name as is), and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawField {
    /// The key, without its quotes.
    pub key: Range<usize>,
    /// The key has a `\` escape.
    pub key_escaped: bool,
    /// The value's JSON text.
    pub value: Range<usize>,
}

/// The frame is not a JSON object this scanner can split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAnObject;

/// The top-level fields of the JSON object in `frame`, in order.
pub fn object_fields(frame: &[u8]) -> Result<Vec<RawField>, NotAnObject> {
    let mut s = Scanner { b: frame, i: 0 };
    s.ws();
    s.expect(b'{')?;
    let mut fields = Vec::with_capacity(8);
    s.ws();
    if s.peek() == Some(b'}') {
        s.i += 1;
    } else {
        loop {
            s.ws();
            s.expect(b'"')?;
            let key_start = s.i;
            let key_escaped = s.string()?;
            let key = key_start..s.i - 1;
            s.ws();
            s.expect(b':')?;
            s.ws();
            let value_start = s.i;
            s.value()?;
            fields.push(RawField { key, key_escaped, value: value_start..s.i });
            s.ws();
            match s.next()? {
                b',' => continue,
                b'}' => break,
                _ => return Err(NotAnObject),
            }
        }
    }
    s.ws();
    if s.i != frame.len() {
        return Err(NotAnObject);
    }
    Ok(fields)
}

/// The same split done by `serde_json`, which checks everything: the key
/// names and the value spans. `Message` uses it for the error message when
/// `object_fields` refuses a frame; the tests use it as the reference.
pub fn serde_fields(frame: &[u8]) -> Result<Vec<(String, Range<usize>)>, serde_json::Error> {
    use serde::de::{Deserializer, MapAccess, Visitor};

    struct Fields {
        base: usize,
    }
    impl<'de> Visitor<'de> for Fields {
        type Value = Vec<(String, Range<usize>)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut fields = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                let value: &'de serde_json::value::RawValue = map.next_value()?;
                let start = value.get().as_ptr() as usize - self.base;
                fields.push((key, start..start + value.get().len()));
            }
            Ok(fields)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(frame);
    let fields = (&mut de).deserialize_map(Fields { base: frame.as_ptr() as usize })?;
    de.end()?;
    Ok(fields)
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Result<u8, NotAnObject> {
        let c = self.peek().ok_or(NotAnObject)?;
        self.i += 1;
        Ok(c)
    }

    fn expect(&mut self, c: u8) -> Result<(), NotAnObject> {
        if self.next()? == c { Ok(()) } else { Err(NotAnObject) }
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// Skips a string whose opening quote was just read; says whether it
    /// had an escape.
    fn string(&mut self) -> Result<bool, NotAnObject> {
        let mut escaped = false;
        loop {
            let at = memchr::memchr2(b'"', b'\\', &self.b[self.i..]).ok_or(NotAnObject)?;
            self.i += at + 1;
            if self.b[self.i - 1] == b'"' {
                return Ok(escaped);
            }
            // A backslash: the next byte is escaped, whatever it is.
            escaped = true;
            self.i += 1;
            if self.i > self.b.len() {
                return Err(NotAnObject);
            }
        }
    }

    /// Skips one value: a string, a balanced object or array, or a scalar.
    fn value(&mut self) -> Result<(), NotAnObject> {
        match self.peek().ok_or(NotAnObject)? {
            b'"' => {
                self.i += 1;
                self.string().map(drop)
            }
            b'{' | b'[' => self.nested(),
            b',' | b'}' | b']' | b':' => Err(NotAnObject),
            _ => {
                let start = self.i;
                while let Some(c) = self.peek() {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    if matches!(c, b'"' | b'{' | b'[' | b':') {
                        return Err(NotAnObject);
                    }
                    self.i += 1;
                }
                if self.i == start { Err(NotAnObject) } else { Ok(()) }
            }
        }
    }

    /// Skips an object or array, matching brackets and skipping strings.
    fn nested(&mut self) -> Result<(), NotAnObject> {
        let mut open: Vec<u8> = Vec::new();
        loop {
            match self.next()? {
                c @ (b'{' | b'[') => open.push(if c == b'{' { b'}' } else { b']' }),
                c @ (b'}' | b']') => {
                    if open.pop() != Some(c) {
                        return Err(NotAnObject);
                    }
                    if open.is_empty() {
                        return Ok(());
                    }
                }
                b'"' => {
                    self.string()?;
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Key names and value spans, as `serde_fields` gives them.
    fn ours(frame: &[u8]) -> Option<Vec<(String, Range<usize>)>> {
        let fields = object_fields(frame).ok()?;
        Some(
            fields
                .into_iter()
                .map(|f| {
                    let key = serde_json::from_slice::<String>(&frame[f.key.start - 1..f.key.end + 1]).unwrap();
                    (key, f.value)
                })
                .collect(),
        )
    }

    #[test]
    fn shapes() {
        let ok = |s: &str| object_fields(s.as_bytes()).unwrap();
        assert_eq!(ok("{}"), vec![]);
        assert_eq!(ok(" { } \n"), vec![]);
        let f = ok(r#"{"a":1,"b\"c":"x\\","d":[{"e":"]}"}],"f":null}"#);
        assert_eq!(f.len(), 4);
        assert!(f[1].key_escaped && !f[0].key_escaped);
        for bad in [
            "",
            "[1]",
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{\"a\":1 \"b\":2}",
            "{\"a\":[}",
            "{\"a\":\"x}",
            "{\"a\":1}x",
            "{\"a\":{\"b\":1}",
            "{a:1}",
            "{\"a\":\"\\",
            "{\"a\":tr\"ue}",
        ] {
            assert_eq!(object_fields(bad.as_bytes()), Err(NotAnObject), "{bad:?}");
        }
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(serde_json::Value::from),
            ".{0,12}".prop_map(serde_json::Value::from),
            "[\"\\\\{}\\[\\]:,]{0,6}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map(".{0,6}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn same_spans_as_serde_json(
            fields in prop::collection::btree_map("[a-z\"\\\\é]{0,5}", json_value(), 0..6),
            pretty in any::<bool>(),
        ) {
            let object = serde_json::Value::Object(fields.into_iter().collect());
            let text = if pretty { serde_json::to_string_pretty(&object) } else { serde_json::to_string(&object) };
            let text = text.unwrap();
            prop_assert_eq!(ours(text.as_bytes()), serde_fields(text.as_bytes()).ok());
        }

        #[test]
        fn never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = object_fields(&bytes);
        }

        #[test]
        fn never_panics_on_json_like_text(text in "[{}\\[\\]\":,\\\\a1 ]{0,40}") {
            // Everything serde_json accepts is split the same way.
            if let Ok(fields) = serde_fields(text.as_bytes()) {
                prop_assert_eq!(ours(text.as_bytes()), Some(fields));
            }
        }
    }
}
