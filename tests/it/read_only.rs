//! The `read_only` command preset against a real sshd: commands that would leave a marker
//! file if they ran are refused and leave none, read commands still run, and the same
//! commands without the preset do leave their marker (so the markers prove something).

use std::path::PathBuf;

use serde_json::json;

use crate::harness::{Opts, Server, Transport};
use crate::sshd::Sshd;

/// A marker path unique to this test process and `tag`. sshd runs on this machine, so the
/// remote `/tmp` is ours.
fn marker(tag: usize) -> PathBuf {
    PathBuf::from(format!(
        "/tmp/ssh-mcp-read-only-{}-{tag}",
        std::process::id()
    ))
}

/// Ways of running `touch MARKER` hidden from a naive check. `true` where plain bash on
/// this machine runs them as the test user (without `sudo` rights or the same `python3`).
fn attacks() -> Vec<(String, bool)> {
    let m = |i: usize| marker(i).display().to_string();
    vec![
        (format!("'touch' {}", m(0)), true),
        (format!("\\touch {}", m(1)), true),
        (format!("echo $(touch {})", m(2)), true),
        (format!("echo `touch {}`", m(3)), true),
        (format!("sh -c 'touch {}'", m(4)), true),
        (format!("python3 -c 'open(\"{}\", \"w\")'", m(5)), false),
        (
            format!("find /tmp -maxdepth 0 -exec touch {} \\;", m(6)),
            true,
        ),
        (format!("echo x > {}", m(7)), true),
        (format!("cat <(touch {})", m(8)), true),
        (format!("eval touch {}", m(9)), true),
        (format!("env touch {}", m(10)), true),
        (format!("sudo touch {}", m(11)), false),
        (format!("x=touch; $x {}", m(12)), true),
        (format!("t''ouch {}", m(13)), true),
        (format!("cat <<EOF\n$(touch {})\nEOF", m(14)), true),
        (format!("sed -n 'w {}' /etc/hostname", m(15)), true),
        (
            format!("awk 'BEGIN {{ system(\"touch {}\") }}'", m(16)),
            true,
        ),
    ]
}

fn clear_markers(n: usize) {
    for i in 0..n {
        let _ = std::fs::remove_file(marker(i));
    }
}

async fn start(config: Option<&str>) -> (Server, Option<tempfile::TempDir>) {
    let dir = config.map(|text| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ssh-mcp.toml"), text).unwrap();
        dir
    });
    let args = dir
        .as_ref()
        .map(|d| {
            vec![
                "--config".to_string(),
                d.path().join("ssh-mcp.toml").display().to_string(),
            ]
        })
        .unwrap_or_default();
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            args,
            ..Default::default()
        },
    )
    .await;
    (srv, dir)
}

#[tokio::test]
async fn read_only_preset_should_refuse_hidden_writes_and_run_reads() {
    let sshd = Sshd::start();
    let attacks = attacks();
    clear_markers(attacks.len());

    let (srv, _dir) = start(Some("[security.commands]\npreset = \"read_only\"\n")).await;
    let s = srv.connect(&sshd).await;
    for (i, (attack, _)) in attacks.iter().enumerate() {
        let e = srv
            .err("ssh_execute", json!({"session_id": s, "command": attack}))
            .await;
        assert!(
            e.contains("refused by this server's policy") && e.contains("read-only mode"),
            "{attack}: {e}"
        );
        assert!(!marker(i).exists(), "{attack} ran: {}", marker(i).display());
    }
    // (command, whether it prints something here)
    for (read, prints) in [
        ("ps aux | grep sshd | head -3", true),
        ("journalctl -n 5 2>/dev/null || true", false),
        ("find /etc -name '*.conf' | wc -l", true),
    ] {
        let v = srv.exec(&s, read).await;
        assert_eq!(v["exit_code"], 0, "{read}: {v}");
        let out = v["stdout"].as_str().unwrap_or_default();
        assert!(!prints || !out.is_empty(), "{read}: {v}");
    }
    srv.stop().await;

    // Without the preset the same commands do run: the markers show it.
    let (open, _) = start(None).await;
    let s = open.connect(&sshd).await;
    for (i, (attack, runs_here)) in attacks.iter().enumerate() {
        open.call("ssh_execute", json!({"session_id": s, "command": attack}))
            .await;
        if *runs_here {
            assert!(
                marker(i).exists(),
                "{attack} left no marker without the preset"
            );
        }
    }
    open.stop().await;
    clear_markers(attacks.len());
}
