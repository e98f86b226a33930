//! Agreement with independent implementations: our keys, hash-to-curve points, signatures,
//! partials, recovered keys and EIP-712 digests are checked by `tests/interop/check.py` with
//! py-ecc and eth-account. Tampered cases are included and must be rejected by the checker, so
//! the test fails if the checker stops checking.
//!
//! Needs Python with `tests/interop/requirements.txt` installed: `scripts/test` (the README's test
//! command) makes a virtualenv and points `KMS_PYTHON` at it; otherwise `python3` is used.
#![cfg(test)]

use alloy_primitives::{address, Address};
use kms_crypto::bls::{self, EvalPoint, PartialSignature, Polynomial};
use kms_crypto::bn254::{
    aggregate_g1, aggregate_g2, key_registrar_digest, key_registrar_key_data,
    registry_coordinator_digest, Eip712Domain, G1Point, G2Point, SecretKey,
};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};
use std::process::Command;

fn g1(p: &G1Point) -> Value {
    json!({ "x": p.x_dec(), "y": p.y_dec() })
}

fn g2(p: &G2Point) -> Value {
    let (x, y) = p.to_dec();
    json!({ "x": x, "y": y })
}

fn hex0x(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

fn bn254_cases(rng: &mut ChaCha20Rng) -> (Vec<Value>, Vec<Value>) {
    let mut cases = Vec::new();
    let keys: Vec<SecretKey> = (0..6).map(|_| SecretKey::random(rng)).collect();
    for (i, sk) in keys.iter().enumerate() {
        let msg = [i as u8 * 37 + 1; 32];
        let (point, sig) = sk.sign_hash(&msg);
        let sk_dec = sk.to_decimal().expose(|s| s.clone());
        let good = json!({
            "id": format!("bn254-{i}"), "expect_valid": true, "secret_key": sk_dec,
            "g1": g1(&sk.public_g1()), "g2": g2(&sk.public_g2()),
            "message_hash": hex0x(&msg), "message_point": g1(&point), "signature": g1(&sig),
        });
        cases.push(good.clone());
        // Tampered: signature off by the generator; G2 key of another secret.
        let mut bad_sig = good.clone();
        bad_sig["id"] = json!(format!("bn254-{i}-bad-signature"));
        bad_sig["expect_valid"] = json!(false);
        bad_sig["signature"] = g1(&aggregate_g1(&[sig, G1Point::generator()]).unwrap());
        cases.push(bad_sig);
        let mut bad_g2 = good;
        bad_g2["id"] = json!(format!("bn254-{i}-bad-g2"));
        bad_g2["expect_valid"] = json!(false);
        bad_g2["g2"] = g2(&keys[(i + 1) % keys.len()].public_g2());
        cases.push(bad_g2);
    }
    let msg = [0x5au8; 32];
    let sigs: Vec<G1Point> = keys.iter().map(|k| k.sign_hash(&msg).1).collect();
    let g2s: Vec<Value> = keys.iter().map(|k| g2(&k.public_g2())).collect();
    let agg = aggregate_g1(&sigs).unwrap();
    aggregate_g2(&keys.iter().map(|k| k.public_g2()).collect::<Vec<_>>()).unwrap();
    let aggregate = vec![
        json!({ "id": "agg-6", "expect_valid": true, "message_hash": hex0x(&msg), "g2_keys": g2s, "signature": g1(&agg) }),
        json!({ "id": "agg-missing-one", "expect_valid": false, "message_hash": hex0x(&msg),
                "g2_keys": g2s, "signature": g1(&aggregate_g1(&sigs[1..]).unwrap()) }),
    ];
    (cases, aggregate)
}

fn bls_cases(rng: &mut ChaCha20Rng) -> Vec<Value> {
    let mut cases = Vec::new();
    for (n, case) in [(4u8, 0u8), (7, 1), (10, 2)] {
        let t = bls::threshold_for(n as usize);
        let poly = Polynomial::random(t, rng).unwrap();
        let commitment = poly.commit();
        let app_id = format!("app-{case}").into_bytes();
        let partials: Vec<PartialSignature> = (0..n)
            .map(|i| {
                let point = EvalPoint::from_address(&[i + 1; 20]).unwrap();
                bls::partial_sign(&poly.evaluate(&point), &app_id)
            })
            .collect();
        let shares: Vec<String> = (0..n)
            .map(|i| {
                let share = poly.evaluate(&EvalPoint::from_address(&[i + 1; 20]).unwrap());
                share
                    .value
                    .expose(|v| v.to_bytes())
                    .expose(|b| alloy_primitives::U256::from_be_bytes(*b).to_string())
            })
            .collect();
        let (key, _) = bls::recover_verified(&commitment, &app_id, &partials).unwrap();
        let commitments: Vec<String> = commitment.to_bytes().chunks(96).map(hex0x).collect();
        let partial_json: Vec<Value> = partials
            .iter()
            .zip(&shares)
            .map(|(p, s)| {
                json!({
                    "eval_point": alloy_primitives::U256::from_be_bytes(p.point.to_bytes()).to_string(),
                    "share": s,
                    "signature": hex0x(&p.signature.to_bytes()),
                })
            })
            .collect();
        let good = json!({
            "id": format!("bls-n{n}"), "expect_valid": true,
            "dst": String::from_utf8(bls::APP_ID_DST.to_vec()).unwrap(),
            "app_id": hex0x(&app_id), "h_app": hex0x(&bls::hash_app_id(&app_id).to_bytes()),
            "threshold": t, "commitments": commitments, "partials": partial_json,
            "recovered": hex0x(&key.to_bytes().expose(|b| *b)),
        });
        cases.push(good.clone());
        // Tampered: one partial swapped for another app's; recovered key from t - 1 partials.
        let mut bad_partial = good.clone();
        bad_partial["id"] = json!(format!("bls-n{n}-bad-partial"));
        bad_partial["expect_valid"] = json!(false);
        let other = bls::partial_sign(&poly.evaluate(&partials[1].point), b"another-app");
        bad_partial["partials"][1]["signature"] = json!(hex0x(&other.signature.to_bytes()));
        cases.push(bad_partial);
        let mut bad_key = good;
        bad_key["id"] = json!(format!("bls-n{n}-bad-recovered"));
        bad_key["expect_valid"] = json!(false);
        let short = bls::recover(t - 1, &partials).unwrap();
        bad_key["recovered"] = json!(hex0x(&short.to_bytes()));
        cases.push(bad_key);
    }
    cases
}

fn domain_json(d: &Eip712Domain) -> Value {
    json!({ "name": d.name, "version": d.version, "chainId": d.chain_id, "verifyingContract": d.verifying_contract.to_checksum(None) })
}

fn eip712_domain_type() -> Value {
    json!([
        { "name": "name", "type": "string" }, { "name": "version", "type": "string" },
        { "name": "chainId", "type": "uint256" }, { "name": "verifyingContract", "type": "address" },
    ])
}

fn eip712_cases(rng: &mut ChaCha20Rng) -> Vec<Value> {
    let operator: Address = address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
    let mut cases = Vec::new();
    for chain_id in [1u64, 17000, 31337] {
        let d = Eip712Domain::registry_coordinator(
            chain_id,
            address!("5FbDB2315678afecb367f032d93F642f64180aa3"),
        );
        let digest = registry_coordinator_digest(&d, operator);
        let typed = json!({
            "types": { "EIP712Domain": eip712_domain_type(), "BN254PubkeyRegistration": [{ "name": "operator", "type": "address" }] },
            "primaryType": "BN254PubkeyRegistration", "domain": domain_json(&d),
            "message": { "operator": operator.to_checksum(None) },
        });
        cases.push(json!({ "id": format!("rc-{chain_id}"), "expect_valid": true, "typed_data": typed, "digest": hex0x(&digest) }));
        let mut flipped = digest;
        flipped[31] ^= 1;
        cases.push(json!({ "id": format!("rc-{chain_id}-bad"), "expect_valid": false, "typed_data": typed, "digest": hex0x(&flipped) }));
    }
    let sk = SecretKey::random(rng);
    let key_data = key_registrar_key_data(&sk.public_g1(), &sk.public_g2());
    let avs = address!("70997970C51812dc3A010C7d01b50e0d17dc79C8");
    let d =
        Eip712Domain::eigenlayer_core("1", 1, address!("54f4bC6bDEbe479173a2bbDc31dD7178408A57A4"));
    let digest = key_registrar_digest(&d, operator, avs, 7, &key_data);
    let typed = json!({
        "types": {
            "EIP712Domain": eip712_domain_type(),
            "BN254KeyRegistration": [
                { "name": "operator", "type": "address" }, { "name": "avs", "type": "address" },
                { "name": "operatorSetId", "type": "uint32" }, { "name": "keyData", "type": "bytes" },
            ],
        },
        "primaryType": "BN254KeyRegistration", "domain": domain_json(&d),
        "message": { "operator": operator.to_checksum(None), "avs": avs.to_checksum(None), "operatorSetId": 7, "keyData": hex0x(&key_data) },
    });
    cases.push(json!({ "id": "kr-1", "expect_valid": true, "typed_data": typed, "digest": hex0x(&digest) }));
    let other = key_registrar_digest(&d, operator, avs, 8, &key_data);
    cases.push(json!({ "id": "kr-1-other-set", "expect_valid": false, "typed_data": typed, "digest": hex0x(&other) }));
    cases
}

/// Schnorr signatures under BN254 operator keys (docs/0006), good and tampered.
fn schnorr_cases(rng: &mut ChaCha20Rng) -> Vec<Value> {
    let mut cases = Vec::new();
    for i in 0..4u8 {
        let sk = SecretKey::random(rng);
        let msg = [i.wrapping_mul(53).wrapping_add(3); 32];
        let sig = sk.schnorr_sign(&msg);
        let good = json!({
            "id": format!("schnorr-{i}"), "expect_valid": true,
            "secret_key": sk.to_decimal().expose(|s| s.clone()),
            "g1": g1(&sk.public_g1()), "message_hash": hex0x(&msg),
            "R": g1(sig.nonce_point()), "s": sig.s().to_string(),
        });
        cases.push(good.clone());
        let mut bad_s = good.clone();
        bad_s["id"] = json!(format!("schnorr-{i}-bad-s"));
        bad_s["expect_valid"] = json!(false);
        bad_s["s"] = json!((sig.s() + alloy_primitives::U256::from(1)).to_string());
        cases.push(bad_s);
        let mut bad_msg = good;
        bad_msg["id"] = json!(format!("schnorr-{i}-other-message"));
        bad_msg["expect_valid"] = json!(false);
        bad_msg["message_hash"] = json!(hex0x(&[0xeeu8; 32]));
        cases.push(bad_msg);
    }
    cases
}

#[test]
fn py_ecc_and_eth_account_agree_with_our_outputs() {
    let mut rng = ChaCha20Rng::seed_from_u64(2026);
    let (bn254, bn254_aggregate) = bn254_cases(&mut rng);
    let bls12381 = bls_cases(&mut rng);
    let eip712 = eip712_cases(&mut rng);
    let schnorr = schnorr_cases(&mut rng);
    let total = bn254.len() + bn254_aggregate.len() + bls12381.len() + eip712.len() + schnorr.len();
    let cases = json!({ "bn254": bn254, "bn254_aggregate": bn254_aggregate, "bn254_schnorr": schnorr, "bls12381": bls12381, "eip712": eip712 });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cases.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&cases).unwrap()).unwrap();
    let script = format!("{}/tests/interop/check.py", env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var("KMS_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .arg(&script)
        .arg(&file)
        .output()
        .expect(
        "python3 must be installed (see README: the test command installs the checker's packages)",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "checker failed:\n{stdout}\n{stderr}");
    let expected = format!("{total} passed, 0 failed");
    assert!(
        stdout.lines().any(|l| l.trim() == expected),
        "expected '{expected}' in:\n{stdout}\n{stderr}"
    );
}
