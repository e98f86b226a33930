//! In-memory cluster simulation: n nodes from one seed, each running the node's own round
//! lifecycle ([`crate::lifecycle::RoundDriver`]) on a virtual clock over a network that carries
//! bytes, with hooks to drop, alter or inject messages, crash nodes and fail their writes. Used
//! by the tests, the fuzz target and the benches; deterministic for a seed (the transcript is
//! the ordered list of delivered messages). [`plan`] adds fault plans (every fault of the issue,
//! signed by the faulty node itself); [`scenario`] adds random plans and the properties checked
//! after every round.

mod exec;
pub mod forge;
pub mod plan;
pub mod scenario;

pub use exec::Restart;

use crate::lifecycle::{Schedule, ACKS_END, DEALS_END, LOGS_END};
use crate::message::{Envelope, Kind, RawEnvelope};
use crate::observe::Output;
use crate::round::{Operator, RoundConfig};
use crate::Address;
use kms_crypto::bls::{EvalPoint, SecretScalar, Share};
use kms_crypto::seal::EncryptionKey;
use kms_crypto::{bn254, Secret};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One simulated operator: its keys and what it holds between rounds.
pub struct SimNode {
    /// What rounds name it by: address, evaluation point and public keys.
    pub operator: Operator,
    /// Its BN254 secret key, which signs its messages and votes.
    pub key: Arc<bn254::SecretKey>,
    /// Its X25519 secret key, which opens the shares sealed to it.
    pub enc: Arc<EncryptionKey>,
    /// The persisted dealer seed.
    pub seed: Secret<[u8; 32]>,
    /// The latest finalized output with this node's share.
    pub output: Option<Output>,
}

impl SimNode {
    /// Deterministic keys from `rng`; `id` is the operator id (evaluation point), non-zero and
    /// unique in the cluster.
    pub fn generate(rng: &mut ChaCha20Rng, id: u64) -> Self {
        let key = bn254::SecretKey::random(rng);
        let enc = EncryptionKey::random(rng);
        let mut address = [0u8; 20];
        rng.fill_bytes(&mut address);
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let point = EvalPoint::from_index(id).unwrap_or_else(|_| zero_id());
        let operator = Operator::new(
            address,
            point,
            key.public_g1(),
            key.public_g2(),
            enc.public(),
        );
        Self {
            operator,
            key: Arc::new(key),
            enc: Arc::new(enc),
            seed: Secret::new(seed),
            output: None,
        }
    }

    /// Its operator's address.
    pub fn address(&self) -> Address {
        self.operator.address
    }

    /// This node's current share, if it holds one.
    pub fn share(&self) -> Option<&Secret<SecretScalar>> {
        self.output.as_ref()?.share.as_ref().map(|s| &s.value)
    }
}

// Simulation set-up: ids come from counters starting at 1.
#[allow(clippy::panic)]
fn zero_id() -> EvalPoint {
    panic!("operator id 0 is not a valid evaluation point")
}

/// A seeded RNG for a labelled purpose.
pub fn rng_for(seed: u64, label: &str) -> ChaCha20Rng {
    let d: [u8; 32] = Sha256::new()
        .chain_update(b"KMS_SIM_V1")
        .chain_update(seed.to_be_bytes())
        .chain_update(label.as_bytes())
        .finalize()
        .into();
    ChaCha20Rng::from_seed(d)
}

/// Where a message is in the round (for fault hooks and transcripts): its kind's phase, and for
/// agreement messages their attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Deals (and bytes that do not parse); by the clock, until `DEALS_END`.
    Deal,
    /// `Acks` messages; by the clock, until `ACKS_END`.
    Acks,
    /// Dealer logs; by the clock, until `LOGS_END`.
    Log,
    /// Agreement messages and certificates of this attempt; by the clock, its slot.
    Agreement(u32),
}

/// The phase of a message, from its kind (and attempt). Bytes that do not parse count as deals.
pub fn message_phase(bytes: &[u8]) -> Phase {
    let Ok(h) = RawEnvelope::peek(bytes) else {
        return Phase::Deal;
    };
    match h.kind {
        Kind::Deal => Phase::Deal,
        Kind::Acks => Phase::Acks,
        Kind::Log => Phase::Log,
        _ => Phase::Agreement(attempt_of(&h).unwrap_or(0)),
    }
}

/// The attempt an agreement message names: the first four bytes of its body for every kind but
/// the quorum certificates, whose attempt follows their 32-byte round.
fn attempt_of(h: &crate::message::Header<'_>) -> Option<u32> {
    let at = match h.kind {
        Kind::Prepared | Kind::Certificate => 32,
        Kind::Status | Kind::Proposal | Kind::Prevote | Kind::Precommit => 0,
        _ => return None,
    };
    let b: [u8; 4] = h.body.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

/// The phase the clock is in at `now` (nominal times).
pub fn phase_at(cfg: &RoundConfig, s: &Schedule, now: std::time::Duration) -> Phase {
    if now < s.at(DEALS_END) {
        Phase::Deal
    } else if now < s.at(ACKS_END) {
        Phase::Acks
    } else if now < s.at(LOGS_END) {
        Phase::Log
    } else {
        Phase::Agreement(s.attempt_at(cfg, now))
    }
}

/// A delivery about to happen. The hook may drop it (return None) or return other bytes.
pub struct Delivery<'a> {
    /// The message's phase, read from its header ([`message_phase`]).
    pub phase: Phase,
    /// The sending node (for an injected message, the sender [`Network::inject`] named).
    pub from: Address,
    /// The receiving node.
    pub to: Address,
    /// The message as sent.
    pub bytes: &'a [u8],
}

/// Network (and disk) behaviour for one round.
pub trait Network {
    /// Decides what `to` receives for one message (`None`: dropped).
    fn deliver(&mut self, d: &Delivery<'_>) -> Option<Vec<u8>> {
        Some(d.bytes.to_vec())
    }
    /// Whether `node` goes down as its round reaches `phase` (for `Phase::Deal`: at the start).
    fn goes_down(&mut self, _node: &Address, _phase: Phase) -> bool {
        false
    }
    /// The phase whose nominal start brings a node that went down back (`None`: it stays down).
    fn back_at(&self, _node: &Address) -> Option<Phase> {
        None
    }
    /// Whether a node that goes down loses its memory (and comes back from its disk).
    fn restarts(&self, _node: &Address) -> bool {
        false
    }
    /// Whether `node`'s write number `n` (from 0) fails.
    fn write_fails(&mut self, _node: &Address, _n: u64) -> bool {
        false
    }
    /// More bytes for the same recipient right after a delivery (an equivocating sender's
    /// second message).
    fn extra_after(&mut self, _d: &Delivery<'_>) -> Vec<Vec<u8>> {
        Vec::new()
    }
    /// Extra messages injected at the nominal start of a phase, as (from, to, bytes).
    fn inject(&mut self, _phase: Phase) -> Vec<(Address, Address, Vec<u8>)> {
        Vec::new()
    }
    /// Shows a dealer's honest deals (at its first start), so a faulty one can craft its own.
    fn tamper_deals(&mut self, _dealer: &Address, deals: Vec<Envelope>) -> Vec<Envelope> {
        deals
    }
    /// Whether phases end as soon as everything expected is in (the node's default).
    fn early(&self) -> bool {
        true
    }
    /// Whether `inject` has anything to add later (the round then runs to its last phase).
    fn injects(&self) -> bool {
        false
    }
}

/// A network that delivers everything.
pub struct Perfect;
impl Network for Perfect {}

/// What a round produced.
pub struct RoundResult {
    /// Outputs of the players that finalized, by address.
    pub outputs: BTreeMap<Address, Output>,
    /// Every delivered message in order: (phase, from, to, bytes).
    pub transcript: Vec<(Phase, Address, Address, Vec<u8>)>,
    /// Every rejection seen, with the receiving node.
    pub rejects: Vec<(Address, crate::Reject)>,
    /// Attempts used: one more than the highest attempt a player reached.
    pub attempts: u32,
}

/// The interval simulated rounds run in (virtual time; only ratios matter).
pub const SIM_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs one round among `nodes` (all nodes named in `cfg` must be present) with every node's
/// real lifecycle on a virtual clock. Nodes that are dealers of a reshare deal from their
/// current share. `max_attempts` is kept for callers; the round's own `attempts()` bound it.
pub fn run_round(
    cfg: &Arc<RoundConfig>,
    nodes: &mut [SimNode],
    net: &mut dyn Network,
    _max_attempts: u32,
) -> RoundResult {
    let schedule = Schedule {
        interval: SIM_INTERVAL,
        early: net.early(),
    };
    let mut exec = exec::Exec::new(cfg.clone(), schedule, net, exec_nodes(cfg, nodes));
    exec.run();
    let attempts = exec
        .nodes
        .values()
        .filter_map(|n| n.driver())
        .map(|d| d.attempt() + 1)
        .max()
        .unwrap_or(0);
    RoundResult {
        outputs: exec.res.outputs,
        transcript: exec.res.transcript,
        rejects: exec.res.rejects,
        attempts,
    }
}

/// The executor's view of the round's members among `nodes`.
fn exec_nodes(cfg: &RoundConfig, nodes: &[SimNode]) -> BTreeMap<Address, exec::ExecNode> {
    let members = cfg.members();
    nodes
        .iter()
        .filter(|n| members.contains(&n.address()))
        .map(|n| {
            let share = cfg
                .previous
                .as_ref()
                .and(n.output.as_ref())
                .and_then(|o| o.share.as_ref())
                .map(|s| Share {
                    point: s.point,
                    value: s.value.duplicate(),
                });
            (
                n.address(),
                exec::ExecNode::new(n.key.clone(), n.enc.clone(), n.seed.duplicate(), share),
            )
        })
        .collect()
}
