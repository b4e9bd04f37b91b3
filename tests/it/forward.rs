//! `ssh_forward`: both directions, many connections, half-close, lifecycle.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::harness::Server;
use crate::sshd::Sshd;

/// An echo server on 127.0.0.1 that answers each connection's bytes and closes after the
/// client's EOF, so a test sees both directions and both half-closes.
pub(crate) async fn echo_server() -> u16 {
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

/// Whether connecting to `addr` is refused within a second.
async fn refused_soon(addr: &str) -> bool {
    for _ in 0..50 {
        if TcpStream::connect(addr).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
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

    // Byte counts are added as each connection's copy finishes on the server side.
    let mut f = serde_json::Value::Null;
    for _ in 0..100 {
        let list = srv.ok("ssh_list_sessions", json!({})).await;
        f = list["sessions"][0]["forwards"][0].clone();
        if f["bytes"] == 16_000_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(f["local_address"], local.as_str());
    assert_eq!(f["kind"], "local");
    assert_eq!(f["bytes"], 16_000_000, "{f}");
    assert_eq!(f["connections"], 0, "{f}");
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
    assert!(
        refused_soon(&local).await,
        "the listener still accepts after disconnect"
    );
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

/// SOCKS5 CONNECT through the proxy at `proxy` to `host:port` (`host`: IPv4, IPv6 or name).
pub(crate) async fn socks_connect(proxy: &str, host: &str, port: u16) -> Result<TcpStream, u8> {
    let mut s = TcpStream::connect(proxy).await.unwrap();
    s.write_all(&[5, 1, 0]).await.unwrap();
    let mut r = [0u8; 2];
    s.read_exact(&mut r).await.unwrap();
    assert_eq!(r, [5, 0]);
    let mut req = vec![5, 1, 0];
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => {
            req.push(1);
            req.extend_from_slice(&a.octets());
        }
        Ok(std::net::IpAddr::V6(a)) => {
            req.push(4);
            req.extend_from_slice(&a.octets());
        }
        Err(_) => {
            req.push(3);
            req.push(host.len() as u8);
            req.extend_from_slice(host.as_bytes());
        }
    }
    req.extend_from_slice(&port.to_be_bytes());
    s.write_all(&req).await.unwrap();
    let mut rep = [0u8; 10];
    s.read_exact(&mut rep).await.unwrap();
    if rep[1] == 0 { Ok(s) } else { Err(rep[1]) }
}

#[tokio::test]
async fn dynamic_forwards_should_speak_socks5_by_ip_and_by_name() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let echo = echo_server().await;
    let v = srv
        .ok(
            "ssh_forward",
            json!({"session_id": s, "kind": "dynamic", "local_port": 0}),
        )
        .await;
    assert_eq!(v["kind"], "dynamic");
    let proxy = v["local_address"].as_str().unwrap().to_string();
    for host in ["127.0.0.1", "localhost"] {
        let mut c = socks_connect(&proxy, host, echo)
            .await
            .unwrap_or_else(|code| panic!("{host}: reply {code}"));
        c.write_all(b"through socks").await.unwrap();
        let mut buf = [0u8; 13];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"through socks");
    }
    // A closed port comes back as a SOCKS error, not a hang.
    let closed = crate::sshd::free_port();
    let code = socks_connect(&proxy, "127.0.0.1", closed).await.err();
    assert!(matches!(code, Some(1..=5)), "{code:?}");
}

#[tokio::test]
async fn remote_forwards_should_bring_server_side_connections_here() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let echo = echo_server().await;
    let v = srv
        .ok(
            "ssh_forward",
            json!({"session_id": s, "kind": "remote", "remote_port": 0, "local_port": echo}),
        )
        .await;
    assert_eq!(v["kind"], "remote");
    let server_side = v["remote_address"].as_str().unwrap().to_string();
    let port: u16 = server_side.rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(port, 0, "{v}");
    // From the SSH server's side (here: the same machine), connect to the port it listens on.
    let out = srv
        .exec(
            &s,
            &format!(
                "exec 3<>/dev/tcp/127.0.0.1/{port}; printf 'ping from server' >&3; head -c 16 <&3"
            ),
        )
        .await;
    assert_eq!(out["stdout"], "ping from server", "{out}");
    let fwd_id = v["forward_id"].as_str().unwrap().to_string();
    let list = srv.ok("ssh_list_sessions", json!({})).await;
    assert_eq!(list["sessions"][0]["forwards"][0]["kind"], "remote");

    // Closing it stops the server's listener.
    let c = srv
        .ok("ssh_forward_close", json!({"forward_id": fwd_id}))
        .await;
    assert_eq!(c["forward_id"], fwd_id.as_str());
    let mut closed = false;
    for _ in 0..50 {
        let r = srv
            .exec(
                &s,
                &format!(
                    "(exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && echo open || echo closed"
                ),
            )
            .await;
        if r["stdout"] == "closed\n" {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(closed, "the server still listens after ssh_forward_close");
    let e = srv
        .err("ssh_forward_close", json!({"forward_id": fwd_id}))
        .await;
    assert!(e.contains("no forward with id"), "{e}");
}

#[tokio::test]
async fn forward_close_should_stop_a_local_forward() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let echo = echo_server().await;
    let v = srv
        .ok("ssh_forward", json!({"session_id": s, "local_port": 0, "remote_address": "127.0.0.1", "remote_port": echo}))
        .await;
    let local = v["local_address"].as_str().unwrap().to_string();
    let mut live = TcpStream::connect(&local).await.unwrap();
    live.write_all(b"x").await.unwrap();
    let mut b = [0u8; 1];
    live.read_exact(&mut b).await.unwrap();
    srv.ok("ssh_forward_close", json!({"forward_id": v["forward_id"]}))
        .await;
    let n = tokio::time::timeout(Duration::from_secs(5), live.read(&mut b))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "the open connection should be cut");
    assert!(
        refused_soon(&local).await,
        "the listener still accepts after close"
    );
    let e = srv
        .err(
            "ssh_forward",
            json!({"session_id": s, "kind": "sideways", "local_port": 0}),
        )
        .await;
    assert!(e.contains("not one of local, remote, dynamic"), "{e}");
}
