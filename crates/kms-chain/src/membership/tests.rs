use super::*;
use kms_crypto::bn254::SecretKey;
use kms_crypto::seal::EncryptionKey;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

fn members(n: u64, seed: u64) -> Vec<Member> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (1..=n)
        .map(|id| {
            let key = SecretKey::random(&mut rng);
            let enc = EncryptionKey::random(&mut rng);
            let mut address = [0u8; 20];
            rng.fill_bytes(&mut address);
            Member {
                operator: Operator::new(
                    address,
                    EvalPoint::from_index(id).unwrap(),
                    key.public_g1(),
                    key.public_g2(),
                    enc.public(),
                ),
                url: format!("http://127.0.0.1:{}", 9200 + id),
            }
        })
        .collect()
}

fn json(members: &[Member]) -> serde_json::Value {
    serde_json::from_str(&StaticFile::to_json(members).unwrap()).unwrap()
}

fn parse(v: &serde_json::Value) -> Result<StaticFile, MembershipError> {
    StaticFile::parse(&v.to_string())
}

#[test]
fn a_written_file_reads_back_sorted_by_address() {
    let ms = members(5, 1);
    let file = StaticFile::parse(&StaticFile::to_json(&ms).unwrap()).unwrap();
    let got = file.operators().to_vec();
    let mut want = ms.clone();
    want.sort_by_key(|m| m.operator.address);
    assert_eq!(got, want);
    // And from disk.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("operators.json");
    std::fs::write(&path, StaticFile::to_json(&ms).unwrap()).unwrap();
    assert_eq!(
        StaticFile::load(&path).unwrap().operators(),
        want.as_slice()
    );
}

#[test]
fn every_bad_entry_is_named() {
    let ms = members(3, 2);
    let other = members(1, 3);
    let good = json(&ms);
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        ("address", serde_json::json!("0x1234"), "address"),
        ("id", serde_json::json!(0), "id must be at least 1"),
        (
            "bn254_g1",
            serde_json::json!({"x": "1", "y": "3"}),
            "bn254_g1 is not a valid G1 point",
        ),
        (
            "bn254_g2",
            json(&other)["operators"][0]["bn254_g2"].clone(),
            "bn254_g1 and bn254_g2 are not keys of one secret",
        ),
        (
            "encryption_key",
            serde_json::json!(format!("0x{}", "00".repeat(32))),
            "encryption_key is not a usable X25519 public key",
        ),
        ("url", serde_json::json!("ftp://node"), "url must be"),
    ];
    for (field, value, expect) in cases {
        let mut v = good.clone();
        v["operators"][1][field] = value;
        match parse(&v) {
            Err(MembershipError::Operator { index: 1, what }) => {
                assert!(what.contains(expect), "{field}: {what}")
            }
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[test]
fn duplicates_empty_files_and_unknown_fields_are_refused() {
    let ms = members(3, 4);
    let good = json(&ms);
    let mut v = good.clone();
    v["operators"][2]["id"] = v["operators"][0]["id"].clone();
    assert_eq!(
        parse(&v).unwrap_err(),
        MembershipError::Duplicate {
            what: "id",
            first: 0,
            second: 2
        }
    );
    let mut v = good.clone();
    v["operators"][2] = v["operators"][1].clone();
    v["operators"][2]["id"] = serde_json::json!(9);
    assert_eq!(
        parse(&v).unwrap_err(),
        MembershipError::Duplicate {
            what: "address",
            first: 1,
            second: 2
        }
    );
    assert_eq!(
        parse(&serde_json::json!({"operators": []})).unwrap_err(),
        MembershipError::Empty
    );
    let mut v = good.clone();
    v["operators"][0]["weight"] = serde_json::json!(1);
    assert!(matches!(parse(&v), Err(MembershipError::File(_))));
    assert!(matches!(
        StaticFile::parse("{not json"),
        Err(MembershipError::File(_))
    ));
    assert!(matches!(
        StaticFile::load(Path::new("/nonexistent/operators.json")),
        Err(MembershipError::File(_))
    ));
}

#[test]
fn only_small_ids_can_be_written() {
    let mut ms = members(2, 5);
    ms[1].operator.point = EvalPoint::from_address(&[9u8; 20]).unwrap();
    assert_eq!(
        StaticFile::to_json(&ms).unwrap_err(),
        MembershipError::Operator {
            index: 1,
            what: "evaluation point is not a small id"
        }
    );
}
