//! `kms devnet` end to end, as a user runs it: the real `kms` starts four real `kms-node`
//! processes (interval 5 s, no signer) under a temporary directory and prints the MPK once genesis
//! has finished; `kms encrypt` and `kms decrypt` use the network, before and after a reshare;
//! SIGTERM stops it with exit 0 and no node left running; a second run resumes the same MPK.
//! On anvil (with the signer, through which the operators register) the same, with the MPK taken
//! from the chain.
//!
//! `kms devnet` finds `kms-node` and `kms-signer` next to `kms` (`target/<profile>/`). Cargo
//! builds another package's binary for this package's tests only with unstable artifact
//! dependencies, so when either is missing or older than the sources the test runs `cargo build`
//! itself, as signer_client.rs does for kms-signer. Linux only: processes are found in /proc.
#![cfg(target_os = "linux")]
#![cfg(test)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Makes sure `kms-node` and `kms-signer` beside the tested `kms` are built from the current
/// sources.
fn ensure_services_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        kms_test_support::service_binaries(
            Path::new(env!("CARGO_BIN_EXE_kms")),
            &["kms-node", "kms-signer"],
        );
    });
}

fn kms(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kms"))
        .args(args)
        .output()
        .unwrap()
}

fn kms_ok(args: &[&str]) {
    let out = kms(args);
    assert!(
        out.status.success(),
        "kms {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `kms_ok`, and the JSON it printed.
fn kms_json(args: &[&str]) -> serde_json::Value {
    let out = kms(args);
    assert!(
        out.status.success(),
        "kms {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The pids of the processes whose command line names `dir` and whose arguments satisfy `is`.
fn pids_in(dir: &Path, is: impl Fn(&[String]) -> bool) -> Vec<u32> {
    let dir = dir.to_str().unwrap();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if is(&args) && args.iter().any(|a| a.contains(dir)) {
            pids.push(pid);
        }
    }
    pids
}

/// The pids of the kms-node processes started for `dir` (their command line names its configs).
fn node_pids(dir: &Path) -> Vec<u32> {
    pids_in(dir, |args| {
        args.first().is_some_and(|a| a.ends_with("kms-node"))
    })
}

/// The anvil processes started for `dir` (their `--state` file is in it). anvil from npm is a
/// wrapper process and the binary it runs.
fn anvil_pids(dir: &Path) -> Vec<u32> {
    pids_in(dir, |args| args.iter().take(2).any(|a| a.contains("anvil")))
}

/// A running `kms devnet`: its stdout lines arrive on a channel, stderr goes to a file.
struct Devnet {
    child: Child,
    lines: Receiver<String>,
    stderr: PathBuf,
    /// Everything printed so far, for failure messages.
    seen: Vec<String>,
}

impl Devnet {
    fn start(dir: &Path, stderr: &Path) -> Devnet {
        Self::start_with(dir, stderr, &["--no-signer"])
    }

    fn start_with(dir: &Path, stderr: &Path, extra: &[&str]) -> Devnet {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kms"))
            .args(["devnet", "--interval", "5", "--nodes", "4"])
            .args(extra)
            .arg("--dir")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(stderr).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Devnet {
            child,
            lines,
            stderr: stderr.into(),
            seen: Vec::new(),
        }
    }

    fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.seen.join("\n"),
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }

    /// The first stdout line (from now on) that satisfies `want`.
    fn wait_line(&mut self, what: &str, timeout: Duration, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .lines
                .recv_timeout(left.min(Duration::from_millis(500)))
            {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if want(&line) {
                        return line;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().unwrap();
                    panic!(
                        "kms devnet exited ({status}) before {what}\n{}",
                        self.output()
                    );
                }
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {timeout:?}\n{}",
                self.output()
            );
        }
    }

    /// The MPK line's value, once the devnet is ready.
    fn wait_ready(&mut self) -> (u64, String) {
        // Genesis: up to one interval to the boundary, then the DKG; resumes are quicker.
        let ready = self.wait_line("the ready line", Duration::from_secs(180), |l| {
            l.starts_with("devnet ready: epoch ")
        });
        let epoch = ready
            .trim_start_matches("devnet ready: epoch ")
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let mpk = self.wait_line("the MPK", Duration::from_secs(5), |l| l.starts_with("mpk "));
        let mpk = mpk.split_whitespace().nth(1).unwrap().to_string();
        assert!(mpk.starts_with("0x") && mpk.len() == 2 + 192, "{mpk}");
        (epoch, mpk)
    }

    /// SIGTERM, then the exit status (within 30 s).
    fn terminate(&mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "kms devnet did not exit after SIGTERM\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        // A failed test still stops its nodes: SIGTERM lets the devnet stop them.
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The epoch of a `[12s] epoch 7 · 4/4 nodes · mpk unchanged` line.
fn epoch_of_line(line: &str) -> Option<u64> {
    let rest = line.strip_prefix('[')?.split_once("] epoch ")?.1;
    rest.split_whitespace().next()?.parse().ok()
}

/// A test's files in a temporary directory: the devnet's directory, `msg.txt` holding the
/// plaintext, and whatever else the test writes beside them.
struct Scratch {
    tmp: tempfile::TempDir,
    dir: PathBuf,
    plaintext: &'static [u8],
}

impl Scratch {
    fn new(plaintext: &'static [u8]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("devnet");
        std::fs::write(tmp.path().join("msg.txt"), plaintext).unwrap();
        Scratch {
            tmp,
            dir,
            plaintext,
        }
    }

    /// A file beside the devnet directory.
    fn path(&self, name: &str) -> String {
        self.tmp.path().join(name).to_str().unwrap().to_string()
    }

    /// `kms decrypt` of `msg.enc` as the demo app's owner, through the devnet's nodes, into
    /// `out`, which must then hold the plaintext.
    fn decrypt(&self, out: &str) {
        let owner_key = self.dir.join("demo-owner.key");
        kms_ok(&[
            "decrypt",
            "--devnet",
            self.dir.to_str().unwrap(),
            "--app-id",
            "demo",
            "--owner-key",
            owner_key.to_str().unwrap(),
            "--in",
            &self.path("msg.enc"),
            "--out",
            &self.path(out),
        ]);
        assert_eq!(std::fs::read(self.path(out)).unwrap(), self.plaintext);
    }
}

#[test]
fn a_devnet_encrypts_decrypts_reshares_stops_and_resumes() {
    ensure_services_built();
    let s = Scratch::new(b"hello devnet\n");
    let (tmp, dir) = (&s.tmp, s.dir.clone());
    let d = dir.to_str().unwrap();
    let path = |name: &str| s.path(name);
    let decrypt = |out: &str| s.decrypt(out);

    let mut devnet = Devnet::start(&dir, &tmp.path().join("devnet-1.err"));
    let (epoch, mpk) = devnet.wait_ready();
    assert_eq!(node_pids(&dir).len(), 4, "{}", devnet.output());
    kms_ok(&[
        "encrypt",
        "--devnet",
        d,
        "--app-id",
        "demo",
        "--in",
        &path("msg.txt"),
        "--out",
        &path("msg.enc"),
    ]);
    decrypt("msg.out");

    // The next reshare keeps the key, and the ciphertext still opens. Epochs are numbered by
    // interval, so a failed round would skip one: any later epoch will do.
    let line = devnet.wait_line("a reshare", Duration::from_secs(60), |l| {
        epoch_of_line(l).is_some_and(|e| e > epoch)
    });
    assert!(line.contains("mpk unchanged"), "{line}");
    // Into an existing world-readable file: the plaintext replaces it, readable by the owner
    // only (the file does not keep its old mode).
    std::fs::write(path("msg.out2"), "an older, longer file of other content").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path("msg.out2"), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    decrypt("msg.out2");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path("msg.out2"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let status = devnet.terminate();
    assert_eq!(status.code(), Some(0), "{}", devnet.output());
    assert_eq!(node_pids(&dir), Vec::<u32>::new(), "every node stopped");

    // A different node count is refused on resume, before anything starts.
    let out = kms(&["devnet", "--nodes", "5", "--dir", d]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--nodes 4, not 5"));

    // Resumed with the demo app released to an attested image only (docs 0012): same MPK; the
    // owner's key opens nothing; a session's evidence opens the old ciphertext.
    let image = format!("sha256:{}", "ab".repeat(32));
    let jwt = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kms-attest/tests/data/jwt");
    for i in 1..=4 {
        let config = dir.join(format!("node-{i}/node.toml"));
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str(&format!(
            "\n[release.demo]\ncredential = \"attestation\"\nimages = [\"{image}\"]\n\n\
             [attestation.google]\njwks_file = \"{}\"\naudience = \"kms-test\"\n\
             hwmodels = [\"GCP_INTEL_TDX\"]\nsupport_attribute = \"STABLE\"\n",
            jwt.join("google-jwks.json").display()
        ));
        std::fs::write(&config, text).unwrap();
    }
    let mut devnet = Devnet::start(&dir, &tmp.path().join("devnet-2.err"));
    let (resumed_epoch, resumed_mpk) = devnet.wait_ready();
    assert_eq!(resumed_mpk, mpk);
    assert!(resumed_epoch > epoch);
    let owner_key = dir.join("demo-owner.key");
    let out = kms(&[
        "decrypt",
        "--devnet",
        d,
        "--app-id",
        "demo",
        "--owner-key",
        owner_key.to_str().unwrap(),
        "--in",
        &path("msg.enc"),
        "--out",
        &path("refused"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("attestation_required"), "{err}");
    assert!(!Path::new(&path("refused")).exists());
    let session = kms_json(&[
        "attest-session",
        "--app-id",
        "demo",
        "--out",
        &path("session"),
    ]);
    let nonce = session["binding"].as_str().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("google-a".into());
    let claims = serde_json::json!({
        "iss": "https://confidentialcomputing.googleapis.com",
        "aud": "kms-test",
        "iat": now - 5,
        "nbf": now - 5,
        "exp": now + 600,
        "eat_nonce": nonce,
        "swname": "CONFIDENTIAL_SPACE",
        "hwmodel": "GCP_INTEL_TDX",
        "dbgstat": "disabled-since-boot",
        "submods": {
            "confidential_space": {"support_attributes": ["STABLE"]},
            "container": {"image_digest": image}
        }
    });
    let key =
        jsonwebtoken::EncodingKey::from_rsa_der(&std::fs::read(jwt.join("google-a.der")).unwrap());
    let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    std::fs::write(path("token"), token).unwrap();
    kms_ok(&[
        "decrypt",
        "--devnet",
        d,
        "--app-id",
        "demo",
        "--attestation",
        &path("token"),
        "--session",
        &path("session"),
        "--in",
        &path("msg.enc"),
        "--out",
        &path("msg.out3"),
    ]);
    assert_eq!(std::fs::read(path("msg.out3")).unwrap(), s.plaintext);
    // Every node's release log checks out and lists the demo app's releases: by its owner
    // before, by attestation after (docs 0012 §12).
    let rel = kms_json(&["releases", "--devnet", d, "--app-id", "demo"]);
    let mut kinds = std::collections::BTreeSet::new();
    for n in rel["nodes"].as_array().unwrap() {
        assert_eq!(n["log"], "ok", "{rel:#}");
        for r in n["releases"].as_array().unwrap() {
            kinds.insert(r["credential"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["attestation", "owner"],
        "{rel:#}"
    );
    let status = devnet.terminate();
    assert_eq!(status.code(), Some(0), "{}", devnet.output());
    assert_eq!(node_pids(&dir), Vec::<u32>::new());
}

#[test]
fn a_chain_devnet_anchors_its_epochs_and_encrypts_from_the_chain() {
    ensure_services_built();
    let s = Scratch::new(b"hello chain\n");
    let (tmp, dir) = (&s.tmp, s.dir.clone());
    let path = |name: &str| s.path(name);

    // Operators register through the signer, so a chain devnet without one is refused up front.
    let out = kms(&[
        "devnet",
        "--chain",
        "anvil",
        "--no-signer",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("through the signer"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.exists(), "nothing is created for a refused devnet");

    let mut devnet =
        Devnet::start_with(&dir, &tmp.path().join("chain-1.err"), &["--chain", "anvil"]);
    let (epoch, mpk) = devnet.wait_ready();
    // The signer holds every operator's key under its EOA: the keys the nodes sign with (the
    // operator file names them), the keys the DKG's registry set carries.
    let err = std::fs::read_to_string(tmp.path().join("chain-1.err")).unwrap();
    assert_eq!(
        err.matches("registered through the signer and admitted")
            .count(),
        4,
        "{err}"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("devnet.json")).unwrap()).unwrap();
    let signer_url = format!("http://127.0.0.1:{}", manifest["signer_port"]);
    let out = kms(&["signer", "keys", "--url", &signer_url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let operators: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("operators.json")).unwrap())
            .unwrap();
    // (address, G1 key) of each entry of a JSON list.
    let pairs =
        |list: &serde_json::Value, address: &str, g1: &str| -> Vec<(String, serde_json::Value)> {
            list.as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e[address].as_str().unwrap().to_string(),
                        e.pointer(g1).unwrap().clone(),
                    )
                })
                .collect()
        };
    let held = pairs(&keys["keys"], "eoa", "/versions/0/g1");
    let named = pairs(&operators["operators"], "address", "/bn254_g1");
    assert_eq!(named.len(), 4);
    for op in &named {
        assert!(held.contains(op), "{op:?} not held by the signer: {held:?}");
    }
    assert_eq!(epoch % 5, 0, "chain-mode epochs are trigger blocks");
    let chain = devnet.wait_line("the chain line", Duration::from_secs(5), |l| {
        l.starts_with("chain ")
    });
    let words: Vec<&str> = chain.split_whitespace().collect();
    let (rpc, registry) = (words[2], words[4]);
    assert!(!anvil_pids(&dir).is_empty(), "{}", devnet.output());

    // Encrypt under the MPK anchored on chain (once the first anchor is mined), decrypt with the
    // nodes: the chain's MPK is the nodes'.
    let deadline = Instant::now() + Duration::from_secs(30);
    let report = loop {
        let out = kms(&[
            "encrypt",
            "--mpk-from-chain",
            "--rpc-url",
            rpc,
            "--registry",
            registry,
            "--app-id",
            "demo",
            "--in",
            &path("msg.txt"),
            "--out",
            &path("msg.enc"),
        ]);
        if out.status.success() {
            break String::from_utf8(out.stdout).unwrap();
        }
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(err.contains("no anchored epoch yet"), "{err}");
        assert!(
            Instant::now() < deadline,
            "nothing anchored: {}",
            devnet.output()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["mpk"], mpk.as_str());
    assert_eq!(report["mpk_source"], "chain");
    assert!(report["anchored_epoch"].as_u64().unwrap() >= epoch);
    s.decrypt("msg.out");
    // --mpk-from-chain needs the chain's coordinates.
    let out = kms(&[
        "encrypt",
        "--mpk-from-chain",
        "--app-id",
        "demo",
        "--in",
        "x",
        "--out",
        "y",
    ]);
    assert_eq!(out.status.code(), Some(2));

    // The demo app's release policy, as its owner manages it (docs 0012): released to the owner;
    // moved to an attested image (no delay: at once), the owner's key alone opens nothing; moved
    // back, it does again.
    let owner_key = dir.join("demo-owner.key");
    let owner_key = owner_key.to_str().unwrap();
    let at = ["--rpc-url", rpc, "--registry", registry, "--app-id", "demo"];
    let app = |extra: &[&str]| {
        let mut args = vec!["app"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&at);
        kms_json(&args)
    };
    let shown = app(&["show"]);
    assert_eq!(shown["in_force"]["credential"], "owner", "{shown}");
    assert_eq!(shown["in_force"]["owner"], manifest["demo_owner"]);
    assert_eq!(shown["pending"], serde_json::Value::Null);
    // The owner pays for its transactions.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let provider = kms_chain::provider(rpc, None).unwrap();
    let _: serde_json::Value = rt
        .block_on(alloy::providers::Provider::raw_request(
            &provider,
            "anvil_setBalance".into(),
            (
                manifest["demo_owner"].as_str().unwrap(),
                "0x56BC75E2D63100000",
            ),
        ))
        .unwrap();
    let image = format!("sha256:{}", "ab".repeat(32));
    let set = app(&[
        "set-release",
        "--owner-key",
        owner_key,
        "--credential",
        "attestation",
        "--image",
        &image,
        "--delay",
        "0",
    ]);
    assert_eq!(set["proposed"]["credential"], "attestation", "{set}");
    let shown = app(&["show"]);
    assert_eq!(shown["in_force"]["credential"], "attestation", "{shown}");
    assert_eq!(
        shown["in_force"]["approved"][0],
        format!("0x{}", "ab".repeat(32))
    );
    // Nodes keep a policy read at the latest block for 2 s.
    std::thread::sleep(Duration::from_millis(2500));
    let out = kms(&[
        "decrypt",
        "--devnet",
        dir.to_str().unwrap(),
        "--app-id",
        "demo",
        "--owner-key",
        owner_key,
        "--in",
        &path("msg.enc"),
        "--out",
        &path("refused"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("policy_block_required"), "{err}");
    // Someone else's key cannot change the policy; a bad image is refused before any transaction.
    let stranger = path("stranger.key");
    std::fs::write(&stranger, "11".repeat(32)).unwrap();
    let out = kms(&[
        "app",
        "set-release",
        "--owner-key",
        &stranger,
        "--credential",
        "owner",
        "--delay",
        "0",
        "--rpc-url",
        rpc,
        "--registry",
        registry,
        "--app-id",
        "demo",
    ]);
    assert_ne!(out.status.code(), Some(0));
    let out = kms(&[
        "app",
        "set-release",
        "--owner-key",
        owner_key,
        "--credential",
        "attestation",
        "--image",
        "sha256:zz",
        "--delay",
        "0",
        "--rpc-url",
        rpc,
        "--registry",
        registry,
        "--app-id",
        "demo",
    ]);
    assert_eq!(out.status.code(), Some(2));
    // A restriction cannot widen (back to the owner's signature), nor change the owner.
    let out = kms(&[
        "app",
        "restrict-release",
        "--owner-key",
        owner_key,
        "--credential",
        "owner",
        "--delay",
        "0",
        "--rpc-url",
        rpc,
        "--registry",
        registry,
        "--app-id",
        "demo",
    ]);
    assert_ne!(out.status.code(), Some(0));
    let restricted = app(&[
        "restrict-release",
        "--owner-key",
        owner_key,
        "--credential",
        "both",
        "--image",
        &image,
        "--delay",
        "0",
    ]);
    assert_eq!(restricted["in_force"]["credential"], "both", "{restricted}");
    assert_eq!(app(&["show"])["in_force"]["credential"], "both");
    app(&[
        "set-release",
        "--owner-key",
        owner_key,
        "--credential",
        "owner",
        "--delay",
        "0",
    ]);
    std::thread::sleep(Duration::from_millis(2500));
    s.decrypt("msg.out2");
    // The registry's owner (anvil's account 0 in a devnet) registers a TEE-only app in one
    // step; it cannot take the demo app.
    let registry_owner = path("registry-owner.key");
    std::fs::write(&registry_owner, kms_chain::anvil::DEV_KEYS[0]).unwrap();
    let tee = [
        "--rpc-url",
        rpc,
        "--registry",
        registry,
        "--app-id",
        "tee.app",
        "--registry-owner-key",
        &registry_owner,
        "--owner",
        manifest["demo_owner"].as_str().unwrap(),
        "--credential",
        "attestation",
        "--image",
        &image,
        "--delay",
        "86400",
    ];
    let out = kms_json(&[&["app", "register"], &tee[..]].concat());
    assert_eq!(out["in_force"]["credential"], "attestation", "{out}");
    let shown = kms_json(&[
        "app",
        "show",
        "--rpc-url",
        rpc,
        "--registry",
        registry,
        "--app-id",
        "tee.app",
    ]);
    assert_eq!(shown["in_force"]["delay_secs"], 86400, "{shown}");
    let taken = kms(&[
        "app",
        "register",
        "--rpc-url",
        rpc,
        "--registry",
        registry,
        "--app-id",
        "demo",
        "--registry-owner-key",
        &registry_owner,
        "--owner",
        manifest["demo_owner"].as_str().unwrap(),
        "--credential",
        "owner",
        "--delay",
        "0",
    ]);
    assert_eq!(taken.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&taken.stderr).contains("AppIdTaken"),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );

    let status = devnet.terminate();
    assert_eq!(status.code(), Some(0), "{}", devnet.output());
    assert_eq!(node_pids(&dir), Vec::<u32>::new(), "every node stopped");
    assert_eq!(anvil_pids(&dir), Vec::<u32>::new(), "anvil stopped");
    assert!(
        dir.join("anvil-state.json").exists(),
        "anvil saved its chain"
    );

    // Resumed on the saved chain: the registry is found, not deployed again; same MPK.
    let mut devnet =
        Devnet::start_with(&dir, &tmp.path().join("chain-2.err"), &["--chain", "anvil"]);
    let (resumed, resumed_mpk) = devnet.wait_ready();
    assert_eq!(resumed_mpk, mpk);
    assert!(resumed >= epoch);
    let err = std::fs::read_to_string(tmp.path().join("chain-2.err")).unwrap();
    assert!(err.contains("found"), "{err}");
    // Everything was set up on the first run: nothing is registered or admitted again.
    assert!(!err.contains("registered"), "{err}");
    // Rounds go on from the saved chain's blocks.
    let line = devnet.wait_line("a reshare", Duration::from_secs(60), |l| {
        epoch_of_line(l).is_some_and(|e| e > resumed)
    });
    assert!(line.contains("mpk unchanged"), "{line}");
    let status = devnet.terminate();
    assert_eq!(status.code(), Some(0), "{}", devnet.output());
}
