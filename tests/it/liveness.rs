//! Dead connections: detected by keepalives, reported, reconnected.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Opts, Server, Transport};
use crate::sshd::Sshd;

/// Kills the host's sshd once the server has reported progress: a transfer is under way.
async fn kill_when_under_way(srv: &Server, sshd: &mut Sshd) {
    for _ in 0..400 {
        if !srv.recorder.progress.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    sshd.kill_all();
}

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

/// A download cut off by the host going away ends at once, says the connection was lost,
/// and leaves no partial file; the session works again once the host is back.
#[tokio::test]
async fn a_transfer_cut_by_a_dead_host_should_say_so_and_leave_nothing() {
    let mut sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let remote = format!("/home/{}/cut.bin", crate::sshd::USER);
    srv.exec(&s, &format!("head -c 268435456 /dev/zero > {remote}"))
        .await;
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("cut.bin");
    let crash = kill_when_under_way(&srv, &mut sshd);
    let started = Instant::now();
    let (r, ()) = tokio::join!(
        srv.call(
            "ssh_download",
            json!({"session_id": s, "remote_path": remote, "local_path": local}),
        ),
        crash
    );
    let took = started.elapsed();
    assert_eq!(r.is_error, Some(true), "{r:?}");
    let e = crate::harness::text(&r);
    assert!(e.contains("connection is closed"), "{e}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    sshd.restart();
    let v = srv.exec(&s, &format!("rm -f {remote}; echo back")).await;
    assert_eq!(v["stdout"], "back\n");
    assert_eq!(v["reconnected"], true);
}

/// An upload cut off by the host going away leaves its temporary file behind on the server
/// (nothing can remove it then); the session's next SFTP call, on the new connection,
/// removes it.
#[tokio::test]
async fn an_upload_cut_by_a_dead_host_should_leave_no_temporary_file() {
    let mut sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    // A directory of its own: the test user's home outlives the test.
    let home = format!(
        "/home/{}/upload-cut-{}",
        crate::sshd::USER,
        std::process::id()
    );
    srv.exec(&s, &format!("rm -rf {home}; mkdir {home}")).await;
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("big.bin");
    std::fs::File::create(&local)
        .unwrap()
        .set_len(256 << 20)
        .unwrap();
    let crash = kill_when_under_way(&srv, &mut sshd);
    let (r, ()) = tokio::join!(
        srv.call(
            "ssh_upload",
            json!({"session_id": s, "local_path": local, "remote_path": format!("{home}/big.bin")}),
        ),
        crash
    );
    assert_eq!(r.is_error, Some(true), "{r:?}");
    let left = |path: &str| {
        std::fs::read_dir(path)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".ssh-mcp-"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        left(&home).len(),
        1,
        "the cut upload left its temporary file"
    );
    sshd.restart();
    let listed = srv
        .ok("ssh_list_dir", json!({"session_id": s, "path": home}))
        .await;
    assert!(!listed.to_string().contains(".ssh-mcp-"), "{listed}");
    assert_eq!(listed["reconnected"], true);
    assert_eq!(left(&home), Vec::<String>::new());
    srv.exec(&s, &format!("rm -rf {home}")).await;
}
