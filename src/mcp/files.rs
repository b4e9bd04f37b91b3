//! `ssh_upload`, `ssh_download`, `ssh_list_dir`: the tools themselves; what they share is
//! in [`shared`].

mod shared;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};

use crate::mcp::structured::Json;

use crate::clock::rfc3339;
use crate::error::Error;
use crate::manager::OpenSftp;
use crate::mcp::errors::tool_error;
use crate::mcp::execute::millis;
use crate::mcp::file_types::*;
use crate::mcp::progress::TransferProgress;
use crate::mcp::{SshMcp, schema};
use crate::ssh::sftp::{self, Sink, Source};
use shared::{check_remote_path, save, verify};

/// Largest `content` an upload may carry.
pub const MAX_CONTENT: usize = 1024 * 1024;
/// Default and largest size of a download returned as `content`.
pub const DEFAULT_CONTENT: u64 = 256 * 1024;
pub const MAX_CONTENT_DOWNLOAD: u64 = 4 * 1024 * 1024;

#[tool_router(router = files_router, vis = "pub(crate)")]
impl SshMcp {
    #[tool(
        name = "ssh_upload",
        input_schema = schema::input::<UploadParams>(),
        output_schema = schema::output::<UploadResult>(),
        description = "Write a remote file over SFTP, atomically (temporary name, then rename), from content or local_path. Returns bytes, sha256 of the data sent, and remote_sha256 of the file as the remote side hashes it afterwards (verified: true when they match).",
        annotations(
            title = "Upload a file over SFTP",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    pub async fn ssh_upload(
        &self,
        Parameters(p): Parameters<UploadParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<UploadResult>, String> {
        const OP: &str = "Failed to upload";
        let fail = |e: Error| tool_error(OP, &e);
        let mode = match p.mode.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(m) => Some(
                u32::from_str_radix(m.trim_start_matches("0o"), 8).map_err(|_| {
                    fail(Error::InvalidArgument(format!(
                        "mode {m:?} is not an octal permission like \"0644\""
                    )))
                })?,
            ),
        };
        check_remote_path(&p.remote_path).map_err(fail)?;
        if self.manager.settings().policy.read_only() {
            let e = Error::Policy("read-only mode: this server's policy refuses uploads".into());
            self.audit_refusal(
                &ctx,
                "ssh_upload",
                (&p.session_id, &p.remote_path, p.local_path.as_deref()),
                &e,
            );
            return Err(fail(e));
        }
        let local = match &p.local_path {
            Some(l) => match self.confinement(&ctx).await.open_read(l) {
                Ok(opened) => Some(opened),
                Err(e) => {
                    self.audit_refusal(
                        &ctx,
                        "ssh_upload",
                        (&p.session_id, &p.remote_path, p.local_path.as_deref()),
                        &e,
                    );
                    return Err(fail(e));
                }
            },
            None => None,
        };
        let (local_file, local_real) = match local {
            Some((f, real)) => (Some(f), Some(real)),
            None => (None, None),
        };
        let source = match (&p.content, local_file, &local_real) {
            (Some(c), None, _) if c.len() <= MAX_CONTENT => Source::Bytes(c.as_bytes()),
            (Some(_), None, _) => {
                return Err(fail(Error::InvalidArgument(
                    "content is limited to 1 MiB; upload larger data from local_path".into(),
                )));
            }
            (None, Some(file), Some(path)) => Source::File(file, path),
            _ => {
                return Err(fail(Error::InvalidArgument(
                    "give exactly one of content and local_path".into(),
                )));
            }
        };
        let owner = Self::owner(&ctx);
        let used = self
            .manager
            .with_session(&p.session_id, owner.as_deref(), &mut OpenSftp)
            .await
            .map_err(fail)?;
        let (session, reconnected) = (used.session, used.reconnected);
        let mut progress = TransferProgress::new(&ctx, "uploaded");
        let mut report = |done, total| progress.update(done, total);
        let upload = sftp::upload(
            &session,
            p.remote_path.trim(),
            source,
            mode,
            p.overwrite.unwrap_or(false),
            p.checksum.unwrap_or(true),
            &mut report,
        );
        let r = sftp::guarded(&session, upload).await;
        progress.finish().await;
        self.audit_transfer(
            &ctx,
            "ssh_upload",
            (&p.session_id, &p.remote_path, p.local_path.as_deref()),
            &r,
        );
        let t = r.map_err(fail)?;
        let check = if p.verify.unwrap_or(true) {
            verify(&session, p.remote_path.trim(), t.sha256.as_deref(), true).await
        } else {
            Verification::default()
        };
        if check.verified == Some(false) {
            return Err(fail(Error::InvalidArgument(format!(
                "the remote file's SHA-256 ({}) differs from what was sent ({}): the upload did not arrive intact; upload it again",
                check.remote_sha256.unwrap_or_default(),
                t.sha256.unwrap_or_default()
            ))));
        }
        Ok(Json(UploadResult {
            remote_path: p.remote_path.trim().to_string(),
            bytes: t.bytes,
            sha256: t.sha256,
            duration_ms: millis(t.duration),
            reconnected,
            check,
        }))
    }

    #[tool(
        name = "ssh_download",
        input_schema = schema::input::<DownloadParams>(),
        output_schema = schema::output::<DownloadResult>(),
        description = "Read a remote file over SFTP, as text content (lossy if not UTF-8, truncated past max_bytes) or into local_path. Returns bytes, size, sha256 of the bytes read, and remote_sha256 of the file as the remote side hashes it (verified: true when they match).",
        annotations(
            title = "Download a file over SFTP",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    pub async fn ssh_download(
        &self,
        Parameters(p): Parameters<DownloadParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<DownloadResult>, String> {
        const OP: &str = "Failed to download";
        let fail = |e: Error| tool_error(OP, &e);
        let owner = Self::owner(&ctx);
        check_remote_path(&p.remote_path).map_err(fail)?;
        let remote = p.remote_path.trim().to_string();
        let confinement = self.confinement(&ctx).await;
        let local = match &p.local_path {
            Some(l) => match confinement.check_write(l) {
                Ok(path) => Some((l.as_str(), path)),
                Err(e) => {
                    self.audit_refusal(
                        &ctx,
                        "ssh_download",
                        (&p.session_id, &p.remote_path, p.local_path.as_deref()),
                        &e,
                    );
                    return Err(fail(e));
                }
            },
            None => None,
        };
        let used = self
            .manager
            .with_session(&p.session_id, owner.as_deref(), &mut OpenSftp)
            .await
            .map_err(fail)?;
        let (session, reconnected) = (used.session, used.reconnected);
        let mut result = DownloadResult {
            remote_path: remote.clone(),
            local_path: None,
            content: None,
            lossy: false,
            bytes: 0,
            size: 0,
            truncated: false,
            sha256: None,
            duration_ms: 0,
            reconnected,
            check: Verification::default(),
        };
        let mut progress = TransferProgress::new(&ctx, "downloaded");
        let r = match &local {
            Some((raw, path)) => {
                let overwrite = p.overwrite.unwrap_or(false);
                let r = save(
                    &session,
                    &remote,
                    (&confinement, raw, path),
                    p.max_bytes,
                    overwrite,
                    p.checksum.unwrap_or(true),
                    &mut |done, total| progress.update(done, total),
                )
                .await;
                result.local_path = Some(path.display().to_string());
                r
            }
            None => {
                let max = p
                    .max_bytes
                    .unwrap_or(DEFAULT_CONTENT)
                    .min(MAX_CONTENT_DOWNLOAD);
                let mut no_progress = |_, _| {};
                let download = sftp::download(
                    &session,
                    &remote,
                    Some(max),
                    Sink::Memory,
                    p.checksum.unwrap_or(true),
                    &mut no_progress,
                );
                let r = sftp::guarded(&session, download).await;
                r.map(|(t, size, buf)| {
                    let text = String::from_utf8_lossy(&buf);
                    result.lossy = matches!(text, std::borrow::Cow::Owned(_));
                    result.content = Some(text.into_owned());
                    (t, size)
                })
            }
        };
        progress.finish().await;
        let (t, size) = match r {
            Ok(ok) => ok,
            Err(e) => {
                let failed: Result<(), String> = Err(e.to_string());
                self.audit_transfer(
                    &ctx,
                    "ssh_download",
                    (&p.session_id, &remote, p.local_path.as_deref()),
                    &failed,
                );
                return Err(fail(e));
            }
        };
        let ok: Result<(), String> = Ok(());
        self.audit_transfer(
            &ctx,
            "ssh_download",
            (&p.session_id, &remote, p.local_path.as_deref()),
            &ok,
        );
        result.bytes = t.bytes;
        result.size = size;
        result.truncated = t.bytes < size;
        if p.verify.unwrap_or(true) {
            let check = verify(&session, &remote, t.sha256.as_deref(), !result.truncated).await;
            if check.verified == Some(false) {
                return Err(fail(Error::InvalidArgument(format!(
                    "the remote file's SHA-256 ({}) differs from what was read ({}): it changed while it was read; download it again",
                    check.remote_sha256.unwrap_or_default(),
                    t.sha256.clone().unwrap_or_default()
                ))));
            }
            result.check = check;
        }
        if result.truncated
            && let Some(c) = &mut result.content
        {
            c.push_str(&format!(
                "\n[... truncated: {} of {size} bytes shown; raise max_bytes or download to local_path ...]",
                t.bytes
            ));
        }
        result.sha256 = t.sha256;
        result.duration_ms = millis(t.duration);
        Ok(Json(result))
    }

    #[tool(
        name = "ssh_list_dir",
        input_schema = schema::input::<ListDirParams>(),
        output_schema = schema::output::<ListDirResult>(),
        description = "List a remote directory over SFTP: name, type, size, mode, mtime, sorted by name.",
        annotations(
            title = "List a remote directory",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    pub async fn ssh_list_dir(
        &self,
        Parameters(p): Parameters<ListDirParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<ListDirResult>, String> {
        let fail = |e: Error| tool_error("Failed to list directory", &e);
        check_remote_path(&p.path).map_err(fail)?;
        let owner = Self::owner(&ctx);
        let used = self
            .manager
            .with_session(&p.session_id, owner.as_deref(), &mut OpenSftp)
            .await
            .map_err(fail)?;
        let (session, reconnected) = (used.session, used.reconnected);
        let path = match p.path.trim() {
            "" => ".",
            other => other,
        };
        let limit = p.max_entries.unwrap_or(1000).clamp(1, 100_000);
        let listed = sftp::guarded(&session, sftp::list_dir(&session, path, limit)).await;
        self.audit_transfer(&ctx, "ssh_list_dir", (&p.session_id, path, None), &listed);
        let (entries, truncated) = listed.map_err(fail)?;
        Ok(Json(ListDirResult {
            path: path.to_string(),
            entries: entries
                .into_iter()
                .map(|e| DirEntryResult {
                    name: e.name,
                    kind: e.kind.into(),
                    size: e.size,
                    mode: e.mode,
                    mtime: e.mtime.map(rfc3339),
                })
                .collect(),
            truncated,
            reconnected,
        }))
    }
}
