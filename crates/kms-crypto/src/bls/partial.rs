//! Partial signatures on H(app_id), their verification (one by one and batched), and recovery of
//! the app key from any t of them.

use super::point::{G1Point, G2Point, SecretScalar};
use super::poly::{lagrange_at_zero, msm_g2, powers, Commitment, EvalPoint, Share};
use crate::{Error, Result, Secret};
use blstrs::{Bls12, G1Affine, G1Projective, G2Affine, G2Prepared, G2Projective, Gt, Scalar};
use ff::Field;
use group::{Curve, Group};
use pairing::{MillerLoopResult, MultiMillerLoop};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use zeroize::DefaultIsZeroes;

/// Domain separation tag for H(app_id), in RFC 9380 form; changing it is a wire break.
pub const APP_ID_DST: &[u8] = b"KMS_APP_KEY_V1_BLS12381G1_XMD:SHA-256_SSWU_RO_";

/// RFC 9380 hash_to_curve into G1 (BLS12381G1_XMD:SHA-256_SSWU_RO_) under a given DST.
pub fn hash_to_g1(msg: &[u8], dst: &[u8]) -> G1Point {
    G1Point(G1Projective::hash_to_curve(msg, dst, &[]).to_affine())
}

/// H(app_id) with [`APP_ID_DST`].
pub fn hash_app_id(app_id: &[u8]) -> G1Point {
    hash_to_g1(app_id, APP_ID_DST)
}

/// σ_i = x_i·H(app_id), tagged with the signer's evaluation point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartialSignature {
    /// The signer's evaluation point x_i.
    pub point: EvalPoint,
    /// σ_i = x_i·H(app_id).
    pub signature: G1Point,
}

/// An application's key: s·H(app_id) for the master secret s. It decrypts everything sent to
/// the app id, so it is a secret.
pub struct AppKey(pub(crate) Secret<SecretG1>);

#[derive(Clone, Copy, Default)]
pub(crate) struct SecretG1(pub(crate) G1Affine);
impl DefaultIsZeroes for SecretG1 {}

impl core::fmt::Debug for AppKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AppKey([REDACTED])")
    }
}

impl AppKey {
    /// The 48-byte compressed encoding (for callers that must persist it).
    pub fn to_bytes(&self) -> Secret<[u8; 48]> {
        self.0.expose(|k| Secret::new(k.0.to_compressed()))
    }

    /// Decodes and checks a key against the master public key.
    pub fn from_bytes(bytes: &[u8], app_id: &[u8], mpk: &G2Point) -> Result<Self> {
        let point = G1Point::from_bytes(bytes)?;
        check_against_mpk(&point, &hash_app_id(app_id), mpk)?;
        Ok(Self(Secret::new(SecretG1(point.0))))
    }
}

/// Computes this participant's partial signature on `app_id`.
pub fn partial_sign(share: &Share, app_id: &[u8]) -> PartialSignature {
    let h = G1Projective::hash_to_curve(app_id, APP_ID_DST, &[]);
    let sig = share.value.expose(|v| (h * v.0).to_affine());
    PartialSignature {
        point: share.point,
        signature: G1Point(sig),
    }
}

/// -G2, prepared once: the Miller-loop precomputation costs as much as a G2 multiplication.
fn neg_g2() -> &'static G2Prepared {
    static NEG_G2: OnceLock<G2Prepared> = OnceLock::new();
    NEG_G2.get_or_init(|| G2Prepared::from((-G2Projective::generator()).to_affine()))
}

/// e(a, -G2)·e(b, q) == 1, i.e. e(a, G2) == e(b, q).
fn pairing_eq(a: &G1Affine, b: &G1Affine, q: &G2Affine) -> bool {
    pairing_eq_prepared(a, b, &G2Prepared::from(*q))
}

fn pairing_eq_prepared(a: &G1Affine, b: &G1Affine, q: &G2Prepared) -> bool {
    let ml = Bls12::multi_miller_loop(&[(a, neg_g2()), (b, q)]);
    bool::from(Gt::is_identity(&ml.final_exponentiation()))
}

/// Public shares of a commitment at known evaluation points, computed once (per epoch) so that
/// checking a partial costs two pairings and no commitment evaluation.
pub struct PublicShares {
    shares: Vec<(EvalPoint, G2Prepared)>,
}

impl PublicShares {
    /// Evaluates the commitment at every point and prepares the results for pairing.
    pub fn new(commitment: &Commitment, points: &[EvalPoint]) -> Self {
        let shares = points
            .iter()
            .map(|x| (*x, G2Prepared::from(commitment.evaluate(x).to_affine())))
            .collect();
        Self { shares }
    }

    /// Verifies one partial from a participant whose share is known.
    pub fn verify(&self, partial: &PartialSignature, h: &G1Point) -> Result<()> {
        let (_, share) = self
            .shares
            .iter()
            .find(|(x, _)| *x == partial.point)
            .ok_or(Error::InvalidEvaluationPoint("not a participant"))?;
        if pairing_eq_prepared(&partial.signature.0, &h.0, share) {
            Ok(())
        } else {
            Err(Error::InvalidSignature)
        }
    }
}

/// Verifies one partial: e(σ_i, G2) == e(H(app_id), X_i) with X_i the commitment at x_i.
pub fn verify_partial(
    commitment: &Commitment,
    partial: &PartialSignature,
    h: &G1Point,
) -> Result<()> {
    let public_share = commitment.evaluate(&partial.point).to_affine();
    if pairing_eq(&partial.signature.0, &h.0, &public_share) {
        Ok(())
    } else {
        Err(Error::InvalidSignature)
    }
}

/// 128-bit coefficients derived from the whole batch (Fiat–Shamir), so batch verification needs no
/// RNG and a forger cannot choose partials that cancel out.
fn batch_coefficients(
    commitment: &Commitment,
    partials: &[PartialSignature],
    h: &G1Point,
    key: Option<&G1Point>,
) -> Vec<Scalar> {
    let tag: &[u8] = match key {
        None => b"KMS_BATCH_VERIFY_V1",
        Some(_) => b"KMS_BATCH_VERIFY_KEY_V1",
    };
    let mut hasher = Sha256::new().chain_update(tag).chain_update(h.to_bytes());
    hasher.update(commitment.to_bytes());
    for p in partials {
        hasher.update(p.point.to_bytes());
        hasher.update(p.signature.to_bytes());
    }
    if let Some(k) = key {
        hasher.update(k.to_bytes());
    }
    let seed = hasher.finalize();
    (0..(partials.len() + usize::from(key.is_some())) as u64)
        .map(|i| {
            let d = Sha256::new()
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
        })
        .collect()
}

/// Verifies many partials with two pairings: with coefficients c_i,
/// e(Σ c_i·σ_i, G2) == e(H, Σ_j C_j·(Σ_i c_i·x_i^j)). Succeeds only if (with overwhelming
/// probability) every partial is valid; use [`find_invalid_partials`] to name the culprits.
pub fn batch_verify_partials(
    commitment: &Commitment,
    partials: &[PartialSignature],
    h: &G1Point,
) -> Result<()> {
    if partials.is_empty() || batch_check(commitment, partials, h, None) {
        Ok(())
    } else {
        Err(Error::InvalidSignature)
    }
}

/// The batch check of [`batch_verify_partials`], optionally with a recovered key as one more
/// term: the key is the "partial at 0", whose public share is the commitment's constant term
/// (the MPK), so one pairing product checks the partials and the key together.
fn batch_check(
    commitment: &Commitment,
    partials: &[PartialSignature],
    h: &G1Point,
    key: Option<&G1Point>,
) -> bool {
    let cs = batch_coefficients(commitment, partials, h, key);
    let t = commitment.threshold();
    let mut weights = vec![Scalar::ZERO; t];
    for (p, c) in partials.iter().zip(&cs) {
        for (w, xp) in weights.iter_mut().zip(powers(p.point.scalar(), t)) {
            *w += xp * c;
        }
    }
    let mut sigs: Vec<G1Projective> = partials
        .iter()
        .map(|p| G1Projective::from(p.signature.0))
        .collect();
    if let (Some(k), Some(c), Some(w0)) = (key, cs.get(partials.len()), weights.first_mut()) {
        *w0 += c;
        sigs.push(G1Projective::from(k.0));
    }
    let combined_share = msm_g2(commitment.points(), &weights).to_affine();
    let combined_sig = G1Projective::multi_exp(&sigs, &cs).to_affine();
    pairing_eq(&combined_sig, &h.0, &combined_share)
}

/// The common case in one pairing product: recovers the key from the first t partials and
/// checks it against the MPK together with every partial. None when anything fails (a bad
/// partial, too few, repeated points); the caller then looks for the culprits.
pub(crate) fn recover_if_all_valid(
    commitment: &Commitment,
    app_id: &[u8],
    partials: &[PartialSignature],
) -> Option<AppKey> {
    let h = hash_app_id(app_id);
    let key = recover(commitment.threshold(), partials).ok()?;
    batch_check(commitment, partials, &h, Some(&key)).then(|| AppKey(Secret::new(SecretG1(key.0))))
}

/// Positions of the partials that do not verify (batch first, one by one only on failure).
pub fn find_invalid_partials(
    commitment: &Commitment,
    partials: &[PartialSignature],
    h: &G1Point,
) -> Vec<usize> {
    if batch_verify_partials(commitment, partials, h).is_ok() {
        return Vec::new();
    }
    partials
        .iter()
        .enumerate()
        .filter(|(_, p)| verify_partial(commitment, p, h).is_err())
        .map(|(i, _)| i)
        .collect()
}

/// Lagrange interpolation at zero over exactly `threshold` partials with distinct points.
/// Unverified: a bad partial gives a wrong key. Prefer [`recover_verified`].
pub fn recover(threshold: usize, partials: &[PartialSignature]) -> Result<G1Point> {
    if threshold == 0 {
        return Err(Error::InvalidThreshold("threshold must be at least 1"));
    }
    let chosen = partials
        .get(..threshold)
        .ok_or(Error::InvalidThreshold("fewer partials than the threshold"))?;
    let points: Vec<EvalPoint> = chosen.iter().map(|p| p.point).collect();
    let lambdas = lagrange_at_zero(&points)?;
    let sigs: Vec<G1Projective> = chosen
        .iter()
        .map(|p| G1Projective::from(p.signature.0))
        .collect();
    let sum = if sigs.len() <= 2 {
        sigs.iter().zip(&lambdas).map(|(s, l)| s * l).sum()
    } else {
        G1Projective::multi_exp(&sigs, &lambdas)
    };
    if bool::from(sum.is_identity()) {
        return Err(Error::RecoveryMismatch);
    }
    Ok(G1Point(sum.to_affine()))
}

fn check_against_mpk(key: &G1Point, h: &G1Point, mpk: &G2Point) -> Result<()> {
    if pairing_eq(&key.0, &h.0, &mpk.0) {
        Ok(())
    } else {
        Err(Error::RecoveryMismatch)
    }
}

/// The client's path, with the culprits named even when too few partials are left: one pairing
/// product for the common case (every partial valid), else the partials one by one, then
/// recovery from the first t valid ones, checked against the MPK. Returns the positions of the
/// partials that do not verify, and the key or why there is none (fewer than t valid ones).
pub fn check_and_recover(
    commitment: &Commitment,
    app_id: &[u8],
    partials: &[PartialSignature],
) -> (Vec<usize>, Result<AppKey>) {
    if let Some(key) = recover_if_all_valid(commitment, app_id, partials) {
        return (Vec::new(), Ok(key));
    }
    let h = hash_app_id(app_id);
    let bad = find_invalid_partials(commitment, partials, &h);
    let good: Vec<PartialSignature> = partials
        .iter()
        .enumerate()
        .filter(|(i, _)| !bad.contains(i))
        .map(|(_, p)| *p)
        .collect();
    let key = recover(commitment.threshold(), &good).and_then(|key| {
        check_against_mpk(&key, &h, &commitment.public_key())?;
        Ok(AppKey(Secret::new(SecretG1(key.0))))
    });
    (bad, key)
}

/// [`check_and_recover`] as one result: the key and the positions of the partials that were
/// rejected, or why there is no key.
pub fn recover_verified(
    commitment: &Commitment,
    app_id: &[u8],
    partials: &[PartialSignature],
) -> Result<(AppKey, Vec<usize>)> {
    let (bad, key) = check_and_recover(commitment, app_id, partials);
    key.map(|key| (key, bad))
}

/// The app key computed directly from the master secret (tests and single-party tools only).
pub fn app_key_from_master(master: &Secret<SecretScalar>, app_id: &[u8]) -> AppKey {
    let h = G1Projective::hash_to_curve(app_id, APP_ID_DST, &[]);
    AppKey(Secret::new(SecretG1(
        master.expose(|s| (h * s.0).to_affine()),
    )))
}
