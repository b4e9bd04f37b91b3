//! The misbehaving server: russh's server side, in this process, as in `rogue.rs`. It runs
//! the client's commands (on channels without a terminal) with `/bin/sh`.

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::server::{Auth, Handler, Msg, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId};
use tokio::sync::oneshot;

/// How the server misbehaves.
#[derive(Clone, Copy)]
pub(super) enum Mode {
    /// On `shell` or `exec` of a terminal channel: output, exit status 3, EOF and close, and
    /// never the reply.
    ExitBeforeReply,
    /// On `shell` or `exec` of a terminal channel: `FLOOD` one-byte data messages (russh
    /// sends no empty ones), then the success reply.
    Flood,
    /// The same with `FLOOD` exit-status messages, which carry no data.
    FloodStatus,
    /// Answers each `env` request after `delay` (a success when `accept`, and the variable
    /// then reaches the command), and holds the reply to `exec` until then; that reply is a
    /// refusal when `refuse_exec`.
    LateEnv {
        delay: Duration,
        accept: bool,
        refuse_exec: bool,
    },
}

/// Messages of the flood: 64 bytes each as the client counts them, well over 64 KiB in all,
/// though their data is under 2 KiB.
const FLOOD: usize = 2_000;

/// How long the client waits for the reply to an `env` request.
pub(super) const ENV_WAIT: Duration = Duration::from_secs(10);

/// How long `ssh_execute` waits for a command to start before it follows it as a job.
pub(super) const START_WAIT: Duration = Duration::from_secs(5);

/// One client connection of the server.
struct Rogue {
    mode: Mode,
    /// Every command line the server received on a channel without a terminal.
    commands: Arc<Mutex<Vec<String>>>,
    /// Channels with a terminal.
    ptys: HashSet<ChannelId>,
    /// Per channel: one receiver per `env` request, fired once it is answered.
    env_answered: HashMap<ChannelId, Vec<oneshot::Receiver<()>>>,
    /// Per channel: the variables accepted.
    env: HashMap<ChannelId, Vec<(String, String)>>,
}

impl Rogue {
    /// The misbehaving start of a terminal channel's program.
    fn start_program(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), russh::Error> {
        match self.mode {
            Mode::ExitBeforeReply => {
                session.data(channel, &b"early\r\n"[..])?;
                session.exit_status_request(channel, 3)?;
                session.eof(channel)?;
                session.close(channel)
            }
            Mode::Flood => {
                for _ in 0..FLOOD {
                    session.data(channel, &b"x"[..])?;
                }
                session.channel_success(channel)
            }
            Mode::FloodStatus => {
                for _ in 0..FLOOD {
                    session.exit_status_request(channel, 0)?;
                }
                session.channel_success(channel)
            }
            Mode::LateEnv { .. } => session.channel_failure(channel),
        }
    }
}

impl Handler for Rogue {
    type Error = russh::Error;

    async fn auth_publickey(
        &mut self,
        user: &str,
        _key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(crate::rogue::test_user_only(user))
    }

    async fn channel_open_session(
        &mut self,
        mut channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        // Requests are served by the handler; the channel's own queue is only drained.
        tokio::spawn(async move { while channel.wait().await.is_some() {} });
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.ptys.insert(channel);
        session.channel_success(channel)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Mode::LateEnv { delay, accept, .. } = self.mode else {
            return session.channel_failure(channel);
        };
        if accept {
            self.env
                .entry(channel)
                .or_default()
                .push((name.to_string(), value.to_string()));
        }
        let (tx, rx) = oneshot::channel();
        self.env_answered.entry(channel).or_default().push(rx);
        let handle = session.handle();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = if accept {
                handle.channel_success(channel).await
            } else {
                handle.channel_failure(channel).await
            };
            let _ = tx.send(());
        });
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.ptys.contains(&channel) {
            self.start_program(channel, session)
        } else {
            session.channel_failure(channel)
        }
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.ptys.contains(&channel) {
            return self.start_program(channel, session);
        }
        let command = String::from_utf8_lossy(data).into_owned();
        if let Ok(mut c) = self.commands.lock() {
            c.push(command.clone());
        }
        let answered = self.env_answered.remove(&channel).unwrap_or_default();
        let env = self.env.remove(&channel).unwrap_or_default();
        let refuse = matches!(
            self.mode,
            Mode::LateEnv {
                refuse_exec: true,
                ..
            }
        );
        let handle = session.handle();
        tokio::spawn(async move {
            for rx in answered {
                let _ = tokio::time::timeout(Duration::from_secs(60), rx).await;
            }
            if refuse {
                let _ = handle.channel_failure(channel).await;
            } else {
                run_command(handle, channel, command, env).await;
            }
        });
        Ok(())
    }
}

/// Answers `exec` (once every earlier `env` request is answered: replies go in the order of
/// the requests), then runs the command with `/bin/sh` and sends its output and exit status.
async fn run_command(
    handle: russh::server::Handle,
    channel: ChannelId,
    command: String,
    env: Vec<(String, String)>,
) {
    let _ = handle.channel_success(channel).await;
    let out = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .envs(env)
        .stdin(Stdio::null())
        .output()
        .await;
    let code = match out {
        Ok(out) => {
            let _ = handle.data(channel, out.stdout).await;
            let _ = handle.extended_data(channel, 1, out.stderr).await;
            out.status.code().unwrap_or(255) as u32
        }
        Err(_) => 127,
    };
    let _ = handle.exit_status_request(channel, code).await;
    let _ = handle.eof(channel).await;
    let _ = handle.close(channel).await;
}

/// Starts the server on a free loopback port; returns the port and the command lines it
/// receives.
pub(super) async fn start(dir: &std::path::Path, mode: Mode) -> (u16, Arc<Mutex<Vec<String>>>) {
    let commands = Arc::new(Mutex::new(Vec::new()));
    let seen = commands.clone();
    let port = crate::rogue::serve(dir, "shell_rogue_host", move || Rogue {
        mode,
        commands: commands.clone(),
        ptys: HashSet::new(),
        env_answered: HashMap::new(),
        env: HashMap::new(),
    })
    .await;
    (port, seen)
}
