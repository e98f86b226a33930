//! Parsing of command-line values shared by the subcommands; every failure is bad input.

use crate::error::CliError;
use alloy_primitives::{Address, B256};

/// A 0x-prefixed 32-byte hex message hash.
pub fn hash(text: &str) -> Result<B256, CliError> {
    let digits = text
        .strip_prefix("0x")
        .ok_or_else(|| CliError::bad("--message-hash must be 0x-prefixed hex"))?;
    let bytes =
        hex::decode(digits).map_err(|_| CliError::bad("--message-hash is not valid hex"))?;
    let array: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
        CliError::bad(format!("--message-hash must be 32 bytes, got {}", b.len()))
    })?;
    Ok(B256::from(array))
}

/// A 20-byte 0x address; `what` names the flag in the error.
pub fn address(text: &str, what: &str) -> Result<Address, CliError> {
    text.parse::<Address>()
        .map_err(|_| CliError::bad(format!("{what} is not a 20-byte 0x address")))
}
