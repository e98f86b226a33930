//! Opening a node's sealed partial and combining t of them into the app key.

use super::*;

/// Checks a partial reply `{"node", "id", "epoch", "sealed"}` against the node asked and the
/// epoch pinned, opens the sealed point with the response key and decodes it.
pub(super) fn open_partial(
    reply: &Value,
    response_key: &EncryptionKey,
    app_id: &str,
    operator: &Operator,
    epoch: u64,
) -> std::result::Result<PartialSignature, Fault> {
    let bad = |why: String| Fault::BadAnswer(why);
    let reply: kms_api::node::PartialAnswer = typed(reply)?;
    let node = address_of("node", &reply.node)?;
    if node != operator.address {
        return Err(bad(format!("answered as node {node}")));
    }
    let got_epoch = reply.epoch;
    if got_epoch != epoch {
        return Err(bad(format!(
            "answered for epoch {got_epoch} instead of {epoch}"
        )));
    }
    let id = reply.id.ok_or_else(|| bad("no id".into()))?;
    if id != operator.id {
        return Err(bad(format!(
            "answered with id {id}; its id in epoch {epoch} is {}",
            operator.id
        )));
    }
    let sealed = Sealed::from_bytes(&hex_of("sealed", &reply.sealed)?)
        .map_err(|e| bad(format!("\"sealed\": {e}")))?;
    let aad = partial_aad(app_id, operator.address, epoch).map_err(|e| bad(e.to_string()))?;
    let opened = response_key.open(&sealed, &aad).map_err(|_| {
        bad(
            "the sealed partial does not open with the request's key for this app, node and epoch"
                .into(),
        )
    })?;
    let signature = opened
        .expose(|bytes| G1Point::from_bytes(bytes))
        .map_err(|e| bad(format!("the sealed partial is not a G1 point: {e}")))?;
    let point = EvalPoint::from_index(operator.id).map_err(|e| bad(e.to_string()))?;
    Ok(PartialSignature { point, signature })
}

/// Drops partials that do not verify against the agreed commitment (marking their nodes as
/// culprits) and recovers the app key from the first t valid ones, checked against the MPK
/// (`check_and_recover`). `partials` carry the index of their node's report.
pub(super) fn combine(
    view: &NetworkView,
    app_id: &str,
    partials: &[(usize, PartialSignature)],
    nodes: &mut [NodeReport],
) -> Result<(AppKey, Vec<Address>)> {
    let list: Vec<PartialSignature> = partials.iter().map(|(_, p)| *p).collect();
    let (invalid, key) = check_and_recover(&view.commitment, app_id.as_bytes(), &list);
    let mut good: Vec<usize> = Vec::new();
    for (k, (i, _)) in partials.iter().enumerate() {
        if invalid.contains(&k) {
            if let Some(report) = nodes.get_mut(*i) {
                report.fault = Some(Fault::BadPartial);
            }
        } else {
            good.push(*i);
        }
    }
    if good.len() < view.threshold {
        return Err(Error::Quorum {
            what: "too few valid partial signatures",
            got: good.len(),
            needed: view.threshold,
            nodes: nodes.to_vec(),
        });
    }
    let key = key.map_err(|cause| Error::Crypto {
        what: "recovering the app key from verified partials",
        cause,
    })?;
    let used = good
        .iter()
        .take(view.threshold)
        .filter_map(|i| nodes.get(*i).and_then(|r| r.node))
        .collect();
    Ok((key, used))
}
