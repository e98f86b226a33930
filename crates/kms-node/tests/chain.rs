//! Chain mode on a real anvil (1 s blocks) with real `kms-node` binaries (docs 0009, issue 6):
//! the registry is the operator set, the apps and the clock; rounds follow trigger blocks; every
//! finalized epoch is anchored and checked on chain. Joins, removals, an RPC outage of three
//! intervals and a reorganisation at a trigger block leave the cluster in agreement and the MPK
//! unchanged. The tests of this file run one at a time.
#![cfg(test)]

mod common;

use alloy::primitives::Address;
use alloy::providers::Provider;
use alloy::sol_types::SolCall;
use common::{Cluster, NodeProc, APP};
use kms_chain::anvil::{Anvil, DEV_KEYS};
use kms_chain::bindings::registry::KmsRegistry;
use kms_chain::{LocalSigner, Registry};
use kms_client::node::NodeClient;
use kms_crypto::auth::EoaKey;
use kms_protocol::RoundConfig;
use rand_core::OsRng;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

/// Blocks between rounds (anvil's default): 5 s rounds at 1 s blocks.
const INTERVAL: u64 = 5;

fn wallet(i: usize) -> LocalSigner {
    DEV_KEYS[i].parse().unwrap()
}

/// Anvil with the registry deployed by its first account, which owns it.
struct Chain {
    anvil: Anvil,
    rt: tokio::runtime::Runtime,
    owner: Registry,
    /// anvil's `--state` file, when it keeps one.
    state: Option<PathBuf>,
}

impl Chain {
    fn start(state: Option<PathBuf>) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let anvil = Anvil::start(&Self::args(&state)).unwrap();
        let owner = rt
            .block_on(Registry::deploy(
                &anvil.url(),
                wallet(0),
                wallet(0).address(),
                Address::repeat_byte(0xa5),
                1,
            ))
            .unwrap();
        Self {
            anvil,
            rt,
            owner,
            state,
        }
    }

    fn args(state: &Option<PathBuf>) -> Vec<&str> {
        let mut a = vec!["--block-time", "1"];
        if let Some(s) = state {
            a.extend(["--state", s.to_str().unwrap()]);
        }
        a
    }

    fn url(&self) -> String {
        self.anvil.url()
    }

    /// A cluster of `n` chain-mode nodes (operator `i` is anvil's account `i + 1`), not started.
    fn cluster(&self, n: usize, confirmations: u64) -> Cluster {
        self.cluster_with(n, confirmations, "")
    }

    /// As `cluster`, with `tables` (TOML tables) after `[chain]` in every node's config.
    fn cluster_with(&self, n: usize, confirmations: u64, tables: &str) -> Cluster {
        let root = tempfile::tempdir().unwrap();
        let nodes = (0..n)
            .map(|i| {
                let rest = format!(
                    "[chain]\nrpc_url = \"{}\"\nregistry = \"{}\"\ninterval_blocks = {INTERVAL}\n\
                     confirmations = {confirmations}\nblock_time_ms = 1000\ntx_key_file = \"tx.key\"\n\n{tables}",
                    self.url(),
                    self.owner.address()
                );
                let node =
                    NodeProc::create(root.path(), i, wallet(i + 1).address().into_array(), &rest);
                std::fs::write(node.dir.join("tx.key"), DEV_KEYS[i + 1]).unwrap();
                node
            })
            .collect();
        let owner = EoaKey::random(&mut OsRng);
        self.rt
            .block_on(
                self.owner
                    .set_app_owner(APP, Address::from(owner.address().into_array())),
            )
            .unwrap();
        Cluster {
            root,
            nodes,
            interval: INTERVAL,
            owner,
            listed: (0..n).collect(),
        }
    }

    /// A cluster of `n` nodes, all started, of which the first `joined` are registered and
    /// admitted.
    fn running(&self, n: usize, joined: usize, confirmations: u64) -> Cluster {
        let mut c = self.cluster(n, confirmations);
        for i in 0..n {
            c.start(i);
        }
        for i in 0..joined {
            self.join(&c, i);
        }
        c
    }

    /// Node `i` (started) registers its key and URL with KeyRegistrar's proof.
    fn register(&self, c: &Cluster, i: usize) {
        let w = wallet(i + 1);
        let who = w.address();
        let reg = self
            .rt
            .block_on(Registry::connect(
                &self.url(),
                self.owner.address(),
                Some(w),
            ))
            .unwrap();
        let (key_data, sig) = self
            .rt
            .block_on(reg.sign_key_registration(&c.nodes[i].bn254_key(), who))
            .unwrap();
        let enc = c.nodes[i].operator.enc.to_bytes();
        self.rt
            .block_on(reg.register_operator(&key_data, &sig, enc, &c.url(i)))
            .unwrap();
    }

    fn admit(&self, i: usize) {
        self.rt
            .block_on(self.owner.admit(wallet(i + 1).address()))
            .unwrap();
    }

    fn join(&self, c: &Cluster, i: usize) {
        self.register(c, i);
        self.admit(i);
    }

    fn head(&self) -> u64 {
        self.rt.block_on(self.owner.head()).unwrap()
    }

    /// The anchored epoch and MPK (0x-hex), once one is. One retry: after an anvil restart the
    /// first request can meet a pooled connection the old process closed.
    fn anchored(&self) -> Option<(u64, String)> {
        let read = || self.rt.block_on(self.owner.anchored());
        read()
            .or_else(|_| read())
            .unwrap()
            .map(|(e, mpk)| (e, format!("0x{}", hex::encode(mpk))))
    }

    /// Waits until an epoch of at least `epoch` is anchored; returns the anchor.
    fn wait_anchored(&self, epoch: u64, c: &Cluster) -> (u64, String) {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some((e, mpk)) = self.anchored() {
                if e >= epoch {
                    return (e, mpk);
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "no anchor at or after epoch {epoch}: {:?}\n{}",
                    self.anchored(),
                    c.log_tail(0, 40)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn operators_at(&self, block: u64) -> Vec<Address> {
        self.rt
            .block_on(self.owner.operators_at(block))
            .unwrap()
            .into_iter()
            .map(|o| o.address)
            .collect()
    }
}

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The players of a node's latest epoch, from `/v1/mpk`.
fn players(c: &Cluster, i: usize) -> Vec<String> {
    c.get(i, "/v1/mpk").unwrap()["operators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["address"].as_str().unwrap().to_lowercase())
        .collect()
}

fn address_hex(c: &Cluster, i: usize) -> String {
    format!("0x{}", hex::encode(c.nodes[i].address))
}

/// Waits until node `i`'s latest epoch's players satisfy `want`; returns that epoch.
fn wait_players(c: &Cluster, i: usize, what: &str, want: impl Fn(&[String]) -> bool) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(INTERVAL * 8 + 20);
    loop {
        if c.epoch(i).is_some() && want(&players(c, i)) {
            return c.epoch(i).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "node {i} never reached an epoch whose players {what}\n{}",
            c.log_tail(i, 40)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn client(c: &Cluster, who: &[usize]) -> NodeClient {
    NodeClient::new(&who.iter().map(|&i| c.url(i)).collect::<Vec<_>>()).unwrap()
}

#[test]
fn dkg_anchor_join_and_removal_follow_the_registry() {
    let _s = serial();
    let chain = Chain::start(None);
    let c = chain.running(5, 4, 1);
    let four = [0, 1, 2, 3];
    let first = c.wait_same_epoch(&four, 0, 8);
    assert_eq!(first % INTERVAL, 0, "epochs are trigger blocks");
    assert_eq!(
        players(&c, 0).len(),
        4,
        "genesis waited for four operators (genesis_operators)"
    );
    let fifth = address_hex(&c, 4);
    assert!(
        !players(&c, 0).contains(&fifth),
        "not admitted, not a player"
    );
    let mpk = c.mpk(0);
    for i in four {
        assert_eq!(c.mpk(i), mpk, "node {i} disagrees on the MPK");
    }
    // The certificate is anchored and checked on chain; the chain's MPK is the nodes'.
    let (anchored, chain_mpk) = chain.wait_anchored(first, &c);
    assert_eq!(chain_mpk, mpk);
    let record = chain
        .rt
        .block_on(chain.owner.epoch_record(anchored))
        .unwrap()
        .expect("the anchored epoch's record");
    let epoch = c.get(0, &format!("/v1/epochs/{anchored}"));
    if let Some(e) = epoch {
        let cfg = hex::decode(e["config"].as_str().unwrap().trim_start_matches("0x")).unwrap();
        let cfg = RoundConfig::decode(&cfg).unwrap();
        assert_eq!(record.round, cfg.digest(), "the anchor is of that round");
    }
    let metrics = reqwest::blocking::get(format!("{}/metrics", c.url(0)))
        .unwrap()
        .text()
        .unwrap();
    assert!(metrics.contains("kms_node_chain_head "), "{metrics}");

    let cl = client(&c, &four);
    let mut cts = vec![(
        cl.encrypt(APP, b"before").unwrap().ciphertext,
        b"before".to_vec(),
    )];

    // A fifth operator registered and admitted on chain joins at a following reshare.
    chain.join(&c, 4);
    let joined = wait_players(&c, 4, "include the fifth", |p| p.contains(&fifth));
    let all: Vec<usize> = (0..5).collect();
    c.wait_same_epoch(&all, joined - 1, 4);
    for i in &all {
        assert_eq!(c.mpk(*i), mpk, "MPK changed at the join on node {i}");
    }
    cts.push((
        client(&c, &all).encrypt(APP, b"five").unwrap().ciphertext,
        b"five".to_vec(),
    ));

    // An operator removed on chain is out of the next reshare.
    chain
        .rt
        .block_on(chain.owner.remove(wallet(1).address()))
        .unwrap();
    let gone = address_hex(&c, 0);
    let rest = [1, 2, 3, 4];
    let after = wait_players(&c, 1, "leave out the removed one", |p| {
        p.len() == 4 && !p.contains(&gone)
    });
    c.wait_same_epoch(&rest, after - 1, 4);
    for i in rest {
        assert_eq!(c.mpk(i), mpk, "MPK changed at the removal on node {i}");
    }
    let (last, chain_mpk) = chain.wait_anchored(after, &c);
    assert!(last >= after);
    assert_eq!(chain_mpk, mpk, "the anchored MPK never changes");

    // Ciphertexts from before the join and the removal decrypt with the remaining operators.
    let cl = client(&c, &rest);
    for (ct, msg) in &cts {
        let out = cl.decrypt(APP, &c.owner, ct, 31337).unwrap();
        assert_eq!(out.plaintext.as_slice(), msg.as_slice());
    }
}

#[test]
fn an_rpc_outage_of_three_intervals_delays_rounds_and_splits_nothing() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("anvil-state.json");
    let mut chain = Chain::start(Some(state.clone()));
    let c = chain.running(4, 4, 1);
    let all = [0, 1, 2, 3];
    let first = c.wait_same_epoch(&all, 0, 8);
    let mpk = c.mpk(0);
    chain.wait_anchored(first, &c);
    let ct = client(&c, &all).encrypt(APP, b"outage").unwrap().ciphertext;

    // anvil stops (writing its state) for three intervals.
    let port = chain.anvil.port();
    chain.anvil.terminate();
    std::thread::sleep(Duration::from_secs(1));
    let frozen: Vec<u64> = all.iter().map(|&i| c.epoch(i).unwrap()).collect();
    std::thread::sleep(Duration::from_secs(3 * INTERVAL));
    for (k, &i) in all.iter().enumerate() {
        assert_eq!(
            c.epoch(i).unwrap(),
            frozen[k],
            "node {i} ran a round without the chain"
        );
        assert_eq!(c.mpk(i), mpk);
    }
    let e = frozen[0];
    assert!(frozen.iter().all(|x| *x == e), "nodes diverged: {frozen:?}");
    assert!(c.log(0).contains("no rounds until it answers"));
    // Apps live in the registry: without it, partials are refused as retryable, not guessed.
    let err = client(&c, &all)
        .decrypt(APP, &c.owner, &ct, 31337)
        .unwrap_err();
    assert!(format!("{err:?}").contains("chain_unavailable"), "{err:?}");

    // The same chain comes back on the same port; rounds resume, in agreement.
    chain.anvil = Anvil::start_on(port, &Chain::args(&chain.state)).unwrap();
    let resumed = c.wait_same_epoch(&all, e, 8);
    for i in all {
        assert_eq!(c.mpk(i), mpk, "MPK changed after the outage on node {i}");
    }
    let (_, chain_mpk) = chain.wait_anchored(resumed, &c);
    assert_eq!(chain_mpk, mpk);
    assert!(c.log(0).contains("chain RPC answers again"));
    let out = client(&c, &all).decrypt(APP, &c.owner, &ct, 31337).unwrap();
    assert_eq!(out.plaintext.as_slice(), b"outage");
}

#[test]
fn a_reorg_at_the_trigger_block_leaves_all_nodes_in_agreement() {
    let _s = serial();
    let chain = Chain::start(None);
    // Two confirmations: a trigger block is read only once two blocks are on top of it.
    let c = chain.running(5, 4, 2);
    chain.register(&c, 4);
    let four = [0, 1, 2, 3];
    let first = c.wait_same_epoch(&four, 0, 8);
    let mpk = c.mpk(0);

    // The moment a trigger block is mined, it is replaced by one that also admits the fifth
    // operator: the set at that block changes under the nodes' feet.
    let provider = chain.owner.provider().clone();
    let fifth = wallet(5).address();
    let admit = KmsRegistry::admitOperatorCall { operator: fifth }.abi_encode();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut trigger = 0;
    while trigger == 0 {
        let h = chain.head();
        if h.is_multiple_of(INTERVAL) && h > first {
            trigger = h;
        }
        assert!(Instant::now() < deadline, "no trigger block seen");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !chain.operators_at(trigger).contains(&fifth),
        "not admitted before the reorg"
    );
    let tx = serde_json::json!({
        "from": wallet(0).address(),
        "to": chain.owner.address(),
        "input": format!("0x{}", hex::encode(&admit)),
        "gas": "0x200000",
    });
    let reorg: Result<serde_json::Value, _> = chain
        .rt
        .block_on(provider.raw_request("anvil_reorg".into(), (1u64, serde_json::json!([[tx, 0]]))));
    reorg.unwrap();
    let now = chain.head();
    assert!(
        now >= trigger && now < trigger + 2,
        "reorg too late: head {now}"
    );
    assert!(
        chain.operators_at(trigger).contains(&fifth),
        "the reorganised trigger block admits the fifth operator"
    );

    // Every node reads the reorganised block: the fifth joins and all agree.
    let all: Vec<usize> = (0..5).collect();
    let fifth_hex = address_hex(&c, 4);
    let joined = wait_players(&c, 0, "include the fifth", |p| p.contains(&fifth_hex));
    assert!(joined >= trigger);
    let agreed = c.wait_same_epoch(&all, joined - 1, 4);
    for i in &all {
        assert_eq!(c.mpk(*i), mpk, "MPK changed on node {i}");
        assert_eq!(players(&c, *i).len(), 5);
    }
    let (_, chain_mpk) = chain.wait_anchored(agreed, &c);
    assert_eq!(chain_mpk, mpk);
}

/// Issue 18, item 3: an app whose on-chain release policy asks for attestation. Every node reads
/// the policy at the block the request names, so nodes asked at the same block agree; a change of
/// release waits for the app's delay (before it, the new image is refused and the old one served;
/// after it, the reverse); the owner's key alone opens nothing; blocks not yet confirmed or too
/// old are refused.
#[test]
fn an_attested_app_follows_its_release_policy_at_the_named_block() {
    use kms_chain::AppPolicy;
    use kms_client::node::{Credential, Evidence, Session};
    let _s = serial();
    let chain = Chain::start(None);
    let c = chain.cluster_with(4, 1, &common::google_attestation_table());
    let mut c = c;
    for i in 0..4 {
        c.start(i);
    }
    for i in 0..4 {
        chain.join(&c, i);
    }
    let all = [0, 1, 2, 3];
    c.wait_same_epoch(&all, 0, 8);
    const APP: &str = "tee.app";
    let ct = client(&c, &all)
        .encrypt(APP, b"for image A only")
        .unwrap()
        .ciphertext;

    // Registered for TEEs only from the start: image A, a 40 s delay for changes. Its owner has
    // a funded wallet.
    let app_owner = wallet(6);
    let owner_reg = chain
        .rt
        .block_on(Registry::connect(
            &chain.url(),
            chain.owner.address(),
            Some(app_owner.clone()),
        ))
        .unwrap();
    let image_a = format!("sha256:{}", "aa".repeat(32));
    let image_b = format!("sha256:{}", "bb".repeat(32));
    let id = |image: &str| kms_api::app::image_release_id(image).unwrap();
    let policy = |image: &str| AppPolicy {
        owner: app_owner.address(),
        credential: 2,
        delay: 40,
        approved: vec![id(image)],
    };
    chain
        .rt
        .block_on(chain.owner.register_app(APP, &policy(&image_a)))
        .unwrap();
    let in_force = chain.head();
    chain.rt.block_on(wait_block(&chain, in_force + 2));

    // A decrypt inside "image A": a session at a confirmed block, evidence for its binding.
    let decrypt = |image: &str, block: u64| {
        let now = kms_api::time::unix_now();
        let session = Session::random(&mut OsRng, now + 300)
            .unwrap()
            .at_policy_block(block);
        let nonce = session.binding(31337, APP).unwrap();
        let evidence = Evidence::Token(common::cs_token(&nonce, image, "disabled-since-boot"));
        client(&c, &all).decrypt_with(
            APP,
            Credential::Attested {
                session: &session,
                evidence: &evidence,
            },
            &ct,
            31337,
        )
    };
    // Every node refused with `code`.
    let all_refuse = |r: kms_client::Result<kms_client::node::Decrypted>, code: &str| match r {
        Err(kms_client::Error::Quorum { nodes, .. }) => {
            for n in &nodes {
                assert!(
                    matches!(&n.fault, Some(kms_client::node::Fault::Refused { code: got, .. }) if got == code),
                    "expected {code} from every node: {nodes:?}"
                );
            }
        }
        other => panic!("expected {code} from every node: {other:?}"),
    };
    let before = chain.head() - 1;
    let out = decrypt(&image_a, before).unwrap();
    assert_eq!(out.plaintext.as_slice(), b"for image A only");
    all_refuse(decrypt(&image_b, before), "release_not_approved");
    // The owner's key alone: the policy asks for evidence (read at the latest block).
    let owner_key =
        EoaKey::from_bytes(&kms_crypto::Secret::new(app_owner.to_bytes().into())).unwrap();
    all_refuse(
        client(&c, &all).decrypt(APP, &owner_key, &ct, 31337),
        "policy_block_required",
    );
    // Not yet confirmed (confirmations = 1).
    all_refuse(decrypt(&image_a, chain.head() + 1), "policy_block_unusable");

    // The owner moves the release to image B: nothing changes before the delay.
    chain
        .rt
        .block_on(owner_reg.propose_release(APP, &policy(&image_b)))
        .unwrap();
    let proposed = chain.head();
    chain.rt.block_on(wait_block(&chain, proposed + 2));
    let during = chain.head() - 1;
    all_refuse(decrypt(&image_b, during), "release_not_approved");
    assert!(
        decrypt(&image_a, during).is_ok(),
        "image A is served until the delay is over"
    );

    // After the delay (the chain's clock moved on), image B is served and A refused, at a block
    // after it; a block from before still answers as before, at every node alike.
    chain
        .rt
        .block_on(
            chain
                .owner
                .provider()
                .raw_request::<_, serde_json::Value>("evm_increaseTime".into(), (45u64,)),
        )
        .unwrap();
    let moved = chain.head();
    chain.rt.block_on(wait_block(&chain, moved + 3));
    let after = chain.head() - 1;
    assert!(decrypt(&image_b, after).is_ok(), "image B after the delay");
    all_refuse(decrypt(&image_a, after), "release_not_approved");
    assert!(decrypt(&image_a, during).is_ok(), "read at the block named");
    all_refuse(decrypt(&image_b, during), "release_not_approved");
}

/// Waits until the chain's head reaches `block`.
async fn wait_block(chain: &Chain, block: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while chain.owner.head().await.unwrap() < block {
        assert!(Instant::now() < deadline, "no block {block}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
