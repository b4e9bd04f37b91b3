//! The registry of open SSH sessions, and the one way to reach them ([`access`]).
//!
//! Sessions are our own state, keyed by an unguessable id we hand to the client; they never
//! depend on the MCP transport session, so they survive reconnects of the client and work
//! the same under stateless MCP (2026-07-28). A session whose connection died is
//! reconnected on its next use with the credentials it was opened with; sessions unused for
//! the idle timeout are closed by [`SessionManager::reap_idle`].

use std::collections::HashMap;
#[cfg(feature = "port_forward")]
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

pub mod access;
mod entry;
#[cfg(feature = "port_forward")]
pub mod forwards;
pub mod job;
pub mod jobs;
pub mod shells;

pub use access::{OpenSftp, RunCommand, SessionOp, Used};
pub use entry::{Entry, sudo_secret_of};
#[cfg(feature = "port_forward")]
pub use forwards::ForwardSpec;

use crate::config::settings::Settings;
use crate::error::{Error, Result};
use crate::ids::random_id;
use crate::manager::jobs::Jobs;
use crate::manager::shells::Shells;
use crate::ssh::session::{ConnectRequest, Session};

/// All sessions of this server process.
#[derive(Debug)]
pub struct SessionManager {
    settings: Settings,
    sessions: RwLock<HashMap<String, Arc<Entry>>>,
    /// Connects under way, each holding one of the `max_sessions` places until its session
    /// is registered or it fails: the cap is checked before the slow connect, so without
    /// them concurrent connects would all pass it.
    connecting: AtomicUsize,
    /// Background jobs of every session.
    pub jobs: Jobs,
    /// Interactive shells of every session.
    pub shells: Shells,
}

/// One reserved place under `max_sessions` while a connect is under way; given back when
/// dropped, which also covers a connect that failed or whose call was cancelled.
struct Reservation<'a>(&'a AtomicUsize);

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl SessionManager {
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            sessions: RwLock::new(HashMap::new()),
            connecting: AtomicUsize::new(0),
            jobs: Jobs::default(),
            shells: Shells::default(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Connects and registers a new session. A place under `max_sessions` is reserved
    /// before connecting (open sessions and connects under way count alike, checked and
    /// taken under the registry's lock) and given back if the connect fails.
    pub async fn connect(&self, req: &ConnectRequest, owner: Option<&str>) -> Result<Arc<Entry>> {
        let reservation = {
            let open = self.write();
            if open.len() + self.connecting.load(Ordering::SeqCst) >= self.settings.max_sessions {
                return Err(Error::Limit(format!(
                    "{} sessions are open or opening, the most this server allows; ssh_disconnect one first",
                    self.settings.max_sessions
                )));
            }
            self.connecting.fetch_add(1, Ordering::SeqCst);
            Reservation(&self.connecting)
        };
        let session = Session::connect(req, &self.settings).await?;
        let entry = Arc::new(Entry {
            id: random_id(16)?,
            owner: owner.map(String::from),
            session: RwLock::new(session),
            request: req.clone(),
            reconnecting: tokio::sync::Mutex::new(()),
            reconnects: AtomicU32::new(0),
            last_used: RwLock::new(Instant::now()),
            commands: Arc::new(Semaphore::new(self.settings.max_commands_per_session)),
            host: req
                .name
                .as_ref()
                .filter(|_| req.named_host)
                .and_then(|n| self.settings.hosts.get(n))
                .cloned(),
            sudo_typed: RwLock::new(None),
            #[cfg(feature = "port_forward")]
            forwards: Mutex::new(Vec::new()),
        });
        {
            // The place passes from the reservation to the registered session at once.
            let mut open = self.write();
            open.insert(entry.id.clone(), entry.clone());
            drop(reservation);
        }
        let info = &entry.session().info;
        tracing::info!(
            session_id = %entry.id,
            address = %info.address,
            user = %info.username,
            auth = %info.auth_method,
            "session opened"
        );
        Ok(entry)
    }

    /// The session with this id, if `owner` opened it (another owner's session is
    /// reported as not found, so ids cannot be probed).
    pub fn get(&self, id: &str, owner: Option<&str>) -> Result<Arc<Entry>> {
        self.read()
            .get(id.trim())
            .filter(|e| e.owner.as_deref() == owner)
            .cloned()
            .ok_or_else(|| Error::SessionNotFound(id.to_string()))
    }

    /// The oldest session `owner` opened to the named host `name`, if any.
    pub fn named_session(&self, name: &str, owner: Option<&str>) -> Option<Arc<Entry>> {
        self.list(owner)
            .into_iter()
            .find(|e| e.request.named_host && e.name() == Some(name))
    }

    /// Closes and forgets a session, with its channels, forwards and jobs.
    pub async fn disconnect(&self, id: &str, owner: Option<&str>) -> Result<()> {
        self.get(id, owner)?;
        let entry = self
            .write()
            .remove(id.trim())
            .ok_or_else(|| Error::SessionNotFound(id.to_string()))?;
        self.jobs.session_closed(&entry.id);
        self.shells.session_closed(&entry.id).await;
        entry.session().close().await;
        tracing::info!(session_id = %entry.id, "session closed");
        Ok(())
    }

    /// The sessions `owner` opened, oldest first.
    pub fn list(&self, owner: Option<&str>) -> Vec<Arc<Entry>> {
        let mut all: Vec<_> = self
            .read()
            .values()
            .filter(|e| e.owner.as_deref() == owner)
            .cloned()
            .collect();
        all.sort_by_key(|e| e.session().info.connected_at);
        all
    }

    /// Closes sessions unused for the idle timeout that run no job and no forward.
    pub async fn reap_idle(&self) {
        let Some(limit) = self.settings.idle_timeout else {
            return;
        };
        self.shells.close_idle(limit).await;
        let idle: Vec<(String, Option<String>)> = self
            .read()
            .values()
            .filter(|e| e.idle_for() >= limit)
            .filter(|e| !e.has_active_forwards() && !self.jobs.has_running(&e.id))
            .map(|e| (e.id.clone(), e.owner.clone()))
            .collect();
        for (id, owner) in idle {
            tracing::info!(session_id = %id, "closing idle session");
            let _ = self.disconnect(&id, owner.as_deref()).await;
        }
    }

    /// Runs [`Self::reap_idle`] periodically until `shutdown`.
    pub fn spawn_reaper(self: &Arc<Self>, shutdown: CancellationToken) {
        let Some(limit) = self.settings.idle_timeout else {
            return;
        };
        let every = (limit / 4).clamp(Duration::from_millis(200), Duration::from_secs(30));
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => match weak.upgrade() {
                        Some(m) => m.reap_idle().await,
                        None => break,
                    },
                }
            }
        });
    }

    /// Closes every session (server shutdown).
    pub async fn shutdown(&self) {
        let all: Vec<_> = self.write().drain().map(|(_, e)| e).collect();
        let n = all.len();
        for e in &all {
            self.jobs.session_closed(&e.id);
        }
        futures::future::join_all(all.iter().map(|e| self.shells.session_closed(&e.id))).await;
        futures::future::join_all(all.iter().map(|e| async move { e.session().close().await }))
            .await;
        if n > 0 {
            tracing::info!(sessions = n, "closed all sessions");
        }
    }

    /// Whether the session `id` is still registered (not disconnected).
    fn is_open(&self, id: &str) -> bool {
        self.read().contains_key(id)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Entry>>> {
        self.sessions.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Entry>>> {
        self.sessions.write().unwrap_or_else(|p| p.into_inner())
    }
}
