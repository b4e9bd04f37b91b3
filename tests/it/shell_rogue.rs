//! A misbehaving SSH server for the start of shells and commands: it answers the `shell` (or
//! `exec`) request of a terminal channel late or never, with the program's whole life or a
//! flood of messages before the answer, or answers `env` requests late. No real server does
//! this; the client must still show what ran, refuse the flood promptly, and not take a late
//! `env` reply for the reply to `exec`.
//!
//! The server is russh's server side, in this process, as in `rogue.rs`. It runs the client's
//! commands (on channels without a terminal) with `/bin/sh`.

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use russh::server::{Auth, Handler, Msg, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId};
use serde_json::json;
use tokio::sync::oneshot;

use crate::harness::Server;
use crate::sshd::{self, USER};

/// How the server misbehaves.
#[derive(Clone, Copy)]
enum Mode {
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
const ENV_WAIT: Duration = Duration::from_secs(10);

/// How long `ssh_execute` waits for a command to start before it follows it as a job.
const START_WAIT: Duration = Duration::from_secs(5);

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
        Ok(if user == USER {
            Auth::Accept
        } else {
            Auth::reject()
        })
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
async fn start(dir: &std::path::Path, mode: Mode) -> (u16, Arc<Mutex<Vec<String>>>) {
    let key = sshd::keygen(dir, "shell_rogue_host", "ed25519", "");
    let config = Arc::new(russh::server::Config {
        keys: vec![russh::keys::load_secret_key(&key, None).unwrap()],
        auth_rejection_time: Duration::from_millis(10),
        auth_rejection_time_initial: Some(Duration::ZERO),
        ..Default::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let commands = Arc::new(Mutex::new(Vec::new()));
    let seen = commands.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = Rogue {
                mode,
                commands: commands.clone(),
                ptys: HashSet::new(),
                env_answered: HashMap::new(),
                env: HashMap::new(),
            };
            let config = config.clone();
            tokio::spawn(async move {
                if let Ok(running) = russh::server::run_stream(config, stream, handler).await {
                    let _ = running.await;
                }
            });
        }
    });
    (port, seen)
}

#[tokio::test]
async fn a_program_that_ends_before_its_shell_is_confirmed_should_be_shown_as_ended() {
    let dir = tempfile::tempdir().unwrap();
    let (port, _) = start(dir.path(), Mode::ExitBeforeReply).await;
    let srv = Server::stdio().await;
    let s = srv.connect_address(&format!("127.0.0.1:{port}")).await;

    let began = Instant::now();
    let v = srv
        .ok(
            "ssh_shell_open",
            json!({"session_id": s, "command": "anything"}),
        )
        .await;
    assert!(
        began.elapsed() < Duration::from_secs(20),
        "took {:?}",
        began.elapsed()
    );
    assert!(
        v["output"].as_str().unwrap().contains("early"),
        "output not shown: {v}"
    );
    assert_eq!(v["exited"], true, "{v}");
    assert_eq!(v["exit_code"], 3, "{v}");

    // The login shell the same way.
    let v = srv.ok("ssh_shell_open", json!({"session_id": s})).await;
    assert!(v["output"].as_str().unwrap().contains("early"), "{v}");
    assert_eq!(v["exited"], true, "{v}");
    assert_eq!(v["exit_code"], 3, "{v}");
}

#[tokio::test]
async fn a_flood_before_the_shell_is_confirmed_should_be_refused_promptly() {
    flood_before_the_shell_is_confirmed(Mode::Flood).await;
}

#[tokio::test]
async fn a_flood_of_messages_without_data_should_be_refused_too() {
    flood_before_the_shell_is_confirmed(Mode::FloodStatus).await;
}

/// Opens a shell on a server that floods it before confirming: the call fails promptly and
/// the session goes on.
async fn flood_before_the_shell_is_confirmed(mode: Mode) {
    let dir = tempfile::tempdir().unwrap();
    let (port, _) = start(dir.path(), mode).await;
    let srv = Server::stdio().await;
    let s = srv.connect_address(&format!("127.0.0.1:{port}")).await;

    let began = Instant::now();
    let e = srv
        .err("ssh_shell_open", json!({"session_id": s, "command": "x"}))
        .await;
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "took {:?}",
        began.elapsed()
    );
    assert!(
        e.contains("sent over 64 KiB before confirming the shell"),
        "{e}"
    );

    // The server answers, and the session still runs commands.
    let list = srv.ok("ssh_list_sessions", json!({})).await;
    assert_eq!(list["sessions"][0]["session_id"], s.as_str(), "{list}");
    let v = srv.exec(&s, "echo fine; exit 4").await;
    assert_eq!(v["stdout"], "fine\n");
    assert_eq!(v["exit_code"], 4);
}

/// Runs `echo "A=$A"; exit 5` with `env: {A: "1"}` against a server answering `env` after
/// `delay`; checks the command ran once, with the variable, given by the `env` request when
/// the server accepted it in time and else by the command line.
async fn command_with_late_env(delay: Duration, accept: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mode = Mode::LateEnv {
        delay,
        accept,
        refuse_exec: false,
    };
    let (port, commands) = start(dir.path(), mode).await;
    let srv = Server::stdio().await;
    let s = srv.connect_address(&format!("127.0.0.1:{port}")).await;

    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "command": "echo \"A=$A\"; exit 5",
                   "env": {"A": "1"}, "timeout_secs": 60}),
        )
        .await;
    assert_eq!(v["stdout"], "A=1\n", "{v}");
    assert_eq!(v["exit_code"], 5, "{v}");
    let runs: Vec<String> = commands
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.contains("echo \"A=$A\""))
        .cloned()
        .collect();
    assert_eq!(runs.len(), 1, "{:?}", commands.lock().unwrap());
    // An accepted variable is not exported again; one refused, or not answered within the
    // client's wait, is.
    let exported = !accept || delay >= ENV_WAIT;
    assert_eq!(runs[0].contains("export A="), exported, "{}", runs[0]);
}

#[tokio::test]
async fn an_env_reply_that_comes_late_should_still_let_the_command_run() {
    command_with_late_env(Duration::from_millis(300), true).await;
}

/// Past the client's 10 s wait for an `env` reply the variable counts as refused (and is
/// exported by the command line); the refusal that comes after must not be taken for a
/// refusal of `exec`.
#[tokio::test]
async fn an_env_refusal_after_the_wait_should_not_be_taken_for_the_exec_reply() {
    command_with_late_env(ENV_WAIT + Duration::from_millis(500), false).await;
}

/// A refusal of `exec` that comes after a late `env` reply, past the time the call waits for
/// the command to start before it follows it as a job, is still the call's error.
///
/// The `env` reply comes within the client's wait: russh's server keeps one pending reply
/// per channel, so after an `env` reply past that wait it would drop the reply to `exec`.
#[tokio::test]
async fn an_exec_refused_after_a_late_env_reply_should_be_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let began = Instant::now();
    let mode = Mode::LateEnv {
        delay: START_WAIT + Duration::from_secs(1),
        accept: false,
        refuse_exec: true,
    };
    let (port, _) = start(dir.path(), mode).await;
    let srv = Server::stdio().await;
    let s = srv.connect_address(&format!("127.0.0.1:{port}")).await;

    let e = srv
        .err(
            "ssh_execute",
            json!({"session_id": s, "command": "echo \"A=$A\"; exit 5",
                   "env": {"A": "1"}, "timeout_secs": 60}),
        )
        .await;
    assert!(e.contains("may not run commands"), "{e}");
    assert!(
        began.elapsed() < Duration::from_secs(30),
        "{:?}",
        began.elapsed()
    );
}
