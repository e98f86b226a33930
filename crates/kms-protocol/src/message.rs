//! Messages: the signed envelope and every body, with their canonical codecs.
//!
//! Version 2 (issue 15): agreement runs in two voting steps per attempt (prevote, then
//! precommit on a prepare quorum certificate), and the certificate binds its attempt.
//!
//! An envelope is signed with the sender's BN254 operator key (a Schnorr signature in G1, so
//! checking it needs no pairing; docs/0006) over
//! keccak256(tag || round || sender || recipient || kind || keccak256(body)). Parsing is in two
//! steps, [`RawEnvelope::parse`] (header and signature) and [`RawEnvelope::open`] (body), so that a
//! body that fails to decode is blamed on its sender only once the sender's signature has checked.

use crate::codec::{Reader, Writer};
use crate::error::{DecodeError, FaultReason, Reject};
use crate::round::{g1_from_abi, RoundConfig};
use crate::Address;
use alloy_primitives::keccak256;
use kms_crypto::bls::{self, Commitment};
use kms_crypto::bn254;
use kms_crypto::seal::Sealed;
use std::collections::BTreeMap;

const MSG_TAG: &[u8] = b"KMS_PROTOCOL_MSG_V3";
/// What precommits (and so certificates, and the chain anchor) sign.
const VOTE_TAG: &[u8] = b"KMS_VOTE_V3";
/// What prevotes (and so prepare quorum certificates) sign.
const PREVOTE_TAG: &[u8] = b"KMS_PREVOTE_V1";
const VERSION: u8 = 3;
/// Sealed share: ephemeral key, 32-byte scalar, AES-GCM tag.
pub const SEALED_SHARE_LEN: usize = 32 + 32 + 16;

/// Message kinds, as on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A dealer's commitment and one player's sealed share, sent to that player.
    Deal = 1,
    /// A player's ack or complaint for every dealer, broadcast.
    Acks = 2,
    /// A dealer's public log, broadcast.
    Log = 3,
    /// A player's lock, evidence and held logs, sent to the attempt's leader.
    Status = 4,
    /// The leader's dealer set for an attempt, broadcast.
    Proposal = 5,
    /// A player's first vote, on the proposal, sent to the leader.
    Prevote = 6,
    /// The leader's prepare quorum certificate, broadcast.
    Prepared = 7,
    /// A player's second vote, on the prepare quorum certificate, sent to the leader.
    Precommit = 8,
    /// The round's decision, broadcast.
    Certificate = 9,
}

impl Kind {
    /// Every kind, in wire order.
    pub const ALL: [Kind; 9] = [
        Kind::Deal,
        Kind::Acks,
        Kind::Log,
        Kind::Status,
        Kind::Proposal,
        Kind::Prevote,
        Kind::Prepared,
        Kind::Precommit,
        Kind::Certificate,
    ];

    fn from_u8(v: u8) -> Result<Self, DecodeError> {
        Self::ALL
            .into_iter()
            .find(|k| *k as u8 == v)
            .ok_or(DecodeError::BadTag)
    }
}

pub(crate) fn keccak(b: &[u8]) -> [u8; 32] {
    keccak256(b).0
}

mod envelope;
pub use envelope::*;

/// A player's verdict on one dealer's deal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Complaint {
    /// No single deal from the dealer arrived (none, or two that differ).
    NoDeal = 1,
    /// The commitment's threshold is not the round's.
    WrongDegree = 2,
    /// Reshare: the commitment's constant term is not the dealer's previous public share.
    BadConstant = 3,
    /// The sealed share does not open to a scalar with this player's key.
    Undecryptable = 4,
    /// The opened share does not match the commitment.
    BadShare = 5,
}

/// Per dealer: an ack of keccak(commitment || my sealed share), or a complaint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AckEntry {
    /// The deal checked out: keccak(commitment hash || the player's sealed share).
    Ack([u8; 32]),
    /// The deal did not check out, and why.
    Complaint(Complaint),
}

/// A player's share in clear plus the ephemeral secret its ciphertext was sealed with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reveal {
    /// Index of the player whose share is revealed.
    pub player: u16,
    /// The share's scalar in clear; anyone checks it against the commitment.
    pub share: [u8; 32],
    /// The ephemeral secret of the player's sealed share, so anyone can reopen it and see
    /// whether the dealer or the player was at fault.
    pub ephemeral: [u8; 32],
}

/// Deal: the commitment and the recipient's sealed share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deal {
    /// The dealer's Feldman commitment (in G2) to its polynomial.
    pub commitment: Commitment,
    /// keccak of the commitment's encoding (taken on decode, not sent); acks bind it.
    pub commitment_hash: [u8; 32],
    /// The recipient's share, sealed to its encryption key.
    pub share: Sealed,
}

/// A dealer's public log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DealerLog {
    /// The dealer's Feldman commitment (in G2) to its polynomial.
    pub commitment: Commitment,
    /// keccak of the commitment's encoding (taken on decode, not sent); acks bind it.
    pub commitment_hash: [u8; 32],
    /// One per player, in player order.
    pub shares: Vec<Sealed>,
    /// Signed `Acks` messages that ack this dealing.
    pub acks: Vec<Envelope>,
    /// For every player without an ack.
    pub reveals: Vec<Reveal>,
}

/// Proof that a dealer misbehaved, checkable by anyone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// Two different signed deals (or logs) from one dealer in one round.
    Equivocation(Box<Envelope>, Box<Envelope>),
    /// A signed log that fails the public checks.
    InvalidLog(Box<Envelope>),
}

/// What a certificate finalizes: the included logs by hash and the excluded dealers with proof.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DealerSet {
    /// (dealer index, keccak of the log body), sorted by index.
    pub included: Vec<(u16, [u8; 32])>,
    /// (dealer index, evidence), sorted by index.
    pub excluded: Vec<(u16, Evidence)>,
}

impl DealerSet {
    /// keccak of the set's encoding: the set hash that votes sign and carry.
    pub fn hash(&self) -> [u8; 32] {
        let mut w = Writer::default();
        self.write(&mut w);
        keccak(&w.finish())
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.count(self.included.len());
        for (i, h) in &self.included {
            w.u16(*i).fixed(h);
        }
        w.count(self.excluded.len());
        for (i, e) in &self.excluded {
            w.u16(*i);
            e.write(w);
        }
    }

    pub(crate) fn read(
        r: &mut Reader<'_>,
        cache: &mut CommitmentCache,
    ) -> Result<Self, DecodeError> {
        let n = r.count(34)?;
        let mut included = Vec::with_capacity(n);
        for _ in 0..n {
            included.push((r.u16()?, r.array()?));
        }
        let m = r.count(3)?;
        let mut excluded = Vec::with_capacity(m);
        for _ in 0..m {
            excluded.push((r.u16()?, Evidence::read(r, cache)?));
        }
        let strictly_sorted = |v: Vec<u16>| v.windows(2).all(|w| matches!(w, [a, b] if a < b));
        if !strictly_sorted(included.iter().map(|(i, _)| *i).collect())
            || !strictly_sorted(excluded.iter().map(|(i, _)| *i).collect())
        {
            return Err(DecodeError::Invalid("dealer set not sorted"));
        }
        Ok(Self { included, excluded })
    }
}

mod vote;
pub use vote::*;

/// Every message body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// A dealer's deal, to one player.
    Deal(Deal),
    /// A player's ack or complaint per dealer, in dealer order, broadcast.
    Acks(Vec<AckEntry>),
    /// A dealer's public log, broadcast.
    Log(DealerLog),
    /// A player to the attempt's leader: its lock, the evidence it holds, and which logs it
    /// holds (by dealer and hash), so the leader can forward the ones it lacks.
    Status {
        /// The attempt whose leader this is sent to.
        attempt: u32,
        /// The highest prepare quorum certificate this player is locked on, if any.
        lock: Option<PrepareQc>,
        /// Evidence this player holds against dealers.
        evidence: Vec<Evidence>,
        /// (dealer index, log body hash) of each valid log it holds, sorted.
        held: Vec<(u16, [u8; 32])>,
    },
    /// The leader's set, with the quorum certificate that justifies it when it is not new.
    Proposal {
        /// The attempt proposed in; only its leader may send it.
        attempt: u32,
        /// The proposed dealer set.
        set: DealerSet,
        /// A prepare quorum certificate on this set from an earlier attempt; `None` for a new set,
        /// whose logs and evidence each player checks itself.
        justify: Option<PrepareQc>,
    },
    /// A player's vote for the attempt's proposal, sent to the leader; t of them make a prepare
    /// quorum certificate.
    Prevote {
        /// The attempt voted in.
        attempt: u32,
        /// [`DealerSet::hash`] of the proposed set; the leader checks it is its proposal's.
        set_hash: [u8; 32],
        /// The player's Schnorr signature over the attempt's prepare digest ([`stage_digest`]).
        signature: bn254::SchnorrSignature,
    },
    /// The leader's prepare quorum certificate of the attempt.
    Prepared(PrepareQc),
    /// A player's vote on the attempt's prepare quorum certificate, sent to the leader; t of
    /// them make the certificate.
    Precommit {
        /// The attempt voted in.
        attempt: u32,
        /// [`DealerSet::hash`] of the prepared set; the leader checks it is its prepared set's.
        set_hash: [u8; 32],
        /// The player's BN254 BLS signature (in G1) over [`vote_digest`]; the leader sums t
        /// of them.
        signature: bn254::G1Point,
    },
    /// The round's certificate, broadcast by the leader and passed on by every node that
    /// finalizes.
    Certificate(Certificate),
}

impl Body {
    /// The kind this body is sent as.
    pub fn kind(&self) -> Kind {
        match self {
            Body::Deal(_) => Kind::Deal,
            Body::Acks(_) => Kind::Acks,
            Body::Log(_) => Kind::Log,
            Body::Status { .. } => Kind::Status,
            Body::Proposal { .. } => Kind::Proposal,
            Body::Prevote { .. } => Kind::Prevote,
            Body::Prepared(_) => Kind::Prepared,
            Body::Precommit { .. } => Kind::Precommit,
            Body::Certificate(_) => Kind::Certificate,
        }
    }

    /// The agreement attempt a message belongs to (`None` for the dealing phases and the
    /// certificate, which are per round).
    pub fn attempt(&self) -> Option<u32> {
        match self {
            Body::Status { attempt, .. }
            | Body::Proposal { attempt, .. }
            | Body::Prevote { attempt, .. }
            | Body::Precommit { attempt, .. } => Some(*attempt),
            Body::Prepared(qc) => Some(qc.attempt),
            Body::Deal(_) | Body::Acks(_) | Body::Log(_) | Body::Certificate(_) => None,
        }
    }

    /// The canonical encoding, which the envelope's signature covers by hash.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            Body::Deal(d) => {
                w.bytes(&d.commitment.to_bytes()).bytes(&d.share.to_bytes());
            }
            Body::Acks(entries) => write_acks(&mut w, entries),
            Body::Log(l) => {
                w.bytes(&l.commitment.to_bytes());
                w.count(l.shares.len());
                for s in &l.shares {
                    w.bytes(&s.to_bytes());
                }
                w.count(l.acks.len());
                for a in &l.acks {
                    a.raw.write(&mut w);
                }
                w.count(l.reveals.len());
                for rv in &l.reveals {
                    w.u16(rv.player).fixed(&rv.share).fixed(&rv.ephemeral);
                }
            }
            Body::Status {
                attempt,
                lock,
                evidence,
                held,
            } => {
                w.u32(*attempt);
                write_option(&mut w, lock.as_ref());
                w.count(evidence.len());
                for e in evidence {
                    e.write(&mut w);
                }
                w.count(held.len());
                for (d, h) in held {
                    w.u16(*d).fixed(h);
                }
            }
            Body::Proposal {
                attempt,
                set,
                justify,
            } => {
                w.u32(*attempt);
                set.write(&mut w);
                write_option(&mut w, justify.as_ref());
            }
            Body::Prevote {
                attempt,
                set_hash,
                signature,
            } => {
                w.u32(*attempt).fixed(set_hash);
                Prepare::write_vote(&mut w, signature);
            }
            Body::Precommit {
                attempt,
                set_hash,
                signature,
            } => {
                w.u32(*attempt).fixed(set_hash);
                Commit::write_vote(&mut w, signature);
            }
            Body::Prepared(q) => q.write(&mut w),
            Body::Certificate(c) => c.write(&mut w),
        }
        w.finish()
    }

    /// Decodes a body of `kind`, strictly (no trailing bytes), decoding commitments through
    /// `cache`.
    pub fn decode(
        kind: Kind,
        bytes: &[u8],
        cache: &mut CommitmentCache,
    ) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let body = match kind {
            Kind::Deal => {
                let (commitment, commitment_hash) = cache.decode(r.bytes()?)?;
                let share = read_sealed(&mut r)?;
                Body::Deal(Deal {
                    commitment,
                    commitment_hash,
                    share,
                })
            }
            Kind::Acks => Body::Acks(read_acks(&mut r)?),
            Kind::Log => {
                let (commitment, commitment_hash) = cache.decode(r.bytes()?)?;
                let n = r.count(4 + SEALED_SHARE_LEN)?;
                let mut shares = Vec::with_capacity(n);
                for _ in 0..n {
                    shares.push(read_sealed(&mut r)?);
                }
                let n = r.count(100)?;
                let mut acks = Vec::with_capacity(n);
                for _ in 0..n {
                    let raw = RawEnvelope::read(&mut r)?;
                    if raw.kind != Kind::Acks {
                        return Err(DecodeError::Invalid(
                            "log embeds a message that is not an ack",
                        ));
                    }
                    let entries = {
                        let mut inner = Reader::new(&raw.body);
                        let e = read_acks(&mut inner)?;
                        inner.finish()?;
                        e
                    };
                    acks.push(Envelope {
                        raw,
                        body: Body::Acks(entries),
                    });
                }
                let n = r.count(66)?;
                let mut reveals = Vec::with_capacity(n);
                for _ in 0..n {
                    reveals.push(Reveal {
                        player: r.u16()?,
                        share: r.array()?,
                        ephemeral: r.array()?,
                    });
                }
                Body::Log(DealerLog {
                    commitment,
                    commitment_hash,
                    shares,
                    acks,
                    reveals,
                })
            }
            Kind::Status => {
                let attempt = r.u32()?;
                let lock = if r.bool()? {
                    Some(PrepareQc::read(&mut r, cache, Prepare)?)
                } else {
                    None
                };
                let n = r.count(3)?;
                let mut evidence = Vec::with_capacity(n);
                for _ in 0..n {
                    evidence.push(Evidence::read(&mut r, cache)?);
                }
                let n = r.count(34)?;
                let mut held = Vec::with_capacity(n);
                for _ in 0..n {
                    held.push((r.u16()?, r.array()?));
                }
                if !held.windows(2).all(|w| matches!(w, [a, b] if a < b)) {
                    return Err(DecodeError::Invalid("held logs not sorted"));
                }
                Body::Status {
                    attempt,
                    lock,
                    evidence,
                    held,
                }
            }
            Kind::Proposal => Body::Proposal {
                attempt: r.u32()?,
                set: DealerSet::read(&mut r, cache)?,
                justify: if r.bool()? {
                    Some(PrepareQc::read(&mut r, cache, Prepare)?)
                } else {
                    None
                },
            },
            Kind::Prevote => Body::Prevote {
                attempt: r.u32()?,
                set_hash: r.array()?,
                signature: Prepare::read_vote(&mut r)?,
            },
            Kind::Precommit => Body::Precommit {
                attempt: r.u32()?,
                set_hash: r.array()?,
                signature: Commit::read_vote(&mut r)?,
            },
            Kind::Prepared => Body::Prepared(PrepareQc::read(&mut r, cache, Prepare)?),
            Kind::Certificate => Body::Certificate(Certificate::read(&mut r, cache, Commit)?),
        };
        r.finish()?;
        Ok(body)
    }
}

fn write_option<S: Stage>(w: &mut Writer, q: Option<&Quorum<S>>) {
    match q {
        Some(q) => {
            w.u8(1);
            q.write(w);
        }
        None => {
            w.u8(0);
        }
    }
}

fn write_acks(w: &mut Writer, entries: &[AckEntry]) {
    w.count(entries.len());
    for e in entries {
        match e {
            AckEntry::Ack(h) => {
                w.u8(0).fixed(h);
            }
            AckEntry::Complaint(c) => {
                w.u8(*c as u8);
            }
        }
    }
}

fn read_acks(r: &mut Reader<'_>) -> Result<Vec<AckEntry>, DecodeError> {
    let n = r.count(1)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(match r.u8()? {
            0 => AckEntry::Ack(r.array()?),
            1 => AckEntry::Complaint(Complaint::NoDeal),
            2 => AckEntry::Complaint(Complaint::WrongDegree),
            3 => AckEntry::Complaint(Complaint::BadConstant),
            4 => AckEntry::Complaint(Complaint::Undecryptable),
            5 => AckEntry::Complaint(Complaint::BadShare),
            _ => return Err(DecodeError::BadTag),
        });
    }
    Ok(out)
}

fn read_sealed(r: &mut Reader<'_>) -> Result<Sealed, DecodeError> {
    let b = r.bytes()?;
    if b.len() != SEALED_SHARE_LEN {
        return Err(DecodeError::Invalid("sealed share length"));
    }
    Ok(Sealed::from_bytes(b)?)
}

impl Evidence {
    fn write(&self, w: &mut Writer) {
        match self {
            Evidence::Equivocation(a, b) => {
                w.u8(1);
                a.raw.write(w);
                b.raw.write(w);
            }
            Evidence::InvalidLog(l) => {
                w.u8(2);
                l.raw.write(w);
            }
        }
    }

    /// Evidence holds signed deals or logs, never further evidence, so decoding cannot recurse
    /// without bound.
    fn read(r: &mut Reader<'_>, cache: &mut CommitmentCache) -> Result<Self, DecodeError> {
        let mut env = |r: &mut Reader<'_>| -> Result<Box<Envelope>, DecodeError> {
            let raw = RawEnvelope::read(r)?;
            if !matches!(raw.kind, Kind::Deal | Kind::Log) {
                return Err(DecodeError::Invalid("evidence must be a deal or a log"));
            }
            let body = Body::decode(raw.kind, &raw.body, cache)?;
            Ok(Box::new(Envelope { raw, body }))
        };
        match r.u8()? {
            1 => {
                let a = env(r)?;
                let b = env(r)?;
                Ok(Evidence::Equivocation(a, b))
            }
            2 => Ok(Evidence::InvalidLog(env(r)?)),
            _ => Err(DecodeError::BadTag),
        }
    }

    /// The dealer the evidence is against.
    pub fn dealer(&self) -> Address {
        match self {
            Evidence::Equivocation(a, _) | Evidence::InvalidLog(a) => a.raw.sender,
        }
    }
}
