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
    /// by [`Session::with_signer`] from the owner's key, apps that ask for both).
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

/// A request-signing key, a response key and the end of their use, which TEE evidence is bound to.
pub struct Session {
    signer: EoaKey,
    response: Arc<EncryptionKey>,
    not_after: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Session({})", self.signer.address())
    }
}

/// A session's length in bytes: the signing key and the response key (32 bytes each), and the
/// end of its use (u64 big-endian).
pub const SESSION_BYTES: usize = 72;

/// The longest a session may last: the nodes refuse evidence whose `not_after` is further ahead.
pub const MAX_SESSION_SECS: u64 = kms_api::app::MAX_EVIDENCE_SECS;

impl Session {
    /// Fresh keys, usable until `not_after` (unix seconds; at most [`MAX_SESSION_SECS`] ahead of
    /// the nodes' clocks).
    pub fn random(rng: &mut (impl RngCore + CryptoRng), not_after: u64) -> Self {
        Self::with_signer(EoaKey::random(rng), rng, not_after)
    }

    /// Requests signed by `signer` (the owner's key, for apps that ask for both credentials) and a
    /// fresh response key.
    pub fn with_signer(
        signer: EoaKey,
        rng: &mut (impl RngCore + CryptoRng),
        not_after: u64,
    ) -> Self {
        Self {
            signer,
            response: Arc::new(EncryptionKey::random(rng)),
            not_after,
        }
    }

    /// Unix seconds after which the nodes refuse the session's evidence.
    pub fn not_after(&self) -> u64 {
        self.not_after
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
            0,
        );
        Ok(Sha256::digest(&preimage).into())
    }

    /// Both secret keys, for keeping a session between the binding and the decrypt.
    pub fn to_bytes(&self) -> Secret<[u8; SESSION_BYTES]> {
        let mut out = Secret::new([0u8; SESSION_BYTES]);
        let signing = zeroize::Zeroizing::new(self.signer.signing_key().to_bytes());
        let response = self.response.to_bytes();
        out.expose_mut(|o| {
            let (a, rest) = o.split_at_mut(32);
            let (b, t) = rest.split_at_mut(32);
            a.copy_from_slice(signing.as_slice());
            response.expose(|r| b.copy_from_slice(r));
            t.copy_from_slice(&self.not_after.to_be_bytes());
        });
        out
    }

    /// From [`Session::to_bytes`].
    pub fn from_bytes(bytes: &Secret<[u8; SESSION_BYTES]>) -> Result<Self> {
        let mut signing = Secret::new([0u8; 32]);
        let mut response = Secret::new([0u8; 32]);
        let mut not_after = [0u8; 8];
        bytes.expose(|b| {
            let (a, rest) = b.split_at(32);
            let (r, t) = rest.split_at(32);
            signing.expose_mut(|s| s.copy_from_slice(a));
            response.expose_mut(|s| s.copy_from_slice(r));
            not_after.copy_from_slice(t);
        });
        let signer = EoaKey::from_bytes(&signing)
            .map_err(|_| Error::Local("the session's signing key is not a secp256k1 key"))?;
        let response = response
            .expose(|r| EncryptionKey::from_bytes(r))
            .map_err(|_| Error::Local("the session's response key is malformed"))?;
        Ok(Self {
            signer,
            response: Arc::new(response),
            not_after: u64::from_be_bytes(not_after),
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

    #[test]
    fn session_bytes_round_trip_and_keep_the_binding() {
        let s = Session::random(&mut OsRng, 1_900_000_000);
        let back = Session::from_bytes(&s.to_bytes()).unwrap();
        assert_eq!(back.requester(), s.requester());
        assert_eq!(back.not_after(), 1_900_000_000);
        assert_eq!(
            back.binding(31337, "app").unwrap(),
            s.binding(31337, "app").unwrap()
        );
        // Bound to the chain, the app, the requester and the response key.
        assert_ne!(
            s.binding(1, "app").unwrap(),
            s.binding(31337, "app").unwrap()
        );
        assert_ne!(s.binding(1, "app").unwrap(), s.binding(1, "app2").unwrap());
        let other = Session::random(&mut OsRng, 1_900_000_000);
        assert_ne!(
            other.binding(1, "app").unwrap(),
            s.binding(1, "app").unwrap()
        );
        let same_signer = Session::with_signer(
            EoaKey::from_bytes(&Secret::new(s.signer.signing_key().to_bytes().into())).unwrap(),
            &mut OsRng,
            1_900_000_000,
        );
        assert_eq!(same_signer.requester(), s.requester());
        let later = Session::from_bytes(&{
            let mut b = s.to_bytes();
            b.expose_mut(|b| b[71] ^= 1);
            b
        })
        .unwrap();
        assert_ne!(
            later.binding(1, "app").unwrap(),
            s.binding(1, "app").unwrap()
        );
        assert_ne!(
            same_signer.binding(1, "app").unwrap(),
            s.binding(1, "app").unwrap()
        );
        assert!(s.binding(1, "bad id").is_err());
        assert!(Session::from_bytes(&Secret::new([0u8; SESSION_BYTES])).is_err());
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
