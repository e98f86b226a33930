//! The contract between the KMS processes, owned in one place: what `kms-node` and
//! `kms-signer` answer and accept on the wire, what their clients (`kms-client`, `kms`) parse,
//! and the files one tool writes for another. Types only, no IO: the servers build these values
//! and serialize them, the clients deserialize the same types. Every encoding here is pinned by a
//! golden test (`tests/golden.rs`); changing one is a deliberate, versioned act (docs/0010).
//!
//! JSON conventions: field names are the wire names; answers list their fields in bytewise order
//! of those names (the order the services have always sent them in); addresses are 0x-prefixed
//! lowercase hex, byte strings 0x-prefixed hex, and optional values are `null`, never absent.

pub mod app;
pub mod batch;
pub mod config;
pub mod error;
pub mod node;
pub mod releases;
pub mod signer;
pub mod time;

pub use app::{AppId, AppIdError, MAX_APP_ID_LEN};
pub use error::ErrorBody;
