//! Issue 15: one operator attacks three honest `kms-node` processes on the loopback. The
//! attacker is a member of the operator file whose keys the test holds; it runs here, in the
//! test process (no build of the node contains it): an HTTP server at its operator URL and a
//! sender that signs hostile protocol messages with its own key for every round.
//!
//! What it does, all along:
//! - at `/v1/mpk`, claims a far later epoch; at `/v1/epochs/{e}` serves a forged epoch (a 1-of-1
//!   genesis of its own before genesis, a degree-0 reshare to itself after) or, every other
//!   time, an answer that never ends;
//! - sends every honest node, each round, proposals for the next attempts and for one past the
//!   round's last (attempt jumps), and a flood of distinct signed prevotes;
//! - never deals, acks or votes.
//!
//! The honest nodes reach genesis (a false claim no longer stops it), keep the MPK and finalize
//! round after round, decrypts keep working, and every honest node names the attacker in
//! `/v1/status` (what `kms status` lists).
#![cfg(test)]

mod common;

use common::{Cluster, APP};
use kms_api::batch::encode_list;
use kms_client::node::NodeClient;
use kms_crypto::bls::Commitment;
use kms_crypto::seal::EncryptionKey;
use kms_crypto::Secret;
use kms_protocol::adopt::{derive, Latest};
use kms_protocol::sim::forge::{forge, EpochClaim, Forgery, Target};
use kms_protocol::sim::SimNode;
use kms_protocol::{Body, DealerSet, Envelope, Operator, RoundConfig};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const INTERVAL: u64 = 3;
const ATTACKER: usize = 3;
const HONEST: [usize; 3] = [0, 1, 2];
const FLOOD: usize = 120;

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn hex0x(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

/// What the attacker serves.
struct Lies {
    me: String,
    claim: Mutex<Option<EpochClaim>>,
    fetches: AtomicUsize,
    endless_sent: AtomicUsize,
}

/// The attacker's HTTP server (one thread per connection).
fn serve(lies: Arc<Lies>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let lies = lies.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                let mut len = 0usize;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; len];
                let _ = reader.read_exact(&mut body);
                let claim = lies.claim.lock().unwrap().clone();
                let answer = if path == "/v1/mpk" {
                    let epoch = claim.as_ref().map_or(1, |c| c.epoch);
                    json!({ "node": lies.me, "epoch": epoch, "threshold": 1 }).to_string()
                } else if path.starts_with("/v1/epochs/") {
                    if lies.fetches.fetch_add(1, Ordering::SeqCst) % 2 == 1 {
                        // An answer that never ends: headers promise a terabyte, zeros follow
                        // until the reader gives up.
                        let _ = stream.write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                              content-length: 1000000000000\r\n\r\n{\"logs\":\"",
                        );
                        let chunk = vec![b'0'; 1 << 16];
                        while stream.write_all(&chunk).is_ok() {}
                        lies.endless_sent.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    match claim {
                        Some(c) => json!({
                            "epoch": c.epoch,
                            "config": hex0x(&c.config),
                            "certificate": hex0x(&c.certificate),
                            "logs": c.logs.iter().map(|l| hex0x(l)).collect::<Vec<_>>(),
                        })
                        .to_string(),
                        None => "{}".to_owned(),
                    }
                } else {
                    json!({ "accepted": 0, "rejected": [] }).to_string()
                };
                let _ = stream.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{answer}",
                        answer.len()
                    )
                    .as_bytes(),
                );
            });
        }
    });
    port
}

/// The hostile batch for one round: attempt jumps and a flood, all signed by the attacker.
fn hostile_batch(cfg: &RoundConfig, attacker: &SimNode, to: [u8; 20]) -> Vec<u8> {
    let round = cfg.digest();
    let me = attacker.address();
    let mut msgs: Vec<Vec<u8>> = Vec::new();
    for attempt in [1, 3, cfg.attempts(), cfg.attempts() + 7] {
        let body = Body::Proposal {
            attempt,
            set: DealerSet::default(),
            justify: None,
        };
        msgs.push(Envelope::sign(round, me, None, body, &attacker.key).encode());
    }
    for i in 0..FLOOD {
        let mut h = [0u8; 32];
        h[..8].copy_from_slice(&(i as u64).to_be_bytes());
        h[8..16].copy_from_slice(&cfg.epoch.to_be_bytes());
        let body = Body::Prevote {
            attempt: 0,
            set_hash: h,
            signature: attacker.key.schnorr_sign(&h),
        };
        msgs.push(Envelope::sign(round, me, Some(to), body, &attacker.key).encode());
    }
    let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
    encode_list(&refs)
}

#[test]
fn one_attacking_operator_changes_nothing_for_the_honest_ones() {
    // Three honest nodes run; the attacker is in the operator file and answers at its URL.
    let mut c = Cluster::with(4, 4, INTERVAL, "", &HONEST);
    let a = &c.nodes[ATTACKER];
    let enc = std::fs::read_to_string(a.dir.join("encryption.key")).unwrap();
    let attacker = Arc::new(SimNode {
        operator: a.operator.clone(),
        key: Arc::new(a.bn254_key()),
        enc: Arc::new(EncryptionKey::from_bytes(&hex::decode(enc.trim()).unwrap()).unwrap()),
        seed: Secret::new([9u8; 32]),
        output: None,
    });
    let members: Vec<Operator> = c.nodes.iter().map(|n| n.operator.clone()).collect();
    let far = 1 << 40;
    let lies = Arc::new(Lies {
        me: format!("0x{}", hex::encode(attacker.address())),
        // Before genesis: a 1-of-1 genesis of its own, at a far later epoch.
        claim: Mutex::new(forge(
            Forgery::SoloGenesis,
            &attacker,
            &Target {
                chain_id: 31337,
                registry: [0u8; 20],
                latest: None,
            },
            far,
            1,
        )),
        fetches: AtomicUsize::new(0),
        endless_sent: AtomicUsize::new(0),
    });
    assert!(lies.claim.lock().unwrap().is_some());
    c.nodes[ATTACKER].port = serve(lies.clone());
    c.write_operators();

    // The sender: each round, attempt jumps and a flood to every honest node.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let sender = {
        let (stop, sent, attacker) = (stop.clone(), sent.clone(), attacker.clone());
        let targets: Vec<(String, [u8; 20])> = HONEST
            .iter()
            .map(|&i| (c.url(i), c.nodes[i].address))
            .collect();
        let members = members.clone();
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let view = ViewSource { url: c.url(0) };
        std::thread::spawn(move || {
            let ms = INTERVAL * 1000;
            while !stop.load(Ordering::SeqCst) {
                // Into each round's deal phase, then again in its agreement.
                let now = unix_ms();
                let k = now / ms;
                let into = now - k * ms;
                for at in [ms / 10, ms * 6 / 10] {
                    if into < at {
                        std::thread::sleep(Duration::from_millis(at - into));
                        break;
                    }
                }
                let Some(cfg) = view.round(k, &members) else {
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                };
                for (url, to) in &targets {
                    let batch = hostile_batch(&cfg, &attacker, *to);
                    if http
                        .post(format!("{url}/v1/protocol"))
                        .header("content-type", "application/octet-stream")
                        .body(batch)
                        .send()
                        .is_ok()
                    {
                        sent.fetch_add(1, Ordering::SeqCst);
                    }
                }
                let next = (unix_ms() / ms) * ms + ms * 6 / 10;
                std::thread::sleep(Duration::from_millis(
                    next.saturating_sub(unix_ms()).min(ms),
                ));
            }
        })
    };

    // Genesis among the honest three, whatever the attacker claims.
    let first = c.wait_epoch_above(&HONEST, 0, 6);
    let mpk = c.mpk(0);
    for &i in &HONEST {
        assert_eq!(c.mpk(i), mpk, "node {i} disagrees on the MPK");
    }
    let genesis = *first.iter().max().unwrap();

    // After genesis: a degree-0 reshare to itself, which would leave the honest nodes without
    // shares, at a far later epoch.
    let public = {
        let v = c.get(0, "/v1/mpk").unwrap();
        let b = hex::decode(v["commitment"].as_str().unwrap().trim_start_matches("0x")).unwrap();
        Commitment::from_bytes(&b).unwrap()
    };
    *lies.claim.lock().unwrap() = forge(
        Forgery::DegreeZeroReshare,
        &attacker,
        &Target {
            chain_id: 31337,
            registry: [0u8; 20],
            latest: Some((genesis, &public)),
        },
        far,
        2,
    );
    assert!(lies.claim.lock().unwrap().is_some());

    let cl = NodeClient::new(&c.urls()).unwrap();
    let ct = cl.encrypt(APP, b"under attack").unwrap().ciphertext;
    // Five intervals under attack: the honest nodes keep resharing.
    let started = Instant::now();
    let mut last = genesis;
    let mut epochs = vec![genesis];
    while started.elapsed() < Duration::from_secs(INTERVAL * 5) {
        last = c.wait_same_epoch(&HONEST, last, 4);
        epochs.push(last);
        for &i in &HONEST {
            assert_eq!(c.mpk(i), mpk, "MPK changed on node {i} at epoch {last}");
        }
        let out = cl.decrypt(APP, &c.owner, &ct, 31337).unwrap();
        assert_eq!(out.plaintext.as_slice(), b"under attack");
        assert!(!out
            .used
            .contains(&alloy_primitives::Address::from(attacker.address())));
    }
    // The attacker holds one share of t = 3 and is not the app's owner: the honest nodes give it
    // no partial, whatever it signs with.
    let stranger = kms_crypto::auth::EoaKey::random(&mut rand_core::OsRng);
    let e = cl.decrypt(APP, &stranger, &ct, 31337).unwrap_err();
    assert!(e.to_string().contains("not_owner"), "{e}");
    stop.store(true, Ordering::SeqCst);
    let _ = sender.join();
    println!(
        "epochs under attack: {epochs:?}; hostile batches sent: {}; endless answers: {}",
        sent.load(Ordering::SeqCst),
        lies.endless_sent.load(Ordering::SeqCst)
    );
    assert!(
        epochs.len() >= 4,
        "too few rounds finalized under attack: {epochs:?}"
    );
    assert!(
        sent.load(Ordering::SeqCst) > 0,
        "the attack never reached a round"
    );
    assert!(
        lies.fetches.load(Ordering::SeqCst) > 0,
        "no node asked the attacker"
    );

    // Every honest node names the attacker, for what its signed messages proved.
    let me = format!("0x{}", hex::encode(attacker.address()));
    for &i in &HONEST {
        let status = c.get(i, "/v1/status").unwrap();
        let faults = status["faults"].as_array().unwrap();
        let named = faults
            .iter()
            .find(|f| f["operator"] == Value::String(me.clone()))
            .unwrap_or_else(|| panic!("node {i} did not name the attacker: {status}"));
        let reasons = &named["reasons"];
        assert!(
            reasons.get("attempt_out_of_bounds").is_some(),
            "node {i}: {reasons}"
        );
        assert!(reasons.get("flood").is_some(), "node {i}: {reasons}");
        // Nobody honest is named.
        assert_eq!(faults.len(), 1, "node {i}: {status}");
        let metrics = reqwest::blocking::get(format!("{}/metrics", c.url(i)))
            .unwrap()
            .text()
            .unwrap();
        assert!(
            metrics.contains(&format!(
                "kms_node_faults_total{{operator=\"{me}\",reason=\"flood\"}}"
            )),
            "node {i}: no fault metric"
        );
        // The forged epochs were refused, by name.
        let log = c.log(i);
        assert!(
            log.contains("not adopted"),
            "node {i} never refused a claim"
        );
    }
}

/// Where the attacker reads the honest view from: the round the honest nodes run at interval
/// `k` is derived from the operator file and the latest epoch an honest node serves.
struct ViewSource {
    url: String,
}

impl ViewSource {
    fn get(&self, path: &str) -> Option<Value> {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .ok()?
            .get(format!("{}{path}", self.url))
            .send()
            .ok()?
            .json()
            .ok()
    }

    fn round(&self, k: u64, members: &[Operator]) -> Option<RoundConfig> {
        let latest: Option<(RoundConfig, Commitment)> = (|| {
            let mpk = self.get("/v1/mpk")?;
            let e = mpk["epoch"].as_u64()?;
            let rec = self.get(&format!("/v1/epochs/{e}"))?;
            let cfg = hex::decode(rec["config"].as_str()?.trim_start_matches("0x")).ok()?;
            let public = hex::decode(mpk["commitment"].as_str()?.trim_start_matches("0x")).ok()?;
            Some((
                RoundConfig::decode(&cfg).ok()?,
                Commitment::from_bytes(&public).ok()?,
            ))
        })();
        derive(
            k,
            31337,
            [0u8; 20],
            members,
            latest.as_ref().map(|(cfg, public)| Latest {
                epoch: cfg.epoch,
                players: &cfg.players,
                public,
            }),
        )
        .ok()
    }
}
