//! Password-encrypted BN254 keystores, as EigenLayer's tools write them. Pure functions over JSON
//! text: no file access, no global RNG (writers take an injected RNG).
//!
//! Three on-disk formats are read, all holding a BN254 BLS secret key:
//!
//! * **eigensdk / eigenlayer-cli** ([`KeystoreFormat::EigenV3`]): `{"pubKey": "E([x,y])",
//!   "crypto": {...}}` where `crypto` is go-ethereum's Web3 Secret Storage (V3) crypto section
//!   (scrypt, AES-128-CTR, Keccak-256 MAC over `dk[16..32] ‖ ciphertext`), and `pubKey` is the G1
//!   public key as gnark prints it (decimal affine coordinates). The plaintext is the 32-byte
//!   big-endian scalar. The password is used as raw bytes, exactly as go-ethereum does.
//! * **EIP-2335 layout, Layr-Labs crypto-libs** ([`KeystoreFormat::Eip2335`]): `{"crypto":
//!   {"kdf", "checksum", "cipher"}, "pubkey", "path", "uuid", "version": 4, "curveType": "bn254"}`
//!   with scrypt or PBKDF2-HMAC-SHA256, a SHA-256 checksum and AES-128-CTR. `pubkey` is the hex of
//!   the 128-byte uncompressed G2 public key in gnark's `Marshal` order (`x.c1 ‖ x.c0 ‖ y.c1 ‖
//!   y.c0`, big-endian), which is also the Solidity/EIP-197 order. The password is processed per
//!   EIP-2335: NFKD, then C0, C1 and DEL control codes removed. The same layout as Layr-Labs'
//!   bn254-keystore-go writes it for cerberus is read too: `"curve": "bn254"`, a `version` of any
//!   value (it writes 0; the field must be there), and `pubkey` the hex of gnark's 32-byte
//!   compressed G1 point (accepted in the legacy layout's `publicKey` too, always checked against
//!   the decrypted key).
//! * **crypto-libs legacy** ([`KeystoreFormat::CryptoLibsLegacy`]): `{"publicKey": <hex G2 as
//!   above>, "crypto": <V3 crypto section>, "uuid", "version": 4, "curveType": "bn254"}`; the
//!   password is used as raw bytes.
//!
//! Ethereum account (secp256k1) key files in go-ethereum's V3 format are read too
//! ([`decrypt_eth_keystore`]), for the EOA keys that authenticate requests to the services.
//!
//! In every BN254 format the decrypted plaintext is read as a big-endian integer of any length (1 to
//! 128 bytes) and reduced modulo the group order r, which is what gnark's `fr.Element.SetBytes`
//! (eigensdk) and `big.Int.SetBytes` followed by scalar multiplication (crypto-libs) do. That
//! covers crypto-libs' minimal-length `big.Int.Bytes()` plaintexts and its early keystores whose
//! plaintext is the ASCII decimal text of the key (the scalar is then those ASCII bytes read as an
//! integer, as crypto-libs computes it).
//!
//! Every decryption checks the MAC or checksum in constant time first (a mismatch is
//! [`Error::WrongPassword`](crate::Error::WrongPassword), never a wrong key), then checks that the
//! decrypted key's public key equals the one the file declares
//! ([`Error::KeystorePubkeyMismatch`](crate::Error::KeystorePubkeyMismatch)). A file whose public
//! key is missing or in an encoding this module cannot check is rejected. KDF parameters are taken
//! from the file but bounded (see [`ScryptParams::new`] and [`Pbkdf2Params::new`]) so a hostile
//! file cannot make decryption take gigabytes or minutes.
//!
//! Derived keys and plaintexts live in [`Secret`](crate::Secret) or `Zeroizing` buffers and are
//! never formatted. Not covered: the scrypt and PBKDF2 crates' internal working buffers and the
//! Unicode normalizer's internal buffers are not zeroized by those crates.

mod crypto;
mod eip2335;
mod json;
mod params;
mod pubkey;
mod v3;

pub use params::{KdfChoice, Pbkdf2Params, ScryptParams};

use crate::bn254::SecretKey;
use crate::{Error, Result};
use rand_core::{CryptoRng, RngCore};

/// The keystore layouts this module reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeystoreFormat {
    /// eigensdk-go / eigenlayer-cli: `pubKey` ("E([x,y])") plus a go-ethereum V3 crypto section.
    EigenV3,
    /// EIP-2335 module layout as written by Layr-Labs crypto-libs (`curveType: "bn254"`).
    Eip2335,
    /// crypto-libs' legacy layout: `publicKey` (hex G2) plus a go-ethereum V3 crypto section.
    CryptoLibsLegacy,
}

/// Decrypts an eigensdk / eigenlayer-cli BN254 keystore (`*.bls.key.json`).
///
/// `password` is used byte for byte (no Unicode normalization), as eigensdk does. Errors:
/// [`Error::WrongPassword`](crate::Error::WrongPassword) on a MAC mismatch,
/// [`Error::KeystorePubkeyMismatch`](crate::Error::KeystorePubkeyMismatch) if the key does not
/// match `pubKey`, [`Error::Keystore`](crate::Error::Keystore) for anything malformed or
/// unsupported.
pub fn decrypt_eigen_keystore(json: &str, password: &[u8]) -> Result<SecretKey> {
    let obj = json::parse_object(json)?;
    v3::decrypt_eigen(&obj, password)
}

/// Encrypts `sk` as an eigensdk / eigenlayer-cli keystore: compact JSON with the same fields,
/// field order and encodings as eigensdk's `KeyPair.EncryptedString` (scrypt with `params`,
/// 32-byte salt and 16-byte IV from `rng`).
pub fn encrypt_eigen_keystore(
    sk: &SecretKey,
    password: &[u8],
    params: ScryptParams,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<String> {
    v3::encrypt_eigen(sk, password, params, rng)
}

/// Decrypts an EIP-2335-layout BN254 keystore as written by Layr-Labs crypto-libs.
///
/// The password is NFKD-normalized and stripped of control codes (EIP-2335), so composed and
/// decomposed spellings of the same text are equivalent. `curveType`, if present, must be
/// `bn254`; `version` must be 4; `pubkey` must be the hex of the uncompressed G2 public key
/// (crypto-libs' encoding) or of the uncompressed G1 public key (`x ‖ y`), and must match.
pub fn decrypt_eip2335_keystore(json: &str, password: &str) -> Result<SecretKey> {
    let obj = json::parse_object(json)?;
    eip2335::decrypt(&obj, password)
}

/// Encrypts `sk` in crypto-libs' EIP-2335 layout (pretty-printed like crypto-libs' output):
/// `pubkey` is the hex G2 public key, `path` is `m/1/0/0`, `curveType` is `bn254`, `uuid` is a
/// random version-4 UUID, and the plaintext is the 32-byte big-endian scalar.
pub fn encrypt_eip2335_keystore(
    sk: &SecretKey,
    password: &str,
    kdf: KdfChoice,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<String> {
    eip2335::encrypt(sk, password, kdf, rng)
}

/// Decrypts a go-ethereum account key file (Web3 Secret Storage V3, as geth, clef, `cast wallet`
/// and eth-account write it) into the 32-byte secp256k1 secret key, e.g. for
/// [`EoaKey::from_bytes`](crate::auth::EoaKey::from_bytes).
///
/// `password` is used byte for byte, as go-ethereum does. The file must have `version` 3 and a
/// 32-byte ciphertext; scrypt and PBKDF2-HMAC-SHA256 are read, with the same bounds as for BN254
/// files. If the file declares an `address`, the key must match it
/// ([`Error::KeystorePubkeyMismatch`](crate::Error::KeystorePubkeyMismatch) otherwise). A wrong
/// password is [`Error::WrongPassword`](crate::Error::WrongPassword).
pub fn decrypt_eth_keystore(json: &str, password: &[u8]) -> Result<crate::Secret<[u8; 32]>> {
    v3::decrypt_secp256k1(json::parse_object(json)?, password)
}

/// Tells which layout a keystore uses, without decrypting it.
pub fn detect_format(json: &str) -> Result<KeystoreFormat> {
    let obj = json::parse_object(json)?;
    detect(&obj)
}

/// Detects the layout and decrypts. For the two V3-based layouts the password's UTF-8 bytes are
/// used as they are (as go-ethereum does); for EIP-2335 it is normalized as EIP-2335 requires.
pub fn decrypt_any(json: &str, password: &str) -> Result<SecretKey> {
    let obj = json::parse_object(json)?;
    match detect(&obj)? {
        KeystoreFormat::EigenV3 => v3::decrypt_eigen(&obj, password.as_bytes()),
        KeystoreFormat::Eip2335 => eip2335::decrypt(&obj, password),
        KeystoreFormat::CryptoLibsLegacy => v3::decrypt_legacy(&obj, password.as_bytes()),
    }
}

fn detect(obj: &json::Object) -> Result<KeystoreFormat> {
    let crypto = json::object(obj, "crypto", "keystore has no crypto object")?;
    match crypto.get("kdf") {
        Some(serde_json::Value::Object(_)) => Ok(KeystoreFormat::Eip2335),
        Some(serde_json::Value::String(_)) => {
            if obj.contains_key("pubKey") {
                Ok(KeystoreFormat::EigenV3)
            } else if obj.contains_key("publicKey") {
                Ok(KeystoreFormat::CryptoLibsLegacy)
            } else {
                Err(Error::Keystore(
                    "V3 keystore without a BN254 public key (pubKey or publicKey); not a BLS key file",
                ))
            }
        }
        _ => Err(Error::Keystore(
            "unrecognized keystore format: crypto.kdf missing",
        )),
    }
}

#[cfg(test)]
mod tests;
