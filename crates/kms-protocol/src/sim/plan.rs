//! Fault plans: what each node does wrong in one round, a [`PlanNetwork`] that carries those
//! faults out (dropping, rewriting and injecting signed bytes, with the faulty nodes' own keys so
//! that a faulty message is *signed* by its faulty sender), and [`run`], a round driver that
//! delivers each wave of messages to a node as one batch (as a real node would) and restarts crashed nodes from `Player::save` / `Player::resume`.
//!
//! Faults are chosen so that each one is attributable: a faulty dealer signs its own bad bytes,
//! so honest nodes can name it; an honest node is never the sender of a bad message.

use super::{push_wire, Delivery, Network, Phase, RoundResult, SimNode};
use crate::check::share_aad;
use crate::codec::Writer;
use crate::message::{
    keccak, Body, CommitmentCache, DealerLog, DealerSet, Envelope, Kind, Lock, RawEnvelope, Reveal,
};
use crate::observe::{observe, Output};
use crate::round::RoundConfig;
use crate::{Address, Dealer, Inbox, ObserveError, Player, Reject};
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

/// How a faulty dealer deviates. Victims are named by address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DealerFault {
    /// Seals a wrong (well-formed) share to `to`, and its log is consistent with what it sent, so
    /// the reveal adjudicates to `RevealKind::BadShare`.
    BadShare { to: Address },
    /// Deals a polynomial with t + 1 coefficients and publishes that (invalid) log.
    WrongDegree,
    /// Commitment coefficient `index` (mod t) is the identity: deals and log fail to decode.
    IdentityPoint { index: usize },
    /// Commitment coefficient `index` (mod t) is an on-curve G2 point outside the prime-order
    /// subgroup (compressed encoding): deals and log fail to decode.
    OffSubgroup { index: usize },
    /// Sends a second, different dealing (same degree, same constant in a reshare) to `others`.
    Equivocate { others: Vec<Address> },
    /// Sends no deal to `to`.
    Withhold { to: Address },
    /// Sends the deal addressed to `to` to `instead`, and nothing to `to`.
    Misaddressed { to: Address, instead: Address },
    /// The deal to `to` holds a share sealed to `sealed_for`'s key; its log is consistent with it.
    WrongSeal { to: Address, sealed_for: Address },
}

/// How a faulty leader deviates, in every attempt it leads (crashes: the first one only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaderFault {
    /// Down for the whole of the first attempt it leads.
    CrashBeforePropose,
    /// In the first attempt it leads, its proposal reaches only `reach`; then it is down for the
    /// rest of the attempt (the votes sent to it are lost).
    CrashAfterPropose { reach: Vec<Address> },
    /// Proposes a set that honest players must refuse, and never certifies.
    InvalidSet,
    /// Proposes a valid set with only the minimum number of dealings, and never certifies.
    PartialSet,
    /// Sends its full set to `full` and a partial one to everyone else, and never certifies.
    Split { full: Vec<Address> },
}

/// A node that is down for part of the round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Down {
    /// First phase it misses.
    pub from: Phase,
    /// First phase it is back for (`None`: the rest of the round).
    pub until: Option<Phase>,
    /// `true`: a crash; it comes back from `Player::resume(save())` and a re-created dealer.
    /// `false`: a partition; it keeps its memory.
    pub restart: bool,
}

impl Down {
    pub fn covers(&self, phase: Phase) -> bool {
        rank(self.from) <= rank(phase) && self.until.is_none_or(|u| rank(phase) < rank(u))
    }
}

/// What one node does wrong in one round.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodePlan {
    pub down: Option<Down>,
    /// Withholds its `Acks` from everyone else.
    pub no_ack: bool,
    pub dealer: Option<DealerFault>,
    pub leader: Option<LeaderFault>,
}

impl NodePlan {
    /// Any deviation at all (a node that is down counts: it is not reachable).
    pub fn is_faulty(&self) -> bool {
        self.down.is_some() || self.no_ack || self.dealer.is_some() || self.leader.is_some()
    }

    /// Deviates from the protocol (beyond being down).
    pub fn is_byzantine(&self) -> bool {
        self.no_ack || self.dealer.is_some() || self.leader.is_some()
    }
}

/// One round's faults.
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    pub nodes: BTreeMap<Address, NodePlan>,
    /// Bytes injected at the start of a phase as (phase, from, to, bytes): e.g. messages of an
    /// older round.
    pub replays: Transcript,
    /// At the start of `phase`, re-deliver `count` messages this round already delivered (to
    /// their recipient, or half the time to some other node).
    pub stale: Vec<(Phase, usize)>,
    /// Seeds everything the network crafts or picks.
    pub seed: u64,
    pub max_attempts: u32,
}

impl FaultPlan {
    pub fn new(seed: u64, max_attempts: u32) -> Self {
        Self {
            seed,
            max_attempts,
            ..Self::default()
        }
    }

    pub fn node(&self, a: &Address) -> Option<&NodePlan> {
        self.nodes.get(a)
    }

    /// Nodes with any fault.
    pub fn faulty(&self) -> BTreeSet<Address> {
        self.nodes
            .iter()
            .filter(|(_, p)| p.is_faulty())
            .map(|(a, _)| *a)
            .collect()
    }

    /// Dealers whose dealing cannot be clean: a dealer fault, or down (or restarted) at any point
    /// from the deal to the log.
    pub fn faulty_dealers(&self) -> BTreeSet<Address> {
        self.nodes
            .iter()
            .filter(|(_, p)| {
                p.dealer.is_some()
                    || p.down.is_some_and(|d| {
                        [Phase::Deal, Phase::Acks, Phase::Log]
                            .iter()
                            .any(|ph| d.covers(*ph))
                    })
            })
            .map(|(a, _)| *a)
            .collect()
    }

    pub fn set(&mut self, a: Address, f: impl FnOnce(&mut NodePlan)) -> &mut Self {
        f(self.nodes.entry(a).or_default());
        self
    }
}

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
        }
    }

    /// A network without faults.
    pub fn perfect(cfg: Arc<RoundConfig>, max_attempts: u32) -> Self {
        Self::new(cfg, &[], FaultPlan::new(0, max_attempts))
    }

    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    pub fn config(&self) -> &Arc<RoundConfig> {
        &self.cfg
    }

    /// Whether the node comes back from its saved state after being down.
    pub fn restarts(&self, node: &Address) -> bool {
        self.plan
            .node(node)
            .and_then(|p| p.down)
            .is_some_and(|d| d.restart)
    }

    /// When a node that goes down comes back (`None`: never, or not down).
    pub fn back_at(&self, node: &Address) -> Option<Phase> {
        self.plan
            .node(node)
            .and_then(|p| p.down)
            .and_then(|d| d.until)
    }

    /// The first attempt (below `max_attempts`) that `node` leads.
    fn first_lead(&self, node: &Address) -> Option<u32> {
        (0..self.plan.max_attempts).find(|a| self.cfg.leader(*a) == *node)
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
        let Body::Proposal { attempt, set } = env.body else {
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
            },
            &key,
        )
        .encode();
        self.proposals
            .insert((*leader, attempt, full), Some(out.clone()));
        Some(out)
    }
}

impl Network for PlanNetwork {
    fn online(&mut self, node: &Address, phase: Phase) -> bool {
        if self
            .plan
            .node(node)
            .and_then(|p| p.down)
            .is_some_and(|d| d.covers(phase))
        {
            return false;
        }
        if let (Some(LeaderFault::CrashBeforePropose), Phase::Agreement(a)) =
            (self.leader_fault(node), phase)
        {
            return self.first_lead(node) != Some(a);
        }
        true
    }

    fn deliver(&mut self, d: &Delivery<'_>) -> Option<Vec<u8>> {
        let Ok(raw) = RawEnvelope::parse(d.bytes) else {
            return Some(d.bytes.to_vec());
        };
        let from = raw.sender;
        let out = match raw.kind {
            Kind::Deal => match self.deals.get(&(from, d.to)) {
                Some(r) if raw.recipient == Some(d.to) => r.clone(),
                _ => Some(d.bytes.to_vec()),
            },
            Kind::Log if self.log_patch.contains_key(&from) => self.patched_log(&from, d.bytes),
            Kind::Acks if d.to != from && self.plan.node(&from).is_some_and(|p| p.no_ack) => None,
            Kind::Proposal | Kind::Certificate | Kind::Vote => {
                let Phase::Agreement(a) = d.phase else {
                    return Some(d.bytes.to_vec());
                };
                let leader = self.cfg.leader(a);
                let crash_after = match self.leader_fault(&leader) {
                    Some(LeaderFault::CrashAfterPropose { reach })
                        if self.first_lead(&leader) == Some(a) =>
                    {
                        Some(reach.contains(&d.to))
                    }
                    _ => None,
                };
                match (raw.kind, crash_after) {
                    // Down once its proposal is out: votes to it are lost, it certifies nothing.
                    (Kind::Vote, Some(_)) if d.to == leader => None,
                    (Kind::Certificate, Some(_)) if from == leader => None,
                    (Kind::Proposal, Some(reached)) if from == leader => {
                        (reached || d.to == leader).then(|| d.bytes.to_vec())
                    }
                    (Kind::Proposal, None) if from == leader && d.to != leader => {
                        self.crafted_proposal(&leader, &d.to, d.bytes)
                    }
                    (Kind::Certificate, None)
                        if matches!(
                            self.leader_fault(&from),
                            Some(
                                LeaderFault::InvalidSet
                                    | LeaderFault::PartialSet
                                    | LeaderFault::Split { .. }
                            )
                        ) =>
                    {
                        None
                    }
                    _ => Some(d.bytes.to_vec()),
                }
            }
            _ => Some(d.bytes.to_vec()),
        };
        if let Some(b) = &out {
            self.seen.push((d.phase, d.from, d.to, b.clone()));
        }
        out
    }

    fn inject(&mut self, phase: Phase) -> Vec<(Address, Address, Vec<u8>)> {
        let mut out: Vec<(Address, Address, Vec<u8>)> = Vec::new();
        let mut extra = std::mem::take(&mut self.extra);
        extra.retain(|(ph, from, to, bytes)| {
            if *ph != phase {
                return true;
            }
            if !self
                .plan
                .node(from)
                .and_then(|p| p.down)
                .is_some_and(|d| d.covers(phase))
            {
                out.push((*from, *to, bytes.clone()));
            }
            false
        });
        self.extra = extra;
        for (ph, from, to, bytes) in &self.plan.replays {
            if *ph == phase {
                out.push((*from, *to, bytes.clone()));
            }
        }
        let stale: usize = self
            .plan
            .stale
            .iter()
            .filter(|(ph, _)| *ph == phase)
            .map(|(_, c)| *c)
            .sum();
        for _ in 0..stale {
            if self.seen.is_empty() || self.everyone.is_empty() {
                break;
            }
            let i = (self.rng.next_u64() % self.seen.len() as u64) as usize;
            let Some((_, from, to, bytes)) = self.seen.get(i).cloned() else {
                continue;
            };
            let to = if self.rng.next_u32().is_multiple_of(2) {
                to
            } else {
                let j = (self.rng.next_u64() % self.everyone.len() as u64) as usize;
                self.everyone.get(j).copied().unwrap_or(to)
            };
            out.push((from, to, bytes));
        }
        out
    }

    fn tamper_deals(&mut self, dealer: &Address, deals: Vec<Envelope>) -> Vec<Envelope> {
        self.craft_deals(dealer, &deals);
        deals
    }
}

/// A restart seen by the driver.
#[derive(Clone, Debug)]
pub struct Restart {
    pub node: Address,
    /// The phase it came back for.
    pub phase: Phase,
    /// `resume(save()).save() == save()`.
    pub save_round_trips: bool,
    /// Its lock before the crash and after the resume.
    pub lock_before: Option<Lock>,
    pub lock_after: Option<Lock>,
    /// Whether it held a certificate before the crash, and after the resume.
    pub cert_before: bool,
    pub cert_after: bool,
}

/// What [`run`] produced.
pub struct PlanResult {
    pub result: RoundResult,
    /// Players that did not finalize in the round, finalized afterwards from a peer's certificate
    /// and logs with `observe()` (the catch-up path).
    pub caught_up: BTreeMap<Address, Output>,
    /// Catch-up failures (a player with no output while some peer finalized).
    pub catch_up_errors: Vec<(Address, ObserveError)>,
    /// The first attempt at whose end some player held a certificate.
    pub certified_in: Option<u32>,
    /// Players up in each attempt.
    pub up_per_attempt: Vec<usize>,
    /// Every certificate any player (faulty ones included) holds at the end.
    pub certificates: BTreeMap<Address, crate::Certificate>,
    /// Locks held at the end, by player.
    pub locks: BTreeMap<Address, Lock>,
    pub restarts: Vec<Restart>,
}

impl PlanResult {
    /// Outputs from the round and from catch-up.
    pub fn all_outputs(&self) -> impl Iterator<Item = (&Address, &Output)> {
        self.result.outputs.iter().chain(self.caught_up.iter())
    }
}

struct NodeState {
    key: Arc<bn254::SecretKey>,
    enc: Arc<kms_crypto::seal::EncryptionKey>,
    seed: Secret<[u8; 32]>,
    share: Option<Secret<SecretScalar>>,
    player: Option<Player>,
    dealer: Option<Dealer>,
    /// Intake of a dealer that is not a player of the round.
    inbox: Option<Inbox>,
    /// Acks this node accepted (its "disk": a restarted dealer is fed them again).
    acks_disk: Vec<Envelope>,
    /// Saved state at the crash, with the lock and whether it held a certificate.
    saved: Option<(Vec<u8>, Option<Lock>, bool)>,
    dealt: bool,
    up: bool,
    missed_logs: bool,
}

struct Driver<'a> {
    cfg: Arc<RoundConfig>,
    net: &'a mut PlanNetwork,
    nodes: BTreeMap<Address, NodeState>,
    everyone: Vec<Address>,
    res: PlanResult,
}

/// Runs one round of `cfg` among `nodes` under `net`'s plan. Each wave of messages reaches each
/// node as one batch. Crashed nodes lose their memory and come back from their saved state; a
/// node back after missing the log phase fetches the logs a peer holds. After the round, every
/// player without an output catches up from a peer's certificate and logs with `observe()`.
pub fn run(cfg: &Arc<RoundConfig>, nodes: &[SimNode], net: &mut PlanNetwork) -> PlanResult {
    let mut everyone: Vec<Address> = cfg
        .players
        .iter()
        .chain(cfg.dealers.iter())
        .map(|o| o.address)
        .collect();
    everyone.sort_unstable();
    everyone.dedup();
    let mut states = BTreeMap::new();
    for n in nodes {
        let a = n.address();
        if !everyone.contains(&a) {
            continue;
        }
        let player = Player::new(cfg.clone(), a, n.key.clone(), n.enc.clone()).ok();
        let inbox = (player.is_none() && cfg.dealer_index(&a).is_some())
            .then(|| Inbox::new(cfg.clone(), a));
        states.insert(
            a,
            NodeState {
                key: n.key.clone(),
                enc: n.enc.clone(),
                seed: n.seed.duplicate(),
                share: n.share().map(Secret::duplicate),
                player,
                dealer: None,
                inbox,
                acks_disk: Vec::new(),
                saved: None,
                dealt: false,
                up: true,
                missed_logs: false,
            },
        );
    }
    let mut d = Driver {
        cfg: cfg.clone(),
        net,
        nodes: states,
        everyone,
        res: PlanResult {
            result: RoundResult {
                outputs: BTreeMap::new(),
                transcript: Vec::new(),
                rejects: Vec::new(),
                attempts: 0,
            },
            caught_up: BTreeMap::new(),
            catch_up_errors: Vec::new(),
            certified_in: None,
            up_per_attempt: Vec::new(),
            certificates: BTreeMap::new(),
            locks: BTreeMap::new(),
            restarts: Vec::new(),
        },
    };
    d.round();
    d.res
}

impl Driver<'_> {
    fn round(&mut self) {
        // Deal.
        self.enter(Phase::Deal);
        let mut outbox = Vec::new();
        let reshare = self.cfg.previous.is_some();
        for (a, st) in self.nodes.iter_mut() {
            if !st.up || self.cfg.dealer_index(a).is_none() {
                continue;
            }
            let share = if reshare { st.share.as_ref() } else { None };
            if let Ok((dealer, deals)) =
                Dealer::new(self.cfg.clone(), *a, st.key.clone(), &st.seed, share)
            {
                for env in self.net.tamper_deals(a, deals) {
                    outbox.push((*a, env));
                }
                st.dealer = Some(dealer);
                st.dealt = true;
            }
        }
        self.flush(Phase::Deal, outbox);

        // Acks.
        self.enter(Phase::Acks);
        let mut outbox = Vec::new();
        for (a, st) in self.nodes.iter_mut() {
            if let (true, Some(p)) = (st.up, st.player.as_mut()) {
                outbox.push((*a, p.end_deals()));
            }
        }
        self.flush(Phase::Acks, outbox);

        // Logs.
        self.enter(Phase::Log);
        let mut outbox = Vec::new();
        for (a, st) in self.nodes.iter() {
            if let (true, Some(d)) = (st.up, st.dealer.as_ref()) {
                if let Some(l) = d.log() {
                    outbox.push((*a, l));
                }
            }
        }
        self.flush(Phase::Log, outbox);

        // Agreement.
        for attempt in 0..self.net.plan.max_attempts {
            self.res.result.attempts = attempt + 1;
            let phase = Phase::Agreement(attempt);
            self.enter(phase);
            let mut outbox = Vec::new();
            for (a, st) in self.nodes.iter_mut() {
                if let (true, Some(p)) = (st.up, st.player.as_mut()) {
                    outbox.push((*a, p.start_attempt(attempt)));
                }
            }
            self.flush(phase, outbox);
            let leader = self.cfg.leader(attempt);
            let mut outbox = Vec::new();
            if let Some(st) = self.nodes.get_mut(&leader) {
                if let (true, Some(p)) = (st.up, st.player.as_mut()) {
                    for env in p.propose() {
                        outbox.push((leader, env));
                    }
                }
            }
            self.flush(phase, outbox);
            let players = self.nodes.values().filter_map(|s| s.player.as_ref());
            if self.res.certified_in.is_none() && players.clone().any(|p| p.certificate().is_some())
            {
                self.res.certified_in = Some(attempt);
            }
            let up: Vec<&Player> = self
                .nodes
                .values()
                .filter(|s| s.up)
                .filter_map(|s| s.player.as_ref())
                .collect();
            self.res.up_per_attempt.push(up.len());
            // Done when every player that is up holds the certificate and none of the others is
            // due back in a later attempt.
            let due_back = self.nodes.iter().any(|(a, s)| {
                !s.up
                    && s.player.as_ref().is_none_or(|p| p.certificate().is_none())
                    && self.cfg.player_index(a).is_some()
                    && self.net.back_at(a).is_some_and(|b| rank(b) > rank(phase))
            });
            if !due_back && up.iter().all(|p| p.certificate().is_some()) {
                break;
            }
        }
        self.finish();
    }

    /// Crashes and restarts at the start of a phase.
    fn enter(&mut self, phase: Phase) {
        let addrs: Vec<Address> = self.nodes.keys().copied().collect();
        for a in addrs {
            let now_up = self.net.online(&a, phase);
            let restarts = self.net.restarts(&a);
            let cfg = self.cfg.clone();
            let Some(st) = self.nodes.get_mut(&a) else {
                continue;
            };
            if st.up && !now_up && restarts {
                // Crash: memory is lost; the saved state and the acks on disk remain.
                st.saved = st.player.take().map(|p| {
                    let lock = p.lock().cloned();
                    (p.save(), lock, p.certificate().is_some())
                });
                st.dealer = None;
                st.inbox = None;
            }
            if !now_up && phase == Phase::Log {
                st.missed_logs = true;
            }
            if !st.up && now_up && restarts {
                if let Some((saved, lock_before, cert_before)) = st.saved.take() {
                    let p =
                        Player::resume(cfg.clone(), a, st.key.clone(), st.enc.clone(), &saved).ok();
                    self.res.restarts.push(Restart {
                        node: a,
                        phase,
                        save_round_trips: p.as_ref().is_some_and(|p| p.save() == saved),
                        lock_before,
                        lock_after: p.as_ref().and_then(|p| p.lock().cloned()),
                        cert_before,
                        cert_after: p.as_ref().is_some_and(|p| p.certificate().is_some()),
                    });
                    st.player = p;
                }
                if st.player.is_none() && cfg.dealer_index(&a).is_some() {
                    st.inbox = Some(Inbox::new(cfg.clone(), a));
                }
                // A dealer that had dealt comes back from its seed and the acks on its disk.
                if st.dealt && rank(phase) <= rank(Phase::Log) {
                    let share = if cfg.previous.is_some() {
                        st.share.as_ref()
                    } else {
                        None
                    };
                    if let Ok((mut dealer, _)) =
                        Dealer::new(cfg.clone(), a, st.key.clone(), &st.seed, share)
                    {
                        for env in &st.acks_disk {
                            let _ = dealer.handle_acks(env);
                        }
                        st.dealer = Some(dealer);
                    }
                }
            }
            let back = !st.up && now_up;
            st.up = now_up;
            if back && st.missed_logs && rank(phase) > rank(Phase::Log) {
                st.missed_logs = false;
                self.fetch_logs(a, phase);
            }
        }
    }

    /// A node fetches the logs a peer holds (the first up player other than itself).
    fn fetch_logs(&mut self, node: Address, phase: Phase) {
        let peer_logs: Option<Vec<(Address, Vec<u8>)>> = self
            .nodes
            .iter()
            .filter(|(a, s)| **a != node && s.up)
            .find_map(|(_, s)| s.player.as_ref())
            .map(|p| p.logs().map(|l| (l.raw.sender, l.encode())).collect());
        let Some(logs) = peer_logs else {
            return;
        };
        let wire: Vec<(Address, Address, Vec<u8>)> =
            logs.into_iter().map(|(from, b)| (from, node, b)).collect();
        self.deliver_wave(phase, wire);
    }

    /// Delivers messages and whatever they trigger until nothing is left to send.
    fn flush(&mut self, phase: Phase, mut outbox: Vec<(Address, Envelope)>) {
        let mut wire = self.net.inject(phase);
        loop {
            for (from, env) in &outbox {
                push_wire(&mut wire, *from, env, &self.everyone);
            }
            if wire.is_empty() {
                return;
            }
            outbox = self.deliver_wave(phase, std::mem::take(&mut wire));
        }
    }

    /// One wave: every message through the network, then each recipient's batch at once.
    /// Returns what the recipients send in response.
    fn deliver_wave(
        &mut self,
        phase: Phase,
        wire: Vec<(Address, Address, Vec<u8>)>,
    ) -> Vec<(Address, Envelope)> {
        let mut per: BTreeMap<Address, Vec<(Address, Vec<u8>)>> = BTreeMap::new();
        for (from, to, bytes) in wire {
            if !self.nodes.get(&to).is_some_and(|s| s.up) {
                continue;
            }
            let Some(bytes) = self.net.deliver(&Delivery {
                phase,
                from,
                to,
                bytes: &bytes,
            }) else {
                continue;
            };
            per.entry(to).or_default().push((from, bytes));
        }
        let mut out = Vec::new();
        for (to, msgs) in per {
            for (from, b) in &msgs {
                self.res
                    .result
                    .transcript
                    .push((phase, *from, to, b.clone()));
            }
            let refs: Vec<&[u8]> = msgs.iter().map(|(_, b)| b.as_slice()).collect();
            let Some(st) = self.nodes.get_mut(&to) else {
                continue;
            };
            let mut accepted_acks: Vec<Envelope> = Vec::new();
            let mut rejects: Vec<Reject> = Vec::new();
            if let Some(p) = st.player.as_mut() {
                for r in p.receive(&refs) {
                    match r {
                        Ok(rcv) => {
                            if matches!(rcv.envelope.body, Body::Acks(_)) {
                                accepted_acks.push(rcv.envelope);
                            }
                            out.extend(rcv.outgoing.into_iter().map(|e| (to, e)));
                        }
                        Err(e) => rejects.push(e),
                    }
                }
            } else if let Some(inbox) = st.inbox.as_mut() {
                for r in inbox.accept(&refs) {
                    match r {
                        Ok(env) if matches!(env.body, Body::Acks(_)) => accepted_acks.push(env),
                        Ok(_) => {}
                        Err(e) => rejects.push(e),
                    }
                }
            }
            for env in accepted_acks {
                if let Some(d) = st.dealer.as_mut() {
                    if let Err(e) = d.handle_acks(&env) {
                        rejects.push(e);
                    }
                }
                st.acks_disk.push(env);
            }
            self.res
                .result
                .rejects
                .extend(rejects.into_iter().map(|e| (to, e)));
        }
        out
    }

    /// Finalizes every player (fetching missing logs from a peer once), then lets the others
    /// catch up from a peer's certificate and logs.
    fn finish(&mut self) {
        let addrs: Vec<Address> = self.nodes.keys().copied().collect();
        for a in &addrs {
            let r = match self.nodes.get_mut(a).and_then(|s| s.player.as_mut()) {
                Some(p) => p.finalize(),
                None => continue,
            };
            let r = match r {
                Err(ObserveError::MissingLogs(_)) => {
                    let phase = Phase::Agreement(self.res.result.attempts.saturating_sub(1));
                    self.fetch_logs(*a, phase);
                    match self.nodes.get_mut(a).and_then(|s| s.player.as_mut()) {
                        Some(p) => p.finalize(),
                        None => continue,
                    }
                }
                r => r,
            };
            if let Ok(out) = r {
                self.res.result.outputs.insert(*a, out);
            }
        }
        for (a, st) in &self.nodes {
            if let Some(p) = &st.player {
                if let Some(c) = p.certificate() {
                    self.res.certificates.insert(*a, c.clone());
                }
                if let Some(l) = p.lock() {
                    self.res.locks.insert(*a, l.clone());
                }
            }
        }
        // Catch-up from the first finalized peer's certificate and logs.
        let source = self.res.result.outputs.iter().find_map(|(a, o)| {
            let p = self.nodes.get(a)?.player.as_ref()?;
            Some((o.certificate.clone(), p.logs().cloned().collect::<Vec<_>>()))
        });
        let Some((cert, logs)) = source else {
            return;
        };
        for op in &self.cfg.players {
            let a = op.address;
            if self.res.result.outputs.contains_key(&a) {
                continue;
            }
            let Some(st) = self.nodes.get(&a) else {
                continue;
            };
            match observe(&self.cfg, &cert, &logs, Some((&a, &st.enc))) {
                Ok(out) => {
                    self.res.caught_up.insert(a, out);
                }
                Err(e) => self.res.catch_up_errors.push((a, e)),
            }
        }
    }
}
