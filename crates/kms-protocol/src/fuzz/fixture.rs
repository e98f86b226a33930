//! The fixed cluster every fuzz input starts from: four nodes and one DKG, built once.

use super::*;

/// The fixed cluster: four nodes (in player order, which is also dealer order) and one DKG.
pub(super) struct Cluster {
    pub(super) cfg: Arc<RoundConfig>,
    pub(super) nodes: Vec<SimNode>,
    /// The digest of the same round at another epoch, for cross-round replays.
    pub(super) other_round: [u8; 32],
}

impl Cluster {
    pub(super) fn node(&self, i: usize) -> Option<&SimNode> {
        self.nodes.get(i)
    }
    pub(super) fn node_by_address(&self, a: &Address) -> Option<&SimNode> {
        self.nodes.iter().find(|n| n.address() == *a)
    }
    pub(super) fn player(&self, i: usize, saved: Option<&[u8]>) -> Result<Player, String> {
        let n = self.node(i).ok_or("no such node")?;
        match saved {
            None => Player::new(self.cfg.clone(), n.address(), n.key.clone(), n.enc.clone())
                .map_err(|e| e.to_string()),
            Some(s) => Player::resume(
                self.cfg.clone(),
                n.address(),
                n.key.clone(),
                n.enc.clone(),
                s,
            )
            .map_err(|e| format!("resume of a real save failed: {e}")),
        }
    }
}

/// Everything precomputed once: the cluster and one honest run of its round.
pub(super) struct Fixture {
    pub(super) cluster: Cluster,
    /// Every message of the honest run, encoded, in the order they were sent.
    pub(super) honest: Vec<Vec<u8>>,
    /// The same without votes and certificates, for players that start without the run's locks.
    pub(super) voteless: Vec<Vec<u8>>,
    /// Each player's save after the log phase, and after the run (locked and certified).
    pub(super) after_logs: Vec<Vec<u8>>,
    pub(super) at_end: Vec<Vec<u8>>,
    /// The run's certificate, its set's hash and the finalized public polynomial.
    pub(super) certificate: Certificate,
    pub(super) public: Commitment,
    /// The round config, and a reshare config built on the run's output, encoded.
    pub(super) configs: Vec<Vec<u8>>,
}

pub(super) fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Result<Fixture, String>> = OnceLock::new();
    match FIXTURE.get_or_init(build_fixture) {
        Ok(f) => f,
        Err(e) => broken(&format!("fixture: {e}")),
    }
}

pub(super) fn build_fixture() -> Result<Fixture, String> {
    let mut rng = rng_for(SEED, "fuzz-nodes");
    let mut nodes: Vec<SimNode> = (1..=N as u64)
        .map(|id| SimNode::generate(&mut rng, id))
        .collect();
    nodes.sort_by_key(|n| n.address());
    let ops: Vec<_> = nodes.iter().map(|n| n.operator.clone()).collect();
    let cfg = RoundConfig::dkg(1, CHAIN, REGISTRY, ops.clone()).map_err(|e| e.to_string())?;
    let other_round = RoundConfig::dkg(2, CHAIN, REGISTRY, ops.clone())
        .map_err(|e| e.to_string())?
        .digest();
    let cluster = Cluster {
        cfg: Arc::new(cfg),
        nodes,
        other_round,
    };

    // The honest run, with the same operations the fuzzer uses.
    let (after_logs, at_end, honest, certificate, public) = {
        let mut sim = Sim::new(&cluster, &[], None, usize::MAX)?;
        let all = |sim: &mut Sim<'_>, sub: u8| {
            for i in 0..N {
                sim.one(sub, i, 0);
            }
            sim.flush();
            sim.check();
        };
        all(&mut sim, ALL_DEAL);
        all(&mut sim, ALL_END_DEALS);
        all(&mut sim, ALL_DEALER_LOG);
        let after_logs: Vec<Vec<u8>> = sim.players.iter().map(Player::save).collect();
        all(&mut sim, ALL_START_ATTEMPT);
        all(&mut sim, ALL_PROPOSE);
        let at_end: Vec<Vec<u8>> = sim.players.iter().map(Player::save).collect();
        let mut public = None;
        for p in sim.players.iter_mut() {
            let out = p.finalize().map_err(|e| format!("honest finalize: {e}"))?;
            if public.as_ref().is_some_and(|c| *c != out.public) {
                return Err("honest players finalized different polynomials".into());
            }
            public = Some(out.public);
        }
        let certificate = sim
            .players
            .first()
            .and_then(|p| p.certificate().cloned())
            .ok_or("no certificate")?;
        let public = public.ok_or("no output")?;
        (after_logs, at_end, sim.produced, certificate, public)
    };
    let voteless = honest
        .iter()
        .filter(|b| {
            RawEnvelope::parse(b).is_ok_and(|r| {
                !matches!(
                    r.kind,
                    Kind::Prevote | Kind::Prepared | Kind::Precommit | Kind::Certificate
                )
            })
        })
        .cloned()
        .collect();
    let reshare = RoundConfig::reshare(
        1,
        2,
        CHAIN,
        REGISTRY,
        ops.clone(),
        ops.get(..3).unwrap_or(&ops).to_vec(),
        public.clone(),
    )
    .map_err(|e| e.to_string())?;
    let configs = vec![cluster.cfg.encode(), reshare.encode()];
    Ok(Fixture {
        cluster,
        honest,
        voteless,
        after_logs,
        at_end,
        certificate,
        public,
        configs,
    })
}
