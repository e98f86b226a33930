//! The `kms bn254` key tools as a user runs them: the real binary, files in a temp dir, JSON out.
#![cfg(test)]

use kms_crypto::bn254::{
    hash_to_g1, verify_point_signature, verify_registration, verify_signature, G1Point, G2Point,
};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn kms(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kms"))
        .args(args)
        .output()
        .unwrap()
}

fn ok_json(args: &[&str]) -> Value {
    let out = kms(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn exit_code(args: &[&str]) -> i32 {
    let out = kms(args);
    assert!(out.stdout.is_empty(), "error printed to stdout");
    assert!(!out.stderr.is_empty(), "no error message");
    out.status.code().unwrap()
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

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

const HASH: &str = "0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";

#[test]
fn keygen_writes_a_keystore_and_prints_only_public_keys() {
    let dir = tempfile::tempdir().unwrap();
    let pw = write(dir.path(), "pw", "correct horse\n");
    let ks = dir.path().join("op.bls.key.json");
    let ks = ks.to_str().unwrap();
    let out = kms(&[
        "bn254",
        "keygen",
        "--keystore-out",
        ks,
        "--password-file",
        &pw,
        "--insecure-light-kdf",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let keystore: Value = serde_json::from_str(&std::fs::read_to_string(ks).unwrap()).unwrap();
    assert!(keystore["pubKey"].as_str().unwrap().starts_with("E(["));
    // Reading the keystore back gives the same public keys.
    let pubkey = ok_json(&["bn254", "pubkey", "--keystore", ks, "--password-file", &pw]);
    assert_eq!(pubkey["g1"], printed["g1"]);
    assert_eq!(pubkey["g2"], printed["g2"]);
    // Only public fields are printed.
    let keys: Vec<&String> = printed.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["g1", "g2", "keystore"]);
    // A second keygen to the same path is refused, and the keystore is untouched.
    let before = std::fs::read(ks).unwrap();
    assert_eq!(
        exit_code(&[
            "bn254",
            "keygen",
            "--keystore-out",
            ks,
            "--password-file",
            &pw
        ]),
        2
    );
    assert_eq!(std::fs::read(ks).unwrap(), before);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(ks).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

#[test]
fn wrong_password_is_bad_input_not_a_wrong_key() {
    let dir = tempfile::tempdir().unwrap();
    let pw = write(dir.path(), "pw", "right");
    let wrong = write(dir.path(), "wrong", "wrong");
    let ks = dir.path().join("k.json");
    let ks = ks.to_str().unwrap();
    ok_json(&[
        "bn254",
        "keygen",
        "--keystore-out",
        ks,
        "--password-file",
        &pw,
        "--insecure-light-kdf",
    ]);
    let out = kms(&[
        "bn254",
        "pubkey",
        "--keystore",
        ks,
        "--password-file",
        &wrong,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong password"));
}

#[test]
fn pubkey_of_known_keys_matches_eigenlayer_values() {
    let dir = tempfile::tempdir().unwrap();
    let one = write(dir.path(), "one", "1\n");
    let out = ok_json(&["bn254", "pubkey", "--secret-key-file", &one]);
    assert_eq!(out["g1"]["x"], "1");
    assert_eq!(out["g1"]["y"], "2");
    assert_eq!(g2(&out["g2"]), G2Point::generator());
    // The middleware tests' key 69, given in hex, against the published public keys.
    let k69 = write(dir.path(), "k69", "0x45");
    let out = ok_json(&["bn254", "pubkey", "--secret-key-file", &k69]);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../kms-crypto/tests/vectors/bn254_signatures.json"
    );
    let vectors: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let v69 = vectors["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["secret_key"] == "69")
        .expect("vector for key 69");
    assert_eq!(g1(&out["g1"]), g1(&v69["g1"]));
    assert_eq!(g2(&out["g2"]), g2(&v69["g2"]));
}

#[test]
fn hash_to_g1_matches_the_library_and_the_eigensdk_vector() {
    let out = ok_json(&["bn254", "hash-to-g1", "--message-hash", HASH]);
    let digest: [u8; 32] = hex::decode(&HASH[2..]).unwrap().try_into().unwrap();
    assert_eq!(g1(&out), hash_to_g1(&digest));
    assert_eq!(
        out["x"],
        "455867356320691211509944977504407603390036387149619137164185182714736811811"
    );
}

#[test]
fn sign_and_scalar_mul_outputs_verify() {
    let dir = tempfile::tempdir().unwrap();
    let sk = write(dir.path(), "sk", "123456789123456789");
    let out = ok_json(&[
        "bn254",
        "sign",
        "--secret-key-file",
        &sk,
        "--message-hash",
        HASH,
    ]);
    let digest: [u8; 32] = hex::decode(&HASH[2..]).unwrap().try_into().unwrap();
    verify_signature(
        &digest,
        &g1(&out["signature"]),
        &g1(&out["g1"]),
        &g2(&out["g2"]),
    )
    .unwrap();
    assert_eq!(g1(&out["message_point"]), hash_to_g1(&digest));
    let point = &out["message_point"];
    let px = point["x"].as_str().unwrap();
    let py = point["y"].as_str().unwrap();
    let mul = ok_json(&[
        "bn254",
        "scalar-mul",
        "--secret-key-file",
        &sk,
        "--point-x",
        px,
        "--point-y",
        py,
    ]);
    assert_eq!(mul["signature"], out["signature"]);
    verify_point_signature(&g1(point), &g1(&mul["signature"]), &g2(&mul["g2"])).unwrap();
}

#[test]
fn scalar_mul_refuses_every_bad_point() {
    let dir = tempfile::tempdir().unwrap();
    let sk = write(dir.path(), "sk", "42");
    let p = "21888242871839275222246405745257275088696311157297823662689037894645226208583";
    let mut somedata = [0u8; 32];
    somedata[..8].copy_from_slice(b"somedata");
    let somedata = format!("0x{}", hex::encode(somedata));
    let bad: [(&str, &str); 6] = [
        ("0", "0"),
        ("1", "1"),
        ("2", "3"),
        (p, "2"),
        (&somedata, "0"),
        ("x", "2"),
    ];
    for (x, y) in bad {
        let code = exit_code(&[
            "bn254",
            "scalar-mul",
            "--secret-key-file",
            &sk,
            "--point-x",
            x,
            "--point-y",
            y,
        ]);
        assert_eq!(code, 2, "({x}, {y}) accepted");
    }
}

#[test]
fn registration_signature_passes_the_bls_apk_registry_check() {
    let dir = tempfile::tempdir().unwrap();
    let sk = write(dir.path(), "sk", "69");
    let out = ok_json(&[
        "bn254",
        "registration-signature",
        "--secret-key-file",
        &sk,
        "--operator",
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "--registry",
        "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "--chain-id",
        "31337",
    ]);
    let params = &out["pubkeyRegistrationParams"];
    verify_registration(
        &g1(&out["message_point"]),
        &g1(&params["pubkeyRegistrationSignature"]),
        &g1(&params["pubkeyG1"]),
        &g2(&params["pubkeyG2"]),
    )
    .unwrap();
    let digest: [u8; 32] = hex::decode(&out["digest"].as_str().unwrap()[2..])
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(g1(&out["message_point"]), hash_to_g1(&digest));
}

#[test]
fn key_registration_signature_verifies_over_its_digest() {
    let dir = tempfile::tempdir().unwrap();
    let sk = write(dir.path(), "sk", "69");
    let out = ok_json(&[
        "bn254",
        "key-registration-signature",
        "--secret-key-file",
        &sk,
        "--operator",
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "--avs",
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "--operator-set-id",
        "1",
        "--registrar",
        "0x54f4bC6bDEbe479173a2bbDc31dD7178408A57A4",
        "--chain-id",
        "1",
    ]);
    assert_eq!(out["keyData"].as_str().unwrap().len(), 2 + 2 * 192);
    let digest: [u8; 32] = hex::decode(&out["digest"].as_str().unwrap()[2..])
        .unwrap()
        .try_into()
        .unwrap();
    let pk = ok_json(&["bn254", "pubkey", "--secret-key-file", &sk]);
    verify_signature(
        &digest,
        &g1(&out["signature"]),
        &g1(&pk["g1"]),
        &g2(&pk["g2"]),
    )
    .unwrap();
}

#[test]
fn bad_input_exits_2_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let sk = write(dir.path(), "sk", "7");
    let zero = write(dir.path(), "zero", "0");
    let missing = dir.path().join("missing").to_str().unwrap().to_owned();
    let cases: Vec<Vec<&str>> = vec![
        vec!["bn254", "hash-to-g1", "--message-hash", "0x01"],
        vec!["bn254", "hash-to-g1", "--message-hash", "0102"],
        vec!["bn254", "hash-to-g1", "--message-hash", "0xzz"],
        vec!["bn254", "pubkey"],
        vec!["bn254", "pubkey", "--secret-key-file", &missing],
        vec!["bn254", "pubkey", "--secret-key-file", &zero],
        vec!["bn254", "pubkey", "--keystore", &sk],
        vec!["bn254", "pubkey", "--keystore", &sk, "--password-file", &sk],
        vec!["bn254", "sign", "--secret-key-file", &sk],
        vec![
            "bn254",
            "registration-signature",
            "--secret-key-file",
            &sk,
            "--operator",
            "0x12",
            "--registry",
            "0x5FbDB2315678afecb367f032d93F642f64180aa3",
            "--chain-id",
            "1",
        ],
        vec!["bn254", "nonsense"],
    ];
    for args in cases {
        assert_eq!(exit_code(&args), 2, "{args:?}");
    }
}

#[test]
fn a_closed_stdout_is_not_a_panic() {
    // The reader is gone before kms writes: `kms ... | head -0`, deterministically.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_kms"))
        .args(["bn254", "hash-to-g1", "--message-hash", HASH])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
