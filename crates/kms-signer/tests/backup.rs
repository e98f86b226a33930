//! Backup and restore: a snapshot taken while the service signs under load restores into an
//! empty directory as the same keys, API keys and audit chain; nothing older replaces anything
//! newer; a backup never overwrites a file.
#![cfg(test)]

mod common;

use alloy_primitives::b256;
use common::*;
use kms_crypto::bn254::verify_signature;
use serde_json::json;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

const HASH: alloy_primitives::B256 =
    b256!("5151515151515151515151515151515151515151515151515151515151515151");

fn run(args: &[&str], dir: &std::path::Path) -> (bool, String, String) {
    let out = Command::new(bin())
        .args(args)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_backup_under_load_restores_the_same_keys_and_continues_the_audit_chain() {
    let dir = tempfile::tempdir().unwrap();
    let s = Signer::start(dir.path(), &[]);
    let http = Http::new(&s.url);
    let mut op = Operator::new(70);
    let (status, key) = http.post("/v1/keys", &op.create_body());
    assert_eq!(status, 201, "{key}");
    let pk = g1(&key["versions"][0]["g1"]);
    let (_, token) = op.api_key(&http, "sign", "");
    let sign_url = format!("/v1/keys/{}/sign", op.eoa());

    // Signing under load while the snapshot is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let signed = Arc::new(AtomicU64::new(0));
    let load = {
        let (stop, signed, url, token, sign_url) = (
            stop.clone(),
            signed.clone(),
            s.url.clone(),
            token.clone(),
            sign_url.clone(),
        );
        std::thread::spawn(move || {
            let http = Http::new(&url);
            while !stop.load(Ordering::Relaxed) {
                let (status, r) = http.post_bearer(
                    &sign_url,
                    &token,
                    &json!({ "message_hash": HASH.to_string() }),
                );
                assert_eq!(status, 200, "{r}");
                signed.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    while signed.load(Ordering::Relaxed) < 20 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let snap = dir.path().join("snap.redb");
    let snap_arg = snap.to_str().unwrap();
    let (ok, stdout, stderr) = run(&["backup", "--out", snap_arg], dir.path());
    assert!(ok, "{stderr}");
    assert!(stdout.contains("running service"), "{stdout}");
    assert!(
        !dir.path().join("snap.redb.partial").exists(),
        "the partial file is gone once the backup is complete"
    );
    while signed.load(Ordering::Relaxed) < 60 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&snap).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // The admin socket is its owner's only, and the served snapshot left no copy behind.
        let socket = s.data_dir().join("admin.sock");
        let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(s.data_dir())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".backup-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
    // A backup never overwrites a file.
    let (ok, _, stderr) = run(&["backup", "--out", snap_arg], dir.path());
    assert!(!ok && stderr.contains("never overwrites"), "{stderr}");
    s.stop();

    // Restored into an empty directory: the same key signs, the API key still works, and the
    // audit chain goes on from the snapshot's head.
    let dir2 = tempfile::tempdir().unwrap();
    std::fs::copy(dir.path().join("kek.pass"), dir2.path().join("kek.pass")).unwrap();
    let (ok, stdout, stderr) = run(
        &[
            "restore",
            "--from",
            snap_arg,
            "--kek-passphrase-file",
            dir2.path().join("kek.pass").to_str().unwrap(),
        ],
        dir2.path(),
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("\"keys\": 1"), "{stdout}");
    let s2 = Signer::start(dir2.path(), &[]);
    let http2 = Http::new(&s2.url);
    // (Another hash than the load's: dir2's next record differs from the original's, so the two
    // directories have really diverged.)
    let other_hash = b256!("2626262626262626262626262626262626262626262626262626262626262626");
    let (status, r) = http2.post_bearer(
        &sign_url,
        &token,
        &json!({ "message_hash": other_hash.to_string() }),
    );
    assert_eq!(status, 200, "{r}");
    assert_eq!(g1(&r["g1"]), pk);
    verify_signature(&other_hash.0, &g1(&r["signature"]), &pk, &g2(&r["g2"])).unwrap();
    s2.stop();
    let verified = admin(dir2.path(), &["audit", "verify"]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );

    // The original directory went on after the snapshot: restoring it there is refused.
    let (ok, _, stderr) = run(
        &[
            "restore",
            "--from",
            snap_arg,
            "--kek-passphrase-file",
            dir.path().join("kek.pass").to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(!ok && stderr.contains("does not extend"), "{stderr}");
    // A snapshot that does not open with the KEK is refused, and nothing is installed.
    let dir3 = tempfile::tempdir().unwrap();
    std::fs::write(dir3.path().join("kek.pass"), "another passphrase\n").unwrap();
    let (ok, _, stderr) = run(
        &[
            "restore",
            "--from",
            snap_arg,
            "--kek-passphrase-file",
            dir3.path().join("kek.pass").to_str().unwrap(),
        ],
        dir3.path(),
    );
    assert!(!ok && stderr.contains("KEK"), "{stderr}");
    assert!(!dir3.path().join("data").join("store.redb").exists());
    // Stopped, the store is read directly.
    let offline = dir.path().join("offline.redb");
    let offline_arg = offline.to_str().unwrap();
    let (ok, stdout, stderr) = run(&["backup", "--out", offline_arg], dir.path());
    assert!(ok && stdout.contains("stopped store"), "{stdout}{stderr}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&offline).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let restore_into = |target: &std::path::Path| {
        run(
            &[
                "restore",
                "--from",
                offline_arg,
                "--kek-passphrase-file",
                dir.path().join("kek.pass").to_str().unwrap(),
            ],
            target,
        )
    };
    // dir2 went on from the older snapshot: a diverged copy of the same store is refused.
    let (ok, _, stderr) = restore_into(dir2.path());
    assert!(!ok && stderr.contains("does not extend"), "{stderr}");
    // Another store altogether is refused, whatever its length.
    let other = tempfile::tempdir().unwrap();
    std::fs::copy(dir.path().join("kek.pass"), other.path().join("kek.pass")).unwrap();
    Signer::start(other.path(), &[]).stop();
    let (ok, _, stderr) = restore_into(other.path());
    assert!(!ok && stderr.contains("does not extend"), "{stderr}");
    // The same point of the same store is accepted; the replaced file is kept beside it.
    let (ok, _, stderr) = restore_into(dir.path());
    assert!(ok, "{stderr}");
    let kept = std::fs::read_dir(dir.path().join("data"))
        .unwrap()
        .flatten()
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("store.redb.replaced-")
        });
    assert!(kept);
    // Something that is not a store snapshot is refused.
    let junk = dir.path().join("junk.redb");
    kms_store::redb::Database::create(&junk).unwrap();
    let (ok, _, stderr) = run(
        &[
            "restore",
            "--from",
            junk.to_str().unwrap(),
            "--kek-passphrase-file",
            dir3.path().join("kek.pass").to_str().unwrap(),
        ],
        dir3.path(),
    );
    assert!(
        !ok && stderr.contains("not a kms-signer store snapshot"),
        "{stderr}"
    );
}
