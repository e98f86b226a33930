//! The crate's one error type.

use thiserror::Error;

/// Everything that can go wrong in `kms-store`.
#[derive(Debug, Error)]
pub enum Error {
    /// The database could not be opened, read or written.
    #[error("database: {0}")]
    Database(String),
    /// The KEK does not open this store's records (wrong passphrase or key file).
    #[error(
        "the key-encryption key does not match this data directory (wrong passphrase or key file?)"
    )]
    WrongKek,
    /// A sealed record failed authentication: it was altered, moved or written under another key.
    #[error("sealed record failed authentication")]
    Tampered,
    /// A KEK source is unusable (bad key file, empty passphrase).
    #[error("key-encryption key: {0}")]
    KekSource(&'static str),
    /// A stored record could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(&'static str),
}

/// Result alias for this crate.
pub type Result<T> = core::result::Result<T, Error>;

macro_rules! db_err {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::Database(e.to_string())
            }
        }
    )*};
}
db_err!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
