//! One round on one node: a thread that owns the round's `Player` and `Dealer`, feeds them the
//! batches the HTTP handler passes in, ends phases on time (or as soon as everything expected
//! has arrived), and makes every decision durable before the messages that carry it leave.

use crate::node::{Node, RoundStatus};
use crate::state::EpochRecord;
use crate::transport::Outgoing;
use kms_crypto::bls::Share;
use kms_protocol::{
    Address, Body, Dealer, Envelope, Inbox, Kind, ObserveError, Player, RawEnvelope, Received,
    Reject, RoundConfig,
};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Phase ends, as fractions of the interval after the round's start.
const DEALS_END: f64 = 0.20;
const ACKS_END: f64 = 0.40;
const LOGS_END: f64 = 0.55;
const ATTEMPT: f64 = 0.10;

/// What the HTTP handler hands the round.
pub enum DriverMsg {
    Batch {
        msgs: Vec<Vec<u8>>,
        reply: tokio::sync::oneshot::Sender<Vec<(usize, Reject)>>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Deals,
    Acks,
    Logs,
    Agreement,
    Done,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Deals => "deals",
            Phase::Acks => "acks",
            Phase::Logs => "logs",
            Phase::Agreement => "agreement",
            Phase::Done => "done",
        }
    }
}

/// Everything a round starts from.
pub struct RoundStart {
    pub cfg: Arc<RoundConfig>,
    pub urls: HashMap<Address, String>,
    /// The dealer's share of the previous epoch (reshare), if it holds one.
    pub share: Option<Share>,
    pub start: Instant,
    pub end: Instant,
    pub interval: Duration,
}

pub struct Driver {
    node: Arc<Node>,
    cfg: Arc<RoundConfig>,
    digest: [u8; 32],
    me: Address,
    urls: HashMap<Address, String>,
    player: Option<Player>,
    dealer: Option<Dealer>,
    /// Message intake for a node that only deals (it left the player set).
    inbox: Option<Inbox>,
    start: Instant,
    end: Instant,
    interval: Duration,
    phase: Phase,
    deals_from: BTreeSet<Address>,
    acks_from: BTreeSet<Address>,
    logs_from: BTreeSet<Address>,
    statuses: BTreeSet<Address>,
    /// Statuses that arrived before this node started agreement, replayed when it does.
    early_statuses: Vec<Vec<u8>>,
    attempt: u32,
    attempt_started: Instant,
    proposed: bool,
    log_sent: bool,
    finalized: bool,
    local: VecDeque<Envelope>,
}

impl Driver {
    pub fn new(node: Arc<Node>, s: RoundStart) -> anyhow::Result<Self> {
        let cfg = s.cfg;
        let me = node.cfg.address;
        let digest = cfg.digest();
        let epoch = cfg.epoch;
        let player = match cfg.player_index(&me) {
            None => None,
            Some(_) => Some(match node.state.round(epoch, &digest)? {
                Some(saved) => {
                    tracing::info!(epoch, "resuming the round from its journal");
                    Player::resume(cfg.clone(), me, node.key.clone(), node.enc.clone(), &saved)?
                }
                None => Player::new(cfg.clone(), me, node.key.clone(), node.enc.clone())?,
            }),
        };
        let inbox = player.is_none().then(|| Inbox::new(cfg.clone(), me));
        let mut d = Self {
            node,
            cfg,
            digest,
            me,
            urls: s.urls,
            player,
            dealer: None,
            inbox,
            start: s.start,
            end: s.end,
            interval: s.interval,
            phase: Phase::Deals,
            deals_from: BTreeSet::new(),
            acks_from: BTreeSet::new(),
            logs_from: BTreeSet::new(),
            statuses: BTreeSet::new(),
            early_statuses: Vec::new(),
            attempt: 0,
            attempt_started: s.start,
            proposed: false,
            log_sent: false,
            finalized: false,
            local: VecDeque::new(),
        };
        d.deal(s.share)?;
        Ok(d)
    }

    fn at(&self, fraction: f64) -> Instant {
        self.start + self.interval.mul_f64(fraction)
    }

    /// Deals (a fresh seed is durable before the first deal leaves; a restart re-sends the same
    /// deals) and restores what the dealer had accepted and sent.
    fn deal(&mut self, share: Option<Share>) -> anyhow::Result<()> {
        if self.cfg.dealer_index(&self.me).is_none() {
            return Ok(());
        }
        let reshare = self.cfg.previous.is_some();
        if reshare && share.is_none() {
            tracing::info!(
                epoch = self.cfg.epoch,
                "no share of the previous epoch: taking part as a player only"
            );
            return Ok(());
        }
        let epoch = self.cfg.epoch;
        let seed = self.node.state.seed(epoch, &self.digest)?;
        let prev = share.map(|s| s.value);
        let (mut dealer, deals) = Dealer::new(
            self.cfg.clone(),
            self.me,
            self.node.key.clone(),
            &seed,
            prev.as_ref(),
        )?;
        let mut cache = kms_protocol::CommitmentCache::default();
        for bytes in self.node.state.dealer_acks(epoch, &self.digest)? {
            if let Ok(Ok(env)) = RawEnvelope::parse(&bytes).map(|r| r.open(&mut cache)) {
                if dealer.handle_acks(&env).is_ok() {
                    self.acks_from.insert(env.raw.sender);
                }
            }
        }
        if let Some(log) = self.node.state.dealer_log(epoch, &self.digest)? {
            if let Ok(Ok(env)) = RawEnvelope::parse(&log).map(|r| r.open(&mut cache)) {
                self.log_sent = true;
                self.emit(env);
            }
        }
        self.dealer = Some(dealer);
        for env in deals {
            self.emit(env);
        }
        Ok(())
    }

    /// Sends `env` to its recipient or to every member; copies for this node go to its own queue.
    fn emit(&mut self, env: Envelope) {
        let targets = match env.raw.recipient {
            Some(r) => vec![r],
            None => self.cfg.members(),
        };
        let bytes = Arc::new(env.encode());
        let deadline = tokio::time::Instant::from_std(self.end);
        for to in targets {
            if to == self.me {
                self.local.push_back(env.clone());
            } else if let Some(url) = self.urls.get(&to) {
                self.node.transport.send(
                    &self.node.rt,
                    to,
                    url,
                    Outgoing {
                        round: self.digest,
                        bytes: bytes.clone(),
                        deadline,
                    },
                );
            }
        }
    }

    /// Runs until the round's end.
    pub fn run(mut self, rx: Receiver<DriverMsg>) {
        let started = self.start;
        tracing::info!(
            epoch = self.cfg.epoch,
            kind = if self.cfg.previous.is_some() {
                "reshare"
            } else {
                "dkg"
            },
            players = self.cfg.players.len(),
            dealers = self.cfg.dealers.len(),
            dealing = self.dealer.is_some(),
            "round started"
        );
        self.publish_status();
        loop {
            let now = Instant::now();
            if now >= self.end {
                break;
            }
            self.advance(now);
            self.drain_local();
            let wait = Duration::from_millis(50).min(self.end.saturating_duration_since(now));
            match rx.recv_timeout(wait) {
                Ok(DriverMsg::Batch { msgs, reply }) => {
                    let verdicts = self.wire(msgs);
                    self.drain_local();
                    let _ = reply.send(verdicts);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        if !self.finalized && self.player.is_some() {
            tracing::warn!(epoch = self.cfg.epoch, "round ended without finalizing");
            self.node.metrics.round("failed");
            self.node
                .round_finished(self.cfg.epoch, "failed", started.elapsed());
        }
    }

    fn publish_status(&self) {
        self.node.set_round_status(Some(RoundStatus {
            epoch: self.cfg.epoch,
            kind: if self.cfg.previous.is_some() {
                "reshare"
            } else {
                "dkg"
            },
            phase: self.phase.name(),
        }));
    }

    fn set_phase(&mut self, p: Phase) {
        if self.phase != p {
            self.phase = p;
            tracing::debug!(epoch = self.cfg.epoch, phase = p.name(), "phase");
            self.publish_status();
        }
    }

    /// Ends phases whose time has come or whose messages are all in.
    fn advance(&mut self, now: Instant) {
        if self.phase == Phase::Deals {
            let all = self.deals_from.len() == self.cfg.dealers.len();
            if all || now >= self.at(DEALS_END) {
                if let Some(p) = self.player.as_mut() {
                    let acks = p.end_deals();
                    let saved = p.save();
                    self.save(&saved);
                    self.emit(acks);
                }
                self.set_phase(Phase::Acks);
            }
        }
        if self.phase == Phase::Acks {
            let all = self.acks_from.len() == self.cfg.players.len();
            if !self.log_sent && (all || now >= self.at(ACKS_END)) {
                self.log_sent = true;
                if let Some(log) = self.dealer.as_ref().and_then(Dealer::log) {
                    let bytes = log.encode();
                    match self
                        .node
                        .state
                        .save_dealer_log(self.cfg.epoch, &self.digest, &bytes)
                    {
                        Ok(()) => self.emit(log),
                        Err(e) => tracing::error!(%e, "cannot record the log; not sending it"),
                    }
                }
            }
            if self.log_sent || self.dealer.is_none() {
                self.set_phase(Phase::Logs);
            }
        }
        if self.phase == Phase::Logs {
            let all = self.logs_from.is_superset(&self.deals_from)
                && self.logs_from.len() >= self.cfg.min_dealings();
            if self.player.is_none() {
                self.set_phase(Phase::Done);
            } else if all || now >= self.at(LOGS_END) {
                self.set_phase(Phase::Agreement);
                self.start_attempt(0, now);
                let early = std::mem::take(&mut self.early_statuses);
                if !early.is_empty() {
                    self.wire(early);
                }
            }
        }
        if self.phase == Phase::Agreement {
            if self.finalized {
                self.set_phase(Phase::Done);
                return;
            }
            let attempt_len = self.interval.mul_f64(ATTEMPT);
            if now >= self.attempt_started + attempt_len {
                self.start_attempt(self.attempt + 1, now);
            }
            let leader = self.cfg.leader(self.attempt) == self.me;
            let all = self.statuses.len() == self.cfg.players.len();
            if leader && !self.proposed && (all || now >= self.attempt_started + attempt_len / 2) {
                self.proposed = true;
                if let Some(p) = self.player.as_mut() {
                    let out = p.propose();
                    let saved = p.save();
                    self.save(&saved);
                    for env in out {
                        self.emit(env);
                    }
                }
            }
        }
    }

    fn start_attempt(&mut self, attempt: u32, now: Instant) {
        tracing::debug!(
            epoch = self.cfg.epoch,
            attempt,
            deals = self.deals_from.len(),
            logs = self.logs_from.len(),
            "attempt"
        );
        self.attempt = attempt;
        self.attempt_started = now;
        self.statuses.clear();
        self.proposed = false;
        if let Some(p) = self.player.as_mut() {
            let status = p.start_attempt(attempt);
            let saved = p.save();
            self.save(&saved);
            self.emit(status);
        }
    }

    fn save(&self, saved: &[u8]) {
        if let Err(e) = self
            .node
            .state
            .save_round(self.cfg.epoch, &self.digest, saved)
        {
            tracing::error!(%e, "cannot save the round journal");
        }
    }

    fn drain_local(&mut self) {
        while !self.local.is_empty() {
            let envs: Vec<Envelope> = self.local.drain(..).collect();
            let results = match (self.player.as_mut(), self.inbox.as_mut()) {
                (Some(p), _) => p.receive_decoded(envs),
                (None, Some(i)) => i
                    .accept_decoded(envs)
                    .into_iter()
                    .map(|r| r.map(received))
                    .collect(),
                (None, None) => Vec::new(),
            };
            self.after(results);
        }
    }

    /// A batch from a peer: one verdict per refused message.
    fn wire(&mut self, msgs: Vec<Vec<u8>>) -> Vec<(usize, Reject)> {
        let mut msgs = msgs;
        if self.phase < Phase::Agreement {
            // A status for the first attempt can beat this node to agreement; keep it for then.
            let (early, rest): (Vec<_>, Vec<_>) = msgs.into_iter().partition(|m| {
                RawEnvelope::parse(m)
                    .is_ok_and(|r| r.kind == Kind::Status && r.round == self.digest)
            });
            if self.early_statuses.len() + early.len() <= 2 * self.cfg.players.len() {
                self.early_statuses.extend(early);
            }
            msgs = rest;
        }
        let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
        let began = Instant::now();
        let results = match (self.player.as_mut(), self.inbox.as_mut()) {
            (Some(p), _) => p.receive(&refs),
            (None, Some(i)) => i
                .accept(&refs)
                .into_iter()
                .map(|r| r.map(received))
                .collect(),
            (None, None) => Vec::new(),
        };
        let rejects: Vec<(usize, Reject)> = results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e.clone())))
            .collect();
        tracing::debug!(
            epoch = self.cfg.epoch,
            messages = refs.len(),
            rejected = rejects.len(),
            ms = began.elapsed().as_millis() as u64,
            "batch"
        );
        for (_, r) in &rejects {
            tracing::debug!(epoch = self.cfg.epoch, "rejected: {r}");
            if r.reason == kms_protocol::RejectReason::Equivocation {
                tracing::warn!(epoch = self.cfg.epoch, "equivocation: {r}");
            }
        }
        self.after(results);
        rejects
    }

    /// Books what was accepted, persists, then sends what it triggered.
    fn after(&mut self, results: Vec<Result<Received, Reject>>) {
        let mut outgoing = Vec::new();
        let mut new_acks = Vec::new();
        let mut accepted = false;
        for r in results.into_iter().flatten() {
            accepted = true;
            let env = &r.envelope;
            let sender = env.raw.sender;
            match &env.body {
                Body::Deal(_) => {
                    self.deals_from.insert(sender);
                }
                Body::Acks(_) => {
                    if let Some(d) = self.dealer.as_mut() {
                        if d.handle_acks(env).is_ok() && self.acks_from.insert(sender) {
                            new_acks.push(env.encode());
                        }
                    }
                }
                Body::Log(_) => {
                    self.logs_from.insert(sender);
                }
                Body::Status { attempt, .. } if *attempt == self.attempt => {
                    self.statuses.insert(sender);
                }
                _ => {}
            }
            outgoing.extend(r.outgoing);
        }
        if !new_acks.is_empty() {
            if let Err(e) = self
                .node
                .state
                .add_dealer_acks(self.cfg.epoch, &self.digest, &new_acks)
            {
                tracing::error!(%e, "cannot record acks");
            }
        }
        if accepted {
            if let Some(p) = self.player.as_ref() {
                let saved = p.save();
                self.save(&saved);
            }
        }
        for env in outgoing {
            self.emit(env);
        }
        self.try_finalize();
    }

    fn try_finalize(&mut self) {
        if self.finalized {
            return;
        }
        let Some(p) = self.player.as_mut() else {
            return;
        };
        if p.certificate().is_none() {
            return;
        }
        let out = match p.finalize() {
            Ok(o) => o,
            Err(ObserveError::MissingLogs(_)) => return,
            Err(e) => {
                tracing::warn!(%e, "cannot finalize yet");
                return;
            }
        };
        for (dealer, v) in &out.verdicts {
            if *v != kms_protocol::Verdict::NotIncluded
                && !matches!(v, kms_protocol::Verdict::Included { .. })
            {
                tracing::warn!(
                    epoch = self.cfg.epoch,
                    dealer = %kms_protocol::hex_address(dealer),
                    "dealer excluded: {v:?}"
                );
            }
        }
        let included: BTreeSet<usize> = out
            .certificate
            .set
            .included
            .iter()
            .map(|(d, _)| usize::from(*d))
            .collect();
        let logs = p
            .logs()
            .filter(|l| {
                self.cfg
                    .dealer_index(&l.raw.sender)
                    .is_some_and(|d| included.contains(&d))
            })
            .map(Envelope::encode)
            .collect();
        let record = EpochRecord {
            epoch: out.epoch,
            config: self.cfg.encode(),
            certificate: out.certificate.encode(),
            public: out.public.to_bytes(),
            logs,
        };
        let cert = out.certificate.clone();
        let anchored = out.certificate.clone();
        match self
            .node
            .install_epoch(record, out.share, self.cfg.clone(), out.public)
        {
            Ok(()) => {
                self.finalized = true;
                let took = self.start.elapsed();
                self.node.metrics.round("finalized");
                self.node.metrics.round_seconds.observe(took.as_secs_f64());
                self.node.round_finished(self.cfg.epoch, "finalized", took);
                tracing::info!(
                    epoch = self.cfg.epoch,
                    ms = took.as_millis() as u64,
                    "round finalized"
                );
                // Peers that missed the certificate get it from everyone that has it.
                let env = Envelope::sign(
                    self.digest,
                    self.me,
                    None,
                    Body::Certificate(cert),
                    &self.node.key,
                );
                self.emit(env);
                self.node
                    .anchor_later(self.cfg.clone(), anchored, self.attempt);
            }
            Err(e) => tracing::error!(%e, "cannot store the finalized epoch"),
        }
    }
}

fn received(envelope: Envelope) -> Received {
    Received {
        envelope,
        outgoing: Vec::new(),
    }
}
