//! The certificate binds the MPK, and the chain fields, in what its signers sign (docs 0009): a
//! certificate with another MPK does not verify, and one whose signers all signed a wrong MPK
//! verifies but finalizes nothing.
#![cfg(test)]

use alloy_primitives::keccak256;
use kms_crypto::bls::G2Point;
use kms_crypto::bn254;
use kms_protocol::sim::{rng_for, run_round, Perfect, SimNode};
use kms_protocol::{
    observe, verify_certificate, vote_digest, Body, Certificate, CommitmentCache, Envelope,
    ObserveError, RawEnvelope, RoundConfig,
};
use std::sync::Arc;

fn open(bytes: &[u8]) -> Envelope {
    RawEnvelope::parse(bytes)
        .ok()
        .and_then(|r| r.open(&mut CommitmentCache::default()).ok())
        .expect("transcript message opens")
}

/// A 4-node DKG: the config, the nodes, the certificate and every log of the transcript.
fn certified_dkg(seed: u64) -> (Arc<RoundConfig>, Vec<SimNode>, Certificate, Vec<Envelope>) {
    let mut rng = rng_for(seed, "keys");
    let mut nodes: Vec<SimNode> = (1..=4).map(|id| SimNode::generate(&mut rng, id)).collect();
    let ops = nodes.iter().map(|n| n.operator.clone()).collect();
    let cfg = Arc::new(RoundConfig::dkg(7, 31337, [9u8; 20], ops).expect("config"));
    let res = run_round(&cfg, &mut nodes, &mut Perfect, 3);
    assert_eq!(res.outputs.len(), 4, "{:?}", res.rejects);
    let envs: Vec<Envelope> = res.transcript.iter().map(|(_, _, _, b)| open(b)).collect();
    let cert = envs
        .iter()
        .find_map(|e| match &e.body {
            Body::Certificate(c) => Some(c.clone()),
            _ => None,
        })
        .expect("a certificate was broadcast");
    let logs = envs
        .into_iter()
        .filter(|e| matches!(e.body, Body::Log(_)))
        .collect();
    let mpk = res.outputs.values().next().expect("output").mpk();
    assert_eq!(cert.mpk, mpk, "the certificate carries the finalized MPK");
    (cfg, nodes, cert, logs)
}

#[test]
fn vote_digest_is_the_contracts_packed_encoding() {
    let (cfg, _, cert, _) = certified_dkg(1);
    let mut packed = b"KMS_VOTE_V3".to_vec();
    packed.extend_from_slice(&31337u64.to_be_bytes());
    packed.extend_from_slice(&[9u8; 20]);
    packed.extend_from_slice(&7u64.to_be_bytes());
    packed.extend_from_slice(&cert.attempt.to_be_bytes());
    packed.extend_from_slice(&cfg.digest());
    packed.extend_from_slice(&cert.set.hash());
    packed.extend_from_slice(keccak256(cert.mpk.to_bytes()).as_slice());
    let expected: [u8; 32] = keccak256(&packed).0;
    assert_eq!(cert.vote_digest(&cfg), expected);
    assert_eq!(
        vote_digest(&cfg, cert.attempt, &cert.set.hash(), &cert.mpk),
        expected
    );
    // The attempt is bound: the same votes from another attempt are another digest.
    assert_ne!(
        vote_digest(&cfg, cert.attempt + 1, &cert.set.hash(), &cert.mpk),
        expected
    );
}

#[test]
fn a_certificate_with_another_mpk_does_not_verify() {
    let (cfg, _, cert, logs) = certified_dkg(2);
    verify_certificate(&cfg, &cert).expect("the real certificate verifies");
    let (_, _, other, _) = certified_dkg(3);
    let forged = Certificate {
        mpk: other.mpk,
        ..cert
    };
    assert!(matches!(
        verify_certificate(&cfg, &forged),
        Err(ObserveError::BadCertificate("aggregate signature"))
    ));
    assert!(observe(&cfg, &forged, &logs, None).is_err());
}

#[test]
fn a_wrong_mpk_signed_by_every_player_finalizes_nothing() {
    let (cfg, nodes, cert, logs) = certified_dkg(4);
    let wrong: G2Point = certified_dkg(5).2.mpk;
    let digest = vote_digest(&cfg, cert.attempt, &cert.set.hash(), &wrong);
    let mut signers = Vec::new();
    let mut sigs = Vec::new();
    for n in &nodes {
        let i = cfg.player_index(&n.address()).expect("player");
        signers.push(u16::try_from(i).expect("small"));
        sigs.push((i, n.key.sign_hash(&digest).1));
    }
    signers.sort_unstable();
    sigs.sort_by_key(|(i, _)| *i);
    let sigs: Vec<_> = sigs.into_iter().map(|(_, s)| s).collect();
    let forged = Certificate {
        mpk: wrong,
        signers,
        signature: bn254::aggregate_g1(&sigs).expect("aggregate"),
        ..cert.clone()
    };
    // The signatures are real, so the certificate verifies on its own...
    verify_certificate(&cfg, &forged).expect("signed by every player");
    // ...but the dealings finalize to another MPK, so observe refuses it.
    assert!(matches!(
        observe(&cfg, &forged, &logs, None),
        Err(ObserveError::BadCertificate(
            "certified MPK is not the dealings' MPK"
        ))
    ));
    assert!(observe(&cfg, &cert, &logs, None).is_ok());
}
