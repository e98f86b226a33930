//! The single writer: every state change, nonce use and audit record goes through one thread that
//! batches whatever is waiting into one redb transaction (group commit). A request gets its answer
//! only after its batch is durable, so nothing acknowledged is lost on a crash, and checks
//! ("nonce unused", "no key yet") run inside the same transaction as the writes they guard.

use crate::audit::{AuditEntry, AuditLog};
use crate::error::ApiError;
use crate::keyring::{secret_row, KeyRecord, KEYS, SECRETS};
use alloy_primitives::Address;
use kms_store::redb::{ReadableTable, TableDefinition, WriteTransaction};
use kms_store::Store;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use tokio::sync::oneshot;

/// eoa (20) || nonce (8) -> deadline.
const NONCES: TableDefinition<&[u8], u64> = TableDefinition::new("nonces");
/// deadline (8) || eoa (20) || nonce (8) -> (), for pruning expired nonces in order.
const NONCE_EXPIRY: TableDefinition<&[u8], ()> = TableDefinition::new("nonce_expiry");

const MAX_BATCH: usize = 512;
const PRUNE_PER_BATCH: usize = 256;

/// Replay protection of one request.
#[derive(Clone, Copy, Debug)]
pub struct Nonce {
    pub eoa: Address,
    pub nonce: u64,
    pub deadline: u64,
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

type Reply = oneshot::Sender<Result<(), ApiError>>;

/// Handle to the writer thread.
#[derive(Clone)]
pub struct Ledger {
    tx: SyncSender<(Op, Reply)>,
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Ledger {
    /// Starts the writer thread.
    pub fn start(store: Arc<Store>, audit: AuditLog) -> Self {
        let (tx, rx) = sync_channel(4096);
        std::thread::Builder::new()
            .name("kms-signer-ledger".into())
            .spawn(move || writer(store, audit, rx))
            .map(|_| ())
            .unwrap_or_else(|e| tracing::error!(error = %e, "cannot start the ledger thread"));
        Self { tx }
    }

    /// Applies `op` and waits until it is durable.
    pub async fn submit(&self, op: Op) -> Result<(), ApiError> {
        let (reply, wait) = oneshot::channel();
        let tx = self.tx.clone();
        // The channel is bounded: wait for room off the async runtime.
        tokio::task::spawn_blocking(move || tx.send((op, reply)).map_err(|_| ()))
            .await
            .map_err(ApiError::internal)?
            .map_err(|_| ApiError::internal("ledger stopped"))?;
        wait.await
            .map_err(|_| ApiError::internal("ledger dropped a request"))?
    }
}

enum Fail {
    /// The request is refused; record it and go on.
    Refuse(ApiError),
    /// Storage failed: abort the whole batch.
    Storage(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail::Storage(e.into())
    }
}

fn writer(store: Arc<Store>, mut audit: AuditLog, rx: Receiver<(Op, Reply)>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let head = audit.head();
        let outcome = run_batch(&store, &mut audit, &jobs);
        match outcome {
            Ok(results) => {
                for ((_, reply), result) in jobs.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                audit.reset(head);
                tracing::error!(error = %e, batch = jobs.len(), "ledger batch failed; nothing in it was written");
                for (_, reply) in jobs {
                    let _ = reply.send(Err(ApiError::internal("storage failure")));
                }
            }
        }
    }
}

fn run_batch(
    store: &Store,
    audit: &mut AuditLog,
    jobs: &[(Op, Reply)],
) -> anyhow::Result<Vec<Result<(), ApiError>>> {
    let time = now();
    let tx = store.db().begin_write()?;
    let mut results = Vec::with_capacity(jobs.len());
    for (op, _) in jobs {
        let (entry, result) = match apply(&tx, op, time) {
            Ok(()) => (audit_of(op, "ok"), Ok(())),
            Err(Fail::Refuse(e)) => (audit_of(op, e.code), Err(e)),
            Err(Fail::Storage(e)) => return Err(e),
        };
        audit.append(&tx, time, entry)?;
        results.push(result);
    }
    prune_nonces(&tx, time)?;
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
    let key = nonce_key(n);
    let mut nonces = tx.open_table(NONCES)?;
    if nonces.get(key.as_slice())?.is_some() {
        return Err(Fail::Refuse(ApiError::conflict(
            "nonce_reused",
            "this nonce was already used by this EOA",
        )));
    }
    nonces.insert(key.as_slice(), n.deadline)?;
    let mut expiry = n.deadline.to_be_bytes().to_vec();
    expiry.extend_from_slice(&key);
    tx.open_table(NONCE_EXPIRY)?.insert(expiry.as_slice(), ())?;
    Ok(())
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
                return Err(Fail::Refuse(ApiError::conflict(
                    "key_exists",
                    "this EOA already has a key; rotate it instead",
                )));
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
                return Err(Fail::Refuse(ApiError::conflict(
                    "concurrent_update",
                    "the key changed meanwhile; retry",
                )));
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

/// Deletes a bounded number of nonces whose deadline has passed (they can no longer be replayed:
/// the deadline check refuses them first).
fn prune_nonces(tx: &WriteTransaction, time: u64) -> anyhow::Result<()> {
    let mut expiry = tx.open_table(NONCE_EXPIRY)?;
    let mut nonces = tx.open_table(NONCES)?;
    let upper = time.to_be_bytes();
    let expired: Vec<Vec<u8>> = expiry
        .range(..upper.as_slice())?
        .take(PRUNE_PER_BATCH)
        .map(|r| r.map(|(k, _)| k.value().to_vec()))
        .collect::<Result<_, _>>()?;
    for k in expired {
        expiry.remove(k.as_slice())?;
        if let Some(nonce_key) = k.get(8..) {
            nonces.remove(nonce_key)?;
        }
    }
    Ok(())
}
