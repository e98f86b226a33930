//! Replay protection, one design for both services: a request carries a nonce and a deadline;
//! the first use of `(scope, nonce)` records it until the deadline, a second use is refused.
//! Entries whose deadline has passed are pruned in deadline order (a request past its deadline
//! is refused by its deadline check first, so forgetting its nonce is safe), a bounded number
//! per transaction, so the table stays bounded by the validity window.
//!
//! The table works inside the caller's write transaction, so "nonce unused" is checked in the
//! same commit as the effect it guards; each service batches its transactions (group commit).

use crate::Result;
use redb::{ReadableTable, TableDefinition, WriteTransaction};

/// The `nonces` table's row for [`NonceTable::floor`] (no nonce key is empty).
const FLOOR_KEY: &[u8] = b"";

/// Two redb tables: `key -> deadline`, and `deadline ‖ key -> ()` in expiry order.
#[derive(Clone, Copy)]
pub struct NonceTable {
    nonces: TableDefinition<'static, &'static [u8], u64>,
    expiry: TableDefinition<'static, &'static [u8], ()>,
}

impl NonceTable {
    /// The tables' names are part of the service's stored format.
    pub const fn new(nonces: &'static str, expiry: &'static str) -> Self {
        Self {
            nonces: TableDefinition::new(nonces),
            expiry: TableDefinition::new(expiry),
        }
    }

    /// Creates both tables if missing (so later reads find them).
    pub fn create(&self, tx: &WriteTransaction) -> Result<()> {
        tx.open_table(self.nonces)?;
        tx.open_table(self.expiry)?;
        Ok(())
    }

    /// Whether `key` was already used (and is not yet pruned).
    pub fn is_used(&self, tx: &WriteTransaction, key: &[u8]) -> Result<bool> {
        Ok(tx.open_table(self.nonces)?.get(key)?.is_some())
    }

    /// Whether `key` was already used, read outside the writer (a hint only: the write
    /// transaction's [`NonceTable::consume`] decides).
    pub fn was_used(&self, tx: &redb::ReadTransaction, key: &[u8]) -> Result<bool> {
        match tx.open_table(self.nonces) {
            Ok(t) => Ok(t.get(key)?.is_some()),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Copies both tables from a snapshot's read transaction into `dst` (backups: a restored
    /// service must still refuse the nonces it had spent).
    pub fn copy(&self, src: &redb::ReadTransaction, dst: &WriteTransaction) -> Result<()> {
        crate::copy_table(src, dst, self.nonces)?;
        crate::copy_table(src, dst, self.expiry)?;
        Ok(())
    }

    /// The latest deadline pruned so far. A request whose deadline is not after it may have had
    /// its nonce forgotten, so it must be refused however the clock reads now: a clock stepped
    /// forward prunes nonces early, and once stepped back would otherwise accept them again.
    /// Honest requests are refused for at most their validity window after such a step.
    pub fn floor(&self, tx: &WriteTransaction) -> Result<u64> {
        Ok(tx
            .open_table(self.nonces)?
            .get(FLOOR_KEY)?
            .map_or(0, |v| v.value()))
    }

    /// Records `key` until `deadline`; false (and nothing written) if it was already used.
    pub fn consume(&self, tx: &WriteTransaction, key: &[u8], deadline: u64) -> Result<bool> {
        let mut nonces = tx.open_table(self.nonces)?;
        if nonces.get(key)?.is_some() {
            return Ok(false);
        }
        nonces.insert(key, deadline)?;
        let mut by_deadline = deadline.to_be_bytes().to_vec();
        by_deadline.extend_from_slice(key);
        tx.open_table(self.expiry)?
            .insert(by_deadline.as_slice(), ())?;
        Ok(true)
    }

    /// Deletes at most `limit` entries whose deadline is before `now`; returns how many.
    pub fn prune(&self, tx: &WriteTransaction, now: u64, limit: usize) -> Result<usize> {
        let mut expiry = tx.open_table(self.expiry)?;
        let mut nonces = tx.open_table(self.nonces)?;
        let upper = now.to_be_bytes();
        let expired: Vec<Vec<u8>> = expiry
            .range(..upper.as_slice())?
            .take(limit)
            .map(|r| r.map(|(k, _)| k.value().to_vec()))
            .collect::<core::result::Result<_, _>>()?;
        for k in &expired {
            expiry.remove(k.as_slice())?;
            if let Some(key) = k.get(8..) {
                nonces.remove(key)?;
            }
        }
        // In deadline order, so the last one pruned carries the latest deadline.
        let latest = expired
            .last()
            .and_then(|k| k.get(..8))
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes);
        if let Some(latest) = latest {
            let floor = nonces.get(FLOOR_KEY)?.map_or(0, |v| v.value());
            if latest > floor {
                nonces.insert(FLOOR_KEY, latest)?;
            }
        }
        Ok(expired.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::Database;

    const TABLE: NonceTable = NonceTable::new("t_nonces", "t_expiry");

    #[test]
    fn the_floor_is_the_latest_deadline_pruned() {
        let (_d, db) = db();
        let tx = db.begin_write().unwrap();
        TABLE.create(&tx).unwrap();
        assert_eq!(TABLE.floor(&tx).unwrap(), 0);
        assert!(TABLE.consume(&tx, b"a", 100).unwrap());
        assert!(TABLE.consume(&tx, b"b", 200).unwrap());
        // A clock far ahead prunes both; the floor remembers the later deadline.
        assert_eq!(TABLE.prune(&tx, 10_000, 10).unwrap(), 2);
        assert_eq!(TABLE.floor(&tx).unwrap(), 200);
        assert!(!TABLE.is_used(&tx, b"b").unwrap());
        // It never goes down, and the floor row is not a nonce a prune would remove.
        assert!(TABLE.consume(&tx, b"c", 150).unwrap());
        assert_eq!(TABLE.prune(&tx, 10_000, 10).unwrap(), 1);
        assert_eq!(TABLE.floor(&tx).unwrap(), 200);
    }

    fn db() -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("db")).unwrap();
        (dir, db)
    }

    #[test]
    fn a_nonce_is_used_once_until_pruned_after_its_deadline() {
        let (_dir, db) = db();
        let tx = db.begin_write().unwrap();
        assert!(TABLE.consume(&tx, b"app\0n1", 100).unwrap());
        assert!(
            !TABLE.consume(&tx, b"app\0n1", 200).unwrap(),
            "replay in one batch"
        );
        assert!(TABLE.consume(&tx, b"app\0n2", 150).unwrap());
        tx.commit().unwrap();

        let tx = db.begin_write().unwrap();
        assert!(
            !TABLE.consume(&tx, b"app\0n1", 100).unwrap(),
            "replay after commit"
        );
        // At the deadline the entry stays (a request with deadline == now may still be live).
        assert_eq!(TABLE.prune(&tx, 100, 10).unwrap(), 0);
        assert!(TABLE.is_used(&tx, b"app\0n1").unwrap());
        assert_eq!(TABLE.prune(&tx, 101, 10).unwrap(), 1);
        assert!(!TABLE.is_used(&tx, b"app\0n1").unwrap());
        assert!(TABLE.is_used(&tx, b"app\0n2").unwrap());
        tx.commit().unwrap();
    }

    #[test]
    fn pruning_is_bounded_and_in_deadline_order() {
        let (_dir, db) = db();
        let tx = db.begin_write().unwrap();
        for i in 0u64..10 {
            assert!(TABLE.consume(&tx, &i.to_be_bytes(), 10 - i).unwrap());
        }
        assert_eq!(TABLE.prune(&tx, 100, 3).unwrap(), 3);
        // The three earliest deadlines (keys 9, 8, 7) went first.
        for i in 7u64..10 {
            assert!(!TABLE.is_used(&tx, &i.to_be_bytes()).unwrap(), "{i}");
        }
        assert!(TABLE.is_used(&tx, &6u64.to_be_bytes()).unwrap());
        tx.commit().unwrap();
    }
}
