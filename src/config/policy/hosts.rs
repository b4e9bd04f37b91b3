//! Host rules: the `allowed_hosts` allowlist (SSH servers and forward targets) and the
//! `forward_to` list (where a remote forward's connections may go on this machine).
//!
//! A rule is a host pattern (`*` and `?` wildcards, optionally with `:port`) or a network
//! in CIDR notation (`10.0.0.0/8`, `fd00::/8`); a leading `!` refuses what it matches,
//! whatever else matches. A host is judged by the name as given **and** by every address
//! it resolves to, so that another spelling of a refused address (`127.1`, `2130706433`,
//! `::ffff:127.0.0.1`) is refused too: an address may be used when a positive rule matches
//! the name or the address, and no negative rule matches either.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::{Error, Result};
use crate::wildcard::wildcard_match;

/// What one rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// A wildcard pattern over `host` or `host:port` (lower case).
    Name(String),
    /// A network, matched against addresses (and IP-literal names).
    Net(IpNet),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    refuse: bool,
    pattern: Pattern,
}

/// A parsed list of host rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostRules {
    rules: Vec<Rule>,
}

/// Whether an address may be used, by the rules alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Match {
    Allowed,
    Refused,
    NotListed,
}

impl HostRules {
    /// Parses rules; `what` names the setting in errors.
    pub fn parse(list: &[String], what: &str) -> Result<Self> {
        let rules = list
            .iter()
            .map(|raw| {
                let s = raw.trim().to_ascii_lowercase();
                let (refuse, body) = match s.strip_prefix('!') {
                    Some(b) => (true, b.to_string()),
                    None => (false, s.clone()),
                };
                if body.is_empty() {
                    return Err(Error::InvalidArgument(format!(
                        "{what}: empty pattern {raw:?}"
                    )));
                }
                let pattern = if body.contains('/') {
                    Pattern::Net(body.parse::<IpNet>().map_err(|_| {
                        Error::InvalidArgument(format!(
                            "{what}: {raw:?} is not a network like 10.0.0.0/8 or fd00::/8"
                        ))
                    })?)
                } else {
                    Pattern::Name(body)
                };
                Ok(Rule { refuse, pattern })
            })
            .collect::<Result<_>>()?;
        Ok(Self { rules })
    }

    /// No rules at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// How the rules judge `host` (a name or IP literal) and `port`, by the name alone.
    fn judge_name(&self, host: &str, port: u16) -> Match {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let with_port = format!("{host}:{port}");
        let literal = host.parse::<IpAddr>().ok().map(canonical);
        let mut found = Match::NotListed;
        for r in &self.rules {
            let hit = match &r.pattern {
                Pattern::Name(p) => wildcard_match(p, &host) || wildcard_match(p, &with_port),
                Pattern::Net(n) => literal.is_some_and(|ip| n.contains(&ip)),
            };
            match (hit, r.refuse) {
                (true, true) => return Match::Refused,
                (true, false) => found = Match::Allowed,
                _ => {}
            }
        }
        found
    }

    /// How the rules judge one address.
    fn judge_addr(&self, ip: IpAddr, port: u16) -> Match {
        let ip = canonical(ip);
        let text = ip.to_string();
        let with_port = format!("{text}:{port}");
        let mut found = Match::NotListed;
        for r in &self.rules {
            let hit = match &r.pattern {
                Pattern::Name(p) => wildcard_match(p, &text) || wildcard_match(p, &with_port),
                Pattern::Net(n) => n.contains(&ip),
            };
            match (hit, r.refuse) {
                (true, true) => return Match::Refused,
                (true, false) => found = Match::Allowed,
                _ => {}
            }
        }
        found
    }

    /// Whether `host:port` can be allowed at all, before any lookup: refused when a
    /// negative rule matches the name, or when nothing could allow it (no positive rule
    /// matches the name and no rule is a network its addresses might fall in).
    pub fn may_allow(&self, host: &str, port: u16) -> bool {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.allows(host, port, ip);
        }
        match self.judge_name(host, port) {
            Match::Refused => false,
            Match::Allowed => true,
            Match::NotListed => self
                .rules
                .iter()
                .any(|r| !r.refuse && r.may_match_an_address(port)),
        }
    }

    /// Whether `host:port` may be reached at address `ip`.
    pub fn allows(&self, host: &str, port: u16, ip: IpAddr) -> bool {
        let by_name = self.judge_name(host, port);
        let by_addr = self.judge_addr(ip, port);
        if by_name == Match::Refused || by_addr == Match::Refused {
            return false;
        }
        by_name == Match::Allowed || by_addr == Match::Allowed
    }
}

impl Rule {
    /// Whether the rule may match some address: a network, or a name pattern that an
    /// address's text form could match (`10.0.0.*`, `*`).
    fn may_match_an_address(&self, port: u16) -> bool {
        match &self.pattern {
            Pattern::Net(_) => true,
            Pattern::Name(p) => {
                let for_other_port = p
                    .rsplit_once(':')
                    .and_then(|(_, q)| q.parse::<u16>().ok())
                    .is_some_and(|q| q != port && p.matches(':').count() == 1);
                !for_other_port
                    && p.chars()
                        .all(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '*' | '?'))
            }
        }
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The `allowed_hosts` allowlist: where the model may connect and forward to.
#[derive(Debug, Clone, Default)]
pub struct Allowlist(pub HostRules);

impl Allowlist {
    /// The refusal for `host:port`.
    pub fn refusal(host: &str, port: u16) -> Error {
        Error::Policy(format!(
            "{} is not in this server's list of allowed hosts (security.allowed_hosts)",
            crate::address::Address {
                host: host.to_string(),
                port
            }
        ))
    }

    /// Refuses, before any lookup, a host that no address could make allowed.
    pub fn check_name(&self, host: &str, port: u16) -> Result<()> {
        if self.0.is_empty() || self.0.may_allow(host, port) {
            Ok(())
        } else {
            Err(Self::refusal(host, port))
        }
    }

    /// Whether a positive rule allows `host:port` by its name, and no negative one refuses
    /// it: what decides for a name this machine cannot resolve (a forward's target, which
    /// the SSH server resolves).
    pub fn allows_name(&self, host: &str, port: u16) -> bool {
        self.0.is_empty() || self.0.judge_name(host, port) == Match::Allowed
    }

    /// Keeps the addresses of `host:port` that may be used; refuses when none remains.
    pub fn filter(
        &self,
        host: &str,
        port: u16,
        addrs: Vec<std::net::SocketAddr>,
    ) -> Result<Vec<std::net::SocketAddr>> {
        if self.0.is_empty() {
            return Ok(addrs);
        }
        let kept: Vec<_> = addrs
            .into_iter()
            .filter(|a| self.0.allows(host, port, a.ip()))
            .collect();
        if kept.is_empty() {
            return Err(Self::refusal(host, port));
        }
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(list: &[&str]) -> HostRules {
        HostRules::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "t").unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn rules_should_judge_names_and_every_address() {
        let r = rules(&["*", "!127.0.0.1", "!10.1.0.0/16"]);
        assert!(r.allows("example.com", 22, ip("192.0.2.1")));
        // Other spellings of a refused address resolve to it, and the address decides.
        for name in ["127.1", "2130706433", "0x7f.1", "localhost"] {
            assert!(!r.allows(name, 22, ip("127.0.0.1")), "{name}");
        }
        assert!(!r.allows("x", 22, ip("::ffff:127.0.0.1")));
        assert!(!r.allows("db", 22, ip("10.1.2.3")));
        assert!(!r.may_allow("127.0.0.1", 22));
        assert!(!r.may_allow("10.1.9.9", 22));
    }

    #[test]
    fn networks_should_allow_addresses_inside_them() {
        let r = rules(&["10.0.0.0/8", "*.internal", "!db.internal"]);
        assert!(r.allows("anything", 22, ip("10.2.3.4")));
        assert!(!r.allows("anything", 22, ip("192.0.2.1")));
        assert!(r.allows("web.internal", 22, ip("192.0.2.1")));
        assert!(!r.allows("db.internal", 22, ip("10.2.3.4")));
        assert!(
            r.may_allow("some.name", 22),
            "a network may match its addresses"
        );
        let names_only = rules(&["*.internal"]);
        assert!(!names_only.may_allow("example.com", 22));
        assert!(names_only.may_allow("a.internal", 22));
        assert!(HostRules::parse(&["10.0.0.0/33".into()], "t").is_err());
        assert!(HostRules::parse(&["!".into()], "t").is_err());
    }

    #[test]
    fn ports_should_narrow_name_patterns() {
        let r = rules(&["10.0.0.?:2222"]);
        assert!(r.allows("10.0.0.5", 2222, ip("10.0.0.5")));
        assert!(!r.allows("10.0.0.5", 22, ip("10.0.0.5")));
    }
}
