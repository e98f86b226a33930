//! The front door: parses bytes, checks round, sender and recipient, verifies signatures in a
//! batch, and decodes bodies. Everything a state machine receives has passed through here.

use crate::check::{sender_key, CheckCache};
use crate::message::{CommitmentCache, Envelope, RawEnvelope};
use crate::round::RoundConfig;
use crate::{Address, Reject, RejectReason};
use std::sync::Arc;

/// Per-node, per-round message intake.
pub struct Inbox {
    cfg: Arc<RoundConfig>,
    me: Address,
    pub(crate) checks: CheckCache,
    pub(crate) cache: CommitmentCache,
}

impl Inbox {
    pub fn new(cfg: Arc<RoundConfig>, me: Address) -> Self {
        Self {
            cfg,
            me,
            checks: CheckCache::default(),
            cache: CommitmentCache::default(),
        }
    }

    /// Accepts a batch of wire messages. Failures before the signature checks name no culprit
    /// (anyone can put any sender in a header); failures after it name the sender.
    pub fn accept(&mut self, msgs: &[&[u8]]) -> Vec<Result<Envelope, Reject>> {
        let parsed: Vec<Result<RawEnvelope, Reject>> = msgs
            .iter()
            .map(|b| {
                let raw = RawEnvelope::parse(b).map_err(|e| unauth(RejectReason::Malformed(e)))?;
                self.precheck(&raw)?;
                Ok(raw)
            })
            .collect();
        let cache = &mut self.cache;
        Self::verify_batch(&self.cfg, &mut self.checks, parsed, |r| r)
            .into_iter()
            .map(|r| r?.open(cache))
            .collect()
    }

    /// Accepts messages already decoded (in-memory transports, replays): the same round, sender,
    /// recipient and signature checks as [`Inbox::accept`], without parsing.
    pub fn accept_decoded(&mut self, envs: Vec<Envelope>) -> Vec<Result<Envelope, Reject>> {
        let checked: Vec<Result<Envelope, Reject>> = envs
            .into_iter()
            .map(|e| self.precheck(&e.raw).map(|()| e))
            .collect();
        Self::verify_batch(&self.cfg, &mut self.checks, checked, |e| &e.raw)
    }

    /// The cheap checks, before any signature: round, sender known for the kind, recipient.
    fn precheck(&self, raw: &RawEnvelope) -> Result<(), Reject> {
        if raw.round != self.cfg.digest() {
            return Err(unauth(RejectReason::WrongRound));
        }
        if sender_key(&self.cfg, raw).is_none() {
            return Err(unauth(RejectReason::UnknownSender));
        }
        if raw.recipient.is_some_and(|r| r != self.me) {
            return Err(unauth(RejectReason::NotForMe));
        }
        Ok(())
    }

    /// Verifies the signatures of every item that passed the prechecks.
    fn verify_batch<T>(
        cfg: &RoundConfig,
        checks: &mut CheckCache,
        items: Vec<Result<T, Reject>>,
        raw: impl Fn(&T) -> &RawEnvelope,
    ) -> Vec<Result<T, Reject>> {
        let raws: Vec<&RawEnvelope> = items
            .iter()
            .filter_map(|r| r.as_ref().ok().map(&raw))
            .collect();
        let mut verdicts = checks.verify(cfg, &raws).into_iter();
        items
            .into_iter()
            .map(|r| {
                let item = r?;
                if verdicts.next() != Some(true) {
                    return Err(unauth(RejectReason::BadSignature));
                }
                Ok(item)
            })
            .collect()
    }

    pub fn config(&self) -> &Arc<RoundConfig> {
        &self.cfg
    }
}

/// A refusal before the sender is authenticated: nobody can be named.
fn unauth(reason: RejectReason) -> Reject {
    Reject {
        culprit: None,
        reason,
    }
}
