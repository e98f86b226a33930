//! Checked BN254 points. A `G1Point` or `G2Point` is always on the curve, in the prime-order
//! subgroup, and not the identity; the only way to get one from outside data is through these
//! constructors.

use super::int::{format_u256, parse_u256};
use crate::{Error, Result};
use alloy_primitives::U256;
use ark_bn254::{Fq, Fq2, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::short_weierstrass::{Affine, SWCurveConfig};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{BigInt, PrimeField};

/// A checked G1 point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct G1Point(G1Affine);

/// A checked G2 point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct G2Point(G2Affine);

/// Converts an integer to a base-field element, refusing values >= p instead of reducing them.
pub(crate) fn fq_from_u256(v: U256) -> Result<Fq> {
    Fq::from_bigint(BigInt::new(v.into_limbs())).ok_or(Error::NonCanonicalCoordinate)
}

pub(crate) fn fq_to_u256(v: &Fq) -> U256 {
    U256::from_limbs(v.into_bigint().0)
}

/// Identity, curve and subgroup checks, in that order, each with its own error.
fn checked<P: SWCurveConfig>(p: Affine<P>) -> Result<Affine<P>> {
    let p = non_identity(p)?;
    if !p.is_on_curve() {
        return Err(Error::NotOnCurve);
    }
    if !p.is_in_correct_subgroup_assuming_on_curve() {
        return Err(Error::NotInSubgroup);
    }
    Ok(p)
}

fn non_identity<P: SWCurveConfig>(p: Affine<P>) -> Result<Affine<P>> {
    if p.is_zero() {
        return Err(Error::IdentityPoint);
    }
    Ok(p)
}

impl G1Point {
    /// Builds a point from affine coordinates, checking canonical encoding, curve, subgroup and
    /// identity. `(0, 0)`, the EVM's encoding of infinity, is rejected as the identity.
    pub fn from_coords(x: U256, y: U256) -> Result<Self> {
        let (x, y) = (fq_from_u256(x)?, fq_from_u256(y)?);
        if x == Fq::from(0u64) && y == Fq::from(0u64) {
            return Err(Error::IdentityPoint);
        }
        Self::from_affine(G1Affine::new_unchecked(x, y))
    }

    /// Parses decimal or 0x-hex coordinates and checks the point.
    pub fn from_dec_or_hex(x: &str, y: &str) -> Result<Self> {
        Self::from_coords(parse_u256(x)?, parse_u256(y)?)
    }

    /// Checks an arkworks affine point.
    pub fn from_affine(p: G1Affine) -> Result<Self> {
        checked(p).map(Self)
    }

    /// Normalises a projective result; only the identity can fail, as G1 has prime order.
    pub(crate) fn from_projective(p: G1Projective) -> Result<Self> {
        non_identity(p.into_affine()).map(Self)
    }

    /// For products the caller knows are not the identity (a non-zero scalar times a checked point).
    pub(crate) fn from_nonzero_projective(p: G1Projective) -> Self {
        Self(p.into_affine())
    }

    /// The generator (1, 2), as BN254.sol defines it.
    pub fn generator() -> Self {
        Self(G1Affine::generator())
    }

    /// The underlying arkworks point.
    pub fn affine(&self) -> &G1Affine {
        &self.0
    }

    /// The x coordinate.
    pub fn x(&self) -> U256 {
        self.0.x().map(|v| fq_to_u256(&v)).unwrap_or_default()
    }

    /// The y coordinate.
    pub fn y(&self) -> U256 {
        self.0.y().map(|v| fq_to_u256(&v)).unwrap_or_default()
    }

    /// Decimal x.
    pub fn x_dec(&self) -> String {
        format_u256(&self.x())
    }

    /// Decimal y.
    pub fn y_dec(&self) -> String {
        format_u256(&self.y())
    }

    /// `abi.encodePacked(x, y)`: 64 bytes, big-endian.
    pub fn to_abi_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        let (a, b) = out.split_at_mut(32);
        a.copy_from_slice(&self.x().to_be_bytes::<32>());
        b.copy_from_slice(&self.y().to_be_bytes::<32>());
        out
    }
}

/// gnark's flags in the top two bits of a compressed point's first byte: y is the smaller or
/// the lexicographically larger of the two roots.
const GNARK_SMALLEST: u8 = 0b10 << 6;
const GNARK_LARGEST: u8 = 0b11 << 6;

/// Whether `v` is the lexicographically larger of `v` and `-v`, as gnark decides it.
fn fq_largest(v: &Fq) -> bool {
    fq_to_u256(v) > U256::from_limbs(Fq::MODULUS_MINUS_ONE_DIV_TWO.0)
}

impl G1Point {
    /// gnark-crypto's compressed form (`G1Affine.Bytes()`): x big-endian, with y's root flagged
    /// in the top bits. Its lowercase hex is how cerberus and eigensdk-go name a key.
    pub fn to_gnark_compressed(&self) -> [u8; 32] {
        let mut out = self.x().to_be_bytes::<32>();
        let (_, y) = self.0.xy().unwrap_or_default();
        out[0] |= if fq_largest(&y) {
            GNARK_LARGEST
        } else {
            GNARK_SMALLEST
        };
        out
    }
}

impl G2Point {
    /// gnark-crypto's compressed form (`G2Affine.Bytes()`): `x.c1 ‖ x.c0` big-endian, with y's
    /// root flagged in the top bits (y compared by c1, or by c0 when c1 is zero).
    pub fn to_gnark_compressed(&self) -> [u8; 64] {
        let (x, y) = self.0.xy().unwrap_or_default();
        let mut out = [0u8; 64];
        let (hi, lo) = out.split_at_mut(32);
        hi.copy_from_slice(&fq_to_u256(&x.c1).to_be_bytes::<32>());
        lo.copy_from_slice(&fq_to_u256(&x.c0).to_be_bytes::<32>());
        let largest = if y.c1 == Fq::from(0u64) {
            fq_largest(&y.c0)
        } else {
            fq_largest(&y.c1)
        };
        out[0] |= if largest {
            GNARK_LARGEST
        } else {
            GNARK_SMALLEST
        };
        out
    }

    /// Builds a point from Solidity-ordered coordinates `x = [c1, c0]`, `y = [c1, c0]`, with the
    /// same checks as G1 plus the subgroup check that G2's cofactor makes necessary.
    pub fn from_solidity(x: [U256; 2], y: [U256; 2]) -> Result<Self> {
        let [x1, x0] = x;
        let [y1, y0] = y;
        let x = Fq2::new(fq_from_u256(x0)?, fq_from_u256(x1)?);
        let y = Fq2::new(fq_from_u256(y0)?, fq_from_u256(y1)?);
        let zero = Fq2::from(0u64);
        if x == zero && y == zero {
            return Err(Error::IdentityPoint);
        }
        Self::from_affine(G2Affine::new_unchecked(x, y))
    }

    /// Parses Solidity-ordered decimal or 0x-hex coordinates and checks the point.
    pub fn from_dec_or_hex(x: [&str; 2], y: [&str; 2]) -> Result<Self> {
        let [x1, x0] = x;
        let [y1, y0] = y;
        Self::from_solidity(
            [parse_u256(x1)?, parse_u256(x0)?],
            [parse_u256(y1)?, parse_u256(y0)?],
        )
    }

    /// Checks an arkworks affine point.
    pub fn from_affine(p: G2Affine) -> Result<Self> {
        checked(p).map(Self)
    }

    pub(crate) fn from_projective(p: G2Projective) -> Result<Self> {
        non_identity(p.into_affine()).map(Self)
    }

    /// The generator, equal to BN254.sol's `generatorG2()`.
    pub fn generator() -> Self {
        Self(G2Affine::generator())
    }

    /// The underlying arkworks point.
    pub fn affine(&self) -> &G2Affine {
        &self.0
    }

    /// Coordinates in Solidity order: `([x.c1, x.c0], [y.c1, y.c0])`.
    pub fn to_solidity(&self) -> ([U256; 2], [U256; 2]) {
        let (x, y) = self.0.xy().unwrap_or_default();
        (
            [fq_to_u256(&x.c1), fq_to_u256(&x.c0)],
            [fq_to_u256(&y.c1), fq_to_u256(&y.c0)],
        )
    }

    /// Solidity-ordered decimal coordinates.
    pub fn to_dec(&self) -> ([String; 2], [String; 2]) {
        let (x, y) = self.to_solidity();
        (x.map(|v| format_u256(&v)), y.map(|v| format_u256(&v)))
    }

    /// `abi.encodePacked(X[0], X[1], Y[0], Y[1])`: 128 bytes in Solidity order.
    pub fn to_abi_bytes(&self) -> [u8; 128] {
        let (x, y) = self.to_solidity();
        let mut out = [0u8; 128];
        for (chunk, v) in out.chunks_exact_mut(32).zip(x.iter().chain(y.iter())) {
            chunk.copy_from_slice(&v.to_be_bytes::<32>());
        }
        out
    }
}
