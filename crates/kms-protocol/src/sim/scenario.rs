//! Scenarios on top of [`super::plan`]: a [`Cluster`] that carries keys and shares from round to
//! round, random fault plans within the honest-majority budget, and [`check_round`], the
//! properties every round must keep whatever the plan:
//!
//! - safety: at most one dealer set is certified; honest players never vote for two sets; every
//!   player that finalizes (in the round or by catching up) holds the same public polynomial;
//! - liveness (within budget): every player gets an output, in the round or by catch-up; a
//!   certificate never forms in an attempt with fewer than t players up;
//! - secrecy and correctness: t honest shares recover an app key that verifies against the MPK,
//!   two different t-subsets recover the same key, t - 1 shares do not;
//! - a reshare keeps the MPK;
//! - blame: verdicts are identical everywhere; a faulty dealer's verdict is never a clean
//!   `Included { reveals: [] }`; an honest dealer is never `Equivocated`, `InvalidLog` or blamed
//!   for a `BadShare`; decode failures and equivocations name only faulty senders;
//! - restarts: a resumed player keeps its lock and its certificate, and
//!   `resume(save()).save() == save()`.

use super::plan::{
    rank, run, Byz, DealerFault, Down, FaultPlan, LeaderFault, PlanNetwork, PlanResult, Transcript,
};
use super::{rng_for, Phase, SimNode};
use crate::check::RevealKind;
use crate::message::{keccak, Body, CommitmentCache, RawEnvelope};
use crate::observe::DealerOutcome;
use crate::round::RoundConfig;
use crate::{Address, Dealer, Player, Reject};
use kms_crypto::bls::{partial_sign, recover, recover_verified, AppKey, Commitment};
use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha20Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The chain id every cluster's rounds name (a local devnet's).
pub const CHAIN_ID: u64 = 31337;
/// The registry address every cluster's rounds name (a placeholder, no contract).
pub const REGISTRY: Address = [7u8; 20];

/// A pool of simulated operators and the key they currently share.
pub struct Cluster {
    /// The whole pool, members of the current round or not.
    pub nodes: Vec<SimNode>,
    /// Epoch of the next round.
    pub next_epoch: u64,
    /// The latest finalized epoch, its players and public polynomial.
    pub current: Option<(u64, Vec<Address>, Commitment)>,
}

impl Cluster {
    /// `pool` operators with keys from `seed`.
    pub fn new(seed: u64, pool: usize) -> Self {
        let mut rng = rng_for(seed, "keys");
        Self {
            nodes: (1..=pool as u64)
                .map(|id| SimNode::generate(&mut rng, id))
                .collect(),
            next_epoch: 1,
            current: None,
        }
    }

    /// The addresses of the nodes at positions `members` in the pool (out of range: skipped).
    pub fn addresses(&self, members: &[usize]) -> Vec<Address> {
        members
            .iter()
            .filter_map(|i| self.nodes.get(*i).map(SimNode::address))
            .collect()
    }

    fn operators(&self, members: &[Address]) -> Vec<crate::Operator> {
        self.nodes
            .iter()
            .filter(|n| members.contains(&n.address()))
            .map(|n| n.operator.clone())
            .collect()
    }

    /// The next round: a DKG among `members` if no key exists yet, else a reshare from the
    /// current players to `members`.
    pub fn next_config(&self, members: &[usize]) -> Result<Arc<RoundConfig>, String> {
        let players = self.operators(&self.addresses(members));
        let cfg = match &self.current {
            None => RoundConfig::dkg(self.next_epoch, CHAIN_ID, REGISTRY, players),
            Some((from, dealers, public)) => RoundConfig::reshare(
                *from,
                self.next_epoch,
                CHAIN_ID,
                REGISTRY,
                self.operators(dealers),
                players,
                public.clone(),
            ),
        };
        cfg.map(Arc::new).map_err(|e| e.to_string())
    }

    /// Runs a round under `plan`; if it finalized, every player takes its output (from the round
    /// or from catch-up) and nodes that left drop theirs.
    pub fn run(&mut self, cfg: &Arc<RoundConfig>, plan: FaultPlan) -> PlanResult {
        let mut net = PlanNetwork::new(cfg.clone(), &self.nodes, plan);
        let res = run(cfg, &self.nodes, &mut net);
        self.next_epoch = self.next_epoch.max(cfg.epoch + 1);
        let public = res.all_outputs().next().map(|(_, o)| o.public.clone());
        if let Some(public) = public {
            let mut outs: BTreeMap<Address, crate::Output> = BTreeMap::new();
            for (a, o) in res.all_outputs() {
                outs.insert(*a, clone_output(o));
            }
            for n in self.nodes.iter_mut() {
                n.output = outs.remove(&n.address());
            }
            let players = cfg.players.iter().map(|o| o.address).collect();
            self.current = Some((cfg.epoch, players, public));
        }
        res
    }
}

/// Outputs are not `Clone` (they hold a secret); this copies one explicitly.
pub fn clone_output(o: &crate::Output) -> crate::Output {
    crate::Output {
        epoch: o.epoch,
        round: o.round,
        public: o.public.clone(),
        threshold: o.threshold,
        players: o.players.clone(),
        share: o.share.as_ref().map(|s| kms_crypto::bls::Share {
            point: s.point,
            value: s.value.duplicate(),
        }),
        verdicts: o.verdicts.clone(),
        certificate: o.certificate.clone(),
    }
}

/// What a round is expected to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Faults within budget: every player gets an output.
    Live,
    /// Within budget but with a fault that can split locks (docs 0005 §4): a stall is allowed
    /// (reported), safety is not.
    MayStall,
    /// More than n - t players down for the first `until` attempts, all back after: no
    /// certificate before attempt `until`, an output for everyone after.
    LiveFrom {
        /// The attempt whose start brings the players back: the first a certificate may form in.
        until: u32,
    },
    /// More than n - t players down from the acks on: nothing finalizes anywhere.
    Dead,
}

/// How a round ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Some player got an output, in the round or by catch-up.
    Finalized {
        /// Attempts used: one more than the highest attempt a player reached.
        attempts: u32,
    },
    /// No player got an output, in the round or by catch-up.
    Stalled,
}

fn hex(a: &Address) -> String {
    crate::hex_address(a)
}

fn err(msg: impl Into<String>) -> Result<Outcome, String> {
    Err(msg.into())
}

mod check;
pub use check::*;

fn shuffle<T>(v: &mut [T], rng: &mut ChaCha20Rng) {
    for i in (1..v.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

fn pick<T: Copy>(v: &[T], rng: &mut ChaCha20Rng) -> Option<T> {
    if v.is_empty() {
        return None;
    }
    v.get((rng.next_u64() % v.len() as u64) as usize).copied()
}

fn below(rng: &mut ChaCha20Rng, n: u64) -> u64 {
    rng.next_u64() % n.max(1)
}

/// A phase to go down at and one to come back at (after it).
fn random_interval(rng: &mut ChaCha20Rng, max_attempts: u32) -> (Phase, Option<Phase>) {
    let phases = [
        Phase::Deal,
        Phase::Acks,
        Phase::Log,
        Phase::Agreement(0),
        Phase::Agreement(1),
    ];
    let from = pick(&phases, rng).unwrap_or(Phase::Deal);
    let until = match below(rng, 3) {
        0 => None,
        _ => {
            let r = rank(from) + 1 + below(rng, 3);
            Some(match r {
                1 => Phase::Acks,
                2 => Phase::Log,
                r => Phase::Agreement(u32::try_from(r - 3).unwrap_or(0).min(max_attempts / 2)),
            })
        }
    };
    (from, until)
}

/// Old-round messages to replay into `cfg`: signed by real members for an earlier epoch.
pub fn old_round_replays(
    nodes: &[SimNode],
    cfg: &RoundConfig,
    rng: &mut ChaCha20Rng,
    count: usize,
) -> Transcript {
    let members: Vec<&SimNode> = nodes
        .iter()
        .filter(|n| cfg.player_index(&n.address()).is_some())
        .collect();
    let ops = members.iter().map(|n| n.operator.clone()).collect();
    let Ok(old) = RoundConfig::dkg(cfg.epoch.saturating_sub(1), CHAIN_ID, REGISTRY, ops) else {
        return Vec::new();
    };
    let old = Arc::new(old);
    let mut msgs: Vec<(Address, Vec<u8>)> = Vec::new();
    if let Some(n) = members.first() {
        if let Ok((_, deals)) = Dealer::new(old.clone(), n.address(), n.key.clone(), &n.seed, None)
        {
            msgs.extend(deals.iter().map(|d| (n.address(), d.encode())));
        }
    }
    for n in &members {
        if let Ok(mut p) = Player::new(old.clone(), n.address(), n.key.clone(), n.enc.clone()) {
            msgs.push((n.address(), p.end_deals().encode()));
        }
    }
    let phases = [Phase::Deal, Phase::Acks, Phase::Log, Phase::Agreement(0)];
    let to: Vec<Address> = members.iter().map(|n| n.address()).collect();
    (0..count)
        .filter_map(|_| {
            let (from, bytes) = msgs.get(below(rng, msgs.len() as u64) as usize)?.clone();
            Some((pick(&phases, rng)?, from, pick(&to, rng)?, bytes))
        })
        .collect()
}

/// A random fault plan for `cfg` within the honest-majority budget (at most n - t faulty
/// players and at most n_old - t_old faulty dealers), plus network noise. Returns the plan and
/// what to expect. `overload`: 1 in `overload` plans takes more than n - t players down.
pub fn random_plan(cfg: &RoundConfig, rng: &mut ChaCha20Rng, overload: u64) -> (FaultPlan, Expect) {
    let max_attempts = 12;
    let mut plan = FaultPlan::new(rng.next_u64(), max_attempts);
    let players: Vec<Address> = cfg.players.iter().map(|o| o.address).collect();
    let dealers: Vec<Address> = cfg.dealers.iter().map(|o| o.address).collect();
    let n = players.len();
    let t = cfg.threshold;

    // Overloads: more than n - t players down.
    if overload > 0 && below(rng, overload) == 0 {
        let k = n - t + 1 + below(rng, t as u64) as usize;
        let mut down = players.clone();
        shuffle(&mut down, rng);
        down.truncate(k);
        if below(rng, 3) == 0 {
            for a in down {
                plan.set(a, |p| {
                    p.down = Some(Down {
                        from: Phase::Acks,
                        until: None,
                        restart: false,
                    })
                });
            }
            return (plan, Expect::Dead);
        }
        let until = 1 + below(rng, 2) as u32;
        for a in down {
            plan.set(a, |p| {
                p.down = Some(Down {
                    from: Phase::Agreement(0),
                    until: Some(Phase::Agreement(until)),
                    restart: below(rng, 2) == 0,
                })
            });
        }
        return (plan, Expect::LiveFrom { until });
    }

    let budget_p = n - t;
    let budget_d = dealers.len() - cfg.min_dealings();
    let mut everyone: Vec<Address> = players.iter().chain(&dealers).copied().collect();
    everyone.sort_unstable();
    everyone.dedup();
    shuffle(&mut everyone, rng);
    // Put attempt 0's leader first half the time, so that leader faults bite.
    if below(rng, 2) == 0 {
        let l = cfg.leader(0);
        everyone.retain(|a| *a != l);
        everyone.insert(0, l);
    }
    let max_f = budget_p.max(budget_d);
    let target = if below(rng, 2) == 0 {
        max_f
    } else {
        below(rng, max_f as u64 + 1) as usize
    };
    let (mut fp, mut fd) = (0usize, 0usize);
    let mut faulty = Vec::new();
    for a in everyone {
        if faulty.len() >= target {
            break;
        }
        let is_p = players.contains(&a);
        let is_d = dealers.contains(&a);
        if (is_p && fp >= budget_p) || (is_d && fd >= budget_d) {
            continue;
        }
        fp += usize::from(is_p);
        fd += usize::from(is_d);
        faulty.push(a);
    }

    let expect = Expect::Live;
    for a in faulty {
        let is_p = players.contains(&a);
        let is_d = dealers.contains(&a);
        let others: Vec<Address> = players.iter().copied().filter(|p| *p != a).collect();
        let faults = 1 + below(rng, 2);
        for _ in 0..faults {
            let kind = below(rng, 24);
            let node = plan.nodes.entry(a).or_default();
            match kind {
                0 => {
                    node.down = Some(Down {
                        from: Phase::Deal,
                        until: None,
                        restart: false,
                    })
                }
                1 | 2 => {
                    let (from, until) = random_interval(rng, max_attempts);
                    node.down = Some(Down {
                        from,
                        until,
                        restart: kind == 2,
                    });
                }
                3 if is_p => node.no_ack = true,
                4..=11 if is_d => {
                    let (Some(v), Some(w)) = (pick(&others, rng), pick(&others, rng)) else {
                        continue;
                    };
                    node.dealer = Some(match kind {
                        4 => DealerFault::BadShare { to: v },
                        5 => DealerFault::WrongDegree,
                        6 => DealerFault::IdentityPoint {
                            index: below(rng, 8) as usize,
                        },
                        7 => DealerFault::OffSubgroup {
                            index: below(rng, 8) as usize,
                        },
                        8 => {
                            let mut o = others.clone();
                            shuffle(&mut o, rng);
                            o.truncate(1 + below(rng, others.len() as u64) as usize);
                            DealerFault::Equivocate { others: o }
                        }
                        9 => DealerFault::Withhold { to: v },
                        10 if v != w => DealerFault::Misaddressed { to: v, instead: w },
                        _ if v != w => DealerFault::WrongSeal {
                            to: v,
                            sealed_for: w,
                        },
                        _ => DealerFault::Withhold { to: v },
                    });
                }
                12..=16 if is_p => {
                    let mut o = others.clone();
                    shuffle(&mut o, rng);
                    o.truncate(below(rng, others.len() as u64 + 1) as usize);
                    node.leader = Some(match kind {
                        12 => LeaderFault::InvalidSet,
                        13 => LeaderFault::PartialSet,
                        14 => LeaderFault::CrashBeforePropose,
                        15 => LeaderFault::CrashAfterPropose { reach: o },
                        _ if below(rng, 4) == 0 => LeaderFault::Split { full: o },
                        _ if below(rng, 2) == 0 => LeaderFault::WithholdCertificate,
                        _ => LeaderFault::PartialSet,
                    });
                }
                17 => node.byz.push(Byz::ForgedEpochs),
                18 => node.byz.push(Byz::AttemptJumps),
                19 => node.byz.push(Byz::Flood(40)),
                20 if is_p => node.byz.push(Byz::WithholdStatus),
                21 if is_p => node.byz.push(Byz::EquivocateProposals),
                22 => {
                    let (from, count) = (below(rng, 4), 1 + below(rng, 8));
                    plan.failed_writes.push((a, from, count));
                }
                23 if is_p => node.byz.push(Byz::EquivocateStatuses),
                _ => node.no_ack = is_p,
            }
        }
    }
    plan.nodes.retain(|_, p| p.is_faulty());
    // Network noise: stale re-deliveries of this round's own messages.
    for _ in 0..below(rng, 4) {
        let ph = pick(
            &[
                Phase::Acks,
                Phase::Log,
                Phase::Agreement(0),
                Phase::Agreement(1),
            ],
            rng,
        )
        .unwrap_or(Phase::Log);
        plan.stale.push((ph, 1 + below(rng, 4) as usize));
    }
    (plan, expect)
}

/// One round of a random scenario, for the report.
#[derive(Clone, Debug)]
pub struct RoundReport {
    /// The round's epoch.
    pub epoch: u64,
    /// Whether the round was a reshare (else a DKG).
    pub reshare: bool,
    /// How many players the round had (n).
    pub players: usize,
    /// The round's threshold t.
    pub threshold: usize,
    /// How many nodes the plan made faulty (down ones included).
    pub faulty: usize,
    /// The plan's node faults, readable (see [`describe`]).
    pub faults: String,
    /// [`fault_kinds`] of the plan.
    pub kinds: Vec<&'static str>,
    /// What the plan allowed the round to do.
    pub expect: Expect,
    /// How the round ended.
    pub outcome: Outcome,
    /// How many messages were delivered.
    pub transcript_len: usize,
}

/// A random scenario's result.
#[derive(Clone, Debug)]
pub struct ScenarioReport {
    /// The seed the scenario ran from; the same seed replays it.
    pub seed: u64,
    /// Every round run, in order, including a fault-free round after a stall.
    pub rounds: Vec<RoundReport>,
    /// keccak over every round's transcript (phase rank, from, to, bytes).
    pub transcript_digest: [u8; 32],
    /// Rounds that stalled under a lock-splitting fault (docs 0005 §4), by epoch.
    pub known_limit_stalls: Vec<u64>,
    /// The full transcripts, when asked for.
    pub transcripts: Vec<Transcript>,
}

/// Runs the random scenario of `seed`: a DKG among 3 to 10 nodes under a random plan; one in
/// `reshare_every` scenarios then reshares (membership may change by one) under another plan. A
/// round that may not finalize (overload, or a lock split) is followed by a fault-free round,
/// which must finalize.
pub fn run_random(seed: u64, reshare_every: u64, keep: bool) -> Result<ScenarioReport, String> {
    let mut rng = rng_for(seed, "scenario");
    let n = 3 + below(&mut rng, 8) as usize;
    let mut cluster = Cluster::new(seed, n + 1);
    let mut report = ScenarioReport {
        seed,
        rounds: Vec::new(),
        transcript_digest: [0u8; 32],
        known_limit_stalls: Vec::new(),
        transcripts: Vec::new(),
    };
    let mut digest: Vec<u8> = Vec::new();
    let mut members: Vec<usize> = (0..n).collect();
    let reshare = below(&mut rng, reshare_every.max(1)) == 0;
    let rounds = if reshare { 2 } else { 1 };
    let mut previous_transcript: Transcript = Vec::new();
    for r in 0..rounds {
        if r > 0 {
            // Membership change by one half of the time (staying within 3..=10 and t_old).
            match below(&mut rng, 4) {
                0 if members.len() < 10 => members.push(n),
                1 if members.len() > 3 => {
                    let i = below(&mut rng, members.len() as u64) as usize;
                    members.remove(i);
                }
                _ => {}
            }
        }
        let cfg = cluster.next_config(&members)?;
        let (mut plan, expect) = random_plan(&cfg, &mut rng, 20);
        let replays = below(&mut rng, 4) as usize;
        if previous_transcript.is_empty() {
            plan.replays = old_round_replays(&cluster.nodes, &cfg, &mut rng, replays);
        } else {
            for _ in 0..replays {
                let i = below(&mut rng, previous_transcript.len() as u64) as usize;
                if let Some((ph, from, to, b)) = previous_transcript.get(i) {
                    plan.replays.push((*ph, *from, *to, b.clone()));
                }
            }
        }
        let outcome = run_checked(
            &mut cluster,
            &cfg,
            plan,
            expect,
            seed,
            &mut report,
            &mut digest,
            keep,
            &mut previous_transcript,
        )?;
        if outcome == Outcome::Stalled {
            if expect == Expect::MayStall {
                report.known_limit_stalls.push(cfg.epoch);
            }
            // The next round, without faults, must finalize.
            let cfg = cluster.next_config(&members)?;
            let outcome = run_checked(
                &mut cluster,
                &cfg,
                FaultPlan::new(seed, 4),
                Expect::Live,
                seed,
                &mut report,
                &mut digest,
                keep,
                &mut previous_transcript,
            )?;
            if outcome == Outcome::Stalled {
                return Err("the fault-free round after a stall did not finalize".into());
            }
        }
    }
    report.transcript_digest = keccak(&digest);
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn run_checked(
    cluster: &mut Cluster,
    cfg: &Arc<RoundConfig>,
    plan: FaultPlan,
    expect: Expect,
    seed: u64,
    report: &mut ScenarioReport,
    digest: &mut Vec<u8>,
    keep: bool,
    previous_transcript: &mut Transcript,
) -> Result<Outcome, String> {
    let faulty = plan.faulty().len();
    let res = cluster.run(cfg, plan.clone());
    let outcome = check_round(cfg, &plan, &res, expect, seed ^ cfg.epoch).map_err(|e| {
        format!(
            "epoch {} ({:?}, n = {}, t = {}, expect {expect:?}): {e}\nfaults: {}",
            cfg.epoch,
            cfg.kind,
            cfg.players.len(),
            cfg.threshold,
            describe(&plan)
        )
    })?;
    let mut h = Vec::new();
    for (ph, from, to, b) in &res.result.transcript {
        h.extend_from_slice(&rank(*ph).to_be_bytes());
        h.extend_from_slice(from);
        h.extend_from_slice(to);
        h.extend_from_slice(&keccak(b));
    }
    digest.extend_from_slice(&keccak(&h));
    report.rounds.push(RoundReport {
        epoch: cfg.epoch,
        reshare: cfg.previous.is_some(),
        players: cfg.players.len(),
        threshold: cfg.threshold,
        faulty,
        faults: describe(&plan),
        kinds: fault_kinds(&plan),
        expect,
        outcome,
        transcript_len: res.result.transcript.len(),
    });
    if keep {
        report.transcripts.push(res.result.transcript.clone());
    }
    *previous_transcript = res.result.transcript;
    Ok(outcome)
}

/// A readable summary of a plan's node faults.
pub fn describe(plan: &FaultPlan) -> String {
    let short = |a: &Address| crate::hex_address(a).chars().take(8).collect::<String>();
    let list = |v: &[Address]| v.iter().map(short).collect::<Vec<_>>().join(" ");
    plan.nodes
        .iter()
        .map(|(a, p)| {
            let mut parts = Vec::new();
            if let Some(d) = p.down {
                parts.push(format!(
                    "down {:?}..{:?}{}",
                    d.from,
                    d.until,
                    if d.restart { " (restart)" } else { "" }
                ));
            }
            if p.no_ack {
                parts.push("no-ack".to_string());
            }
            if let Some(f) = &p.dealer {
                parts.push(match f {
                    DealerFault::BadShare { to } => format!("bad share to {}", short(to)),
                    DealerFault::WrongDegree => "wrong degree".into(),
                    DealerFault::IdentityPoint { index } => format!("identity point at {index}"),
                    DealerFault::OffSubgroup { index } => format!("off-subgroup point at {index}"),
                    DealerFault::Equivocate { others } => {
                        format!("equivocates to [{}]", list(others))
                    }
                    DealerFault::Withhold { to } => format!("withholds from {}", short(to)),
                    DealerFault::Misaddressed { to, instead } => {
                        format!("deal for {} sent to {}", short(to), short(instead))
                    }
                    DealerFault::WrongSeal { to, sealed_for } => {
                        format!("deal to {} sealed for {}", short(to), short(sealed_for))
                    }
                });
            }
            for b in &p.byz {
                parts.push(format!("{b:?}"));
            }
            if let Some(f) = &p.leader {
                parts.push(match f {
                    LeaderFault::CrashBeforePropose => "leader crashes before proposing".into(),
                    LeaderFault::CrashAfterPropose { reach } => {
                        format!("leader crashes after proposing to [{}]", list(reach))
                    }
                    LeaderFault::InvalidSet => "leader proposes an invalid set".into(),
                    LeaderFault::PartialSet => "leader proposes a partial set".into(),
                    LeaderFault::Split { full } => {
                        format!("leader splits, full set to [{}]", list(full))
                    }
                    LeaderFault::WithholdCertificate => "leader withholds the certificate".into(),
                });
            }
            format!("{}: {}", short(a), parts.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The kinds of fault in a plan, one entry per node fault (for coverage tallies).
pub fn fault_kinds(plan: &FaultPlan) -> Vec<&'static str> {
    let mut out = Vec::new();
    for p in plan.nodes.values() {
        if let Some(d) = p.down {
            out.push(match (d.restart, d.until) {
                (true, _) => "crash and resume",
                (false, None) if d.from == Phase::Deal => "offline",
                (false, _) => "partitioned",
            });
        }
        if p.no_ack {
            out.push("no ack");
        }
        if let Some(f) = &p.dealer {
            out.push(match f {
                DealerFault::BadShare { .. } => "bad share",
                DealerFault::WrongDegree => "wrong degree",
                DealerFault::IdentityPoint { .. } => "identity point",
                DealerFault::OffSubgroup { .. } => "off-subgroup point",
                DealerFault::Equivocate { .. } => "equivocating dealer",
                DealerFault::Withhold { .. } => "withheld share",
                DealerFault::Misaddressed { .. } => "misaddressed share",
                DealerFault::WrongSeal { .. } => "share sealed for another",
            });
        }
        for b in &p.byz {
            out.push(match b {
                Byz::ForgedEpochs => "forged epoch claims",
                Byz::AttemptJumps => "attempt jumps",
                Byz::Flood(_) => "flood of signed junk",
                Byz::WithholdStatus => "withheld statuses",
                Byz::EquivocateProposals => "equivocating proposals",
                Byz::EquivocateStatuses => "equivocating statuses",
            });
        }
        if let Some(f) = &p.leader {
            out.push(match f {
                LeaderFault::CrashBeforePropose => "leader crash before proposal",
                LeaderFault::CrashAfterPropose { .. } => "leader crash after proposal",
                LeaderFault::InvalidSet => "leader invalid set",
                LeaderFault::PartialSet => "leader partial set",
                LeaderFault::Split { .. } => "leader split",
                LeaderFault::WithholdCertificate => "leader withholds certificate",
            });
        }
    }
    if !plan.replays.is_empty() {
        out.push("old-round replays");
    }
    if !plan.failed_writes.is_empty() {
        out.push("failed journal writes");
    }
    if !plan.stale.is_empty() {
        out.push("stale re-deliveries");
    }
    out
}
