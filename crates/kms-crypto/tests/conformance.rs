//! Pinned encodings of kms-crypto's formats, from seeded inputs: the IBE ciphertext (docs 0003),
//! a sealed box and a sealed partial signature (the node's reply to an app), the commitment, and
//! the EIP-712 digests of every signed request kind. Each is a keccak of the bytes, so a change
//! to any byte fails here and names the encoding. Changing one is a format change: bump its
//! version (`KMSIBE\x01`, the seal's info string, the EIP-712 type) and update the hash on
//! purpose (docs/0010).
#![cfg(test)]

use alloy_primitives::{keccak256, Address, B256, U256};
use kms_crypto::auth::{Freshness, Request};
use kms_crypto::bls::{partial_sign, EvalPoint, Polynomial};
use kms_crypto::seal::{seal, EncryptionKey};
use kms_crypto::{ibe, Secret};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::collections::BTreeMap;

fn h(bytes: &[u8]) -> String {
    format!("{:x}", keccak256(bytes))
}

fn pins() -> BTreeMap<&'static str, String> {
    let mut out = BTreeMap::new();
    let poly = Polynomial::random(3, &mut ChaCha20Rng::seed_from_u64(16)).unwrap();
    let commitment = poly.commit();
    out.insert("commitment", h(&commitment.to_bytes()));
    let ct = ibe::encrypt(
        &commitment.public_key(),
        b"app-1",
        b"a pinned plaintext",
        &mut ChaCha20Rng::seed_from_u64(17),
    )
    .unwrap();
    out.insert("ibe ciphertext", h(&ct));

    let recipient = EncryptionKey::random(&mut ChaCha20Rng::seed_from_u64(18));
    let ephemeral = Secret::new([0x42u8; 32]);
    let sealed = seal(&recipient.public(), b"plain", b"aad", &ephemeral).unwrap();
    out.insert("sealed box", h(&sealed.to_bytes()));

    // What a node answers an app: its partial on H(app_id), sealed to the response key.
    let share = poly.evaluate(&EvalPoint::from_index(2).unwrap());
    let partial = partial_sign(&share, b"app-1");
    let sealed = seal(
        &recipient.public(),
        &partial.signature.to_bytes(),
        b"KMS_PARTIAL_V1 aad stand-in",
        &ephemeral,
    )
    .unwrap();
    out.insert("sealed partial", h(&sealed.to_bytes()));

    let fresh = Freshness {
        nonce: 7,
        deadline: 1_700_000_000,
    };
    let eoa = Address::repeat_byte(0x11);
    let requests = [
        (
            "eip712 CreateKey",
            Request::CreateKey {
                operator: eoa,
                fresh,
            },
        ),
        (
            "eip712 SignHash",
            Request::SignHash {
                operator: eoa,
                message_hash: B256::repeat_byte(0xab),
                key_version: 1,
                fresh,
            },
        ),
        (
            "eip712 ScalarMul",
            Request::ScalarMul {
                operator: eoa,
                point_x: U256::from(1u64),
                point_y: U256::from(2u64),
                key_version: 0,
                fresh,
            },
        ),
        (
            "eip712 PubkeyRegistration",
            Request::PubkeyRegistration {
                operator: eoa,
                registry: Address::repeat_byte(0x22),
                chain_id: 17000,
                key_version: 0,
                fresh,
            },
        ),
        (
            "eip712 KeyRegistration",
            Request::KeyRegistration {
                operator: eoa,
                avs: Address::repeat_byte(0x33),
                operator_set_id: 7,
                registrar: Address::repeat_byte(0x44),
                chain_id: 17000,
                domain_version: "1".into(),
                key_version: 0,
                fresh,
            },
        ),
        (
            "eip712 RotateKey",
            Request::RotateKey {
                operator: eoa,
                fresh,
            },
        ),
        (
            "eip712 CreateApiKey",
            Request::CreateApiKey {
                operator: eoa,
                label: "avs-1".into(),
                scopes: "sign,scalar-mul".into(),
                expires_at: 1_800_000_000,
                sources: "10.0.0.0/8".into(),
                token_hash: B256::repeat_byte(0x55),
                fresh,
            },
        ),
        (
            "eip712 ListApiKeys",
            Request::ListApiKeys {
                operator: eoa,
                fresh,
            },
        ),
        (
            "eip712 RevokeApiKey",
            Request::RevokeApiKey {
                operator: eoa,
                key_id: "0123456789abcdef".into(),
                fresh,
            },
        ),
    ];
    for (name, req) in requests {
        out.insert(name, format!("{:x}", req.digest(31337)));
    }
    let salted = kms_crypto::auth::SignerDomain {
        chain_id: 31337,
        salt: Some(B256::repeat_byte(0x77)),
    };
    let req = Request::RotateKey {
        operator: eoa,
        fresh,
    };
    out.insert(
        "eip712 RotateKey salted",
        format!("{:x}", req.digest_in(&salted)),
    );
    out
}

const GOLDEN: &[(&str, &str)] = &[
    (
        "commitment",
        "f8fbd3b0c144bc297094c254e5dfa6fe798b68313c482e1e10822c21e7f14d57",
    ),
    (
        "eip712 CreateApiKey",
        "b9b0c7ae7aa0efb652c35ddef19afed9ed855bfa5551ec65226d0df9fac78f32",
    ),
    (
        "eip712 CreateKey",
        "3f525c363b13a8b1158fa969fdd048375612234484fc48a55cde61b2305a3316",
    ),
    (
        "eip712 KeyRegistration",
        "3406cf4ba79b7465e5147cfd28829e6a59933925fb125d40c9494a33c93d4093",
    ),
    (
        "eip712 ListApiKeys",
        "34e8dea21fed7a3bd7eca12bd33bf0a3a15253ed5bf11029d36479f8572abb8d",
    ),
    (
        "eip712 PubkeyRegistration",
        "512d67ab2fc6372497195a3bf81bedec090882bac829253b53c91c7c9d4b08d7",
    ),
    (
        "eip712 RevokeApiKey",
        "95908fccbe0fe38245a6fd01a836d65d57aeeb8750e21bf0e183306dab23f39f",
    ),
    (
        "eip712 RotateKey",
        "a850d619ab36cfb8393ee77d4f186192c95007e676ff9d69b22fcc31176b076f",
    ),
    (
        "eip712 RotateKey salted",
        "8ed3fbd4fbf5926d5f2ff0f22e2505df5ab862d667756aa7e46d21c77682b413",
    ),
    (
        "eip712 ScalarMul",
        "b7f230d4d48c07e4ec59c1fc08ef7f7b54715be34404610aad8f089438e50eff",
    ),
    (
        "eip712 SignHash",
        "f347052fd35966144fe374b18cd4415571a765f569c977db1a6e8383ec40084a",
    ),
    (
        "ibe ciphertext",
        "040661039bc42c06756c0c057d16fe173c316d65d1a74f4344ae513c24e0a91e",
    ),
    (
        "sealed box",
        "d23e422ebb512ac0552e35c0307ecb0e3425ab34b0373c59c8a2de4d13aaa137",
    ),
    (
        "sealed partial",
        "7abd5b2d45745dbfdb6398a1d5fe1ea8b617fefed5b3573301fc4484c1485739",
    ),
];

#[test]
fn encodings_are_pinned() {
    let got = pins();
    let mut changed = Vec::new();
    for (what, hash) in &got {
        match GOLDEN.iter().find(|(w, _)| w == what) {
            Some((_, want)) if want == hash => {}
            _ => changed.push(format!("    (\"{what}\", \"{hash}\"),")),
        }
    }
    assert!(
        changed.is_empty(),
        "these encodings changed (or are new); if on purpose, pin them:\n{}",
        changed.join("\n")
    );
    assert_eq!(
        got.len(),
        GOLDEN.len(),
        "a pinned encoding is no longer produced"
    );
}
