//! AMD SEV-SNP attestation reports (layout: AMD SEV-SNP firmware ABI, spec 56860, the
//! ATTESTATION_REPORT table; offsets in docs/research/issue-18-attestation-facts.md §3).
//!
//! A report is accepted when: its VCEK or VLEK certificate is signed by the shipped ASK or ASVK
//! of its generation (which the shipped ARK signs) and is valid now; the certificate's TCB and
//! chip id match the report's; the report's ECDSA P-384 signature over its first 0x2A0 bytes
//! verifies with the certificate's key, and the signing-key field names that kind of key; every
//! must-be-zero field is zero; debug and the migration agent are off (debug only if the policy
//! allows it) and the VMPL is the policy's; and REPORT_DATA's first 32 bytes are the binding
//! (the last 32 are the guest's own, e.g. a hash of its init data, and not interpreted here).

use crate::{AttestError, Binding, Claims, Evidence, Platform, Verifier};
use sha2::{Digest, Sha256};
use x509_parser::asn1_rs::FromDer as _;
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::{
    Oid, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSASSAPSS,
};
use x509_parser::time::ASN1Time;

/// A report's length.
pub const REPORT_LEN: usize = 0x4A0;
/// The signed part: everything before the signature.
const SIGNED_LEN: usize = 0x2A0;
/// R and S are little-endian, 72 bytes each, of which a P-384 value uses 48.
const SIG_COMPONENT: usize = 72;

/// POLICY bit 17: reserved, must be 1.
const POLICY_RESERVED_ONE: u64 = 1 << 17;
/// POLICY bit 18: a migration agent may be associated with the guest.
const POLICY_MIGRATE_MA: u64 = 1 << 18;
/// POLICY bit 19: debugging (the host can read and write guest memory).
const POLICY_DEBUG: u64 = 1 << 19;
/// POLICY bits 63:26 must be zero.
const POLICY_MBZ: u64 = !((1 << 26) - 1);

/// AMD's VCEK extensions (spec 57230): 1.3.6.1.4.1.3704.1.*.
const AMD_OID_PREFIX: [u64; 8] = [1, 3, 6, 1, 4, 1, 3704, 1];

/// What the verifier requires beyond a valid signature.
#[derive(Clone, Debug, Default)]
pub struct SnpPolicy {
    /// Accept guests launched with debugging on (development only: their memory is not private).
    pub allow_debug: bool,
    /// The VMPL the report must come from (0: the guest's most privileged level).
    pub vmpl: u32,
    /// Per generation (`Milan`, `Genoa`, `Turin`), the lowest TCB accepted, component by
    /// component. The host picks the TCB a report is signed for (any up to the current one), so
    /// without a floor a key of a TCB since found vulnerable still vouches; a generation not
    /// listed has no floor (development only).
    pub min_tcb: Vec<(String, Tcb)>,
}

/// A TCB's security patch levels, by component (AMD's TCB_VERSION; `fmc` is Turin's only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tcb {
    /// Turin's FMC.
    pub fmc: u8,
    /// The PSP bootloader.
    pub bootloader: u8,
    /// The PSP OS (TEE).
    pub tee: u8,
    /// The SNP firmware.
    pub snp: u8,
    /// The CPU microcode.
    pub microcode: u8,
}

impl Tcb {
    /// The components of a TCB_VERSION as `product` lays them out: Milan and Genoa put BL, TEE,
    /// SNP and microcode at bytes 0, 1, 6, 7; Turin FMC, BL, TEE, SNP at 0..3, microcode at 7.
    pub fn decode(product: &str, raw: u64) -> Self {
        let [b0, b1, b2, b3, _, _, b6, b7] = raw.to_le_bytes();
        if product == "Turin" {
            Self {
                fmc: b0,
                bootloader: b1,
                tee: b2,
                snp: b3,
                microcode: b7,
            }
        } else {
            Self {
                fmc: 0,
                bootloader: b0,
                tee: b1,
                snp: b6,
                microcode: b7,
            }
        }
    }

    /// Whether every component is at least `floor`'s.
    pub fn at_least(&self, floor: &Tcb) -> bool {
        self.fmc >= floor.fmc
            && self.bootloader >= floor.bootloader
            && self.tee >= floor.tee
            && self.snp >= floor.snp
            && self.microcode >= floor.microcode
    }
}

/// One generation's certificates: the root and the two intermediates it signs.
struct Generation {
    product: &'static str,
    ark: &'static [u8],
    ask: &'static [u8],
    asvk: &'static [u8],
}

static GENERATIONS: [Generation; 3] = [
    Generation {
        product: "Milan",
        ark: include_bytes!("../roots/ark-milan.der"),
        ask: include_bytes!("../roots/ask-milan.der"),
        asvk: include_bytes!("../roots/asvk-milan.der"),
    },
    Generation {
        product: "Genoa",
        ark: include_bytes!("../roots/ark-genoa.der"),
        ask: include_bytes!("../roots/ask-genoa.der"),
        asvk: include_bytes!("../roots/asvk-genoa.der"),
    },
    Generation {
        product: "Turin",
        ark: include_bytes!("../roots/ark-turin.der"),
        ask: include_bytes!("../roots/ask-turin.der"),
        asvk: include_bytes!("../roots/asvk-turin.der"),
    },
];

/// Which key signed a report (the report's SIGNING_KEY field, and the certificate's issuer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// Versioned Chip Endorsement Key (per chip and TCB; signed by the ASK).
    Vcek,
    /// Versioned Loaded Endorsement Key (per cloud provider; signed by the ASVK).
    Vlek,
}

/// An intermediate that signs endorsement keys, already checked against its root.
struct Intermediate {
    product: &'static str,
    kind: KeyKind,
    cert: X509Certificate<'static>,
    ark: X509Certificate<'static>,
}

/// The SNP verifier: AMD's shipped roots and a policy.
pub struct SnpVerifier {
    policy: SnpPolicy,
    intermediates: Vec<Intermediate>,
}

/// A report whose signature, chain and policy checks passed (before the binding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedReport {
    /// The generation whose roots the certificate chains to.
    pub product: &'static str,
    /// The kind of key that signed it.
    pub key: KeyKind,
    /// The report format version (2 and up).
    pub version: u32,
    /// The guest policy.
    pub policy: u64,
    /// The VMPL the report was requested from.
    pub vmpl: u32,
    /// The launch measurement.
    pub measurement: [u8; 48],
    /// The 64 bytes the guest put in the report.
    pub report_data: [u8; 64],
    /// The hypervisor-provided HOST_DATA.
    pub host_data: [u8; 32],
    /// The TCB the endorsement key was derived for.
    pub reported_tcb: u64,
    /// `reported_tcb` by component.
    pub tcb: Tcb,
    /// SHA-256 of the signed part (bytes 0..0x2A0): the report's identity. Not of the whole
    /// report, whose signature anyone can re-encode (ECDSA's (r, n - s)) into other bytes.
    pub digest: [u8; 32],
}

impl SnpVerifier {
    /// The verifier over the shipped roots. Fails only if a shipped certificate is broken (the
    /// ARK's self-signature or an intermediate's signature does not verify), which a test rules
    /// out for every build.
    pub fn new(policy: SnpPolicy) -> Result<Self, AttestError> {
        let mut intermediates = Vec::new();
        for g in &GENERATIONS {
            let ark = parse_cert(g.ark)?;
            ark.verify_signature(None).map_err(|e| {
                AttestError::BadChain(format!("ARK-{} self-signature: {e}", g.product))
            })?;
            for (der, kind) in [(g.ask, KeyKind::Vcek), (g.asvk, KeyKind::Vlek)] {
                let cert = parse_cert(der)?;
                if cert.issuer().as_raw() != ark.subject().as_raw() {
                    return Err(AttestError::BadChain(format!(
                        "{} intermediate not issued by its ARK",
                        g.product
                    )));
                }
                cert.verify_signature(Some(ark.public_key())).map_err(|e| {
                    AttestError::BadChain(format!("{} intermediate: {e}", g.product))
                })?;
                intermediates.push(Intermediate {
                    product: g.product,
                    kind,
                    cert,
                    ark: ark.clone(),
                });
            }
        }
        Ok(Self {
            policy,
            intermediates,
        })
    }

    /// Checks a report and its endorsement key's certificate at Unix time `now`: everything but
    /// the binding.
    pub fn verify_report(
        &self,
        report: &[u8],
        cert_der: &[u8],
        now: u64,
    ) -> Result<VerifiedReport, AttestError> {
        let report: &[u8; REPORT_LEN] = report.try_into().map_err(|_| {
            AttestError::Malformed(format!(
                "an SNP report is {REPORT_LEN} bytes, not {}",
                report.len()
            ))
        })?;
        let cert = parse_cert(cert_der)?;
        let (product, kind) = self.check_chain(&cert, now)?;
        let fields = Fields::parse(report)?;
        if fields.key != kind {
            return Err(AttestError::BadChain(format!(
                "the report names a {:?} but the certificate is a {kind:?}",
                fields.key
            )));
        }
        let tcb = Tcb::decode(product, fields.reported_tcb);
        check_tcb(&cert, kind, product, tcb, &fields.chip_id)?;
        verify_signature(&cert, report)?;
        self.check_policy(&fields)?;
        if let Some((_, floor)) = self.policy.min_tcb.iter().find(|(p, _)| p == product) {
            if !tcb.at_least(floor) {
                return Err(AttestError::PolicyRefused(format!(
                    "TCB {tcb:?} is below the floor {floor:?}"
                )));
            }
        }
        let signed = report
            .get(..SIGNED_LEN)
            .ok_or_else(|| AttestError::Malformed("report too short".into()))?;
        Ok(VerifiedReport {
            product,
            key: kind,
            version: fields.version,
            policy: fields.policy,
            vmpl: fields.vmpl,
            measurement: fields.measurement,
            report_data: fields.report_data,
            host_data: fields.host_data,
            reported_tcb: fields.reported_tcb,
            tcb,
            digest: Sha256::digest(signed).into(),
        })
    }

    /// The certificate is signed by a shipped intermediate (found by its issuer name) and valid
    /// at `now`.
    fn check_chain(
        &self,
        cert: &X509Certificate<'_>,
        now: u64,
    ) -> Result<(&'static str, KeyKind), AttestError> {
        let intermediate = self
            .intermediates
            .iter()
            .find(|i| i.cert.subject().as_raw() == cert.issuer().as_raw())
            .ok_or_else(|| AttestError::BadChain(format!("unknown issuer {}", cert.issuer())))?;
        // AMD signs endorsement keys with RSASSA-PSS only; anything else is not AMD's.
        if cert.signature_algorithm.algorithm != OID_PKCS1_RSASSAPSS {
            return Err(AttestError::BadChain(
                "the certificate is not signed with RSASSA-PSS".into(),
            ));
        }
        cert.verify_signature(Some(intermediate.cert.public_key()))
            .map_err(|_| {
                AttestError::BadChain("the certificate's signature does not verify".into())
            })?;
        let at = i64::try_from(now)
            .ok()
            .and_then(|t| ASN1Time::from_timestamp(t).ok())
            .ok_or_else(|| AttestError::Malformed("time out of range".into()))?;
        // The whole chain, not only the endorsement key, must be valid now.
        for c in [cert, &intermediate.cert, &intermediate.ark] {
            if !c.validity().is_valid_at(at) {
                return Err(AttestError::BadChain(format!(
                    "{} is outside its validity",
                    c.subject()
                )));
            }
        }
        Ok((intermediate.product, intermediate.kind))
    }

    fn check_policy(&self, f: &Fields) -> Result<(), AttestError> {
        if f.policy & POLICY_DEBUG != 0 && !self.policy.allow_debug {
            return Err(AttestError::DebugRefused);
        }
        if f.policy & POLICY_MIGRATE_MA != 0 {
            return Err(AttestError::PolicyRefused(
                "a migration agent may be associated with the guest".into(),
            ));
        }
        if f.vmpl != self.policy.vmpl {
            return Err(AttestError::PolicyRefused(format!(
                "the report comes from VMPL {}, not {}",
                f.vmpl, self.policy.vmpl
            )));
        }
        Ok(())
    }
}

impl Verifier for SnpVerifier {
    fn verify(
        &self,
        evidence: &Evidence<'_>,
        binding: &Binding,
        now: u64,
    ) -> Result<Claims, AttestError> {
        let Evidence::SnpReport { report, cert } = evidence else {
            return Err(AttestError::Malformed(
                "this verifier takes SEV-SNP reports".into(),
            ));
        };
        let r = self.verify_report(report, cert, now)?;
        if r.report_data.get(..32) != Some(binding.0.as_slice()) {
            return Err(AttestError::BindingMismatch);
        }
        Ok(Claims {
            platform: Platform::SevSnp {
                product: r.product,
                vlek: r.key == KeyKind::Vlek,
            },
            image_digest: None,
            measurement: Some(r.measurement.to_vec()),
            host_data: Some(r.host_data.to_vec()),
            debug: r.policy & POLICY_DEBUG != 0,
            expires_at: None,
            unique_id: r.digest,
        })
    }
}

fn parse_cert(der: &[u8]) -> Result<X509Certificate<'_>, AttestError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(AttestError::Malformed(
            "trailing bytes after the certificate".into(),
        )),
        Err(e) => Err(AttestError::Malformed(format!("certificate: {e}"))),
    }
}

/// The report's fields this verifier reads, with every must-be-zero range checked.
struct Fields {
    version: u32,
    policy: u64,
    vmpl: u32,
    key: KeyKind,
    report_data: [u8; 64],
    measurement: [u8; 48],
    host_data: [u8; 32],
    reported_tcb: u64,
    chip_id: [u8; 64],
}

/// `N` bytes of the report at `at` (every caller's range lies inside the report).
fn field<const N: usize>(r: &[u8; REPORT_LEN], at: usize) -> Result<[u8; N], AttestError> {
    r.get(at..at + N)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| AttestError::Malformed(format!("no field at {at:#x}")))
}

fn le32(r: &[u8; REPORT_LEN], at: usize) -> Result<u32, AttestError> {
    field(r, at).map(u32::from_le_bytes)
}

fn le64(r: &[u8; REPORT_LEN], at: usize) -> Result<u64, AttestError> {
    field(r, at).map(u64::from_le_bytes)
}

fn zero(r: &[u8; REPORT_LEN], from: usize, to: usize, what: &str) -> Result<(), AttestError> {
    match r.get(from..to) {
        Some(b) if b.iter().all(|b| *b == 0) => Ok(()),
        _ => Err(AttestError::Malformed(format!("{what} must be zero"))),
    }
}

impl Fields {
    fn parse(r: &[u8; REPORT_LEN]) -> Result<Self, AttestError> {
        let version = le32(r, 0x000)?;
        if !(2..=5).contains(&version) {
            return Err(AttestError::Malformed(format!(
                "report version {version} (2 to 5 are known)"
            )));
        }
        if le32(r, 0x034)? != 1 {
            return Err(AttestError::Malformed(
                "signature algorithm is not ECDSA P-384 with SHA-384".into(),
            ));
        }
        let policy = le64(r, 0x008)?;
        if policy & POLICY_RESERVED_ONE == 0 || policy & POLICY_MBZ != 0 {
            return Err(AttestError::Malformed("guest policy reserved bits".into()));
        }
        let info = le32(r, 0x048)?;
        if info >> 5 != 0 {
            return Err(AttestError::Malformed("signer info reserved bits".into()));
        }
        // MASK_CHIP_KEY: the firmware signed nothing (the signature is zeros).
        if info & 0b10 != 0 {
            return Err(AttestError::Malformed(
                "the report is unsigned (MASK_CHIP_KEY)".into(),
            ));
        }
        // PLATFORM_INFO: bit 6 and bits 8 and up are reserved.
        if le64(r, 0x040)? & !0b1011_1111 != 0 {
            return Err(AttestError::Malformed("platform info reserved bits".into()));
        }
        let key = match (info >> 2) & 0b111 {
            0 => KeyKind::Vcek,
            1 => KeyKind::Vlek,
            other => {
                return Err(AttestError::Malformed(format!(
                    "signing key {other} is neither VCEK nor VLEK"
                )))
            }
        };
        zero(r, 0x04C, 0x050, "reserved bytes 0x4C..0x50")?;
        // CPUID family, model, stepping at 0x188..0x18B from version 3; reserved up to 0x1A0.
        let cpuid_end = if version >= 3 { 0x18B } else { 0x188 };
        zero(r, cpuid_end, 0x1A0, "reserved bytes before CHIP_ID")?;
        // Version 5 adds the two mitigation vectors at 0x1F8..0x208; reserved up to 0x2A0.
        let vectors_end = if version >= 5 { 0x208 } else { 0x1F8 };
        zero(r, vectors_end, 0x2A0, "reserved bytes before the signature")?;
        zero(r, 0x1EB, 0x1EC, "reserved byte 0x1EB")?;
        zero(r, 0x1EF, 0x1F0, "reserved byte 0x1EF")?;
        // After the signature's two components (R at 0x2A0, S at 0x2E8), the rest is reserved.
        zero(
            r,
            0x2A0 + 2 * SIG_COMPONENT,
            REPORT_LEN,
            "signature padding",
        )?;
        Ok(Self {
            version,
            policy,
            vmpl: le32(r, 0x030)?,
            key,
            report_data: field(r, 0x050)?,
            measurement: field(r, 0x090)?,
            host_data: field(r, 0x0C0)?,
            reported_tcb: le64(r, 0x180)?,
            chip_id: field(r, 0x1A0)?,
        })
    }
}

fn amd_oid(tail: &[u64]) -> Option<Oid<'static>> {
    let arcs: Vec<u64> = AMD_OID_PREFIX.iter().chain(tail).copied().collect();
    Oid::from(&arcs).ok()
}

/// The certificate's TCB extensions equal the report's REPORTED_TCB (the key was derived for
/// that TCB), and a VCEK's hwID is the report's CHIP_ID (unless the platform masks the chip id,
/// which then reads all zero).
fn check_tcb(
    cert: &X509Certificate<'_>,
    kind: KeyKind,
    product: &str,
    tcb: Tcb,
    chip_id: &[u8; 64],
) -> Result<(), AttestError> {
    let mut spl = vec![
        (1, tcb.bootloader),
        (2, tcb.tee),
        (3, tcb.snp),
        (8, tcb.microcode),
    ];
    if product == "Turin" {
        spl.push((9, tcb.fmc));
    }
    for (arc, want) in spl {
        let ext = extension(cert, &[3, arc])?
            .ok_or_else(|| AttestError::BadChain(format!("TCB extension .3.{arc} missing")))?;
        let (_, got) = u8::from_der(ext).map_err(|_| {
            AttestError::BadChain(format!("TCB extension .3.{arc} is not a small integer"))
        })?;
        if got != want {
            return Err(AttestError::BadChain(format!(
                "the certificate is for another TCB (.3.{arc}: {got}, report: {want})"
            )));
        }
    }
    if kind == KeyKind::Vcek {
        let hw = extension(cert, &[4])?
            .ok_or_else(|| AttestError::BadChain("a VCEK without hwID".into()))?;
        let masked = chip_id.iter().all(|b| *b == 0);
        // The raw chip id, not DER-wrapped: 64 bytes (Milan, Genoa) or the first 8 (Turin).
        if !masked && (hw.is_empty() || chip_id.get(..hw.len()) != Some(hw)) {
            return Err(AttestError::BadChain(
                "the certificate is for another chip".into(),
            ));
        }
    }
    Ok(())
}

/// The value of AMD's extension 1.3.6.1.4.1.3704.1.`tail`, if present (once).
fn extension<'a>(
    cert: &'a X509Certificate<'_>,
    tail: &[u64],
) -> Result<Option<&'a [u8]>, AttestError> {
    let oid = amd_oid(tail).ok_or_else(|| AttestError::Malformed("oid".into()))?;
    Ok(cert
        .get_extension_unique(&oid)
        .map_err(|e| AttestError::BadChain(format!("AMD extension: {e}")))?
        .map(|e| e.value))
}

/// ECDSA P-384 / SHA-384 over the first 0x2A0 bytes, with R and S converted from 72-byte
/// little-endian (top 24 bytes zero) to 48-byte big-endian.
fn verify_signature(
    cert: &X509Certificate<'_>,
    report: &[u8; REPORT_LEN],
) -> Result<(), AttestError> {
    let spki = cert.public_key();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok());
    if spki.algorithm.algorithm != OID_KEY_TYPE_EC_PUBLIC_KEY || curve != Some(OID_NIST_EC_P384) {
        return Err(AttestError::BadChain(
            "the endorsement key is not an EC P-384 key".into(),
        ));
    }
    let mut rs = [0u8; 96];
    for (half, at) in rs
        .chunks_exact_mut(48)
        .zip([0x2A0usize, 0x2A0 + SIG_COMPONENT])
    {
        let le: [u8; SIG_COMPONENT] = field(report, at)?;
        let (value, high) = le.split_at(48);
        if high.iter().any(|b| *b != 0) {
            return Err(AttestError::Malformed(
                "signature component wider than 48 bytes".into(),
            ));
        }
        for (dst, src) in half.iter_mut().zip(value.iter().rev()) {
            *dst = *src;
        }
    }
    let signed = report
        .get(..SIGNED_LEN)
        .ok_or_else(|| AttestError::Malformed("report too short".into()))?;
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P384_SHA384_FIXED,
        &spki.subject_public_key.data,
    )
    .verify(signed, &rs)
    .map_err(|_| AttestError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report with every field valid for parsing: version 2, ECDSA, reserved policy bit set.
    fn blank() -> [u8; REPORT_LEN] {
        let mut r = [0u8; REPORT_LEN];
        r[0] = 2;
        r[0x34] = 1;
        r[0x008..0x010].copy_from_slice(&0x30000u64.to_le_bytes());
        r
    }

    fn with_policy(policy: u64) -> [u8; REPORT_LEN] {
        let mut r = blank();
        r[0x008..0x010].copy_from_slice(&policy.to_le_bytes());
        r
    }

    fn verifier(policy: SnpPolicy) -> SnpVerifier {
        SnpVerifier::new(policy).unwrap()
    }

    #[test]
    fn guest_policy_is_checked() {
        let v = verifier(SnpPolicy::default());
        let ok = Fields::parse(&blank()).unwrap();
        assert_eq!(v.check_policy(&ok), Ok(()));
        let migratable = Fields::parse(&with_policy(0x30000 | POLICY_MIGRATE_MA)).unwrap();
        assert!(matches!(
            v.check_policy(&migratable),
            Err(AttestError::PolicyRefused(_))
        ));
        let debug = Fields::parse(&with_policy(0x30000 | POLICY_DEBUG)).unwrap();
        assert_eq!(v.check_policy(&debug), Err(AttestError::DebugRefused));
        // Debug allowed does not let a migration agent in.
        let lenient = verifier(SnpPolicy {
            allow_debug: true,
            ..SnpPolicy::default()
        });
        assert_eq!(lenient.check_policy(&debug), Ok(()));
        let both = Fields::parse(&with_policy(0x30000 | POLICY_DEBUG | POLICY_MIGRATE_MA)).unwrap();
        assert!(lenient.check_policy(&both).is_err());
    }

    #[test]
    fn reserved_fields_and_unknown_values_are_refused() {
        // Policy bit 17 clear, or a bit above 25 set.
        assert!(Fields::parse(&with_policy(0)).is_err());
        assert!(Fields::parse(&with_policy(0x30000 | 1 << 40)).is_err());
        // Version 1, another signature algorithm.
        let mut r = blank();
        r[0] = 1;
        assert!(Fields::parse(&r).is_err());
        let mut r = blank();
        r[0x34] = 2;
        assert!(Fields::parse(&r).is_err());
        // Signing key: 0 VCEK, 1 VLEK, anything else refused; reserved signer-info bits.
        for (info, want) in [
            (0u32, Some(KeyKind::Vcek)),
            (1 << 2, Some(KeyKind::Vlek)),
            (7 << 2, None),
            (2 << 2, None),
            (1 << 5, None),
            (0b10, None),
        ] {
            let mut r = blank();
            r[0x48..0x4C].copy_from_slice(&info.to_le_bytes());
            assert_eq!(Fields::parse(&r).ok().map(|f| f.key), want, "{info:#x}");
        }
        for at in [
            0x04C,
            0x041,
            0x188,
            0x19F,
            0x1F8,
            0x29F,
            0x1EB,
            0x1EF,
            0x2A0 + 2 * SIG_COMPONENT,
            REPORT_LEN - 1,
        ] {
            let mut r = blank();
            r[at] = 1;
            assert!(Fields::parse(&r).is_err(), "{at:#x}");
        }
    }
}
