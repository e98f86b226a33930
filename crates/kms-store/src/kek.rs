//! The key-encryption key and sealing of records.
//!
//! Sealed record: `0x01 || nonce (12) || AES-256-GCM(plaintext) || tag (16)`, with associated data
//! naming what the record is (table, key, version), so a sealed value moved to another place does
//! not open. Nonces are random; with one KEK per data directory the number of seals stays far below
//! the 2^32 bound for random 96-bit nonces.

use crate::{Error, Result};
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use argon2::{Algorithm, Argon2, Params, Version};
use hkdf::Hkdf;
use kms_crypto::Secret;
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use zeroize::Zeroizing;

const SEAL_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// Where the KEK comes from. Both are files: secrets never come from flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KekSource {
    /// A passphrase file; the KEK is Argon2id(passphrase, per-store salt).
    PassphraseFile(std::path::PathBuf),
    /// A file with exactly 32 random bytes, raw or as 64 hex characters.
    KeyFile(std::path::PathBuf),
}

/// The key-encryption key. Memory only.
pub struct Kek {
    key: Secret<[u8; 32]>,
}

impl core::fmt::Debug for Kek {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Kek([REDACTED])")
    }
}

/// Argon2id parameters: 64 MiB, 3 passes, 1 lane (RFC 9106's second recommended option scaled to
/// a small server). Fixed per format version; stored salts are 16 bytes.
fn argon2() -> Result<Argon2<'static>> {
    let params = Params::new(64 * 1024, 3, 1, Some(32))
        .map_err(|_| Error::KekSource("argon2 parameters"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

impl Kek {
    /// Uses 32 key bytes directly.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self {
            key: Secret::new(bytes),
        }
    }

    /// Reads a key file's content: 32 raw bytes, or 64 hex characters (surrounding white space
    /// ignored).
    pub fn from_key_file_content(content: &[u8]) -> Result<Self> {
        if let Ok(raw) = <[u8; 32]>::try_from(content) {
            return Ok(Self::from_bytes(raw));
        }
        let text = core::str::from_utf8(content)
            .map_err(|_| Error::KekSource("key file must hold 32 bytes or 64 hex characters"))?;
        let mut out = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), out.as_mut())
            .map_err(|_| Error::KekSource("key file must hold 32 bytes or 64 hex characters"))?;
        Ok(Self::from_bytes(*out))
    }

    /// Derives the KEK from a passphrase and the store's salt with Argon2id.
    pub fn from_passphrase(passphrase: &[u8], salt: &[u8; 16]) -> Result<Self> {
        if passphrase.is_empty() {
            return Err(Error::KekSource("empty passphrase"));
        }
        let mut out = Zeroizing::new([0u8; 32]);
        argon2()?
            .hash_password_into(passphrase, salt, out.as_mut())
            .map_err(|_| Error::KekSource("argon2 failed"))?;
        Ok(Self::from_bytes(*out))
    }

    /// A sub-key for one purpose (HKDF-SHA256 with the label as info), e.g. the audit log's MAC key.
    pub fn derive(&self, label: &[u8]) -> Secret<[u8; 32]> {
        self.key.expose(|k| {
            let mut out = [0u8; 32];
            // 32 bytes is always a valid HKDF-SHA256 output length.
            let _ = Hkdf::<Sha256>::new(Some(b"KMS_KEK_DERIVE_V1"), k).expand(label, &mut out);
            Secret::new(out)
        })
    }

    fn cipher(&self) -> Result<Aes256Gcm> {
        self.key
            .expose(|k| Aes256Gcm::new_from_slice(k))
            .map_err(|_| Error::KekSource("bad key length"))
    }

    /// Seals a record; `aad` names where it lives.
    pub fn seal(
        &self,
        aad: &[u8],
        plaintext: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let body = self
            .cipher()?
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| Error::KekSource("encryption failed"))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + body.len());
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens a sealed record written with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let (version, rest) = sealed.split_first().ok_or(Error::Tampered)?;
        if *version != SEAL_VERSION || rest.len() < NONCE_LEN + 16 {
            return Err(Error::Tampered);
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| Error::Tampered)?;
        self.cipher()?
            .decrypt((&nonce).into(), Payload { msg: body, aad })
            .map(Zeroizing::new)
            .map_err(|_| Error::Tampered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn rng() -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(1)
    }

    #[test]
    fn seal_open_round_trip_and_binding() {
        let kek = Kek::from_bytes([7u8; 32]);
        let sealed = kek.seal(b"keys/alice/1", b"secret", &mut rng()).unwrap();
        assert_eq!(
            kek.open(b"keys/alice/1", &sealed).unwrap().as_slice(),
            b"secret"
        );
        assert!(matches!(
            kek.open(b"keys/bob/1", &sealed),
            Err(Error::Tampered)
        ));
        assert!(matches!(
            Kek::from_bytes([8u8; 32]).open(b"keys/alice/1", &sealed),
            Err(Error::Tampered)
        ));
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x10;
            assert!(
                kek.open(b"keys/alice/1", &bad).is_err(),
                "flip at {i} accepted"
            );
        }
        assert!(kek.open(b"keys/alice/1", &sealed[..10]).is_err());
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn key_files_accept_raw_or_hex_only() {
        let hex_key = format!("{}\n", "ab".repeat(32));
        let a = Kek::from_key_file_content(hex_key.as_bytes()).unwrap();
        let b = Kek::from_key_file_content(&[0xab; 32]).unwrap();
        let sealed = a.seal(b"x", b"y", &mut rng()).unwrap();
        assert_eq!(b.open(b"x", &sealed).unwrap().as_slice(), b"y");
        assert!(Kek::from_key_file_content(b"short").is_err());
        assert!(Kek::from_key_file_content("zz".repeat(32).as_bytes()).is_err());
    }

    #[test]
    fn passphrases_derive_distinct_keys_per_salt() {
        let a = Kek::from_passphrase(b"pass", &[1; 16]).unwrap();
        let b = Kek::from_passphrase(b"pass", &[2; 16]).unwrap();
        let sealed = a.seal(b"x", b"y", &mut rng()).unwrap();
        assert!(b.open(b"x", &sealed).is_err());
        assert!(Kek::from_passphrase(b"", &[1; 16]).is_err());
        assert_ne!(a.derive(b"audit"), a.derive(b"other"));
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(format!("{:?}", Kek::from_bytes([1; 32])), "Kek([REDACTED])");
    }
}
