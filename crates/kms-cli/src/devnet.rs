//! `kms devnet`: a local threshold network in one command.
//!
//! The first run on a directory creates the cluster: keys, the operator file, one `node.toml` per
//! node, a `kms-signer` configuration and a demo app with its owner key. Every run then starts one
//! `kms-node` process per operator and a `kms-signer`, shows progress until every node holds an
//! epoch, prints the MPK, the endpoints and an encrypt/decrypt example, and reports each new epoch
//! until SIGINT, SIGTERM or SIGHUP, which stop every child with SIGTERM (SIGKILL after 10 s).
//!
//! Layout of `--dir` (paths inside the configs are relative, so the directory can be moved):
//! ```text
//! devnet.json        nodes, interval, ports, demo app; written last, so it marks a complete cluster
//! operators.json     the operator file every node reads (ids 1..=N, http://127.0.0.1:<port>)
//! demo-owner.key     the demo app owner's secp256k1 key, 0x-hex (0600)
//! node-<i>/          node.toml; bn254.key, encryption.key, kek.key (0600); data/, port, node.log
//! signer/            signer.toml; kek.key (0600); data/, port, signer.log
//! ```
//! A re-run resumes the same cluster (same keys and data, hence the same MPK) on the same ports;
//! `--nodes` or `--interval` that differ from what was created are refused rather than applied.
//!
//! With `--chain anvil` (docs 0009) the devnet also runs anvil (1 s blocks, its state kept in
//! `anvil-state.json` and `anvil.log`), deploys the `KmsRegistry` from anvil's first account, which
//! owns it, registers every node's operator through the signer (operator i is anvil's account i,
//! whose key is `node-<i>/tx.key`; the signer holds the node's BN254 key, imported at creation and
//! signs KeyRegistrar's message, the EOA sends it), admits them, registers the demo app, and runs
//! the nodes in chain mode: a round every `--interval` blocks, each anchored on chain.
//! `operators.json` is then only the clients' list of node URLs.
//!
//! Unix only: children run in their own process group, so a terminal's Ctrl-C reaches `kms devnet`
//! alone and the children are stopped in order, and they are signalled with `kill(1)`.

use crate::error::CliError;
use crate::files::write_new_private;
use clap::Args;
use kms_api::config::{NodeChainFile, NodeFile, SignerFile};
use kms_api::time::unix_now;
use kms_chain::membership::{Member, StaticFile};
use kms_crypto::auth::EoaKey;
use kms_crypto::bls::EvalPoint;
use kms_crypto::bn254::SecretKey;
use kms_crypto::seal::EncryptionKey;
use kms_crypto::Secret;
use kms_protocol::Operator;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

const DEFAULT_NODES: u32 = 4;
const DEFAULT_INTERVAL_SECS: u64 = 30;
/// Chain mode: blocks between rounds (anvil's default interval, docs 0009).
const DEFAULT_INTERVAL_BLOCKS: u64 = 5;
/// Chain mode: anvil's block time.
const ANVIL_BLOCK_SECS: u64 = 1;
const ANVIL_STATE: &str = "anvil-state.json";
const MANIFEST: &str = "devnet.json";
const OPERATORS: &str = "operators.json";
pub(crate) const OWNER_KEY: &str = "demo-owner.key";
const DEMO_APP: &str = "demo";
const FORMAT_VERSION: u32 = 1;
/// The chain id both services default to; the signer's EIP-712 domain uses it.
pub(crate) const CHAIN_ID: u64 = 31337;
/// How long a stopped child gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Lines of a child's log shown when it exits on its own.
const LOG_TAIL_LINES: usize = 30;
/// Starts the line `kms devnet` appends to a child's log before starting it.
const LOG_MARKER: &str = "--- kms devnet: starting";
/// Every file a node directory must hold besides its data.
const NODE_FILES: [&str; 4] = ["node.toml", "bn254.key", "encryption.key", "kek.key"];
/// Round phases in protocol order, for the progress line.
const PHASES: [&str; 5] = ["deals", "acks", "logs", "agreement", "done"];

/// The chain a devnet runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ChainKind {
    /// A local anvil started with the devnet.
    Anvil,
}

#[derive(Args)]
pub struct DevnetArgs {
    /// Number of nodes [default: 4]; a resumed devnet must keep the number it was created with.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64))]
    nodes: Option<u32>,
    /// Round interval in seconds [default: 30]: the nodes reshare once per interval. A resumed
    /// devnet must keep the interval it was created with.
    #[arg(long, value_parser = clap::value_parser!(u64).range(2..=86_400))]
    interval: Option<u64>,
    /// The devnet's directory: created on the first run, resumed on the next ones.
    #[arg(long, default_value = "./devnet")]
    dir: PathBuf,
    /// Do not start the operator-key service (kms-signer); not with a chain, whose operators
    /// register through it.
    #[arg(long)]
    no_signer: bool,
    /// Run on a chain (chain mode, docs 0009); `--interval` then counts blocks [default: 5].
    #[arg(long, value_enum)]
    chain: Option<ChainKind>,
}

/// Runs the devnet and exits the process: 0 after a signal stopped it, 1 or 2 on an error.
pub fn main(args: DevnetArgs) -> ! {
    match run(args) {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            say_err(&format!("error: {e}"));
            std::process::exit(e.exit_code());
        }
    }
}

fn run(args: DevnetArgs) -> Result<(), CliError> {
    let started = Instant::now();
    // Before anything is written, so a build without the services fails cleanly.
    let node_bin = find_binary("kms-node")?;
    let signer_bin = if args.no_signer {
        None
    } else {
        Some(find_binary("kms-signer")?)
    };
    let anvil_bin = match args.chain {
        Some(ChainKind::Anvil) => Some(find_anvil()?),
        None => None,
    };
    let on_chain =
        args.chain.is_some() || load_manifest(&args.dir).is_ok_and(|m| m.chain.is_some());
    if on_chain && signer_bin.is_none() {
        return Err(CliError::bad(
            "a chain devnet registers its operators through the signer: drop --no-signer",
        ));
    }
    let cluster = prepare(
        &args.dir,
        args.nodes,
        args.interval,
        args.chain.zip(signer_bin.as_deref()),
    )?;
    let m = &cluster.manifest;
    if cluster.created {
        let on = if m.chain.is_some() {
            format!("on anvil, interval {} blocks", m.interval_secs)
        } else {
            format!("interval {} s", m.interval_secs)
        };
        say_err(&format!(
            "created a devnet of {} nodes in {} ({on})",
            m.nodes,
            args.dir.display(),
        ));
    } else {
        let age = unix_now().saturating_sub(m.created_at);
        say_err(&format!(
            "resuming the devnet in {} ({} nodes, interval {} s, created {} ago)",
            args.dir.display(),
            m.nodes,
            m.interval_secs,
            elapsed(Duration::from_secs(age))
        ));
    }
    check_ports_free(m, signer_bin.is_some())?;
    if m.chain.is_some() && anvil_bin.is_none() {
        return Err(CliError::bad(format!(
            "{} runs on a chain: add --chain anvil",
            args.dir.display()
        )));
    }
    let root = std::fs::canonicalize(&args.dir)
        .map_err(|e| CliError::Failure(format!("cannot resolve {}: {e}", args.dir.display())))?;
    // Installed before any child exists: from here on a signal is a request to stop in order.
    let signals = watch_signals()?;
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_millis(500))
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| CliError::Failure(format!("cannot build the HTTP client: {e}")))?;

    let mut fleet = Fleet::default();
    let signer_url = signer_bin.as_ref().map(|_| local_url(m.signer_port));
    // The signer first: a new chain's operators register through it.
    if let Some(bin) = &signer_bin {
        let dir = root.join("signer");
        remove_if_present(&dir.join("port"))?;
        let config = dir.join("signer.toml");
        fleet.spawn(
            "signer",
            bin,
            &["serve".into(), "--config".into(), config.into_os_string()],
            &dir,
            &dir.join("signer.log"),
        )?;
    }
    if let (Some(chain), Some(bin), Some(url)) = (&m.chain, &anvil_bin, &signer_url) {
        start_chain(&mut fleet, bin, &root, m, chain, url, &signals)?;
    }
    start_nodes(&mut fleet, &node_bin, &root, m.nodes)?;

    let node_urls: Vec<String> = m.ports.iter().map(|p| local_url(*p)).collect();
    let watch = Watch {
        client: &client,
        node_urls: &node_urls,
        signer_url: signer_url.as_deref(),
        signals: &signals,
        started,
    };
    let Some(mpk) = watch.until_ready(&mut fleet, m.interval_secs)? else {
        fleet.stop(Some(&signals));
        return Ok(());
    };
    print_summary(&args.dir, &cluster, &mpk, signer_url.as_deref());
    watch.epochs(&mut fleet, &mpk)?;
    fleet.stop(Some(&signals));
    Ok(())
}

mod layout;
mod output;
mod process;
mod signals;
mod watch;
pub(crate) use layout::*;
pub(crate) use output::*;
pub(crate) use process::*;
pub(crate) use signals::*;
pub(crate) use watch::*;

mod chain;
use chain::{
    dev_key_hex, dev_wallet, find_anvil, import_operator_keys, registry_address, start_chain,
};

#[cfg(test)]
mod tests;
