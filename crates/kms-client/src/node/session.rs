//! What a decrypt presents to the nodes (docs 0012): the owner's signature, or TEE evidence bound
//! to a session.
//!
//! An app inside its TEE makes a [`Session`] (a throwaway request-signing key and a response key),
//! asks its platform for evidence whose nonce is [`Session::binding`], and decrypts with
//! [`Credential::Attested`]. The one piece of evidence serves every node: each request is signed by
//! the session key for the node it goes to, so a node cannot replay it at another.

use crate::{Error, Result};
use kms_api::app::{attestation_binding_preimage, AppId};
use kms_api::node::AttestationEvidence;
use kms_crypto::auth::EoaKey;
use kms_crypto::seal::EncryptionKey;
use kms_crypto::Secret;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// How a decrypt proves it may have the app's key.
#[derive(Clone, Copy, Debug)]
pub enum Credential<'a> {
    /// The app owner's EIP-712 signature (apps released to their owner).
    Owner(&'a EoaKey),
    /// TEE evidence bound to `session` (apps released to attested images; with a session made
    /// by [`Session::with_owner`], apps that ask for both).
    Attested {
        /// The session the evidence is bound to.
        session: &'a Session,
        /// The evidence its TEE made for [`Session::binding`].
        evidence: &'a Evidence,
    },
}

/// TEE evidence as a platform hands it out.
#[derive(Clone, PartialEq, Eq)]
pub enum Evidence {
    /// A Google Confidential Space or Intel Trust Authority token (compact JWT).
    Token(String),
    /// An SEV-SNP attestation report with its VCEK or VLEK certificate (DER).
    Snp {
        /// The report (1184 bytes).
        report: Vec<u8>,
        /// The certificate.
        cert: Vec<u8>,
    },
}

impl std::fmt::Debug for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Token(t) => write!(f, "Evidence::Token({} bytes)", t.len()),
            Self::Snp { report, cert } => write!(
                f,
                "Evidence::Snp({} bytes, certificate {} bytes)",
                report.len(),
                cert.len()
            ),
        }
    }
}

impl Credential<'_> {
    /// The key that signs each node's request.
    pub(super) fn signer(&self) -> &EoaKey {
        match self {
            Self::Owner(k) => k,
            Self::Attested { session, .. } => &session.signer,
        }
    }

    /// The key partials are sealed to: the session's, or a fresh one per request.
    pub(super) fn response_key(&self, rng: &mut (impl RngCore + CryptoRng)) -> Arc<EncryptionKey> {
        match self {
            Self::Owner(_) => Arc::new(EncryptionKey::random(rng)),
            Self::Attested { session, .. } => session.response.clone(),
        }
    }

    /// The block the nodes read the release policy at (0: static mode, or the latest block for
    /// an app released to its owner).
    pub(super) fn policy_block(&self) -> u64 {
        match self {
            Self::Owner(_) => 0,
            Self::Attested { session, .. } => session.policy_block,
        }
    }

    /// The evidence each request carries, with the end of its use that it is bound to.
    pub(super) fn evidence(&self) -> Option<AttestationEvidence> {
        let Self::Attested { session, evidence } = self else {
            return None;
        };
        let hex0x = |b: &[u8]| format!("0x{}", hex::encode(b));
        Some(match evidence {
            Evidence::Token(t) => AttestationEvidence {
                not_after: session.not_after,
                token: Some(t.clone()),
                snp_report: None,
                snp_cert: None,
            },
            Evidence::Snp { report, cert } => AttestationEvidence {
                not_after: session.not_after,
                token: None,
                snp_report: Some(hex0x(report)),
                snp_cert: Some(hex0x(cert)),
            },
        })
    }
}

/// A request-signing key, a response key, the end of their use and the block the release policy
/// is read at: what TEE evidence is bound to.
pub struct Session {
    signer: EoaKey,
    /// The signer is the app owner's own key, which a saved session leaves out.
    owner_signs: bool,
    response: Arc<EncryptionKey>,
    not_after: u64,
    policy_block: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Session({})", self.signer.address())
    }
}

/// A saved session's length in bytes: a flag (1: the owner's key signs, and is not saved), the
/// signing key (zeros when the owner's), the response key, the end of its use and the policy
/// block (u64 big-endian each).
pub const SESSION_BYTES: usize = 1 + 32 + 32 + 8 + 8;

/// The longest a session may last: the nodes refuse evidence whose `not_after` is further ahead.
pub const MAX_SESSION_SECS: u64 = kms_api::app::MAX_EVIDENCE_SECS;

impl Session {
    /// Fresh keys, usable until `not_after` (unix seconds, in the future and at most
    /// [`MAX_SESSION_SECS`] ahead: evidence for a later time would lie dormant until then).
    pub fn random(rng: &mut (impl RngCore + CryptoRng), not_after: u64) -> Result<Self> {
        let signer = EoaKey::random(rng);
        Self::make(signer, false, rng, not_after)
    }

    /// Requests signed by the app owner's key (apps that ask for both credentials) and a fresh
    /// response key; the owner's key is never saved with the session.
    pub fn with_owner(
        owner: EoaKey,
        rng: &mut (impl RngCore + CryptoRng),
        not_after: u64,
    ) -> Result<Self> {
        Self::make(owner, true, rng, not_after)
    }

    fn make(
        signer: EoaKey,
        owner_signs: bool,
        rng: &mut (impl RngCore + CryptoRng),
        not_after: u64,
    ) -> Result<Self> {
        let now =
            kms_api::time::try_unix_now().ok_or(Error::Local("the system clock is before 1970"))?;
        if not_after <= now || not_after > now.saturating_add(MAX_SESSION_SECS) {
            return Err(Error::Local(
                "a session ends in the future, at most an hour from now",
            ));
        }
        Ok(Self {
            signer,
            owner_signs,
            response: Arc::new(EncryptionKey::random(rng)),
            not_after,
            policy_block: 0,
        })
    }

    /// The same session with the release policy read at `block` (chain mode: a recent confirmed
    /// block; 0, the default, in static mode).
    pub fn at_policy_block(mut self, block: u64) -> Self {
        self.policy_block = block;
        self
    }

    /// Unix seconds after which the nodes refuse the session's evidence.
    pub fn not_after(&self) -> u64 {
        self.not_after
    }

    /// The block the nodes read the release policy at.
    pub fn policy_block(&self) -> u64 {
        self.policy_block
    }

    /// The address that signs the session's requests.
    pub fn requester(&self) -> alloy_primitives::Address {
        self.signer.address()
    }

    /// The 32 bytes the evidence must carry (an attestation token's `eat_nonce`, an SEV-SNP
    /// report's first 32 bytes of REPORT_DATA) for `app_id` at nodes of chain `chain_id`.
    pub fn binding(&self, chain_id: u64, app_id: &str) -> Result<[u8; 32]> {
        let app = AppId::new(app_id).map_err(|e| Error::InvalidAppId(e.reason()))?;
        let preimage = attestation_binding_preimage(
            chain_id,
            &self.signer.address().into_array(),
            &app,
            &self.response.public().to_bytes(),
            self.not_after,
            self.policy_block,
        );
        Ok(Sha256::digest(&preimage).into())
    }

    /// The session's secrets, for keeping it between the binding and the decrypt (the owner's
    /// key left out).
    pub fn to_bytes(&self) -> Secret<[u8; SESSION_BYTES]> {
        let mut out = Secret::new([0u8; SESSION_BYTES]);
        let signing = zeroize::Zeroizing::new(self.signer.signing_key().to_bytes());
        let response = self.response.to_bytes();
        out.expose_mut(|o| {
            let (flag, rest) = o.split_at_mut(1);
            let (a, rest) = rest.split_at_mut(32);
            let (b, rest) = rest.split_at_mut(32);
            let (t, p) = rest.split_at_mut(8);
            flag.copy_from_slice(&[u8::from(self.owner_signs)]);
            if !self.owner_signs {
                a.copy_from_slice(signing.as_slice());
            }
            response.expose(|r| b.copy_from_slice(r));
            t.copy_from_slice(&self.not_after.to_be_bytes());
            p.copy_from_slice(&self.policy_block.to_be_bytes());
        });
        out
    }

    /// From [`Session::to_bytes`]; `owner` is the owner's key for a session it signs (and must
    /// be None otherwise).
    pub fn from_bytes(bytes: &Secret<[u8; SESSION_BYTES]>, owner: Option<EoaKey>) -> Result<Self> {
        let mut signing = Secret::new([0u8; 32]);
        let mut response = Secret::new([0u8; 32]);
        let (mut flag, mut not_after, mut policy_block) = (0u8, [0u8; 8], [0u8; 8]);
        bytes.expose(|b| {
            let (f, rest) = b.split_at(1);
            let (a, rest) = rest.split_at(32);
            let (r, rest) = rest.split_at(32);
            let (t, p) = rest.split_at(8);
            flag = f.first().copied().unwrap_or(0xff);
            signing.expose_mut(|s| s.copy_from_slice(a));
            response.expose_mut(|s| s.copy_from_slice(r));
            not_after.copy_from_slice(t);
            policy_block.copy_from_slice(p);
        });
        let (signer, owner_signs) = match (flag, owner) {
            (0, None) => (
                EoaKey::from_bytes(&signing).map_err(|_| {
                    Error::Local("the session's signing key is not a secp256k1 key")
                })?,
                false,
            ),
            (1, Some(owner)) => (owner, true),
            (1, None) => {
                return Err(Error::Local(
                    "this session is signed by the owner's key: give it",
                ))
            }
            (0, Some(_)) => {
                return Err(Error::Local(
                    "this session has its own signing key: give no owner key",
                ))
            }
            _ => return Err(Error::Local("not a saved session")),
        };
        let response = response
            .expose(|r| EncryptionKey::from_bytes(r))
            .map_err(|_| Error::Local("the session's response key is malformed"))?;
        Ok(Self {
            signer,
            owner_signs,
            response: Arc::new(response),
            not_after: u64::from_be_bytes(not_after),
            policy_block: u64::from_be_bytes(policy_block),
        })
    }
}

/// Reads evidence as a TEE hands it out: a compact JWT (Confidential Space, Intel Trust
/// Authority), or JSON `{"snp_report": hex, "snp_cert": hex}` for an SEV-SNP report with its
/// VCEK or VLEK certificate (DER). Surrounding whitespace and `0x` are ignored.
pub fn evidence_from_text(text: &str) -> Result<Evidence> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SnpJson {
        snp_report: String,
        snp_cert: String,
    }
    let text = text.trim();
    if text.starts_with('{') {
        let bad = || Error::Local("evidence JSON is not {\"snp_report\": hex, \"snp_cert\": hex}");
        let e: SnpJson = serde_json::from_str(text).map_err(|_| bad())?;
        let bytes = |h: &str| hex::decode(h.strip_prefix("0x").unwrap_or(h)).map_err(|_| bad());
        return Ok(Evidence::Snp {
            report: bytes(&e.snp_report)?,
            cert: bytes(&e.snp_cert)?,
        });
    }
    let jwt = text.split('.').count() == 3
        && text
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
    if !jwt {
        return Err(Error::Local(
            "evidence is neither a compact JWT nor SEV-SNP JSON",
        ));
    }
    Ok(Evidence::Token(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    fn soon() -> u64 {
        kms_api::time::try_unix_now().unwrap() + 600
    }

    #[test]
    fn session_bytes_round_trip_and_keep_the_binding() {
        let s = Session::random(&mut OsRng, soon())
            .unwrap()
            .at_policy_block(77);
        let back = Session::from_bytes(&s.to_bytes(), None).unwrap();
        assert_eq!(back.requester(), s.requester());
        assert_eq!((back.not_after(), back.policy_block()), (s.not_after(), 77));
        assert_eq!(
            back.binding(31337, "app").unwrap(),
            s.binding(31337, "app").unwrap()
        );
        // Bound to the chain, the app, the requester, the response key, the end and the block.
        let b = |s: &Session| s.binding(1, "app").unwrap();
        assert_ne!(s.binding(31337, "app").unwrap(), b(&s));
        assert_ne!(s.binding(1, "app2").unwrap(), b(&s));
        assert_ne!(b(&Session::random(&mut OsRng, soon()).unwrap()), b(&s));
        let other_block = Session::from_bytes(&s.to_bytes(), None)
            .unwrap()
            .at_policy_block(78);
        assert_ne!(b(&other_block), b(&s));
        let later = Session::from_bytes(
            &{
                let mut bytes = s.to_bytes();
                bytes.expose_mut(|b| b[72] ^= 1);
                bytes
            },
            None,
        )
        .unwrap();
        assert_ne!(b(&later), b(&s));
        assert!(s.binding(1, "bad id").is_err());
        assert!(Session::from_bytes(&Secret::new([0u8; SESSION_BYTES]), None).is_err());
    }

    #[test]
    fn an_owner_signed_session_never_saves_the_owner_key() {
        let owner_bytes = Secret::new([9u8; 32]);
        let owner = || EoaKey::from_bytes(&owner_bytes).unwrap();
        let s = Session::with_owner(owner(), &mut OsRng, soon()).unwrap();
        assert_eq!(s.requester(), owner().address());
        let saved = s.to_bytes();
        saved.expose(|b| {
            assert_eq!(b[0], 1);
            assert!(
                b[1..33].iter().all(|&x| x == 0),
                "the owner's key is not saved"
            );
        });
        assert!(
            Session::from_bytes(&saved, None).is_err(),
            "needs the owner's key"
        );
        let back = Session::from_bytes(&saved, Some(owner())).unwrap();
        assert_eq!(
            back.binding(1, "app").unwrap(),
            s.binding(1, "app").unwrap()
        );
        // A session with its own key refuses an owner key (it would sign as someone else).
        let own = Session::random(&mut OsRng, soon()).unwrap().to_bytes();
        assert!(Session::from_bytes(&own, Some(owner())).is_err());
    }

    #[test]
    fn sessions_end_in_the_next_hour() {
        let now = kms_api::time::try_unix_now().unwrap();
        assert!(Session::random(&mut OsRng, now).is_err(), "already over");
        assert!(
            Session::random(&mut OsRng, now + MAX_SESSION_SECS + 5).is_err(),
            "dormant evidence"
        );
        assert!(Session::random(&mut OsRng, now + MAX_SESSION_SECS - 5).is_ok());
    }

    #[test]
    fn evidence_is_read_as_a_token_or_snp_json() {
        let t = evidence_from_text(" eyJh.eyJi.c2ln\n").unwrap();
        assert_eq!(t, Evidence::Token("eyJh.eyJi.c2ln".into()));
        let s = evidence_from_text(r#"{"snp_report":"0x01","snp_cert":"02"}"#).unwrap();
        assert_eq!(
            s,
            Evidence::Snp {
                report: vec![1],
                cert: vec![2]
            }
        );
        for bad in [
            r#"{"snp_report":"0xzz","snp_cert":"02"}"#,
            "",
            "a.b",
            "a.b.c.d",
            "a b.c.d",
            r#"{"snp_report":"0x01"}"#,
            r#"{"snp_report":"0x01","snp_cert":"0x02","token":"a.b.c"}"#,
            r#"{"other":1}"#,
        ] {
            assert!(evidence_from_text(bad).is_err(), "{bad:?}");
        }
    }
}
