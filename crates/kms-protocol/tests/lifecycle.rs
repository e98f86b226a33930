//! The round lifecycle (`lifecycle::RoundDriver`) on its own: what it asks to write comes
//! before what depends on it, a write that fails holds those messages back until a retry
//! succeeds, and it never asks to be woken in the past.
#![cfg(test)]

use kms_protocol::lifecycle::{
    Action, Journal, RoundDriver, RoundStart, Schedule, DEALS_END, PERSIST_RETRY,
};
use kms_protocol::sim::{rng_for, SimNode};
use kms_protocol::{RawEnvelope, RoundConfig};
use std::sync::Arc;
use std::time::Duration;

const INTERVAL: Duration = Duration::from_secs(10);

fn cluster() -> (Arc<RoundConfig>, Vec<SimNode>) {
    let mut rng = rng_for(3, "keys");
    let nodes: Vec<SimNode> = (1..=4).map(|id| SimNode::generate(&mut rng, id)).collect();
    let ops = nodes.iter().map(|n| n.operator.clone()).collect();
    let cfg = Arc::new(RoundConfig::dkg(1, 31337, [7u8; 20], ops).unwrap());
    (cfg, nodes)
}

fn driver(cfg: &Arc<RoundConfig>, n: &SimNode, restored: Journal, now: Duration) -> RoundDriver {
    RoundDriver::new(
        RoundStart {
            cfg: cfg.clone(),
            me: n.address(),
            key: n.key.clone(),
            enc: n.enc.clone(),
            seed: n.seed.duplicate(),
            share: None,
            restored,
            schedule: Schedule::new(INTERVAL),
        },
        now,
    )
    .unwrap()
}

/// Drains the actions: writes answered with `ok`, sends returned, finalization acknowledged.
fn drain(d: &mut RoundDriver, now: Duration, ok: bool) -> (Vec<Vec<u8>>, Vec<Journal>) {
    let (mut sent, mut wrote) = (Vec::new(), Vec::new());
    while let Some(a) = d.poll() {
        match a {
            Action::Persist(j) => {
                wrote.push(j);
                d.persisted(now, ok);
            }
            Action::Send { bytes, .. } => sent.push(bytes.as_ref().clone()),
            Action::Finalize(_) => d.installed(now, true),
            Action::Event(_) => {}
        }
    }
    (sent, wrote)
}

fn kinds(sent: &[Vec<u8>]) -> Vec<kms_protocol::Kind> {
    sent.iter()
        .map(|b| RawEnvelope::parse(b).unwrap().kind)
        .collect()
}

#[test]
fn acks_leave_only_once_written_and_a_failed_write_holds_them() {
    let (cfg, nodes) = cluster();
    let me = &nodes[0];
    let mut d = driver(&cfg, me, Journal::default(), Duration::ZERO);
    // At start it deals (its seed is durable already): the deals leave without a write.
    let (sent, _) = drain(&mut d, Duration::ZERO, true);
    assert_eq!(kinds(&sent), vec![kms_protocol::Kind::Deal; 3]);

    // The others' deals come in; at the end of the deal phase the acks are decided.
    let mut deals = Vec::new();
    for n in &nodes[1..] {
        let (_, ds) =
            kms_protocol::Dealer::new(cfg.clone(), n.address(), n.key.clone(), &n.seed, None)
                .unwrap();
        deals.extend(
            ds.into_iter()
                .filter(|e| e.raw.recipient == Some(me.address()))
                .map(|e| e.encode()),
        );
    }
    let refs: Vec<&[u8]> = deals.iter().map(Vec::as_slice).collect();
    let t = Duration::from_millis(100);
    assert!(d.handle(t, &refs).iter().all(Result::is_ok));
    // Every deal is in: the phase ends early, the decision is written first, and with the write
    // failing, nothing that depends on it leaves.
    let (sent, wrote) = drain(&mut d, t, false);
    assert_eq!(
        wrote.len(),
        1,
        "one write for the acks decision and the deals"
    );
    assert!(wrote[0].decisions.is_some() && wrote[0].messages.len() == 3);
    assert!(
        sent.is_empty(),
        "acks left although their write failed: {:?}",
        kinds(&sent)
    );
    // Ticks before the retry time send nothing either.
    d.tick(t + PERSIST_RETRY / 2);
    let (sent, wrote) = drain(&mut d, t + PERSIST_RETRY / 2, false);
    assert!(sent.is_empty() && wrote.is_empty());
    assert_eq!(d.next_timeout(), Some(t + PERSIST_RETRY));
    // The retry writes the same (plus nothing new) and, once durable, the acks leave.
    let t2 = t + PERSIST_RETRY;
    d.tick(t2);
    let (sent, wrote) = drain(&mut d, t2, true);
    assert_eq!(wrote.len(), 1);
    assert_eq!(
        wrote[0].messages.len(),
        3,
        "the failed write's messages are written again"
    );
    assert_eq!(kinds(&sent), vec![kms_protocol::Kind::Acks; 3]);

    // Restored from what was written, it sends the very same acks again.
    let mut disk = Journal::default();
    disk.apply(&wrote[0]);
    let mut again = driver(&cfg, me, disk, t2);
    let (resent, _) = drain(&mut again, t2, true);
    let acks_before: Vec<&Vec<u8>> = sent.iter().collect();
    let acks_after: Vec<&Vec<u8>> = resent
        .iter()
        .filter(|b| RawEnvelope::parse(b).unwrap().kind == kms_protocol::Kind::Acks)
        .collect();
    assert_eq!(
        acks_after.first(),
        acks_before.first(),
        "a restart re-sends the same acks"
    );
}

#[test]
fn a_driver_never_asks_to_be_woken_in_the_past() {
    let (cfg, nodes) = cluster();
    let mut d = driver(&cfg, &nodes[1], Journal::default(), Duration::ZERO);
    let mut now = Duration::ZERO;
    let mut ticks = 0;
    // Alone, it runs by its timers only, through every phase and attempt to the end.
    while let Some(t) = d.next_timeout() {
        assert!(t > now, "woken at {t:?} at {now:?}");
        now = t;
        d.tick(now);
        let _ = drain(&mut d, now, true);
        ticks += 1;
        assert!(ticks < 100, "a timer loop");
        if now >= INTERVAL {
            break;
        }
    }
    assert!(now >= INTERVAL.mul_f64(DEALS_END));
    assert!(
        d.attempt() + 1 >= cfg.attempts(),
        "it went through every attempt"
    );
}
