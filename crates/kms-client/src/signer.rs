//! The operator-key service's client: [`AsyncSignerClient`] for callers inside an async
//! runtime, [`SignerClient`] (the same, blocking) for the others.

use crate::*;
use kms_api::signer::{
    CreateKeyRequest, KeyRegistrationRequest, PointRequest, RegistrationRequest, RotateRequest,
    ScalarMulRequest, SignRequest,
};

/// An async client of the operator-key service's `/v1` API (for callers inside a runtime).
#[derive(Debug, Clone)]
pub struct AsyncSignerClient {
    base: String,
    chain_id: u64,
    http: reqwest::Client,
}

impl AsyncSignerClient {
    /// A client of the service at `base_url` (`http://host:port`, optionally with a path prefix)
    /// whose EIP-712 domain uses `chain_id`, with [`DEFAULT_TIMEOUT`].
    pub fn new(base_url: &str, chain_id: u64) -> Result<Self> {
        Self::with_timeout(base_url, chain_id, DEFAULT_TIMEOUT)
    }

    /// As [`AsyncSignerClient::new`] with another whole-request timeout (the connect timeout is the
    /// smaller of it and [`CONNECT_TIMEOUT`]). Redirects are not followed.
    pub fn with_timeout(base_url: &str, chain_id: u64, timeout: Duration) -> Result<Self> {
        Self::with_options(base_url, chain_id, timeout, None)
    }

    /// As [`AsyncSignerClient::with_timeout`], also trusting the PEM certificates in `extra_roots`
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
    pub async fn create_key(&self, eoa: &EoaKey) -> Result<KeyAnswer> {
        let operator = eoa.address();
        let req = Request::CreateKey {
            operator,
            fresh: fresh()?,
        };
        let (fresh, signature) = self.sign_request(eoa, &req)?;
        let body = CreateKeyRequest {
            deadline: fresh.deadline,
            nonce: fresh.nonce,
            operator: operator.to_checksum(None),
            signature,
        };
        self.post("/v1/keys", &body).await
    }

    /// The key record of one EOA (public keys and version states); no authentication.
    pub async fn get_key(&self, eoa: Address) -> Result<KeyAnswer> {
        self.get(&key_path(eoa, "")).await
    }

    /// All key records; no authentication.
    pub async fn list_keys(&self) -> Result<KeyList> {
        self.get("/v1/keys").await
    }

    /// Signs a 32-byte message hash. `key_version` 0 means the active version.
    pub async fn sign(
        &self,
        eoa: &EoaKey,
        message_hash: B256,
        key_version: u32,
    ) -> Result<SignAnswer> {
        let operator = eoa.address();
        let req = Request::SignHash {
            operator,
            message_hash,
            key_version,
            fresh: fresh()?,
        };
        let (fresh, signature) = self.sign_request(eoa, &req)?;
        let body = SignRequest {
            deadline: fresh.deadline,
            key_version,
            message_hash: format!("0x{}", hex::encode(message_hash)),
            nonce: fresh.nonce,
            signature,
        };
        self.post(&key_path(operator, "/sign"), &body).await
    }

    /// Multiplies a G1 point (checked by the service) by the key.
    pub async fn scalar_mul(
        &self,
        eoa: &EoaKey,
        x: U256,
        y: U256,
        key_version: u32,
    ) -> Result<ScalarMulAnswer> {
        let operator = eoa.address();
        let req = Request::ScalarMul {
            operator,
            point_x: x,
            point_y: y,
            key_version,
            fresh: fresh()?,
        };
        let (fresh, signature) = self.sign_request(eoa, &req)?;
        let body = ScalarMulRequest {
            deadline: fresh.deadline,
            hash: PointRequest {
                x: x.to_string(),
                y: y.to_string(),
            },
            key_version,
            nonce: fresh.nonce,
            signature,
        };
        self.post(&key_path(operator, "/scalar-mul"), &body).await
    }

    /// The RegistryCoordinator's `pubkeyRegistrationParams` for the operator, for the contract at
    /// `registry` on chain `chain_id` (the contract's chain, which may differ from the service's).
    pub async fn registration(
        &self,
        eoa: &EoaKey,
        registry: Address,
        chain_id: u64,
        key_version: u32,
    ) -> Result<RegistrationAnswer> {
        let operator = eoa.address();
        let req = Request::PubkeyRegistration {
            operator,
            registry,
            chain_id,
            key_version,
            fresh: fresh()?,
        };
        let (fresh, signature) = self.sign_request(eoa, &req)?;
        let body = RegistrationRequest {
            chain_id,
            deadline: fresh.deadline,
            key_version,
            nonce: fresh.nonce,
            registry: registry.to_checksum(None),
            signature,
        };
        self.post(&key_path(operator, "/registration"), &body).await
    }

    /// The KeyRegistrar's BN254 `keyData` and registration signature for an operator set.
    /// `domain_version` is the major part of the core contracts' `version()` ("1" for 1.7.0).
    // The parameters are the request's fields, one for one; a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub async fn key_registration(
        &self,
        eoa: &EoaKey,
        avs: Address,
        operator_set_id: u32,
        registrar: Address,
        chain_id: u64,
        domain_version: &str,
        key_version: u32,
    ) -> Result<KeyRegistrationAnswer> {
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
        let (fresh, signature) = self.sign_request(eoa, &req)?;
        let body = KeyRegistrationRequest {
            avs: avs.to_checksum(None),
            chain_id,
            deadline: fresh.deadline,
            domain_version: domain_version.to_owned(),
            key_version,
            nonce: fresh.nonce,
            operator_set_id,
            registrar: registrar.to_checksum(None),
            signature,
        };
        self.post(&key_path(operator, "/key-registration"), &body)
            .await
    }

    /// Adds a new active key version; the previous one stays usable (by number) for the
    /// service's grace period. Returns the updated key record.
    pub async fn rotate(&self, eoa: &EoaKey) -> Result<KeyAnswer> {
        let operator = eoa.address();
        let req = Request::RotateKey {
            operator,
            fresh: fresh()?,
        };
        let (fresh, signature) = self.sign_request(eoa, &req)?;
        let body = RotateRequest {
            deadline: fresh.deadline,
            nonce: fresh.nonce,
            signature,
        };
        self.post(&key_path(operator, "/rotate"), &body).await
    }

    /// The request's freshness and the EOA's signature over its digest (0x-hex).
    fn sign_request(&self, eoa: &EoaKey, req: &Request) -> Result<(Freshness, String)> {
        let signature = eoa.sign_digest(&req.digest(self.chain_id))?;
        Ok((req.freshness(), format!("0x{}", hex::encode(signature))))
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        answer(self.http.post(format!("{}{path}", self.base)).json(body)).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        answer(self.http.get(format!("{}{path}", self.base))).await
    }
}

/// A blocking client of the operator-key service's `/v1` API: [`AsyncSignerClient`] run on a
/// runtime of its own. Not for use inside an async runtime.
#[derive(Debug, Clone)]
pub struct SignerClient {
    inner: AsyncSignerClient,
    rt: Blocking,
}

impl SignerClient {
    /// See [`AsyncSignerClient::new`].
    pub fn new(base_url: &str, chain_id: u64) -> Result<Self> {
        Self::wrap(AsyncSignerClient::new(base_url, chain_id)?)
    }

    /// See [`AsyncSignerClient::with_timeout`].
    pub fn with_timeout(base_url: &str, chain_id: u64, timeout: Duration) -> Result<Self> {
        Self::wrap(AsyncSignerClient::with_timeout(
            base_url, chain_id, timeout,
        )?)
    }

    /// See [`AsyncSignerClient::with_options`].
    pub fn with_options(
        base_url: &str,
        chain_id: u64,
        timeout: Duration,
        extra_roots: Option<&[u8]>,
    ) -> Result<Self> {
        Self::wrap(AsyncSignerClient::with_options(
            base_url,
            chain_id,
            timeout,
            extra_roots,
        )?)
    }

    /// Runs `inner` on a runtime of its own.
    pub fn wrap(inner: AsyncSignerClient) -> Result<Self> {
        Ok(Self {
            inner,
            rt: Blocking::new()?,
        })
    }

    /// The async client this one runs.
    pub fn inner(&self) -> &AsyncSignerClient {
        &self.inner
    }

    /// The service's base URL.
    pub fn base_url(&self) -> &str {
        self.inner.base_url()
    }

    /// The chain id requests are signed under.
    pub fn chain_id(&self) -> u64 {
        self.inner.chain_id()
    }

    /// See [`AsyncSignerClient::create_key`].
    pub fn create_key(&self, eoa: &EoaKey) -> Result<KeyAnswer> {
        self.rt.run(self.inner.create_key(eoa))
    }

    /// See [`AsyncSignerClient::get_key`].
    pub fn get_key(&self, eoa: Address) -> Result<KeyAnswer> {
        self.rt.run(self.inner.get_key(eoa))
    }

    /// See [`AsyncSignerClient::list_keys`].
    pub fn list_keys(&self) -> Result<KeyList> {
        self.rt.run(self.inner.list_keys())
    }

    /// See [`AsyncSignerClient::sign`].
    pub fn sign(&self, eoa: &EoaKey, message_hash: B256, key_version: u32) -> Result<SignAnswer> {
        self.rt.run(self.inner.sign(eoa, message_hash, key_version))
    }

    /// See [`AsyncSignerClient::scalar_mul`].
    pub fn scalar_mul(
        &self,
        eoa: &EoaKey,
        x: U256,
        y: U256,
        key_version: u32,
    ) -> Result<ScalarMulAnswer> {
        self.rt.run(self.inner.scalar_mul(eoa, x, y, key_version))
    }

    /// See [`AsyncSignerClient::registration`].
    pub fn registration(
        &self,
        eoa: &EoaKey,
        registry: Address,
        chain_id: u64,
        key_version: u32,
    ) -> Result<RegistrationAnswer> {
        self.rt.run(
            self.inner
                .registration(eoa, registry, chain_id, key_version),
        )
    }

    /// See [`AsyncSignerClient::key_registration`].
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
    ) -> Result<KeyRegistrationAnswer> {
        self.rt.run(self.inner.key_registration(
            eoa,
            avs,
            operator_set_id,
            registrar,
            chain_id,
            domain_version,
            key_version,
        ))
    }

    /// See [`AsyncSignerClient::rotate`].
    pub fn rotate(&self, eoa: &EoaKey) -> Result<KeyAnswer> {
        self.rt.run(self.inner.rotate(eoa))
    }
}
