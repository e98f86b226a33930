//! Secret files, one set of rules for every program (docs/0010, "Edges"):
//! - secrets are read from files, never from command lines or the environment, at most
//!   [`MAX_SECRET_FILE`] bytes, and wiped from memory when dropped;
//! - a password or passphrase is the file's text without its trailing line endings (every
//!   `\n` and `\r` at the end: editors add one, `echo` another, Windows a `\r`); nothing else is
//!   trimmed, so leading and inner spaces count;
//! - a new secret file is created, never overwritten, readable by its owner only (0600), and
//!   flushed to disk before the call returns.
//!
//! Also [`write_atomic`], for files other processes poll (port files): they see the old content
//! or the new one, never half of it.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The largest secret file read (keys, keystores and passwords are far smaller).
pub const MAX_SECRET_FILE: u64 = 1 << 20;

/// A file that could not be read or written, and why.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Reading or writing failed (missing file, no permission, disk full).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_SECRET_FILE`].
    #[error("{} is larger than 1 MiB", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// A file that should hold text does not hold UTF-8.
    #[error("{} is not UTF-8 text", path.display())]
    NotText {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be created (missing directory, no permission).
    #[error("cannot create {}: {source}", path.display())]
    Create {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A new secret file's path is taken; it is never overwritten.
    #[error("{} already exists; not overwriting it", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The file was read but its content is not what it should hold.
    #[error("{}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with its content.
        reason: String,
    },
}

impl FileError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A secret file's bytes (at most [`MAX_SECRET_FILE`]).
pub fn read_secret(path: &Path) -> Result<Zeroizing<Vec<u8>>, FileError> {
    let file = std::fs::File::open(path).map_err(|e| FileError::io(path, e))?;
    let mut bytes = Zeroizing::new(Vec::new());
    // One byte past the limit tells a file at the limit from a larger one.
    file.take(MAX_SECRET_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| FileError::io(path, e))?;
    if bytes.len() as u64 > MAX_SECRET_FILE {
        return Err(FileError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

/// A secret file's text, untrimmed.
pub fn read_secret_text(path: &Path) -> Result<Zeroizing<String>, FileError> {
    let bytes = read_secret(path)?;
    match std::str::from_utf8(&bytes) {
        Ok(text) => Ok(Zeroizing::new(text.to_owned())),
        Err(_) => Err(FileError::NotText {
            path: path.to_path_buf(),
        }),
    }
}

/// A password file's content: its text without trailing line endings.
pub fn read_password(path: &Path) -> Result<Zeroizing<String>, FileError> {
    let mut text = read_secret_text(path)?;
    strip_line_endings(&mut text);
    Ok(text)
}

/// Drops every `\n` and `\r` at the end of `text` (the password rule).
pub fn strip_line_endings(text: &mut String) {
    while text.ends_with(['\n', '\r']) {
        text.pop();
    }
}

/// Creates `path` readable by its owner only (0600) with `contents`, refusing to overwrite an
/// existing file, and syncs it (and, on Unix, its directory) before returning.
pub fn write_new_private(path: &Path, contents: &[u8]) -> Result<(), FileError> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => FileError::Exists {
            path: path.to_path_buf(),
        },
        _ => FileError::Create {
            path: path.to_path_buf(),
            source: e,
        },
    })?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| FileError::io(path, e))?;
    sync_parent(path);
    Ok(())
}

/// Writes `contents` to `path` readable by its owner only, replacing whatever is there: a new
/// 0600 file beside it, synced, renamed over it. An existing file's wider permissions are never
/// kept, and a reader sees the old file or the new one, never a mix.
pub fn replace_private(path: &Path, contents: &[u8]) -> Result<(), FileError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    // A leftover of a crashed run with the same pid; it holds nothing worth keeping.
    let _ = std::fs::remove_file(&tmp);
    write_new_private(&tmp, contents).map_err(|e| match e {
        FileError::Create { source, .. } => FileError::Create {
            path: path.to_path_buf(),
            source,
        },
        other => other,
    })?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(FileError::io(path, e));
    }
    sync_parent(path);
    Ok(())
}

/// Replaces `path` with `contents` through a temporary file in the same directory and a rename.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), FileError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, contents).map_err(|e| FileError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| FileError::io(path, e))?;
    Ok(())
}

/// Where an operator's BN254 key is read from (both services and the CLI's key tools).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bn254Source {
    /// A keystore (eigenlayer-cli or EIP-2335 layout) and the file holding its password (read
    /// by [`read_password`]).
    Keystore {
        /// The keystore (JSON).
        file: PathBuf,
        /// The file holding its password.
        password: PathBuf,
    },
    /// A file holding the secret key: one decimal or 0x-hex integer, reduced mod r (zero
    /// refused), surrounding white space ignored.
    KeyFile(PathBuf),
}

impl Bn254Source {
    /// Reads the key (decrypting the keystore, which costs its KDF run).
    pub fn load(&self) -> Result<kms_crypto::bn254::SecretKey, FileError> {
        let invalid = |path: &Path, reason: String| FileError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        match self {
            Self::KeyFile(p) => {
                let text = read_secret_text(p)?;
                kms_crypto::bn254::SecretKey::from_int_str(text.trim())
                    .map_err(|e| invalid(p, format!("not a BN254 secret key: {e}")))
            }
            Self::Keystore { file, password } => {
                let json = read_secret_text(file)?;
                let pw = read_password(password)?;
                kms_crypto::keystore::decrypt_any(&json, &pw)
                    .map_err(|e| invalid(file, format!("cannot decrypt the keystore: {e}")))
            }
        }
    }
}

/// An X25519 secret key file (the node's encryption key): 64 hex characters, `0x` optional.
pub fn read_encryption_key(path: &Path) -> Result<kms_crypto::seal::EncryptionKey, FileError> {
    let invalid = |reason: &str| FileError::Invalid {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    };
    let text = read_secret_text(path)?;
    let bytes = Zeroizing::new(
        hex::decode(text.trim().trim_start_matches("0x"))
            .map_err(|_| invalid("expected 64 hex characters"))?,
    );
    kms_crypto::seal::EncryptionKey::from_bytes(&bytes)
        .map_err(|_| invalid("not an X25519 secret key"))
}

/// Makes a new directory entry durable; best effort (some file systems refuse to sync a
/// directory, and the file itself is already on disk).
fn sync_parent(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_lose_every_trailing_line_ending_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        for (content, password) in [
            ("pw", "pw"),
            ("pw\n", "pw"),
            ("pw\r\n", "pw"),
            ("pw\n\n", "pw"),
            ("pw\r\n\r\n", "pw"),
            (" pw \n", " pw "),
            ("p\nw\n", "p\nw"),
            ("\n", ""),
        ] {
            let p = dir.path().join("pw");
            std::fs::write(&p, content).unwrap();
            assert_eq!(read_password(&p).unwrap().as_str(), password, "{content:?}");
        }
    }

    #[test]
    fn secret_files_are_bounded_and_text_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big");
        std::fs::write(&p, vec![b'a'; (MAX_SECRET_FILE + 1) as usize]).unwrap();
        assert!(matches!(read_secret(&p), Err(FileError::TooLarge { .. })));
        std::fs::write(&p, vec![b'a'; MAX_SECRET_FILE as usize]).unwrap();
        assert_eq!(read_secret(&p).unwrap().len() as u64, MAX_SECRET_FILE);
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        assert!(matches!(
            read_secret_text(&p),
            Err(FileError::NotText { .. })
        ));
        let missing = dir.path().join("missing");
        assert!(matches!(read_secret(&missing), Err(FileError::Io { .. })));
    }

    #[test]
    fn new_secret_files_are_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key");
        write_new_private(&p, b"secret").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(
            write_new_private(&p, b"other"),
            Err(FileError::Exists { .. })
        ));
        assert_eq!(std::fs::read(&p).unwrap(), b"secret");
    }

    #[test]
    fn replacing_a_readable_file_leaves_it_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("plain");
        std::fs::write(&p, b"old and longer").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        replace_private(&p, b"new").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
        let missing = dir.path().join("no/such/dir/file");
        assert!(matches!(
            replace_private(&missing, b"x"),
            Err(FileError::Create { .. })
        ));
    }

    #[test]
    fn atomic_writes_replace_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("port");
        write_atomic(&p, b"127.0.0.1:1").unwrap();
        write_atomic(&p, b"127.0.0.1:2").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"127.0.0.1:2");
        assert!(!dir.path().join("port.tmp").exists());
    }
}
