//! `kms bench` end to end on a small network: the real `kms` creates and starts three real
//! `kms-node` processes (interval 3 s) under a temporary directory, measures genesis, three
//! reshares and decryption, prints JSON, stops every node and removes its directory.
//!
//! `kms bench` finds `kms-node` next to `kms`; Cargo does not build another package's binary for
//! this package's tests, so the test builds it when it is missing or older than its sources.
//! Linux only: leftover node processes are looked for in /proc.
#![cfg(target_os = "linux")]
#![cfg(test)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The latest modification time under `path` (a file or a directory tree).
fn latest_change(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .flatten()
        .filter_map(|entry| latest_change(&entry.path()))
        .max()
}

/// Builds `kms-node` beside the tested `kms` unless it is newer than everything it is built from.
fn build_node_if_stale() {
    let kms = Path::new(env!("CARGO_BIN_EXE_kms"));
    let node = kms.with_file_name(format!("kms-node{}", std::env::consts::EXE_SUFFIX));
    let root = workspace_root();
    let mut sources = vec![root.join("Cargo.toml"), root.join("Cargo.lock")];
    for krate in ["kms-node", "kms-protocol", "kms-store", "kms-crypto"] {
        sources.push(root.join("crates").join(krate));
    }
    let built = std::fs::metadata(&node).and_then(|m| m.modified()).ok();
    let stale = match built {
        None => true,
        Some(built) => sources
            .iter()
            .filter_map(|p| latest_change(p))
            .any(|changed| changed > built),
    };
    if !stale {
        return;
    }
    let profile_dir = kms.parent().unwrap();
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .current_dir(&root)
        .args([
            "build",
            "-p",
            "kms-node",
            "--bin",
            "kms-node",
            "--target-dir",
        ])
        .arg(profile_dir.parent().unwrap());
    // Same profile as this test's `kms`, so the libraries it was built with are reused.
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => cargo.args(["--profile", "test"]),
        Some("release") => cargo.arg("--release"),
        Some(other) => cargo.args(["--profile", other]),
        None => &mut cargo,
    };
    assert!(
        cargo.status().unwrap().success(),
        "building kms-node failed"
    );
}

/// Live kms-node processes whose command line mentions `dir`.
fn nodes_under(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let line = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if line.contains("kms-node") && line.contains(&dir) {
            found.push(line);
        }
    }
    found
}

/// Every number in `v` with the key it is under: "errors" must be 0, failed round counts may be
/// anything, every other figure must be positive.
fn check_numbers(v: &Value, key: &str, path: &str, bad: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                check_numbers(x, k, &format!("{path}.{k}"), bad);
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                check_numbers(x, key, &format!("{path}[{i}]"), bad);
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap();
            let ok = match key {
                "errors" => x == 0.0,
                "failed_dkg_rounds" | "failed_reshare_rounds" => x >= 0.0,
                _ => x > 0.0,
            };
            if !ok {
                bad.push(format!("{path} = {x}"));
            }
        }
        _ => {}
    }
}

#[test]
fn bench_measures_a_small_network_and_cleans_up() {
    build_node_if_stale();
    // The default work directory goes under TMPDIR, so this one shows whether it was removed.
    let tmp = tempfile::tempdir().unwrap();
    let stderr_path = tmp.path().join("stderr.txt");
    let tmpdir = tmp.path().join("tmp");
    std::fs::create_dir(&tmpdir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kms"))
        .args([
            "bench",
            "--nodes",
            "3",
            "--interval",
            "3",
            "--decrypts",
            "10",
            "--seconds",
            "2",
            "--concurrency",
            "2",
            "--json",
        ])
        .env("TMPDIR", &tmpdir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();

    // Genesis within two intervals, three reshares, a few seconds of decrypts: well under this.
    let deadline = Instant::now() + Duration::from_secs(180);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            // SIGTERM lets it stop its nodes first.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            std::thread::sleep(Duration::from_secs(15));
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(
        out.status.success(),
        "kms bench failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{stdout}\nstderr:\n{stderr}"));

    let mut bad = Vec::new();
    check_numbers(&report, "", "report", &mut bad);
    assert!(bad.is_empty(), "figures out of range: {bad:?}\n{report:#}");

    // The fields are there, not merely positive where present.
    let networks = report["networks"].as_array().unwrap();
    assert_eq!(networks.len(), 1, "{report:#}");
    let net = &networks[0];
    assert_eq!(net["nodes"], 3);
    assert_eq!(net["threshold"], 3);
    assert!(
        net["genesis"]["max_ms"].as_f64().unwrap() >= net["genesis"]["median_ms"].as_f64().unwrap()
    );
    assert_eq!(net["genesis"]["finalized"], 3, "{report:#}");
    let reshares = net["reshares"].as_array().unwrap();
    assert_eq!(reshares.len(), 3, "{report:#}");
    let genesis_epoch = net["genesis"]["epoch"].as_u64().unwrap();
    let mut previous = genesis_epoch;
    for r in reshares {
        let epoch = r["epoch"].as_u64().unwrap();
        assert!(epoch > previous, "epochs must increase: {report:#}");
        previous = epoch;
    }
    for figure in ["reshare_median_ms", "reshare_max_ms"] {
        assert!(net[figure].as_f64().is_some(), "{figure}: {report:#}");
    }

    let decrypt = &report["decrypt"];
    assert_eq!(decrypt["sequential"]["ok"], 10, "{report:#}");
    assert_eq!(decrypt["sequential"]["errors"], 0);
    assert_eq!(decrypt["sustained"]["errors"], 0);
    assert!(decrypt["sustained"]["ok"].as_u64().unwrap() > 0);
    assert!(decrypt["sustained"]["decrypts_per_sec"].as_f64().unwrap() > 0.0);
    assert_eq!(decrypt["error_messages"], serde_json::json!([]));
    for figure in ["p50", "p99", "max"] {
        assert!(decrypt["sequential"]["latency_ms"][figure]
            .as_f64()
            .is_some());
    }
    let floor = &report["floor"];
    for figure in ["floor_ms", "client_crypto_ms", "fetch_mpk_ms"] {
        assert_eq!(floor[figure]["count"], 10, "{figure}: {report:#}");
    }
    // The ratio is what it says.
    let ratio = decrypt["sequential"]["latency_ms"]["p50"].as_f64().unwrap()
        / floor["floor_ms"]["p50"].as_f64().unwrap();
    assert!(
        (floor["ratio_p50"].as_f64().unwrap() - ratio).abs() < 0.01,
        "{report:#}"
    );

    let goals = report["goals"].as_array().unwrap();
    assert_eq!(goals.len(), 3);
    // No 4-node network in this run, so the DKG goal is not judged.
    assert_eq!(goals[0]["status"], "n/a");
    for g in &goals[1..] {
        let status = g["status"].as_str().unwrap();
        assert!(status == "PASS" || status == "MISS", "{g}");
    }

    // Every node stopped and the temporary directory is gone.
    assert!(
        nodes_under(&tmpdir).is_empty(),
        "{:?}",
        nodes_under(&tmpdir)
    );
    let left: Vec<_> = std::fs::read_dir(&tmpdir).unwrap().flatten().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(stderr.contains("waiting for genesis"), "{stderr}");
}
