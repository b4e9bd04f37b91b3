//! Forwards go only where the operator allows: local and SOCKS targets under
//! `allowed_hosts`, remote forwards listening on the server's loopback and delivering to
//! this machine's loopback (never to this server's own listener), a cap per session, and
//! SOCKS clients that must finish their handshake in time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::forward::{echo_server, socks_connect};
use crate::harness::{Opts, Server, Transport};
use crate::reach::with_config;
use crate::sshd::Sshd;

/// A listener on `ip` that counts the connections it accepts.
pub(crate) async fn victim(ip: &str) -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind((ip, 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        while let Ok((_s, _)) = l.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, count)
}

async fn echoes(addr: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return false;
    };
    s.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut buf)).await,
        Ok(Ok(_))
    ) && &buf == b"ping"
}

#[tokio::test]
async fn local_and_socks_forwards_should_reach_only_allowed_targets() {
    let sshd = Sshd::start();
    let echo = echo_server().await;
    let (port, hits) = victim("127.0.0.2").await;
    let (_d, srv) = with_config(
        r#"
        [security]
        allowed_hosts = ["127.0.0.1"]
        "#,
    )
    .await;
    let s = srv.connect(&sshd).await;
    let v = srv
        .ok(
            "ssh_forward",
            json!({"session_id": s, "local_port": 0, "remote_address": "127.0.0.1", "remote_port": echo}),
        )
        .await;
    assert!(echoes(v["local_address"].as_str().unwrap()).await);
    for target in ["127.0.0.2", "127.2", "2130706434", "::ffff:127.0.0.2"] {
        let e = srv
            .err(
                "ssh_forward",
                json!({"session_id": s, "local_port": 0, "remote_address": target, "remote_port": port}),
            )
            .await;
        assert!(e.contains("allowed hosts"), "{target}: {e}");
    }
    let v = srv
        .ok(
            "ssh_forward",
            json!({"session_id": s, "kind": "dynamic", "local_port": 0}),
        )
        .await;
    let proxy = v["local_address"].as_str().unwrap().to_string();
    assert!(socks_connect(&proxy, "127.0.0.1", echo).await.is_ok());
    for target in ["127.0.0.2", "127.2"] {
        assert_eq!(
            socks_connect(&proxy, target, port).await.err(),
            Some(2),
            "{target}: the SOCKS proxy should refuse by ruleset"
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a refused target was reached"
    );
}

#[tokio::test]
async fn remote_forwards_should_listen_and_deliver_on_loopback_only() {
    let sshd = Sshd::builder()
        .config("GatewayPorts clientspecified")
        .start();
    let echo = echo_server().await;
    let srv = Server::start_with(Transport::Http, Opts::default()).await;
    let s = srv.connect(&sshd).await;
    for bind in ["0.0.0.0", "::", "*", "192.0.2.1"] {
        let e = srv
            .err(
                "ssh_forward",
                json!({"session_id": s, "kind": "remote", "remote_address": bind, "remote_port": 0, "local_port": echo}),
            )
            .await;
        assert!(e.contains("loopback"), "{bind}: {e}");
    }
    let own_port: u16 = srv
        .url
        .as_deref()
        .unwrap()
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/mcp")
        .parse()
        .unwrap();
    for (host, port) in [
        ("127.0.0.1", own_port),
        ("localhost", own_port),
        ("192.0.2.1", echo),
    ] {
        let e = srv
            .err(
                "ssh_forward",
                json!({"session_id": s, "kind": "remote", "remote_port": 0, "local_host": host, "local_port": port}),
            )
            .await;
        assert!(e.contains("loopback only"), "{host}:{port}: {e}");
    }
    let v = srv
        .ok(
            "ssh_forward",
            json!({"session_id": s, "kind": "remote", "remote_port": 0, "local_port": echo}),
        )
        .await;
    let remote = v["remote_address"].as_str().unwrap().to_string();
    assert!(remote.starts_with("127.0.0.1:"), "{remote}");
    let out = srv
        .exec(
            &s,
            &format!(
                "printf ping | timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/{}; cat >&3; head -c4 <&3'",
                remote.rsplit(':').next().unwrap()
            ),
        )
        .await;
    assert_eq!(out["stdout"], "ping", "{out}");
    srv.stop().await;
}

#[tokio::test]
async fn forwards_per_session_should_be_capped() {
    let sshd = Sshd::start();
    let echo = echo_server().await;
    let (_d, srv) = with_config("[security]\nmax_forwards = 2\n").await;
    let s = srv.connect(&sshd).await;
    let fwd = json!({"session_id": s, "local_port": 0, "remote_address": "127.0.0.1", "remote_port": echo});
    let first = srv.ok("ssh_forward", fwd.clone()).await;
    srv.ok("ssh_forward", fwd.clone()).await;
    let e = srv.err("ssh_forward", fwd.clone()).await;
    assert!(e.contains("forwards"), "{e}");
    srv.ok(
        "ssh_forward_close",
        json!({"forward_id": first["forward_id"]}),
    )
    .await;
    srv.ok("ssh_forward", fwd).await;
}

#[tokio::test]
async fn a_silent_socks_client_should_be_cut_off() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let v = srv
        .ok(
            "ssh_forward",
            json!({"session_id": s, "kind": "dynamic", "local_port": 0}),
        )
        .await;
    let mut c = TcpStream::connect(v["local_address"].as_str().unwrap())
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 1];
    let r = tokio::time::timeout(Duration::from_secs(30), c.read(&mut buf)).await;
    assert!(matches!(r, Ok(Ok(0)) | Ok(Err(_))), "{r:?}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(20),
        "{took:?}"
    );
}

#[tokio::test]
async fn read_only_mode_should_refuse_uploads_and_remote_forwards() {
    let sshd = Sshd::start();
    let echo = echo_server().await;
    let (_d, srv) = with_config("[security.commands]\npreset = \"read_only\"\n").await;
    let s = srv.connect(&sshd).await;
    let remote = format!("/tmp/ssh-mcp-ro-{}", std::process::id());
    let e = srv
        .err(
            "ssh_upload",
            json!({"session_id": s, "content": "x", "remote_path": remote}),
        )
        .await;
    assert!(e.contains("read-only"), "{e}");
    assert!(!std::path::Path::new(&remote).exists());
    let e = srv
        .err(
            "ssh_forward",
            json!({"session_id": s, "kind": "remote", "remote_port": 0, "local_port": echo}),
        )
        .await;
    assert!(e.contains("read-only"), "{e}");
    // Reading still works.
    srv.ok(
        "ssh_download",
        json!({"session_id": s, "remote_path": "/etc/hostname"}),
    )
    .await;
    srv.ok(
        "ssh_forward",
        json!({"session_id": s, "local_port": 0, "remote_address": "127.0.0.1", "remote_port": echo}),
    )
    .await;
}
