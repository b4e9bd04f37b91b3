//! Process lifecycle, tool listing, and secrets in logs.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::harness::{Opts, Server, Transport};
use crate::sshd::{PASSWORD, Sshd, USER};

#[tokio::test]
async fn tools_should_be_listed_with_schemas_and_annotations() {
    let srv = Server::stdio().await;
    let tools = srv.client.list_all_tools().await.unwrap();
    let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    for want in [
        "ssh_connect",
        "ssh_execute",
        "ssh_disconnect",
        "ssh_list_sessions",
    ] {
        assert!(names.contains(&want.to_string()), "{names:?}");
    }
    assert_eq!(
        names.contains(&"ssh_forward".to_string()),
        cfg!(feature = "port_forward"),
        "{names:?}"
    );
    for t in &tools {
        assert!(t.output_schema.is_some(), "{} has no outputSchema", t.name);
        assert!(t.annotations.is_some(), "{} has no annotations", t.name);
        assert!(
            t.description.as_ref().is_some_and(|d| d.len() > 30),
            "{}",
            t.name
        );
    }
    let list = tools
        .iter()
        .find(|t| t.name == "ssh_list_sessions")
        .unwrap();
    assert_eq!(
        list.annotations.as_ref().unwrap().read_only_hint,
        Some(true)
    );
    let connect = tools.iter().find(|t| t.name == "ssh_connect").unwrap();
    let props = connect.input_schema.get("properties").unwrap();
    for p in ["address", "username", "password", "key_path", "passphrase"] {
        assert!(
            props.get(p).and_then(|v| v.get("description")).is_some(),
            "{p} undocumented"
        );
    }
}

/// What a client hands the model for every tool (name, description, input schema, as
/// JSON) stays within this budget, whatever tools are added.
const TOOL_TEXT_BUDGET: usize = 12 * 1024;

#[tokio::test]
async fn the_tool_text_a_model_reads_should_stay_within_its_budget() {
    let srv = Server::stdio().await;
    let tools = srv.client.list_all_tools().await.unwrap();
    let sizes: Vec<(String, usize)> = tools
        .iter()
        .map(|t| {
            let text = json!({
                "name": t.name,
                "description": t.description,
                "inputSchema": t.input_schema,
            });
            (
                t.name.to_string(),
                serde_json::to_string(&text).unwrap().len(),
            )
        })
        .collect();
    let total: usize = sizes.iter().map(|(_, n)| n).sum();
    eprintln!(
        "tool text: {total} bytes for {} tools: {sizes:?}",
        sizes.len()
    );
    assert!(
        total <= TOOL_TEXT_BUDGET,
        "the tools' text is {total} bytes, over the {TOOL_TEXT_BUDGET}-byte budget: {sizes:?}"
    );
    // The instructions name every tool that is enabled, and no other, briefly.
    let instructions = srv
        .client
        .peer_info()
        .unwrap()
        .instructions
        .clone()
        .unwrap_or_default();
    assert!(instructions.len() < 1024, "{} bytes", instructions.len());
    for (name, _) in &sizes {
        assert!(
            instructions.contains(name.as_str()),
            "{name} missing: {instructions}"
        );
    }
    for word in instructions.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
        if word.starts_with("ssh_") {
            assert!(
                sizes.iter().any(|(n, _)| n == word),
                "{word} is named but not enabled: {instructions}"
            );
        }
    }
}

#[tokio::test]
async fn a_password_should_never_reach_the_logs_even_at_trace() {
    let sshd = Sshd::start();
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            env: vec![("RUST_LOG".into(), "trace".into())],
            ..Default::default()
        },
    )
    .await;
    let ok = srv
        .ok(
            "ssh_connect",
            json!({"address": sshd.address(), "username": USER, "password": PASSWORD}),
        )
        .await;
    let bad = "Wr0ng-Secret-Value-91";
    let e = srv
        .err(
            "ssh_connect",
            json!({"address": sshd.address(), "username": USER, "password": bad}),
        )
        .await;
    assert!(!e.contains(bad));
    assert!(!ok.to_string().contains(PASSWORD));
    srv.exec(ok["session_id"].as_str().unwrap(), "true").await;
    let log = srv.log();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the log should be verbose:\n{log}"
    );
    assert!(
        !log.contains(PASSWORD) && !log.contains(bad),
        "a password leaked into the log"
    );
}

#[tokio::test]
async fn stdio_server_should_exit_when_stdin_closes() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ssh-mcp-stdio"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#).await.unwrap();
    stdin.write_all(b"\n").await.unwrap();
    drop(stdin);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("did not exit")
        .unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn http_server_should_close_ssh_sessions_on_sigterm() {
    let sshd = Sshd::start();
    let srv = Server::start(Transport::Http).await;
    let s = srv.connect(&sshd).await;
    srv.exec(&s, "true").await;
    let pid = srv.pid;
    let out = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(out.success());
    let mut closed = false;
    for _ in 0..100 {
        if srv.log().contains("closed all sessions") {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(closed, "server log:\n{}", srv.log());
}

#[test]
fn both_binaries_should_print_help() {
    for bin in [
        env!("CARGO_BIN_EXE_ssh-mcp"),
        env!("CARGO_BIN_EXE_ssh-mcp-stdio"),
    ] {
        let out = std::process::Command::new(bin)
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("--host-key-policy") && text.contains("Usage"),
            "{text}"
        );
    }
}
