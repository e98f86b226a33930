//! BN254 secret keys. Created from a secure RNG or read from existing key material; held in a
//! `Secret`, with the public keys computed once at construction.

use super::hash::hash_to_g1;
use super::int::parse_u256;
use super::point::{G1Point, G2Point};
use crate::{Error, Result, Secret};
use ark_bn254::{Fr, G1Projective, G2Projective};
use ark_ec::{AffineRepr, PrimeGroup};
use ark_ff::{BigInteger, PrimeField, Zero};
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroize;

/// `k·P` computed as `a·P + (k − a)·P` with a fresh uniformly random share `a`: arkworks'
/// multiplication takes time that depends on the scalar's digits, and here each multiplication
/// sees only a scalar that is uniform and independent of `k` on its own, drawn anew on every call.
/// This blinds statistically (the two timings together still depend on `k`, but only through a
/// sum over a fresh random split), which is what a caller timing many requests (an API-key
/// holder) has to fight; it is not a constant-time ladder. It costs a second multiplication.
pub(crate) fn split_mul<G: core::ops::Add<Output = G>>(k: &Fr, mul: impl Fn(Fr) -> G) -> G {
    let mut wide = [0u8; 48];
    rand_core::OsRng.fill_bytes(&mut wide);
    let mut a = Fr::from_be_bytes_mod_order(&wide);
    wide.zeroize();
    let mut b = *k - a;
    let out = mul(a) + mul(b);
    a.zeroize();
    b.zeroize();
    out
}

/// A BN254 BLS secret key with its G1 and G2 public keys.
///
/// Reduction rule: key material read from outside (files, keystores) is a 256-bit big-endian
/// integer taken modulo r, as the EVM's `ecMul`, gnark's `fr.Element.SetString` and EigenLayer's
/// tools do; a value that reduces to zero is rejected. Fresh keys are sampled uniformly in [1, r).
pub struct SecretKey {
    pub(super) scalar: Secret<Fr>,
    g1: G1Point,
    g2: G2Point,
}

impl core::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SecretKey")
            .field("g1", &self.g1)
            .finish_non_exhaustive()
    }
}

impl SecretKey {
    /// Samples a key uniformly: 48 random bytes reduced mod r (bias below 2^-128), zero excluded.
    pub fn random(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        loop {
            let mut wide = [0u8; 48];
            rng.fill_bytes(&mut wide);
            let scalar = Fr::from_be_bytes_mod_order(&wide);
            wide.zeroize();
            if let Ok(key) = Self::from_scalar(scalar) {
                return key;
            }
        }
    }

    /// Reads a 32-byte big-endian key, reducing mod r.
    pub fn from_be_bytes_reduced(bytes: &[u8; 32]) -> Result<Self> {
        Self::from_scalar(Fr::from_be_bytes_mod_order(bytes))
    }

    /// Reads a decimal or 0x-hex integer of at most 256 bits, reducing mod r.
    pub fn from_int_str(text: &str) -> Result<Self> {
        let mut bytes = parse_u256(text)?.to_be_bytes::<32>();
        let key = Self::from_be_bytes_reduced(&bytes);
        bytes.zeroize();
        key
    }

    fn from_scalar(mut scalar: Fr) -> Result<Self> {
        if scalar.is_zero() {
            return Err(Error::ZeroSecretKey);
        }
        let g1 = G1Point::from_projective(split_mul(&scalar, |k| G1Projective::generator() * k));
        let g2 = G2Point::from_projective(split_mul(&scalar, |k| G2Projective::generator() * k));
        let secret = Secret::new(scalar);
        scalar.zeroize();
        Ok(Self {
            scalar: secret,
            g1: g1?,
            g2: g2?,
        })
    }

    /// The canonical 32-byte big-endian encoding (always < r).
    pub fn to_be_bytes(&self) -> Secret<[u8; 32]> {
        self.scalar.expose(|s| {
            let mut out = [0u8; 32];
            let mut be = s.into_bigint().to_bytes_be();
            for (dst, src) in out.iter_mut().rev().zip(be.iter().rev()) {
                *dst = *src;
            }
            be.zeroize();
            Secret::new(out)
        })
    }

    /// The decimal encoding, for key files the user asked to write.
    pub fn to_decimal(&self) -> Secret<String> {
        self.scalar
            .expose(|s| Secret::new(s.into_bigint().to_string()))
    }

    /// sk·G1.
    pub fn public_g1(&self) -> G1Point {
        self.g1
    }

    /// sk·G2.
    pub fn public_g2(&self) -> G2Point {
        self.g2
    }

    /// sk·P for a checked point P: the seed's `scalar_mul`, used to sign a hash point that the
    /// caller computed.
    pub fn sign_point(&self, point: &G1Point) -> G1Point {
        // sk != 0 mod r and P has order r, so the product is never the identity.
        let p = point.affine().into_group();
        G1Point::from_nonzero_projective(self.scalar.expose(|s| split_mul(s, |k| p * k)))
    }

    /// Signs a 32-byte digest: sk·hashToG1(digest). Returns (message point, signature).
    pub fn sign_hash(&self, digest: &[u8; 32]) -> (G1Point, G1Point) {
        let message_point = hash_to_g1(digest);
        (message_point, self.sign_point(&message_point))
    }
}
