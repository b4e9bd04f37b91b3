//! Hostile input: arguments a server would answer by dropping the whole connection, and
//! local paths that never end or block. Each is a clear tool error at once, and the
//! session carries on. Also raw, partly malformed lines on the stdio transport.

use std::os::unix::fs::FileTypeExt;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::Server;
use crate::sshd::{Sshd, USER};

#[tokio::test]
async fn requests_a_server_would_drop_the_connection_for_should_be_refused() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let e = srv
        .err(
            "ssh_execute",
            json!({"session_id": s, "command": "echo a\u{0}b"}),
        )
        .await;
    assert!(e.contains("NUL"), "{e}");
    let e = srv
        .err(
            "ssh_execute",
            json!({"session_id": s, "command": "true", "env": {"A": "x\u{0}y"}}),
        )
        .await;
    assert!(e.contains("NUL"), "{e}");
    let long = format!("true {}", "x".repeat(40_000));
    let e = srv
        .err("ssh_execute", json!({"session_id": s, "command": long}))
        .await;
    assert!(e.contains("stdin"), "{e}");
    let e = srv
        .err(
            "ssh_list_dir",
            json!({"session_id": s, "path": "/tmp\u{0}x"}),
        )
        .await;
    assert!(e.contains("NUL"), "{e}");
    // The connection carried on: nothing had to reconnect.
    let v = srv.exec(&s, "echo fine").await;
    assert_eq!(v["stdout"], "fine\n");
    assert_eq!(v["reconnected"], false);
    // A long command below the limit runs.
    let v = srv
        .exec(&s, &format!("echo {} | wc -c", "y".repeat(30_000)))
        .await;
    assert_eq!(v["stdout"], "30001\n");
}

#[tokio::test]
async fn local_paths_that_never_end_should_be_refused_at_once() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    for key in ["/dev/zero".as_ref(), fifo.as_path()] {
        let e = srv
            .err(
                "ssh_connect",
                json!({"address": sshd.address(), "username": USER, "key_path": key}),
            )
            .await;
        assert!(e.contains("not a readable private key"), "{e}");
    }
    let s = srv.connect(&sshd).await;
    // /dev is never a local root; a FIFO inside a root is not a regular file.
    let e = srv
        .err(
            "ssh_upload",
            json!({"session_id": s, "local_path": "/dev/zero", "remote_path": "/tmp/ssh-mcp-hostile"}),
        )
        .await;
    assert!(e.contains("never reads or writes"), "{e}");
    let e = srv
        .err(
            "ssh_upload",
            json!({"session_id": s, "local_path": fifo, "remote_path": "/tmp/ssh-mcp-hostile"}),
        )
        .await;
    assert!(e.contains("not a regular file"), "{e}");
    let e = srv
        .err(
            "ssh_download",
            json!({"session_id": s, "remote_path": "/etc/hostname", "local_path": "/dev/null", "overwrite": true}),
        )
        .await;
    assert!(e.contains("never reads or writes"), "{e}");
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Raw lines on the stdio transport: tool calls are read straight into their type, every
/// other line as the SDK reads it. Malformed lines are skipped or answered as invalid, a
/// request that also claims to be a response is refused, and the server keeps serving.
#[tokio::test]
async fn raw_lines_on_stdio_should_be_answered_in_order_and_malformed_ones_refused() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("server.log");
    let bin = crate::harness::binary("ssh-mcp-stdio");
    let mut child = crate::harness::server_command(&bin, home.path(), &log, &Default::default())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let mut output = BufReader::new(child.stdout.take().unwrap()).lines();
    let lines = [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        "{not json",
        "",
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"ssh_list_sessions"},"result":{}}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"ssh_list_sessions","arguments":{}}}"#,
        "\u{feff}{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":\"ssh_list_sessions\"}}\r",
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"no_such_tool"}}"#,
        r#"{"jsonrpc":"2.0","id":6,"method":"ping"}"#,
    ];
    for line in lines {
        input
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }
    input.flush().await.unwrap();
    let mut answers = Vec::new();
    let deadline = Duration::from_secs(20);
    while answers.len() < 6 {
        let line = tokio::time::timeout(deadline, output.next_line())
            .await
            .expect("the server answered every request")
            .unwrap()
            .expect("the server is still running");
        answers.push(serde_json::from_str::<serde_json::Value>(&line).unwrap());
    }
    let by_id = |id: i64| {
        answers
            .iter()
            .find(|a| a["id"] == json!(id))
            .unwrap_or_else(|| panic!("no answer to {id}: {answers:?}"))
    };
    assert!(by_id(1)["result"]["serverInfo"]["name"].is_string());
    // The request with a `result` member is not run: it is answered as invalid, without an id.
    let invalid = answers
        .iter()
        .find(|a| a["id"].is_null())
        .expect("an invalid-request answer");
    assert_eq!(invalid["error"]["code"], json!(-32600), "{invalid}");
    assert!(answers.iter().all(|a| a["id"] != json!(2)), "{answers:?}");
    for id in [3, 4] {
        let r = &by_id(id)["result"];
        assert_eq!(r["isError"], json!(false), "{r}");
        assert!(r["structuredContent"]["sessions"].is_array(), "{r}");
        let text: serde_json::Value =
            serde_json::from_str(r["content"][0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(text, r["structuredContent"]);
    }
    assert!(by_id(5).get("error").is_some() || by_id(5)["result"]["isError"] == json!(true));
    assert!(by_id(6).get("result").is_some());
    drop(input);
    let status = tokio::time::timeout(deadline, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}
