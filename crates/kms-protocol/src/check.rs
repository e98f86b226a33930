//! Public checks that anyone can run from signed messages alone: envelope signatures,
//! dealer logs (batched across logs) and evidence.

use crate::message::{keccak, AckEntry, Body, DealerLog, Envelope, Evidence, Kind, RawEnvelope};
use crate::round::RoundConfig;
use crate::Address;
use kms_crypto::bls::{
    verify_public_shares_batch, verify_shares_batch, EvalPoint, G2Point, SecretScalar, Share,
};
use kms_crypto::seal::open_with_ephemeral;
use kms_crypto::{bn254, Secret};
use std::collections::{BTreeMap, BTreeSet};

/// Which list of the round a sender of this kind must be in.
pub(crate) fn sender_key<'a>(
    cfg: &'a RoundConfig,
    raw: &RawEnvelope,
) -> Option<&'a bn254::PreparedKey> {
    let list = match raw.kind {
        Kind::Deal | Kind::Log => &cfg.dealers,
        _ => &cfg.players,
    };
    list.binary_search_by_key(&raw.sender, |o| o.address)
        .ok()
        .and_then(|i| list.get(i))
        .map(|o| o.message_key())
}

/// Checks already made, so nothing is checked twice: envelopes whose signatures verified, by
/// (sender, signature), and (dealer, commitment hash) pairs whose constant term matched the
/// dealer's previous public share in a reshare. A signature hit must also be byte-equal to the
/// stored envelope: a cheap comparison, where re-hashing every embedded ack of every log was the
/// dominant cost at n = 64.
#[derive(Default, Clone)]
pub struct CheckCache {
    sigs: BTreeMap<(Address, [u8; bn254::SCHNORR_LEN]), RawEnvelope>,
    constants: BTreeSet<(usize, [u8; 32])>,
}

impl CheckCache {
    /// Records that dealer `d`'s commitment with this hash has the right constant term.
    pub(crate) fn constant_checked(&mut self, d: usize, commitment_hash: [u8; 32]) {
        self.constants.insert((d, commitment_hash));
    }

    pub(crate) fn known(&self, raw: &RawEnvelope) -> bool {
        self.sigs
            .get(&(raw.sender, raw.signature.to_bytes()))
            .is_some_and(|r| r == raw)
    }

    /// Checks the signatures of `raws`; one verdict per input. Unknown senders and other rounds
    /// are `false`. Each check is two table products (the generator's and the sender's key's),
    /// cheaper than arkworks' MSM for the batch sizes of a round, and it names the culprit
    /// without a second pass.
    pub fn verify(&mut self, cfg: &RoundConfig, raws: &[&RawEnvelope]) -> Vec<bool> {
        raws.iter()
            .map(|raw| {
                if self.known(raw) {
                    return true;
                }
                let Some(key) = sender_key(cfg, raw).filter(|_| raw.round == cfg.digest()) else {
                    return false;
                };
                let ok = raw
                    .signature
                    .verify_prepared(&raw.signing_digest(), key)
                    .is_ok();
                if ok {
                    self.sigs
                        .insert((raw.sender, raw.signature.to_bytes()), (*raw).clone());
                }
                ok
            })
            .collect()
    }
}

/// What is wrong with a dealer log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LogFault {
    /// The envelope is not a validly signed log from one of the round's dealers; proves nothing
    /// against the dealer.
    #[error("log signature or sender invalid")]
    BadSignature,
    /// The commitment's threshold differs from the round's.
    #[error("commitment has the wrong degree")]
    WrongDegree,
    /// In a reshare, the commitment does not continue the dealer's share of the previous epoch.
    #[error("commitment's constant term is not the dealer's previous public share")]
    BadConstant,
    /// The log does not hold exactly one sealed share per player.
    #[error("wrong number of sealed shares")]
    ShareCount,
    /// An embedded ack does not verify, is not a player's broadcast for this round, or does not
    /// ack this dealer's commitment and share; carries the player index (`u16::MAX` for a
    /// non-player).
    #[error("ack from player {0} is invalid")]
    BadAck(u16),
    /// The log leaves this player index uncovered.
    #[error("player {0} has neither an ack nor a reveal")]
    Missing(u16),
    /// The log covers this player index twice.
    #[error("player {0} has both an ack and a reveal, or two reveals")]
    Conflicting(u16),
    /// The log reveals more shares than the round allows (n - t).
    #[error("more reveals than n - t")]
    TooManyReveals,
    /// The reveal for this player index names no player, does not decode, or fails the
    /// commitment.
    #[error("revealed share for player {0} does not match the commitment")]
    BadReveal(u16),
}

/// Why a player's share was revealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RevealKind {
    /// The sealed share holds the revealed value: the player just did not ack.
    NoAck,
    /// The sealed share did not hold the (valid) revealed value: the dealer sent a bad share.
    BadShare,
}

/// Log check results by (dealer index, keccak of the log body).
pub type LogChecks = BTreeMap<(usize, [u8; 32]), Result<LogInfo, LogFault>>;

/// A valid log's summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogInfo {
    /// The log's reveals as (player index, why the share was revealed).
    pub reveals: Vec<(u16, RevealKind)>,
}

/// Associated data of a sealed share: round, dealer, player.
pub(crate) fn share_aad(round: &[u8; 32], dealer: &Address, player: &Address) -> Vec<u8> {
    [b"KMS_SHARE_V1".as_slice(), round, dealer, player].concat()
}

/// What a player acks: keccak(commitment hash || its sealed share).
pub(crate) fn ack_hash(commitment_hash: &[u8; 32], sealed: &kms_crypto::seal::Sealed) -> [u8; 32] {
    keccak(&[commitment_hash.as_slice(), &sealed.to_bytes()].concat())
}

/// Checks logs (each a signed `Log` envelope) from public data, batching the share and
/// constant-term checks across them. One result per input, in order.
pub fn check_logs(
    cfg: &RoundConfig,
    logs: &[&Envelope],
    checks: &mut CheckCache,
) -> Vec<Result<LogInfo, LogFault>> {
    let mut results: Vec<Result<(), LogFault>> = vec![Ok(()); logs.len()];
    let set = |results: &mut Vec<Result<(), LogFault>>, i: usize, f: LogFault| {
        if let Some(r) = results.get_mut(i) {
            if r.is_ok() {
                *r = Err(f);
            }
        }
    };
    // Log signatures and every embedded ack (each ack is checked once, then cached).
    let mut raws: Vec<&RawEnvelope> = logs.iter().map(|l| &l.raw).collect();
    for l in logs {
        if let Body::Log(log) = &l.body {
            raws.extend(log.acks.iter().map(|a| &a.raw));
        }
    }
    let ok = checks.verify(cfg, &raws);
    let mut ok_iter = ok.into_iter();
    let log_ok: Vec<bool> = ok_iter.by_ref().take(logs.len()).collect();
    let ack_ok: Vec<bool> = ok_iter.collect();

    let mut ack_pos = 0usize;
    let mut dealer_of: Vec<Option<usize>> = Vec::with_capacity(logs.len());
    let mut reveal_items: Vec<(usize, u16, Share, [u8; 32])> = Vec::new();
    for (i, l) in logs.iter().enumerate() {
        let dealer = cfg.dealer_index(&l.raw.sender);
        dealer_of.push(dealer);
        let Body::Log(log) = &l.body else {
            set(&mut results, i, LogFault::BadSignature);
            continue;
        };
        let n_acks = log.acks.len();
        let acks_ok = ack_ok
            .get(ack_pos..ack_pos + n_acks)
            .unwrap_or(&[])
            .to_vec();
        ack_pos += n_acks;
        let (Some(dealer), true, Kind::Log) = (dealer, log_ok.get(i) == Some(&true), l.raw.kind)
        else {
            set(&mut results, i, LogFault::BadSignature);
            continue;
        };
        if let Err(f) = check_structure(cfg, dealer, log, &acks_ok, l, &mut reveal_items, i) {
            set(&mut results, i, f);
        }
    }

    // Revealed shares against their commitments, batched; one by one only if the batch fails.
    // Bound to the logs through their (checked) signatures, which cover the bodies.
    let seed = keccak(
        &logs
            .iter()
            .flat_map(|l| l.raw.signature.to_bytes())
            .collect::<Vec<u8>>(),
    );
    let items: Vec<(&kms_crypto::bls::Commitment, &Share)> = reveal_items
        .iter()
        .filter_map(|(i, _, s, _)| match &logs.get(*i)?.body {
            Body::Log(log) => Some((&log.commitment, s)),
            _ => None,
        })
        .collect();
    if !verify_shares_batch(&items, &seed) {
        for ((i, p, _, _), (c, s)) in reveal_items.iter().zip(&items) {
            if c.verify_share(s).is_err() {
                set(&mut results, *i, LogFault::BadReveal(*p));
            }
        }
    }

    // Reshare: each dealer's constant term is its previous public share (unless this node
    // already checked the same commitment in the dealer's deal).
    if let Some(prev) = &cfg.previous {
        let mut idx = Vec::new();
        let mut pairs: Vec<(EvalPoint, G2Point)> = Vec::new();
        for (i, l) in logs.iter().enumerate() {
            if let (Body::Log(log), Some(Some(d))) = (&l.body, dealer_of.get(i)) {
                if checks.constants.contains(&(*d, log.commitment_hash)) {
                    continue;
                }
                if let Some(x) = cfg.dealer_point(*d) {
                    idx.push(i);
                    pairs.push((x, log.commitment.public_key()));
                }
            }
        }
        if !verify_public_shares_batch(prev, &pairs, &seed) {
            for (i, (x, c0)) in idx.iter().zip(&pairs) {
                if !verify_public_shares_batch(prev, &[(*x, *c0)], &seed) {
                    set(&mut results, *i, LogFault::BadConstant);
                }
            }
        }
    }

    // Adjudicate reveals: does the sealed share hold the revealed value?
    let mut infos: Vec<LogInfo> = (0..logs.len())
        .map(|_| LogInfo {
            reveals: Vec::new(),
        })
        .collect();
    for (i, p, share, eph) in &reveal_items {
        let (Some(l), Some(Some(d))) = (logs.get(*i), dealer_of.get(*i)) else {
            continue;
        };
        let (Body::Log(log), Some(dealer), Some(player)) = (
            &l.body,
            cfg.dealers.get(*d),
            cfg.players.get(usize::from(*p)),
        ) else {
            continue;
        };
        let holds = log.shares.get(usize::from(*p)).is_some_and(|sealed| {
            open_with_ephemeral(
                &Secret::new(*eph),
                &player.enc,
                sealed,
                &share_aad(&cfg.digest(), &dealer.address, &player.address),
            )
            .is_ok_and(|pt| {
                pt.expose(|b| {
                    share
                        .value
                        .expose(|v| v.to_bytes().expose(|sb| b.as_slice() == sb))
                })
            })
        });
        if let Some(info) = infos.get_mut(*i) {
            info.reveals.push((
                *p,
                if holds {
                    RevealKind::NoAck
                } else {
                    RevealKind::BadShare
                },
            ));
        }
    }
    results
        .into_iter()
        .zip(infos)
        .map(|(r, info)| r.map(|()| info))
        .collect()
}

/// Everything about one log that needs no pairing or MSM.
fn check_structure(
    cfg: &RoundConfig,
    dealer: usize,
    log: &DealerLog,
    acks_ok: &[bool],
    env: &Envelope,
    reveal_items: &mut Vec<(usize, u16, Share, [u8; 32])>,
    log_pos: usize,
) -> Result<(), LogFault> {
    if log.commitment.threshold() != cfg.threshold {
        return Err(LogFault::WrongDegree);
    }
    let n = cfg.players.len();
    if log.shares.len() != n {
        return Err(LogFault::ShareCount);
    }
    let mut covered = vec![false; n];
    for (a, ok) in log.acks.iter().zip(acks_ok) {
        let player = cfg.player_index(&a.raw.sender);
        let p16 = player
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(u16::MAX);
        let Some(p) = player else {
            return Err(LogFault::BadAck(p16));
        };
        let entry = match &a.body {
            Body::Acks(entries) if entries.len() == cfg.dealers.len() => entries.get(dealer),
            _ => None,
        };
        let expected = log.shares.get(p).map(|s| ack_hash(&log.commitment_hash, s));
        let acked = matches!((entry, expected), (Some(AckEntry::Ack(h)), Some(e)) if *h == e);
        if !ok || !acked || a.raw.round != env.raw.round || a.raw.recipient.is_some() {
            return Err(LogFault::BadAck(p16));
        }
        match covered.get_mut(p) {
            Some(c) if !*c => *c = true,
            _ => return Err(LogFault::Conflicting(p16)),
        }
    }
    if log.reveals.len() > cfg.max_reveals() {
        return Err(LogFault::TooManyReveals);
    }
    for rv in &log.reveals {
        let p = usize::from(rv.player);
        let Some(point) = cfg.player_point(p) else {
            return Err(LogFault::BadReveal(rv.player));
        };
        match covered.get_mut(p) {
            Some(c) if !*c => *c = true,
            _ => return Err(LogFault::Conflicting(rv.player)),
        }
        let value =
            SecretScalar::from_bytes(&rv.share).map_err(|_| LogFault::BadReveal(rv.player))?;
        reveal_items.push((
            log_pos,
            rv.player,
            Share {
                point,
                value: Secret::new(value),
            },
            rv.ephemeral,
        ));
    }
    if let Some(p) = covered.iter().position(|c| !c) {
        return Err(LogFault::Missing(u16::try_from(p).unwrap_or(u16::MAX)));
    }
    Ok(())
}

/// Whether a piece of evidence proves what it claims, from public data.
pub fn evidence_holds(cfg: &RoundConfig, e: &Evidence, checks: &mut CheckCache) -> bool {
    match e {
        Evidence::InvalidLog(l) => {
            l.raw.kind == Kind::Log
                && cfg.dealer_index(&l.raw.sender).is_some()
                && matches!(check_logs(cfg, &[l.as_ref()], checks).first(), Some(Err(f)) if *f != LogFault::BadSignature)
        }
        Evidence::Equivocation(a, b) => {
            if a.raw.sender != b.raw.sender || a.raw == b.raw {
                return false;
            }
            let signed = checks.verify(cfg, &[&a.raw, &b.raw]);
            if signed.iter().any(|ok| !ok) {
                return false;
            }
            match (&a.body, &b.body) {
                (Body::Deal(_), Body::Deal(_)) => a.raw.recipient == b.raw.recipient,
                (Body::Log(_), Body::Log(_)) => true,
                (Body::Deal(d), Body::Log(l)) | (Body::Log(l), Body::Deal(d)) => {
                    let deal = if a.raw.kind == Kind::Deal { a } else { b };
                    let p = deal.raw.recipient.and_then(|r| cfg.player_index(&r));
                    match p {
                        Some(p) => {
                            d.commitment_hash != l.commitment_hash
                                || l.shares.get(p) != Some(&d.share)
                        }
                        None => false,
                    }
                }
                _ => false,
            }
        }
    }
}
