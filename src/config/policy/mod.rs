//! Operator policy: which hosts the model may reach, whether it may pass credentials, and
//! which commands it may run.
//!
//! The command policy is a guardrail against a model's mistakes, not a sandbox: a shell
//! offers endless ways to do the same thing, and a determined model, or a prompt
//! injection, may find one the checks miss. Use a least-privileged remote account for real
//! containment.

pub mod hosts;
mod read_only;

use regex_lite::Regex;

use crate::config::file::Security;
use crate::error::{Error, Result};
use crate::wildcard::wildcard_match;
pub use hosts::{Allowlist, HostRules};

/// Forwards a session may run at once, unless the operator says otherwise.
pub const DEFAULT_MAX_FORWARDS: usize = 16;

/// What the operator allows.
#[derive(Debug, Default)]
pub struct Policy {
    allowed_hosts: Allowlist,
    forward_to: HostRules,
    allow_public_remote_bind: bool,
    max_forwards: usize,
    credentials_in_arguments: bool,
    allow: Vec<Regex>,
    deny: Vec<Regex>,
    /// Environment variable names (wildcards) `env` may set under a command rule, besides
    /// the harmless ones.
    allow_env: Vec<String>,
    read_only: bool,
}

impl Policy {
    /// No restriction at all (the default without a config file), beyond the limits that
    /// hold whatever the configuration: forwards deliver to this machine's loopback only,
    /// bind the remote side's loopback only, and at most [`DEFAULT_MAX_FORWARDS`] run per
    /// session.
    pub fn open() -> Self {
        Self {
            credentials_in_arguments: true,
            max_forwards: DEFAULT_MAX_FORWARDS,
            ..Default::default()
        }
    }

    /// The policy of a `[security]` section. Bad regexes, patterns and presets are errors.
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
            allowed_hosts: Allowlist(HostRules::parse(
                &s.allowed_hosts,
                "security.allowed_hosts",
            )?),
            forward_to: HostRules::parse(&s.forward_to, "security.forward_to")?,
            allow_public_remote_bind: s.allow_public_remote_bind,
            max_forwards: s.max_forwards.unwrap_or(DEFAULT_MAX_FORWARDS),
            credentials_in_arguments: s.allow_credentials_in_arguments,
            allow: compile(&s.commands.allow, "allow")?,
            deny: compile(&s.commands.deny, "deny")?,
            allow_env: s.commands.allow_env.clone(),
            read_only,
        })
    }

    /// Whether the model may pass `password`, `key_path` or `passphrase`.
    pub fn credentials_in_arguments(&self) -> bool {
        self.credentials_in_arguments
    }

    /// The allowlist of hosts the model may connect and forward to.
    pub fn allowed_hosts(&self) -> &Allowlist {
        &self.allowed_hosts
    }

    /// Refuses, before any lookup, a host the allowlist cannot allow (see
    /// [`Allowlist::check_name`]); the addresses it resolves to are checked when connecting.
    pub fn check_host(&self, host: &str, port: u16) -> Result<()> {
        self.allowed_hosts.check_name(host, port)
    }

    /// Where a remote forward's connections may be delivered on this machine besides
    /// loopback (`security.forward_to`).
    pub fn forward_to(&self) -> &HostRules {
        &self.forward_to
    }

    /// Whether a remote forward may listen on a non-loopback address of the SSH server.
    pub fn allow_public_remote_bind(&self) -> bool {
        self.allow_public_remote_bind
    }

    /// Forwards one session may run at once.
    pub fn max_forwards(&self) -> usize {
        self.max_forwards
    }

    /// Whether the `read_only` preset is in force: it also refuses uploads and remote
    /// forwards.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Whether any command rule is in force.
    fn restricts_commands(&self) -> bool {
        self.read_only || !self.allow.is_empty() || !self.deny.is_empty()
    }

    /// Refuses a command the policy does not allow.
    pub fn check_command(&self, command: &str) -> Result<()> {
        self.check_text(command, "command")?;
        if self.read_only {
            read_only::check(command)?;
        }
        Ok(())
    }

    /// Refuses what a command would run with, under any command rule: a `cwd` the `deny`
    /// rules refuse, and environment variables other than a short list of harmless ones
    /// and the operator's `allow_env`.
    pub fn check_context(&self, cwd: Option<&str>, env: &[(String, String)]) -> Result<()> {
        if !self.restricts_commands() {
            return Ok(());
        }
        if let Some(dir) = cwd {
            self.check_text(dir, "cwd")?;
        }
        // An allowlist: the names a variable can change what runs through are too many to
        // list (`LD_*`, `PATH`, `BASH_ENV`, `GIT_CONFIG_*`, `PAGER`, `PYTHONHOME`, …).
        let allowed = |k: &str| {
            read_only::assignable(k) || self.allow_env.iter().any(|p| wildcard_match(p, k))
        };
        if let Some((name, _)) = env.iter().find(|(k, _)| !allowed(k)) {
            return Err(Error::Policy(format!(
                "the environment variable {name} may change what runs, and this server's command policy refuses it: only lower-case names, LANG, LC_*, TZ, TERM, COLUMNS, LINES, NO_COLOR and the operator's security.commands.allow_env may be set"
            )));
        }
        Ok(())
    }

    /// The `deny` and `allow` rules, applied to one text (`what`: command or cwd).
    fn check_text(&self, text: &str, what: &str) -> Result<()> {
        if let Some(r) = self.deny.iter().find(|r| r.is_match(text)) {
            return Err(Error::Policy(format!(
                "the {what} matches the deny rule {:?}",
                r.as_str()
            )));
        }
        if what == "command"
            && !self.allow.is_empty()
            && !self.allow.iter().any(|r| r.is_match(text))
        {
            return Err(Error::Policy(format!(
                "the {what} matches none of the allowed patterns"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::{CommandPolicyConfig, Security};

    fn policy(hosts: &[&str], preset: Option<&str>, allow: &[&str], deny: &[&str]) -> Policy {
        Policy::from_config(&Security {
            allowed_hosts: hosts.iter().map(|s| s.to_string()).collect(),
            allow_credentials_in_arguments: true,
            commands: CommandPolicyConfig {
                preset: preset.map(String::from),
                allow: allow.iter().map(|s| s.to_string()).collect(),
                deny: deny.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            },
            ..Default::default()
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

    #[test]
    fn context_should_refuse_env_that_changes_what_runs() {
        let env = |k: &str| vec![(k.to_string(), "x".to_string())];
        let open = Policy::open();
        assert!(
            open.check_context(Some("/root"), &env("LD_PRELOAD"))
                .is_ok()
        );
        let deny = policy(&[], None, &[], &["^/root"]);
        assert!(deny.check_context(Some("/root/x"), &[]).is_err());
        assert!(deny.check_context(Some("/tmp"), &env("greeting")).is_ok());
        assert!(deny.check_context(None, &env("GREETING")).is_err());
        let mut extra = policy(&[], None, &[], &["^/root"]);
        extra.allow_env = vec!["APP_*".into()];
        assert!(extra.check_context(None, &env("APP_MODE")).is_ok());
        assert!(extra.check_context(None, &env("GIT_CONFIG_COUNT")).is_err());
        for name in [
            "LD_PRELOAD",
            "PATH",
            "BASH_ENV",
            "IFS",
            "DYLD_INSERT_LIBRARIES",
        ] {
            assert!(deny.check_context(None, &env(name)).is_err(), "{name}");
        }
        let ro = policy(&[], Some("read_only"), &[], &[]);
        for name in ["GIT_CONFIG_COUNT", "PAGER", "PS4", "LESSOPEN"] {
            assert!(ro.check_context(None, &env(name)).is_err(), "{name}");
        }
        for name in ["LANG", "LC_ALL", "TZ", "greeting"] {
            assert!(ro.check_context(None, &env(name)).is_ok(), "{name}");
        }
    }
}
