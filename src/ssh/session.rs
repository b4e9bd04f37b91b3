//! One authenticated SSH connection: its channel budget, state and close. Opening one
//! (TCP, ProxyJump hops, handshake and authentication) is in [`connect`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use russh::client::{Handle, Msg};
use russh::{Channel, ChannelOpenFailure};
use russh_sftp::client::RawSftpSession;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::address::Address;
use crate::error::{Error, Result};
use crate::ssh::handler::{ClientHandler, Death, HostKeyOutcome};
use crate::ssh::sftp_state::{Leftovers, SftpSlot};

pub mod connect;

pub use connect::ConnectRequest;

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
    /// One command at a time, on servers that need it (see
    /// [`crate::ssh::ident::serializes_commands`]).
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
