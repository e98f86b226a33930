//! The threshold rule changed in issue 15 from ceil(2n/3) to floor(2n/3) + 1 (they differ when
//! 3 divides n). An epoch finalized under the old rule still decodes (stored epochs and peers'
//! records), and the network moves to the new rule at its next reshare with the MPK unchanged.
#![cfg(test)]

use kms_crypto::bls::{legacy_threshold_for, partial_sign, recover_verified, threshold_for};
use kms_protocol::sim::{rng_for, run_round, Perfect, SimNode};
use kms_protocol::RoundConfig;
use std::sync::Arc;

/// The same DKG config under the old rule: its encoding with the threshold field rewritten
/// (the u32 before the empty previous polynomial, at the end).
fn legacy_dkg(cfg: &RoundConfig) -> RoundConfig {
    let mut bytes = cfg.encode();
    let n = cfg.players.len();
    let at = bytes.len() - 8;
    bytes[at..at + 4].copy_from_slice(&(legacy_threshold_for(n) as u32).to_be_bytes());
    RoundConfig::decode(&bytes).expect("an old-rule config still decodes")
}

#[test]
fn an_old_rule_epoch_reshares_to_the_new_threshold_with_the_same_key() {
    let mut rng = rng_for(6, "keys");
    let mut nodes: Vec<SimNode> = (1..=6).map(|id| SimNode::generate(&mut rng, id)).collect();
    let ops: Vec<_> = nodes.iter().map(|n| n.operator.clone()).collect();
    let current = RoundConfig::dkg(1, 31337, [7u8; 20], ops.clone()).unwrap();
    assert_eq!(current.threshold, 5);
    let old = Arc::new(legacy_dkg(&current));
    assert_eq!(old.threshold, 4);
    assert_ne!(
        old.digest(),
        current.digest(),
        "the threshold is part of the round"
    );
    // A threshold that is neither rule's is refused.
    let mut bad = current.encode();
    let at = bad.len() - 8;
    bad[at..at + 4].copy_from_slice(&3u32.to_be_bytes());
    assert!(RoundConfig::decode(&bad).is_err());

    // The old network: genesis at t = 4 of 6.
    let mut res = run_round(&old, &mut nodes, &mut Perfect, 4);
    assert_eq!(res.outputs.len(), 6, "{:?}", res.rejects);
    let public = res.outputs.values().next().unwrap().public.clone();
    assert_eq!(public.threshold(), 4);
    for n in nodes.iter_mut() {
        n.output = res.outputs.remove(&n.address());
    }

    // Its next reshare is built under the new rule: t = 5, dealing from t_old = 4 shares.
    let cfg = Arc::new(
        RoundConfig::reshare(1, 2, 31337, [7u8; 20], ops.clone(), ops, public.clone()).unwrap(),
    );
    assert_eq!((cfg.threshold, cfg.min_dealings()), (threshold_for(6), 4));
    let mut res = run_round(&cfg, &mut nodes, &mut Perfect, 4);
    assert_eq!(res.outputs.len(), 6, "{:?}", res.rejects);
    let new_public = res.outputs.values().next().unwrap().public.clone();
    assert_eq!(
        new_public.public_key(),
        public.public_key(),
        "the reshare keeps the key"
    );
    assert_eq!(new_public.threshold(), 5);

    // Five shares recover the app key; four, enough before, no longer do.
    let shares: Vec<_> = res
        .outputs
        .values_mut()
        .map(|o| o.share.take().unwrap())
        .collect();
    let partials: Vec<_> = shares.iter().map(|s| partial_sign(s, b"app")).collect();
    let (_, bad) = recover_verified(&new_public, b"app", &partials[..5]).expect("t = 5 recover");
    assert!(bad.is_empty());
    assert!(recover_verified(&new_public, b"app", &partials[..4]).is_err());
}
