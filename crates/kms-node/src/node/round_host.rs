//! What the round thread (`crate::driver`) asks of its node: keys, the store, sends, and
//! where outcomes go.

use super::*;

impl RoundHost for Node {
    fn address(&self) -> Address {
        self.cfg.address
    }

    fn keys(&self) -> (Arc<bn254::SecretKey>, Arc<EncryptionKey>) {
        (self.key.clone(), self.enc.clone())
    }

    fn seed(&self, epoch: u64, digest: &[u8; 32]) -> anyhow::Result<Secret<[u8; 32]>> {
        self.store.seed(epoch, digest)
    }

    fn journal(
        &self,
        epoch: u64,
        digest: &[u8; 32],
    ) -> anyhow::Result<kms_protocol::lifecycle::Journal> {
        self.store.round_journal(epoch, digest)
    }

    fn persist(
        &self,
        epoch: u64,
        digest: &[u8; 32],
        j: &kms_protocol::lifecycle::Journal,
    ) -> anyhow::Result<()> {
        self.store.persist_round(epoch, digest, j)
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
        record: StoredEpoch,
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
