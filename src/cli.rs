//! Flags shared by both binaries.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::settings::Settings;
use crate::ssh::known_hosts::HostKeyPolicy;

/// Operator settings, as command-line flags (each also readable from the environment).
#[derive(Debug, Clone, Args)]
pub struct SettingsArgs {
    /// Seconds allowed for TCP connect, SSH handshake and authentication.
    #[arg(long, env = "SSH_MCP_CONNECT_TIMEOUT", default_value_t = 15)]
    pub connect_timeout: u64,
    /// Host-key policy: strict (unknown hosts refused), accept-new (unknown hosts recorded),
    /// or off (no verification; every result says so).
    #[arg(long, env = "SSH_MCP_HOST_KEY_POLICY", default_value = "accept-new")]
    pub host_key_policy: HostKeyPolicy,
    /// known_hosts file(s); the first one records new hosts. Default: ~/.ssh/known_hosts.
    #[arg(
        long = "known-hosts",
        env = "SSH_MCP_KNOWN_HOSTS",
        value_delimiter = ':'
    )]
    pub known_hosts: Vec<PathBuf>,
    /// Session channels (concurrent commands) per connection; sshd's MaxSessions is 10.
    #[arg(long, env = "SSH_MCP_MAX_CHANNELS", default_value_t = 10)]
    pub max_channels: usize,
    /// Default ssh_execute timeout in seconds.
    #[arg(long, env = "SSH_MCP_COMMAND_TIMEOUT", default_value_t = 60)]
    pub command_timeout: u64,
    /// Longest timeout_secs a call may ask for; 0 also allows timeout_secs 0 (no limit).
    #[arg(long, env = "SSH_MCP_MAX_COMMAND_TIMEOUT", default_value_t = 3600)]
    pub max_command_timeout: u64,
    /// Close sessions unused for this many seconds (0: never).
    #[arg(long, env = "SSH_MCP_IDLE_TIMEOUT", default_value_t = 3600)]
    pub idle_timeout: u64,
    /// Open sessions at most.
    #[arg(long, env = "SSH_MCP_MAX_SESSIONS", default_value_t = 64)]
    pub max_sessions: usize,
    /// Commands running or queued per session at most (past it calls are refused).
    #[arg(long, env = "SSH_MCP_MAX_COMMANDS", default_value_t = 64)]
    pub max_commands: usize,
    /// Default bytes kept per output stream of a command.
    #[arg(long, env = "SSH_MCP_MAX_OUTPUT_BYTES", default_value_t = 65536)]
    pub max_output_bytes: usize,
    /// Seconds between SSH keepalives (a connection is dead after 3 unanswered).
    #[arg(long, env = "SSH_MCP_KEEPALIVE", default_value_t = 15)]
    pub keepalive: u64,
}

impl SettingsArgs {
    /// The settings these flags describe.
    pub fn settings(&self) -> Settings {
        Settings {
            connect_timeout: Duration::from_secs(self.connect_timeout.max(1)),
            host_key_policy: self.host_key_policy,
            known_hosts_files: self.known_hosts.clone(),
            max_channels_per_session: self.max_channels.max(1),
            command_timeout: Duration::from_secs(self.command_timeout),
            max_command_timeout: (self.max_command_timeout > 0)
                .then(|| Duration::from_secs(self.max_command_timeout)),
            idle_timeout: (self.idle_timeout > 0).then(|| Duration::from_secs(self.idle_timeout)),
            max_sessions: self.max_sessions.max(1),
            max_commands_per_session: self.max_commands.max(1),
            max_output_bytes: self.max_output_bytes,
            keepalive_interval: Duration::from_secs(self.keepalive.max(1)),
        }
    }
}

/// A token cancelled on SIGINT or SIGTERM.
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
        #[cfg(not(unix))]
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
