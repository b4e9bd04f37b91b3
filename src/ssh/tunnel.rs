//! Carrying forwarded connections: the copy loop shared by every kind of forward, and the
//! remote forwards' table of targets that the client handler consults when the server
//! opens a `forwarded-tcpip` channel.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use crate::address::Address;
use crate::config::policy::Allowlist;
use crate::error::{Error, Result};

/// Buffer size of each direction of a forwarded connection: large enough that each read
/// fills an SSH packet, instead of tokio's default 8 KiB.
const COPY_BUF: usize = 256 * 1024;

/// Counters shared by a forward and its connections.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections open right now.
    pub live: AtomicUsize,
    /// Bytes moved in both directions by finished and live connections.
    pub bytes: AtomicU64,
}

/// Remote forwards of one connection, by the port the server listens on: where their
/// connections go. Filled by `Forward::start_remote`, read by the client handler.
#[derive(Debug, Clone, Default)]
pub struct RemoteTargets(Arc<Mutex<HashMap<u32, RemoteTarget>>>);

/// Where one remote forward's connections go.
#[derive(Debug, Clone)]
pub struct RemoteTarget {
    pub host: String,
    pub port: u16,
    /// The addresses checked when the forward started: connections go to these only.
    pub addrs: Vec<SocketAddr>,
    pub cancel: CancellationToken,
    pub counters: Arc<Counters>,
}

impl RemoteTargets {
    /// The target for connections arriving on `port`.
    pub fn get(&self, port: u32) -> Option<RemoteTarget> {
        self.0.lock().ok().and_then(|m| m.get(&port).cloned())
    }

    pub(crate) fn insert(&self, port: u32, t: RemoteTarget) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(port, t);
        }
    }

    pub(crate) fn remove(&self, port: u32) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(&port);
        }
    }
}

/// Copies both ways until both sides are done or the forward stops.
pub async fn carry<A, B>(
    mut a: A,
    mut b: B,
    cancel: &CancellationToken,
    counters: &Counters,
) -> Result<()>
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    tokio::select! {
        _ = cancel.cancelled() => Ok(()),
        r = tokio::io::copy_bidirectional_with_sizes(&mut a, &mut b, COPY_BUF, COPY_BUF) => match r {
            Ok((up, down)) => {
                counters.bytes.fetch_add(up + down, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => Err(Error::io("forwarding", e)),
        },
    }
}

/// Connects a `forwarded-tcpip` channel of a remote forward to its local target.
pub async fn inbound(channel: russh::Channel<russh::client::Msg>, target: RemoteTarget) {
    target.counters.live.fetch_add(1, Ordering::Relaxed);
    let address = Address {
        host: target.host.clone(),
        port: target.port,
    };
    match crate::ssh::resolve::connect_to(&address, &target.addrs).await {
        Ok(tcp) => {
            let _ = tcp.set_nodelay(true);
            if let Err(e) =
                carry(tcp, channel.into_stream(), &target.cancel, &target.counters).await
            {
                tracing::debug!(error = %e.chain(), "remote-forwarded connection ended with an error");
            }
        }
        Err(e) => {
            tracing::info!(error = %e.chain(), "remote forward target unreachable");
            let _ = channel.close().await;
        }
    }
    target.counters.live.fetch_sub(1, Ordering::Relaxed);
}

/// `host:port`, with brackets for IPv6 literals (as [`Address`] prints it).
pub fn host_port(host: &str, port: u16) -> String {
    Address {
        host: host.to_string(),
        port,
    }
    .to_string()
}

/// The error of a refused forwarding channel (`direct-tcpip`), with what may cause it.
pub(crate) fn open_error(e: russh::Error) -> Error {
    match e {
        russh::Error::ChannelOpenFailure(reason) => Error::ChannelOpen(format!(
            "{reason:?} (the server may forbid forwarding, with AllowTcpForwarding or \
             PermitOpen, or nothing answers at the target)"
        )),
        other => Error::Ssh(other),
    }
}

/// Refuses a forward target the operator's `allowed_hosts` does not allow: judged by its
/// name and, where this machine can resolve it, by every address it resolves to (the SSH
/// server, which makes the connection, may resolve it differently; a name it alone knows is
/// judged by the name).
pub async fn target_allowed(allowed: &Allowlist, host: &str, port: u16) -> Result<()> {
    if allowed.0.is_empty() {
        return Ok(());
    }
    allowed.check_name(host, port)?;
    match crate::ssh::resolve::resolve(host, port).await {
        // The SSH server resolves the name itself and may use any of its addresses, so
        // every one must be allowed.
        Ok(addrs) => {
            let all = addrs.len();
            if allowed.filter(host, port, addrs)?.len() == all {
                Ok(())
            } else {
                Err(Allowlist::refusal(host, port))
            }
        }
        Err(_) if allowed.allows_name(host, port) => Ok(()),
        Err(_) => Err(Allowlist::refusal(host, port)),
    }
}
