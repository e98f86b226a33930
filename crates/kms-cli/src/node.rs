//! `kms encrypt`, `kms decrypt`, `kms status`: client commands of the threshold network
//! (`kms-node`).
//!
//! The nodes come from `--nodes URL,URL,...`, or `--devnet DIR` (the URLs in DIR/operators.json),
//! or the environment variable `KMS_NODES` (comma-separated) when neither is given. Encryption
//! needs only the agreed MPK; decryption asks every operator for its partial signature, signed by
//! the app owner's key (read from `--owner-key`, a file: key material is never a flag).
//! encrypt and decrypt print JSON; status prints a table, or JSON with `--json`. Exit codes as for
//! every command: 2 for bad input (arguments, files, an app id or ciphertext the network refuses,
//! every node refusing with a 4xx), 1 for anything else.

use crate::error::CliError;
use crate::files::{read_text, write_new_private, write_output};
use clap::Args;
use kms_api::time::unix_now;
use kms_client::node::{
    evidence_from_text, Credential, Fault, NodeClient, NodeReport, NodeStatus, Session,
    StatusReport, SESSION_BYTES,
};
use kms_client::EoaKey;
use kms_crypto::Secret;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Where the node URLs come from.
#[derive(Args)]
pub struct NodeSource {
    /// The nodes' base URLs, comma-separated [env: KMS_NODES when neither --nodes nor --devnet
    /// is given].
    #[arg(long, value_delimiter = ',', conflicts_with = "devnet")]
    nodes: Vec<String>,
    /// A `kms devnet` directory: the node URLs are read from its operators.json.
    #[arg(long, value_name = "DIR")]
    devnet: Option<PathBuf>,
}

impl NodeSource {
    fn urls(&self) -> Result<Vec<String>, CliError> {
        let urls = if !self.nodes.is_empty() {
            split_urls(self.nodes.iter().map(String::as_str))
        } else if let Some(dir) = &self.devnet {
            devnet_urls(dir)?
        } else {
            match std::env::var("KMS_NODES") {
                Ok(list) => split_urls(list.split(',')),
                Err(_) => Vec::new(),
            }
        };
        if urls.is_empty() {
            return Err(CliError::bad(
                "no nodes: give --nodes URL,URL,..., --devnet DIR or the KMS_NODES variable",
            ));
        }
        Ok(urls)
    }

    fn client(&self) -> Result<NodeClient, CliError> {
        NodeClient::new(&self.urls()?).map_err(client_error)
    }
}

/// Trimmed, without empty entries (a trailing comma is harmless).
fn split_urls<'a>(parts: impl Iterator<Item = &'a str>) -> Vec<String> {
    parts
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The `url` of every entry of DIR/operators.json (`{"operators": [{..., "url": ...}]}`).
fn devnet_urls(dir: &Path) -> Result<Vec<String>, CliError> {
    let path = dir.join("operators.json");
    let text = read_text(&path, "operator file")?;
    let bad = |why: &str| CliError::bad(format!("operator file {}: {why}", path.display()));
    let file: Value = serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
    let entries = file
        .get("operators")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no \"operators\" list"))?;
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            entry
                .get("url")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| bad(&format!("operator {i} has no \"url\"")))
        })
        .collect()
}

#[derive(Args)]
pub struct EncryptArgs {
    #[command(flatten)]
    nodes: NodeSource,
    /// The app id to encrypt to (1 to 128 characters from [A-Za-z0-9._:-]).
    #[arg(long)]
    app_id: String,
    /// The plaintext file.
    #[arg(long = "in", value_name = "FILE")]
    input: PathBuf,
    /// Where to write the ciphertext.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Encrypt under the MPK anchored on chain (--rpc-url, --registry) instead of the one the
    /// nodes agree on; no node is asked.
    #[arg(long, requires_all = ["rpc_url", "registry"])]
    mpk_from_chain: bool,
    /// The chain's JSON-RPC URL (with --mpk-from-chain).
    #[arg(long, env = "KMS_RPC_URL")]
    rpc_url: Option<String>,
    /// The KmsRegistry's address (with --mpk-from-chain).
    #[arg(long, env = "KMS_REGISTRY")]
    registry: Option<String>,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("credential").required(true).args(["owner_key", "attestation"])))]
pub struct DecryptArgs {
    #[command(flatten)]
    nodes: NodeSource,
    /// The app id the ciphertext is for.
    #[arg(long)]
    app_id: String,
    /// File holding the app owner's secp256k1 key: 64 hex characters, 0x optional.
    #[arg(long, value_name = "FILE")]
    owner_key: Option<PathBuf>,
    /// TEE evidence bound to --session (`kms attest-session`): a Confidential Space or Intel
    /// Trust Authority token, or JSON {"snp_report": hex, "snp_cert": hex}.
    #[arg(long, value_name = "FILE", requires = "session")]
    attestation: Option<PathBuf>,
    /// The session file `kms attest-session` wrote (with --owner-key too when the session was
    /// made with it).
    #[arg(long, value_name = "FILE", requires = "attestation")]
    session: Option<PathBuf>,
    /// The ciphertext file.
    #[arg(long = "in", value_name = "FILE")]
    input: PathBuf,
    /// Where to write the plaintext (created readable by the owner only).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The chain id of the nodes' EIP-712 domain (their `chain_id` setting).
    #[arg(long, default_value_t = 31337)]
    chain_id: u64,
}

#[derive(Args)]
pub struct StatusArgs {
    #[command(flatten)]
    nodes: NodeSource,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn encrypt(args: EncryptArgs) -> Result<Value, CliError> {
    kms_client::node::validate_app_id(&args.app_id).map_err(client_error)?;
    if args.mpk_from_chain {
        return encrypt_from_chain(&args);
    }
    let client = args.nodes.client()?;
    let plaintext = Zeroizing::new(read_input(&args.input, "plaintext file")?);
    let enc = client
        .encrypt(&args.app_id, &plaintext)
        .map_err(client_error)?;
    write_output(&args.out, &enc.ciphertext, false)?;
    let view = &enc.network.view;
    Ok(json!({
        "app_id": args.app_id,
        "epoch": view.epoch,
        "mpk": format!("0x{}", hex::encode(view.mpk.to_bytes())),
        "out": args.out.display().to_string(),
        "plaintext_bytes": plaintext.len(),
        "ciphertext_bytes": enc.ciphertext.len(),
        "agreeing_nodes": enc.network.agreeing,
        "needed": enc.network.needed,
        "failures": failures(&enc.network.nodes),
    }))
}

/// `kms encrypt --mpk-from-chain`: the registry's anchored MPK, which the contract accepted
/// only with a quorum's certificate.
fn encrypt_from_chain(args: &EncryptArgs) -> Result<Value, CliError> {
    let (Some(rpc_url), Some(registry)) = (&args.rpc_url, &args.registry) else {
        return Err(CliError::BadInput(
            "--mpk-from-chain needs --rpc-url and --registry".into(),
        ));
    };
    let registry = crate::parse::address(registry, "--registry")?;
    let (epoch, mpk) = crate::chain::anchored_mpk(rpc_url, registry)?;
    let plaintext = Zeroizing::new(read_input(&args.input, "plaintext file")?);
    let ciphertext =
        kms_client::node::encrypt_to(&mpk, &args.app_id, &plaintext).map_err(client_error)?;
    write_output(&args.out, &ciphertext, false)?;
    Ok(json!({
        "app_id": args.app_id,
        "anchored_epoch": epoch,
        "mpk": format!("0x{}", hex::encode(mpk.to_bytes())),
        "mpk_source": "chain",
        "registry": registry.to_checksum(None),
        "out": args.out.display().to_string(),
        "plaintext_bytes": plaintext.len(),
        "ciphertext_bytes": ciphertext.len(),
    }))
}

#[derive(Args)]
pub struct AttestSessionArgs {
    /// The app id the evidence is for.
    #[arg(long)]
    app_id: String,
    /// Where to write the session (its two secret keys; created readable by the owner only, never
    /// overwritten).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Sign the session's requests with the app owner's key (apps whose release asks for both
    /// the owner and attestation; the key is not saved in the session, give it again to
    /// `kms decrypt`); otherwise a throwaway key.
    #[arg(long, value_name = "FILE")]
    owner_key: Option<PathBuf>,
    /// Chain mode: the block the nodes read the app's release policy at (a recent confirmed
    /// block, bound into the evidence).
    #[arg(long, default_value_t = 0)]
    policy_block: u64,
    /// How long the session (and the evidence bound to it) may be used, in seconds.
    #[arg(long, default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..=kms_client::node::MAX_SESSION_SECS))]
    valid_for: u64,
    /// The chain id of the nodes' EIP-712 domain (their `chain_id` setting).
    #[arg(long, default_value_t = 31337)]
    chain_id: u64,
}

/// `kms attest-session`: the first half of an attested decrypt. Makes a session and prints the
/// binding its TEE evidence must carry; `kms decrypt --attestation --session` is the second.
pub fn attest_session(args: AttestSessionArgs) -> Result<Value, CliError> {
    kms_client::node::validate_app_id(&args.app_id).map_err(client_error)?;
    let mut rng = rand_core::OsRng;
    let not_after = unix_now() + args.valid_for;
    let session = match &args.owner_key {
        Some(path) => Session::with_owner(load_owner_key(path)?, &mut rng, not_after),
        None => Session::random(&mut rng, not_after),
    }
    .map_err(client_error)?
    .at_policy_block(args.policy_block);
    let binding = session
        .binding(args.chain_id, &args.app_id)
        .map_err(client_error)?;
    let text = session
        .to_bytes()
        .expose(|b| Zeroizing::new(hex::encode(b)));
    write_new_private(&args.out, text.as_bytes())?;
    Ok(json!({
        "app_id": args.app_id,
        "chain_id": args.chain_id,
        "binding": hex::encode(binding),
        "not_after": not_after,
        "policy_block": args.policy_block,
        "requester": session.requester().to_checksum(None),
        "session": args.out.display().to_string(),
    }))
}

/// A session file: 162 hex characters, surrounding whitespace ignored.
fn load_session(path: &Path, owner: Option<EoaKey>) -> Result<Session, CliError> {
    let text = read_text(path, "session file")?;
    let bad = |why: &str| CliError::bad(format!("session file {}: {why}", path.display()));
    let digits = text.trim();
    if digits.len() != 2 * SESSION_BYTES {
        return Err(bad("expected 162 hex characters (from kms attest-session)"));
    }
    let mut bytes = Secret::new([0u8; SESSION_BYTES]);
    bytes.expose_mut(|out| hex::decode_to_slice(digits, out).map_err(|_| bad("not hex")))?;
    Session::from_bytes(&bytes, owner).map_err(|e| bad(&e.to_string()))
}

pub fn decrypt(args: DecryptArgs) -> Result<Value, CliError> {
    kms_client::node::validate_app_id(&args.app_id).map_err(client_error)?;
    let client = args.nodes.client()?;
    let ciphertext = read_input(&args.input, "ciphertext file")?;
    let dec = match (&args.owner_key, &args.attestation, &args.session) {
        (Some(path), None, None) => {
            let owner = load_owner_key(path)?;
            client.decrypt(&args.app_id, &owner, &ciphertext, args.chain_id)
        }
        (owner, Some(evidence), Some(session)) => {
            let owner = owner.as_deref().map(load_owner_key).transpose()?;
            let session = load_session(session, owner)?;
            let text = read_text(evidence, "attestation file")?;
            let evidence = evidence_from_text(&text).map_err(|e| {
                CliError::bad(format!("attestation file {}: {e}", evidence.display()))
            })?;
            let credential = Credential::Attested {
                session: &session,
                evidence: &evidence,
            };
            client.decrypt_with(&args.app_id, credential, &ciphertext, args.chain_id)
        }
        _ => {
            return Err(CliError::bad(
                "give --owner-key, or --attestation with --session",
            ))
        }
    }
    .map_err(client_error)?;
    write_output(&args.out, &dec.plaintext, true)?;
    let addresses = |list: Vec<alloy_primitives::Address>| -> Vec<String> {
        list.iter().map(|a| a.to_checksum(None)).collect()
    };
    Ok(json!({
        "app_id": args.app_id,
        "epoch": dec.network.view.epoch,
        "out": args.out.display().to_string(),
        "plaintext_bytes": dec.plaintext.len(),
        "used": addresses(dec.used.clone()),
        "culprits": addresses(dec.culprits()),
        "failures": failures(&dec.nodes),
    }))
}

#[derive(Args)]
pub struct ReleasesArgs {
    #[command(flatten)]
    nodes: NodeSource,
    /// The app whose releases are listed.
    #[arg(long)]
    app_id: String,
}

/// `kms releases`: who obtained an app's partials and when, from every node's release log, each
/// log checked to be one hash chain ending at the head its node reports. Prints JSON; exits 1 when
/// a node's log cannot be read or does not check out.
pub fn releases_main(args: ReleasesArgs) -> ! {
    let run = || -> Result<bool, CliError> {
        kms_client::node::validate_app_id(&args.app_id).map_err(client_error)?;
        let logs = args.nodes.client()?.releases(&args.app_id);
        let hex = |b: &[u8]| format!("0x{}", hex::encode(b));
        let nodes: Vec<Value> = logs
            .iter()
            .map(|l| match &l.log {
                Ok(log) => json!({
                    "url": l.url,
                    "log": "ok",
                    "head": log.head.map(|(seq, hash)| json!({"seq": seq, "hash": hex(&hash)})),
                    "releases": log.entries.iter().map(|e| json!({
                        "seq": e.seq,
                        "credential": e.credential.name(),
                        "requester": hex(&e.requester),
                        "credential_hash": hex(&e.credential_hash),
                        "release_id": hex(&e.release_id),
                        "epoch": e.epoch,
                        "policy_block": e.policy_block,
                        "response_key_hash": hex(&e.response_key_hash),
                        "time": e.time,
                        "hash": hex(&e.hash()),
                    })).collect::<Vec<_>>(),
                }),
                Err(fault) => json!({ "url": l.url, "log": fault.to_string() }),
            })
            .collect();
        let ok = logs.iter().all(|l| l.log.is_ok());
        let out = json!({ "app_id": args.app_id, "nodes": nodes });
        crate::print_line(&serde_json::to_string_pretty(&out).unwrap_or_default());
        Ok(ok)
    };
    match run() {
        Ok(true) => std::process::exit(0),
        Ok(false) => {
            eprintln!("error: a node's release log could not be read or does not check out");
            std::process::exit(1)
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(e.exit_code());
        }
    }
}

/// Prints the status table (or JSON) and exits: 0 when at least one node answered.
pub fn status_main(args: StatusArgs) -> ! {
    match status(&args) {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(e.exit_code());
        }
    }
}

fn status(args: &StatusArgs) -> Result<(), CliError> {
    let reports = args.nodes.client()?.status();
    let text = if args.json {
        serde_json::to_string_pretty(&status_json(&reports)).unwrap_or_default()
    } else {
        status_table(&reports, unix_now())
    };
    crate::print_line(&text);
    if reports.iter().all(|r| r.status.is_err()) {
        return Err(CliError::Failure("no node answered".into()));
    }
    Ok(())
}

fn status_json(reports: &[StatusReport]) -> Value {
    let nodes: Vec<Value> = reports
        .iter()
        .map(|r| match &r.status {
            Ok(s) => json!({ "url": r.url, "up": true, "status": s }),
            Err(fault) => json!({ "url": r.url, "up": false, "error": fault.to_string() }),
        })
        .collect();
    let up = reports.iter().filter(|r| r.status.is_ok()).count();
    json!({ "up": up, "total": reports.len(), "nodes": nodes })
}

/// A summary (the highest epoch and how many nodes hold it, its threshold, nodes up, the latest
/// finished round), then one row per node.
fn status_table(reports: &[StatusReport], now: u64) -> String {
    let up: Vec<&NodeStatus> = reports
        .iter()
        .filter_map(|r| r.status.as_ref().ok())
        .collect();
    let top = up.iter().filter_map(|s| s.epoch).max();
    let mut out = String::new();
    match top {
        Some(epoch) => {
            let holding: Vec<&&NodeStatus> = up.iter().filter(|s| s.epoch == Some(epoch)).collect();
            let threshold = holding
                .iter()
                .find_map(|s| s.threshold)
                .map_or("-".to_owned(), |t| t.to_string());
            out.push_str(&format!(
                "epoch {epoch} (held by {} of {} nodes)   threshold {threshold}   nodes up {}/{}\n",
                holding.len(),
                reports.len(),
                up.len(),
                reports.len()
            ));
        }
        None => out.push_str(&format!(
            "no epoch yet   nodes up {}/{}\n",
            up.len(),
            reports.len()
        )),
    }
    let last = up
        .iter()
        .filter_map(|s| s.last_round.as_ref())
        .max_by_key(|l| l.finished_at);
    out.push_str(&match last {
        Some(l) => format!(
            "last round: epoch {} {}, {}, took {}\n",
            l.epoch,
            l.outcome,
            ago(now, l.finished_at),
            millis(l.duration_ms)
        ),
        None => "last round: none yet\n".to_owned(),
    });
    out.push('\n');

    let header = [
        "NODE",
        "URL",
        "EPOCH",
        "T",
        "MEMBERS",
        "ROUND",
        "LAST ROUND",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| (*h).to_owned()).collect()];
    for r in reports {
        rows.push(match &r.status {
            Ok(s) => vec![
                // Checksummed, as everywhere else in the tool's output.
                s.node
                    .parse::<alloy_primitives::Address>()
                    .map_or(s.node.clone(), |a| a.to_checksum(None)),
                r.url.clone(),
                opt(s.epoch),
                opt(s.threshold),
                s.members.to_string(),
                // A finished round is already the last round.
                s.round
                    .as_ref()
                    .filter(|r| r.phase != "done")
                    .map_or("-".to_owned(), |round| {
                        format!(
                            "{} to epoch {}: {}, started {}",
                            round.kind,
                            round.epoch,
                            round.phase,
                            ago(now, round.started_at)
                        )
                    }),
                s.last_round.as_ref().map_or("-".to_owned(), |l| {
                    format!(
                        "epoch {} {} {}",
                        l.epoch,
                        l.outcome,
                        ago(now, l.finished_at)
                    )
                }),
            ],
            Err(fault) => vec!["-".to_owned(), r.url.clone(), format!("DOWN: {fault}")],
        });
    }
    // A row's last cell is not padded, so it does not widen its column: a down node's reason
    // runs on past the columns it does not fill.
    let mut widths = vec![0usize; header.len()];
    for row in &rows {
        let padded = row.len().saturating_sub(1);
        for (w, cell) in widths.iter_mut().zip(row.iter().take(padded)) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let last = i + 1 == row.len();
            if last {
                line.push_str(cell);
            } else {
                let w = widths.get(i).copied().unwrap_or(0);
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(&faults_section(&up));
    out.trim_end().to_owned()
}

/// The operators the nodes have proven faults against: each with how many nodes named it and
/// the reasons, most named first. Empty when nobody was named.
fn faults_section(up: &[&NodeStatus]) -> String {
    let mut named: std::collections::BTreeMap<
        String,
        (usize, std::collections::BTreeMap<String, u64>),
    > = std::collections::BTreeMap::new();
    for s in up {
        for f in &s.faults {
            let op = f
                .operator
                .parse::<alloy_primitives::Address>()
                .map_or(f.operator.clone(), |a| a.to_checksum(None));
            let e = named.entry(op).or_default();
            e.0 += 1;
            for (reason, n) in &f.reasons {
                *e.1.entry(reason.clone()).or_default() += n;
            }
        }
    }
    if named.is_empty() {
        return String::new();
    }
    let mut list: Vec<_> = named.into_iter().collect();
    list.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(&b.0)));
    let mut out =
        String::from("\nfaults proven against operators (each by a message it signed):\n");
    for (op, (nodes, reasons)) in list {
        let reasons: Vec<String> = reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
        out.push_str(&format!(
            "  {op}: named by {nodes} node{} ({})\n",
            if nodes == 1 { "" } else { "s" },
            reasons.join(", ")
        ));
    }
    out
}

fn opt(v: Option<u64>) -> String {
    v.map_or("-".to_owned(), |v| v.to_string())
}

/// "12 s ago", "3 min ago", "2 h ago".
fn ago(now: u64, then: u64) -> String {
    let secs = now.saturating_sub(then);
    match secs {
        0..=119 => format!("{secs} s ago"),
        120..=7199 => format!("{} min ago", secs / 60),
        _ => format!("{} h ago", secs / 3600),
    }
}

fn millis(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{}.{} s", ms / 1000, (ms % 1000) / 100)
    }
}

/// The nodes that failed, disagreed or cheated, for the JSON output.
fn failures(nodes: &[NodeReport]) -> Vec<Value> {
    nodes
        .iter()
        .filter_map(|r| {
            let fault = r.fault.as_ref()?;
            Some(json!({
                "url": r.url,
                "node": r.node.map(|a| a.to_checksum(None)),
                "reason": fault.to_string(),
                "culprit": fault.is_culprit(),
            }))
        })
        .collect()
}

/// The owner's key file: 64 hex characters, `0x` optional, surrounding whitespace ignored.
pub(crate) fn load_owner_key(path: &Path) -> Result<EoaKey, CliError> {
    let text = read_text(path, "owner key file")?;
    let trimmed = text.trim();
    let digits = trimmed.strip_prefix("0x").unwrap_or(trimmed);
    let bad = || {
        CliError::bad(format!(
            "owner key file {}: expected 64 hex characters (a secp256k1 secret key, 0x optional)",
            path.display()
        ))
    };
    if digits.len() != 64 {
        return Err(bad());
    }
    let mut secret = Secret::new([0u8; 32]);
    secret.expose_mut(|out| hex::decode_to_slice(digits, out).map_err(|_| bad()))?;
    EoaKey::from_bytes(&secret).map_err(|_| {
        CliError::bad(format!(
            "owner key file {}: not a valid secp256k1 secret key (zero or above the group order)",
            path.display()
        ))
    })
}

fn read_input(path: &Path, what: &str) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::bad(format!("{what} {}: {e}", path.display())))
}

/// Bad input (exit 2): an unusable URL or app id, a ciphertext the app key does not open, or
/// every node refusing the request with a 4xx (unknown app, not the owner, bad signature).
/// Anything else (nodes down, no agreement, culprits) is a failure (exit 1).
pub(crate) fn client_error(e: kms_client::Error) -> CliError {
    use kms_client::Error as E;
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    let input = match &e {
        E::InvalidUrl(_) | E::InvalidCa(_) | E::InvalidAppId(_) | E::BadCiphertext { .. } => true,
        E::Quorum { nodes, .. } => {
            let faults: Vec<&Fault> = nodes.iter().filter_map(|r| r.fault.as_ref()).collect();
            !faults.is_empty()
                && faults.iter().all(
                    |f| matches!(f, Fault::Refused { status, .. } if (400..500).contains(status)),
                )
        }
        other => other.is_client_error(),
    };
    if input {
        CliError::BadInput(message)
    } else {
        CliError::Failure(message)
    }
}

#[cfg(test)]
mod tests;
