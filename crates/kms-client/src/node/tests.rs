//! The threshold-network client without a real node: agreement on canned `/v1/mpk` answers, the
//! partial's AAD, opening and checking partial replies, dropping a wrong partial, and whole
//! encrypt/decrypt/status calls against small fake nodes on 127.0.0.1 that follow the wire
//! contract (they check the owner's EIP-712 signature and seal σ_i as a node must).

use super::*;
use kms_crypto::auth::recover_signer;
use kms_crypto::bls::{partial_sign, public_share, Polynomial, Share};
use kms_crypto::seal::{seal, EncryptionPublicKey};
use kms_crypto::Secret;
use serde_json::json;

use std::net::TcpListener;
use std::sync::Arc;

const APP: &str = "demo.app:v1";

fn hex0x(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// An epoch of a network: its polynomial and its operators (address, id).
struct Net {
    epoch: u64,
    poly: Polynomial,
    ops: Vec<(Address, u64)>,
}

impl Net {
    fn new(epoch: u64, t: usize, n: u8, seed: u64) -> Self {
        let poly = Polynomial::random(t, &mut rng(seed)).unwrap();
        let ops = (1..=n)
            .map(|i| (Address::with_last_byte(i), u64::from(i)))
            .collect();
        Self { epoch, poly, ops }
    }

    fn addr(&self, k: usize) -> Address {
        self.ops[k].0
    }

    fn share(&self, k: usize) -> Share {
        self.poly
            .evaluate(&EvalPoint::from_index(self.ops[k].1).unwrap())
    }

    /// `GET /v1/mpk` as node `node` would answer it.
    fn mpk_json(&self, node: Address) -> Value {
        let c = self.poly.commit();
        let operators: Vec<Value> = self
            .ops
            .iter()
            .map(|(a, id)| {
                let x = EvalPoint::from_index(*id).unwrap();
                json!({
                    "address": a.to_checksum(None),
                    "id": id,
                    "public_share": hex0x(&public_share(&c, &x).unwrap().to_bytes()),
                    "url": format!("http://node-{id}"),
                })
            })
            .collect();
        json!({
            "node": node.to_checksum(None),
            "epoch": self.epoch,
            "threshold": c.threshold(),
            "mpk": hex0x(&c.public_key().to_bytes()),
            "commitment": hex0x(&c.to_bytes()),
            "round": hex0x(&[7u8; 32]),
            "certificate": "0x00",
            "operators": operators,
        })
    }
}

fn urls(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("http://10.0.0.{i}:9200")).collect()
}

fn down() -> Fault {
    Fault::Unreachable("cannot connect: connection refused".into())
}

#[test]
fn app_ids_are_checked_like_the_node_does() {
    for ok in ["a", "demo.app:v1", "A-Z_0.9:x", &"x".repeat(128)] {
        assert!(validate_app_id(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        &"x".repeat(129),
        "with space",
        "slash/",
        "é",
        "q?x",
        "a%20",
    ] {
        assert!(
            matches!(validate_app_id(bad), Err(Error::InvalidAppId(_))),
            "{bad}"
        );
    }
}

#[test]
fn the_partial_aad_is_the_wire_contracts() {
    let node = Address::repeat_byte(0xab);
    let aad = partial_aad("app", node, 0x0102_0304_0506_0708).unwrap();
    let mut expected = b"KMS_PARTIAL_V1".to_vec();
    expected.extend_from_slice(&[0, 3]);
    expected.extend_from_slice(b"app");
    expected.extend_from_slice(&[0xab; 20]);
    expected.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(aad, expected);
    assert_ne!(
        aad,
        partial_aad("app", node, 0x0102_0304_0506_0709).unwrap()
    );
    assert!(partial_aad(&"x".repeat(70_000), node, 1).is_err());
}

#[test]
fn decoded_views_are_reused_only_for_the_same_text() {
    let cache = Decoded::default();
    let (a, b) = (Net::new(5, 3, 4, 61), Net::new(6, 3, 4, 62));
    for net in [&a, &b, &a] {
        let answers = (0..4).map(|k| Ok(net.mpk_json(net.addr(k)))).collect();
        let view = agree(&urls(4), answers, &cache).unwrap().view;
        assert_eq!(view.commitment, net.poly.commit());
        assert_eq!(view.epoch, net.epoch);
    }
    assert_eq!(cache.0.lock().unwrap().len(), 2);
    // A commitment that does not match the MPK is refused even when the MPK is known.
    let mut v = a.mpk_json(a.addr(0));
    v["commitment"] = b.mpk_json(b.addr(0))["commitment"].clone();
    assert!(matches!(parse_mpk(&v, &cache), Err(Fault::BadAnswer(_))));
}

#[test]
fn every_node_agreeing_gives_their_view() {
    let net = Net::new(5, 3, 4, 1);
    let answers = (0..4).map(|k| Ok(net.mpk_json(net.addr(k)))).collect();
    let report = agree(&urls(4), answers, &Decoded::default()).unwrap();
    assert_eq!(report.view.epoch, 5);
    assert_eq!(report.view.threshold, 3);
    assert_eq!(report.view.mpk, net.poly.commit().public_key());
    assert_eq!(report.view.commitment, net.poly.commit());
    assert_eq!(report.view.operators.len(), 4);
    assert_eq!(report.view.operator(net.addr(2)).unwrap().id, 3);
    assert_eq!(
        report.view.operator(net.addr(0)).unwrap().url.as_deref(),
        Some("http://node-1")
    );
    assert_eq!((report.agreeing, report.needed), (4, 3));
    for (k, r) in report.nodes.iter().enumerate() {
        assert_eq!(r.node, Some(net.addr(k)));
        assert_eq!(r.fault, None);
    }
}

#[test]
fn the_highest_epoch_with_enough_votes_wins_and_others_are_reported() {
    let old = Net::new(1, 3, 5, 1);
    // A reshare keeps the MPK but changes the commitment.
    let new = Net {
        epoch: 2,
        poly: Polynomial::with_constant(&old.poly.constant(), 3, &mut rng(9)).unwrap(),
        ops: old.ops.clone(),
    };
    assert_eq!(
        new.poly.commit().public_key(),
        old.poly.commit().public_key()
    );
    let answers = vec![
        Ok(new.mpk_json(new.addr(0))),
        Ok(old.mpk_json(old.addr(1))),
        Ok(new.mpk_json(new.addr(2))),
        Err(down()),
        Ok(new.mpk_json(new.addr(4))),
    ];
    // 5 URLs: two thirds is 4, more than t = 3; only 3 are at epoch 2.
    let e = agree(&urls(5), answers.clone(), &Decoded::default()).unwrap_err();
    let Error::Quorum { got, needed, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!((*got, *needed), (3, 4));
    let text = e.to_string();
    assert!(text.contains("3 of the 4 nodes needed"), "{text}");
    assert!(text.contains("http://10.0.0.3:9200: no answer"), "{text}");
    assert!(text.contains("reports epoch 1"), "{text}");
    assert!(text.contains("reports epoch 2"), "{text}");

    // With a sixth URL at epoch 2, more than two thirds of six is 5: still short.
    let mut six = answers.clone();
    six.push(Ok(new.mpk_json(new.addr(3))));
    let e = agree(&urls(6), six, &Decoded::default()).unwrap_err();
    assert!(e.to_string().contains("4 of the 5 nodes needed"), "{e}");

    // With the silent node back at epoch 2 the quorum holds; the one behind is named.
    let mut answers = answers;
    answers[3] = Ok(new.mpk_json(new.addr(3)));
    let report = agree(&urls(5), answers, &Decoded::default()).unwrap();
    assert_eq!(report.view.epoch, 2);
    assert_eq!((report.agreeing, report.needed), (4, 4));
    assert_eq!(
        report.nodes[1].fault,
        Some(Fault::Disagrees(
            "reports epoch 1; the agreed epoch is 2".into()
        ))
    );
    assert_eq!(report.nodes[3].fault, None);
}

#[test]
fn one_node_cannot_make_up_a_network_of_its_own() {
    let honest = Net::new(3, 3, 4, 1);
    // The liar reports a later epoch with t = 1 and itself as the only operator.
    let mut liar = Net::new(9, 1, 1, 2);
    liar.ops = vec![(honest.addr(3), 4)];
    let answers = vec![
        Ok(honest.mpk_json(honest.addr(0))),
        Ok(honest.mpk_json(honest.addr(1))),
        Ok(honest.mpk_json(honest.addr(2))),
        Ok(liar.mpk_json(honest.addr(3))),
    ];
    let report = agree(&urls(4), answers, &Decoded::default()).unwrap();
    assert_eq!(report.view.epoch, 3);
    assert_eq!(report.view.mpk, honest.poly.commit().public_key());
    assert!(matches!(report.nodes[3].fault, Some(Fault::Disagrees(_))));

    // Alone, the liar is not enough either.
    let e = agree(
        &urls(4),
        vec![
            Ok(liar.mpk_json(honest.addr(3))),
            Err(down()),
            Err(down()),
            Err(down()),
        ],
        &Decoded::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Quorum {
                got: 1,
                needed: 3,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn inconsistent_and_malformed_answers_are_refused() {
    let net = Net::new(1, 2, 3, 1);
    let other = Net::new(1, 2, 3, 2);
    let good = net.mpk_json(net.addr(0));
    let bad_answer = |v: Value| match parse_mpk(&v, &Decoded::default()) {
        Err(Fault::BadAnswer(why)) => why,
        other => panic!("{other:?} for {v}"),
    };

    let mut v = good.clone();
    v["mpk"] = other.mpk_json(net.addr(0))["mpk"].clone();
    assert!(bad_answer(v).contains("constant term is not the MPK"));
    let mut v = good.clone();
    v["threshold"] = json!(3);
    assert!(bad_answer(v).contains("threshold 3"));
    let mut v = good.clone();
    v["commitment"] = json!("0x1234");
    assert!(bad_answer(v).contains("\"commitment\""));
    let mut v = good.clone();
    v["mpk"] = json!(hex::encode(net.poly.commit().public_key().to_bytes()));
    assert!(bad_answer(v).contains("0x-prefixed hex"));
    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("epoch");
    assert_eq!(bad_answer(v), "missing field `epoch`");
    let mut v = good.clone();
    v["node"] = json!("nobody");
    assert!(bad_answer(v).contains("\"node\" is not a 0x address"));
    let mut v = good.clone();
    v["operators"][1]["id"] = json!(1);
    assert!(bad_answer(v).contains("share an id"));
    let mut v = good.clone();
    v["operators"][1]["address"] = v["operators"][0]["address"].clone();
    assert!(bad_answer(v).contains("listed twice"));
    let mut v = good.clone();
    v["operators"][2]["id"] = json!(0);
    assert!(bad_answer(v).contains("operator 2: id 0"));
    let mut v = good.clone();
    v["operators"] = json!([v["operators"][0].clone()]);
    assert!(bad_answer(v).contains("above the 1 operators"));

    // Unknown fields and a missing operator URL are fine.
    let mut v = good.clone();
    v["later_field"] = json!(true);
    v["operators"][0].as_object_mut().unwrap().remove("url");
    assert!(parse_mpk(&v, &Decoded::default()).is_ok());
}

#[test]
fn a_node_behind_two_urls_counts_once_and_non_members_do_not_count() {
    let net = Net::new(1, 3, 4, 1);
    let outsider = Address::with_last_byte(0x77);
    let answers = vec![
        Ok(net.mpk_json(net.addr(0))),
        Ok(net.mpk_json(net.addr(1))),
        Ok(net.mpk_json(net.addr(1))),
        Ok(net.mpk_json(outsider)),
    ];
    let e = agree(&urls(4), answers, &Decoded::default()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Quorum {
                got: 2,
                needed: 3,
                ..
            }
        ),
        "{e}"
    );
    assert!(e
        .to_string()
        .contains("reports the same node address as http://10.0.0.1:9200"));

    let answers = vec![
        Ok(net.mpk_json(net.addr(0))),
        Ok(net.mpk_json(net.addr(1))),
        Ok(net.mpk_json(net.addr(2))),
        Ok(net.mpk_json(outsider)),
    ];
    let report = agree(&urls(4), answers, &Decoded::default()).unwrap();
    assert_eq!(report.agreeing, 3);
    assert_eq!(report.nodes[3].fault, Some(Fault::NotOperator { epoch: 1 }));
    assert_eq!(
        report.nodes[3].to_string(),
        format!("http://10.0.0.3:9200 ({outsider}): not an operator of epoch 1")
    );
}

#[test]
fn no_answer_at_all_is_a_quorum_error_naming_every_node() {
    let e = agree(
        &urls(3),
        vec![
            Err(down()),
            Err(down()),
            Err(Fault::Refused {
                status: 503,
                code: "no_epoch".into(),
                message: "no epoch yet".into(),
            }),
        ],
        &Decoded::default(),
    )
    .unwrap_err();
    let text = e.to_string();
    assert!(text.starts_with("no network view"), "{text}");
    // More than two thirds of three URLs is all three.
    assert!(text.contains("0 of the 3 nodes needed"), "{text}");
    assert!(
        text.contains("http://10.0.0.2:9200: refused with HTTP 503 no_epoch: no epoch yet"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 4, "{text}");
}

/// A node's reply to a partial request, sealed as the contract says.
fn reply(net: &Net, k: usize, to: &EncryptionPublicKey, app: &str, sig: G1Point) -> Value {
    let aad = partial_aad(app, net.addr(k), net.epoch).unwrap();
    let sealed = seal(to, &sig.to_bytes(), &aad, &Secret::new([k as u8 + 1; 32])).unwrap();
    json!({
        "node": net.addr(k).to_checksum(None),
        "id": net.ops[k].1,
        "epoch": net.epoch,
        "sealed": hex0x(&sealed.to_bytes()),
    })
}

fn view_of(net: &Net) -> NetworkView {
    parse_mpk(&net.mpk_json(net.addr(0)), &Decoded::default())
        .unwrap()
        .1
}

#[test]
fn partial_replies_are_opened_and_checked() {
    let net = Net::new(4, 2, 3, 1);
    let view = view_of(&net);
    let key = EncryptionKey::random(&mut rng(5));
    let op = view.operator(net.addr(1)).unwrap().clone();
    let sigma = partial_sign(&net.share(1), APP.as_bytes());
    let good = reply(&net, 1, &key.public(), APP, sigma.signature);
    let opened = open_partial(&good, &key, APP, &op, 4).unwrap();
    assert_eq!(opened, sigma);

    let refused = |v: &Value, epoch: u64| match open_partial(v, &key, APP, &op, epoch) {
        Err(Fault::BadAnswer(why)) => why,
        other => panic!("{other:?}"),
    };
    // Another node's reply, another epoch, another id.
    assert!(
        refused(&reply(&net, 2, &key.public(), APP, sigma.signature), 4)
            .contains("answered as node")
    );
    assert!(refused(&good, 5).contains("for epoch 4 instead of 5"));
    let mut v = good.clone();
    v["id"] = json!(3);
    assert!(refused(&v, 4).contains("answered with id 3; its id in epoch 4 is 2"));
    // Sealed under another app id's AAD, or to another key.
    let other_app = reply(&net, 1, &key.public(), "other", sigma.signature);
    assert!(refused(&other_app, 4).contains("does not open"));
    let stranger = EncryptionKey::random(&mut rng(6));
    let to_stranger = reply(&net, 1, &stranger.public(), APP, sigma.signature);
    assert!(refused(&to_stranger, 4).contains("does not open"));
    let mut v = good.clone();
    v["sealed"] = json!("0x00");
    assert!(refused(&v, 4).contains("\"sealed\""));
}

fn reports(net: &Net) -> Vec<NodeReport> {
    (0..net.ops.len())
        .map(|k| NodeReport {
            url: format!("http://n{k}"),
            node: Some(net.addr(k)),
            fault: None,
        })
        .collect()
}

#[test]
fn a_wrong_partial_is_dropped_and_its_node_named() {
    let net = Net::new(1, 3, 5, 1);
    let view = view_of(&net);
    let mut partials: Vec<(usize, PartialSignature)> = (0..5)
        .map(|k| (k, partial_sign(&net.share(k), APP.as_bytes())))
        .collect();
    // Node 1 signs another app id: a valid point, but not its partial for this app.
    partials[1].1 = partial_sign(&net.share(1), b"other.app");
    let mut nodes = reports(&net);
    let (key, used) = combine(&view, APP, &partials, &mut nodes).unwrap();
    assert_eq!(used, vec![net.addr(0), net.addr(2), net.addr(3)]);
    assert_eq!(nodes[1].fault, Some(Fault::BadPartial));
    assert!(nodes
        .iter()
        .enumerate()
        .all(|(k, r)| k == 1 || r.fault.is_none()));
    assert!(nodes[1].to_string().contains("culprit"));

    // The key is the app key: it decrypts what was encrypted to the MPK.
    let ct = ibe::encrypt(&view.mpk, APP.as_bytes(), b"hello", &mut rng(3)).unwrap();
    assert_eq!(
        &ibe::decrypt(&key, APP.as_bytes(), &ct).unwrap()[..],
        b"hello"
    );

    // With three wrong partials, two valid ones are not enough (t = 3).
    partials[0].1 = partial_sign(&net.share(0), b"other.app");
    partials[4].1 = partial_sign(&Net::new(1, 3, 5, 2).share(4), APP.as_bytes());
    let mut nodes = reports(&net);
    let e = combine(&view, APP, &partials, &mut nodes).unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("too few valid partial signatures: 2 of the 3 nodes needed"),
        "{text}"
    );
    for k in [0, 1, 4] {
        assert!(
            text.contains(&format!("http://n{k} ({}): culprit", net.addr(k))),
            "{text}"
        );
    }
    assert_eq!(text.lines().count(), 4, "{text}");
}

// ---- Fake nodes over HTTP -------------------------------------------------------------------

use kms_test_support::{FakeServer, Request};

/// Serves requests on a fresh port until the test process ends; returns the base URL.
fn serve(handler: impl Fn(Request) -> (u16, String) + Send + Sync + 'static) -> String {
    FakeServer::start(handler).url
}

/// A client that hears every node answering within 2 s (every fake node here answers at once):
/// what these tests check must not depend on how the machine schedules four local answers.
fn patient<S: AsRef<str>>(urls: &[S]) -> NodeClient {
    let inner = AsyncNodeClient::with_options(urls, Duration::from_secs(5), None)
        .unwrap()
        .with_straggler_grace(Duration::from_secs(2));
    NodeClient::wrap(inner).unwrap()
}

/// A URL where nothing listens.
fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

fn error_body(code: &str) -> String {
    json!({ "error": { "code": code, "message": format!("{code} (fake node)") } }).to_string()
}

/// How a fake node misbehaves.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Honest,
    WrongPartial,
    RefuseOwner,
    /// Answers the first `n` partial requests with `unknown_epoch`, as a node that has not
    /// caught up with the agreed epoch yet.
    Behind(usize),
    /// Honest, but answers partial requests a second late (so the others' answers come first,
    /// however slowly a loaded machine schedules them).
    Late,
}

/// A fake node `k` of `net` that checks partial requests as the contract says: the owner's
/// signature over `PartialRequest` for this node on chain 31337, a deadline about 120 s ahead,
/// the pinned epoch.
fn fake_node(net: Arc<Net>, k: usize, owner: Address, mode: Mode) -> String {
    let nonces = std::sync::Mutex::new(std::collections::HashSet::new());
    serve(move |req| {
        let me = net.addr(k);
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/v1/mpk") => (200, net.mpk_json(me).to_string()),
            ("GET", "/v1/status") => (
                200,
                json!({
                    "node": me.to_checksum(None), "epoch": net.epoch, "threshold": 3,
                    "members": net.ops.len(), "interval_secs": 30,
                    "round": null,
                    "last_round": { "epoch": net.epoch, "outcome": "finalized", "finished_at": 1_700_000_000u64, "duration_ms": 1234 },
                })
                .to_string(),
            ),
            ("POST", path) if path == format!("/v1/apps/{APP}/partial") => {
                if mode == Mode::Late {
                    std::thread::sleep(Duration::from_millis(1000));
                }
                if mode == Mode::RefuseOwner {
                    return (403, error_body("not_owner"));
                }
                let body: Value = serde_json::from_slice(&req.body).unwrap();
                let response_key: B256 = body["response_key"].as_str().unwrap().parse().unwrap();
                let request = PartialRequest {
                    app_id: APP.into(),
                    response_key,
                    epoch: body["epoch"].as_u64().unwrap(),
                    policy_block: body["policy_block"].as_u64().unwrap_or(0),
                    nonce: body["nonce"].as_u64().unwrap(),
                    deadline: body["deadline"].as_u64().unwrap(),
                    node: me,
                };
                let sig = hex::decode(body["signature"].as_str().unwrap().strip_prefix("0x").unwrap()).unwrap();
                if recover_signer(&request.digest(31337), &sig).ok() != Some(owner) {
                    return (401, error_body("bad_signature"));
                }
                if !nonces.lock().unwrap().insert(request.nonce) {
                    return (409, error_body("nonce_reused"));
                }
                if let Mode::Behind(n) = mode {
                    if nonces.lock().unwrap().len() <= n {
                        return (404, error_body("unknown_epoch"));
                    }
                }
                let now = unix_now().unwrap();
                assert!(request.deadline >= now + 115 && request.deadline <= now + 121);
                assert_eq!(body["epoch"].as_u64(), Some(net.epoch));
                let app = if mode == Mode::WrongPartial { "other.app" } else { APP };
                let sigma = partial_sign(&net.share(k), app.as_bytes()).signature;
                let to = EncryptionPublicKey::from_bytes(response_key.as_slice()).unwrap();
                (200, reply(&net, k, &to, APP, sigma).to_string())
            }
            _ => (404, error_body("not_found")),
        }
    })
}

#[test]
fn encrypt_then_decrypt_through_fake_nodes() {
    let net = Arc::new(Net::new(7, 3, 5, 11));
    let owner = EoaKey::random(&mut rng(12));
    // The liar answers before two of the honest nodes, so its partial is among those the
    // client holds when it settles, and it is named.
    let urls = vec![
        fake_node(net.clone(), 0, owner.address(), Mode::Honest),
        fake_node(net.clone(), 1, owner.address(), Mode::WrongPartial),
        dead_url(),
        fake_node(net.clone(), 3, owner.address(), Mode::Late),
        fake_node(net.clone(), 4, owner.address(), Mode::Late),
    ];
    let client = patient(&urls);

    let enc = client.encrypt(APP, b"attack at dawn").unwrap();
    assert_eq!(enc.network.view.epoch, 7);
    assert_eq!((enc.network.agreeing, enc.network.needed), (4, 4));
    assert!(matches!(
        enc.network.nodes[2].fault,
        Some(Fault::Unreachable(_))
    ));

    let dec = client.decrypt(APP, &owner, &enc.ciphertext, 31337).unwrap();
    assert_eq!(&dec.plaintext[..], b"attack at dawn");
    assert_eq!(dec.used, vec![net.addr(0), net.addr(3), net.addr(4)]);
    assert_eq!(dec.culprits(), vec![net.addr(1)]);
    assert!(matches!(dec.nodes[2].fault, Some(Fault::Unreachable(_))));
    assert_eq!(dec.nodes[0].fault, None);

    // Another owner's signatures are refused by every node: the error names each.
    let stranger = EoaKey::random(&mut rng(13));
    let e = client
        .decrypt(APP, &stranger, &enc.ciphertext, 31337)
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("too few valid partial signatures: 0 of the 3"),
        "{text}"
    );
    assert!(
        text.contains("refused with HTTP 401 bad_signature"),
        "{text}"
    );
    // So is a signature for another chain.
    assert!(client.decrypt(APP, &owner, &enc.ciphertext, 1).is_err());

    // Not a ciphertext: refused before any node is asked.
    let e = client
        .decrypt(APP, &owner, b"plain text", 31337)
        .unwrap_err();
    assert!(matches!(e, Error::BadCiphertext { .. }), "{e}");
    // A ciphertext for another app id does not decrypt with this app's key.
    let foreign = ibe::encrypt(&enc.network.view.mpk, b"other.app", b"x", &mut rng(4)).unwrap();
    let e = client.decrypt(APP, &owner, &foreign, 31337).unwrap_err();
    assert!(e.to_string().contains("does not decrypt"), "{e}");
}

/// The async client serves callers inside a multi-threaded runtime: its futures are `Send`, so
/// a service can spawn them; encrypt and decrypt work from spawned tasks, concurrently.
#[test]
fn the_async_client_serves_callers_inside_a_runtime() {
    let net = Arc::new(Net::new(7, 3, 4, 11));
    let owner = EoaKey::random(&mut rng(12));
    let urls: Vec<String> = (0..4)
        .map(|k| fake_node(net.clone(), k, owner.address(), Mode::Honest))
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let owner = Arc::new(owner);
    rt.block_on(async move {
        let client = AsyncNodeClient::with_options(&urls, Duration::from_secs(5), None).unwrap();
        let enc = client.encrypt(APP, b"inside tokio").await.unwrap();
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let (client, owner, ct) = (client.clone(), owner.clone(), enc.ciphertext.clone());
                tokio::spawn(async move { client.decrypt(APP, &owner, &ct, 31337).await })
            })
            .collect();
        for task in tasks {
            let dec = task.await.unwrap().unwrap();
            assert_eq!(&dec.plaintext[..], b"inside tokio");
        }
        let status = client.status().await;
        assert!(status.iter().all(|s| s.status.is_ok()), "{status:?}");
    });
}

#[test]
fn refusals_are_reported_per_node() {
    let net = Arc::new(Net::new(2, 3, 4, 21));
    let owner = EoaKey::random(&mut rng(22));
    let urls: Vec<String> = (0..4)
        .map(|k| {
            let mode = if k == 0 {
                Mode::RefuseOwner
            } else {
                Mode::Late
            };
            fake_node(net.clone(), k, owner.address(), mode)
        })
        .collect();
    let client = patient(&urls);
    let enc = client.encrypt(APP, b"x").unwrap();
    let dec = client.decrypt(APP, &owner, &enc.ciphertext, 31337).unwrap();
    assert_eq!(&dec.plaintext[..], b"x");
    assert_eq!(
        dec.nodes[0].fault,
        Some(Fault::Refused {
            status: 403,
            code: "not_owner".into(),
            message: "not_owner (fake node)".into()
        })
    );
    assert!(dec.culprits().is_empty());
}

#[test]
fn status_is_asked_of_every_node() {
    let net = Arc::new(Net::new(3, 3, 4, 31));
    let owner = Address::ZERO;
    let urls = vec![
        fake_node(net.clone(), 0, owner, Mode::Honest),
        dead_url(),
        serve(|_| (200, "{\"node\":1}".into())),
    ];
    let client = patient(&urls);
    let all = client.status();
    assert_eq!(all.len(), 3);
    let s = all[0].status.as_ref().unwrap();
    assert_eq!(s.node, net.addr(0).to_checksum(None));
    assert_eq!((s.epoch, s.threshold, s.members), (Some(3), Some(3), 4));
    assert_eq!(s.round, None);
    assert_eq!(s.last_round.as_ref().unwrap().outcome, "finalized");
    assert!(matches!(all[1].status, Err(Fault::Unreachable(_))));
    assert!(matches!(&all[2].status, Err(Fault::BadAnswer(why)) if why.starts_with("status:")));
    assert_eq!(all[2].url, urls[2]);
}

#[test]
fn url_lists_are_checked() {
    assert!(matches!(
        NodeClient::new::<&str>(&[]),
        Err(Error::InvalidUrl(_))
    ));
    assert!(matches!(
        NodeClient::new(&["http://a:1", "http://a:1/"]),
        Err(Error::InvalidUrl("a node URL is given twice"))
    ));
    assert!(matches!(
        NodeClient::new(&["a:1"]),
        Err(Error::InvalidUrl(_))
    ));
    let c = NodeClient::new(&["http://a:1/", "http://b:2"]).unwrap();
    assert_eq!(c.urls(), ["http://a:1", "http://b:2"]);
}

#[test]
fn a_reshare_in_progress_is_waited_out() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let old = Arc::new(Net::new(1, 3, 4, 41));
    let new = Arc::new(Net {
        epoch: 2,
        poly: Polynomial::with_constant(&old.poly.constant(), 3, &mut rng(42)).unwrap(),
        ops: old.ops.clone(),
    });
    let urls: Vec<String> = (0..4)
        .map(|k| {
            let (old, new) = (old.clone(), new.clone());
            // Nodes 0 and 1 finalize epoch 2 only after their first answer.
            let asked = AtomicUsize::new(if k < 2 { 0 } else { 1 });
            serve(move |_| {
                let net = if asked.fetch_add(1, Ordering::SeqCst) == 0 {
                    &old
                } else {
                    &new
                };
                (200, net.mpk_json(net.addr(k)).to_string())
            })
        })
        .collect();
    let report = NodeClient::new(&urls).unwrap().fetch_mpk().unwrap();
    assert_eq!(report.view.epoch, 2);
    // Three agreeing operators settle it; the fourth is counted if it answered in the grace.
    assert!(report.agreeing >= 3, "{report:?}");
}

/// A node that takes connections and never answers (frozen, or black-holed): encrypt and
/// decrypt settle on the others' answers instead of waiting for the request timeout, and
/// report it as not waited for.
#[test]
fn a_frozen_node_is_not_waited_for() {
    let net = Arc::new(Net::new(3, 3, 4, 81));
    let owner = EoaKey::random(&mut rng(82));
    let frozen = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        // Connections complete in the backlog; nothing ever reads them.
        std::mem::forget(listener);
        url
    };
    let urls = vec![
        fake_node(net.clone(), 0, owner.address(), Mode::Honest),
        fake_node(net.clone(), 1, owner.address(), Mode::Honest),
        frozen,
        fake_node(net.clone(), 3, owner.address(), Mode::Honest),
    ];
    let timeout = Duration::from_secs(20);
    let client = NodeClient::with_options(&urls, timeout, None).unwrap();
    let started = std::time::Instant::now();
    let enc = client.encrypt(APP, b"frozen").unwrap();
    let dec = client.decrypt(APP, &owner, &enc.ciphertext, 31337).unwrap();
    assert_eq!(&dec.plaintext[..], b"frozen");
    assert_eq!(enc.network.nodes[2].fault, Some(Fault::NotWaitedFor));
    assert_eq!(dec.nodes[2].fault, Some(Fault::NotWaitedFor));
    // Far below one request timeout: nothing waited for the frozen node.
    assert!(started.elapsed() < timeout / 4, "{:?}", started.elapsed());
}

/// A node that answers `/v1/mpk` at once but its partial late: the call settles on the others'
/// partials and reports that node as not waited for (not as having done its part).
#[test]
fn a_partial_still_on_its_way_is_reported_not_waited_for() {
    let net = Arc::new(Net::new(4, 3, 4, 85));
    let owner = EoaKey::random(&mut rng(86));
    let urls: Vec<String> = (0..4)
        .map(|k| {
            let mode = if k == 1 { Mode::Late } else { Mode::Honest };
            fake_node(net.clone(), k, owner.address(), mode)
        })
        .collect();
    let client = patient(&urls);
    let enc = client.encrypt(APP, b"late").unwrap();
    let dec = client.decrypt(APP, &owner, &enc.ciphertext, 31337).unwrap();
    assert_eq!(&dec.plaintext[..], b"late");
    assert_eq!(dec.used, vec![net.addr(0), net.addr(2), net.addr(3)]);
    assert_eq!(dec.nodes[1].fault, Some(Fault::NotWaitedFor));
    assert_eq!(dec.nodes[1].node, Some(net.addr(1)));
}

/// The network reshares while a decrypt runs: the epoch the client pinned is gone from every
/// node (`unknown_epoch`), the nodes agree on the next one, and the client pins that and
/// succeeds (same MPK: a reshare keeps it).
#[test]
fn a_decrypt_that_meets_a_reshare_pins_the_new_epoch() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let old = Arc::new(Net::new(1, 3, 4, 91));
    let new = Arc::new(Net {
        epoch: 2,
        poly: Polynomial::with_constant(&old.poly.constant(), 3, &mut rng(92)).unwrap(),
        ops: old.ops.clone(),
    });
    let owner = EoaKey::random(&mut rng(93));
    let resharing = Arc::new(AtomicBool::new(false));
    let urls: Vec<String> = (0..4)
        .map(|k| {
            let (old_node, new_node) = (
                fake_node(old.clone(), k, owner.address(), Mode::Honest),
                fake_node(new.clone(), k, owner.address(), Mode::Honest),
            );
            let resharing = resharing.clone();
            // Epoch 1 until the first partial request, which finds the reshare done.
            serve(move |req| {
                let http = reqwest::blocking::Client::new();
                if req.path.ends_with("/partial") {
                    resharing.store(true, Ordering::SeqCst);
                    let body: Value = serde_json::from_slice(&req.body).unwrap();
                    if body["epoch"].as_u64() == Some(1) {
                        return (404, error_body("unknown_epoch"));
                    }
                }
                let base = if resharing.load(Ordering::SeqCst) {
                    &new_node
                } else {
                    &old_node
                };
                let r = if req.method == "GET" {
                    http.get(format!("{base}{}", req.path)).send().unwrap()
                } else {
                    http.post(format!("{base}{}", req.path))
                        .header("content-type", "application/json")
                        .body(req.body.clone())
                        .send()
                        .unwrap()
                };
                (r.status().as_u16(), r.text().unwrap())
            })
        })
        .collect();
    let client = patient(&urls);
    let enc = client.encrypt(APP, b"across a reshare").unwrap();
    assert_eq!(enc.network.view.epoch, 1);
    let dec = client.decrypt(APP, &owner, &enc.ciphertext, 31337).unwrap();
    assert_eq!(&dec.plaintext[..], b"across a reshare");
    assert_eq!(dec.network.view.epoch, 2);
}

#[test]
fn a_node_still_catching_up_is_asked_again() {
    let net = Arc::new(Net::new(5, 3, 4, 51));
    let owner = EoaKey::random(&mut rng(52));
    let behind = |n| {
        vec![
            fake_node(net.clone(), 0, owner.address(), Mode::Honest),
            fake_node(net.clone(), 1, owner.address(), Mode::WrongPartial),
            fake_node(net.clone(), 2, owner.address(), Mode::Behind(n)),
            fake_node(net.clone(), 3, owner.address(), Mode::Honest),
        ]
    };
    // Node 2 answers `unknown_epoch` twice, then its partial: it is needed (node 1 lies), so it
    // is asked again, each time with a new nonce.
    let client = patient(&behind(2));
    let ct = client.encrypt(APP, b"late").unwrap().ciphertext;
    let dec = client.decrypt(APP, &owner, &ct, 31337).unwrap();
    assert_eq!(&dec.plaintext[..], b"late");
    assert_eq!(dec.used, vec![net.addr(0), net.addr(2), net.addr(3)]);
    assert_eq!(dec.culprits(), vec![net.addr(1)]);
    assert_eq!(dec.nodes[2].fault, None);

    // A node that never catches up is given up on after TRANSITION_WAIT, and named.
    let client = patient(&behind(usize::MAX));
    let started = std::time::Instant::now();
    let e = client.decrypt(APP, &owner, &ct, 31337).unwrap_err();
    assert!(started.elapsed() < TRANSITION_WAIT + Duration::from_secs(2));
    let text = e.to_string();
    assert!(text.contains("unknown_epoch"), "{text}");
    assert!(
        text.starts_with("too few valid partial signatures: 2 of the 3"),
        "{text}"
    );
}

#[test]
fn a_node_without_an_epoch_is_not_waited_for_when_it_was_not_asked() {
    let net = Arc::new(Net::new(5, 3, 4, 71));
    let owner = EoaKey::random(&mut rng(72));
    let urls = vec![
        serve(|_| (503, error_body("no_epoch"))),
        fake_node(net.clone(), 1, owner.address(), Mode::Honest),
        fake_node(net.clone(), 2, owner.address(), Mode::Honest),
        fake_node(net.clone(), 3, owner.address(), Mode::RefuseOwner),
    ];
    let client = patient(&urls);
    let ct = client.encrypt(APP, b"x").unwrap().ciphertext;
    // Two valid partials of three needed; node 0 answered `no_epoch` at `/v1/mpk` and was never
    // asked for a partial, so there is nobody to ask again: the error comes at once.
    let started = std::time::Instant::now();
    let e = client.decrypt(APP, &owner, &ct, 31337).unwrap_err();
    assert!(
        started.elapsed() < TRANSITION_WAIT / 2,
        "{:?}",
        started.elapsed()
    );
    assert!(
        e.to_string()
            .starts_with("too few valid partial signatures: 2 of the 3"),
        "{e}"
    );
}

/// A fake node serving a release log: `entries` in pages of the size asked, and `head`.
fn log_node(
    entries: Vec<kms_api::releases::ReleaseEntry>,
    head: Option<(u64, [u8; 32])>,
) -> String {
    serve(move |req| {
        let query = req.path.split_once('?').map_or("", |(_, q)| q).to_string();
        let mut from = 1u64;
        let mut limit = 1000usize;
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("from", v)) => from = v.parse().unwrap(),
                Some(("limit", v)) => limit = v.parse().unwrap(),
                _ => {}
            }
        }
        let page: Vec<String> = entries
            .iter()
            .filter(|e| e.seq >= from)
            .take(limit)
            .map(|e| format!("0x{}", hex::encode(e.encode())))
            .collect();
        let body = json!({
            "entries": page,
            "head": head.map(|(seq, h)| json!({"seq": seq, "hash": format!("0x{}", hex::encode(h))})),
            "node": "0x00000000000000000000000000000000000000aa",
        });
        (200, body.to_string())
    })
}

fn log_of(n: u64) -> Vec<kms_api::releases::ReleaseEntry> {
    use kms_api::releases::{ReleaseCredential, ReleaseEntry};
    let mut out: Vec<ReleaseEntry> = Vec::new();
    for seq in 1..=n {
        let prev = out.last().map_or([0; 32], |e| e.hash());
        out.push(ReleaseEntry {
            seq,
            prev,
            app_id: if seq % 2 == 0 {
                "demo".into()
            } else {
                "other".into()
            },
            credential: ReleaseCredential::Owner,
            requester: [2; 20],
            credential_hash: [seq as u8; 32],
            release_id: [0; 32],
            epoch: 1,
            policy_block: 0,
            response_key_hash: [1; 32],
            time: 1_900_000_000 + seq,
        });
    }
    out
}

/// The client reads each node's whole log and believes it only as one hash chain ending at the
/// head the node reports: a node that drops, rewrites or reorders a release, or reports a head
/// its log does not reach, is named.
#[test]
fn release_logs_are_checked_as_hash_chains() {
    let honest = log_of(5);
    let head = |log: &[kms_api::releases::ReleaseEntry]| log.last().map(|e| (e.seq, e.hash()));
    let mut dropped = honest.clone();
    dropped.remove(2);
    let mut rewritten = honest.clone();
    rewritten[1].app_id = "elsewhere".into();
    let mut resealed = rewritten.clone();
    for i in 2..resealed.len() {
        resealed[i].prev = resealed[i - 1].hash();
    }
    let urls = vec![
        log_node(honest.clone(), head(&honest)),
        log_node(dropped.clone(), head(&dropped)),
        log_node(rewritten.clone(), head(&honest)),
        // Rewritten and re-chained, but still claiming the head it announced before.
        log_node(resealed.clone(), head(&honest)),
        // Hides its last entry.
        log_node(honest[..4].to_vec(), head(&honest)),
        // Hides its first entries (the chain from 3 on and the head are genuine).
        log_node(honest[2..].to_vec(), head(&honest)),
        // Claims a head with no entries.
        log_node(Vec::new(), head(&honest)),
        log_node(Vec::new(), None),
    ];
    let logs = patient(&urls).releases("demo");
    let ok = |i: usize| logs[i].log.is_ok();
    assert!(ok(0), "{:?}", logs[0].log);
    let got = logs[0].log.as_ref().unwrap();
    assert_eq!(
        got.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![2, 4]
    );
    assert_eq!(got.head, head(&honest));
    for (i, l) in logs.iter().enumerate().take(7).skip(1) {
        assert!(l.log.is_err(), "node {i}'s log was believed: {:?}", l.log);
    }
    assert!(ok(7), "an empty log is a log");
    // Pages of 1000: a long log is read whole.
    let long = log_of(2500);
    let logs = patient(&[log_node(long.clone(), head(&long))]).releases("demo");
    assert_eq!(logs[0].log.as_ref().unwrap().entries.len(), 1250);
}
