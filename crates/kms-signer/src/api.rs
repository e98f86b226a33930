//! HTTP API (axum): the routes, the body extractor and the answers' JSON (`kms_api::signer`).
//! Handlers parse and check input at the edge and call the service layer (`crate::service`),
//! whose errors become answers in `crate::error`.

use crate::apikeys::ApiKeys;
use crate::apikeys::{parse_sources, ApiKeyRecord, Scope, Scopes, MAX_LABEL_LEN};
use crate::config::Config;
use crate::error::{ApiError, ServiceError};
use crate::keyring::{KeyRecord, KeyRing, VersionState};
use crate::ledger::Ledger;
use crate::metrics::{Metrics, RouteLabels};
use crate::service::use_key;
use crate::service::{use_key_with_token, KeyChoice, TokenUse};
use crate::tls::PeerAddr;
use alloy_primitives::{keccak256, Address, B256};
use axum::extract::rejection::JsonRejection;
use axum::extract::ConnectInfo;
use axum::extract::{
    FromRequest, FromRequestParts, MatchedPath, Path, Request as HttpRequest, State,
};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kms_api::signer::{
    ApiKeyAnswer, ApiKeyList, CreateApiKeyRequest, CreateKeyRequest, DomainAnswer, G1Json, G2Json,
    Healthz, KeyAnswer, KeyList, KeyRegistrationAnswer, KeyRegistrationRequest, KeyVersion,
    LegacyScalarMulRequest, LegacySignRequest, ListApiKeysRequest, PubkeyRegistrationParams,
    RegistrationAnswer, RegistrationRequest, RevokeApiKeyRequest, RotateRequest, ScalarMulAnswer,
    ScalarMulRequest, SignAnswer, SignRequest, TokenKeyRegistrationRequest,
    TokenRegistrationRequest, TokenScalarMulRequest, TokenSignRequest,
};
use kms_crypto::auth::{Freshness, Request};
use kms_crypto::bn254::{
    key_registrar_digest, key_registrar_key_data, parse_u256, registry_coordinator_digest,
    Eip712Domain, G1Point, G2Point, SecretKey,
};
use kms_http::RateLimiter;
use kms_store::Store;
use serde::de::DeserializeOwned;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

/// Shared state of the service.
pub struct AppState {
    /// The validated configuration.
    pub cfg: Config,
    /// The data directory's store; its KEK seals new key versions.
    pub store: Arc<Store>,
    /// Every operator key, with the unsealed secrets of its usable versions.
    pub ring: Arc<KeyRing>,
    /// The single writer every state change, nonce use and audit record goes through.
    pub ledger: Ledger,
    /// The Prometheus metrics served at `/metrics`.
    pub metrics: Metrics,
    /// Every delegated API key (hashes only), loaded at start.
    pub api_keys: Arc<ApiKeys>,
    limiter: RateLimiter<Address>,
    /// Token buckets per API key id (same rate and burst as per EOA), taken once the token
    /// opened its record: one machine's key cannot use up its operator's EOA budget.
    key_limiter: RateLimiter<String>,
    /// Token buckets per source address, taken before any parsing or authentication.
    source_limiter: RateLimiter<IpAddr>,
}

impl AppState {
    /// Builds the state from opened parts: metrics seeded with the ring's key counts, and the
    /// per-EOA rate limiter set from `cfg`.
    pub fn new(
        cfg: Config,
        store: Arc<Store>,
        ring: Arc<KeyRing>,
        api_keys: Arc<ApiKeys>,
        ledger: Ledger,
    ) -> Self {
        let metrics = Metrics::new();
        metrics.set_keys(ring.counts());
        let limiter = RateLimiter::new(cfg.rate_limit_per_sec, cfg.rate_limit_burst);
        let key_limiter = RateLimiter::new(cfg.rate_limit_per_sec, cfg.rate_limit_burst);
        let source_limiter =
            RateLimiter::new(cfg.source_rate_limit_per_sec, cfg.source_rate_limit_burst);
        Self {
            cfg,
            store,
            ring,
            ledger,
            metrics,
            api_keys,
            limiter,
            key_limiter,
            source_limiter,
        }
    }

    /// Token bucket per EOA.
    pub(crate) fn rate_limit(&self, eoa: &Address) -> Result<(), ServiceError> {
        if self.limiter.allow(*eoa) {
            return Ok(());
        }
        Err(ServiceError::RateLimited)
    }

    /// Token bucket per source address of a request (none known: not limited here).
    /// IPv6 sources are counted by their /64, which one host usually holds whole.
    pub(crate) fn source_allowed(&self, req: &HttpRequest) -> bool {
        let ip = match req.extensions().get::<ConnectInfo<PeerAddr>>() {
            Some(c) => c.0 .0.ip(),
            None => return true,
        };
        let key = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
            },
            v4 => v4,
        };
        self.source_limiter.allow(key)
    }

    /// Token bucket per API key.
    pub(crate) fn rate_limit_key(&self, id: &str) -> Result<(), ServiceError> {
        if self.key_limiter.allow(id.to_owned()) {
            return Ok(());
        }
        Err(ServiceError::RateLimited)
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

/// The freshness and signature every EOA-signed request body carries.
trait SignedBody {
    fn fresh(&self) -> Freshness;
    fn signature(&self) -> &str;
}

macro_rules! signed_body {
    ($($t:ty),*) => {$(
        impl SignedBody for $t {
            fn fresh(&self) -> Freshness {
                Freshness {
                    nonce: self.nonce,
                    deadline: self.deadline,
                }
            }
            fn signature(&self) -> &str {
                &self.signature
            }
        }
    )*};
}

signed_body!(
    CreateKeyRequest,
    SignRequest,
    ScalarMulRequest,
    RegistrationRequest,
    KeyRegistrationRequest,
    RotateRequest,
    LegacyScalarMulRequest,
    LegacySignRequest,
    CreateApiKeyRequest,
    ListApiKeysRequest,
    RevokeApiKeyRequest
);

/// A request to `/v1/keys/{eoa}/...` signed by that EOA: the body (parsed first, as before the
/// extractor existed, so the error for a request wrong in both places stays the same), then the
/// path's EOA.
struct Signed<T> {
    eoa: Address,
    body: T,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Signed<T> {
    type Rejection = ApiError;

    async fn from_request(req: HttpRequest, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let eoa = Path::<String>::from_request_parts(&mut parts, state)
            .await
            .map_err(|_| ApiError::bad_request("invalid_address", "no EOA in the path"))?
            .0;
        let Body(body) =
            Body::<T>::from_request(HttpRequest::from_parts(parts, body), state).await?;
        Ok(Self {
            eoa: parse_eoa(&eoa)?,
            body,
        })
    }
}

/// A request to `/v1/keys/{eoa}/...` authenticated either way: signed by the EOA (body `S`), or
/// carrying an API key in `Authorization: Bearer` (body `T`, with no nonce or signature).
enum Authed<S, T> {
    Eoa(Signed<S>),
    Token {
        eoa: Address,
        token: String,
        source: Option<IpAddr>,
        body: T,
    },
}

impl<St: Send + Sync, S: DeserializeOwned, T: DeserializeOwned> FromRequest<St> for Authed<S, T> {
    type Rejection = ApiError;

    async fn from_request(req: HttpRequest, state: &St) -> Result<Self, Self::Rejection> {
        let Some(header) = req.headers().get(axum::http::header::AUTHORIZATION) else {
            return Signed::<S>::from_request(req, state).await.map(Authed::Eoa);
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned())
            .ok_or_else(|| ApiError::from(ServiceError::InvalidApiKey))?;
        let source = req
            .extensions()
            .get::<ConnectInfo<PeerAddr>>()
            .map(|c| c.0 .0.ip());
        let Signed { eoa, body } = Signed::<T>::from_request(req, state).await?;
        Ok(Authed::Token {
            eoa,
            token,
            source,
            body,
        })
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

fn g1_json(p: &G1Point) -> G1Json {
    G1Json {
        x: p.x_dec(),
        y: p.y_dec(),
    }
}

fn g2_json(p: &G2Point) -> G2Json {
    let (x, y) = p.to_dec();
    G2Json { x, y }
}

fn key_json(r: &KeyRecord) -> KeyAnswer {
    let versions = r
        .versions
        .iter()
        .map(|v| {
            let (state, grace_until, retired_at) = match v.state {
                VersionState::Active => ("active", None, None),
                VersionState::Grace { until } => ("grace", Some(until), None),
                VersionState::Retired { at } => ("retired", None, Some(at)),
            };
            KeyVersion {
                created_at: v.created_at,
                g1: G1Json {
                    x: v.g1[0].clone(),
                    y: v.g1[1].clone(),
                },
                g2: G2Json {
                    x: v.g2[0].clone(),
                    y: v.g2[1].clone(),
                },
                grace_until,
                retired_at,
                state: state.to_owned(),
                version: v.version,
            }
        })
        .collect();
    KeyAnswer {
        active_version: r.active().map(|v| v.version),
        eoa: r.eoa.to_checksum(None),
        versions,
    }
}

async fn create_key(
    State(s): State<Shared>,
    Body(b): Body<CreateKeyRequest>,
) -> Result<Response, ApiError> {
    let eoa = parse_eoa(&b.operator)?;
    let req = Request::CreateKey {
        operator: eoa,
        fresh: b.fresh(),
    };
    let record = crate::service::create_key(&s, eoa, &req, b.signature()).await?;
    let body = key_json(&record);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn get_key(
    State(s): State<Shared>,
    Path(eoa): Path<String>,
) -> Result<Json<KeyAnswer>, ApiError> {
    let eoa = parse_eoa(&eoa)?;
    s.ring
        .record(&eoa)
        .map(|r| Json(key_json(&r)))
        .ok_or_else(|| ApiError::not_found("unknown_key", "no key for this EOA"))
}

async fn list_keys(State(s): State<Shared>) -> Json<KeyList> {
    Json(KeyList {
        keys: s.ring.records().iter().map(key_json).collect(),
    })
}

async fn sign(
    State(s): State<Shared>,
    auth: Authed<SignRequest, TokenSignRequest>,
) -> Result<Json<SignAnswer>, ApiError> {
    match auth {
        Authed::Eoa(signed) => sign_with_eoa(&s, signed).await,
        Authed::Token {
            eoa,
            token,
            source,
            body,
        } => {
            let started = Instant::now();
            let message_hash = parse_hash(&body.message_hash)?;
            let use_ = TokenUse {
                token: &token,
                source,
                scope: Scope::Sign,
                op: "SignHash",
                digest: message_hash,
                choice: KeyChoice::Version(body.key_version),
                eoa,
            };
            let answer =
                use_key_with_token(&s, use_, |v, sk| sign_answer(v, sk, &message_hash)).await?;
            observe_signing(&s, started);
            Ok(Json(answer))
        }
    }
}

async fn sign_with_eoa(
    s: &AppState,
    Signed { eoa, body: b }: Signed<SignRequest>,
) -> Result<Json<SignAnswer>, ApiError> {
    let started = Instant::now();
    let message_hash = parse_hash(&b.message_hash)?;
    let req = Request::SignHash {
        operator: eoa,
        message_hash,
        key_version: b.key_version,
        fresh: b.fresh(),
    };
    let answer = use_key(s, &eoa, &req, b.key_version, b.signature(), |v, sk| {
        sign_answer(v, sk, &message_hash)
    })
    .await?;
    observe_signing(s, started);
    Ok(Json(answer))
}

fn scalar_mul_answer(v: u32, sk: &SecretKey, point: &G1Point) -> ScalarMulAnswer {
    ScalarMulAnswer {
        g1: g1_json(&sk.public_g1()),
        g2: g2_json(&sk.public_g2()),
        key_version: Some(v),
        signature: g1_json(&sk.sign_point(point)),
    }
}

fn observe_signing(s: &AppState, started: Instant) {
    s.metrics
        .signing_seconds
        .observe(started.elapsed().as_secs_f64());
}

fn sign_answer(v: u32, sk: &SecretKey, message_hash: &B256) -> SignAnswer {
    let (point, sig) = sk.sign_hash(&message_hash.0);
    SignAnswer {
        g1: g1_json(&sk.public_g1()),
        g2: g2_json(&sk.public_g2()),
        key_version: v,
        message_point: g1_json(&point),
        signature: g1_json(&sig),
    }
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
) -> Result<ScalarMulAnswer, ApiError> {
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
    let answer = use_key(s, &eoa, &req, key_version, signature, |v, sk| {
        scalar_mul_answer(v, sk, &point)
    })
    .await?;
    observe_signing(s, started);
    Ok(answer)
}

async fn scalar_mul(
    State(s): State<Shared>,
    auth: Authed<ScalarMulRequest, TokenScalarMulRequest>,
) -> Result<Json<ScalarMulAnswer>, ApiError> {
    let (eoa, b) = match auth {
        Authed::Eoa(Signed { eoa, body }) => (eoa, body),
        Authed::Token {
            eoa,
            token,
            source,
            body,
        } => {
            let started = Instant::now();
            let (px, py) = (parse_u256(&body.hash.x)?, parse_u256(&body.hash.y)?);
            let point = G1Point::from_coords(px, py)?;
            let use_ = TokenUse {
                token: &token,
                source,
                scope: Scope::ScalarMul,
                op: "ScalarMul",
                digest: keccak256(point.to_abi_bytes()),
                choice: KeyChoice::Version(body.key_version),
                eoa,
            };
            let answer =
                use_key_with_token(&s, use_, |v, sk| scalar_mul_answer(v, sk, &point)).await?;
            observe_signing(&s, started);
            return Ok(Json(answer));
        }
    };
    scalar_mul_inner(
        &s,
        eoa,
        &b.hash.x,
        &b.hash.y,
        b.key_version,
        b.fresh(),
        b.signature(),
    )
    .await
    .map(Json)
}

/// The key for a registration route: the EOA's signature over `req`, or an API key of scope
/// `registration` (then the audit log records `req`'s EIP-712 digest with nonce and deadline 0,
/// the same fields the EOA would have signed).
async fn registration_key(
    s: &AppState,
    auth: RegistrationAuth,
    req: Request,
    key_version: u32,
) -> Result<(u32, Arc<SecretKey>), ApiError> {
    match auth {
        RegistrationAuth::Eoa { signature } => {
            let key = |v, sk: &Arc<SecretKey>| (v, sk.clone());
            Ok(use_key(s, &req.operator(), &req, key_version, &signature, key).await?)
        }
        RegistrationAuth::Token { token, source } => {
            let use_ = TokenUse {
                token: &token,
                source,
                scope: Scope::Registration,
                op: req.kind(),
                digest: req.digest_in(&s.cfg.domain),
                choice: KeyChoice::Version(key_version),
                eoa: req.operator(),
            };
            Ok(use_key_with_token(s, use_, |v, sk| (v, sk.clone())).await?)
        }
    }
}

/// How a registration request is authenticated.
enum RegistrationAuth {
    Eoa {
        signature: String,
    },
    Token {
        token: String,
        source: Option<IpAddr>,
    },
}

/// One shape for both authentications: the EOA, the fields without the credential, the
/// freshness (0 and 0 for an API key), and the credential.
fn split_auth<S: SignedBody, T>(
    auth: Authed<S, T>,
    fields: impl FnOnce(S) -> T,
) -> (Address, T, Freshness, RegistrationAuth) {
    match auth {
        Authed::Eoa(Signed { eoa, body }) => {
            let (signature, fresh) = (body.signature().to_owned(), body.fresh());
            (
                eoa,
                fields(body),
                fresh,
                RegistrationAuth::Eoa { signature },
            )
        }
        Authed::Token {
            eoa,
            token,
            source,
            body,
        } => (
            eoa,
            body,
            Freshness {
                nonce: 0,
                deadline: 0,
            },
            RegistrationAuth::Token { token, source },
        ),
    }
}

async fn registration(
    State(s): State<Shared>,
    auth: Authed<RegistrationRequest, TokenRegistrationRequest>,
) -> Result<Json<RegistrationAnswer>, ApiError> {
    let (eoa, b, fresh, how) = split_auth(auth, |b| TokenRegistrationRequest {
        chain_id: b.chain_id,
        key_version: b.key_version,
        registry: b.registry,
    });
    let registry = parse_eoa(&b.registry)?;
    let req = Request::PubkeyRegistration {
        operator: eoa,
        registry,
        chain_id: b.chain_id,
        key_version: b.key_version,
        fresh,
    };
    let (v, sk) = registration_key(&s, how, req, b.key_version).await?;
    let digest = registry_coordinator_digest(
        &Eip712Domain::registry_coordinator(b.chain_id, registry),
        eoa,
    );
    let (point, sig) = sk.sign_hash(&digest);
    Ok(Json(RegistrationAnswer {
        digest: format!("{:#x}", B256::from(digest)),
        key_version: v,
        message_point: g1_json(&point),
        pubkey_registration_params: PubkeyRegistrationParams {
            pubkey_g1: g1_json(&sk.public_g1()),
            pubkey_g2: g2_json(&sk.public_g2()),
            pubkey_registration_signature: g1_json(&sig),
        },
    }))
}

async fn key_registration(
    State(s): State<Shared>,
    auth: Authed<KeyRegistrationRequest, TokenKeyRegistrationRequest>,
) -> Result<Json<KeyRegistrationAnswer>, ApiError> {
    let (eoa, b, fresh, how) = split_auth(auth, |b| TokenKeyRegistrationRequest {
        avs: b.avs,
        chain_id: b.chain_id,
        domain_version: b.domain_version,
        key_version: b.key_version,
        operator_set_id: b.operator_set_id,
        registrar: b.registrar,
    });
    let (avs, registrar) = (parse_eoa(&b.avs)?, parse_eoa(&b.registrar)?);
    if b.domain_version.is_empty() || b.domain_version.len() > 16 {
        return Err(ApiError::bad_request(
            "invalid_domain_version",
            "domain_version must be 1 to 16 characters",
        ));
    }
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
    let (v, sk) = registration_key(&s, how, req, b.key_version).await?;
    let key_data = key_registrar_key_data(&sk.public_g1(), &sk.public_g2());
    let domain = Eip712Domain::eigenlayer_core(&b.domain_version, b.chain_id, registrar);
    let digest = key_registrar_digest(&domain, eoa, avs, b.operator_set_id, &key_data);
    let (point, sig) = sk.sign_hash(&digest);
    Ok(Json(KeyRegistrationAnswer {
        digest: format!("{:#x}", B256::from(digest)),
        key_data: format!("0x{}", hex::encode(&key_data)),
        key_version: v,
        message_point: g1_json(&point),
        signature: g1_json(&sig),
    }))
}

async fn rotate(
    State(s): State<Shared>,
    Signed { eoa, body: b }: Signed<RotateRequest>,
) -> Result<Json<KeyAnswer>, ApiError> {
    let req = Request::RotateKey {
        operator: eoa,
        fresh: b.fresh(),
    };
    let record = crate::service::rotate(&s, eoa, &req, b.signature()).await?;
    Ok(Json(key_json(&record)))
}

// The seed's routes, kept as aliases: same authentication, nothing that returns a secret.

async fn legacy_scalar_mul(
    State(s): State<Shared>,
    Body(b): Body<LegacyScalarMulRequest>,
) -> Result<Json<ScalarMulAnswer>, ApiError> {
    let eoa = parse_eoa(&b.eoa_address)?;
    let mut out =
        scalar_mul_inner(&s, eoa, &b.hash_x, &b.hash_y, 0, b.fresh(), b.signature()).await?;
    out.key_version = None;
    Ok(Json(out))
}

async fn legacy_sign(
    State(s): State<Shared>,
    Body(b): Body<LegacySignRequest>,
) -> Result<Json<SignAnswer>, ApiError> {
    let eoa = parse_eoa(&b.eoa_address)?;
    let body = SignRequest {
        deadline: b.deadline,
        key_version: 0,
        message_hash: b.message_hash,
        nonce: b.nonce,
        signature: b.signature,
    };
    sign_with_eoa(&s, Signed { eoa, body }).await
}

mod api_keys;
use api_keys::*;

async fn domain(State(s): State<Shared>) -> Json<DomainAnswer> {
    Json(DomainAnswer {
        accept_unsalted: s.cfg.accept_unsalted,
        chain_id: s.cfg.chain_id,
        name: kms_crypto::auth::DOMAIN_NAME.to_owned(),
        salt: s.cfg.domain.salt.map(|v| format!("{v:#x}")),
        version: kms_crypto::auth::DOMAIN_VERSION.to_owned(),
    })
}

async fn healthz(State(s): State<Shared>) -> Json<Healthz> {
    Json(Healthz {
        keys: s.ring.records().len() as u64,
        status: "ok".to_owned(),
    })
}

async fn metrics(State(s): State<Shared>) -> Response {
    kms_http::metrics_response(s.metrics.render())
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

async fn limit_source(State(s): State<Shared>, req: HttpRequest, next: Next) -> Response {
    if !s.source_allowed(&req) {
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests from this address",
        )
        .into_response();
    }
    next.run(req).await
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
        .route("/v1/keys/{eoa}/api-keys", post(create_api_key))
        .route("/v1/keys/{eoa}/api-keys/list", post(list_api_keys))
        .route("/v1/keys/{eoa}/api-keys/revoke", post(revoke_api_key))
        .route("/api/keys", get(list_keys))
        .route("/api/keys/{eoa}", get(get_key))
        .route("/api/scalar_mul", post(legacy_scalar_mul))
        .route("/api/sign", post(legacy_sign))
        .route("/v1/domain", get(domain))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit_source,
        ))
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
