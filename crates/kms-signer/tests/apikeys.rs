//! Delegated API keys over REST, attacked: scopes, operators, sources, expiry, revocation and
//! forged tokens, with every use in the audit log and no token anywhere but the creating answer.
#![cfg(test)]

mod common;

use alloy_primitives::b256;
use common::*;
use kms_crypto::bn254::{hash_to_g1, verify_signature};
use serde_json::json;

const HASH: alloy_primitives::B256 =
    b256!("abababababababababababababababababababababababababababababababab");

fn started() -> (tempfile::TempDir, Signer, Http, Operator) {
    let dir = tempfile::tempdir().unwrap();
    let s = Signer::start(dir.path(), &[]);
    let http = Http::new(&s.url);
    let mut op = Operator::new(40);
    assert_eq!(http.post("/v1/keys", &op.create_body()).0, 201);
    (dir, s, http, op)
}

fn sign_body() -> serde_json::Value {
    json!({ "message_hash": HASH.to_string() })
}

#[test]
fn an_api_key_signs_within_its_scopes_until_revoked_and_everything_is_audited() {
    let (dir, s, http, mut op) = started();
    let eoa = op.eoa();
    let (id, token) = op.api_key(&http, "sign", "");
    let hash = kms_crypto::auth::api_token_hash(&token);
    assert_eq!(id, kms_crypto::auth::api_key_id(&eoa, &hash));
    let sign = format!("/v1/keys/{eoa}/sign");

    // Signs without a nonce or an EOA signature, and the signature verifies.
    let (status, r) = http.post_bearer(&sign, &token, &sign_body());
    assert_eq!(status, 200, "{r}");
    verify_signature(&HASH.0, &g1(&r["signature"]), &g1(&r["g1"]), &g2(&r["g2"])).unwrap();
    // The same request again is fine: a token is not a nonce.
    assert_eq!(http.post_bearer(&sign, &token, &sign_body()).0, 200);

    // Outside its scope: scalar-mul is refused.
    let h = hash_to_g1(&HASH.0);
    let point = json!({ "hash": { "x": h.x().to_string(), "y": h.y().to_string() } });
    let (status, r) = http.post_bearer(&format!("/v1/keys/{eoa}/scalar-mul"), &token, &point);
    assert_eq!((status, code(&r)), (403, "scope_denied"));

    // Another operator's key, named in the path: refused.
    let mut other = Operator::new(41);
    assert_eq!(http.post("/v1/keys", &other.create_body()).0, 201);
    let (status, r) = http.post_bearer(
        &format!("/v1/keys/{}/sign", other.eoa()),
        &token,
        &sign_body(),
    );
    assert_eq!((status, code(&r)), (401, "invalid_api_key"));

    // Forged tokens: another token, the stored hash itself, garbage; and an EOA-signed body's
    // fields in a bearer request.
    let hash_text = format!("{hash:#x}");
    for bad in [new_token().as_str(), hash_text.as_str(), "kms_nothing", ""] {
        let (status, r) = http.post_bearer(&sign, bad, &sign_body());
        assert_eq!((status, code(&r)), (401, "invalid_api_key"), "{bad}");
    }
    let (status, r) = http.post_bearer(&sign, &token, &op.sign_body(HASH, 0));
    assert_eq!((status, code(&r)), (400, "bad_json"));

    // A copy of the signed creation (from a proxy's log, or sent to another service) is worth
    // nothing: it is spent here, and it names only the token's hash. The same token hash again
    // under a new signature is refused too.
    let token2 = new_token();
    let body = op.create_api_key_body_for(&token2, "twice", "sign", 0, "");
    let create = format!("/v1/keys/{eoa}/api-keys");
    let (status, created) = http.post(&create, &body);
    assert_eq!(status, 201, "{created}");
    assert!(!created.to_string().contains(&token2[4..]), "{created}");
    // Replayed as is: the nonce is spent.
    let (status, r) = http.post(&create, &body);
    assert_eq!((status, code(&r)), (409, "nonce_reused"));
    let (status, r) = http.post(
        &create,
        &op.create_api_key_body_for(&token2, "again", "sign", 0, ""),
    );
    assert_eq!((status, code(&r)), (409, "api_key_exists"));

    // Listing shows the key and never a token.
    let (status, list) = http.post(
        &format!("/v1/keys/{eoa}/api-keys/list"),
        &op.list_api_keys_body(),
    );
    assert_eq!(status, 200, "{list}");
    let keys = list["api_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{list}");
    let listed = keys.iter().find(|k| k["id"] == id.as_str()).unwrap();
    assert!(listed["revoked_at"].is_null());
    assert_eq!(listed["scopes"], "sign");
    assert!(!list.to_string().contains(&token[4..]));
    assert!(!list.to_string().contains(&token2[4..]));

    // Another EOA cannot revoke it; its owner can, and the next use is refused.
    let (status, r) = http.post(
        &format!("/v1/keys/{}/api-keys/revoke", other.eoa()),
        &other.revoke_api_key_body(&id),
    );
    assert_eq!((status, code(&r)), (404, "unknown_api_key"));
    assert_eq!(http.post_bearer(&sign, &token, &sign_body()).0, 200);
    let (status, r) = http.post(
        &format!("/v1/keys/{eoa}/api-keys/revoke"),
        &op.revoke_api_key_body(&id),
    );
    assert_eq!(status, 200, "{r}");
    assert!(r["revoked_at"].is_u64());
    let (status, r) = http.post_bearer(&sign, &token, &sign_body());
    assert_eq!((status, code(&r)), (401, "api_key_revoked"));
    // Revoking twice is refused.
    let (status, r) = http.post(
        &format!("/v1/keys/{eoa}/api-keys/revoke"),
        &op.revoke_api_key_body(&id),
    );
    assert_eq!((status, code(&r)), (404, "unknown_api_key"));

    // The revocation survives a restart.
    s.stop();
    let s = Signer::start(dir.path(), &[]);
    let http = Http::new(&s.url);
    let (status, r) = http.post_bearer(&sign, &token, &sign_body());
    assert_eq!((status, code(&r)), (401, "api_key_revoked"));
    s.stop();

    // Every use and refusal of the key is recorded with its id; forged tokens are not (they
    // are only counted). The token is in no record and in no log line, and the store holds
    // it only as a hash.
    let records = audit_records(dir.path());
    assert!(
        records.iter().all(|r| r["outcome"] != "invalid_api_key"),
        "a forged token was audited"
    );
    let with_key = audit_ops_of_api_key(dir.path(), &id);
    assert_eq!(
        with_key,
        [
            "CreateApiKey:ok",
            "SignHash:ok",
            "SignHash:ok",
            "ScalarMul:scope_denied",
            "SignHash:ok",
            "RevokeApiKey:ok",
            "SignHash:api_key_revoked",
            "RevokeApiKey:unknown_api_key",
            "SignHash:api_key_revoked",
        ]
    );
    let secret = &token[4..];
    let mut files = vec![dir.path().to_path_buf()];
    let mut scanned = 0;
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else if p.is_file() {
            // (The admin socket is neither a directory nor a file.)
            let bytes = std::fs::read(&p).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "token in {}",
                p.display()
            );
            scanned += 1;
        }
    }
    assert!(scanned >= 3, "the logs and the store were scanned");
    let out = admin(dir.path(), &["audit", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn expiry_sources_and_bad_creations_are_enforced() {
    let (_d, _s, http, mut op) = started();
    let eoa = op.eoa();
    let create = format!("/v1/keys/{eoa}/api-keys");
    let sign = format!("/v1/keys/{eoa}/sign");

    // A key allowed only from another address is refused from loopback; one allowed from
    // 127.0.0.0/8 works.
    let (_, elsewhere) = op.api_key(&http, "sign", "10.0.0.0/8,::2");
    let (status, r) = http.post_bearer(&sign, &elsewhere, &sign_body());
    assert_eq!((status, code(&r)), (403, "source_denied"));
    let (_, local) = op.api_key(&http, "sign,scalar-mul", "127.0.0.0/8");
    assert_eq!(http.post_bearer(&sign, &local, &sign_body()).0, 200);

    // A key that expires in two seconds works, then does not.
    let short = new_token();
    let body = op.create_api_key_body_for(&short, "short", "sign", now() + 2, "");
    let (status, r) = http.post(&create, &body);
    assert_eq!(status, 201, "{r}");
    assert_eq!(http.post_bearer(&sign, &short, &sign_body()).0, 200);
    std::thread::sleep(std::time::Duration::from_millis(3100));
    let (status, r) = http.post_bearer(&sign, &short, &sign_body());
    assert_eq!((status, code(&r)), (401, "api_key_expired"));

    // Creations refused at the edge, each with its code.
    for (label, scopes, expires, sources, want) in [
        ("x", "scalar-mul,sign", 0, "", "invalid_scopes"),
        ("x", "admin", 0, "", "invalid_scopes"),
        ("x", "", 0, "", "invalid_scopes"),
        ("x", "sign", 0, "10.0.0.0/40", "invalid_sources"),
        ("x", "sign", 0, "localhost", "invalid_sources"),
        ("x", "sign", 1, "", "invalid_expiry"),
        ("a\nb", "sign", 0, "", "invalid_label"),
        ("a\u{202e}b", "sign", 0, "", "invalid_label"),
    ] {
        let body = op.create_api_key_body(label, scopes, expires, sources);
        let (status, r) = http.post(&create, &body);
        assert_eq!((status, code(&r)), (400, want), "{scopes} {sources}");
    }
    let long = "l".repeat(65);
    let (status, r) = http.post(&create, &op.create_api_key_body(&long, "sign", 0, ""));
    assert_eq!((status, code(&r)), (400, "invalid_label"));

    // An EOA without an operator key gets no API key; a creation signed by someone else is
    // refused; a replayed creation is refused.
    let mut keyless = Operator::new(42);
    let (status, r) = http.post(
        &format!("/v1/keys/{}/api-keys", keyless.eoa()),
        &keyless.create_api_key_body("x", "sign", 0, ""),
    );
    assert_eq!((status, code(&r)), (404, "unknown_key"));
    let forged = keyless.create_api_key_body("x", "sign", 0, "");
    let (status, r) = http.post(&create, &forged);
    assert_eq!((status, code(&r)), (401, "wrong_signer"));
    let body = op.create_api_key_body("once", "sign", 0, "");
    assert_eq!(http.post(&create, &body).0, 201);
    let (status, r) = http.post(&create, &body);
    assert_eq!((status, code(&r)), (409, "nonce_reused"));

    // A malformed revocation id is refused before anything else.
    let (status, r) = http.post(
        &format!("/v1/keys/{eoa}/api-keys/revoke"),
        &op.revoke_api_key_body("XYZ"),
    );
    assert_eq!((status, code(&r)), (400, "invalid_api_key_id"));
}

#[test]
fn an_eoa_holds_a_bounded_number_of_live_api_keys() {
    let (_d, _s, http, mut op) = started();
    let create = format!("/v1/keys/{}/api-keys", op.eoa());
    let mut first = String::new();
    for i in 0..26 {
        let (status, r) = http.post(
            &create,
            &op.create_api_key_body(&i.to_string(), "sign", 0, ""),
        );
        assert_eq!(status, 201, "{i}: {r}");
        if i == 0 {
            first = r["id"].as_str().unwrap().to_owned();
        }
    }
    // Twelve creations at once for the last six places: exactly six get one.
    let bodies: Vec<_> = (26..38)
        .map(|i| op.create_api_key_body(&i.to_string(), "sign", 0, ""))
        .collect();
    let statuses: Vec<(u16, String)> = std::thread::scope(|scope| {
        let runs: Vec<_> = bodies
            .iter()
            .map(|b| {
                let (http, create) = (&http, &create);
                scope.spawn(move || {
                    let (status, r) = http.post(create, b);
                    (status, code(&r).to_owned())
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let made = statuses.iter().filter(|(s, _)| *s == 201).count();
    let capped = statuses
        .iter()
        .filter(|(s, c)| *s == 409 && c == "too_many_api_keys")
        .count();
    assert_eq!((made, capped), (6, 6), "{statuses:?}");
    let (status, r) = http.post(&create, &op.create_api_key_body("33", "sign", 0, ""));
    assert_eq!((status, code(&r)), (409, "too_many_api_keys"));
    // Another EOA is not affected.
    let mut other = Operator::new(43);
    assert_eq!(http.post("/v1/keys", &other.create_body()).0, 201);
    let (status, r) = http.post(
        &format!("/v1/keys/{}/api-keys", other.eoa()),
        &other.create_api_key_body("x", "sign", 0, ""),
    );
    assert_eq!(status, 201, "{r}");
    // A revoked key frees its place.
    let (status, r) = http.post(
        &format!("/v1/keys/{}/api-keys/revoke", op.eoa()),
        &op.revoke_api_key_body(&first),
    );
    assert_eq!(status, 200, "{r}");
    let (status, r) = http.post(&create, &op.create_api_key_body("33", "sign", 0, ""));
    assert_eq!(status, 201, "{r}");
}

/// Someone who saw an operator's typed data registers its token hash first, under their own EOA:
/// the operator's creation still succeeds (the id is bound to the EOA), the token works for the
/// operator only, and the other key is useless without the token.
#[test]
fn a_token_hash_registered_first_by_someone_else_takes_nothing() {
    let (_d, _s, http, mut op) = started();
    let mut mallory = Operator::new(44);
    assert_eq!(http.post("/v1/keys", &mallory.create_body()).0, 201);
    let token = new_token();
    let (status, theirs) = http.post(
        &format!("/v1/keys/{}/api-keys", mallory.eoa()),
        &mallory.create_api_key_body_for(&token, "copy", "sign", 0, ""),
    );
    assert_eq!(status, 201, "{theirs}");
    let (status, ours) = http.post(
        &format!("/v1/keys/{}/api-keys", op.eoa()),
        &op.create_api_key_body_for(&token, "mine", "sign", 0, ""),
    );
    assert_eq!(status, 201, "{ours}");
    assert_ne!(ours["id"], theirs["id"]);
    let sign = |eoa: alloy_primitives::Address| {
        http.post_bearer(&format!("/v1/keys/{eoa}/sign"), &token, &sign_body())
    };
    let (status, r) = sign(op.eoa());
    assert_eq!(status, 200, "{r}");
    verify_signature(&HASH.0, &g1(&r["signature"]), &g1(&r["g1"]), &g2(&r["g2"])).unwrap();
    // The same token also opens the copy under the other EOA, whose key it then signs with:
    // the token holder is the operator, who can only sign with that key what it could anyway.
    assert_eq!(sign(mallory.eoa()).0, 200);
}

#[test]
fn the_registration_scope_signs_registrations_and_nothing_else() {
    let (dir, s, http, mut op) = started();
    let eoa = op.eoa();
    let registry = alloy_primitives::Address::repeat_byte(0x42);
    let (reg_id, reg_token) = op.api_key(&http, "registration", "");
    let (_, sign_token) = op.api_key(&http, "sign", "");

    // RegistryCoordinator's message: the API key's answer is the EOA-signed one (BLS signing is
    // deterministic).
    let path = format!("/v1/keys/{eoa}/registration");
    let (status, by_eoa) = http.post(&path, &op.registration_body(registry, 31337));
    assert_eq!(status, 200, "{by_eoa}");
    let token_body = json!({ "registry": registry.to_string(), "chain_id": 31337 });
    let (status, by_key) = http.post_bearer(&path, &reg_token, &token_body);
    assert_eq!(status, 200, "{by_key}");
    assert_eq!(by_key, by_eoa);
    // KeyRegistrar's message too.
    let kr = json!({
        "avs": alloy_primitives::Address::repeat_byte(0x07).to_string(),
        "chain_id": 31337,
        "operator_set_id": 3,
        "registrar": alloy_primitives::Address::repeat_byte(0x09).to_string(),
    });
    let kr_path = format!("/v1/keys/{eoa}/key-registration");
    let (status, r) = http.post_bearer(&kr_path, &reg_token, &kr);
    assert_eq!(status, 200, "{r}");
    assert!(r["keyData"].as_str().unwrap().starts_with("0x"));
    verify_signature(
        &r["digest"]
            .as_str()
            .unwrap()
            .parse::<alloy_primitives::B256>()
            .unwrap()
            .0,
        &g1(&r["signature"]),
        &g1(&by_eoa["pubkeyRegistrationParams"]["pubkeyG1"]),
        &g2(&by_eoa["pubkeyRegistrationParams"]["pubkeyG2"]),
    )
    .unwrap();

    // Each scope opens its own routes only.
    let (status, r) = http.post_bearer(&path, &sign_token, &token_body);
    assert_eq!((status, code(&r)), (403, "scope_denied"));
    let (status, r) = http.post_bearer(&kr_path, &sign_token, &kr);
    assert_eq!((status, code(&r)), (403, "scope_denied"));
    let (status, r) = http.post_bearer(&format!("/v1/keys/{eoa}/sign"), &reg_token, &sign_body());
    assert_eq!((status, code(&r)), (403, "scope_denied"));
    // A token body with an EOA's credential fields is not a token body.
    let (status, r) = http.post_bearer(
        &path,
        &reg_token,
        &json!({ "registry": registry.to_string(), "chain_id": 31337, "nonce": 1 }),
    );
    assert_eq!((status, code(&r)), (400, "bad_json"));

    s.stop();
    assert_eq!(
        audit_ops_of_api_key(dir.path(), &reg_id),
        [
            "CreateApiKey:ok",
            "PubkeyRegistration:ok",
            "KeyRegistration:ok",
            "SignHash:scope_denied"
        ]
    );
}
