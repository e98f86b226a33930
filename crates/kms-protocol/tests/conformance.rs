//! Pinned encodings: a seeded round's messages of every kind, its config and certificate, and the
//! journal a node writes (decisions and kept messages), each as a keccak of its bytes. The run
//! is deterministic (seeded keys, seeded dealers, deterministic signatures), so a hash changes
//! only when an encoding does. Changing one is a wire or storage format change: bump its version
//! (message `VERSION`, the tags, `SAVE_VERSION`) and write the new hashes here on purpose.
#![cfg(test)]

use alloy_primitives::keccak256;
use kms_protocol::lifecycle::{Action, Journal, RoundDriver, RoundStart, Schedule};
use kms_protocol::sim::{rng_for, run_round, Perfect, SimNode};
use kms_protocol::{Kind, RawEnvelope, RoundConfig};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

fn h(bytes: &[u8]) -> String {
    format!("{:x}", keccak256(bytes))
}

fn cluster() -> (Arc<RoundConfig>, Vec<SimNode>) {
    let mut rng = rng_for(15, "conformance");
    let nodes: Vec<SimNode> = (1..=4).map(|id| SimNode::generate(&mut rng, id)).collect();
    let ops = nodes.iter().map(|n| n.operator.clone()).collect();
    let cfg = Arc::new(RoundConfig::dkg(7, 31337, [0x5a; 20], ops).unwrap());
    (cfg, nodes)
}

/// (what, keccak) for every pinned encoding.
fn pins() -> BTreeMap<String, String> {
    let (cfg, mut nodes) = cluster();
    let res = run_round(&cfg, &mut nodes, &mut Perfect, 4);
    assert_eq!(res.outputs.len(), 4, "{:?}", res.rejects);
    let mut out = BTreeMap::new();
    out.insert("round config".to_owned(), h(&cfg.encode()));
    for kind in Kind::ALL {
        let first = res
            .transcript
            .iter()
            .find(|(_, _, _, b)| RawEnvelope::peek(b).is_ok_and(|x| x.kind == kind))
            .unwrap_or_else(|| panic!("no {kind:?} in the round"));
        out.insert(format!("first {kind:?} message"), h(&first.3));
    }
    let cert = &res.outputs.values().next().unwrap().certificate;
    out.insert("certificate".to_owned(), h(&cert.encode()));

    // A node's first journal write: the acks decision with the deals it was made from.
    let me = &nodes[0];
    let mut d = RoundDriver::new(
        RoundStart {
            cfg: cfg.clone(),
            me: me.address(),
            key: me.key.clone(),
            enc: me.enc.clone(),
            seed: me.seed.duplicate(),
            share: None,
            restored: Journal::default(),
            schedule: Schedule::new(Duration::from_secs(10)),
        },
        Duration::ZERO,
    )
    .unwrap();
    let deals: Vec<Vec<u8>> = res
        .transcript
        .iter()
        .filter(|(_, _, to, b)| {
            *to == me.address() && RawEnvelope::peek(b).is_ok_and(|x| x.kind == Kind::Deal)
        })
        .map(|(_, _, _, b)| b.clone())
        .collect();
    let refs: Vec<&[u8]> = deals.iter().map(Vec::as_slice).collect();
    // Everything the node writes until its acks decision, as a store would apply it.
    let mut journal = Journal::default();
    let drain = |d: &mut RoundDriver, journal: &mut Journal, now: Duration| {
        while let Some(a) = d.poll() {
            if let Action::Persist(j) = a {
                journal.apply(&j);
                d.persisted(now, true);
            }
        }
    };
    drain(&mut d, &mut journal, Duration::ZERO);
    let _ = d.handle(Duration::from_millis(5), &refs);
    drain(&mut d, &mut journal, Duration::from_millis(5));
    let mut now = Duration::from_millis(5);
    while journal.decisions.is_none() && now < Duration::from_secs(20) {
        now += Duration::from_millis(100);
        d.tick(now);
        drain(&mut d, &mut journal, now);
    }
    out.insert(
        "journal decisions".to_owned(),
        h(journal.decisions.as_deref().unwrap()),
    );
    out.insert("journal messages".to_owned(), h(&journal.messages.concat()));
    out
}

#[test]
fn encodings_are_pinned() {
    let golden: BTreeMap<&str, &str> = [
        ("certificate", GOLDEN_CERTIFICATE),
        ("first Acks message", GOLDEN_ACKS),
        ("first Certificate message", GOLDEN_CERTIFICATE_MESSAGE),
        ("first Deal message", GOLDEN_DEAL),
        ("first Log message", GOLDEN_LOG),
        ("first Precommit message", GOLDEN_PRECOMMIT),
        ("first Prepared message", GOLDEN_PREPARED),
        ("first Prevote message", GOLDEN_PREVOTE),
        ("first Proposal message", GOLDEN_PROPOSAL),
        ("first Status message", GOLDEN_STATUS),
        ("journal decisions", GOLDEN_DECISIONS),
        ("journal messages", GOLDEN_JOURNAL_MESSAGES),
        ("round config", GOLDEN_ROUND_CONFIG),
    ]
    .into_iter()
    .collect();
    let got = pins();
    let mut wrong = Vec::new();
    for (what, hash) in &got {
        if golden.get(what.as_str()) != Some(&hash.as_str()) {
            wrong.push(format!("{what}: {hash}"));
        }
    }
    assert!(
        wrong.is_empty() && golden.len() == got.len(),
        "encodings changed (a format change: version it, then pin the new hashes):\n{}",
        wrong.join("\n")
    );
}

const GOLDEN_CERTIFICATE: &str = "df39955d2235b4c51e75c1b25051b92af7ce39321a8826a14e9858ea8ea39148";
const GOLDEN_ACKS: &str = "771a837691547b8b3171f9d5ce57ce8f5dc4b3d1c79d1c188aa923451200823f";
const GOLDEN_CERTIFICATE_MESSAGE: &str =
    "6254ecb8ffd6d8bc667f0ccbdffb9f3c9804f36039a075fb53665f227c895c3d";
const GOLDEN_DEAL: &str = "d4342135f76fb091ce1391af95ba4c7b0a8ea84a61d13bc032638517d89e0024";
const GOLDEN_LOG: &str = "ab47c9319b5bf958c52eedfec80f639b332ea1122ff37346d077388aad328c3b";
const GOLDEN_PRECOMMIT: &str = "72d395ba60c99ae8b88e0c28471a02a388245898002728b16c6a1afcfbf1e3bc";
const GOLDEN_PREPARED: &str = "9a6a7312766c1d172c392e5f0c523f08ed117d082ab7ce385a27497afc46b2fd";
const GOLDEN_PREVOTE: &str = "e2a32aadf1b04ee79c6023e87c9ab0b0ab8ff3ce182823e379f9c1249713de52";
const GOLDEN_PROPOSAL: &str = "5d33fd43991e210356d6fbb2934f8b1b216b53c596492df5c0317e5f6ab167d5";
const GOLDEN_STATUS: &str = "681c062bac865f5c7af91f725964e6fa965f5224231fab638daddd35444244b2";
const GOLDEN_DECISIONS: &str = "b20c6011464af66165ad6ba25ae633e7657de4c62825b57b6527b257f4460723";
const GOLDEN_JOURNAL_MESSAGES: &str =
    "b4572fe287c95638b994ee8b2bdcd6b1459dab788acf3ccd8f8379072f4a3c84";
const GOLDEN_ROUND_CONFIG: &str =
    "2a6b08cb844a53865bda60ffb59ae6a282cd72282d6840ab0b071322cedf65c7";
