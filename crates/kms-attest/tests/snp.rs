//! SEV-SNP verification against real reports: virtee/sev's Milan report (debug off) with its
//! VCEK, and go-sev-guest's Milan report (debug on) with its VCEK (both Apache-2.0, see
//! `tests/data/README.md`), then each check broken the way an attacker would try.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use kms_attest::snp::{KeyKind, SnpPolicy, SnpVerifier, Tcb, REPORT_LEN};
use kms_attest::{AttestError, Binding, Evidence, Platform, Verifier};
use sha2::{Digest, Sha256};

/// 2027-01-15: inside both VCEKs' validity (2023-04-03..2030-04-03 and 2022-09-24..2029-09-24).
const NOW: u64 = 1_800_000_000;

fn milan() -> (Vec<u8>, Vec<u8>) {
    let text = std::fs::read_to_string("tests/data/report_milan.hex").unwrap();
    let report = hex::decode(text.trim()).unwrap();
    (report, std::fs::read("tests/data/vcek_milan.der").unwrap())
}

fn debug_report() -> (Vec<u8>, Vec<u8>) {
    (
        std::fs::read("tests/data/gosev_attestation_debug.bin").unwrap(),
        std::fs::read("tests/data/gosev_vcek.der").unwrap(),
    )
}

fn verifier() -> SnpVerifier {
    SnpVerifier::new(SnpPolicy::default()).unwrap()
}

fn binding_of(report: &[u8]) -> Binding {
    Binding(report[0x50..0x70].try_into().unwrap())
}

/// The shipped roots are AMD's, byte for byte: the SHA-256 of each file equals the digest of the
/// certificates in go-sev-guest and virtee/sev, two independent copies of AMD's KDS answers.
#[test]
fn shipped_roots_are_pinned() {
    let pins = [
        (
            "ark-milan",
            "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
        ),
        (
            "ask-milan",
            "67d303bd3905fd38db8b20e0793699870e7fa612eaad5dec358293fd8c0bac1b",
        ),
        (
            "asvk-milan",
            "c5e081f59b7efab1fe2f8b505e159704e72f29cab7ef7cf628a05a42439082f5",
        ),
        (
            "ark-genoa",
            "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
        ),
        (
            "ask-genoa",
            "5464738c1546aed5f2cecf1dc98c5c960a92e8913238a61711bc90ec6e828521",
        ),
        (
            "asvk-genoa",
            "197e610743a917d6b9bb982a5a9226ccc0a15b611be0619e626aca9151457372",
        ),
        (
            "ark-turin",
            "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
        ),
        (
            "ask-turin",
            "5b77ef5fe7a7a004fd9032668fba9d0fda22f88c4442069a479636a6ae3b3185",
        ),
        (
            "asvk-turin",
            "104e10a8bd060a3c20a434261a57d0588fd65a88915b4f65b08bdecaf8df1a3c",
        ),
    ];
    for (name, want) in pins {
        let der = std::fs::read(format!("roots/{name}.der")).unwrap();
        assert_eq!(hex::encode(Sha256::digest(&der)), want, "{name}");
    }
    // And the chain inside them holds (ARKs self-signed, intermediates signed by their ARK).
    verifier();
}

#[test]
fn a_real_report_verifies() {
    let (report, vcek) = milan();
    let r = verifier().verify_report(&report, &vcek, NOW).unwrap();
    assert_eq!(r.product, "Milan");
    assert_eq!(r.key, KeyKind::Vcek);
    assert_eq!((r.version, r.policy, r.vmpl), (2, 0x30000, 0));
    assert_eq!(r.reported_tcb, 0x7308_0000_0000_0003);
    assert!(hex::encode(r.measurement).starts_with("7a1e5c266c"));
    assert_eq!(r.digest, <[u8; 32]>::from(Sha256::digest(&report[..0x2A0])));

    let evidence = Evidence::SnpReport {
        report: &report,
        cert: &vcek,
    };
    let claims = verifier()
        .verify(&evidence, &binding_of(&report), NOW)
        .unwrap();
    assert_eq!(
        claims.platform,
        Platform::SevSnp {
            product: "Milan",
            vlek: false
        }
    );
    assert_eq!(
        claims.measurement.as_deref(),
        Some(r.measurement.as_slice())
    );
    assert!(!claims.debug);
    assert_eq!(claims.expires_at, None);
}

/// Evidence made for one request is useless for another: any other binding is refused.
#[test]
fn a_report_bound_to_another_request_is_refused() {
    let (report, vcek) = milan();
    let evidence = Evidence::SnpReport {
        report: &report,
        cert: &vcek,
    };
    let mut other = binding_of(&report);
    other.0[31] ^= 1;
    let e = verifier().verify(&evidence, &other, NOW).unwrap_err();
    assert_eq!(e, AttestError::BindingMismatch);
    assert_eq!(e.code(), "attestation_binding_mismatch");
}

#[test]
fn a_debug_guest_is_refused_unless_the_policy_allows_it() {
    let (report, vcek) = debug_report();
    let e = verifier().verify_report(&report, &vcek, NOW).unwrap_err();
    assert_eq!(e, AttestError::DebugRefused);
    assert_eq!(e.code(), "attestation_debug_refused");
    // The same report passes every other check: the refusal is the debug bit's.
    let lenient = SnpVerifier::new(SnpPolicy {
        allow_debug: true,
        ..SnpPolicy::default()
    })
    .unwrap();
    let evidence = Evidence::SnpReport {
        report: &report,
        cert: &vcek,
    };
    let claims = lenient
        .verify(&evidence, &binding_of(&report), NOW)
        .unwrap();
    assert!(claims.debug);
}

/// Every byte the report signs is covered: a changed measurement, report data, policy or VMPL
/// breaks the signature.
#[test]
fn an_edited_report_is_refused() {
    let (report, vcek) = milan();
    for at in [0x090usize, 0x050, 0x030, 0x008 + 1, 0x180, 0x29F] {
        let mut edited = report.clone();
        edited[at] ^= 0x01;
        let e = verifier().verify_report(&edited, &vcek, NOW).unwrap_err();
        assert!(
            matches!(
                e,
                AttestError::BadSignature | AttestError::BadChain(_) | AttestError::Malformed(_)
            ),
            "byte {at:#x}: {e:?}"
        );
    }
    let mut edited = report.clone();
    edited[0x090] ^= 0x01;
    assert_eq!(
        verifier().verify_report(&edited, &vcek, NOW),
        Err(AttestError::BadSignature)
    );
    // The signature itself, and bytes past it that must be zero.
    let mut sig = report.clone();
    sig[0x2A0] ^= 0x01;
    assert_eq!(
        verifier().verify_report(&sig, &vcek, NOW),
        Err(AttestError::BadSignature)
    );
    let mut wide = report.clone();
    wide[0x2A0 + 60] = 1;
    assert!(matches!(
        verifier().verify_report(&wide, &vcek, NOW),
        Err(AttestError::Malformed(_))
    ));
    let mut tail = report;
    tail[REPORT_LEN - 1] = 1;
    assert!(matches!(
        verifier().verify_report(&tail, &vcek, NOW),
        Err(AttestError::Malformed(_))
    ));
}

#[test]
fn truncated_or_padded_reports_are_refused() {
    let (report, vcek) = milan();
    for len in [0, 0x2A0, REPORT_LEN - 1] {
        let e = verifier()
            .verify_report(&report[..len], &vcek, NOW)
            .unwrap_err();
        assert_eq!(e.code(), "attestation_malformed", "{len}");
    }
    let mut longer = report;
    longer.push(0);
    assert!(matches!(
        verifier().verify_report(&longer, &vcek, NOW),
        Err(AttestError::Malformed(_))
    ));
}

/// The other chip's genuine VCEK (same generation, same roots) does not vouch for this report:
/// its TCB and chip id are another machine's.
#[test]
fn another_chips_certificate_is_refused() {
    let (report, _) = milan();
    let (_, other_vcek) = debug_report();
    let e = verifier()
        .verify_report(&report, &other_vcek, NOW)
        .unwrap_err();
    assert_eq!(e.code(), "attestation_bad_chain", "{e:?}");
}

#[test]
fn a_certificate_not_signed_by_amd_or_out_of_date_is_refused() {
    let (report, vcek) = milan();
    // A flipped bit in the certificate's signature (its last bytes).
    let mut forged = vcek.clone();
    let last = forged.len() - 1;
    forged[last] ^= 0x01;
    let e = verifier().verify_report(&report, &forged, NOW).unwrap_err();
    assert_eq!(e.code(), "attestation_bad_chain", "{e:?}");
    // An AMD certificate that is not an endorsement key: the ASK itself.
    let ask = std::fs::read("roots/ask-milan.der").unwrap();
    let e = verifier().verify_report(&report, &ask, NOW).unwrap_err();
    assert_eq!(e.code(), "attestation_bad_chain", "{e:?}");
    // Before and after the VCEK's validity.
    for t in [1_600_000_000, 1_950_000_000] {
        let e = verifier().verify_report(&report, &vcek, t).unwrap_err();
        assert_eq!(e.code(), "attestation_bad_chain", "{t}: {e:?}");
    }
    // Not a certificate at all.
    let e = verifier()
        .verify_report(&report, b"not der", NOW)
        .unwrap_err();
    assert_eq!(e.code(), "attestation_malformed");
}

#[test]
fn the_policys_vmpl_is_required() {
    let (report, vcek) = milan();
    let strict = SnpVerifier::new(SnpPolicy {
        vmpl: 1,
        ..SnpPolicy::default()
    })
    .unwrap();
    let e = strict.verify_report(&report, &vcek, NOW).unwrap_err();
    assert_eq!(e.code(), "attestation_policy_refused", "{e:?}");
}

/// The host chooses the TCB a report is signed for, so a floor per generation refuses keys of
/// older TCBs. The Milan report's TCB is BL 3, TEE 0, SNP 8, microcode 115.
#[test]
fn a_tcb_below_the_floor_is_refused() {
    let (report, vcek) = milan();
    let r = verifier().verify_report(&report, &vcek, NOW).unwrap();
    let at = Tcb {
        fmc: 0,
        bootloader: 3,
        tee: 0,
        snp: 8,
        microcode: 115,
    };
    assert_eq!(r.tcb, at);
    let with_floor = |product: &str, floor: Tcb| {
        SnpVerifier::new(SnpPolicy {
            min_tcb: vec![(product.into(), floor)],
            ..SnpPolicy::default()
        })
        .unwrap()
        .verify_report(&report, &vcek, NOW)
    };
    assert!(with_floor("Milan", at).is_ok());
    for higher in [
        Tcb { snp: 9, ..at },
        Tcb {
            microcode: 116,
            ..at
        },
        Tcb {
            bootloader: 4,
            ..at
        },
        Tcb { tee: 1, ..at },
    ] {
        let e = with_floor("Milan", higher).unwrap_err();
        assert_eq!(e.code(), "attestation_policy_refused", "{higher:?}");
    }
    // Another generation's floor does not apply.
    assert!(with_floor("Genoa", Tcb { snp: 99, ..at }).is_ok());
}

/// ECDSA signatures come in pairs: (r, s) and (r, n - s) both verify. A captured report with its
/// S flipped is new bytes, but the same report: its id (the signed part's digest) is unchanged,
/// so recording ids stops its replay.
#[test]
fn a_re_encoded_signature_does_not_make_a_new_report() {
    // The order of P-384, big-endian.
    let n = hex::decode(
        "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973",
    )
    .unwrap();
    let (report, vcek) = milan();
    let at = 0x2A0 + 72;
    let s_be: Vec<u8> = report[at..at + 48].iter().rev().copied().collect();
    // n - s, big-endian.
    let mut flipped = [0u8; 48];
    let mut borrow = 0i16;
    for i in (0..48).rev() {
        let d = i16::from(n[i]) - i16::from(s_be[i]) - borrow;
        borrow = i16::from(d < 0);
        flipped[i] = (d + 256 * borrow) as u8;
    }
    let mut twin = report.clone();
    for (j, b) in flipped.iter().rev().enumerate() {
        twin[at + j] = *b;
    }
    assert_ne!(twin, report);
    let v = verifier();
    let a = v.verify_report(&report, &vcek, NOW).unwrap();
    match v.verify_report(&twin, &vcek, NOW) {
        // Accepted (ring takes high S): then it must be the same report.
        Ok(b) => assert_eq!(a.digest, b.digest),
        // Or refused outright; either way no second id.
        Err(e) => assert_eq!(e, AttestError::BadSignature),
    }
}
