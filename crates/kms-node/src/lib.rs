//! The threshold network's node around the sans-IO protocol (`kms-protocol`): who the operators
//! are (`kms_chain::membership`, and the chain source over the registry), what the node stores
//! (`state::NodeStore`), the epochs it holds and when rounds run (`node`: schedule, catch-up,
//! anchoring), the round thread (driver), how messages travel (transport) and how applications
//! get partial signatures (api). The wire types are `kms-api`'s. Design: docs/0008-node.md.

pub mod api;
pub mod chain;
pub mod config;
pub mod driver;
pub mod metrics;
pub mod node;
pub mod release;
pub mod state;
pub mod transport;

pub use kms_chain::membership::{Member, Membership, MembershipError, OperatorFile, StaticFile};

use anyhow::Context;

/// Opens the node and serves until SIGTERM or Ctrl-C. Rounds run from the first boundary on.
pub async fn serve(cfg: config::Config) -> anyhow::Result<()> {
    let listen = cfg.listen;
    let port_file = cfg.port_file.clone();
    let chain = match &cfg.chain {
        None => None,
        Some(c) => Some(std::sync::Arc::new(chain::ChainSource::connect(c).await?)),
    };
    let node = node::Node::open(cfg, tokio::runtime::Handle::current(), chain)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    if let Some(path) = &port_file {
        // Written atomically so a watcher never reads half an address.
        kms_store::files::write_atomic(path, addr.to_string().as_bytes())?;
    }
    tracing::info!(
        %addr,
        node = %node::address_of(&node.cfg.address),
        epoch = node.latest().map(|e| e.record.epoch),
        "kms-node listening"
    );
    let scheduler = tokio::spawn(node.clone().schedule());
    axum::serve(listener, api::router(node))
        .with_graceful_shutdown(kms_http::shutdown_signal())
        .await?;
    scheduler.abort();
    tracing::info!("kms-node stopped");
    Ok(())
}
