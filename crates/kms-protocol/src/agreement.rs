//! Agreement on the dealer set (docs 0005 §4): attempts with a leader each, two votes per
//! attempt, locks on prepare quorum certificates.
//!
//! In attempt a, led by `cfg.leader(a)`:
//! 1. every player sends the leader a `Status`: its lock (the highest prepare certificate it has
//!    seen), the evidence it holds and the logs it holds;
//! 2. the leader proposes the set of the highest lock it was shown, justified by that
//!    certificate, or else every valid log it holds; it forwards each player the logs of the set
//!    that player did not list;
//! 3. a player prevotes the proposal once per attempt, if it is not locked on another set or the
//!    justification is later than its lock, and (for a new set) every log checks;
//! 4. t prevotes (Schnorr signatures) make a prepare certificate, which the leader broadcasts; a
//!    player that receives the one of its current attempt locks on it and precommits, once per
//!    attempt;
//! 5. t precommits (BLS signatures) of one attempt make the round's certificate.
//!
//! Safety: if t players precommit set X in attempt a, at least t - f honest ones are locked on X
//! from a on; a prepare certificate for another set in a later attempt needs t prevotes, of
//! which one comes from such a player, who prevotes another set only on a justification later
//! than its lock, and by induction no such justification exists. Two certificates in one
//! attempt need 2t - n > f honest players to vote twice. Both need 3t > 2n, the threshold rule.
//!
//! Liveness: with an honest leader and t honest players that reach it, the leader sees every one
//! of their locks, so the highest one it proposes is acceptable to each of them; nothing a
//! Byzantine player sends can hold a lock above a real certificate. Attempts move on by the
//! caller's clock only (`start_attempt`): a message for a later attempt is kept if it is for
//! the next one and skipped otherwise, and one for an attempt beyond the round's last is a fault.
//! Leaders take turns, so f + 1 consecutive attempts have an honest one.

use crate::codec::{Reader, Writer};
use crate::error::{FaultReason, SkipReason};
use crate::message::{
    stage_digest, Body, Commit, DealerSet, Envelope, Kind, Prepare, PrepareQc, Stage,
};
use crate::observe::check_set_shape;
use crate::player::{Out, Player};
use crate::quorum::{aggregate, verify_quorum, Votes};
use crate::DecodeError;
use crate::{Address, Reject};
use kms_crypto::bls;
use std::collections::{BTreeMap, BTreeSet};

/// One of this player's votes of stage `S`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Vote<S: Stage> {
    pub attempt: u32,
    pub set_hash: [u8; 32],
    pub mpk: bls::G2Point,
    pub signature: S::Vote,
}

impl<S: Stage> Vote<S> {
    pub fn key(&self) -> (u32, [u8; 32]) {
        (self.attempt, self.set_hash)
    }

    fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u32(self.attempt)
            .fixed(&self.set_hash)
            .fixed(&self.mpk.to_bytes());
        S::write_vote(&mut w, &self.signature);
        w.finish()
    }

    fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let vote = Self {
            attempt: r.u32()?,
            set_hash: r.array()?,
            mpk: bls::G2Point::from_bytes(r.fixed(96)?)?,
            signature: S::read_vote(&mut r)?,
        };
        r.finish()?;
        Ok(vote)
    }
}

/// The proposal this player made as leader (saved: a restarted leader repeats it, never
/// proposes another set in the same attempt).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Proposed {
    pub attempt: u32,
    pub set: DealerSet,
    pub mpk: bls::G2Point,
    pub justify: Option<PrepareQc>,
}

/// A status received as leader.
#[derive(Clone, Debug)]
struct Status {
    lock: Option<PrepareQc>,
    held: BTreeSet<(u16, [u8; 32])>,
}

/// Agreement state: the saved part (attempt, lock, votes, proposal) and the current attempt's.
#[derive(Default)]
pub(crate) struct Agreement {
    pub started: bool,
    pub attempt: u32,
    pub lock: Option<PrepareQc>,
    pub prevoted: Option<Vote<Prepare>>,
    pub precommitted: Option<Vote<Commit>>,
    pub proposed: Option<Proposed>,
    /// Leader: statuses of this attempt, by player index.
    statuses: BTreeMap<usize, Status>,
    /// The leader's proposal as received in this attempt.
    proposal: Option<Envelope>,
    /// Leader: prevotes and precommits of this attempt, by player index.
    prevotes: BTreeMap<usize, <Prepare as Stage>::Vote>,
    precommits: BTreeMap<usize, <Commit as Stage>::Vote>,
    /// This attempt's prepare certificate (formed here or received).
    prepared: Option<PrepareQc>,
    /// The body hash of the leader's prepare certificate of this attempt that did not verify.
    refused_prepared: Option<[u8; 32]>,
    /// Messages for the next attempt (or attempt 0 before agreement starts), one per sender and
    /// kind.
    early: BTreeMap<(Address, Kind), Envelope>,
    /// Ids of quorum certificates already verified.
    verified: BTreeSet<[u8; 32]>,
}

impl Agreement {
    fn reset_attempt(&mut self) {
        self.statuses.clear();
        self.proposal = None;
        self.prevotes.clear();
        self.precommits.clear();
        self.prepared = None;
        self.refused_prepared = None;
    }
}

impl Player {
    fn leader_of(&self, attempt: u32) -> Address {
        self.cfg.leader(attempt)
    }

    fn verify_qc<S: Votes>(&mut self, q: &crate::message::Quorum<S>) -> bool {
        let id = q.id();
        if self.ag.verified.contains(&id) {
            return true;
        }
        let ok = verify_quorum(&self.cfg, q).is_ok();
        if ok {
            self.ag.verified.insert(id);
        }
        ok
    }

    /// Routes an agreement message by its attempt: handled now, kept for the next attempt,
    /// skipped, or a fault when no honest node could have sent that attempt.
    pub(crate) fn handle_agreement(&mut self, env: &Envelope) -> Result<Vec<Out>, Reject> {
        let sender = env.raw.sender;
        let Some(a) = env.body.attempt() else {
            return Err(SkipReason::NotNeeded.into());
        };
        if a >= self.cfg.attempts() {
            return Err(Reject::fault(sender, FaultReason::AttemptOutOfBounds(a)));
        }
        let next = if self.ag.started {
            self.ag.attempt.saturating_add(1)
        } else {
            0
        };
        if self.ag.started && a < self.ag.attempt {
            return Err(SkipReason::Late.into());
        }
        if !self.ag.started || a > self.ag.attempt {
            if a != next {
                return Err(SkipReason::Early.into());
            }
            return match self.ag.early.entry((sender, env.raw.kind)) {
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(env.clone());
                    Ok(Vec::new())
                }
                std::collections::btree_map::Entry::Occupied(o) => Err(if o.get().raw == env.raw {
                    SkipReason::Duplicate.into()
                } else {
                    SkipReason::Early.into()
                }),
            };
        }
        self.handle_current(env, a)
    }

    fn handle_current(&mut self, env: &Envelope, a: u32) -> Result<Vec<Out>, Reject> {
        let sender = env.raw.sender;
        let fault = |reason| Reject::fault(sender, reason);
        let leader = self.leader_of(a);
        let from_player = self
            .cfg
            .player_index(&sender)
            .ok_or(Reject::Skip(SkipReason::UnknownSender))?;
        match &env.body {
            Body::Status {
                lock,
                evidence,
                held,
                ..
            } => {
                if leader != self.me {
                    return Err(fault(FaultReason::Invalid(
                        "status sent to a player that does not lead the attempt",
                    )));
                }
                if self.ag.statuses.contains_key(&from_player) {
                    // Statuses are advice: a second one (a restarted sender) is not evidence.
                    return Err(SkipReason::Duplicate.into());
                }
                if let Some(l) = lock {
                    if l.attempt >= a || !self.verify_qc(l) {
                        // Its slot is taken all the same: one lock check per sender and attempt,
                        // however many statuses it sends.
                        self.ag.statuses.insert(
                            from_player,
                            Status {
                                lock: None,
                                held: BTreeSet::new(),
                            },
                        );
                        return Err(fault(FaultReason::Invalid(
                            "status carries an invalid lock",
                        )));
                    }
                }
                for e in evidence {
                    if let Some(d) = self.cfg.dealer_index(&e.dealer()) {
                        if !self.evidence.contains_key(&d) && self.evidence_holds(e) {
                            self.evidence.insert(d, e.clone());
                        }
                    }
                }
                self.ag.statuses.insert(
                    from_player,
                    Status {
                        lock: lock.clone(),
                        held: held.iter().copied().collect(),
                    },
                );
                Ok(Vec::new())
            }
            Body::Proposal { set, justify, .. } => {
                if sender != leader {
                    return Err(fault(FaultReason::NotLeader));
                }
                if sender == self.me {
                    return Ok(Vec::new());
                }
                if let Some(prev) = &self.ag.proposal {
                    return Err(if prev.raw == env.raw {
                        SkipReason::Duplicate.into()
                    } else {
                        fault(FaultReason::Equivocation)
                    });
                }
                self.ag.proposal = Some(env.clone());
                check_set_shape(&self.cfg, set)
                    .map_err(|_| fault(FaultReason::Invalid("proposed set is malformed")))?;
                match justify {
                    Some(j) => {
                        if j.set != *set || j.attempt >= a || !self.verify_qc(j) {
                            return Err(fault(FaultReason::Invalid(
                                "proposal's justification does not hold",
                            )));
                        }
                    }
                    None => {
                        if self.set_has_invalid_log(set) {
                            return Err(fault(FaultReason::Invalid("proposed an invalid log")));
                        }
                        for (_, e) in &set.excluded {
                            if !self.evidence_holds(e) {
                                return Err(fault(FaultReason::Invalid(
                                    "proposed an exclusion without proof",
                                )));
                            }
                        }
                    }
                }
                Ok(self
                    .prevote(set, justify.as_ref())
                    .map(|v| {
                        Out::Msg(self.vote_msg(Body::Prevote {
                            attempt: a,
                            set_hash: v.set_hash,
                            signature: v.signature,
                        }))
                    })
                    .into_iter()
                    .collect())
            }
            Body::Prevote {
                set_hash,
                signature,
                ..
            } => {
                if leader != self.me {
                    return Err(fault(FaultReason::Invalid(
                        "prevote sent to a player that does not lead the attempt",
                    )));
                }
                let Some(p) = self.ag.proposed.clone().filter(|p| p.attempt == a) else {
                    return Err(SkipReason::NotNeeded.into());
                };
                if *set_hash != p.set.hash() {
                    return Err(fault(FaultReason::Invalid("prevote for another set")));
                }
                if self.ag.prevotes.contains_key(&from_player) {
                    return Err(SkipReason::Duplicate.into());
                }
                self.ag.prevotes.insert(from_player, *signature);
                Ok(self.try_prepare())
            }
            Body::Prepared(qc) => {
                if sender != leader {
                    return Err(fault(FaultReason::NotLeader));
                }
                if sender == self.me {
                    return Ok(Vec::new());
                }
                if let Some(held) = &self.ag.prepared {
                    return Err(if held.set == qc.set {
                        SkipReason::Duplicate.into()
                    } else {
                        fault(FaultReason::Equivocation)
                    });
                }
                // One check per attempt: after a refused one, the leader's next is not checked.
                if let Some(refused) = &self.ag.refused_prepared {
                    return Err(if *refused == env.raw.body_hash() {
                        SkipReason::Duplicate.into()
                    } else {
                        fault(FaultReason::Equivocation)
                    });
                }
                if !self.verify_qc(qc) {
                    self.ag.refused_prepared = Some(env.raw.body_hash());
                    return Err(fault(FaultReason::Invalid(
                        "prepare certificate does not verify",
                    )));
                }
                Ok(self.on_prepared(qc.clone()))
            }
            Body::Precommit {
                set_hash,
                signature,
                ..
            } => {
                if leader != self.me {
                    return Err(fault(FaultReason::Invalid(
                        "precommit sent to a player that does not lead the attempt",
                    )));
                }
                let Some(q) = self.ag.prepared.clone() else {
                    return Err(SkipReason::NotNeeded.into());
                };
                if *set_hash != q.set.hash() {
                    return Err(fault(FaultReason::Invalid("precommit for another set")));
                }
                if self.ag.precommits.contains_key(&from_player) {
                    return Err(SkipReason::Duplicate.into());
                }
                self.ag.precommits.insert(from_player, *signature);
                Ok(self.try_commit())
            }
            Body::Deal(_) | Body::Acks(_) | Body::Log(_) | Body::Certificate(_) => {
                Err(SkipReason::NotNeeded.into())
            }
        }
    }

    /// Starts agreement attempt `attempt` (the caller's clock says so): sends the attempt's
    /// leader a status, then handles what was kept for this attempt. An attempt at or before the
    /// current one sends the status again.
    pub fn start_attempt(&mut self, attempt: u32) -> Vec<Out> {
        if self.ag.started && attempt < self.ag.attempt {
            return Vec::new();
        }
        let fresh = !self.ag.started || attempt > self.ag.attempt;
        if fresh {
            self.ag.started = true;
            self.ag.attempt = attempt;
            self.ag.reset_attempt();
        }
        let held = self.held_logs();
        let status = self.sign(
            Some(self.leader_of(attempt)),
            Body::Status {
                attempt,
                lock: self.ag.lock.clone(),
                evidence: self.evidence.values().cloned().collect(),
                held,
            },
        );
        let mut out = vec![Out::Msg(status)];
        if fresh {
            let early = std::mem::take(&mut self.ag.early);
            for ((sender, kind), env) in early {
                match env.body.attempt() {
                    Some(a) if a == attempt => {
                        if let Ok(o) = self.handle_current(&env, a) {
                            out.extend(o);
                        }
                    }
                    Some(a) if a == attempt.saturating_add(1) => {
                        self.ag.early.insert((sender, kind), env);
                    }
                    _ => {}
                }
            }
        }
        out
    }

    /// Leader: whether every player's status for this attempt is in.
    pub fn statuses_complete(&self) -> bool {
        self.ag.statuses.len() == self.cfg.players.len()
    }

    /// Whether this player leads its current attempt.
    pub fn leads(&self) -> bool {
        self.ag.started && self.leader_of(self.ag.attempt) == self.me
    }

    /// Leader only: proposes for the current attempt (the set of the highest lock shown, or
    /// every valid log held), forwarding each player the logs of the set it did not list, and
    /// prevotes it. A leader that already holds the certificate sends that instead; one that
    /// already proposed in this attempt sends the same proposal again.
    pub fn propose(&mut self) -> Vec<Out> {
        if !self.leads() {
            return Vec::new();
        }
        if let Some(cert) = &self.certificate {
            return vec![Out::Msg(self.sign(None, Body::Certificate(cert.clone())))];
        }
        let a = self.ag.attempt;
        let proposed = match self.ag.proposed.clone().filter(|p| p.attempt == a) {
            Some(p) => p,
            None => {
                let mut locks: Vec<PrepareQc> = self
                    .ag
                    .statuses
                    .values()
                    .filter_map(|s| s.lock.clone())
                    .collect();
                locks.extend(self.ag.lock.clone());
                let highest = locks.into_iter().max_by_key(|q| q.attempt);
                let p = match highest {
                    Some(q) => Proposed {
                        attempt: a,
                        set: q.set.clone(),
                        mpk: q.mpk,
                        justify: Some(q),
                    },
                    None => {
                        let included = self.usable_logs();
                        let excluded = self
                            .evidence
                            .iter()
                            .filter_map(|(d, e)| Some((u16::try_from(*d).ok()?, e.clone())))
                            .collect();
                        let set = DealerSet { included, excluded };
                        let Some(mpk) = self.set_mpk(&set) else {
                            return Vec::new();
                        };
                        Proposed {
                            attempt: a,
                            set,
                            mpk,
                            justify: None,
                        }
                    }
                };
                if check_set_shape(&self.cfg, &p.set).is_err() {
                    return Vec::new();
                }
                self.ag.proposed = Some(p.clone());
                p
            }
        };
        let mut out = Vec::new();
        for (i, st) in &self.ag.statuses {
            let Some(to) = self.cfg.players.get(*i).map(|o| o.address) else {
                continue;
            };
            if to == self.me {
                continue;
            }
            for (d, h) in &proposed.set.included {
                if !st.held.contains(&(*d, *h)) {
                    if let Some(log) = self.logs.get(&(usize::from(*d), *h)) {
                        out.push(Out::Forward {
                            to,
                            env: log.clone(),
                        });
                    }
                }
            }
        }
        out.push(Out::Msg(self.sign(
            None,
            Body::Proposal {
                attempt: a,
                set: proposed.set.clone(),
                justify: proposed.justify.clone(),
            },
        )));
        if let Some(v) = self.prevote(&proposed.set, proposed.justify.as_ref()) {
            self.ag.prevotes.insert(self.index, v.signature);
        } else if let Some(v) = &self.ag.prevoted {
            // A leader restarted in its attempt prevoted this proposal before: that vote counts.
            if v.attempt == a && v.set_hash == proposed.set.hash() {
                self.ag.prevotes.insert(self.index, v.signature);
            }
        }
        out.extend(self.try_prepare());
        out
    }

    /// Decides this player's prevote on `set` in the current attempt (at most one per attempt).
    fn prevote(&mut self, set: &DealerSet, justify: Option<&PrepareQc>) -> Option<Vote<Prepare>> {
        let a = self.ag.attempt;
        if self.ag.prevoted.as_ref().is_some_and(|v| v.attempt >= a) {
            return None;
        }
        let set_hash = set.hash();
        if let Some(lock) = &self.ag.lock {
            let unlocks = justify.is_some_and(|j| j.attempt > lock.attempt);
            if lock.set.hash() != set_hash && !unlocks {
                return None;
            }
        }
        let mpk = match justify {
            // A prepare certificate holds t prevotes, one of them honest: the set was checked.
            Some(j) => j.mpk,
            None => {
                if !self.set_logs_check(set) {
                    return None;
                }
                if !set.excluded.iter().all(|(_, e)| self.evidence_holds(e)) {
                    return None;
                }
                self.set_mpk(set)?
            }
        };
        let signature = Prepare::sign(
            &self.key,
            &stage_digest::<Prepare>(&self.cfg, a, &set_hash, &mpk),
        );
        let v = Vote {
            attempt: a,
            set_hash,
            mpk,
            signature,
        };
        self.ag.prevoted = Some(v.clone());
        Some(v)
    }

    /// A vote (a prevote or a precommit body) to the attempt's leader.
    fn vote_msg(&self, body: Body) -> Envelope {
        let leader = self.leader_of(body.attempt().unwrap_or(self.ag.attempt));
        self.sign(Some(leader), body)
    }

    /// Leader: with t prevotes, the prepare certificate; broadcast, then taken here too.
    fn try_prepare(&mut self) -> Vec<Out> {
        if self.ag.prepared.is_some() {
            return Vec::new();
        }
        let Some(p) = self
            .ag
            .proposed
            .clone()
            .filter(|p| p.attempt == self.ag.attempt)
        else {
            return Vec::new();
        };
        let Some(qc) = aggregate(
            &self.cfg,
            p.attempt,
            &p.set,
            p.mpk,
            &mut self.ag.prevotes,
            Prepare,
        ) else {
            return Vec::new();
        };
        self.ag.verified.insert(qc.id());
        let mut out = vec![Out::Msg(self.sign(None, Body::Prepared(qc.clone())))];
        out.extend(self.on_prepared(qc));
        out
    }

    /// Takes the current attempt's prepare certificate: lock on it, precommit once.
    fn on_prepared(&mut self, qc: PrepareQc) -> Vec<Out> {
        let a = self.ag.attempt;
        self.ag.prepared = Some(qc.clone());
        if self.ag.lock.as_ref().is_none_or(|l| qc.attempt > l.attempt) {
            self.ag.lock = Some(qc.clone());
        }
        if self
            .ag
            .precommitted
            .as_ref()
            .is_some_and(|v| v.attempt >= a)
        {
            return Vec::new();
        }
        let set_hash = qc.set.hash();
        let signature = Commit::sign(
            &self.key,
            &stage_digest::<Commit>(&self.cfg, a, &set_hash, &qc.mpk),
        );
        let v = Vote {
            attempt: a,
            set_hash,
            mpk: qc.mpk,
            signature,
        };
        self.ag.precommitted = Some(v.clone());
        if self.leader_of(a) == self.me {
            self.ag.precommits.insert(self.index, signature);
            return self.try_commit();
        }
        vec![Out::Msg(self.vote_msg(Body::Precommit {
            attempt: a,
            set_hash,
            signature,
        }))]
    }

    /// Leader: with t precommits of this attempt, the round's certificate, broadcast.
    fn try_commit(&mut self) -> Vec<Out> {
        if self.certificate.is_some() {
            return Vec::new();
        }
        let Some(q) = self.ag.prepared.clone() else {
            return Vec::new();
        };
        let Some(cert) = aggregate(
            &self.cfg,
            q.attempt,
            &q.set,
            q.mpk,
            &mut self.ag.precommits,
            Commit,
        ) else {
            return Vec::new();
        };
        self.certificate = Some(cert.clone());
        vec![Out::Msg(self.sign(None, Body::Certificate(cert)))]
    }
}

impl Agreement {
    pub(crate) fn write(&self, w: &mut Writer) {
        w.u8(u8::from(self.started)).u32(self.attempt);
        write_opt(w, self.lock.as_ref().map(PrepareQc::encode));
        write_opt(w, self.prevoted.as_ref().map(Vote::encode));
        write_opt(w, self.precommitted.as_ref().map(Vote::encode));
        write_opt(
            w,
            self.proposed.as_ref().map(|p| {
                let mut w = Writer::default();
                w.u32(p.attempt);
                p.set.write(&mut w);
                w.fixed(&p.mpk.to_bytes());
                write_opt(&mut w, p.justify.as_ref().map(PrepareQc::encode));
                w.finish()
            }),
        );
    }

    pub(crate) fn read(
        r: &mut Reader<'_>,
        cache: &mut crate::CommitmentCache,
    ) -> Result<Self, DecodeError> {
        let started = r.bool()?;
        let attempt = r.u32()?;
        let qc = |b: &[u8], cache: &mut crate::CommitmentCache| -> Result<PrepareQc, DecodeError> {
            let mut qr = Reader::new(b);
            let q = PrepareQc::read(&mut qr, cache, Prepare)?;
            qr.finish()?;
            Ok(q)
        };
        let lock = read_opt(r)?.map(|b| qc(b, cache)).transpose()?;
        let prevoted = read_opt(r)?.map(Vote::decode).transpose()?;
        let precommitted = read_opt(r)?.map(Vote::decode).transpose()?;
        let proposed = read_opt(r)?
            .map(|b| -> Result<Proposed, DecodeError> {
                let mut pr = Reader::new(b);
                let attempt = pr.u32()?;
                let set = DealerSet::read(&mut pr, cache)?;
                let mpk = bls::G2Point::from_bytes(pr.fixed(96)?)?;
                let justify = read_opt(&mut pr)?.map(|b| qc(b, cache)).transpose()?;
                pr.finish()?;
                Ok(Proposed {
                    attempt,
                    set,
                    mpk,
                    justify,
                })
            })
            .transpose()?;
        Ok(Self {
            started,
            attempt,
            lock,
            prevoted,
            precommitted,
            proposed,
            ..Self::default()
        })
    }
}

fn write_opt(w: &mut Writer, v: Option<Vec<u8>>) {
    match v {
        Some(b) => {
            w.u8(1).bytes(&b);
        }
        None => {
            w.u8(0);
        }
    }
}

fn read_opt<'a>(r: &mut Reader<'a>) -> Result<Option<&'a [u8]>, DecodeError> {
    if r.bool()? {
        Ok(Some(r.bytes()?))
    } else {
        Ok(None)
    }
}
