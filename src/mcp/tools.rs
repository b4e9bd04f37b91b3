//! `ssh_connect`, `ssh_disconnect`, `ssh_list_sessions`.

use std::sync::Arc;

use rmcp::handler::server::tool::{InputResponses, RequestState};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResponse, CallToolResult, InputRequiredResult};
use rmcp::service::RequestContext;
use rmcp::{Json, RoleServer, tool, tool_router};

use crate::audit::Event;

use crate::error::Error;
use std::sync::atomic::Ordering;

use crate::clock::rfc3339;
use crate::manager::{Entry, SessionManager};
use crate::mcp::confirm::{self, Answer, Asking};
use crate::mcp::errors::tool_error;
use crate::mcp::types::*;
use crate::mcp::{SshMcp, schema};
use crate::settings::expand_tilde;
use crate::ssh::address::Address;
use crate::ssh::auth::Credentials;
use crate::ssh::client_config::ClientConfig;
use crate::ssh::known_hosts::HostKeyPolicy;
use crate::ssh::session::ConnectRequest;

#[tool_router(router = session_router, vis = "pub(crate)")]
impl SshMcp {
    #[tool(
        name = "ssh_connect",
        input_schema = schema::input::<ConnectParams>(),
        output_schema = schema::output::<ConnectResult>(),
        description = "Open an SSH session and return its session_id. Authenticates with key_path \
(plus passphrase if encrypted) and/or password; with neither, tries the SSH agent, then \
~/.ssh/id_ed25519, id_ecdsa, id_rsa. The host key is checked against known_hosts: a changed key \
is refused; an unknown host's key is shown to the user for confirmation when the client supports \
elicitation, and otherwise recorded (or refused, as the operator chose).",
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
                        decision: decision_of(&e),
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
                decision: "allowed",
                ..Default::default()
            },
        );
        let session = entry.session();
        let info = &session.info;
        let confirmed = req.confirmed_host_key.is_some() && info.host_key.learned.is_some();
        let status = if info.host_key.unverified {
            "unverified"
        } else if info.host_key.certificate {
            "certificate"
        } else if confirmed {
            "confirmed"
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
            host_key_status: status.into(),
            auth_method: info.auth_method.clone(),
        };
        let value = serde_json::to_value(result).map_err(|e| format!("{OP}: {e}"))?;
        Ok(CallToolResult::structured(value).into())
    }

    #[tool(
        name = "ssh_disconnect",
        input_schema = schema::input::<SessionParams>(),
        output_schema = schema::output::<DisconnectResult>(),
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
                decision: if r.is_ok() { "allowed" } else { "failed" },
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
        description = "List open sessions with address, user, liveness and port forwards.",
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
        Ok(Json(ListSessionsResult {
            named_hosts: self.manager.settings().hosts.keys().cloned().collect(),
            sessions: self
                .manager
                .list(owner.as_deref())
                .iter()
                .map(|e| summarize(&self.manager, e))
                .collect(),
        }))
    }
}

impl SshMcp {
    /// Connects. Where the host-key policy is `accept-new` or `ask` and the client can ask
    /// the user (see [`confirm`]), an unknown host's key is shown to the user first, and
    /// recorded only if they trust it; `state` and `responses` carry their answer on
    /// protocol 2026-07-28.
    async fn connect_confirming(
        &self,
        mut req: ConnectRequest,
        state: Option<String>,
        responses: Option<rmcp::model::InputResponses>,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Connected, Error> {
        let owner = Self::owner(ctx);
        let policy = req
            .host_key_policy
            .unwrap_or(self.manager.settings().host_key_policy);
        let asking = match policy {
            HostKeyPolicy::AcceptNew | HostKeyPolicy::Ask => confirm::how_to_ask(ctx),
            HostKeyPolicy::Strict | HostKeyPolicy::Off => Asking::No,
        };
        let target = format!("{}@{}", req.username, req.address);
        if let Some(state) = state {
            let fingerprint = confirm::answered(
                &state,
                &responses.unwrap_or_default(),
                &target,
                owner.as_deref(),
            )?;
            req.host_key_policy = Some(HostKeyPolicy::Ask);
            req.confirmed_host_key = Some(fingerprint);
        } else if asking != Asking::No {
            req.host_key_policy = Some(HostKeyPolicy::Ask);
        }
        let first = self.manager.connect(&req, owner.as_deref()).await;
        let (host, offered) = match first {
            Err(Error::HostKeyUnknown { host, offered })
                if asking != Asking::No && req.confirmed_host_key.is_none() =>
            {
                (host, offered)
            }
            other => return other.map(|entry| Connected::Open(entry, req)),
        };
        // The client cannot be asked after all: the configured policy decides.
        let fall_back = |req: &mut ConnectRequest, host: String, offered: String| {
            if policy == HostKeyPolicy::AcceptNew {
                req.host_key_policy = Some(HostKeyPolicy::AcceptNew);
                Ok(())
            } else {
                Err(Error::HostKeyUnknown { host, offered })
            }
        };
        match asking {
            Asking::InputRequired => {
                match confirm::input_required(&host, &offered, &target, owner.as_deref()) {
                    Ok(question) => return Ok(Connected::AskFirst(question)),
                    Err(_) => fall_back(&mut req, host, offered)?,
                }
            }
            Asking::No => return Err(Error::HostKeyUnknown { host, offered }),
            Asking::Push => match confirm::ask_now(ctx, &host, &offered).await {
                Answer::Trust => req.confirmed_host_key = Some(offered),
                Answer::Refused(why) => {
                    return Err(Error::HostKeyNotConfirmed { host, offered, why });
                }
                Answer::Unavailable => fall_back(&mut req, host, offered)?,
            },
        }
        self.manager
            .connect(&req, owner.as_deref())
            .await
            .map(|entry| Connected::Open(entry, req))
    }

    /// Turns `ssh_connect` arguments into a connection request, resolving named hosts and
    /// applying the operator's policy.
    fn connect_request(&self, p: ConnectParams) -> Result<ConnectRequest, Error> {
        let settings = self.manager.settings();
        let policy = &settings.policy;
        let password = p.password.filter(|s| !s.is_empty());
        let key_path = p
            .key_path
            .filter(|k| !k.trim().is_empty())
            .map(|k| expand_tilde(k.trim()));
        let passphrase = p.passphrase.filter(|s| !s.is_empty());
        let gave_credentials = password.is_some() || key_path.is_some() || passphrase.is_some();
        if gave_credentials && !policy.credentials_in_arguments() {
            return Err(Error::Policy(
                "credentials may not be passed as tool arguments here; connect to one of the named hosts the operator configured".into(),
            ));
        }
        let mut req = match settings.hosts.get(p.address.trim()) {
            Some(h) => ConnectRequest {
                address: Address::parse(&h.address, 22)?,
                username: h.user.clone().unwrap_or_default(),
                credentials: Credentials {
                    password: h.password()?,
                    key_path: h.identity(),
                    passphrase: h.passphrase()?,
                    ..Default::default()
                },
                host_key_policy: match &h.host_key_policy {
                    Some(s) => Some(s.parse().map_err(Error::InvalidArgument)?),
                    None => None,
                },
                ..Default::default()
            },
            None => {
                // Port 0 stands for "not given", so that the ssh config's Port can apply.
                let given = Address::parse(&p.address, 0)?;
                let mut req = ConnectRequest {
                    address: Address {
                        host: given.host.clone(),
                        port: if given.port == 0 { 22 } else { given.port },
                    },
                    ..Default::default()
                };
                if let Some(cfg) = &settings.ssh_config {
                    let r = cfg.resolve(&given.host);
                    req.jumps = r
                        .proxy_jump
                        .iter()
                        .map(|hop| jump_request(hop, cfg))
                        .collect::<Result<_, _>>()?;
                    req.address = Address {
                        host: r.host,
                        port: match given.port {
                            0 => r.port.unwrap_or(22),
                            p => p,
                        },
                    };
                    req.username = r.user.unwrap_or_default();
                    req.credentials.identity_files = r.identity_files;
                    req.credentials.identities_only = r.identities_only;
                    req.known_hosts = r.known_hosts;
                    req.host_key_policy = r.host_key_policy;
                    req.connect_timeout = r.connect_timeout;
                    req.keepalive = r.keepalive;
                }
                policy.check_host(&req.address.host, req.address.port)?;
                req
            }
        };
        if gave_credentials {
            req.credentials.password = password;
            req.credentials.key_path = key_path;
            req.credentials.passphrase = passphrase.or(req.credentials.passphrase.take());
        }
        let username = p
            .username
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
            .or(Some(std::mem::take(&mut req.username)).filter(|u| !u.is_empty()))
            .or_else(local_user)
            .ok_or_else(|| {
                Error::InvalidArgument("username is required (no local user name known)".into())
            })?;
        req.username = username;
        Ok(req)
    }
}

/// The request for one ProxyJump hop, `[user@]host[:port]`, itself resolved through the
/// ssh config (its own ProxyJump is not followed). Hops authenticate with the agent and
/// identity files, never with the password given for the destination.
fn jump_request(spec: &str, cfg: &ClientConfig) -> Result<ConnectRequest, Error> {
    let (user, host) = match spec.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_string()), h),
        None => (None, spec),
    };
    let given = Address::parse(host, 0)?;
    let r = cfg.resolve(&given.host);
    Ok(ConnectRequest {
        address: Address {
            host: r.host,
            port: match given.port {
                0 => r.port.unwrap_or(22),
                p => p,
            },
        },
        username: user
            .or(r.user)
            .or_else(local_user)
            .ok_or_else(|| Error::InvalidArgument(format!("no user name for jump host {spec}")))?,
        credentials: Credentials {
            identity_files: r.identity_files,
            identities_only: r.identities_only,
            ..Default::default()
        },
        host_key_policy: r.host_key_policy,
        known_hosts: r.known_hosts,
        connect_timeout: r.connect_timeout,
        keepalive: r.keepalive,
        confirmed_host_key: None,
        jumps: Vec::new(),
    })
}

/// The audit decision for a failed call.
pub(crate) fn decision_of(e: &Error) -> &'static str {
    if matches!(e, Error::Policy(_) | Error::HostKeyNotConfirmed { .. }) {
        "denied"
    } else {
        "failed"
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

/// How a connect ended: a session, or first a question for the user (protocol 2026-07-28).
enum Connected {
    Open(Arc<Entry>, ConnectRequest),
    AskFirst(InputRequiredResult),
}
