//! The operator-key service's client: [`AsyncSignerClient`] for callers inside an async
//! runtime, [`SignerClient`] (the same, blocking) for the others.

use crate::*;
use kms_api::signer::{
    ApiKeyAnswer, ApiKeyList, CreateApiKeyRequest, CreateKeyRequest, KeyRegistrationRequest,
    ListApiKeysRequest, PointRequest, RegistrationRequest, RevokeApiKeyRequest, RotateRequest,
    ScalarMulRequest, SignRequest,
};

/// Who authorizes a request: the EOA's key held here, a signature made elsewhere, or nobody yet
/// (only the typed data is wanted). Every signed call takes one; `&EoaKey` converts into it.
#[derive(Clone, Copy)]
pub enum Authorizer<'a> {
    /// The EOA's key: the client picks a fresh nonce and deadline and signs.
    Key(&'a EoaKey),
    /// A signature made elsewhere (a hardware wallet, `cast wallet sign --ledger --data`) over
    /// the typed data of this very request, with the nonce and deadline it was made for.
    Signed {
        /// The EOA that signed.
        operator: Address,
        /// The nonce and deadline the signature covers.
        fresh: Freshness,
        /// The 65-byte signature, 0x-hex.
        signature: &'a str,
    },
    /// Send nothing: the call returns [`Error::TypedData`] with the EIP-712 typed data the EOA
    /// would sign for this request and freshness (to sign elsewhere, then call again `Signed`).
    Print {
        /// The EOA that will sign.
        operator: Address,
        /// The nonce and deadline to put in the request.
        fresh: Freshness,
    },
}

impl<'a> From<&'a EoaKey> for Authorizer<'a> {
    fn from(key: &'a EoaKey) -> Self {
        Authorizer::Key(key)
    }
}

impl Authorizer<'_> {
    /// The EOA the request is for.
    pub fn operator(&self) -> Address {
        match self {
            Authorizer::Key(k) => k.address(),
            Authorizer::Signed { operator, .. } | Authorizer::Print { operator, .. } => *operator,
        }
    }
}

/// An async client of the operator-key service's `/v1` API (for callers inside a runtime).
#[derive(Debug, Clone)]
pub struct AsyncSignerClient {
    base: String,
    chain_id: u64,
    salt: Option<B256>,
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
            salt: None,
            http,
        })
    }

    /// The same client signing in a salted domain: the deployment's `eip712_salt`
    /// (`GET /v1/domain` shows it).
    pub fn with_domain_salt(mut self, salt: Option<B256>) -> Self {
        self.salt = salt;
        self
    }

    /// The EIP-712 domain requests are signed in.
    pub fn domain(&self) -> kms_crypto::auth::SignerDomain {
        kms_crypto::auth::SignerDomain {
            chain_id: self.chain_id,
            salt: self.salt,
        }
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
    pub async fn create_key(&self, auth: impl Into<Authorizer<'_>>) -> Result<KeyAnswer> {
        let (operator, fresh, signature) = self.authorize(auth.into(), |operator, fresh| {
            Request::CreateKey { operator, fresh }
        })?;
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
        auth: impl Into<Authorizer<'_>>,
        message_hash: B256,
        key_version: u32,
    ) -> Result<SignAnswer> {
        let (operator, fresh, signature) =
            self.authorize(auth.into(), |operator, fresh| Request::SignHash {
                operator,
                message_hash,
                key_version,
                fresh,
            })?;
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
        auth: impl Into<Authorizer<'_>>,
        x: U256,
        y: U256,
        key_version: u32,
    ) -> Result<ScalarMulAnswer> {
        let (operator, fresh, signature) =
            self.authorize(auth.into(), |operator, fresh| Request::ScalarMul {
                operator,
                point_x: x,
                point_y: y,
                key_version,
                fresh,
            })?;
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
        auth: impl Into<Authorizer<'_>>,
        registry: Address,
        chain_id: u64,
        key_version: u32,
    ) -> Result<RegistrationAnswer> {
        let (operator, fresh, signature) =
            self.authorize(auth.into(), |operator, fresh| Request::PubkeyRegistration {
                operator,
                registry,
                chain_id,
                key_version,
                fresh,
            })?;
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
        auth: impl Into<Authorizer<'_>>,
        avs: Address,
        operator_set_id: u32,
        registrar: Address,
        chain_id: u64,
        domain_version: &str,
        key_version: u32,
    ) -> Result<KeyRegistrationAnswer> {
        let (operator, fresh, signature) =
            self.authorize(auth.into(), |operator, fresh| Request::KeyRegistration {
                operator,
                avs,
                operator_set_id,
                registrar,
                chain_id,
                domain_version: domain_version.to_owned(),
                key_version,
                fresh,
            })?;
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
    pub async fn rotate(&self, auth: impl Into<Authorizer<'_>>) -> Result<KeyAnswer> {
        let (operator, fresh, signature) = self.authorize(auth.into(), |operator, fresh| {
            Request::RotateKey { operator, fresh }
        })?;
        let body = RotateRequest {
            deadline: fresh.deadline,
            nonce: fresh.nonce,
            signature,
        };
        self.post(&key_path(operator, "/rotate"), &body).await
    }

    /// Creates an API key for the EOA's operator key (`POST /v1/keys/{eoa}/api-keys`) from the
    /// hash of a token the caller made (`kms_crypto::auth::new_api_token`, `api_token_hash`) and
    /// keeps: `scopes` is canonical (`kms_api::signer::canonical_scopes`), `expires_at` 0 means
    /// never, `sources` a comma-separated list of addresses or CIDR blocks (empty: any).
    // The parameters are the request's fields, one for one; a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_api_key(
        &self,
        auth: impl Into<Authorizer<'_>>,
        label: &str,
        scopes: &str,
        expires_at: u64,
        sources: &str,
        token_hash: B256,
    ) -> Result<ApiKeyAnswer> {
        let (operator, fresh, signature) =
            self.authorize(auth.into(), |operator, fresh| Request::CreateApiKey {
                operator,
                label: label.to_owned(),
                scopes: scopes.to_owned(),
                expires_at,
                sources: sources.to_owned(),
                token_hash,
                fresh,
            })?;
        let body = CreateApiKeyRequest {
            deadline: fresh.deadline,
            expires_at,
            label: label.to_owned(),
            nonce: fresh.nonce,
            scopes: scopes.to_owned(),
            signature,
            sources: sources.to_owned(),
            token_hash: format!("{token_hash:#x}"),
        };
        self.post(&key_path(operator, "/api-keys"), &body).await
    }

    /// The EOA's API keys, revoked ones included (never a token).
    pub async fn list_api_keys(&self, auth: impl Into<Authorizer<'_>>) -> Result<ApiKeyList> {
        let (operator, fresh, signature) = self.authorize(auth.into(), |operator, fresh| {
            Request::ListApiKeys { operator, fresh }
        })?;
        let body = ListApiKeysRequest {
            deadline: fresh.deadline,
            nonce: fresh.nonce,
            signature,
        };
        self.post(&key_path(operator, "/api-keys/list"), &body)
            .await
    }

    /// Revokes one of the EOA's API keys by id; its next use is refused.
    pub async fn revoke_api_key(
        &self,
        auth: impl Into<Authorizer<'_>>,
        key_id: &str,
    ) -> Result<ApiKeyAnswer> {
        let (operator, fresh, signature) =
            self.authorize(auth.into(), |operator, fresh| Request::RevokeApiKey {
                operator,
                key_id: key_id.to_owned(),
                fresh,
            })?;
        let body = RevokeApiKeyRequest {
            deadline: fresh.deadline,
            key_id: key_id.to_owned(),
            nonce: fresh.nonce,
            signature,
        };
        self.post(&key_path(operator, "/api-keys/revoke"), &body)
            .await
    }

    /// Builds the request for the authorizer's EOA and freshness, and authorizes it: returns
    /// the EOA, the freshness and the signature (0x-hex), or the typed data for `Print`.
    fn authorize(
        &self,
        auth: Authorizer<'_>,
        build: impl FnOnce(Address, Freshness) -> Request,
    ) -> Result<(Address, Freshness, String)> {
        let operator = auth.operator();
        match auth {
            Authorizer::Key(key) => {
                let fresh = fresh()?;
                let req = build(operator, fresh);
                let signature = key.sign_digest(&req.digest_in(&self.domain()))?;
                Ok((operator, fresh, format!("0x{}", hex::encode(signature))))
            }
            Authorizer::Signed {
                fresh, signature, ..
            } => Ok((operator, fresh, signature.to_owned())),
            Authorizer::Print { fresh, .. } => Err(Error::TypedData(Box::new(
                build(operator, fresh).typed_data_in(&self.domain()),
            ))),
        }
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
    pub fn create_key<'a>(&self, auth: impl Into<Authorizer<'a>>) -> Result<KeyAnswer> {
        self.rt.run(self.inner.create_key(auth))
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
    pub fn sign<'a>(
        &self,
        auth: impl Into<Authorizer<'a>>,
        message_hash: B256,
        key_version: u32,
    ) -> Result<SignAnswer> {
        self.rt
            .run(self.inner.sign(auth, message_hash, key_version))
    }

    /// See [`AsyncSignerClient::scalar_mul`].
    pub fn scalar_mul<'a>(
        &self,
        auth: impl Into<Authorizer<'a>>,
        x: U256,
        y: U256,
        key_version: u32,
    ) -> Result<ScalarMulAnswer> {
        self.rt.run(self.inner.scalar_mul(auth, x, y, key_version))
    }

    /// See [`AsyncSignerClient::registration`].
    pub fn registration<'a>(
        &self,
        auth: impl Into<Authorizer<'a>>,
        registry: Address,
        chain_id: u64,
        key_version: u32,
    ) -> Result<RegistrationAnswer> {
        self.rt.run(
            self.inner
                .registration(auth, registry, chain_id, key_version),
        )
    }

    /// See [`AsyncSignerClient::key_registration`].
    // The parameters are the request's fields, one for one; a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub fn key_registration<'a>(
        &self,
        auth: impl Into<Authorizer<'a>>,
        avs: Address,
        operator_set_id: u32,
        registrar: Address,
        chain_id: u64,
        domain_version: &str,
        key_version: u32,
    ) -> Result<KeyRegistrationAnswer> {
        self.rt.run(self.inner.key_registration(
            auth,
            avs,
            operator_set_id,
            registrar,
            chain_id,
            domain_version,
            key_version,
        ))
    }

    /// See [`AsyncSignerClient::rotate`].
    pub fn rotate<'a>(&self, auth: impl Into<Authorizer<'a>>) -> Result<KeyAnswer> {
        self.rt.run(self.inner.rotate(auth))
    }

    /// See [`AsyncSignerClient::create_api_key`].
    // The parameters are the request's fields, one for one; a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub fn create_api_key<'a>(
        &self,
        auth: impl Into<Authorizer<'a>>,
        label: &str,
        scopes: &str,
        expires_at: u64,
        sources: &str,
        token_hash: B256,
    ) -> Result<ApiKeyAnswer> {
        self.rt.run(
            self.inner
                .create_api_key(auth, label, scopes, expires_at, sources, token_hash),
        )
    }

    /// See [`AsyncSignerClient::list_api_keys`].
    pub fn list_api_keys<'a>(&self, auth: impl Into<Authorizer<'a>>) -> Result<ApiKeyList> {
        self.rt.run(self.inner.list_api_keys(auth))
    }

    /// See [`AsyncSignerClient::revoke_api_key`].
    pub fn revoke_api_key<'a>(
        &self,
        auth: impl Into<Authorizer<'a>>,
        key_id: &str,
    ) -> Result<ApiKeyAnswer> {
        self.rt.run(self.inner.revoke_api_key(auth, key_id))
    }
}
