//! Quorum certificates: t votes of one attempt on one dealer set. Prepare certificates
//! (prevotes, Schnorr-signed) are what players lock on; commit certificates (precommits, BN254
//! BLS signatures summed into one) decide the round and are what the chain anchor checks. Both
//! are checked the same way, each on its own digest and with its own proof.

use crate::message::{Commit, DealerSet, Prepare, Quorum, Stage};
use crate::observe::check_set_shape;
use crate::round::{Operator, RoundConfig};
use kms_crypto::bls;
use kms_crypto::bn254;
use std::collections::BTreeMap;

/// How a stage's votes are cast and proven.
pub trait Votes: Stage {
    /// A player's vote on a stage digest, made with its BN254 key.
    fn sign(key: &bn254::SecretKey, digest: &[u8; 32]) -> Self::Vote;
    /// Whether `vote` is `op`'s valid vote on `digest`.
    fn vote_holds(op: &Operator, digest: &[u8; 32], vote: &Self::Vote) -> bool;
    /// The proof of the given votes (in signer order); `None` when they cannot be combined.
    fn combine(votes: Vec<Self::Vote>) -> Option<Self::Proof>;
    /// Checks the proof of the signers' votes; the error says what failed.
    fn proof_holds(
        signers: &[&Operator],
        digest: &[u8; 32],
        proof: &Self::Proof,
    ) -> Result<(), &'static str>;
}

impl Votes for Prepare {
    fn sign(key: &bn254::SecretKey, digest: &[u8; 32]) -> Self::Vote {
        key.schnorr_sign(digest)
    }
    fn vote_holds(op: &Operator, digest: &[u8; 32], vote: &Self::Vote) -> bool {
        vote.verify_prepared(digest, op.message_key()).is_ok()
    }
    fn combine(votes: Vec<Self::Vote>) -> Option<Self::Proof> {
        Some(votes)
    }
    fn proof_holds(
        signers: &[&Operator],
        digest: &[u8; 32],
        proof: &Self::Proof,
    ) -> Result<(), &'static str> {
        if signers.len() != proof.len() {
            return Err("one vote signature per signer");
        }
        for (op, v) in signers.iter().zip(proof) {
            if !Self::vote_holds(op, digest, v) {
                return Err("vote signature");
            }
        }
        Ok(())
    }
}

impl Votes for Commit {
    fn sign(key: &bn254::SecretKey, digest: &[u8; 32]) -> Self::Vote {
        key.sign_hash(digest).1
    }
    fn vote_holds(op: &Operator, digest: &[u8; 32], vote: &Self::Vote) -> bool {
        bn254::verify_point_signature(&bn254::hash_to_g1(digest), vote, &op.key_g2).is_ok()
    }
    fn combine(votes: Vec<Self::Vote>) -> Option<Self::Proof> {
        bn254::aggregate_g1(&votes).ok()
    }
    fn proof_holds(
        signers: &[&Operator],
        digest: &[u8; 32],
        proof: &Self::Proof,
    ) -> Result<(), &'static str> {
        let keys: Vec<bn254::G2Point> = signers.iter().map(|op| op.key_g2).collect();
        let apk = bn254::aggregate_g2(&keys).map_err(|_| "aggregate key")?;
        // e(sigma, -G2)·e(H(m), apk) = 1. BLSSignatureChecker's gamma form multiplies the left
        // side by [e(apk_G1, -G2)·e(G1, apk)]^gamma, which is 1 when each operator's G1 and G2
        // keys share one secret (the membership source checks that, and proof of possession,
        // when an operator joins), so both forms accept the same certificates and this one
        // skips two products.
        bn254::verify_point_signature(&bn254::hash_to_g1(digest), proof, &apk)
            .map_err(|_| "aggregate signature")
    }
}

/// Checks a quorum certificate against the round: signers distinct players, at least t, their
/// votes proven on the certificate's digest, and a well-formed set.
pub fn verify_quorum<S: Votes>(cfg: &RoundConfig, q: &Quorum<S>) -> Result<(), &'static str> {
    if q.round != cfg.digest() {
        return Err("for another round");
    }
    if q.attempt >= cfg.attempts() {
        return Err("attempt beyond the round's last");
    }
    check_set_shape(cfg, &q.set)?;
    if q.signers.len() < cfg.threshold {
        return Err("fewer than t signers");
    }
    if !q.signers.windows(2).all(|w| matches!(w, [a, b] if a < b)) {
        return Err("signers not strictly increasing");
    }
    let mut signers = Vec::with_capacity(q.signers.len());
    for s in &q.signers {
        signers.push(
            cfg.players
                .get(usize::from(*s))
                .ok_or("signer out of range")?,
        );
    }
    S::proof_holds(&signers, &q.digest(cfg), &q.signature)
}

/// Combines votes (player index -> vote on the stage digest of `set`, `mpk`, `attempt`) into a
/// quorum certificate. Votes that do not verify are dropped (one check each, only when the
/// certificate fails). `None` while fewer than t valid votes remain.
pub(crate) fn aggregate<S: Votes>(
    cfg: &RoundConfig,
    attempt: u32,
    set: &DealerSet,
    mpk: bls::G2Point,
    votes: &mut BTreeMap<usize, S::Vote>,
    stage: S,
) -> Option<Quorum<S>> {
    if votes.len() < cfg.threshold {
        return None;
    }
    let build = |votes: &BTreeMap<usize, S::Vote>| -> Option<Quorum<S>> {
        Some(Quorum {
            round: cfg.digest(),
            attempt,
            set: set.clone(),
            mpk,
            signers: votes
                .keys()
                .map(|p| u16::try_from(*p).ok())
                .collect::<Option<_>>()?,
            signature: S::combine(votes.values().cloned().collect())?,
            stage: stage.clone(),
        })
    };
    let q = build(votes)?;
    if verify_quorum(cfg, &q).is_ok() {
        return Some(q);
    }
    let digest = q.digest(cfg);
    votes.retain(|p, v| {
        cfg.players
            .get(*p)
            .is_some_and(|o| S::vote_holds(o, &digest, v))
    });
    if votes.len() < cfg.threshold {
        return None;
    }
    build(votes).filter(|q| verify_quorum(cfg, q).is_ok())
}
