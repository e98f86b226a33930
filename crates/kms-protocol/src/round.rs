//! Operators, round configurations and the round digest that every message and ciphertext binds.

use crate::codec::{Reader, Writer};
use crate::error::{ConfigError, DecodeError};
use crate::Address;
use kms_crypto::bls::{legacy_threshold_for, threshold_for, Commitment, EvalPoint, PublicScalar};
use kms_crypto::bn254;
use kms_crypto::seal::EncryptionPublicKey;
use sha2::{Digest, Sha256};

const ROUND_TAG: &[u8] = b"KMS_ROUND_V1";

/// A member of the network as the protocol sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    /// The operator's Ethereum address: its identity in message headers and round lists.
    pub address: Address,
    /// The operator's evaluation point: a small, permanent operator id that the membership
    /// source assigns once and never reuses (docs 0007). Stable across reshares.
    pub point: EvalPoint,
    /// BN254 operator key in G1, which message signatures are checked against, with its
    /// verification table (built once, shared by clones of this operator across rounds).
    key_g1: bn254::PreparedKey,
    /// The same key in G2 (EigenLayer keeps both), for certificates.
    pub key_g2: bn254::G2Point,
    /// X25519 key that shares are sealed to.
    pub enc: EncryptionPublicKey,
}

impl Operator {
    /// An operator from its keys; builds the G1 key's verification table, but does not check
    /// that the two BN254 keys match ([`Operator::keys_match`]).
    pub fn new(
        address: Address,
        point: EvalPoint,
        key_g1: bn254::G1Point,
        key_g2: bn254::G2Point,
        enc: EncryptionPublicKey,
    ) -> Self {
        Self {
            address,
            point,
            key_g1: bn254::PreparedKey::new(key_g1),
            key_g2,
            enc,
        }
    }

    /// The operator key in G1.
    pub fn key_g1(&self) -> &bn254::G1Point {
        self.key_g1.point()
    }

    /// The operator key in G1, prepared for checking message signatures.
    pub fn message_key(&self) -> &bn254::PreparedKey {
        &self.key_g1
    }

    /// The pairing check that the G1 and G2 keys share one secret. The membership source runs it
    /// once per operator (it costs a pairing), not every round.
    pub fn keys_match(&self) -> bool {
        bn254::keys_match(self.key_g1(), &self.key_g2)
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.fixed(&self.address)
            .fixed(&self.point.to_bytes())
            .fixed(&self.key_g1().to_abi_bytes())
            .fixed(&self.key_g2.to_abi_bytes())
            .fixed(&self.enc.to_bytes());
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let address: Address = r.array()?;
        let point = EvalPoint::from_scalar(PublicScalar::from_bytes(r.fixed(32)?)?)?;
        let g1: [u8; 64] = r.array()?;
        let g2: [u8; 128] = r.array()?;
        let enc = EncryptionPublicKey::from_bytes(r.fixed(32)?)?;
        Ok(Self::new(
            address,
            point,
            g1_from_abi(&g1)?,
            g2_from_abi(&g2)?,
            enc,
        ))
    }
}

pub(crate) fn g1_from_abi(b: &[u8; 64]) -> Result<bn254::G1Point, DecodeError> {
    let (x, y) = b.split_at(32);
    Ok(bn254::G1Point::from_coords(
        bn254::U256::from_be_slice(x),
        bn254::U256::from_be_slice(y),
    )?)
}

pub(crate) fn g2_from_abi(b: &[u8; 128]) -> Result<bn254::G2Point, DecodeError> {
    let limb = |i: usize| bn254::U256::from_be_slice(b.get(i * 32..(i + 1) * 32).unwrap_or(&[]));
    Ok(bn254::G2Point::from_solidity(
        [limb(0), limb(1)],
        [limb(2), limb(3)],
    )?)
}

/// What a round produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoundKind {
    /// Genesis: a fresh master key.
    Dkg,
    /// New shares of the key finalized at `from_epoch`, same master public key.
    Reshare {
        /// The epoch whose key is reshared.
        from_epoch: u64,
    },
}

/// Everything that identifies a round. Built by the caller from its membership source; every node
/// of the round must build the same one (the digest is compared on every message).
#[derive(Clone, Debug)]
pub struct RoundConfig {
    /// DKG or reshare.
    pub kind: RoundKind,
    /// The epoch the round creates.
    pub epoch: u64,
    /// The chain's id, bound into the digest so that no round carries over to another deployment.
    pub chain_id: u64,
    /// The `KmsRegistry` contract's address (static mode: as configured), bound in likewise.
    pub registry: Address,
    /// Sorted by address. DKG: the players. Reshare: the previous epoch's players.
    pub dealers: Vec<Operator>,
    /// Sorted by address.
    pub players: Vec<Operator>,
    /// floor(2n/3) + 1 of the players (`threshold_for`); an epoch finalized before issue 15 may
    /// carry the old ceil(2n/3), which differs when 3 divides n.
    pub threshold: usize,
    /// Reshare only: the previous public polynomial.
    pub previous: Option<Commitment>,
    digest: [u8; 32],
}

impl RoundConfig {
    /// A genesis DKG among `players` (who are also the dealers).
    pub fn dkg(
        epoch: u64,
        chain_id: u64,
        registry: Address,
        players: Vec<Operator>,
    ) -> Result<Self, ConfigError> {
        Self::build(
            RoundKind::Dkg,
            epoch,
            chain_id,
            registry,
            players.clone(),
            players,
            None,
        )
    }

    /// A reshare of the key finalized at `from_epoch` (with public polynomial `previous`, held by
    /// `dealers`, the previous epoch's players) to `players`.
    pub fn reshare(
        from_epoch: u64,
        epoch: u64,
        chain_id: u64,
        registry: Address,
        dealers: Vec<Operator>,
        players: Vec<Operator>,
        previous: Commitment,
    ) -> Result<Self, ConfigError> {
        Self::check_reshare(from_epoch, epoch, dealers.len(), &previous)?;
        Self::build(
            RoundKind::Reshare { from_epoch },
            epoch,
            chain_id,
            registry,
            dealers,
            players,
            Some(previous),
        )
    }

    fn check_reshare(
        from_epoch: u64,
        epoch: u64,
        dealers: usize,
        previous: &Commitment,
    ) -> Result<(), ConfigError> {
        if epoch <= from_epoch {
            return Err(ConfigError::Invalid("a reshare must move to a later epoch"));
        }
        if dealers < previous.threshold() {
            return Err(ConfigError::Invalid(
                "fewer previous players than the previous threshold",
            ));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        kind: RoundKind,
        epoch: u64,
        chain_id: u64,
        registry: Address,
        dealers: Vec<Operator>,
        players: Vec<Operator>,
        previous: Option<Commitment>,
    ) -> Result<Self, ConfigError> {
        let t = threshold_for(players.len());
        Self::build_with(
            kind, epoch, chain_id, registry, dealers, players, previous, t,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn build_with(
        kind: RoundKind,
        epoch: u64,
        chain_id: u64,
        registry: Address,
        mut dealers: Vec<Operator>,
        mut players: Vec<Operator>,
        previous: Option<Commitment>,
        threshold: usize,
    ) -> Result<Self, ConfigError> {
        for list in [&mut dealers, &mut players] {
            list.sort_by_key(|o| o.address);
            if list
                .windows(2)
                .any(|w| matches!(w, [a, b] if a.address == b.address))
            {
                return Err(ConfigError::Invalid("duplicate operator"));
            }
            if list.is_empty() || list.len() > usize::from(u16::MAX) {
                return Err(ConfigError::Invalid("operator count out of range"));
            }
            let mut points: Vec<[u8; 32]> = list.iter().map(|o| o.point.to_bytes()).collect();
            points.sort_unstable();
            if points.windows(2).any(|w| matches!(w, [a, b] if a == b)) {
                return Err(ConfigError::Invalid("duplicate evaluation point"));
            }
        }
        // Points are permanent: an operator in both lists has the same one.
        for d in &dealers {
            if let Ok(i) = players.binary_search_by_key(&d.address, |o| o.address) {
                if players.get(i).is_some_and(|p| p.point != d.point) {
                    return Err(ConfigError::Invalid(
                        "an operator's evaluation point changed between epochs",
                    ));
                }
            }
        }
        let mut cfg = Self {
            kind,
            epoch,
            chain_id,
            registry,
            dealers,
            players,
            threshold,
            previous,
            digest: [0u8; 32],
        };
        cfg.digest = Sha256::digest(cfg.encode()).into();
        Ok(cfg)
    }

    /// Canonical encoding (the digest's preimage).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.fixed(ROUND_TAG);
        match self.kind {
            RoundKind::Dkg => w.u8(0).u64(0),
            RoundKind::Reshare { from_epoch } => w.u8(1).u64(from_epoch),
        };
        w.u64(self.epoch).u64(self.chain_id).fixed(&self.registry);
        for list in [&self.dealers, &self.players] {
            w.count(list.len());
            for o in list {
                o.encode(&mut w);
            }
        }
        w.u32(u32::try_from(self.threshold).unwrap_or(u32::MAX));
        w.bytes(
            &self
                .previous
                .as_ref()
                .map(|c| c.to_bytes())
                .unwrap_or_default(),
        );
        w.finish()
    }

    /// Decodes and rebuilds (recomputing the threshold and digest).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        if r.fixed(ROUND_TAG.len())? != ROUND_TAG {
            return Err(DecodeError::BadVersion);
        }
        let kind = r.u8()?;
        let from_epoch = r.u64()?;
        let epoch = r.u64()?;
        let chain_id = r.u64()?;
        let registry: Address = r.array()?;
        let mut lists = [Vec::new(), Vec::new()];
        for list in lists.iter_mut() {
            let n = r.count(276)?;
            for _ in 0..n {
                list.push(Operator::decode(&mut r)?);
            }
        }
        let threshold = r.u32()? as usize;
        let prev = r.bytes()?;
        r.finish()?;
        let [dealers, players] = lists;
        // The current rule, or the old one for an epoch finalized under it (issue 15).
        let n = players.len();
        if threshold != threshold_for(n) && threshold != legacy_threshold_for(n) {
            return Err(DecodeError::Invalid("round config threshold"));
        }
        let bad = |_| DecodeError::Invalid("round config");
        let cfg = match kind {
            0 if prev.is_empty() => Self::build_with(
                RoundKind::Dkg,
                epoch,
                chain_id,
                registry,
                players.clone(),
                players,
                None,
                threshold,
            )
            .map_err(bad)?,
            1 => {
                let previous = Commitment::from_bytes(prev)?;
                Self::check_reshare(from_epoch, epoch, dealers.len(), &previous).map_err(bad)?;
                Self::build_with(
                    RoundKind::Reshare { from_epoch },
                    epoch,
                    chain_id,
                    registry,
                    dealers,
                    players,
                    Some(previous),
                    threshold,
                )
                .map_err(bad)?
            }
            _ => return Err(DecodeError::BadTag),
        };
        if cfg.encode() != bytes {
            return Err(DecodeError::Invalid("round config is not canonical"));
        }
        Ok(cfg)
    }

    /// SHA-256 over the canonical encoding.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// The previous epoch's threshold (reshare), or 0 (DKG).
    pub fn previous_threshold(&self) -> usize {
        self.previous.as_ref().map_or(0, Commitment::threshold)
    }

    /// The minimum number of included dealings: t for a DKG, the previous threshold for a reshare.
    pub fn min_dealings(&self) -> usize {
        match self.kind {
            RoundKind::Dkg => self.threshold,
            RoundKind::Reshare { .. } => self.previous_threshold(),
        }
    }

    /// Most players without an ack that a log may reveal: n - t.
    pub fn max_reveals(&self) -> usize {
        self.players.len() - self.threshold
    }

    /// Every operator of the round (dealers and players), sorted, each once.
    pub fn members(&self) -> Vec<Address> {
        let mut v: Vec<Address> = self
            .players
            .iter()
            .chain(self.dealers.iter())
            .map(|o| o.address)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Dealer i's evaluation point (in a reshare, the point its previous share is at).
    pub fn dealer_point(&self, i: usize) -> Option<EvalPoint> {
        self.dealers.get(i).map(|o| o.point)
    }

    /// Player i's evaluation point.
    pub fn player_point(&self, i: usize) -> Option<EvalPoint> {
        self.players.get(i).map(|o| o.point)
    }

    /// The position of `a` among the dealers, if it deals in this round.
    pub fn dealer_index(&self, a: &Address) -> Option<usize> {
        self.dealers.binary_search_by_key(a, |o| o.address).ok()
    }

    /// The position of `a` among the players, if it plays in this round.
    pub fn player_index(&self, a: &Address) -> Option<usize> {
        self.players.binary_search_by_key(a, |o| o.address).ok()
    }

    /// The leader of an agreement attempt: the players in turn from a start that the digest
    /// picks (SHA-256(tag || digest) mod n), so any f + 1 consecutive attempts have a leader
    /// that is neither Byzantine nor down when at most f players are.
    pub fn leader(&self, attempt: u32) -> Address {
        let h = Sha256::new()
            .chain_update(b"KMS_LEADER_V2")
            .chain_update(self.digest)
            .finalize();
        let mut head = [0u8; 8];
        head.copy_from_slice(h.get(..8).unwrap_or(&[0u8; 8]));
        let n = self.players.len() as u64;
        let i = ((u64::from_be_bytes(head) % n + u64::from(attempt) % n) % n) as usize;
        self.players.get(i).map(|o| o.address).unwrap_or_default()
    }

    /// Byzantine players the round tolerates: f = n - t.
    pub fn faults_tolerated(&self) -> usize {
        self.players.len().saturating_sub(self.threshold)
    }

    /// Agreement attempts in a round: enough for f + 1 leaders in turn plus one attempt lost to
    /// nodes entering agreement at different times, and at least 4. A message for a later
    /// attempt is a fault: no honest node ever reaches one.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.faults_tolerated() + 2)
            .unwrap_or(u32::MAX)
            .max(4)
    }
}
