//! Checking one round's outcome against what its plan expects: outputs, votes, shares.

use super::*;

/// Checks every property of one round (see the module docs). `previous`: the MPK before a
/// reshare.
pub fn check_round(
    cfg: &RoundConfig,
    plan: &FaultPlan,
    res: &PlanResult,
    expect: Expect,
    app_seed: u64,
) -> Result<Outcome, String> {
    let byzantine: BTreeSet<Address> = plan
        .nodes
        .iter()
        .filter(|(_, p)| p.is_byzantine())
        .map(|(a, _)| *a)
        .collect();
    let honest = |a: &Address| !byzantine.contains(a);

    // Safety: one certified set; one public polynomial.
    let mut sets = res.certificates.values().map(|c| c.set.hash());
    if let Some(first) = sets.next() {
        if sets.any(|h| h != first) {
            return err("two different dealer sets were certified in one round");
        }
    }
    let outputs: Vec<(&Address, &crate::Output)> = res.all_outputs().collect();
    if let Some((_, first)) = outputs.first() {
        for (a, o) in &outputs {
            if o.public != first.public {
                return err(format!("{} holds another public polynomial", hex(a)));
            }
            if o.certificate.set != first.certificate.set {
                return err(format!("{} finalized another dealer set", hex(a)));
            }
            if o.share.is_none() {
                return err(format!("{} finalized without a share", hex(a)));
            }
        }
    }
    check_votes(cfg, res, &honest)?;

    // Liveness.
    let t = cfg.threshold;
    if let Some(a) = res.certified_in {
        let up = res.up_per_attempt.get(a as usize).copied().unwrap_or(0);
        if up < t {
            return err(format!(
                "a certificate formed in attempt {a} with only {up} of t = {t} players up"
            ));
        }
    }
    if !res.catch_up_errors.is_empty() {
        return err(format!("catch-up failed: {:?}", res.catch_up_errors));
    }
    if let Some(v) = res.adoption_violations.first() {
        return err(v.clone());
    }
    let finalized = !outputs.is_empty();
    match expect {
        Expect::Dead if finalized => return err("finalized although fewer than t were reachable"),
        Expect::LiveFrom { until } if res.certified_in.is_some_and(|a| a < until) => {
            return err(format!(
                "certified in attempt {:?}, before the players were back (attempt {until})",
                res.certified_in
            ))
        }
        Expect::Live | Expect::LiveFrom { .. } if !finalized => {
            return err(format!(
                "no player finalized within {} attempts (up per attempt: {:?})",
                res.result.attempts, res.up_per_attempt
            ))
        }
        _ => {}
    }
    if finalized {
        for op in &cfg.players {
            if !outputs.iter().any(|(a, _)| **a == op.address) {
                return err(format!("player {} has no output", hex(&op.address)));
            }
        }
        // Players never down must have finalized in the round itself (one that was down may
        // come back too late for anyone to hand it the certificate, and catches up).
        for op in &cfg.players {
            let was_down = plan.node(&op.address).and_then(|p| p.down).is_some();
            if honest(&op.address) && !was_down && !res.result.outputs.contains_key(&op.address) {
                return err(format!(
                    "honest player {} was never down but did not finalize in the round",
                    hex(&op.address)
                ));
            }
        }
    }

    // Restarts keep the lock and the saved state.
    for r in &res.restarts {
        if !r.save_round_trips {
            return err(format!(
                "{} resumed at {:?}: resume(save()).save() differs",
                hex(&r.node),
                r.phase
            ));
        }
        if r.lock_before != r.lock_after {
            return err(format!("{} lost its lock on restart", hex(&r.node)));
        }
        if r.cert_before && !r.cert_after {
            return err(format!("{} lost its certificate on restart", hex(&r.node)));
        }
    }

    // Culprits: every fault an honest node sees names a Byzantine sender.
    for (to, rej) in &res.result.rejects {
        if !honest(to) {
            continue;
        }
        if let Reject::Fault { culprit, reason } = rej {
            if honest(culprit) {
                return err(format!(
                    "{} blamed honest {} for {reason}",
                    hex(to),
                    hex(culprit),
                ));
            }
        }
    }
    for (d, p) in &plan.nodes {
        if !matches!(
            p.dealer,
            Some(DealerFault::IdentityPoint { .. } | DealerFault::OffSubgroup { .. })
        ) || p.down.is_some_and(|dn| dn.covers(Phase::Deal))
        {
            continue;
        }
        for op in &cfg.players {
            let up = plan
                .node(&op.address)
                .and_then(|q| q.down)
                .is_none_or(|dn| !dn.covers(Phase::Deal));
            if !honest(&op.address) || !up || op.address == *d {
                continue;
            }
            let named = res.result.rejects.iter().any(|(to, r)| {
                *to == op.address
                    && matches!(
                        r,
                        Reject::Fault {
                            culprit,
                            reason: crate::FaultReason::Malformed(crate::DecodeError::Crypto(
                                kms_crypto::Error::IdentityPoint | kms_crypto::Error::NotInSubgroup
                            )),
                        } if culprit == d
                    )
            });
            if !named {
                return err(format!(
                    "{} did not reject {}'s bad commitment point by name",
                    hex(&op.address),
                    hex(d)
                ));
            }
        }
    }

    // Attackers that send out-of-bounds attempts or floods (as players: a dealer that left
    // the player set is refused unheard) are named by some honest node.
    for (a, p) in &plan.nodes {
        let loud = p.does(Byz::AttemptJumps) || p.byz.iter().any(|b| matches!(b, Byz::Flood(_)));
        if !loud || p.down.is_some() || cfg.player_index(a).is_none() {
            continue;
        }
        let named = res
            .result
            .rejects
            .iter()
            .any(|(to, r)| honest(to) && r.culprit() == Some(*a));
        if !named {
            return err(format!("attacker {} was never named", hex(a)));
        }
    }

    let Some((_, first)) = outputs.first() else {
        return Ok(Outcome::Stalled);
    };

    // Secrecy: of every honest dealing in the key, the attackers hold their own shares and the
    // public reveals, and that is fewer than t evaluations.
    let byz_players = cfg.players.iter().filter(|o| !honest(&o.address)).count();
    for (d, v) in &first.verdicts {
        if let DealerOutcome::Included { reveals } = v {
            if !honest(d) {
                continue;
            }
            let revealed = reveals.iter().filter(|(p, _)| honest(p)).count();
            if byz_players + revealed >= t {
                return err(format!(
                    "{} evaluations of honest dealer {}'s polynomial are known to the attackers \
                     ({byz_players} attackers' shares, {revealed} reveals) for t = {t}",
                    byz_players + revealed,
                    hex(d)
                ));
            }
        }
    }

    // A reshare keeps the MPK.
    if let Some(prev) = &cfg.previous {
        if first.mpk() != prev.public_key() {
            return err("the reshare changed the MPK");
        }
    }

    // Verdicts.
    let faulty_dealers = plan.faulty_dealers();
    for (a, o) in &outputs {
        if o.verdicts != first.verdicts {
            return err(format!("{} reached other verdicts", hex(a)));
        }
    }
    for (d, v) in &first.verdicts {
        if faulty_dealers.contains(d) {
            if matches!(v, DealerOutcome::Included { reveals } if reveals.is_empty()) {
                return err(format!(
                    "faulty dealer {} ({:?}) got a clean verdict",
                    hex(d),
                    plan.node(d)
                ));
            }
        } else {
            let blamed = match v {
                DealerOutcome::Equivocated | DealerOutcome::InvalidLog(_) => true,
                DealerOutcome::Included { reveals } => {
                    reveals.iter().any(|(_, k)| *k == RevealKind::BadShare)
                }
                DealerOutcome::NotIncluded => false,
            };
            if blamed {
                return err(format!("honest dealer {} blamed: {v:?}", hex(d)));
            }
        }
    }

    check_shares(cfg, &outputs, &honest, app_seed)?;
    Ok(Outcome::Finalized {
        attempts: res.result.attempts,
    })
}

/// Honest players prevote and precommit at most one set per attempt, and every lock an honest
/// player holds is a prepare certificate that verifies.
pub(super) fn check_votes(
    cfg: &RoundConfig,
    res: &PlanResult,
    honest: &dyn Fn(&Address) -> bool,
) -> Result<(), String> {
    let mut seen: BTreeSet<[u8; 32]> = BTreeSet::new();
    let mut voted: BTreeMap<(Address, crate::Kind, u32), BTreeSet<[u8; 32]>> = BTreeMap::new();
    let mut cache = CommitmentCache::default();
    for (_, _, _, bytes) in &res.result.transcript {
        let Ok(raw) = RawEnvelope::parse(bytes) else {
            continue;
        };
        // Replays of other rounds' messages are refused by every node; skip them.
        if raw.round != cfg.digest()
            || !matches!(raw.kind, crate::Kind::Prevote | crate::Kind::Precommit)
            || !honest(&raw.sender)
            || !seen.insert(keccak(bytes))
        {
            continue;
        }
        let (sender, kind) = (raw.sender, raw.kind);
        let Ok(env) = raw.open(&mut cache) else {
            continue;
        };
        if let Body::Prevote {
            attempt, set_hash, ..
        }
        | Body::Precommit {
            attempt, set_hash, ..
        } = env.body
        {
            voted
                .entry((sender, kind, attempt))
                .or_default()
                .insert(set_hash);
        }
    }
    for ((a, kind, attempt), sets) in &voted {
        if sets.len() > 1 {
            return Err(format!(
                "honest {} sent {kind:?}s for {} different sets in attempt {attempt}",
                hex(a),
                sets.len()
            ));
        }
    }
    for (a, l) in &res.locks {
        if honest(a) && crate::verify_quorum(cfg, l).is_err() {
            return Err(format!("{} holds a lock that does not verify", hex(a)));
        }
    }
    Ok(())
}

/// t honest shares recover a verified key (the same from two subsets); t - 1 do not.
pub(super) fn check_shares(
    cfg: &RoundConfig,
    outputs: &[(&Address, &crate::Output)],
    honest: &dyn Fn(&Address) -> bool,
    app_seed: u64,
) -> Result<(), String> {
    let t = cfg.threshold;
    let mut rng = rng_for(app_seed, "shares");
    let app = format!("app-{app_seed}").into_bytes();
    let Some((_, first)) = outputs.first() else {
        return Ok(());
    };
    let mut partials: Vec<_> = outputs
        .iter()
        .filter(|(a, _)| honest(a))
        .filter_map(|(_, o)| o.share.as_ref())
        .map(|s| partial_sign(s, &app))
        .collect();
    if partials.len() < t {
        return Err(format!("only {} honest shares for t = {t}", partials.len()));
    }
    shuffle(&mut partials, &mut rng);
    let key_of = |ps: &[kms_crypto::bls::PartialSignature]| -> Result<[u8; 48], String> {
        let (key, bad) = recover_verified(&first.public, &app, ps)
            .map_err(|e| format!("t honest shares do not recover: {e}"))?;
        if !bad.is_empty() {
            return Err(format!("honest partials rejected: {bad:?}"));
        }
        Ok(key.to_bytes().expose(|b| *b))
    };
    let k1 = key_of(partials.get(..t).unwrap_or(&[]))?;
    shuffle(&mut partials, &mut rng);
    let k2 = key_of(partials.get(..t).unwrap_or(&[]))?;
    if k1 != k2 {
        return Err("two t-subsets recover different keys".into());
    }
    let few = partials.get(..t - 1).unwrap_or(&[]);
    if recover_verified(&first.public, &app, few).is_ok() {
        return Err("t - 1 shares recovered a key".into());
    }
    if let Ok(k) = recover(t - 1, few) {
        if AppKey::from_bytes(&k.to_bytes(), &app, &first.mpk()).is_ok() {
            return Err("t - 1 shares interpolate to the app key".into());
        }
    }
    Ok(())
}
