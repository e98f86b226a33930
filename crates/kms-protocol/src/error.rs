//! Errors and verdicts. A message that is not taken is either a *skip* (it names nobody: garbage
//! anyone could have sent, a duplicate, a late or early message an honest retry or clock skew
//! explains) or a *fault* (it names the sender, whose signature proves it sent something no
//! honest node sends). Only faults are evidence, so an honest node is never named.

use crate::Address;

/// A byte string that is not a well-formed protocol encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ends before the encoding does (or a count claims more items than bytes remain).
    #[error("truncated")]
    Truncated,
    /// A length prefix above [`MAX_LEN`](crate::codec::MAX_LEN).
    #[error("length prefix too large")]
    TooLong,
    /// Bytes left over after a complete encoding.
    #[error("trailing bytes")]
    TrailingBytes,
    /// A kind, tag, flag or boolean byte outside its defined values.
    #[error("unknown tag or flag")]
    BadTag,
    /// A version byte or tag this code does not read (a message, a round config, saved state).
    #[error("unsupported version")]
    BadVersion,
    /// A point, scalar, key or ciphertext that `kms-crypto` refuses to decode.
    #[error("invalid point or scalar: {0}")]
    Crypto(#[from] kms_crypto::Error),
    /// A field that decodes but breaks a rule of the encoding (order, length, allowed kind);
    /// the text says which.
    #[error("invalid field: {0}")]
    Invalid(&'static str),
}

/// Why a message was skipped. Nothing here is proof against anyone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkipReason {
    /// Failed before the signature was checked: anyone can write any sender into a header.
    #[error("malformed: {0}")]
    Malformed(DecodeError),
    /// The header's round digest is not this round's.
    #[error("message is for another round")]
    WrongRound,
    /// The sender is not an operator of this round in the role the kind needs (dealer for
    /// deals and logs, player for the rest).
    #[error("sender is not part of this round in that role")]
    UnknownSender,
    /// The header names another recipient.
    #[error("message is addressed to someone else")]
    NotForMe,
    /// The signature does not verify under the sender's key.
    #[error("bad signature")]
    BadSignature,
    /// A copy of a message already taken, or a second one where only the first counts (a
    /// status or a vote).
    #[error("duplicate of a message already received")]
    Duplicate,
    /// For a phase or attempt this node has left (a slow sender, or a retry).
    #[error("too late for this node's phase or attempt")]
    Late,
    /// For an attempt this node has not reached (clock skew); kept when it is the next one.
    #[error("for an attempt this node has not reached")]
    Early,
    /// The sender already had its quota of messages checked in this round.
    #[error("the sender's quota for this round is used up")]
    OverQuota,
    /// Valid, but nothing this node needs (a second certificate, an old lock).
    #[error("not needed")]
    NotNeeded,
}

/// What a signed message proves against its sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultReason {
    /// The body does not decode, though the sender's signature covers it.
    #[error("signed a body that does not decode: {0}")]
    Malformed(DecodeError),
    /// Two different signed messages where only one is allowed (a deal, log, acks, proposal or
    /// prepare quorum certificate).
    #[error("signed two different messages of one kind (equivocation)")]
    Equivocation,
    /// An agreement message for an attempt the round does not have (carried here).
    #[error("signed an attempt beyond the round's last ({0})")]
    AttemptOutOfBounds(u32),
    /// A proposal or prepare quorum certificate from a player that does not lead the attempt.
    #[error("sent an agreement message only the attempt's leader sends")]
    NotLeader,
    /// More verified messages than the sender's quota for the round allows.
    #[error("sent more distinct messages than the protocol allows in a round")]
    Flood,
    /// Content no honest node signs (a vote for another set, an unjustified proposal, a
    /// certificate that does not verify); the text says which.
    #[error("invalid content: {0}")]
    Invalid(&'static str),
}

/// A message that was not taken.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    /// Refused without naming anyone.
    #[error("skipped: {0}")]
    Skip(SkipReason),
    /// Refused with proof against the sender.
    #[error("fault by {}: {reason}", crate::hex_address(culprit))]
    Fault {
        /// The sender, bound to the message by its own signature.
        culprit: Address,
        /// What the message proves the sender did.
        reason: FaultReason,
    },
}

impl Reject {
    /// A fault by `culprit` for `reason`.
    pub fn fault(culprit: Address, reason: FaultReason) -> Self {
        Self::Fault { culprit, reason }
    }

    /// The operator at fault; `None` for a skip.
    pub fn culprit(&self) -> Option<Address> {
        match self {
            Self::Skip(_) => None,
            Self::Fault { culprit, .. } => Some(*culprit),
        }
    }

    /// Whether the message is evidence against its sender (a fault, not a skip).
    pub fn is_fault(&self) -> bool {
        matches!(self, Self::Fault { .. })
    }

    /// A short stable name for metrics and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Skip(s) => match s {
                SkipReason::Malformed(_) => "malformed",
                SkipReason::WrongRound => "wrong_round",
                SkipReason::UnknownSender => "unknown_sender",
                SkipReason::NotForMe => "not_for_me",
                SkipReason::BadSignature => "bad_signature",
                SkipReason::Duplicate => "duplicate",
                SkipReason::Late => "late",
                SkipReason::Early => "early",
                SkipReason::OverQuota => "over_quota",
                SkipReason::NotNeeded => "not_needed",
            },
            Self::Fault { reason, .. } => match reason {
                FaultReason::Malformed(_) => "malformed_body",
                FaultReason::Equivocation => "equivocation",
                FaultReason::AttemptOutOfBounds(_) => "attempt_out_of_bounds",
                FaultReason::NotLeader => "not_leader",
                FaultReason::Flood => "flood",
                FaultReason::Invalid(_) => "invalid",
            },
        }
    }
}

impl From<SkipReason> for Reject {
    fn from(s: SkipReason) -> Self {
        Self::Skip(s)
    }
}

/// A round configuration that cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The configuration breaks a rule (duplicate operator, operator count, epoch order, role);
    /// the text says which.
    #[error("invalid round configuration: {0}")]
    Invalid(&'static str),
    /// Key material or a polynomial operation that `kms-crypto` refuses.
    #[error("invalid key material: {0}")]
    Crypto(#[from] kms_crypto::Error),
}

/// Why `observe` (finalization) could not produce an output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObserveError {
    /// The certificate's round digest is not this round's.
    #[error("certificate is for another round")]
    WrongRound,
    /// The certificate does not check out (signers, signature, set shape, exclusion evidence,
    /// MPK), or there is none to check yet; the text says which.
    #[error("certificate does not verify: {0}")]
    BadCertificate(&'static str),
    /// The logs of these included dealers were not among those given.
    #[error("missing the logs of {} included dealers", .0.len())]
    MissingLogs(Vec<Address>),
    /// An included dealer's log fails the public checks.
    #[error("an included log is invalid: {0}")]
    InvalidLog(crate::LogFault),
    /// In a reshare, the combined constant term is not the previous master public key.
    #[error("the reshare would change the master public key")]
    MasterKeyChanged,
    /// The caller's own share could not be recovered (not a player, a sealed share that does
    /// not open, or a sum that does not match the public polynomial).
    #[error("this player's share could not be recovered: {0}")]
    Share(&'static str),
    /// A revealed or opened share, or the combination of commitments or shares, that
    /// `kms-crypto` refuses.
    #[error("crypto: {0}")]
    Crypto(#[from] kms_crypto::Error),
}
