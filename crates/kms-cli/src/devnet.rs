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
use kms_crypto::auth::EoaKey;
use kms_crypto::bls::EvalPoint;
use kms_crypto::bn254::SecretKey;
use kms_crypto::seal::EncryptionKey;
use kms_crypto::Secret;
use kms_node::{Member, StaticFile};
use kms_protocol::Operator;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
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

// ---------------------------------------------------------------------------------------------
// The cluster on disk.

/// `devnet.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    pub version: u32,
    pub nodes: u32,
    pub interval_secs: u64,
    /// Node i listens on `ports[i - 1]`.
    pub ports: Vec<u16>,
    pub signer_port: u16,
    /// Unix seconds.
    pub created_at: u64,
    pub demo_app: String,
    pub demo_owner: String,
    /// Chain mode: the anvil and the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<DevnetChain>,
}

/// `devnet.json`'s chain: where anvil listens and where the registry is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DevnetChain {
    pub anvil_port: u16,
    pub registry: String,
}

/// A cluster ready to start.
pub(crate) struct Cluster {
    pub manifest: Manifest,
    /// Created by this run (else resumed).
    pub created: bool,
    /// (id, checksummed address) of every operator, by id.
    pub operators: Vec<(u64, String)>,
}

pub(crate) fn node_dir_name(i: u32) -> String {
    format!("node-{i}")
}

pub(crate) fn local_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// Creates the cluster in `dir` unless `dir` already holds one, which is then checked and reused.
/// A chain devnet is created with the signer binary, which imports the operators' keys.
pub(crate) fn prepare(
    dir: &Path,
    nodes: Option<u32>,
    interval_secs: Option<u64>,
    chain: Option<(ChainKind, &Path)>,
) -> Result<Cluster, CliError> {
    let manifest_path = dir.join(MANIFEST);
    let (manifest, created) = if manifest_path.exists() {
        let manifest = load_manifest(dir)?;
        if manifest.chain.is_none() && chain.is_some() {
            return Err(CliError::bad(format!(
                "{} was created without a chain; run without --chain to resume it, or use another \
                 --dir",
                dir.display()
            )));
        }
        for (flag, asked, kept) in [
            ("--nodes", nodes.map(u64::from), u64::from(manifest.nodes)),
            ("--interval", interval_secs, manifest.interval_secs),
        ] {
            if let Some(asked) = asked.filter(|a| *a != kept) {
                return Err(CliError::bad(format!(
                    "{} was created with {flag} {kept}, not {asked}; run without {flag} to resume \
                     it, or use another --dir for a new devnet",
                    dir.display()
                )));
            }
        }
        (manifest, false)
    } else {
        let nodes = nodes.unwrap_or(DEFAULT_NODES);
        let interval = match chain {
            Some(_) => interval_secs.unwrap_or(DEFAULT_INTERVAL_BLOCKS),
            None => interval_secs.unwrap_or(DEFAULT_INTERVAL_SECS),
        };
        // Operator i is anvil's account i; account 0 owns the registry.
        if chain.is_some() && nodes as usize >= kms_chain::anvil::DEV_KEYS.len() {
            return Err(CliError::bad(format!(
                "--chain anvil runs at most {} nodes (one funded anvil account each)",
                kms_chain::anvil::DEV_KEYS.len() - 1
            )));
        }
        (
            create(dir, nodes, interval, chain.map(|(_, signer)| signer))?,
            true,
        )
    };
    let operators = load_operators(dir, &manifest)?;
    Ok(Cluster {
        manifest,
        created,
        operators,
    })
}

fn load_manifest(dir: &Path) -> Result<Manifest, CliError> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CliError::bad(format!("{}: {e}", path.display())))?;
    let m: Manifest = serde_json::from_str(&text)
        .map_err(|e| CliError::bad(format!("{}: {e}", path.display())))?;
    if m.version != FORMAT_VERSION {
        return Err(CliError::bad(format!(
            "{} has format version {}; this kms reads version {FORMAT_VERSION}",
            path.display(),
            m.version
        )));
    }
    if m.nodes == 0 || usize::try_from(m.nodes).ok() != Some(m.ports.len()) {
        return Err(CliError::bad(format!(
            "{}: nodes and ports disagree",
            path.display()
        )));
    }
    let mut required = vec![
        dir.join(OPERATORS),
        dir.join(OWNER_KEY),
        dir.join("signer/signer.toml"),
        dir.join("signer/kek.key"),
    ];
    for i in 1..=m.nodes {
        let node = dir.join(node_dir_name(i));
        required.extend(NODE_FILES.iter().map(|f| node.join(f)));
    }
    if let Some(missing) = required.iter().find(|p| !p.is_file()) {
        return Err(CliError::bad(format!(
            "{} is incomplete: {} is missing",
            dir.display(),
            missing.display()
        )));
    }
    Ok(m)
}

/// Reads the operator file back (which checks it as the nodes will) and matches it to the ports.
fn load_operators(dir: &Path, m: &Manifest) -> Result<Vec<(u64, String)>, CliError> {
    let path = dir.join(OPERATORS);
    let members = StaticFile::load(&path)
        .map(|f| f.operators().to_vec())
        .map_err(|e| CliError::bad(e.to_string()))?;
    let mut operators = Vec::with_capacity(members.len());
    for member in members {
        let id = member.operator.point.small().unwrap_or(0);
        let port = usize::try_from(id)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| m.ports.get(i));
        if port.map(|p| local_url(*p)) != Some(member.url.clone()) {
            return Err(CliError::bad(format!(
                "{}: operator {id} ({}) does not match the ports in {MANIFEST}",
                path.display(),
                member.url
            )));
        }
        let address = alloy_primitives::Address::from(member.operator.address).to_checksum(None);
        operators.push((id, address));
    }
    operators.sort();
    if operators.len() != m.ports.len() {
        return Err(CliError::bad(format!(
            "{} lists {} operators; {MANIFEST} has {}",
            path.display(),
            operators.len(),
            m.ports.len()
        )));
    }
    Ok(operators)
}

/// `chain_signer`: on chain, the kms-signer binary that imports the operators' keys.
fn create(
    dir: &Path,
    nodes: u32,
    interval_secs: u64,
    chain_signer: Option<&Path>,
) -> Result<Manifest, CliError> {
    let on_chain = chain_signer.is_some();
    // Refuse to scatter files among someone else's (e.g. `--dir .`), or over an interrupted
    // creation, whose keys may already be partly in use.
    if let Ok(mut entries) = std::fs::read_dir(dir) {
        if entries.next().is_some() {
            return Err(CliError::bad(format!(
                "{} is not empty but holds no {MANIFEST} (an interrupted creation?); remove it or \
                 choose another --dir",
                dir.display()
            )));
        }
    }
    make_dir(dir)?;
    // One port per node, the signer's and, on chain, anvil's.
    let count = usize::try_from(nodes)
        .map_err(|_| CliError::bad("--nodes is too large"))?
        .saturating_add(1 + usize::from(on_chain));
    let mut ports = free_ports(count)?;
    let mut take_port = || {
        ports
            .pop()
            .ok_or_else(|| CliError::Failure("no free port".into()))
    };
    let chain = match on_chain {
        true => Some(DevnetChain {
            anvil_port: take_port()?,
            registry: registry_address().to_checksum(None),
        }),
        false => None,
    };
    let signer_port = take_port()?;
    let mut rng = OsRng;

    let owner = random_eoa(&mut rng)?;
    write_hex_secret(&dir.join(OWNER_KEY), &owner.secret, "0x")?;
    let owner_address = owner.key.address().to_checksum(None);

    let mut members = Vec::new();
    for (i, port) in (1..=nodes).zip(&ports) {
        let node = dir.join(node_dir_name(i));
        make_dir(&node.join("data"))?;
        let bn254 = SecretKey::random(&mut rng);
        bn254
            .to_decimal()
            .expose(|d| write_line_secret(&node.join("bn254.key"), d.as_bytes()))?;
        let enc = EncryptionKey::random(&mut rng);
        write_hex_secret(&node.join("encryption.key"), &enc.to_bytes(), "")?;
        write_hex_secret(&node.join("kek.key"), &random_secret(&mut rng), "")?;
        let (address, toml) = match &chain {
            // The node signs with its BN254 key; the EOA only names it, so its key is not kept.
            None => {
                let address = EoaKey::random(&mut rng).address();
                let toml = node_toml(
                    &address.to_checksum(None),
                    *port,
                    interval_secs,
                    &owner_address,
                );
                (address, toml)
            }
            // On chain the EOA registers the operator and sends anchors: anvil's account i.
            Some(c) => {
                write_line_secret(&node.join("tx.key"), dev_key_hex(i)?.as_bytes())?;
                let address = dev_wallet(i)?.address();
                let toml =
                    node_toml_chain(&address.to_checksum(None), *port, interval_secs, c, nodes);
                (address, toml)
            }
        };
        write_new_public(&node.join("node.toml"), &toml)?;
        let point = EvalPoint::from_index(u64::from(i))
            .map_err(|e| CliError::Failure(format!("operator id {i}: {e}")))?;
        members.push(Member {
            operator: Operator::new(
                address.into_array(),
                point,
                bn254.public_g1(),
                bn254.public_g2(),
                enc.public(),
            ),
            url: local_url(*port),
        });
    }
    let operators = StaticFile::to_json(&members).map_err(|e| CliError::Failure(e.to_string()))?;
    write_new_public(&dir.join(OPERATORS), &format!("{operators}\n"))?;

    let signer = dir.join("signer");
    make_dir(&signer.join("data"))?;
    write_hex_secret(&signer.join("kek.key"), &random_secret(&mut rng), "")?;
    write_new_public(&signer.join("signer.toml"), &signer_toml(signer_port))?;
    if let Some(bin) = chain_signer {
        import_operator_keys(bin, dir, nodes)?;
    }

    let manifest = Manifest {
        version: FORMAT_VERSION,
        nodes,
        interval_secs,
        ports,
        signer_port,
        created_at: unix_now(),
        demo_app: DEMO_APP.into(),
        demo_owner: owner_address,
        chain,
    };
    let json = serde_json::to_string_pretty(&manifest)
        .map_err(|e| CliError::Failure(format!("{MANIFEST}: {e}")))?;
    // Renamed into place so the manifest is either absent or whole.
    let tmp = dir.join(format!("{MANIFEST}.tmp"));
    std::fs::write(&tmp, format!("{json}\n"))
        .and_then(|()| std::fs::rename(&tmp, dir.join(MANIFEST)))
        .map_err(|e| CliError::Failure(format!("writing {}: {e}", tmp.display())))?;
    Ok(manifest)
}

/// The node's configuration (docs/0008, "Files and configuration"); paths relative to the file.
pub(crate) fn node_toml(address: &str, port: u16, interval_secs: u64, owner: &str) -> String {
    format!(
        "# Written by `kms devnet`; fields in docs/0008-node.md. Paths are relative to this file.\n\
         address = \"{address}\"\n\
         listen = \"127.0.0.1:{port}\"\n\
         port_file = \"port\"\n\
         data_dir = \"data\"\n\
         operators_file = \"../{OPERATORS}\"\n\
         bn254_key_file = \"bn254.key\"\n\
         encryption_key_file = \"encryption.key\"\n\
         kek_key_file = \"kek.key\"\n\
         interval_secs = {interval_secs}\n\
         \n\
         # App id = owner EOA: the owner may ask for partials of H(app id).\n\
         [apps]\n\
         {DEMO_APP} = \"{owner}\"\n"
    )
}

/// A chain-mode node's configuration: the registry replaces the operator file and the apps.
pub(crate) fn node_toml_chain(
    address: &str,
    port: u16,
    interval_blocks: u64,
    chain: &DevnetChain,
    nodes: u32,
) -> String {
    format!(
        "# Written by `kms devnet --chain anvil`; fields in docs/0008-node.md and docs/0009.\n\
         address = \"{address}\"\n\
         listen = \"127.0.0.1:{port}\"\n\
         port_file = \"port\"\n\
         data_dir = \"data\"\n\
         bn254_key_file = \"bn254.key\"\n\
         encryption_key_file = \"encryption.key\"\n\
         kek_key_file = \"kek.key\"\n\
         \n\
         [chain]\n\
         rpc_url = \"{}\"\n\
         registry = \"{}\"\n\
         interval_blocks = {interval_blocks}\n\
         confirmations = 1\n\
         block_time_ms = {}\n\
         genesis_operators = {nodes}\n\
         tx_key_file = \"tx.key\"\n",
        local_url(chain.anvil_port),
        chain.registry,
        ANVIL_BLOCK_SECS * 1000,
    )
}

/// The signer's configuration. Its paths are taken from the working directory, which `kms devnet`
/// sets to the signer's directory.
pub(crate) fn signer_toml(port: u16) -> String {
    format!(
        "# Written by `kms devnet`; kms-signer runs in this directory (paths are relative to it).\n\
         listen = \"127.0.0.1:{port}\"\n\
         data_dir = \"data\"\n\
         kek_key_file = \"kek.key\"\n\
         port_file = \"port\"\n\
         chain_id = {CHAIN_ID}\n"
    )
}

/// `count` distinct free loopback ports. All listeners stay open until every port is read, so no
/// port is handed out twice; they are released for the services to bind.
fn free_ports(count: usize) -> Result<Vec<u16>, CliError> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| CliError::Failure(format!("cannot find a free loopback port: {e}")))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| CliError::Failure(format!("cannot find a free loopback port: {e}")))
}

/// A resumed devnet needs its recorded ports; a busy one usually means it is still running.
fn check_ports_free(m: &Manifest, with_signer: bool) -> Result<(), CliError> {
    let signer = with_signer.then_some(("signer".to_string(), m.signer_port));
    let anvil = m
        .chain
        .as_ref()
        .map(|c| ("anvil".to_string(), c.anvil_port));
    let wanted = (1..=m.nodes)
        .map(node_dir_name)
        .zip(m.ports.iter().copied())
        .chain(signer)
        .chain(anvil);
    for (name, port) in wanted {
        if let Err(e) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            return Err(CliError::Failure(format!(
                "port {port} ({name}) is not free ({e}); is this devnet already running? Stop it, \
                 or whatever holds the port, first"
            )));
        }
    }
    Ok(())
}

struct NewEoa {
    key: EoaKey,
    secret: Secret<[u8; 32]>,
}

/// A secp256k1 key whose bytes are kept (EoaKey does not give them back).
fn random_eoa(rng: &mut OsRng) -> Result<NewEoa, CliError> {
    // Out-of-range bytes have probability ~2^-128; a few tries are plenty.
    for _ in 0..8 {
        let secret = random_secret(rng);
        if let Ok(key) = EoaKey::from_bytes(&secret) {
            return Ok(NewEoa { key, secret });
        }
    }
    Err(CliError::Failure(
        "cannot generate a secp256k1 key (the RNG looks broken)".into(),
    ))
}

fn random_secret(rng: &mut OsRng) -> Secret<[u8; 32]> {
    let mut secret = Secret::new([0u8; 32]);
    secret.expose_mut(|b| rng.fill_bytes(b));
    secret
}

/// Writes `prefix` + 64 lowercase hex characters + newline, readable by the owner only.
fn write_hex_secret(path: &Path, secret: &Secret<[u8; 32]>, prefix: &str) -> Result<(), CliError> {
    let mut digits = Zeroizing::new([0u8; 64]);
    secret
        .expose(|b| hex::encode_to_slice(b, digits.as_mut()))
        .map_err(|e| CliError::Failure(format!("hex: {e}")))?;
    let mut text = Zeroizing::new(Vec::with_capacity(prefix.len() + 65));
    text.extend_from_slice(prefix.as_bytes());
    text.extend_from_slice(digits.as_ref());
    write_line_secret(path, &text)
}

/// Writes `content` and a newline, readable by the owner only.
fn write_line_secret(path: &Path, content: &[u8]) -> Result<(), CliError> {
    // Sized up front so no reallocation leaves a copy of the secret behind.
    let mut text = Zeroizing::new(Vec::with_capacity(content.len() + 1));
    text.extend_from_slice(content);
    text.push(b'\n');
    write_new_private(path, &text)
}

/// Writes a new non-secret file; never overwrites.
fn write_new_public(path: &Path, text: &str) -> Result<(), CliError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| CliError::Failure(format!("cannot write {}: {e}", path.display())))
}

/// Creates a directory (and its parents) that only the owner can enter: it holds keys.
fn make_dir(path: &Path) -> Result<(), CliError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| CliError::Failure(format!("cannot create {}: {e}", path.display())))
}

fn remove_if_present(path: &Path) -> Result<(), CliError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(CliError::Failure(format!(
            "cannot remove {}: {e}",
            path.display()
        ))),
        _ => Ok(()),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Binaries and child processes.

/// `name` next to the running `kms` (how `cargo build` and `scripts/devnet` lay them out), else on
/// PATH.
pub(crate) fn find_binary(name: &str) -> Result<PathBuf, CliError> {
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(&file)))
        .filter(|p| p.is_file());
    beside.or_else(|| find_on_path(&file)).ok_or_else(|| {
        CliError::Failure(format!(
            "cannot find the {name} binary next to this kms or on PATH; build everything with \
             scripts/devnet (or `cargo build -p kms-node -p kms-signer -p kms-cli`)"
        ))
    })
}

fn find_on_path(file: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(file))
        .find(|p| p.is_file())
}

struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
    /// Set once the child has been reaped.
    status: Option<ExitStatus>,
}

/// The devnet's children; stopped when dropped, so an error path never leaves them running.
#[derive(Default)]
pub(crate) struct Fleet {
    procs: Vec<Proc>,
}

impl Fleet {
    /// Starts `bin args` in `cwd`, its own process group, output appended to `log`.
    fn spawn(
        &mut self,
        name: &str,
        bin: &Path,
        args: &[OsString],
        cwd: &Path,
        log: &Path,
    ) -> Result<(), CliError> {
        let open_log = || {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .map_err(|e| CliError::Failure(format!("cannot open {}: {e}", log.display())))
        };
        let mut out = open_log()?;
        // A marker between runs, as the log is appended to.
        let _ = writeln!(
            out,
            "{LOG_MARKER} {} (unix time {}) ---",
            bin.display(),
            unix_now()
        );
        let child = Command::new(bin)
            .args(args)
            .current_dir(cwd)
            // The output goes to a file: no terminal colour codes in it.
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(open_log()?)
            .process_group(0)
            .spawn()
            .map_err(|e| CliError::Failure(format!("cannot start {}: {e}", bin.display())))?;
        self.procs.push(Proc {
            name: name.into(),
            child,
            log: log.into(),
            status: None,
        });
        Ok(())
    }

    /// The process ids of the children not known to have exited.
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.procs
            .iter()
            .filter(|p| p.status.is_none())
            .map(|p| p.child.id())
            .collect()
    }

    /// The first child found to have exited since the last call: its name, status and log.
    pub(crate) fn exited(&mut self) -> Option<(String, ExitStatus, PathBuf)> {
        self.procs.iter_mut().find_map(|p| {
            if p.status.is_some() {
                return None;
            }
            let status = p.child.try_wait().ok().flatten()?;
            p.status = Some(status);
            Some((p.name.clone(), status, p.log.clone()))
        })
    }

    /// SIGTERM to every child still running, then waits; SIGKILL after [`STOP_GRACE`], or at once
    /// on another signal.
    pub(crate) fn stop(&mut self, signals: Option<&Receiver<&'static str>>) {
        let running: Vec<&mut Proc> = self
            .procs
            .iter_mut()
            .filter(|p| p.status.is_none())
            .collect();
        if running.is_empty() {
            return;
        }
        say_err(&format!("stopping {} processes", running.len()));
        for p in &running {
            let sent = Command::new("kill")
                .args(["-TERM", &p.child.id().to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if !matches!(sent, Ok(s) if s.success()) {
                say_err(&format!("{}: could not send SIGTERM", p.name));
            }
        }
        let deadline = Instant::now() + STOP_GRACE;
        let mut running = running;
        while !running.is_empty() {
            running.retain_mut(|p| match p.child.try_wait() {
                Ok(Some(status)) => {
                    p.status = Some(status);
                    false
                }
                Ok(None) => true,
                Err(_) => false,
            });
            let hurried = signals.is_some_and(|s| s.try_recv().is_ok());
            if running.is_empty() {
                break;
            }
            if hurried || Instant::now() >= deadline {
                for p in &mut running {
                    say_err(&format!("{} did not stop; killing it", p.name));
                    let _ = p.child.kill();
                    p.status = p.child.wait().ok();
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Starts `kms-node serve` for nodes 1..=`nodes` of the cluster in `root` (an absolute path), each
/// in its directory with its log there.
pub(crate) fn start_nodes(
    fleet: &mut Fleet,
    node_bin: &Path,
    root: &Path,
    nodes: u32,
) -> Result<(), CliError> {
    for i in 1..=nodes {
        let dir = root.join(node_dir_name(i));
        // A port file from an earlier run would name the right port, but only a fresh one means
        // the node is listening.
        remove_if_present(&dir.join("port"))?;
        let config = dir.join("node.toml");
        fleet.spawn(
            &node_dir_name(i),
            node_bin,
            &["serve".into(), "--config".into(), config.into_os_string()],
            &dir,
            &dir.join("node.log"),
        )?;
    }
    Ok(())
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop(None);
    }
}

/// The last lines of a log, read from its end (logs grow for as long as the devnet runs).
fn log_tail(path: &Path, lines: usize) -> String {
    let read = || -> std::io::Result<Vec<u8>> {
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(32 * 1024)))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(buf)
    };
    match read() {
        Ok(buf) => {
            let text = String::from_utf8_lossy(&buf);
            let all: Vec<&str> = text.lines().collect();
            // Only this run's lines: earlier runs' end before the last start marker.
            let run_start = all
                .iter()
                .rposition(|l| l.starts_with(LOG_MARKER))
                .unwrap_or(0);
            let skip = all.len().saturating_sub(lines).max(run_start);
            all.iter()
                .skip(skip)
                .map(|l| format!("  | {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        }
        Err(e) => format!("  (cannot read {}: {e})", path.display()),
    }
}

pub(crate) fn exited_error(name: &str, status: ExitStatus, log: &Path) -> CliError {
    CliError::Failure(format!(
        "{name} exited on its own ({status}); the last lines of {}:\n{}",
        log.display(),
        log_tail(log, LOG_TAIL_LINES)
    ))
}

// ---------------------------------------------------------------------------------------------
// Signals.

/// SIGINT, SIGTERM and SIGHUP, delivered by name on a channel. A current-thread runtime on its own
/// thread only waits for them, so the rest stays blocking (reqwest's blocking client must not run
/// inside a runtime).
pub(crate) fn watch_signals() -> Result<Receiver<&'static str>, CliError> {
    use tokio::signal::unix::{signal, SignalKind};
    let fail = |e: std::io::Error| CliError::Failure(format!("cannot watch signals: {e}"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(fail)?;
    // Registered here, not on the thread, so they are in place before any child starts.
    let (mut int, mut term, mut hup) = {
        let _guard = runtime.enter();
        (
            signal(SignalKind::interrupt()).map_err(fail)?,
            signal(SignalKind::terminate()).map_err(fail)?,
            signal(SignalKind::hangup()).map_err(fail)?,
        )
    };
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(async move {
                loop {
                    let name = tokio::select! {
                        _ = int.recv() => "SIGINT",
                        _ = term.recv() => "SIGTERM",
                        _ = hup.recv() => "SIGHUP",
                    };
                    if tx.send(name).is_err() {
                        break;
                    }
                }
            })
        })
        .map_err(fail)?;
    Ok(rx)
}

// ---------------------------------------------------------------------------------------------
// Watching the nodes.

/// What the progress line needs from one node's `GET /v1/status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct NodeView {
    /// The latest finalized epoch the node holds.
    pub epoch: Option<u64>,
    /// The round in progress: (epoch, kind, phase).
    pub round: Option<(u64, String, String)>,
}

impl NodeView {
    pub fn from_status(v: &Value) -> Self {
        let round = v.get("round").and_then(|r| {
            Some((
                r.get("epoch")?.as_u64()?,
                r.get("kind")?.as_str()?.to_string(),
                r.get("phase")?.as_str()?.to_string(),
            ))
        });
        Self {
            epoch: v.get("epoch").and_then(Value::as_u64),
            round,
        }
    }
}

/// One line of startup progress, e.g. `nodes up 4/4 · round epoch 1 dkg · phase acks`.
pub(crate) fn progress_line(views: &[Option<NodeView>], signer_up: Option<bool>) -> String {
    let up: Vec<&NodeView> = views.iter().flatten().collect();
    let mut parts = vec![format!("nodes up {}/{}", up.len(), views.len())];
    if let Some(s) = signer_up {
        parts.push(if s { "signer up" } else { "signer down" }.into());
    }
    if let Some(e) = up.iter().filter_map(|v| v.epoch).max() {
        let holding = up.iter().filter(|v| v.epoch == Some(e)).count();
        parts.push(format!("epoch {e} ({holding}/{})", views.len()));
    }
    let round = up
        .iter()
        .filter_map(|v| v.round.as_ref())
        .max_by_key(|r| r.0);
    match round {
        Some((epoch, kind, _)) => {
            parts.push(format!("round epoch {epoch} {kind}"));
            let mut phases: Vec<(&str, usize)> = Vec::new();
            for v in &up {
                if let Some((e, _, phase)) = &v.round {
                    if e == epoch {
                        match phases.iter_mut().find(|(p, _)| p == phase) {
                            Some((_, n)) => *n += 1,
                            None => phases.push((phase, 1)),
                        }
                    }
                }
            }
            // Protocol order; unknown phases last.
            phases.sort_by_key(|(p, _)| PHASES.iter().position(|q| q == p).unwrap_or(PHASES.len()));
            match phases.as_slice() {
                [(phase, _)] => parts.push(format!("phase {phase}")),
                many => parts.push(format!(
                    "phases {}",
                    many.iter()
                        .map(|(p, n)| format!("{p} {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        }
        None if !up.is_empty() && up.iter().all(|v| v.epoch.is_none()) => {
            parts.push("waiting for the first round".into());
        }
        None => {}
    }
    parts.join(" · ")
}

/// Every node answers and holds an epoch, and the signer (when started) answers.
pub(crate) fn is_ready(views: &[Option<NodeView>], signer_up: Option<bool>) -> bool {
    signer_up != Some(false)
        && views
            .iter()
            .all(|v| v.as_ref().is_some_and(|v| v.epoch.is_some()))
}

/// A 2xx answer's JSON; None for anything else (not up yet, no epoch yet, a timeout).
fn get_json(client: &reqwest::blocking::Client, url: &str) -> Option<Value> {
    let answer = client.get(url).send().ok()?;
    if !answer.status().is_success() {
        return None;
    }
    answer.json().ok()
}

/// The network's key, as `GET /v1/mpk` gives it.
struct Mpk {
    mpk: String,
    epoch: u64,
    threshold: u64,
}

struct Watch<'a> {
    client: &'a reqwest::blocking::Client,
    node_urls: &'a [String],
    signer_url: Option<&'a str>,
    signals: &'a Receiver<&'static str>,
    started: Instant,
}

impl Watch<'_> {
    fn get(&self, url: &str) -> Option<Value> {
        get_json(self.client, url)
    }

    /// Every node's status at once (a slow node delays the line by its timeout, not N of them).
    fn statuses(&self) -> Vec<Option<NodeView>> {
        let client = self.client;
        std::thread::scope(|s| {
            let polls: Vec<_> = self
                .node_urls
                .iter()
                .map(|url| {
                    s.spawn(move || {
                        get_json(client, &format!("{url}/v1/status"))
                            .map(|v| NodeView::from_status(&v))
                    })
                })
                .collect();
            polls.into_iter().map(|p| p.join().ok().flatten()).collect()
        })
    }

    fn signer_up(&self) -> Option<bool> {
        self.signer_url
            .map(|url| self.get(&format!("{url}/healthz")).is_some())
    }

    /// The MPK from the first node that has one at `epoch` or later.
    fn mpk(&self, epoch: u64) -> Option<Mpk> {
        self.node_urls.iter().find_map(|url| {
            let v = self.get(&format!("{url}/v1/mpk"))?;
            let m = Mpk {
                mpk: v.get("mpk")?.as_str()?.to_string(),
                epoch: v.get("epoch")?.as_u64()?,
                threshold: v.get("threshold")?.as_u64()?,
            };
            (m.epoch >= epoch).then_some(m)
        })
    }

    fn stamp(&self) -> String {
        format!("[{}]", elapsed(self.started.elapsed()))
    }

    /// Waits for a signal for up to `tick`; true when one came.
    fn signalled(&self, tick: Duration) -> bool {
        match self.signals.recv_timeout(tick) {
            Ok(name) => {
                say_err(&format!("{name} received"));
                true
            }
            Err(RecvTimeoutError::Timeout) => false,
            // The watcher thread is gone: treat it as a stop request rather than run unstoppable.
            Err(RecvTimeoutError::Disconnected) => true,
        }
    }

    /// Progress until every node holds an epoch; then the MPK. None when a signal came first.
    fn until_ready(&self, fleet: &mut Fleet, interval_secs: u64) -> Result<Option<Mpk>, CliError> {
        // Genesis waits for the next interval boundary and may need a retry round or two.
        let limit = Duration::from_secs(interval_secs.saturating_mul(5).saturating_add(60));
        let deadline = Instant::now() + limit;
        let mut last = String::new();
        loop {
            if let Some((name, status, log)) = fleet.exited() {
                return Err(exited_error(&name, status, &log));
            }
            let views = self.statuses();
            let signer = self.signer_up();
            let line = progress_line(&views, signer);
            if line != last {
                say_err(&format!("{} {line}", self.stamp()));
                last = line;
            }
            if is_ready(&views, signer) {
                let lowest = views
                    .iter()
                    .flatten()
                    .filter_map(|v| v.epoch)
                    .min()
                    .unwrap_or(0);
                if let Some(mpk) = self.mpk(lowest) {
                    return Ok(Some(mpk));
                }
            }
            if Instant::now() >= deadline {
                return Err(CliError::Failure(format!(
                    "the nodes did not all reach an epoch within {} s (last: {last}); their logs \
                     are node-*/node.log in the devnet directory",
                    limit.as_secs()
                )));
            }
            if self.signalled(Duration::from_millis(500)) {
                return Ok(None);
            }
        }
    }

    /// One line per new epoch until a signal; an error when a child exits on its own.
    fn epochs(&self, fleet: &mut Fleet, first: &Mpk) -> Result<(), CliError> {
        let mut seen = first.epoch;
        let mut up_before = self.node_urls.len();
        loop {
            if self.signalled(Duration::from_secs(1)) {
                return Ok(());
            }
            if let Some((name, status, log)) = fleet.exited() {
                return Err(exited_error(&name, status, &log));
            }
            let views = self.statuses();
            let up = views.iter().flatten().count();
            if up != up_before {
                say_err(&format!(
                    "{} nodes up {up}/{}",
                    self.stamp(),
                    self.node_urls.len()
                ));
                up_before = up;
            }
            let newest = views.iter().flatten().filter_map(|v| v.epoch).max();
            let Some(epoch) = newest.filter(|e| *e > seen) else {
                continue;
            };
            seen = epoch;
            let holding = views
                .iter()
                .flatten()
                .filter(|v| v.epoch == Some(epoch))
                .count();
            let key = match self.mpk(epoch) {
                Some(m) if m.mpk == first.mpk => "mpk unchanged".to_string(),
                Some(m) => format!("MPK CHANGED to {}", m.mpk),
                None => "mpk not read".to_string(),
            };
            say(&format!(
                "{} epoch {epoch} · {holding}/{} nodes · {key}",
                self.stamp(),
                self.node_urls.len()
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Output.

/// A line on stdout; a closed stdout must not stop the devnet.
fn say(line: &str) {
    crate::print_line(line);
}

fn say_err(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

pub(crate) fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60),
    }
}

/// Quotes a word for a POSIX shell when it needs it, so the printed commands paste as they are.
pub(crate) fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:@%=,".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// How to type this `kms` in the example: `kms` when the shell would find this very binary, else
/// its path (relative to the working directory when it is under it).
fn kms_command() -> String {
    let Ok(exe) = std::env::current_exe() else {
        return "kms".into();
    };
    let same = |p: &Path| std::fs::canonicalize(p).ok() == std::fs::canonicalize(&exe).ok();
    let file = format!("kms{}", std::env::consts::EXE_SUFFIX);
    if find_on_path(&file).is_some_and(|p| same(&p)) {
        return "kms".into();
    }
    let shown = std::env::current_dir()
        .ok()
        .and_then(|cwd| exe.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| exe.clone());
    shell_quote(&shown.display().to_string())
}

fn print_summary(dir: &Path, cluster: &Cluster, mpk: &Mpk, signer_url: Option<&str>) {
    let m = &cluster.manifest;
    let path = |p: &Path| shell_quote(&p.display().to_string());
    let dir_arg = path(dir);
    let owner_key = path(&dir.join(OWNER_KEY));
    let kms = kms_command();
    let mut lines = vec![
        format!(
            "devnet ready: epoch {}, threshold {} of {} nodes",
            mpk.epoch, mpk.threshold, m.nodes
        ),
        format!("mpk       {}", mpk.mpk),
    ];
    for ((id, address), port) in cluster.operators.iter().zip(&m.ports) {
        let name = u32::try_from(*id).map(node_dir_name).unwrap_or_default();
        let log = dir.join(&name).join("node.log");
        lines.push(format!(
            "{name:<9} {}  operator {address}  log {}",
            local_url(*port),
            log.display()
        ));
    }
    if let Some(url) = signer_url {
        let log = dir.join("signer/signer.log");
        lines.push(format!(
            "signer    {url}  chain id {CHAIN_ID}  log {}",
            log.display()
        ));
    }
    if let Some(c) = &m.chain {
        lines.push(format!(
            "chain     anvil {}  registry {}  log {}",
            local_url(c.anvil_port),
            c.registry,
            dir.join("anvil.log").display()
        ));
    }
    let encrypt_from = match &m.chain {
        Some(c) => format!(
            "--mpk-from-chain --rpc-url {} --registry {}",
            local_url(c.anvil_port),
            c.registry
        ),
        None => format!("--devnet {dir_arg}"),
    };
    let every = match &m.chain {
        Some(_) => format!(
            "{} blocks ({} s), each epoch anchored on chain,",
            m.interval_secs,
            m.interval_secs * ANVIL_BLOCK_SECS
        ),
        None => format!("{} s", m.interval_secs),
    };
    lines.extend([
        format!(
            "app       {}  owner {}  key {owner_key}",
            m.demo_app, m.demo_owner
        ),
        String::new(),
        // Relative paths in the commands are relative to this process's directory.
        match std::env::current_dir() {
            Ok(cwd) => format!(
                "Try it from another terminal, in {}:",
                shell_quote(&cwd.display().to_string())
            ),
            Err(_) => "Try it from another terminal:".into(),
        },
        "  echo 'hello devnet' > msg.txt".into(),
        format!(
            "  {kms} encrypt {encrypt_from} --app-id {} --in msg.txt --out msg.enc",
            m.demo_app
        ),
        format!(
            "  {kms} decrypt --devnet {dir_arg} --app-id {} --owner-key {owner_key} --in msg.enc \
             --out msg.out",
            m.demo_app
        ),
        String::new(),
        format!(
            "The nodes reshare every {every} and the MPK stays the same; Ctrl-C stops the \
             devnet, running it again resumes it."
        ),
    ]);
    say(&lines.join("\n"));
}

mod chain;
use chain::{
    dev_key_hex, dev_wallet, find_anvil, import_operator_keys, registry_address, start_chain,
};

#[cfg(test)]
mod tests;
