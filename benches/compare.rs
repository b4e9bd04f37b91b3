//! Benchmarks against OpenSSH on the same machine, in the same run, reported as ratios.
//!
//! `cargo bench --bench compare` (or `scripts/bench`) starts its own sshd (the test
//! fixture), drives the release binaries through a real MCP client, and writes
//! BENCHMARKS.md. Set `SSH_MCP_ORIGINAL=/path/to/ssh-mcp-stdio` to include the original
//! program (crates.io `ssh-mcp` 0.1.3), with and without TCP_NODELAY forced onto it.
//! `BENCH_QUICK=1` shrinks every measurement for a smoke run; `BENCH_ONLY=sftp,forward` runs
//! only the named sections (see `SECTIONS`) and leaves BENCHMARKS.md alone. The fan-out and
//! shell rows live in `compare/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

#[path = "compare/fanout.rs"]
mod fanout;
#[path = "../tests/it/fleet.rs"]
mod fleet;
#[path = "../tests/it/harness.rs"]
mod harness;
#[path = "compare/shell.rs"]
mod shell_bench;
#[path = "../tests/it/sshd.rs"]
mod sshd;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use harness::{Opts, Server, Transport, binary};
use sshd::{Sshd, USER};

struct Report {
    rows: Vec<[String; 4]>,
    notes: Vec<String>,
    /// Markdown after the notes (the code size per crate).
    sections: Vec<String>,
}

impl Report {
    fn row(&mut self, what: &str, ours: String, reference: String, ratio: String) {
        println!("{what:<58} {ours:>16} {reference:>22} {ratio:>10}");
        self.rows.push([what.into(), ours, reference, ratio]);
    }
}

fn quick() -> bool {
    std::env::var_os("BENCH_QUICK").is_some()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let i = ((s.len() as f64 - 1.0) * p).round() as usize;
    s[i.min(s.len() - 1)]
}

fn median(v: &[f64]) -> f64 {
    percentile(v, 0.5)
}

/// OpenSSH's default cipher (9.x), for the rows that compare defaults with defaults.
const OPENSSH_DEFAULT_CIPHER: &str = "chacha20-poly1305@openssh.com";

/// The cipher ssh-mcp negotiates with OpenSSH on this machine: its first preference.
fn our_cipher() -> String {
    ssh_mcp::ssh::algorithms::preferred_ciphers()
        .first()
        .map(|c| c.as_ref().to_string())
        .unwrap_or_else(|| OPENSSH_DEFAULT_CIPHER.into())
}

/// An OpenSSH client program (`ssh`, `sftp`) set up for the fixture: its key, its
/// known_hosts, no user config, the given cipher. `port_flag` is `-p` or `-P`.
fn openssh(program: &str, port_flag: &str, sshd: &Sshd, kh: &Path, cipher: &str) -> Command {
    let mut c = Command::new(program);
    c.args([
        "-F",
        "/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
    ])
    .arg("-o")
    .arg(format!("UserKnownHostsFile={}", kh.display()))
    .arg("-i")
    .arg(&sshd::user().key)
    .args([port_flag, &sshd.port.to_string(), "-c", cipher]);
    c
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = s.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// CPU seconds (user + system) a process used so far.
fn cpu_secs(pid: u32) -> f64 {
    stat_ticks(&format!("/proc/{pid}/stat"), 11) as f64 / 100.0
}

/// CPU seconds used so far by this process's waited-for children (and theirs).
fn children_cpu_secs() -> f64 {
    stat_ticks("/proc/self/stat", 13) as f64 / 100.0
}

/// CPU seconds every processor of the machine spent busy so far (user, nice, system, irq,
/// softirq from the `cpu` line of `/proc/stat`).
fn machine_cpu_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/stat").unwrap();
    let line = s.lines().next().unwrap();
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap())
        .collect();
    [0, 1, 2, 5, 6].iter().map(|&i| f[i]).sum::<u64>() as f64 / 100.0
}

/// The sum of two clock-tick fields of a `stat` file, counted after the command name
/// (`utime stime` from index 11, `cutime cstime` from 13); USER_HZ is 100 on Linux.
fn stat_ticks(path: &str, from: usize) -> u64 {
    let s = std::fs::read_to_string(path).unwrap();
    let after = &s[s.rfind(')').unwrap() + 2..];
    after
        .split_whitespace()
        .skip(from)
        .take(2)
        .map(|f| f.parse::<u64>().unwrap())
        .sum()
}

/// A minimal MCP client of the original program (its results are `{"Ok": …}` text).
struct Original {
    client: rmcp::service::RunningService<rmcp::RoleClient, ()>,
}

impl Original {
    async fn start(bin: &Path, preload: Option<&Path>, home: &Path) -> Self {
        let mut cmd = tokio::process::Command::new(bin);
        cmd.env("HOME", home).env("RUST_LOG", "warn");
        if let Some(p) = preload {
            cmd.env("LD_PRELOAD", p);
        }
        let (proc, _) = TokioChildProcess::builder(cmd)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self {
            client: ().serve(proc).await.unwrap(),
        }
    }

    async fn call(&self, tool: &str, args: Value) -> Value {
        let r = self
            .client
            .call_tool(
                CallToolRequestParams::new(tool.to_string())
                    .with_arguments(args.as_object().unwrap().clone()),
            )
            .await
            .unwrap();
        let text = harness::text(&r);
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        v.get("Ok").cloned().unwrap_or(v)
    }

    async fn connect(&self, sshd: &Sshd) -> String {
        let v = self
            .call(
                "ssh_connect",
                json!({"address": sshd.address(), "username": USER, "key_path": sshd::user().key}),
            )
            .await;
        v["session_id"]
            .as_str()
            .unwrap_or_else(|| panic!("original connect: {v}"))
            .to_string()
    }
}

/// An LD_PRELOAD shim that sets TCP_NODELAY on every connected TCP socket.
fn nodelay_shim(dir: &Path) -> Option<PathBuf> {
    let src = dir.join("nodelay.c");
    std::fs::write(
        &src,
        r#"#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
int connect(int fd, const struct sockaddr *a, socklen_t l) {
  static int (*real)(int, const struct sockaddr *, socklen_t);
  if (!real) real = dlsym(RTLD_NEXT, "connect");
  int r = real(fd, a, l);
  if (a && (a->sa_family == AF_INET || a->sa_family == AF_INET6)) {
    int one = 1; setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return r;
}
"#,
    )
    .ok()?;
    let so = dir.join("nodelay.so");
    let ok = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&so)
        .arg(&src)
        .arg("-ldl")
        .status()
        .ok()?
        .success();
    ok.then_some(so)
}

/// Interleaved pairs of measurements: ssh-mcp and the reference alternately, so that noise
/// on a shared machine hits both; the ratio reported is the median of the per-pair ratios.
#[derive(Default)]
struct Pairs {
    ours: Vec<f64>,
    theirs: Vec<f64>,
    ratios: Vec<f64>,
}

impl Pairs {
    fn push(&mut self, ours: f64, theirs: f64) {
        self.ours.push(ours);
        self.theirs.push(theirs);
        self.ratios.push(ours / theirs);
    }

    /// A row of medians with `decimals` digits.
    fn row(&self, report: &mut Report, what: &str, decimals: usize) {
        report.row(
            what,
            format!("{:.decimals$}", median(&self.ours)),
            format!("{:.decimals$}", median(&self.theirs)),
            format!("{:.3}x", median(&self.ratios)),
        );
    }

    /// A row of median (p95) latencies in ms.
    fn latency_row(&self, report: &mut Report, what: &str) {
        let both = |v: &[f64]| format!("{:.2} ({:.2})", median(v), percentile(v, 0.95));
        report.row(
            what,
            both(&self.ours),
            both(&self.theirs),
            format!("{:.3}x", median(&self.ratios)),
        );
    }
}

/// Everything the sections share: the sshd, a server with one open session, the report.
struct Bench {
    quick: bool,
    work: tempfile::TempDir,
    sshd: Sshd,
    /// known_hosts for the OpenSSH clients.
    kh: PathBuf,
    srv: Server,
    /// An open session of `srv`.
    s: String,
    /// The cipher of `srv`'s connections; OpenSSH is given the same unless a row says.
    cipher: String,
    report: Report,
}

/// Server options for benchmarking: quiet, with room for many sessions and long commands.
fn quiet() -> Opts {
    Opts {
        env: vec![("RUST_LOG".into(), "warn".into())],
        args: ["--max-sessions", "1000", "--max-command-timeout", "0"]
            .map(String::from)
            .to_vec(),
        ..Default::default()
    }
}

fn ms_since(t: Instant) -> f64 {
    ms(t.elapsed())
}

/// The sections to run: all, or those named in `BENCH_ONLY` (comma-separated).
fn selected(name: &str) -> bool {
    match std::env::var("BENCH_ONLY") {
        Ok(only) => only.split(',').any(|s| s.trim() == name),
        Err(_) => true,
    }
}

const SECTIONS: [&str; 10] = [
    "exec", "original", "connect", "memory", "shell", "forward", "sftp", "load", "fanout", "size",
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Ok(only) = std::env::var("BENCH_ONLY") {
        for s in only.split(',') {
            assert!(
                SECTIONS.contains(&s.trim()),
                "unknown section {s:?}; sections: {SECTIONS:?}"
            );
        }
    }
    let work = tempfile::tempdir().unwrap();
    let sshd = Sshd::start();
    let kh = work.path().join("known_hosts");
    std::fs::write(&kh, sshd.known_hosts_line()).unwrap();
    let srv = Server::start_with(Transport::Stdio, quiet()).await;
    let s = srv.connect(&sshd).await;
    let mut b = Bench {
        quick: quick(),
        work,
        sshd,
        kh,
        srv,
        s,
        cipher: our_cipher(),
        report: Report {
            rows: Vec::new(),
            notes: Vec::new(),
            sections: Vec::new(),
        },
    };
    b.report.notes.push(format!(
        "ssh-mcp negotiated {} with sshd (its first choice on this CPU); the OpenSSH clients use \
         the same cipher unless the row names another ({OPENSSH_DEFAULT_CIPHER} is OpenSSH's default).",
        b.cipher
    ));
    println!(
        "{:<58} {:>16} {:>22} {:>10}",
        "measure", "ssh-mcp", "reference", "ratio"
    );
    if selected("exec") {
        b.exec().await;
    }
    if selected("original") {
        b.original().await;
    }
    if selected("connect") {
        b.connect().await;
    }
    if selected("memory") {
        b.memory().await;
    }
    if selected("shell") {
        b.shell().await;
    }
    if selected("forward") {
        b.forward().await;
    }
    if selected("sftp") {
        b.sftp().await;
    }
    if selected("load") {
        b.load().await;
    }
    if selected("fanout") {
        fanout::rows(&mut b.report, b.quick, &b.cipher).await;
    }
    if selected("size") {
        b.sizes();
    }
    let Bench {
        srv, report, quick, ..
    } = b;
    srv.stop().await;
    if std::env::var_os("BENCH_ONLY").is_some() {
        println!("\n(BENCH_ONLY: BENCHMARKS.md left as it is)");
    } else {
        write_markdown(&report, quick);
    }
}

impl Bench {
    fn n(&self, quick: usize, full: usize) -> usize {
        if self.quick { quick } else { full }
    }

    /// `ssh` with the fixture's key and known_hosts, no user config, our cipher.
    fn ssh(&self) -> Command {
        openssh("ssh", "-p", &self.sshd, &self.kh, &self.cipher)
    }

    /// The OpenSSH ciphers to compare with: ours, and OpenSSH's default if it differs.
    fn reference_ciphers(&self) -> Vec<String> {
        let mut c = vec![self.cipher.clone()];
        if self.cipher != OPENSSH_DEFAULT_CIPHER {
            c.push(OPENSSH_DEFAULT_CIPHER.into());
        }
        c
    }

    fn target(&self) -> String {
        format!("{USER}@127.0.0.1")
    }

    /// Starts an OpenSSH ControlMaster on `socket`.
    fn start_master(&self, socket: &Path, persist_secs: u32) {
        let status = self
            .ssh()
            .args(["-o", "ControlMaster=yes", "-o"])
            .arg(format!("ControlPersist={persist_secs}"))
            .args(["-f", "-N", "-S"])
            .arg(socket)
            .arg(self.target())
            .status()
            .unwrap();
        assert!(status.success(), "ControlMaster did not start");
    }

    /// Runs `true` through the master on `socket`; returns ms.
    fn true_via_master(&self, socket: &Path) -> f64 {
        let t = Instant::now();
        let st = self
            .ssh()
            .arg("-S")
            .arg(socket)
            .arg(self.target())
            .arg("true")
            .status()
            .unwrap();
        assert!(st.success());
        ms_since(t)
    }

    fn stop_master(socket: &Path) {
        let _ = Command::new("ssh")
            .arg("-S")
            .arg(socket)
            .args(["-O", "exit", "x"])
            .stderr(Stdio::null())
            .status();
    }

    /// Connects a fresh session, times its first `true`, disconnects.
    async fn first_exec(&self) -> f64 {
        let id = self.srv.connect(&self.sshd).await;
        let t = Instant::now();
        self.srv.exec(&id, "true").await;
        let x = ms_since(t);
        self.srv
            .ok("ssh_disconnect", json!({"session_id": id}))
            .await;
        x
    }

    /// Times one connect; disconnects again.
    async fn connect_once(&self) -> f64 {
        let t = Instant::now();
        let id = self.srv.connect(&self.sshd).await;
        let x = ms_since(t);
        self.srv
            .ok("ssh_disconnect", json!({"session_id": id}))
            .await;
        x
    }

    /// ssh_execute round trip of `true` vs OpenSSH ControlMaster, steady state and first
    /// command on a new connection.
    async fn exec(&mut self) {
        let ctl = self.work.path().join("cm.sock");
        self.start_master(&ctl, 120);
        for _ in 0..5 {
            self.srv.exec(&self.s, "true").await;
        }
        let mut p = Pairs::default();
        for _ in 0..self.n(20, 300) {
            let t = Instant::now();
            let v = self.srv.exec(&self.s, "true").await;
            assert_eq!(v["exit_code"], 0);
            let ours = ms_since(t);
            p.push(ours, self.true_via_master(&ctl));
        }
        p.latency_row(
            &mut self.report,
            "ssh_execute `true`, stdio, median (p95) ms vs ssh -S ControlMaster",
        );
        Self::stop_master(&ctl);

        // The first command on a fresh connection: sshd's Nagle meets the client's delayed ACK.
        let mut p = Pairs::default();
        for i in 0..self.n(3, 15) {
            let ours = self.first_exec().await;
            let ctl = self.work.path().join(format!("first-{i}.sock"));
            self.start_master(&ctl, 30);
            p.push(ours, self.true_via_master(&ctl));
            Self::stop_master(&ctl);
        }
        p.row(
            &mut self.report,
            "first ssh_execute `true` on a new session, median ms vs first `ssh -S` on a new master",
            2,
        );
    }

    /// The original program, with and without TCP_NODELAY forced onto it.
    async fn original(&mut self) {
        let Some(orig_bin) = std::env::var_os("SSH_MCP_ORIGINAL")
            .map(PathBuf::from)
            .filter(|p| p.exists())
        else {
            self.report.notes.push(
                "the original program was not measured: set SSH_MCP_ORIGINAL to its ssh-mcp-stdio binary".into(),
            );
            return;
        };
        let shim = nodelay_shim(self.work.path());
        let mut variants: Vec<(&str, Option<PathBuf>)> = vec![("original", None)];
        match &shim {
            Some(p) => variants.push(("original + TCP_NODELAY", Some(p.clone()))),
            None => self
                .report
                .notes
                .push("the TCP_NODELAY shim could not be compiled (no cc)".into()),
        }
        for (label, preload) in variants {
            let home = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
            std::fs::write(
                home.path().join(".ssh/known_hosts"),
                self.sshd.known_hosts_line(),
            )
            .unwrap();
            let o = Original::start(&orig_bin, preload.as_deref(), home.path()).await;
            let os = o.connect(&self.sshd).await;
            let mut p = Pairs::default();
            for _ in 0..self.n(10, 100) {
                let t = Instant::now();
                self.srv.exec(&self.s, "true").await;
                let ours = ms_since(t);
                let t = Instant::now();
                o.call("ssh_execute", json!({"session_id": os, "command": "true"}))
                    .await;
                p.push(ours, ms_since(t));
            }
            p.latency_row(
                &mut self.report,
                &format!("ssh_execute `true`, median (p95) ms vs {label}"),
            );
            let mut p = Pairs::default();
            for _ in 0..self.n(3, 15) {
                let ours = self.first_exec().await;
                let oid = o.connect(&self.sshd).await;
                let t = Instant::now();
                o.call("ssh_execute", json!({"session_id": oid, "command": "true"}))
                    .await;
                let theirs = ms_since(t);
                o.call("ssh_disconnect", json!({"session_id": oid})).await;
                p.push(ours, theirs);
            }
            p.row(
                &mut self.report,
                &format!("first ssh_execute on a new session, median ms vs {label}"),
                2,
            );
            let mut p = Pairs::default();
            for _ in 0..self.n(5, 30) {
                let ours = self.connect_once().await;
                let t = Instant::now();
                let oid = o.connect(&self.sshd).await;
                let theirs = ms_since(t);
                o.call("ssh_disconnect", json!({"session_id": oid})).await;
                p.push(ours, theirs);
            }
            p.row(
                &mut self.report,
                &format!("ssh_connect (key), median ms vs {label}"),
                2,
            );
            let _ = o.client.cancel().await;
        }
    }

    /// ssh_connect vs a whole `ssh host true` without multiplexing.
    async fn connect(&mut self) {
        let mut p = Pairs::default();
        for _ in 0..self.n(5, 30) {
            let ours = self.connect_once().await;
            let t = Instant::now();
            let st = self
                .ssh()
                .args(["-o", "ControlMaster=no"])
                .arg(self.target())
                .arg("true")
                .status()
                .unwrap();
            assert!(st.success());
            p.push(ours, ms_since(t));
        }
        p.row(
            &mut self.report,
            "ssh_connect (key), median ms vs `ssh host true` (no mux)",
            2,
        );
    }

    async fn memory(&mut self) {
        // Idle RSS moves by a few hundred KiB between runs (libc's pages come from the
        // page cache): the median of five fresh servers of each kind.
        const RUNS: usize = 5;
        let mut stdio = Vec::new();
        let mut listed = Vec::new();
        let mut http = Vec::new();
        for _ in 0..RUNS {
            let fresh = Server::start_with(Transport::Stdio, quiet()).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            stdio.push(rss_kib(fresh.pid, "VmRSS:"));
            // What every client asks next.
            fresh.client.list_all_tools().await.unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
            listed.push(rss_kib(fresh.pid, "VmRSS:"));
            fresh.stop().await;
            let mut opts = quiet();
            // The HTTP server reports its URL at info level.
            opts.env = vec![("RUST_LOG".into(), "warn,ssh_mcp=info".into())];
            let fresh = Server::start_with(Transport::Http, opts).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            http.push(rss_kib(fresh.pid, "VmRSS:"));
            fresh.stop().await;
        }
        stdio.sort_unstable();
        listed.sort_unstable();
        http.sort_unstable();
        let idle_stdio = stdio.get(RUNS / 2).copied().unwrap_or_default();
        let idle_http = http.get(RUNS / 2).copied().unwrap_or_default();
        let goal = || "goal ≤ 5120".to_string();
        self.report.row(
            "idle RSS, ssh-mcp-stdio (after initialize), median of 5, KiB",
            idle_stdio.to_string(),
            goal(),
            String::new(),
        );
        self.report.row(
            "idle RSS, ssh-mcp-stdio after tools/list, median of 5, KiB",
            listed
                .get(RUNS / 2)
                .copied()
                .unwrap_or_default()
                .to_string(),
            goal(),
            String::new(),
        );
        self.report.row(
            "idle RSS, ssh-mcp (HTTP, one client), median of 5, KiB",
            idle_http.to_string(),
            goal(),
            String::new(),
        );

        let per_session = {
            let fresh = Server::start_with(Transport::Stdio, quiet()).await;
            let k = self.n(10, 50);
            fresh.connect(&self.sshd).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let before = rss_kib(fresh.pid, "VmRSS:");
            for _ in 0..k {
                fresh.connect(&self.sshd).await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            let after = rss_kib(fresh.pid, "VmRSS:");
            fresh.stop().await;
            (after.saturating_sub(before)) as f64 / k as f64
        };
        self.report.row(
            "RSS per extra idle session, KiB",
            format!("{per_session:.0}"),
            "goal ≤ 100".into(),
            String::new(),
        );

        let mib: u64 = if self.quick { 128 } else { 1024 };
        let fresh = Server::start_with(Transport::Stdio, quiet()).await;
        let fs = fresh.connect(&self.sshd).await;
        let t = Instant::now();
        let v = fresh
            .ok("ssh_execute", json!({"session_id": fs, "command": format!("head -c {} /dev/zero", mib << 20), "timeout_secs": 0}))
            .await;
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(v["stdout_bytes"], mib << 20);
        let peak = rss_kib(fresh.pid, "VmHWM:");
        fresh.stop().await;
        self.report.row(
            &format!("peak RSS while a command prints {mib} MiB, KiB"),
            peak.to_string(),
            "goal ≤ 32768".into(),
            format!("{:.0} MB/s", (mib << 20) as f64 / secs / 1e6),
        );
    }

    /// Local forward throughput vs `ssh -N -L`.
    async fn forward(&mut self) {
        let sink = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink_port = sink.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut c, _)) = sink.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 1 << 16];
                    let mut total = 0u64;
                    while let Ok(n) = c.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        total += n as u64;
                    }
                    let _ = c.write_all(&total.to_be_bytes()).await;
                });
            }
        });
        let bytes: u64 = if self.quick { 64 << 20 } else { 512 << 20 };
        let push = |port: u16| async move {
            let mut c = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            c.set_nodelay(true).unwrap();
            let chunk = vec![0x5au8; 1 << 16];
            let t = Instant::now();
            let mut sent = 0u64;
            while sent < bytes {
                c.write_all(&chunk).await.unwrap();
                sent += chunk.len() as u64;
            }
            c.shutdown().await.unwrap();
            let mut ack = [0u8; 8];
            c.read_exact(&mut ack).await.unwrap();
            assert_eq!(u64::from_be_bytes(ack), bytes);
            bytes as f64 / t.elapsed().as_secs_f64() / 1e6
        };
        let fwd = self
            .srv
            .ok("ssh_forward", json!({"session_id": self.s, "local_port": 0, "remote_address": "127.0.0.1", "remote_port": sink_port}))
            .await;
        let our_port: u16 = fwd["local_address"]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        for cipher in self.reference_ciphers() {
            let ssh_port = sshd::free_port();
            let mut tunnel = openssh("ssh", "-p", &self.sshd, &self.kh, &cipher)
                .args(["-N", "-o", "ExitOnForwardFailure=yes", "-L"])
                .arg(format!("{ssh_port}:127.0.0.1:{sink_port}"))
                .arg(self.target())
                .spawn()
                .unwrap();
            for _ in 0..100 {
                if std::net::TcpStream::connect(("127.0.0.1", ssh_port)).is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let (mut p, mut cpu) = (Pairs::default(), Pairs::default());
            let gib = bytes as f64 / f64::from(1u32 << 30);
            for _ in 0..self.n(1, 3) {
                let c = cpu_secs(self.srv.pid);
                let ours = push(our_port).await;
                let ours_cpu = (cpu_secs(self.srv.pid) - c) / gib;
                let c = cpu_secs(tunnel.id());
                let theirs = push(ssh_port).await;
                p.push(ours, theirs);
                cpu.push(ours_cpu, (cpu_secs(tunnel.id()) - c) / gib);
            }
            let _ = tunnel.kill();
            let _ = tunnel.wait();
            p.row(
                &mut self.report,
                &format!(
                    "local forward, {} MiB, MB/s vs ssh -N -L -c {cipher}",
                    bytes >> 20
                ),
                0,
            );
            cpu.row(
                &mut self.report,
                &format!("local forward, client CPU s per GiB vs ssh -N -L -c {cipher}"),
                2,
            );
        }
    }

    /// SFTP upload/download vs OpenSSH `sftp`.
    async fn sftp(&mut self) {
        let size: usize = if self.quick { 64 << 20 } else { 512 << 20 };
        let local = self.work.path().join("sftp.bin");
        let mut data = vec![0u8; size];
        for (i, b) in data.iter_mut().enumerate() {
            *b = (i.wrapping_mul(2654435761) >> 11) as u8;
        }
        std::fs::write(&local, &data).unwrap();
        drop(data);
        let remote = format!("/home/{USER}/bench-sftp.bin");
        let back = self.work.path().join("sftp.back");
        let batch = self.work.path().join("batch");
        let gib = size as f64 / f64::from(1u32 << 30);
        // (MB/s, CPU seconds per GiB) of one `sftp` batch, counting its ssh child.
        let sftp = |cmds: String, cipher: &str| {
            std::fs::write(&batch, cmds).unwrap();
            let cpu = children_cpu_secs();
            let t = Instant::now();
            let st = openssh("sftp", "-P", &self.sshd, &self.kh, cipher)
                .args(["-q", "-b"])
                .arg(&batch)
                .arg(self.target())
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(st.success(), "sftp failed");
            let mbs = size as f64 / t.elapsed().as_secs_f64() / 1e6;
            (mbs, (children_cpu_secs() - cpu) / gib)
        };
        // (tool, checksum, OpenSSH's cipher): rate and CPU pairs for each.
        let mut cases = vec![
            ("ssh_upload", true, self.cipher.clone()),
            ("ssh_download", true, self.cipher.clone()),
            ("ssh_upload", false, self.cipher.clone()),
            ("ssh_download", false, self.cipher.clone()),
        ];
        if self.cipher != OPENSSH_DEFAULT_CIPHER {
            cases.push(("ssh_upload", true, OPENSSH_DEFAULT_CIPHER.into()));
            cases.push(("ssh_download", true, OPENSSH_DEFAULT_CIPHER.into()));
        }
        let mut results: Vec<(Pairs, Pairs)> = cases.iter().map(|_| Default::default()).collect();
        for _ in 0..self.n(1, 3) {
            for ((tool, checksum, cipher), (rate, cpu)) in cases.iter().zip(results.iter_mut()) {
                let upload = *tool == "ssh_upload";
                let _ = std::fs::remove_file(&back);
                let args = if upload {
                    json!({"session_id": self.s, "remote_path": remote, "local_path": local, "overwrite": true, "checksum": checksum})
                } else {
                    json!({"session_id": self.s, "remote_path": remote, "local_path": back, "overwrite": true, "checksum": checksum})
                };
                let c = cpu_secs(self.srv.pid);
                let t = Instant::now();
                self.srv.ok(tool, args).await;
                let ours = size as f64 / t.elapsed().as_secs_f64() / 1e6;
                let ours_cpu = (cpu_secs(self.srv.pid) - c) / gib;
                let _ = std::fs::remove_file(&back);
                let (theirs, theirs_cpu) = sftp(
                    if upload {
                        format!("put {} {remote}\n", local.display())
                    } else {
                        format!("get {remote} {}\n", back.display())
                    },
                    cipher,
                );
                rate.push(ours, theirs);
                cpu.push(ours_cpu, theirs_cpu);
            }
        }
        let mib = size >> 20;
        for ((tool, checksum, cipher), (rate, cpu)) in cases.iter().zip(&results) {
            let (verb, what) = if *tool == "ssh_upload" {
                ("put", "ssh_upload")
            } else {
                ("get", "ssh_download")
            };
            let off = if *checksum { "" } else { ", checksum off" };
            rate.row(
                &mut self.report,
                &format!("{what} {mib} MiB{off}, MB/s vs sftp -c {cipher} {verb}"),
                0,
            );
            cpu.row(
                &mut self.report,
                &format!(
                    "{what}{off}, client CPU s per GiB vs sftp -c {cipher} {verb} (+ its ssh)"
                ),
                2,
            );
        }
    }

    /// Many sessions, many concurrent commands.
    async fn load(&mut self) {
        let (sessions, per) = if self.quick { (10, 5) } else { (100, 10) };
        let fresh = Server::start_with(Transport::Stdio, quiet()).await;
        let t = Instant::now();
        let ids: Vec<String> =
            futures::future::join_all((0..sessions).map(|_| fresh.connect(&self.sshd))).await;
        let connect_time = t.elapsed();
        let t = Instant::now();
        let calls = ids
            .iter()
            .flat_map(|id| (0..per).map(move |i| (id.clone(), i)));
        let results = futures::future::join_all(calls.map(|(id, i)| {
            let fresh = &fresh;
            async move {
                let r = fresh
                    .call(
                        "ssh_execute",
                        json!({"session_id": id, "command": format!("echo {i}")}),
                    )
                    .await;
                r.is_error != Some(true)
                    && r.structured_content
                        .as_ref()
                        .is_some_and(|v| v["stdout"] == format!("{i}\n"))
            }
        }))
        .await;
        let errors = results.iter().filter(|ok| !**ok).count();
        self.report.row(
            &format!("{sessions} sessions x {per} concurrent `echo`: total s (errors)"),
            format!("{:.2} ({errors})", t.elapsed().as_secs_f64()),
            format!("connect all: {:.2} s", connect_time.as_secs_f64()),
            String::new(),
        );
        fresh.stop().await;
    }

    fn sizes(&mut self) {
        const GOAL: u64 = 4 << 20;
        let mut by_crate: Vec<(String, Vec<(String, u64)>)> = Vec::new();
        for name in ["ssh-mcp-stdio", "ssh-mcp"] {
            let bin = binary(name);
            let size = std::fs::metadata(&bin).unwrap().len();
            self.report.row(
                &format!("binary size, {name} (stripped), bytes"),
                size.to_string(),
                format!("goal < {GOAL} (4 MiB)"),
                String::new(),
            );
            // Written by scripts/bench with cargo-bloat from the same build, linked with symbols.
            let crates = Path::new(&bin).with_extension("crates.json");
            if let Ok(text) = std::fs::read_to_string(&crates) {
                let v: Value = serde_json::from_str(&text).unwrap();
                let top = v["crates"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        (
                            c["name"].as_str().unwrap_or("?").to_string(),
                            c["size"].as_u64().unwrap_or(0),
                        )
                    })
                    .collect();
                by_crate.push((name.to_string(), top));
            }
        }
        if by_crate.is_empty() {
            return;
        }
        // One row per crate in any binary's top 10, largest first (in the HTTP binary).
        let mut names: Vec<String> = Vec::new();
        for (_, top) in by_crate.iter().rev() {
            for (c, _) in top {
                if !names.contains(c) {
                    names.push(c.clone());
                }
            }
        }
        let mut md = String::from(
            "\n## Code size by crate\n\nThe ten crates with the most code (`.text`, KiB) in each \
             binary, from `cargo bloat --release --crates` on the measured build linked with \
             its symbols. Generic code counts for the crate it was instantiated in.\n\n| crate |",
        );
        for (bin, _) in &by_crate {
            let _ = write!(md, " {bin} |");
        }
        md.push_str("\n|---|");
        md.push_str(&"---:|".repeat(by_crate.len()));
        md.push('\n');
        println!(
            "\ncode by crate, KiB: {}",
            by_crate
                .iter()
                .map(|(b, _)| b.as_str())
                .collect::<Vec<_>>()
                .join(" / ")
        );
        for c in &names {
            let _ = write!(md, "| {c} |");
            let mut line = format!("  {c:<24}");
            for (_, top) in &by_crate {
                let kib = top
                    .iter()
                    .find(|(n, _)| n == c)
                    .map(|(_, b)| format!("{:.1}", *b as f64 / 1024.0))
                    .unwrap_or_default();
                let _ = write!(md, " {kib} |");
                let _ = write!(line, " {kib:>8}");
            }
            md.push('\n');
            println!("{line}");
        }
        self.report.sections.push(md);
    }
}

fn cmd_out(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| {
            let mut s = String::from_utf8_lossy(&o.stdout).to_string();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            s.trim().to_string()
        })
        .unwrap_or_default()
}

fn write_markdown(report: &Report, quick: bool) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown")
        .trim()
        .to_string();
    let mut md = String::from("# Benchmarks\n\n");
    let _ = writeln!(
        md,
        "Produced by `scripts/bench` (`cargo bench --bench compare`){}. Each figure compares ssh-mcp with \
         the reference on the same machine, the same sshd and in the same run; ratios are medians of \
         per-pair ratios of interleaved runs (below 1 = ssh-mcp faster or smaller, except for throughput, \
         where above 1 = ssh-mcp faster).\n",
        if quick {
            " with BENCH_QUICK=1 (reduced sizes)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        md,
        "- date: {}",
        cmd_out("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
    );
    let _ = writeln!(md, "- machine: {} cores, {cpu}", cmd_out("nproc", &[]));
    let _ = writeln!(md, "- OpenSSH: {}", cmd_out("ssh", &["-V"]));
    let _ = writeln!(
        md,
        "- ssh-mcp {} (release profile), {}",
        env!("CARGO_PKG_VERSION"),
        cmd_out("rustc", &["-V"])
    );
    md.push_str("\n| measure | ssh-mcp | reference | ratio |\n|---|---|---|---|\n");
    for [a, b, c, d] in &report.rows {
        let _ = writeln!(md, "| {a} | {b} | {c} | {d} |");
    }
    if !report.notes.is_empty() {
        md.push_str("\nNotes:\n");
        for n in &report.notes {
            let _ = writeln!(md, "- {n}");
        }
    }
    for section in &report.sections {
        md.push_str(section);
    }
    // The analysis behind the figures that need more than a ratio.
    md.push_str(include_str!("analysis.md"));
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    std::fs::write(&path, md).unwrap();
    println!("\nwrote {}", path.display());
}
