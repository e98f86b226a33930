//! A short, deterministic run of the fuzz entry points (the cargo-fuzz targets in `fuzz/` run the
//! same functions for longer): their seeds, seeds mutated the way a fuzzer would, and random bytes.
//! A failure prints the input in hex; `fuzz::decoders`, `fuzz::machines` or
//! `fuzz::lifecycle::lifecycle` on it reproduces it.
#![cfg(test)]

use kms_protocol::fuzz;
use kms_protocol::sim::rng_for;
use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha20Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

fn below(rng: &mut ChaCha20Rng, n: usize) -> usize {
    (rng.next_u64() % n.max(1) as u64) as usize
}

/// libFuzzer-like mutations: flip, set interesting bytes, insert, erase, duplicate, splice.
fn mutate(rng: &mut ChaCha20Rng, seed: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + below(rng, 4) {
        let len = b.len();
        match below(rng, 7) {
            0 if len > 0 => {
                let i = below(rng, len);
                b[i] ^= 1 << below(rng, 8);
            }
            1 if len > 0 => {
                let i = below(rng, len);
                b[i] = [0, 1, 0x7f, 0x80, 0xff][below(rng, 5)];
            }
            2 => {
                let i = below(rng, len + 1);
                let n = 1 + below(rng, 8);
                let extra: Vec<u8> = (0..n).map(|_| rng.next_u32() as u8).collect();
                b.splice(i..i, extra);
            }
            3 if len > 0 => {
                let i = below(rng, len);
                let n = 1 + below(rng, (len - i).min(64));
                b.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = below(rng, len);
                let n = 1 + below(rng, (len - i).min(64));
                let copy = b[i..i + n].to_vec();
                let j = below(rng, len + 1);
                b.splice(j..j, copy);
            }
            5 => {
                let other = &seeds[below(rng, seeds.len())];
                let i = below(rng, len + 1);
                let j = below(rng, other.len() + 1);
                b.truncate(i);
                b.extend_from_slice(&other[j..]);
            }
            _ if len >= 4 => {
                // A length or count field set to something large.
                let i = below(rng, len - 3);
                b[i..i + 4].copy_from_slice(&[0, 0xff, 0xff, 0xff]);
            }
            _ => b.push(rng.next_u32() as u8),
        }
    }
    b
}

fn run(name: &str, f: fn(&[u8]), input: &[u8]) {
    if catch_unwind(AssertUnwindSafe(|| f(input))).is_err() {
        let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
        panic!("fuzz::{name} failed on input {hex}");
    }
}

/// Runs `f` on its seeds, `mutated` mutations of them and `random` random inputs of up to
/// `max_len` bytes.
fn smoke(
    name: &str,
    f: fn(&[u8]),
    seeds: Vec<Vec<u8>>,
    mutated: usize,
    random: usize,
    max_len: usize,
) {
    let start = Instant::now();
    for s in &seeds {
        run(name, f, s);
    }
    let mut rng = rng_for(0x5eed, name);
    for _ in 0..mutated {
        let s = &seeds[below(&mut rng, seeds.len())];
        run(name, f, &mutate(&mut rng, s, &seeds));
    }
    for _ in 0..random {
        let mut b = vec![0u8; below(&mut rng, max_len + 1)];
        rng.fill_bytes(&mut b);
        run(name, f, &b);
    }
    eprintln!(
        "fuzz::{name}: {} inputs in {:.1?}",
        seeds.len() + mutated + random,
        start.elapsed()
    );
}

#[test]
fn decoders_smoke() {
    smoke(
        "decoders",
        fuzz::decoders,
        fuzz::decoder_seeds(),
        2000,
        1000,
        512,
    );
}

#[test]
fn machines_smoke() {
    // Each case costs tens of milliseconds of pairings, so far fewer cases than for decoders.
    smoke(
        "machines",
        fuzz::machines,
        fuzz::machine_seeds(),
        150,
        100,
        64,
    );
}

#[test]
fn lifecycle_smoke() {
    // Four real round drivers per case: pairings and a whole round, so few cases.
    smoke(
        "lifecycle",
        fuzz::lifecycle::lifecycle,
        fuzz::lifecycle::seeds(),
        60,
        40,
        96,
    );
}

/// Writes the seed corpus of the cargo-fuzz targets:
/// `KMS_FUZZ_SEEDS=fuzz/seeds cargo test -p kms-protocol --test fuzz_smoke -- --ignored`.
#[test]
#[ignore]
fn write_seeds() {
    let Some(dir) = std::env::var_os("KMS_FUZZ_SEEDS") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    for (name, seeds) in [
        ("decoders", fuzz::decoder_seeds()),
        ("machines", fuzz::machine_seeds()),
        ("lifecycle", fuzz::lifecycle::seeds()),
    ] {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(d.join(format!("seed-{i:03}")), s).unwrap();
        }
    }
}
