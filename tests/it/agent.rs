//! What makes `ssh_execute` safe for a model: cancellation, bounded output, progress,
//! environment, background jobs, limits.

use std::time::{Duration, Instant};

use rmcp::model::CallToolRequestParams;
use serde_json::json;

use crate::harness::{Opts, Server, Transport};
use crate::sshd::Sshd;

fn args(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().unwrap().clone()
}

/// Polls a probe session until no process matches `pattern` (a regex for pgrep -f).
async fn gone(srv: &Server, probe: &str, pattern: &str) -> bool {
    // `[s]leep` matches "sleep" but not the probe's own command line, which holds "[s]leep".
    let pattern = format!("[{}]{}", &pattern[..1], &pattern[1..]);
    for _ in 0..50 {
        let v = srv
            .exec(probe, &format!("pgrep -f '{pattern}' || true"))
            .await;
        if v["stdout"] == "" {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn a_client_cancel_should_stop_the_remote_command() {
    let sshd = Sshd::start();
    for t in [Transport::Stdio, Transport::HttpModern] {
        let srv = Server::start(t).await;
        let s = srv.connect(&sshd).await;
        let probe = srv.connect(&sshd).await;
        let call = srv
            .client
            .call_tool(CallToolRequestParams::new("ssh_execute").with_arguments(
            args(
                json!({"session_id": s, "command": "sleep 3201; sleep 3202", "timeout_secs": 120}),
            ),
        ));
        // Dropping the call sends notifications/cancelled (stdio) or closes the stream (HTTP).
        assert!(
            tokio::time::timeout(Duration::from_secs(2), call)
                .await
                .is_err()
        );
        assert!(
            gone(&srv, &probe, "sleep 320[12]").await,
            "{t:?}: the command survived the cancel"
        );
        // The session still works.
        assert_eq!(srv.exec(&s, "echo ok").await["stdout"], "ok\n");
        srv.stop().await;
    }
}

#[tokio::test]
async fn output_limits_should_be_exact_at_the_boundary() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    for (n, truncated) in [(65535u64, false), (65536, false), (65537, true)] {
        let v = srv
            .exec(&s, &format!("head -c {n} /dev/zero | tr '\\0' a"))
            .await;
        assert_eq!(v["stdout_bytes"], n);
        assert_eq!(v["truncated"], truncated, "{n}");
        let out = v["stdout"].as_str().unwrap();
        let without_marker = match (out.find("\n[... "), out.find(" ...]\n")) {
            (Some(a), Some(b)) => format!("{}{}", &out[..a], &out[b + 6..]),
            _ => out.to_string(),
        };
        let kept = without_marker.chars().filter(|&c| c == 'a').count() as u64;
        assert_eq!(kept, n.min(65536), "{n}");
        assert_eq!(out.contains("[... 1 bytes omitted"), truncated, "{n}");
    }
    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "command": "seq 1 100000", "max_output_bytes": 100}),
        )
        .await;
    let out = v["stdout"].as_str().unwrap();
    assert!(
        out.starts_with("1\n2\n3\n") && out.ends_with("99999\n100000\n"),
        "{out}"
    );
}

#[tokio::test]
async fn a_gigabyte_of_output_should_keep_server_memory_bounded() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let before = srv.peak_rss_kib();
    let v = srv
        .ok("ssh_execute", json!({"session_id": s, "command": "head -c 1073741824 /dev/zero", "timeout_secs": 600}))
        .await;
    assert_eq!(v["stdout_bytes"], 1_073_741_824u64);
    assert_eq!(v["exit_code"], 0);
    let peak = srv.peak_rss_kib();
    eprintln!("server peak RSS: {before} KiB before, {peak} KiB after 1 GiB of output");
    assert!(peak < 32 * 1024, "peak RSS {peak} KiB");
}

#[tokio::test]
async fn cwd_and_env_should_apply_to_the_command() {
    // AcceptEnv lets the server take LC_* by SSH env request; the rest falls back to export.
    let sshd = Sshd::builder().config("AcceptEnv LC_*").start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "command": "pwd; echo \"$LC_TEST|$PLAIN\"", "cwd": "/usr/share",
                   "env": {"LC_TEST": "via env request", "PLAIN": "it's $HOME; `x`"}}),
        )
        .await;
    assert_eq!(v["stdout"], "/usr/share\nvia env request|it's $HOME; `x`\n");
    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "command": "echo never", "cwd": "/no/such/dir"}),
        )
        .await;
    assert_eq!(v["exit_code"], 1);
    assert_eq!(v["stdout"], "");
    assert!(v["stderr"].as_str().unwrap().contains("/no/such/dir"));
    let e = srv
        .err(
            "ssh_execute",
            json!({"session_id": s, "command": "true", "env": {"A;B": "x"}}),
        )
        .await;
    assert!(e.contains("not valid"), "{e}");
}

#[tokio::test]
async fn progress_notifications_should_reach_the_client() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let v = srv
        .exec(&s, "for i in 1 2 3; do echo line $i; sleep 1; done")
        .await;
    assert_eq!(v["stdout"], "line 1\nline 2\nline 3\n");
    let got = srv.recorder.progress.lock().unwrap().clone();
    assert!(got.len() >= 2, "{got:?}");
    assert!(
        got.windows(2).all(|w| w[1].progress > w[0].progress),
        "{got:?}"
    );
    assert_eq!(got[0].total, Some(60.0));
    assert!(
        got.iter().any(|p| p
            .message
            .as_deref()
            .unwrap_or("")
            .contains("last line: line")),
        "{got:?}"
    );
}

#[tokio::test]
async fn background_jobs_should_run_report_and_stop() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let probe = srv.connect(&sshd).await;
    let v = srv
        .ok("ssh_execute", json!({"session_id": s, "command": "echo a; sleep 2; echo b >&2; exit 7", "background": true}))
        .await;
    let job = v["job_id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = srv.ok("ssh_job", json!({"job_id": job})).await;
    assert_eq!(r["status"], "running");
    assert_eq!(r["stdout"], "a\n");
    let list = srv.ok("ssh_list_sessions", json!({})).await;
    assert!(list.to_string().contains(&job), "{list}");
    let r = srv
        .ok("ssh_job", json!({"job_id": job, "wait_secs": 20}))
        .await;
    assert_eq!(r["status"], "exited", "{r}");
    assert_eq!(r["exit_code"], 7);
    assert_eq!(r["stdout"], "", "output already read is not repeated");
    assert_eq!(r["stderr"], "b\n");

    // kill
    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "command": "sleep 3301", "background": true}),
        )
        .await;
    let job = v["job_id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = srv
        .ok("ssh_job", json!({"job_id": job, "kill": true}))
        .await;
    assert_eq!(r["status"], "killed", "{r}");
    assert!(gone(&srv, &probe, "sleep 3301").await);

    // a job's own timeout
    let v = srv
        .ok("ssh_execute", json!({"session_id": s, "command": "sleep 3302", "background": true, "timeout_secs": 1}))
        .await;
    let r = srv
        .ok("ssh_job", json!({"job_id": v["job_id"], "wait_secs": 20}))
        .await;
    assert_eq!(r["status"], "timed_out", "{r}");

    // jobs end with their session, and are gone with it (listed nowhere, readable nowhere)
    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "command": "sleep 3303", "background": true}),
        )
        .await;
    let job = v["job_id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(300)).await;
    srv.ok("ssh_disconnect", json!({"session_id": s})).await;
    let e = srv.err("ssh_job", json!({"job_id": job})).await;
    assert!(e.contains("no job with id"), "{e}");
    assert!(gone(&srv, &probe, "sleep 3303").await);
    let e = srv.err("ssh_job", json!({"job_id": "job-nope"})).await;
    assert!(e.contains("no job with id"), "{e}");
}

#[tokio::test]
async fn operator_limits_should_give_clear_errors() {
    let sshd = Sshd::start();
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            args: [
                "--max-sessions",
                "1",
                "--max-commands",
                "1",
                "--max-command-timeout",
                "100",
            ]
            .map(String::from)
            .to_vec(),
            ..Default::default()
        },
    )
    .await;
    let s = srv.connect(&sshd).await;
    let e = srv
        .err(
            "ssh_connect",
            json!({"address": sshd.address(), "password": "x"}),
        )
        .await;
    assert!(e.contains("1 sessions are open"), "{e}");
    let e = srv
        .err(
            "ssh_execute",
            json!({"session_id": s, "command": "true", "timeout_secs": 0}),
        )
        .await;
    assert!(e.contains("not allowed") && e.contains("background"), "{e}");
    let e = srv
        .err(
            "ssh_execute",
            json!({"session_id": s, "command": "true", "timeout_secs": 101}),
        )
        .await;
    assert!(e.contains("maximum of 100"), "{e}");
    let slow = srv.exec(&s, "sleep 2");
    let second = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        srv.err("ssh_execute", json!({"session_id": s, "command": "true"}))
            .await
    };
    let (_, e) = tokio::join!(slow, second);
    assert!(e.contains("too many commands"), "{e}");
}

#[tokio::test]
async fn idle_sessions_should_be_closed() {
    let sshd = Sshd::start();
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            args: vec!["--idle-timeout".into(), "1".into()],
            ..Default::default()
        },
    )
    .await;
    let s = srv.connect(&sshd).await;
    let started = Instant::now();
    loop {
        let list = srv.ok("ssh_list_sessions", json!({})).await;
        if list["sessions"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "idle session {s} not closed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// OpenSSH refuses channel signals in root's sessions ("session signalling requires
/// privilege separation"). Commands there carry a marker and are signalled through it from
/// a command of their own: a timeout and a cancel still stop the command and what it
/// started, including a shell busy in a loop.
#[tokio::test]
async fn commands_of_root_should_stop_without_channel_signals() {
    let sshd = Sshd::builder()
        .config("PermitRootLogin prohibit-password")
        .config("AllowUsers root")
        .start();
    let srv = Server::stdio().await;
    let as_root = || {
        srv.ok(
            "ssh_connect",
            json!({"address": sshd.address(), "username": "root",
                   "key_path": crate::sshd::user().key.to_str().unwrap()}),
        )
    };
    let s = as_root().await["session_id"].as_str().unwrap().to_string();
    let probe = as_root().await["session_id"].as_str().unwrap().to_string();

    let t = Instant::now();
    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "command": "sleep 3301 & sleep 3302; echo never", "timeout_secs": 1}),
        )
        .await;
    assert_eq!(v["timed_out"], true, "{v}");
    assert!(
        t.elapsed() < Duration::from_secs(6),
        "took {:?}",
        t.elapsed()
    );
    assert!(
        gone(&srv, &probe, "sleep 330[12]").await,
        "a timed-out command of root survived"
    );

    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "command": "while :; do :; done # 3303", "timeout_secs": 1}),
        )
        .await;
    assert_eq!(v["timed_out"], true, "{v}");
    assert!(
        gone(&srv, &probe, "while :; do :; done # 3303").await,
        "a busy shell of root survived"
    );

    let call =
        srv.client.call_tool(
            CallToolRequestParams::new("ssh_execute").with_arguments(args(
                json!({"session_id": s, "command": "sleep 3304", "timeout_secs": 120}),
            )),
        );
    assert!(
        tokio::time::timeout(Duration::from_secs(2), call)
            .await
            .is_err()
    );
    assert!(
        gone(&srv, &probe, "sleep 3304").await,
        "a cancelled command of root survived"
    );
    assert_eq!(srv.exec(&s, "echo ok").await["stdout"], "ok\n");
}

/// Whether process `pid` of this machine (the sshd of the tests is local) is alive.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().to_string())
        })
        .is_some_and(|rest| !rest.starts_with('Z') && !rest.starts_with('X'))
}

/// Kills the given process groups when dropped.
struct KillGroups(Vec<u32>);

impl Drop for KillGroups {
    fn drop(&mut self) {
        for g in &self.0 {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{g}")])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// Any user can read the marker's id in the command line of root's shell and plant it in
/// processes of its own. Stopping root's command must still signal only the group sshd
/// made for it: neither a group another user names in a planted marker, nor a group led by
/// another user's process whose command line and environment hold the id.
#[tokio::test]
async fn stopping_a_command_of_root_should_spare_groups_that_other_users_mark() {
    let sshd = Sshd::builder()
        .config("PermitRootLogin prohibit-password")
        .config("AllowUsers root")
        .start();
    let srv = Server::stdio().await;
    let as_root = || {
        srv.ok(
            "ssh_connect",
            json!({"address": sshd.address(), "username": "root",
                   "key_path": crate::sshd::user().key.to_str().unwrap()}),
        )
    };
    let root = as_root().await["session_id"].as_str().unwrap().to_string();
    let probe = as_root().await["session_id"].as_str().unwrap().to_string();
    let plain = srv.connect(&sshd).await;

    // The attacker, a plain user: a victim in a group of its own, then a loop that waits
    // for root's command (tagged), reads the id from its command line, and plants it.
    let nanos = std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .unwrap()
        .as_nanos();
    let tag = format!("plant{}x{nanos}", std::process::id());
    // Named without the tag, which the attacker's own command line must not hold.
    let planted = std::env::temp_dir().join(format!("ssh-mcp-planted-{nanos}"));
    let _ = std::fs::remove_file(&planted);
    let attack = format!(
        r#"setsid sleep 3605 </dev/null >/dev/null 2>&1 &
v=$!
# `$!` is known at once; the child becomes a group leader a moment later.
n=0
while [ "$(ps -o pgid= -p "$v" | tr -d ' ')" != "$v" ] && [ $n -lt 100 ]; do
  sleep 0.05
  n=$((n + 1))
done
(
  i=0
  while [ $i -lt 300 ]; do
    id=
    for f in $(grep -la -e '[{h}]{t}' /proc/[0-9]*/cmdline 2>/dev/null); do
      id=$(tr '\0' '\n' < "$f" | sed -n 's/^.*[S]SH_MCP_RUN=\([0-9a-f][0-9a-f]*\).*$/\1/p' | head -n 1)
      [ -n "$id" ] && break
    done
    if [ -n "$id" ]; then
      setsid env SSH_MCP_RUN="$id.$v" sh -c 'sleep 3608; :' "$id" </dev/null >/dev/null 2>&1 &
      printf '%s %s\n' "$id" "$!" > {file}
      exec env SSH_MCP_RUN="$id.$v" sh -c 'sleep 3606; :' "$id"
    fi
    sleep 0.1
    i=$((i + 1))
  done
) </dev/null >/dev/null 2>&1 &
echo "$v $$""#,
        h = &tag[..1],
        t = &tag[1..],
        file = planted.display(),
    );
    let out = srv.exec(&plain, &attack).await;
    let pids: Vec<u32> = out["stdout"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    let [victim, attacker_group] = pids[..] else {
        panic!("{out}")
    };
    let mut cleanup = KillGroups(vec![victim, attacker_group]);
    let stat = std::fs::read_to_string(format!("/proc/{victim}/stat")).unwrap();
    let pgid = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(2)
        .unwrap();
    assert_eq!(pgid, victim.to_string(), "the victim leads its own group");

    // Root's command ignores HUP, INT and TERM: every step of the stop runs, the last one
    // (KILL) ends it.
    let started = Instant::now();
    let run = srv.ok(
        "ssh_execute",
        json!({"session_id": root, "command": format!("trap '' HUP INT TERM; sleep 3607; echo never # {tag}"),
               "timeout_secs": 3}),
    );
    let watch = async {
        for _ in 0..100 {
            if let Ok(s) = std::fs::read_to_string(&planted)
                && s.ends_with('\n')
            {
                return Some((s, started.elapsed()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    };
    let (v, seen) = tokio::join!(run, watch);
    let (marks, when) = seen.expect("the attacker never found root's command");
    let _ = std::fs::remove_file(&planted);
    let (id, decoy) = marks.trim().split_once(' ').unwrap();
    let decoy: u32 = decoy.parse().unwrap();
    cleanup.0.push(decoy);
    assert!(
        when < Duration::from_millis(2500),
        "planted only after {when:?}, when the stop may have begun"
    );
    assert!(
        id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(v["timed_out"], true, "{v}");
    assert!(
        gone(&srv, &probe, "sleep 3607").await,
        "root's timed-out command survived"
    );
    // The last signalling command may still be running when the call returns.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        alive(victim),
        "the group named by a planted marker was signalled"
    );
    assert!(
        alive(decoy),
        "the group of another user's process holding the id was signalled"
    );
    // The session is still usable.
    assert_eq!(srv.exec(&root, "echo ok").await["stdout"], "ok\n");
}
