//! Attestation verifiers for the threshold network's production release path (issue 18): a
//! node releases an app's partial signature only to a request whose evidence proves it comes
//! from a TEE running an approved release. Each verifier takes the evidence and the binding the
//! request must commit to, and answers the claims a release policy decides on, or a refusal
//! with a stable code.
//!
//! - [`jwt`]: Google Confidential Space attestation tokens, and Intel Trust Authority's tokens
//!   for Confidential Space TDX workloads (JWT, keys from the issuer's JWKS);
//! - [`snp`]: AMD SEV-SNP attestation reports, checked through the VCEK/VLEK certificate to
//!   AMD's roots (shipped in `roots/`).
//!
//! Verification only: nothing here reaches the network, and no decision about which image may
//! have which key is taken here (that is the release policy's).

pub mod jwt;
pub mod snp;

/// 32 bytes the evidence must commit to: the caller's digest of the request (response key, app
/// id, epoch, policy block), so evidence made for one request is useless for another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding(pub [u8; 32]);

impl Binding {
    /// The binding of a preimage: its SHA-256 (the node's preimage is
    /// `kms_api::app::attestation_binding_preimage`).
    pub fn of(preimage: &[u8]) -> Self {
        use sha2::Digest as _;
        Self(sha2::Sha256::digest(preimage).into())
    }
}

/// The platform that vouched for the evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Platform {
    /// A Confidential Space workload, per Google's attestation verifier.
    ConfidentialSpace {
        /// The token's `hwmodel` (`GCP_AMD_SEV`, `GCP_INTEL_TDX`, ...).
        hwmodel: String,
    },
    /// A Confidential Space workload, per Intel Trust Authority.
    IntelTrustAuthority {
        /// The token's `hwmodel` (`INTEL_TDX`).
        hwmodel: String,
    },
    /// An AMD SEV-SNP guest (report signed by a VCEK or VLEK of this processor generation).
    SevSnp {
        /// `Milan`, `Genoa` or `Turin`.
        product: &'static str,
        /// Signed by a VLEK (a key AMD issued to a cloud provider) rather than the chip's VCEK.
        vlek: bool,
    },
}

/// What verified evidence says, for the release policy to decide on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// Who vouched.
    pub platform: Platform,
    /// The container image digest (`sha256:<hex>`), for platforms that measure images.
    pub image_digest: Option<String>,
    /// The launch measurement, for platforms that measure the guest (SNP: 48 bytes).
    pub measurement: Option<Vec<u8>>,
    /// SNP's HOST_DATA (32 bytes): what the launcher bound to the guest at launch (e.g. the
    /// workload's policy or init-data digest). The measurement alone covers firmware and vCPU
    /// shape on some clouds, not the workload, so releases approve the pair.
    pub host_data: Option<Vec<u8>>,
    /// Whether the TEE runs in debug mode (its memory readable by the host). Refused unless the
    /// verifier's policy allows it, so `true` here means the policy allowed it.
    pub debug: bool,
    /// Unix seconds after which the evidence is no longer accepted (a token's `exp` plus the
    /// tolerated skew); `None` when the evidence
    /// carries no time (an SNP report), so freshness rests on the binding alone.
    pub expires_at: Option<u64>,
    /// What identifies this piece of evidence, to record it as used: SHA-256 of what its issuer
    /// signed (a token's header and payload, a report's first 0x2A0 bytes), so re-encoding the
    /// signature does not make it new.
    pub unique_id: [u8; 32],
}

/// Why evidence was refused. Each variant has a stable [`code`](AttestError::code).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AttestError {
    /// The evidence does not parse (wrong length, bad encoding, a field outside its range).
    #[error("malformed evidence: {0}")]
    Malformed(String),
    /// The token's algorithm is not one its issuer signs with (`none`, HMAC, ...).
    #[error("algorithm {0} refused")]
    AlgorithmRefused(String),
    /// The token names no key of the issuer's key set (by `kid` and algorithm).
    #[error("unknown key {0}")]
    UnknownKey(String),
    /// The key is an RSA key shorter than 2048 bits.
    #[error("RSA key of {0} bits refused")]
    WeakKey(usize),
    /// The token's issuer is not the expected one.
    #[error("wrong issuer")]
    WrongIssuer,
    /// The token's audience is not the expected one.
    #[error("wrong audience")]
    WrongAudience,
    /// The token expired (beyond the tolerated skew).
    #[error("expired")]
    Expired,
    /// The token is not valid yet (`nbf` or `iat` ahead of the clock beyond the skew).
    #[error("not yet valid")]
    NotYetValid,
    /// A certificate does not chain to a known root, or is outside its validity.
    #[error("certificate chain refused: {0}")]
    BadChain(String),
    /// The evidence's signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// The evidence does not commit to the request's binding.
    #[error("evidence is bound to another request")]
    BindingMismatch,
    /// The TEE runs in debug mode and the policy does not allow it.
    #[error("debug mode refused")]
    DebugRefused,
    /// The evidence verified but breaks the verifier's policy (migration agent, VMPL, ...).
    #[error("policy refused: {0}")]
    PolicyRefused(String),
}

impl AttestError {
    /// The stable code of this refusal.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "attestation_malformed",
            Self::AlgorithmRefused(_) => "attestation_algorithm_refused",
            Self::UnknownKey(_) => "attestation_unknown_key",
            Self::WeakKey(_) => "attestation_weak_key",
            Self::WrongIssuer => "attestation_wrong_issuer",
            Self::WrongAudience => "attestation_wrong_audience",
            Self::Expired => "attestation_expired",
            Self::NotYetValid => "attestation_not_yet_valid",
            Self::BadChain(_) => "attestation_bad_chain",
            Self::BadSignature => "attestation_bad_signature",
            Self::BindingMismatch => "attestation_binding_mismatch",
            Self::DebugRefused => "attestation_debug_refused",
            Self::PolicyRefused(_) => "attestation_policy_refused",
        }
    }
}

/// Evidence as a request carries it.
#[derive(Clone, Copy, Debug)]
pub enum Evidence<'a> {
    /// An attestation token (a JWT, compact form).
    Token(&'a str),
    /// An SEV-SNP attestation report (0x4A0 bytes) and the DER certificate of the key that
    /// signed it (VCEK or VLEK).
    SnpReport {
        /// The raw report.
        report: &'a [u8],
        /// The VCEK or VLEK certificate, DER.
        cert: &'a [u8],
    },
}

/// One kind of attestation: evidence and the binding it must commit to, at Unix time `now`,
/// give the claims or a refusal.
pub trait Verifier: Send + Sync {
    /// Verifies `evidence` for the request bound by `binding`.
    fn verify(
        &self,
        evidence: &Evidence<'_>,
        binding: &Binding,
        now: u64,
    ) -> Result<Claims, AttestError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The binding of the preimage pinned in kms-api's golden tests, its SHA-256 computed with
    /// Python's hashlib.
    #[test]
    fn binding_is_pinned() {
        let preimage = hex::decode(concat!(
            "4b4d535f4154544553544154494f4e5f42494e44494e475f5631",
            "0000000000007a69",
            "00000000000000000000000000000000000000aa",
            "0003",
            "617070",
            "1100000000000000000000000000000000000000000000000000000000000022",
            "0000000000000007",
            "0000000001020304"
        ))
        .unwrap_or_default();
        assert_eq!(preimage.len(), 107);
        assert_eq!(
            hex::encode(Binding::of(&preimage).0),
            "317f2f14b6ae883e85a444774dfeda1c0a09d171ba2879fc9a0ef2fec3d63dbd"
        );
    }
}
