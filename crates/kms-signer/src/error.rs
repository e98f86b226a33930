//! API errors: an HTTP status, a stable machine-readable code, and a message with no internal
//! detail. The type is shared with `kms-node` (`kms-service`); this is where the signer's
//! failures become statuses.

pub use kms_service::ApiError;
