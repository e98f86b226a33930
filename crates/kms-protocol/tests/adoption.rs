//! Epoch adoption against an attacking operator (issue 15, items 1 and 3): every forged epoch
//! of `sim::forge` is well formed and finalizes under `observe` (the attack is real: a node that
//! only checked membership and the MPK installed it), and `adopt::check` refuses each one, for
//! nodes at genesis, nodes that hold an epoch, and wiped nodes; while the honest epoch is
//! adopted by each of them.
#![cfg(test)]

use kms_crypto::bls::Commitment;
use kms_protocol::adopt::{check, AdoptError, Anchoring, Latest, View};
use kms_protocol::sim::forge::{claim_logs, forge, honest_claim, EpochClaim, Forgery, Target};
use kms_protocol::sim::plan::FaultPlan;
use kms_protocol::sim::scenario::{Cluster, CHAIN_ID, REGISTRY};
use kms_protocol::{observe, Certificate, Commit, Operator, RoundConfig};

/// A 4-node cluster after `rounds` rounds (0: genesis not run yet), its last round's config,
/// and that round's honest claim.
fn cluster(seed: u64, rounds: usize) -> (Cluster, Option<(RoundConfig, EpochClaim)>) {
    let mut c = Cluster::new(seed, 5);
    let members: Vec<usize> = (0..4).collect();
    let mut last = None;
    for _ in 0..rounds {
        let cfg = c.next_config(&members).unwrap();
        let res = c.run(&cfg, FaultPlan::new(seed, 4));
        let (_, out) = res.result.outputs.iter().next().expect("finalized");
        // Every log that went over the wire (each dealer's reaches the others).
        let mut logs: Vec<kms_protocol::Envelope> = Vec::new();
        for (_, _, _, b) in &res.result.transcript {
            let Ok(raw) = kms_protocol::RawEnvelope::parse(b) else {
                continue;
            };
            let Ok(env) = raw.open(&mut kms_protocol::CommitmentCache::default()) else {
                continue;
            };
            if matches!(env.body, kms_protocol::Body::Log(_)) && !logs.contains(&env) {
                logs.push(env);
            }
        }
        let claim = honest_claim(&cfg, &out.certificate, &logs);
        last = Some(((*cfg).clone(), claim));
    }
    (c, last)
}

fn members(c: &Cluster) -> Vec<Operator> {
    c.nodes[..4].iter().map(|n| n.operator.clone()).collect()
}

fn view<'a>(
    members: &'a [Operator],
    latest: Option<(u64, &'a RoundConfig, &'a Commitment)>,
) -> View<'a> {
    View {
        chain_id: CHAIN_ID,
        registry: REGISTRY,
        members,
        latest: latest.map(|(epoch, cfg, public)| Latest {
            epoch,
            players: &cfg.players,
            public,
        }),
        anchoring: Anchoring::None,
    }
}

fn adopt(v: &View<'_>, c: &EpochClaim) -> Result<(), AdoptError> {
    check(v, c.epoch, &c.config, &c.certificate).map(|_| ())
}

/// The claim finalizes under `observe`: without the adoption rule it would be installed.
fn finalizes(c: &EpochClaim) -> bool {
    let Ok(cfg) = RoundConfig::decode(&c.config) else {
        return false;
    };
    let Ok(cert) = Certificate::decode(&c.certificate, Commit) else {
        return false;
    };
    observe(&cfg, &cert, &claim_logs(c), None).is_ok()
}

#[test]
fn a_forged_genesis_is_refused_and_the_honest_one_adopted() {
    let (c, _) = cluster(1, 0);
    let ms = members(&c);
    let attacker = &c.nodes[3];
    let target = Target {
        chain_id: CHAIN_ID,
        registry: REGISTRY,
        latest: None,
    };
    for kind in [Forgery::SoloGenesis, Forgery::WrongChain] {
        let claim = forge(kind, attacker, &target, 1, 7).expect("forged");
        assert!(
            finalizes(&claim),
            "{kind:?}: the forgery must be a real attack"
        );
        let err = adopt(&view(&ms, None), &claim).unwrap_err();
        let want = match kind {
            Forgery::WrongChain => AdoptError::OtherChain,
            _ => AdoptError::PartialGenesis,
        };
        assert_eq!(err, want, "{kind:?}");
    }
    // The honest DKG is what a node without an epoch builds itself: adopted.
    let (_, last) = cluster(1, 1);
    let (_, honest) = last.unwrap();
    adopt(&view(&ms, None), &honest).expect("the honest genesis");
}

#[test]
fn forged_reshares_are_refused_by_nodes_with_an_epoch_and_by_wiped_ones() {
    let (c, last) = cluster(2, 1);
    let (cfg1, claim1) = last.unwrap();
    let cert1 = Certificate::decode(&claim1.certificate, Commit).unwrap();
    let public = observe(&cfg1, &cert1, &claim_logs(&claim1), None)
        .unwrap()
        .public;
    let ms = members(&c);
    let attacker = &c.nodes[2];
    let target = Target {
        chain_id: CHAIN_ID,
        registry: REGISTRY,
        latest: Some((cfg1.epoch, &public)),
    };
    let holder = view(&ms, Some((cfg1.epoch, &cfg1, &public)));
    let wiped = view(&ms, None);
    for kind in Forgery::ALL {
        let claim = forge(kind, attacker, &target, cfg1.epoch + 1, 9).expect("forged");
        if kind != Forgery::WrongChain {
            assert!(
                finalizes(&claim),
                "{kind:?}: the forgery must be a real attack"
            );
        }
        let held = adopt(&holder, &claim).unwrap_err();
        let wiped_err = adopt(&wiped, &claim).unwrap_err();
        match kind {
            Forgery::SoloGenesis => {
                assert_eq!(held, AdoptError::PartialGenesis);
                assert_eq!(wiped_err, AdoptError::PartialGenesis);
            }
            Forgery::WrongChain => {
                assert_eq!(held, AdoptError::OtherChain);
                assert_eq!(wiped_err, AdoptError::OtherChain);
            }
            Forgery::WrongPrevious => {
                assert_eq!(held, AdoptError::MasterKeyChanged);
                assert!(
                    matches!(wiped_err, AdoptError::NotBacked { .. }),
                    "{wiped_err}"
                );
            }
            Forgery::DegreeZeroReshare | Forgery::UnknownOperators => {
                // n = 4 tolerates f = 1: one member's signature backs nothing.
                assert_eq!(held, AdoptError::NotBacked { signers: 1, f: 1 }, "{kind:?}");
                assert_eq!(
                    wiped_err,
                    AdoptError::NotBacked { signers: 1, f: 1 },
                    "{kind:?}"
                );
            }
        }
    }

    // The honest reshare: derived by a node holding epoch 1, backed for a wiped node.
    let (_, last) = cluster(2, 2);
    let (cfg2, claim2) = last.unwrap();
    assert!(cfg2.previous.is_some());
    adopt(&holder, &claim2).expect("derived");
    adopt(&wiped, &claim2).expect("backed by t members");
    // An older epoch is nothing to catch up to.
    let after = view(&ms, Some((cfg2.epoch, &cfg2, &public)));
    assert_eq!(
        adopt(&after, &claim2),
        Err(AdoptError::NotNewer {
            epoch: cfg2.epoch,
            latest: cfg2.epoch
        })
    );
}

#[test]
fn in_chain_mode_only_the_anchored_certificate_is_adopted() {
    let (c, last) = cluster(3, 1);
    let (cfg, claim) = last.unwrap();
    let ms = members(&c);
    let cert = Certificate::decode(&claim.certificate, Commit).unwrap();
    let anchored = |a| View {
        anchoring: a,
        ..view(&ms, None)
    };
    assert_eq!(
        adopt(&anchored(Anchoring::Anchored(None)), &claim),
        Err(AdoptError::NotAnchored)
    );
    assert_eq!(
        adopt(&anchored(Anchoring::Anchored(Some([1u8; 32]))), &claim),
        Err(AdoptError::AnchorMismatch)
    );
    adopt(
        &anchored(Anchoring::Anchored(Some(cert.vote_digest(&cfg)))),
        &claim,
    )
    .expect("the anchored certificate");
}

#[test]
fn a_membership_seen_differently_needs_backing_and_a_genesis_the_whole_of_it() {
    // A node whose view has a fifth member derives another genesis: the honest 4-node DKG is
    // not derived, and a genesis is never taken on backing alone.
    let (c, last) = cluster(4, 1);
    let (_, claim) = last.unwrap();
    let five: Vec<Operator> = c.nodes.iter().map(|n| n.operator.clone()).collect();
    assert_eq!(
        adopt(&view(&five, None), &claim),
        Err(AdoptError::PartialGenesis)
    );
}
