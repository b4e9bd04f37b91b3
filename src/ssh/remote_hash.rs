//! The SHA-256 of a remote file, computed on the remote side: what proves that a transfer
//! arrived intact, or that a download is the file as it is now.
//!
//! OpenSSH's sftp-server has no hashing extension, so the hash comes from `sha256sum` (GNU
//! and BusyBox) or `shasum -a 256` (macOS, the BSDs) run on a command channel of the same
//! session. Where neither exists, or the server runs no commands (SFTP-only servers), the
//! caller gets the reason instead of a hash.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::ssh::command_line::shell_quote;
use crate::ssh::exec::{self, ExecRequest, OutputSink};
use crate::ssh::session::Session;

/// Longest a remote hash may take (about 3 s per GiB on an ordinary disk).
const HASH_TIMEOUT: Duration = Duration::from_secs(300);

/// The hex SHA-256 of `path` (relative paths from the remote home, as for SFTP), or why
/// the remote side could not compute it.
pub async fn remote_sha256(session: &Arc<Session>, path: &str) -> Result<String, String> {
    let q = shell_quote(path);
    let command = format!(
        "if command -v sha256sum >/dev/null 2>&1; then sha256sum -- {q}; \
         elif command -v shasum >/dev/null 2>&1; then shasum -a 256 -- {q}; \
         else echo 'no sha256sum or shasum' >&2; exit 127; fi"
    );
    let req = ExecRequest {
        command,
        timeout: Some(HASH_TIMEOUT),
        ..ExecRequest::default()
    };
    let mut out = Collect::default();
    let exit = exec::run(session, req, &mut out, &CancellationToken::new())
        .await
        .map_err(|e| format!("the remote side could not run a hash command: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.split_whitespace().next() {
        Some(h) if exit.exit_code == Some(0) && is_sha256(h) => Ok(h.to_ascii_lowercase()),
        _ if exit.exit_code == Some(127) => {
            Err("the remote side has neither sha256sum nor shasum".into())
        }
        _ => Err(format!(
            "the remote hash command failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// A small command's output, kept whole (a hash line, or an error message), up to 64 KiB.
#[derive(Default)]
struct Collect {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl OutputSink for Collect {
    fn stdout(&mut self, data: &[u8]) {
        let room = (64 * 1024usize).saturating_sub(self.stdout.len());
        self.stdout.extend_from_slice(&data[..data.len().min(room)]);
    }
    fn stderr(&mut self, data: &[u8]) {
        let room = (64 * 1024usize).saturating_sub(self.stderr.len());
        self.stderr.extend_from_slice(&data[..data.len().min(room)]);
    }
}
