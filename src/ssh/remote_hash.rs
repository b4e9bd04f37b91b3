//! The SHA-256 of a remote file, computed on the remote side: what proves that a transfer
//! arrived intact, or that a download is the file as it is now.
//!
//! Where the SFTP server offers the `check-file-name` extension (ProFTPD's mod_sftp, for
//! one; draft-ietf-secsh-filexfer-extensions-00, section 3), the server hashes the file
//! itself. OpenSSH's sftp-server has no hashing extension, so otherwise the hash comes from
//! `sha256sum` (GNU and BusyBox) or `shasum -a 256` (macOS, the BSDs) run on a command
//! channel of the same session. Where neither works (an SFTP-only server without the
//! extension), the caller gets the reason instead of a hash.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use russh_sftp::protocol::Packet;

use crate::ssh::command_line::shell_quote;
use crate::ssh::exec::{self, ExecRequest, OutputSink};
use crate::ssh::session::Session;
use crate::ssh::sftp_channel;

/// Longest a remote hash may take (about 3 s per GiB on an ordinary disk).
const HASH_TIMEOUT: Duration = Duration::from_secs(300);

/// The hex SHA-256 of `path` (relative paths from the remote home, as for SFTP), or why
/// the remote side could not compute it.
pub async fn remote_sha256(session: &Arc<Session>, path: &str) -> Result<String, String> {
    match check_file(session, path).await {
        Some(Ok(hash)) => return Ok(hash),
        Some(Err(why)) => tracing::debug!(%why, "SFTP check-file failed; trying a hash command"),
        None => {}
    }
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

/// The hash from the SFTP `check-file-name` extension: `None` when the server does not
/// offer it (OpenSSH answers "unsupported"), or the reason it gave no usable hash.
async fn check_file(session: &Session, path: &str) -> Option<Result<String, String>> {
    let sftp = sftp_channel::open(session).await.ok()?;
    let mut data = Vec::with_capacity(path.len() + 40);
    for s in [path.as_bytes(), b"sha256"] {
        data.extend_from_slice(&u32::try_from(s.len()).ok()?.to_be_bytes());
        data.extend_from_slice(s);
    }
    // Start offset 0, length 0 (to the end), block size 0 (one hash of the whole file).
    data.extend_from_slice(&[0; 20]);
    // The SFTP channel's own request timeout (10 s) bounds the wait: a server that needs
    // longer (files of several GiB) leaves the file to the hash command.
    match sftp.extended("check-file-name", data).await {
        Ok(Packet::ExtendedReply(r)) => Some(parse_check_file(&r.data)),
        Ok(Packet::Status(s))
            if s.status_code == russh_sftp::protocol::StatusCode::OpUnsupported =>
        {
            None
        }
        Ok(other) => Some(Err(format!("unexpected check-file answer: {other:?}"))),
        Err(e) => {
            // A channel that failed is not used again.
            if matches!(
                e,
                russh_sftp::client::error::Error::UnexpectedBehavior(_)
                    | russh_sftp::client::error::Error::IO(_)
            ) {
                session.forget_sftp().await;
            }
            Some(Err(format!("check-file: {e}")))
        }
    }
}

/// A `check-file` reply: the extension's name (some servers repeat it), the algorithm
/// used, then the hash.
fn parse_check_file(data: &[u8]) -> Result<String, String> {
    fn string<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
        let (s, tail) = (tail.get(..len)?, tail.get(len..)?);
        *rest = tail;
        Some(s)
    }
    let malformed = || "malformed check-file reply".to_string();
    let mut rest = data;
    let mut algorithm = string(&mut rest).ok_or_else(malformed)?;
    if algorithm == b"check-file" {
        algorithm = string(&mut rest).ok_or_else(malformed)?;
    }
    if algorithm != b"sha256" {
        return Err(format!(
            "check-file used {} instead of sha256",
            String::from_utf8_lossy(algorithm)
        ));
    }
    if rest.len() != 32 {
        return Err(malformed());
    }
    Ok(crate::hex::encode(rest))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn string(s: &[u8]) -> Vec<u8> {
        let mut v = (s.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(s);
        v
    }

    #[test]
    fn a_check_file_reply_should_give_the_hash_with_or_without_the_name() {
        let hash = [0xab_u8; 32];
        let plain = [string(b"sha256"), hash.to_vec()].concat();
        let named = [string(b"check-file"), plain.clone()].concat();
        let want = "ab".repeat(32);
        assert_eq!(parse_check_file(&plain), Ok(want.clone()));
        assert_eq!(parse_check_file(&named), Ok(want));
    }

    #[test]
    fn a_wrong_check_file_reply_should_be_refused() {
        let md5 = [string(b"md5"), vec![0; 16]].concat();
        assert!(parse_check_file(&md5).unwrap_err().contains("md5"));
        let short = [string(b"sha256"), vec![0; 31]].concat();
        assert!(parse_check_file(&short).is_err());
        assert!(parse_check_file(&[0, 0, 0, 9, b's']).is_err());
        assert!(parse_check_file(&[0xff; 4]).is_err());
        assert!(parse_check_file(&[]).is_err());
    }
}
