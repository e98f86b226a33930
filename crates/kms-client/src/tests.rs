//! The client against a one-shot fake server on 127.0.0.1: what it sends (paths, bodies, EOA
//! signatures over the right digest, fresh nonces and deadlines), how it reads answers and
//! refusals, and that a silent server times out. The real service is driven end to end by
//! `crates/kms-cli/tests/signer_client.rs`.

use super::*;
use kms_crypto::auth::recover_signer;
use serde_json::Value;

use std::net::TcpListener;
use std::sync::mpsc;

use std::time::Instant;

/// What the fake server received.
struct Received {
    method: String,
    path: String,
    body: Value,
}

/// Serves requests with `status` and `answer`, and reports what it received.
fn serve_once(status: u16, answer: impl Into<String>) -> (String, mpsc::Receiver<Received>) {
    let answer: String = answer.into();
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = kms_test_support::FakeServer::start(move |r| {
        let body = if r.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&r.body).unwrap()
        };
        let _ = tx.lock().unwrap().send(Received {
            method: r.method,
            path: r.path,
            body,
        });
        (status, answer.clone())
    });
    (format!("{}/", server.url), rx)
}

/// Answers shaped as the service's (`kms_api::signer`), for the calls that must parse them.
const POINTS: &str = r#""g1":{"x":"1","y":"2"},"g2":{"x":["3","4"],"y":["5","6"]}"#;

fn sign_answer() -> String {
    format!(
        r#"{{{POINTS},"key_version":1,"message_point":{{"x":"1","y":"2"}},"signature":{{"x":"1","y":"2"}}}}"#
    )
}

fn key_answer() -> String {
    format!(
        r#"{{"active_version":1,"eoa":"0x0000000000000000000000000000000000000001","versions":[{{"created_at":1,{POINTS},"state":"active","version":1}}]}}"#
    )
}

fn key_registration_answer() -> String {
    r#"{"digest":"0x00","keyData":"0x00","key_version":1,"message_point":{"x":"1","y":"2"},"signature":{"x":"1","y":"2"}}"#.to_owned()
}

fn now() -> u64 {
    kms_api::time::unix_now()
}

/// The body's signature is by `eoa` over `req`'s digest, with the body's nonce and deadline.
fn check_signed(body: &Value, eoa: &EoaKey, req: impl Fn(Freshness) -> Request) -> Freshness {
    let fresh = Freshness {
        nonce: body["nonce"].as_u64().unwrap(),
        deadline: body["deadline"].as_u64().unwrap(),
    };
    let t = now();
    assert!(fresh.deadline >= t + 58 && fresh.deadline <= t + 61);
    let sig = hex::decode(
        body["signature"]
            .as_str()
            .unwrap()
            .strip_prefix("0x")
            .unwrap(),
    )
    .unwrap();
    let digest = req(fresh).digest(31337);
    assert_eq!(recover_signer(&digest, &sig).unwrap(), eoa.address());
    fresh
}

#[test]
fn base_urls_are_checked_and_normalized() {
    let ok = |u: &str| normalize_base(u).unwrap();
    assert_eq!(ok("http://127.0.0.1:9100"), "http://127.0.0.1:9100");
    assert_eq!(ok("http://127.0.0.1:9100/"), "http://127.0.0.1:9100");
    assert_eq!(
        ok("https://kms.example/prefix/"),
        "https://kms.example/prefix"
    );
    for bad in [
        "",
        "127.0.0.1:9100",
        "ftp://host",
        "http://user:pw@host",
        "http://host/?q=1",
        "http://host/#f",
    ] {
        assert!(
            matches!(normalize_base(bad), Err(Error::InvalidUrl(_))),
            "{bad}"
        );
    }
}

#[test]
fn refusals_keep_status_code_and_message() {
    let e = refusal(
        404,
        br#"{"error":{"code":"unknown_key","message":"no key for this EOA"}}"#,
    );
    assert_eq!(e.status(), Some(404));
    assert_eq!(e.code(), Some("unknown_key"));
    assert!(e.is_client_error());
    assert!(e.to_string().contains("no key for this EOA"), "{e}");

    let e = refusal(503, b"");
    assert!(matches!(e, Error::UnexpectedAnswer { status: 503, .. }));
    assert_eq!(e.code(), None);
    assert!(!e.is_client_error());

    let long = "<html>".repeat(200);
    let e = refusal(400, long.as_bytes());
    assert!(e.is_client_error());
    assert!(e.to_string().len() < 400, "{e}");
}

#[test]
fn sign_sends_a_request_signed_by_the_eoa() {
    let eoa = EoaKey::random(&mut OsRng);
    let hash = B256::repeat_byte(0xab);
    let (url, rx) = serve_once(200, sign_answer());
    let client = SignerClient::new(&url, 31337).unwrap();
    assert_eq!(client.sign(&eoa, hash, 2).unwrap().key_version, 1);
    let got = rx.recv().unwrap();
    assert_eq!(got.method, "POST");
    assert_eq!(
        got.path,
        format!("/v1/keys/{}/sign", eoa.address().to_checksum(None))
    );
    assert_eq!(got.body["message_hash"], format!("0x{}", hex::encode(hash)));
    assert_eq!(got.body["key_version"], 2);
    check_signed(&got.body, &eoa, |fresh| Request::SignHash {
        operator: eoa.address(),
        message_hash: hash,
        key_version: 2,
        fresh,
    });
}

#[test]
fn every_signed_call_has_its_own_nonce() {
    let eoa = EoaKey::random(&mut OsRng);
    let mut nonces = Vec::new();
    for _ in 0..3 {
        let (url, rx) = serve_once(201, key_answer());
        SignerClient::new(&url, 31337)
            .unwrap()
            .create_key(&eoa)
            .unwrap();
        let got = rx.recv().unwrap();
        assert_eq!(got.path, "/v1/keys");
        assert_eq!(got.body["operator"], eoa.address().to_checksum(None));
        let fresh = check_signed(&got.body, &eoa, |fresh| Request::CreateKey {
            operator: eoa.address(),
            fresh,
        });
        nonces.push(fresh.nonce);
    }
    nonces.sort_unstable();
    nonces.dedup();
    assert_eq!(nonces.len(), 3);
}

#[test]
fn key_registration_body_matches_what_was_signed() {
    let eoa = EoaKey::random(&mut OsRng);
    let (avs, registrar) = (Address::repeat_byte(0x11), Address::repeat_byte(0x22));
    let (url, rx) = serve_once(200, key_registration_answer());
    SignerClient::new(&url, 31337)
        .unwrap()
        .key_registration(&eoa, avs, 7, registrar, 17000, "v1", 0)
        .unwrap();
    let got = rx.recv().unwrap();
    assert_eq!(got.body["avs"], avs.to_checksum(None));
    assert_eq!(got.body["registrar"], registrar.to_checksum(None));
    assert_eq!(got.body["operator_set_id"], 7);
    assert_eq!(got.body["chain_id"], 17000);
    assert_eq!(got.body["domain_version"], "v1");
    check_signed(&got.body, &eoa, |fresh| Request::KeyRegistration {
        operator: eoa.address(),
        avs,
        operator_set_id: 7,
        registrar,
        chain_id: 17000,
        domain_version: "v1".into(),
        key_version: 0,
        fresh,
    });
}

#[test]
fn a_refusal_becomes_a_typed_error() {
    let (url, _rx) = serve_once(
        401,
        r#"{"error":{"code":"wrong_signer","message":"the signature is not by this EOA"}}"#,
    );
    let e = SignerClient::new(&url, 1)
        .unwrap()
        .rotate(&EoaKey::random(&mut OsRng))
        .unwrap_err();
    assert_eq!(e.status(), Some(401));
    assert_eq!(e.code(), Some("wrong_signer"));
}

#[test]
fn a_success_that_is_not_json_is_an_unexpected_answer() {
    let (url, _rx) = serve_once(200, "<html>hello</html>");
    let e = SignerClient::new(&url, 1).unwrap().list_keys().unwrap_err();
    assert!(
        matches!(e, Error::UnexpectedAnswer { status: 200, .. }),
        "{e}"
    );
}

#[test]
fn a_silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // Accepts (the backlog does) but never answers.
    let client = SignerClient::with_timeout(&url, 1, Duration::from_millis(300)).unwrap();
    let started = Instant::now();
    let e = client.list_keys().unwrap_err();
    let Error::Transport(cause) = &e else {
        panic!("expected a transport error, got {e}");
    };
    assert!(
        cause
            .downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout),
        "{cause}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(listener);
}

#[test]
fn a_closed_port_is_a_transport_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = SignerClient::new(&format!("http://127.0.0.1:{port}"), 1)
        .unwrap()
        .get_key(Address::ZERO)
        .unwrap_err();
    assert!(matches!(e, Error::Transport(_)), "{e}");
    assert_eq!(e.status(), None);
}
