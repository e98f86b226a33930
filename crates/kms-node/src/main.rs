//! The `kms-node` binary: `serve` runs one operator's node; `keygen` writes a new operator's key
//! files and prints the public half of its operator-file entry.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use kms_crypto::bn254;
use kms_crypto::seal::EncryptionKey;
use rand_core::{OsRng, RngCore};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "kms-node",
    version,
    about = "Threshold network node: DKG, reshare, app partial signatures"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the node.
    Serve {
        /// The node's TOML configuration (docs/0008-node.md).
        #[arg(long, env = "KMS_NODE_CONFIG")]
        config: PathBuf,
    },
    /// Write bn254.key, encryption.key and kek.key (mode 0600) into DIR, refusing to overwrite,
    /// and print the public keys for the operator file.
    Keygen {
        #[arg(long)]
        dir: PathBuf,
    },
}

fn main() {
    kms_http::init_tracing();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { config } => serve(&config),
        Command::Keygen { dir } => keygen(&dir),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn serve(config: &Path) -> anyhow::Result<()> {
    let cfg = kms_node::config::Config::load(config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(kms_node::serve(cfg))
}

/// A new key file: mode 0600, never overwriting (`kms_store::files`).
fn write_secret_file(path: &Path, content: &[u8]) -> anyhow::Result<()> {
    Ok(kms_store::files::write_new_private(path, content)?)
}

fn keygen(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for name in ["bn254.key", "encryption.key", "kek.key"] {
        if dir.join(name).exists() {
            bail!("{} exists; not overwriting a key", dir.join(name).display());
        }
    }
    let sk = bn254::SecretKey::random(&mut OsRng);
    let enc = EncryptionKey::random(&mut OsRng);
    let mut kek = zeroize::Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(kek.as_mut());
    sk.to_decimal()
        .expose(|d| write_secret_file(&dir.join("bn254.key"), d.as_bytes()))?;
    enc.to_bytes()
        .expose(|b| write_secret_file(&dir.join("encryption.key"), hex::encode(b).as_bytes()))?;
    write_secret_file(&dir.join("kek.key"), hex::encode(kek.as_ref()).as_bytes())?;
    let g1 = sk.public_g1();
    let (x, y) = sk.public_g2().to_dec();
    let answer = serde_json::json!({
        "bn254_g1": { "x": g1.x_dec(), "y": g1.y_dec() },
        "bn254_g2": { "x": x, "y": y },
        "encryption_key": format!("0x{}", hex::encode(enc.public().to_bytes())),
    });
    // A closed stdout is an error to report, not a panic (as `println!`).
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
    Ok(out.flush()?)
}
