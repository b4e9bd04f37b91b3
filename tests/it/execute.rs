//! `ssh_execute`: exact output and exit status, signals, stdin, big and concurrent output.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::Server;
use crate::sshd::Sshd;

#[tokio::test]
async fn exit_codes_and_streams_should_be_exact_on_every_run() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    for i in 0..30 {
        let v = srv
            .exec(
                &s,
                &format!(
                    "printf 'out {i}\\n'; printf 'err {i}\\n' >&2; exit {}",
                    i % 4
                ),
            )
            .await;
        assert_eq!(v["stdout"], format!("out {i}\n"));
        assert_eq!(v["stderr"], format!("err {i}\n"));
        assert_eq!(v["exit_code"], i % 4, "run {i}: {v}");
        assert_eq!(v["exit_signal"], serde_json::Value::Null);
        assert_eq!(v["timed_out"], false);
        assert_eq!(v["truncated"], false);
        assert_eq!(v["stdout_bytes"], format!("out {i}\n").len());
    }
}

#[tokio::test]
async fn a_signal_death_should_give_a_null_exit_code_and_the_signal_name() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let v = srv.exec(&s, "echo before; kill -KILL $$").await;
    assert_eq!(v["exit_code"], serde_json::Value::Null, "{v}");
    assert_eq!(v["exit_signal"], "KILL");
    assert_eq!(v["stdout"], "before\n");
    let v = srv.exec(&s, "kill -TERM $$").await;
    assert_eq!(v["exit_signal"], "TERM");
}

#[tokio::test]
async fn stdin_should_be_closed_or_fed() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let started = Instant::now();
    let v = srv.exec(&s, "cat; echo done").await;
    assert_eq!(v["stdout"], "done\n");
    assert!(started.elapsed() < Duration::from_secs(5));
    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "command": "tr a-z A-Z", "stdin": "hello\nworld\n"}),
        )
        .await;
    assert_eq!(v["stdout"], "HELLO\nWORLD\n");
}

#[tokio::test]
async fn large_stderr_should_not_deadlock_and_should_be_counted() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let v = srv
        .exec(&s, "head -c 3145728 /dev/zero | tr '\\0' x >&2; echo done")
        .await;
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["stdout"], "done\n");
    assert_eq!(v["stderr_bytes"], 3145728);
    assert_eq!(v["truncated"], true);
    let err = v["stderr"].as_str().unwrap();
    assert!(
        err.contains("bytes omitted") && err.len() < 70_000,
        "{}",
        err.len()
    );
}

#[tokio::test]
async fn interleaved_output_should_arrive_complete_and_separated() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let n = 20_000;
    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "max_output_bytes": 4_000_000,
                   "command": format!("i=1; while [ $i -le {n} ]; do echo \"out $i\"; echo \"err $i\" >&2; i=$((i+1)); done")}),
        )
        .await;
    let want_out: String = (1..=n).map(|i| format!("out {i}\n")).collect();
    let want_err: String = (1..=n).map(|i| format!("err {i}\n")).collect();
    assert_eq!(v["truncated"], false);
    assert!(v["stdout"] == want_out.as_str(), "stdout differs");
    assert!(v["stderr"] == want_err.as_str(), "stderr differs");
}

#[tokio::test]
async fn twenty_concurrent_commands_on_one_session_should_all_succeed() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let started = Instant::now();
    let calls = (0..20).map(|i| {
        let srv = &srv;
        let s = s.clone();
        async move { (i, srv.exec(&s, &format!("sleep 1; echo {i}")).await) }
    });
    for (i, v) in futures::future::join_all(calls).await {
        assert_eq!(v["stdout"], format!("{i}\n"));
        assert_eq!(v["exit_code"], 0);
    }
    // sshd allows 10 channels per connection: two waves of one second, not twenty.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_slow_command_should_not_delay_another_session() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let a = srv.connect(&sshd).await;
    let b = srv.connect(&sshd).await;
    let slow = srv.exec(&a, "sleep 4; echo slow");
    let fast = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let t = Instant::now();
        let v = srv.exec(&b, "echo fast").await;
        (v, t.elapsed())
    };
    let (slow, (fast, took)) = tokio::join!(slow, fast);
    assert_eq!(slow["stdout"], "slow\n");
    assert_eq!(fast["stdout"], "fast\n");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[tokio::test]
async fn invalid_utf8_should_be_decoded_lossily() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let v = srv.exec(&s, "printf 'a\\377\\376b'").await;
    assert_eq!(v["stdout"], "a\u{fffd}\u{fffd}b");
    assert_eq!(v["stdout_bytes"], 4);
}

#[tokio::test]
async fn a_timeout_should_stop_the_command_and_return_partial_output() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let started = Instant::now();
    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "command": "echo started; sleep 30", "timeout_secs": 1}),
        )
        .await;
    assert_eq!(v["timed_out"], true, "{v}");
    assert_eq!(v["stdout"], "started\n");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    // The session stays usable.
    assert_eq!(srv.exec(&s, "echo ok").await["stdout"], "ok\n");
}

#[tokio::test]
async fn a_timeout_should_leave_no_process_of_the_command_behind() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let probe = srv.connect(&sshd).await;
    // Each marker number is unique to this test; the probe looks for them from another session.
    let cases = [
        ("sleep 3101", "HUP"),
        ("echo x; sleep 3102; echo never", "HUP"),
        ("sleep 3103 | cat", "HUP"),
        ("(sleep 3104 &); sleep 3105", "HUP"),
        ("trap '' HUP INT TERM; sleep 3106; sleep 3107", "KILL"),
    ];
    for (cmd, signal) in cases {
        let v = srv
            .ok(
                "ssh_execute",
                json!({"session_id": s, "command": cmd, "timeout_secs": 1}),
            )
            .await;
        assert_eq!(v["timed_out"], true, "{cmd}: {v}");
        assert_eq!(v["exit_signal"], signal, "{cmd}: {v}");
    }
    let left = srv
        .exec(&probe, "pgrep -a -f 'sleep 31[0-9][0-9]' || true")
        .await;
    assert_eq!(left["stdout"], "", "processes left behind");
}
