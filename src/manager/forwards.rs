//! Forwards of a session: started through [`SessionManager::with_session`], listed with
//! their session, stopped one by one or with it (cargo feature `port_forward`).

use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::access::SessionOp;
use super::{Entry, SessionManager};
use crate::config::policy::Allowlist;
use crate::error::{Error, Result};
use crate::ids::random_id;
use crate::ssh::forward::{Forward, target_reachable};
use crate::ssh::session::Session;

/// What forward to start.
#[derive(Debug, Clone)]
pub enum ForwardSpec {
    /// `ssh -L 127.0.0.1:local_port:remote_host:remote_port`.
    Local {
        local_port: u16,
        remote_host: String,
        remote_port: u16,
    },
    /// `ssh -R bind_host:bind_port:local_host:local_port`.
    Remote {
        bind_host: String,
        bind_port: u16,
        local_host: String,
        local_port: u16,
        /// The addresses of `local_host` connections go to, checked by the caller.
        local_addrs: Vec<SocketAddr>,
    },
    /// `ssh -D 127.0.0.1:local_port`.
    Dynamic { local_port: u16 },
}

/// Starts one forward and registers it with its session, within the session's cap.
struct StartForward {
    spec: ForwardSpec,
    /// Where SOCKS connections may go.
    allowed: Allowlist,
    /// Forwards one session may run at once.
    max: usize,
}

/// A forward just started, and for a local one whether its target answered.
pub struct Started {
    pub forward: Arc<Forward>,
    /// `local`: the SSH server could connect to the target (or why not).
    pub target: Option<std::result::Result<(), String>>,
}

impl SessionOp for StartForward {
    type Output = Started;

    fn run<'a>(
        &'a mut self,
        entry: &'a Arc<Entry>,
        session: Arc<Session>,
    ) -> BoxFuture<'a, Result<Started>> {
        Box::pin(async move {
            let active = entry
                .forwards
                .lock()
                .map(|list| list.iter().filter(|f| f.is_active()).count())
                .unwrap_or(0);
            if active >= self.max {
                return Err(Error::Limit(format!(
                    "session {} already runs {active} forwards, the most this server allows; close one with ssh_forward_close",
                    entry.id
                )));
            }
            let fid = format!("fwd-{}", random_id(8)?);
            let mut target = None;
            let fwd = Arc::new(match self.spec.clone() {
                ForwardSpec::Local {
                    local_port,
                    remote_host,
                    remote_port,
                } => {
                    target = Some(target_reachable(&session, &remote_host, remote_port).await);
                    Forward::start_local(session, fid, local_port, remote_host, remote_port).await?
                }
                ForwardSpec::Dynamic { local_port } => {
                    Forward::start_dynamic(session, fid, local_port, self.allowed.clone()).await?
                }
                ForwardSpec::Remote {
                    bind_host,
                    bind_port,
                    local_host,
                    local_port,
                    local_addrs,
                } => {
                    let target = (local_host, local_port);
                    Forward::start_remote(session, fid, bind_host, bind_port, target, local_addrs)
                        .await?
                }
            });
            if let Ok(mut list) = entry.forwards.lock() {
                list.retain(|f| f.is_active());
                list.push(fwd.clone());
            }
            Ok(Started {
                forward: fwd,
                target,
            })
        })
    }
}

impl SessionManager {
    /// Starts a forward on the session `id` that `owner` opened.
    pub async fn forward(
        &self,
        id: &str,
        owner: Option<&str>,
        spec: ForwardSpec,
    ) -> Result<Started> {
        let policy = &self.settings().policy;
        let mut op = StartForward {
            spec,
            allowed: policy.allowed_hosts().clone(),
            max: policy.max_forwards(),
        };
        Ok(self.with_session(id, owner, &mut op).await?.value)
    }

    /// Stops one forward of a session `owner` opened.
    pub fn close_forward(&self, forward_id: &str, owner: Option<&str>) -> Result<Arc<Forward>> {
        for entry in self.list(owner) {
            let found = entry.forwards.lock().ok().and_then(|mut list| {
                let i = list.iter().position(|f| f.id == forward_id.trim())?;
                Some(list.remove(i))
            });
            if let Some(f) = found {
                f.stop();
                return Ok(f);
            }
        }
        Err(Error::ForwardNotFound(forward_id.to_string()))
    }
}
