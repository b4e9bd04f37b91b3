//! The shell rows: a keystroke's echo round trip against `ssh -tt` over a ControlMaster
//! driven through a local PTY (`script`), and the memory of an idle open shell.

use std::process::Stdio;
use std::time::Instant;

use serde_json::json;
use std::io::{BufRead, Read, Write};

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
        let mut reference = Echo::start(&line.join(" "));

        // Ours, driven the same way: a minimal MCP client on this thread writes one JSON-RPC
        // line to the server's stdin and reads the answer from its stdout.
        let mut lean = LineClient::start(&quiet());
        let id = lean.call(
            "ssh_connect",
            json!({"address": self.sshd.address(), "username": super::sshd::USER,
                   "key_path": super::sshd::user().key.to_str().unwrap()}),
        )["session_id"]
            .as_str()
            .unwrap()
            .to_string();
        let lean_sh = lean.call(
            "ssh_shell_open",
            json!({"session_id": id, "command": "cat"}),
        )["shell_id"]
            .as_str()
            .unwrap()
            .to_string();
        for _ in 0..5 {
            lean.call("ssh_shell_send", key(&lean_sh));
            self.srv.ok("ssh_shell_send", key(&sh)).await;
            reference.key();
        }
        // Each pair is one of ours then one of the reference, back to back; the two clients
        // are measured in separate runs so that neither disturbs the other's pairs.
        let mut p = Pairs::default();
        for _ in 0..self.n(20, 300) {
            let t = Instant::now();
            assert_eq!(lean.call("ssh_shell_send", key(&lean_sh))["matched"], true);
            p.push(ms_since(t), reference.key());
        }
        let mut sdk = Pairs::default();
        for _ in 0..self.n(20, 300) {
            let t = Instant::now();
            let v = self.srv.ok("ssh_shell_send", key(&sh)).await;
            assert_eq!(v["matched"], true);
            sdk.push(ms_since(t), reference.key());
        }
        p.latency_row(
            &mut self.report,
            "keystroke echo, ssh_shell_send, median (p95) ms vs ssh -tt via ControlMaster in a PTY (goal ≤ 1.0x)",
        );
        sdk.latency_row(
            &mut self.report,
            "the same echo through rmcp's client on the bench's two-thread runtime",
        );
        drop(reference);
        drop(lean);
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

/// `script` running a command on a local PTY; a key written to its input comes back on its
/// output once the remote side echoes it.
struct Echo {
    child: Watched,
    input: std::process::ChildStdin,
    output: std::process::ChildStdout,
}

impl Echo {
    fn start(command: &str) -> Self {
        let mut child = std::process::Command::new("script")
            .args(["-q", "-f", "-c", command, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // ssh sets its terminal to raw mode first, discarding what was typed before.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let input = child.stdin.take().unwrap();
        let output = child.stdout.take().unwrap();
        Self {
            child: Watched::new(child),
            input,
            output,
        }
    }

    /// Types `x` and returns the ms until it is echoed.
    fn key(&mut self) -> f64 {
        let t = Instant::now();
        self.input.write_all(b"x").unwrap();
        let mut buf = [0u8; 256];
        loop {
            let n = self.output.read(&mut buf).unwrap();
            assert!(n > 0, "ssh -tt ended");
            if buf[..n].contains(&b'x') {
                return ms_since(t);
            }
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.child.stop();
    }
}

/// A minimal MCP client over stdio, blocking, on the caller's thread: one JSON-RPC line each
/// way per call, as little client work as an MCP client can do.
struct LineClient {
    child: Watched,
    input: std::process::ChildStdin,
    output: std::io::BufReader<std::process::ChildStdout>,
    next: u64,
    _home: tempfile::TempDir,
}

impl LineClient {
    fn start(opts: &super::harness::Opts) -> Self {
        let home = tempfile::tempdir().unwrap();
        let log = home.path().join("server.log");
        let bin = super::harness::binary("ssh-mcp-stdio");
        let cmd = super::harness::server_command(&bin, home.path(), &log, opts);
        let mut child = cmd
            .into_std()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let output = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut c = Self {
            child: Watched::new(child),
            input,
            output,
            next: 0,
            _home: home,
        };
        c.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "bench", "version": "0"}}),
        );
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        writeln!(c.input, "{note}").unwrap();
        c
    }

    fn request(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        self.next += 1;
        let mut line = serde_json::to_vec(
            &json!({"jsonrpc": "2.0", "id": self.next, "method": method, "params": params}),
        )
        .unwrap();
        line.push(b'\n');
        self.input.write_all(&line).unwrap();
        let mut answer = String::new();
        loop {
            answer.clear();
            assert!(
                self.output.read_line(&mut answer).unwrap() > 0,
                "server ended"
            );
            let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
            if v["id"] == json!(self.next) {
                return v["result"].clone();
            }
        }
    }

    /// Calls a tool that must succeed; returns its structured result.
    fn call(&mut self, tool: &str, args: serde_json::Value) -> serde_json::Value {
        let r = self.request("tools/call", json!({"name": tool, "arguments": args}));
        assert_ne!(r["isError"], true, "{tool}: {r}");
        r["structuredContent"].clone()
    }
}

impl Drop for LineClient {
    fn drop(&mut self) {
        self.child.stop();
    }
}

/// A child process that is killed if it is still there after [`Watched::LIMIT`], so that a
/// blocking read of its output cannot hang the bench.
struct Watched(std::sync::Arc<std::sync::Mutex<std::process::Child>>);

impl Watched {
    const LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

    fn new(child: std::process::Child) -> Self {
        let shared = std::sync::Arc::new(std::sync::Mutex::new(child));
        let weak = std::sync::Arc::downgrade(&shared);
        std::thread::spawn(move || {
            std::thread::sleep(Self::LIMIT);
            if let Some(child) = weak.upgrade() {
                eprintln!("a bench child ran past {:?}: killed", Self::LIMIT);
                let _ = child.lock().unwrap().kill();
            }
        });
        Self(shared)
    }

    fn stop(&self) {
        let mut child = self.0.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}
