//! The shell rows: a keystroke's echo round trip against `ssh -tt` over a ControlMaster
//! driven through a local PTY (`script`), and the memory of an idle open shell.

use std::process::Stdio;
use std::time::Instant;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Bench, Pairs, harness::Server, ms_since, quiet, rss_kib};

impl Bench {
    pub(super) async fn shell(&mut self) {
        // Ours: `cat` on a PTY; the terminal echoes each key.
        let v = self
            .srv
            .ok(
                "ssh_shell_open",
                json!({"session_id": self.s, "command": "cat"}),
            )
            .await;
        let sh = v["shell_id"].as_str().unwrap().to_string();
        let key =
            |sh: &str| json!({"shell_id": sh, "text": "x", "wait_for": "x", "timeout_ms": 5000});

        // The reference: `ssh -tt … cat` through the master, with a local PTY from `script`,
        // read from script's output. ssh sends the local terminal's modes (echo on) to the
        // server, then puts the local one in raw mode: each echo comes from the remote side.
        let ctl = self.work.path().join("shell-cm.sock");
        self.start_master(&ctl, 120);
        let mut ssh = self.ssh();
        ssh.arg("-tt")
            .arg("-S")
            .arg(&ctl)
            .arg(self.target())
            .arg("cat");
        let line: Vec<String> = std::iter::once(ssh.get_program())
            .chain(ssh.get_args())
            .map(|a| format!("'{}'", a.to_string_lossy().replace('\'', "'\\''")))
            .collect();
        let mut script = tokio::process::Command::new("script")
            .args(["-q", "-f", "-c", &line.join(" "), "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // ssh sets its terminal to raw mode first, discarding what was typed before.
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let mut input = script.stdin.take().unwrap();
        let mut output = script.stdout.take().unwrap();
        let mut buf = [0u8; 256];
        let mut echo_ms =
            async |input: &mut tokio::process::ChildStdin,
                   output: &mut tokio::process::ChildStdout| {
                let t = Instant::now();
                input.write_all(b"x").await.unwrap();
                input.flush().await.unwrap();
                loop {
                    let n = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        output.read(&mut buf),
                    )
                    .await
                    .expect("ssh -tt did not echo within 10 s")
                    .unwrap();
                    assert!(n > 0, "ssh -tt ended");
                    if buf[..n].contains(&b'x') {
                        return ms_since(t);
                    }
                }
            };
        for _ in 0..5 {
            self.srv.ok("ssh_shell_send", key(&sh)).await;
            echo_ms(&mut input, &mut output).await;
        }
        let mut p = Pairs::default();
        for _ in 0..self.n(20, 300) {
            let t = Instant::now();
            let v = self.srv.ok("ssh_shell_send", key(&sh)).await;
            assert_eq!(v["matched"], true);
            let ours = ms_since(t);
            p.push(ours, echo_ms(&mut input, &mut output).await);
        }
        p.latency_row(
            &mut self.report,
            "keystroke echo, ssh_shell_send, median (p95) ms vs ssh -tt via ControlMaster in a PTY (goal ≤ 1.0x)",
        );
        drop(input);
        let _ = script.kill().await;
        Self::stop_master(&ctl);
        self.srv
            .ok("ssh_shell_close", json!({"shell_id": sh}))
            .await;

        // Memory per idle shell: sessions first, then five shells on each.
        let mut opts = quiet();
        opts.args.extend(["--max-shells".into(), "8".into()]);
        let fresh = Server::start_with(super::harness::Transport::Stdio, opts).await;
        let mut sessions = Vec::new();
        for _ in 0..self.n(2, 8) {
            sessions.push(fresh.connect(&self.sshd).await);
        }
        let first = fresh
            .ok("ssh_shell_open", json!({"session_id": sessions[0]}))
            .await;
        fresh
            .ok("ssh_shell_close", json!({"shell_id": first["shell_id"]}))
            .await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let before = rss_kib(fresh.pid, "VmRSS:");
        let mut n = 0;
        for s in &sessions {
            for _ in 0..5 {
                fresh.ok("ssh_shell_open", json!({"session_id": s})).await;
                n += 1;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let after = rss_kib(fresh.pid, "VmRSS:");
        fresh.stop().await;
        self.report.row(
            "RSS per idle open shell (40x120), KiB",
            format!("{:.0}", after.saturating_sub(before) as f64 / n as f64),
            "goal ≤ 256".into(),
            String::new(),
        );
    }
}
