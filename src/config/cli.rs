//! Flags shared by both binaries.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use crate::audit::AuditLog;
use crate::config::file::FileConfig;
use crate::config::host_key_policy::HostKeyPolicy;
use crate::config::policy::Policy;
use crate::config::settings::Settings;
use crate::config::ssh_config::ClientConfig;
use crate::error::{Error, Result};
use crate::local_paths::Protected;
use crate::paths::{expand_tilde, home_dir};

/// Operator settings, as command-line flags (each also readable from the environment, and
/// from `[defaults]` of the config file; flags and environment win over the file).
#[derive(Debug, Clone, Args)]
pub struct SettingsArgs {
    /// Config file (TOML): named hosts, allowlist, command policy, audit log, defaults.
    #[arg(long, env = "SSH_MCP_CONFIG")]
    pub config: Option<PathBuf>,
    /// ssh client config whose Host aliases ssh_connect resolves; "none" to ignore it
    /// [default: ~/.ssh/config].
    #[arg(long, env = "SSH_MCP_SSH_CONFIG")]
    pub ssh_config: Option<String>,
    /// Seconds allowed for TCP connect, SSH handshake and authentication [default: 15].
    #[arg(long, env = "SSH_MCP_CONNECT_TIMEOUT")]
    pub connect_timeout: Option<u64>,
    /// Host-key policy: strict (unknown hosts refused), ask (the user confirms unknown hosts
    /// through MCP elicitation; refused when the client cannot ask), accept-new (the user
    /// confirms where the client can ask; otherwise unknown hosts are recorded), or off (no
    /// verification; every result says so) [default: accept-new].
    #[arg(long, env = "SSH_MCP_HOST_KEY_POLICY")]
    pub host_key_policy: Option<HostKeyPolicy>,
    /// known_hosts file(s), ':'-separated; the first one records new hosts
    /// [default: ~/.ssh/known_hosts].
    #[arg(
        long = "known-hosts",
        env = "SSH_MCP_KNOWN_HOSTS",
        value_delimiter = ':'
    )]
    pub known_hosts: Vec<PathBuf>,
    /// Local directories that local_path arguments may lie in, ':'-separated (as
    /// `[files] local_roots`) [default: none; over stdio the client's roots, else the
    /// directory the server was started in unless it is / or a home directory].
    /// An empty value allows none, whatever the config file says.
    #[arg(long = "local-roots", env = "SSH_MCP_LOCAL_ROOTS")]
    pub local_roots: Option<String>,
    /// Session channels (concurrent commands) per connection; sshd's MaxSessions is 10
    /// [default: 10].
    #[arg(long, env = "SSH_MCP_MAX_CHANNELS")]
    pub max_channels: Option<usize>,
    /// Default ssh_execute timeout in seconds [default: 60].
    #[arg(long, env = "SSH_MCP_COMMAND_TIMEOUT")]
    pub command_timeout: Option<u64>,
    /// Longest timeout_secs a call may ask for; 0 also allows timeout_secs 0 (no limit)
    /// [default: 3600].
    #[arg(long, env = "SSH_MCP_MAX_COMMAND_TIMEOUT")]
    pub max_command_timeout: Option<u64>,
    /// Close sessions unused for this many seconds, 0: never [default: 3600].
    #[arg(long, env = "SSH_MCP_IDLE_TIMEOUT")]
    pub idle_timeout: Option<u64>,
    /// Open sessions at most [default: 64].
    #[arg(long, env = "SSH_MCP_MAX_SESSIONS")]
    pub max_sessions: Option<usize>,
    /// Hosts one ssh_fanout call may reach at most [default: 256].
    #[arg(long, env = "SSH_MCP_MAX_FANOUT")]
    pub max_fanout: Option<usize>,
    /// Commands running or queued per session at most; past it calls are refused
    /// [default: 64].
    #[arg(long, env = "SSH_MCP_MAX_COMMANDS")]
    pub max_commands: Option<usize>,
    /// Interactive shells open per session at most [default: 8].
    #[arg(long, env = "SSH_MCP_MAX_SHELLS")]
    pub max_shells: Option<usize>,
    /// Default bytes kept per output stream of a command [default: 65536].
    #[arg(long, env = "SSH_MCP_MAX_OUTPUT_BYTES")]
    pub max_output_bytes: Option<usize>,
    /// Seconds between SSH keepalives; a connection is dead after 3 unanswered [default: 15].
    #[arg(long, env = "SSH_MCP_KEEPALIVE")]
    pub keepalive: Option<u64>,
}

impl SettingsArgs {
    /// The settings these flags describe, on top of the config file (if any) and the
    /// built-in defaults. Returns the parsed file too, for the parts only a binary uses.
    pub fn load(&self) -> Result<(Settings, FileConfig)> {
        let file = match &self.config {
            Some(p) => FileConfig::load(p)?,
            None => FileConfig::default(),
        };
        let d = &file.defaults;
        let base = Settings::default();
        let secs = |flag: Option<u64>, file: Option<u64>| flag.or(file).map(Duration::from_secs);
        let file_policy = match &d.host_key_policy {
            Some(p) => Some(p.parse::<HostKeyPolicy>().map_err(Error::InvalidArgument)?),
            None => None,
        };
        let known_hosts = if !self.known_hosts.is_empty() {
            self.known_hosts.clone()
        } else {
            d.known_hosts
                .iter()
                .flatten()
                .map(|p| expand_tilde(p))
                .collect()
        };
        let optional =
            |flag: Option<u64>, file: Option<u64>, default: Option<Duration>| match flag.or(file) {
                Some(0) => None,
                Some(n) => Some(Duration::from_secs(n)),
                None => default,
            };
        let audit = match &file.audit {
            Some(a) => Some(Arc::new(AuditLog::open(&expand_tilde(&a.file))?)),
            None => None,
        };
        let settings = Settings {
            connect_timeout: secs(self.connect_timeout, d.connect_timeout)
                .unwrap_or(base.connect_timeout)
                .max(Duration::from_secs(1)),
            host_key_policy: self
                .host_key_policy
                .or(file_policy)
                .unwrap_or(base.host_key_policy),
            known_hosts_files: known_hosts,
            max_channels_per_session: self
                .max_channels
                .or(d.max_channels)
                .unwrap_or(base.max_channels_per_session)
                .max(1),
            command_timeout: secs(self.command_timeout, d.command_timeout)
                .unwrap_or(base.command_timeout),
            max_command_timeout: optional(
                self.max_command_timeout,
                d.max_command_timeout,
                base.max_command_timeout,
            ),
            idle_timeout: optional(self.idle_timeout, d.idle_timeout, base.idle_timeout),
            max_sessions: self
                .max_sessions
                .or(d.max_sessions)
                .unwrap_or(base.max_sessions)
                .max(1),
            max_commands_per_session: self
                .max_commands
                .or(d.max_commands)
                .unwrap_or(base.max_commands_per_session)
                .max(1),
            max_shells_per_session: self
                .max_shells
                .or(d.max_shells)
                .unwrap_or(base.max_shells_per_session),
            max_output_bytes: self
                .max_output_bytes
                .or(d.max_output_bytes)
                .unwrap_or(base.max_output_bytes),
            keepalive_interval: secs(self.keepalive, d.keepalive)
                .unwrap_or(base.keepalive_interval)
                .max(Duration::from_secs(1)),
            policy: Arc::new(Policy::from_config(&file.security)?),
            hosts: Arc::new(file.hosts.clone()),
            groups: Arc::new(
                crate::config::groups::flatten(&file.groups, &file.hosts)
                    .map_err(Error::InvalidArgument)?,
            ),
            max_fanout: self
                .max_fanout
                .or(d.max_fanout)
                .unwrap_or(base.max_fanout)
                .max(1),
            audit,
            local_roots: match &self.local_roots {
                Some(list) => list
                    .split(':')
                    .filter(|p| !p.is_empty())
                    .map(expand_tilde)
                    .collect::<Vec<_>>(),
                None => file
                    .files
                    .local_roots
                    .iter()
                    .map(|r| expand_tilde(r))
                    .collect(),
            }
            .into_iter()
            .map(|p| {
                p.canonicalize()
                    .map_err(|e| Error::io(format!("local root {}", p.display()), e))
            })
            .collect::<Result<_>>()?,
            ssh_config: match self.ssh_config.as_deref().or(d.ssh_config.as_deref()) {
                Some("none") => None,
                Some(p) => Some(Arc::new(ClientConfig::load(&expand_tilde(p))?)),
                // The user's own file: one this server cannot read faithfully is set aside
                // with a warning rather than stopping the server.
                None => match ClientConfig::load_default() {
                    Ok(c) => c.map(Arc::new),
                    Err(e) => {
                        tracing::warn!(error = %e.chain(), "not using ~/.ssh/config for host aliases");
                        None
                    }
                },
            },
            ..base
        };
        let mut settings = settings;
        settings.protected = protected_files(self.config.as_deref(), &file, &settings);
        for (name, h) in settings.hosts.iter() {
            if let Some(p) = &h.host_key_policy {
                p.parse::<HostKeyPolicy>().map_err(|e| {
                    Error::InvalidArgument(format!("hosts.{name}.host_key_policy: {e}"))
                })?;
            }
            crate::address::Address::parse(&h.address, 22)
                .map_err(|e| Error::InvalidArgument(format!("hosts.{name}.address: {e}")))?;
        }
        Ok((settings, file))
    }
}

/// The server's own secret and trust files: no `local_path` may reach them.
fn protected_files(config: Option<&Path>, file: &FileConfig, settings: &Settings) -> Protected {
    let mut files: Vec<PathBuf> = config.map(Path::to_path_buf).into_iter().collect();
    files.extend(settings.known_hosts());
    files.extend(file.audit.iter().map(|a| expand_tilde(&a.file)));
    files.extend(file.http.token_file.iter().map(|t| expand_tilde(t)));
    for c in settings.ssh_config.iter() {
        files.push(c.path().to_path_buf());
        files.extend(c.referenced_files());
    }
    for h in settings.hosts.values() {
        files.extend(h.identity());
        for f in [&h.password_file, &h.passphrase_file, &h.sudo_password_file]
            .into_iter()
            .flatten()
        {
            files.push(expand_tilde(f));
        }
    }
    Protected::new(home_dir().as_deref(), files)
}

/// A token cancelled on Ctrl-C or SIGTERM, and on Windows when the console closes (and, for
/// a service, at logoff or shutdown).
pub fn shutdown_on_signals() -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        // Windows: the console window is closed (the system ends the process a few seconds
        // later, time enough to close the SSH sessions). Logoff and shutdown reach only
        // processes without a console window of their own, such as services.
        #[cfg(windows)]
        let term = async {
            use tokio::signal::windows::{ctrl_close, ctrl_logoff, ctrl_shutdown};
            let close = async {
                match ctrl_close() {
                    Ok(mut s) => s.recv().await,
                    Err(_) => std::future::pending().await,
                }
            };
            let logoff = async {
                match ctrl_logoff() {
                    Ok(mut s) => s.recv().await,
                    Err(_) => std::future::pending().await,
                }
            };
            let shutdown = async {
                match ctrl_shutdown() {
                    Ok(mut s) => s.recv().await,
                    Err(_) => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = close => {}
                _ = logoff => {}
                _ = shutdown => {}
            }
        };
        #[cfg(not(any(unix, windows)))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {}
            _ = term => {}
        }
        tracing::info!("shutdown signal received");
        t.cancel();
    });
    token
}
