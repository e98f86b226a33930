//! What the process and client tests share, so that each is written once: the service binaries
//! a test spawns, built from the current sources ([`service_binaries`]), and a minimal HTTP/1.1
//! server on 127.0.0.1:0 that plays a service ([`FakeServer`]). A dev-dependency only.
// Test support: a failure here is the test's failure, reported with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::SystemTime;

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Newest modification time of the files under `path`.
fn newest(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_file() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| newest(&e.path()))
        .max()
}

/// True when `bin` exists and is newer than every workspace source and manifest (a superset of
/// what it is built from; a needless build is a quick no-op for cargo).
fn is_fresh(bin: &Path) -> bool {
    let Some(built) = std::fs::metadata(bin).and_then(|m| m.modified()).ok() else {
        return false;
    };
    let root = workspace_root();
    [
        root.join("Cargo.toml"),
        root.join("Cargo.lock"),
        root.join("crates"),
    ]
    .iter()
    .filter_map(|p| newest(p))
    .all(|changed| changed <= built)
}

/// The binaries `names` (each its package's name) beside `test_exe` (a binary cargo built for
/// this test, e.g. `env!("CARGO_BIN_EXE_kms")`), built from the current sources first when one
/// is missing or older than them. Cargo builds another package's binaries for a test only with
/// unstable artifact dependencies, hence the `cargo build`, with the test's own profile and
/// target directory so the libraries already built are reused.
pub fn service_binaries(test_exe: &Path, names: &[&str]) -> Vec<PathBuf> {
    let bins: Vec<PathBuf> = names
        .iter()
        .map(|name| test_exe.with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
        .collect();
    if !bins.iter().all(|b| is_fresh(b)) {
        let profile_dir = test_exe.parent().expect("the test binary's directory");
        let target_dir = profile_dir.parent().expect("the target directory");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace_root()).arg("build");
        for name in names {
            cmd.args(["-p", name, "--bin", name]);
        }
        cmd.arg("--target-dir").arg(target_dir);
        // `cargo test` builds into target/debug with the test profile.
        match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => cmd.args(["--profile", "test"]),
            Some("release") => cmd.arg("--release"),
            Some(other) => cmd.args(["--profile", other]),
            None => &mut cmd,
        };
        let status = cmd.status().expect("running cargo build");
        assert!(status.success(), "cargo build of {names:?} failed");
    }
    for bin in &bins {
        assert!(bin.exists(), "{} was not built", bin.display());
    }
    bins
}

/// A request as the fake server received it.
#[derive(Clone, Debug)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target, e.g. `/v1/mpk`.
    pub path: String,
    /// The body (`content-length` bytes).
    pub body: Vec<u8>,
}

/// What the fake server answers: an HTTP status and a JSON body.
pub type Reply = (u16, String);

/// An HTTP/1.1 server on 127.0.0.1:0 that answers every request with `handler`, one thread a
/// connection; it runs until the test process ends.
pub struct FakeServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl FakeServer {
    /// Starts serving; every request gets `handler`'s reply.
    pub fn start(handler: impl Fn(Request) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handler = Arc::new(handler);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let handler = handler.clone();
                std::thread::spawn(move || {
                    let Some(request) = read_request(&stream) else {
                        return;
                    };
                    let (status, answer) = handler(request);
                    let mut stream = stream;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{answer}",
                        answer.len()
                    );
                });
            }
        });
        Self { url }
    }
}

/// Reads one request (request line, headers, a `content-length` body); None on a broken one.
fn read_request(stream: &std::net::TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut len = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        if header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                len = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request { method, path, body })
}

/// Waits until `child` (a service started with `--port-file`/`port_file` on port 0) has written
/// the address it listens on into `port_file`, and returns it. Panics with the service's log
/// when it exits first or does not start within `timeout`.
pub fn wait_for_port(
    child: &mut std::process::Child,
    port_file: &Path,
    log: &Path,
    timeout: std::time::Duration,
) -> std::net::SocketAddr {
    let started = std::time::Instant::now();
    let log_text = || std::fs::read_to_string(log).unwrap_or_default();
    loop {
        // The services write the file whole (renamed into place), so any text read is complete.
        if let Ok(text) = std::fs::read_to_string(port_file) {
            return text
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("{} holds {text:?}", port_file.display()));
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the service exited at start ({status}):\n{}", log_text());
        }
        assert!(
            started.elapsed() < timeout,
            "the service did not start within {timeout:?}:\n{}",
            log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
