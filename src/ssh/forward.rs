//! Local TCP forwarding: a listener on 127.0.0.1 whose every connection is carried by its
//! own `direct-tcpip` channel, both directions at once, half-closes propagated.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::ssh::session::Session;

/// Buffer size of each direction of a forwarded connection: large enough that each read
/// fills an SSH packet, instead of tokio's default 8 KiB.
const COPY_BUF: usize = 256 * 1024;

/// A running local forward. Dropping it does not stop it; call [`Forward::stop`].
#[derive(Debug)]
pub struct Forward {
    pub id: String,
    /// The address actually bound (the real port when 0 was asked for).
    pub local_addr: SocketAddr,
    /// Host to reach, resolved on the remote side.
    pub remote_host: String,
    pub remote_port: u16,
    /// Stops the listener and every connection of this forward; a child of the
    /// session's token, so closing the session stops it too.
    cancel: CancellationToken,
    /// Connections currently open.
    live: Arc<AtomicUsize>,
    /// Bytes moved in both directions by finished and live connections.
    bytes: Arc<AtomicU64>,
}

impl Forward {
    /// Binds `127.0.0.1:local_port` and starts accepting.
    pub async fn start(
        session: Arc<Session>,
        id: String,
        local_port: u16,
        remote_host: String,
        remote_port: u16,
    ) -> Result<Self> {
        let bind = SocketAddr::from(([127, 0, 0, 1], local_port));
        let listener = TcpListener::bind(bind)
            .await
            .map_err(|source| Error::Bind {
                addr: bind.to_string(),
                source,
            })?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the bound address", e))?;
        let fwd = Self {
            id,
            local_addr,
            remote_host,
            remote_port,
            cancel: session.dead_token().child_token(),
            live: Arc::new(AtomicUsize::new(0)),
            bytes: Arc::new(AtomicU64::new(0)),
        };
        tokio::spawn(accept_loop(
            listener,
            session,
            fwd.target(),
            fwd.cancel.clone(),
            fwd.live.clone(),
            fwd.bytes.clone(),
        ));
        tracing::info!(id = %fwd.id, local = %local_addr, remote = %fwd.remote(), "forward started");
        Ok(fwd)
    }

    fn target(&self) -> (String, u16) {
        (self.remote_host.clone(), self.remote_port)
    }

    /// `host:port` of the remote end, as given.
    pub fn remote(&self) -> String {
        if self.remote_host.contains(':') {
            format!("[{}]:{}", self.remote_host, self.remote_port)
        } else {
            format!("{}:{}", self.remote_host, self.remote_port)
        }
    }

    /// Whether the listener still runs.
    pub fn is_active(&self) -> bool {
        !self.cancel.is_cancelled()
    }

    /// Connections open right now.
    pub fn live_connections(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Bytes moved so far, both directions.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Closes the listener and every connection.
    pub fn stop(&self) {
        self.cancel.cancel();
    }
}

async fn accept_loop(
    listener: TcpListener,
    session: Arc<Session>,
    target: (String, u16),
    cancel: CancellationToken,
    live: Arc<AtomicUsize>,
    bytes: Arc<AtomicU64>,
) {
    loop {
        let (tcp, peer) = tokio::select! {
            _ = cancel.cancelled() => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "forward accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let session = session.clone();
        let target = target.clone();
        let cancel = cancel.clone();
        let live = live.clone();
        let bytes = bytes.clone();
        tokio::spawn(async move {
            live.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = carry(&session, tcp, peer, &target, &cancel, &bytes).await {
                tracing::debug!(error = %e.chain(), %peer, "forwarded connection ended with an error");
            }
            live.fetch_sub(1, Ordering::Relaxed);
        });
    }
    // Session closed or forward stopped: make sure connections go too.
    cancel.cancel();
    tracing::debug!("forward listener closed");
}

/// Carries one accepted connection over a new `direct-tcpip` channel until both sides are
/// done or the forward stops.
async fn carry(
    session: &Session,
    mut tcp: TcpStream,
    peer: SocketAddr,
    (host, port): &(String, u16),
    cancel: &CancellationToken,
    bytes: &AtomicU64,
) -> Result<()> {
    let channel = tokio::select! {
        _ = cancel.cancelled() => return Ok(()),
        r = session.handle().channel_open_direct_tcpip(
            host.clone(),
            u32::from(*port),
            peer.ip().to_string(),
            u32::from(peer.port()),
        ) => r.map_err(|e| match e {
            russh::Error::ChannelOpenFailure(reason) => Error::ChannelOpen(format!("{reason:?}")),
            other => Error::Ssh(other),
        })?,
    };
    let mut stream = channel.into_stream();
    tokio::select! {
        _ = cancel.cancelled() => Ok(()),
        r = tokio::io::copy_bidirectional_with_sizes(&mut tcp, &mut stream, COPY_BUF, COPY_BUF) => match r {
            Ok((up, down)) => {
                bytes.fetch_add(up + down, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => Err(Error::io("forwarding", e)),
        },
    }
}
