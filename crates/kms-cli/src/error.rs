//! CLI errors and their exit codes.

use std::fmt;

/// A failure, classified by whose fault it is.
#[derive(Debug)]
pub enum CliError {
    /// The user's input is wrong (exit 2).
    BadInput(String),
    /// Something else failed (exit 1).
    Failure(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::BadInput(_) => 2,
            CliError::Failure(_) => 1,
        }
    }

    pub fn bad(msg: impl Into<String>) -> Self {
        CliError::BadInput(msg.into())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::BadInput(m) | CliError::Failure(m) => f.write_str(m),
        }
    }
}

/// Crypto errors are all about the input: a bad point, key, password or file.
impl From<kms_crypto::Error> for CliError {
    fn from(e: kms_crypto::Error) -> Self {
        CliError::BadInput(e.to_string())
    }
}
