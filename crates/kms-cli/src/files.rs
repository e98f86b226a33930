//! Reading secrets from files (never from the command line) and writing key files, with the
//! rules of `kms_store::files` (one trimming rule for passwords, 0600 and create-new for keys)
//! and the CLI's exit codes: a file the user named that cannot be read is bad input (exit 2).

use crate::error::CliError;
use kms_store::files::{self, FileError};
use std::io::Write;
use std::path::Path;
use zeroize::Zeroizing;

/// Maps a file error to the CLI's: what the user named is bad input, a failed write is not.
fn cli_error(what: &str, e: FileError) -> CliError {
    match e {
        FileError::Io { path, source } => {
            CliError::bad(format!("{what} {}: {source}", path.display()))
        }
        FileError::TooLarge { path } => {
            CliError::bad(format!("{what} {} is larger than 1 MiB", path.display()))
        }
        FileError::NotText { path } => {
            CliError::bad(format!("{what} {} is not UTF-8 text", path.display()))
        }
        e @ (FileError::Invalid { .. } | FileError::Exists { .. } | FileError::Create { .. }) => {
            CliError::bad(e.to_string())
        }
    }
}

/// Reads a small text file named by the user; a missing or unreadable file is bad input.
pub fn read_text(path: &Path, what: &str) -> Result<Zeroizing<String>, CliError> {
    files::read_secret_text(path).map_err(|e| cli_error(what, e))
}

/// A password file's content without its trailing line endings (`kms_store::files`).
pub fn read_password(path: &Path) -> Result<Zeroizing<String>, CliError> {
    files::read_password(path).map_err(|e| cli_error("password file", e))
}

/// Writes a new file readable only by its owner; refuses to overwrite an existing one.
pub fn write_new_private(path: &Path, contents: &[u8]) -> Result<(), CliError> {
    files::write_new_private(path, contents).map_err(|e| match e {
        FileError::Io { path, source } => {
            CliError::Failure(format!("writing {}: {source}", path.display()))
        }
        e => cli_error("", e),
    })
}

/// Writes `contents` to `path`, replacing it; `private`: readable by the owner only, even when
/// the file existed with wider permissions (a decrypted plaintext).
pub fn write_output(path: &Path, contents: &[u8], private: bool) -> Result<(), CliError> {
    if private {
        return files::replace_private(path, contents).map_err(|e| match e {
            FileError::Create { path, source } => {
                CliError::bad(format!("cannot create {}: {source}", path.display()))
            }
            FileError::Io { path, source } => {
                CliError::Failure(format!("writing {}: {source}", path.display()))
            }
            e => cli_error("", e),
        });
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| CliError::bad(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(contents)
        .and_then(|_| file.sync_all())
        .map_err(|e| CliError::Failure(format!("writing {}: {e}", path.display())))
}
