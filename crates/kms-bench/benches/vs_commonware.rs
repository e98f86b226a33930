//! Ours and commonware-cryptography (MinSig: signatures in G1, keys in G2, like ours) side by side
//! at equal n and t: partial sign, partial verify, batch verify, recover, verified recovery, and
//! IBE against commonware's TLE on a 32-byte block.
//!
//! commonware caches every participant's public share inside its `Sharing`; we do not cache, so
//! partial verification is reported against commonware both warm (cache filled, its steady state)
//! and cold (fresh `Sharing`, the same work as ours). commonware's evaluation points are 1..=n;
//! ours come from operator addresses (full-size scalars), so the `ours_index_points` variants give
//! ours the same points 1..=n to separate the implementation from that design choice.
#![allow(
    missing_docs, // criterion_group! defines an undocumented public function
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{
    criterion_config, payload, rng, Ours, Theirs, APP_ID, COMMITTEE_SIZES, NAMESPACE, TLE_BLOCK,
};
use commonware_cryptography::bls12381::primitives::ops::{self as cw_ops, threshold};
use commonware_cryptography::bls12381::primitives::variant::MinSig;
use commonware_cryptography::bls12381::tle;
use commonware_parallel::Sequential;
use commonware_utils::iter::NonEmpty;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, SamplingMode};
use kms_crypto::{bls, ibe};
use std::hint::black_box;

fn bench_sign(c: &mut Criterion) {
    let mut g = c.benchmark_group("vs_commonware/partial_sign");
    let (ours, theirs) = (Ours::new(4), Theirs::new(4));
    g.bench_function("ours", |b| {
        b.iter(|| bls::partial_sign(&ours.shares[0], black_box(APP_ID)))
    });
    g.bench_function("commonware", |b| {
        b.iter(|| {
            threshold::sign_message::<MinSig>(&theirs.shares[0], NAMESPACE, black_box(APP_ID))
        })
    });
    g.finish();
}

fn bench_threshold(c: &mut Criterion) {
    for n in COMMITTEE_SIZES {
        let (ours, ours_idx, theirs) = (Ours::new(n), Ours::with_index_points(n), Theirs::new(n));
        let label = ours.label();
        let warm = theirs.warm_sharing();

        // Both sides hash the message inside the timed region and cycle through all n partials.
        let mut g = c.benchmark_group("vs_commonware/partial_verify");
        for (name, o) in [("ours", &ours), ("ours_index_points", &ours_idx)] {
            g.bench_function(BenchmarkId::new(name, &label), |b| {
                let mut k = 0;
                b.iter(|| {
                    k = (k + 1) % n;
                    let h = bls::hash_app_id(black_box(APP_ID));
                    bls::verify_partial(&o.commitment, &o.partials[k], &h).expect("valid")
                })
            });
        }
        // Like commonware's warm sharing: public shares computed once per epoch.
        let points: Vec<bls::EvalPoint> = ours.partials.iter().map(|p| p.point).collect();
        let cached = bls::PublicShares::new(&ours.commitment, &points);
        g.bench_function(BenchmarkId::new("ours_cached", &label), |b| {
            let mut k = 0;
            b.iter(|| {
                k = (k + 1) % n;
                let h = bls::hash_app_id(black_box(APP_ID));
                cached.verify(&ours.partials[k], &h).expect("valid")
            })
        });
        g.bench_function(BenchmarkId::new("commonware_warm", &label), |b| {
            let mut k = 0;
            b.iter(|| {
                k = (k + 1) % n;
                threshold::verify_message::<MinSig>(
                    &warm,
                    NAMESPACE,
                    black_box(APP_ID),
                    &theirs.partials[k],
                )
                .expect("valid")
            })
        });
        g.bench_function(BenchmarkId::new("commonware_cold", &label), |b| {
            let mut k = 0;
            b.iter_batched(
                || theirs.cold_sharing(),
                |s| {
                    k = (k + 1) % n;
                    threshold::verify_message::<MinSig>(
                        &s,
                        NAMESPACE,
                        black_box(APP_ID),
                        &theirs.partials[k],
                    )
                    .expect("valid")
                },
                BatchSize::SmallInput,
            )
        });
        g.finish();

        // All n partials in one batch. commonware cold evaluates n public shares: flat sampling
        // keeps that case to ten iterations.
        let mut g = c.benchmark_group("vs_commonware/batch_verify_all_n");
        g.sampling_mode(SamplingMode::Flat);
        g.bench_function(BenchmarkId::new("ours", &label), |b| {
            b.iter(|| {
                let h = bls::hash_app_id(black_box(APP_ID));
                bls::batch_verify_partials(&ours.commitment, &ours.partials, &h).expect("valid")
            })
        });
        let mut cw_rng = commonware_utils::test_rng();
        g.bench_function(BenchmarkId::new("commonware_warm", &label), |b| {
            b.iter(|| {
                let partials = NonEmpty::try_new(theirs.partials.iter()).expect("non-empty");
                threshold::batch_verify_same_message::<_, MinSig, _>(
                    &mut cw_rng,
                    &warm,
                    NAMESPACE,
                    black_box(APP_ID),
                    partials,
                    &Sequential,
                )
                .expect("valid")
            })
        });
        g.bench_function(BenchmarkId::new("commonware_cold", &label), |b| {
            b.iter_batched(
                || theirs.cold_sharing(),
                |s| {
                    let partials = NonEmpty::try_new(theirs.partials.iter()).expect("non-empty");
                    threshold::batch_verify_same_message::<_, MinSig, _>(
                        &mut cw_rng,
                        &s,
                        NAMESPACE,
                        black_box(APP_ID),
                        partials,
                        &Sequential,
                    )
                    .expect("valid")
                },
                BatchSize::SmallInput,
            )
        });
        g.finish();

        // Interpolation of exactly t partials, unverified.
        let mut g = c.benchmark_group("vs_commonware/recover_t");
        for (name, o) in [("ours", &ours), ("ours_index_points", &ours_idx)] {
            g.bench_function(BenchmarkId::new(name, &label), |b| {
                b.iter(|| bls::recover(o.t, black_box(o.quorum())).expect("recovers"))
            });
        }
        g.bench_function(BenchmarkId::new("commonware", &label), |b| {
            b.iter(|| {
                threshold::recover::<MinSig, _>(
                    &theirs.sharing,
                    black_box(theirs.quorum()),
                    &Sequential,
                )
                .expect("recovers")
            })
        });
        g.finish();

        // What a client does: check the t partials, interpolate, check the result against the
        // group key. commonware has no single call for it; the equivalent is its batch check (warm),
        // recover, and a full signature verification.
        let mut g = c.benchmark_group("vs_commonware/recover_verified_t");
        for (name, o) in [("ours", &ours), ("ours_index_points", &ours_idx)] {
            g.bench_function(BenchmarkId::new(name, &label), |b| {
                b.iter(|| {
                    bls::recover_verified(&o.commitment, black_box(APP_ID), o.quorum())
                        .expect("recovers")
                })
            });
        }
        g.bench_function(BenchmarkId::new("commonware_warm", &label), |b| {
            b.iter(|| {
                let partials = NonEmpty::try_new(theirs.quorum().iter()).expect("non-empty");
                threshold::batch_verify_same_message::<_, MinSig, _>(
                    &mut cw_rng,
                    &warm,
                    NAMESPACE,
                    black_box(APP_ID),
                    partials,
                    &Sequential,
                )
                .expect("valid");
                let sig = threshold::recover::<MinSig, _>(&warm, theirs.quorum(), &Sequential)
                    .expect("recovers");
                cw_ops::verify_message::<MinSig>(warm.public(), NAMESPACE, APP_ID, &sig)
                    .expect("valid");
                sig
            })
        });
        g.finish();
    }
}

fn bench_tle(c: &mut Criterion) {
    let mut g = c.benchmark_group("vs_commonware/ibe_32B");
    let (ours, theirs) = (Ours::new(4), Theirs::new(4));
    let block = payload(TLE_BLOCK);
    let cw_block = tle::Block::new(block.clone().try_into().expect("32 bytes"));
    let public = *theirs.sharing.public();

    let mut r = rng(5);
    g.bench_function("encrypt/ours", |b| {
        b.iter(|| ibe::encrypt(&ours.mpk, APP_ID, black_box(&block), &mut r).expect("encrypts"))
    });
    let mut cw_rng = commonware_utils::test_rng();
    g.bench_function("encrypt/commonware", |b| {
        b.iter(|| {
            tle::encrypt::<_, MinSig>(
                &mut cw_rng,
                public,
                (NAMESPACE, APP_ID),
                black_box(&cw_block),
            )
            .expect("encrypts")
        })
    });

    let ct = ibe::encrypt(&ours.mpk, APP_ID, &block, &mut r).expect("encrypts");
    let cw_ct = tle::encrypt::<_, MinSig>(&mut cw_rng, public, (NAMESPACE, APP_ID), &cw_block)
        .expect("encrypts");
    g.bench_function("decrypt/ours", |b| {
        b.iter(|| ibe::decrypt(&ours.app_key, APP_ID, black_box(&ct)).expect("decrypts"))
    });
    g.bench_function("decrypt/commonware", |b| {
        b.iter(|| tle::decrypt::<MinSig>(&theirs.signature, black_box(&cw_ct)).expect("decrypts"))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = criterion_config();
    targets = bench_sign, bench_threshold, bench_tle
}
criterion_main!(benches);
