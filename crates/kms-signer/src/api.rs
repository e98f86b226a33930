//! HTTP API (axum). Handlers parse and check input at the edge, authenticate the EOA, then hand
//! state changes to the ledger; every failure becomes an `ApiError` with a stable code.

use crate::audit::AuditEntry;
use crate::config::Config;
use crate::error::ApiError;
use crate::keyring::{
    secret_aad, version_record, KeyEntry, KeyRecord, KeyRing, Usable, VersionState,
};
use crate::ledger::{now, Ledger, Nonce, Op};
use crate::metrics::{Metrics, RouteLabels};
use alloy_primitives::{Address, B256};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, MatchedPath, Path, Request as HttpRequest, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kms_crypto::auth::{recover_signer, Freshness, Request};
use kms_crypto::bn254::{
    key_registrar_digest, key_registrar_key_data, parse_u256, registry_coordinator_digest,
    Eip712Domain, G1Point, G2Point, SecretKey,
};
use kms_service::RateLimiter;
use kms_store::Store;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// Shared state of the service.
pub struct AppState {
    pub cfg: Config,
    pub store: Arc<Store>,
    pub ring: Arc<KeyRing>,
    pub ledger: Ledger,
    pub metrics: Metrics,
    limiter: RateLimiter<Address>,
}

impl AppState {
    pub fn new(cfg: Config, store: Arc<Store>, ring: Arc<KeyRing>, ledger: Ledger) -> Self {
        let metrics = Metrics::new();
        metrics.set_keys(ring.counts());
        let limiter = RateLimiter::new(cfg.rate_limit_per_sec, cfg.rate_limit_burst);
        Self {
            cfg,
            store,
            ring,
            ledger,
            metrics,
            limiter,
        }
    }

    /// Token bucket per EOA.
    fn rate_limit(&self, eoa: &Address) -> Result<(), ApiError> {
        if self.limiter.allow(*eoa) {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests for this EOA",
        ))
    }
}

type Shared = Arc<AppState>;

/// JSON body extractor whose rejections are our error shape with stable codes.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: HttpRequest, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(JsonRejection::BytesRejection(e))
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "request body is too large",
                ))
            }
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "content_type",
                "expected application/json",
            )),
            Err(e) => Err(ApiError::bad_request("bad_json", e.body_text())),
        }
    }
}

fn parse_eoa(text: &str) -> Result<Address, ApiError> {
    text.parse::<Address>().map_err(|_| {
        ApiError::bad_request("invalid_address", "expected a 0x-prefixed 20-byte address")
    })
}

fn parse_hash(text: &str) -> Result<B256, ApiError> {
    let hex_digits = text
        .strip_prefix("0x")
        .ok_or_else(|| ApiError::bad_request("invalid_hash", "expected 0x-prefixed hex"))?;
    let bytes = hex::decode(hex_digits)
        .map_err(|_| ApiError::bad_request("invalid_hash", "not valid hex"))?;
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| ApiError::bad_request("invalid_hash", "expected 32 bytes"))?;
    Ok(B256::from(arr))
}

fn parse_sig(text: &str) -> Result<Vec<u8>, ApiError> {
    let hex_digits = text.strip_prefix("0x").unwrap_or(text);
    hex::decode(hex_digits)
        .map_err(|_| ApiError::unauthorized("bad_signature", "signature is not valid hex"))
}

fn g1_json(p: &G1Point) -> Value {
    json!({ "x": p.x_dec(), "y": p.y_dec() })
}

fn g2_json(p: &G2Point) -> Value {
    let (x, y) = p.to_dec();
    json!({ "x": x, "y": y })
}

fn key_json(r: &KeyRecord) -> Value {
    let versions: Vec<Value> = r
        .versions
        .iter()
        .map(|v| {
            let mut o = json!({
                "version": v.version,
                "created_at": v.created_at,
                "g1": { "x": v.g1[0], "y": v.g1[1] },
                "g2": { "x": v.g2[0], "y": v.g2[1] },
            });
            let (state, extra) = match v.state {
                VersionState::Active => ("active", None),
                VersionState::Grace { until } => ("grace", Some(("grace_until", until))),
                VersionState::Retired { at } => ("retired", Some(("retired_at", at))),
            };
            o["state"] = json!(state);
            if let Some((k, t)) = extra {
                o[k] = json!(t);
            }
            o
        })
        .collect();
    json!({
        "eoa": r.eoa.to_checksum(None),
        "active_version": r.active().map(|v| v.version),
        "versions": versions,
    })
}

/// Records a refusal for a named EOA, then returns the error.
async fn refuse(
    s: &AppState,
    eoa: &Address,
    req: &Request,
    digest: Option<B256>,
    version: u32,
    e: ApiError,
) -> ApiError {
    let audit = AuditEntry {
        eoa: eoa.to_checksum(None),
        op: req.kind(),
        key_version: version,
        request_digest: digest.map(|d| format!("{d:#x}")).unwrap_or_default(),
        outcome: e.code.to_owned(),
    };
    if let Err(log_err) = s.ledger.submit(Op::Refused { audit }).await {
        tracing::error!(code = log_err.code, "could not record a refused request");
    }
    e
}

/// Rate limit, deadline window and EOA signature; returns the request digest.
async fn authenticate(
    s: &AppState,
    eoa: &Address,
    req: &Request,
    signature: &str,
) -> Result<B256, ApiError> {
    s.rate_limit(eoa)?;
    let digest = req.digest(s.cfg.chain_id);
    let fresh = req.freshness();
    let t = now();
    let check = if fresh.deadline <= t {
        Err(ApiError::unauthorized(
            "expired",
            "the request's deadline has passed",
        ))
    } else if fresh.deadline > t + s.cfg.max_request_validity_secs {
        Err(ApiError::unauthorized(
            "deadline_too_far",
            format!(
                "deadline must be within {} seconds",
                s.cfg.max_request_validity_secs
            ),
        ))
    } else {
        parse_sig(signature)
            .and_then(|sig| recover_signer(&digest, &sig).map_err(ApiError::from))
            .and_then(|who| {
                if who == *eoa {
                    Ok(())
                } else {
                    Err(ApiError::unauthorized(
                        "wrong_signer",
                        "the signature is not by this EOA for this request",
                    ))
                }
            })
    };
    match check {
        Ok(()) => Ok(digest),
        Err(e) => Err(refuse(s, eoa, req, Some(digest), 0, e).await),
    }
}

/// Authenticates, picks the key version, consumes the nonce and records the use (durably) before
/// the caller computes anything with the key.
async fn use_key(
    s: &AppState,
    eoa: &Address,
    req: &Request,
    version: u32,
    signature: &str,
) -> Result<(u32, Arc<SecretKey>), ApiError> {
    let digest = authenticate(s, eoa, req, signature).await?;
    let (v, sk) = match s.ring.usable(eoa, version, now()) {
        Usable::Key(v, sk) => (v, sk),
        Usable::UnknownEoa => {
            return Err(refuse(
                s,
                eoa,
                req,
                Some(digest),
                version,
                ApiError::not_found("unknown_key", "no key for this EOA"),
            )
            .await)
        }
        Usable::UnknownVersion => {
            let e = ApiError::not_found("unknown_key_version", "no such key version");
            return Err(refuse(s, eoa, req, Some(digest), version, e).await);
        }
        Usable::Retired => {
            let e = ApiError::conflict(
                "key_retired",
                "this key version is retired; use the active one",
            );
            return Err(refuse(s, eoa, req, Some(digest), version, e).await);
        }
    };
    let fresh = req.freshness();
    let audit = AuditEntry {
        eoa: eoa.to_checksum(None),
        op: req.kind(),
        key_version: v,
        request_digest: format!("{digest:#x}"),
        outcome: "ok".into(),
    };
    s.ledger
        .submit(Op::UseKey {
            nonce: Nonce {
                eoa: *eoa,
                nonce: fresh.nonce,
                deadline: fresh.deadline,
            },
            audit,
        })
        .await?;
    Ok((v, sk))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    operator: String,
    nonce: u64,
    deadline: u64,
    signature: String,
}

async fn create_key(
    State(s): State<Shared>,
    Body(b): Body<CreateBody>,
) -> Result<Response, ApiError> {
    let eoa = parse_eoa(&b.operator)?;
    let req = Request::CreateKey {
        operator: eoa,
        fresh: Freshness {
            nonce: b.nonce,
            deadline: b.deadline,
        },
    };
    let digest = authenticate(&s, &eoa, &req, &b.signature).await?;
    if s.ring.record(&eoa).is_some() {
        let e = ApiError::conflict(
            "key_exists",
            "this EOA already has a key; rotate it instead",
        );
        return Err(refuse(&s, &eoa, &req, Some(digest), 0, e).await);
    }
    let sk = SecretKey::random(&mut rand_core::OsRng);
    let sealed = sk
        .to_be_bytes()
        .expose(|b| {
            s.store
                .kek()
                .seal(&secret_aad(&eoa, 1), b, &mut rand_core::OsRng)
        })
        .map_err(ApiError::internal)?;
    let record = KeyRecord {
        eoa,
        versions: vec![version_record(1, now(), &sk)],
    };
    let audit = AuditEntry {
        eoa: eoa.to_checksum(None),
        op: req.kind(),
        key_version: 1,
        request_digest: format!("{digest:#x}"),
        outcome: "ok".into(),
    };
    let nonce = Some(Nonce {
        eoa,
        nonce: b.nonce,
        deadline: b.deadline,
    });
    s.ledger
        .submit(Op::CreateKey {
            nonce,
            record: record.clone(),
            sealed,
            audit,
        })
        .await?;
    let body = key_json(&record);
    s.ring.put(KeyEntry {
        record,
        secrets: HashMap::from([(1, Arc::new(sk))]),
    });
    s.metrics.set_keys(s.ring.counts());
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn get_key(
    State(s): State<Shared>,
    Path(eoa): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let eoa = parse_eoa(&eoa)?;
    s.ring
        .record(&eoa)
        .map(|r| Json(key_json(&r)))
        .ok_or_else(|| ApiError::not_found("unknown_key", "no key for this EOA"))
}

async fn list_keys(State(s): State<Shared>) -> Json<Value> {
    let keys: Vec<Value> = s.ring.records().iter().map(key_json).collect();
    Json(json!({ "keys": keys }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignBody {
    message_hash: String,
    #[serde(default)]
    key_version: u32,
    nonce: u64,
    deadline: u64,
    signature: String,
}

async fn sign(
    State(s): State<Shared>,
    Path(eoa): Path<String>,
    Body(b): Body<SignBody>,
) -> Result<Json<Value>, ApiError> {
    let started = Instant::now();
    let eoa = parse_eoa(&eoa)?;
    let message_hash = parse_hash(&b.message_hash)?;
    let fresh = Freshness {
        nonce: b.nonce,
        deadline: b.deadline,
    };
    let req = Request::SignHash {
        operator: eoa,
        message_hash,
        key_version: b.key_version,
        fresh,
    };
    let (v, sk) = use_key(&s, &eoa, &req, b.key_version, &b.signature).await?;
    let (point, sig) = sk.sign_hash(&message_hash.0);
    s.metrics
        .signing_seconds
        .observe(started.elapsed().as_secs_f64());
    Ok(Json(json!({
        "message_point": g1_json(&point),
        "signature": g1_json(&sig),
        "g1": g1_json(&sk.public_g1()),
        "g2": g2_json(&sk.public_g2()),
        "key_version": v,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PointBody {
    x: String,
    y: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScalarMulBody {
    hash: PointBody,
    #[serde(default)]
    key_version: u32,
    nonce: u64,
    deadline: u64,
    signature: String,
}

/// Checks the point before anything else: an unchecked point never meets a key.
async fn scalar_mul_inner(
    s: &AppState,
    eoa: Address,
    x: &str,
    y: &str,
    key_version: u32,
    fresh: Freshness,
    signature: &str,
) -> Result<Value, ApiError> {
    let started = Instant::now();
    let (px, py) = (parse_u256(x)?, parse_u256(y)?);
    let point = G1Point::from_coords(px, py)?;
    let req = Request::ScalarMul {
        operator: eoa,
        point_x: px,
        point_y: py,
        key_version,
        fresh,
    };
    let (v, sk) = use_key(s, &eoa, &req, key_version, signature).await?;
    let sig = sk.sign_point(&point);
    s.metrics
        .signing_seconds
        .observe(started.elapsed().as_secs_f64());
    Ok(json!({
        "signature": g1_json(&sig),
        "g1": g1_json(&sk.public_g1()),
        "g2": g2_json(&sk.public_g2()),
        "key_version": v,
    }))
}

async fn scalar_mul(
    State(s): State<Shared>,
    Path(eoa): Path<String>,
    Body(b): Body<ScalarMulBody>,
) -> Result<Json<Value>, ApiError> {
    let eoa = parse_eoa(&eoa)?;
    let fresh = Freshness {
        nonce: b.nonce,
        deadline: b.deadline,
    };
    scalar_mul_inner(
        &s,
        eoa,
        &b.hash.x,
        &b.hash.y,
        b.key_version,
        fresh,
        &b.signature,
    )
    .await
    .map(Json)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistrationBody {
    registry: String,
    chain_id: u64,
    #[serde(default)]
    key_version: u32,
    nonce: u64,
    deadline: u64,
    signature: String,
}

async fn registration(
    State(s): State<Shared>,
    Path(eoa): Path<String>,
    Body(b): Body<RegistrationBody>,
) -> Result<Json<Value>, ApiError> {
    let eoa = parse_eoa(&eoa)?;
    let registry = parse_eoa(&b.registry)?;
    let fresh = Freshness {
        nonce: b.nonce,
        deadline: b.deadline,
    };
    let req = Request::PubkeyRegistration {
        operator: eoa,
        registry,
        chain_id: b.chain_id,
        key_version: b.key_version,
        fresh,
    };
    let (v, sk) = use_key(&s, &eoa, &req, b.key_version, &b.signature).await?;
    let digest = registry_coordinator_digest(
        &Eip712Domain::registry_coordinator(b.chain_id, registry),
        eoa,
    );
    let (point, sig) = sk.sign_hash(&digest);
    Ok(Json(json!({
        "pubkeyRegistrationParams": {
            "pubkeyRegistrationSignature": g1_json(&sig),
            "pubkeyG1": g1_json(&sk.public_g1()),
            "pubkeyG2": g2_json(&sk.public_g2()),
        },
        "digest": format!("{:#x}", B256::from(digest)),
        "message_point": g1_json(&point),
        "key_version": v,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRegistrationBody {
    avs: String,
    operator_set_id: u32,
    registrar: String,
    chain_id: u64,
    #[serde(default = "default_domain_version")]
    domain_version: String,
    #[serde(default)]
    key_version: u32,
    nonce: u64,
    deadline: u64,
    signature: String,
}

fn default_domain_version() -> String {
    "1".into()
}

async fn key_registration(
    State(s): State<Shared>,
    Path(eoa): Path<String>,
    Body(b): Body<KeyRegistrationBody>,
) -> Result<Json<Value>, ApiError> {
    let eoa = parse_eoa(&eoa)?;
    let (avs, registrar) = (parse_eoa(&b.avs)?, parse_eoa(&b.registrar)?);
    if b.domain_version.is_empty() || b.domain_version.len() > 16 {
        return Err(ApiError::bad_request(
            "invalid_domain_version",
            "domain_version must be 1 to 16 characters",
        ));
    }
    let fresh = Freshness {
        nonce: b.nonce,
        deadline: b.deadline,
    };
    let req = Request::KeyRegistration {
        operator: eoa,
        avs,
        operator_set_id: b.operator_set_id,
        registrar,
        chain_id: b.chain_id,
        domain_version: b.domain_version.clone(),
        key_version: b.key_version,
        fresh,
    };
    let (v, sk) = use_key(&s, &eoa, &req, b.key_version, &b.signature).await?;
    let key_data = key_registrar_key_data(&sk.public_g1(), &sk.public_g2());
    let domain = Eip712Domain::eigenlayer_core(&b.domain_version, b.chain_id, registrar);
    let digest = key_registrar_digest(&domain, eoa, avs, b.operator_set_id, &key_data);
    let (point, sig) = sk.sign_hash(&digest);
    Ok(Json(json!({
        "keyData": format!("0x{}", hex::encode(&key_data)),
        "signature": g1_json(&sig),
        "digest": format!("{:#x}", B256::from(digest)),
        "message_point": g1_json(&point),
        "key_version": v,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    nonce: u64,
    deadline: u64,
    signature: String,
}

async fn rotate(
    State(s): State<Shared>,
    Path(eoa): Path<String>,
    Body(b): Body<RotateBody>,
) -> Result<Json<Value>, ApiError> {
    let eoa = parse_eoa(&eoa)?;
    let req = Request::RotateKey {
        operator: eoa,
        fresh: Freshness {
            nonce: b.nonce,
            deadline: b.deadline,
        },
    };
    let digest = authenticate(&s, &eoa, &req, &b.signature).await?;
    let Some(current) = s.ring.record(&eoa) else {
        return Err(refuse(
            &s,
            &eoa,
            &req,
            Some(digest),
            0,
            ApiError::not_found("unknown_key", "no key for this EOA"),
        )
        .await);
    };
    let nonce = Some(Nonce {
        eoa,
        nonce: b.nonce,
        deadline: b.deadline,
    });
    let record = rotate_key(&s, current, nonce, req.kind(), format!("{digest:#x}")).await?;
    Ok(Json(key_json(&record)))
}

/// Adds a new active version and puts the previous one in its grace period.
pub async fn rotate_key(
    s: &AppState,
    current: KeyRecord,
    nonce: Option<Nonce>,
    op: &'static str,
    request_digest: String,
) -> Result<KeyRecord, ApiError> {
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
        .map_err(ApiError::internal)?;
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
    let audit = AuditEntry {
        eoa: eoa.to_checksum(None),
        op,
        key_version: new_version,
        request_digest,
        outcome: "ok".into(),
    };
    s.ledger
        .submit(Op::UpdateKey {
            nonce,
            expected: current,
            record: record.clone(),
            new_secret: Some((new_version, sealed)),
            drop_secret: None,
            audit,
        })
        .await?;
    s.ring.install_version(&record, new_version, Arc::new(sk));
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
        let audit = AuditEntry {
            eoa: eoa.to_checksum(None),
            op: "Retire",
            key_version: version,
            request_digest: String::new(),
            outcome: "ok".into(),
        };
        let op = Op::UpdateKey {
            nonce: None,
            expected: current,
            record: record.clone(),
            new_secret: None,
            drop_secret: Some(version),
            audit,
        };
        match s.ledger.submit(op).await {
            Ok(()) => s.ring.retire_version(&record, version),
            Err(e) => tracing::warn!(%eoa, version, code = e.code, "retirement postponed"),
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
                tracing::warn!(%eoa, code = e.code, "scheduled rotation postponed");
            }
        }
    }
}

// The seed's routes, kept as aliases: same authentication, nothing that returns a secret.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyScalarMul {
    eoa_address: String,
    hash_x: String,
    hash_y: String,
    nonce: u64,
    deadline: u64,
    signature: String,
}

async fn legacy_scalar_mul(
    State(s): State<Shared>,
    Body(b): Body<LegacyScalarMul>,
) -> Result<Json<Value>, ApiError> {
    let eoa = parse_eoa(&b.eoa_address)?;
    let fresh = Freshness {
        nonce: b.nonce,
        deadline: b.deadline,
    };
    let mut out = scalar_mul_inner(&s, eoa, &b.hash_x, &b.hash_y, 0, fresh, &b.signature).await?;
    if let Some(o) = out.as_object_mut() {
        o.remove("key_version");
    }
    Ok(Json(out))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacySign {
    eoa_address: String,
    message_hash: String,
    nonce: u64,
    deadline: u64,
    signature: String,
}

async fn legacy_sign(
    State(s): State<Shared>,
    Body(b): Body<LegacySign>,
) -> Result<Json<Value>, ApiError> {
    let body = SignBody {
        message_hash: b.message_hash,
        key_version: 0,
        nonce: b.nonce,
        deadline: b.deadline,
        signature: b.signature,
    };
    sign(State(s), Path(b.eoa_address), Body(body)).await
}

async fn healthz(State(s): State<Shared>) -> Json<Value> {
    Json(json!({ "status": "ok", "keys": s.ring.records().len() }))
}

async fn metrics(State(s): State<Shared>) -> Response {
    kms_service::metrics_response(s.metrics.render())
}

async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::not_found("no_route", "no such route")
}

async fn count_requests(State(s): State<Shared>, req: HttpRequest, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let resp = next.run(req).await;
    s.metrics
        .requests
        .get_or_create(&RouteLabels {
            route,
            status: resp.status().as_u16(),
        })
        .inc();
    resp
}

/// The router with its limits: body size, per-request timeout, request counting.
pub fn router(state: Shared) -> Router {
    let timeout = std::time::Duration::from_millis(state.cfg.request_timeout_ms);
    let max_body = state.cfg.max_body_bytes;
    Router::new()
        .route("/v1/keys", post(create_key).get(list_keys))
        .route("/v1/keys/{eoa}", get(get_key))
        .route("/v1/keys/{eoa}/sign", post(sign))
        .route("/v1/keys/{eoa}/scalar-mul", post(scalar_mul))
        .route("/v1/keys/{eoa}/registration", post(registration))
        .route("/v1/keys/{eoa}/key-registration", post(key_registration))
        .route("/v1/keys/{eoa}/rotate", post(rotate))
        .route("/api/keys", get(list_keys))
        .route("/api/keys/{eoa}", get(get_key))
        .route("/api/scalar_mul", post(legacy_scalar_mul))
        .route("/api/sign", post(legacy_sign))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .with_state(state)
}
