//! Parameters and result of `ssh_fanout`. Field docs become the JSON Schema the model
//! reads: the parameters' are short (every conversation pays for them).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Parameters of `ssh_fanout`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FanoutParams {
    /// Named hosts, `web*` globs over them, `@group`s, session ids.
    pub targets: Vec<String>,
    /// As for ssh_execute.
    pub command: String,
    /// Per host (default 60).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Hosts at once (default 16, at most 64).
    #[serde(default)]
    pub concurrency: Option<u64>,
    /// Per host and stream (default 4096).
    #[serde(default)]
    pub max_output_bytes: Option<usize>,
    /// Start no more hosts after a failure.
    #[serde(default)]
    pub fail_fast: Option<bool>,
    /// Sent to stdin.
    #[serde(default)]
    pub stdin: Option<String>,
    /// Directory.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Variables.
    #[serde(default)]
    pub env: Option<BTreeMap<String, String>>,
    /// As ssh_execute.
    #[serde(default)]
    pub sudo: Option<bool>,
}

/// Result of `ssh_fanout`. Non-zero exit codes are results, not errors.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct FanoutResult {
    pub summary: Summary,
    /// Hosts with identical exit status and output, largest group first.
    pub groups: Vec<Group>,
    /// Hosts where the command did not run.
    pub errors: Vec<HostError>,
    /// Wall-clock time of the call.
    pub duration_ms: u64,
    /// Set when output was left out to keep the result under 64 KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Counts of hosts; `hosts` is the sum of the others.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Summary {
    pub hosts: usize,
    /// Exit code 0.
    pub ok: usize,
    /// Another exit code, or a signal.
    pub failed: usize,
    /// Stopped at `timeout_secs`.
    pub timed_out: usize,
    /// Listed in `errors`.
    pub errors: usize,
    /// Not started after a `fail_fast` stop.
    pub skipped: usize,
}

/// Hosts whose command ended the same way with the same output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Group {
    /// Host names (named host, or the session id given), in target order.
    pub hosts: Vec<String>,
    pub exit_code: Option<i64>,
    /// Signal that ended the command, without `SIG`.
    pub exit_signal: Option<String>,
    pub stdout: String,
    pub stderr: String,
    /// Output was cut to `max_output_bytes`, or left out (see `note`).
    pub truncated: bool,
    /// The command was stopped at `timeout_secs`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
}

/// A host where the command did not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct HostError {
    pub host: String,
    pub stage: Stage,
    /// What went wrong and what to do.
    pub error: String,
}

/// Where a host's attempt stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Reaching the host, or the connection failed.
    Connect,
    /// Authentication.
    Auth,
    /// The host key is unknown, changed or revoked.
    HostKey,
    /// A limit of this server or of the host (sessions, commands, channels).
    Limit,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Connect => "connect",
            Stage::Auth => "auth",
            Stage::HostKey => "host_key",
            Stage::Limit => "limit",
        }
    }
}
