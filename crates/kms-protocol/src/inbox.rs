//! The front door: parses bytes, checks round, sender and recipient, verifies signatures in a
//! batch, and decodes bodies. Everything a state machine receives has passed through here.

use crate::check::{sender_key, SigCache};
use crate::message::{CommitmentCache, Envelope, RawEnvelope};
use crate::round::RoundConfig;
use crate::{Address, Reject, RejectReason};
use std::sync::Arc;

/// Per-node, per-round message intake.
pub struct Inbox {
    cfg: Arc<RoundConfig>,
    me: Address,
    pub(crate) sigs: SigCache,
    pub(crate) cache: CommitmentCache,
}

impl Inbox {
    pub fn new(cfg: Arc<RoundConfig>, me: Address) -> Self {
        Self {
            cfg,
            me,
            sigs: SigCache::default(),
            cache: CommitmentCache::default(),
        }
    }

    /// Accepts a batch of wire messages. Failures before the signature checks name no culprit
    /// (anyone can put any sender in a header); failures after it name the sender.
    pub fn accept(&mut self, msgs: &[&[u8]]) -> Vec<Result<Envelope, Reject>> {
        let unauth = |reason| Reject {
            culprit: None,
            reason,
        };
        let parsed: Vec<Result<RawEnvelope, Reject>> = msgs
            .iter()
            .map(|b| {
                let raw = RawEnvelope::parse(b).map_err(|e| unauth(RejectReason::Malformed(e)))?;
                if raw.round != self.cfg.digest() {
                    return Err(unauth(RejectReason::WrongRound));
                }
                if sender_key(&self.cfg, &raw).is_none() {
                    return Err(unauth(RejectReason::UnknownSender));
                }
                if raw.recipient.is_some_and(|r| r != self.me) {
                    return Err(unauth(RejectReason::NotForMe));
                }
                Ok(raw)
            })
            .collect();
        let to_check: Vec<&RawEnvelope> = parsed.iter().filter_map(|r| r.as_ref().ok()).collect();
        let verdicts = self.sigs.verify(&self.cfg, &to_check);
        let mut verdicts = verdicts.into_iter();
        parsed
            .into_iter()
            .map(|r| {
                let raw = r?;
                if verdicts.next() != Some(true) {
                    return Err(unauth(RejectReason::BadSignature));
                }
                raw.open(&mut self.cache)
            })
            .collect()
    }

    /// Accepts messages already decoded (in-memory transports, replays): the same round, sender,
    /// recipient and batched signature checks as [`Inbox::accept`], without parsing.
    pub fn accept_decoded(&mut self, envs: Vec<Envelope>) -> Vec<Result<Envelope, Reject>> {
        let unauth = |reason| Reject {
            culprit: None,
            reason,
        };
        let checked: Vec<Result<Envelope, Reject>> = envs
            .into_iter()
            .map(|e| {
                if e.raw.round != self.cfg.digest() {
                    return Err(unauth(RejectReason::WrongRound));
                }
                if sender_key(&self.cfg, &e.raw).is_none() {
                    return Err(unauth(RejectReason::UnknownSender));
                }
                if e.raw.recipient.is_some_and(|r| r != self.me) {
                    return Err(unauth(RejectReason::NotForMe));
                }
                Ok(e)
            })
            .collect();
        let raws: Vec<&RawEnvelope> = checked
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|e| &e.raw))
            .collect();
        let mut verdicts = self.sigs.verify(&self.cfg, &raws).into_iter();
        checked
            .into_iter()
            .map(|r| {
                let e = r?;
                if verdicts.next() != Some(true) {
                    return Err(unauth(RejectReason::BadSignature));
                }
                Ok(e)
            })
            .collect()
    }

    pub fn config(&self) -> &Arc<RoundConfig> {
        &self.cfg
    }
}
