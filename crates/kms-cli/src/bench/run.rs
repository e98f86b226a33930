//! The run: a fresh network per size, genesis, reshares, decryption.

use super::*;

/// The directory the devnets live in; a temporary one is removed when dropped unless kept.
pub(super) struct WorkDir {
    pub(super) path: PathBuf,
    pub(super) remove: bool,
}

impl WorkDir {
    pub(super) fn new(given: Option<&Path>) -> Result<Self, CliError> {
        if let Some(path) = given {
            return Ok(Self {
                path: path.to_path_buf(),
                remove: false,
            });
        }
        let name = format!("kms-bench-{}-{:08x}", std::process::id(), OsRng.next_u32());
        let path = std::env::temp_dir().join(name);
        // Not recursive: the name must be new. 0700: the devnets hold keys.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| CliError::Failure(format!("cannot create {}: {e}", path.display())))?;
        Ok(Self { path, remove: true })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.remove {
            if let Err(e) = std::fs::remove_dir_all(&self.path) {
                eprintln!("cannot remove {}: {e}", self.path.display());
            }
        }
    }
}

/// What every step needs: the arguments, the node binary, the signals and the clock.
pub(super) struct Ctx<'a> {
    pub(super) args: &'a BenchArgs,
    pub(super) node_bin: PathBuf,
    pub(super) signals: Receiver<&'static str>,
    pub(super) started: Instant,
    /// A signal stopped the run (the work directory is then removed even though it failed).
    pub(super) interrupted: AtomicBool,
}

impl Ctx<'_> {
    /// A progress line on stderr.
    pub(super) fn say(&self, line: &str) {
        let stamp = devnet::elapsed(self.started.elapsed());
        let _ = writeln!(std::io::stderr().lock(), "[{stamp}] {line}");
    }

    pub(super) fn stop_error(&self, name: &str) -> CliError {
        self.interrupted.store(true, Ordering::Relaxed);
        CliError::Failure(format!("{name} received; stopped the benchmark"))
    }

    /// An error when a signal came or a node exited on its own.
    pub(super) fn check(&self, fleet: &mut Fleet) -> Result<(), CliError> {
        match self.signals.try_recv() {
            Ok(name) => return Err(self.stop_error(name)),
            Err(TryRecvError::Disconnected) => return Err(self.stop_error("signal watcher gone")),
            Err(TryRecvError::Empty) => {}
        }
        if let Some((name, status, log)) = fleet.exited() {
            return Err(devnet::exited_error(&name, status, &log));
        }
        Ok(())
    }

    /// Waits `d`, or less when a signal comes (then an error).
    pub(super) fn pause(&self, d: Duration) -> Result<(), CliError> {
        match self.signals.recv_timeout(d) {
            Ok(name) => Err(self.stop_error(name)),
            Err(RecvTimeoutError::Timeout) => Ok(()),
            Err(RecvTimeoutError::Disconnected) => Err(self.stop_error("signal watcher gone")),
        }
    }
}

pub(super) fn run(args: &BenchArgs) -> Result<Report, CliError> {
    let Some(first) = args.nodes.first().copied() else {
        return Err(CliError::bad("--nodes needs at least one size"));
    };
    for (i, n) in args.nodes.iter().enumerate() {
        if args.nodes.iter().skip(i + 1).any(|m| m == n) {
            return Err(CliError::bad(format!("--nodes lists {n} twice")));
        }
    }
    let node_bin = devnet::find_binary("kms-node")?;
    let ctx = Ctx {
        args,
        node_bin,
        signals: devnet::watch_signals()?,
        started: Instant::now(),
        interrupted: AtomicBool::new(false),
    };
    let mut work = WorkDir::new(args.dir.as_deref())?;
    match run_in(&ctx, &work.path, first) {
        Ok(report) => Ok(report),
        Err(e) if !work.remove || ctx.interrupted.load(Ordering::Relaxed) => Err(e),
        Err(e) => {
            // The nodes' logs are what explains a failure: keep them.
            work.remove = false;
            Err(CliError::Failure(format!(
                "{e}\n(the devnets and their node logs are kept in {})",
                work.path.display()
            )))
        }
    }
}

pub(super) fn run_in(ctx: &Ctx, root: &Path, first: u32) -> Result<Report, CliError> {
    let args = ctx.args;
    let mut networks = Vec::new();
    let mut decrypt = None;
    for n in &args.nodes {
        let (figures, d) = measure(ctx, &root.join(format!("nodes-{n}")), *n, *n == first)?;
        networks.push(figures);
        decrypt = decrypt.or(d);
    }
    let (decrypt, floor) =
        decrypt.ok_or_else(|| CliError::Failure("the decrypt benchmarks did not run".into()))?;
    let goals = goals(&networks, &decrypt, &floor);
    Ok(Report {
        settings: Settings {
            nodes: args.nodes.clone(),
            interval_secs: args.interval,
            decrypts: args.decrypts,
            seconds: args.seconds,
            concurrency: args.concurrency,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            build: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
        },
        networks,
        decrypt,
        floor,
        goals,
    })
}

pub(super) type DecryptResult = (DecryptFigures, FloorFigures);

/// One network size: a fresh devnet, genesis, three reshares, and the decrypt benchmarks when
/// `with_decrypt`. The nodes are stopped before it returns, whatever happened.
pub(super) fn measure(
    ctx: &Ctx,
    dir: &Path,
    n: u32,
    with_decrypt: bool,
) -> Result<(NetworkFigures, Option<DecryptResult>), CliError> {
    let interval = ctx.args.interval;
    ctx.say(&format!(
        "{n} nodes: creating a devnet in {}",
        dir.display()
    ));
    let cluster = devnet::prepare(dir, Some(n), Some(interval), None)?;
    if !cluster.created {
        return Err(CliError::bad(format!(
            "{} already holds a devnet, and kms bench needs a fresh one (genesis is measured): \
             remove it or choose another --dir",
            dir.display()
        )));
    }
    let root = std::fs::canonicalize(dir)
        .map_err(|e| CliError::Failure(format!("cannot resolve {}: {e}", dir.display())))?;
    let urls: Vec<String> = cluster
        .manifest
        .ports
        .iter()
        .map(|p| devnet::local_url(*p))
        .collect();
    let status_client =
        NodeClient::with_options(&urls, STATUS_TIMEOUT, None).map_err(client_error)?;
    let mut fleet = Fleet::default();
    devnet::start_nodes(&mut fleet, &ctx.node_bin, &root, n)?;
    let mut log = RoundLog::new(urls.len());
    let result = (|| {
        let (genesis, threshold) = wait_genesis(ctx, &mut fleet, &status_client, &mut log)?;
        let reshares = wait_reshares(ctx, &mut fleet, &status_client, &mut log, genesis.epoch)?;
        let genesis_epoch = genesis.epoch;
        let last = reshares.last().map_or(genesis_epoch, |r| r.epoch);
        let per_round: Vec<f64> = reshares.iter().map(|r| r.max_ms).collect();
        let over = Summary::of(&per_round)
            .ok_or_else(|| CliError::Failure("no reshare was measured".into()))?;
        let figures = NetworkFigures {
            nodes: n,
            threshold,
            genesis,
            reshares,
            reshare_median_ms: over.p50,
            reshare_max_ms: over.max,
            failed_dkg_rounds: log.failed_rounds(genesis_epoch),
            failed_reshare_rounds: log
                .failed_rounds(last)
                .saturating_sub(log.failed_rounds(genesis_epoch)),
        };
        let decrypt = if with_decrypt {
            let owner_key = dir.join(devnet::OWNER_KEY);
            let app = &cluster.manifest.demo_app;
            Some(bench_decrypt(
                ctx, &mut fleet, &urls, &owner_key, app, threshold,
            )?)
        } else {
            None
        };
        Ok((figures, decrypt))
    })();
    ctx.say(&format!("{n} nodes: stopping"));
    fleet.stop(Some(&ctx.signals));
    result
}

/// Reads every node's status (None for a node that does not answer) and records the rounds.
pub(super) fn poll(
    ctx: &Ctx,
    fleet: &mut Fleet,
    client: &NodeClient,
    log: &mut RoundLog,
) -> Result<Vec<Option<NodeStatus>>, CliError> {
    ctx.check(fleet)?;
    let statuses: Vec<Option<NodeStatus>> =
        client.status().into_iter().map(|r| r.status.ok()).collect();
    log.record(&statuses);
    Ok(statuses)
}

/// The progress line `kms devnet` shows.
pub(super) fn progress(statuses: &[Option<NodeStatus>]) -> String {
    let views: Vec<Option<NodeView>> = statuses
        .iter()
        .map(|s| s.as_ref().map(NodeView::from))
        .collect();
    devnet::progress_line(&views, None)
}

/// Waits until every node holds an epoch, then for their reports of the round that made it.
/// Returns the genesis round's figures and the threshold.
pub(super) fn wait_genesis(
    ctx: &Ctx,
    fleet: &mut Fleet,
    client: &NodeClient,
    log: &mut RoundLog,
) -> Result<(RoundFigures, usize), CliError> {
    let n = client.urls().len();
    let interval = ctx.args.interval;
    ctx.say(&format!(
        "{n} nodes: waiting for genesis (the DKG starts at the next {interval} s boundary)"
    ));
    // The DKG waits for a boundary and may need a retry round or two, as in `kms devnet`.
    let limit = Duration::from_secs(interval.saturating_mul(5).saturating_add(60));
    let deadline = Instant::now() + limit;
    let mut last = String::new();
    let (epoch, threshold) = loop {
        let statuses = poll(ctx, fleet, client, log)?;
        let line = progress(&statuses);
        if line != last {
            ctx.say(&format!("{n} nodes: {line}"));
            last = line;
        }
        let held: Option<Vec<u64>> = statuses.iter().map(|s| s.as_ref()?.epoch).collect();
        if let Some(epoch) = held.and_then(|h| h.into_iter().min()) {
            let threshold = statuses
                .iter()
                .flatten()
                .find_map(|s| s.threshold)
                .and_then(|t| usize::try_from(t).ok())
                .unwrap_or_else(|| threshold_for(n));
            break (epoch, threshold);
        }
        if Instant::now() >= deadline {
            return Err(CliError::Failure(format!(
                "the {n} nodes did not all reach an epoch within {} s (last: {last})",
                limit.as_secs()
            )));
        }
        ctx.pause(POLL)?;
    };
    let settle = Instant::now() + SETTLE;
    while !log.complete(epoch) && Instant::now() < settle {
        ctx.pause(POLL)?;
        poll(ctx, fleet, client, log)?;
    }
    let figures = log.figures(epoch).ok_or_else(|| {
        CliError::Failure(format!(
            "every node holds epoch {epoch}, but none reports finalizing its round"
        ))
    })?;
    ctx.say(&format!(
        "{n} nodes: genesis epoch {epoch} (t={threshold}): DKG max {} ms, median {} ms over {} \
         nodes",
        figures.max_ms, figures.median_ms, figures.finalized
    ));
    Ok((figures, threshold))
}

/// Waits for [`RESHARES`] rounds after `genesis` to finalize and be reported by every node (or
/// until every node has moved past the last of them).
pub(super) fn wait_reshares(
    ctx: &Ctx,
    fleet: &mut Fleet,
    client: &NodeClient,
    log: &mut RoundLog,
    genesis: u64,
) -> Result<Vec<RoundFigures>, CliError> {
    let n = client.urls().len();
    let interval = ctx.args.interval;
    ctx.say(&format!(
        "{n} nodes: waiting for {RESHARES} reshares (one per {interval} s interval)"
    ));
    let limit = Duration::from_secs(
        interval
            .saturating_mul(RESHARES as u64 + 4)
            .saturating_add(60),
    );
    let deadline = Instant::now() + limit;
    let mut told = 0;
    loop {
        let statuses = poll(ctx, fleet, client, log)?;
        let lowest_held = statuses
            .iter()
            .map(|s| s.as_ref().and_then(|s| s.epoch))
            .collect::<Option<Vec<u64>>>()
            .and_then(|h| h.into_iter().min());
        let epochs: Vec<u64> = log
            .finalized_epochs()
            .into_iter()
            .filter(|e| *e > genesis)
            .take(RESHARES)
            .collect();
        // A round is done once every node reported it, or every node is past it (a report
        // missed by then would never come).
        let done = |e: &u64| log.complete(*e) || lowest_held.is_some_and(|h| h > *e);
        let settled = epochs.iter().take_while(|e| done(e)).count();
        for e in epochs.iter().take(settled).skip(told) {
            if let Some(f) = log.figures(*e) {
                told += 1;
                ctx.say(&format!(
                    "{n} nodes: reshare {told}/{RESHARES}, epoch {e}: max {} ms, median {} ms \
                     over {} nodes",
                    f.max_ms, f.median_ms, f.finalized
                ));
            }
        }
        if settled == RESHARES {
            return epochs
                .iter()
                .map(|e| {
                    log.figures(*e).ok_or_else(|| {
                        CliError::Failure(format!("epoch {e}: no node reports finalizing it"))
                    })
                })
                .collect();
        }
        if Instant::now() >= deadline {
            return Err(CliError::Failure(format!(
                "only {settled} of {RESHARES} reshares finished within {} s (last: {})",
                limit.as_secs(),
                progress(&statuses)
            )));
        }
        ctx.pause(POLL)?;
    }
}
