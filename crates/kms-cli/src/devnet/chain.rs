//! `kms devnet --chain anvil`: anvil as one more child of the fleet, and the registry set up on
//! it once (deployed, every operator registered with KeyRegistrar's proof and admitted, the demo
//! app registered). A resumed devnet finds the registry in anvil's saved state and sets up nothing.

use super::{
    local_url, node_dir_name, say_err, DevnetChain, Fleet, Manifest, ANVIL_BLOCK_SECS, ANVIL_STATE,
};
use crate::error::CliError;
use alloy_primitives::Address;
use kms_chain::anvil::DEV_KEYS;
use kms_chain::{LocalSigner, Registry};
use std::path::{Path, PathBuf};
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

/// Anvil's account `i` as a wallet.
pub(crate) fn dev_wallet(i: u32) -> Result<LocalSigner, CliError> {
    dev_key_hex(i)?
        .parse()
        .map_err(|_| CliError::Failure(format!("anvil account {i} is not a key")))
}

/// Where anvil's first account's first contract lands: the registry of a fresh devnet chain.
pub(crate) fn registry_address() -> Address {
    dev_wallet(0)
        .map(|w| w.address().create(0))
        .unwrap_or_default()
}

/// Starts anvil, waits until it answers, and sets the registry up if the chain has none.
pub(crate) fn start_chain(
    fleet: &mut Fleet,
    bin: &Path,
    root: &Path,
    m: &Manifest,
    chain: &DevnetChain,
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
    let registry: Address = chain
        .registry
        .parse()
        .map_err(|_| CliError::Failure("devnet.json: registry is not an address".into()))?;
    let rt = crate::chain::runtime()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match rt.block_on(Registry::connect(&url, registry, None)) {
            Ok(_) => {
                say_err(&format!("anvil {url}: registry {registry} found"));
                return Ok(());
            }
            Err(kms_chain::ChainError::NoContract(_)) => {
                return rt.block_on(set_up(root, m, &url, registry));
            }
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
    }
}

/// Deploys the registry and registers, admits and names everything the devnet needs.
async fn set_up(root: &Path, m: &Manifest, url: &str, expected: Address) -> Result<(), CliError> {
    let chain = crate::chain::error;
    let owner = dev_wallet(0)?;
    let avs = owner.address();
    let registry = Registry::deploy(url, owner, avs, avs, OPERATOR_SET_ID)
        .await
        .map_err(chain)?;
    if registry.address() != expected {
        return Err(CliError::Failure(format!(
            "the registry was deployed at {}, not {expected}: was this anvil used before?",
            registry.address()
        )));
    }
    say_err(&format!(
        "anvil {url}: registry {expected} deployed (owner and AVS {avs})"
    ));
    for (i, port) in (1..=m.nodes).zip(&m.ports) {
        // The node's own configuration and key files, read as the node reads them.
        let config = root.join(node_dir_name(i)).join("node.toml");
        let fail = |e: anyhow::Error| CliError::Failure(format!("{e:#}"));
        let node = kms_node::config::Config::load(&config).map_err(fail)?;
        let bn254 = node.bn254_key().map_err(fail)?;
        let enc = node.encryption_key().map_err(fail)?;
        let operator = Address::from(node.address);
        let own = Registry::connect(url, expected, Some(dev_wallet(i)?))
            .await
            .map_err(chain)?;
        let (key_data, signature) = own
            .sign_key_registration(&bn254, operator)
            .await
            .map_err(chain)?;
        own.register_operator(
            &key_data,
            &signature,
            enc.public().to_bytes(),
            &local_url(*port),
        )
        .await
        .map_err(chain)?;
        registry.admit(operator).await.map_err(chain)?;
        say_err(&format!(
            "anvil {url}: operator {i} {operator} registered and admitted"
        ));
    }
    let app_owner: Address = m
        .demo_owner
        .parse()
        .map_err(|_| CliError::Failure("devnet.json: demo_owner is not an address".into()))?;
    registry
        .set_app_owner(&m.demo_app, app_owner)
        .await
        .map_err(chain)?;
    Ok(())
}
