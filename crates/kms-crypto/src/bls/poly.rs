//! Secret polynomials, Feldman commitments in G2, evaluation points and Lagrange coefficients.

use super::point::{G2Point, PublicScalar, SecretScalar};
use crate::{Error, Result, Secret};
use blstrs::{G2Affine, G2Projective, Scalar};
use ff::Field;
use group::{Curve, Group};
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

/// Domain tag for deriving evaluation points from operator addresses.
const EVAL_POINT_TAG: &[u8] = b"KMS_EVAL_POINT_V1";

/// The threshold for a committee of n: t = floor(2n/3) + 1 = n - floor((n-1)/3), the BFT quorum.
/// It is the smallest t with 2(n - t) < t: up to f = n - t Byzantine operators, plus up to f
/// honest ones whose shares a dealer reveals because they did not ack, hold fewer than t
/// evaluations of any dealing (docs 0005 §4).
pub fn threshold_for(n: usize) -> usize {
    2 * n / 3 + 1
}

/// The rule before issue 15, t = ceil(2n/3): it differs from [`threshold_for`] only when 3
/// divides n. Kept so that epochs finalized under it still decode; no new round uses it.
pub fn legacy_threshold_for(n: usize) -> usize {
    (2 * n).div_ceil(3)
}

/// A participant's evaluation point: non-zero, public, stable for an operator address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvalPoint(pub(crate) PublicScalar);

impl EvalPoint {
    /// Derives the point from a 20-byte operator address: the first 31 bytes of
    /// SHA-256(tag || address), read big-endian (always below r). Zero is rejected.
    pub fn from_address(address: &[u8; 20]) -> Result<Self> {
        let digest = Sha256::new()
            .chain_update(EVAL_POINT_TAG)
            .chain_update(address)
            .finalize();
        let mut wide = [0u8; 32];
        if let (Some(dst), Some(src)) = (wide.get_mut(1..), digest.get(..31)) {
            dst.copy_from_slice(src);
        }
        Self::from_scalar(PublicScalar::from_bytes(&wide)?)
    }

    /// Uses a given scalar (tests, imports); zero is rejected.
    pub fn from_scalar(s: PublicScalar) -> Result<Self> {
        if bool::from(s.0.is_zero()) {
            return Err(Error::InvalidEvaluationPoint("zero"));
        }
        Ok(Self(s))
    }

    /// A small-integer point, as in textbook examples (1, 2, 3, ...).
    pub fn from_index(i: u64) -> Result<Self> {
        Self::from_scalar(PublicScalar(Scalar::from(i)))
    }

    /// The point as an integer when it is below 2^64: commitments are then evaluated by Horner's
    /// rule with short double-and-add steps instead of full-width products.
    pub fn small(&self) -> Option<u64> {
        let le = self.0 .0.to_bytes_le();
        let (low, high) = le.split_at(8);
        if high.iter().any(|b| *b != 0) {
            return None;
        }
        let mut b = [0u8; 8];
        b.copy_from_slice(low);
        Some(u64::from_le_bytes(b))
    }

    /// The scalar.
    pub fn scalar(&self) -> &Scalar {
        &self.0 .0
    }

    /// The 32-byte big-endian encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
}

/// A participant's secret share: f(x) at its evaluation point x.
pub struct Share {
    /// The participant's evaluation point x.
    pub point: EvalPoint,
    /// f(x).
    pub value: Secret<SecretScalar>,
}

impl core::fmt::Debug for Share {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Share")
            .field("point", &self.point)
            .field("value", &self.value)
            .finish()
    }
}

/// A secret polynomial of degree t - 1.
pub struct Polynomial {
    coeffs: Secret<Vec<SecretScalar>>,
}

impl Polynomial {
    /// A random polynomial with `threshold` coefficients (degree t - 1).
    pub fn random(threshold: usize, rng: &mut (impl RngCore + CryptoRng)) -> Result<Self> {
        if threshold == 0 {
            return Err(Error::InvalidThreshold("threshold must be at least 1"));
        }
        let coeffs = (0..threshold)
            .map(|_| SecretScalar(Scalar::random(&mut *rng)))
            .collect();
        Ok(Self {
            coeffs: Secret::new(coeffs),
        })
    }

    /// A random polynomial whose constant term is `constant` (a reshare deals its current share).
    pub fn with_constant(
        constant: &Secret<SecretScalar>,
        threshold: usize,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Self> {
        let mut poly = Self::random(threshold, rng)?;
        poly.coeffs.expose_mut(|c| {
            if let Some(first) = c.first_mut() {
                *first = constant.expose(|s| *s);
            }
        });
        Ok(poly)
    }

    /// Number of coefficients (the threshold).
    pub fn threshold(&self) -> usize {
        self.coeffs.expose(|c| c.len())
    }

    /// f(x) by Horner's rule.
    pub fn evaluate(&self, x: &EvalPoint) -> Share {
        let value = self.coeffs.expose(|c| {
            c.iter()
                .rev()
                .fold(Scalar::ZERO, |acc, coeff| acc * x.scalar() + coeff.0)
        });
        Share {
            point: *x,
            value: Secret::new(SecretScalar(value)),
        }
    }

    /// The constant term f(0): the dealt secret.
    pub fn constant(&self) -> Secret<SecretScalar> {
        Secret::new(
            self.coeffs
                .expose(|c| c.first().copied().unwrap_or_default()),
        )
    }

    /// Feldman commitment: a_j·G2 for every coefficient.
    pub fn commit(&self) -> Commitment {
        let g = G2Projective::generator();
        let proj: Vec<G2Projective> = self.coeffs.expose(|c| c.iter().map(|a| g * a.0).collect());
        let mut affine = vec![G2Affine::default(); proj.len()];
        G2Projective::batch_normalize(&proj, &mut affine);
        Commitment { coeffs: affine }
    }
}

/// Public commitment to a polynomial: the public polynomial in G2. Its constant term is the
/// (master) public key; its evaluation at x is participant x's public share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commitment {
    coeffs: Vec<G2Affine>,
}

impl Commitment {
    /// Builds a commitment from checked points (non-identity, in the subgroup).
    pub fn from_points(points: &[G2Point]) -> Result<Self> {
        if points.is_empty() {
            return Err(Error::InvalidThreshold("empty commitment"));
        }
        Ok(Self {
            coeffs: points.iter().map(|p| p.0).collect(),
        })
    }

    /// From affine points already known to be checked (crate-internal combinations).
    pub(crate) fn from_affine(coeffs: Vec<G2Affine>) -> Result<Self> {
        if coeffs.is_empty() {
            return Err(Error::InvalidThreshold("empty commitment"));
        }
        Ok(Self { coeffs })
    }

    /// Decodes concatenated 96-byte compressed points.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.is_empty() || !bytes.len().is_multiple_of(96) {
            return Err(Error::WrongLength {
                what: "commitment",
                expected: 96 * (bytes.len() / 96).max(1),
                got: bytes.len(),
            });
        }
        let points = bytes
            .chunks_exact(96)
            .map(G2Point::from_bytes)
            .collect::<Result<Vec<_>>>()?;
        Self::from_points(&points)
    }

    /// Concatenated compressed points.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.coeffs.iter().flat_map(|p| p.to_compressed()).collect()
    }

    /// The threshold t (number of coefficients).
    pub fn threshold(&self) -> usize {
        self.coeffs.len()
    }

    /// The constant term: the public key of the shared secret.
    pub fn public_key(&self) -> G2Point {
        // Non-empty by construction.
        G2Point(self.coeffs.first().copied().unwrap_or_default())
    }

    /// The commitment points.
    pub fn points(&self) -> &[G2Affine] {
        &self.coeffs
    }

    /// The public share at x: sum_j C_j·x^j. For a small x, Horner's rule (t - 1 short
    /// products, each a few doublings); otherwise one multi-scalar multiplication.
    pub fn evaluate(&self, x: &EvalPoint) -> G2Projective {
        match x.small() {
            Some(k) => {
                let mut acc = G2Projective::identity();
                for c in self.coeffs.iter().rev() {
                    acc = mul_small(&acc, k) + c;
                }
                acc
            }
            None => msm_g2(&self.coeffs, &powers(x.scalar(), self.coeffs.len())),
        }
    }

    /// Cost of `evaluate` at x in group operations, roughly (to choose between batch forms).
    pub(crate) fn evaluate_cost(&self, x: &EvalPoint) -> usize {
        let steps = self.coeffs.len().saturating_sub(1);
        match x.small() {
            Some(k) => steps * (2 * (64 - k.leading_zeros() as usize) + 1),
            None => MSM_POINT_COST * self.coeffs.len(),
        }
    }

    /// Checks share·G2 == evaluate(x).
    pub fn verify_share(&self, share: &Share) -> Result<()> {
        let lhs = share.value.expose(|v| G2Projective::generator() * v.0);
        if lhs == self.evaluate(&share.point) {
            Ok(())
        } else {
            Err(Error::InvalidShare)
        }
    }

    /// Sums commitments coefficient-wise (a DKG's public polynomial is the sum of the dealings').
    pub fn add(&self, other: &Self) -> Result<Self> {
        if self.coeffs.len() != other.coeffs.len() {
            return Err(Error::InvalidThreshold("commitments of different degree"));
        }
        let proj: Vec<G2Projective> = self
            .coeffs
            .iter()
            .zip(&other.coeffs)
            .map(|(a, b)| G2Projective::from(a) + G2Projective::from(b))
            .collect();
        let mut affine = vec![G2Affine::default(); proj.len()];
        G2Projective::batch_normalize(&proj, &mut affine);
        Ok(Self { coeffs: affine })
    }
}

/// 1, x, x^2, ..., x^(n-1).
pub(crate) fn powers(x: &Scalar, n: usize) -> Vec<Scalar> {
    let mut out = Vec::with_capacity(n);
    let mut acc = Scalar::ONE;
    for _ in 0..n {
        out.push(acc);
        acc *= x;
    }
    out
}

/// Rough cost of one point in a small full-width MSM, in group operations.
pub(crate) const MSM_POINT_COST: usize = 300;

/// k·P by double-and-add over the bits of a public small k.
pub(crate) fn mul_small(p: &G2Projective, k: u64) -> G2Projective {
    let mut acc = G2Projective::identity();
    for i in (0..64 - k.leading_zeros()).rev() {
        acc = acc.double();
        if (k >> i) & 1 == 1 {
            acc += p;
        }
    }
    acc
}

/// blst's Pippenger for more than a few points, plain double-and-add below that, where
/// Pippenger's setup costs more than it saves.
pub(crate) fn msm_g2(points: &[G2Affine], scalars: &[Scalar]) -> G2Projective {
    let proj: Vec<G2Projective> = points.iter().map(G2Projective::from).collect();
    msm_g2_projective(&proj, scalars)
}

/// [`msm_g2`] for points already in projective form.
pub(crate) fn msm_g2_projective(points: &[G2Projective], scalars: &[Scalar]) -> G2Projective {
    if points.len() <= 2 {
        return points.iter().zip(scalars).map(|(p, s)| p * s).sum();
    }
    G2Projective::multi_exp(points, scalars)
}

/// Lagrange coefficients at zero for the given distinct, non-zero evaluation points:
/// l_i = prod_{j != i} x_j / (x_j - x_i). One batched inversion for all of them.
pub fn lagrange_at_zero(points: &[EvalPoint]) -> Result<Vec<Scalar>> {
    if points.is_empty() {
        return Err(Error::InvalidThreshold("no points"));
    }
    // l_i = P / (x_i · prod_{j != i} (x_j - x_i)) with P = prod_j x_j: one product per pair and
    // one inversion in all.
    let product: Scalar = points.iter().map(|x| *x.scalar()).product();
    let mut denominators = Vec::with_capacity(points.len());
    for (i, xi) in points.iter().enumerate() {
        let mut den = *xi.scalar();
        for (j, xj) in points.iter().enumerate() {
            if i != j {
                let diff = xj.scalar() - xi.scalar();
                if bool::from(diff.is_zero()) {
                    return Err(Error::InvalidEvaluationPoint("duplicate"));
                }
                den *= diff;
            }
        }
        denominators.push(den);
    }
    batch_invert(&mut denominators)?;
    Ok(denominators.iter().map(|d| product * d).collect())
}

/// Montgomery's trick: one inversion for the whole slice.
fn batch_invert(values: &mut [Scalar]) -> Result<()> {
    let mut prefix = Vec::with_capacity(values.len());
    let mut acc = Scalar::ONE;
    for v in values.iter() {
        prefix.push(acc);
        acc *= v;
    }
    let mut inv: Scalar =
        Option::from(acc.invert()).ok_or(Error::InvalidEvaluationPoint("duplicate"))?;
    for (v, before) in values.iter_mut().zip(prefix).rev() {
        let next = inv * *v;
        *v = inv * before;
        inv = next;
    }
    Ok(())
}
