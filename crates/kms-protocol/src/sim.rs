//! In-memory cluster simulation: n nodes from one seed, rounds run phase by phase over a network
//! that carries bytes, with a hook to drop, alter or inject messages. Used by the tests, the fuzz
//! target and the benches; deterministic for a seed (the transcript is the ordered list of
//! delivered messages). [`plan`] adds fault plans (every fault of the issue, signed by the faulty
//! node itself) and a driver that batches deliveries and restarts crashed nodes from their saved
//! state; [`scenario`] adds random plans and the properties checked after every round.

pub mod plan;
pub mod scenario;

use crate::message::Envelope;
use crate::observe::Output;
use crate::round::{Operator, RoundConfig};
use crate::{Address, Dealer, Player};
use kms_crypto::bls::{EvalPoint, SecretScalar};
use kms_crypto::seal::EncryptionKey;
use kms_crypto::{bn254, Secret};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One simulated operator: its keys and what it holds between rounds.
pub struct SimNode {
    pub operator: Operator,
    pub key: Arc<bn254::SecretKey>,
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

/// Where a message is in the round, for fault hooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Deal,
    Acks,
    Log,
    Agreement(u32),
}

/// A delivery about to happen. The hook may drop it (return None) or return other bytes.
pub struct Delivery<'a> {
    pub phase: Phase,
    pub from: Address,
    pub to: Address,
    pub bytes: &'a [u8],
}

/// Network behaviour for one round.
pub trait Network {
    /// Decides what `to` receives for one message (`None`: dropped).
    fn deliver(&mut self, d: &Delivery<'_>) -> Option<Vec<u8>> {
        Some(d.bytes.to_vec())
    }
    /// Whether a node takes part at all in this phase (offline or crashed nodes do not).
    fn online(&mut self, _node: &Address, _phase: Phase) -> bool {
        true
    }
    /// Extra messages a faulty node injects at the start of a phase, as (from, to, bytes).
    fn inject(&mut self, _phase: Phase) -> Vec<(Address, Address, Vec<u8>)> {
        Vec::new()
    }
    /// Lets a faulty dealer replace its deals before they are sent.
    fn tamper_deals(&mut self, _dealer: &Address, deals: Vec<Envelope>) -> Vec<Envelope> {
        deals
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
    /// Attempts used (1 = first leader succeeded).
    pub attempts: u32,
}

/// Runs one round among `nodes` (all nodes named in `cfg` must be present). Nodes that are
/// dealers of a reshare deal from their current share.
pub fn run_round(
    cfg: &Arc<RoundConfig>,
    nodes: &mut [SimNode],
    net: &mut dyn Network,
    max_attempts: u32,
) -> RoundResult {
    let mut res = RoundResult {
        outputs: BTreeMap::new(),
        transcript: Vec::new(),
        rejects: Vec::new(),
        attempts: 0,
    };
    let mut players: BTreeMap<Address, Player> = BTreeMap::new();
    let mut dealers: BTreeMap<Address, Dealer> = BTreeMap::new();
    for n in nodes.iter() {
        if cfg.player_index(&n.address()).is_some() {
            if let Ok(p) = Player::new(cfg.clone(), n.address(), n.key.clone(), n.enc.clone()) {
                players.insert(n.address(), p);
            }
        }
    }

    // Deal.
    let mut outbox: Vec<(Address, Envelope)> = Vec::new();
    for n in nodes.iter() {
        if cfg.dealer_index(&n.address()).is_none() || !net.online(&n.address(), Phase::Deal) {
            continue;
        }
        let share = if cfg.previous.is_some() {
            n.share()
        } else {
            None
        };
        if let Ok((d, deals)) = Dealer::new(cfg.clone(), n.address(), n.key.clone(), &n.seed, share)
        {
            for env in net.tamper_deals(&n.address(), deals) {
                outbox.push((n.address(), env));
            }
            dealers.insert(n.address(), d);
        }
    }
    flush(
        cfg,
        Phase::Deal,
        outbox,
        &mut players,
        &mut dealers,
        net,
        &mut res,
    );

    // Acks.
    let mut outbox = Vec::new();
    for (a, p) in players.iter_mut() {
        if net.online(a, Phase::Acks) {
            outbox.push((*a, p.end_deals()));
        }
    }
    flush(
        cfg,
        Phase::Acks,
        outbox,
        &mut players,
        &mut dealers,
        net,
        &mut res,
    );

    // Logs.
    let mut outbox = Vec::new();
    for (a, d) in dealers.iter() {
        if net.online(a, Phase::Log) {
            if let Some(l) = d.log() {
                outbox.push((*a, l));
            }
        }
    }
    flush(
        cfg,
        Phase::Log,
        outbox,
        &mut players,
        &mut dealers,
        net,
        &mut res,
    );

    // Agreement attempts until every online player holds a certificate.
    for attempt in 0..max_attempts {
        res.attempts = attempt + 1;
        let phase = Phase::Agreement(attempt);
        let mut outbox = Vec::new();
        for (a, p) in players.iter_mut() {
            if net.online(a, phase) {
                outbox.push((*a, p.start_attempt(attempt)));
            }
        }
        flush(
            cfg,
            phase,
            outbox,
            &mut players,
            &mut dealers,
            net,
            &mut res,
        );
        let leader = cfg.leader(attempt);
        let mut outbox = Vec::new();
        if net.online(&leader, phase) {
            if let Some(p) = players.get_mut(&leader) {
                for env in p.propose() {
                    outbox.push((leader, env));
                }
            }
        }
        flush(
            cfg,
            phase,
            outbox,
            &mut players,
            &mut dealers,
            net,
            &mut res,
        );
        let done = players
            .iter()
            .filter(|(a, _)| net.online(a, phase))
            .all(|(_, p)| p.certificate().is_some());
        if done {
            break;
        }
    }

    for (a, p) in players.iter_mut() {
        if let Ok(out) = p.finalize() {
            res.outputs.insert(*a, out);
        }
    }
    res
}

/// Queues `env` from `from` as wire bytes: to its recipient, or to everyone for a broadcast.
pub(crate) fn push_wire(
    wire: &mut Vec<(Address, Address, Vec<u8>)>,
    from: Address,
    env: &Envelope,
    everyone: &[Address],
) {
    let bytes = env.encode();
    match env.raw.recipient {
        Some(r) => wire.push((from, r, bytes)),
        None => wire.extend(everyone.iter().map(|to| (from, *to, bytes.clone()))),
    }
}

/// Delivers messages (and whatever they trigger) until nothing is left to send.
fn flush(
    cfg: &Arc<RoundConfig>,
    phase: Phase,
    mut outbox: Vec<(Address, Envelope)>,
    players: &mut BTreeMap<Address, Player>,
    dealers: &mut BTreeMap<Address, Dealer>,
    net: &mut dyn Network,
    res: &mut RoundResult,
) {
    let mut injected: Vec<(Address, Address, Vec<u8>)> = net.inject(phase);
    let everyone = cfg.members();
    while !outbox.is_empty() || !injected.is_empty() {
        let mut wire: Vec<(Address, Address, Vec<u8>)> = std::mem::take(&mut injected);
        for (from, env) in outbox.drain(..) {
            push_wire(&mut wire, from, &env, &everyone);
        }
        for (from, to, bytes) in wire {
            if !net.online(&to, phase) {
                continue;
            }
            let Some(bytes) = net.deliver(&Delivery {
                phase,
                from,
                to,
                bytes: &bytes,
            }) else {
                continue;
            };
            res.transcript.push((phase, from, to, bytes.clone()));
            if let Some(p) = players.get_mut(&to) {
                for r in p.receive(&[&bytes]) {
                    match r {
                        Ok(rcv) => {
                            if let Some(d) = dealers.get_mut(&to) {
                                if matches!(rcv.envelope.body, crate::Body::Acks(_)) {
                                    if let Err(e) = d.handle_acks(&rcv.envelope) {
                                        res.rejects.push((to, e));
                                    }
                                }
                            }
                            outbox.extend(rcv.outgoing.into_iter().map(|e| (to, e)));
                        }
                        Err(e) => res.rejects.push((to, e)),
                    }
                }
            } else if let Some(d) = dealers.get_mut(&to) {
                // A dealer that is not a player of this round (leaving in a reshare).
                let mut inbox = crate::Inbox::new(cfg.clone(), to);
                for r in inbox.accept(&[&bytes]) {
                    match r {
                        Ok(env) if matches!(env.body, crate::Body::Acks(_)) => {
                            if let Err(e) = d.handle_acks(&env) {
                                res.rejects.push((to, e));
                            }
                        }
                        Ok(_) => {}
                        Err(e) => res.rejects.push((to, e)),
                    }
                }
            }
        }
    }
}
