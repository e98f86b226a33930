//! One scenario per fault of the issue, each checked with every property of
//! `sim::scenario::check_round` plus the fault's own expected outcome (verdict, culprit, attempt).
#![cfg(test)]

use kms_protocol::check::RevealKind;
use kms_protocol::message::{Body, CommitmentCache, Kind, RawEnvelope};
use kms_protocol::sim::plan::{
    rank, DealerFault, Down, FaultPlan, LeaderFault, PlanNetwork, PlanResult,
};
use kms_protocol::sim::scenario::{check_round, old_round_replays, Cluster, Expect, Outcome};
use kms_protocol::sim::{rng_for, Phase};
use kms_protocol::{
    Address, DealerOutcome, DecodeError, FaultReason, LogFault, Reject, RoundConfig, SkipReason,
};
use std::sync::Arc;

/// A DKG among the first `n` of a pool of `n + 1`, under `plan` (built from the config).
fn dkg(
    seed: u64,
    n: usize,
    plan: impl FnOnce(&RoundConfig) -> FaultPlan,
) -> (Cluster, Arc<RoundConfig>, FaultPlan, PlanResult) {
    let mut c = Cluster::new(seed, n + 1);
    let members: Vec<usize> = (0..n).collect();
    let cfg = c.next_config(&members).unwrap();
    let plan = plan(&cfg);
    let res = c.run(&cfg, plan.clone());
    (c, cfg, plan, res)
}

fn check(cfg: &RoundConfig, plan: &FaultPlan, res: &PlanResult, expect: Expect) -> Outcome {
    match check_round(cfg, plan, res, expect, 99) {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    }
}

/// Players other than attempt 0's leader (so that a fault on them does not also hit the leader).
fn non_leaders(cfg: &RoundConfig) -> Vec<Address> {
    let l = cfg.leader(0);
    cfg.players
        .iter()
        .map(|o| o.address)
        .filter(|a| *a != l)
        .collect()
}

fn verdict(res: &PlanResult, dealer: &Address) -> DealerOutcome {
    let (_, o) = res.all_outputs().next().expect("an output");
    o.verdicts
        .iter()
        .find(|(a, _)| a == dealer)
        .map(|(_, v)| v.clone())
        .expect("a verdict per dealer")
}

fn clean(v: &DealerOutcome) -> bool {
    matches!(v, DealerOutcome::Included { reveals } if reveals.is_empty())
}

fn single_fault(
    cfg: &RoundConfig,
    a: Address,
    f: impl FnOnce(&mut kms_protocol::sim::plan::NodePlan),
) -> FaultPlan {
    let mut p = FaultPlan::new(cfg.epoch, 8);
    p.set(a, f);
    p
}

#[test]
fn offline_node_is_not_included_and_catches_up() {
    let (_, cfg, plan, res) = dkg(1, 4, |cfg| {
        let a = non_leaders(cfg)[0];
        single_fault(cfg, a, |p| {
            p.down = Some(Down {
                from: Phase::Deal,
                until: None,
                restart: false,
            })
        })
    });
    let off = *plan.nodes.keys().next().unwrap();
    assert_eq!(
        check(&cfg, &plan, &res, Expect::Live),
        Outcome::Finalized { attempts: 1 }
    );
    assert_eq!(verdict(&res, &off), DealerOutcome::NotIncluded);
    // It never took part, yet recovers its share from the certificate and logs alone.
    assert!(!res.result.outputs.contains_key(&off));
    assert!(res.caught_up[&off].share.is_some());
    // Every other dealer revealed its share (it never acked).
    for (d, v) in &res.all_outputs().next().unwrap().1.verdicts {
        if *d != off {
            assert_eq!(
                *v,
                DealerOutcome::Included {
                    reveals: vec![(off, RevealKind::NoAck)]
                }
            );
        }
    }
}

#[test]
fn player_that_withholds_acks_is_revealed_not_blamed_on_dealers() {
    let (_, cfg, plan, res) = dkg(2, 4, |cfg| {
        single_fault(cfg, non_leaders(cfg)[1], |p| p.no_ack = true)
    });
    let quiet = *plan.nodes.keys().next().unwrap();
    check(&cfg, &plan, &res, Expect::Live);
    for (d, v) in &res.all_outputs().next().unwrap().1.verdicts {
        let expected = if *d == quiet {
            // Its own dealer keeps its own ack.
            vec![]
        } else {
            vec![(quiet, RevealKind::NoAck)]
        };
        assert_eq!(*v, DealerOutcome::Included { reveals: expected });
    }
    // It still finalizes, from the reveals.
    assert!(res.result.outputs[&quiet].share.is_some());
}

#[test]
fn bad_share_is_proven_from_the_log() {
    let (_, cfg, plan, res) = dkg(3, 4, |cfg| {
        let nl = non_leaders(cfg);
        single_fault(cfg, nl[0], |p| {
            p.dealer = Some(DealerFault::BadShare { to: nl[1] })
        })
    });
    let (dealer, victim) = (non_leaders(&cfg)[0], non_leaders(&cfg)[1]);
    check(&cfg, &plan, &res, Expect::Live);
    assert_eq!(
        verdict(&res, &dealer),
        DealerOutcome::Included {
            reveals: vec![(victim, RevealKind::BadShare)]
        }
    );
    assert!(res.result.outputs[&victim].share.is_some());
}

#[test]
fn wrong_seal_is_a_bad_share() {
    let (_, cfg, plan, res) = dkg(4, 4, |cfg| {
        let nl = non_leaders(cfg);
        single_fault(cfg, nl[0], |p| {
            p.dealer = Some(DealerFault::WrongSeal {
                to: nl[1],
                sealed_for: nl[2],
            })
        })
    });
    let (dealer, victim) = (non_leaders(&cfg)[0], non_leaders(&cfg)[1]);
    check(&cfg, &plan, &res, Expect::Live);
    assert_eq!(
        verdict(&res, &dealer),
        DealerOutcome::Included {
            reveals: vec![(victim, RevealKind::BadShare)]
        }
    );
}

#[test]
fn wrong_degree_log_is_invalid() {
    let (_, cfg, plan, res) = dkg(5, 4, |cfg| {
        single_fault(cfg, non_leaders(cfg)[0], |p| {
            p.dealer = Some(DealerFault::WrongDegree)
        })
    });
    check(&cfg, &plan, &res, Expect::Live);
    assert_eq!(
        verdict(&res, &non_leaders(&cfg)[0]),
        DealerOutcome::InvalidLog(LogFault::WrongDegree)
    );
}

fn bad_point(fault: DealerFault, expected: kms_crypto::Error) {
    let (_, cfg, plan, res) = dkg(6, 4, |cfg| {
        single_fault(cfg, non_leaders(cfg)[0], |p| p.dealer = Some(fault))
    });
    let dealer = non_leaders(&cfg)[0];
    check(&cfg, &plan, &res, Expect::Live);
    assert_eq!(verdict(&res, &dealer), DealerOutcome::NotIncluded);
    // Every other player refused its deal and its log at decode, naming it (the signature
    // checked first, so the name is proven).
    for op in &cfg.players {
        if op.address == dealer {
            continue;
        }
        let named: Vec<_> = res
            .result
            .rejects
            .iter()
            .filter(|(to, r)| {
                *to == op.address
                    && *r
                        == Reject::fault(
                            dealer,
                            FaultReason::Malformed(DecodeError::Crypto(expected.clone())),
                        )
            })
            .collect();
        assert_eq!(named.len(), 2, "deal and log refused by name");
    }
    // The same body bytes with the signature broken name nobody: anyone can forge a header.
    let (_, _, _, bytes) = res
        .result
        .transcript
        .iter()
        .find(|(_, from, _, b)| {
            *from == dealer && RawEnvelope::parse(b).unwrap().kind == Kind::Deal
        })
        .unwrap();
    let mut raw = RawEnvelope::parse(bytes).unwrap();
    assert!(raw.clone().open(&mut CommitmentCache::default()).is_err());
    let mut body = raw.body().to_vec();
    body.push(0);
    raw.set_body(body);
    let mut inbox = kms_protocol::Inbox::new(cfg.clone(), raw.recipient.unwrap());
    let r = inbox.accept(&[&raw.encode()]).pop().unwrap().unwrap_err();
    assert_eq!(r, Reject::Skip(SkipReason::BadSignature));
}

#[test]
fn identity_commitment_point_is_refused_by_name() {
    bad_point(
        DealerFault::IdentityPoint { index: 1 },
        kms_crypto::Error::IdentityPoint,
    );
}

#[test]
fn off_subgroup_commitment_point_is_refused_by_name() {
    bad_point(
        DealerFault::OffSubgroup { index: 0 },
        kms_crypto::Error::NotInSubgroup,
    );
}

#[test]
fn equivocating_dealer_is_excluded_with_proof() {
    let (_, cfg, plan, res) = dkg(7, 4, |cfg| {
        let nl = non_leaders(cfg);
        single_fault(cfg, nl[0], |p| {
            p.dealer = Some(DealerFault::Equivocate {
                others: vec![nl[1]],
            })
        })
    });
    check(&cfg, &plan, &res, Expect::Live);
    assert_eq!(
        verdict(&res, &non_leaders(&cfg)[0]),
        DealerOutcome::Equivocated
    );
}

#[test]
fn withheld_share_is_revealed() {
    let (_, cfg, plan, res) = dkg(8, 4, |cfg| {
        let nl = non_leaders(cfg);
        single_fault(cfg, nl[0], |p| {
            p.dealer = Some(DealerFault::Withhold { to: nl[1] })
        })
    });
    check(&cfg, &plan, &res, Expect::Live);
    assert_eq!(
        verdict(&res, &non_leaders(&cfg)[0]),
        DealerOutcome::Included {
            reveals: vec![(non_leaders(&cfg)[1], RevealKind::NoAck)]
        }
    );
}

#[test]
fn share_addressed_to_another_player() {
    let (_, cfg, plan, res) = dkg(9, 4, |cfg| {
        let nl = non_leaders(cfg);
        single_fault(cfg, nl[0], |p| {
            p.dealer = Some(DealerFault::Misaddressed {
                to: nl[1],
                instead: nl[2],
            })
        })
    });
    let nl = non_leaders(&cfg);
    check(&cfg, &plan, &res, Expect::Live);
    assert_eq!(
        verdict(&res, &nl[0]),
        DealerOutcome::Included {
            reveals: vec![(nl[1], RevealKind::NoAck)]
        }
    );
    // The wrong recipient refuses it before any signature check, naming nobody.
    assert!(res
        .result
        .rejects
        .iter()
        .any(|(to, r)| *to == nl[2] && *r == Reject::Skip(SkipReason::NotForMe)));
}

#[test]
fn replays_from_older_rounds_change_nothing() {
    // The same DKG twice from the same seeds, once with replays of an older round's deals and
    // acks at every phase plus stale re-deliveries of its own messages: same result.
    let (_, cfg, plan, res) = dkg(10, 5, |_| FaultPlan::new(1, 4));
    check(&cfg, &plan, &res, Expect::Live);
    let (_, cfg2, plan2, res2) = dkg(10, 5, |cfg| {
        let c = Cluster::new(10, 6);
        let mut p = FaultPlan::new(1, 4);
        p.replays = old_round_replays(&c.nodes, cfg, &mut rng_for(1, "replays"), 12);
        p.stale = vec![(Phase::Acks, 5), (Phase::Log, 5), (Phase::Agreement(0), 5)];
        p
    });
    check(&cfg2, &plan2, &res2, Expect::Live);
    assert_eq!(cfg.digest(), cfg2.digest());
    let pick = |r: &PlanResult| {
        let (_, o) = r.all_outputs().next().unwrap();
        (o.public.clone(), o.certificate.set.clone())
    };
    assert_eq!(pick(&res), pick(&res2));
    let wrong_round = res2
        .result
        .rejects
        .iter()
        .filter(|(_, r)| *r == Reject::Skip(SkipReason::WrongRound))
        .count();
    assert!(wrong_round >= 12, "{wrong_round}");
    // A reshare refuses replays of the DKG it reshares, too.
    let mut c = Cluster::new(11, 5);
    let members: Vec<usize> = (0..4).collect();
    let cfg = c.next_config(&members).unwrap();
    let dkg = c.run(&cfg, FaultPlan::new(1, 4));
    let cfg2 = c.next_config(&members).unwrap();
    let mut p = FaultPlan::new(2, 4);
    for (i, (ph, from, to, b)) in dkg.result.transcript.iter().enumerate() {
        if i % 7 == 0 {
            p.replays.push((*ph, *from, *to, b.clone()));
        }
    }
    let n_replays = p.replays.len();
    let res = c.run(&cfg2, p.clone());
    check(&cfg2, &p, &res, Expect::Live);
    let refused = res
        .result
        .rejects
        .iter()
        .filter(|(_, r)| *r == Reject::Skip(SkipReason::WrongRound))
        .count();
    assert!(refused >= n_replays, "{refused} < {n_replays}");
}

#[test]
fn leader_with_invalid_set_costs_one_attempt() {
    let (_, cfg, plan, res) = dkg(12, 4, |cfg| {
        single_fault(cfg, cfg.leader(0), |p| {
            p.leader = Some(LeaderFault::InvalidSet)
        })
    });
    let Outcome::Finalized { attempts } = check(&cfg, &plan, &res, Expect::Live) else {
        panic!()
    };
    assert!(attempts >= 2);
    // Nobody voted for the invalid set, so the full set is certified.
    let (_, o) = res.all_outputs().next().unwrap();
    assert_eq!(o.certificate.set.included.len(), 4);
}

#[test]
fn leader_with_partial_set_costs_one_attempt() {
    let (_, cfg, plan, res) = dkg(13, 7, |cfg| {
        single_fault(cfg, cfg.leader(0), |p| {
            p.leader = Some(LeaderFault::PartialSet)
        })
    });
    check(&cfg, &plan, &res, Expect::Live);
    // Honest players prevoted the partial set (it is valid), but no prepare certificate formed
    // on it, so nothing locked them: the next leader's full set is certified.
    assert_eq!(res.certified_in, Some(1));
    let (_, o) = res.all_outputs().next().unwrap();
    assert_eq!(o.certificate.set.included.len(), 7);
    assert!(res.locks.values().all(|l| l.attempt == 1));
}

#[test]
fn locked_set_is_certified_by_the_next_leader() {
    // Attempt 0's leader lets the prepare certificate out (every player locks on its set) and
    // withholds the certificate; attempt 1's leader is shown the locks and finishes that set.
    let (_, cfg, plan, res) = dkg(13, 7, |cfg| {
        single_fault(cfg, cfg.leader(0), |p| {
            p.leader = Some(LeaderFault::WithholdCertificate)
        })
    });
    check(&cfg, &plan, &res, Expect::Live);
    assert_eq!(res.certified_in, Some(0), "the leader itself holds it");
    let (_, o) = res.all_outputs().next().unwrap();
    assert_eq!(o.certificate.attempt, 1, "certified again in attempt 1");
    for (a, l) in &res.locks {
        assert_eq!(l.set, o.certificate.set, "{a:?} locked on another set");
    }
}

#[test]
fn leader_crash_before_proposing_costs_one_attempt() {
    let (_, cfg, plan, res) = dkg(14, 4, |cfg| {
        single_fault(cfg, cfg.leader(0), |p| {
            p.leader = Some(LeaderFault::CrashBeforePropose)
        })
    });
    check(&cfg, &plan, &res, Expect::Live);
    assert_eq!(res.certified_in, Some(1));
    assert_eq!(res.up_per_attempt[0], 3);
}

#[test]
fn leader_crash_after_some_votes_next_leader_finishes_the_locked_set() {
    let (_, cfg, plan, res) = dkg(15, 7, |cfg| {
        let reach = non_leaders(cfg)[..3].to_vec();
        single_fault(cfg, cfg.leader(0), |p| {
            p.leader = Some(LeaderFault::CrashAfterPropose { reach })
        })
    });
    check(&cfg, &plan, &res, Expect::Live);
    assert_eq!(res.certified_in, Some(1));
    // The players it reached prevoted in attempt 0, but no prepare certificate formed there:
    // their locks are attempt 1's, on the certified set.
    let (_, o) = res.all_outputs().next().unwrap();
    for a in &non_leaders(&cfg)[..3] {
        assert_eq!(res.locks[a].set, o.certificate.set);
    }
}

/// A leader that sends different (both valid) sets to different players. Safety holds; if its
/// full set reaches enough players, the round still finishes.
#[test]
fn split_leader_is_safe_and_majority_side_finishes() {
    let (_, cfg, plan, res) = dkg(16, 4, |cfg| {
        let full = non_leaders(cfg)[..2].to_vec();
        single_fault(cfg, cfg.leader(0), |p| {
            p.leader = Some(LeaderFault::Split { full })
        })
    });
    // Locks: full set 2 honest + the leader's own vote = 3 = t; the partial set 1.
    assert!(matches!(
        check(&cfg, &plan, &res, Expect::Live),
        Outcome::Finalized { .. }
    ));
}

/// The split-lock stall of the first agreement (docs 0005 §4, before issue 15): a Byzantine
/// leader that sends its full set to one honest player and a partial set to the other two used
/// to leave two locked sets of 2 votes each at n = 4, t = 3, and the round stalled. Players now
/// lock only on a prepare certificate (t prevotes of one attempt), which a split cannot form,
/// so the next leader finishes.
#[test]
fn split_leader_costs_one_attempt() {
    let (_, cfg, plan, res) = dkg(16, 4, |cfg| {
        let full = non_leaders(cfg)[..1].to_vec();
        single_fault(cfg, cfg.leader(0), |p| {
            p.leader = Some(LeaderFault::Split { full })
        })
    });
    let outcome = check(&cfg, &plan, &res, Expect::Live);
    assert_eq!(outcome, Outcome::Finalized { attempts: 2 });
    assert_eq!(res.certified_in, Some(1));
}

#[test]
fn crashed_node_resumes_from_saved_state_and_keeps_its_lock() {
    // Attempt 0's leader crashes after its proposal reached everyone (so all voted and locked);
    // then a non-leader crashes for attempt 1 and resumes for attempt 2 from its saved state.
    let (_, cfg, plan, res) = dkg(17, 4, |cfg| {
        let nl = non_leaders(cfg);
        let mut p = FaultPlan::new(3, 8);
        p.set(cfg.leader(0), |n| {
            n.leader = Some(LeaderFault::CrashAfterPropose { reach: nl.clone() })
        });
        p
    });
    check(&cfg, &plan, &res, Expect::Live);
    let (_, o) = res.all_outputs().next().unwrap();
    let set = o.certificate.set.clone();

    // A crash during agreement, after voting: n = 7 so that two faults fit the budget.
    let (_, cfg, plan, res) = dkg(18, 7, |cfg| {
        let nl = non_leaders(cfg);
        let mut p = FaultPlan::new(3, 8);
        p.set(cfg.leader(0), |n| {
            n.leader = Some(LeaderFault::WithholdCertificate)
        });
        let victim = *nl.iter().find(|a| **a != cfg.leader(1)).unwrap();
        p.set(victim, |n| {
            n.down = Some(Down {
                from: Phase::Agreement(1),
                until: Some(Phase::Agreement(2)),
                restart: true,
            })
        });
        p
    });
    check(&cfg, &plan, &res, Expect::Live);
    assert!(!set.included.is_empty());
    let r = res
        .restarts
        .iter()
        .find(|r| r.phase == Phase::Agreement(2))
        .expect("a restart");
    assert!(r.lock_before.is_some(), "it locked in attempt 0");
    assert_eq!(r.lock_before, r.lock_after);
    assert!(r.save_round_trips);
    // It finalized in the round itself.
    assert!(res.result.outputs.contains_key(&r.node));
}

#[test]
fn leader_that_certified_keeps_its_certificate_across_a_restart() {
    // Attempt 0 certifies. Its leader then crashes for attempt 1 and resumes for attempt 2
    // (another player, down for attempts 0 and 1, keeps the round running until then).
    let (_, cfg, plan, res) = dkg(19, 7, |cfg| {
        let l0 = cfg.leader(0);
        let other = cfg
            .players
            .iter()
            .map(|o| o.address)
            .find(|a| *a != l0 && *a != cfg.leader(1) && *a != cfg.leader(2))
            .unwrap();
        let mut p = FaultPlan::new(4, 8);
        p.set(l0, |n| {
            n.down = Some(Down {
                from: Phase::Agreement(1),
                until: Some(Phase::Agreement(2)),
                restart: true,
            })
        });
        p.set(other, |n| {
            n.down = Some(Down {
                from: Phase::Agreement(0),
                until: Some(Phase::Agreement(2)),
                restart: false,
            })
        });
        p
    });
    check(&cfg, &plan, &res, Expect::Live);
    assert_eq!(res.certified_in, Some(0));
    let r = &res.restarts[0];
    assert_eq!(r.node, cfg.leader(0));
    assert!(r.cert_before && r.cert_after);
}

#[test]
fn crashes_at_every_phase_resume() {
    // One node crashes at each phase and comes back one phase later (n = 10 allows 3 faults;
    // spread over rounds to keep every crash within budget).
    let phases = [
        (Phase::Deal, Phase::Acks),
        (Phase::Acks, Phase::Log),
        (Phase::Log, Phase::Agreement(0)),
        (Phase::Agreement(0), Phase::Agreement(1)),
    ];
    for (i, (from, until)) in phases.into_iter().enumerate() {
        let (_, cfg, plan, res) = dkg(20 + i as u64, 4, |cfg| {
            single_fault(cfg, cfg.leader(0), |p| {
                p.down = Some(Down {
                    from,
                    until: Some(until),
                    restart: true,
                })
            })
        });
        check(&cfg, &plan, &res, Expect::Live);
        assert_eq!(res.restarts.len(), 1, "{from:?}");
        let node = cfg.leader(0);
        // Back before agreement: it took part; its dealing is in if it dealt and logged.
        assert!(res.result.outputs.contains_key(&node), "{from:?}");
        let v = verdict(&res, &node);
        if rank(from) <= rank(Phase::Log) {
            assert!(!clean(&v), "{from:?}: {v:?}");
        } else {
            assert!(clean(&v), "{from:?}: {v:?}");
        }
    }
}

/// A player that leads neither attempt 0 nor attempt 1.
fn late(cfg: &RoundConfig) -> Address {
    let (l0, l1) = (cfg.leader(0), cfg.leader(1));
    cfg.players
        .iter()
        .map(|o| o.address)
        .find(|a| *a != l0 && *a != l1)
        .unwrap()
}

#[test]
fn node_back_after_the_certificate_gets_it_in_the_next_attempt() {
    // Down exactly for the attempt that certifies; back for the next one, it must finalize in
    // the round (the next leader re-sends the certificate), not only by catch-up.
    let (_, cfg, plan, res) = dkg(30, 4, |cfg| {
        let a = late(cfg);
        single_fault(cfg, a, |p| {
            p.down = Some(Down {
                from: Phase::Agreement(0),
                until: Some(Phase::Agreement(1)),
                restart: false,
            })
        })
    });
    check(&cfg, &plan, &res, Expect::Live);
    let a = late(&cfg);
    assert_eq!(res.certified_in, Some(0));
    assert!(res.result.outputs.contains_key(&a));
    // ... in the very next attempt.
    assert_eq!(res.result.attempts, 2);
}

#[test]
fn fewer_than_t_reachable_finalizes_nowhere_until_they_return() {
    // n = 4, t = 3: two players down for attempts 0 and 1.
    let (_, cfg, plan, res) = dkg(31, 4, |cfg| {
        let mut p = FaultPlan::new(5, 8);
        for a in &non_leaders(cfg)[..2] {
            p.set(*a, |n| {
                n.down = Some(Down {
                    from: Phase::Agreement(0),
                    until: Some(Phase::Agreement(2)),
                    restart: false,
                })
            });
        }
        p
    });
    check(&cfg, &plan, &res, Expect::LiveFrom { until: 2 });
    assert_eq!(res.up_per_attempt[..2], [2, 2]);
    assert_eq!(res.certified_in, Some(2));

    // Down from the acks on: no dealer can log, nothing finalizes; the next round does.
    let (mut c, cfg, plan, res) = dkg(32, 4, |cfg| {
        let mut p = FaultPlan::new(5, 4);
        for a in &non_leaders(cfg)[..2] {
            p.set(*a, |n| {
                n.down = Some(Down {
                    from: Phase::Acks,
                    until: None,
                    restart: false,
                })
            });
        }
        p
    });
    assert_eq!(check(&cfg, &plan, &res, Expect::Dead), Outcome::Stalled);
    assert!(res.certificates.is_empty() && res.caught_up.is_empty());
    let members: Vec<usize> = (0..4).collect();
    let cfg = c.next_config(&members).unwrap();
    let p = FaultPlan::new(6, 4);
    let res = c.run(&cfg, p.clone());
    assert_eq!(
        check(&cfg, &p, &res, Expect::Live),
        Outcome::Finalized { attempts: 1 }
    );
}

#[test]
fn membership_change_4_5_4_with_faults() {
    let mut c = Cluster::new(40, 5);
    let four: Vec<usize> = (0..4).collect();
    let five: Vec<usize> = (0..5).collect();
    let mut mpk = None;
    for (round, members) in [&four, &five, &four, &five, &four].into_iter().enumerate() {
        let cfg = c.next_config(members).unwrap();
        // One fault per round (budget 1 for 4 or 5 players, and for 4 or 5 dealers).
        let dealer = cfg.dealers[round % cfg.dealers.len()].address;
        let victim = cfg
            .players
            .iter()
            .map(|o| o.address)
            .find(|a| *a != dealer)
            .unwrap();
        let mut p = FaultPlan::new(round as u64, 8);
        match round % 3 {
            0 => p.set(victim, |n| n.no_ack = true),
            1 => p.set(dealer, |n| {
                n.dealer = Some(DealerFault::BadShare { to: victim })
            }),
            _ => p.set(dealer, |n| {
                n.down = Some(Down {
                    from: Phase::Deal,
                    until: None,
                    restart: false,
                })
            }),
        };
        let res = c.run(&cfg, p.clone());
        check(&cfg, &p, &res, Expect::Live);
        let (_, o) = res.all_outputs().next().unwrap();
        assert_eq!(o.threshold, if members.len() == 4 { 3 } else { 4 });
        assert_eq!(res.all_outputs().count(), members.len());
        let m = o.mpk().to_bytes();
        assert_eq!(*mpk.get_or_insert(m), m, "round {round}");
    }
}

#[test]
fn transcripts_decode_and_votes_are_for_one_set() {
    // Sanity for the harness itself: every delivered message parses, and honest votes in a
    // faulty round name one set per voter (check_round checks this too).
    let (_, cfg, plan, res) = dkg(50, 7, |cfg| {
        let nl = non_leaders(cfg);
        let mut p = FaultPlan::new(7, 8);
        p.set(cfg.leader(0), |n| n.leader = Some(LeaderFault::PartialSet));
        p.set(nl[0], |n| {
            n.dealer = Some(DealerFault::Equivocate {
                others: nl[1..3].to_vec(),
            })
        });
        p
    });
    check(&cfg, &plan, &res, Expect::Live);
    let mut cache = CommitmentCache::default();
    for (_, _, _, b) in &res.result.transcript {
        let raw = RawEnvelope::parse(b).unwrap();
        if matches!(raw.kind, Kind::Prevote | Kind::Precommit) {
            assert!(matches!(
                raw.open(&mut cache).unwrap().body,
                Body::Prevote { .. } | Body::Precommit { .. }
            ));
        }
    }
    let _ = PlanNetwork::perfect(cfg.clone(), 1);
}

/// A node whose journal writes fail for a while (a full disk) holds back what they guard: its
/// acks and votes leave only once written. It crashes meanwhile and comes back from what was
/// written; it never contradicts itself, and the round finalizes everywhere.
#[test]
fn failed_writes_hold_back_what_they_guard() {
    let (_, cfg, plan, res) = dkg(60, 7, |cfg| {
        let victim = non_leaders(cfg)[0];
        let mut p = FaultPlan::new(60, 8);
        // Its first writes (the acks decision, then votes) fail, retried every 100 ms.
        p.failed_writes.push((victim, 0, 12));
        p.set(victim, |n| {
            n.down = Some(Down {
                from: Phase::Agreement(0),
                until: Some(Phase::Agreement(1)),
                restart: true,
            })
        });
        p
    });
    check(&cfg, &plan, &res, Expect::Live);
    assert_eq!(res.failed_writes, 12);
    let victim = non_leaders(&cfg)[0];
    assert!(res.all_outputs().any(|(a, _)| *a == victim));
    // Its messages never name it as a culprit (no equivocation after the restart).
    assert!(res
        .result
        .rejects
        .iter()
        .all(|(_, r)| r.culprit() != Some(victim)));
}
