//! Which epoch a node may take from a peer (docs 0005 §7). A node that missed a round catches up
//! from a peer's round config, certificate and logs; `observe` proves the certificate and the
//! logs consistent with the config, so everything rests on the config. One Byzantine peer can
//! serve any config it likes (a 1-of-1 "DKG" among itself, a degree-0 reshare to itself), so a
//! config is taken only if this node can vouch for it:
//!
//! 1. **Derived.** It equals, byte for byte, the config this node builds for that epoch from its
//!    own membership view and its own latest epoch (genesis: a DKG among the whole membership).
//! 2. **Backed.** Otherwise (this node holds no epoch the config follows from, or sees the
//!    membership differently) its certificate must carry valid votes of more than f members of
//!    this node's view (f = n - t): at least one honest operator then precommitted it, after a
//!    prepare certificate whose honest prevoters checked it against their own derivation. A
//!    genesis config is never taken this way: it must name the full membership. A reshare must
//!    keep this node's MPK.
//! 3. **Anchored.** In chain mode, once the registry anchors epochs, only the anchored
//!    certificate of that epoch is taken.
//!
//! Everything here is a pure function of the node's view and the peer's bytes.

use crate::message::{Certificate, Commit};
use crate::observe::verify_certificate;
use crate::round::{Operator, RoundConfig, RoundKind};
use crate::Address;
use kms_crypto::bls::{threshold_for, Commitment};

/// This node's latest epoch: what a reshare from it starts from.
#[derive(Clone, Copy)]
pub struct Latest<'a> {
    /// The epoch's number; a peer's epoch must be later.
    pub epoch: u64,
    /// Its players: the dealers of the next reshare.
    pub players: &'a [Operator],
    /// Its public commitment, whose constant term is the MPK a reshare must keep.
    pub public: &'a Commitment,
}

/// What this node knows when it looks at a peer's epoch.
pub struct View<'a> {
    /// The chain this node serves; a config for another chain is refused.
    pub chain_id: u64,
    /// The registry contract this node serves; a config for another registry is refused.
    pub registry: Address,
    /// The operators at the epoch's trigger, as this node reads them.
    pub members: &'a [Operator],
    /// This node's latest epoch, or `None` if it holds none (the next is then a genesis DKG).
    pub latest: Option<Latest<'a>>,
    /// What the chain anchor says about the epoch.
    pub anchoring: Anchoring,
}

/// What the chain anchor says about the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchoring {
    /// No anchor is in use (no chain, or nothing anchored yet).
    None,
    /// Epochs are anchored: the vote digest anchored for this epoch, if any.
    Anchored(Option<[u8; 32]>),
}

/// Why a peer's epoch is refused. Each names what the peer got wrong or could not back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdoptError {
    /// The peer's round config bytes are not a well-formed encoding.
    #[error("the round config does not decode: {0}")]
    Config(crate::DecodeError),
    /// The peer's certificate bytes are not a well-formed encoding.
    #[error("the certificate does not decode: {0}")]
    Certificate(crate::DecodeError),
    /// The config names another epoch than the one asked for.
    #[error("the config is for epoch {got}, not {want}")]
    WrongEpoch {
        /// The epoch the config names.
        got: u64,
        /// The epoch the peer's claim was checked for.
        want: u64,
    },
    /// The config's chain id or registry differs from this node's.
    #[error("the config is for another chain or registry")]
    OtherChain,
    /// The epoch is not after this node's latest epoch.
    #[error("epoch {epoch} is not after this node's epoch {latest}")]
    NotNewer {
        /// The peer's epoch.
        epoch: u64,
        /// This node's latest epoch.
        latest: u64,
    },
    /// The certificate is for another round, or does not verify against the config
    /// ([`verify_certificate`]).
    #[error("the certificate is not for this config: {0}")]
    BadCertificate(String),
    /// A DKG config that differs from the one this node derives: genesis is never taken on
    /// backing alone.
    #[error("a genesis config must name the whole membership as this node sees it")]
    PartialGenesis,
    /// A reshare this node did not derive whose previous commitment has another MPK than
    /// this node's.
    #[error("the config would change the master public key")]
    MasterKeyChanged,
    /// A config this node did not derive, whose certificate has too few signers from this node's
    /// membership view.
    #[error("not derived here, and backed by {signers} members where more than {f} are needed")]
    NotBacked {
        /// How many of the certificate's signers are members in this node's view.
        signers: usize,
        /// The number of faults tolerated (n - t); more than this many signers are needed.
        f: usize,
    },
    /// Epochs are anchored on chain but none is anchored for this epoch yet.
    #[error("epochs are anchored on chain, and this one is not")]
    NotAnchored,
    /// The certificate's vote digest differs from the one anchored on chain for this epoch.
    #[error("the certificate is not the one anchored on chain for this epoch")]
    AnchorMismatch,
}

/// The config this node builds for `epoch`: a reshare from its latest epoch to `members`, or a
/// genesis DKG among them.
pub fn derive(
    epoch: u64,
    chain_id: u64,
    registry: Address,
    members: &[Operator],
    latest: Option<Latest<'_>>,
) -> Result<RoundConfig, crate::ConfigError> {
    match latest {
        None => RoundConfig::dkg(epoch, chain_id, registry, members.to_vec()),
        Some(l) => RoundConfig::reshare(
            l.epoch,
            epoch,
            chain_id,
            registry,
            l.players.to_vec(),
            members.to_vec(),
            l.public.clone(),
        ),
    }
}

/// Decides whether a peer's epoch `epoch` (its encoded config and certificate) may be taken.
/// Returns the config and certificate to finalize with `observe` (which checks the certificate
/// against the config again, and the logs, and the MPK).
pub fn check(
    view: &View<'_>,
    epoch: u64,
    config: &[u8],
    certificate: &[u8],
) -> Result<(RoundConfig, Certificate), AdoptError> {
    let cfg = RoundConfig::decode(config).map_err(AdoptError::Config)?;
    let cert = Certificate::decode(certificate, Commit).map_err(AdoptError::Certificate)?;
    check_decoded(view, epoch, &cfg, &cert)?;
    Ok((cfg, cert))
}

/// As [`check`], for a config and certificate already decoded (one claim checked against many
/// views decodes once). The certificate's pairing check comes last, after every cheaper rule.
pub fn check_decoded(
    view: &View<'_>,
    epoch: u64,
    cfg: &RoundConfig,
    cert: &Certificate,
) -> Result<(), AdoptError> {
    let config = cfg.encode();
    if cfg.epoch != epoch {
        return Err(AdoptError::WrongEpoch {
            got: cfg.epoch,
            want: epoch,
        });
    }
    if cfg.chain_id != view.chain_id || cfg.registry != view.registry {
        return Err(AdoptError::OtherChain);
    }
    if let Some(l) = view.latest {
        if epoch <= l.epoch {
            return Err(AdoptError::NotNewer {
                epoch,
                latest: l.epoch,
            });
        }
    }
    if cert.round != cfg.digest() {
        return Err(AdoptError::BadCertificate(
            "certificate is for another round".into(),
        ));
    }
    if let Anchoring::Anchored(anchored) = view.anchoring {
        match anchored {
            None => return Err(AdoptError::NotAnchored),
            Some(d) if d != cert.vote_digest(cfg) => return Err(AdoptError::AnchorMismatch),
            Some(_) => {}
        }
    }
    let verified =
        || verify_certificate(cfg, cert).map_err(|e| AdoptError::BadCertificate(e.to_string()));
    let derived = derive(
        epoch,
        view.chain_id,
        view.registry,
        view.members,
        view.latest,
    );
    if derived.is_ok_and(|d| d.encode() == config) {
        return verified();
    }
    // Not what this node builds: it must be backed, and may not move the key.
    match (&cfg.kind, view.latest) {
        (RoundKind::Dkg, _) => return Err(AdoptError::PartialGenesis),
        (RoundKind::Reshare { .. }, Some(l)) => {
            let keeps = cfg
                .previous
                .as_ref()
                .is_some_and(|p| p.public_key() == l.public.public_key());
            if !keeps {
                return Err(AdoptError::MasterKeyChanged);
            }
        }
        (RoundKind::Reshare { .. }, None) => {}
    }
    let n = view.members.len();
    let f = n.saturating_sub(threshold_for(n));
    let signers = cert
        .signers
        .iter()
        .filter_map(|i| cfg.players.get(usize::from(*i)))
        .filter(|o| view.members.iter().any(|m| m == *o))
        .count();
    if signers <= f {
        return Err(AdoptError::NotBacked { signers, f });
    }
    verified()
}
