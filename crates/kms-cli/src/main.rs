//! `kms`: the command-line tool for users and developers of the KMS. It carries the key tools (like
//! `cast`, for this project's formats) and the operator-key service's client commands; the devnet
//! comes later.
//!
//! Output is JSON on stdout; errors go to stderr. Exit codes: 0 success, 2 bad input (arguments,
//! files, points, passwords, and requests a service refused with a 4xx), 1 any other failure.

mod bn254;
mod error;
mod files;
mod json;
mod parse;
mod signer;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "kms",
    version,
    about = "Key management for EigenLayer AVS operators"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// BN254 key tools, EigenLayer-exact (BN254.sol hashToG1, Solidity G2 order).
    #[command(subcommand)]
    Bn254(bn254::Bn254Command),
    /// Client of the operator-key service (kms-signer): keys, signatures, registration, rotation.
    Signer(signer::SignerArgs),
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let result = match cli.command {
        Command::Bn254(cmd) => bn254::run(cmd),
        Command::Signer(args) => signer::run(args),
    };
    match result {
        Ok(value) => println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        ),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(e.exit_code());
        }
    }
}
