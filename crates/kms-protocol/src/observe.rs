//! Finalization from public data: certificate + dealer logs -> public polynomial, verdicts, and
//! (with the player's key) its share. A node that missed the round needs nothing else.

use crate::check::{
    check_logs, evidence_holds, share_aad, CheckCache, LogFault, LogInfo, RevealKind,
};
use crate::message::{Body, Certificate, DealerSet, Envelope, Evidence};
use crate::round::{Operator, RoundConfig, RoundKind};
use crate::{Address, ObserveError};
use kms_crypto::bls::{
    combine_commitments, combine_shares, lagrange_at_zero, public_share, Commitment, EvalPoint,
    G2Point, SecretScalar, Share,
};
use kms_crypto::seal::EncryptionKey;
use kms_crypto::Secret;
use std::collections::BTreeMap;

/// What every honest node concludes about a dealer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DealerOutcome {
    /// Its dealing is in the certificate.
    Included {
        /// Players whose share the log published, with the reason proven from the log.
        reveals: Vec<(Address, RevealKind)>,
    },
    /// Proven to have sent two different deals or logs.
    Equivocated,
    /// Its log was published and fails the public checks.
    InvalidLog(LogFault),
    /// No usable log made it into the certificate (offline, too slow, or its deals were refused).
    NotIncluded,
}

/// A finalized round.
#[derive(Debug)]
pub struct Output {
    /// The epoch the round created.
    pub epoch: u64,
    /// The round's digest ([`RoundConfig::digest`]).
    pub round: [u8; 32],
    /// The new public polynomial; its constant term is the MPK.
    pub public: Commitment,
    /// Shares needed to sign or recover the key: the public polynomial's degree plus one.
    pub threshold: usize,
    /// The epoch's shareholders, sorted by address.
    pub players: Vec<Operator>,
    /// This player's share, when observed with its key.
    pub share: Option<Share>,
    /// One per dealer of the round, in dealer order.
    pub verdicts: Vec<(Address, DealerOutcome)>,
    /// The agreement certificate the round was finalized from; peers check it to catch up.
    pub certificate: Certificate,
}

impl Output {
    /// The master public key.
    pub fn mpk(&self) -> G2Point {
        self.public.public_key()
    }

    /// A player's evaluation point.
    pub fn point(&self, player: &Address) -> Option<EvalPoint> {
        self.players
            .iter()
            .find(|o| &o.address == player)
            .map(|o| o.point)
    }

    /// A player's public share (Horner's rule over the public polynomial).
    pub fn public_share(&self, player: &Address) -> Option<G2Point> {
        public_share(&self.public, &self.point(player)?).ok()
    }
}

/// Checks a certificate against the round: signers distinct players of one attempt, at least t,
/// the aggregate BN254 signature valid under their summed G2 keys, and a well-formed set.
pub fn verify_certificate(cfg: &RoundConfig, cert: &Certificate) -> Result<(), ObserveError> {
    if cert.round != cfg.digest() {
        return Err(ObserveError::WrongRound);
    }
    crate::quorum::verify_quorum(cfg, cert).map_err(ObserveError::BadCertificate)
}

/// Index ranges, disjointness and the minimum number of dealings.
pub(crate) fn check_set_shape(cfg: &RoundConfig, set: &DealerSet) -> Result<(), &'static str> {
    if set.included.len() < cfg.min_dealings() {
        return Err("too few dealings");
    }
    let n = cfg.dealers.len();
    if set.included.iter().any(|(d, _)| usize::from(*d) >= n)
        || set.excluded.iter().any(|(d, _)| usize::from(*d) >= n)
    {
        return Err("dealer out of range");
    }
    if set
        .excluded
        .iter()
        .any(|(d, _)| set.included.iter().any(|(i, _)| i == d))
    {
        return Err("dealer both included and excluded");
    }
    for (d, e) in &set.excluded {
        if cfg.dealers.get(usize::from(*d)).map(|o| o.address) != Some(e.dealer()) {
            return Err("evidence names another dealer");
        }
    }
    Ok(())
}

/// Finalizes a round from its certificate and logs (any order, extras ignored). With `me`, also
/// recovers that player's share from its sealed shares or reveals.
pub fn observe(
    cfg: &RoundConfig,
    cert: &Certificate,
    logs: &[Envelope],
    me: Option<(&Address, &EncryptionKey)>,
) -> Result<Output, ObserveError> {
    let me = me.map(|(a, k)| (a, k, &NO_SHARES));
    observe_with(cfg, cert, logs, me, &mut CheckCache::default(), None)
}

static NO_SHARES: BTreeMap<usize, Secret<SecretScalar>> = BTreeMap::new();

/// A player's address and key, and the shares (by dealer) it already checked against their
/// commitments.
pub(crate) type Me<'a> = (
    &'a Address,
    &'a EncryptionKey,
    &'a BTreeMap<usize, Secret<SecretScalar>>,
);

pub(crate) fn observe_with(
    cfg: &RoundConfig,
    cert: &Certificate,
    logs: &[Envelope],
    me: Option<Me<'_>>,
    checks: &mut CheckCache,
    checked: Option<&crate::check::LogChecks>,
) -> Result<Output, ObserveError> {
    // A player that already holds the certificate verified it on receipt.
    if checked.is_none() {
        verify_certificate(cfg, cert)?;
    }
    // Hash each log body once (a log is O(n^2) bytes).
    let hashed: Vec<(Address, [u8; 32], &Envelope)> = logs
        .iter()
        .filter(|l| {
            cert.set.included.iter().any(|(d, _)| {
                cfg.dealers.get(usize::from(*d)).map(|o| o.address) == Some(l.raw.sender)
            })
        })
        .map(|l| (l.raw.sender, l.body_hash(), l))
        .collect();
    let mut used: Vec<(usize, &Envelope)> = Vec::new();
    let mut missing = Vec::new();
    for (d, h) in &cert.set.included {
        let dealer = cfg
            .dealers
            .get(usize::from(*d))
            .ok_or(ObserveError::BadCertificate("dealer out of range"))?;
        match hashed
            .iter()
            .find(|(s, bh, _)| *s == dealer.address && bh == h)
        {
            Some((_, _, l)) => used.push((usize::from(*d), *l)),
            None => missing.push(dealer.address),
        }
    }
    if !missing.is_empty() {
        return Err(ObserveError::MissingLogs(missing));
    }
    // Logs this node checked already (the player's own cache, keyed by dealer) are not
    // checked again.
    let cached: Option<Vec<Result<LogInfo, LogFault>>> = checked.and_then(|c| {
        used.iter()
            .map(|(d, l)| c.get(&(*d, l.body_hash())).cloned())
            .collect()
    });
    let infos = match cached {
        Some(v) => v,
        None => {
            let envs: Vec<&Envelope> = used.iter().map(|(_, l)| *l).collect();
            check_logs(cfg, &envs, checks)
        }
    }
    .into_iter()
    .collect::<Result<Vec<_>, _>>()
    .map_err(ObserveError::InvalidLog)?;
    for (_, e) in &cert.set.excluded {
        if !evidence_holds(cfg, e, checks) {
            return Err(ObserveError::BadCertificate("evidence does not hold"));
        }
    }

    // DKG: every included dealing, summed. Reshare: the first t_old, Lagrange-weighted.
    let take = match cfg.kind {
        RoundKind::Dkg => used.len(),
        RoundKind::Reshare { .. } => cfg.previous_threshold(),
    };
    let chosen: Vec<(usize, &Envelope)> = used.iter().take(take).copied().collect();
    let logs_of: Vec<&crate::message::DealerLog> = chosen
        .iter()
        .filter_map(|(_, l)| match &l.body {
            Body::Log(log) => Some(log),
            _ => None,
        })
        .collect();
    let weights = match cfg.kind {
        RoundKind::Dkg => None,
        RoundKind::Reshare { .. } => {
            let points: Vec<EvalPoint> = chosen
                .iter()
                .filter_map(|(d, _)| cfg.dealer_point(*d))
                .collect();
            Some(lagrange_at_zero(&points)?)
        }
    };
    let commitments: Vec<&Commitment> = logs_of.iter().map(|l| &l.commitment).collect();
    let public = combine_commitments(&commitments, weights.as_deref())?;
    if let Some(prev) = &cfg.previous {
        if public.public_key() != prev.public_key() {
            return Err(ObserveError::MasterKeyChanged);
        }
    }
    // t signers vouched for this MPK, at least one of them honest, so a mismatch means a bug or
    // more faults than the threshold allows: nothing is finalized.
    if public.public_key() != cert.mpk {
        return Err(ObserveError::BadCertificate(
            "certified MPK is not the dealings' MPK",
        ));
    }

    let share = match me {
        None => None,
        Some((addr, key, known)) => Some(recover_share(
            cfg,
            addr,
            key,
            known,
            &chosen,
            weights.as_deref(),
            &public,
        )?),
    };

    let mut verdicts = Vec::with_capacity(cfg.dealers.len());
    for (d, op) in cfg.dealers.iter().enumerate() {
        let included = used.iter().position(|(u, _)| *u == d);
        let excluded = cert
            .set
            .excluded
            .iter()
            .find(|(x, _)| usize::from(*x) == d)
            .map(|(_, e)| e);
        let verdict = match (included, excluded) {
            (Some(pos), _) => DealerOutcome::Included {
                reveals: infos
                    .get(pos)
                    .map(|i| {
                        i.reveals
                            .iter()
                            .filter_map(|(p, k)| {
                                cfg.players.get(usize::from(*p)).map(|o| (o.address, *k))
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            (None, Some(Evidence::Equivocation(..))) => DealerOutcome::Equivocated,
            (None, Some(Evidence::InvalidLog(l))) => {
                match check_logs(cfg, &[l.as_ref()], checks).pop() {
                    Some(Err(f)) => DealerOutcome::InvalidLog(f),
                    _ => DealerOutcome::NotIncluded,
                }
            }
            (None, None) => DealerOutcome::NotIncluded,
        };
        verdicts.push((op.address, verdict));
    }

    Ok(Output {
        epoch: cfg.epoch,
        round: cfg.digest(),
        public,
        threshold: cfg.threshold,
        players: cfg.players.clone(),
        share,
        verdicts,
        certificate: cert.clone(),
    })
}

fn recover_share(
    cfg: &RoundConfig,
    me: &Address,
    key: &EncryptionKey,
    known: &BTreeMap<usize, Secret<SecretScalar>>,
    chosen: &[(usize, &Envelope)],
    weights: Option<&[blstrs::Scalar]>,
    public: &Commitment,
) -> Result<Share, ObserveError> {
    let p = cfg
        .player_index(me)
        .ok_or(ObserveError::Share("not a player of this round"))?;
    let point = cfg
        .player_point(p)
        .ok_or(ObserveError::Share("not a player"))?;
    let mut values: Vec<Secret<SecretScalar>> = Vec::with_capacity(chosen.len());
    // Reveals were checked with the log and known shares with the deal; only a share opened
    // here is unchecked, and then the sum is checked against the public polynomial.
    let mut all_checked = true;
    for (d, env) in chosen {
        let (Body::Log(log), Some(dealer)) = (&env.body, cfg.dealers.get(*d)) else {
            return Err(ObserveError::Share("not a log"));
        };
        let revealed = log
            .reveals
            .iter()
            .find(|r| usize::from(r.player) == p)
            .map(|r| SecretScalar::from_bytes(&r.share));
        let value = match (revealed, known.get(d)) {
            (Some(v), _) => v?,
            (None, Some(v)) => v.expose(|s| *s),
            (None, None) => {
                all_checked = false;
                let sealed = log
                    .shares
                    .get(p)
                    .ok_or(ObserveError::Share("no sealed share"))?;
                let plain = key
                    .open(sealed, &share_aad(&cfg.digest(), &dealer.address, me))
                    .map_err(|_| ObserveError::Share("sealed share does not open"))?;
                plain.expose(|b| SecretScalar::from_bytes(b))?
            }
        };
        values.push(Secret::new(value));
    }
    let refs: Vec<&Secret<SecretScalar>> = values.iter().collect();
    let share = Share {
        point,
        value: combine_shares(&refs, weights)?,
    };
    if !all_checked {
        public
            .verify_share(&share)
            .map_err(|_| ObserveError::Share("share does not match the public polynomial"))?;
    }
    Ok(share)
}
