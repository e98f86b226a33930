//! The signed envelope: its header, signature and two-step parsing.

use super::*;

pub(super) fn signing_digest(
    round: &[u8; 32],
    sender: &Address,
    recipient: Option<&Address>,
    kind: Kind,
    body_hash: &[u8; 32],
) -> [u8; 32] {
    let mut w = Writer::default();
    w.fixed(MSG_TAG).fixed(round).fixed(sender);
    match recipient {
        Some(r) => w.u8(1).fixed(r),
        None => w.u8(0).fixed(&[0u8; 20]),
    };
    w.u8(kind as u8).fixed(body_hash);
    keccak(&w.finish())
}

/// Decoded commitments by hash, so a commitment seen in a deal is not decoded (and subgroup
/// checked) again when it comes back in the dealer's log.
#[derive(Default, Clone)]
pub struct CommitmentCache(BTreeMap<[u8; 32], Commitment>);

impl CommitmentCache {
    pub(super) fn decode(&mut self, bytes: &[u8]) -> Result<(Commitment, [u8; 32]), DecodeError> {
        let h = keccak(bytes);
        if let Some(c) = self.0.get(&h) {
            return Ok((c.clone(), h));
        }
        let c = Commitment::from_bytes(bytes)?;
        self.0.insert(h, c.clone());
        Ok((c, h))
    }
}

/// Header, body bytes and signature of a message, signature not yet checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawEnvelope {
    /// Digest of the round the message belongs to; a receiver skips any other round.
    pub round: [u8; 32],
    /// The signer: its operator key (as dealer or player, by kind) checks the signature.
    pub sender: Address,
    /// `None`: broadcast.
    pub recipient: Option<Address>,
    /// Which body the bytes hold.
    pub kind: Kind,
    /// Private with its hash, so the hash (a log body is O(n^2) bytes) is taken once.
    pub(super) body: Vec<u8>,
    pub(super) body_hash: [u8; 32],
    /// The sender's Schnorr signature over [`RawEnvelope::signing_digest`].
    pub signature: bn254::SchnorrSignature,
}

impl RawEnvelope {
    /// Builds and signs a header over `body`.
    pub fn sign(
        round: [u8; 32],
        sender: Address,
        recipient: Option<Address>,
        kind: Kind,
        body: Vec<u8>,
        key: &bn254::SecretKey,
    ) -> Self {
        let body_hash = keccak(&body);
        let digest = signing_digest(&round, &sender, recipient.as_ref(), kind, &body_hash);
        Self {
            round,
            sender,
            recipient,
            kind,
            body,
            body_hash,
            signature: key.schnorr_sign(&digest),
        }
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// keccak256 of the body.
    pub fn body_hash(&self) -> [u8; 32] {
        self.body_hash
    }

    /// Replaces the body, leaving the signature as it was (tests and fuzzing: tampering).
    pub fn set_body(&mut self, body: Vec<u8>) {
        self.body_hash = keccak(&body);
        self.body = body;
    }

    /// Signs again after the header or body changed (tests and fuzzing: a Byzantine insider).
    pub fn resign(&mut self, key: &bn254::SecretKey) {
        self.signature = key.schnorr_sign(&self.signing_digest());
    }

    /// What the sender signs.
    pub fn signing_digest(&self) -> [u8; 32] {
        signing_digest(
            &self.round,
            &self.sender,
            self.recipient.as_ref(),
            self.kind,
            &self.body_hash,
        )
    }

    /// The wire encoding: version, header, length-prefixed body and signature.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        self.write(&mut w);
        w.finish()
    }

    pub(super) fn write(&self, w: &mut Writer) {
        w.u8(VERSION).fixed(&self.round).fixed(&self.sender);
        match &self.recipient {
            Some(r) => w.u8(1).fixed(r),
            None => w.u8(0),
        };
        w.u8(self.kind as u8)
            .bytes(&self.body)
            .fixed(&self.signature.to_bytes());
    }

    /// The header alone (round, sender, recipient, kind) and the body's bytes, without checking
    /// the signature or hashing the body: enough to route a message, never to trust it.
    pub fn peek(bytes: &[u8]) -> Result<Header<'_>, DecodeError> {
        let mut r = Reader::new(bytes);
        if r.u8()? != VERSION {
            return Err(DecodeError::BadVersion);
        }
        let round = r.array()?;
        let sender = r.array()?;
        let recipient = if r.bool()? { Some(r.array()?) } else { None };
        let kind = Kind::from_u8(r.u8()?)?;
        let body = r.bytes()?;
        Ok(Header {
            round,
            sender,
            recipient,
            kind,
            body,
        })
    }

    /// Parses the header and signature (nonce point checked, s canonical); the body stays bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let raw = Self::read(&mut r)?;
        r.finish()?;
        Ok(raw)
    }

    pub(super) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        if r.u8()? != VERSION {
            return Err(DecodeError::BadVersion);
        }
        let round = r.array()?;
        let sender = r.array()?;
        let recipient = if r.bool()? { Some(r.array()?) } else { None };
        let kind = Kind::from_u8(r.u8()?)?;
        let body = r.bytes()?.to_vec();
        let signature = bn254::SchnorrSignature::from_bytes(&r.array()?)?;
        Ok(Self {
            round,
            sender,
            recipient,
            kind,
            body_hash: keccak(&body),
            body,
            signature,
        })
    }

    /// Checks the signature against the sender's G1 key.
    pub fn verify(&self, key: &bn254::G1Point) -> bool {
        self.signature.verify(&self.signing_digest(), key).is_ok()
    }

    /// Decodes the body (call after the signature checked; failures are the sender's fault).
    pub fn open(self, cache: &mut CommitmentCache) -> Result<Envelope, Reject> {
        let sender = self.sender;
        let body = Body::decode(self.kind, &self.body, cache)
            .map_err(|e| Reject::fault(sender, FaultReason::Malformed(e)))?;
        Ok(Envelope { raw: self, body })
    }
}

/// A message's unauthenticated header, as [`RawEnvelope::peek`] reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// The round digest the sender wrote.
    pub round: [u8; 32],
    /// The claimed sender.
    pub sender: Address,
    /// The recipient; `None`: broadcast.
    pub recipient: Option<Address>,
    /// Which body the bytes hold.
    pub kind: Kind,
    /// The body bytes, not decoded.
    pub body: &'a [u8],
}

/// A message with its decoded body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The envelope as signed and sent.
    pub raw: RawEnvelope,
    /// Its body, decoded.
    pub body: Body,
}

impl Envelope {
    /// Encodes and signs a body.
    pub fn sign(
        round: [u8; 32],
        sender: Address,
        recipient: Option<Address>,
        body: Body,
        key: &bn254::SecretKey,
    ) -> Self {
        let raw = RawEnvelope::sign(round, sender, recipient, body.kind(), body.encode(), key);
        Self { raw, body }
    }

    /// The wire encoding of the signed envelope.
    pub fn encode(&self) -> Vec<u8> {
        self.raw.encode()
    }

    /// Identity of the message: keccak of its full encoding.
    pub fn id(&self) -> [u8; 32] {
        keccak(&self.encode())
    }

    /// keccak of the body bytes (a log's hash in a dealer set).
    pub fn body_hash(&self) -> [u8; 32] {
        self.raw.body_hash
    }
}
