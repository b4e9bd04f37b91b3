//! The SOCKS5 side of a dynamic forward (RFC 1928: no authentication, CONNECT only).

use std::net::SocketAddr;
use std::time::Duration;

use russh::ChannelOpenFailure;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::config::policy::Allowlist;
use crate::error::{Error, Result};
use crate::ssh::session::Session;
use crate::ssh::tunnel::{Counters, carry, host_port, open_error, target_allowed};

/// Time a SOCKS client has to send its greeting and its request.
const SOCKS_HANDSHAKE: Duration = Duration::from_secs(10);

/// Serves one SOCKS5 client (RFC 1928, no authentication, CONNECT only). The handshake
/// must be done within [`SOCKS_HANDSHAKE`], and the target must pass `allowed`.
pub(crate) async fn serve(
    session: &Session,
    mut tcp: TcpStream,
    peer: SocketAddr,
    allowed: &Allowlist,
    cancel: &CancellationToken,
    counters: &Counters,
) -> Result<()> {
    let request = tokio::time::timeout(SOCKS_HANDSHAKE, socks_request(&mut tcp))
        .await
        .map_err(|_| Error::InvalidArgument("SOCKS5 handshake timed out".into()))?;
    let (host, port) = request?;
    if let Err(e) = target_allowed(allowed, &host, port).await {
        let _ = tcp.write_all(&socks_reply(2)).await;
        tracing::info!(target = %host_port(&host, port), "SOCKS target refused by allowed_hosts");
        return Err(e);
    }
    let opened = tokio::select! {
        _ = cancel.cancelled() => return Ok(()),
        r = session.handle().channel_open_direct_tcpip(
            host.clone(),
            u32::from(port),
            peer.ip().to_string(),
            u32::from(peer.port()),
        ) => r,
    };
    let channel = match opened {
        Ok(c) => c,
        Err(e) => {
            let code = match &e {
                russh::Error::ChannelOpenFailure(
                    ChannelOpenFailure::AdministrativelyProhibited,
                ) => 2,
                russh::Error::ChannelOpenFailure(ChannelOpenFailure::ConnectFailed) => 5,
                russh::Error::ChannelOpenFailure(_) => 4,
                _ => 1,
            };
            let _ = tcp.write_all(&socks_reply(code)).await;
            return Err(open_error(e));
        }
    };
    tcp.write_all(&socks_reply(0))
        .await
        .map_err(|e| Error::io("SOCKS5 reply", e))?;
    carry(tcp, channel.into_stream(), cancel, counters).await
}

/// Reads a SOCKS5 greeting and CONNECT request; returns the target.
async fn socks_request(tcp: &mut TcpStream) -> Result<(String, u16)> {
    let io = |e| Error::io("SOCKS5 handshake", e);
    let mut head = [0u8; 2];
    tcp.read_exact(&mut head).await.map_err(io)?;
    let [version, n] = head;
    let mut methods = vec![0u8; usize::from(n)];
    tcp.read_exact(&mut methods).await.map_err(io)?;
    if version != 5 || !methods.contains(&0) {
        let _ = tcp.write_all(&[5, 0xff]).await;
        return Err(Error::InvalidArgument(
            "SOCKS5 client without no-auth method".into(),
        ));
    }
    tcp.write_all(&[5, 0]).await.map_err(io)?;
    let mut req = [0u8; 4];
    tcp.read_exact(&mut req).await.map_err(io)?;
    let [_, cmd, _, atyp] = req;
    let host = match atyp {
        1 => {
            let mut a = [0u8; 4];
            tcp.read_exact(&mut a).await.map_err(io)?;
            std::net::Ipv4Addr::from(a).to_string()
        }
        4 => {
            let mut a = [0u8; 16];
            tcp.read_exact(&mut a).await.map_err(io)?;
            std::net::Ipv6Addr::from(a).to_string()
        }
        3 => {
            let mut len = [0u8; 1];
            tcp.read_exact(&mut len).await.map_err(io)?;
            let mut name = vec![0u8; usize::from(len[0])];
            tcp.read_exact(&mut name).await.map_err(io)?;
            String::from_utf8_lossy(&name).into_owned()
        }
        _ => {
            let _ = tcp.write_all(&socks_reply(8)).await;
            return Err(Error::InvalidArgument(
                "SOCKS5 address type not supported".into(),
            ));
        }
    };
    let mut port = [0u8; 2];
    tcp.read_exact(&mut port).await.map_err(io)?;
    let port = u16::from_be_bytes(port);
    if cmd != 1 {
        let _ = tcp.write_all(&socks_reply(7)).await;
        return Err(Error::InvalidArgument(
            "only SOCKS5 CONNECT is supported".into(),
        ));
    }
    Ok((host, port))
}

/// A SOCKS5 reply with `code` and an all-zero IPv4 bound address.
fn socks_reply(code: u8) -> [u8; 10] {
    [5, code, 0, 1, 0, 0, 0, 0, 0, 0]
}
