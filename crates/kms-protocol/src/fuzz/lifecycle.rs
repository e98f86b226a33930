//! Fuzzing the round lifecycle: four [`RoundDriver`]s (the node's own) of one DKG, driven by an
//! arbitrary sequence of at most [`MAX_OPS`] operations: deliver the next queued message or any
//! queued one (in any order, as one batch or alone), drop one, deliver one altered and re-signed
//! by its sender (a Byzantine insider) or re-signed for another round, advance the clock by an
//! arbitrary amount, crash a node (its memory lost, its disk kept) and restore it, and make a
//! node's next writes fail.
//!
//! Invariants, on what leaves the nodes (the sends) and what they hold:
//! - no driver asks to be woken at or before the time of its last input (no busy loop);
//! - no node ever sends two different prevotes, or two different precommits, for one attempt,
//!   across crashes and failed writes (persist before send);
//! - every certificate held is valid and all are for one dealer set;
//! - every finalized node holds the same public polynomial, and its share matches it.

use super::{broken, Input};
use crate::lifecycle::{Action, Journal, RoundDriver, RoundStart, Schedule};
use crate::message::{Body, RawEnvelope};
use crate::round::RoundConfig;
use crate::sim::{rng_for, SimNode};
use crate::{verify_certificate, Address, CommitmentCache};
use kms_crypto::bls::Commitment;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Most operations one input runs.
pub const MAX_OPS: usize = 48;
const N: usize = 4;
const MAX_QUEUE: usize = 256;
const INTERVAL: Duration = Duration::from_secs(8);

// Operation codes (byte % 9).
const OP_NEXT: u8 = 0;
const OP_PICK: u8 = 1;
const OP_DROP: u8 = 2;
const OP_TIME: u8 = 3;
const OP_CRASH: u8 = 4;
const OP_FAIL_WRITES: u8 = 5;
const OP_INSIDER: u8 = 6;
const OP_FLUSH: u8 = 7;
const OP_OTHER_ROUND: u8 = 8;

struct Cluster {
    cfg: Arc<RoundConfig>,
    other: [u8; 32],
    nodes: Vec<SimNode>,
}

fn cluster() -> &'static Cluster {
    static C: OnceLock<Cluster> = OnceLock::new();
    C.get_or_init(|| {
        let mut rng = rng_for(0x6c69_6665, "fuzz-lifecycle");
        let mut nodes: Vec<SimNode> = (1..=N as u64)
            .map(|id| SimNode::generate(&mut rng, id))
            .collect();
        nodes.sort_by_key(SimNode::address);
        let ops: Vec<_> = nodes.iter().map(|n| n.operator.clone()).collect();
        let cfg = match RoundConfig::dkg(1, 31337, [0x42; 20], ops.clone()) {
            Ok(c) => c,
            Err(e) => broken(&format!("fixture: {e}")),
        };
        let other = match RoundConfig::dkg(2, 31337, [0x42; 20], ops) {
            Ok(c) => c.digest(),
            Err(e) => broken(&format!("fixture: {e}")),
        };
        Cluster {
            cfg: Arc::new(cfg),
            other,
            nodes,
        }
    })
}

struct Node {
    driver: Option<RoundDriver>,
    disk: Journal,
    failing_writes: u8,
}

struct Run<'a> {
    cl: &'a Cluster,
    now: Duration,
    nodes: Vec<Node>,
    queue: VecDeque<(usize, Vec<u8>)>,
    /// What each node sent: (node, kind, attempt) -> set hash.
    votes: BTreeMap<(usize, u8, u32), [u8; 32]>,
    cert_set: Option<[u8; 32]>,
    public: Option<Commitment>,
}

impl<'a> Run<'a> {
    fn new(cl: &'a Cluster) -> Self {
        let mut r = Self {
            cl,
            now: Duration::ZERO,
            nodes: (0..N)
                .map(|_| Node {
                    driver: None,
                    disk: Journal::default(),
                    failing_writes: 0,
                })
                .collect(),
            queue: VecDeque::new(),
            votes: BTreeMap::new(),
            cert_set: None,
            public: None,
        };
        for i in 0..N {
            r.start(i);
        }
        r
    }

    fn start(&mut self, i: usize) {
        let (Some(n), Some(node)) = (self.cl.nodes.get(i), self.nodes.get_mut(i)) else {
            return;
        };
        let s = RoundStart {
            cfg: self.cl.cfg.clone(),
            me: n.address(),
            key: n.key.clone(),
            enc: n.enc.clone(),
            seed: n.seed.duplicate(),
            share: None,
            restored: node.disk.clone(),
            schedule: Schedule::new(INTERVAL),
        };
        match RoundDriver::new(s, self.now) {
            Ok(d) => node.driver = Some(d),
            Err(e) => broken(&format!("node {i} does not restore from its own disk: {e}")),
        }
        self.drain(i);
    }

    fn index_of(&self, a: &Address) -> Option<usize> {
        self.cl.nodes.iter().position(|n| n.address() == *a)
    }

    /// Executes a node's actions; checks what it sends and holds.
    fn drain(&mut self, i: usize) {
        loop {
            let now = self.now;
            let Some(node) = self.nodes.get_mut(i) else {
                return;
            };
            let Some(d) = node.driver.as_mut() else {
                return;
            };
            let Some(action) = d.poll() else {
                break;
            };
            match action {
                Action::Persist(j) => {
                    let ok = node.failing_writes == 0;
                    if ok {
                        node.disk.apply(&j);
                    } else {
                        node.failing_writes -= 1;
                    }
                    d.persisted(now, ok);
                }
                Action::Send { to, bytes } => {
                    self.record_send(i, &bytes);
                    if let Some(t) = self.index_of(&to) {
                        if self.queue.len() < MAX_QUEUE {
                            self.queue.push_back((t, bytes.as_ref().clone()));
                        }
                    }
                }
                Action::Finalize(f) => {
                    let out = f.output;
                    if let Some(s) = &out.share {
                        if out.public.verify_share(s).is_err() {
                            broken(&format!("node {i}'s share does not match its polynomial"));
                        }
                    }
                    match &self.public {
                        Some(p) if *p != out.public => {
                            broken("two nodes finalized different public polynomials")
                        }
                        _ => self.public = Some(out.public),
                    }
                    d.installed(now, true);
                }
                Action::Event(_) => {}
            }
        }
        self.check_node(i);
    }

    /// A prevote or precommit that leaves a node is its word: one set per attempt, ever.
    fn record_send(&mut self, i: usize, bytes: &[u8]) {
        let Ok(raw) = RawEnvelope::parse(bytes) else {
            return;
        };
        let Ok(env) = raw.open(&mut CommitmentCache::default()) else {
            return;
        };
        let (kind, attempt, set) = match env.body {
            Body::Prevote {
                attempt, set_hash, ..
            } => (0u8, attempt, set_hash),
            Body::Precommit {
                attempt, set_hash, ..
            } => (1u8, attempt, set_hash),
            _ => return,
        };
        match self.votes.insert((i, kind, attempt), set) {
            Some(prev) if prev != set => broken(&format!(
                "node {i} sent two different {} for attempt {attempt}",
                if kind == 0 { "prevotes" } else { "precommits" }
            )),
            _ => {}
        }
    }

    fn check_node(&mut self, i: usize) {
        let now = self.now;
        let Some(d) = self.nodes.get(i).and_then(|n| n.driver.as_ref()) else {
            return;
        };
        if d.next_timeout().is_some_and(|t| t <= now) {
            broken(&format!("node {i} asks to be woken in the past"));
        }
        if let Some(c) = d.player().and_then(|p| p.certificate()).cloned() {
            if verify_certificate(&self.cl.cfg, &c).is_err() {
                broken(&format!(
                    "node {i} holds a certificate that does not verify"
                ));
            }
            let h = c.set.hash();
            match self.cert_set {
                Some(prev) if prev != h => broken("two certificates for different dealer sets"),
                _ => self.cert_set = Some(h),
            }
        }
    }

    fn deliver(&mut self, to: usize, msgs: Vec<Vec<u8>>) {
        let now = self.now;
        let Some(d) = self.nodes.get_mut(to).and_then(|n| n.driver.as_mut()) else {
            return;
        };
        let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
        let verdicts = d.handle(now, &refs);
        if verdicts.len() != msgs.len() {
            broken("one verdict per message");
        }
        self.drain(to);
    }

    fn tick_all(&mut self) {
        for i in 0..N {
            let now = self.now;
            let due = self
                .nodes
                .get(i)
                .and_then(|n| n.driver.as_ref())
                .and_then(RoundDriver::next_timeout)
                .is_some_and(|t| t <= now);
            if due {
                if let Some(d) = self.nodes.get_mut(i).and_then(|n| n.driver.as_mut()) {
                    d.tick(now);
                }
                self.drain(i);
            }
        }
    }

    /// A queued message altered and re-signed by its sender, or re-signed for another round.
    fn insider(&self, bytes: &[u8], inp: &mut Input<'_>, other_round: bool) -> Option<Vec<u8>> {
        let mut raw = RawEnvelope::parse(bytes).ok()?;
        let key = self
            .cl
            .nodes
            .iter()
            .find(|n| n.address() == raw.sender)?
            .key
            .clone();
        if other_round {
            raw.round = self.cl.other;
        } else {
            let mut body = raw.body().to_vec();
            let len = body.len().max(1);
            let pos = usize::from(inp.u16()) % len;
            let x = inp.u8() | 1;
            if let Some(c) = body.get_mut(pos) {
                *c ^= x;
            }
            raw.set_body(body);
        }
        raw.resign(&key);
        Some(raw.encode())
    }

    fn op(&mut self, inp: &mut Input<'_>) {
        let code = inp.u8() % 9;
        match code {
            OP_NEXT => {
                if let Some((to, b)) = self.queue.pop_front() {
                    self.deliver(to, vec![b]);
                }
            }
            OP_PICK => {
                let k = usize::from(inp.u8()) % self.queue.len().max(1);
                if let Some((to, b)) = self.queue.remove(k) {
                    self.deliver(to, vec![b]);
                }
            }
            OP_DROP => {
                let k = usize::from(inp.u8()) % self.queue.len().max(1);
                self.queue.remove(k);
            }
            OP_TIME => {
                // Up to about a tenth of the interval per step, or straight to a phase's end.
                let b = inp.u8();
                let step = if b >= 0xf0 {
                    INTERVAL / 5
                } else {
                    INTERVAL.mul_f64(f64::from(b) / 2560.0)
                };
                self.now += step.max(Duration::from_millis(1));
                self.tick_all();
            }
            OP_CRASH => {
                let i = usize::from(inp.u8()) % N;
                let lock_before = self
                    .nodes
                    .get(i)
                    .and_then(|n| n.driver.as_ref())
                    .and_then(RoundDriver::player)
                    .map(|p| p.lock().cloned());
                if let Some(n) = self.nodes.get_mut(i) {
                    n.driver = None;
                }
                self.start(i);
                // Nothing it sent depended on a lock it no longer has: a lock it held and had
                // written comes back (one not yet written had sent nothing).
                let after = self
                    .nodes
                    .get(i)
                    .and_then(|n| n.driver.as_ref())
                    .and_then(RoundDriver::player)
                    .map(|p| p.lock().cloned());
                if let (Some(Some(b)), Some(Some(a))) = (&lock_before, &after) {
                    if a.attempt > b.attempt {
                        broken(&format!("node {i} came back with a lock it never held"));
                    }
                }
            }
            OP_FAIL_WRITES => {
                let i = usize::from(inp.u8()) % N;
                let k = inp.u8() % 4 + 1;
                if let Some(n) = self.nodes.get_mut(i) {
                    n.failing_writes = k;
                }
            }
            OP_INSIDER | OP_OTHER_ROUND => {
                let other = code == OP_OTHER_ROUND;
                let k = usize::from(inp.u8()) % self.queue.len().max(1);
                let to = usize::from(inp.u8()) % N;
                let Some((_, b)) = self.queue.get(k).cloned() else {
                    return;
                };
                if let Some(m) = self.insider(&b, inp, other) {
                    self.deliver(to, vec![m]);
                }
            }
            _ => {
                // OP_FLUSH: deliver everything queued, one batch per recipient.
                let mut per: BTreeMap<usize, Vec<Vec<u8>>> = BTreeMap::new();
                for (to, b) in self.queue.drain(..) {
                    per.entry(to).or_default().push(b);
                }
                for (to, msgs) in per {
                    self.deliver(to, msgs);
                }
            }
        }
    }
}

/// Runs one input (see the module doc).
pub fn lifecycle(data: &[u8]) {
    let cl = cluster();
    let mut run = Run::new(cl);
    let mut inp = Input(data);
    for _ in 0..MAX_OPS {
        if inp.is_empty() {
            break;
        }
        run.op(&mut inp);
    }
}

/// Scripted inputs: an honest round (flushes and small clock steps), the same with a crash and
/// failed writes in the middle, and one with reordered and dropped messages.
pub fn seeds() -> Vec<Vec<u8>> {
    let honest: Vec<u8> = [OP_FLUSH, OP_TIME, 10]
        .iter()
        .copied()
        .cycle()
        .take(3 * 14)
        .collect();
    let mut crash = honest.clone();
    crash.splice(6..6, [OP_FAIL_WRITES, 1, 2, OP_CRASH, 1]);
    let mut shuffled = Vec::new();
    for k in 0..12u8 {
        shuffled.extend([OP_PICK, k.wrapping_mul(37), OP_DROP, 200, OP_TIME, 40]);
    }
    let insider = [
        OP_FLUSH,
        OP_TIME,
        10,
        OP_INSIDER,
        0,
        3,
        1,
        5,
        9,
        OP_OTHER_ROUND,
        8,
        2,
        0,
        OP_FLUSH,
    ]
    .to_vec();
    vec![honest, crash, shuffled, insider]
}
