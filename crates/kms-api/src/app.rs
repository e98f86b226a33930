//! App ids: the name an application's key is derived from (`H(app_id)`), a URL path segment of
//! `/v1/apps/{app_id}/partial` and an EIP-712 string, so one plain alphabet everywhere.

use std::fmt;

/// The longest app id, in bytes (all ASCII).
pub const MAX_APP_ID_LEN: usize = 128;

/// Why a string is not an app id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppIdError {
    /// No characters.
    Empty,
    /// More than [`MAX_APP_ID_LEN`] bytes.
    TooLong,
    /// A character outside `[A-Za-z0-9._:-]`.
    BadCharacter,
}

impl AppIdError {
    /// The reason, completing "not an app id: ...".
    pub fn reason(self) -> &'static str {
        match self {
            Self::Empty => "it is empty",
            Self::TooLong => "it is longer than 128 characters",
            Self::BadCharacter => "only letters, digits and . _ : - are allowed",
        }
    }
}

impl fmt::Display for AppIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for AppIdError {}

/// Checks the rule: 1 to [`MAX_APP_ID_LEN`] characters from `[A-Za-z0-9._:-]`.
pub fn check_app_id(id: &str) -> Result<(), AppIdError> {
    if id.is_empty() {
        return Err(AppIdError::Empty);
    }
    if id.len() > MAX_APP_ID_LEN {
        return Err(AppIdError::TooLong);
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
    {
        return Err(AppIdError::BadCharacter);
    }
    Ok(())
}

/// An app id that follows the rule (see [`check_app_id`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AppId(String);

impl AppId {
    /// `id` if it follows the rule.
    pub fn new(id: &str) -> Result<Self, AppIdError> {
        check_app_id(id)?;
        Ok(Self(id.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The first bytes of an SEV-SNP release id's preimage (see [`snp_release_id`]).
pub const SNP_RELEASE_TAG: &[u8] = b"KMS_SNP_RELEASE_V1";

/// An approved SEV-SNP guest as a release policy lists it (in `KmsRegistry.appPolicy`'s
/// `approved`, beside image digests): `SHA-256("KMS_SNP_RELEASE_V1" ‖ measurement (48) ‖
/// HOST_DATA (32))`. The pair is approved only together: on some clouds the measurement covers
/// firmware and vCPU shape, and the workload is bound in HOST_DATA.
pub fn snp_release_id(measurement: &[u8; 48], host_data: &[u8; 32]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(SNP_RELEASE_TAG);
    h.update(measurement);
    h.update(host_data);
    h.finalize().into()
}

/// An approved container image as a release policy lists it: the 32 bytes of `sha256:<64 hex>`
/// (lowercase or uppercase hex); None for anything else.
pub fn image_release_id(digest: &str) -> Option<[u8; 32]> {
    let hex = digest.strip_prefix("sha256:")?;
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(hex.as_bytes().chunks(2)) {
        let digit = |c: u8| (c as char).to_digit(16);
        match pair {
            [hi, lo] => *o = (digit(*hi)? * 16 + digit(*lo)?) as u8,
            _ => return None,
        }
    }
    Some(out)
}

/// How far ahead of a node's clock evidence may set the end of its use (`not_after`): an hour,
/// the longest a Confidential Space token lives.
pub const MAX_EVIDENCE_SECS: u64 = 3600;

/// The first bytes of an attestation binding's preimage (see [`attestation_binding_preimage`]).
pub const ATTESTATION_BINDING_TAG: &[u8] = b"KMS_ATTESTATION_BINDING_V2";

/// What a TEE's evidence must commit to (its SHA-256 is the binding an attestation token's
/// `eat_nonce` or an SNP report's REPORT_DATA carries, docs 0012):
/// `"KMS_ATTESTATION_BINDING_V2" ‖ u64be(chain_id) ‖ requester (20 bytes) ‖ u16be(len(app_id)) ‖
/// app_id ‖ response_key (32 bytes) ‖ u64be(not_after) ‖ u64be(policy_block)`. `requester` is the
/// address whose EIP-712 `PartialRequest` carries the evidence: that signature names the node and
/// the epoch, so one piece of evidence serves every node, and no node can replay it at another.
/// `not_after` (unix seconds) ends the evidence's use, so that an SEV-SNP report, which carries
/// no time, expires too.
pub fn attestation_binding_preimage(
    chain_id: u64,
    requester: &[u8; 20],
    app_id: &AppId,
    response_key: &[u8; 32],
    not_after: u64,
    policy_block: u64,
) -> Vec<u8> {
    let id = app_id.as_str().as_bytes();
    // An app id is at most 128 bytes, so its length fits the u16.
    let len = id.len() as u16;
    let mut out = Vec::with_capacity(ATTESTATION_BINDING_TAG.len() + 8 + 20 + 2 + id.len() + 48);
    out.extend_from_slice(ATTESTATION_BINDING_TAG);
    out.extend_from_slice(&chain_id.to_be_bytes());
    out.extend_from_slice(requester);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(id);
    out.extend_from_slice(response_key);
    out.extend_from_slice(&not_after.to_be_bytes());
    out.extend_from_slice(&policy_block.to_be_bytes());
    out
}

/// The first bytes of the associated data a partial is sealed under (see [`partial_aad`]).
pub const PARTIAL_AAD_TAG: &[u8] = b"KMS_PARTIAL_V1";

/// The associated data a node seals its partial under:
/// `"KMS_PARTIAL_V1" ‖ u16be(len(app_id)) ‖ app_id ‖ node (20 bytes) ‖ u64be(epoch)`. It binds the
/// sealed partial to the app, the node and the epoch, so a reply cannot be passed off as another's.
pub fn partial_aad(app_id: &AppId, node: &[u8; 20], epoch: u64) -> Vec<u8> {
    let id = app_id.as_str().as_bytes();
    // An app id is at most 128 bytes, so its length fits the u16.
    let len = id.len() as u16;
    let mut aad = Vec::with_capacity(PARTIAL_AAD_TAG.len() + 2 + id.len() + 20 + 8);
    aad.extend_from_slice(PARTIAL_AAD_TAG);
    aad.extend_from_slice(&len.to_be_bytes());
    aad.extend_from_slice(id);
    aad.extend_from_slice(node);
    aad.extend_from_slice(&epoch.to_be_bytes());
    aad
}
