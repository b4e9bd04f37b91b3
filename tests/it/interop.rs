//! The same behaviour against other SSH server implementations: Dropbear and tinysshd.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::Server;
use crate::sshd::{Dropbear, PASSWORD, USER};
use crate::tinyssh::Tinysshd;

#[tokio::test]
async fn dropbear_should_run_commands_exactly_and_stop_them() {
    let db = Dropbear::start();
    let srv = Server::stdio().await;
    let s = srv.connect_address(&db.address()).await;
    let v = srv
        .ok(
            "ssh_connect",
            json!({"address": db.address(), "username": USER, "password": PASSWORD}),
        )
        .await;
    let probe = v["session_id"].as_str().unwrap().to_string();
    for i in 0..10 {
        let v = srv
            .exec(&s, &format!("echo out {i}; echo err {i} >&2; exit {i}"))
            .await;
        assert_eq!(v["stdout"], format!("out {i}\n"));
        assert_eq!(v["stderr"], format!("err {i}\n"));
        assert_eq!(v["exit_code"], i);
    }
    let v = srv.exec(&s, "kill -KILL $$").await;
    assert_eq!(v["exit_signal"], "KILL");
    let v = srv
        .ok("ssh_execute", json!({"session_id": s, "command": "pwd; echo $GREETING", "cwd": "/tmp", "env": {"GREETING": "hi there"}, "stdin": "x"}))
        .await;
    assert_eq!(v["stdout"], "/tmp\nhi there\n");
    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "command": "sleep 3401", "timeout_secs": 1}),
        )
        .await;
    assert_eq!(v["timed_out"], true);
    let mut gone = false;
    for _ in 0..30 {
        let p = srv.exec(&probe, "pgrep -f '[s]leep 3401' || true").await;
        if p["stdout"] == "" {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the timed-out command survived on dropbear");
}

/// Dropbear 2022.82–2024.85 ends the connection when commands overlap badly; on those
/// versions commands of one session take turns, so a burst of them must still all succeed.
#[tokio::test]
async fn dropbear_should_run_concurrent_commands() {
    let db = Dropbear::start();
    let srv = Server::stdio().await;
    let s = srv.connect_address(&db.address()).await;
    assert!(
        srv.log().contains("run one at a time"),
        "Dropbear's version was not recognised"
    );
    for round in 0..10 {
        let calls = (0..16).map(|i| {
            srv.call(
                "ssh_execute",
                json!({"session_id": s, "command": format!("echo {round}-{i}; exit {i}")}),
            )
        });
        for (i, r) in futures::future::join_all(calls)
            .await
            .into_iter()
            .enumerate()
        {
            let v = r.structured_content.clone().unwrap_or_default();
            assert!(
                r.is_error != Some(true)
                    && v["stdout"] == format!("{round}-{i}\n")
                    && v["exit_code"] == i,
                "round {round} command {i}: {r:?}\ndropbear log:\n{}\nserver log tail:\n{}",
                db.log(),
                srv.log()
                    .lines()
                    .rev()
                    .take(40)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
}

/// tinysshd ends the connection with the channel of each command and sends no extension
/// info: connecting must not wait for it, and commands back to back must each get their
/// exact result, the connection the server ended being replaced before the next starts.
#[tokio::test]
async fn tinysshd_should_run_commands_back_to_back() {
    let t = Tinysshd::start();
    let srv = Server::stdio().await;
    let started = Instant::now();
    let s = srv.connect_address(&t.address()).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(800),
        "connecting to tinysshd took {took:?}"
    );
    for i in 0..8 {
        let v = srv
            .ok(
                "ssh_execute",
                json!({"session_id": s, "command": format!("echo out {i} $N; echo err {i} >&2; exit {i}"), "env": {"N": "n"}}),
            )
            .await;
        assert_eq!(v["stdout"], format!("out {i} n\n"), "{}", t.log());
        assert_eq!(v["stderr"], format!("err {i}\n"));
        assert_eq!(v["exit_code"], i);
        assert_eq!(v["reconnected"], i > 0, "command {i}");
    }
}
