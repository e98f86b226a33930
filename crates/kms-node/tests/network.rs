//! Multi-process tests: real `kms-node` binaries on the loopback (docs 0008, issue 5). The tests
//! of this file run one at a time (each starts a whole cluster on a 2-core machine).
#![cfg(test)]

mod common;

use common::{Cluster, APP};
use kms_client::node::{Fault, NodeClient};
use rand_core::{OsRng, RngCore};
use std::sync::Mutex;
use std::time::Duration;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn client(c: &Cluster) -> NodeClient {
    NodeClient::new(&c.urls()).unwrap()
}

fn decrypts(c: &Cluster, cts: &[(Vec<u8>, Vec<u8>)]) {
    let cl = client(c);
    for (ct, msg) in cts {
        let out = cl.decrypt(APP, &c.owner, ct, 31337).unwrap();
        assert_eq!(out.plaintext.as_slice(), msg.as_slice());
    }
}

#[test]
fn genesis_encrypt_decrypt_and_reshares_keep_the_key() {
    let _s = serial();
    let c = Cluster::new(4, 4, 3);
    let all = c.running();
    let first = c.wait_epoch_above(&all, 0, 3);
    let mpk = c.mpk(0);
    for i in &all {
        assert_eq!(c.mpk(*i), mpk, "node {i} disagrees on the MPK");
    }
    let cl = client(&c);
    let mut cts = Vec::new();
    let ct = cl.encrypt(APP, b"hello 0").unwrap().ciphertext;
    cts.push((ct, b"hello 0".to_vec()));
    let mut last = *first.iter().max().unwrap();
    for r in 1..=10u32 {
        let epochs = c.wait_epoch_above(&all, last, 3);
        last = *epochs.iter().min().unwrap();
        for i in &all {
            assert_eq!(c.mpk(*i), mpk, "MPK changed at reshare {r} on node {i}");
        }
        let msg = format!("hello {r}").into_bytes();
        cts.push((cl.encrypt(APP, &msg).unwrap().ciphertext, msg));
    }
    for (ct, msg) in &cts {
        let out = cl.decrypt(APP, &c.owner, ct, 31337).unwrap();
        assert_eq!(out.plaintext.as_slice(), msg.as_slice());
        assert!(out.culprits().is_empty());
    }
    let metrics = reqwest::blocking::get(format!("{}/metrics", c.url(0)))
        .unwrap()
        .text()
        .unwrap();
    for needle in [
        "kms_node_rounds_total{outcome=\"finalized\"}",
        &format!("kms_node_epoch {last}"),
        "kms_node_round_seconds_count",
        "kms_node_partial_requests_total{outcome=\"ok\"}",
    ] {
        assert!(metrics.contains(needle), "no {needle} in\n{metrics}");
    }
    // Retention keeps one previous epoch: the genesis epoch is gone, the latest is served.
    let first = *first.iter().max().unwrap();
    assert!(c.get(0, &format!("/v1/epochs/{first}")).is_none());
    let held = c.get(0, &format!("/v1/epochs/{last}")).unwrap();
    assert!(!held["logs"].as_array().unwrap().is_empty());
    let health = c.get(0, "/healthz").unwrap();
    assert_eq!(health["status"], "ok");
}

#[test]
fn one_node_down_from_the_start() {
    let _s = serial();
    // Node 3 is in the operator file but never starts.
    let c = Cluster::with(4, 4, 3, "", &[0, 1, 2]);
    let up = c.running();
    let e = c.wait_epoch_above(&up, 0, 4);
    let ct = client(&c).encrypt(APP, b"t of n").unwrap().ciphertext;
    c.wait_epoch_above(&up, *e.iter().max().unwrap(), 4);
    let out = client(&c).decrypt(APP, &c.owner, &ct, 31337).unwrap();
    assert_eq!(out.plaintext.as_slice(), b"t of n");
    // The missing node is reported, and it cost the decryption nothing.
    let down = out.nodes.iter().filter(|n| n.fault.is_some()).count();
    assert_eq!(down, 1, "{:?}", out.nodes);
}

#[test]
fn kill9_during_reshares_loses_nothing() {
    let _s = serial();
    let mut c = Cluster::new(4, 4, 3);
    let all = c.running();
    let e = c.wait_epoch_above(&all, 0, 4);
    let mpk = c.mpk(0);
    let mut last = *e.iter().max().unwrap();
    let mut cts = vec![(
        client(&c).encrypt(APP, b"before").unwrap().ciphertext,
        b"before".to_vec(),
    )];
    for trial in 0..20 {
        let victim = (OsRng.next_u32() % 4) as usize;
        // Rounds start at the boundary and take about 100 ms here: kill inside that window.
        let at = Duration::from_millis(u64::from(OsRng.next_u32() % 250));
        c.sleep_past_boundary(at);
        c.kill9(victim);
        c.restart(victim);
        // The next round completes everywhere (the victim finishes it or catches up).
        last = c.wait_same_epoch(&all, last, 5);
        for i in &all {
            assert_eq!(c.mpk(*i), mpk, "trial {trial}: MPK changed on node {i}");
        }
        let msg = format!("trial {trial}").into_bytes();
        let cl = client(&c);
        cts.push((cl.encrypt(APP, &msg).unwrap().ciphertext, msg));
        // Every earlier ciphertext, and the restarted node's partial verifies (no culprit).
        let (ct, m) = &cts[(OsRng.next_u32() as usize) % cts.len()];
        let out = cl.decrypt(APP, &c.owner, ct, 31337).unwrap();
        assert_eq!(out.plaintext.as_slice(), m.as_slice());
        assert!(out.culprits().is_empty(), "trial {trial}: {:?}", out.nodes);
        let victim_report = out
            .nodes
            .iter()
            .find(|n| n.url == c.url(victim))
            .expect("victim in the report");
        // Its partial verified, or it answered after the others had settled the call.
        assert!(
            matches!(victim_report.fault, None | Some(Fault::NotWaitedFor)),
            "trial {trial}: restarted node {victim}: {:?}",
            victim_report.fault
        );
    }
    decrypts(&c, &cts);
    for i in &all {
        let log = c.log(*i);
        assert!(
            !log.contains("equivocation") && !log.contains("Equivocated"),
            "node {i} saw an equivocation:\n{}",
            c.log_tail(*i, 50)
        );
    }
}

#[test]
fn all_nodes_killed_mid_reshare_resume_with_the_same_key() {
    let _s = serial();
    let mut c = Cluster::new(4, 4, 3);
    let all = c.running();
    let e = c.wait_epoch_above(&all, 0, 4);
    let mpk = c.mpk(0);
    let ct = client(&c).encrypt(APP, b"survives").unwrap().ciphertext;
    let last = *e.iter().max().unwrap();
    c.sleep_past_boundary(Duration::from_millis(40));
    for i in &all {
        c.kill9(*i);
    }
    let dkg_before: Vec<usize> = all
        .iter()
        .map(|&i| c.log(i).matches("kind=\"dkg\"").count())
        .collect();
    for &i in &all {
        c.start(i);
    }
    c.write_operators();
    // Straight from disk: the last finalized epoch (or the one finalized just before the kill).
    for &i in &all {
        let ep = c.epoch(i).expect("an epoch after restart");
        assert!(ep >= last);
        assert_eq!(c.mpk(i), mpk);
    }
    c.wait_epoch_above(&all, last + 1, 5);
    for &i in &all {
        assert_eq!(c.mpk(i), mpk);
        let dkg_after = c.log(i).matches("kind=\"dkg\"").count();
        assert_eq!(dkg_after, dkg_before[i], "node {i} started a new DKG");
    }
    decrypts(&c, &[(ct, b"survives".to_vec())]);
    // SIGTERM is a clean stop.
    for &i in &all {
        assert!(c.sigterm(i).success(), "node {i} did not stop cleanly");
    }
}

#[test]
fn wiped_node_rejoins_and_an_added_node_joins() {
    let _s = serial();
    // Five nodes, four in the operator file at first.
    let mut c = Cluster::new(5, 4, 3);
    let first4 = [0, 1, 2, 3];
    let e = c.wait_epoch_above(&first4, 0, 4);
    let mpk = c.mpk(0);
    let ct = client(&c).encrypt(APP, b"old").unwrap().ciphertext;
    // Wipe node 2: same keys, empty data directory.
    c.kill9(2);
    std::fs::remove_dir_all(c.data_dir(2)).unwrap();
    c.restart(2);
    let e = c.wait_epoch_above(&first4, *e.iter().max().unwrap(), 4);
    assert_eq!(c.mpk(2), mpk);
    let out = client(&c).decrypt(APP, &c.owner, &ct, 31337).unwrap();
    assert_eq!(out.plaintext.as_slice(), b"old");
    assert!(
        out.nodes
            .iter()
            .all(|n| matches!(n.fault, None | Some(Fault::NotWaitedFor))),
        "{:?}",
        out.nodes
    );
    // Node 4 is added to the operator file: it joins at the next reshare.
    c.listed.push(4);
    c.write_operators();
    let all5 = [0, 1, 2, 3, 4];
    c.wait_epoch_above(&all5, *e.iter().max().unwrap(), 4);
    assert_eq!(c.mpk(4), mpk);
    let status = c.get(4, "/v1/mpk").unwrap();
    assert_eq!(status["operators"].as_array().unwrap().len(), 5);
    assert_eq!(status["threshold"].as_u64(), Some(4));
    let out = client(&c).decrypt(APP, &c.owner, &ct, 31337).unwrap();
    assert_eq!(out.plaintext.as_slice(), b"old");
    assert!(
        out.nodes
            .iter()
            .all(|n| matches!(n.fault, None | Some(Fault::NotWaitedFor))),
        "{:?}",
        out.nodes
    );
}

/// A Byzantine front for a real node: forwards everything, but replaces each partial with a
/// well-formed, correctly sealed, wrong one (it knows the response key from the request).
fn byzantine_proxy(upstream: String) -> String {
    use axum::body::Bytes;
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let http = reqwest::Client::new();
            let forward_get = |path: &'static str| {
                move |State((http, up)): State<(reqwest::Client, String)>| async move {
                    let r = http.get(format!("{up}{path}")).send().await.unwrap();
                    let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
                    (status, r.bytes().await.unwrap()).into_response()
                }
            };
            let partial = |State((http, up)): State<(reqwest::Client, String)>,
                           Path(app): Path<String>,
                           body: Bytes| async move {
                let req: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let r = http
                    .post(format!("{up}/v1/apps/{app}/partial"))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
                let mut v: serde_json::Value = r.json().await.unwrap();
                if status.is_success() {
                    let key = hex::decode(&req["response_key"].as_str().unwrap()[2..]).unwrap();
                    let key = kms_crypto::seal::EncryptionPublicKey::from_bytes(&key).unwrap();
                    let node: alloy_primitives::Address =
                        v["node"].as_str().unwrap().parse().unwrap();
                    let epoch = v["epoch"].as_u64().unwrap();
                    let wrong = kms_crypto::bls::hash_app_id(b"not the partial").to_bytes();
                    let sealed = kms_crypto::seal::seal(
                        &key,
                        &wrong,
                        &kms_api::app::partial_aad(
                            &kms_api::AppId::new(&app).unwrap(),
                            &node.into_array(),
                            epoch,
                        ),
                        &kms_crypto::Secret::new([9u8; 32]),
                    )
                    .unwrap();
                    v["sealed"] = format!("0x{}", hex::encode(sealed.to_bytes())).into();
                }
                (status, axum::Json(v)).into_response()
            };
            let app = axum::Router::new()
                .route("/v1/mpk", axum::routing::get(forward_get("/v1/mpk")))
                .route("/v1/status", axum::routing::get(forward_get("/v1/status")))
                .route("/v1/apps/{app}/partial", axum::routing::post(partial))
                .with_state((http, upstream));
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    url
}

#[test]
fn wrong_partials_are_dropped_and_their_node_named() {
    let _s = serial();
    let mut c = Cluster::new(4, 4, 3);
    let all = c.running();
    c.wait_epoch_above(&all, 0, 4);
    let liar = 3;
    let mut urls = c.urls();
    urls[liar] = byzantine_proxy(c.url(liar));
    let cl = NodeClient::new(&urls).unwrap();
    let liar_addr = alloy_primitives::Address::from(c.nodes[liar].address);
    // The client returns once three partials verify: the liar's is checked (and named) when it
    // arrives in time, and is never used either way.
    let mut named = 0;
    for i in 0..100 {
        let msg = format!("message {i}").into_bytes();
        let ct = cl.encrypt(APP, &msg).unwrap().ciphertext;
        let out = cl.decrypt(APP, &c.owner, &ct, 31337).unwrap();
        assert_eq!(out.plaintext.as_slice(), msg.as_slice());
        assert!(!out.used.contains(&liar_addr));
        let report = out.nodes.iter().find(|n| n.url == urls[liar]).unwrap();
        match &report.fault {
            Some(Fault::BadPartial) => {
                assert_eq!(out.culprits(), vec![liar_addr], "decrypt {i}");
                named += 1;
            }
            Some(Fault::NotWaitedFor) => assert!(out.culprits().is_empty(), "decrypt {i}"),
            other => panic!("decrypt {i}: the liar's report is {other:?}"),
        }
    }
    assert!(named > 0, "the liar was never named in 100 decrypts");
    // With an honest node down, the liar's partial is needed, checked, and named every time.
    c.kill9(0);
    let msg = b"one honest node down".to_vec();
    let ct = cl.encrypt(APP, &msg).unwrap().ciphertext;
    match cl.decrypt(APP, &c.owner, &ct, 31337) {
        Err(kms_client::Error::Quorum { nodes, .. }) => {
            let report = nodes.iter().find(|n| n.url == urls[liar]).unwrap();
            assert_eq!(report.fault, Some(Fault::BadPartial), "{nodes:?}");
        }
        other => panic!("2 honest partials and a wrong one cannot decrypt: {other:?}"),
    }
}

/// Signs a partial request for `node` and `epoch` with `key`; returns the JSON body.
fn partial_body(
    key: &kms_crypto::auth::EoaKey,
    app: &str,
    node: [u8; 20],
    epoch: u64,
    nonce: u64,
    deadline: u64,
) -> serde_json::Value {
    let response_key = kms_crypto::seal::EncryptionKey::random(&mut OsRng)
        .public()
        .to_bytes();
    let req = kms_crypto::auth::PartialRequest {
        app_id: app.to_string(),
        response_key: alloy_primitives::B256::from(response_key),
        epoch,
        policy_block: 0,
        nonce,
        deadline,
        node: node.into(),
    };
    let sig = key.sign_digest(&req.digest(31337)).unwrap();
    serde_json::json!({
        "epoch": epoch,
        "response_key": format!("0x{}", hex::encode(response_key)),
        "nonce": nonce,
        "deadline": deadline,
        "signature": format!("0x{}", hex::encode(sig)),
    })
}

fn post(url: &str, body: &serde_json::Value) -> (u16, String) {
    let r = reqwest::blocking::Client::new()
        .post(url)
        .json(body)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let v: serde_json::Value = r.json().unwrap();
    (
        status,
        v["error"]["code"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn app_access_refuses_every_bad_request_class() {
    let _s = serial();
    let c = Cluster::with(
        4,
        4,
        3,
        "app_rate_limit_per_sec = 1\napp_rate_limit_burst = 16\nretention_epochs = 20",
        &[0, 1, 2, 3],
    );
    let all = c.running();
    c.wait_epoch_above(&all, 0, 4);
    let epoch = c.epoch(0).unwrap();
    let node = c.nodes[0].address;
    let url = format!("{}/v1/apps/{APP}/partial", c.url(0));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ok = partial_body(&c.owner, APP, node, epoch, 1, now + 60);
    assert_eq!(post(&url, &ok), (200, String::new()));
    assert_eq!(post(&url, &ok), (409, "nonce_reused".into()));
    let stranger = kms_crypto::auth::EoaKey::random(&mut OsRng);
    assert_eq!(
        post(
            &url,
            &partial_body(&stranger, APP, node, epoch, 2, now + 60)
        ),
        (403, "not_owner".into())
    );
    // Signed for another node: recovers another signer.
    assert_eq!(
        post(
            &url,
            &partial_body(&c.owner, APP, c.nodes[1].address, epoch, 3, now + 60)
        ),
        (403, "not_owner".into())
    );
    assert_eq!(
        post(
            &format!("{}/v1/apps/nope/partial", c.url(0)),
            &partial_body(&c.owner, "nope", node, epoch, 4, now + 60)
        ),
        (403, "unknown_app".into())
    );
    assert_eq!(
        post(&url, &partial_body(&c.owner, APP, node, epoch, 5, now - 1)),
        (401, "expired".into())
    );
    assert_eq!(
        post(
            &url,
            &partial_body(&c.owner, APP, node, epoch, 6, now + 100_000)
        ),
        (401, "expired".into())
    );
    let mut bad_sig = partial_body(&c.owner, APP, node, epoch, 7, now + 60);
    bad_sig["signature"] = format!("0x{}", "00".repeat(65)).into();
    assert_eq!(post(&url, &bad_sig), (401, "bad_signature".into()));
    let mut garbage = ok.clone();
    garbage["nonce"] = "x".into();
    assert_eq!(post(&url, &garbage).0, 400);
    assert_eq!(
        post(
            &format!("{}/v1/apps/bad%20id/partial", c.url(0)),
            &partial_body(&c.owner, "bad id", node, epoch, 8, now + 60)
        ),
        (400, "invalid_app_id".into())
    );
    // The owner's signature covers the epoch: a request redirected to another epoch on its way
    // recovers another signer.
    let mut redirected = partial_body(&c.owner, APP, node, epoch, 9, now + 60);
    redirected["epoch"] = (epoch - 1).into();
    assert_eq!(post(&url, &redirected), (403, "not_owner".into()));
    assert_eq!(
        post(&url, &partial_body(&c.owner, APP, node, 1, 10, now + 60)),
        (404, "unknown_epoch".into())
    );
    // A policy block in static mode (whose policy is the config's).
    let mut other_block = partial_body(&c.owner, APP, node, epoch, 11, now + 60);
    other_block["policy_block"] = 5.into();
    assert_eq!(post(&url, &other_block), (400, "bad_request".into()));
    // Older clients (node domain version 1) named no epoch.
    let mut unnamed = partial_body(&c.owner, APP, node, epoch, 12, now + 60);
    unnamed.as_object_mut().unwrap().remove("epoch");
    assert_eq!(post(&url, &unnamed), (400, "bad_request".into()));
    // Requests without the app's credential do not charge its bucket: an outsider cannot run
    // it dry for the owner.
    for n in 200..240 {
        assert_eq!(
            post(
                &url,
                &partial_body(&stranger, APP, node, epoch, n, now + 60)
            ),
            (403, "not_owner".into())
        );
    }
    // Nor does a replay of a captured request.
    for _ in 0..40 {
        assert_eq!(post(&url, &ok), (409, "nonce_reused".into()));
    }
    assert_eq!(
        post(
            &url,
            &partial_body(&c.owner, APP, node, epoch, 13, now + 60)
        ),
        (200, String::new())
    );
    // The bucket (16, refilled at 1/s) runs dry.
    let mut limited = false;
    for n in 100..130 {
        if post(&url, &partial_body(&c.owner, APP, node, epoch, n, now + 60)).0 == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "no 429 from a 16-request bucket");
    // Protocol traffic is not limited by the app limits.
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/v1/protocol", c.url(0)))
        .body(vec![0u8, 0, 0, 1, 7])
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

#[test]
fn garbage_on_protocol_endpoints_does_not_stop_reshares() {
    let _s = serial();
    let c = Cluster::new(4, 4, 3);
    let all = c.running();
    let e = c.wait_epoch_above(&all, 0, 4);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut floods = Vec::new();
    for &i in &all {
        let url = format!("{}/v1/protocol", c.url(i));
        let stop = stop.clone();
        floods.push(std::thread::spawn(move || {
            let http = reqwest::blocking::Client::new();
            let mut sent = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut junk = vec![0u8; 64 + (OsRng.next_u32() % 4096) as usize];
                OsRng.fill_bytes(&mut junk);
                // Half framed as a batch of one message, half raw bytes.
                if sent.is_multiple_of(2) {
                    let len = (junk.len() as u32 - 4).to_be_bytes();
                    junk[..4].copy_from_slice(&len);
                }
                let _ = http.post(&url).body(junk).send();
                sent += 1;
            }
            sent
        }));
    }
    let last = *e.iter().max().unwrap();
    let after = c.wait_epoch_above(&all, last + 3, 8);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent: u32 = floods.into_iter().map(|f| f.join().unwrap()).sum();
    assert!(
        sent > 100,
        "the flood was too thin to mean anything: {sent}"
    );
    assert!(after.iter().all(|&x| x > last + 3));
}

/// Issue 15, item 6: a node frozen with SIGSTOP (it takes connections and never answers) costs
/// clients nothing. With every node healthy, then with one frozen across several reshares at a
/// 5 s interval, every encrypt and decrypt succeeds, none waits for the frozen node's request
/// timeout, and a decrypt that meets a reshare pins the new epoch. The latencies are printed
/// (docs/benchmarks.md records them); the ratio is a benchmark, not an assertion.
#[test]
fn a_frozen_node_costs_clients_nothing() {
    let _s = serial();
    let c = Cluster::new(4, 4, 5);
    let all = c.running();
    let first = c.wait_epoch_above(&all, 0, 4);
    let cl = client(&c);
    let ct = cl.encrypt(APP, b"frozen").unwrap().ciphertext;
    let run = |what: &str, until: std::time::Instant| -> Vec<Duration> {
        let mut took = Vec::new();
        let mut epochs = std::collections::BTreeSet::new();
        while std::time::Instant::now() < until {
            let t0 = std::time::Instant::now();
            let out = cl
                .decrypt(APP, &c.owner, &ct, 31337)
                .unwrap_or_else(|e| panic!("{what}: decrypt {} failed: {e}", took.len()));
            took.push(t0.elapsed());
            assert_eq!(out.plaintext.as_slice(), b"frozen");
            epochs.insert(out.network.view.epoch);
            // Nothing waited for a request timeout (10 s).
            assert!(
                t0.elapsed() < Duration::from_secs(3),
                "{what}: {:?}",
                t0.elapsed()
            );
            let t1 = std::time::Instant::now();
            cl.encrypt(APP, b"x")
                .unwrap_or_else(|e| panic!("{what}: encrypt failed: {e}"));
            assert!(
                t1.elapsed() < Duration::from_secs(3),
                "{what}: {:?}",
                t1.elapsed()
            );
        }
        println!("{what}: {} decrypts over epochs {epochs:?}", took.len());
        took
    };
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let healthy = run(
        "healthy",
        std::time::Instant::now() + Duration::from_secs(6),
    );
    c.signal(3, "STOP");
    let epoch = *first.iter().max().unwrap();
    let frozen = run(
        "frozen",
        std::time::Instant::now() + Duration::from_secs(16),
    );
    // The three others kept resharing without it.
    let later = c.wait_epoch_above(&[0, 1, 2], epoch + 2, 4);
    c.signal(3, "CONT");
    let (h, f) = (median(healthy), median(frozen));
    println!(
        "decrypt p50: healthy {:.1} ms, one node frozen {:.1} ms ({:.2}x); epochs up to {:?}",
        h.as_secs_f64() * 1e3,
        f.as_secs_f64() * 1e3,
        f.as_secs_f64() / h.as_secs_f64(),
        later
    );
}

/// An app whose release asks for attestation (docs 0012): a Confidential Space token bound to a
/// requester's key and response key, naming an approved image, releases one partial at each node,
/// asked by that requester's EIP-712 request for that node. The same token again, with another
/// response key, by another requester, forwarded by one node to another, of a debug or unapproved
/// image, or no token at all (even with the owner's signature) releases nothing. Tokens are
/// minted with kms-attest's test keys; the node trusts their JWKS.
#[test]
fn attested_apps_get_partials_only_for_their_bound_approved_release() {
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    use kms_api::app::{attestation_binding_preimage, AppId};
    use kms_attest::Binding;
    use kms_crypto::auth::EoaKey;
    use serde_json::json;
    use sha2::Digest;

    let _s = serial();
    let image = format!("sha256:{}", "ab".repeat(32));
    let extra = format!(
        "retention_epochs = 20\n\n[release.{APP}]\ncredential = \"attestation\"\nimages = [\"{image}\"]\n\n{}",
        common::google_attestation_table()
    );
    let c = Cluster::with(4, 4, 5, &extra, &[0, 1, 2, 3]);
    let all = c.running();
    c.wait_epoch_above(&all, 0, 4);
    let epoch = c.epoch(0).unwrap();
    let node = c.nodes[0].address;
    let url = format!("{}/v1/apps/{APP}/partial", c.url(0));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let fresh_key = || {
        kms_crypto::seal::EncryptionKey::random(&mut OsRng)
            .public()
            .to_bytes()
    };
    let session = EoaKey::random(&mut OsRng);
    let not_after = now + 300;
    let binding_until = |requester: &EoaKey, response_key: &[u8; 32], not_after: u64| {
        Binding::of(&attestation_binding_preimage(
            31337,
            &requester.address().into_array(),
            &AppId::new(APP).unwrap(),
            response_key,
            not_after,
            0,
        ))
    };
    let binding = |requester: &EoaKey, rk: &[u8; 32]| binding_until(requester, rk, not_after);
    let token = |b: Binding, image: &str, dbgstat: &str| common::cs_token(&b.0, image, dbgstat);
    // A request signed by `requester` for node `to`, carrying `token`.
    let request = |requester: &EoaKey, to: [u8; 20], rk: &[u8; 32], nonce: u64, token: &str| {
        let req = kms_crypto::auth::PartialRequest {
            app_id: APP.into(),
            response_key: (*rk).into(),
            epoch,
            policy_block: 0,
            nonce,
            deadline: now + 60,
            node: to.into(),
        };
        let sig = requester.sign_digest(&req.digest(31337)).unwrap();
        json!({
            "epoch": epoch,
            "response_key": format!("0x{}", hex::encode(rk)),
            "nonce": nonce,
            "deadline": now + 60,
            "signature": format!("0x{}", hex::encode(sig)),
            "attestation": { "token": token, "not_after": not_after },
        })
    };
    let body = |rk: &[u8; 32], nonce: u64, token: &str| request(&session, node, rk, nonce, token);

    let rk = fresh_key();
    let good = token(binding(&session, &rk), &image, "disabled-since-boot");
    let r = reqwest::blocking::Client::new()
        .post(&url)
        .json(&body(&rk, 1, &good))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let answer: serde_json::Value = r.json().unwrap();
    assert_eq!(answer["epoch"].as_u64(), Some(epoch));
    assert!(answer["sealed"].as_str().unwrap().len() > 100);
    // The same evidence releases nothing more here, even under a fresh nonce.
    assert_eq!(
        post(&url, &body(&rk, 2, &good)),
        (409, "attestation_reused".into())
    );
    // Replayed with another response key (someone who saw it): bound to the first.
    let other = fresh_key();
    assert_eq!(
        post(&url, &body(&other, 3, &good)),
        (401, "attestation_binding_mismatch".into())
    );
    // Presented by another requester (its own key, the same response key): bound to the first.
    let thief = EoaKey::random(&mut OsRng);
    let url1 = format!("{}/v1/apps/{APP}/partial", c.url(1));
    let node1 = c.nodes[1].address;
    assert_eq!(
        post(&url1, &request(&thief, node1, &rk, 3, &good)),
        (401, "attestation_binding_mismatch".into())
    );
    // Node 0 forwards the request it received to node 1 before the app asks node 1: the
    // signature names node 0, so node 1 recovers another requester and the evidence stays unspent.
    let forwarded = request(&session, node, &rk, 4, &good);
    assert_eq!(
        post(&url1, &forwarded),
        (401, "attestation_binding_mismatch".into())
    );
    // The app's own request to node 1, with the same evidence: one token serves every node.
    assert_eq!(
        post(&url1, &request(&session, node1, &rk, 5, &good)),
        (200, String::new())
    );
    // And every epoch, once (a decrypt that meets a reshare asks again for the next one).
    let at_epoch = |e: u64, nonce: u64| {
        let mut r = request(&session, node, &rk, nonce, &good);
        let req = kms_crypto::auth::PartialRequest {
            app_id: APP.into(),
            response_key: rk.into(),
            epoch: e,
            policy_block: 0,
            nonce,
            deadline: now + 60,
            node: node.into(),
        };
        let sig = session.sign_digest(&req.digest(31337)).unwrap();
        r["epoch"] = e.into();
        r["signature"] = format!("0x{}", hex::encode(sig)).into();
        r
    };
    c.wait_epoch_above(&[0], epoch, 4);
    let next = c.epoch(0).unwrap();
    assert_eq!(post(&url, &at_epoch(next, 20)), (200, String::new()));
    assert_eq!(
        post(&url, &at_epoch(next, 21)),
        (409, "attestation_reused".into())
    );
    // Genuine, bound, but of an image the app does not approve, or a debug image.
    let rk2 = fresh_key();
    let other_image = token(
        binding(&session, &rk2),
        &format!("sha256:{}", "cd".repeat(32)),
        "disabled-since-boot",
    );
    assert_eq!(
        post(&url, &body(&rk2, 5, &other_image)),
        (403, "release_not_approved".into())
    );
    let debug = token(binding(&session, &rk2), &image, "enabled");
    assert_eq!(
        post(&url, &body(&rk2, 6, &debug)),
        (403, "attestation_debug_refused".into())
    );
    // The owner's signature alone does not release an attested app's key.
    assert_eq!(
        post(&url, &partial_body(&c.owner, APP, node, epoch, 7, now + 60)),
        (401, "attestation_required".into())
    );
    // The end of the evidence's use is bound: moved later, or past, or too far ahead.
    let mut moved = body(&rk2, 10, &good);
    moved["attestation"]["not_after"] = (not_after + 1).into();
    assert_eq!(
        post(&url, &moved),
        (401, "attestation_binding_mismatch".into())
    );
    let rk3 = fresh_key();
    let mut past = body(
        &rk3,
        11,
        &token(
            binding_until(&session, &rk3, now - 1),
            &image,
            "disabled-since-boot",
        ),
    );
    past["attestation"]["not_after"] = (now - 1).into();
    assert_eq!(post(&url, &past), (401, "attestation_expired".into()));
    let far = now + 7200;
    let mut too_far = body(
        &rk3,
        12,
        &token(
            binding_until(&session, &rk3, far),
            &image,
            "disabled-since-boot",
        ),
    );
    too_far["attestation"]["not_after"] = far.into();
    assert_eq!(
        post(&url, &too_far),
        (400, "attestation_not_after_too_far".into())
    );
    // Evidence with an unsigned request.
    let mut unsigned = body(&rk2, 8, &good);
    unsigned.as_object_mut().unwrap().remove("signature");
    assert_eq!(post(&url, &unsigned), (400, "bad_request".into()));
    // A token of an issuer this node does not trust.
    let data =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../kms-attest/tests/data/jwt");
    let key = EncodingKey::from_rsa_der(&std::fs::read(data.join("google-a.der")).unwrap());
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("google-a".into());
    let intel = encode(
        &header,
        &json!({"iss": "https://portal.trustauthority.intel.com", "exp": now + 60}),
        &key,
    )
    .unwrap();
    assert_eq!(
        post(&url, &body(&rk2, 9, &intel)),
        (400, "attestation_unsupported".into())
    );

    // The library path an app takes inside its TEE: a session, evidence for its binding, one
    // decrypt through every node.
    let urls: Vec<String> = all.iter().map(|&i| c.url(i)).collect();
    let cl = NodeClient::new(&urls).unwrap();
    let msg = b"opened only inside the approved image".to_vec();
    let ct = cl.encrypt(APP, &msg).unwrap().ciphertext;
    let app_session = kms_client::node::Session::random(&mut OsRng, now + 600).unwrap();
    let nonce = app_session.binding(31337, APP).unwrap();
    let evidence =
        kms_client::node::Evidence::Token(token(Binding(nonce), &image, "disabled-since-boot"));
    let attested = kms_client::node::Credential::Attested {
        session: &app_session,
        evidence: &evidence,
    };
    let dec = cl.decrypt_with(APP, attested, &ct, 31337).unwrap();
    assert_eq!(dec.plaintext.as_slice(), msg.as_slice());
    // Used up at the nodes that answered; the owner's key alone opens nothing, and each node
    // says why.
    match cl.decrypt_with(APP, attested, &ct, 31337) {
        Err(kms_client::Error::Quorum { nodes, .. }) => {
            assert!(
                nodes.iter().any(|n| matches!(&n.fault,
                Some(Fault::Refused { code, .. }) if code == "attestation_reused")),
                "{nodes:?}"
            );
        }
        other => panic!("evidence used twice: {other:?}"),
    }
    match cl.decrypt(APP, &c.owner, &ct, 31337) {
        Err(kms_client::Error::Quorum { nodes, .. }) => {
            for n in &nodes {
                assert!(
                    matches!(&n.fault,
                    Some(Fault::Refused { code, .. }) if code == "attestation_required"),
                    "{nodes:?}"
                );
            }
        }
        other => panic!("the owner alone decrypted an attested app's ciphertext: {other:?}"),
    }

    // Every release is in its node's log, one hash chain the client checks (docs 0012 §12).
    let logs = cl.releases(APP);
    let image_id = kms_api::app::image_release_id(&image).unwrap();
    for l in &logs {
        assert!(l.log.is_ok(), "{}: {:?}", l.url, l.log);
        for e in &l.log.as_ref().unwrap().entries {
            assert_eq!(
                e.credential,
                kms_api::releases::ReleaseCredential::Attestation
            );
            assert_eq!(e.release_id, image_id);
        }
    }
    // Node 0 released three partials: the first request, the next epoch's, the decrypt's.
    let first = &logs[0].log.as_ref().unwrap().entries;
    assert!(first.len() >= 3, "{first:?}");
    let rk_hash: [u8; 32] = sha2::Sha256::digest(rk).into();
    assert_eq!(
        (first[0].epoch, first[0].response_key_hash),
        (epoch, rk_hash)
    );
    assert_eq!(
        (first[1].epoch, first[1].response_key_hash),
        (next, rk_hash)
    );
}
