//! Running one command on its own session channel.
//!
//! The channel is read until the server closes it, not until the exit status arrives:
//! output and the exit status may come in either order, and stopping early loses one or
//! the other. stdout and stderr arrive on the same russh queue and are drained by the same
//! loop, so a command writing megabytes to stderr never stalls. A timeout or a
//! cancellation sends INT, then TERM, then KILL, a grace period apart, and closes the
//! channel after the last one.

use std::time::{Duration, Instant};

use russh::{ChannelMsg, Sig};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::ssh::output::Capture;
use crate::ssh::session::Session;

/// Time between the signals sent to a command that must stop.
pub const STOP_GRACE: Duration = Duration::from_secs(1);

/// One command to run.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    /// The command line, run by the remote user's shell.
    pub command: String,
    /// Bytes written to the command's stdin before EOF. `None`: EOF at once.
    pub stdin: Option<Vec<u8>>,
    /// Stop the command after this long. `None`: no limit.
    pub timeout: Option<Duration>,
    /// Bytes kept per stream (head and tail).
    pub max_output_bytes: usize,
}

/// What a command did.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub stdout: Capture,
    pub stderr: Capture,
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

/// Where a stopping command is in the INT → TERM → KILL → close sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Running,
    Sent(u8),
}

/// The stop sequence, one step per grace period. OpenSSH delivers a channel signal to the
/// command's whole process group (`killpg`), so the first step reaches background jobs too;
/// HUP comes first because non-interactive shells start background jobs with INT ignored,
/// and a job left behind once the shell is gone can no longer be signalled through sshd.
const STOP_SIGNALS: [&[Sig]; 3] = [&[Sig::HUP, Sig::INT], &[Sig::TERM], &[Sig::KILL]];

/// Runs `req` on a new channel of `session`. `cancel` stops the command the same way a
/// timeout does.
pub async fn run(
    session: &Session,
    req: ExecRequest,
    cancel: &CancellationToken,
) -> Result<ExecOutput> {
    let started = Instant::now();
    let deadline = req
        .timeout
        .map(|t| tokio::time::Instant::from_std(started + t));
    let label = session.info.address.to_string();
    let session_closed = session.closed_token();

    let opened = tokio::select! {
        r = session.open_session_channel(&label) => Some(r?),
        _ = cancel.cancelled() => None,
        _ = sleep_until(deadline) => None,
        _ = session_closed.cancelled() => return Err(Error::SessionClosed(label)),
    };
    let mut out = ExecOutput {
        stdout: Capture::new(req.max_output_bytes),
        stderr: Capture::new(req.max_output_bytes),
        exit_code: None,
        exit_signal: None,
        timed_out: false,
        cancelled: false,
        duration: Duration::ZERO,
    };
    let Some((mut channel, _permit)) = opened else {
        // Stopped while waiting for a free channel: nothing ran.
        out.cancelled = cancel.is_cancelled();
        out.timed_out = !out.cancelled;
        out.duration = started.elapsed();
        return Ok(out);
    };

    channel.exec(true, req.command.as_bytes()).await?;
    let mut writer = channel.make_writer();
    let stdin = req.stdin.unwrap_or_default();
    // Written from its own task so a command that prints before reading cannot deadlock
    // against us; shutdown sends EOF, so `cat` and friends return.
    let feeder = tokio::spawn(async move {
        if !stdin.is_empty() {
            writer.write_all(&stdin).await?;
        }
        writer.shutdown().await
    });

    // The reply to our `exec` request: a refusal (e.g. a forced command policy) comes
    // back as Failure before anything else.
    let mut confirmed = false;
    let mut stop = Stop::Running;
    let mut next_step = deadline;
    loop {
        tokio::select! {
            msg = channel.wait() => match msg {
                None => break,
                Some(ChannelMsg::Data { data }) => out.stdout.push(&data),
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => out.stderr.push(&data),
                Some(ChannelMsg::ExitStatus { exit_status }) => out.exit_code = Some(exit_status),
                Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                    out.exit_code = None;
                    out.exit_signal = Some(signal_name_of(&signal_name));
                }
                Some(ChannelMsg::Success) => confirmed = true,
                Some(ChannelMsg::Failure) if !confirmed => {
                    feeder.abort();
                    return Err(Error::ChannelOpen("the server refused to run the command".into()));
                }
                Some(_) => {}
            },
            _ = cancel.cancelled(), if stop == Stop::Running => {
                out.cancelled = true;
                stop = Stop::Sent(0);
                next_step = Some(tokio::time::Instant::now());
            }
            _ = session_closed.cancelled() => {
                feeder.abort();
                return Err(Error::SessionClosed(label));
            }
            _ = sleep_until(next_step), if next_step.is_some() => {
                if stop == Stop::Running {
                    out.timed_out = true;
                    stop = Stop::Sent(0);
                }
                let Stop::Sent(n) = stop else { continue };
                match STOP_SIGNALS.get(usize::from(n)) {
                    Some(sigs) => {
                        for sig in sigs.iter() {
                            tracing::debug!(signal = ?sig, "stopping command");
                            let _ = channel.signal(sig.clone()).await;
                        }
                        stop = Stop::Sent(n + 1);
                        next_step = Some(tokio::time::Instant::now() + STOP_GRACE);
                    }
                    None => {
                        let _ = channel.close().await;
                        break;
                    }
                }
            }
        }
    }
    feeder.abort();
    out.duration = started.elapsed();
    Ok(out)
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
