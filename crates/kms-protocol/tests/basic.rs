//! Happy path: DKG, then reshares with membership changes; MPK unchanged, shares recover.
#![cfg(test)]

use kms_crypto::bls::{partial_sign, recover_verified};
use kms_protocol::sim::{rng_for, run_round, Perfect, SimNode};
use kms_protocol::{DealerOutcome, RoundConfig};
use std::sync::Arc;

#[test]
fn dkg_then_reshare() {
    let mut rng = rng_for(1, "keys");
    let mut nodes: Vec<SimNode> = (1..=5).map(|id| SimNode::generate(&mut rng, id)).collect();
    let ops: Vec<_> = nodes[..4].iter().map(|n| n.operator.clone()).collect();
    let cfg = Arc::new(RoundConfig::dkg(1, 31337, [7u8; 20], ops.clone()).unwrap());
    let mut res = run_round(&cfg, &mut nodes, &mut Perfect, 3);
    // Nothing refused but the certificates nodes pass on to peers that finalized already.
    let clean = |r: &[(kms_protocol::Address, kms_protocol::Reject)]| {
        r.iter()
            .all(|(_, r)| *r == kms_protocol::Reject::Skip(kms_protocol::SkipReason::NotNeeded))
    };
    assert!(clean(&res.rejects), "{:?}", res.rejects);
    assert_eq!(res.outputs.len(), 4);
    let mpk = res.outputs.values().next().unwrap().mpk();
    for o in res.outputs.values() {
        assert_eq!(o.public, res.outputs.values().next().unwrap().public);
        assert!(o
            .verdicts
            .iter()
            .all(|(_, v)| matches!(v, DealerOutcome::Included { reveals } if reveals.is_empty())));
    }
    for n in nodes.iter_mut() {
        n.output = res.outputs.remove(&n.address());
    }
    // Recover an app key from t partials.
    let out = nodes[0].output.as_ref().unwrap();
    let partials: Vec<_> = nodes[..3]
        .iter()
        .map(|n| partial_sign(n.output.as_ref().unwrap().share.as_ref().unwrap(), b"app"))
        .collect();
    let (_, bad) = recover_verified(&out.public, b"app", &partials).unwrap();
    assert!(bad.is_empty());

    // Reshare 4 -> 5 players.
    let prev = out.public.clone();
    let players: Vec<_> = nodes.iter().map(|n| n.operator.clone()).collect();
    let cfg2 = Arc::new(RoundConfig::reshare(1, 2, 31337, [7u8; 20], ops, players, prev).unwrap());
    let res2 = run_round(&cfg2, &mut nodes, &mut Perfect, 3);
    assert!(clean(&res2.rejects), "{:?}", res2.rejects);
    assert_eq!(res2.outputs.len(), 5);
    for o in res2.outputs.values() {
        assert_eq!(o.mpk(), mpk);
        assert_eq!(o.threshold, 4);
    }
}
