//! Tool parameters and results. Field docs become the JSON Schema descriptions the model
//! reads, so they say what to pass and what comes back.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Parameters of `ssh_connect`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ConnectParams {
    /// A named host (see `named_hosts` of `ssh_list_sessions`; no credentials needed), or
    /// `host[:port]`, `[ipv6]:port`.
    pub address: String,
    /// Remote user; default: the server's local user.
    #[serde(default)]
    pub username: Option<String>,
    /// Password. The model and the client see it: prefer keys or named hosts.
    #[serde(default)]
    pub password: Option<Secret>,
    /// Private key file on the server's machine.
    #[serde(default)]
    pub key_path: Option<String>,
    /// Passphrase of an encrypted key.
    #[serde(default)]
    pub passphrase: Option<Secret>,
}

/// Result of `ssh_connect`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ConnectResult {
    /// Handle for every other tool. Unguessable; valid until `ssh_disconnect` or until the
    /// server restarts.
    pub session_id: String,
    /// Human-readable summary, e.g. `Successfully connected to user@host:22`.
    pub message: String,
    /// Always true on success (failures are tool errors).
    pub authenticated: bool,
    /// SHA-256 fingerprint of the server's host key, `SHA256:…` as `ssh-keygen -l` prints it.
    pub host_key_fingerprint: String,
    /// How the host key was trusted.
    pub host_key_status: HostKeyStatus,
    /// How authentication succeeded, e.g. `password`, `key ~/.ssh/id_ed25519`, `agent key SHA256:…`.
    pub auth_method: String,
}

/// How a session's host key was trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HostKeyStatus {
    /// It matched known_hosts.
    Known,
    /// A host certificate from a CA trusted in known_hosts.
    Certificate,
    /// A new host whose key the user trusted when asked; recorded.
    Confirmed,
    /// A new host, recorded without asking (the client cannot ask).
    Learned,
    /// Not checked: the operator turned host-key checking off.
    Unverified,
}

/// Parameters of `ssh_execute`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ExecuteParams {
    /// From `ssh_connect`.
    pub session_id: String,
    /// Run by the remote login shell, as `ssh host 'command'`.
    pub command: String,
    /// Stop it after this long (default 60, at most 3600; 0: no limit where the operator
    /// allows).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Bytes kept per stream (default 65536).
    #[serde(default)]
    pub max_output_bytes: Option<usize>,
    /// Text fed to stdin, then end-of-file.
    #[serde(default)]
    pub stdin: Option<String>,
    /// Directory to run in (exit code 1 if it does not exist).
    #[serde(default)]
    pub cwd: Option<String>,
    /// Environment variables.
    #[serde(default)]
    pub env: Option<BTreeMap<String, String>>,
    /// Return a `job_id` at once.
    #[serde(default)]
    pub background: Option<bool>,
    /// Still running after this many seconds (default 45; 0: never), the command goes on
    /// as a job and the call returns its `job_id` and the output so far.
    #[serde(default)]
    pub yield_after_secs: Option<u64>,
    /// Run as root via sudo; the server gives the sudo password (asking the user if need be).
    #[serde(default)]
    pub sudo: Option<bool>,
}

/// Result of `ssh_execute`. A non-zero `exit_code` is a normal result, not an error.
#[derive(Default, Debug, Serialize, JsonSchema)]
pub struct ExecuteResult {
    /// Standard output (invalid UTF-8 replaced by U+FFFD; head and tail if truncated).
    pub stdout: String,
    /// Standard error, same treatment.
    pub stderr: String,
    /// Exit status; null when the process was killed by a signal.
    pub exit_code: Option<i64>,
    /// Name of the signal that killed the process, without `SIG` (e.g. `KILL`); null otherwise.
    pub exit_signal: Option<String>,
    /// The command hit `timeout_secs` and was stopped.
    pub timed_out: bool,
    /// Output was cut to `max_output_bytes` per stream.
    pub truncated: bool,
    /// Bytes the command wrote to stdout, kept or not.
    pub stdout_bytes: u64,
    /// Bytes the command wrote to stderr, kept or not.
    pub stderr_bytes: u64,
    /// Wall-clock time of the call.
    pub duration_ms: u64,
    /// The session's connection had died and was re-established for this call.
    pub reconnected: bool,
    /// When the command goes on as a job: the job to follow with `ssh_job`. Exit fields are
    /// empty; after `yield_after_secs` the output so far is above, and `ssh_job` returns
    /// what follows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// `running` when the command goes on as a job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// Parameters of `ssh_job`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct JobParams {
    /// From `ssh_execute`.
    pub job_id: String,
    /// Wait up to this long for the job to end (at most 50: clients often give up on a call
    /// after a minute).
    #[serde(default)]
    pub wait_secs: Option<u64>,
    /// Stop the job.
    #[serde(default)]
    pub kill: Option<bool>,
    /// Return all the output kept since the start, not only what is new.
    #[serde(default)]
    pub from_start: Option<bool>,
}

/// Result of `ssh_job`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct JobResult {
    pub job_id: String,
    pub session_id: String,
    pub command: String,
    /// `running`, `exited` (ended by itself), `killed` (by `kill` or its session closing),
    /// `timed_out`, or `failed` (see `error`).
    pub status: String,
    /// stdout produced since the previous `ssh_job` call (head and tail if truncated).
    pub stdout: String,
    /// stderr produced since the previous `ssh_job` call.
    pub stderr: String,
    /// Exit status once finished; null while running or when killed by a signal.
    pub exit_code: Option<i64>,
    /// Signal that ended the process, without `SIG`.
    pub exit_signal: Option<String>,
    /// Output since the previous call exceeded `max_output_bytes` per stream.
    pub truncated: bool,
    /// Bytes written to stdout since the previous call.
    pub stdout_bytes: u64,
    /// Bytes written to stderr since the previous call.
    pub stderr_bytes: u64,
    /// Time since the job started (or its total run time once finished).
    pub duration_ms: u64,
    /// Why the job failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One background job in a listing.
#[derive(Debug, Serialize, JsonSchema)]
pub struct JobSummary {
    pub job_id: String,
    pub command: String,
    pub status: String,
    /// RFC 3339, UTC.
    pub started_at: String,
}

/// Parameters of `ssh_forward`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ForwardParams {
    /// From `ssh_connect`.
    pub session_id: String,
    /// `local` (default), `remote` or `dynamic`.
    #[serde(default)]
    pub kind: Option<String>,
    /// `local`/`dynamic`: port to listen on here (default 0: any free one). `remote`: port
    /// to deliver to here.
    #[serde(default)]
    pub local_port: Option<u16>,
    /// `local`: host to reach, as the SSH server resolves it. `remote`: address the server
    /// listens on (default 127.0.0.1).
    #[serde(default)]
    pub remote_address: Option<String>,
    /// `local`: port to reach. `remote`: port the server listens on (0: any free one).
    #[serde(default)]
    pub remote_port: Option<u16>,
    /// `remote`: host to deliver to here (default 127.0.0.1).
    #[serde(default)]
    pub local_host: Option<String>,
}

/// Result of `ssh_forward`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ForwardResult {
    /// `local`: where to connect, e.g. `127.0.0.1:8080`. `dynamic`: the SOCKS5 proxy.
    /// `remote`: where connections are delivered.
    pub local_address: String,
    /// `local`: where connections end up, e.g. `internal-server:80`. `remote`: where the
    /// SSH server listens. `dynamic`: empty.
    pub remote_address: String,
    /// True while the forward runs.
    pub active: bool,
    /// Id of this forward, for `ssh_forward_close`.
    pub forward_id: String,
    /// `local`, `remote` or `dynamic`.
    pub kind: String,
    /// `local`: whether the SSH server could connect to the target when the forward
    /// started (one test connection, opened and closed). Null for other kinds.
    pub target_reachable: Option<bool>,
    /// Why the SSH server could not connect to the target, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_error: Option<String>,
}

/// Parameters of `ssh_forward_close`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ForwardCloseParams {
    /// From `ssh_forward`.
    pub forward_id: String,
}

/// Result of `ssh_forward_close`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ForwardCloseResult {
    pub forward_id: String,
    /// e.g. `Forward fwd-… closed`.
    pub message: String,
}

/// Parameters of tools that take only a session.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SessionParams {
    /// From `ssh_connect`.
    pub session_id: String,
}

/// Result of `ssh_disconnect`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DisconnectResult {
    /// e.g. `Session <id> disconnected successfully`.
    pub message: String,
}

/// Result of `ssh_list_sessions`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ListSessionsResult {
    /// Open sessions, oldest first.
    pub sessions: Vec<SessionSummary>,
    /// Hosts the operator configured: pass one as `address` to `ssh_connect`, without
    /// credentials.
    pub named_hosts: Vec<String>,
}

/// One open session.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SessionSummary {
    pub session_id: String,
    /// The named host or `~/.ssh/config` alias it was opened with; null for an address.
    pub name: Option<String>,
    /// `host:port` connected to.
    pub address: String,
    pub username: String,
    /// When the session was opened (RFC 3339, UTC).
    pub connected_at: String,
    /// False when the connection has died; the next call on it reconnects.
    pub alive: bool,
    /// Why the connection died, when it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_reason: Option<String>,
    /// Times the connection was re-established.
    pub reconnects: u32,
    pub host_key_fingerprint: String,
    pub auth_method: String,
    /// Port forwards of this session.
    pub forwards: Vec<ForwardSummary>,
    /// Background jobs of this session (running, and finished ones for a while).
    pub jobs: Vec<JobSummary>,
    /// Interactive shells of this session.
    pub shells: Vec<crate::mcp::shell_types::ShellSummary>,
}

/// One port forward.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ForwardSummary {
    pub forward_id: String,
    /// `local`, `remote` or `dynamic`.
    pub kind: String,
    pub local_address: String,
    pub remote_address: String,
    pub active: bool,
    /// Connections open right now.
    pub connections: usize,
    /// Bytes carried so far, both directions.
    pub bytes: u64,
}
