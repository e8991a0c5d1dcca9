//! Path-carrying values found in a message's raw JSON text, and replaced
//! where they stand.
//!
//! `PathRewriter` rewrites `arguments` and `body` without building a
//! `serde_json::Value` and serialising it again (issue 22: for a
//! `stackTrace` answer that round trip was 40% of dockdap's own work). One
//! pass of serde_json over the text finds the values a pointer of the tables
//! reaches, as `RawValue`s borrowed from the text (everything else is skipped
//! without being built); the few fields read there (`path`,
//! `sourceReference`, ...) are small. Only the strings that change are
//! replaced, by byte range; every other byte (numbers, key order, escapes,
//! fields dockdap does not know) stays as it came.
//!
//! This module only finds and splices; which values are paths, and what they
//! become, is `locate.rs`'s business.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// The values that `pointer` (`/a/*/b`, `*` for every element of an array)
/// reaches in `json`, in document order; missing keys and values of another
/// type are skipped. An error only when `json` is not JSON.
pub(super) fn reach<'a>(json: &'a str, pointer: &str) -> Result<Vec<&'a RawValue>, serde_json::Error> {
    let mut found = Vec::new();
    let mut de = serde_json::Deserializer::from_str(json);
    Reach { pointer, found: &mut found }.deserialize(&mut de)?;
    de.end()?;
    Ok(found)
}

/// The members of a JSON object, keys unescaped; `None` for any other value.
pub(super) fn members(raw: &RawValue) -> Option<Vec<(Cow<'_, str>, &RawValue)>> {
    let mut de = serde_json::Deserializer::from_str(raw.get());
    de.deserialize_map(Members).ok()
}

/// The elements of a JSON array; `None` for any other value.
pub(super) fn elements(raw: &RawValue) -> Option<Vec<&RawValue>> {
    serde_json::from_str(raw.get()).ok()
}

/// The text of a JSON string (borrowed unless it had escapes); `None` for
/// any other value.
pub(super) fn string(raw: &RawValue) -> Option<Cow<'_, str>> {
    let mut de = serde_json::Deserializer::from_str(raw.get());
    de.deserialize_str(Text).ok()
}

/// Replacements in one JSON text, applied at the end.
pub(super) struct Splices<'a> {
    text: &'a str,
    edits: Vec<(Range<usize>, String)>,
}

impl<'a> Splices<'a> {
    pub(super) fn new(text: &'a str) -> Splices<'a> {
        Splices { text, edits: Vec::new() }
    }

    /// Replaces the string `raw` (a value found in this text, whose content
    /// is `old`) with `new`, if that differs.
    pub(super) fn replace_string(&mut self, raw: &'a RawValue, old: &str, new: Option<String>) {
        let Some(new) = new.filter(|new| new != old) else {
            return;
        };
        let Some(range) = self.range_of(raw) else {
            return;
        };
        // A `String` always serialises.
        if let Ok(json) = serde_json::to_string(&new) {
            self.edits.push((range, json));
        }
    }

    /// Where `raw` lies in the text; `None` if it is not a slice of it.
    fn range_of(&self, raw: &RawValue) -> Option<Range<usize>> {
        let base = self.text.as_ptr() as usize;
        let start = (raw.get().as_ptr() as usize).checked_sub(base)?;
        let end = start + raw.get().len();
        (end <= self.text.len()).then_some(start..end)
    }

    /// The text with every replacement made; `None` when there was none.
    pub(super) fn finish(mut self) -> Option<String> {
        if self.edits.is_empty() {
            return None;
        }
        self.edits.sort_by_key(|(range, _)| range.start);
        let grown: usize = self.edits.iter().map(|(_, json)| json.len()).sum();
        let mut out = String::with_capacity(self.text.len() + grown);
        let mut done = 0;
        for (range, json) in &self.edits {
            // Values found by one walk never overlap; a second edit of the
            // same value (a duplicate key reached twice) is skipped.
            if range.start < done {
                continue;
            }
            out.push_str(&self.text[done..range.start]);
            out.push_str(json);
            done = range.end;
        }
        out.push_str(&self.text[done..]);
        Some(out)
    }
}

/// Splits `/a/b...` into `a` and `/b...`; `None` at the end of the pointer.
fn first_segment(pointer: &str) -> Option<(&str, &str)> {
    let rest = pointer.strip_prefix('/')?;
    Some(rest.find('/').map_or((rest, ""), |i| rest.split_at(i)))
}

/// Walks one value along `pointer`, collecting what it reaches.
struct Reach<'r, 'de> {
    pointer: &'r str,
    found: &'r mut Vec<&'de RawValue>,
}

impl<'de> DeserializeSeed<'de> for Reach<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        match first_segment(self.pointer) {
            None => {
                self.found.push(<&RawValue as serde::Deserialize>::deserialize(deserializer)?);
                Ok(())
            }
            Some((segment, rest)) => deserializer.deserialize_any(Step { segment, rest, found: self.found }),
        }
    }
}

/// One segment of the pointer applied to whatever value stands there.
struct Step<'r, 'de> {
    segment: &'r str,
    rest: &'r str,
    found: &'r mut Vec<&'de RawValue>,
}

impl<'de> Visitor<'de> for Step<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.segment == "*" {
            while seq.next_element_seed(Reach { pointer: self.rest, found: &mut *self.found })?.is_some() {}
        } else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(Text)? {
            if key == self.segment {
                map.next_value_seed(Reach { pointer: self.rest, found: &mut *self.found })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A string, borrowed from the text when it had no escapes.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Cow<'de, str>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

/// An object's members, values left as raw text.
struct Members;

impl<'de> Visitor<'de> for Members {
    type Value = Vec<(Cow<'de, str>, &'de RawValue)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(key) = map.next_key_seed(Text)? {
            out.push((key, map.next_value()?));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(json: &str, pointer: &str, expect: &[&str]) {
        let found: Vec<&str> = reach(json, pointer).unwrap().into_iter().map(RawValue::get).collect();
        assert_eq!(found, expect, "{pointer} in {json}");
    }

    #[test]
    fn pointers_reach_values_as_they_stand() {
        let json = r#"{"stackFrames": [{"id": 1, "source": {"path": "/a"}}, {"id": 2}, {"source": 3}, 7],
                       "x": {"source": {"path": "/no"}}, "n": 1.50}"#;
        check(json, "/stackFrames/*/source", &[r#"{"path": "/a"}"#, "3"]);
        check(json, "/stackFrames/*/source/path", &[r#""/a""#]);
        check(json, "/n", &["1.50"]);
        check(json, "/missing/*", &[]);
        check(json, "/x/*", &[]);
        check(r#"{"k\u0065y": [1, 2]}"#, "/key/*", &["1", "2"]);
        check(r#"{"*": 5}"#, "/*", &["5"]);
        check("[1]", "/a", &[]);
        assert!(reach("{", "/a").is_err());
        assert!(reach("{} x", "/a").is_err());
    }

    #[test]
    fn splices_only_what_changed() {
        let json = r#"{"a": "x", "b": ["\u0079", 2.50], "c": "z"}"#;
        let found = reach(json, "/b/*").unwrap();
        let mut s = Splices::new(json);
        let old = string(found[0]).unwrap();
        assert_eq!(old, "y");
        s.replace_string(found[0], &old, Some("é\"".into()));
        let c = reach(json, "/c").unwrap()[0];
        s.replace_string(c, "z", Some("z".into()));
        s.replace_string(c, "z", None);
        assert_eq!(s.finish().unwrap(), r#"{"a": "x", "b": ["é\"", 2.50], "c": "z"}"#);
        assert!(Splices::new(json).finish().is_none());
        assert!(string(found[1]).is_none());
        assert!(members(found[1]).is_none() && elements(found[1]).is_none());
    }
}
