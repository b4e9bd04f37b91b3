//! An interactive shell: a PTY on its own session channel (`pty-req`, then `shell` or
//! `exec`), read by a task of its own into a [`Terminal`].
//!
//! The task owns the channel and serves the shell's handle (resize, close); keystrokes go
//! through a writer of their own, so a program that does not read its input never stops
//! the output from being read. Closing runs the stop sequence of commands
//! ([`crate::ssh::stop`]) and then closes the channel, which hangs up the terminal.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use russh::ChannelMsg;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::ssh::exec::{Exit, close_quietly, signal_name_of};
use crate::ssh::session::Session;
use crate::ssh::stop::{Step, Stop};
use crate::ssh::terminal::Terminal;

mod start;
use start::start;

/// How to open a shell.
#[derive(Debug, Clone)]
pub struct PtyRequest {
    /// Run this instead of the login shell.
    pub command: Option<String>,
    pub rows: u16,
    pub cols: u16,
    /// `TERM`.
    pub term: String,
    pub cwd: Option<String>,
    pub env: Vec<(String, String)>,
}

/// What the shell's task is asked to do.
enum Request {
    Resize(u16, u16, oneshot::Sender<()>),
    Close(oneshot::Sender<()>),
}

/// The state a shell's task keeps up to date.
pub struct Shared {
    terminal: Mutex<Terminal>,
    exit: Mutex<Option<Exit>>,
    /// When output last arrived.
    last_output: Mutex<Instant>,
}

/// A running (or ended) shell. Dropping it closes the shell.
pub struct Pty {
    shared: Arc<Shared>,
    requests: mpsc::Sender<Request>,
    keys: mpsc::Sender<(Vec<u8>, oneshot::Sender<bool>)>,
    /// Bumped on every change (output, exit), for waits.
    changes: watch::Receiver<u64>,
}

impl Pty {
    /// Opens a shell on a new channel of `session`.
    pub async fn open(session: &Arc<Session>, req: PtyRequest) -> Result<Self> {
        let (mut channel, permit) = session
            .open_session_channel()
            .await
            .map_err(|e| session.not_started_if_closed(e))?;
        let (early, marker) = match start(&mut channel, session, &req).await {
            Ok(started) => started,
            Err(e) => {
                // The server keeps a channel until it is closed: a refused shell must not
                // use up its `MaxSessions`.
                close_quietly(&channel).await;
                return Err(e);
            }
        };
        let shared = Arc::new(Shared {
            terminal: Mutex::new(Terminal::new(req.rows, req.cols)),
            exit: Mutex::new(None),
            last_output: Mutex::new(Instant::now()),
        });
        let (requests, rx) = mpsc::channel(8);
        let (keys, keys_rx) = mpsc::channel(8);
        let (bump, changes) = watch::channel(0u64);
        let writer = channel.make_writer();
        tokio::spawn(type_keys(writer, keys_rx));
        let stop = Stop::new(None, session.clone(), marker);
        let task = Task {
            shared: shared.clone(),
            bump,
            session: session.clone(),
            stop,
        };
        tokio::spawn(async move {
            task.run(channel, early, rx).await;
            drop(permit);
        });
        Ok(Self {
            shared,
            requests,
            keys,
            changes,
        })
    }

    /// The terminal, locked.
    pub fn terminal(&self) -> MutexGuard<'_, Terminal> {
        self.shared
            .terminal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// How the shell ended, once it has.
    pub fn exit(&self) -> Option<Exit> {
        self.shared
            .exit
            .lock()
            .map(|e| e.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// When output last arrived.
    pub fn last_output(&self) -> Instant {
        self.shared
            .last_output
            .lock()
            .map(|t| *t)
            .unwrap_or_else(|p| *p.into_inner())
    }

    /// A receiver that sees every change (output, exit).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }

    /// Types `bytes` (waits until they are sent, at most `limit`).
    pub async fn type_bytes(&self, bytes: Vec<u8>, limit: Duration) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        let gone = || Error::SessionClosed {
            reason: "the shell has ended".into(),
        };
        // Queueing is within the limit too: earlier input may still be waiting to be sent.
        let sent = async {
            self.keys.send((bytes, tx)).await.map_err(|_| gone())?;
            rx.await.map_err(|_| gone())
        };
        match tokio::time::timeout(limit, sent).await {
            Ok(Ok(true)) => Ok(()),
            Ok(_) => Err(gone()),
            Err(_) => Err(Error::Limit(
                "the shell did not take the input in time (its program may not be reading)".into(),
            )),
        }
    }

    /// Resizes the terminal (`window-change`).
    pub async fn resize(&self, rows: u16, cols: u16) {
        let (tx, rx) = oneshot::channel();
        if self
            .requests
            .send(Request::Resize(rows, cols, tx))
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
    }

    /// Ends the shell (stop sequence, then the channel is closed) and waits for it.
    pub async fn close(&self) -> Option<Exit> {
        let (tx, rx) = oneshot::channel();
        if self.requests.send(Request::Close(tx)).await.is_ok() {
            let _ = rx.await;
        }
        self.exit()
    }
}

/// Writes keystrokes as they are asked for, each answered once sent.
async fn type_keys(
    mut writer: impl tokio::io::AsyncWrite + Unpin,
    mut rx: mpsc::Receiver<(Vec<u8>, oneshot::Sender<bool>)>,
) {
    while let Some((bytes, done)) = rx.recv().await {
        let ok = writer.write_all(&bytes).await.is_ok() && writer.flush().await.is_ok();
        let _ = done.send(ok);
        if !ok {
            break;
        }
    }
}

/// The task that reads a shell's channel.
struct Task {
    shared: Arc<Shared>,
    bump: watch::Sender<u64>,
    session: Arc<Session>,
    stop: Stop,
}

impl Task {
    async fn run(
        mut self,
        mut channel: russh::Channel<russh::client::Msg>,
        early: Vec<ChannelMsg>,
        mut rx: mpsc::Receiver<Request>,
    ) {
        let dead = self.session.dead_token();
        let stopping = self.session.stopping_token();
        let mut exit = Exit::default();
        for msg in early {
            self.handle(msg, &mut exit);
        }
        let mut closers: Vec<oneshot::Sender<()>> = Vec::new();
        let mut requests_open = true;
        loop {
            tokio::select! {
                msg = channel.wait() => match msg {
                    None => break,
                    Some(msg) => self.handle(msg, &mut exit),
                },
                req = rx.recv(), if requests_open => match req {
                    Some(Request::Resize(rows, cols, done)) => {
                        let _ = channel.window_change(cols.into(), rows.into(), 0, 0).await;
                        self.lock_terminal().resize(rows, cols);
                        let _ = done.send(());
                    }
                    Some(Request::Close(done)) => {
                        closers.push(done);
                        self.begin_stop();
                    }
                    None => {
                        requests_open = false;
                        self.begin_stop();
                    }
                },
                _ = stopping.cancelled(), if !self.stop.started() => self.begin_stop(),
                _ = dead.cancelled() => break,
                _ = sleep_until(self.stop.due()), if self.stop.due().is_some() => {
                    if self.stop.send_next(&channel).await == Step::Done {
                        let _ = channel.close().await;
                        break;
                    }
                }
            }
        }
        self.lock_terminal().finish();
        if let Ok(mut slot) = self.shared.exit.lock() {
            *slot = Some(exit);
        }
        self.bump.send_modify(|n| *n += 1);
        for c in closers {
            let _ = c.send(());
        }
    }

    /// Takes in one message from the channel.
    fn handle(&self, msg: ChannelMsg, exit: &mut Exit) {
        match msg {
            ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. } => {
                self.output(&data);
            }
            ChannelMsg::ExitStatus { exit_status } => exit.exit_code = Some(exit_status),
            ChannelMsg::ExitSignal { signal_name, .. } => {
                exit.exit_signal = Some(signal_name_of(&signal_name));
            }
            _ => {}
        }
    }

    fn begin_stop(&mut self) {
        if !self.stop.started() {
            self.stop.begin_now();
        }
    }

    fn output(&self, data: &[u8]) {
        self.lock_terminal().push(data);
        if let Ok(mut t) = self.shared.last_output.lock() {
            *t = Instant::now();
        }
        self.bump.send_modify(|n| *n += 1);
    }

    fn lock_terminal(&self) -> MutexGuard<'_, Terminal> {
        self.shared
            .terminal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
