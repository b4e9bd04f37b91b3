//! One authenticated SSH connection: connect, channel budget, close.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use russh::client::{self, Handle, Msg};
use russh::{Channel, ChannelOpenFailure, Preferred};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::settings::Settings;
use crate::ssh::address::Address;
use crate::ssh::auth::{self, Credentials};
use crate::ssh::handler::{ClientHandler, HostKeyOutcome, preferred_key_algorithms};
use crate::ssh::known_hosts::KnownHosts;

/// Everything needed to open a session.
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    pub address: Address,
    pub username: String,
    pub credentials: Credentials,
}

/// Facts about an open session, for results and listings. Holds no secret.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub address: Address,
    pub username: String,
    pub host_key: HostKeyOutcome,
    /// How authentication succeeded, e.g. `password` or `key ~/.ssh/id_ed25519`.
    pub auth_method: String,
    pub connected_at: SystemTime,
}

/// An authenticated connection. Cheap to share behind an `Arc`: every operation takes
/// `&self`, and each command gets its own channel.
pub struct Session {
    pub info: SessionInfo,
    handle: Handle<ClientHandler>,
    /// Budget of concurrently open session channels (sshd's `MaxSessions`); commands past
    /// it wait here instead of being refused by the server.
    channels: Arc<Semaphore>,
    /// The size of `channels`, to tell whether other commands hold slots.
    channels_total: usize,
    /// Cancelled when the session closes; forwards and in-flight commands hold children.
    closed: CancellationToken,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("info", &self.info).finish()
    }
}

impl Session {
    /// Resolves, connects (TCP_NODELAY), verifies the host key and authenticates, all
    /// within `settings.connect_timeout`.
    pub async fn connect(req: &ConnectRequest, settings: &Settings) -> Result<Self> {
        let addr = req.address.to_string();
        match tokio::time::timeout(settings.connect_timeout, Self::connect_inner(req, settings))
            .await
        {
            Ok(r) => r,
            Err(_) => Err(Error::ConnectTimeout {
                addr,
                after: settings.connect_timeout,
            }),
        }
    }

    async fn connect_inner(req: &ConnectRequest, settings: &Settings) -> Result<Self> {
        let stream = tcp_connect(&req.address).await?;
        let name = req.address.known_hosts_name();
        let known_hosts = KnownHosts::new(settings.known_hosts());
        let config = client::Config {
            nodelay: true,
            keepalive_interval: Some(settings.keepalive_interval),
            keepalive_max: 3,
            preferred: Preferred {
                key: preferred_key_algorithms(&known_hosts.algorithms_for(&name)).into(),
                ..Preferred::DEFAULT
            },
            ..Default::default()
        };
        let (handler, outcome) = ClientHandler::new(name, settings.host_key_policy, known_hosts);
        let mut handle = client::connect_stream(Arc::new(config), stream, handler).await?;
        let auth_method = auth::authenticate(
            &mut handle,
            &req.username,
            &req.address.to_string(),
            &req.credentials,
        )
        .await?;
        let host_key = outcome
            .lock()
            .ok()
            .and_then(|slot| slot.clone())
            .unwrap_or_default();
        Ok(Self {
            info: SessionInfo {
                address: req.address.clone(),
                username: req.username.clone(),
                host_key,
                auth_method,
                connected_at: SystemTime::now(),
            },
            handle,
            channels: Arc::new(Semaphore::new(settings.max_channels_per_session.max(1))),
            channels_total: settings.max_channels_per_session.max(1),
            closed: CancellationToken::new(),
        })
    }

    /// Whether the connection is gone (closed by us, the server, or a network failure).
    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled() || self.handle.is_closed()
    }

    /// A token cancelled when this session closes.
    pub fn closed_token(&self) -> CancellationToken {
        self.closed.clone()
    }

    /// The underlying russh handle, for opening non-session channels (forwarding).
    pub fn handle(&self) -> &Handle<ClientHandler> {
        &self.handle
    }

    /// Opens a session channel, waiting for a free slot in the channel budget first.
    ///
    /// sshd frees a session slot only after the channel-close handshake, a little after we
    /// saw the close, and its `MaxSessions` may be lower than our budget; it then refuses the
    /// open (OpenSSH answers "connect failed: no more sessions"). Such refusals are retried
    /// with backoff while other commands of this session run, and a few times otherwise.
    pub async fn open_session_channel(
        &self,
        label: &str,
    ) -> Result<(Channel<Msg>, OwnedSemaphorePermit)> {
        let mut backoff = Duration::from_millis(10);
        let mut attempts = 0u32;
        loop {
            let permit = self
                .channels
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| Error::SessionClosed(label.to_string()))?;
            match self.handle.channel_open_session().await {
                Ok(ch) => return Ok((ch, permit)),
                Err(russh::Error::ChannelOpenFailure(reason)) => {
                    let busy = self.channels.available_permits() + 1 < self.channels_total;
                    let limit = matches!(
                        reason,
                        ChannelOpenFailure::ConnectFailed
                            | ChannelOpenFailure::AdministrativelyProhibited
                            | ChannelOpenFailure::ResourceShortage
                    );
                    if !limit || attempts >= 400 || (!busy && attempts >= 8) {
                        return Err(Error::ChannelOpen(format!(
                            "session channel refused ({reason:?}); the server may allow fewer concurrent sessions (MaxSessions)"
                        )));
                    }
                    drop(permit);
                    attempts += 1;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(250));
                }
                Err(_) if self.handle.is_closed() => {
                    return Err(Error::SessionClosed(label.to_string()));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Closes the connection: cancels forwards and commands, then sends SSH_MSG_DISCONNECT.
    pub async fn close(&self) {
        self.closed.cancel();
        self.channels.close();
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "session closed", "en")
            .await;
    }
}

/// Resolves and connects, trying each address in turn; sets TCP_NODELAY.
async fn tcp_connect(address: &Address) -> Result<TcpStream> {
    let addrs: Vec<_> = tokio::net::lookup_host((address.host.as_str(), address.port))
        .await
        .map_err(|source| Error::Resolve {
            host: address.host.clone(),
            source,
        })?
        .collect();
    let mut last = None;
    for a in addrs {
        match TcpStream::connect(a).await {
            Ok(s) => {
                s.set_nodelay(true)
                    .map_err(|e| Error::io("setting TCP_NODELAY", e))?;
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(Error::Connect {
        addr: address.to_string(),
        source: last.unwrap_or_else(|| std::io::Error::other("the name resolved to no address")),
    })
}
