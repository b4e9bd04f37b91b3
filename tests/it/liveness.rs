//! Dead connections: detected by keepalives, reported, reconnected.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Opts, Server, Transport};
use crate::sshd::Sshd;

fn fast_keepalive() -> Opts {
    Opts {
        args: vec!["--keepalive".into(), "1".into()],
        ..Default::default()
    }
}

#[tokio::test]
async fn a_silent_host_should_fail_in_flight_calls_within_the_keepalive_window() {
    let mut frozen = Sshd::start();
    let healthy = Sshd::start();
    let srv = Server::start_with(Transport::Stdio, fast_keepalive()).await;
    let a = srv.connect(&frozen).await;
    let b = srv.connect(&healthy).await;
    let stuck = async {
        let started = Instant::now();
        let e = srv
            .err(
                "ssh_execute",
                json!({"session_id": a, "command": "sleep 30", "timeout_secs": 60}),
            )
            .await;
        (e, started.elapsed())
    };
    let meanwhile = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        frozen.signal_connections("STOP");
        // The other host keeps working while the first one is silent.
        for _ in 0..3 {
            assert_eq!(srv.exec(&b, "echo alive").await["stdout"], "alive\n");
        }
    };
    let ((e, took), ()) = tokio::join!(stuck, meanwhile);
    assert!(e.contains("keepalives") || e.contains("connection"), "{e}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let list = srv.ok("ssh_list_sessions", json!({})).await;
    let dead = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["session_id"] == a.as_str())
        .unwrap()
        .clone();
    assert_eq!(dead["alive"], false, "{dead}");
    assert!(dead["dead_reason"].is_string(), "{dead}");
    frozen.signal_connections("CONT");
    frozen.kill_all();
}

#[tokio::test]
async fn a_killed_sshd_should_fail_fast_and_reconnect_when_it_is_back() {
    let mut sshd = Sshd::start();
    let srv = Server::start_with(Transport::Stdio, fast_keepalive()).await;
    let s = srv.connect(&sshd).await;
    let crash = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        sshd.kill_all();
    };
    let started = Instant::now();
    let (r, ()) = tokio::join!(
        srv.call(
            "ssh_execute",
            json!({"session_id": s, "command": "sleep 30"})
        ),
        crash
    );
    assert_eq!(r.is_error, Some(true), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // While the host is down, a call tries to reconnect and says why it failed.
    let e = srv
        .err("ssh_execute", json!({"session_id": s, "command": "true"}))
        .await;
    assert!(e.contains("reconnecting failed"), "{e}");
    sshd.restart();
    let v = srv.exec(&s, "echo back").await;
    assert_eq!(v["stdout"], "back\n");
    assert_eq!(v["reconnected"], true);
    let v = srv.exec(&s, "echo again").await;
    assert_eq!(v["reconnected"], false);
    let list = srv.ok("ssh_list_sessions", json!({})).await;
    assert_eq!(list["sessions"][0]["reconnects"], 1);
}
