//! Atomic uploads over SFTP: the data is written to a temporary name in the target
//! directory with pipelined writes (several in flight), hashed on the way, then renamed
//! over the target with OpenSSH's `posix-rename@openssh.com`.

use std::time::Instant;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{FileAttributes, OpenFlags, StatusCode};

use crate::error::{Error, Result};
use crate::ids::random_id;
use crate::ssh::local_io::Reader;
use crate::ssh::session::Session;
use crate::ssh::sftp::{CHUNK, IN_FLIGHT, Progress, Source, Transfer};
use crate::ssh::sftp_channel::{TempFile, open, sftp_error};

/// Writes `source` to `remote` atomically. With `overwrite` false an existing target is an
/// error. `mode` sets permission bits; otherwise a replaced file keeps its mode and a new
/// one gets 0644.
pub async fn upload(
    session: &Session,
    remote: &str,
    source: Source<'_>,
    mode: Option<u32>,
    overwrite: bool,
    hash: bool,
    progress: Progress<'_>,
) -> Result<Transfer> {
    let started = Instant::now();
    let sftp = open(session).await?;
    let existing = match sftp.stat(remote).await {
        Ok(a) => Some(a.attrs),
        Err(SftpError::Status(s)) if s.status_code == StatusCode::NoSuchFile => None,
        Err(e) => return Err(sftp_error("checking", remote, e)),
    };
    if let Some(a) = &existing {
        if a.is_dir() {
            return Err(Error::Sftp {
                op: "uploading".into(),
                path: remote.into(),
                problem: "the target is a directory; give the full file path".into(),
            });
        }
        if !overwrite {
            return Err(Error::Sftp {
                op: "uploading".into(),
                path: remote.into(),
                problem: "the file exists; pass overwrite: true to replace it".into(),
            });
        }
    }
    let perms = mode
        .or_else(|| existing.as_ref().and_then(|a| a.permissions))
        .unwrap_or(0o644)
        & 0o7777;
    let (dir, name) = remote.rsplit_once('/').unwrap_or(("", remote));
    let temp = format!(
        "{}{}.{name}.ssh-mcp-{}.tmp",
        dir,
        if dir.is_empty() && !remote.starts_with('/') {
            ""
        } else {
            "/"
        },
        random_id(6)?
    );
    let attrs = FileAttributes {
        permissions: Some(perms),
        ..FileAttributes::empty()
    };
    let handle = sftp
        .open(
            temp.clone(),
            OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUDE,
            attrs.clone(),
        )
        .await
        .map_err(|e| sftp_error("creating a temporary file for", remote, e))?
        .handle;
    let temp = TempFile::new(session, temp);
    let written = write_all(&sftp, &handle, source, hash, progress).await;
    let closed = sftp.close(handle).await;
    let result = match (written, closed) {
        (Ok(t), Ok(_)) => Ok(t),
        (Err(e), _) => Err(e),
        (_, Err(e)) => Err(sftp_error("writing", remote, e)),
    };
    let (bytes, digest) = match result {
        Ok(t) => t,
        Err(e) => {
            remove_temp(&sftp, temp).await;
            return Err(e);
        }
    };
    // The server's umask may have narrowed the mode given at creation.
    let _ = sftp.setstat(temp.path().to_string(), attrs).await;
    if let Err(e) = rename_over(&sftp, temp.path(), remote).await {
        remove_temp(&sftp, temp).await;
        return Err(e);
    }
    temp.removed();
    Ok(Transfer {
        bytes,
        sha256: digest.as_ref().map(|h| crate::hex::encode(h)),
        duration: started.elapsed(),
    })
}

/// Removes an upload's temporary file; if that fails (the connection died), the session's
/// next SFTP use tries again.
async fn remove_temp(sftp: &RawSftpSession, temp: TempFile<'_>) {
    if sftp.remove(temp.path().to_string()).await.is_ok() {
        temp.removed();
    }
}

async fn write_all(
    sftp: &RawSftpSession,
    handle: &str,
    source: Source<'_>,
    hash: bool,
    progress: Progress<'_>,
) -> Result<(u64, Option<[u8; 32]>)> {
    let (input, total, path): (Box<dyn std::io::Read + Send>, u64, String) = match source {
        Source::Bytes(b) => (
            Box::new(std::io::Cursor::new(b.to_vec())),
            b.len() as u64,
            "the content".into(),
        ),
        Source::File(file, path) => {
            let total = file.metadata().map(|m| m.len()).unwrap_or(0);
            (Box::new(file), total, path.display().to_string())
        }
    };
    let mut reader = Reader::spawn(input, CHUNK, hash);
    let mut pending: FuturesUnordered<_> = FuturesUnordered::new();
    let finish =
        |r: std::result::Result<u64, SftpError>| r.map_err(|e| sftp_error("writing", "", e));
    let mut offset = 0u64;
    let mut done = 0u64;
    // A sliding window: a new write goes out as soon as one of the IN_FLIGHT completes.
    while let Some(chunk) = reader.next().await {
        let chunk = chunk.map_err(|e| Error::io(format!("reading {path}"), e))?;
        let len = chunk.len() as u64;
        if pending.len() >= IN_FLIGHT
            && let Some(r) = pending.next().await
        {
            let n = finish(r)?;
            done += n;
            progress(done, total.max(done));
        }
        pending.push(async move {
            sftp.write(handle.to_string(), offset, chunk)
                .await
                .map(|_| len)
        });
        offset += len;
    }
    while let Some(r) = pending.next().await {
        done += finish(r)?;
        progress(done, total.max(done));
    }
    let sha = reader
        .finish()
        .await
        .map_err(|e| Error::io(format!("reading {path}"), e))?;
    Ok((offset, sha))
}

/// Renames with `posix-rename@openssh.com` (replaces the target atomically); plain rename
/// where the server lacks it.
async fn rename_over(sftp: &RawSftpSession, from: &str, to: &str) -> Result<()> {
    let mut data = Vec::new();
    for s in [from, to] {
        data.extend_from_slice(&(s.len() as u32).to_be_bytes());
        data.extend_from_slice(s.as_bytes());
    }
    match sftp.extended("posix-rename@openssh.com", data).await {
        Ok(russh_sftp::protocol::Packet::Status(s)) if s.status_code == StatusCode::Ok => Ok(()),
        Ok(_) | Err(_) => sftp
            .rename(from, to)
            .await
            .map(|_| ())
            .map_err(|e| sftp_error("renaming into place", to, e)),
    }
}
