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

mod decrypt;
mod report;
mod rounds;
mod run;
use decrypt::*;
pub(crate) use report::*;
pub(crate) use rounds::*;
use run::*;

#[cfg(test)]
mod tests;
