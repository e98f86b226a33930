//! Key lifecycle across processes: rotation and grace, restart, audit log integrity, import of an
//! existing keystore, and that secrets never leave the service.
#![cfg(test)]

mod common;

use alloy_primitives::b256;
use common::*;
use kms_signer::audit::AUDIT;
use kms_store::redb::{ReadableDatabase, ReadableTable};
use std::time::Duration;

const HASH: alloy_primitives::B256 =
    b256!("1111111111111111111111111111111111111111111111111111111111111111");

#[test]
fn rotation_keeps_the_old_version_for_its_grace_then_retires_it_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Signer::start(dir.path(), &["--rotation-grace-secs", "3"]);
    let http = Http::new(&s.url);
    let mut op = Operator::new(11);
    assert_eq!(http.post("/v1/keys", &op.create_body()).0, 201);
    let sign_url = format!("/v1/keys/{}/sign", op.eoa());
    let (_, v1_sig) = http.post(&sign_url, &op.sign_body(HASH, 0));
    // v1's sealed secret as it sits in the store file.
    s.stop();
    let v1_sealed = sealed_secret(dir.path(), op.eoa(), 1);
    assert!(file_holds(dir.path(), &v1_sealed));
    let s = Signer::start(dir.path(), &["--rotation-grace-secs", "3"]);
    let http = Http::new(&s.url);

    let (status, rotated) = http.post(&format!("/v1/keys/{}/rotate", op.eoa()), &op.rotate_body());
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated["active_version"], 2);
    assert_eq!(rotated["versions"][0]["state"], "grace");

    // Active is now v2 (a different key); v1 is still usable by number.
    let spent = op.sign_body(HASH, 0);
    let (_, v2_sig) = http.post(&sign_url, &spent);
    assert_eq!(v2_sig["key_version"], 2);
    assert_ne!(v2_sig["signature"], v1_sig["signature"]);
    let (status, again_v1) = http.post(&sign_url, &op.sign_body(HASH, 1));
    assert_eq!(status, 200);
    assert_eq!(again_v1["signature"], v1_sig["signature"]);

    // After the grace period v1 retires: refused for signing, public keys kept.
    std::thread::sleep(Duration::from_secs(5));
    let (status, r) = http.post(&sign_url, &op.sign_body(HASH, 1));
    assert_eq!((status, code(&r)), (409, "key_retired"));
    let (_, key) = http.get(&format!("/v1/keys/{}", op.eoa()));
    assert_eq!(key["versions"][0]["state"], "retired");
    assert_eq!(key["versions"][0]["g1"], v1_sig["g1"]);
    let (status, r) = http.post(&sign_url, &op.sign_body(HASH, 9));
    assert_eq!((status, code(&r)), (404, "unknown_key_version"));

    // Retirement deleted the row; redb only frees its pages (whether they were overwritten since
    // is up to redb), so the store is marked for a rewrite at the next start.
    s.stop();
    assert!(sealed_row(dir.path(), op.eoa(), 1).is_none());
    assert!(meta(dir.path(), kms_signer::backup::SECRETS_FREED).is_some());
    let before = store_inode(dir.path());

    // Restart: the store is rewritten (no page of it keeps v1's secret), same state, same
    // signatures (BLS signing is deterministic).
    let s = Signer::start(dir.path(), &["--rotation-grace-secs", "3"]);
    let http = Http::new(&s.url);
    // The rewritten store still knows the spent nonces.
    let (status, r) = http.post(&sign_url, &spent);
    assert_eq!((status, code(&r)), (409, "nonce_reused"));
    let (_, after) = http.post(&sign_url, &op.sign_body(HASH, 0));
    assert_eq!(after["signature"], v2_sig["signature"]);
    let (status, _) = http.post(&sign_url, &op.sign_body(HASH, 1));
    assert_eq!(status, 409);
    s.stop();

    // Only the active version's secret remains at rest.
    let out = admin(dir.path(), &["keys"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(keys[0]["versions"].as_array().unwrap().len(), 2);
    assert_ne!(
        store_inode(dir.path()),
        before,
        "the store was not rewritten"
    );
    assert!(!file_holds(dir.path(), &v1_sealed));
    assert!(meta(dir.path(), kms_signer::backup::SECRETS_FREED).is_none());
    let v2_sealed = sealed_secret(dir.path(), op.eoa(), 2);
    assert!(file_holds(dir.path(), &v2_sealed));
    let out = admin(dir.path(), &["audit", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sealed_row(dir: &std::path::Path, eoa: alloy_primitives::Address, v: u32) -> Option<Vec<u8>> {
    let store = open_store(dir);
    let tx = store.db().begin_read().unwrap();
    let t = tx.open_table(kms_signer::keyring::SECRETS).unwrap();
    let mut row = eoa.to_vec();
    row.extend_from_slice(&v.to_be_bytes());
    let sealed = t.get(row.as_slice()).unwrap().map(|g| g.value().to_vec());
    sealed
}

fn sealed_secret(dir: &std::path::Path, eoa: alloy_primitives::Address, v: u32) -> Vec<u8> {
    let sealed = sealed_row(dir, eoa, v).unwrap();
    assert!(
        sealed.len() >= 48,
        "a sealed 32-byte secret with its nonce and tag"
    );
    sealed
}

fn meta(dir: &std::path::Path, key: &str) -> Option<Vec<u8>> {
    let store = open_store(dir);
    let tx = store.db().begin_read().unwrap();
    let t = tx.open_table(kms_store::META).unwrap();
    let value = t.get(key).unwrap().map(|g| g.value().to_vec());
    value
}

fn store_inode(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir.join("data").join(kms_store::DB_FILE))
        .unwrap()
        .ino()
}

/// Whether the store file's raw bytes contain `needle` anywhere, freed pages included.
fn file_holds(dir: &std::path::Path, needle: &[u8]) -> bool {
    let bytes = std::fs::read(dir.join("data").join(kms_store::DB_FILE)).unwrap();
    bytes.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn wrong_kek_passphrase_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    Signer::start(dir.path(), &[]).stop();
    std::fs::write(dir.path().join("kek.pass"), "another passphrase").unwrap();
    let out = admin(dir.path(), &["keys"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("key-encryption key does not match"));
}

#[test]
fn audit_log_records_every_use_and_refusal_and_detects_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let s = Signer::start(dir.path(), &[]);
    let http = Http::new(&s.url);
    let mut op = Operator::new(12);
    http.post("/v1/keys", &op.create_body());
    let url = format!("/v1/keys/{}/sign", op.eoa());
    let body = op.sign_body(HASH, 0);
    http.post(&url, &body);
    http.post(&url, &body); // replay: refused, still recorded
    s.stop();

    let out = admin(dir.path(), &["audit", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["records"], 3);
    {
        let store = open_store(dir.path());
        let tx = store.db().begin_read().unwrap();
        let t = tx.open_table(AUDIT).unwrap();
        let outcomes: Vec<String> = t
            .iter()
            .unwrap()
            .map(|r| {
                let v: serde_json::Value = serde_json::from_slice(r.unwrap().1.value()).unwrap();
                format!(
                    "{}:{}",
                    v["record"]["op"].as_str().unwrap(),
                    v["record"]["outcome"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            outcomes,
            ["CreateKey:ok", "SignHash:ok", "SignHash:nonce_reused"]
        );
    }

    // Edit a record.
    let backup = std::fs::read(dir.path().join("data/store.redb")).unwrap();
    {
        let store = open_store(dir.path());
        let tx = store.db().begin_write().unwrap();
        {
            let mut t = tx.open_table(AUDIT).unwrap();
            let old = t.get(1u64).unwrap().unwrap().value().to_vec();
            let edited = String::from_utf8(old)
                .unwrap()
                .replace("\"ok\"", "\"refused\"");
            t.insert(1u64, edited.as_bytes()).unwrap();
        }
        tx.commit().unwrap();
    }
    let out = admin(dir.path(), &["audit", "verify"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("record 1 was altered"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Remove a middle record; then remove the last one.
    for (seq, expected) in [
        (1u64, "record 1 is missing"),
        (2u64, "removed from the end"),
    ] {
        std::fs::write(dir.path().join("data/store.redb"), &backup).unwrap();
        let store = open_store(dir.path());
        let tx = store.db().begin_write().unwrap();
        tx.open_table(AUDIT).unwrap().remove(seq).unwrap();
        tx.commit().unwrap();
        drop(store);
        let out = admin(dir.path(), &["audit", "verify"]);
        assert!(!out.status.success(), "removing {seq} went unnoticed");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(expected),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Every encoding of the secret we look for in responses, logs and files.
fn encodings(secret_be: &[u8; 32], decimal: &str) -> Vec<Vec<u8>> {
    let mut le = *secret_be;
    le.reverse();
    vec![
        secret_be.to_vec(),
        le.to_vec(),
        hex::encode(secret_be).into_bytes(),
        hex::encode_upper(secret_be).into_bytes(),
        hex::encode(le).into_bytes(),
        decimal.as_bytes().to_vec(),
    ]
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn imported_keystore_secret_never_leaves_the_service() {
    let dir = tempfile::tempdir().unwrap();
    // A known key, in an eigenlayer-cli keystore.
    let sk = kms_crypto::bn254::SecretKey::from_int_str(
        "0x2b3a4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70819",
    )
    .unwrap();
    let ks = kms_crypto::keystore::encrypt_eigen_keystore(
        &sk,
        b"ks-pass",
        kms_crypto::keystore::ScryptParams::light(),
        &mut rand_core::OsRng,
    )
    .unwrap();
    std::fs::write(dir.path().join("op.json"), &ks).unwrap();
    std::fs::write(dir.path().join("op.pass"), "ks-pass\n").unwrap();
    std::fs::write(dir.path().join("kek.pass"), "test passphrase\n").unwrap();
    // The store must exist first: start and stop the service once.
    Signer::start(dir.path(), &[]).stop();
    let op = Operator::new(13);
    let out = admin(
        dir.path(),
        &[
            "import",
            "--eoa",
            &op.eoa().to_string(),
            "--keystore",
            dir.path().join("op.json").to_str().unwrap(),
            "--password-file",
            dir.path().join("op.pass").to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let s = Signer::start(dir.path(), &[]);
    let http = Http::new(&s.url);
    let mut op = op;
    let mut responses = Vec::new();
    let (_, k) = http.get(&format!("/v1/keys/{}", op.eoa()));
    assert_eq!(g1(&k["versions"][0]["g1"]), sk.public_g1());
    responses.push(k.to_string());
    let (_, r) = http.post(
        &format!("/v1/keys/{}/sign", op.eoa()),
        &op.sign_body(HASH, 0),
    );
    assert_eq!(g1(&r["g1"]), sk.public_g1());
    responses.push(r.to_string());
    let g = kms_crypto::bn254::G1Point::generator();
    let (_, r) = http.post(
        &format!("/v1/keys/{}/scalar-mul", op.eoa()),
        &op.scalar_mul_body(g.x(), g.y()),
    );
    responses.push(r.to_string());
    responses.push(http.get("/v1/keys").1.to_string());
    responses.push(http.get_text("/metrics").1);
    s.stop();

    let secret = sk.to_be_bytes().expose(|b| *b);
    let decimal = sk.to_decimal().expose(|d| d.clone());
    let needles = encodings(&secret, &decimal);
    let mut haystacks: Vec<(String, Vec<u8>)> = responses
        .into_iter()
        .enumerate()
        .map(|(i, r)| (format!("response {i}"), r.into_bytes()))
        .collect();
    for entry in walk(dir.path()) {
        // The keystore we imported from and its password are the user's files, not the service's.
        let name = entry.file_name().unwrap().to_string_lossy().to_string();
        if name == "op.json" || name == "op.pass" {
            continue;
        }
        haystacks.push((entry.display().to_string(), std::fs::read(&entry).unwrap()));
    }
    assert!(haystacks.iter().any(|(n, _)| n.ends_with("store.redb")));
    assert!(haystacks.iter().any(|(n, _)| n.contains("signer-")));
    for (name, hay) in &haystacks {
        for needle in &needles {
            assert!(!contains(hay, needle), "secret found in {name}");
        }
    }
}

#[test]
fn a_secret_key_file_imports_into_a_new_data_directory_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kek.pass"), "test passphrase\n").unwrap();
    // A key at or above r is reduced, as the key tools read it: r + 7 is the key 7.
    let r = "21888242871839275222246405745257275088548364400416034343698204186575808495617";
    let r_plus_7 =
        (kms_crypto::bn254::parse_u256(r).unwrap() + alloy_primitives::U256::from(7)).to_string();
    std::fs::write(dir.path().join("op.key"), format!("{r_plus_7}\n")).unwrap();
    let sk = kms_crypto::bn254::SecretKey::from_int_str("7").unwrap();
    let op = Operator::new(14);
    let eoa = op.eoa().to_string();
    let key_file = dir.path().join("op.key");
    let import = |extra: &[&str]| {
        let mut args = vec!["import", "--eoa", &eoa];
        args.extend_from_slice(extra);
        admin(dir.path(), &args)
    };
    // No service has run here yet: the import creates the store.
    let out = import(&["--secret-key-file", key_file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Once per EOA.
    let out = import(&["--secret-key-file", key_file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already has a key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One source only, and a keystore needs its password file.
    let both = import(&[
        "--secret-key-file",
        key_file.to_str().unwrap(),
        "--keystore",
        "k.json",
        "--password-file",
        "p",
    ]);
    assert_eq!(both.status.code(), Some(2));
    assert_eq!(import(&["--keystore", "k.json"]).status.code(), Some(2));
    assert_eq!(import(&[]).status.code(), Some(2));

    let s = Signer::start(dir.path(), &[]);
    let (_, k) = Http::new(&s.url).get(&format!("/v1/keys/{eoa}"));
    assert_eq!(k["versions"].as_array().unwrap().len(), 1);
    assert_eq!(g1(&k["versions"][0]["g1"]), sk.public_g1());
    s.stop();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.is_file() {
            // (Not the admin socket: nothing to read there.)
            out.push(p);
        }
    }
    out
}

#[test]
fn scheduled_rotation_rotates_active_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("signer.toml");
    std::fs::write(&cfg, "auto_rotate_secs = 2\n").unwrap();
    let s = Signer::start(dir.path(), &["--config", cfg.to_str().unwrap()]);
    let http = Http::new(&s.url);
    let mut op = Operator::new(14);
    assert_eq!(http.post("/v1/keys", &op.create_body()).0, 201);
    let started = std::time::Instant::now();
    loop {
        let (_, key) = http.get(&format!("/v1/keys/{}", op.eoa()));
        if key["active_version"].as_u64().unwrap() >= 2 {
            assert_eq!(key["versions"][0]["state"], "grace");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no scheduled rotation: {key}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    s.stop();
    let out = admin(dir.path(), &["audit", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
