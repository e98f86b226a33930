//! What the devnet prints.

use super::*;

/// A line on stdout; a closed stdout must not stop the devnet.
pub(super) fn say(line: &str) {
    crate::print_line(line);
}

pub(super) fn say_err(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

pub(crate) fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60),
    }
}

/// Quotes a word for a POSIX shell when it needs it, so the printed commands paste as they are.
pub(crate) fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:@%=,".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// How to type this `kms` in the example: `kms` when the shell would find this very binary, else
/// its path (relative to the working directory when it is under it).
pub(super) fn kms_command() -> String {
    let Ok(exe) = std::env::current_exe() else {
        return "kms".into();
    };
    let same = |p: &Path| std::fs::canonicalize(p).ok() == std::fs::canonicalize(&exe).ok();
    let file = format!("kms{}", std::env::consts::EXE_SUFFIX);
    if find_on_path(&file).is_some_and(|p| same(&p)) {
        return "kms".into();
    }
    let shown = std::env::current_dir()
        .ok()
        .and_then(|cwd| exe.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| exe.clone());
    shell_quote(&shown.display().to_string())
}

pub(super) fn print_summary(dir: &Path, cluster: &Cluster, mpk: &Mpk, signer_url: Option<&str>) {
    let m = &cluster.manifest;
    let path = |p: &Path| shell_quote(&p.display().to_string());
    let dir_arg = path(dir);
    let owner_key = path(&dir.join(OWNER_KEY));
    let kms = kms_command();
    let mut lines = vec![
        format!(
            "devnet ready: epoch {}, threshold {} of {} nodes",
            mpk.epoch, mpk.threshold, m.nodes
        ),
        format!("mpk       {}", mpk.mpk),
    ];
    for ((id, address), port) in cluster.operators.iter().zip(&m.ports) {
        let name = u32::try_from(*id).map(node_dir_name).unwrap_or_default();
        let log = dir.join(&name).join("node.log");
        lines.push(format!(
            "{name:<9} {}  operator {address}  log {}",
            local_url(*port),
            log.display()
        ));
    }
    if let Some(url) = signer_url {
        let log = dir.join("signer/signer.log");
        lines.push(format!(
            "signer    {url}  chain id {CHAIN_ID}  log {}",
            log.display()
        ));
    }
    if let Some(c) = &m.chain {
        lines.push(format!(
            "chain     anvil {}  registry {}  log {}",
            local_url(c.anvil_port),
            c.registry,
            dir.join("anvil.log").display()
        ));
    }
    let encrypt_from = match &m.chain {
        Some(c) => format!(
            "--mpk-from-chain --rpc-url {} --registry {}",
            local_url(c.anvil_port),
            c.registry
        ),
        None => format!("--devnet {dir_arg}"),
    };
    let every = match &m.chain {
        Some(_) => format!(
            "{} blocks ({} s), each epoch anchored on chain,",
            m.interval_secs,
            m.interval_secs * ANVIL_BLOCK_SECS
        ),
        None => format!("{} s", m.interval_secs),
    };
    lines.extend([
        format!(
            "app       {}  owner {}  key {owner_key}",
            m.demo_app, m.demo_owner
        ),
        String::new(),
        // Relative paths in the commands are relative to this process's directory.
        match std::env::current_dir() {
            Ok(cwd) => format!(
                "Try it from another terminal, in {}:",
                shell_quote(&cwd.display().to_string())
            ),
            Err(_) => "Try it from another terminal:".into(),
        },
        "  echo 'hello devnet' > msg.txt".into(),
        format!(
            "  {kms} encrypt {encrypt_from} --app-id {} --in msg.txt --out msg.enc",
            m.demo_app
        ),
        format!(
            "  {kms} decrypt --devnet {dir_arg} --app-id {} --owner-key {owner_key} --in msg.enc \
             --out msg.out",
            m.demo_app
        ),
        String::new(),
        format!(
            "The nodes reshare every {every} and the MPK stays the same; Ctrl-C stops the \
             devnet, running it again resumes it."
        ),
    ]);
    say(&lines.join("\n"));
}
