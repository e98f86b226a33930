//! `node.toml` (its schema: `kms_api::config::NodeFile`): one file, unknown fields refused,
//! relative paths taken from the file's directory.
//! Secrets are never values here, only paths to files that hold them (docs 0008).

use anyhow::{bail, Context};
use kms_api::config::NodeFile;
use kms_crypto::bn254;
use kms_crypto::seal::EncryptionKey;
use kms_protocol::Address;
use kms_store::files::read_encryption_key;
pub use kms_store::files::Bn254Source;
use kms_store::KekSource;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Chain mode (docs 0009): the registry replaces the operator file, the app table and the clock.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// The chain's JSON-RPC endpoint.
    pub rpc_url: String,
    /// The `KmsRegistry` contract's address.
    pub registry: Address,
    /// Blocks between rounds; None: `kms_chain::default_interval` of the chain.
    pub interval_blocks: Option<u64>,
    /// Blocks a trigger block must be buried under before its round starts.
    pub confirmations: u64,
    /// The chain's block time; None: by chain id ([`default_block_time`]). A round's phases are
    /// timed over `interval_blocks` blocks of it.
    pub block_time: Option<Duration>,
    /// The secp256k1 key (hex) that anchor transactions are sent from; None: never anchors.
    pub tx_key_file: Option<PathBuf>,
    /// The genesis DKG waits until the registry holds this many operators: the owner admits them
    /// one transaction at a time, and a DKG among the first one or two would give them the key.
    pub genesis_operators: usize,
    /// How old a partial request's policy block may be, in seconds (counted in blocks of
    /// `block_time`).
    pub policy_max_age_secs: u64,
}

/// Block time by chain id: Ethereum mainnet and Sepolia 12 s, anvil (as `kms devnet` runs it)
/// 1 s, anything else 2 s.
pub fn default_block_time(chain_id: u64) -> Duration {
    match chain_id {
        1 | 11_155_111 => Duration::from_secs(12),
        31_337 => Duration::from_secs(1),
        _ => Duration::from_secs(2),
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The operator's address: the node takes part only if the operator set holds it.
    pub address: Address,
    /// The address the API listens on (default 127.0.0.1:9200; port 0: any free port).
    pub listen: SocketAddr,
    /// Where the bound address is written once listening, if anywhere.
    pub port_file: Option<PathBuf>,
    /// The store's directory (default: the config file's directory).
    pub data_dir: PathBuf,
    /// The static operator file (unused in chain mode).
    pub operators_file: PathBuf,
    /// Where the operator's BN254 key is read from: a keystore with its password, or a key file.
    pub bn254: Bn254Source,
    /// The file holding the node's X25519 encryption key (64 hex characters).
    pub encryption_key_file: PathBuf,
    /// Where the key-encryption key that seals the stored shares and seeds comes from.
    pub kek: KekSource,
    /// In chain mode, the chain's id and the registry, once connected.
    pub chain_id: u64,
    /// The registry's address, bound into every round's config (static mode: as given, default
    /// zero).
    pub registry: Address,
    /// The length of a round (chain mode: the interval's blocks at the block time).
    pub interval: Duration,
    /// Previous epochs whose shares are kept besides the current one.
    pub retention_epochs: u64,
    /// Partial requests whose deadline is more than this many seconds ahead are refused
    /// (default 600).
    pub max_request_validity_secs: u64,
    /// Partial requests per app and second: the token bucket's rate (default 200).
    pub app_rate_limit_per_sec: u32,
    /// The per-app token bucket's size (default 400).
    pub app_rate_limit_burst: u32,
    /// App requests served at once, over all apps (default 64); more are refused.
    pub app_max_concurrent: usize,
    /// App id -> owner EOA (static mode; chain mode reads the registry).
    pub apps: BTreeMap<String, Address>,
    /// Whether `chain_id` was given in the file (chain mode checks it against the chain).
    pub chain_id_given: bool,
    /// Chain mode's settings; None: static mode (operator file and `[apps]`).
    pub chain: Option<ChainConfig>,
    /// App id -> its release policy (static mode; an app not listed: its owner's signature).
    pub release: BTreeMap<String, crate::release::Release>,
    /// The attestation verifiers releases may ask for.
    pub attestation: std::sync::Arc<crate::release::Attestation>,
}

/// Parses a 0x-prefixed 20-byte address; `what` names it in the error.
pub fn parse_address(text: &str, what: &str) -> anyhow::Result<Address> {
    let a: alloy_primitives::Address = text
        .trim()
        .parse()
        .with_context(|| format!("{what} is not a 0x-prefixed 20-byte address"))?;
    Ok(a.into_array())
}

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let f: NodeFile =
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
            if kms_api::app::check_app_id(&id).is_err() {
                bail!("app id {id:?}: 1 to 128 characters from A-Z a-z 0-9 . _ : -");
            }
            apps.insert(
                id.clone(),
                parse_address(&owner, &format!("owner of app {id}"))?,
            );
        }
        let attestation = crate::release::attestation(f.attestation, rel)?;
        let release = crate::release::releases(f.release, &apps, &attestation)?;
        let chain = match f.chain {
            None => None,
            Some(c) => {
                if !apps.is_empty() || f.registry.is_some() || f.operators_file.is_some() {
                    bail!(
                        "with [chain], the registry holds the operators, the apps and its own \
                         address: remove operators_file, registry and [apps]"
                    );
                }
                if f.interval_secs.is_some() {
                    bail!("with [chain], rounds follow blocks: use [chain] interval_blocks and block_time_ms instead of interval_secs");
                }
                if c.interval_blocks == Some(0) || c.block_time_ms == Some(0) {
                    bail!("[chain] interval_blocks and block_time_ms must be positive");
                }
                Some(ChainConfig {
                    rpc_url: c.rpc_url,
                    registry: parse_address(&c.registry, "[chain] registry")?,
                    interval_blocks: c.interval_blocks,
                    confirmations: c.confirmations.unwrap_or(2),
                    block_time: c.block_time_ms.map(Duration::from_millis),
                    tx_key_file: c.tx_key_file.map(rel),
                    genesis_operators: match c.genesis_operators.unwrap_or(4) {
                        0 => bail!("[chain] genesis_operators must be positive"),
                        n => n,
                    },
                    policy_max_age_secs: match c.policy_max_age_secs.unwrap_or(600) {
                        0 => bail!("[chain] policy_max_age_secs must be positive"),
                        s => s,
                    },
                })
            }
        };
        let operators_file = match (&chain, f.operators_file) {
            (_, Some(p)) => rel(p),
            (Some(_), None) => PathBuf::new(),
            (None, None) => bail!("operators_file is required"),
        };
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
            operators_file,
            bn254,
            encryption_key_file: rel(f
                .encryption_key_file
                .context("encryption_key_file is required")?),
            kek,
            chain_id_given: f.chain_id.is_some(),
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
            chain,
            release,
            attestation: std::sync::Arc::new(attestation),
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
        Ok(self.bn254.load()?)
    }

    /// The operator's X25519 key (64 hex characters).
    pub fn encryption_key(&self) -> anyhow::Result<EncryptionKey> {
        Ok(read_encryption_key(&self.encryption_key_file)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "address = \"0x70997970c51812dc3a010c7d01b50e0d17dc79c8\"\n\
                        bn254_key_file = \"bn254.key\"\nencryption_key_file = \"enc.key\"\n\
                        kek_key_file = \"kek.key\"\n";
    const CHAIN: &str = "[chain]\nrpc_url = \"http://127.0.0.1:8545\"\n\
                         registry = \"0x5615dEB798BB3E4dFa0139dFa1b3D433Cc23b72f\"\n";

    fn load(text: &str) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("node.toml");
        std::fs::write(&path, text)?;
        Config::load(&path)
    }

    #[test]
    fn a_chain_table_replaces_the_operator_file_and_apps() {
        let cfg = load(&format!("{BASE}{CHAIN}tx_key_file = \"tx.key\"\n")).unwrap();
        let chain = cfg.chain.expect("chain mode");
        assert_eq!(chain.registry[0], 0x56);
        assert_eq!(chain.confirmations, 2);
        assert_eq!(chain.genesis_operators, 4);
        assert_eq!(chain.interval_blocks, None);
        assert!(chain.tx_key_file.unwrap().ends_with("tx.key"));
        // Static mode still needs its operator file.
        let err = load(BASE).unwrap_err().to_string();
        assert!(err.contains("operators_file is required"), "{err}");
    }

    #[test]
    fn chain_mode_refuses_what_the_registry_replaces() {
        for (extra, before, why) in [
            (
                "",
                "operators_file = \"ops.json\"\n",
                "remove operators_file",
            ),
            (
                "",
                "registry = \"0x5615dEB798BB3E4dFa0139dFa1b3D433Cc23b72f\"\n",
                "remove operators_file",
            ),
            ("", "interval_secs = 5\n", "interval_blocks"),
            ("interval_blocks = 0\n", "", "must be positive"),
            ("genesis_operators = 0\n", "", "must be positive"),
            ("rpc = \"x\"\n", "", "unknown field"),
        ] {
            let text = format!("{BASE}{before}{CHAIN}{extra}");
            let err = format!("{:#}", load(&text).unwrap_err());
            assert!(err.contains(why), "{text}: {err}");
        }
        let apps = format!(
            "{BASE}{CHAIN}\n[apps]\ndemo = \"0x70997970c51812dc3a010c7d01b50e0d17dc79c8\"\n"
        );
        // [apps] after [chain] in TOML: a table of its own, refused alike.
        let err = format!("{:#}", load(&apps).unwrap_err());
        assert!(err.contains("[apps]"), "{err}");
    }

    #[test]
    fn block_time_defaults_by_chain() {
        assert_eq!(default_block_time(1), Duration::from_secs(12));
        assert_eq!(default_block_time(31_337), Duration::from_secs(1));
        assert_eq!(default_block_time(10), Duration::from_secs(2));
    }
}
