//! `ssh_forward` and `ssh_forward_close` (cargo feature `port_forward`).

use rmcp::handler::server::wrapper::Parameters;
use rmcp::service::RequestContext;
use rmcp::{Json, RoleServer, tool, tool_router};

use crate::audit::{Decision, Event};
use crate::error::Error;
use crate::manager::ForwardSpec;
use crate::mcp::errors::tool_error;
use crate::mcp::types::{
    ForwardCloseParams, ForwardCloseResult, ForwardParams, ForwardResult, ForwardSummary,
};
use crate::mcp::{SshMcp, schema};
use crate::ssh::forward::{Forward, Kind, host_port};

#[tool_router(router = forward_router, vis = "pub(crate)")]
impl SshMcp {
    #[tool(
        name = "ssh_forward",
        input_schema = schema::input::<ForwardParams>(),
        output_schema = schema::output::<ForwardResult>(),
        description = "Forward TCP through a session, like ssh -L (kind local, default: \
connections to 127.0.0.1:local_port here reach remote_address:remote_port as seen from the SSH \
server), ssh -R (kind remote: the SSH server listens on remote_address:remote_port and its \
connections come to local_host:local_port here) or ssh -D (kind dynamic: a SOCKS5 proxy on \
127.0.0.1:local_port). Port 0 picks a free port. Runs until ssh_forward_close or disconnect.",
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
        let spec = forward_spec(&p).map_err(|e| tool_error(OP, &e))?;
        let r = self
            .manager
            .forward(&p.session_id, Self::owner(&ctx).as_deref(), spec)
            .await;
        self.audit(
            &ctx,
            Event {
                tool: "ssh_forward",
                session_id: Some(p.session_id.trim().to_string()),
                target: Some(match &r {
                    Ok(f) => describe(f),
                    Err(_) => format!("{p:?}"),
                }),
                decision: if r.is_ok() {
                    Decision::Allowed
                } else {
                    Decision::Failed
                },
                error: r.as_ref().err().map(|e| e.to_string()),
                ..Default::default()
            },
        );
        let fwd = r.map_err(|e| tool_error(OP, &e))?;
        let s = summary(&fwd);
        Ok(Json(ForwardResult {
            local_address: s.local_address,
            remote_address: s.remote_address,
            active: s.active,
            forward_id: s.forward_id,
            kind: s.kind,
        }))
    }

    #[tool(
        name = "ssh_forward_close",
        input_schema = schema::input::<ForwardCloseParams>(),
        output_schema = schema::output::<ForwardCloseResult>(),
        description = "Stop one forward: its listener closes (or the SSH server's, for remote \
forwards) and its open connections are cut.",
        annotations(
            title = "Close a port forward",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn ssh_forward_close(
        &self,
        Parameters(p): Parameters<ForwardCloseParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<ForwardCloseResult>, String> {
        let fwd = self
            .manager
            .close_forward(&p.forward_id, Self::owner(&ctx).as_deref())
            .map_err(|e| tool_error("Failed to close forward", &e))?;
        self.audit(
            &ctx,
            Event {
                tool: "ssh_forward_close",
                target: Some(describe(&fwd)),
                decision: Decision::Allowed,
                ..Default::default()
            },
        );
        Ok(Json(ForwardCloseResult {
            forward_id: fwd.id.clone(),
            message: format!("Forward {} closed", fwd.id),
        }))
    }
}

fn forward_spec(p: &ForwardParams) -> Result<ForwardSpec, Error> {
    let bad = |m: &str| Error::InvalidArgument(m.to_string());
    let remote_address = p
        .remote_address
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty());
    match p.kind.as_deref().unwrap_or("local") {
        "local" => Ok(ForwardSpec::Local {
            local_port: p.local_port,
            remote_host: remote_address
                .ok_or_else(|| bad("remote_address is required for a local forward"))?
                .to_string(),
            remote_port: p
                .remote_port
                .filter(|&p| p != 0)
                .ok_or_else(|| bad("remote_port (1-65535) is required for a local forward"))?,
        }),
        "remote" => Ok(ForwardSpec::Remote {
            bind_host: remote_address.unwrap_or("127.0.0.1").to_string(),
            bind_port: p.remote_port.unwrap_or(0),
            local_host: p
                .local_host
                .as_deref()
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .unwrap_or("127.0.0.1")
                .to_string(),
            local_port: Some(p.local_port)
                .filter(|&p| p != 0)
                .ok_or_else(|| bad("local_port (1-65535) is required for a remote forward"))?,
        }),
        "dynamic" => Ok(ForwardSpec::Dynamic {
            local_port: p.local_port,
        }),
        other => Err(bad(&format!(
            "kind {other:?} is not one of local, remote, dynamic"
        ))),
    }
}

fn describe(f: &Forward) -> String {
    let s = summary(f);
    format!("{} {} -> {}", s.kind, s.local_address, s.remote_address)
}

/// The listing entry of a forward.
pub fn summary(f: &Forward) -> ForwardSummary {
    let listen = f.listen.map(|a| a.to_string()).unwrap_or_default();
    let (kind, local_address, remote_address) = match &f.kind {
        Kind::Local { target } => ("local", listen, host_port(&target.0, target.1)),
        Kind::Dynamic => ("dynamic", listen, String::new()),
        Kind::Remote { bind, target } => (
            "remote",
            host_port(&target.0, target.1),
            host_port(&bind.0, bind.1),
        ),
    };
    ForwardSummary {
        forward_id: f.id.clone(),
        kind: kind.into(),
        local_address,
        remote_address,
        active: f.is_active(),
        connections: f.live_connections(),
        bytes: f.bytes(),
    }
}
