//! `node.toml`: one file, unknown fields refused, relative paths taken from the file's directory.
//! Secrets are never values here, only paths to files that hold them (docs 0008).

use anyhow::{bail, Context};
use kms_crypto::bn254;
use kms_crypto::seal::EncryptionKey;
use kms_protocol::Address;
use kms_store::KekSource;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    address: Option<String>,
    listen: Option<SocketAddr>,
    port_file: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    operators_file: Option<PathBuf>,
    bn254_keystore_file: Option<PathBuf>,
    bn254_password_file: Option<PathBuf>,
    bn254_key_file: Option<PathBuf>,
    encryption_key_file: Option<PathBuf>,
    kek_passphrase_file: Option<PathBuf>,
    kek_key_file: Option<PathBuf>,
    chain_id: Option<u64>,
    registry: Option<String>,
    interval_secs: Option<u64>,
    retention_epochs: Option<u64>,
    max_request_validity_secs: Option<u64>,
    app_rate_limit_per_sec: Option<u32>,
    app_rate_limit_burst: Option<u32>,
    app_max_concurrent: Option<usize>,
    #[serde(default)]
    apps: BTreeMap<String, String>,
}

/// Where the operator's BN254 key comes from.
#[derive(Debug, Clone)]
pub enum Bn254Source {
    Keystore { file: PathBuf, password: PathBuf },
    KeyFile(PathBuf),
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub address: Address,
    pub listen: SocketAddr,
    pub port_file: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub operators_file: PathBuf,
    pub bn254: Bn254Source,
    pub encryption_key_file: PathBuf,
    pub kek: KekSource,
    pub chain_id: u64,
    pub registry: Address,
    pub interval: Duration,
    /// Previous epochs whose shares are kept besides the current one.
    pub retention_epochs: u64,
    pub max_request_validity_secs: u64,
    pub app_rate_limit_per_sec: u32,
    pub app_rate_limit_burst: u32,
    pub app_max_concurrent: usize,
    /// App id -> owner EOA.
    pub apps: BTreeMap<String, Address>,
}

pub fn parse_address(text: &str, what: &str) -> anyhow::Result<Address> {
    let a: alloy_primitives::Address = text
        .trim()
        .parse()
        .with_context(|| format!("{what} is not a 0x-prefixed 20-byte address"))?;
    Ok(a.into_array())
}

/// App ids are path segments and EIP-712 strings: keep them to a plain, printable alphabet.
pub fn valid_app_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let f: FileConfig =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let rel = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        let bn254 = match (
            f.bn254_keystore_file,
            f.bn254_password_file,
            f.bn254_key_file,
        ) {
            (Some(file), Some(password), None) => Bn254Source::Keystore {
                file: rel(file),
                password: rel(password),
            },
            (None, None, Some(k)) => Bn254Source::KeyFile(rel(k)),
            _ => {
                bail!("give either bn254_keystore_file with bn254_password_file, or bn254_key_file")
            }
        };
        let kek = match (f.kek_passphrase_file, f.kek_key_file) {
            (Some(p), None) => KekSource::PassphraseFile(rel(p)),
            (None, Some(k)) => KekSource::KeyFile(rel(k)),
            _ => bail!("give exactly one of kek_passphrase_file and kek_key_file"),
        };
        let mut apps = BTreeMap::new();
        for (id, owner) in f.apps {
            if !valid_app_id(&id) {
                bail!("app id {id:?}: 1 to 128 characters from A-Z a-z 0-9 . _ : -");
            }
            apps.insert(
                id.clone(),
                parse_address(&owner, &format!("owner of app {id}"))?,
            );
        }
        let cfg = Config {
            address: parse_address(
                f.address.as_deref().context("address is required")?,
                "address",
            )?,
            listen: f
                .listen
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9200))),
            port_file: f.port_file.map(rel),
            data_dir: rel(f.data_dir.unwrap_or_else(|| PathBuf::from("."))),
            operators_file: rel(f.operators_file.context("operators_file is required")?),
            bn254,
            encryption_key_file: rel(f
                .encryption_key_file
                .context("encryption_key_file is required")?),
            kek,
            chain_id: f.chain_id.unwrap_or(31337),
            registry: match f.registry {
                Some(r) => parse_address(&r, "registry")?,
                None => [0u8; 20],
            },
            interval: Duration::from_secs(f.interval_secs.unwrap_or(30)),
            retention_epochs: f.retention_epochs.unwrap_or(1),
            max_request_validity_secs: f.max_request_validity_secs.unwrap_or(600),
            app_rate_limit_per_sec: f.app_rate_limit_per_sec.unwrap_or(200),
            app_rate_limit_burst: f.app_rate_limit_burst.unwrap_or(400),
            app_max_concurrent: f.app_max_concurrent.unwrap_or(64),
            apps,
        };
        if cfg.interval < Duration::from_secs(2) || cfg.interval > Duration::from_secs(86_400) {
            bail!("interval_secs must be between 2 and 86400");
        }
        if cfg.max_request_validity_secs == 0
            || cfg.app_rate_limit_per_sec == 0
            || cfg.app_rate_limit_burst == 0
            || cfg.app_max_concurrent == 0
        {
            bail!("max_request_validity_secs and the app limits must be positive");
        }
        Ok(cfg)
    }

    /// The operator's BN254 key.
    pub fn bn254_key(&self) -> anyhow::Result<bn254::SecretKey> {
        match &self.bn254 {
            Bn254Source::KeyFile(p) => {
                let text = read_secret_text(p)?;
                bn254::SecretKey::from_int_str(text.trim())
                    .with_context(|| format!("{}: not a BN254 secret key", p.display()))
            }
            Bn254Source::Keystore { file, password } => {
                let json = std::fs::read_to_string(file)
                    .with_context(|| format!("reading {}", file.display()))?;
                let mut pw = read_secret_text(password)?;
                while pw.ends_with('\n') || pw.ends_with('\r') {
                    pw.pop();
                }
                kms_crypto::keystore::decrypt_any(&json, &pw)
                    .with_context(|| format!("{}: cannot decrypt the keystore", file.display()))
            }
        }
    }

    /// The operator's X25519 key (64 hex characters).
    pub fn encryption_key(&self) -> anyhow::Result<EncryptionKey> {
        let p = &self.encryption_key_file;
        let text = read_secret_text(p)?;
        let bytes = zeroize::Zeroizing::new(
            hex::decode(text.trim().trim_start_matches("0x"))
                .with_context(|| format!("{}: expected 64 hex characters", p.display()))?,
        );
        EncryptionKey::from_bytes(&bytes)
            .with_context(|| format!("{}: not an X25519 secret key", p.display()))
    }
}

fn read_secret_text(p: &Path) -> anyhow::Result<zeroize::Zeroizing<String>> {
    std::fs::read_to_string(p)
        .map(zeroize::Zeroizing::new)
        .with_context(|| format!("reading {}", p.display()))
}
