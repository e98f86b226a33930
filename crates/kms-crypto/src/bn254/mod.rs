//! EigenLayer-exact BN254 (alt_bn128) BLS: checked points, secret keys, BN254.sol's `hashToG1`,
//! signing, the pairing checks EigenLayer's contracts run, aggregation, and the EIP-712 digests of
//! operator key registration. Also Schnorr signatures under the same key, pairing-free, for
//! protocol messages that need no aggregation.
//!
//! Conventions follow the contracts byte for byte: signatures and message points in G1, public keys
//! in G1 and G2, G2 coordinates in Solidity/EIP-197 order (imaginary limb first). Every point built
//! from outside input goes through a checked constructor; a secret key never meets an unchecked point.

mod hash;
mod int;
mod key;
mod point;
mod registration;
mod schnorr;
mod verify;

pub use hash::hash_to_g1;
pub use int::{format_u256, parse_u256};
pub use key::SecretKey;
pub use point::{G1Point, G2Point};
pub use registration::{
    key_registrar_digest, key_registrar_key_data, registry_coordinator_digest, Eip712Domain,
    KEY_REGISTRAR_TYPE, REGISTRY_COORDINATOR_TYPE,
};
pub use schnorr::{PreparedKey, SchnorrSignature, SCHNORR_LEN};
pub use verify::{
    aggregate_g1, aggregate_g2, keys_match, verify_point_signature, verify_registration,
    verify_signature,
};

/// 256-bit unsigned integers (coordinates, key material), as the rest of the API takes them.
pub use alloy_primitives::U256;

#[cfg(test)]
mod tests;
