//! Errors and verdicts. A message that is not taken is either a *skip* (it names nobody: garbage
//! anyone could have sent, a duplicate, a late or early message an honest retry or clock skew
//! explains) or a *fault* (it names the sender, whose signature proves it sent something no
//! honest node sends). Only faults are evidence, so an honest node is never named.

use crate::Address;

/// A byte string that is not a well-formed protocol encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated")]
    Truncated,
    #[error("length prefix too large")]
    TooLong,
    #[error("trailing bytes")]
    TrailingBytes,
    #[error("unknown tag or flag")]
    BadTag,
    #[error("unsupported version")]
    BadVersion,
    #[error("invalid point or scalar: {0}")]
    Crypto(#[from] kms_crypto::Error),
    #[error("invalid field: {0}")]
    Invalid(&'static str),
}

/// Why a message was skipped. Nothing here is proof against anyone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkipReason {
    /// Failed before the signature was checked: anyone can write any sender into a header.
    #[error("malformed: {0}")]
    Malformed(DecodeError),
    #[error("message is for another round")]
    WrongRound,
    #[error("sender is not part of this round in that role")]
    UnknownSender,
    #[error("message is addressed to someone else")]
    NotForMe,
    #[error("bad signature")]
    BadSignature,
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
    #[error("signed a body that does not decode: {0}")]
    Malformed(DecodeError),
    #[error("signed two different messages of one kind (equivocation)")]
    Equivocation,
    #[error("signed an attempt beyond the round's last ({0})")]
    AttemptOutOfBounds(u32),
    #[error("sent an agreement message only the attempt's leader sends")]
    NotLeader,
    #[error("sent more distinct messages than the protocol allows in a round")]
    Flood,
    #[error("invalid content: {0}")]
    Invalid(&'static str),
}

/// A message that was not taken.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    #[error("skipped: {0}")]
    Skip(SkipReason),
    #[error("fault by {}: {reason}", crate::hex_address(culprit))]
    Fault {
        culprit: Address,
        reason: FaultReason,
    },
}

impl Reject {
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
    #[error("invalid round configuration: {0}")]
    Invalid(&'static str),
    #[error("invalid key material: {0}")]
    Crypto(#[from] kms_crypto::Error),
}

/// Why `observe` (finalization) could not produce an output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObserveError {
    #[error("certificate is for another round")]
    WrongRound,
    #[error("certificate does not verify: {0}")]
    BadCertificate(&'static str),
    #[error("missing the logs of {} included dealers", .0.len())]
    MissingLogs(Vec<Address>),
    #[error("an included log is invalid: {0}")]
    InvalidLog(crate::LogFault),
    #[error("the reshare would change the master public key")]
    MasterKeyChanged,
    #[error("this player's share could not be recovered: {0}")]
    Share(&'static str),
    #[error("crypto: {0}")]
    Crypto(#[from] kms_crypto::Error),
}
