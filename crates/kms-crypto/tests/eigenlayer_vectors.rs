//! Known-answer vectors from public EigenLayer sources (see `tests/vectors/README.md`): BN254.sol's
//! hashToG1, known keys and their G1/G2 public keys, signatures, and registration type hashes.
#![cfg(test)]

use alloy_primitives::keccak256;
use kms_crypto::bn254::{
    hash_to_g1, verify_signature, G1Point, G2Point, SecretKey, KEY_REGISTRAR_TYPE,
    REGISTRY_COORDINATOR_TYPE,
};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn digest(v: &Value) -> [u8; 32] {
    let text = v.as_str().unwrap();
    hex::decode(text.trim_start_matches("0x"))
        .unwrap()
        .try_into()
        .unwrap()
}

fn g1(v: &Value) -> G1Point {
    G1Point::from_dec_or_hex(v["x"].as_str().unwrap(), v["y"].as_str().unwrap()).unwrap()
}

fn g2(v: &Value) -> G2Point {
    let s = |a: &Value, i: usize| a[i].as_str().unwrap().to_owned();
    let (x, y) = (&v["x"], &v["y"]);
    G2Point::from_dec_or_hex([&s(x, 0), &s(x, 1)], [&s(y, 0), &s(y, 1)]).unwrap()
}

#[test]
fn hash_to_g1_matches_published_outputs() {
    let file = load("bn254_hash_to_g1.json");
    let mut checked = 0;
    for key in ["vectors", "derived_vectors_use_with_care"] {
        for v in file[key].as_array().unwrap() {
            let p = hash_to_g1(&digest(&v["message_hash"]));
            assert_eq!(p.x_dec(), v["x"].as_str().unwrap(), "{}", v["source"]);
            assert_eq!(p.y_dec(), v["y"].as_str().unwrap(), "{}", v["source"]);
            checked += 1;
        }
    }
    assert!(checked >= 2);
}

#[test]
fn known_keys_signatures_and_points_match() {
    let file = load("bn254_signatures.json");
    let vectors = file["vectors"].as_array().unwrap();
    let (mut keys, mut sigs) = (0, 0);
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let sk = SecretKey::from_int_str(v["secret_key"].as_str().unwrap()).unwrap();
        if !v["g1"].is_null() {
            assert_eq!(sk.public_g1(), g1(&v["g1"]), "{name}: g1");
            keys += 1;
        }
        if !v["g2"].is_null() {
            assert_eq!(sk.public_g2(), g2(&v["g2"]), "{name}: g2");
            keys += 1;
        }
        if v["message_hash"].is_null() {
            continue;
        }
        let msg = digest(&v["message_hash"]);
        let (point, sig) = sk.sign_hash(&msg);
        if !v["message_point"].is_null() {
            assert_eq!(point, g1(&v["message_point"]), "{name}: message point");
        }
        if !v["signature"].is_null() {
            assert_eq!(sig, g1(&v["signature"]), "{name}: signature");
            verify_signature(&msg, &sig, &sk.public_g1(), &sk.public_g2()).unwrap();
            sigs += 1;
        }
    }
    assert!(
        keys >= 10 && sigs >= 3,
        "too few vectors checked: {keys} keys, {sigs} signatures"
    );
}

#[test]
fn registration_type_hashes_match_deployed_bytecode() {
    let file = load("eigenlayer_registration.json");
    let rc = &file["registry_coordinator"];
    assert_eq!(rc["typehash_string"], REGISTRY_COORDINATOR_TYPE);
    assert_eq!(
        format!("{}", keccak256(REGISTRY_COORDINATOR_TYPE.as_bytes())),
        rc["typehash_value"].as_str().unwrap()
    );
    let kr = &file["key_registrar"];
    assert_eq!(kr["bn254_typehash_string"], KEY_REGISTRAR_TYPE);
    assert_eq!(
        format!("{}", keccak256(KEY_REGISTRAR_TYPE.as_bytes())),
        kr["bn254_typehash_value"].as_str().unwrap()
    );
    assert_eq!(rc["eip712_domain_name"], "AVSRegistryCoordinator");
    assert_eq!(rc["eip712_domain_version"], "v0.0.1");
    let domain = kms_crypto::bn254::Eip712Domain::registry_coordinator(1, Default::default());
    assert_eq!(
        (domain.name.as_str(), domain.version.as_str()),
        ("AVSRegistryCoordinator", "v0.0.1")
    );
    assert_eq!(kr["eip712_domain_name"], "EigenLayer");
}
