//! The redb database of one data directory, unlocked by its KEK.
//!
//! On first open the store gets a random Argon2id salt and a KEK check value (a sealed constant);
//! every later open must reproduce the KEK that opens the check value, so a wrong passphrase or
//! key file stops start-up with a clear error instead of producing unreadable records.

use crate::kek::{Kek, KekSource};
use crate::{Error, Result};
use rand_core::{CryptoRng, RngCore};
use redb::{Database, ReadableDatabase, TableDefinition};
use std::path::Path;
use zeroize::Zeroizing;

/// Store-wide settings: salt and KEK check value. Services keep their own tables.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

const SALT_KEY: &str = "kek_salt";
const CHECK_KEY: &str = "kek_check";
const CHECK_AAD: &[u8] = b"meta/kek_check";
const CHECK_VALUE: &[u8] = b"KMS_KEK_CHECK_V1";

/// Copies every row of `def` as `src` sees it into `dst`; a table `src` lacks copies as nothing.
/// Returns the number of rows. Snapshots and rewrites of a store are made of it.
pub fn copy_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    src: &redb::ReadTransaction,
    dst: &redb::WriteTransaction,
    def: TableDefinition<K, V>,
) -> Result<u64> {
    let table = match src.open_table(def) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let mut out = dst.open_table(def)?;
    let mut n = 0;
    for row in redb::ReadableTable::iter(&table)? {
        let (k, v) = row?;
        out.insert(k.value(), v.value())?;
        n += 1;
    }
    Ok(n)
}

/// A META key a restore sets in the empty store it creates (and holds locked) while it installs
/// a snapshot: a store that still carries it is the placeholder of a restore that was killed, and
/// does not open, so no service starts afresh on it in place of the restored keys.
pub const RESTORE_MARK: &str = "restore_in_progress";

/// File name of the database inside a data directory.
pub const DB_FILE: &str = "store.redb";

/// An open, unlocked store.
pub struct Store {
    db: Database,
    kek: Kek,
}

impl core::fmt::Debug for Store {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

fn read_file(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    crate::files::read_secret(path)
        .map_err(|_| Error::KekSource("cannot read the passphrase or key file"))
}

/// Creates `dir` if needed and opens the database in it, with the directory kept 0700 and the
/// database file 0600 (tightened if they were wider): the file holds sealed secrets and the
/// audit log, and nobody else on the host needs to read either.
fn open_database(dir: &Path) -> Result<Database> {
    let io = |e: std::io::Error| Error::Database(e.to_string());
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        // The store file itself is never a symlink: one would let whoever placed it choose
        // where sealed secrets are written (and which file's mode is tightened).
        let file = dir.join(DB_FILE);
        if std::fs::symlink_metadata(&file).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::Database(format!(
                "{} is a symbolic link; the store must be a regular file",
                file.display()
            )));
        }
        let db = Database::create(&file)?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        Ok(db)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir).map_err(io)?;
        Ok(Database::create(dir.join(DB_FILE))?)
    }
}

impl Store {
    /// Opens or creates the store in `dir` and unlocks it with the KEK from `source`.
    pub fn open(
        dir: &Path,
        source: &KekSource,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Self> {
        let db = open_database(dir)?;
        Self::refuse_unfinished_restore(&db)?;
        let salt = Self::salt(&db, rng)?;
        let kek = match source {
            KekSource::KeyFile(path) => Kek::from_key_file_content(&read_file(path)?)?,
            KekSource::PassphraseFile(path) => {
                let mut text = read_file(path)?;
                // The password rule of `crate::files`: trailing line endings are not part of it.
                while matches!(text.last(), Some(b'\n' | b'\r')) {
                    text.pop();
                }
                Kek::from_passphrase(&text, &salt)?
            }
        };
        Self::unlock(db, kek, rng)
    }

    /// Opens a store with a KEK the caller already holds (tests, tools).
    pub fn open_with_kek(
        dir: &Path,
        kek: Kek,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Self> {
        let db = open_database(dir)?;
        Self::refuse_unfinished_restore(&db)?;
        Self::unlock(db, kek, rng)
    }

    fn refuse_unfinished_restore(db: &Database) -> Result<()> {
        if Self::read_meta_in(db, RESTORE_MARK)?.is_some() {
            return Err(Error::Database(
                "a restore into this data directory did not finish: run it again (or remove the \
                 empty store.redb it left)"
                    .into(),
            ));
        }
        Ok(())
    }

    fn salt(db: &Database, rng: &mut (impl RngCore + CryptoRng)) -> Result<[u8; 16]> {
        if let Some(salt) = Self::read_meta_in(db, SALT_KEY)? {
            return salt
                .as_slice()
                .try_into()
                .map_err(|_| Error::Corrupt("kek salt"));
        }
        let mut salt = [0u8; 16];
        rng.fill_bytes(&mut salt);
        let tx = db.begin_write()?;
        tx.open_table(META)?.insert(SALT_KEY, salt.as_slice())?;
        tx.commit()?;
        Ok(salt)
    }

    fn unlock(db: Database, kek: Kek, rng: &mut (impl RngCore + CryptoRng)) -> Result<Self> {
        match Self::read_meta_in(&db, CHECK_KEY)? {
            Some(sealed) => {
                let value = kek.open(CHECK_AAD, &sealed).map_err(|_| Error::WrongKek)?;
                if value.as_slice() != CHECK_VALUE {
                    return Err(Error::WrongKek);
                }
            }
            None => {
                let sealed = kek.seal(CHECK_AAD, CHECK_VALUE, rng)?;
                let tx = db.begin_write()?;
                tx.open_table(META)?.insert(CHECK_KEY, sealed.as_slice())?;
                tx.commit()?;
            }
        }
        Ok(Self { db, kek })
    }

    fn read_meta_in(db: &Database, key: &str) -> Result<Option<Vec<u8>>> {
        let tx = db.begin_read()?;
        let table = match tx.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(table.get(key)?.map(|v| v.value().to_vec()))
    }

    /// The database, for the service's own tables. Commits are durable (fsync) by default.
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// Compacts the file, so pages freed by deletions stop holding old (sealed) bytes. Needs
    /// exclusive access: call it at start-up.
    pub fn compact(&mut self) -> Result<()> {
        self.db
            .compact()
            .map(|_| ())
            .map_err(|e| Error::Database(e.to_string()))
    }

    /// Whether this store's KEK opens `db`'s check value (a copy of this store opens; another
    /// store, or an uninitialised file, does not).
    pub fn opens(&self, db: &Database) -> Result<()> {
        let sealed = Self::read_meta_in(db, CHECK_KEY)?.ok_or(Error::WrongKek)?;
        let value = self
            .kek
            .open(CHECK_AAD, &sealed)
            .map_err(|_| Error::WrongKek)?;
        if value.as_slice() != CHECK_VALUE {
            return Err(Error::WrongKek);
        }
        Ok(())
    }

    /// Serves `db` from now on instead of the present database, which is returned (to be
    /// dropped, releasing its file). For a copy of this store already checked with
    /// [`Store::opens`] and installed under the store's file name.
    pub fn swap_database(&mut self, db: Database) -> Database {
        std::mem::replace(&mut self.db, db)
    }

    /// The KEK, for sealing and opening the service's secret records.
    pub fn kek(&self) -> &Kek {
        &self.kek
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn a_killed_restores_placeholder_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        {
            let db = Database::create(data.join(DB_FILE)).unwrap();
            let tx = db.begin_write().unwrap();
            tx.open_table(META)
                .unwrap()
                .insert(RESTORE_MARK, [1u8].as_slice())
                .unwrap();
            tx.commit().unwrap();
        }
        let key = dir.path().join("kek");
        std::fs::write(&key, [5u8; 32]).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        let opened = Store::open(&data, &KekSource::KeyFile(key), &mut rng);
        assert!(
            matches!(&opened, Err(Error::Database(m)) if m.contains("restore")),
            "{:?}",
            opened.err()
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_store_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let elsewhere = dir.path().join("elsewhere.redb");
        std::os::unix::fs::symlink(&elsewhere, data.join(DB_FILE)).unwrap();
        let key = dir.path().join("kek");
        std::fs::write(&key, [5u8; 32]).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let opened = Store::open(&data, &KekSource::KeyFile(key), &mut rng);
        assert!(
            matches!(&opened, Err(Error::Database(m)) if m.contains("symbolic link")),
            "{:?}",
            opened.err()
        );
        assert!(!elsewhere.exists(), "nothing written through the link");
    }

    #[test]
    fn reopening_needs_the_same_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let pass = dir.path().join("pass");
        std::fs::write(&pass, "correct horse\n").unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let source = KekSource::PassphraseFile(pass.clone());
        let data = dir.path().join("data");
        let store = Store::open(&data, &source, &mut rng).unwrap();
        let sealed = store.kek().seal(b"a", b"b", &mut rng).unwrap();
        drop(store);
        // Same passphrase without the newline: same KEK.
        std::fs::write(&pass, "correct horse").unwrap();
        let again = Store::open(&data, &source, &mut rng).unwrap();
        assert_eq!(again.kek().open(b"a", &sealed).unwrap().as_slice(), b"b");
        drop(again);
        std::fs::write(&pass, "wrong horse").unwrap();
        assert!(matches!(
            Store::open(&data, &source, &mut rng),
            Err(Error::WrongKek)
        ));
    }

    #[test]
    fn reopening_needs_the_same_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("kek");
        std::fs::write(&key, [5u8; 32]).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let data = dir.path().join("data");
        Store::open(&data, &KekSource::KeyFile(key.clone()), &mut rng).unwrap();
        std::fs::write(&key, [6u8; 32]).unwrap();
        assert!(matches!(
            Store::open(&data, &KekSource::KeyFile(key), &mut rng),
            Err(Error::WrongKek)
        ));
        let missing = KekSource::KeyFile(dir.path().join("missing"));
        assert!(matches!(
            Store::open(&data, &missing, &mut rng),
            Err(Error::KekSource(_))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn the_directory_and_the_database_are_private_even_if_they_were_not() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("kek");
        std::fs::write(&key, [5u8; 32]).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let data = dir.path().join("a").join("data");
        drop(Store::open(&data, &KekSource::KeyFile(key.clone()), &mut rng).unwrap());
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join(DB_FILE)), 0o600);
        // Loosened by hand (a copy, a restore): tightened again at the next open.
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(data.join(DB_FILE), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        drop(Store::open(&data, &KekSource::KeyFile(key), &mut rng).unwrap());
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join(DB_FILE)), 0o600);
    }
}
