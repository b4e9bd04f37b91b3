//! One authenticated SSH connection: connect, channel budget, close.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use russh::client::{self, Handle, Msg};
use russh::{Channel, ChannelOpenFailure, Preferred};
use russh_sftp::client::RawSftpSession;

use crate::ssh::sftp_state::{Leftovers, SftpSlot};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::address::Address;
use crate::config::host_key_policy::HostKeyPolicy;
use crate::config::settings::Settings;
use crate::error::{Error, Result};
use crate::ssh::algorithms::{CERTIFICATE_ALGORITHMS, preferred_ciphers, preferred_key_algorithms};
use crate::ssh::auth::{self, Credentials};
use crate::ssh::handler::{ClientHandler, Death, HostKeyOutcome};
use crate::ssh::ident::{refuses_signals, serializes_commands};
use crate::ssh::known_hosts::KnownHosts;
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
    /// One command at a time, on servers that need it (see [`serializes_commands`]).
    command_turn: Option<Arc<Semaphore>>,
    /// The server refuses channel signals here: commands carry a marker so that they can
    /// be stopped without them (see [`crate::ssh::ident::refuses_signals`]).
    marks_commands: bool,
    /// Cancelled when the session is closed or its connection dies, with the reason;
    /// forwards hold child tokens, in-flight commands watch it.
    death: Death,
    /// Cancelled when the session is being closed: running commands start their stop
    /// sequence, because sshd leaves a command without a terminal running when the
    /// connection goes.
    stopping: CancellationToken,
    /// The ProxyJump sessions this connection runs through, first hop first; kept open as
    /// long as this session.
    via: Vec<Arc<Session>>,
    /// Where the connections of this session's remote forwards go.
    #[cfg(feature = "port_forward")]
    remote_targets: crate::ssh::tunnel::RemoteTargets,
    /// The SFTP channel, opened on first use, and upload leftovers.
    sftp: SftpSlot,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("info", &self.info).finish()
    }
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

    /// russh does not always call the handler when a connection ends (not when the socket
    /// fails to shut down), so a light poll notices the rest.
    fn watch(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let death = self.death.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    _ = death.token.cancelled() => break,
                    _ = tick.tick() => match weak.upgrade() {
                        Some(s) if s.handle.is_closed() => {
                            death.record("the connection was lost");
                            break;
                        }
                        Some(_) => {}
                        None => break,
                    },
                }
            }
        });
    }

    /// Whether the connection is gone (closed by us, the server, or a network failure).
    pub fn is_closed(&self) -> bool {
        self.death.token.is_cancelled() || self.handle.is_closed()
    }

    /// A token cancelled when this session closes or its connection dies.
    pub fn dead_token(&self) -> CancellationToken {
        self.death.token.clone()
    }

    /// Where the connections of this session's remote forwards go.
    #[cfg(feature = "port_forward")]
    pub fn remote_targets(&self) -> &crate::ssh::tunnel::RemoteTargets {
        &self.remote_targets
    }

    /// The session's SFTP channel, made by `init` on first use (and again after
    /// [`Self::forget_sftp`]).
    pub async fn sftp<F, Fut>(&self, init: F) -> Result<Arc<RawSftpSession>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(Arc<RawSftpSession>, OwnedSemaphorePermit)>>,
    {
        self.sftp.get_or_init(init).await
    }

    /// Whether commands must carry a marker to be stoppable (the server refuses signals).
    pub fn marks_commands(&self) -> bool {
        self.marks_commands
    }

    /// Temporary upload files still to remove (see [`Leftovers`]).
    pub fn leftovers(&self) -> &Leftovers {
        self.sftp.leftovers()
    }

    /// Drops the SFTP channel after it failed (the server's sftp-server may have exited), so
    /// that the next transfer opens a new one.
    pub async fn forget_sftp(&self) {
        self.sftp.forget().await;
    }

    /// A token cancelled when the session starts closing.
    pub fn stopping_token(&self) -> CancellationToken {
        self.stopping.clone()
    }

    /// Why the connection ended, if it has.
    pub fn death_reason(&self) -> Option<String> {
        self.death.reason().or_else(|| {
            self.handle
                .is_closed()
                .then(|| "the connection was lost".to_string())
        })
    }

    /// The error for work attempted on a dead connection.
    pub fn closed_error(&self) -> Error {
        Error::SessionClosed {
            reason: self.closed_reason(),
        }
    }

    /// The error for work found a dead connection before anything was sent.
    pub fn not_started_error(&self) -> Error {
        Error::ClosedBeforeStart {
            reason: self.closed_reason(),
        }
    }

    /// `e` as [`Error::ClosedBeforeStart`] when the connection is closed: for failures
    /// before any work was sent.
    pub fn not_started_if_closed(&self, e: Error) -> Error {
        if self.is_closed() {
            self.not_started_error()
        } else {
            e
        }
    }

    /// `e`, or the connection's end when the connection is closed: what failed because the
    /// connection died then says so, and what to do, instead of how the layer above noticed.
    pub fn or_closed(&self, e: Error) -> Error {
        if self.is_closed() {
            self.closed_error()
        } else {
            e
        }
    }

    fn closed_reason(&self) -> String {
        self.death_reason()
            .unwrap_or_else(|| "the connection was lost".into())
    }

    /// The underlying russh handle, for opening non-session channels (forwarding).
    pub fn handle(&self) -> &Handle<ClientHandler> {
        &self.handle
    }

    /// Waits until this session may start a command: at once, except on servers whose
    /// commands must not overlap, where the turn is held until the command ends.
    pub async fn command_turn(&self) -> Result<Option<OwnedSemaphorePermit>> {
        match &self.command_turn {
            None => Ok(None),
            Some(turn) => turn
                .clone()
                .acquire_owned()
                .await
                .map(Some)
                .map_err(|_| self.closed_error()),
        }
    }

    /// Opens a session channel, waiting for a free slot in the channel budget first.
    ///
    /// sshd frees a session slot only after the channel-close handshake, a little after we
    /// saw the close, and its `MaxSessions` may be lower than our budget; it then refuses the
    /// open (OpenSSH answers "connect failed: no more sessions"). Such refusals are retried
    /// with backoff while other commands of this session run, and a few times otherwise.
    pub async fn open_session_channel(&self) -> Result<(Channel<Msg>, OwnedSemaphorePermit)> {
        let mut backoff = Duration::from_millis(10);
        let mut attempts = 0u32;
        loop {
            let permit = self
                .channels
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| self.closed_error())?;
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
                        let why = if busy {
                            "the server may allow fewer concurrent sessions (MaxSessions)"
                        } else {
                            "none of ours is open, so the server may allow fewer sessions \
                             (MaxSessions), or still hold the channel of a command that ignored \
                             our stop signals (servers without signal support keep it until the \
                             command ends; tinysshd allows one channel per connection); \
                             ssh_disconnect and ssh_connect anew to get a fresh connection"
                        };
                        return Err(Error::ChannelOpen(format!(
                            "session channel refused ({reason:?}); {why}"
                        )));
                    }
                    drop(permit);
                    attempts += 1;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(250));
                }
                Err(_) if self.handle.is_closed() => return Err(self.closed_error()),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Closes the connection: stops running commands, cancels forwards, then sends
    /// SSH_MSG_DISCONNECT.
    pub async fn close(&self) {
        self.stopping.cancel();
        // The SFTP channel holds a channel permit but runs no command: release it first, or
        // the wait below would always run to its end after a transfer. A transfer still
        // using it ends with the connection. (Taken only if free: an SFTP channel being
        // opened right now may wait for a permit itself.)
        self.sftp.release_if_idle();
        // Give running commands their stop sequence (up to KILL) before the connection goes.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(2500);
        while self.channels.available_permits() < self.channels_total
            && !self.handle.is_closed()
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.death.record("the session was disconnected");
        for hop in self.via.iter().rev() {
            Box::pin(hop.close()).await;
        }
        self.channels.close();
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "session closed", "en")
            .await;
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
