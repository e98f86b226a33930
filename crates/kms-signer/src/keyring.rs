//! Operator keys: the persisted records (public parts and version states) and the in-memory view
//! with unsealed secrets that signing uses.
//!
//! A key has versions 1, 2, ...; exactly one is `Active`. Rotation moves the active one to `Grace`
//! (usable when a request names it, until a deadline) and adds a new active version. A version
//! past its grace becomes `Retired`: its public keys stay for verification, its sealed secret is
//! deleted from the store and dropped from memory.

use alloy_primitives::Address;
use kms_crypto::bn254::{G1Point, G2Point, SecretKey};
use kms_store::redb::{ReadableDatabase, ReadableTable, TableDefinition};
use kms_store::Store;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// eoa (20 bytes) -> JSON `KeyRecord`.
pub const KEYS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("keys");
/// eoa (20) || version (4, BE) -> sealed 32-byte secret.
pub const SECRETS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("secrets");

/// Where a key version is in its life (stored as a `state` tag beside the version's fields).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum VersionState {
    /// The version used when a request names none; exactly one per key.
    Active,
    /// Rotated out; still usable when a request names it, until `until`.
    Grace {
        /// End of the grace period, Unix seconds.
        until: u64,
    },
    /// Past its grace: its sealed secret is deleted, its public keys are kept.
    Retired {
        /// When it was retired, Unix seconds.
        at: u64,
    },
}

/// One version of a key as persisted: its number, state and public keys.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct VersionRecord {
    /// The version number, from 1.
    pub version: u32,
    /// When the version was created or imported, Unix seconds.
    pub created_at: u64,
    /// Its state, flattened into the version's JSON.
    #[serde(flatten)]
    pub state: VersionState,
    /// G1 public key, decimal (x, y).
    pub g1: [String; 2],
    /// G2 public key, decimal, Solidity order ([x.c1, x.c0], [y.c1, y.c0]).
    pub g2: [[String; 2]; 2],
}

/// An EOA's key as persisted in [`KEYS`]: public keys and version states, no secrets.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyRecord {
    /// The operator EOA the key belongs to.
    pub eoa: Address,
    /// Every version, retired ones included, in creation order.
    pub versions: Vec<VersionRecord>,
}

impl KeyRecord {
    /// The active version, if any.
    pub fn active(&self) -> Option<&VersionRecord> {
        self.versions
            .iter()
            .find(|v| v.state == VersionState::Active)
    }
    /// The highest version number (0 when there is none).
    pub fn latest_version(&self) -> u32 {
        self.versions.iter().map(|v| v.version).max().unwrap_or(0)
    }
}

/// The record of a new active version `version` of `sk`, created at `created_at` (Unix seconds).
pub fn version_record(version: u32, created_at: u64, sk: &SecretKey) -> VersionRecord {
    let (g1, g2) = (sk.public_g1(), sk.public_g2());
    let (x, y) = g2.to_dec();
    VersionRecord {
        version,
        created_at,
        state: VersionState::Active,
        g1: [g1.x_dec(), g1.y_dec()],
        g2: [x, y],
    }
}

/// The AEAD context of a sealed secret: which EOA and version it belongs to.
pub fn secret_aad(eoa: &Address, version: u32) -> Vec<u8> {
    format!("signer/secret/{eoa:#x}/{version}").into_bytes()
}

/// The [`SECRETS`] key of a version's sealed secret: eoa (20 bytes) || version (4, BE).
pub fn secret_row(eoa: &Address, version: u32) -> Vec<u8> {
    let mut k = eoa.as_slice().to_vec();
    k.extend_from_slice(&version.to_be_bytes());
    k
}

/// One EOA's key in memory.
pub struct KeyEntry {
    /// The persisted record.
    pub record: KeyRecord,
    /// Unsealed secrets by version number, for every version that is not retired.
    pub secrets: HashMap<u32, Arc<SecretKey>>,
}

/// A version's public keys in gnark's compressed form (cerberus names keys by the G1 one), made
/// once when the version is loaded or created, so a request never parses points to find a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GnarkNames {
    /// The G1 public key, compressed.
    pub g1: [u8; 32],
    /// The G2 public key, compressed.
    pub g2: [u8; 64],
}

impl GnarkNames {
    fn of(v: &VersionRecord) -> Option<Self> {
        let g1 = G1Point::from_dec_or_hex(&v.g1[0], &v.g1[1]).ok()?;
        let [x, y] = [&v.g2[0], &v.g2[1]];
        let g2 = G2Point::from_dec_or_hex([&x[0], &x[1]], [&y[0], &y[1]]).ok()?;
        Some(Self {
            g1: g1.to_gnark_compressed(),
            g2: g2.to_gnark_compressed(),
        })
    }
}

/// One version as the cerberus API lists it.
#[derive(Clone, Debug)]
pub struct NamedVersion {
    /// Its compressed public keys.
    pub names: GnarkNames,
    /// Unix seconds at creation.
    pub created_at: u64,
    /// Unix seconds of its last change of state (creation, or retirement).
    pub updated_at: u64,
    /// Whether it can sign (active, or in its grace period).
    pub usable: bool,
}

/// Which version a request may use.
pub enum Usable {
    /// This version (the active one when 0 was asked for) and its secret.
    Key(u32, Arc<SecretKey>),
    /// The EOA has no key.
    UnknownEoa,
    /// The key has no such version (or, for version 0, no active one).
    UnknownVersion,
    /// The version is retired or past its grace period.
    Retired,
}

/// All keys, shared by the request handlers.
#[derive(Default)]
pub struct KeyRing {
    map: RwLock<HashMap<Address, KeyEntry>>,
    /// (EOA, version) -> compressed public keys, for every version ever loaded or created.
    names: RwLock<HashMap<(Address, u32), GnarkNames>>,
    /// Compressed G1 name -> the EOA that holds it (G1 keys are unique: each is sk·G).
    owners: RwLock<HashMap<[u8; 32], Address>>,
}

impl KeyRing {
    /// Loads every record and unseals every secret that is not retired, checking each against
    /// its recorded public key.
    pub fn load(store: &Store) -> anyhow::Result<Self> {
        let ring = KeyRing::default();
        let tx = store.db().begin_read()?;
        let keys = match tx.open_table(KEYS) {
            Ok(t) => t,
            Err(kms_store::redb::TableError::TableDoesNotExist(_)) => return Ok(ring),
            Err(e) => return Err(e.into()),
        };
        let secrets = tx.open_table(SECRETS)?;
        for row in keys.iter()? {
            let (_, v) = row?;
            let record: KeyRecord = serde_json::from_slice(v.value())?;
            let mut entry = KeyEntry {
                record: record.clone(),
                secrets: HashMap::new(),
            };
            for ver in record
                .versions
                .iter()
                .filter(|v| !matches!(v.state, VersionState::Retired { .. }))
            {
                let sealed = secrets
                    .get(secret_row(&record.eoa, ver.version).as_slice())?
                    .ok_or_else(|| {
                        anyhow::anyhow!("secret of {} v{} is missing", record.eoa, ver.version)
                    })?;
                let plain = store
                    .kek()
                    .open(&secret_aad(&record.eoa, ver.version), sealed.value())?;
                let bytes: [u8; 32] = plain.as_slice().try_into()?;
                let sk = SecretKey::from_be_bytes_reduced(&bytes)?;
                anyhow::ensure!(
                    sk.public_g1().x_dec() == ver.g1[0] && sk.public_g1().y_dec() == ver.g1[1],
                    "secret of {} v{} does not match its public key",
                    record.eoa,
                    ver.version
                );
                entry.secrets.insert(ver.version, Arc::new(sk));
            }
            ring.put(entry);
        }
        Ok(ring)
    }

    /// Adds an EOA's entry, replacing any it had.
    pub fn put(&self, entry: KeyEntry) {
        self.name_versions(&entry.record);
        if let Ok(mut m) = self.map.write() {
            m.insert(entry.record.eoa, entry);
        }
    }

    /// A copy of the EOA's key record, if it has a key.
    pub fn record(&self, eoa: &Address) -> Option<KeyRecord> {
        self.map.read().ok()?.get(eoa).map(|e| e.record.clone())
    }

    /// Copies of every key record, sorted by EOA.
    pub fn records(&self) -> Vec<KeyRecord> {
        let mut all: Vec<KeyRecord> = self
            .map
            .read()
            .map(|m| m.values().map(|e| e.record.clone()).collect())
            .unwrap_or_default();
        all.sort_by_key(|r| r.eoa);
        all
    }

    /// The key a request may use: version 0 means the active one; a named version must be active
    /// or in its grace period at `now`.
    pub fn usable(&self, eoa: &Address, version: u32, now: u64) -> Usable {
        let Ok(map) = self.map.read() else {
            return Usable::UnknownEoa;
        };
        let Some(entry) = map.get(eoa) else {
            return Usable::UnknownEoa;
        };
        let found = if version == 0 {
            entry.record.active()
        } else {
            entry.record.versions.iter().find(|v| v.version == version)
        };
        let Some(ver) = found else {
            return Usable::UnknownVersion;
        };
        let in_use = match ver.state {
            VersionState::Active => true,
            VersionState::Grace { until } => now < until,
            VersionState::Retired { .. } => false,
        };
        match (in_use, entry.secrets.get(&ver.version)) {
            (true, Some(sk)) => Usable::Key(ver.version, sk.clone()),
            _ => Usable::Retired,
        }
    }

    /// Computes the compressed names of the record's versions not named yet.
    fn name_versions(&self, record: &KeyRecord) {
        let Ok(mut names) = self.names.write() else {
            return;
        };
        for v in &record.versions {
            if let std::collections::hash_map::Entry::Vacant(slot) =
                names.entry((record.eoa, v.version))
            {
                if let Some(n) = GnarkNames::of(v) {
                    slot.insert(n);
                    if let Ok(mut owners) = self.owners.write() {
                        owners.insert(n.g1, record.eoa);
                    }
                }
            }
        }
    }

    /// The number of the EOA's version whose G1 public key, gnark-compressed, is `name` (any
    /// state; cerberus names keys this way).
    pub fn version_named(&self, eoa: &Address, name: &[u8; 32]) -> Option<u32> {
        let map = self.map.read().ok()?;
        let names = self.names.read().ok()?;
        map.get(eoa)?
            .record
            .versions
            .iter()
            .find(|v| names.get(&(*eoa, v.version)).is_some_and(|n| n.g1 == *name))
            .map(|v| v.version)
    }

    /// The EOA whose key has a version with this compressed G1 name.
    pub fn owner_named(&self, name: &[u8; 32]) -> Option<Address> {
        self.owners.read().ok()?.get(name).copied()
    }

    /// Every version of every key with its compressed names, newest first.
    pub fn named_versions(&self) -> Vec<NamedVersion> {
        let (Ok(map), Ok(names)) = (self.map.read(), self.names.read()) else {
            return Vec::new();
        };
        let mut all: Vec<NamedVersion> = map
            .values()
            .flat_map(|e| {
                let names = &names;
                e.record.versions.iter().filter_map(move |v| {
                    let (updated_at, usable) = match v.state {
                        VersionState::Active | VersionState::Grace { .. } => (v.created_at, true),
                        VersionState::Retired { at } => (at, false),
                    };
                    Some(NamedVersion {
                        names: *names.get(&(e.record.eoa, v.version))?,
                        created_at: v.created_at,
                        updated_at,
                        usable,
                    })
                })
            })
            .collect();
        all.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then(a.names.g1.cmp(&b.names.g1))
        });
        all
    }

    /// Versions whose grace has ended by `now`.
    pub fn expired_grace(&self, now: u64) -> Vec<(Address, u32)> {
        let Ok(map) = self.map.read() else {
            return Vec::new();
        };
        map.values()
            .flat_map(|e| {
                e.record.versions.iter().filter_map(move |v| match v.state {
                    VersionState::Grace { until } if until <= now => {
                        Some((e.record.eoa, v.version))
                    }
                    _ => None,
                })
            })
            .collect()
    }

    /// Active versions created at or before `cutoff` (for scheduled rotation).
    pub fn active_older_than(&self, cutoff: u64) -> Vec<Address> {
        let Ok(map) = self.map.read() else {
            return Vec::new();
        };
        map.values()
            .filter(|e| e.record.active().is_some_and(|a| a.created_at <= cutoff))
            .map(|e| e.record.eoa)
            .collect()
    }

    /// Counts of versions by state, for metrics.
    pub fn counts(&self) -> (u64, u64, u64) {
        let Ok(map) = self.map.read() else {
            return (0, 0, 0);
        };
        let mut c = (0, 0, 0);
        for v in map.values().flat_map(|e| e.record.versions.iter()) {
            match v.state {
                VersionState::Active => c.0 += 1,
                VersionState::Grace { .. } => c.1 += 1,
                VersionState::Retired { .. } => c.2 += 1,
            }
        }
        c
    }
}

impl KeyRing {
    /// Installs a new record with the secret of one new version (after rotation).
    pub fn install_version(&self, record: &KeyRecord, version: u32, sk: Arc<SecretKey>) {
        self.name_versions(record);
        if let Ok(mut m) = self.map.write() {
            let e = m.entry(record.eoa).or_insert_with(|| KeyEntry {
                record: record.clone(),
                secrets: HashMap::new(),
            });
            e.record = record.clone();
            e.secrets.insert(version, sk);
        }
    }

    /// Installs a record in which `version` is retired, dropping that version's secret.
    pub fn retire_version(&self, record: &KeyRecord, version: u32) {
        if let Ok(mut m) = self.map.write() {
            if let Some(e) = m.get_mut(&record.eoa) {
                e.record = record.clone();
                e.secrets.remove(&version);
            }
        }
    }
}
