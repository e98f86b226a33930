//! What the chain-reading commands share: one small runtime for alloy's async calls, and the
//! mapping of chain errors onto the CLI's exit codes (the registry refusing or not being there
//! is bad input; an RPC that does not answer is a failure).

use crate::error::CliError;
use kms_chain::ChainError;

pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failure(format!("runtime: {e}")))
}

pub fn error(e: ChainError) -> CliError {
    match e {
        ChainError::Url(_) | ChainError::NoContract(_) | ChainError::Refused(_) => {
            CliError::BadInput(format!("{}: {e}", e.code()))
        }
        _ => CliError::Failure(format!("{}: {e}", e.code())),
    }
}

/// The MPK anchored in the registry at `registry`, with the epoch it was last anchored at.
pub fn anchored_mpk(
    rpc_url: &str,
    registry: alloy_primitives::Address,
) -> Result<(u64, kms_crypto::bls::G2Point), CliError> {
    let rt = runtime()?;
    let reg = rt
        .block_on(kms_chain::Registry::connect(rpc_url, registry, None))
        .map_err(error)?;
    let (epoch, mpk) = rt
        .block_on(reg.anchored())
        .map_err(error)?
        .ok_or_else(|| CliError::BadInput("the registry has no anchored epoch yet".into()))?;
    let mpk = kms_crypto::bls::G2Point::from_bytes(&mpk)
        .map_err(|e| CliError::Failure(format!("the anchored MPK is not a G2 point: {e}")))?;
    Ok((epoch, mpk))
}
