//! The crate's one error type. Variants say what was wrong with the input; none carries secret data.

use thiserror::Error;

/// Everything that can go wrong in `kms-crypto`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    /// An integer could not be parsed (not decimal, not 0x-hex, empty, or too long).
    #[error("invalid integer encoding: {0}")]
    InvalidInteger(&'static str),
    /// A field coordinate was equal to or above the field modulus.
    #[error("coordinate is not a canonical field element (>= p)")]
    NonCanonicalCoordinate,
    /// The point does not satisfy the curve equation.
    #[error("point is not on the curve")]
    NotOnCurve,
    /// The point is on the curve but not in the prime-order subgroup.
    #[error("point is not in the prime-order subgroup")]
    NotInSubgroup,
    /// The point at infinity was given where a real point is required.
    #[error("point is the identity")]
    IdentityPoint,
    /// A byte string had the wrong length.
    #[error("wrong length for {what}: expected {expected}, got {got}")]
    WrongLength {
        /// What the byte string was meant to be.
        what: &'static str,
        /// The length expected, in bytes (for a variable-length input, a length it could have).
        expected: usize,
        /// The length given, in bytes.
        got: usize,
    },
    /// A compressed point encoding was malformed (flags or coordinates).
    #[error("malformed point encoding")]
    MalformedPoint,
    /// A scalar encoding was malformed or not below the group order.
    #[error("malformed or non-canonical scalar")]
    MalformedScalar,
    /// A secret key was zero (after reduction).
    #[error("secret key is zero")]
    ZeroSecretKey,
    /// A signature did not verify.
    #[error("signature verification failed")]
    InvalidSignature,
    /// Threshold parameters are inconsistent (t = 0, t > n, too few shares, duplicates).
    #[error("invalid threshold parameters: {0}")]
    InvalidThreshold(&'static str),
    /// Two participants share an evaluation point, or a point is zero.
    #[error("invalid evaluation point: {0}")]
    InvalidEvaluationPoint(&'static str),
    /// A secret share does not match the public commitment it was dealt under.
    #[error("share does not match the commitment")]
    InvalidShare,
    /// A recovered signature did not verify against the master public key.
    #[error("recovered signature does not verify against the master public key")]
    RecoveryMismatch,
    /// An IBE ciphertext could not be decrypted (tampered, truncated, wrong app id, wrong key).
    #[error("ciphertext rejected: {0}")]
    Ciphertext(&'static str),
    /// An ECDSA signature is malformed, malleated (high s) or recovers no key.
    #[error("ECDSA signature rejected: {0}")]
    MalformedEcdsaSignature(&'static str),
    /// A keystore file is malformed or uses an unsupported format.
    #[error("keystore: {0}")]
    Keystore(&'static str),
    /// The keystore password is wrong (MAC or checksum mismatch).
    #[error("keystore: wrong password")]
    WrongPassword,
    /// The keystore decrypted, but to a key that does not match the public key it declares.
    #[error("keystore: decrypted key does not match the declared public key")]
    KeystorePubkeyMismatch,
    /// A sealed share could not be made or opened (wrong key, tampered, small-order key).
    #[error("sealed box: {0}")]
    Seal(&'static str),
}

/// Result alias for this crate.
pub type Result<T> = core::result::Result<T, Error>;
