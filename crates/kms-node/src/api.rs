//! The node's HTTP API (docs 0008, "Wire contract"): protocol batches, the public view of epochs,
//! app partial signatures, health and metrics. Every failure is a status with a stable code.

use crate::chain::policy_block_usable;
use crate::driver::DriverMsg;
use crate::node::{address_of, unix_now, Node};
use crate::release::{Credential, Presented, Refusal, Release, OWNER_ONLY};
use crate::state::{Spend, Spent};
use alloy_primitives::{Address as EthAddress, B256};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kms_api::app::{attestation_binding_preimage, partial_aad, AppId, MAX_EVIDENCE_SECS};
use kms_api::batch::{decode_list, MAX_BATCH_BYTES, MAX_BATCH_ITEMS};
use kms_api::node::{
    AttestationEvidence, EpochAnswer, Healthz, LastRound, MpkAnswer, MpkOperator, OperatorFaults,
    PartialAnswer, PartialRequest as PartialBody, ProtocolAnswer, Rejected, ReleaseHead,
    ReleasesAnswer, RoundStatus, StatusAnswer, HEALTHZ_PATH, MAX_RELEASES_PAGE, MPK_PATH,
    PROTOCOL_PATH, STATUS_PATH,
};
use kms_api::releases::{ReleaseCredential, ReleaseEntry};
use kms_attest::{AttestError, Binding};
use kms_crypto::auth::{recover_signer, PartialRequest};
use kms_crypto::bls::partial_sign;
use kms_crypto::seal::{seal, EncryptionPublicKey};
use kms_crypto::Secret;
use kms_http::ApiError;
use kms_protocol::RawEnvelope;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

type Shared = Arc<Node>;

async fn protocol(
    State(node): State<Shared>,
    body: Bytes,
) -> Result<Json<ProtocolAnswer>, ApiError> {
    let msgs = decode_list(&body)
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "malformed", "bad batch framing"))?;
    if msgs.is_empty() || msgs.len() > MAX_BATCH_ITEMS {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            format!("a batch holds 1 to {MAX_BATCH_ITEMS} messages"),
        ));
    }
    let round = msgs
        .iter()
        .find_map(|m| RawEnvelope::peek(m).ok().map(|h| h.round))
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "malformed", "no message parses"))?;
    let unknown = || {
        ApiError::new(
            StatusCode::CONFLICT,
            "unknown_round",
            "not running that round",
        )
    };
    let tx = node.round_sender(&round).ok_or_else(unknown)?;
    let n = msgs.len();
    let (reply, rx) = tokio::sync::oneshot::channel();
    // A full queue is backpressure: the sender retries later, nothing piles up here.
    tx.try_send(DriverMsg::Batch { msgs, reply })
        .map_err(|e| match e {
            std::sync::mpsc::TrySendError::Full(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "round is busy")
            }
            std::sync::mpsc::TrySendError::Disconnected(_) => unknown(),
        })?;
    let rejects = tokio::time::timeout(Duration::from_secs(10), rx)
        .await
        .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "round is busy"))?
        .map_err(|_| unknown())?;
    let rejected: Vec<Rejected> = rejects
        .iter()
        .map(|(i, r)| Rejected {
            code: r.code().to_owned(),
            culprit: r.culprit().as_ref().map(address_of),
            index: *i as u64,
            reason: r.to_string(),
        })
        .collect();
    Ok(Json(ProtocolAnswer {
        accepted: (n - rejected.len()) as u64,
        rejected,
    }))
}

fn no_epoch() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "no_epoch",
        "no epoch is finalized yet",
    )
}

async fn mpk(State(node): State<Shared>) -> Result<Json<MpkAnswer>, ApiError> {
    let e = node.latest().ok_or_else(no_epoch)?;
    let members = node.members();
    let operators = e
        .cfg
        .players
        .iter()
        .zip(&e.public_shares)
        .map(|(o, share)| MpkOperator {
            address: address_of(&o.address),
            id: o.point.small(),
            public_share: share.clone(),
            url: members
                .iter()
                .find(|m| m.operator.address == o.address)
                .map(|m| m.url.clone()),
        })
        .collect();
    Ok(Json(MpkAnswer {
        certificate: hex0x(&e.record.certificate),
        commitment: hex0x(&e.record.public),
        epoch: e.record.epoch,
        mpk: hex0x(&e.public.public_key().to_bytes()),
        node: address_of(&node.cfg.address),
        operators,
        round: hex0x(&e.cfg.digest()),
        threshold: e.cfg.threshold as u64,
    }))
}

/// `0x`-prefixed lowercase hex, the wire's byte strings.
fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

async fn epoch(
    State(node): State<Shared>,
    Path(e): Path<String>,
) -> Result<Json<EpochAnswer>, ApiError> {
    let unknown = || ApiError::new(StatusCode::NOT_FOUND, "unknown_epoch", "epoch not held");
    let e: u64 = e.parse().map_err(|_| unknown())?;
    let ep = node.epoch(e).ok_or_else(unknown)?;
    Ok(Json(EpochAnswer {
        certificate: hex0x(&ep.record.certificate),
        config: hex0x(&ep.record.config),
        epoch: e,
        logs: ep.record.logs.iter().map(|l| hex0x(l)).collect(),
    }))
}

async fn status(State(node): State<Shared>) -> Json<StatusAnswer> {
    let latest = node.latest();
    let round = node.round_status().map(|(r, started)| RoundStatus {
        epoch: r.epoch,
        kind: r.kind.to_owned(),
        phase: r.phase.to_owned(),
        started_at: started,
    });
    let last_round = node.last_round().map(|l| LastRound {
        duration_ms: l.duration_ms,
        epoch: l.epoch,
        finished_at: l.finished_at,
        outcome: l.outcome.to_owned(),
    });
    let faults = node
        .faults()
        .into_iter()
        .map(|(op, reasons)| OperatorFaults {
            count: reasons.values().sum::<u64>(),
            operator: address_of(&op),
            reasons: reasons
                .into_iter()
                .map(|(code, n)| (code.to_owned(), n))
                .collect(),
        })
        .collect();
    Json(StatusAnswer {
        epoch: latest.as_ref().map(|e| e.record.epoch),
        faults,
        interval_secs: node.cfg.interval.as_secs(),
        last_round,
        members: node.members().len() as u64,
        node: address_of(&node.cfg.address),
        round,
        threshold: latest.as_ref().map(|e| e.cfg.threshold as u64),
    })
}

fn hex_bytes(text: &str, len: usize, what: &'static str) -> Result<Vec<u8>, ApiError> {
    let bad = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("{what} must be {len} bytes of 0x-prefixed hex"),
        )
    };
    let digits = text.strip_prefix("0x").ok_or_else(bad)?;
    let bytes = hex::decode(digits).map_err(|_| bad())?;
    if bytes.len() != len {
        return Err(bad());
    }
    Ok(bytes)
}

/// Token bucket per app id. Unknown ids are refused before this, so there is at most one
/// bucket per registered app.
fn rate_limit(node: &Node, app: &str) -> Result<(), ApiError> {
    if node.limiter.allow(app.to_string()) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many requests for this app",
    ))
}

async fn partial(State(node): State<Shared>, Path(app_id): Path<String>, body: Bytes) -> Response {
    let r = partial_inner(&node, &app_id, &body).await;
    node.metrics.partial(match &r {
        Ok(_) => "ok",
        Err(e) => e.code,
    });
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn partial_inner(
    node: &Shared,
    app_id: &str,
    body: &[u8],
) -> Result<PartialAnswer, ApiError> {
    let _slot = node.app_slots.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many app requests in flight",
        )
    })?;
    let app = AppId::new(app_id).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_app_id",
            "app ids are 1 to 128 characters from A-Z a-z 0-9 . _ : -",
        )
    })?;
    let b: PartialBody = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.to_string()))?;
    let now = unix_now();
    if b.deadline < now || b.deadline > now.saturating_add(node.cfg.max_request_validity_secs) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "expired",
            format!(
                "deadline must be between now and {} s from now",
                node.cfg.max_request_validity_secs
            ),
        ));
    }
    let response_key = hex_bytes(&b.response_key, 32, "response_key")?;
    let (owner, release) = release_at(node, app_id, b.policy_block).await?;
    // Every request is signed: by the owner, or by the requester the evidence is bound to (its
    // signature names this node and the epoch, so evidence cannot be replayed at another node).
    let signature = hex_bytes(&b.signature, 65, "signature")?;
    let req = PartialRequest {
        app_id: app_id.to_string(),
        response_key: B256::from_slice(&response_key),
        epoch: b.epoch,
        policy_block: b.policy_block,
        nonce: b.nonce,
        deadline: b.deadline,
        node: EthAddress::from(node.cfg.address),
    };
    let requester = recover_signer(&req.digest(node.cfg.chain_id), &signature)
        .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, "bad_signature", e.to_string()))?
        .into_array();
    if release.credential.owner() && requester != owner {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_owner",
            "the request is not signed by the app's owner",
        ));
    }
    let recipient = EncryptionPublicKey::from_bytes(&response_key).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "response_key is not a usable X25519 public key",
        )
    })?;
    if release.credential.attestation() && b.attestation.is_none() {
        return Err(refusal(Refusal::Required));
    }
    let ep = node
        .epoch(b.epoch)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "unknown_epoch", "epoch not held"))?;
    if ep.share.is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_epoch",
            "this node holds no share of that epoch",
        ));
    }
    // Verified before the nonce is spent, recorded after: a request refused for its evidence
    // costs its nonce nothing, and a spent nonce is the client's own.
    let credential = release.credential;
    let granted = if release.credential.attestation() {
        let presented = presented(b.attestation.as_ref())?;
        let not_after = b.attestation.as_ref().map_or(0, |e| e.not_after);
        // A minute of slack for a node whose clock is behind the app's.
        if not_after > now.saturating_add(MAX_EVIDENCE_SECS + 60) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "attestation_not_after_too_far",
                format!("attestation.not_after is more than {MAX_EVIDENCE_SECS} s ahead"),
            ));
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&response_key);
        let binding = Binding::of(&attestation_binding_preimage(
            node.cfg.chain_id,
            &requester,
            &app,
            &key,
            not_after,
            b.policy_block,
        ));
        // Signature and chain checks (RSA, P-384) off the async workers.
        let (n, release) = (node.clone(), release.into_owned());
        let check = tokio::task::spawn_blocking(move || {
            n.cfg
                .attestation
                .check(&release, presented.as_ref(), &binding, now, not_after)
        })
        .await
        .map_err(ApiError::internal)?;
        Some(check.map_err(refusal)?)
    } else {
        None
    };
    // One durable commit before anything derived from the share leaves: the nonce spent, the
    // evidence recorded as used for this epoch (one partial per piece of evidence, node and
    // epoch: a decrypt that meets a reshare asks again), the release appended to the log.
    let entry = ReleaseEntry {
        seq: 0,
        prev: [0; 32],
        app_id: app_id.to_string(),
        credential: match credential {
            Credential::Owner => ReleaseCredential::Owner,
            Credential::Attestation => ReleaseCredential::Attestation,
            Credential::Both => ReleaseCredential::Both,
        },
        requester,
        credential_hash: granted.map_or_else(|| Sha256::digest(&signature).into(), |g| g.id),
        release_id: granted.map_or([0; 32], |g| g.release),
        epoch: ep.record.epoch,
        policy_block: b.policy_block,
        response_key_hash: Sha256::digest(&response_key).into(),
        time: now,
    };
    let spend_nonce = b.nonce;
    let spend = Spend {
        app: app_id.to_string(),
        nonce: b.nonce,
        deadline: b.deadline,
        evidence: granted.map(|g| (g.id, ep.record.epoch, g.until)),
        entry,
    };
    let reused = || {
        ApiError::new(
            StatusCode::CONFLICT,
            "nonce_reused",
            "this nonce was already used for this app",
        )
    };
    // An app's budget is charged only by requests that carry its credential and a nonce not
    // used yet: neither a stranger nor a replay of a captured request can run it dry, and it
    // bounds how fast the app's owner (or evidence) can grow the release log.
    let (n, app_name) = (node.clone(), app_id.to_string());
    let used = tokio::task::spawn_blocking(move || n.store.nonce_used(&app_name, spend_nonce))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    if used {
        return Err(reused());
    }
    rate_limit(node, app_id)?;
    let n = node.clone();
    let spent = tokio::task::spawn_blocking(move || n.store.record_release(spend, now))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    match spent {
        Spent::Released(_) => {}
        Spent::NonceReused | Spent::Fresh => return Err(reused()),
        Spent::EvidenceReused => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "attestation_reused",
                "this evidence already released a partial for this epoch",
            ))
        }
    }
    let share = ep.share.as_ref().ok_or_else(no_epoch)?;
    let sig = partial_sign(share, app_id.as_bytes());
    let mut eph = Secret::new([0u8; 32]);
    eph.expose_mut(|e| OsRng.fill_bytes(e));
    let sealed = seal(
        &recipient,
        &sig.signature.to_bytes(),
        &partial_aad(&app, &node.cfg.address, ep.record.epoch),
        &eph,
    )
    .map_err(ApiError::internal)?;
    Ok(PartialAnswer {
        epoch: ep.record.epoch,
        id: share.point.small(),
        node: address_of(&node.cfg.address),
        sealed: hex0x(&sealed.to_bytes()),
    })
}

/// The app's owner and release policy: `node.toml`'s in static mode (where the policy block is
/// 0), the registry's in force at the request's policy block in chain mode. A policy block of 0
/// in chain mode reads the latest block, for apps released to their owner only.
async fn release_at<'a>(
    node: &'a Node,
    app_id: &str,
    policy_block: u64,
) -> Result<([u8; 20], std::borrow::Cow<'a, Release>), ApiError> {
    use std::borrow::Cow;
    let unknown = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "unknown_app",
            "no such app on this node",
        )
    };
    let Some(chain) = &node.chain else {
        if policy_block != 0 {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "policy_block is 0 in static mode",
            ));
        }
        let owner = node.cfg.apps.get(app_id).copied().ok_or_else(unknown)?;
        let release = node.cfg.release.get(app_id).unwrap_or(&OWNER_ONLY);
        return Ok((owner, Cow::Borrowed(release)));
    };
    let unavailable = |e: kms_chain::ChainError| {
        tracing::warn!("reading the app's release policy: {e}");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "chain_unavailable",
            "the registry cannot be read now; try again",
        )
    };
    let block = if policy_block == 0 {
        None
    } else {
        let head = chain.recent_head().await.map_err(unavailable)?;
        if !policy_block_usable(
            policy_block,
            head,
            chain.confirmations,
            chain.policy_max_age,
        ) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "policy_block_unusable",
                format!(
                    "policy_block must be between {} and {} (confirmed, at most {} blocks old)",
                    head.saturating_sub(chain.policy_max_age),
                    head.saturating_sub(chain.confirmations),
                    chain.policy_max_age
                ),
            ));
        }
        Some(policy_block)
    };
    let policy = chain
        .app_policy(app_id, block)
        .await
        .map_err(unavailable)?
        .ok_or_else(unknown)?;
    let release = Release::from_chain(&policy).ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "release_not_approved",
            "the app's release policy names a credential this node does not know",
        )
    })?;
    if block.is_none() && release.credential.attestation() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "policy_block_required",
            "this app's release policy asks for attestation: name a recent confirmed block",
        ));
    }
    Ok((policy.owner.into_array(), Cow::Owned(release)))
}

/// The request's evidence, decoded: a token, or an SNP report with its certificate.
fn presented(e: Option<&AttestationEvidence>) -> Result<Option<Presented>, ApiError> {
    let bad = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "attestation holds a token, or an snp_report (0x-hex) with its snp_cert (0x-hex)",
        )
    };
    let Some(e) = e else {
        return Ok(None);
    };
    let unhex = |t: &str| -> Result<Vec<u8>, ApiError> {
        hex::decode(t.strip_prefix("0x").ok_or_else(bad)?).map_err(|_| bad())
    };
    match (&e.token, &e.snp_report, &e.snp_cert) {
        (Some(t), None, None) => Ok(Some(Presented::Token(t.clone()))),
        (None, Some(r), Some(c)) => Ok(Some(Presented::Snp {
            report: unhex(r)?,
            cert: unhex(c)?,
        })),
        _ => Err(bad()),
    }
}

/// A refusal's answer: the verifier's stable code; 400 for evidence that does not parse, 403 for
/// genuine evidence the policy refuses, 401 for evidence that is not genuine or not for this
/// request.
fn refusal(r: Refusal) -> ApiError {
    match r {
        Refusal::Required => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "attestation_required",
            "this app's release asks for TEE evidence",
        ),
        Refusal::Unsupported => ApiError::new(
            StatusCode::BAD_REQUEST,
            "attestation_unsupported",
            "this node accepts no evidence of that kind",
        ),
        Refusal::NotApproved => ApiError::new(
            StatusCode::FORBIDDEN,
            "release_not_approved",
            "the evidence names a release this app does not approve",
        ),
        Refusal::Attest(e) => {
            let status = match e {
                AttestError::Malformed(_) => StatusCode::BAD_REQUEST,
                AttestError::DebugRefused | AttestError::PolicyRefused(_) => StatusCode::FORBIDDEN,
                _ => StatusCode::UNAUTHORIZED,
            };
            // The code says which check refused; the detail (policy values) stays in the log.
            tracing::debug!(code = e.code(), detail = %e, "attestation refused");
            ApiError::new(status, e.code(), "the evidence was refused")
        }
    }
}

/// `GET /v1/releases?from=S&limit=N` (from 1, limit up to 1000 by default and at most).
async fn releases(
    State(node): State<Shared>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<Json<ReleasesAnswer>, ApiError> {
    // Shares the app routes' cap on work in flight.
    let _slot = node.app_slots.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many app requests in flight",
        )
    })?;
    let (mut from, mut limit) = (1u64, MAX_RELEASES_PAGE);
    for pair in query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let bad = || {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the query takes from=<seq> and limit=<1..1000>",
            )
        };
        let (k, v) = pair.split_once('=').ok_or_else(bad)?;
        let v: u64 = v.parse().map_err(|_| bad())?;
        match k {
            "from" => from = v,
            "limit" if (1..=MAX_RELEASES_PAGE).contains(&v) => limit = v,
            _ => return Err(bad()),
        }
    }
    let n = node.clone();
    let (entries, head) = tokio::task::spawn_blocking(move || {
        n.store
            .releases(from, usize::try_from(limit).unwrap_or(usize::MAX))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok(Json(ReleasesAnswer {
        entries: entries.iter().map(|e| hex0x(e)).collect(),
        head: head.map(|(seq, hash)| ReleaseHead {
            hash: hex0x(&hash),
            seq,
        }),
        node: address_of(&node.cfg.address),
    }))
}

async fn healthz(State(node): State<Shared>) -> Json<Healthz> {
    Json(Healthz {
        epoch: node.latest().map(|e| e.record.epoch),
        status: "ok".to_owned(),
    })
}

async fn metrics(State(node): State<Shared>) -> Response {
    kms_http::metrics_response(node.metrics.render())
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no_route", "no such route")
}

/// The router. Protocol traffic has its own (large) body limit and no app limits; app routes
/// have a small body limit, a rate limit and a concurrency cap.
pub fn router(node: Shared) -> Router {
    let protocol_routes = Router::new().route(PROTOCOL_PATH, post(protocol)).layer(
        axum::extract::DefaultBodyLimit::max(MAX_BATCH_BYTES + 4 * MAX_BATCH_ITEMS),
    );
    let app_routes = Router::new()
        .route("/v1/apps/{app_id}/partial", post(partial))
        // Room for TEE evidence: an SNP report and its certificate in hex, or a token.
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024));
    Router::new()
        .merge(protocol_routes)
        .merge(app_routes)
        .route(MPK_PATH, get(mpk))
        .route(STATUS_PATH, get(status))
        .route("/v1/epochs/{epoch}", get(epoch))
        .route("/v1/releases", get(releases))
        .route(HEALTHZ_PATH, get(healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(15),
        ))
        .with_state(node)
}

#[cfg(test)]
mod tests;
