//! A cluster of real `kms-node` processes on the loopback, each in its own directory. Nodes bind
//! port 0 and report their port in a file; the operator file is (re)written with the ports they
//! got, and the nodes re-read it at every interval boundary.
#![allow(dead_code)]

use kms_crypto::auth::EoaKey;
use kms_crypto::bls::EvalPoint;
use kms_crypto::bn254;
use kms_crypto::seal::EncryptionKey;
use kms_node::{Member, StaticFile};
use kms_protocol::Operator;
use rand_core::{OsRng, RngCore};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const APP: &str = "demo";

pub struct NodeProc {
    pub dir: PathBuf,
    pub address: [u8; 20],
    pub operator: Operator,
    pub child: Option<Child>,
    pub port: u16,
}

pub struct Cluster {
    pub root: tempfile::TempDir,
    pub nodes: Vec<NodeProc>,
    pub interval: u64,
    pub owner: EoaKey,
    /// Operators listed in the operator file (indexes into `nodes`).
    pub listed: Vec<usize>,
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

impl NodeProc {
    /// Node `i`'s directory with new keys (the evaluation point is `i + 1`) and a `node.toml` of
    /// the common lines followed by `rest`.
    pub fn create(root: &Path, i: usize, address: [u8; 20], rest: &str) -> Self {
        let dir = root.join(format!("node-{}", i + 1));
        std::fs::create_dir_all(&dir).unwrap();
        let sk = bn254::SecretKey::random(&mut OsRng);
        let enc = EncryptionKey::random(&mut OsRng);
        std::fs::write(dir.join("bn254.key"), sk.to_decimal().expose(|d| d.clone())).unwrap();
        std::fs::write(
            dir.join("encryption.key"),
            enc.to_bytes().expose(|b| hex::encode(b)),
        )
        .unwrap();
        std::fs::write(dir.join("kek.key"), hex::encode([i as u8 + 1; 32])).unwrap();
        let operator = Operator::new(
            address,
            EvalPoint::from_index(i as u64 + 1).unwrap(),
            sk.public_g1(),
            sk.public_g2(),
            enc.public(),
        );
        let toml = format!(
            "address = \"0x{}\"\nlisten = \"127.0.0.1:0\"\nport_file = \"port\"\ndata_dir = \"data\"\n\
             bn254_key_file = \"bn254.key\"\nencryption_key_file = \"encryption.key\"\n\
             kek_key_file = \"kek.key\"\n{rest}",
            hex::encode(address),
        );
        std::fs::write(dir.join("node.toml"), toml).unwrap();
        NodeProc {
            dir,
            address,
            operator,
            child: None,
            port: 0,
        }
    }

    /// The node's BN254 secret key, as written.
    pub fn bn254_key(&self) -> bn254::SecretKey {
        let text = std::fs::read_to_string(self.dir.join("bn254.key")).unwrap();
        bn254::SecretKey::from_int_str(text.trim()).unwrap()
    }
}

impl Cluster {
    /// `n` nodes, of which the first `listed` are in the operator file, all started.
    pub fn new(n: usize, listed: usize, interval: u64) -> Self {
        let start: Vec<usize> = (0..n).collect();
        Self::with(n, listed, interval, "", &start)
    }

    /// As `new`, with extra top-level TOML for every node, starting only `start`.
    pub fn with(n: usize, listed: usize, interval: u64, extra: &str, start: &[usize]) -> Self {
        let root = tempfile::tempdir().unwrap();
        let owner = EoaKey::random(&mut OsRng);
        let mut nodes = Vec::new();
        for i in 0..n {
            let mut address = [0u8; 20];
            OsRng.fill_bytes(&mut address);
            let toml = format!(
                "operators_file = \"../operators.json\"\ninterval_secs = {interval}\n{extra}\n\n\
                 [apps]\n{APP} = \"{}\"\n",
                owner.address()
            );
            nodes.push(NodeProc::create(root.path(), i, address, &toml));
        }
        let mut c = Self {
            root,
            nodes,
            interval,
            owner,
            listed: (0..listed).collect(),
        };
        // A first operator file so the nodes can start; the real ports follow.
        c.write_operators();
        for &i in start {
            c.start(i);
        }
        c.write_operators();
        c
    }

    pub fn write_operators(&self) {
        let members: Vec<Member> = self
            .listed
            .iter()
            .map(|&i| Member {
                operator: self.nodes[i].operator.clone(),
                url: format!("http://127.0.0.1:{}", self.nodes[i].port.max(1)),
            })
            .collect();
        let json = StaticFile::to_json(&members).unwrap();
        let path = self.root.path().join("operators.json");
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, json).unwrap();
        std::fs::rename(tmp, path).unwrap();
    }

    pub fn start(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        assert!(n.child.is_none(), "node {i} already running");
        let port_file = n.dir.join("port");
        let _ = std::fs::remove_file(&port_file);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(n.dir.join("node.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kms-node"))
            .args(["serve", "--config"])
            .arg(n.dir.join("node.toml"))
            .env("RUST_LOG", "info,kms_node=debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let child = n.child.insert(child);
        let addr = kms_test_support::wait_for_port(
            child,
            &port_file,
            &n.dir.join("node.log"),
            Duration::from_secs(30),
        );
        n.port = addr.port();
    }

    /// Restarts a stopped node and points the operator file at its new port.
    pub fn restart(&mut self, i: usize) {
        self.start(i);
        self.write_operators();
    }

    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends a signal (`STOP`, `CONT`, ...) to node `i`'s process.
    pub fn signal(&self, i: usize, sig: &str) {
        let c = self.nodes[i].child.as_ref().expect("running");
        let ok = Command::new("kill")
            .args([format!("-{sig}"), c.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -{sig}");
    }

    pub fn sigterm(&mut self, i: usize) -> std::process::ExitStatus {
        let mut c = self.nodes[i].child.take().expect("running");
        let ok = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "node {i} ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn running(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].child.is_some())
            .collect()
    }

    pub fn url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.nodes[i].port)
    }

    /// URLs of the listed operators (what a client is configured with).
    pub fn urls(&self) -> Vec<String> {
        self.listed.iter().map(|&i| self.url(i)).collect()
    }

    pub fn get(&self, i: usize, path: &str) -> Option<Value> {
        let r = http().get(format!("{}{path}", self.url(i))).send().ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json().ok()
    }

    pub fn epoch(&self, i: usize) -> Option<u64> {
        self.get(i, "/v1/status")?.get("epoch")?.as_u64()
    }

    /// Waits until every node in `who` reports an epoch above `above`; returns the epochs.
    pub fn wait_epoch_above(&self, who: &[usize], above: u64, rounds: u64) -> Vec<u64> {
        let deadline = Instant::now() + Duration::from_secs(self.interval * rounds + 20);
        loop {
            let epochs: Vec<Option<u64>> = who.iter().map(|&i| self.epoch(i)).collect();
            if epochs.iter().all(|e| e.is_some_and(|e| e > above)) {
                return epochs.into_iter().flatten().collect();
            }
            if Instant::now() > deadline {
                let logs: String = who
                    .iter()
                    .map(|&i| format!("--- node {i}\n{}", self.log_tail(i, 40)))
                    .collect();
                panic!("epochs {epochs:?} not above {above} in time\n{logs}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until every node in `who` reports one and the same epoch above `above`.
    pub fn wait_same_epoch(&self, who: &[usize], above: u64, rounds: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(self.interval * rounds + 20);
        loop {
            let epochs: Vec<Option<u64>> = who.iter().map(|&i| self.epoch(i)).collect();
            if let Some(Some(e)) = epochs.first() {
                if *e > above && epochs.iter().all(|x| *x == Some(*e)) {
                    return *e;
                }
            }
            assert!(
                Instant::now() < deadline,
                "epochs {epochs:?} never agreed above {above}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sleeps until `offset` after the next interval boundary (when rounds start).
    pub fn sleep_past_boundary(&self, offset: Duration) {
        let i = self.interval * 1000;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let next = (now / i + 1) * i;
        std::thread::sleep(Duration::from_millis(next - now) + offset);
    }

    pub fn mpk(&self, i: usize) -> String {
        self.get(i, "/v1/mpk").unwrap()["mpk"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.nodes[i].dir.join("node.log")).unwrap_or_default()
    }

    pub fn log_tail(&self, i: usize, lines: usize) -> String {
        let log = self.log(i);
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.nodes[i].dir.join("data")
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // KMS_TEST_LOGS=1 prints every node's log, to see a passing run as well.
        if std::env::var_os("KMS_TEST_LOGS").is_some() {
            for i in 0..self.nodes.len() {
                eprintln!("--- node {i}\n{}", self.log(i));
            }
        }
        for i in 0..self.nodes.len() {
            self.kill9(i);
        }
    }
}

/// The `[attestation.google]` table of a node that trusts kms-attest's test JWKS (audience
/// `kms-test`, Intel TDX hardware, `STABLE` images).
pub fn google_attestation_table() -> String {
    format!(
        "[attestation.google]\njwks_file = \"{}\"\naudience = \"kms-test\"\n\
         hwmodels = [\"GCP_INTEL_TDX\"]\nsupport_attribute = \"STABLE\"\n",
        test_jwt_dir().join("google-jwks.json").display()
    )
}

fn test_jwt_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../kms-attest/tests/data/jwt")
}

/// A Confidential Space token minted with kms-attest's test key `google-a`, in the claim shape of
/// real ones: `eat_nonce` the binding, `image` the container digest, `dbgstat` as given, valid
/// from a few seconds ago for ten minutes.
pub fn cs_token(binding: &[u8; 32], image: &str, dbgstat: &str) -> String {
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    let now = kms_api::time::unix_now();
    let key =
        EncodingKey::from_rsa_der(&std::fs::read(test_jwt_dir().join("google-a.der")).unwrap());
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("google-a".into());
    let claims = serde_json::json!({
        "iss": "https://confidentialcomputing.googleapis.com",
        "aud": "kms-test",
        "iat": now - 5,
        "nbf": now - 5,
        "exp": now + 600,
        "eat_nonce": hex::encode(binding),
        "swname": "CONFIDENTIAL_SPACE",
        "hwmodel": "GCP_INTEL_TDX",
        "dbgstat": dbgstat,
        "submods": {
            "confidential_space": {"support_attributes": ["STABLE"]},
            "container": {"image_digest": image}
        }
    });
    encode(&header, &claims, &key).unwrap()
}
