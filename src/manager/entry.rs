//! One open session and what hangs off it: the connection (replaced when it dies), how it
//! was opened, its command budget and its forwards.

#[cfg(feature = "port_forward")]
use std::sync::Mutex;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::file::HostEntry;
use crate::error::{Error, Result};
use crate::manager::SessionManager;
use crate::secret::Secret;
#[cfg(feature = "port_forward")]
use crate::ssh::forward::Forward;
use crate::ssh::session::{ConnectRequest, Session};

/// One open session and what hangs off it.
#[derive(Debug)]
pub struct Entry {
    pub id: String,
    /// Who opened the session (the HTTP token's name); only they may see or use it.
    pub owner: Option<String>,
    /// The live connection; replaced when a dead one is reconnected.
    pub(super) session: RwLock<Arc<Session>>,
    /// How the session was opened, kept (secrets included, redacted in Debug) to reconnect.
    pub(super) request: ConnectRequest,
    /// Serialises reconnects so concurrent calls on a dead session make one new connection.
    pub(super) reconnecting: tokio::sync::Mutex<()>,
    /// Times this session was reconnected.
    pub reconnects: AtomicU32,
    /// When a tool last used this session, for the idle timeout.
    pub(super) last_used: RwLock<Instant>,
    /// Budget of commands running or waiting for a channel; past it calls are refused.
    pub(super) commands: Arc<Semaphore>,
    /// The named host the session was opened with, for its sudo password settings.
    pub(super) host: Option<HostEntry>,
    /// A sudo password the user typed for this session (none configured or logged in with).
    pub(super) sudo_typed: RwLock<Option<Secret>>,
    /// Forwards started on this session; they stop when it closes.
    #[cfg(feature = "port_forward")]
    pub forwards: Mutex<Vec<Arc<Forward>>>,
}

impl Entry {
    /// The current connection (possibly dead; see [`super::SessionManager::with_session`]).
    pub fn session(&self) -> Arc<Session> {
        self.session
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    pub(super) fn touch(&self) {
        if let Ok(mut t) = self.last_used.write() {
            *t = Instant::now();
        }
    }

    pub(super) fn idle_for(&self) -> Duration {
        self.last_used
            .read()
            .map(|t| t.elapsed())
            .unwrap_or_default()
    }

    /// The named host or ssh client config alias the session was opened with, if any.
    pub fn name(&self) -> Option<&str> {
        self.request.name.as_deref()
    }

    /// How the session authenticated, for the model: a named host's key is the
    /// operator's, and its file path is not shown.
    pub fn auth_method(&self) -> String {
        let method = self.session().info.auth_method.clone();
        if self.request.named_host && method.starts_with("key ") {
            "named host key".into()
        } else {
            method
        }
    }

    /// The password sudo asks for: the named host's `sudo_password_env` or
    /// `sudo_password_file`, else the password the session logged in with, else one the
    /// user typed for it; `None` when none is known. The one place this is decided (shells,
    /// `sudo: true` and whatever else types it ask here).
    pub fn sudo_secret(&self) -> Result<Option<Secret>> {
        if let Some(pw) = sudo_secret_of(self.host.as_ref(), &self.request)? {
            return Ok(Some(pw));
        }
        Ok(self
            .sudo_typed
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone()))
    }

    /// Forgets a typed sudo password (sudo refused it): the next call asks again.
    pub fn forget_typed_sudo_secret(&self) {
        let mut typed = self.sudo_typed.write().unwrap_or_else(|p| p.into_inner());
        *typed = None;
    }

    /// [`Self::sudo_secret`], where none known is an error saying how to configure one.
    pub fn require_sudo_secret(&self) -> Result<Secret> {
        self.sudo_secret()?.ok_or(Error::NoSudoPassword)
    }

    /// Reserves a slot for one command, or refuses when the session is saturated.
    pub fn command_slot(&self) -> Result<OwnedSemaphorePermit> {
        self.commands.clone().try_acquire_owned().map_err(|_| {
            Error::Limit(format!(
                "too many commands are running or queued on session {}",
                self.id
            ))
        })
    }

    #[cfg(feature = "port_forward")]
    pub(super) fn has_active_forwards(&self) -> bool {
        self.forwards
            .lock()
            .map(|f| f.iter().any(|f| f.is_active()))
            .unwrap_or(false)
    }

    #[cfg(not(feature = "port_forward"))]
    pub(super) fn has_active_forwards(&self) -> bool {
        false
    }
}

/// The sudo password configured for a named host (`sudo_password_env`,
/// `sudo_password_file`), else the password `request` logs in with.
pub fn sudo_secret_of(
    host: Option<&HostEntry>,
    request: &ConnectRequest,
) -> Result<Option<Secret>> {
    if let Some(pw) = host.map(HostEntry::sudo_password).transpose()?.flatten() {
        return Ok(Some(pw));
    }
    Ok(request
        .credentials
        .password
        .clone()
        .filter(|p| !p.is_empty()))
}

impl SessionManager {
    /// Keeps a sudo password the user typed with `entry`'s session (gone with it), and
    /// scrubs it from the output of the session's shells from now on.
    pub fn keep_sudo_secret(&self, entry: &Entry, secret: &Secret) {
        if secret.is_empty() {
            return;
        }
        for shell in self.shells.of_session(&entry.id) {
            shell.pty.terminal().add_secret(secret);
        }
        let mut typed = entry.sudo_typed.write().unwrap_or_else(|p| p.into_inner());
        *typed = Some(secret.clone());
    }
}
