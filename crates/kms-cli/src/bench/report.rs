//! The report: figures, goals and the table printed at the end.

use super::*;

/// Distribution of a set of samples.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Summary {
    pub count: usize,
    pub min: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Summary {
    /// None for no samples (or samples that are not numbers).
    pub fn of(samples: &[f64]) -> Option<Self> {
        let mut sorted: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let count = sorted.len();
        Some(Self {
            count,
            min: *sorted.first()?,
            p50: percentile(&sorted, 50.0)?,
            p99: percentile(&sorted, 99.0)?,
            max: *sorted.last()?,
            mean: round3(sorted.iter().sum::<f64>() / count as f64),
        })
    }
}

/// Nearest-rank percentile of ascending samples: the smallest sample with at least `p` % of the
/// samples at or below it.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=100.0).contains(&p) {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// Milliseconds to three decimals: finer is noise here.
pub(super) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub(super) fn ms(d: Duration) -> f64 {
    round3(d.as_secs_f64() * 1000.0)
}

#[derive(Debug, Serialize)]
pub(super) struct Report {
    pub(super) settings: Settings,
    pub(super) networks: Vec<NetworkFigures>,
    pub(super) decrypt: DecryptFigures,
    pub(super) floor: FloorFigures,
    pub(super) goals: Vec<Goal>,
}

#[derive(Debug, Serialize)]
pub(super) struct Settings {
    pub(super) nodes: Vec<u32>,
    pub(super) interval_secs: u64,
    pub(super) decrypts: u32,
    pub(super) seconds: u64,
    pub(super) concurrency: u32,
    /// CPUs this process may use.
    pub(super) cpus: usize,
    /// How this `kms` was built (the nodes are usually built the same way).
    pub(super) build: &'static str,
}

/// One round as the nodes report it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct RoundFigures {
    pub epoch: u64,
    /// Over the nodes that finalized the round: the slowest one and the median one.
    pub max_ms: f64,
    pub median_ms: f64,
    /// How many nodes finalized it (the others caught up, failed or did not say).
    pub finalized: usize,
}

#[derive(Debug, Serialize)]
pub(super) struct NetworkFigures {
    pub(super) nodes: u32,
    pub(super) threshold: usize,
    pub(super) genesis: RoundFigures,
    pub(super) reshares: Vec<RoundFigures>,
    /// Median and max over the reshares of each round's max over nodes.
    pub(super) reshare_median_ms: f64,
    pub(super) reshare_max_ms: f64,
    /// Rounds that no node finalized: DKG attempts before genesis (the genesis figures are the
    /// attempt that succeeded), and rounds between genesis and the last reshare measured.
    pub(super) failed_dkg_rounds: usize,
    pub(super) failed_reshare_rounds: usize,
}

#[derive(Debug, Serialize)]
pub(super) struct DecryptFigures {
    pub(super) nodes: u32,
    pub(super) threshold: usize,
    pub(super) app_id: String,
    pub(super) plaintext_bytes: usize,
    pub(super) sequential: Sequential,
    pub(super) sustained: Sustained,
    /// The first distinct error messages (sequential and sustained).
    pub(super) error_messages: Vec<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct Sequential {
    pub(super) ok: usize,
    pub(super) errors: usize,
    pub(super) latency_ms: Summary,
}

#[derive(Debug, Serialize)]
pub(super) struct Sustained {
    pub(super) concurrency: u32,
    /// From the start until the last call in flight returned.
    pub(super) wall_secs: f64,
    pub(super) ok: u64,
    pub(super) errors: u64,
    pub(super) decrypts_per_sec: f64,
    /// CPU time (user + system) per successful decrypt over this phase, from /proc (Linux only):
    /// this process, and all nodes together (their reshares included).
    pub(super) client_cpu_ms_per_decrypt: Option<f64>,
    pub(super) nodes_cpu_ms_per_decrypt: Option<f64>,
}

#[derive(Debug, Serialize)]
pub(super) struct FloorFigures {
    pub(super) nodes: u32,
    pub(super) threshold: usize,
    /// t partials checked against precomputed public shares, Lagrange recovery, the MPK check
    /// (one pairing) and the IBE decryption.
    pub(super) floor_ms: Summary,
    /// Decrypt p50 over floor p50.
    pub(super) ratio_p50: f64,
    /// The same crypto as kms-client runs it: one pairing product over all n partials and the
    /// key recovered from the first t (`check_and_recover`), and the decryption.
    pub(super) client_crypto_ms: Summary,
    /// `NodeClient::fetch_mpk` alone, timed between the decrypts: every decrypt starts with one.
    pub(super) fetch_mpk_ms: Summary,
}

#[derive(Debug, Serialize)]
pub(super) struct Goal {
    pub(super) goal: String,
    pub(super) measured: String,
    /// PASS, MISS, or n/a when this run does not measure it.
    pub(super) status: &'static str,
}

pub(super) fn verdict(pass: bool) -> &'static str {
    if pass {
        "PASS"
    } else {
        "MISS"
    }
}

pub(super) fn goals(
    networks: &[NetworkFigures],
    d: &DecryptFigures,
    f: &FloorFigures,
) -> Vec<Goal> {
    let dkg_goal = format!(
        "{GOAL_DKG_NODES}-node genesis DKG under {} s (max over nodes)",
        GOAL_DKG_MS / 1000.0
    );
    let dkg = match networks.iter().find(|n| n.nodes == GOAL_DKG_NODES) {
        Some(n) => Goal {
            goal: dkg_goal,
            measured: format!("{} ms", n.genesis.max_ms),
            status: verdict(n.genesis.max_ms < GOAL_DKG_MS),
        },
        None => Goal {
            goal: dkg_goal,
            measured: format!("not measured ({GOAL_DKG_NODES} is not in --nodes)"),
            status: "n/a",
        },
    };
    let errors = d.sequential.errors as u64 + d.sustained.errors;
    vec![
        dkg,
        Goal {
            goal: format!("decrypt p50 within {GOAL_FLOOR_RATIO}x the crypto floor p50"),
            measured: format!(
                "{:.2}x ({:.2} ms / {:.2} ms)",
                f.ratio_p50, d.sequential.latency_ms.p50, f.floor_ms.p50
            ),
            status: verdict(f.ratio_p50 <= GOAL_FLOOR_RATIO),
        },
        Goal {
            goal: format!("at least {GOAL_DECRYPTS_PER_SEC} decrypts/s sustained, zero errors"),
            measured: format!("{:.1}/s, {errors} errors", d.sustained.decrypts_per_sec),
            status: verdict(d.sustained.decrypts_per_sec >= GOAL_DECRYPTS_PER_SEC && errors == 0),
        },
    ]
}

pub(super) fn table(r: &Report) -> String {
    let s = &r.settings;
    let mut out = format!(
        "kms bench · {} CPUs · {} build · interval {} s\n\n",
        s.cpus, s.build, s.interval_secs
    );
    out.push_str(&format!(
        "{:<10} {:<40} {:<32} {}\n",
        "network",
        "genesis DKG: max / median of nodes",
        "reshares: median / max of 3*",
        "failed rounds: DKG, reshare"
    ));
    for n in &r.networks {
        let network = format!("{}, t={}", n.nodes, n.threshold);
        let genesis = format!(
            "{} / {} ms ({} of {} finalized)",
            n.genesis.max_ms, n.genesis.median_ms, n.genesis.finalized, n.nodes
        );
        let reshares = format!("{} / {} ms", n.reshare_median_ms, n.reshare_max_ms);
        out.push_str(&format!(
            "{network:<10} {genesis:<40} {reshares:<32} {}, {}\n",
            n.failed_dkg_rounds, n.failed_reshare_rounds
        ));
    }
    out.push_str(
        "* a round's time is its max over nodes, from the interval boundary to finalizing\n",
    );
    let d = &r.decrypt;
    let f = &r.floor;
    let lat = &d.sequential.latency_ms;
    out.push_str(&format!(
        "\ndecrypt on {} nodes (t={}), app {}, {}-byte message\n",
        d.nodes, d.threshold, d.app_id, d.plaintext_bytes
    ));
    let mut row = |label: String, text: String| out.push_str(&format!("  {label:<28} {text}\n"));
    row(
        format!("sequential, {} calls", lat.count + d.sequential.errors),
        format!(
            "p50 {:.2} ms · p99 {:.2} ms · max {:.2} ms · errors {}",
            lat.p50, lat.p99, lat.max, d.sequential.errors
        ),
    );
    row(
        format!("sustained, {} threads", d.sustained.concurrency),
        format!(
            "{:.1} decrypts/s · {} ok in {:.1} s · errors {}",
            d.sustained.decrypts_per_sec, d.sustained.ok, d.sustained.wall_secs, d.sustained.errors
        ),
    );
    if let (Some(client), Some(nodes)) = (
        d.sustained.client_cpu_ms_per_decrypt,
        d.sustained.nodes_cpu_ms_per_decrypt,
    ) {
        row(
            "CPU per decrypt, sustained".into(),
            format!("client {client:.2} ms · all nodes {nodes:.2} ms"),
        );
    }
    row(
        "crypto floor, in process".into(),
        format!(
            "p50 {:.2} ms · p99 {:.2} ms (t partial checks, recovery, MPK check, IBE decrypt)",
            f.floor_ms.p50, f.floor_ms.p99
        ),
    );
    row(
        "decrypt p50 / floor p50".into(),
        format!("{:.2}x", f.ratio_p50),
    );
    row(
        "also timed, p50".into(),
        format!(
            "kms-client's crypto as it runs it {:.2} ms · fetch_mpk {:.2} ms",
            f.client_crypto_ms.p50, f.fetch_mpk_ms.p50
        ),
    );
    for m in &d.error_messages {
        out.push_str(&format!("  error: {}\n", m.replace('\n', "\n         ")));
    }
    out.push_str("\ngoals\n");
    for g in &r.goals {
        out.push_str(&format!(
            "  {:<5} {:<56} {}\n",
            g.status, g.goal, g.measured
        ));
    }
    out.trim_end().to_string()
}
