//! What the node keeps on disk (docs 0008): dealer seeds, round journals, finalized epochs with
//! the node's share, and used app nonces. Rows of a round are keyed by (epoch, round digest), so
//! everything of rounds at or before a finalized epoch can be dropped by range; secrets are sealed
//! under the KEK with the table and key as associated data, so a sealed value cannot be moved.

use anyhow::{bail, Context};
use kms_api::batch::{decode_list, encode_list};
use kms_api::releases::ReleaseEntry;
use kms_crypto::bls::{EvalPoint, SecretScalar, Share};
use kms_crypto::Secret;
use kms_protocol::lifecycle::Journal;
use kms_store::group::GroupCommit;
use kms_store::nonces::NonceTable;
use kms_store::redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use kms_store::{KekSource, Store};
use rand_core::{OsRng, RngCore};
use std::path::Path;

/// (epoch, digest) -> sealed dealer seed.
const SEEDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("node_seeds");
/// (epoch, digest) -> the player's decisions (`Player::decisions`), rewritten whole.
const ROUNDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("node_rounds_v3");
/// (epoch, digest, sequence) -> a message the player keeps (deals and logs), appended.
const ROUND_MSGS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("node_round_msgs");
/// (epoch, digest, 0, sequence) -> an ack the dealer accepted, appended;
/// (epoch, digest, 1) -> the log it sent.
const DEALER: TableDefinition<&[u8], &[u8]> = TableDefinition::new("node_dealer_v3");
/// Tables of the journal format before issue 15 (a whole `Player::save` per round, acks as one
/// list): dropped at start-up, since their rounds are over and their messages another version.
const OLD_ROUNDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("node_rounds");
const OLD_DEALER: TableDefinition<&[u8], &[u8]> = TableDefinition::new("node_dealer");
/// epoch -> config, certificate and logs.
const EPOCHS: TableDefinition<u64, &[u8]> = TableDefinition::new("node_epochs");
/// epoch -> sealed share.
const SHARES: TableDefinition<u64, &[u8]> = TableDefinition::new("node_shares");
/// (app id, 0, nonce) -> deadline, and the same in expiry order (`kms_store::nonces`).
const NONCES: NonceTable = NonceTable::new("node_nonces", "node_nonce_expiry");
/// seq → `ReleaseEntry::encode` (docs 0012 §12): every partial this node released, never pruned.
const RELEASES: TableDefinition<u64, &[u8]> = TableDefinition::new("node_releases");

/// A finalized epoch as stored and served at `GET /v1/epochs/{e}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEpoch {
    /// The epoch number.
    pub epoch: u64,
    /// The round config that finalized it (`RoundConfig::encode`).
    pub config: Vec<u8>,
    /// Its certificate (`Certificate::encode`).
    pub certificate: Vec<u8>,
    /// The public polynomial (`Commitment::to_bytes`).
    pub public: Vec<u8>,
    /// The encoded logs of the certificate's dealers, which a peer catches up from.
    pub logs: Vec<Vec<u8>>,
}

impl StoredEpoch {
    fn encode(&self) -> Vec<u8> {
        let mut items = vec![
            self.config.as_slice(),
            self.certificate.as_slice(),
            self.public.as_slice(),
        ];
        items.extend(self.logs.iter().map(Vec::as_slice));
        encode_list(&items)
    }

    fn decode(epoch: u64, bytes: &[u8]) -> anyhow::Result<Self> {
        let mut items = decode_list(bytes)?.into_iter();
        let (Some(config), Some(certificate), Some(public)) =
            (items.next(), items.next(), items.next())
        else {
            bail!("epoch {epoch}: truncated record");
        };
        Ok(Self {
            epoch,
            config,
            certificate,
            public,
            logs: items.collect(),
        })
    }
}

fn round_key(epoch: u64, digest: &[u8; 32]) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..8].copy_from_slice(&epoch.to_be_bytes());
    k[8..].copy_from_slice(digest);
    k
}

fn dealer_key(epoch: u64, digest: &[u8; 32], part: u8) -> Vec<u8> {
    let mut k = round_key(epoch, digest).to_vec();
    k.push(part);
    k
}

/// A key under `prefix` with a big-endian sequence number: rows of one list, in order.
fn seq_key(prefix: &[u8], seq: u32) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The rows under `prefix` (keys `prefix ‖ u32`), in order.
fn rows_under(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    prefix: &[u8],
) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut hi = prefix.to_vec();
    hi.extend_from_slice(&[0xff; 5]);
    t.range(prefix..hi.as_slice())?
        .filter_map(|r| match r {
            Ok((k, v)) if k.value().len() == prefix.len() + 4 => Some(Ok(v.value().to_vec())),
            Ok(_) => None,
            Err(e) => Some(Err(e.into())),
        })
        .collect()
}

/// The next sequence number under `prefix`.
fn next_seq(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    prefix: &[u8],
) -> anyhow::Result<u32> {
    Ok(u32::try_from(rows_under(t, prefix)?.len()).unwrap_or(u32::MAX))
}

fn aad(table: &str, key: &[u8]) -> Vec<u8> {
    format!("node/{table}/{}", hex::encode(key)).into_bytes()
}

/// The node's store.
pub struct NodeStore {
    store: Store,
    nonces: GroupCommit<NonceJob, Spent>,
}

/// One app nonce to record, and what it releases.
struct NonceJob {
    key: Vec<u8>,
    deadline: u64,
    now: u64,
    /// What the nonce releases, if anything.
    release: Option<Release>,
}

/// A release in a nonce job: the evidence to record with it (its key, until when), and the log
/// entry (its `seq` and `prev` are the commit's to set).
struct Release {
    evidence: Option<(Vec<u8>, u64)>,
    entry: ReleaseEntry,
}

/// A log's last entry: its seq and hash.
pub type LogHead = (u64, [u8; 32]);

/// A release to record: the app nonce it spends, the evidence it uses, its log entry.
pub struct Spend {
    /// The app.
    pub app: String,
    /// The request's nonce, kept until `deadline`.
    pub nonce: u64,
    /// The request's deadline.
    pub deadline: u64,
    /// The evidence's unique id, the epoch it is used for, and until when it is kept.
    pub evidence: Option<([u8; 32], u64, u64)>,
    /// The log entry (`seq` and `prev` are set when it is appended).
    pub entry: ReleaseEntry,
}

/// What recording a release did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Spent {
    /// The nonce was used before: nothing recorded.
    NonceReused,
    /// The evidence was used for this epoch before: the nonce is spent, nothing released.
    EvidenceReused,
    /// Recorded, with the log entry as appended.
    Released(Box<ReleaseEntry>),
    /// (`use_nonce` only) The nonce is recorded.
    Fresh,
}

impl NodeStore {
    /// Opens (or creates) the store in `dir`; every table exists afterwards, and redb compacts
    /// so pages freed by earlier deletions do not keep old sealed bytes.
    pub fn open(dir: &Path, kek: &KekSource) -> anyhow::Result<Self> {
        let mut store = Store::open(dir, kek, &mut OsRng).context("opening the data directory")?;
        let tx = store.db().begin_write()?;
        tx.open_table(SEEDS)?;
        tx.open_table(ROUNDS)?;
        tx.open_table(ROUND_MSGS)?;
        tx.open_table(DEALER)?;
        tx.delete_table(OLD_ROUNDS)?;
        tx.delete_table(OLD_DEALER)?;
        tx.open_table(EPOCHS)?;
        tx.open_table(SHARES)?;
        NONCES.create(&tx)?;
        tx.open_table(RELEASES)?;
        tx.commit()?;
        store.compact().context("compacting the store")?;
        Ok(Self {
            store,
            nonces: GroupCommit::default(),
        })
    }

    /// The dealer seed of a round: the stored one, or a fresh one that is durable before this
    /// returns (so a restarted dealer re-sends identical deals, never a second dealing).
    pub fn seed(&self, epoch: u64, digest: &[u8; 32]) -> anyhow::Result<Secret<[u8; 32]>> {
        let key = round_key(epoch, digest);
        let aad = aad("seeds", &key);
        let tx = self.store.db().begin_write()?;
        let seed = {
            let mut t = tx.open_table(SEEDS)?;
            let stored = t.get(key.as_slice())?.map(|v| v.value().to_vec());
            match stored {
                Some(sealed) => {
                    let plain = self.store.kek().open(&aad, &sealed)?;
                    let arr: [u8; 32] = plain.as_slice().try_into().context("seed length")?;
                    return Ok(Secret::new(arr));
                }
                None => {
                    let mut seed = Secret::new([0u8; 32]);
                    seed.expose_mut(|s| OsRng.fill_bytes(s));
                    let sealed = seed.expose(|s| self.store.kek().seal(&aad, s, &mut OsRng))?;
                    t.insert(key.as_slice(), sealed.as_slice())?;
                    seed
                }
            }
        };
        tx.commit()?;
        Ok(seed)
    }

    /// Whether this node dealt or played in the round (a seed or a journal is stored).
    pub fn has_round(&self, epoch: u64, digest: &[u8; 32]) -> anyhow::Result<bool> {
        let key = round_key(epoch, digest);
        let tx = self.store.db().begin_read()?;
        Ok(tx.open_table(SEEDS)?.get(key.as_slice())?.is_some()
            || tx.open_table(ROUNDS)?.get(key.as_slice())?.is_some())
    }

    /// Writes one journal update of a round in one transaction: the decisions (replaced), and
    /// the messages and dealer acks (appended) and the dealer's log, so a restart finds every
    /// decision with what it was made from, or none of it.
    pub fn persist_round(&self, epoch: u64, digest: &[u8; 32], j: &Journal) -> anyhow::Result<()> {
        let key = round_key(epoch, digest);
        let tx = self.store.db().begin_write()?;
        {
            if let Some(d) = &j.decisions {
                tx.open_table(ROUNDS)?
                    .insert(key.as_slice(), d.as_slice())?;
            }
            if !j.messages.is_empty() {
                let mut t = tx.open_table(ROUND_MSGS)?;
                let mut seq = next_seq(&t, &key)?;
                for m in &j.messages {
                    t.insert(seq_key(&key, seq).as_slice(), m.as_slice())?;
                    seq = seq.saturating_add(1);
                }
            }
            let mut t = tx.open_table(DEALER)?;
            if !j.dealer_acks.is_empty() {
                let prefix = dealer_key(epoch, digest, 0);
                let mut seq = next_seq(&t, &prefix)?;
                for a in &j.dealer_acks {
                    t.insert(seq_key(&prefix, seq).as_slice(), a.as_slice())?;
                    seq = seq.saturating_add(1);
                }
            }
            if let Some(log) = &j.dealer_log {
                t.insert(dealer_key(epoch, digest, 1).as_slice(), log.as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Everything persisted of a round (empty if nothing is).
    pub fn round_journal(&self, epoch: u64, digest: &[u8; 32]) -> anyhow::Result<Journal> {
        let key = round_key(epoch, digest);
        let tx = self.store.db().begin_read()?;
        let rounds = tx.open_table(ROUNDS)?;
        let dealer = tx.open_table(DEALER)?;
        Ok(Journal {
            decisions: rounds.get(key.as_slice())?.map(|v| v.value().to_vec()),
            messages: rows_under(&tx.open_table(ROUND_MSGS)?, &key)?,
            dealer_acks: rows_under(&dealer, &dealer_key(epoch, digest, 0))?,
            dealer_log: dealer
                .get(dealer_key(epoch, digest, 1).as_slice())?
                .map(|v| v.value().to_vec()),
        })
    }

    /// Stores a finalized epoch and the node's share in one transaction, then drops what the
    /// retention no longer covers: epochs and shares older than `retention` epochs before this
    /// one, and the seeds and journals of every round up to this epoch.
    pub fn commit_epoch(
        &self,
        record: &StoredEpoch,
        share: Option<&Share>,
        retention: u64,
    ) -> anyhow::Result<Vec<u64>> {
        let tx = self.store.db().begin_write()?;
        {
            tx.open_table(EPOCHS)?
                .insert(record.epoch, record.encode().as_slice())?;
            if let Some(s) = share {
                let key = record.epoch.to_be_bytes();
                let sealed = s.value.expose(|v| {
                    v.to_bytes()
                        .expose(|b| self.store.kek().seal(&aad("shares", &key), b, &mut OsRng))
                })?;
                tx.open_table(SHARES)?
                    .insert(record.epoch, sealed.as_slice())?;
            }
        }
        let dropped = prune(&tx, record.epoch, retention)?;
        tx.commit()?;
        Ok(dropped)
    }

    /// Every retained epoch, oldest first.
    pub fn epochs(&self) -> anyhow::Result<Vec<StoredEpoch>> {
        let tx = self.store.db().begin_read()?;
        let t = tx.open_table(EPOCHS)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (k, v) = row?;
            out.push(StoredEpoch::decode(k.value(), v.value())?);
        }
        Ok(out)
    }

    /// The node's share of `epoch`, if it holds one.
    pub fn share(&self, epoch: u64, point: EvalPoint) -> anyhow::Result<Option<Share>> {
        let tx = self.store.db().begin_read()?;
        let t = tx.open_table(SHARES)?;
        let Some(sealed) = t.get(epoch)?.map(|v| v.value().to_vec()) else {
            return Ok(None);
        };
        let plain = self
            .store
            .kek()
            .open(&aad("shares", &epoch.to_be_bytes()), &sealed)?;
        let value = SecretScalar::from_bytes(&plain).context("stored share")?;
        Ok(Some(Share {
            point,
            value: Secret::new(value),
        }))
    }

    /// Records `nonce` for `app` until `deadline`; false if it was already used. Durable before
    /// it returns. Concurrent callers share one commit (one `fdatasync`): whoever gets the
    /// writer lock commits every request queued by then, and the others find their answer.
    pub fn use_nonce(
        &self,
        app: &str,
        nonce: u64,
        deadline: u64,
        now: u64,
    ) -> anyhow::Result<bool> {
        let job = NonceJob {
            key: nonce_key(app, nonce),
            deadline,
            now,
            release: None,
        };
        Ok(self.commit(job)? == Spent::Fresh)
    }

    /// Whether `nonce` was already used for `app` (a read: a replayed request is refused before
    /// it costs anything; the commit decides).
    pub fn nonce_used(&self, app: &str, nonce: u64) -> anyhow::Result<bool> {
        let tx = self.store.db().begin_read()?;
        Ok(NONCES.was_used(&tx, &nonce_key(app, nonce))?)
    }

    /// Records a release in one commit: spends the nonce, records the evidence as used for its
    /// epoch (`0xff ‖ "evidence" ‖ id ‖ u64be(epoch)` in the nonce table, a prefix no app id can
    /// start with), and appends the log entry. Nothing is appended unless both are fresh; a
    /// fresh nonce is spent even when the evidence was not. Durable before it returns.
    pub fn record_release(&self, spend: Spend, now: u64) -> anyhow::Result<Spent> {
        let evidence = spend.evidence.map(|(id, epoch, until)| {
            let mut key = vec![0xff];
            key.extend_from_slice(b"evidence");
            key.extend_from_slice(&id);
            key.extend_from_slice(&epoch.to_be_bytes());
            (key, until)
        });
        self.commit(NonceJob {
            key: nonce_key(&spend.app, spend.nonce),
            deadline: spend.deadline,
            now,
            release: Some(Release {
                evidence,
                entry: spend.entry,
            }),
        })
    }

    /// The release log from `from` (seq), at most `limit` entries as stored (encoded), and its
    /// head (seq, hash), from one snapshot.
    pub fn releases(
        &self,
        from: u64,
        limit: usize,
    ) -> anyhow::Result<(Vec<Vec<u8>>, Option<LogHead>)> {
        let tx = self.store.db().begin_read()?;
        let table = tx.open_table(RELEASES)?;
        let mut out = Vec::new();
        for row in table.range(from..)?.take(limit) {
            let (_, v) = row?;
            out.push(v.value().to_vec());
        }
        let head = table.last()?.map(|(k, v)| (k.value(), sha256(v.value())));
        Ok((out, head))
    }

    fn commit(&self, job: NonceJob) -> anyhow::Result<Spent> {
        self.nonces
            .run(job, |batch| {
                self.commit_nonces(batch).map_err(|e| format!("{e:#}"))
            })
            .map_err(|e| anyhow::anyhow!("recording the request: {e}"))
    }

    /// One write transaction for a batch of requests; what each did, in order.
    fn commit_nonces(&self, batch: &[&NonceJob]) -> anyhow::Result<Vec<Spent>> {
        let tx = self.store.db().begin_write()?;
        let mut out = Vec::with_capacity(batch.len());
        {
            // A deadline not after the latest one pruned may belong to a forgotten nonce (a
            // clock stepped forward and back): never fresh (`NonceTable::floor`).
            let floor = NONCES.floor(&tx)?;
            let mut log = tx.open_table(RELEASES)?;
            let mut head = match log.last()? {
                None => (0, [0u8; 32]),
                Some((k, v)) => (k.value(), sha256(v.value())),
            };
            for j in batch {
                // A nonce seen earlier in the batch is in the table already.
                if !(j.deadline > floor && NONCES.consume(&tx, &j.key, j.deadline)?) {
                    out.push(Spent::NonceReused);
                    continue;
                }
                let Some(Release { evidence, entry }) = &j.release else {
                    out.push(Spent::Fresh);
                    continue;
                };
                if let Some((key, until)) = evidence {
                    if !(*until > floor && NONCES.consume(&tx, key, *until)?) {
                        out.push(Spent::EvidenceReused);
                        continue;
                    }
                }
                let mut entry = entry.clone();
                entry.seq = head.0 + 1;
                entry.prev = head.1;
                let bytes = entry.encode();
                log.insert(entry.seq, bytes.as_slice())?;
                head = (entry.seq, sha256(&bytes));
                out.push(Spent::Released(Box::new(entry)));
            }
            // Bounded work per request; the table stays bounded by the validity window.
            let now = batch.iter().map(|j| j.now).max().unwrap_or(0);
            NONCES.prune(&tx, now, 64 * batch.len())?;
        }
        tx.commit()?;
        Ok(out)
    }
}

fn nonce_key(app: &str, nonce: u64) -> Vec<u8> {
    let mut key = app.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(&nonce.to_be_bytes());
    key
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

fn prune(tx: &WriteTransaction, epoch: u64, retention: u64) -> anyhow::Result<Vec<u64>> {
    let mut epochs = tx.open_table(EPOCHS)?;
    let mut shares = tx.open_table(SHARES)?;
    // The `retention` newest epochs before this one stay.
    let keep: Vec<u64> = epochs
        .range(..epoch)?
        .rev()
        .take(usize::try_from(retention).unwrap_or(usize::MAX))
        .map(|r| r.map(|(k, _)| k.value()))
        .collect::<Result<_, _>>()?;
    let oldest_kept = keep.last().copied().unwrap_or(epoch);
    let old: Vec<u64> = epochs
        .range(..oldest_kept)?
        .map(|r| r.map(|(k, _)| k.value()))
        .collect::<Result<_, _>>()?;
    for e in &old {
        epochs.remove(*e)?;
        shares.remove(*e)?;
    }
    let upper = (epoch + 1).to_be_bytes();
    for table in [SEEDS, ROUNDS, ROUND_MSGS, DEALER] {
        let mut t = tx.open_table(table)?;
        let done: Vec<Vec<u8>> = t
            .range(..upper.as_slice())?
            .map(|r| r.map(|(k, _)| k.value().to_vec()))
            .collect::<Result<_, _>>()?;
        for k in done {
            t.remove(k.as_slice())?;
        }
    }
    Ok(old)
}

#[cfg(test)]
mod tests;
