//! Attestation tokens (JWT) from Google Confidential Space and from Intel Trust Authority when it
//! verifies a Confidential Space TDX workload (the shape EigenX runs in production): the same
//! claims, another issuer, keys and algorithms. Formats and values:
//! docs/research/issue-18-attestation-facts.md §1 and §2 (shape A).
//!
//! Checks, in order: the header names an algorithm of the issuer's (RS256 for Google; RS256 or
//! PS384 for Intel) and a key of its key set by `kid` and algorithm, of at least 2048 bits; the
//! signature (jsonwebtoken, on ring); `iss` and `aud`; `exp`, `nbf` and `iat` against the
//! caller's clock with a bounded skew, and a bounded lifetime; `swname`, `hwmodel`, `dbgstat`,
//! the support attributes and the project; and `eat_nonce` carrying the binding in hex.

use crate::{AttestError, Binding, Claims, Evidence, Platform, Verifier};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// RSA keys shorter than this are refused whatever their signature says.
pub const MIN_RSA_BITS: usize = 2048;

/// Google's issuer of Confidential Space tokens.
pub const GOOGLE_ISSUER: &str = "https://confidentialcomputing.googleapis.com";
/// Intel Trust Authority's issuer.
pub const INTEL_ISSUER: &str = "https://portal.trustauthority.intel.com";

/// Who issues the tokens a verifier accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Issuer {
    /// Google's attestation verifier (`iss` [`GOOGLE_ISSUER`], RS256).
    Google,
    /// Intel Trust Authority (`iss` [`INTEL_ISSUER`], RS256 or PS384).
    Intel,
}

impl Issuer {
    fn iss(self) -> &'static str {
        match self {
            Self::Google => GOOGLE_ISSUER,
            Self::Intel => INTEL_ISSUER,
        }
    }

    fn algorithms(self) -> &'static [Algorithm] {
        match self {
            Self::Google => &[Algorithm::RS256],
            Self::Intel => &[Algorithm::RS256, Algorithm::PS384],
        }
    }
}

/// One RSA key of a key set.
#[derive(Clone, Debug)]
struct Key {
    kid: String,
    /// The JWK's `alg`, if it names one (Intel publishes one key twice, once per algorithm).
    alg: Option<Algorithm>,
    n: String,
    e: String,
    bits: usize,
}

/// An issuer's signing keys, from its JWKS document.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: Vec<Key>,
}

#[derive(Deserialize)]
struct JwksDoc {
    keys: Vec<JwkDoc>,
}

#[derive(Deserialize)]
struct JwkDoc {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

impl KeySet {
    /// The RSA keys of a JWKS document (other key types are skipped: no issuer here uses them).
    /// With `pinned` non-empty, only keys whose `kid` it lists are kept.
    pub fn from_jwks(json: &[u8], pinned: &[String]) -> Result<Self, AttestError> {
        let doc: JwksDoc = serde_json::from_slice(json)
            .map_err(|e| AttestError::Malformed(format!("JWKS: {e}")))?;
        let mut keys = Vec::new();
        for jwk in doc.keys {
            let (Some(kid), Some(n), Some(e)) = (jwk.kid, jwk.n, jwk.e) else {
                continue;
            };
            if jwk.kty != "RSA" || (!pinned.is_empty() && !pinned.contains(&kid)) {
                continue;
            }
            let alg = match jwk.alg.as_deref() {
                None => None,
                Some(name) => match name.parse::<Algorithm>() {
                    Ok(a) => Some(a),
                    // An algorithm this crate does not know cannot be one it accepts.
                    Err(_) => continue,
                },
            };
            let modulus = decode_b64url(&n)
                .ok_or_else(|| AttestError::Malformed(format!("JWKS key {kid}: modulus")))?;
            let bits = bit_length(&modulus);
            keys.push(Key {
                kid,
                alg,
                n,
                e,
                bits,
            });
        }
        Ok(Self { keys })
    }

    /// The key for this `kid` and algorithm (a key that names no algorithm fits any).
    fn find(&self, kid: &str, alg: Algorithm) -> Option<&Key> {
        self.keys
            .iter()
            .find(|k| k.kid == kid && k.alg.is_none_or(|a| a == alg))
    }

    /// How many keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Unpadded base64url, as JOSE writes it.
fn decode_b64url(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}

fn bit_length(big_endian: &[u8]) -> usize {
    let Some(first) = big_endian.iter().position(|b| *b != 0) else {
        return 0;
    };
    let lead = big_endian
        .get(first)
        .map_or(0, |b| b.leading_zeros() as usize);
    (big_endian.len() - first) * 8 - lead
}

/// What a token verifier requires beyond a valid signature.
#[derive(Clone, Debug)]
pub struct TokenPolicy {
    /// The issuer whose tokens are accepted.
    pub issuer: Issuer,
    /// The `aud` the token must carry (a custom audience: the default one, STS, is for Google).
    pub audience: String,
    /// Accepted `hwmodel` values (e.g. `GCP_AMD_SEV`, `GCP_INTEL_TDX`; Intel: `INTEL_TDX`).
    pub hwmodels: Vec<String>,
    /// Accept debug images (`dbgstat` not `disabled-since-boot`): development only.
    pub allow_debug: bool,
    /// A support attribute the image must carry (`STABLE`, `LATEST`, Intel: `EXPERIMENTAL`);
    /// none: not checked. Debug images carry none, so this also refuses them.
    pub support_attribute: Option<String>,
    /// Accepted GCP projects (`submods.gce.project_id`); empty: any.
    pub projects: Vec<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, seconds.
    pub skew_secs: u64,
    /// The longest `exp - iat` accepted, seconds (Google issues 3,600 s, Intel 300 s).
    pub max_lifetime_secs: u64,
}

/// Verifies attestation tokens of one issuer with its key set.
pub struct TokenVerifier {
    policy: TokenPolicy,
    keys: KeySet,
}

#[derive(Deserialize)]
struct TokenClaims {
    exp: u64,
    iat: u64,
    nbf: Option<u64>,
    #[serde(default)]
    swname: String,
    #[serde(default)]
    hwmodel: String,
    #[serde(default)]
    dbgstat: String,
    #[serde(default)]
    eat_nonce: Nonces,
    #[serde(default)]
    submods: Submods,
}

/// `eat_nonce`: one string, or an array of them.
#[derive(Deserialize, Default)]
#[serde(untagged)]
enum Nonces {
    One(String),
    Many(Vec<String>),
    #[default]
    None,
}

#[derive(Deserialize, Default)]
struct Submods {
    #[serde(default)]
    confidential_space: ConfidentialSpace,
    #[serde(default)]
    container: Container,
    #[serde(default)]
    gce: Gce,
}

#[derive(Deserialize, Default)]
struct ConfidentialSpace {
    #[serde(default)]
    support_attributes: Vec<String>,
}

#[derive(Deserialize, Default)]
struct Container {
    image_digest: Option<String>,
    /// Set when whoever launched the VM overrode the image's command or environment: the
    /// image then runs as someone else configured it.
    cmd_override: Option<serde_json::Value>,
    env_override: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct Gce {
    project_id: Option<String>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
}

impl TokenVerifier {
    /// A verifier of `policy.issuer`'s tokens signed by a key of `keys`.
    pub fn new(policy: TokenPolicy, keys: KeySet) -> Self {
        Self { policy, keys }
    }

    /// Checks `token` at Unix time `now`, for the request bound by `binding`.
    pub fn verify_token(
        &self,
        token: &str,
        binding: &Binding,
        now: u64,
    ) -> Result<Claims, AttestError> {
        let (alg, kid) = self.header(token)?;
        let key = self
            .keys
            .find(&kid, alg)
            .ok_or_else(|| AttestError::UnknownKey(kid.clone()))?;
        if key.bits < MIN_RSA_BITS {
            return Err(AttestError::WeakKey(key.bits));
        }
        let decoding = DecodingKey::from_rsa_components(&key.n, &key.e)
            .map_err(|e| AttestError::Malformed(format!("key {kid}: {e}")))?;
        let mut validation = Validation::new(alg);
        validation.algorithms = vec![alg];
        validation.set_issuer(&[self.policy.issuer.iss()]);
        validation.set_audience(&[self.policy.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
        // Time is checked below against the caller's clock, not the library's.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let data = jsonwebtoken::decode::<TokenClaims>(token, &decoding, &validation).map_err(
            |e| match e.kind() {
                ErrorKind::InvalidSignature => AttestError::BadSignature,
                ErrorKind::InvalidIssuer => AttestError::WrongIssuer,
                ErrorKind::InvalidAudience => AttestError::WrongAudience,
                ErrorKind::InvalidAlgorithm => AttestError::AlgorithmRefused(format!("{alg:?}")),
                other => AttestError::Malformed(format!("token: {other:?}")),
            },
        )?;
        let c = data.claims;
        self.check_time(&c, now)?;
        let debug = self.check_platform(&c)?;
        let nonce = hex::encode(binding.0);
        let bound = match &c.eat_nonce {
            Nonces::One(n) => *n == nonce,
            Nonces::Many(all) => all.contains(&nonce),
            Nonces::None => false,
        };
        if !bound {
            return Err(AttestError::BindingMismatch);
        }
        let platform = match self.policy.issuer {
            Issuer::Google => Platform::ConfidentialSpace { hwmodel: c.hwmodel },
            Issuer::Intel => Platform::IntelTrustAuthority { hwmodel: c.hwmodel },
        };
        Ok(Claims {
            platform,
            image_digest: c.submods.container.image_digest,
            measurement: None,
            host_data: None,
            debug,
            expires_at: Some(c.exp.saturating_add(self.policy.skew_secs)),
            unique_id: Sha256::digest(signed_part(token).as_bytes()).into(),
        })
    }

    /// The header's algorithm (one of the issuer's, named before any key is looked at, so
    /// `none` and HMAC never reach a verification) and `kid`.
    fn header(&self, token: &str) -> Result<(Algorithm, String), AttestError> {
        let first = token
            .split('.')
            .next()
            .filter(|_| token.split('.').count() == 3)
            .ok_or_else(|| AttestError::Malformed("a JWT has three parts".into()))?;
        let bytes = decode_b64url(first)
            .ok_or_else(|| AttestError::Malformed("header is not base64url".into()))?;
        let raw: RawHeader = serde_json::from_slice(&bytes)
            .map_err(|e| AttestError::Malformed(format!("header: {e}")))?;
        let alg = self
            .policy
            .issuer
            .algorithms()
            .iter()
            .copied()
            .find(|a| raw.alg.parse::<Algorithm>().ok() == Some(*a))
            .ok_or_else(|| AttestError::AlgorithmRefused(raw.alg.clone()))?;
        let kid = raw
            .kid
            .ok_or_else(|| AttestError::UnknownKey("(no kid)".into()))?;
        Ok((alg, kid))
    }

    fn check_time(&self, c: &TokenClaims, now: u64) -> Result<(), AttestError> {
        let skew = self.policy.skew_secs;
        if now > c.exp.saturating_add(skew) {
            return Err(AttestError::Expired);
        }
        let not_before = c.nbf.unwrap_or(c.iat).max(c.iat);
        if not_before > now.saturating_add(skew) {
            return Err(AttestError::NotYetValid);
        }
        if c.exp < c.iat || c.exp - c.iat > self.policy.max_lifetime_secs {
            return Err(AttestError::PolicyRefused(format!(
                "token lifetime {} s (at most {} s)",
                c.exp.saturating_sub(c.iat),
                self.policy.max_lifetime_secs
            )));
        }
        Ok(())
    }

    /// Whether the image is a debug one (refused unless allowed).
    fn check_platform(&self, c: &TokenClaims) -> Result<bool, AttestError> {
        let p = &self.policy;
        if c.swname != "CONFIDENTIAL_SPACE" {
            return Err(AttestError::PolicyRefused(format!(
                "swname {:?} is not CONFIDENTIAL_SPACE",
                c.swname
            )));
        }
        if !p.hwmodels.contains(&c.hwmodel) {
            return Err(AttestError::PolicyRefused(format!(
                "hwmodel {:?} is not accepted",
                c.hwmodel
            )));
        }
        let debug = c.dbgstat != "disabled-since-boot";
        if debug && !p.allow_debug {
            return Err(AttestError::DebugRefused);
        }
        if let Some(attr) = &p.support_attribute {
            if !c
                .submods
                .confidential_space
                .support_attributes
                .contains(attr)
            {
                return Err(AttestError::PolicyRefused(format!(
                    "support attribute {attr} missing"
                )));
            }
        }
        let overridden = |v: &Option<serde_json::Value>| match v {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Array(a)) => !a.is_empty(),
            Some(serde_json::Value::Object(o)) => !o.is_empty(),
            Some(serde_json::Value::String(s)) => !s.is_empty(),
            Some(_) => true,
        };
        if overridden(&c.submods.container.cmd_override)
            || overridden(&c.submods.container.env_override)
        {
            return Err(AttestError::PolicyRefused(
                "the image's command or environment was overridden at launch".into(),
            ));
        }
        if !p.projects.is_empty()
            && !c
                .submods
                .gce
                .project_id
                .as_ref()
                .is_some_and(|id| p.projects.contains(id))
        {
            return Err(AttestError::PolicyRefused("project not accepted".into()));
        }
        Ok(debug)
    }
}

/// The issuer a token claims, unverified: which verifier to hand it to. The verifier then
/// checks `iss` against its own issuer after the signature.
pub fn claimed_issuer(token: &str) -> Option<Issuer> {
    #[derive(Deserialize)]
    struct Iss {
        iss: String,
    }
    let payload = token.split('.').nth(1)?;
    let iss: Iss = serde_json::from_slice(&decode_b64url(payload)?).ok()?;
    [Issuer::Google, Issuer::Intel]
        .into_iter()
        .find(|i| i.iss() == iss.iss)
}

/// `header.payload`: what the issuer signed.
fn signed_part(token: &str) -> &str {
    token.rsplit_once('.').map_or(token, |(signed, _)| signed)
}

impl Verifier for TokenVerifier {
    fn verify(
        &self,
        evidence: &Evidence<'_>,
        binding: &Binding,
        now: u64,
    ) -> Result<Claims, AttestError> {
        match evidence {
            Evidence::Token(token) => self.verify_token(token, binding, now),
            Evidence::SnpReport { .. } => Err(AttestError::Malformed(
                "this verifier takes attestation tokens".into(),
            )),
        }
    }
}
