//! The public-key encodings keystores declare, parsed into checked points so the decrypted key can
//! be compared with them.

use crate::bn254::{G1Point, G2Point, SecretKey, U256};
use crate::{Error, Result};

/// A public key as a keystore declares it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum DeclaredPubkey {
    G1(G1Point),
    G2(G2Point),
    /// gnark's 32-byte compressed G1 point (bn254-keystore-go, cerberus).
    G1Compressed([u8; 32]),
}

impl DeclaredPubkey {
    /// Compares with the key's own public key in the same group.
    pub(super) fn check(&self, sk: &SecretKey) -> Result<()> {
        let matches = match self {
            Self::G1(p) => sk.public_g1() == *p,
            Self::G2(p) => sk.public_g2() == *p,
            Self::G1Compressed(c) => sk.public_g1().to_gnark_compressed() == *c,
        };
        if matches {
            Ok(())
        } else {
            Err(Error::KeystorePubkeyMismatch)
        }
    }
}

/// gnark's `G1Affine.String()`: `E([x,y])` with decimal coordinates (eigensdk's `pubKey`).
pub(super) fn format_gnark_g1(p: &G1Point) -> String {
    format!("E([{},{}])", p.x_dec(), p.y_dec())
}

/// Parses `E([x,y])` (decimal digits only, no spaces) into a checked G1 point.
pub(super) fn parse_gnark_g1(text: &str) -> Result<DeclaredPubkey> {
    let inner = text
        .strip_prefix("E([")
        .and_then(|rest| rest.strip_suffix("])"))
        .ok_or(Error::Keystore("pubKey is not of the form E([x,y])"))?;
    let (x, y) = inner
        .split_once(',')
        .ok_or(Error::Keystore("pubKey is not of the form E([x,y])"))?;
    let decimal = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !decimal(x) || !decimal(y) {
        return Err(Error::Keystore(
            "pubKey coordinates are not decimal integers",
        ));
    }
    G1Point::from_dec_or_hex(x, y)
        .map(DeclaredPubkey::G1)
        .map_err(|_| Error::Keystore("pubKey is not a valid BN254 G1 point"))
}

/// Parses a hex public key (optional `0x`) as crypto-libs writes it: 128 bytes are the
/// uncompressed G2 point in gnark `Marshal` order `x.c1 ‖ x.c0 ‖ y.c1 ‖ y.c0` (the Solidity
/// order); 64 bytes are an uncompressed G1 point `x ‖ y`, both big-endian; 32 bytes are gnark's
/// compressed G1 point, as bn254-keystore-go (cerberus) writes it. Other encodings are refused,
/// since the key could not be checked against them.
pub(super) fn parse_hex_pubkey(text: &str) -> Result<DeclaredPubkey> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let bytes = hex::decode(digits).map_err(|_| Error::Keystore("pubkey is not hex"))?;
    let words: Vec<U256> = bytes.chunks_exact(32).map(U256::from_be_slice).collect();
    match (bytes.len(), words.as_slice()) {
        (128, [x1, x0, y1, y0]) => G2Point::from_solidity([*x1, *x0], [*y1, *y0])
            .map(DeclaredPubkey::G2)
            .map_err(|_| Error::Keystore("pubkey is not a valid BN254 G2 point")),
        (64, [x, y]) => G1Point::from_coords(*x, *y)
            .map(DeclaredPubkey::G1)
            .map_err(|_| Error::Keystore("pubkey is not a valid BN254 G1 point")),
        // Compared with the decrypted key's own compressed form, so it needs no decompression.
        (32, _) => {
            let mut c = [0u8; 32];
            c.copy_from_slice(&bytes);
            Ok(DeclaredPubkey::G1Compressed(c))
        }
        _ => Err(Error::Keystore(
            "pubkey encoding not recognized (expected 128-byte uncompressed G2, 64-byte G1 or \
             32-byte compressed G1 hex)",
        )),
    }
}

/// crypto-libs' `pubkey`: hex of the 128-byte uncompressed G2 public key.
pub(super) fn format_hex_g2(p: &G2Point) -> String {
    hex::encode(p.to_abi_bytes())
}
