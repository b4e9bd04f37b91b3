//! `ssh_forward` (cargo feature `port_forward`).

use rmcp::handler::server::wrapper::Parameters;
use rmcp::service::RequestContext;
use rmcp::{Json, RoleServer, tool, tool_router};

use crate::audit::Event;

use crate::error::Error;
use crate::mcp::SshMcp;
use crate::mcp::errors::tool_error;
use crate::mcp::types::{ForwardParams, ForwardResult, ForwardSummary};
use crate::ssh::forward::Forward;

#[tool_router(router = forward_router, vis = "pub(crate)")]
impl SshMcp {
    #[tool(
        name = "ssh_forward",
        description = "Forward a local TCP port through a session: connections to \
127.0.0.1:local_port on the machine running this server reach remote_address:remote_port as \
seen from the SSH server, in both directions, until the session is disconnected. local_port 0 \
picks a free port.",
        annotations(
            title = "Forward a port over SSH",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    pub async fn ssh_forward(
        &self,
        Parameters(p): Parameters<ForwardParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<ForwardResult>, String> {
        const OP: &str = "Failed to forward";
        let host = p.remote_address.trim();
        if host.is_empty() || p.remote_port == 0 {
            return Err(tool_error(
                OP,
                &Error::InvalidArgument(
                    "remote_address must be a host name or address and remote_port 1-65535".into(),
                ),
            ));
        }
        let r = self
            .manager
            .forward_local(
                &p.session_id,
                Self::owner(&ctx).as_deref(),
                p.local_port,
                host.to_string(),
                p.remote_port,
            )
            .await;
        self.audit(
            &ctx,
            Event {
                tool: "ssh_forward",
                session_id: Some(p.session_id.trim().to_string()),
                target: Some(format!(
                    "127.0.0.1:{} -> {host}:{}",
                    r.as_ref().map_or(p.local_port, |f| f.local_addr.port()),
                    p.remote_port
                )),
                decision: if r.is_ok() { "allowed" } else { "failed" },
                error: r.as_ref().err().map(|e| e.to_string()),
                ..Default::default()
            },
        );
        let fwd = r.map_err(|e| tool_error(OP, &e))?;
        Ok(Json(ForwardResult {
            local_address: fwd.local_addr.to_string(),
            remote_address: fwd.remote(),
            active: fwd.is_active(),
            forward_id: fwd.id.clone(),
        }))
    }
}

/// The listing entry of a forward.
pub fn summary(f: &Forward) -> ForwardSummary {
    ForwardSummary {
        forward_id: f.id.clone(),
        kind: "local".into(),
        local_address: f.local_addr.to_string(),
        remote_address: f.remote(),
        active: f.is_active(),
        connections: f.live_connections(),
        bytes: f.bytes(),
    }
}
