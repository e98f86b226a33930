use super::*;
use alloy_primitives::{address, b256};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn key() -> EoaKey {
    EoaKey::random(&mut ChaCha20Rng::seed_from_u64(1))
}

fn fresh() -> Freshness {
    Freshness {
        nonce: 1,
        deadline: 1_900_000_000,
    }
}

fn all_requests(op: Address) -> Vec<Request> {
    let f = fresh();
    vec![
        Request::CreateKey {
            operator: op,
            fresh: f,
        },
        Request::RotateKey {
            operator: op,
            fresh: f,
        },
        Request::SignHash {
            operator: op,
            message_hash: b256!("0101010101010101010101010101010101010101010101010101010101010101"),
            key_version: 0,
            fresh: f,
        },
        Request::ScalarMul {
            operator: op,
            point_x: U256::from(1),
            point_y: U256::from(2),
            key_version: 2,
            fresh: f,
        },
        Request::PubkeyRegistration {
            operator: op,
            registry: address!("5FbDB2315678afecb367f032d93F642f64180aa3"),
            chain_id: 31337,
            key_version: 0,
            fresh: f,
        },
        Request::KeyRegistration {
            operator: op,
            avs: address!("70997970C51812dc3A010C7d01b50e0d17dc79C8"),
            operator_set_id: 3,
            registrar: address!("54f4bC6bDEbe479173a2bbDc31dD7178408A57A4"),
            chain_id: 1,
            domain_version: "1".into(),
            key_version: 0,
            fresh: f,
        },
    ]
}

#[test]
fn signatures_recover_the_signing_eoa() {
    let k = key();
    for req in all_requests(k.address()) {
        let digest = req.digest(31337);
        let sig = k.sign_digest(&digest).unwrap();
        assert_eq!(
            recover_signer(&digest, &sig).unwrap(),
            k.address(),
            "{}",
            req.kind()
        );
        // v as 0/1 is accepted too.
        let mut v01 = sig;
        v01[64] -= 27;
        assert_eq!(recover_signer(&digest, &v01).unwrap(), k.address());
    }
}

#[test]
fn digests_bind_the_chain_the_kind_and_every_field() {
    let op = key().address();
    let reqs = all_requests(op);
    let mut digests: Vec<B256> = reqs.iter().map(|r| r.digest(1)).collect();
    digests.extend(reqs.iter().map(|r| r.digest(2)));
    let mut unique = digests.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), digests.len(), "two requests share a digest");
    let a = Request::CreateKey {
        operator: op,
        fresh: Freshness {
            nonce: 1,
            deadline: 5,
        },
    };
    let b = Request::CreateKey {
        operator: op,
        fresh: Freshness {
            nonce: 2,
            deadline: 5,
        },
    };
    let c = Request::CreateKey {
        operator: op,
        fresh: Freshness {
            nonce: 1,
            deadline: 6,
        },
    };
    assert_ne!(a.digest(1), b.digest(1));
    assert_ne!(a.digest(1), c.digest(1));
}

#[test]
fn malleated_and_malformed_signatures_are_refused() {
    let k = key();
    let digest = all_requests(k.address())[0].digest(1);
    let sig = k.sign_digest(&digest).unwrap();
    // s' = n - s with the parity flipped recovers the same key: a malleated copy.
    let n = U256::from_be_bytes(hex_literal_n());
    let s = U256::from_be_slice(&sig[32..64]);
    let mut high = sig;
    high[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
    high[64] = if sig[64] == 27 { 28 } else { 27 };
    assert_eq!(
        recover_signer(&digest, &high),
        Err(Error::MalformedEcdsaSignature(
            "high s (malleated signature)"
        ))
    );
    assert!(matches!(
        recover_signer(&digest, &sig[..64]),
        Err(Error::WrongLength { .. })
    ));
    let mut bad_v = sig;
    bad_v[64] = 29;
    assert!(recover_signer(&digest, &bad_v).is_err());
    let mut zero_r = sig;
    zero_r[..32].fill(0);
    assert!(recover_signer(&digest, &zero_r).is_err());
    // Another digest recovers another address (or none): never the signer.
    let other = all_requests(k.address())[1].digest(1);
    assert_ne!(recover_signer(&other, &sig).ok(), Some(k.address()));
}

fn hex_literal_n() -> [u8; 32] {
    let mut n = [0u8; 32];
    hex::decode_to_slice(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        &mut n,
    )
    .unwrap();
    n
}

#[test]
fn typed_data_names_the_primary_type_and_all_fields() {
    let op = key().address();
    for req in all_requests(op) {
        let td = req.typed_data(7);
        let kind = req.kind();
        assert_eq!(td["primaryType"], kind);
        assert_eq!(td["domain"]["chainId"], "7");
        let fields = td["types"][kind].as_array().unwrap();
        let message = td["message"].as_object().unwrap();
        assert_eq!(fields.len(), message.len(), "{kind}");
        for f in fields {
            assert!(
                message.contains_key(f["name"].as_str().unwrap()),
                "{kind}: {f}"
            );
        }
    }
}

#[test]
fn eoa_key_debug_shows_only_the_address() {
    let k = key();
    assert_eq!(format!("{k:?}"), format!("EoaKey({})", k.address()));
}

/// The worked example of docs/0004: its digest and the JSON wallets sign are pinned, and the
/// signature is the one both `cast wallet sign --data` and eth-account produce for anvil's first key.
#[test]
fn worked_example_is_pinned() {
    let req = Request::SignHash {
        operator: address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
        message_hash: b256!("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"),
        key_version: 0,
        fresh: Freshness {
            nonce: 42,
            deadline: 1_900_000_000,
        },
    };
    assert_eq!(
        req.digest(31337),
        b256!("7e23fa1686184fabd42f77de078c08820497d46ec02060d018cac563ef7624b8")
    );
    let expected: Value = serde_json::from_str(
        r#"{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"}],"SignHash":[{"name":"operator","type":"address"},{"name":"messageHash","type":"bytes32"},{"name":"keyVersion","type":"uint32"},{"name":"nonce","type":"uint64"},{"name":"deadline","type":"uint64"}]},"primaryType":"SignHash","domain":{"name":"KMS Signer","version":"1","chainId":"31337"},"message":{"operator":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","messageHash":"0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20","keyVersion":0,"nonce":"42","deadline":"1900000000"}}"#,
    )
    .unwrap();
    assert_eq!(req.typed_data(31337), expected);
    let sig = hex::decode("42927e5b935723fe84cf77ce1e2e046bc43508849a2e71df9f14ff5707fab07603ddb31b20a82ad9d2ace35c764f295e57c56a602fbfab01f65c7502c9d3b7351c").unwrap();
    assert_eq!(
        recover_signer(&req.digest(31337), &sig).unwrap(),
        address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
    );
}
