//! The single writer: every state change, nonce use and audit record goes through one thread
//! that puts whatever is waiting into one redb transaction (group commit). A request gets its
//! answer only after its batch is durable, so nothing acknowledged is lost on a crash, and checks
//! ("nonce unused", "no key yet") run inside the same transaction as the writes they guard.

use crate::apikeys::{ApiKeyRecord, API_KEYS};
use crate::audit::{AuditEntry, AuditLog};
use crate::error::ServiceError;
use crate::keyring::{secret_row, KeyRecord, VersionState, KEYS, SECRETS};
use alloy_primitives::Address;
use kms_store::nonces::NonceTable;
use kms_store::redb::{ReadableTable, WriteTransaction};
use kms_store::Store;
use std::sync::{mpsc, Arc};
use tokio::sync::oneshot;

/// eoa (20) || nonce (8) -> deadline, and the same in expiry order (`kms_store::nonces`).
pub(crate) const NONCES: NonceTable = NonceTable::new("nonces", "nonce_expiry");

const PRUNE_PER_BATCH: usize = 256;

/// Replay protection of one request.
#[derive(Clone, Copy, Debug)]
pub struct Nonce {
    /// The EOA that signed the request (nonces are per EOA).
    pub eoa: Address,
    /// The request's nonce.
    pub nonce: u64,
    /// The request's deadline, Unix seconds; the used nonce is kept at least until then.
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
    /// A key was used: consume the nonce (an EOA-signed request), or check that the API key the
    /// request came with is still live in the same transaction as the use's record, so a use
    /// never lands after the revocation it raced with.
    UseKey {
        /// The request's nonce, consumed; None for an API-key request (its token is the proof).
        nonce: Option<Nonce>,
        /// The operator and version used: the stored record must still allow it (a version
        /// retired while the request was on its way is refused, not used).
        key: (Address, u32),
        /// The record of the use (its `api_key` names the API key, if any).
        audit: AuditEntry,
    },
    /// Store a new API key.
    CreateApiKey {
        /// The request's nonce, consumed with the write.
        nonce: Nonce,
        /// The new record (holding only the token's hash).
        record: ApiKeyRecord,
        /// The record of the creation.
        audit: AuditEntry,
    },
    /// Mark an API key revoked; refused if the EOA holds no live key with that id.
    RevokeApiKey {
        /// The request's nonce, consumed with the write.
        nonce: Nonce,
        /// The EOA that must own the key.
        eoa: Address,
        /// The key's id.
        id: String,
        /// The revocation time, Unix seconds.
        at: u64,
        /// The record of the revocation.
        audit: AuditEntry,
    },
    /// Consume the nonce of a request that only reads (listing API keys).
    Spend {
        /// The request's nonce, consumed.
        nonce: Nonce,
        /// The record of the request.
        audit: AuditEntry,
    },
    /// Only record a refused request.
    Refused {
        /// The record of the refusal.
        audit: AuditEntry,
    },
    /// Store a new key; refused if the EOA already has one.
    CreateKey {
        /// The request's nonce, consumed with the write; None for a host import.
        nonce: Option<Nonce>,
        /// The new key's record (its one version is the latest).
        record: KeyRecord,
        /// The sealed secret of the record's latest version.
        sealed: Vec<u8>,
        /// The record of the creation.
        audit: AuditEntry,
    },
    /// Replace a key record (rotation, retirement) if the stored one still equals `expected`.
    UpdateKey {
        /// The request's nonce, consumed with the write; None for background changes.
        nonce: Option<Nonce>,
        /// The record as read before the change; if the stored one differs, the change is refused
        /// with `ConcurrentUpdate`.
        expected: KeyRecord,
        /// The replacement record.
        record: KeyRecord,
        /// A new version's number and sealed secret, to store.
        new_secret: Option<(u32, Vec<u8>)>,
        /// A version whose sealed secret is deleted (retirement).
        drop_secret: Option<u32>,
        /// The record of the change.
        audit: AuditEntry,
    },
}

/// The writer: one thread that takes whatever requests are waiting, applies them in one
/// transaction and answers each. A request costs its caller one channel send and one wake-up;
/// the thread's own wake-ups are one per batch, and none while it is busy committing.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

/// What runs on the writer's thread once an op is durable, before it is answered.
pub type AfterCommit = Box<dyn FnOnce() + Send>;

struct Job {
    op: Op,
    then: Option<AfterCommit>,
    answer: oneshot::Sender<Result<(), ServiceError>>,
}

/// Its last holder stops the thread and waits for it, so the store is released when the last
/// `Ledger` is dropped (a restart in the same process can open it again at once).
struct Inner {
    queue: Option<mpsc::SyncSender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(t) = self.thread.take() {
            // Never the writer joining itself (a `then` closure that held the last Ledger).
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

/// The most requests one transaction takes (a bound on a batch's latency, not a tuning knob).
const MAX_BATCH: usize = 512;

/// The most requests waiting for the writer. Beyond it a request is refused (`overloaded`)
/// rather than queued: requests whose callers hung up still wait their turn, so without a
/// bound a flood of them would grow memory as fast as the disk falls behind.
const MAX_QUEUED: usize = 16 * MAX_BATCH;

pub use kms_api::time::unix_now as now;

impl Ledger {
    /// The writer over `store`, appending to `audit`, on a thread of its own.
    pub fn start(store: Arc<Store>, audit: AuditLog) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::sync_channel(MAX_QUEUED);
        let thread = std::thread::Builder::new()
            .name("ledger".into())
            .spawn(move || writer(&store, audit, &jobs))?;
        Ok(Self {
            inner: Arc::new(Inner {
                queue: Some(queue),
                thread: Some(thread),
            }),
        })
    }

    /// Applies `op` and waits until it is durable.
    pub async fn submit(&self, op: Op) -> Result<(), ServiceError> {
        self.queue(op, None).await
    }

    /// Applies `op` and, once it is durable, runs `then` (the in-memory side of the change) on
    /// the writer's thread before answering. `then` runs even if the caller stopped waiting (a
    /// client that hung up), so memory never lags a committed change, and before the next
    /// batch.
    pub async fn submit_then(
        &self,
        op: Op,
        then: impl FnOnce() + Send + 'static,
    ) -> Result<(), ServiceError> {
        self.queue(op, Some(Box::new(then))).await
    }

    /// Queues `op` at once; the returned [`Commit`] answers when it is durable. Lets a caller
    /// overlap its own work (the signature) with the commit's fsync, releasing nothing before
    /// the answer.
    pub fn enqueue(&self, op: Op) -> Result<Commit, ServiceError> {
        self.send(op, None)
    }

    async fn queue(&self, op: Op, then: Option<AfterCommit>) -> Result<(), ServiceError> {
        self.send(op, then)?.durable().await
    }

    fn send(&self, op: Op, then: Option<AfterCommit>) -> Result<Commit, ServiceError> {
        let (answer, answered) = oneshot::channel();
        self.inner
            .queue
            .as_ref()
            .ok_or_else(|| ServiceError::internal("the ledger thread is not running"))?
            .try_send(Job { op, then, answer })
            .map_err(|e| match e {
                mpsc::TrySendError::Full(_) => ServiceError::Overloaded,
                mpsc::TrySendError::Disconnected(_) => {
                    ServiceError::internal("the ledger thread stopped")
                }
            })?;
        Ok(Commit(answered))
    }
}

/// A queued op's answer, to await before anything that depends on it leaves the service.
#[must_use = "an op's outcome must be awaited before its result is released"]
pub struct Commit(oneshot::Receiver<Result<(), ServiceError>>);

impl Commit {
    /// Waits until the op is durable (or refused).
    pub async fn durable(self) -> Result<(), ServiceError> {
        self.0
            .await
            .map_err(|_| ServiceError::internal("the ledger dropped a request unanswered"))?
    }
}

/// The thread: a batch is everything queued when the previous commit ended. On a storage
/// failure (or a panic) nothing of the batch is written, the audit chain's head goes back to
/// where it was, every request of the batch gets an internal error, and the next batch goes on.
fn writer(store: &Store, mut audit: AuditLog, jobs: &mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let ops: Vec<&Op> = batch.iter().map(|j| &j.op).collect();
        let head = audit.head();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_batch(store, &mut audit, &ops)
        }));
        // `run_batch` answers every op or fails before its commit, so the head goes back only
        // over a batch that wrote nothing.
        let answers = match outcome {
            Ok(Ok(answers)) => answers,
            failed => {
                audit.reset(head);
                let why = match failed {
                    Ok(Err(e)) => format!("ledger batch failed, nothing written: {e:#}"),
                    _ => "ledger batch panicked, nothing written".to_owned(),
                };
                let e = ServiceError::internal(why);
                vec![Err(e); batch.len()]
            }
        };
        // A job left without an answer (never, by construction) gets none: its caller sees the
        // dropped sender as an internal error.
        for (job, answer) in batch.into_iter().zip(answers) {
            let answer = match (answer, job.then) {
                (Ok(()), Some(then)) => {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(then)).map_err(|_| {
                        ServiceError::internal("a committed change's memory update panicked")
                    })
                }
                (answer, _) => answer,
            };
            // A caller that gave up (its request was cancelled) needs no answer.
            let _ = job.answer.send(answer);
        }
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
    // Read once: the floor moves only when this batch prunes, after its ops.
    let at = At {
        now: time,
        floor: NONCES.floor(&tx)?,
    };
    let mut results = Vec::with_capacity(jobs.len());
    for op in jobs.iter().copied() {
        let (entry, result) = match apply(&tx, op, &at) {
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
        | Op::CreateApiKey { audit, .. }
        | Op::RevokeApiKey { audit, .. }
        | Op::Spend { audit, .. }
        | Op::Refused { audit }
        | Op::CreateKey { audit, .. }
        | Op::UpdateKey { audit, .. } => audit.clone(),
    };
    if entry.outcome.is_empty() || outcome != "ok" {
        entry.outcome = outcome.to_owned();
    }
    entry
}

/// Whether the request's nonce was already spent (a read outside the writer; the commit still
/// decides). Lets a replay be refused before it costs its EOA any rate budget.
pub fn nonce_spent(store: &Store, n: &Nonce) -> bool {
    use kms_store::redb::ReadableDatabase;
    store
        .db()
        .begin_read()
        .ok()
        .and_then(|tx| NONCES.was_used(&tx, &nonce_key(n)).ok())
        .unwrap_or(false)
}

fn nonce_key(n: &Nonce) -> Vec<u8> {
    let mut k = n.eoa.as_slice().to_vec();
    k.extend_from_slice(&n.nonce.to_be_bytes());
    k
}

/// The deadline is checked again here, at the commit's time: the table forgets a nonce once its
/// deadline passed, so only this check keeps a request that waited past its deadline (or a replay
/// of one whose row was pruned) from being spent.
fn consume_nonce(tx: &WriteTransaction, n: &Nonce, at: &At) -> Result<(), Fail> {
    // Not after the latest deadline pruned either: its nonce may be forgotten (a clock that
    // stepped forward and back), see `NonceTable::floor`.
    if n.deadline <= at.now.max(at.floor) {
        return Err(Fail::Refuse(ServiceError::Expired));
    }
    if NONCES.consume(tx, &nonce_key(n), n.deadline)? {
        Ok(())
    } else {
        Err(Fail::Refuse(ServiceError::NonceReused))
    }
}

/// A batch's time and its nonce floor.
struct At {
    now: u64,
    floor: u64,
}

fn read_api_key(tx: &WriteTransaction, id: &str) -> Result<Option<ApiKeyRecord>, Fail> {
    Ok(tx
        .open_table(API_KEYS)?
        .get(id)?
        .map(|v| serde_json::from_slice(v.value()))
        .transpose()?)
}

/// Checks first, then writes, so a refused op leaves nothing behind in the shared transaction.
fn apply(tx: &WriteTransaction, op: &Op, at: &At) -> Result<(), Fail> {
    match op {
        Op::Refused { .. } => Ok(()),
        Op::Spend { nonce, .. } => consume_nonce(tx, nonce, at),
        Op::UseKey { nonce, key, audit } => {
            let (eoa, version) = key;
            let stored: Option<KeyRecord> = tx
                .open_table(KEYS)?
                .get(eoa.as_slice())?
                .map(|v| serde_json::from_slice(v.value()))
                .transpose()?;
            let usable = stored
                .as_ref()
                .and_then(|r| r.versions.iter().find(|v| v.version == *version))
                .is_some_and(|v| match v.state {
                    VersionState::Active => true,
                    VersionState::Grace { until } => until > at.now,
                    VersionState::Retired { .. } => false,
                });
            if !usable {
                return Err(Fail::Refuse(ServiceError::KeyRetired));
            }
            if let Some(n) = nonce {
                consume_nonce(tx, n, at)?;
            }
            if let Some(id) = &audit.api_key {
                let record =
                    read_api_key(tx, id)?.ok_or(Fail::Refuse(ServiceError::InvalidApiKey))?;
                record.live(at.now).map_err(Fail::Refuse)?;
            }
            Ok(())
        }
        Op::CreateApiKey { nonce, record, .. } => {
            // The per-EOA cap is checked before the submit, creations one at a time (a map scan,
            // outside the writer); here only what must be atomic with the write: the id is new.
            if read_api_key(tx, &record.id)?.is_some() {
                return Err(Fail::Refuse(ServiceError::ApiKeyExists));
            }
            consume_nonce(tx, nonce, at)?;
            let json = serde_json::to_vec(record)?;
            tx.open_table(API_KEYS)?
                .insert(record.id.as_str(), json.as_slice())?;
            Ok(())
        }
        Op::RevokeApiKey {
            nonce,
            eoa,
            id,
            at: revoked,
            ..
        } => {
            let mut record = match read_api_key(tx, id)? {
                Some(r) if r.eoa == *eoa && r.revoked_at.is_none() => r,
                _ => return Err(Fail::Refuse(ServiceError::UnknownApiKey)),
            };
            consume_nonce(tx, nonce, at)?;
            record.revoked_at = Some(*revoked);
            let json = serde_json::to_vec(&record)?;
            tx.open_table(API_KEYS)?
                .insert(record.id.as_str(), json.as_slice())?;
            Ok(())
        }
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
                consume_nonce(tx, n, at)?;
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
                consume_nonce(tx, n, at)?;
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
                // Its bytes stay in freed pages until the store is rewritten at the next start.
                tx.open_table(kms_store::META)?
                    .insert(crate::backup::SECRETS_FREED, [1u8].as_slice())?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apikeys::ApiKeyRecord;

    fn store() -> (tempfile::TempDir, Arc<Store>) {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("kek");
        std::fs::write(&key, [7u8; 32]).unwrap();
        let store = Arc::new(
            Store::open(
                &dir.path().join("data"),
                &kms_store::KekSource::KeyFile(key),
                &mut rand_core::OsRng,
            )
            .unwrap(),
        );
        // Address::ZERO holds key version 1, active, as the uses below name it.
        put_key(&store, VersionState::Active);
        (dir, store)
    }

    /// Stores Address::ZERO's key record: version 1 in `state`.
    fn put_key(store: &Store, state: VersionState) {
        let sk = kms_crypto::bn254::SecretKey::random(&mut rand_core::OsRng);
        let mut v = crate::keyring::version_record(1, now(), &sk);
        v.state = state;
        let record = KeyRecord {
            eoa: Address::ZERO,
            versions: vec![v],
        };
        let tx = store.db().begin_write().unwrap();
        tx.open_table(KEYS)
            .unwrap()
            .insert(
                Address::ZERO.as_slice(),
                serde_json::to_vec(&record).unwrap().as_slice(),
            )
            .unwrap();
        tx.commit().unwrap();
    }

    fn ledger() -> (tempfile::TempDir, Ledger) {
        let (dir, store) = store();
        let audit = AuditLog::open(&store).unwrap();
        (dir, Ledger::start(store, audit).unwrap())
    }

    fn entry(api_key: Option<&str>) -> AuditEntry {
        AuditEntry {
            eoa: Address::ZERO.to_checksum(None),
            op: "SignHash",
            key_version: 1,
            request_digest: String::new(),
            outcome: String::new(),
            api_key: api_key.map(str::to_owned),
        }
    }

    fn nonce(n: u64, deadline: u64) -> Nonce {
        Nonce {
            eoa: Address::ZERO,
            nonce: n,
            deadline,
        }
    }

    #[tokio::test]
    async fn a_nonce_past_its_deadline_at_commit_time_is_not_spent() {
        let (_d, ledger) = ledger();
        let late = Op::UseKey {
            key: (Address::ZERO, 1),
            nonce: Some(nonce(1, now())),
            audit: entry(None),
        };
        assert_eq!(ledger.submit(late).await, Err(ServiceError::Expired));
        let fresh = Op::UseKey {
            key: (Address::ZERO, 1),
            nonce: Some(nonce(2, now() + 60)),
            audit: entry(None),
        };
        assert_eq!(ledger.submit(fresh).await, Ok(()));
        let again = Op::UseKey {
            key: (Address::ZERO, 1),
            nonce: Some(nonce(2, now() + 60)),
            audit: entry(None),
        };
        assert_eq!(ledger.submit(again).await, Err(ServiceError::NonceReused));
    }

    /// A clock that stepped forward (pruning nonces early) and back cannot revive them: a
    /// deadline not after the latest one pruned is refused, and later ones still pass.
    #[tokio::test]
    async fn a_clock_that_steps_back_does_not_reopen_pruned_nonces() {
        let (_dir, store) = store();
        let ledger = Ledger::start(store.clone(), AuditLog::open(&store).unwrap()).unwrap();
        let seen = || Op::UseKey {
            key: (Address::ZERO, 1),
            nonce: Some(nonce(1, now() + 60)),
            audit: entry(None),
        };
        assert_eq!(ledger.submit(seen()).await, Ok(()));
        // A commit made while the clock read 1000 s ahead prunes that nonce.
        let tx = store.db().begin_write().unwrap();
        assert_eq!(NONCES.prune(&tx, now() + 1000, 16).unwrap(), 1);
        tx.commit().unwrap();
        // Back at the right time: the replay is refused, a fresh request with a later deadline
        // is not.
        assert_eq!(ledger.submit(seen()).await, Err(ServiceError::Expired));
        let later = Op::UseKey {
            key: (Address::ZERO, 1),
            nonce: Some(nonce(2, now() + 120)),
            audit: entry(None),
        };
        assert_eq!(ledger.submit(later).await, Ok(()));
    }

    /// Concurrent requests share batches and each gets its own answer: of two uses of one
    /// nonce sent at once, exactly one is spent, whichever batch each lands in.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_get_their_own_answers() {
        let (_d, ledger) = ledger();
        let deadline = now() + 60;
        let tasks: Vec<_> = (0..200u64)
            .map(|i| {
                let ledger = ledger.clone();
                tokio::spawn(async move {
                    let op = Op::UseKey {
                        key: (Address::ZERO, 1),
                        nonce: Some(nonce(i / 2, deadline)),
                        audit: entry(None),
                    };
                    (i / 2, ledger.submit(op).await)
                })
            })
            .collect();
        let mut spent = std::collections::BTreeMap::<u64, (u32, u32)>::new();
        for t in tasks {
            let (n, answer) = t.await.unwrap();
            let e = spent.entry(n).or_default();
            match answer {
                Ok(()) => e.0 += 1,
                Err(ServiceError::NonceReused) => e.1 += 1,
                Err(other) => panic!("unexpected answer {other:?}"),
            }
        }
        assert_eq!(spent.len(), 100);
        assert!(spent.values().all(|&c| c == (1, 1)), "{spent:?}");
    }

    /// A batch that fails in storage writes nothing, answers an internal error, leaves the audit
    /// chain's head where it was, and the writer goes on with the next batch.
    #[tokio::test]
    async fn a_failed_batch_writes_nothing_and_the_writer_goes_on() {
        let (_dir, store) = store();
        let ledger = Ledger::start(store.clone(), AuditLog::open(&store).unwrap()).unwrap();
        // A stored key record that does not parse: reading it is a storage failure.
        let tx = store.db().begin_write().unwrap();
        let broken = Address::repeat_byte(9);
        tx.open_table(KEYS)
            .unwrap()
            .insert(broken.as_slice(), b"not json".as_slice())
            .unwrap();
        tx.commit().unwrap();
        let record = KeyRecord {
            eoa: broken,
            versions: vec![],
        };
        let update = Op::UpdateKey {
            nonce: Some(nonce(1, now() + 60)),
            expected: record.clone(),
            record,
            new_secret: None,
            drop_secret: None,
            audit: entry(None),
        };
        assert_eq!(ledger.submit(update).await, Err(ServiceError::Internal));
        // Its nonce was not spent and no audit record was written.
        let again = Op::UseKey {
            key: (Address::ZERO, 1),
            nonce: Some(nonce(1, now() + 60)),
            audit: entry(None),
        };
        assert_eq!(ledger.submit(again).await, Ok(()));
        drop(ledger);
        assert_eq!(crate::audit::verify(&store).unwrap(), 1);
    }

    /// The in-memory side of a change runs once the change is durable even if its caller
    /// stopped waiting (a client that hung up mid-request), and only if the change committed.
    #[tokio::test]
    async fn memory_follows_a_commit_whose_caller_gave_up() {
        use std::future::Future;
        use std::sync::atomic::{AtomicU32, Ordering};
        let (_d, ledger) = ledger();
        let ran = Arc::new(AtomicU32::new(0));
        let op = |n| Op::UseKey {
            key: (Address::ZERO, 1),
            nonce: Some(nonce(n, now() + 60)),
            audit: entry(None),
        };
        let r = ran.clone();
        // Polled once (so queued), then dropped before its answer.
        let mut gave_up = Box::pin(ledger.submit_then(op(1), move || {
            r.fetch_add(1, Ordering::SeqCst);
        }));
        let first =
            std::future::poll_fn(|cx| std::task::Poll::Ready(gave_up.as_mut().poll(cx))).await;
        assert!(first.is_pending());
        drop(gave_up);
        // A refused change runs nothing.
        let r = ran.clone();
        let refused = ledger.submit_then(op(1), move || {
            r.fetch_add(10, Ordering::SeqCst);
        });
        assert_eq!(refused.await, Err(ServiceError::NonceReused));
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    }

    /// The stored key record decides, not the caller's in-memory copy: a version retired (or
    /// whose grace ended) while a request was on its way is refused in the commit, unspent.
    #[tokio::test]
    async fn a_use_of_a_version_retired_meanwhile_is_refused() {
        let (_dir, store) = store();
        let ledger = Ledger::start(store.clone(), AuditLog::open(&store).unwrap()).unwrap();
        let put = |state: VersionState| put_key(&store, state);
        let use_ = |n, version| Op::UseKey {
            key: (Address::ZERO, version),
            nonce: Some(nonce(n, now() + 60)),
            audit: entry(None),
        };
        put(VersionState::Grace { until: now() + 60 });
        assert_eq!(ledger.submit(use_(1, 1)).await, Ok(()));
        // A version the record does not hold.
        assert_eq!(
            ledger.submit(use_(2, 2)).await,
            Err(ServiceError::KeyRetired)
        );
        put(VersionState::Grace { until: now() });
        assert_eq!(
            ledger.submit(use_(3, 1)).await,
            Err(ServiceError::KeyRetired)
        );
        put(VersionState::Retired { at: now() });
        assert_eq!(
            ledger.submit(use_(4, 1)).await,
            Err(ServiceError::KeyRetired)
        );
        // The refused uses spent nothing: their nonces still work once the key is usable.
        put(VersionState::Active);
        assert_eq!(ledger.submit(use_(3, 1)).await, Ok(()));
    }

    /// Dropping the last `Ledger` stops its thread and releases the store: it opens again at once.
    #[tokio::test]
    async fn the_last_ledger_dropped_releases_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let kek = kms_store::KekSource::KeyFile(dir.path().join("kek"));
        std::fs::write(dir.path().join("kek"), [7u8; 32]).unwrap();
        let open =
            || Store::open(&dir.path().join("data"), &kek, &mut rand_core::OsRng).map(Arc::new);
        let store = open().unwrap();
        let ledger = Ledger::start(store.clone(), AuditLog::open(&store).unwrap()).unwrap();
        let second = ledger.clone();
        let op = Op::Spend {
            nonce: nonce(1, now() + 60),
            audit: entry(None),
        };
        assert_eq!(second.submit(op).await, Ok(()));
        drop(store);
        drop(second);
        // One holder left: the thread still serves and holds the store.
        assert!(open().is_err());
        drop(ledger);
        let reopened = open().unwrap();
        assert_eq!(crate::audit::verify(&reopened).unwrap(), 1);
    }

    /// The stored record decides, not the caller's copy: a use that raced a revocation (its
    /// in-memory check passed before the revocation committed) is refused in the commit.
    #[tokio::test]
    async fn a_use_committed_after_a_revocation_is_refused() {
        let (_d, ledger) = ledger();
        let record = ApiKeyRecord {
            created_at: now(),
            eoa: Address::ZERO,
            expires_at: None,
            id: "0011223344556677".into(),
            label: String::new(),
            revoked_at: None,
            scopes: "sign".into(),
            sources: String::new(),
            token_hash: String::new(),
        };
        let create = Op::CreateApiKey {
            nonce: nonce(10, now() + 60),
            record: record.clone(),
            audit: entry(Some(&record.id)),
        };
        assert_eq!(ledger.submit(create).await, Ok(()));
        let use_ = || Op::UseKey {
            key: (Address::ZERO, 1),
            nonce: None,
            audit: entry(Some("0011223344556677")),
        };
        assert_eq!(ledger.submit(use_()).await, Ok(()));
        let revoke = Op::RevokeApiKey {
            nonce: nonce(11, now() + 60),
            eoa: Address::ZERO,
            id: record.id.clone(),
            at: now(),
            audit: entry(Some(&record.id)),
        };
        assert_eq!(ledger.submit(revoke).await, Ok(()));
        assert_eq!(
            ledger.submit(use_()).await,
            Err(ServiceError::ApiKeyRevoked)
        );
        // An id that was never stored is refused the same way as a wrong token.
        let unknown = Op::UseKey {
            key: (Address::ZERO, 1),
            nonce: None,
            audit: entry(Some("ffffffffffffffff")),
        };
        assert_eq!(
            ledger.submit(unknown).await,
            Err(ServiceError::InvalidApiKey)
        );
    }
}
