//! Backup and restore that never expose a secret: a snapshot is a copy of the store's tables as
//! one read transaction saw them (keys still sealed under the KEK, the audit log with its head,
//! the spent nonces, the API keys' hashes), written as a store file of its own. A running service
//! makes it (redb locks its file), for `kms-signer backup` over the data directory's admin socket;
//! a stopped one is read directly. `restore` installs a snapshot into a data directory that is
//! empty, or that holds an older state of the same store, never a newer one.

use crate::apikeys::API_KEYS;
use crate::audit::{read_head, AUDIT};
use crate::keyring::{KEYS, SECRETS};
use crate::ledger::NONCES;
use anyhow::{bail, Context};
use kms_store::redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, TableError,
    WriteTransaction,
};
use kms_store::{Store, DB_FILE, META};
use std::path::{Path, PathBuf};

/// The admin socket's file name in the data directory (the directory is 0700, so only the
/// service's user reaches it).
pub const ADMIN_SOCKET: &str = "admin.sock";

/// What a snapshot holds, for the tools to print.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SnapshotInfo {
    /// The audit chain's next sequence number at the snapshot (its length).
    pub audit_records: u64,
    /// How many operator keys it holds.
    pub keys: u64,
}

fn copy_audit(
    src: &ReadTransaction,
    dst: &WriteTransaction,
    def: TableDefinition<u64, &[u8]>,
) -> anyhow::Result<u64> {
    let table = match src.open_table(def) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let mut out = dst.open_table(def)?;
    let mut n = 0;
    for row in table.iter()? {
        let (k, v) = row?;
        out.insert(k.value(), v.value())?;
        n += 1;
    }
    Ok(n)
}

fn copy_slices(
    src: &ReadTransaction,
    dst: &WriteTransaction,
    def: TableDefinition<&[u8], &[u8]>,
) -> anyhow::Result<u64> {
    let table = match src.open_table(def) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let mut out = dst.open_table(def)?;
    let mut n = 0;
    for row in table.iter()? {
        let (k, v) = row?;
        out.insert(k.value(), v.value())?;
        n += 1;
    }
    Ok(n)
}

fn copy_str_keyed(
    src: &ReadTransaction,
    dst: &WriteTransaction,
    def: TableDefinition<&str, &[u8]>,
) -> anyhow::Result<u64> {
    let table = match src.open_table(def) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let mut out = dst.open_table(def)?;
    let mut n = 0;
    for row in table.iter()? {
        let (k, v) = row?;
        out.insert(k.value(), v.value())?;
        n += 1;
    }
    Ok(n)
}

/// Writes a snapshot of the store `db` to `out`, a new file (an existing one is never
/// overwritten). One read transaction: the copy is the store at one commit, whatever the service
/// writes meanwhile.
pub fn snapshot(db: &Database, out: &Path) -> anyhow::Result<SnapshotInfo> {
    if out.exists() {
        bail!("{} exists; a backup never overwrites a file", out.display());
    }
    let src = db.begin_read()?;
    let head = read_head(&src)?;
    let copy = Database::create(out).with_context(|| format!("creating {}", out.display()))?;
    let dst = copy.begin_write()?;
    copy_str_keyed(&src, &dst, META)?;
    let keys = copy_slices(&src, &dst, KEYS)?;
    copy_slices(&src, &dst, SECRETS)?;
    copy_audit(&src, &dst, AUDIT)?;
    copy_str_keyed(&src, &dst, API_KEYS)?;
    NONCES.copy(&src, &dst)?;
    dst.commit()?;
    drop(copy);
    set_private(out)?;
    Ok(SnapshotInfo {
        audit_records: head.map_or(0, |h| h.next_seq),
        keys,
    })
}

#[cfg(unix)]
fn set_private(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

#[cfg(not(unix))]
fn set_private(_: &Path) -> anyhow::Result<()> {
    Ok(())
}

/// The audit length a store file records (0 for a store with no record).
fn audit_length(path: &Path) -> anyhow::Result<u64> {
    let db = Database::open(path).with_context(|| {
        format!(
            "opening {} (if it is the data directory's store, stop the service first)",
            path.display()
        )
    })?;
    let head = read_head(&db.begin_read()?)?;
    Ok(head.map_or(0, |h| h.next_seq))
}

/// Installs the snapshot `from` as the store of `data_dir`: refused if the directory holds a
/// store whose audit log is longer (a newer state: restoring would roll back revocations and
/// rotations), or if the snapshot does not open with the KEK or its audit chain does not verify.
pub fn restore(
    data_dir: &Path,
    from: &Path,
    kek: &kms_store::KekSource,
) -> anyhow::Result<SnapshotInfo> {
    let incoming = audit_length(from)?;
    let target = data_dir.join(DB_FILE);
    if target.exists() {
        let present = audit_length(&target)?;
        if present > incoming {
            bail!(
                "the data directory's store is newer than the snapshot ({present} audit records \
                 against {incoming}); restoring would roll it back"
            );
        }
    }
    // Checked in a scratch directory first: the KEK opens it, and the audit chain is intact.
    let scratch = scratch_dir(data_dir)?;
    let staged = scratch.join(DB_FILE);
    std::fs::copy(from, &staged).with_context(|| format!("reading {}", from.display()))?;
    let checked = (|| -> anyhow::Result<SnapshotInfo> {
        let store = Store::open(&scratch, kek, &mut rand_core::OsRng)
            .context("the snapshot does not open with this KEK")?;
        let records = crate::audit::verify(&store).context("the snapshot's audit log")?;
        let keys = crate::keyring::KeyRing::load(&store)
            .context("the snapshot's keys")?
            .records()
            .len() as u64;
        Ok(SnapshotInfo {
            audit_records: records,
            keys,
        })
    })();
    let info = match checked {
        Ok(info) => info,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&scratch);
            return Err(e);
        }
    };
    std::fs::rename(&staged, &target).context("installing the snapshot")?;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(info)
}

fn scratch_dir(data_dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(data_dir)?;
    let dir = data_dir.join(".restore");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir(&dir)?;
    Ok(dir)
}

/// The running service's side of `kms-signer backup`: a snapshot's bytes (made in the data
/// directory, then removed).
pub fn snapshot_bytes(store: &Store, data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let mut name = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut name);
    let path = data_dir.join(format!(".backup-{}.redb", hex::encode(name)));
    let made = snapshot(store.db(), &path).and_then(|_| Ok(std::fs::read(&path)?));
    let _ = std::fs::remove_file(&path);
    made
}

/// Asks the service running on `data_dir` for a snapshot over its admin socket; None if no
/// service answers there (then the store can be read directly).
pub async fn fetch_snapshot(data_dir: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    use http_body_util::BodyExt;
    let Ok(stream) = tokio::net::UnixStream::connect(data_dir.join(ADMIN_SOCKET)).await else {
        return Ok(None);
    };
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = hyper::Request::get(BACKUP_PATH)
        .header(hyper::header::HOST, "kms-signer")
        .body(http_body_util::Empty::<hyper::body::Bytes>::new())?;
    let answer = sender.send_request(req).await?;
    let status = answer.status();
    let body = answer.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        bail!(
            "the service refused the backup ({status}): {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(Some(body.to_vec()))
}

/// The admin socket's backup route.
pub const BACKUP_PATH: &str = "/v1/backup";
