//! Where the operator set comes from: [`membership`] (the trait a node's rounds ask, and the
//! static operator file, the embedded default) and, in chain mode (docs 0009), the `KmsRegistry`
//! contract over JSON-RPC, with alloy. The registry gives the operator set as it was at a block
//! (what a round pinned at its trigger block uses), the apps and the anchored epochs; it takes
//! registrations, admissions, removals, apps and epoch anchors; the committed artifacts deploy it
//! (devnets, tests). [`anvil`] starts a local chain.
//!
//! Everything read from the chain is decoded into checked types: a registry that returned a point
//! off the curve would be refused here, not used.

pub mod anvil;
pub mod membership;
mod registry;

/// The wallet type transactions are sent with (a local secp256k1 key).
pub use alloy::signers::local::PrivateKeySigner as LocalSigner;
pub use registry::{
    check_bls_signature, default_interval, deploy_eigenlayer_checks, provider, wait_receipt,
    Anchor, AnchorRecord, AppPolicy, ChainError, OperatorRecord, OperatorStatus, Registry,
    KMS_REGISTRY_ARTIFACT,
};

/// The contract bindings generated from the committed artifacts (one module each: both contracts
/// use the BN254 library's point types).
pub mod bindings {
    // Generated code: `anchorEpoch` takes the contract's seven arguments plus the instance, and
    // the items are the contract's (documented in `contracts/`).
    #[allow(clippy::too_many_arguments, missing_docs)]
    pub mod registry {
        alloy::sol!(
            #[sol(rpc)]
            #[derive(Debug)]
            KmsRegistry,
            "../../contracts/artifacts/KmsRegistry.json"
        );
    }
    #[allow(missing_docs)]
    pub mod checks {
        alloy::sol!(
            #[sol(rpc)]
            #[derive(Debug)]
            EigenLayerChecks,
            "../../contracts/artifacts/EigenLayerChecks.json"
        );
    }
}
