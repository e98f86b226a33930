//! The data directory's admin socket, where `kms-signer backup` asks a running service for a
//! snapshot. Only the data directory's owner is served: the socket is 0600 in the 0700 directory,
//! and every peer's uid is checked against the directory's owner. One snapshot at a time is made
//! and sent (a client that stalls holds the slot until it disconnects), streamed from a file that
//! is unlinked before the first byte goes out, so neither memory nor a killed service keeps a copy.

use crate::api::AppState;
use crate::backup;
use anyhow::{bail, Context};
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::path::Path;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

/// The admin socket's file name in the data directory.
pub const ADMIN_SOCKET: &str = "admin.sock";

/// The admin socket's backup route.
pub const BACKUP_PATH: &str = "/v1/backup";

/// A unix listener that hands over only connections from one user.
struct OwnerOnly {
    inner: UnixListener,
    uid: u32,
}

impl axum::serve::Listener for OwnerOnly {
    type Io = UnixStream;
    type Addr = tokio::net::unix::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => match stream.peer_cred() {
                    Ok(c) if c.uid() == self.uid => return (stream, addr),
                    Ok(c) => {
                        tracing::warn!(uid = c.uid(), "admin socket: peer of another user refused")
                    }
                    Err(e) => tracing::warn!(error = %e, "admin socket: peer unknown, refused"),
                },
                // Out of descriptors and the like: wait rather than spin.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Binds the admin socket in the data directory and serves it until shutdown. A stale socket is
/// replaced (the store's lock already proved no other service runs here); a failure costs the
/// online backup, not the service.
pub fn spawn(state: Arc<AppState>) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = state.cfg.data_dir.clone();
    let socket = dir.join(ADMIN_SOCKET);
    let _ = std::fs::remove_file(&socket);
    let bound = (|| -> anyhow::Result<OwnerOnly> {
        let uid = std::fs::metadata(&dir)?.uid();
        let inner = UnixListener::bind(&socket)?;
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))?;
        Ok(OwnerOnly { inner, uid })
    })();
    let listener = match bound {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(
                socket = %socket.display(),
                error = %e,
                "no admin socket: `kms-signer backup` needs the service stopped"
            );
            return;
        }
    };
    let one_at_a_time = Arc::new(Semaphore::new(1));
    let app = axum::Router::new().route(
        BACKUP_PATH,
        axum::routing::get(move || serve_backup(state.clone(), one_at_a_time.clone())),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(kms_http::shutdown_signal())
            .await;
    });
}

async fn serve_backup(state: Arc<AppState>, one_at_a_time: Arc<Semaphore>) -> Response {
    let Ok(permit) = one_at_a_time.try_acquire_owned() else {
        return crate::error::ApiError::new(
            StatusCode::CONFLICT,
            "backup_in_progress",
            "a snapshot is being made; try again when it is done",
        )
        .into_response();
    };
    let dir = state.cfg.data_dir.clone();
    let store = state.store.clone();
    // The slot goes with the work: if this handler is dropped, the copy still holds it until done.
    type Made = (std::fs::File, u64, tokio::sync::OwnedSemaphorePermit);
    let made = tokio::task::spawn_blocking(move || -> anyhow::Result<Made> {
        let mut name = [0u8; 8];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut name);
        let path = dir.join(format!(".backup-{}.redb", hex::encode(name)));
        backup::snapshot(store.db(), &path)?;
        let opened = std::fs::File::open(&path);
        // Unlinked at once: the open file is all that is left of it.
        let _ = std::fs::remove_file(&path);
        let file = opened?;
        let len = file.metadata()?.len();
        Ok((file, len, permit))
    })
    .await;
    match made {
        Ok(Ok((file, len, permit))) => {
            tracing::info!(bytes = len, "backup snapshot served");
            let stream = Held {
                chunks: tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file)),
                _permit: permit,
            };
            let mut r = Body::from_stream(stream).into_response();
            r.headers_mut()
                .insert(axum::http::header::CONTENT_LENGTH, len.into());
            r
        }
        Ok(Err(e)) => backup_failed(e),
        Err(e) => backup_failed(e),
    }
}

/// The snapshot's bytes with the backup slot: the next snapshot can be made once this one is
/// sent or its client is gone (hyper drops the body then), so at most one copy exists at a time.
struct Held {
    chunks: tokio_util::io::ReaderStream<tokio::fs::File>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl futures_core::Stream for Held {
    type Item = std::io::Result<axum::body::Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::pin::Pin::new(&mut self.chunks).poll_next(cx)
    }
}

fn backup_failed(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "backup failed");
    crate::error::ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "backup_failed",
        "the snapshot could not be made; see the service's log",
    )
    .into_response()
}

/// Asks the service running on `data_dir` for a snapshot over its admin socket and streams it
/// into `out`, a new 0600 file (removed if anything fails); its length, or None if no service
/// answers there (then the store can be read directly).
pub async fn fetch_snapshot(data_dir: &Path, out: &Path) -> anyhow::Result<Option<u64>> {
    use http_body_util::BodyExt;
    let Ok(stream) = UnixStream::connect(data_dir.join(ADMIN_SOCKET)).await else {
        return Ok(None);
    };
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = hyper::Request::get(BACKUP_PATH)
        .header(hyper::header::HOST, "kms-signer")
        .body(http_body_util::Empty::<hyper::body::Bytes>::new())?;
    let answer = sender.send_request(req).await?;
    let status = answer.status();
    let mut body = answer.into_body();
    if !status.is_success() {
        let text = body.collect().await?.to_bytes();
        bail!(
            "the service refused the backup ({status}): {}",
            String::from_utf8_lossy(&text)
        );
    }
    let file = backup::new_private_file(out)?;
    let written = async {
        let mut file = tokio::fs::File::from_std(file);
        let mut n = 0u64;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.context("reading the snapshot")?.into_data() {
                file.write_all(&data).await?;
                n += data.len() as u64;
            }
        }
        file.sync_all().await?;
        anyhow::Ok(n)
    }
    .await;
    if written.is_err() {
        let _ = std::fs::remove_file(out);
    }
    Ok(Some(written?))
}
