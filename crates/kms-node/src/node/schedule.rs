//! When rounds run: the round of each interval (or trigger block in chain mode), built from the
//! membership and the latest epoch, and started on its own thread.

use super::*;

impl Node {
    /// The round of interval `k` from the membership and the latest epoch held, or why none.
    /// `kms_protocol::adopt::derive` builds it: the config a peer's epoch must equal to be
    /// adopted without further backing is this very one.
    pub(super) fn build_round(
        &self,
        k: u64,
        members: &[Member],
    ) -> anyhow::Result<Option<RoundConfig>> {
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
    pub(super) fn start_round(
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
    pub(super) fn interval_now(&self) -> (u64, Duration, Duration) {
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
            if self.store.has_round(k, &cfg.digest()).unwrap_or(false) {
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
    pub(super) async fn schedule_chain(self: Arc<Self>, chain: Arc<ChainSource>) {
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

    pub(super) async fn boundary(
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
}
