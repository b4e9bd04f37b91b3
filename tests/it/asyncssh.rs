//! AsyncSSH (Python), a fourth SSH server implementation, from the interop virtual
//! environment: the core behaviour against a server that shares no code with OpenSSH.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::harness::Server;
use crate::official::{Tools, spec_dir};
use crate::sshd::{self, keygen};

#[tokio::test]
async fn asyncssh_should_run_commands_move_files_and_forward() {
    let Some(tools) = Tools::get("asyncssh") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let host_key = keygen(dir.path(), "host", "ed25519", "");
    let mut server = tokio::process::Command::new(tools.python())
        .arg(spec_dir().join("asyncssh_server.py"))
        .arg(&host_key)
        .arg(sshd::user().key.with_extension("pub"))
        .env("PYTHONWARNINGS", "ignore::RuntimeWarning")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the AsyncSSH server did not start")
        .unwrap()
        .unwrap_or_default();
    let port: u16 = ready
        .strip_prefix("port ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line: {ready:?}"));

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

    drop(server.stdin.take());
    let _ = tokio::time::timeout(Duration::from_secs(5), server.wait()).await;
}
