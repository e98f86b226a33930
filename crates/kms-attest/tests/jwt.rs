//! Attestation tokens: Google Confidential Space and Intel Trust Authority, minted here with the
//! tests' own RSA keys (`tests/data/jwt/`, made for these tests) in the claim shape of real
//! tokens (docs/research/issue-18-attestation-facts.md §1, §2), then attacked: algorithm
//! confusion, unknown and weak keys, wrong issuer and audience, time, debug images, platform
//! claims, tampering and binding.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use kms_attest::jwt::{Issuer, KeySet, TokenPolicy, TokenVerifier, GOOGLE_ISSUER, INTEL_ISSUER};
use kms_attest::{AttestError, Binding, Evidence, Platform, Verifier};
use serde_json::{json, Value};

const NOW: u64 = 1_800_000_000;
const BINDING: Binding = Binding([0xab; 32]);
const DIGEST: &str = "sha256:4d2b0f1e8c6a0f1e0c3c9d4b5a6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80";

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("tests/data/jwt/{name}")).unwrap()
}

/// The claims of a production Confidential Space token (shape of Google's examples).
fn claims(iss: &str) -> Value {
    json!({
        "aud": "kms-test",
        "iss": iss,
        "iat": NOW - 10,
        "nbf": NOW - 10,
        "exp": NOW + 3590,
        "sub": "https://www.googleapis.com/compute/v1/projects/p/zones/z/instances/tee-1",
        "eat_nonce": hex::encode(BINDING.0),
        "swname": "CONFIDENTIAL_SPACE",
        "swversion": ["250800"],
        "hwmodel": "GCP_INTEL_TDX",
        "dbgstat": "disabled-since-boot",
        "secboot": true,
        "submods": {
            "confidential_space": {"support_attributes": ["LATEST", "STABLE", "USABLE"]},
            "container": {"image_digest": DIGEST, "image_reference": "r/app@sha256:..."},
            "gce": {"project_id": "kms-prod", "instance_name": "tee-1"}
        }
    })
}

fn mint(alg: Algorithm, kid: &str, key: &str, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    encode(&header, claims, &EncodingKey::from_rsa_der(&data(key))).unwrap()
}

fn google_token(claims: &Value) -> String {
    mint(Algorithm::RS256, "google-a", "google-a.der", claims)
}

fn google_policy() -> TokenPolicy {
    TokenPolicy {
        issuer: Issuer::Google,
        audience: "kms-test".into(),
        hwmodels: vec!["GCP_INTEL_TDX".into(), "GCP_AMD_SEV".into()],
        allow_debug: false,
        support_attribute: Some("STABLE".into()),
        projects: vec!["kms-prod".into()],
        skew_secs: 30,
        max_lifetime_secs: 3600,
    }
}

fn google() -> TokenVerifier {
    TokenVerifier::new(
        google_policy(),
        KeySet::from_jwks(&data("google-jwks.json"), &[]).unwrap(),
    )
}

fn refused(v: &TokenVerifier, token: &str) -> AttestError {
    v.verify_token(token, &BINDING, NOW).unwrap_err()
}

fn b64(v: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

#[test]
fn a_production_token_verifies_and_says_what_runs() {
    let token = google_token(&claims(GOOGLE_ISSUER));
    let c = google().verify_token(&token, &BINDING, NOW).unwrap();
    assert_eq!(
        c.platform,
        Platform::ConfidentialSpace {
            hwmodel: "GCP_INTEL_TDX".into()
        }
    );
    assert_eq!(c.image_digest.as_deref(), Some(DIGEST));
    assert!(!c.debug);
    // Accepted until exp plus the 30 s skew, so recorded until then.
    assert_eq!(c.expires_at, Some(NOW + 3590 + 30));
    // The same token always has the same id (the node records it as used).
    let again = google()
        .verify(&Evidence::Token(&token), &BINDING, NOW)
        .unwrap();
    assert_eq!(again.unique_id, c.unique_id);
}

#[test]
fn the_nonce_must_carry_the_binding() {
    // One of several nonces is enough.
    let mut c = claims(GOOGLE_ISSUER);
    c["eat_nonce"] = json!(["00aa", hex::encode(BINDING.0)]);
    assert!(google()
        .verify_token(&google_token(&c), &BINDING, NOW)
        .is_ok());
    // Made for another request, or for none.
    let other = Binding([8u8; 32]);
    let token = google_token(&claims(GOOGLE_ISSUER));
    let e = google().verify_token(&token, &other, NOW).unwrap_err();
    assert_eq!(e.code(), "attestation_binding_mismatch");
    let mut c = claims(GOOGLE_ISSUER);
    c.as_object_mut().unwrap().remove("eat_nonce");
    assert_eq!(
        refused(&google(), &google_token(&c)),
        AttestError::BindingMismatch
    );
    // Upper-case hex is another string: the binding is compared exactly.
    let mut c = claims(GOOGLE_ISSUER);
    c["eat_nonce"] = json!(hex::encode_upper(BINDING.0));
    assert_eq!(
        refused(&google(), &google_token(&c)),
        AttestError::BindingMismatch
    );
}

#[test]
fn algorithm_confusion_is_refused_before_any_key() {
    let payload = b64(claims(GOOGLE_ISSUER).to_string().as_bytes());
    // alg none, with and without a signature.
    for sig in ["", "AAAA"] {
        let header = b64(br#"{"alg":"none","kid":"google-a","typ":"JWT"}"#);
        let e = refused(&google(), &format!("{header}.{payload}.{sig}"));
        assert_eq!(e.code(), "attestation_algorithm_refused", "{e:?}");
    }
    // HS256 keyed with the RSA public key's modulus (the classic confusion).
    let jwks: Value = serde_json::from_slice(&data("google-jwks.json")).unwrap();
    let n = jwks["keys"][0]["n"].as_str().unwrap().to_owned();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("google-a".into());
    let hs = encode(
        &header,
        &claims(GOOGLE_ISSUER),
        &EncodingKey::from_secret(n.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        refused(&google(), &hs).code(),
        "attestation_algorithm_refused"
    );
    // PS384 is Intel's, not Google's.
    let ps = mint(
        Algorithm::PS384,
        "google-a",
        "google-a.der",
        &claims(GOOGLE_ISSUER),
    );
    assert_eq!(
        refused(&google(), &ps).code(),
        "attestation_algorithm_refused"
    );
}

#[test]
fn unknown_unpinned_and_weak_keys_are_refused() {
    let c = claims(GOOGLE_ISSUER);
    let unknown = mint(Algorithm::RS256, "google-z", "google-a.der", &c);
    assert_eq!(
        refused(&google(), &unknown).code(),
        "attestation_unknown_key"
    );
    let mut header = Header::new(Algorithm::RS256);
    header.kid = None;
    let no_kid = encode(
        &header,
        &c,
        &EncodingKey::from_rsa_der(&data("google-a.der")),
    )
    .unwrap();
    assert_eq!(
        refused(&google(), &no_kid).code(),
        "attestation_unknown_key"
    );
    // A key set pinned to google-b does not take google-a's tokens.
    let pinned = TokenVerifier::new(
        google_policy(),
        KeySet::from_jwks(&data("google-jwks.json"), &["google-b".into()]).unwrap(),
    );
    let token = google_token(&c);
    assert_eq!(refused(&pinned, &token).code(), "attestation_unknown_key");
    // The 1024-bit key of the set: its token, validly signed (tests/data/jwt/weak-token.txt, made
    // with Python's `cryptography`, which still signs with such keys), is refused for the size.
    let weak = String::from_utf8(data("weak-token.txt")).unwrap();
    assert_eq!(refused(&google(), weak.trim()), AttestError::WeakKey(1024));
}

#[test]
fn a_signature_by_another_key_or_over_other_claims_is_refused() {
    let c = claims(GOOGLE_ISSUER);
    let wrong_key = mint(Algorithm::RS256, "google-a", "google-b.der", &c);
    assert_eq!(refused(&google(), &wrong_key), AttestError::BadSignature);
    // The payload swapped for one naming another image, the signature kept.
    let token = google_token(&c);
    let parts: Vec<&str> = token.split('.').collect();
    let mut other = c.clone();
    other["submods"]["container"]["image_digest"] = json!(format!("sha256:{}", "ee".repeat(32)));
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(other.to_string().as_bytes()),
        parts[2]
    );
    assert_eq!(refused(&google(), &forged), AttestError::BadSignature);
}

#[test]
fn issuer_and_audience_are_required() {
    let intel_iss = google_token(&claims(INTEL_ISSUER));
    assert_eq!(refused(&google(), &intel_iss), AttestError::WrongIssuer);
    let mut c = claims(GOOGLE_ISSUER);
    c["aud"] = json!("https://sts.googleapis.com");
    assert_eq!(
        refused(&google(), &google_token(&c)),
        AttestError::WrongAudience
    );
    c.as_object_mut().unwrap().remove("aud");
    assert_eq!(
        refused(&google(), &google_token(&c)).code(),
        "attestation_malformed"
    );
}

#[test]
fn time_is_checked_with_a_bounded_skew() {
    let at = |iat: u64, nbf: u64, exp: u64| {
        let mut c = claims(GOOGLE_ISSUER);
        c["iat"] = json!(iat);
        c["nbf"] = json!(nbf);
        c["exp"] = json!(exp);
        google().verify_token(&google_token(&c), &BINDING, NOW)
    };
    assert!(at(NOW - 3000, NOW - 3000, NOW - 20).is_ok()); // inside the 30 s skew
    assert_eq!(
        at(NOW - 3000, NOW - 3000, NOW - 31).unwrap_err(),
        AttestError::Expired
    );
    assert!(at(NOW + 20, NOW + 20, NOW + 600).is_ok());
    assert_eq!(
        at(NOW, NOW + 31, NOW + 600).unwrap_err(),
        AttestError::NotYetValid
    );
    assert_eq!(
        at(NOW + 31, NOW, NOW + 600).unwrap_err(),
        AttestError::NotYetValid
    );
    // A token that lives longer than the issuer's tokens do (or ends before it starts).
    assert_eq!(
        at(NOW - 10, NOW - 10, NOW + 3591).unwrap_err().code(),
        "attestation_policy_refused"
    );
    assert!(at(NOW - 10, NOW - 10, NOW - 20).is_err());
}

#[test]
fn debug_images_are_refused_unless_allowed() {
    // A debug image: dbgstat enabled and no support attributes.
    let mut c = claims(GOOGLE_ISSUER);
    c["dbgstat"] = json!("enabled");
    c["submods"]["confidential_space"]["support_attributes"] = json!([]);
    let token = google_token(&c);
    assert_eq!(refused(&google(), &token), AttestError::DebugRefused);
    let mut policy = google_policy();
    policy.allow_debug = true;
    // Still refused while a support attribute is required; accepted without.
    let keys = || KeySet::from_jwks(&data("google-jwks.json"), &[]).unwrap();
    let v = TokenVerifier::new(policy.clone(), keys());
    assert_eq!(refused(&v, &token).code(), "attestation_policy_refused");
    policy.support_attribute = None;
    let v = TokenVerifier::new(policy, keys());
    assert!(v.verify_token(&token, &BINDING, NOW).unwrap().debug);
}

#[test]
fn platform_claims_are_checked() {
    let edits: [(&str, Value); 6] = [
        (
            "/submods/container/cmd_override",
            json!(["sh", "-c", "cat /secrets"]),
        ),
        ("/submods/container/env_override", json!({"DEBUG": "1"})),
        ("/swname", json!("GCE")),
        ("/hwmodel", json!("GCP_SHIELDED_VM")),
        ("/submods/gce/project_id", json!("someone-else")),
        (
            "/submods/confidential_space/support_attributes",
            json!(["USABLE"]),
        ),
    ];
    for (path, value) in edits {
        let mut c = claims(GOOGLE_ISSUER);
        // Set (or add) the field the path names.
        let mut at = &mut c;
        for part in path.trim_start_matches('/').split('/') {
            at = &mut at[part];
        }
        *at = value;
        let e = refused(&google(), &google_token(&c));
        assert_eq!(e.code(), "attestation_policy_refused", "{path}: {e:?}");
    }
}

#[test]
fn intel_tokens_pick_the_key_by_kid_and_algorithm() {
    let policy = TokenPolicy {
        issuer: Issuer::Intel,
        hwmodels: vec!["INTEL_TDX".into()],
        support_attribute: Some("EXPERIMENTAL".into()),
        max_lifetime_secs: 300,
        ..google_policy()
    };
    let mut c = claims(INTEL_ISSUER);
    c["hwmodel"] = json!("INTEL_TDX");
    c["exp"] = json!(NOW + 290);
    c["submods"]["confidential_space"]["support_attributes"] = json!(["EXPERIMENTAL"]);
    let intel = TokenVerifier::new(
        policy.clone(),
        KeySet::from_jwks(&data("intel-jwks.json"), &[]).unwrap(),
    );
    for alg in [Algorithm::RS256, Algorithm::PS384] {
        let token = mint(alg, "intel-1", "intel.der", &c);
        let claims = intel.verify_token(&token, &BINDING, NOW).unwrap();
        assert_eq!(
            claims.platform,
            Platform::IntelTrustAuthority {
                hwmodel: "INTEL_TDX".into()
            }
        );
    }
    // A key set holding the kid only for RS256 does not verify a PS384 token with it.
    let mut jwks: Value = serde_json::from_slice(&data("intel-jwks.json")).unwrap();
    jwks["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|k| k["alg"] == "RS256");
    let rs_only = TokenVerifier::new(
        policy,
        KeySet::from_jwks(jwks.to_string().as_bytes(), &[]).unwrap(),
    );
    let ps = mint(Algorithm::PS384, "intel-1", "intel.der", &c);
    assert_eq!(refused(&rs_only, &ps).code(), "attestation_unknown_key");
    // Google's verifier does not take Intel's tokens (issuer, key and algorithm all differ).
    assert!(google().verify_token(&ps, &BINDING, NOW).is_err());
}

#[test]
fn malformed_tokens_and_wrong_evidence_are_refused() {
    for bad in ["", "a.b", "a.b.c.d", "!!!.e30.", "e30.e30.e30"] {
        let e = refused(&google(), bad);
        assert!(
            matches!(
                e,
                AttestError::Malformed(_) | AttestError::AlgorithmRefused(_)
            ),
            "{bad}: {e:?}"
        );
    }
    let report = Evidence::SnpReport {
        report: &[0u8; 16],
        cert: &[],
    };
    assert_eq!(
        google().verify(&report, &BINDING, NOW).unwrap_err().code(),
        "attestation_malformed"
    );
    assert!(KeySet::from_jwks(b"{}", &[]).is_err());
}
