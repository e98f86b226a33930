//! Catching up: asking the peers for a newer epoch and adopting one this node can vouch for
//! (`kms_protocol::adopt`), every answer bounded in size and time.

use super::*;

impl Node {
    /// Asks every peer for its latest epoch, then takes the newest one this node can vouch for
    /// (`kms_protocol::adopt`: derived here, backed by more than f members, and in chain mode
    /// the anchored one). Every answer is bounded in size and time, and the peers' records are
    /// fetched at once, so a slow or lying peer delays catch-up by one timeout at most.
    pub(super) async fn catch_up(self: &Arc<Self>, members: &[Member]) {
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
                let claim: EpochClaim = get_json(
                    &client,
                    &format!("{url}{MPK_PATH}"),
                    timeout,
                    MAX_MPK_ANSWER,
                )
                .await
                .ok()?;
                Some((claim.epoch, url))
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
                    &format!("{url}{}", epoch_path(epoch)),
                    timeout * 2,
                    limit,
                )
                .await;
                (epoch, url, r)
            }
        });
        for (epoch, url, answer) in futures_join(fetches).await {
            let answer: anyhow::Result<EpochAnswer> = answer;
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
    pub(super) async fn adopt_answer(
        self: &Arc<Self>,
        epoch: u64,
        v: &EpochAnswer,
        members: &[Member],
    ) -> anyhow::Result<()> {
        let unhex = |s: &str| hex::decode(s.trim_start_matches("0x"));
        let config = unhex(&v.config).context("config")?;
        let certificate = unhex(&v.certificate).context("certificate")?;
        let logs = v
            .logs
            .iter()
            .map(|l| unhex(l).context("log"))
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
    pub(super) fn adopt(
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
        let record = StoredEpoch {
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
pub(super) const MAX_MPK_ANSWER: usize = 1 << 20;

/// Most bytes read from a peer's `GET /v1/epochs/{e}` for a membership of `n`: its logs are
/// O(n^2) bytes (a sealed share and an embedded ack per player, each hex-encoded).
pub fn max_epoch_answer(n: usize) -> usize {
    (1 << 20) + n.saturating_mul(n).saturating_mul(2048)
}

/// GETs `url` and parses its JSON as `T`, reading at most `max` bytes within `timeout`.
pub(super) async fn get_json<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
    max: usize,
) -> anyhow::Result<T> {
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

/// Joins futures without a combinator crate: each runs as a task.
pub(super) async fn futures_join<T: Send + 'static>(
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
