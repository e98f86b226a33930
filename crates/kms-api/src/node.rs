//! `kms-node`'s HTTP contract (docs 0008): the routes, and the body of each answer and request.
//!
//! | route                           | request          | answer             |
//! |---------------------------------|------------------|--------------------|
//! | `POST /v1/protocol`             | a batch (below)  | [`ProtocolAnswer`] |
//! | `GET /v1/mpk`                   |                  | [`MpkAnswer`]      |
//! | `GET /v1/epochs/{epoch}`        |                  | [`EpochAnswer`]    |
//! | `GET /v1/status`                |                  | [`StatusAnswer`]   |
//! | `POST /v1/apps/{app_id}/partial`| [`PartialRequest`] | [`PartialAnswer`] |
//! | `GET /healthz`                  |                  | [`Healthz`]        |
//!
//! A batch is [`crate::batch::encode_list`] of protocol envelopes. Errors are
//! [`crate::ErrorBody`].

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST`: a batch of protocol messages from a peer.
pub const PROTOCOL_PATH: &str = "/v1/protocol";
/// `GET`: the newest epoch held ([`MpkAnswer`]).
pub const MPK_PATH: &str = "/v1/mpk";
/// `GET`: the node's status ([`StatusAnswer`]).
pub const STATUS_PATH: &str = "/v1/status";
/// `GET`: the process runs ([`Healthz`]).
pub const HEALTHZ_PATH: &str = "/healthz";

/// `GET /v1/epochs/{epoch}`.
pub fn epoch_path(epoch: u64) -> String {
    format!("/v1/epochs/{epoch}")
}

/// What a node did with a batch of protocol messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolAnswer {
    /// How many messages of the batch were taken.
    pub accepted: u64,
    /// The messages that were not, with why.
    pub rejected: Vec<Rejected>,
}

/// One message of a batch that was not taken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// A stable code (`kms_protocol::Reject::code`).
    pub code: String,
    /// The operator a fault is proven against; `None` for a message that was only skipped.
    pub culprit: Option<String>,
    /// Its position in the batch.
    pub index: u64,
    /// Why, for people.
    pub reason: String,
}

/// The newest epoch a node holds: what a client needs to encrypt and to check partials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MpkAnswer {
    /// The epoch's certificate (`kms_protocol::Certificate` bytes).
    pub certificate: String,
    /// The epoch's public polynomial commitment; its constant term is `mpk`.
    pub commitment: String,
    /// The epoch.
    pub epoch: u64,
    /// The master public key (G2, compressed).
    pub mpk: String,
    /// The answering node's address.
    pub node: String,
    /// The epoch's players.
    pub operators: Vec<MpkOperator>,
    /// The digest of the round that built the epoch.
    pub round: String,
    /// How many partials recover a key.
    pub threshold: u64,
}

/// One player of an epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MpkOperator {
    /// The operator's address.
    pub address: String,
    /// Its evaluation point.
    pub id: Option<u64>,
    /// Its public share (G2, compressed), from the commitment.
    pub public_share: String,
    /// Where it serves, when the answering node knows it.
    pub url: Option<String>,
}

/// The part of [`MpkAnswer`] a node reads from its peers when it catches up: which epoch they
/// claim (everything else it checks from [`EpochAnswer`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochClaim {
    /// The epoch.
    pub epoch: u64,
}

/// What a node stores of a finalized epoch, enough for another node to check and adopt it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochAnswer {
    /// The epoch's certificate.
    pub certificate: String,
    /// The round config (`kms_protocol::RoundConfig` bytes).
    pub config: String,
    /// The epoch.
    pub epoch: u64,
    /// The dealer logs the certificate commits to.
    pub logs: Vec<String>,
}

/// A node's `GET /v1/status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusAnswer {
    /// The newest epoch held.
    pub epoch: Option<u64>,
    /// Faults the node has proven against operators since it started (absent from nodes
    /// before issue 15).
    #[serde(default)]
    pub faults: Vec<OperatorFaults>,
    /// Seconds between rounds (chain mode: the interval at the block time).
    pub interval_secs: u64,
    /// The last round the node finished.
    pub last_round: Option<LastRound>,
    /// How many operators the node counts as members.
    pub members: u64,
    /// The answering node's address.
    pub node: String,
    /// The round the node is running.
    pub round: Option<RoundStatus>,
    /// How many partials recover a key (the newest epoch's).
    pub threshold: Option<u64>,
}

/// Faults one node proved against one operator (each from a message the operator signed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorFaults {
    /// How many faults in all.
    pub count: u64,
    /// The operator's address (checksummed in the signer's requests).
    pub operator: String,
    /// By reason code (`equivocation`, `attempt_out_of_bounds`, `flood`, ...).
    pub reasons: BTreeMap<String, u64>,
}

/// The round a node is running.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundStatus {
    /// The epoch.
    pub epoch: u64,
    /// `dkg` or `reshare`.
    pub kind: String,
    /// `deals`, `acks`, `logs`, `agreement` or `done`.
    pub phase: String,
    /// Unix seconds.
    pub started_at: u64,
}

/// The last round a node finished.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRound {
    /// How long the round took.
    pub duration_ms: u64,
    /// The epoch.
    pub epoch: u64,
    /// Unix seconds.
    pub finished_at: u64,
    /// `finalized`, `failed` or `caught_up`.
    pub outcome: String,
}

/// An app's request for a node's partial signature on `H(app_id)`, signed by the app's owner
/// (EIP-712 `PartialRequest` in the node's domain version 2, docs 0008) or carrying TEE evidence
/// bound to it (docs 0012), or both, as the app's release policy asks. Hex fields stay text so the node checks them in its
/// own order and with its own error codes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialRequest {
    /// TEE evidence, for apps whose release policy asks for it (docs 0012).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<AttestationEvidence>,
    /// Unix seconds; the node refuses deadlines in the past or too far ahead.
    pub deadline: u64,
    /// The epoch whose share should sign (covered by the owner's signature and the evidence).
    pub epoch: u64,
    /// Spent once per app.
    pub nonce: u64,
    /// The block the release policy is read at (chain mode; 0 in static mode). Bound into the
    /// evidence with the response key, app, node and epoch.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub policy_block: u64,
    /// The X25519 key the partial is sealed to (32 bytes, 0x-hex).
    pub response_key: String,
    /// The 65-byte ECDSA signature (0x-hex) of the EIP-712 `PartialRequest`: by the app's owner,
    /// or (attestation only) by the requester the evidence is bound to.
    pub signature: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A partial request's TEE evidence: an attestation token, or an SEV-SNP report with its
/// VCEK/VLEK certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationEvidence {
    /// Unix seconds after which the evidence releases nothing (it is bound to it; at most an hour
    /// ahead).
    pub not_after: u64,
    /// The report's VCEK or VLEK certificate (0x-hex DER).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snp_cert: Option<String>,
    /// An SEV-SNP attestation report (0x-hex, 1184 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snp_report: Option<String>,
    /// A Google Confidential Space or Intel Trust Authority token (compact JWT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// A node's partial signature, sealed to the request's response key under
/// [`crate::app::partial_aad`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartialAnswer {
    /// The epoch.
    pub epoch: u64,
    /// The node's evaluation point in that epoch.
    pub id: Option<u64>,
    /// The answering node's address.
    pub node: String,
    /// The partial signature sealed to the response key (`kms_crypto::seal`), 0x-hex.
    pub sealed: String,
}

/// `GET /v1/releases?from=S&limit=N`: a stretch of the node's release log (docs 0012 §12).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasesAnswer {
    /// Entries `from` on (at most `limit`, at most [`MAX_RELEASES_PAGE`]), each
    /// `kms_api::releases::ReleaseEntry::encode` as 0x-hex.
    pub entries: Vec<String>,
    /// The log's last entry; `null` while the log is empty.
    pub head: Option<ReleaseHead>,
    /// The answering node's address.
    pub node: String,
}

/// The last entry of a release log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseHead {
    /// SHA-256 of its encoding (0x-hex).
    pub hash: String,
    /// Its position.
    pub seq: u64,
}

/// The most entries one `GET /v1/releases` answers.
pub const MAX_RELEASES_PAGE: u64 = 1000;

/// `GET /healthz`: the process runs; the newest epoch, if any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Healthz {
    /// The epoch.
    pub epoch: Option<u64>,
    /// `ok`.
    pub status: String,
}
