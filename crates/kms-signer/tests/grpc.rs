//! The cerberus gRPC API, driven by the published `cerberus-api` crate's own tonic client (what
//! eigensdk-go's remote BLS signer speaks), against the real service: the calls eigensdk-go makes,
//! signatures checked by us and by py-ecc, and every error class as a gRPC status.
#![cfg(test)]
#![allow(clippy::result_large_err)] // tonic::Status is what the client returns

mod common;

use alloy_primitives::{b256, U256};
use cerberus_api::client::{KeyManagerClient, SignerClient};
use common::*;
use kms_crypto::bn254::{hash_to_g1, verify_point_signature, verify_signature, G1Point};
use serde_json::{json, Value};
use tonic09::transport::Channel;
use tonic09::Code;

const DIGEST: alloy_primitives::B256 =
    b256!("5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a");

/// A message of one of the crate's types, built from its protobuf bytes: the crate does not
/// export `SignG1Request` or `GetKeyMetadataRequest` by name, so the type is inferred from the
/// method the value is passed to, and the bytes come from our own encoding of the same fields
/// (a wrong field number would leave the crate's field empty and the call would fail).
fn msg<T: prost011::Message + Default>(bytes: Vec<u8>) -> T {
    T::decode(bytes.as_slice()).unwrap()
}

fn encode(m: &impl prost::Message) -> Vec<u8> {
    m.encode_to_vec()
}

/// The request with eigensdk-go's metadata: `authorization: <api key>`, no "Bearer".
fn authed<T>(m: T, token: &str) -> tonic09::Request<T> {
    let mut r = tonic09::Request::new(m);
    r.metadata_mut()
        .insert("authorization", token.parse().unwrap());
    r
}

fn sign_generic_req(name: &str, data: &[u8]) -> Vec<u8> {
    encode(&kms_signer::grpc::pb::SignGenericRequest {
        public_key_g1: name.into(),
        data: data.to_vec(),
        password: "ignored".into(),
    })
}

fn sign_g1_req(name: &str, data: &[u8]) -> Vec<u8> {
    encode(&kms_signer::grpc::pb::SignG1Request {
        public_key_g1: name.into(),
        data: data.to_vec(),
        password: String::new(),
    })
}

/// -P: the same x, p - y.
fn negated(p: &G1Point) -> G1Point {
    let field = U256::from_str_radix(
        "30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd47",
        16,
    )
    .unwrap();
    G1Point::from_coords(p.x(), field - p.y()).unwrap()
}

fn point_of(bytes: &[u8]) -> G1Point {
    assert_eq!(bytes.len(), 64);
    G1Point::from_coords(
        U256::from_be_slice(&bytes[..32]),
        U256::from_be_slice(&bytes[32..]),
    )
    .unwrap()
}

struct Setup {
    _dir: tempfile::TempDir,
    _signer: Signer,
    http: Http,
    op: Operator,
    grpc: String,
    name: String,
    key: Value,
}

/// cerberus's own test key (`signing/testdata` in Layr-Labs/cerberus), whose G1 name, G2 key and
/// SignGeneric answer cerberus's tests fix.
const CERBERUS_SK: &str = "0x040ad69253b921aca71dd714cccc3095576fbe1a21f86c9b10cb5b119b1c6899";
const CERBERUS_G1: &str = "a3111a2232584734d526d62cbb7c9a0d4ce1984a92b7ecb85bde8878fea5d1b0";
const CERBERUS_G2: &str = "ce29147275a76eb6cbe65b736ca2b636395ccbeaa6312359acf934e395b153d9\
                           114468916e5e171d139f6bfb4dde17be84422f39e9e5a3b1a9d779013638ec7b";
/// cerberus's SignGeneric vector: "somedata", zero-padded to 32 bytes, signed by that key.
const CERBERUS_SIG: &str = "0fea882fc5c936c304b0d79f4c256dbb2d38a2df74b44aaa483dfa87f1a86ede\
                            0bbc32080db378a408b90af7e264b9768a4b2f16c6953ec2611a13bc448d27e4";

/// Starts the service; with `import`, the operator's key is cerberus's test key (its keystore
/// imported on the host first), otherwise one the service creates.
fn setup(extra: &[&str], import: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mut op = Operator::new(60);
    if import {
        // cerberus's own keystore file, moved over as an operator would (`kms-signer import`).
        Signer::start(dir.path(), &[]).stop();
        let keystore = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../kms-crypto/tests/vectors/keystores/cerberus_a3111a22.json");
        let password = dir.path().join("keystore.pass");
        std::fs::write(&password, "p@$$w0rd\n").unwrap();
        let out = admin(
            dir.path(),
            &[
                "import",
                "--eoa",
                &op.eoa().to_string(),
                "--keystore",
                keystore.to_str().unwrap(),
                "--password-file",
                password.to_str().unwrap(),
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (signer, grpc) = Signer::start_grpc(dir.path(), extra);
    let http = Http::new(&signer.url);
    let key = if import {
        http.get(&format!("/v1/keys/{}", op.eoa())).1
    } else {
        let (status, key) = http.post("/v1/keys", &op.create_body());
        assert_eq!(status, 201, "{key}");
        key
    };
    let pk = g1(&key["versions"][0]["g1"]);
    Setup {
        name: hex::encode(pk.to_gnark_compressed()),
        _dir: dir,
        _signer: signer,
        http,
        op,
        grpc: format!("http://{grpc}"),
        key,
    }
}

async fn clients(url: &str) -> (SignerClient<Channel>, KeyManagerClient<Channel>) {
    (
        SignerClient::connect(url.to_owned()).await.unwrap(),
        KeyManagerClient::connect(url.to_owned()).await.unwrap(),
    )
}

fn check(r: Result<tonic09::Response<()>, tonic09::Status>, code: Code, text: &str) {
    let e = r.unwrap_err();
    assert_eq!(e.code(), code, "{e:?}");
    assert!(e.message().starts_with(text), "{e:?}");
}

fn unit<T>(
    r: Result<tonic09::Response<T>, tonic09::Status>,
) -> Result<tonic09::Response<()>, tonic09::Status> {
    r.map(|_| tonic09::Response::new(()))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn eigensdk_calls_sign_like_the_rest_api_and_verify_in_py_ecc() {
    let rt = runtime();
    let mut t = setup(&[], true);
    assert_eq!(t.name, CERBERUS_G1);
    let (key_id, token) = t.op.api_key(&t.http, "sign,scalar-mul", "");
    let mut somedata = [0u8; 32];
    somedata[..8].copy_from_slice(b"somedata");
    let (generic, g1_sig, meta, listed) = rt.block_on(async {
        let (mut signer, mut keys) = clients(&t.grpc).await;

        // GetKeyMetadata without an API key, as eigensdk-go's GetPublicKeyG2 calls it.
        let meta = keys
            .get_key_metadata(tonic09::Request::new(msg(encode(
                &kms_signer::grpc::pb::GetKeyMetadataRequest {
                    public_key_g1: t.name.clone(),
                },
            ))))
            .await
            .unwrap()
            .into_inner();
        let pk2 = g2(&t.key["versions"][0]["g2"]);
        assert_eq!(meta.public_key_g1, t.name);
        assert_eq!(meta.public_key_g2, hex::encode(pk2.to_gnark_compressed()));
        assert_eq!(meta.public_key_g2, CERBERUS_G2);
        assert_eq!(
            meta.created_at,
            t.key["versions"][0]["created_at"].as_i64().unwrap()
        );
        let listed = keys
            .list_keys(cerberus_api::ListKeysRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.public_keys.len(), 1);
        assert_eq!(listed.public_keys[0].public_key_g1, t.name);
        assert_eq!(listed.public_keys[0].public_key_g2, meta.public_key_g2);

        // SignGeneric on a 32-byte digest: the 64-byte X || Y signature verifies as BN254.sol does.
        let generic = signer
            .sign_generic(authed(
                cerberus_api::SignGenericRequest {
                    public_key_g1: t.name.clone(),
                    data: DIGEST.to_vec(),
                    password: String::new(),
                },
                &token,
            ))
            .await
            .unwrap()
            .into_inner()
            .signature;
        // cerberus's own vector, as eigensdk-go would send it.
        let vector = signer
            .sign_generic(authed(
                cerberus_api::SignGenericRequest {
                    public_key_g1: t.name.clone(),
                    data: somedata.to_vec(),
                    password: "p@$$w0rd".into(),
                },
                &token,
            ))
            .await
            .unwrap()
            .into_inner()
            .signature;
        assert_eq!(hex::encode(vector), CERBERUS_SIG);

        // SignG1 on the digest's hashToG1 point.
        let h = hash_to_g1(&DIGEST.0);
        let g1_sig = signer
            .sign_g1(authed(msg(sign_g1_req(&t.name, &h.to_abi_bytes())), &token))
            .await
            .unwrap()
            .into_inner()
            .signature;
        (generic, g1_sig, meta, listed)
    });
    let pk2 = g2(&t.key["versions"][0]["g2"]);
    assert_eq!(meta.public_key_g1, t.name);
    assert_eq!(meta.public_key_g2, hex::encode(pk2.to_gnark_compressed()));
    assert_eq!(meta.public_key_g2, CERBERUS_G2);
    assert_eq!(
        meta.created_at,
        t.key["versions"][0]["created_at"].as_i64().unwrap()
    );
    assert_eq!(listed.public_keys.len(), 1);
    assert_eq!(listed.public_keys[0].public_key_g1, t.name);
    assert_eq!(listed.public_keys[0].public_key_g2, meta.public_key_g2);

    let pk1 = g1(&t.key["versions"][0]["g1"]);
    let sig = point_of(&generic);
    verify_signature(&DIGEST.0, &sig, &pk1, &pk2).unwrap();
    // SignG1 on the digest's point gives the same signature; REST sign agrees.
    let h = hash_to_g1(&DIGEST.0);
    assert_eq!(g1_sig, generic);
    verify_point_signature(&h, &point_of(&g1_sig), &pk2).unwrap();
    let (status, rest) = t.http.post(
        &format!("/v1/keys/{}/sign", t.op.eoa()),
        &t.op.sign_body(DIGEST, 0),
    );
    assert_eq!(status, 200, "{rest}");
    assert_eq!(g1(&rest["signature"]), sig);

    // An independent check: py-ecc verifies the gRPC signature, and refuses it for another
    // digest.
    let dec = |p: &G1Point| json!({ "x": p.x_dec(), "y": p.y_dec() });
    let sk_dec = U256::from_str_radix(&CERBERUS_SK[2..], 16)
        .unwrap()
        .to_string();
    let (x2, y2) = pk2.to_dec();
    let case = |id: &str, valid: bool, hash: alloy_primitives::B256| {
        json!({
            "id": id, "expect_valid": valid, "secret_key": sk_dec,
            "g1": dec(&pk1), "g2": { "x": x2, "y": y2 }, "message_hash": hash.to_string(),
            "message_point": dec(&hash_to_g1(&hash.0)), "signature": dec(&sig),
        })
    };
    let other = b256!("0000000000000000000000000000000000000000000000000000000000000001");
    let cases = json!({
        "bn254": [case("grpc-sign-generic", true, DIGEST), case("grpc-other-digest", false, other)],
        "bn254_aggregate": [], "bls12381": [], "eip712": [],
    });
    let file = t._dir.path().join("cases.json");
    std::fs::write(&file, cases.to_string()).unwrap();
    let out = std::process::Command::new(
        std::env::var("KMS_PYTHON").unwrap_or_else(|_| "python3".into()),
    )
    .arg(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../kms-crypto/tests/interop/check.py"),
    )
    .arg(&file)
    .output()
    .expect("python not found: run scripts/test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.lines().any(|l| l.trim() == "2 passed, 0 failed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // On chain: EigenLayer's BLSSignatureChecker (EigenLayerChecks on a real anvil) accepts the
    // gRPC signature and refuses it negated or for another digest.
    let anvil = kms_chain::anvil::Anvil::start(&[]).expect("anvil (scripts/test installs it)");
    let deployer: kms_chain::LocalSigner = kms_chain::anvil::DEV_KEYS[0].parse().unwrap();
    let at = rt
        .block_on(kms_chain::deploy_eigenlayer_checks(&anvil.url(), deployer))
        .unwrap();
    let on_chain = |hash: alloy_primitives::B256, sigma: &G1Point| {
        rt.block_on(kms_chain::check_bls_signature(
            &anvil.url(),
            at,
            hash.0,
            &pk1,
            &pk2,
            sigma,
        ))
        .unwrap()
    };
    assert_eq!(on_chain(DIGEST, &sig), (true, true));
    assert_eq!(on_chain(other, &sig), (true, false));
    assert_eq!(on_chain(DIGEST, &negated(&sig)), (true, false));

    // Every gRPC use is in the audit log with the API key's id, and the chain verifies.
    t._signer.stop();
    let ops = audit_ops_of_api_key(t._dir.path(), &key_id);
    assert_eq!(
        ops,
        [
            "CreateApiKey:ok",
            "SignGeneric:ok",
            "SignGeneric:ok",
            "SignG1:ok"
        ]
    );
    let out = admin(t._dir.path(), &["audit", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_error_class_is_its_grpc_status_without_internal_text() {
    let rt = runtime();
    let dir_cfg = tempfile::tempdir().unwrap();
    let cfg = dir_cfg.path().join("signer.toml");
    std::fs::write(&cfg, "rate_limit_per_sec = 1\nrate_limit_burst = 6\n").unwrap();
    let mut t = setup(&["--config", cfg.to_str().unwrap()], false);
    let (id, token) = t.op.api_key(&t.http, "sign", "");
    let (_, g1_token) = t.op.api_key(&t.http, "scalar-mul", "");
    let (_, elsewhere) = t.op.api_key(&t.http, "sign", "10.0.0.0/8");
    let short_lived = new_token();
    let body =
        t.op.create_api_key_body_for(&short_lived, "short", "sign", now() + 2, "");
    let (status, r) = t
        .http
        .post(&format!("/v1/keys/{}/api-keys", t.op.eoa()), &body);
    assert_eq!(status, 201, "{r}");
    let (mut signer, mut keys) = rt.block_on(clients(&t.grpc));
    rt.block_on(async {
        let h = hash_to_g1(&DIGEST.0).to_abi_bytes();

        // Authentication: none, garbage, another key's secret.
        let plain = signer
            .sign_generic(tonic09::Request::new(msg(sign_generic_req(
                &t.name, &DIGEST.0,
            ))))
            .await;
        check(unit(plain), Code::Unauthenticated, "invalid_api_key");
        let bad = signer
            .sign_generic(authed(
                msg(sign_generic_req(&t.name, &DIGEST.0)),
                "kms_00_11",
            ))
            .await;
        check(unit(bad), Code::Unauthenticated, "invalid_api_key");
        let forged = format!("kms_{}", "f".repeat(64));
        let bad = signer
            .sign_generic(authed(msg(sign_generic_req(&t.name, &DIGEST.0)), &forged))
            .await;
        check(unit(bad), Code::Unauthenticated, "invalid_api_key");

        // Arguments: a short digest, a malformed or unknown key name.
        let short = signer
            .sign_generic(authed(msg(sign_generic_req(&t.name, &[1; 31])), &token))
            .await;
        check(unit(short), Code::InvalidArgument, "invalid_data");
        let name = signer
            .sign_generic(authed(msg(sign_generic_req("zz", &DIGEST.0)), &token))
            .await;
        check(unit(name), Code::InvalidArgument, "invalid_public_key");
        let unknown = hex::encode(G1Point::generator().to_gnark_compressed());
        let missing = signer
            .sign_generic(authed(msg(sign_generic_req(&unknown, &DIGEST.0)), &token))
            .await;
        check(unit(missing), Code::NotFound, "unknown_public_key");

        // SignG1: points refused before they meet the key (off the curve, the identity, not
        // canonical, the wrong length), then a scope the key lacks.
        let mut off_curve = h;
        off_curve[63] ^= 1;
        let p = U256::from_str_radix(
            "21888242871839275222246405745257275088696311157297823662689037894645226208583",
            10,
        )
        .unwrap();
        let mut non_canonical = h;
        non_canonical[..32]
            .copy_from_slice(&(U256::from_be_slice(&h[..32]) + p).to_be_bytes::<32>());
        for data in [
            &off_curve[..],
            &[0u8; 64][..],
            &non_canonical[..],
            &h[..63],
            &[][..],
        ] {
            let r = signer
                .sign_g1(authed(msg(sign_g1_req(&t.name, data)), &g1_token))
                .await
                .map(|_| tonic09::Response::new(()));
            check(r, Code::InvalidArgument, "invalid_point");
        }
        let scope = signer
            .sign_g1(authed(msg(sign_g1_req(&t.name, &h)), &token))
            .await;
        check(unit(scope), Code::PermissionDenied, "scope_denied");

        // GetKeyMetadata of an unknown key; key creation and import refused without key material.
        let r = keys
            .get_key_metadata(tonic09::Request::new(msg(encode(
                &kms_signer::grpc::pb::GetKeyMetadataRequest {
                    public_key_g1: unknown.clone(),
                },
            ))))
            .await;
        let r = unit(r);
        check(r, Code::NotFound, "unknown_public_key");
        let r = keys
            .generate_key_pair(cerberus_api::GenerateKeyPairRequest {
                password: "p".into(),
            })
            .await;
        let r = unit(r);
        check(r, Code::Unimplemented, "keys are created inside kms-signer");
        let r = keys
            .import_key(cerberus_api::ImportKeyRequest {
                private_key: "1".into(),
                mnemonic: String::new(),
                password: String::new(),
            })
            .await;
        let e = r.unwrap_err();
        assert_eq!(e.code(), Code::Unimplemented);
        assert!(e
            .message()
            .contains("no private key or mnemonic is ever returned"));

        // The rate limit: the API key's bucket (6, refilled at 1/s, drawn on above) runs dry.
        let mut limited = 0;
        for _ in 0..10 {
            let r = signer
                .sign_generic(authed(msg(sign_generic_req(&t.name, &DIGEST.0)), &token))
                .await;
            if let Err(e) = r {
                assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
                assert!(e.message().starts_with("rate_limited"));
                limited += 1;
            }
        }
        assert!(limited >= 3, "{limited} of 10 calls were limited");
    });

    // A key allowed only from elsewhere, and one past its expiry.
    let r = rt.block_on(signer.sign_generic(authed(
        msg(sign_generic_req(&t.name, &DIGEST.0)),
        &elsewhere,
    )));
    check(unit(r), Code::PermissionDenied, "source_denied");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let r = rt.block_on(signer.sign_generic(authed(
        msg(sign_generic_req(&t.name, &DIGEST.0)),
        &short_lived,
    )));
    check(unit(r), Code::Unauthenticated, "api_key_expired");

    // Revoked: the next call is refused (after the EOA's own bucket refilled).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (status, r) = t.http.post(
        &format!("/v1/keys/{}/api-keys/revoke", t.op.eoa()),
        &t.op.revoke_api_key_body(&id),
    );
    assert_eq!(status, 200, "{r}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let revoked =
        rt.block_on(signer.sign_generic(authed(msg(sign_generic_req(&t.name, &DIGEST.0)), &token)));
    check(unit(revoked), Code::Unauthenticated, "api_key_revoked");
}

/// gRPC over TLS as a client meets it: ALPN picks HTTP/2 on the gRPC port, which serves the REST
/// certificate. The call is framed by hand (cerberus-api's tonic 0.9 client would need rustls
/// 0.21 for TLS): a 5-byte prefix and the protobuf message, `te: trailers`.
#[test]
fn sign_generic_over_tls_negotiates_h2_and_signs() {
    let dir = tempfile::tempdir().unwrap();
    // The key and its API key, made over plain HTTP; then the service restarts with TLS.
    let s = Signer::start(dir.path(), &[]);
    let http = Http::new(&s.url);
    let mut op = Operator::new(61);
    let (status, key) = http.post("/v1/keys", &op.create_body());
    assert_eq!(status, 201, "{key}");
    let (_, token) = op.api_key(&http, "sign", "");
    s.stop();
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let (cert, key_file) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key_file, made.signing_key.serialize_pem()).unwrap();
    let (_signer, grpc) = Signer::start_grpc(
        dir.path(),
        &[
            "--tls-cert-file",
            cert.to_str().unwrap(),
            "--tls-key-file",
            key_file.to_str().unwrap(),
        ],
    );

    let pk1 = g1(&key["versions"][0]["g1"]);
    let pk2 = g2(&key["versions"][0]["g2"]);
    let message = encode(&kms_signer::grpc::pb::SignGenericRequest {
        public_key_g1: hex::encode(pk1.to_gnark_compressed()),
        data: DIGEST.to_vec(),
        password: String::new(),
    });
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(&message);
    let client = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(made.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let call = |body: Vec<u8>, token: &str| {
        client
            .post(format!("https://{grpc}/signer.v1.Signer/SignGeneric"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("authorization", token)
            .body(body)
            .send()
            .unwrap()
    };
    let answer = call(framed.clone(), &token);
    assert_eq!(
        answer.version(),
        reqwest::Version::HTTP_2,
        "ALPN did not pick h2"
    );
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.headers()["content-type"].to_str().unwrap(),
        "application/grpc"
    );
    let body = answer.bytes().unwrap();
    assert_eq!(body[0], 0, "uncompressed");
    let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
    assert_eq!(body.len(), 5 + len);
    let signed: kms_signer::grpc::pb::SignGenericResponse =
        prost::Message::decode(&body[5..]).unwrap();
    verify_signature(&DIGEST.0, &point_of(&signed.signature), &pk1, &pk2).unwrap();

    // A wrong token over TLS: refused with a gRPC status, no signature.
    let refused = call(framed, &new_token());
    assert_eq!(refused.status(), 200, "gRPC errors travel as grpc-status");
    let status = refused
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(status.as_deref(), Some("16"), "UNAUTHENTICATED");
    assert!(refused.bytes().unwrap().is_empty());

    // Plain HTTP/1.1 to the TLS port is not served.
    let plain = std::net::TcpStream::connect(&grpc).and_then(|mut s| {
        use std::io::{Read, Write};
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
        s.write_all(b"POST /signer.v1.Signer/SignGeneric HTTP/1.1\r\nhost: x\r\n\r\n")?;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap_or(0);
        Ok(buf[..n].to_vec())
    });
    // A TLS listener answers plaintext with an alert or a close, never with HTTP.
    assert!(!plain.unwrap_or_default().starts_with(b"HTTP/"));
}
