//! The two votes of an attempt (prepare, commit), their digests, and the quorums that hold them: a
//! prepare QC and the certificate.

use super::*;

/// Which of the two votes of an attempt a quorum certificate holds, and how its votes are
/// signed and proven (the signing and checking are in `quorum.rs`).
pub trait Stage: Clone + std::fmt::Debug + PartialEq + Eq {
    /// Domain tag at the head of the stage's vote digest, so one stage's vote never passes as
    /// the other's.
    const TAG: &'static [u8];
    /// One player's vote signature.
    type Vote: Clone + std::fmt::Debug + PartialEq + Eq;
    /// What a certificate carries for its signers' votes.
    type Proof: Clone + std::fmt::Debug + PartialEq + Eq;
    /// Encodes one vote.
    fn write_vote(w: &mut Writer, v: &Self::Vote);
    /// Decodes one vote.
    fn read_vote(r: &mut Reader<'_>) -> Result<Self::Vote, DecodeError>;
    /// Encodes a certificate's proof.
    fn write_proof(w: &mut Writer, p: &Self::Proof);
    /// Proof bytes per signer (bounds the signer count a certificate of n bytes can claim).
    const PROOF_PER_SIGNER: usize;
    /// Reads the proof of a certificate with `signers` signers.
    fn read_proof(r: &mut Reader<'_>, signers: usize) -> Result<Self::Proof, DecodeError>;
}

/// Prevotes: a quorum of them on one set in one attempt is what a player locks on. Each is a
/// Schnorr signature by the player's message key, and a prepare certificate lists them (one per
/// signer, in signer order): only nodes check it, never the chain, and t Schnorr checks cost
/// less than a pairing for the n a network runs (docs 0005 §4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepare;
impl Stage for Prepare {
    const TAG: &'static [u8] = PREVOTE_TAG;
    type Vote = bn254::SchnorrSignature;
    type Proof = Vec<bn254::SchnorrSignature>;
    const PROOF_PER_SIGNER: usize = bn254::SCHNORR_LEN;
    fn write_vote(w: &mut Writer, v: &Self::Vote) {
        w.fixed(&v.to_bytes());
    }
    fn read_vote(r: &mut Reader<'_>) -> Result<Self::Vote, DecodeError> {
        Ok(bn254::SchnorrSignature::from_bytes(&r.array()?)?)
    }
    fn write_proof(w: &mut Writer, p: &Self::Proof) {
        for v in p {
            Self::write_vote(w, v);
        }
    }
    fn read_proof(r: &mut Reader<'_>, signers: usize) -> Result<Self::Proof, DecodeError> {
        (0..signers).map(|_| Self::read_vote(r)).collect()
    }
}

/// Precommits: a quorum of them is the round's certificate. Each is a BN254 BLS signature, and
/// a certificate carries their sum: the chain anchor checks it with one pairing (docs 0009).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit;
impl Stage for Commit {
    const TAG: &'static [u8] = VOTE_TAG;
    type Vote = bn254::G1Point;
    type Proof = bn254::G1Point;
    const PROOF_PER_SIGNER: usize = 0;
    fn write_vote(w: &mut Writer, v: &Self::Vote) {
        w.fixed(&v.to_abi_bytes());
    }
    fn read_vote(r: &mut Reader<'_>) -> Result<Self::Vote, DecodeError> {
        g1_from_abi(&r.array()?)
    }
    fn write_proof(w: &mut Writer, p: &Self::Proof) {
        Self::write_vote(w, p);
    }
    fn read_proof(r: &mut Reader<'_>, _signers: usize) -> Result<Self::Proof, DecodeError> {
        Self::read_vote(r)
    }
}

/// What a vote of stage `S` signs: keccak256 of Solidity's `abi.encodePacked(tag, uint64 chainId,
/// address registry, uint64 epoch, uint32 attempt, bytes32 round, bytes32 setHash,
/// keccak256(mpk))`. For precommits this is exactly what the chain anchor recomputes (docs 0009):
/// the contract cannot open the round digest, so the fields it records are bound explicitly, the
/// MPK and the attempt with them.
pub fn stage_digest<S: Stage>(
    cfg: &RoundConfig,
    attempt: u32,
    set_hash: &[u8; 32],
    mpk: &bls::G2Point,
) -> [u8; 32] {
    keccak(
        &[
            S::TAG,
            &cfg.chain_id.to_be_bytes(),
            &cfg.registry,
            &cfg.epoch.to_be_bytes(),
            &attempt.to_be_bytes(),
            &cfg.digest(),
            set_hash,
            &keccak(&mpk.to_bytes()),
        ]
        .concat(),
    )
}

/// What a precommit signs (and what a certificate's signers signed).
pub fn vote_digest(
    cfg: &RoundConfig,
    attempt: u32,
    set_hash: &[u8; 32],
    mpk: &bls::G2Point,
) -> [u8; 32] {
    stage_digest::<Commit>(cfg, attempt, set_hash, mpk)
}

/// The votes of at least t players, all cast in one attempt, on one dealer set and the MPK it
/// finalizes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quorum<S: Stage> {
    /// The round's digest.
    pub round: [u8; 32],
    /// The attempt all the votes were cast in.
    pub attempt: u32,
    /// The dealer set voted on.
    pub set: DealerSet,
    /// The master public key the set finalizes to (for a reshare, the previous one).
    pub mpk: bls::G2Point,
    /// Player indices, strictly increasing.
    pub signers: Vec<u16>,
    /// The signers' votes on [`Quorum::digest`]: for a certificate the sum of their BLS
    /// signatures, for a prepare certificate their Schnorr signatures in signer order.
    pub signature: S::Proof,
    /// Which vote the quorum holds (a marker, not encoded).
    pub stage: S,
}

/// A prepare quorum certificate: t prevotes. Players lock on the highest one they have seen.
pub type PrepareQc = Quorum<Prepare>;
/// The round's decision: t precommits in one attempt.
pub type Certificate = Quorum<Commit>;

impl<S: Stage> Quorum<S> {
    /// What the signers signed (for a certificate: what the chain anchor records as its digest).
    pub fn digest(&self, cfg: &RoundConfig) -> [u8; 32] {
        stage_digest::<S>(cfg, self.attempt, &self.set.hash(), &self.mpk)
    }

    /// The canonical encoding (`stage` is not part of it).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        self.write(&mut w);
        w.finish()
    }

    /// Decodes a whole byte string as a quorum of `stage`, refusing trailing bytes.
    pub fn decode(bytes: &[u8], stage: S) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let q = Self::read(&mut r, &mut CommitmentCache::default(), stage)?;
        r.finish()?;
        Ok(q)
    }

    /// keccak of the encoding: a quorum certificate's identity.
    pub fn id(&self) -> [u8; 32] {
        keccak(&self.encode())
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.fixed(&self.round).u32(self.attempt);
        self.set.write(w);
        w.fixed(&self.mpk.to_bytes());
        w.count(self.signers.len());
        for s in &self.signers {
            w.u16(*s);
        }
        S::write_proof(w, &self.signature);
    }

    pub(crate) fn read(
        r: &mut Reader<'_>,
        cache: &mut CommitmentCache,
        stage: S,
    ) -> Result<Self, DecodeError> {
        let round = r.array()?;
        let attempt = r.u32()?;
        let set = DealerSet::read(r, cache)?;
        let mpk = bls::G2Point::from_bytes(r.fixed(96)?)?;
        let n = r.count(2 + S::PROOF_PER_SIGNER)?;
        let mut signers = Vec::with_capacity(n);
        for _ in 0..n {
            signers.push(r.u16()?);
        }
        let signature = S::read_proof(r, n)?;
        Ok(Self {
            round,
            attempt,
            set,
            mpk,
            signers,
            signature,
            stage,
        })
    }
}

impl Certificate {
    /// What the signers signed (and what the chain anchor records as the certificate's digest).
    pub fn vote_digest(&self, cfg: &RoundConfig) -> [u8; 32] {
        self.digest(cfg)
    }
}
