//! Embedded storage for the KMS services: one redb database per data directory, and a
//! key-encryption key (KEK) under which every secret is sealed before it is written. The KEK comes
//! from a passphrase file (Argon2id) or a key file and exists only in memory. Also the edges
//! both services and the CLI share: secret files ([`files`]) and replay nonces ([`nonces`]).

mod db;
mod error;
pub mod files;
pub mod group;
mod kek;
pub mod nonces;

pub use db::{copy_table, Store, DB_FILE, META, RESTORE_MARK};
pub use error::{Error, Result};
pub use kek::{Kek, KekSource};
pub use redb;
