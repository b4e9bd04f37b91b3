//! Name resolution and TCP connection for every outgoing socket: SSH servers and the local
//! targets of remote forwards.
//!
//! IP literals and `localhost` are answered here, with no lookup at all. Every other name
//! goes to the C library's resolver (`getaddrinfo`, on tokio's blocking pool), so that
//! `/etc/hosts`, `/etc/resolv.conf` and `nsswitch.conf` apply as they do to OpenSSH.
//!
//! Static binaries need no NSS plugin for this. musl reads `/etc/hosts` and
//! `/etc/resolv.conf` itself. glibc 2.34 and later has its `files` and `dns` sources built
//! into libc, the static `libc.a` included, so a static glibc binary in an otherwise empty
//! root resolves names from `/etc/hosts` and from DNS (`scripts/static-check` proves both).
//! What a static glibc binary cannot use are the sources that are plugins (`mdns`,
//! `systemd`, `sss`, …), and without an `nsswitch.conf` glibc asks DNS before `/etc/hosts`
//! and stops at its answer: the container image ships `hosts: files dns`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::net::TcpStream;

use crate::error::{Error, Result};

/// The addresses of `host`, without a lookup when `host` is an IP literal or `localhost`.
pub async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>> {
    if let Some(ips) = without_lookup(host) {
        return Ok(ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect());
    }
    let resolve_error = |source| Error::Resolve {
        host: host.to_string(),
        source,
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(resolve_error)?
        .collect();
    if addrs.is_empty() {
        return Err(resolve_error(io::Error::new(
            io::ErrorKind::NotFound,
            "the name resolved to no address",
        )));
    }
    Ok(addrs)
}

/// Resolves `host` and connects to its addresses in turn; the first that accepts wins.
/// A failure names the last address's error.
pub async fn connect(host: &str, port: u16) -> Result<TcpStream> {
    let addrs = resolve(host, port).await?;
    let address = crate::ssh::Address {
        host: host.to_string(),
        port,
    };
    connect_to(&address, &addrs).await
}

/// Connects to `addrs` (the addresses of `address`) in turn; the first that accepts wins.
pub async fn connect_to(address: &crate::ssh::Address, addrs: &[SocketAddr]) -> Result<TcpStream> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(Error::Connect {
        addr: address.to_string(),
        source: last.unwrap_or_else(|| io::Error::other("no address to connect to")),
    })
}

/// The addresses of an IP literal, or of `localhost` (RFC 6761: always loopback, IPv4
/// first); `None` for a name that needs a lookup.
fn without_lookup(host: &str) -> Option<Vec<IpAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(vec![ip]);
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    name.eq_ignore_ascii_case("localhost").then(|| {
        vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_localhost_should_need_no_lookup() {
        assert_eq!(
            without_lookup("192.0.2.7"),
            Some(vec!["192.0.2.7".parse().unwrap()])
        );
        assert_eq!(
            without_lookup("2001:db8::1"),
            Some(vec!["2001:db8::1".parse().unwrap()])
        );
        let loopback: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
        for name in ["localhost", "LocalHost", "localhost."] {
            assert_eq!(without_lookup(name).as_ref(), Some(&loopback), "{name}");
        }
        for name in [
            "example.com",
            "localhost.example.com",
            "mylocalhost",
            "1.2.3",
        ] {
            assert_eq!(without_lookup(name), None, "{name}");
        }
    }

    #[tokio::test]
    async fn resolve_should_keep_the_port() {
        let addrs = resolve("localhost", 2222).await.unwrap();
        assert!(
            addrs
                .iter()
                .all(|a| a.port() == 2222 && a.ip().is_loopback())
        );
    }

    #[tokio::test]
    async fn connect_should_report_a_refused_port_as_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        match connect("127.0.0.1", port).await {
            Err(Error::Connect { addr, source }) => {
                assert_eq!(addr, format!("127.0.0.1:{port}"));
                assert_eq!(source.kind(), io::ErrorKind::ConnectionRefused);
            }
            other => panic!("expected a connect error, got {other:?}"),
        }
    }
}
