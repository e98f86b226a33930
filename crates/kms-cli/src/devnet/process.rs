//! The binaries and the child processes: finding and starting them, their logs, stopping them in
//! order.

use super::*;

/// `name` next to the running `kms` (how `cargo build` and `scripts/devnet` lay them out), else on
/// PATH.
pub(crate) fn find_binary(name: &str) -> Result<PathBuf, CliError> {
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(&file)))
        .filter(|p| p.is_file());
    beside.or_else(|| find_on_path(&file)).ok_or_else(|| {
        CliError::Failure(format!(
            "cannot find the {name} binary next to this kms or on PATH; build everything with \
             scripts/devnet (or `cargo build -p kms-node -p kms-signer -p kms-cli`)"
        ))
    })
}

pub(super) fn find_on_path(file: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(file))
        .find(|p| p.is_file())
}

pub(super) struct Proc {
    pub(super) name: String,
    pub(super) child: Child,
    pub(super) log: PathBuf,
    /// Set once the child has been reaped.
    pub(super) status: Option<ExitStatus>,
}

/// The devnet's children; stopped when dropped, so an error path never leaves them running.
#[derive(Default)]
pub(crate) struct Fleet {
    pub(super) procs: Vec<Proc>,
}

impl Fleet {
    /// Starts `bin args` in `cwd`, its own process group, output appended to `log`.
    pub(super) fn spawn(
        &mut self,
        name: &str,
        bin: &Path,
        args: &[OsString],
        cwd: &Path,
        log: &Path,
    ) -> Result<(), CliError> {
        let open_log = || {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .map_err(|e| CliError::Failure(format!("cannot open {}: {e}", log.display())))
        };
        let mut out = open_log()?;
        // A marker between runs, as the log is appended to.
        let _ = writeln!(
            out,
            "{LOG_MARKER} {} (unix time {}) ---",
            bin.display(),
            unix_now()
        );
        let child = Command::new(bin)
            .args(args)
            .current_dir(cwd)
            // The output goes to a file: no terminal colour codes in it.
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(open_log()?)
            .process_group(0)
            .spawn()
            .map_err(|e| CliError::Failure(format!("cannot start {}: {e}", bin.display())))?;
        self.procs.push(Proc {
            name: name.into(),
            child,
            log: log.into(),
            status: None,
        });
        Ok(())
    }

    /// The process ids of the children not known to have exited.
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.procs
            .iter()
            .filter(|p| p.status.is_none())
            .map(|p| p.child.id())
            .collect()
    }

    /// The first child found to have exited since the last call: its name, status and log.
    pub(crate) fn exited(&mut self) -> Option<(String, ExitStatus, PathBuf)> {
        self.procs.iter_mut().find_map(|p| {
            if p.status.is_some() {
                return None;
            }
            let status = p.child.try_wait().ok().flatten()?;
            p.status = Some(status);
            Some((p.name.clone(), status, p.log.clone()))
        })
    }

    /// SIGTERM to every child still running, then waits; SIGKILL after [`STOP_GRACE`], or at once
    /// on another signal.
    pub(crate) fn stop(&mut self, signals: Option<&Receiver<&'static str>>) {
        let running: Vec<&mut Proc> = self
            .procs
            .iter_mut()
            .filter(|p| p.status.is_none())
            .collect();
        if running.is_empty() {
            return;
        }
        say_err(&format!("stopping {} processes", running.len()));
        for p in &running {
            let sent = Command::new("kill")
                .args(["-TERM", &p.child.id().to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if !matches!(sent, Ok(s) if s.success()) {
                say_err(&format!("{}: could not send SIGTERM", p.name));
            }
        }
        let deadline = Instant::now() + STOP_GRACE;
        let mut running = running;
        while !running.is_empty() {
            running.retain_mut(|p| match p.child.try_wait() {
                Ok(Some(status)) => {
                    p.status = Some(status);
                    false
                }
                Ok(None) => true,
                Err(_) => false,
            });
            let hurried = signals.is_some_and(|s| s.try_recv().is_ok());
            if running.is_empty() {
                break;
            }
            if hurried || Instant::now() >= deadline {
                for p in &mut running {
                    say_err(&format!("{} did not stop; killing it", p.name));
                    let _ = p.child.kill();
                    p.status = p.child.wait().ok();
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Starts `kms-node serve` for nodes 1..=`nodes` of the cluster in `root` (an absolute path), each
/// in its directory with its log there.
pub(crate) fn start_nodes(
    fleet: &mut Fleet,
    node_bin: &Path,
    root: &Path,
    nodes: u32,
) -> Result<(), CliError> {
    for i in 1..=nodes {
        let dir = root.join(node_dir_name(i));
        // A port file from an earlier run would name the right port, but only a fresh one means
        // the node is listening.
        remove_if_present(&dir.join("port"))?;
        let config = dir.join("node.toml");
        fleet.spawn(
            &node_dir_name(i),
            node_bin,
            &["serve".into(), "--config".into(), config.into_os_string()],
            &dir,
            &dir.join("node.log"),
        )?;
    }
    Ok(())
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop(None);
    }
}

/// The last lines of a log, read from its end (logs grow for as long as the devnet runs).
pub(super) fn log_tail(path: &Path, lines: usize) -> String {
    let read = || -> std::io::Result<Vec<u8>> {
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(32 * 1024)))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(buf)
    };
    match read() {
        Ok(buf) => {
            let text = String::from_utf8_lossy(&buf);
            let all: Vec<&str> = text.lines().collect();
            // Only this run's lines: earlier runs' end before the last start marker.
            let run_start = all
                .iter()
                .rposition(|l| l.starts_with(LOG_MARKER))
                .unwrap_or(0);
            let skip = all.len().saturating_sub(lines).max(run_start);
            all.iter()
                .skip(skip)
                .map(|l| format!("  | {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        }
        Err(e) => format!("  (cannot read {}: {e})", path.display()),
    }
}

pub(crate) fn exited_error(name: &str, status: ExitStatus, log: &Path) -> CliError {
    CliError::Failure(format!(
        "{name} exited on its own ({status}); the last lines of {}:\n{}",
        log.display(),
        log_tail(log, LOG_TAIL_LINES)
    ))
}
