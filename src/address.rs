//! Parsing of the `address` argument: `host`, `host:port`, `[v6addr]:port`, bare IPv6.

use std::fmt;
use std::net::Ipv6Addr;

use crate::error::{Error, Result};

/// Where to connect: a host name or literal address, and a port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    /// Host name or IP literal, without brackets.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl Address {
    /// Parses `host`, `host:port`, `[v6]` or `[v6]:port`; a bare IPv6 literal (two or more
    /// colons) is taken whole with `default_port`.
    pub fn parse(input: &str, default_port: u16) -> Result<Self> {
        let invalid = |reason| Error::InvalidAddress {
            address: input.to_string(),
            reason,
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(invalid("it is empty"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("it contains whitespace"));
        }
        if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| invalid("missing ']' after an IPv6 address"))?;
            if host.is_empty() {
                return Err(invalid("empty host between brackets"));
            }
            if !is_ipv6_literal(host) {
                return Err(invalid("only an IPv6 address may stand between brackets"));
            }
            let port = match after {
                "" => default_port,
                p => parse_port(
                    p.strip_prefix(':')
                        .ok_or_else(|| invalid("expected ':port' after ']'"))?,
                )
                .ok_or_else(|| invalid("the port must be a number from 1 to 65535"))?,
            };
            return Ok(Self {
                host: host.to_string(),
                port,
            });
        }
        if s.matches(':').count() >= 2 {
            return match s.parse::<Ipv6Addr>() {
                Ok(_) => Ok(Self {
                    host: s.to_string(),
                    port: default_port,
                }),
                Err(_) => Err(invalid(
                    "IPv6 addresses with a port are written [addr]:port",
                )),
            };
        }
        let (host, port) = match s.rsplit_once(':') {
            Some((h, p)) => (
                h,
                parse_port(p)
                    .ok_or_else(|| invalid("the port must be a number from 1 to 65535"))?,
            ),
            None => (s, default_port),
        };
        if host.is_empty() {
            return Err(invalid("the host is empty"));
        }
        if host.starts_with('-') {
            return Err(invalid("a host cannot start with '-'"));
        }
        if !is_host_name(host) {
            return Err(invalid(
                "a host is a name (letters, digits, '-', '.', '_') or an IP address; patterns and other characters are not hosts",
            ));
        }
        Ok(Self {
            host: host.to_string(),
            port,
        })
    }

    /// The name used in known_hosts: `host` for port 22, else `[host]:port`.
    pub fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.host.to_ascii_lowercase()
        } else {
            format!("[{}]:{}", self.host.to_ascii_lowercase(), self.port)
        }
    }
}

/// Whether `host` is a plain host name or IPv4 address: letters, digits, `-`, `.` and
/// `_`, not starting with `-`. Wildcards and pattern characters (`*?![],`), which an ssh
/// config or known_hosts would read as patterns, are not.
pub fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && !host.starts_with('-')
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

/// Whether `host` is an IPv6 address, optionally with a zone (`fe80::1%eth0`).
fn is_ipv6_literal(host: &str) -> bool {
    let (addr, zone) = match host.split_once('%') {
        Some((a, z)) => (a, Some(z)),
        None => (host, None),
    };
    addr.parse::<Ipv6Addr>().is_ok()
        && zone.is_none_or(|z| {
            !z.is_empty()
                && z.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        })
}

/// Whether `host` may be connected to and recorded in known_hosts: a host name, an IPv4
/// address or an IPv6 address.
pub fn is_real_host(host: &str) -> bool {
    is_host_name(host) || is_ipv6_literal(host)
}

fn parse_port(p: &str) -> Option<u16> {
    p.parse::<u16>().ok().filter(|&n| n != 0)
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> (String, u16) {
        let a = Address::parse(s, 22).unwrap();
        (a.host, a.port)
    }

    #[test]
    fn address_should_parse_every_documented_form() {
        assert_eq!(ok("example.com"), ("example.com".into(), 22));
        assert_eq!(ok("example.com:2222"), ("example.com".into(), 2222));
        assert_eq!(ok("10.0.0.1:22"), ("10.0.0.1".into(), 22));
        assert_eq!(ok("[::1]:2200"), ("::1".into(), 2200));
        assert_eq!(ok("[fe80::1]"), ("fe80::1".into(), 22));
        assert_eq!(ok("::1"), ("::1".into(), 22));
        assert_eq!(ok("  host  "), ("host".into(), 22));
    }

    #[test]
    fn address_should_reject_malformed_input() {
        for bad in [
            "",
            "host:",
            "host:0",
            "host:70000",
            "host:abc",
            "[::1",
            "[::1]x",
            ":22",
            "a b",
            "-oProxyCommand=x",
            "::1:22:x:y",
            "*",
            "web*",
            "*.example.com:22",
            "h?st",
            "!bad",
            "a,b",
            "[a]",
            "[*]:22",
            "host[1]",
            "a/b",
            "a%b",
            "é.example",
        ] {
            assert!(
                Address::parse(bad, 22).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn address_should_format_known_hosts_names_like_openssh() {
        assert_eq!(
            Address::parse("Host", 22).unwrap().known_hosts_name(),
            "host"
        );
        assert_eq!(
            Address::parse("h:2222", 22).unwrap().known_hosts_name(),
            "[h]:2222"
        );
        assert_eq!(
            Address::parse("[::1]:22", 22).unwrap().to_string(),
            "[::1]:22"
        );
    }
}
