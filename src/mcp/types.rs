//! Tool parameters and results. Field docs become the JSON Schema descriptions the model
//! reads, so they say what to pass and what comes back.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Parameters of `ssh_connect`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ConnectParams {
    /// Server to connect to: the name of a host the operator configured (listed by
    /// `ssh_list_sessions` as `named_hosts`; no credentials needed), or `host`, `host:port`
    /// (default port 22), or `[ipv6]:port`.
    pub address: String,
    /// Remote user name. Defaults to the local user running this server.
    #[serde(default)]
    pub username: Option<String>,
    /// Password for password (or keyboard-interactive) authentication. Prefer keys or the
    /// SSH agent: a password passed here is seen by the model and the client.
    #[serde(default)]
    pub password: Option<Secret>,
    /// Path of a private key file on the machine running this server; `~` is expanded.
    #[serde(default)]
    pub key_path: Option<String>,
    /// Passphrase of an encrypted private key (the one in `key_path`, or a default identity).
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
    /// `known` (matched known_hosts), `certificate` (a host certificate from a CA trusted in
    /// known_hosts), `confirmed` (new host whose key the user trusted when asked, recorded),
    /// `learned` (new host, recorded without asking: the client cannot ask), or `unverified`
    /// (the operator turned host-key checking off).
    pub host_key_status: String,
    /// How authentication succeeded, e.g. `password`, `key ~/.ssh/id_ed25519`, `agent key SHA256:…`.
    pub auth_method: String,
}

/// Parameters of `ssh_execute`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ExecuteParams {
    /// Session from `ssh_connect`.
    pub session_id: String,
    /// Command line, run by the remote user's login shell exactly as `ssh host 'command'`
    /// would. It gets no terminal; stdin is closed unless `stdin` is given.
    pub command: String,
    /// Stop the command after this many seconds (HUP and INT, then TERM, then KILL, to its
    /// process group) and return what it printed so far with `timed_out: true`. Default: the
    /// server's setting (60 s); at most the server's maximum (3600 s); 0 = no limit, only where
    /// the operator allows it.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Bytes kept per stream (stdout, stderr). Past it the first and last halves are kept
    /// with a marker between them. Default: the server's setting (65536).
    #[serde(default)]
    pub max_output_bytes: Option<usize>,
    /// Text written to the command's stdin, followed by end-of-file.
    #[serde(default)]
    pub stdin: Option<String>,
    /// Directory to run the command in. If it does not exist the command is not run and
    /// the exit code is 1.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Environment variables for the command (names: letters, digits, `_`).
    #[serde(default)]
    pub env: Option<BTreeMap<String, String>>,
    /// Start the command and return with a `job_id` as soon as the server has accepted it;
    /// follow it with `ssh_job`.
    /// Its timeout defaults to the server's maximum instead of `timeout_secs`' default.
    #[serde(default)]
    pub background: Option<bool>,
}

/// Result of `ssh_execute`. A non-zero `exit_code` is a normal result, not an error.
#[derive(Debug, Serialize, JsonSchema)]
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
    /// With `background: true`: the job to follow with `ssh_job` (other fields are empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
}

/// Parameters of `ssh_job`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct JobParams {
    /// Job from `ssh_execute` with `background: true`.
    pub job_id: String,
    /// Wait up to this many seconds (at most 300) for the job to finish before answering.
    #[serde(default)]
    pub wait_secs: Option<u64>,
    /// Stop the job (HUP and INT, then TERM, then KILL) and report it.
    #[serde(default)]
    pub kill: Option<bool>,
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
    /// Session from `ssh_connect`.
    pub session_id: String,
    /// `local` (default, like `ssh -L`): listen here, connect from the SSH server.
    /// `remote` (like `ssh -R`): the SSH server listens on `remote_address:remote_port`,
    /// connections come back to `local_host:local_port` here.
    /// `dynamic` (like `ssh -D`): a SOCKS5 proxy on 127.0.0.1:`local_port`.
    #[serde(default)]
    pub kind: Option<String>,
    /// `local`/`dynamic`: port to listen on at 127.0.0.1 on the machine running this server,
    /// 0 picks a free one (the result says which). `remote`: port to connect to here.
    pub local_port: u16,
    /// `local`: host to reach, resolved by the SSH server (e.g. `localhost` for the server
    /// itself). `remote`: address the SSH server listens on (default 127.0.0.1).
    #[serde(default)]
    pub remote_address: Option<String>,
    /// `local`: port to reach on `remote_address`. `remote`: port the SSH server listens
    /// on, 0 lets it pick (the result says which).
    #[serde(default)]
    pub remote_port: Option<u16>,
    /// `remote`: host to connect to here (default 127.0.0.1).
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
}

/// Parameters of `ssh_forward_close`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ForwardCloseParams {
    /// Forward from `ssh_forward`.
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
    /// Session from `ssh_connect`.
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

/// Parameters of `ssh_upload`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UploadParams {
    /// Session from `ssh_connect`.
    pub session_id: String,
    /// Destination path on the remote host (absolute, or relative to the remote user's home).
    pub remote_path: String,
    /// Text to write (at most 1 MiB). Give this or `local_path`.
    #[serde(default)]
    pub content: Option<String>,
    /// Absolute path of a file on the machine running this server to upload (any size).
    #[serde(default)]
    pub local_path: Option<String>,
    /// Permission bits in octal, e.g. "0644" or "755". Default: the replaced file's, else 0644.
    #[serde(default)]
    pub mode: Option<String>,
    /// Replace an existing file. Default false: an existing target is an error.
    #[serde(default)]
    pub overwrite: Option<bool>,
    /// Compute the SHA-256 of the data (default true). It costs about 0.7 s of CPU per GiB;
    /// turn it off only for very large transfers whose checksum nobody needs.
    #[serde(default)]
    pub checksum: Option<bool>,
}

/// Result of `ssh_upload`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct UploadResult {
    pub remote_path: String,
    /// Bytes written.
    pub bytes: u64,
    /// SHA-256 of the bytes written, hex (absent with `checksum: false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub duration_ms: u64,
    /// The session's connection had died and was reopened for this call.
    pub reconnected: bool,
}

/// Parameters of `ssh_download`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DownloadParams {
    /// Session from `ssh_connect`.
    pub session_id: String,
    /// File to read on the remote host.
    pub remote_path: String,
    /// Absolute path on the machine running this server to save the file to. Without it the
    /// file comes back as `content`.
    #[serde(default)]
    pub local_path: Option<String>,
    /// Read at most this many bytes. Default for `content`: 262144 (at most 4 MiB); for
    /// `local_path`: the whole file.
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// Replace an existing `local_path`. Default false.
    #[serde(default)]
    pub overwrite: Option<bool>,
    /// Compute the SHA-256 of the data (default true). It costs about 0.7 s of CPU per GiB;
    /// turn it off only for very large transfers whose checksum nobody needs.
    #[serde(default)]
    pub checksum: Option<bool>,
}

/// Result of `ssh_download`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DownloadResult {
    pub remote_path: String,
    /// Where the file was saved, with `local_path`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_path: Option<String>,
    /// The file's text, without `local_path` (invalid UTF-8 replaced by U+FFFD; see `lossy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// `content` is not exactly the file: it was not valid UTF-8.
    pub lossy: bool,
    /// Bytes read.
    pub bytes: u64,
    /// The file's size.
    pub size: u64,
    /// Fewer bytes were read than the file holds (`max_bytes`).
    pub truncated: bool,
    /// SHA-256 of the bytes read, hex (absent with `checksum: false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub duration_ms: u64,
    /// The session's connection had died and was reopened for this call.
    pub reconnected: bool,
}

/// Parameters of `ssh_list_dir`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListDirParams {
    /// Session from `ssh_connect`.
    pub session_id: String,
    /// Directory on the remote host ("." is the remote user's home).
    pub path: String,
    /// Entries returned at most (default 1000).
    #[serde(default)]
    pub max_entries: Option<usize>,
}

/// Result of `ssh_list_dir`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ListDirResult {
    pub path: String,
    /// Entries sorted by name (without `.` and `..`).
    pub entries: Vec<DirEntryResult>,
    /// More entries exist than were returned.
    pub truncated: bool,
    /// The session's connection had died and was reopened for this call.
    pub reconnected: bool,
}

/// One directory entry.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DirEntryResult {
    pub name: String,
    /// `file`, `dir`, `symlink` or `other`.
    #[serde(rename = "type")]
    pub kind: String,
    pub size: u64,
    /// Permission bits in octal, e.g. `0644`.
    pub mode: String,
    /// Modification time, RFC 3339 UTC.
    pub mtime: Option<String>,
}
