//! The single writer: every state change, nonce use and audit record goes through one group
//! commit (`kms_store::group`) that puts whatever is waiting into one redb transaction. A request
//! gets its answer only after its batch is durable, so nothing acknowledged is lost on a crash,
//! and checks ("nonce unused", "no key yet") run inside the same transaction as the writes they
//! guard.

use crate::audit::{AuditEntry, AuditLog};
use crate::error::ServiceError;
use crate::keyring::{secret_row, KeyRecord, KEYS, SECRETS};
use alloy_primitives::Address;
use kms_store::group::GroupCommit;
use kms_store::nonces::NonceTable;
use kms_store::redb::{ReadableTable, WriteTransaction};
use kms_store::Store;
use std::sync::{Arc, Mutex};

/// eoa (20) || nonce (8) -> deadline, and the same in expiry order (`kms_store::nonces`).
const NONCES: NonceTable = NonceTable::new("nonces", "nonce_expiry");

const PRUNE_PER_BATCH: usize = 256;

/// Replay protection of one request.
#[derive(Clone, Copy, Debug)]
pub struct Nonce {
    pub eoa: Address,
    pub nonce: u64,
    pub deadline: u64,
}

impl Nonce {
    /// The nonce of `eoa`'s request.
    pub fn of(eoa: Address, req: &kms_crypto::auth::Request) -> Self {
        let fresh = req.freshness();
        Self {
            eoa,
            nonce: fresh.nonce,
            deadline: fresh.deadline,
        }
    }
}

/// A change to apply atomically with its audit record.
pub enum Op {
    /// A key was used: consume the nonce.
    UseKey { nonce: Nonce, audit: AuditEntry },
    /// Only record a refused request.
    Refused { audit: AuditEntry },
    /// Store a new key; refused if the EOA already has one.
    CreateKey {
        nonce: Option<Nonce>,
        record: KeyRecord,
        sealed: Vec<u8>,
        audit: AuditEntry,
    },
    /// Replace a key record (rotation, retirement) if the stored one still equals `expected`.
    UpdateKey {
        nonce: Option<Nonce>,
        expected: KeyRecord,
        record: KeyRecord,
        new_secret: Option<(u32, Vec<u8>)>,
        drop_secret: Option<u32>,
        audit: AuditEntry,
    },
}

/// The writer: every change goes through one group commit (`kms_store::group`).
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<Store>,
    /// The audit chain's head moves with each commit (held only by the committing caller).
    audit: Mutex<AuditLog>,
    group: GroupCommit<Op, Result<(), ServiceError>>,
}

pub use kms_api::time::unix_now as now;

impl Ledger {
    pub fn start(store: Arc<Store>, audit: AuditLog) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                audit: Mutex::new(audit),
                group: GroupCommit::default(),
            }),
        }
    }

    /// Applies `op` and waits until it is durable.
    pub async fn submit(&self, op: Op) -> Result<(), ServiceError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.group.run(op, |batch| inner.commit(batch)))
            .await
            .map_err(ServiceError::internal)?
            .map_err(|e| {
                ServiceError::internal(format!("ledger batch failed, nothing written: {e}"))
            })?
    }
}

impl Inner {
    /// One transaction for `batch`; on a storage failure nothing of it is written and the audit
    /// chain's head goes back to where it was.
    fn commit(&self, batch: &[&Op]) -> anyhow::Result<Vec<Result<(), ServiceError>>> {
        let mut audit = self
            .audit
            .lock()
            .map_err(|_| anyhow::anyhow!("audit lock poisoned"))?;
        let head = audit.head();
        let outcome = run_batch(&self.store, &mut audit, batch);
        if outcome.is_err() {
            audit.reset(head);
        }
        outcome
    }
}

enum Fail {
    /// The request is refused; record it and go on.
    Refuse(ServiceError),
    /// Storage failed: abort the whole batch.
    Storage(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail::Storage(e.into())
    }
}

fn run_batch(
    store: &Store,
    audit: &mut AuditLog,
    jobs: &[&Op],
) -> anyhow::Result<Vec<Result<(), ServiceError>>> {
    let time = now();
    let tx = store.db().begin_write()?;
    let mut results = Vec::with_capacity(jobs.len());
    for op in jobs.iter().copied() {
        let (entry, result) = match apply(&tx, op, time) {
            Ok(()) => (audit_of(op, "ok"), Ok(())),
            Err(Fail::Refuse(e)) => (audit_of(op, e.code()), Err(e)),
            Err(Fail::Storage(e)) => return Err(e),
        };
        audit.append(&tx, time, entry)?;
        results.push(result);
    }
    // Expired nonces can no longer be replayed: the deadline check refuses them first.
    NONCES.prune(&tx, time, PRUNE_PER_BATCH)?;
    tx.commit()?;
    Ok(results)
}

fn audit_of(op: &Op, outcome: &str) -> AuditEntry {
    let mut entry = match op {
        Op::UseKey { audit, .. }
        | Op::Refused { audit }
        | Op::CreateKey { audit, .. }
        | Op::UpdateKey { audit, .. } => audit.clone(),
    };
    if entry.outcome.is_empty() || outcome != "ok" {
        entry.outcome = outcome.to_owned();
    }
    entry
}

fn nonce_key(n: &Nonce) -> Vec<u8> {
    let mut k = n.eoa.as_slice().to_vec();
    k.extend_from_slice(&n.nonce.to_be_bytes());
    k
}

fn consume_nonce(tx: &WriteTransaction, n: &Nonce) -> Result<(), Fail> {
    if NONCES.consume(tx, &nonce_key(n), n.deadline)? {
        Ok(())
    } else {
        Err(Fail::Refuse(ServiceError::NonceReused))
    }
}

/// Checks first, then writes, so a refused op leaves nothing behind in the shared transaction.
fn apply(tx: &WriteTransaction, op: &Op, _time: u64) -> Result<(), Fail> {
    match op {
        Op::Refused { .. } => Ok(()),
        Op::UseKey { nonce, .. } => consume_nonce(tx, nonce),
        Op::CreateKey {
            nonce,
            record,
            sealed,
            ..
        } => {
            if tx.open_table(KEYS)?.get(record.eoa.as_slice())?.is_some() {
                return Err(Fail::Refuse(ServiceError::KeyExists));
            }
            if let Some(n) = nonce {
                consume_nonce(tx, n)?;
            }
            let json = serde_json::to_vec(record)?;
            tx.open_table(KEYS)?
                .insert(record.eoa.as_slice(), json.as_slice())?;
            let version = record.latest_version();
            tx.open_table(SECRETS)?.insert(
                secret_row(&record.eoa, version).as_slice(),
                sealed.as_slice(),
            )?;
            Ok(())
        }
        Op::UpdateKey {
            nonce,
            expected,
            record,
            new_secret,
            drop_secret,
            ..
        } => {
            let current: Option<KeyRecord> = tx
                .open_table(KEYS)?
                .get(record.eoa.as_slice())?
                .map(|v| serde_json::from_slice(v.value()))
                .transpose()?;
            if current.as_ref() != Some(expected) {
                return Err(Fail::Refuse(ServiceError::ConcurrentUpdate));
            }
            if let Some(n) = nonce {
                consume_nonce(tx, n)?;
            }
            let json = serde_json::to_vec(record)?;
            tx.open_table(KEYS)?
                .insert(record.eoa.as_slice(), json.as_slice())?;
            let mut secrets = tx.open_table(SECRETS)?;
            if let Some((version, sealed)) = new_secret {
                secrets.insert(
                    secret_row(&record.eoa, *version).as_slice(),
                    sealed.as_slice(),
                )?;
            }
            if let Some(version) = drop_secret {
                secrets.remove(secret_row(&record.eoa, *version).as_slice())?;
            }
            Ok(())
        }
    }
}
