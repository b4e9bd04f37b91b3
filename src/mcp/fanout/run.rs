//! One host of a fan-out: which session it runs on, and what became of it.
//!
//! A session id runs on that session; a named host on the caller's open session to it, or
//! on a new one opened with the host's configured credentials and kept (listed, subject to
//! the idle timeout) while the server is under `--max-sessions`; beyond it the connection
//! is closed after the command. Registered sessions run the command through
//! [`SessionManager::with_session`](crate::manager::SessionManager::with_session) with
//! `ssh_execute`'s [`RunCommand`], so dead sessions reconnect and timeouts and cancels get
//! the same stop sequence.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::groups::{Outcome, RESULT_LIMIT, Ran, json_len};
use super::targets::Target;
use super::types::Stage;
use crate::audit::{Decision, Event};
use crate::config::host_key_policy::HostKeyPolicy;
use crate::error::Error;
use crate::manager::{RunCommand, sudo_secret_of};
use crate::mcp::SshMcp;
use crate::mcp::errors::tool_error;
use crate::mcp::execute::millis;
use crate::mcp::types::ConnectParams;
use crate::secret::Secret;
use crate::ssh::exec::{self, ExecRequest, Exit, OutputSink};
use crate::ssh::output::Capture;
use crate::ssh::session::Session;
use crate::ssh::sudo::{self, SudoCommand};

/// What every host of one call shares.
pub(super) struct HostRun {
    pub mcp: SshMcp,
    pub owner: Option<String>,
    pub req: ExecRequest,
    /// Run under sudo with each host's known sudo password; a host without one is an
    /// error (the user is never asked per host).
    pub sudo: bool,
    /// Bytes kept per stream.
    pub limit: usize,
    /// Cancelled when the call is: running commands get their stop sequence, connects
    /// under way are dropped.
    pub cancel: CancellationToken,
    /// The client could confirm an unknown host key to `ssh_connect`: under `accept-new`
    /// such a host is then refused here (never learned without the user), as under `ask`.
    pub confirmable: bool,
}

/// What became of one host: its outcome, and its audit line.
pub(super) struct HostReport {
    pub outcome: Outcome,
    pub event: Option<Event>,
}

/// The bounded output of one host's command, with a digest of all of it: hosts whose
/// output differs only in bytes left out, or in bytes that are not UTF-8, must not group.
struct Sink {
    stdout: Capture,
    stderr: Capture,
    stdout_hash: Sha256,
    stderr_hash: Sha256,
}

impl OutputSink for Sink {
    fn stdout(&mut self, data: &[u8]) {
        self.stdout_hash.update(data);
        self.stdout.push(data);
    }
    fn stderr(&mut self, data: &[u8]) {
        self.stderr_hash.update(data);
        self.stderr.push(data);
    }
}

impl Sink {
    fn new(limit: usize) -> Self {
        Self {
            stdout: Capture::new(limit),
            stderr: Capture::new(limit),
            stdout_hash: Sha256::new(),
            stderr_hash: Sha256::new(),
        }
    }

    /// What the command left, once it ended with `exit`.
    fn ran(self, exit: Exit) -> Ran {
        let mut both = Sha256::new();
        both.update(self.stdout_hash.finalize());
        both.update(self.stderr_hash.finalize());
        let (mut stdout, mut stderr) = (self.stdout.render(), self.stderr.render());
        let mut truncated = self.stdout.truncated() || self.stderr.truncated();
        // What no result could show is not kept either (256 hosts of it would be a lot).
        let left_out = json_len(&stdout) + json_len(&stderr) > RESULT_LIMIT;
        if left_out {
            (stdout, stderr, truncated) = (String::new(), String::new(), true);
        }
        Ran {
            exit_code: exit.exit_code.map(i64::from),
            // The server names the signal: a name past any real one's length is cut.
            exit_signal: exit
                .exit_signal
                .map(|s| s.chars().take(SIGNAL_NAME).collect()),
            timed_out: exit.timed_out,
            stdout,
            stderr,
            truncated,
            digest: both.finalize().into(),
            left_out,
        }
    }
}

/// A command that ran: how it ended, where, and on which registered session.
struct Done {
    exit: Exit,
    session: Arc<Session>,
    session_id: Option<String>,
    /// The command ran under sudo, wrapped this way.
    sudo: Option<SudoCommand>,
}

impl HostRun {
    /// Runs the command on one host; a cancel before the command starts leaves it skipped.
    pub async fn run(&self, target: &Target) -> HostReport {
        let started = Instant::now();
        let mut sink = Sink::new(self.limit);
        let done = match target {
            Target::Session(id) => self.on_session(id, &mut sink).await.map(Some),
            Target::Host(name) => self.on_named(name, &mut sink).await,
        };
        // sudo refused to run the command: an error, not a result.
        let done = match done {
            Ok(Some(d)) => match d
                .sudo
                .as_ref()
                .and_then(|w| w.failure(&sink.stderr.render()))
            {
                Some(e) => Err(e),
                None => Ok(Some(d)),
            },
            other => other,
        };
        let mut event = Event {
            tool: "ssh_fanout",
            target: Some(target.label().to_string()),
            command: Some(self.req.command.clone()),
            duration_ms: Some(millis(started.elapsed())),
            secret: self.sudo.then_some("sudo"),
            ..Default::default()
        };
        let outcome = match done {
            Ok(None) => {
                return HostReport {
                    outcome: Outcome::Skipped,
                    event: None,
                };
            }
            Ok(Some(d)) => {
                event.session_id = d.session_id;
                event.host = Some(d.session.info.address.to_string());
                event.user = Some(d.session.info.username.clone());
                event.exit_code = d.exit.exit_code.map(i64::from);
                event.exit_signal = d.exit.exit_signal.clone();
                event.timed_out = Some(d.exit.timed_out);
                event.stdout_bytes = Some(sink.stdout.total());
                event.stderr_bytes = Some(sink.stderr.total());
                Outcome::Ran(sink.ran(d.exit))
            }
            Err(e) => {
                event.decision = Decision::of_error(&e);
                event.error = Some(e.to_string());
                let (stage, error) = host_error(target.label(), &e, self.confirmable);
                Outcome::Error { stage, error }
            }
        };
        HostReport {
            outcome,
            event: Some(event),
        }
    }

    /// Runs the command on the caller's registered session `id`.
    async fn on_session(&self, id: &str, sink: &mut Sink) -> Result<Done, Error> {
        let secret = match self.sudo {
            true => Some(
                self.mcp
                    .manager()
                    .get(id, self.owner.as_deref())?
                    .require_sudo_secret()?,
            ),
            false => None,
        };
        let (req, sudo) = self.request(secret.as_ref())?;
        let mut op = RunCommand {
            req,
            sink,
            cancel: &self.cancel,
            slot: None,
        };
        let used = self
            .mcp
            .manager()
            .with_session(id, self.owner.as_deref(), &mut op)
            .await?;
        Ok(Done {
            exit: used.value,
            session: used.session,
            session_id: Some(id.to_string()),
            sudo,
        })
    }

    /// The request to run: `self.req`, wrapped in sudo with `secret` where asked for.
    fn request(
        &self,
        secret: Option<&Secret>,
    ) -> Result<(ExecRequest, Option<SudoCommand>), Error> {
        let Some(secret) = secret else {
            return Ok((self.req.clone(), None));
        };
        let mut req = self.req.clone();
        let wrapped = sudo::wrap_request(&mut req, secret)?;
        Ok((req, Some(wrapped)))
    }

    /// Runs the command on the named host `name`; `None` when cancelled before it started.
    async fn on_named(&self, name: &str, sink: &mut Sink) -> Result<Option<Done>, Error> {
        let manager = self.mcp.manager();
        let owner = self.owner.as_deref();
        if let Some(entry) = manager.named_session(name, owner) {
            match self.on_session(&entry.id, sink).await {
                // Disconnected since it was found: connect anew.
                Err(Error::SessionNotFound(_)) => {}
                other => return other.map(Some),
            }
        }
        let mut req = self.mcp.connect_request(ConnectParams {
            address: name.to_string(),
            username: None,
            password: None,
            key_path: None,
            passphrase: None,
        })?;
        let policy = req
            .host_key_policy
            .unwrap_or(manager.settings().host_key_policy);
        if self.confirmable && policy == HostKeyPolicy::AcceptNew {
            req.host_key_policy = Some(HostKeyPolicy::Ask);
        }
        let connected = tokio::select! {
            r = manager.connect(&req, owner) => r,
            _ = self.cancel.cancelled() => return Ok(None),
        };
        match connected {
            Ok(entry) => self.on_session(&entry.id, sink).await.map(Some),
            // No room for one more session: this connection lasts for the command only.
            Err(Error::Limit(_)) => {
                let secret = match self.sudo {
                    true => Some(
                        sudo_secret_of(manager.settings().hosts.get(name), &req)?
                            .ok_or(Error::NoSudoPassword)?,
                    ),
                    false => None,
                };
                let (run, sudo) = self.request(secret.as_ref())?;
                let session = tokio::select! {
                    r = Session::connect(&req, manager.settings()) => r?,
                    _ = self.cancel.cancelled() => return Ok(None),
                };
                let exit = exec::run(&session, run, sink, &self.cancel).await;
                session.close().await;
                Ok(Some(Done {
                    exit: exit?,
                    session,
                    session_id: None,
                    sudo,
                }))
            }
            Err(e) => Err(e),
        }
    }
}

/// Longest signal name kept.
const SIGNAL_NAME: usize = 32;

/// Longest error text of one host.
const ERROR_TEXT: usize = 400;

/// The stage at which a host's attempt stopped, and what the model should read.
/// `confirmable`: `ssh_connect` could ask the user about an unknown key, so it is the way on.
fn host_error(host: &str, e: &Error, confirmable: bool) -> (Stage, String) {
    let stage = match e {
        Error::AuthFailed { .. } | Error::KeyFile { .. } | Error::Agent(_) => Stage::Auth,
        Error::NoSudoPassword | Error::Sudo(_) => Stage::Auth,
        Error::HostKeyMismatch { .. }
        | Error::HostKeyUnknown { .. }
        | Error::HostKeyNotConfirmed { .. }
        | Error::HostCertificate { .. }
        | Error::HostKeyRevoked { .. }
        | Error::KnownHostsFile { .. } => Stage::HostKey,
        Error::Limit(_) | Error::ChannelOpen(_) => Stage::Limit,
        Error::Jump { source, .. } => return host_error(host, source, confirmable),
        _ => Stage::Connect,
    };
    let text = match e {
        Error::HostKeyUnknown { .. } if confirmable => format!(
            "{} — connect to {host} once with ssh_connect to confirm its key, then run ssh_fanout again",
            e.chain()
        ),
        Error::AuthFailed { .. } | Error::KeyFile { .. } | Error::Agent(_) => format!(
            "{} — the host's configured credentials were refused; ask the operator to check them",
            e.chain()
        ),
        _ => tool_error("failed", e)
            .trim_start_matches("failed: ")
            .to_string(),
    };
    let text = if text.chars().count() > ERROR_TEXT {
        text.chars().take(ERROR_TEXT).collect::<String>() + "…"
    } else {
        text
    };
    (stage, text)
}

/// How long a cancelled call waits for its hosts' stop sequences.
pub(super) const CANCEL_WAIT: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests;
