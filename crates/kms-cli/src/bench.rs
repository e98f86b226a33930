//! `kms bench`: the threshold network's performance figures on this machine.
//!
//! For each size in `--nodes` it creates a fresh devnet (the `kms devnet` layout, without the
//! signer) in `DIR/nodes-<N>`, starts it, and reads from the nodes' `GET /v1/status` how long the
//! genesis DKG and the next three reshares took: `last_round.duration_ms`, from the round's interval
//! boundary to finalization on that node. On the first size it then measures decryption through
//! `NodeClient`: sequential latency, each call followed by the client-side crypto floor computed in
//! process (interleaved, so both see the same machine load), then throughput with several threads.
//! It prints a table (or JSON with `--json`) with the goals, and stops every node at the end, on an
//! error, or on SIGINT/SIGTERM/SIGHUP.
//!
//! Percentiles are nearest-rank: p50 of 200 samples is the 100th smallest, p99 the 198th.

use crate::devnet::{self, Fleet, NodeView};
use crate::error::CliError;
use crate::node::{client_error, load_owner_key};
use clap::Args;
use kms_client::node::{NodeClient, NodeStatus};
use kms_crypto::bls::{
    check_and_recover, hash_app_id, partial_sign, recover, threshold_for, AppKey, Commitment,
    EvalPoint, G2Point, PartialSignature, Polynomial, PublicShares,
};
use kms_crypto::ibe;
use rand_core::{OsRng, RngCore};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Goal: a 4-node genesis DKG, max over nodes, under this many milliseconds.
const GOAL_DKG_MS: f64 = 2000.0;
/// The network size the DKG goal is about.
const GOAL_DKG_NODES: u32 = 4;
/// Goal: decrypt p50 at most this many times the crypto floor's p50.
const GOAL_FLOOR_RATIO: f64 = 3.0;
/// Goal: at least this many sustained decrypts per second (with zero errors).
const GOAL_DECRYPTS_PER_SEC: f64 = 100.0;
/// Reshares measured after genesis.
const RESHARES: usize = 3;
/// How often the nodes' status is read while waiting for rounds; well under any interval, so no
/// node's `last_round` is overwritten before it is seen.
const POLL: Duration = Duration::from_millis(200);
/// Per-request timeout of the status polls.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);
/// After every node holds an epoch, how long to wait for all of them to report its round (a node
/// installs the epoch a moment before it records the round's duration).
const SETTLE: Duration = Duration::from_secs(3);
/// The plaintext encrypted to the demo app and decrypted over and over.
const MESSAGE: &[u8] = b"kms bench: a short secret, as an application would keep one";
/// Distinct decrypt error messages kept for the report.
const KEPT_ERRORS: usize = 5;

#[derive(Args)]
pub struct BenchArgs {
    /// Network sizes, comma-separated; each gets a fresh devnet, and the decrypt benchmarks run on
    /// the first.
    #[arg(
        long,
        value_delimiter = ',',
        default_values_t = [4u32, 10],
        value_parser = clap::value_parser!(u32).range(1..=64)
    )]
    nodes: Vec<u32>,
    /// Round interval in seconds: the nodes reshare once per interval.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(2..=3600))]
    interval: u64,
    /// Sequential decrypts for the latency figures; each is followed by one floor computation.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    decrypts: u32,
    /// Seconds of concurrent decryption for the throughput figure.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    seconds: u64,
    /// Threads decrypting at once for the throughput figure.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    concurrency: u32,
    /// Where to create the devnets (DIR/nodes-<N>, which must not hold one yet) [default: a new
    /// temporary directory, removed afterwards].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs the benchmarks, prints the figures and exits: 0 once they are printed (goals missed or
/// not), 1 or 2 on an error.
pub fn main(args: BenchArgs) -> ! {
    match run(&args) {
        Ok(report) => {
            let text = if args.json {
                serde_json::to_string_pretty(&report).unwrap_or_default()
            } else {
                table(&report)
            };
            crate::print_line(&text);
            std::process::exit(0);
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(e.exit_code());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The report.

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
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn ms(d: Duration) -> f64 {
    round3(d.as_secs_f64() * 1000.0)
}

#[derive(Debug, Serialize)]
struct Report {
    settings: Settings,
    networks: Vec<NetworkFigures>,
    decrypt: DecryptFigures,
    floor: FloorFigures,
    goals: Vec<Goal>,
}

#[derive(Debug, Serialize)]
struct Settings {
    nodes: Vec<u32>,
    interval_secs: u64,
    decrypts: u32,
    seconds: u64,
    concurrency: u32,
    /// CPUs this process may use.
    cpus: usize,
    /// How this `kms` was built (the nodes are usually built the same way).
    build: &'static str,
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
struct NetworkFigures {
    nodes: u32,
    threshold: usize,
    genesis: RoundFigures,
    reshares: Vec<RoundFigures>,
    /// Median and max over the reshares of each round's max over nodes.
    reshare_median_ms: f64,
    reshare_max_ms: f64,
    /// Rounds that no node finalized: DKG attempts before genesis (the genesis figures are the
    /// attempt that succeeded), and rounds between genesis and the last reshare measured.
    failed_dkg_rounds: usize,
    failed_reshare_rounds: usize,
}

#[derive(Debug, Serialize)]
struct DecryptFigures {
    nodes: u32,
    threshold: usize,
    app_id: String,
    plaintext_bytes: usize,
    sequential: Sequential,
    sustained: Sustained,
    /// The first distinct error messages (sequential and sustained).
    error_messages: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Sequential {
    ok: usize,
    errors: usize,
    latency_ms: Summary,
}

#[derive(Debug, Serialize)]
struct Sustained {
    concurrency: u32,
    /// From the start until the last call in flight returned.
    wall_secs: f64,
    ok: u64,
    errors: u64,
    decrypts_per_sec: f64,
    /// CPU time (user + system) per successful decrypt over this phase, from /proc (Linux only):
    /// this process, and all nodes together (their reshares included).
    client_cpu_ms_per_decrypt: Option<f64>,
    nodes_cpu_ms_per_decrypt: Option<f64>,
}

#[derive(Debug, Serialize)]
struct FloorFigures {
    nodes: u32,
    threshold: usize,
    /// t partials checked against precomputed public shares, Lagrange recovery, the MPK check
    /// (one pairing) and the IBE decryption.
    floor_ms: Summary,
    /// Decrypt p50 over floor p50.
    ratio_p50: f64,
    /// The same crypto as kms-client runs it: one pairing product over all n partials and the
    /// key recovered from the first t (`check_and_recover`), and the decryption.
    client_crypto_ms: Summary,
    /// `NodeClient::fetch_mpk` alone, timed between the decrypts: every decrypt starts with one.
    fetch_mpk_ms: Summary,
}

#[derive(Debug, Serialize)]
struct Goal {
    goal: String,
    measured: String,
    /// PASS, MISS, or n/a when this run does not measure it.
    status: &'static str,
}

fn verdict(pass: bool) -> &'static str {
    if pass {
        "PASS"
    } else {
        "MISS"
    }
}

fn goals(networks: &[NetworkFigures], d: &DecryptFigures, f: &FloorFigures) -> Vec<Goal> {
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

fn table(r: &Report) -> String {
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

// ---------------------------------------------------------------------------------------------
// Rounds as the nodes report them.

/// One node's report of a finished round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Finished {
    pub outcome: String,
    pub duration_ms: u64,
}

/// Every node's `last_round`, by epoch, as seen by successive polls (the first report is kept).
#[derive(Debug)]
pub(crate) struct RoundLog {
    nodes: usize,
    by_epoch: BTreeMap<u64, Vec<Option<Finished>>>,
}

impl RoundLog {
    pub fn new(nodes: usize) -> Self {
        Self {
            nodes,
            by_epoch: BTreeMap::new(),
        }
    }

    /// Notes each node's last finished round; `statuses` are in node order.
    pub fn record(&mut self, statuses: &[Option<NodeStatus>]) {
        let nodes = self.nodes;
        for (i, status) in statuses.iter().enumerate() {
            let Some(last) = status.as_ref().and_then(|s| s.last_round.as_ref()) else {
                continue;
            };
            let row = self
                .by_epoch
                .entry(last.epoch)
                .or_insert_with(|| vec![None; nodes]);
            if let Some(slot @ None) = row.get_mut(i) {
                *slot = Some(Finished {
                    outcome: last.outcome.clone(),
                    duration_ms: last.duration_ms,
                });
            }
        }
    }

    /// Epochs at least one node finalized, ascending.
    pub fn finalized_epochs(&self) -> Vec<u64> {
        self.by_epoch
            .iter()
            .filter(|(_, row)| row.iter().flatten().any(|f| f.outcome == "finalized"))
            .map(|(e, _)| *e)
            .collect()
    }

    /// Every node has reported this epoch's round.
    pub fn complete(&self, epoch: u64) -> bool {
        self.by_epoch
            .get(&epoch)
            .is_some_and(|row| row.iter().all(Option::is_some))
    }

    /// The round's durations over the nodes that finalized it; None when none did.
    pub fn figures(&self, epoch: u64) -> Option<RoundFigures> {
        let row = self.by_epoch.get(&epoch)?;
        let durations: Vec<f64> = row
            .iter()
            .flatten()
            .filter(|f| f.outcome == "finalized")
            .map(|f| f.duration_ms as f64)
            .collect();
        let summary = Summary::of(&durations)?;
        Some(RoundFigures {
            epoch,
            max_ms: summary.max,
            median_ms: summary.p50,
            finalized: summary.count,
        })
    }

    /// Rounds up to `last` that some node reported as failed and none finalized.
    pub fn failed_rounds(&self, last: u64) -> usize {
        self.by_epoch
            .range(..=last)
            .filter(|(_, row)| {
                let reports: Vec<&Finished> = row.iter().flatten().collect();
                reports.iter().any(|f| f.outcome == "failed")
                    && !reports.iter().any(|f| f.outcome == "finalized")
            })
            .count()
    }
}

// ---------------------------------------------------------------------------------------------
// The run.

/// The directory the devnets live in; a temporary one is removed when dropped unless kept.
struct WorkDir {
    path: PathBuf,
    remove: bool,
}

impl WorkDir {
    fn new(given: Option<&Path>) -> Result<Self, CliError> {
        if let Some(path) = given {
            return Ok(Self {
                path: path.to_path_buf(),
                remove: false,
            });
        }
        let name = format!("kms-bench-{}-{:08x}", std::process::id(), OsRng.next_u32());
        let path = std::env::temp_dir().join(name);
        // Not recursive: the name must be new. 0700: the devnets hold keys.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| CliError::Failure(format!("cannot create {}: {e}", path.display())))?;
        Ok(Self { path, remove: true })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.remove {
            if let Err(e) = std::fs::remove_dir_all(&self.path) {
                eprintln!("cannot remove {}: {e}", self.path.display());
            }
        }
    }
}

/// What every step needs: the arguments, the node binary, the signals and the clock.
struct Ctx<'a> {
    args: &'a BenchArgs,
    node_bin: PathBuf,
    signals: Receiver<&'static str>,
    started: Instant,
    /// A signal stopped the run (the work directory is then removed even though it failed).
    interrupted: AtomicBool,
}

impl Ctx<'_> {
    /// A progress line on stderr.
    fn say(&self, line: &str) {
        let stamp = devnet::elapsed(self.started.elapsed());
        let _ = writeln!(std::io::stderr().lock(), "[{stamp}] {line}");
    }

    fn stop_error(&self, name: &str) -> CliError {
        self.interrupted.store(true, Ordering::Relaxed);
        CliError::Failure(format!("{name} received; stopped the benchmark"))
    }

    /// An error when a signal came or a node exited on its own.
    fn check(&self, fleet: &mut Fleet) -> Result<(), CliError> {
        match self.signals.try_recv() {
            Ok(name) => return Err(self.stop_error(name)),
            Err(TryRecvError::Disconnected) => return Err(self.stop_error("signal watcher gone")),
            Err(TryRecvError::Empty) => {}
        }
        if let Some((name, status, log)) = fleet.exited() {
            return Err(devnet::exited_error(&name, status, &log));
        }
        Ok(())
    }

    /// Waits `d`, or less when a signal comes (then an error).
    fn pause(&self, d: Duration) -> Result<(), CliError> {
        match self.signals.recv_timeout(d) {
            Ok(name) => Err(self.stop_error(name)),
            Err(RecvTimeoutError::Timeout) => Ok(()),
            Err(RecvTimeoutError::Disconnected) => Err(self.stop_error("signal watcher gone")),
        }
    }
}

fn run(args: &BenchArgs) -> Result<Report, CliError> {
    let Some(first) = args.nodes.first().copied() else {
        return Err(CliError::bad("--nodes needs at least one size"));
    };
    for (i, n) in args.nodes.iter().enumerate() {
        if args.nodes.iter().skip(i + 1).any(|m| m == n) {
            return Err(CliError::bad(format!("--nodes lists {n} twice")));
        }
    }
    let node_bin = devnet::find_binary("kms-node")?;
    let ctx = Ctx {
        args,
        node_bin,
        signals: devnet::watch_signals()?,
        started: Instant::now(),
        interrupted: AtomicBool::new(false),
    };
    let mut work = WorkDir::new(args.dir.as_deref())?;
    match run_in(&ctx, &work.path, first) {
        Ok(report) => Ok(report),
        Err(e) if !work.remove || ctx.interrupted.load(Ordering::Relaxed) => Err(e),
        Err(e) => {
            // The nodes' logs are what explains a failure: keep them.
            work.remove = false;
            Err(CliError::Failure(format!(
                "{e}\n(the devnets and their node logs are kept in {})",
                work.path.display()
            )))
        }
    }
}

fn run_in(ctx: &Ctx, root: &Path, first: u32) -> Result<Report, CliError> {
    let args = ctx.args;
    let mut networks = Vec::new();
    let mut decrypt = None;
    for n in &args.nodes {
        let (figures, d) = measure(ctx, &root.join(format!("nodes-{n}")), *n, *n == first)?;
        networks.push(figures);
        decrypt = decrypt.or(d);
    }
    let (decrypt, floor) =
        decrypt.ok_or_else(|| CliError::Failure("the decrypt benchmarks did not run".into()))?;
    let goals = goals(&networks, &decrypt, &floor);
    Ok(Report {
        settings: Settings {
            nodes: args.nodes.clone(),
            interval_secs: args.interval,
            decrypts: args.decrypts,
            seconds: args.seconds,
            concurrency: args.concurrency,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            build: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
        },
        networks,
        decrypt,
        floor,
        goals,
    })
}

type DecryptResult = (DecryptFigures, FloorFigures);

/// One network size: a fresh devnet, genesis, three reshares, and the decrypt benchmarks when
/// `with_decrypt`. The nodes are stopped before it returns, whatever happened.
fn measure(
    ctx: &Ctx,
    dir: &Path,
    n: u32,
    with_decrypt: bool,
) -> Result<(NetworkFigures, Option<DecryptResult>), CliError> {
    let interval = ctx.args.interval;
    ctx.say(&format!(
        "{n} nodes: creating a devnet in {}",
        dir.display()
    ));
    let cluster = devnet::prepare(dir, Some(n), Some(interval), None)?;
    if !cluster.created {
        return Err(CliError::bad(format!(
            "{} already holds a devnet, and kms bench needs a fresh one (genesis is measured): \
             remove it or choose another --dir",
            dir.display()
        )));
    }
    let root = std::fs::canonicalize(dir)
        .map_err(|e| CliError::Failure(format!("cannot resolve {}: {e}", dir.display())))?;
    let urls: Vec<String> = cluster
        .manifest
        .ports
        .iter()
        .map(|p| devnet::local_url(*p))
        .collect();
    let status_client =
        NodeClient::with_options(&urls, STATUS_TIMEOUT, None).map_err(client_error)?;
    let mut fleet = Fleet::default();
    devnet::start_nodes(&mut fleet, &ctx.node_bin, &root, n)?;
    let mut log = RoundLog::new(urls.len());
    let result = (|| {
        let (genesis, threshold) = wait_genesis(ctx, &mut fleet, &status_client, &mut log)?;
        let reshares = wait_reshares(ctx, &mut fleet, &status_client, &mut log, genesis.epoch)?;
        let genesis_epoch = genesis.epoch;
        let last = reshares.last().map_or(genesis_epoch, |r| r.epoch);
        let per_round: Vec<f64> = reshares.iter().map(|r| r.max_ms).collect();
        let over = Summary::of(&per_round)
            .ok_or_else(|| CliError::Failure("no reshare was measured".into()))?;
        let figures = NetworkFigures {
            nodes: n,
            threshold,
            genesis,
            reshares,
            reshare_median_ms: over.p50,
            reshare_max_ms: over.max,
            failed_dkg_rounds: log.failed_rounds(genesis_epoch),
            failed_reshare_rounds: log
                .failed_rounds(last)
                .saturating_sub(log.failed_rounds(genesis_epoch)),
        };
        let decrypt = if with_decrypt {
            let owner_key = dir.join(devnet::OWNER_KEY);
            let app = &cluster.manifest.demo_app;
            Some(bench_decrypt(
                ctx, &mut fleet, &urls, &owner_key, app, threshold,
            )?)
        } else {
            None
        };
        Ok((figures, decrypt))
    })();
    ctx.say(&format!("{n} nodes: stopping"));
    fleet.stop(Some(&ctx.signals));
    result
}

/// Reads every node's status (None for a node that does not answer) and records the rounds.
fn poll(
    ctx: &Ctx,
    fleet: &mut Fleet,
    client: &NodeClient,
    log: &mut RoundLog,
) -> Result<Vec<Option<NodeStatus>>, CliError> {
    ctx.check(fleet)?;
    let statuses: Vec<Option<NodeStatus>> =
        client.status().into_iter().map(|r| r.status.ok()).collect();
    log.record(&statuses);
    Ok(statuses)
}

/// The progress line `kms devnet` shows.
fn progress(statuses: &[Option<NodeStatus>]) -> String {
    let views: Vec<Option<NodeView>> = statuses
        .iter()
        .map(|s| {
            let value = serde_json::to_value(s.as_ref()?).ok()?;
            Some(NodeView::from_status(&value))
        })
        .collect();
    devnet::progress_line(&views, None)
}

/// Waits until every node holds an epoch, then for their reports of the round that made it.
/// Returns the genesis round's figures and the threshold.
fn wait_genesis(
    ctx: &Ctx,
    fleet: &mut Fleet,
    client: &NodeClient,
    log: &mut RoundLog,
) -> Result<(RoundFigures, usize), CliError> {
    let n = client.urls().len();
    let interval = ctx.args.interval;
    ctx.say(&format!(
        "{n} nodes: waiting for genesis (the DKG starts at the next {interval} s boundary)"
    ));
    // The DKG waits for a boundary and may need a retry round or two, as in `kms devnet`.
    let limit = Duration::from_secs(interval.saturating_mul(5).saturating_add(60));
    let deadline = Instant::now() + limit;
    let mut last = String::new();
    let (epoch, threshold) = loop {
        let statuses = poll(ctx, fleet, client, log)?;
        let line = progress(&statuses);
        if line != last {
            ctx.say(&format!("{n} nodes: {line}"));
            last = line;
        }
        let held: Option<Vec<u64>> = statuses.iter().map(|s| s.as_ref()?.epoch).collect();
        if let Some(epoch) = held.and_then(|h| h.into_iter().min()) {
            let threshold = statuses
                .iter()
                .flatten()
                .find_map(|s| s.threshold)
                .and_then(|t| usize::try_from(t).ok())
                .unwrap_or_else(|| threshold_for(n));
            break (epoch, threshold);
        }
        if Instant::now() >= deadline {
            return Err(CliError::Failure(format!(
                "the {n} nodes did not all reach an epoch within {} s (last: {last})",
                limit.as_secs()
            )));
        }
        ctx.pause(POLL)?;
    };
    let settle = Instant::now() + SETTLE;
    while !log.complete(epoch) && Instant::now() < settle {
        ctx.pause(POLL)?;
        poll(ctx, fleet, client, log)?;
    }
    let figures = log.figures(epoch).ok_or_else(|| {
        CliError::Failure(format!(
            "every node holds epoch {epoch}, but none reports finalizing its round"
        ))
    })?;
    ctx.say(&format!(
        "{n} nodes: genesis epoch {epoch} (t={threshold}): DKG max {} ms, median {} ms over {} \
         nodes",
        figures.max_ms, figures.median_ms, figures.finalized
    ));
    Ok((figures, threshold))
}

/// Waits for [`RESHARES`] rounds after `genesis` to finalize and be reported by every node (or
/// until every node has moved past the last of them).
fn wait_reshares(
    ctx: &Ctx,
    fleet: &mut Fleet,
    client: &NodeClient,
    log: &mut RoundLog,
    genesis: u64,
) -> Result<Vec<RoundFigures>, CliError> {
    let n = client.urls().len();
    let interval = ctx.args.interval;
    ctx.say(&format!(
        "{n} nodes: waiting for {RESHARES} reshares (one per {interval} s interval)"
    ));
    let limit = Duration::from_secs(
        interval
            .saturating_mul(RESHARES as u64 + 4)
            .saturating_add(60),
    );
    let deadline = Instant::now() + limit;
    let mut told = 0;
    loop {
        let statuses = poll(ctx, fleet, client, log)?;
        let lowest_held = statuses
            .iter()
            .map(|s| s.as_ref().and_then(|s| s.epoch))
            .collect::<Option<Vec<u64>>>()
            .and_then(|h| h.into_iter().min());
        let epochs: Vec<u64> = log
            .finalized_epochs()
            .into_iter()
            .filter(|e| *e > genesis)
            .take(RESHARES)
            .collect();
        // A round is done once every node reported it, or every node is past it (a report
        // missed by then would never come).
        let done = |e: &u64| log.complete(*e) || lowest_held.is_some_and(|h| h > *e);
        let settled = epochs.iter().take_while(|e| done(e)).count();
        for e in epochs.iter().take(settled).skip(told) {
            if let Some(f) = log.figures(*e) {
                told += 1;
                ctx.say(&format!(
                    "{n} nodes: reshare {told}/{RESHARES}, epoch {e}: max {} ms, median {} ms \
                     over {} nodes",
                    f.max_ms, f.median_ms, f.finalized
                ));
            }
        }
        if settled == RESHARES {
            return epochs
                .iter()
                .map(|e| {
                    log.figures(*e).ok_or_else(|| {
                        CliError::Failure(format!("epoch {e}: no node reports finalizing it"))
                    })
                })
                .collect();
        }
        if Instant::now() >= deadline {
            return Err(CliError::Failure(format!(
                "only {settled} of {RESHARES} reshares finished within {} s (last: {})",
                limit.as_secs(),
                progress(&statuses)
            )));
        }
        ctx.pause(POLL)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Decryption.

/// The crypto a client does for one decrypt, on inputs dealt in process with the devnet's n, t,
/// operator ids and app id. Per-epoch work (public shares) is done once, outside the timings.
struct Floor {
    app_id: String,
    threshold: usize,
    commitment: Commitment,
    mpk: G2Point,
    public_shares: PublicShares,
    /// One per operator, ids 1..=n.
    partials: Vec<PartialSignature>,
    ciphertext: Vec<u8>,
}

fn crypto_failure(what: &str) -> impl Fn(kms_crypto::Error) -> CliError + '_ {
    move |e| CliError::Failure(format!("{what}: {e}"))
}

impl Floor {
    fn new(app_id: &str, n: u32, threshold: usize) -> Result<Self, CliError> {
        let mut rng = OsRng;
        let poly = Polynomial::random(threshold, &mut rng)
            .map_err(crypto_failure("dealing the floor's polynomial"))?;
        let commitment = poly.commit();
        let points = (1..=n)
            .map(|i| EvalPoint::from_index(u64::from(i)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(crypto_failure("operator ids"))?;
        let partials = points
            .iter()
            .map(|x| partial_sign(&poly.evaluate(x), app_id.as_bytes()))
            .collect();
        let mpk = commitment.public_key();
        let ciphertext = ibe::encrypt(&mpk, app_id.as_bytes(), MESSAGE, &mut rng)
            .map_err(crypto_failure("encrypting the floor's message"))?;
        Ok(Self {
            app_id: app_id.to_string(),
            threshold,
            public_shares: PublicShares::new(&commitment, &points),
            commitment,
            mpk,
            partials,
            ciphertext,
        })
    }

    fn chosen(&self) -> Result<&[PartialSignature], CliError> {
        self.partials
            .get(..self.threshold)
            .ok_or_else(|| CliError::Failure("fewer partials than the threshold".into()))
    }

    fn check_plaintext(&self, plaintext: &[u8]) -> Result<(), CliError> {
        if plaintext == MESSAGE {
            Ok(())
        } else {
            Err(CliError::Failure(
                "the floor's decryption gave another plaintext".into(),
            ))
        }
    }

    /// The minimum: H(app id), t partials checked against their public shares, Lagrange
    /// recovery, the MPK check (one pairing, through `AppKey::from_bytes`), the IBE decryption.
    fn minimum(&self) -> Result<(), CliError> {
        let app = self.app_id.as_bytes();
        let h = hash_app_id(app);
        let chosen = self.chosen()?;
        for partial in chosen {
            self.public_shares
                .verify(partial, &h)
                .map_err(crypto_failure("a dealt partial"))?;
        }
        let key = recover(self.threshold, chosen).map_err(crypto_failure("recovery"))?;
        let key = AppKey::from_bytes(&key.to_bytes(), app, &self.mpk)
            .map_err(crypto_failure("the MPK check"))?;
        let plaintext =
            ibe::decrypt(&key, app, &self.ciphertext).map_err(crypto_failure("IBE decryption"))?;
        self.check_plaintext(&plaintext)
    }

    /// As kms-client runs it: `check_and_recover` over all n partials (one pairing product for
    /// every partial and the key recovered from the first t), then the decryption.
    fn client_path(&self) -> Result<(), CliError> {
        let app = self.app_id.as_bytes();
        let (invalid, key) = check_and_recover(&self.commitment, app, &self.partials);
        if !invalid.is_empty() {
            return Err(CliError::Failure("a dealt partial does not verify".into()));
        }
        let key = key.map_err(crypto_failure("verified recovery"))?;
        let plaintext =
            ibe::decrypt(&key, app, &self.ciphertext).map_err(crypto_failure("IBE decryption"))?;
        self.check_plaintext(&plaintext)
    }
}

/// CPU time (user + system, all threads) a process has used so far, from `/proc/<pid>/stat`;
/// this process for None. None where there is no /proc.
fn cpu_time(pid: Option<u32>) -> Option<Duration> {
    let path = pid.map_or("/proc/self/stat".to_string(), |p| format!("/proc/{p}/stat"));
    let text = std::fs::read_to_string(path).ok()?;
    // The command name (field 2, in parentheses) may hold spaces; what follows it does not.
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: 12th and 13th after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // Counted in USER_HZ ticks, which Linux fixes at 100 per second for user space.
    Some(Duration::from_millis(
        utime.saturating_add(stime).saturating_mul(10),
    ))
}

/// The CPU time of all these processes together; None if any cannot be read.
fn cpu_sum(pids: &[u32]) -> Option<Duration> {
    pids.iter().map(|p| cpu_time(Some(*p))).sum()
}

/// Times `f` once.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

/// Decrypt errors: a count and the first few distinct messages.
#[derive(Default)]
struct Errors {
    count: u64,
    messages: Vec<String>,
}

impl Errors {
    fn add(&mut self, message: String) {
        self.count += 1;
        if self.messages.len() < KEPT_ERRORS && !self.messages.contains(&message) {
            self.messages.push(message);
        }
    }
}

/// One decrypt through the network; a wrong plaintext is an error too.
fn decrypt_once(
    client: &NodeClient,
    app: &str,
    owner: &kms_client::EoaKey,
    ciphertext: &[u8],
) -> Result<(), String> {
    match client.decrypt(app, owner, ciphertext, devnet::CHAIN_ID) {
        Ok(d) if d.plaintext.as_slice() == MESSAGE => Ok(()),
        Ok(_) => Err("decrypted to another plaintext".into()),
        Err(e) => Err(client_error(e).to_string()),
    }
}

fn bench_decrypt(
    ctx: &Ctx,
    fleet: &mut Fleet,
    urls: &[String],
    owner_key: &Path,
    app: &str,
    threshold: usize,
) -> Result<DecryptResult, CliError> {
    let args = ctx.args;
    let n = u32::try_from(urls.len()).map_err(|_| CliError::Failure("too many nodes".into()))?;
    let owner = load_owner_key(owner_key)?;
    let client = NodeClient::new(urls).map_err(client_error)?;
    let ciphertext = client
        .encrypt(app, MESSAGE)
        .map_err(client_error)?
        .ciphertext;
    let floor = Floor::new(app, n, threshold)?;

    ctx.say(&format!(
        "{n} nodes: {} sequential decrypts, each followed by the crypto floor in process",
        args.decrypts
    ));
    let mut errors = Errors::default();
    let mut latency = Vec::new();
    let mut floor_ms = Vec::new();
    let mut client_ms = Vec::new();
    let mut fetch_ms = Vec::new();
    let step = (args.decrypts / 4).max(1);
    for i in 1..=args.decrypts {
        ctx.check(fleet)?;
        let (outcome, took) = timed(|| decrypt_once(&client, app, &owner, &ciphertext));
        match outcome {
            Ok(()) => latency.push(ms(took)),
            Err(e) => errors.add(e),
        }
        let (checked, took) = timed(|| floor.minimum());
        checked?;
        floor_ms.push(ms(took));
        let (checked, took) = timed(|| floor.client_path());
        checked?;
        client_ms.push(ms(took));
        let (fetched, took) = timed(|| client.fetch_mpk());
        if fetched.is_ok() {
            fetch_ms.push(ms(took));
        }
        if i % step == 0 || i == args.decrypts {
            ctx.say(&format!(
                "{n} nodes: {i}/{} sequential decrypts, {} errors",
                args.decrypts, errors.count
            ));
        }
    }
    let sequential_errors = errors.count;
    let latency_ms = Summary::of(&latency).ok_or_else(|| {
        CliError::Failure(format!(
            "every sequential decrypt failed; the first error: {}",
            errors.messages.first().map_or("", String::as_str)
        ))
    })?;
    let floor_summary =
        Summary::of(&floor_ms).ok_or_else(|| CliError::Failure("no floor timing".into()))?;
    let client_summary = Summary::of(&client_ms)
        .ok_or_else(|| CliError::Failure("no client crypto timing".into()))?;
    let fetch_summary =
        Summary::of(&fetch_ms).ok_or_else(|| CliError::Failure("every fetch_mpk failed".into()))?;

    ctx.say(&format!(
        "{n} nodes: {} threads decrypting for {} s",
        args.concurrency, args.seconds
    ));
    let pids = fleet.pids();
    let cpu_before = (cpu_time(None), cpu_sum(&pids));
    let (ok, wall) = sustained(ctx, fleet, &client, app, &owner, &ciphertext, &mut errors)?;
    let per_decrypt = |before: Option<Duration>, after: Option<Duration>| {
        let spent = after?.checked_sub(before?)?;
        (ok > 0).then(|| round3(ms(spent) / ok as f64))
    };
    let client_cpu = per_decrypt(cpu_before.0, cpu_time(None));
    let nodes_cpu = per_decrypt(cpu_before.1, cpu_sum(&pids));
    let sustained_errors = errors.count - sequential_errors;
    let wall_secs = wall.as_secs_f64();
    let rate = if wall_secs > 0.0 {
        ok as f64 / wall_secs
    } else {
        0.0
    };
    ctx.say(&format!(
        "{n} nodes: {ok} decrypts in {wall_secs:.1} s ({rate:.1}/s), {sustained_errors} errors"
    ));

    let ratio = latency_ms.p50 / floor_summary.p50;
    Ok((
        DecryptFigures {
            nodes: n,
            threshold,
            app_id: app.to_string(),
            plaintext_bytes: MESSAGE.len(),
            sequential: Sequential {
                ok: latency_ms.count,
                errors: usize::try_from(sequential_errors).unwrap_or(usize::MAX),
                latency_ms,
            },
            sustained: Sustained {
                concurrency: args.concurrency,
                wall_secs: round3(wall_secs),
                ok,
                errors: sustained_errors,
                decrypts_per_sec: round3(rate),
                client_cpu_ms_per_decrypt: client_cpu,
                nodes_cpu_ms_per_decrypt: nodes_cpu,
            },
            error_messages: errors.messages,
        },
        FloorFigures {
            nodes: n,
            threshold,
            floor_ms: floor_summary,
            ratio_p50: round3(ratio),
            client_crypto_ms: client_summary,
            fetch_mpk_ms: fetch_summary,
        },
    ))
}

/// `--concurrency` threads decrypt until `--seconds` have passed; returns the successes and the
/// wall time until the last call in flight returned. Errors are added to `errors`.
fn sustained(
    ctx: &Ctx,
    fleet: &mut Fleet,
    client: &NodeClient,
    app: &str,
    owner: &kms_client::EoaKey,
    ciphertext: &[u8],
    errors: &mut Errors,
) -> Result<(u64, Duration), CliError> {
    let stop = AtomicBool::new(false);
    let ok = AtomicU64::new(0);
    let failed = Mutex::new(std::mem::take(errors));
    let run_for = Duration::from_secs(ctx.args.seconds);
    let start = Instant::now();
    let watched = std::thread::scope(|s| {
        let mut spawned = Ok(());
        for k in 0..ctx.args.concurrency {
            let worker = || {
                while !stop.load(Ordering::Relaxed) {
                    match decrypt_once(client, app, owner, ciphertext) {
                        Ok(()) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            if let Ok(mut errs) = failed.lock() {
                                errs.add(e);
                            }
                        }
                    }
                }
            };
            let started = std::thread::Builder::new()
                .name(format!("decrypt-{k}"))
                .spawn_scoped(s, worker);
            if let Err(e) = started {
                spawned = Err(CliError::Failure(format!("cannot start a thread: {e}")));
                break;
            }
        }
        // The threads that did start are joined when the scope ends, once they see `stop`.
        let watched = spawned.and_then(|()| {
            while start.elapsed() < run_for {
                ctx.check(fleet)?;
                ctx.pause(POLL.min(run_for.saturating_sub(start.elapsed())))?;
            }
            Ok(())
        });
        stop.store(true, Ordering::Relaxed);
        watched
    });
    let wall = start.elapsed();
    *errors = failed
        .into_inner()
        .map_err(|_| CliError::Failure("a decrypt thread failed".into()))?;
    watched?;
    Ok((ok.load(Ordering::Relaxed), wall))
}

#[cfg(test)]
mod tests;
