//! The core error type, returned by everything below the MCP tool layer.
//!
//! Messages are lowercase facts; the advice a model needs ("check the port", "pass
//! `passphrase`") is added in one place, the tool layer's error mapping. Causes are kept as
//! `#[source]` instead of being formatted into the message, and no variant ever holds a
//! secret.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// A `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while talking SSH on behalf of a client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The `address` argument could not be parsed.
    #[error("invalid address {address:?}: {reason}")]
    InvalidAddress {
        address: String,
        reason: &'static str,
    },

    /// A tool argument is out of range or contradicts another one.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The host name did not resolve.
    #[error("could not resolve host {host:?}")]
    Resolve {
        host: String,
        #[source]
        source: io::Error,
    },

    /// The TCP connection failed.
    #[error("could not connect to {addr}")]
    Connect {
        addr: String,
        #[source]
        source: io::Error,
    },

    /// TCP connect, SSH handshake and authentication did not finish in time.
    #[error("connecting to {addr} timed out after {}s", after.as_secs())]
    ConnectTimeout { addr: String, after: Duration },

    /// The server presented a key that differs from the one recorded for it.
    #[error(
        "host key for {host} does not match: the server offered {offered}, {file}:{line} records {recorded}"
    )]
    HostKeyMismatch {
        host: String,
        offered: String,
        recorded: String,
        file: PathBuf,
        line: usize,
    },

    /// The server showed a host certificate that no trusted CA vouches for.
    #[error(
        "host certificate of {host} (key {offered}) is not signed by a CA trusted for it, has expired, or does not name it"
    )]
    HostCertificate { host: String, offered: String },

    /// The host is not in any known_hosts file and the policy does not allow learning it.
    #[error("host key for {host} ({offered}) is not known")]
    HostKeyUnknown { host: String, offered: String },

    /// The user was asked about an unknown host's key and did not trust it.
    #[error("the host key of {host} ({offered}) was not confirmed: {why}")]
    HostKeyNotConfirmed {
        host: String,
        offered: String,
        why: String,
    },

    /// The server's key is marked `@revoked`.
    #[error("host key for {host} ({offered}) is revoked in {file}:{line}")]
    HostKeyRevoked {
        host: String,
        offered: String,
        file: PathBuf,
        line: usize,
    },

    /// A known_hosts file could not be read or written.
    #[error("known_hosts file {path}")]
    KnownHostsFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The server rejected every credential we offered.
    #[error("authentication failed for {user}@{host} (tried: {tried}; server accepts: {accepts})")]
    AuthFailed {
        user: String,
        host: String,
        tried: String,
        accepts: String,
    },

    /// A private key file could not be used.
    #[error("private key {path}: {problem}")]
    KeyFile { path: PathBuf, problem: KeyProblem },

    /// Authentication needs a secret nobody gave: the password of an account whose
    /// server takes one, or the passphrase of an encrypted key. The user may type it on a
    /// one-time page where the MCP client can show one; otherwise `cause` is the answer.
    #[error("{cause}")]
    SecretMissing {
        secret: MissingSecret,
        /// The fingerprint of the host key the server showed, for the page.
        host_key: String,
        cause: Box<Error>,
    },

    /// The user was asked to type a secret on a one-time page and did not.
    #[error("{what} was not typed: {why}")]
    SecretNotGiven { what: String, why: NotGiven },

    /// The SSH agent could not be used.
    #[error("ssh agent: {0}")]
    Agent(String),

    /// The SSH connection failed at the protocol level.
    #[error("ssh protocol error")]
    Ssh(#[source] russh::Error),

    /// No session with this id (never opened, disconnected, or expired).
    #[error("no session with id {0:?}")]
    SessionNotFound(String),

    /// The session's connection is gone.
    #[error("the SSH connection is closed: {reason}")]
    SessionClosed { reason: String },

    /// The connection turned out to be closed before the work was sent: nothing ran, so
    /// it can be tried again on a new connection.
    #[error("the SSH connection is closed: {reason}")]
    ClosedBeforeStart { reason: String },

    /// The server closed a new channel before starting the command on it: nothing ran, so
    /// it can be tried again on the same connection.
    #[error("the server closed the channel before starting the command")]
    DroppedBeforeStart,

    /// A ProxyJump hop failed.
    #[error("via jump host {hop}")]
    Jump {
        hop: String,
        #[source]
        source: Box<Error>,
    },

    /// The operator's policy refuses this.
    #[error("refused by this server's policy: {0}")]
    Policy(String),

    /// An operator limit was reached.
    #[error("{0}")]
    Limit(String),

    /// No background job with this id.
    #[error("no job with id {0:?}")]
    JobNotFound(String),

    /// The server refused to open a channel.
    #[error("the server refused to open a channel: {0}")]
    ChannelOpen(String),

    /// The channel opened, but the server refused to run the command on it (it answered
    /// the exec request with a failure): an SFTP-only server, for example.
    #[error("the server refused to run the command")]
    ExecRefused,

    /// The server refused a terminal (`pty-req`) on the channel.
    #[error("the server refused a terminal")]
    TerminalRefused,

    /// The server did not confirm a terminal program (no answer in time, or more output
    /// before the answer than a starting program sends); the channel was closed.
    #[error("{0}; it was closed")]
    ShellStart(String),

    /// The server refused or could not do a remote forward (`tcpip-forward`).
    #[error("{0}")]
    ForwardRefused(String),

    /// A local listener could not be bound.
    #[error("could not listen on {addr}")]
    Bind {
        addr: String,
        #[source]
        source: io::Error,
    },

    /// An SFTP operation failed.
    #[error("{op} {path}: {problem}")]
    Sftp {
        op: String,
        path: String,
        problem: String,
    },

    /// The SFTP channel itself failed (no answer, or closed), not one request.
    #[error("{0}")]
    SftpChannel(String),

    /// No forward with this id.
    #[error("no forward with id {0:?}")]
    ForwardNotFound(String),

    /// No shell with this id.
    #[error("no shell with id {0:?}")]
    ShellNotFound(String),

    /// No sudo password is known for the session.
    #[error("no sudo password is known for this session")]
    NoSudoPassword,

    /// sudo did not run the command.
    #[error("{0}")]
    Sudo(String),

    /// A local I/O operation failed.
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

/// Why a private key file could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyProblem {
    /// Missing, unreadable, not a regular file, or not a private key: deliberately one
    /// answer, so that the error says nothing about files that are not keys.
    #[error("not a readable private key")]
    NotAKey,
    #[error("key is encrypted and no passphrase was given")]
    Encrypted,
    #[error("wrong passphrase")]
    WrongPassphrase,
}

/// Which secret authentication lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MissingSecret {
    /// The account's password (password or keyboard-interactive authentication).
    Password,
    /// The passphrase of this encrypted key file.
    Passphrase(PathBuf),
}

/// Why a secret asked for on a one-time page did not arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotGiven {
    #[error("the user declined")]
    Declined,
    #[error("the user cancelled")]
    Cancelled,
    #[error("the link expired before the secret was typed")]
    Expired,
    #[error("the call was cancelled")]
    CallCancelled,
}

impl From<russh::Error> for Error {
    fn from(e: russh::Error) -> Self {
        Error::Ssh(e)
    }
}

impl Error {
    /// Builds an [`Error::Io`] with a short description of what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The error of a retry's attempt: a connection found closed again is then final.
    pub fn on_retry(self) -> Self {
        match self {
            Error::ClosedBeforeStart { reason } => Error::SessionClosed { reason },
            other => other,
        }
    }

    /// The full chain of causes, `": "`-joined, as one line.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cur = std::error::Error::source(self);
        while let Some(e) = cur {
            let s = e.to_string();
            if !s.is_empty() && !out.contains(&s) {
                out.push_str(": ");
                out.push_str(&s);
            }
            cur = e.source();
        }
        out
    }
}
