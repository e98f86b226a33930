//! The threshold network's node around the sans-IO protocol (`kms-protocol`): who the operators
//! are (membership), and, as issue 5 lands, what the node stores, when rounds run, how messages
//! travel and how applications get partial signatures. Design: docs/0008-node.md.
#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod membership;

pub use membership::{Member, Membership, MembershipError, StaticFile};
