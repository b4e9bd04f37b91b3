//! Opening a session: TCP connect (with the operator's address checks), ProxyJump hops,
//! the SSH handshake, host-key check and authentication.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use russh::Preferred;
use russh::client;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::address::Address;
use crate::config::host_key_policy::HostKeyPolicy;
use crate::config::settings::Settings;
use crate::error::{Error, Result};
use crate::ssh::algorithms::{CERTIFICATE_ALGORITHMS, preferred_ciphers, preferred_key_algorithms};
use crate::ssh::auth::{self, Credentials};
use crate::ssh::handler::{ClientHandler, Death};
use crate::ssh::ident::{refuses_signals, serializes_commands};
use crate::ssh::known_hosts::KnownHosts;
use crate::ssh::session::{Session, SessionInfo};
use crate::ssh::sftp_state::SftpSlot;
use crate::ssh::socket::{QuickAckStream, quick_ack};

/// Everything needed to open a session. The optional fields override the server's
/// settings for this connection (from a named host or the ssh client config).
#[derive(Debug, Clone, Default)]
pub struct ConnectRequest {
    pub address: Address,
    pub username: String,
    pub credentials: Credentials,
    pub host_key_policy: Option<HostKeyPolicy>,
    /// A host key fingerprint the user confirmed: under [`HostKeyPolicy::Ask`], an unknown
    /// host offering exactly this key is recorded and accepted.
    pub confirmed_host_key: Option<String>,
    /// known_hosts files (`UserKnownHostsFile`); empty: the server's.
    pub known_hosts: Vec<PathBuf>,
    pub connect_timeout: Option<Duration>,
    /// Keepalive interval (`ServerAliveInterval`).
    pub keepalive: Option<Duration>,
    /// ProxyJump hops, first hop first; each is connected with its own request.
    pub jumps: Vec<ConnectRequest>,
    /// The named host or ssh client config alias the session was opened with, if any.
    pub name: Option<String>,
    /// `name` is one of the operator's named hosts (its credentials are the operator's).
    pub named_host: bool,
    /// The address came from the model: the addresses it resolves to must pass the
    /// operator's `allowed_hosts` (named hosts and ProxyJump hops are the operator's own).
    pub check_addresses: bool,
}

impl Session {
    /// Resolves, connects (TCP_NODELAY), verifies the host key and authenticates, all
    /// within `settings.connect_timeout`.
    pub async fn connect(req: &ConnectRequest, settings: &Settings) -> Result<Arc<Self>> {
        let addr = req.address.to_string();
        let limit = req.connect_timeout.unwrap_or(settings.connect_timeout);
        match tokio::time::timeout(limit, Self::connect_inner(req, settings)).await {
            Ok(r) => r,
            Err(_) => Err(Error::ConnectTimeout { addr, after: limit }),
        }
    }

    /// Connects directly, or hop by hop through `req.jumps` (ProxyJump): each hop is an SSH
    /// session of its own, and the next connection runs over a `direct-tcpip` channel of it.
    async fn connect_inner(req: &ConnectRequest, settings: &Settings) -> Result<Arc<Self>> {
        let Some((first, rest)) = req.jumps.split_first() else {
            let stream = tcp_connect(req, settings).await?;
            return Self::establish(stream, req, settings, Vec::new()).await;
        };
        let first = async {
            let stream = tcp_connect(first, settings).await?;
            Self::establish(stream, first, settings, Vec::new()).await
        }
        .await
        .map_err(|e| jump_error(&first.address, e))?;
        let mut via = vec![first];
        for hop in rest.iter().chain(std::iter::once(req)) {
            let prev = via
                .last()
                .cloned()
                .ok_or_else(|| Error::InvalidArgument("no hop".into()))?;
            let channel = prev
                .handle
                .channel_open_direct_tcpip(
                    hop.address.host.clone(),
                    u32::from(hop.address.port),
                    "127.0.0.1",
                    0,
                )
                .await
                .map_err(|e| {
                    jump_error(
                        &prev.info.address,
                        Error::ChannelOpen(format!("forwarding to {} failed: {e}", hop.address)),
                    )
                })?;
            let session = Self::establish(channel.into_stream(), hop, settings, via.clone()).await;
            if std::ptr::eq(hop, req) {
                return session;
            }
            via.push(session.map_err(|e| jump_error(&hop.address, e))?);
        }
        Err(Error::InvalidArgument("empty jump chain".into()))
    }

    /// SSH handshake, host-key check and authentication over an established stream.
    async fn establish<S>(
        stream: S,
        req: &ConnectRequest,
        settings: &Settings,
        via: Vec<Arc<Session>>,
    ) -> Result<Arc<Self>>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let name = req.address.known_hosts_name();
        let known_hosts = KnownHosts::new(if req.known_hosts.is_empty() {
            settings.known_hosts()
        } else {
            req.known_hosts.clone()
        });
        let config = client::Config {
            nodelay: true,
            keepalive_interval: Some(req.keepalive.unwrap_or(settings.keepalive_interval)),
            keepalive_max: 3,
            preferred: Preferred {
                key: preferred_key_algorithms(&known_hosts.algorithms_for(&name)).into(),
                // Like OpenSSH, ask for host certificates only where a CA is trusted.
                host_key_certificates: if known_hosts.has_authority_for(&name) {
                    CERTIFICATE_ALGORITHMS.to_vec().into()
                } else {
                    Vec::new().into()
                },
                cipher: preferred_ciphers().into(),
                ..Preferred::DEFAULT
            },
            ..Default::default()
        };
        let death = Death::default();
        let policy = req.host_key_policy.unwrap_or(settings.host_key_policy);
        #[cfg(feature = "port_forward")]
        let remote_targets = crate::ssh::tunnel::RemoteTargets::default();
        let (handler, outcome) = ClientHandler::new(
            name,
            req.address.host.to_ascii_lowercase(),
            policy,
            req.confirmed_host_key.clone(),
            known_hosts,
            death.clone(),
            #[cfg(feature = "port_forward")]
            remote_targets.clone(),
        );
        let (stream, ident) = crate::ssh::ident::tap(stream);
        let stream = crate::ssh::socket::read_buffer(stream);
        let mut handle = client::connect_stream(Arc::new(config), stream, handler).await?;
        let ident = ident.get().cloned().unwrap_or_default();
        let one_at_a_time = serializes_commands(&ident);
        let marks_commands = refuses_signals(&ident, &req.username);
        if one_at_a_time {
            tracing::info!(
                server = %ident,
                "this server version can drop the connection when commands overlap; \
                 commands on this session run one at a time"
            );
        }
        let authenticated = auth::authenticate(
            &mut handle,
            &req.username,
            &req.address.to_string(),
            &req.credentials,
        )
        .await;
        let host_key = outcome
            .lock()
            .ok()
            .and_then(|slot| slot.clone())
            .unwrap_or_default();
        let auth_method = match authenticated {
            Ok(m) => m,
            Err(e) => {
                return Err(match auth::missing_secret(&req.credentials, &e) {
                    Some(secret) => Error::SecretMissing {
                        secret,
                        host_key: host_key.fingerprint,
                        cause: Box::new(e),
                    },
                    None => e,
                });
            }
        };
        let session = Arc::new(Self {
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
            command_turn: one_at_a_time.then(|| Arc::new(Semaphore::new(1))),
            marks_commands,
            death,
            stopping: CancellationToken::new(),
            via,
            sftp: SftpSlot::default(),
            #[cfg(feature = "port_forward")]
            remote_targets,
        });
        session.watch();
        Ok(session)
    }
}

fn jump_error(hop: &Address, e: Error) -> Error {
    Error::Jump {
        hop: hop.to_string(),
        source: Box::new(e),
    }
}

/// Resolves and connects (see [`crate::ssh::resolve`]); sets TCP_NODELAY. For an address
/// the model gave (`req.check_addresses`), only the addresses the operator's
/// `allowed_hosts` allows are used (looked up once, so a name cannot resolve to an allowed
/// address for the check and another one for the connection), and an address of a named
/// host that keeps its account refuses another user.
async fn tcp_connect(req: &ConnectRequest, settings: &Settings) -> Result<QuickAckStream> {
    let address = &req.address;
    let mut addrs = crate::ssh::resolve::resolve(&address.host, address.port).await?;
    if req.check_addresses {
        addrs = settings
            .policy
            .allowed_hosts()
            .filter(&address.host, address.port, addrs)?;
        check_named_accounts(&addrs, &req.username, settings).await?;
    }
    let stream = crate::ssh::resolve::connect_to(address, &addrs).await?;
    quick_ack(stream).map_err(|e| Error::io("setting TCP_NODELAY", e))
}

/// Refuses `user` at `addrs` when a named host that keeps its account (a `user`, without
/// `allow_user_override`) lives at one of them as another user: its key or password may
/// be the server's default one, and must not be tried on another account by way of the
/// bare address.
async fn check_named_accounts(
    addrs: &[std::net::SocketAddr],
    user: &str,
    settings: &Settings,
) -> Result<()> {
    let locked = settings.hosts.iter().filter_map(|(name, h)| {
        let own = h
            .user
            .as_deref()
            .filter(|u| *u != user && !h.allow_user_override)?;
        let at = Address::parse(&h.address, 22).ok()?;
        Some(async move {
            // Looked up together, each within 5 s: a slow name delays the connect once.
            let theirs = tokio::time::timeout(
                Duration::from_secs(5),
                crate::ssh::resolve::resolve(&at.host, at.port),
            )
            .await;
            matches!(theirs, Ok(Ok(t)) if t.iter().any(|a| addrs.contains(a)))
                .then_some((name, own))
        })
    });
    let hit = futures::future::join_all(locked)
        .await
        .into_iter()
        .flatten()
        .next();
    match hit {
        Some((name, own)) => Err(Error::Policy(format!(
            "this address belongs to the named host {name}, which logs in as {own} only; connect to {name} without a username"
        ))),
        None => Ok(()),
    }
}
