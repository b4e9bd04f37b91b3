//! The operator's config file (TOML; `--config` or `SSH_MCP_CONFIG`).
//!
//! It holds what the model must not decide or see: named hosts with their credentials
//! (read from the environment or from files, never from the file itself), defaults, the
//! host allowlist, the command policy, the audit log and HTTP access. Every key is
//! documented in the README; an unknown key is an error naming the key and its line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::paths::expand_tilde;
use crate::secret::Secret;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Settings that flags and environment variables can override.
    #[serde(default)]
    pub defaults: Defaults,
    /// Where the model may go and what it may run.
    #[serde(default)]
    pub security: Security,
    /// The JSON Lines audit log.
    #[serde(default)]
    pub audit: Option<AuditConfig>,
    /// HTTP front end (`ssh-mcp` only).
    #[serde(default)]
    pub http: HttpConfig,
    /// Local files the SFTP tools may read and write.
    #[serde(default)]
    pub files: FilesConfig,
    /// Named hosts: `ssh_connect {address: "<name>"}` uses these.
    #[serde(default)]
    pub hosts: BTreeMap<String, HostEntry>,
    /// Groups of named hosts for `ssh_fanout` (`@name`); members are named hosts or groups.
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
}

/// `[defaults]`: each field has a flag of the same name (`--connect-timeout`, …).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub connect_timeout: Option<u64>,
    pub command_timeout: Option<u64>,
    pub max_command_timeout: Option<u64>,
    pub max_output_bytes: Option<usize>,
    pub idle_timeout: Option<u64>,
    pub max_sessions: Option<usize>,
    pub max_fanout: Option<usize>,
    pub max_commands: Option<usize>,
    pub max_shells: Option<usize>,
    pub max_channels: Option<usize>,
    pub keepalive: Option<u64>,
    pub host_key_policy: Option<String>,
    pub known_hosts: Option<Vec<String>>,
    /// ssh client config for `Host` aliases; `"none"` to ignore `~/.ssh/config`.
    pub ssh_config: Option<String>,
}

/// `[security]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Security {
    /// Host patterns (`*`, `?`, `!` negation) or networks (`10.0.0.0/8`) that an
    /// `ssh_connect` address, a local forward's target and a SOCKS target may name or
    /// resolve to. Empty: anywhere. Named hosts are always allowed.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Hosts or networks of this machine's side, besides loopback, that a remote forward's
    /// connections may be delivered to.
    #[serde(default)]
    pub forward_to: Vec<String>,
    /// Whether a remote forward may listen on a non-loopback address of the SSH server.
    #[serde(default)]
    pub allow_public_remote_bind: bool,
    /// Forwards one session may run at once (default 16).
    pub max_forwards: Option<usize>,
    /// Whether `password`, `key_path` and `passphrase` may be passed as tool arguments.
    #[serde(default = "yes")]
    pub allow_credentials_in_arguments: bool,
    /// The command policy.
    #[serde(default)]
    pub commands: CommandPolicyConfig,
}

fn yes() -> bool {
    true
}

impl Default for Security {
    fn default() -> Self {
        Self {
            allowed_hosts: Vec::new(),
            forward_to: Vec::new(),
            allow_public_remote_bind: false,
            max_forwards: None,
            allow_credentials_in_arguments: true,
            commands: CommandPolicyConfig::default(),
        }
    }
}

/// `[security.commands]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandPolicyConfig {
    /// `read_only`: refuse commands that obviously change things (see the README).
    pub preset: Option<String>,
    /// Regexes; when any is given, a command must match one.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Regexes; a command matching any is refused.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Environment variable names (`*` and `?` wildcards) `env` may set under a command
    /// rule, besides lower-case names, `LANG`, `LC_*`, `TZ`, `TERM` and the like.
    #[serde(default)]
    pub allow_env: Vec<String>,
}

/// `[files]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    /// Directories that `local_path` arguments must lie in. Empty: any absolute path.
    #[serde(default)]
    pub local_roots: Vec<String>,
}

/// `[audit]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// File to append JSON lines to (created if missing, mode 0600).
    pub file: String,
}

/// `[http]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// File holding bearer tokens, one per line, optionally `name:token`.
    pub token_file: Option<String>,
    /// Extra browser origins to accept.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Extra `Host` header values to accept.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Base of the links to secret pages, e.g. `https://mcp.example.com` behind a proxy.
    pub public_url: Option<String>,
}

/// `[hosts.<name>]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostEntry {
    /// `host`, `host:port` or `[v6]:port`.
    pub address: String,
    /// Remote user.
    pub user: Option<String>,
    /// Private key file.
    pub identity_file: Option<String>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// File holding the password (first line).
    pub password_file: Option<String>,
    /// Environment variable holding the key's passphrase.
    pub passphrase_env: Option<String>,
    /// File holding the key's passphrase (first line).
    pub passphrase_file: Option<String>,
    /// Environment variable holding the sudo password (else the login password serves).
    pub sudo_password_env: Option<String>,
    /// File holding the sudo password (first line).
    pub sudo_password_file: Option<String>,
    /// Host-key policy for this host, overriding the default.
    pub host_key_policy: Option<String>,
    /// Whether `ssh_connect` may name another account than `user` for this host (the
    /// host's key or password is then tried on that account).
    #[serde(default)]
    pub allow_user_override: bool,
}

impl HostEntry {
    /// The password, from `password_env` or `password_file`.
    pub fn password(&self) -> Result<Option<Secret>> {
        secret_from(self.password_env.as_deref(), self.password_file.as_deref())
    }

    /// The passphrase, from `passphrase_env` or `passphrase_file`.
    pub fn passphrase(&self) -> Result<Option<Secret>> {
        secret_from(
            self.passphrase_env.as_deref(),
            self.passphrase_file.as_deref(),
        )
    }

    /// The sudo password, from `sudo_password_env` or `sudo_password_file`.
    pub fn sudo_password(&self) -> Result<Option<Secret>> {
        secret_from(
            self.sudo_password_env.as_deref(),
            self.sudo_password_file.as_deref(),
        )
    }

    /// The identity file, `~`-expanded.
    pub fn identity(&self) -> Option<PathBuf> {
        self.identity_file.as_deref().map(expand_tilde)
    }
}

fn secret_from(env: Option<&str>, file: Option<&str>) -> Result<Option<Secret>> {
    if let Some(var) = env {
        return match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Some(Secret::new(v))),
            _ => Err(Error::InvalidArgument(format!(
                "the environment variable {var} named in the config file is not set"
            ))),
        };
    }
    if let Some(path) = file {
        let path = expand_tilde(path);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("reading secret file {}", path.display()), e))?;
        let first = text.lines().next().unwrap_or("").to_string();
        return Ok(Some(Secret::new(first)));
    }
    Ok(None)
}

impl FileConfig {
    /// Reads and parses a config file. Errors name the file, line and key.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading config file {}", path.display()), e))?;
        Self::parse(&text)
            .map_err(|msg| Error::InvalidArgument(format!("config file {}: {msg}", path.display())))
    }

    /// Parses config text; the error is a one-paragraph description with the line number.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let cfg: FileConfig = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text.get(..s.start).unwrap_or("").matches('\n').count() + 1);
            let msg = e.message().trim().to_string();
            match line {
                Some(l) => format!("line {l}: {msg}"),
                None => msg,
            }
        })?;
        for (name, h) in &cfg.hosts {
            if h.password_env.is_some() && h.password_file.is_some() {
                return Err(format!(
                    "hosts.{name}: give password_env or password_file, not both"
                ));
            }
            if h.sudo_password_env.is_some() && h.sudo_password_file.is_some() {
                return Err(format!(
                    "hosts.{name}: give sudo_password_env or sudo_password_file, not both"
                ));
            }
            if h.passphrase_env.is_some() && h.passphrase_file.is_some() {
                return Err(format!(
                    "hosts.{name}: give passphrase_env or passphrase_file, not both"
                ));
            }
        }
        crate::config::groups::flatten(&cfg.groups, &cfg.hosts)?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_should_parse_a_full_example() {
        let cfg = FileConfig::parse(
            r#"
            [defaults]
            command_timeout = 30
            host_key_policy = "strict"

            [security]
            allowed_hosts = ["*.internal", "!db.internal"]
            allow_credentials_in_arguments = false
            [security.commands]
            preset = "read_only"
            deny = ["^sudo "]

            [audit]
            file = "/tmp/audit.jsonl"

            [hosts.web1]
            address = "web1.internal:2222"
            user = "deploy"
            identity_file = "~/.ssh/id_deploy"
            password_env = "WEB1_PASSWORD"
            "#,
        )
        .unwrap();
        assert_eq!(cfg.defaults.command_timeout, Some(30));
        assert!(!cfg.security.allow_credentials_in_arguments);
        assert_eq!(cfg.hosts["web1"].user.as_deref(), Some("deploy"));
    }

    #[test]
    fn no_config_should_allow_credentials_in_arguments() {
        assert!(
            FileConfig::default()
                .security
                .allow_credentials_in_arguments
        );
        assert!(
            FileConfig::parse("")
                .unwrap()
                .security
                .allow_credentials_in_arguments
        );
        assert!(
            FileConfig::parse("[security]\n")
                .unwrap()
                .security
                .allow_credentials_in_arguments
        );
    }

    #[test]
    fn unknown_keys_should_be_errors_with_their_line() {
        let e =
            FileConfig::parse("[defaults]\ncommand_timeout = 3\ncomand_timeout = 4\n").unwrap_err();
        assert!(e.contains("line 3") && e.contains("comand_timeout"), "{e}");
        let e = FileConfig::parse("[hosts.a]\naddress = \"x\"\npasword_env = \"P\"\n").unwrap_err();
        assert!(e.contains("line 3") && e.contains("pasword_env"), "{e}");
    }

    #[test]
    fn secrets_should_come_from_env_or_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "s3cret\nignored\n").unwrap();
        let h = HostEntry {
            password_file: Some(f.display().to_string()),
            ..Default::default()
        };
        assert_eq!(h.password().unwrap().unwrap().expose(), "s3cret");
        let h = HostEntry {
            password_env: Some("SSH_MCP_TEST_UNSET_VAR_X".into()),
            ..Default::default()
        };
        assert!(h.password().is_err());
    }
}
