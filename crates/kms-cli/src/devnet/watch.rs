//! Watching the nodes: progress until every node holds an epoch, then each new epoch.

use super::*;
use kms_api::node::{MpkAnswer, StatusAnswer, MPK_PATH, STATUS_PATH};
use serde::de::DeserializeOwned;

/// What the progress line needs from one node's `GET /v1/status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct NodeView {
    /// The latest finalized epoch the node holds.
    pub epoch: Option<u64>,
    /// The round in progress: (epoch, kind, phase).
    pub round: Option<(u64, String, String)>,
}

impl NodeView {
    /// From a status answer's JSON; anything that is not one shows as a node without an epoch.
    #[cfg(test)]
    pub fn from_status(v: &Value) -> Self {
        StatusAnswer::deserialize(v)
            .map(|s| Self::from(&s))
            .unwrap_or_default()
    }
}

impl From<&StatusAnswer> for NodeView {
    fn from(s: &StatusAnswer) -> Self {
        Self {
            epoch: s.epoch,
            round: s
                .round
                .as_ref()
                .map(|r| (r.epoch, r.kind.clone(), r.phase.clone())),
        }
    }
}

/// One line of startup progress, e.g. `nodes up 4/4 · round epoch 1 dkg · phase acks`.
pub(crate) fn progress_line(views: &[Option<NodeView>], signer_up: Option<bool>) -> String {
    let up: Vec<&NodeView> = views.iter().flatten().collect();
    let mut parts = vec![format!("nodes up {}/{}", up.len(), views.len())];
    if let Some(s) = signer_up {
        parts.push(if s { "signer up" } else { "signer down" }.into());
    }
    if let Some(e) = up.iter().filter_map(|v| v.epoch).max() {
        let holding = up.iter().filter(|v| v.epoch == Some(e)).count();
        parts.push(format!("epoch {e} ({holding}/{})", views.len()));
    }
    let round = up
        .iter()
        .filter_map(|v| v.round.as_ref())
        .max_by_key(|r| r.0);
    match round {
        Some((epoch, kind, _)) => {
            parts.push(format!("round epoch {epoch} {kind}"));
            let mut phases: Vec<(&str, usize)> = Vec::new();
            for v in &up {
                if let Some((e, _, phase)) = &v.round {
                    if e == epoch {
                        match phases.iter_mut().find(|(p, _)| p == phase) {
                            Some((_, n)) => *n += 1,
                            None => phases.push((phase, 1)),
                        }
                    }
                }
            }
            // Protocol order; unknown phases last.
            phases.sort_by_key(|(p, _)| PHASES.iter().position(|q| q == p).unwrap_or(PHASES.len()));
            match phases.as_slice() {
                [(phase, _)] => parts.push(format!("phase {phase}")),
                many => parts.push(format!(
                    "phases {}",
                    many.iter()
                        .map(|(p, n)| format!("{p} {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        }
        None if !up.is_empty() && up.iter().all(|v| v.epoch.is_none()) => {
            parts.push("waiting for the first round".into());
        }
        None => {}
    }
    parts.join(" · ")
}

/// Every node answers and holds an epoch, and the signer (when started) answers.
pub(crate) fn is_ready(views: &[Option<NodeView>], signer_up: Option<bool>) -> bool {
    signer_up != Some(false)
        && views
            .iter()
            .all(|v| v.as_ref().is_some_and(|v| v.epoch.is_some()))
}

/// A 2xx answer as `T`; None for anything else (not up yet, no epoch yet, a timeout).
pub(super) fn get_json<T: DeserializeOwned>(
    client: &reqwest::blocking::Client,
    url: &str,
) -> Option<T> {
    let answer = client.get(url).send().ok()?;
    if !answer.status().is_success() {
        return None;
    }
    answer.json().ok()
}

/// The network's key, as `GET /v1/mpk` gives it.
pub(super) struct Mpk {
    pub(super) mpk: String,
    pub(super) epoch: u64,
    pub(super) threshold: u64,
}

pub(super) struct Watch<'a> {
    pub(super) client: &'a reqwest::blocking::Client,
    pub(super) node_urls: &'a [String],
    pub(super) signer_url: Option<&'a str>,
    pub(super) signals: &'a Receiver<&'static str>,
    pub(super) started: Instant,
}

impl Watch<'_> {
    pub(super) fn get<T: DeserializeOwned>(&self, url: &str) -> Option<T> {
        get_json(self.client, url)
    }

    /// Every node's status at once (a slow node delays the line by its timeout, not N of them).
    pub(super) fn statuses(&self) -> Vec<Option<NodeView>> {
        let client = self.client;
        std::thread::scope(|s| {
            let polls: Vec<_> = self
                .node_urls
                .iter()
                .map(|url| {
                    s.spawn(move || {
                        get_json::<StatusAnswer>(client, &format!("{url}{STATUS_PATH}"))
                            .map(|s| NodeView::from(&s))
                    })
                })
                .collect();
            polls.into_iter().map(|p| p.join().ok().flatten()).collect()
        })
    }

    pub(super) fn signer_up(&self) -> Option<bool> {
        self.signer_url
            .map(|url| self.get::<Value>(&format!("{url}/healthz")).is_some())
    }

    /// The MPK from the first node that has one at `epoch` or later.
    pub(super) fn mpk(&self, epoch: u64) -> Option<Mpk> {
        self.node_urls.iter().find_map(|url| {
            let a: MpkAnswer = self.get(&format!("{url}{MPK_PATH}"))?;
            let m = Mpk {
                mpk: a.mpk,
                epoch: a.epoch,
                threshold: a.threshold,
            };
            (m.epoch >= epoch).then_some(m)
        })
    }

    pub(super) fn stamp(&self) -> String {
        format!("[{}]", elapsed(self.started.elapsed()))
    }

    /// Waits for a signal for up to `tick`; true when one came.
    pub(super) fn signalled(&self, tick: Duration) -> bool {
        match self.signals.recv_timeout(tick) {
            Ok(name) => {
                say_err(&format!("{name} received"));
                true
            }
            Err(RecvTimeoutError::Timeout) => false,
            // The watcher thread is gone: treat it as a stop request rather than run unstoppable.
            Err(RecvTimeoutError::Disconnected) => true,
        }
    }

    /// Progress until every node holds an epoch; then the MPK. None when a signal came first.
    pub(super) fn until_ready(
        &self,
        fleet: &mut Fleet,
        interval_secs: u64,
    ) -> Result<Option<Mpk>, CliError> {
        // Genesis waits for the next interval boundary and may need a retry round or two.
        let limit = Duration::from_secs(interval_secs.saturating_mul(5).saturating_add(60));
        let deadline = Instant::now() + limit;
        let mut last = String::new();
        loop {
            if let Some((name, status, log)) = fleet.exited() {
                return Err(exited_error(&name, status, &log));
            }
            let views = self.statuses();
            let signer = self.signer_up();
            let line = progress_line(&views, signer);
            if line != last {
                say_err(&format!("{} {line}", self.stamp()));
                last = line;
            }
            if is_ready(&views, signer) {
                let lowest = views
                    .iter()
                    .flatten()
                    .filter_map(|v| v.epoch)
                    .min()
                    .unwrap_or(0);
                if let Some(mpk) = self.mpk(lowest) {
                    return Ok(Some(mpk));
                }
            }
            if Instant::now() >= deadline {
                return Err(CliError::Failure(format!(
                    "the nodes did not all reach an epoch within {} s (last: {last}); their logs \
                     are node-*/node.log in the devnet directory",
                    limit.as_secs()
                )));
            }
            if self.signalled(Duration::from_millis(500)) {
                return Ok(None);
            }
        }
    }

    /// One line per new epoch until a signal; an error when a child exits on its own.
    pub(super) fn epochs(&self, fleet: &mut Fleet, first: &Mpk) -> Result<(), CliError> {
        let mut seen = first.epoch;
        let mut up_before = self.node_urls.len();
        loop {
            if self.signalled(Duration::from_secs(1)) {
                return Ok(());
            }
            if let Some((name, status, log)) = fleet.exited() {
                return Err(exited_error(&name, status, &log));
            }
            let views = self.statuses();
            let up = views.iter().flatten().count();
            if up != up_before {
                say_err(&format!(
                    "{} nodes up {up}/{}",
                    self.stamp(),
                    self.node_urls.len()
                ));
                up_before = up;
            }
            let newest = views.iter().flatten().filter_map(|v| v.epoch).max();
            let Some(epoch) = newest.filter(|e| *e > seen) else {
                continue;
            };
            seen = epoch;
            let holding = views
                .iter()
                .flatten()
                .filter(|v| v.epoch == Some(epoch))
                .count();
            let key = match self.mpk(epoch) {
                Some(m) if m.mpk == first.mpk => "mpk unchanged".to_string(),
                Some(m) => format!("MPK CHANGED to {}", m.mpk),
                None => "mpk not read".to_string(),
            };
            say(&format!(
                "{} epoch {epoch} · {holding}/{} nodes · {key}",
                self.stamp(),
                self.node_urls.len()
            ));
        }
    }
}
