//! The registry client: typed reads at a block, transactions, and what the contract's reverts mean.

use crate::bindings::registry::KmsRegistry::{self, KmsRegistryErrors};
use crate::bindings::registry::BN254;
use alloy::eips::BlockId;
use alloy::network::EthereumWallet;
use alloy::primitives::{Address, Bytes, FixedBytes, TxHash, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use kms_crypto::bn254::{G1Point, G2Point};
use kms_protocol::{Certificate, RoundConfig};

/// The committed artifact the bindings and [`Registry::deploy`] use.
pub const KMS_REGISTRY_ARTIFACT: &str =
    include_str!("../../../contracts/artifacts/KmsRegistry.json");

/// Blocks between rounds when none is configured, by chain id (docs 0009): mainnet 50, Sepolia
/// 10, anvil 5, anything else 10.
pub fn default_interval(chain_id: u64) -> u64 {
    match chain_id {
        1 => 50,
        11_155_111 => 10,
        31_337 => 5,
        _ => 10,
    }
}

/// What went wrong talking to the chain. [`ChainError::code`] is stable.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The RPC URL does not parse.
    #[error("invalid RPC URL {0:?}")]
    Url(String),
    /// The RPC endpoint failed or is unreachable.
    #[error("chain RPC: {0}")]
    Rpc(String),
    /// The contract refused the transaction (a revert reason, decoded when known).
    #[error("the registry refused the transaction: {0}")]
    Refused(String),
    /// A sent transaction was mined and reverted.
    #[error("transaction {0} reverted")]
    Reverted(TxHash),
    /// An operator entry that does not check out (bad key, bad URL).
    #[error("the registry returned an invalid entry for {operator}: {what}")]
    Invalid {
        /// The operator.
        operator: Address,
        /// What is wrong.
        what: String,
    },
    /// A transaction was asked of a read-only connection.
    #[error("no wallet configured: sending a transaction needs the sender's key")]
    NoWallet,
    /// Nothing is deployed at the address.
    #[error("no contract at {0} (wrong address or chain?)")]
    NoContract(Address),
}

impl ChainError {
    /// The stable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Url(_) => "bad_rpc_url",
            Self::Rpc(_) => "rpc_unavailable",
            Self::Refused(_) => "registry_refused",
            Self::Reverted(_) => "tx_reverted",
            Self::Invalid { .. } => "registry_invalid_entry",
            Self::NoWallet => "no_wallet",
            Self::NoContract(_) => "no_contract",
        }
    }

    /// A contract call's failure: the registry's own error by name when the node returned revert
    /// data, else an RPC failure.
    fn from_contract(e: alloy::contract::Error) -> Self {
        if let Some(decoded) = e.as_decoded_interface_error::<KmsRegistryErrors>() {
            return Self::Refused(error_name(&decoded));
        }
        match e.as_revert_data() {
            Some(data) => Self::Refused(format!("revert data {data}")),
            None => Self::Rpc(e.to_string()),
        }
    }
}

/// `InvalidKeySignature(InvalidKeySignature)` -> `InvalidKeySignature`, fields kept for errors
/// that have some (they name the operator, epoch or count at fault).
fn error_name(e: &KmsRegistryErrors) -> String {
    let full = format!("{e:?}");
    match full.split_once('(') {
        Some((name, rest)) if rest.trim_end_matches(')') == name => name.to_string(),
        Some((_, rest)) => rest.strip_suffix(')').unwrap_or(rest).to_string(),
        None => full,
    }
}

/// Where an operator stands in the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperatorStatus {
    /// Never registered.
    Unknown,
    /// Registered, waiting for the owner's admission.
    Registered,
    /// In the set.
    Admitted,
    /// Removed for good.
    Removed,
}

/// An app's release policy in force at a block (`appPolicy`, docs 0012).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppPolicy {
    /// The app's owner.
    pub owner: Address,
    /// 1: the owner's signature, 2: attestation, 3: both (`CREDENTIAL_*`).
    pub credential: u8,
    /// Seconds a change waits.
    pub delay: u64,
    /// Approved image digests and SEV-SNP release ids.
    pub approved: Vec<[u8; 32]>,
}

/// An admitted operator as the registry holds it, with checked keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorRecord {
    /// Its address.
    pub address: Address,
    /// Its permanent id: the evaluation point of docs 0007.
    pub id: u64,
    /// Its BN254 key in G1 (the certificate signer's key).
    pub g1: G1Point,
    /// The same key in G2.
    pub g2: G2Point,
    /// X25519 key that shares are sealed to.
    pub encryption_key: [u8; 32],
    /// Where its node serves.
    pub url: String,
}

/// A round's certificate in the form `anchorEpoch` takes.
#[derive(Clone, Debug)]
pub struct Anchor {
    /// The round's epoch, which in chain mode is its trigger block.
    pub epoch: u64,
    /// The agreement attempt whose precommits the certificate aggregates.
    pub attempt: u32,
    /// The round's digest.
    pub round: [u8; 32],
    /// The hash of the certified dealer set.
    pub set_hash: [u8; 32],
    /// The 96-byte compressed BLS12-381 MPK.
    pub mpk: Vec<u8>,
    /// The signers' addresses, strictly increasing.
    pub signers: Vec<Address>,
    /// The sum of the signers' G2 keys.
    pub apk_g2: G2Point,
    /// The certificate's aggregate signature.
    pub sigma: G1Point,
}

impl Anchor {
    /// The anchor of a round's certificate: the signers are the players it names, their G2 keys
    /// summed as the contract sums their registered ones. None if it names no player, or one the
    /// round does not have.
    pub fn from_certificate(cfg: &RoundConfig, cert: &Certificate) -> Option<Self> {
        let players = cert
            .signers
            .iter()
            .map(|i| cfg.players.get(usize::from(*i)))
            .collect::<Option<Vec<_>>>()?;
        let apk_g2 =
            kms_crypto::bn254::aggregate_g2(&players.iter().map(|o| o.key_g2).collect::<Vec<_>>())
                .ok()?;
        Some(Self {
            epoch: cfg.epoch,
            attempt: cert.attempt,
            round: cert.round,
            set_hash: cert.set.hash(),
            mpk: cert.mpk.to_bytes().to_vec(),
            signers: players.iter().map(|o| Address::from(o.address)).collect(),
            apk_g2,
            sigma: cert.signature,
        })
    }
}

/// An anchored epoch's record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnchorRecord {
    /// The round's digest.
    pub round: [u8; 32],
    /// The hash of the certified dealer set.
    pub set_hash: [u8; 32],
    /// What the certificate's signers signed.
    pub vote_digest: [u8; 32],
    /// The block the anchor was mined in.
    pub anchored_at: u64,
}

/// A connection to one deployed `KmsRegistry`.
#[derive(Clone)]
pub struct Registry {
    provider: DynProvider,
    address: Address,
    chain_id: u64,
    sender: Option<Address>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("address", &self.address)
            .field("chain_id", &self.chain_id)
            .field("sender", &self.sender)
            .finish()
    }
}

/// A provider for `rpc_url`, sending from `wallet` if given.
pub fn provider(
    rpc_url: &str,
    wallet: Option<PrivateKeySigner>,
) -> Result<DynProvider, ChainError> {
    let url: reqwest::Url = rpc_url
        .parse()
        .map_err(|_| ChainError::Url(rpc_url.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ChainError::Url(rpc_url.to_string()));
    }
    // The nonce is read from the node for every transaction: the default cache hands out a
    // nonce even to a transaction whose gas estimate then fails (a refused registration), and
    // every later transaction of that account would wait forever behind the gap.
    let builder = ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id();
    Ok(match wallet {
        Some(w) => builder
            .wallet(EthereumWallet::from(w))
            .connect_http(url)
            .erased(),
        None => builder.connect_http(url).erased(),
    })
}

/// How long a sent transaction may take to be mined before the call gives up (the transaction
/// may still be mined later; callers that retry must expect that).
const RECEIPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Polls for the receipt (every 100 ms; alloy's own watcher waits for new-block heartbeats,
/// which an instantly mining anvil can leave waiting). A reverted transaction is an error.
pub async fn wait_receipt(
    provider: &DynProvider,
    hash: TxHash,
) -> Result<alloy::rpc::types::TransactionReceipt, ChainError> {
    let deadline = tokio::time::Instant::now() + RECEIPT_TIMEOUT;
    loop {
        if let Some(r) = provider.get_transaction_receipt(hash).await.map_err(rpc)? {
            if !r.status() {
                return Err(ChainError::Reverted(hash));
            }
            return Ok(r);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(ChainError::Rpc(format!(
                "transaction {hash} not mined after {} s",
                RECEIPT_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn rpc(e: impl std::fmt::Display) -> ChainError {
    ChainError::Rpc(e.to_string())
}

fn g1_abi(p: &G1Point) -> BN254::G1Point {
    let b = p.to_abi_bytes();
    let (x, y) = b.split_at(32);
    BN254::G1Point {
        X: U256::from_be_slice(x),
        Y: U256::from_be_slice(y),
    }
}

fn g2_abi(p: &G2Point) -> BN254::G2Point {
    let b = p.to_abi_bytes();
    let limb = |i: usize| U256::from_be_slice(b.get(i * 32..(i + 1) * 32).unwrap_or_default());
    BN254::G2Point {
        X: [limb(0), limb(1)],
        Y: [limb(2), limb(3)],
    }
}

/// Deploys `EigenLayerChecks` (the surface the signer's signatures are checked against on
/// chain, for tests and demos) from `deployer`; its address.
pub async fn deploy_eigenlayer_checks(
    rpc_url: &str,
    deployer: PrivateKeySigner,
) -> Result<Address, ChainError> {
    let provider = provider(rpc_url, Some(deployer))?;
    let call = crate::bindings::checks::EigenLayerChecks::deploy_builder(provider.clone());
    create(&provider, call).await
}

/// EigenLayer's `BLSSignatureChecker.trySignatureAndApkVerification` as the deployed
/// `EigenLayerChecks` at `checks` evaluates it: (pairing succeeded, signature valid) for `sigma`
/// on `msg_hash` under the keys `pk1` (G1) and `pk2` (G2).
pub async fn check_bls_signature(
    rpc_url: &str,
    checks: Address,
    msg_hash: [u8; 32],
    pk1: &G1Point,
    pk2: &G2Point,
    sigma: &G1Point,
) -> Result<(bool, bool), ChainError> {
    use crate::bindings::checks::{EigenLayerChecks, BN254 as C};
    // The same ABI structs, generated once per contract binding.
    let one = |p: &G1Point| {
        let a = g1_abi(p);
        C::G1Point { X: a.X, Y: a.Y }
    };
    let a2 = g2_abi(pk2);
    let two = C::G2Point { X: a2.X, Y: a2.Y };
    let provider = provider(rpc_url, None)?;
    let r = EigenLayerChecks::new(checks, provider)
        .trySignatureAndApkVerification(msg_hash.into(), one(pk1), two, one(sigma))
        .call()
        .await
        .map_err(ChainError::from_contract)?;
    Ok((r.pairingSuccessful, r.signatureIsValid))
}

/// Sends a contract creation and waits until it is mined; the new contract's address.
async fn create<D: alloy::contract::CallDecoder>(
    provider: &DynProvider,
    call: alloy::contract::CallBuilder<DynProvider, D>,
) -> Result<Address, ChainError> {
    let pending = call.send().await.map_err(ChainError::from_contract)?;
    let receipt = wait_receipt(provider, *pending.tx_hash()).await?;
    receipt
        .contract_address
        .ok_or(ChainError::Reverted(receipt.transaction_hash))
}

impl Registry {
    /// Connects to the registry at `address`; with a wallet, transactions are sent from it.
    pub async fn connect(
        rpc_url: &str,
        address: Address,
        wallet: Option<PrivateKeySigner>,
    ) -> Result<Self, ChainError> {
        let sender = wallet.as_ref().map(|w| w.address());
        let provider = provider(rpc_url, wallet)?;
        let chain_id = provider.get_chain_id().await.map_err(rpc)?;
        let code = provider.get_code_at(address).await.map_err(rpc)?;
        if code.is_empty() {
            return Err(ChainError::NoContract(address));
        }
        Ok(Self {
            provider,
            address,
            chain_id,
            sender,
        })
    }

    /// Deploys a registry owned by `owner` for the AVS operator set (`avs`, `operator_set_id`),
    /// from `deployer`'s account, and connects to it with that wallet.
    pub async fn deploy(
        rpc_url: &str,
        deployer: PrivateKeySigner,
        owner: Address,
        avs: Address,
        operator_set_id: u32,
    ) -> Result<Self, ChainError> {
        let sender = Some(deployer.address());
        let provider = provider(rpc_url, Some(deployer))?;
        let chain_id = provider.get_chain_id().await.map_err(rpc)?;
        let call = KmsRegistry::deploy_builder(provider.clone(), owner, avs, operator_set_id);
        let address = create(&provider, call).await?;
        Ok(Self {
            address,
            provider,
            chain_id,
            sender,
        })
    }

    /// The registry's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The chain's id, read at connection.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The account transactions are sent from, if a wallet is configured.
    pub fn sender(&self) -> Option<Address> {
        self.sender
    }

    /// The JSON-RPC provider, for calls this type does not wrap.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    fn contract(&self) -> KmsRegistry::KmsRegistryInstance<DynProvider> {
        KmsRegistry::new(self.address, self.provider.clone())
    }

    /// The latest block number.
    pub async fn head(&self) -> Result<u64, ChainError> {
        self.provider.get_block_number().await.map_err(rpc)
    }

    /// The operators admitted and not removed at `block` (state after that block), in
    /// registration order, with checked keys.
    pub async fn operators_at(&self, block: u64) -> Result<Vec<OperatorRecord>, ChainError> {
        let infos = self
            .contract()
            .activeOperators()
            .block(BlockId::number(block))
            .call()
            .await
            .map_err(ChainError::from_contract)?;
        infos
            .into_iter()
            .map(|i| {
                let invalid = |what: String| ChainError::Invalid {
                    operator: i.operator,
                    what,
                };
                let g1 = G1Point::from_coords(i.g1.X, i.g1.Y)
                    .map_err(|e| invalid(format!("G1 key: {e}")))?;
                let g2 = G2Point::from_solidity(i.g2.X, i.g2.Y)
                    .map_err(|e| invalid(format!("G2 key: {e}")))?;
                Ok(OperatorRecord {
                    address: i.operator,
                    id: i.id,
                    g1,
                    g2,
                    encryption_key: i.encryptionKey.0,
                    url: i.url,
                })
            })
            .collect()
    }

    /// The app's owner at `block` (latest if None); None if the app is not registered.
    pub async fn app_owner(
        &self,
        app_id: &str,
        block: Option<u64>,
    ) -> Result<Option<Address>, ChainError> {
        let c = self.contract();
        let mut call = c.appOwner(app_id.to_string());
        if let Some(b) = block {
            call = call.block(BlockId::number(b));
        }
        let owner = call.call().await.map_err(ChainError::from_contract)?;
        Ok((owner != Address::ZERO).then_some(owner))
    }

    /// The app's release policy in force at `block` (latest if None); None if the app has no
    /// owner there.
    pub async fn app_policy(
        &self,
        app_id: &str,
        block: Option<u64>,
    ) -> Result<Option<AppPolicy>, ChainError> {
        let c = self.contract();
        let mut call = c.appPolicy(app_id.to_string());
        if let Some(b) = block {
            call = call.block(BlockId::number(b));
        }
        let r = call.call().await.map_err(ChainError::from_contract)?;
        Ok((r.owner != Address::ZERO).then(|| AppPolicy {
            owner: r.owner,
            credential: r.credential,
            delay: r.delay,
            approved: r.approved.iter().map(|a| a.0).collect(),
        }))
    }

    /// Where `operator` stands now.
    pub async fn operator_status(&self, operator: Address) -> Result<OperatorStatus, ChainError> {
        let info = self
            .contract()
            .operatorInfo(operator)
            .call()
            .await
            .map_err(ChainError::from_contract)?;
        // The contract's enum, in declaration order.
        match info.status {
            0 => Ok(OperatorStatus::Unknown),
            1 => Ok(OperatorStatus::Registered),
            2 => Ok(OperatorStatus::Admitted),
            3 => Ok(OperatorStatus::Removed),
            other => Err(ChainError::Invalid {
                operator,
                what: format!("status {other}"),
            }),
        }
    }

    /// The AVS and operator set that registrations are signed for (KeyRegistrar's message).
    pub async fn operator_set(&self) -> Result<(Address, u32), ChainError> {
        let c = self.contract();
        let avs = c.avs().call().await.map_err(ChainError::from_contract)?;
        let id = c
            .operatorSetId()
            .call()
            .await
            .map_err(ChainError::from_contract)?;
        Ok((avs, id))
    }

    /// The latest anchored epoch and the anchored MPK (compressed), or None before any anchor.
    pub async fn anchored(&self) -> Result<Option<(u64, Vec<u8>)>, ChainError> {
        let c = self.contract();
        let epoch = c
            .latestEpoch()
            .call()
            .await
            .map_err(ChainError::from_contract)?;
        let mpk = c.mpk().call().await.map_err(ChainError::from_contract)?;
        Ok((!mpk.is_empty()).then(|| (epoch, mpk.to_vec())))
    }

    /// An anchored epoch's record, or None.
    pub async fn epoch_record(&self, epoch: u64) -> Result<Option<AnchorRecord>, ChainError> {
        let r = self
            .contract()
            .epochRecord(epoch)
            .call()
            .await
            .map_err(ChainError::from_contract)?;
        Ok((r.anchoredAt != 0).then_some(AnchorRecord {
            round: r.round.0,
            set_hash: r.setHash.0,
            vote_digest: r.voteDigest.0,
            anchored_at: r.anchoredAt,
        }))
    }

    /// The contract's vote digest for these fields (must equal the protocol's).
    pub async fn vote_digest(
        &self,
        epoch: u64,
        attempt: u32,
        round: [u8; 32],
        set_hash: [u8; 32],
        mpk: &[u8],
    ) -> Result<[u8; 32], ChainError> {
        let d = self
            .contract()
            .voteDigest(
                epoch,
                attempt,
                FixedBytes(round),
                FixedBytes(set_hash),
                Bytes::copy_from_slice(mpk),
            )
            .call()
            .await
            .map_err(ChainError::from_contract)?;
        Ok(d.0)
    }

    /// Sends a transaction and waits for its receipt; a reverted one is an error.
    async fn send<C>(
        &self,
        call: alloy::contract::CallBuilder<&DynProvider, C>,
    ) -> Result<TxHash, ChainError>
    where
        C: alloy::contract::CallDecoder,
    {
        if self.sender.is_none() {
            return Err(ChainError::NoWallet);
        }
        let pending = call.send().await.map_err(ChainError::from_contract)?;
        Ok(wait_receipt(&self.provider, *pending.tx_hash())
            .await?
            .transaction_hash)
    }

    /// `registerOperator` from the wallet's account: KeyRegistrar's `keyData` and signature.
    pub async fn register_operator(
        &self,
        key_data: &[u8],
        signature: &[u8],
        encryption_key: [u8; 32],
        url: &str,
    ) -> Result<TxHash, ChainError> {
        let c = self.contract();
        self.send(c.registerOperator(
            Bytes::copy_from_slice(key_data),
            Bytes::copy_from_slice(signature),
            FixedBytes(encryption_key),
            url.to_string(),
        ))
        .await
    }

    /// KeyRegistrar's `keyData` and signature for `operator`'s BN254 key at this registry, signed
    /// with the key itself (for a key held locally; kms-signer signs the same message for a key
    /// it holds).
    pub async fn sign_key_registration(
        &self,
        key: &kms_crypto::bn254::SecretKey,
        operator: Address,
    ) -> Result<(Vec<u8>, Vec<u8>), ChainError> {
        use kms_crypto::bn254::{key_registrar_digest, key_registrar_key_data, Eip712Domain};
        let (avs, set_id) = self.operator_set().await?;
        let key_data = key_registrar_key_data(&key.public_g1(), &key.public_g2());
        let domain = Eip712Domain::eigenlayer_core("1", self.chain_id, self.address);
        let digest = key_registrar_digest(&domain, operator, avs, set_id, &key_data);
        Ok((key_data, key.sign_hash(&digest).1.to_abi_bytes().to_vec()))
    }

    /// `admitOperator` (the owner's wallet).
    pub async fn admit(&self, operator: Address) -> Result<TxHash, ChainError> {
        let c = self.contract();
        self.send(c.admitOperator(operator)).await
    }

    /// `removeOperator` (the owner's wallet).
    pub async fn remove(&self, operator: Address) -> Result<TxHash, ChainError> {
        let c = self.contract();
        self.send(c.removeOperator(operator)).await
    }

    /// `setAppOwner` (the owner's wallet); `Address::ZERO` removes the app.
    pub async fn set_app_owner(&self, app_id: &str, owner: Address) -> Result<TxHash, ChainError> {
        let c = self.contract();
        self.send(c.setAppOwner(app_id.to_string(), owner)).await
    }

    /// `proposeRelease` (the app owner's wallet): a new policy, in force after the app's delay.
    pub async fn propose_release(
        &self,
        app_id: &str,
        policy: &AppPolicy,
    ) -> Result<TxHash, ChainError> {
        let c = self.contract();
        self.send(c.proposeRelease(
            app_id.to_string(),
            policy.owner,
            policy.credential,
            policy.delay,
            policy.approved.iter().map(|a| FixedBytes(*a)).collect(),
        ))
        .await
    }

    /// `registerApp` (the registry owner's wallet): a new app with its first policy, at once.
    pub async fn register_app(
        &self,
        app_id: &str,
        policy: &AppPolicy,
    ) -> Result<TxHash, ChainError> {
        let c = self.contract();
        self.send(c.registerApp(
            app_id.to_string(),
            policy.owner,
            policy.credential,
            policy.delay,
            policy.approved.iter().map(|a| FixedBytes(*a)).collect(),
        ))
        .await
    }

    /// `restrictRelease` (the app owner's wallet): narrows the policy in force at once.
    pub async fn restrict_release(
        &self,
        app_id: &str,
        policy: &AppPolicy,
    ) -> Result<TxHash, ChainError> {
        let c = self.contract();
        self.send(c.restrictRelease(
            app_id.to_string(),
            policy.credential,
            policy.delay,
            policy.approved.iter().map(|a| FixedBytes(*a)).collect(),
        ))
        .await
    }

    /// `cancelRelease` (the app owner's wallet): drops the pending proposal.
    pub async fn cancel_release(&self, app_id: &str) -> Result<TxHash, ChainError> {
        let c = self.contract();
        self.send(c.cancelRelease(app_id.to_string())).await
    }

    /// The proposal waiting and the unix time it comes into force, if any (it may be in force
    /// already: `appPolicy` then answers it).
    pub async fn pending_release(
        &self,
        app_id: &str,
    ) -> Result<Option<(AppPolicy, u64)>, ChainError> {
        let r = self
            .contract()
            .pendingRelease(app_id.to_string())
            .call()
            .await
            .map_err(ChainError::from_contract)?;
        let p = r._0;
        Ok((r.effectiveAt != 0).then(|| {
            (
                AppPolicy {
                    owner: p.owner,
                    credential: p.credential,
                    delay: p.delay,
                    approved: p.approved.iter().map(|a| a.0).collect(),
                },
                r.effectiveAt,
            )
        }))
    }

    /// `anchorEpoch`: records the epoch if the certificate checks on chain.
    pub async fn anchor(&self, a: &Anchor) -> Result<TxHash, ChainError> {
        let c = self.contract();
        self.send(c.anchorEpoch(
            a.epoch,
            a.attempt,
            FixedBytes(a.round),
            FixedBytes(a.set_hash),
            Bytes::copy_from_slice(&a.mpk),
            a.signers.clone(),
            g2_abi(&a.apk_g2),
            g1_abi(&a.sigma),
        ))
        .await
    }
}
