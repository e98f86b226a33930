//! `kms`: the command-line tool for users and developers of the KMS. It carries the key tools (like
//! `cast`, for this project's formats), the services' client commands, and `kms devnet`, which runs
//! a local network.
//!
//! Output is JSON on stdout; errors go to stderr. Exit codes: 0 success, 2 bad input (arguments,
//! files, points, passwords, and requests a service refused with a 4xx), 1 any other failure.

mod app;
mod bench;
mod bn254;
mod chain;
mod devnet;
mod error;
mod files;
mod json;
mod node;
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
    /// Run a local network: N kms-node processes and a kms-signer under --dir (created on the
    /// first run, resumed after); Ctrl-C stops them.
    Devnet(devnet::DevnetArgs),
    /// Encrypt a file to an app id under the threshold network's agreed master public key.
    Encrypt(node::EncryptArgs),
    /// Decrypt a file from the nodes' partial signatures, as the app's owner or with TEE evidence
    /// bound to a session (`kms attest-session`).
    Decrypt(node::DecryptArgs),
    /// An app's release policy in the registry (chain mode): show, set-release, cancel-release.
    #[command(subcommand)]
    App(app::AppCommand),
    /// Start an attested decrypt: make a session and print the binding (the nonce) its TEE
    /// evidence must carry.
    AttestSession(node::AttestSessionArgs),
    /// List who obtained an app's partials and when, from every node's release log (each log
    /// checked as a hash chain).
    Releases(node::ReleasesArgs),
    /// Show the threshold network's nodes: epochs, rounds, who is up (a table, or --json).
    Status(node::StatusArgs),
    /// Measure the threshold network on fresh local devnets: DKG and reshare times, decrypt
    /// latency and throughput against the client-side crypto floor, with the goals.
    Bench(bench::BenchArgs),
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
        // Long-running, prints text rather than one JSON value, and exits by itself.
        Command::Devnet(args) => devnet::main(args),
        Command::Encrypt(args) => node::encrypt(args),
        Command::Decrypt(args) => node::decrypt(args),
        Command::AttestSession(args) => node::attest_session(args),
        Command::App(cmd) => app::run(cmd),
        // Prints a table (or JSON) and exits by itself.
        Command::Status(args) => node::status_main(args),
        // Prints JSON and exits by itself (1 when a log does not check out).
        Command::Releases(args) => node::releases_main(args),
        // Long-running, prints a table (or JSON) and exits by itself.
        Command::Bench(args) => bench::main(args),
    };
    match result {
        Ok(value) => print_line(&serde_json::to_string_pretty(&value).unwrap_or_default()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(e.exit_code());
        }
    }
}

/// A line on stdout. A closed stdout (`kms ... | head`) is the reader's choice, not an error
/// worth a panic, which `println!` would raise.
pub(crate) fn print_line(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}
