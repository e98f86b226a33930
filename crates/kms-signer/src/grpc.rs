//! The cerberus gRPC API (`Layr-Labs/cerberus-api`), so that eigensdk-go's remote BLS signer and
//! the AVS software built on it can use this service unchanged.
//!
//! Wire facts (docs/0011-cerberus-and-api-keys.md): packages `signer.v1` and `keymanager.v1`, their messages with the
//! protos' field numbers (written here with prost's derive, so no protoc is needed), keys named
//! by the lowercase hex of gnark's compressed G1 point, signatures as 64-byte `X ‖ Y`, the API
//! key in the `authorization` metadata (raw, as eigensdk-go sends it, or `Bearer `-prefixed).
//! What differs from cerberus, on purpose: keys are created only through the EOA-authenticated
//! REST API (`GenerateKeyPair` and `ImportKey` refuse), `SignG1` checks its point before it
//! meets the key, `SignGeneric` takes exactly 32 bytes, every use is audited with the API key's
//! id, and the `password` fields are accepted and ignored (keys are sealed under the service's
//! KEK, not per-key passwords). `admin.v1` is not served.

use crate::api::AppState;
use crate::apikeys::Scope;
use crate::error::{ApiError, ServiceError};
use crate::service::{use_key_with_token, KeyChoice, TokenUse};
use crate::tls::PeerAddr;
use alloy_primitives::{keccak256, B256, U256};
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Request as HttpRequest, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use kms_crypto::bn254::G1Point;
use std::sync::Arc;
use std::time::Instant;
use tonic::{Code, Status};
use tonic_prost::ProstCodec;

/// The protos' messages, field for field (cerberus-api `proto/signer.proto` and
/// `proto/key_manager.proto`).
pub mod pb {
    /// `signer.v1.SignGenericRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SignGenericRequest {
        /// The key's name: hex of its gnark-compressed G1 point.
        #[prost(string, tag = "1")]
        pub public_key_g1: String,
        /// The 32-byte digest to sign.
        #[prost(bytes = "vec", tag = "2")]
        pub data: Vec<u8>,
        /// Accepted and ignored.
        #[prost(string, tag = "3")]
        pub password: String,
    }

    /// `signer.v1.SignGenericResponse`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SignGenericResponse {
        /// The signature, 64 bytes `X ‖ Y` big-endian.
        #[prost(bytes = "vec", tag = "1")]
        pub signature: Vec<u8>,
    }

    /// `signer.v1.SignG1Request`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SignG1Request {
        /// The key's name: hex of its gnark-compressed G1 point.
        #[prost(string, tag = "1")]
        pub public_key_g1: String,
        /// The G1 point to multiply, 64 bytes `X ‖ Y` big-endian.
        #[prost(bytes = "vec", tag = "2")]
        pub data: Vec<u8>,
        /// Accepted and ignored.
        #[prost(string, tag = "3")]
        pub password: String,
    }

    /// `signer.v1.SignG1Response`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SignG1Response {
        /// The product, 64 bytes `X ‖ Y` big-endian.
        #[prost(bytes = "vec", tag = "1")]
        pub signature: Vec<u8>,
    }

    /// `keymanager.v1.GenerateKeyPairRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GenerateKeyPairRequest {
        /// Ignored: the call is refused.
        #[prost(string, tag = "1")]
        pub password: String,
    }

    /// `keymanager.v1.GenerateKeyPairResponse` (never sent: the call is refused).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GenerateKeyPairResponse {
        /// G1 key name.
        #[prost(string, tag = "1")]
        pub public_key_g1: String,
        /// cerberus returns the private key here; this service never does.
        #[prost(string, tag = "2")]
        pub private_key: String,
        /// cerberus returns the mnemonic here; this service never does.
        #[prost(string, tag = "3")]
        pub mnemonic: String,
        /// G2 key, gnark-compressed hex.
        #[prost(string, tag = "4")]
        pub public_key_g2: String,
        /// An API key.
        #[prost(string, tag = "5")]
        pub api_key: String,
    }

    /// `keymanager.v1.ImportKeyRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ImportKeyRequest {
        /// Ignored: the call is refused (import with `kms-signer import` on the host).
        #[prost(string, tag = "1")]
        pub private_key: String,
        /// Ignored.
        #[prost(string, tag = "2")]
        pub mnemonic: String,
        /// Ignored.
        #[prost(string, tag = "3")]
        pub password: String,
    }

    /// `keymanager.v1.ImportKeyResponse` (never sent: the call is refused).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ImportKeyResponse {
        /// G1 key name.
        #[prost(string, tag = "1")]
        pub public_key_g1: String,
        /// G2 key.
        #[prost(string, tag = "2")]
        pub public_key_g2: String,
        /// An API key.
        #[prost(string, tag = "3")]
        pub api_key: String,
    }

    /// `keymanager.v1.PublicKey`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PublicKey {
        /// G1 key name: hex of the gnark-compressed point.
        #[prost(string, tag = "1")]
        pub public_key_g1: String,
        /// G2 key: hex of the gnark-compressed point.
        #[prost(string, tag = "2")]
        pub public_key_g2: String,
    }

    /// `keymanager.v1.ListKeysRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListKeysRequest {}

    /// `keymanager.v1.ListKeysResponse`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListKeysResponse {
        /// Every usable key version, newest first.
        #[prost(message, repeated, tag = "1")]
        pub public_keys: Vec<PublicKey>,
    }

    /// `keymanager.v1.GetKeyMetadataRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GetKeyMetadataRequest {
        /// G1 key name.
        #[prost(string, tag = "1")]
        pub public_key_g1: String,
    }

    /// `keymanager.v1.GetKeyMetadataResponse`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GetKeyMetadataResponse {
        /// G1 key name.
        #[prost(string, tag = "1")]
        pub public_key_g1: String,
        /// G2 key: hex of the gnark-compressed point.
        #[prost(string, tag = "2")]
        pub public_key_g2: String,
        /// Unix seconds at the version's creation.
        #[prost(int64, tag = "3")]
        pub created_at: i64,
        /// Unix seconds of the version's last change of state (its creation or retirement).
        #[prost(int64, tag = "4")]
        pub updated_at: i64,
    }
}

/// The gRPC paths served.
pub mod paths {
    /// `Signer/SignGeneric`.
    pub const SIGN_GENERIC: &str = "/signer.v1.Signer/SignGeneric";
    /// `Signer/SignG1`.
    pub const SIGN_G1: &str = "/signer.v1.Signer/SignG1";
    /// `KeyManager/GenerateKeyPair` (refused).
    pub const GENERATE_KEY_PAIR: &str = "/keymanager.v1.KeyManager/GenerateKeyPair";
    /// `KeyManager/ImportKey` (refused).
    pub const IMPORT_KEY: &str = "/keymanager.v1.KeyManager/ImportKey";
    /// `KeyManager/ListKeys`.
    pub const LIST_KEYS: &str = "/keymanager.v1.KeyManager/ListKeys";
    /// `KeyManager/GetKeyMetadata`.
    pub const GET_KEY_METADATA: &str = "/keymanager.v1.KeyManager/GetKeyMetadata";
}

type Shared = Arc<AppState>;

/// A gRPC status for a service error: the stable code first, then the message, never internal
/// detail.
pub fn status(e: ServiceError) -> Status {
    use ServiceError as E;
    let code = match &e {
        E::InvalidApiKey | E::ApiKeyRevoked | E::ApiKeyExpired => Code::Unauthenticated,
        E::ScopeDenied | E::SourceDenied | E::CreatorNotAllowed => Code::PermissionDenied,
        E::UnknownKey | E::UnknownKeyVersion | E::UnknownPublicKey | E::UnknownApiKey => {
            Code::NotFound
        }
        E::RateLimited | E::TooManyApiKeys => Code::ResourceExhausted,
        E::KeyRetired | E::KeyExists | E::ApiKeyExists | E::NonceReused | E::ConcurrentUpdate => {
            Code::FailedPrecondition
        }
        E::Expired | E::DeadlineTooFar { .. } | E::BadSignature(_) | E::WrongSigner => {
            Code::Unauthenticated
        }
        E::Overloaded => Code::Unavailable,
        E::Internal => Code::Internal,
    };
    let api = ApiError::from(e);
    Status::new(code, format!("{}: {}", api.code, api.message))
}

fn invalid(code: &str, message: &str) -> Status {
    Status::invalid_argument(format!("{code}: {message}"))
}

/// A key name: the hex (an optional `0x`, either case) of a 32-byte gnark-compressed G1 point.
fn parse_key_name(text: &str) -> Result<[u8; 32], Status> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let mut out = [0u8; 32];
    hex::decode_to_slice(digits, &mut out).map_err(|_| {
        invalid(
            "invalid_public_key",
            "public_key_g1 must be the hex of a 32-byte compressed G1 point",
        )
    })?;
    Ok(out)
}

/// The API key from the `authorization` metadata: raw (eigensdk-go) or `Bearer `-prefixed.
fn bearer<T>(req: &tonic::Request<T>) -> Result<String, Status> {
    let value = req
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| status(ServiceError::InvalidApiKey))?;
    Ok(value
        .strip_prefix("Bearer ")
        .unwrap_or(value)
        .trim()
        .to_owned())
}

fn source<T>(req: &tonic::Request<T>) -> Option<std::net::IpAddr> {
    req.extensions()
        .get::<ConnectInfo<PeerAddr>>()
        .map(|c| c.0 .0.ip())
}

/// The operator whose key has this name (names are public: `ListKeys` lists them).
fn owner_of(s: &AppState, name: &[u8; 32]) -> Result<alloy_primitives::Address, Status> {
    s.ring
        .owner_named(name)
        .ok_or_else(|| status(ServiceError::UnknownPublicKey))
}

async fn sign_generic(
    s: Shared,
    req: tonic::Request<pb::SignGenericRequest>,
) -> Result<tonic::Response<pb::SignGenericResponse>, Status> {
    let started = Instant::now();
    let name = parse_key_name(&req.get_ref().public_key_g1)?;
    let data: [u8; 32] = req.get_ref().data.as_slice().try_into().map_err(|_| {
        invalid(
            "invalid_data",
            "data must be exactly 32 bytes (the digest to sign)",
        )
    })?;
    let token = bearer(&req)?;
    let owner = owner_of(&s, &name)?;
    let (_, sig) = use_key_with_token(
        &s,
        TokenUse {
            token: &token,
            source: source(&req),
            scope: Scope::Sign,
            op: "SignGeneric",
            digest: B256::from(data),
            choice: KeyChoice::G1(name),
            eoa: owner,
        },
        |_, sk| sk.sign_hash(&data),
    )
    .await
    .map_err(status)?;
    s.metrics
        .signing_seconds
        .observe(started.elapsed().as_secs_f64());
    Ok(tonic::Response::new(pb::SignGenericResponse {
        signature: sig.to_abi_bytes().to_vec(),
    }))
}

async fn sign_g1(
    s: Shared,
    req: tonic::Request<pb::SignG1Request>,
) -> Result<tonic::Response<pb::SignG1Response>, Status> {
    let started = Instant::now();
    let name = parse_key_name(&req.get_ref().public_key_g1)?;
    let data = req.get_ref().data.as_slice();
    let (x, y) = match (data.len(), data.get(..32), data.get(32..)) {
        (64, Some(x), Some(y)) => (U256::from_be_slice(x), U256::from_be_slice(y)),
        _ => {
            return Err(invalid(
                "invalid_point",
                "data must be a 64-byte X || Y G1 point",
            ))
        }
    };
    // Checked before anything else: an unchecked point never meets a key.
    let point = G1Point::from_coords(x, y).map_err(|e| {
        invalid(
            "invalid_point",
            &format!("data is not a usable G1 point: {e}"),
        )
    })?;
    let token = bearer(&req)?;
    let owner = owner_of(&s, &name)?;
    let sig = use_key_with_token(
        &s,
        TokenUse {
            token: &token,
            source: source(&req),
            scope: Scope::ScalarMul,
            op: "SignG1",
            digest: keccak256(data),
            choice: KeyChoice::G1(name),
            eoa: owner,
        },
        |_, sk| sk.sign_point(&point),
    )
    .await
    .map_err(status)?;
    s.metrics
        .signing_seconds
        .observe(started.elapsed().as_secs_f64());
    Ok(tonic::Response::new(pb::SignG1Response {
        signature: sig.to_abi_bytes().to_vec(),
    }))
}

async fn list_keys(
    s: Shared,
    _req: tonic::Request<pb::ListKeysRequest>,
) -> Result<tonic::Response<pb::ListKeysResponse>, Status> {
    let public_keys = s
        .ring
        .named_versions()
        .into_iter()
        .filter(|v| v.usable)
        .map(|v| pb::PublicKey {
            public_key_g1: hex::encode(v.names.g1),
            public_key_g2: hex::encode(v.names.g2),
        })
        .collect();
    Ok(tonic::Response::new(pb::ListKeysResponse { public_keys }))
}

async fn get_key_metadata(
    s: Shared,
    req: tonic::Request<pb::GetKeyMetadataRequest>,
) -> Result<tonic::Response<pb::GetKeyMetadataResponse>, Status> {
    let name = parse_key_name(&req.get_ref().public_key_g1)?;
    let found = s
        .ring
        .named_versions()
        .into_iter()
        .find(|v| v.names.g1 == name)
        .ok_or_else(|| status(ServiceError::UnknownPublicKey))?;
    Ok(tonic::Response::new(pb::GetKeyMetadataResponse {
        public_key_g1: hex::encode(found.names.g1),
        public_key_g2: hex::encode(found.names.g2),
        created_at: i64::try_from(found.created_at).unwrap_or(i64::MAX),
        updated_at: i64::try_from(found.updated_at).unwrap_or(i64::MAX),
    }))
}

const NO_KEY_MATERIAL: &str = "keys are created inside kms-signer through its EOA-authenticated \
    API (POST /v1/keys, or `kms signer create`) or imported on the host (`kms-signer import`); \
    no private key or mnemonic is ever returned";

/// The largest request message: the largest real one (SignG1) is about 200 bytes.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// Serves one unary method: decodes `Req`, runs `f`, encodes its answer or status.
async fn unary<Req, Resp, F, Fut>(s: Shared, req: HttpRequest, f: F) -> Response
where
    Req: prost::Message + Default + Send + 'static,
    Resp: prost::Message + Send + 'static,
    F: FnOnce(Shared, tonic::Request<Req>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<tonic::Response<Resp>, Status>> + Send + 'static,
{
    let svc = tower::service_fn(move |r: tonic::Request<Req>| (f.clone())(s.clone(), r));
    tonic::server::Grpc::new(ProstCodec::<Resp, Req>::default())
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .unary(svc, req)
        .await
        .into_response()
}

/// The gRPC router: the six methods, anything else `UNIMPLEMENTED`; each call bounded by the
/// service's request timeout.
pub fn router(state: Shared) -> Router {
    let timeout = std::time::Duration::from_millis(state.cfg.request_timeout_ms);
    Router::new()
        .route(
            paths::SIGN_GENERIC,
            post(|State(s): State<Shared>, r: HttpRequest| unary(s, r, sign_generic)),
        )
        .route(
            paths::SIGN_G1,
            post(|State(s): State<Shared>, r: HttpRequest| unary(s, r, sign_g1)),
        )
        .route(
            paths::LIST_KEYS,
            post(|State(s): State<Shared>, r: HttpRequest| unary(s, r, list_keys)),
        )
        .route(
            paths::GET_KEY_METADATA,
            post(|State(s): State<Shared>, r: HttpRequest| unary(s, r, get_key_metadata)),
        )
        .route(
            paths::GENERATE_KEY_PAIR,
            post(|State(s): State<Shared>, r: HttpRequest| {
                unary(
                    s,
                    r,
                    |_, _: tonic::Request<pb::GenerateKeyPairRequest>| async {
                        Err::<tonic::Response<pb::GenerateKeyPairResponse>, _>(
                            Status::unimplemented(NO_KEY_MATERIAL),
                        )
                    },
                )
            }),
        )
        .route(
            paths::IMPORT_KEY,
            post(|State(s): State<Shared>, r: HttpRequest| {
                unary(s, r, |_, _: tonic::Request<pb::ImportKeyRequest>| async {
                    Err::<tonic::Response<pb::ImportKeyResponse>, _>(Status::unimplemented(
                        NO_KEY_MATERIAL,
                    ))
                })
            }),
        )
        .fallback(|| async {
            Status::unimplemented("no such gRPC method (signer.v1 and keymanager.v1 are served)")
                .into_http::<axum::body::Body>()
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            |State(s): State<Shared>, req: HttpRequest, next: axum::middleware::Next| async move {
                if s.source_allowed(&req) {
                    next.run(req).await
                } else {
                    Status::resource_exhausted("rate_limited: too many requests from this address")
                        .into_http::<axum::body::Body>()
                }
            },
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .with_state(state)
}
