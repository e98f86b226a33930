//! Quorum certificates: t BN254 votes of one attempt on one dealer set, summed into one G1
//! signature. Prepare certificates (prevotes) are what players lock on; commit certificates
//! (precommits) decide the round. Both are checked the same way, each on its own digest.

use crate::message::{DealerSet, Quorum, Stage};
use crate::observe::check_set_shape;
use crate::round::RoundConfig;
use kms_crypto::bls;
use kms_crypto::bn254;
use std::collections::BTreeMap;

/// Checks a quorum certificate against the round: signers distinct players, at least t, the
/// aggregate BN254 signature valid under their summed G2 keys, and a well-formed set.
pub fn verify_quorum<S: Stage>(cfg: &RoundConfig, q: &Quorum<S>) -> Result<(), &'static str> {
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
    let mut keys = Vec::with_capacity(q.signers.len());
    for s in &q.signers {
        let op = cfg
            .players
            .get(usize::from(*s))
            .ok_or("signer out of range")?;
        keys.push(op.key_g2);
    }
    let apk = bn254::aggregate_g2(&keys).map_err(|_| "aggregate key")?;
    // e(sigma, -G2)·e(H(m), apk) = 1. BLSSignatureChecker's gamma form multiplies the left side
    // by [e(apk_G1, -G2)·e(G1, apk)]^gamma, which is 1 when each operator's G1 and G2 keys share
    // one secret (the membership source checks that, and proof of possession, when an operator
    // joins), so both forms accept the same certificates and this one skips two products.
    bn254::verify_point_signature(&bn254::hash_to_g1(&q.digest(cfg)), &q.signature, &apk)
        .map_err(|_| "aggregate signature")
}

/// Aggregates votes (player index -> signature on the stage digest of `set`, `mpk`, `attempt`)
/// into a quorum certificate. Votes that do not verify are dropped (one check each, only when
/// the aggregate fails). `None` while fewer than t valid votes remain.
pub(crate) fn aggregate<S: Stage>(
    cfg: &RoundConfig,
    attempt: u32,
    set: &DealerSet,
    mpk: bls::G2Point,
    votes: &mut BTreeMap<usize, bn254::G1Point>,
    stage: S,
) -> Option<Quorum<S>> {
    if votes.len() < cfg.threshold {
        return None;
    }
    let build = |votes: &BTreeMap<usize, bn254::G1Point>| -> Option<Quorum<S>> {
        let sigs: Vec<bn254::G1Point> = votes.values().copied().collect();
        Some(Quorum {
            round: cfg.digest(),
            attempt,
            set: set.clone(),
            mpk,
            signers: votes
                .keys()
                .map(|p| u16::try_from(*p).ok())
                .collect::<Option<_>>()?,
            signature: bn254::aggregate_g1(&sigs).ok()?,
            stage: stage.clone(),
        })
    };
    let q = build(votes)?;
    if verify_quorum(cfg, &q).is_ok() {
        return Some(q);
    }
    let h = bn254::hash_to_g1(&q.digest(cfg));
    votes.retain(|p, sig| {
        cfg.players
            .get(*p)
            .is_some_and(|o| bn254::verify_point_signature(&h, sig, &o.key_g2).is_ok())
    });
    if votes.len() < cfg.threshold {
        return None;
    }
    build(votes).filter(|q| verify_quorum(cfg, q).is_ok())
}
