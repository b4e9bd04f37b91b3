//! Serving an axum app on a TCP listener: HTTP/1 with a header-read timeout, each
//! connection its own task, a graceful stop. Used by the HTTP front end and by the secret
//! pages' own listener (over stdio).

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Time a client has to send a request's headers; idle keep-alive connections close after it
/// too, as nginx closes them after 75 s (30 s is hyper's own default).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `app` until `shutdown` is cancelled, then stops accepting and gives open
/// connections up to 5 s to finish.
pub async fn serve(listener: TcpListener, app: axum::Router, shutdown: CancellationToken) {
    serve_at_most(listener, app, shutdown, None).await;
}

/// [`serve`], with at most `max_connections` open at once: one past it is closed as soon as
/// it is accepted, so that a flood of connections (from another user of the machine, on a
/// loopback listener) cannot use up this process's file descriptors.
pub async fn serve_at_most(
    listener: TcpListener,
    app: axum::Router,
    shutdown: CancellationToken,
    max_connections: Option<usize>,
) {
    let slots = max_connections.map(|n| Arc::new(Semaphore::new(n)));
    // Each connection task holds a receiver; `closed()` resolves when all have ended.
    let (open_tx, open_rx) = tokio::sync::watch::channel(());
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                ) => continue,
                Err(e) => {
                    // Out of file descriptors, say: wait instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let slot = match &slots {
            Some(s) => match s.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    tracing::debug!("refusing a connection: too many are open");
                    continue;
                }
            },
            None => None,
        };
        // Small responses (JSON, SSE events) go out at once, not after the client's ACK.
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let stop = shutdown.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            // HTTP/1 only (the build has no HTTP/2): its header timer runs from the first
            // byte awaited, so a connection that sends nothing is closed too.
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            let io = hyper_util::rt::TokioIo::new(stream);
            let conn = builder.serve_connection(io, service).with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                served = conn.as_mut() => {
                    if let Err(e) = served {
                        tracing::debug!(error = %e, "HTTP connection ended with an error");
                    }
                }
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(open);
            drop(slot);
        });
    }
    // New connections are refused from here on.
    drop(listener);
    drop(open_rx);
    // Open streams end with the shutdown token (rmcp watches it); don't wait forever anyway.
    let _ = tokio::time::timeout(Duration::from_secs(5), open_tx.closed()).await;
}
