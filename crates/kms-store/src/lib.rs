//! Embedded storage for the KMS services: one redb database per data directory, and a
//! key-encryption key (KEK) under which every secret is sealed before it is written. The KEK comes
//! from a passphrase file (Argon2id) or a key file and exists only in memory.
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

mod db;
mod error;
mod kek;

pub use db::{Store, DB_FILE, META};
pub use error::{Error, Result};
pub use kek::{Kek, KekSource};
pub use redb;
