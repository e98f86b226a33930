//! Prometheus metrics: requests by route and status, signing latency, keys by state.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of `kms_signer_requests`: the matched route and the answer's status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The matched route pattern (e.g. `/v1/keys/{eoa}/sign`), or `unmatched`.
    pub route: String,
    /// The answer's HTTP status code.
    pub status: u16,
}

/// Labels of `kms_signer_keys`: a version state.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    /// `active`, `grace` or `retired`.
    pub state: &'static str,
}

/// The service's metrics and the registry they are exported from.
pub struct Metrics {
    registry: Registry,
    /// `kms_signer_requests` (exported as `kms_signer_requests_total`): HTTP requests by route and
    /// status, unmatched routes included.
    pub requests: Family<RouteLabels, Counter>,
    /// `kms_signer_signing_seconds`: time to authenticate, record and compute a signature or
    /// scalar multiplication (the sign and scalar-mul routes and their legacy aliases).
    pub signing_seconds: Histogram,
    /// `kms_signer_keys`: key versions by state.
    pub keys: Family<StateLabels, Gauge>,
    /// `kms_signer_unauthenticated` (exported with `_total`): requests refused before any
    /// credential verified (an unknown or malformed API key). They are counted here and not
    /// written to the audit log one by one, so a flood of them costs the service no disk.
    pub unauthenticated: Counter,
}

impl Metrics {
    /// The metrics, registered in a new registry.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RouteLabels, Counter>::default();
        let signing_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        let keys = Family::<StateLabels, Gauge>::default();
        registry.register(
            "kms_signer_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "kms_signer_signing_seconds",
            "Time to authenticate, record and compute a signature",
            signing_seconds.clone(),
        );
        registry.register("kms_signer_keys", "Key versions by state", keys.clone());
        let unauthenticated = Counter::default();
        registry.register(
            "kms_signer_unauthenticated",
            "Requests refused before any credential verified (not audited one by one)",
            unauthenticated.clone(),
        );
        Self {
            registry,
            requests,
            signing_seconds,
            keys,
            unauthenticated,
        }
    }

    /// Sets `kms_signer_keys` from (active, grace, retired) counts, as `KeyRing::counts` returns.
    pub fn set_keys(&self, (active, grace, retired): (u64, u64, u64)) {
        for (state, n) in [("active", active), ("grace", grace), ("retired", retired)] {
            self.keys
                .get_or_create(&StateLabels { state })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// The metrics in the OpenMetrics text format, for `/metrics`.
    pub fn render(&self) -> String {
        kms_http::render(&self.registry)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
