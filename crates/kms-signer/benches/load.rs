//! Load benchmark of the real `kms-signer` (release build) on loopback: sustained signed `sign`
//! requests per second with EIP-712 authentication and the audit log on, p50/p99 latency, errors;
//! and, in the same run, the in-process cost of the same crypto (ecrecover + hashToG1 + G1
//! multiplication) as the floor.
//!
//! `cargo bench -p kms-signer --bench load` (env: LOAD_SECS, LOAD_CLIENTS, LOAD_OPERATORS).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use alloy_primitives::B256;
use kms_crypto::auth::{recover_signer, EoaKey, Freshness, Request};
use kms_crypto::bn254::SecretKey;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const CHAIN_ID: u64 = 31337;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn signed(key: &EoaKey, req: &Request) -> String {
    format!(
        "0x{}",
        hex::encode(key.sign_digest(&req.digest(CHAIN_ID)).expect("sign"))
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

/// The crypto one request costs the service, in process: recover the EOA, hash to G1, multiply.
fn floor(iterations: u32) -> f64 {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let eoa = EoaKey::random(&mut rng);
    let sk = SecretKey::random(&mut rng);
    let hash = B256::from([7u8; 32]);
    let req = Request::SignHash {
        operator: eoa.address(),
        message_hash: hash,
        key_version: 0,
        fresh: Freshness {
            nonce: 1,
            deadline: 2,
        },
    };
    let digest = req.digest(CHAIN_ID);
    let sig = eoa.sign_digest(&digest).expect("sign");
    let start = Instant::now();
    for _ in 0..iterations {
        let who = recover_signer(&digest, &sig).expect("recover");
        assert_eq!(who, eoa.address());
        std::hint::black_box(sk.sign_hash(&hash.0));
    }
    f64::from(iterations) / start.elapsed().as_secs_f64()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // cargo bench -- --list
    }
    let secs = env("LOAD_SECS", 10);
    let clients = env("LOAD_CLIENTS", 16) as usize;
    let operators = env("LOAD_OPERATORS", 16) as usize;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("kek"), [9u8; 32]).expect("kek");
    std::fs::write(
        dir.path().join("signer.toml"),
        "rate_limit_per_sec = 1000000\nrate_limit_burst = 1000000\nmax_request_validity_secs = 3600\n",
    )
    .expect("config");
    let port_file = dir.path().join("port");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kms-signer"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--chain-id",
            &CHAIN_ID.to_string(),
        ])
        .arg("--config")
        .arg(dir.path().join("signer.toml"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--kek-key-file")
        .arg(dir.path().join("kek"))
        .arg("--port-file")
        .arg(&port_file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start kms-signer");
    let started = Instant::now();
    let url = loop {
        if let Ok(a) = std::fs::read_to_string(&port_file) {
            break format!("http://{a}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "kms-signer did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let http = reqwest::blocking::Client::new();
    let keys: Vec<EoaKey> = (0..operators)
        .map(|i| EoaKey::random(&mut ChaCha20Rng::seed_from_u64(i as u64)))
        .collect();
    for key in &keys {
        let fresh = Freshness {
            nonce: 0,
            deadline: now() + 600,
        };
        let req = Request::CreateKey {
            operator: key.address(),
            fresh,
        };
        let body = json!({ "operator": key.address().to_string(), "nonce": 0, "deadline": fresh.deadline, "signature": signed(key, &req) });
        let r = http
            .post(format!("{url}/v1/keys"))
            .json(&body)
            .send()
            .expect("create");
        assert_eq!(r.status().as_u16(), 201);
    }

    // Bodies are signed before the clock starts: the figure is the service's, not the client's.
    let per_client = (secs as usize) * 3000 / clients + 100;
    let deadline = now() + 3000;
    let mut plans: Vec<Vec<(String, Value)>> = Vec::new();
    for c in 0..clients {
        let key = &keys[c % operators];
        let plan = (0..per_client)
            .map(|i| {
                let nonce = 1 + (c * per_client + i) as u64;
                let hash = B256::from(alloy_primitives::U256::from(nonce));
                let fresh = Freshness { nonce, deadline };
                let req = Request::SignHash { operator: key.address(), message_hash: hash, key_version: 0, fresh };
                let body = json!({ "message_hash": hash.to_string(), "nonce": nonce, "deadline": deadline, "signature": signed(key, &req) });
                (format!("{url}/v1/keys/{}/sign", key.address()), body)
            })
            .collect();
        plans.push(plan);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let begin = Instant::now();
    let workers: Vec<_> = plans
        .into_iter()
        .map(|plan| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::new();
                let (mut lat, mut errors) = (Vec::new(), 0u64);
                for (u, body) in plan {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let t = Instant::now();
                    match http.post(&u).json(&body).send() {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes();
                            lat.push(t.elapsed());
                        }
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.join().expect("worker");
        lat.extend(l);
        errors += e;
    }
    let elapsed = begin.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();
    lat.sort();
    let rps = lat.len() as f64 / elapsed;
    let floor_ops = floor(300);
    println!("kms-signer load: {clients} clients, {operators} operators, {elapsed:.1} s");
    println!(
        "  sign requests:  {} ok, {errors} errors, {rps:.0} req/s",
        lat.len()
    );
    println!(
        "  latency:        p50 {:.2} ms, p99 {:.2} ms",
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3
    );
    println!("  in-process floor (ecrecover + hashToG1 + G1 mul, one core): {floor_ops:.0} ops/s");
    println!("  service / floor: {:.0}%", 100.0 * rps / floor_ops);
}
