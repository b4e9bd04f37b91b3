//! Attacks a second hostile review tried against a real sshd, each of which got through
//! before its fix: command lines the `read_only` preset accepted that left a marker file
//! when the login shell ran them, or took the server down; and unread job output the server
//! kept. Each test keeps a legitimate use beside the attack.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use rmcp::model::CallToolRequestParams;
use serde_json::json;

use crate::harness::{Opts, Server, Transport};
use crate::sshd::{self, Sshd};

const PRESET: &str = "[security.commands]\npreset = \"read_only\"\n";

/// A marker path unique to this test process and `tag`; sshd runs on this machine, so the
/// remote `/tmp` is ours.
fn marker(tag: &str) -> PathBuf {
    PathBuf::from(format!(
        "/tmp/ssh-mcp-attacks2-{}-{tag}",
        std::process::id()
    ))
}

async fn read_only_server() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ssh-mcp.toml");
    std::fs::write(&config, PRESET).unwrap();
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            args: vec!["--config".into(), config.display().to_string()],
            ..Default::default()
        },
    )
    .await;
    (srv, dir)
}

/// Runs `command`: whether the preset refused it and whether it left the marker `m`.
async fn run(srv: &Server, session: &str, command: &str, m: &PathBuf) -> (bool, bool) {
    let r = srv
        .call(
            "ssh_execute",
            json!({"session_id": session, "command": command}),
        )
        .await;
    let created = m.exists();
    let _ = std::fs::remove_file(m);
    (r.is_error == Some(true), created)
}

#[tokio::test]
async fn read_only_preset_should_not_let_xargs_sed_or_here_documents_write() {
    let sshd = Sshd::start();
    let (srv, _dir) = read_only_server().await;
    let s = srv.connect(&sshd).await;

    // The legitimate uses still run.
    let v = srv.exec(&s, "echo /etc/hostname | xargs wc -l").await;
    assert_eq!(v["exit_code"], 0, "{v}");
    let v = srv.exec(&s, "sed -n 's/a/b/p' /etc/hostname").await;
    assert_eq!(v["exit_code"], 0, "{v}");
    let v = srv.exec(&s, "cat <<EOF\nhello\nEOF").await;
    assert_eq!(v["stdout"], "hello\n", "{v}");

    let attacks = [
        ("xargs-nice", "echo touch M | xargs nice"),
        ("xargs-timeout", "echo touch M | xargs timeout 5"),
        ("xargs-xargs", "echo touch M | xargs xargs"),
        // GNU sed reads `[//#]` as one bracket expression; the check stops at the first
        // `/` and takes `#` for a comment.
        ("sed-e", r"echo x | sed 's/[//#]*x/touch M/e'"),
        ("sed-w", "sed 's/[//#]/X/w M' /etc/hostname"),
        // bash joins `EO\` and `F` into the delimiter: the here-document ends there.
        ("heredoc", "cat <<EOF\nEO\\\nF\ntouch M\nEOF"),
    ];
    let mut holes = Vec::new();
    for (tag, attack) in attacks {
        let m = marker(tag);
        let _ = std::fs::remove_file(&m);
        // Inside sed's replacement, `/` must be escaped.
        let path = m.display().to_string();
        let command = if tag.starts_with("sed-e") {
            attack.replace('M', &path.replace('/', "\\/"))
        } else {
            attack.replace('M', &path)
        };
        let (refused, created) = run(&srv, &s, &command, &m).await;
        if !refused || created {
            holes.push(format!(
                "{command:?} (refused: {refused}, marker created: {created})"
            ));
        }
    }
    assert!(
        holes.is_empty(),
        "the read-only preset let these run:\n{}",
        holes.join("\n")
    );
    srv.stop().await;
}

#[tokio::test]
async fn read_only_preset_should_not_let_fish_run_a_command_substitution() {
    let Some(user) = sshd::user_with_shell("/usr/bin/fish") else {
        panic!("fish is missing: apt-get install fish");
    };
    let sshd = Sshd::builder()
        .config(format!("AllowUsers {}", user))
        .start();
    let (srv, _dir) = read_only_server().await;
    let s = srv
        .ok(
            "ssh_connect",
            json!({"address": sshd.address(), "username": user,
                   "key_path": sshd::user().key.to_str().unwrap()}),
        )
        .await["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    // The legitimate use: plain quoted words.
    let v = srv.exec(&s, "echo 'a b' \"c d\"").await;
    assert_eq!(v["stdout"], "a b c d\n", "{v}");

    let m = marker("fish");
    let _ = std::fs::remove_file(&m);
    let command = format!(r#"echo 'a\' "b' (touch {}) #""#, m.display());
    let mut holes = Vec::new();
    let (refused, created) = run(&srv, &s, &command, &m).await;
    if !refused || created {
        holes.push(format!(
            "{command:?} (refused: {refused}, marker created: {created})"
        ));
    }

    // A program named like a read-only command, left by another user in a directory that
    // `fish_user_paths` (a lower-case name, so an allowed assignment) puts first in PATH.
    let m = marker("fish-path");
    let _ = std::fs::remove_file(&m);
    let planted = tempfile::Builder::new()
        .prefix("ssh-mcp-planted-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(planted.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ls = planted.path().join("ls");
    std::fs::write(&ls, format!("#!/bin/sh\ntouch {}\n", m.display())).unwrap();
    std::fs::set_permissions(&ls, std::fs::Permissions::from_mode(0o755)).unwrap();
    let command = format!("fish_user_paths={} ls /", planted.path().display());
    let (refused, created) = run(&srv, &s, &command, &m).await;
    if !refused || created {
        holes.push(format!(
            "{command:?} (refused: {refused}, marker created: {created})"
        ));
    }
    assert!(
        holes.is_empty(),
        "the read-only preset let these run under fish:\n{}",
        holes.join("\n")
    );
    srv.stop().await;
}

/// `!` inside `[[ … ]]` nests in the parser without counting towards the nesting bound:
/// a command line under the size limit exhausts the stack and aborts the whole server,
/// with every session of every client.
#[tokio::test]
async fn read_only_preset_should_survive_a_deeply_negated_test() {
    let sshd = Sshd::start();
    let (srv, _dir) = read_only_server().await;
    let s = srv.connect(&sshd).await;
    let v = srv.exec(&s, "[[ ! -n '' ]] && echo ok").await;
    assert_eq!(v["stdout"], "ok\n", "{v}");

    let command = format!("[[ {}-n x ]]", "! ".repeat(15_000));
    let mut args = serde_json::Map::new();
    args.insert("session_id".into(), json!(s));
    args.insert("command".into(), json!(command));
    let req = CallToolRequestParams::new("ssh_execute".to_string()).with_arguments(args);
    let answer = tokio::time::timeout(Duration::from_secs(30), srv.client.call_tool(req)).await;
    let alive = std::path::Path::new(&format!("/proc/{}", srv.pid)).exists()
        && !std::fs::read_to_string(format!("/proc/{}/stat", srv.pid))
            .unwrap_or_default()
            .contains(") Z ");
    assert!(
        alive && matches!(answer, Ok(Ok(_))),
        "the server died on a {}-byte command: {answer:?}\n{}",
        command.len(),
        srv.log()
    );
    // And it still serves the session.
    let v = srv.exec(&s, "echo ok").await;
    assert_eq!(v["stdout"], "ok\n", "{v}");
    srv.stop().await;
}

/// Current resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Each finished job keeps its unread output (up to `max_output_bytes`, 16 MiB per stream,
/// as the model asks) for an hour, and 200 finished jobs per owner are kept: one client
/// can make the server hold gigabytes by never reading its jobs.
#[tokio::test]
async fn unread_job_output_should_not_pile_up_in_the_server() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    // The legitimate use: a job read once gives its output.
    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "command": "echo hi", "background": true}),
        )
        .await;
    let job = v["job_id"].as_str().unwrap().to_string();
    let v = srv
        .ok("ssh_job", json!({"job_id": job, "wait_secs": 10}))
        .await;
    assert_eq!(v["stdout"], "hi\n", "{v}");

    let before = rss_kib(srv.pid);
    const JOBS: usize = 16;
    const MIB: usize = 1024 * 1024;
    let mut ids = Vec::new();
    for _ in 0..JOBS {
        let v = srv
            .ok(
                "ssh_execute",
                json!({"session_id": s, "background": true, "max_output_bytes": 16 * MIB,
                       "command": format!("head -c {} /dev/urandom", 16 * MIB)}),
            )
            .await;
        ids.push(v["job_id"].as_str().unwrap().to_string());
    }
    // Let the jobs finish (bounded wait), never reading their output: the session's
    // listing tells when none is running.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let v = srv.ok("ssh_list_sessions", json!({})).await;
        let text = v.to_string();
        if !text.contains("\"running\"") || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let grown_mib = (rss_kib(srv.pid).saturating_sub(before)) / 1024;
    assert!(
        grown_mib < 64,
        "{} finished, unread jobs of one client hold {grown_mib} MiB in the server \
         (200 such jobs per client are kept for an hour)",
        ids.len()
    );
    srv.stop().await;
}
