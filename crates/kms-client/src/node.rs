//! Client of the threshold network (`kms-node`; wire contract in docs/0008): the network's agreed
//! master public key, encryption to an app id, decryption by the app's owner from the nodes'
//! partial signatures, and the nodes' status.
//!
//! The client knows the nodes only by URL, so it believes what enough of them say together. A view
//! (epoch, commitment, MPK, operator ids) is agreed when it is reported identically by at least
//! t of that epoch's operators and by more than two thirds of the URLs asked (`threshold_for`,
//! so that one node cannot invent a network with t = 1 of its own); the highest such epoch wins.
//! Every partial is checked against the agreed commitment before use, and a node whose partial
//! does not verify is reported as a culprit.
//!
//! Each call asks every node at once, one thread per node, each request bounded by the client's
//! timeout, and returns as soon as the answers in hand settle it (enough agreeing views, or t
//! valid partials), after a short grace for stragglers: a frozen node costs a call nothing. A
//! decrypt that meets a reshare (the nodes it needs have moved past the epoch it pinned) pins
//! the new epoch and asks again.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::{answer, http_client, normalize_base, Error, Result};
use alloy_primitives::{Address, B256};
use kms_crypto::auth::{EoaKey, PartialRequest};
use kms_crypto::bls::{
    check_and_recover, threshold_for, AppKey, Commitment, EvalPoint, G1Point, G2Point,
    PartialSignature,
};
use kms_crypto::ibe;
use kms_crypto::seal::{EncryptionKey, Sealed};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use zeroize::Zeroizing;

/// The whole-request timeout of [`NodeClient::new`], per node and call.
pub const NODE_TIMEOUT: Duration = Duration::from_secs(10);
/// How far ahead of now a partial request's deadline is set.
pub const PARTIAL_VALIDITY: Duration = Duration::from_secs(120);
/// How long [`NodeClient::fetch_mpk`] waits for the nodes to settle on one epoch after a reshare.
pub const TRANSITION_WAIT: Duration = Duration::from_secs(5);
/// How often it asks again meanwhile.
pub const TRANSITION_RETRY: Duration = Duration::from_millis(500);
/// Once the answers in hand settle a view, how long the client still waits for the others: a
/// quarter of the time that took, at most this.
pub const STRAGGLER_GRACE: Duration = Duration::from_millis(50);
/// The first bytes of the associated data a partial is sealed under (see [`partial_aad`]).
pub const PARTIAL_AAD_TAG: &[u8] = b"KMS_PARTIAL_V1";
/// The longest app id the nodes accept, in characters (all ASCII).
pub const MAX_APP_ID_LEN: usize = 128;
/// An IBE ciphertext's first bytes: magic and version 1 (docs/0003).
const IBE_HEADER: &[u8] = b"KMSIBE\x01";

/// Checks an app id the way the nodes do: 1 to 128 characters from `[A-Za-z0-9._:-]`.
pub fn validate_app_id(app_id: &str) -> Result<()> {
    if app_id.is_empty() {
        return Err(Error::InvalidAppId("it is empty"));
    }
    if app_id.len() > MAX_APP_ID_LEN {
        return Err(Error::InvalidAppId("it is longer than 128 characters"));
    }
    if !app_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
    {
        return Err(Error::InvalidAppId(
            "only letters, digits and . _ : - are allowed",
        ));
    }
    Ok(())
}

/// The associated data a node seals its partial under:
/// `"KMS_PARTIAL_V1" ‖ u16be(len(app_id)) ‖ app_id ‖ node (20 bytes) ‖ u64be(epoch)`. It binds the
/// sealed partial to the app, the node and the epoch, so a reply cannot be passed off as another's.
pub fn partial_aad(app_id: &str, node: Address, epoch: u64) -> Result<Vec<u8>> {
    let len = u16::try_from(app_id.len())
        .map_err(|_| Error::InvalidAppId("it is longer than 65535 bytes"))?;
    let mut aad = Vec::with_capacity(PARTIAL_AAD_TAG.len() + 2 + app_id.len() + 20 + 8);
    aad.extend_from_slice(PARTIAL_AAD_TAG);
    aad.extend_from_slice(&len.to_be_bytes());
    aad.extend_from_slice(app_id.as_bytes());
    aad.extend_from_slice(node.as_slice());
    aad.extend_from_slice(&epoch.to_be_bytes());
    Ok(aad)
}

/// Why one node did not do its part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// No answer: connection refused, timeout, broken connection.
    Unreachable(String),
    /// The node refused with its error shape (`unknown_app`, `not_owner`, `no_epoch`, ...).
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// An answer that does not follow the wire contract or does not check out.
    BadAnswer(String),
    /// A well-formed answer with another view than the agreed one.
    Disagrees(String),
    /// The node is not an operator of the agreed epoch, so it holds no share of it.
    NotOperator { epoch: u64 },
    /// The node had not answered when the others' answers settled the call.
    NotWaitedFor,
    /// A partial signature that does not verify against the agreed commitment: the node cheated
    /// or is broken, and is named as a culprit.
    BadPartial,
}

impl Fault {
    /// True when the node sent provably wrong data (a partial that does not verify).
    pub fn is_culprit(&self) -> bool {
        matches!(self, Fault::BadPartial)
    }

    /// True when the node does not hold the epoch asked for yet, which passes once it has
    /// caught up with the others.
    pub fn is_behind(&self) -> bool {
        matches!(self, Fault::Refused { code, .. } if code == "unknown_epoch" || code == "no_epoch")
    }

    fn from_error(e: Error) -> Self {
        match e {
            Error::Api {
                status,
                code,
                message,
            } => Fault::Refused {
                status,
                code,
                message,
            },
            Error::UnexpectedAnswer { status, detail } => {
                Fault::BadAnswer(format!("HTTP {status}: {detail}"))
            }
            Error::Transport(cause) => Fault::Unreachable(transport_reason(cause.as_ref())),
            other => Fault::BadAnswer(other.to_string()),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Unreachable(why) => write!(f, "no answer ({why})"),
            Fault::Refused {
                status,
                code,
                message,
            } => write!(f, "refused with HTTP {status} {code}: {message}"),
            Fault::BadAnswer(why) => write!(f, "bad answer: {why}"),
            Fault::Disagrees(why) => write!(f, "disagrees: {why}"),
            Fault::NotOperator { epoch } => write!(f, "not an operator of epoch {epoch}"),
            Fault::NotWaitedFor => {
                f.write_str("no answer yet when the others had settled the call (not waited for)")
            }
            Fault::BadPartial => f.write_str(
                "culprit: its partial signature does not verify against the agreed commitment",
            ),
        }
    }
}

/// A timeout or a refused connection in a few words, with the innermost cause.
fn transport_reason(e: &(dyn std::error::Error + 'static)) -> String {
    let mut root = e;
    while let Some(next) = root.source() {
        root = next;
    }
    let kind = match e.downcast_ref::<reqwest::Error>() {
        Some(r) if r.is_timeout() => "timed out",
        Some(r) if r.is_connect() => "cannot connect",
        _ => "transport error",
    };
    format!("{kind}: {root}")
}

/// One node's part in a call: its URL, its address once it has said it, and what went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeReport {
    pub url: String,
    pub node: Option<Address>,
    /// `None` when the node did its part.
    pub fault: Option<Fault>,
}

impl fmt::Display for NodeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)?;
        if let Some(node) = self.node {
            write!(f, " ({node})")?;
        }
        match &self.fault {
            Some(fault) => write!(f, ": {fault}"),
            None => f.write_str(": ok"),
        }
    }
}

/// The text of [`Error::Quorum`]: the count, then one line per node that failed.
pub(crate) fn quorum_message(
    what: &str,
    got: usize,
    needed: usize,
    nodes: &[NodeReport],
) -> String {
    let mut out = format!("{what}: {got} of the {needed} nodes needed");
    for report in nodes.iter().filter(|r| r.fault.is_some()) {
        out.push_str(&format!("\n  - {report}"));
    }
    out
}

/// An operator of an epoch, as the nodes list it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    pub address: Address,
    /// Its evaluation point (docs 0007).
    pub id: u64,
    /// Where its node is, as the operator file says (informational).
    pub url: Option<String>,
}

/// What a node reports at `GET /v1/mpk`, checked for consistency: the commitment decodes and its
/// constant term is the MPK, its degree is the threshold, operator ids and addresses are unique.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkView {
    pub epoch: u64,
    pub threshold: usize,
    pub mpk: G2Point,
    pub commitment: Commitment,
    /// Sorted by address.
    pub operators: Vec<Operator>,
}

impl NetworkView {
    /// The operator with this address, if it is one in this epoch.
    pub fn operator(&self, address: Address) -> Option<&Operator> {
        self.operators.iter().find(|o| o.address == address)
    }

    /// Same epoch, commitment (so MPK and threshold) and operator ids; URLs do not count.
    fn same_as(&self, other: &Self) -> bool {
        self.epoch == other.epoch
            && self.mpk == other.mpk
            && self.commitment == other.commitment
            && self.operators.len() == other.operators.len()
            && self
                .operators
                .iter()
                .zip(&other.operators)
                .all(|(a, b)| a.address == b.address && a.id == b.id)
    }
}

/// The agreed view and every node's part in reaching it.
#[derive(Clone, Debug)]
pub struct MpkReport {
    pub view: NetworkView,
    /// How many of the epoch's operators reported it.
    pub agreeing: usize,
    /// How many had to: max(t, threshold_for(URLs): more than two thirds of them).
    pub needed: usize,
    /// One per URL, in the order given.
    pub nodes: Vec<NodeReport>,
}

/// A ciphertext and the view it was made under.
#[derive(Clone, Debug)]
pub struct Encrypted {
    pub ciphertext: Vec<u8>,
    pub network: MpkReport,
}

/// Encrypts `plaintext` to `app_id` under an MPK the caller already trusts (one anchored on
/// chain, say), without asking any node.
pub fn encrypt_to(mpk: &G2Point, app_id: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
    validate_app_id(app_id)?;
    let mut rng = local_rng()?;
    ibe::encrypt(mpk, app_id.as_bytes(), plaintext, &mut rng).map_err(|cause| Error::Crypto {
        what: "encryption failed",
        cause,
    })
}

/// A decrypted plaintext, the nodes whose partials recovered the key, and every node's part.
#[derive(Debug)]
pub struct Decrypted {
    pub plaintext: Zeroizing<Vec<u8>>,
    pub network: MpkReport,
    /// The t nodes whose partials were used, in URL order.
    pub used: Vec<Address>,
    /// One per URL, in the order given: partial-request outcomes for the nodes asked, the
    /// `/v1/mpk` outcome for the others.
    pub nodes: Vec<NodeReport>,
}

impl Decrypted {
    /// Nodes that sent a partial which does not verify.
    pub fn culprits(&self) -> Vec<Address> {
        self.nodes
            .iter()
            .filter(|r| r.fault.as_ref().is_some_and(Fault::is_culprit))
            .filter_map(|r| r.node)
            .collect()
    }
}

/// A node's `GET /v1/status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub node: String,
    pub epoch: Option<u64>,
    pub threshold: Option<u64>,
    pub members: u64,
    pub interval_secs: u64,
    pub round: Option<RoundStatus>,
    pub last_round: Option<LastRound>,
    /// Faults the node has proven against operators since it started (absent from nodes
    /// before issue 15).
    #[serde(default)]
    pub faults: Vec<OperatorFaults>,
}

/// Faults one node proved against one operator (each from a message the operator signed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorFaults {
    pub operator: String,
    pub count: u64,
    /// By reason code (`equivocation`, `attempt_out_of_bounds`, `flood`, ...).
    pub reasons: std::collections::BTreeMap<String, u64>,
}

/// The round a node is running.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundStatus {
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
    pub epoch: u64,
    /// `finalized`, `failed` or `caught_up`.
    pub outcome: String,
    /// Unix seconds.
    pub finished_at: u64,
    pub duration_ms: u64,
}

/// One node's status, or why there is none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusReport {
    pub url: String,
    pub status: std::result::Result<NodeStatus, Fault>,
}

/// A blocking client of a set of `kms-node`s.
#[derive(Debug, Clone)]
pub struct NodeClient {
    urls: Vec<String>,
    http: reqwest::blocking::Client,
    decoded: Decoded,
}

/// MPKs and commitments already decoded (and subgroup-checked), by their exact hex text: every
/// call asks every node for its view, and decoding each one again was a sixth of a decrypt's CPU.
#[derive(Debug, Clone, Default)]
pub(crate) struct Decoded(Arc<Mutex<Vec<DecodedView>>>);

/// (MPK text, commitment text, MPK, commitment).
type DecodedView = (String, String, G2Point, Commitment);

impl Decoded {
    /// A few views cover an epoch change; older ones are dropped first.
    const KEEP: usize = 4;

    fn get(&self, mpk: &str, commitment: &str) -> Option<(G2Point, Commitment)> {
        let list = self.0.lock().ok()?;
        list.iter()
            .find(|(m, c, _, _)| m == mpk && c == commitment)
            .map(|(_, _, p, cm)| (*p, cm.clone()))
    }

    fn put(&self, mpk: &str, commitment: &str, point: G2Point, decoded: Commitment) {
        if let Ok(mut list) = self.0.lock() {
            if list.len() >= Self::KEEP {
                list.remove(0);
            }
            list.push((mpk.to_owned(), commitment.to_owned(), point, decoded));
        }
    }
}

impl NodeClient {
    /// A client of the nodes at `urls` (base URLs, `http://host:port`), with [`NODE_TIMEOUT`].
    pub fn new<S: AsRef<str>>(urls: &[S]) -> Result<Self> {
        Self::with_options(urls, NODE_TIMEOUT, None)
    }

    /// As [`NodeClient::new`] with another per-request timeout and extra PEM roots to trust.
    pub fn with_options<S: AsRef<str>>(
        urls: &[S],
        timeout: Duration,
        extra_roots: Option<&[u8]>,
    ) -> Result<Self> {
        if urls.is_empty() {
            return Err(Error::InvalidUrl("no node URL given"));
        }
        let mut bases: Vec<String> = Vec::with_capacity(urls.len());
        for url in urls {
            let base = normalize_base(url.as_ref())?;
            // The same node twice would count twice towards agreement.
            if bases.contains(&base) {
                return Err(Error::InvalidUrl("a node URL is given twice"));
            }
            bases.push(base);
        }
        Ok(Self {
            urls: bases,
            http: http_client(timeout, extra_roots)?,
            decoded: Decoded::default(),
        })
    }

    /// The nodes' base URLs, without trailing slashes.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// Asks every node for `GET /v1/mpk` and returns the agreed view; [`Error::Quorum`] names each
    /// node that failed or disagreed when no view is shared by enough of them.
    ///
    /// While the answers span several epochs (some nodes have finalized a reshare and others not
    /// yet), it asks again every [`TRANSITION_RETRY`] for up to [`TRANSITION_WAIT`].
    pub fn fetch_mpk(&self) -> Result<MpkReport> {
        let started = Instant::now();
        loop {
            let answers = self.views();
            let in_transition = reported_epochs(&answers) > 1;
            match agree(&self.urls, answers, &self.decoded) {
                Err(Error::Quorum { .. })
                    if in_transition && started.elapsed() + TRANSITION_RETRY < TRANSITION_WAIT =>
                {
                    std::thread::sleep(TRANSITION_RETRY);
                }
                other => return other,
            }
        }
    }

    /// Every node's `GET /v1/mpk`, returned once the answers in hand agree on a view (and a
    /// short grace has passed), or once every node has answered.
    fn views(&self) -> Vec<std::result::Result<Value, Fault>> {
        let jobs: Vec<Option<Job<Value>>> = self
            .urls
            .iter()
            .map(|_| {
                let job: Job<Value> = Box::new(|http, url| {
                    answer(http.get(format!("{url}/v1/mpk"))).map_err(Fault::from_error)
                });
                Some(job)
            })
            .collect();
        let urls = self.urls.clone();
        let decoded = self.decoded.clone();
        let quorum = threshold_for(urls.len());
        let got = self.gather(jobs, true, move |got| {
            let answers: Vec<std::result::Result<Value, Fault>> = got
                .iter()
                .map(|a| a.clone().unwrap_or(Err(Fault::NotWaitedFor)))
                .collect();
            // Mid-reshare (answers from more than a quorum, on two epochs) the caller asks again
            // shortly; waiting for a straggler would only wait for its timeout.
            let answered = got.iter().filter(|a| a.is_some()).count();
            (answered >= quorum && reported_epochs(&answers) > 1)
                || agree(&urls, answers, &decoded).is_ok()
        });
        got.into_iter()
            .map(|a| a.unwrap_or(Err(Fault::NotWaitedFor)))
            .collect()
    }

    /// When the partials in hand fall short: waits for the views of the nodes that were not
    /// waited for at `/v1/mpk`, asks those that are operators of the pinned epoch, and recovers
    /// the key if their partials complete the set.
    fn ask_unidentified(
        &self,
        pin: Pinned<'_>,
        nodes: &mut [NodeReport],
        partials: &mut Vec<(usize, PartialSignature)>,
        rng: &mut ChaCha20Rng,
    ) -> Result<Option<(AppKey, Vec<Address>)>> {
        let fresh = self.identify(nodes, pin.view);
        if fresh.is_empty() {
            return Ok(None);
        }
        let mut asks: Vec<Option<Arc<Ask>>> = Vec::with_capacity(nodes.len());
        for (i, report) in nodes.iter().enumerate() {
            let op = fresh
                .contains(&i)
                .then(|| report.node.and_then(|n| pin.view.operator(n)))
                .flatten();
            asks.push(match op {
                Some(op) => Some(Arc::new(Ask::new(
                    op,
                    pin.app_id,
                    pin.owner,
                    pin.view.epoch,
                    pin.chain_id,
                    rng,
                )?)),
                None => None,
            });
        }
        let replies = self.ask(&asks, pin.app_id, pin.view, partials);
        record(&asks, replies, nodes, partials);
        Ok(combine(pin.view, pin.app_id, partials, nodes).ok())
    }

    /// Waits for the `/v1/mpk` answers of the nodes that were not waited for, and records who
    /// they are; returns those that report the pinned view (they can be asked for partials).
    fn identify(&self, nodes: &mut [NodeReport], view: &NetworkView) -> Vec<usize> {
        let jobs: Vec<Option<Job<Value>>> = nodes
            .iter()
            .map(|r| {
                (r.node.is_none() && r.fault == Some(Fault::NotWaitedFor)).then(|| {
                    let job: Job<Value> = Box::new(|http, url| {
                        answer(http.get(format!("{url}/v1/mpk"))).map_err(Fault::from_error)
                    });
                    job
                })
            })
            .collect();
        let mut fresh = Vec::new();
        for (i, got) in self.gather(jobs, false, |_| false).into_iter().enumerate() {
            let (Some(got), Some(report)) = (got, nodes.get_mut(i)) else {
                continue;
            };
            match got.and_then(|v| parse_mpk(&v, &self.decoded)) {
                Ok((node, v)) if v.same_as(view) && view.operator(node).is_some() => {
                    report.node = Some(node);
                    report.fault = None;
                    fresh.push(i);
                }
                Ok((node, v)) => {
                    report.node = Some(node);
                    report.fault = Some(Fault::Disagrees(format!(
                        "reports epoch {}; the agreed epoch is {}",
                        v.epoch, view.epoch
                    )));
                }
                Err(fault) => report.fault = Some(fault),
            }
        }
        fresh
    }

    /// Runs one job per URL at once (`None`: that URL is not asked) and collects the answers in
    /// URL order. Returns when every job has answered, or as soon as `settled` says the answers
    /// in hand are enough, after a grace of a quarter of the time that took (at most
    /// [`STRAGGLER_GRACE`]) when `grace`. A job still running then is left to finish on its own
    /// (each is bounded by the client's timeout) and its answer is `None`.
    fn gather<T: Send + 'static>(
        &self,
        jobs: Vec<Option<Job<T>>>,
        grace: bool,
        mut settled: impl FnMut(&[Option<std::result::Result<T, Fault>>]) -> bool,
    ) -> Vec<Option<std::result::Result<T, Fault>>> {
        let started = Instant::now();
        let (tx, rx) = std::sync::mpsc::channel();
        let mut pending = 0usize;
        for (i, (job, url)) in jobs.into_iter().zip(&self.urls).enumerate() {
            let Some(job) = job else {
                continue;
            };
            pending += 1;
            let (tx, http, url) = (tx.clone(), self.http.clone(), url.clone());
            std::thread::spawn(move || {
                let _ = tx.send((i, job(&http, &url)));
            });
        }
        drop(tx);
        let mut got: Vec<Option<std::result::Result<T, Fault>>> =
            (0..self.urls.len()).map(|_| None).collect();
        let mut deadline: Option<Instant> = None;
        while pending > 0 {
            let msg = match deadline {
                Some(d) => match rx.recv_timeout(d.saturating_duration_since(Instant::now())) {
                    Ok(m) => m,
                    Err(_) => break,
                },
                None => match rx.recv() {
                    Ok(m) => m,
                    Err(_) => break,
                },
            };
            pending -= 1;
            if let Some(slot) = got.get_mut(msg.0) {
                *slot = Some(msg.1);
            }
            if deadline.is_none() && pending > 0 && settled(&got) {
                if !grace {
                    break;
                }
                let waited = (started.elapsed() / 4).min(STRAGGLER_GRACE);
                deadline = Some(Instant::now() + waited);
            }
        }
        got
    }

    /// Encrypts `plaintext` to `app_id` under the agreed MPK.
    pub fn encrypt(&self, app_id: &str, plaintext: &[u8]) -> Result<Encrypted> {
        validate_app_id(app_id)?;
        let network = self.fetch_mpk()?;
        let ciphertext = encrypt_to(&network.view.mpk, app_id, plaintext)?;
        Ok(Encrypted {
            ciphertext,
            network,
        })
    }

    /// Decrypts a ciphertext for `app_id` as its owner: asks every operator of the agreed epoch
    /// for its partial (signed by `owner` in the node domain of `chain_id`, sealed to a fresh
    /// key), drops partials that do not verify, recovers the app key from t valid ones (checked
    /// against the MPK) and decrypts. [`Error::Quorum`] names each node that failed when fewer
    /// than t partials are valid.
    pub fn decrypt(
        &self,
        app_id: &str,
        owner: &EoaKey,
        ciphertext: &[u8],
        chain_id: u64,
    ) -> Result<Decrypted> {
        validate_app_id(app_id)?;
        // A file that is not a ciphertext would spend a nonce at every node for nothing.
        if ciphertext.len() < ibe::OVERHEAD || !ciphertext.starts_with(IBE_HEADER) {
            return Err(Error::BadCiphertext {
                what: "the input is not a KMS ciphertext",
                cause: kms_crypto::Error::Ciphertext("no KMSIBE version 1 header, or truncated"),
            });
        }
        let started = Instant::now();
        let mut rng = local_rng()?;
        let mut network = self.fetch_mpk()?;
        let (key, used, network, nodes) = 'pin: loop {
            let view = network.view.clone();
            let mut nodes = network.nodes.clone();
            // Requests are made and signed up front: a local failure (clock, randomness) stops
            // the call before any nonce is spent.
            let mut asks: Vec<Option<Arc<Ask>>> = Vec::with_capacity(nodes.len());
            for report in &nodes {
                let op = match (report.node, &report.fault) {
                    (Some(node), None | Some(Fault::Disagrees(_))) => view.operator(node),
                    _ => None,
                };
                asks.push(match op {
                    Some(op) => Some(Arc::new(Ask::new(
                        op, app_id, owner, view.epoch, chain_id, &mut rng,
                    )?)),
                    None => None,
                });
            }
            for (report, ask) in nodes.iter_mut().zip(&asks) {
                if ask.is_none() && report.fault.is_none() {
                    report.fault = Some(Fault::NotOperator { epoch: view.epoch });
                }
            }
            // A node that does not hold the pinned epoch answers `unknown_epoch`: behind (it
            // catches up) or, when the network reshared meanwhile, past it. While the partials
            // in hand are too few, the client asks such nodes again (new nonces) every
            // TRANSITION_RETRY for up to TRANSITION_WAIT, and pins the newer epoch once the
            // nodes agree on one.
            let mut partials: Vec<(usize, PartialSignature)> = Vec::new();
            loop {
                let replies = self.ask(&asks, app_id, &view, &partials);
                record(&asks, replies, &mut nodes, &mut partials);
                let err = match combine(&view, app_id, &partials, &mut nodes) {
                    Ok((key, used)) => break 'pin (key, used, network, nodes),
                    Err(e) => e,
                };
                // Only nodes that were asked (a node without an epoch at `/v1/mpk` was not).
                let lagging: Vec<usize> = nodes
                    .iter()
                    .zip(&asks)
                    .enumerate()
                    .filter(|(_, (r, ask))| {
                        ask.is_some() && r.fault.as_ref().is_some_and(Fault::is_behind)
                    })
                    .map(|(i, _)| i)
                    .collect();
                if lagging.is_empty() || started.elapsed() + TRANSITION_RETRY >= TRANSITION_WAIT {
                    // Last resort: the nodes not waited for at `/v1/mpk` were never asked.
                    if let Some(done) = self.ask_unidentified(
                        Pinned {
                            view: &view,
                            app_id,
                            owner,
                            chain_id,
                        },
                        &mut nodes,
                        &mut partials,
                        &mut rng,
                    )? {
                        break 'pin (done.0, done.1, network, nodes);
                    }
                    return Err(err);
                }
                std::thread::sleep(TRANSITION_RETRY);
                if let Ok(newer) = self.fetch_mpk() {
                    if newer.view.epoch > view.epoch {
                        if newer.view.mpk != view.mpk {
                            return Err(Error::Local(
                                "the nodes now agree on another master public key",
                            ));
                        }
                        network = newer;
                        continue 'pin;
                    }
                }
                for (i, ask) in asks.iter_mut().enumerate() {
                    *ask = match ask.take() {
                        Some(old) if lagging.contains(&i) => {
                            Some(Arc::new(old.renew(owner, chain_id, &mut rng)?))
                        }
                        _ => None,
                    };
                }
            }
        };
        let plaintext = ibe::decrypt(&key, app_id.as_bytes(), ciphertext).map_err(|cause| {
            Error::BadCiphertext {
                what: "the ciphertext does not decrypt with the app key (another app id, or tampered)",
                cause,
            }
        })?;
        Ok(Decrypted {
            plaintext,
            network,
            used,
            nodes,
        })
    }

    /// Asks every node for `GET /v1/status`.
    pub fn status(&self) -> Vec<StatusReport> {
        let answers = self.each(|http, url| answer(http.get(format!("{url}/v1/status"))));
        self.urls
            .iter()
            .zip(answers)
            .map(|(url, a)| StatusReport {
                url: url.clone(),
                status: a.and_then(|v| {
                    serde_json::from_value::<NodeStatus>(v)
                        .map_err(|e| Fault::BadAnswer(format!("status: {e}")))
                }),
            })
            .collect()
    }

    /// Sends every request in `asks` (one per URL, `None` for nodes not asked) at once, and
    /// returns as soon as the partials in hand (with `held`, from earlier asks) recover the key,
    /// or when every node asked has answered.
    fn ask(
        &self,
        asks: &[Option<Arc<Ask>>],
        app_id: &str,
        view: &NetworkView,
        held: &[(usize, PartialSignature)],
    ) -> Vec<Option<std::result::Result<PartialSignature, Fault>>> {
        let jobs: Vec<Option<Job<PartialSignature>>> = asks
            .iter()
            .map(|ask| {
                let ask = ask.clone()?;
                let app = app_id.to_owned();
                let job: Job<PartialSignature> =
                    Box::new(move |http, url| ask.send(http, url, &app));
                Some(job)
            })
            .collect();
        let commitment = view.commitment.clone();
        let threshold = view.threshold;
        let app = app_id.as_bytes().to_vec();
        let held: Vec<PartialSignature> = held.iter().map(|(_, p)| *p).collect();
        self.gather(jobs, false, move |got| {
            let mut list = held.clone();
            list.extend(
                got.iter()
                    .filter_map(|a| a.as_ref()?.as_ref().ok().copied()),
            );
            if list.len() < threshold {
                return false;
            }
            let (invalid, key) = check_and_recover(&commitment, &app, &list);
            key.is_ok() && list.len() - invalid.len() >= threshold
        })
    }

    /// Runs `call` for every URL at once, one thread each; answers in URL order.
    fn each<F>(&self, call: F) -> Vec<std::result::Result<Value, Fault>>
    where
        F: Fn(&reqwest::blocking::Client, &str) -> Result<Value> + Sync,
    {
        let call = &call;
        std::thread::scope(|s| {
            let handles: Vec<_> = self
                .urls
                .iter()
                .map(|url| s.spawn(move || call(&self.http, url).map_err(Fault::from_error)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Fault::BadAnswer("the request thread failed".into()))
                    })
                })
                .collect()
        })
    }
}

/// Files the replies to `asks` into the reports and the partials in hand (kept in URL order).
fn record(
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
struct Pinned<'a> {
    view: &'a NetworkView,
    app_id: &'a str,
    owner: &'a EoaKey,
    chain_id: u64,
}

/// One call to one node, run on its own thread.
type Job<T> =
    Box<dyn FnOnce(&reqwest::blocking::Client, &str) -> std::result::Result<T, Fault> + Send>;

/// One signed partial request, ready to send to one node.
struct Ask {
    operator: Operator,
    app_id: String,
    epoch: u64,
    response_key: EncryptionKey,
    body: Value,
}

impl Ask {
    fn new(
        operator: &Operator,
        app_id: &str,
        owner: &EoaKey,
        epoch: u64,
        chain_id: u64,
        rng: &mut ChaCha20Rng,
    ) -> Result<Self> {
        let response_key = EncryptionKey::random(rng);
        let request = PartialRequest {
            app_id: app_id.to_owned(),
            response_key: B256::from(response_key.public().to_bytes()),
            nonce: rng.next_u64(),
            deadline: unix_now()? + PARTIAL_VALIDITY.as_secs(),
            node: operator.address,
        };
        let signature = owner.sign_digest(&request.digest(chain_id))?;
        let body = json!({
            "response_key": format!("{}", request.response_key),
            "nonce": request.nonce,
            "deadline": request.deadline,
            "signature": format!("0x{}", hex::encode(signature)),
            "epoch": epoch,
        });
        Ok(Self {
            operator: operator.clone(),
            app_id: request.app_id,
            epoch,
            response_key,
            body,
        })
    }

    /// The same request with a new nonce and response key, for asking the node again.
    fn renew(&self, owner: &EoaKey, chain_id: u64, rng: &mut ChaCha20Rng) -> Result<Self> {
        Self::new(
            &self.operator,
            &self.app_id,
            owner,
            self.epoch,
            chain_id,
            rng,
        )
    }

    /// Posts the request and opens the reply.
    fn send(
        &self,
        http: &reqwest::blocking::Client,
        url: &str,
        app_id: &str,
    ) -> std::result::Result<PartialSignature, Fault> {
        let reply = answer(
            http.post(format!("{url}/v1/apps/{app_id}/partial"))
                .json(&self.body),
        )
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

/// Checks a partial reply `{"node", "id", "epoch", "sealed"}` against the node asked and the
/// epoch pinned, opens the sealed point with the response key and decodes it.
fn open_partial(
    reply: &Value,
    response_key: &EncryptionKey,
    app_id: &str,
    operator: &Operator,
    epoch: u64,
) -> std::result::Result<PartialSignature, Fault> {
    let bad = |why: String| Fault::BadAnswer(why);
    let node = address_field(reply, "node")?;
    if node != operator.address {
        return Err(bad(format!("answered as node {node}")));
    }
    let got_epoch = u64_field(reply, "epoch")?;
    if got_epoch != epoch {
        return Err(bad(format!(
            "answered for epoch {got_epoch} instead of {epoch}"
        )));
    }
    let id = u64_field(reply, "id")?;
    if id != operator.id {
        return Err(bad(format!(
            "answered with id {id}; its id in epoch {epoch} is {}",
            operator.id
        )));
    }
    let sealed = Sealed::from_bytes(&hex_field(reply, "sealed")?)
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
fn combine(
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

/// Finds the agreed view among the nodes' `/v1/mpk` answers (in URL order).
fn agree(
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
fn reported_epochs(answers: &[std::result::Result<Value, Fault>]) -> usize {
    let mut epochs: Vec<u64> = answers
        .iter()
        .filter_map(|a| a.as_ref().ok()?.get("epoch")?.as_u64())
        .collect();
    epochs.sort_unstable();
    epochs.dedup();
    epochs.len()
}

/// Parses and checks one node's `/v1/mpk` answer: its address and its view.
fn parse_mpk(v: &Value, decoded: &Decoded) -> std::result::Result<(Address, NetworkView), Fault> {
    let bad = |why: String| Fault::BadAnswer(why);
    let node = address_field(v, "node")?;
    let epoch = u64_field(v, "epoch")?;
    let threshold = u64_field(v, "threshold")?;
    let text = |name: &str| field(v, name).map(|x| x.as_str().unwrap_or_default());
    let (mpk_text, commitment_text) = (text("mpk")?, text("commitment")?);
    let (mpk, commitment) = match decoded.get(mpk_text, commitment_text) {
        Some(known) => known,
        None => {
            let mpk = G2Point::from_bytes(&hex_field(v, "mpk")?)
                .map_err(|e| bad(format!("\"mpk\": {e}")))?;
            let commitment = Commitment::from_bytes(&hex_field(v, "commitment")?)
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
    let list = v
        .get("operators")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no \"operators\" list".into()))?;
    let mut operators = Vec::with_capacity(list.len());
    for (k, entry) in list.iter().enumerate() {
        let address = address_field(entry, "address")
            .map_err(|f| bad(format!("operator {k}: {}", strip_bad(f))))?;
        let id =
            u64_field(entry, "id").map_err(|f| bad(format!("operator {k}: {}", strip_bad(f))))?;
        if id == 0 {
            return Err(bad(format!("operator {k}: id 0")));
        }
        let url = entry.get("url").and_then(Value::as_str).map(str::to_owned);
        operators.push(Operator { address, id, url });
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
fn strip_bad(f: Fault) -> String {
    match f {
        Fault::BadAnswer(why) => why,
        other => other.to_string(),
    }
}

fn field<'a>(v: &'a Value, name: &str) -> std::result::Result<&'a Value, Fault> {
    v.get(name)
        .ok_or_else(|| Fault::BadAnswer(format!("no \"{name}\"")))
}

fn u64_field(v: &Value, name: &str) -> std::result::Result<u64, Fault> {
    field(v, name)?
        .as_u64()
        .ok_or_else(|| Fault::BadAnswer(format!("\"{name}\" is not an unsigned integer")))
}

fn address_field(v: &Value, name: &str) -> std::result::Result<Address, Fault> {
    field(v, name)?
        .as_str()
        .and_then(|s| s.parse::<Address>().ok())
        .ok_or_else(|| Fault::BadAnswer(format!("\"{name}\" is not a 0x address")))
}

fn hex_field(v: &Value, name: &str) -> std::result::Result<Vec<u8>, Fault> {
    field(v, name)?
        .as_str()
        .and_then(|s| s.strip_prefix("0x"))
        .and_then(|s| hex::decode(s).ok())
        .ok_or_else(|| Fault::BadAnswer(format!("\"{name}\" is not 0x-prefixed hex")))
}

/// `0x` and the first 8 bytes, for messages.
fn short_hex(bytes: &[u8]) -> String {
    format!("0x{}…", hex::encode(bytes.get(..8).unwrap_or(bytes)))
}

fn unix_now() -> Result<u64> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| Error::Local("the system clock is before 1970"))
}

/// A CSPRNG seeded from the OS once, so that no later draw can fail.
fn local_rng() -> Result<ChaCha20Rng> {
    let mut seed = Zeroizing::new([0u8; 32]);
    OsRng
        .try_fill_bytes(seed.as_mut())
        .map_err(|_| Error::Local("the operating system gave no randomness"))?;
    Ok(ChaCha20Rng::from_seed(*seed))
}

#[cfg(test)]
mod tests;
