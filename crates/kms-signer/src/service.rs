//! The signer's service layer: what a request may do with a key, apart from how it arrived.
//! Authenticating an EOA's signed request (rate limit, deadline window, signer), using a key
//! (version choice, nonce and audit record durable before any result leaves), rotation
//! and retirement. Every refusal is audited here; the routes (`crate::api`) only parse and answer.

use crate::api::AppState;
use crate::apikeys::{ApiKey, ApiKeyRecord, Scope, MAX_KEYS_PER_EOA};
use crate::audit::AuditEntry;
use crate::error::{ApiError, ServiceError};
use crate::keyring::{secret_aad, version_record, KeyEntry, KeyRecord, Usable, VersionState};
use crate::ledger::{now, Nonce, Op};
use alloy_primitives::{Address, B256};
use kms_crypto::auth::{recover_signer, Request};
use kms_crypto::bn254::SecretKey;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Records a refusal for a named EOA, then returns the error.
pub(crate) async fn refuse(
    s: &AppState,
    eoa: &Address,
    req: &Request,
    digest: Option<B256>,
    version: u32,
    e: ServiceError,
) -> ServiceError {
    let audit = AuditEntry {
        eoa: eoa.to_checksum(None),
        op: req.kind(),
        key_version: version,
        request_digest: digest.map(|d| format!("{d:#x}")).unwrap_or_default(),
        outcome: e.code().to_owned(),
        api_key: None,
    };
    if let Err(log_err) = s.ledger.submit(Op::Refused { audit }).await {
        tracing::error!(code = log_err.code(), "could not record a refused request");
    }
    e
}

/// Deadline window and EOA signature, then the EOA's rate limit; returns the request digest.
///
/// A request refused before its signature verifies (expired, too far ahead, not signed by the
/// EOA it names) is counted (`kms_signer_unauthenticated`), not audited: anyone can send those,
/// so writing each one would let an outsider grow the log and queue the writer at no cost. And
/// the EOA's bucket is charged only once the EOA's own signature verified, so nobody can drain
/// another operator's budget by naming it (the per-source limit of the routes comes first).
pub(crate) async fn authenticate(
    s: &AppState,
    eoa: &Address,
    req: &Request,
    signature: &str,
) -> Result<B256, ServiceError> {
    let mut digest = req.digest_in(&s.cfg.domain);
    let fresh = req.freshness();
    let t = now();
    let check = if fresh.deadline <= t {
        Err(ServiceError::Expired)
    } else if fresh.deadline > t + s.cfg.max_request_validity_secs {
        Err(ServiceError::DeadlineTooFar {
            max_secs: s.cfg.max_request_validity_secs,
        })
    } else {
        parse_sig(signature).and_then(|sig| {
            let who = recover_signer(&digest, &sig)
                .map_err(|e| ServiceError::BadSignature(ApiError::from(e)))?;
            if who == *eoa {
                return Ok(());
            }
            // A salted deployment's migration period: the unsalted domain is accepted too.
            if s.cfg.accept_unsalted {
                let unsalted = req.digest(s.cfg.chain_id);
                if recover_signer(&unsalted, &sig).is_ok_and(|w| w == *eoa) {
                    digest = unsalted;
                    return Ok(());
                }
            }
            Err(ServiceError::WrongSigner)
        })
    };
    if let Err(e) = check {
        s.metrics.unauthenticated.inc();
        return Err(e);
    }
    // A replay (someone resending a request they saw) is refused before it draws on the EOA's
    // bucket, so it cannot lock the operator out; it is still recorded, its signature verified.
    let refused = if crate::ledger::nonce_spent(&s.store, &Nonce::of(*eoa, req)) {
        Err(ServiceError::NonceReused)
    } else {
        s.rate_limit(eoa)
    };
    if let Err(e) = refused {
        return Err(refuse(s, eoa, req, Some(digest), 0, e).await);
    }
    Ok(digest)
}

/// Authenticates, picks the key version, and queues the nonce's use and the audit record; then
/// `compute` runs with the key while that commit is on its way to disk, and its result is
/// returned only once the commit is durable (a refused commit discards it). Nothing computed
/// with a key leaves the service before its use is recorded.
pub(crate) async fn use_key<T>(
    s: &AppState,
    eoa: &Address,
    req: &Request,
    version: u32,
    signature: &str,
    compute: impl FnOnce(u32, &Arc<SecretKey>) -> T,
) -> Result<T, ServiceError> {
    let digest = authenticate(s, eoa, req, signature).await?;
    let (v, sk) = match s.ring.usable(eoa, version, now()) {
        Usable::Key(v, sk) => (v, sk),
        Usable::UnknownEoa => {
            let e = ServiceError::UnknownKey;
            return Err(refuse(s, eoa, req, Some(digest), version, e).await);
        }
        Usable::UnknownVersion => {
            let e = ServiceError::UnknownKeyVersion;
            return Err(refuse(s, eoa, req, Some(digest), version, e).await);
        }
        Usable::Retired => {
            let e = ServiceError::KeyRetired;
            return Err(refuse(s, eoa, req, Some(digest), version, e).await);
        }
    };
    let audit = AuditEntry::ok(eoa, req.kind(), v, format!("{digest:#x}"));
    let commit = s.ledger.enqueue(Op::UseKey {
        nonce: Some(Nonce::of(*eoa, req)),
        key: (*eoa, v),
        audit,
    })?;
    let out = compute(v, &sk);
    commit.durable().await?;
    Ok(out)
}

/// Which version of the operator key an API-key request uses.
#[derive(Clone, Copy, Debug)]
pub enum KeyChoice {
    /// By number; 0: the active version.
    Version(u32),
    /// The version whose gnark-compressed G1 public key this is (cerberus names keys this way).
    G1([u8; 32]),
}

/// What an API-key request is, for the checks and the audit record.
pub struct TokenUse<'a> {
    /// The bearer token as presented.
    pub token: &'a str,
    /// The caller's address, for the key's source allowlist.
    pub source: Option<IpAddr>,
    /// The scope the operation needs.
    pub scope: Scope,
    /// The operation's name in the audit log.
    pub op: &'static str,
    /// A digest of what is signed (recorded in the audit log).
    pub digest: B256,
    /// The key version to use.
    pub choice: KeyChoice,
    /// The operator the request is for (the REST path's EOA, or the owner of the gRPC key
    /// name): a token opens only its own operator's API key.
    pub eoa: Address,
}

/// The API-key counterpart of [`use_key`]: the token opens its record (an unknown token is only
/// counted, never audited), the record's checks and the rate limit pass, the version is chosen,
/// and the use is queued (with the API key's id); `compute`'s result is returned only once that
/// record is durable.
pub async fn use_key_with_token<T>(
    s: &AppState,
    u: TokenUse<'_>,
    compute: impl FnOnce(u32, &Arc<SecretKey>) -> T,
) -> Result<T, ServiceError> {
    let key = s.api_keys.open(u.token, &u.eoa).inspect_err(|_| {
        s.metrics.unauthenticated.inc();
    })?;
    let record = &key.record;
    let eoa = record.eoa;
    let t = now();
    let named = match u.choice {
        KeyChoice::Version(v) => v,
        KeyChoice::G1(_) => 0,
    };
    let mut audit = AuditEntry::ok(&eoa, u.op, named, format!("{:#x}", u.digest))
        .with_api_key(Some(record.id.clone()));
    // The key's bucket first, so even a revoked key's holder writes at most its rate of rows.
    let checked = s
        .rate_limit_key(&record.id)
        .and_then(|()| key.permits(t, u.scope, u.source))
        .and_then(|()| {
            let version = match u.choice {
                KeyChoice::Version(v) => v,
                KeyChoice::G1(name) => s
                    .ring
                    .version_named(&eoa, &name)
                    .ok_or(ServiceError::UnknownPublicKey)?,
            };
            match s.ring.usable(&eoa, version, t) {
                Usable::Key(v, sk) => Ok((v, sk)),
                Usable::UnknownEoa => Err(ServiceError::UnknownKey),
                Usable::UnknownVersion => Err(ServiceError::UnknownKeyVersion),
                Usable::Retired => Err(ServiceError::KeyRetired),
            }
        });
    let (v, sk) = match checked {
        Ok(found) => found,
        Err(e) => {
            audit.outcome = e.code().to_owned();
            if let Err(log_err) = s.ledger.submit(Op::Refused { audit }).await {
                tracing::error!(code = log_err.code(), "could not record a refused request");
            }
            return Err(e);
        }
    };
    audit.key_version = v;
    let commit = s.ledger.enqueue(Op::UseKey {
        nonce: None,
        key: (eoa, v),
        audit,
    })?;
    let out = compute(v, &sk);
    commit.durable().await?;
    Ok(out)
}

/// The fields of a new API key, as the EOA signed them.
pub struct NewApiKey {
    /// A name for people.
    pub label: String,
    /// Canonical scope list.
    pub scopes: String,
    /// Unix seconds; 0: never.
    pub expires_at: u64,
    /// Source allowlist; empty: any.
    pub sources: String,
}

/// An EOA-signed creation of an API key for its operator key, from the hash of a token the
/// client made; returns the record (the service never has the token).
pub async fn create_api_key(
    s: &AppState,
    eoa: Address,
    req: &Request,
    signature: &str,
) -> Result<ApiKeyRecord, ServiceError> {
    let digest = authenticate(s, &eoa, req, signature).await?;
    let Request::CreateApiKey {
        label,
        scopes,
        expires_at,
        sources,
        token_hash,
        ..
    } = req
    else {
        return Err(ServiceError::internal(
            "create_api_key given another request",
        ));
    };
    if s.ring.record(&eoa).is_none() {
        let e = ServiceError::UnknownKey;
        return Err(refuse(s, &eoa, req, Some(digest), 0, e).await);
    }
    // Held until the new key is in the map (released by the writer after its commit, or when
    // the creation is refused), even if this caller hangs up: otherwise a cancelled creation's
    // key would be missing from the count the next one checks.
    let one_at_a_time = s.api_keys.creation_lock(&eoa).lock_owned().await;
    if s.api_keys.live_count(&eoa, now()) >= MAX_KEYS_PER_EOA {
        let e = ServiceError::TooManyApiKeys;
        return Err(refuse(s, &eoa, req, Some(digest), 0, e).await);
    }
    let record = ApiKeyRecord {
        created_at: now(),
        eoa,
        expires_at: (*expires_at != 0).then_some(*expires_at),
        id: kms_crypto::auth::api_key_id(&eoa, token_hash),
        label: label.clone(),
        revoked_at: None,
        scopes: scopes.clone(),
        sources: sources.clone(),
        token_hash: format!("{token_hash:#x}"),
    };
    // Parsed before it is stored: nothing is written that could not be used.
    let parsed = ApiKey::new(record.clone()).map_err(ServiceError::internal)?;
    let audit = AuditEntry::ok(&eoa, req.kind(), 0, format!("{digest:#x}"))
        .with_api_key(Some(record.id.clone()));
    let keys = s.api_keys.clone();
    let op = Op::CreateApiKey {
        nonce: Nonce::of(eoa, req),
        record: record.clone(),
        audit,
    };
    s.ledger
        .submit_then(op, move || {
            keys.insert(parsed);
            drop(one_at_a_time);
        })
        .await?;
    Ok(record)
}

/// An EOA-signed listing of its API keys (never a token; the nonce is spent like any other).
pub async fn list_api_keys(
    s: &AppState,
    eoa: Address,
    req: &Request,
    signature: &str,
) -> Result<Vec<ApiKeyRecord>, ServiceError> {
    let digest = authenticate(s, &eoa, req, signature).await?;
    let audit = AuditEntry::ok(&eoa, req.kind(), 0, format!("{digest:#x}"));
    s.ledger
        .submit(Op::Spend {
            nonce: Nonce::of(eoa, req),
            audit,
        })
        .await?;
    Ok(s.api_keys.of(&eoa))
}

/// An EOA-signed revocation of one of its API keys; the next use of the key is refused.
pub async fn revoke_api_key(
    s: &AppState,
    eoa: Address,
    req: &Request,
    signature: &str,
) -> Result<ApiKeyRecord, ServiceError> {
    let digest = authenticate(s, &eoa, req, signature).await?;
    let Request::RevokeApiKey { key_id, .. } = req else {
        return Err(ServiceError::internal(
            "revoke_api_key given another request",
        ));
    };
    let at = now();
    // Named in the record only when it is this EOA's key: nobody writes rows under another's key.
    let owned = s.api_keys.get(key_id).is_some_and(|r| r.eoa == eoa);
    let audit = AuditEntry::ok(&eoa, req.kind(), 0, format!("{digest:#x}"))
        .with_api_key(owned.then(|| key_id.clone()));
    let op = Op::RevokeApiKey {
        nonce: Nonce::of(eoa, req),
        eoa,
        id: key_id.clone(),
        at,
        audit,
    };
    let (keys, id) = (s.api_keys.clone(), key_id.clone());
    s.ledger
        .submit_then(op, move || {
            // The commit found the key live and this EOA's, so memory holds it too.
            if let Some(mut record) = keys.get(&id) {
                record.revoked_at = Some(at);
                if let Err(e) = keys.put(record) {
                    tracing::error!(error = %e, "a revoked API key could not be updated in memory");
                }
            }
        })
        .await?;
    s.api_keys
        .get(key_id)
        .ok_or_else(|| ServiceError::internal("revoked API key missing from memory"))
}

/// A new key for `eoa`, created here and stored sealed before anything is answered.
pub(crate) async fn create_key(
    s: &AppState,
    eoa: Address,
    req: &Request,
    signature: &str,
) -> Result<KeyRecord, ServiceError> {
    let digest = authenticate(s, &eoa, req, signature).await?;
    let refusal = if s
        .cfg
        .allowed_creators
        .as_ref()
        .is_some_and(|list| !list.contains(&eoa))
    {
        Some(ServiceError::CreatorNotAllowed)
    } else if s.ring.record(&eoa).is_some() {
        Some(ServiceError::KeyExists)
    } else {
        None
    };
    if let Some(e) = refusal {
        return Err(refuse(s, &eoa, req, Some(digest), 0, e).await);
    }
    let sk = SecretKey::random(&mut rand_core::OsRng);
    let sealed = sk
        .to_be_bytes()
        .expose(|b| {
            s.store
                .kek()
                .seal(&secret_aad(&eoa, 1), b, &mut rand_core::OsRng)
        })
        .map_err(ServiceError::internal)?;
    let record = KeyRecord {
        eoa,
        versions: vec![version_record(1, now(), &sk)],
    };
    let audit = AuditEntry::ok(&eoa, req.kind(), 1, format!("{digest:#x}"));
    let nonce = Some(Nonce::of(eoa, req));
    let op = Op::CreateKey {
        nonce,
        record: record.clone(),
        sealed,
        audit,
    };
    let (ring, entry) = (
        s.ring.clone(),
        KeyEntry {
            record: record.clone(),
            secrets: HashMap::from([(1, Arc::new(sk))]),
        },
    );
    s.ledger.submit_then(op, move || ring.put(entry)).await?;
    s.metrics.set_keys(s.ring.counts());
    Ok(record)
}

/// An EOA-signed rotation of its key.
pub(crate) async fn rotate(
    s: &AppState,
    eoa: Address,
    req: &Request,
    signature: &str,
) -> Result<KeyRecord, ServiceError> {
    let digest = authenticate(s, &eoa, req, signature).await?;
    let Some(current) = s.ring.record(&eoa) else {
        let e = ServiceError::UnknownKey;
        return Err(refuse(s, &eoa, req, Some(digest), 0, e).await);
    };
    let nonce = Some(Nonce::of(eoa, req));
    rotate_key(s, current, nonce, req.kind(), format!("{digest:#x}")).await
}

/// Adds a new active version and puts the previous one in its grace period.
pub async fn rotate_key(
    s: &AppState,
    current: KeyRecord,
    nonce: Option<Nonce>,
    op: &'static str,
    request_digest: String,
) -> Result<KeyRecord, ServiceError> {
    let eoa = current.eoa;
    let t = now();
    let new_version = current.latest_version() + 1;
    let sk = SecretKey::random(&mut rand_core::OsRng);
    let sealed = sk
        .to_be_bytes()
        .expose(|b| {
            s.store
                .kek()
                .seal(&secret_aad(&eoa, new_version), b, &mut rand_core::OsRng)
        })
        .map_err(ServiceError::internal)?;
    let mut record = current.clone();
    for v in record
        .versions
        .iter_mut()
        .filter(|v| v.state == VersionState::Active)
    {
        v.state = VersionState::Grace {
            until: t + s.cfg.rotation_grace_secs,
        };
    }
    record.versions.push(version_record(new_version, t, &sk));
    let audit = AuditEntry::ok(&eoa, op, new_version, request_digest);
    let op = Op::UpdateKey {
        nonce,
        expected: current,
        record: record.clone(),
        new_secret: Some((new_version, sealed)),
        drop_secret: None,
        audit,
    };
    let (ring, installed) = (s.ring.clone(), record.clone());
    s.ledger
        .submit_then(op, move || {
            ring.install_version(&installed, new_version, Arc::new(sk))
        })
        .await?;
    s.metrics.set_keys(s.ring.counts());
    Ok(record)
}

/// Retires versions whose grace period is over: secret deleted, public keys kept.
pub async fn retire_expired(s: &AppState) {
    for (eoa, version) in s.ring.expired_grace(now()) {
        let Some(current) = s.ring.record(&eoa) else {
            continue;
        };
        let mut record = current.clone();
        for v in record.versions.iter_mut().filter(|v| v.version == version) {
            v.state = VersionState::Retired { at: now() };
        }
        let audit = AuditEntry::ok(&eoa, "Retire", version, String::new());
        let op = Op::UpdateKey {
            nonce: None,
            expected: current,
            record: record.clone(),
            new_secret: None,
            drop_secret: Some(version),
            audit,
        };
        let (ring, retired) = (s.ring.clone(), record);
        let then = move || ring.retire_version(&retired, version);
        if let Err(e) = s.ledger.submit_then(op, then).await {
            tracing::warn!(%eoa, version, code = e.code(), "retirement postponed");
        }
    }
    s.metrics.set_keys(s.ring.counts());
}

/// Rotates active keys older than the configured interval.
pub async fn auto_rotate(s: &AppState) {
    if s.cfg.auto_rotate_secs == 0 {
        return;
    }
    for eoa in s
        .ring
        .active_older_than(now().saturating_sub(s.cfg.auto_rotate_secs))
    {
        if let Some(current) = s.ring.record(&eoa) {
            if let Err(e) = rotate_key(s, current, None, "AutoRotate", String::new()).await {
                tracing::warn!(%eoa, code = e.code(), "scheduled rotation postponed");
            }
        }
    }
}

/// An `0x`-hex 65-byte ECDSA signature.
pub(crate) fn parse_sig(text: &str) -> Result<Vec<u8>, ServiceError> {
    let hex_digits = text.strip_prefix("0x").unwrap_or(text);
    hex::decode(hex_digits).map_err(|_| {
        ServiceError::BadSignature(ApiError::unauthorized(
            "bad_signature",
            "signature is not valid hex",
        ))
    })
}
