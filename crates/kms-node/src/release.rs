//! What releases an app's partial (docs 0012): the owner's EIP-712 signature (development), TEE
//! evidence of an approved release (production), or both. Decisions only: the API parses the
//! request and keeps the durable records (nonces, used evidence).

use anyhow::{bail, Context};
use kms_api::config::{AttestationFile, ReleaseFile, TokenIssuerFile};
use kms_attest::jwt::{claimed_issuer, Issuer, KeySet, TokenPolicy, TokenVerifier};
use kms_attest::snp::{SnpPolicy, SnpVerifier, Tcb};
use kms_attest::{AttestError, Binding, Claims, Evidence, Verifier};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Which credentials an app's release asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Credential {
    /// The owner's signature (development: the owner, not the app, holds the key).
    #[default]
    Owner,
    /// TEE evidence of an approved release.
    Attestation,
    /// Both.
    Both,
}

impl Credential {
    /// From `node.toml`'s `credential`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "owner" => Some(Self::Owner),
            "attestation" => Some(Self::Attestation),
            "both" => Some(Self::Both),
            _ => None,
        }
    }

    /// Whether the owner's signature is needed.
    pub fn owner(self) -> bool {
        matches!(self, Self::Owner | Self::Both)
    }

    /// Whether TEE evidence is needed.
    pub fn attestation(self) -> bool {
        matches!(self, Self::Attestation | Self::Both)
    }

    /// From the registry's `CREDENTIAL_*` (1 owner, 2 attestation, 3 both).
    pub fn from_chain(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Owner),
            2 => Some(Self::Attestation),
            3 => Some(Self::Both),
            _ => None,
        }
    }
}

/// An app's release policy: from `[release.<app>]` (static mode) or the registry's `appPolicy` at
/// the request's block (chain mode).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Release {
    /// What unlocks its partials.
    pub credential: Credential,
    /// Approved releases by id: container image digests (`kms_api::app::image_release_id`) and
    /// SEV-SNP guests, measurement and HOST_DATA together (`kms_api::app::snp_release_id`).
    pub approved: Vec<[u8; 32]>,
}

/// The release of an app without a `[release.<app>]` table: its owner's signature.
pub static OWNER_ONLY: Release = Release {
    credential: Credential::Owner,
    approved: Vec::new(),
};

impl Release {
    /// The registry's policy; None for a credential code this node does not know (refused).
    pub fn from_chain(p: &kms_chain::AppPolicy) -> Option<Self> {
        Some(Self {
            credential: Credential::from_chain(p.credential)?,
            approved: p.approved.clone(),
        })
    }

    /// The approved release the verified claims name, if any.
    fn approves(&self, claims: &Claims) -> Option<[u8; 32]> {
        let image = claims
            .image_digest
            .as_deref()
            .and_then(kms_api::app::image_release_id);
        let snp = match (&claims.measurement, &claims.host_data) {
            (Some(m), Some(h)) => match (
                <&[u8; 48]>::try_from(m.as_slice()),
                <&[u8; 32]>::try_from(h.as_slice()),
            ) {
                (Ok(m), Ok(h)) => Some(kms_api::app::snp_release_id(m, h)),
                _ => None,
            },
            _ => None,
        };
        [image, snp]
            .into_iter()
            .flatten()
            .find(|id| self.approved.contains(id))
    }
}

/// The verifiers this node accepts evidence from (none configured: no evidence accepted).
#[derive(Default)]
pub struct Attestation {
    /// Google Confidential Space tokens.
    pub google: Option<TokenVerifier>,
    /// Intel Trust Authority tokens.
    pub intel: Option<TokenVerifier>,
    /// SEV-SNP reports.
    pub snp: Option<SnpVerifier>,
}

impl std::fmt::Debug for Attestation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attestation")
            .field("google", &self.google.is_some())
            .field("intel", &self.intel.is_some())
            .field("snp", &self.snp.is_some())
            .finish()
    }
}

/// Evidence as the request carried it, decoded.
pub enum Presented {
    /// An attestation token.
    Token(String),
    /// An SEV-SNP report and its certificate (DER).
    Snp {
        /// The report.
        report: Vec<u8>,
        /// The VCEK or VLEK certificate.
        cert: Vec<u8>,
    },
}

/// Evidence that may release a partial: record `id` as used until `until`, then release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Granted {
    /// The evidence's unique id.
    pub id: [u8; 32],
    /// Unix seconds until which the id stays recorded.
    pub until: u64,
    /// The approved release the evidence named.
    pub release: [u8; 32],
}

/// Why evidence does not release a partial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The release asks for evidence and the request carries none.
    Required,
    /// This node accepts no evidence of that kind.
    Unsupported,
    /// The evidence did not verify (its stable code).
    Attest(AttestError),
    /// Genuine evidence of a release the app's policy does not approve.
    NotApproved,
}

impl Attestation {
    /// Verifies `evidence` for the request bound by `binding` at `now`, and that it names a
    /// release `release` approves. `not_after` (bound in `binding`) ends its use, for a token
    /// before its own expiry, for a report (which carries no time) alone.
    pub fn check(
        &self,
        release: &Release,
        evidence: Option<&Presented>,
        binding: &Binding,
        now: u64,
        not_after: u64,
    ) -> Result<Granted, Refusal> {
        let evidence = evidence.ok_or(Refusal::Required)?;
        if not_after < now {
            return Err(Refusal::Attest(AttestError::Expired));
        }
        let claims = match evidence {
            Presented::Token(token) => {
                let verifier = match claimed_issuer(token) {
                    Some(Issuer::Google) => self.google.as_ref(),
                    Some(Issuer::Intel) => self.intel.as_ref(),
                    None => None,
                }
                .ok_or(Refusal::Unsupported)?;
                verifier.verify(&Evidence::Token(token), binding, now)
            }
            Presented::Snp { report, cert } => self
                .snp
                .as_ref()
                .ok_or(Refusal::Unsupported)?
                .verify(&Evidence::SnpReport { report, cert }, binding, now),
        }
        .map_err(Refusal::Attest)?;
        let approved = release.approves(&claims).ok_or(Refusal::NotApproved)?;
        Ok(Granted {
            release: approved,
            id: claims.unique_id,
            until: claims.expires_at.map_or(not_after, |e| e.min(not_after)),
        })
    }
}

/// The release policies of `node.toml`'s `[release.<app>]` tables, each for an app of `[apps]`
/// that `attestation` can vouch for (images need a token verifier, measurements the SNP one).
pub fn releases<T>(
    files: BTreeMap<String, ReleaseFile>,
    apps: &BTreeMap<String, T>,
    attestation: &Attestation,
) -> anyhow::Result<BTreeMap<String, Release>> {
    let mut out = BTreeMap::new();
    for (app, f) in files {
        if !apps.contains_key(&app) {
            bail!("[release.{app}]: no such app in [apps] (in chain mode the registry holds each app's release policy)");
        }
        let credential = Credential::parse(&f.credential).with_context(|| {
            format!("[release.{app}] credential must be owner, attestation or both")
        })?;
        let mut approved = Vec::new();
        let mut measurements = 0;
        for m in &f.measurements {
            let bad = || {
                format!(
                    "[release.{app}] measurement {m:?}: <96 hex measurement>:<64 hex HOST_DATA>"
                )
            };
            let (measurement, host) = m.split_once(':').with_context(bad)?;
            let (mut a, mut b) = ([0u8; 48], [0u8; 32]);
            hex::decode_to_slice(measurement, &mut a).with_context(bad)?;
            hex::decode_to_slice(host, &mut b).with_context(bad)?;
            approved.push(kms_api::app::snp_release_id(&a, &b));
            measurements += 1;
        }
        for image in &f.images {
            let id = kms_api::app::image_release_id(image)
                .with_context(|| format!("[release.{app}] image {image:?}: sha256:<64 hex>"))?;
            approved.push(id);
        }
        if credential.attestation() {
            let tokens = attestation.google.is_some() || attestation.intel.is_some();
            let usable =
                (tokens && !f.images.is_empty()) || (attestation.snp.is_some() && measurements > 0);
            if !usable {
                bail!(
                    "[release.{app}] asks for attestation but no configured verifier can vouch \
                     for what it approves (images need [attestation.google] or \
                     [attestation.intel], measurements [attestation.snp])"
                );
            }
        }
        out.insert(
            app,
            Release {
                credential,
                approved,
            },
        );
    }
    Ok(out)
}

/// The verifiers of `node.toml`'s `[attestation]`, key sets read from files (`rel` resolves a
/// path against the file's directory).
pub fn attestation(
    file: Option<AttestationFile>,
    rel: impl Fn(PathBuf) -> PathBuf,
) -> anyhow::Result<Attestation> {
    let Some(f) = file else {
        return Ok(Attestation::default());
    };
    let token = |issuer: Issuer, t: TokenIssuerFile| -> anyhow::Result<TokenVerifier> {
        let path = rel(t.jwks_file);
        let keys = KeySet::from_jwks(&read(&path)?, &t.pinned_kids)
            .with_context(|| format!("JWKS {}", path.display()))?;
        if keys.is_empty() {
            bail!("JWKS {}: no usable RSA key", path.display());
        }
        let lifetime = match issuer {
            Issuer::Google => 3600,
            Issuer::Intel => 300,
        };
        Ok(TokenVerifier::new(
            TokenPolicy {
                issuer,
                audience: t.audience,
                hwmodels: t.hwmodels,
                allow_debug: t.allow_debug,
                support_attribute: t.support_attribute,
                projects: t.projects,
                skew_secs: t.skew_secs.unwrap_or(60),
                max_lifetime_secs: t.max_lifetime_secs.unwrap_or(lifetime),
            },
            keys,
        ))
    };
    Ok(Attestation {
        google: f.google.map(|t| token(Issuer::Google, t)).transpose()?,
        intel: f.intel.map(|t| token(Issuer::Intel, t)).transpose()?,
        snp: match f.snp {
            None => None,
            Some(s) => Some(
                SnpVerifier::new(SnpPolicy {
                    allow_debug: s.allow_debug,
                    vmpl: s.vmpl,
                    min_tcb: s
                        .min_tcb
                        .into_iter()
                        .map(|(product, t)| {
                            let tcb = Tcb {
                                fmc: t.fmc,
                                bootloader: t.bootloader,
                                tee: t.tee,
                                snp: t.snp,
                                microcode: t.microcode,
                            };
                            (product, tcb)
                        })
                        .collect(),
                })
                .map_err(|e| anyhow::anyhow!("AMD roots: {e}"))?,
            ),
        },
    })
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_parse_and_say_what_they_need() {
        assert_eq!(Credential::parse("owner"), Some(Credential::Owner));
        assert_eq!(Credential::parse("Owner"), None);
        let both = Credential::parse("both").unwrap_or_default();
        assert!(both.owner() && both.attestation());
        let att = Credential::parse("attestation").unwrap_or_default();
        assert!(!att.owner() && att.attestation());
        assert!(Credential::default().owner() && !Credential::default().attestation());
    }

    #[test]
    fn missing_or_unsupported_evidence_is_refused() {
        let none = Attestation::default();
        let release = Release {
            credential: Credential::Attestation,
            ..Release::default()
        };
        let b = Binding([0; 32]);
        assert_eq!(
            none.check(&release, None, &b, 0, 60),
            Err(Refusal::Required)
        );
        let token = Presented::Token("e30.e30.e30".into());
        assert_eq!(
            none.check(&release, Some(&token), &b, 0, 60),
            Err(Refusal::Unsupported)
        );
        let snp = Presented::Snp {
            report: vec![],
            cert: vec![],
        };
        assert_eq!(
            none.check(&release, Some(&snp), &b, 0, 60),
            Err(Refusal::Unsupported)
        );
        // Past its bound end, evidence is refused before any verifier is asked.
        assert_eq!(
            none.check(&release, Some(&token), &b, 61, 60),
            Err(Refusal::Attest(AttestError::Expired))
        );
    }

    #[test]
    fn only_listed_releases_are_approved() {
        let claims = |image: Option<&str>, m: Option<([u8; 48], [u8; 32])>| Claims {
            platform: kms_attest::Platform::SevSnp {
                product: "Milan",
                vlek: false,
            },
            image_digest: image.map(str::to_owned),
            measurement: m.map(|m| m.0.to_vec()),
            host_data: m.map(|m| m.1.to_vec()),
            debug: false,
            expires_at: None,
            unique_id: [0; 32],
        };
        let aa = format!("sha256:{}", "aa".repeat(32));
        let bb = format!("sha256:{}", "bb".repeat(32));
        let release = Release {
            credential: Credential::Attestation,
            approved: vec![
                kms_api::app::image_release_id(&aa).unwrap(),
                kms_api::app::snp_release_id(&[7; 48], &[1; 32]),
            ],
        };
        let image_id = kms_api::app::image_release_id(&aa);
        let snp_id = Some(kms_api::app::snp_release_id(&[7; 48], &[1; 32]));
        assert_eq!(release.approves(&claims(Some(&aa), None)), image_id);
        assert_eq!(
            release.approves(&claims(
                Some(&aa.to_uppercase().replace("SHA256", "sha256")),
                None
            )),
            image_id
        );
        assert_eq!(
            release.approves(&claims(None, Some(([7; 48], [1; 32])))),
            snp_id
        );
        assert_eq!(release.approves(&claims(Some(&bb), None)), None);
        assert_eq!(release.approves(&claims(Some("sha256:aa"), None)), None);
        assert_eq!(
            release.approves(&claims(None, Some(([8; 48], [1; 32])))),
            None
        );
        // The approved measurement with another workload bound in HOST_DATA.
        assert_eq!(
            release.approves(&claims(None, Some(([7; 48], [2; 32])))),
            None
        );
        assert_eq!(release.approves(&claims(None, None)), None);
        assert_eq!(
            Release::default().approves(&claims(Some(&aa), Some(([7; 48], [1; 32])))),
            None
        );
    }
}
