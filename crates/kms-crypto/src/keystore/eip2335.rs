//! EIP-2335 module layout (`kdf` / `checksum` / `cipher`), as Layr-Labs crypto-libs writes it for
//! BN254 keys.

use super::crypto::{self, DerivedKey};
use super::json::{self, Object};
use super::params::{self, Kdf, KdfChoice, Pbkdf2Params, ScryptParams};
use super::pubkey;
use super::v3::check_curve_type;
use crate::bn254::SecretKey;
use crate::{Error, Result};
use rand_core::{CryptoRng, RngCore};
use serde::Serialize;
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

/// EIP-2335 password processing: NFKD, then strip C0 (U+0000–U+001F), DEL (U+007F) and C1
/// (U+0080–U+009F) control codes, then UTF-8.
pub(super) fn process_password(password: &str) -> Zeroizing<Vec<u8>> {
    let kept = || {
        password
            .nfkd()
            .filter(|c| !matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'))
    };
    // Sized exactly up front so the buffer never reallocates (which would leave an unzeroized
    // copy of the password behind).
    let len = kept().map(char::len_utf8).sum();
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    let mut buf = [0u8; 4];
    for c in kept() {
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
    zeroize::Zeroize::zeroize(&mut buf);
    out
}

struct Eip2335Crypto {
    kdf: Kdf,
    checksum: [u8; 32],
    iv: [u8; 16],
    ciphertext: Vec<u8>,
}

fn parse_crypto(obj: &Object) -> Result<Eip2335Crypto> {
    let c = json::object(obj, "crypto", "keystore has no crypto object")?;

    let kdf = json::object(c, "kdf", "crypto.kdf module is missing")?;
    let kp = json::object(kdf, "params", "crypto.kdf.params is missing")?;
    let salt = json::hex_bytes(kp, "salt", "crypto.kdf.params.salt is missing or not hex")?;
    params::check_dklen(json::uint(
        kp,
        "dklen",
        "crypto.kdf.params.dklen is missing",
    )?)?;
    let algorithm = match json::string(kdf, "function", "crypto.kdf.function is missing")? {
        "scrypt" => {
            let n = json::uint(kp, "n", "crypto.kdf.params.n is missing")?;
            let r = json::uint(kp, "r", "crypto.kdf.params.r is missing")?;
            let p = json::uint(kp, "p", "crypto.kdf.params.p is missing")?;
            KdfChoice::Scrypt(ScryptParams::new(
                n,
                params::small_u32(r, "scrypt r must be between 1 and 32")?,
                params::small_u32(p, "scrypt p must be between 1 and 16")?,
            )?)
        }
        "pbkdf2" => {
            if json::string(kp, "prf", "crypto.kdf.params.prf is missing")? != "hmac-sha256" {
                return Err(Error::Keystore("unsupported pbkdf2 prf (only hmac-sha256)"));
            }
            KdfChoice::Pbkdf2(Pbkdf2Params::new(json::uint(
                kp,
                "c",
                "crypto.kdf.params.c is missing",
            )?)?)
        }
        _ => {
            return Err(Error::Keystore(
                "unsupported kdf function (only scrypt and pbkdf2)",
            ))
        }
    };

    let checksum = json::object(c, "checksum", "crypto.checksum module is missing")?;
    if json::string(checksum, "function", "crypto.checksum.function is missing")? != "sha256" {
        return Err(Error::Keystore(
            "unsupported checksum function (only sha256)",
        ));
    }
    let checksum = json::hex_array::<32>(
        checksum,
        "message",
        "crypto.checksum.message must be 32 bytes of hex",
    )?;

    let cipher = json::object(c, "cipher", "crypto.cipher module is missing")?;
    if json::string(cipher, "function", "crypto.cipher.function is missing")? != "aes-128-ctr" {
        return Err(Error::Keystore(
            "unsupported cipher function (only aes-128-ctr)",
        ));
    }
    let cp = json::object(cipher, "params", "crypto.cipher.params is missing")?;
    let iv = json::hex_array::<16>(cp, "iv", "crypto.cipher.params.iv must be 16 bytes of hex")?;
    let ciphertext = json::hex_bytes(
        cipher,
        "message",
        "crypto.cipher.message is missing or not hex",
    )?;
    crypto::check_ciphertext_len(&ciphertext)?;

    Ok(Eip2335Crypto {
        kdf: Kdf::new(algorithm, salt)?,
        checksum,
        iv,
        ciphertext,
    })
}

/// Derives, verifies the checksum, decrypts: EIP-2335's three steps.
fn decrypt_crypto(c: &Eip2335Crypto, password: &str) -> Result<Zeroizing<Vec<u8>>> {
    let processed = process_password(password);
    let dk = DerivedKey::derive(&c.kdf, &processed)?;
    crypto::check_mac(&dk.sha256_checksum(&c.ciphertext)?, &c.checksum)?;
    crypto::decrypt(&dk, &c.iv, &c.ciphertext)
}

pub(super) fn decrypt(obj: &Object, password: &str) -> Result<SecretKey> {
    check_curve_type(obj)?;
    // bn254-keystore-go (cerberus's keystores) writes the same layout with `"curve": "bn254"` and
    // `"version": 0`; without that marker, EIP-2335's version 4 is required.
    let bn254_go = match obj.get("curve") {
        None => false,
        Some(v) if v.as_str().is_some_and(|c| c.eq_ignore_ascii_case("bn254")) => true,
        Some(_) => return Err(Error::Keystore("curve is not bn254")),
    };
    match obj.get("version").and_then(serde_json::Value::as_u64) {
        Some(4) => {}
        Some(_) if bn254_go => {}
        _ => return Err(Error::Keystore("EIP-2335 keystore version must be 4")),
    }
    let declared = pubkey::parse_hex_pubkey(json::string(
        obj,
        "pubkey",
        "keystore has no pubkey string",
    )?)?;
    let c = parse_crypto(obj)?;
    let plaintext = decrypt_crypto(&c, password)?;
    let sk = crypto::secret_key_from_plaintext(&plaintext)?;
    declared.check(&sk)?;
    Ok(sk)
}

/// crypto-libs' `EIP2335Keystore`, in its field order (`description` omitted when empty, module
/// params maps marshalled with sorted keys).
#[derive(Serialize)]
struct FileOut {
    crypto: CryptoOut,
    pubkey: String,
    path: &'static str,
    uuid: String,
    version: u32,
    #[serde(rename = "curveType")]
    curve_type: &'static str,
}

#[derive(Serialize)]
struct CryptoOut {
    kdf: Module<KdfParamsOut>,
    checksum: Module<EmptyParams>,
    cipher: Module<IvParams>,
}

#[derive(Serialize)]
struct Module<P> {
    function: &'static str,
    params: P,
    message: String,
}

#[derive(Serialize)]
#[serde(untagged)]
enum KdfParamsOut {
    Scrypt {
        dklen: u64,
        n: u64,
        p: u32,
        r: u32,
        salt: String,
    },
    Pbkdf2 {
        c: u32,
        dklen: u64,
        prf: &'static str,
        salt: String,
    },
}

#[derive(Serialize)]
struct EmptyParams {}

#[derive(Serialize)]
struct IvParams {
    iv: String,
}

pub(super) fn encrypt(
    sk: &SecretKey,
    password: &str,
    kdf_choice: KdfChoice,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<String> {
    let salt: [u8; 32] = crypto::random_array(rng);
    let iv: [u8; 16] = crypto::random_array(rng);
    let uuid = crypto::uuid_v4(rng);
    let kdf = Kdf::new(kdf_choice, salt.to_vec())?;
    let processed = process_password(password);
    let dk = DerivedKey::derive(&kdf, &processed)?;
    let ciphertext = crypto::encrypt_scalar(&dk, &iv, sk)?;
    let checksum = dk.sha256_checksum(&ciphertext)?;
    let (function, params) = match kdf_choice {
        KdfChoice::Scrypt(p) => (
            "scrypt",
            KdfParamsOut::Scrypt {
                dklen: params::DK_LEN,
                n: p.n(),
                p: p.p(),
                r: p.r(),
                salt: hex::encode(salt),
            },
        ),
        KdfChoice::Pbkdf2(p) => (
            "pbkdf2",
            KdfParamsOut::Pbkdf2 {
                c: p.iterations(),
                dklen: params::DK_LEN,
                prf: "hmac-sha256",
                salt: hex::encode(salt),
            },
        ),
    };
    let file = FileOut {
        crypto: CryptoOut {
            kdf: Module {
                function,
                params,
                message: String::new(),
            },
            checksum: Module {
                function: "sha256",
                params: EmptyParams {},
                message: hex::encode(checksum),
            },
            cipher: Module {
                function: "aes-128-ctr",
                params: IvParams {
                    iv: hex::encode(iv),
                },
                message: hex::encode(&ciphertext),
            },
        },
        pubkey: pubkey::format_hex_g2(&sk.public_g2()),
        path: "m/1/0/0",
        uuid,
        version: 4,
        curve_type: "bn254",
    };
    serde_json::to_string_pretty(&file).map_err(|_| Error::Keystore("could not serialize keystore"))
}

#[cfg(test)]
pub(super) fn decrypt_eip2335_plaintext(
    json_text: &str,
    password: &str,
) -> Result<Zeroizing<Vec<u8>>> {
    let obj = json::parse_object(json_text)?;
    decrypt_crypto(&parse_crypto(&obj)?, password)
}
