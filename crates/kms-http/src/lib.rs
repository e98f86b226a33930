//! What the KMS HTTP services (`kms-signer`, `kms-node`) share, so that both fail, log, report
//! metrics and stop the same way: [`ApiError`] (a status, a stable code and a message with no
//! internals), the Prometheus text response, the tracing set-up and the shutdown signal.

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

/// Token buckets by key: `rate` tokens a second, at most `burst`, one per request. Buckets that
/// have refilled are dropped as the map grows (a full bucket and no bucket behave the same), so
/// keys a caller merely names (addresses, app ids) cannot grow it without bound.
pub struct RateLimiter<K> {
    rate: f64,
    burst: f64,
    buckets: Mutex<Buckets<K>>,
}

struct Buckets<K> {
    map: HashMap<K, (f64, Instant)>,
    /// The size at which the next sweep runs: twice what survived the last one, at least
    /// [`MIN_SWEEP_LEN`], so sweeping costs O(1) per request amortized.
    sweep_at: usize,
}

/// The map size below which idle buckets are never swept.
pub const MIN_SWEEP_LEN: usize = 1024;

impl<K: Hash + Eq> RateLimiter<K> {
    /// `rate_per_sec` tokens a second per key, at most `burst` saved up.
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(rate_per_sec),
            burst: f64::from(burst),
            buckets: Mutex::new(Buckets {
                map: HashMap::new(),
                sweep_at: MIN_SWEEP_LEN,
            }),
        }
    }

    /// Takes a token for `key`; false when its bucket is empty. A poisoned lock lets the
    /// request through: a limiter must not turn one panic into an outage.
    pub fn allow(&self, key: K) -> bool {
        let Ok(mut b) = self.buckets.lock() else {
            return true;
        };
        let now = Instant::now();
        if b.map.len() >= b.sweep_at {
            let (rate, burst) = (self.rate, self.burst);
            b.map.retain(|_, (tokens, last)| {
                *tokens + now.duration_since(*last).as_secs_f64() * rate < burst
            });
            b.sweep_at = (b.map.len() * 2).max(MIN_SWEEP_LEN);
        }
        let (tokens, last) = b.map.entry(key).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        if *tokens < 1.0 {
            return false;
        }
        *tokens -= 1.0;
        true
    }

    /// How many buckets are held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.buckets.lock().map(|b| b.map.len()).unwrap_or(0)
    }

    /// Whether no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

#[cfg(test)]
mod limiter_tests {
    use super::*;

    #[test]
    fn a_flood_of_named_keys_does_not_grow_the_map_without_bound() {
        // A fast refill: every bucket is full again after a millisecond.
        let limiter = RateLimiter::new(1_000_000, 1);
        for i in 0..100_000u32 {
            assert!(limiter.allow(i));
            if i % 1000 == 999 {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
        assert!(limiter.len() <= 2 * MIN_SWEEP_LEN, "{}", limiter.len());
    }

    #[test]
    fn an_empty_bucket_survives_sweeps() {
        let limiter = RateLimiter::new(1, 1);
        assert!(limiter.allow(u32::MAX));
        assert!(!limiter.allow(u32::MAX));
        for i in 0..5 * MIN_SWEEP_LEN as u32 {
            limiter.allow(i);
        }
        // The drained bucket was not swept (it would have come back full).
        assert!(!limiter.allow(u32::MAX));
    }
}
