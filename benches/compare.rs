//! Benchmarks against OpenSSH on the same machine, in the same run, reported as ratios.
//!
//! `cargo bench --bench compare` (or `scripts/bench`) starts its own sshd (the test
//! fixture), drives the release binaries through a real MCP client, and writes
//! BENCHMARKS.md. Set `SSH_MCP_ORIGINAL=/path/to/ssh-mcp-stdio` to include the original
//! program (crates.io `ssh-mcp` 0.1.3), with and without TCP_NODELAY forced onto it.
//! `BENCH_QUICK=1` shrinks every measurement for a smoke run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

#[path = "../tests/it/harness.rs"]
mod harness;
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

use harness::{Opts, Server, Transport};
use sshd::{Sshd, USER};

struct Report {
    rows: Vec<[String; 4]>,
    notes: Vec<String>,
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

/// `ssh` with the fixture's key and known_hosts, no user config.
fn ssh_base(sshd: &Sshd, kh: &Path) -> Command {
    openssh("ssh", "-p", sshd, kh)
}

/// An OpenSSH client program (`ssh`, `sftp`) set up for the fixture: its key, its
/// known_hosts, no user config, chacha20-poly1305. `port_flag` is `-p` or `-P`.
fn openssh(program: &str, port_flag: &str, sshd: &Sshd, kh: &Path) -> Command {
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
    .args([
        port_flag,
        &sshd.port.to_string(),
        "-c",
        "chacha20-poly1305@openssh.com",
    ]);
    c
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = s.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let q = quick();
    let mut report = Report {
        rows: Vec::new(),
        notes: Vec::new(),
    };
    let work = tempfile::tempdir().unwrap();
    let sshd = Sshd::start();
    let kh = work.path().join("known_hosts");
    std::fs::write(&kh, sshd.known_hosts_line()).unwrap();
    let quiet = || Opts {
        env: vec![("RUST_LOG".into(), "warn".into())],
        args: ["--max-sessions", "1000", "--max-command-timeout", "0"]
            .map(String::from)
            .to_vec(),
        token: None,
    };
    println!(
        "{:<58} {:>16} {:>22} {:>10}",
        "measure", "ssh-mcp", "reference", "ratio"
    );

    // --- ssh_execute round trip of `true` vs OpenSSH ControlMaster --------------------
    let srv = Server::start_with(Transport::Stdio, quiet()).await;
    let s = srv.connect(&sshd).await;
    let ctl = work.path().join("cm.sock");
    let status = ssh_base(&sshd, &kh)
        .args([
            "-o",
            "ControlMaster=yes",
            "-o",
            "ControlPersist=120",
            "-f",
            "-N",
            "-S",
        ])
        .arg(&ctl)
        .arg(format!("{USER}@127.0.0.1"))
        .status()
        .unwrap();
    assert!(status.success(), "ControlMaster did not start");
    let n = if q { 20 } else { 300 };
    let (mut ours, mut cm, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        srv.exec(&s, "true").await;
    }
    for _ in 0..n {
        let t = Instant::now();
        let v = srv.exec(&s, "true").await;
        assert_eq!(v["exit_code"], 0);
        let a = ms(t.elapsed());
        let t = Instant::now();
        let st = ssh_base(&sshd, &kh)
            .arg("-S")
            .arg(&ctl)
            .arg(format!("{USER}@127.0.0.1"))
            .arg("true")
            .status()
            .unwrap();
        assert!(st.success());
        let b = ms(t.elapsed());
        ours.push(a);
        cm.push(b);
        ratios.push(a / b);
    }
    report.row(
        "ssh_execute `true`, stdio, median (p95) ms vs ssh -S ControlMaster",
        format!("{:.2} ({:.2})", median(&ours), percentile(&ours, 0.95)),
        format!("{:.2} ({:.2})", median(&cm), percentile(&cm, 0.95)),
        format!("{:.3}x", median(&ratios)),
    );
    let _ = Command::new("ssh")
        .args(["-S"])
        .arg(&ctl)
        .args(["-O", "exit", "x"])
        .stderr(Stdio::null())
        .status();

    // The first command on a fresh connection: sshd's Nagle meets the client's delayed ACK.
    let (mut a, mut b, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..(if q { 3 } else { 15 }) {
        let id = srv.connect(&sshd).await;
        let t = Instant::now();
        srv.exec(&id, "true").await;
        let x = ms(t.elapsed());
        srv.ok("ssh_disconnect", json!({"session_id": id})).await;
        let ctl = work.path().join(format!("first-{i}.sock"));
        let st = ssh_base(&sshd, &kh)
            .args([
                "-o",
                "ControlMaster=yes",
                "-o",
                "ControlPersist=30",
                "-f",
                "-N",
                "-S",
            ])
            .arg(&ctl)
            .arg(format!("{USER}@127.0.0.1"))
            .status()
            .unwrap();
        assert!(st.success());
        let t = Instant::now();
        ssh_base(&sshd, &kh)
            .arg("-S")
            .arg(&ctl)
            .arg(format!("{USER}@127.0.0.1"))
            .arg("true")
            .status()
            .unwrap();
        let y = ms(t.elapsed());
        let _ = Command::new("ssh")
            .arg("-S")
            .arg(&ctl)
            .args(["-O", "exit", "x"])
            .stderr(Stdio::null())
            .status();
        a.push(x);
        b.push(y);
        r.push(x / y);
    }
    report.row(
        "first ssh_execute `true` on a new session, median ms vs first `ssh -S` on a new master",
        format!("{:.2}", median(&a)),
        format!("{:.2}", median(&b)),
        format!("{:.3}x", median(&r)),
    );

    // --- the original program -------------------------------------------------------------
    let original = std::env::var_os("SSH_MCP_ORIGINAL")
        .map(PathBuf::from)
        .filter(|p| p.exists());
    if let Some(orig_bin) = &original {
        let shim = nodelay_shim(work.path());
        let mut variants: Vec<(&str, Option<PathBuf>)> = vec![("original", None)];
        match &shim {
            Some(p) => variants.push(("original + TCP_NODELAY", Some(p.clone()))),
            None => report
                .notes
                .push("the TCP_NODELAY shim could not be compiled (no cc)".into()),
        }
        for (label, preload) in variants {
            let home = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
            std::fs::write(
                home.path().join(".ssh/known_hosts"),
                sshd.known_hosts_line(),
            )
            .unwrap();
            let o = Original::start(orig_bin, preload.as_deref(), home.path()).await;
            let os = o.connect(&sshd).await;
            let m = if q { 10 } else { 100 };
            let (mut a, mut b, mut r) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..m {
                let t = Instant::now();
                srv.exec(&s, "true").await;
                let x = ms(t.elapsed());
                let t = Instant::now();
                o.call("ssh_execute", json!({"session_id": os, "command": "true"}))
                    .await;
                let y = ms(t.elapsed());
                a.push(x);
                b.push(y);
                r.push(x / y);
            }
            report.row(
                &format!("ssh_execute `true`, median (p95) ms vs {label}"),
                format!("{:.2} ({:.2})", median(&a), percentile(&a, 0.95)),
                format!("{:.2} ({:.2})", median(&b), percentile(&b, 0.95)),
                format!("{:.3}x", median(&r)),
            );
            // first command on a fresh session
            let (mut a, mut b, mut r) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..(if q { 3 } else { 15 }) {
                let id = srv.connect(&sshd).await;
                let t = Instant::now();
                srv.exec(&id, "true").await;
                let x = ms(t.elapsed());
                srv.ok("ssh_disconnect", json!({"session_id": id})).await;
                let oid = o.connect(&sshd).await;
                let t = Instant::now();
                o.call("ssh_execute", json!({"session_id": oid, "command": "true"}))
                    .await;
                let y = ms(t.elapsed());
                o.call("ssh_disconnect", json!({"session_id": oid})).await;
                a.push(x);
                b.push(y);
                r.push(x / y);
            }
            report.row(
                &format!("first ssh_execute on a new session, median ms vs {label}"),
                format!("{:.2}", median(&a)),
                format!("{:.2}", median(&b)),
                format!("{:.3}x", median(&r)),
            );
            // connect latency
            let (mut a, mut b, mut r) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..(if q { 5 } else { 30 }) {
                let t = Instant::now();
                let id = srv.connect(&sshd).await;
                let x = ms(t.elapsed());
                srv.ok("ssh_disconnect", json!({"session_id": id})).await;
                let t = Instant::now();
                let oid = o.connect(&sshd).await;
                let y = ms(t.elapsed());
                o.call("ssh_disconnect", json!({"session_id": oid})).await;
                a.push(x);
                b.push(y);
                r.push(x / y);
            }
            report.row(
                &format!("ssh_connect (key), median ms vs {label}"),
                format!("{:.2}", median(&a)),
                format!("{:.2}", median(&b)),
                format!("{:.3}x", median(&r)),
            );
            let _ = o.client.cancel().await;
        }
    } else {
        report.notes.push(
            "the original program was not measured: set SSH_MCP_ORIGINAL to its ssh-mcp-stdio binary".into(),
        );
    }

    if std::env::var_os("BENCH_LATENCY_ONLY").is_some() {
        srv.stop().await;
        return;
    }

    // --- connect latency vs ssh ------------------------------------------------------------
    let (mut a, mut b, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..(if q { 5 } else { 30 }) {
        let t = Instant::now();
        let id = srv.connect(&sshd).await;
        let x = ms(t.elapsed());
        srv.ok("ssh_disconnect", json!({"session_id": id})).await;
        let t = Instant::now();
        let st = ssh_base(&sshd, &kh)
            .args(["-o", "ControlMaster=no"])
            .arg(format!("{USER}@127.0.0.1"))
            .arg("true")
            .status()
            .unwrap();
        assert!(st.success());
        let y = ms(t.elapsed());
        a.push(x);
        b.push(y);
        r.push(x / y);
    }
    report.row(
        "ssh_connect (key), median ms vs `ssh host true` (no mux)",
        format!("{:.2}", median(&a)),
        format!("{:.2}", median(&b)),
        format!("{:.3}x", median(&r)),
    );

    // --- memory ------------------------------------------------------------------------------
    let idle_stdio = {
        let fresh = Server::start_with(Transport::Stdio, quiet()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let kib = rss_kib(fresh.pid, "VmRSS:");
        fresh.stop().await;
        kib
    };
    let idle_http = {
        let mut opts = quiet();
        // The HTTP server reports its URL at info level.
        opts.env = vec![("RUST_LOG".into(), "warn,ssh_mcp=info".into())];
        let fresh = Server::start_with(Transport::Http, opts).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let kib = rss_kib(fresh.pid, "VmRSS:");
        fresh.stop().await;
        kib
    };
    report.row(
        "idle RSS, ssh-mcp-stdio (after initialize), KiB",
        idle_stdio.to_string(),
        "goal ≤ 4096".into(),
        String::new(),
    );
    report.row(
        "idle RSS, ssh-mcp (HTTP, one client), KiB",
        idle_http.to_string(),
        "goal ≤ 4096".into(),
        String::new(),
    );

    let per_session = {
        let fresh = Server::start_with(Transport::Stdio, quiet()).await;
        let k = if q { 10 } else { 50 };
        fresh.connect(&sshd).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = rss_kib(fresh.pid, "VmRSS:");
        for _ in 0..k {
            fresh.connect(&sshd).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let after = rss_kib(fresh.pid, "VmRSS:");
        fresh.stop().await;
        (after.saturating_sub(before)) as f64 / k as f64
    };
    report.row(
        "RSS per extra idle session, KiB",
        format!("{per_session:.0}"),
        "goal ≤ 100".into(),
        String::new(),
    );

    let (peak, gib_secs) = {
        let fresh = Server::start_with(Transport::Stdio, quiet()).await;
        let fs = fresh.connect(&sshd).await;
        let size: u64 = if q { 128 << 20 } else { 1 << 30 };
        let t = Instant::now();
        let v = fresh
            .ok("ssh_execute", json!({"session_id": fs, "command": format!("head -c {size} /dev/zero"), "timeout_secs": 0}))
            .await;
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(v["stdout_bytes"], size);
        let kib = rss_kib(fresh.pid, "VmHWM:");
        fresh.stop().await;
        (kib, size as f64 / secs / 1e6)
    };
    report.row(
        &format!(
            "peak RSS while a command prints {} MiB, KiB",
            if q { 128 } else { 1024 }
        ),
        peak.to_string(),
        "goal ≤ 32768".into(),
        format!("{gib_secs:.0} MB/s"),
    );

    // --- local forward throughput vs ssh -N -L ----------------------------------------------
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
    let bytes: u64 = if q { 64 << 20 } else { 512 << 20 };
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
    let fwd = srv
        .ok("ssh_forward", json!({"session_id": s, "local_port": 0, "remote_address": "127.0.0.1", "remote_port": sink_port}))
        .await;
    let our_port: u16 = fwd["local_address"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let ssh_port = sshd::free_port();
    let mut tunnel = ssh_base(&sshd, &kh)
        .args(["-N", "-o", "ExitOnForwardFailure=yes", "-L"])
        .arg(format!("{ssh_port}:127.0.0.1:{sink_port}"))
        .arg(format!("{USER}@127.0.0.1"))
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", ssh_port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (mut a, mut b, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..(if q { 1 } else { 3 }) {
        let x = push(our_port).await;
        let y = push(ssh_port).await;
        a.push(x);
        b.push(y);
        r.push(x / y);
    }
    let _ = tunnel.kill();
    let _ = tunnel.wait();
    report.row(
        &format!(
            "local forward, {} MiB, MB/s vs ssh -N -L (chacha20-poly1305)",
            bytes >> 20
        ),
        format!("{:.0}", median(&a)),
        format!("{:.0}", median(&b)),
        format!("{:.3}x", median(&r)),
    );

    // --- SFTP upload/download vs OpenSSH sftp ---------------------------------------------------
    {
        let size: usize = if q { 64 << 20 } else { 512 << 20 };
        let local = work.path().join("sftp.bin");
        let mut data = vec![0u8; size];
        for (i, b) in data.iter_mut().enumerate() {
            *b = (i.wrapping_mul(2654435761) >> 11) as u8;
        }
        std::fs::write(&local, &data).unwrap();
        drop(data);
        let remote = format!("/home/{USER}/bench-sftp.bin");
        let back = work.path().join("sftp.back");
        let batch = work.path().join("batch");
        let sftp = |cmds: String| {
            std::fs::write(&batch, cmds).unwrap();
            let t = Instant::now();
            let st = openssh("sftp", "-P", &sshd, &kh)
                .args(["-q", "-b"])
                .arg(&batch)
                .arg(format!("{USER}@127.0.0.1"))
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(st.success(), "sftp failed");
            t.elapsed().as_secs_f64()
        };
        let (mut up, mut down, mut ru, mut rd) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut sup, mut sdown) = (Vec::new(), Vec::new());
        for _ in 0..(if q { 1 } else { 2 }) {
            let t = Instant::now();
            srv.ok("ssh_upload", json!({"session_id": s, "remote_path": remote, "local_path": local, "overwrite": true})).await;
            let ours_up = size as f64 / t.elapsed().as_secs_f64() / 1e6;
            let theirs_up = size as f64 / sftp(format!("put {} {remote}\n", local.display())) / 1e6;
            let _ = std::fs::remove_file(&back);
            let t = Instant::now();
            srv.ok("ssh_download", json!({"session_id": s, "remote_path": remote, "local_path": back, "overwrite": true})).await;
            let ours_down = size as f64 / t.elapsed().as_secs_f64() / 1e6;
            let _ = std::fs::remove_file(&back);
            let theirs_down =
                size as f64 / sftp(format!("get {remote} {}\n", back.display())) / 1e6;
            up.push(ours_up);
            sup.push(theirs_up);
            ru.push(ours_up / theirs_up);
            down.push(ours_down);
            sdown.push(theirs_down);
            rd.push(ours_down / theirs_down);
        }
        report.row(
            &format!("ssh_upload {} MiB, MB/s vs sftp put", size >> 20),
            format!("{:.0}", median(&up)),
            format!("{:.0}", median(&sup)),
            format!("{:.3}x", median(&ru)),
        );
        report.row(
            &format!("ssh_download {} MiB, MB/s vs sftp get", size >> 20),
            format!("{:.0}", median(&down)),
            format!("{:.0}", median(&sdown)),
            format!("{:.3}x", median(&rd)),
        );
    }

    // --- 100 sessions x 10 concurrent commands --------------------------------------------------
    let (sessions, per) = if q { (10, 5) } else { (100, 10) };
    let fresh = Server::start_with(Transport::Stdio, quiet()).await;
    let t = Instant::now();
    let ids: Vec<String> =
        futures::future::join_all((0..sessions).map(|_| fresh.connect(&sshd))).await;
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
    report.row(
        &format!("{sessions} sessions x {per} concurrent `echo`: total s (errors)"),
        format!("{:.2} ({errors})", t.elapsed().as_secs_f64()),
        format!("connect all: {:.2} s", connect_time.as_secs_f64()),
        String::new(),
    );
    fresh.stop().await;

    // --- binary sizes ---------------------------------------------------------------------------------
    for bin in [
        env!("CARGO_BIN_EXE_ssh-mcp"),
        env!("CARGO_BIN_EXE_ssh-mcp-stdio"),
    ] {
        let size = std::fs::metadata(bin).unwrap().len();
        let name = Path::new(bin)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        report.row(
            &format!("binary size, {name} (stripped), bytes"),
            size.to_string(),
            "goal ≤ 3.5 MB".into(),
            String::new(),
        );
    }
    srv.stop().await;
    write_markdown(&report, q);
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
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    std::fs::write(&path, md).unwrap();
    println!("\nwrote {}", path.display());
}
