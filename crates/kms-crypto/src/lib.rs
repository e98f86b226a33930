//! Pure cryptography for the KMS, with no IO, no clock and no global randomness: EigenLayer-exact
//! BN254 BLS (operator keys), BLS12-381 threshold primitives (the network's master key), IBE under
//! the master public key, keystores, and `Secret<T>`. Every function that needs randomness takes an
//! injected RNG, so callers (and simulations) are deterministic given a seed.

pub mod auth;
pub mod bls;
pub mod bn254;
mod error;
pub mod ibe;
pub mod keystore;
pub mod seal;
pub mod secret;

pub use error::{Error, Result};
pub use secret::Secret;
