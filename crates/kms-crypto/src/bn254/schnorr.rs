//! Schnorr signatures in BN254 G1 under the operator's BLS key (public key sk·G1).
//!
//! For messages that need an attributable signature but no aggregation: verification costs two
//! scalar multiplications (table products with [`PreparedKey`]) instead of a pairing.
//! On chain it is two `ecMul` and one `ecAdd` (docs/0006).
//!
//! - nonce k = (keccak(NONCE_TAG, 0, sk, m) || keccak(NONCE_TAG, 1, sk, m)) mod r: deterministic,
//!   512 bits reduced, so its bias is below 2^-250;
//! - R = k·G1, e = keccak(CHALLENGE_TAG, R, P, m) mod r, s = k + e·sk;
//! - valid iff s < r and s·G1 = R + e·P. Encoding: R as two 32-byte coordinates, then s, big-endian.
//!
//! The same key also makes EigenLayer BLS signatures sk·hashToG1(m); the two schemes stay apart
//! because a Schnorr transcript is hashed under its own tag and a BLS signature is a point, never a
//! scalar (joint security: docs/0006).

use super::key::SecretKey;
use super::point::G1Point;
use crate::{Error, Result};
use alloy_primitives::{keccak256, U256};
use ark_bn254::{Fr, G1Projective};
use ark_ec::scalar_mul::BatchMulPreprocessing;
use ark_ec::{AffineRepr, PrimeGroup};
use ark_ff::{BigInteger, PrimeField, Zero};
use std::sync::{Arc, OnceLock};
use zeroize::Zeroize;

const NONCE_TAG: &[u8] = b"KMS_BN254_SCHNORR_NONCE_V1";
const CHALLENGE_TAG: &[u8] = b"KMS_BN254_SCHNORR_V1";
/// Encoded length: R (64 bytes) and s (32 bytes).
pub const SCHNORR_LEN: usize = 96;

/// A Schnorr signature (R, s) with R a checked point and s canonical.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchnorrSignature {
    r: G1Point,
    s: Fr,
}

type Table = BatchMulPreprocessing<G1Projective>;

/// A table of window multiples of `base`: a product then costs one mixed addition per window
/// instead of a double-and-add. `num_scalars` picks the window the way arkworks sizes it (256:
/// 5 bits, about 100 KB; 512: 6 bits, about 170 KB). Like the rest of arkworks' scalar
/// multiplication it is not constant time (docs/0001, docs/0006).
fn table(base: G1Projective, num_scalars: usize) -> Table {
    BatchMulPreprocessing::with_num_scalars_and_scalar_size(
        base,
        num_scalars,
        Fr::MODULUS_BIT_SIZE as usize,
    )
}

fn table_mul(table: &Table, k: &Fr) -> G1Projective {
    table
        .batch_mul(std::slice::from_ref(k))
        .first()
        .map(|p| p.into_group())
        .unwrap_or_default()
}

/// k·G1, from a table built once per process.
fn mul_generator(k: &Fr) -> G1Projective {
    static TABLE: OnceLock<Table> = OnceLock::new();
    table_mul(
        TABLE.get_or_init(|| table(G1Projective::generator(), 512)),
        k,
    )
}

/// A public key prepared for Schnorr verification: the point and a table of its multiples,
/// built on first use and shared by clones, so that a node checking many messages from the
/// same operators over many rounds pays for the table once per operator (about a millisecond)
/// and then about a quarter of a scalar multiplication per signature.
#[derive(Clone)]
pub struct PreparedKey {
    point: G1Point,
    table: Arc<OnceLock<Table>>,
}

impl PreparedKey {
    /// Wraps a public key; its table is built on first use by
    /// [`SchnorrSignature::verify_prepared`].
    pub fn new(point: G1Point) -> Self {
        Self {
            point,
            table: Arc::new(OnceLock::new()),
        }
    }

    /// The public key sk·G1.
    pub fn point(&self) -> &G1Point {
        &self.point
    }

    fn mul(&self, k: &Fr) -> G1Projective {
        let t = self
            .table
            .get_or_init(|| table(self.point.affine().into_group(), 256));
        table_mul(t, k)
    }
}

impl PartialEq for PreparedKey {
    fn eq(&self, other: &Self) -> bool {
        self.point == other.point
    }
}

impl Eq for PreparedKey {}

impl core::fmt::Debug for PreparedKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("PreparedKey").field(&self.point).finish()
    }
}

fn fr_to_be(v: &Fr) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (dst, src) in out.iter_mut().rev().zip(v.into_bigint().to_bytes_le()) {
        *dst = src;
    }
    out
}

fn challenge(r: &G1Point, pk: &G1Point, digest: &[u8; 32]) -> Fr {
    let joined = [
        CHALLENGE_TAG,
        &r.to_abi_bytes(),
        &pk.to_abi_bytes(),
        digest.as_slice(),
    ]
    .concat();
    Fr::from_be_bytes_mod_order(keccak256(&joined).as_slice())
}

impl SchnorrSignature {
    /// The 96-byte encoding: R's x and y coordinates, then s, each 32 bytes big-endian.
    pub fn to_bytes(&self) -> [u8; SCHNORR_LEN] {
        let mut out = [0u8; SCHNORR_LEN];
        let (r, s) = out.split_at_mut(64);
        r.copy_from_slice(&self.r.to_abi_bytes());
        s.copy_from_slice(&fr_to_be(&self.s));
        out
    }

    /// Parses R (checked on the curve, not the identity) and s (refused unless < r, so every
    /// signature has exactly one encoding).
    pub fn from_bytes(bytes: &[u8; SCHNORR_LEN]) -> Result<Self> {
        let (r, s) = bytes.split_at(64);
        let (x, y) = r.split_at(32);
        let r = G1Point::from_coords(U256::from_be_slice(x), U256::from_be_slice(y))?;
        let s_int = U256::from_be_slice(s);
        let s = Fr::from_bigint(ark_ff::BigInt::new(s_int.into_limbs()))
            .ok_or(Error::MalformedScalar)?;
        Ok(Self { r, s })
    }

    /// The nonce point R.
    pub fn nonce_point(&self) -> &G1Point {
        &self.r
    }

    /// s as a 256-bit integer.
    pub fn s(&self) -> U256 {
        U256::from_be_bytes(fr_to_be(&self.s))
    }

    /// Checks one signature: s·G1 − e·P = R.
    pub fn verify(&self, digest: &[u8; 32], pk: &G1Point) -> Result<()> {
        let e = challenge(&self.r, pk, digest);
        self.check(mul_generator(&self.s) - pk.affine().into_group() * e)
    }

    /// As [`Self::verify`], with the key's table.
    pub fn verify_prepared(&self, digest: &[u8; 32], pk: &PreparedKey) -> Result<()> {
        let e = challenge(&self.r, &pk.point, digest);
        self.check(mul_generator(&self.s) - pk.mul(&e))
    }

    fn check(&self, lhs: G1Projective) -> Result<()> {
        (lhs == self.r.affine().into_group())
            .then_some(())
            .ok_or(Error::InvalidSignature)
    }
}

impl SecretKey {
    /// Signs a 32-byte digest with a deterministic nonce.
    pub fn schnorr_sign(&self, digest: &[u8; 32]) -> SchnorrSignature {
        let pk = self.public_g1();
        self.scalar.expose(|sk| {
            let mut sk_be = fr_to_be(sk);
            let mut counter = 0u8;
            loop {
                let mut wide = [0u8; 64];
                for (half, out) in wide.chunks_mut(32).enumerate() {
                    let mut input = [
                        NONCE_TAG,
                        &[counter, half as u8],
                        sk_be.as_slice(),
                        digest.as_slice(),
                    ]
                    .concat();
                    out.copy_from_slice(keccak256(&input).as_slice());
                    input.zeroize();
                }
                let mut k = Fr::from_be_bytes_mod_order(&wide);
                wide.zeroize();
                if k.is_zero() {
                    // Probability 2^-254; a new counter gives a fresh nonce for the same message.
                    counter = counter.wrapping_add(1);
                    continue;
                }
                // The nonce is as secret as the key (it gives the key from s): split like sk.
                let r = G1Point::from_nonzero_projective(super::key::split_mul(&k, |x| {
                    mul_generator(&x)
                }));
                let e = challenge(&r, &pk, digest);
                let s = k + e * *sk;
                k.zeroize();
                sk_be.zeroize();
                return SchnorrSignature { r, s };
            }
        })
    }
}
