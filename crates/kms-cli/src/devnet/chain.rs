//! `kms devnet --chain anvil`: anvil as one more child of the fleet, and the registry set up on
//! it (deployed, every operator registered through the signer and admitted, the demo app
//! registered). A resumed devnet finds the registry in anvil's saved state and does only what an
//! interrupted first run left undone.
//!
//! Registration follows the seed's flow: the operator's EOA (anvil's account i) asks kms-signer
//! for KeyRegistrar's signature over its BN254 key and sends `registerOperator` itself. The
//! node signs protocol messages with that same key (Schnorr, docs 0006, which the signer does not
//! offer), so the devnet creates it with the node and imports it into the signer once, as an
//! operator imports an existing eigenlayer-cli key.

use super::{
    local_url, node_dir_name, say_err, DevnetChain, Fleet, Manifest, ANVIL_BLOCK_SECS, ANVIL_STATE,
    CHAIN_ID,
};
use crate::error::CliError;
use alloy_primitives::Address;
use kms_api::config::NodeFile;
use kms_chain::anvil::DEV_KEYS;
use kms_chain::{LocalSigner, OperatorStatus, Registry};
use kms_client::{EoaKey, SignerClient};
use kms_store::files::read_encryption_key;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// The KeyRegistrar operator set the devnet's registrations are signed for.
const OPERATOR_SET_ID: u32 = 1;

/// The anvil binary, or why there is none.
pub(crate) fn find_anvil() -> Result<PathBuf, CliError> {
    let bin = kms_chain::anvil::binary();
    let found = bin.is_absolute() && bin.exists()
        || std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(&bin).is_file()));
    if found {
        Ok(bin)
    } else {
        Err(CliError::Failure(
            "anvil not found: run scripts/devnet --chain anvil (which installs it), or set \
             KMS_ANVIL, or put anvil on PATH"
                .into(),
        ))
    }
}

/// Anvil's account `i`: its key (a public test key), as `tx.key` holds it.
pub(crate) fn dev_key_hex(i: u32) -> Result<&'static str, CliError> {
    usize::try_from(i)
        .ok()
        .and_then(|i| DEV_KEYS.get(i).copied())
        .ok_or_else(|| CliError::Failure(format!("no anvil account {i}")))
}

/// Anvil's account `i`: the EOA that signs the signer's requests.
pub(crate) fn dev_eoa(i: u32) -> Result<EoaKey, CliError> {
    let secret = crate::signer::parse_eoa_key(dev_key_hex(i)?)?;
    EoaKey::from_bytes(&secret)
        .map_err(|_| CliError::Failure(format!("anvil account {i} is not a key")))
}

/// Anvil's account `i` as a wallet, which sends its transactions.
pub(crate) fn dev_wallet(i: u32) -> Result<LocalSigner, CliError> {
    dev_eoa(i).map(|eoa| LocalSigner::from_signing_key(eoa.signing_key().clone()))
}

/// Imports every node's BN254 key into the signer's store (created by the first import), under
/// the node's operator EOA. The signer must not be running: its store is opened exclusively.
pub(crate) fn import_operator_keys(
    signer_bin: &Path,
    dir: &Path,
    nodes: u32,
) -> Result<(), CliError> {
    let signer = dir.join("signer");
    for i in 1..=nodes {
        let eoa = dev_wallet(i)?.address().to_checksum(None);
        let key = Path::new("..").join(node_dir_name(i)).join("bn254.key");
        let out = Command::new(signer_bin)
            .current_dir(&signer)
            // Flags only: a KEK named in the caller's environment must not join them.
            .env_remove("KMS_SIGNER_DATA_DIR")
            .env_remove("KMS_SIGNER_KEK_PASSPHRASE_FILE")
            .env_remove("KMS_SIGNER_KEK_KEY_FILE")
            .args([
                "import",
                "--data-dir",
                "data",
                "--kek-key-file",
                "kek.key",
                "--eoa",
                &eoa,
            ])
            .arg("--secret-key-file")
            .arg(&key)
            .output()
            .map_err(|e| CliError::Failure(format!("cannot run {}: {e}", signer_bin.display())))?;
        if !out.status.success() {
            return Err(CliError::Failure(format!(
                "kms-signer import of operator {i}'s key failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    Ok(())
}

/// Where anvil's first account's first contract lands: the registry of a fresh devnet chain.
pub(crate) fn registry_address() -> Address {
    dev_wallet(0)
        .map(|w| w.address().create(0))
        .unwrap_or_default()
}

/// Starts anvil, waits until it answers, and sets the registry up (through the signer at
/// `signer_url`, already started) as far as the chain does not have it yet.
pub(crate) fn start_chain(
    fleet: &mut Fleet,
    bin: &Path,
    root: &Path,
    m: &Manifest,
    chain: &DevnetChain,
    signer_url: &str,
    signals: &Receiver<&'static str>,
) -> Result<(), CliError> {
    let port = chain.anvil_port.to_string();
    let block = ANVIL_BLOCK_SECS.to_string();
    let state = root.join(ANVIL_STATE);
    let args = [
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--block-time",
        &block,
        "--state",
    ]
    .map(Into::into)
    .into_iter()
    .chain([state.into_os_string()])
    .collect::<Vec<_>>();
    fleet.spawn("anvil", bin, &args, root, &root.join("anvil.log"))?;
    let url = local_url(chain.anvil_port);
    let expected: Address = chain
        .registry
        .parse()
        .map_err(|_| CliError::Failure("devnet.json: registry is not an address".into()))?;
    let rt = crate::chain::runtime()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let registry = loop {
        match rt.block_on(Registry::connect(&url, expected, Some(dev_wallet(0)?))) {
            Ok(registry) => {
                say_err(&format!("anvil {url}: registry {expected} found"));
                break registry;
            }
            Err(kms_chain::ChainError::NoContract(_)) => break deploy(&rt, &url, expected)?,
            // Not listening yet.
            Err(_) => {}
        }
        if let Some((name, status, log)) = fleet.exited() {
            return Err(super::exited_error(&name, status, &log));
        }
        if Instant::now() > deadline || signals.try_recv().is_ok() {
            return Err(CliError::Failure(format!(
                "anvil did not answer at {url}; its log is anvil.log"
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let signer = SignerClient::new(signer_url, CHAIN_ID)
        .map_err(|e| CliError::Failure(format!("signer client: {e}")))?;
    let mut signer_up = false;
    let mut wait_signer = |fleet: &mut Fleet| -> Result<(), CliError> {
        if !signer_up {
            wait_for_signer(fleet, &signer, signals)?;
            signer_up = true;
        }
        Ok(())
    };
    set_up(&rt, root, m, &url, &registry, &signer, || {
        wait_signer(fleet)
    })
}

/// Deploys the registry from anvil's account 0, which owns it and is the AVS.
fn deploy(
    rt: &tokio::runtime::Runtime,
    url: &str,
    expected: Address,
) -> Result<Registry, CliError> {
    let owner = dev_wallet(0)?;
    let avs = owner.address();
    let registry = rt
        .block_on(Registry::deploy(url, owner, avs, avs, OPERATOR_SET_ID))
        .map_err(crate::chain::error)?;
    if registry.address() != expected {
        return Err(CliError::Failure(format!(
            "the registry was deployed at {}, not {expected}: was this anvil used before?",
            registry.address()
        )));
    }
    say_err(&format!(
        "anvil {url}: registry {expected} deployed (owner and AVS {avs})"
    ));
    Ok(registry)
}

/// Waits until the signer answers (it opens its store and binds its port after starting).
fn wait_for_signer(
    fleet: &mut Fleet,
    signer: &SignerClient,
    signals: &Receiver<&'static str>,
) -> Result<(), CliError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while signer.list_keys().is_err() {
        if let Some((name, status, log)) = fleet.exited() {
            return Err(super::exited_error(&name, status, &log));
        }
        if Instant::now() > deadline || signals.try_recv().is_ok() {
            return Err(CliError::Failure(format!(
                "the signer did not answer at {}; its log is signer/signer.log",
                signer.base_url()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Registers every operator that is not yet registered through the signer, admits every one
/// not yet admitted and names the demo app's owner if it has none, so that a first run stopped
/// part way is completed by the next. `signer_ready` waits for the signer, only when a
/// registration needs it. The signer client blocks, so each chain call is driven by `rt` on its
/// own.
fn set_up(
    rt: &tokio::runtime::Runtime,
    root: &Path,
    m: &Manifest,
    url: &str,
    registry: &Registry,
    signer: &SignerClient,
    mut signer_ready: impl FnMut() -> Result<(), CliError>,
) -> Result<(), CliError> {
    let chain = crate::chain::error;
    for (i, port) in (1..=m.nodes).zip(&m.ports) {
        let eoa = dev_eoa(i)?;
        let operator = eoa.address();
        let status = rt
            .block_on(registry.operator_status(operator))
            .map_err(chain)?;
        if status == OperatorStatus::Unknown {
            // The node's own configuration (its schema is the node's) and encryption key.
            let dir = root.join(node_dir_name(i));
            let config = dir.join("node.toml");
            let fail = |e: String| CliError::Failure(format!("{}: {e}", config.display()));
            let text = std::fs::read_to_string(&config).map_err(|e| fail(e.to_string()))?;
            let node: NodeFile = toml::from_str(&text).map_err(|e| fail(e.to_string()))?;
            let enc_file = dir.join(node.encryption_key_file.unwrap_or_default());
            let enc = read_encryption_key(&enc_file).map_err(|e| fail(e.to_string()))?;
            let address: Option<Address> = node.address.as_deref().and_then(|a| a.parse().ok());
            if address != Some(operator) {
                return Err(CliError::Failure(format!(
                    "{}: the address is not anvil account {i}'s",
                    config.display()
                )));
            }
            let own = rt
                .block_on(Registry::connect(
                    url,
                    registry.address(),
                    Some(dev_wallet(i)?),
                ))
                .map_err(chain)?;
            signer_ready()?;
            crate::signer::register_through(
                rt,
                signer,
                &eoa,
                &own,
                enc.public().to_bytes(),
                &local_url(*port),
                0,
            )?;
        }
        match status {
            OperatorStatus::Unknown | OperatorStatus::Registered => {
                rt.block_on(registry.admit(operator)).map_err(chain)?;
                say_err(&format!(
                    "anvil {url}: operator {i} {operator} registered through the signer and \
                     admitted"
                ));
            }
            OperatorStatus::Admitted => {}
            OperatorStatus::Removed => say_err(&format!(
                "anvil {url}: operator {i} {operator} was removed from the registry; its node \
                 stays out of the set"
            )),
        }
    }
    let app_owner: Address = m
        .demo_owner
        .parse()
        .map_err(|_| CliError::Failure("devnet.json: demo_owner is not an address".into()))?;
    let current = rt
        .block_on(registry.app_owner(&m.demo_app, None))
        .map_err(chain)?;
    if current.is_none() {
        rt.block_on(registry.set_app_owner(&m.demo_app, app_owner))
            .map_err(chain)?;
    }
    Ok(())
}
