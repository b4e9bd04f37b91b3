//! The registry of open SSH sessions.
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

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

pub mod jobs;

use crate::config::settings::Settings;
use crate::error::{Error, Result};
use crate::ids::random_id;
use crate::manager::jobs::Jobs;
#[cfg(feature = "port_forward")]
use crate::ssh::forward::Forward;

/// What forward to start.
#[cfg(feature = "port_forward")]
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
        local_addrs: Vec<std::net::SocketAddr>,
    },
    /// `ssh -D 127.0.0.1:local_port`.
    Dynamic { local_port: u16 },
}
use crate::ssh::exec::{self, ExecRequest, Exit, OutputSink};
use crate::ssh::session::{ConnectRequest, Session};
use crate::ssh::sftp;

/// One open session and what hangs off it.
#[derive(Debug)]
pub struct Entry {
    pub id: String,
    /// Who opened the session (the HTTP token's name); only they may see or use it.
    pub owner: Option<String>,
    /// The live connection; replaced when a dead one is reconnected.
    session: RwLock<Arc<Session>>,
    /// How the session was opened, kept (secrets included, redacted in Debug) to reconnect.
    request: ConnectRequest,
    /// Serialises reconnects so concurrent calls on a dead session make one new connection.
    reconnecting: tokio::sync::Mutex<()>,
    /// Times this session was reconnected.
    pub reconnects: AtomicU32,
    /// When a tool last used this session, for the idle timeout.
    last_used: RwLock<Instant>,
    /// Budget of commands running or waiting for a channel; past it calls are refused.
    commands: Arc<Semaphore>,
    /// Forwards started on this session; they stop when it closes.
    #[cfg(feature = "port_forward")]
    pub forwards: Mutex<Vec<Arc<Forward>>>,
}

impl Entry {
    /// The current connection (possibly dead; see [`SessionManager::session_for_use`]).
    pub fn session(&self) -> Arc<Session> {
        self.session
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    fn touch(&self) {
        if let Ok(mut t) = self.last_used.write() {
            *t = Instant::now();
        }
    }

    fn idle_for(&self) -> Duration {
        self.last_used
            .read()
            .map(|t| t.elapsed())
            .unwrap_or_default()
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
    fn has_active_forwards(&self) -> bool {
        self.forwards
            .lock()
            .map(|f| f.iter().any(|f| f.is_active()))
            .unwrap_or(false)
    }

    #[cfg(not(feature = "port_forward"))]
    fn has_active_forwards(&self) -> bool {
        false
    }
}

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

    /// The session with this id and a live connection to it: a dead connection is
    /// reconnected first. The flag tells whether that happened.
    pub async fn session_for_use(
        &self,
        id: &str,
        owner: Option<&str>,
    ) -> Result<(Arc<Entry>, Arc<Session>, bool)> {
        let entry = self.get(id, owner)?;
        entry.touch();
        let current = entry.session();
        if !current.is_closed() {
            return Ok((entry, current, false));
        }
        let fresh = self.reconnect(&entry).await?;
        Ok((entry, fresh.0, fresh.1))
    }

    /// Like [`Self::session_for_use`], with the session's SFTP channel open: a connection
    /// found closed while opening it is replaced once (nothing was done on it yet). The
    /// flag tells whether the session was reconnected.
    pub async fn sftp_session_for_use(
        &self,
        id: &str,
        owner: Option<&str>,
    ) -> Result<(Arc<Session>, bool)> {
        let (entry, session, reconnected) = self.session_for_use(id, owner).await?;
        match sftp::open(&session).await {
            Ok(_) => Ok((session, reconnected)),
            Err(Error::ClosedBeforeStart { .. }) => {
                let (fresh, _) = self.reconnect(&entry).await?;
                sftp::open(&fresh).await.map_err(Error::on_retry)?;
                Ok((fresh, true))
            }
            Err(e) => Err(e),
        }
    }

    /// Runs a command on `session`, the current connection of `entry`. A connection found
    /// closed before the command was sent ([`Error::ClosedBeforeStart`]: nothing ran) is
    /// replaced and the command runs on the new one: a server may close the connection right
    /// after a command (tinysshd serves one channel per connection), or it may have died
    /// since the last call. The flag tells whether a reconnect happened.
    pub async fn run_command(
        &self,
        entry: &Entry,
        session: Arc<Session>,
        req: ExecRequest,
        sink: &mut dyn OutputSink,
        cancel: &CancellationToken,
    ) -> Result<(Exit, bool)> {
        match exec::run(&session, req.clone(), sink, cancel).await {
            Err(Error::ClosedBeforeStart { reason }) => {
                tracing::debug!(session_id = %entry.id, %reason, "connection closed before the command started; reconnecting");
                let (fresh, _) = self.reconnect(entry).await?;
                let exit = exec::run(&fresh, req, sink, cancel)
                    .await
                    .map_err(Error::on_retry)?;
                Ok((exit, true))
            }
            other => other.map(|exit| (exit, false)),
        }
    }

    /// Re-establishes a dead connection (once, however many calls wait for it). Returns the
    /// live session and whether this call had to wait for a reconnect.
    async fn reconnect(&self, entry: &Entry) -> Result<(Arc<Session>, bool)> {
        let _guard = entry.reconnecting.lock().await;
        let current = entry.session();
        if !current.is_closed() {
            return Ok((current, true));
        }
        let why = current
            .death_reason()
            .unwrap_or_else(|| "the connection was lost".into());
        tracing::info!(session_id = %entry.id, reason = %why, "reconnecting");
        let fresh = Session::connect(&entry.request, &self.settings)
            .await
            .map_err(|e| Error::SessionClosed {
                reason: format!("{why}; reconnecting failed: {}", e.chain()),
            })?;
        // An upload that ended with the old connection, after this point, leaves its
        // temporary file on the old session's list; such a race is rare and costs a file.
        current.leftovers().move_to(fresh.leftovers());
        if let Ok(mut slot) = entry.session.write() {
            *slot = fresh.clone();
        }
        entry.reconnects.fetch_add(1, Ordering::Relaxed);
        Ok((fresh, true))
    }

    /// Closes and forgets a session, with its channels, forwards and jobs.
    pub async fn disconnect(&self, id: &str, owner: Option<&str>) -> Result<()> {
        self.get(id, owner)?;
        let entry = self
            .write()
            .remove(id.trim())
            .ok_or_else(|| Error::SessionNotFound(id.to_string()))?;
        self.jobs.session_closed(&entry.id);
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
        futures::future::join_all(all.iter().map(|e| async move { e.session().close().await }))
            .await;
        if n > 0 {
            tracing::info!(sessions = n, "closed all sessions");
        }
    }

    /// Starts a forward on a session.
    #[cfg(feature = "port_forward")]
    pub async fn forward(
        &self,
        id: &str,
        owner: Option<&str>,
        spec: ForwardSpec,
    ) -> Result<Arc<Forward>> {
        let (entry, session, _) = self.session_for_use(id, owner).await?;
        let max = self.settings.policy.max_forwards();
        let active = entry
            .forwards
            .lock()
            .map(|list| list.iter().filter(|f| f.is_active()).count())
            .unwrap_or(0);
        if active >= max {
            return Err(Error::Limit(format!(
                "session {} already runs {active} forwards, the most this server allows; close one with ssh_forward_close",
                entry.id
            )));
        }
        let fid = format!("fwd-{}", random_id(8)?);
        let fwd = Arc::new(match spec {
            ForwardSpec::Local {
                local_port,
                remote_host,
                remote_port,
            } => Forward::start_local(session, fid, local_port, remote_host, remote_port).await?,
            ForwardSpec::Dynamic { local_port } => {
                let allowed = self.settings.policy.allowed_hosts().clone();
                Forward::start_dynamic(session, fid, local_port, allowed).await?
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
        Ok(fwd)
    }

    /// Stops one forward of a session `owner` opened.
    #[cfg(feature = "port_forward")]
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

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Entry>>> {
        self.sessions.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Entry>>> {
        self.sessions.write().unwrap_or_else(|p| p.into_inner())
    }
}
