//! The front door: parses bytes, checks round, sender and recipient, verifies signatures in a
//! batch, and decodes bodies. Everything a state machine receives has passed through here.
//!
//! Each sender has a quota of distinct messages whose signatures this node checks in a round:
//! more than an honest node ever sends ([`quota`]). Only messages that verified count, so an
//! outsider who writes an honest operator's address into headers cannot use its quota up; a
//! member that signs more than its quota is named once (a flood) and the rest of what it sends
//! is skipped without a signature check.

use crate::check::{sender_key, CheckCache};
use crate::error::{FaultReason, SkipReason};
use crate::message::{CommitmentCache, Envelope, RawEnvelope};
use crate::round::RoundConfig;
use crate::{Address, Reject};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Distinct signed messages one sender may have checked in a round. An honest node sends any
/// one peer at most a deal, acks, a log and a certificate, and per attempt a status, a
/// proposal, a prepare certificate and two votes (and may send each again after a restart).
pub fn quota(cfg: &RoundConfig) -> u32 {
    8 + 6 * cfg.attempts()
}

/// Per-node, per-round message intake.
pub struct Inbox {
    cfg: Arc<RoundConfig>,
    me: Address,
    pub(crate) checks: CheckCache,
    pub(crate) cache: CommitmentCache,
    /// Distinct messages whose signatures verified, per sender.
    verified: BTreeMap<Address, u32>,
    quota: u32,
}

impl Inbox {
    /// An empty intake for node `me` in round `cfg`, with no signatures checked yet.
    pub fn new(cfg: Arc<RoundConfig>, me: Address) -> Self {
        Self {
            quota: quota(&cfg),
            cfg,
            me,
            checks: CheckCache::default(),
            cache: CommitmentCache::default(),
            verified: BTreeMap::new(),
        }
    }

    /// Accepts a batch of wire messages. Failures before the signature checks name no culprit
    /// (anyone can put any sender in a header); failures after it name the sender.
    pub fn accept(&mut self, msgs: &[&[u8]]) -> Vec<Result<Envelope, Reject>> {
        let parsed: Vec<Result<RawEnvelope, Reject>> = msgs
            .iter()
            .map(|b| {
                let raw = RawEnvelope::parse(b).map_err(|e| skip(SkipReason::Malformed(e)))?;
                self.precheck(&raw)?;
                Ok(raw)
            })
            .collect();
        let checked = self.verify_batch(parsed, |r| r);
        let cache = &mut self.cache;
        checked.into_iter().map(|r| r?.open(cache)).collect()
    }

    /// Accepts messages already decoded (in-memory transports, replays): the same round, sender,
    /// recipient and signature checks as [`Inbox::accept`], without parsing.
    pub fn accept_decoded(&mut self, envs: Vec<Envelope>) -> Vec<Result<Envelope, Reject>> {
        let checked: Vec<Result<Envelope, Reject>> = envs
            .into_iter()
            .map(|e| self.precheck(&e.raw).map(|()| e))
            .collect();
        self.verify_batch(checked, |e| &e.raw)
    }

    /// The cheap checks, before any signature: round, sender known for the kind, recipient.
    fn precheck(&self, raw: &RawEnvelope) -> Result<(), Reject> {
        if raw.round != self.cfg.digest() {
            return Err(skip(SkipReason::WrongRound));
        }
        if sender_key(&self.cfg, raw).is_none() {
            return Err(skip(SkipReason::UnknownSender));
        }
        if raw.recipient.is_some_and(|r| r != self.me) {
            return Err(skip(SkipReason::NotForMe));
        }
        Ok(())
    }

    /// Verifies the signatures of every item that passed the prechecks, within each sender's
    /// quota (messages seen before cost nothing and count nothing).
    fn verify_batch<T>(
        &mut self,
        items: Vec<Result<T, Reject>>,
        raw: impl Fn(&T) -> &RawEnvelope,
    ) -> Vec<Result<T, Reject>> {
        // Per item: known already, to verify, or over quota.
        let mut plan: Vec<Result<bool, Reject>> = Vec::with_capacity(items.len());
        let mut pending: BTreeMap<Address, u32> = BTreeMap::new();
        for item in &items {
            plan.push(match item {
                Err(e) => Err(e.clone()),
                Ok(t) => {
                    let r = raw(t);
                    if self.checks.known(r) {
                        Ok(false)
                    } else {
                        let used = self.verified.get(&r.sender).copied().unwrap_or(0)
                            + pending.get(&r.sender).copied().unwrap_or(0);
                        if used > self.quota {
                            Err(skip(SkipReason::OverQuota))
                        } else {
                            *pending.entry(r.sender).or_default() += 1;
                            Ok(true)
                        }
                    }
                }
            });
        }
        let raws: Vec<&RawEnvelope> = items
            .iter()
            .zip(&plan)
            .filter_map(|(i, p)| match (i, p) {
                (Ok(t), Ok(true)) => Some(raw(t)),
                _ => None,
            })
            .collect();
        let mut verdicts = self.checks.verify(&self.cfg, &raws).into_iter();
        items
            .into_iter()
            .zip(plan)
            .map(|(item, p)| {
                let item = item?;
                if !p? {
                    return Ok(item);
                }
                if verdicts.next() != Some(true) {
                    return Err(skip(SkipReason::BadSignature));
                }
                let sender = raw(&item).sender;
                let n = self.verified.entry(sender).or_default();
                *n += 1;
                if *n > self.quota {
                    return Err(Reject::fault(sender, FaultReason::Flood));
                }
                Ok(item)
            })
            .collect()
    }

    /// The round this inbox takes messages for.
    pub fn config(&self) -> &Arc<RoundConfig> {
        &self.cfg
    }
}

/// A refusal before the sender is authenticated: nobody can be named.
fn skip(reason: SkipReason) -> Reject {
    Reject::Skip(reason)
}
