use super::*;
use std::os::unix::fs::PermissionsExt;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn toml_of(path: &Path) -> toml::Table {
    read(path).parse::<toml::Table>().unwrap()
}

fn table<const N: usize>(pairs: [(&str, toml::Value); N]) -> toml::Table {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn err_text(r: Result<Cluster, CliError>) -> (i32, String) {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => (e.exit_code(), e.to_string()),
    }
}

#[test]
fn a_new_cluster_has_every_file_with_the_right_content() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let cluster = prepare(&dir, Some(3), Some(5), None).unwrap();
    assert!(cluster.created);
    let m = &cluster.manifest;
    assert_eq!((m.nodes, m.interval_secs, m.ports.len()), (3, 5, 3));
    let mut all_ports = m.ports.clone();
    all_ports.push(m.signer_port);
    all_ports.sort();
    all_ports.dedup();
    assert_eq!(all_ports.len(), 4, "ports are distinct");
    assert_eq!(mode(&dir), 0o700);

    // devnet.json says what the run returned.
    let on_disk: Manifest = serde_json::from_str(&read(&dir.join(MANIFEST))).unwrap();
    assert_eq!(&on_disk, m);

    // The owner key is 0x-hex of the address recorded for the demo app.
    let owner_path = dir.join(OWNER_KEY);
    assert_eq!(mode(&owner_path), 0o600);
    let owner_hex = read(&owner_path);
    let owner_hex = owner_hex.trim().strip_prefix("0x").unwrap();
    assert_eq!(owner_hex.len(), 64);
    let mut owner_bytes = [0u8; 32];
    hex::decode_to_slice(owner_hex, &mut owner_bytes).unwrap();
    let owner = EoaKey::from_bytes(&Secret::new(owner_bytes)).unwrap();
    assert_eq!(owner.address().to_checksum(None), m.demo_owner);
    assert_eq!(m.demo_app, "demo");

    // The operator file checks out as the nodes load it; ids 1..=3 on the recorded ports.
    let members = StaticFile::parse(&read(&dir.join(OPERATORS)))
        .unwrap()
        .operators()
        .to_vec();
    assert_eq!(members.len(), 3);
    for i in 1..=3u32 {
        let node = dir.join(node_dir_name(i));
        assert_eq!(mode(&node), 0o700);
        assert!(node.join("data").is_dir());
        for key in ["bn254.key", "encryption.key", "kek.key"] {
            assert_eq!(mode(&node.join(key)), 0o600, "{key} of node {i}");
        }
        let member = members
            .iter()
            .find(|mb| mb.operator.point.small() == Some(u64::from(i)))
            .unwrap();
        let port = m.ports[i as usize - 1];
        assert_eq!(member.url, format!("http://127.0.0.1:{port}"));

        // The key files hold the keys the operator file publishes.
        let bn254 = SecretKey::from_int_str(read(&node.join("bn254.key")).trim()).unwrap();
        assert_eq!(&bn254.public_g1(), member.operator.key_g1());
        assert_eq!(bn254.public_g2(), member.operator.key_g2);
        let enc_hex = read(&node.join("encryption.key"));
        assert_eq!(enc_hex.trim().len(), 64);
        let enc = EncryptionKey::from_bytes(&hex::decode(enc_hex.trim()).unwrap()).unwrap();
        assert_eq!(enc.public(), member.operator.enc);
        let kek = read(&node.join("kek.key"));
        assert_eq!(hex::decode(kek.trim()).unwrap().len(), 32);

        // node.toml: the wire contract's fields, nothing else.
        let cfg = toml_of(&node.join("node.toml"));
        let address = alloy_primitives::Address::from(member.operator.address).to_checksum(None);
        let mut apps = toml::Table::new();
        apps.insert("demo".into(), m.demo_owner.clone().into());
        let want = table([
            ("address", address.into()),
            ("listen", format!("127.0.0.1:{port}").into()),
            ("port_file", "port".into()),
            ("data_dir", "data".into()),
            ("operators_file", "../operators.json".into()),
            ("bn254_key_file", "bn254.key".into()),
            ("encryption_key_file", "encryption.key".into()),
            ("kek_key_file", "kek.key".into()),
            ("interval_secs", 5.into()),
            ("apps", apps.into()),
        ]);
        assert_eq!(cfg, want, "node.toml of node {i}");
    }
    assert_eq!(
        cluster.operators.iter().map(|o| o.0).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );

    // The signer's directory and configuration.
    let signer = dir.join("signer");
    assert_eq!(mode(&signer.join("kek.key")), 0o600);
    assert!(signer.join("data").is_dir());
    let cfg = toml_of(&signer.join("signer.toml"));
    let want = table([
        ("listen", format!("127.0.0.1:{}", m.signer_port).into()),
        ("data_dir", "data".into()),
        ("kek_key_file", "kek.key".into()),
        ("port_file", "port".into()),
        ("chain_id", 31337.into()),
    ]);
    assert_eq!(cfg, want);
}

/// Every file under `dir` with its content.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(snapshot(&path));
        } else {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn a_second_run_resumes_the_same_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let first = prepare(&dir, Some(2), Some(7), None).unwrap();
    let before = snapshot(&dir);
    for (nodes, interval) in [(None, None), (Some(2), Some(7)), (Some(2), None)] {
        let again = prepare(&dir, nodes, interval, None).unwrap();
        assert!(!again.created);
        assert_eq!(again.manifest, first.manifest);
        assert_eq!(again.operators, first.operators);
    }
    assert_eq!(snapshot(&dir), before, "nothing was rewritten");

    let (code, msg) = err_text(prepare(&dir, Some(3), None, None));
    assert_eq!(code, 2);
    assert!(
        msg.contains("--nodes 2, not 3"),
        "the error names the recorded value: {msg}"
    );
    let (_, msg) = err_text(prepare(&dir, None, Some(30), None));
    assert!(msg.contains("--interval 7, not 30"), "{msg}");
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn defaults_are_four_nodes_every_thirty_seconds() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = prepare(&tmp.path().join("d"), None, None, None).unwrap();
    assert_eq!(cluster.manifest.nodes, 4);
    assert_eq!(cluster.manifest.interval_secs, 30);
}

#[test]
fn a_directory_that_is_not_a_devnet_is_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
    let (code, msg) = err_text(prepare(tmp.path(), None, None, None));
    assert_eq!(code, 2);
    assert!(msg.contains("not empty"), "{msg}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);

    // An existing empty directory is fine.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(prepare(&empty, Some(1), None, None).unwrap().created);
}

#[test]
fn a_damaged_devnet_is_named_not_recreated() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    prepare(&dir, Some(2), None, None).unwrap();
    std::fs::remove_file(dir.join("node-2/kek.key")).unwrap();
    let (code, msg) = err_text(prepare(&dir, None, None, None));
    assert_eq!(code, 2);
    assert!(
        msg.contains("incomplete") && msg.contains("kek.key"),
        "{msg}"
    );

    let dir = tmp.path().join("net2");
    prepare(&dir, Some(2), None, None).unwrap();
    let path = dir.join(MANIFEST);
    let mut m: Value = serde_json::from_str(&read(&path)).unwrap();
    m["ports"][0] = serde_json::json!(1);
    std::fs::write(&path, m.to_string()).unwrap();
    let (_, msg) = err_text(prepare(&dir, None, None, None));
    assert!(msg.contains("does not match the ports"), "{msg}");
}

fn view(epoch: Option<u64>, round: Option<(u64, &str, &str)>) -> Option<NodeView> {
    Some(NodeView {
        epoch,
        round: round.map(|(e, k, p)| (e, k.to_string(), p.to_string())),
    })
}

#[test]
fn the_progress_line_summarizes_the_nodes() {
    assert_eq!(
        progress_line(&[None, None], Some(false)),
        "nodes up 0/2 · signer down"
    );
    assert_eq!(
        progress_line(&[view(None, None), None], None),
        "nodes up 1/2 · waiting for the first round"
    );
    let dkg = Some((1, "dkg", "acks"));
    assert_eq!(
        progress_line(&[view(None, dkg), view(None, dkg), None], Some(true)),
        "nodes up 2/3 · signer up · round epoch 1 dkg · phase acks"
    );
    assert_eq!(
        progress_line(
            &[
                view(None, Some((1, "dkg", "logs"))),
                view(None, dkg),
                view(None, dkg),
                view(None, Some((1, "dkg", "deals"))),
            ],
            None
        ),
        "nodes up 4/4 · round epoch 1 dkg · phases deals 1, acks 2, logs 1"
    );
    assert_eq!(
        progress_line(
            &[
                view(Some(3), Some((4, "reshare", "deals"))),
                view(Some(2), None)
            ],
            None
        ),
        "nodes up 2/2 · epoch 3 (1/2) · round epoch 4 reshare · phase deals"
    );
}

#[test]
fn ready_means_every_node_holds_an_epoch_and_the_signer_answers() {
    let held = view(Some(1), None);
    assert!(is_ready(&[held.clone(), held.clone()], None));
    assert!(is_ready(&[held.clone(), held.clone()], Some(true)));
    assert!(!is_ready(&[held.clone(), held.clone()], Some(false)));
    assert!(!is_ready(&[held.clone(), None], None));
    assert!(!is_ready(
        &[held, view(None, Some((1, "dkg", "done")))],
        None
    ));
}

#[test]
fn status_json_is_read_leniently() {
    let v = serde_json::json!({
        "node": "0x00", "epoch": 2, "threshold": 3, "members": 4, "interval_secs": 5,
        "round": {"epoch": 3, "kind": "reshare", "phase": "logs", "started_at": 1},
        "last_round": null, "future_field": true
    });
    assert_eq!(
        NodeView::from_status(&v),
        NodeView {
            epoch: Some(2),
            round: Some((3, "reshare".into(), "logs".into()))
        }
    );
    let v = serde_json::json!({"epoch": null, "round": null});
    assert_eq!(NodeView::from_status(&v), NodeView::default());
}

#[test]
fn small_formatting_helpers() {
    assert_eq!(elapsed(Duration::from_secs(7)), "7s");
    assert_eq!(elapsed(Duration::from_secs(125)), "2m05s");
    assert_eq!(elapsed(Duration::from_secs(3723)), "1h02m03s");
    assert_eq!(shell_quote("./devnet"), "./devnet");
    assert_eq!(shell_quote("my dir"), "'my dir'");
    assert_eq!(shell_quote("it's"), r"'it'\''s'");
    assert_eq!(shell_quote(""), "''");
}

#[test]
fn a_log_tail_shows_the_last_run_only() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("node.log");
    let mut text = format!("{LOG_MARKER} x ---\nold 1\nold 2\n{LOG_MARKER} y ---\n");
    for i in 0..40 {
        text.push_str(&format!("new {i}\n"));
    }
    std::fs::write(&log, &text).unwrap();
    let tail = log_tail(&log, 30);
    assert_eq!(tail.lines().count(), 30);
    assert!(
        tail.starts_with("  | new 10\n") && tail.ends_with("  | new 39"),
        "{tail}"
    );

    std::fs::write(&log, format!("{LOG_MARKER} y ---\nboom\n")).unwrap();
    assert_eq!(
        log_tail(&log, 30),
        format!("  | {LOG_MARKER} y ---\n  | boom")
    );
    assert!(log_tail(&tmp.path().join("missing"), 30).contains("cannot read"));
}
