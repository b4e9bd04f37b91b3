//! The registry of open SSH sessions.
//!
//! Sessions are our own state, keyed by an unguessable id we hand to the client; they never
//! depend on the MCP transport session, so they survive reconnects of the client and work
//! the same under stateless MCP (2026-07-28).

use std::collections::HashMap;
#[cfg(feature = "port_forward")]
use std::sync::Mutex;
use std::sync::{Arc, RwLock};

use crate::error::{Error, Result};
use crate::settings::Settings;
#[cfg(feature = "port_forward")]
use crate::ssh::forward::Forward;
use crate::ssh::session::{ConnectRequest, Session};

/// One open session and what hangs off it.
#[derive(Debug)]
pub struct Entry {
    pub id: String,
    pub session: Arc<Session>,
    /// Forwards started on this session; they stop when it closes.
    #[cfg(feature = "port_forward")]
    pub forwards: Mutex<Vec<Arc<Forward>>>,
}

/// All sessions of this server process.
#[derive(Debug)]
pub struct SessionManager {
    settings: Settings,
    sessions: RwLock<HashMap<String, Arc<Entry>>>,
}

impl SessionManager {
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            sessions: RwLock::new(HashMap::new()),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Connects and registers a new session.
    pub async fn connect(&self, req: &ConnectRequest) -> Result<Arc<Entry>> {
        let session = Session::connect(req, &self.settings).await?;
        let entry = Arc::new(Entry {
            id: random_id(16)?,
            session: Arc::new(session),
            #[cfg(feature = "port_forward")]
            forwards: Mutex::new(Vec::new()),
        });
        self.write().insert(entry.id.clone(), entry.clone());
        tracing::info!(
            session_id = %entry.id,
            address = %req.address,
            user = %req.username,
            auth = %entry.session.info.auth_method,
            "session opened"
        );
        Ok(entry)
    }

    /// The session with this id.
    pub fn get(&self, id: &str) -> Result<Arc<Entry>> {
        self.read()
            .get(id.trim())
            .cloned()
            .ok_or_else(|| Error::SessionNotFound(id.to_string()))
    }

    /// Closes and forgets a session, with its channels and forwards.
    pub async fn disconnect(&self, id: &str) -> Result<()> {
        let entry = self
            .write()
            .remove(id.trim())
            .ok_or_else(|| Error::SessionNotFound(id.to_string()))?;
        entry.session.close().await;
        tracing::info!(session_id = %entry.id, "session closed");
        Ok(())
    }

    /// Every registered session, oldest first.
    pub fn list(&self) -> Vec<Arc<Entry>> {
        let mut all: Vec<_> = self.read().values().cloned().collect();
        all.sort_by_key(|e| e.session.info.connected_at);
        all
    }

    /// Closes every session (server shutdown).
    pub async fn shutdown(&self) {
        let all: Vec<_> = self.write().drain().map(|(_, e)| e).collect();
        let n = all.len();
        futures::future::join_all(all.iter().map(|e| e.session.close())).await;
        if n > 0 {
            tracing::info!(sessions = n, "closed all sessions");
        }
    }

    /// Starts a local forward on a session.
    #[cfg(feature = "port_forward")]
    pub async fn forward_local(
        &self,
        id: &str,
        local_port: u16,
        remote_host: String,
        remote_port: u16,
    ) -> Result<Arc<Forward>> {
        let entry = self.get(id)?;
        if entry.session.is_closed() {
            return Err(Error::SessionClosed(entry.id.clone()));
        }
        let fwd = Arc::new(
            Forward::start(
                entry.session.clone(),
                format!("fwd-{}", random_id(8)?),
                local_port,
                remote_host,
                remote_port,
            )
            .await?,
        );
        if let Ok(mut list) = entry.forwards.lock() {
            list.push(fwd.clone());
        }
        Ok(fwd)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Entry>>> {
        self.sessions.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Entry>>> {
        self.sessions.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// `bytes` random bytes from the OS, as lowercase hex.
pub fn random_id(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| {
        Error::io(
            "reading the OS random generator",
            std::io::Error::other(e.to_string()),
        )
    })?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
