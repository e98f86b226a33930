//! Why a node did not do its part, and how a call reports every node's part.

use super::*;

/// Why one node did not do its part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// No answer: connection refused, timeout, broken connection.
    Unreachable(String),
    /// The node refused with its error shape (`unknown_app`, `not_owner`, `no_epoch`, ...).
    Refused {
        /// The HTTP status.
        status: u16,
        /// The node's stable code.
        code: String,
        /// The node's message.
        message: String,
    },
    /// An answer that does not follow the wire contract or does not check out.
    BadAnswer(String),
    /// A well-formed answer with another view than the agreed one.
    Disagrees(String),
    /// The node is not an operator of the agreed epoch, so it holds no share of it.
    NotOperator {
        /// The agreed epoch.
        epoch: u64,
    },
    /// The node had not answered when the others' answers settled the call.
    NotWaitedFor,
    /// A partial signature that does not verify against the agreed commitment: the node cheated
    /// or is broken, and is named as a culprit.
    BadPartial,
}

impl Fault {
    /// True when the node sent provably wrong data (a partial that does not verify).
    pub fn is_culprit(&self) -> bool {
        matches!(self, Fault::BadPartial)
    }

    /// True when the node does not hold the epoch asked for yet, which passes once it has
    /// caught up with the others.
    pub fn is_behind(&self) -> bool {
        matches!(self, Fault::Refused { code, .. } if code == "unknown_epoch" || code == "no_epoch")
    }

    pub(super) fn from_error(e: Error) -> Self {
        match e {
            Error::Api {
                status,
                code,
                message,
            } => Fault::Refused {
                status,
                code,
                message,
            },
            Error::UnexpectedAnswer { status, detail } => {
                Fault::BadAnswer(format!("HTTP {status}: {detail}"))
            }
            Error::Transport(cause) => Fault::Unreachable(transport_reason(cause.as_ref())),
            other => Fault::BadAnswer(other.to_string()),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Unreachable(why) => write!(f, "no answer ({why})"),
            Fault::Refused {
                status,
                code,
                message,
            } => write!(f, "refused with HTTP {status} {code}: {message}"),
            Fault::BadAnswer(why) => write!(f, "bad answer: {why}"),
            Fault::Disagrees(why) => write!(f, "disagrees: {why}"),
            Fault::NotOperator { epoch } => write!(f, "not an operator of epoch {epoch}"),
            Fault::NotWaitedFor => {
                f.write_str("no answer yet when the others had settled the call (not waited for)")
            }
            Fault::BadPartial => f.write_str(
                "culprit: its partial signature does not verify against the agreed commitment",
            ),
        }
    }
}

/// A timeout or a refused connection in a few words, with the innermost cause.
pub(super) fn transport_reason(e: &(dyn std::error::Error + 'static)) -> String {
    let mut root = e;
    while let Some(next) = root.source() {
        root = next;
    }
    let kind = match e.downcast_ref::<reqwest::Error>() {
        Some(r) if r.is_timeout() => "timed out",
        Some(r) if r.is_connect() => "cannot connect",
        _ => "transport error",
    };
    format!("{kind}: {root}")
}

/// One node's part in a call: its URL, its address once it has said it, and what went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeReport {
    /// The URL asked.
    pub url: String,
    /// The node's address, once it has said it.
    pub node: Option<Address>,
    /// `None` when the node did its part.
    pub fault: Option<Fault>,
}

impl fmt::Display for NodeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)?;
        if let Some(node) = self.node {
            write!(f, " ({node})")?;
        }
        match &self.fault {
            Some(fault) => write!(f, ": {fault}"),
            None => f.write_str(": ok"),
        }
    }
}

/// The text of [`Error::Quorum`]: the count, then one line per node that failed.
pub(crate) fn quorum_message(
    what: &str,
    got: usize,
    needed: usize,
    nodes: &[NodeReport],
) -> String {
    let mut out = format!("{what}: {got} of the {needed} nodes needed");
    for report in nodes.iter().filter(|r| r.fault.is_some()) {
        out.push_str(&format!("\n  - {report}"));
    }
    out
}
