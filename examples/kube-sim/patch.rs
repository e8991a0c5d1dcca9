//! PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902), and
//! strategic merge patch read as a merge patch (exact for maps such as
//! labels and annotations, which is what clients patch on pods; lists are
//! replaced instead of merged by key).

use serde_json::Value;

use crate::errors::ApiError;

pub fn apply(content_type: &str, target: &Value, patch: &[u8]) -> Result<Value, ApiError> {
    let kind = content_type.split(';').next().unwrap_or_default().trim();
    let body: Value = serde_json::from_slice(patch)
        .map_err(|e| ApiError::bad_request(format!("the body of the request could not be decoded as JSON: {e}")))?;
    match kind {
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            let mut result = target.clone();
            merge(&mut result, &body);
            Ok(result)
        }
        "application/json-patch+json" => json_patch(target, &body),
        other => Err(ApiError::unsupported_media(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {other:?}; kube-sim does not do server-side apply)"
        ))),
    }
}

/// RFC 7386: maps merge, `null` removes, anything else replaces.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let Value::Object(map) = target else { return };
    for (key, value) in patch {
        // Strategic merge patch directives are not objects to store.
        if key.starts_with("$") {
            continue;
        }
        if value.is_null() {
            map.remove(key);
        } else {
            merge(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

fn json_patch(target: &Value, ops: &Value) -> Result<Value, ApiError> {
    let mut doc = target.clone();
    let bad = |m: String| ApiError::bad_request(m);
    for op in ops.as_array().ok_or_else(|| bad("a JSON patch must be a list of operations".into()))? {
        let path = op.get("path").and_then(Value::as_str).unwrap_or_default();
        let name = op.get("op").and_then(Value::as_str).unwrap_or_default();
        match name {
            "add" | "replace" => {
                let value = op.get("value").cloned().unwrap_or(Value::Null);
                set(&mut doc, path, value, name == "add").map_err(bad)?;
            }
            "remove" => {
                remove(&mut doc, path).map_err(bad)?;
            }
            "test" => {
                if doc.pointer(path) != op.get("value") {
                    return Err(ApiError::invalid(
                        crate::kinds::Kind::Pod,
                        "",
                        &[format!("testing value {path} failed")],
                    ));
                }
            }
            other => return Err(bad(format!("unsupported JSON patch operation: {other:?}"))),
        }
    }
    Ok(doc)
}

fn split(path: &str) -> Result<(String, String), String> {
    let (parent, last) = path.rsplit_once('/').ok_or_else(|| format!("invalid JSON pointer {path:?}"))?;
    Ok((parent.to_owned(), last.replace("~1", "/").replace("~0", "~")))
}

fn set(doc: &mut Value, path: &str, value: Value, add: bool) -> Result<(), String> {
    let (parent, last) = split(path)?;
    match doc.pointer_mut(&parent) {
        Some(Value::Object(map)) => {
            if !add && !map.contains_key(&last) {
                return Err(format!("replace operation does not apply: doc is missing key: {path}"));
            }
            map.insert(last, value);
            Ok(())
        }
        Some(Value::Array(list)) => {
            if last == "-" {
                list.push(value);
                return Ok(());
            }
            let i: usize = last.parse().map_err(|_| format!("invalid index in {path:?}"))?;
            match (add, i <= list.len(), i < list.len()) {
                (true, true, _) => list.insert(i, value),
                (false, _, true) => list[i] = value,
                _ => return Err(format!("index out of range in {path:?}")),
            }
            Ok(())
        }
        _ => Err(format!("doc is missing path: {path}")),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<(), String> {
    let (parent, last) = split(path)?;
    match doc.pointer_mut(&parent) {
        Some(Value::Object(map)) => {
            map.shift_remove(&last).map(|_| ()).ok_or_else(|| format!("doc is missing key: {path}"))
        }
        Some(Value::Array(list)) => {
            let i: usize = last.parse().map_err(|_| format!("invalid index in {path:?}"))?;
            if i < list.len() {
                list.remove(i);
                Ok(())
            } else {
                Err(format!("index out of range in {path:?}"))
            }
        }
        _ => Err(format!("doc is missing path: {path}")),
    }
}
