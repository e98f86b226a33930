//! Runs one round among simulated nodes with the real [`RoundDriver`] (the node's own lifecycle):
//! a virtual clock, an in-memory network with a fixed latency, a disk per node (what the driver
//! asked to persist), and the faults a [`Network`] carries out: messages dropped, rewritten or
//! injected, nodes that crash (and come back from their disk) or are cut off, writes that fail.
//!
//! A node goes down when its own driver reaches the phase the network names (so a crash "at the
//! acks" happens before its acks leave, whatever the clock says), and comes back at the nominal
//! start of the phase named for its return.

use super::{message_phase, Delivery, Network, Phase};
use crate::lifecycle::{
    Action, Event, Journal, RoundDriver, RoundStart, Schedule, ACKS_END, DEALS_END,
};
use crate::message::PrepareQc;
use crate::observe::Output;
use crate::round::RoundConfig;
use crate::{Address, Envelope, Reject};
use kms_crypto::bls::Share;
use kms_crypto::seal::EncryptionKey;
use kms_crypto::{bn254, Secret};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// One node as the executor runs it.
pub(crate) struct ExecNode {
    pub key: Arc<bn254::SecretKey>,
    pub enc: Arc<EncryptionKey>,
    pub seed: Secret<[u8; 32]>,
    /// The previous epoch's share (a reshare dealer deals from it).
    pub share: Option<Share>,
    driver: Option<RoundDriver>,
    /// What the driver made durable.
    pub disk: Journal,
    up: bool,
    /// When it comes back (virtual time), if it will.
    back_at: Option<Duration>,
    /// Down with its memory lost (it comes back from its disk).
    crashed: bool,
    started: bool,
    /// Lock and certificate at the crash.
    before: Option<(Option<PrepareQc>, bool)>,
    writes: u64,
}

impl ExecNode {
    pub fn new(
        key: Arc<bn254::SecretKey>,
        enc: Arc<EncryptionKey>,
        seed: Secret<[u8; 32]>,
        share: Option<Share>,
    ) -> Self {
        Self {
            key,
            enc,
            seed,
            share,
            driver: None,
            disk: Journal::default(),
            up: true,
            back_at: None,
            crashed: false,
            started: false,
            before: None,
            writes: 0,
        }
    }

    pub fn driver(&self) -> Option<&RoundDriver> {
        self.driver.as_ref()
    }
}

/// A restart seen by the executor.
#[derive(Clone, Debug)]
pub struct Restart {
    /// The node that crashed and came back from its disk.
    pub node: Address,
    /// The phase it came back for.
    pub phase: Phase,
    /// Restoring its disk and saving again gives the same decisions.
    pub save_round_trips: bool,
    /// Its lock before the crash and after the restore.
    pub lock_before: Option<PrepareQc>,
    /// Its lock after the restore; the scenario checks require it to equal `lock_before`.
    pub lock_after: Option<PrepareQc>,
    /// Whether it held a certificate before the crash, and after the restore.
    pub cert_before: bool,
    /// Whether the restored node holds a certificate; a certificate held before must survive.
    pub cert_after: bool,
}

/// What a run produced.
#[derive(Default)]
pub(crate) struct ExecResult {
    pub outputs: BTreeMap<Address, Output>,
    pub transcript: Vec<(Phase, Address, Address, Vec<u8>)>,
    pub rejects: Vec<(Address, Reject)>,
    pub restarts: Vec<Restart>,
    /// Players up at the nominal start of each attempt.
    pub up_per_attempt: Vec<usize>,
    /// Writes that failed (and were retried).
    pub failed_writes: usize,
}

pub(crate) struct Exec<'n> {
    cfg: Arc<RoundConfig>,
    schedule: Schedule,
    latency: Duration,
    now: Duration,
    seq: u64,
    queue: BTreeMap<(Duration, u64), (Address, Address, Vec<u8>)>,
    net: &'n mut dyn Network,
    pub nodes: BTreeMap<Address, ExecNode>,
    /// Nominal phase starts not reached yet, in order.
    phases: Vec<(Duration, Phase)>,
    /// Players up per attempt: (at the nominal start, when first started).
    up_counts: Vec<(Option<usize>, Option<usize>)>,
    pub res: ExecResult,
}

impl<'n> Exec<'n> {
    pub fn new(
        cfg: Arc<RoundConfig>,
        schedule: Schedule,
        net: &'n mut dyn Network,
        nodes: BTreeMap<Address, ExecNode>,
    ) -> Self {
        let mut phases = vec![
            (Duration::ZERO, Phase::Deal),
            (schedule.at(DEALS_END), Phase::Acks),
            (schedule.at(ACKS_END), Phase::Log),
        ];
        for a in 0..cfg.attempts() {
            phases.push((schedule.attempt_start(&cfg, a), Phase::Agreement(a)));
        }
        Self {
            cfg,
            schedule,
            latency: Duration::from_millis(1),
            now: Duration::ZERO,
            seq: 0,
            queue: BTreeMap::new(),
            net,
            nodes,
            phases,
            up_counts: Vec::new(),
            res: ExecResult::default(),
        }
    }

    /// The nominal start of a phase.
    fn phase_time(&self, p: Phase) -> Duration {
        match p {
            Phase::Deal => Duration::ZERO,
            Phase::Acks => self.schedule.at(DEALS_END),
            Phase::Log => self.schedule.at(ACKS_END),
            Phase::Agreement(a) => self.schedule.attempt_start(&self.cfg, a),
        }
    }

    pub fn run(&mut self) {
        let addrs: Vec<Address> = self.nodes.keys().copied().collect();
        let end = self.schedule.interval;
        loop {
            for a in &addrs {
                self.maybe_start(a);
            }
            // Nodes due back.
            for a in &addrs {
                let due = self
                    .nodes
                    .get(a)
                    .is_some_and(|n| !n.up && n.back_at.is_some_and(|t| t <= self.now));
                if due {
                    self.bring_back(a);
                }
            }
            // Nominal phase starts: nodes that did not reach the phase on their own go down by
            // the clock, replays and stale messages go in, up players are counted.
            while let Some((t, p)) = self.phases.first().copied() {
                if t > self.now {
                    break;
                }
                self.phases.remove(0);
                for a in &addrs {
                    let up = self.nodes.get(a).is_some_and(|n| n.up && n.started);
                    if up && self.net.goes_down(a, p) {
                        self.go_down(a, p);
                    }
                }
                if let Phase::Agreement(a) = p {
                    self.count_up(a, true);
                }
                for (from, to, bytes) in self.net.inject(p) {
                    self.enqueue(from, to, bytes);
                }
            }
            // Deliveries due, one batch per recipient.
            let due: Vec<(Duration, u64)> = self
                .queue
                .range(..=(self.now, u64::MAX))
                .map(|(k, _)| *k)
                .collect();
            let mut batches: BTreeMap<Address, Vec<(Address, Vec<u8>)>> = BTreeMap::new();
            for k in due {
                if let Some((from, to, bytes)) = self.queue.remove(&k) {
                    batches.entry(to).or_default().push((from, bytes));
                }
            }
            for (to, msgs) in batches {
                self.deliver_batch(to, msgs);
            }
            // Timers.
            for a in &addrs {
                let now = self.now;
                let ready = self.nodes.get(a).is_some_and(|n| {
                    n.up && n
                        .driver
                        .as_ref()
                        .and_then(RoundDriver::next_timeout)
                        .is_some_and(|t| t <= now)
                });
                if ready {
                    if let Some(d) = self.nodes.get_mut(a).and_then(|n| n.driver.as_mut()) {
                        d.tick(now);
                    }
                    self.drain(a);
                }
            }
            if self.done() {
                // What the network still has to inject goes in now, without running the clock
                // through the rest of the interval for it.
                if !self.phases.is_empty() && self.net.injects() {
                    let rest = std::mem::take(&mut self.phases);
                    for (_, p) in rest {
                        for (from, to, bytes) in self.net.inject(p) {
                            self.enqueue(from, to, bytes);
                        }
                    }
                    continue;
                }
                break;
            }
            let Some(next) = self.next_event() else {
                break;
            };
            if next > end {
                break;
            }
            // Timers at or before now already ran: time moves on.
            self.now = next.max(self.now + Duration::from_micros(1));
        }
    }

    /// After the round: a player that holds the certificate but lacks logs of its set gets the
    /// logs a finalized peer holds (as a node that asks a peer would).
    pub fn fetch_missing_logs(&mut self) {
        let source: Vec<Vec<u8>> = self
            .res
            .outputs
            .keys()
            .find_map(|a| self.nodes.get(a)?.driver()?.player())
            .map(|p| p.logs().map(Envelope::encode).collect())
            .unwrap_or_default();
        if source.is_empty() {
            return;
        }
        let waiting: Vec<Address> = self
            .nodes
            .iter()
            .filter(|(a, n)| {
                n.up && !self.res.outputs.contains_key(*a)
                    && n.driver
                        .as_ref()
                        .and_then(RoundDriver::player)
                        .is_some_and(|p| p.certificate().is_some())
            })
            .map(|(a, _)| *a)
            .collect();
        for a in waiting {
            let refs: Vec<&[u8]> = source.iter().map(Vec::as_slice).collect();
            let now = self.now;
            if let Some(d) = self.nodes.get_mut(&a).and_then(|n| n.driver.as_mut()) {
                let _ = d.handle(now, &refs);
            }
            self.drain(&a);
        }
    }

    /// Records the players up in attempt `a`: at its nominal start, or (for an attempt the
    /// round finished before the clock reached) when a node first started it.
    fn count_up(&mut self, a: u32, nominal: bool) {
        let up = self
            .cfg
            .players
            .iter()
            .filter(|o| self.nodes.get(&o.address).is_some_and(|n| n.up))
            .count();
        let i = a as usize;
        if self.up_counts.len() <= i {
            self.up_counts.resize(i + 1, (None, None));
        }
        if let Some(slot) = self.up_counts.get_mut(i) {
            if nominal {
                slot.0 = Some(up);
            } else if slot.1.is_none() {
                slot.1 = Some(up);
            }
        }
        self.res.up_per_attempt = self
            .up_counts
            .iter()
            .map(|(n, e)| n.or(*e).unwrap_or(0))
            .collect();
    }

    fn next_event(&self) -> Option<Duration> {
        let mut t: Vec<Duration> = Vec::new();
        t.extend(self.queue.keys().next().map(|(t, _)| *t));
        t.extend(self.phases.first().map(|(t, _)| *t));
        for n in self.nodes.values() {
            if n.up {
                t.extend(n.driver.as_ref().and_then(RoundDriver::next_timeout));
            } else {
                t.extend(n.back_at);
            }
        }
        t.into_iter().min()
    }

    /// Every player that is up has finalized, none is due back, nothing is in flight.
    fn done(&self) -> bool {
        let players_done = self.cfg.players.iter().all(|o| {
            self.nodes.get(&o.address).is_none_or(|n| {
                !n.up && n.back_at.is_none()
                    || n.driver.as_ref().is_some_and(RoundDriver::is_finalized)
            })
        });
        players_done && self.queue.is_empty()
    }

    fn enqueue(&mut self, from: Address, to: Address, bytes: Vec<u8>) {
        self.seq += 1;
        self.queue
            .insert((self.now + self.latency, self.seq), (from, to, bytes));
    }

    /// Creates a node's driver at the start of the round (unless it is down from the start).
    fn maybe_start(&mut self, a: &Address) {
        let Some(n) = self.nodes.get(a) else {
            return;
        };
        if n.started {
            return;
        }
        if self.net.goes_down(a, Phase::Deal) {
            self.go_down(a, Phase::Deal);
            if let Some(n) = self.nodes.get_mut(a) {
                n.started = true;
            }
            return;
        }
        self.create(a, Phase::Deal);
    }

    fn create(&mut self, a: &Address, phase: Phase) {
        let Some(n) = self.nodes.get_mut(a) else {
            return;
        };
        let first = !n.started;
        n.started = true;
        let start = RoundStart {
            cfg: self.cfg.clone(),
            me: *a,
            key: n.key.clone(),
            enc: n.enc.clone(),
            seed: n.seed.duplicate(),
            share: n.share.as_ref().map(|s| Share {
                point: s.point,
                value: s.value.duplicate(),
            }),
            restored: n.disk.clone(),
            schedule: self.schedule,
        };
        let Ok(driver) = RoundDriver::new(start, self.now) else {
            return;
        };
        n.driver = Some(driver);
        n.up = true;
        n.back_at = None;
        if let Some((lock_before, cert_before)) = n.before.take() {
            // What the disk restores to, before the new driver acts on it.
            let restored = n.disk.decisions.as_ref().and_then(|d| {
                crate::Player::restore(
                    self.cfg.clone(),
                    *a,
                    n.key.clone(),
                    n.enc.clone(),
                    d,
                    &n.disk.messages,
                )
                .ok()
            });
            self.res.restarts.push(Restart {
                node: *a,
                phase,
                save_round_trips: match (&restored, &n.disk.decisions) {
                    (Some(p), Some(d)) => p.decisions() == *d,
                    (None, None) => true,
                    _ => false,
                },
                lock_before,
                lock_after: restored.as_ref().and_then(|p| p.lock().cloned()),
                cert_before,
                cert_after: restored.as_ref().is_some_and(|p| p.certificate().is_some()),
            });
        }
        self.drain_with(a, first);
    }

    fn go_down(&mut self, a: &Address, at: Phase) {
        let restarts = self.net.restarts(a);
        let back = self.net.back_at(a).map(|p| self.phase_time(p));
        let Some(n) = self.nodes.get_mut(a) else {
            return;
        };
        n.up = false;
        n.back_at = back.map(|t| t.max(self.now + Duration::from_micros(1)));
        n.crashed = restarts;
        if restarts {
            // Memory is lost; the disk stays.
            let p = n.driver.as_ref().and_then(RoundDriver::player);
            n.before = Some((
                p.and_then(|p| p.lock().cloned()),
                p.is_some_and(|p| p.certificate().is_some()),
            ));
            n.driver = None;
        }
        let _ = at;
    }

    fn bring_back(&mut self, a: &Address) {
        let phase = super::phase_at(&self.cfg, &self.schedule, self.now);
        let Some(n) = self.nodes.get_mut(a) else {
            return;
        };
        if n.crashed || n.driver.is_none() {
            n.crashed = false;
            self.create(a, phase);
        } else {
            n.up = true;
            n.back_at = None;
            let now = self.now;
            if let Some(d) = n.driver.as_mut() {
                d.tick(now);
            }
            self.drain(a);
        }
    }

    fn deliver_batch(&mut self, to: Address, msgs: Vec<(Address, Vec<u8>)>) {
        let up = self
            .nodes
            .get(&to)
            .is_some_and(|n| n.up && n.driver.is_some());
        if !up {
            return;
        }
        let mut kept: Vec<(Address, Vec<u8>)> = Vec::new();
        for (from, bytes) in msgs {
            let phase = message_phase(&bytes);
            let d = Delivery {
                phase,
                from,
                to,
                bytes: &bytes,
            };
            let Some(delivered) = self.net.deliver(&d) else {
                continue;
            };
            let extra = self.net.extra_after(&d);
            for b in std::iter::once(delivered).chain(extra) {
                self.res
                    .transcript
                    .push((message_phase(&b), from, to, b.clone()));
                kept.push((from, b));
            }
        }
        if kept.is_empty() {
            return;
        }
        let refs: Vec<&[u8]> = kept.iter().map(|(_, b)| b.as_slice()).collect();
        let now = self.now;
        let verdicts = match self.nodes.get_mut(&to).and_then(|n| n.driver.as_mut()) {
            Some(d) => d.handle(now, &refs),
            None => return,
        };
        for r in verdicts.into_iter().flat_map(Result::err) {
            self.res.rejects.push((to, r));
        }
        self.drain(&to);
    }

    fn drain(&mut self, a: &Address) {
        self.drain_with(a, false);
    }

    /// Executes a node's actions until none is left (or it goes down).
    fn drain_with(&mut self, a: &Address, first: bool) {
        loop {
            let now = self.now;
            let Some(action) = self
                .nodes
                .get_mut(a)
                .and_then(|n| n.driver.as_mut())
                .and_then(RoundDriver::poll)
            else {
                break;
            };
            match action {
                Action::Persist(j) => {
                    let fails = {
                        let writes = self.nodes.get(a).map_or(0, |n| n.writes);
                        self.net.write_fails(a, writes)
                    };
                    let Some(n) = self.nodes.get_mut(a) else {
                        break;
                    };
                    n.writes += 1;
                    if fails {
                        self.res.failed_writes += 1;
                    } else {
                        n.disk.apply(&j);
                    }
                    if let Some(d) = n.driver.as_mut() {
                        d.persisted(now, !fails);
                    }
                }
                Action::Send { to, bytes } => {
                    let cut_off = self.nodes.get(a).is_none_or(|n| !n.up);
                    if !cut_off {
                        self.enqueue(*a, to, bytes.as_ref().clone());
                    }
                }
                Action::Finalize(f) => {
                    if let Some(n) = self.nodes.get_mut(a) {
                        if let Some(d) = n.driver.as_mut() {
                            d.installed(now, true);
                        }
                    }
                    self.res.outputs.insert(*a, f.output);
                }
                Action::Event(e) => {
                    let reached = match e {
                        Event::Phase(crate::lifecycle::Phase::Acks) => Some(Phase::Acks),
                        Event::Phase(crate::lifecycle::Phase::Logs) => Some(Phase::Log),
                        Event::Attempt(k) => Some(Phase::Agreement(k)),
                        _ => None,
                    };
                    if let Some(p) = reached {
                        let down = self.net.goes_down(a, p);
                        if down {
                            self.go_down(a, p);
                        }
                        if let Phase::Agreement(k) = p {
                            self.count_up(k, false);
                        }
                        if down && self.nodes.get(a).is_some_and(|n| n.driver.is_none()) {
                            break;
                        }
                    }
                }
            }
        }
        if first {
            // The dealer's honest deals, its own included (that one never leaves the node).
            let honest = self.nodes.get(a).and_then(|n| {
                crate::Dealer::new(
                    self.cfg.clone(),
                    *a,
                    n.key.clone(),
                    &n.seed,
                    n.share.as_ref().map(|s| &s.value),
                )
                .ok()
            });
            if let Some((_, deals)) = honest {
                let _ = self.net.tamper_deals(a, deals);
            }
        }
    }
}
