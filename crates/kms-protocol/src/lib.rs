//! The threshold network's protocol as pure state machines: DKG and reshare on BLS12-381 with
//! Feldman commitments, sealed shares, public dealer logs, leader-based agreement with BN254
//! certificates, and `observe()` to finalize from public data. No IO, no clock, no global
//! randomness: the caller feeds messages and decides when a phase ends, so whole clusters run in
//! memory from a seed (`sim`, with plans of faults and attacks, and the fuzz drivers: the test
//! harness, compiled only with the `testkit` feature, which tests, benchmarks and fuzz targets
//! enable). Design: docs/0005-threshold-protocol.md.

pub mod adopt;
mod agreement;
#[cfg(any(test, feature = "testkit"))]
pub mod ceremony;
pub mod check;
pub mod codec;
mod dealer;
mod error;
#[cfg(any(test, feature = "testkit"))]
pub mod fuzz;
mod inbox;
pub mod lifecycle;
pub mod message;
mod observe;
mod player;
pub mod quorum;
pub mod round;
#[cfg(any(test, feature = "testkit"))]
pub mod sim;

pub use check::{check_logs, evidence_holds, CheckCache, LogFault, LogInfo, RevealKind};
pub use dealer::Dealer;
pub use error::{ConfigError, DecodeError, FaultReason, ObserveError, Reject, SkipReason};
pub use inbox::{quota, Inbox};
pub use message::{
    stage_digest, vote_digest, AckEntry, Body, Certificate, Commit, CommitmentCache, Complaint,
    Deal, DealerLog, DealerSet, Envelope, Evidence, Header, Kind, Prepare, PrepareQc, Quorum,
    RawEnvelope, Reveal, Stage,
};
pub use observe::{observe, verify_certificate, DealerOutcome, Output};
pub use player::{Out, Player, Received};
pub use quorum::verify_quorum;
pub use round::{Operator, RoundConfig, RoundKind};

/// An operator's Ethereum address.
pub type Address = [u8; 20];

/// 0x-prefixed lowercase hex of an address.
pub fn hex_address(a: &Address) -> String {
    let mut s = String::from("0x");
    for b in a {
        s.push_str(&format!("{b:02x}"));
    }
    s
}
