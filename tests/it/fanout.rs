//! `ssh_fanout` against a fleet of real hosts (see [`crate::fleet`]).

use std::time::{Duration, Instant};

use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

use crate::fleet::{Fleet, named};
use crate::harness::{self, Opts, Server, Transport};
use crate::reach::config;
use crate::sshd::{self, Sshd, free_port};

/// A stdio server with this config text and extra flags.
pub(crate) async fn server(cfg: &str, flags: &[&str]) -> (tempfile::TempDir, Server) {
    let (dir, path) = config(cfg);
    let mut args = vec!["--config".to_string(), path];
    args.extend(flags.iter().map(|f| f.to_string()));
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            args,
            ..Default::default()
        },
    )
    .await;
    (dir, srv)
}

/// Hosts of each group, in result order.
pub(crate) fn groups(v: &Value) -> Vec<Vec<String>> {
    v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            g["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h.as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

fn names(range: std::ops::RangeInclusive<usize>) -> Vec<String> {
    range.map(|i| format!("h{i:02}")).collect()
}

/// Whether a process matching `pattern` (pgrep -f) runs on this machine, polled for a few
/// seconds until none does (asynchronously: the client's own tasks must go on meanwhile).
async fn still_running(pattern: &str) -> bool {
    for _ in 0..50 {
        let out = std::process::Command::new("pgrep")
            .args(["-f", pattern])
            .output()
            .unwrap();
        if out.stdout.is_empty() {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    true
}

/// The server's address of the connection, e.g. `127.0.10.3 22`: distinct per host.
const WHERE: &str = "set -- $SSH_CONNECTION; echo $3";

#[tokio::test]
async fn outputs_should_fold_into_groups_and_sessions_serve_the_next_call() {
    let fleet = Fleet::start(40);
    let (_d, srv) = server(
        &format!(
            "{}[groups]\nlow = [\"h01\", \"h02\"]\nall = [\"@low\", {}]\n",
            fleet.config(),
            names(3..=40)
                .iter()
                .map(|n| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        &[],
    )
    .await;
    // The model learns the groups from the instructions.
    let info = srv.client.peer_info().unwrap();
    let instructions = info.instructions.as_deref().unwrap_or_default();
    assert!(
        instructions.contains("Host groups for ssh_fanout: @all, @low."),
        "{instructions}"
    );
    let started = Instant::now();
    let v = srv
        .ok("ssh_fanout", json!({"targets": ["@all"], "command": WHERE}))
        .await;
    let cold = started.elapsed();
    assert_eq!(v["summary"]["hosts"], 40, "{v}");
    assert_eq!(v["summary"]["ok"], 40, "{v}");
    assert_eq!(groups(&v).len(), 40);
    assert_eq!(fleet.accepted(), 40);
    let progress = srv.recorder.progress.lock().unwrap().clone();
    assert!(
        progress
            .iter()
            .any(|p| p.message.as_deref() == Some("40/40 done, 0 failed")),
        "{progress:?}"
    );
    // Identical output: one group of 40, hosts in order; the text view compresses them.
    let started = Instant::now();
    let r = srv
        .call(
            "ssh_fanout",
            json!({"targets": ["h*"], "command": "uname -s", "concurrency": 40}),
        )
        .await;
    let warm = started.elapsed();
    let v = r.structured_content.clone().unwrap();
    assert_eq!(groups(&v), vec![names(1..=40)]);
    assert_eq!(v["groups"][0]["stdout"], "Linux\n");
    let text = harness::text(&r);
    assert!(text.contains("== h[01-40] (40 hosts): exit 0"), "{text}");
    // The second call made no new connection, and the sessions are listed.
    assert_eq!(fleet.accepted(), 40, "sessions were not reused");
    let list = srv.ok("ssh_list_sessions", json!({})).await;
    assert_eq!(list["sessions"].as_array().unwrap().len(), 40);
    eprintln!("40 hosts: cold {cold:?}, warm {warm:?}");
    // Large distinct outputs stay under 64 KiB; the smallest groups lose their output.
    let r = srv
        .call(
            "ssh_fanout",
            json!({"targets": ["@all"], "max_output_bytes": 8192,
                   "command": format!("head -c 6000 /dev/zero | tr '\\0' x; {WHERE}")}),
        )
        .await;
    let v = r.structured_content.clone().unwrap();
    let size = serde_json::to_vec(&v).unwrap().len();
    assert!(size <= 64 * 1024, "{size}");
    assert!(v["note"].as_str().unwrap().contains("smallest"), "{v}");
    assert_eq!(groups(&v).concat().len(), 40);
    assert!(v["groups"][0]["stdout"].as_str().unwrap().len() > 6000);
    assert_eq!(v["groups"][39]["stdout"], "");
    assert_eq!(v["groups"][39]["truncated"], true);
    assert_eq!(fleet.accepted(), 40);
}

#[tokio::test]
async fn exit_codes_should_group_and_unreachable_hosts_land_in_errors() {
    let fleet = Fleet::start(9);
    let other = Sshd::start();
    let key = sshd::user().key.display().to_string();
    let stranger = sshd::user().stranger_key.display().to_string();
    let changed = fleet.sshds[0].address();
    let audit = tempfile::tempdir().unwrap();
    let audit_file = audit.path().join("audit.jsonl");
    let cfg = format!(
        "[audit]\nfile = \"{}\"\n{}{}{}{}",
        audit_file.display(),
        fleet.config(),
        named("closed", &format!("127.0.0.1:{}", free_port()), &key),
        named("wrongkey", &other.address(), &stranger),
        named("changed", &changed, &key),
    );
    let (_d, srv) = server(&cfg, &[]).await;
    // The server knows another key for `changed`.
    let kh = srv.known_hosts();
    std::fs::create_dir_all(kh.parent().unwrap()).unwrap();
    std::fs::write(
        &kh,
        format!("[127.0.0.1]:{} {}\n", fleet.sshds[0].port, other.host_key),
    )
    .unwrap();
    let v = srv
        .ok(
            "ssh_fanout",
            json!({"targets": ["h*", "closed", "wrongkey", "changed"],
                   "command": "set -- $SSH_CONNECTION; n=${3##*.}; echo x; exit $((n % 3))"}),
        )
        .await;
    let s = &v["summary"];
    assert_eq!(
        (
            s["hosts"].clone(),
            s["ok"].clone(),
            s["failed"].clone(),
            s["errors"].clone()
        ),
        (json!(12), json!(3), json!(6), json!(3)),
        "{v}"
    );
    assert_eq!(
        groups(&v),
        vec![
            vec!["h01", "h04", "h07"],
            vec!["h02", "h05", "h08"],
            vec!["h03", "h06", "h09"]
        ]
    );
    assert_eq!(v["groups"][0]["exit_code"], 1);
    assert_eq!(v["groups"][2]["exit_code"], 0);
    let stages: Vec<(String, String)> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["host"].as_str().unwrap().into(),
                e["stage"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        stages,
        [
            ("closed".into(), "connect".into()),
            ("wrongkey".into(), "auth".into()),
            ("changed".into(), "host_key".into())
        ],
        "{v}"
    );
    // One audit line per host, refusals and failures included.
    let lines = std::fs::read_to_string(&audit_file).unwrap();
    let fanout: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["tool"] == "ssh_fanout")
        .collect();
    assert_eq!(fanout.len(), 12, "{lines}");
    let failed: Vec<&str> = fanout
        .iter()
        .filter(|e| e["decision"] == "failed")
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    assert_eq!(failed.len(), 3, "{lines}");
    assert!(
        fanout
            .iter()
            .any(|e| e["target"] == "h01" && e["exit_code"] == 1)
    );
}

#[tokio::test]
async fn fail_fast_timeouts_and_cancels_should_leave_no_process() {
    let fleet = Fleet::start(6);
    let (_d, srv) = server(&fleet.config(), &[]).await;
    // fail_fast: the second host fails; no more start.
    let v = srv
        .ok(
            "ssh_fanout",
            json!({"targets": ["h*"], "concurrency": 1, "fail_fast": true,
                   "command": "set -- $SSH_CONNECTION; [ $3 != 127.0.10.2 ]"}),
        )
        .await;
    let s = &v["summary"];
    assert_eq!(s["failed"], 1, "{v}");
    assert!(s["skipped"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(
        s["ok"].as_u64().unwrap() + s["skipped"].as_u64().unwrap(),
        5,
        "{v}"
    );
    // A timeout on some hosts stops them; the others finish.
    let started = Instant::now();
    let v = srv
        .ok(
            "ssh_fanout",
            json!({"targets": ["h*"], "timeout_secs": 2,
                   "command": "set -- $SSH_CONNECTION; case $3 in 127.0.10.[12]) sleep 3302;; esac; echo done"}),
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(v["summary"]["timed_out"], 2, "{v}");
    assert_eq!(v["summary"]["ok"], 4, "{v}");
    assert_eq!(groups(&v), vec![names(3..=6), names(1..=2)]);
    assert_eq!(v["groups"][1]["timed_out"], true);
    assert!(
        !still_running("[s]leep 3302").await,
        "a timed-out command survived"
    );
    // A cancel mid-run stops every running command.
    let call = srv.client.call_tool(
        CallToolRequestParams::new("ssh_fanout").with_arguments(
            json!({"targets": ["h*"], "concurrency": 3, "command": "sleep 3303"})
                .as_object()
                .unwrap()
                .clone(),
        ),
    );
    assert!(
        tokio::time::timeout(Duration::from_secs(3), call)
            .await
            .is_err()
    );
    assert!(
        !still_running("[s]leep 3303").await,
        "a cancelled command survived"
    );
    // The sessions still work, and dead ones reconnect.
    fleet.sshds[0].signal_connections("KILL");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let v = srv
        .ok(
            "ssh_fanout",
            json!({"targets": ["h*"], "command": "echo ok"}),
        )
        .await;
    assert_eq!(v["summary"]["ok"], 6, "{v}");
}

#[tokio::test]
async fn misuse_should_be_refused_before_anything_runs() {
    let fleet = Fleet::start(4);
    let cfg = format!(
        "{}[groups]\nall = [\"h01\", \"h02\", \"h03\", \"h04\"]\n[security.commands]\ndeny = [\"^rm \"]\n",
        fleet.config()
    );
    let (_d, srv) = server(&cfg, &["--max-fanout", "3"]).await;
    for (args, expect) in [
        (
            json!({"targets": ["h01"], "command": "rm -rf /tmp/x"}),
            "refused",
        ),
        (
            json!({"targets": ["h01", "nope"], "command": "true"}),
            "unknown target",
        ),
        (json!({"targets": ["@nope"], "command": "true"}), "no group"),
        (
            json!({"targets": ["x*"], "command": "true"}),
            "matches no named host",
        ),
        (json!({"targets": [], "command": "true"}), "empty"),
        (
            json!({"targets": ["@all"], "command": "true"}),
            "more than 3",
        ),
        (
            json!({"targets": ["h01"], "command": "true", "concurrency": 0}),
            "out of range",
        ),
        (
            json!({"targets": ["h01"], "command": "true", "concurrency": 65}),
            "out of range",
        ),
        (
            json!({"targets": ["../h01"], "command": "true"}),
            "unknown target",
        ),
    ] {
        let e = srv.err("ssh_fanout", args.clone()).await;
        assert!(e.to_lowercase().contains(expect), "{args}: {e}");
    }
    assert_eq!(fleet.accepted(), 0, "a host was reached");
    // A group cycle stops the server at start, naming the cycle.
    let (_c, path) = config(&format!(
        "{}[groups]\na = [\"@b\"]\nb = [\"@a\"]\n",
        fleet.config()
    ));
    let out = std::process::Command::new(harness::binary("ssh-mcp-stdio"))
        .args(["--config", &path])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a -> b -> a"), "{err}");
}
