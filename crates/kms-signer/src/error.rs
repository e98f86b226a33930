//! The signer's errors, and the one place they become HTTP answers. The service layer
//! (`crate::service`, `crate::ledger`) says what went wrong with a [`ServiceError`]; the routes
//! answer with an `ApiError` (shared with `kms-node` through `kms-http`): a status, a stable
//! machine-readable code and a message with no internal detail.

use axum::http::StatusCode;
pub use kms_http::ApiError;

/// Why the service refused a request or could not serve it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceError {
    /// The EOA's token bucket is empty.
    RateLimited,
    /// The request's deadline has passed.
    Expired,
    /// The deadline is further ahead than the service accepts.
    DeadlineTooFar {
        /// The configured `max_request_validity_secs`.
        max_secs: u64,
    },
    /// The signature is not usable (its own code and message).
    BadSignature(ApiError),
    /// The signature is valid but not by this EOA for this request.
    WrongSigner,
    /// The EOA has no key.
    UnknownKey,
    /// The EOA's key has no version with that number.
    UnknownKeyVersion,
    /// The version asked for is retired or past its grace period.
    KeyRetired,
    /// The EOA already has a key (creation refused; rotate it instead).
    KeyExists,
    /// The service creates keys only for the EOAs in its `allowed_creators`.
    CreatorNotAllowed,
    /// The EOA already used this nonce.
    NonceReused,
    /// The key changed between reading and writing it (a concurrent rotation).
    ConcurrentUpdate,
    /// The bearer token is malformed, unknown or wrong (one answer for all three).
    InvalidApiKey,
    /// The API key was revoked by its EOA.
    ApiKeyRevoked,
    /// The API key is past its expiry.
    ApiKeyExpired,
    /// The API key does not grant this operation.
    ScopeDenied,
    /// The API key does not allow the caller's source address.
    SourceDenied,
    /// The EOA holds no API key with that id.
    UnknownApiKey,
    /// The EOA already holds the most live API keys allowed.
    TooManyApiKeys,
    /// An API key with this token hash (or id) exists already.
    ApiKeyExists,
    /// The named public key is not a usable version of the API key's operator key.
    UnknownPublicKey,
    /// The writer's queue is full: the service is behind on its disk; try again shortly.
    Overloaded,
    /// A failure of the service itself; the cause is logged where it happened.
    Internal,
}

impl ServiceError {
    /// The stable code (also what the audit log records as the outcome).
    pub fn code(&self) -> &'static str {
        ApiError::from(self.clone()).code
    }

    /// A failure of the service itself, its cause logged (never sent to the client).
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "request failed");
        Self::Internal
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        use ServiceError as E;
        match e {
            E::RateLimited => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests for this EOA or API key",
            ),
            E::Expired => ApiError::unauthorized("expired", "the request's deadline has passed"),
            E::DeadlineTooFar { max_secs } => ApiError::unauthorized(
                "deadline_too_far",
                format!("deadline must be within {max_secs} seconds"),
            ),
            E::BadSignature(api) => api,
            E::WrongSigner => ApiError::unauthorized(
                "wrong_signer",
                "the signature is not by this EOA for this request",
            ),
            E::UnknownKey => ApiError::not_found("unknown_key", "no key for this EOA"),
            E::UnknownKeyVersion => {
                ApiError::not_found("unknown_key_version", "no such key version")
            }
            E::KeyRetired => ApiError::conflict(
                "key_retired",
                "this key version is retired; use the active one",
            ),
            E::KeyExists => ApiError::conflict(
                "key_exists",
                "this EOA already has a key; rotate it instead",
            ),
            E::CreatorNotAllowed => ApiError::forbidden(
                "creator_not_allowed",
                "this service creates keys only for the EOAs it is configured to allow",
            ),
            E::NonceReused => {
                ApiError::conflict("nonce_reused", "this nonce was already used by this EOA")
            }
            E::ConcurrentUpdate => {
                ApiError::conflict("concurrent_update", "the key changed meanwhile; retry")
            }
            E::InvalidApiKey => {
                ApiError::unauthorized("invalid_api_key", "the API key is not valid")
            }
            E::ApiKeyRevoked => ApiError::unauthorized("api_key_revoked", "the API key is revoked"),
            E::ApiKeyExpired => {
                ApiError::unauthorized("api_key_expired", "the API key has expired")
            }
            E::ScopeDenied => {
                ApiError::forbidden("scope_denied", "the API key does not grant this operation")
            }
            E::SourceDenied => ApiError::forbidden(
                "source_denied",
                "the API key may not be used from this address",
            ),
            E::UnknownApiKey => {
                ApiError::not_found("unknown_api_key", "this EOA holds no API key with that id")
            }
            E::TooManyApiKeys => ApiError::conflict(
                "too_many_api_keys",
                "this EOA holds the most live API keys allowed; revoke one first",
            ),
            E::ApiKeyExists => ApiError::conflict(
                "api_key_exists",
                "an API key with this token hash exists; make a new token",
            ),
            E::UnknownPublicKey => ApiError::not_found(
                "unknown_public_key",
                "no usable version of the API key's operator key has this public key",
            ),
            E::Overloaded => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "the service is behind on its writes; try again shortly",
            ),
            E::Internal => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            ),
        }
    }
}
