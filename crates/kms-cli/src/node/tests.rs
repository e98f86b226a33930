use super::*;
use kms_client::node::{LastRound, RoundStatus};

fn status(node: &str, epoch: Option<u64>, round: Option<RoundStatus>) -> NodeStatus {
    NodeStatus {
        node: node.into(),
        epoch,
        threshold: epoch.map(|_| 3),
        members: 4,
        interval_secs: 30,
        round,
        last_round: epoch.map(|e| LastRound {
            epoch: e,
            outcome: "finalized".into(),
            finished_at: 1_000 - 12 * e,
            duration_ms: 1_250,
        }),
        faults: Vec::new(),
    }
}

#[test]
fn the_status_table_summarizes_and_lists_every_node() {
    let reports = vec![
        StatusReport {
            url: "http://127.0.0.1:9201".into(),
            status: Ok(status("0xAAAA", Some(2), None)),
        },
        StatusReport {
            url: "http://127.0.0.1:9202".into(),
            status: Ok(status(
                "0xBBBB",
                Some(1),
                Some(RoundStatus {
                    epoch: 2,
                    kind: "reshare".into(),
                    phase: "acks".into(),
                    started_at: 995,
                }),
            )),
        },
        StatusReport {
            url: "http://127.0.0.1:9203".into(),
            status: Err(Fault::Unreachable("cannot connect: refused".into())),
        },
    ];
    let table = status_table(&reports, 1_000);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0],
        "epoch 2 (held by 1 of 3 nodes)   threshold 3   nodes up 2/3"
    );
    assert_eq!(
        lines[1],
        "last round: epoch 1 finalized, 12 s ago, took 1.2 s"
    );
    assert!(lines[3].starts_with("NODE    URL                    EPOCH  T  MEMBERS  ROUND"));
    assert!(lines[4].starts_with("0xAAAA  http://127.0.0.1:9201  2      3  4        -"));
    assert!(
        lines[4].ends_with("epoch 2 finalized 24 s ago"),
        "{}",
        lines[4]
    );
    assert!(
        lines[5].contains("reshare to epoch 2: acks, started 5 s ago"),
        "{}",
        lines[5]
    );
    assert_eq!(
        lines[6],
        "-       http://127.0.0.1:9203  DOWN: no answer (cannot connect: refused)"
    );
    assert_eq!(lines.len(), 7);

    let json = status_json(&reports);
    assert_eq!(
        (json["up"].as_u64(), json["total"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(json["nodes"][0]["status"]["epoch"], 2);
    assert_eq!(json["nodes"][2]["up"], false);

    let none = status_table(&reports[2..], 1_000);
    assert!(none.starts_with("no epoch yet   nodes up 0/1\nlast round: none yet"));
}

#[test]
fn urls_come_from_the_flag_the_devnet_or_nothing() {
    assert_eq!(
        split_urls(" http://a:1 , ,http://b:2,".split(',')),
        ["http://a:1", "http://b:2"]
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("operators.json"),
        r#"{"operators":[{"address":"0x01","id":1,"url":"http://127.0.0.1:9201"},{"id":2,"url":"http://127.0.0.1:9202"}]}"#,
    )
    .unwrap();
    assert_eq!(
        devnet_urls(dir.path()).unwrap(),
        ["http://127.0.0.1:9201", "http://127.0.0.1:9202"]
    );
    std::fs::write(
        dir.path().join("operators.json"),
        r#"{"operators":[{"id":1}]}"#,
    )
    .unwrap();
    let e = devnet_urls(dir.path()).unwrap_err();
    assert!(e.to_string().contains("operator 0 has no \"url\""), "{e}");
    assert_eq!(e.exit_code(), 2);
    let e = devnet_urls(&dir.path().join("missing")).unwrap_err();
    assert!(e.to_string().contains("operators.json"), "{e}");
}

#[test]
fn owner_key_files_hold_64_hex_characters() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("owner.key");
    let hex = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    for text in [
        hex.to_owned(),
        format!("0x{hex}\n"),
        format!("  {hex}  \r\n"),
    ] {
        std::fs::write(&file, text).unwrap();
        assert_eq!(
            load_owner_key(&file).unwrap().address().to_checksum(None),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
    }
    for text in [&hex[2..], "0x", "zz".repeat(32).as_str(), &"0".repeat(64)] {
        std::fs::write(&file, text).unwrap();
        let e = load_owner_key(&file).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{text}");
        // The message never echoes what might be key material.
        if text.len() >= 32 {
            assert!(!e.to_string().contains(text), "{e}");
        }
    }
}

#[test]
fn refusals_by_every_node_are_bad_input_and_outages_are_failures() {
    let refused = |status: u16| NodeReport {
        url: "http://a:1".into(),
        node: None,
        fault: Some(Fault::Refused {
            status,
            code: "not_owner".into(),
            message: "m".into(),
        }),
    };
    let quorum = |nodes| kms_client::Error::Quorum {
        what: "too few valid partial signatures",
        got: 0,
        needed: 3,
        nodes,
    };
    assert_eq!(
        client_error(quorum(vec![refused(403), refused(401)])).exit_code(),
        2
    );
    assert_eq!(
        client_error(quorum(vec![refused(403), refused(503)])).exit_code(),
        1
    );
    let mut down = refused(403);
    down.fault = Some(Fault::Unreachable("timed out".into()));
    assert_eq!(
        client_error(quorum(vec![refused(403), down])).exit_code(),
        1
    );
    assert_eq!(
        client_error(kms_client::Error::InvalidAppId("it is empty")).exit_code(),
        2
    );
}

#[test]
fn the_status_table_checksums_addresses_and_hides_finished_rounds() {
    let mut s = status("0x7cb41de76db857ab9fc72a67e2a7d716aa142ba1", Some(5), None);
    s.round = Some(RoundStatus {
        epoch: 5,
        kind: "reshare".into(),
        phase: "done".into(),
        started_at: 900,
    });
    let table = status_table(
        &[StatusReport {
            url: "http://n".into(),
            status: Ok(s),
        }],
        1_000,
    );
    let row = table.lines().last().unwrap();
    assert!(
        row.starts_with(
            "0x7CB41De76DB857AB9Fc72a67e2a7D716Aa142bA1  http://n  5      3  4        -  "
        ),
        "{row}"
    );
}

#[test]
fn the_status_table_names_operators_the_nodes_proved_faults_against() {
    use kms_client::node::OperatorFaults;
    let bad = "0x00000000000000000000000000000000000000bb";
    let named = |reasons: &[(&str, u64)]| OperatorFaults {
        operator: bad.into(),
        count: reasons.iter().map(|(_, n)| n).sum(),
        reasons: reasons.iter().map(|(r, n)| ((*r).to_owned(), *n)).collect(),
    };
    let mut a = status("0x0000000000000000000000000000000000000001", Some(7), None);
    a.faults = vec![named(&[("equivocation", 1), ("flood", 1)])];
    let mut b = status("0x0000000000000000000000000000000000000002", Some(7), None);
    b.faults = vec![named(&[("attempt_out_of_bounds", 4)])];
    let clean = status("0x0000000000000000000000000000000000000003", Some(7), None);
    let reports: Vec<StatusReport> = [a, b, clean]
        .into_iter()
        .enumerate()
        .map(|(i, s)| StatusReport {
            url: format!("http://n{i}"),
            status: Ok(s),
        })
        .collect();
    let table = status_table(&reports, 1_000);
    let checksummed = bad
        .parse::<alloy_primitives::Address>()
        .unwrap()
        .to_checksum(None);
    let line = table
        .lines()
        .find(|l| l.contains(&checksummed))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(line.contains("named by 2 nodes"), "{line}");
    assert!(
        line.contains("attempt_out_of_bounds 4, equivocation 1, flood 1"),
        "{line}"
    );
    // Nobody named: no section.
    assert!(!status_table(&reports[2..], 1_000).contains("faults proven"));
}
