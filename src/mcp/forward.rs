//! `ssh_forward` and `ssh_forward_close` (cargo feature `port_forward`).

use rmcp::handler::server::wrapper::Parameters;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};

use crate::mcp::structured::Json;

use crate::audit::{Decision, Event};
use crate::config::policy::hosts::canonical;
use crate::config::settings::Settings;
use crate::error::Error;
use crate::manager::ForwardSpec;
use crate::mcp::errors::tool_error;
use crate::mcp::types::{
    ForwardCloseParams, ForwardCloseResult, ForwardParams, ForwardResult, ForwardSummary,
};
use crate::mcp::{SshMcp, schema};
use crate::ssh::forward::{Forward, Kind};
use crate::ssh::resolve::resolve;
use crate::ssh::tunnel::{host_port, target_allowed};
use std::net::{IpAddr, SocketAddr};

#[tool_router(router = forward_router, vis = "pub(crate)")]
impl SshMcp {
    #[tool(
        name = "ssh_forward",
        input_schema = schema::input::<ForwardParams>(),
        output_schema = schema::output::<ForwardResult>(),
        description = "Forward TCP. local (ssh -L): 127.0.0.1:local_port here reaches remote_address:remote_port from the SSH server; target_reachable says whether it answered. remote (ssh -R): the server listens on remote_address:remote_port and delivers to local_host:local_port here. dynamic (ssh -D): SOCKS5 on 127.0.0.1:local_port. Runs until ssh_forward_close or disconnect.",
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
        let mut spec = forward_spec(&p).map_err(|e| tool_error(OP, &e))?;
        let settings = self.manager.settings();
        let r = match check_forward(&mut spec, settings).await {
            Ok(()) => {
                self.manager
                    .forward(&p.session_id, Self::owner(&ctx).as_deref(), spec)
                    .await
            }
            Err(e) => Err(e),
        };
        self.audit(
            &ctx,
            Event {
                tool: "ssh_forward",
                session_id: Some(p.session_id.trim().to_string()),
                target: Some(match &r {
                    Ok(started) => describe(&started.forward),
                    Err(_) => format!("{p:?}"),
                }),
                decision: Decision::of(&r),
                error: r.as_ref().err().map(|e| e.to_string()),
                ..Default::default()
            },
        );
        let started = r.map_err(|e| tool_error(OP, &e))?;
        let s = summary(&started.forward);
        Ok(Json(ForwardResult {
            local_address: s.local_address,
            remote_address: s.remote_address,
            active: s.active,
            forward_id: s.forward_id,
            kind: s.kind,
            target_reachable: started.target.as_ref().map(Result::is_ok),
            target_error: started.target.and_then(Result::err),
        }))
    }

    #[tool(
        name = "ssh_forward_close",
        input_schema = schema::input::<ForwardCloseParams>(),
        output_schema = schema::output::<ForwardCloseResult>(),
        description = "Stop a forward and cut its connections.",
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
            local_port: p.local_port.unwrap_or(0),
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
            local_port: p
                .local_port
                .filter(|&p| p != 0)
                .ok_or_else(|| bad("local_port (1-65535) is required for a remote forward"))?,
            local_addrs: Vec::new(),
        }),
        "dynamic" => Ok(ForwardSpec::Dynamic {
            local_port: p.local_port.unwrap_or(0),
        }),
        other => Err(bad(&format!(
            "kind {other:?} is not one of local, remote, dynamic"
        ))),
    }
}

/// The operator's rules for forwards: a local forward's target must pass `allowed_hosts`
/// (SOCKS targets are checked per connection); a remote forward is refused in read-only
/// mode, listens on the SSH server's loopback unless `allow_public_remote_bind`, and
/// delivers only to this machine's loopback or `forward_to`, never to this server's own
/// listeners. Fills in the addresses a remote forward delivers to.
async fn check_forward(spec: &mut ForwardSpec, settings: &Settings) -> Result<(), Error> {
    let policy = &settings.policy;
    match spec {
        ForwardSpec::Local {
            remote_host,
            remote_port,
            ..
        } => target_allowed(policy.allowed_hosts(), remote_host, *remote_port).await,
        ForwardSpec::Dynamic { .. } => Ok(()),
        ForwardSpec::Remote {
            bind_host,
            local_host,
            local_port,
            local_addrs,
            ..
        } => {
            if policy.read_only() {
                return Err(Error::Policy(
                    "read-only mode: this server's policy refuses remote forwards".into(),
                ));
            }
            if !policy.allow_public_remote_bind() && !is_loopback_name(bind_host) {
                return Err(Error::Policy(format!(
                    "a remote forward listens on the SSH server's loopback (127.0.0.1 or ::1) here; {bind_host:?} would open it to other machines (the operator may set security.allow_public_remote_bind)"
                )));
            }
            if !crate::address::is_real_host(local_host) {
                return Err(Error::InvalidArgument(format!(
                    "local_host {local_host:?} is not a host name or address"
                )));
            }
            let addrs = resolve(local_host, *local_port).await?;
            let kept: Vec<_> = addrs
                .into_iter()
                .filter(|a| {
                    let ip = canonical(a.ip());
                    // 0.0.0.0 and :: reach this machine's every address, loopback included.
                    let allowed = ip.is_loopback()
                        || (!policy.forward_to().is_empty()
                            && policy.forward_to().allows(local_host, *local_port, ip));
                    allowed
                        && !ip.is_unspecified()
                        && !is_own_listener(&settings.own_listeners, ip, a.port())
                })
                .collect();
            if kept.is_empty() {
                return Err(Error::Policy(format!(
                    "a remote forward may deliver to this machine's loopback only{}; {} is not allowed",
                    if policy.forward_to().is_empty() {
                        ""
                    } else {
                        " or security.forward_to"
                    },
                    host_port(local_host, *local_port)
                )));
            }
            *local_addrs = kept;
            Ok(())
        }
    }
}

/// Whether a remote forward's bind address is the server's loopback.
fn is_loopback_name(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|ip| canonical(ip).is_loopback())
}

/// Whether `ip:port` reaches one of this server's own listeners.
fn is_own_listener(listeners: &[SocketAddr], ip: IpAddr, port: u16) -> bool {
    listeners.iter().any(|l| {
        l.port() == port
            && (l.ip().is_unspecified()
                || canonical(l.ip()) == ip
                || (ip.is_loopback() && canonical(l.ip()).is_loopback()))
    })
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
