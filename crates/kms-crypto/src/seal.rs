//! Sealing a short secret to a recipient's X25519 key: ECIES with X25519, HKDF-SHA256 and
//! AES-256-GCM. Each seal uses its own ephemeral key, supplied by the caller (derived from a
//! persisted seed in the protocol), so sealing is deterministic and a sender can later prove what a
//! ciphertext held by revealing that one ephemeral secret.

use crate::{Error, Result, Secret};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use x25519_dalek::{x25519, PublicKey, StaticSecret};

/// HKDF salt; changing it is a wire break.
const SEAL_TAG: &[u8] = b"KMS_SEAL_V1";
/// AES-GCM tag length.
const TAG_LEN: usize = 16;

/// A recipient's X25519 secret key, with its public key computed once.
pub struct EncryptionKey {
    secret: Secret<[u8; 32]>,
    public: EncryptionPublicKey,
}

/// k·B with the precomputed base-point table: several times faster than the ladder, same result.
fn base_mul(k: &[u8; 32]) -> [u8; 32] {
    PublicKey::from(&StaticSecret::from(*k)).to_bytes()
}

impl core::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("EncryptionKey(<redacted>)")
    }
}

impl EncryptionKey {
    /// A fresh key from the injected RNG.
    pub fn random(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        let key = Self::from_array(bytes);
        zeroize::Zeroize::zeroize(&mut bytes);
        key
    }

    /// From 32 raw bytes (clamped on use, as X25519 specifies).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut arr: [u8; 32] = bytes.try_into().map_err(|_| Error::WrongLength {
            what: "x25519 secret key",
            expected: 32,
            got: bytes.len(),
        })?;
        let key = Self::from_array(arr);
        zeroize::Zeroize::zeroize(&mut arr);
        Ok(key)
    }

    fn from_array(bytes: [u8; 32]) -> Self {
        Self {
            public: EncryptionPublicKey(base_mul(&bytes)),
            secret: Secret::new(bytes),
        }
    }

    /// The raw bytes, still wrapped.
    pub fn to_bytes(&self) -> Secret<[u8; 32]> {
        self.secret.duplicate()
    }

    /// The public key.
    pub fn public(&self) -> EncryptionPublicKey {
        self.public
    }

    /// Opens a sealed box addressed to this key.
    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Secret<Vec<u8>>> {
        let shared = self
            .secret
            .expose(|k| shared_secret(k, &sealed.ephemeral))?;
        decrypt(&shared, &sealed.ephemeral, &self.public, sealed, aad)
    }
}

/// A recipient's X25519 public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EncryptionPublicKey([u8; 32]);

impl EncryptionPublicKey {
    /// Decodes 32 bytes; keys of small order (whose shared secrets would be all zero) are refused.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| Error::WrongLength {
            what: "x25519 public key",
            expected: 32,
            got: bytes.len(),
        })?;
        // A small-order point gives the same output for every scalar; test with a fixed one.
        let mut probe = [0u8; 32];
        probe[0] = 1;
        if x25519(probe, arr) == [0u8; 32] {
            return Err(Error::Seal("small-order public key"));
        }
        Ok(Self(arr))
    }

    /// The 32-byte encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }
}

/// A sealed secret: the ephemeral public key and the AES-GCM ciphertext with its tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// The sender's ephemeral X25519 public key for this seal.
    pub ephemeral: EncryptionPublicKey,
    /// The AES-256-GCM ciphertext followed by its 16-byte tag.
    pub ciphertext: Vec<u8>,
}

impl Sealed {
    /// `ephemeral || ciphertext`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.ciphertext.len());
        out.extend_from_slice(&self.ephemeral.0);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Decodes `ephemeral || ciphertext`; the ciphertext must at least hold the tag. The ephemeral
    /// key is not checked here: a small-order one gives an all-zero shared secret, which opening
    /// refuses, and skipping the check keeps decoding a log of n sealed shares cheap.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < 32 + TAG_LEN {
            return Err(Error::WrongLength {
                what: "sealed box",
                expected: 32 + TAG_LEN,
                got: bytes.len(),
            });
        }
        let (eph, ct) = bytes.split_at(32);
        let mut ephemeral = [0u8; 32];
        ephemeral.copy_from_slice(eph);
        Ok(Self {
            ephemeral: EncryptionPublicKey(ephemeral),
            ciphertext: ct.to_vec(),
        })
    }
}

/// Seals `plaintext` to `recipient` with the given ephemeral secret and associated data.
pub fn seal(
    recipient: &EncryptionPublicKey,
    plaintext: &[u8],
    aad: &[u8],
    ephemeral_secret: &Secret<[u8; 32]>,
) -> Result<Sealed> {
    // A clamped scalar times the base point is never of small order: no probe needed.
    let ephemeral = EncryptionPublicKey(ephemeral_secret.expose(base_mul));
    let shared = ephemeral_secret.expose(|k| shared_secret(k, recipient))?;
    let cipher = cipher(&shared, &ephemeral, recipient)?;
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&[0u8; 12]),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| Error::Seal("encryption failed"))?;
    Ok(Sealed {
        ephemeral,
        ciphertext,
    })
}

/// Opens a sealed box with the *ephemeral* secret the sender used, which anyone can do once the
/// sender reveals it. Fails if the secret does not match the box's ephemeral key.
pub fn open_with_ephemeral(
    ephemeral_secret: &Secret<[u8; 32]>,
    recipient: &EncryptionPublicKey,
    sealed: &Sealed,
    aad: &[u8],
) -> Result<Secret<Vec<u8>>> {
    let ephemeral = ephemeral_secret.expose(base_mul);
    if ephemeral != sealed.ephemeral.0 {
        return Err(Error::Seal(
            "ephemeral secret does not match the sealed box",
        ));
    }
    let shared = ephemeral_secret.expose(|k| shared_secret(k, recipient))?;
    decrypt(&shared, &sealed.ephemeral, recipient, sealed, aad)
}

fn shared_secret(secret: &[u8; 32], public: &EncryptionPublicKey) -> Result<Secret<[u8; 32]>> {
    let shared = Secret::new(x25519(*secret, public.0));
    if shared.expose(|s| s == &[0u8; 32]) {
        return Err(Error::Seal("non-contributory key exchange"));
    }
    Ok(shared)
}

/// HKDF-SHA256(salt = tag, ikm = shared, info = ephemeral || recipient) -> AES-256 key. The key is
/// unique per ephemeral key, so the fixed nonce is never reused under one key.
fn cipher(
    shared: &Secret<[u8; 32]>,
    ephemeral: &EncryptionPublicKey,
    recipient: &EncryptionPublicKey,
) -> Result<Aes256Gcm> {
    let mut key = Secret::new([0u8; 32]);
    shared.expose(|ikm| {
        key.expose_mut(|okm| {
            Hkdf::<Sha256>::new(Some(SEAL_TAG), ikm)
                .expand_multi_info(&[&ephemeral.0, &recipient.0], okm)
                .map_err(|_| Error::Seal("hkdf"))
        })
    })?;
    key.expose(|k| Aes256Gcm::new_from_slice(k).map_err(|_| Error::Seal("aes key")))
}

fn decrypt(
    shared: &Secret<[u8; 32]>,
    ephemeral: &EncryptionPublicKey,
    recipient: &EncryptionPublicKey,
    sealed: &Sealed,
    aad: &[u8],
) -> Result<Secret<Vec<u8>>> {
    let cipher = cipher(shared, ephemeral, recipient)?;
    cipher
        .decrypt(
            Nonce::from_slice(&[0u8; 12]),
            Payload {
                msg: &sealed.ciphertext,
                aad,
            },
        )
        .map(Secret::new)
        .map_err(|_| Error::Seal("authentication failed"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn eph(rng: &mut ChaCha20Rng) -> Secret<[u8; 32]> {
        let mut b = [0u8; 32];
        rng.fill_bytes(&mut b);
        Secret::new(b)
    }

    #[test]
    fn round_trip_and_binding() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let alice = EncryptionKey::random(&mut rng);
        let bob = EncryptionKey::random(&mut rng);
        let e = eph(&mut rng);
        let sealed = seal(&alice.public(), b"share", b"aad", &e).unwrap();
        assert_eq!(
            alice.open(&sealed, b"aad").unwrap().expose(|p| p.clone()),
            b"share"
        );
        // Wrong AAD, wrong recipient, flipped bit: all refused.
        assert!(alice.open(&sealed, b"aaD").is_err());
        assert!(bob.open(&sealed, b"aad").is_err());
        let mut bad = sealed.clone();
        bad.ciphertext[0] ^= 1;
        assert!(alice.open(&bad, b"aad").is_err());
        // Deterministic given the ephemeral secret; the sender can reopen with it.
        assert_eq!(seal(&alice.public(), b"share", b"aad", &e).unwrap(), sealed);
        let reopened = open_with_ephemeral(&e, &alice.public(), &sealed, b"aad").unwrap();
        assert_eq!(reopened.expose(|p| p.clone()), b"share");
        assert!(open_with_ephemeral(&eph(&mut rng), &alice.public(), &sealed, b"aad").is_err());
        // A small-order ephemeral key decodes but never opens.
        let mut low = sealed.to_bytes();
        low[..32].copy_from_slice(&[0u8; 32]);
        assert!(alice
            .open(&Sealed::from_bytes(&low).unwrap(), b"aad")
            .is_err());
        // Codec round trip; truncation refused.
        assert_eq!(Sealed::from_bytes(&sealed.to_bytes()).unwrap(), sealed);
        assert!(Sealed::from_bytes(&sealed.to_bytes()[..40]).is_err());
    }

    #[test]
    fn small_order_keys_are_refused() {
        assert!(EncryptionPublicKey::from_bytes(&[0u8; 32]).is_err());
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(EncryptionPublicKey::from_bytes(&one).is_err());
        assert!(EncryptionPublicKey::from_bytes(&[9u8; 31]).is_err());
        assert!(EncryptionPublicKey::from_bytes(&x25519_dalek::X25519_BASEPOINT_BYTES).is_ok());
    }

    #[test]
    fn table_base_mul_matches_the_ladder() {
        let mut rng = ChaCha20Rng::seed_from_u64(77);
        for _ in 0..16 {
            let mut k = [0u8; 32];
            rng.fill_bytes(&mut k);
            assert_eq!(
                base_mul(&k),
                x25519(k, x25519_dalek::X25519_BASEPOINT_BYTES)
            );
        }
    }
}
