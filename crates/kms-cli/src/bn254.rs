//! `kms bn254 ...`: key generation, public keys, hashToG1, signing and EigenLayer registration
//! signatures.

use crate::error::CliError;
use crate::files::{read_password, read_text, write_new_private};
use crate::json::{g1, g2};
use clap::{Args, Subcommand};
use kms_crypto::bn254::{
    hash_to_g1, key_registrar_digest, key_registrar_key_data, registry_coordinator_digest,
    verify_registration, Eip712Domain, G1Point, SecretKey,
};
use kms_crypto::keystore::{decrypt_any, encrypt_eigen_keystore, ScryptParams};
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum Bn254Command {
    /// Generate a key into an eigenlayer-cli keystore; prints the public key only.
    Keygen {
        /// Where to write the keystore (must not exist).
        #[arg(long)]
        keystore_out: PathBuf,
        /// File holding the keystore password.
        #[arg(long)]
        password_file: PathBuf,
        /// Use cheap scrypt parameters (N = 2^12). For tests only.
        #[arg(long, hide = true)]
        insecure_light_kdf: bool,
    },
    /// Print the G1 and G2 public keys of a key.
    Pubkey(KeySource),
    /// BN254.sol hashToG1 of a 32-byte message hash.
    HashToG1 {
        /// 0x-prefixed 32-byte hex.
        #[arg(long)]
        message_hash: String,
    },
    /// Sign a 32-byte message hash: sk·hashToG1(hash).
    Sign {
        #[command(flatten)]
        key: KeySource,
        #[arg(long)]
        message_hash: String,
    },
    /// Multiply a G1 point by the key (the point is checked first).
    ScalarMul {
        #[command(flatten)]
        key: KeySource,
        #[arg(long)]
        point_x: String,
        #[arg(long)]
        point_y: String,
    },
    /// The RegistryCoordinator's pubkeyRegistrationParams for an operator.
    RegistrationSignature {
        #[command(flatten)]
        key: KeySource,
        /// The operator's address.
        #[arg(long)]
        operator: String,
        /// The RegistryCoordinator's address (the EIP-712 verifying contract).
        #[arg(long)]
        registry: String,
        #[arg(long)]
        chain_id: u64,
    },
    /// The KeyRegistrar's BN254 key registration signature and keyData for an operator set.
    KeyRegistrationSignature {
        #[command(flatten)]
        key: KeySource,
        #[arg(long)]
        operator: String,
        #[arg(long)]
        avs: String,
        #[arg(long)]
        operator_set_id: u32,
        /// The KeyRegistrar's address.
        #[arg(long)]
        registrar: String,
        #[arg(long)]
        chain_id: u64,
        /// The EIP-712 domain version of the core contracts: the major part of `version()` ("1" for
        /// release 1.7.0; "v1" for deployments that used a v-prefixed version).
        #[arg(long, default_value = "1")]
        domain_version: String,
    },
}

/// Where the secret key comes from: a file, or a keystore and its password file.
#[derive(Args)]
#[group(required = true, multiple = true)]
pub struct KeySource {
    /// File holding the secret key as one decimal or 0x-hex integer (values >= r are reduced).
    #[arg(long, conflicts_with_all = ["keystore", "password_file"])]
    secret_key_file: Option<PathBuf>,
    /// An eigenlayer-cli or EIP-2335 BN254 keystore.
    #[arg(long, requires = "password_file")]
    keystore: Option<PathBuf>,
    /// File holding the keystore password.
    #[arg(long, requires = "keystore")]
    password_file: Option<PathBuf>,
}

impl KeySource {
    fn load(&self) -> Result<SecretKey, CliError> {
        match (&self.secret_key_file, &self.keystore, &self.password_file) {
            (Some(file), None, None) => {
                let text = read_text(file, "secret key file")?;
                Ok(SecretKey::from_int_str(text.trim())?)
            }
            (None, Some(ks), Some(pw)) => {
                let json = read_text(ks, "keystore")?;
                let password = read_password(pw)?;
                Ok(decrypt_any(&json, &password)?)
            }
            _ => Err(CliError::bad(
                "give --secret-key-file, or --keystore with --password-file",
            )),
        }
    }
}

fn keys_json(sk: &SecretKey) -> (Value, Value) {
    (g1(&sk.public_g1()), g2(&sk.public_g2()))
}

pub fn run(cmd: Bn254Command) -> Result<Value, CliError> {
    match cmd {
        Bn254Command::Keygen {
            keystore_out,
            password_file,
            insecure_light_kdf,
        } => {
            let password = read_password(&password_file)?;
            let sk = SecretKey::random(&mut rand_core::OsRng);
            let params = if insecure_light_kdf {
                ScryptParams::light()
            } else {
                ScryptParams::standard()
            };
            let json =
                encrypt_eigen_keystore(&sk, password.as_bytes(), params, &mut rand_core::OsRng)
                    .map_err(|e| CliError::Failure(e.to_string()))?;
            write_new_private(&keystore_out, json.as_bytes())?;
            let (pk1, pk2) = keys_json(&sk);
            Ok(json!({ "keystore": keystore_out, "g1": pk1, "g2": pk2 }))
        }
        Bn254Command::Pubkey(key) => {
            let (pk1, pk2) = keys_json(&key.load()?);
            Ok(json!({ "g1": pk1, "g2": pk2 }))
        }
        Bn254Command::HashToG1 { message_hash } => {
            Ok(g1(&hash_to_g1(&crate::parse::hash(&message_hash)?.0)))
        }
        Bn254Command::Sign { key, message_hash } => {
            let digest = crate::parse::hash(&message_hash)?.0;
            let sk = key.load()?;
            let (point, sig) = sk.sign_hash(&digest);
            let (pk1, pk2) = keys_json(&sk);
            Ok(json!({ "message_point": g1(&point), "signature": g1(&sig), "g1": pk1, "g2": pk2 }))
        }
        Bn254Command::ScalarMul {
            key,
            point_x,
            point_y,
        } => {
            let point = G1Point::from_dec_or_hex(&point_x, &point_y)?;
            let sk = key.load()?;
            let (pk1, pk2) = keys_json(&sk);
            Ok(json!({ "signature": g1(&sk.sign_point(&point)), "g1": pk1, "g2": pk2 }))
        }
        Bn254Command::RegistrationSignature {
            key,
            operator,
            registry,
            chain_id,
        } => {
            let operator = crate::parse::address(&operator, "--operator")?;
            let registry = crate::parse::address(&registry, "--registry")?;
            let sk = key.load()?;
            let domain = Eip712Domain::registry_coordinator(chain_id, registry);
            let digest = registry_coordinator_digest(&domain, operator);
            let (point, sig) = sk.sign_hash(&digest);
            // Refuse to print parameters the contract would reject.
            verify_registration(&point, &sig, &sk.public_g1(), &sk.public_g2())
                .map_err(|e| CliError::Failure(format!("self-check failed: {e}")))?;
            let (pk1, pk2) = keys_json(&sk);
            Ok(json!({
                "pubkeyRegistrationParams": {
                    "pubkeyRegistrationSignature": g1(&sig),
                    "pubkeyG1": pk1,
                    "pubkeyG2": pk2,
                },
                "digest": format!("0x{}", hex::encode(digest)),
                "message_point": g1(&point),
            }))
        }
        Bn254Command::KeyRegistrationSignature {
            key,
            operator,
            avs,
            operator_set_id,
            registrar,
            chain_id,
            domain_version,
        } => {
            let operator = crate::parse::address(&operator, "--operator")?;
            let avs = crate::parse::address(&avs, "--avs")?;
            let registrar = crate::parse::address(&registrar, "--registrar")?;
            let sk = key.load()?;
            let key_data = key_registrar_key_data(&sk.public_g1(), &sk.public_g2());
            let domain = Eip712Domain::eigenlayer_core(&domain_version, chain_id, registrar);
            let digest = key_registrar_digest(&domain, operator, avs, operator_set_id, &key_data);
            let (point, sig) = sk.sign_hash(&digest);
            Ok(json!({
                "keyData": format!("0x{}", hex::encode(&key_data)),
                "signature": g1(&sig),
                "digest": format!("0x{}", hex::encode(digest)),
                "message_point": g1(&point),
            }))
        }
    }
}
