//! A round's lifecycle on one node (docs 0005 §6): when each phase ends, when agreement attempts
//! start, when the leader proposes, what must be durable before a message leaves, and when the
//! round is final. Sans-IO, in the shape of quinn-proto's connection: the caller passes the time
//! since the round started with every input ([`RoundDriver::handle`], [`RoundDriver::tick`]),
//! drains [`Action`]s in order with [`RoundDriver::poll`], and calls `tick` again at
//! [`RoundDriver::next_timeout`]. The node executes the actions over HTTP and redb; the
//! simulation executes the very same driver over an in-memory network and disk.
//!
//! Persist before send: every change of what the player decided or must keep comes out as one
//! [`Action::Persist`], and the messages that depend on it are held until the caller reports it
//! durable with [`RoundDriver::persisted`]. A write that fails holds them (nothing leaves that a
//! restart could contradict) and is retried.

use crate::error::SkipReason;
use crate::message::{Body, Envelope};
use crate::observe::Output;
use crate::player::{Out, Player};
use crate::round::RoundConfig;
use crate::{Address, Dealer, Inbox, ObserveError, Reject};
use kms_crypto::bls::Share;
use kms_crypto::seal::EncryptionKey;
use kms_crypto::{bn254, Secret};
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// Phase ends as fractions of the interval (the round's length).
pub const DEALS_END: f64 = 0.20;
/// When the acks phase ends (dealers send their logs), as a fraction of the interval.
pub const ACKS_END: f64 = 0.40;
/// When the logs phase ends and agreement starts, as a fraction of the interval.
pub const LOGS_END: f64 = 0.55;
/// Agreement attempts fill the time from `LOGS_END` to here, in equal slots.
pub const AGREEMENT_END: f64 = 0.95;
/// How long a failed write waits before it is tried again.
pub const PERSIST_RETRY: Duration = Duration::from_millis(100);

/// When a round's phases end. Phases end at these times, or (with `early`) as soon as everything
/// expected has arrived; agreement attempts start at fixed times, the first one possibly early.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// The round's length; every phase end is a fraction of it.
    pub interval: Duration,
    /// End a phase as soon as every expected message is in.
    pub early: bool,
}

impl Schedule {
    /// A round of length `interval` whose phases end early when everything is in.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            early: true,
        }
    }

    /// The time `fraction` of the interval after the round's start.
    pub fn at(&self, fraction: f64) -> Duration {
        self.interval.mul_f64(fraction)
    }

    /// The length of one agreement attempt.
    pub fn slot(&self, cfg: &RoundConfig) -> Duration {
        self.interval
            .mul_f64(AGREEMENT_END - LOGS_END)
            .checked_div(cfg.attempts().max(1))
            .unwrap_or_default()
    }

    /// When attempt `a` starts by the clock (attempt 0 may start earlier).
    pub fn attempt_start(&self, cfg: &RoundConfig, a: u32) -> Duration {
        self.at(LOGS_END) + self.slot(cfg).saturating_mul(a)
    }

    /// The attempt the clock is in at `now` (0 before agreement), never past the last one.
    pub fn attempt_at(&self, cfg: &RoundConfig, now: Duration) -> u32 {
        let slot = self.slot(cfg);
        if slot.is_zero() || now < self.at(LOGS_END) {
            return 0;
        }
        let k = (now - self.at(LOGS_END)).as_nanos() / slot.as_nanos().max(1);
        u32::try_from(k)
            .unwrap_or(u32::MAX)
            .min(cfg.attempts().saturating_sub(1))
    }
}

/// Where the round is on this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Taking deals; its end sends this node's acks.
    Deals,
    /// Taking acks; its end sends the log of this node's dealer.
    Acks,
    /// Taking dealer logs, until agreement starts.
    Logs,
    /// Agreement attempts on the set of dealers, until the round is final here.
    Agreement,
    /// Nothing left to do: finalized, or a node that only deals has sent its log.
    Done,
}

impl Phase {
    /// The phase as a lowercase word, for logs and metrics.
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

/// What a node keeps of a round on disk: the player's decisions (rewritten whole) and the
/// messages it keeps (appended), the acks its dealer accepted (appended) and the log it sent.
/// The same shape carries one write ([`Action::Persist`]) and a whole restored round.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Journal {
    /// The player's encoded [`Player::decisions`], if there are any to write; each replaces the
    /// last.
    pub decisions: Option<Vec<u8>>,
    /// Encoded deals and logs the player took ([`Player::take_journal`]), in order.
    pub messages: Vec<Vec<u8>>,
    /// Encoded `Acks` envelopes this node's dealer accepted, fed to it again on restart.
    pub dealer_acks: Vec<Vec<u8>>,
    /// The encoded log this node's dealer sent, sent again on restart.
    pub dealer_log: Option<Vec<u8>>,
}

impl Journal {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.decisions.is_none()
            && self.messages.is_empty()
            && self.dealer_acks.is_empty()
            && self.dealer_log.is_none()
    }

    /// Appends a later write to this one (as a store applies it).
    pub fn apply(&mut self, later: &Journal) {
        if let Some(d) = &later.decisions {
            self.decisions = Some(d.clone());
        }
        self.messages.extend(later.messages.iter().cloned());
        self.dealer_acks.extend(later.dealer_acks.iter().cloned());
        if let Some(l) = &later.dealer_log {
            self.dealer_log = Some(l.clone());
        }
    }
}

/// What the driver observed, for logs and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The round entered this phase.
    Phase(Phase),
    /// This agreement attempt started.
    Attempt(u32),
    /// The player holds the certificate but cannot finalize yet (a missing log, say).
    CannotFinalize(String),
}

/// What the caller must do, in order.
pub enum Action {
    /// Make this durable, then call [`RoundDriver::persisted`] before anything else.
    Persist(Journal),
    /// Send these bytes to this member.
    Send {
        /// The member's address.
        to: Address,
        /// An encoded envelope.
        bytes: Arc<Vec<u8>>,
    },
    /// The round is final here: store the epoch (share and records in one write), then call
    /// [`RoundDriver::installed`] before anything else.
    Finalize(Box<Finalized>),
    /// Something to log or count; nothing to execute.
    Event(Event),
}

/// A finalized round, as the node stores and serves it.
pub struct Finalized {
    /// The new epoch: public polynomial, this node's share, dealer verdicts and certificate.
    pub output: Output,
    /// The logs of the certificate's dealers, encoded (what a peer catches up from).
    pub logs: Vec<Vec<u8>>,
}

/// Keys and inputs a round starts from.
pub struct RoundStart {
    /// The round to run.
    pub cfg: Arc<RoundConfig>,
    /// This node's address.
    pub me: Address,
    /// This node's BN254 key, which signs its messages.
    pub key: Arc<bn254::SecretKey>,
    /// This node's X25519 key, which opens the shares sealed to it.
    pub enc: Arc<EncryptionKey>,
    /// The dealer seed, durable before this is called (a restart deals the same bytes).
    pub seed: Secret<[u8; 32]>,
    /// The dealer's share of the previous epoch (reshare), if it holds one.
    pub share: Option<Share>,
    /// What an earlier run of this round on this node made durable.
    pub restored: Journal,
    /// When the round's phases end.
    pub schedule: Schedule,
}

/// Why a round cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The restored journal's decisions or messages do not decode for this round.
    #[error("the saved round does not restore: {0}")]
    Restore(crate::DecodeError),
    /// This node's dealer or player cannot be built for the round (e.g. a DKG given a previous
    /// share).
    #[error("{0}")]
    Config(#[from] crate::ConfigError),
}

/// One round on one node.
pub struct RoundDriver {
    cfg: Arc<RoundConfig>,
    me: Address,
    key: Arc<bn254::SecretKey>,
    schedule: Schedule,
    player: Option<Player>,
    dealer: Option<Dealer>,
    /// Intake of a node that only deals (it left the player set).
    inbox: Option<Inbox>,
    phase: Phase,
    acks_from: BTreeSet<Address>,
    log_sent: bool,
    attempt_started: Duration,
    proposed_in: Option<u32>,
    /// The attempt in which a finalized leader last passed the certificate on.
    resent_in: Option<u32>,
    finalizing: bool,
    finalized: bool,
    /// Durable state: the last decisions written, what changed since (`pending`), and the write
    /// that is out (`writing`, while `in_flight`).
    written_decisions: Vec<u8>,
    pending: Journal,
    writing: Journal,
    in_flight: bool,
    /// The last finalize error reported (each is reported once).
    last_error: Option<String>,
    retry_at: Option<Duration>,
    /// Sends held until `pending` is durable.
    held: Vec<(Address, Arc<Vec<u8>>)>,
    actions: VecDeque<Action>,
    end: Duration,
    /// The latest time an input carried.
    now: Duration,
}

impl RoundDriver {
    /// Starts (or resumes) a round at `now`: deals (again, the same bytes), re-sends what an
    /// earlier run had sent, and catches up with the clock.
    pub fn new(s: RoundStart, now: Duration) -> Result<Self, StartError> {
        let cfg = s.cfg;
        let me = s.me;
        let player = match cfg.player_index(&me) {
            None => None,
            Some(_) => Some(match &s.restored.decisions {
                Some(d) => Player::restore(
                    cfg.clone(),
                    me,
                    s.key.clone(),
                    s.enc.clone(),
                    d,
                    &s.restored.messages,
                )
                .map_err(StartError::Restore)?,
                None => Player::new(cfg.clone(), me, s.key.clone(), s.enc.clone())?,
            }),
        };
        let inbox = player.is_none().then(|| Inbox::new(cfg.clone(), me));
        let written_decisions = player.as_ref().map(Player::decisions).unwrap_or_default();
        let mut d = Self {
            end: s.schedule.interval,
            cfg,
            me,
            key: s.key,
            schedule: s.schedule,
            player,
            dealer: None,
            inbox,
            phase: Phase::Deals,
            acks_from: BTreeSet::new(),
            log_sent: false,
            attempt_started: Duration::ZERO,
            proposed_in: None,
            resent_in: None,
            finalizing: false,
            finalized: false,
            written_decisions,
            pending: Journal::default(),
            writing: Journal::default(),
            in_flight: false,
            last_error: None,
            retry_at: None,
            held: Vec::new(),
            actions: VecDeque::new(),
            now: Duration::ZERO,
        };
        d.deal(&s.seed, s.share, &s.restored)?;
        // A restored player that had acked re-sends the same acks.
        if let Some(p) = d.player.as_mut() {
            if s.restored.decisions.is_some() && p.has_acked() {
                let acks = p.end_deals();
                d.phase = Phase::Acks;
                d.route(Out::Msg(acks));
            }
        }
        d.tick(now);
        Ok(d)
    }

    fn deal(
        &mut self,
        seed: &Secret<[u8; 32]>,
        share: Option<Share>,
        restored: &Journal,
    ) -> Result<(), StartError> {
        if self.cfg.dealer_index(&self.me).is_none() {
            return Ok(());
        }
        // A reshare dealer without its previous share only plays.
        if self.cfg.previous.is_some() && share.is_none() {
            return Ok(());
        }
        let prev = share.map(|s| s.value);
        let (mut dealer, deals) = Dealer::new(
            self.cfg.clone(),
            self.me,
            self.key.clone(),
            seed,
            prev.as_ref(),
        )?;
        let mut cache = crate::CommitmentCache::default();
        for bytes in &restored.dealer_acks {
            if let Ok(Ok(env)) = crate::RawEnvelope::parse(bytes).map(|r| r.open(&mut cache)) {
                if dealer.handle_acks(&env).is_ok() {
                    self.acks_from.insert(env.raw.sender);
                }
            }
        }
        self.dealer = Some(dealer);
        for env in deals {
            self.route(Out::Msg(env));
        }
        if let Some(log) = &restored.dealer_log {
            if let Ok(Ok(env)) = crate::RawEnvelope::parse(log).map(|r| r.open(&mut cache)) {
                self.log_sent = true;
                self.route(Out::Msg(env));
            }
        }
        Ok(())
    }

    /// The round this driver runs.
    pub fn config(&self) -> &Arc<RoundConfig> {
        &self.cfg
    }

    /// Where the round is on this node.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The agreement attempt (0 before agreement).
    pub fn attempt(&self) -> u32 {
        self.player.as_ref().map_or(0, Player::attempt)
    }

    /// This node's player, or `None` if it only deals in this round.
    pub fn player(&self) -> Option<&Player> {
        self.player.as_ref()
    }

    /// Whether the round is final here (installed).
    pub fn is_finalized(&self) -> bool {
        self.finalized
    }

    /// The next action to execute.
    pub fn poll(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to call [`RoundDriver::tick`] next (`None`: the round has nothing left to time).
    /// Always later than the last input's time: every deadline up to then has been acted on.
    pub fn next_timeout(&self) -> Option<Duration> {
        self.deadlines()
            .into_iter()
            .filter(|t| *t > self.now)
            .min()
            .map(|t| t.min(self.end.max(self.now)))
    }

    fn deadlines(&self) -> Vec<Duration> {
        if self.finalized {
            // The next attempt this node leads (it passes the certificate on then).
            let next = (0..self.cfg.attempts())
                .map(|k| (k, self.schedule.attempt_start(&self.cfg, k)))
                .find(|(k, t)| *t > self.now && self.cfg.leader(*k) == self.me)
                .map(|(_, t)| t);
            return next.into_iter().chain(self.retry_at).collect();
        }
        if self.phase == Phase::Done && self.retry_at.is_none() {
            return Vec::new();
        }
        let cfg = &self.cfg;
        let s = &self.schedule;
        let mut t: Vec<Duration> = Vec::new();
        match self.phase {
            Phase::Deals => t.push(s.at(DEALS_END)),
            Phase::Acks => t.push(s.at(ACKS_END)),
            Phase::Logs => t.push(s.at(LOGS_END)),
            Phase::Agreement => {
                let a = self.attempt();
                if a + 1 < cfg.attempts() {
                    t.push(s.attempt_start(cfg, a + 1));
                }
                if self.leads() && self.proposed_in != Some(a) {
                    t.push(self.attempt_started + s.slot(cfg) / 2);
                }
            }
            Phase::Done => {}
        }
        t.extend(self.retry_at);
        t
    }

    fn leads(&self) -> bool {
        self.player.as_ref().is_some_and(Player::leads)
    }

    /// Takes a batch of wire messages; one verdict per message.
    pub fn handle(&mut self, now: Duration, msgs: &[&[u8]]) -> Vec<Result<(), Reject>> {
        // Once final here, the certificates every other node passes on are nothing to check.
        if self.finalized {
            let (late, rest): (Vec<usize>, Vec<usize>) = (0..msgs.len()).partition(|i| {
                msgs.get(*i).is_some_and(|m| {
                    crate::RawEnvelope::peek(m).is_ok_and(|h| {
                        h.kind == crate::Kind::Certificate && h.round == self.cfg.digest()
                    })
                })
            });
            if !late.is_empty() {
                let kept: Vec<&[u8]> = rest.iter().filter_map(|i| msgs.get(*i).copied()).collect();
                let mut verdicts = self.handle(now, &kept).into_iter();
                return (0..msgs.len())
                    .map(|i| {
                        if late.contains(&i) {
                            Err(SkipReason::NotNeeded.into())
                        } else {
                            verdicts.next().unwrap_or(Err(SkipReason::NotNeeded.into()))
                        }
                    })
                    .collect();
            }
        }
        let results = match (self.player.as_mut(), self.inbox.as_mut()) {
            (Some(p), _) => p.receive(msgs),
            (None, Some(i)) => i
                .accept(msgs)
                .into_iter()
                .map(|r| r.map(crate::player::received))
                .collect(),
            (None, None) => msgs
                .iter()
                .map(|_| Err(SkipReason::NotNeeded.into()))
                .collect(),
        };
        let verdicts = self.take_results(results);
        self.step(now);
        verdicts
    }

    /// Ends phases and starts attempts whose time has come.
    pub fn tick(&mut self, now: Duration) {
        if self.retry_at.is_some_and(|r| now >= r) {
            self.retry_at = None;
        }
        self.step(now);
    }

    /// The caller made the last [`Action::Persist`] durable (`ok`) or could not.
    pub fn persisted(&mut self, now: Duration, ok: bool) {
        self.in_flight = false;
        let mut written = std::mem::take(&mut self.writing);
        if ok {
            if let Some(d) = written.decisions {
                self.written_decisions = d;
            }
        } else {
            // Nothing of it counts as written: it goes again, with what came since.
            written.apply(&self.pending);
            self.pending = written;
            self.retry_at = Some(now + PERSIST_RETRY);
        }
        self.step(now);
    }

    /// The caller stored the [`Action::Finalize`]d epoch (`ok`) or could not (it is offered
    /// again at the next tick).
    pub fn installed(&mut self, now: Duration, ok: bool) {
        self.finalizing = false;
        if ok {
            self.finalized = true;
            self.resent_in = Some(self.schedule.attempt_at(&self.cfg, now));
            self.set_phase(Phase::Done);
            // Peers that missed the certificate get it from everyone that has it.
            self.send_certificate();
        } else {
            self.retry_at = Some(now + PERSIST_RETRY);
        }
        self.step(now);
    }

    /// Broadcasts the finalized certificate, if this node holds one.
    fn send_certificate(&mut self) {
        if let Some(cert) = self.player.as_ref().and_then(|p| p.certificate().cloned()) {
            let env = Envelope::sign(
                self.cfg.digest(),
                self.me,
                None,
                Body::Certificate(cert),
                &self.key,
            );
            self.route(Out::Msg(env));
        }
    }

    /// Books accepted messages (acks for the dealer) and routes what they triggered.
    fn take_results(
        &mut self,
        results: Vec<Result<crate::Received, Reject>>,
    ) -> Vec<Result<(), Reject>> {
        let mut verdicts = Vec::with_capacity(results.len());
        for r in results {
            match r {
                Ok(rcv) => {
                    if let (Body::Acks(_), Some(d)) = (&rcv.envelope.body, self.dealer.as_mut()) {
                        if d.handle_acks(&rcv.envelope).is_ok()
                            && self.acks_from.insert(rcv.envelope.raw.sender)
                        {
                            self.pending.dealer_acks.push(rcv.envelope.encode());
                        }
                    }
                    for o in rcv.outgoing {
                        self.route(o);
                    }
                    verdicts.push(Ok(()));
                }
                Err(e) => verdicts.push(Err(e)),
            }
        }
        verdicts
    }

    /// Sends `out` where it goes: messages to this node are taken at once, the rest are held
    /// until what they depend on is durable.
    fn route(&mut self, out: Out) {
        let (env, targets) = match out {
            Out::Forward { to, env } => (env, vec![to]),
            Out::Msg(env) => {
                let t = match env.raw.recipient {
                    Some(r) => vec![r],
                    None => self.cfg.members(),
                };
                (env, t)
            }
        };
        let mine = targets.contains(&self.me);
        let bytes = Arc::new(env.encode());
        for to in targets.into_iter().filter(|t| *t != self.me) {
            self.held.push((to, bytes.clone()));
        }
        if mine {
            let results = match (self.player.as_mut(), self.inbox.as_mut()) {
                (Some(p), _) => p.receive_decoded(vec![env]),
                (None, Some(i)) => i
                    .accept_decoded(vec![env])
                    .into_iter()
                    .map(|r| r.map(crate::player::received))
                    .collect(),
                (None, None) => Vec::new(),
            };
            let _ = self.take_results(results);
        }
    }

    fn set_phase(&mut self, p: Phase) {
        if self.phase != p {
            self.phase = p;
            self.actions.push_back(Action::Event(Event::Phase(p)));
        }
    }

    fn start_attempt(&mut self, a: u32, now: Duration) {
        let Some(p) = self.player.as_mut() else {
            return;
        };
        let out = p.start_attempt(a);
        self.attempt_started = now;
        self.actions.push_back(Action::Event(Event::Attempt(a)));
        for o in out {
            self.route(o);
        }
    }

    /// Advances phases, then writes what changed and releases what may leave.
    fn step(&mut self, now: Duration) {
        self.now = self.now.max(now);
        self.advance(now);
        self.try_finalize();
        self.flush(now);
    }

    fn advance(&mut self, now: Duration) {
        let s = self.schedule;
        let early = s.early;
        if self.phase == Phase::Deals {
            let all = self.player.as_ref().is_none_or(Player::has_all_deals);
            if (early && all) || now >= s.at(DEALS_END) {
                if let Some(p) = self.player.as_mut() {
                    let acks = p.end_deals();
                    self.route(Out::Msg(acks));
                }
                self.set_phase(Phase::Acks);
            }
        }
        if self.phase == Phase::Acks {
            let all = self.acks_from.len() == self.cfg.players.len();
            if !self.log_sent && (self.dealer.is_none() || (early && all) || now >= s.at(ACKS_END))
            {
                self.log_sent = true;
                if let Some(log) = self.dealer.as_ref().and_then(Dealer::log) {
                    self.pending.dealer_log = Some(log.encode());
                    self.route(Out::Msg(log));
                }
            }
            if self.log_sent {
                self.set_phase(Phase::Logs);
            }
        }
        if self.phase == Phase::Logs {
            match &self.player {
                None => self.set_phase(Phase::Done),
                Some(p) => {
                    let logs = p.log_dealers();
                    let all = logs.is_superset(&p.deal_dealers())
                        && logs.len() >= self.cfg.min_dealings();
                    if (early && all) || now >= s.at(LOGS_END) {
                        self.set_phase(Phase::Agreement);
                        let a = s.attempt_at(&self.cfg, now);
                        self.start_attempt(a, now);
                    }
                }
            }
        }
        // Finalized: when this node leads an attempt by the clock, it passes the certificate on
        // once more, for players that were down when it first went out.
        if self.finalized {
            let a = s.attempt_at(&self.cfg, now);
            if now >= s.at(LOGS_END)
                && self.cfg.leader(a) == self.me
                && self.resent_in.is_none_or(|r| r < a)
            {
                self.resent_in = Some(a);
                self.send_certificate();
            }
        }
        if self.phase == Phase::Agreement && !self.finalized {
            let a = s.attempt_at(&self.cfg, now);
            if a > self.attempt() {
                self.start_attempt(a, s.attempt_start(&self.cfg, a).min(now));
            }
            let a = self.attempt();
            let all = self.player.as_ref().is_some_and(Player::statuses_complete);
            let half = now >= self.attempt_started + s.slot(&self.cfg) / 2;
            if self.leads() && self.proposed_in != Some(a) && (all || half) {
                self.proposed_in = Some(a);
                if let Some(p) = self.player.as_mut() {
                    let out = p.propose();
                    for o in out {
                        self.route(o);
                    }
                }
            }
        }
    }

    fn try_finalize(&mut self) {
        if self.finalized || self.finalizing || self.in_flight || !self.pending.is_empty() {
            return;
        }
        if self.retry_at.is_some() {
            return;
        }
        let Some(p) = self.player.as_mut() else {
            return;
        };
        let Some(cert) = p.certificate().cloned() else {
            return;
        };
        match p.finalize() {
            Ok(output) => {
                let included: BTreeSet<usize> = cert
                    .set
                    .included
                    .iter()
                    .map(|(d, _)| usize::from(*d))
                    .collect();
                let logs = p
                    .logs()
                    .filter(|l| {
                        cert.set.included.iter().any(|(d, h)| {
                            included.contains(&usize::from(*d))
                                && self.cfg.dealer_index(&l.raw.sender) == Some(usize::from(*d))
                                && l.body_hash() == *h
                        })
                    })
                    .map(Envelope::encode)
                    .collect();
                self.finalizing = true;
                self.actions
                    .push_back(Action::Finalize(Box::new(Finalized { output, logs })));
            }
            Err(ObserveError::MissingLogs(_)) => {}
            Err(e) => {
                let e = e.to_string();
                if self.last_error.as_ref() != Some(&e) {
                    self.last_error = Some(e.clone());
                    self.actions
                        .push_back(Action::Event(Event::CannotFinalize(e)));
                }
            }
        }
    }

    /// Writes what changed (one Persist), and sends what was held once nothing is unwritten.
    fn flush(&mut self, now: Duration) {
        if let Some(p) = self.player.as_mut() {
            let new = p.take_journal();
            self.pending.messages.extend(new);
            let d = p.decisions();
            if d != self.written_decisions {
                self.pending.decisions = Some(d);
            }
        }
        if self.in_flight {
            return;
        }
        if !self.pending.is_empty() {
            if self.retry_at.is_some_and(|r| now < r) {
                return;
            }
            self.retry_at = None;
            self.in_flight = true;
            self.writing = std::mem::take(&mut self.pending);
            self.actions
                .push_back(Action::Persist(self.writing.clone()));
            return;
        }
        for (to, bytes) in std::mem::take(&mut self.held) {
            self.actions.push_back(Action::Send { to, bytes });
        }
    }
}
