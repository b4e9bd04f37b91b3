//! Ways around the shell limits: lines submitted by keys other than Enter or by the Enter
//! after a secret, ended shells that no longer counted, terminals too large to hold, and
//! input queued behind a program that never reads it, and a `wait_for` pattern costly
//! enough to hold the server's threads.

use serde_json::json;

use crate::harness::{Opts, Server, Transport};
use crate::shell::{open, server_with_max_shells};
use crate::sshd::{Sshd, USER, user};

#[tokio::test]
async fn every_way_of_submitting_a_line_should_be_checked() {
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[security.commands]\ndeny = [\"forbidden-word\"]\n\n\
             [hosts.box]\naddress = \"{addr}\"\nuser = \"{USER}\"\nidentity_file = \"{key}\"\nsudo_password_env = \"SSHMCP_TEST_PW\"\n",
            addr = sshd.address(),
            key = user().key.display(),
        ),
    )
    .unwrap();
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            args: vec!["--config".into(), config.display().to_string()],
            env: vec![("SSHMCP_TEST_PW".into(), "pw-0123".into())],
            ..Default::default()
        },
    )
    .await;
    let v = srv.ok("ssh_connect", json!({"address": "box"})).await;
    let s = v["session_id"].as_str().unwrap().to_string();
    let sh = open(&srv, &s, json!({})).await;
    for submit in [
        json!({"keys": ["ctrl+m"]}),
        json!({"keys": ["CTRL+J"]}),
        json!({"keys": ["ctrl+o"]}),
        json!({"text": "\u{f}"}),
        json!({"secret": "sudo"}),
    ] {
        srv.ok(
            "ssh_shell_send",
            json!({"shell_id": sh, "text": "echo forbidden-word #"}),
        )
        .await;
        let mut args = submit.clone();
        args["shell_id"] = json!(sh);
        let e = srv.err("ssh_shell_send", args).await;
        assert!(e.contains("not allow"), "{submit}: {e}");
        srv.ok(
            "ssh_shell_send",
            json!({"shell_id": sh, "keys": ["ctrl+u"]}),
        )
        .await;
    }
}

#[tokio::test]
async fn ended_shells_should_count_and_huge_terminals_be_refused() {
    let sshd = Sshd::start();
    let srv = server_with_max_shells(2).await;
    let s = srv.connect(&sshd).await;
    let e = srv
        .err(
            "ssh_shell_open",
            json!({"session_id": s, "rows": 1000, "cols": 1000}),
        )
        .await;
    assert!(e.contains("rows × cols"), "{e}");
    for _ in 0..2 {
        let v = srv
            .ok(
                "ssh_shell_open",
                json!({"session_id": s, "command": "true", "rows": 100, "cols": 1000}),
            )
            .await;
        let sh = v["shell_id"].as_str().unwrap();
        let v = srv
            .ok(
                "ssh_shell_read",
                json!({"shell_id": sh, "timeout_ms": 5000}),
            )
            .await;
        assert_eq!(v["exited"], true, "{v}");
    }
    let e = srv
        .err(
            "ssh_shell_open",
            json!({"session_id": s, "command": "true"}),
        )
        .await;
    assert!(e.contains("2 shells"), "{e}");
}

#[tokio::test]
async fn input_to_a_program_that_never_reads_should_time_out_every_time() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let sh = open(&srv, &s, json!({"command": "stty raw -echo; sleep 600"})).await;
    let text = "x".repeat(1024 * 1024);
    let mut refused = 0;
    for _ in 0..14 {
        let call = srv.call(
            "ssh_shell_send",
            json!({"shell_id": sh, "text": text, "timeout_ms": 300, "idle_ms": 1}),
        );
        let r = tokio::time::timeout(std::time::Duration::from_secs(20), call)
            .await
            .expect("a send to a program that does not read should end at its timeout");
        if r.is_error == Some(true) {
            assert!(crate::harness::text(&r).contains("in time"), "{r:?}");
            refused += 1;
        }
    }
    assert!(refused >= 5, "{refused}");
    srv.ok("ssh_shell_close", json!({"shell_id": sh})).await;
}

#[tokio::test]
async fn a_costly_wait_for_should_not_stall_other_calls() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let sh = open(
        &srv,
        &s,
        json!({"command": "sleep 1; yes ab | head -c 1000000 | tr -d '\\n'; sleep 600"}),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let costly = format!("({})+x", "[ab]?".repeat(150));
    let read = || {
        srv.call(
            "ssh_shell_read",
            json!({"shell_id": sh, "wait_for": costly, "timeout_ms": 1000}),
        )
    };
    let other = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let t = std::time::Instant::now();
        srv.ok("ssh_list_sessions", json!({})).await;
        t.elapsed()
    };
    let (_, _, took) = tokio::join!(read(), read(), other);
    assert!(took < std::time::Duration::from_secs(3), "{took:?}");
}
