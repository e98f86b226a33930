//! Fuzzing entry points (see `fuzz/`): drive the decoders and the state machines with arbitrary
//! bytes. They must never panic, whatever the input; a panic is a bug, either a decoder or state
//! machine that panics or an invariant below that does not hold.
//!
//! - [`decoders`]: the first byte picks a decoder (envelope, body of any kind, certificate, round
//!   config, `Player::resume`, a dealer log signed by a real dealer and checked, the crypto
//!   codecs); the rest is its input. Whatever decodes must re-encode to the same bytes (the codec
//!   is canonical), and a certificate that verifies must finalize to the honest polynomial.
//! - [`machines`]: a fixed cluster of four nodes and one DKG round. The first byte picks the
//!   starting state (fresh players, players resumed after the log phase, players resumed after a
//!   certified honest run); the rest is a sequence of at most [`MAX_OPS`] operations: deliver
//!   honest or produced messages (as they are, mutated without re-signing, or mutated and
//!   re-signed by a real key as a Byzantine insider would), deliver arbitrary bytes, run the
//!   network queue, and call `end_deals`, `start_attempt`, `propose`, `finalize`,
//!   `save`+`resume`, `Dealer::new`, `Dealer::handle_acks` and `Dealer::log` in any order.
//!   Invariants: a message altered without its sender's key is refused (another round's digest:
//!   as `WrongRound`); every certificate a player holds verifies and all of them are for one set;
//!   a player never votes for two sets, not across a restart either; two players that finalize
//!   get the same public polynomial; `resume(save())` restores the lock and attempt and saves
//!   the same bytes; a `Dealer`'s log passes the public checks whatever acks it was fed; a
//!   restarted dealer deals the same bytes.
//!
//! Votes are the one thing a Byzantine key cannot be simulated with here: the honest run's votes
//! and certificates are only offered to players that start from that run's saved state, so no
//! key ever votes twice because of the harness itself.

pub mod lifecycle;

use crate::check::check_logs;
use crate::message::{Body, Certificate, CommitmentCache, Envelope, Kind, RawEnvelope};
use crate::observe::{observe, verify_certificate};
use crate::round::RoundConfig;
use crate::sim::{rng_for, SimNode};
use crate::{
    evidence_holds, Address, CheckCache, Dealer, Evidence, Inbox, Out, Player, Reject, SkipReason,
};
use kms_crypto::bls::{self, Commitment, EvalPoint};
use kms_crypto::seal::{open_with_ephemeral, EncryptionPublicKey, Sealed};
use kms_crypto::{bn254, Secret};
use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, OnceLock};

/// Most operations one `machines` input runs (BN254 pairings make each one cost milliseconds).
pub const MAX_OPS: usize = 32;
/// Most `receive` calls one `machines` input makes; an honest round takes about 64.
const MAX_DELIVERIES: usize = 80;
/// Most messages kept for replay, and most queued for delivery.
const MAX_PRODUCED: usize = 96;
const MAX_QUEUE: usize = 128;
const N: usize = 4;
const SEED: u64 = 0x6b6d_735f_6675_7a7a;
const REGISTRY: Address = [0x42; 20];
const CHAIN: u64 = 31337;
/// Saved player state starts with a version byte and the round digest.
const SAVE_HEADER: usize = 33;
const KINDS: [Kind; 9] = Kind::ALL;

// Starting states of `machines` (see there for the byte that picks one).
const MODE_FRESH: u8 = 0;
const MODE_AFTER_LOGS: u8 = 5;
const MODE_CERTIFIED: u8 = 7;
// Operation codes of `machines` (byte % 16).
const OP_DELIVER: u8 = 0;
const OP_DELIVER_MUTATED: u8 = 1;
const OP_DELIVER_RAW: u8 = 2;
const OP_BATCH: u8 = 3;
const OP_END_DEALS: u8 = 4;
const OP_START_ATTEMPT: u8 = 5;
const OP_PROPOSE: u8 = 6;
const OP_FINALIZE: u8 = 7;
const OP_SAVE_RESUME: u8 = 8;
const OP_DEAL: u8 = 9;
const OP_DEALER_ACKS: u8 = 10;
const OP_DEALER_LOG: u8 = 11;
const OP_FLUSH: u8 = 12;
const OP_STEP: u8 = 13;
const OP_DROP: u8 = 14;
const OP_ALL: u8 = 15;
// Sub-operations of OP_ALL, applied to every node.
const ALL_DEAL: u8 = 0;
const ALL_END_DEALS: u8 = 1;
const ALL_START_ATTEMPT: u8 = 2;
const ALL_PROPOSE: u8 = 3;
const ALL_FINALIZE: u8 = 4;
const ALL_SAVE_RESUME: u8 = 5;
const ALL_DEALER_LOG: u8 = 6;
// Mutations (byte % 10). The first four change bytes without the sender's key.
const MUT_NONE: u8 = 0;
const MUT_FLIP: u8 = 1;
const MUT_TRUNCATE: u8 = 2;
const MUT_APPEND: u8 = 3;
const MUT_RECIPIENT: u8 = 4;
// Re-signed with the (claimed) sender's real key, as a Byzantine insider would.
const MUT_OTHER_ROUND: u8 = 5;
const MUT_BODY: u8 = 6;
const MUT_RECIPIENT_SIGNED: u8 = 7;
const MUT_SENDER_SIGNED: u8 = 8;
const MUT_KIND_SIGNED: u8 = 9;
/// A recipient byte at or above this routes a message where it is addressed (all players for a
/// broadcast); below it, to player `byte % 4`.
const ROUTE_NATURAL: u8 = 0xc0;

// Decoder selectors of `decoders` (first byte % 8).
const DEC_ENVELOPE: u8 = 0;
const DEC_BODY: u8 = 1;
const DEC_CERTIFICATE: u8 = 2;
const DEC_ROUND_CONFIG: u8 = 3;
const DEC_RESUME: u8 = 4;
const DEC_RESUME_HEADED: u8 = 5;
const DEC_SIGNED_LOG: u8 = 6;
const DEC_CRYPTO: u8 = 7;

/// An invariant does not hold (or the fixture could not be built): the fuzzer's crash signal.
#[cold]
#[allow(clippy::panic)]
fn broken(what: &str) -> ! {
    panic!("kms-protocol fuzz invariant violated: {what}")
}

/// Reads fuzz input; past the end every read is zero, so any byte string is a valid program.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.0.split_at(n.min(self.0.len()));
        self.0 = tail;
        head
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

mod decoders;
mod fixture;
mod seeds;
pub use decoders::*;
use fixture::*;
pub use seeds::*;

/// What must become of a delivered message.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    /// Nothing in particular.
    Any,
    /// Altered without the sender's key: must be refused.
    Forged,
    /// Re-signed for another round: must be refused as `WrongRound`.
    OtherRound,
}

/// One fuzz case's cluster state.
struct Sim<'a> {
    cl: &'a Cluster,
    /// Honest messages the fuzzer may replay.
    pool: &'a [Vec<u8>],
    players: Vec<Player>,
    dealers: Vec<Option<Dealer>>,
    /// The deals each dealer sent, to check that a restarted dealer sends the same bytes.
    dealt: Vec<Option<Vec<Vec<u8>>>>,
    dealer_inboxes: Vec<Inbox>,
    /// Sent and not yet delivered.
    queue: VecDeque<Out>,
    /// Every message the machines produced, encoded, for replay.
    produced: Vec<Vec<u8>>,
    // Invariant state: each player's lock (attempt, set), and the set it prevoted and
    // precommitted in each attempt.
    locks: Vec<Option<(u32, [u8; 32])>>,
    votes: BTreeSet<(usize, u8, u32, [u8; 32])>,
    /// Encodings of the certificates and logs already checked in this case.
    verified: BTreeSet<Vec<u8>>,
    cert_set: Option<[u8; 32]>,
    public: Option<Commitment>,
    deliveries: usize,
    budget: usize,
}

impl<'a> Sim<'a> {
    /// Players fresh (`saves` is `None`) or resumed from one save each.
    fn new(
        cl: &'a Cluster,
        pool: &'a [Vec<u8>],
        saves: Option<&[Vec<u8>]>,
        budget: usize,
    ) -> Result<Self, String> {
        let players = (0..N)
            .map(|i| {
                let saved = match saves {
                    None => None,
                    Some(s) => Some(s.get(i).ok_or("missing save")?.as_slice()),
                };
                cl.player(i, saved)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let dealer_inboxes = cl
            .nodes
            .iter()
            .map(|n| Inbox::new(cl.cfg.clone(), n.address()))
            .collect();
        Ok(Self {
            cl,
            pool,
            players,
            dealers: (0..N).map(|_| None).collect(),
            dealt: vec![None; N],
            dealer_inboxes,
            queue: VecDeque::new(),
            produced: Vec::new(),
            locks: vec![None; N],
            votes: BTreeSet::new(),
            verified: BTreeSet::new(),
            cert_set: None,
            public: None,
            deliveries: 0,
            budget,
        })
    }

    fn emit(&mut self, out: Out) {
        if self.produced.len() < MAX_PRODUCED {
            self.produced.push(out.envelope().encode());
        }
        if self.queue.len() < MAX_QUEUE {
            self.queue.push_back(out);
        }
    }

    /// A message to replay: bit 7 picks the produced messages, else the honest pool.
    fn pick(&self, sel: u8) -> Option<Vec<u8>> {
        let i = usize::from(sel & 0x7f);
        let from = |v: &[Vec<u8>]| v.get(i % v.len().max(1)).cloned();
        if sel & 0x80 != 0 || self.pool.is_empty() {
            from(&self.produced).or_else(|| from(self.pool))
        } else {
            from(self.pool)
        }
    }

    /// `receive` at player `to`; acks it accepts also go to its dealer. One result per message.
    fn deliver(&mut self, to: usize, msgs: &[&[u8]]) -> Vec<Option<Reject>> {
        if self.deliveries >= self.budget {
            return Vec::new();
        }
        self.deliveries += 1;
        let Some(p) = self.players.get_mut(to) else {
            return Vec::new();
        };
        let results = p.receive(msgs);
        let mut out = Vec::with_capacity(results.len());
        for r in results {
            match r {
                Ok(rcv) => {
                    if let (Body::Acks(_), Some(Some(d))) =
                        (&rcv.envelope.body, self.dealers.get_mut(to))
                    {
                        let _ = d.handle_acks(&rcv.envelope);
                    }
                    for e in rcv.outgoing {
                        self.emit(e);
                    }
                    out.push(None);
                }
                Err(e) => out.push(Some(e)),
            }
        }
        out
    }

    /// The players a message goes to: where it is addressed, or the one the fuzzer names.
    fn targets(&self, route: u8, bytes: &[u8]) -> Vec<usize> {
        if route < ROUTE_NATURAL {
            return vec![usize::from(route) % N];
        }
        match RawEnvelope::parse(bytes).map(|r| r.recipient) {
            Ok(Some(r)) => self.cl.cfg.player_index(&r).into_iter().collect(),
            Ok(None) => (0..N).collect(),
            Err(_) => vec![0],
        }
    }

    /// Delivers a batch (routed by its first message) and checks what must be refused.
    fn send(&mut self, route: u8, msgs: &[(Vec<u8>, Expect)]) {
        let Some((first, _)) = msgs.first() else {
            return;
        };
        for to in self.targets(route, first) {
            let refs: Vec<&[u8]> = msgs.iter().map(|(b, _)| b.as_slice()).collect();
            let results = self.deliver(to, &refs);
            for ((_, expect), r) in msgs.iter().zip(&results) {
                match expect {
                    Expect::Any => {}
                    Expect::Forged => assert!(
                        r.is_some(),
                        "player {to} accepted a message altered without its sender's key"
                    ),
                    Expect::OtherRound => assert_eq!(
                        r.as_ref(),
                        Some(&Reject::Skip(SkipReason::WrongRound)),
                        "player {to}: another round's message"
                    ),
                }
            }
        }
    }

    /// Re-signs a header with its sender's real key (a Byzantine insider).
    fn resign(&self, raw: &mut RawEnvelope) {
        if let Some(n) = self.cl.node_by_address(&raw.sender) {
            raw.resign(&n.key);
        }
    }

    fn address_choice(&self, b: u8) -> Option<Address> {
        match usize::from(b) % (N + 2) {
            N => None,
            i => Some(self.cl.node(i).map_or([0xee; 20], SimNode::address)),
        }
    }

    fn mutate(&self, mut b: Vec<u8>, inp: &mut Input<'_>) -> (Vec<u8>, Expect) {
        let how = inp.u8() % 10;
        if how < MUT_RECIPIENT {
            let before = b.clone();
            match how {
                MUT_FLIP => {
                    let pos = usize::from(inp.u16()) % b.len().max(1);
                    let x = inp.u8() | 1;
                    if let Some(c) = b.get_mut(pos) {
                        *c ^= x;
                    }
                }
                MUT_TRUNCATE => b.truncate(usize::from(inp.u16()) % b.len().max(1)),
                MUT_APPEND => {
                    let n = usize::from(inp.u8() % 8) + 1;
                    b.extend_from_slice(inp.bytes(n));
                    b.push(0);
                }
                _ => {} // MUT_NONE
            }
            let expect = if b == before {
                Expect::Any
            } else {
                Expect::Forged
            };
            return (b, expect);
        }
        let Ok(mut raw) = RawEnvelope::parse(&b) else {
            return (b, Expect::Any);
        };
        let expect = match how {
            MUT_RECIPIENT => {
                let before = raw.recipient;
                raw.recipient = self.address_choice(inp.u8());
                return if raw.recipient == before {
                    (b, Expect::Any)
                } else {
                    (raw.encode(), Expect::Forged)
                };
            }
            MUT_OTHER_ROUND => {
                raw.round = self.cl.other_round;
                Expect::OtherRound
            }
            MUT_BODY => {
                let mut body = raw.body().to_vec();
                self.mutate_body(&mut body, inp);
                raw.set_body(body);
                Expect::Any
            }
            MUT_RECIPIENT_SIGNED => {
                raw.recipient = self.address_choice(inp.u8());
                Expect::Any
            }
            MUT_SENDER_SIGNED => {
                raw.sender = self
                    .cl
                    .node(usize::from(inp.u8()) % N)
                    .map_or([0xee; 20], SimNode::address);
                Expect::Any
            }
            MUT_KIND_SIGNED => {
                raw.kind = KINDS
                    .get(usize::from(inp.u8()) % KINDS.len())
                    .copied()
                    .unwrap_or(Kind::Deal);
                Expect::Any
            }
            _ => return (b, Expect::Any),
        };
        self.resign(&mut raw);
        (raw.encode(), expect)
    }

    fn mutate_body(&self, body: &mut Vec<u8>, inp: &mut Input<'_>) {
        let len = body.len().max(1);
        match inp.u8() % 4 {
            0 => {
                let pos = usize::from(inp.u16()) % len;
                let x = inp.u8() | 1;
                if let Some(c) = body.get_mut(pos) {
                    *c ^= x;
                }
            }
            1 => body.truncate(usize::from(inp.u16()) % len),
            2 => {
                let pos = usize::from(inp.u16()) % len;
                let n = usize::from(inp.u8() % 16) + 1;
                for (c, v) in body.iter_mut().skip(pos).zip(inp.bytes(n)) {
                    *c = *v;
                }
            }
            _ => {
                if let Some(other) = self
                    .pick(inp.u8())
                    .and_then(|m| RawEnvelope::parse(&m).ok())
                {
                    *body = other.body().to_vec();
                }
            }
        }
    }

    fn dealer(&mut self, d: usize) -> Option<Vec<Envelope>> {
        let n = self.cl.node(d)?;
        let (dealer, deals) = Dealer::new(
            self.cl.cfg.clone(),
            n.address(),
            n.key.clone(),
            &n.seed,
            None,
        )
        .ok()?;
        let encoded: Vec<Vec<u8>> = deals.iter().map(Envelope::encode).collect();
        match self.dealt.get_mut(d) {
            Some(Some(prev)) => assert!(
                *prev == encoded,
                "dealer {d} dealt different bytes after a restart"
            ),
            Some(slot) => *slot = Some(encoded),
            None => {}
        }
        if let Some(slot @ None) = self.dealers.get_mut(d) {
            *slot = Some(dealer);
        }
        Some(deals)
    }

    /// One per-node operation.
    fn one(&mut self, sub: u8, i: usize, attempt: u32) {
        match sub {
            ALL_DEAL => {
                for e in self.dealer(i).unwrap_or_default() {
                    self.emit(Out::Msg(e));
                }
            }
            ALL_END_DEALS => {
                if let Some(p) = self.players.get_mut(i) {
                    let e = p.end_deals();
                    self.emit(Out::Msg(e));
                }
            }
            ALL_START_ATTEMPT => {
                if let Some(p) = self.players.get_mut(i) {
                    for e in p.start_attempt(attempt) {
                        self.emit(e);
                    }
                }
            }
            ALL_PROPOSE => {
                if let Some(p) = self.players.get_mut(i) {
                    for e in p.propose() {
                        self.emit(e);
                    }
                }
            }
            ALL_FINALIZE => self.finalize(i),
            ALL_SAVE_RESUME => self.save_resume(i),
            _ => self.dealer_log(i),
        }
    }

    fn finalize(&mut self, i: usize) {
        let Some(p) = self.players.get_mut(i) else {
            return;
        };
        let Ok(out) = p.finalize() else {
            return;
        };
        self.certificate_holds(&out.certificate, i);
        if let Some(s) = &out.share {
            assert!(
                out.public.verify_share(s).is_ok(),
                "player {i}'s share does not match the public polynomial"
            );
        }
        match &self.public {
            Some(prev) => assert!(
                *prev == out.public,
                "two players finalized different public polynomials"
            ),
            None => self.public = Some(out.public),
        }
    }

    fn save_resume(&mut self, i: usize) {
        let Some(old) = self.players.get(i) else {
            return;
        };
        let saved = old.save();
        let new = match self.cl.player(i, Some(&saved)) {
            Ok(p) => p,
            Err(e) => broken(&format!("player {i}: {e}")),
        };
        assert!(new.save() == saved, "player {i}: save(resume(s)) != s");
        assert!(
            new.lock() == old.lock(),
            "player {i}: resume changed the vote lock"
        );
        assert_eq!(
            new.attempt(),
            old.attempt(),
            "player {i}: resume changed the attempt"
        );
        assert!(
            new.certificate() == old.certificate(),
            "player {i}: resume lost or changed the certificate"
        );
        if let Some(slot) = self.players.get_mut(i) {
            *slot = new;
        }
    }

    fn dealer_acks(&mut self, d: usize, bytes: &[u8], expect: Expect) {
        if matches!(self.dealers.get(d), Some(None)) {
            let _ = self.dealer(d);
        }
        let (Some(inbox), Some(Some(dealer))) =
            (self.dealer_inboxes.get_mut(d), self.dealers.get_mut(d))
        else {
            return;
        };
        for r in inbox.accept(&[bytes]) {
            match (r, expect) {
                (Ok(env), Expect::Any) => {
                    let _ = dealer.handle_acks(&env);
                }
                (Ok(_), _) => broken(&format!("dealer {d} accepted a forged message")),
                (Err(e), Expect::OtherRound) => {
                    assert_eq!(e, Reject::Skip(SkipReason::WrongRound))
                }
                (Err(_), _) => {}
            }
        }
    }

    fn dealer_log(&mut self, d: usize) {
        let Some(log) = self.dealers.get(d).and_then(|x| x.as_ref()?.log()) else {
            return;
        };
        if self.verified.insert(log.encode()) {
            let verdict = check_logs(&self.cl.cfg, &[&log], &mut CheckCache::default());
            assert!(
                matches!(verdict.first(), Some(Ok(_))),
                "dealer {d}'s own log fails the public checks: {verdict:?}"
            );
        }
        self.emit(Out::Msg(log));
    }

    fn route_next(&mut self, route: u8) {
        let Some(out) = self.queue.pop_front() else {
            return;
        };
        let bytes = out.envelope().encode();
        let targets = match &out {
            Out::Forward { to, .. } if route >= ROUTE_NATURAL => {
                self.cl.cfg.player_index(to).into_iter().collect()
            }
            _ => self.targets(route, &bytes),
        };
        for to in targets {
            self.deliver(to, &[&bytes]);
        }
    }

    fn flush(&mut self) {
        while !self.queue.is_empty() && self.deliveries < self.budget {
            self.route_next(ROUTE_NATURAL);
        }
    }

    /// A certificate player `i` holds or finalized from: it verifies, and every certificate in
    /// the case is for one dealer set.
    fn certificate_holds(&mut self, c: &Certificate, i: usize) {
        if !self.verified.insert(c.encode()) {
            return;
        }
        assert!(
            verify_certificate(&self.cl.cfg, c).is_ok(),
            "player {i} holds a certificate that does not verify"
        );
        let h = c.set.hash();
        match self.cert_set {
            Some(prev) => assert!(prev == h, "two certificates for different dealer sets"),
            None => self.cert_set = Some(h),
        }
    }

    /// Invariants over every player's state.
    fn check(&mut self) {
        let mut held = Vec::new();
        for (i, p) in self.players.iter().enumerate() {
            let lock = p.lock().map(|l| (l.attempt, l.set.hash()));
            match (self.locks.get_mut(i), lock) {
                (Some(slot @ None), Some(l)) => *slot = Some(l),
                (Some(Some(prev)), Some(l)) => {
                    assert!(
                        l.0 > prev.0 || l == *prev,
                        "player {i}'s lock went back or changed within an attempt"
                    );
                    *prev = l;
                }
                (Some(Some(_)), None) => broken(&format!("player {i} lost its lock")),
                _ => {}
            }
            let (prevote, precommit) = (p.last_prevote(), p.last_precommit());
            for (stage, v) in [(0u8, prevote), (1u8, precommit)] {
                if let Some((a, h)) = v {
                    self.votes.insert((i, stage, a, h));
                    let sets = self
                        .votes
                        .iter()
                        .filter(|(j, s, b, _)| *j == i && *s == stage && *b == a)
                        .count();
                    assert!(sets == 1, "player {i} voted for two sets in attempt {a}");
                }
            }
            if let Some(c) = p.certificate() {
                if !self.verified.contains(&c.encode()) {
                    held.push((i, c.clone()));
                }
            }
        }
        for (i, c) in held {
            self.certificate_holds(&c, i);
        }
    }

    fn op(&mut self, inp: &mut Input<'_>) {
        let code = inp.u8() % 16;
        match code {
            OP_DELIVER | OP_DELIVER_MUTATED => {
                let Some(m) = self.pick(inp.u8()) else {
                    return;
                };
                let m = if code == OP_DELIVER_MUTATED {
                    self.mutate(m, inp)
                } else {
                    (m, Expect::Any)
                };
                let route = inp.u8();
                self.send(route, &[m]);
            }
            OP_DELIVER_RAW => {
                let route = inp.u8();
                let n = usize::from(inp.u8());
                let bytes = inp.bytes(n).to_vec();
                self.send(route, &[(bytes, Expect::Any)]);
            }
            OP_BATCH => {
                let route = inp.u8();
                let k = inp.u8() % 4 + 1;
                let mut msgs = Vec::new();
                for _ in 0..k {
                    if let Some(m) = self.pick(inp.u8()) {
                        msgs.push(self.mutate(m, inp));
                    }
                }
                self.send(route, &msgs);
            }
            OP_END_DEALS => self.one(ALL_END_DEALS, usize::from(inp.u8()) % N, 0),
            OP_START_ATTEMPT => {
                let i = usize::from(inp.u8()) % N;
                let attempt = u32::from(inp.u8() % 3);
                self.one(ALL_START_ATTEMPT, i, attempt);
            }
            OP_PROPOSE => self.one(ALL_PROPOSE, usize::from(inp.u8()) % N, 0),
            OP_FINALIZE => self.finalize(usize::from(inp.u8()) % N),
            OP_SAVE_RESUME => self.save_resume(usize::from(inp.u8()) % N),
            OP_DEAL => self.one(ALL_DEAL, usize::from(inp.u8()) % N, 0),
            OP_DEALER_ACKS => {
                let d = usize::from(inp.u8()) % N;
                let Some(m) = self.pick(inp.u8()) else {
                    return;
                };
                let (bytes, expect) = self.mutate(m, inp);
                self.dealer_acks(d, &bytes, expect);
            }
            OP_DEALER_LOG => self.dealer_log(usize::from(inp.u8()) % N),
            OP_FLUSH => self.flush(),
            OP_STEP => {
                let route = inp.u8();
                self.route_next(route);
            }
            OP_DROP => {
                self.queue.pop_front();
            }
            _ => {
                let sub = inp.u8() % 7;
                let attempt = if sub == ALL_START_ATTEMPT {
                    u32::from(inp.u8() % 3)
                } else {
                    0
                };
                for i in 0..N {
                    self.one(sub, i, attempt);
                }
            }
        }
    }
}

/// Drives the cluster's state machines with the operations `data` encodes (see the module doc).
pub fn machines(data: &[u8]) {
    let fx = fixture();
    let mut inp = Input(data);
    // The starting state (byte % 8): 0-4 fresh players; 5-6 resumed after the log phase; 7
    // resumed after the honest run, locked and certified, so only they may see the run's votes
    // and certificate (and resuming them costs the most, hence the weights).
    let mode = match inp.u8() % 8 {
        0..=4 => MODE_FRESH,
        5 | 6 => MODE_AFTER_LOGS,
        _ => MODE_CERTIFIED,
    };
    let (pool, saves) = match mode {
        MODE_FRESH => (&fx.voteless, None),
        MODE_AFTER_LOGS => (&fx.voteless, Some(fx.after_logs.as_slice())),
        _ => (&fx.honest, Some(fx.at_end.as_slice())),
    };
    let mut sim = match Sim::new(&fx.cluster, pool, saves, MAX_DELIVERIES) {
        Ok(s) => s,
        Err(e) => broken(&e),
    };
    if mode == MODE_CERTIFIED {
        sim.cert_set = Some(fx.certificate.set.hash());
        sim.public = Some(fx.public.clone());
    }
    sim.check();
    for _ in 0..MAX_OPS {
        if inp.is_empty() {
            break;
        }
        sim.op(&mut inp);
        sim.check();
    }
}
