//! BN254.sol's `hashToG1`: try-and-increment from a 32-byte digest.
//!
//! x starts at `digest mod p`; for each x, beta = x^3 + 3 and y = beta^((p+1)/4) (a square root when
//! one exists, since p = 3 mod 4); the first x with y^2 = beta wins. y is exactly that power, never
//! its negation, which is what makes the result match the contract bit for bit.

use super::point::G1Point;
use ark_bn254::{Fq, G1Affine};
use ark_ff::{BigInteger, Field, PrimeField};
use std::sync::OnceLock;

/// (p + 1) / 4 as little-endian limbs, derived from the modulus once.
fn sqrt_exponent() -> &'static [u64; 4] {
    static EXP: OnceLock<[u64; 4]> = OnceLock::new();
    EXP.get_or_init(|| {
        let mut e = Fq::MODULUS;
        e.add_with_carry(&1u64.into());
        e.div2();
        e.div2();
        e.0
    })
}

/// Maps a digest to G1 exactly as EigenLayer's `BN254.hashToG1(bytes32)` does.
pub fn hash_to_g1(digest: &[u8; 32]) -> G1Point {
    let three = Fq::from(3u64);
    let mut x = Fq::from_be_bytes_mod_order(digest);
    loop {
        let beta = x.square() * x + three;
        let y = beta.pow(sqrt_exponent());
        if y.square() == beta {
            // On the curve by construction, and G1 has cofactor 1; x^3 + 3 = 0 has no root mod p,
            // so y is never zero and the point is never the identity.
            if let Ok(p) = G1Point::from_affine(G1Affine::new_unchecked(x, y)) {
                return p;
            }
        }
        x += Fq::from(1u64);
    }
}
