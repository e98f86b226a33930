//! The `kms-signer` binary: `serve` runs the service; the other subcommands administer a stopped
//! service's data directory.

use clap::{Args, Parser, Subcommand};
use kms_signer::config::FileConfig;
use kms_store::files::Bn254Source;
use kms_store::KekSource;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "kms-signer",
    version,
    about = "Operator-key service: BN254 keys per EOA, never exposed"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Serve(ServeArgs),
    /// Import an operator's BN254 key for an EOA: a keystore (eigenlayer-cli or EIP-2335 layout)
    /// or a secret key file. Creates the data directory's store if there is none yet.
    Import {
        #[command(flatten)]
        dir: DirArgs,
        /// The operator's EOA.
        #[arg(long)]
        eoa: String,
        #[command(flatten)]
        key: KeySource,
    },
    /// List keys (public parts and version states).
    Keys {
        #[command(flatten)]
        dir: DirArgs,
    },
    /// Audit log tools.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Write a consistent snapshot of the store (keys still sealed under the KEK, the audit log
    /// and its head) to a new file: from the running service over the data directory's admin
    /// socket, or read directly when the service is stopped.
    Backup {
        /// The service's data directory.
        #[arg(long, env = "KMS_SIGNER_DATA_DIR")]
        data_dir: PathBuf,
        /// The snapshot file to create (never overwritten; written 0600).
        #[arg(long)]
        out: PathBuf,
    },
    /// Install a snapshot as the data directory's store (service stopped): the directory must be
    /// empty or hold an older state of the store; the snapshot must open with the KEK and its
    /// audit chain must verify.
    Restore {
        #[command(flatten)]
        dir: DirArgs,
        /// The snapshot `backup` wrote.
        #[arg(long)]
        from: PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the whole hash chain; exit 1 and say where if any record was edited or removed.
    Verify {
        #[command(flatten)]
        dir: DirArgs,
    },
}

/// Where an imported key comes from: a keystore and its password file, or a file holding the
/// secret key as one decimal or 0x-hex integer (reduced mod r, as the key tools read it).
#[derive(Args)]
#[group(required = true, multiple = true)]
struct KeySource {
    /// A BN254 keystore (eigenlayer-cli or EIP-2335 layout).
    #[arg(long, requires = "password_file", conflicts_with = "secret_key_file")]
    keystore: Option<PathBuf>,
    /// The keystore's password (its final line ending is ignored).
    #[arg(long, requires = "keystore")]
    password_file: Option<PathBuf>,
    /// A file holding the secret key: one decimal or 0x-hex integer, reduced mod r.
    #[arg(long)]
    secret_key_file: Option<PathBuf>,
}

impl KeySource {
    fn source(self) -> anyhow::Result<Bn254Source> {
        match (self.keystore, self.password_file, self.secret_key_file) {
            (Some(file), Some(password), None) => Ok(Bn254Source::Keystore { file, password }),
            (None, None, Some(file)) => Ok(Bn254Source::KeyFile(file)),
            _ => anyhow::bail!("give --keystore with --password-file, or --secret-key-file"),
        }
    }
}

#[derive(Args)]
struct DirArgs {
    #[arg(long, env = "KMS_SIGNER_DATA_DIR")]
    data_dir: PathBuf,
    #[arg(
        long,
        env = "KMS_SIGNER_KEK_PASSPHRASE_FILE",
        conflicts_with = "kek_key_file"
    )]
    kek_passphrase_file: Option<PathBuf>,
    #[arg(long, env = "KMS_SIGNER_KEK_KEY_FILE")]
    kek_key_file: Option<PathBuf>,
}

impl DirArgs {
    fn kek(&self) -> anyhow::Result<KekSource> {
        match (&self.kek_passphrase_file, &self.kek_key_file) {
            (Some(p), None) => Ok(KekSource::PassphraseFile(p.clone())),
            (None, Some(k)) => Ok(KekSource::KeyFile(k.clone())),
            _ => anyhow::bail!("give --kek-passphrase-file or --kek-key-file"),
        }
    }
}

#[derive(Args)]
struct ServeArgs {
    /// TOML configuration file; flags and environment variables override it.
    #[arg(long, env = "KMS_SIGNER_CONFIG")]
    config: Option<PathBuf>,
    #[arg(long, env = "KMS_SIGNER_LISTEN")]
    listen: Option<SocketAddr>,
    #[arg(long, env = "KMS_SIGNER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[arg(long, env = "KMS_SIGNER_KEK_PASSPHRASE_FILE")]
    kek_passphrase_file: Option<PathBuf>,
    #[arg(long, env = "KMS_SIGNER_KEK_KEY_FILE")]
    kek_key_file: Option<PathBuf>,
    /// Chain id of the EIP-712 domain requests are signed under.
    #[arg(long, env = "KMS_SIGNER_CHAIN_ID")]
    chain_id: Option<u64>,
    /// The deployment's EIP-712 domain salt (32 bytes, 0x-hex): requests signed for this
    /// deployment are valid at no other.
    #[arg(long, env = "KMS_SIGNER_EIP712_SALT")]
    eip712_salt: Option<String>,
    /// Write the bound address here once listening (use with --listen 127.0.0.1:0).
    #[arg(long, env = "KMS_SIGNER_PORT_FILE")]
    port_file: Option<PathBuf>,
    #[arg(long, env = "KMS_SIGNER_ROTATION_GRACE_SECS")]
    rotation_grace_secs: Option<u64>,
    /// Serve the cerberus-compatible gRPC API on this address too (TLS as the REST API).
    #[arg(long, env = "KMS_SIGNER_GRPC_LISTEN")]
    grpc_listen: Option<SocketAddr>,
    /// Write the gRPC listener's bound address here once listening.
    #[arg(long, env = "KMS_SIGNER_GRPC_PORT_FILE")]
    grpc_port_file: Option<PathBuf>,
    /// PEM certificate chain (leaf first); with --tls-key-file, serve HTTPS only.
    #[arg(long, env = "KMS_SIGNER_TLS_CERT_FILE")]
    tls_cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, RSA or EC) of the --tls-cert-file leaf.
    #[arg(long, env = "KMS_SIGNER_TLS_KEY_FILE")]
    tls_key_file: Option<PathBuf>,
}

fn serve_config(a: ServeArgs) -> anyhow::Result<kms_signer::config::Config> {
    let mut f = match &a.config {
        Some(p) => FileConfig::load(p)?,
        None => FileConfig::default(),
    };
    f.listen = a.listen.or(f.listen);
    f.data_dir = a.data_dir.or(f.data_dir);
    if a.kek_passphrase_file.is_some() || a.kek_key_file.is_some() {
        f.kek_passphrase_file = a.kek_passphrase_file;
        f.kek_key_file = a.kek_key_file;
    }
    f.chain_id = a.chain_id.or(f.chain_id);
    f.eip712_salt = a.eip712_salt.or(f.eip712_salt);
    f.port_file = a.port_file.or(f.port_file);
    f.rotation_grace_secs = a.rotation_grace_secs.or(f.rotation_grace_secs);
    f.tls_cert_file = a.tls_cert_file.or(f.tls_cert_file);
    f.tls_key_file = a.tls_key_file.or(f.tls_key_file);
    f.grpc_listen = a.grpc_listen.or(f.grpc_listen);
    f.grpc_port_file = a.grpc_port_file.or(f.grpc_port_file);
    f.validate()
}

fn main() {
    kms_http::init_tracing();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run(cli.command)) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Serve(a) => kms_signer::serve(serve_config(a)?).await,
        Command::Import { dir, eoa, key } => {
            let eoa: alloy_primitives::Address = eoa
                .parse()
                .map_err(|_| anyhow::anyhow!("--eoa is not an address"))?;
            let sk = key.source()?.load()?;
            let store = kms_signer::admin::open_or_create(&dir.data_dir, &dir.kek()?)?;
            let record = kms_signer::admin::import(store, eoa, &sk).await?;
            print_json(&serde_json::to_value(record)?)
        }
        Command::Keys { dir } => {
            let store = kms_signer::admin::open(&dir.data_dir, &dir.kek()?)?;
            print_json(&serde_json::to_value(kms_signer::admin::list(&store)?)?)
        }
        Command::Backup { data_dir, out } => {
            if out.exists() {
                anyhow::bail!("{} exists; a backup never overwrites a file", out.display());
            }
            // Written as `<out>.partial` and linked to `out` only when complete, so a backup
            // that was killed midway is never mistaken for one.
            let mut partial = out.clone().into_os_string();
            partial.push(".partial");
            let partial = std::path::PathBuf::from(partial);
            let info = match kms_signer::admin_socket::fetch_snapshot(&data_dir, &partial).await? {
                Some(bytes) => {
                    serde_json::json!({ "out": out.display().to_string(), "bytes": bytes, "from": "running service" })
                }
                None => {
                    let db = kms_store::redb::Database::open(data_dir.join(kms_store::DB_FILE))
                        .map_err(|e| {
                            anyhow::anyhow!(
                                "opening the store (no service answered on its admin socket): {e}"
                            )
                        })?;
                    let info = kms_signer::backup::snapshot(&db, &partial)?;
                    serde_json::json!({ "out": out.display().to_string(), "audit_records": info.audit_records, "keys": info.keys, "from": "stopped store" })
                }
            };
            let linked = std::fs::hard_link(&partial, &out);
            let _ = std::fs::remove_file(&partial);
            linked.map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?;
            print_json(&info)
        }
        Command::Restore { dir, from } => {
            let info = kms_signer::backup::restore(&dir.data_dir, &from, &dir.kek()?)?;
            print_json(&serde_json::json!({ "restored": info }))
        }
        Command::Audit(AuditCommand::Verify { dir }) => {
            let store = kms_signer::admin::open(&dir.data_dir, &dir.kek()?)?;
            let n = kms_signer::admin::verify_audit(&store)?;
            print_json(&serde_json::json!({ "records": n, "status": "intact" }))
        }
    }
}

/// Prints a JSON answer; a closed stdout is an error to report, not a panic (as `println!`).
fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string_pretty(value)?)?;
    Ok(out.flush()?)
}
