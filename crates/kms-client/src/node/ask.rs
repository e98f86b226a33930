//! One signed partial request per node, and how its outcome is recorded.

use super::*;

/// Files the replies to `asks` into the reports and the partials in hand (kept in URL order).
pub(super) fn record(
    asks: &[Option<Arc<Ask>>],
    replies: Vec<Option<std::result::Result<PartialSignature, Fault>>>,
    nodes: &mut [NodeReport],
    partials: &mut Vec<(usize, PartialSignature)>,
) {
    for (i, (reply, report)) in replies.into_iter().zip(nodes.iter_mut()).enumerate() {
        if asks.get(i).is_none_or(Option::is_none) {
            continue;
        }
        match reply {
            Some(Ok(partial)) => {
                report.fault = None;
                partials.push((i, partial));
            }
            Some(Err(fault)) => report.fault = Some(fault),
            // Asked, but the others' partials settled the call first.
            None => report.fault = Some(Fault::NotWaitedFor),
        }
    }
    partials.sort_by_key(|(i, _)| *i);
}

/// What a decrypt has pinned: the view and the request's parameters.
#[derive(Clone, Copy)]
pub(super) struct Pinned<'a> {
    pub(super) view: &'a NetworkView,
    pub(super) app_id: &'a str,
    pub(super) credential: Credential<'a>,
    pub(super) chain_id: u64,
}

/// One call to one node, run as its own task.
pub(super) type Job<T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = std::result::Result<T, Fault>> + Send>>;

/// One signed partial request, ready to send to one node.
pub(super) struct Ask {
    pub(super) operator: Operator,
    pub(super) app_id: String,
    pub(super) epoch: u64,
    pub(super) response_key: Arc<EncryptionKey>,
    pub(super) body: kms_api::node::PartialRequest,
}

impl Ask {
    pub(super) fn new(
        operator: &Operator,
        app_id: &str,
        credential: Credential<'_>,
        epoch: u64,
        chain_id: u64,
        rng: &mut ChaCha20Rng,
    ) -> Result<Self> {
        let response_key = credential.response_key(rng);
        let request = PartialRequest {
            app_id: app_id.to_owned(),
            response_key: B256::from(response_key.public().to_bytes()),
            epoch,
            policy_block: credential.policy_block(),
            nonce: rng.next_u64(),
            deadline: unix_now()? + PARTIAL_VALIDITY.as_secs(),
            node: operator.address,
        };
        let signature = credential.signer().sign_digest(&request.digest(chain_id))?;
        let body = kms_api::node::PartialRequest {
            deadline: request.deadline,
            epoch,
            nonce: request.nonce,
            response_key: format!("{}", request.response_key),
            signature: format!("0x{}", hex::encode(signature)),
            attestation: credential.evidence(),
            policy_block: request.policy_block,
        };
        Ok(Self {
            operator: operator.clone(),
            app_id: request.app_id,
            epoch,
            response_key,
            body,
        })
    }

    /// The same request with a new nonce (and, for an owner, a new response key), for asking
    /// the node again.
    pub(super) fn renew(
        &self,
        credential: Credential<'_>,
        chain_id: u64,
        rng: &mut ChaCha20Rng,
    ) -> Result<Self> {
        Self::new(
            &self.operator,
            &self.app_id,
            credential,
            self.epoch,
            chain_id,
            rng,
        )
    }

    /// Posts the request and opens the reply.
    pub(super) async fn send(
        &self,
        http: &reqwest::Client,
        url: &str,
        app_id: &str,
    ) -> std::result::Result<PartialSignature, Fault> {
        let reply = answer(
            http.post(format!("{url}/v1/apps/{app_id}/partial"))
                .json(&self.body),
        )
        .await
        .map_err(Fault::from_error)?;
        open_partial(
            &reply,
            &self.response_key,
            app_id,
            &self.operator,
            self.epoch,
        )
    }
}
