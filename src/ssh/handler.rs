//! The russh client handler: decides whether to trust the server's host key, and refuses
//! every channel the server opens toward us except the connections of our own remote
//! forwards (russh's defaults accept them all: a server could open a `session`, `x11`,
//! `auth-agent` or `direct-tcpip` channel and have it buffered on our side).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use russh::client;
use russh::keys::{Certificate, PublicKey, PublicKeyOrCertificate};
use tokio_util::sync::CancellationToken;

use crate::config::host_key_policy::HostKeyPolicy;
use crate::error::Error;
use crate::ssh::known_hosts::{KnownHosts, Verdict, fingerprint};

/// What the host-key check decided, for the connect result.
#[derive(Debug, Clone, Default)]
pub struct HostKeyOutcome {
    /// `SHA256:…` fingerprint of the server's key.
    pub fingerprint: String,
    /// The host was unknown and its key was recorded (policy `accept-new`).
    pub learned: Option<PathBuf>,
    /// Verification is off: the key was not checked at all.
    pub unverified: bool,
    /// The server proved itself with a host certificate from a trusted CA.
    pub certificate: bool,
}

/// The client side of one SSH connection.
pub struct ClientHandler {
    /// Host name as written in known_hosts (`host` or `[host]:port`).
    name: String,
    /// The bare host name or address, which a host certificate must name.
    host: String,
    policy: HostKeyPolicy,
    /// Under [`HostKeyPolicy::Ask`], the fingerprint the user confirmed.
    confirmed: Option<String>,
    known_hosts: KnownHosts,
    /// Filled in by [`client::Handler::check_server_key`] and read by the connect code,
    /// which cannot reach the handler once russh owns it.
    outcome: Arc<Mutex<Option<HostKeyOutcome>>>,
    /// Told when the connection ends, and why.
    death: Death,
    /// Where connections of remote forwards go.
    #[cfg(feature = "port_forward")]
    remote_targets: crate::ssh::tunnel::RemoteTargets,
}

/// Where a connection's end is recorded: a token cancelled when it ends, and the reason.
#[derive(Debug, Clone, Default)]
pub struct Death {
    pub token: CancellationToken,
    reason: Arc<Mutex<Option<String>>>,
}

impl Death {
    /// Records the first reason given and cancels the token.
    pub fn record(&self, reason: impl Into<String>) {
        if let Ok(mut slot) = self.reason.lock()
            && slot.is_none()
        {
            *slot = Some(reason.into());
        }
        self.token.cancel();
    }

    /// Why the connection ended, if it has.
    pub fn reason(&self) -> Option<String> {
        self.reason.lock().ok().and_then(|r| r.clone())
    }
}

impl ClientHandler {
    /// A handler for `name` (see [`crate::ssh::Address::known_hosts_name`]). The returned
    /// slot holds the host-key outcome once key exchange has run.
    pub fn new(
        name: String,
        host: String,
        policy: HostKeyPolicy,
        confirmed: Option<String>,
        known_hosts: KnownHosts,
        death: Death,
        #[cfg(feature = "port_forward")] remote_targets: crate::ssh::tunnel::RemoteTargets,
    ) -> (Self, Arc<Mutex<Option<HostKeyOutcome>>>) {
        let outcome = Arc::new(Mutex::new(None));
        (
            Self {
                name,
                host,
                policy,
                confirmed,
                known_hosts,
                outcome: outcome.clone(),
                death,
                #[cfg(feature = "port_forward")]
                remote_targets,
            },
            outcome,
        )
    }

    fn verify(&self, key: &PublicKey) -> Result<HostKeyOutcome, Error> {
        let offered = fingerprint(key);
        let mut outcome = HostKeyOutcome {
            fingerprint: offered.clone(),
            ..Default::default()
        };
        if self.policy == HostKeyPolicy::Off {
            outcome.unverified = true;
            return Ok(outcome);
        }
        match self.known_hosts.check(&self.name, key)? {
            Verdict::Trusted => Ok(outcome),
            Verdict::Changed {
                recorded,
                file,
                line,
            } => Err(Error::HostKeyMismatch {
                host: self.name.clone(),
                offered,
                recorded,
                file,
                line,
            }),
            Verdict::Revoked { file, line } => Err(Error::HostKeyRevoked {
                host: self.name.clone(),
                offered,
                file,
                line,
            }),
            Verdict::Unknown
                if self.policy == HostKeyPolicy::AcceptNew
                    || (self.policy == HostKeyPolicy::Ask
                        && self.confirmed.as_deref() == Some(offered.as_str())) =>
            {
                // Only a real host is ever recorded: a pattern would trust other hosts too.
                if !crate::address::is_real_host(&self.host) {
                    return Err(Error::HostKeyUnknown {
                        host: self.name.clone(),
                        offered,
                    });
                }
                self.known_hosts.learn(&self.name, key)?;
                outcome.learned = self.known_hosts_file();
                Ok(outcome)
            }
            Verdict::Unknown | Verdict::BadCertificate => Err(Error::HostKeyUnknown {
                host: self.name.clone(),
                offered,
            }),
        }
    }

    fn verify_certificate(&self, cert: &Certificate) -> Result<HostKeyOutcome, Error> {
        let key = PublicKey::from(cert.public_key().clone());
        let offered = fingerprint(&key);
        let outcome = HostKeyOutcome {
            fingerprint: offered.clone(),
            certificate: true,
            ..Default::default()
        };
        if self.policy == HostKeyPolicy::Off {
            return Ok(HostKeyOutcome {
                unverified: true,
                ..outcome
            });
        }
        match self
            .known_hosts
            .check_certificate(&self.name, &self.host, cert)?
        {
            Verdict::Trusted => Ok(outcome),
            Verdict::Revoked { file, line } => Err(Error::HostKeyRevoked {
                host: self.name.clone(),
                offered,
                file,
                line,
            }),
            _ => Err(Error::HostCertificate {
                host: self.name.clone(),
                offered,
            }),
        }
    }

    /// Refuses a channel the server opened: we asked for none of these.
    async fn refuse(&self, channel_type: &str, reply: client::ChannelOpenHandle) {
        tracing::debug!(host = %self.name, channel_type, "refused a channel the server opened");
        reply
            .reject(russh::ChannelOpenFailure::AdministrativelyProhibited)
            .await;
    }

    fn known_hosts_file(&self) -> Option<PathBuf> {
        self.known_hosts.files().first().cloned()
    }
}

impl client::Handler for ClientHandler {
    type Error = Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let outcome = match server_public_key {
            PublicKeyOrCertificate::Certificate(cert) => self.verify_certificate(cert)?,
            PublicKeyOrCertificate::PublicKey { key, .. } => self.verify(key)?,
        };
        tracing::debug!(host = %self.name, fingerprint = %outcome.fingerprint, "host key accepted");
        if let Ok(mut slot) = self.outcome.lock() {
            *slot = Some(outcome);
        }
        Ok(true)
    }

    #[cfg(feature = "port_forward")]
    async fn server_channel_open_forwarded_tcpip(
        &mut self,
        channel: russh::Channel<client::Msg>,
        _connected_address: &str,
        connected_port: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: client::ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        match self.remote_targets.get(connected_port) {
            Some(target) => {
                reply.accept().await;
                tokio::spawn(crate::ssh::tunnel::inbound(channel, target));
            }
            None => self.refuse("forwarded-tcpip", reply).await,
        }
        Ok(())
    }

    #[cfg(not(feature = "port_forward"))]
    async fn server_channel_open_forwarded_tcpip(
        &mut self,
        _channel: russh::Channel<client::Msg>,
        _connected_address: &str,
        _connected_port: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: client::ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        self.refuse("forwarded-tcpip", reply).await;
        Ok(())
    }

    async fn server_channel_open_forwarded_streamlocal(
        &mut self,
        _channel: russh::Channel<client::Msg>,
        _socket_path: &str,
        reply: client::ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        self.refuse("forwarded-streamlocal@openssh.com", reply)
            .await;
        Ok(())
    }

    async fn server_channel_open_agent_forward(
        &mut self,
        _channel: russh::Channel<client::Msg>,
        reply: client::ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        self.refuse("auth-agent@openssh.com", reply).await;
        Ok(())
    }

    async fn should_accept_unknown_server_channel(
        &mut self,
        _id: russh::ChannelId,
        channel_type: &str,
    ) -> bool {
        tracing::debug!(host = %self.name, channel_type, "refused a channel the server opened");
        false
    }

    async fn server_channel_open_unknown(
        &mut self,
        _channel: russh::Channel<client::Msg>,
        reply: client::ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        self.refuse("unknown", reply).await;
        Ok(())
    }

    async fn server_channel_open_session(
        &mut self,
        _channel: russh::Channel<client::Msg>,
        reply: client::ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        self.refuse("session", reply).await;
        Ok(())
    }

    async fn server_channel_open_direct_tcpip(
        &mut self,
        _channel: russh::Channel<client::Msg>,
        _host_to_connect: &str,
        _port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: client::ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        self.refuse("direct-tcpip", reply).await;
        Ok(())
    }

    async fn server_channel_open_direct_streamlocal(
        &mut self,
        _channel: russh::Channel<client::Msg>,
        _socket_path: &str,
        reply: client::ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        self.refuse("direct-streamlocal@openssh.com", reply).await;
        Ok(())
    }

    async fn server_channel_open_x11(
        &mut self,
        _channel: russh::Channel<client::Msg>,
        _originator_address: &str,
        _originator_port: u32,
        reply: client::ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        self.refuse("x11", reply).await;
        Ok(())
    }

    async fn disconnected(
        &mut self,
        reason: client::DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        let why = match &reason {
            client::DisconnectReason::ReceivedDisconnect(info) => {
                format!("the server disconnected ({})", info.message)
            }
            client::DisconnectReason::Error(Error::Ssh(russh::Error::KeepaliveTimeout)) => {
                "the server stopped answering keepalives (host down or network lost)".to_string()
            }
            client::DisconnectReason::Error(e) => format!("connection lost: {}", e.chain()),
        };
        tracing::info!(host = %self.name, reason = %why, "connection ended");
        self.death.record(why);
        match reason {
            client::DisconnectReason::ReceivedDisconnect(_) => Ok(()),
            client::DisconnectReason::Error(e) => Err(e),
        }
    }
}
