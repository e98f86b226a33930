//! A node's release log (docs 0012 §12): every partial a node releases, one entry each, each entry
//! naming the hash of the one before, so a node cannot drop or rewrite a past release without
//! changing every later hash. The encoding is pinned by a golden test; the hash is SHA-256 of it.

use sha2::{Digest, Sha256};

/// The first bytes of an entry's encoding.
pub const RELEASE_ENTRY_TAG: &[u8] = b"KMS_RELEASE_V1";

/// What released a partial.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseCredential {
    /// The owner's EIP-712 signature.
    Owner = 1,
    /// TEE evidence of an approved release.
    Attestation = 2,
    /// Both.
    Both = 3,
}

impl ReleaseCredential {
    /// From its byte in the encoding.
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(Self::Owner),
            2 => Some(Self::Attestation),
            3 => Some(Self::Both),
            _ => None,
        }
    }

    /// Its name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Attestation => "attestation",
            Self::Both => "both",
        }
    }
}

/// One released partial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseEntry {
    /// Its position in the node's log, from 1.
    pub seq: u64,
    /// The hash of entry `seq - 1` (zeros for the first).
    pub prev: [u8; 32],
    /// The app.
    pub app_id: String,
    /// What released it.
    pub credential: ReleaseCredential,
    /// Who signed the request: the owner, or the session key the evidence is bound to.
    pub requester: [u8; 20],
    /// The credential's fingerprint: SHA-256 of the request's signature (a request id), and for
    /// evidence its unique id (`kms_attest::Claims::unique_id`) instead.
    pub credential_hash: [u8; 32],
    /// The approved release the evidence named (`image_release_id`, `snp_release_id`); zeros when
    /// none was needed.
    pub release_id: [u8; 32],
    /// The epoch whose share signed.
    pub epoch: u64,
    /// The block the release policy was read at (0: static mode, or the latest block).
    pub policy_block: u64,
    /// SHA-256 of the response key the partial was sealed to.
    pub response_key_hash: [u8; 32],
    /// Unix seconds.
    pub time: u64,
}

/// An encoding that is not an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadEntry;

impl ReleaseEntry {
    /// `"KMS_RELEASE_V1" ‖ u64be(seq) ‖ prev ‖ u16be(len app) ‖ app ‖ u8(credential) ‖
    /// requester (20) ‖ credential_hash ‖ release_id ‖ u64be(epoch) ‖ u64be(policy_block) ‖
    /// response_key_hash ‖ u64be(time)`.
    pub fn encode(&self) -> Vec<u8> {
        let app = self.app_id.as_bytes();
        let mut out =
            Vec::with_capacity(RELEASE_ENTRY_TAG.len() + 8 + 32 + 2 + app.len() + 1 + 20 + 128);
        out.extend_from_slice(RELEASE_ENTRY_TAG);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.prev);
        // App ids are at most 128 bytes (`AppId`).
        out.extend_from_slice(&(app.len() as u16).to_be_bytes());
        out.extend_from_slice(app);
        out.push(self.credential as u8);
        out.extend_from_slice(&self.requester);
        out.extend_from_slice(&self.credential_hash);
        out.extend_from_slice(&self.release_id);
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&self.policy_block.to_be_bytes());
        out.extend_from_slice(&self.response_key_hash);
        out.extend_from_slice(&self.time.to_be_bytes());
        out
    }

    /// The inverse of [`ReleaseEntry::encode`]; the whole input must be one entry.
    pub fn decode(bytes: &[u8]) -> Result<Self, BadEntry> {
        let mut r = Reader(bytes);
        if r.take(RELEASE_ENTRY_TAG.len())? != RELEASE_ENTRY_TAG {
            return Err(BadEntry);
        }
        let seq = r.u64()?;
        let prev = r.array()?;
        let len = u16::from_be_bytes(r.array()?) as usize;
        let app_id = std::str::from_utf8(r.take(len)?)
            .map_err(|_| BadEntry)?
            .to_owned();
        crate::app::check_app_id(&app_id).map_err(|_| BadEntry)?;
        let [c] = r.array()?;
        let credential = ReleaseCredential::from_byte(c).ok_or(BadEntry)?;
        let e = Self {
            seq,
            prev,
            app_id,
            credential,
            requester: r.array()?,
            credential_hash: r.array()?,
            release_id: r.array()?,
            epoch: r.u64()?,
            policy_block: r.u64()?,
            response_key_hash: r.array()?,
            time: r.u64()?,
        };
        if !r.0.is_empty() {
            return Err(BadEntry);
        }
        Ok(e)
    }

    /// SHA-256 of the encoding: what the next entry's `prev` names.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.encode()).into()
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BadEntry> {
        if self.0.len() < n {
            return Err(BadEntry);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], BadEntry> {
        self.take(N)?.try_into().map_err(|_| BadEntry)
    }

    fn u64(&mut self) -> Result<u64, BadEntry> {
        Ok(u64::from_be_bytes(self.array()?))
    }
}

/// Why a list of entries is not a stretch of one log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainBreak {
    /// Entry `seq` does not follow the one before it (a gap, or a `prev` that is not its hash).
    Broken {
        /// The entry that does not follow.
        seq: u64,
    },
    /// The log does not reach the head it must have (`seq`, `hash`).
    HeadMismatch {
        /// The head's position.
        seq: u64,
    },
}

/// Checks that `entries` are consecutive entries of one log, each naming the hash of the one
/// before (the first one's `prev` is taken on trust unless it is entry 1, whose `prev` must be
/// zeros), and, if a `head` (seq, hash) is given that falls within them, that the entry there
/// hashes to it. Returns the hash of the last entry.
pub fn check_chain(
    entries: &[ReleaseEntry],
    head: Option<(u64, [u8; 32])>,
) -> Result<Option<[u8; 32]>, ChainBreak> {
    let mut last: Option<(u64, [u8; 32])> = None;
    for e in entries {
        let follows = match last {
            None => e.seq > 1 || e.prev == [0; 32],
            Some((seq, hash)) => e.seq == seq.wrapping_add(1) && e.prev == hash,
        };
        if !follows || e.seq == 0 {
            return Err(ChainBreak::Broken { seq: e.seq });
        }
        let hash = e.hash();
        if let Some((hseq, hhash)) = head {
            if hseq == e.seq && hhash != hash {
                return Err(ChainBreak::HeadMismatch { seq: hseq });
            }
        }
        last = Some((e.seq, hash));
    }
    Ok(last.map(|(_, h)| h))
}
