//! Rounds as the nodes report them.

use super::*;

/// One node's report of a finished round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Finished {
    pub outcome: String,
    pub duration_ms: u64,
}

/// Every node's `last_round`, by epoch, as seen by successive polls (the first report is kept).
#[derive(Debug)]
pub(crate) struct RoundLog {
    pub(super) nodes: usize,
    pub(super) by_epoch: BTreeMap<u64, Vec<Option<Finished>>>,
}

impl RoundLog {
    pub fn new(nodes: usize) -> Self {
        Self {
            nodes,
            by_epoch: BTreeMap::new(),
        }
    }

    /// Notes each node's last finished round; `statuses` are in node order.
    pub fn record(&mut self, statuses: &[Option<NodeStatus>]) {
        let nodes = self.nodes;
        for (i, status) in statuses.iter().enumerate() {
            let Some(last) = status.as_ref().and_then(|s| s.last_round.as_ref()) else {
                continue;
            };
            let row = self
                .by_epoch
                .entry(last.epoch)
                .or_insert_with(|| vec![None; nodes]);
            if let Some(slot @ None) = row.get_mut(i) {
                *slot = Some(Finished {
                    outcome: last.outcome.clone(),
                    duration_ms: last.duration_ms,
                });
            }
        }
    }

    /// Epochs at least one node finalized, ascending.
    pub fn finalized_epochs(&self) -> Vec<u64> {
        self.by_epoch
            .iter()
            .filter(|(_, row)| row.iter().flatten().any(|f| f.outcome == "finalized"))
            .map(|(e, _)| *e)
            .collect()
    }

    /// Every node has reported this epoch's round.
    pub fn complete(&self, epoch: u64) -> bool {
        self.by_epoch
            .get(&epoch)
            .is_some_and(|row| row.iter().all(Option::is_some))
    }

    /// The round's durations over the nodes that finalized it; None when none did.
    pub fn figures(&self, epoch: u64) -> Option<RoundFigures> {
        let row = self.by_epoch.get(&epoch)?;
        let durations: Vec<f64> = row
            .iter()
            .flatten()
            .filter(|f| f.outcome == "finalized")
            .map(|f| f.duration_ms as f64)
            .collect();
        let summary = Summary::of(&durations)?;
        Some(RoundFigures {
            epoch,
            max_ms: summary.max,
            median_ms: summary.p50,
            finalized: summary.count,
        })
    }

    /// Rounds up to `last` that some node reported as failed and none finalized.
    pub fn failed_rounds(&self, last: u64) -> usize {
        self.by_epoch
            .range(..=last)
            .filter(|(_, row)| {
                let reports: Vec<&Finished> = row.iter().flatten().collect();
                reports.iter().any(|f| f.outcome == "failed")
                    && !reports.iter().any(|f| f.outcome == "finalized")
            })
            .count()
    }
}
