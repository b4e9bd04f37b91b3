//! Running one command on its own session channel.
//!
//! The channel is read until the server closes it, not until the exit status arrives:
//! output and the exit status may come in either order, and stopping early loses one or
//! the other. stdout and stderr arrive on the same russh queue and are drained by the same
//! loop into an [`OutputSink`], so a command writing megabytes to stderr never stalls and
//! memory is whatever the sink keeps. A timeout or a cancellation runs the stop sequence
//! ([`STOP_SIGNALS`]) a grace period apart and closes the channel after the last step.

use std::sync::Arc;
use std::time::{Duration, Instant};

use russh::client::Msg;
use russh::{Channel, ChannelMsg, Sig};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::ids::random_id;
use crate::secret::Secret;
use crate::ssh::command_line::{compose, marker_export};
use crate::ssh::scrub::ScrubbedSink;
use crate::ssh::session::Session;
pub use crate::ssh::stop::{STOP_GRACE, STOP_SIGNALS};
use crate::ssh::stop::{Step, Stop};

/// How long the messages a dead connection left on a channel are still read.
const DRAIN: Duration = Duration::from_secs(1);

/// How often [`OutputSink::tick`] is called while a command runs.
pub const TICK: Duration = Duration::from_secs(1);

/// One command to run. Its Debug output shows the size of `stdin`, never its bytes (a
/// sudo password may be among them).
#[derive(Clone, Default)]
pub struct ExecRequest {
    /// The command line, run by the remote user's shell.
    pub command: String,
    /// Bytes written to the command's stdin before EOF. `None`: EOF at once.
    pub stdin: Option<Vec<u8>>,
    /// Directory to run in (`cd` before the command; the command is skipped if it fails).
    pub cwd: Option<String>,
    /// Environment variables: sent as SSH `env` requests; those the server refuses
    /// (sshd's `AcceptEnv`) are exported by the shell before the command instead.
    pub env: Vec<(String, String)>,
    /// Stop the command after this long. `None`: no limit.
    pub timeout: Option<Duration>,
    /// Secrets to replace with `<redacted>` wherever they appear in the output (the
    /// password a sudo wrapper feeds on stdin).
    pub scrub: Vec<Secret>,
}

impl std::fmt::Debug for ExecRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecRequest")
            .field("command", &self.command)
            .field("stdin_bytes", &self.stdin.as_ref().map(Vec::len))
            .field("cwd", &self.cwd)
            .field("env", &self.env)
            .field("timeout", &self.timeout)
            .field("scrubbed_secrets", &self.scrub.len())
            .finish()
    }
}

/// Receives a running command's output as it arrives.
pub trait OutputSink: Send {
    fn stdout(&mut self, data: &[u8]);
    fn stderr(&mut self, data: &[u8]);
    /// Called every [`TICK`] while the command runs.
    fn tick(&mut self, _elapsed: Duration) {}
    /// Called when the server has accepted the command (it may be called more than once).
    fn started(&mut self) {}
}

/// How a command ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exit {
    /// Exit status; `None` when the process died of a signal or never reported one.
    pub exit_code: Option<u32>,
    /// Signal name without `SIG` (e.g. `KILL`) when the process died of a signal.
    pub exit_signal: Option<String>,
    /// The command was stopped because `timeout` expired.
    pub timed_out: bool,
    /// The command was stopped because the caller cancelled.
    pub cancelled: bool,
    pub duration: Duration,
}

/// Runs `req` on a new channel of `session`, feeding output to `sink`. `cancel` stops the
/// command the same way a timeout does.
///
/// Nothing runs when this reports [`Error::ClosedBeforeStart`] (the connection was found
/// closed before the command was sent) or [`Error::DroppedBeforeStart`] (the server closed
/// the channel before starting the command, as Dropbear does under load): the caller may
/// try again, on a new connection or on this one (see [`crate::manager::access`]).
pub async fn run(
    session: &Arc<Session>,
    mut req: ExecRequest,
    sink: &mut dyn OutputSink,
    cancel: &CancellationToken,
) -> Result<Exit> {
    let secrets = std::mem::take(&mut req.scrub);
    if secrets.is_empty() {
        return run_plain(session, req, sink, cancel).await;
    }
    let mut scrubbed = ScrubbedSink::new(sink, &secrets);
    let exit = run_plain(session, req, &mut scrubbed, cancel).await;
    scrubbed.finish();
    exit
}

/// [`run`] without scrubbing.
async fn run_plain(
    session: &Arc<Session>,
    req: ExecRequest,
    sink: &mut dyn OutputSink,
    cancel: &CancellationToken,
) -> Result<Exit> {
    let started = Instant::now();
    // On servers whose commands must not overlap, wait for our turn (cancel and timeout
    // still apply while waiting).
    let deadline = req
        .timeout
        .map(|t| tokio::time::Instant::from_std(started + t));
    let _turn = tokio::select! {
        turn = session.command_turn() => turn.map_err(|_| session.not_started_error())?,
        _ = cancel.cancelled() => return Ok(Exit { cancelled: true, duration: started.elapsed(), ..Exit::default() }),
        _ = sleep_until(deadline) => return Ok(Exit { timed_out: true, duration: started.elapsed(), ..Exit::default() }),
    };
    run_once(session, req, sink, cancel, started)
        .await?
        .ok_or(Error::DroppedBeforeStart)
}

/// Closes a channel we stopped reading, waiting a bounded time: a server that keeps sending
/// fills the channel's queue, and the connection then waits for us to read it.
pub(crate) async fn close_quietly(channel: &Channel<Msg>) {
    let _ = tokio::time::timeout(Duration::from_secs(1), channel.close()).await;
}

/// One attempt; `None` when the server closed the channel without starting the command.
async fn run_once(
    session: &Arc<Session>,
    req: ExecRequest,
    sink: &mut dyn OutputSink,
    cancel: &CancellationToken,
    started: Instant,
) -> Result<Option<Exit>> {
    let deadline = req
        .timeout
        .map(|t| tokio::time::Instant::from_std(started + t));
    let dead = session.dead_token();
    let stopping = session.stopping_token();
    let stop_requested = async {
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = stopping.cancelled() => {}
        }
    };
    tokio::pin!(stop_requested);
    let mut exit = Exit::default();
    // Made before the channel opens: an error after that would leave the channel open.
    let marker = if session.marks_commands() {
        Some(random_id(8)?)
    } else {
        None
    };

    let opened = tokio::select! {
        r = session.open_session_channel() => Some(r.map_err(|e| session.not_started_if_closed(e))?),
        _ = &mut stop_requested => None,
        _ = sleep_until(deadline) => None,
        _ = dead.cancelled() => return Err(session.not_started_error()),
    };
    let Some((mut channel, _permit)) = opened else {
        // Stopped while waiting for a free channel: nothing ran.
        exit.cancelled = cancel.is_cancelled() || stopping.is_cancelled();
        exit.timed_out = !exit.cancelled;
        exit.duration = started.elapsed();
        return Ok(Some(exit));
    };

    // Until the exec request is sent, a channel the server already closed means the command
    // never started: report that, so the caller tries again.
    let (refused, mut owed) = match send_env(&mut channel, &req.env).await {
        Ok(r) => r,
        Err(_) if !session.is_closed() => return Ok(None),
        Err(_) => return Err(session.not_started_error()),
    };
    let mut command = compose(&req.command, req.cwd.as_deref(), &refused);
    if let Some(m) = &marker {
        command = format!("{}\n{command}", marker_export(m));
    }
    // An error here means the request never left: nothing ran.
    if channel.exec(true, command.into_bytes()).await.is_err() {
        return if session.is_closed() {
            Err(session.not_started_error())
        } else {
            Ok(None)
        };
    }
    // stdin is written from its own task so a command that prints before reading cannot
    // deadlock against us; the shutdown sends EOF, so `cat` and friends return.
    let feeder = match req.stdin.filter(|b| !b.is_empty()) {
        Some(stdin) => {
            let mut writer = channel.make_writer();
            Some(tokio::spawn(async move {
                writer.write_all(&stdin).await?;
                writer.shutdown().await
            }))
        }
        None => {
            // A failure here shows up below as a channel closed before the exec reply.
            let _ = channel.eof().await;
            None
        }
    };

    // The reply to our `exec` request: a refusal comes back as Failure before anything else.
    let mut confirmed = false;
    let mut output = false;
    let mut eof = false;
    let mut refused_exec = false;
    let mut stop = Stop::new(deadline, session.clone(), marker.clone());
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + TICK, TICK);
    // Set when the connection died: what it delivered before (output, the exit report) is
    // still queued on the channel, so it is read until the channel ends or this passes.
    let mut drain_until: Option<tokio::time::Instant> = None;
    let result = loop {
        tokio::select! {
            msg = channel.wait() => match msg {
                None => break Ok(()),
                Some(ChannelMsg::Data { data }) => {
                    output = true;
                    sink.stdout(&data);
                }
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                    output = true;
                    sink.stderr(&data);
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => {
                    exit.exit_code = Some(exit_status);
                    if eof { break Ok(()); }
                }
                Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                    exit.exit_code = None;
                    exit.exit_signal = Some(signal_name_of(&signal_name));
                    if eof { break Ok(()); }
                }
                // EOF: no more output will come. With the exit report also in hand the
                // command is done; the channel's close handshake can finish without us.
                Some(ChannelMsg::Eof) => {
                    eof = true;
                    if exit.exit_code.is_some() || exit.exit_signal.is_some() { break Ok(()); }
                }
                // Replies come in the order of the requests: those to env requests we
                // stopped waiting for come before the exec reply.
                Some(ChannelMsg::Success | ChannelMsg::Failure) if owed > 0 => owed -= 1,
                Some(ChannelMsg::Success) => {
                    confirmed = true;
                    sink.started();
                }
                Some(ChannelMsg::Failure) if !confirmed => {
                    refused_exec = true;
                    break Err(Error::ExecRefused);
                }
                Some(_) => {}
            },
            _ = ticker.tick() => sink.tick(started.elapsed()),
            _ = &mut stop_requested, if !stop.started() => {
                exit.cancelled = true;
                stop.begin_now();
            }
            _ = dead.cancelled(), if drain_until.is_none() => {
                drain_until = Some(tokio::time::Instant::now() + DRAIN);
            }
            _ = sleep_until(drain_until), if drain_until.is_some() => {
                break Err(session.closed_error());
            }
            _ = sleep_until(stop.due()), if stop.due().is_some() => {
                if !stop.started() {
                    exit.timed_out = true;
                }
                if stop.send_next(&channel).await == Step::Done {
                    let _ = channel.close().await;
                    break Ok(());
                }
            }
        }
    };
    if let Some(f) = feeder {
        f.abort();
    }
    if refused_exec {
        // The server keeps the channel until it is closed (`MaxSessions`).
        close_quietly(&channel).await;
    }
    result?;
    // The channel closed without an exit report and we did not stop it: the connection
    // died, or the server gave up on the command.
    if exit.exit_code.is_none() && exit.exit_signal.is_none() && !stop.started() {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if session.is_closed() {
            return Err(session.closed_error());
        }
        if !confirmed && !output {
            return Ok(None);
        }
        return Err(Error::ChannelOpen(
            "the server closed the channel without reporting how the command ended".into(),
        ));
    }
    exit.duration = started.elapsed();
    Ok(Some(exit))
}

/// Sends `env` requests, each answered before the next; returns the variables the server
/// refused (the shell exports them instead) and how many replies are still owed: a request
/// not answered within 10 s counts as refused, and its late reply, which comes before the
/// replies to later requests, must not be taken for theirs.
async fn send_env(
    channel: &mut Channel<Msg>,
    env: &[(String, String)],
) -> Result<(Vec<(String, String)>, usize)> {
    let mut refused = Vec::new();
    let mut owed = 0usize;
    for (k, v) in env {
        channel.set_env(true, k.clone(), v.clone()).await?;
        let reply = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let answer = match channel.wait().await {
                    Some(ChannelMsg::Success) => true,
                    Some(ChannelMsg::Failure) => false,
                    Some(_) => continue,
                    None => return None,
                };
                if owed > 0 {
                    owed -= 1;
                } else {
                    return Some(answer);
                }
            }
        })
        .await;
        match reply {
            Ok(Some(true)) => {}
            Ok(Some(false)) => refused.push((k.clone(), v.clone())),
            Err(_) => {
                owed += 1;
                refused.push((k.clone(), v.clone()));
            }
            Ok(None) => return Err(Error::ChannelOpen("the channel closed during setup".into())),
        }
    }
    Ok((refused, owed))
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The signal name as OpenSSH reports it, without the `SIG` prefix.
pub fn signal_name_of(sig: &Sig) -> String {
    match sig {
        Sig::ABRT => "ABRT",
        Sig::ALRM => "ALRM",
        Sig::FPE => "FPE",
        Sig::HUP => "HUP",
        Sig::ILL => "ILL",
        Sig::INT => "INT",
        Sig::KILL => "KILL",
        Sig::PIPE => "PIPE",
        Sig::QUIT => "QUIT",
        Sig::SEGV => "SEGV",
        Sig::TERM => "TERM",
        Sig::USR1 => "USR1",
        Sig::Custom(name) => return name.trim_start_matches("SIG").to_string(),
    }
    .to_string()
}
