//! The node: keys, store, membership and finalized epochs in one place, and the scheduler that
//! starts a round at every interval boundary (docs 0008), or in chain mode at every trigger block
//! (docs 0009). A round's epoch number is the index of the interval it starts in (chain mode: its
//! trigger block), so two rounds never share a digest and a dropped round never runs again.

use crate::chain::ChainSource;
use crate::config::Config;
pub use crate::driver::RoundStatus;
use crate::driver::{DriverMsg, RoundHost, RoundStart, QUEUE_DEPTH};
use crate::metrics::Metrics;
use crate::state::{NodeStore, StoredEpoch};
use crate::transport::Transport;
use anyhow::{bail, Context};
use kms_api::node::{epoch_path, EpochAnswer, EpochClaim, MPK_PATH};
use kms_chain::membership::{Member, Membership, OperatorFile};
use kms_chain::{Anchor, ChainError};
use kms_crypto::bls::{Commitment, Share};
use kms_crypto::seal::EncryptionKey;
use kms_crypto::{bn254, Secret};
use kms_protocol::{observe, Address, Certificate, CommitmentCache, RawEnvelope, RoundConfig};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A finalized epoch held by this node.
pub struct Epoch {
    /// The epoch as stored and served.
    pub record: StoredEpoch,
    /// The round config that finalized it, decoded from `record.config`.
    pub cfg: Arc<RoundConfig>,
    /// The public polynomial, which gives the master public key and every player's public share.
    pub public: Commitment,
    /// This node's share, when it is a player of the epoch.
    pub share: Option<Share>,
    /// Every player's public share (hex, in player order) for `GET /v1/mpk`, computed once:
    /// each is a commitment evaluation.
    pub public_shares: Vec<String>,
}

impl Epoch {
    /// What a reshare from this epoch starts from (`kms_protocol::adopt`).
    pub fn latest(&self) -> kms_protocol::adopt::Latest<'_> {
        kms_protocol::adopt::Latest {
            epoch: self.record.epoch,
            players: &self.cfg.players,
            public: &self.public,
        }
    }

    /// Builds the epoch and computes its players' public shares.
    pub fn new(
        record: StoredEpoch,
        cfg: Arc<RoundConfig>,
        public: Commitment,
        share: Option<Share>,
    ) -> Self {
        let public_shares = cfg
            .players
            .iter()
            .map(|o| {
                kms_crypto::bls::public_share(&public, &o.point)
                    .map(|p| format!("0x{}", hex::encode(p.to_bytes())))
                    .unwrap_or_default()
            })
            .collect();
        Self {
            record,
            cfg,
            public,
            share,
            public_shares,
        }
    }
}

/// The last round this node finished, as `/v1/status` shows it.
#[derive(Clone, Debug)]
pub struct LastRound {
    /// The round's epoch.
    pub epoch: u64,
    /// "finalized", "failed", "sat_out" or "caught_up".
    pub outcome: &'static str,
    /// When it finished, in unix seconds.
    pub finished_at: u64,
    /// How long it ran, from the start of its interval, in milliseconds.
    pub duration_ms: u64,
}

struct RoundHandle {
    digest: [u8; 32],
    tx: std::sync::mpsc::SyncSender<DriverMsg>,
}

/// Faults proven against one operator (by this node), by reason code.
pub type FaultCounts = BTreeMap<Address, BTreeMap<&'static str, u64>>;

/// A running node: its keys, store, membership and epochs, shared by the API, the scheduler and
/// the round threads.
pub struct Node {
    /// The validated configuration (chain mode: with the chain's id, registry and round time).
    pub cfg: Config,
    /// The operator's BN254 key.
    pub key: Arc<bn254::SecretKey>,
    /// The node's X25519 encryption key.
    pub enc: Arc<EncryptionKey>,
    /// The node's store.
    pub store: NodeStore,
    membership: Arc<dyn Membership>,
    /// Chain mode: the registry (also `membership`).
    pub chain: Option<Arc<ChainSource>>,
    members: RwLock<Vec<Member>>,
    epochs: RwLock<BTreeMap<u64, Arc<Epoch>>>,
    current: Mutex<Option<RoundHandle>>,
    round_status: Mutex<Option<(RoundStatus, u64)>>,
    last_round: Mutex<Option<LastRound>>,
    faults: Mutex<FaultCounts>,
    /// The node's Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The senders of outgoing protocol messages, one per peer.
    pub transport: Transport,
    /// The runtime that tasks are spawned on from the round threads (peer senders, anchoring).
    pub rt: tokio::runtime::Handle,
    /// Token buckets per app id.
    pub(crate) limiter: kms_http::RateLimiter<String>,
    pub(crate) app_slots: Arc<tokio::sync::Semaphore>,
}

pub use kms_api::time::unix_now;

fn copy_share(s: &Share) -> Share {
    Share {
        point: s.point,
        value: s.value.expose(|v| Secret::new(*v)),
    }
}

impl Node {
    /// Loads keys, opens the store and restores every retained epoch. With a chain source, the
    /// operator set comes from it from the first trigger on.
    pub fn open(
        mut cfg: Config,
        rt: tokio::runtime::Handle,
        chain: Option<Arc<ChainSource>>,
    ) -> anyhow::Result<Arc<Self>> {
        // Chain mode: the chain id and the registry are the chain's, and a round lasts the
        // interval's blocks (the driver times its phases by `cfg.interval`).
        if let Some(source) = &chain {
            if cfg.chain_id_given && cfg.chain_id != source.chain_id() {
                bail!(
                    "chain_id is {} but the RPC's chain is {}",
                    cfg.chain_id,
                    source.chain_id()
                );
            }
            cfg.chain_id = source.chain_id();
            cfg.registry = source.registry();
            cfg.interval = source.round_time();
            tracing::info!(
                chain_id = cfg.chain_id,
                interval_blocks = source.interval,
                confirmations = source.confirmations,
                anchoring = source.can_anchor(),
                "chain mode"
            );
        }
        let key = Arc::new(cfg.bn254_key()?);
        let enc = Arc::new(cfg.encryption_key()?);
        let (membership, members): (Arc<dyn Membership>, _) = match &chain {
            Some(c) => (c.clone(), Vec::new()),
            None => {
                let file = OperatorFile::new(cfg.operators_file.clone());
                let members = file
                    .read()
                    .with_context(|| format!("loading {}", cfg.operators_file.display()))?;
                (Arc::new(file), members)
            }
        };
        check_own_entry(&cfg, &key, &enc, &members)?;
        let state = NodeStore::open(&cfg.data_dir, &cfg.kek)?;
        let metrics = Arc::new(Metrics::new());
        let mut epochs = BTreeMap::new();
        for record in state.epochs()? {
            let cfg_r = Arc::new(
                RoundConfig::decode(&record.config)
                    .map_err(|e| anyhow::anyhow!("stored epoch {}: {e}", record.epoch))?,
            );
            let public = Commitment::from_bytes(&record.public)
                .map_err(|e| anyhow::anyhow!("stored epoch {}: {e}", record.epoch))?;
            let share = match cfg_r
                .player_index(&cfg.address)
                .and_then(|i| cfg_r.player_point(i))
            {
                Some(point) => state.share(record.epoch, point)?,
                None => None,
            };
            epochs.insert(
                record.epoch,
                Arc::new(Epoch::new(record, cfg_r, public, share)),
            );
        }
        if let Some(e) = epochs.keys().next_back() {
            metrics.epoch.set(i64::try_from(*e).unwrap_or(i64::MAX));
        }
        let app_slots = Arc::new(tokio::sync::Semaphore::new(cfg.app_max_concurrent));
        let limiter =
            kms_http::RateLimiter::new(cfg.app_rate_limit_per_sec, cfg.app_rate_limit_burst);
        Ok(Arc::new(Self {
            transport: Transport::new(metrics.clone())?,
            cfg,
            key,
            enc,
            store: state,
            membership,
            chain,
            members: RwLock::new(members),
            epochs: RwLock::new(epochs),
            current: Mutex::new(None),
            round_status: Mutex::new(None),
            last_round: Mutex::new(None),
            faults: Mutex::new(BTreeMap::new()),
            metrics,
            rt,
            limiter,
            app_slots,
        }))
    }

    /// The newest finalized epoch held, if any.
    pub fn latest(&self) -> Option<Arc<Epoch>> {
        self.epochs
            .read()
            .ok()
            .and_then(|e| e.values().next_back().cloned())
    }

    /// Epoch `e`, if this node holds it.
    pub fn epoch(&self, e: u64) -> Option<Arc<Epoch>> {
        self.epochs.read().ok().and_then(|m| m.get(&e).cloned())
    }

    /// The operator set as last read.
    pub fn members(&self) -> Vec<Member> {
        self.members.read().map(|m| m.clone()).unwrap_or_default()
    }

    /// The round in progress, if any, with when it was first reported (unix seconds).
    pub fn round_status(&self) -> Option<(RoundStatus, u64)> {
        self.round_status.lock().ok().and_then(|s| s.clone())
    }

    /// The last round this node finished, if any since it started.
    pub fn last_round(&self) -> Option<LastRound> {
        self.last_round.lock().ok().and_then(|s| s.clone())
    }

    /// Faults this node has proven against other operators since it started.
    pub fn faults(&self) -> FaultCounts {
        self.faults.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// Counts a fault proven against `culprit` (its signature is on the message). Only members
    /// can be culprits, so the table is bounded by the operator set.
    pub(crate) fn record_fault(&self, culprit: &Address, code: &'static str) {
        self.metrics.fault(&address_of(culprit), code);
        if let Ok(mut f) = self.faults.lock() {
            *f.entry(*culprit).or_default().entry(code).or_default() += 1;
        }
    }

    pub(crate) fn set_round_status(&self, s: Option<RoundStatus>) {
        if let Ok(mut cur) = self.round_status.lock() {
            let started = cur
                .as_ref()
                .filter(|(c, _)| s.as_ref().is_some_and(|n| n.epoch == c.epoch))
                .map(|(_, t)| *t)
                .unwrap_or_else(unix_now);
            *cur = s.map(|s| (s, started));
        }
    }

    pub(crate) fn round_finished(&self, epoch: u64, outcome: &'static str, took: Duration) {
        if let Ok(mut last) = self.last_round.lock() {
            *last = Some(LastRound {
                epoch,
                outcome,
                finished_at: unix_now(),
                duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            });
        }
    }

    /// Stores a finalized epoch (with the share, in one transaction) and serves it from now on.
    pub(crate) fn install_epoch(
        &self,
        record: StoredEpoch,
        share: Option<Share>,
        cfg: Arc<RoundConfig>,
        public: Commitment,
    ) -> anyhow::Result<()> {
        let dropped =
            self.store
                .commit_epoch(&record, share.as_ref(), self.cfg.retention_epochs)?;
        let epoch = record.epoch;
        let mut map = self
            .epochs
            .write()
            .map_err(|_| anyhow::anyhow!("epoch map poisoned"))?;
        for e in dropped {
            map.remove(&e);
        }
        map.insert(epoch, Arc::new(Epoch::new(record, cfg, public, share)));
        if let Some(latest) = map.keys().next_back() {
            self.metrics
                .epoch
                .set(i64::try_from(*latest).unwrap_or(i64::MAX));
        }
        Ok(())
    }

    /// The running round's queue, if `digest` is that round.
    pub(crate) fn round_sender(
        &self,
        digest: &[u8; 32],
    ) -> Option<std::sync::mpsc::SyncSender<DriverMsg>> {
        let cur = self.current.lock().ok()?;
        cur.as_ref()
            .filter(|h| &h.digest == digest)
            .map(|h| h.tx.clone())
    }
}

/// The operator file's entry for this node, if any, must hold this node's keys.
fn check_own_entry(
    cfg: &Config,
    key: &bn254::SecretKey,
    enc: &EncryptionKey,
    members: &[Member],
) -> anyhow::Result<()> {
    if let Some(m) = members.iter().find(|m| m.operator.address == cfg.address) {
        if *m.operator.key_g1() != key.public_g1() {
            bail!("the operator file's BN254 key for this address is not this node's key");
        }
        if m.operator.enc.to_bytes() != enc.public().to_bytes() {
            bail!("the operator file's encryption key for this address is not this node's key");
        }
    }
    Ok(())
}

/// Used by the API: a secret-free view for handlers.
pub fn address_of(a: &Address) -> String {
    kms_protocol::hex_address(a)
}

mod anchor;
mod catch_up;
mod round_host;
mod schedule;
pub use catch_up::max_epoch_answer;
