use super::partial::recover_if_all_valid;
use super::*;
use crate::Error;
use blstrs::{G1Affine, G2Affine, G2Projective, Scalar};
use ff::Field;
use group::{Curve, Group};
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A dealt secret with shares at points 1..=n.
fn deal(n: u64, t: usize, seed: u64) -> (Polynomial, Commitment, Vec<Share>) {
    let poly = Polynomial::random(t, &mut rng(seed)).unwrap();
    let commitment = poly.commit();
    let shares = (1..=n)
        .map(|i| poly.evaluate(&EvalPoint::from_index(i).unwrap()))
        .collect();
    (poly, commitment, shares)
}

#[test]
fn threshold_is_the_bft_quorum() {
    let expected = [
        (1, 1),
        (2, 2),
        (3, 3),
        (4, 3),
        (5, 4),
        (6, 5),
        (7, 5),
        (9, 7),
        (10, 7),
        (16, 11),
        (64, 43),
    ];
    for (n, t) in expected {
        assert_eq!(threshold_for(n), t, "n = {n}");
    }
}

/// The argument for the rule, checked for every committee size a round can have: f = n - t
/// Byzantine operators plus f revealed shares stay below t, and t is the smallest threshold for
/// which that holds. The old rule broke it exactly when 3 divides n.
#[test]
fn threshold_keeps_byzantine_plus_revealed_below_t() {
    for n in 1..=usize::from(u16::MAX) {
        let t = threshold_for(n);
        assert!(t <= n && 2 * (n - t) < t, "n = {n}, t = {t}");
        assert!(
            t == 1 || 2 * (n - (t - 1)) >= t - 1,
            "n = {n}: t - 1 would do"
        );
        assert_eq!(t, n - (n - 1) / 3, "n = {n}");
        let old = legacy_threshold_for(n);
        assert_eq!(old == t, n % 3 != 0, "n = {n}");
        if n % 3 == 0 {
            assert!(
                2 * (n - old) >= old,
                "n = {n}: the old rule should fail here"
            );
        }
    }
}

#[test]
fn eval_points_from_addresses_are_stable_distinct_and_nonzero() {
    let a = EvalPoint::from_address(&[1u8; 20]).unwrap();
    assert_eq!(a, EvalPoint::from_address(&[1u8; 20]).unwrap());
    assert_ne!(a, EvalPoint::from_address(&[2u8; 20]).unwrap());
    assert!(!bool::from(a.scalar().is_zero()));
    assert_eq!(
        EvalPoint::from_index(0),
        Err(Error::InvalidEvaluationPoint("zero"))
    );
}

#[test]
fn hash_to_g1_matches_rfc9380_vectors() {
    let file: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/vectors/rfc9380_bls12381g1.json")).unwrap();
    let dst = file["dst"].as_str().unwrap().as_bytes();
    let vectors = file["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 3);
    for v in vectors {
        let p = hash_to_g1(v["msg"].as_str().unwrap().as_bytes(), dst);
        let uncompressed = p.affine().to_uncompressed();
        let expected = format!("{}{}", v["x"].as_str().unwrap(), v["y"].as_str().unwrap());
        assert_eq!(hex::encode(uncompressed), expected);
    }
    // Our DST gives a different point for the same message.
    assert_ne!(hash_app_id(b"abc"), hash_to_g1(b"abc", dst));
}

#[test]
fn shares_verify_against_the_commitment_and_tampered_ones_do_not() {
    let (_, commitment, shares) = deal(5, 4, 1);
    for s in &shares {
        commitment.verify_share(s).unwrap();
    }
    let first = shares.first().unwrap();
    let bumped = Share {
        point: first.point,
        value: crate::Secret::new(SecretScalar(first.value.expose(|v| v.0 + Scalar::ONE))),
    };
    assert_eq!(commitment.verify_share(&bumped), Err(Error::InvalidShare));
    let moved = Share {
        point: EvalPoint::from_index(9).unwrap(),
        value: first.value.duplicate(),
    };
    assert_eq!(commitment.verify_share(&moved), Err(Error::InvalidShare));
}

#[test]
fn commitment_codec_round_trips_and_rejects_bad_lengths() {
    let (_, commitment, _) = deal(4, 3, 2);
    let bytes = commitment.to_bytes();
    assert_eq!(Commitment::from_bytes(&bytes).unwrap(), commitment);
    assert!(Commitment::from_bytes(&bytes[..95]).is_err());
    assert!(Commitment::from_bytes(&[]).is_err());
}

#[test]
fn reshare_polynomial_keeps_the_constant() {
    let (poly, commitment, _) = deal(4, 3, 3);
    let again = Polynomial::with_constant(&poly.constant(), 3, &mut rng(99)).unwrap();
    assert_eq!(again.commit().public_key(), commitment.public_key());
    assert_ne!(again.commit(), commitment);
}

#[test]
fn partials_verify_singly_and_in_batch() {
    let (_, commitment, shares) = deal(7, 5, 4);
    let h = hash_app_id(b"app");
    let partials: Vec<PartialSignature> = shares.iter().map(|s| partial_sign(s, b"app")).collect();
    for p in &partials {
        verify_partial(&commitment, p, &h).unwrap();
    }
    batch_verify_partials(&commitment, &partials, &h).unwrap();
    assert!(find_invalid_partials(&commitment, &partials, &h).is_empty());
}

#[test]
fn a_bad_partial_is_named_and_does_not_break_recovery() {
    let (poly, commitment, shares) = deal(7, 5, 5);
    let h = hash_app_id(b"app");
    let mut partials: Vec<PartialSignature> =
        shares.iter().map(|s| partial_sign(s, b"app")).collect();
    // Position 2 signs another app id; position 5 claims someone else's evaluation point.
    partials[2] = PartialSignature {
        point: partials[2].point,
        ..partial_sign(&shares[2], b"other")
    };
    partials[5] = PartialSignature {
        point: partials[6].point,
        ..partials[5]
    };
    assert!(batch_verify_partials(&commitment, &partials, &h).is_err());
    assert_eq!(
        find_invalid_partials(&commitment, &partials, &h),
        vec![2, 5]
    );
    let (key, bad) = recover_verified(&commitment, b"app", &partials).unwrap();
    assert_eq!(bad, vec![2, 5]);
    let direct = app_key_from_master(&poly.constant(), b"app");
    assert_eq!(key.to_bytes(), direct.to_bytes());
}

#[test]
fn the_one_product_path_recovers_only_when_every_partial_and_the_key_check() {
    let (poly, commitment, shares) = deal(7, 4, 9);
    let direct = app_key_from_master(&poly.constant(), b"app");
    let good: Vec<PartialSignature> = shares.iter().map(|s| partial_sign(s, b"app")).collect();
    let key = recover_if_all_valid(&commitment, b"app", &good).unwrap();
    assert_eq!(key.to_bytes(), direct.to_bytes());
    // Exactly t partials are enough.
    assert!(recover_if_all_valid(&commitment, b"app", &good[3..]).is_some());
    // One bad partial anywhere (inside the first t or after it) fails the whole product.
    for bad_at in [0, 6] {
        let mut partials = good.clone();
        partials[bad_at] = PartialSignature {
            point: partials[bad_at].point,
            ..partial_sign(&shares[bad_at], b"other")
        };
        assert!(recover_if_all_valid(&commitment, b"app", &partials).is_none());
        let (key, bad) = recover_verified(&commitment, b"app", &partials).unwrap();
        assert_eq!(bad, vec![bad_at]);
        assert_eq!(key.to_bytes(), direct.to_bytes());
    }
    // Two wrong partials whose errors cancel in the recovered key: the key is right, the
    // partials are not, and the product still fails because they are in it.
    let lambdas = lagrange_at_zero(&good[..4].iter().map(|p| p.point).collect::<Vec<_>>()).unwrap();
    let delta = blstrs::G1Projective::generator() * Scalar::from(5u64);
    let mut cancelling = good.clone();
    let shift = |p: &PartialSignature, by: blstrs::G1Projective| PartialSignature {
        point: p.point,
        signature: G1Point((blstrs::G1Projective::from(p.signature.0) + by).to_affine()),
    };
    cancelling[0] = shift(&good[0], delta);
    cancelling[1] = shift(
        &good[1],
        -(delta * (lambdas[0] * lambdas[1].invert().unwrap())),
    );
    assert_eq!(
        recover(4, &cancelling).unwrap(),
        recover(4, &good).unwrap(),
        "the errors cancel in the key"
    );
    assert!(recover_if_all_valid(&commitment, b"app", &cancelling).is_none());
    // Valid partials checked against another commitment: no key.
    let (_, other, _) = deal(7, 4, 10);
    assert!(recover_if_all_valid(&other, b"app", &good).is_none());
    // Fewer than t, or a repeated point: no key.
    assert!(recover_if_all_valid(&commitment, b"app", &good[..3]).is_none());
    let repeated = [good[0], good[1], good[2], good[0]];
    assert!(recover_if_all_valid(&commitment, b"app", &repeated).is_none());
}

#[test]
fn fewer_than_t_valid_partials_cannot_recover() {
    let (_, commitment, shares) = deal(5, 4, 6);
    let partials: Vec<PartialSignature> = shares
        .iter()
        .take(3)
        .map(|s| partial_sign(s, b"a"))
        .collect();
    assert!(matches!(
        recover_verified(&commitment, b"a", &partials),
        Err(Error::InvalidThreshold(_))
    ));
}

#[test]
fn culprits_are_named_even_when_too_few_partials_are_left() {
    let (_, commitment, shares) = deal(5, 3, 11);
    let mut partials: Vec<PartialSignature> = shares
        .iter()
        .take(3)
        .map(|s| partial_sign(s, b"a"))
        .collect();
    partials[1] = PartialSignature {
        point: partials[1].point,
        ..partial_sign(&shares[1], b"b")
    };
    let (bad, key) = check_and_recover(&commitment, b"a", &partials);
    assert_eq!(bad, vec![1]);
    assert!(matches!(key, Err(Error::InvalidThreshold(_))));
}

#[test]
fn recovery_rejects_duplicate_points() {
    let (_, _, shares) = deal(4, 3, 7);
    let p = partial_sign(&shares[0], b"a");
    let q = partial_sign(&shares[1], b"a");
    assert_eq!(
        recover(3, &[p, q, p]),
        Err(Error::InvalidEvaluationPoint("duplicate"))
    );
}

#[test]
fn app_key_from_bytes_is_checked_against_the_mpk() {
    let (poly, commitment, _) = deal(4, 3, 8);
    let key = app_key_from_master(&poly.constant(), b"a");
    let bytes = key.to_bytes();
    let mpk = commitment.public_key();
    bytes.expose(|b| AppKey::from_bytes(b, b"a", &mpk)).unwrap();
    assert!(matches!(
        bytes.expose(|b| AppKey::from_bytes(b, b"b", &mpk)),
        Err(Error::RecoveryMismatch)
    ));
}

/// A compressed encoding of an on-curve point outside the prime-order subgroup.
fn off_subgroup<const N: usize>(decode_unchecked: impl Fn(&[u8; N]) -> bool) -> [u8; N] {
    for x in 1u64.. {
        let mut bytes = [0u8; N];
        bytes[N - 8..].copy_from_slice(&x.to_be_bytes());
        bytes[0] |= 0x80;
        if decode_unchecked(&bytes) {
            return bytes;
        }
    }
    unreachable!()
}

#[test]
fn point_decoders_reject_every_bad_class() {
    // Wrong lengths.
    assert!(matches!(
        G1Point::from_bytes(&[0u8; 47]),
        Err(Error::WrongLength { .. })
    ));
    assert!(matches!(
        G2Point::from_bytes(&[0u8; 97]),
        Err(Error::WrongLength { .. })
    ));
    // Identity (compressed infinity encoding).
    let mut inf1 = [0u8; 48];
    inf1[0] = 0xc0;
    assert_eq!(G1Point::from_bytes(&inf1), Err(Error::IdentityPoint));
    let mut inf2 = [0u8; 96];
    inf2[0] = 0xc0;
    assert_eq!(G2Point::from_bytes(&inf2), Err(Error::IdentityPoint));
    // Uncompressed-flag or garbage bytes.
    assert!(G1Point::from_bytes(&[0u8; 48]).is_err());
    assert!(G1Point::from_bytes(&[0xffu8; 48]).is_err());
    // x with no point on the curve.
    let mut not_on_curve = [0u8; 48];
    not_on_curve[0] = 0x80;
    not_on_curve[47] = 3;
    if Option::<G1Affine>::from(G1Affine::from_compressed_unchecked(&not_on_curve)).is_none() {
        assert_eq!(G1Point::from_bytes(&not_on_curve), Err(Error::NotOnCurve));
    }
    // On the curve, outside the subgroup.
    let g1_bad = off_subgroup::<48>(|b| {
        Option::<G1Affine>::from(G1Affine::from_compressed_unchecked(b))
            .is_some_and(|p| !bool::from(p.is_torsion_free()))
    });
    assert_eq!(G1Point::from_bytes(&g1_bad), Err(Error::NotInSubgroup));
    let g2_bad = off_subgroup::<96>(|b| {
        Option::<G2Affine>::from(G2Affine::from_compressed_unchecked(b))
            .is_some_and(|p| !bool::from(p.is_torsion_free()))
    });
    assert_eq!(G2Point::from_bytes(&g2_bad), Err(Error::NotInSubgroup));
    // Good points round trip.
    let g2 = G2Point((G2Projective::generator() * Scalar::from(5u64)).to_affine());
    assert_eq!(G2Point::from_bytes(&g2.to_bytes()).unwrap(), g2);
}

#[test]
fn scalar_decoder_rejects_values_at_or_above_r() {
    let r_minus_1 = (-Scalar::ONE).to_bytes_be();
    assert!(PublicScalar::from_bytes(&r_minus_1).is_ok());
    assert_eq!(
        PublicScalar::from_bytes(&[0xffu8; 32]),
        Err(Error::MalformedScalar)
    );
    let mut r = r_minus_1;
    r[31] += 1;
    assert_eq!(PublicScalar::from_bytes(&r), Err(Error::MalformedScalar));
    assert!(matches!(
        PublicScalar::from_bytes(&[1u8; 31]),
        Err(Error::WrongLength { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any t of n partials recover the master key's signature; t - 1 of them do not.
    #[test]
    fn any_t_of_n_recover_and_fewer_do_not(n in 2u64..9, seed in any::<u64>(), pick in any::<u64>()) {
        let t = threshold_for(n as usize);
        let (poly, commitment, shares) = deal(n, t, seed);
        let mut partials: Vec<PartialSignature> = shares.iter().map(|s| partial_sign(s, b"id")).collect();
        // A seeded shuffle picks which t.
        let mut r = rng(pick);
        for i in (1..partials.len()).rev() {
            let j = (rand_chacha::rand_core::RngCore::next_u64(&mut r) % (i as u64 + 1)) as usize;
            partials.swap(i, j);
        }
        let expected = app_key_from_master(&poly.constant(), b"id").to_bytes();
        let key = recover(t, &partials).unwrap();
        prop_assert_eq!(key.to_bytes(), expected.expose(|b| *b));
        let (verified, bad) = recover_verified(&commitment, b"id", &partials).unwrap();
        prop_assert!(bad.is_empty());
        prop_assert!(verified.to_bytes() == expected);
        if t > 1 {
            // Interpolating t - 1 points gives the wrong value (with overwhelming probability).
            let short = recover(t - 1, &partials).unwrap();
            prop_assert_ne!(short.to_bytes(), expected.expose(|b| *b));
        }
    }

    /// Scalar interpolation at zero recovers the constant term from any t shares.
    #[test]
    fn lagrange_interpolation_recovers_the_constant(t in 1usize..7, extra in 0u64..4, seed in any::<u64>()) {
        let n = t as u64 + extra;
        let (poly, _, shares) = deal(n, t, seed);
        let chosen: Vec<&Share> = shares.iter().rev().take(t).collect();
        let points: Vec<EvalPoint> = chosen.iter().map(|s| s.point).collect();
        let lambdas = lagrange_at_zero(&points).unwrap();
        let sum = chosen.iter().zip(&lambdas).fold(Scalar::ZERO, |acc, (s, l)| acc + s.value.expose(|v| v.0) * l);
        prop_assert_eq!(sum, poly.constant().expose(|c| c.0));
    }

    #[test]
    fn point_and_scalar_codecs_round_trip(seed in any::<u64>()) {
        let s = Scalar::random(&mut rng(seed));
        prop_assert_eq!(PublicScalar::from_bytes(&s.to_bytes_be()).unwrap().0, s);
        let h = hash_app_id(&seed.to_be_bytes());
        prop_assert_eq!(G1Point::from_bytes(&h.to_bytes()).unwrap(), h);
        let (_, commitment, _) = deal(3, 2, seed);
        prop_assert_eq!(Commitment::from_bytes(&commitment.to_bytes()).unwrap(), commitment);
    }
}

#[test]
fn precomputed_public_shares_verify_like_the_commitment() {
    let (_, commitment, shares) = deal(5, 4, 9);
    let points: Vec<EvalPoint> = shares.iter().map(|s| s.point).collect();
    let cached = PublicShares::new(&commitment, &points);
    let h = hash_app_id(b"app");
    for s in &shares {
        cached.verify(&partial_sign(s, b"app"), &h).unwrap();
        assert_eq!(
            cached.verify(&partial_sign(s, b"other"), &h),
            Err(Error::InvalidSignature)
        );
    }
    let stranger = Polynomial::random(4, &mut rng(10))
        .unwrap()
        .evaluate(&EvalPoint::from_index(99).unwrap());
    assert!(cached.verify(&partial_sign(&stranger, b"app"), &h).is_err());
}

mod small_points {
    use super::*;
    use crate::bls::poly::{msm_g2, powers};
    use crate::Secret;

    #[test]
    fn horner_evaluation_matches_the_msm() {
        let (_, c, _) = deal(5, 7, 41);
        for x in [1u64, 2, 7, 64, 65_535, 1 << 40, u64::MAX] {
            let p = EvalPoint::from_index(x).unwrap();
            assert_eq!(p.small(), Some(x));
            let by_msm = msm_g2(c.points(), &powers(p.scalar(), c.threshold()));
            assert_eq!(c.evaluate(&p), by_msm, "x = {x}");
        }
        let wide = EvalPoint::from_address(&[3u8; 20]).unwrap();
        assert_eq!(wide.small(), None);
    }

    #[test]
    fn batched_share_checks_catch_one_bad_share() {
        let dealings: Vec<(Polynomial, Commitment, Vec<Share>)> =
            (0..4).map(|i| deal(6, 4, 100 + i)).collect();
        // Player 3's shares from every dealer (one point), and a mix of points.
        let own: Vec<(&Commitment, &Share)> = dealings.iter().map(|(_, c, s)| (c, &s[2])).collect();
        let mixed: Vec<(&Commitment, &Share)> = dealings
            .iter()
            .enumerate()
            .map(|(i, (_, c, s))| (c, &s[i]))
            .collect();
        for items in [&own, &mixed] {
            assert!(verify_shares_batch(items, &[1u8; 32]));
            for bad in 0..items.len() {
                let (c, s) = items[bad];
                let wrong = Share {
                    point: s.point,
                    value: Secret::new(SecretScalar(s.value.expose(|v| v.0) + Scalar::ONE)),
                };
                let mut b = items.clone();
                b[bad] = (c, &wrong);
                assert!(
                    !verify_shares_batch(&b, &[1u8; 32]),
                    "bad share {bad} passed"
                );
                // Another dealer's commitment for a good share.
                let mut b = items.clone();
                b[bad] = (items[(bad + 1) % items.len()].0, s);
                assert!(
                    !verify_shares_batch(&b, &[1u8; 32]),
                    "wrong commitment {bad} passed"
                );
            }
        }
    }

    #[test]
    fn public_share_checks_agree_for_small_and_large_points() {
        let (_, c, _) = deal(3, 5, 9);
        for points in [
            (1..=6u64)
                .map(|i| EvalPoint::from_index(i).unwrap())
                .collect::<Vec<_>>(),
            (0..6u8)
                .map(|i| EvalPoint::from_address(&[i + 1; 20]).unwrap())
                .collect(),
        ] {
            let good: Vec<(EvalPoint, G2Point)> = points
                .iter()
                .map(|x| (*x, public_share(&c, x).unwrap()))
                .collect();
            assert!(verify_public_shares_batch(&c, &good, &[2u8; 32]));
            let mut bad = good.clone();
            bad[4].1 = good[1].1;
            assert!(!verify_public_shares_batch(&c, &bad, &[2u8; 32]));
        }
    }
}
