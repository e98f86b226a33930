//! Batched checks and combinations for DKG and resharing: many shares against many commitments in
//! one multi-scalar multiplication, a commitment's public shares in one check, and the (weighted)
//! sums that turn agreed dealings into the next public polynomial and share.

use super::point::{G2Point, SecretScalar};
use super::poly::{
    msm_g2, msm_g2_projective, powers, Commitment, EvalPoint, Share, MSM_POINT_COST,
};
use crate::{Error, Result, Secret};
use blstrs::{G2Affine, G2Projective, Scalar};
use ff::Field;
use group::prime::PrimeCurveAffine;
use group::{Curve, Group};
use sha2::{Digest, Sha256};

/// The i-th 128-bit batching coefficient from a transcript seed. Non-zero with overwhelming
/// probability; a cheating input passes a batch with probability at most 2^-128.
pub fn batch_coefficient(seed: &[u8; 32], i: u64) -> Scalar {
    let d = Sha256::new()
        .chain_update(b"KMS_BATCH_COEFF_V1")
        .chain_update(seed)
        .chain_update(i.to_be_bytes())
        .finalize();
    let mut limbs = [0u64; 4];
    for (limb, chunk) in limbs.iter_mut().zip(d.chunks_exact(8)).take(2) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *limb = u64::from_le_bytes(b);
    }
    Option::from(Scalar::from_u64s_le(&limbs)).unwrap_or(Scalar::ONE)
}

/// Checks every `share·G2 == commitment(share.point)` at once:
/// sum_i r_i·s_i·G2 == sum_i sum_k r_i·x_i^k·C_ik. Callers fall back to one-by-one checks on
/// failure to find the culprits.
pub fn verify_shares_batch(items: &[(&Commitment, &Share)], seed: &[u8; 32]) -> bool {
    if items.is_empty() {
        return true;
    }
    if items.iter().all(|(_, s)| s.point.small().is_some()) {
        return verify_small_point_shares(items, seed);
    }
    let mut lhs = Scalar::ZERO;
    let mut points: Vec<G2Affine> = Vec::new();
    let mut scalars: Vec<Scalar> = Vec::new();
    for (i, (c, s)) in items.iter().enumerate() {
        let r = batch_coefficient(seed, i as u64);
        lhs += s.value.expose(|v| v.0) * r;
        for (p, xk) in c
            .points()
            .iter()
            .zip(powers(s.point.scalar(), c.threshold()))
        {
            points.push(*p);
            scalars.push(xk * r);
        }
    }
    G2Projective::generator() * lhs == msm_g2(&points, &scalars)
}

/// Small points: each C_i(x_i) by Horner's rule, then sum_i r_i·s_i·G2 == sum_i r_i·C_i(x_i),
/// an MSM over n points instead of n·t.
fn verify_small_point_shares(items: &[(&Commitment, &Share)], seed: &[u8; 32]) -> bool {
    let mut lhs = Scalar::ZERO;
    let mut points: Vec<G2Projective> = Vec::with_capacity(items.len());
    let mut scalars: Vec<Scalar> = Vec::with_capacity(items.len());
    for (i, (c, s)) in items.iter().enumerate() {
        let r = batch_coefficient(seed, i as u64);
        lhs += s.value.expose(|v| v.0) * r;
        points.push(c.evaluate(&s.point));
        scalars.push(r);
    }
    G2Projective::generator() * lhs == msm_g2_projective(&points, &scalars)
}

/// Checks `commitment(x_i) == P_i` for every (x_i, P_i) at once:
/// sum_i r_i·P_i == sum_k (sum_i r_i·x_i^k)·C_k. A reshare uses it to check that every dealer's
/// constant term is its public share of the previous epoch.
pub fn verify_public_shares_batch(
    commitment: &Commitment,
    items: &[(EvalPoint, G2Point)],
    seed: &[u8; 32],
) -> bool {
    if items.is_empty() {
        return true;
    }
    let t = commitment.threshold();
    // With small points, evaluating each one outright is cheaper than the two MSMs below.
    let direct: usize = items.iter().map(|(x, _)| commitment.evaluate_cost(x)).sum();
    if direct < MSM_POINT_COST * (items.len() + t) {
        return items
            .iter()
            .all(|(x, p)| commitment.evaluate(x) == G2Projective::from(p.affine()));
    }
    let mut weights = vec![Scalar::ZERO; t];
    let mut rs = Vec::with_capacity(items.len());
    let mut ps = Vec::with_capacity(items.len());
    for (i, (x, p)) in items.iter().enumerate() {
        let r = batch_coefficient(seed, i as u64);
        for (w, xk) in weights.iter_mut().zip(powers(x.scalar(), t)) {
            *w += xk * r;
        }
        rs.push(r);
        ps.push(*p.affine());
    }
    msm_g2(&ps, &rs) == msm_g2(commitment.points(), &weights)
}

/// Sums commitments coefficient-wise (DKG) or, with weights, computes sum_i w_i·C_i (a reshare's
/// Lagrange combination). All commitments must have the same threshold.
pub fn combine_commitments(
    items: &[&Commitment],
    weights: Option<&[Scalar]>,
) -> Result<Commitment> {
    let first = items
        .first()
        .ok_or(Error::InvalidThreshold("no commitments"))?;
    let t = first.threshold();
    if items.iter().any(|c| c.threshold() != t) {
        return Err(Error::InvalidThreshold("commitments of different degree"));
    }
    if weights.is_some_and(|w| w.len() != items.len()) {
        return Err(Error::InvalidThreshold(
            "weights and commitments differ in number",
        ));
    }
    let mut out = Vec::with_capacity(t);
    for k in 0..t {
        let column: Vec<G2Affine> = items
            .iter()
            .filter_map(|c| c.points().get(k).copied())
            .collect();
        out.push(match weights {
            Some(w) => msm_g2(&column, w),
            None => column.iter().map(G2Projective::from).sum(),
        });
    }
    let mut affine = vec![G2Affine::default(); t];
    G2Projective::batch_normalize(&out, &mut affine);
    if affine.iter().any(|p| bool::from(p.is_identity())) {
        return Err(Error::IdentityPoint);
    }
    Commitment::from_affine(affine)
}

/// sum_i w_i·s_i (or the plain sum without weights): a player's share of the next epoch.
pub fn combine_shares(
    values: &[&Secret<SecretScalar>],
    weights: Option<&[Scalar]>,
) -> Result<Secret<SecretScalar>> {
    if weights.is_some_and(|w| w.len() != values.len()) {
        return Err(Error::InvalidThreshold(
            "weights and shares differ in number",
        ));
    }
    let mut acc = Secret::new(SecretScalar(Scalar::ZERO));
    for (i, v) in values.iter().enumerate() {
        let w = weights
            .and_then(|w| w.get(i))
            .copied()
            .unwrap_or(Scalar::ONE);
        acc.expose_mut(|a| v.expose(|s| a.0 += s.0 * w));
    }
    Ok(acc)
}

/// `commitment(x)` as a checked point: participant x's public share.
pub fn public_share(commitment: &Commitment, x: &EvalPoint) -> Result<G2Point> {
    let p = commitment.evaluate(x).to_affine();
    if bool::from(p.is_identity()) {
        return Err(Error::IdentityPoint);
    }
    Ok(G2Point(p))
}
