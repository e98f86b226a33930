//! Client library for applications and tools that use the KMS: the client of the operator-key
//! service (`kms-signer`), [`AsyncSignerClient`], and the client of the threshold network
//! (`kms-node`), [`node::AsyncNodeClient`], for callers inside a tokio runtime (their futures are
//! `Send`); and each of them blocking ([`SignerClient`], [`node::NodeClient`]), running the async
//! one on a small runtime of its own, for the others.
//!
//! Requests that use or change a key are authenticated the way the service requires: the
//! operator's EOA ([`EoaKey`]) signs the request's EIP-712 digest under the service's chain id
//! ([`Request::digest`]), with a fresh random nonce and a deadline [`REQUEST_VALIDITY`] ahead. The
//! chain id is part of the service's configuration; a client with another one makes signatures the
//! service refuses (`wrong_signer`).
//!
//! Calls are bounded by a connect timeout and a whole-request timeout. Answers come back as the
//! wire types of `kms-api` (integers as decimal strings, G1 points as `{"x", "y"}`, G2 points in
//! Solidity order); a refusal comes back as [`Error::Api`] with the HTTP status and the
//! service's stable error code and message.
//!
//! `https://` URLs use rustls (ring provider) with the bundled Mozilla roots (webpki-roots); no
//! system OpenSSL.

use alloy_primitives::{Address, B256, U256};
use kms_crypto::auth::{Freshness, Request};
use rand_core::{OsRng, RngCore};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

pub use kms_api::signer::{
    ApiKeyAnswer, ApiKeyList, G1Json, G2Json, KeyAnswer, KeyList, KeyRegistrationAnswer,
    KeyVersion, RegistrationAnswer, ScalarMulAnswer, SignAnswer,
};
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
        /// The HTTP status.
        status: u16,
        /// The service's stable, machine-readable code (`unknown_key`, `wrong_signer`, ...).
        code: String,
        /// The service's message, for people.
        message: String,
    },
    /// An answer that is not the service's: not JSON, not the error shape, a redirect, too large.
    #[error("unexpected answer from the service (HTTP {status}): {detail}")]
    UnexpectedAnswer {
        /// The HTTP status.
        status: u16,
        /// What was wrong with it, and its start.
        detail: String,
    },
    /// No answer: connection refused, timeout, broken connection. The cause is the error's
    /// `source()`.
    #[error("no answer from the service")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The request could not be signed with the EOA key.
    #[error("could not sign the request: {0}")]
    Sign(#[from] kms_crypto::Error),
    /// Nothing was sent: the call was asked only for the EIP-712 typed data the EOA would sign
    /// ([`Authorizer::Print`]); here it is.
    #[error("not sent: only the request's typed data was asked for")]
    TypedData(Box<serde_json::Value>),
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
        /// What was short.
        what: &'static str,
        /// How many nodes did their part.
        got: usize,
        /// How many had to.
        needed: usize,
        /// Every node that failed, disagreed or cheated, with the reason.
        nodes: Vec<node::NodeReport>,
    },
    /// The ciphertext given is not one, or does not decrypt for the app id (another app id,
    /// tampered).
    #[error("{what}: {cause}")]
    BadCiphertext {
        /// What is wrong with it.
        what: &'static str,
        /// The decoder's or the cipher's error.
        cause: kms_crypto::Error,
    },
    /// Encrypting, or recovering the app key from verified partials, failed.
    #[error("{what}: {cause}")]
    Crypto {
        /// The step that failed.
        what: &'static str,
        /// Its error.
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

mod signer;
pub use signer::{AsyncSignerClient, Authorizer, SignerClient};

/// The runtime a blocking client runs its async twin on: one small runtime per client, shared by
/// its clones, so callers on several threads can use a client at once. A blocking client must
/// not be used inside an async runtime; use the async client there.
#[derive(Clone, Debug)]
pub(crate) struct Blocking(Arc<tokio::runtime::Runtime>);

impl Blocking {
    pub(crate) fn new() -> Result<Self> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kms-client")
            .enable_all()
            .build()
            .map(|rt| Self(Arc::new(rt)))
            .map_err(|_| Error::Local("cannot start the client's runtime"))
    }

    pub(crate) fn run<F: std::future::Future>(&self, f: F) -> F::Output {
        self.0.block_on(f)
    }
}

/// The HTTP client both service clients use: whole-request and connect timeouts, no redirects,
/// the bundled web roots plus `extra_roots` (PEM).
pub(crate) fn http_client(
    timeout: Duration,
    extra_roots: Option<&[u8]>,
) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder();
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

pub(crate) fn key_path(eoa: Address, tail: &str) -> String {
    format!("/v1/keys/{}{tail}", eoa.to_checksum(None))
}

/// A random nonce and a deadline [`REQUEST_VALIDITY`] from now.
pub(crate) fn fresh() -> Result<Freshness> {
    let mut bytes = [0u8; 8];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|_| Error::Local("the operating system gave no randomness for a nonce"))?;
    let now =
        kms_api::time::try_unix_now().ok_or(Error::Local("the system clock is before 1970"))?;
    Ok(Freshness {
        nonce: u64::from_le_bytes(bytes),
        deadline: now + REQUEST_VALIDITY.as_secs(),
    })
}

/// Checks the base URL and drops its trailing slash.
pub(crate) fn normalize_base(url: &str) -> Result<String> {
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

/// Sends, reads at most [`MAX_ANSWER_BYTES`], and turns the answer into `T` (a `kms-api` type,
/// or a JSON value) or an error.
pub(crate) async fn answer<T: DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<T> {
    let mut response = request
        .send()
        .await
        .map_err(|e| Error::Transport(Box::new(e)))?;
    let status = response.status().as_u16();
    let too_large = || Error::UnexpectedAnswer {
        status,
        detail: format!("the answer is larger than {MAX_ANSWER_BYTES} bytes"),
    };
    if response
        .content_length()
        .is_some_and(|l| l > MAX_ANSWER_BYTES)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Error::Transport(Box::new(e)))?
    {
        if (body.len() + chunk.len()) as u64 > MAX_ANSWER_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    if (200..300).contains(&status) {
        serde_json::from_slice(&body).map_err(|e| Error::UnexpectedAnswer {
            status,
            detail: if e.is_syntax() || e.is_eof() {
                format!("not JSON: {}", quote(&body))
            } else {
                format!("not the expected answer ({e}): {}", quote(&body))
            },
        })
    } else {
        Err(refusal(status, &body))
    }
}

/// The service's `{"error": {"code", "message"}}`, or the start of whatever else was sent.
fn refusal(status: u16, body: &[u8]) -> Error {
    match serde_json::from_slice::<kms_api::ErrorBody>(body) {
        Ok(kms_api::ErrorBody { error }) => Error::Api {
            status,
            code: error.code,
            message: error.message,
        },
        Err(_) => Error::UnexpectedAnswer {
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
