//! Outgoing protocol messages: one task per peer, so a slow or dead peer delays nobody. A task
//! batches what is queued for one round into one `POST /v1/protocol`, and retries with jittered
//! backoff until the message's deadline (the end of its round); every call has a timeout.

use crate::metrics::Metrics;
use kms_api::batch::{encode_list, MAX_BATCH_BYTES, MAX_BATCH_ITEMS};
use kms_api::node::PROTOCOL_PATH;
use kms_protocol::{hex_address, Address};
use rand_core::{OsRng, RngCore};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// One message for one peer.
#[derive(Clone)]
pub struct Outgoing {
    /// The digest of the round it belongs to: a batch holds one round's messages.
    pub round: [u8; 32],
    /// The encoded message.
    pub bytes: Arc<Vec<u8>>,
    /// Retried until then (the end of its round), then dropped.
    pub deadline: Instant,
}

struct Peer {
    url: String,
    tx: mpsc::UnboundedSender<Outgoing>,
}

/// The per-peer senders.
pub struct Transport {
    client: reqwest::Client,
    peers: Mutex<HashMap<Address, Peer>>,
    metrics: Arc<Metrics>,
}

impl Transport {
    /// A transport with no peers yet; every call has a 1 s connect and a 10 s overall timeout.
    pub fn new(metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            client,
            peers: Mutex::new(HashMap::new()),
            metrics,
        })
    }

    /// The HTTP client the peer tasks share, for other calls to peers (catch-up).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Queues `msg` for `peer` at `url`. Must be called inside the runtime (or with its handle
    /// entered), since a new peer gets a task.
    pub fn send(&self, rt: &tokio::runtime::Handle, peer: Address, url: &str, msg: Outgoing) {
        let Ok(mut peers) = self.peers.lock() else {
            return;
        };
        let alive = peers
            .get(&peer)
            .is_some_and(|p| p.url == url && !p.tx.is_closed());
        if !alive {
            let (tx, rx) = mpsc::unbounded_channel();
            let task = PeerTask {
                client: self.client.clone(),
                url: format!("{url}{PROTOCOL_PATH}"),
                label: hex_address(&peer),
                metrics: self.metrics.clone(),
            };
            rt.spawn(task.run(rx));
            peers.insert(
                peer,
                Peer {
                    url: url.to_string(),
                    tx,
                },
            );
        }
        if let Some(p) = peers.get(&peer) {
            let _ = p.tx.send(msg);
        }
    }
}

struct PeerTask {
    client: reqwest::Client,
    url: String,
    label: String,
    metrics: Arc<Metrics>,
}

impl PeerTask {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
        let mut pending: Vec<Outgoing> = Vec::new();
        let mut backoff = Duration::from_millis(50);
        loop {
            if pending.is_empty() {
                match rx.recv().await {
                    Some(m) => pending.push(m),
                    None => return,
                }
            }
            while let Ok(m) = rx.try_recv() {
                pending.push(m);
            }
            let now = Instant::now();
            pending.retain(|m| m.deadline > now);
            let Some(first) = pending.first() else {
                continue;
            };
            // One round per request: a receiver answers for the round it is running.
            let round = first.round;
            let mut batch = Vec::new();
            let mut size = 0;
            for m in pending.iter().filter(|m| m.round == round) {
                if batch.len() == MAX_BATCH_ITEMS || size + m.bytes.len() + 4 > MAX_BATCH_BYTES {
                    break;
                }
                size += m.bytes.len() + 4;
                batch.push(m.bytes.clone());
            }
            let sent = batch.len();
            let refs: Vec<&[u8]> = batch.iter().map(|b| b.as_slice()).collect();
            match self.post(encode_list(&refs)).await {
                Ok(()) => {
                    backoff = Duration::from_millis(50);
                    let mut dropped = 0;
                    pending.retain(|m| {
                        if m.round == round && dropped < sent {
                            dropped += 1;
                            false
                        } else {
                            true
                        }
                    });
                }
                Err(why) => {
                    self.metrics.peer_error(&self.label);
                    tracing::debug!(peer = %self.label, %why, "send failed; retrying");
                    let latest = pending
                        .iter()
                        .map(|m| m.deadline)
                        .max()
                        .unwrap_or_else(Instant::now);
                    let jitter = Duration::from_millis(OsRng.next_u64() % 50);
                    let wake = (Instant::now() + backoff + jitter).min(latest);
                    tokio::time::sleep_until(wake).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    async fn post(&self, body: Vec<u8>) -> Result<(), String> {
        let resp = self
            .client
            .post(&self.url)
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        // 409: the peer is not running this round yet (or any more); worth retrying until the
        // deadline. 400s other than that will not get better.
        if status.as_u16() == 409 || status.is_server_error() {
            Err(format!("status {status}"))
        } else {
            tracing::warn!(peer = %self.label, %status, "peer refused a batch");
            Ok(())
        }
    }
}
