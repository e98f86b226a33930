//! Prometheus metrics: requests by route and status, signing latency, keys by state.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RouteLabels, Counter>,
    pub signing_seconds: Histogram,
    pub keys: Family<StateLabels, Gauge>,
}

impl Metrics {
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
        Self {
            registry,
            requests,
            signing_seconds,
            keys,
        }
    }

    pub fn set_keys(&self, (active, grace, retired): (u64, u64, u64)) {
        for (state, n) in [("active", active), ("grace", grace), ("retired", retired)] {
            self.keys
                .get_or_create(&StateLabels { state })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    pub fn render(&self) -> String {
        kms_http::render(&self.registry)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
