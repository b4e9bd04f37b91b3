//! Stopping a running command: the stop sequence, one step per grace period, through the
//! channel's `signal` requests and, where the server refuses those (OpenSSH in root's
//! sessions), through a command of its own that signals the marked command's process
//! group (see [`crate::ssh::command_line::signal_marked`]).

use std::sync::Arc;
use std::time::Duration;

use russh::client::Msg;
use russh::{Channel, Sig};
use tokio::time::Instant;

use crate::error::Error;
use crate::ssh::command_line::signal_marked;
use crate::ssh::session::Session;

/// Time between the steps of the stop sequence.
pub const STOP_GRACE: Duration = Duration::from_secs(1);

/// The stop sequence, one step per grace period. OpenSSH delivers a channel signal to the
/// command's whole process group (`killpg`), so the first step reaches background jobs too;
/// HUP comes first because non-interactive shells start background jobs with INT ignored,
/// and a job left behind once the shell is gone can no longer be signalled through sshd.
pub const STOP_SIGNALS: [&[Sig]; 3] = [&[Sig::HUP, Sig::INT], &[Sig::TERM], &[Sig::KILL]];

/// How long a command that signals a marked command may wait for a channel and run.
const REAPER_WAIT: Duration = Duration::from_secs(10);

/// Where a stop sequence is: not begun (it begins at the deadline, if any), or at a step.
pub struct Stop {
    step: Option<usize>,
    /// When the next step is due.
    next: Option<Instant>,
    session: Arc<Session>,
    /// The command's marker, on servers that refuse channel signals.
    marker: Option<String>,
}

/// What sending a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A step's signals went out; the next is due a grace period later.
    Sent,
    /// Every step has been sent and its grace period passed: close the channel.
    Done,
}

impl Stop {
    /// A sequence that begins at `deadline` (none: only when [`Self::begin_now`] is called).
    pub fn new(deadline: Option<Instant>, session: Arc<Session>, marker: Option<String>) -> Self {
        Self {
            step: None,
            next: deadline,
            session,
            marker,
        }
    }

    /// Whether the sequence has begun.
    pub fn started(&self) -> bool {
        self.step.is_some()
    }

    /// Begins at once (the caller cancelled).
    pub fn begin_now(&mut self) {
        self.step = Some(0);
        self.next = Some(Instant::now());
    }

    /// When the next step is due.
    pub fn due(&self) -> Option<Instant> {
        self.next
    }

    /// Sends the due step's signals on `channel` (and through the marker, where signals are
    /// refused); at the end of the sequence, says so.
    pub async fn send_next(&mut self, channel: &Channel<Msg>) -> Step {
        let n = *self.step.get_or_insert(0);
        let Some(sigs) = STOP_SIGNALS.get(n) else {
            return Step::Done;
        };
        for sig in sigs.iter() {
            tracing::debug!(signal = ?sig, "stopping command");
            let _ = channel.signal(sig.clone()).await;
        }
        if let Some(m) = &self.marker {
            // On its own task: the steps keep their pace, and a reaper that waits for a
            // free channel still runs once one is.
            let names: Vec<&'static str> = sigs.iter().map(sig_name).collect();
            tokio::spawn(signal_marked_command(
                self.session.clone(),
                m.clone(),
                names,
            ));
        }
        self.step = Some(n + 1);
        self.next = Some(Instant::now() + STOP_GRACE);
        Step::Sent
    }
}

/// Sends `signals` to the command marked with `marker` from a command of its own, for
/// servers that refuse channel signals. Best effort and bounded: it waits for a channel at
/// most [`REAPER_WAIT`].
async fn signal_marked_command(session: Arc<Session>, marker: String, signals: Vec<&'static str>) {
    let script = signal_marked(&marker, &signals);
    let run = async {
        let (mut channel, _permit) = session.open_session_channel().await?;
        channel.exec(false, script.into_bytes()).await?;
        let _ = channel.eof().await;
        while channel.wait().await.is_some() {}
        Ok::<(), Error>(())
    };
    match tokio::time::timeout(REAPER_WAIT, run).await {
        Ok(Ok(())) => tracing::debug!(?signals, "signalled the marked command"),
        Ok(Err(e)) => tracing::debug!(error = %e, "could not signal the marked command"),
        Err(_) => tracing::debug!("signalling the marked command took too long"),
    }
}

/// The name `kill -s` takes, for the signals of [`STOP_SIGNALS`].
fn sig_name(sig: &Sig) -> &'static str {
    match sig {
        Sig::HUP => "HUP",
        Sig::INT => "INT",
        Sig::TERM => "TERM",
        // KILL, and any other: the stop sequence has no others.
        _ => "KILL",
    }
}
