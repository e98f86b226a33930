//! Chain mode: anchoring finalized epochs, the leader first, the others in turn.

use super::*;

impl Node {
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
