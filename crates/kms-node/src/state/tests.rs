use super::*;
use kms_crypto::bls::EvalPoint;

fn open() -> (tempfile::TempDir, NodeStore) {
    let dir = tempfile::tempdir().unwrap();
    let kek = dir.path().join("kek");
    std::fs::write(&kek, [7u8; 32]).unwrap();
    let state = NodeStore::open(&dir.path().join("data"), &KekSource::KeyFile(kek)).unwrap();
    (dir, state)
}

fn record(epoch: u64) -> StoredEpoch {
    StoredEpoch {
        epoch,
        config: vec![1, 2, epoch as u8],
        certificate: vec![3],
        public: vec![4, 5],
        logs: vec![vec![6], vec![], vec![7, 8]],
    }
}

fn share(v: u8) -> Share {
    let mut b = [0u8; 32];
    b[31] = v;
    Share {
        point: EvalPoint::from_index(1).unwrap(),
        value: Secret::new(SecretScalar::from_bytes(&b).unwrap()),
    }
}

#[test]
fn seeds_are_stable_and_distinct_per_round() {
    let (_d, s) = open();
    let a = s.seed(5, &[1; 32]).unwrap();
    let again = s.seed(5, &[1; 32]).unwrap();
    let other = s.seed(5, &[2; 32]).unwrap();
    assert_eq!(a.expose(|x| *x), again.expose(|x| *x));
    assert_ne!(a.expose(|x| *x), other.expose(|x| *x));
    assert!(s.has_round(5, &[1; 32]).unwrap());
    assert!(!s.has_round(6, &[1; 32]).unwrap());
}

#[test]
fn epochs_and_shares_round_trip_and_retention_prunes() {
    let (_d, s) = open();
    let j = |decisions: &[u8], msgs: &[&[u8]], acks: &[&[u8]], log: Option<&[u8]>| Journal {
        decisions: (!decisions.is_empty()).then(|| decisions.to_vec()),
        messages: msgs.iter().map(|m| m.to_vec()).collect(),
        dealer_acks: acks.iter().map(|m| m.to_vec()).collect(),
        dealer_log: log.map(<[u8]>::to_vec),
    };
    assert!(s.round_journal(3, &[9; 32]).unwrap().is_empty());
    s.persist_round(3, &[9; 32], &j(b"d1", &[b"m1"], &[b"a"], None))
        .unwrap();
    // Later writes replace the decisions and append messages and acks.
    s.persist_round(
        3,
        &[9; 32],
        &j(b"d2", &[b"m2", b"m3"], &[b"b"], Some(b"log")),
    )
    .unwrap();
    s.persist_round(3, &[9; 32], &j(b"", &[], &[b"c"], None))
        .unwrap();
    assert_eq!(
        s.round_journal(3, &[9; 32]).unwrap(),
        j(
            b"d2",
            &[b"m1", b"m2", b"m3"],
            &[b"a", b"b", b"c"],
            Some(b"log")
        )
    );
    // Another round of the same epoch is kept apart.
    assert!(s.round_journal(3, &[8; 32]).unwrap().is_empty());
    let dropped = s.commit_epoch(&record(3), Some(&share(11)), 1).unwrap();
    assert!(dropped.is_empty());
    // The journal of round 3 went with the commit.
    assert!(s.round_journal(3, &[9; 32]).unwrap().is_empty());
    s.persist_round(7, &[9; 32], &j(b"later", &[], &[], None))
        .unwrap();
    s.commit_epoch(&record(5), Some(&share(12)), 1).unwrap();
    assert_eq!(
        s.round_journal(7, &[9; 32]).unwrap().decisions.unwrap(),
        b"later"
    );
    let dropped = s.commit_epoch(&record(6), Some(&share(13)), 1).unwrap();
    assert_eq!(dropped, vec![3]);
    let kept: Vec<u64> = s.epochs().unwrap().iter().map(|r| r.epoch).collect();
    assert_eq!(kept, vec![5, 6]);
    assert_eq!(s.epochs().unwrap()[1], record(6));
    let p = EvalPoint::from_index(1).unwrap();
    assert!(s.share(3, p).unwrap().is_none());
    let got = s.share(6, p).unwrap().unwrap();
    assert_eq!(
        got.value.expose(|v| v.to_bytes().expose(|b| *b)),
        share(13).value.expose(|v| v.to_bytes().expose(|b| *b))
    );
}

#[test]
fn nonces_are_single_use() {
    let (_d, s) = open();
    assert!(s.use_nonce("app", 1, 100, 50).unwrap());
    assert!(!s.use_nonce("app", 1, 100, 50).unwrap());
    assert!(s.use_nonce("other", 1, 100, 50).unwrap());
    // Expired entries are pruned once their deadline passed.
    assert!(s.use_nonce("app", 2, 300, 200).unwrap());
    assert!(s.use_nonce("app", 1, 300, 200).unwrap());
}

#[test]
fn concurrent_nonces_share_commits_and_stay_single_use() {
    let (d, s) = open();
    // 8 threads race on 50 nonces each, every nonce asked by two threads: exactly one use of
    // each succeeds, and every success is on disk after a reopen.
    let fresh: Vec<Vec<u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8u64)
            .map(|t| {
                let s = &s;
                scope.spawn(move || {
                    (0..50u64)
                        .map(|i| (t / 2) * 1000 + i)
                        .filter(|n| s.use_nonce("app", *n, 100, 50).unwrap())
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<u64> = fresh.into_iter().flatten().collect();
    all.sort_unstable();
    let expected: Vec<u64> = (0..4u64)
        .flat_map(|g| (0..50).map(move |i| g * 1000 + i))
        .collect();
    assert_eq!(all, expected);
    drop(s);
    let kek = d.path().join("kek");
    let s = NodeStore::open(&d.path().join("data"), &KekSource::KeyFile(kek)).unwrap();
    assert!(expected
        .iter()
        .all(|n| !s.use_nonce("app", *n, 100, 50).unwrap()));
}

#[test]
fn lists_refuse_truncation() {
    use kms_api::batch::{decode_list, encode_list};
    let l = encode_list(&[b"ab", b"", b"c"]);
    assert_eq!(
        decode_list(&l).unwrap(),
        vec![b"ab".to_vec(), vec![], b"c".to_vec()]
    );
    assert!(decode_list(&l[..l.len() - 1]).is_err());
    assert!(decode_list(&[0, 0, 0]).is_err());
}

/// The stored epoch's bytes (docs/0010): config, certificate, public commitment, then the logs,
/// each framed by `kms_api::batch`. A change here is a storage format change.
#[test]
fn the_stored_epoch_encoding_is_pinned() {
    let record = StoredEpoch {
        epoch: 9,
        config: vec![0xc0],
        certificate: vec![0xce, 0x27],
        public: vec![],
        logs: vec![vec![0x01], vec![0x02, 0x03]],
    };
    let bytes = record.encode();
    assert_eq!(
        hex::encode(&bytes),
        "00000001c000000002ce27000000000000000101000000020203"
    );
    let back = StoredEpoch::decode(9, &bytes).unwrap();
    assert_eq!(
        (back.config, back.certificate, back.public, back.logs),
        (
            record.config,
            record.certificate,
            record.public,
            record.logs
        )
    );
}

fn spend(app: &str, nonce: u64, evidence: Option<([u8; 32], u64, u64)>) -> super::Spend {
    use kms_api::releases::{ReleaseCredential, ReleaseEntry};
    super::Spend {
        app: app.into(),
        nonce,
        deadline: 100,
        evidence,
        entry: ReleaseEntry {
            seq: 0,
            prev: [0; 32],
            app_id: app.into(),
            credential: if evidence.is_some() {
                ReleaseCredential::Attestation
            } else {
                ReleaseCredential::Owner
            },
            requester: [3; 20],
            credential_hash: [nonce as u8; 32],
            release_id: [0; 32],
            epoch: 5,
            policy_block: 0,
            response_key_hash: [9; 32],
            time: 50,
        },
    }
}

/// Every release is appended in the commit that spends its nonce (and its evidence), chained to
/// the one before; a reused nonce or evidence appends nothing; the log survives a reopen.
#[test]
fn releases_are_logged_with_their_spend_and_chained() {
    use super::Spent;
    use kms_api::releases::check_chain;
    let (d, s) = open();
    let released = |r: Spent| match r {
        Spent::Released(e) => *e,
        other => panic!("not released: {other:?}"),
    };
    let first = released(s.record_release(spend("app", 1, None), 50).unwrap());
    assert_eq!((first.seq, first.prev), (1, [0; 32]));
    assert_eq!(
        s.record_release(spend("app", 1, None), 50).unwrap(),
        Spent::NonceReused
    );
    let ev = Some(([7; 32], 5, 100));
    let second = released(s.record_release(spend("app", 2, ev), 50).unwrap());
    assert_eq!((second.seq, second.prev), (2, first.hash()));
    // The same evidence for the same epoch: the fresh nonce is spent, nothing is released.
    assert_eq!(
        s.record_release(spend("app", 3, ev), 50).unwrap(),
        Spent::EvidenceReused
    );
    assert_eq!(
        s.record_release(spend("app", 3, None), 50).unwrap(),
        Spent::NonceReused
    );
    // For another epoch it releases again.
    let third = released(
        s.record_release(spend("app", 4, Some(([7; 32], 6, 100))), 50)
            .unwrap(),
    );
    assert_eq!(third.seq, 3);
    // Concurrent releases share commits and still form one chain.
    std::thread::scope(|scope| {
        for t in 0..4u64 {
            let s = &s;
            scope.spawn(move || {
                for i in 0..10 {
                    s.record_release(spend("other", 100 + t * 10 + i, None), 50)
                        .unwrap();
                }
            });
        }
    });
    drop(s);
    let kek = d.path().join("kek");
    let s = NodeStore::open(&d.path().join("data"), &KekSource::KeyFile(kek)).unwrap();
    let decode = |rows: Vec<Vec<u8>>| -> Vec<kms_api::releases::ReleaseEntry> {
        rows.iter()
            .map(|r| kms_api::releases::ReleaseEntry::decode(r).unwrap())
            .collect()
    };
    let (all, head) = s.releases(1, 1000).unwrap();
    let all = decode(all);
    assert_eq!(all.len(), 43);
    assert_eq!(head.map(|h| h.0), Some(43));
    assert_eq!(check_chain(&all, head), Ok(head.map(|h| h.1)));
    assert_eq!(all[..3], [first, second, third]);
    // Pages.
    let (page, _) = s.releases(40, 2).unwrap();
    let page = decode(page);
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![40, 41]);
}
