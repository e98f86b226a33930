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
    /// App id -> what unlocks its partials (static mode; an app not listed: its owner's
    /// signature, docs 0012).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub release: BTreeMap<String, ReleaseFile>,
    /// The attestation verifiers a release may ask for (docs 0012).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestation: Option<AttestationFile>,
}

/// `node.toml`'s `[release.<app>]`: the credentials that unlock an app's partials and the
/// releases (images, measurements) that may hold its key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseFile {
    /// `owner` (development: the owner's EIP-712 signature), `attestation` (production: TEE
    /// evidence of an approved release) or `both`.
    pub credential: String,
    /// Approved container image digests (`sha256:<64 hex>`), for attestation tokens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// Approved SEV-SNP guests, each `<measurement, 96 hex>:<HOST_DATA, 64 hex>` (approved only
    /// together: the measurement may cover only firmware and vCPU shape).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurements: Vec<String>,
}

/// `node.toml`'s `[attestation]`: one table per kind of evidence accepted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationFile {
    /// Google Confidential Space tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub google: Option<TokenIssuerFile>,
    /// Intel Trust Authority tokens (Confidential Space TDX workloads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intel: Option<TokenIssuerFile>,
    /// AMD SEV-SNP reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snp: Option<SnpFile>,
}

/// An attestation token issuer's keys and the platform it must vouch for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenIssuerFile {
    /// The issuer's JWKS document (a copy of its published keys).
    pub jwks_file: PathBuf,
    /// Only these key ids are used (empty: every key of the document).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pinned_kids: Vec<String>,
    /// The audience tokens must be issued for.
    pub audience: String,
    /// Accepted `hwmodel` values.
    pub hwmodels: Vec<String>,
    /// A support attribute images must carry (`STABLE`; Intel: `EXPERIMENTAL`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support_attribute: Option<String>,
    /// Accepted GCP projects (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub projects: Vec<String>,
    /// Accept debug images (development only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_debug: bool,
    /// Clock skew tolerated, seconds (default 60).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skew_secs: Option<u64>,
    /// The longest token lifetime accepted, seconds (default: Google 3600, Intel 300).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_lifetime_secs: Option<u64>,
}

/// AMD SEV-SNP report checks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnpFile {
    /// Accept guests launched with debugging on (development only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_debug: bool,
    /// The VMPL reports must come from (default 0).
    #[serde(default)]
    pub vmpl: u32,
    /// Per generation (`Milan`, `Genoa`, `Turin`), the lowest TCB accepted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub min_tcb: BTreeMap<String, TcbFile>,
}

/// A TCB floor, by component (absent components: 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcbFile {
    /// Turin's FMC.
    #[serde(default)]
    pub fmc: u8,
    /// The PSP bootloader.
    #[serde(default)]
    pub bootloader: u8,
    /// The PSP OS (TEE).
    #[serde(default)]
    pub tee: u8,
    /// The SNP firmware.
    #[serde(default)]
    pub snp: u8,
    /// The microcode.
    #[serde(default)]
    pub microcode: u8,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// How old a partial request's policy block may be, in seconds (docs 0012).
    pub policy_max_age_secs: Option<u64>,
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
