//! What a round's faulty nodes do: the fault plan a simulated round carries out.

use super::*;

/// How a faulty dealer deviates. Victims are named by address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DealerFault {
    /// Seals a wrong (well-formed) share to `to`, and its log is consistent with what it sent, so
    /// the reveal adjudicates to `RevealKind::BadShare`.
    BadShare {
        /// The player that gets the wrong share.
        to: Address,
    },
    /// Deals a polynomial with t + 1 coefficients and publishes that (invalid) log.
    WrongDegree,
    /// Commitment coefficient `index` (mod t) is the identity: deals and log fail to decode.
    IdentityPoint {
        /// Which coefficient, taken mod t.
        index: usize,
    },
    /// Commitment coefficient `index` (mod t) is an on-curve G2 point outside the prime-order
    /// subgroup (compressed encoding): deals and log fail to decode.
    OffSubgroup {
        /// Which coefficient, taken mod t.
        index: usize,
    },
    /// Sends a second, different dealing (same degree, same constant in a reshare) to `others`.
    Equivocate {
        /// The players that get the second dealing.
        others: Vec<Address>,
    },
    /// Sends no deal to `to`.
    Withhold {
        /// The player left without a deal.
        to: Address,
    },
    /// Sends the deal addressed to `to` to `instead`, and nothing to `to`.
    Misaddressed {
        /// The player the deal is for.
        to: Address,
        /// The node that gets it.
        instead: Address,
    },
    /// The deal to `to` holds a share sealed to `sealed_for`'s key; its log is consistent with it.
    WrongSeal {
        /// The player the deal is for.
        to: Address,
        /// The player whose key the share is sealed to.
        sealed_for: Address,
    },
}

/// How a faulty leader deviates, in every attempt it leads (crashes: the first one only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaderFault {
    /// Down for the whole of the first attempt it leads.
    CrashBeforePropose,
    /// In the first attempt it leads, its proposal reaches only `reach`; then it is down for the
    /// rest of the attempt (the votes sent to it are lost).
    CrashAfterPropose {
        /// The players its proposal reaches.
        reach: Vec<Address>,
    },
    /// Proposes a set that honest players must refuse, and never certifies.
    InvalidSet,
    /// Proposes a valid set with only the minimum number of dealings, and never certifies.
    PartialSet,
    /// Sends its full set to `full` and a partial one to everyone else, and never certifies.
    Split {
        /// The players that get the full set.
        full: Vec<Address>,
    },
    /// Leads honestly up to the prepare certificate (so players lock), then withholds the
    /// round's certificate.
    WithholdCertificate,
}

/// A node that is down for part of the round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Down {
    /// First phase it misses.
    pub from: Phase,
    /// First phase it is back for (`None`: the rest of the round).
    pub until: Option<Phase>,
    /// `true`: a crash; it comes back from `Player::resume(save())` and a re-created dealer.
    /// `false`: a partition; it keeps its memory.
    pub restart: bool,
}

impl Down {
    /// Whether the node is down for `phase`: from `from` up to, not including, `until`.
    pub fn covers(&self, phase: Phase) -> bool {
        rank(self.from) <= rank(phase) && self.until.is_none_or(|u| rank(phase) < rank(u))
    }
}

/// What an attacking operator does beyond dealing and leading badly (issue 15): each message it
/// sends is signed with its own key, so every one of these must end in a fault that names it,
/// and none may stop the round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Byz {
    /// Serves every forged epoch of `sim::forge` to nodes that catch up (for this epoch and a
    /// far later one, which they try first).
    ForgedEpochs,
    /// At every attempt, sends every player proposals for the next attempt, for a skipped one,
    /// and for one past the round's last.
    AttemptJumps,
    /// At every phase, sends every member this many distinct signed prevotes.
    Flood(u32),
    /// Sends no status to any leader.
    WithholdStatus,
    /// As leader, follows its proposal to each player with a second, different one.
    EquivocateProposals,
    /// Follows each status with a second, different one (claiming to hold no log).
    EquivocateStatuses,
}

/// What one node does wrong in one round.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodePlan {
    /// When it is down, if at all.
    pub down: Option<Down>,
    /// Withholds its `Acks` from everyone else.
    pub no_ack: bool,
    /// How it deals badly, if it does.
    pub dealer: Option<DealerFault>,
    /// How it leads badly, if it does.
    pub leader: Option<LeaderFault>,
    /// The further attacks it makes.
    pub byz: Vec<Byz>,
}

impl NodePlan {
    /// Any deviation at all (a node that is down counts: it is not reachable).
    pub fn is_faulty(&self) -> bool {
        self.down.is_some() || self.is_byzantine()
    }

    /// Deviates from the protocol (beyond being down).
    pub fn is_byzantine(&self) -> bool {
        self.no_ack || self.dealer.is_some() || self.leader.is_some() || !self.byz.is_empty()
    }

    /// Whether it makes attack `b`.
    pub fn does(&self, b: Byz) -> bool {
        self.byz.contains(&b)
    }
}

/// One round's faults.
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    /// Plans by node; a node without one is honest.
    pub nodes: BTreeMap<Address, NodePlan>,
    /// Bytes injected at the start of a phase as (phase, from, to, bytes): e.g. messages of an
    /// older round.
    pub replays: Transcript,
    /// At the start of `phase`, re-deliver `count` messages this round already delivered (to
    /// their recipient, or half the time to some other node).
    pub stale: Vec<(Phase, usize)>,
    /// Seeds everything the network crafts or picks.
    pub seed: u64,
    /// Kept for plans written before attempts were bounded by the round (`cfg.attempts()`).
    pub max_attempts: u32,
    /// Phases end on their deadlines only (no early end when everything is in), so that faults
    /// tied to phases bite at the phase they name.
    pub no_early: bool,
    /// Writes that fail: (node, first failing write, how many).
    pub failed_writes: Vec<(Address, u64, u64)>,
}

impl FaultPlan {
    /// A plan without faults, with `seed` for whatever faults are added.
    pub fn new(seed: u64, max_attempts: u32) -> Self {
        Self {
            seed,
            max_attempts,
            ..Self::default()
        }
    }

    /// Node `a`'s plan, if it has one.
    pub fn node(&self, a: &Address) -> Option<&NodePlan> {
        self.nodes.get(a)
    }

    /// Nodes with any fault.
    pub fn faulty(&self) -> BTreeSet<Address> {
        self.nodes
            .iter()
            .filter(|(_, p)| p.is_faulty())
            .map(|(a, _)| *a)
            .collect()
    }

    /// Dealers whose dealing cannot be clean: a dealer fault, or down for good from the start
    /// (a node cut off for a while deals late but can deal cleanly: the others wait for logs
    /// until the log phase ends).
    pub fn faulty_dealers(&self) -> BTreeSet<Address> {
        self.nodes
            .iter()
            .filter(|(_, p)| {
                p.dealer.is_some()
                    || p.down
                        .is_some_and(|d| d.from == Phase::Deal && d.until.is_none())
            })
            .map(|(a, _)| *a)
            .collect()
    }

    /// Edits node `a`'s plan with `f` (starting from an honest one); chainable.
    pub fn set(&mut self, a: Address, f: impl FnOnce(&mut NodePlan)) -> &mut Self {
        f(self.nodes.entry(a).or_default());
        self
    }
}
