//! What the KMS HTTP services (`kms-signer`, `kms-node`) share, so that both fail, log, report
//! metrics and stop the same way: [`ApiError`] (a status, a stable code and a message with no
//! internals), the Prometheus text response, the tracing set-up and the shutdown signal.
#![warn(missing_docs)]

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Instant;

/// An error as the client sees it: `{"error": {"code", "message"}}` with an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable code clients branch on.
    pub code: &'static str,
    /// For people; never internal detail.
    pub message: String,
}

impl ApiError {
    /// An error with any status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    /// 400: the request is malformed or invalid.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    /// 401: the request is not authenticated (signature, deadline).
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }
    /// 403: authenticated, but not allowed.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }
    /// 409: the request conflicts with the state (replayed nonce, existing key).
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }
    /// 404: no such thing.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }
    /// 503: try again later.
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
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
        let body = kms_api::ErrorBody::new(self.code, &self.message);
        (self.status, Json(body)).into_response()
    }
}

/// Crypto errors reaching an API come from client input (points, hashes, signatures).
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

/// Token buckets by key: `rate` tokens a second, at most `burst`, one per request.
pub struct RateLimiter<K> {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
}

impl<K: Hash + Eq> RateLimiter<K> {
    /// `rate_per_sec` tokens a second per key, at most `burst` saved up.
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(rate_per_sec),
            burst: f64::from(burst),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `key`; false when its bucket is empty. A poisoned lock lets the
    /// request through: a limiter must not turn one panic into an outage.
    pub fn allow(&self, key: K) -> bool {
        let Ok(mut map) = self.buckets.lock() else {
            return true;
        };
        let now = Instant::now();
        let (tokens, last) = map.entry(key).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        if *tokens < 1.0 {
            return false;
        }
        *tokens -= 1.0;
        true
    }
}

/// The registry in the OpenMetrics text format (empty if encoding fails, which it does not for
/// the metric types used here).
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, registry).is_err() {
        out.clear();
    }
    out
}

/// A `/metrics` answer.
pub fn metrics_response(text: String) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Resolves on SIGTERM or Ctrl-C: the graceful-shutdown trigger of both services.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
