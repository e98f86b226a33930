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

fn partial_request() -> PartialRequest {
    PartialRequest {
        app_id: "demo.app:v1".into(),
        response_key: b256!("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"),
        epoch: 7,
        policy_block: 123_456,
        nonce: 42,
        deadline: 1_900_000_000,
        node: address!("70997970C51812dc3A010C7d01b50e0d17dc79C8"),
    }
}

/// The EIP-712 encoding written out by hand from the type string of docs/0008, so a change to the
/// struct's field names, types or order, or to the domain, is caught.
fn partial_digest_by_hand(req: &PartialRequest, chain_id: u64) -> B256 {
    use alloy_primitives::keccak256;
    let word = |v: u64| U256::from(v).to_be_bytes::<32>();
    let mut domain = keccak256("EIP712Domain(string name,string version,uint256 chainId)").to_vec();
    domain.extend_from_slice(keccak256("KMS Node").as_slice());
    domain.extend_from_slice(keccak256("2").as_slice());
    domain.extend_from_slice(&word(chain_id));
    let mut body = keccak256(
        "PartialRequest(string appId,bytes32 responseKey,uint64 epoch,uint64 policyBlock,uint64 nonce,uint64 deadline,address node)",
    )
    .to_vec();
    body.extend_from_slice(keccak256(req.app_id.as_bytes()).as_slice());
    body.extend_from_slice(req.response_key.as_slice());
    body.extend_from_slice(&word(req.epoch));
    body.extend_from_slice(&word(req.policy_block));
    body.extend_from_slice(&word(req.nonce));
    body.extend_from_slice(&word(req.deadline));
    body.extend_from_slice(&[0u8; 12]);
    body.extend_from_slice(req.node.as_slice());
    let mut all = vec![0x19, 0x01];
    all.extend_from_slice(keccak256(&domain).as_slice());
    all.extend_from_slice(keccak256(&body).as_slice());
    keccak256(&all)
}

#[test]
fn partial_request_digest_matches_the_encoding_by_hand() {
    let mut req = partial_request();
    for chain_id in [1, 31337, u64::MAX] {
        assert_eq!(req.digest(chain_id), partial_digest_by_hand(&req, chain_id));
    }
    req.app_id = String::new();
    req.nonce = u64::MAX;
    req.epoch = 0;
    req.policy_block = u64::MAX;
    assert_eq!(req.digest(7), partial_digest_by_hand(&req, 7));
}

/// Known answer from eth-account (`encode_typed_data` on the JSON below, signed with anvil's first
/// key by tests/interop/sign_typed.py).
#[test]
fn partial_request_worked_example_is_pinned() {
    let req = partial_request();
    assert_eq!(
        req.digest(31337),
        b256!("9dd1f8c7cab43236263ae82dc2a8d283eaa3a35189bc6c4954f64c11f95e0682")
    );
    let expected: Value = serde_json::from_str(
        r#"{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"}],"PartialRequest":[{"name":"appId","type":"string"},{"name":"responseKey","type":"bytes32"},{"name":"epoch","type":"uint64"},{"name":"policyBlock","type":"uint64"},{"name":"nonce","type":"uint64"},{"name":"deadline","type":"uint64"},{"name":"node","type":"address"}]},"primaryType":"PartialRequest","domain":{"name":"KMS Node","version":"2","chainId":"31337"},"message":{"appId":"demo.app:v1","responseKey":"0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20","epoch":"7","policyBlock":"123456","nonce":"42","deadline":"1900000000","node":"0x70997970C51812dc3A010C7d01b50e0d17dc79C8"}}"#,
    )
    .unwrap();
    assert_eq!(req.typed_data(31337), expected);
    let sig = hex::decode("f866d841046cf782f6fe0c2ea26f3cff1c7aab21b6480ecad67606096f5ebe0814ef99c3e5791f7c2102a7d1cf5cc177e4647cefea4e5a58cb6fbbd6493882cb1b").unwrap();
    assert_eq!(
        recover_signer(&req.digest(31337), &sig).unwrap(),
        address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
    );
}

#[test]
fn partial_request_digest_binds_every_field_the_chain_and_the_domain() {
    let base = partial_request();
    let mut variants = vec![base.clone()];
    let mut r = base.clone();
    r.app_id.push('x');
    variants.push(r);
    let mut r = base.clone();
    r.response_key = B256::ZERO;
    variants.push(r);
    let mut r = base.clone();
    r.epoch += 1;
    variants.push(r);
    let mut r = base.clone();
    r.policy_block += 1;
    variants.push(r);
    let mut r = base.clone();
    r.nonce += 1;
    variants.push(r);
    let mut r = base.clone();
    r.deadline += 1;
    variants.push(r);
    let mut r = base.clone();
    r.node = Address::ZERO;
    variants.push(r);
    let mut digests: Vec<B256> = variants.iter().map(|r| r.digest(1)).collect();
    digests.push(base.digest(2));
    let mut unique = digests.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        digests.len(),
        "two partial requests share a digest"
    );

    // The signer's domain ("KMS Signer") gives another digest for the same struct.
    let signer_domain = SignerDomain::unsalted(1).eip712();
    let same_struct_in_signer_domain = typed::PartialRequest {
        appId: base.app_id.clone(),
        responseKey: base.response_key,
        epoch: base.epoch,
        policyBlock: base.policy_block,
        nonce: base.nonce,
        deadline: base.deadline,
        node: base.node,
    }
    .eip712_signing_hash(&signer_domain);
    assert_ne!(same_struct_in_signer_domain, base.digest(1));
}

#[test]
fn partial_request_signatures_recover_the_owner() {
    let k = key();
    let req = partial_request();
    let sig = k.sign_digest(&req.digest(31337)).unwrap();
    assert_eq!(
        recover_signer(&req.digest(31337), &sig).unwrap(),
        k.address()
    );
    assert_ne!(recover_signer(&req.digest(1), &sig).ok(), Some(k.address()));
    let td = req.typed_data(31337);
    assert_eq!(td["primaryType"], PartialRequest::KIND);
    assert_eq!(td["domain"]["name"], NODE_DOMAIN_NAME);
    let fields = td["types"][PartialRequest::KIND].as_array().unwrap();
    let message = td["message"].as_object().unwrap();
    assert_eq!(fields.len(), message.len());
    for f in fields {
        assert!(message.contains_key(f["name"].as_str().unwrap()), "{f}");
    }
}
