//! Port forwarding, all three kinds OpenSSH has:
//!
//! - **local** (`ssh -L`): a listener on 127.0.0.1; each connection gets its own
//!   `direct-tcpip` channel to a host the SSH server reaches.
//! - **remote** (`ssh -R`): the SSH server listens (`tcpip-forward`); each connection comes
//!   back as a `forwarded-tcpip` channel and is connected to a local target.
//! - **dynamic** (`ssh -D`): a SOCKS5 proxy on 127.0.0.1; each CONNECT (IPv4, IPv6 or a
//!   name, resolved by the SSH server) gets its own `direct-tcpip` channel.
//!
//! Data flows both ways with half-closes passed on. A forward stops when closed or when its
//! session ends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::config::policy::Allowlist;
use crate::error::{Error, Result};
use crate::ssh::session::Session;
use crate::ssh::tunnel::{Counters, RemoteTarget, carry, open_error};

/// Which kind of forward, with its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Listens on `listen`, connects to `target` from the SSH server.
    Local { target: (String, u16) },
    /// The SSH server listens on `bind`; connections go to `target` on this machine.
    Remote {
        bind: (String, u16),
        target: (String, u16),
    },
    /// SOCKS5 on `listen`.
    Dynamic,
}

/// A running forward.
#[derive(Debug)]
pub struct Forward {
    pub id: String,
    pub kind: Kind,
    /// The local listener (local and dynamic forwards).
    pub listen: Option<SocketAddr>,
    /// Stops the listener and every connection; a child of the session's token.
    cancel: CancellationToken,
    counters: Arc<Counters>,
}

impl Forward {
    /// `ssh -L`: binds `127.0.0.1:local_port` and carries each connection to
    /// `remote_host:remote_port` as seen from the SSH server.
    pub async fn start_local(
        session: Arc<Session>,
        id: String,
        local_port: u16,
        remote_host: String,
        remote_port: u16,
    ) -> Result<Self> {
        let kind = Kind::Local {
            target: (remote_host, remote_port),
        };
        Self::listen(session, id, local_port, kind, Allowlist::default()).await
    }

    /// `ssh -D`: a SOCKS5 proxy on `127.0.0.1:local_port`, whose targets must pass
    /// `allowed`.
    pub async fn start_dynamic(
        session: Arc<Session>,
        id: String,
        local_port: u16,
        allowed: Allowlist,
    ) -> Result<Self> {
        Self::listen(session, id, local_port, Kind::Dynamic, allowed).await
    }

    async fn listen(
        session: Arc<Session>,
        id: String,
        local_port: u16,
        kind: Kind,
        allowed: Allowlist,
    ) -> Result<Self> {
        let bind = SocketAddr::from(([127, 0, 0, 1], local_port));
        let listener = TcpListener::bind(bind)
            .await
            .map_err(|source| Error::Bind {
                addr: bind.to_string(),
                source,
            })?;
        let listen = listener
            .local_addr()
            .map_err(|e| Error::io("reading the bound address", e))?;
        let fwd = Self {
            id,
            kind,
            listen: Some(listen),
            cancel: session.dead_token().child_token(),
            counters: Arc::new(Counters::default()),
        };
        tokio::spawn(accept_loop(
            listener,
            session,
            fwd.kind.clone(),
            Arc::new(allowed),
            fwd.cancel.clone(),
            fwd.counters.clone(),
        ));
        tracing::info!(id = %fwd.id, local = %listen, kind = ?fwd.kind, "forward started");
        Ok(fwd)
    }

    /// `ssh -R`: asks the SSH server to listen on `bind_host:bind_port` (0: it picks) and
    /// connects each incoming connection to `target_host:target_port` here, at one of
    /// `target_addrs` (its addresses, checked by the caller).
    pub async fn start_remote(
        session: Arc<Session>,
        id: String,
        bind_host: String,
        bind_port: u16,
        (target_host, target_port): (String, u16),
        target_addrs: Vec<SocketAddr>,
    ) -> Result<Self> {
        let port = session
            .handle()
            .tcpip_forward(bind_host.clone(), u32::from(bind_port))
            .await
            .map_err(|e| match e {
                russh::Error::RequestDenied => Error::ForwardRefused(format!(
                    "the server refused to listen on {bind_host}:{bind_port} (in use, privileged, or AllowTcpForwarding forbids remote forwards)"
                )),
                // Some servers (tinysshd) end the connection on requests they do not know.
                _ if session.is_closed() => Error::ForwardRefused(format!(
                    "the server closed the connection when asked to listen on {bind_host}:{bind_port}: it does not support remote forwarding (the session reconnects on its next use)"
                )),
                other => Error::Ssh(other),
            })?;
        let port = if port == 0 {
            u32::from(bind_port)
        } else {
            port
        };
        let cancel = session.dead_token().child_token();
        let counters = Arc::new(Counters::default());
        session.remote_targets().insert(
            port,
            RemoteTarget {
                host: target_host.clone(),
                port: target_port,
                addrs: target_addrs,
                cancel: cancel.clone(),
                counters: counters.clone(),
            },
        );
        // Cancel the server's listener when the forward stops.
        let (c, h, s) = (cancel.clone(), bind_host.clone(), session.clone());
        tokio::spawn(async move {
            c.cancelled().await;
            s.remote_targets().remove(port);
            if !s.is_closed() {
                let _ = s.handle().cancel_tcpip_forward(h, port).await;
            }
        });
        let bind = (bind_host, u16::try_from(port).unwrap_or(bind_port));
        tracing::info!(%id, remote = ?bind, "remote forward started");
        Ok(Self {
            id,
            kind: Kind::Remote {
                bind,
                target: (target_host, target_port),
            },
            listen: None,
            cancel,
            counters,
        })
    }

    /// Whether the forward still runs.
    pub fn is_active(&self) -> bool {
        !self.cancel.is_cancelled()
    }

    /// Connections open right now.
    pub fn live_connections(&self) -> usize {
        self.counters.live.load(Ordering::Relaxed)
    }

    /// Bytes moved so far, both directions.
    pub fn bytes(&self) -> u64 {
        self.counters.bytes.load(Ordering::Relaxed)
    }

    /// Stops the listener (or the server's listener) and every connection.
    pub fn stop(&self) {
        self.cancel.cancel();
    }
}

async fn accept_loop(
    listener: TcpListener,
    session: Arc<Session>,
    kind: Kind,
    allowed: Arc<Allowlist>,
    cancel: CancellationToken,
    counters: Arc<Counters>,
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
        let (session, kind, allowed, cancel, counters) = (
            session.clone(),
            kind.clone(),
            allowed.clone(),
            cancel.clone(),
            counters.clone(),
        );
        tokio::spawn(async move {
            counters.live.fetch_add(1, Ordering::Relaxed);
            let r = match kind {
                Kind::Dynamic => {
                    crate::ssh::socks::serve(&session, tcp, peer, &allowed, &cancel, &counters)
                        .await
                }
                Kind::Local { target } => {
                    outbound(&session, tcp, peer, &target, &cancel, &counters).await
                }
                Kind::Remote { .. } => Ok(()),
            };
            if let Err(e) = r {
                tracing::debug!(error = %e.chain(), %peer, "forwarded connection ended with an error");
            }
            counters.live.fetch_sub(1, Ordering::Relaxed);
        });
    }
    // Session closed or forward stopped: make sure connections go too.
    cancel.cancel();
    tracing::debug!("forward listener closed");
}

/// Opens a `direct-tcpip` channel to `target` and carries `tcp` over it.
async fn outbound(
    session: &Session,
    tcp: TcpStream,
    peer: SocketAddr,
    (host, port): &(String, u16),
    cancel: &CancellationToken,
    counters: &Counters,
) -> Result<()> {
    let channel = tokio::select! {
        _ = cancel.cancelled() => return Ok(()),
        r = session.handle().channel_open_direct_tcpip(
            host.clone(),
            u32::from(*port),
            peer.ip().to_string(),
            u32::from(peer.port()),
        ) => r.map_err(open_error)?,
    };
    carry(tcp, channel.into_stream(), cancel, counters).await
}

/// Whether the SSH server can connect to `host:port`: one `direct-tcpip` channel, opened
/// and closed at once (within 5 s). The error is the server's reason.
pub async fn target_reachable(
    session: &Session,
    host: &str,
    port: u16,
) -> std::result::Result<(), String> {
    let open = session.handle().channel_open_direct_tcpip(
        host.to_string(),
        u32::from(port),
        "127.0.0.1",
        0,
    );
    match tokio::time::timeout(std::time::Duration::from_secs(5), open).await {
        Ok(Ok(channel)) => {
            let _ = channel.close().await;
            Ok(())
        }
        Ok(Err(e)) => Err(open_error(e).to_string()),
        Err(_) => Err("the SSH server did not answer within 5 s".into()),
    }
}
