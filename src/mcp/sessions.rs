//! `ssh_connect`, `ssh_disconnect`, `ssh_list_sessions`.

use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::handler::server::tool::{InputResponses, RequestState};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResponse;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};

use crate::mcp::structured::Json;

use crate::audit::{Decision, Event};

use std::sync::atomic::Ordering;

use crate::clock::rfc3339;
use crate::manager::{Entry, SessionManager};
use crate::mcp::connect::Connected;
use crate::mcp::errors::tool_error;
use crate::mcp::types::*;
use crate::mcp::{SshMcp, schema};

#[tool_router(router = session_router, vis = "pub(crate)")]
impl SshMcp {
    #[tool(
        name = "ssh_connect",
        input_schema = schema::input::<ConnectParams>(),
        output_schema = schema::output::<ConnectResult>(),
        description = "Open an SSH session; returns session_id. Authenticates with key_path (and passphrase) or password, else the SSH agent and default keys. An unknown host key is shown to the user to confirm where the client can ask; a changed one is refused.",
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
        RequestState(state): RequestState,
        InputResponses(responses): InputResponses,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, String> {
        const OP: &str = "Failed to connect";
        let target = p.address.trim().to_string();
        let user_arg = p.username.clone();
        let result = match self.connect_request(p) {
            Ok(req) => self.connect_confirming(req, state, responses, &ctx).await,
            Err(e) => Err(e),
        };
        let (entry, req) = match result {
            Ok(Connected::Open(entry, req)) => (entry, req),
            Ok(Connected::AskFirst(question)) => return Ok(question.into()),
            Err(e) => {
                self.audit(
                    &ctx,
                    Event {
                        tool: "ssh_connect",
                        host: Some(target),
                        user: user_arg,
                        decision: Decision::of_error(&e),
                        error: Some(e.to_string()),
                        ..Default::default()
                    },
                );
                return Err(tool_error(OP, &e));
            }
        };
        self.audit(
            &ctx,
            Event {
                tool: "ssh_connect",
                session_id: Some(entry.id.clone()),
                host: Some(req.address.to_string()),
                user: Some(req.username.clone()),
                decision: Decision::Allowed,
                ..Default::default()
            },
        );
        let session = entry.session();
        let info = &session.info;
        let confirmed = req.confirmed_host_key.is_some() && info.host_key.learned.is_some();
        let status = if info.host_key.unverified {
            HostKeyStatus::Unverified
        } else if info.host_key.certificate {
            HostKeyStatus::Certificate
        } else if confirmed {
            HostKeyStatus::Confirmed
        } else if info.host_key.learned.is_some() {
            HostKeyStatus::Learned
        } else {
            HostKeyStatus::Known
        };
        let mut message = format!(
            "Successfully connected to {}@{}",
            info.username, info.address
        );
        if info.host_key.unverified {
            message.push_str(" (WARNING: host key NOT verified: host-key checking is off)");
        } else if let Some(file) = &info.host_key.learned {
            message.push_str(&format!(
                " (new host: key {} {}recorded in {})",
                info.host_key.fingerprint,
                if confirmed {
                    "confirmed by the user and "
                } else {
                    ""
                },
                file.display()
            ));
        }
        let result = ConnectResult {
            session_id: entry.id.clone(),
            message,
            authenticated: true,
            host_key_fingerprint: info.host_key.fingerprint.clone(),
            host_key_status: status,
            auth_method: entry.auth_method(),
        };
        // The same structured result `Json` gives the other tools.
        Json(result)
            .into_call_tool_result()
            .map_err(|e| format!("{OP}: {}", e.message))
    }

    #[tool(
        name = "ssh_disconnect",
        input_schema = schema::input::<SessionParams>(),
        output_schema = schema::output::<DisconnectResult>(),
        description = "Close a session with its commands, jobs and forwards.",
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
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<DisconnectResult>, String> {
        let r = self
            .manager
            .disconnect(&p.session_id, Self::owner(&ctx).as_deref())
            .await;
        self.audit(
            &ctx,
            Event {
                tool: "ssh_disconnect",
                session_id: Some(p.session_id.trim().to_string()),
                decision: if r.is_ok() {
                    Decision::Allowed
                } else {
                    Decision::Failed
                },
                error: r.as_ref().err().map(|e| e.to_string()),
                ..Default::default()
            },
        );
        r.map_err(|e| tool_error("Failed to disconnect", &e))?;
        Ok(Json(DisconnectResult {
            message: format!("Session {} disconnected successfully", p.session_id.trim()),
        }))
    }

    #[tool(
        name = "ssh_list_sessions",
        output_schema = schema::output::<ListSessionsResult>(),
        description = "List open sessions (name, address, user, liveness, forwards with their local addresses, jobs) and the operator's named_hosts.",
        annotations(
            title = "List SSH sessions",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn ssh_list_sessions(
        &self,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<ListSessionsResult>, String> {
        let owner = Self::owner(&ctx);
        let sessions: Vec<SessionSummary> = self
            .manager
            .list(owner.as_deref())
            .iter()
            .map(|e| summarize(&self.manager, e))
            .collect();
        self.audit(
            &ctx,
            Event {
                tool: "ssh_list_sessions",
                decision: Decision::Allowed,
                ..Default::default()
            },
        );
        Ok(Json(ListSessionsResult {
            named_hosts: self.manager.settings().hosts.keys().cloned().collect(),
            sessions,
        }))
    }
}

fn summarize(manager: &SessionManager, entry: &Entry) -> SessionSummary {
    let session = entry.session();
    let info = &session.info;
    let alive = !session.is_closed();
    SessionSummary {
        session_id: entry.id.clone(),
        name: entry.name().map(String::from),
        address: info.address.to_string(),
        username: info.username.clone(),
        connected_at: rfc3339(info.connected_at),
        alive,
        dead_reason: if alive { None } else { session.death_reason() },
        reconnects: entry.reconnects.load(Ordering::Relaxed),
        host_key_fingerprint: info.host_key.fingerprint.clone(),
        auth_method: entry.auth_method(),
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
        shells: manager
            .shells
            .of_session(&entry.id)
            .iter()
            .map(|s| {
                let (rows, cols) = s.pty.terminal().size();
                crate::mcp::shell_types::ShellSummary {
                    shell_id: s.id.clone(),
                    command: s.command.clone(),
                    rows,
                    cols,
                    started_at: rfc3339(s.started_at),
                    exited: s.pty.exit().is_some(),
                }
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
