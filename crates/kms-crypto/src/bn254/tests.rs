use super::*;
use crate::Error;
use alloy_primitives::{address, U256};
use ark_bn254::{Fq, Fq2, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInteger, Field, PrimeField, UniformRand};
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

const P: &str = "21888242871839275222246405745257275088696311157297823662689037894645226208583";

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(7)
}

#[test]
fn sqrt_exponent_matches_bn254_sol_constant() {
    // BN254.sol's findYFromX raises beta to this constant.
    let from_contract =
        parse_u256("0x0c19139cb84c680a6e14116da060561765e05aa45a1c72a34f082305b61f3f52").unwrap();
    let p = parse_u256(P).unwrap();
    assert_eq!((p + U256::from(1)) / U256::from(4), from_contract);
}

#[test]
fn generators_match_bn254_sol() {
    let g1 = G1Point::generator();
    assert_eq!((g1.x_dec(), g1.y_dec()), ("1".into(), "2".into()));
    let g2 = G2Point::from_dec_or_hex(
        [
            "11559732032986387107991004021392285783925812861821192530917403151452391805634",
            "10857046999023057135944570762232829481370756359578518086990519993285655852781",
        ],
        [
            "4082367875863433681332203403145435568316851327593401208105741076214120093531",
            "8495653923123431417604973247489272438418190587263600148770280649306958101930",
        ],
    )
    .unwrap();
    assert_eq!(g2, G2Point::generator());
}

#[test]
fn hash_to_g1_returns_the_contract_root_not_its_negation() {
    for i in 0u8..32 {
        let digest = [i; 32];
        let h = hash_to_g1(&digest);
        let x = Fq::from_bigint(ark_ff::BigInt::new(h.x().into_limbs())).unwrap();
        let beta = x.square() * x + Fq::from(3u64);
        let mut e = Fq::MODULUS;
        e.add_with_carry(&1u64.into());
        e.div2();
        e.div2();
        assert_eq!(h.affine().y().unwrap(), beta.pow(e.0));
        // x is the first candidate at or after digest mod p that has a root.
        let start = Fq::from_be_bytes_mod_order(&digest);
        let mut probe = start;
        while probe != x {
            let b = probe.square() * probe + Fq::from(3u64);
            assert!(b.pow(e.0).square() != b, "skipped a valid x");
            probe += Fq::from(1u64);
        }
    }
}

#[test]
fn sign_hash_verifies_like_bls_signature_checker() {
    let sk = SecretKey::random(&mut rng());
    let digest = [0xabu8; 32];
    let (point, sig) = sk.sign_hash(&digest);
    assert_eq!(point, hash_to_g1(&digest));
    verify_signature(&digest, &sig, &sk.public_g1(), &sk.public_g2()).unwrap();
    verify_point_signature(&point, &sig, &sk.public_g2()).unwrap();
    assert!(keys_match(&sk.public_g1(), &sk.public_g2()));
}

#[test]
fn verification_rejects_wrong_message_key_or_signature() {
    let mut r = rng();
    let sk = SecretKey::random(&mut r);
    let other = SecretKey::random(&mut r);
    let digest = [1u8; 32];
    let (_, sig) = sk.sign_hash(&digest);
    assert_eq!(
        verify_signature(&[2u8; 32], &sig, &sk.public_g1(), &sk.public_g2()),
        Err(Error::InvalidSignature)
    );
    assert!(verify_signature(&digest, &sig, &other.public_g1(), &other.public_g2()).is_err());
    // Mismatched G1/G2 keys are caught by the gamma binding.
    assert!(verify_signature(&digest, &sig, &other.public_g1(), &sk.public_g2()).is_err());
    let (_, other_sig) = other.sign_hash(&digest);
    assert!(verify_signature(&digest, &other_sig, &sk.public_g1(), &sk.public_g2()).is_err());
    assert!(!keys_match(&sk.public_g1(), &other.public_g2()));
}

#[test]
fn registration_signature_verifies_like_bls_apk_registry() {
    let sk = SecretKey::random(&mut rng());
    let domain = Eip712Domain::registry_coordinator(
        31337,
        address!("5FbDB2315678afecb367f032d93F642f64180aa3"),
    );
    let digest = registry_coordinator_digest(
        &domain,
        address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
    );
    let (point, sig) = sk.sign_hash(&digest);
    verify_registration(&point, &sig, &sk.public_g1(), &sk.public_g2()).unwrap();
    let other_digest = registry_coordinator_digest(
        &domain,
        address!("70997970C51812dc3A010C7d01b50e0d17dc79C8"),
    );
    assert_ne!(digest, other_digest);
    assert!(verify_registration(
        &hash_to_g1(&other_digest),
        &sig,
        &sk.public_g1(),
        &sk.public_g2()
    )
    .is_err());
}

#[test]
fn aggregate_signatures_verify_against_aggregate_keys() {
    let mut r = rng();
    let keys: Vec<SecretKey> = (0..5).map(|_| SecretKey::random(&mut r)).collect();
    let digest = [9u8; 32];
    let sigs: Vec<G1Point> = keys.iter().map(|k| k.sign_hash(&digest).1).collect();
    let g1s: Vec<G1Point> = keys.iter().map(|k| k.public_g1()).collect();
    let g2s: Vec<G2Point> = keys.iter().map(|k| k.public_g2()).collect();
    let (sig, apk, apk2) = (
        aggregate_g1(&sigs).unwrap(),
        aggregate_g1(&g1s).unwrap(),
        aggregate_g2(&g2s).unwrap(),
    );
    verify_signature(&digest, &sig, &apk, &apk2).unwrap();
    assert!(verify_signature(&digest, &aggregate_g1(&sigs[..4]).unwrap(), &apk, &apk2).is_err());
    assert!(aggregate_g1(&[]).is_err());
    assert!(aggregate_g2(&[]).is_err());
}

#[test]
fn aggregate_equal_to_identity_is_rejected() {
    let p = G1Point::generator();
    let neg = G1Point::from_affine(-*p.affine()).unwrap();
    assert_eq!(aggregate_g1(&[p, neg]), Err(Error::IdentityPoint));
}

#[test]
fn secret_keys_reduce_mod_r_and_reject_zero() {
    let r = ark_bn254::Fr::MODULUS.to_string();
    assert_eq!(
        SecretKey::from_int_str(&r).unwrap_err(),
        Error::ZeroSecretKey
    );
    assert_eq!(
        SecretKey::from_int_str("0").unwrap_err(),
        Error::ZeroSecretKey
    );
    let r_plus_5 = parse_u256(&r).unwrap() + U256::from(5);
    let reduced = SecretKey::from_int_str(&r_plus_5.to_string()).unwrap();
    let five = SecretKey::from_int_str("5").unwrap();
    assert_eq!(reduced.public_g1(), five.public_g1());
    assert_eq!(reduced.to_be_bytes(), five.to_be_bytes());
    assert!(SecretKey::from_int_str("0x1").is_ok());
    assert!(SecretKey::from_int_str("-1").is_err());
}

#[test]
fn secret_key_debug_shows_no_secret() {
    let sk = SecretKey::from_int_str("123456789").unwrap();
    let shown = format!("{sk:?}");
    assert!(!shown.contains("123456789"), "{shown}");
}

#[test]
fn g1_decoder_rejects_every_bad_point_class() {
    // (0, 0): the EVM's infinity.
    assert_eq!(
        G1Point::from_dec_or_hex("0", "0"),
        Err(Error::IdentityPoint)
    );
    // Points on other curves y^2 = x^3 + b' (b' = 0, 1, 4).
    assert_eq!(G1Point::from_dec_or_hex("1", "1"), Err(Error::NotOnCurve));
    assert_eq!(G1Point::from_dec_or_hex("2", "3"), Err(Error::NotOnCurve));
    assert_eq!(G1Point::from_dec_or_hex("0", "2"), Err(Error::NotOnCurve));
    // x >= p, even when x - p would be a valid coordinate.
    let p = parse_u256(P).unwrap();
    assert_eq!(
        G1Point::from_coords(p + U256::from(1), U256::from(2)),
        Err(Error::NonCanonicalCoordinate)
    );
    assert_eq!(
        G1Point::from_coords(U256::from(1), p + U256::from(2)),
        Err(Error::NonCanonicalCoordinate)
    );
    // cerberus's test point: X = "somedata" right-padded, Y = 0.
    let mut x = [0u8; 32];
    x[..8].copy_from_slice(b"somedata");
    let x = U256::from_be_bytes(x);
    assert!(G1Point::from_coords(x, U256::ZERO).is_err());
    assert!(G1Point::from_affine(G1Affine::identity()).is_err());
    assert!(G1Point::from_dec_or_hex("1", "").is_err());
}

/// A point on the G2 twist curve that is not in the order-r subgroup.
fn off_subgroup_g2() -> G2Affine {
    let mut r = rng();
    loop {
        let x = Fq2::rand(&mut r);
        if let Some(p) = G2Affine::get_point_from_x_unchecked(x, false) {
            if p.is_on_curve() && !p.is_in_correct_subgroup_assuming_on_curve() {
                return p;
            }
        }
    }
}

#[test]
fn g2_decoder_rejects_every_bad_point_class() {
    let z = U256::ZERO;
    assert_eq!(
        G2Point::from_solidity([z, z], [z, z]),
        Err(Error::IdentityPoint)
    );
    let one = U256::from(1);
    assert_eq!(
        G2Point::from_solidity([z, one], [z, one]),
        Err(Error::NotOnCurve)
    );
    let p = parse_u256(P).unwrap();
    let (gx, gy) = G2Point::generator().to_solidity();
    assert_eq!(
        G2Point::from_solidity([gx[0] + p, gx[1]], gy),
        Err(Error::NonCanonicalCoordinate)
    );
    assert_eq!(
        G2Point::from_solidity(gx, [gy[0], gy[1] + p]),
        Err(Error::NonCanonicalCoordinate)
    );
    // Swapping limbs (the classic ordering bug) gives an invalid point, not a different valid key.
    assert!(G2Point::from_solidity([gx[1], gx[0]], [gy[1], gy[0]]).is_err());
    let bad = off_subgroup_g2();
    assert_eq!(G2Point::from_affine(bad), Err(Error::NotInSubgroup));
    let (x, y) = bad.xy().unwrap();
    let to = |v: &Fq| U256::from_limbs(v.into_bigint().0);
    assert_eq!(
        G2Point::from_solidity([to(&x.c1), to(&x.c0)], [to(&y.c1), to(&y.c0)]),
        Err(Error::NotInSubgroup)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn g1_and_g2_codecs_round_trip(seed in any::<u64>()) {
        let sk = SecretKey::random(&mut ChaCha20Rng::seed_from_u64(seed));
        let g1 = sk.public_g1();
        prop_assert_eq!(G1Point::from_dec_or_hex(&g1.x_dec(), &g1.y_dec()).unwrap(), g1);
        let hex_x = format!("{:#x}", g1.x());
        prop_assert_eq!(G1Point::from_dec_or_hex(&hex_x, &g1.y_dec()).unwrap(), g1);
        let g2 = sk.public_g2();
        let (x, y) = g2.to_dec();
        prop_assert_eq!(G2Point::from_dec_or_hex([&x[0], &x[1]], [&y[0], &y[1]]).unwrap(), g2);
        let bytes = sk.to_be_bytes();
        let back = bytes.expose(SecretKey::from_be_bytes_reduced).unwrap();
        prop_assert_eq!(back.public_g2(), g2);
    }

    #[test]
    fn signing_is_linear_in_the_key(a in 1u64.., b in 1u64.., digest in any::<[u8; 32]>()) {
        let ka = SecretKey::from_int_str(&a.to_string()).unwrap();
        let kb = SecretKey::from_int_str(&b.to_string()).unwrap();
        let kab = SecretKey::from_int_str(&(U256::from(a) + U256::from(b)).to_string()).unwrap();
        let sum = aggregate_g1(&[ka.sign_hash(&digest).1, kb.sign_hash(&digest).1]).unwrap();
        prop_assert_eq!(sum, kab.sign_hash(&digest).1);
    }
}

mod schnorr {
    use super::*;

    fn signed(i: u8) -> (SecretKey, [u8; 32], SchnorrSignature) {
        let sk = SecretKey::random(&mut ChaCha20Rng::seed_from_u64(u64::from(i) + 100));
        let digest = [i; 32];
        let sig = sk.schnorr_sign(&digest);
        (sk, digest, sig)
    }

    #[test]
    fn signs_deterministically_and_verifies() {
        let (sk, digest, sig) = signed(1);
        assert_eq!(sk.schnorr_sign(&digest), sig);
        sig.verify(&digest, &sk.public_g1()).unwrap();
        let other = sk.schnorr_sign(&[2u8; 32]);
        assert_ne!(
            other.nonce_point(),
            sig.nonce_point(),
            "nonce depends on the message"
        );
        let back = SchnorrSignature::from_bytes(&sig.to_bytes()).unwrap();
        assert_eq!(back, sig);
    }

    #[test]
    fn rejects_wrong_message_key_or_parts() {
        let (sk, digest, sig) = signed(3);
        let pk = sk.public_g1();
        assert_eq!(sig.verify(&[4u8; 32], &pk), Err(Error::InvalidSignature));
        let (other, _, other_sig) = signed(5);
        assert_eq!(
            sig.verify(&digest, &other.public_g1()),
            Err(Error::InvalidSignature)
        );
        // R from another signature, s kept.
        let mut bytes = sig.to_bytes();
        bytes[..64].copy_from_slice(&other_sig.to_bytes()[..64]);
        let mixed = SchnorrSignature::from_bytes(&bytes).unwrap();
        assert_eq!(mixed.verify(&digest, &pk), Err(Error::InvalidSignature));
        // s + 1.
        let mut bytes = sig.to_bytes();
        let s = sig.s() + U256::from(1);
        bytes[64..].copy_from_slice(&s.to_be_bytes::<32>());
        if let Ok(bumped) = SchnorrSignature::from_bytes(&bytes) {
            assert_eq!(bumped.verify(&digest, &pk), Err(Error::InvalidSignature));
        }
    }

    #[test]
    fn refuses_non_canonical_s_and_bad_nonce_points() {
        let (_, _, sig) = signed(6);
        let r = parse_u256(
            "21888242871839275222246405745257275088548364400416034343698204186575808495617",
        )
        .unwrap();
        // s + r encodes the same scalar; only the reduced form is accepted.
        let mut bytes = sig.to_bytes();
        let (high, carry) = sig.s().overflowing_add(r);
        if !carry {
            bytes[64..].copy_from_slice(&high.to_be_bytes::<32>());
            assert_eq!(
                SchnorrSignature::from_bytes(&bytes),
                Err(Error::MalformedScalar)
            );
        }
        let mut bytes = sig.to_bytes();
        bytes[..64].fill(0);
        assert_eq!(
            SchnorrSignature::from_bytes(&bytes),
            Err(Error::IdentityPoint)
        );
        let mut bytes = sig.to_bytes();
        bytes[63] ^= 1;
        assert_eq!(SchnorrSignature::from_bytes(&bytes), Err(Error::NotOnCurve));
    }
}

#[test]
fn prepared_keys_verify_like_plain_ones() {
    let mut rng = rng();
    let sk = SecretKey::random(&mut rng);
    let other = SecretKey::random(&mut rng);
    let pk = PreparedKey::new(sk.public_g1());
    let clone = pk.clone();
    for i in 0..8u8 {
        let digest = [i; 32];
        let sig = sk.schnorr_sign(&digest);
        sig.verify_prepared(&digest, &pk).unwrap();
        sig.verify_prepared(&digest, &clone).unwrap();
        assert_eq!(
            sig.verify_prepared(&[i ^ 0xff; 32], &pk),
            Err(Error::InvalidSignature)
        );
        assert_eq!(
            sig.verify_prepared(&digest, &PreparedKey::new(other.public_g1())),
            Err(Error::InvalidSignature)
        );
    }
    assert_eq!(pk, clone);
    assert_ne!(pk, PreparedKey::new(other.public_g1()));
}

/// cerberus's own test key (its `signing/testdata` keystore, whose file name is the key's G1
/// name) and its SignGeneric vector: gnark's compressed forms and the X‖Y signature of
/// "somedata" zero-padded to 32 bytes, from an implementation that is not ours.
#[test]
fn cerberus_vectors_name_and_sign_like_gnark() {
    let sk = SecretKey::from_int_str(
        "0x040ad69253b921aca71dd714cccc3095576fbe1a21f86c9b10cb5b119b1c6899",
    )
    .unwrap();
    assert_eq!(
        hex::encode(sk.public_g1().to_gnark_compressed()),
        "a3111a2232584734d526d62cbb7c9a0d4ce1984a92b7ecb85bde8878fea5d1b0"
    );
    assert_eq!(
        hex::encode(sk.public_g2().to_gnark_compressed()),
        "ce29147275a76eb6cbe65b736ca2b636395ccbeaa6312359acf934e395b153d9\
         114468916e5e171d139f6bfb4dde17be84422f39e9e5a3b1a9d779013638ec7b"
    );
    let mut data = [0u8; 32];
    data[..8].copy_from_slice(b"somedata");
    let (_, sig) = sk.sign_hash(&data);
    assert_eq!(
        hex::encode(sig.to_abi_bytes()),
        "0fea882fc5c936c304b0d79f4c256dbb2d38a2df74b44aaa483dfa87f1a86ede\
         0bbc32080db378a408b90af7e264b9768a4b2f16c6953ec2611a13bc448d27e4"
    );
}

/// Both flags occur: the compressed form keeps y's sign, so a point and its negation differ
/// only in the top bits.
#[test]
fn gnark_compression_flags_the_root() {
    let p = G1Point::generator();
    let neg = G1Point::from_affine(-*p.affine()).unwrap();
    let (a, b) = (p.to_gnark_compressed(), neg.to_gnark_compressed());
    assert_eq!(a[1..], b[1..]);
    assert_eq!(a[0] & 0x3f, b[0] & 0x3f);
    assert_ne!(a[0] >> 6, b[0] >> 6);
    assert!([a[0] >> 6, b[0] >> 6].contains(&0b10) && [a[0] >> 6, b[0] >> 6].contains(&0b11));
    let q = G2Point::generator();
    let nq = G2Point::from_affine(-*q.affine()).unwrap();
    let (c, d) = (q.to_gnark_compressed(), nq.to_gnark_compressed());
    assert_eq!(c[1..], d[1..]);
    assert_ne!(c[0] >> 6, d[0] >> 6);
}
