//! Decryption: the crypto floor, sequential and sustained decrypts.

use super::*;

/// The crypto a client does for one decrypt, on inputs dealt in process with the devnet's n, t,
/// operator ids and app id. Per-epoch work (public shares) is done once, outside the timings.
pub(super) struct Floor {
    pub(super) app_id: String,
    pub(super) threshold: usize,
    pub(super) commitment: Commitment,
    pub(super) mpk: G2Point,
    pub(super) public_shares: PublicShares,
    /// One per operator, ids 1..=n.
    pub(super) partials: Vec<PartialSignature>,
    pub(super) ciphertext: Vec<u8>,
}

pub(super) fn crypto_failure(what: &str) -> impl Fn(kms_crypto::Error) -> CliError + '_ {
    move |e| CliError::Failure(format!("{what}: {e}"))
}

impl Floor {
    pub(super) fn new(app_id: &str, n: u32, threshold: usize) -> Result<Self, CliError> {
        let mut rng = OsRng;
        let poly = Polynomial::random(threshold, &mut rng)
            .map_err(crypto_failure("dealing the floor's polynomial"))?;
        let commitment = poly.commit();
        let points = (1..=n)
            .map(|i| EvalPoint::from_index(u64::from(i)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(crypto_failure("operator ids"))?;
        let partials = points
            .iter()
            .map(|x| partial_sign(&poly.evaluate(x), app_id.as_bytes()))
            .collect();
        let mpk = commitment.public_key();
        let ciphertext = ibe::encrypt(&mpk, app_id.as_bytes(), MESSAGE, &mut rng)
            .map_err(crypto_failure("encrypting the floor's message"))?;
        Ok(Self {
            app_id: app_id.to_string(),
            threshold,
            public_shares: PublicShares::new(&commitment, &points),
            commitment,
            mpk,
            partials,
            ciphertext,
        })
    }

    pub(super) fn chosen(&self) -> Result<&[PartialSignature], CliError> {
        self.partials
            .get(..self.threshold)
            .ok_or_else(|| CliError::Failure("fewer partials than the threshold".into()))
    }

    pub(super) fn check_plaintext(&self, plaintext: &[u8]) -> Result<(), CliError> {
        if plaintext == MESSAGE {
            Ok(())
        } else {
            Err(CliError::Failure(
                "the floor's decryption gave another plaintext".into(),
            ))
        }
    }

    /// The minimum: H(app id), t partials checked against their public shares, Lagrange
    /// recovery, the MPK check (one pairing, through `AppKey::from_bytes`), the IBE decryption.
    pub(super) fn minimum(&self) -> Result<(), CliError> {
        let app = self.app_id.as_bytes();
        let h = hash_app_id(app);
        let chosen = self.chosen()?;
        for partial in chosen {
            self.public_shares
                .verify(partial, &h)
                .map_err(crypto_failure("a dealt partial"))?;
        }
        let key = recover(self.threshold, chosen).map_err(crypto_failure("recovery"))?;
        let key = AppKey::from_bytes(&key.to_bytes(), app, &self.mpk)
            .map_err(crypto_failure("the MPK check"))?;
        let plaintext =
            ibe::decrypt(&key, app, &self.ciphertext).map_err(crypto_failure("IBE decryption"))?;
        self.check_plaintext(&plaintext)
    }

    /// As kms-client runs it: `check_and_recover` over all n partials (one pairing product for
    /// every partial and the key recovered from the first t), then the decryption.
    pub(super) fn client_path(&self) -> Result<(), CliError> {
        let app = self.app_id.as_bytes();
        let (invalid, key) = check_and_recover(&self.commitment, app, &self.partials);
        if !invalid.is_empty() {
            return Err(CliError::Failure("a dealt partial does not verify".into()));
        }
        let key = key.map_err(crypto_failure("verified recovery"))?;
        let plaintext =
            ibe::decrypt(&key, app, &self.ciphertext).map_err(crypto_failure("IBE decryption"))?;
        self.check_plaintext(&plaintext)
    }
}

/// CPU time (user + system, all threads) a process has used so far, from `/proc/<pid>/stat`;
/// this process for None. None where there is no /proc.
pub(super) fn cpu_time(pid: Option<u32>) -> Option<Duration> {
    let path = pid.map_or("/proc/self/stat".to_string(), |p| format!("/proc/{p}/stat"));
    let text = std::fs::read_to_string(path).ok()?;
    // The command name (field 2, in parentheses) may hold spaces; what follows it does not.
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: 12th and 13th after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // Counted in USER_HZ ticks, which Linux fixes at 100 per second for user space.
    Some(Duration::from_millis(
        utime.saturating_add(stime).saturating_mul(10),
    ))
}

/// The CPU time of all these processes together; None if any cannot be read.
pub(super) fn cpu_sum(pids: &[u32]) -> Option<Duration> {
    pids.iter().map(|p| cpu_time(Some(*p))).sum()
}

/// Times `f` once.
pub(super) fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

/// Decrypt errors: a count and the first few distinct messages.
#[derive(Default)]
pub(super) struct Errors {
    pub(super) count: u64,
    pub(super) messages: Vec<String>,
}

impl Errors {
    pub(super) fn add(&mut self, message: String) {
        self.count += 1;
        if self.messages.len() < KEPT_ERRORS && !self.messages.contains(&message) {
            self.messages.push(message);
        }
    }
}

/// One decrypt through the network; a wrong plaintext is an error too.
pub(super) fn decrypt_once(
    client: &NodeClient,
    app: &str,
    owner: &kms_client::EoaKey,
    ciphertext: &[u8],
) -> Result<(), String> {
    match client.decrypt(app, owner, ciphertext, devnet::CHAIN_ID) {
        Ok(d) if d.plaintext.as_slice() == MESSAGE => Ok(()),
        Ok(_) => Err("decrypted to another plaintext".into()),
        Err(e) => Err(client_error(e).to_string()),
    }
}

pub(super) fn bench_decrypt(
    ctx: &Ctx,
    fleet: &mut Fleet,
    urls: &[String],
    owner_key: &Path,
    app: &str,
    threshold: usize,
) -> Result<DecryptResult, CliError> {
    let args = ctx.args;
    let n = u32::try_from(urls.len()).map_err(|_| CliError::Failure("too many nodes".into()))?;
    let owner = load_owner_key(owner_key)?;
    let client = NodeClient::new(urls).map_err(client_error)?;
    let ciphertext = client
        .encrypt(app, MESSAGE)
        .map_err(client_error)?
        .ciphertext;
    let floor = Floor::new(app, n, threshold)?;

    ctx.say(&format!(
        "{n} nodes: {} sequential decrypts, each followed by the crypto floor in process",
        args.decrypts
    ));
    let mut errors = Errors::default();
    let mut latency = Vec::new();
    let mut floor_ms = Vec::new();
    let mut client_ms = Vec::new();
    let mut fetch_ms = Vec::new();
    let step = (args.decrypts / 4).max(1);
    for i in 1..=args.decrypts {
        ctx.check(fleet)?;
        let (outcome, took) = timed(|| decrypt_once(&client, app, &owner, &ciphertext));
        match outcome {
            Ok(()) => latency.push(ms(took)),
            Err(e) => errors.add(e),
        }
        let (checked, took) = timed(|| floor.minimum());
        checked?;
        floor_ms.push(ms(took));
        let (checked, took) = timed(|| floor.client_path());
        checked?;
        client_ms.push(ms(took));
        let (fetched, took) = timed(|| client.fetch_mpk());
        if fetched.is_ok() {
            fetch_ms.push(ms(took));
        }
        if i % step == 0 || i == args.decrypts {
            ctx.say(&format!(
                "{n} nodes: {i}/{} sequential decrypts, {} errors",
                args.decrypts, errors.count
            ));
        }
    }
    let sequential_errors = errors.count;
    let latency_ms = Summary::of(&latency).ok_or_else(|| {
        CliError::Failure(format!(
            "every sequential decrypt failed; the first error: {}",
            errors.messages.first().map_or("", String::as_str)
        ))
    })?;
    let floor_summary =
        Summary::of(&floor_ms).ok_or_else(|| CliError::Failure("no floor timing".into()))?;
    let client_summary = Summary::of(&client_ms)
        .ok_or_else(|| CliError::Failure("no client crypto timing".into()))?;
    let fetch_summary =
        Summary::of(&fetch_ms).ok_or_else(|| CliError::Failure("every fetch_mpk failed".into()))?;

    ctx.say(&format!(
        "{n} nodes: {} threads decrypting for {} s",
        args.concurrency, args.seconds
    ));
    let pids = fleet.pids();
    let cpu_before = (cpu_time(None), cpu_sum(&pids));
    let (ok, wall) = sustained(ctx, fleet, &client, app, &owner, &ciphertext, &mut errors)?;
    let per_decrypt = |before: Option<Duration>, after: Option<Duration>| {
        let spent = after?.checked_sub(before?)?;
        (ok > 0).then(|| round3(ms(spent) / ok as f64))
    };
    let client_cpu = per_decrypt(cpu_before.0, cpu_time(None));
    let nodes_cpu = per_decrypt(cpu_before.1, cpu_sum(&pids));
    let sustained_errors = errors.count - sequential_errors;
    let wall_secs = wall.as_secs_f64();
    let rate = if wall_secs > 0.0 {
        ok as f64 / wall_secs
    } else {
        0.0
    };
    ctx.say(&format!(
        "{n} nodes: {ok} decrypts in {wall_secs:.1} s ({rate:.1}/s), {sustained_errors} errors"
    ));

    let ratio = latency_ms.p50 / floor_summary.p50;
    Ok((
        DecryptFigures {
            nodes: n,
            threshold,
            app_id: app.to_string(),
            plaintext_bytes: MESSAGE.len(),
            sequential: Sequential {
                ok: latency_ms.count,
                errors: usize::try_from(sequential_errors).unwrap_or(usize::MAX),
                latency_ms,
            },
            sustained: Sustained {
                concurrency: args.concurrency,
                wall_secs: round3(wall_secs),
                ok,
                errors: sustained_errors,
                decrypts_per_sec: round3(rate),
                client_cpu_ms_per_decrypt: client_cpu,
                nodes_cpu_ms_per_decrypt: nodes_cpu,
            },
            error_messages: errors.messages,
        },
        FloorFigures {
            nodes: n,
            threshold,
            floor_ms: floor_summary,
            ratio_p50: round3(ratio),
            client_crypto_ms: client_summary,
            fetch_mpk_ms: fetch_summary,
        },
    ))
}

/// `--concurrency` threads decrypt until `--seconds` have passed; returns the successes and the
/// wall time until the last call in flight returned. Errors are added to `errors`.
pub(super) fn sustained(
    ctx: &Ctx,
    fleet: &mut Fleet,
    client: &NodeClient,
    app: &str,
    owner: &kms_client::EoaKey,
    ciphertext: &[u8],
    errors: &mut Errors,
) -> Result<(u64, Duration), CliError> {
    let stop = AtomicBool::new(false);
    let ok = AtomicU64::new(0);
    let failed = Mutex::new(std::mem::take(errors));
    let run_for = Duration::from_secs(ctx.args.seconds);
    let start = Instant::now();
    let watched = std::thread::scope(|s| {
        let mut spawned = Ok(());
        for k in 0..ctx.args.concurrency {
            let worker = || {
                while !stop.load(Ordering::Relaxed) {
                    match decrypt_once(client, app, owner, ciphertext) {
                        Ok(()) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            if let Ok(mut errs) = failed.lock() {
                                errs.add(e);
                            }
                        }
                    }
                }
            };
            let started = std::thread::Builder::new()
                .name(format!("decrypt-{k}"))
                .spawn_scoped(s, worker);
            if let Err(e) = started {
                spawned = Err(CliError::Failure(format!("cannot start a thread: {e}")));
                break;
            }
        }
        // The threads that did start are joined when the scope ends, once they see `stop`.
        let watched = spawned.and_then(|()| {
            while start.elapsed() < run_for {
                ctx.check(fleet)?;
                ctx.pause(POLL.min(run_for.saturating_sub(start.elapsed())))?;
            }
            Ok(())
        });
        stop.store(true, Ordering::Relaxed);
        watched
    });
    let wall = start.elapsed();
    *errors = failed
        .into_inner()
        .map_err(|_| CliError::Failure("a decrypt thread failed".into()))?;
    watched?;
    Ok((ok.load(Ordering::Relaxed), wall))
}
