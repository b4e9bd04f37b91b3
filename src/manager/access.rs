//! The one way to reach a session: [`SessionManager::with_session`] finds the caller's
//! session, reconnects a dead connection, runs an operation on the live one, and applies
//! the one retry policy. Commands, jobs, SFTP and forwards all come through here.
//!
//! The retry policy: an operation that reports [`Error::ClosedBeforeStart`] did nothing on
//! a connection that turned out to be closed (a server may close it right after a command:
//! tinysshd serves one channel per connection), so it runs once more on a new connection;
//! one that reports [`Error::DroppedBeforeStart`] had its channel closed by the server
//! before anything started (Dropbear does so under load), so it runs again on the same
//! connection, a few times, with backoff.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use super::jobs::{Job, JobMeta, Runner};
use super::{Entry, SessionManager};
use crate::error::{Error, Result};
use crate::ssh::exec::{self, ExecRequest, Exit, OutputSink};
use crate::ssh::session::Session;
use crate::ssh::sftp;

/// Times an operation runs again after the server dropped its channel before it started.
const DROPPED_RETRIES: u32 = 8;

/// Something done on a session's live connection through [`SessionManager::with_session`].
/// It may run more than once (see the module's retry policy), so it must report
/// [`Error::ClosedBeforeStart`] or [`Error::DroppedBeforeStart`] only when it did nothing.
pub trait SessionOp: Send {
    type Output: Send;

    fn run<'a>(
        &'a mut self,
        entry: &'a Arc<Entry>,
        session: Arc<Session>,
    ) -> BoxFuture<'a, Result<Self::Output>>;
}

/// What [`SessionManager::with_session`] gives back: the operation's value, the connection
/// it ran on, and whether the session had to be reconnected first.
pub struct Used<T> {
    pub value: T,
    pub session: Arc<Session>,
    pub reconnected: bool,
}

impl SessionManager {
    /// Runs `op` on the live connection of the session `id` that `owner` opened (another
    /// owner's session is reported as not found), reconnecting a dead connection first
    /// and retrying as the module's policy says.
    pub async fn with_session<O: SessionOp>(
        &self,
        id: &str,
        owner: Option<&str>,
        op: &mut O,
    ) -> Result<Used<O::Output>> {
        let entry = self.get(id, owner)?;
        entry.touch();
        let mut session = entry.session();
        let mut reconnected = false;
        if session.is_closed() {
            session = self.reconnect(&entry).await?;
            reconnected = true;
        }
        let mut replaced = false;
        let mut dropped = 0;
        let mut backoff = Duration::from_millis(20);
        loop {
            match op.run(&entry, session.clone()).await {
                Ok(value) => {
                    return Ok(Used {
                        value,
                        session,
                        reconnected,
                    });
                }
                Err(Error::ClosedBeforeStart { reason }) if !replaced => {
                    tracing::debug!(session_id = %entry.id, %reason, "connection closed before anything started; reconnecting");
                    session = self.reconnect(&entry).await?;
                    replaced = true;
                    reconnected = true;
                }
                Err(Error::DroppedBeforeStart) if dropped < DROPPED_RETRIES => {
                    tracing::debug!(session_id = %entry.id, "the server dropped the channel before starting; retrying");
                    dropped += 1;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
                Err(Error::DroppedBeforeStart) => {
                    return Err(Error::ChannelOpen(
                        "the server kept closing the channel before starting the command".into(),
                    ));
                }
                Err(e) => return Err(e.on_retry()),
            }
        }
    }

    /// Re-establishes a dead connection (once, however many calls wait for it) and
    /// returns the live one.
    async fn reconnect(&self, entry: &Entry) -> Result<Arc<Session>> {
        let _guard = entry.reconnecting.lock().await;
        let current = entry.session();
        if !current.is_closed() {
            return Ok(current);
        }
        // A session disconnected while this call was under way stays closed.
        if !self.is_open(&entry.id) {
            return Err(Error::SessionClosed {
                reason: "the session was disconnected".into(),
            });
        }
        let why = current
            .death_reason()
            .unwrap_or_else(|| "the connection was lost".into());
        tracing::info!(session_id = %entry.id, reason = %why, "reconnecting");
        let fresh = Session::connect(&entry.request, self.settings())
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
        Ok(fresh)
    }
}

/// Runs one command, holding a place in the session's command budget while it runs.
pub struct RunCommand<'s> {
    pub req: ExecRequest,
    pub sink: &'s mut dyn OutputSink,
    pub cancel: &'s CancellationToken,
    /// The command's place in the budget: taken on the first attempt unless given.
    pub slot: Option<OwnedSemaphorePermit>,
}

impl SessionOp for RunCommand<'_> {
    type Output = Exit;

    fn run<'a>(
        &'a mut self,
        entry: &'a Arc<Entry>,
        session: Arc<Session>,
    ) -> BoxFuture<'a, Result<Exit>> {
        Box::pin(async move {
            if self.slot.is_none() {
                self.slot = Some(entry.command_slot()?);
            }
            exec::run(&session, self.req.clone(), &mut *self.sink, self.cancel).await
        })
    }
}

/// Opens the session's SFTP channel (removing leftover temporary files first); the
/// transfer then runs on [`Used::session`]. A transfer is not repeated: once bytes have
/// moved, a failure is the call's answer.
pub struct OpenSftp;

impl SessionOp for OpenSftp {
    type Output = ();

    fn run<'a>(
        &'a mut self,
        _: &'a Arc<Entry>,
        session: Arc<Session>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { sftp::open(&session).await.map(|_| ()) })
    }
}

impl SessionManager {
    /// Starts `req` as a background job on the session `id` that `owner` opened, keeping
    /// `limit` bytes per stream between reads (see [`super::jobs`]).
    /// `follow`: a job the caller will read with `ssh_job` (a background job), which keeps
    /// its output since the start too and counts against the caller's output budget.
    pub async fn start_job(
        self: &Arc<Self>,
        id: &str,
        owner: Option<&str>,
        req: ExecRequest,
        shown: String,
        limit: usize,
        follow: bool,
    ) -> Result<Used<Arc<Job>>> {
        let mut op = StartJob {
            manager: self.clone(),
            req,
            shown,
            limit,
            follow,
        };
        self.with_session(id, owner, &mut op).await
    }
}

/// Takes a place in the session's command budget and starts a job that runs the command
/// through [`SessionManager::with_session`] (so a job gets the same retries as a
/// foreground command).
struct StartJob {
    manager: Arc<SessionManager>,
    req: ExecRequest,
    /// The command as the caller gave it, for listings (not the sudo wrapper around it).
    shown: String,
    limit: usize,
    follow: bool,
}

impl SessionOp for StartJob {
    type Output = Arc<Job>;

    fn run<'a>(
        &'a mut self,
        entry: &'a Arc<Entry>,
        _: Arc<Session>,
    ) -> BoxFuture<'a, Result<Arc<Job>>> {
        Box::pin(async move {
            let slot = entry.command_slot()?;
            let meta = JobMeta {
                session_id: entry.id.clone(),
                owner: entry.owner.clone(),
                command: self.shown.clone(),
                keep_all: self.follow,
            };
            let (manager, req) = (self.manager.clone(), self.req.clone());
            let (id, owner) = (entry.id.clone(), entry.owner.clone());
            let runner: Runner = Box::new(move |mut sink, cancel| {
                Box::pin(async move {
                    let mut op = RunCommand {
                        req,
                        sink: &mut sink,
                        cancel: &cancel,
                        slot: Some(slot),
                    };
                    let r = manager.with_session(&id, owner.as_deref(), &mut op).await;
                    drop(op);
                    (sink, r.map(|used| (used.value, used.reconnected)))
                })
            });
            self.manager.jobs.start(meta, self.limit, runner).await
        })
    }
}
