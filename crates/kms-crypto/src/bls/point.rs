//! Checked BLS12-381 encodings. Compressed points (48-byte G1, 96-byte G2, ZCash format) decode to
//! points on the curve, in the prime-order subgroup, and not the identity; scalars decode only when
//! canonical (below r).

use crate::secret::CtEq;
use crate::{Error, Result};
use blstrs::{G1Affine, G2Affine, G2Projective, Scalar};
use group::prime::PrimeCurveAffine;
use subtle::{Choice, ConstantTimeEq};
use zeroize::DefaultIsZeroes;

/// A checked G1 point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct G1Point(pub(crate) G1Affine);

/// A checked G2 point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct G2Point(pub(crate) G2Affine);

/// A scalar that is public (an evaluation point, a Lagrange coefficient).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicScalar(pub(crate) Scalar);

/// A scalar that is secret; only ever stored inside `Secret<SecretScalar>`.
#[derive(Clone, Copy, Default)]
pub struct SecretScalar(pub(crate) Scalar);

impl DefaultIsZeroes for SecretScalar {}

impl CtEq for SecretScalar {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.0.ct_eq(&other.0)
    }
}

fn array<const N: usize>(bytes: &[u8], what: &'static str) -> Result<[u8; N]> {
    bytes.try_into().map_err(|_| Error::WrongLength {
        what,
        expected: N,
        got: bytes.len(),
    })
}

/// Decoding (which checks the curve equation), identity and subgroup checks, each with its own
/// error.
fn checked<A: PrimeCurveAffine>(
    decoded: Option<A>,
    torsion_free: impl Fn(&A) -> Choice,
) -> Result<A> {
    let p = decoded.ok_or(Error::NotOnCurve)?;
    if bool::from(p.is_identity()) {
        return Err(Error::IdentityPoint);
    }
    if !bool::from(torsion_free(&p)) {
        return Err(Error::NotInSubgroup);
    }
    Ok(p)
}

impl G1Point {
    /// Decodes a 48-byte compressed point with every check.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let raw: [u8; 48] = array(bytes, "G1 point")?;
        let p: Option<G1Affine> = G1Affine::from_compressed_unchecked(&raw).into();
        checked(p, |p| p.is_torsion_free()).map(Self)
    }

    /// The 48-byte compressed encoding.
    pub fn to_bytes(&self) -> [u8; 48] {
        self.0.to_compressed()
    }

    /// The underlying blstrs point.
    pub fn affine(&self) -> &G1Affine {
        &self.0
    }
}

impl G2Point {
    /// Decodes a 96-byte compressed point with every check.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let raw: [u8; 96] = array(bytes, "G2 point")?;
        let p: Option<G2Affine> = G2Affine::from_compressed_unchecked(&raw).into();
        checked(p, |p| p.is_torsion_free()).map(Self)
    }

    /// The 96-byte compressed encoding.
    pub fn to_bytes(&self) -> [u8; 96] {
        self.0.to_compressed()
    }

    /// The underlying blstrs point.
    pub fn affine(&self) -> &G2Affine {
        &self.0
    }

    /// The sum of public keys (a DKG's master public key is the sum of its dealings'). Nothing to
    /// sum, or a sum that is the identity, is an error: neither is a usable key.
    pub fn sum(points: &[G2Point]) -> Result<Self> {
        if points.is_empty() {
            return Err(Error::InvalidThreshold("nothing to sum"));
        }
        let s: G2Projective = points.iter().map(|p| G2Projective::from(p.0)).sum();
        let a = G2Affine::from(s);
        if bool::from(a.is_identity()) {
            return Err(Error::IdentityPoint);
        }
        Ok(Self(a))
    }
}

impl PublicScalar {
    /// Decodes a canonical 32-byte big-endian scalar.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let raw: [u8; 32] = array(bytes, "scalar")?;
        Option::from(Scalar::from_bytes_be(&raw))
            .map(Self)
            .ok_or(Error::MalformedScalar)
    }

    /// The 32-byte big-endian encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes_be()
    }

    /// The underlying blstrs scalar.
    pub fn scalar(&self) -> &Scalar {
        &self.0
    }
}

impl SecretScalar {
    /// Decodes a canonical 32-byte big-endian scalar.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        PublicScalar::from_bytes(bytes).map(|s| Self(s.0))
    }

    /// The 32-byte big-endian encoding, for sealing and persistence.
    pub fn to_bytes(&self) -> crate::Secret<[u8; 32]> {
        crate::Secret::new(self.0.to_bytes_be())
    }
}
