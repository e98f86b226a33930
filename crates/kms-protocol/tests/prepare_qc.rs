//! Prepare certificates are lists of Schnorr-signed prevotes (docs 0005 §4): what a player locks
//! on. A Byzantine leader or player holds real votes and real keys; each way it could assemble a
//! certificate that t players did not vote for is refused by `verify_quorum`, and by a player
//! that receives it (named as the leader's fault).
#![cfg(test)]

use kms_crypto::bn254;
use kms_protocol::message::{stage_digest, Commit, Prepare};
use kms_protocol::sim::{rng_for, run_round, Perfect, SimNode};
use kms_protocol::{
    verify_quorum, Body, CommitmentCache, Envelope, FaultReason, Player, PrepareQc, Quorum,
    RawEnvelope, Reject, RoundConfig,
};
use std::sync::Arc;

struct Fixture {
    cfg: Arc<RoundConfig>,
    nodes: Vec<SimNode>,
    qc: PrepareQc,
}

fn round() -> Fixture {
    let mut rng = rng_for(21, "prepare-qc");
    let mut nodes: Vec<SimNode> = (1..=4).map(|id| SimNode::generate(&mut rng, id)).collect();
    let ops = nodes.iter().map(|n| n.operator.clone()).collect();
    let cfg = Arc::new(RoundConfig::dkg(3, 31337, [4u8; 20], ops).expect("config"));
    let res = run_round(&cfg, &mut nodes, &mut Perfect, 3);
    assert_eq!(res.outputs.len(), 4, "{:?}", res.rejects);
    let mut cache = CommitmentCache::default();
    let qc = res
        .transcript
        .iter()
        .find_map(
            |(_, _, _, b)| match RawEnvelope::parse(b).ok()?.open(&mut cache).ok()?.body {
                Body::Prepared(q) => Some(q),
                _ => None,
            },
        )
        .expect("a prepare certificate was broadcast");
    Fixture { cfg, nodes, qc }
}

fn node_of(f: &Fixture, player: u16) -> &SimNode {
    let addr = f.cfg.players[usize::from(player)].address;
    f.nodes.iter().find(|n| n.address() == addr).unwrap()
}

/// Every forgery a holder of real votes and keys can make, with what `verify_quorum` says.
fn forgeries(f: &Fixture) -> Vec<(&'static str, PrepareQc)> {
    let qc = &f.qc;
    let digest = qc.digest(&f.cfg);
    let outsider = (0..4u16).find(|p| !qc.signers.contains(p));
    let mut out = Vec::new();

    // One signer's vote replaced by another signer's (valid, on the same digest).
    let mut q = qc.clone();
    q.signature[0] = q.signature[1];
    out.push(("another signer's vote", q));

    // A signer without its vote: t - 1 signatures for t signers.
    let mut q = qc.clone();
    q.signature.pop();
    out.push(("a vote missing", q));

    // A vote on the precommit digest of the same set (another stage).
    let mut q = qc.clone();
    let s0 = q.signers[0];
    let commit = stage_digest::<Commit>(&f.cfg, q.attempt, &q.set.hash(), &q.mpk);
    q.signature[0] = node_of(f, s0).key.schnorr_sign(&commit);
    out.push(("a precommit digest", q));

    // A vote from another attempt (the certificate claims attempt 1).
    let mut q = qc.clone();
    q.attempt += 1;
    out.push(("another attempt", q));

    // The same signer twice in place of a third (t entries, t - 1 players).
    let mut q = qc.clone();
    q.signers[1] = q.signers[0];
    q.signature[1] = q.signature[0];
    out.push(("a signer twice", q));

    // A non-signer's valid vote listed under a signer's index.
    if let Some(o) = outsider {
        let mut q = qc.clone();
        q.signature[0] = node_of(f, o).key.schnorr_sign(&digest);
        out.push(("a non-signer's vote under a signer's index", q));
    }

    // Fewer than t signers, each vote valid.
    let mut q = qc.clone();
    q.signers.pop();
    q.signature.pop();
    out.push(("t - 1 signers", q));
    out
}

#[test]
fn forged_prepare_certificates_do_not_verify() {
    let f = round();
    verify_quorum(&f.cfg, &f.qc).expect("the real certificate verifies");
    assert_eq!(f.qc.signature.len(), f.qc.signers.len());
    for (what, q) in forgeries(&f) {
        assert!(verify_quorum(&f.cfg, &q).is_err(), "{what} verified");
    }
    // A certificate with a vote count that differs from its signers does not decode either.
    let mut bytes = f.qc.encode();
    bytes.truncate(bytes.len() - bn254::SCHNORR_LEN);
    assert!(Quorum::decode(&bytes, Prepare).is_err());
}

/// A Byzantine leader broadcasts a forged prepare certificate: an honest player refuses it,
/// names the leader, and neither locks nor precommits.
#[test]
fn a_player_refuses_a_forged_prepare_certificate_and_names_the_leader() {
    let f = round();
    let leader_addr = f.cfg.leader(0);
    let leader = f.nodes.iter().find(|n| n.address() == leader_addr).unwrap();
    let me = f.nodes.iter().find(|n| n.address() != leader_addr).unwrap();
    for (what, q) in forgeries(&f) {
        if q.attempt != f.qc.attempt {
            continue; // another attempt is routed as early, not checked now
        }
        let mut p = Player::new(f.cfg.clone(), me.address(), me.key.clone(), me.enc.clone())
            .expect("player");
        let _ = p.start_attempt(0);
        let forged = Envelope::sign(
            f.cfg.digest(),
            leader_addr,
            None,
            Body::Prepared(q),
            &leader.key,
        )
        .encode();
        let verdicts = p.receive(&[forged.as_slice()]);
        match &verdicts[..] {
            [Err(Reject::Fault { culprit, reason })] => {
                assert_eq!(*culprit, leader_addr, "{what}");
                // A vote count that differs from the signers' does not even decode.
                assert!(
                    matches!(reason, FaultReason::Invalid(_) | FaultReason::Malformed(_)),
                    "{what}: {reason:?}"
                );
            }
            other => panic!(
                "{what}: {:?}",
                other.iter().map(|v| v.as_ref().err()).collect::<Vec<_>>()
            ),
        }
        assert!(p.lock().is_none(), "{what}: the player locked");
    }
}

/// Checking a prepare certificate costs t Schnorr checks, so a Byzantine sender gets one check
/// per attempt: a player's further statuses with invalid locks are skipped unchecked, and so is a
/// leader's further prepare certificate after one that did not verify (a different one is
/// equivocation, the real one included: that leader's attempt is lost, as any Byzantine leader's
/// can be).
#[test]
fn invalid_certificates_cost_one_check_per_sender_and_attempt() {
    let f = round();
    let forged: Vec<PrepareQc> = forgeries(&f)
        .into_iter()
        .map(|(_, q)| q)
        .filter(|q| q.attempt == f.qc.attempt && q.signature.len() == q.signers.len())
        .collect();
    assert!(forged.len() >= 3);
    let verdicts = |p: &mut Player, msgs: Vec<Vec<u8>>| -> Vec<String> {
        msgs.iter()
            .map(|m| match p.receive(&[m.as_slice()]).pop() {
                Some(Ok(_)) => "taken".to_owned(),
                Some(Err(Reject::Skip(s))) => format!("skip {s:?}"),
                Some(Err(Reject::Fault { reason, .. })) => format!("fault {reason:?}"),
                None => "nothing".to_owned(),
            })
            .collect()
    };

    // Statuses of attempt 1 to its leader, each with a lock (of attempt 0) that does not verify.
    let leader1 = f.cfg.leader(1);
    let lead = f.nodes.iter().find(|n| n.address() == leader1).unwrap();
    let sender = f.nodes.iter().find(|n| n.address() != leader1).unwrap();
    let mut p = Player::new(f.cfg.clone(), leader1, lead.key.clone(), lead.enc.clone()).unwrap();
    let _ = p.start_attempt(1);
    let statuses: Vec<Vec<u8>> = forged
        .iter()
        .map(|q| {
            let body = Body::Status {
                attempt: 1,
                lock: Some(q.clone()),
                evidence: Vec::new(),
                held: Vec::new(),
            };
            Envelope::sign(
                f.cfg.digest(),
                sender.address(),
                Some(leader1),
                body,
                &sender.key,
            )
            .encode()
        })
        .collect();
    let got = verdicts(&mut p, statuses);
    assert!(got[0].starts_with("fault Invalid"), "{got:?}");
    assert!(got[1..].iter().all(|v| v == "skip Duplicate"), "{got:?}");

    // The leader of attempt 0 sends a forged certificate, another, the first again, the real one.
    let leader0 = f.cfg.leader(0);
    let lead = f.nodes.iter().find(|n| n.address() == leader0).unwrap();
    let me = f.nodes.iter().find(|n| n.address() != leader0).unwrap();
    let mut p = Player::new(f.cfg.clone(), me.address(), me.key.clone(), me.enc.clone()).unwrap();
    let _ = p.start_attempt(0);
    let prepared = |q: &PrepareQc| {
        Envelope::sign(
            f.cfg.digest(),
            leader0,
            None,
            Body::Prepared(q.clone()),
            &lead.key,
        )
        .encode()
    };
    let got = verdicts(
        &mut p,
        vec![
            prepared(&forged[0]),
            prepared(&forged[1]),
            prepared(&forged[0]),
            prepared(&f.qc),
        ],
    );
    assert!(got[0].starts_with("fault Invalid"), "{got:?}");
    assert_eq!(got[1], "fault Equivocation", "{got:?}");
    assert_eq!(got[2], "skip Duplicate", "{got:?}");
    assert_eq!(got[3], "fault Equivocation", "{got:?}");
    assert!(p.lock().is_none());
}
