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
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub kek_passphrase_file: Option<PathBuf>,
    pub kek_key_file: Option<PathBuf>,
    pub chain_id: Option<u64>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    pub rotation_grace_secs: Option<u64>,
    pub auto_rotate_secs: Option<u64>,
    pub max_request_validity_secs: Option<u64>,
    pub rate_limit_per_sec: Option<u32>,
    pub rate_limit_burst: Option<u32>,
    pub request_timeout_ms: Option<u64>,
    pub max_body_bytes: Option<usize>,
    pub port_file: Option<PathBuf>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub kek: KekSource,
    /// Chain id of the service's EIP-712 domain.
    pub chain_id: u64,
    pub tls: Option<(PathBuf, PathBuf)>,
    /// How long a rotated-out version stays usable when a request names it.
    pub rotation_grace_secs: u64,
    /// Rotate every active key this often (0: never).
    pub auto_rotate_secs: u64,
    /// Deadlines further ahead than this are refused, which bounds the nonce table.
    pub max_request_validity_secs: u64,
    pub rate_limit_per_sec: u32,
    pub rate_limit_burst: u32,
    pub request_timeout_ms: u64,
    pub max_body_bytes: usize,
    /// Where to write the bound address (for tests and supervisors using port 0).
    pub port_file: Option<PathBuf>,
}

impl FileConfig {
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
        let cfg = Config {
            listen: self
                .listen
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9100))),
            data_dir: self.data_dir.context("data_dir is required")?,
            kek,
            chain_id: self.chain_id.unwrap_or(31337),
            tls,
            rotation_grace_secs: self.rotation_grace_secs.unwrap_or(7 * 24 * 3600),
            auto_rotate_secs: self.auto_rotate_secs.unwrap_or(0),
            max_request_validity_secs: self.max_request_validity_secs.unwrap_or(600),
            rate_limit_per_sec: self.rate_limit_per_sec.unwrap_or(200),
            rate_limit_burst: self.rate_limit_burst.unwrap_or(400),
            request_timeout_ms: self.request_timeout_ms.unwrap_or(10_000),
            max_body_bytes: self.max_body_bytes.unwrap_or(16 * 1024),
            port_file: self.port_file,
        };
        if cfg.max_request_validity_secs == 0
            || cfg.rate_limit_per_sec == 0
            || cfg.rate_limit_burst == 0
        {
            bail!("max_request_validity_secs, rate_limit_per_sec and rate_limit_burst must be positive");
        }
        if cfg.max_body_bytes < 1024 {
            bail!("max_body_bytes must be at least 1024");
        }
        Ok(cfg)
    }
}
