//! SIGINT, SIGTERM and SIGHUP stop the devnet.

use super::*;

/// SIGINT, SIGTERM and SIGHUP, delivered by name on a channel. A current-thread runtime on its own
/// thread only waits for them, so the rest stays blocking (reqwest's blocking client must not run
/// inside a runtime).
pub(crate) fn watch_signals() -> Result<Receiver<&'static str>, CliError> {
    use tokio::signal::unix::{signal, SignalKind};
    let fail = |e: std::io::Error| CliError::Failure(format!("cannot watch signals: {e}"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(fail)?;
    // Registered here, not on the thread, so they are in place before any child starts.
    let (mut int, mut term, mut hup) = {
        let _guard = runtime.enter();
        (
            signal(SignalKind::interrupt()).map_err(fail)?,
            signal(SignalKind::terminate()).map_err(fail)?,
            signal(SignalKind::hangup()).map_err(fail)?,
        )
    };
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(async move {
                loop {
                    let name = tokio::select! {
                        _ = int.recv() => "SIGINT",
                        _ = term.recv() => "SIGTERM",
                        _ = hup.recv() => "SIGHUP",
                    };
                    if tx.send(name).is_err() {
                        break;
                    }
                }
            })
        })
        .map_err(fail)?;
    Ok(rx)
}
