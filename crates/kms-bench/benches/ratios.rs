//! Wrapper vs raw and ours vs commonware, timed in the same process and printed as ratios.
//!
//! Each comparison alternates batches of the two sides (ours, other, other, ours, ...) for a fixed
//! number of rounds and reports the median time per operation of each side and the median of the
//! per-round ratios, so that a load spike on this two-core machine hits both sides alike instead of
//! skewing the ratio.
//!
//! Run with `cargo bench -p kms-bench --bench ratios`; extra arguments that do not start with `-`
//! select rows whose name contains them. Without `--bench` (e.g. `cargo test --benches`) every case
//! runs once as a smoke test and nothing is timed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use ark_bn254::{Fq, Fr, G1Affine as ArkG1};
use ark_ec::{CurveGroup, PrimeGroup};
use ark_ff::PrimeField;
use blst::{blst_p1_affine, MultiPoint};
use blstrs::{G1Projective, G2Prepared, G2Projective, Scalar};
use common::{
    app_key_affine, payload, raw_bn254_verify, raw_ibe_decrypt, raw_ibe_encrypt, raw_partial_sign,
    rng, share_scalar, Ours, RawVerifier, Theirs, APP_ID, COMMITTEE_SIZES, IBE_PAYLOAD, NAMESPACE,
    TLE_BLOCK,
};
use commonware_cryptography::bls12381::primitives::ops::{self as cw_ops, threshold};
use commonware_cryptography::bls12381::primitives::sharing::Sharing;
use commonware_cryptography::bls12381::primitives::variant::MinSig;
use commonware_cryptography::bls12381::tle;
use commonware_parallel::Sequential;
use commonware_utils::iter::NonEmpty;
use group::{Curve, Group};
use kms_crypto::bls::EvalPoint;
use kms_crypto::bn254::{self, G1Point, SecretKey};
use kms_crypto::{bls, ibe};
use rand_core::RngCore;
use std::hint::black_box;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Alternating rounds per comparison; the median of each side is reported.
const ROUNDS: usize = 15;
/// Target wall time of one batch of one side.
const BATCH: Duration = Duration::from_millis(30);
/// Minimum calibration (and warm-up) time per side.
const CALIBRATION: Duration = Duration::from_millis(60);

/// One side of a comparison: runs `iters` operations and returns the time they took, setup
/// excluded.
struct Case<'a> {
    run: Box<dyn FnMut(u64) -> Duration + 'a>,
}

/// An operation with nothing to prepare.
fn plain<'a, R>(mut op: impl FnMut() -> R + 'a) -> Case<'a> {
    Case {
        run: Box::new(move |iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(op());
            }
            start.elapsed()
        }),
    }
}

/// An operation that consumes a fresh input each time; inputs are built before the clock starts.
fn batched<'a, S, R>(
    mut setup: impl FnMut() -> S + 'a,
    mut op: impl FnMut(S) -> R + 'a,
) -> Case<'a> {
    Case {
        run: Box::new(move |iters| {
            let inputs: Vec<S> = (0..iters).map(|_| setup()).collect();
            let start = Instant::now();
            for input in inputs {
                black_box(op(input));
            }
            start.elapsed()
        }),
    }
}

#[derive(Clone, Copy)]
enum Goal {
    /// Wrapper at most 1.15x the raw operations it is made of.
    Wrapper,
    /// Ours no slower than commonware.
    NoSlower,
    /// Context only.
    Info,
}

struct Row {
    name: String,
    baseline: &'static str,
    ours_us: f64,
    other_us: f64,
    /// Median over rounds of (ours / other) within the round.
    ratio: f64,
    goal: Goal,
}

impl Row {
    fn ratio(&self) -> f64 {
        self.ratio
    }

    fn verdict(&self) -> &'static str {
        match self.goal {
            Goal::Wrapper if self.ratio() <= 1.15 => "goal <= 1.15: met",
            Goal::Wrapper => "goal <= 1.15: MISSED",
            Goal::NoSlower if self.ratio() <= 1.0 => "goal <= 1.00: met",
            Goal::NoSlower => "goal <= 1.00: MISSED",
            Goal::Info => "context",
        }
    }
}

struct Runner {
    timed: bool,
    filters: Vec<String>,
    rows: Vec<Row>,
    notes: Vec<(String, f64)>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Seconds per operation, estimated by running it for at least `CALIBRATION` (which also warms
/// caches and lazily initialised state up).
fn calibrate(case: &mut Case<'_>) -> f64 {
    let (mut total, mut n) = (Duration::ZERO, 0u32);
    while total < CALIBRATION || n < 2 {
        total += (case.run)(1);
        n += 1;
    }
    total.as_secs_f64() / f64::from(n)
}

fn iters_for(per_op: f64) -> u64 {
    ((BATCH.as_secs_f64() / per_op).ceil() as u64).max(1)
}

impl Runner {
    fn from_args() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        Self {
            timed: args.iter().any(|a| a == "--bench"),
            filters: args.into_iter().filter(|a| !a.starts_with('-')).collect(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn selected(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }

    fn compare(
        &mut self,
        name: &str,
        baseline: &'static str,
        goal: Goal,
        mut ours: Case<'_>,
        mut other: Case<'_>,
    ) {
        if !self.selected(name) {
            return;
        }
        if !self.timed {
            (ours.run)(1);
            (other.run)(1);
            println!("{name}: ok (smoke test, not timed)");
            return;
        }
        let (ours_iters, other_iters) = (
            iters_for(calibrate(&mut ours)),
            iters_for(calibrate(&mut other)),
        );
        let (mut a, mut b) = (Vec::with_capacity(ROUNDS), Vec::with_capacity(ROUNDS));
        for round in 0..ROUNDS {
            let mut time_ours = || (ours.run)(ours_iters).as_secs_f64() / ours_iters as f64;
            let mut time_other = || (other.run)(other_iters).as_secs_f64() / other_iters as f64;
            if round % 2 == 0 {
                a.push(time_ours());
                b.push(time_other());
            } else {
                b.push(time_other());
                a.push(time_ours());
            }
        }
        let ratio = median(a.iter().zip(&b).map(|(x, y)| x / y).collect());
        let row = Row {
            name: name.to_owned(),
            baseline,
            ours_us: median(a) * 1e6,
            other_us: median(b) * 1e6,
            ratio,
            goal,
        };
        println!(
            "{}: ours {:.1} µs, {} {:.1} µs, ratio {:.3} ({})",
            row.name,
            row.ours_us,
            row.baseline,
            row.other_us,
            row.ratio(),
            row.verdict()
        );
        self.rows.push(row);
    }

    /// Times one operation alone (the median of `ROUNDS` batches), for the cost breakdown.
    fn single(&mut self, name: &str, mut case: Case<'_>) {
        if !self.selected(name) {
            return;
        }
        if !self.timed {
            (case.run)(1);
            println!("{name}: ok (smoke test, not timed)");
            return;
        }
        let iters = iters_for(calibrate(&mut case));
        let times = (0..ROUNDS)
            .map(|_| (case.run)(iters).as_secs_f64() / iters as f64)
            .collect();
        let us = median(times) * 1e6;
        println!("breakdown: {name}: {us:.1} µs");
        self.notes.push((name.to_owned(), us));
    }

    fn summary(&self) {
        if !self.notes.is_empty() {
            println!("\n| breakdown | µs |");
            println!("|---|---:|");
            for (name, us) in &self.notes {
                println!("| {name} | {us:.1} |");
            }
        }
        if self.rows.is_empty() {
            return;
        }
        println!("\n| comparison | ours (µs) | baseline | baseline (µs) | ratio | verdict |");
        println!("|---|---:|---|---:|---:|---|");
        for r in &self.rows {
            println!(
                "| {} | {:.1} | {} | {:.1} | {:.3} | {} |",
                r.name,
                r.ours_us,
                r.baseline,
                r.other_us,
                r.ratio(),
                r.verdict()
            );
        }
    }
}

/// Our wrappers against the library calls they are made of.
fn wrapper_vs_raw(run: &mut Runner) {
    // BN254 scalar_mul: the point arrives as decimal strings.
    let sk = SecretKey::random(&mut rng(7));
    let fr = sk.to_be_bytes().expose(|b| Fr::from_be_bytes_mod_order(b));
    let point = bn254::hash_to_g1(&[0x42; 32]);
    let (x, y) = (point.x_dec(), point.y_dec());
    let affine = *point.affine();
    let ours_mul = || {
        let p = G1Point::from_dec_or_hex(black_box(&x), black_box(&y)).expect("valid point");
        sk.sign_point(&p)
    };
    // The secret is split (k = a + (k - a), fresh a) against timing, so the raw baseline is the
    // two products it is made of; the row after it shows what the split costs.
    let a = Fr::from_be_bytes_mod_order(&[0xa5; 32]);
    let b = fr - a;
    run.compare(
        "bn254 scalar_mul (checked decimal decode + split mul + affine)",
        "arkworks G1Affine*a + G1Affine*(k-a) + into_affine",
        Goal::Wrapper,
        plain(ours_mul),
        plain(|| (*black_box(&affine) * a + *black_box(&affine) * b).into_affine()),
    );
    run.compare(
        "bn254 split mul (two products) vs one product",
        "arkworks G1Affine*Fr + into_affine",
        Goal::Info,
        plain(|| (*black_box(&affine) * a + *black_box(&affine) * b).into_affine()),
        plain(|| (*black_box(&affine) * fr).into_affine()),
    );
    run.compare(
        "bn254 scalar_mul vs raw incl. unchecked decimal parse",
        "arkworks Fq::from_str x2 + new_unchecked + mul + into_affine",
        Goal::Info,
        plain(ours_mul),
        plain(|| {
            let px = Fq::from_str(black_box(&x)).expect("decimal");
            let py = Fq::from_str(black_box(&y)).expect("decimal");
            (ArkG1::new_unchecked(px, py) * fr).into_affine()
        }),
    );

    // EigenLayer's BLSSignatureChecker equation.
    let digest = [0x42; 32];
    let (message_point, signature) = sk.sign_hash(&digest);
    let (pk_g1, pk_g2) = (sk.public_g1(), sk.public_g2());
    let neg_g2 = (-ark_bn254::G2Projective::generator()).into_affine();
    let (h, sig, p1, p2) = (
        *message_point.affine(),
        *signature.affine(),
        *pk_g1.affine(),
        *pk_g2.affine(),
    );
    assert!(
        raw_bn254_verify(&digest, &h, &sig, &p1, &p2, &neg_g2),
        "raw baseline rejects"
    );
    run.compare(
        "bn254 verify_signature (H(m) included on our side)",
        "keccak gamma + 2 GLV muls + arkworks multi_pairing",
        Goal::Info,
        plain(|| {
            bn254::verify_signature(black_box(&digest), &signature, &pk_g1, &pk_g2).expect("valid")
        }),
        plain(|| raw_bn254_verify(black_box(&digest), &h, &sig, &p1, &p2, &neg_g2)),
    );
    run.compare(
        "bn254 verify_point_signature",
        "arkworks multi_pairing",
        Goal::Wrapper,
        plain(|| {
            bn254::verify_point_signature(black_box(&message_point), &signature, &pk_g2)
                .expect("valid")
        }),
        plain(|| {
            use ark_ec::pairing::Pairing;
            use ark_ff::Zero;
            ark_bn254::Bn254::multi_pairing([black_box(sig), h], [neg_g2, p2]).is_zero()
        }),
    );
    run.single(
        "bn254 hash_to_g1 (try-and-increment)",
        plain(|| bn254::hash_to_g1(black_box(&digest))),
    );

    // BLS12-381 partial signature.
    let ours = Ours::new(4);
    let share = share_scalar(&ours.shares[0]);
    run.compare(
        "bls partial_sign",
        "blstrs hash_to_curve + mul + to_affine",
        Goal::Wrapper,
        plain(|| bls::partial_sign(&ours.shares[0], black_box(APP_ID))),
        plain(|| raw_partial_sign(&share, black_box(APP_ID))),
    );
    run.compare(
        "bls partial_sign vs raw left projective",
        "blstrs hash_to_curve + mul, no to_affine",
        Goal::Info,
        plain(|| bls::partial_sign(&ours.shares[0], black_box(APP_ID))),
        plain(|| G1Projective::hash_to_curve(black_box(APP_ID), bls::APP_ID_DST, &[]) * share),
    );

    // Partial verification: commitment evaluation (G2 MSM) and a two-term pairing check.
    for n in COMMITTEE_SIZES {
        let ours = Ours::new(n);
        let raw = RawVerifier::new(&ours.commitment);
        let partial = ours.partials[0];
        let (x, sig, h) = (
            *partial.point.scalar(),
            *partial.signature.affine(),
            *ours.h.affine(),
        );
        assert!(
            raw.verify(&x, &sig, &h),
            "raw baseline rejects a valid partial"
        );
        run.compare(
            &format!("bls verify_partial {}", ours.label()),
            "blstrs G2 multi_exp + multi_miller_loop + final_exp",
            Goal::Wrapper,
            plain(|| {
                bls::verify_partial(&ours.commitment, &partial, black_box(&ours.h)).expect("valid")
            }),
            plain(|| raw.verify(black_box(&x), &sig, &h)),
        );
    }

    // IBE on 1 KiB: the same construction rebuilt from blstrs, hkdf and aes-gcm.
    let msg = payload(IBE_PAYLOAD);
    let mpk = *ours.mpk.affine();
    let (mut r1, mut r2) = (rng(11), rng(12));
    let ct = ibe::encrypt(&ours.mpk, APP_ID, &msg, &mut rng(13)).expect("encrypts");
    let raw_ct = raw_ibe_encrypt(&mpk, APP_ID, &msg, &mut rng(13));
    assert_eq!(ct, raw_ct, "raw IBE baseline differs from ours");
    run.compare(
        "ibe encrypt 1 KiB",
        "blstrs + hkdf + aes-gcm, same construction",
        Goal::Wrapper,
        plain(|| ibe::encrypt(&ours.mpk, APP_ID, black_box(&msg), &mut r1).expect("encrypts")),
        plain(|| raw_ibe_encrypt(&mpk, APP_ID, black_box(&msg), &mut r2)),
    );
    let key = app_key_affine(&ours.app_key);
    run.compare(
        "ibe decrypt 1 KiB",
        "blstrs + hkdf + aes-gcm, same construction",
        Goal::Wrapper,
        plain(|| ibe::decrypt(&ours.app_key, APP_ID, black_box(&ct)).expect("decrypts")),
        plain(|| raw_ibe_decrypt(&key, APP_ID, black_box(&ct)).expect("decrypts")),
    );
}

/// Our partial verification, hashing inside the timed region like commonware does, cycling
/// through every participant's partial.
fn ours_verify(o: &Ours) -> impl FnMut() + '_ {
    let mut k = 0;
    move || {
        k = (k + 1) % o.n;
        let h = bls::hash_app_id(black_box(APP_ID));
        bls::verify_partial(&o.commitment, &o.partials[k], &h).expect("valid")
    }
}

/// commonware's partial verification against a given sharing, cycling through participants.
fn theirs_verify(th: &Theirs) -> impl FnMut(&Sharing<MinSig>) + '_ {
    let mut k = 0;
    move |s| {
        k = (k + 1) % th.n;
        threshold::verify_message::<MinSig>(s, NAMESPACE, black_box(APP_ID), &th.partials[k])
            .expect("valid")
    }
}

fn ours_recover_verified(o: &Ours) -> impl FnMut() -> bls::AppKey + '_ {
    move || {
        bls::recover_verified(&o.commitment, black_box(APP_ID), o.quorum())
            .expect("recovers")
            .0
    }
}

/// commonware has no single call for a verified recovery; the equivalent is its batch check of
/// the t partials (cached shares), recover, and a full verification of the result.
fn theirs_recover_verified<'a>(th: &'a Theirs, warm: &'a Sharing<MinSig>) -> impl FnMut() + 'a {
    let mut cw_rng = commonware_utils::test_rng();
    move || {
        let partials = NonEmpty::try_new(th.quorum().iter()).expect("non-empty");
        threshold::batch_verify_same_message::<_, MinSig, _>(
            &mut cw_rng,
            warm,
            NAMESPACE,
            black_box(APP_ID),
            partials,
            &Sequential,
        )
        .expect("valid");
        let sig =
            threshold::recover::<MinSig, _>(warm, th.quorum(), &Sequential).expect("recovers");
        cw_ops::verify_message::<MinSig>(warm.public(), NAMESPACE, APP_ID, &sig).expect("valid");
    }
}

fn theirs_batch_verify(th: &Theirs) -> impl FnMut(&Sharing<MinSig>) + '_ {
    let mut cw_rng = commonware_utils::test_rng();
    move |s| {
        let partials = NonEmpty::try_new(th.partials.iter()).expect("non-empty");
        threshold::batch_verify_same_message::<_, MinSig, _>(
            &mut cw_rng,
            s,
            NAMESPACE,
            black_box(APP_ID),
            partials,
            &Sequential,
        )
        .expect("valid")
    }
}

/// Ours against commonware-cryptography (MinSig) at equal n and t. "addr" rows are ours as
/// deployed (evaluation points from operator addresses); "idx" rows give ours commonware's
/// evaluation points 1..=n, so that both sides do the same algebra.
fn ours_vs_commonware(run: &mut Runner) {
    let (ours, theirs) = (Ours::new(4), Theirs::new(4));
    run.compare(
        "partial_sign",
        "commonware threshold::sign_message",
        Goal::NoSlower,
        plain(|| bls::partial_sign(&ours.shares[0], black_box(APP_ID))),
        plain(|| {
            threshold::sign_message::<MinSig>(&theirs.shares[0], NAMESPACE, black_box(APP_ID))
        }),
    );

    for n in COMMITTEE_SIZES {
        let (ours, ours_idx, theirs) = (Ours::new(n), Ours::with_index_points(n), Theirs::new(n));
        let label = ours.label();
        let warm = theirs.warm_sharing();

        let mut verify_warm = theirs_verify(&theirs);
        run.compare(
            &format!("partial_verify {label} addr vs warm"),
            "commonware verify_message, cached share",
            Goal::NoSlower,
            plain(ours_verify(&ours)),
            plain(|| verify_warm(&warm)),
        );
        let mut verify_cold = theirs_verify(&theirs);
        run.compare(
            &format!("partial_verify {label} idx vs cold"),
            "commonware verify_message, fresh Sharing",
            Goal::NoSlower,
            plain(ours_verify(&ours_idx)),
            batched(|| theirs.cold_sharing(), |s| verify_cold(&s)),
        );

        let ours_batch = || {
            let h = bls::hash_app_id(black_box(APP_ID));
            bls::batch_verify_partials(&ours.commitment, &ours.partials, &h).expect("valid")
        };
        let mut batch_warm = theirs_batch_verify(&theirs);
        run.compare(
            &format!("batch_verify all n {label} addr vs warm"),
            "commonware batch_verify_same_message, cached",
            Goal::NoSlower,
            plain(ours_batch),
            plain(|| batch_warm(&warm)),
        );
        let mut batch_cold = theirs_batch_verify(&theirs);
        run.compare(
            &format!("batch_verify all n {label} addr vs cold"),
            "commonware batch_verify_same_message, fresh",
            Goal::NoSlower,
            plain(ours_batch),
            batched(|| theirs.cold_sharing(), |s| batch_cold(&s)),
        );

        for (kind, o) in [("addr", &ours), ("idx", &ours_idx)] {
            run.compare(
                &format!("recover {label} {kind}"),
                "commonware threshold::recover",
                Goal::NoSlower,
                plain(|| bls::recover(o.t, black_box(o.quorum())).expect("recovers")),
                plain(|| {
                    threshold::recover::<MinSig, _>(
                        &theirs.sharing,
                        black_box(theirs.quorum()),
                        &Sequential,
                    )
                    .expect("recovers")
                }),
            );
        }
        for (kind, o) in [("addr", &ours), ("idx", &ours_idx)] {
            run.compare(
                &format!("recover_verified {label} {kind}"),
                "commonware batch check (cached) + recover + verify",
                Goal::NoSlower,
                plain(ours_recover_verified(o)),
                plain(theirs_recover_verified(&theirs, &warm)),
            );
        }
    }

    let (ours, theirs) = (Ours::new(4), Theirs::new(4));
    let block = payload(TLE_BLOCK);
    let cw_block = tle::Block::new(block.clone().try_into().expect("32 bytes"));
    let public = *theirs.sharing.public();
    let (mut r, mut cw_rng) = (rng(21), commonware_utils::test_rng());
    let ct = ibe::encrypt(&ours.mpk, APP_ID, &block, &mut rng(22)).expect("encrypts");
    let cw_ct = tle::encrypt::<_, MinSig>(
        &mut commonware_utils::test_rng(),
        public,
        (NAMESPACE, APP_ID),
        &cw_block,
    )
    .expect("encrypts");
    run.compare(
        "ibe encrypt 32 B",
        "commonware tle::encrypt",
        Goal::NoSlower,
        plain(|| ibe::encrypt(&ours.mpk, APP_ID, black_box(&block), &mut r).expect("encrypts")),
        plain(|| {
            tle::encrypt::<_, MinSig>(
                &mut cw_rng,
                public,
                (NAMESPACE, APP_ID),
                black_box(&cw_block),
            )
            .expect("encrypts")
        }),
    );
    run.compare(
        "ibe decrypt 32 B",
        "commonware tle::decrypt",
        Goal::NoSlower,
        plain(|| ibe::decrypt(&ours.app_key, APP_ID, black_box(&ct)).expect("decrypts")),
        plain(|| tle::decrypt::<MinSig>(&theirs.signature, black_box(&cw_ct)).expect("decrypts")),
    );
}

/// The parts partial verification and recovery are made of, to size the fixes the misses call for.
fn breakdown(run: &mut Runner) {
    run.single(
        "-G2 Miller-loop lines (G2Prepared), rebuilt by every verify_partial",
        plain(|| G2Prepared::from((-G2Projective::generator()).to_affine())),
    );
    let ours = Ours::new(4);
    run.single("hash_app_id", plain(|| bls::hash_app_id(black_box(APP_ID))));
    let raw = RawVerifier::new(&ours.commitment);
    let partial = ours.partials[1];
    let (sig, h) = (*partial.signature.affine(), *ours.h.affine());
    let share = ours.commitment.evaluate(&partial.point).to_affine();
    run.single(
        "pairing check with the public share known (lines for it built per call, -G2 cached)",
        plain(|| raw.verify_with_share(black_box(&share), &sig, &h)),
    );
    for n in COMMITTEE_SIZES {
        let (ours, ours_idx) = (Ours::new(n), Ours::with_index_points(n));
        let label = ours.label();
        let x = ours.partials[n - 1].point;
        run.single(
            &format!("Commitment::evaluate {label}, address-derived point"),
            plain(|| ours.commitment.evaluate(black_box(&x))),
        );
        // x = n - 1: commonware's points are small integers; a power of two would flatter them.
        let x = ours_idx.partials[n - 2].point;
        run.single(
            &format!("Commitment::evaluate {label}, point x=n-1"),
            plain(|| ours_idx.commitment.evaluate(black_box(&x))),
        );
        // batch_verify_partials combines the n signatures with 128-bit coefficients through
        // blstrs' multi_exp, which always runs 255-bit windows.
        let mut coeff_rng = rng(n as u64);
        let coeffs: Vec<Scalar> = (0..n)
            .map(|_| {
                let limbs = [coeff_rng.next_u64(), coeff_rng.next_u64(), 0, 0];
                Option::from(Scalar::from_u64s_le(&limbs)).expect("below r")
            })
            .collect();
        let coeff_bytes: Vec<u8> = coeffs
            .iter()
            .flat_map(|c| c.to_bytes_le()[..16].to_vec())
            .collect();
        let sigs: Vec<G1Projective> = ours
            .partials
            .iter()
            .map(|p| G1Projective::from(*p.signature.affine()))
            .collect();
        let sigs_blst: Vec<blst_p1_affine> = ours
            .partials
            .iter()
            .map(|p| *p.signature.affine().as_ref())
            .collect();
        run.compare(
            &format!("G1 MSM of n signatures, 128-bit coefficients {label}"),
            "blst mult with nbits=128",
            Goal::Info,
            plain(|| G1Projective::multi_exp(black_box(&sigs), &coeffs)),
            plain(|| sigs_blst.as_slice().mult(black_box(&coeff_bytes), 128)),
        );

        let points: Vec<EvalPoint> = ours.quorum().iter().map(|p| p.point).collect();
        run.single(
            &format!("lagrange_at_zero {label}"),
            plain(|| bls::lagrange_at_zero(black_box(&points)).expect("distinct points")),
        );
    }
}

fn main() {
    let mut run = Runner::from_args();
    wrapper_vs_raw(&mut run);
    ours_vs_commonware(&mut run);
    breakdown(&mut run);
    run.summary();
}
