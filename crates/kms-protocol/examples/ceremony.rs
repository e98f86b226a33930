//! Prints one node's CPU time for a full DKG and a reshare at a given n (default 4, 16, 64):
//! `cargo run --release -p kms-protocol --example ceremony -- 16`. Criterion figures, side by
//! side with commonware, are in `kms-bench` (`cargo bench -p kms-bench --bench dkg`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use kms_protocol::ceremony::{node_ceremony, node_ceremony_decoded, prepare_ceremony};
use std::time::Instant;

fn main() {
    let ns: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let ns = if ns.is_empty() { vec![4, 16, 64] } else { ns };
    for n in ns {
        for reshare in [false, true] {
            let t0 = Instant::now();
            let prepared = prepare_ceremony(n, reshare, 1);
            let setup = t0.elapsed();
            let t1 = Instant::now();
            let out = node_ceremony(&prepared);
            let node = t1.elapsed();
            let t2 = Instant::now();
            let _ = node_ceremony_decoded(&prepared);
            let decoded = t2.elapsed();
            println!(
                "n={n:>3} {:<7} per node {:>9.2} ms from bytes, {:>9.2} ms pre-decoded (cluster set-up {:.1} s), threshold {}",
                if reshare { "reshare" } else { "dkg" },
                node.as_secs_f64() * 1e3,
                decoded.as_secs_f64() * 1e3,
                setup.as_secs_f64(),
                out.threshold
            );
        }
    }
}
