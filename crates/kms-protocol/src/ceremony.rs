//! One node's share of a ceremony, for benchmarks: a whole cluster runs once in memory, then the
//! messages one node received are replayed into a fresh dealer and player, so the timed part is
//! exactly that node's CPU: deal, verify every dealing and log, vote, finalize.

use crate::observe::Output;
use crate::round::RoundConfig;
use crate::sim::{rng_for, run_round, Perfect, Phase, SimNode};
use crate::{Address, Body, Dealer, Player};
use kms_crypto::bls::SecretScalar;
use kms_crypto::seal::EncryptionKey;
use kms_crypto::{bn254, Secret};
use std::sync::Arc;

/// Everything one node needs to replay its part of a round.
pub struct Prepared {
    /// The round replayed: the DKG, or the reshare after it.
    pub cfg: Arc<RoundConfig>,
    address: Address,
    key: Arc<bn254::SecretKey>,
    enc: Arc<EncryptionKey>,
    seed: Secret<[u8; 32]>,
    share: Option<Secret<SecretScalar>>,
    /// Messages the node received, by phase, in order.
    received: Vec<(Phase, Vec<u8>)>,
    /// The same, decoded (points checked) ahead of time.
    decoded: Vec<(Phase, crate::Envelope)>,
}

/// Runs a DKG (and, with `reshare`, a reshare of it among the same n) and keeps what one
/// non-leader node received in the last round.
pub fn prepare_ceremony(n: usize, reshare: bool, seed: u64) -> Prepared {
    let mut rng = rng_for(seed, "ceremony-keys");
    let mut nodes: Vec<SimNode> = (1..=n as u64)
        .map(|id| SimNode::generate(&mut rng, id))
        .collect();
    let ops: Vec<_> = nodes.iter().map(|n| n.operator.clone()).collect();
    let mut cfg = Arc::new(config_or_die(RoundConfig::dkg(
        1,
        31337,
        [7u8; 20],
        ops.clone(),
    )));
    let mut res = run_round(&cfg, &mut nodes, &mut Perfect, 1);
    if reshare {
        let prev = res.outputs.values().next().map(|o| o.public.clone());
        for node in nodes.iter_mut() {
            node.output = res.outputs.remove(&node.address());
        }
        let prev = prev.unwrap_or_else(|| die("DKG did not finalize"));
        cfg = Arc::new(config_or_die(RoundConfig::reshare(
            1,
            2,
            31337,
            [7u8; 20],
            ops.clone(),
            ops,
            prev,
        )));
        res = run_round(&cfg, &mut nodes, &mut Perfect, 1);
    }
    let leader = cfg.leader(0);
    let me = nodes
        .iter()
        .find(|n| n.address() != leader)
        .unwrap_or_else(|| die("no node"));
    // What the node received, but for the copies of the certificate other nodes pass on after
    // finalizing: a node that holds the certificate skips those unread (lifecycle).
    let mut certificates = 0;
    let received: Vec<(Phase, Vec<u8>)> = res
        .transcript
        .iter()
        .filter(|(_, _, to, _)| *to == me.address())
        .filter(|(_, _, _, b)| {
            let cert =
                crate::RawEnvelope::peek(b).is_ok_and(|h| h.kind == crate::Kind::Certificate);
            certificates += usize::from(cert);
            !cert || certificates == 1
        })
        .map(|(p, _, _, b)| (*p, b.clone()))
        .collect();
    let mut cache = crate::CommitmentCache::default();
    let decoded = received
        .iter()
        .filter_map(|(p, b)| {
            let env = crate::RawEnvelope::parse(b).ok()?.open(&mut cache).ok()?;
            Some((*p, env))
        })
        .collect();
    Prepared {
        cfg: cfg.clone(),
        address: me.address(),
        key: me.key.clone(),
        enc: me.enc.clone(),
        seed: me.seed.duplicate(),
        share: me.share().map(Secret::duplicate),
        received,
        decoded,
    }
}

/// The timed part: this node deals, decodes and checks every deal, acks, builds its log, checks
/// every log, votes and finalizes.
pub fn node_ceremony(p: &Prepared) -> Output {
    run_node(p, |player, phase| {
        let batch: Vec<&[u8]> = p
            .received
            .iter()
            .filter(|(ph, _)| *ph == phase)
            .map(|(_, b)| b.as_slice())
            .collect();
        player.receive(&batch)
    })
}

/// As [`node_ceremony`], with messages decoded beforehand (as an in-memory comparison that
/// leaves out the wire format does). Signatures and every protocol check still run.
pub fn node_ceremony_decoded(p: &Prepared) -> Output {
    run_node(p, |player, phase| {
        let batch: Vec<crate::Envelope> = p
            .decoded
            .iter()
            .filter(|(ph, _)| *ph == phase)
            .map(|(_, e)| e.clone())
            .collect();
        player.receive_decoded(batch)
    })
}

fn run_node(
    p: &Prepared,
    mut receive: impl FnMut(&mut Player, Phase) -> Vec<Result<crate::Received, crate::Reject>>,
) -> Output {
    // Read once: the laps sit inside the timed region.
    let laps = std::env::var_os("KMS_LAPS").is_some();
    let t = std::time::Instant::now();
    let lap = |what: &str| {
        if laps {
            eprintln!("  {what}: {:.1} ms", t.elapsed().as_secs_f64() * 1e3)
        }
    };
    let (mut dealer, deals) = Dealer::new(
        p.cfg.clone(),
        p.address,
        p.key.clone(),
        &p.seed,
        p.share.as_ref(),
    )
    .unwrap_or_else(|_| die("deal"));
    let mut player = Player::new(p.cfg.clone(), p.address, p.key.clone(), p.enc.clone())
        .unwrap_or_else(|_| die("player"));
    lap("dealt");
    // A node takes its own messages directly (they never cross the network).
    let own = deals
        .into_iter()
        .filter(|d| d.raw.recipient == Some(p.address))
        .collect();
    let _ = player.receive_decoded(own);
    receive(&mut player, Phase::Deal);
    lap("deals received");
    let acks = player.end_deals();
    lap("end_deals");
    for r in player.receive_decoded(vec![acks]).into_iter().flatten() {
        let _ = dealer.handle_acks(&r.envelope);
    }
    for r in receive(&mut player, Phase::Acks).into_iter().flatten() {
        if matches!(r.envelope.body, Body::Acks(_)) {
            let _ = dealer.handle_acks(&r.envelope);
        }
    }
    let log = dealer.log();
    lap("acks+log");
    let _ = player.receive_decoded(log.into_iter().collect());
    receive(&mut player, Phase::Log);
    lap("logs received");
    let _status = player.start_attempt(0);
    lap("logs checked");
    receive(&mut player, Phase::Agreement(0));
    lap("agreement");
    player.finalize().unwrap_or_else(|e| die(&e.to_string()))
}

fn config_or_die(r: Result<RoundConfig, crate::ConfigError>) -> RoundConfig {
    r.unwrap_or_else(|e| die(&e.to_string()))
}

// Benchmark set-up only: a failure here is a bug to see at once, not an input to handle.
#[allow(clippy::panic)]
fn die(what: &str) -> ! {
    panic!("ceremony: {what}")
}
