//! A misbehaving SSH server for the start of shells and commands: it answers the `shell` (or
//! `exec`) request of a terminal channel late or never, with the program's whole life or a
//! flood of messages before the answer, or answers `env` requests late. No real server does
//! this; the client must still show what ran, refuse the flood promptly, and not take a late
//! `env` reply for the reply to `exec`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::Server;

mod server;
use server::{ENV_WAIT, Mode, START_WAIT, start};

/// A misbehaving server in `mode` and a stdio server with a session on it.
struct Rig {
    srv: Server,
    session: String,
    /// The command lines the misbehaving server received.
    commands: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

async fn rig(mode: Mode) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let (port, commands) = start(dir.path(), mode).await;
    let srv = Server::stdio().await;
    let session = srv.connect_address(&format!("127.0.0.1:{port}")).await;
    Rig {
        srv,
        session,
        commands,
        _dir: dir,
    }
}

#[tokio::test]
async fn a_program_that_ends_before_its_shell_is_confirmed_should_be_shown_as_ended() {
    let setup = rig(Mode::ExitBeforeReply).await;
    let (srv, s) = (&setup.srv, &setup.session);

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
    let setup = rig(mode).await;
    let (srv, s) = (&setup.srv, &setup.session);

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
    let v = srv.exec(s, "echo fine; exit 4").await;
    assert_eq!(v["stdout"], "fine\n");
    assert_eq!(v["exit_code"], 4);
}

/// Runs `echo "A=$A"; exit 5` with `env: {A: "1"}` against a server answering `env` after
/// `delay`; checks the command ran once, with the variable, given by the `env` request when
/// the server accepted it in time and else by the command line.
async fn command_with_late_env(delay: Duration, accept: bool) {
    let mode = Mode::LateEnv {
        delay,
        accept,
        refuse_exec: false,
    };
    let setup = rig(mode).await;
    let (srv, s) = (&setup.srv, &setup.session);
    let commands = &setup.commands;

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
    let began = Instant::now();
    let mode = Mode::LateEnv {
        delay: START_WAIT + Duration::from_secs(1),
        accept: false,
        refuse_exec: true,
    };
    let setup = rig(mode).await;
    let (srv, s) = (&setup.srv, &setup.session);

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
