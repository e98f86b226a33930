//! Fixtures and baselines shared by the bench binaries.
//!
//! Each bench binary compiles this module on its own and uses a different part of it, hence the
//! module-wide `dead_code` allowance.
#![allow(dead_code)]

use std::num::NonZeroU32;
use std::time::Duration;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use blstrs::{Bls12, Compress, G1Affine, G1Projective, G2Affine, G2Prepared, G2Projective, Scalar};
use commonware_codec::{Decode, Encode};
use commonware_cryptography::bls12381::dkg::feldman_desmedt::deal_anonymous;
use commonware_cryptography::bls12381::primitives::group::Share as CwShare;
use commonware_cryptography::bls12381::primitives::ops::threshold;
use commonware_cryptography::bls12381::primitives::sharing::{Mode, ModeVersion, Sharing};
use commonware_cryptography::bls12381::primitives::variant::{
    MinSig, PartialSignature as CwPartial, Variant,
};
use commonware_parallel::Sequential;
use commonware_utils::N3f1;
use criterion::Criterion;
use ff::Field;
use group::{Curve, Group};
use hkdf::Hkdf;
use kms_crypto::bls::{
    self, AppKey, Commitment, EvalPoint, G1Point, G2Point, PartialSignature, Polynomial, Share,
    APP_ID_DST,
};
use pairing::{MillerLoopResult, MultiMillerLoop};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sha2::Sha256;

/// Committee sizes benchmarked; t = threshold_for(n) = floor(2n/3) + 1 gives 3, 11 and 43.
pub const COMMITTEE_SIZES: [usize; 3] = [4, 16, 64];

/// The app id every partial signs and every ciphertext is sent to.
pub const APP_ID: &[u8] = b"app:0x5fbdb2315678afecb367f032d93f642f64180aa3";

/// commonware signs (namespace, message); we use the app id as the message.
pub const NAMESPACE: &[u8] = b"KMS_BENCH";

/// IBE payload sizes: 1 KiB for our own figures, 32 bytes to match commonware's TLE block.
pub const IBE_PAYLOAD: usize = 1024;
pub const TLE_BLOCK: usize = 32;

/// Short runs: the whole suite has to finish in a few minutes on two cores.
pub fn criterion_config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1200))
}

/// A deterministic RNG for our side (rand_core 0.6).
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A synthetic but distinct operator address for participant i.
pub fn operator_address(i: usize) -> [u8; 20] {
    let mut address = [0x11u8; 20];
    address[12..].copy_from_slice(&(i as u64).to_be_bytes());
    address
}

/// Our threshold setup for one committee size: a dealt polynomial, its commitment, every
/// operator's share (evaluation points from addresses) and every operator's partial signature.
pub struct Ours {
    pub n: usize,
    pub t: usize,
    pub poly: Polynomial,
    pub commitment: Commitment,
    pub shares: Vec<Share>,
    pub partials: Vec<PartialSignature>,
    pub h: G1Point,
    pub mpk: G2Point,
    pub app_key: AppKey,
}

impl Ours {
    /// As deployed: evaluation points derived from operator addresses (about 248-bit scalars).
    pub fn new(n: usize) -> Self {
        let points =
            (0..n).map(|i| EvalPoint::from_address(&operator_address(i)).expect("non-zero point"));
        Self::with_points(n, points.collect())
    }

    /// Evaluation points 1..=n, the points commonware's `Mode::NonZeroCounter` uses, for a
    /// like-for-like comparison of the algebra.
    pub fn with_index_points(n: usize) -> Self {
        let points = (1..=n as u64).map(|i| EvalPoint::from_index(i).expect("non-zero point"));
        Self::with_points(n, points.collect())
    }

    fn with_points(n: usize, points: Vec<EvalPoint>) -> Self {
        let t = bls::threshold_for(n);
        let poly = Polynomial::random(t, &mut rng(n as u64)).expect("threshold >= 1");
        let commitment = poly.commit();
        let shares: Vec<Share> = points.iter().map(|x| poly.evaluate(x)).collect();
        let partials = shares
            .iter()
            .map(|s| bls::partial_sign(s, APP_ID))
            .collect();
        let mpk = commitment.public_key();
        let app_key = bls::app_key_from_master(&poly.constant(), APP_ID);
        Self {
            n,
            t,
            poly,
            commitment,
            shares,
            partials,
            h: bls::hash_app_id(APP_ID),
            mpk,
            app_key,
        }
    }

    /// The first t partials: what `recover` interpolates.
    pub fn quorum(&self) -> &[PartialSignature] {
        &self.partials[..self.t]
    }

    pub fn label(&self) -> String {
        format!("n={},t={}", self.n, self.t)
    }
}

/// commonware-cryptography's setup at the same n and t: `deal_anonymous` under the n >= 3f + 1
/// fault model, whose quorum n - (n-1)/3 is our threshold_for(n) (floor(2n/3) + 1) for every n.
pub struct Theirs {
    pub n: usize,
    pub t: usize,
    pub sharing: Sharing<MinSig>,
    encoded_sharing: Vec<u8>,
    pub shares: Vec<CwShare>,
    pub partials: Vec<CwPartial<MinSig>>,
    /// The recovered threshold signature on (NAMESPACE, APP_ID): the TLE decryption key.
    pub signature: <MinSig as Variant>::Signature,
}

impl Theirs {
    pub fn new(n: usize) -> Self {
        let total = NonZeroU32::new(n as u32).expect("n > 0");
        let (sharing, shares) = deal_anonymous::<MinSig, N3f1>(
            commonware_utils::TestRng::new(n as u64),
            Mode::NonZeroCounter,
            total,
        );
        let t = sharing.required() as usize;
        assert_eq!(
            t,
            bls::threshold_for(n),
            "commonware and kms thresholds differ at n={n}"
        );
        let partials: Vec<CwPartial<MinSig>> = shares
            .iter()
            .map(|s| threshold::sign_message::<MinSig>(s, NAMESPACE, APP_ID))
            .collect();
        let signature = threshold::recover::<MinSig, _>(&sharing, &partials[..t], &Sequential)
            .expect("recover");
        let encoded_sharing = sharing.encode().to_vec();
        Self {
            n,
            t,
            sharing,
            encoded_sharing,
            shares,
            partials,
            signature,
        }
    }

    /// The same public polynomial with an empty cache of partial public keys, as a verifier that
    /// has not seen this participant before holds it.
    pub fn cold_sharing(&self) -> Sharing<MinSig> {
        let total = NonZeroU32::new(self.n as u32).expect("n > 0");
        Sharing::decode_cfg(self.encoded_sharing.clone(), &(total, ModeVersion::v0()))
            .expect("decodes")
    }

    /// A sharing whose partial public keys are all cached (commonware's steady state).
    pub fn warm_sharing(&self) -> Sharing<MinSig> {
        let sharing = self.cold_sharing();
        sharing.precompute_partial_publics();
        sharing
    }

    pub fn quorum(&self) -> &[CwPartial<MinSig>] {
        &self.partials[..self.t]
    }
}

// ---------------------------------------------------------------------------------------------
// Raw baselines: the library operations our wrappers are made of, with nothing else.
// ---------------------------------------------------------------------------------------------

/// A share's secret scalar, read out through the public encoding (setup only).
pub fn share_scalar(share: &Share) -> Scalar {
    share
        .value
        .expose(|v| v.to_bytes())
        .expose(|b| Option::from(Scalar::from_bytes_be(b)))
        .expect("canonical")
}

/// An app key as a blstrs point (setup only).
pub fn app_key_affine(key: &AppKey) -> G1Affine {
    key.to_bytes()
        .expose(|b| Option::from(G1Affine::from_compressed(b)))
        .expect("valid key")
}

/// Raw partial signature: RFC 9380 hash_to_curve, one scalar multiplication, normalisation.
pub fn raw_partial_sign(share: &Scalar, app_id: &[u8]) -> G1Affine {
    (G1Projective::hash_to_curve(app_id, APP_ID_DST, &[]) * share).to_affine()
}

/// What a caller of blstrs holds to verify partials: the commitment as projective points and
/// -G2 with its Miller-loop lines computed once.
pub struct RawVerifier {
    pub points: Vec<G2Projective>,
    pub neg_g2: G2Prepared,
}

impl RawVerifier {
    pub fn new(commitment: &Commitment) -> Self {
        Self {
            points: commitment.points().iter().map(G2Projective::from).collect(),
            neg_g2: G2Prepared::from((-G2Projective::generator()).to_affine()),
        }
    }

    /// The public share at x: powers of x and one G2 multi-scalar multiplication.
    pub fn public_share(&self, x: &Scalar) -> G2Affine {
        let mut powers = Vec::with_capacity(self.points.len());
        let mut acc = Scalar::ONE;
        for _ in 0..self.points.len() {
            powers.push(acc);
            acc *= x;
        }
        G2Projective::multi_exp(&self.points, &powers).to_affine()
    }

    /// e(sig, -G2)·e(h, X_i) == 1 as one two-term multi-Miller loop and one final exponentiation.
    pub fn verify(&self, x: &Scalar, sig: &G1Affine, h: &G1Affine) -> bool {
        self.verify_with_share(&self.public_share(x), sig, h)
    }

    /// The pairing check alone, for a public share already computed.
    pub fn verify_with_share(&self, share: &G2Affine, sig: &G1Affine, h: &G1Affine) -> bool {
        let share = G2Prepared::from(*share);
        let ml = Bls12::multi_miller_loop(&[(sig, &self.neg_g2), (h, &share)]);
        bool::from(ml.final_exponentiation().is_identity())
    }
}

const IBE_HEADER: [u8; 7] = *b"KMSIBE\x01";
const IBE_SALT: &[u8] = b"KMS_IBE_V1";

fn ibe_context(app_id: &[u8], u: &[u8]) -> Vec<u8> {
    let mut ctx = Vec::with_capacity(IBE_HEADER.len() + 4 + app_id.len() + u.len());
    ctx.extend_from_slice(&IBE_HEADER);
    ctx.extend_from_slice(&(app_id.len() as u32).to_be_bytes());
    ctx.extend_from_slice(app_id);
    ctx.extend_from_slice(u);
    ctx
}

fn ibe_cipher(shared: blstrs::Gt, ctx: &[u8]) -> (Aes256Gcm, [u8; 12]) {
    let mut ikm = Vec::with_capacity(288);
    shared.write_compressed(&mut ikm).expect("non-degenerate");
    let mut okm = [0u8; 44];
    Hkdf::<Sha256>::new(Some(IBE_SALT), &ikm)
        .expand(ctx, &mut okm)
        .expect("44 bytes");
    let aead = Aes256Gcm::new_from_slice(&okm[..32]).expect("32-byte key");
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&okm[32..]);
    (aead, nonce)
}

/// Raw IBE encryption: the same construction and byte layout as `kms_crypto::ibe::encrypt`, built
/// straight from blstrs, hkdf and aes-gcm, without the wrapper's types, zeroizing or error plumbing.
pub fn raw_ibe_encrypt(
    mpk: &G2Affine,
    app_id: &[u8],
    plaintext: &[u8],
    rng: &mut ChaCha20Rng,
) -> Vec<u8> {
    let r = Scalar::random(&mut *rng);
    let u = (G2Projective::generator() * r).to_affine().to_compressed();
    let rh = (G1Projective::hash_to_curve(app_id, APP_ID_DST, &[]) * r).to_affine();
    let shared = blstrs::pairing(&rh, mpk);
    let ctx = ibe_context(app_id, &u);
    let (aead, nonce) = ibe_cipher(shared, &ctx);
    let body = aead
        .encrypt(
            (&nonce).into(),
            Payload {
                msg: plaintext,
                aad: &ctx,
            },
        )
        .expect("encrypts");
    let mut out = Vec::with_capacity(IBE_HEADER.len() + u.len() + body.len());
    out.extend_from_slice(&IBE_HEADER);
    out.extend_from_slice(&u);
    out.extend_from_slice(&body);
    out
}

/// Raw IBE decryption: header check, checked G2 decompression of U, one pairing, HKDF, AES-GCM.
pub fn raw_ibe_decrypt(key: &G1Affine, app_id: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>> {
    let (header, rest) = ciphertext.split_at(IBE_HEADER.len());
    if header != IBE_HEADER {
        return None;
    }
    let (u_bytes, body) = rest.split_at(96);
    let u_arr: &[u8; 96] = u_bytes.try_into().ok()?;
    let u: G2Affine = Option::from(G2Affine::from_compressed(u_arr))?;
    let shared = blstrs::pairing(key, &u);
    let ctx = ibe_context(app_id, u_bytes);
    let (aead, nonce) = ibe_cipher(shared, &ctx);
    aead.decrypt(
        (&nonce).into(),
        Payload {
            msg: body,
            aad: &ctx,
        },
    )
    .ok()
}

fn fq_be(v: &ark_bn254::Fq) -> [u8; 32] {
    use ark_ff::{BigInteger, PrimeField};
    v.into_bigint().to_bytes_be().try_into().expect("32 bytes")
}

/// Raw EigenLayer `BLSSignatureChecker` verification in arkworks: gamma = keccak(msgHash, apk,
/// apkG2, sigma) mod r, then e(sigma + gamma·apk, -G2)·e(H(m) + gamma·G1, apkG2) == 1, with -G2
/// computed once. H(m) is taken as given (BN254.sol's try-and-increment is our own code, timed on
/// its own as bn254/hash_to_g1).
pub fn raw_bn254_verify(
    digest: &[u8; 32],
    h: &ark_bn254::G1Affine,
    sig: &ark_bn254::G1Affine,
    pk_g1: &ark_bn254::G1Affine,
    pk_g2: &ark_bn254::G2Affine,
    neg_g2: &ark_bn254::G2Affine,
) -> bool {
    use ark_ec::pairing::Pairing;
    use ark_ec::{AffineRepr, PrimeGroup};
    use ark_ff::{PrimeField, Zero};
    use sha3::{Digest, Keccak256};
    let (px, py) = pk_g1.xy().expect("not identity");
    let (qx, qy) = pk_g2.xy().expect("not identity");
    let (sx, sy) = sig.xy().expect("not identity");
    let mut k = Keccak256::new();
    k.update(digest);
    for limb in [px, py, qx.c1, qx.c0, qy.c1, qy.c0, sx, sy] {
        k.update(fq_be(&limb));
    }
    let gamma = ark_bn254::Fr::from_be_bytes_mod_order(&k.finalize());
    let lhs = sig.into_group() + *pk_g1 * gamma;
    let rhs = h.into_group() + ark_bn254::G1Projective::generator() * gamma;
    ark_bn254::Bn254::multi_pairing([lhs, rhs], [*neg_g2, *pk_g2]).is_zero()
}

/// The plaintext used for IBE benches.
pub fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| i as u8).collect()
}
