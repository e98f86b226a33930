//! The player: checks its deals, acks or complains, checks logs, takes part in agreement (and
//! leads an attempt when its turn comes), and finalizes. Its whole state can be saved and resumed.

use crate::check::{check_logs, evidence_holds, share_aad, LogFault, LogInfo};
use crate::codec::{Reader, Writer};
use crate::inbox::Inbox;
use crate::message::{
    vote_digest, AckEntry, Body, Certificate, Complaint, DealerSet, Envelope, Evidence, Kind, Lock,
    RawEnvelope,
};
use crate::observe::{check_set_shape, observe_with, verify_certificate, Output};
use crate::round::RoundConfig;
use crate::{Address, DecodeError, ObserveError, Reject, RejectReason};
use kms_crypto::bls::{
    self, verify_public_shares_batch, verify_shares_batch, Commitment, SecretScalar, Share,
};
use kms_crypto::seal::EncryptionKey;
use kms_crypto::{bn254, Secret};
use std::collections::BTreeMap;
use std::sync::Arc;

const SAVE_VERSION: u8 = 2;

/// A message accepted by the player, and what it sends in response.
pub struct Received {
    pub envelope: Envelope,
    pub outgoing: Vec<Envelope>,
}

/// One player in one round.
pub struct Player {
    cfg: Arc<RoundConfig>,
    me: Address,
    index: usize,
    key: Arc<bn254::SecretKey>,
    enc: Arc<EncryptionKey>,
    inbox: Inbox,
    /// Every accepted envelope, in order (what `save` persists).
    journal: Vec<Envelope>,
    deals: BTreeMap<usize, Envelope>,
    acks: Option<Vec<AckEntry>>,
    /// Shares from deals that checked against their commitments, by dealer: finalize uses them
    /// instead of opening the log's sealed copies again. Not saved; a resumed player re-opens.
    shares: BTreeMap<usize, Secret<SecretScalar>>,
    logs: BTreeMap<usize, Envelope>,
    log_checks: BTreeMap<usize, Result<LogInfo, LogFault>>,
    /// keccak of each held log's body, computed once (logs are O(n^2) bytes).
    log_hashes: BTreeMap<usize, [u8; 32]>,
    evidence: BTreeMap<usize, Evidence>,
    lock: Option<Lock>,
    attempt: u32,
    // Leader state for `attempt`.
    statuses: BTreeMap<usize, Option<Lock>>,
    /// The set proposed in this attempt and the MPK it finalizes to.
    proposal: Option<(DealerSet, bls::G2Point)>,
    votes: BTreeMap<usize, bn254::G1Point>,
    certificate: Option<Certificate>,
}

impl Player {
    pub fn new(
        cfg: Arc<RoundConfig>,
        me: Address,
        key: Arc<bn254::SecretKey>,
        enc: Arc<EncryptionKey>,
    ) -> Result<Self, crate::ConfigError> {
        let index = cfg
            .player_index(&me)
            .ok_or(crate::ConfigError::Invalid("not a player of this round"))?;
        Ok(Self {
            inbox: Inbox::new(cfg.clone(), me),
            cfg,
            me,
            index,
            key,
            enc,
            journal: Vec::new(),
            deals: BTreeMap::new(),
            acks: None,
            shares: BTreeMap::new(),
            logs: BTreeMap::new(),
            log_checks: BTreeMap::new(),
            log_hashes: BTreeMap::new(),
            evidence: BTreeMap::new(),
            lock: None,
            attempt: 0,
            statuses: BTreeMap::new(),
            proposal: None,
            votes: BTreeMap::new(),
            certificate: None,
        })
    }

    pub fn config(&self) -> &Arc<RoundConfig> {
        &self.cfg
    }

    pub fn address(&self) -> Address {
        self.me
    }

    pub fn certificate(&self) -> Option<&Certificate> {
        self.certificate.as_ref()
    }

    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The set this player voted for, if any.
    pub fn lock(&self) -> Option<&Lock> {
        self.lock.as_ref()
    }

    /// The logs held, for peers that need to catch up.
    pub fn logs(&self) -> impl Iterator<Item = &Envelope> {
        self.logs.values()
    }

    /// Receives wire messages. One result per message.
    pub fn receive(&mut self, msgs: &[&[u8]]) -> Vec<Result<Received, Reject>> {
        let accepted = self.inbox.accept(msgs);
        self.handle_accepted(accepted)
    }

    /// Receives messages that are already decoded (see [`Inbox::accept_decoded`]).
    pub fn receive_decoded(&mut self, envs: Vec<Envelope>) -> Vec<Result<Received, Reject>> {
        let accepted = self.inbox.accept_decoded(envs);
        self.handle_accepted(accepted)
    }

    fn handle_accepted(
        &mut self,
        accepted: Vec<Result<Envelope, Reject>>,
    ) -> Vec<Result<Received, Reject>> {
        accepted
            .into_iter()
            .map(|r| {
                let env = r?;
                let outgoing = self.handle(&env)?;
                self.journal.push(env.clone());
                Ok(Received {
                    envelope: env,
                    outgoing,
                })
            })
            .collect()
    }

    fn sign(&self, recipient: Option<Address>, body: Body) -> Envelope {
        Envelope::sign(self.cfg.digest(), self.me, recipient, body, &self.key)
    }

    fn handle(&mut self, env: &Envelope) -> Result<Vec<Envelope>, Reject> {
        let sender = env.raw.sender;
        let by = |reason| Reject::by(sender, reason);
        // A leader's own broadcasts come back to it; it already acted on them. Its own
        // certificate is taken like anyone's when it does not hold one: that is `resume`
        // replaying the journal, and the certificate is the round's decision.
        let own_cert_held = matches!(env.body, Body::Certificate(_)) && self.certificate.is_some();
        if sender == self.me && (matches!(env.body, Body::Proposal { .. }) || own_cert_held) {
            return Ok(Vec::new());
        }
        match &env.body {
            Body::Deal(_) => {
                let d = self
                    .cfg
                    .dealer_index(&sender)
                    .ok_or(by(RejectReason::UnknownSender))?;
                if let Some(prev) = self.deals.get(&d) {
                    if prev.raw == env.raw {
                        return Err(by(RejectReason::Duplicate));
                    }
                    self.evidence.entry(d).or_insert_with(|| {
                        Evidence::Equivocation(Box::new(prev.clone()), Box::new(env.clone()))
                    });
                    return Err(by(RejectReason::Equivocation));
                }
                if self.acks.is_some() {
                    return Err(by(RejectReason::WrongPhase));
                }
                self.deals.insert(d, env.clone());
                Ok(Vec::new())
            }
            // Acks are for dealers; a player only keeps them in the journal.
            Body::Acks(_) => Ok(Vec::new()),
            Body::Log(log) => {
                let d = self
                    .cfg
                    .dealer_index(&sender)
                    .ok_or(by(RejectReason::UnknownSender))?;
                if let Some(prev) = self.logs.get(&d) {
                    if prev.raw == env.raw {
                        return Err(by(RejectReason::Duplicate));
                    }
                    self.evidence.entry(d).or_insert_with(|| {
                        Evidence::Equivocation(Box::new(prev.clone()), Box::new(env.clone()))
                    });
                    return Err(by(RejectReason::Equivocation));
                }
                // A log that disagrees with the deal I got is proof of equivocation.
                if let Some(deal) = self.deals.get(&d) {
                    if let Body::Deal(dl) = &deal.body {
                        if dl.commitment_hash != log.commitment_hash
                            || log.shares.get(self.index) != Some(&dl.share)
                        {
                            self.evidence.entry(d).or_insert_with(|| {
                                Evidence::Equivocation(
                                    Box::new(deal.clone()),
                                    Box::new(env.clone()),
                                )
                            });
                        }
                    }
                }
                self.log_hashes.insert(d, env.body_hash());
                self.logs.insert(d, env.clone());
                Ok(Vec::new())
            }
            Body::Status {
                attempt,
                lock,
                evidence,
            } => {
                let p = self
                    .cfg
                    .player_index(&sender)
                    .ok_or(by(RejectReason::UnknownSender))?;
                if *attempt != self.attempt || self.cfg.leader(*attempt) != self.me {
                    return Err(by(RejectReason::WrongPhase));
                }
                if self.statuses.contains_key(&p) {
                    return Err(by(RejectReason::Duplicate));
                }
                if let Some(l) = lock {
                    let key = &self
                        .cfg
                        .players
                        .get(p)
                        .ok_or(by(RejectReason::UnknownSender))?
                        .key_g2;
                    let h = bn254::hash_to_g1(&vote_digest(&self.cfg, &l.set.hash(), &l.mpk));
                    if bn254::verify_point_signature(&h, &l.vote, key).is_err() {
                        return Err(by(RejectReason::Invalid("lock vote does not verify")));
                    }
                }
                for e in evidence {
                    if let Some(d) = self.cfg.dealer_index(&e.dealer()) {
                        if !self.evidence.contains_key(&d)
                            && evidence_holds(&self.cfg, e, &mut self.inbox.checks)
                        {
                            self.evidence.insert(d, e.clone());
                        }
                    }
                }
                self.statuses.insert(p, lock.clone());
                Ok(Vec::new())
            }
            Body::Proposal { attempt, set } => {
                if *attempt < self.attempt || self.cfg.leader(*attempt) != sender {
                    return Err(by(RejectReason::WrongPhase));
                }
                self.attempt = *attempt;
                Ok(self.vote_for(set).into_iter().collect())
            }
            Body::Vote {
                set_hash,
                signature,
            } => {
                let p = self
                    .cfg
                    .player_index(&sender)
                    .ok_or(by(RejectReason::UnknownSender))?;
                let Some((set, _)) = &self.proposal else {
                    return Err(by(RejectReason::WrongPhase));
                };
                if *set_hash != set.hash() {
                    return Err(by(RejectReason::Invalid("vote for another set")));
                }
                if self.votes.contains_key(&p) {
                    return Err(by(RejectReason::Duplicate));
                }
                self.votes.insert(p, *signature);
                Ok(self.try_certify().into_iter().collect())
            }
            Body::Certificate(cert) => {
                if self.certificate.is_some() {
                    return Err(by(RejectReason::Duplicate));
                }
                verify_certificate(&self.cfg, cert)
                    .map_err(|_| by(RejectReason::Invalid("certificate does not verify")))?;
                self.certificate = Some(cert.clone());
                Ok(Vec::new())
            }
        }
    }

    /// Ends the deal phase: checks every deal (batched) and broadcasts one signed `Acks` message
    /// with an ack or a complaint per dealer. Calling it again returns the same message.
    pub fn end_deals(&mut self) -> Envelope {
        if let Some(entries) = &self.acks {
            return self.sign(None, Body::Acks(entries.clone()));
        }
        let round = self.cfg.digest();
        let mut entries: Vec<AckEntry> = Vec::with_capacity(self.cfg.dealers.len());
        let mut pending: Vec<(usize, &Commitment, Share, [u8; 32])> = Vec::new();
        for (d, dealer) in self.cfg.dealers.iter().enumerate() {
            let Some(Body::Deal(deal)) = self.deals.get(&d).map(|e| &e.body) else {
                entries.push(AckEntry::Complaint(Complaint::NoDeal));
                continue;
            };
            if deal.commitment.threshold() != self.cfg.threshold {
                entries.push(AckEntry::Complaint(Complaint::WrongDegree));
                continue;
            }
            let opened = self
                .enc
                .open(&deal.share, &share_aad(&round, &dealer.address, &self.me))
                .ok()
                .and_then(|pt| pt.expose(|b| SecretScalar::from_bytes(b).ok()));
            let Some(value) = opened else {
                entries.push(AckEntry::Complaint(Complaint::Undecryptable));
                continue;
            };
            let point = self.cfg.player_point(self.index);
            let Some(point) = point else {
                entries.push(AckEntry::Complaint(Complaint::Undecryptable));
                continue;
            };
            let ack = crate::check::ack_hash(&deal.commitment_hash, &deal.share);
            entries.push(AckEntry::Ack(ack));
            pending.push((
                d,
                &deal.commitment,
                Share {
                    point,
                    value: Secret::new(value),
                },
                ack,
            ));
        }
        // Shares against commitments, batched; one by one only if the batch fails. The batch
        // coefficients hash every commitment and ciphertext, so dealers fix their shares before
        // the coefficients exist and colluders cannot make two bad shares cancel.
        let seed = crate::message::keccak(
            &pending
                .iter()
                .flat_map(|(_, _, _, h)| *h)
                .collect::<Vec<u8>>(),
        );
        let items: Vec<(&Commitment, &Share)> =
            pending.iter().map(|(_, c, s, _)| (*c, s)).collect();
        if !verify_shares_batch(&items, &seed) {
            for (d, c, s, _) in &pending {
                if c.verify_share(s).is_err() {
                    if let Some(e) = entries.get_mut(*d) {
                        *e = AckEntry::Complaint(Complaint::BadShare);
                    }
                }
            }
        }
        if let Some(prev) = &self.cfg.previous {
            let pairs: Vec<_> = pending
                .iter()
                .filter_map(|(d, c, _, _)| self.cfg.dealer_point(*d).map(|x| (x, c.public_key())))
                .collect();
            if !verify_public_shares_batch(prev, &pairs, &seed) {
                for ((d, _, _, _), pair) in pending.iter().zip(&pairs) {
                    if !verify_public_shares_batch(prev, std::slice::from_ref(pair), &seed) {
                        if let Some(e) = entries.get_mut(*d) {
                            *e = AckEntry::Complaint(Complaint::BadConstant);
                        }
                    }
                }
            }
            // check_logs skips these when the same commitment comes back in the log.
            for (d, _, _, _) in &pending {
                if !matches!(
                    entries.get(*d),
                    Some(AckEntry::Complaint(Complaint::BadConstant))
                ) {
                    if let Some(Body::Deal(deal)) = self.deals.get(d).map(|e| &e.body) {
                        self.inbox.checks.constant_checked(*d, deal.commitment_hash);
                    }
                }
            }
        }
        for (d, _, share, _) in pending {
            if matches!(entries.get(d), Some(AckEntry::Ack(_))) {
                self.shares.insert(d, share.value);
            }
        }
        self.acks = Some(entries.clone());
        self.sign(None, Body::Acks(entries))
    }

    /// Checks every log not yet checked, in one batch; invalid ones become evidence.
    fn check_pending_logs(&mut self) {
        let todo: Vec<usize> = self
            .logs
            .keys()
            .filter(|d| !self.log_checks.contains_key(d))
            .copied()
            .collect();
        let envs: Vec<&Envelope> = todo.iter().filter_map(|d| self.logs.get(d)).collect();
        let results = check_logs(&self.cfg, &envs, &mut self.inbox.checks);
        for (d, r) in todo.into_iter().zip(results) {
            if let (Err(f), Some(l)) = (&r, self.logs.get(&d)) {
                if *f != LogFault::BadSignature {
                    self.evidence
                        .entry(d)
                        .or_insert_with(|| Evidence::InvalidLog(Box::new(l.clone())));
                }
            }
            self.log_checks.insert(d, r);
        }
    }

    /// Starts agreement attempt `attempt`: sends the attempt's leader a status with this player's
    /// lock and evidence.
    pub fn start_attempt(&mut self, attempt: u32) -> Envelope {
        if attempt > self.attempt || self.statuses.is_empty() {
            self.statuses.clear();
            self.votes.clear();
            self.proposal = None;
        }
        self.attempt = self.attempt.max(attempt);
        self.check_pending_logs();
        self.sign(
            Some(self.cfg.leader(self.attempt)),
            Body::Status {
                attempt: self.attempt,
                lock: self.lock.clone(),
                evidence: self.evidence.values().cloned().collect(),
            },
        )
    }

    /// Leader only: proposes the dealer set for the current attempt (the locked set with most
    /// votes if any player reported a lock, else every valid log). Returns the broadcast
    /// proposal, plus a certificate if the locks already make a quorum. A leader that already
    /// holds the certificate re-sends it instead.
    pub fn propose(&mut self) -> Vec<Envelope> {
        if self.cfg.leader(self.attempt) != self.me {
            return Vec::new();
        }
        // The round is already certified: a player still running attempts missed the
        // certificate, so send it again instead of collecting votes nobody will use.
        if let Some(cert) = &self.certificate {
            return vec![self.sign(None, Body::Certificate(cert.clone()))];
        }
        self.check_pending_logs();
        let mut locks: Vec<(usize, Lock)> = self
            .statuses
            .iter()
            .filter_map(|(p, l)| l.clone().map(|l| (*p, l)))
            .collect();
        if let Some(l) = &self.lock {
            locks.push((self.index, l.clone()));
        }
        let mut tally: BTreeMap<[u8; 32], (usize, DealerSet)> = BTreeMap::new();
        for (_, l) in &locks {
            tally.entry(l.set.hash()).or_insert((0, l.set.clone())).0 += 1;
        }
        let locked = tally
            .into_iter()
            .max_by(|(ha, (ca, _)), (hb, (cb, _))| ca.cmp(cb).then(hb.cmp(ha)))
            .map(|(_, (_, s))| s);
        let set = match locked {
            Some(s) => s,
            None => {
                let included: Vec<(u16, [u8; 32])> = self
                    .log_checks
                    .iter()
                    .filter(|(d, r)| r.is_ok() && !self.evidence.contains_key(d))
                    .filter_map(|(d, _)| Some((u16::try_from(*d).ok()?, *self.log_hashes.get(d)?)))
                    .collect();
                let excluded: Vec<(u16, Evidence)> = self
                    .evidence
                    .iter()
                    .filter_map(|(d, e)| Some((u16::try_from(*d).ok()?, e.clone())))
                    .collect();
                DealerSet { included, excluded }
            }
        };
        if check_set_shape(&self.cfg, &set).is_err() {
            return Vec::new();
        }
        let hash = set.hash();
        // The leader's own view of the MPK first; a lock's only for a set whose logs it lacks.
        let Some(mpk) = self.set_mpk(&set).or_else(|| {
            locks
                .iter()
                .find(|(_, l)| l.set.hash() == hash)
                .map(|(_, l)| l.mpk)
        }) else {
            return Vec::new();
        };
        self.votes = locks
            .into_iter()
            .filter(|(_, l)| l.set.hash() == hash && l.mpk == mpk)
            .map(|(p, l)| (p, l.vote))
            .collect();
        self.proposal = Some((set.clone(), mpk));
        let mut out = vec![self.sign(
            None,
            Body::Proposal {
                attempt: self.attempt,
                set: set.clone(),
            },
        )];
        // The leader votes for its own proposal like any player.
        if let Some(Body::Vote { signature, .. }) = self.vote_for(&set).map(|v| v.body) {
            self.votes.insert(self.index, signature);
        }
        out.extend(self.try_certify());
        out
    }

    /// Votes for `set` if it checks and this player is not locked on another set.
    fn vote_for(&mut self, set: &DealerSet) -> Option<Envelope> {
        let leader = self.cfg.leader(self.attempt);
        let set_hash = set.hash();
        if let Some(lock) = &self.lock {
            return (lock.set.hash() == set_hash).then(|| {
                self.sign(
                    Some(leader),
                    Body::Vote {
                        set_hash,
                        signature: lock.vote,
                    },
                )
            });
        }
        check_set_shape(&self.cfg, set).ok()?;
        self.check_pending_logs();
        for (d, h) in &set.included {
            let d = usize::from(*d);
            if self.log_hashes.get(&d) != Some(h) || !matches!(self.log_checks.get(&d), Some(Ok(_)))
            {
                return None;
            }
        }
        for (_, e) in &set.excluded {
            if !evidence_holds(&self.cfg, e, &mut self.inbox.checks) {
                return None;
            }
        }
        let mpk = self.set_mpk(set)?;
        let signature = self
            .key
            .sign_hash(&vote_digest(&self.cfg, &set_hash, &mpk))
            .1;
        self.lock = Some(Lock {
            set: set.clone(),
            mpk,
            vote: signature,
        });
        Some(self.sign(
            Some(leader),
            Body::Vote {
                set_hash,
                signature,
            },
        ))
    }

    /// The MPK `set` finalizes to, from the logs this player holds: the previous MPK for a
    /// reshare (which keeps it), the sum of the included dealings' constant terms for a DKG. None
    /// while a log of the set is missing or is not the one the set names.
    fn set_mpk(&self, set: &DealerSet) -> Option<bls::G2Point> {
        if let Some(prev) = &self.cfg.previous {
            return Some(prev.public_key());
        }
        let keys = set
            .included
            .iter()
            .map(|(d, h)| {
                let d = usize::from(*d);
                if self.log_hashes.get(&d) != Some(h) {
                    return None;
                }
                match self.logs.get(&d).map(|e| &e.body) {
                    Some(Body::Log(l)) => Some(l.commitment.public_key()),
                    _ => None,
                }
            })
            .collect::<Option<Vec<_>>>()?;
        bls::G2Point::sum(&keys).ok()
    }

    /// Leader: with t votes, aggregates them into the certificate (dropping bad votes first).
    fn try_certify(&mut self) -> Option<Envelope> {
        let (set, mpk) = self.proposal.clone()?;
        if self.certificate.is_some() || self.votes.len() < self.cfg.threshold {
            return None;
        }
        let round = self.cfg.digest();
        let build = |votes: &BTreeMap<usize, bn254::G1Point>| -> Option<Certificate> {
            let sigs: Vec<bn254::G1Point> = votes.values().copied().collect();
            Some(Certificate {
                round,
                set: set.clone(),
                mpk,
                signers: votes
                    .keys()
                    .map(|p| u16::try_from(*p).ok())
                    .collect::<Option<_>>()?,
                signature: bn254::aggregate_g1(&sigs).ok()?,
            })
        };
        let mut cert = build(&self.votes)?;
        if verify_certificate(&self.cfg, &cert).is_err() {
            let h = bn254::hash_to_g1(&vote_digest(&self.cfg, &set.hash(), &mpk));
            let cfg = self.cfg.clone();
            self.votes.retain(|p, sig| {
                cfg.players
                    .get(*p)
                    .is_some_and(|o| bn254::verify_point_signature(&h, sig, &o.key_g2).is_ok())
            });
            if self.votes.len() < self.cfg.threshold {
                return None;
            }
            cert = build(&self.votes)?;
        }
        self.certificate = Some(cert.clone());
        // Journaled now, not when the broadcast comes back (it may not): `save` must hold the
        // round's decision.
        let env = self.sign(None, Body::Certificate(cert));
        self.journal.push(env.clone());
        Some(env)
    }

    /// Finalizes from the certificate and the logs held. `MissingLogs` names the dealers whose
    /// logs the caller must fetch (and feed to `receive`) first.
    pub fn finalize(&mut self) -> Result<Output, ObserveError> {
        let cert = self
            .certificate
            .clone()
            .ok_or(ObserveError::BadCertificate("no certificate yet"))?;
        self.check_pending_logs();
        let logs: Vec<Envelope> = self.logs.values().cloned().collect();
        observe_with(
            &self.cfg,
            &cert,
            &logs,
            Some((&self.me, &self.enc, &self.shares)),
            &mut self.inbox.checks,
            Some(&self.log_checks),
        )
    }

    /// Everything needed to resume: the decisions made (acks, lock, attempt) and every accepted
    /// message. Secret-free apart from what the messages already are (sealed shares).
    pub fn save(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u8(SAVE_VERSION)
            .fixed(&self.cfg.digest())
            .u32(self.attempt);
        match &self.acks {
            Some(entries) => {
                w.u8(1);
                w.bytes(&Body::Acks(entries.clone()).encode());
            }
            None => {
                w.u8(0);
            }
        }
        match &self.lock {
            Some(l) => {
                w.u8(1);
                w.bytes(&l.encode());
            }
            None => {
                w.u8(0);
            }
        }
        w.count(self.journal.len());
        for e in &self.journal {
            w.bytes(&e.encode());
        }
        w.finish()
    }

    /// Restores a saved player. Saved messages are replayed without re-sending anything.
    pub fn resume(
        cfg: Arc<RoundConfig>,
        me: Address,
        key: Arc<bn254::SecretKey>,
        enc: Arc<EncryptionKey>,
        saved: &[u8],
    ) -> Result<Self, DecodeError> {
        let mut p = Self::new(cfg.clone(), me, key, enc)
            .map_err(|_| DecodeError::Invalid("not a player of this round"))?;
        let mut r = Reader::new(saved);
        if r.u8()? != SAVE_VERSION {
            return Err(DecodeError::BadVersion);
        }
        if r.array::<32>()? != cfg.digest() {
            return Err(DecodeError::Invalid("saved state is for another round"));
        }
        let attempt = r.u32()?;
        let acks = if r.bool()? {
            match Body::decode(Kind::Acks, r.bytes()?, &mut p.inbox.cache)? {
                Body::Acks(e) => Some(e),
                _ => None,
            }
        } else {
            None
        };
        let lock = if r.bool()? {
            let mut lr = Reader::new(r.bytes()?);
            let l = Lock::read(&mut lr, &mut p.inbox.cache)?;
            lr.finish()?;
            Some(l)
        } else {
            None
        };
        let n = r.count(4)?;
        let mut envs = Vec::with_capacity(n);
        for _ in 0..n {
            let raw = RawEnvelope::parse(r.bytes()?)?;
            let env = raw
                .open(&mut p.inbox.cache)
                .map_err(|_| DecodeError::Invalid("saved message"))?;
            envs.push(env);
        }
        r.finish()?;
        // Replay: deals must be taken before the acks decision is restored.
        for env in envs {
            if matches!(
                env.body,
                Body::Certificate(_) | Body::Status { .. } | Body::Vote { .. }
            ) {
                // Re-derived below or transient leader state.
            }
            let _ = p.handle(&env);
            p.journal.push(env);
        }
        p.acks = acks;
        p.lock = lock;
        p.attempt = p.attempt.max(attempt);
        Ok(p)
    }
}
