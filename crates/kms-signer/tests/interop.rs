//! The service against independent implementations: requests signed by Foundry's `cast wallet
//! sign --data` and by eth-account are accepted; the service's BN254 signatures (of a key whose
//! secret the test knows, imported from a keystore) and its registration digest are checked by
//! py-ecc and eth-account through `kms-crypto/tests/interop/check.py`.
//!
//! Needs `KMS_PYTHON` (with tests/interop/requirements.txt) and `KMS_CAST`, as `scripts/test` sets.
#![cfg(test)]

mod common;

use alloy_primitives::{address, b256, Address};
use common::*;
use kms_crypto::auth::{Freshness, Request};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

const ANVIL_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const ANVIL_ADDR: Address = address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");

fn interop_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../kms-crypto/tests/interop"
    ))
}

fn python() -> String {
    std::env::var("KMS_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn cast() -> String {
    std::env::var("KMS_CAST").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/node/node_modules/.bin/cast"
        )
        .to_owned()
    })
}

fn cast_sign(typed: &Value, dir: &std::path::Path) -> String {
    let file = dir.join("typed.json");
    std::fs::write(&file, typed.to_string()).unwrap();
    let out = Command::new(cast())
        .args(["wallet", "sign", "--data", "--from-file"])
        .arg(&file)
        .args(["--private-key", ANVIL_KEY])
        .output()
        .expect("cast not found: run scripts/test, which installs it");
    let sig = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(
        sig.len() == 132 && sig.starts_with("0x"),
        "cast failed: {sig} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    sig
}

fn eth_account_sign(typed: &Value, dir: &std::path::Path) -> Value {
    let file = dir.join("typed-eth.json");
    let key = dir.join("anvil.key");
    std::fs::write(&file, typed.to_string()).unwrap();
    std::fs::write(&key, ANVIL_KEY).unwrap();
    let out = Command::new(python())
        .arg(interop_dir().join("sign_typed.py"))
        .arg(&file)
        .arg(&key)
        .output()
        .expect("python not found: run scripts/test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn requests_signed_by_cast_and_eth_account_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let s = Signer::start(dir.path(), &[]);
    let http = Http::new(&s.url);

    // createKey signed by cast.
    let fresh = Freshness {
        nonce: 1,
        deadline: now() + 120,
    };
    let req = Request::CreateKey {
        operator: ANVIL_ADDR,
        fresh,
    };
    let sig = cast_sign(&req.typed_data(CHAIN_ID), dir.path());
    let body = json!({ "operator": ANVIL_ADDR.to_string(), "nonce": 1, "deadline": fresh.deadline, "signature": sig });
    let (status, r) = http.post("/v1/keys", &body);
    assert_eq!(status, 201, "{r}");

    // sign signed by eth-account; its digest equals ours.
    let hash = b256!("3333333333333333333333333333333333333333333333333333333333333333");
    let fresh = Freshness {
        nonce: 2,
        deadline: now() + 120,
    };
    let req = Request::SignHash {
        operator: ANVIL_ADDR,
        message_hash: hash,
        key_version: 0,
        fresh,
    };
    let signed = eth_account_sign(&req.typed_data(CHAIN_ID), dir.path());
    assert_eq!(
        signed["digest"].as_str().unwrap(),
        req.digest(CHAIN_ID).to_string()
    );
    let body = json!({ "message_hash": hash.to_string(), "nonce": 2, "deadline": fresh.deadline, "signature": signed["signature"] });
    let (status, r) = http.post(&format!("/v1/keys/{ANVIL_ADDR}/sign"), &body);
    assert_eq!(status, 200, "{r}");

    // A cast signature for another chain id is refused.
    let fresh = Freshness {
        nonce: 3,
        deadline: now() + 120,
    };
    let req = Request::SignHash {
        operator: ANVIL_ADDR,
        message_hash: hash,
        key_version: 0,
        fresh,
    };
    let sig = cast_sign(&req.typed_data(1), dir.path());
    let body = json!({ "message_hash": hash.to_string(), "nonce": 3, "deadline": fresh.deadline, "signature": sig });
    let (status, r) = http.post(&format!("/v1/keys/{ANVIL_ADDR}/sign"), &body);
    assert_eq!((status, code(&r)), (401, "wrong_signer"));
}

fn g1_of(v: &Value) -> Value {
    json!({ "x": v["x"], "y": v["y"] })
}

#[test]
fn service_signatures_and_registration_digest_pass_py_ecc_and_eth_account() {
    let dir = tempfile::tempdir().unwrap();
    let sk = kms_crypto::bn254::SecretKey::from_int_str("987654321987654321987654321").unwrap();
    let ks = kms_crypto::keystore::encrypt_eigen_keystore(
        &sk,
        b"pw",
        kms_crypto::keystore::ScryptParams::light(),
        &mut rand_core::OsRng,
    )
    .unwrap();
    std::fs::write(dir.path().join("op.json"), ks).unwrap();
    std::fs::write(dir.path().join("op.pass"), "pw").unwrap();
    Signer::start(dir.path(), &[]).stop();
    let mut op = Operator::new(21);
    let out = Command::new(bin())
        .args(["import", "--eoa", &op.eoa().to_string()])
        .arg("--keystore")
        .arg(dir.path().join("op.json"))
        .arg("--password-file")
        .arg(dir.path().join("op.pass"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--kek-passphrase-file")
        .arg(dir.path().join("kek.pass"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = Signer::start(dir.path(), &[]);
    let http = Http::new(&s.url);
    let secret = sk.to_decimal().expose(|d| d.clone());

    let mut bn254 = Vec::new();
    for i in 0..3u8 {
        let hash = alloy_primitives::B256::from([i * 50 + 7; 32]);
        let (status, r) = http.post(
            &format!("/v1/keys/{}/sign", op.eoa()),
            &op.sign_body(hash, 0),
        );
        assert_eq!(status, 200, "{r}");
        bn254.push(json!({
            "id": format!("service-sign-{i}"), "expect_valid": true, "secret_key": secret,
            "g1": r["g1"], "g2": r["g2"], "message_hash": hash.to_string(),
            "message_point": g1_of(&r["message_point"]), "signature": g1_of(&r["signature"]),
        }));
    }
    // The registration: py-ecc checks the signature over the digest, eth-account the digest.
    let registry = address!("5FbDB2315678afecb367f032d93F642f64180aa3");
    let (status, reg) = http.post(
        &format!("/v1/keys/{}/registration", op.eoa()),
        &op.registration_body(registry, 31337),
    );
    assert_eq!(status, 200, "{reg}");
    let params = &reg["pubkeyRegistrationParams"];
    bn254.push(json!({
        "id": "service-registration", "expect_valid": true, "secret_key": secret,
        "g1": params["pubkeyG1"], "g2": params["pubkeyG2"], "message_hash": reg["digest"],
        "message_point": reg["message_point"], "signature": params["pubkeyRegistrationSignature"],
    }));
    let mut tampered = bn254[0].clone();
    tampered["id"] = json!("tampered");
    tampered["expect_valid"] = json!(false);
    tampered["signature"] = bn254[1]["signature"].clone();
    bn254.push(tampered);
    let typed = json!({
        "types": {
            "EIP712Domain": [
                { "name": "name", "type": "string" }, { "name": "version", "type": "string" },
                { "name": "chainId", "type": "uint256" }, { "name": "verifyingContract", "type": "address" },
            ],
            "BN254PubkeyRegistration": [{ "name": "operator", "type": "address" }],
        },
        "primaryType": "BN254PubkeyRegistration",
        "domain": { "name": "AVSRegistryCoordinator", "version": "v0.0.1", "chainId": 31337, "verifyingContract": registry.to_string() },
        "message": { "operator": op.eoa().to_string() },
    });
    let eip712 = vec![
        json!({ "id": "service-registration-digest", "expect_valid": true, "typed_data": typed, "digest": reg["digest"] }),
    ];
    let total = bn254.len() + eip712.len();
    let cases = json!({ "bn254": bn254, "bn254_aggregate": [], "bls12381": [], "eip712": eip712 });
    let file = dir.path().join("cases.json");
    std::fs::write(&file, cases.to_string()).unwrap();
    let out = Command::new(python())
        .arg(interop_dir().join("check.py"))
        .arg(&file)
        .output()
        .expect("python not found");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.trim() == format!("{total} passed, 0 failed")),
        "{stdout}"
    );
}
