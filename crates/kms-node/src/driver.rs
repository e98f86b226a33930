//! One round on one node: a thread that owns the round's [`RoundDriver`] (the lifecycle in
//! `kms-protocol`, the one the simulation runs) and executes what it asks for: journal writes to
//! the store, sends over the transport, the finalized epoch's install, and anchoring. Every
//! decision is the driver's; this file only moves bytes and reports, through [`RoundHost`], which
//! the node implements (so this module does not depend on the node).

use crate::state::StoredEpoch;
use kms_crypto::bls::{Commitment, Share};
use kms_crypto::seal::EncryptionKey;
use kms_crypto::{bn254, Secret};
use kms_protocol::lifecycle::{
    Action, Event, Finalized, Journal, RoundDriver, RoundStart as Start, Schedule, StartError,
};
use kms_protocol::{Address, Certificate, DecodeError, Reject, RoundConfig};
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Batches waiting for the round thread. A peer whose batch finds the queue full is told to
/// retry (503), which its transport does with backoff: backpressure instead of memory.
pub const QUEUE_DEPTH: usize = 64;

/// What the HTTP handler hands the round.
pub enum DriverMsg {
    /// A peer's batch of protocol messages for this round.
    Batch {
        /// The encoded messages, in the batch's order.
        msgs: Vec<Vec<u8>>,
        /// Where the rejected messages go back: their index in `msgs` and why.
        reply: tokio::sync::oneshot::Sender<Vec<(usize, Reject)>>,
    },
}

/// The round in progress, as `/v1/status` shows it.
#[derive(Clone, Debug)]
pub struct RoundStatus {
    /// The epoch the round would finalize.
    pub epoch: u64,
    /// "dkg" or "reshare".
    pub kind: &'static str,
    /// The protocol phase the round is in (`Phase::name`).
    pub phase: &'static str,
}

/// What the round thread needs from its node: keys, the store, the transport, and where the
/// outcome goes.
pub trait RoundHost: Send + Sync + 'static {
    /// The node's operator address.
    fn address(&self) -> Address;
    /// The operator's BN254 key and the node's X25519 encryption key.
    fn keys(&self) -> (Arc<bn254::SecretKey>, Arc<EncryptionKey>);
    /// The round's dealer seed, durable before this returns.
    fn seed(&self, epoch: u64, digest: &[u8; 32]) -> anyhow::Result<Secret<[u8; 32]>>;
    /// What was persisted of the round.
    fn journal(&self, epoch: u64, digest: &[u8; 32]) -> anyhow::Result<Journal>;
    /// Writes one update `j` of the round's journal; durable when this returns Ok.
    fn persist(&self, epoch: u64, digest: &[u8; 32], j: &Journal) -> anyhow::Result<()>;
    /// Queues a message for a member (retried until `deadline`).
    fn send(&self, to: Address, url: &str, round: [u8; 32], bytes: Arc<Vec<u8>>, deadline: Instant);
    /// Stores a finalized epoch (share and records in one transaction) and serves it.
    fn install(
        &self,
        record: StoredEpoch,
        share: Option<Share>,
        cfg: Arc<RoundConfig>,
        public: Commitment,
    ) -> anyhow::Result<()>;
    /// A round ended: `finalized` (with its certificate, to anchor) or `failed`.
    fn finished(
        &self,
        cfg: &Arc<RoundConfig>,
        outcome: &'static str,
        took: Duration,
        cert: Option<Certificate>,
    );
    /// A fault proven against `culprit`.
    fn fault(&self, culprit: &Address, code: &'static str);
    /// The round's progress, published for `/v1/status`.
    fn status(&self, s: RoundStatus);
}

/// Everything a round starts from.
pub struct RoundStart {
    /// The round's configuration.
    pub cfg: Arc<RoundConfig>,
    /// Each member's URL, where its messages are sent.
    pub urls: HashMap<Address, String>,
    /// The dealer's share of the previous epoch (reshare), if it holds one.
    pub share: Option<Share>,
    /// When the round's interval began: the origin of the protocol's clock.
    pub start: Instant,
    /// When the round thread stops; messages are retried until then.
    pub end: Instant,
    /// The round's length, over which its phases are timed.
    pub interval: Duration,
}

struct Runner<H: RoundHost> {
    node: Arc<H>,
    cfg: Arc<RoundConfig>,
    digest: [u8; 32],
    urls: HashMap<Address, String>,
    start: Instant,
    end: Instant,
    driver: RoundDriver,
}

/// Runs the round until its end.
pub fn run<H: RoundHost>(node: Arc<H>, s: RoundStart, rx: Receiver<DriverMsg>) {
    let epoch = s.cfg.epoch;
    match Runner::new(node, s) {
        Ok(r) => r.run(rx),
        Err(e) if e.is::<SatOut>() => {}
        Err(e) => tracing::error!(epoch, "cannot start the round: {e:#}"),
    }
}

/// The node takes no part in a round (reported as the outcome `sat_out`).
#[derive(Debug, thiserror::Error)]
#[error("sitting the round out")]
struct SatOut;

impl<H: RoundHost> Runner<H> {
    fn new(node: Arc<H>, s: RoundStart) -> anyhow::Result<Self> {
        let cfg = s.cfg;
        let digest = cfg.digest();
        let epoch = cfg.epoch;
        let me = node.address();
        let (key, enc) = node.keys();
        // Durable before any deal leaves: a restarted dealer deals the same bytes.
        let seed = node.seed(epoch, &digest)?;
        let restored = node.journal(epoch, &digest)?;
        if !restored.is_empty() {
            tracing::info!(epoch, "resuming the round from its journal");
        }
        let now = s.start.elapsed();
        let start = |restored: Journal| Start {
            cfg: cfg.clone(),
            me,
            key: key.clone(),
            enc: enc.clone(),
            seed: seed.duplicate(),
            share: s.share.as_ref().map(|sh| Share {
                point: sh.point,
                value: sh.value.duplicate(),
            }),
            restored,
            schedule: Schedule::new(s.interval),
        };
        let driver = match RoundDriver::new(start(restored), now) {
            Ok(d) => d,
            // A journal of an older format (a node upgraded mid-round): the votes it holds
            // cannot be read back, and voting again could contradict them, since the round's
            // digest and vote digests are the same. The node sits the round out and catches up
            // once the others finalize.
            Err(StartError::Restore(DecodeError::BadVersion)) => {
                tracing::warn!(
                    epoch,
                    "the round's journal is from an older version; sitting this round out"
                );
                node.finished(&cfg, "sat_out", Duration::ZERO, None);
                return Err(SatOut.into());
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Self {
            node,
            cfg,
            digest,
            urls: s.urls,
            start: s.start,
            end: s.end,
            driver,
        })
    }

    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn run(mut self, rx: Receiver<DriverMsg>) {
        let cfg = self.cfg.clone();
        tracing::info!(
            epoch = cfg.epoch,
            kind = kind(&cfg),
            players = cfg.players.len(),
            dealers = cfg.dealers.len(),
            "round started"
        );
        self.publish(self.driver.phase());
        self.execute();
        loop {
            let now = Instant::now();
            if now >= self.end {
                break;
            }
            let wake = self
                .driver
                .next_timeout()
                .map(|t| self.start + t)
                .unwrap_or(self.end)
                .min(self.end);
            match rx.recv_timeout(wake.saturating_duration_since(now)) {
                Ok(DriverMsg::Batch { msgs, reply }) => {
                    let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
                    let began = Instant::now();
                    let verdicts = self.driver.handle(self.now(), &refs);
                    let rejects: Vec<(usize, Reject)> = verdicts
                        .into_iter()
                        .enumerate()
                        .filter_map(|(i, r)| r.err().map(|e| (i, e)))
                        .collect();
                    self.report(&rejects, refs.len(), began);
                    self.execute();
                    let _ = reply.send(rejects);
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.driver.tick(self.now());
                    self.execute();
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        if !self.driver.is_finalized() && self.driver.player().is_some() {
            tracing::warn!(epoch = cfg.epoch, "round ended without finalizing");
            self.node
                .finished(&cfg, "failed", self.start.elapsed(), None);
        }
    }

    /// Logs a batch's outcome; faults are counted against their culprits.
    fn report(&self, rejects: &[(usize, Reject)], n: usize, began: Instant) {
        tracing::debug!(
            epoch = self.cfg.epoch,
            messages = n,
            rejected = rejects.len(),
            ms = began.elapsed().as_millis() as u64,
            "batch"
        );
        for (_, r) in rejects {
            match r {
                Reject::Fault { culprit, .. } => {
                    tracing::warn!(epoch = self.cfg.epoch, code = r.code(), "{r}");
                    self.node.fault(culprit, r.code());
                }
                Reject::Skip(_) => tracing::debug!(epoch = self.cfg.epoch, "{r}"),
            }
        }
    }

    /// Executes the driver's actions in order.
    fn execute(&mut self) {
        while let Some(action) = self.driver.poll() {
            match action {
                Action::Persist(j) => {
                    let r = self.node.persist(self.cfg.epoch, &self.digest, &j);
                    if let Err(e) = &r {
                        // Fail closed: what the write guards does not leave; the driver retries.
                        tracing::error!(
                            epoch = self.cfg.epoch,
                            "cannot write the round journal: {e:#}"
                        );
                    }
                    self.driver.persisted(self.now(), r.is_ok());
                }
                Action::Send { to, bytes } => self.send(to, bytes),
                Action::Finalize(f) => {
                    let ok = self.install(*f);
                    self.driver.installed(self.now(), ok);
                }
                Action::Event(e) => match e {
                    Event::Phase(p) => {
                        tracing::debug!(epoch = self.cfg.epoch, phase = p.name(), "phase");
                        self.publish(p);
                    }
                    Event::Attempt(a) => {
                        tracing::debug!(epoch = self.cfg.epoch, attempt = a, "attempt")
                    }
                    Event::CannotFinalize(why) => {
                        tracing::warn!(epoch = self.cfg.epoch, "cannot finalize yet: {why}")
                    }
                },
            }
        }
    }

    fn send(&self, to: Address, bytes: Arc<Vec<u8>>) {
        if let Some(url) = self.urls.get(&to) {
            self.node.send(to, url, self.digest, bytes, self.end);
        }
    }

    /// Stores the finalized epoch (share and records in one transaction) and serves it.
    fn install(&self, f: Finalized) -> bool {
        let out = f.output;
        for (dealer, v) in &out.verdicts {
            if *v != kms_protocol::DealerOutcome::NotIncluded
                && !matches!(v, kms_protocol::DealerOutcome::Included { .. })
            {
                tracing::warn!(
                    epoch = self.cfg.epoch,
                    dealer = %kms_protocol::hex_address(dealer),
                    "dealer excluded: {v:?}"
                );
            }
        }
        let record = StoredEpoch {
            epoch: out.epoch,
            config: self.cfg.encode(),
            certificate: out.certificate.encode(),
            public: out.public.to_bytes(),
            logs: f.logs,
        };
        let cert = out.certificate.clone();
        match self
            .node
            .install(record, out.share, self.cfg.clone(), out.public)
        {
            Ok(()) => {
                let took = self.start.elapsed();
                tracing::info!(
                    epoch = self.cfg.epoch,
                    attempt = cert.attempt,
                    ms = took.as_millis() as u64,
                    "round finalized"
                );
                self.node.finished(&self.cfg, "finalized", took, Some(cert));
                true
            }
            Err(e) => {
                tracing::error!(
                    epoch = self.cfg.epoch,
                    "cannot store the finalized epoch: {e:#}"
                );
                false
            }
        }
    }

    fn publish(&self, phase: kms_protocol::lifecycle::Phase) {
        self.node.status(RoundStatus {
            epoch: self.cfg.epoch,
            kind: kind(&self.cfg),
            phase: phase.name(),
        });
    }
}

fn kind(cfg: &RoundConfig) -> &'static str {
    if cfg.previous.is_some() {
        "reshare"
    } else {
        "dkg"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kms_protocol::sim::{rng_for, SimNode};
    use std::sync::Mutex;

    /// A host that hands out a journal and records what the round does with it.
    struct Host {
        me: SimNode,
        journal: Journal,
        calls: Mutex<Vec<String>>,
    }

    impl RoundHost for Host {
        fn address(&self) -> Address {
            self.me.address()
        }
        fn keys(&self) -> (Arc<bn254::SecretKey>, Arc<EncryptionKey>) {
            (self.me.key.clone(), self.me.enc.clone())
        }
        fn seed(&self, _: u64, _: &[u8; 32]) -> anyhow::Result<Secret<[u8; 32]>> {
            Ok(Secret::new([7; 32]))
        }
        fn journal(&self, _: u64, _: &[u8; 32]) -> anyhow::Result<Journal> {
            Ok(self.journal.clone())
        }
        fn persist(&self, _: u64, _: &[u8; 32], _: &Journal) -> anyhow::Result<()> {
            self.calls.lock().unwrap().push("persist".into());
            Ok(())
        }
        fn send(&self, _: Address, _: &str, _: [u8; 32], _: Arc<Vec<u8>>, _: Instant) {
            self.calls.lock().unwrap().push("send".into());
        }
        fn install(
            &self,
            _: StoredEpoch,
            _: Option<Share>,
            _: Arc<RoundConfig>,
            _: Commitment,
        ) -> anyhow::Result<()> {
            self.calls.lock().unwrap().push("install".into());
            Ok(())
        }
        fn finished(
            &self,
            _: &Arc<RoundConfig>,
            outcome: &'static str,
            _: Duration,
            _: Option<Certificate>,
        ) {
            self.calls
                .lock()
                .unwrap()
                .push(format!("finished {outcome}"));
        }
        fn fault(&self, _: &Address, _: &'static str) {}
        fn status(&self, _: RoundStatus) {}
    }

    /// A node upgraded in the middle of a round finds a journal it cannot read: it must not
    /// deal, ack or vote in that round again (its earlier votes are lost to it, and the vote
    /// digests are the same), so it sits the round out.
    #[test]
    fn a_journal_of_an_older_version_sits_the_round_out() {
        // A decisions record whose version byte is an older format's, and an empty journal.
        let old = Journal {
            decisions: Some(vec![1, 0, 0, 0]),
            ..Journal::default()
        };
        for (journal, sits_out) in [(old, true), (Journal::default(), false)] {
            let mut rng = rng_for(8, "driver");
            let mut nodes: Vec<SimNode> =
                (1..=4).map(|id| SimNode::generate(&mut rng, id)).collect();
            let ops = nodes.iter().map(|n| n.operator.clone()).collect();
            let cfg = Arc::new(RoundConfig::dkg(1, 31337, [1; 20], ops).unwrap());
            let urls = nodes
                .iter()
                .map(|n| (n.address(), "http://127.0.0.1:9".to_owned()))
                .collect();
            let host = Arc::new(Host {
                me: nodes.swap_remove(0),
                journal,
                calls: Mutex::new(Vec::new()),
            });
            let now = Instant::now();
            let start = RoundStart {
                cfg,
                urls,
                share: None,
                start: now,
                end: now + Duration::from_millis(300),
                interval: Duration::from_secs(5),
            };
            let (_tx, rx) = std::sync::mpsc::sync_channel(1);
            run(host.clone(), start, rx);
            let calls = host.calls.lock().unwrap().clone();
            if sits_out {
                assert_eq!(calls, vec!["finished sat_out".to_owned()]);
            } else {
                // The same round from an empty journal deals: a write, then sends.
                assert!(calls.iter().any(|c| c == "persist"), "{calls:?}");
                assert!(calls.iter().any(|c| c == "send"), "{calls:?}");
            }
        }
    }
}
