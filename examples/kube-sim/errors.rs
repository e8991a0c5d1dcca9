//! API errors as the API server sends them: a `Status` object with the
//! HTTP code, a machine-readable reason and a message in Kubernetes' words
//! (`pods "web" not found`), so clients print what they print for a real
//! cluster.

use serde_json::{Value, json};

use crate::kinds::Kind;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError { code, reason, message: message.into(), details: None }
    }

    fn with_details(mut self, kind: Kind, name: &str) -> Self {
        let mut details = json!({"name": name, "kind": kind.plural()});
        if !kind.group().is_empty() {
            details["group"] = json!(kind.group());
        }
        self.details = Some(details);
        self
    }

    pub fn not_found(kind: Kind, name: &str) -> Self {
        let plural = qualified(kind);
        ApiError::new(404, "NotFound", format!("{plural} \"{name}\" not found")).with_details(kind, name)
    }

    pub fn already_exists(kind: Kind, name: &str) -> Self {
        let plural = qualified(kind);
        ApiError::new(409, "AlreadyExists", format!("{plural} \"{name}\" already exists")).with_details(kind, name)
    }

    pub fn conflict(kind: Kind, name: &str, why: &str) -> Self {
        let plural = qualified(kind);
        ApiError::new(409, "Conflict", format!("Operation cannot be fulfilled on {plural} \"{name}\": {why}"))
            .with_details(kind, name)
    }

    /// 422: the object breaks a rule (`Pod "x" is invalid: spec.containers: Required value`).
    pub fn invalid(kind: Kind, name: &str, causes: &[String]) -> Self {
        let message = format!("{} \"{name}\" is invalid: {}", kind.kind(), causes.join(", "));
        ApiError::new(422, "Invalid", message).with_details(kind, name)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "BadRequest", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(403, "Forbidden", message)
    }

    pub fn unauthorized() -> Self {
        ApiError::new(401, "Unauthorized", "Unauthorized")
    }

    pub fn gone(message: impl Into<String>) -> Self {
        ApiError::new(410, "Expired", message)
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        ApiError::new(405, "MethodNotAllowed", message)
    }

    pub fn unsupported_media(message: impl Into<String>) -> Self {
        ApiError::new(415, "UnsupportedMediaType", message)
    }

    /// The 404 for a path nothing is served at.
    pub fn no_route() -> Self {
        ApiError::new(404, "NotFound", "the server could not find the requested resource").with_raw_details(json!({}))
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(500, "InternalError", message)
    }

    fn with_raw_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// The `Status` object for this error.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

/// `pods` for core kinds, `deployments.apps` for the others, as in messages.
fn qualified(kind: Kind) -> String {
    match kind.group() {
        "" => kind.plural().to_owned(),
        group => format!("{}.{group}", kind.plural()),
    }
}
