//! Identity-based encryption to an app id under the master public key (Boneh–Franklin with the
//! MPK in G2 and app keys in G1).
//!
//! Ciphertext: `header (b"KMSIBE" || version 1) || U (96-byte compressed G2) || AES-256-GCM output`.
//! The sender picks r, sends U = r·G2, and derives its key from e(r·H(app_id), MPK); the app, holding
//! s·H(app_id), computes the same value as e(key, U). AES key and nonce come from HKDF-SHA256 over the
//! pairing value, with the header, app id and U as context; the AEAD also authenticates header,
//! app id and U. The key is fresh per ciphertext (r is), so a derived nonce is safe.

use crate::bls::SecretScalar;
use crate::bls::{hash_app_id, AppKey, G2Point};
use crate::{Error, Result};
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use blstrs::{pairing, Compress, G1Projective, G2Projective, Gt, Scalar};
use ff::Field;
use group::{Curve, Group};
use hkdf::Hkdf;
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use zeroize::Zeroizing;

const MAGIC: &[u8; 6] = b"KMSIBE";
const VERSION: u8 = 1;
const HEADER_LEN: usize = 7;
const U_LEN: usize = 96;
const TAG_LEN: usize = 16;
const KDF_SALT: &[u8] = b"KMS_IBE_V1";

/// Bytes of ciphertext overhead over the plaintext.
pub const OVERHEAD: usize = HEADER_LEN + U_LEN + TAG_LEN;

fn header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..6].copy_from_slice(MAGIC);
    h[6] = VERSION;
    h
}

/// Canonical 288-byte encoding of a pairing value (blstrs' torus compression). Only defined for
/// values other than the identity, which callers rule out first.
fn gt_bytes(gt: &Gt) -> Result<Zeroizing<Vec<u8>>> {
    if bool::from(gt.is_identity()) {
        return Err(Error::Ciphertext("degenerate pairing value"));
    }
    let mut out = Zeroizing::new(Vec::with_capacity(288));
    gt.write_compressed(&mut *out)
        .map_err(|_| Error::Ciphertext("degenerate pairing value"))?;
    Ok(out)
}

/// Header, app id (length-prefixed) and U: the context bound into both the KDF and the AEAD.
fn context(header: &[u8], app_id: &[u8], u: &[u8]) -> Vec<u8> {
    let mut ctx = Vec::with_capacity(header.len() + 4 + app_id.len() + u.len());
    ctx.extend_from_slice(header);
    ctx.extend_from_slice(&(app_id.len() as u32).to_be_bytes());
    ctx.extend_from_slice(app_id);
    ctx.extend_from_slice(u);
    ctx
}

fn cipher(shared: &Gt, ctx: &[u8]) -> Result<(Aes256Gcm, [u8; 12])> {
    let ikm = gt_bytes(shared)?;
    let mut okm = Zeroizing::new([0u8; 44]);
    Hkdf::<Sha256>::new(Some(KDF_SALT), &ikm)
        .expand(ctx, okm.as_mut())
        .map_err(|_| Error::Ciphertext("key derivation"))?;
    let (key, nonce) = okm.split_at(32);
    let aead = Aes256Gcm::new_from_slice(key).map_err(|_| Error::Ciphertext("key derivation"))?;
    let nonce: [u8; 12] = nonce
        .try_into()
        .map_err(|_| Error::Ciphertext("key derivation"))?;
    Ok((aead, nonce))
}

/// Encrypts `plaintext` to `app_id` under the master public key.
pub fn encrypt(
    mpk: &G2Point,
    app_id: &[u8],
    plaintext: &[u8],
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Vec<u8>> {
    let r = loop {
        let r = Scalar::random(&mut *rng);
        if !bool::from(r.is_zero()) {
            break Zeroizing::new(SecretScalar(r));
        }
    };
    let u = (G2Projective::generator() * r.0)
        .to_affine()
        .to_compressed();
    let h = G1Projective::from(hash_app_id(app_id).affine());
    let shared = pairing(&(h * r.0).to_affine(), mpk.affine());
    let header = header();
    let ctx = context(&header, app_id, &u);
    let (aead, nonce) = cipher(&shared, &ctx)?;
    let body = aead
        .encrypt(
            (&nonce).into(),
            Payload {
                msg: plaintext,
                aad: &ctx,
            },
        )
        .map_err(|_| Error::Ciphertext("encryption"))?;
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(&u);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decrypts with the app's key. Any change to the ciphertext, a different app id or a wrong key
/// gives an error, never a wrong plaintext.
pub fn decrypt(key: &AppKey, app_id: &[u8], ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    if ciphertext.len() < OVERHEAD {
        return Err(Error::Ciphertext("truncated"));
    }
    let (header, rest) = ciphertext.split_at(HEADER_LEN);
    if header.get(..6) != Some(MAGIC.as_slice()) {
        return Err(Error::Ciphertext("not a KMS IBE ciphertext"));
    }
    if header.get(6) != Some(&VERSION) {
        return Err(Error::Ciphertext("unsupported version"));
    }
    let (u_bytes, body) = rest.split_at(U_LEN);
    let u = G2Point::from_bytes(u_bytes)?;
    let shared = key.0.expose(|k| pairing(&k.0, u.affine()));
    let ctx = context(header, app_id, u_bytes);
    let (aead, nonce) = cipher(&shared, &ctx)?;
    aead.decrypt(
        (&nonce).into(),
        Payload {
            msg: body,
            aad: &ctx,
        },
    )
    .map(Zeroizing::new)
    .map_err(|_| Error::Ciphertext("authentication failed"))
}

#[cfg(test)]
mod tests;
