//! File transfer over the `sftp` subsystem: one SFTP channel per session, opened on first
//! use and reused. Reads are pipelined (several requests in flight) and every transfer is
//! hashed; this file holds the transfer types, downloads and directory listings, uploads
//! are in [`crate::ssh::sftp_upload`].

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use futures::stream::FuturesOrdered;
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{FileAttributes, OpenFlags, StatusCode};

use crate::error::{Error, Result};
use crate::ssh::local_io::Writer;
use crate::ssh::session::Session;
pub use crate::ssh::sftp_channel::{guarded, open, sftp_error};
pub use crate::ssh::sftp_upload::upload;

/// Bytes per read or write request (OpenSSH's sftp-server accepts up to 256 KiB).
pub const CHUNK: usize = 64 * 1024;
/// Bytes per read request: a data reply (13 bytes of header, then the data) then fills two
/// SSH packets of 32 KiB exactly, instead of two and a 13-byte third.
pub const READ_CHUNK: usize = CHUNK - 13;
/// Requests in flight at once: 2 MiB, as much as OpenSSH's `sftp` keeps in flight.
pub const IN_FLIGHT: usize = 32;

/// What a transfer did.
#[derive(Debug, Clone)]
pub struct Transfer {
    pub bytes: u64,
    /// Hex SHA-256 of the data, unless hashing was turned off.
    pub sha256: Option<String>,
    pub duration: Duration,
}

/// One directory entry.
#[derive(Debug, Clone)]
pub struct DirEntry {
    pub name: String,
    /// `file`, `dir`, `symlink` or `other`.
    pub kind: &'static str,
    pub size: u64,
    /// Permission bits, e.g. `0644`.
    pub mode: String,
    pub mtime: Option<SystemTime>,
}

/// Where uploaded bytes come from.
pub enum Source<'a> {
    Bytes(&'a [u8]),
    /// A local file, already opened (and checked) by the caller, with its path.
    File(std::fs::File, &'a Path),
}

/// Where downloaded bytes go.
pub enum Sink {
    /// Collected and returned.
    Memory,
    /// Written to this (new, empty) file.
    File(std::fs::File),
}

/// Told the bytes done and the bytes in all after every chunk of a transfer.
pub type Progress<'a> = &'a mut (dyn FnMut(u64, u64) + Send);

/// Reads `remote`, at most `max_bytes` of it, into `sink`. Returns the transfer, the
/// file's full size, and the bytes when the sink is memory.
pub async fn download(
    session: &Session,
    remote: &str,
    max_bytes: Option<u64>,
    sink: Sink,
    hash: bool,
    progress: Progress<'_>,
) -> Result<(Transfer, u64, Vec<u8>)> {
    let started = Instant::now();
    let sftp = open(session).await?;
    let attrs = sftp
        .stat(remote)
        .await
        .map_err(|e| sftp_error("reading", remote, e))?
        .attrs;
    if attrs.is_dir() {
        return Err(Error::Sftp {
            op: "downloading".into(),
            path: remote.into(),
            problem: "it is a directory; use ssh_list_dir".into(),
        });
    }
    let size = attrs.size.unwrap_or(0);
    let want = max_bytes.map_or(size, |m| m.min(size));
    let handle = sftp
        .open(remote, OpenFlags::READ, FileAttributes::empty())
        .await
        .map_err(|e| sftp_error("opening", remote, e))?
        .handle;
    let writer = Writer::spawn(
        match sink {
            Sink::Memory => None,
            Sink::File(f) => Some(f),
        },
        hash,
    );
    let received = read_all(&sftp, &handle, remote, want, &writer, progress).await;
    let _ = sftp.close(handle).await;
    let written = writer.finish().await;
    let bytes = received?;
    let written = written.map_err(|e| Error::io("writing the download", e))?;
    Ok((
        Transfer {
            bytes,
            sha256: written.sha256.as_ref().map(|h| crate::hex::encode(h)),
            duration: started.elapsed(),
        },
        size,
        written.memory,
    ))
}

/// Reads the first `want` bytes of an open file into `writer`; returns the bytes read
/// (fewer when the file shrank meanwhile).
async fn read_all(
    sftp: &RawSftpSession,
    handle: &str,
    remote: &str,
    want: u64,
    writer: &Writer,
    progress: Progress<'_>,
) -> Result<u64> {
    let mut offset = 0u64; // bytes delivered, in order
    let mut next = 0u64; // next offset to ask for
    let mut inflight = FuturesOrdered::new();
    let request = |o: u64| {
        let len = (want - o).min(READ_CHUNK as u64) as u32;
        async move { (o, len, sftp.read(handle, o, len).await) }
    };
    // A sliding window of reads, delivered in order. A short read (the server may return
    // less than asked) drops the reads after it and asks again from where it ended.
    while offset < want {
        while next < want && inflight.len() < IN_FLIGHT {
            inflight.push_back(request(next));
            next += READ_CHUNK as u64;
        }
        let Some((o, len, r)) = inflight.next().await else {
            break;
        };
        if o != offset {
            continue;
        }
        let data = match r {
            Ok(d) => d.data,
            Err(SftpError::Status(s)) if s.status_code == StatusCode::Eof => break,
            Err(e) => return Err(sftp_error("reading", remote, e)),
        };
        let n = data.len() as u64;
        if n == 0 {
            break;
        }
        offset += n;
        if writer.write(data).await.is_err() {
            // The writer stopped on an error, which `finish` reports.
            break;
        }
        progress(offset, want);
        if n < u64::from(len) {
            inflight = FuturesOrdered::new();
            next = offset;
        }
    }
    Ok(offset)
}

/// Lists a directory, at most `limit` entries (sorted by name). The flag tells whether
/// entries were left out.
pub async fn list_dir(
    session: &Session,
    path: &str,
    limit: usize,
) -> Result<(Vec<DirEntry>, bool)> {
    let sftp = open(session).await?;
    let handle = match sftp.opendir(path).await {
        Ok(h) => h.handle,
        Err(e) => {
            let err = sftp_error("listing", path, e);
            // OpenSSH's sftp-server answers opendir on a file with "no such file", others
            // with a bare failure: say what the path is.
            if matches!(err, Error::Sftp { .. })
                && let Ok(found) = sftp.stat(path).await
                && !found.attrs.is_dir()
            {
                return Err(Error::Sftp {
                    op: "listing".into(),
                    path: path.into(),
                    problem: "it is not a directory; use ssh_download to read a file".into(),
                });
            }
            return Err(err);
        }
    };
    let mut entries = Vec::new();
    let mut more = false;
    loop {
        match sftp.readdir(handle.as_str()).await {
            Ok(name) => {
                for f in name.files {
                    if f.filename == "." || f.filename == ".." {
                        continue;
                    }
                    if entries.len() >= limit {
                        more = true;
                        continue;
                    }
                    let a = &f.attrs;
                    entries.push(DirEntry {
                        kind: if a.is_dir() {
                            "dir"
                        } else if a.is_symlink() {
                            "symlink"
                        } else if a.is_regular() {
                            "file"
                        } else {
                            "other"
                        },
                        size: a.size.unwrap_or(0),
                        mode: format!("{:04o}", a.permissions.unwrap_or(0) & 0o7777),
                        mtime: a
                            .mtime
                            .map(|t| UNIX_EPOCH + Duration::from_secs(u64::from(t))),
                        name: f.filename,
                    });
                }
            }
            Err(SftpError::Status(s)) if s.status_code == StatusCode::Eof => break,
            Err(e) => {
                let _ = sftp.close(handle).await;
                return Err(sftp_error("listing", path, e));
            }
        }
    }
    let _ = sftp.close(handle).await;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((entries, more))
}
