//! Chain mode (docs 0009): the `KmsRegistry` is the operator set, the apps and the clock. A round
//! is triggered by every block that is a multiple of the interval, once it is `confirmations`
//! deep; its epoch is that block, and its operators are the set as it was at that block, so every
//! node that reads the same chain runs the same round. An RPC that does not answer means no round,
//! never a guess.

use crate::config::{default_block_time, ChainConfig};
use alloy_primitives::Address as EthAddress;
use anyhow::Context;
use kms_chain::membership::{valid_url, Member, MembersFuture, Membership, MembershipError};
use kms_chain::{Anchor, AppPolicy, ChainError, LocalSigner, OperatorRecord, Registry};
use kms_crypto::bls::EvalPoint;
use kms_crypto::seal::EncryptionPublicKey;
use kms_protocol::Operator;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an app's policy read from the registry at the latest block is used before it is read
/// again (a policy read at a named block never changes, and is kept as long).
const APP_TTL: Duration = Duration::from_secs(2);
/// Apps cached at most. Requests for made-up app ids each cost a registry read (bounded by
/// `app_max_concurrent`); this bounds what they can make the node remember.
const APP_CACHE_MAX: usize = 4096;

/// The registry as the node uses it.
pub struct ChainSource {
    registry: Registry,
    /// The same registry with the anchoring wallet, if one is configured.
    sender: Option<Registry>,
    /// Blocks between triggers.
    pub interval: u64,
    /// Blocks a trigger block must be buried under before its round starts.
    pub confirmations: u64,
    /// The chain's block time: configured, or by chain id ([`default_block_time`]).
    pub block_time: Duration,
    /// Operators already converted, so that their key tables are built once.
    known: Mutex<Vec<(OperatorRecord, Member)>>,
    apps: Mutex<AppCache<Option<AppPolicy>>>,
    /// How many blocks old a partial request's policy block may be.
    pub policy_max_age: u64,
    /// The head as last read for a partial request, and when.
    recent: Mutex<Option<(u64, Instant)>>,
}

impl ChainSource {
    /// Connects to the registry (it must hold code) and loads the anchoring key, if any.
    pub async fn connect(c: &ChainConfig) -> anyhow::Result<Self> {
        let address = EthAddress::from(c.registry);
        let registry = Registry::connect(&c.rpc_url, address, None)
            .await
            .with_context(|| format!("connecting to the registry at {address}"))?;
        let sender = match &c.tx_key_file {
            None => None,
            Some(path) => {
                let text = zeroize::Zeroizing::new(
                    std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?,
                );
                let wallet: LocalSigner = text
                    .trim()
                    .parse()
                    .map_err(|_| anyhow::anyhow!("{}: not a secp256k1 key", path.display()))?;
                Some(Registry::connect(&c.rpc_url, address, Some(wallet)).await?)
            }
        };
        let chain_id = registry.chain_id();
        Ok(Self {
            interval: c
                .interval_blocks
                .unwrap_or_else(|| kms_chain::default_interval(chain_id)),
            confirmations: c.confirmations,
            block_time: c.block_time.unwrap_or_else(|| default_block_time(chain_id)),
            registry,
            sender,
            known: Mutex::new(Vec::new()),
            apps: Mutex::new(AppCache::default()),
            policy_max_age: policy_age_blocks(
                c.policy_max_age_secs,
                c.block_time.unwrap_or_else(|| default_block_time(chain_id)),
                c.confirmations,
            ),
            recent: Mutex::new(None),
        })
    }

    /// The chain id the RPC reported on connecting.
    pub fn chain_id(&self) -> u64 {
        self.registry.chain_id()
    }

    /// The registry contract's address.
    pub fn registry(&self) -> [u8; 20] {
        self.registry.address().into_array()
    }

    /// The time a round has: its interval's blocks, at least 2 s.
    pub fn round_time(&self) -> Duration {
        let blocks = u32::try_from(self.interval).unwrap_or(u32::MAX);
        self.block_time
            .saturating_mul(blocks)
            .max(Duration::from_secs(2))
    }

    /// The latest block number.
    pub async fn head(&self) -> Result<u64, ChainError> {
        self.registry.head().await
    }

    /// The head for checking partial requests' policy blocks: read at most once per half block
    /// time, so that requests naming blocks cost no extra RPC each.
    pub async fn recent_head(&self) -> Result<u64, ChainError> {
        let fresh = (self.block_time / 2).max(Duration::from_millis(100));
        let cached = self.recent.lock().ok().and_then(|r| *r);
        if let Some((head, at)) = cached {
            if at.elapsed() < fresh {
                return Ok(head);
            }
        }
        let head = self.registry.head().await?;
        if let Ok(mut r) = self.recent.lock() {
            *r = Some((head, Instant::now()));
        }
        Ok(head)
    }

    /// The latest trigger block that is confirmed at `head`, if any.
    pub fn trigger_at(&self, head: u64) -> Option<u64> {
        let top = head.checked_sub(self.confirmations)?;
        let b = top / self.interval * self.interval;
        (b > 0).then_some(b)
    }

    /// The app's release policy in force at `block` (None: the latest block), cached for
    /// [`APP_TTL`]; None if the app has no owner there.
    pub async fn app_policy(
        &self,
        app_id: &str,
        block: Option<u64>,
    ) -> Result<Option<AppPolicy>, ChainError> {
        let key = match block {
            None => app_id.to_string(),
            Some(b) => format!("{app_id}@{b}"),
        };
        let cached = self
            .apps
            .lock()
            .ok()
            .and_then(|c| c.get(&key, Instant::now()));
        if let Some(policy) = cached {
            return Ok(policy);
        }
        let policy = self.registry.app_policy(app_id, block).await?;
        if let Ok(mut c) = self.apps.lock() {
            c.put(&key, policy.clone(), Instant::now());
        }
        Ok(policy)
    }

    /// Whether this node can anchor (a wallet is configured).
    pub fn can_anchor(&self) -> bool {
        self.sender.is_some()
    }

    /// The latest anchored epoch, or None.
    pub async fn anchored_epoch(&self) -> Result<Option<u64>, ChainError> {
        Ok(self.registry.anchored().await?.map(|(e, _)| e))
    }

    /// The vote digest anchored for `epoch`, or None.
    pub async fn anchored_digest(&self, epoch: u64) -> Result<Option<[u8; 32]>, ChainError> {
        Ok(self
            .registry
            .epoch_record(epoch)
            .await?
            .map(|r| r.vote_digest))
    }

    /// Sends the anchor; the registry checks it.
    pub async fn anchor(&self, a: &Anchor) -> Result<alloy_primitives::TxHash, ChainError> {
        match &self.sender {
            Some(s) => s.anchor(a).await,
            None => Err(ChainError::NoWallet),
        }
    }

    /// The registry's operators at `block`, as members. An operator whose encryption key or URL
    /// cannot be used is left out (every node reads the same entry and leaves it out alike).
    async fn members_at(&self, block: u64) -> Result<Vec<Member>, MembershipError> {
        let records = self
            .registry
            .operators_at(block)
            .await
            .map_err(|e| MembershipError::Chain(format!("operators at block {block}: {e}")))?;
        let mut known = self
            .known
            .lock()
            .map_err(|_| MembershipError::Chain("operator cache poisoned".into()))?;
        let mut members = Vec::with_capacity(records.len());
        for r in records {
            if let Some((_, m)) = known.iter().find(|(k, _)| *k == r) {
                members.push(m.clone());
                continue;
            }
            match to_member(&r) {
                Ok(m) => {
                    known.push((r, m.clone()));
                    members.push(m);
                }
                Err(why) => tracing::warn!(operator = %r.address, "left out of the set: {why}"),
            }
        }
        // Entries of operators no longer in the set go, so the cache stays the set's size.
        known.retain(|(k, _)| members.iter().any(|m| m.operator.address == k.address.0 .0));
        members.sort_by_key(|m| m.operator.address);
        Ok(members)
    }
}

/// The policy age window in blocks: `secs` of blocks of `block_time`, rounded up, and never less
/// than the confirmation depth (or no block would ever be usable).
pub fn policy_age_blocks(secs: u64, block_time: Duration, confirmations: u64) -> u64 {
    let ms = u64::try_from(block_time.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    secs.saturating_mul(1000).div_ceil(ms).max(confirmations)
}

/// Whether a partial request's policy block may be read at `head`: confirmed (at least
/// `confirmations` deep, so every node sees the same block) and at most `max_age` blocks old (so a
/// request cannot pick a block from before a release was revoked).
pub fn policy_block_usable(block: u64, head: u64, confirmations: u64, max_age: u64) -> bool {
    block > 0
        && block.saturating_add(confirmations) <= head
        && block.saturating_add(max_age) >= head
}

/// Apps' policies as last read (None: not registered), each for [`APP_TTL`], at most
/// [`APP_CACHE_MAX`] of them.
struct AppCache<V> {
    entries: HashMap<String, (V, Instant)>,
}

impl<V> Default for AppCache<V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
        }
    }
}

impl<V: Clone> AppCache<V> {
    fn get(&self, app_id: &str, now: Instant) -> Option<V> {
        let (value, at) = self.entries.get(app_id)?;
        (now.saturating_duration_since(*at) < APP_TTL).then(|| value.clone())
    }

    /// Stale entries are dropped only when the cache is full, so a put is O(1) amortized; a full
    /// cache of fresh entries (a flood of distinct ids) takes no more until some expire.
    fn put(&mut self, app_id: &str, owner: V, now: Instant) {
        if self.entries.len() >= APP_CACHE_MAX && !self.entries.contains_key(app_id) {
            self.entries
                .retain(|_, (_, at)| now.saturating_duration_since(*at) < APP_TTL);
            if self.entries.len() >= APP_CACHE_MAX {
                return;
            }
        }
        self.entries.insert(app_id.to_string(), (owner, now));
    }
}

fn to_member(r: &OperatorRecord) -> Result<Member, &'static str> {
    let point = EvalPoint::from_index(r.id).map_err(|_| "id 0")?;
    let enc = EncryptionPublicKey::from_bytes(&r.encryption_key)
        .map_err(|_| "encryption key is not a usable X25519 public key")?;
    if !valid_url(&r.url) {
        return Err("url is not an http:// or https:// URL");
    }
    let operator = Operator::new(r.address.into_array(), point, r.g1, r.g2, enc);
    Ok(Member {
        operator,
        url: r.url.trim_end_matches('/').to_string(),
    })
}

impl Membership for ChainSource {
    fn members(&self, trigger: u64) -> MembersFuture<'_> {
        Box::pin(self.members_at(trigger))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(n: u8) -> Option<EthAddress> {
        Some(EthAddress::repeat_byte(n))
    }

    #[test]
    fn the_policy_window_is_a_time() {
        assert_eq!(policy_age_blocks(600, Duration::from_secs(12), 2), 50);
        assert_eq!(policy_age_blocks(600, Duration::from_secs(1), 2), 600);
        assert_eq!(policy_age_blocks(601, Duration::from_secs(2), 2), 301);
        assert_eq!(policy_age_blocks(1, Duration::from_secs(12), 5), 5);
        assert_eq!(policy_age_blocks(10, Duration::ZERO, 2), 10_000);
    }

    #[test]
    fn policy_blocks_must_be_confirmed_and_recent() {
        // head 100, 2 confirmations, 64 blocks of age.
        assert!(policy_block_usable(98, 100, 2, 64));
        assert!(policy_block_usable(36, 100, 2, 64));
        assert!(!policy_block_usable(99, 100, 2, 64), "not confirmed");
        assert!(!policy_block_usable(101, 100, 2, 64), "ahead of the head");
        assert!(!policy_block_usable(35, 100, 2, 64), "too old");
        assert!(
            !policy_block_usable(0, 100, 2, 200),
            "block 0 means static mode"
        );
        assert!(!policy_block_usable(u64::MAX, 100, 2, 64));
        assert!(policy_block_usable(100, 100, 0, 0));
    }

    #[test]
    fn app_cache_answers_for_its_ttl_then_asks_again() {
        let t0 = Instant::now();
        let mut c = AppCache::default();
        assert_eq!(c.get("a", t0), None);
        c.put("a", owner(1), t0);
        c.put("gone", None, t0);
        assert_eq!(c.get("a", t0 + APP_TTL / 2), Some(owner(1)));
        // An unregistered app is remembered as such.
        assert_eq!(c.get("gone", t0), Some(None));
        assert_eq!(c.get("a", t0 + APP_TTL), None);
        c.put("a", owner(2), t0 + APP_TTL);
        assert_eq!(c.get("a", t0 + APP_TTL), Some(owner(2)));
    }

    #[test]
    fn app_cache_stays_bounded_under_a_flood_of_distinct_ids() {
        let t0 = Instant::now();
        let mut c = AppCache::default();
        for i in 0..APP_CACHE_MAX + 100 {
            c.put(&format!("flood-{i}"), None, t0);
        }
        assert_eq!(c.entries.len(), APP_CACHE_MAX);
        // Full of fresh entries: a new one is not kept, a known one is refreshed.
        c.put("real", owner(3), t0);
        assert_eq!(c.get("real", t0), None);
        c.put("flood-0", owner(4), t0);
        assert_eq!(c.get("flood-0", t0), Some(owner(4)));
        // Once they expire, room is made.
        let later = t0 + APP_TTL;
        c.put("real", owner(3), later);
        assert_eq!(c.get("real", later), Some(owner(3)));
        assert_eq!(c.entries.len(), 1);
    }
}
