//! Backup and restore that never expose a secret: a snapshot is a copy of the store's tables as
//! one read transaction saw them (keys still sealed under the KEK, the audit log with its head,
//! the spent nonces, the API keys' hashes), written as a store file of its own. A running service
//! makes it (redb locks its file), for `kms-signer backup` over the data directory's admin socket (`crate::admin_socket`);
//! a stopped one is read directly. `restore` installs a snapshot into a data directory that is
//! empty, or that holds an older state of the same store, never a newer one.

use crate::apikeys::API_KEYS;
use crate::audit::{read_head, AUDIT};
use crate::keyring::{KEYS, SECRETS};
use crate::ledger::NONCES;
use anyhow::{bail, Context};
use kms_store::redb::{
    Database, MultimapTableHandle, ReadTransaction, ReadableDatabase, TableError, TableHandle,
};
use kms_store::{copy_table, KekSource, Store, DB_FILE, META};
use std::path::{Path, PathBuf};

/// What a snapshot holds, for the tools to print.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SnapshotInfo {
    /// The audit chain's next sequence number at the snapshot (its length).
    pub audit_records: u64,
    /// How many operator keys it holds.
    pub keys: u64,
    /// After a restore over a store: where the replaced store was kept. It still holds every
    /// secret it held, retired ones in freed pages included: delete it once the restore is
    /// checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_kept_at: Option<String>,
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
        copy_table(&src, &dst, META)?;
        let keys = copy_table(&src, &dst, KEYS)?;
        copy_table(&src, &dst, SECRETS)?;
        copy_table(&src, &dst, AUDIT)?;
        copy_table(&src, &dst, API_KEYS)?;
        NONCES.copy(&src, &dst)?;
        dst.commit()?;
        // The copy must hold every table the store holds: one added to the service but not to
        // the copies above would otherwise vanish from backups, and from the live store at its
        // next rewrite.
        let names = |tx: &ReadTransaction| -> anyhow::Result<Vec<String>> {
            let mut n: Vec<String> = tx.list_tables()?.map(|t| t.name().to_owned()).collect();
            n.extend(tx.list_multimap_tables()?.map(|t| t.name().to_owned()));
            n.sort();
            Ok(n)
        };
        let copied = names(&copy.begin_read()?)?;
        if let Some(missing) = names(&src)?.into_iter().find(|t| !copied.contains(t)) {
            bail!("the store holds a table this version does not copy: {missing}");
        }
        Ok(SnapshotInfo {
            audit_records: head.map_or(0, |h| h.next_seq),
            keys,
            replaced_kept_at: None,
        })
    })();
    if made.is_err() {
        let _ = std::fs::remove_file(out);
    }
    made
}

/// A new file readable by its owner only (never an existing one, never through a symlink).
#[cfg(unix)]
pub(crate) fn new_private_file(path: &Path) -> anyhow::Result<std::fs::File> {
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
pub(crate) fn new_private_file(path: &Path) -> anyhow::Result<std::fs::File> {
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
pub fn restore(data_dir: &Path, from: &Path, kek: &KekSource) -> anyhow::Result<SnapshotInfo> {
    let target = data_dir.join(DB_FILE);
    private_dir(data_dir)?;
    if std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
        bail!(
            "{} is a symbolic link; the store must be a regular file",
            target.display()
        );
    }
    let existed = target.exists();
    // Opened, or created empty, and so locked until the snapshot is in place: a service that
    // starts meanwhile fails on the lock instead of running on a file the rename replaces, and
    // one running now makes this fail.
    let present_db = if existed {
        Database::open(&target)
    } else {
        Database::create(&target)
    }
    .with_context(|| format!("opening {} (stop the service first)", target.display()))?;
    if !existed {
        // Marked, so that if this restore is killed no service starts afresh on the placeholder.
        let tx = present_db.begin_write()?;
        tx.open_table(META)?
            .insert(kms_store::RESTORE_MARK, [1u8].as_slice())?;
        tx.commit()?;
    }
    let installed = install(data_dir, &present_db, from, kek);
    if installed.is_err() && !existed {
        let _ = std::fs::remove_file(&target);
    }
    drop(present_db);
    installed
}

/// `restore` with the target store held open (`present_db`, perhaps an empty placeholder).
fn install(
    data_dir: &Path,
    present_db: &Database,
    from: &Path,
    kek: &KekSource,
) -> anyhow::Result<SnapshotInfo> {
    let target = data_dir.join(DB_FILE);
    // A store that was never initialised (no KEK salt: an empty placeholder, or one a killed
    // restore left) holds nothing to protect.
    let present = Some(store_state(&present_db.begin_read()?)?).filter(|p| p.salt.is_some());
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
    let mut info = {
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
            replaced_kept_at: None,
        }
    };
    if present.is_some() {
        let kept = data_dir.join(format!("{DB_FILE}.replaced-{}", crate::ledger::now()));
        std::fs::hard_link(&target, &kept).context("keeping the replaced store")?;
        info.replaced_kept_at = Some(kept.display().to_string());
    }
    std::fs::rename(&staged, &target).context("installing the snapshot")?;
    std::fs::File::open(data_dir)?.sync_all()?;
    Ok(info)
}

/// Creates `dir` (and its parents) readable by its owner only, if missing.
fn private_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    Ok(())
}

/// A scratch directory inside the data directory, removed however restore ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new(data_dir: &Path) -> anyhow::Result<Self> {
        private_dir(data_dir)?;
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

/// Removes the copies a killed service, backup, rewrite or restore left in the data directory
/// (they hold sealed secrets of versions that may since have been retired).
pub fn sweep_leftovers(data_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        // A killed restore's scratch directory (a full copy of a snapshot). Safe to remove: the
        // caller holds the store's lock, which a running restore would hold.
        if name.starts_with(".restore-") {
            let _ = std::fs::remove_dir_all(e.path());
            continue;
        }
        let ours = name.starts_with(".backup-") || name.starts_with(".rewrite-");
        if ours && name.ends_with(".redb") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The META key a retirement sets in the transaction that deletes a sealed secret: redb frees the
/// secret's pages but does not overwrite them, so the store is rewritten at the next start.
pub const SECRETS_FREED: &str = "secrets_freed";

/// At start-up (the service not yet serving, the store locked by `store`): if a retirement
/// deleted a sealed secret since the last rewrite, copies the live rows into a new file and
/// installs it in place of the store, so no page of the store file keeps a retired secret (the
/// filesystem's own copies of the old file are beyond reach: see docs/0011). Whether it was
/// rewritten; on an error the store is unchanged (still marked, so the next start tries again).
pub fn rewrite_if_freed(store: &mut Store, data_dir: &Path) -> anyhow::Result<bool> {
    let freed = {
        let tx = store.db().begin_read()?;
        match tx.open_table(META) {
            Ok(t) => kms_store::redb::ReadableTable::get(&t, SECRETS_FREED)?.is_some(),
            Err(TableError::TableDoesNotExist(_)) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    };
    if !freed {
        return Ok(false);
    }
    let mut name = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut name);
    let path = data_dir.join(format!(".rewrite-{}.redb", hex::encode(name)));
    snapshot(store.db(), &path).context("copying the store")?;
    // The copy stays open (and so locked) from here on: it becomes the store without a moment
    // in which its file is unlocked under the store's name.
    let copy = (|| -> anyhow::Result<Database> {
        let copy = Database::open(&path)?;
        let tx = copy.begin_write()?;
        tx.open_table(META)?.remove(SECRETS_FREED)?;
        tx.commit()?;
        store
            .opens(&copy)
            .context("the copy does not open with the KEK")?;
        std::fs::File::open(&path)?.sync_all()?;
        Ok(copy)
    })();
    let copy = match copy {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
    };
    if let Err(e) = std::fs::rename(&path, data_dir.join(DB_FILE)) {
        drop(copy);
        let _ = std::fs::remove_file(&path);
        return Err(e).context("installing the rewritten store");
    }
    // From the rename on the copy is the store: serve it even if the directory sync fails.
    drop(store.swap_database(copy));
    if let Err(e) = std::fs::File::open(data_dir).and_then(|d| d.sync_all()) {
        tracing::warn!(error = %e, "the data directory was not synced after the rewrite");
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kms_store::redb::{ReadableTable, TableDefinition};

    fn store_in(dir: &Path) -> (Store, KekSource) {
        let key = dir.join("kek");
        std::fs::write(&key, [3u8; 32]).unwrap();
        let kek = KekSource::KeyFile(key);
        let store = Store::open(&dir.join("data"), &kek, &mut rand_core::OsRng).unwrap();
        (store, kek)
    }

    fn file_holds(dir: &Path, needle: &[u8]) -> bool {
        let bytes = std::fs::read(dir.join("data").join(DB_FILE)).unwrap();
        bytes.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn a_store_with_a_table_the_snapshot_does_not_know_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = store_in(dir.path());
        let out = dir.path().join("snap.redb");
        snapshot(store.db(), &out).unwrap();
        std::fs::remove_file(&out).unwrap();
        let tx = store.db().begin_write().unwrap();
        tx.open_table(TableDefinition::<u64, u64>::new("added_later"))
            .unwrap()
            .insert(1, 2)
            .unwrap();
        tx.commit().unwrap();
        let e = snapshot(store.db(), &out).unwrap_err();
        assert!(e.to_string().contains("added_later"), "{e}");
        assert!(!out.exists(), "a refused snapshot leaves no file");
    }

    #[test]
    fn a_deleted_secret_lingers_in_freed_pages_until_the_rewrite_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let (store, kek) = store_in(dir.path());
        let row = |i: u8| [i; 24];
        let sealed = |i: u8| {
            let mut v = [0u8; 64];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut v);
            v[0] = i;
            v
        };
        let values: Vec<[u8; 64]> = (0..40).map(sealed).collect();
        let tx = store.db().begin_write().unwrap();
        {
            let mut t = tx.open_table(SECRETS).unwrap();
            for (i, v) in values.iter().enumerate() {
                t.insert(row(i as u8).as_slice(), v.as_slice()).unwrap();
            }
        }
        tx.commit().unwrap();
        // A retirement: the row goes and the store is marked, in one transaction.
        let tx = store.db().begin_write().unwrap();
        tx.open_table(SECRETS)
            .unwrap()
            .remove(row(7).as_slice())
            .unwrap();
        tx.open_table(META)
            .unwrap()
            .insert(SECRETS_FREED, [1u8].as_slice())
            .unwrap();
        tx.commit().unwrap();
        assert!(
            file_holds(dir.path(), &values[7]),
            "redb keeps the freed page's bytes"
        );

        let mut store = store;
        let rewritten = rewrite_if_freed(&mut store, &dir.path().join("data")).unwrap();
        assert!(rewritten);
        assert!(!file_holds(dir.path(), &values[7]));
        let tx = store.db().begin_read().unwrap();
        let t = tx.open_table(SECRETS).unwrap();
        assert_eq!(t.iter().unwrap().count(), 39);
        assert_eq!(
            t.get(row(8).as_slice()).unwrap().unwrap().value(),
            values[8].as_slice()
        );
        assert!(tx
            .open_table(META)
            .unwrap()
            .get(SECRETS_FREED)
            .unwrap()
            .is_none());
        drop((t, tx));
        // Nothing more to do at the next start.
        let again = rewrite_if_freed(&mut store, &dir.path().join("data")).unwrap();
        assert!(!again);
        // The store served is the installed file: what it writes is there after a reopen.
        let tx = store.db().begin_write().unwrap();
        tx.open_table(SECRETS)
            .unwrap()
            .insert(row(99).as_slice(), [9u8; 64].as_slice())
            .unwrap();
        tx.commit().unwrap();
        drop(store);
        let reopened = Store::open(&dir.path().join("data"), &kek, &mut rand_core::OsRng).unwrap();
        let tx = reopened.db().begin_read().unwrap();
        assert_eq!(tx.open_table(SECRETS).unwrap().iter().unwrap().count(), 40);
    }
}
