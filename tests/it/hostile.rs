//! Hostile input: arguments a server would answer by dropping the whole connection, and
//! local paths that never end or block. Each is a clear tool error at once, and the
//! session carries on.

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
