//! EIP-712 digests an operator signs with its BN254 key to register it with EigenLayer.
//!
//! Two messages exist: the middleware RegistryCoordinator's `BN254PubkeyRegistration(address
//! operator)` and the core KeyRegistrar's `BN254KeyRegistration(address operator,address avs,uint32
//! operatorSetId,bytes keyData)`. The contract maps the digest with `hashToG1` and checks
//! sk·hashToG1(digest) against the submitted keys, so the signature is `SecretKey::sign_hash`
//! of the digest returned here.

use super::point::{G1Point, G2Point};
use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_sol_types::{sol, SolStruct};

sol! {
    struct BN254PubkeyRegistration {
        address operator;
    }

    struct BN254KeyRegistration {
        address operator;
        address avs;
        uint32 operatorSetId;
        bytes keyData;
    }
}

/// The RegistryCoordinator's type string.
pub const REGISTRY_COORDINATOR_TYPE: &str = "BN254PubkeyRegistration(address operator)";
/// The KeyRegistrar's type string.
pub const KEY_REGISTRAR_TYPE: &str =
    "BN254KeyRegistration(address operator,address avs,uint32 operatorSetId,bytes keyData)";

/// An EIP-712 domain without salt: name, version, chain id and verifying contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eip712Domain {
    /// The domain name, e.g. "EigenLayer".
    pub name: String,
    /// The domain version, e.g. "v0.0.1".
    pub version: String,
    /// The chain the signature is valid on.
    pub chain_id: u64,
    /// The contract that checks the signature.
    pub verifying_contract: Address,
}

impl Eip712Domain {
    /// The middleware RegistryCoordinator's domain: `EIP712("AVSRegistryCoordinator", "v0.0.1")`.
    pub fn registry_coordinator(chain_id: u64, contract: Address) -> Self {
        Self {
            name: "AVSRegistryCoordinator".into(),
            version: "v0.0.1".into(),
            chain_id,
            verifying_contract: contract,
        }
    }

    /// The core contracts' domain (SignatureUtilsMixin, used by the KeyRegistrar): name
    /// "EigenLayer", version the major part of the contract's `version()`: "1" for "1.7.0", "v1"
    /// for the early deployments that used "v1.x.y". Read `version()` on chain when unsure.
    pub fn eigenlayer_core(major_version: &str, chain_id: u64, contract: Address) -> Self {
        Self {
            name: "EigenLayer".into(),
            version: major_version.into(),
            chain_id,
            verifying_contract: contract,
        }
    }

    fn to_alloy(&self) -> alloy_sol_types::Eip712Domain {
        alloy_sol_types::Eip712Domain::new(
            Some(self.name.clone().into()),
            Some(self.version.clone().into()),
            Some(U256::from(self.chain_id)),
            Some(self.verifying_contract),
            None,
        )
    }
}

/// The digest `RegistryCoordinator.calculatePubkeyRegistrationMessageHash` maps to G1.
pub fn registry_coordinator_digest(domain: &Eip712Domain, operator: Address) -> [u8; 32] {
    let msg = BN254PubkeyRegistration { operator };
    B256::from(msg.eip712_signing_hash(&domain.to_alloy())).0
}

/// `keyData` for a BN254 key as the KeyRegistrar expects it:
/// `abi.encode(g1.X, g1.Y, g2.X[0], g2.X[1], g2.Y[0], g2.Y[1])`.
pub fn key_registrar_key_data(g1: &G1Point, g2: &G2Point) -> Vec<u8> {
    let mut out = Vec::with_capacity(192);
    out.extend_from_slice(&g1.to_abi_bytes());
    out.extend_from_slice(&g2.to_abi_bytes());
    out
}

/// The digest `KeyRegistrar.getBN254KeyRegistrationMessageHash` returns.
pub fn key_registrar_digest(
    domain: &Eip712Domain,
    operator: Address,
    avs: Address,
    operator_set_id: u32,
    key_data: &[u8],
) -> [u8; 32] {
    let msg = BN254KeyRegistration {
        operator,
        avs,
        operatorSetId: operator_set_id,
        keyData: Bytes::copy_from_slice(key_data),
    };
    msg.eip712_signing_hash(&domain.to_alloy()).0
}
