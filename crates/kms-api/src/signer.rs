//! `kms-signer`'s HTTP contract (docs 0004): the body of each request and answer.
//!
//! | route                                  | request                   | answer                 |
//! |----------------------------------------|---------------------------|------------------------|
//! | `POST /v1/keys`                        | [`CreateKeyRequest`]      | [`KeyAnswer`] (201)    |
//! | `GET /v1/keys`, `GET /api/keys`        |                           | [`KeyList`]            |
//! | `GET /v1/keys/{eoa}`, `/api/keys/{eoa}`|                           | [`KeyAnswer`]          |
//! | `POST /v1/keys/{eoa}/sign`             | [`SignRequest`]           | [`SignAnswer`]         |
//! | `POST /v1/keys/{eoa}/scalar-mul`       | [`ScalarMulRequest`]      | [`ScalarMulAnswer`]    |
//! | `POST /v1/keys/{eoa}/registration`     | [`RegistrationRequest`]   | [`RegistrationAnswer`] |
//! | `POST /v1/keys/{eoa}/key-registration` | [`KeyRegistrationRequest`]| [`KeyRegistrationAnswer`] |
//! | `POST /v1/keys/{eoa}/rotate`           | [`RotateRequest`]         | [`KeyAnswer`]          |
//! | `POST /api/scalar_mul` (seed alias)    | [`LegacyScalarMulRequest`]| [`ScalarMulAnswer`] without `key_version` |
//! | `POST /api/sign` (seed alias)          | [`LegacySignRequest`]     | [`SignAnswer`]         |
//! | `GET /healthz`                         |                           | [`Healthz`]            |
//!
//! Every request that uses or changes a key carries `nonce`, `deadline` and the EOA's
//! `signature` over the request's EIP-712 digest (`kms_crypto::auth::Request`). Integers and
//! coordinates are decimal strings (or 0x-hex on input), G2 coordinates in Solidity order
//! (`[c1, c0]`), byte strings 0x-hex. Requests keep their fields as text: the service parses
//! them in its own order, with its own error codes.

use serde::{Deserialize, Serialize};

/// A G1 point: decimal coordinates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct G1Json {
    /// The x coordinate.
    pub x: String,
    /// The y coordinate.
    pub y: String,
}

/// A G2 point: each coordinate `[c1, c0]` in decimal (Solidity's order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct G2Json {
    /// The x coordinate.
    pub x: [String; 2],
    /// The y coordinate.
    pub y: [String; 2],
}

/// An operator's key: its versions' public keys and states, never a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyAnswer {
    /// The version requests use by default; `None` once every version is retired.
    pub active_version: Option<u32>,
    /// The operator's EOA, checksummed.
    pub eoa: String,
    /// Every version, oldest first.
    pub versions: Vec<KeyVersion>,
}

/// One version of an operator's key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyVersion {
    /// Unix seconds.
    pub created_at: u64,
    /// The key's G1 public key.
    pub g1: G1Json,
    /// The key's G2 public key.
    pub g2: G2Json,
    /// Unix seconds; a version in its grace period only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_until: Option<u64>,
    /// Unix seconds; a retired version only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<u64>,
    /// `active`, `grace` or `retired`.
    pub state: String,
    /// The version number (1 for a new key).
    pub version: u32,
}

/// Every key the service holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyList {
    /// The key records.
    pub keys: Vec<KeyAnswer>,
}

/// A BLS signature on a message hash (BN254.sol's hashToG1, then the key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignAnswer {
    /// The key's G1 public key.
    pub g1: G1Json,
    /// The key's G2 public key.
    pub g2: G2Json,
    /// The key version (in a request, 0: the active one).
    pub key_version: u32,
    /// hashToG1 of the message hash.
    pub message_point: G1Json,
    /// The BLS signature (G1).
    pub signature: G1Json,
}

/// A G1 point multiplied by the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScalarMulAnswer {
    /// The key's G1 public key.
    pub g1: G1Json,
    /// The key's G2 public key.
    pub g2: G2Json,
    /// Absent from the seed's `/api/scalar_mul` alias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_version: Option<u32>,
    /// The BLS signature (G1).
    pub signature: G1Json,
}

/// The registry coordinator's pubkey registration, as `registerOperator` takes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationAnswer {
    /// The EIP-712 digest signed, 0x-hex.
    pub digest: String,
    /// The key version (in a request, 0: the active one).
    pub key_version: u32,
    /// hashToG1 of the message (BN254.sol), the point the key signed.
    pub message_point: G1Json,
    #[serde(rename = "pubkeyRegistrationParams")]
    /// `pubkeyRegistrationParams` as `registerOperator` takes it.
    pub pubkey_registration_params: PubkeyRegistrationParams,
}

/// `IBLSApkRegistry.PubkeyRegistrationParams`, field names as in Solidity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PubkeyRegistrationParams {
    #[serde(rename = "pubkeyG1")]
    /// `pubkeyG1`: the key in G1.
    pub pubkey_g1: G1Json,
    #[serde(rename = "pubkeyG2")]
    /// `pubkeyG2`: the key in G2.
    pub pubkey_g2: G2Json,
    #[serde(rename = "pubkeyRegistrationSignature")]
    /// `pubkeyRegistrationSignature`: the signature of the digest.
    pub pubkey_registration_signature: G1Json,
}

/// KeyRegistrar's BN254 key registration for an operator set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRegistrationAnswer {
    /// The EIP-712 digest signed, 0x-hex.
    pub digest: String,
    /// `abi.encode(G1, G2)` as `registerKey` takes it, 0x-hex.
    #[serde(rename = "keyData")]
    pub key_data: String,
    /// The key version (in a request, 0: the active one).
    pub key_version: u32,
    /// hashToG1 of the message (BN254.sol), the point the key signed.
    pub message_point: G1Json,
    /// The BLS signature (G1).
    pub signature: G1Json,
}

/// `GET /healthz`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Healthz {
    /// How many operator keys the service holds.
    pub keys: u64,
    /// `ok`.
    pub status: String,
}

/// `POST /v1/keys`: a new key for `operator`, the EOA that signs the request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// Unix seconds; the request is refused after it.
    pub deadline: u64,
    /// Spent once: a second request with it is refused (`nonce_reused`).
    pub nonce: u64,
    /// The operator's EOA, which signs the request.
    pub operator: String,
    /// The EOA's 65-byte ECDSA signature over the request's EIP-712 digest, 0x-hex.
    pub signature: String,
}

/// `POST /v1/keys/{eoa}/sign`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    /// Unix seconds; the request is refused after it.
    pub deadline: u64,
    /// 0: the active version.
    #[serde(default)]
    pub key_version: u32,
    /// 32 bytes, 0x-hex.
    pub message_hash: String,
    /// Spent once: a second request with it is refused (`nonce_reused`).
    pub nonce: u64,
    /// The EOA's 65-byte ECDSA signature over the request's EIP-712 digest, 0x-hex.
    pub signature: String,
}

/// A point given by its coordinates (decimal or 0x-hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointRequest {
    /// The x coordinate.
    pub x: String,
    /// The y coordinate.
    pub y: String,
}

/// `POST /v1/keys/{eoa}/scalar-mul`: the point is checked before it meets the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalarMulRequest {
    /// Unix seconds; the request is refused after it.
    pub deadline: u64,
    /// The G1 point to multiply (hashToG1 of a message, computed by the caller).
    pub hash: PointRequest,
    #[serde(default)]
    /// The key version (in a request, 0: the active one).
    pub key_version: u32,
    /// Spent once: a second request with it is refused (`nonce_reused`).
    pub nonce: u64,
    /// The EOA's 65-byte ECDSA signature over the request's EIP-712 digest, 0x-hex.
    pub signature: String,
}

/// `POST /v1/keys/{eoa}/registration`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationRequest {
    /// The registry coordinator's chain.
    pub chain_id: u64,
    /// Unix seconds; the request is refused after it.
    pub deadline: u64,
    #[serde(default)]
    /// The key version (in a request, 0: the active one).
    pub key_version: u32,
    /// Spent once: a second request with it is refused (`nonce_reused`).
    pub nonce: u64,
    /// The registry coordinator's address.
    pub registry: String,
    /// The EOA's 65-byte ECDSA signature over the request's EIP-712 digest, 0x-hex.
    pub signature: String,
}

/// `POST /v1/keys/{eoa}/key-registration`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRegistrationRequest {
    /// The AVS's address.
    pub avs: String,
    /// KeyRegistrar's chain.
    pub chain_id: u64,
    /// Unix seconds; the request is refused after it.
    pub deadline: u64,
    /// KeyRegistrar's EIP-712 domain version ("1" when absent).
    #[serde(default = "default_domain_version")]
    pub domain_version: String,
    #[serde(default)]
    /// The key version (in a request, 0: the active one).
    pub key_version: u32,
    /// Spent once: a second request with it is refused (`nonce_reused`).
    pub nonce: u64,
    /// The operator set the key is registered for.
    pub operator_set_id: u32,
    /// KeyRegistrar's address.
    pub registrar: String,
    /// The EOA's 65-byte ECDSA signature over the request's EIP-712 digest, 0x-hex.
    pub signature: String,
}

fn default_domain_version() -> String {
    "1".into()
}

/// `POST /v1/keys/{eoa}/rotate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// Unix seconds; the request is refused after it.
    pub deadline: u64,
    /// Spent once: a second request with it is refused (`nonce_reused`).
    pub nonce: u64,
    /// The EOA's 65-byte ECDSA signature over the request's EIP-712 digest, 0x-hex.
    pub signature: String,
}

/// The seed's `POST /api/scalar_mul`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyScalarMulRequest {
    /// Unix seconds; the request is refused after it.
    pub deadline: u64,
    /// The operator's EOA.
    pub eoa_address: String,
    /// The point's x coordinate.
    pub hash_x: String,
    /// The point's y coordinate.
    pub hash_y: String,
    /// Spent once: a second request with it is refused (`nonce_reused`).
    pub nonce: u64,
    /// The EOA's 65-byte ECDSA signature over the request's EIP-712 digest, 0x-hex.
    pub signature: String,
}

/// The seed's `POST /api/sign`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacySignRequest {
    /// Unix seconds; the request is refused after it.
    pub deadline: u64,
    /// The operator's EOA.
    pub eoa_address: String,
    /// The 32-byte message hash, 0x-hex.
    pub message_hash: String,
    /// Spent once: a second request with it is refused (`nonce_reused`).
    pub nonce: u64,
    /// The EOA's 65-byte ECDSA signature over the request's EIP-712 digest, 0x-hex.
    pub signature: String,
}

/// `POST /v1/keys/{eoa}/api-keys`: create an API key for the EOA's operator key, signed by the
/// EOA (EIP-712 `CreateApiKey`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// Unix seconds; the request is refused after it.
    pub deadline: u64,
    /// Unix seconds after which the key is refused; 0: never.
    #[serde(default)]
    pub expires_at: u64,
    /// A name for people, at most 64 bytes.
    #[serde(default)]
    pub label: String,
    /// Spent once.
    pub nonce: u64,
    /// `sign`, `scalar-mul`, `registration`: at least one, comma-separated in that order.
    pub scopes: String,
    /// The EOA's 65-byte ECDSA signature over the request's EIP-712 digest, 0x-hex.
    pub signature: String,
    /// Source addresses or CIDR blocks allowed, comma-separated; empty: any.
    #[serde(default)]
    pub sources: String,
    /// SHA-256 of the bearer token, 0x-hex. The client makes the token (`kms_` and 64 random
    /// hex digits, `kms_crypto::auth::new_api_token`) and keeps it; the service never sees it before
    /// its first use and stores only this hash.
    pub token_hash: String,
}

/// `POST /v1/keys/{eoa}/api-keys/list`: the EOA's API keys, signed by the EOA.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListApiKeysRequest {
    /// Unix seconds; the request is refused after it.
    pub deadline: u64,
    /// Spent once.
    pub nonce: u64,
    /// The EOA's signature over the request's EIP-712 digest, 0x-hex.
    pub signature: String,
}

/// `POST /v1/keys/{eoa}/api-keys/revoke`: revoke one API key, signed by the EOA.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeApiKeyRequest {
    /// Unix seconds; the request is refused after it.
    pub deadline: u64,
    /// The key's id, 16 hex characters.
    pub key_id: String,
    /// Spent once.
    pub nonce: u64,
    /// The EOA's signature over the request's EIP-712 digest, 0x-hex.
    pub signature: String,
}

/// The bearer token's fixed prefix (so a leaked token is recognisable by secret scanners).
pub const API_KEY_TOKEN_PREFIX: &str = "kms_";

/// Whether `token` has an API key token's shape: the prefix and 64 lowercase hex digits.
pub fn is_api_key_token(token: &str) -> bool {
    token
        .strip_prefix(API_KEY_TOKEN_PREFIX)
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// An API key as the service shows it (never its token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyAnswer {
    /// Unix seconds at creation.
    pub created_at: u64,
    /// The EOA whose operator key it uses, checksummed.
    pub eoa: String,
    /// Unix seconds after which it is refused; null: never.
    pub expires_at: Option<u64>,
    /// The id, 16 hex characters: the first 8 bytes of SHA-256(EOA ‖ token hash), so one token
    /// hash makes different ids under different EOAs (recorded in the audit log with every use).
    pub id: String,
    /// The label.
    pub label: String,
    /// Unix seconds of its revocation; null while it is not revoked.
    pub revoked_at: Option<u64>,
    /// The scopes, canonical.
    pub scopes: String,
    /// The source allowlist; empty: any.
    pub sources: String,
}

/// The answer to a listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyList {
    /// The EOA's keys, revoked ones included, oldest first.
    pub api_keys: Vec<ApiKeyAnswer>,
}

/// `POST /v1/keys/{eoa}/sign` with an API key (`Authorization: Bearer`): no nonce, deadline or
/// signature, the token is the credential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSignRequest {
    /// 0: the active version.
    #[serde(default)]
    pub key_version: u32,
    /// 32 bytes, 0x-hex.
    pub message_hash: String,
}

/// `POST /v1/keys/{eoa}/scalar-mul` with an API key (`Authorization: Bearer`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenScalarMulRequest {
    /// The G1 point to multiply; checked before it meets the key.
    pub hash: PointRequest,
    /// 0: the active version.
    #[serde(default)]
    pub key_version: u32,
}

/// `POST /v1/keys/{eoa}/registration` with an API key of scope `registration`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRegistrationRequest {
    /// The registry coordinator's chain.
    pub chain_id: u64,
    /// 0: the active version.
    #[serde(default)]
    pub key_version: u32,
    /// The registry coordinator's address.
    pub registry: String,
}

/// `POST /v1/keys/{eoa}/key-registration` with an API key of scope `registration`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenKeyRegistrationRequest {
    /// The AVS's address.
    pub avs: String,
    /// KeyRegistrar's chain.
    pub chain_id: u64,
    /// KeyRegistrar's EIP-712 domain version ("1" when absent).
    #[serde(default = "default_domain_version")]
    pub domain_version: String,
    /// 0: the active version.
    #[serde(default)]
    pub key_version: u32,
    /// The operator set the key is registered for.
    pub operator_set_id: u32,
    /// KeyRegistrar's address.
    pub registrar: String,
}

/// The scopes an API key can grant, in their canonical order: a scope list is these names,
/// comma-separated, each at most once, in this order (the EOA signs the text, so one set has one
/// spelling).
pub const API_KEY_SCOPES: [&str; 3] = ["sign", "scalar-mul", "registration"];

/// The canonical scope list of any non-empty set of scope names (repeats and order ignored).
pub fn canonical_scopes(names: &[&str]) -> Result<String, String> {
    if let Some(bad) = names.iter().find(|n| !API_KEY_SCOPES.contains(n)) {
        return Err(format!(
            "unknown scope {bad:?} (sign, scalar-mul, registration)"
        ));
    }
    if names.is_empty() {
        return Err("give at least one scope".into());
    }
    Ok(API_KEY_SCOPES
        .iter()
        .filter(|s| names.contains(s))
        .copied()
        .collect::<Vec<_>>()
        .join(","))
}

/// `GET /v1/domain`: the EIP-712 domain requests are signed in, for clients to check theirs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainAnswer {
    /// Whether requests signed in the unsalted domain are accepted too (a migration period).
    pub accept_unsalted: bool,
    /// The chain id.
    pub chain_id: u64,
    /// The domain's name, "KMS Signer".
    pub name: String,
    /// The deployment's salt, 0x-hex; null: the unsalted domain.
    pub salt: Option<String>,
    /// The domain's version, "1".
    pub version: String,
}
