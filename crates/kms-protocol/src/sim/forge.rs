//! Epochs a Byzantine operator can serve to a node that catches up (issue 15, item 1): each is
//! well formed and signed by the attacker's real key, and each would have been installed by a
//! node that only checked that the players are members and that a reshare starts from its MPK.
//! `adopt::check` must refuse every one of them.

use super::SimNode;
use crate::check::{ack_hash, share_aad};
use crate::message::{
    AckEntry, Body, Certificate, Commit, DealerLog, DealerSet, Envelope, Quorum, RawEnvelope,
};
use crate::round::{Operator, RoundConfig};
use crate::{vote_digest, Address, CommitmentCache, Dealer, Out, Player};
use kms_crypto::bls::{Commitment, EvalPoint};
use kms_crypto::seal::{seal, EncryptionKey};
use kms_crypto::{bn254, Secret};
use rand_chacha::rand_core::RngCore;
use std::sync::Arc;

/// A peer's answer at `GET /v1/epochs/{e}`, as bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochClaim {
    /// The epoch claimed.
    pub epoch: u64,
    /// The encoded round config ([`RoundConfig::encode`]).
    pub config: Vec<u8>,
    /// The encoded commit certificate.
    pub certificate: Vec<u8>,
    /// The encoded logs of the dealers the certificate includes.
    pub logs: Vec<Vec<u8>>,
}

/// The forged epochs of item 1 and its variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Forgery {
    /// A 1-of-1 DKG among the attacker: a master key it knows.
    SoloGenesis,
    /// A reshare to the attacker alone from a degree-0 "previous" polynomial whose constant is
    /// the real MPK: honest nodes would install an epoch where they hold no share (and drop
    /// their real ones at retention).
    DegreeZeroReshare,
    /// A solo DKG for another chain.
    WrongChain,
    /// A reshare from a previous polynomial of the attacker's own (another MPK).
    WrongPrevious,
    /// A reshare to operators nobody knows, all of them the attacker's, certified by them.
    UnknownOperators,
}

impl Forgery {
    /// Every variant, for tests that try each one.
    pub const ALL: [Forgery; 5] = [
        Forgery::SoloGenesis,
        Forgery::DegreeZeroReshare,
        Forgery::WrongChain,
        Forgery::WrongPrevious,
        Forgery::UnknownOperators,
    ];
}

/// What the attacker knows of the network: the chain and registry, and the latest honest epoch
/// (its number and public polynomial), if any.
pub struct Target<'a> {
    /// The network's chain id (`WrongChain` uses another).
    pub chain_id: u64,
    /// The network's registry address.
    pub registry: Address,
    /// The latest honest epoch and its public polynomial; the reshare forgeries need one.
    pub latest: Option<(u64, &'a Commitment)>,
}

/// Runs a DKG among `node` alone (it deals, acks, logs, leads and votes by itself) and returns
/// its claim.
fn solo_round(cfg: RoundConfig, node: &SimNode) -> Option<EpochClaim> {
    let cfg = Arc::new(cfg);
    let a = node.address();
    let (mut dealer, deals) =
        Dealer::new(cfg.clone(), a, node.key.clone(), &node.seed, None).ok()?;
    let mut p = Player::new(cfg.clone(), a, node.key.clone(), node.enc.clone()).ok()?;
    let _ = p.receive_decoded(deals);
    let acks = p.end_deals();
    let _ = p.receive_decoded(vec![acks.clone()]);
    dealer.handle_acks(&acks).ok()?;
    let log = dealer.log()?;
    let _ = p.receive_decoded(vec![log.clone()]);
    let deliver = |p: &mut Player, mut queue: Vec<Out>| {
        while let Some(o) = queue.pop() {
            for r in p
                .receive_decoded(vec![o.envelope().clone()])
                .into_iter()
                .flatten()
            {
                queue.extend(r.outgoing);
            }
        }
    };
    let status = p.start_attempt(0);
    deliver(&mut p, status);
    let proposal = p.propose();
    deliver(&mut p, proposal);
    let cert = p.certificate()?.clone();
    Some(EpochClaim {
        epoch: cfg.epoch,
        config: cfg.encode(),
        certificate: cert.encode(),
        logs: vec![log.encode()],
    })
}

/// A reshare among `signers` (the attacker's keys) from `previous`, certified by them: each
/// deals the previous polynomial itself (its constant is the previous MPK, which nobody can
/// share without the master secret), seals garbage and acks its own dealing, so the logs pass
/// every public check and the certificate verifies.
fn forged_reshare(
    from: u64,
    epoch: u64,
    chain_id: u64,
    registry: Address,
    signers: &[(Operator, Arc<bn254::SecretKey>)],
    previous: Commitment,
    rng: &mut rand_chacha::ChaCha20Rng,
) -> Option<EpochClaim> {
    let ops: Vec<Operator> = signers.iter().map(|(o, _)| o.clone()).collect();
    let first = signers.first()?.clone();
    let cfg = RoundConfig::reshare(
        from,
        epoch,
        chain_id,
        registry,
        vec![first.0.clone()],
        ops,
        previous.clone(),
    )
    .ok()?;
    // The dealing's commitment must have the new threshold's degree: the previous constant,
    // then points of a polynomial of the attacker's.
    let filler = kms_crypto::bls::Polynomial::random(cfg.threshold, rng)
        .ok()?
        .commit()
        .to_bytes();
    let mut points = previous.to_bytes();
    points.truncate(96);
    points.extend_from_slice(filler.get(96..cfg.threshold * 96)?);
    let commitment = Commitment::from_bytes(&points).ok()?;
    let commitment_hash = crate::message::keccak(&commitment.to_bytes());
    let round = cfg.digest();
    let mut shares = Vec::new();
    for p in &cfg.players {
        let mut eph = Secret::new([0u8; 32]);
        eph.expose_mut(|e| rng.fill_bytes(e));
        let mut garbage = [0u8; 32];
        rng.fill_bytes(&mut garbage);
        if let Some(b) = garbage.first_mut() {
            *b = 0;
        }
        shares.push(
            seal(
                &p.enc,
                &garbage,
                &share_aad(&round, &first.0.address, &p.address),
                &eph,
            )
            .ok()?,
        );
    }
    let acks: Vec<Envelope> = cfg
        .players
        .iter()
        .zip(&shares)
        .filter_map(|(p, sealed)| {
            let key = signers
                .iter()
                .find(|(o, _)| o.address == p.address)?
                .1
                .clone();
            Some(Envelope::sign(
                round,
                p.address,
                None,
                Body::Acks(vec![AckEntry::Ack(ack_hash(&commitment_hash, sealed))]),
                &key,
            ))
        })
        .collect();
    let log = Envelope::sign(
        round,
        first.0.address,
        None,
        Body::Log(DealerLog {
            commitment,
            commitment_hash,
            shares,
            acks,
            reveals: Vec::new(),
        }),
        &first.1,
    );
    let set = DealerSet {
        included: vec![(0, log.body_hash())],
        excluded: Vec::new(),
    };
    let mpk = previous.public_key();
    let digest = vote_digest(&cfg, 0, &set.hash(), &mpk);
    let mut votes = Vec::new();
    let mut idx = Vec::new();
    for (i, p) in cfg.players.iter().enumerate() {
        let key = &signers.iter().find(|(o, _)| o.address == p.address)?.1;
        votes.push(key.sign_hash(&digest).1);
        idx.push(u16::try_from(i).ok()?);
    }
    let cert: Certificate = Quorum {
        round,
        attempt: 0,
        set,
        mpk,
        signers: idx,
        signature: bn254::aggregate_g1(&votes).ok()?,
        stage: Commit,
    };
    Some(EpochClaim {
        epoch,
        config: cfg.encode(),
        certificate: cert.encode(),
        logs: vec![log.encode()],
    })
}

/// Operators the attacker makes up (fresh keys it holds), with ids past `first_id`.
fn fake_operators(
    rng: &mut rand_chacha::ChaCha20Rng,
    count: usize,
    first_id: u64,
) -> Vec<(Operator, Arc<bn254::SecretKey>)> {
    (0..count as u64)
        .filter_map(|i| {
            let key = bn254::SecretKey::random(rng);
            let enc = EncryptionKey::random(rng);
            let mut address = [0u8; 20];
            rng.fill_bytes(&mut address);
            let point = EvalPoint::from_index(first_id + i).ok()?;
            Some((
                Operator::new(
                    address,
                    point,
                    key.public_g1(),
                    key.public_g2(),
                    enc.public(),
                ),
                Arc::new(key),
            ))
        })
        .collect()
}

/// The claim `attacker` serves for `epoch` under `kind`, or None when the variant needs an epoch
/// the network does not have yet.
pub fn forge(
    kind: Forgery,
    attacker: &SimNode,
    target: &Target<'_>,
    epoch: u64,
    seed: u64,
) -> Option<EpochClaim> {
    let mut rng = super::rng_for(seed, "forge");
    let me = (attacker.operator.clone(), attacker.key.clone());
    match kind {
        Forgery::SoloGenesis => {
            let cfg = RoundConfig::dkg(
                epoch,
                target.chain_id,
                target.registry,
                vec![attacker.operator.clone()],
            )
            .ok()?;
            solo_round(cfg, attacker)
        }
        Forgery::WrongChain => {
            let cfg = RoundConfig::dkg(
                epoch,
                target.chain_id.wrapping_add(1),
                target.registry,
                vec![attacker.operator.clone()],
            )
            .ok()?;
            solo_round(cfg, attacker)
        }
        Forgery::DegreeZeroReshare => {
            let (from, public) = target.latest?;
            let degree0 = Commitment::from_bytes(&public.public_key().to_bytes()).ok()?;
            forged_reshare(
                from,
                epoch,
                target.chain_id,
                target.registry,
                &[me],
                degree0,
                &mut rng,
            )
        }
        Forgery::WrongPrevious => {
            let (from, _) = target.latest?;
            let own = kms_crypto::bls::Polynomial::random(1, &mut rng)
                .ok()?
                .commit();
            forged_reshare(
                from,
                epoch,
                target.chain_id,
                target.registry,
                &[me],
                own,
                &mut rng,
            )
        }
        Forgery::UnknownOperators => {
            let (from, public) = target.latest?;
            let degree0 = Commitment::from_bytes(&public.public_key().to_bytes()).ok()?;
            let mut signers = vec![me];
            signers.extend(fake_operators(&mut rng, 3, 1000));
            forged_reshare(
                from,
                epoch,
                target.chain_id,
                target.registry,
                &signers,
                degree0,
                &mut rng,
            )
        }
    }
}

/// The honest claim of a finalized epoch: its config, certificate and the logs of its set.
pub fn honest_claim(cfg: &RoundConfig, cert: &Certificate, logs: &[Envelope]) -> EpochClaim {
    let logs = logs
        .iter()
        .filter(|l| {
            cert.set.included.iter().any(|(d, h)| {
                cfg.dealer_index(&l.raw.sender) == Some(usize::from(*d)) && l.body_hash() == *h
            })
        })
        .map(Envelope::encode)
        .collect();
    EpochClaim {
        epoch: cfg.epoch,
        config: cfg.encode(),
        certificate: cert.encode(),
        logs,
    }
}

/// Decodes a claim's logs (for `observe`).
pub fn claim_logs(c: &EpochClaim) -> Vec<Envelope> {
    let mut cache = CommitmentCache::default();
    c.logs
        .iter()
        .filter_map(|b| RawEnvelope::parse(b).ok()?.open(&mut cache).ok())
        .collect()
}
