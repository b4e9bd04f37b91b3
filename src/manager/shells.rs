//! Interactive shells: each belongs to a session (and its owner), counts against the
//! session's `max_shells` until closed (an ended one still holds its screen and output),
//! and ends with the session, on `ssh_shell_close`, or when unused for the idle timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use futures::future::BoxFuture;

use super::access::{SessionOp, Used};
use super::{Entry, SessionManager};
use crate::error::{Error, Result};
use crate::ids::random_id;
use crate::ssh::exec::Exit;
use crate::ssh::pty::{Pty, PtyRequest};
use crate::ssh::session::Session;

/// One open shell.
pub struct Shell {
    pub id: String,
    pub session_id: String,
    pub owner: Option<String>,
    /// The command it runs instead of the login shell.
    pub command: Option<String>,
    pub started_at: SystemTime,
    pub pty: Pty,
    /// When a tool last used it, for the idle timeout.
    last_used: Mutex<Instant>,
    /// What was typed on the current line so far, for the command policy.
    pub typed_line: Mutex<String>,
}

impl Shell {
    pub fn touch(&self) {
        if let Ok(mut t) = self.last_used.lock() {
            *t = Instant::now();
        }
    }

    fn idle_for(&self) -> Duration {
        self.last_used
            .lock()
            .map(|t| t.elapsed())
            .unwrap_or_default()
    }
}

/// The shells of every session.
#[derive(Default)]
pub struct Shells {
    all: RwLock<HashMap<String, Arc<Shell>>>,
}

impl std::fmt::Debug for Shells {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shells").finish_non_exhaustive()
    }
}

impl Shells {
    /// The shell `id`, if `owner` opened it (another owner's is reported as not found).
    pub fn get(&self, id: &str, owner: Option<&str>) -> Result<Arc<Shell>> {
        self.read()
            .get(id.trim())
            .filter(|s| s.owner.as_deref() == owner)
            .cloned()
            .ok_or_else(|| Error::ShellNotFound(id.to_string()))
    }

    /// The shells of a session, oldest first.
    pub fn of_session(&self, session_id: &str) -> Vec<Arc<Shell>> {
        let mut list: Vec<_> = self
            .read()
            .values()
            .filter(|s| s.session_id == session_id)
            .cloned()
            .collect();
        list.sort_by_key(|s| s.started_at);
        list
    }

    /// Ends and forgets the shell `id`; how it ended.
    pub async fn close(&self, id: &str, owner: Option<&str>) -> Result<Option<Exit>> {
        let shell = self.get(id, owner)?;
        self.write().remove(&shell.id);
        let exit = shell.pty.close().await;
        tracing::info!(shell_id = %shell.id, session_id = %shell.session_id, "shell closed");
        Ok(exit)
    }

    /// Ends the shells of a closing session.
    pub async fn session_closed(&self, session_id: &str) {
        let gone: Vec<Arc<Shell>> = {
            let mut all = self.write();
            let ids: Vec<String> = all
                .values()
                .filter(|s| s.session_id == session_id)
                .map(|s| s.id.clone())
                .collect();
            ids.iter().filter_map(|id| all.remove(id)).collect()
        };
        futures::future::join_all(gone.iter().map(|s| s.pty.close())).await;
    }

    /// Ends the shells unused for `limit`.
    pub async fn close_idle(&self, limit: Duration) {
        let idle: Vec<Arc<Shell>> = {
            let mut all = self.write();
            let ids: Vec<String> = all
                .values()
                .filter(|s| s.idle_for() >= limit)
                .map(|s| s.id.clone())
                .collect();
            ids.iter().filter_map(|id| all.remove(id)).collect()
        };
        for s in &idle {
            tracing::info!(shell_id = %s.id, "closing idle shell");
        }
        futures::future::join_all(idle.iter().map(|s| s.pty.close())).await;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Shell>>> {
        self.all.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Shell>>> {
        self.all.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl SessionManager {
    /// Opens a shell on the session `id` that `owner` opened.
    pub async fn open_shell(
        &self,
        id: &str,
        owner: Option<&str>,
        req: PtyRequest,
    ) -> Result<Used<Arc<Shell>>> {
        let mut op = OpenShell { manager: self, req };
        self.with_session(id, owner, &mut op).await
    }

    /// The shell `id` of `owner`, marking it and its session used.
    pub fn shell(&self, id: &str, owner: Option<&str>) -> Result<Arc<Shell>> {
        let shell = self.shells.get(id, owner)?;
        shell.touch();
        if let Ok(entry) = self.get(&shell.session_id, owner) {
            entry.touch();
        }
        Ok(shell)
    }
}

/// Opens a shell and registers it, within the session's `max_shells`.
struct OpenShell<'m> {
    manager: &'m SessionManager,
    req: PtyRequest,
}

impl SessionOp for OpenShell<'_> {
    type Output = Arc<Shell>;

    fn run<'a>(
        &'a mut self,
        entry: &'a Arc<Entry>,
        session: Arc<Session>,
    ) -> BoxFuture<'a, Result<Arc<Shell>>> {
        Box::pin(async move {
            let max = self.manager.settings().max_shells_per_session;
            let open = self.manager.shells.of_session(&entry.id).len();
            if open >= max {
                return Err(Error::Limit(format!(
                    "{max} shells are open on this session, the most this server allows; ssh_shell_close one first"
                )));
            }
            let pty = Pty::open(&session, self.req.clone()).await?;
            // The sudo password is scrubbed from the output from the start.
            if let Ok(Some(secret)) = entry.sudo_secret() {
                pty.terminal().add_secret(&secret);
            }
            let shell = Arc::new(Shell {
                id: random_id(12)?,
                session_id: entry.id.clone(),
                owner: entry.owner.clone(),
                command: self.req.command.clone(),
                started_at: SystemTime::now(),
                pty,
                last_used: Mutex::new(Instant::now()),
                typed_line: Mutex::new(String::new()),
            });
            let registered = {
                let mut all = self.manager.shells.write();
                let room = all.values().filter(|s| s.session_id == entry.id).count() < max;
                if room {
                    all.insert(shell.id.clone(), shell.clone());
                }
                room
            };
            if !registered {
                shell.pty.close().await;
                return Err(Error::Limit(format!(
                    "{max} shells are open on this session, the most this server allows"
                )));
            }
            tracing::info!(shell_id = %shell.id, session_id = %entry.id, "shell opened");
            Ok(shell)
        })
    }
}
