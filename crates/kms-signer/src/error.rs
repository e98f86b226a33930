//! API errors: an HTTP status, a stable machine-readable code, and a message with no internal
//! detail. This is the one place where failures become statuses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An error as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }
    /// Server-side failure; the cause goes to the log, never to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

/// Crypto errors reaching the API come from client input (points, hashes, signatures).
impl From<kms_crypto::Error> for ApiError {
    fn from(e: kms_crypto::Error) -> Self {
        use kms_crypto::Error as E;
        match e {
            E::MalformedEcdsaSignature(_)
            | E::WrongLength {
                what: "ECDSA signature",
                ..
            } => ApiError::unauthorized("bad_signature", e.to_string()),
            E::NonCanonicalCoordinate | E::NotOnCurve | E::NotInSubgroup | E::IdentityPoint => {
                ApiError::bad_request("invalid_point", e.to_string())
            }
            E::InvalidInteger(_) => ApiError::bad_request("invalid_integer", e.to_string()),
            other => ApiError::bad_request("invalid_input", other.to_string()),
        }
    }
}
