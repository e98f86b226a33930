//! BLS12-381 threshold primitives for the network's master key: checked point and scalar codecs,
//! evaluation points derived from operator addresses, secret polynomials, Feldman commitments in G2,
//! Lagrange coefficients, partial signatures on H(app_id) in G1 with single and batch verification,
//! and recovery of the app key checked against the master public key.
//!
//! Group choice: the MPK and commitments live in G2 and signatures in G1, so per-app keys (G1, 48
//! bytes) are small and hashing to the curve is cheap. H(app_id) is RFC 9380 hash_to_curve
//! (BLS12381G1_XMD:SHA-256_SSWU_RO_) with this project's versioned DST, [`APP_ID_DST`].

mod dealing;
mod partial;
mod point;
mod poly;

pub use dealing::{
    batch_coefficient, combine_commitments, combine_shares, public_share,
    verify_public_shares_batch, verify_shares_batch,
};
pub use partial::{
    app_key_from_master, batch_verify_partials, check_and_recover, find_invalid_partials,
    hash_app_id, hash_to_g1, partial_sign, recover, recover_verified, verify_partial, AppKey,
    PartialSignature, PublicShares, APP_ID_DST,
};
pub use point::{G1Point, G2Point, PublicScalar, SecretScalar};
pub use poly::{
    lagrange_at_zero, legacy_threshold_for, threshold_for, Commitment, EvalPoint, Polynomial, Share,
};

#[cfg(test)]
mod tests;
