//! The primitives both formats share: password → 32-byte derived key (scrypt or PBKDF2), AES-128-CTR
//! under its first half, a MAC or checksum under its second half, and plaintext → secret key.

use super::params::{Kdf, KdfChoice};
use crate::bn254::SecretKey;
use crate::{Error, Result, Secret};
use aes::cipher::{KeyIvInit, StreamCipher};
use ark_ff::{BigInteger, PrimeField};
use sha2::{Digest, Sha256};
use sha3::Keccak256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// Longest plaintext accepted: 32-byte scalars, minimal-length scalars, and crypto-libs' early
/// ASCII-decimal plaintexts (77 digits) all fit.
pub(super) const MAX_PLAINTEXT_LEN: usize = 128;

/// The KDF output: bytes 0..16 are the AES-128 key, bytes 16..32 key the MAC or checksum.
pub(super) struct DerivedKey(Secret<[u8; 32]>);

impl DerivedKey {
    pub(super) fn derive(kdf: &Kdf, password: &[u8]) -> Result<Self> {
        let mut dk = Secret::new([0u8; 32]);
        match kdf.algorithm {
            KdfChoice::Scrypt(p) => {
                // The scrypt crate also requires N < 2^(16·r) (RFC 7914); go-ethereum does not, so
                // a few exotic V3 files (r = 1 with a large N) are refused here.
                let params = scrypt::Params::new(p.log_n(), p.r(), p.p(), 32)
                    .map_err(|_| Error::Keystore("unsupported scrypt parameters"))?;
                dk.expose_mut(|out| scrypt::scrypt(password, &kdf.salt, &params, out))
                    .map_err(|_| Error::Keystore("scrypt failed"))?;
            }
            KdfChoice::Pbkdf2(p) => {
                dk.expose_mut(|out| {
                    pbkdf2::pbkdf2_hmac::<Sha256>(password, &kdf.salt, p.iterations(), out)
                });
            }
        }
        Ok(Self(dk))
    }

    fn halves<R>(&self, f: impl FnOnce(&[u8; 16], &[u8; 16]) -> R) -> Result<R> {
        self.0
            .expose(|dk| match (dk.first_chunk::<16>(), dk.last_chunk::<16>()) {
                (Some(enc), Some(mac)) => Ok(f(enc, mac)),
                _ => Err(Error::Keystore("derived key has the wrong length")),
            })
    }

    /// AES-128-CTR with a 16-byte big-endian counter block starting at `iv` (encrypts or decrypts).
    pub(super) fn apply_ctr(&self, iv: &[u8; 16], data: &mut [u8]) -> Result<()> {
        self.halves(|enc, _| {
            let mut cipher = Aes128Ctr::new(enc.into(), iv.into());
            cipher.apply_keystream(data);
        })
    }

    /// go-ethereum V3 MAC: Keccak-256(dk[16..32] ‖ ciphertext).
    pub(super) fn keccak_mac(&self, ciphertext: &[u8]) -> Result<[u8; 32]> {
        self.halves(|_, mac_key| {
            let mut h = Keccak256::new();
            h.update(mac_key);
            h.update(ciphertext);
            h.finalize().into()
        })
    }

    /// EIP-2335 checksum: SHA-256(dk[16..32] ‖ cipher message).
    pub(super) fn sha256_checksum(&self, ciphertext: &[u8]) -> Result<[u8; 32]> {
        self.halves(|_, mac_key| {
            let mut h = Sha256::new();
            h.update(mac_key);
            h.update(ciphertext);
            h.finalize().into()
        })
    }
}

/// Constant-time comparison of the computed MAC with the file's; a mismatch means a wrong password
/// (or a tampered file, which cannot be told apart).
pub(super) fn check_mac(computed: &[u8; 32], expected: &[u8; 32]) -> Result<()> {
    if bool::from(computed.ct_eq(expected)) {
        Ok(())
    } else {
        Err(Error::WrongPassword)
    }
}

/// Checks a ciphertext's length before any expensive work.
pub(super) fn check_ciphertext_len(ciphertext: &[u8]) -> Result<()> {
    if ciphertext.is_empty() || ciphertext.len() > MAX_PLAINTEXT_LEN {
        Err(Error::Keystore(
            "ciphertext length is not that of a BN254 key",
        ))
    } else {
        Ok(())
    }
}

/// Decrypts `ciphertext` (after the MAC was checked) into a zeroizing buffer.
pub(super) fn decrypt(
    dk: &DerivedKey,
    iv: &[u8; 16],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let mut plaintext = Zeroizing::new(ciphertext.to_vec());
    dk.apply_ctr(iv, &mut plaintext)?;
    Ok(plaintext)
}

/// Reads a plaintext as a big-endian integer of any length and reduces it mod r.
pub(super) fn secret_key_from_plaintext(plaintext: &[u8]) -> Result<SecretKey> {
    check_ciphertext_len(plaintext)?;
    let mut padded = Secret::new([0u8; 32]);
    if plaintext.len() <= 32 {
        padded.expose_mut(|out| {
            for (dst, src) in out.iter_mut().rev().zip(plaintext.iter().rev()) {
                *dst = *src;
            }
        });
    } else {
        let mut scalar = ark_bn254::Fr::from_be_bytes_mod_order(plaintext);
        let mut int = scalar.into_bigint();
        let be = Zeroizing::new(int.to_bytes_be());
        scalar.zeroize();
        int.zeroize();
        padded.expose_mut(|out| {
            for (dst, src) in out.iter_mut().rev().zip(be.iter().rev()) {
                *dst = *src;
            }
        });
    }
    padded.expose(SecretKey::from_be_bytes_reduced)
}

/// Fresh random bytes from the injected RNG.
pub(super) fn random_array<const N: usize>(
    rng: &mut (impl rand_core::RngCore + rand_core::CryptoRng),
) -> [u8; N] {
    let mut out = [0u8; N];
    rng.fill_bytes(&mut out);
    out
}

/// Encrypts the scalar's 32-byte big-endian encoding; returns the ciphertext.
pub(super) fn encrypt_scalar(dk: &DerivedKey, iv: &[u8; 16], sk: &SecretKey) -> Result<Vec<u8>> {
    let mut buf = sk.to_be_bytes();
    buf.expose_mut(|b| dk.apply_ctr(iv, b))?;
    // `buf` now holds ciphertext only; copying it out is safe.
    Ok(buf.expose(|b| b.to_vec()))
}

/// A random (version 4) UUID in its usual text form.
pub(super) fn uuid_v4(rng: &mut (impl rand_core::RngCore + rand_core::CryptoRng)) -> String {
    let mut bytes: [u8; 16] = random_array(rng);
    if let Some(b) = bytes.get_mut(6) {
        *b = (*b & 0x0f) | 0x40;
    }
    if let Some(b) = bytes.get_mut(8) {
        *b = (*b & 0x3f) | 0x80;
    }
    let mut out = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push_str(&hex::encode([*b]));
    }
    out
}
