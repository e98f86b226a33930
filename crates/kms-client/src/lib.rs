//! Client library for applications and tools that use the KMS: the client of the operator-key
//! service (`kms-signer`), [`SignerClient`], and the client of the threshold network
//! (`kms-node`), [`node::NodeClient`].
//!
//! Requests that use or change a key are authenticated the way the service requires: the
//! operator's EOA ([`EoaKey`]) signs the request's EIP-712 digest under the service's chain id
//! ([`Request::digest`]), with a fresh random nonce and a deadline [`REQUEST_VALIDITY`] ahead. The
//! chain id is part of the service's configuration; a client with another one makes signatures the
//! service refuses (`wrong_signer`).
//!
//! Calls are blocking and bounded by a connect timeout and a whole-request timeout. Answers come
//! back as the service's JSON (integers as decimal strings, G1 points as `{"x", "y"}`, G2 points
//! in Solidity order); a refusal comes back as [`Error::Api`] with the HTTP status and the
//! service's stable error code and message.
//!
//! This build speaks plain HTTP only (reqwest without a TLS backend): an `https://` URL is
//! accepted but every call to it fails with [`Error::Transport`].
#![forbid(unsafe_code)]

use alloy_primitives::{Address, B256, U256};
use kms_crypto::auth::{Freshness, Request};
use rand_core::{OsRng, RngCore};
use serde_json::{json, Value};
use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use kms_crypto::auth::EoaKey;

pub mod node;

/// How far ahead of now a request's deadline is set.
pub const REQUEST_VALIDITY: Duration = Duration::from_secs(60);
/// The whole-request timeout of [`SignerClient::new`] (connect, send, answer, body).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest wait for a TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Answers larger than this are refused (a key listing of many thousand keys fits).
const MAX_ANSWER_BYTES: u64 = 16 << 20;
/// How many characters of an unexpected answer are quoted in an error.
const QUOTE_CHARS: usize = 200;

/// Everything that can go wrong in a call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The base URL is unusable.
    #[error("invalid service URL: {0}")]
    InvalidUrl(&'static str),
    /// The extra CA certificates could not be read as PEM.
    #[error("CA certificates: {0}")]
    InvalidCa(&'static str),
    /// The service refused the request with its error shape `{"error": {"code", "message"}}`.
    #[error("the service refused the request (HTTP {status}, {code}): {message}")]
    Api {
        status: u16,
        /// The service's stable, machine-readable code (`unknown_key`, `wrong_signer`, ...).
        code: String,
        message: String,
    },
    /// An answer that is not the service's: not JSON, not the error shape, a redirect, too large.
    #[error("unexpected answer from the service (HTTP {status}): {detail}")]
    UnexpectedAnswer { status: u16, detail: String },
    /// No answer: connection refused, timeout, broken connection. The cause is the error's
    /// `source()`.
    #[error("no answer from the service")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The request could not be signed with the EOA key.
    #[error("could not sign the request: {0}")]
    Sign(#[from] kms_crypto::Error),
    /// The local machine cannot make a request: no clock or no randomness.
    #[error("{0}")]
    Local(&'static str),
    /// An app id the nodes would refuse (1 to 128 characters from `[A-Za-z0-9._:-]`).
    #[error("invalid app id: {0}")]
    InvalidAppId(&'static str),
    /// Too few nodes did their part (agreed on the network's view, or sent a valid partial).
    /// `nodes` holds every node that failed, disagreed or cheated, with the reason.
    #[error("{}", node::quorum_message(.what, *.got, *.needed, .nodes))]
    Quorum {
        what: &'static str,
        got: usize,
        needed: usize,
        nodes: Vec<node::NodeReport>,
    },
    /// The ciphertext given is not one, or does not decrypt for the app id (another app id,
    /// tampered).
    #[error("{what}: {cause}")]
    BadCiphertext {
        what: &'static str,
        cause: kms_crypto::Error,
    },
    /// Encrypting, or recovering the app key from verified partials, failed.
    #[error("{what}: {cause}")]
    Crypto {
        what: &'static str,
        cause: kms_crypto::Error,
    },
}

impl Error {
    /// The HTTP status of an answer, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } | Error::UnexpectedAnswer { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The service's error code, for a refusal in the service's error shape.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// True for a 4xx answer: the request itself was wrong (input, signature, unknown key).
    pub fn is_client_error(&self) -> bool {
        self.status().is_some_and(|s| (400..500).contains(&s))
    }
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// A blocking client of the operator-key service's `/v1` API.
#[derive(Debug, Clone)]
pub struct SignerClient {
    base: String,
    chain_id: u64,
    http: reqwest::blocking::Client,
}

impl SignerClient {
    /// A client of the service at `base_url` (`http://host:port`, optionally with a path prefix)
    /// whose EIP-712 domain uses `chain_id`, with [`DEFAULT_TIMEOUT`].
    pub fn new(base_url: &str, chain_id: u64) -> Result<Self> {
        Self::with_timeout(base_url, chain_id, DEFAULT_TIMEOUT)
    }

    /// As [`SignerClient::new`] with another whole-request timeout (the connect timeout is the
    /// smaller of it and [`CONNECT_TIMEOUT`]). Redirects are not followed.
    pub fn with_timeout(base_url: &str, chain_id: u64, timeout: Duration) -> Result<Self> {
        Self::with_options(base_url, chain_id, timeout, None)
    }

    /// As [`SignerClient::with_timeout`], also trusting the PEM certificates in `extra_roots`
    /// (for a service with its own CA or a self-signed certificate) besides the bundled web roots.
    pub fn with_options(
        base_url: &str,
        chain_id: u64,
        timeout: Duration,
        extra_roots: Option<&[u8]>,
    ) -> Result<Self> {
        let base = normalize_base(base_url)?;
        let http = http_client(timeout, extra_roots)?;
        Ok(Self {
            base,
            chain_id,
            http,
        })
    }

    /// The service's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The chain id requests are signed under.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// Creates the BN254 key of `eoa`'s EOA (`POST /v1/keys`); returns the key record.
    pub fn create_key(&self, eoa: &EoaKey) -> Result<Value> {
        let operator = eoa.address();
        let req = Request::CreateKey {
            operator,
            fresh: fresh()?,
        };
        let body = json!({ "operator": operator.to_checksum(None) });
        self.post("/v1/keys", self.signed(eoa, &req, body)?)
    }

    /// The key record of one EOA (public keys and version states); no authentication.
    pub fn get_key(&self, eoa: Address) -> Result<Value> {
        self.get(&key_path(eoa, ""))
    }

    /// All key records: `{"keys": [...]}`; no authentication.
    pub fn list_keys(&self) -> Result<Value> {
        self.get("/v1/keys")
    }

    /// Signs a 32-byte message hash: `{message_point, signature, g1, g2, key_version}`.
    /// `key_version` 0 means the active version.
    pub fn sign(&self, eoa: &EoaKey, message_hash: B256, key_version: u32) -> Result<Value> {
        let operator = eoa.address();
        let req = Request::SignHash {
            operator,
            message_hash,
            key_version,
            fresh: fresh()?,
        };
        let body = json!({
            "message_hash": format!("0x{}", hex::encode(message_hash)),
            "key_version": key_version,
        });
        self.post(&key_path(operator, "/sign"), self.signed(eoa, &req, body)?)
    }

    /// Multiplies a G1 point (checked by the service) by the key: `{signature, g1, g2,
    /// key_version}`.
    pub fn scalar_mul(&self, eoa: &EoaKey, x: U256, y: U256, key_version: u32) -> Result<Value> {
        let operator = eoa.address();
        let req = Request::ScalarMul {
            operator,
            point_x: x,
            point_y: y,
            key_version,
            fresh: fresh()?,
        };
        let body = json!({
            "hash": { "x": x.to_string(), "y": y.to_string() },
            "key_version": key_version,
        });
        self.post(
            &key_path(operator, "/scalar-mul"),
            self.signed(eoa, &req, body)?,
        )
    }

    /// The RegistryCoordinator's `pubkeyRegistrationParams` for the operator, for the contract at
    /// `registry` on chain `chain_id` (the contract's chain, which may differ from the service's).
    pub fn registration(
        &self,
        eoa: &EoaKey,
        registry: Address,
        chain_id: u64,
        key_version: u32,
    ) -> Result<Value> {
        let operator = eoa.address();
        let req = Request::PubkeyRegistration {
            operator,
            registry,
            chain_id,
            key_version,
            fresh: fresh()?,
        };
        let body = json!({
            "registry": registry.to_checksum(None),
            "chain_id": chain_id,
            "key_version": key_version,
        });
        self.post(
            &key_path(operator, "/registration"),
            self.signed(eoa, &req, body)?,
        )
    }

    /// The KeyRegistrar's BN254 `keyData` and registration signature for an operator set.
    /// `domain_version` is the major part of the core contracts' `version()` ("1" for 1.7.0).
    // The parameters are the request's fields, one for one; a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub fn key_registration(
        &self,
        eoa: &EoaKey,
        avs: Address,
        operator_set_id: u32,
        registrar: Address,
        chain_id: u64,
        domain_version: &str,
        key_version: u32,
    ) -> Result<Value> {
        let operator = eoa.address();
        let req = Request::KeyRegistration {
            operator,
            avs,
            operator_set_id,
            registrar,
            chain_id,
            domain_version: domain_version.to_owned(),
            key_version,
            fresh: fresh()?,
        };
        let body = json!({
            "avs": avs.to_checksum(None),
            "operator_set_id": operator_set_id,
            "registrar": registrar.to_checksum(None),
            "chain_id": chain_id,
            "domain_version": domain_version,
            "key_version": key_version,
        });
        self.post(
            &key_path(operator, "/key-registration"),
            self.signed(eoa, &req, body)?,
        )
    }

    /// Adds a new active key version; the previous one stays usable (by number) for the
    /// service's grace period. Returns the updated key record.
    pub fn rotate(&self, eoa: &EoaKey) -> Result<Value> {
        let operator = eoa.address();
        let req = Request::RotateKey {
            operator,
            fresh: fresh()?,
        };
        self.post(
            &key_path(operator, "/rotate"),
            self.signed(eoa, &req, json!({}))?,
        )
    }

    /// Adds the request's nonce, deadline and EOA signature to `body`.
    fn signed(&self, eoa: &EoaKey, req: &Request, mut body: Value) -> Result<Value> {
        let signature = eoa.sign_digest(&req.digest(self.chain_id))?;
        let fresh = req.freshness();
        if let Some(o) = body.as_object_mut() {
            o.insert("nonce".into(), json!(fresh.nonce));
            o.insert("deadline".into(), json!(fresh.deadline));
            o.insert(
                "signature".into(),
                json!(format!("0x{}", hex::encode(signature))),
            );
        }
        Ok(body)
    }

    fn post(&self, path: &str, body: Value) -> Result<Value> {
        answer(self.http.post(format!("{}{path}", self.base)).json(&body))
    }

    fn get(&self, path: &str) -> Result<Value> {
        answer(self.http.get(format!("{}{path}", self.base)))
    }
}

/// The blocking HTTP client both service clients use: whole-request and connect timeouts, no
/// redirects, the bundled web roots plus `extra_roots` (PEM).
fn http_client(timeout: Duration, extra_roots: Option<&[u8]>) -> Result<reqwest::blocking::Client> {
    let mut builder = reqwest::blocking::Client::builder();
    if let Some(pem) = extra_roots {
        let certs =
            reqwest::Certificate::from_pem_bundle(pem).map_err(|_| Error::InvalidCa("not PEM"))?;
        if certs.is_empty() {
            return Err(Error::InvalidCa("no certificate in the PEM data"));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .timeout(timeout)
        .connect_timeout(timeout.min(CONNECT_TIMEOUT))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("kms-client/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Transport(Box::new(e)))
}

fn key_path(eoa: Address, tail: &str) -> String {
    format!("/v1/keys/{}{tail}", eoa.to_checksum(None))
}

/// A random nonce and a deadline [`REQUEST_VALIDITY`] from now.
fn fresh() -> Result<Freshness> {
    let mut bytes = [0u8; 8];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|_| Error::Local("the operating system gave no randomness for a nonce"))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Error::Local("the system clock is before 1970"))?;
    Ok(Freshness {
        nonce: u64::from_le_bytes(bytes),
        deadline: now.as_secs() + REQUEST_VALIDITY.as_secs(),
    })
}

/// Checks the base URL and drops its trailing slash.
fn normalize_base(url: &str) -> Result<String> {
    let parsed = reqwest::Url::parse(url).map_err(|_| Error::InvalidUrl("not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::InvalidUrl("the scheme must be http or https"));
    }
    if parsed.host().is_none() {
        return Err(Error::InvalidUrl("no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Error::InvalidUrl(
            "credentials in the URL are not supported",
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::InvalidUrl("a query or fragment is not allowed"));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

/// Sends, reads at most [`MAX_ANSWER_BYTES`], and turns the answer into JSON or an error.
fn answer(request: reqwest::blocking::RequestBuilder) -> Result<Value> {
    let response = request.send().map_err(|e| Error::Transport(Box::new(e)))?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    response
        .take(MAX_ANSWER_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|e| Error::Transport(Box::new(e)))?;
    if body.len() as u64 > MAX_ANSWER_BYTES {
        return Err(Error::UnexpectedAnswer {
            status,
            detail: format!("the answer is larger than {MAX_ANSWER_BYTES} bytes"),
        });
    }
    if (200..300).contains(&status) {
        serde_json::from_slice(&body).map_err(|_| Error::UnexpectedAnswer {
            status,
            detail: format!("not JSON: {}", quote(&body)),
        })
    } else {
        Err(refusal(status, &body))
    }
}

/// The service's `{"error": {"code", "message"}}`, or the start of whatever else was sent.
fn refusal(status: u16, body: &[u8]) -> Error {
    let parsed = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        let e = v.get("error")?;
        Some((
            e.get("code")?.as_str()?.to_owned(),
            e.get("message")?.as_str()?.to_owned(),
        ))
    });
    match parsed {
        Some((code, message)) => Error::Api {
            status,
            code,
            message,
        },
        None => Error::UnexpectedAnswer {
            status,
            detail: if body.is_empty() {
                "empty body".to_owned()
            } else {
                quote(body)
            },
        },
    }
}

fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().take(QUOTE_CHARS).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out.escape_debug().to_string()
}

#[cfg(test)]
mod tests;
