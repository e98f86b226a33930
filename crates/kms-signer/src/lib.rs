//! `kms-signer`: the operator-key service. Operators, known by their Ethereum EOA, get BN254 BLS
//! keys that are generated inside the service, sealed at rest under a key-encryption key, and never
//! returned; they authenticate every state-changing or signing request with an EIP-712 signature
//! (nonce + deadline), and every such request, accepted or refused, lands in a hash-chained audit
//! log before the answer is sent.

pub mod admin;
#[cfg(unix)]
pub mod admin_socket;
pub mod api;
pub mod apikeys;
pub mod audit;
pub mod backup;
pub mod config;
pub mod error;
pub mod grpc;
pub mod keyring;
pub mod ledger;
pub mod metrics;
pub mod service;
pub mod tls;

use anyhow::Context;
use std::sync::Arc;

/// Opens the store, loads the keys and serves until SIGTERM or Ctrl-C.
pub async fn serve(cfg: config::Config) -> anyhow::Result<()> {
    // Checked first, so a bad certificate or key fails start-up before anything else happens.
    let tls = match &cfg.tls {
        Some((cert, key)) => Some(tls::server_config(cert, key)?),
        None => None,
    };
    let mut store = kms_store::Store::open(&cfg.data_dir, &cfg.kek, &mut rand_core::OsRng)
        .context("opening the data directory")?;
    backup::sweep_leftovers(&cfg.data_dir);
    match backup::rewrite_if_freed(&mut store, &cfg.data_dir) {
        Ok(true) => {
            tracing::info!("store rewritten: no page of it keeps a retired version's sealed secret")
        }
        Ok(false) => {}
        // A full disk must not stop the service: the rewrite is tried again at the next start.
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "store not rewritten; retired secrets may remain in freed pages")
        }
    }
    let store = Arc::new(store);
    let ring = Arc::new(keyring::KeyRing::load(&store).context("loading keys")?);
    let api_keys = Arc::new(apikeys::ApiKeys::load(&store).context("loading API keys")?);
    let audit = audit::AuditLog::open(&store)?;
    let ledger =
        ledger::Ledger::start(store.clone(), audit).context("starting the ledger's writer")?;
    let state = Arc::new(api::AppState::new(
        cfg.clone(),
        store,
        ring,
        api_keys,
        ledger,
    ));

    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let grpc_listener = match cfg.grpc_listen {
        Some(a) => Some(
            tokio::net::TcpListener::bind(a)
                .await
                .with_context(|| format!("binding the gRPC listener {a}"))?,
        ),
        None => None,
    };
    // Bound before the port files are written, so a watcher that sees them can ask for a backup.
    #[cfg(unix)]
    admin_socket::spawn(state.clone());
    // Before the REST port file, so a watcher of that one finds both.
    if let (Some(l), Some(path)) = (&grpc_listener, &cfg.grpc_port_file) {
        kms_store::files::write_atomic(path, l.local_addr()?.to_string().as_bytes())?;
    }
    if let Some(path) = &cfg.port_file {
        // Written atomically so a watcher never reads half an address.
        kms_store::files::write_atomic(path, addr.to_string().as_bytes())?;
    }
    tracing::info!(
        %addr,
        grpc = ?grpc_listener.as_ref().and_then(|l| l.local_addr().ok()),
        tls = tls.is_some(),
        keys = state.ring.records().len(),
        "kms-signer listening"
    );

    // Fine on loopback; beyond it, say what is open.
    let exposed =
        !cfg.listen.ip().is_loopback() || cfg.grpc_listen.is_some_and(|a| !a.ip().is_loopback());
    if exposed && cfg.allowed_creators.is_none() {
        tracing::warn!("any EOA that reaches this service can create a key: set allowed_creators");
    }
    if exposed && cfg.tls.is_none() {
        tracing::warn!(
            "no TLS beyond loopback: API-key tokens and signed requests travel in clear"
        );
    }
    if exposed && cfg.domain.salt.is_none() {
        tracing::warn!(
            "no eip712_salt: a request signed for this service is valid at any other on its chain"
        );
    }

    let bg = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            service::retire_expired(&bg).await;
            service::auto_rotate(&bg).await;
        }
    });

    let grpc = grpc_listener.map(|l| {
        let app =
            grpc::router(state.clone()).into_make_service_with_connect_info::<tls::PeerAddr>();
        let tls = tls.clone();
        tokio::spawn(async move {
            let served = match tls {
                Some(config) => {
                    // gRPC needs HTTP/2, which TLS clients pick with ALPN.
                    let mut config = (*config).clone();
                    config.alpn_protocols = vec![b"h2".to_vec()];
                    axum::serve(tls::TlsListener::new(l, Arc::new(config))?, app)
                        .with_graceful_shutdown(kms_http::shutdown_signal())
                        .await
                }
                None => {
                    axum::serve(l, app)
                        .with_graceful_shutdown(kms_http::shutdown_signal())
                        .await
                }
            };
            served
        })
    });

    let app = api::router(state).into_make_service_with_connect_info::<tls::PeerAddr>();
    match tls {
        Some(config) => {
            axum::serve(tls::TlsListener::new(listener, config)?, app)
                .with_graceful_shutdown(kms_http::shutdown_signal())
                .await?
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(kms_http::shutdown_signal())
                .await?
        }
    }
    if let Some(task) = grpc {
        task.await??;
    }
    tracing::info!("kms-signer stopped");
    Ok(())
}
