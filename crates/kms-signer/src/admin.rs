//! Host-side administration over a data directory (the service must be stopped: the database is
//! opened exclusively): import an existing operator key, list keys, verify the audit log.

use crate::audit::{self, AuditEntry, AuditLog};
use crate::keyring::{secret_aad, version_record, KeyRecord, KeyRing};
use crate::ledger::{now, Ledger, Op};
use alloy_primitives::Address;
use anyhow::Context;
use kms_crypto::bn254::SecretKey;
use kms_store::{KekSource, Store};
use std::path::Path;
use std::sync::Arc;

/// Opens the data directory's existing store (a mistyped directory is an error, not a new store).
pub fn open(data_dir: &Path, kek: &KekSource) -> anyhow::Result<Store> {
    anyhow::ensure!(
        data_dir.join(kms_store::DB_FILE).exists(),
        "no store in {}",
        data_dir.display()
    );
    open_or_create(data_dir, kek)
}

/// Opens the data directory, creating its store if there is none (an import into a new service).
pub fn open_or_create(data_dir: &Path, kek: &KekSource) -> anyhow::Result<Store> {
    Store::open(data_dir, kek, &mut rand_core::OsRng)
        .context("opening the data directory (is the service running?)")
}

/// Imports an existing BN254 key as version 1 of `eoa`'s key.
pub async fn import(store: Store, eoa: Address, sk: &SecretKey) -> anyhow::Result<KeyRecord> {
    let store = Arc::new(store);
    let ring = KeyRing::load(&store)?;
    anyhow::ensure!(ring.record(&eoa).is_none(), "{eoa} already has a key");
    let sealed = sk.to_be_bytes().expose(|b| {
        store
            .kek()
            .seal(&secret_aad(&eoa, 1), b, &mut rand_core::OsRng)
    })?;
    let record = KeyRecord {
        eoa,
        versions: vec![version_record(1, now(), sk)],
    };
    let audit_entry = AuditEntry::ok(&eoa, "ImportKey", 1, String::new());
    let ledger = Ledger::start(store.clone(), AuditLog::open(&store)?)?;
    ledger
        .submit(Op::CreateKey {
            nonce: None,
            record: record.clone(),
            sealed,
            audit: audit_entry,
        })
        .await
        .map_err(|e| {
            let e = crate::error::ApiError::from(e);
            anyhow::anyhow!("{}: {}", e.code, e.message)
        })?;
    Ok(record)
}

/// Loads (so unseals and checks) every key and returns the records, sorted by EOA.
pub fn list(store: &Store) -> anyhow::Result<Vec<KeyRecord>> {
    Ok(KeyRing::load(store)?.records())
}

/// Checks the audit log's hash chain ([`audit::verify`]); returns the number of records.
pub fn verify_audit(store: &Store) -> anyhow::Result<u64> {
    audit::verify(store)
}
