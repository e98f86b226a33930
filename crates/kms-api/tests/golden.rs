//! Golden encodings of the wire contract. A failure here means a byte on the wire or on disk
//! changed: if that is intended, bump the version it belongs to and say so (docs/0010).
#![cfg(test)]

use kms_api::app::{attestation_binding_preimage, check_app_id, partial_aad, AppId, AppIdError};
use kms_api::batch::{decode_list, encode_list, FramingError};
use kms_api::config::{NodeChainFile, NodeFile, ReleaseFile, TcbFile};
use kms_api::node::*;
use kms_api::ErrorBody;
use serde::Serialize;
use std::collections::BTreeMap;

/// Serializes `value` and checks the exact text; also that the fields are in the bytewise
/// order the services always sent (a `serde_json::Value` sorts its keys).
fn pinned<T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
    value: &T,
    golden: &str,
) {
    let text = serde_json::to_string(value).unwrap();
    assert_eq!(
        text,
        golden,
        "the JSON of {} changed",
        std::any::type_name::<T>()
    );
    let sorted = serde_json::to_string(&serde_json::to_value(value).unwrap()).unwrap();
    assert_eq!(
        text,
        sorted,
        "{}: fields not in wire order",
        std::any::type_name::<T>()
    );
    let back: T = serde_json::from_str(golden).unwrap();
    assert_eq!(&back, value);
}

const NODE: &str = "0x00000000000000000000000000000000000000aa";

#[test]
fn node_answers_are_pinned() {
    pinned(
        &MpkAnswer {
            certificate: "0x01".into(),
            commitment: "0x02".into(),
            epoch: 7,
            mpk: "0x03".into(),
            node: NODE.into(),
            operators: vec![
                MpkOperator {
                    address: NODE.into(),
                    id: Some(1),
                    public_share: "0x04".into(),
                    url: Some("http://127.0.0.1:1".into()),
                },
                MpkOperator {
                    address: NODE.into(),
                    id: None,
                    public_share: "0x05".into(),
                    url: None,
                },
            ],
            round: "0x06".into(),
            threshold: 3,
        },
        concat!(
            r#"{"certificate":"0x01","commitment":"0x02","epoch":7,"mpk":"0x03","#,
            r#""node":"0x00000000000000000000000000000000000000aa","operators":["#,
            r#"{"address":"0x00000000000000000000000000000000000000aa","id":1,"#,
            r#""public_share":"0x04","url":"http://127.0.0.1:1"},"#,
            r#"{"address":"0x00000000000000000000000000000000000000aa","id":null,"#,
            r#""public_share":"0x05","url":null}],"round":"0x06","threshold":3}"#
        ),
    );
    pinned(
        &EpochAnswer {
            certificate: "0x01".into(),
            config: "0x02".into(),
            epoch: 9,
            logs: vec!["0x03".into(), "0x04".into()],
        },
        r#"{"certificate":"0x01","config":"0x02","epoch":9,"logs":["0x03","0x04"]}"#,
    );
    pinned(
        &StatusAnswer {
            epoch: Some(4),
            faults: vec![OperatorFaults {
                count: 2,
                operator: NODE.into(),
                reasons: BTreeMap::from([("equivocation".into(), 1), ("flood".into(), 1)]),
            }],
            interval_secs: 30,
            last_round: Some(LastRound {
                duration_ms: 120,
                epoch: 4,
                finished_at: 1_700_000_000,
                outcome: "finalized".into(),
            }),
            members: 4,
            node: NODE.into(),
            round: Some(RoundStatus {
                epoch: 5,
                kind: "reshare".into(),
                phase: "acks".into(),
                started_at: 1_700_000_030,
            }),
            threshold: Some(3),
        },
        concat!(
            r#"{"epoch":4,"faults":[{"count":2,"operator":"#,
            r#""0x00000000000000000000000000000000000000aa","reasons":{"equivocation":1,"#,
            r#""flood":1}}],"interval_secs":30,"last_round":{"duration_ms":120,"epoch":4,"#,
            r#""finished_at":1700000000,"outcome":"finalized"},"members":4,"#,
            r#""node":"0x00000000000000000000000000000000000000aa","round":{"epoch":5,"#,
            r#""kind":"reshare","phase":"acks","started_at":1700000030},"threshold":3}"#
        ),
    );
    pinned(
        &StatusAnswer {
            epoch: None,
            faults: vec![],
            interval_secs: 30,
            last_round: None,
            members: 1,
            node: NODE.into(),
            round: None,
            threshold: None,
        },
        concat!(
            r#"{"epoch":null,"faults":[],"interval_secs":30,"last_round":null,"members":1,"#,
            r#""node":"0x00000000000000000000000000000000000000aa","round":null,"threshold":null}"#
        ),
    );
    pinned(
        &ProtocolAnswer {
            accepted: 1,
            rejected: vec![
                Rejected {
                    code: "equivocation".into(),
                    culprit: Some(NODE.into()),
                    index: 0,
                    reason: "two proposals".into(),
                },
                Rejected {
                    code: "duplicate".into(),
                    culprit: None,
                    index: 2,
                    reason: "seen".into(),
                },
            ],
        },
        concat!(
            r#"{"accepted":1,"rejected":[{"code":"equivocation","#,
            r#""culprit":"0x00000000000000000000000000000000000000aa","index":0,"#,
            r#""reason":"two proposals"},{"code":"duplicate","culprit":null,"index":2,"#,
            r#""reason":"seen"}]}"#
        ),
    );
    pinned(
        &PartialAnswer {
            epoch: 3,
            id: Some(2),
            node: NODE.into(),
            sealed: "0x07".into(),
        },
        r#"{"epoch":3,"id":2,"node":"0x00000000000000000000000000000000000000aa","sealed":"0x07"}"#,
    );
    pinned(
        &Healthz {
            epoch: None,
            status: "ok".into(),
        },
        r#"{"epoch":null,"status":"ok"}"#,
    );
    pinned(
        &ErrorBody::new("no_epoch", "no epoch is finalized yet"),
        r#"{"error":{"code":"no_epoch","message":"no epoch is finalized yet"}}"#,
    );
}

#[test]
fn partial_request_is_pinned_and_strict() {
    pinned(
        &PartialRequest {
            deadline: 1_700_000_120,
            epoch: 3,
            nonce: 42,
            response_key: "0x08".into(),
            signature: "0x09".into(),
            attestation: None,
            policy_block: 0,
        },
        r#"{"deadline":1700000120,"epoch":3,"nonce":42,"response_key":"0x08","signature":"0x09"}"#,
    );
    // With TEE evidence and a policy block (docs 0012).
    pinned(
        &PartialRequest {
            deadline: 1_700_000_120,
            epoch: 3,
            nonce: 42,
            response_key: "0x08".into(),
            signature: "0x0c".into(),
            attestation: Some(kms_api::node::AttestationEvidence {
                not_after: 1_700_000_600,
                token: None,
                snp_report: Some("0x0a".into()),
                snp_cert: Some("0x0b".into()),
            }),
            policy_block: 77,
        },
        r#"{"attestation":{"not_after":1700000600,"snp_cert":"0x0b","snp_report":"0x0a"},"deadline":1700000120,"epoch":3,"nonce":42,"policy_block":77,"response_key":"0x08","signature":"0x0c"}"#,
    );
    let r: PartialRequest = serde_json::from_str(
        r#"{"deadline":1,"epoch":3,"nonce":2,"response_key":"0x","signature":"0x","attestation":{"not_after":9,"token":"a.b.c"}}"#,
    )
    .unwrap();
    assert_eq!(r.attestation.unwrap().token.as_deref(), Some("a.b.c"));
    // Every request is signed, evidence or not.
    assert!(serde_json::from_str::<PartialRequest>(
        r#"{"deadline":1,"epoch":3,"nonce":2,"response_key":"0x","attestation":{"not_after":9,"token":"a.b.c"}}"#
    )
    .is_err());
    // Evidence names the end of its use (it is bound to it).
    assert!(serde_json::from_str::<PartialRequest>(
        r#"{"deadline":1,"epoch":3,"nonce":2,"response_key":"0x","signature":"0x","attestation":{"token":"a.b.c"}}"#
    )
    .is_err());
    // The epoch is signed (node domain version 2), so it is always named.
    assert!(serde_json::from_str::<PartialRequest>(
        r#"{"deadline":1,"nonce":2,"response_key":"0x","signature":"0x"}"#
    )
    .is_err());
    // A field the node does not know is refused, not ignored.
    assert!(serde_json::from_str::<PartialRequest>(
        r#"{"deadline":1,"nonce":2,"response_key":"0x","signature":"0x","app":"x"}"#
    )
    .is_err());
}

#[test]
fn partial_aad_is_pinned() {
    let app = AppId::new("app").unwrap();
    let mut node = [0u8; 20];
    node[19] = 0xaa;
    assert_eq!(
        hex::encode(partial_aad(&app, &node, 0x0102_0304_0506_0708)),
        concat!(
            "4b4d535f5041525449414c5f5631", // KMS_PARTIAL_V1
            "0003",
            "617070",
            "00000000000000000000000000000000000000aa",
            "0102030405060708"
        )
    );
}

#[test]
fn app_ids_follow_one_rule() {
    for ok in ["a", "my-app_1.v2:prod", &"x".repeat(128)] {
        assert_eq!(check_app_id(ok), Ok(()), "{ok}");
        assert_eq!(AppId::new(ok).unwrap().as_str(), ok);
    }
    assert_eq!(check_app_id(""), Err(AppIdError::Empty));
    assert_eq!(check_app_id(&"x".repeat(129)), Err(AppIdError::TooLong));
    for bad in ["a b", "a/b", "é", "a%2f", "a\n"] {
        assert_eq!(check_app_id(bad), Err(AppIdError::BadCharacter), "{bad:?}");
    }
}

#[test]
fn batch_framing_is_pinned() {
    let l = encode_list(&[b"ab", b"", b"c"]);
    assert_eq!(hex::encode(&l), "000000026162000000000000000163");
    assert_eq!(
        decode_list(&l).unwrap(),
        vec![b"ab".to_vec(), vec![], b"c".to_vec()]
    );
    assert_eq!(decode_list(&[]).unwrap(), Vec::<Vec<u8>>::new());
    assert_eq!(
        decode_list(&l[..l.len() - 1]),
        Err(FramingError::TruncatedItem)
    );
    assert_eq!(decode_list(&[0, 0, 0]), Err(FramingError::TruncatedLength));
}

#[test]
fn node_file_round_trips_and_refuses_unknown_fields() {
    let file = NodeFile {
        address: Some(NODE.into()),
        listen: Some("127.0.0.1:9000".parse().unwrap()),
        data_dir: Some("data".into()),
        interval_secs: Some(30),
        apps: BTreeMap::from([("demo".into(), NODE.into())]),
        chain: Some(NodeChainFile {
            rpc_url: "http://127.0.0.1:8545".into(),
            registry: NODE.into(),
            interval_blocks: Some(10),
            confirmations: None,
            block_time_ms: None,
            tx_key_file: Some("tx.key".into()),
            genesis_operators: Some(4),
            policy_max_age_secs: None,
        }),
        ..NodeFile::default()
    };
    let text = toml::to_string(&file).unwrap();
    assert_eq!(
        text,
        concat!(
            "address = \"0x00000000000000000000000000000000000000aa\"\n",
            "listen = \"127.0.0.1:9000\"\n",
            "data_dir = \"data\"\n",
            "interval_secs = 30\n",
            "\n[apps]\n",
            "demo = \"0x00000000000000000000000000000000000000aa\"\n",
            "\n[chain]\n",
            "rpc_url = \"http://127.0.0.1:8545\"\n",
            "registry = \"0x00000000000000000000000000000000000000aa\"\n",
            "interval_blocks = 10\n",
            "tx_key_file = \"tx.key\"\n",
            "genesis_operators = 4\n",
        )
    );
    assert_eq!(toml::from_str::<NodeFile>(&text).unwrap(), file);
    assert!(toml::from_str::<NodeFile>("adress = \"0x\"\n").is_err());
}

mod signer {
    use super::pinned;
    use kms_api::signer::*;

    fn g1(x: &str) -> G1Json {
        G1Json {
            x: x.into(),
            y: "2".into(),
        }
    }

    fn g2() -> G2Json {
        G2Json {
            x: ["3".into(), "4".into()],
            y: ["5".into(), "6".into()],
        }
    }

    const G2: &str = r#"{"x":["3","4"],"y":["5","6"]}"#;

    #[test]
    fn answers_are_pinned() {
        let version = |state: &str, grace_until, retired_at| KeyVersion {
            created_at: 10,
            g1: g1("1"),
            g2: g2(),
            grace_until,
            retired_at,
            state: state.into(),
            version: 1,
        };
        pinned(
            &KeyList {
                keys: vec![KeyAnswer {
                    active_version: Some(2),
                    eoa: "0xAbC0000000000000000000000000000000000001".into(),
                    versions: vec![
                        version("retired", None, Some(30)),
                        version("grace", Some(20), None),
                        version("active", None, None),
                    ],
                }],
            },
            &format!(
                concat!(
                    r#"{{"keys":[{{"active_version":2,"#,
                    r#""eoa":"0xAbC0000000000000000000000000000000000001","versions":["#,
                    r#"{{"created_at":10,"g1":{{"x":"1","y":"2"}},"g2":{g2},"retired_at":30,"#,
                    r#""state":"retired","version":1}},"#,
                    r#"{{"created_at":10,"g1":{{"x":"1","y":"2"}},"g2":{g2},"grace_until":20,"#,
                    r#""state":"grace","version":1}},"#,
                    r#"{{"created_at":10,"g1":{{"x":"1","y":"2"}},"g2":{g2},"#,
                    r#""state":"active","version":1}}]}}]}}"#
                ),
                g2 = G2
            ),
        );
        pinned(
            &SignAnswer {
                g1: g1("1"),
                g2: g2(),
                key_version: 3,
                message_point: g1("7"),
                signature: g1("8"),
            },
            &format!(
                concat!(
                    r#"{{"g1":{{"x":"1","y":"2"}},"g2":{},"key_version":3,"#,
                    r#""message_point":{{"x":"7","y":"2"}},"signature":{{"x":"8","y":"2"}}}}"#
                ),
                G2
            ),
        );
        let scalar = |key_version| ScalarMulAnswer {
            g1: g1("1"),
            g2: g2(),
            key_version,
            signature: g1("8"),
        };
        pinned(
            &scalar(Some(1)),
            &format!(
                r#"{{"g1":{{"x":"1","y":"2"}},"g2":{G2},"key_version":1,"signature":{{"x":"8","y":"2"}}}}"#
            ),
        );
        // The seed's alias answers without the version.
        pinned(
            &scalar(None),
            &format!(r#"{{"g1":{{"x":"1","y":"2"}},"g2":{G2},"signature":{{"x":"8","y":"2"}}}}"#),
        );
        pinned(
            &RegistrationAnswer {
                digest: "0x01".into(),
                key_version: 1,
                message_point: g1("7"),
                pubkey_registration_params: PubkeyRegistrationParams {
                    pubkey_g1: g1("1"),
                    pubkey_g2: g2(),
                    pubkey_registration_signature: g1("8"),
                },
            },
            &format!(
                concat!(
                    r#"{{"digest":"0x01","key_version":1,"message_point":{{"x":"7","y":"2"}},"#,
                    r#""pubkeyRegistrationParams":{{"pubkeyG1":{{"x":"1","y":"2"}},"#,
                    r#""pubkeyG2":{},"pubkeyRegistrationSignature":{{"x":"8","y":"2"}}}}}}"#
                ),
                G2
            ),
        );
        pinned(
            &KeyRegistrationAnswer {
                digest: "0x01".into(),
                key_data: "0x02".into(),
                key_version: 1,
                message_point: g1("7"),
                signature: g1("8"),
            },
            concat!(
                r#"{"digest":"0x01","keyData":"0x02","key_version":1,"#,
                r#""message_point":{"x":"7","y":"2"},"signature":{"x":"8","y":"2"}}"#
            ),
        );
        pinned(
            &Healthz {
                keys: 2,
                status: "ok".into(),
            },
            r#"{"keys":2,"status":"ok"}"#,
        );
        let api_key = ApiKeyAnswer {
            created_at: 1,
            eoa: "0x01".into(),
            expires_at: None,
            id: "00ff".into(),
            label: "l".into(),
            revoked_at: Some(2),
            scopes: "sign".into(),
            sources: "".into(),
        };
        let api_key_json = concat!(
            r#"{"created_at":1,"eoa":"0x01","expires_at":null,"id":"00ff","label":"l","#,
            r#""revoked_at":2,"scopes":"sign","sources":""}"#
        );
        pinned(&api_key, api_key_json);
        pinned(
            &ApiKeyList {
                api_keys: vec![api_key],
            },
            &format!(r#"{{"api_keys":[{api_key_json}]}}"#),
        );
        pinned(
            &DomainAnswer {
                accept_unsalted: false,
                chain_id: 31337,
                name: "KMS Signer".into(),
                salt: Some("0x11".into()),
                version: "1".into(),
            },
            r#"{"accept_unsalted":false,"chain_id":31337,"name":"KMS Signer","salt":"0x11","version":"1"}"#,
        );
    }

    #[test]
    fn requests_are_pinned() {
        pinned(
            &CreateApiKeyRequest {
                deadline: 1,
                expires_at: 0,
                label: "l".into(),
                nonce: 2,
                scopes: "sign".into(),
                signature: "0x02".into(),
                sources: "10.0.0.0/8".into(),
                token_hash: "0x03".into(),
            },
            concat!(
                r#"{"deadline":1,"expires_at":0,"label":"l","nonce":2,"scopes":"sign","#,
                r#""signature":"0x02","sources":"10.0.0.0/8","token_hash":"0x03"}"#
            ),
        );
        pinned(
            &RevokeApiKeyRequest {
                deadline: 1,
                key_id: "00ff".into(),
                nonce: 2,
                signature: "0x02".into(),
            },
            r#"{"deadline":1,"key_id":"00ff","nonce":2,"signature":"0x02"}"#,
        );
        pinned(
            &TokenScalarMulRequest {
                hash: PointRequest {
                    x: "4".into(),
                    y: "5".into(),
                },
                key_version: 0,
            },
            r#"{"hash":{"x":"4","y":"5"},"key_version":0}"#,
        );
        pinned(
            &CreateKeyRequest {
                deadline: 1,
                nonce: 2,
                operator: "0x01".into(),
                signature: "0x02".into(),
            },
            r#"{"deadline":1,"nonce":2,"operator":"0x01","signature":"0x02"}"#,
        );
        pinned(
            &SignRequest {
                deadline: 1,
                key_version: 0,
                message_hash: "0x03".into(),
                nonce: 2,
                signature: "0x02".into(),
            },
            r#"{"deadline":1,"key_version":0,"message_hash":"0x03","nonce":2,"signature":"0x02"}"#,
        );
        pinned(
            &ScalarMulRequest {
                deadline: 1,
                hash: PointRequest {
                    x: "4".into(),
                    y: "5".into(),
                },
                key_version: 0,
                nonce: 2,
                signature: "0x02".into(),
            },
            concat!(
                r#"{"deadline":1,"hash":{"x":"4","y":"5"},"key_version":0,"nonce":2,"#,
                r#""signature":"0x02"}"#
            ),
        );
        pinned(
            &KeyRegistrationRequest {
                avs: "0x0a".into(),
                chain_id: 17000,
                deadline: 1,
                domain_version: "1".into(),
                key_version: 0,
                nonce: 2,
                operator_set_id: 7,
                registrar: "0x0b".into(),
                signature: "0x02".into(),
            },
            concat!(
                r#"{"avs":"0x0a","chain_id":17000,"deadline":1,"domain_version":"1","#,
                r#""key_version":0,"nonce":2,"operator_set_id":7,"registrar":"0x0b","#,
                r#""signature":"0x02"}"#
            ),
        );
        // Defaults: the active version, KeyRegistrar's domain version "1".
        let r: KeyRegistrationRequest = serde_json::from_str(
            r#"{"avs":"0x0a","chain_id":1,"deadline":1,"nonce":2,"operator_set_id":7,"registrar":"0x0b","signature":"0x"}"#,
        )
        .unwrap();
        assert_eq!((r.key_version, r.domain_version.as_str()), (0, "1"));
        assert!(serde_json::from_str::<RotateRequest>(
            r#"{"deadline":1,"nonce":2,"signature":"0x","key_version":1}"#
        )
        .is_err());
    }
}

/// Known answers from Python's hashlib (`sha256(b"KMS_SNP_RELEASE_V1" + bytes([7]) * 48 +
/// bytes([1]) * 32)`), and the image id is the digest's own bytes.
#[test]
fn release_ids_are_pinned() {
    assert_eq!(
        hex::encode(kms_api::app::snp_release_id(&[7; 48], &[1; 32])),
        "462451e1ca70f468ab4939612a1464c43b81df8b0736885587d2896c35d80f64"
    );
    let digest = format!("sha256:{}", "aB".repeat(32));
    assert_eq!(kms_api::app::image_release_id(&digest), Some([0xab; 32]));
    for bad in [
        "sha256:".to_string(),
        "aa".repeat(32),
        format!("sha384:{}", "aa".repeat(32)),
        format!("sha256:{}", "aa".repeat(31)),
        format!("sha256:{}a", "aa".repeat(31)),
        format!("sha256:{}zz", "aa".repeat(31)),
        format!("sha256:{}", "é".repeat(32)),
    ] {
        assert_eq!(kms_api::app::image_release_id(&bad), None, "{bad}");
    }
}

#[test]
fn attestation_binding_preimage_is_pinned() {
    let app = AppId::new("app").unwrap();
    let mut requester = [0u8; 20];
    requester[19] = 0xaa;
    let mut response_key = [0u8; 32];
    response_key[0] = 0x11;
    response_key[31] = 0x22;
    assert_eq!(
        hex::encode(attestation_binding_preimage(
            31337,
            &requester,
            &app,
            &response_key,
            1_900_000_000,
            0x0102_0304
        )),
        concat!(
            "4b4d535f4154544553544154494f4e5f42494e44494e475f5632", // KMS_ATTESTATION_BINDING_V2
            "0000000000007a69",                                     // chain 31337
            "00000000000000000000000000000000000000aa",
            "0003",
            "617070",
            "1100000000000000000000000000000000000000000000000000000000000022",
            "00000000713fb300", // not after 1900000000
            "0000000001020304"
        )
    );
}

/// `[release.<app>]` and `[attestation]` as an operator writes them (docs 0012), parsed, written
/// back the same, and strict.
#[test]
fn node_file_release_and_attestation_tables() {
    let text = concat!(
        "address = \"0x00000000000000000000000000000000000000aa\"\n",
        "\n[release.demo]\n",
        "credential = \"attestation\"\n",
        "images = [\"sha256:ab\"]\n",
        "\n[attestation.google]\n",
        "jwks_file = \"google-jwks.json\"\n",
        "audience = \"kms\"\n",
        "hwmodels = [\"GCP_INTEL_TDX\"]\n",
        "support_attribute = \"STABLE\"\n",
        "\n[attestation.snp]\n",
        "vmpl = 0\n",
        "\n[attestation.snp.min_tcb.Milan]\n",
        "fmc = 0\n",
        "bootloader = 3\n",
        "tee = 0\n",
        "snp = 8\n",
        "microcode = 115\n",
    );
    let file: NodeFile = toml::from_str(text).unwrap();
    assert_eq!(
        file.release.get("demo"),
        Some(&ReleaseFile {
            credential: "attestation".into(),
            images: vec!["sha256:ab".into()],
            measurements: vec![],
        })
    );
    let att = file.attestation.clone().unwrap();
    assert_eq!(
        att.google.unwrap().hwmodels,
        vec!["GCP_INTEL_TDX".to_string()]
    );
    assert!(att.intel.is_none());
    assert_eq!(
        att.snp.unwrap().min_tcb.get("Milan"),
        Some(&TcbFile {
            fmc: 0,
            bootloader: 3,
            tee: 0,
            snp: 8,
            microcode: 115
        })
    );
    assert_eq!(toml::to_string(&file).unwrap(), text);
    assert!(
        toml::from_str::<NodeFile>("[release.demo]\ncredential = \"owner\"\nimage = []\n").is_err()
    );
    assert!(toml::from_str::<NodeFile>("[attestation.azure]\n").is_err());
}

/// A node's release log (docs 0012 §12): the entry encoding and its SHA-256 chain, known answers
/// from Python's hashlib and struct over the layout written out by hand.
#[test]
fn release_log_entries_are_pinned_and_chained() {
    use kms_api::releases::{check_chain, ChainBreak, ReleaseCredential, ReleaseEntry};
    let first = ReleaseEntry {
        seq: 1,
        prev: [0; 32],
        app_id: "app".into(),
        credential: ReleaseCredential::Attestation,
        requester: [0x66; 20],
        credential_hash: [0x11; 32],
        release_id: [0x22; 32],
        epoch: 7,
        policy_block: 0x0102,
        response_key_hash: [0x33; 32],
        time: 1_900_000_000,
    };
    assert_eq!(
        hex::encode(first.encode()),
        concat!(
            "4b4d535f52454c454153455f5631", // KMS_RELEASE_V1
            "0000000000000001",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "0003",
            "617070",
            "02",
            "6666666666666666666666666666666666666666",
            "1111111111111111111111111111111111111111111111111111111111111111",
            "2222222222222222222222222222222222222222222222222222222222222222",
            "0000000000000007",
            "0000000000000102",
            "3333333333333333333333333333333333333333333333333333333333333333",
            "00000000713fb300"
        )
    );
    assert_eq!(
        hex::encode(first.hash()),
        "c464a6e490be023260054d70d184b615964917ede5218edd6e86a8c23d90a29b"
    );
    assert_eq!(ReleaseEntry::decode(&first.encode()), Ok(first.clone()));
    let second = ReleaseEntry {
        seq: 2,
        prev: first.hash(),
        app_id: "demo".into(),
        credential: ReleaseCredential::Owner,
        requester: [0x77; 20],
        credential_hash: [0x44; 32],
        release_id: [0; 32],
        epoch: 8,
        policy_block: 0,
        response_key_hash: [0x55; 32],
        time: 1_900_000_001,
    };
    assert_eq!(
        hex::encode(second.hash()),
        "3de0f51c7464132c80cefc1305a125ff94420aba1796b249e1913832ecb34f40"
    );
    let log = [first.clone(), second.clone()];
    assert_eq!(check_chain(&log, None), Ok(Some(second.hash())));
    assert_eq!(
        check_chain(&log, Some((1, first.hash()))),
        Ok(Some(second.hash()))
    );
    // A node that rewrote its first entry after announcing its head is caught.
    let mut rewritten = first.clone();
    rewritten.app_id = "other".into();
    let mut resealed = second.clone();
    resealed.prev = rewritten.hash();
    assert_eq!(
        check_chain(&[rewritten.clone(), resealed], Some((1, first.hash()))),
        Err(ChainBreak::HeadMismatch { seq: 1 })
    );
    // Dropped, reordered, or not naming its predecessor.
    assert_eq!(
        check_chain(&[rewritten, second.clone()], None),
        Err(ChainBreak::Broken { seq: 2 })
    );
    assert_eq!(
        check_chain(&[second.clone(), first.clone()], None),
        Err(ChainBreak::Broken { seq: 1 })
    );
    let mut not_first = first.clone();
    not_first.prev = [1; 32];
    assert_eq!(
        check_chain(&[not_first], None),
        Err(ChainBreak::Broken { seq: 1 })
    );
    // Every byte matters to decoding: truncated, extended, a bad tag, credential or app id.
    let bytes = first.encode();
    assert!(ReleaseEntry::decode(&bytes[..bytes.len() - 1]).is_err());
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(ReleaseEntry::decode(&longer).is_err());
    let mut bad = bytes.clone();
    bad[0] ^= 1;
    assert!(ReleaseEntry::decode(&bad).is_err());
    let mut bad = bytes.clone();
    bad[14 + 8 + 32 + 2 + 3] = 4;
    assert!(ReleaseEntry::decode(&bad).is_err());
    let mut bad = bytes.clone();
    bad[14 + 8 + 32 + 2] = b' ';
    assert!(ReleaseEntry::decode(&bad).is_err());
}

#[test]
fn releases_answer_is_pinned() {
    use kms_api::node::{ReleaseHead, ReleasesAnswer};
    pinned(
        &ReleasesAnswer {
            entries: vec!["0x01".into()],
            head: Some(ReleaseHead {
                hash: "0x02".into(),
                seq: 9,
            }),
            node: "0xaa".into(),
        },
        r#"{"entries":["0x01"],"head":{"hash":"0x02","seq":9},"node":"0xaa"}"#,
    );
    pinned(
        &ReleasesAnswer {
            entries: vec![],
            head: None,
            node: "0xaa".into(),
        },
        r#"{"entries":[],"head":null,"node":"0xaa"}"#,
    );
}
