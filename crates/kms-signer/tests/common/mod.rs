//! Test harness: the real `kms-signer` binary on 127.0.0.1:0 with a fresh data directory, and a
//! client that signs requests with an EOA key the way a wallet would.
#![allow(dead_code)]

use alloy_primitives::{Address, B256, U256};
use kms_crypto::auth::{EoaKey, Freshness, Request};
use kms_crypto::bn254::{G1Point, G2Point};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const CHAIN_ID: u64 = 31337;

pub struct Signer {
    pub dir: PathBuf,
    pub url: String,
    pub child: Child,
    pub log: PathBuf,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_kms-signer")
}

impl Signer {
    /// Starts the service in `dir` (created if missing) with extra flags.
    pub fn start(dir: &Path, extra: &[&str]) -> Signer {
        Signer::start_logging(dir, extra, "debug")
    }

    /// As `start`, with the service's `RUST_LOG` (a benchmark runs it at `warn`).
    pub fn start_logging(dir: &Path, extra: &[&str], log_level: &str) -> Signer {
        std::fs::create_dir_all(dir).unwrap();
        let pass = dir.join("kek.pass");
        if !pass.exists() {
            std::fs::write(&pass, "test passphrase\n").unwrap();
        }
        let port_file = dir.join("port");
        let _ = std::fs::remove_file(&port_file);
        let log = dir.join(format!("signer-{}.log", now_ms()));
        let mut child = Command::new(bin())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--chain-id",
                &CHAIN_ID.to_string(),
            ])
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--kek-passphrase-file")
            .arg(&pass)
            .arg("--port-file")
            .arg(&port_file)
            .args(extra)
            .env("RUST_LOG", log_level)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let addr =
            kms_test_support::wait_for_port(&mut child, &port_file, &log, Duration::from_secs(60));
        Signer {
            dir: dir.to_path_buf(),
            url: format!("http://{addr}"),
            child,
            log,
        }
    }

    /// Starts the service with its gRPC listener too; returns it and the gRPC address.
    pub fn start_grpc(dir: &Path, extra: &[&str]) -> (Signer, String) {
        Signer::start_grpc_logging(dir, extra, "debug")
    }

    /// As `start_grpc`, with the service's `RUST_LOG`.
    pub fn start_grpc_logging(dir: &Path, extra: &[&str], log_level: &str) -> (Signer, String) {
        let grpc_port = dir.join("grpc.port");
        let _ = std::fs::remove_file(&grpc_port);
        let mut args = vec![
            "--grpc-listen",
            "127.0.0.1:0",
            "--grpc-port-file",
            grpc_port.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let s = Signer::start_logging(dir, &args, log_level);
        let addr = std::fs::read_to_string(&grpc_port).unwrap();
        (s, addr)
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }
}

impl Drop for Signer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An operator with an EOA key, making signed requests.
pub struct Operator {
    pub key: EoaKey,
    pub nonce: u64,
    pub chain_id: u64,
    /// The deployment's EIP-712 salt the operator signs with.
    pub salt: Option<B256>,
}

impl Operator {
    pub fn new(seed: u64) -> Self {
        Self {
            key: EoaKey::random(&mut ChaCha20Rng::seed_from_u64(seed)),
            nonce: seed * 1000,
            chain_id: CHAIN_ID,
            salt: None,
        }
    }

    pub fn eoa(&self) -> Address {
        self.key.address()
    }

    pub fn fresh(&mut self) -> Freshness {
        self.nonce += 1;
        Freshness {
            nonce: self.nonce,
            deadline: now() + 120,
        }
    }

    pub fn sign(&self, req: &Request) -> String {
        format!(
            "0x{}",
            hex::encode(
                self.key
                    .sign_digest(&req.digest_in(&kms_crypto::auth::SignerDomain {
                        chain_id: self.chain_id,
                        salt: self.salt,
                    }))
                    .unwrap()
            )
        )
    }

    pub fn create_body(&mut self) -> Value {
        let fresh = self.fresh();
        let req = Request::CreateKey {
            operator: self.eoa(),
            fresh,
        };
        json!({ "operator": self.eoa().to_string(), "nonce": fresh.nonce, "deadline": fresh.deadline, "signature": self.sign(&req) })
    }

    pub fn rotate_body(&mut self) -> Value {
        let fresh = self.fresh();
        let req = Request::RotateKey {
            operator: self.eoa(),
            fresh,
        };
        json!({ "nonce": fresh.nonce, "deadline": fresh.deadline, "signature": self.sign(&req) })
    }

    pub fn sign_body(&mut self, hash: B256, key_version: u32) -> Value {
        let fresh = self.fresh();
        let req = Request::SignHash {
            operator: self.eoa(),
            message_hash: hash,
            key_version,
            fresh,
        };
        json!({ "message_hash": hash.to_string(), "key_version": key_version, "nonce": fresh.nonce, "deadline": fresh.deadline, "signature": self.sign(&req) })
    }

    pub fn scalar_mul_body(&mut self, x: U256, y: U256) -> Value {
        let fresh = self.fresh();
        let req = Request::ScalarMul {
            operator: self.eoa(),
            point_x: x,
            point_y: y,
            key_version: 0,
            fresh,
        };
        json!({ "hash": { "x": x.to_string(), "y": y.to_string() }, "nonce": fresh.nonce, "deadline": fresh.deadline, "signature": self.sign(&req) })
    }

    pub fn registration_body(&mut self, registry: Address, chain_id: u64) -> Value {
        let fresh = self.fresh();
        let req = Request::PubkeyRegistration {
            operator: self.eoa(),
            registry,
            chain_id,
            key_version: 0,
            fresh,
        };
        json!({ "registry": registry.to_string(), "chain_id": chain_id, "nonce": fresh.nonce, "deadline": fresh.deadline, "signature": self.sign(&req) })
    }
}

impl Operator {
    /// A signed creation for `token` (made with `new_token`).
    pub fn create_api_key_body_for(
        &mut self,
        token: &str,
        label: &str,
        scopes: &str,
        expires_at: u64,
        sources: &str,
    ) -> Value {
        let fresh = self.fresh();
        let token_hash = kms_crypto::auth::api_token_hash(token);
        let req = Request::CreateApiKey {
            operator: self.eoa(),
            label: label.into(),
            scopes: scopes.into(),
            expires_at,
            sources: sources.into(),
            token_hash,
            fresh,
        };
        json!({ "label": label, "scopes": scopes, "expires_at": expires_at, "sources": sources, "token_hash": token_hash.to_string(), "nonce": fresh.nonce, "deadline": fresh.deadline, "signature": self.sign(&req) })
    }

    /// A signed creation for a new token (not kept).
    pub fn create_api_key_body(
        &mut self,
        label: &str,
        scopes: &str,
        expires_at: u64,
        sources: &str,
    ) -> Value {
        self.create_api_key_body_for(&new_token(), label, scopes, expires_at, sources)
    }

    pub fn list_api_keys_body(&mut self) -> Value {
        let fresh = self.fresh();
        let req = Request::ListApiKeys {
            operator: self.eoa(),
            fresh,
        };
        json!({ "nonce": fresh.nonce, "deadline": fresh.deadline, "signature": self.sign(&req) })
    }

    pub fn revoke_api_key_body(&mut self, key_id: &str) -> Value {
        let fresh = self.fresh();
        let req = Request::RevokeApiKey {
            operator: self.eoa(),
            key_id: key_id.into(),
            fresh,
        };
        json!({ "key_id": key_id, "nonce": fresh.nonce, "deadline": fresh.deadline, "signature": self.sign(&req) })
    }

    /// Creates an API key over REST; returns (id, token).
    pub fn api_key(&mut self, http: &Http, scopes: &str, sources: &str) -> (String, String) {
        let token = new_token();
        let body = self.create_api_key_body_for(&token, "test", scopes, 0, sources);
        let (status, r) = http.post(&format!("/v1/keys/{}/api-keys", self.eoa()), &body);
        assert_eq!(status, 201, "{r}");
        (r["id"].as_str().unwrap().to_owned(), token)
    }
}

/// A new API key token, as a client makes it.
pub fn new_token() -> String {
    kms_crypto::auth::new_api_token(&mut rand_core::OsRng).expose(|t| t.clone())
}

pub struct Http {
    client: reqwest::blocking::Client,
    pub base: String,
}

impl Http {
    pub fn new(base: &str) -> Self {
        Self {
            client: reqwest::blocking::Client::builder()
                // The server may close a connection after refusing a request (a 413 body is not
                // drained); never reuse a pooled connection, so the next request cannot race that.
                .pool_max_idle_per_host(0)
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            base: base.to_owned(),
        }
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    pub fn post_bearer(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {token}"))
            .json(body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    pub fn post_raw(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    pub fn get_text(&self, path: &str) -> (u16, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    }
}

pub fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("<no code>")
}

pub fn g1(v: &Value) -> G1Point {
    G1Point::from_dec_or_hex(v["x"].as_str().unwrap(), v["y"].as_str().unwrap()).unwrap()
}

pub fn g2(v: &Value) -> G2Point {
    let s = |a: &Value, i: usize| a[i].as_str().unwrap().to_owned();
    G2Point::from_dec_or_hex(
        [&s(&v["x"], 0), &s(&v["x"], 1)],
        [&s(&v["y"], 0), &s(&v["y"], 1)],
    )
    .unwrap()
}

/// Runs an administrative `kms-signer` subcommand on a test's data directory.
pub fn admin(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .args(args)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--kek-passphrase-file")
        .arg(dir.join("kek.pass"))
        .output()
        .unwrap()
}

/// Opens a stopped service's store.
pub fn open_store(dir: &Path) -> kms_store::Store {
    let kek = kms_store::KekSource::PassphraseFile(dir.join("kek.pass"));
    kms_store::Store::open(&dir.join("data"), &kek, &mut rand_core::OsRng).unwrap()
}

/// Every audit record of a stopped service, as JSON.
pub fn audit_records(dir: &Path) -> Vec<Value> {
    use kms_store::redb::{ReadableDatabase, ReadableTable};
    let store = open_store(dir);
    let tx = store.db().begin_read().unwrap();
    let t = tx.open_table(kms_signer::audit::AUDIT).unwrap();
    t.iter()
        .unwrap()
        .map(|r| {
            let v: Value = serde_json::from_slice(r.unwrap().1.value()).unwrap();
            v["record"].clone()
        })
        .collect()
}

/// `op:outcome` of every audit record that names the API key `id`, in order.
pub fn audit_ops_of_api_key(dir: &Path, id: &str) -> Vec<String> {
    audit_records(dir)
        .iter()
        .filter(|r| r["api_key"] == id)
        .map(|r| {
            format!(
                "{}:{}",
                r["op"].as_str().unwrap(),
                r["outcome"].as_str().unwrap()
            )
        })
        .collect()
}
