//! `kms signer ...`: client commands of the operator-key service (`kms-signer`).
//!
//! Every command that uses or changes a key signs its request with the operator's EOA key, read
//! from a file: `--eoa-key-file F` (the 32-byte secp256k1 key as 0x-hex) or `--eoa-keystore F
//! --password-file P` (an Ethereum V3 key file as geth, clef, `cast wallet` and eth-account write
//! it). `--chain-id` must be the chain id the service is configured with (it is part of the EIP-712
//! domain the requests are signed under). The service's answer is printed as its JSON (the wire
//! type, `kms_api::signer`); a refusal prints the service's error code and message and exits 2
//! (any 4xx), other failures exit 1.

use crate::error::CliError;
use crate::files::{read_password, read_text};
use alloy_primitives::U256;
use clap::{Args, Subcommand};
use kms_client::{Authorizer, EoaKey, SignerClient};
use kms_crypto::auth::Freshness;
use kms_crypto::bn254::parse_u256;
use kms_crypto::keystore::decrypt_eth_keystore;
use kms_crypto::Secret;
use serde_json::Value;
use std::path::PathBuf;
use zeroize::Zeroizing;

#[derive(Args)]
pub struct SignerArgs {
    /// The service's base URL.
    #[arg(
        long,
        global = true,
        env = "KMS_SIGNER_URL",
        default_value = "http://127.0.0.1:9100"
    )]
    url: String,
    /// The chain id the service is configured with (its EIP-712 domain's chainId).
    #[arg(
        long,
        global = true,
        env = "KMS_SIGNER_CHAIN_ID",
        default_value_t = 31337
    )]
    chain_id: u64,
    /// The deployment's EIP-712 domain salt (0x-hex, 32 bytes), if the service sets one
    /// (`eip712_salt`; `GET /v1/domain` shows it).
    #[arg(long, global = true, env = "KMS_SIGNER_EIP712_SALT")]
    eip712_salt: Option<String>,
    /// PEM file with extra CA certificates to trust for an https URL (e.g. the service's own).
    #[arg(long, global = true, env = "KMS_SIGNER_CA_FILE")]
    ca_file: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: SignerCommand,
}

#[derive(Subcommand)]
pub enum SignerCommand {
    /// Create the EOA's BN254 key inside the service; prints its public keys.
    CreateKey(EoaSource),
    /// Print key records (public keys, version states): one EOA's with --eoa, else all. Needs no
    /// EOA key.
    Keys {
        /// The EOA whose key to show.
        #[arg(long)]
        eoa: Option<String>,
    },
    /// Sign a 32-byte message hash: sk·hashToG1(hash).
    Sign {
        #[command(flatten)]
        eoa: EoaSource,
        /// 0x-prefixed 32-byte hex.
        #[arg(long)]
        message_hash: String,
        #[command(flatten)]
        version: KeyVersion,
    },
    /// Multiply a G1 point by the key (the service checks the point first).
    ScalarMul {
        #[command(flatten)]
        eoa: EoaSource,
        /// Decimal or 0x-hex.
        #[arg(long)]
        point_x: String,
        /// Decimal or 0x-hex.
        #[arg(long)]
        point_y: String,
        #[command(flatten)]
        version: KeyVersion,
    },
    /// The RegistryCoordinator's pubkeyRegistrationParams for the EOA as operator.
    Registration {
        #[command(flatten)]
        eoa: EoaSource,
        /// The RegistryCoordinator's address (the EIP-712 verifying contract).
        #[arg(long)]
        registry: String,
        /// Chain id of the contract's EIP-712 domain [default: --chain-id].
        #[arg(long)]
        contract_chain_id: Option<u64>,
        #[command(flatten)]
        version: KeyVersion,
    },
    /// The KeyRegistrar's BN254 keyData and registration signature for an operator set.
    KeyRegistration {
        #[command(flatten)]
        eoa: EoaSource,
        /// The AVS's address.
        #[arg(long)]
        avs: String,
        /// The operator set within the AVS.
        #[arg(long)]
        operator_set_id: u32,
        /// The KeyRegistrar's address.
        #[arg(long)]
        registrar: String,
        /// Chain id of the contract's EIP-712 domain [default: --chain-id].
        #[arg(long)]
        contract_chain_id: Option<u64>,
        /// The major part of the core contracts' `version()` ("1" for 1.7.0, "v1" for early
        /// v-prefixed deployments).
        #[arg(long, default_value = "1")]
        domain_version: String,
        #[command(flatten)]
        version: KeyVersion,
    },
    /// Add a new active key version; the previous one stays usable by number for the grace period.
    Rotate(EoaSource),
    /// Delegated API keys: the EOA signs once, the AVS software then signs with a bearer token
    /// (REST `Authorization: Bearer`, or the cerberus gRPC API's `authorization` metadata).
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Register the EOA's BN254 key (held by the service) in a KmsRegistry on chain: gets the
    /// KeyRegistrar signature for the registry's AVS and operator set from the service, then sends
    /// `registerOperator` from the EOA, which pays the gas. The registry checks the signature on
    /// chain; the owner then admits the operator.
    Register {
        #[command(flatten)]
        eoa: EoaSource,
        /// The chain's JSON-RPC URL.
        #[arg(long, env = "KMS_RPC_URL")]
        rpc_url: String,
        /// The KmsRegistry's address.
        #[arg(long, env = "KMS_REGISTRY")]
        registry: String,
        /// The operator node's X25519 public key (0x-hex, 32 bytes), as `kms-node` prints it.
        #[arg(long)]
        encryption_key: String,
        /// The operator node's base URL.
        #[arg(long)]
        node_url: String,
        #[command(flatten)]
        version: KeyVersion,
    },
}

/// `kms signer api-key ...`.
#[derive(Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key for the EOA's operator key. The token is made here and only its hash
    /// is sent (the service never has it); it is printed once, or kept in --token-file.
    Create {
        #[command(flatten)]
        eoa: EoaSource,
        /// A name for people, e.g. the machine the key will live on.
        #[arg(long, default_value = "")]
        label: String,
        /// What the key may do: sign, scalar-mul, registration (comma-separated, any order).
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// Seconds until the key expires [default: never].
        #[arg(long, conflicts_with = "expires_at")]
        expires_in: Option<u64>,
        /// Unix seconds at which the key expires [default: never].
        #[arg(long)]
        expires_at: Option<u64>,
        /// Source addresses or CIDR blocks allowed to use the key, comma-separated [default: any].
        #[arg(long, default_value = "")]
        sources: String,
        /// Keep the token in this new file (0600) instead of printing it; with
        /// --print-typed-data it is written then, and read back with --signature.
        #[arg(long)]
        token_file: Option<PathBuf>,
    },
    /// List the EOA's API keys (never their tokens).
    List(EoaSource),
    /// Revoke one of the EOA's API keys; its next use is refused.
    Revoke {
        #[command(flatten)]
        eoa: EoaSource,
        /// The key's id (16 hex characters, as `create` and `list` print it).
        #[arg(long)]
        id: String,
    },
}

/// Which key version to use.
#[derive(Args)]
pub struct KeyVersion {
    /// Key version to use; 0 is the active one.
    #[arg(long, default_value_t = 0)]
    key_version: u32,
}

/// Who authorizes the request: the EOA's key from a file or V3 keystore; or, for an EOA whose key
/// lives in a hardware wallet or another signer, `--print-typed-data` (print what to sign, send
/// nothing) and then `--signature` with the same `--nonce` and `--deadline`.
#[derive(Args)]
#[group(required = true, multiple = true)]
pub struct EoaSource {
    /// File holding the EOA's secret key: 32 bytes as 0x-hex.
    #[arg(long, conflicts_with_all = ["eoa_keystore", "password_file", "signature"])]
    eoa_key_file: Option<PathBuf>,
    /// An Ethereum V3 key file (geth, clef, cast wallet, eth-account) holding the EOA's key.
    #[arg(long, requires = "password_file", conflicts_with = "signature")]
    eoa_keystore: Option<PathBuf>,
    /// File holding the keystore's password (its final line ending is ignored).
    #[arg(long, requires = "eoa_keystore")]
    password_file: Option<PathBuf>,
    /// The EOA's address, when its key is not given here (with --print-typed-data or
    /// --signature).
    #[arg(long)]
    eoa: Option<String>,
    /// Print the EIP-712 typed data the EOA signs for this request (for `cast wallet sign
    /// --data`), with its nonce and deadline, and send nothing.
    #[arg(long, conflicts_with = "signature")]
    print_typed_data: bool,
    /// The EOA's signature (65 bytes, 0x-hex) over the typed data that --print-typed-data
    /// printed for the same arguments, --nonce and --deadline.
    #[arg(long, requires_all = ["eoa", "nonce", "deadline"])]
    signature: Option<String>,
    /// The request's nonce [default with --print-typed-data: random].
    #[arg(long)]
    nonce: Option<u64>,
    /// The request's deadline, unix seconds [default with --print-typed-data: 5 minutes ahead].
    #[arg(long)]
    deadline: Option<u64>,
}

/// How long a printed request stays valid by default: time to sign it on a hardware wallet (the
/// service refuses deadlines further than its `max_request_validity_secs`, 600 by default).
const PRINTED_VALIDITY_SECS: u64 = 300;

/// What [`EoaSource`] resolved to; lends an [`Authorizer`] to one call.
pub(crate) enum Auth {
    Key(EoaKey),
    Signed {
        operator: alloy_primitives::Address,
        fresh: Freshness,
        signature: String,
    },
    Print {
        operator: alloy_primitives::Address,
        fresh: Freshness,
    },
}

impl Auth {
    pub(crate) fn authorizer(&self) -> Authorizer<'_> {
        match self {
            Auth::Key(k) => Authorizer::Key(k),
            Auth::Signed {
                operator,
                fresh,
                signature,
            } => Authorizer::Signed {
                operator: *operator,
                fresh: *fresh,
                signature,
            },
            Auth::Print { operator, fresh } => Authorizer::Print {
                operator: *operator,
                fresh: *fresh,
            },
        }
    }
}

impl EoaSource {
    /// The EOA's key, for commands that need the key itself (sending a transaction).
    fn key(&self) -> Result<EoaKey, CliError> {
        match self.load()? {
            Auth::Key(k) => Ok(k),
            _ => Err(CliError::bad(
                "this command sends a transaction from the EOA: give --eoa-key-file or \
                 --eoa-keystore with --password-file",
            )),
        }
    }

    fn load(&self) -> Result<Auth, CliError> {
        let named = match &self.eoa {
            Some(text) => Some(crate::parse::address(text, "--eoa")?),
            None => None,
        };
        if let Some(signature) = &self.signature {
            let (Some(operator), Some(nonce), Some(deadline)) = (named, self.nonce, self.deadline)
            else {
                return Err(CliError::bad(
                    "--signature needs --eoa, --nonce and --deadline",
                ));
            };
            return Ok(Auth::Signed {
                operator,
                fresh: Freshness { nonce, deadline },
                signature: signature.clone(),
            });
        }
        let key = if self.eoa_key_file.is_some() || self.eoa_keystore.is_some() {
            Some(self.load_key()?)
        } else {
            None
        };
        if self.print_typed_data {
            let operator = match (&key, named) {
                (Some(k), Some(n)) if k.address() != n => {
                    return Err(CliError::bad(
                        "--eoa is not the address of the EOA key given",
                    ))
                }
                (Some(k), _) => k.address(),
                (None, Some(n)) => n,
                (None, None) => {
                    return Err(CliError::bad(
                        "--print-typed-data needs --eoa (or the EOA key)",
                    ))
                }
            };
            let now = kms_api::time::unix_now();
            let nonce = match self.nonce {
                Some(n) => n,
                None => rand_core::RngCore::next_u64(&mut rand_core::OsRng),
            };
            let fresh = Freshness {
                nonce,
                deadline: self.deadline.unwrap_or(now + PRINTED_VALIDITY_SECS),
            };
            return Ok(Auth::Print { operator, fresh });
        }
        match key {
            Some(k) => Ok(Auth::Key(k)),
            None => Err(CliError::bad(
                "give --eoa-key-file, --eoa-keystore with --password-file, or --eoa with \
                 --print-typed-data or --signature",
            )),
        }
    }

    fn load_key(&self) -> Result<EoaKey, CliError> {
        let secret = match (&self.eoa_key_file, &self.eoa_keystore, &self.password_file) {
            (Some(file), None, None) => {
                let text = read_text(file, "EOA key file")?;
                parse_eoa_key(text.trim())?
            }
            (None, Some(keystore), Some(password_file)) => {
                let json = read_text(keystore, "EOA keystore")?;
                let password = read_password(password_file)?;
                decrypt_eth_keystore(&json, password.as_bytes())
                    .map_err(|e| CliError::bad(format!("EOA keystore: {e}")))?
            }
            _ => {
                return Err(CliError::bad(
                    "give --eoa-key-file, or --eoa-keystore with --password-file",
                ))
            }
        };
        EoaKey::from_bytes(&secret)
            .map_err(|_| CliError::bad("the EOA key is not a valid secp256k1 secret key"))
    }
}

pub(crate) fn parse_eoa_key(text: &str) -> Result<Secret<[u8; 32]>, CliError> {
    let bad = || CliError::bad("the EOA key file must hold 32 bytes as 0x-hex");
    let bytes =
        Zeroizing::new(hex::decode(text.strip_prefix("0x").unwrap_or(text)).map_err(|_| bad())?);
    if bytes.len() != 32 {
        return Err(bad());
    }
    let mut secret = Secret::new([0u8; 32]);
    secret.expose_mut(|out| out.copy_from_slice(&bytes));
    Ok(secret)
}

fn parse_coordinate(text: &str, what: &str) -> Result<U256, CliError> {
    parse_u256(text).map_err(|e| CliError::bad(format!("{what}: {e}")))
}

/// A 4xx answer is the caller's mistake (exit 2); no answer or a 5xx is a failure (exit 1). The
/// message carries the service's code and message, or the transport error's whole chain.
fn client_error(e: kms_client::Error) -> CliError {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    if e.is_client_error()
        || matches!(
            e,
            kms_client::Error::InvalidUrl(_) | kms_client::Error::InvalidCa(_)
        )
    {
        CliError::BadInput(message)
    } else {
        CliError::Failure(message)
    }
}

pub fn run(args: SignerArgs) -> Result<Value, CliError> {
    let roots = match &args.ca_file {
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|e| CliError::bad(format!("--ca-file {}: {e}", path.display())))?,
        ),
        None => None,
    };
    let salt = match &args.eip712_salt {
        Some(text) => Some(
            crate::parse::hash(text)
                .map_err(|_| CliError::bad("--eip712-salt: 32 bytes as 0x-hex"))?,
        ),
        None => None,
    };
    let client = kms_client::AsyncSignerClient::with_options(
        &args.url,
        args.chain_id,
        kms_client::DEFAULT_TIMEOUT,
        roots.as_deref(),
    )
    .map(|c| c.with_domain_salt(salt))
    .and_then(SignerClient::wrap)
    .map_err(client_error)?;
    let service_chain = args.chain_id;
    // Arguments are checked before the EOA key is loaded (a keystore costs a KDF run).
    match args.command {
        SignerCommand::CreateKey(eoa) => json_of(client.create_key(eoa.load()?.authorizer())),
        SignerCommand::Keys { eoa: Some(eoa) } => {
            json_of(client.get_key(crate::parse::address(&eoa, "--eoa")?))
        }
        SignerCommand::Keys { eoa: None } => json_of(client.list_keys()),
        SignerCommand::Sign {
            eoa,
            message_hash,
            version,
        } => {
            let hash = crate::parse::hash(&message_hash)?;
            json_of(client.sign(eoa.load()?.authorizer(), hash, version.key_version))
        }
        SignerCommand::ScalarMul {
            eoa,
            point_x,
            point_y,
            version,
        } => {
            let x = parse_coordinate(&point_x, "--point-x")?;
            let y = parse_coordinate(&point_y, "--point-y")?;
            json_of(client.scalar_mul(eoa.load()?.authorizer(), x, y, version.key_version))
        }
        SignerCommand::Registration {
            eoa,
            registry,
            contract_chain_id,
            version,
        } => {
            let registry = crate::parse::address(&registry, "--registry")?;
            json_of(client.registration(
                eoa.load()?.authorizer(),
                registry,
                contract_chain_id.unwrap_or(service_chain),
                version.key_version,
            ))
        }
        SignerCommand::KeyRegistration {
            eoa,
            avs,
            operator_set_id,
            registrar,
            contract_chain_id,
            domain_version,
            version,
        } => {
            let avs = crate::parse::address(&avs, "--avs")?;
            let registrar = crate::parse::address(&registrar, "--registrar")?;
            json_of(client.key_registration(
                eoa.load()?.authorizer(),
                avs,
                operator_set_id,
                registrar,
                contract_chain_id.unwrap_or(service_chain),
                &domain_version,
                version.key_version,
            ))
        }
        SignerCommand::Rotate(eoa) => json_of(client.rotate(eoa.load()?.authorizer())),
        SignerCommand::ApiKey(command) => api_key(&client, command),
        SignerCommand::Register {
            eoa,
            rpc_url,
            registry,
            encryption_key,
            node_url,
            version,
        } => {
            let registry = crate::parse::address(&registry, "--registry")?;
            let enc = crate::parse::hash(&encryption_key)
                .map_err(|_| CliError::bad("--encryption-key: 32 bytes as 0x-hex"))?;
            register(
                &client,
                &eoa.key()?,
                &rpc_url,
                registry,
                enc.0,
                &node_url,
                version.key_version,
            )
        }
    }
}

/// The service's answer as the command prints it (the wire JSON, re-serialized from its type), or
/// the typed data that --print-typed-data asked for.
fn json_of<T: serde::Serialize>(answer: Result<T, kms_client::Error>) -> Result<Value, CliError> {
    let answer = match answer {
        Err(kms_client::Error::TypedData(typed)) => return Ok(*typed),
        other => other.map_err(client_error)?,
    };
    serde_json::to_value(answer).map_err(|e| CliError::Failure(format!("the answer: {e}")))
}

fn api_key(client: &SignerClient, command: ApiKeyCommand) -> Result<Value, CliError> {
    match command {
        ApiKeyCommand::Create {
            eoa,
            label,
            scopes,
            expires_in,
            expires_at,
            sources,
            token_file,
        } => {
            let names: Vec<&str> = scopes.iter().map(|s| s.trim()).collect();
            let scopes = kms_api::signer::canonical_scopes(&names)
                .map_err(|e| CliError::bad(format!("--scopes: {e}")))?;
            if expires_in.is_some() && (eoa.print_typed_data || eoa.signature.is_some()) {
                return Err(CliError::bad(
                    "--expires-in would differ between printing and sending: give --expires-at",
                ));
            }
            let expires_at = match (expires_in, expires_at) {
                (Some(secs), _) => kms_api::time::unix_now().saturating_add(secs),
                (None, Some(at)) => at,
                (None, None) => 0,
            };
            let auth = eoa.load()?;
            // The token is made here and never sent: the EOA signs its hash. With
            // --print-typed-data it goes to --token-file now, to be read back with --signature.
            let token = match (&auth, &token_file) {
                (Auth::Signed { .. }, Some(path)) => {
                    Zeroizing::new(read_text(path, "--token-file")?.trim().to_owned())
                }
                (Auth::Signed { .. }, None) => {
                    return Err(CliError::bad(
                        "--signature needs --token-file, the file --print-typed-data wrote",
                    ))
                }
                (Auth::Print { .. }, None) => {
                    return Err(CliError::bad(
                        "--print-typed-data needs --token-file: the token is made now and \
                         kept there until the signed request is sent",
                    ))
                }
                (_, path) => {
                    let token = kms_crypto::auth::new_api_token(&mut rand_core::OsRng);
                    let text = Zeroizing::new(token.expose(|t| t.clone()));
                    if let Some(path) = path {
                        if path.exists() {
                            return Err(CliError::bad(format!(
                                "--token-file {} exists; it is never overwritten",
                                path.display()
                            )));
                        }
                        crate::files::write_new_private(path, text.as_bytes())?;
                    }
                    text
                }
            };
            if !kms_api::signer::is_api_key_token(&token) {
                return Err(CliError::bad("--token-file does not hold an API key token"));
            }
            let hash = kms_crypto::auth::api_token_hash(&token);
            let created = match client.create_api_key(
                auth.authorizer(),
                &label,
                &scopes,
                expires_at,
                &sources,
                hash,
            ) {
                Err(kms_client::Error::TypedData(typed)) => return Ok(*typed),
                other => other.map_err(client_error)?,
            };
            match token_file {
                Some(path) => Ok(serde_json::json!({
                    "api_key": created,
                    "token_file": path.display().to_string(),
                })),
                None => Ok(serde_json::json!({ "api_key": created, "token": token.as_str() })),
            }
        }
        ApiKeyCommand::List(eoa) => json_of(client.list_api_keys(eoa.load()?.authorizer())),
        ApiKeyCommand::Revoke { eoa, id } => {
            json_of(client.revoke_api_key(eoa.load()?.authorizer(), &id))
        }
    }
}

/// `kms signer register`: the service signs KeyRegistrar's message for the registry, the EOA
/// sends it.
fn register(
    client: &SignerClient,
    eoa: &EoaKey,
    rpc_url: &str,
    registry: alloy_primitives::Address,
    encryption_key: [u8; 32],
    node_url: &str,
    key_version: u32,
) -> Result<Value, CliError> {
    let rt = crate::chain::runtime()?;
    let wallet = kms_chain::LocalSigner::from_signing_key(eoa.signing_key().clone());
    let reg = rt
        .block_on(kms_chain::Registry::connect(
            rpc_url,
            registry,
            Some(wallet),
        ))
        .map_err(crate::chain::error)?;
    let done = register_through(
        &rt,
        client,
        eoa,
        &reg,
        encryption_key,
        node_url,
        key_version,
    )?;
    Ok(serde_json::json!({
        "operator": eoa.address().to_checksum(None),
        "registry": registry.to_checksum(None),
        "chain_id": reg.chain_id(),
        "avs": done.avs.to_checksum(None),
        "operator_set_id": done.operator_set_id,
        "transaction": format!("{:#x}", done.transaction),
    }))
}

/// A registration sent on chain.
pub(crate) struct Registered {
    pub avs: alloy_primitives::Address,
    pub operator_set_id: u32,
    pub transaction: alloy_primitives::B256,
}

/// The seed's flow: the service signs KeyRegistrar's message for `reg`'s AVS and operator set
/// with `eoa`'s key, and `reg`'s wallet (the EOA) sends `registerOperator`. Also `kms devnet
/// --chain`'s registration. The blocking client runs outside `rt`, which drives the chain calls.
pub(crate) fn register_through(
    rt: &tokio::runtime::Runtime,
    client: &SignerClient,
    eoa: &EoaKey,
    reg: &kms_chain::Registry,
    encryption_key: [u8; 32],
    node_url: &str,
    key_version: u32,
) -> Result<Registered, CliError> {
    let chain = crate::chain::error;
    let (avs, operator_set_id) = rt.block_on(reg.operator_set()).map_err(chain)?;
    let answer = client
        .key_registration(
            eoa,
            avs,
            operator_set_id,
            reg.address(),
            reg.chain_id(),
            "1",
            key_version,
        )
        .map_err(client_error)?;
    let key_data = hex::decode(answer.key_data.trim_start_matches("0x"))
        .map_err(|_| CliError::Failure("the service's keyData is not hex".into()))?;
    let coordinate = |text: &str| -> Result<[u8; 32], CliError> {
        Ok(parse_coordinate(text, "signature")?.to_be_bytes())
    };
    let signature = [
        coordinate(&answer.signature.x)?,
        coordinate(&answer.signature.y)?,
    ]
    .concat();
    let transaction = rt
        .block_on(reg.register_operator(&key_data, &signature, encryption_key, node_url))
        .map_err(chain)?;
    Ok(Registered {
        avs,
        operator_set_id,
        transaction,
    })
}
