//! Who the operators are. [`Membership`] gives the operator set a round runs with; the embedded
//! default is [`StaticFile`], a JSON file that lists each operator's address, id (its evaluation
//! point, docs 0007), BN254 keys, X25519 key and URL. The registry ([`crate::Registry`]) is the
//! other source: kms-node's chain source implements the same trait over it.
//!
//! The file is trusted configuration, so proof of possession of the BN254 keys is not checked here
//! (the chain registry checks it); everything else is: points on the curve and in the subgroup,
//! G1 and G2 keys of one secret, X25519 keys not of small order, ids non-zero, and addresses and
//! ids unique.

use alloy_primitives::Address as EthAddress;
use kms_crypto::bls::EvalPoint;
use kms_crypto::bn254::{G1Point, G2Point};
use kms_crypto::seal::EncryptionPublicKey;
use kms_protocol::Operator;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Mutex;

/// An operator of the network and where to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its address, evaluation point and keys.
    pub operator: Operator,
    /// Base URL of its node, `http://` or `https://`.
    pub url: String,
}

/// What is wrong with a membership source. The messages name the entry (0-based) and the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    /// The operator file cannot be read or parsed.
    #[error("operator file: {0}")]
    File(String),
    /// The file holds no operator.
    #[error("operator file lists no operators")]
    Empty,
    /// An entry is invalid.
    #[error("operator {index}: {what}")]
    Operator {
        /// Its position (0-based).
        index: usize,
        /// The field and what is wrong with it.
        what: &'static str,
    },
    /// Two entries share what must be unique.
    #[error("operators {first} and {second} have the same {what}")]
    Duplicate {
        /// The field.
        what: &'static str,
        /// The first entry (0-based).
        first: usize,
        /// The second.
        second: usize,
    },
    /// The chain source failed.
    #[error("{0}")]
    Chain(String),
}

/// What [`Membership::members`] returns: the chain source answers over the network.
pub type MembersFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<Member>, MembershipError>> + Send + 'a>>;

/// A source of the operator set.
pub trait Membership: Send + Sync {
    /// The operators of the round started at `trigger` (an interval number; a block number in
    /// chain mode), sorted by address.
    fn members(&self, trigger: u64) -> MembersFuture<'_>;
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    operators: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    address: String,
    id: u64,
    bn254_g1: G1Json,
    bn254_g2: G2Json,
    encryption_key: String,
    url: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct G1Json {
    x: String,
    y: String,
}

/// Solidity limb order, imaginary part first, as EigenLayer's contracts and our key tools write it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct G2Json {
    x: [String; 2],
    y: [String; 2],
}

/// The static operator file, loaded and checked once.
#[derive(Clone, Debug)]
pub struct StaticFile {
    members: Vec<Member>,
}

impl StaticFile {
    /// Reads and checks the operator file at `path`.
    pub fn load(path: &Path) -> Result<Self, MembershipError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| MembershipError::File(format!("{}: {e}", path.display())))?;
        Self::parse(&text)
    }

    /// Parses and checks the JSON text.
    pub fn parse(text: &str) -> Result<Self, MembershipError> {
        let file: FileFormat =
            serde_json::from_str(text).map_err(|e| MembershipError::File(e.to_string()))?;
        if file.operators.is_empty() {
            return Err(MembershipError::Empty);
        }
        let mut members = file
            .operators
            .iter()
            .enumerate()
            .map(|(index, e)| {
                entry_to_member(e).map_err(|what| MembershipError::Operator { index, what })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let addresses: Vec<_> = members.iter().map(|m| m.operator.address).collect();
        let ids: Vec<_> = members.iter().map(|m| m.operator.point).collect();
        for (what, dup) in [
            ("address", first_duplicate(&addresses)),
            ("id", first_duplicate(&ids)),
        ] {
            if let Some((first, second)) = dup {
                return Err(MembershipError::Duplicate {
                    what,
                    first,
                    second,
                });
            }
        }
        members.sort_by_key(|m| m.operator.address);
        Ok(Self { members })
    }

    /// Writes a file that [`StaticFile::parse`] reads back (`kms devnet`, tests). Every point must
    /// be a small id, as the file format has it.
    pub fn to_json(members: &[Member]) -> Result<String, MembershipError> {
        let operators = members
            .iter()
            .enumerate()
            .map(|(index, m)| {
                let op = &m.operator;
                let id = op.point.small().ok_or(MembershipError::Operator {
                    index,
                    what: "evaluation point is not a small id",
                })?;
                let (x, y) = op.key_g2.to_dec();
                Ok(Entry {
                    address: EthAddress::from(op.address).to_checksum(None),
                    id,
                    bn254_g1: G1Json {
                        x: op.key_g1().x_dec(),
                        y: op.key_g1().y_dec(),
                    },
                    bn254_g2: G2Json { x, y },
                    encryption_key: format!("0x{}", hex::encode(op.enc.to_bytes())),
                    url: m.url.clone(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        serde_json::to_string_pretty(&FileFormat { operators })
            .map_err(|e| MembershipError::File(e.to_string()))
    }
}

/// The first pair of equal keys, as (earlier index, later index).
fn first_duplicate<K: PartialEq>(keys: &[K]) -> Option<(usize, usize)> {
    keys.iter().enumerate().find_map(|(i, a)| {
        keys.iter()
            .skip(i + 1)
            .position(|b| a == b)
            .map(|j| (i, i + 1 + j))
    })
}

impl StaticFile {
    /// The operators, sorted by address.
    pub fn operators(&self) -> &[Member] {
        &self.members
    }
}

impl Membership for StaticFile {
    fn members(&self, _trigger: u64) -> MembersFuture<'_> {
        let members = self.members.clone();
        Box::pin(async move { Ok(members) })
    }
}

/// The operator file, read again at every trigger so that an edited file (an operator added or
/// removed) takes effect at the next round. Unchanged content gives back the same `Operator`
/// values, so their key tables are built once.
pub struct OperatorFile {
    path: PathBuf,
    cache: Mutex<Option<(String, Vec<Member>)>>,
}

impl OperatorFile {
    /// The operator file at `path`.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            cache: Mutex::new(None),
        }
    }
}

impl OperatorFile {
    /// The file's operators now, sorted by address.
    pub fn read(&self) -> Result<Vec<Member>, MembershipError> {
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| MembershipError::File(format!("{}: {e}", self.path.display())))?;
        let mut cache = self
            .cache
            .lock()
            .map_err(|_| MembershipError::File("cache poisoned".into()))?;
        if let Some((t, m)) = cache.as_ref() {
            if *t == text {
                return Ok(m.clone());
            }
        }
        let members = StaticFile::parse(&text)?.members;
        *cache = Some((text, members.clone()));
        Ok(members)
    }
}

impl Membership for OperatorFile {
    fn members(&self, _trigger: u64) -> MembersFuture<'_> {
        let read = self.read();
        Box::pin(async move { read })
    }
}

fn entry_to_member(e: &Entry) -> Result<Member, &'static str> {
    let address = EthAddress::from_str(&e.address).map_err(|_| "address is not 20 bytes of hex")?;
    let point = EvalPoint::from_index(e.id).map_err(|_| "id must be at least 1")?;
    let g1 = G1Point::from_dec_or_hex(&e.bn254_g1.x, &e.bn254_g1.y)
        .map_err(|_| "bn254_g1 is not a valid G1 point")?;
    let ([x1, x0], [y1, y0]) = (&e.bn254_g2.x, &e.bn254_g2.y);
    let g2 = G2Point::from_dec_or_hex([x1, x0], [y1, y0])
        .map_err(|_| "bn254_g2 is not a valid G2 point")?;
    let enc_bytes = hex::decode(e.encryption_key.trim_start_matches("0x"))
        .map_err(|_| "encryption_key is not hex")?;
    let enc = EncryptionPublicKey::from_bytes(&enc_bytes)
        .map_err(|_| "encryption_key is not a usable X25519 public key")?;
    if !valid_url(&e.url) {
        return Err("url must be an http:// or https:// URL");
    }
    let operator = Operator::new(address.into_array(), point, g1, g2, enc);
    if !operator.keys_match() {
        return Err("bn254_g1 and bn254_g2 are not keys of one secret");
    }
    Ok(Member {
        operator,
        url: e.url.trim_end_matches('/').to_string(),
    })
}

/// A node URL both sources accept: http(s), no whitespace, at most 2048 bytes.
pub fn valid_url(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() <= 2048
        && !url.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests;
