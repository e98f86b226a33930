//! Prometheus metrics: rounds by outcome, current epoch, round duration, partial requests by
//! outcome, peer errors by peer, protocol faults by operator and reason; in chain mode the chain
//! head and anchors by outcome.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The `outcome` label of the counters by outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    /// How it ended, e.g. `finalized`, `ok` or an error code.
    pub outcome: &'static str,
}

/// The `peer` label of `kms_node_peer_errors`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabel {
    /// The peer's operator address (0x-prefixed lowercase hex).
    pub peer: String,
}

/// The labels of `kms_node_faults`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FaultLabel {
    /// The culprit's operator address (0x-prefixed lowercase hex).
    pub operator: String,
    /// The fault's reason code (`Reject::code`).
    pub reason: &'static str,
}

/// The node's metrics and the registry they are exported from.
pub struct Metrics {
    registry: Registry,
    /// `kms_node_rounds`: rounds by outcome (finalized, failed, sat_out, caught_up).
    pub rounds: Family<Outcome, Counter>,
    /// `kms_node_epoch`: the latest finalized epoch held.
    pub epoch: Gauge,
    /// `kms_node_round_seconds`: seconds from a round's start to its finalization.
    pub round_seconds: Histogram,
    /// `kms_node_partial_requests`: app partial-signature requests by outcome (ok or the error
    /// code).
    pub partials: Family<Outcome, Counter>,
    /// `kms_node_peer_errors`: failed sends by peer, each retry counted.
    pub peer_errors: Family<PeerLabel, Counter>,
    /// `kms_node_chain_head`: in chain mode, the latest block the RPC reported.
    pub chain_head: Gauge,
    /// `kms_node_anchors`: in chain mode, anchor transactions by outcome (sent, already, failed).
    pub anchors: Family<Outcome, Counter>,
    /// `kms_node_faults`: protocol faults proven against an operator, by reason.
    pub faults: Family<FaultLabel, Counter>,
}

impl Metrics {
    /// Creates every metric at zero, registered under its name.
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
        let chain_head = Gauge::default();
        let anchors = Family::<Outcome, Counter>::default();
        registry.register(
            "kms_node_chain_head",
            "Chain mode: the latest block the RPC reported",
            chain_head.clone(),
        );
        registry.register(
            "kms_node_anchors",
            "Chain mode: anchor transactions by outcome (sent, already, failed)",
            anchors.clone(),
        );
        let faults = Family::<FaultLabel, Counter>::default();
        registry.register(
            "kms_node_faults",
            "Protocol faults proven against an operator (its signed message shows it), by reason",
            faults.clone(),
        );
        Self {
            registry,
            faults,
            chain_head,
            anchors,
            rounds,
            epoch,
            round_seconds,
            partials,
            peer_errors,
        }
    }

    /// Counts a round that ended with `outcome`.
    pub fn round(&self, outcome: &'static str) {
        self.rounds.get_or_create(&Outcome { outcome }).inc();
    }

    /// Counts an anchoring attempt that ended with `outcome`.
    pub fn anchor(&self, outcome: &'static str) {
        self.anchors.get_or_create(&Outcome { outcome }).inc();
    }

    /// Counts a fault proven against `operator`, under `reason`.
    pub fn fault(&self, operator: &str, reason: &'static str) {
        self.faults
            .get_or_create(&FaultLabel {
                operator: operator.to_string(),
                reason,
            })
            .inc();
    }

    /// Counts a partial request that ended with `outcome`.
    pub fn partial(&self, outcome: &'static str) {
        self.partials.get_or_create(&Outcome { outcome }).inc();
    }

    /// Counts one failed send to `peer`.
    pub fn peer_error(&self, peer: &str) {
        self.peer_errors
            .get_or_create(&PeerLabel {
                peer: peer.to_string(),
            })
            .inc();
    }

    /// Every metric in the OpenMetrics text format.
    pub fn render(&self) -> String {
        kms_http::render(&self.registry)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
