//! A local anvil for devnets and tests: started on a free loopback port (anvil picks it and
//! prints it), stopped on drop. The binary is `$KMS_ANVIL`, else `target/node`'s npm install
//! (what `scripts/test` installs), else `anvil` on PATH.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// anvil's default mnemonic's first accounts ("test test ... junk"): public test keys, funded on
/// every anvil. Never use them anywhere else.
pub const DEV_KEYS: [&str; 10] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

/// A running anvil, killed on drop.
pub struct Anvil {
    child: Child,
    port: u16,
}

/// The anvil binary to run.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("KMS_ANVIL") {
        return PathBuf::from(p);
    }
    let local =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/node/node_modules/.bin/anvil");
    if local.exists() {
        return local;
    }
    PathBuf::from("anvil")
}

impl Anvil {
    /// Starts anvil on 127.0.0.1 with a free port; `extra` arguments are passed on (e.g. a block
    /// time). Waits until it listens.
    pub fn start(extra: &[&str]) -> std::io::Result<Self> {
        Self::start_on(0, extra)
    }

    /// Starts anvil on a given port (0: a free one), e.g. to restart it where it was.
    pub fn start_on(port: u16, extra: &[&str]) -> std::io::Result<Self> {
        let mut command = Command::new(binary());
        command
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        // anvil from npm is a node wrapper around the binary; signals go to both through their
        // own process group, else killing the wrapper leaves the binary running.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command.spawn()?;
        let out = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads anvil's banner for the port, then keeps draining its output so it never blocks.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(p) = line
                        .strip_prefix("Listening on 127.0.0.1:")
                        .and_then(|p| p.trim().parse::<u16>().ok())
                    {
                        let _ = tx.send(p);
                        sent = true;
                    }
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(port) = rx.recv_timeout(Duration::from_millis(100)) {
                return Ok(Self { child, port });
            }
            if let Some(status) = child.try_wait()? {
                return Err(std::io::Error::other(format!(
                    "anvil ({}) exited with {status} before listening",
                    binary().display()
                )));
            }
            if Instant::now() > deadline {
                let mut anvil = Self { child, port: 0 };
                anvil.stop();
                return Err(std::io::Error::other(
                    "anvil did not start listening in 30 s",
                ));
            }
        }
    }

    /// The process id of what was started (with npm's anvil, the wrapper), which is also the id
    /// of its process group.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The port anvil listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its JSON-RPC URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops it with SIGTERM, so that with `--state` it writes its state first, and waits (at
    /// most 10 s, then SIGKILL).
    pub fn terminate(&mut self) {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.stop();
    }

    /// Stops it now (SIGKILL) and waits.
    pub fn stop(&mut self) {
        self.signal("KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends `signal` to anvil's process group: the wrapper and the binary it runs.
    fn signal(&self, signal: &str) {
        let target = if cfg!(unix) {
            format!("-{}", self.child.id())
        } else {
            self.child.id().to_string()
        };
        let _ = Command::new("kill")
            .args(["-s", signal, "--", &target])
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        self.stop();
    }
}
