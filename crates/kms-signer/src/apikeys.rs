//! Delegated API keys: an operator's EOA signs once (an EIP-712 `CreateApiKey`) and the software
//! on its AVS machine then signs with a bearer token instead of the EOA's key.
//!
//! The client makes the token (`kms_` and 32 random bytes as hex, `kms_crypto::auth::
//! new_api_token`) and keeps it; the EOA signs only its SHA-256, which is all the service stores
//! (the token has 256 bits of entropy, so a plain hash is enough). So the token is in no answer,
//! and a copy of the signed creation is worth nothing without it. The key's id is the hash's
//! first 8 bytes; a presented token is hashed, its record found by that id, and the whole hash
//! compared in constant time. A key is bound to one EOA's operator key, carries scopes, an
//! optional expiry and an optional source-address allowlist.

use crate::error::ServiceError;
use alloy_primitives::Address;
use kms_api::signer::is_api_key_token;
use kms_crypto::auth::{api_key_id, api_token_hash};
use kms_store::redb::{ReadableDatabase, ReadableTable, TableDefinition};
use kms_store::Store;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use subtle::ConstantTimeEq;

/// id (16 hex characters) -> the JSON of its [`ApiKeyRecord`].
pub const API_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("api_keys");

/// The longest label, in bytes.
pub const MAX_LABEL_LEN: usize = 64;
/// The most entries a source allowlist may have.
pub const MAX_SOURCES: usize = 16;
/// The most live API keys one EOA may hold (revoked and expired ones do not count).
pub const MAX_KEYS_PER_EOA: usize = 32;

/// What an API key may do with the operator key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Sign a 32-byte hash (REST `sign`, gRPC `SignGeneric`).
    Sign,
    /// Multiply a caller's G1 point (REST `scalar-mul`, gRPC `SignG1`).
    ScalarMul,
    /// Sign EigenLayer registration messages.
    Registration,
}

impl Scope {
    /// Every scope, in canonical order.
    pub const ALL: [Scope; 3] = [Scope::Sign, Scope::ScalarMul, Scope::Registration];

    /// The scope's name in requests and records.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Sign => "sign",
            Scope::ScalarMul => "scalar-mul",
            Scope::Registration => "registration",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Scope::Sign => 1,
            Scope::ScalarMul => 2,
            Scope::Registration => 4,
        }
    }
}

/// A non-empty set of scopes; its text form is the names in canonical order, comma-separated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    /// Parses `sign,scalar-mul,...`: known names, no repeats, in canonical order (the text is
    /// what the EOA signs, so one set has exactly one spelling).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut bits = 0u8;
        let mut last = None;
        for name in text.split(',') {
            let pos = Scope::ALL
                .iter()
                .position(|s| s.name() == name)
                .ok_or_else(|| {
                    format!("unknown scope {name:?} (sign, scalar-mul, registration)")
                })?;
            if last.is_some_and(|l| pos <= l) {
                return Err(
                    "scopes must be listed once each, as sign,scalar-mul,registration".into(),
                );
            }
            last = Some(pos);
            bits |= Scope::ALL.get(pos).map_or(0, |s| s.bit());
        }
        Ok(Self(bits))
    }

    /// Whether the set holds `scope`.
    pub fn allows(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }
}

/// One allowlist entry: an address or a CIDR block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceRule {
    net: IpAddr,
    prefix: u8,
}

impl SourceRule {
    fn parse(text: &str) -> Result<Self, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let net: IpAddr = addr
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or CIDR block"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?} has a bad prefix length"))?,
            None => max,
        };
        Ok(Self { net, prefix })
    }

    /// Whether `ip` is inside the block (an IPv4-mapped IPv6 address counts as its IPv4 form).
    pub fn matches(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let (a, b, bits) = match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => (
                u128::from(u32::from(n)) << 96,
                u128::from(u32::from(i)) << 96,
                self.prefix,
            ),
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), self.prefix),
            _ => return false,
        };
        let mask = if bits == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(bits))
        };
        a & mask == b & mask
    }
}

/// Parses a comma-separated allowlist; the empty string allows every source.
pub fn parse_sources(text: &str) -> Result<Vec<SourceRule>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let rules = text
        .split(',')
        .map(SourceRule::parse)
        .collect::<Result<Vec<_>, _>>()?;
    if rules.len() > MAX_SOURCES {
        return Err(format!("at most {MAX_SOURCES} source entries"));
    }
    Ok(rules)
}

/// An API key as stored (never the token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Unix seconds at creation.
    pub created_at: u64,
    /// The EOA whose operator key the API key uses.
    pub eoa: Address,
    /// Unix seconds after which the key is refused; None: no expiry.
    pub expires_at: Option<u64>,
    /// The id, 16 hex characters (the token's middle part).
    pub id: String,
    /// A name for people, e.g. the machine it lives on.
    pub label: String,
    /// Unix seconds of the revocation, once revoked.
    pub revoked_at: Option<u64>,
    /// The canonical scope list (see [`Scopes`]).
    pub scopes: String,
    /// The source allowlist as signed (see [`parse_sources`]); empty: any source.
    pub sources: String,
    /// SHA-256 of the token, 0x-hex.
    pub token_hash: String,
}

impl ApiKeyRecord {
    /// Whether the key still works at `now` (not revoked, not expired).
    pub fn live(&self, now: u64) -> Result<(), ServiceError> {
        if self.revoked_at.is_some() {
            return Err(ServiceError::ApiKeyRevoked);
        }
        if self.expires_at.is_some_and(|t| t <= now) {
            return Err(ServiceError::ApiKeyExpired);
        }
        Ok(())
    }
}

/// A record with its scopes and sources parsed once, when it is loaded or changed (not on every
/// use).
#[derive(Debug)]
pub struct ApiKey {
    /// The record as stored.
    pub record: ApiKeyRecord,
    scopes: Scopes,
    sources: Vec<SourceRule>,
}

impl ApiKey {
    /// Parses the record's scopes and sources.
    pub fn new(record: ApiKeyRecord) -> Result<Self, String> {
        Ok(Self {
            scopes: Scopes::parse(&record.scopes)?,
            sources: parse_sources(&record.sources)?,
            record,
        })
    }

    /// Every check a use of the key passes: the source allowed, live, the scope granted.
    pub fn permits(
        &self,
        now: u64,
        scope: Scope,
        source: Option<IpAddr>,
    ) -> Result<(), ServiceError> {
        // The source first: a token used from elsewhere learns nothing more about its key.
        let rules = &self.sources;
        if !rules.is_empty() && !source.is_some_and(|ip| rules.iter().any(|r| r.matches(ip))) {
            return Err(ServiceError::SourceDenied);
        }
        self.record.live(now)?;
        if !self.scopes.allows(scope) {
            return Err(ServiceError::ScopeDenied);
        }
        Ok(())
    }
}

/// All API keys in memory, loaded at start and updated after each durable change.
#[derive(Default)]
pub struct ApiKeys {
    map: RwLock<HashMap<String, Arc<ApiKey>>>,
    /// Per EOA, held by a creation from its cap check until its record is in the map, so
    /// concurrent creations cannot all pass the per-EOA cap, and one EOA's creations never wait
    /// for another's.
    creations: std::sync::Mutex<HashMap<Address, Arc<tokio::sync::Mutex<()>>>>,
}

impl ApiKeys {
    /// Loads every record.
    pub fn load(store: &Store) -> anyhow::Result<Self> {
        let keys = ApiKeys::default();
        let tx = store.db().begin_read()?;
        let table = match tx.open_table(API_KEYS) {
            Ok(t) => t,
            Err(kms_store::redb::TableError::TableDoesNotExist(_)) => return Ok(keys),
            Err(e) => return Err(e.into()),
        };
        for row in table.iter()? {
            let (_, v) = row?;
            let record: ApiKeyRecord = serde_json::from_slice(v.value())?;
            let id = record.id.clone();
            // Checked at creation, so only a damaged record fails here: it stays unusable.
            if let Err(e) = keys.put(record) {
                tracing::error!(id, error = e, "stored API key unusable");
            }
        }
        Ok(keys)
    }

    /// Adds or replaces a record; a record whose scopes or sources do not parse is refused (and
    /// so unusable).
    pub fn put(&self, record: ApiKeyRecord) -> Result<(), String> {
        self.insert(ApiKey::new(record)?);
        Ok(())
    }

    /// The lock a creation for `eoa` holds (only EOAs with an operator key get one, so the map is
    /// bounded by the operators).
    pub fn creation_lock(&self, eoa: &Address) -> Arc<tokio::sync::Mutex<()>> {
        match self.creations.lock() {
            Ok(mut m) => m.entry(*eoa).or_default().clone(),
            // A poisoned map: a fresh lock still serializes nothing wrongly for this caller.
            Err(_) => Arc::default(),
        }
    }

    /// Adds or replaces a parsed key.
    pub fn insert(&self, key: ApiKey) {
        if let Ok(mut m) = self.map.write() {
            m.insert(key.record.id.clone(), Arc::new(key));
        }
    }

    /// The record a token opens for the operator `eoa`: the id of (EOA, token hash), and the
    /// whole hash matching in constant time. Unknown and wrong tokens, and tokens of another
    /// operator, are the same error, so the answer tells nothing about ids.
    pub fn open(&self, token: &str, eoa: &Address) -> Result<Arc<ApiKey>, ServiceError> {
        if !is_api_key_token(token) {
            return Err(ServiceError::InvalidApiKey);
        }
        let hash = api_token_hash(token);
        let record = self
            .map
            .read()
            .ok()
            .and_then(|m| m.get(&api_key_id(eoa, &hash)).cloned())
            .ok_or(ServiceError::InvalidApiKey)?;
        let presented = format!("{hash:#x}");
        if bool::from(
            presented
                .as_bytes()
                .ct_eq(record.record.token_hash.as_bytes()),
        ) {
            Ok(record)
        } else {
            Err(ServiceError::InvalidApiKey)
        }
    }

    /// The record with this id.
    pub fn get(&self, id: &str) -> Option<ApiKeyRecord> {
        Some(self.map.read().ok()?.get(id)?.record.clone())
    }

    /// How many of the EOA's keys are live at `now` (not revoked, not expired).
    pub fn live_count(&self, eoa: &Address, now: u64) -> usize {
        self.map
            .read()
            .map(|m| {
                m.values()
                    .filter(|k| k.record.eoa == *eoa && k.record.live(now).is_ok())
                    .count()
            })
            .unwrap_or(0)
    }

    /// An EOA's records, oldest first.
    pub fn of(&self, eoa: &Address) -> Vec<ApiKeyRecord> {
        let mut all: Vec<ApiKeyRecord> = self
            .map
            .read()
            .map(|m| {
                m.values()
                    .filter(|k| k.record.eoa == *eoa)
                    .map(|k| k.record.clone())
                    .collect()
            })
            .unwrap_or_default();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_have_one_spelling() {
        assert!(Scopes::parse("sign").is_ok());
        assert!(Scopes::parse("sign,scalar-mul,registration").is_ok());
        assert!(Scopes::parse("scalar-mul,sign").is_err());
        assert!(Scopes::parse("sign,sign").is_err());
        assert!(Scopes::parse("").is_err());
        assert!(Scopes::parse("sign,").is_err());
        assert!(Scopes::parse("admin").is_err());
        let s = Scopes::parse("scalar-mul").unwrap();
        assert!(s.allows(Scope::ScalarMul) && !s.allows(Scope::Sign));
        assert_eq!(
            kms_api::signer::canonical_scopes(&["registration", "sign", "sign"]).unwrap(),
            "sign,registration"
        );
        assert!(kms_api::signer::canonical_scopes(&[]).is_err());
        assert!(kms_api::signer::canonical_scopes(&["admin"]).is_err());
        // Both sides agree on the names and their order.
        let names: Vec<&str> = Scope::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names, kms_api::signer::API_KEY_SCOPES);
    }

    #[test]
    fn source_rules_match_blocks() {
        let rules = parse_sources("10.1.0.0/16,::1,192.168.1.7").unwrap();
        let ok = |ip: &str| rules.iter().any(|r| r.matches(ip.parse().unwrap()));
        assert!(ok("10.1.200.3"));
        assert!(!ok("10.2.0.1"));
        assert!(ok("::1"));
        assert!(ok("192.168.1.7"));
        assert!(ok("::ffff:192.168.1.7"));
        assert!(!ok("192.168.1.8"));
        assert!(parse_sources("10.0.0.0/33").is_err());
        assert!(parse_sources("nope").is_err());
        assert!(parse_sources("").unwrap().is_empty());
        let any4 = parse_sources("0.0.0.0/0").unwrap();
        assert!(any4[0].matches("8.8.8.8".parse().unwrap()));
        assert!(!any4[0].matches("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn tokens_open_only_their_record() {
        let token = kms_crypto::auth::new_api_token(&mut rand_core::OsRng);
        let token = token.expose(|t| t.clone());
        let hash = api_token_hash(&token);
        let keys = ApiKeys::default();
        keys.put(ApiKeyRecord {
            created_at: 1,
            eoa: Address::ZERO,
            expires_at: None,
            id: api_key_id(&Address::ZERO, &hash),
            label: "l".into(),
            revoked_at: None,
            scopes: "sign".into(),
            sources: String::new(),
            token_hash: format!("{hash:#x}"),
        })
        .unwrap();
        assert!(keys.open(&token, &Address::ZERO).is_ok());
        // For another operator: refused like an unknown token.
        assert_eq!(
            keys.open(&token, &Address::repeat_byte(1)).err(),
            Some(ServiceError::InvalidApiKey)
        );
        // Another token, a malformed one, the hash itself, the token in upper case.
        let other = kms_crypto::auth::new_api_token(&mut rand_core::OsRng);
        assert_eq!(
            other.expose(|t| keys.open(t, &Address::ZERO)).err(),
            Some(ServiceError::InvalidApiKey)
        );
        for bad in [
            "",
            "kms_",
            &format!("{hash:#x}"),
            &token.to_uppercase(),
            &token[..40],
        ] {
            assert_eq!(
                keys.open(bad, &Address::ZERO).err(),
                Some(ServiceError::InvalidApiKey),
                "{bad}"
            );
        }
    }

    #[test]
    fn permits_checks_every_condition() {
        let mut r = ApiKeyRecord {
            created_at: 1,
            eoa: Address::ZERO,
            expires_at: Some(100),
            id: "00".repeat(8),
            label: String::new(),
            revoked_at: None,
            scopes: "sign".into(),
            sources: "127.0.0.1".into(),
            token_hash: String::new(),
        };
        let lo = Some("127.0.0.1".parse().unwrap());
        let k = ApiKey::new(r.clone()).unwrap();
        assert!(k.permits(99, Scope::Sign, lo).is_ok());
        assert_eq!(
            k.permits(100, Scope::Sign, lo),
            Err(ServiceError::ApiKeyExpired)
        );
        assert_eq!(
            k.permits(99, Scope::ScalarMul, lo),
            Err(ServiceError::ScopeDenied)
        );
        let other = Some("127.0.0.2".parse().unwrap());
        assert_eq!(
            k.permits(99, Scope::Sign, other),
            Err(ServiceError::SourceDenied)
        );
        assert_eq!(
            k.permits(99, Scope::Sign, None),
            Err(ServiceError::SourceDenied)
        );
        r.revoked_at = Some(50);
        assert_eq!(
            ApiKey::new(r).unwrap().permits(99, Scope::Sign, lo),
            Err(ServiceError::ApiKeyRevoked)
        );
    }
}
