//! `ssh_upload`, `ssh_download`, `ssh_list_dir` over the sftp subsystem of a real sshd.

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::harness::{Opts, Server, Transport};
use crate::sshd::{Sshd, USER};

fn sha(b: &[u8]) -> String {
    ssh_mcp::hex::encode(&Sha256::digest(b))
}

#[tokio::test]
async fn files_should_round_trip_exactly() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let home = format!("/home/{USER}");
    srv.exec(&s, "rm -rf ~/xfer && mkdir ~/xfer").await;

    // Text content.
    let v = srv
        .ok("ssh_upload", json!({"session_id": s, "remote_path": format!("{home}/xfer/a.txt"), "content": "héllo\nworld\n", "mode": "0600"}))
        .await;
    assert_eq!(v["bytes"], 13);
    assert_eq!(v["sha256"], sha("héllo\nworld\n".as_bytes()));
    assert_eq!(
        srv.exec(&s, "cat ~/xfer/a.txt; stat -c %a ~/xfer/a.txt")
            .await["stdout"],
        "héllo\nworld\n600\n"
    );
    let d = srv
        .ok(
            "ssh_download",
            json!({"session_id": s, "remote_path": format!("{home}/xfer/a.txt")}),
        )
        .await;
    assert_eq!(d["content"], "héllo\nworld\n");
    assert_eq!(d["lossy"], false);
    assert_eq!(d["reconnected"], false);
    assert_eq!(d["truncated"], false);

    // Existing targets need overwrite; replacing keeps the mode and leaves no temp file.
    let e = srv
        .err(
            "ssh_upload",
            json!({"session_id": s, "remote_path": format!("{home}/xfer/a.txt"), "content": "x"}),
        )
        .await;
    assert!(e.contains("overwrite"), "{e}");
    srv.ok("ssh_upload", json!({"session_id": s, "remote_path": format!("{home}/xfer/a.txt"), "content": "new", "overwrite": true})).await;
    assert_eq!(
        srv.exec(
            &s,
            "cat ~/xfer/a.txt; echo; stat -c %a ~/xfer/a.txt; ls -A ~/xfer | wc -l"
        )
        .await["stdout"],
        "new\n600\n1\n"
    );

    // Binary with every byte value, and 8 MiB of random data, through local files.
    let dir = tempfile::tempdir().unwrap();
    let all: Vec<u8> = (0..=255u8).cycle().take(256 * 40).collect();
    let mut big = vec![0u8; 8 << 20];
    for (i, b) in big.iter_mut().enumerate() {
        *b = (i.wrapping_mul(2654435761) >> 13) as u8;
    }
    for (name, data) in [
        ("all.bin", all.clone()),
        ("big.bin", big.clone()),
        ("empty", Vec::new()),
    ] {
        let local = dir.path().join(name);
        std::fs::write(&local, &data).unwrap();
        let remote = format!("{home}/xfer/{name}");
        let up = srv
            .ok(
                "ssh_upload",
                json!({"session_id": s, "remote_path": remote, "local_path": local}),
            )
            .await;
        assert_eq!(up["bytes"], data.len());
        assert_eq!(up["sha256"], sha(&data));
        let remote_sum = srv
            .exec(&s, &format!("sha256sum {remote} | cut -d' ' -f1"))
            .await;
        assert_eq!(remote_sum["stdout"], format!("{}\n", sha(&data)), "{name}");
        let back = dir.path().join(format!("{name}.back"));
        let down = srv
            .ok(
                "ssh_download",
                json!({"session_id": s, "remote_path": remote, "local_path": back}),
            )
            .await;
        assert_eq!(down["sha256"], sha(&data));
        assert_eq!(std::fs::read(&back).unwrap(), data, "{name}");
        let e = srv
            .err(
                "ssh_download",
                json!({"session_id": s, "remote_path": remote, "local_path": back}),
            )
            .await;
        assert!(e.contains("overwrite"), "{e}");
    }
    let d = srv
        .ok("ssh_download", json!({"session_id": s, "remote_path": format!("{home}/xfer/all.bin"), "max_bytes": 300}))
        .await;
    assert_eq!(d["lossy"], true);
    assert_eq!(d["truncated"], true);
    assert_eq!(d["bytes"], 300);
    assert!(
        d["content"]
            .as_str()
            .unwrap()
            .contains("truncated: 300 of 10240 bytes")
    );

    // Listing.
    let l = srv
        .ok(
            "ssh_list_dir",
            json!({"session_id": s, "path": format!("{home}/xfer")}),
        )
        .await;
    let names: Vec<&str> = l["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a.txt", "all.bin", "big.bin", "empty"]);
    assert_eq!(l["entries"][2]["size"], 8 << 20);
    assert_eq!(l["entries"][0]["mode"], "0600");
    assert_eq!(l["entries"][0]["type"], "file");
    let l = srv
        .ok(
            "ssh_list_dir",
            json!({"session_id": s, "path": format!("{home}/xfer"), "max_entries": 2}),
        )
        .await;
    assert_eq!(l["truncated"], true);
}

#[tokio::test]
async fn file_errors_should_say_what_is_wrong() {
    let sshd = Sshd::start();
    let roots = tempfile::tempdir().unwrap();
    let (_d, cfg) = {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c.toml");
        std::fs::write(
            &p,
            format!("[files]\nlocal_roots = [\"{}\"]\n", roots.path().display()),
        )
        .unwrap();
        let ps = p.display().to_string();
        (d, ps)
    };
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            args: vec!["--config".into(), cfg],
            ..Default::default()
        },
    )
    .await;
    let s = srv.connect(&sshd).await;
    // sftp-server answers opendir on a file with "no such file"; the error says what it is.
    let e = srv
        .err(
            "ssh_list_dir",
            json!({"session_id": s, "path": "/etc/hostname"}),
        )
        .await;
    assert!(
        e.contains("/etc/hostname: it is not a directory; use ssh_download"),
        "{e}"
    );
    let e = srv
        .err(
            "ssh_download",
            json!({"session_id": s, "remote_path": "/no/such/file"}),
        )
        .await;
    assert!(e.contains("no such file"), "{e}");
    let e = srv
        .err(
            "ssh_upload",
            json!({"session_id": s, "remote_path": "/root/forbidden", "content": "x"}),
        )
        .await;
    assert!(e.contains("permission denied"), "{e}");
    let e = srv
        .err(
            "ssh_download",
            json!({"session_id": s, "remote_path": "/etc/hostname", "local_path": "/etc/stolen"}),
        )
        .await;
    assert!(e.contains("outside the directories"), "{e}");
    let e = srv
        .err(
            "ssh_download",
            json!({"session_id": s, "remote_path": "/etc/hostname", "local_path": "relative/x"}),
        )
        .await;
    assert!(e.contains("absolute"), "{e}");
    let e = srv
        .err(
            "ssh_download",
            json!({"session_id": s, "remote_path": "/etc/hostname", "local_path": roots.path()}),
        )
        .await;
    assert!(e.contains("is a directory"), "{e}");
    // A failed download into local_path leaves nothing behind.
    let e = srv
        .err(
            "ssh_download",
            json!({"session_id": s, "remote_path": "/no/such/file", "local_path": roots.path().join("gone")}),
        )
        .await;
    assert!(e.contains("no such file"), "{e}");
    assert_eq!(std::fs::read_dir(roots.path()).unwrap().count(), 0);
    let inside = roots.path().join("hostname");
    srv.ok(
        "ssh_download",
        json!({"session_id": s, "remote_path": "/etc/hostname", "local_path": inside}),
    )
    .await;
    assert!(inside.exists());
    let e = srv
        .err(
            "ssh_upload",
            json!({"session_id": s, "remote_path": "/tmp/x", "content": "a", "local_path": inside}),
        )
        .await;
    assert!(e.contains("exactly one"), "{e}");
    let e = srv
        .err(
            "ssh_upload",
            json!({"session_id": s, "remote_path": "/tmp", "content": "a", "overwrite": true}),
        )
        .await;
    assert!(e.contains("directory"), "{e}");
    let e = srv
        .err(
            "ssh_upload",
            json!({"session_id": s, "remote_path": "/tmp/y", "content": "a", "mode": "rwx"}),
        )
        .await;
    assert!(e.contains("octal"), "{e}");
}

#[tokio::test]
async fn large_files_should_stream_with_progress() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let dir = tempfile::tempdir().unwrap();
    let mut data = vec![0u8; 50 << 20];
    for (i, b) in data.iter_mut().enumerate() {
        *b = (i.wrapping_mul(2654435761) >> 13) as u8;
    }
    let sum = sha(&data);
    let local = dir.path().join("50m.bin");
    std::fs::write(&local, &data).unwrap();
    let remote = format!("/home/{USER}/50m.bin");

    let reports = |verb: &str| {
        let got = std::mem::take(&mut *srv.recorder.progress.lock().unwrap());
        assert!(got.len() >= 2, "{verb}: {got:?}");
        assert!(
            got.windows(2).all(|w| w[1].progress > w[0].progress),
            "{verb}: {got:?}"
        );
        assert!(
            got.iter().all(|p| p.total == Some((50u64 << 20) as f64)
                && p.progress <= (50u64 << 20) as f64
                && p.message.as_deref().unwrap_or("").starts_with(verb)),
            "{verb}: {got:?}"
        );
    };
    let up = srv
        .ok(
            "ssh_upload",
            json!({"session_id": s, "remote_path": remote, "local_path": local}),
        )
        .await;
    assert_eq!(up["bytes"], 50 << 20);
    assert_eq!(up["sha256"], sum);
    reports("uploaded");
    let remote_sum = srv
        .exec(&s, &format!("sha256sum {remote} | cut -d' ' -f1"))
        .await;
    assert_eq!(remote_sum["stdout"], format!("{sum}\n"));

    let back = dir.path().join("50m.back");
    let down = srv
        .ok(
            "ssh_download",
            json!({"session_id": s, "remote_path": remote, "local_path": back}),
        )
        .await;
    assert_eq!(down["bytes"], 50 << 20);
    assert_eq!(down["sha256"], sum);
    reports("downloaded");
    assert!(std::fs::read(&back).unwrap() == data);
    // Nothing but the file is left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);

    // Without the checksum: the same bytes, no sha256.
    let plain = srv
        .ok("ssh_download", json!({"session_id": s, "remote_path": remote, "local_path": back, "overwrite": true, "checksum": false}))
        .await;
    assert_eq!(plain["bytes"], 50 << 20);
    assert!(plain.get("sha256").is_none(), "{plain}");
    assert!(std::fs::read(&back).unwrap() == data);
    srv.exec(&s, &format!("rm -f {remote}")).await;
}

/// The server's sftp-server dies while the connection lives on: the call that finds out
/// says so, and the next one opens a new SFTP channel.
#[tokio::test]
async fn a_dead_sftp_server_should_be_replaced_on_the_next_call() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let list = json!({"session_id": s, "path": "/", "max_entries": 1});
    srv.ok("ssh_list_dir", list.clone()).await;
    let sftp_servers: Vec<u32> = sshd
        .descendants()
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("internal-sftp"))
        })
        .collect();
    assert_eq!(sftp_servers.len(), 1, "{sftp_servers:?}");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &sftp_servers[0].to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let e = srv.err("ssh_list_dir", list.clone()).await;
    assert!(e.contains("SFTP channel"), "{e}");
    srv.ok("ssh_list_dir", list.clone()).await;
    // Commands were never affected.
    assert_eq!(srv.exec(&s, "echo ok").await["reconnected"], false);
}

/// The session's SFTP channel is not a running command: disconnecting after a transfer must
/// not wait for it the way it waits for commands to stop.
#[tokio::test]
async fn disconnect_after_a_transfer_should_be_quick() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    srv.ok(
        "ssh_list_dir",
        json!({"session_id": s, "path": format!("/home/{USER}")}),
    )
    .await;
    let t = std::time::Instant::now();
    srv.ok("ssh_disconnect", json!({"session_id": s})).await;
    assert!(
        t.elapsed() < std::time::Duration::from_millis(1000),
        "disconnect took {:?}",
        t.elapsed()
    );
}
