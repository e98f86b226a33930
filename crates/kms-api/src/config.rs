//! The configuration files one program writes for another: `node.toml` (read by `kms-node`,
//! written by `kms devnet`; docs 0008 and 0009) and `signer.toml` (read by `kms-signer`). The
//! schema lives here so the writer serializes the very type the reader parses. Unknown fields
//! are refused; absent optional fields are left out when written. Secrets are never values,
//! only paths to files that hold them; relative paths are taken from the file's directory
//! (`node.toml`) or the working directory (`signer.toml`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// `node.toml`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    /// The operator's address (0x, 20 bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The address to listen on (port 0: any, reported in the port file).
    pub listen: Option<SocketAddr>,
    /// Where the bound address is written once listening (for supervisors using port 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The data directory (the store).
    pub data_dir: Option<PathBuf>,
    /// The static operator file (not in chain mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operators_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The operator's BN254 keystore (with `bn254_password_file`).
    pub bn254_keystore_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The file holding the keystore's password.
    pub bn254_password_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// A file holding the operator's BN254 secret key (instead of a keystore).
    pub bn254_key_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// A file holding the node's X25519 encryption key (hex).
    pub encryption_key_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// A file holding the passphrase the key-encryption key is derived from.
    pub kek_passphrase_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// A file holding the 32-byte key-encryption key (hex).
    pub kek_key_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The chain id of the EIP-712 domain requests are signed under.
    pub chain_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The registry contract's address (0x).
    pub registry: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Seconds between rounds.
    pub interval_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Previous epochs whose shares are kept besides the current one.
    pub retention_epochs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Deadlines further ahead than this are refused.
    pub max_request_validity_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Partial requests per app and second (token bucket rate).
    pub app_rate_limit_per_sec: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The app token bucket's size.
    pub app_rate_limit_burst: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// App requests served at once.
    pub app_max_concurrent: Option<usize>,
    /// App id -> owner EOA (static mode).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub apps: BTreeMap<String, String>,
    /// Chain mode (docs 0009).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<NodeChainFile>,
}

/// `node.toml`'s `[chain]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeChainFile {
    /// The chain's JSON-RPC endpoint.
    pub rpc_url: String,
    /// The registry contract's address (0x).
    pub registry: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Blocks between rounds.
    pub interval_blocks: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Blocks a trigger block must be buried under before its round starts.
    pub confirmations: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The chain's block time.
    pub block_time_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// A file holding the secp256k1 key anchor transactions are sent from.
    pub tx_key_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The genesis DKG waits until the registry holds this many operators.
    pub genesis_operators: Option<usize>,
}

/// `signer.toml` (every field optional; flags and the environment override it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerFile {
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The address to listen on (port 0: any, reported in the port file).
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The data directory (the store).
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// A file holding the passphrase the key-encryption key is derived from.
    pub kek_passphrase_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// A file holding the 32-byte key-encryption key (hex).
    pub kek_key_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The chain id of the EIP-712 domain requests are signed under.
    pub chain_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The TLS certificate chain (PEM); with `tls_key_file`, the API is served over TLS.
    pub tls_cert_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The TLS certificate's private key (PEM).
    pub tls_key_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// How long a rotated-out version stays usable by number.
    pub rotation_grace_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Rotate every active key this often (0: never).
    pub auto_rotate_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Deadlines further ahead than this are refused.
    pub max_request_validity_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Requests per EOA and second (token bucket rate).
    pub rate_limit_per_sec: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The EOA token bucket's size.
    pub rate_limit_burst: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The longest a request is served.
    pub request_timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The largest request body.
    pub max_body_bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Where the bound address is written once listening.
    pub port_file: Option<PathBuf>,
}
