//! A session's SFTP channel: opened on first use and reused, replaced after it fails, and
//! what its failures tell the caller; and the temporary files of uploads, recorded when
//! they could not clean up after themselves.

use std::sync::Arc;
use std::time::Duration;

use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::StatusCode;

use crate::error::{Error, Result};
use crate::ssh::session::Session;
use crate::ssh::sftp_state::Leftovers;

/// A temporary upload file: recorded in its session's [`Leftovers`] when dropped before
/// [`TempFile::removed`] (it was renamed into place or removed).
pub struct TempFile<'a> {
    path: String,
    leftovers: &'a Leftovers,
    gone: bool,
}

impl<'a> TempFile<'a> {
    pub fn new(session: &'a Session, path: String) -> Self {
        TempFile {
            path,
            leftovers: session.leftovers(),
            gone: false,
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// The file no longer exists under its temporary name.
    pub fn removed(mut self) {
        self.gone = true;
    }
}

impl Drop for TempFile<'_> {
    fn drop(&mut self) {
        if !self.gone {
            self.leftovers.lock().push(std::mem::take(&mut self.path));
        }
    }
}

/// The session's SFTP channel, opened on first use. Removes the session's leftover
/// temporary files first, if it has any.
pub async fn open(session: &Session) -> Result<Arc<RawSftpSession>> {
    let raw = open_channel(session).await?;
    let stale = std::mem::take(&mut *session.leftovers().lock());
    for path in stale {
        match raw.remove(path.clone()).await {
            Ok(_) => tracing::debug!(path = %path, "removed a leftover temporary file"),
            Err(e) => {
                tracing::debug!(path = %path, error = %e, "could not remove a leftover temporary file")
            }
        }
    }
    Ok(raw)
}

async fn open_channel(session: &Session) -> Result<Arc<RawSftpSession>> {
    session
        .sftp(|| async {
            let (channel, permit) = session.open_session_channel().await.map_err(|e| {
                if session.is_closed() {
                    session.not_started_error()
                } else {
                    e
                }
            })?;
            channel.request_subsystem(true, "sftp").await.map_err(|e| {
                if session.is_closed() {
                    session.not_started_error()
                } else {
                    Error::Ssh(e)
                }
            })?;
            let raw = RawSftpSession::new(channel.into_stream());
            raw.init()
                .await
                .map_err(|e| sftp_error("starting SFTP (is the sftp subsystem enabled?)", "", e))?;
            // The channel slot stays taken for as long as the SFTP channel lives.
            Ok((Arc::new(raw), permit))
        })
        .await
}

/// Runs an SFTP operation of `session` until it ends or the connection dies: requests
/// on a dead connection could otherwise wait for their own timeout. A failure reports the
/// connection's end when it died; a failed SFTP channel on a live connection is dropped so
/// that the next call opens a new one.
pub async fn guarded<T>(
    session: &Session,
    op: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let dead = session.dead_token();
    let r = tokio::select! {
        biased;
        r = op => r,
        _ = dead.cancelled() => Err(session.closed_error()),
    };
    match r {
        Err(e) => Err(settle(session, e).await),
        ok => ok,
    }
}

/// What a failed SFTP call tells the caller, once the session's state is known: the
/// connection's end if it died, or, for a failed SFTP channel on a live connection, that
/// channel is dropped so that the next call opens a new one.
async fn settle(session: &Session, e: Error) -> Error {
    if let Error::SftpChannel(_) = &e {
        session.forget_sftp().await;
        // A dying connection is often noticed here first: let its end be recorded.
        let dead = session.dead_token();
        let _ = tokio::time::timeout(Duration::from_millis(200), dead.cancelled()).await;
    }
    session.or_closed(e)
}

/// Maps an SFTP failure on `path` to an error that says what to do.
pub fn sftp_error(op: &str, path: &str, e: SftpError) -> Error {
    if matches!(
        e,
        SftpError::UnexpectedBehavior(_) | SftpError::Timeout | SftpError::IO(_)
    ) {
        return Error::SftpChannel(format!("{op} {path}: the SFTP channel failed ({e})"));
    }
    let problem = match &e {
        SftpError::Status(s) => match s.status_code {
            StatusCode::NoSuchFile => "no such file or directory".to_string(),
            StatusCode::PermissionDenied => "permission denied".to_string(),
            _ if s.error_message.is_empty() => format!("{}", s.status_code),
            _ => format!("{}: {}", s.status_code, s.error_message),
        },
        other => other.to_string(),
    };
    Error::Sftp {
        op: op.to_string(),
        path: path.to_string(),
        problem,
    }
}
