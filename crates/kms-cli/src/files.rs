//! Reading secrets from files (never from the command line) and writing new key files safely.

use crate::error::CliError;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use zeroize::Zeroizing;

/// Reads a small text file named by the user; a missing or unreadable file is bad input.
pub fn read_text(path: &Path, what: &str) -> Result<Zeroizing<String>, CliError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::bad(format!("{what} {}: {e}", path.display())))?;
    if meta.len() > 1 << 20 {
        return Err(CliError::bad(format!(
            "{what} {} is larger than 1 MiB",
            path.display()
        )));
    }
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| CliError::bad(format!("{what} {}: {e}", path.display())))
}

/// A password file's content without its final line ending (editors add one).
pub fn read_password(path: &Path) -> Result<Zeroizing<String>, CliError> {
    let mut text = read_text(path, "password file")?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

/// Writes a new file readable only by its owner; refuses to overwrite an existing one.
pub fn write_new_private(path: &Path, contents: &[u8]) -> Result<(), CliError> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => CliError::bad(format!(
            "{} already exists; not overwriting it",
            path.display()
        )),
        _ => CliError::bad(format!("cannot create {}: {e}", path.display())),
    })?;
    file.write_all(contents)
        .and_then(|_| file.sync_all())
        .map_err(|e| CliError::Failure(format!("writing {}: {e}", path.display())))
}
