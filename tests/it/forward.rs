//! `ssh_forward`: both directions, many connections, half-close, lifecycle.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::harness::Server;
use crate::sshd::Sshd;

/// An echo server on 127.0.0.1 that answers each connection's bytes and closes after the
/// client's EOF, so a test sees both directions and both half-closes.
async fn echo_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test]
async fn forwarded_connections_should_carry_data_both_ways_concurrently() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let echo = echo_server().await;
    let v = srv
        .ok("ssh_forward", json!({"session_id": s, "local_port": 0, "remote_address": "127.0.0.1", "remote_port": echo}))
        .await;
    assert_eq!(v["active"], true);
    assert_eq!(v["remote_address"], format!("127.0.0.1:{echo}"));
    assert!(v["forward_id"].as_str().unwrap().starts_with("fwd-"));
    let local = v["local_address"].as_str().unwrap().to_string();
    assert!(local.starts_with("127.0.0.1:") && !local.ends_with(":0"));

    let conns = (0..8u8).map(|i| {
        let local = local.clone();
        async move {
            let payload: Vec<u8> = (0..1_000_000u32)
                .map(|n| (n as u8).wrapping_mul(i + 1))
                .collect();
            let mut c = TcpStream::connect(&local).await.unwrap();
            let (mut r, mut w) = c.split();
            let send = async {
                w.write_all(&payload).await.unwrap();
                w.shutdown().await.unwrap(); // half-close: the echo server sees EOF
            };
            let mut back = Vec::new();
            let recv = r.read_to_end(&mut back); // ends only if the EOF comes back
            let (_, n) = tokio::join!(send, recv);
            n.unwrap();
            assert!(back == payload, "connection {i}: {} bytes back", back.len());
        }
    });
    tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(conns))
        .await
        .unwrap();

    let list = srv.ok("ssh_list_sessions", json!({})).await;
    let f = &list["sessions"][0]["forwards"][0];
    assert_eq!(f["local_address"], local.as_str());
    assert_eq!(f["kind"], "local");
    assert_eq!(f["bytes"], 16_000_000);
}

#[tokio::test]
async fn a_port_in_use_should_be_a_clear_error() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = taken.local_addr().unwrap().port();
    let e = srv
        .err("ssh_forward", json!({"session_id": s, "local_port": port, "remote_address": "127.0.0.1", "remote_port": 22}))
        .await;
    assert!(
        e.contains("already in use") && e.contains(&port.to_string()),
        "{e}"
    );
}

#[tokio::test]
async fn disconnect_should_stop_the_listener() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let echo = echo_server().await;
    let v = srv
        .ok("ssh_forward", json!({"session_id": s, "local_port": 0, "remote_address": "127.0.0.1", "remote_port": echo}))
        .await;
    let local = v["local_address"].as_str().unwrap().to_string();
    // An open connection through the tunnel, to see it cut too.
    let mut live = TcpStream::connect(&local).await.unwrap();
    live.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    live.read_exact(&mut buf).await.unwrap();
    let d = srv.ok("ssh_disconnect", json!({"session_id": s})).await;
    assert_eq!(
        d["message"],
        format!("Session {s} disconnected successfully")
    );
    let mut refused = false;
    for _ in 0..50 {
        if TcpStream::connect(&local).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "the listener still accepts after disconnect");
    let n = tokio::time::timeout(Duration::from_secs(5), live.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "the live connection should be closed");
    assert_eq!(
        srv.ok("ssh_list_sessions", json!({})).await["sessions"],
        json!([])
    );
}
