//! `~/.ssh/config`: an `address` may be a `Host` alias, resolved as OpenSSH would.
//!
//! Parsing (with `Include`, `Host` patterns and negation, first value wins) is done by the
//! `ssh2-config` crate. It does not understand `Match`, and would silently apply what follows
//! a `Match` line to the previous `Host` block, so a file with `Match` is refused with an
//! error rather than misapplied.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ssh2_config::{HostParams, ParseRule, SshConfig};

use crate::config::host_key_policy::HostKeyPolicy;
use crate::error::{Error, Result};
use crate::paths::{expand_tilde, home_dir};

/// A parsed client config file.
#[derive(Debug)]
pub struct ClientConfig {
    config: SshConfig,
    path: PathBuf,
}

/// What the config says about one host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// `HostName`, else the alias itself.
    pub host: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// `IdentityFile` entries, `~` expanded.
    pub identity_files: Vec<PathBuf>,
    /// `IdentitiesOnly yes`: only the identity files, no agent keys, no default files.
    pub identities_only: bool,
    /// `ProxyJump` hops, in order (`none` gives an empty list).
    pub proxy_jump: Vec<String>,
    /// `UserKnownHostsFile` entries.
    pub known_hosts: Vec<PathBuf>,
    /// `StrictHostKeyChecking`.
    pub host_key_policy: Option<HostKeyPolicy>,
    pub connect_timeout: Option<Duration>,
    /// `ServerAliveInterval`.
    pub keepalive: Option<Duration>,
}

impl ClientConfig {
    /// `~/.ssh/config`, if it exists.
    pub fn load_default() -> Result<Option<Self>> {
        match home_dir().map(|h| h.join(".ssh").join("config")) {
            Some(p) if p.is_file() => Self::load(&p).map(Some),
            _ => Ok(None),
        }
    }

    /// Parses a config file; refuses files using `Match`.
    pub fn load(path: &Path) -> Result<Self> {
        let fail = |msg: String| {
            Error::InvalidArgument(format!("ssh client config {}: {msg}", path.display()))
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let mut parser = SshConfig::default();
        if let Some(home) = home_dir() {
            parser = parser.home_dir(home);
        }
        let config = parser
            .parse(
                &mut BufReader::new(text.as_bytes()),
                ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS,
            )
            .map_err(|e| fail(e.to_string()))?;
        let uses_match = text
            .lines()
            .any(|l| first_word(l).eq_ignore_ascii_case("match"))
            || config.get_hosts().iter().any(|h| {
                h.params
                    .ignored_fields
                    .keys()
                    .any(|k| k.eq_ignore_ascii_case("match"))
            });
        if uses_match {
            return Err(fail(
                "`Match` blocks are not supported; move those settings into `Host` blocks or point --ssh-config at a file without Match".into(),
            ));
        }
        Ok(Self {
            config,
            path: path.to_path_buf(),
        })
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every key and known_hosts file any `Host` block names (`IdentityFile`,
    /// `UserKnownHostsFile`, `GlobalKnownHostsFile`), `~` expanded: files the server reads
    /// or writes for SSH, which no `local_path` may reach.
    pub fn referenced_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for h in self.config.get_hosts() {
            let p = &h.params;
            files.extend(p.identity_file.iter().flatten().cloned());
            for key in ["userknownhostsfile", "globalknownhostsfile"] {
                let named = p.unsupported_fields.get(key).into_iter().flatten();
                files.extend(named.flat_map(|v| v.split_whitespace().map(expand_tilde)));
            }
        }
        files
    }

    /// What applies to `alias` (matched case-insensitively, as `ssh` lowercases it).
    pub fn resolve(&self, alias: &str) -> Resolved {
        let alias = alias.to_ascii_lowercase();
        let p: HostParams = self.config.query(&alias);
        let get = |k: &str| p.unsupported_fields.get(k).and_then(|v| v.first()).cloned();
        let host_key_policy =
            get("stricthostkeychecking").and_then(|v| match v.to_ascii_lowercase().as_str() {
                "yes" => Some(HostKeyPolicy::Strict),
                "accept-new" => Some(HostKeyPolicy::AcceptNew),
                "no" | "off" => Some(HostKeyPolicy::Off),
                _ => None,
            });
        let proxy_jump = p
            .proxy_jump
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|h| !h.eq_ignore_ascii_case("none"))
            .collect();
        Resolved {
            host: p.host_name.clone().unwrap_or_else(|| alias.clone()),
            port: p.port,
            user: p.user.clone(),
            identity_files: p.identity_file.clone().unwrap_or_default(),
            identities_only: get("identitiesonly").is_some_and(|v| v.eq_ignore_ascii_case("yes")),
            proxy_jump,
            known_hosts: p
                .unsupported_fields
                .get("userknownhostsfile")
                .map(|v| v.iter().map(|f| expand_tilde(f)).collect())
                .unwrap_or_default(),
            host_key_policy,
            connect_timeout: p.connect_timeout,
            keepalive: p.server_alive_interval.filter(|d| !d.is_zero()),
        }
    }
}

fn first_word(line: &str) -> &str {
    line.trim_start()
        .split(|c: char| c.is_whitespace() || c == '=')
        .next()
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ClientConfig> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let p = dir.path().join("config");
        std::fs::write(&p, text).map_err(|e| Error::io("write", e))?;
        ClientConfig::load(&p)
    }

    #[test]
    fn aliases_should_resolve_first_value_wins() {
        let c = parse(
            "Host web\n  HostName web.internal\n  Port 2222\n  User deploy\n  IdentityFile /k1\n\
             Host web db\n  Port 22\n  IdentityFile /k2\n  IdentitiesOnly yes\n  StrictHostKeyChecking yes\n\
             Host *\n  User fallback\n  ProxyJump bastion,jump2\n",
        )
        .unwrap();
        let r = c.resolve("WEB");
        assert_eq!(r.host, "web.internal");
        assert_eq!(r.port, Some(2222));
        assert_eq!(r.user.as_deref(), Some("deploy"));
        assert_eq!(
            r.identity_files,
            vec![PathBuf::from("/k1"), PathBuf::from("/k2")]
        );
        assert!(r.identities_only);
        assert_eq!(r.host_key_policy, Some(HostKeyPolicy::Strict));
        assert_eq!(r.proxy_jump, vec!["bastion", "jump2"]);
        let r = c.resolve("other");
        assert_eq!(r.host, "other");
        assert_eq!(r.user.as_deref(), Some("fallback"));
    }

    #[test]
    fn match_blocks_should_be_refused() {
        let e = parse("Host a\n  User x\nMatch host b\n  User y\n").unwrap_err();
        assert!(e.to_string().contains("Match"), "{e}");
    }
}
