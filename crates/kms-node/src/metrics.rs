//! Prometheus metrics: rounds by outcome, current epoch, round duration, partial requests by
//! outcome, peer errors by peer.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabel {
    pub peer: String,
}

pub struct Metrics {
    registry: Registry,
    pub rounds: Family<Outcome, Counter>,
    pub epoch: Gauge,
    pub round_seconds: Histogram,
    pub partials: Family<Outcome, Counter>,
    pub peer_errors: Family<PeerLabel, Counter>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let rounds = Family::<Outcome, Counter>::default();
        let epoch = Gauge::default();
        let round_seconds = Histogram::new(exponential_buckets(0.05, 2.0, 14));
        let partials = Family::<Outcome, Counter>::default();
        let peer_errors = Family::<PeerLabel, Counter>::default();
        registry.register(
            "kms_node_rounds",
            "Rounds by outcome (finalized, failed, caught_up)",
            rounds.clone(),
        );
        registry.register("kms_node_epoch", "Latest finalized epoch", epoch.clone());
        registry.register(
            "kms_node_round_seconds",
            "Time from a round's start to its finalization",
            round_seconds.clone(),
        );
        registry.register(
            "kms_node_partial_requests",
            "App partial-signature requests by outcome (ok or the error code)",
            partials.clone(),
        );
        registry.register(
            "kms_node_peer_errors",
            "Failed sends to a peer (each retry counts)",
            peer_errors.clone(),
        );
        Self {
            registry,
            rounds,
            epoch,
            round_seconds,
            partials,
            peer_errors,
        }
    }

    pub fn round(&self, outcome: &'static str) {
        self.rounds.get_or_create(&Outcome { outcome }).inc();
    }

    pub fn partial(&self, outcome: &'static str) {
        self.partials.get_or_create(&Outcome { outcome }).inc();
    }

    pub fn peer_error(&self, peer: &str) {
        self.peer_errors
            .get_or_create(&PeerLabel {
                peer: peer.to_string(),
            })
            .inc();
    }

    pub fn render(&self) -> String {
        kms_service::render(&self.registry)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
