//! The audit log: one JSON object per line, appended and written out per event, so that
//! what was done survives a crash of the server. It never holds a secret.
//!
//! Fields (absent when not applicable): `ts` (RFC 3339 UTC), `client` (MCP client name and
//! version, and the HTTP token name), `tool`, `session_id`, `host`, `user`, `command`,
//! `target` (forward or transfer target), `decision` (`allowed`, `refused`, `failed`),
//! `error`, `exit_code`, `exit_signal`, `timed_out`, `stdout_bytes`, `stderr_bytes`,
//! `duration_ms`, `job_id`, `shell_id`, `secret` (the name of a stored secret the server
//! typed, e.g. `sudo`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;

use crate::error::{Error, Result};

/// What became of a tool call.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The call was let through and did what it asked (a non-zero exit status included).
    #[default]
    Allowed,
    /// The server's policy refused it: nothing was done.
    Refused,
    /// It was allowed but could not be done (unreachable host, unknown session, …).
    Failed,
}

impl Decision {
    /// What became of a call that ended with `outcome`.
    pub fn of<T, E: std::borrow::Borrow<crate::error::Error>>(outcome: &Result<T, E>) -> Self {
        match outcome {
            Ok(_) => Decision::Allowed,
            Err(e) => Self::of_error(e.borrow()),
        }
    }

    /// A refusal by policy (or by the user, for a host key) is `Refused`, any other error
    /// `Failed`.
    pub fn of_error(e: &crate::error::Error) -> Self {
        match e {
            crate::error::Error::Policy(_)
            | crate::error::Error::HostKeyNotConfirmed { .. }
            | crate::error::Error::SecretNotGiven {
                why: crate::error::NotGiven::Declined | crate::error::NotGiven::Cancelled,
                ..
            } => Decision::Refused,
            _ => Decision::Failed,
        }
    }
}

/// One audit event. Build it with `..Default::default()` and the fields that apply.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Event {
    pub ts: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    pub tool: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The `local_path` of a file transfer, as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_path: Option<String>,
    pub decision: Decision,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timed_out: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shell_id: Option<String>,
    /// The name of a stored secret the server typed (never its value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<&'static str>,
}

/// An open audit log.
#[derive(Debug)]
pub struct AuditLog {
    file: Mutex<File>,
}

impl AuditLog {
    /// Opens (creating, mode 0600) a log for appending.
    pub fn open(path: &Path) -> Result<Self> {
        let mut o = OpenOptions::new();
        o.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let file = o
            .open(path)
            .map_err(|e| Error::io(format!("opening audit log {}", path.display()), e))?;
        Ok(Self {
            file: Mutex::new(file),
        })
    }

    /// Appends one event as one `write` of one line.
    pub fn record(&self, mut event: Event) {
        event.ts = crate::clock::rfc3339(SystemTime::now());
        let Ok(mut line) = serde_json::to_vec(&event) else {
            return;
        };
        line.push(b'\n');
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = f.write_all(&line) {
            tracing::error!(error = %e, "writing the audit log failed");
        }
    }
}
