use super::*;
use crate::bls::{app_key_from_master, Polynomial};
use crate::Error;
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

struct Fixture {
    mpk: G2Point,
    key: AppKey,
}

fn fixture(seed: u64) -> Fixture {
    let poly = Polynomial::random(3, &mut ChaCha20Rng::seed_from_u64(seed)).unwrap();
    Fixture {
        mpk: poly.commit().public_key(),
        key: app_key_from_master(&poly.constant(), b"app-1"),
    }
}

fn seal(f: &Fixture, msg: &[u8]) -> Vec<u8> {
    encrypt(&f.mpk, b"app-1", msg, &mut ChaCha20Rng::seed_from_u64(11)).unwrap()
}

#[test]
fn round_trip_and_layout() {
    let f = fixture(1);
    let ct = seal(&f, b"hello");
    assert_eq!(ct.len(), OVERHEAD + 5);
    assert_eq!(&ct[..7], b"KMSIBE\x01");
    assert_eq!(decrypt(&f.key, b"app-1", &ct).unwrap().as_slice(), b"hello");
    assert_eq!(
        decrypt(&f.key, b"app-1", &seal(&f, b""))
            .unwrap()
            .as_slice(),
        b""
    );
}

#[test]
fn fresh_randomness_gives_different_ciphertexts() {
    let f = fixture(2);
    let a = encrypt(&f.mpk, b"app-1", b"x", &mut ChaCha20Rng::seed_from_u64(1)).unwrap();
    let b = encrypt(&f.mpk, b"app-1", b"x", &mut ChaCha20Rng::seed_from_u64(2)).unwrap();
    assert_ne!(a, b);
}

#[test]
fn another_app_id_or_key_is_rejected() {
    let f = fixture(3);
    let ct = seal(&f, b"secret");
    assert_eq!(
        decrypt(&f.key, b"app-2", &ct),
        Err(Error::Ciphertext("authentication failed"))
    );
    let other = fixture(4);
    assert_eq!(
        decrypt(&other.key, b"app-1", &ct),
        Err(Error::Ciphertext("authentication failed"))
    );
}

#[test]
fn every_single_bit_flip_is_rejected() {
    let f = fixture(5);
    let ct = seal(&f, b"sixteen byte msg");
    for byte in 0..ct.len() {
        for bit in 0..8 {
            let mut bad = ct.clone();
            bad[byte] ^= 1 << bit;
            assert!(
                decrypt(&f.key, b"app-1", &bad).is_err(),
                "flip at {byte}.{bit} accepted"
            );
        }
    }
}

#[test]
fn truncation_and_bad_headers_are_typed_errors() {
    let f = fixture(6);
    let ct = seal(&f, b"payload");
    for len in 0..ct.len() {
        assert!(
            decrypt(&f.key, b"app-1", &ct[..len]).is_err(),
            "truncated to {len} accepted"
        );
    }
    assert_eq!(
        decrypt(&f.key, b"app-1", &ct[..OVERHEAD - 1]),
        Err(Error::Ciphertext("truncated"))
    );
    let mut v2 = ct.clone();
    v2[6] = 2;
    assert_eq!(
        decrypt(&f.key, b"app-1", &v2),
        Err(Error::Ciphertext("unsupported version"))
    );
    let mut magic = ct.clone();
    magic[0] = b'X';
    assert_eq!(
        decrypt(&f.key, b"app-1", &magic),
        Err(Error::Ciphertext("not a KMS IBE ciphertext"))
    );
}

#[test]
fn u_off_curve_or_identity_is_a_typed_error() {
    let f = fixture(7);
    let ct = seal(&f, b"payload");
    let mut identity = ct.clone();
    identity[7..7 + 96].fill(0);
    identity[7] = 0xc0;
    assert_eq!(
        decrypt(&f.key, b"app-1", &identity),
        Err(Error::IdentityPoint)
    );
    // x = 0 is not on the twist (0 + 4(u+1) is not a square in Fp2 for y's sake): look for an
    // encoding that fails to decompress.
    let mut off = ct.clone();
    for x in 1u8..=255 {
        off[7..7 + 96].fill(0);
        off[7] = 0x80;
        off[7 + 95] = x;
        if G2Point::from_bytes(&off[7..7 + 96]) == Err(Error::NotOnCurve) {
            assert_eq!(decrypt(&f.key, b"app-1", &off), Err(Error::NotOnCurve));
            return;
        }
    }
    panic!("no off-curve x found");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn ibe_round_trips_any_message(msg in proptest::collection::vec(any::<u8>(), 0..300), app in proptest::collection::vec(any::<u8>(), 0..40), seed in any::<u64>()) {
        let poly = Polynomial::random(2, &mut ChaCha20Rng::seed_from_u64(seed)).unwrap();
        let key = app_key_from_master(&poly.constant(), &app);
        let ct = encrypt(&poly.commit().public_key(), &app, &msg, &mut ChaCha20Rng::seed_from_u64(seed ^ 1)).unwrap();
        let plain = decrypt(&key, &app, &ct).unwrap();
        prop_assert_eq!(plain.as_slice(), msg.as_slice());
        let mut other = app.clone();
        other.push(0);
        prop_assert!(decrypt(&key, &other, &ct).is_err());
    }
}
