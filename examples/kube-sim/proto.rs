//! Just enough of the API server's protobuf encoding to read the requests
//! kubectl sends as protobuf (its typed clients do): `SelfSubjectAccessReview`
//! (`kubectl auth can-i`) and objects whose metadata is all that matters
//! (`kubectl create namespace`). The envelope is the `k8s\0` magic and a
//! `runtime.Unknown` whose `raw` field holds the object.
//!
//! Other protobuf bodies get a 415 that says so; answers are always JSON
//! (these clients accept it).

use serde_json::{Map, Value, json};

use crate::errors::ApiError;

/// The fields of one message: (field number, bytes of a length-delimited
/// field, or the value of a varint).
/// A field: its number, and its bytes (length-delimited) or value (varint).
type Field<'a> = (u64, Result<&'a [u8], u64>);

fn fields(mut data: &[u8]) -> Option<Vec<Field<'_>>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let (key, rest) = varint(data)?;
        data = rest;
        match key & 7 {
            0 => {
                let (value, rest) = varint(data)?;
                out.push((key >> 3, Err(value)));
                data = rest;
            }
            2 => {
                let (len, rest) = varint(data)?;
                let len = usize::try_from(len).ok().filter(|l| *l <= rest.len())?;
                out.push((key >> 3, Ok(&rest[..len])));
                data = &rest[len..];
            }
            1 => data = data.get(8..)?,
            5 => data = data.get(4..)?,
            _ => return None,
        }
    }
    Some(out)
}

fn varint(data: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, byte) in data.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, &data[i + 1..]));
        }
    }
    None
}

fn field<'a>(fields: &[Field<'a>], number: u64) -> Option<&'a [u8]> {
    fields.iter().find_map(|(n, v)| (*n == number).then_some(*v).and_then(Result::ok))
}

fn bad() -> ApiError {
    ApiError::bad_request("the protobuf body could not be decoded")
}

/// The object inside the `runtime.Unknown` envelope.
fn object(body: &[u8]) -> Result<Vec<Field<'_>>, ApiError> {
    let unknown = body.strip_prefix(b"k8s\0").ok_or_else(bad)?;
    let envelope = fields(unknown).ok_or_else(bad)?;
    fields(field(&envelope, 2).ok_or_else(bad)?).ok_or_else(bad)
}

fn text(data: &[u8]) -> Value {
    json!(String::from_utf8_lossy(data))
}

/// `ObjectMeta`: name, generateName, namespace, labels, annotations.
fn object_meta(data: &[u8]) -> Result<Value, ApiError> {
    let meta = fields(data).ok_or_else(bad)?;
    let mut out = Map::new();
    for (number, name) in [(1, "name"), (2, "generateName"), (3, "namespace")] {
        if let Some(v) = field(&meta, number) {
            out.insert(name.into(), text(v));
        }
    }
    for (number, name) in [(11, "labels"), (12, "annotations")] {
        let mut map = Map::new();
        for (_, entry) in meta.iter().filter(|(n, _)| *n == number) {
            let entry = fields(entry.map_err(|_| bad())?).ok_or_else(bad)?;
            let key = String::from_utf8_lossy(field(&entry, 1).unwrap_or_default()).into_owned();
            map.insert(key, text(field(&entry, 2).unwrap_or_default()));
        }
        if !map.is_empty() {
            out.insert(name.into(), Value::Object(map));
        }
    }
    Ok(Value::Object(out))
}

/// A protobuf body as JSON, for the kinds kubectl sends that way.
pub fn decode(kind: &str, api_version: &str, body: &[u8]) -> Result<Value, ApiError> {
    match kind {
        "SelfSubjectAccessReview" => self_subject_access_review(body),
        "Namespace" => {
            let object = object(body)?;
            let metadata = object_meta(field(&object, 1).unwrap_or_default())?;
            Ok(json!({"apiVersion": api_version, "kind": kind, "metadata": metadata}))
        }
        _ => Err(ApiError::unsupported_media(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json (kube-sim reads protobuf only for Namespace and SelfSubjectAccessReview, not {kind})"
        ))),
    }
}

/// A protobuf `SelfSubjectAccessReview` body as its JSON form.
fn self_subject_access_review(body: &[u8]) -> Result<Value, ApiError> {
    let review = object(body)?;
    let spec = fields(field(&review, 2).unwrap_or_default()).ok_or_else(bad)?;
    let mut out =
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "metadata": {}, "spec": {}});
    let names = ["namespace", "verb", "group", "version", "resource", "subresource", "name"];
    if let Some(attrs) = field(&spec, 1) {
        let attrs = fields(attrs).ok_or_else(bad)?;
        let mut map = Map::new();
        for (i, name) in names.iter().enumerate() {
            if let Some(text) = field(&attrs, i as u64 + 1) {
                map.insert((*name).into(), json!(String::from_utf8_lossy(text)));
            }
        }
        out["spec"]["resourceAttributes"] = Value::Object(map);
    }
    if let Some(attrs) = field(&spec, 2) {
        let attrs = fields(attrs).ok_or_else(bad)?;
        let text = |n| field(&attrs, n).map(|t| String::from_utf8_lossy(t).into_owned()).unwrap_or_default();
        out["spec"]["nonResourceAttributes"] = json!({"path": text(1), "verb": text(2)});
    }
    Ok(out)
}
