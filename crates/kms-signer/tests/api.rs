//! The real service over HTTP: every route and every error class.
#![cfg(test)]

mod common;

use alloy_primitives::{address, b256, U256};
use common::*;
use kms_crypto::bn254::{
    hash_to_g1, verify_point_signature, verify_registration, verify_signature,
};
use serde_json::json;

const HASH: alloy_primitives::B256 =
    b256!("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20");

fn started() -> (tempfile::TempDir, Signer, Http) {
    let dir = tempfile::tempdir().unwrap();
    let s = Signer::start(dir.path(), &[]);
    let http = Http::new(&s.url);
    (dir, s, http)
}

#[test]
fn create_then_read_and_a_second_create_is_a_conflict() {
    let (_d, _s, http) = started();
    let mut op = Operator::new(1);
    let (status, body) = http.post("/v1/keys", &op.create_body());
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["active_version"], 1);
    assert_eq!(body["versions"][0]["state"], "active");
    let g1_created = g1(&body["versions"][0]["g1"]);
    let (status, read) = http.get(&format!("/v1/keys/{}", op.eoa()));
    assert_eq!(status, 200);
    assert_eq!(g1(&read["versions"][0]["g1"]), g1_created);
    let (_, list) = http.get("/v1/keys");
    assert_eq!(list["keys"].as_array().unwrap().len(), 1);
    let (status, again) = http.post("/v1/keys", &op.create_body());
    assert_eq!((status, code(&again)), (409, "key_exists"));
    // The key is unchanged by the refused create.
    let (_, read) = http.get(&format!("/v1/keys/{}", op.eoa()));
    assert_eq!(g1(&read["versions"][0]["g1"]), g1_created);
}

#[test]
fn sign_scalar_mul_and_registration_verify_as_eigenlayer_does() {
    let (_d, _s, http) = started();
    let mut op = Operator::new(2);
    http.post("/v1/keys", &op.create_body());
    let eoa = op.eoa();
    let path = |r: &str| format!("/v1/keys/{eoa}/{r}");

    let (status, signed) = http.post(&path("sign"), &op.sign_body(HASH, 0));
    assert_eq!(status, 200, "{signed}");
    let (pk1, pk2) = (g1(&signed["g1"]), g2(&signed["g2"]));
    verify_signature(&HASH.0, &g1(&signed["signature"]), &pk1, &pk2).unwrap();
    assert_eq!(g1(&signed["message_point"]), hash_to_g1(&HASH.0));

    let h = hash_to_g1(&HASH.0);
    let (status, mul) = http.post(&path("scalar-mul"), &op.scalar_mul_body(h.x(), h.y()));
    assert_eq!(status, 200, "{mul}");
    assert_eq!(mul["signature"], signed["signature"]);
    verify_point_signature(&h, &g1(&mul["signature"]), &pk2).unwrap();

    let registry = address!("5FbDB2315678afecb367f032d93F642f64180aa3");
    let (status, reg) = http.post(
        &path("registration"),
        &op.registration_body(registry, 31337),
    );
    assert_eq!(status, 200, "{reg}");
    let params = &reg["pubkeyRegistrationParams"];
    verify_registration(
        &g1(&reg["message_point"]),
        &g1(&params["pubkeyRegistrationSignature"]),
        &pk1,
        &pk2,
    )
    .unwrap();
}

#[test]
fn authentication_failures_are_refused_and_change_nothing() {
    let (_d, _s, http) = started();
    let mut op = Operator::new(3);
    http.post("/v1/keys", &op.create_body());
    let url = format!("/v1/keys/{}/sign", op.eoa());

    // Replay: the same body twice.
    let body = op.sign_body(HASH, 0);
    assert_eq!(http.post(&url, &body).0, 200);
    let (status, r) = http.post(&url, &body);
    assert_eq!((status, code(&r)), (409, "nonce_reused"));

    // Expired and too-far deadlines (signed correctly for those deadlines).
    for (deadline, expected) in [
        (now() - 1, "expired"),
        (now() + 100_000, "deadline_too_far"),
    ] {
        let fresh = kms_crypto::auth::Freshness {
            nonce: 77_000 + deadline % 1000,
            deadline,
        };
        let req = kms_crypto::auth::Request::SignHash {
            operator: op.eoa(),
            message_hash: HASH,
            key_version: 0,
            fresh,
        };
        let b = json!({ "message_hash": HASH.to_string(), "nonce": fresh.nonce, "deadline": deadline, "signature": op.sign(&req) });
        let (status, r) = http.post(&url, &b);
        assert_eq!((status, code(&r)), (401, expected));
    }

    // Signed by another EOA.
    let mut mallory = Operator::new(4);
    let mut forged = mallory.sign_body(HASH, 0);
    forged["nonce"] = json!(mallory.nonce);
    let (status, r) = http.post(&url, &forged);
    assert_eq!((status, code(&r)), (401, "wrong_signer"));

    // Signed for another chain id.
    let mut other_chain = Operator::new(3);
    other_chain.chain_id = 1;
    other_chain.nonce = 5_000_000;
    let (status, r) = http.post(&url, &other_chain.sign_body(HASH, 0));
    assert_eq!((status, code(&r)), (401, "wrong_signer"));

    // A malleated (high-s) copy of a valid signature.
    let mut body = op.sign_body(HASH, 0);
    let sig = hex::decode(&body["signature"].as_str().unwrap()[2..]).unwrap();
    let n = U256::from_str_radix(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        16,
    )
    .unwrap();
    let mut high = sig.clone();
    high[32..64].copy_from_slice(&(n - U256::from_be_slice(&sig[32..64])).to_be_bytes::<32>());
    high[64] = if sig[64] == 27 { 28 } else { 27 };
    body["signature"] = json!(format!("0x{}", hex::encode(&high)));
    let (status, r) = http.post(&url, &body);
    assert_eq!((status, code(&r)), (401, "bad_signature"));
    // The untouched signature of that same body still works: nothing was consumed.
    body["signature"] = json!(format!("0x{}", hex::encode(&sig)));
    assert_eq!(http.post(&url, &body).0, 200);

    // A valid signature for an EOA without a key.
    let mut stranger = Operator::new(5);
    let (status, r) = http.post(
        &format!("/v1/keys/{}/sign", stranger.eoa()),
        &stranger.sign_body(HASH, 0),
    );
    assert_eq!((status, code(&r)), (404, "unknown_key"));
    let (status, r) = http.get(&format!("/v1/keys/{}", stranger.eoa()));
    assert_eq!((status, code(&r)), (404, "unknown_key"));
}

#[test]
fn malformed_input_gets_stable_4xx_codes() {
    let (_d, _s, http) = started();
    let mut op = Operator::new(6);
    http.post("/v1/keys", &op.create_body());
    let url = format!("/v1/keys/{}/sign", op.eoa());
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"{not json".to_vec(), 400, "bad_json"),
        (b"{}".to_vec(), 400, "bad_json"),
        (br#"{"message_hash":"0x12","nonce":1,"deadline":1,"signature":"0x"}"#.to_vec(), 400, "invalid_hash"),
        (br#"{"message_hash":"zz","nonce":1,"deadline":1,"signature":"0x"}"#.to_vec(), 400, "invalid_hash"),
        (br#"{"message_hash":"0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20","nonce":-1,"deadline":1,"signature":"0x"}"#.to_vec(), 400, "bad_json"),
        (br#"{"message_hash":"0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20","nonce":1,"deadline":1,"signature":"0x","extra":1}"#.to_vec(), 400, "bad_json"),
        (vec![b' '; 64 * 1024], 413, "body_too_large"),
    ];
    for (body, status, expected) in cases {
        let (s, r) = http.post_raw(&url, body);
        assert_eq!((s, code(&r)), (status, expected));
    }
    let (s, r) = http.post_raw("/v1/keys/not-an-address/sign", b"{}".to_vec());
    assert!(s == 400, "{s} {r}");
    let (s, r) = http.get("/v1/nothing-here");
    assert_eq!((s, code(&r)), (404, "no_route"));
    let (s, r) = http.get("/v1/keys/0x1234");
    assert_eq!((s, code(&r)), (400, "invalid_address"));
}

#[test]
fn invalid_curve_points_are_refused_before_the_key_is_touched() {
    let (_d, _s, http) = started();
    let mut op = Operator::new(7);
    http.post("/v1/keys", &op.create_body());
    let url = format!("/v1/keys/{}/scalar-mul", op.eoa());
    let p = U256::from_str_radix(
        "21888242871839275222246405745257275088696311157297823662689037894645226208583",
        10,
    )
    .unwrap();
    let mut somedata = [0u8; 32];
    somedata[..8].copy_from_slice(b"somedata");
    let bad = [
        (U256::ZERO, U256::ZERO),                    // identity (EVM encoding)
        (U256::from(1), U256::from(1)),              // on y^2 = x^3
        (U256::from(2), U256::from(3)),              // on y^2 = x^3 + 1
        (U256::ZERO, U256::from(2)),                 // on y^2 = x^3 + 4
        (p + U256::from(1), U256::from(2)),          // x >= p
        (U256::from_be_bytes(somedata), U256::ZERO), // cerberus's test point
    ];
    for (x, y) in bad {
        let body = op.scalar_mul_body(x, y);
        let (status, r) = http.post(&url, &body);
        assert_eq!((status, code(&r)), (400, "invalid_point"), "({x}, {y})");
        // The nonce was not consumed: the key was never used for it.
        let n = body["nonce"].as_u64().unwrap();
        op.nonce = n - 1;
        let g = kms_crypto::bn254::G1Point::generator();
        let (status, _) = http.post(&url, &op.scalar_mul_body(g.x(), g.y()));
        assert_eq!(status, 200);
    }
}

#[test]
fn seed_routes_remain_as_authenticated_aliases() {
    let (_d, _s, http) = started();
    let mut op = Operator::new(8);
    http.post("/v1/keys", &op.create_body());
    let (s, k) = http.get(&format!("/api/keys/{}", op.eoa()));
    assert_eq!(s, 200);
    assert_eq!(k["active_version"], 1);
    assert_eq!(http.get("/api/keys").1["keys"].as_array().unwrap().len(), 1);
    let h = hash_to_g1(&HASH.0);
    let mut body = op.scalar_mul_body(h.x(), h.y());
    let legacy = json!({
        "eoa_address": op.eoa().to_string(), "hash_x": h.x_dec(), "hash_y": h.y_dec(),
        "nonce": body["nonce"], "deadline": body["deadline"], "signature": body["signature"],
    });
    let (s, r) = http.post("/api/scalar_mul", &legacy);
    assert_eq!(s, 200, "{r}");
    verify_point_signature(&h, &g1(&r["signature"]), &g2(&r["g2"])).unwrap();
    assert!(r.get("private_key").is_none() && r.get("secret_key").is_none());
    // Without a valid signature the alias refuses, like the main route.
    body["signature"] = json!("0x00");
    let unsigned = json!({ "eoa_address": op.eoa().to_string(), "hash_x": h.x_dec(), "hash_y": h.y_dec(), "nonce": 1, "deadline": now() + 10, "signature": "0x00" });
    assert_eq!(http.post("/api/scalar_mul", &unsigned).0, 401);
    let sb = op.sign_body(HASH, 0);
    let legacy_sign = json!({ "eoa_address": op.eoa().to_string(), "message_hash": HASH.to_string(), "nonce": sb["nonce"], "deadline": sb["deadline"], "signature": sb["signature"] });
    let (s, r) = http.post("/api/sign", &legacy_sign);
    assert_eq!(s, 200, "{r}");
}

#[test]
fn health_metrics_and_openapi_are_served() {
    let (_d, _s, http) = started();
    let mut op = Operator::new(9);
    http.post("/v1/keys", &op.create_body());
    http.post(
        &format!("/v1/keys/{}/sign", op.eoa()),
        &op.sign_body(HASH, 0),
    );
    let (s, h) = http.get("/healthz");
    assert_eq!((s, h["status"].as_str()), (200, Some("ok")));
    let (s, m) = http.get_text("/metrics");
    assert_eq!(s, 200);
    assert!(
        m.contains(r#"kms_signer_requests_total{route="/v1/keys/{eoa}/sign",status="200"} 1"#),
        "{m}"
    );
    assert!(m.contains(r#"kms_signer_keys{state="active"} 1"#), "{m}");
    assert!(m.contains("kms_signer_signing_seconds_count 1"), "{m}");
    let (s, doc) = http.get("/openapi.json");
    assert_eq!(s, 200);
    for route in [
        "/v1/keys/{eoa}/sign",
        "/v1/keys/{eoa}/api-keys",
        "/v1/keys/{eoa}/api-keys/list",
        "/v1/keys/{eoa}/api-keys/revoke",
    ] {
        assert!(doc["paths"][route]["post"].is_object(), "{route} missing");
    }
}

#[test]
fn per_eoa_rate_limit_answers_429_and_spares_other_eoas() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("signer.toml");
    std::fs::write(&cfg, "rate_limit_per_sec = 1\nrate_limit_burst = 3\n").unwrap();
    let s = Signer::start(dir.path(), &["--config", cfg.to_str().unwrap()]);
    let http = Http::new(&s.url);
    let mut op = Operator::new(30);
    let mut other = Operator::new(31);
    assert_eq!(http.post("/v1/keys", &op.create_body()).0, 201);
    let url = format!("/v1/keys/{}/sign", op.eoa());
    let statuses: Vec<u16> = (0..4)
        .map(|_| http.post(&url, &op.sign_body(HASH, 0)).0)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        2,
        "{statuses:?}"
    );
    let (status, r) = http.post(&url, &op.sign_body(HASH, 0));
    assert_eq!((status, code(&r)), (429, "rate_limited"));
    // Another EOA has its own budget.
    assert_eq!(http.post("/v1/keys", &other.create_body()).0, 201);
}

#[test]
fn unknown_config_fields_stop_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("signer.toml");
    std::fs::write(&cfg, "rate_limit_per_second = 1\n").unwrap();
    std::fs::write(dir.path().join("kek.pass"), "x").unwrap();
    let out = std::process::Command::new(bin())
        .args([
            "serve",
            "--config",
            cfg.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--kek-passphrase-file")
        .arg(dir.path().join("kek.pass"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown field"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn only_allowed_creators_get_keys_when_a_list_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let mut allowed = Operator::new(50);
    let mut other = Operator::new(51);
    let cfg = dir.path().join("signer.toml");
    std::fs::write(
        &cfg,
        format!("allowed_creators = [\"{}\"]\n", allowed.eoa()),
    )
    .unwrap();
    let s = Signer::start(dir.path(), &["--config", cfg.to_str().unwrap()]);
    let http = Http::new(&s.url);
    let (status, r) = http.post("/v1/keys", &other.create_body());
    assert_eq!((status, code(&r)), (403, "creator_not_allowed"));
    assert_eq!(http.post("/v1/keys", &allowed.create_body()).0, 201);
    // A malformed list is refused at start.
    std::fs::write(&cfg, "allowed_creators = [\"nope\"]\n").unwrap();
    let out = std::process::Command::new(bin())
        .args(["serve", "--config", cfg.to_str().unwrap(), "--data-dir"])
        .arg(dir.path().join("other"))
        .arg("--kek-passphrase-file")
        .arg(dir.path().join("kek.pass"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("allowed_creators"));
}

#[test]
fn a_salted_domain_binds_requests_to_one_deployment() {
    let salt = alloy_primitives::B256::repeat_byte(0x5a);
    let dir = tempfile::tempdir().unwrap();
    let s = Signer::start(dir.path(), &["--eip712-salt", &salt.to_string()]);
    let http = Http::new(&s.url);
    let (status, domain) = http.get("/v1/domain");
    assert_eq!(status, 200);
    assert_eq!(domain["salt"], salt.to_string());
    assert_eq!(domain["accept_unsalted"], false);

    // Signed for an unsalted deployment (or another salt): not this one's.
    let mut op = Operator::new(55);
    let (status, r) = http.post("/v1/keys", &op.create_body());
    assert_eq!((status, code(&r)), (401, "wrong_signer"));
    op.salt = Some(alloy_primitives::B256::repeat_byte(0x5b));
    let (status, r) = http.post("/v1/keys", &op.create_body());
    assert_eq!((status, code(&r)), (401, "wrong_signer"));
    op.salt = Some(salt);
    assert_eq!(http.post("/v1/keys", &op.create_body()).0, 201);
    s.stop();

    // A migration period: both domains are accepted.
    let cfg = dir.path().join("signer.toml");
    std::fs::write(
        &cfg,
        format!("eip712_salt = \"{salt}\"\naccept_unsalted = true\n"),
    )
    .unwrap();
    let s = Signer::start(dir.path(), &["--config", cfg.to_str().unwrap()]);
    let http = Http::new(&s.url);
    let url = format!("/v1/keys/{}/sign", op.eoa());
    assert_eq!(http.post(&url, &op.sign_body(HASH, 0)).0, 200);
    op.salt = None;
    assert_eq!(http.post(&url, &op.sign_body(HASH, 0)).0, 200);
    op.salt = Some(alloy_primitives::B256::repeat_byte(0x5b));
    let (status, r) = http.post(&url, &op.sign_body(HASH, 0));
    assert_eq!((status, code(&r)), (401, "wrong_signer"));
}

#[test]
fn replays_do_not_spend_the_operators_budget_and_sources_are_limited() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("signer.toml");
    std::fs::write(&cfg, "rate_limit_per_sec = 1\nrate_limit_burst = 3\n").unwrap();
    let s = Signer::start(dir.path(), &["--config", cfg.to_str().unwrap()]);
    let http = Http::new(&s.url);
    let mut op = Operator::new(56);
    assert_eq!(http.post("/v1/keys", &op.create_body()).0, 201);
    let url = format!("/v1/keys/{}/sign", op.eoa());
    // Someone resends a request they saw, many times over the EOA's whole bucket.
    let seen = op.sign_body(HASH, 0);
    assert_eq!(http.post(&url, &seen).0, 200);
    for _ in 0..10 {
        let (status, r) = http.post(&url, &seen);
        assert_eq!((status, code(&r)), (409, "nonce_reused"));
    }
    // The operator's own next request still goes through.
    let (status, r) = http.post(&url, &op.sign_body(HASH, 0));
    assert_eq!(status, 200, "{r}");
    s.stop();

    // A per-source bucket comes before everything, unmatched routes included.
    std::fs::write(
        &cfg,
        "source_rate_limit_per_sec = 1\nsource_rate_limit_burst = 2\n",
    )
    .unwrap();
    let s = Signer::start(dir.path(), &["--config", cfg.to_str().unwrap()]);
    let http = Http::new(&s.url);
    let statuses: Vec<u16> = (0..4).map(|_| http.get("/nothing-here").0).collect();
    assert_eq!(statuses[..2], [404, 404], "{statuses:?}");
    let (status, r) = http.get("/healthz");
    assert_eq!((status, code(&r)), (429, "rate_limited"));
}

#[test]
fn a_flood_naming_an_operator_neither_locks_it_out_nor_grows_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("signer.toml");
    // A tight per-EOA bucket: if a flood could draw on it, the operator would be locked out.
    std::fs::write(&cfg, "rate_limit_per_sec = 1\nrate_limit_burst = 3\n").unwrap();
    let s = Signer::start(dir.path(), &["--config", cfg.to_str().unwrap()]);
    let http = Http::new(&s.url);
    let mut op = Operator::new(57);
    assert_eq!(http.post("/v1/keys", &op.create_body()).0, 201);
    let url = format!("/v1/keys/{}/sign", op.eoa());

    // An outsider sends 300 requests: naming the operator, `deadline: 1` with a well-formed
    // signature of its own and fresh ones signed by the wrong EOA; and its own signed requests
    // sent to other (keyless) EOAs' paths. None of them verifies for the EOA it names.
    let mut mallory = Operator::new(58);
    let mut codes = std::collections::BTreeMap::<String, u32>::new();
    for i in 0..100u64 {
        let fresh = kms_crypto::auth::Freshness {
            nonce: 9_000 + i,
            deadline: 1,
        };
        let req = kms_crypto::auth::Request::SignHash {
            operator: op.eoa(),
            message_hash: HASH,
            key_version: 0,
            fresh,
        };
        let expired = json!({ "message_hash": HASH.to_string(), "nonce": fresh.nonce, "deadline": 1, "signature": mallory.sign(&req) });
        let mut forged = mallory.sign_body(HASH, 0);
        forged["nonce"] = json!(mallory.nonce);
        let stranger = Operator::new(1_000 + i);
        for (path, body) in [
            (url.clone(), expired),
            (url.clone(), forged),
            (
                format!("/v1/keys/{}/sign", stranger.eoa()),
                mallory.sign_body(HASH, 0),
            ),
        ] {
            let (status, r) = http.post(&path, &body);
            assert_eq!(status, 401, "{r}");
            *codes.entry(code(&r).to_owned()).or_default() += 1;
        }
    }
    assert_eq!(codes.get("expired"), Some(&100), "{codes:?}");
    assert_eq!(codes.get("wrong_signer"), Some(&200), "{codes:?}");

    // The operator still signs at once.
    let (status, r) = http.post(&url, &op.sign_body(HASH, 0));
    assert_eq!(status, 200, "{r}");
    // The refusals are counted, not written.
    let (_, metrics) = http.get_text("/metrics");
    let counted: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("kms_signer_unauthenticated_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(counted >= 300, "{counted}\n{metrics}");
    s.stop();
    let ops: Vec<String> = audit_records(dir.path())
        .iter()
        .map(|r| r["op"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(ops, ["CreateKey", "SignHash"], "the flood left audit rows");
}
