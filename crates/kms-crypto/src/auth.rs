//! EOA authentication of requests to the operator-key service, with EIP-712 typed data.
//!
//! Every state-changing or signing request is one of the [`Request`] variants, signed by the
//! operator's EOA over the EIP-712 digest with domain `{name: "KMS Signer", version: "1", chainId}`.
//! Each carries a nonce (single use per EOA) and a deadline (unix seconds), which the service
//! checks. [`Request::typed_data`] gives the exact JSON a wallet signs (`cast wallet sign --data`,
//! eth-account's `encode_typed_data`), so what a user reads in a wallet is what is checked here.
//!
//! Applications of the threshold network ask each node for a partial signature with a
//! [`PartialRequest`], signed by the app's owner in the node's own domain
//! `{name: "KMS Node", version: "2", chainId}`: the different name keeps a signature made for one
//! service from ever being accepted by the other.

use crate::{Error, Result, Secret};
use alloy_primitives::{Address, Signature, B256, U256};
use alloy_sol_types::{sol, Eip712Domain, SolStruct};
use serde_json::{json, Value};

/// The service's EIP-712 domain name and version.
pub const DOMAIN_NAME: &str = "KMS Signer";
/// The EIP-712 domain version, shared by the service's and the node's domains.
pub const DOMAIN_VERSION: &str = "1";
/// The threshold network node's EIP-712 domain name.
pub const NODE_DOMAIN_NAME: &str = "KMS Node";
/// The node's domain version. Version 2 added the epoch and the policy block to
/// [`PartialRequest`] (docs 0008): a version-1 signature recovers another address and is refused.
pub const NODE_DOMAIN_VERSION: &str = "2";

/// secp256k1 group order / 2: signatures with a larger s are malleated copies and are refused.
const HALF_N: U256 = U256::from_be_bytes([
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
]);

mod typed {
    use super::sol;
    sol! {
        struct CreateKey { address operator; uint64 nonce; uint64 deadline; }
        struct RotateKey { address operator; uint64 nonce; uint64 deadline; }
        struct SignHash { address operator; bytes32 messageHash; uint32 keyVersion; uint64 nonce; uint64 deadline; }
        struct ScalarMul { address operator; uint256 pointX; uint256 pointY; uint32 keyVersion; uint64 nonce; uint64 deadline; }
        struct PubkeyRegistration { address operator; address registry; uint64 chainId; uint32 keyVersion; uint64 nonce; uint64 deadline; }
        struct KeyRegistration { address operator; address avs; uint32 operatorSetId; address registrar; uint64 chainId; string domainVersion; uint32 keyVersion; uint64 nonce; uint64 deadline; }
        struct CreateApiKey { address operator; string label; string scopes; uint64 expiresAt; string sources; bytes32 tokenHash; uint64 nonce; uint64 deadline; }
        struct ListApiKeys { address operator; uint64 nonce; uint64 deadline; }
        struct RevokeApiKey { address operator; string keyId; uint64 nonce; uint64 deadline; }
        struct PartialRequest { string appId; bytes32 responseKey; uint64 epoch; uint64 policyBlock; uint64 nonce; uint64 deadline; address node; }
    }
}

/// Replay protection carried by every request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Freshness {
    /// Single use per EOA: the service refuses a nonce the EOA already used.
    pub nonce: u64,
    /// Unix seconds after which the service refuses the request.
    pub deadline: u64,
}

/// An authenticated operation. `key_version` 0 means "the active version".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Create the operator's BN254 key (`POST /v1/keys`).
    CreateKey {
        /// The operator's EOA, which signs the request.
        operator: Address,
        /// Nonce and deadline.
        fresh: Freshness,
    },
    /// Add a new active key version, the previous one entering its grace period
    /// (`POST /v1/keys/{eoa}/rotate`).
    RotateKey {
        /// The operator's EOA, which signs the request.
        operator: Address,
        /// Nonce and deadline.
        fresh: Freshness,
    },
    /// Sign a 32-byte hash with the BN254 key: sk·hashToG1(hash) (`POST /v1/keys/{eoa}/sign`).
    SignHash {
        /// The operator's EOA, which signs the request.
        operator: Address,
        /// The hash to sign.
        message_hash: B256,
        /// The key version to sign with; 0 for the active one.
        key_version: u32,
        /// Nonce and deadline.
        fresh: Freshness,
    },
    /// Multiply a caller-supplied G1 point by the BN254 secret key
    /// (`POST /v1/keys/{eoa}/scalar-mul`).
    ScalarMul {
        /// The operator's EOA, which signs the request.
        operator: Address,
        /// The point's affine x coordinate.
        point_x: U256,
        /// The point's affine y coordinate.
        point_y: U256,
        /// The key version to multiply with; 0 for the active one.
        key_version: u32,
        /// Nonce and deadline.
        fresh: Freshness,
    },
    /// Sign the RegistryCoordinator's `BN254PubkeyRegistration` message for the key
    /// (`POST /v1/keys/{eoa}/registration`).
    PubkeyRegistration {
        /// The operator's EOA, which signs the request.
        operator: Address,
        /// The RegistryCoordinator contract, the verifying contract of its EIP-712 domain.
        registry: Address,
        /// The chain id of the RegistryCoordinator's EIP-712 domain.
        chain_id: u64,
        /// The key version to register; 0 for the active one.
        key_version: u32,
        /// Nonce and deadline.
        fresh: Freshness,
    },
    /// Sign the KeyRegistrar's `BN254KeyRegistration` message for the key
    /// (`POST /v1/keys/{eoa}/key-registration`).
    KeyRegistration {
        /// The operator's EOA, which signs the request.
        operator: Address,
        /// The AVS whose operator set the key is registered for.
        avs: Address,
        /// The operator set, within the AVS, the key is registered for.
        operator_set_id: u32,
        /// The KeyRegistrar contract, the verifying contract of its EIP-712 domain.
        registrar: Address,
        /// The chain id of the KeyRegistrar's EIP-712 domain.
        chain_id: u64,
        /// The EigenLayer core contracts' EIP-712 domain version, e.g. "1".
        domain_version: String,
        /// The key version to register; 0 for the active one.
        key_version: u32,
        /// Nonce and deadline.
        fresh: Freshness,
    },
    /// Create an API key that uses the EOA's operator key without a signature per request
    /// (`POST /v1/keys/{eoa}/api-keys`).
    CreateApiKey {
        /// The operator's EOA, which signs the request.
        operator: Address,
        /// A name for people (at most 64 bytes).
        label: String,
        /// What the key may do: `sign`, `scalar-mul`, `registration`, comma-separated in that
        /// order.
        scopes: String,
        /// Unix seconds after which the key is refused; 0: never.
        expires_at: u64,
        /// Source addresses or CIDR blocks allowed, comma-separated; empty: any.
        sources: String,
        /// SHA-256 of the bearer token, which the client made and keeps: the service stores only
        /// this, and a copy of the signed request is worth nothing without the token.
        token_hash: B256,
        /// Nonce and deadline.
        fresh: Freshness,
    },
    /// List the EOA's API keys (`POST /v1/keys/{eoa}/api-keys/list`).
    ListApiKeys {
        /// The operator's EOA, which signs the request.
        operator: Address,
        /// Nonce and deadline.
        fresh: Freshness,
    },
    /// Revoke one of the EOA's API keys (`POST /v1/keys/{eoa}/api-keys/revoke`).
    RevokeApiKey {
        /// The operator's EOA, which signs the request.
        operator: Address,
        /// The API key's id (16 hex characters).
        key_id: String,
        /// Nonce and deadline.
        fresh: Freshness,
    },
}

/// The service's EIP-712 domain: `{name: "KMS Signer", version: "1", chainId}`, plus `salt`
/// when the deployment sets one. A salt binds every request to one deployment: signed for one
/// service, it is not valid at another on the same chain (which has another salt, or none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignerDomain {
    /// The chain id the service is configured with.
    pub chain_id: u64,
    /// The deployment's salt, if it has one.
    pub salt: Option<B256>,
}

impl SignerDomain {
    /// The domain without a salt (every deployment before salts, and the default).
    pub fn unsalted(chain_id: u64) -> Self {
        Self {
            chain_id,
            salt: None,
        }
    }

    fn eip712(&self) -> Eip712Domain {
        Eip712Domain::new(
            Some(DOMAIN_NAME.into()),
            Some(DOMAIN_VERSION.into()),
            Some(U256::from(self.chain_id)),
            None,
            self.salt,
        )
    }

    /// The domain's part of the typed-data JSON: its `EIP712Domain` fields and its values.
    fn typed_data(&self) -> (Value, Value) {
        let mut fields = vec![
            field("name", "string"),
            field("version", "string"),
            field("chainId", "uint256"),
        ];
        let mut values = json!({
            "name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": self.chain_id.to_string(),
        });
        if let (Some(salt), Some(m)) = (self.salt, values.as_object_mut()) {
            fields.push(field("salt", "bytes32"));
            m.insert("salt".into(), json!(salt.to_string()));
        }
        (Value::Array(fields), values)
    }
}

fn node_domain(chain_id: u64) -> Eip712Domain {
    Eip712Domain::new(
        Some(NODE_DOMAIN_NAME.into()),
        Some(NODE_DOMAIN_VERSION.into()),
        Some(U256::from(chain_id)),
        None,
        None,
    )
}

fn field(name: &str, ty: &str) -> Value {
    json!({ "name": name, "type": ty })
}

impl Request {
    /// The EOA the request is for (and must be signed by).
    pub fn operator(&self) -> Address {
        match self {
            Request::CreateKey { operator, .. }
            | Request::RotateKey { operator, .. }
            | Request::SignHash { operator, .. }
            | Request::ScalarMul { operator, .. }
            | Request::PubkeyRegistration { operator, .. }
            | Request::KeyRegistration { operator, .. }
            | Request::CreateApiKey { operator, .. }
            | Request::ListApiKeys { operator, .. }
            | Request::RevokeApiKey { operator, .. } => *operator,
        }
    }

    /// Nonce and deadline.
    pub fn freshness(&self) -> Freshness {
        match self {
            Request::CreateKey { fresh, .. }
            | Request::RotateKey { fresh, .. }
            | Request::SignHash { fresh, .. }
            | Request::ScalarMul { fresh, .. }
            | Request::PubkeyRegistration { fresh, .. }
            | Request::KeyRegistration { fresh, .. }
            | Request::CreateApiKey { fresh, .. }
            | Request::ListApiKeys { fresh, .. }
            | Request::RevokeApiKey { fresh, .. } => *fresh,
        }
    }

    /// The primary type's name, also the operation's name in the audit log.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::CreateKey { .. } => "CreateKey",
            Request::RotateKey { .. } => "RotateKey",
            Request::SignHash { .. } => "SignHash",
            Request::ScalarMul { .. } => "ScalarMul",
            Request::PubkeyRegistration { .. } => "PubkeyRegistration",
            Request::KeyRegistration { .. } => "KeyRegistration",
            Request::CreateApiKey { .. } => "CreateApiKey",
            Request::ListApiKeys { .. } => "ListApiKeys",
            Request::RevokeApiKey { .. } => "RevokeApiKey",
        }
    }

    /// The EIP-712 digest the EOA signs, in the unsalted domain of `chain_id`.
    pub fn digest(&self, chain_id: u64) -> B256 {
        self.digest_in(&SignerDomain::unsalted(chain_id))
    }

    /// The EIP-712 digest the EOA signs, in the service's domain.
    pub fn digest_in(&self, domain: &SignerDomain) -> B256 {
        let d = domain.eip712();
        match self.clone() {
            Request::CreateKey { operator, fresh } => typed::CreateKey {
                operator,
                nonce: fresh.nonce,
                deadline: fresh.deadline,
            }
            .eip712_signing_hash(&d),
            Request::RotateKey { operator, fresh } => typed::RotateKey {
                operator,
                nonce: fresh.nonce,
                deadline: fresh.deadline,
            }
            .eip712_signing_hash(&d),
            Request::SignHash {
                operator,
                message_hash,
                key_version,
                fresh,
            } => typed::SignHash {
                operator,
                messageHash: message_hash,
                keyVersion: key_version,
                nonce: fresh.nonce,
                deadline: fresh.deadline,
            }
            .eip712_signing_hash(&d),
            Request::ScalarMul {
                operator,
                point_x,
                point_y,
                key_version,
                fresh,
            } => typed::ScalarMul {
                operator,
                pointX: point_x,
                pointY: point_y,
                keyVersion: key_version,
                nonce: fresh.nonce,
                deadline: fresh.deadline,
            }
            .eip712_signing_hash(&d),
            Request::PubkeyRegistration {
                operator,
                registry,
                chain_id,
                key_version,
                fresh,
            } => typed::PubkeyRegistration {
                operator,
                registry,
                chainId: chain_id,
                keyVersion: key_version,
                nonce: fresh.nonce,
                deadline: fresh.deadline,
            }
            .eip712_signing_hash(&d),
            Request::KeyRegistration {
                operator,
                avs,
                operator_set_id,
                registrar,
                chain_id,
                domain_version,
                key_version,
                fresh,
            } => typed::KeyRegistration {
                operator,
                avs,
                operatorSetId: operator_set_id,
                registrar,
                chainId: chain_id,
                domainVersion: domain_version,
                keyVersion: key_version,
                nonce: fresh.nonce,
                deadline: fresh.deadline,
            }
            .eip712_signing_hash(&d),
            Request::CreateApiKey {
                operator,
                label,
                scopes,
                expires_at,
                sources,
                token_hash,
                fresh,
            } => typed::CreateApiKey {
                operator,
                label,
                scopes,
                expiresAt: expires_at,
                sources,
                tokenHash: token_hash,
                nonce: fresh.nonce,
                deadline: fresh.deadline,
            }
            .eip712_signing_hash(&d),
            Request::ListApiKeys { operator, fresh } => typed::ListApiKeys {
                operator,
                nonce: fresh.nonce,
                deadline: fresh.deadline,
            }
            .eip712_signing_hash(&d),
            Request::RevokeApiKey {
                operator,
                key_id,
                fresh,
            } => typed::RevokeApiKey {
                operator,
                keyId: key_id,
                nonce: fresh.nonce,
                deadline: fresh.deadline,
            }
            .eip712_signing_hash(&d),
        }
    }

    /// The full EIP-712 typed-data JSON for wallets (`cast wallet sign --data`), in the unsalted
    /// domain of `chain_id`.
    pub fn typed_data(&self, chain_id: u64) -> Value {
        self.typed_data_in(&SignerDomain::unsalted(chain_id))
    }

    /// The full EIP-712 typed-data JSON for wallets, in the service's domain.
    pub fn typed_data_in(&self, domain: &SignerDomain) -> Value {
        let op = |a: &Address| a.to_checksum(None);
        let tail = [field("nonce", "uint64"), field("deadline", "uint64")];
        let (fields, mut message): (Vec<Value>, Value) = match self {
            Request::CreateKey { operator, .. }
            | Request::RotateKey { operator, .. }
            | Request::ListApiKeys { operator, .. } => (
                vec![field("operator", "address")],
                json!({ "operator": op(operator) }),
            ),
            Request::SignHash {
                operator,
                message_hash,
                key_version,
                ..
            } => (
                vec![
                    field("operator", "address"),
                    field("messageHash", "bytes32"),
                    field("keyVersion", "uint32"),
                ],
                json!({ "operator": op(operator), "messageHash": message_hash.to_string(), "keyVersion": key_version }),
            ),
            Request::ScalarMul {
                operator,
                point_x,
                point_y,
                key_version,
                ..
            } => (
                vec![
                    field("operator", "address"),
                    field("pointX", "uint256"),
                    field("pointY", "uint256"),
                    field("keyVersion", "uint32"),
                ],
                json!({ "operator": op(operator), "pointX": point_x.to_string(), "pointY": point_y.to_string(), "keyVersion": key_version }),
            ),
            Request::PubkeyRegistration {
                operator,
                registry,
                chain_id,
                key_version,
                ..
            } => (
                vec![
                    field("operator", "address"),
                    field("registry", "address"),
                    field("chainId", "uint64"),
                    field("keyVersion", "uint32"),
                ],
                json!({ "operator": op(operator), "registry": op(registry), "chainId": chain_id, "keyVersion": key_version }),
            ),
            Request::KeyRegistration {
                operator,
                avs,
                operator_set_id,
                registrar,
                chain_id,
                domain_version,
                key_version,
                ..
            } => (
                vec![
                    field("operator", "address"),
                    field("avs", "address"),
                    field("operatorSetId", "uint32"),
                    field("registrar", "address"),
                    field("chainId", "uint64"),
                    field("domainVersion", "string"),
                    field("keyVersion", "uint32"),
                ],
                json!({
                    "operator": op(operator), "avs": op(avs), "operatorSetId": operator_set_id,
                    "registrar": op(registrar), "chainId": chain_id, "domainVersion": domain_version,
                    "keyVersion": key_version,
                }),
            ),
            Request::CreateApiKey {
                operator,
                label,
                scopes,
                expires_at,
                sources,
                token_hash,
                ..
            } => (
                vec![
                    field("operator", "address"),
                    field("label", "string"),
                    field("scopes", "string"),
                    field("expiresAt", "uint64"),
                    field("sources", "string"),
                    field("tokenHash", "bytes32"),
                ],
                json!({
                    "operator": op(operator), "label": label, "scopes": scopes,
                    "expiresAt": expires_at.to_string(), "sources": sources,
                    "tokenHash": token_hash.to_string(),
                }),
            ),
            Request::RevokeApiKey {
                operator, key_id, ..
            } => (
                vec![field("operator", "address"), field("keyId", "string")],
                json!({ "operator": op(operator), "keyId": key_id }),
            ),
        };
        // 64-bit values go as decimal strings: JavaScript wallets parse JSON numbers as doubles and
        // would sign a rounded value above 2^53.
        let fresh = self.freshness();
        if let Some(m) = message.as_object_mut() {
            m.insert("nonce".into(), json!(fresh.nonce.to_string()));
            m.insert("deadline".into(), json!(fresh.deadline.to_string()));
            if let Some(chain) = m.get_mut("chainId") {
                *chain = json!(chain.to_string());
            }
        }
        let mut all = fields;
        all.extend(tail);
        let (domain_fields, domain_values) = domain.typed_data();
        json!({
            "types": {
                "EIP712Domain": domain_fields,
                self.kind(): all,
            },
            "primaryType": self.kind(),
            "domain": domain_values,
            "message": message,
        })
    }
}

/// An application's request to one node for its partial signature on H(app_id), signed by the
/// app's owner EOA. `response_key` is the X25519 public key the partial is sealed to; `node` is the
/// address of the node asked, so a request cannot be replayed at another node; `epoch` and
/// `policy_block` are covered so that no one on the way can redirect a request to another share
/// or another reading of the release policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartialRequest {
    /// The application whose id is signed.
    pub app_id: String,
    /// The X25519 public key the partial signature is sealed to.
    pub response_key: B256,
    /// The epoch whose share signs.
    pub epoch: u64,
    /// The block the release policy is read at (0 in static mode).
    pub policy_block: u64,
    /// Single use per app at each node.
    pub nonce: u64,
    /// Unix seconds after which the node refuses the request.
    pub deadline: u64,
    /// The node asked.
    pub node: Address,
}

impl PartialRequest {
    /// The primary type's name.
    pub const KIND: &'static str = "PartialRequest";

    /// The EIP-712 digest the owner signs, in the node's domain for `chain_id`.
    pub fn digest(&self, chain_id: u64) -> B256 {
        typed::PartialRequest {
            appId: self.app_id.clone(),
            responseKey: self.response_key,
            epoch: self.epoch,
            policyBlock: self.policy_block,
            nonce: self.nonce,
            deadline: self.deadline,
            node: self.node,
        }
        .eip712_signing_hash(&node_domain(chain_id))
    }

    /// The full EIP-712 typed-data JSON for wallets, in the style of [`Request::typed_data`]
    /// (64-bit integers as decimal strings).
    pub fn typed_data(&self, chain_id: u64) -> Value {
        json!({
            "types": {
                "EIP712Domain": [field("name", "string"), field("version", "string"), field("chainId", "uint256")],
                Self::KIND: [
                    field("appId", "string"),
                    field("responseKey", "bytes32"),
                    field("epoch", "uint64"),
                    field("policyBlock", "uint64"),
                    field("nonce", "uint64"),
                    field("deadline", "uint64"),
                    field("node", "address"),
                ],
            },
            "primaryType": Self::KIND,
            "domain": { "name": NODE_DOMAIN_NAME, "version": NODE_DOMAIN_VERSION, "chainId": chain_id.to_string() },
            "message": {
                "appId": self.app_id,
                "responseKey": self.response_key.to_string(),
                "epoch": self.epoch.to_string(),
                "policyBlock": self.policy_block.to_string(),
                "nonce": self.nonce.to_string(),
                "deadline": self.deadline.to_string(),
                "node": self.node.to_checksum(None),
            },
        })
    }
}

/// Recovers the EOA that signed `digest`. Accepts only 65-byte `r || s || v` signatures with v in
/// {0, 1, 27, 28}, r and s non-zero and s in the lower half of the order (no malleated copies).
pub fn recover_signer(digest: &B256, signature: &[u8]) -> Result<Address> {
    let raw: &[u8; 65] = signature.try_into().map_err(|_| Error::WrongLength {
        what: "ECDSA signature",
        expected: 65,
        got: signature.len(),
    })?;
    if !matches!(raw.get(64), Some(0 | 1 | 27 | 28)) {
        return Err(Error::MalformedEcdsaSignature("v must be 0, 1, 27 or 28"));
    }
    let sig = Signature::from_raw_array(raw)
        .map_err(|_| Error::MalformedEcdsaSignature("unparseable"))?;
    if sig.r().is_zero() || sig.s().is_zero() {
        return Err(Error::MalformedEcdsaSignature("zero r or s"));
    }
    if sig.s() > HALF_N {
        return Err(Error::MalformedEcdsaSignature(
            "high s (malleated signature)",
        ));
    }
    sig.recover_address_from_prehash(digest)
        .map_err(|_| Error::MalformedEcdsaSignature("no key recovers from it"))
}

/// An EOA's secp256k1 key, for clients that sign requests.
pub struct EoaKey(k256::ecdsa::SigningKey);

impl core::fmt::Debug for EoaKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "EoaKey({})", self.address())
    }
}

impl EoaKey {
    /// From 32 secret bytes.
    pub fn from_bytes(bytes: &Secret<[u8; 32]>) -> Result<Self> {
        bytes
            .expose(|b| k256::ecdsa::SigningKey::from_slice(b))
            .map(Self)
            .map_err(|_| Error::MalformedScalar)
    }

    /// A fresh key from the RNG.
    pub fn random(rng: &mut (impl rand_core::RngCore + rand_core::CryptoRng)) -> Self {
        Self(k256::ecdsa::SigningKey::random(rng))
    }

    /// The EOA address.
    pub fn address(&self) -> Address {
        Address::from_public_key(self.0.verifying_key())
    }

    /// The secp256k1 key, for a wallet that sends this EOA's transactions (`kms signer
    /// register`). It zeroizes itself on drop like this wrapper.
    pub fn signing_key(&self) -> &k256::ecdsa::SigningKey {
        &self.0
    }

    /// Signs a digest: 65 bytes `r || s || v` with low s and v in {27, 28}.
    pub fn sign_digest(&self, digest: &B256) -> Result<[u8; 65]> {
        let (sig, recid) = self
            .0
            .sign_prehash_recoverable(digest.as_slice())
            .map_err(|_| Error::MalformedEcdsaSignature("signing failed"))?;
        let sig = Signature::from_signature_and_parity(sig, recid.is_y_odd()).normalized_s();
        let mut out = sig.as_bytes();
        if let Some(v) = out.get_mut(64) {
            *v = 27 + u8::from(sig.v());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;

/// A new bearer token for an API key: `kms_` and 32 random bytes as lowercase hex. The client
/// makes it and keeps it; the service is told only its [`api_token_hash`].
pub fn new_api_token(rng: &mut (impl rand_core::RngCore + rand_core::CryptoRng)) -> Secret<String> {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    rng.fill_bytes(bytes.as_mut());
    Secret::new(format!("kms_{}", hex::encode(bytes.as_ref())))
}

/// SHA-256 of a bearer token (the token has 256 bits of entropy, so a plain hash suffices).
pub fn api_token_hash(token: &str) -> B256 {
    use sha2::Digest;
    B256::from(<[u8; 32]>::from(sha2::Sha256::digest(token.as_bytes())))
}

/// An API key's id: the first 8 bytes of SHA-256(EOA ‖ token hash), as 16 hex digits. Bound to
/// the EOA, so a token hash someone else registered first under their own EOA takes nothing
/// from the operator: its key has another id.
pub fn api_key_id(operator: &Address, token_hash: &B256) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(operator.as_slice());
    h.update(token_hash.as_slice());
    hex::encode(h.finalize().get(..8).unwrap_or_default())
}
