//! TLS: the real `kms-signer` binary serving HTTPS with a certificate made at test time.
#![cfg(test)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_kms-signer")
}

/// A self-signed certificate for localhost and 127.0.0.1, written as PEM files in `dir`.
struct Cert {
    der: rustls::pki_types::CertificateDer<'static>,
    pem: String,
    cert_file: PathBuf,
    key_file: PathBuf,
}

impl Cert {
    fn new(dir: &Path, name: &str) -> Cert {
        let made = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .unwrap();
        let cert_file = dir.join(format!("{name}.crt"));
        let key_file = dir.join(format!("{name}.key"));
        std::fs::write(&cert_file, made.cert.pem()).unwrap();
        std::fs::write(&key_file, made.signing_key.serialize_pem()).unwrap();
        Cert {
            der: made.cert.der().clone(),
            pem: made.cert.pem(),
            cert_file,
            key_file,
        }
    }
}

/// The `serve` command line for a fresh data directory in `dir`.
fn serve_cmd(dir: &Path) -> Command {
    let pass = dir.join("kek.pass");
    std::fs::write(&pass, "test passphrase\n").unwrap();
    let mut cmd = Command::new(bin());
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--kek-passphrase-file")
        .arg(&pass)
        .arg("--port-file")
        .arg(dir.join("port"))
        .env_remove("KMS_SIGNER_TLS_CERT_FILE")
        .env_remove("KMS_SIGNER_TLS_KEY_FILE")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null());
    cmd
}

struct Server {
    child: Child,
    addr: String,
    port: u16,
    log: PathBuf,
}

impl Server {
    fn start(dir: &Path, cert: &Cert) -> Server {
        let log = dir.join("signer.log");
        let child = serve_cmd(dir)
            .arg("--tls-cert-file")
            .arg(&cert.cert_file)
            .arg("--tls-key-file")
            .arg(&cert.key_file)
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let addr = loop {
            if let Ok(a) = std::fs::read_to_string(dir.join("port")) {
                break a;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "signer did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let port = addr.rsplit(':').next().unwrap().parse().unwrap();
        Server {
            child,
            addr,
            port,
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn assert_running(&mut self) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "signer exited: {}",
            self.log()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits up to a minute for `child` to exit.
fn wait_exit(child: &mut Child) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("kms-signer did not exit within a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn trusting_client(cert: &Cert) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A client that speaks TLS 1.2 and nothing newer.
fn tls12_client(cert: &Cert) -> reqwest::blocking::Client {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::blocking::Client::builder()
        .use_preconfigured_tls(config)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn healthz(client: &reqwest::blocking::Client, url: &str) -> Result<u16, String> {
    client
        .get(format!("{url}/healthz"))
        .send()
        .map(|r| r.status().as_u16())
        .map_err(|e| error_chain(&e))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Reads until the server closes the connection (or resets it); panics if it stays open.
fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Vec<u8> {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("connection still open after {within:?} ({e}); read {got:?}"),
        }
    }
}

#[test]
fn https_works_and_plain_http_and_untrusted_clients_fail() {
    let dir = tempfile::tempdir().unwrap();
    let cert = Cert::new(dir.path(), "server");
    let mut server = Server::start(dir.path(), &cert);
    let client = trusting_client(&cert);

    // Both names in the certificate work.
    assert_eq!(
        healthz(&client, &format!("https://{}", server.addr)),
        Ok(200)
    );
    assert_eq!(
        healthz(&client, &format!("https://localhost:{}", server.port)),
        Ok(200)
    );
    // TLS 1.2 is accepted too.
    assert_eq!(
        healthz(&tls12_client(&cert), &format!("https://{}", server.addr)),
        Ok(200)
    );

    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let r = healthz(&plain, &format!("http://{}", server.addr));
    assert!(r.is_err(), "plain http answered: {r:?}");

    // A client that does not trust the certificate refuses it.
    let r = healthz(&plain, &format!("https://{}", server.addr));
    let err = r.expect_err("an untrusting client connected");
    assert!(err.contains("certificate"), "{err}");
    // A client that trusts another certificate refuses it too.
    let other = Cert::new(dir.path(), "other");
    let r = healthz(
        &trusting_client(&other),
        &format!("https://{}", server.addr),
    );
    assert!(r.is_err(), "{r:?}");

    server.assert_running();
    assert_eq!(
        healthz(&client, &format!("https://{}", server.addr)),
        Ok(200)
    );
    assert!(server.log().contains("TLS handshake failed"));
}

#[test]
fn bad_handshakes_do_not_stall_or_stop_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let cert = Cert::new(dir.path(), "server");
    let mut server = Server::start(dir.path(), &cert);
    let client = trusting_client(&cert);
    let url = format!("https://{}", server.addr);

    // Connections that never finish a handshake: one silent, one with half a record header.
    let mut silent = TcpStream::connect(&server.addr).unwrap();
    let mut partial = TcpStream::connect(&server.addr).unwrap();
    partial.write_all(&[0x16, 0x03]).unwrap();

    // Garbage that is not TLS at all, and a TLS record holding nonsense.
    for junk in [
        b"\x00\x01\x02\x03 not a handshake \xff\xfe\r\n\r\n".to_vec(),
        [&[0x16, 0x03, 0x01, 0x00, 0x10][..], &[0xAB; 16]].concat(),
    ] {
        let mut raw = TcpStream::connect(&server.addr).unwrap();
        raw.write_all(&junk).unwrap();
        read_until_closed(&mut raw, Duration::from_secs(20));
    }

    // A TLS 1.1 ClientHello is refused with a protocol_version alert.
    let mut body = vec![0x03, 0x02]; // client_version TLS 1.1
    body.extend_from_slice(&[0x42; 32]); // random
    body.push(0); // no session id
    body.extend_from_slice(&[0x00, 0x04, 0x00, 0x2f, 0x00, 0x35]); // two TLS 1.1 suites
    body.extend_from_slice(&[0x01, 0x00]); // null compression
                                           // signature_algorithms: ecdsa_secp256r1_sha256 (rustls wants the extension first).
    body.extend_from_slice(&[0x00, 0x08, 0x00, 0x0d, 0x00, 0x04, 0x00, 0x02, 0x04, 0x03]);
    let mut hello = vec![0x01, 0x00, 0x00, body.len() as u8];
    hello.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, hello.len() as u8];
    record.extend_from_slice(&hello);
    let mut old = TcpStream::connect(&server.addr).unwrap();
    old.write_all(&record).unwrap();
    let answer = read_until_closed(&mut old, Duration::from_secs(20));
    assert!(answer.len() >= 7, "{answer:?}");
    assert_eq!(answer[0], 0x15, "expected an alert record: {answer:?}");
    assert_eq!(answer[6], 70, "expected protocol_version: {answer:?}");

    // Meanwhile good clients are served, the stuck handshakes notwithstanding.
    let started = Instant::now();
    for _ in 0..5 {
        assert_eq!(healthz(&client, &url), Ok(200));
    }
    // Under the 10 s handshake timeout: nobody waited for the stuck handshakes.
    assert!(started.elapsed() < Duration::from_secs(8));
    server.assert_running();

    // The stuck handshakes are cut off after the handshake timeout.
    read_until_closed(&mut silent, Duration::from_secs(30));
    read_until_closed(&mut partial, Duration::from_secs(30));
    server.assert_running();
    assert_eq!(healthz(&client, &url), Ok(200));
    assert!(server.log().contains("TLS handshake timed out"));
}

#[cfg(unix)]
#[test]
fn sigterm_stops_a_tls_server_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let cert = Cert::new(dir.path(), "server");
    let mut server = Server::start(dir.path(), &cert);
    let client = trusting_client(&cert);
    assert_eq!(
        healthz(&client, &format!("https://{}", server.addr)),
        Ok(200)
    );
    // A handshake in progress does not hold up shutdown.
    let _stuck = TcpStream::connect(&server.addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let kill = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let started = Instant::now();
    let status = wait_exit(&mut server.child);
    assert!(status.success(), "{status:?}: {}", server.log());
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(
        server.log().contains("kms-signer stopped"),
        "{}",
        server.log()
    );
}

/// Runs `serve` with TLS files that are expected to be refused; returns stderr.
fn refused(dir: &Path, cert_file: Option<&Path>, key_file: Option<&Path>, env: bool) -> String {
    let mut cmd = serve_cmd(dir);
    if env {
        if let Some(c) = cert_file {
            cmd.env("KMS_SIGNER_TLS_CERT_FILE", c);
        }
        if let Some(k) = key_file {
            cmd.env("KMS_SIGNER_TLS_KEY_FILE", k);
        }
    } else {
        if let Some(c) = cert_file {
            cmd.arg("--tls-cert-file").arg(c);
        }
        if let Some(k) = key_file {
            cmd.arg("--tls-key-file").arg(k);
        }
    }
    let log = dir.join("refused.log");
    let mut child = cmd
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child);
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!dir.join("port").exists(), "port file written: {stderr}");
    stderr
}

#[test]
fn bad_certificates_and_keys_stop_startup_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = Cert::new(d, "a");
    let b = Cert::new(d, "b");

    // A key that belongs to another certificate, given through the environment.
    let err = refused(d, Some(&a.cert_file), Some(&b.key_file), true);
    assert!(err.contains("does not match the certificate"), "{err}");

    let garbage = d.join("garbage.pem");
    std::fs::write(&garbage, "this is not PEM\n").unwrap();
    let err = refused(d, Some(&a.cert_file), Some(&garbage), false);
    assert!(err.contains("holds no unencrypted private key"), "{err}");
    let err = refused(d, Some(&garbage), Some(&a.key_file), false);
    assert!(err.contains("holds no CERTIFICATE"), "{err}");

    // A key cut off in the middle.
    let key = std::fs::read_to_string(&a.key_file).unwrap();
    let cut = d.join("cut.key");
    std::fs::write(&cut, &key[..key.len() / 2]).unwrap();
    let err = refused(d, Some(&a.cert_file), Some(&cut), false);
    assert!(err.contains("is not valid PEM"), "{err}");

    // A certificate file where the key should be.
    let err = refused(d, Some(&a.cert_file), Some(&a.cert_file), false);
    assert!(err.contains("holds no unencrypted private key"), "{err}");

    let missing = d.join("missing.pem");
    let err = refused(d, Some(&missing), Some(&a.key_file), false);
    assert!(err.contains("reading TLS certificate"), "{err}");
    let err = refused(d, Some(&a.cert_file), Some(&missing), false);
    assert!(err.contains("reading TLS key"), "{err}");

    let err = refused(d, Some(&a.cert_file), None, false);
    assert!(err.contains("TLS needs both"), "{err}");
}
