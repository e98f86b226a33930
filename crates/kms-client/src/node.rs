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

use crate::{answer, http_client, normalize_base, Blocking, Error, Result};
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
use serde_json::Value;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
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
/// The least of that wait: below a few milliseconds, a quarter of a fast round trip is less than
/// the operating system's scheduling noise, and a node that answered as fast as the others would
/// count as a straggler.
pub const STRAGGLER_FLOOR: Duration = Duration::from_millis(5);
pub use kms_api::app::{MAX_APP_ID_LEN, PARTIAL_AAD_TAG};
pub use kms_api::node::{LastRound, OperatorFaults, RoundStatus, StatusAnswer as NodeStatus};
use kms_api::node::{MPK_PATH, STATUS_PATH};
/// An IBE ciphertext's first bytes: magic and version 1 (docs/0003).
const IBE_HEADER: &[u8] = b"KMSIBE\x01";

/// Checks an app id the way the nodes do (`kms_api::app::check_app_id`).
pub fn validate_app_id(app_id: &str) -> Result<()> {
    kms_api::app::check_app_id(app_id).map_err(|e| Error::InvalidAppId(e.reason()))
}

/// The associated data a node seals its partial under (`kms_api::app::partial_aad`), for an
/// app id that is checked first.
pub fn partial_aad(app_id: &str, node: Address, epoch: u64) -> Result<Vec<u8>> {
    let app = kms_api::AppId::new(app_id).map_err(|e| Error::InvalidAppId(e.reason()))?;
    Ok(kms_api::app::partial_aad(&app, &node.into_array(), epoch))
}

mod blocking;
mod releases;
mod report;
mod session;
pub use blocking::*;
pub use releases::*;
pub use report::*;
pub use session::*;

/// An operator of an epoch, as the nodes list it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    /// Its address.
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
    /// The epoch.
    pub epoch: u64,
    /// How many partials recover a key (the commitment's degree plus one).
    pub threshold: usize,
    /// The master public key.
    pub mpk: G2Point,
    /// The epoch's public polynomial.
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
    /// The agreed view.
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
    /// The IBE ciphertext (docs 0003).
    pub ciphertext: Vec<u8>,
    /// The view it was encrypted under.
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
    /// The plaintext, wiped when dropped.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The view the partials were asked under.
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

/// One node's status, or why there is none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusReport {
    /// The URL asked.
    pub url: String,
    /// Its answer, or why there is none.
    pub status: std::result::Result<NodeStatus, Fault>,
}

/// An async client of a set of `kms-node`s (for callers inside a runtime; [`NodeClient`] is
/// the same, blocking).
#[derive(Debug, Clone)]
pub struct AsyncNodeClient {
    urls: Vec<String>,
    http: reqwest::Client,
    decoded: Decoded,
    /// The longest wait for stragglers once the answers in hand settle a view.
    grace: Duration,
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

impl AsyncNodeClient {
    /// A client of the nodes at `urls` (base URLs, `http://host:port`), with [`NODE_TIMEOUT`].
    pub fn new<S: AsRef<str>>(urls: &[S]) -> Result<Self> {
        Self::with_options(urls, NODE_TIMEOUT, None)
    }

    /// As [`AsyncNodeClient::new`] with another per-request timeout and extra PEM roots to trust.
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
            grace: STRAGGLER_GRACE,
        })
    }

    /// The same client with another longest wait for stragglers (default [`STRAGGLER_GRACE`]):
    /// longer hears every node that answers within it, at the cost of that wait when one is
    /// silent.
    pub fn with_straggler_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
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
    pub async fn fetch_mpk(&self) -> Result<MpkReport> {
        let started = Instant::now();
        loop {
            let answers = self.views().await;
            let in_transition = reported_epochs(&answers) > 1;
            match agree(&self.urls, answers, &self.decoded) {
                Err(Error::Quorum { .. })
                    if in_transition && started.elapsed() + TRANSITION_RETRY < TRANSITION_WAIT =>
                {
                    tokio::time::sleep(TRANSITION_RETRY).await;
                }
                other => return other,
            }
        }
    }

    /// Every node's `GET /v1/mpk`, returned once the answers in hand agree on a view (and a
    /// short grace has passed), or once every node has answered.
    async fn views(&self) -> Vec<std::result::Result<Value, Fault>> {
        let jobs: Vec<Option<Job<Value>>> = self
            .urls
            .iter()
            .map(|url| Some(self.get_job(url, MPK_PATH)))
            .collect();
        let urls = self.urls.clone();
        let decoded = self.decoded.clone();
        let quorum = threshold_for(urls.len());
        let got = self
            .gather(jobs, true, move |got| {
                let answers: Vec<std::result::Result<Value, Fault>> = got
                    .iter()
                    .map(|a| a.clone().unwrap_or(Err(Fault::NotWaitedFor)))
                    .collect();
                // Mid-reshare (answers from more than a quorum, on two epochs) the caller asks again
                // shortly; waiting for a straggler would only wait for its timeout.
                let answered = got.iter().filter(|a| a.is_some()).count();
                (answered >= quorum && reported_epochs(&answers) > 1)
                    || agree(&urls, answers, &decoded).is_ok()
            })
            .await;
        got.into_iter()
            .map(|a| a.unwrap_or(Err(Fault::NotWaitedFor)))
            .collect()
    }

    /// When the partials in hand fall short: waits for the views of the nodes that were not
    /// waited for at `/v1/mpk`, asks those that are operators of the pinned epoch, and recovers
    /// the key if their partials complete the set.
    async fn ask_unidentified(
        &self,
        pin: Pinned<'_>,
        nodes: &mut [NodeReport],
        partials: &mut Vec<(usize, PartialSignature)>,
        rng: &mut ChaCha20Rng,
    ) -> Result<Option<(AppKey, Vec<Address>)>> {
        let fresh = self.identify(nodes, pin.view).await;
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
                    pin.credential,
                    pin.view.epoch,
                    pin.chain_id,
                    rng,
                )?)),
                None => None,
            });
        }
        let replies = self.ask(&asks, pin.app_id, pin.view, partials).await;
        record(&asks, replies, nodes, partials);
        Ok(combine(pin.view, pin.app_id, partials, nodes).ok())
    }

    /// Waits for the `/v1/mpk` answers of the nodes that were not waited for, and records who
    /// they are; returns those that report the pinned view (they can be asked for partials).
    async fn identify(&self, nodes: &mut [NodeReport], view: &NetworkView) -> Vec<usize> {
        let jobs: Vec<Option<Job<Value>>> = nodes
            .iter()
            .zip(&self.urls)
            .map(|(r, url)| {
                (r.node.is_none() && r.fault == Some(Fault::NotWaitedFor))
                    .then(|| self.get_job(url, MPK_PATH))
            })
            .collect();
        let mut fresh = Vec::new();
        let got = self.gather(jobs, false, |_| false).await;
        for (i, got) in got.into_iter().enumerate() {
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

    /// `GET {url}{path}` as a job for [`AsyncNodeClient::gather`].
    fn get_job(&self, url: &str, path: &str) -> Job<Value> {
        let request = self.http.get(format!("{url}{path}"));
        Box::pin(async move { answer(request).await.map_err(Fault::from_error) })
    }

    /// Runs one job per URL at once (`None`: that URL is not asked) and collects the answers in
    /// URL order. Returns when every job has answered, or as soon as `settled` says the answers
    /// in hand are enough, after a grace of a quarter of the time that took (at least
    /// [`STRAGGLER_FLOOR`], at most the client's grace) when `grace`. A job still running then is dropped (each is bounded
    /// by the client's timeout anyway) and its answer is `None`.
    async fn gather<T: Send + 'static>(
        &self,
        jobs: Vec<Option<Job<T>>>,
        grace: bool,
        mut settled: impl FnMut(&[Option<std::result::Result<T, Fault>>]) -> bool + Send,
    ) -> Vec<Option<std::result::Result<T, Fault>>> {
        let started = Instant::now();
        let mut running = tokio::task::JoinSet::new();
        for (i, job) in jobs.into_iter().enumerate() {
            if let Some(job) = job {
                running.spawn(async move { (i, job.await) });
            }
        }
        let mut got: Vec<Option<std::result::Result<T, Fault>>> =
            (0..self.urls.len()).map(|_| None).collect();
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            let next = match deadline {
                Some(d) => match tokio::time::timeout_at(d, running.join_next()).await {
                    Ok(next) => next,
                    Err(_) => break,
                },
                None => running.join_next().await,
            };
            let Some(joined) = next else {
                break;
            };
            // A job that panicked or was cancelled leaves its slot empty.
            let Ok((i, answer)) = joined else {
                continue;
            };
            if let Some(slot) = got.get_mut(i) {
                *slot = Some(answer);
            }
            if deadline.is_none() && !running.is_empty() && settled(&got) {
                if !grace {
                    break;
                }
                let waited = (started.elapsed() / 4).max(STRAGGLER_FLOOR).min(self.grace);
                deadline = Some(tokio::time::Instant::now() + waited);
            }
        }
        got
    }

    /// Encrypts `plaintext` to `app_id` under the agreed MPK.
    pub async fn encrypt(&self, app_id: &str, plaintext: &[u8]) -> Result<Encrypted> {
        validate_app_id(app_id)?;
        let network = self.fetch_mpk().await?;
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
    pub async fn decrypt(
        &self,
        app_id: &str,
        owner: &EoaKey,
        ciphertext: &[u8],
        chain_id: u64,
    ) -> Result<Decrypted> {
        self.decrypt_with(app_id, Credential::Owner(owner), ciphertext, chain_id)
            .await
    }

    /// [`NodeClient::decrypt`] with any credential: for an app released to attested images, the
    /// evidence its TEE made for [`Session::binding`] (docs 0012). A node that refuses says why in
    /// its report (`attestation_expired`, `release_not_approved`, ...).
    pub async fn decrypt_with(
        &self,
        app_id: &str,
        credential: Credential<'_>,
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
        let mut network = self.fetch_mpk().await?;
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
                        op, app_id, credential, view.epoch, chain_id, &mut rng,
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
                let replies = self.ask(&asks, app_id, &view, &partials).await;
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
                    if let Some(done) = self
                        .ask_unidentified(
                            Pinned {
                                view: &view,
                                app_id,
                                credential,
                                chain_id,
                            },
                            &mut nodes,
                            &mut partials,
                            &mut rng,
                        )
                        .await?
                    {
                        break 'pin (done.0, done.1, network, nodes);
                    }
                    return Err(err);
                }
                tokio::time::sleep(TRANSITION_RETRY).await;
                if let Ok(newer) = self.fetch_mpk().await {
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
                            Some(Arc::new(old.renew(credential, chain_id, &mut rng)?))
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
    pub async fn status(&self) -> Vec<StatusReport> {
        let jobs = self
            .urls
            .iter()
            .map(|url| Some(self.get_job(url, STATUS_PATH)))
            .collect();
        let answers = self.gather(jobs, false, |_| false).await;
        self.urls
            .iter()
            .zip(answers)
            .map(|(url, a)| StatusReport {
                url: url.clone(),
                status: a
                    .unwrap_or(Err(Fault::BadAnswer("the request task failed".into())))
                    .and_then(|v| {
                        serde_json::from_value::<NodeStatus>(v)
                            .map_err(|e| Fault::BadAnswer(format!("status: {e}")))
                    }),
            })
            .collect()
    }

    /// Sends every request in `asks` (one per URL, `None` for nodes not asked) at once, and
    /// returns as soon as the partials in hand (with `held`, from earlier asks) recover the key,
    /// or when every node asked has answered.
    async fn ask(
        &self,
        asks: &[Option<Arc<Ask>>],
        app_id: &str,
        view: &NetworkView,
        held: &[(usize, PartialSignature)],
    ) -> Vec<Option<std::result::Result<PartialSignature, Fault>>> {
        let jobs: Vec<Option<Job<PartialSignature>>> = asks
            .iter()
            .zip(&self.urls)
            .map(|(ask, url)| {
                let ask = ask.clone()?;
                let (app, http, url) = (app_id.to_owned(), self.http.clone(), url.clone());
                let job: Job<PartialSignature> =
                    Box::pin(async move { ask.send(&http, &url, &app).await });
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
        .await
    }
}

mod agree;
mod ask;
mod partial;
use agree::*;
use ask::*;
use partial::*;

#[cfg(test)]
mod tests;
