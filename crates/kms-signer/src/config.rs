//! Configuration: one TOML file (every field optional, unknown fields refused), overridden by
//! flags with environment fallbacks, validated once at start-up. Secrets are never values here,
//! only paths to files that hold them.

use anyhow::{bail, Context};
use kms_store::KekSource;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The file format.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The address to listen on; default 127.0.0.1:9100 (port 0: any, written to `port_file`).
    pub listen: Option<SocketAddr>,
    /// The data directory holding the store; required.
    pub data_dir: Option<PathBuf>,
    /// A file holding the passphrase the key-encryption key is derived from (give exactly one of
    /// this and `kek_key_file`).
    pub kek_passphrase_file: Option<PathBuf>,
    /// A file holding the 32-byte key-encryption key, raw or hex.
    pub kek_key_file: Option<PathBuf>,
    /// Chain id of the service's EIP-712 domain; default 31337.
    pub chain_id: Option<u64>,
    /// A 32-byte salt (0x-hex) added to the EIP-712 domain, so that a request signed for this
    /// deployment is valid at no other on the same chain; default none (the unsalted domain).
    /// Generate one per deployment (e.g. `openssl rand -hex 32`).
    pub eip712_salt: Option<String>,
    /// With `eip712_salt` set, also accept requests signed in the unsalted domain, for a
    /// migration period while clients are updated; default false.
    pub accept_unsalted: Option<bool>,
    /// PEM certificate chain (leaf first); with `tls_key_file`, the API is served over TLS only.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of the `tls_cert_file` leaf (give both or neither).
    pub tls_key_file: Option<PathBuf>,
    /// Seconds a rotated-out version stays usable when a request names it; default 7 days.
    pub rotation_grace_secs: Option<u64>,
    /// Seconds between scheduled rotations of every active key; default 0 (never).
    pub auto_rotate_secs: Option<u64>,
    /// How far ahead a request's deadline may be, in seconds; default 600, must be positive.
    pub max_request_validity_secs: Option<u64>,
    /// Requests per EOA and second (token bucket rate); default 200, must be positive.
    pub rate_limit_per_sec: Option<u32>,
    /// The per-EOA token bucket's size; default 400, must be positive.
    pub rate_limit_burst: Option<u32>,
    /// The longest a request is served, in milliseconds (then 503); default 10000.
    pub request_timeout_ms: Option<u64>,
    /// The largest request body, in bytes; default 16 KiB, at least 1024.
    pub max_body_bytes: Option<usize>,
    /// Where to write the bound address once listening; default none.
    pub port_file: Option<PathBuf>,
    /// Requests per source address and second, taken before anything else (so naming an EOA
    /// cannot drain its bucket); default 10000, must be positive.
    pub source_rate_limit_per_sec: Option<u32>,
    /// The per-source token bucket's size; default 20000, must be positive.
    pub source_rate_limit_burst: Option<u32>,
    /// The EOAs that may create keys (0x addresses); default none: any EOA may (fine on
    /// loopback; on another address the service warns at start).
    pub allowed_creators: Option<Vec<String>>,
    /// The address of the cerberus-compatible gRPC listener; default none (not served). It uses
    /// the same TLS certificate as the REST API when one is set.
    pub grpc_listen: Option<SocketAddr>,
    /// Where to write the gRPC listener's bound address once listening; default none.
    pub grpc_port_file: Option<PathBuf>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// The data directory holding the store.
    pub data_dir: PathBuf,
    /// Where the key-encryption key comes from.
    pub kek: KekSource,
    /// Chain id of the service's EIP-712 domain.
    pub chain_id: u64,
    /// The EIP-712 domain requests are signed in: the chain id and the deployment's salt.
    pub domain: kms_crypto::auth::SignerDomain,
    /// Also accept the unsalted domain (a salted deployment's migration period).
    pub accept_unsalted: bool,
    /// The PEM certificate chain and private key files; None: plain HTTP.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// How long a rotated-out version stays usable when a request names it.
    pub rotation_grace_secs: u64,
    /// Rotate every active key this often (0: never).
    pub auto_rotate_secs: u64,
    /// Deadlines further ahead than this are refused, which bounds the nonce table.
    pub max_request_validity_secs: u64,
    /// Requests per EOA and second (token bucket rate).
    pub rate_limit_per_sec: u32,
    /// The per-EOA token bucket's size.
    pub rate_limit_burst: u32,
    /// The longest a request is served, in milliseconds; past it the answer is 503.
    pub request_timeout_ms: u64,
    /// The largest request body, in bytes; a larger one is refused with 413 `body_too_large`.
    pub max_body_bytes: usize,
    /// Where to write the bound address (for tests and supervisors using port 0).
    pub port_file: Option<PathBuf>,
    /// Requests per source address and second.
    pub source_rate_limit_per_sec: u32,
    /// The per-source token bucket's size.
    pub source_rate_limit_burst: u32,
    /// The EOAs that may create keys; None: any.
    pub allowed_creators: Option<Vec<alloy_primitives::Address>>,
    /// The cerberus-compatible gRPC listener's address; None: not served.
    pub grpc_listen: Option<SocketAddr>,
    /// Where to write the gRPC listener's bound address.
    pub grpc_port_file: Option<PathBuf>,
}

impl FileConfig {
    /// Reads and parses a TOML file; unknown fields are an error, the rest is checked by
    /// [`FileConfig::validate`].
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Applies defaults and checks consistency.
    pub fn validate(self) -> anyhow::Result<Config> {
        let kek = match (self.kek_passphrase_file, self.kek_key_file) {
            (Some(p), None) => KekSource::PassphraseFile(p),
            (None, Some(k)) => KekSource::KeyFile(k),
            (None, None) => {
                bail!("a key-encryption key is required: kek_passphrase_file or kek_key_file")
            }
            (Some(_), Some(_)) => bail!("give only one of kek_passphrase_file and kek_key_file"),
        };
        let tls = match (self.tls_cert_file, self.tls_key_file) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => bail!("TLS needs both tls_cert_file and tls_key_file"),
        };
        let allowed_creators = match self.allowed_creators {
            Some(list) => Some(
                list.iter()
                    .map(|a| {
                        a.parse::<alloy_primitives::Address>().map_err(|_| {
                            anyhow::anyhow!("allowed_creators: {a:?} is not an address")
                        })
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?,
            ),
            None => None,
        };
        let chain_id = self.chain_id.unwrap_or(31337);
        let salt = match &self.eip712_salt {
            Some(text) => {
                let digits = text.strip_prefix("0x").unwrap_or(text);
                let mut salt = [0u8; 32];
                hex::decode_to_slice(digits, &mut salt)
                    .map_err(|_| anyhow::anyhow!("eip712_salt must be 32 bytes of hex"))?;
                Some(alloy_primitives::B256::from(salt))
            }
            None => None,
        };
        let accept_unsalted = self.accept_unsalted.unwrap_or(false);
        if accept_unsalted && salt.is_none() {
            bail!("accept_unsalted needs eip712_salt");
        }
        let cfg = Config {
            listen: self
                .listen
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9100))),
            data_dir: self.data_dir.context("data_dir is required")?,
            kek,
            chain_id,
            domain: kms_crypto::auth::SignerDomain { chain_id, salt },
            accept_unsalted,
            tls,
            rotation_grace_secs: self.rotation_grace_secs.unwrap_or(7 * 24 * 3600),
            auto_rotate_secs: self.auto_rotate_secs.unwrap_or(0),
            max_request_validity_secs: self.max_request_validity_secs.unwrap_or(600),
            rate_limit_per_sec: self.rate_limit_per_sec.unwrap_or(200),
            rate_limit_burst: self.rate_limit_burst.unwrap_or(400),
            request_timeout_ms: self.request_timeout_ms.unwrap_or(10_000),
            max_body_bytes: self.max_body_bytes.unwrap_or(16 * 1024),
            port_file: self.port_file,
            source_rate_limit_per_sec: self.source_rate_limit_per_sec.unwrap_or(10_000),
            source_rate_limit_burst: self.source_rate_limit_burst.unwrap_or(20_000),
            allowed_creators,
            grpc_listen: self.grpc_listen,
            grpc_port_file: self.grpc_port_file,
        };
        if cfg.grpc_port_file.is_some() && cfg.grpc_listen.is_none() {
            bail!("grpc_port_file needs grpc_listen");
        }
        if cfg.max_request_validity_secs == 0
            || cfg.rate_limit_per_sec == 0
            || cfg.rate_limit_burst == 0
            || cfg.source_rate_limit_per_sec == 0
            || cfg.source_rate_limit_burst == 0
        {
            bail!("max_request_validity_secs and the rate limits must be positive");
        }
        if cfg.max_body_bytes < 1024 {
            bail!("max_body_bytes must be at least 1024");
        }
        Ok(cfg)
    }
}
