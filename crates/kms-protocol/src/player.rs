//! The player: checks its deals, acks or complains, checks logs, takes part in agreement (and
//! leads an attempt when its turn comes, see `agreement`), and finalizes. Its decisions and the
//! messages it needs again can be saved and resumed.
//!
//! What it keeps is bounded per sender: at most two versions of a dealer's deal or log (the
//! second is the evidence of equivocation; a third is refused unseen), one `Acks` per player,
//! and for agreement one message of each kind per sender and attempt. Its journal (what
//! `save` persists) holds only deals and logs, so it grows with n, never with what a sender
//! chooses to send.

use crate::agreement::{Agreement, Vote};
use crate::check::{check_logs, evidence_holds, share_aad, LogFault};
use crate::codec::{Reader, Writer};
use crate::error::{FaultReason, SkipReason};
use crate::inbox::Inbox;
use crate::message::{
    AckEntry, Body, Certificate, Commit, Complaint, DealerSet, Envelope, Evidence, Kind, PrepareQc,
    Quorum, RawEnvelope,
};
use crate::observe::{observe_with, verify_certificate, Output};
use crate::round::RoundConfig;
use crate::{Address, DecodeError, ObserveError, Reject};
use kms_crypto::bls::{
    self, verify_public_shares_batch, verify_shares_batch, Commitment, SecretScalar, Share,
};
use kms_crypto::seal::EncryptionKey;
use kms_crypto::{bn254, Secret};
use std::collections::BTreeMap;
use std::sync::Arc;

const SAVE_VERSION: u8 = 4;

/// What a player sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Out {
    /// To the envelope's recipient, or to every member of the round for a broadcast.
    Msg(Envelope),
    /// Someone else's signed message (a dealer's log), passed on to one player that lacks it.
    Forward {
        /// The player that lacks it.
        to: Address,
        /// The message, unchanged (still signed by its author).
        env: Envelope,
    },
}

impl Out {
    /// The message to send, whoever it goes to.
    pub fn envelope(&self) -> &Envelope {
        match self {
            Out::Msg(e) | Out::Forward { env: e, .. } => e,
        }
    }
}

/// A message accepted by the player, and what it sends in response.
pub struct Received {
    /// The accepted message, checked and decoded.
    pub envelope: Envelope,
    /// What the player sends in response, in order.
    pub outgoing: Vec<Out>,
}

/// An envelope taken with nothing to send (an intake without a player).
pub(crate) fn received(envelope: Envelope) -> Received {
    Received {
        envelope,
        outgoing: Vec::new(),
    }
}

/// One player in one round.
pub struct Player {
    pub(crate) cfg: Arc<RoundConfig>,
    pub(crate) me: Address,
    pub(crate) index: usize,
    pub(crate) key: Arc<bn254::SecretKey>,
    enc: Arc<EncryptionKey>,
    pub(crate) inbox: Inbox,
    /// Deals and logs taken, in order (what `save` persists with the decisions).
    journal: Vec<Envelope>,
    /// How much of the journal [`Player::take_journal`] has handed out.
    journal_taken: usize,
    /// Up to two deals per dealer (the second proves equivocation).
    deals: BTreeMap<usize, Vec<Envelope>>,
    acks: Option<Vec<AckEntry>>,
    /// The first `Acks` of each player (a different second one is equivocation).
    acks_from: BTreeMap<usize, RawEnvelope>,
    /// Shares from deals that checked against their commitments, by dealer, with the ack hash
    /// they were acked under: finalize uses one only for a log that holds that same deal. Not
    /// saved; a resumed player re-opens.
    shares: BTreeMap<usize, ([u8; 32], Secret<SecretScalar>)>,
    /// Logs by (dealer, keccak of the body): up to two versions per dealer.
    pub(crate) logs: BTreeMap<(usize, [u8; 32]), Envelope>,
    pub(crate) log_checks: crate::check::LogChecks,
    pub(crate) evidence: BTreeMap<usize, Evidence>,
    pub(crate) ag: Agreement,
    pub(crate) certificate: Option<Certificate>,
}

impl Player {
    /// A fresh player for `me` in round `cfg`, with its signing and decryption keys; fails if
    /// `me` is not one of the round's players.
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
            journal_taken: 0,
            deals: BTreeMap::new(),
            acks: None,
            acks_from: BTreeMap::new(),
            shares: BTreeMap::new(),
            logs: BTreeMap::new(),
            log_checks: BTreeMap::new(),
            evidence: BTreeMap::new(),
            ag: Agreement::default(),
            certificate: None,
        })
    }

    /// The round this player plays.
    pub fn config(&self) -> &Arc<RoundConfig> {
        &self.cfg
    }

    /// This player's own address.
    pub fn address(&self) -> Address {
        self.me
    }

    /// The round's commit certificate, once this player has built or verified one.
    pub fn certificate(&self) -> Option<&Certificate> {
        self.certificate.as_ref()
    }

    /// The agreement attempt this player is in (0 before agreement starts).
    pub fn attempt(&self) -> u32 {
        self.ag.attempt
    }

    /// Whether agreement has started here.
    pub fn in_agreement(&self) -> bool {
        self.ag.started
    }

    /// The highest prepare quorum certificate this player holds: it prevotes for another set
    /// only on a proposal justified by a later one.
    pub fn lock(&self) -> Option<&PrepareQc> {
        self.ag.lock.as_ref()
    }

    /// The set this player last prevoted, with its attempt.
    pub fn last_prevote(&self) -> Option<(u32, [u8; 32])> {
        self.ag.prevoted.as_ref().map(Vote::key)
    }

    /// The set this player last precommitted, with its attempt.
    pub fn last_precommit(&self) -> Option<(u32, [u8; 32])> {
        self.ag.precommitted.as_ref().map(Vote::key)
    }

    /// The logs held, for peers that need to catch up.
    pub fn logs(&self) -> impl Iterator<Item = &Envelope> {
        self.logs.values()
    }

    /// Whether this player has decided its acks (the deal phase is over for it).
    pub fn has_acked(&self) -> bool {
        self.acks.is_some()
    }

    /// Whether a deal from every dealer is in (the deal phase can end early).
    pub fn has_all_deals(&self) -> bool {
        self.deals.len() == self.cfg.dealers.len()
    }

    /// Dealers whose log is held.
    pub fn log_dealers(&self) -> std::collections::BTreeSet<usize> {
        self.logs.keys().map(|(d, _)| *d).collect()
    }

    /// Dealers whose deal is held.
    pub fn deal_dealers(&self) -> std::collections::BTreeSet<usize> {
        self.deals.keys().copied().collect()
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
                Ok(Received {
                    envelope: env,
                    outgoing,
                })
            })
            .collect()
    }

    pub(crate) fn sign(&self, recipient: Option<Address>, body: Body) -> Envelope {
        Envelope::sign(self.cfg.digest(), self.me, recipient, body, &self.key)
    }

    fn journal_push(&mut self, env: &Envelope) {
        self.journal.push(env.clone());
    }

    pub(crate) fn handle(&mut self, env: &Envelope) -> Result<Vec<Out>, Reject> {
        let sender = env.raw.sender;
        let fault = |reason| Reject::fault(sender, reason);
        match &env.body {
            Body::Deal(_) => {
                let d = self
                    .cfg
                    .dealer_index(&sender)
                    .ok_or(Reject::Skip(SkipReason::UnknownSender))?;
                let held = self.deals.entry(d).or_default();
                if held.iter().any(|e| e.raw == env.raw) {
                    return Err(SkipReason::Duplicate.into());
                }
                if let Some(first) = held.first().cloned() {
                    if held.len() >= 2 {
                        return Err(fault(FaultReason::Equivocation));
                    }
                    held.push(env.clone());
                    self.evidence.entry(d).or_insert_with(|| {
                        Evidence::Equivocation(Box::new(first), Box::new(env.clone()))
                    });
                    self.journal_push(env);
                    return Err(fault(FaultReason::Equivocation));
                }
                if self.acks.is_some() {
                    self.deals.remove(&d);
                    return Err(SkipReason::Late.into());
                }
                held.push(env.clone());
                self.journal_push(env);
                Ok(Vec::new())
            }
            // Acks are for dealers; a player only checks that each player sends one.
            Body::Acks(entries) => {
                let p = self
                    .cfg
                    .player_index(&sender)
                    .ok_or(Reject::Skip(SkipReason::UnknownSender))?;
                if let Some(prev) = self.acks_from.get(&p) {
                    return Err(if *prev == env.raw {
                        SkipReason::Duplicate.into()
                    } else {
                        fault(FaultReason::Equivocation)
                    });
                }
                if entries.len() != self.cfg.dealers.len() || env.raw.recipient.is_some() {
                    return Err(fault(FaultReason::Invalid(
                        "acks must be a broadcast with one entry per dealer",
                    )));
                }
                self.acks_from.insert(p, env.raw.clone());
                Ok(Vec::new())
            }
            Body::Log(log) => {
                let d = self
                    .cfg
                    .dealer_index(&sender)
                    .ok_or(Reject::Skip(SkipReason::UnknownSender))?;
                let h = env.body_hash();
                if self.logs.contains_key(&(d, h)) {
                    return Err(SkipReason::Duplicate.into());
                }
                let versions: Vec<Envelope> = self
                    .logs
                    .range((d, [0u8; 32])..=(d, [0xffu8; 32]))
                    .map(|(_, e)| e.clone())
                    .collect();
                if versions.len() >= 2 {
                    return Err(fault(FaultReason::Equivocation));
                }
                // A log that disagrees with the deal I got is proof of equivocation.
                let deal_conflict =
                    self.deals
                        .get(&d)
                        .and_then(|v| v.first())
                        .and_then(|deal| match &deal.body {
                            Body::Deal(dl)
                                if dl.commitment_hash != log.commitment_hash
                                    || log.shares.get(self.index) != Some(&dl.share) =>
                            {
                                Some(deal.clone())
                            }
                            _ => None,
                        });
                let other = versions.first().cloned().or(deal_conflict);
                // Kept either way: a leader may propose this version, and it is checked by hash.
                self.logs.insert((d, h), env.clone());
                self.journal_push(env);
                match other {
                    Some(o) => {
                        self.evidence.entry(d).or_insert_with(|| {
                            Evidence::Equivocation(Box::new(o), Box::new(env.clone()))
                        });
                        Err(fault(FaultReason::Equivocation))
                    }
                    None => Ok(Vec::new()),
                }
            }
            Body::Certificate(cert) => {
                if let Some(held) = &self.certificate {
                    // Every node that finalizes passes the certificate on, so the one held here
                    // comes back from each of them: valid, and nothing to do.
                    if held == cert {
                        return Ok(Vec::new());
                    }
                    return Err(SkipReason::NotNeeded.into());
                }
                verify_certificate(&self.cfg, cert)
                    .map_err(|_| fault(FaultReason::Invalid("certificate does not verify")))?;
                self.certificate = Some(cert.clone());
                Ok(Vec::new())
            }
            Body::Status { .. }
            | Body::Proposal { .. }
            | Body::Prevote { .. }
            | Body::Prepared(_)
            | Body::Precommit { .. } => self.handle_agreement(env),
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
            // An equivocating dealer gets a complaint, whichever deal came first.
            let deal = match self.deals.get(&d).map(Vec::as_slice) {
                Some([one]) => match &one.body {
                    Body::Deal(deal) => Some(deal),
                    _ => None,
                },
                _ => None,
            };
            let Some(deal) = deal else {
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
            let (Some(value), Some(point)) = (opened, self.cfg.player_point(self.index)) else {
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
            for (d, c, _, _) in &pending {
                if !matches!(
                    entries.get(*d),
                    Some(AckEntry::Complaint(Complaint::BadConstant))
                ) {
                    let h = crate::message::keccak(&c.to_bytes());
                    self.inbox.checks.constant_checked(*d, h);
                }
            }
        }
        for (d, _, share, ack) in pending {
            if matches!(entries.get(d), Some(AckEntry::Ack(_))) {
                self.shares.insert(d, (ack, share.value));
            }
        }
        self.acks = Some(entries.clone());
        self.sign(None, Body::Acks(entries))
    }

    /// Checks every log not yet checked, in one batch; invalid ones become evidence.
    pub(crate) fn check_pending_logs(&mut self) {
        let todo: Vec<(usize, [u8; 32])> = self
            .logs
            .keys()
            .filter(|k| !self.log_checks.contains_key(k))
            .copied()
            .collect();
        if todo.is_empty() {
            return;
        }
        let envs: Vec<&Envelope> = todo.iter().filter_map(|k| self.logs.get(k)).collect();
        let results = check_logs(&self.cfg, &envs, &mut self.inbox.checks);
        for (k, r) in todo.into_iter().zip(results) {
            if let (Err(f), Some(l)) = (&r, self.logs.get(&k)) {
                if *f != LogFault::BadSignature {
                    self.evidence
                        .entry(k.0)
                        .or_insert_with(|| Evidence::InvalidLog(Box::new(l.clone())));
                }
            }
            self.log_checks.insert(k, r);
        }
    }

    /// The held logs that check, by dealer: only dealers with exactly one version and no
    /// evidence against them.
    pub(crate) fn usable_logs(&mut self) -> Vec<(u16, [u8; 32])> {
        self.check_pending_logs();
        let mut out: Vec<(u16, [u8; 32])> = Vec::new();
        let mut seen: BTreeMap<usize, usize> = BTreeMap::new();
        for (d, _) in self.logs.keys() {
            *seen.entry(*d).or_default() += 1;
        }
        for ((d, h), r) in &self.log_checks {
            if r.is_ok() && seen.get(d) == Some(&1) && !self.evidence.contains_key(d) {
                if let Ok(d16) = u16::try_from(*d) {
                    out.push((d16, *h));
                }
            }
        }
        out
    }

    /// The held logs that check, every version (what a status reports as held).
    pub(crate) fn held_logs(&mut self) -> Vec<(u16, [u8; 32])> {
        self.check_pending_logs();
        self.log_checks
            .iter()
            .filter(|(_, r)| r.is_ok())
            .filter_map(|((d, h), _)| Some((u16::try_from(*d).ok()?, *h)))
            .collect()
    }

    /// The MPK `set` finalizes to, from the logs this player holds: the previous MPK for a
    /// reshare (which keeps it), the sum of the included dealings' constant terms for a DKG. None
    /// while a log of the set is missing.
    pub(crate) fn set_mpk(&self, set: &DealerSet) -> Option<bls::G2Point> {
        if let Some(prev) = &self.cfg.previous {
            return Some(prev.public_key());
        }
        let keys = set
            .included
            .iter()
            .map(
                |(d, h)| match self.logs.get(&(usize::from(*d), *h)).map(|e| &e.body) {
                    Some(Body::Log(l)) => Some(l.commitment.public_key()),
                    _ => None,
                },
            )
            .collect::<Option<Vec<_>>>()?;
        bls::G2Point::sum(&keys).ok()
    }

    /// Whether every included log of `set` is held and checks.
    pub(crate) fn set_logs_check(&mut self, set: &DealerSet) -> bool {
        self.check_pending_logs();
        set.included
            .iter()
            .all(|(d, h)| matches!(self.log_checks.get(&(usize::from(*d), *h)), Some(Ok(_))))
    }

    /// Whether some included log of `set` is held and proven invalid (a leader that proposes
    /// it is at fault).
    pub(crate) fn set_has_invalid_log(&mut self, set: &DealerSet) -> bool {
        self.check_pending_logs();
        set.included.iter().any(|(d, h)| {
            matches!(
                self.log_checks.get(&(usize::from(*d), *h)),
                Some(Err(f)) if *f != LogFault::BadSignature
            )
        })
    }

    /// The dealers whose logs a set names but this player lacks.
    pub fn missing_logs(&self, set: &DealerSet) -> Vec<Address> {
        set.included
            .iter()
            .filter(|(d, h)| !self.logs.contains_key(&(usize::from(*d), *h)))
            .filter_map(|(d, _)| self.cfg.dealers.get(usize::from(*d)).map(|o| o.address))
            .collect()
    }

    /// Whether a piece of evidence holds (cached checks).
    pub(crate) fn evidence_holds(&mut self, e: &Evidence) -> bool {
        evidence_holds(&self.cfg, e, &mut self.inbox.checks)
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
        // A share from my deal counts only for the log that holds that same deal.
        let mut known: BTreeMap<usize, Secret<SecretScalar>> = BTreeMap::new();
        for (d, h) in &cert.set.included {
            let d = usize::from(*d);
            let (Some((ack, share)), Some(Body::Log(log))) = (
                self.shares.get(&d),
                self.logs.get(&(d, *h)).map(|e| &e.body),
            ) else {
                continue;
            };
            let matches = log
                .shares
                .get(self.index)
                .is_some_and(|s| crate::check::ack_hash(&log.commitment_hash, s) == *ack);
            if matches {
                known.insert(d, share.duplicate());
            }
        }
        observe_with(
            &self.cfg,
            &cert,
            &logs,
            Some((&self.me, &self.enc, &known)),
            &mut self.inbox.checks,
            Some(&self.log_checks),
        )
    }

    /// New journal entries (encoded envelopes) since the last call, for a caller that persists
    /// the journal by appending. [`Player::decisions`] goes with them.
    pub fn take_journal(&mut self) -> Vec<Vec<u8>> {
        let new: Vec<Vec<u8>> = self
            .journal
            .get(self.journal_taken..)
            .unwrap_or(&[])
            .iter()
            .map(Envelope::encode)
            .collect();
        self.journal_taken = self.journal.len();
        new
    }

    /// Everything decided (acks, agreement state, certificate), without the journal: small,
    /// rewritten whole at every change.
    pub fn decisions(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u8(SAVE_VERSION).fixed(&self.cfg.digest());
        match &self.acks {
            Some(entries) => {
                w.u8(1);
                w.bytes(&Body::Acks(entries.clone()).encode());
            }
            None => {
                w.u8(0);
            }
        }
        self.ag.write(&mut w);
        match &self.certificate {
            Some(c) => {
                w.u8(1);
                w.bytes(&c.encode());
            }
            None => {
                w.u8(0);
            }
        }
        w.finish()
    }

    /// The decisions and the whole journal in one encoding.
    pub fn save(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.bytes(&self.decisions());
        w.count(self.journal.len());
        for e in &self.journal {
            w.bytes(&e.encode());
        }
        w.finish()
    }

    /// Restores a saved player (from [`Player::save`]). Nothing is re-sent.
    pub fn resume(
        cfg: Arc<RoundConfig>,
        me: Address,
        key: Arc<bn254::SecretKey>,
        enc: Arc<EncryptionKey>,
        saved: &[u8],
    ) -> Result<Self, DecodeError> {
        let mut r = Reader::new(saved);
        let decisions = r.bytes()?.to_vec();
        let n = r.count(4)?;
        let mut journal = Vec::with_capacity(n);
        for _ in 0..n {
            journal.push(r.bytes()?.to_vec());
        }
        r.finish()?;
        Self::restore(cfg, me, key, enc, &decisions, &journal)
    }

    /// Restores a player from its decisions and its journal entries (as `take_journal` handed
    /// them out). Nothing is re-sent.
    pub fn restore(
        cfg: Arc<RoundConfig>,
        me: Address,
        key: Arc<bn254::SecretKey>,
        enc: Arc<EncryptionKey>,
        decisions: &[u8],
        journal: &[Vec<u8>],
    ) -> Result<Self, DecodeError> {
        let mut p = Self::new(cfg.clone(), me, key, enc)
            .map_err(|_| DecodeError::Invalid("not a player of this round"))?;
        let mut r = Reader::new(decisions);
        if r.u8()? != SAVE_VERSION {
            return Err(DecodeError::BadVersion);
        }
        if r.array::<32>()? != cfg.digest() {
            return Err(DecodeError::Invalid("saved state is for another round"));
        }
        let acks = if r.bool()? {
            match Body::decode(Kind::Acks, r.bytes()?, &mut p.inbox.cache)? {
                Body::Acks(e) => Some(e),
                _ => None,
            }
        } else {
            None
        };
        let ag = Agreement::read(&mut r, &mut p.inbox.cache)?;
        let certificate = if r.bool()? {
            let bytes = r.bytes()?;
            let mut cr = Reader::new(bytes);
            let c = Quorum::read(&mut cr, &mut p.inbox.cache, Commit)?;
            cr.finish()?;
            Some(c)
        } else {
            None
        };
        r.finish()?;
        for bytes in journal {
            let raw = RawEnvelope::parse(bytes)?;
            let env = raw
                .open(&mut p.inbox.cache)
                .map_err(|_| DecodeError::Invalid("saved message"))?;
            if !matches!(env.body, Body::Deal(_) | Body::Log(_)) {
                return Err(DecodeError::Invalid("journal holds deals and logs only"));
            }
            // Deals are replayed before the acks decision is restored; faults were reported
            // when the messages first came.
            let _ = p.handle(&env);
        }
        p.journal_taken = p.journal.len();
        p.acks = acks;
        p.ag = ag;
        p.certificate = certificate;
        Ok(p)
    }
}
