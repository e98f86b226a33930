//! Wallet interop of EOA request authentication: the EIP-712 typed data from
//! `Request::typed_data` is signed by real wallets, Foundry's `cast wallet sign --data` and
//! Python's eth-account, and the signatures must be accepted by `recover_signer` under
//! `Request::digest`. For every request kind, with edge-case field values and several chain ids:
//!
//! - cast's signature recovers the signing account under our digest;
//! - eth-account's EIP-712 digest equals ours, and its signature recovers the account;
//! - a signature for chain id A does not recover the account under the digest for chain id B,
//!   and a signature over nonce N does not recover it for nonce N + 1.
//!
//! The same holds for the threshold network's `PartialRequest` (domain "KMS Node").
//!
//! Needs `cast` and Python with eth-account (`tests/interop/requirements.txt`). `scripts/test`
//! installs both and sets `KMS_CAST` and `KMS_PYTHON`. Without `KMS_CAST`, the npm install under
//! `target/node` and then `cast` on `PATH` are tried; without `KMS_PYTHON`, `python3`. A missing
//! tool fails the test: it is never skipped.
#![cfg(test)]

use alloy_primitives::{address, b256, Address, B256, U256};
use kms_crypto::auth::{recover_signer, EoaKey, Freshness, PartialRequest, Request, SignerDomain};
use kms_crypto::Secret;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// Anvil's first default account: a publicly known test key, never to hold real funds.
const TEST_KEY_HEX: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const TEST_ADDRESS: Address = address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");

/// Mainnet, Holesky, anvil, 2^53 + 1 (not exact as an IEEE double) and the largest u64.
const CHAIN_IDS: [u64; 5] = [1, 17_000, 31_337, 9_007_199_254_740_993, u64::MAX];

const RUN_SCRIPTS_TEST: &str =
    "run scripts/test (it installs @foundry-rs/cast and eth-account and sets KMS_CAST / KMS_PYTHON)";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn cast_path() -> PathBuf {
    if let Some(p) = env_path("KMS_CAST") {
        assert!(
            p.is_file(),
            "KMS_CAST={} is not a file; {RUN_SCRIPTS_TEST}",
            p.display()
        );
        return p;
    }
    let local = workspace_root().join("target/node/node_modules/.bin/cast");
    if local.is_file() {
        return local;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("cast"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "Foundry's `cast` was not found (KMS_CAST, target/node, PATH); {RUN_SCRIPTS_TEST}"
            )
        })
}

fn python_path() -> PathBuf {
    env_path("KMS_PYTHON").unwrap_or_else(|| PathBuf::from("python3"))
}

fn describe(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Parses `0x` + 130 hex digits. The npm wrapper of cast exits 0 even when cast fails, so the
/// output is the only reliable sign of success.
fn parse_signature(s: &str) -> Option<[u8; 65]> {
    let mut sig = [0u8; 65];
    hex::decode_to_slice(s.trim().strip_prefix("0x")?, &mut sig).ok()?;
    Some(sig)
}

fn cast_command(cast: &Path) -> Command {
    let mut cmd = Command::new(cast);
    // Keep the user's Foundry wallet settings out of the signing.
    for var in [
        "ETH_FROM",
        "ETH_KEYSTORE",
        "ETH_KEYSTORE_ACCOUNT",
        "ETH_PASSWORD",
    ] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    cmd
}

fn cast_version(cast: &Path) -> String {
    let out = cast_command(cast)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {RUN_SCRIPTS_TEST}", cast.display()));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let first = text.lines().next().unwrap_or_default().to_owned();
    assert!(
        first.starts_with("cast Version:"),
        "{} is not Foundry's cast; {RUN_SCRIPTS_TEST}\n{}",
        cast.display(),
        describe(&out)
    );
    first
}

/// `cast wallet sign --data --from-file FILE`: EIP-712 hashing by cast itself (no `--no-hash`).
fn cast_sign(cast: &Path, typed_data_file: &Path) -> [u8; 65] {
    let out = cast_command(cast)
        .args(["wallet", "sign", "--data", "--from-file"])
        .arg(typed_data_file)
        .args(["--private-key", &format!("0x{TEST_KEY_HEX}")])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", cast.display()));
    let sig = parse_signature(&String::from_utf8_lossy(&out.stdout));
    match sig {
        Some(sig) if out.status.success() => sig,
        _ => panic!(
            "cast wallet sign failed on {}:\n{}",
            typed_data_file.display(),
            describe(&out)
        ),
    }
}

/// Starts `sign_typed.py FILE... KEY_FILE` (eth-account) on all files at once: importing
/// eth-account takes about a second. `eth_account_results` collects it.
fn eth_account_start(python: &Path, typed_data_files: &[PathBuf], key_file: &Path) -> Child {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/sign_typed.py");
    Command::new(python)
        .arg(script)
        .args(typed_data_files)
        .arg(key_file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {RUN_SCRIPTS_TEST}", python.display()))
}

/// eth-account's EIP-712 digest and signature, per file in order.
fn eth_account_results(child: Child, count: usize) -> Vec<(B256, [u8; 65])> {
    let out = child.wait_with_output().expect("waiting for sign_typed.py");
    let fail = |why: &str| -> ! {
        panic!(
            "sign_typed.py (eth-account) {why}; if eth_account is missing, {RUN_SCRIPTS_TEST}\n{}",
            describe(&out)
        )
    };
    if !out.status.success() {
        fail("failed");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let results: Vec<(B256, [u8; 65])> = stdout
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|_| fail("printed a line that is not JSON"));
            let digest = v["digest"]
                .as_str()
                .and_then(|s| s.parse::<B256>().ok())
                .unwrap_or_else(|| fail("printed no 32-byte digest"));
            let sig = v["signature"]
                .as_str()
                .and_then(parse_signature)
                .unwrap_or_else(|| fail("printed no 65-byte signature"));
            (digest, sig)
        })
        .collect();
    if results.len() != count {
        fail(&format!(
            "printed {} results for {count} files",
            results.len()
        ));
    }
    results
}

/// Every chain id unsalted, and two deployments with salts (one on a chain also used unsalted).
fn domains() -> Vec<SignerDomain> {
    let mut all: Vec<SignerDomain> = CHAIN_IDS
        .iter()
        .map(|&c| SignerDomain::unsalted(c))
        .collect();
    all.push(SignerDomain {
        chain_id: 31_337,
        salt: Some(B256::repeat_byte(0x11)),
    });
    all.push(SignerDomain {
        chain_id: 1,
        salt: Some(b256!(
            "00000000000000000000000000000000000000000000000000000000000000ab"
        )),
    });
    all
}

fn fresh(nonce: u64, deadline: u64) -> Freshness {
    Freshness { nonce, deadline }
}

/// Every variant, with values that stress the JSON encoding: 0 and u64/u32/U256 maxima, integers
/// above 2^53, a bytes32 with leading zero bytes, mixed-case checksummed addresses, the zero
/// address, and strings with quotes, backslashes, non-ASCII or nothing at all.
fn requests() -> Vec<Request> {
    let registry = address!("5FbDB2315678afecb367f032d93F642f64180aa3");
    let avs = address!("70997970C51812dc3A010C7d01b50e0d17dc79C8");
    let registrar = address!("54f4bC6bDEbe479173a2bbDc31dD7178408A57A4");
    // BN254 base field modulus p - 1, and 2^255 + 1.
    let p_minus_1 = U256::from_str_radix(
        "21888242871839275222246405745257275088696311157297823662689037894645226208582",
        10,
    )
    .unwrap();
    let big = (U256::from(1) << 255) + U256::from(1);
    vec![
        Request::CreateKey {
            operator: TEST_ADDRESS,
            fresh: fresh(0, 1_900_000_000),
        },
        Request::CreateKey {
            operator: TEST_ADDRESS,
            fresh: fresh(u64::MAX - 1, u64::MAX),
        },
        Request::RotateKey {
            operator: TEST_ADDRESS,
            fresh: fresh(9_007_199_254_740_993, 4_102_444_800),
        },
        Request::SignHash {
            operator: TEST_ADDRESS,
            message_hash: b256!("0000ff1ab2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d"),
            key_version: u32::MAX,
            fresh: fresh(42, 1_750_000_000),
        },
        Request::SignHash {
            operator: TEST_ADDRESS,
            message_hash: B256::ZERO,
            key_version: 0,
            fresh: fresh(1, 2),
        },
        Request::ScalarMul {
            operator: TEST_ADDRESS,
            point_x: p_minus_1,
            point_y: U256::MAX,
            key_version: 1,
            fresh: fresh(7, 1_800_000_000),
        },
        Request::ScalarMul {
            operator: TEST_ADDRESS,
            point_x: big,
            point_y: U256::from(2),
            key_version: 65_536,
            fresh: fresh(1 << 32, 1_800_000_001),
        },
        Request::PubkeyRegistration {
            operator: TEST_ADDRESS,
            registry,
            chain_id: 17_000,
            key_version: 3,
            fresh: fresh(5, 1_760_000_000),
        },
        Request::PubkeyRegistration {
            operator: TEST_ADDRESS,
            registry: Address::ZERO,
            chain_id: u64::MAX,
            key_version: 0,
            fresh: fresh(6, u64::MAX),
        },
        Request::KeyRegistration {
            operator: TEST_ADDRESS,
            avs,
            operator_set_id: u32::MAX,
            registrar,
            chain_id: 1,
            domain_version: "v2.1-β \"quoted\" \\ back\\slash\n€ 🦀".into(),
            key_version: 2,
            fresh: fresh(123_456_789, 1_770_000_000),
        },
        Request::KeyRegistration {
            operator: Address::ZERO,
            avs: registrar,
            operator_set_id: 0,
            registrar: avs,
            chain_id: 9_007_199_254_740_993,
            domain_version: String::new(),
            key_version: 0,
            fresh: fresh(0, 0),
        },
        Request::CreateApiKey {
            operator: TEST_ADDRESS,
            label: "avs-1 \"eu\" \\ €".into(),
            scopes: "sign,scalar-mul,registration".into(),
            expires_at: u64::MAX,
            sources: "10.0.0.0/8,::1".into(),
            token_hash: b256!("00000000000000000000000000000000000000000000000000000000000000ff"),
            fresh: fresh(11, 1_790_000_000),
        },
        Request::CreateApiKey {
            operator: TEST_ADDRESS,
            label: String::new(),
            scopes: "sign".into(),
            expires_at: 0,
            sources: String::new(),
            token_hash: B256::repeat_byte(0xee),
            fresh: fresh(12, 1_790_000_001),
        },
        Request::ListApiKeys {
            operator: TEST_ADDRESS,
            fresh: fresh(9_007_199_254_740_993, 1_790_000_002),
        },
        Request::RevokeApiKey {
            operator: TEST_ADDRESS,
            key_id: "00ff00ff00ff00ff".into(),
            fresh: fresh(13, 1_790_000_003),
        },
    ]
}

fn with_nonce(req: &Request, nonce: u64) -> Request {
    let mut req = req.clone();
    match &mut req {
        Request::CreateKey { fresh, .. }
        | Request::RotateKey { fresh, .. }
        | Request::SignHash { fresh, .. }
        | Request::ScalarMul { fresh, .. }
        | Request::PubkeyRegistration { fresh, .. }
        | Request::KeyRegistration { fresh, .. }
        | Request::CreateApiKey { fresh, .. }
        | Request::ListApiKeys { fresh, .. }
        | Request::RevokeApiKey { fresh, .. } => fresh.nonce = nonce,
    }
    req
}

#[test]
fn the_test_key_is_anvils_first_account() {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(TEST_KEY_HEX, &mut bytes).unwrap();
    let key = EoaKey::from_bytes(&Secret::new(bytes)).unwrap();
    assert_eq!(key.address(), TEST_ADDRESS);
}

#[test]
fn every_request_kind_is_covered() {
    let mut kinds: Vec<&str> = requests().iter().map(Request::kind).collect();
    kinds.dedup();
    assert_eq!(
        kinds,
        [
            "CreateKey",
            "RotateKey",
            "SignHash",
            "ScalarMul",
            "PubkeyRegistration",
            "KeyRegistration",
            "CreateApiKey",
            "ListApiKeys",
            "RevokeApiKey"
        ]
    );
}

#[test]
fn cast_and_eth_account_signatures_of_typed_data_are_accepted() {
    let cast = cast_path();
    let version = cast_version(&cast);
    let python = python_path();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key.hex");
    std::fs::write(&key_file, TEST_KEY_HEX).unwrap();

    // Every (request, chain id) case as a typed-data file, all signed by one eth-account
    // process running alongside the cast calls.
    let mut cases: Vec<(usize, Request, SignerDomain, PathBuf)> = Vec::new();
    for (i, req) in requests().into_iter().enumerate() {
        for (d, domain) in domains().into_iter().enumerate() {
            let file = dir.path().join(format!("{i}-{}-{d}.json", req.kind()));
            std::fs::write(
                &file,
                serde_json::to_vec_pretty(&req.typed_data_in(&domain)).unwrap(),
            )
            .unwrap();
            cases.push((i, req.clone(), domain, file));
        }
    }
    let files: Vec<PathBuf> = cases.iter().map(|c| c.3.clone()).collect();
    let eth = eth_account_start(&python, &files, &key_file);
    let cast_sigs: Vec<[u8; 65]> = files.iter().map(|f| cast_sign(&cast, f)).collect();
    let eth_results = eth_account_results(eth, files.len());

    for (((i, req, chain_id, _), cast_sig), (eth_digest, eth_sig)) in
        cases.iter().zip(&cast_sigs).zip(&eth_results)
    {
        let (i, domain) = (*i, *chain_id);
        let case = format!("{} #{i} in {domain:?}", req.kind());
        let digest = req.digest_in(&domain);

        assert_eq!(
            recover_signer(&digest, cast_sig),
            Ok(TEST_ADDRESS),
            "{case}: cast ({version}) signature 0x{} not accepted",
            hex::encode(cast_sig)
        );
        assert_eq!(
            *eth_digest, digest,
            "{case}: eth-account's EIP-712 digest differs from ours"
        );
        assert_eq!(
            recover_signer(&digest, eth_sig),
            Ok(TEST_ADDRESS),
            "{case}: eth-account signature 0x{} not accepted",
            hex::encode(eth_sig)
        );

        // Replay under the next nonce must fail, for both wallets' signatures.
        let next = with_nonce(req, req.freshness().nonce.wrapping_add(1));
        let next_digest = next.digest_in(&domain);
        assert_ne!(next_digest, digest, "{case}: the nonce is not bound");
        for (who, sig) in [("cast", cast_sig), ("eth-account", eth_sig)] {
            assert_ne!(
                recover_signer(&next_digest, sig).ok(),
                Some(TEST_ADDRESS),
                "{case}: {who}'s signature for nonce N also verifies for nonce N + 1"
            );
        }

        // cast's signature in one domain must not verify in another (another chain, or the same
        // chain with another salt or none).
        for other in domains().into_iter().filter(|d| *d != domain) {
            assert_ne!(
                recover_signer(&req.digest_in(&other), cast_sig).ok(),
                Some(TEST_ADDRESS),
                "{case}: cast's signature verifies in {other:?} too"
            );
        }
    }
    assert_eq!(cases.len(), requests().len() * domains().len());
    println!(
        "{} typed-data cases signed by {version} and by eth-account: all accepted",
        cases.len()
    );
}

/// Partial requests with edge values: the longest and shortest app ids the node accepts, every
/// character class of app ids, a string a wallet must escape, zero and all-ones response keys,
/// epochs, policy blocks, nonces and deadlines at the u64 limits and above 2^53, the zero address.
fn partial_requests() -> Vec<PartialRequest> {
    let node = address!("70997970C51812dc3A010C7d01b50e0d17dc79C8");
    vec![
        PartialRequest {
            app_id: "demo.app:v1".into(),
            response_key: b256!("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"),
            epoch: 7,
            policy_block: 123_456,
            nonce: 42,
            deadline: 1_900_000_000,
            node,
        },
        PartialRequest {
            app_id: "a".into(),
            response_key: B256::ZERO,
            epoch: 0,
            policy_block: 0,
            nonce: 0,
            deadline: u64::MAX,
            node: Address::ZERO,
        },
        PartialRequest {
            app_id: "Z9._:-".repeat(21) + "xy",
            response_key: B256::repeat_byte(0xff),
            epoch: u64::MAX,
            policy_block: u64::MAX,
            nonce: u64::MAX,
            deadline: 9_007_199_254_740_993,
            node,
        },
        PartialRequest {
            app_id: "quote \" \\ β 🦀".into(),
            response_key: b256!("00000000000000000000000000000000000000000000000000000000000000ee"),
            epoch: 9_007_199_254_740_993,
            policy_block: 1,
            nonce: 9_007_199_254_740_993,
            deadline: 1,
            node: TEST_ADDRESS,
        },
    ]
}

#[test]
fn cast_and_eth_account_signatures_of_partial_requests_are_accepted() {
    let cast = cast_path();
    let version = cast_version(&cast);
    let python = python_path();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key.hex");
    std::fs::write(&key_file, TEST_KEY_HEX).unwrap();
    assert_eq!(partial_requests()[2].app_id.len(), 128);

    let mut cases: Vec<(usize, PartialRequest, u64, PathBuf)> = Vec::new();
    for (i, req) in partial_requests().into_iter().enumerate() {
        for &chain_id in &CHAIN_IDS {
            let file = dir.path().join(format!("partial-{i}-{chain_id}.json"));
            std::fs::write(
                &file,
                serde_json::to_vec_pretty(&req.typed_data(chain_id)).unwrap(),
            )
            .unwrap();
            cases.push((i, req.clone(), chain_id, file));
        }
    }
    let files: Vec<PathBuf> = cases.iter().map(|c| c.3.clone()).collect();
    let eth = eth_account_start(&python, &files, &key_file);
    let cast_sigs: Vec<[u8; 65]> = files.iter().map(|f| cast_sign(&cast, f)).collect();
    let eth_results = eth_account_results(eth, files.len());

    for (((i, req, chain_id, _), cast_sig), (eth_digest, eth_sig)) in
        cases.iter().zip(&cast_sigs).zip(&eth_results)
    {
        let chain_id = *chain_id;
        let case = format!("PartialRequest #{i} on chain {chain_id}");
        let digest = req.digest(chain_id);
        assert_eq!(
            *eth_digest, digest,
            "{case}: eth-account's EIP-712 digest differs from ours"
        );
        for (who, sig) in [("cast", cast_sig), ("eth-account", eth_sig)] {
            assert_eq!(
                recover_signer(&digest, sig),
                Ok(TEST_ADDRESS),
                "{case}: {who} signature 0x{} not accepted",
                hex::encode(sig)
            );
            let mut next = req.clone();
            next.nonce = next.nonce.wrapping_add(1);
            assert_ne!(
                recover_signer(&next.digest(chain_id), sig).ok(),
                Some(TEST_ADDRESS),
                "{case}: {who}'s signature for nonce N also verifies for nonce N + 1"
            );
            let mut other_epoch = req.clone();
            other_epoch.epoch = other_epoch.epoch.wrapping_add(1);
            assert_ne!(
                recover_signer(&other_epoch.digest(chain_id), sig).ok(),
                Some(TEST_ADDRESS),
                "{case}: {who}'s signature for epoch E also verifies for epoch E + 1"
            );
            for &other in CHAIN_IDS.iter().filter(|&&c| c != chain_id) {
                assert_ne!(
                    recover_signer(&req.digest(other), sig).ok(),
                    Some(TEST_ADDRESS),
                    "{case}: {who}'s signature verifies for chain {other} too"
                );
            }
        }
    }
    assert_eq!(cases.len(), partial_requests().len() * CHAIN_IDS.len());
    println!(
        "{} partial-request cases signed by {version} and by eth-account: all accepted",
        cases.len()
    );
}
