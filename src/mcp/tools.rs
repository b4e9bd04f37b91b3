//! `ssh_connect`, `ssh_disconnect`, `ssh_list_sessions`.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::{Json, tool, tool_router};

use crate::error::Error;
use std::sync::atomic::Ordering;

use crate::manager::{Entry, SessionManager};
use crate::mcp::SshMcp;
use crate::mcp::errors::tool_error;
use crate::mcp::types::*;
use crate::settings::expand_tilde;
use crate::ssh::address::Address;
use crate::ssh::auth::Credentials;
use crate::ssh::session::ConnectRequest;

#[tool_router(router = session_router, vis = "pub(crate)")]
impl SshMcp {
    #[tool(
        name = "ssh_connect",
        description = "Open an SSH session and return its session_id. Authenticates with key_path \
(plus passphrase if encrypted) and/or password; with neither, tries the SSH agent, then \
~/.ssh/id_ed25519, id_ecdsa, id_rsa. The host key is checked against known_hosts: an unknown host \
is recorded, a changed key is refused.",
        annotations(
            title = "Connect over SSH",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    pub async fn ssh_connect(
        &self,
        Parameters(p): Parameters<ConnectParams>,
    ) -> Result<Json<ConnectResult>, String> {
        const OP: &str = "Failed to connect";
        let address = Address::parse(&p.address, 22).map_err(|e| tool_error(OP, &e))?;
        let username = match p.username.filter(|u| !u.trim().is_empty()) {
            Some(u) => u.trim().to_string(),
            None => local_user().ok_or_else(|| {
                tool_error(
                    OP,
                    &Error::InvalidArgument(
                        "username is required (no local user name known)".into(),
                    ),
                )
            })?,
        };
        let req = ConnectRequest {
            address,
            username,
            credentials: Credentials {
                password: p.password.filter(|s| !s.is_empty()),
                key_path: p
                    .key_path
                    .filter(|k| !k.trim().is_empty())
                    .map(|k| expand_tilde(k.trim())),
                passphrase: p.passphrase.filter(|s| !s.is_empty()),
            },
        };
        let entry = self
            .manager
            .connect(&req)
            .await
            .map_err(|e| tool_error(OP, &e))?;
        let session = entry.session();
        let info = &session.info;
        let status = if info.host_key.unverified {
            "unverified"
        } else if info.host_key.learned.is_some() {
            "learned"
        } else {
            "known"
        };
        let mut message = format!(
            "Successfully connected to {}@{}",
            info.username, info.address
        );
        if info.host_key.unverified {
            message.push_str(" (WARNING: host key NOT verified: host-key checking is off)");
        } else if let Some(file) = &info.host_key.learned {
            message.push_str(&format!(
                " (new host: key {} recorded in {})",
                info.host_key.fingerprint,
                file.display()
            ));
        }
        Ok(Json(ConnectResult {
            session_id: entry.id.clone(),
            message,
            authenticated: true,
            host_key_fingerprint: info.host_key.fingerprint.clone(),
            host_key_status: status.into(),
            auth_method: info.auth_method.clone(),
        }))
    }

    #[tool(
        name = "ssh_disconnect",
        description = "Close a session with its channels and port forwards.",
        annotations(
            title = "Disconnect an SSH session",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn ssh_disconnect(
        &self,
        Parameters(p): Parameters<SessionParams>,
    ) -> Result<Json<DisconnectResult>, String> {
        self.manager
            .disconnect(&p.session_id)
            .await
            .map_err(|e| tool_error("Failed to disconnect", &e))?;
        Ok(Json(DisconnectResult {
            message: format!("Session {} disconnected successfully", p.session_id.trim()),
        }))
    }

    #[tool(
        name = "ssh_list_sessions",
        description = "List open sessions with address, user, liveness and port forwards.",
        annotations(
            title = "List SSH sessions",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn ssh_list_sessions(&self) -> Result<Json<ListSessionsResult>, String> {
        Ok(Json(ListSessionsResult {
            sessions: self
                .manager
                .list()
                .iter()
                .map(|e| summarize(&self.manager, e))
                .collect(),
        }))
    }
}

fn summarize(manager: &SessionManager, entry: &Entry) -> SessionSummary {
    let session = entry.session();
    let info = &session.info;
    let alive = !session.is_closed();
    SessionSummary {
        session_id: entry.id.clone(),
        address: info.address.to_string(),
        username: info.username.clone(),
        connected_at: rfc3339(info.connected_at),
        alive,
        dead_reason: if alive { None } else { session.death_reason() },
        reconnects: entry.reconnects.load(Ordering::Relaxed),
        host_key_fingerprint: info.host_key.fingerprint.clone(),
        auth_method: info.auth_method.clone(),
        forwards: forwards_of(entry),
        jobs: manager
            .jobs
            .of_session(&entry.id)
            .iter()
            .map(|j| JobSummary {
                job_id: j.id.clone(),
                command: j.command.clone(),
                status: j.status().as_str().into(),
                started_at: rfc3339(j.started_at),
            })
            .collect(),
    }
}

#[cfg(feature = "port_forward")]
fn forwards_of(entry: &Entry) -> Vec<ForwardSummary> {
    let Ok(list) = entry.forwards.lock() else {
        return Vec::new();
    };
    list.iter()
        .map(|f| crate::mcp::forward::summary(f))
        .collect()
}

#[cfg(not(feature = "port_forward"))]
fn forwards_of(_: &Entry) -> Vec<ForwardSummary> {
    Vec::new()
}

fn local_user() -> Option<String> {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
}
