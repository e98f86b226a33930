//! The node: keys, store, membership and finalized epochs in one place, and the scheduler that
//! starts a round at every interval boundary (docs 0008), or in chain mode at every trigger block
//! (docs 0009). A round's epoch number is the index of the interval it starts in (chain mode: its
//! trigger block), so two rounds never share a digest and a dropped round never runs again.

use crate::chain::ChainSource;
use crate::config::Config;
pub use crate::driver::RoundStatus;
use crate::driver::{DriverMsg, RoundHost, RoundStart, QUEUE_DEPTH};
use crate::metrics::Metrics;
use crate::state::{EpochRecord, State};
use crate::transport::Transport;
use anyhow::{bail, Context};
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
    pub record: EpochRecord,
    pub cfg: Arc<RoundConfig>,
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

    pub fn new(
        record: EpochRecord,
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

#[derive(Clone, Debug)]
pub struct LastRound {
    pub epoch: u64,
    pub outcome: &'static str,
    pub finished_at: u64,
    pub duration_ms: u64,
}

struct RoundHandle {
    digest: [u8; 32],
    tx: std::sync::mpsc::SyncSender<DriverMsg>,
}

/// Faults proven against one operator (by this node), by reason code.
pub type FaultCounts = BTreeMap<Address, BTreeMap<&'static str, u64>>;

pub struct Node {
    pub cfg: Config,
    pub key: Arc<bn254::SecretKey>,
    pub enc: Arc<EncryptionKey>,
    pub state: State,
    membership: Arc<dyn Membership>,
    /// Chain mode: the registry (also `membership`).
    pub chain: Option<Arc<ChainSource>>,
    members: RwLock<Vec<Member>>,
    epochs: RwLock<BTreeMap<u64, Arc<Epoch>>>,
    current: Mutex<Option<RoundHandle>>,
    round_status: Mutex<Option<(RoundStatus, u64)>>,
    last_round: Mutex<Option<LastRound>>,
    faults: Mutex<FaultCounts>,
    pub metrics: Arc<Metrics>,
    pub transport: Transport,
    pub rt: tokio::runtime::Handle,
    /// Token buckets per app id.
    pub(crate) limiter: kms_service::RateLimiter<String>,
    pub(crate) app_slots: Arc<tokio::sync::Semaphore>,
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

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
        let state = State::open(&cfg.data_dir, &cfg.kek)?;
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
            kms_service::RateLimiter::new(cfg.app_rate_limit_per_sec, cfg.app_rate_limit_burst);
        Ok(Arc::new(Self {
            transport: Transport::new(metrics.clone())?,
            cfg,
            key,
            enc,
            state,
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

    pub fn latest(&self) -> Option<Arc<Epoch>> {
        self.epochs
            .read()
            .ok()
            .and_then(|e| e.values().next_back().cloned())
    }

    pub fn epoch(&self, e: u64) -> Option<Arc<Epoch>> {
        self.epochs.read().ok().and_then(|m| m.get(&e).cloned())
    }

    pub fn members(&self) -> Vec<Member> {
        self.members.read().map(|m| m.clone()).unwrap_or_default()
    }

    pub fn round_status(&self) -> Option<(RoundStatus, u64)> {
        self.round_status.lock().ok().and_then(|s| s.clone())
    }

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
        record: EpochRecord,
        share: Option<Share>,
        cfg: Arc<RoundConfig>,
        public: Commitment,
    ) -> anyhow::Result<()> {
        let dropped =
            self.state
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

    /// The round of interval `k` from the membership and the latest epoch held, or why none.
    /// `kms_protocol::adopt::derive` builds it: the config a peer's epoch must equal to be
    /// adopted without further backing is this very one.
    fn build_round(&self, k: u64, members: &[Member]) -> anyhow::Result<Option<RoundConfig>> {
        let me = self.cfg.address;
        let ops: Vec<_> = members.iter().map(|m| m.operator.clone()).collect();
        let member = ops.iter().any(|o| o.address == me);
        let genesis_min = self.cfg.chain.as_ref().map_or(1, |c| c.genesis_operators);
        let latest = self.latest();
        match &latest {
            None if !member => return Ok(None),
            None if ops.len() < genesis_min => {
                tracing::info!(
                    operators = ops.len(),
                    needed = genesis_min,
                    "genesis waits for more operators"
                );
                return Ok(None);
            }
            None => {}
            Some(e) => {
                let dealer = e.cfg.player_index(&me).is_some();
                if (!member && !dealer) || k <= e.record.epoch {
                    return Ok(None);
                }
            }
        }
        let cfg = kms_protocol::adopt::derive(
            k,
            self.cfg.chain_id,
            self.cfg.registry,
            &ops,
            latest.as_ref().map(|e| e.latest()),
        )?;
        Ok(Some(cfg))
    }

    /// Starts the round of interval `k` on its own thread.
    fn start_round(
        self: &Arc<Self>,
        k: u64,
        cfg: RoundConfig,
        members: &[Member],
        start: Instant,
        end: Instant,
    ) {
        let cfg = Arc::new(cfg);
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE_DEPTH);
        if let Ok(mut cur) = self.current.lock() {
            *cur = Some(RoundHandle {
                digest: cfg.digest(),
                tx,
            });
        }
        let share = self
            .latest()
            .filter(|_| cfg.previous.is_some())
            .and_then(|e| e.share.as_ref().map(copy_share));
        let s = RoundStart {
            cfg,
            urls: members
                .iter()
                .map(|m| (m.operator.address, m.url.clone()))
                .collect(),
            share,
            start,
            end,
            interval: self.cfg.interval,
        };
        let node = self.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("round-{k}"))
            .spawn(move || crate::driver::run(node, s, rx));
        if let Err(e) = spawned {
            tracing::error!(%e, "cannot spawn the round thread");
        }
    }

    /// Interval timing: the current interval's index and the wall-clock time left in it.
    fn interval_now(&self) -> (u64, Duration, Duration) {
        let i = self.cfg.interval.as_millis().max(1) as u64;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let k = now / i;
        let into = Duration::from_millis(now - k * i);
        let left = Duration::from_millis((k + 1) * i - now);
        (k, into, left)
    }

    /// Runs rounds forever: first resumes a round of the current interval that this node had
    /// journaled before a restart, then starts one at every boundary.
    pub async fn schedule(self: Arc<Self>) {
        if let Some(chain) = self.chain.clone() {
            return self.schedule_chain(chain).await;
        }
        let (k, into, left) = self.interval_now();
        let members = self.members();
        if let Ok(Some(cfg)) = self.build_round(k, &members) {
            if self.state.has_round(k, &cfg.digest()).unwrap_or(false) {
                let now = Instant::now();
                let start = now.checked_sub(into).unwrap_or(now);
                let end = now + left.saturating_sub(Duration::from_millis(100));
                self.start_round(k, cfg, &members, start, end);
            }
        }
        loop {
            let (_, _, left) = self.interval_now();
            tokio::time::sleep(left + Duration::from_millis(5)).await;
            let (k, into, left) = self.interval_now();
            let start = Instant::now()
                .checked_sub(into)
                .unwrap_or_else(Instant::now);
            let end = Instant::now() + left.saturating_sub(Duration::from_millis(100));
            let result = match self.membership.members(k).await {
                Ok(members) => self.boundary(k, members, start, end).await,
                Err(e) => Err(e.into()),
            };
            if let Err(e) = result {
                tracing::warn!(epoch = k, "no round this interval: {e:#}");
            }
        }
    }

    /// Chain mode: polls the head and starts the round of every new confirmed trigger block. A
    /// trigger whose operator set cannot be read is retried until the next trigger replaces it;
    /// triggers passed while the RPC was down are not run (the next one is).
    async fn schedule_chain(self: Arc<Self>, chain: Arc<ChainSource>) {
        let poll = (chain.block_time / 4).clamp(Duration::from_millis(100), Duration::from_secs(2));
        let mut done = self.latest().map(|e| e.record.epoch);
        let mut down_since: Option<Instant> = None;
        loop {
            tokio::time::sleep(poll).await;
            let head = match chain.head().await {
                Ok(h) => {
                    if let Some(t) = down_since.take() {
                        tracing::info!(
                            head = h,
                            after_ms = t.elapsed().as_millis() as u64,
                            "chain RPC answers again"
                        );
                    }
                    h
                }
                Err(e) => {
                    if down_since.is_none() {
                        tracing::warn!("chain RPC: {e}; no rounds until it answers");
                        down_since = Some(Instant::now());
                    }
                    continue;
                }
            };
            self.metrics
                .chain_head
                .set(i64::try_from(head).unwrap_or(i64::MAX));
            let Some(b) = chain.trigger_at(head) else {
                continue;
            };
            if done.is_some_and(|d| b <= d) {
                continue;
            }
            let members = match chain.members(b).await {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(epoch = b, "no round yet: {e}");
                    continue;
                }
            };
            done = Some(b);
            let start = Instant::now();
            let end = start + self.cfg.interval.saturating_sub(Duration::from_millis(100));
            if let Err(e) = self.boundary(b, members, start, end).await {
                tracing::warn!(epoch = b, "no round at this trigger: {e:#}");
            }
        }
    }

    async fn boundary(
        self: &Arc<Self>,
        k: u64,
        members: Vec<Member>,
        start: Instant,
        end: Instant,
    ) -> anyhow::Result<()> {
        check_own_entry(&self.cfg, &self.key, &self.enc, &members)?;
        if let Ok(mut m) = self.members.write() {
            *m = members.clone();
        }
        // A peer's claim that cannot be backed changes nothing: the round below is built from
        // this node's own view either way (a node without an epoch then starts a genesis that
        // cannot finish without t players, which costs nothing).
        self.catch_up(&members).await;
        match self.build_round(k, &members)? {
            Some(cfg) => {
                self.start_round(k, cfg, &members, start, end);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Asks every peer for its latest epoch, then takes the newest one this node can vouch for
    /// (`kms_protocol::adopt`: derived here, backed by more than f members, and in chain mode
    /// the anchored one). Every answer is bounded in size and time, and the peers' records are
    /// fetched at once, so a slow or lying peer delays catch-up by one timeout at most.
    async fn catch_up(self: &Arc<Self>, members: &[Member]) {
        let mine = self.latest().map(|e| e.record.epoch);
        let timeout =
            (self.cfg.interval / 10).clamp(Duration::from_millis(300), Duration::from_secs(2));
        let client = self.transport.client().clone();
        let peers: Vec<String> = members
            .iter()
            .filter(|m| m.operator.address != self.cfg.address)
            .map(|m| m.url.clone())
            .collect();
        let claims = peers.iter().map(|url| {
            let client = client.clone();
            let url = url.clone();
            async move {
                let v = get_json(&client, &format!("{url}/v1/mpk"), timeout, MAX_MPK_ANSWER)
                    .await
                    .ok()?;
                Some((v.get("epoch")?.as_u64()?, url))
            }
        });
        let mut claims: Vec<(u64, String)> = futures_join(claims)
            .await
            .into_iter()
            .flatten()
            .filter(|(e, _)| mine.is_none_or(|m| *e > m))
            .collect();
        if claims.is_empty() {
            return;
        }
        claims.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let limit = max_epoch_answer(members.len());
        let fetches = claims.into_iter().map(|(epoch, url)| {
            let client = client.clone();
            async move {
                let r = get_json(
                    &client,
                    &format!("{url}/v1/epochs/{epoch}"),
                    timeout * 2,
                    limit,
                )
                .await;
                (epoch, url, r)
            }
        });
        for (epoch, url, answer) in futures_join(fetches).await {
            let adopted = match answer {
                Ok(v) => self.adopt_answer(epoch, &v, members).await,
                Err(e) => Err(e),
            };
            match adopted {
                Ok(()) => {
                    tracing::info!(epoch, from = %url, "caught up");
                    self.metrics.round("caught_up");
                    self.round_finished(epoch, "caught_up", Duration::ZERO);
                    return;
                }
                Err(e) => tracing::warn!(epoch, from = %url, "not adopted: {e:#}"),
            }
        }
    }

    /// Checks a peer's `GET /v1/epochs/{e}` answer and finalizes it with `observe`.
    async fn adopt_answer(
        self: &Arc<Self>,
        epoch: u64,
        v: &serde_json::Value,
        members: &[Member],
    ) -> anyhow::Result<()> {
        let field = |name: &str| -> anyhow::Result<Vec<u8>> {
            let s = v
                .get(name)
                .and_then(|x| x.as_str())
                .with_context(|| format!("{name} missing"))?;
            Ok(hex::decode(s.trim_start_matches("0x"))?)
        };
        let config = field("config")?;
        let certificate = field("certificate")?;
        let logs = v
            .get("logs")
            .and_then(|l| l.as_array())
            .context("logs missing")?
            .iter()
            .map(|l| {
                l.as_str()
                    .context("log is not a string")
                    .and_then(|s| Ok(hex::decode(s.trim_start_matches("0x"))?))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        // The membership the epoch's round was built from: in chain mode the set at its
        // trigger block, else the operator file this node reads.
        let members_then = match &self.chain {
            Some(c) => c.members(epoch).await?,
            None => members.to_vec(),
        };
        let anchoring = match &self.chain {
            Some(c) if c.anchored_epoch().await?.is_some() => {
                kms_protocol::adopt::Anchoring::Anchored(c.anchored_digest(epoch).await?)
            }
            _ => kms_protocol::adopt::Anchoring::None,
        };
        let node = self.clone();
        tokio::task::spawn_blocking(move || {
            node.adopt(epoch, config, certificate, logs, &members_then, anchoring)
        })
        .await?
    }

    /// Takes a peer's epoch if this node can vouch for it, and finalizes it with `observe`.
    fn adopt(
        &self,
        epoch: u64,
        config: Vec<u8>,
        certificate: Vec<u8>,
        logs: Vec<Vec<u8>>,
        members: &[Member],
        anchoring: kms_protocol::adopt::Anchoring,
    ) -> anyhow::Result<()> {
        let latest = self.latest();
        let ops: Vec<kms_protocol::Operator> = members.iter().map(|m| m.operator.clone()).collect();
        let view = kms_protocol::adopt::View {
            chain_id: self.cfg.chain_id,
            registry: self.cfg.registry,
            members: &ops,
            latest: latest.as_ref().map(|e| e.latest()),
            anchoring,
        };
        let (cfg, cert) = kms_protocol::adopt::check(&view, epoch, &config, &certificate)?;
        let mut cache = CommitmentCache::default();
        let envs = logs
            .iter()
            .filter_map(|b| RawEnvelope::parse(b).ok()?.open(&mut cache).ok())
            .collect::<Vec<_>>();
        let me = self.cfg.address;
        let who = cfg.player_index(&me).map(|_| (&me, self.enc.as_ref()));
        let out = observe(&cfg, &cert, &envs, who).map_err(|e| anyhow::anyhow!("observe: {e}"))?;
        let record = EpochRecord {
            epoch,
            config,
            certificate,
            public: out.public.to_bytes(),
            logs,
        };
        self.install_epoch(record, out.share, Arc::new(cfg), out.public)
    }
}

/// Most bytes read from a peer's `GET /v1/mpk`.
const MAX_MPK_ANSWER: usize = 1 << 20;

/// Most bytes read from a peer's `GET /v1/epochs/{e}` for a membership of `n`: its logs are
/// O(n^2) bytes (a sealed share and an embedded ack per player, each hex-encoded).
pub fn max_epoch_answer(n: usize) -> usize {
    (1 << 20) + n.saturating_mul(n).saturating_mul(2048)
}

/// GETs `url` and parses JSON, reading at most `max` bytes within `timeout`.
async fn get_json(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
    max: usize,
) -> anyhow::Result<serde_json::Value> {
    let read = async {
        let mut r = client.get(url).send().await?.error_for_status()?;
        if r.content_length().is_some_and(|l| l > max as u64) {
            bail!("the answer is larger than {max} bytes");
        }
        let mut body = Vec::new();
        while let Some(chunk) = r.chunk().await? {
            if body.len() + chunk.len() > max {
                bail!("the answer is larger than {max} bytes");
            }
            body.extend_from_slice(&chunk);
        }
        Ok::<_, anyhow::Error>(serde_json::from_slice(&body)?)
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| anyhow::anyhow!("no complete answer within {} ms", timeout.as_millis()))?
}

impl Node {
    /// The owner of an app: the config's table, or in chain mode the registry's.
    pub(crate) async fn app_owner(&self, app_id: &str) -> Result<Option<Address>, ChainError> {
        match &self.chain {
            Some(c) => c.app_owner(app_id).await,
            None => Ok(self.cfg.apps.get(app_id).copied()),
        }
    }

    /// Chain mode: anchors a finalized epoch's certificate. The leader of the attempt that
    /// certified it sends at once; every other player waits its turn (three blocks apart, in
    /// player order after the leader) and sends only if the epoch is still not anchored.
    pub(crate) fn anchor_later(&self, cfg: Arc<RoundConfig>, cert: Certificate, attempt: u32) {
        let Some(chain) = self.chain.clone().filter(|c| c.can_anchor()) else {
            return;
        };
        let (Some(mine), Some(leader)) = (
            cfg.player_index(&self.cfg.address),
            cfg.player_index(&cfg.leader(attempt)),
        ) else {
            return;
        };
        let Some(anchor) = Anchor::from_certificate(&cfg, &cert) else {
            tracing::error!(
                epoch = cfg.epoch,
                "the certificate names no players of its round"
            );
            return;
        };
        let n = cfg.players.len();
        let rank = (mine + n - leader) % n;
        let wait = chain
            .block_time
            .saturating_mul(3 * u32::try_from(rank).unwrap_or(u32::MAX));
        let metrics = self.metrics.clone();
        self.rt.spawn(async move {
            tokio::time::sleep(wait).await;
            let epoch = anchor.epoch;
            if rank > 0 {
                match chain.anchored_epoch().await {
                    Ok(Some(e)) if e >= epoch => return,
                    Ok(_) => tracing::info!(epoch, "not anchored yet: anchoring as fallback"),
                    Err(e) => tracing::warn!(epoch, "cannot read the anchor: {e}"),
                }
            }
            match chain.anchor(&anchor).await {
                Ok(tx) => {
                    metrics.anchor("sent");
                    tracing::info!(epoch, %tx, "epoch anchored on chain");
                }
                // Someone else anchored it, or a later epoch, first: nothing to do.
                Err(ChainError::Refused(why)) if why.contains("EpochNotAfterLatest") => {
                    metrics.anchor("already");
                    tracing::debug!(epoch, "already anchored");
                }
                Err(e) => {
                    metrics.anchor("failed");
                    tracing::warn!(epoch, code = e.code(), "anchoring failed: {e}");
                }
            }
        });
    }
}

impl RoundHost for Node {
    fn address(&self) -> Address {
        self.cfg.address
    }

    fn keys(&self) -> (Arc<bn254::SecretKey>, Arc<EncryptionKey>) {
        (self.key.clone(), self.enc.clone())
    }

    fn seed(&self, epoch: u64, digest: &[u8; 32]) -> anyhow::Result<Secret<[u8; 32]>> {
        self.state.seed(epoch, digest)
    }

    fn journal(
        &self,
        epoch: u64,
        digest: &[u8; 32],
    ) -> anyhow::Result<kms_protocol::lifecycle::Journal> {
        self.state.round_journal(epoch, digest)
    }

    fn persist(
        &self,
        epoch: u64,
        digest: &[u8; 32],
        j: &kms_protocol::lifecycle::Journal,
    ) -> anyhow::Result<()> {
        self.state.persist_round(epoch, digest, j)
    }

    fn send(
        &self,
        to: Address,
        url: &str,
        round: [u8; 32],
        bytes: Arc<Vec<u8>>,
        deadline: Instant,
    ) {
        self.transport.send(
            &self.rt,
            to,
            url,
            crate::transport::Outgoing {
                round,
                bytes,
                deadline: tokio::time::Instant::from_std(deadline),
            },
        );
    }

    fn install(
        &self,
        record: EpochRecord,
        share: Option<Share>,
        cfg: Arc<RoundConfig>,
        public: Commitment,
    ) -> anyhow::Result<()> {
        self.install_epoch(record, share, cfg, public)
    }

    fn finished(
        &self,
        cfg: &Arc<RoundConfig>,
        outcome: &'static str,
        took: Duration,
        cert: Option<Certificate>,
    ) {
        self.metrics.round(outcome);
        if outcome == "finalized" {
            self.metrics.round_seconds.observe(took.as_secs_f64());
        }
        self.round_finished(cfg.epoch, outcome, took);
        if let Some(cert) = cert {
            let attempt = cert.attempt;
            self.anchor_later(cfg.clone(), cert, attempt);
        }
    }

    fn fault(&self, culprit: &Address, code: &'static str) {
        self.record_fault(culprit, code);
    }

    fn status(&self, s: RoundStatus) {
        self.set_round_status(Some(s));
    }
}

/// Joins futures without a combinator crate: each runs as a task.
async fn futures_join<T: Send + 'static>(
    futs: impl Iterator<Item = impl std::future::Future<Output = T> + Send + 'static>,
) -> Vec<T> {
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(v) = h.await {
            out.push(v);
        }
    }
    out
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
