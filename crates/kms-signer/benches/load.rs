//! Load benchmark of the real `kms-signer` (release build) on loopback, audit log on (every request
//! is durable before it is answered), three paths in one run:
//! 1. gRPC `SignGeneric` with an API key, through the published `cerberus-api` client, as
//!    eigensdk-go calls it;
//! 2. REST `sign` with an API key (`Authorization: Bearer`);
//! 3. REST `sign` with a fresh EIP-712 signature per request (bodies signed before the clock
//!    starts, so the figure is the service's, not the client's);
//!
//! and, for each, the in-process floor on one core: hashToG1 + the blinded multiplication, plus
//! ecrecover for EIP-712 and the token's SHA-256 for API keys.
//!
//! `cargo bench -p kms-signer --bench load` (env: LOAD_SECS per path, LOAD_CLIENTS concurrent
//! callers, LOAD_OPERATORS keys). Every answer is checked (a 64-byte signature, or a 200).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

#[path = "../tests/common/mod.rs"]
mod common;

use alloy_primitives::B256;
use cerberus_api::client::SignerClient;
use common::{g1, Http, Operator, Signer};
use kms_crypto::auth::{api_token_hash, recover_signer, EoaKey, Freshness, Request};
use kms_crypto::bn254::SecretKey;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

/// One path's outcome.
struct Run {
    name: &'static str,
    ok: usize,
    errors: u64,
    secs: f64,
    latencies: Vec<Duration>,
    /// The service's CPU seconds over the run (user + system), if /proc could be read.
    service_cpu: Option<f64>,
}

impl Run {
    fn new(name: &'static str, parts: Vec<(Vec<Duration>, u64)>, secs: f64) -> Self {
        let mut latencies = Vec::new();
        let mut errors = 0;
        for (l, e) in parts {
            latencies.extend(l);
            errors += e;
        }
        latencies.sort();
        Run {
            name,
            ok: latencies.len(),
            errors,
            secs,
            latencies,
            service_cpu: None,
        }
    }

    fn rate(&self) -> f64 {
        self.ok as f64 / self.secs
    }

    fn ms(&self, p: f64) -> f64 {
        percentile(&self.latencies, p).as_secs_f64() * 1e3
    }
}

/// A process's CPU seconds so far (user + system), from /proc (Linux).
fn cpu_secs(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the parenthesised name: utime and stime are the 12th and 13th fields, in 1/100 s.
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Iterations of each floor (about a second in all on this machine).
const FLOOR_ITERATIONS: u32 = 1500;

/// Per-second rate of `f` on this thread.
fn ops_per_sec(iterations: u32, mut f: impl FnMut(u32)) -> f64 {
    let start = Instant::now();
    for i in 0..iterations {
        f(i);
    }
    f64::from(iterations) / start.elapsed().as_secs_f64()
}

/// The floors: (EIP-712: ecrecover + hashToG1 + multiplication, API key: SHA-256 of the token +
/// hashToG1 + multiplication, and the API key's with one plain product instead of the service's
/// blinded multiplication, which costs two).
fn floors(iterations: u32) -> (f64, f64, f64) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let eoa = EoaKey::random(&mut rng);
    let sk = SecretKey::random(&mut rng);
    let req = Request::SignHash {
        operator: eoa.address(),
        message_hash: B256::from([7u8; 32]),
        key_version: 0,
        fresh: Freshness {
            nonce: 1,
            deadline: 2,
        },
    };
    let digest = req.digest(common::CHAIN_ID);
    let sig = eoa.sign_digest(&digest).expect("sign");
    let eip712 = ops_per_sec(iterations, |i| {
        let who = recover_signer(&digest, &sig).expect("recover");
        assert_eq!(who, eoa.address());
        std::hint::black_box(sk.sign_hash(&B256::from(alloy_primitives::U256::from(i)).0));
    });
    let token = common::new_token();
    let api_key = ops_per_sec(iterations, |i| {
        std::hint::black_box(api_token_hash(std::hint::black_box(&token)));
        std::hint::black_box(sk.sign_hash(&B256::from(alloy_primitives::U256::from(i)).0));
    });
    let k = sk
        .to_be_bytes()
        .expose(|b| <ark_bn254::Fr as ark_ff::PrimeField>::from_be_bytes_mod_order(b));
    let unblinded = ops_per_sec(iterations, |i| {
        std::hint::black_box(api_token_hash(std::hint::black_box(&token)));
        let h = kms_crypto::bn254::hash_to_g1(&B256::from(alloy_primitives::U256::from(i)).0);
        let p = ark_ec::AffineRepr::into_group(*h.affine()) * k;
        let _ = std::hint::black_box(ark_ec::CurveGroup::into_affine(p));
    });
    (eip712, api_key, unblinded)
}

/// The callers' runtime: two threads, as many as the machine has cores.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs one async REST caller per plan of (path, token, body), sharing one client (as the gRPC
/// path shares its connections), for `secs` seconds.
fn rest(
    name: &'static str,
    base: &str,
    plans: Vec<Vec<(String, Option<String>, Value)>>,
    secs: u64,
) -> Run {
    let rt = runtime();
    let http = reqwest::Client::new();
    // Bodies serialized before the clock starts.
    let plans: Vec<Vec<(String, Option<String>, String)>> = plans
        .into_iter()
        .map(|plan| {
            plan.into_iter()
                .map(|(path, token, body)| {
                    let auth = token.map(|t| format!("Bearer {t}"));
                    (format!("{base}{path}"), auth, body.to_string())
                })
                .collect()
        })
        .collect();
    rt.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let begin = Instant::now();
        let tasks: Vec<_> = plans
            .into_iter()
            .map(|plan| {
                let stop = stop.clone();
                let http = http.clone();
                tokio::spawn(async move {
                    let (mut lat, mut errors) = (Vec::new(), 0u64);
                    for (url, auth, body) in plan {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let t = Instant::now();
                        let mut r = http
                            .post(url)
                            .header("content-type", "application/json")
                            .body(body);
                        if let Some(auth) = auth {
                            r = r.header("authorization", auth);
                        }
                        // An answer counts only with a signature in it.
                        let signed = match r.send().await {
                            Ok(a) if a.status().is_success() => a
                                .json::<Value>()
                                .await
                                .is_ok_and(|v| v["signature"]["x"].is_string()),
                            _ => false,
                        };
                        if signed {
                            lat.push(t.elapsed());
                        } else {
                            errors += 1;
                        }
                    }
                    // A caller that used up its plan before the clock stopped would idle and
                    // hide the service's rate.
                    assert!(
                        stop.load(Ordering::Relaxed),
                        "a caller ran out of prepared requests; raise the plan"
                    );
                    (lat, errors)
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(secs)).await;
        stop.store(true, Ordering::Relaxed);
        let mut parts = Vec::new();
        for t in tasks {
            parts.push(t.await.expect("caller"));
        }
        Run::new(name, parts, begin.elapsed().as_secs_f64())
    })
}

/// `clients` concurrent gRPC `SignGeneric` callers over `channels` HTTP/2 connections, each
/// signing fresh 32-byte data with its operator's API key, for `secs` seconds.
fn grpc(url: &str, callers: &[(String, String)], channels: usize, secs: u64) -> Run {
    let rt = runtime();
    rt.block_on(async {
        let mut conns = Vec::new();
        for _ in 0..channels {
            let c = tonic09::transport::Channel::from_shared(url.to_owned())
                .expect("url")
                .connect()
                .await
                .expect("connect");
            conns.push(c);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let begin = Instant::now();
        let tasks: Vec<_> = callers
            .iter()
            .enumerate()
            .map(|(i, (name, token))| {
                let mut client = SignerClient::new(conns[i % conns.len()].clone());
                let (name, token) = (name.clone(), token.clone());
                let stop = stop.clone();
                tokio::spawn(async move {
                    let mut rng = ChaCha20Rng::seed_from_u64(i as u64);
                    let (mut lat, mut errors) = (Vec::new(), 0u64);
                    while !stop.load(Ordering::Relaxed) {
                        let mut data = vec![0u8; 32];
                        rng.fill_bytes(&mut data);
                        let mut req = tonic09::Request::new(cerberus_api::SignGenericRequest {
                            public_key_g1: name.clone(),
                            data,
                            password: String::new(),
                        });
                        req.metadata_mut()
                            .insert("authorization", token.parse().expect("ascii"));
                        let t = Instant::now();
                        match client.sign_generic(req).await {
                            Ok(r) if r.get_ref().signature.len() == 64 => lat.push(t.elapsed()),
                            _ => errors += 1,
                        }
                    }
                    (lat, errors)
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(secs)).await;
        stop.store(true, Ordering::Relaxed);
        let mut parts = Vec::new();
        for t in tasks {
            parts.push(t.await.expect("task"));
        }
        Run::new(
            "gRPC SignGeneric, API key",
            parts,
            begin.elapsed().as_secs_f64(),
        )
    })
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // cargo bench -- --list
    }
    let secs = env("LOAD_SECS", 10);
    // EIP-712 bodies are signed with the test harness's 120-second deadline.
    assert!(secs <= 100, "LOAD_SECS is at most 100");
    let clients = env("LOAD_CLIENTS", 16) as usize;
    let operators = env("LOAD_OPERATORS", 16).max(1) as usize;
    let dir = tempfile::tempdir().expect("tempdir");
    // The per-EOA limit is lifted (16 operators carry the whole load); the per-source limit keeps
    // its default, so the figures hold for a service configured as shipped.
    let config = dir.path().join("signer.toml");
    std::fs::write(
        &config,
        "rate_limit_per_sec = 1000000\nrate_limit_burst = 1000000\nmax_request_validity_secs = 3600\n",
    )
    .expect("config");
    let (signer, grpc_addr) =
        Signer::start_grpc_logging(dir.path(), &["--config", config.to_str().unwrap()], "warn");
    let http = Http::new(&signer.url);
    let service_pid = signer.child.id();

    // Each operator: a key, an API key for signing, and its gnark-compressed key name.
    let mut ops: Vec<Operator> = (0..operators)
        .map(|i| Operator::new(1 + i as u64))
        .collect();
    let mut keyed = Vec::new();
    for op in &mut ops {
        let (status, key) = http.post("/v1/keys", &op.create_body());
        assert_eq!(status, 201, "{key}");
        let (_, token) = op.api_key(&http, "sign", "");
        let name = hex::encode(g1(&key["versions"][0]["g1"]).to_gnark_compressed());
        keyed.push((name, token));
    }
    let caller = |c: usize| c % operators;

    let grpc_callers: Vec<_> = (0..clients).map(|c| keyed[caller(c)].clone()).collect();
    // This machine's speed drifts by up to 2x within minutes, so each path's floor is measured
    // just before and just after it, and averaged.
    let around = |f: &mut dyn FnMut() -> Run| {
        let before = floors(FLOOR_ITERATIONS);
        let cpu_before = cpu_secs(service_pid);
        let mut run = f();
        run.service_cpu = cpu_secs(service_pid).zip(cpu_before).map(|(b, a)| b - a);
        let after = floors(FLOOR_ITERATIONS);
        let mean = |a: f64, b: f64| (a + b) / 2.0;
        let floor = (
            mean(before.0, after.0),
            mean(before.1, after.1),
            mean(before.2, after.2),
        );
        (run, floor)
    };
    let (grpc_run, grpc_floor) =
        around(&mut || grpc(&format!("http://{grpc_addr}"), &grpc_callers, 4, secs));

    // Prepared requests per caller: well above what two cores can answer.
    let per_client = (secs as usize) * 8000 / clients + 100;
    let mut rng = ChaCha20Rng::seed_from_u64(99);
    let mut hash = || {
        let mut h = [0u8; 32];
        rng.fill_bytes(&mut h);
        B256::from(h)
    };
    let token_plans = (0..clients)
        .map(|c| {
            let op = &ops[caller(c)];
            let path = format!("/v1/keys/{}/sign", op.eoa());
            (0..per_client)
                .map(|_| {
                    let body = json!({ "message_hash": hash().to_string() });
                    (path.clone(), Some(keyed[caller(c)].1.clone()), body)
                })
                .collect()
        })
        .collect();
    let mut token_plans = Some(token_plans);
    let (token_run, token_floor) = around(&mut || {
        let plans = token_plans.take().unwrap_or_default();
        rest("REST sign, API key", &signer.url, plans, secs)
    });

    // EIP-712 nonces must not repeat per EOA, so each caller signs with its own operator's
    // nonces in turn (callers sharing an operator take turns through one counter).
    let mut eip_plans: Vec<Vec<_>> = vec![Vec::new(); clients];
    for _ in 0..per_client {
        for (c, plan) in eip_plans.iter_mut().enumerate() {
            let op = &mut ops[caller(c)];
            let path = format!("/v1/keys/{}/sign", op.eoa());
            plan.push((path, None, op.sign_body(hash(), 0)));
        }
    }
    let mut eip_plans = Some(eip_plans);
    let (eip_run, eip_floor) = around(&mut || {
        let plans = eip_plans.take().unwrap_or_default();
        rest("REST sign, EIP-712", &signer.url, plans, secs)
    });
    drop(signer);

    println!(
        "kms-signer load: {clients} callers, {operators} operators, {secs} s per path, audit on"
    );
    println!(
        "{:<28} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>8} {:>11} {:>12}",
        "path",
        "ok",
        "errors",
        "req/s",
        "p50 ms",
        "p99 ms",
        "floor/s",
        "/floor",
        "service µs",
        "floor µs"
    );
    for (run, floor) in [
        (&grpc_run, grpc_floor.1),
        (&token_run, token_floor.1),
        (&eip_run, eip_floor.0),
    ] {
        // The service's CPU per answered request, against the floor's cost of one.
        let per_request = run.service_cpu.map_or("-".to_owned(), |c| {
            format!("{:.0}", 1e6 * c / run.ok.max(1) as f64)
        });
        println!(
            "{:<28} {:>9} {:>7} {:>9.0} {:>9.2} {:>9.2} {:>9.0} {:>7.0}% {:>11} {:>12.0}",
            run.name,
            run.ok,
            run.errors,
            run.rate(),
            run.ms(0.5),
            run.ms(0.99),
            floor,
            100.0 * run.rate() / floor,
            per_request,
            1e6 / floor
        );
    }
    println!("floors: one core, in process; the multiplication is blinded (two products)");
    println!("service µs: the service's CPU (user + system) per answered request; the client shares the two cores");
    let errors = grpc_run.errors + token_run.errors + eip_run.errors;
    assert_eq!(errors, 0, "requests failed under load");
    for (name, f) in [
        ("gRPC", grpc_floor),
        ("REST API key", token_floor),
        ("REST EIP-712", eip_floor),
    ] {
        println!(
            "around {name}: API-key floor {:.0}/s, with one plain product instead {:.0}/s (the blinding costs {:.0}%)",
            f.1,
            f.2,
            100.0 * (1.0 - f.1 / f.2)
        );
    }
}
