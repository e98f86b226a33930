//! Pinned encodings: a seeded round's messages of every kind, its config and certificate, and the
//! journal a node writes (decisions and kept messages), each as a keccak of its bytes. The run
//! is deterministic (seeded keys, seeded dealers, deterministic signatures), so a hash changes
//! only when an encoding does. Changing one is a wire or storage format change: bump its version
//! (message `VERSION`, the tags, `SAVE_VERSION`) and write the new hashes here on purpose.

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

const GOLDEN_CERTIFICATE: &str = "b83c2226897dd9eb81fd3ff36f785eed524488cfac118f02fd8fab889c78de4b";
const GOLDEN_ACKS: &str = "3d4d70e97d0a314b45e4684b2076b11609198de90de0ed1f76f5a6382306adff";
const GOLDEN_CERTIFICATE_MESSAGE: &str =
    "c777b1a57fda28472dc87913ae75a82b75f79560989112ac14c5293144674bb0";
const GOLDEN_DEAL: &str = "c014ead5e65bad4961d4993b824e713cbfb2d83691effc057fe83a2194cda5d0";
const GOLDEN_LOG: &str = "3d6b2cc6353857d429b95cb47665876760340965d4c5cebb239a5eed041ef547";
const GOLDEN_PRECOMMIT: &str = "e5ee659d65a4e3ac2c8a0bd700a19b0e588727b8f9d84bc61f7937f710280553";
const GOLDEN_PREPARED: &str = "107013c0c00b46a3f1b519c1d65cc016fe51cc9d76c046db28803ab013e45d5c";
const GOLDEN_PREVOTE: &str = "772aa720e1a3ec9531be8bac8bcfbca6c28e75bdd87c49b16d14e1abb33183fc";
const GOLDEN_PROPOSAL: &str = "0c4a69293f4dd1d1c16d042c6cef55ae5d5afee78a3648dfdacc3bbb26f095be";
const GOLDEN_STATUS: &str = "26b246dbe64f77387fe3cc448f56a46f7bd090167b446926ee2044fc90fe5cc3";
const GOLDEN_DECISIONS: &str = "8c252f265d2e188703ea51a76ba0a8808ae373cf82fcc5c43e5b8736fd3ecdb4";
const GOLDEN_JOURNAL_MESSAGES: &str =
    "16acb2f88521ba2bd82e19cfbdea040a71f0d750bf7ae3f445041ae73ffe4265";
const GOLDEN_ROUND_CONFIG: &str =
    "2a6b08cb844a53865bda60ffb59ae6a282cd72282d6840ab0b071322cedf65c7";
