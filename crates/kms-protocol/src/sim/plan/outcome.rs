//! Running a round under a plan, and what came of it.

use super::*;

/// What [`run`] produced.
pub struct PlanResult {
    /// The round itself: outputs, transcript, rejections and attempts used.
    pub result: RoundResult,
    /// Players that did not finalize in the round, finalized afterwards from a peer's certificate
    /// and logs with `observe()` (the catch-up path).
    pub caught_up: BTreeMap<Address, Output>,
    /// Catch-up failures (a player with no output while some peer finalized).
    pub catch_up_errors: Vec<(Address, ObserveError)>,
    /// The first attempt in which a certificate formed.
    pub certified_in: Option<u32>,
    /// Players up at the nominal start of each attempt.
    pub up_per_attempt: Vec<usize>,
    /// Every certificate any player (faulty ones included) holds at the end.
    pub certificates: BTreeMap<Address, crate::Certificate>,
    /// Locks held at the end, by player.
    pub locks: BTreeMap<Address, PrepareQc>,
    /// Every node that crashed and came back from its disk, with what it held before and after.
    pub restarts: Vec<Restart>,
    /// Writes that failed (each was retried).
    pub failed_writes: usize,
    /// Honest nodes that adopted (or would adopt) a forged epoch at catch-up.
    pub adoption_violations: Vec<String>,
}

impl PlanResult {
    /// Outputs from the round and from catch-up.
    pub fn all_outputs(&self) -> impl Iterator<Item = (&Address, &Output)> {
        self.result.outputs.iter().chain(self.caught_up.iter())
    }
}

/// Runs one round of `cfg` among `nodes` under `net`'s plan, every node on its real lifecycle.
/// After the round, a player that holds the certificate but lacks logs gets a peer's, and every
/// player without an output catches up from a peer's certificate and logs with `observe()`.
pub fn run(cfg: &Arc<RoundConfig>, nodes: &[SimNode], net: &mut PlanNetwork) -> PlanResult {
    let schedule = Schedule {
        interval: SIM_INTERVAL,
        early: net.early(),
    };
    let (exec_nodes, res) = {
        let mut exec = Exec::new(cfg.clone(), schedule, net, exec_nodes(cfg, nodes));
        exec.run();
        exec.fetch_missing_logs();
        (
            std::mem::take(&mut exec.nodes),
            std::mem::take(&mut exec.res),
        )
    };
    finish(cfg, nodes, net.plan(), exec_nodes, res)
}

pub(super) fn finish(
    cfg: &Arc<RoundConfig>,
    sim_nodes: &[SimNode],
    plan: &FaultPlan,
    nodes: BTreeMap<Address, crate::sim::exec::ExecNode>,
    res: ExecResult,
) -> PlanResult {
    let mut certificates = BTreeMap::new();
    let mut locks = BTreeMap::new();
    let mut attempts = 0;
    for (a, n) in &nodes {
        let Some(p) = n.driver().and_then(|d| d.player()) else {
            continue;
        };
        attempts = attempts.max(p.attempt() + 1);
        if let Some(c) = p.certificate() {
            certificates.insert(*a, c.clone());
        }
        if let Some(l) = p.lock() {
            locks.insert(*a, l.clone());
        }
    }
    let certified_in = certificates.values().map(|c| c.attempt).min();
    let mut out = PlanResult {
        result: RoundResult {
            outputs: res.outputs,
            transcript: res.transcript,
            rejects: res.rejects,
            attempts,
        },
        caught_up: BTreeMap::new(),
        catch_up_errors: Vec::new(),
        certified_in,
        up_per_attempt: res.up_per_attempt,
        certificates,
        locks,
        restarts: res.restarts,
        failed_writes: res.failed_writes,
        adoption_violations: Vec::new(),
    };
    // Catch-up as a node does it: the offers of every peer, newest epoch first, each through
    // the adoption rule, then observe. An honest finalized peer offers the round's epoch; every
    // attacker that forges offers each forgery, for this epoch and for a far later one.
    let source = out.result.outputs.iter().find_map(|(a, o)| {
        let p = nodes.get(a)?.driver()?.player()?;
        Some((o.certificate.clone(), p.logs().cloned().collect::<Vec<_>>()))
    });
    let mut offers: Vec<(bool, EpochClaim)> = Vec::new();
    if let Some((cert, logs)) = &source {
        offers.push((true, forge::honest_claim(cfg, cert, logs)));
    }
    let previous = match (&cfg.kind, &cfg.previous) {
        (crate::RoundKind::Reshare { from_epoch }, Some(p)) => Some((*from_epoch, p)),
        _ => None,
    };
    let target = Target {
        chain_id: cfg.chain_id,
        registry: cfg.registry,
        latest: previous,
    };
    for attacker in sim_nodes.iter().filter(|n| {
        plan.node(&n.address())
            .is_some_and(|p| p.does(Byz::ForgedEpochs))
    }) {
        for kind in Forgery::ALL {
            for epoch in [cfg.epoch, cfg.epoch + 1000] {
                if let Some(c) = forge::forge(kind, attacker, &target, epoch, plan.seed) {
                    offers.push((false, c));
                }
            }
        }
    }
    // Newest first; among equals the forgeries first, so they are tried before the truth.
    offers.sort_by(|a, b| b.1.epoch.cmp(&a.1.epoch).then(a.0.cmp(&b.0)));
    // Each decoded once, checked against every node's view.
    let decoded: Vec<Option<(RoundConfig, crate::Certificate)>> = offers
        .iter()
        .map(|(_, c)| {
            Some((
                RoundConfig::decode(&c.config).ok()?,
                crate::Certificate::decode(&c.certificate, crate::Commit).ok()?,
            ))
        })
        .collect();
    let latest_before = previous.map(|(epoch, public)| Latest {
        epoch,
        players: &cfg.dealers,
        public,
    });
    let view = |latest| View {
        chain_id: cfg.chain_id,
        registry: cfg.registry,
        members: &cfg.players,
        latest,
        anchoring: Anchoring::None,
    };
    let honest = |a: &Address| !plan.node(a).is_some_and(NodePlan::is_byzantine);
    for op in &cfg.players {
        let a = op.address;
        let Some(n) = nodes.get(&a) else {
            continue;
        };
        if let Some(o) = out.result.outputs.get(&a) {
            // A node that holds the epoch takes no forgery of a later one.
            let held = view(Some(Latest {
                epoch: cfg.epoch,
                players: &cfg.players,
                public: &o.public,
            }));
            for ((is_honest, c), d) in offers.iter().zip(&decoded) {
                let taken = d.as_ref().is_some_and(|(dc, dcert)| {
                    adopt::check_decoded(&held, c.epoch, dc, dcert).is_ok()
                });
                if !is_honest && honest(&a) && taken {
                    out.adoption_violations.push(format!(
                        "{} (finalized) would adopt a forged epoch {}",
                        crate::hex_address(&a),
                        c.epoch
                    ));
                }
            }
            continue;
        }
        let mut caught = None;
        let mut last_err = None;
        for ((is_honest, c), d) in offers.iter().zip(&decoded) {
            let Some((ccfg, cert)) = d else {
                continue;
            };
            if adopt::check_decoded(&view(latest_before), c.epoch, ccfg, cert).is_err() {
                continue;
            }
            match observe(ccfg, cert, &forge::claim_logs(c), Some((&a, &n.enc))) {
                Ok(o) => {
                    if !is_honest && honest(&a) {
                        out.adoption_violations.push(format!(
                            "{} adopted a forged epoch {}",
                            crate::hex_address(&a),
                            c.epoch
                        ));
                    }
                    caught = Some(o);
                    break;
                }
                Err(e) => last_err = Some(e),
            }
        }
        match (caught, last_err) {
            (Some(o), _) => {
                out.caught_up.insert(a, o);
            }
            (None, Some(e)) => out.catch_up_errors.push((a, e)),
            (None, None) => {
                if source.is_some() {
                    out.catch_up_errors
                        .push((a, ObserveError::BadCertificate("no offer was adoptable")));
                }
            }
        }
    }
    out
}
