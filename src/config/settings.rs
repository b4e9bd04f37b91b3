//! Operator settings: what the person running the server decides, not the model.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::audit::AuditLog;
use crate::config::file::HostEntry;
use crate::config::host_key_policy::HostKeyPolicy;
use crate::config::policy::Policy;
use crate::config::ssh_config::ClientConfig;
use crate::local_paths::Protected;
use crate::paths::home_dir;

/// Settings shared by every session. Built by the binaries from flags, environment and the
/// config file.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Limit for TCP connect + SSH handshake + authentication.
    pub connect_timeout: Duration,
    /// What to do with unknown or changed host keys.
    pub host_key_policy: HostKeyPolicy,
    /// known_hosts files to consult; the first one is where new hosts are recorded.
    /// Empty means `~/.ssh/known_hosts`.
    pub known_hosts_files: Vec<PathBuf>,
    /// Session channels open at once per connection. OpenSSH's `MaxSessions` defaults
    /// to 10; commands past this wait for a free channel instead of failing.
    pub max_channels_per_session: usize,
    /// Default `timeout_secs` of `ssh_execute`.
    pub command_timeout: Duration,
    /// Longest timeout a call may ask for; `None` lets `timeout_secs: 0` mean no limit.
    pub max_command_timeout: Option<Duration>,
    /// Sessions unused this long (with no running job or forward) are closed; `None`: never.
    pub idle_timeout: Option<Duration>,
    /// Open sessions at most.
    pub max_sessions: usize,
    /// Commands running or waiting for a channel, per session, at most.
    pub max_commands_per_session: usize,
    /// Interactive shells open per session at most.
    pub max_shells_per_session: usize,
    /// Default bytes kept per stream (stdout, stderr) of one command.
    pub max_output_bytes: usize,
    /// Interval of SSH keepalives; a connection is declared dead after three unanswered.
    pub keepalive_interval: Duration,
    /// Allowed hosts, credentials in arguments, command rules.
    pub policy: Arc<Policy>,
    /// Named hosts of the config file.
    pub hosts: Arc<BTreeMap<String, HostEntry>>,
    /// `[groups]`, each flattened to the named hosts it stands for.
    pub groups: Arc<BTreeMap<String, Vec<String>>>,
    /// Hosts one `ssh_fanout` call may reach at most.
    pub max_fanout: usize,
    /// The audit log, when configured.
    pub audit: Option<Arc<AuditLog>>,
    /// Local directories `local_path` arguments may lie in (`[files] local_roots`,
    /// canonical). When empty, the client's roots or `start_dir` apply.
    pub local_roots: Vec<PathBuf>,
    /// Whether the roots an MCP client declares count (stdio: the client is the user's own
    /// program; over HTTP only the operator's roots do).
    pub client_roots: bool,
    /// The directory the server was started in, when it may serve as the default root
    /// (stdio only; never `/` or a home directory).
    pub start_dir: Option<PathBuf>,
    /// The server's own secret and trust files, which no `local_path` may reach.
    pub protected: Protected,
    /// Addresses this process listens on (the HTTP front end): a remote forward never
    /// delivers to them.
    pub own_listeners: Vec<std::net::SocketAddr>,
    /// The ssh client config whose `Host` aliases `ssh_connect` understands.
    pub ssh_config: Option<Arc<ClientConfig>>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(15),
            host_key_policy: HostKeyPolicy::AcceptNew,
            known_hosts_files: Vec::new(),
            max_channels_per_session: 10,
            command_timeout: Duration::from_secs(60),
            max_command_timeout: Some(Duration::from_secs(3600)),
            idle_timeout: Some(Duration::from_secs(3600)),
            max_sessions: 64,
            max_commands_per_session: 64,
            max_shells_per_session: 8,
            max_output_bytes: 64 * 1024,
            keepalive_interval: Duration::from_secs(15),
            policy: Arc::new(Policy::open()),
            hosts: Arc::new(BTreeMap::new()),
            groups: Arc::new(BTreeMap::new()),
            max_fanout: 256,
            audit: None,
            ssh_config: None,
            local_roots: Vec::new(),
            client_roots: false,
            start_dir: None,
            protected: Protected::new(home_dir().as_deref(), Vec::new()),
            own_listeners: Vec::new(),
        }
    }
}

impl Settings {
    /// The known_hosts files in force: the configured ones, or OpenSSH's defaults
    /// (`~/.ssh/known_hosts`, where new hosts are recorded, then the global
    /// `/etc/ssh/ssh_known_hosts`).
    pub fn known_hosts(&self) -> Vec<PathBuf> {
        if !self.known_hosts_files.is_empty() {
            return self.known_hosts_files.clone();
        }
        let mut files: Vec<PathBuf> = home_dir()
            .map(|h| vec![h.join(".ssh").join("known_hosts")])
            .unwrap_or_default();
        files.push(PathBuf::from("/etc/ssh/ssh_known_hosts"));
        files
    }
}
