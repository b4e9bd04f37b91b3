//! Misused shell tools: unknown and foreign shell ids, bad sizes, keys and patterns, too
//! many shells, and the command policy.

use serde_json::json;

use crate::harness::{Opts, Server, Transport, http_client};
use crate::shell::{open, server_with_max_shells};
use crate::sshd::Sshd;

#[tokio::test]
async fn misuse_should_be_refused_with_a_clear_error() {
    let sshd = Sshd::start();
    let srv = server_with_max_shells(2).await;
    let s = srv.connect(&sshd).await;
    let e = srv.err("ssh_shell_read", json!({"shell_id": "nope"})).await;
    assert!(e.contains("no shell"), "{e}");
    for (rows, cols) in [(0, 80), (100_000, 80), (24, 4_000_000_000u64)] {
        let e = srv
            .err(
                "ssh_shell_open",
                json!({"session_id": s, "rows": rows, "cols": cols}),
            )
            .await;
        assert!(e.contains("rows and cols"), "{e}");
    }
    let e = srv
        .err(
            "ssh_shell_open",
            json!({"session_id": s, "term": "xterm\n; rm"}),
        )
        .await;
    assert!(e.contains("term"), "{e}");
    let a = open(&srv, &s, json!({})).await;
    let _b = open(&srv, &s, json!({})).await;
    let e = srv.err("ssh_shell_open", json!({"session_id": s})).await;
    assert!(e.contains("2 shells"), "{e}");
    let e = srv
        .err(
            "ssh_shell_send",
            json!({"shell_id": a, "keys": ["enter", "ctrl+shift+x"]}),
        )
        .await;
    assert!(e.contains("unknown key") && e.contains("pgdn"), "{e}");
    let e = srv
        .err(
            "ssh_shell_read",
            json!({"shell_id": a, "wait_for": "(unclosed"}),
        )
        .await;
    assert!(e.contains("regex"), "{e}");
    let e = srv
        .err(
            "ssh_shell_read",
            json!({"shell_id": a, "wait_for": "a".repeat(5000)}),
        )
        .await;
    assert!(e.contains("wait_for"), "{e}");
    srv.ok("ssh_shell_close", json!({"shell_id": a})).await;
    open(&srv, &s, json!({})).await;
}

#[tokio::test]
async fn another_tokens_shell_should_not_be_found() {
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens");
    std::fs::write(
        &file,
        "alice:alice-token-0123456789\nbob:bob-token-0123456789ab\n",
    )
    .unwrap();
    let srv = Server::start_with(
        Transport::Http,
        Opts {
            args: vec!["--token-file".into(), file.display().to_string()],
            token: Some("alice-token-0123456789".into()),
            ..Default::default()
        },
    )
    .await;
    let s = srv.connect(&sshd).await;
    let sh = open(&srv, &s, json!({})).await;
    let bob = http_client(srv.url.as_ref().unwrap(), Some("bob-token-0123456789ab")).await;
    for tool in ["ssh_shell_read", "ssh_shell_send", "ssh_shell_close"] {
        let r = bob
            .call_tool(
                rmcp::model::CallToolRequestParams::new(tool).with_arguments(
                    json!({"shell_id": sh, "text": "id"})
                        .as_object()
                        .unwrap()
                        .clone(),
                ),
            )
            .await
            .unwrap();
        assert_eq!(r.is_error, Some(true), "{tool}");
        assert!(crate::harness::text(&r).contains("no shell"), "{tool}");
    }
    srv.ok("ssh_shell_read", json!({"shell_id": sh})).await;
}

#[tokio::test]
async fn the_read_only_preset_should_refuse_shells_and_rules_apply_to_typed_lines() {
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro.toml");
    std::fs::write(&ro, "[security.commands]\npreset = \"read_only\"\n").unwrap();
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            args: vec!["--config".into(), ro.display().to_string()],
            ..Default::default()
        },
    )
    .await;
    let s = srv.connect(&sshd).await;
    let e = srv.err("ssh_shell_open", json!({"session_id": s})).await;
    assert!(e.contains("read_only"), "{e}");

    let deny = dir.path().join("deny.toml");
    std::fs::write(&deny, "[security.commands]\ndeny = [\"forbidden-word\"]\n").unwrap();
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            args: vec!["--config".into(), deny.display().to_string()],
            ..Default::default()
        },
    )
    .await;
    let s = srv.connect(&sshd).await;
    let e = srv
        .err(
            "ssh_shell_open",
            json!({"session_id": s, "command": "echo forbidden-word"}),
        )
        .await;
    assert!(e.contains("REFUSED") || e.contains("not allow"), "{e}");
    let sh = open(&srv, &s, json!({})).await;
    srv.ok(
        "ssh_shell_send",
        json!({"shell_id": sh, "text": "echo forbidden"}),
    )
    .await;
    let e = srv
        .err(
            "ssh_shell_send",
            json!({"shell_id": sh, "text": "-word", "keys": ["enter"]}),
        )
        .await;
    assert!(e.contains("not allow"), "{e}");
}

#[tokio::test]
async fn a_server_that_refuses_a_terminal_should_say_so() {
    // Two channels at most: a refused shell that kept its channel would use them up.
    let sshd = Sshd::builder()
        .config("PermitTTY no")
        .config("MaxSessions 2")
        .start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    for _ in 0..3 {
        let e = srv.err("ssh_shell_open", json!({"session_id": s})).await;
        assert!(
            e.contains("refused a terminal") && e.contains("ssh_execute"),
            "{e}"
        );
    }
    // The session still runs commands, and holds no half-open shell.
    let v = srv.exec(&s, "echo still-here").await;
    assert_eq!(v["stdout"], "still-here\n");
    let v = srv.ok("ssh_list_sessions", json!({})).await;
    assert!(!v.to_string().contains("shell_id"), "{v}");
    srv.stop().await;
}
