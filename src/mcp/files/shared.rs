//! What the file tools share: where `local_path` may point, their audit lines, saving a
//! download into a local file, and checking a transfer against the remote file's hash.

use std::path::{Path, PathBuf};

use rmcp::RoleServer;
use rmcp::service::RequestContext;

use crate::audit::{Decision, Event};
use crate::error::Error;
use crate::local_paths::Confinement;
use crate::mcp::SshMcp;
use crate::mcp::file_types::Verification;
use crate::ssh::sftp::{self, Sink};

impl SshMcp {
    /// Where this call's `local_path` may point: the operator's `local_roots`; failing
    /// those (stdio only) the roots the client declares, or the directory the server was
    /// started in.
    pub(super) async fn confinement(&self, ctx: &RequestContext<RoleServer>) -> Confinement {
        let settings = self.manager.settings();
        let mut roots = settings.local_roots.clone();
        if roots.is_empty() && settings.client_roots {
            roots = self.client_roots(ctx).await;
        }
        if roots.is_empty() {
            roots.extend(settings.start_dir.clone());
        }
        Confinement {
            roots,
            protected: settings.protected.clone(),
            how_to_allow: if settings.client_roots {
                "The operator can allow a directory with [files] local_roots in the config file, or start the server in that directory."
            } else {
                "The operator can allow a directory with [files] local_roots in the config file."
            },
        }
    }

    /// Audits a refused file call.
    pub(super) fn audit_refusal(
        &self,
        ctx: &RequestContext<RoleServer>,
        tool: &'static str,
        paths: (&str, &str, Option<&str>),
        e: &Error,
    ) {
        let event = Event {
            decision: Decision::Refused,
            error: Some(e.to_string()),
            ..file_event(tool, paths)
        };
        self.audit(ctx, event);
    }

    /// Audits a transfer or listing: the remote path (`target`) and the local one.
    pub(super) fn audit_transfer<T>(
        &self,
        ctx: &RequestContext<RoleServer>,
        tool: &'static str,
        paths: (&str, &str, Option<&str>),
        r: &Result<T, impl std::fmt::Display>,
    ) {
        let event = Event {
            decision: if r.is_ok() {
                Decision::Allowed
            } else {
                Decision::Failed
            },
            error: r.as_ref().err().map(|e| e.to_string()),
            ..file_event(tool, paths)
        };
        self.audit(ctx, event);
    }
}

/// The audit event of a file call on `session_id`: the remote path (`target`) and the local
/// one.
fn file_event(
    tool: &'static str,
    (session_id, target, local): (&str, &str, Option<&str>),
) -> Event {
    Event {
        tool,
        session_id: Some(session_id.trim().to_string()),
        target: Some(target.to_string()),
        local_path: local.map(String::from),
        ..Default::default()
    }
}

/// Downloads into a local file: written to a temporary name beside it, then renamed.
pub(super) async fn save(
    session: &crate::ssh::Session,
    remote: &str,
    (confinement, raw, path): (&Confinement, &str, &Path),
    max: Option<u64>,
    overwrite: bool,
    hash: bool,
    progress: sftp::Progress<'_>,
) -> crate::Result<(sftp::Transfer, u64)> {
    if !overwrite && path.exists() {
        return Err(Error::InvalidArgument(format!(
            "{} exists; pass overwrite: true to replace it",
            path.display()
        )));
    }
    let temp = PartialDownload(path.with_file_name(format!(
        ".{}.ssh-mcp-{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        crate::ids::random_id(6)?
    )));
    let file = confinement.create_new(raw, &temp.0)?;
    let download = sftp::download(session, remote, max, Sink::File(file), hash, progress);
    let (t, size, _) = sftp::guarded(session, download).await?;
    confinement.recheck_write(raw, path)?;
    tokio::fs::rename(&temp.0, path)
        .await
        .map_err(|e| Error::io(format!("renaming into {}", path.display()), e))?;
    temp.keep();
    Ok((t, size))
}

/// A partly written download, removed unless it was renamed into place (also when the
/// call is cancelled).
struct PartialDownload(PathBuf);

impl PartialDownload {
    /// The file was renamed into place: nothing to remove.
    fn keep(mut self) {
        self.0 = PathBuf::new();
    }
}

impl Drop for PartialDownload {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// Refuses a remote path with a NUL byte: an SFTP request cannot carry one, and the server
/// would end the SFTP channel instead of answering.
pub(super) fn check_remote_path(path: &str) -> Result<(), Error> {
    if path.contains('\0') {
        return Err(Error::InvalidArgument(
            "the remote path contains a NUL byte, which no path can hold".into(),
        ));
    }
    Ok(())
}

/// Hashes `remote` on the remote side and compares it with `local` (the hash of the bytes
/// sent or read); `whole` says whether those bytes were the whole file.
pub(super) async fn verify(
    session: &std::sync::Arc<crate::ssh::Session>,
    remote: &str,
    local: Option<&str>,
    whole: bool,
) -> Verification {
    let unchecked = |note: &str| Verification {
        verify_note: Some(note.to_string()),
        ..Verification::default()
    };
    let Some(local) = local else {
        return unchecked("not verified: checksum is off");
    };
    if !whole {
        return unchecked("not verified: only part of the file was read (max_bytes)");
    }
    match crate::ssh::remote_hash::remote_sha256(session, remote).await {
        Ok(h) => Verification {
            verified: Some(h.eq_ignore_ascii_case(local)),
            remote_sha256: Some(h),
            verify_note: None,
        },
        Err(why) => unchecked(&format!("not verified: {why}")),
    }
}
