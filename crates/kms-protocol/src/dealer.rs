//! The dealer: deals once from a seeded RNG, collects acks, publishes its log.

use crate::check::{ack_hash, share_aad};
use crate::error::{FaultReason, SkipReason};
use crate::message::{AckEntry, Body, Deal, DealerLog, Envelope, Reveal};
use crate::round::RoundConfig;
use crate::{Address, ConfigError, Reject};
use kms_crypto::bls::{Commitment, Polynomial, SecretScalar};
use kms_crypto::seal::{seal, Sealed};
use kms_crypto::{bn254, Secret};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The round's RNG for a dealer: ChaCha20 keyed by SHA-256(tag || seed || round digest).
pub(crate) fn dealer_rng(seed: &Secret<[u8; 32]>, round: &[u8; 32]) -> ChaCha20Rng {
    let key: [u8; 32] = seed.expose(|s| {
        Sha256::new()
            .chain_update(b"KMS_DEALER_SEED_V1")
            .chain_update(s)
            .chain_update(round)
            .finalize()
            .into()
    });
    ChaCha20Rng::from_seed(key)
}

/// One dealer in one round.
pub struct Dealer {
    cfg: Arc<RoundConfig>,
    me: Address,
    key: Arc<bn254::SecretKey>,
    poly: Polynomial,
    commitment: Commitment,
    commitment_hash: [u8; 32],
    sealed: Vec<Sealed>,
    ephemerals: Vec<Secret<[u8; 32]>>,
    acks: BTreeMap<usize, Envelope>,
}

impl Dealer {
    /// Deals: returns the dealer and one `Deal` per player. `seed` must be persisted before any
    /// deal leaves, so a restart re-sends identical deals. `share` is the dealer's current share
    /// (reshare) and must be `None` in a DKG.
    pub fn new(
        cfg: Arc<RoundConfig>,
        me: Address,
        key: Arc<bn254::SecretKey>,
        seed: &Secret<[u8; 32]>,
        share: Option<&Secret<SecretScalar>>,
    ) -> Result<(Self, Vec<Envelope>), ConfigError> {
        if cfg.dealer_index(&me).is_none() {
            return Err(ConfigError::Invalid("not a dealer of this round"));
        }
        let round = cfg.digest();
        let mut rng = dealer_rng(seed, &round);
        let poly = match (cfg.previous.is_some(), share) {
            (false, None) => Polynomial::random(cfg.threshold, &mut rng)?,
            (true, Some(s)) => Polynomial::with_constant(s, cfg.threshold, &mut rng)?,
            _ => {
                return Err(ConfigError::Invalid(
                    "a reshare dealer needs its share, a DKG none",
                ))
            }
        };
        let commitment = poly.commit();
        let commitment_hash = crate::message::keccak(&commitment.to_bytes());
        let mut sealed = Vec::with_capacity(cfg.players.len());
        let mut ephemerals = Vec::with_capacity(cfg.players.len());
        let mut deals = Vec::with_capacity(cfg.players.len());
        for (i, p) in cfg.players.iter().enumerate() {
            let mut eph = Secret::new([0u8; 32]);
            eph.expose_mut(|e| rng.fill_bytes(e));
            let point = cfg
                .player_point(i)
                .ok_or(ConfigError::Invalid("player position"))?;
            let share = poly.evaluate(&point);
            let plain = share.value.expose(|v| v.to_bytes());
            let s = plain.expose(|b| seal(&p.enc, b, &share_aad(&round, &me, &p.address), &eph))?;
            deals.push(Envelope::sign(
                round,
                me,
                Some(p.address),
                Body::Deal(Deal {
                    commitment: commitment.clone(),
                    commitment_hash,
                    share: s.clone(),
                }),
                &key,
            ));
            sealed.push(s);
            ephemerals.push(eph);
        }
        Ok((
            Self {
                cfg,
                me,
                key,
                poly,
                commitment,
                commitment_hash,
                sealed,
                ephemerals,
                acks: BTreeMap::new(),
            },
            deals,
        ))
    }

    /// The public commitment of this dealing.
    pub fn commitment(&self) -> &Commitment {
        &self.commitment
    }

    /// Takes a verified `Acks` message (from an [`crate::Inbox`]). Acks of this dealing are kept;
    /// complaints mean a reveal in the log.
    pub fn handle_acks(&mut self, env: &Envelope) -> Result<bool, Reject> {
        let sender = env.raw.sender;
        let fault = |reason| Reject::fault(sender, reason);
        let (Body::Acks(entries), Some(p), Some(d)) = (
            &env.body,
            self.cfg.player_index(&sender),
            self.cfg.dealer_index(&self.me),
        ) else {
            return Err(SkipReason::NotNeeded.into());
        };
        // Logs embed acks and are checked by anyone: only broadcast acks of this round count.
        if env.raw.recipient.is_some() || env.raw.round != self.cfg.digest() {
            return Err(fault(FaultReason::Invalid(
                "acks must be a broadcast of this round",
            )));
        }
        if entries.len() != self.cfg.dealers.len() {
            return Err(fault(FaultReason::Invalid("ack count")));
        }
        if let Some(prev) = self.acks.get(&p) {
            return Err(if prev.raw == env.raw {
                SkipReason::Duplicate.into()
            } else {
                fault(FaultReason::Equivocation)
            });
        }
        let expected = self
            .sealed
            .get(p)
            .map(|s| ack_hash(&self.commitment_hash, s));
        match (entries.get(d), expected) {
            (Some(AckEntry::Ack(h)), Some(e)) if *h == e => {
                self.acks.insert(p, env.clone());
                Ok(true)
            }
            (Some(AckEntry::Ack(_)), _) => {
                Err(fault(FaultReason::Invalid("ack for a different dealing")))
            }
            _ => Ok(false),
        }
    }

    /// The signed log: acks, and a reveal for every player without one. `None` when more than
    /// n - t players did not ack (the dealing cannot be used).
    pub fn log(&self) -> Option<Envelope> {
        let mut reveals = Vec::new();
        for p in 0..self.cfg.players.len() {
            if self.acks.contains_key(&p) {
                continue;
            }
            let share = self.poly.evaluate(&self.cfg.player_point(p)?);
            let bytes = share.value.expose(|v| v.to_bytes());
            reveals.push(Reveal {
                player: u16::try_from(p).ok()?,
                share: bytes.expose(|b| *b),
                ephemeral: self.ephemerals.get(p)?.expose(|e| *e),
            });
        }
        if reveals.len() > self.cfg.max_reveals() {
            return None;
        }
        Some(Envelope::sign(
            self.cfg.digest(),
            self.me,
            None,
            Body::Log(DealerLog {
                commitment: self.commitment.clone(),
                commitment_hash: self.commitment_hash,
                shares: self.sealed.clone(),
                acks: self.acks.values().cloned().collect(),
                reveals,
            }),
            &self.key,
        ))
    }
}
