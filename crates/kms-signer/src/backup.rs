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
    // Created new and private before a byte is written (no window in which another user could
    // open it, no symlink followed), and removed if anything fails.
    let file = new_private_file(out)?;
    let made = (|| -> anyhow::Result<SnapshotInfo> {
        let src = db.begin_read()?;
        let head = read_head(&src)?;
        let copy = kms_store::redb::Builder::new()
            .create_with_backend(kms_store::redb::backends::FileBackend::new(file)?)?;
        let dst = copy.begin_write()?;
        copy_str_keyed(&src, &dst, META)?;
        let keys = copy_slices(&src, &dst, KEYS)?;
        copy_slices(&src, &dst, SECRETS)?;
        copy_audit(&src, &dst, AUDIT)?;
        copy_str_keyed(&src, &dst, API_KEYS)?;
        NONCES.copy(&src, &dst)?;
        dst.commit()?;
        Ok(SnapshotInfo {
            audit_records: head.map_or(0, |h| h.next_seq),
            keys,
        })
    })();
    if made.is_err() {
        let _ = std::fs::remove_file(out);
    }
    made
}

#[cfg(unix)]
fn new_private_file(path: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

#[cfg(not(unix))]
fn new_private_file(path: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

/// What restore compares: the store's identity (its KEK salt, made once at creation), whether it
/// was ever initialised, and its audit head.
struct StoreState {
    salt: Option<Vec<u8>>,
    initialised: bool,
    head: Option<crate::audit::Head>,
}

fn store_state(tx: &ReadTransaction) -> anyhow::Result<StoreState> {
    let meta = |key: &str| -> anyhow::Result<Option<Vec<u8>>> {
        match tx.open_table(META) {
            Ok(t) => Ok(t.get(key)?.map(|v| v.value().to_vec())),
            Err(TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    };
    let salt = meta("kek_salt")?;
    let initialised = salt.is_some() && meta("kek_check")?.is_some();
    Ok(StoreState {
        salt,
        initialised,
        head: read_head(tx)?,
    })
}

/// Installs the snapshot `from` as the store of `data_dir` (the service stopped). Refused unless
/// the snapshot is a complete store that opens with the KEK and whose audit chain verifies, and,
/// if the directory holds a store, unless the snapshot is that same store at the same or a later
/// point of its one audit chain (anything else would roll back rotations and revocations). The
/// store it replaces is kept beside it as `store.redb.replaced-<unix seconds>`.
pub fn restore(
    data_dir: &Path,
    from: &Path,
    kek: &kms_store::KekSource,
) -> anyhow::Result<SnapshotInfo> {
    let target = data_dir.join(DB_FILE);
    // Opened (and so locked) until the snapshot is in place: no service opens the old store
    // meanwhile, and one running now makes this fail.
    let present_db =
        if target.exists() {
            Some(Database::open(&target).with_context(|| {
                format!("opening {} (stop the service first)", target.display())
            })?)
        } else {
            None
        };
    let present = match &present_db {
        Some(db) => Some(store_state(&db.begin_read()?)?),
        None => None,
    };
    {
        let incoming_db = kms_store::redb::ReadOnlyDatabase::open(from)
            .with_context(|| format!("opening {}", from.display()))?;
        let tx = incoming_db.begin_read()?;
        let incoming = store_state(&tx)?;
        if !incoming.initialised {
            bail!(
                "{} is not a kms-signer store snapshot (no KEK salt or check)",
                from.display()
            );
        }
        // The snapshot must extend the present store's one audit chain: same store, and its
        // record at the present head carries the present head's MAC.
        if let Some(p) = &present {
            let same_store = p.salt == incoming.salt;
            let extends = match &p.head {
                Some(h) if h.next_seq > 0 => {
                    crate::audit::record_mac(&tx, h.next_seq - 1)? == Some(h.mac)
                }
                _ => true,
            };
            if !(same_store && extends) {
                bail!(
                    "the snapshot does not extend the data directory's store (another store, an \
                     older point of it, or a diverged copy); restoring would roll it back"
                );
            }
        }
    }
    let scratch = Scratch::new(data_dir)?;
    let staged = scratch.0.join(DB_FILE);
    std::fs::copy(from, &staged).with_context(|| format!("reading {}", from.display()))?;
    std::fs::File::open(&staged)?.sync_all()?;
    let info = {
        let store = Store::open(&scratch.0, kek, &mut rand_core::OsRng)
            .context("the snapshot does not open with this KEK")?;
        let records = crate::audit::verify(&store).context("the snapshot's audit log")?;
        let keys = crate::keyring::KeyRing::load(&store)
            .context("the snapshot's keys")?
            .records()
            .len() as u64;
        SnapshotInfo {
            audit_records: records,
            keys,
        }
    };
    if target.exists() {
        let kept = data_dir.join(format!("{DB_FILE}.replaced-{}", crate::ledger::now()));
        std::fs::hard_link(&target, &kept).context("keeping the replaced store")?;
    }
    std::fs::rename(&staged, &target).context("installing the snapshot")?;
    std::fs::File::open(data_dir)?.sync_all()?;
    drop(present_db);
    Ok(info)
}

/// A scratch directory inside the data directory, removed however restore ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new(data_dir: &Path) -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(data_dir)?;
        }
        #[cfg(not(unix))]
        std::fs::create_dir_all(data_dir)?;
        let mut name = [0u8; 8];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut name);
        let dir = data_dir.join(format!(".restore-{}", hex::encode(name)));
        std::fs::create_dir(&dir)?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Removes snapshot copies a killed service left in the data directory (they hold sealed
/// secrets of versions that may since have been retired).
pub fn sweep_leftovers(data_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(".backup-") && name.ends_with(".redb") {
            let _ = std::fs::remove_file(e.path());
        }
    }
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
