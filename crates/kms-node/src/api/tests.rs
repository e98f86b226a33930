use super::*;
use kms_chain::membership::{Member, StaticFile};
use kms_crypto::bls::EvalPoint;
use kms_crypto::bn254;
use kms_crypto::seal::EncryptionKey;
use kms_protocol::Operator;
use serde_json::Value;

/// A node (alone in its operator file, no epoch) served on a loopback port; the permits of its
/// app-request semaphore are reachable for the test.
async fn serve_one(dir: &std::path::Path) -> (Shared, String) {
    let sk = bn254::SecretKey::random(&mut OsRng);
    let enc = EncryptionKey::random(&mut OsRng);
    let address = [7u8; 20];
    std::fs::write(dir.join("bn254.key"), sk.to_decimal().expose(|d| d.clone())).unwrap();
    std::fs::write(
        dir.join("encryption.key"),
        enc.to_bytes().expose(|b| hex::encode(b)),
    )
    .unwrap();
    std::fs::write(dir.join("kek.key"), hex::encode([9u8; 32])).unwrap();
    let member = Member {
        operator: Operator::new(
            address,
            EvalPoint::from_index(1).unwrap(),
            sk.public_g1(),
            sk.public_g2(),
            enc.public(),
        ),
        url: "http://127.0.0.1:1".into(),
    };
    std::fs::write(
        dir.join("operators.json"),
        StaticFile::to_json(&[member]).unwrap(),
    )
    .unwrap();
    let toml = format!(
        "address = \"0x{}\"\noperators_file = \"operators.json\"\nbn254_key_file = \"bn254.key\"\n\
         encryption_key_file = \"encryption.key\"\nkek_key_file = \"kek.key\"\n\
         app_max_concurrent = 2\n\n[apps]\ndemo = \"0x{}\"\n",
        hex::encode(address),
        hex::encode([1u8; 20]),
    );
    std::fs::write(dir.join("node.toml"), toml).unwrap();
    let cfg = crate::config::Config::load(&dir.join("node.toml")).unwrap();
    let node = Node::open(cfg, tokio::runtime::Handle::current(), None).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = router(node.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (node, url)
}

async fn post(url: &str, body: &'static [u8]) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(url)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    (status, v["error"]["code"].as_str().unwrap_or("").to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_requests_over_the_cap_are_overloaded_and_protocol_traffic_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let (node, url) = serve_one(dir.path()).await;
    let partial = format!("{url}/v1/apps/demo/partial");
    let protocol = format!("{url}/v1/protocol");

    // Both slots in use (as by two requests in flight): the next app request is refused.
    let held = node.app_slots.clone().acquire_many_owned(2).await.unwrap();
    assert_eq!(post(&partial, b"{}").await, (503, "overloaded".into()));
    let (status, code) = post(&protocol, b"not a batch").await;
    assert_eq!((status, code.as_str()), (400, "malformed"));

    // A slot free again: the same request gets as far as its own fault.
    drop(held);
    assert_eq!(post(&partial, b"{}").await, (400, "bad_request".into()));
    let metrics = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("kms_node_partial_requests_total{outcome=\"overloaded\"} 1"),
        "{metrics}"
    );
}
