//! Errors and rejections. A rejection always says why and, when the sender is known, names it.

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

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    #[error("malformed: {0}")]
    Malformed(DecodeError),
    #[error("message is for another round")]
    WrongRound,
    #[error("sender is not part of this round in that role")]
    UnknownSender,
    #[error("message is addressed to someone else")]
    NotForMe,
    #[error("message is not expected in the current phase")]
    WrongPhase,
    #[error("bad signature")]
    BadSignature,
    #[error("duplicate of a message already received")]
    Duplicate,
    #[error("sender signed two different messages of one kind (equivocation)")]
    Equivocation,
    #[error("invalid content: {0}")]
    Invalid(&'static str),
}

/// A refused message: the reason, and the party at fault when one can be named (the sender of a
/// signed message; `None` when even the header did not parse).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} (culprit: {})", culprit.map(|a| crate::hex_address(&a)).unwrap_or_else(|| "unknown".into()))]
pub struct Reject {
    pub culprit: Option<Address>,
    pub reason: RejectReason,
}

impl Reject {
    pub fn by(culprit: Address, reason: RejectReason) -> Self {
        Self {
            culprit: Some(culprit),
            reason,
        }
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
