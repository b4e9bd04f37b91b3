//! Interactive shells (`ssh_shell_*`) against a real sshd: the PTY and its size, REPLs,
//! keys, full-screen programs, exit, limits and misuse.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Opts, Server, Transport};
use crate::sshd::{Dropbear, Sshd};

/// Opens a shell with `extra` arguments; returns its id.
pub async fn open(srv: &Server, s: &str, extra: Value) -> String {
    let mut args = json!({"session_id": s});
    for (k, v) in extra.as_object().unwrap() {
        args[k] = v.clone();
    }
    let v = srv.ok("ssh_shell_open", args).await;
    v["shell_id"].as_str().unwrap().to_string()
}

/// A stdio server that allows `max` shells per session.
pub async fn server_with_max_shells(max: u32) -> Server {
    Server::start_with(
        Transport::Stdio,
        Opts {
            args: vec!["--max-shells".into(), max.to_string()],
            ..Default::default()
        },
    )
    .await
}

/// Types `line` and Enter; returns once `wait_for` matched.
pub async fn run(srv: &Server, sh: &str, line: &str, wait_for: &str) -> Value {
    let v = srv
        .ok(
            "ssh_shell_send",
            json!({"shell_id": sh, "text": line, "keys": ["enter"], "wait_for": wait_for}),
        )
        .await;
    assert_eq!(v["matched"], true, "{line}: {v}");
    v
}

#[tokio::test]
async fn a_shell_should_have_a_pts_of_the_asked_size_and_follow_resizes() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let sh = open(&srv, &s, json!({"rows": 33, "cols": 101})).await;
    let v = run(&srv, &sh, "stty size; tty", r"/dev/pts/\d+").await;
    let out = v["output"].as_str().unwrap();
    assert!(out.contains("33 101"), "{out}");
    assert_eq!((&v["rows"], &v["cols"]), (&json!(33), &json!(101)));
    let v = srv
        .ok(
            "ssh_shell_send",
            json!({"shell_id": sh, "rows": 20, "cols": 70, "text": "stty size", "keys": ["enter"], "wait_for": r"\d+ \d+\s"}),
        )
        .await;
    assert!(v["output"].as_str().unwrap().contains("20 70"), "{v}");
    let l = srv.ok("ssh_list_sessions", json!({})).await;
    let shells = &l["sessions"][0]["shells"];
    assert_eq!(shells[0]["shell_id"], sh.as_str(), "{l}");
    assert_eq!(shells[0]["rows"], 20);
    assert_eq!(shells[0]["exited"], false);
}

#[tokio::test]
async fn a_python_repl_and_ctrl_c_and_exit_codes_should_work() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let v = srv
        .ok(
            "ssh_shell_open",
            json!({"session_id": s, "command": "python3 -q"}),
        )
        .await;
    let py = v["shell_id"].as_str().unwrap().to_string();
    // The prompt came with the open, or comes later.
    if !v["output"].as_str().unwrap().ends_with(">>> ") {
        let v = srv
            .ok(
                "ssh_shell_read",
                json!({"shell_id": py, "wait_for": ">>> $"}),
            )
            .await;
        assert_eq!(v["matched"], true, "{v}");
    }
    let v = run(&srv, &py, "6*7", "(?m)^42").await;
    assert!(v["output"].as_str().unwrap().contains("42"), "{v}");

    let sh = open(&srv, &s, json!({})).await;
    let started = Instant::now();
    srv.ok(
        "ssh_shell_send",
        json!({"shell_id": sh, "text": "sleep 100", "keys": ["enter"], "idle_ms": 500}),
    )
    .await;
    let v = srv
        .ok(
            "ssh_shell_send",
            json!({"shell_id": sh, "keys": ["ctrl+c"], "idle_ms": 500}),
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(v["exited"], false, "{v}");
    run(&srv, &sh, "echo still-$((40+2))", "still-42").await;
    let v = srv
        .ok(
            "ssh_shell_send",
            json!({"shell_id": sh, "text": "exit 3", "keys": ["enter"]}),
        )
        .await;
    assert_eq!(v["exited"], true, "{v}");
    assert_eq!(v["exit_code"], 3, "{v}");
    let v = srv.ok("ssh_shell_close", json!({"shell_id": sh})).await;
    assert_eq!(v["exit_code"], 3, "{v}");
    let e = srv.err("ssh_shell_read", json!({"shell_id": sh})).await;
    assert!(e.contains("no shell"), "{e}");
}

#[tokio::test]
async fn a_full_screen_program_should_show_its_screen_and_quitting_restore_the_shell() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    srv.exec(
        &s,
        "printf 'first line\\nsecond line\\nthird line\\n' > /tmp/ssh-mcp-shell-less.txt",
    )
    .await;
    let sh = open(&srv, &s, json!({"rows": 24, "cols": 80})).await;
    let v = run(&srv, &sh, "less /tmp/ssh-mcp-shell-less.txt", "third line").await;
    let v = if v["alt_screen"] == true {
        v
    } else {
        srv.ok("ssh_shell_read", json!({"shell_id": sh, "view": "screen"}))
            .await
    };
    assert_eq!(v["alt_screen"], true, "{v}");
    let v = srv
        .ok("ssh_shell_read", json!({"shell_id": sh, "view": "screen"}))
        .await;
    let screen = v["output"].as_str().unwrap();
    assert!(
        screen.starts_with("first line\nsecond line\nthird line"),
        "{screen}"
    );
    let v = srv
        .ok(
            "ssh_shell_send",
            json!({"shell_id": sh, "text": "q", "idle_ms": 500}),
        )
        .await;
    assert_eq!(v["alt_screen"], false, "{v}");
    run(&srv, &sh, "echo back-$((1+1))", "back-2").await;
}

#[tokio::test]
async fn a_shell_on_dropbear_should_work() {
    let db = Dropbear::start();
    let srv = Server::stdio().await;
    let s = srv.connect_address(&db.address()).await;
    let sh = open(&srv, &s, json!({})).await;
    let v = run(&srv, &sh, "tty; echo db-$((2*3))", "db-6").await;
    assert!(v["output"].as_str().unwrap().contains("/dev/pts/"), "{v}");
}

#[tokio::test]
async fn disconnect_should_close_shells_and_leave_no_process() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let sh = open(&srv, &s, json!({})).await;
    run(
        &srv,
        &sh,
        "sleep 4711 & sleep 4712 & echo started",
        "started",
    )
    .await;
    srv.ok(
        "ssh_shell_send",
        json!({"shell_id": sh, "text": "sleep 4713", "keys": ["enter"], "idle_ms": 300}),
    )
    .await;
    let check = srv.connect(&sshd).await;
    let v = srv.exec(&check, "pgrep -f 'sleep 471[123]' | wc -l").await;
    assert_eq!(v["stdout"], "3\n", "{v}");
    srv.ok("ssh_disconnect", json!({"session_id": s})).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = srv.exec(&check, "pgrep -f 'sleep 471[123]' | wc -l").await;
        if v["stdout"] == "0\n" {
            break;
        }
        assert!(Instant::now() < deadline, "left behind: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let e = srv.err("ssh_shell_read", json!({"shell_id": sh})).await;
    assert!(e.contains("no shell"), "{e}");
}

#[tokio::test]
async fn a_mebibyte_of_unread_output_should_stay_bounded() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let sh = open(&srv, &s, json!({})).await;
    srv.ok(
        "ssh_shell_send",
        json!({"shell_id": sh, "text": "head -c 3000000 /dev/zero | tr '\\0' x; echo; echo END-OF-IT", "keys": ["enter"], "idle_ms": 50, "timeout_ms": 100, "view": "screen"}),
    )
    .await;
    // Not read: the output piles up past the bound while the command runs.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let v = srv
        .ok(
            "ssh_shell_read",
            json!({"shell_id": sh, "wait_for": "END-OF-IT\\s"}),
        )
        .await;
    assert_eq!(v["truncated"], true, "{}", &v["output"].to_string()[..200]);
    let out = v["output"].as_str().unwrap();
    assert!(out.contains("bytes dropped"), "{}", &out[..200]);
    assert!(out.len() < 20_000, "{}", out.len());
    assert!(srv.peak_rss_kib() < 100 * 1024);
}

#[tokio::test]
async fn an_idle_shell_should_be_closed_at_the_idle_timeout() {
    let sshd = Sshd::start();
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            args: vec!["--idle-timeout".into(), "2".into()],
            ..Default::default()
        },
    )
    .await;
    let s = srv.connect(&sshd).await;
    let sh = open(&srv, &s, json!({})).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let l = srv.ok("ssh_list_sessions", json!({})).await;
        let listed = l["sessions"].as_array().unwrap().iter().any(|s| {
            s["shells"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["shell_id"] == sh.as_str())
        });
        if !listed {
            break;
        }
        assert!(Instant::now() < deadline, "still open: {l}");
    }
    let e = srv.err("ssh_shell_read", json!({"shell_id": sh})).await;
    assert!(e.contains("no shell"), "{e}");
}
