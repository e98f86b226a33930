use super::*;
use kms_client::node::LastRound;

#[test]
fn percentile_is_nearest_rank() {
    let sorted: Vec<f64> = (1..=200).map(f64::from).collect();
    assert_eq!(percentile(&sorted, 50.0), Some(100.0));
    assert_eq!(percentile(&sorted, 99.0), Some(198.0));
    assert_eq!(percentile(&sorted, 100.0), Some(200.0));
    assert_eq!(percentile(&sorted, 0.0), Some(1.0));
    assert_eq!(percentile(&[7.0], 50.0), Some(7.0));
    assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
    // Four values: the lower middle one.
    assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 50.0), Some(2.0));
    assert_eq!(percentile(&[1.0, 2.0, 3.0], 50.0), Some(2.0));
    assert_eq!(percentile(&[], 50.0), None);
    assert_eq!(percentile(&[1.0], 101.0), None);
    assert_eq!(percentile(&[1.0], -1.0), None);
}

#[test]
fn summary_sorts_and_ignores_non_numbers() {
    let s = Summary::of(&[5.0, 1.0, f64::NAN, 3.0, 2.0, 4.0]).unwrap();
    assert_eq!(
        s,
        Summary {
            count: 5,
            min: 1.0,
            p50: 3.0,
            p99: 5.0,
            max: 5.0,
            mean: 3.0,
        }
    );
    assert_eq!(Summary::of(&[]), None);
    assert_eq!(Summary::of(&[f64::INFINITY]), None);
    // The mean is rounded to microseconds (three decimals of a millisecond).
    assert_eq!(Summary::of(&[1.0, 1.0, 2.0]).unwrap().mean, 1.333);
}

fn status(epoch: Option<u64>, last: Option<(u64, &str, u64)>) -> Option<NodeStatus> {
    Some(NodeStatus {
        node: "0x0000000000000000000000000000000000000001".into(),
        epoch,
        threshold: Some(3),
        members: 4,
        interval_secs: 5,
        round: None,
        last_round: last.map(|(epoch, outcome, duration_ms)| LastRound {
            epoch,
            outcome: outcome.into(),
            finished_at: 0,
            duration_ms,
        }),
        faults: Vec::new(),
    })
}

#[test]
fn round_log_keeps_each_nodes_first_report_per_epoch() {
    let mut log = RoundLog::new(4);
    // Node 3 does not answer, node 4 has not finished the round yet.
    log.record(&[
        status(Some(10), Some((10, "finalized", 120))),
        status(Some(10), Some((10, "finalized", 150))),
        None,
        status(None, None),
    ]);
    assert_eq!(log.finalized_epochs(), vec![10]);
    assert!(!log.complete(10));
    log.record(&[
        // A later poll of the same round does not replace the first report.
        status(Some(10), Some((10, "finalized", 999))),
        status(Some(10), Some((10, "finalized", 150))),
        status(Some(10), Some((10, "finalized", 130))),
        status(Some(10), Some((10, "caught_up", 0))),
    ]);
    assert!(log.complete(10));
    // The node that caught up does not count towards the durations.
    assert_eq!(
        log.figures(10),
        Some(RoundFigures {
            epoch: 10,
            max_ms: 150.0,
            median_ms: 130.0,
            finalized: 3,
        })
    );
    assert_eq!(log.figures(11), None);
}

#[test]
fn round_log_counts_rounds_nobody_finalized() {
    let mut log = RoundLog::new(2);
    log.record(&[
        status(None, Some((7, "failed", 5000))),
        status(None, Some((7, "failed", 5000))),
    ]);
    log.record(&[
        status(Some(8), Some((8, "finalized", 90))),
        status(Some(8), Some((8, "failed", 5000))),
    ]);
    log.record(&[
        status(Some(8), Some((9, "failed", 5000))),
        status(Some(8), Some((9, "failed", 5000))),
    ]);
    assert_eq!(log.finalized_epochs(), vec![8]);
    // Epoch 8 was finalized by one node, so it is no failed round.
    assert_eq!(log.failed_rounds(8), 1);
    assert_eq!(log.failed_rounds(9), 2);
    assert_eq!(log.failed_rounds(6), 0);
    // The durations of failed reports are never figures.
    assert_eq!(log.figures(7), None);
    assert_eq!(log.figures(8).map(|f| f.max_ms), Some(90.0));
}

#[test]
fn the_floor_decrypts_both_ways() {
    let floor = Floor::new("demo", 4, 3).unwrap();
    floor.minimum().unwrap();
    floor.client_path().unwrap();
    // A tampered ciphertext must fail the floor, or it would time nothing useful.
    let mut bad = Floor::new("demo", 4, 3).unwrap();
    if let Some(b) = bad.ciphertext.last_mut() {
        *b ^= 1;
    }
    assert!(bad.minimum().is_err());
}
