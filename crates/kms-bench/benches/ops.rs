//! Every kms-crypto operation on its own: BN254 (EigenLayer) signing and verification, the
//! BLS12-381 threshold primitives at n = 4, 16 and 64, and IBE on a 1 KiB payload.
#![allow(
    missing_docs, // criterion_group! defines an undocumented public function
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{criterion_config, payload, rng, Ours, APP_ID, COMMITTEE_SIZES, IBE_PAYLOAD};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use kms_crypto::bls;
use kms_crypto::bn254::{self, G1Point, SecretKey};
use kms_crypto::ibe;
use std::hint::black_box;

/// Try-and-increment costs a different number of square roots per digest, so the hashing
/// benches cycle through a fixed set of digests instead of timing one lucky (or unlucky) value.
fn digests() -> Vec<[u8; 32]> {
    (0u8..16)
        .map(|i| [i.wrapping_mul(37).wrapping_add(5); 32])
        .collect()
}

fn bench_bn254(c: &mut Criterion) {
    let mut g = c.benchmark_group("bn254");
    let sk = SecretKey::random(&mut rng(7));
    let (pk_g1, pk_g2) = (sk.public_g1(), sk.public_g2());
    let digests = digests();

    let mut i = 0usize;
    g.bench_function("hash_to_g1", |b| {
        b.iter(|| {
            i = (i + 1) % digests.len();
            bn254::hash_to_g1(black_box(&digests[i]))
        })
    });
    g.bench_function("sign_hash", |b| {
        b.iter(|| {
            i = (i + 1) % digests.len();
            sk.sign_hash(black_box(&digests[i]))
        })
    });

    // The seed's scalar_mul: a point arrives as decimal strings, is decoded with every check and
    // multiplied by the key.
    let point = bn254::hash_to_g1(&digests[0]);
    let (x, y) = (point.x_dec(), point.y_dec());
    g.bench_function("scalar_mul_from_decimal", |b| {
        b.iter(|| {
            let p = G1Point::from_dec_or_hex(black_box(&x), black_box(&y)).expect("valid point");
            sk.sign_point(&p)
        })
    });

    let (message_point, signature) = sk.sign_hash(&digests[0]);
    g.bench_function("verify_signature", |b| {
        b.iter(|| {
            bn254::verify_signature(black_box(&digests[0]), &signature, &pk_g1, &pk_g2)
                .expect("valid")
        })
    });
    g.bench_function("verify_point_signature", |b| {
        b.iter(|| {
            bn254::verify_point_signature(black_box(&message_point), &signature, &pk_g2)
                .expect("valid")
        })
    });
    g.finish();
}

fn bench_bls_single(c: &mut Criterion) {
    let mut g = c.benchmark_group("bls");
    let ours = Ours::new(4);
    g.bench_function("hash_app_id", |b| {
        b.iter(|| bls::hash_app_id(black_box(APP_ID)))
    });
    g.bench_function("partial_sign", |b| {
        b.iter(|| bls::partial_sign(&ours.shares[0], black_box(APP_ID)))
    });
    g.finish();
}

fn bench_bls_threshold(c: &mut Criterion) {
    let mut g = c.benchmark_group("bls");
    for n in COMMITTEE_SIZES {
        let ours = Ours::new(n);
        let label = ours.label();

        g.bench_with_input(BenchmarkId::new("verify_partial", &label), &ours, |b, o| {
            b.iter(|| bls::verify_partial(&o.commitment, &o.partials[0], &o.h).expect("valid"))
        });
        g.bench_with_input(
            BenchmarkId::new("batch_verify_partials_all_n", &label),
            &ours,
            |b, o| {
                b.iter(|| {
                    bls::batch_verify_partials(&o.commitment, &o.partials, &o.h).expect("valid")
                })
            },
        );
        g.bench_with_input(BenchmarkId::new("recover_t", &label), &ours, |b, o| {
            b.iter(|| bls::recover(o.t, o.quorum()).expect("recovers"))
        });
        g.bench_with_input(
            BenchmarkId::new("recover_verified_t", &label),
            &ours,
            |b, o| {
                b.iter(|| {
                    bls::recover_verified(&o.commitment, APP_ID, o.quorum()).expect("recovers")
                })
            },
        );
        g.bench_with_input(
            BenchmarkId::new("polynomial_commit", &label),
            &ours,
            |b, o| b.iter(|| o.poly.commit()),
        );
        g.bench_with_input(BenchmarkId::new("verify_share", &label), &ours, |b, o| {
            b.iter(|| o.commitment.verify_share(&o.shares[0]).expect("valid"))
        });
    }
    g.finish();
}

fn bench_ibe(c: &mut Criterion) {
    let mut g = c.benchmark_group("ibe");
    let ours = Ours::new(4);
    let msg = payload(IBE_PAYLOAD);
    let mut r = rng(3);
    g.bench_function("encrypt_1KiB", |b| {
        b.iter(|| ibe::encrypt(&ours.mpk, APP_ID, black_box(&msg), &mut r).expect("encrypts"))
    });
    let ct = ibe::encrypt(&ours.mpk, APP_ID, &msg, &mut r).expect("encrypts");
    g.bench_function("decrypt_1KiB", |b| {
        b.iter(|| ibe::decrypt(&ours.app_key, APP_ID, black_box(&ct)).expect("decrypts"))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = criterion_config();
    targets = bench_bn254, bench_bls_single, bench_bls_threshold, bench_ibe
}
criterion_main!(benches);
