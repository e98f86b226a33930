//! go-ethereum's Web3 Secret Storage (V3) crypto section, and the files built on it: eigensdk's
//! `{"pubKey", "crypto"}` and crypto-libs' legacy `{"publicKey", "crypto", ...}` (BN254), and
//! go-ethereum's own account key file `{"address", "crypto", "id", "version": 3}` (secp256k1).

use super::crypto::{self, DerivedKey};
use super::json::{self, Object};
use super::params::{self, Kdf, KdfChoice, Pbkdf2Params, ScryptParams};
use super::pubkey::{self, DeclaredPubkey};
use crate::bn254::SecretKey;
use crate::{Error, Result, Secret};
use alloy_primitives::Address;
use rand_core::{CryptoRng, RngCore};
use serde::Serialize;

/// A parsed V3 `crypto` object.
struct V3Crypto {
    kdf: Kdf,
    iv: [u8; 16],
    ciphertext: Vec<u8>,
    mac: [u8; 32],
}

fn parse_crypto(obj: &Object) -> Result<V3Crypto> {
    let c = json::object(obj, "crypto", "keystore has no crypto object")?;
    if json::string(c, "cipher", "crypto.cipher is missing")? != "aes-128-ctr" {
        return Err(Error::Keystore("unsupported cipher (only aes-128-ctr)"));
    }
    let ciphertext = json::hex_bytes(c, "ciphertext", "crypto.ciphertext is missing or not hex")?;
    crypto::check_ciphertext_len(&ciphertext)?;
    let cipherparams = json::object(c, "cipherparams", "crypto.cipherparams is missing")?;
    let iv = json::hex_array::<16>(
        cipherparams,
        "iv",
        "crypto.cipherparams.iv must be 16 bytes of hex",
    )?;
    let mac = json::hex_array::<32>(c, "mac", "crypto.mac must be 32 bytes of hex")?;
    let kdfparams = json::object(c, "kdfparams", "crypto.kdfparams is missing")?;
    let salt = json::hex_bytes(
        kdfparams,
        "salt",
        "crypto.kdfparams.salt is missing or not hex",
    )?;
    params::check_dklen(json::uint(
        kdfparams,
        "dklen",
        "crypto.kdfparams.dklen is missing",
    )?)?;
    let algorithm = match json::string(c, "kdf", "crypto.kdf is missing")? {
        "scrypt" => {
            let n = json::uint(kdfparams, "n", "crypto.kdfparams.n is missing")?;
            let r = json::uint(kdfparams, "r", "crypto.kdfparams.r is missing")?;
            let p = json::uint(kdfparams, "p", "crypto.kdfparams.p is missing")?;
            KdfChoice::Scrypt(ScryptParams::new(
                n,
                params::small_u32(r, "scrypt r must be between 1 and 32")?,
                params::small_u32(p, "scrypt p must be between 1 and 16")?,
            )?)
        }
        "pbkdf2" => {
            if json::string(kdfparams, "prf", "crypto.kdfparams.prf is missing")? != "hmac-sha256" {
                return Err(Error::Keystore("unsupported pbkdf2 prf (only hmac-sha256)"));
            }
            KdfChoice::Pbkdf2(Pbkdf2Params::new(json::uint(
                kdfparams,
                "c",
                "crypto.kdfparams.c is missing",
            )?)?)
        }
        _ => return Err(Error::Keystore("unsupported kdf (only scrypt and pbkdf2)")),
    };
    Ok(V3Crypto {
        kdf: Kdf::new(algorithm, salt)?,
        iv,
        ciphertext,
        mac,
    })
}

/// Derives, checks the MAC, decrypts: the V3 `DecryptDataV3` procedure.
fn decrypt_crypto(c: &V3Crypto, password: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    let dk = DerivedKey::derive(&c.kdf, password)?;
    crypto::check_mac(&dk.keccak_mac(&c.ciphertext)?, &c.mac)?;
    crypto::decrypt(&dk, &c.iv, &c.ciphertext)
}

fn decrypt_with_pubkey(
    obj: &Object,
    password: &[u8],
    declared: &DeclaredPubkey,
) -> Result<SecretKey> {
    let c = parse_crypto(obj)?;
    let plaintext = decrypt_crypto(&c, password)?;
    let sk = crypto::secret_key_from_plaintext(&plaintext)?;
    declared.check(&sk)?;
    Ok(sk)
}

pub(super) fn decrypt_eigen(obj: &Object, password: &[u8]) -> Result<SecretKey> {
    let declared = pubkey::parse_gnark_g1(json::string(
        obj,
        "pubKey",
        "keystore has no pubKey string",
    )?)?;
    decrypt_with_pubkey(obj, password, &declared)
}

pub(super) fn decrypt_legacy(obj: &Object, password: &[u8]) -> Result<SecretKey> {
    check_curve_type(obj)?;
    let declared = pubkey::parse_hex_pubkey(json::string(
        obj,
        "publicKey",
        "keystore has no publicKey string",
    )?)?;
    decrypt_with_pubkey(obj, password, &declared)
}

/// go-ethereum's account key file: `version` 3, a V3 `crypto` section (`Crypto` as older geth wrote
/// it is accepted too) whose plaintext is the 32-byte secp256k1 secret key, and an optional
/// `address` (hex, with or without `0x`) that the key must match.
pub(super) fn decrypt_secp256k1(mut obj: Object, password: &[u8]) -> Result<Secret<[u8; 32]>> {
    if obj.get("version").and_then(serde_json::Value::as_u64) != Some(3) {
        return Err(Error::Keystore(
            "not an Ethereum V3 key file (version must be 3)",
        ));
    }
    if !obj.contains_key("crypto") {
        if let Some(c) = obj.remove("Crypto") {
            obj.insert("crypto".into(), c);
        }
    }
    let declared = match obj.get("address") {
        None => None,
        Some(v) => Some(
            parse_address(v.as_str())
                .ok_or(Error::Keystore("address is not a 20-byte hex address"))?,
        ),
    };
    let c = parse_crypto(&obj)?;
    if c.ciphertext.len() != 32 {
        return Err(Error::Keystore(
            "ciphertext length is not that of a secp256k1 key (32 bytes)",
        ));
    }
    let plaintext = decrypt_crypto(&c, password)?;
    let mut secret = Secret::new([0u8; 32]);
    secret.expose_mut(|out| {
        for (dst, src) in out.iter_mut().zip(plaintext.iter()) {
            *dst = *src;
        }
    });
    // Zero and values at or above the group order are not keys (go-ethereum refuses them too).
    let key = secret
        .expose(|b| k256::ecdsa::SigningKey::from_slice(b))
        .map_err(|_| Error::Keystore("decrypted key is not a valid secp256k1 secret key"))?;
    if let Some(address) = declared {
        if Address::from_private_key(&key) != address {
            return Err(Error::KeystorePubkeyMismatch);
        }
    }
    Ok(secret)
}

fn parse_address(text: Option<&str>) -> Option<Address> {
    let text = text?;
    let bytes = hex::decode(text.strip_prefix("0x").unwrap_or(text)).ok()?;
    <[u8; 20]>::try_from(bytes.as_slice())
        .ok()
        .map(Address::from)
}

/// crypto-libs' optional `curveType`: absent, or `bn254` in any case.
pub(super) fn check_curve_type(obj: &Object) -> Result<()> {
    match obj.get("curveType") {
        None => Ok(()),
        Some(v) => match v.as_str() {
            Some(s) if s.eq_ignore_ascii_case("bn254") => Ok(()),
            _ => Err(Error::Keystore("curveType is not bn254")),
        },
    }
}

/// eigensdk's file, field for field in Go's `json.Marshal` order (the kdfparams map is marshalled
/// with sorted keys).
#[derive(Serialize)]
struct EigenFile {
    #[serde(rename = "pubKey")]
    pub_key: String,
    crypto: CryptoOut,
}

#[derive(Serialize)]
struct CryptoOut {
    cipher: &'static str,
    ciphertext: String,
    cipherparams: CipherParamsOut,
    kdf: &'static str,
    kdfparams: ScryptParamsOut,
    mac: String,
}

#[derive(Serialize)]
struct CipherParamsOut {
    iv: String,
}

#[derive(Serialize)]
struct ScryptParamsOut {
    dklen: u64,
    n: u64,
    p: u32,
    r: u32,
    salt: String,
}

pub(super) fn encrypt_eigen(
    sk: &SecretKey,
    password: &[u8],
    params: ScryptParams,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<String> {
    let salt: [u8; 32] = crypto::random_array(rng);
    let iv: [u8; 16] = crypto::random_array(rng);
    let kdf = Kdf::new(KdfChoice::Scrypt(params), salt.to_vec())?;
    let dk = DerivedKey::derive(&kdf, password)?;
    let ciphertext = crypto::encrypt_scalar(&dk, &iv, sk)?;
    let mac = dk.keccak_mac(&ciphertext)?;
    let file = EigenFile {
        pub_key: pubkey::format_gnark_g1(&sk.public_g1()),
        crypto: CryptoOut {
            cipher: "aes-128-ctr",
            ciphertext: hex::encode(&ciphertext),
            cipherparams: CipherParamsOut {
                iv: hex::encode(iv),
            },
            kdf: "scrypt",
            kdfparams: ScryptParamsOut {
                dklen: params::DK_LEN,
                n: params.n(),
                p: params.p(),
                r: params.r(),
                salt: hex::encode(salt),
            },
            mac: hex::encode(mac),
        },
    };
    serde_json::to_string(&file).map_err(|_| Error::Keystore("could not serialize keystore"))
}

#[cfg(test)]
pub(super) fn decrypt_v3_plaintext(
    json_text: &str,
    password: &[u8],
) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    let obj = json::parse_object(json_text)?;
    decrypt_crypto(&parse_crypto(&obj)?, password)
}
