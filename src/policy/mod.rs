//! Operator policy: which hosts the model may reach, whether it may pass credentials, and
//! which commands it may run.
//!
//! The command policy is a guardrail against a model's mistakes, not a sandbox: a shell
//! offers endless ways to do the same thing (`python -c`, `perl -e`, here-documents), and
//! a determined model, or a prompt injection, can find one. Use a least-privileged remote
//! account for real containment.

mod read_only;

use regex_lite::Regex;

use crate::config::Security;
use crate::error::{Error, Result};
use crate::ssh::known_hosts::wildcard_match;

/// What the operator allows.
#[derive(Debug, Default)]
pub struct Policy {
    allowed_hosts: Vec<String>,
    credentials_in_arguments: bool,
    allow: Vec<Regex>,
    deny: Vec<Regex>,
    read_only: bool,
}

impl Policy {
    /// No restriction at all (the default without a config file).
    pub fn open() -> Self {
        Self {
            credentials_in_arguments: true,
            ..Default::default()
        }
    }

    /// The policy of a `[security]` section. Bad regexes and presets are errors.
    pub fn from_config(s: &Security) -> Result<Self> {
        let compile = |list: &[String], what: &str| -> Result<Vec<Regex>> {
            list.iter()
                .map(|r| {
                    Regex::new(r).map_err(|e| {
                        Error::InvalidArgument(format!("security.commands.{what}: {r:?}: {e}"))
                    })
                })
                .collect()
        };
        let read_only = match s.commands.preset.as_deref() {
            None => false,
            Some("read_only") => true,
            Some(other) => {
                return Err(Error::InvalidArgument(format!(
                    "security.commands.preset: unknown preset {other:?} (known: read_only)"
                )));
            }
        };
        Ok(Self {
            allowed_hosts: s
                .allowed_hosts
                .iter()
                .map(|p| p.to_ascii_lowercase())
                .collect(),
            credentials_in_arguments: s.allow_credentials_in_arguments,
            allow: compile(&s.commands.allow, "allow")?,
            deny: compile(&s.commands.deny, "deny")?,
            read_only,
        })
    }

    /// Whether the model may pass `password`, `key_path` or `passphrase`.
    pub fn credentials_in_arguments(&self) -> bool {
        self.credentials_in_arguments
    }

    /// Refuses a host outside the allowlist. Patterns match `host` or `host:port`; a
    /// matching `!pattern` refuses the host whatever else matches.
    pub fn check_host(&self, host: &str, port: u16) -> Result<()> {
        if self.allowed_hosts.is_empty() {
            return Ok(());
        }
        let host = host.to_ascii_lowercase();
        let with_port = format!("{host}:{port}");
        let hit = |p: &str| wildcard_match(p, &host) || wildcard_match(p, &with_port);
        let mut allowed = false;
        for p in &self.allowed_hosts {
            match p.strip_prefix('!') {
                Some(neg) if hit(neg) => {
                    allowed = false;
                    break;
                }
                Some(_) => {}
                None => allowed |= hit(p),
            }
        }
        if allowed {
            Ok(())
        } else {
            Err(Error::Policy(format!(
                "{host}:{port} is not in this server's list of allowed hosts"
            )))
        }
    }

    /// Refuses a command the policy does not allow.
    pub fn check_command(&self, command: &str) -> Result<()> {
        if let Some(r) = self.deny.iter().find(|r| r.is_match(command)) {
            return Err(Error::Policy(format!(
                "the command matches the deny rule {:?}",
                r.as_str()
            )));
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|r| r.is_match(command)) {
            return Err(Error::Policy(
                "the command matches none of the allowed patterns".into(),
            ));
        }
        if self.read_only {
            read_only::check(command)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CommandPolicyConfig, Security};

    fn policy(hosts: &[&str], preset: Option<&str>, allow: &[&str], deny: &[&str]) -> Policy {
        Policy::from_config(&Security {
            allowed_hosts: hosts.iter().map(|s| s.to_string()).collect(),
            allow_credentials_in_arguments: true,
            commands: CommandPolicyConfig {
                preset: preset.map(String::from),
                allow: allow.iter().map(|s| s.to_string()).collect(),
                deny: deny.iter().map(|s| s.to_string()).collect(),
            },
        })
        .unwrap()
    }

    #[test]
    fn host_allowlist_should_follow_patterns_and_negation() {
        let p = policy(
            &["*.internal", "!db.internal", "10.0.0.?:2222"],
            None,
            &[],
            &[],
        );
        assert!(p.check_host("web.internal", 22).is_ok());
        assert!(p.check_host("WEB.internal", 22).is_ok());
        assert!(p.check_host("db.internal", 22).is_err());
        assert!(p.check_host("10.0.0.5", 2222).is_ok());
        assert!(p.check_host("10.0.0.5", 22).is_err());
        assert!(p.check_host("example.com", 22).is_err());
        assert!(Policy::open().check_host("anything", 1).is_ok());
    }

    #[test]
    fn allow_and_deny_regexes_should_apply() {
        let p = policy(&[], None, &["^(ls|cat) "], &["/etc/shadow"]);
        assert!(p.check_command("ls /tmp").is_ok());
        assert!(p.check_command("cat /etc/shadow").is_err());
        assert!(p.check_command("uname -a").is_err());
        assert!(
            Policy::from_config(&Security {
                commands: CommandPolicyConfig {
                    deny: vec!["(".into()],
                    ..Default::default()
                },
                ..Default::default()
            })
            .is_err()
        );
    }
}
