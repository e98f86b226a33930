//! The blocking node client: the async one run on a runtime of its own.

use super::*;

/// A blocking client of a set of `kms-node`s: [`AsyncNodeClient`] run on a runtime of its own.
/// Not for use inside an async runtime.
#[derive(Debug, Clone)]
pub struct NodeClient {
    pub(super) inner: AsyncNodeClient,
    pub(super) rt: Blocking,
}

impl NodeClient {
    /// See [`AsyncNodeClient::new`].
    pub fn new<S: AsRef<str>>(urls: &[S]) -> Result<Self> {
        Self::wrap(AsyncNodeClient::new(urls)?)
    }

    /// See [`AsyncNodeClient::with_options`].
    pub fn with_options<S: AsRef<str>>(
        urls: &[S],
        timeout: Duration,
        extra_roots: Option<&[u8]>,
    ) -> Result<Self> {
        Self::wrap(AsyncNodeClient::with_options(urls, timeout, extra_roots)?)
    }

    /// Runs `inner` on a runtime of its own.
    pub fn wrap(inner: AsyncNodeClient) -> Result<Self> {
        Ok(Self {
            inner,
            rt: Blocking::new()?,
        })
    }

    /// The async client this one runs.
    pub fn inner(&self) -> &AsyncNodeClient {
        &self.inner
    }

    /// The nodes' base URLs.
    pub fn urls(&self) -> &[String] {
        self.inner.urls()
    }

    /// See [`AsyncNodeClient::fetch_mpk`].
    pub fn fetch_mpk(&self) -> Result<MpkReport> {
        self.rt.run(self.inner.fetch_mpk())
    }

    /// See [`AsyncNodeClient::encrypt`].
    pub fn encrypt(&self, app_id: &str, plaintext: &[u8]) -> Result<Encrypted> {
        self.rt.run(self.inner.encrypt(app_id, plaintext))
    }

    /// See [`AsyncNodeClient::decrypt`].
    pub fn decrypt(
        &self,
        app_id: &str,
        owner: &EoaKey,
        ciphertext: &[u8],
        chain_id: u64,
    ) -> Result<Decrypted> {
        self.rt
            .run(self.inner.decrypt(app_id, owner, ciphertext, chain_id))
    }

    /// See [`AsyncNodeClient::decrypt_with`].
    pub fn decrypt_with(
        &self,
        app_id: &str,
        credential: Credential<'_>,
        ciphertext: &[u8],
        chain_id: u64,
    ) -> Result<Decrypted> {
        self.rt.run(
            self.inner
                .decrypt_with(app_id, credential, ciphertext, chain_id),
        )
    }

    /// See [`AsyncNodeClient::releases`].
    pub fn releases(&self, app_id: &str) -> Vec<ReleaseLog> {
        self.rt.run(self.inner.releases(app_id))
    }

    /// See [`AsyncNodeClient::status`].
    pub fn status(&self) -> Vec<StatusReport> {
        self.rt.run(self.inner.status())
    }
}
