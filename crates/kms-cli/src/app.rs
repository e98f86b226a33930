//! `kms app`: an app's release policy in the registry (docs 0012), for its owner. `show` reads the
//! policy in force and the change waiting; `set-release` proposes a new one (in force after the
//! app's delay), `cancel-release` drops the waiting one. Transactions are sent from the owner's
//! key, read from a file.

use crate::chain::{error, runtime};
use crate::error::CliError;
use crate::node::load_owner_key;
use alloy_primitives::Address;
use clap::{Args, Subcommand};
use kms_chain::{AppPolicy, Registry};
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum AppCommand {
    /// The release policy in force and the change waiting, if any.
    Show(ShowArgs),
    /// Register a new app with its whole first policy, in force at once (the registry owner's
    /// key): an app meant for TEEs only is never released to its owner first.
    Register(RegisterArgs),
    /// Propose a new release policy, in force after the app's current delay.
    SetRelease(SetReleaseArgs),
    /// Narrow the policy in force at once (fewer images, a stricter credential, a longer delay):
    /// revoking never waits.
    RestrictRelease(SetReleaseArgs),
    /// Drop the change waiting.
    CancelRelease(CancelArgs),
}

#[derive(Args)]
pub struct AppAt {
    /// The chain's JSON-RPC URL.
    #[arg(long, env = "KMS_RPC_URL")]
    rpc_url: String,
    /// The KmsRegistry's address.
    #[arg(long, env = "KMS_REGISTRY")]
    registry: String,
    /// The app id.
    #[arg(long)]
    app_id: String,
}

#[derive(Args)]
pub struct ShowArgs {
    #[command(flatten)]
    at: AppAt,
}

#[derive(Args)]
pub struct CancelArgs {
    #[command(flatten)]
    at: AppAt,
    /// File holding the app owner's secp256k1 key (64 hex characters); it sends the transaction.
    #[arg(long, value_name = "FILE")]
    owner_key: PathBuf,
}

#[derive(Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    at: AppAt,
    /// File holding the registry owner's secp256k1 key (64 hex characters); it sends the
    /// transaction.
    #[arg(long, value_name = "FILE")]
    registry_owner_key: PathBuf,
    /// The app's owner.
    #[arg(long)]
    owner: String,
    #[command(flatten)]
    policy: PolicyArgs,
}

/// A release policy's terms, as `register`, `set-release` and `restrict-release` take them.
#[derive(Args)]
pub struct PolicyArgs {
    /// What releases the app's partials.
    #[arg(long, value_parser = ["owner", "attestation", "both"])]
    credential: String,
    /// An approved container image (`sha256:<64 hex>`); repeat for several.
    #[arg(long = "image", value_name = "DIGEST")]
    images: Vec<String>,
    /// An approved SEV-SNP guest, `<96 hex measurement>:<64 hex HOST_DATA>`; repeat for several.
    #[arg(long = "snp", value_name = "MEASUREMENT:HOST_DATA")]
    snps: Vec<String>,
    /// Seconds later changes will wait.
    #[arg(long)]
    delay: u64,
}

impl PolicyArgs {
    /// The policy for `owner`, checked before any transaction.
    fn policy(&self, owner: Address) -> Result<AppPolicy, CliError> {
        let credential = match self.credential.as_str() {
            "owner" => 1,
            "attestation" => 2,
            _ => 3,
        };
        let approved = approved_ids(&self.images, &self.snps)?;
        if credential != 1 && approved.is_empty() {
            return Err(CliError::bad(
                "--credential attestation or both needs at least one --image or --snp",
            ));
        }
        Ok(AppPolicy {
            owner,
            credential,
            delay: self.delay,
            approved,
        })
    }
}

#[derive(Args)]
pub struct SetReleaseArgs {
    #[command(flatten)]
    at: AppAt,
    /// File holding the app owner's secp256k1 key (64 hex characters); it sends the transaction.
    #[arg(long, value_name = "FILE")]
    owner_key: PathBuf,
    /// The new policy (a proposal waits the delay in force now).
    #[command(flatten)]
    policy: PolicyArgs,
    /// Hand the app to another owner with this change (default: the same owner).
    #[arg(long)]
    new_owner: Option<String>,
}

pub fn run(cmd: AppCommand) -> Result<Value, CliError> {
    match cmd {
        AppCommand::Show(a) => show(a),
        AppCommand::Register(a) => register(a),
        AppCommand::SetRelease(a) => set_release(a, false),
        AppCommand::RestrictRelease(a) => set_release(a, true),
        AppCommand::CancelRelease(a) => cancel(a),
    }
}

fn connect(
    at: &AppAt,
    owner_key: Option<&PathBuf>,
) -> Result<(tokio::runtime::Runtime, Registry), CliError> {
    kms_client::node::validate_app_id(&at.app_id).map_err(crate::node::client_error)?;
    let address = crate::parse::address(&at.registry, "--registry")?;
    let wallet = match owner_key {
        None => None,
        Some(path) => Some(kms_chain::LocalSigner::from_signing_key(
            load_owner_key(path)?.signing_key().clone(),
        )),
    };
    let rt = runtime()?;
    let reg = rt
        .block_on(Registry::connect(&at.rpc_url, address, wallet))
        .map_err(error)?;
    Ok((rt, reg))
}

fn credential_name(code: u8) -> &'static str {
    match code {
        1 => "owner",
        2 => "attestation",
        3 => "both",
        _ => "unknown",
    }
}

fn policy_json(p: &AppPolicy) -> Value {
    json!({
        "owner": p.owner.to_checksum(None),
        "credential": credential_name(p.credential),
        "delay_secs": p.delay,
        "approved": p.approved.iter().map(|a| format!("0x{}", hex::encode(a))).collect::<Vec<_>>(),
    })
}

fn show(a: ShowArgs) -> Result<Value, CliError> {
    let (rt, reg) = connect(&a.at, None)?;
    let policy = rt
        .block_on(reg.app_policy(&a.at.app_id, None))
        .map_err(error)?
        .ok_or_else(|| CliError::BadInput(format!("no app {:?} in the registry", a.at.app_id)))?;
    let pending = rt
        .block_on(reg.pending_release(&a.at.app_id))
        .map_err(error)?;
    Ok(json!({
        "app_id": a.at.app_id,
        "in_force": policy_json(&policy),
        "pending": pending.map(|(p, at)| json!({"policy": policy_json(&p), "effective_at": at})),
    }))
}

/// The release ids a policy lists: image digests and SNP guests (`kms_api::app`).
fn approved_ids(images: &[String], snps: &[String]) -> Result<Vec<[u8; 32]>, CliError> {
    let mut out = Vec::with_capacity(images.len() + snps.len());
    for image in images {
        out.push(kms_api::app::image_release_id(image).ok_or_else(|| {
            CliError::bad(format!("--image {image:?}: expected sha256:<64 hex>"))
        })?);
    }
    for snp in snps {
        let bad = || CliError::bad(format!("--snp {snp:?}: expected <96 hex>:<64 hex>"));
        let (m, h) = snp.split_once(':').ok_or_else(bad)?;
        let (mut measurement, mut host) = ([0u8; 48], [0u8; 32]);
        hex::decode_to_slice(m, &mut measurement).map_err(|_| bad())?;
        hex::decode_to_slice(h, &mut host).map_err(|_| bad())?;
        out.push(kms_api::app::snp_release_id(&measurement, &host));
    }
    Ok(out)
}

fn register(a: RegisterArgs) -> Result<Value, CliError> {
    let owner = crate::parse::address(&a.owner, "--owner")?;
    let policy = a.policy.policy(owner)?;
    let (rt, reg) = connect(&a.at, Some(&a.registry_owner_key))?;
    let tx = rt
        .block_on(reg.register_app(&a.at.app_id, &policy))
        .map_err(error)?;
    Ok(json!({
        "app_id": a.at.app_id,
        "tx": tx.to_string(),
        "in_force": policy_json(&policy),
    }))
}

/// `set-release` (a proposal, after the delay) or `restrict-release` (at once).
fn set_release(a: SetReleaseArgs, restrict: bool) -> Result<Value, CliError> {
    if restrict && a.new_owner.is_some() {
        return Err(CliError::bad(
            "a restriction keeps the owner: no --new-owner",
        ));
    }
    // The terms are checked before anything is sent.
    a.policy.policy(Address::ZERO)?;
    let (rt, reg) = connect(&a.at, Some(&a.owner_key))?;
    let owner: Address = match &a.new_owner {
        Some(o) => crate::parse::address(o, "--new-owner")?,
        None => reg
            .sender()
            .ok_or_else(|| CliError::Failure("no wallet".into()))?,
    };
    let policy = a.policy.policy(owner)?;
    let tx = if restrict {
        rt.block_on(reg.restrict_release(&a.at.app_id, &policy))
    } else {
        rt.block_on(reg.propose_release(&a.at.app_id, &policy))
    }
    .map_err(error)?;
    let pending = rt
        .block_on(reg.pending_release(&a.at.app_id))
        .map_err(error)?;
    Ok(json!({
        "app_id": a.at.app_id,
        "tx": tx.to_string(),
        if restrict { "in_force" } else { "proposed" }: policy_json(&policy),
        "effective_at": if restrict { None } else { pending.map(|(_, at)| at) },
    }))
}

fn cancel(a: CancelArgs) -> Result<Value, CliError> {
    let (rt, reg) = connect(&a.at, Some(&a.owner_key))?;
    let tx = rt
        .block_on(reg.cancel_release(&a.at.app_id))
        .map_err(error)?;
    Ok(json!({ "app_id": a.at.app_id, "tx": tx.to_string(), "cancelled": true }))
}
