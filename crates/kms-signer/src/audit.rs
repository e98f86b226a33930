//! The append-only, hash-chained audit log.
//!
//! Record i is stored with mac_i = HMAC-SHA256(k_audit, mac_{i-1} || record_i), where k_audit is
//! derived from the KEK, and the head (last seq and mac) is kept beside the log. Editing a record
//! breaks its MAC and every later one; removing one leaves a gap or breaks the chain; removing the
//! tail no longer matches the head. Forging any of it needs the KEK. (Rolling the whole database
//! back to an older copy is not detectable from inside it; anchor the head elsewhere for that.)

use hmac::{Hmac, Mac};
use kms_store::redb::{
    ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};
use kms_store::{Store, META};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// seq (u64) -> JSON of the record and its chain MAC (hex).
pub const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
const HEAD_KEY: &str = "audit_head";
const KEY_LABEL: &[u8] = b"signer/audit-mac";

/// What one request did, as recorded.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditRecord {
    /// Position in the chain, from 0.
    pub seq: u64,
    /// When the record's batch was written, Unix seconds.
    pub time: u64,
    /// The operator EOA, checksummed.
    pub eoa: String,
    /// What was asked or done: a request kind (e.g. `SignHash`, `RotateKey`) or `ImportKey`,
    /// `Retire`, `AutoRotate`.
    pub op: String,
    /// The key version used, created or retired; for a refusal, the version the request named, or
    /// 0 if it was refused before the version was looked at.
    pub key_version: u32,
    /// The request's EIP-712 digest, 0x-hex (the digest of what was signed, for an API key
    /// use); empty when no request was signed (import, retirement, scheduled rotation).
    pub request_digest: String,
    /// "ok" or the error code returned.
    pub outcome: String,
    /// The id of the API key the request came with, if any. Absent from records without one,
    /// so records written before API keys existed keep their bytes (and their MACs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

/// Fields a caller supplies; the log adds seq and time.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    /// The operator EOA, checksummed.
    pub eoa: String,
    /// What was asked or done (see [`AuditRecord::op`]).
    pub op: &'static str,
    /// The key version concerned (see [`AuditRecord::key_version`]).
    pub key_version: u32,
    /// The request's EIP-712 digest, 0x-hex; empty when no request was signed (import,
    /// retirement, scheduled rotation).
    pub request_digest: String,
    /// "ok" or an error code; the ledger fills it in when empty and replaces it when it refuses
    /// the change.
    pub outcome: String,
    /// The id of the API key used (see [`AuditRecord::api_key`]).
    pub api_key: Option<String>,
}

impl AuditEntry {
    /// An "ok" record of `op` for `eoa` (the ledger replaces the outcome if it refuses the
    /// change); `request_digest` is the signed request's digest, or empty.
    pub fn ok(
        eoa: &alloy_primitives::Address,
        op: &'static str,
        key_version: u32,
        request_digest: String,
    ) -> Self {
        Self {
            eoa: eoa.to_checksum(None),
            op,
            key_version,
            request_digest,
            outcome: "ok".into(),
            api_key: None,
        }
    }

    /// The same record, naming the API key the request came with.
    pub fn with_api_key(mut self, id: Option<String>) -> Self {
        self.api_key = id;
        self
    }
}

#[derive(Serialize, Deserialize)]
struct Stored {
    record: AuditRecord,
    mac: String,
}

/// The chain's head: the next sequence number and the last MAC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// The sequence number the next record gets.
    pub next_seq: u64,
    /// The last record's MAC (all zeros before the first record).
    pub mac: [u8; 32],
}

fn mac(
    key: &kms_crypto::Secret<[u8; 32]>,
    prev: &[u8; 32],
    record: &[u8],
) -> anyhow::Result<[u8; 32]> {
    let mut m = key.expose(|k| Hmac::<Sha256>::new_from_slice(k))?;
    m.update(prev);
    m.update(record);
    Ok(m.finalize().into_bytes().into())
}

fn encode_head(h: &Head) -> Vec<u8> {
    let mut v = h.next_seq.to_be_bytes().to_vec();
    v.extend_from_slice(&h.mac);
    v
}

fn decode_head(bytes: &[u8]) -> anyhow::Result<Head> {
    anyhow::ensure!(bytes.len() == 40, "corrupt audit head");
    let (seq, mac) = bytes.split_at(8);
    Ok(Head {
        next_seq: u64::from_be_bytes(seq.try_into()?),
        mac: mac.try_into()?,
    })
}

/// The stored head, if any record was ever written.
pub(crate) fn read_head(tx: &ReadTransaction) -> anyhow::Result<Option<Head>> {
    match tx.open_table(META) {
        Ok(t) => t.get(HEAD_KEY)?.map(|v| decode_head(v.value())).transpose(),
        Err(kms_store::redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Appends records inside the caller's write transaction.
pub struct AuditLog {
    key: kms_crypto::Secret<[u8; 32]>,
    head: Head,
}

impl AuditLog {
    /// Loads the head from the store.
    pub fn open(store: &Store) -> anyhow::Result<Self> {
        let key = store.kek().derive(KEY_LABEL);
        let head = read_head(&store.db().begin_read()?)?;
        Ok(Self {
            key,
            head: head.unwrap_or(Head {
                next_seq: 0,
                mac: [0u8; 32],
            }),
        })
    }

    /// The current head (for rollback when a batch fails to commit).
    pub fn head(&self) -> Head {
        self.head.clone()
    }

    /// Restores a head after a failed commit.
    pub fn reset(&mut self, head: Head) {
        self.head = head;
    }

    /// Appends one record in `tx`.
    pub fn append(
        &mut self,
        tx: &WriteTransaction,
        time: u64,
        entry: AuditEntry,
    ) -> anyhow::Result<()> {
        let record = AuditRecord {
            seq: self.head.next_seq,
            time,
            eoa: entry.eoa,
            op: entry.op.to_owned(),
            key_version: entry.key_version,
            request_digest: entry.request_digest,
            outcome: entry.outcome,
            api_key: entry.api_key,
        };
        let record_bytes = serde_json::to_vec(&record)?;
        let m = mac(&self.key, &self.head.mac, &record_bytes)?;
        let stored = serde_json::to_vec(&Stored {
            record,
            mac: hex::encode(m),
        })?;
        tx.open_table(AUDIT)?
            .insert(self.head.next_seq, stored.as_slice())?;
        self.head = Head {
            next_seq: self.head.next_seq + 1,
            mac: m,
        };
        tx.open_table(META)?
            .insert(HEAD_KEY, encode_head(&self.head).as_slice())?;
        Ok(())
    }
}

/// The chain MAC stored with record `seq`, if there is such a record.
pub(crate) fn record_mac(tx: &ReadTransaction, seq: u64) -> anyhow::Result<Option<[u8; 32]>> {
    let Some(stored) = stored_record(tx, seq)? else {
        return Ok(None);
    };
    let mut mac = [0u8; 32];
    hex::decode_to_slice(&stored.mac, &mut mac)?;
    Ok(Some(mac))
}

fn stored_record(tx: &ReadTransaction, seq: u64) -> anyhow::Result<Option<Stored>> {
    let table = match tx.open_table(AUDIT) {
        Ok(t) => t,
        Err(kms_store::redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let Some(row) = table.get(seq)? else {
        return Ok(None);
    };
    Ok(Some(serde_json::from_slice(row.value())?))
}

/// Checks the whole chain; returns the number of records, or what is wrong and where.
pub fn verify(store: &Store) -> anyhow::Result<u64> {
    let key = store.kek().derive(KEY_LABEL);
    let tx = store.db().begin_read()?;
    let head = read_head(&tx)?;
    let mut prev = [0u8; 32];
    let mut expected_seq = 0u64;
    match tx.open_table(AUDIT) {
        Ok(table) => {
            for row in table.iter()? {
                let (k, v) = row?;
                let seq = k.value();
                anyhow::ensure!(
                    seq == expected_seq,
                    "audit record {expected_seq} is missing (next present: {seq})"
                );
                let stored: Stored = serde_json::from_slice(v.value())
                    .map_err(|_| anyhow::anyhow!("audit record {seq} is not readable"))?;
                anyhow::ensure!(
                    stored.record.seq == seq,
                    "audit record {seq} carries sequence {}",
                    stored.record.seq
                );
                let bytes = serde_json::to_vec(&stored.record)?;
                let m = mac(&key, &prev, &bytes)?;
                anyhow::ensure!(
                    hex::encode(m) == stored.mac,
                    "audit record {seq} was altered or the chain before it was"
                );
                prev = m;
                expected_seq += 1;
            }
        }
        Err(kms_store::redb::TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let head = head.unwrap_or(Head {
        next_seq: 0,
        mac: [0u8; 32],
    });
    anyhow::ensure!(
        head == (Head { next_seq: expected_seq, mac: prev }),
        "the log ends at record {expected_seq} but its head says {}: records were removed from the end",
        head.next_seq
    );
    Ok(expected_seq)
}
