//! `kill -9` during creates and rotations, many times over one data directory: after each restart
//! no acknowledged key or version is lost, every EOA has exactly one active version, and every
//! acknowledged version still signs exactly as it did before the crash.
#![cfg(test)]

mod common;

use alloy_primitives::{b256, Address};
use common::*;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const HASH: alloy_primitives::B256 =
    b256!("2222222222222222222222222222222222222222222222222222222222222222");

fn iterations() -> u64 {
    std::env::var("KMS_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

/// (eoa, version) -> G1 public key x, for every version the service acknowledged.
type Acked = Arc<Mutex<BTreeMap<(Address, u64), String>>>;

#[test]
fn kill_9_during_create_and_rotate_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let acked: Acked = Arc::default();
    let mut signatures: BTreeMap<(Address, u64), serde_json::Value> = BTreeMap::new();
    let mut operators: Vec<Operator> = Vec::new();
    let mut rng = ChaCha20Rng::seed_from_u64(0x5eed);
    for round in 0..iterations() {
        let signer = Signer::start(dir.path(), &["--rotation-grace-secs", "100000"]);
        let http = Http::new(&signer.url);

        // Everything acknowledged so far survived the previous crash.
        for ((eoa, version), x) in acked.lock().unwrap().iter() {
            let (status, key) = http.get(&format!("/v1/keys/{eoa}"));
            assert_eq!(status, 200, "round {round}: acknowledged key {eoa} lost");
            let versions = key["versions"].as_array().unwrap();
            let v = versions.iter().find(|v| v["version"] == *version);
            let v =
                v.unwrap_or_else(|| panic!("round {round}: acknowledged {eoa} v{version} lost"));
            assert_eq!(v["g1"]["x"].as_str().unwrap(), x);
            assert_eq!(
                versions.iter().filter(|v| v["state"] == "active").count(),
                1,
                "round {round}: {key}"
            );
        }
        // Earlier versions still sign identically.
        for op in operators.iter_mut() {
            let eoa = op.eoa();
            let known: Vec<(u64, serde_json::Value)> = signatures
                .iter()
                .filter(|((e, _), _)| *e == eoa)
                .map(|((_, v), s)| (*v, s.clone()))
                .collect();
            for (version, sig) in known {
                let (status, r) = http.post(
                    &format!("/v1/keys/{eoa}/sign"),
                    &op.sign_body(HASH, version as u32),
                );
                assert_eq!(status, 200, "round {round}: {r}");
                assert_eq!(
                    r["signature"], sig,
                    "round {round}: {eoa} v{version} signs differently"
                );
            }
        }
        // Record signatures of every acknowledged version not yet sampled.
        for op in operators.iter_mut() {
            let eoa = op.eoa();
            let versions: Vec<u64> = acked
                .lock()
                .unwrap()
                .keys()
                .filter(|(e, _)| *e == eoa)
                .map(|(_, v)| *v)
                .collect();
            for version in versions {
                if let std::collections::btree_map::Entry::Vacant(slot) =
                    signatures.entry((eoa, version))
                {
                    let (status, r) = http.post(
                        &format!("/v1/keys/{eoa}/sign"),
                        &op.sign_body(HASH, version as u32),
                    );
                    assert_eq!(status, 200, "{r}");
                    slot.insert(r["signature"].clone());
                }
            }
        }

        // Fire creates and rotations, and kill the process at a random moment among them.
        let mut bodies = Vec::new();
        for _ in 0..3 {
            let mut op = Operator::new(1000 + operators.len() as u64);
            bodies.push((op.eoa(), "/v1/keys".to_owned(), op.create_body()));
            operators.push(op);
        }
        for op in operators.iter_mut().take(4) {
            bodies.push((
                op.eoa(),
                format!("/v1/keys/{}/rotate", op.eoa()),
                op.rotate_body(),
            ));
        }
        let url = signer.url.clone();
        let sender_acked = acked.clone();
        let progress = Arc::new(AtomicUsize::new(0));
        let sender_progress = progress.clone();
        let total = bodies.len();
        let sender = std::thread::spawn(move || {
            let http = Http::new(&url);
            for (eoa, path, body) in bodies {
                let client = reqwest::blocking::Client::new();
                let Ok(resp) = client
                    .post(format!("{}{path}", http.base))
                    .json(&body)
                    .send()
                else {
                    return;
                };
                if resp.status().is_success() {
                    let v: serde_json::Value = resp.json().unwrap_or_default();
                    let mut a = sender_acked.lock().unwrap();
                    for ver in v["versions"].as_array().into_iter().flatten() {
                        a.insert(
                            (eoa, ver["version"].as_u64().unwrap()),
                            ver["g1"]["x"].as_str().unwrap().to_owned(),
                        );
                    }
                }
                sender_progress.fetch_add(1, Ordering::SeqCst);
            }
        });
        // Kill after a random number of answered requests (whatever the machine's speed), then
        // a random few milliseconds more, so the kill lands inside the next request.
        let target = (rng.next_u64() % (total as u64 + 1)) as usize;
        let waiting = std::time::Instant::now();
        while progress.load(Ordering::SeqCst) < target
            && waiting.elapsed() < Duration::from_secs(30)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(rng.next_u64() % 4));
        signer.stop(); // SIGKILL
        sender.join().unwrap();
    }
    let acked = acked.lock().unwrap();
    let rotated = acked.keys().filter(|(_, v)| *v > 1).count();
    eprintln!(
        "{} versions acknowledged ({rotated} from rotations) over {} crashes",
        acked.len(),
        iterations()
    );
    assert!(
        acked.len() >= 10 && rotated >= 3,
        "too few acknowledged operations to mean anything"
    );
}
