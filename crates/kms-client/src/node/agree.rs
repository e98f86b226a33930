//! Agreeing on one network view (epoch, commitment, operators) from the nodes' /v1/mpk answers.

use super::*;
use kms_api::node::MpkAnswer;

/// Finds the agreed view among the nodes' `/v1/mpk` answers (in URL order).
pub(super) fn agree(
    urls: &[String],
    answers: Vec<std::result::Result<Value, Fault>>,
    decoded: &Decoded,
) -> Result<MpkReport> {
    let mut nodes: Vec<NodeReport> = urls
        .iter()
        .map(|url| NodeReport {
            url: url.clone(),
            node: None,
            fault: None,
        })
        .collect();
    // (report index, node address, view) for every answer that checks out.
    let mut views: Vec<(usize, Address, NetworkView)> = Vec::new();
    for (i, (report, a)) in nodes.iter_mut().zip(answers).enumerate() {
        match a.and_then(|v| parse_mpk(&v, decoded)) {
            Ok((node, view)) => {
                report.node = Some(node);
                // One node behind two URLs must not count twice.
                if let Some((j, _, _)) = views.iter().find(|(_, n, _)| *n == node) {
                    let first = urls.get(*j).cloned().unwrap_or_default();
                    report.fault = Some(Fault::BadAnswer(format!(
                        "reports the same node address as {first}"
                    )));
                } else {
                    views.push((i, node, view));
                }
            }
            Err(fault) => report.fault = Some(fault),
        }
    }

    // Group identical views; a vote counts only from an operator of that epoch.
    let floor = threshold_for(urls.len());
    let mut groups: Vec<(NetworkView, Vec<usize>, usize)> = Vec::new();
    for (i, node, view) in &views {
        let member = view.operator(*node).is_some();
        match groups.iter_mut().find(|(v, _, _)| v.same_as(view)) {
            Some((_, members, votes)) => {
                members.push(*i);
                *votes += usize::from(member);
            }
            None => groups.push((view.clone(), vec![*i], usize::from(member))),
        }
    }
    let needed = |v: &NetworkView| v.threshold.max(floor);
    let best = groups
        .iter()
        .filter(|(v, _, votes)| *votes >= needed(v))
        .max_by_key(|(v, _, votes)| (v.epoch, *votes));

    let Some((agreed, _, votes)) = best else {
        // Name what each answering node reported, against the best-supported view.
        let top = groups.iter().max_by_key(|(v, _, votes)| (*votes, v.epoch));
        for (v, members, votes) in &groups {
            for i in members {
                if let Some(report) = nodes.get_mut(*i) {
                    if report.fault.is_none() {
                        report.fault = Some(Fault::Disagrees(format!(
                            "reports epoch {} with MPK {}, shared by {votes} operator(s) of \
                             that epoch where {} are needed",
                            v.epoch,
                            short_hex(&v.mpk.to_bytes()),
                            needed(v)
                        )));
                    }
                }
            }
        }
        return Err(Error::Quorum {
            what: "no network view (epoch, commitment, MPK) is reported by enough nodes",
            got: top.map_or(0, |(_, _, votes)| *votes),
            needed: top.map_or(floor, |(v, _, _)| needed(v)),
            nodes,
        });
    };

    for (i, node, view) in &views {
        let Some(report) = nodes.get_mut(*i) else {
            continue;
        };
        if agreed.operator(*node).is_none() {
            report.fault = Some(Fault::NotOperator {
                epoch: agreed.epoch,
            });
        } else if !view.same_as(agreed) {
            report.fault = Some(Fault::Disagrees(if view.epoch == agreed.epoch {
                format!(
                    "reports another commitment or operator set for epoch {}",
                    agreed.epoch
                )
            } else {
                format!(
                    "reports epoch {}; the agreed epoch is {}",
                    view.epoch, agreed.epoch
                )
            }));
        }
    }
    Ok(MpkReport {
        view: agreed.clone(),
        agreeing: *votes,
        needed: needed(agreed),
        nodes,
    })
}

/// How many different epochs the answers report (checked or not: this only decides a retry).
pub(super) fn reported_epochs(answers: &[std::result::Result<Value, Fault>]) -> usize {
    let mut epochs: Vec<u64> = answers
        .iter()
        .filter_map(|a| {
            serde_json::from_value::<kms_api::node::EpochClaim>(a.as_ref().ok()?.clone())
                .ok()
                .map(|c| c.epoch)
        })
        .collect();
    epochs.sort_unstable();
    epochs.dedup();
    epochs.len()
}

/// Parses and checks one node's `/v1/mpk` answer: its address and its view.
pub(super) fn parse_mpk(
    v: &Value,
    decoded: &Decoded,
) -> std::result::Result<(Address, NetworkView), Fault> {
    let bad = |why: String| Fault::BadAnswer(why);
    let a: MpkAnswer = typed(v)?;
    let node = address_of("node", &a.node)?;
    let (epoch, threshold) = (a.epoch, a.threshold);
    let (mpk_text, commitment_text) = (a.mpk.as_str(), a.commitment.as_str());
    let (mpk, commitment) = match decoded.get(mpk_text, commitment_text) {
        Some(known) => known,
        None => {
            let mpk = G2Point::from_bytes(&hex_of("mpk", mpk_text)?)
                .map_err(|e| bad(format!("\"mpk\": {e}")))?;
            let commitment = Commitment::from_bytes(&hex_of("commitment", commitment_text)?)
                .map_err(|e| bad(format!("\"commitment\": {e}")))?;
            if commitment.public_key() != mpk {
                return Err(bad("the commitment's constant term is not the MPK".into()));
            }
            decoded.put(mpk_text, commitment_text, mpk, commitment.clone());
            (mpk, commitment)
        }
    };
    if u64::try_from(commitment.threshold()).ok() != Some(threshold) {
        return Err(bad(format!(
            "threshold {threshold}, but the commitment has degree {}",
            commitment.threshold().saturating_sub(1)
        )));
    }
    let mut operators = Vec::with_capacity(a.operators.len());
    for (k, entry) in a.operators.into_iter().enumerate() {
        let address = address_of("address", &entry.address)
            .map_err(|f| bad(format!("operator {k}: {}", strip_bad(f))))?;
        let id = match entry.id {
            Some(0) => return Err(bad(format!("operator {k}: id 0"))),
            Some(id) => id,
            None => return Err(bad(format!("operator {k}: no id"))),
        };
        operators.push(Operator {
            address,
            id,
            url: entry.url,
        });
    }
    operators.sort_by_key(|o| o.address);
    for pair in operators.windows(2) {
        if let [a, b] = pair {
            if a.address == b.address {
                return Err(bad(format!("operator {} is listed twice", a.address)));
            }
        }
    }
    let mut ids: Vec<u64> = operators.iter().map(|o| o.id).collect();
    ids.sort_unstable();
    if ids.windows(2).any(|w| w.first() == w.get(1)) {
        return Err(bad("two operators share an id".into()));
    }
    if commitment.threshold() > operators.len() {
        return Err(bad(format!(
            "threshold {threshold} is above the {} operators",
            operators.len()
        )));
    }
    Ok((
        node,
        NetworkView {
            epoch,
            threshold: commitment.threshold(),
            mpk,
            commitment,
            operators,
        },
    ))
}

/// The reason inside a `BadAnswer`, to prefix it with context.
pub(super) fn strip_bad(f: Fault) -> String {
    match f {
        Fault::BadAnswer(why) => why,
        other => other.to_string(),
    }
}

/// A node's JSON answer as its `kms-api` type; a missing or mistyped field is a bad answer.
pub(super) fn typed<T: serde::de::DeserializeOwned>(v: &Value) -> std::result::Result<T, Fault> {
    T::deserialize(v).map_err(|e| Fault::BadAnswer(e.to_string()))
}

pub(super) fn address_of(name: &str, text: &str) -> std::result::Result<Address, Fault> {
    text.parse::<Address>()
        .map_err(|_| Fault::BadAnswer(format!("\"{name}\" is not a 0x address")))
}

pub(super) fn hex_of(name: &str, text: &str) -> std::result::Result<Vec<u8>, Fault> {
    text.strip_prefix("0x")
        .and_then(|s| hex::decode(s).ok())
        .ok_or_else(|| Fault::BadAnswer(format!("\"{name}\" is not 0x-prefixed hex")))
}

/// `0x` and the first 8 bytes, for messages.
pub(super) fn short_hex(bytes: &[u8]) -> String {
    format!("0x{}…", hex::encode(bytes.get(..8).unwrap_or(bytes)))
}

pub(super) fn unix_now() -> Result<u64> {
    kms_api::time::try_unix_now().ok_or(Error::Local("the system clock is before 1970"))
}

/// A CSPRNG seeded from the OS once, so that no later draw can fail.
pub(super) fn local_rng() -> Result<ChaCha20Rng> {
    let mut seed = Zeroizing::new([0u8; 32]);
    OsRng
        .try_fill_bytes(seed.as_mut())
        .map_err(|_| Error::Local("the operating system gave no randomness"))?;
    Ok(ChaCha20Rng::from_seed(*seed))
}
