//! Fault plans: what each node does wrong in one round, a [`PlanNetwork`] that carries those
//! faults out (dropping, rewriting and injecting signed bytes, with the faulty nodes' own keys so
//! that a faulty message is *signed* by its faulty sender; crashing nodes as their round reaches
//! a phase and bringing them back from their disk), and [`run`], which runs the round with every
//! node's real lifecycle (`sim::exec`) and then lets players that did not finalize catch up.
//!
//! Faults are chosen so that each one is attributable: a faulty dealer signs its own bad bytes,
//! so honest nodes can name it; an honest node is never the sender of a bad message.

use super::exec::{Exec, ExecResult};
use super::forge::{self, EpochClaim, Forgery, Target};
use super::{exec_nodes, Delivery, Network, Phase, Restart, RoundResult, SimNode, SIM_INTERVAL};
use crate::adopt::{self, Anchoring, Latest, View};
use crate::check::share_aad;
use crate::codec::Writer;
use crate::lifecycle::Schedule;
use crate::message::{
    keccak, Body, CommitmentCache, DealerLog, DealerSet, Envelope, Kind, PrepareQc, RawEnvelope,
    Reveal,
};
use crate::observe::{observe, Output};
use crate::round::RoundConfig;
use crate::{Address, ObserveError};
use kms_crypto::bls::{Polynomial, SecretScalar};
use kms_crypto::seal::{seal, Sealed};
use kms_crypto::{bn254, Secret};
use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha20Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

/// Delivered messages in order: (phase, from, to, bytes), as in [`RoundResult::transcript`].
pub type Transcript = Vec<(Phase, Address, Address, Vec<u8>)>;

/// Phases in round order: Deal < Acks < Log < Agreement(0) < Agreement(1) < ...
pub fn rank(p: Phase) -> u64 {
    match p {
        Phase::Deal => 0,
        Phase::Acks => 1,
        Phase::Log => 2,
        Phase::Agreement(a) => 3 + u64::from(a),
    }
}

mod faults;
pub use faults::*;

/// A compressed G2 encoding of an on-curve point outside the prime-order subgroup.
pub fn off_subgroup_g2() -> [u8; 96] {
    static P: OnceLock<[u8; 96]> = OnceLock::new();
    *P.get_or_init(|| {
        let mut x: u64 = 1;
        loop {
            let mut bytes = [0u8; 96];
            let (head, tail) = bytes.split_at_mut(88);
            tail.copy_from_slice(&x.to_be_bytes());
            if let Some(b) = head.first_mut() {
                *b |= 0x80;
            }
            let p: Option<blstrs::G2Affine> =
                blstrs::G2Affine::from_compressed_unchecked(&bytes).into();
            if p.is_some_and(|p| !bool::from(p.is_torsion_free())) {
                return bytes;
            }
            x += 1;
        }
    })
}

/// The compressed encoding of the G2 identity.
pub fn identity_g2() -> [u8; 96] {
    let mut b = [0u8; 96];
    if let Some(f) = b.first_mut() {
        *f = 0xc0;
    }
    b
}

fn deal_body(commitment: &[u8], sealed: &Sealed) -> Vec<u8> {
    let mut w = Writer::default();
    w.bytes(commitment).bytes(&sealed.to_bytes());
    w.finish()
}

fn random_secret(rng: &mut ChaCha20Rng) -> Secret<[u8; 32]> {
    let mut s = Secret::new([0u8; 32]);
    s.expose_mut(|b| rng.fill_bytes(b));
    s
}

/// A canonical scalar that is (with overwhelming probability) nobody's share.
fn random_scalar_bytes(rng: &mut ChaCha20Rng) -> [u8; 32] {
    let mut b = [0u8; 32];
    rng.fill_bytes(&mut b);
    if let Some(f) = b.first_mut() {
        *f = 0;
    }
    b
}

fn player_op<'c>(cfg: &'c RoundConfig, a: &Address) -> Option<(usize, &'c crate::Operator)> {
    let i = cfg.player_index(a)?;
    Some((i, cfg.players.get(i)?))
}

/// What a faulty node holds so that it can sign its faults.
struct Faulty {
    key: Arc<bn254::SecretKey>,
    share: Option<Secret<SecretScalar>>,
}

/// A network that carries out a [`FaultPlan`]. Also usable with [`super::run_round`] for every
/// fault but restarts and log catch-up.
pub struct PlanNetwork {
    cfg: Arc<RoundConfig>,
    plan: FaultPlan,
    faulty: BTreeMap<Address, Faulty>,
    rng: ChaCha20Rng,
    /// (dealer, recipient) -> replacement deal bytes (`None`: dropped).
    deals: BTreeMap<(Address, Address), Option<Vec<u8>>>,
    /// Dealer -> (player index, sealed share, ephemeral) to patch into its log.
    log_patch: BTreeMap<Address, (usize, Sealed, [u8; 32])>,
    /// Rewritten logs by dealer.
    logs: BTreeMap<Address, Vec<u8>>,
    /// Injections crafted at deal time: (phase, from, to, bytes).
    extra: Transcript,
    /// Crafted proposals by (leader, attempt, full?).
    proposals: BTreeMap<(Address, u32, bool), Option<Vec<u8>>>,
    /// Everything delivered so far (for stale re-deliveries).
    seen: Transcript,
    everyone: Vec<Address>,
    /// Nodes that went down: when they come back and whether they restart.
    downed: BTreeMap<Address, (Option<Phase>, bool)>,
}

impl PlanNetwork {
    /// `nodes` must hold every faulty node of the plan (their keys sign the faults).
    pub fn new(cfg: Arc<RoundConfig>, nodes: &[SimNode], plan: FaultPlan) -> Self {
        let faulty = nodes
            .iter()
            .filter(|n| plan.node(&n.address()).is_some_and(NodePlan::is_byzantine))
            .map(|n| {
                (
                    n.address(),
                    Faulty {
                        key: n.key.clone(),
                        share: n.share().map(Secret::duplicate),
                    },
                )
            })
            .collect();
        let everyone = cfg.members();
        Self {
            rng: super::rng_for(plan.seed, "plan-network"),
            cfg,
            plan,
            faulty,
            deals: BTreeMap::new(),
            log_patch: BTreeMap::new(),
            logs: BTreeMap::new(),
            extra: Vec::new(),
            proposals: BTreeMap::new(),
            seen: Vec::new(),
            everyone,
            downed: BTreeMap::new(),
        }
    }

    /// A network without faults.
    pub fn perfect(cfg: Arc<RoundConfig>, max_attempts: u32) -> Self {
        Self::new(cfg, &[], FaultPlan::new(0, max_attempts))
    }

    /// The plan it carries out.
    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// The round it carries the plan out in.
    pub fn config(&self) -> &Arc<RoundConfig> {
        &self.cfg
    }

    /// The first attempt that `node` leads.
    fn first_lead(&self, node: &Address) -> Option<u32> {
        (0..self.cfg.attempts()).find(|a| self.cfg.leader(*a) == *node)
    }

    fn leader_fault(&self, node: &Address) -> Option<&LeaderFault> {
        self.plan.node(node).and_then(|p| p.leader.as_ref())
    }

    fn dealer_fault(&self, node: &Address) -> Option<&DealerFault> {
        self.plan.node(node).and_then(|p| p.dealer.as_ref())
    }

    /// Crafts a faulty dealer's deals (and log) from its honest ones.
    fn craft_deals(&mut self, dealer: &Address, honest: &[Envelope]) {
        let Some(fault) = self.dealer_fault(dealer).cloned() else {
            return;
        };
        let Some(f) = self.faulty.get(dealer) else {
            return;
        };
        let key = f.key.clone();
        let share = f.share.as_ref().map(Secret::duplicate);
        let cfg = self.cfg.clone();
        let round = cfg.digest();
        let t = cfg.threshold;
        let honest_deal = |to: &Address| -> Option<(&Envelope, &crate::Deal)> {
            honest
                .iter()
                .find(|e| e.raw.recipient == Some(*to))
                .and_then(|e| match &e.body {
                    Body::Deal(d) => Some((e, d)),
                    _ => None,
                })
        };
        let commitment_bytes = honest
            .iter()
            .find_map(|e| match &e.body {
                Body::Deal(d) => Some(d.commitment.to_bytes()),
                _ => None,
            })
            .unwrap_or_default();
        let poly = |deg: usize, rng: &mut ChaCha20Rng| match &share {
            Some(s) => Polynomial::with_constant(s, deg, rng),
            None => Polynomial::random(deg, rng),
        };
        match fault {
            DealerFault::BadShare { to } | DealerFault::WrongSeal { to, .. } => {
                let sealed_for = match &fault {
                    DealerFault::WrongSeal { sealed_for, .. } => *sealed_for,
                    _ => to,
                };
                let (Some((p, _)), Some((_, target)), Some((_, d))) = (
                    player_op(&cfg, &to),
                    player_op(&cfg, &sealed_for),
                    honest_deal(&to),
                ) else {
                    return;
                };
                let eph = random_secret(&mut self.rng);
                let value = random_scalar_bytes(&mut self.rng);
                let Ok(sealed) = seal(
                    &target.enc,
                    &value,
                    &share_aad(&round, dealer, &sealed_for),
                    &eph,
                ) else {
                    return;
                };
                let raw = RawEnvelope::sign(
                    round,
                    *dealer,
                    Some(to),
                    Kind::Deal,
                    deal_body(&d.commitment.to_bytes(), &sealed),
                    &key,
                );
                self.deals.insert((*dealer, to), Some(raw.encode()));
                self.log_patch
                    .insert(*dealer, (p, sealed, eph.expose(|e| *e)));
            }
            DealerFault::Equivocate { others } => {
                let Ok(poly2) = poly(t, &mut self.rng) else {
                    return;
                };
                let c2 = poly2.commit().to_bytes();
                for o in others {
                    let Some((i, op)) = player_op(&cfg, &o) else {
                        continue;
                    };
                    let Some(point) = cfg.player_point(i) else {
                        continue;
                    };
                    let eph = random_secret(&mut self.rng);
                    let s = poly2.evaluate(&point);
                    let plain = s.value.expose(|v| v.to_bytes());
                    let Ok(sealed) =
                        plain.expose(|b| seal(&op.enc, b, &share_aad(&round, dealer, &o), &eph))
                    else {
                        continue;
                    };
                    let raw = RawEnvelope::sign(
                        round,
                        *dealer,
                        Some(o),
                        Kind::Deal,
                        deal_body(&c2, &sealed),
                        &key,
                    );
                    self.deals.insert((*dealer, o), Some(raw.encode()));
                }
            }
            DealerFault::WrongDegree => {
                let Ok(poly) = poly(t + 1, &mut self.rng) else {
                    return;
                };
                let commitment = poly.commit();
                let cbytes = commitment.to_bytes();
                let mut shares = Vec::new();
                let mut reveals = Vec::new();
                for (i, op) in cfg.players.iter().enumerate() {
                    let Some(point) = cfg.player_point(i) else {
                        continue;
                    };
                    let eph = random_secret(&mut self.rng);
                    let s = poly.evaluate(&point);
                    let plain = s.value.expose(|v| v.to_bytes());
                    let Ok(sealed) = plain.expose(|b| {
                        seal(&op.enc, b, &share_aad(&round, dealer, &op.address), &eph)
                    }) else {
                        return;
                    };
                    let raw = RawEnvelope::sign(
                        round,
                        *dealer,
                        Some(op.address),
                        Kind::Deal,
                        deal_body(&cbytes, &sealed),
                        &key,
                    );
                    self.deals.insert((*dealer, op.address), Some(raw.encode()));
                    shares.push(sealed);
                    reveals.push(Reveal {
                        player: u16::try_from(i).unwrap_or(u16::MAX),
                        share: plain.expose(|b| *b),
                        ephemeral: eph.expose(|e| *e),
                    });
                }
                let log = Envelope::sign(
                    round,
                    *dealer,
                    None,
                    Body::Log(DealerLog {
                        commitment_hash: keccak(&cbytes),
                        commitment,
                        shares,
                        acks: Vec::new(),
                        reveals,
                    }),
                    &key,
                );
                self.push_log(*dealer, log.encode());
            }
            DealerFault::IdentityPoint { index } | DealerFault::OffSubgroup { index } => {
                let bad = match fault {
                    DealerFault::IdentityPoint { .. } => identity_g2(),
                    _ => off_subgroup_g2(),
                };
                let slot = index % t.max(1);
                let cbytes: Vec<u8> = commitment_bytes
                    .chunks(96)
                    .enumerate()
                    .flat_map(|(i, c)| if i == slot { bad.to_vec() } else { c.to_vec() })
                    .collect();
                let mut sealed_all = Vec::new();
                for op in &cfg.players {
                    let Some((_, d)) = honest_deal(&op.address) else {
                        return;
                    };
                    let raw = RawEnvelope::sign(
                        round,
                        *dealer,
                        Some(op.address),
                        Kind::Deal,
                        deal_body(&cbytes, &d.share),
                        &key,
                    );
                    self.deals.insert((*dealer, op.address), Some(raw.encode()));
                    sealed_all.push(d.share.clone());
                }
                // A log with the same commitment bytes: it fails to decode too.
                let mut w = Writer::default();
                w.bytes(&cbytes).count(sealed_all.len());
                for s in &sealed_all {
                    w.bytes(&s.to_bytes());
                }
                w.count(0).count(0);
                let raw = RawEnvelope::sign(round, *dealer, None, Kind::Log, w.finish(), &key);
                self.push_log(*dealer, raw.encode());
            }
            DealerFault::Withhold { to } => {
                self.deals.insert((*dealer, to), None);
            }
            DealerFault::Misaddressed { to, instead } => {
                if let Some((e, _)) = honest_deal(&to) {
                    self.extra.push((Phase::Deal, *dealer, instead, e.encode()));
                }
                self.deals.insert((*dealer, to), None);
            }
        }
    }

    /// A second proposal for the same attempt from the same leader: its set cut to the minimum,
    /// or with one log hash changed when that is the same set.
    fn second_proposal(&mut self, raw: &RawEnvelope) -> Option<Vec<u8>> {
        let env = raw.clone().open(&mut CommitmentCache::default()).ok()?;
        let Body::Proposal { attempt, set, .. } = env.body else {
            return None;
        };
        let mut other = DealerSet {
            included: set
                .included
                .iter()
                .take(self.cfg.min_dealings())
                .cloned()
                .collect(),
            excluded: set.excluded.clone(),
        };
        if other == set {
            if let Some(first) = other.included.first_mut() {
                first.1 = keccak(b"another log");
            }
        }
        let key = self.faulty.get(&raw.sender)?.key.clone();
        let body = Body::Proposal {
            attempt,
            set: other,
            justify: None,
        };
        Some(Envelope::sign(raw.round, raw.sender, None, body, &key).encode())
    }

    /// A second status for the same attempt: the same lock and evidence, no log held.
    fn second_status(&mut self, raw: &RawEnvelope) -> Option<Vec<u8>> {
        let env = raw.clone().open(&mut CommitmentCache::default()).ok()?;
        let Body::Status {
            attempt,
            lock,
            evidence,
            held,
        } = env.body
        else {
            return None;
        };
        if held.is_empty() {
            return None;
        }
        let key = self.faulty.get(&raw.sender)?.key.clone();
        let body = Body::Status {
            attempt,
            lock,
            evidence,
            held: Vec::new(),
        };
        Some(Envelope::sign(raw.round, raw.sender, raw.recipient, body, &key).encode())
    }

    /// What attacking nodes send on their own at the nominal start of `phase`: proposals for
    /// attempts they have no business in, and floods of signed junk.
    fn byzantine_traffic(&mut self, phase: Phase) -> Vec<(Address, Address, Vec<u8>)> {
        let mut out = Vec::new();
        let round = self.cfg.digest();
        let attackers: Vec<(Address, NodePlan)> = self
            .plan
            .nodes
            .iter()
            .filter(|(_, p)| !p.byz.is_empty())
            .filter(|(_, p)| p.down.is_none_or(|d| !d.covers(phase)))
            .map(|(a, p)| (*a, p.clone()))
            .collect();
        for (a, p) in attackers {
            let Some(key) = self.faulty.get(&a).map(|f| f.key.clone()) else {
                continue;
            };
            let others: Vec<Address> = self.everyone.iter().copied().filter(|m| *m != a).collect();
            if let (true, Phase::Agreement(at)) = (p.does(Byz::AttemptJumps), phase) {
                for jump in [at + 1, at + 3, self.cfg.attempts()] {
                    let env = Envelope::sign(
                        round,
                        a,
                        None,
                        Body::Proposal {
                            attempt: jump,
                            set: DealerSet::default(),
                            justify: None,
                        },
                        &key,
                    );
                    let bytes = env.encode();
                    out.extend(others.iter().map(|to| (a, *to, bytes.clone())));
                }
            }
            for b in &p.byz {
                let Byz::Flood(count) = b else {
                    continue;
                };
                // One vote signature serves every junk prevote: each envelope differs by its set
                // hash, so each is a distinct signed message all the same.
                let junk_sig = key.schnorr_sign(&round);
                for to in &others {
                    for _ in 0..*count {
                        let mut h = [0u8; 32];
                        self.rng.fill_bytes(&mut h);
                        let body = Body::Prevote {
                            attempt: 0,
                            set_hash: h,
                            signature: junk_sig,
                        };
                        let bytes = Envelope::sign(round, a, Some(*to), body, &key).encode();
                        out.push((a, *to, bytes));
                    }
                }
            }
        }
        out
    }

    fn push_log(&mut self, dealer: Address, bytes: Vec<u8>) {
        for to in self.everyone.clone() {
            self.extra.push((Phase::Log, dealer, to, bytes.clone()));
        }
    }

    /// A faulty dealer's log with the patched share (cached).
    fn patched_log(&mut self, dealer: &Address, bytes: &[u8]) -> Option<Vec<u8>> {
        if let Some(b) = self.logs.get(dealer) {
            return Some(b.clone());
        }
        let (p, sealed, eph) = self.log_patch.get(dealer)?.clone();
        let key = self.faulty.get(dealer)?.key.clone();
        let env = RawEnvelope::parse(bytes)
            .ok()?
            .open(&mut CommitmentCache::default())
            .ok()?;
        let Body::Log(mut log) = env.body else {
            return None;
        };
        if let Some(s) = log.shares.get_mut(p) {
            *s = sealed;
        }
        for r in log.reveals.iter_mut() {
            if usize::from(r.player) == p {
                r.ephemeral = eph;
            }
        }
        let out = Envelope::sign(env.raw.round, *dealer, None, Body::Log(log), &key).encode();
        self.logs.insert(*dealer, out.clone());
        Some(out)
    }

    /// A faulty leader's proposal for one recipient (cached per attempt and variant).
    fn crafted_proposal(
        &mut self,
        leader: &Address,
        to: &Address,
        bytes: &[u8],
    ) -> Option<Vec<u8>> {
        let Some(fault) = self.leader_fault(leader).cloned() else {
            return Some(bytes.to_vec());
        };
        let full = match &fault {
            LeaderFault::Split { full } => full.contains(to),
            LeaderFault::InvalidSet | LeaderFault::PartialSet => false,
            _ => return Some(bytes.to_vec()),
        };
        let env = RawEnvelope::parse(bytes)
            .ok()?
            .open(&mut CommitmentCache::default())
            .ok()?;
        let Body::Proposal { attempt, set, .. } = env.body else {
            return Some(bytes.to_vec());
        };
        if full {
            return Some(bytes.to_vec());
        }
        if let Some(b) = self.proposals.get(&(*leader, attempt, full)) {
            return b.clone();
        }
        let min = self.cfg.min_dealings();
        let partial = DealerSet {
            included: set.included.iter().take(min).cloned().collect(),
            excluded: set.excluded.clone(),
        };
        let invalid = if attempt % 2 == 0 && !set.included.is_empty() {
            let mut s = set.clone();
            if let Some(first) = s.included.first_mut() {
                first.1 = keccak(b"not a log");
            }
            s
        } else {
            DealerSet {
                included: set
                    .included
                    .iter()
                    .take(min.saturating_sub(1))
                    .cloned()
                    .collect(),
                excluded: set.excluded.clone(),
            }
        };
        let new_set = match fault {
            LeaderFault::PartialSet => partial,
            LeaderFault::Split { .. } if partial != set => partial,
            _ => invalid,
        };
        let key = self.faulty.get(leader)?.key.clone();
        let out = Envelope::sign(
            env.raw.round,
            *leader,
            None,
            Body::Proposal {
                attempt,
                set: new_set,
                justify: None,
            },
            &key,
        )
        .encode();
        self.proposals
            .insert((*leader, attempt, full), Some(out.clone()));
        Some(out)
    }
}

mod deliver;
mod outcome;
pub use outcome::*;
