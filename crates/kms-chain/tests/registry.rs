//! The registry on a real anvil: operators registered with KeyRegistrar's BN254 proof and
//! admitted, the set read at a block, and a DKG certificate from the protocol crate anchored and
//! checked on chain, with the contract agreeing with the protocol on the vote digest. Tampered
//! registrations and certificates are refused with the contract's reason.
#![cfg(test)]

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use kms_chain::anvil::{Anvil, DEV_KEYS};
use kms_chain::{Anchor, ChainError, OperatorStatus, Registry};
use kms_crypto::bls::EvalPoint;
use kms_crypto::bn254::{self, Eip712Domain};
use kms_crypto::seal::EncryptionKey;
use kms_crypto::Secret;
use kms_protocol::sim::{run_round, Perfect, SimNode};
use kms_protocol::{Body, CommitmentCache, Operator, RawEnvelope, RoundConfig};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::sync::Arc;

const AVS: Address = Address::repeat_byte(0x11);
const SET_ID: u32 = 7;

fn wallet(i: usize) -> PrivateKeySigner {
    DEV_KEYS[i].parse().expect("dev key")
}

/// KeyRegistrar's keyData and signature for `operator`'s key at `registry`.
fn registration(
    key: &bn254::SecretKey,
    operator: Address,
    registry: &Registry,
) -> (Vec<u8>, Vec<u8>) {
    let key_data = bn254::key_registrar_key_data(&key.public_g1(), &key.public_g2());
    let domain = Eip712Domain::eigenlayer_core("1", registry.chain_id(), registry.address());
    let digest = bn254::key_registrar_digest(&domain, operator, AVS, SET_ID, &key_data);
    (key_data, key.sign_hash(&digest).1.to_abi_bytes().to_vec())
}

fn refused(r: Result<alloy::primitives::TxHash, ChainError>) -> String {
    match r {
        Err(ChainError::Refused(why)) => why,
        other => panic!("expected the registry to refuse, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_register_and_a_protocol_certificate_is_anchored_on_chain() {
    let anvil = Anvil::start(&[]).expect("anvil starts (scripts/test installs it)");
    let owner = wallet(0);
    let registry = Registry::deploy(&anvil.url(), owner.clone(), owner.address(), AVS, SET_ID)
        .await
        .expect("deploy");
    assert_eq!(registry.chain_id(), 31337);

    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let mut nodes = Vec::new();
    for i in 1..=4 {
        let w = wallet(i);
        let key = bn254::SecretKey::random(&mut rng);
        let enc = EncryptionKey::random(&mut rng);
        let op = Registry::connect(&anvil.url(), registry.address(), Some(w.clone()))
            .await
            .expect("connect");
        let (key_data, sig) = registration(&key, w.address(), &registry);
        if i == 1 {
            // A signature by another key, and one for another operator set, are refused.
            let other = bn254::SecretKey::random(&mut rng);
            let (_, wrong) = registration(&other, w.address(), &registry);
            let why = refused(
                op.register_operator(&key_data, &wrong, enc.public().to_bytes(), "http://x")
                    .await,
            );
            assert_eq!(why, "InvalidKeySignature");
        }
        let status = |r: Result<OperatorStatus, ChainError>| r.expect("status");
        assert_eq!(
            status(registry.operator_status(w.address()).await),
            OperatorStatus::Unknown
        );
        op.register_operator(
            &key_data,
            &sig,
            enc.public().to_bytes(),
            &format!("http://op{i}"),
        )
        .await
        .expect("register");
        assert_eq!(
            status(registry.operator_status(w.address()).await),
            OperatorStatus::Registered
        );
        // The key cannot be registered twice, even by the same operator.
        let again = refused(
            op.register_operator(&key_data, &sig, enc.public().to_bytes(), "http://x")
                .await,
        );
        assert!(again.contains("OperatorAlreadyRegistered"), "{again}");
        registry.admit(w.address()).await.expect("admit");
        assert_eq!(
            status(registry.operator_status(w.address()).await),
            OperatorStatus::Admitted
        );
        nodes.push((w.address(), key, enc));
    }
    let trigger = registry.head().await.expect("head");
    let records = registry.operators_at(trigger).await.expect("read the set");
    assert_eq!(records.len(), 4);
    for (rec, (addr, key, enc)) in records.iter().zip(&nodes) {
        assert_eq!(rec.address, *addr);
        assert_eq!(rec.g1, key.public_g1());
        assert_eq!(rec.g2, key.public_g2());
        assert_eq!(rec.encryption_key, enc.public().to_bytes());
    }
    assert_eq!(
        records.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );

    // A DKG among exactly these operators, with the registry's ids, chain id and address.
    let mut sims: Vec<SimNode> = records
        .iter()
        .zip(nodes)
        .map(|(rec, (addr, key, enc))| {
            let operator = Operator::new(
                addr.0 .0,
                EvalPoint::from_index(rec.id).expect("id"),
                key.public_g1(),
                key.public_g2(),
                enc.public(),
            );
            SimNode {
                operator,
                key: Arc::new(key),
                enc: Arc::new(enc),
                seed: Secret::new([rec.id as u8; 32]),
                output: None,
            }
        })
        .collect();
    let ops = sims.iter().map(|n| n.operator.clone()).collect();
    let cfg = Arc::new(
        RoundConfig::dkg(trigger, 31337, registry.address().0 .0, ops).expect("round config"),
    );
    let res = run_round(&cfg, &mut sims, &mut Perfect, 3);
    assert_eq!(res.outputs.len(), 4, "{:?}", res.rejects);
    let cert = res
        .transcript
        .iter()
        .find_map(|(_, _, _, b)| {
            let env = RawEnvelope::parse(b)
                .ok()?
                .open(&mut CommitmentCache::default())
                .ok()?;
            match env.body {
                Body::Certificate(c) => Some(c),
                _ => None,
            }
        })
        .expect("certificate");
    let mpk = cert.mpk.to_bytes().to_vec();

    // The contract computes the same vote digest as the protocol.
    let on_chain = registry
        .vote_digest(trigger, cert.attempt, cert.round, cert.set.hash(), &mpk)
        .await
        .expect("voteDigest");
    assert_eq!(on_chain, cert.vote_digest(&cfg));

    let anchor = Anchor::from_certificate(&cfg, &cert).expect("anchor");
    assert_eq!(anchor.epoch, trigger);

    // Tampered certificates are refused, each for its reason.
    // A valid point that is not the MPK: player 0's public share.
    let other_mpk = res
        .outputs
        .values()
        .next()
        .and_then(|o| o.public_share(&cfg.players[0].address))
        .expect("public share")
        .to_bytes()
        .to_vec();
    let cases = [
        (
            Anchor {
                mpk: other_mpk,
                ..anchor.clone()
            },
            "InvalidCertificate",
        ),
        (
            Anchor {
                signers: anchor.signers[..2].to_vec(),
                ..anchor.clone()
            },
            "InsufficientSigners",
        ),
        (
            Anchor {
                set_hash: [0u8; 32],
                ..anchor.clone()
            },
            "InvalidCertificate",
        ),
        (
            Anchor {
                epoch: trigger + 1000,
                ..anchor.clone()
            },
            "EpochNotInPast",
        ),
    ];
    for (bad, reason) in cases {
        let why = refused(registry.anchor(&bad).await);
        assert!(why.contains(reason), "{why} is not {reason}");
    }
    assert_eq!(registry.anchored().await.expect("read"), None);

    registry
        .anchor(&anchor)
        .await
        .expect("the real certificate is anchored");
    assert_eq!(
        registry.anchored().await.expect("read"),
        Some((trigger, mpk.clone()))
    );
    let rec = registry
        .epoch_record(trigger)
        .await
        .expect("read")
        .expect("recorded");
    assert_eq!(rec.vote_digest, cert.vote_digest(&cfg));
    assert_eq!(rec.round, cfg.digest());
    // The same epoch cannot be anchored twice.
    assert!(refused(registry.anchor(&anchor).await).contains("EpochNotAfterLatest"));

    // A removal shows at the latest block, not at the trigger block the round pinned.
    let removed = registry.operators_at(trigger).await.expect("read")[3].address;
    registry.remove(removed).await.expect("remove");
    assert_eq!(
        registry.operator_status(removed).await.expect("status"),
        OperatorStatus::Removed
    );
    let head = registry.head().await.expect("head");
    assert_eq!(registry.operators_at(head).await.expect("read").len(), 3);
    assert_eq!(registry.operators_at(trigger).await.expect("read").len(), 4);

    // Only the owner admits.
    let stranger = Registry::connect(&anvil.url(), registry.address(), Some(wallet(5)))
        .await
        .expect("connect");
    assert!(refused(stranger.admit(wallet(5).address()).await).contains("NotOwner"));
}

/// The processes whose process group is `pgid` (Linux /proc).
#[cfg(target_os = "linux")]
fn group_members(pgid: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...; comm may hold spaces, so fields start after ')'.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        if fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid) && fields[0] != "Z" {
            pids.extend(
                entry
                    .file_name()
                    .to_str()
                    .and_then(|p| p.parse::<u32>().ok()),
            );
        }
    }
    pids
}

#[cfg(target_os = "linux")]
#[test]
fn stopping_anvil_stops_the_binary_behind_the_npm_wrapper() {
    for terminate in [false, true] {
        let mut anvil = Anvil::start(&[]).expect("anvil starts (scripts/test installs it)");
        let group = anvil.pid();
        assert!(!group_members(group).is_empty());
        if terminate {
            anvil.terminate();
        } else {
            drop(anvil);
        }
        // The binary may take a moment to exit after its signal.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !group_members(group).is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(
            group_members(group),
            Vec::<u32>::new(),
            "terminate: {terminate}"
        );
    }
}
