//! The pairing checks EigenLayer's contracts run, and aggregation of signatures and keys.

use super::hash::hash_to_g1;
use super::point::{G1Point, G2Point};
use crate::{Error, Result};
use alloy_primitives::keccak256;
use ark_bn254::{Bn254, Fr, G1Projective, G2Affine, G2Projective};
use ark_ec::pairing::Pairing;
use ark_ec::{AffineRepr, PrimeGroup};
use ark_ff::{PrimeField, Zero};
use std::sync::OnceLock;

/// keccak256 of the concatenation, reduced mod r: the contracts' "gamma" challenge.
fn gamma(parts: &[&[u8]]) -> Fr {
    let joined: Vec<u8> = parts.concat();
    Fr::from_be_bytes_mod_order(keccak256(&joined).as_slice())
}

/// e(a, -G2)·e(b, q) == 1, BN254.sol's `pairing(a, negGeneratorG2(), b, q)`. -G2's line
/// coefficients are computed once per process.
fn pairing_holds(a: G1Projective, b: G1Projective, q: &G2Affine) -> bool {
    type G2Prepared = <Bn254 as Pairing>::G2Prepared;
    static NEG_G2: OnceLock<G2Prepared> = OnceLock::new();
    let neg_g2 = NEG_G2
        .get_or_init(|| G2Prepared::from(G2Affine::from(-G2Projective::generator())))
        .clone();
    Bn254::multi_pairing([a, b], [neg_g2, G2Prepared::from(*q)]).is_zero()
}

/// Verifies a signature on a 32-byte message hash the way `BLSSignatureChecker` does: with
/// gamma = keccak(msgHash, apk, apkG2, sigma) mod r, checks
/// e(sigma + gamma·apk, -G2)·e(hashToG1(msgHash) + gamma·G1, apkG2) == 1, which also binds the G1
/// and G2 public keys to the same secret.
pub fn verify_signature(
    message_hash: &[u8; 32],
    signature: &G1Point,
    pk_g1: &G1Point,
    pk_g2: &G2Point,
) -> Result<()> {
    let g = gamma(&[
        message_hash,
        &pk_g1.to_abi_bytes(),
        &pk_g2.to_abi_bytes(),
        &signature.to_abi_bytes(),
    ]);
    let h = hash_to_g1(message_hash);
    let lhs = signature.affine().into_group() + pk_g1.affine().into_group() * g;
    let rhs = h.affine().into_group() + G1Projective::generator() * g;
    pairing_holds(lhs, rhs, pk_g2.affine())
        .then_some(())
        .ok_or(Error::InvalidSignature)
}

/// Verifies a signature on an already-mapped message point: e(sig, -G2)·e(point, pk_g2) == 1.
/// This is what a `scalar_mul` result satisfies.
pub fn verify_point_signature(
    message_point: &G1Point,
    signature: &G1Point,
    pk_g2: &G2Point,
) -> Result<()> {
    pairing_holds(
        signature.affine().into_group(),
        message_point.affine().into_group(),
        pk_g2.affine(),
    )
    .then_some(())
    .ok_or(Error::InvalidSignature)
}

/// Verifies registration parameters exactly as `BLSApkRegistry.registerBLSPublicKey` does:
/// gamma = keccak(sig, pkG1, pkG2, H(m)) mod r and
/// e(sig + gamma·pkG1, -G2)·e(H(m) + gamma·G1, pkG2) == 1.
pub fn verify_registration(
    message_point: &G1Point,
    signature: &G1Point,
    pk_g1: &G1Point,
    pk_g2: &G2Point,
) -> Result<()> {
    let g = gamma(&[
        &signature.to_abi_bytes(),
        &pk_g1.to_abi_bytes(),
        &pk_g2.to_abi_bytes(),
        &message_point.to_abi_bytes(),
    ]);
    let lhs = signature.affine().into_group() + pk_g1.affine().into_group() * g;
    let rhs = message_point.affine().into_group() + G1Projective::generator() * g;
    pairing_holds(lhs, rhs, pk_g2.affine())
        .then_some(())
        .ok_or(Error::InvalidSignature)
}

/// True when the G1 and G2 keys share one secret: e(pk_g1, -G2)·e(G1, pk_g2) == 1.
pub fn keys_match(pk_g1: &G1Point, pk_g2: &G2Point) -> bool {
    pairing_holds(
        pk_g1.affine().into_group(),
        G1Projective::generator(),
        pk_g2.affine(),
    )
}

/// Sums G1 points (signatures or G1 keys). An empty list or a sum equal to the identity is an error.
pub fn aggregate_g1(points: &[G1Point]) -> Result<G1Point> {
    if points.is_empty() {
        return Err(Error::InvalidThreshold("nothing to aggregate"));
    }
    G1Point::from_projective(points.iter().map(|p| p.affine().into_group()).sum())
}

/// Sums G2 public keys. An empty list or a sum equal to the identity is an error.
pub fn aggregate_g2(points: &[G2Point]) -> Result<G2Point> {
    if points.is_empty() {
        return Err(Error::InvalidThreshold("nothing to aggregate"));
    }
    G2Point::from_projective(points.iter().map(|p| p.affine().into_group()).sum())
}
