//! `kms signer ...` against the real service: the `kms-signer` binary on 127.0.0.1:0 with a fresh
//! data directory, the real `kms` binary as a user runs it, results checked with the pairing
//! checks of `kms_crypto::bn254`.
//!
//! The service binary is `kms-signer` next to `kms` (`target/<profile>/`). Cargo builds another
//! package's binary for this package's tests only with unstable artifact dependencies, so when that
//! file is missing or older than the sources it is built from, the test runs `cargo build -p
//! kms-signer` itself (once per run, same target directory and profile). `cargo test --workspace`
//! has always just built it. `KMS_SIGNER_BIN` names another binary to use instead.
//!
//! EOA keystores are Ethereum V3 files written here (scrypt, AES-128-CTR, Keccak MAC); with
//! `KMS_PYTHON` set (scripts/test sets it), files written by eth-account are used too.
#![cfg(test)]

use aes::cipher::{KeyIvInit, StreamCipher};
use alloy_primitives::{keccak256, Address, B256};
use kms_client::{EoaKey, SignerClient};
use kms_crypto::bn254::{
    hash_to_g1, key_registrar_digest, key_registrar_key_data, registry_coordinator_digest,
    verify_point_signature, verify_registration, verify_signature, Eip712Domain, G1Point, G2Point,
};
use kms_crypto::Secret;
use rand_core::{OsRng, RngCore};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;
use tempfile::TempDir;

const CHAIN_ID: u64 = 31337;
const HASH: &str = "0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";
const REGISTRY: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const AVS: &str = "0x1111111111111111111111111111111111111111";
const REGISTRAR: &str = "0x2222222222222222222222222222222222222222";

// ---------------------------------------------------------------------------------------------
// The service binary.

fn signer_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("KMS_SIGNER_BIN") {
            return PathBuf::from(bin);
        }
        let kms = Path::new(env!("CARGO_BIN_EXE_kms"));
        let mut bins = kms_test_support::service_binaries(kms, &["kms-signer"]);
        bins.remove(0)
    })
}

/// The service on 127.0.0.1:0 with a fresh data directory; killed on drop.
struct Service {
    child: Child,
    url: String,
    dir: TempDir,
}

impl Service {
    fn start() -> Service {
        Self::start_with(&[])
    }

    /// Starts the service with extra `serve` flags.
    fn start_with(extra: &[&str]) -> Service {
        let dir = tempfile::tempdir().unwrap();
        let pass = dir.path().join("kek.pass");
        std::fs::write(&pass, "test passphrase\n").unwrap();
        let port_file = dir.path().join("port");
        let log = dir.path().join("signer.log");
        let child = Command::new(signer_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--chain-id"])
            .arg(CHAIN_ID.to_string())
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--kek-passphrase-file")
            .arg(&pass)
            .arg("--port-file")
            .arg(&port_file)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut service = Service {
            child,
            url: String::new(),
            dir,
        };
        let addr = kms_test_support::wait_for_port(
            &mut service.child,
            &port_file,
            &log,
            Duration::from_secs(60),
        );
        service.url = format!("http://{addr}");
        service
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Running `kms`.

fn kms(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kms"));
    cmd.args(args)
        .env_remove("KMS_SIGNER_URL")
        .env_remove("KMS_SIGNER_CHAIN_ID");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// `kms signer <args> --url <url>`, which must succeed; its JSON output.
fn ok(url: &str, args: &[&str]) -> Value {
    let mut all = vec!["signer"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--url", url]);
    let out = kms(&all, &[]);
    assert!(
        out.status.success(),
        "{all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs `kms` expecting failure: nothing on stdout, a message on stderr; (exit code, stderr).
fn fails(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let out = kms(args, env);
    assert!(
        out.stdout.is_empty(),
        "{args:?} printed {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.is_empty(), "{args:?}: no error message");
    (out.status.code().unwrap(), stderr)
}

/// `kms signer <args> --url <url>` refused by the service with a 4xx: exit 2 and `code` printed.
fn refused(url: &str, args: &[&str], code: &str) {
    let mut all = vec!["signer"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--url", url]);
    let (exit, stderr) = fails(&all, &[]);
    assert_eq!(exit, 2, "{all:?}: {stderr}");
    assert!(
        stderr.contains(code),
        "{all:?}: expected {code}, got {stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// Keys, files and JSON.

/// A random EOA key, written as 0x-hex to `<dir>/<name>`; (key, path, secret bytes).
fn eoa_key_file(dir: &Path, name: &str) -> (EoaKey, String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let key = EoaKey::from_bytes(&Secret::new(bytes)).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, format!("0x{}\n", hex::encode(bytes))).unwrap();
    (key, path.to_str().unwrap().to_owned(), bytes)
}

/// An Ethereum V3 key file as go-ethereum writes it: scrypt (N = 2^12, r = 8, p = 6, geth's
/// "light" parameters), AES-128-CTR under dk[0..16], MAC = keccak256(dk[16..32] ‖ ciphertext).
fn v3_keystore(secret: &[u8; 32], address: Address, password: &[u8]) -> String {
    let mut salt = [0u8; 32];
    let mut iv = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    OsRng.fill_bytes(&mut iv);
    let mut dk = [0u8; 32];
    scrypt::scrypt(
        password,
        &salt,
        &scrypt::Params::new(12, 8, 6, 32).unwrap(),
        &mut dk,
    )
    .unwrap();
    let mut ciphertext = *secret;
    ctr::Ctr128BE::<aes::Aes128>::new(dk[..16].into(), (&iv).into())
        .apply_keystream(&mut ciphertext);
    let mac = keccak256([&dk[16..], &ciphertext[..]].concat());
    json!({
        "address": hex::encode(address),
        "crypto": {
            "cipher": "aes-128-ctr",
            "ciphertext": hex::encode(ciphertext),
            "cipherparams": { "iv": hex::encode(iv) },
            "kdf": "scrypt",
            "kdfparams": { "dklen": 32, "n": 4096, "p": 6, "r": 8, "salt": hex::encode(salt) },
            "mac": hex::encode(mac),
        },
        "id": "3198bc9c-6672-4ab3-9995-4942343ae5b6",
        "version": 3,
    })
    .to_string()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

fn g1(v: &Value) -> G1Point {
    G1Point::from_dec_or_hex(v["x"].as_str().unwrap(), v["y"].as_str().unwrap()).unwrap()
}

fn g2(v: &Value) -> G2Point {
    let s = |a: &Value, i: usize| a[i].as_str().unwrap().to_owned();
    G2Point::from_dec_or_hex(
        [&s(&v["x"], 0), &s(&v["x"], 1)],
        [&s(&v["y"], 0), &s(&v["y"], 1)],
    )
    .unwrap()
}

fn bytes32(v: &Value) -> [u8; 32] {
    let text = v.as_str().unwrap().strip_prefix("0x").unwrap();
    hex::decode(text).unwrap().try_into().unwrap()
}

/// A sign answer verifies as BLSSignatureChecker verifies it; returns (g1, g2) of the key.
fn check_sign_answer(out: &Value, hash: &[u8; 32]) -> (G1Point, G2Point) {
    let (pk1, pk2) = (g1(&out["g1"]), g2(&out["g2"]));
    assert_eq!(g1(&out["message_point"]), hash_to_g1(hash));
    verify_signature(hash, &g1(&out["signature"]), &pk1, &pk2).unwrap();
    (pk1, pk2)
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[test]
fn every_signer_subcommand_end_to_end() {
    let svc = Service::start();
    let url = svc.url.as_str();
    let (key, kf, _) = eoa_key_file(svc.dir.path(), "eoa.key");
    let eoa = key.address().to_checksum(None);
    let auth = ["--eoa-key-file", kf.as_str()];
    let hash: [u8; 32] = bytes32(&json!(HASH));

    // create-key, keys --eoa, keys.
    let created = ok(url, &[&["create-key"], &auth[..]].concat());
    assert_eq!(created["eoa"], eoa);
    assert_eq!(created["active_version"], 1);
    assert_eq!(created["versions"][0]["state"], "active");
    assert_eq!(ok(url, &["keys", "--eoa", &eoa]), created);
    let all = ok(url, &["keys"]);
    assert_eq!(all["keys"].as_array().unwrap(), &vec![created.clone()]);

    // sign: sk·hashToG1(hash), verified with the key's G1 and G2 public keys.
    let signed = ok(
        url,
        &[&["sign"], &auth[..], &["--message-hash", HASH]].concat(),
    );
    assert_eq!(signed["key_version"], 1);
    let (pk1, pk2) = check_sign_answer(&signed, &hash);
    assert_eq!(signed["g1"], created["versions"][0]["g1"]);

    // scalar-mul of hashToG1(hash) is the same signature.
    let point = hash_to_g1(&hash);
    let mul = ok(
        url,
        &[
            &["scalar-mul"],
            &auth[..],
            &["--point-x", &point.x_dec(), "--point-y", &point.y_dec()],
        ]
        .concat(),
    );
    assert_eq!(mul["signature"], signed["signature"]);
    verify_point_signature(&point, &g1(&mul["signature"]), &pk2).unwrap();

    // registration: the RegistryCoordinator's digest on another chain, checked as
    // BLSApkRegistry checks it.
    let reg = ok(
        url,
        &[
            &["registration"],
            &auth[..],
            &["--registry", REGISTRY, "--contract-chain-id", "17000"],
        ]
        .concat(),
    );
    let registry: Address = REGISTRY.parse().unwrap();
    let digest = registry_coordinator_digest(
        &Eip712Domain::registry_coordinator(17000, registry),
        key.address(),
    );
    assert_eq!(bytes32(&reg["digest"]), digest);
    let params = &reg["pubkeyRegistrationParams"];
    assert_eq!(g1(&params["pubkeyG1"]), pk1);
    assert_eq!(g2(&params["pubkeyG2"]), pk2);
    assert_eq!(g1(&reg["message_point"]), hash_to_g1(&digest));
    verify_registration(
        &g1(&reg["message_point"]),
        &g1(&params["pubkeyRegistrationSignature"]),
        &pk1,
        &pk2,
    )
    .unwrap();

    // key-registration: contract chain defaults to --chain-id, domain version to "1".
    let kreg = ok(
        url,
        &[
            &["key-registration"],
            &auth[..],
            &[
                "--avs",
                AVS,
                "--operator-set-id",
                "7",
                "--registrar",
                REGISTRAR,
            ],
        ]
        .concat(),
    );
    let key_data = key_registrar_key_data(&pk1, &pk2);
    assert_eq!(kreg["keyData"], format!("0x{}", hex::encode(&key_data)));
    let digest = key_registrar_digest(
        &Eip712Domain::eigenlayer_core("1", CHAIN_ID, REGISTRAR.parse().unwrap()),
        key.address(),
        AVS.parse().unwrap(),
        7,
        &key_data,
    );
    assert_eq!(bytes32(&kreg["digest"]), digest);
    verify_signature(&digest, &g1(&kreg["signature"]), &pk1, &pk2).unwrap();
    let kreg_v1 = ok(
        url,
        &[
            &["key-registration"],
            &auth[..],
            &[
                "--avs",
                AVS,
                "--operator-set-id",
                "7",
                "--registrar",
                REGISTRAR,
            ],
            &["--domain-version", "v1", "--contract-chain-id", "1"],
        ]
        .concat(),
    );
    let digest_v1 = key_registrar_digest(
        &Eip712Domain::eigenlayer_core("v1", 1, REGISTRAR.parse().unwrap()),
        key.address(),
        AVS.parse().unwrap(),
        7,
        &key_data,
    );
    assert_eq!(bytes32(&kreg_v1["digest"]), digest_v1);

    // rotate: version 2 is active, version 1 in its grace period and still usable by number.
    let rotated = ok(url, &[&["rotate"], &auth[..]].concat());
    assert_eq!(rotated["active_version"], 2);
    assert_eq!(rotated["versions"][0]["state"], "grace");
    assert_eq!(rotated["versions"][1]["state"], "active");
    assert_eq!(ok(url, &["keys", "--eoa", &eoa]), rotated);
    let signed2 = ok(
        url,
        &[&["sign"], &auth[..], &["--message-hash", HASH]].concat(),
    );
    assert_eq!(signed2["key_version"], 2);
    let (new_pk1, _) = check_sign_answer(&signed2, &hash);
    assert_ne!(new_pk1, pk1);
    let signed1 = ok(
        url,
        &[
            &["sign"],
            &auth[..],
            &["--message-hash", HASH, "--key-version", "1"],
        ]
        .concat(),
    );
    assert_eq!(signed1["key_version"], 1);
    assert_eq!(check_sign_answer(&signed1, &hash).0, pk1);

    // The URL and chain id from the environment.
    let out = kms(
        &["signer", "keys", "--eoa", &eoa],
        &[("KMS_SIGNER_URL", url), ("KMS_SIGNER_CHAIN_ID", "31337")],
    );
    assert!(out.status.success());
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        rotated
    );
}

#[test]
fn an_eoa_in_a_v3_keystore() {
    let svc = Service::start();
    let url = svc.url.as_str();
    let dir = svc.dir.path();
    let (key, kf, secret) = eoa_key_file(dir, "eoa.key");
    let password = "pässwörd with spaces 🔑";
    let pw = write(dir, "pw", &format!("{password}\n"));
    let ks = write(
        dir,
        "eoa.json",
        &v3_keystore(&secret, key.address(), password.as_bytes()),
    );
    let from_keystore = [
        "--eoa-keystore",
        ks.as_str(),
        "--password-file",
        pw.as_str(),
    ];

    // Created through the keystore, used through the key file and back.
    let created = ok(url, &[&["create-key"], &from_keystore[..]].concat());
    assert_eq!(created["eoa"], key.address().to_checksum(None));
    let by_file = ok(
        url,
        &["sign", "--eoa-key-file", &kf, "--message-hash", HASH],
    );
    let by_keystore = ok(
        url,
        &[&["sign"], &from_keystore[..], &["--message-hash", HASH]].concat(),
    );
    assert_eq!(by_file["signature"], by_keystore["signature"]);
    check_sign_answer(&by_keystore, &bytes32(&json!(HASH)));

    // A wrong password, a file for another address, a BN254 keystore: bad input.
    let wrong_pw = write(dir, "wrong-pw", "not the password\n");
    let (exit, stderr) = fails(
        &[
            "signer",
            "rotate",
            "--url",
            url,
            "--eoa-keystore",
            &ks,
            "--password-file",
            &wrong_pw,
        ],
        &[],
    );
    assert_eq!(exit, 2, "{stderr}");
    assert!(stderr.contains("wrong password"), "{stderr}");
    let other = write(
        dir,
        "other.json",
        &v3_keystore(&secret, Address::repeat_byte(7), password.as_bytes()),
    );
    let (exit, stderr) = fails(
        &[
            "signer",
            "rotate",
            "--url",
            url,
            "--eoa-keystore",
            &other,
            "--password-file",
            &pw,
        ],
        &[],
    );
    assert_eq!(exit, 2, "{stderr}");
    assert!(stderr.contains("does not match"), "{stderr}");
    let bls = write(dir, "bls.json", r#"{"pubKey":"E([1,2])","crypto":{}}"#);
    let (exit, stderr) = fails(
        &[
            "signer",
            "rotate",
            "--url",
            url,
            "--eoa-keystore",
            &bls,
            "--password-file",
            &pw,
        ],
        &[],
    );
    assert_eq!(exit, 2, "{stderr}");
    // Older geth files spell the section "Crypto"; `address` is optional. Version 3 is required.
    let mut file: Value =
        serde_json::from_str(&v3_keystore(&secret, key.address(), password.as_bytes())).unwrap();
    let section = file.as_object_mut().unwrap().remove("crypto").unwrap();
    file["Crypto"] = section;
    file.as_object_mut().unwrap().remove("address");
    let old_style = write(dir, "old-style.json", &file.to_string());
    let answer = ok(
        url,
        &[
            &["sign", "--eoa-keystore", &old_style, "--password-file", &pw][..],
            &["--message-hash", HASH],
        ]
        .concat(),
    );
    assert_eq!(answer["signature"], by_file["signature"]);
    file["version"] = json!(4);
    let v4 = write(dir, "v4.json", &file.to_string());
    let (exit, stderr) = fails(
        &[
            "signer",
            "rotate",
            "--url",
            url,
            "--eoa-keystore",
            &v4,
            "--password-file",
            &pw,
        ],
        &[],
    );
    assert_eq!(exit, 2, "{stderr}");
    assert!(stderr.contains("version"), "{stderr}");

    // Nothing above reached the service's key: still version 1.
    assert_eq!(
        ok(url, &["keys", "--eoa", &key.address().to_string()])["active_version"],
        1
    );

    // Files written by eth-account (scrypt and PBKDF2), when the Python checkers are installed.
    let Some(python) = std::env::var_os("KMS_PYTHON") else {
        eprintln!("KMS_PYTHON not set: eth-account keystores not checked");
        return;
    };
    let (scrypt_file, pbkdf2_file) = (dir.join("eth-scrypt.json"), dir.join("eth-pbkdf2.json"));
    let script = r#"
import json, sys
from eth_account import Account
key, password, scrypt_out, pbkdf2_out = sys.argv[1:5]
with open(scrypt_out, "w") as f:
    json.dump(Account.encrypt(key, password, kdf="scrypt", iterations=4096), f)
with open(pbkdf2_out, "w") as f:
    json.dump(Account.encrypt(key, password, kdf="pbkdf2", iterations=1000), f)
print(Account.from_key(key).address)
"#;
    let out = Command::new(python)
        .args(["-c", script])
        .arg(format!("0x{}", hex::encode(secret)))
        .arg(password)
        .arg(&scrypt_file)
        .arg(&pbkdf2_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        key.address().to_checksum(None)
    );
    for file in [&scrypt_file, &pbkdf2_file] {
        let file = file.to_str().unwrap();
        let answer = ok(
            url,
            &[
                &["sign"][..],
                &["--eoa-keystore", file, "--password-file", &pw],
                &["--message-hash", HASH],
            ]
            .concat(),
        );
        assert_eq!(answer["signature"], by_file["signature"], "{file}");
    }
}

#[test]
fn refusals_and_bad_input() {
    let svc = Service::start();
    let url = svc.url.as_str();
    let dir = svc.dir.path();
    let (key, kf, secret) = eoa_key_file(dir, "eoa.key");
    let (stranger, sf, _) = eoa_key_file(dir, "stranger.key");
    let auth = ["--eoa-key-file", kf.as_str()];
    ok(url, &[&["create-key"], &auth[..]].concat());
    let sign = |extra: &[&'static str]| {
        let mut args = vec!["sign", auth[0], auth[1]];
        args.extend_from_slice(extra);
        args
    };

    // Service refusals: exit 2 with the service's code.
    refused(
        url,
        &[&sign(&["--message-hash", HASH])[..], &["--chain-id", "1"]].concat(),
        "wrong_signer",
    );
    let (exit, stderr) = fails(
        &[
            &["signer", "--url", url],
            &sign(&["--message-hash", HASH])[..],
        ]
        .concat(),
        &[("KMS_SIGNER_CHAIN_ID", "5")],
    );
    assert_eq!(exit, 2);
    assert!(stderr.contains("wrong_signer"), "{stderr}");
    refused(
        url,
        &["sign", "--eoa-key-file", &sf, "--message-hash", HASH],
        "unknown_key",
    );
    refused(
        url,
        &["keys", "--eoa", &stranger.address().to_string()],
        "unknown_key",
    );
    refused(url, &["rotate", "--eoa-key-file", &sf], "unknown_key");
    refused(url, &[&["create-key"], &auth[..]].concat(), "key_exists");
    refused(
        url,
        &sign(&["--message-hash", HASH, "--key-version", "9"]),
        "unknown_key_version",
    );
    refused(
        url,
        &[
            &["scalar-mul"],
            &auth[..],
            &["--point-x", "1", "--point-y", "3"],
        ]
        .concat(),
        "invalid_point",
    );

    // Bad input caught before any request: exit 2.
    for bad_hash in [
        "0x1234",
        "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
        "0xzz",
    ] {
        let (exit, stderr) = fails(
            &[
                &["signer", "--url", url],
                &sign(&["--message-hash", bad_hash])[..],
            ]
            .concat(),
            &[],
        );
        assert_eq!(exit, 2, "{bad_hash}: {stderr}");
        assert!(stderr.contains("--message-hash"), "{stderr}");
    }
    let short_key = write(
        dir,
        "short.key",
        &format!("0x{}", hex::encode(&secret[..31])),
    );
    let zero_key = write(dir, "zero.key", &format!("0x{}", "00".repeat(32)));
    let missing = dir.join("missing.key");
    let bad_inputs: Vec<Vec<&str>> = vec![
        vec!["sign", "--eoa-key-file", &short_key, "--message-hash", HASH],
        vec!["sign", "--eoa-key-file", &zero_key, "--message-hash", HASH],
        vec![
            "sign",
            "--eoa-key-file",
            missing.to_str().unwrap(),
            "--message-hash",
            HASH,
        ],
        vec!["sign", "--message-hash", HASH],
        vec![
            "sign",
            "--eoa-key-file",
            &kf,
            "--eoa-keystore",
            &kf,
            "--message-hash",
            HASH,
        ],
        vec!["sign", "--eoa-keystore", &kf, "--message-hash", HASH],
        vec![
            "scalar-mul",
            "--eoa-key-file",
            &kf,
            "--point-x",
            "0xg",
            "--point-y",
            "2",
        ],
        vec![
            "registration",
            "--eoa-key-file",
            &kf,
            "--registry",
            "0x1234",
        ],
        vec!["keys", "--eoa", "nobody"],
        vec!["keys", "--chain-id", "minus one"],
    ];
    for args in bad_inputs {
        let all = [&["signer", "--url", url], &args[..]].concat();
        let (exit, stderr) = fails(&all, &[]);
        assert_eq!(exit, 2, "{all:?}: {stderr}");
    }

    let (exit, stderr) = fails(&["signer", "keys", "--url", "not a url"], &[]);
    assert_eq!(exit, 2, "{stderr}");

    // No service there: exit 1.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let (exit, stderr) = fails(&["signer", "keys", "--url", &closed], &[]);
    assert_eq!(exit, 1, "{stderr}");
    assert!(stderr.contains("no answer"), "{stderr}");

    // The library gives the same refusals as typed errors.
    let client = SignerClient::new(url, CHAIN_ID).unwrap();
    let e = client.sign(&stranger, B256::ZERO, 0).unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(404), Some("unknown_key")));
    let e = SignerClient::new(url, 1).unwrap().rotate(&key).unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(401), Some("wrong_signer")));
    assert!(e.is_client_error());
    assert_eq!(
        client.get_key(key.address()).unwrap().active_version,
        Some(1)
    );
}

#[test]
fn an_https_service_is_reached_with_its_ca_file_and_refused_without() {
    let certs = tempfile::tempdir().unwrap();
    let made =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert = certs.path().join("cert.pem");
    let key = certs.path().join("key.pem");
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let svc = Service::start_with(&["--tls-cert-file", cert, "--tls-key-file", key]);
    let url = svc.url.replacen("http://", "https://", 1);
    let listed = ok(&url, &["keys", "--ca-file", cert]);
    assert_eq!(listed["keys"], serde_json::json!([]));
    // Without the CA the certificate is not trusted: no answer, exit 1.
    let out = kms(&["signer", "keys", "--url", &url], &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A CA file that is not PEM is bad input.
    let out = kms(
        &["signer", "keys", "--url", &url, "--ca-file", "/dev/null"],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// On chain: every BN254 path of the service checked by the contracts on a real anvil.

mod on_chain {
    use super::*;
    use alloy::primitives::{FixedBytes, U256};
    use kms_chain::anvil::{Anvil, DEV_KEYS};
    use kms_chain::bindings::checks::{EigenLayerChecks, BN254};
    use kms_chain::{LocalSigner, Registry};

    fn p1(p: &G1Point) -> BN254::G1Point {
        let b = p.to_abi_bytes();
        BN254::G1Point {
            X: U256::from_be_slice(&b[..32]),
            Y: U256::from_be_slice(&b[32..]),
        }
    }

    fn p2(p: &G2Point) -> BN254::G2Point {
        let b = p.to_abi_bytes();
        let l = |i: usize| U256::from_be_slice(&b[i * 32..(i + 1) * 32]);
        BN254::G2Point {
            X: [l(0), l(1)],
            Y: [l(2), l(3)],
        }
    }

    fn negate(p: &G1Point) -> G1Point {
        let b = p.to_abi_bytes();
        let field = U256::from_str_radix(
            "30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd47",
            16,
        )
        .unwrap();
        G1Point::from_coords(
            U256::from_be_slice(&b[..32]),
            field - U256::from_be_slice(&b[32..]),
        )
        .unwrap()
    }

    #[test]
    fn every_bn254_path_of_the_service_is_accepted_on_chain_and_tampering_is_not() {
        let service = Service::start();
        let url = service.url.clone();
        let anvil = Anvil::start(&[]).expect("anvil (scripts/test installs it)");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let deployer: LocalSigner = DEV_KEYS[0].parse().unwrap();
        let registry = rt
            .block_on(Registry::deploy(
                &anvil.url(),
                deployer.clone(),
                deployer.address(),
                Address::repeat_byte(0x11),
                7,
            ))
            .unwrap();
        let checks_at = rt
            .block_on(kms_chain::deploy_eigenlayer_checks(
                &anvil.url(),
                deployer.clone(),
            ))
            .unwrap();
        let provider = kms_chain::provider(&anvil.url(), Some(deployer)).unwrap();
        let checks = EigenLayerChecks::new(checks_at, provider.clone());

        // The operator's EOA is a funded anvil account (it pays for its registration).
        let dir = tempfile::tempdir().unwrap();
        let eoa_file = write(dir.path(), "eoa.key", &format!("{}\n", DEV_KEYS[1]));
        let operator: LocalSigner = DEV_KEYS[1].parse().unwrap();
        let eoa = ["--eoa-key-file", eoa_file.as_str()];
        ok(&url, &[&["create-key"][..], &eoa].concat());
        let hash = bytes32(&json!(HASH));
        let signed = ok(
            &url,
            &[&["sign", "--message-hash", HASH][..], &eoa].concat(),
        );
        let (pk1, pk2) = check_sign_answer(&signed, &hash);

        // BLSSignatureChecker on chain: the service's signature, then the same tampered.
        let verify = |hash: [u8; 32], sigma: &G1Point| {
            rt.block_on(async {
                checks
                    .trySignatureAndApkVerification(FixedBytes(hash), p1(&pk1), p2(&pk2), p1(sigma))
                    .call()
                    .await
            })
            .unwrap()
        };
        let sigma = g1(&signed["signature"]);
        let r = verify(hash, &sigma);
        assert!(r.pairingSuccessful && r.signatureIsValid, "sign: {r:?}");
        let r = verify(hash, &negate(&sigma));
        assert!(
            r.pairingSuccessful && !r.signatureIsValid,
            "negated signature accepted"
        );
        let mut other = hash;
        other[0] ^= 1;
        assert!(
            !verify(other, &sigma).signatureIsValid,
            "other message accepted"
        );

        // scalar_mul of hashToG1(h) is a signature on h.
        let h2 = keccak256(b"scalar-mul on chain").0;
        let point = hash_to_g1(&h2);
        let (px, py) = (point.x_dec(), point.y_dec());
        let mul = ok(
            &url,
            &[
                &["scalar-mul", "--point-x", &px, "--point-y", &py][..],
                &eoa,
            ]
            .concat(),
        );
        let r = verify(h2, &g1(&mul["signature"]));
        assert!(
            r.pairingSuccessful && r.signatureIsValid,
            "scalar-mul: {r:?}"
        );
        assert!(!verify(hash, &g1(&mul["signature"])).signatureIsValid);

        // RegistryCoordinator's message, registered with BLSApkRegistry's check as a transaction.
        let checks_hex = checks_at.to_checksum(None);
        let reg = ok(
            &url,
            &[&["registration", "--registry", &checks_hex][..], &eoa].concat(),
        );
        let params = &reg["pubkeyRegistrationParams"];
        let good = EigenLayerChecks::PubkeyRegistrationParams {
            pubkeyRegistrationSignature: p1(&g1(&params["pubkeyRegistrationSignature"])),
            pubkeyG1: p1(&g1(&params["pubkeyG1"])),
            pubkeyG2: p2(&g2(&params["pubkeyG2"])),
        };
        let tampered = EigenLayerChecks::PubkeyRegistrationParams {
            pubkeyRegistrationSignature: p1(&negate(&g1(&params["pubkeyRegistrationSignature"]))),
            ..good.clone()
        };
        let send = |p: EigenLayerChecks::PubkeyRegistrationParams| {
            rt.block_on(async {
                let pending = checks
                    .registerBLSPublicKey(operator.address(), p)
                    .send()
                    .await?;
                kms_chain::wait_receipt(&provider, *pending.tx_hash())
                    .await
                    .expect("mined");
                Ok::<(), alloy::contract::Error>(())
            })
        };
        let err = send(tampered).expect_err("a tampered registration is refused");
        assert!(
            err.as_decoded_interface_error::<EigenLayerChecks::EigenLayerChecksErrors>()
                .is_some_and(|e| matches!(
                    e,
                    EigenLayerChecks::EigenLayerChecksErrors::InvalidRegistrationSignature(_)
                )),
            "{err}"
        );
        send(good).expect("the service's registration is accepted");
        let stored = rt
            .block_on(async { checks.operatorToPubkeyHash(operator.address()).call().await })
            .unwrap();
        assert_ne!(stored, FixedBytes::ZERO);

        // KeyRegistrar's message, sent by `kms signer register` to the registry.
        let registry_hex = registry.address().to_checksum(None);
        let anvil_url = anvil.url();
        // A KeyRegistrar signature for another operator set is refused on chain.
        let wrong_set = ok(
            &url,
            &[
                &[
                    "key-registration",
                    "--avs",
                    "0x1111111111111111111111111111111111111111",
                    "--operator-set-id",
                    "8",
                    "--registrar",
                    &registry_hex,
                ][..],
                &eoa,
            ]
            .concat(),
        );
        let as_operator = rt
            .block_on(Registry::connect(
                &anvil.url(),
                registry.address(),
                Some(operator.clone()),
            ))
            .unwrap();
        let sig = &wrong_set["signature"];
        let sig_bytes = g1(sig).to_abi_bytes();
        let key_data = hex::decode(
            wrong_set["keyData"]
                .as_str()
                .unwrap()
                .trim_start_matches("0x"),
        )
        .unwrap();
        let refused = rt
            .block_on(as_operator.register_operator(&key_data, &sig_bytes, [1u8; 32], "http://x"));
        assert!(
            matches!(&refused, Err(kms_chain::ChainError::Refused(w)) if w == "InvalidKeySignature"),
            "{refused:?}"
        );
        let enc = format!("0x{}", "ab".repeat(32));
        let register = |extra: &[&str]| {
            let mut args = vec![
                "signer",
                "register",
                "--url",
                url.as_str(),
                "--rpc-url",
                anvil_url.as_str(),
                "--registry",
                registry_hex.as_str(),
                "--encryption-key",
                enc.as_str(),
                "--node-url",
                "http://node-1.example:9200",
            ];
            args.extend_from_slice(&eoa);
            args.extend_from_slice(extra);
            kms(&args, &[])
        };
        let out = register(&[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(answer["operator"], operator.address().to_checksum(None));
        assert_eq!(answer["operator_set_id"], 7);
        // Registered once: a second registration is the registry's refusal, exit 2.
        let again = register(&[]);
        assert_eq!(again.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&again.stderr).contains("OperatorAlreadyRegistered"));
        // Admitted, the operator's key on chain is the service's key.
        rt.block_on(registry.admit(operator.address())).unwrap();
        let head = rt.block_on(registry.head()).unwrap();
        let set = rt.block_on(registry.operators_at(head)).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!((set[0].g1, set[0].g2), (pk1, pk2));
        assert_eq!(set[0].url, "http://node-1.example:9200");
        assert_eq!(set[0].encryption_key, [0xab; 32]);
        drop(service);
    }
}

/// `cast wallet sign --data` over a typed-data JSON, with `secret` as the private key: the way an
/// EOA in a hardware wallet signs (`--ledger` instead of `--private-key`).
fn cast_sign(dir: &Path, typed: &Value, secret: &[u8; 32]) -> String {
    let cast = std::env::var("KMS_CAST").unwrap_or_else(|_| "cast".into());
    let file = dir.join(format!("typed-{}.json", OsRng.next_u64()));
    std::fs::write(&file, typed.to_string()).unwrap();
    let out = Command::new(cast)
        .args(["wallet", "sign", "--data", "--from-file"])
        .arg(&file)
        .args(["--private-key", &format!("0x{}", hex::encode(secret))])
        .output()
        .expect("cast not found: run scripts/test, which installs it");
    let sig = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(
        sig.len() == 132 && sig.starts_with("0x"),
        "cast failed: {sig} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    sig
}

/// The nonce and deadline a printed request carries, as flags for the signed call.
fn freshness_flags(typed: &Value) -> [String; 4] {
    [
        "--nonce".into(),
        typed["message"]["nonce"].as_str().unwrap().to_owned(),
        "--deadline".into(),
        typed["message"]["deadline"].as_str().unwrap().to_owned(),
    ]
}

#[test]
fn an_eoa_that_signs_elsewhere_prints_typed_data_and_delegates_an_api_key() {
    let s = Service::start();
    let dir = s.dir.path();
    let (key, key_file, secret) = eoa_key_file(dir, "eoa.key");
    let eoa = key.address().to_checksum(None);
    ok(&s.url, &["create-key", "--eoa-key-file", &key_file]);

    // Sign a hash with an EOA whose key `kms` never sees: print, sign with cast, submit.
    let typed = ok(
        &s.url,
        &[
            "sign",
            "--eoa",
            &eoa,
            "--message-hash",
            HASH,
            "--print-typed-data",
        ],
    );
    assert_eq!(typed["primaryType"], "SignHash");
    let sig = cast_sign(dir, &typed, &secret);
    let fresh = freshness_flags(&typed);
    let mut args = vec![
        "sign",
        "--eoa",
        &eoa,
        "--message-hash",
        HASH,
        "--signature",
        &sig,
    ];
    args.extend(fresh.iter().map(String::as_str));
    let answer = ok(&s.url, &args);
    check_sign_answer(&answer, &bytes32(&json!(HASH)));
    // The same signature is spent; over other arguments it is not the EOA's.
    refused(&s.url, &args, "nonce_reused");
    let other = "0x1111111111111111111111111111111111111111111111111111111111111111";
    let mut forged = vec![
        "sign",
        "--eoa",
        &eoa,
        "--message-hash",
        other,
        "--signature",
        &sig,
    ];
    forged.extend(fresh.iter().map(String::as_str));
    refused(&s.url, &forged, "wrong_signer");
    // A printed request sends nothing: no nonce was spent by printing.
    let (exit, stderr) = fails(
        &[
            "signer",
            "sign",
            "--eoa",
            &eoa,
            "--message-hash",
            HASH,
            "--signature",
            &sig,
            "--url",
            &s.url,
        ],
        &[],
    );
    assert_eq!(exit, 2, "{stderr}");
    assert!(stderr.contains("--nonce"), "{stderr}");

    // Delegate an API key the same way. The token is made when the typed data is printed and
    // kept in a new 0600 file; only its hash is in what the EOA signs.
    let token_file = dir.join("api.token");
    let token_path = token_file.to_str().unwrap();
    let typed = ok(
        &s.url,
        &[
            "api-key",
            "create",
            "--eoa",
            &eoa,
            "--label",
            "avs-1",
            "--scopes",
            "scalar-mul,sign",
            "--token-file",
            token_path,
            "--print-typed-data",
        ],
    );
    assert_eq!(typed["primaryType"], "CreateApiKey");
    assert_eq!(typed["message"]["scopes"], "sign,scalar-mul");
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert_eq!(
        typed["message"]["tokenHash"],
        kms_crypto::auth::api_token_hash(&token).to_string()
    );
    assert!(!typed.to_string().contains(&token[4..]));
    let sig = cast_sign(dir, &typed, &secret);
    let fresh = freshness_flags(&typed);
    let mut args = vec![
        "api-key",
        "create",
        "--eoa",
        &eoa,
        "--label",
        "avs-1",
        "--scopes",
        "scalar-mul,sign",
        "--signature",
        &sig,
        "--token-file",
        token_path,
    ];
    args.extend(fresh.iter().map(String::as_str));
    let created = ok(&s.url, &args);
    assert!(created.get("token").is_none(), "{created}");
    let id = created["api_key"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["token_file"], token_path);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The token signs over REST without the EOA.
    let http = reqwest::blocking::Client::new();
    let sign = |t: &str| {
        http.post(format!("{}/v1/keys/{eoa}/sign", s.url))
            .bearer_auth(t)
            .json(&json!({ "message_hash": HASH }))
            .send()
            .unwrap()
    };
    let r = sign(&token);
    assert_eq!(r.status(), 200);
    check_sign_answer(&r.json().unwrap(), &bytes32(&json!(HASH)));

    // List (with the key file this time) shows it without its token; revoke it; refused next.
    let list = ok(&s.url, &["api-key", "list", "--eoa-key-file", &key_file]);
    assert_eq!(list["api_keys"][0]["id"], id.as_str());
    assert_eq!(list["api_keys"][0]["label"], "avs-1");
    assert!(!list.to_string().contains(&token[4..]));
    let revoked = ok(
        &s.url,
        &[
            "api-key",
            "revoke",
            "--eoa-key-file",
            &key_file,
            "--id",
            &id,
        ],
    );
    assert!(revoked["revoked_at"].is_u64());
    let r = sign(&token);
    assert_eq!(r.status(), 401);
    let body: Value = r.json().unwrap();
    assert_eq!(body["error"]["code"], "api_key_revoked");

    // With the EOA key here and no token file, the token is printed once.
    let created = ok(
        &s.url,
        &[
            "api-key",
            "create",
            "--eoa-key-file",
            &key_file,
            "--scopes",
            "sign",
        ],
    );
    let printed = created["token"].as_str().unwrap();
    assert_eq!(sign(printed).status(), 200);

    // Bad input is refused before anything is sent.
    let (exit, stderr) = fails(
        &[
            "signer",
            "api-key",
            "create",
            "--eoa-key-file",
            &key_file,
            "--scopes",
            "admin",
            "--url",
            &s.url,
        ],
        &[],
    );
    assert_eq!(exit, 2, "{stderr}");
    assert!(stderr.contains("--scopes"), "{stderr}");
    let (exit, stderr) = fails(
        &[
            "signer",
            "api-key",
            "create",
            "--eoa-key-file",
            &key_file,
            "--scopes",
            "sign",
            "--token-file",
            token_path,
            "--url",
            &s.url,
        ],
        &[],
    );
    assert_eq!(exit, 2, "{stderr}");
    assert!(stderr.contains("never overwritten"), "{stderr}");
}
