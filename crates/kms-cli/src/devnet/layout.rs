//! The cluster on disk: creating it (keys, configs, the operator file, the manifest) and checking a
//! resumed one.

use super::*;

/// `devnet.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    pub version: u32,
    pub nodes: u32,
    pub interval_secs: u64,
    /// Node i listens on `ports[i - 1]`.
    pub ports: Vec<u16>,
    pub signer_port: u16,
    /// Unix seconds.
    pub created_at: u64,
    pub demo_app: String,
    pub demo_owner: String,
    /// Chain mode: the anvil and the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<DevnetChain>,
}

/// `devnet.json`'s chain: where anvil listens and where the registry is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DevnetChain {
    pub anvil_port: u16,
    pub registry: String,
}

/// A cluster ready to start.
pub(crate) struct Cluster {
    pub manifest: Manifest,
    /// Created by this run (else resumed).
    pub created: bool,
    /// (id, checksummed address) of every operator, by id.
    pub operators: Vec<(u64, String)>,
}

pub(crate) fn node_dir_name(i: u32) -> String {
    format!("node-{i}")
}

pub(crate) fn local_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// Creates the cluster in `dir` unless `dir` already holds one, which is then checked and reused.
/// A chain devnet is created with the signer binary, which imports the operators' keys.
pub(crate) fn prepare(
    dir: &Path,
    nodes: Option<u32>,
    interval_secs: Option<u64>,
    chain: Option<(ChainKind, &Path)>,
) -> Result<Cluster, CliError> {
    let manifest_path = dir.join(MANIFEST);
    let (manifest, created) = if manifest_path.exists() {
        let manifest = load_manifest(dir)?;
        if manifest.chain.is_none() && chain.is_some() {
            return Err(CliError::bad(format!(
                "{} was created without a chain; run without --chain to resume it, or use another \
                 --dir",
                dir.display()
            )));
        }
        for (flag, asked, kept) in [
            ("--nodes", nodes.map(u64::from), u64::from(manifest.nodes)),
            ("--interval", interval_secs, manifest.interval_secs),
        ] {
            if let Some(asked) = asked.filter(|a| *a != kept) {
                return Err(CliError::bad(format!(
                    "{} was created with {flag} {kept}, not {asked}; run without {flag} to resume \
                     it, or use another --dir for a new devnet",
                    dir.display()
                )));
            }
        }
        (manifest, false)
    } else {
        let nodes = nodes.unwrap_or(DEFAULT_NODES);
        let interval = match chain {
            Some(_) => interval_secs.unwrap_or(DEFAULT_INTERVAL_BLOCKS),
            None => interval_secs.unwrap_or(DEFAULT_INTERVAL_SECS),
        };
        // Operator i is anvil's account i; account 0 owns the registry.
        if chain.is_some() && nodes as usize >= kms_chain::anvil::DEV_KEYS.len() {
            return Err(CliError::bad(format!(
                "--chain anvil runs at most {} nodes (one funded anvil account each)",
                kms_chain::anvil::DEV_KEYS.len() - 1
            )));
        }
        (
            create(dir, nodes, interval, chain.map(|(_, signer)| signer))?,
            true,
        )
    };
    let operators = load_operators(dir, &manifest)?;
    Ok(Cluster {
        manifest,
        created,
        operators,
    })
}

pub(super) fn load_manifest(dir: &Path) -> Result<Manifest, CliError> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CliError::bad(format!("{}: {e}", path.display())))?;
    let m: Manifest = serde_json::from_str(&text)
        .map_err(|e| CliError::bad(format!("{}: {e}", path.display())))?;
    if m.version != FORMAT_VERSION {
        return Err(CliError::bad(format!(
            "{} has format version {}; this kms reads version {FORMAT_VERSION}",
            path.display(),
            m.version
        )));
    }
    if m.nodes == 0 || usize::try_from(m.nodes).ok() != Some(m.ports.len()) {
        return Err(CliError::bad(format!(
            "{}: nodes and ports disagree",
            path.display()
        )));
    }
    let mut required = vec![
        dir.join(OPERATORS),
        dir.join(OWNER_KEY),
        dir.join("signer/signer.toml"),
        dir.join("signer/kek.key"),
    ];
    for i in 1..=m.nodes {
        let node = dir.join(node_dir_name(i));
        required.extend(NODE_FILES.iter().map(|f| node.join(f)));
    }
    if let Some(missing) = required.iter().find(|p| !p.is_file()) {
        return Err(CliError::bad(format!(
            "{} is incomplete: {} is missing",
            dir.display(),
            missing.display()
        )));
    }
    Ok(m)
}

/// Reads the operator file back (which checks it as the nodes will) and matches it to the ports.
pub(super) fn load_operators(dir: &Path, m: &Manifest) -> Result<Vec<(u64, String)>, CliError> {
    let path = dir.join(OPERATORS);
    let members = StaticFile::load(&path)
        .map(|f| f.operators().to_vec())
        .map_err(|e| CliError::bad(e.to_string()))?;
    let mut operators = Vec::with_capacity(members.len());
    for member in members {
        let id = member.operator.point.small().unwrap_or(0);
        let port = usize::try_from(id)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| m.ports.get(i));
        if port.map(|p| local_url(*p)) != Some(member.url.clone()) {
            return Err(CliError::bad(format!(
                "{}: operator {id} ({}) does not match the ports in {MANIFEST}",
                path.display(),
                member.url
            )));
        }
        let address = alloy_primitives::Address::from(member.operator.address).to_checksum(None);
        operators.push((id, address));
    }
    operators.sort();
    if operators.len() != m.ports.len() {
        return Err(CliError::bad(format!(
            "{} lists {} operators; {MANIFEST} has {}",
            path.display(),
            operators.len(),
            m.ports.len()
        )));
    }
    Ok(operators)
}

/// `chain_signer`: on chain, the kms-signer binary that imports the operators' keys.
pub(super) fn create(
    dir: &Path,
    nodes: u32,
    interval_secs: u64,
    chain_signer: Option<&Path>,
) -> Result<Manifest, CliError> {
    let on_chain = chain_signer.is_some();
    // Refuse to scatter files among someone else's (e.g. `--dir .`), or over an interrupted
    // creation, whose keys may already be partly in use.
    if let Ok(mut entries) = std::fs::read_dir(dir) {
        if entries.next().is_some() {
            return Err(CliError::bad(format!(
                "{} is not empty but holds no {MANIFEST} (an interrupted creation?); remove it or \
                 choose another --dir",
                dir.display()
            )));
        }
    }
    make_dir(dir)?;
    // One port per node, the signer's and, on chain, anvil's.
    let count = usize::try_from(nodes)
        .map_err(|_| CliError::bad("--nodes is too large"))?
        .saturating_add(1 + usize::from(on_chain));
    let mut ports = free_ports(count)?;
    let mut take_port = || {
        ports
            .pop()
            .ok_or_else(|| CliError::Failure("no free port".into()))
    };
    let chain = match on_chain {
        true => Some(DevnetChain {
            anvil_port: take_port()?,
            registry: registry_address().to_checksum(None),
        }),
        false => None,
    };
    let signer_port = take_port()?;
    let mut rng = OsRng;

    let owner = random_eoa(&mut rng)?;
    write_hex_secret(&dir.join(OWNER_KEY), &owner.secret, "0x")?;
    let owner_address = owner.key.address().to_checksum(None);

    let mut members = Vec::new();
    for (i, port) in (1..=nodes).zip(&ports) {
        let node = dir.join(node_dir_name(i));
        make_dir(&node.join("data"))?;
        let bn254 = SecretKey::random(&mut rng);
        bn254
            .to_decimal()
            .expose(|d| write_line_secret(&node.join("bn254.key"), d.as_bytes()))?;
        let enc = EncryptionKey::random(&mut rng);
        write_hex_secret(&node.join("encryption.key"), &enc.to_bytes(), "")?;
        write_hex_secret(&node.join("kek.key"), &random_secret(&mut rng), "")?;
        let (address, toml) = match &chain {
            // The node signs with its BN254 key; the EOA only names it, so its key is not kept.
            None => {
                let address = EoaKey::random(&mut rng).address();
                let toml = node_toml(
                    &address.to_checksum(None),
                    *port,
                    interval_secs,
                    &owner_address,
                )?;
                (address, toml)
            }
            // On chain the EOA registers the operator and sends anchors: anvil's account i.
            Some(c) => {
                write_line_secret(&node.join("tx.key"), dev_key_hex(i)?.as_bytes())?;
                let address = dev_wallet(i)?.address();
                let toml =
                    node_toml_chain(&address.to_checksum(None), *port, interval_secs, c, nodes)?;
                (address, toml)
            }
        };
        write_new_public(&node.join("node.toml"), &toml)?;
        let point = EvalPoint::from_index(u64::from(i))
            .map_err(|e| CliError::Failure(format!("operator id {i}: {e}")))?;
        members.push(Member {
            operator: Operator::new(
                address.into_array(),
                point,
                bn254.public_g1(),
                bn254.public_g2(),
                enc.public(),
            ),
            url: local_url(*port),
        });
    }
    let operators = StaticFile::to_json(&members).map_err(|e| CliError::Failure(e.to_string()))?;
    write_new_public(&dir.join(OPERATORS), &format!("{operators}\n"))?;

    let signer = dir.join("signer");
    make_dir(&signer.join("data"))?;
    write_hex_secret(&signer.join("kek.key"), &random_secret(&mut rng), "")?;
    write_new_public(&signer.join("signer.toml"), &signer_toml(signer_port)?)?;
    if let Some(bin) = chain_signer {
        import_operator_keys(bin, dir, nodes)?;
    }

    let manifest = Manifest {
        version: FORMAT_VERSION,
        nodes,
        interval_secs,
        ports,
        signer_port,
        created_at: unix_now(),
        demo_app: DEMO_APP.into(),
        demo_owner: owner_address,
        chain,
    };
    let json = serde_json::to_string_pretty(&manifest)
        .map_err(|e| CliError::Failure(format!("{MANIFEST}: {e}")))?;
    // Renamed into place so the manifest is either absent or whole.
    let tmp = dir.join(format!("{MANIFEST}.tmp"));
    std::fs::write(&tmp, format!("{json}\n"))
        .and_then(|()| std::fs::rename(&tmp, dir.join(MANIFEST)))
        .map_err(|e| CliError::Failure(format!("writing {}: {e}", tmp.display())))?;
    Ok(manifest)
}

/// A config file: a comment saying who wrote it, then `file` serialized (its schema is the
/// reader's, in `kms_api::config`).
pub(super) fn config_text(header: &str, file: &impl serde::Serialize) -> Result<String, CliError> {
    let body = toml::to_string(file)
        .map_err(|e| CliError::Failure(format!("cannot write a config file: {e}")))?;
    Ok(format!("{header}\n{body}"))
}

/// What every devnet node's configuration holds: its address, its port, and its key and data
/// files beside the config.
fn node_file(address: &str, port: u16) -> NodeFile {
    NodeFile {
        address: Some(address.to_owned()),
        listen: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, port))),
        port_file: Some("port".into()),
        data_dir: Some("data".into()),
        bn254_key_file: Some("bn254.key".into()),
        encryption_key_file: Some("encryption.key".into()),
        kek_key_file: Some("kek.key".into()),
        ..NodeFile::default()
    }
}

/// The node's configuration (docs/0008, "Files and configuration"); paths relative to the file.
pub(crate) fn node_toml(
    address: &str,
    port: u16,
    interval_secs: u64,
    owner: &str,
) -> Result<String, CliError> {
    let file = NodeFile {
        operators_file: Some(Path::new("..").join(OPERATORS)),
        interval_secs: Some(interval_secs),
        // App id = owner EOA: the owner may ask for partials of H(app id).
        apps: BTreeMap::from([(DEMO_APP.to_owned(), owner.to_owned())]),
        ..node_file(address, port)
    };
    config_text(
        "# Written by `kms devnet`; fields in docs/0008-node.md. Paths are relative to this file.",
        &file,
    )
}

/// A chain-mode node's configuration: the registry replaces the operator file and the apps.
pub(crate) fn node_toml_chain(
    address: &str,
    port: u16,
    interval_blocks: u64,
    chain: &DevnetChain,
    nodes: u32,
) -> Result<String, CliError> {
    let file = NodeFile {
        chain: Some(NodeChainFile {
            rpc_url: local_url(chain.anvil_port),
            registry: chain.registry.clone(),
            interval_blocks: Some(interval_blocks),
            confirmations: Some(1),
            block_time_ms: Some(ANVIL_BLOCK_SECS * 1000),
            tx_key_file: Some("tx.key".into()),
            genesis_operators: Some(nodes as usize),
            policy_max_age_secs: None,
        }),
        ..node_file(address, port)
    };
    config_text(
        "# Written by `kms devnet --chain anvil`; fields in docs/0008-node.md and docs/0009.",
        &file,
    )
}

/// The signer's configuration. Its paths are taken from the working directory, which `kms devnet`
/// sets to the signer's directory.
pub(crate) fn signer_toml(port: u16) -> Result<String, CliError> {
    let file = SignerFile {
        listen: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, port))),
        data_dir: Some("data".into()),
        kek_key_file: Some("kek.key".into()),
        port_file: Some("port".into()),
        chain_id: Some(CHAIN_ID),
        ..SignerFile::default()
    };
    config_text(
        "# Written by `kms devnet`; kms-signer runs in this directory (paths are relative to it).",
        &file,
    )
}

/// `count` distinct free loopback ports. All listeners stay open until every port is read, so no
/// port is handed out twice; they are released for the services to bind.
pub(super) fn free_ports(count: usize) -> Result<Vec<u16>, CliError> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| CliError::Failure(format!("cannot find a free loopback port: {e}")))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| CliError::Failure(format!("cannot find a free loopback port: {e}")))
}

/// A resumed devnet needs its recorded ports; a busy one usually means it is still running.
pub(super) fn check_ports_free(m: &Manifest, with_signer: bool) -> Result<(), CliError> {
    let signer = with_signer.then_some(("signer".to_string(), m.signer_port));
    let anvil = m
        .chain
        .as_ref()
        .map(|c| ("anvil".to_string(), c.anvil_port));
    let wanted = (1..=m.nodes)
        .map(node_dir_name)
        .zip(m.ports.iter().copied())
        .chain(signer)
        .chain(anvil);
    for (name, port) in wanted {
        if let Err(e) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            return Err(CliError::Failure(format!(
                "port {port} ({name}) is not free ({e}); is this devnet already running? Stop it, \
                 or whatever holds the port, first"
            )));
        }
    }
    Ok(())
}

pub(super) struct NewEoa {
    pub(super) key: EoaKey,
    pub(super) secret: Secret<[u8; 32]>,
}

/// A secp256k1 key whose bytes are kept (EoaKey does not give them back).
pub(super) fn random_eoa(rng: &mut OsRng) -> Result<NewEoa, CliError> {
    // Out-of-range bytes have probability ~2^-128; a few tries are plenty.
    for _ in 0..8 {
        let secret = random_secret(rng);
        if let Ok(key) = EoaKey::from_bytes(&secret) {
            return Ok(NewEoa { key, secret });
        }
    }
    Err(CliError::Failure(
        "cannot generate a secp256k1 key (the RNG looks broken)".into(),
    ))
}

pub(super) fn random_secret(rng: &mut OsRng) -> Secret<[u8; 32]> {
    let mut secret = Secret::new([0u8; 32]);
    secret.expose_mut(|b| rng.fill_bytes(b));
    secret
}

/// Writes `prefix` + 64 lowercase hex characters + newline, readable by the owner only.
pub(super) fn write_hex_secret(
    path: &Path,
    secret: &Secret<[u8; 32]>,
    prefix: &str,
) -> Result<(), CliError> {
    let mut digits = Zeroizing::new([0u8; 64]);
    secret
        .expose(|b| hex::encode_to_slice(b, digits.as_mut()))
        .map_err(|e| CliError::Failure(format!("hex: {e}")))?;
    let mut text = Zeroizing::new(Vec::with_capacity(prefix.len() + 65));
    text.extend_from_slice(prefix.as_bytes());
    text.extend_from_slice(digits.as_ref());
    write_line_secret(path, &text)
}

/// Writes `content` and a newline, readable by the owner only.
pub(super) fn write_line_secret(path: &Path, content: &[u8]) -> Result<(), CliError> {
    // Sized up front so no reallocation leaves a copy of the secret behind.
    let mut text = Zeroizing::new(Vec::with_capacity(content.len() + 1));
    text.extend_from_slice(content);
    text.push(b'\n');
    write_new_private(path, &text)
}

/// Writes a new non-secret file; never overwrites.
pub(super) fn write_new_public(path: &Path, text: &str) -> Result<(), CliError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| CliError::Failure(format!("cannot write {}: {e}", path.display())))
}

/// Creates a directory (and its parents) that only the owner can enter: it holds keys.
pub(super) fn make_dir(path: &Path) -> Result<(), CliError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| CliError::Failure(format!("cannot create {}: {e}", path.display())))
}

pub(super) fn remove_if_present(path: &Path) -> Result<(), CliError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(CliError::Failure(format!(
            "cannot remove {}: {e}",
            path.display()
        ))),
        _ => Ok(()),
    }
}
