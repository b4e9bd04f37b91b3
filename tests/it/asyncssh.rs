//! AsyncSSH (Python), a fourth SSH server implementation, from the interop virtual
//! environment: the core behaviour against a server that shares no code with OpenSSH.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::harness::Server;
use crate::official::{Tools, spec_dir};
use crate::sshd::{self, keygen};

/// A running AsyncSSH server; it exits when its stdin closes.
struct AsyncSsh {
    child: tokio::process::Child,
    port: u16,
}

impl AsyncSsh {
    /// Starts `asyncssh_server.py` with a new host key; `mode` is passed on as its third
    /// argument (`sftp-only`).
    async fn start(tools: &Tools, dir: &std::path::Path, mode: Option<&str>) -> Self {
        let host_key = keygen(dir, "host", "ed25519", "");
        let mut cmd = tokio::process::Command::new(tools.python());
        cmd.arg(spec_dir().join("asyncssh_server.py"))
            .arg(&host_key)
            .arg(sshd::user().key.with_extension("pub"));
        if let Some(mode) = mode {
            cmd.arg(mode);
        }
        let mut child = cmd
            .env("PYTHONWARNINGS", "ignore::RuntimeWarning")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the AsyncSSH server did not start")
            .unwrap()
            .unwrap_or_default();
        let port = ready
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {ready:?}"));
        AsyncSsh { child, port }
    }

    async fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

#[tokio::test]
async fn asyncssh_should_run_commands_move_files_and_forward() {
    let Some(tools) = Tools::get("asyncssh") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = AsyncSsh::start(&tools, dir.path(), None).await;
    let port = server.port;

    let srv = Server::stdio().await;
    let s = srv.connect_address(&format!("127.0.0.1:{port}")).await;

    let v = srv.exec(&s, "echo out; echo err >&2; exit 7").await;
    assert_eq!(
        (&v["stdout"], &v["stderr"], &v["exit_code"]),
        (&json!("out\n"), &json!("err\n"), &json!(7))
    );
    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "command": "cat; pwd; echo $GREETING", "stdin": "in\n", "cwd": "/tmp", "env": {"GREETING": "hi there"}}),
        )
        .await;
    assert_eq!(v["stdout"], "in\n/tmp\nhi there\n");
    let commands: Vec<String> = (0..10).map(|i| format!("sleep 0.2; echo {i}")).collect();
    let runs = commands.iter().map(|c| srv.exec(&s, c));
    for (i, v) in futures::future::join_all(runs).await.iter().enumerate() {
        assert_eq!(v["stdout"], format!("{i}\n"));
    }

    let remote = dir.path().join("remote.bin");
    let content: String = (0..200_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let up = srv
        .ok(
            "ssh_upload",
            json!({"session_id": s, "remote_path": remote, "content": content}),
        )
        .await;
    let down = srv
        .ok(
            "ssh_download",
            json!({"session_id": s, "remote_path": remote}),
        )
        .await;
    assert_eq!(down["content"], content);
    assert_eq!(up["sha256"], down["sha256"]);
    let listed = srv
        .ok("ssh_list_dir", json!({"session_id": s, "path": dir.path()}))
        .await;
    assert!(
        listed["entries"].to_string().contains("remote.bin"),
        "{listed}"
    );

    let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_port = echo.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = echo.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = c.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let fwd = srv
        .ok(
            "ssh_forward",
            json!({"session_id": s, "local_port": 0, "remote_address": "127.0.0.1", "remote_port": echo_port}),
        )
        .await;
    let mut c = tokio::net::TcpStream::connect(fwd["local_address"].as_str().unwrap())
        .await
        .unwrap();
    c.write_all(b"through the tunnel").await.unwrap();
    c.shutdown().await.unwrap();
    let mut back = String::new();
    c.read_to_string(&mut back).await.unwrap();
    assert_eq!(back, "through the tunnel");

    server.stop().await;
}

/// A server that serves SFTP but runs no commands (AsyncSSH without a process factory
/// answers exec requests with a failure, as ProFTPD's mod_sftp does): the command is
/// refused with an error that points to the file tools, and the session stays usable.
#[tokio::test]
async fn an_sftp_only_server_should_refuse_commands_clearly() {
    let Some(tools) = Tools::get("asyncssh") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = AsyncSsh::start(&tools, dir.path(), Some("sftp-only")).await;
    let srv = Server::stdio().await;
    let s = srv
        .connect_address(&format!("127.0.0.1:{}", server.port))
        .await;

    let e = srv
        .err(
            "ssh_execute",
            json!({"session_id": s, "command": "echo hi"}),
        )
        .await;
    assert!(e.contains("the server refused to run the command"), "{e}");
    assert!(
        e.contains("ssh_upload, ssh_download and ssh_list_dir"),
        "{e}"
    );
    let e = srv
        .err(
            "ssh_execute",
            json!({"session_id": s, "command": "echo hi", "background": true}),
        )
        .await;
    assert!(e.contains("the server refused to run the command"), "{e}");
    // A terminal is granted, but no program runs on it: the shell is refused as clearly.
    for args in [
        json!({"session_id": s}),
        json!({"session_id": s, "command": "top"}),
    ] {
        let e = srv.err("ssh_shell_open", args).await;
        assert!(e.contains("the server refused to run the command"), "{e}");
    }
    let v = srv.ok("ssh_list_sessions", json!({})).await;
    assert!(!v.to_string().contains("shell_id"), "{v}");

    let remote = dir.path().join("still-works.txt");
    srv.ok(
        "ssh_upload",
        json!({"session_id": s, "remote_path": remote, "content": "yes"}),
    )
    .await;
    assert_eq!(std::fs::read_to_string(&remote).unwrap(), "yes");
    server.stop().await;
}
