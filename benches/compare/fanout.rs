//! Fan-out rows: `ssh_fanout` against parallel-ssh (Debian's `pssh`) on the same hosts,
//! key, key exchange, cipher and parallelism, and the server's peak memory over 256 hosts.
//!
//! The hosts are loopback addresses of a few sshds (see `tests/it/fleet.rs`) whose config
//! pins the key exchange (curve25519-sha256) and the cipher, so both clients do the same
//! handshake work.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::json;

use super::fleet::Fleet;
use super::harness::{Opts, Server, Transport};
use super::sshd::{self, USER};
use super::{Report, cpu_secs, machine_cpu_secs, median, ms_since, quiet, rss_kib};

/// Hosts of the timing rows, and the parallelism of both clients.
const HOSTS: usize = 40;
/// Hosts of the memory row.
const MANY: usize = 256;
const COMMAND: &str = "uname -r; uptime";

/// The rows; skipped with a note when parallel-ssh is missing.
pub(super) async fn rows(report: &mut Report, quick: bool, cipher: &str) {
    if Command::new("parallel-ssh")
        .arg("--version")
        .output()
        .is_err()
    {
        report.notes.push(
            "fan-out rows skipped: parallel-ssh is not installed (apt-get install pssh)".into(),
        );
        return;
    }
    let pin = vec![
        "KexAlgorithms curve25519-sha256".to_string(),
        format!("Ciphers {cipher}"),
    ];
    let runs = if quick { 2 } else { 5 };
    let work = tempfile::tempdir().unwrap();
    {
        let fleet = Fleet::start_with(HOSTS, &pin);
        let (kh, cfg, hosts) = files(work.path(), &fleet);
        let mut cold = Vec::new();
        let mut warm = Vec::new();
        let mut pssh = Vec::new();
        // CPU seconds of the warm runs: the server's, and the whole machine's.
        let (mut ours, mut all) = (0.0, 0.0);
        for _ in 0..runs {
            let srv = server(&cfg, &kh).await;
            cold.push(fanout(&srv, HOSTS).await);
            let (o, a) = (cpu_secs(srv.pid), machine_cpu_secs());
            warm.push(fanout(&srv, HOSTS).await);
            ours += cpu_secs(srv.pid) - o;
            all += machine_cpu_secs() - a;
            srv.stop().await;
            pssh.push(parallel_ssh(&hosts, &kh));
        }
        let (c, w, p) = (median(&cold), median(&warm), median(&pssh));
        report.row(
            &format!("ssh_fanout, {HOSTS} hosts `{COMMAND}`, first run (every connection new), median ms vs parallel-ssh -p {HOSTS} -i"),
            format!("{c:.0}"),
            format!("{p:.0}"),
            format!("{:.2} (goal ≤ 0.6)", c / p),
        );
        report.row(
            &format!(
                "ssh_fanout, {HOSTS} hosts, second run (sessions kept), median ms vs parallel-ssh"
            ),
            format!("{w:.0}"),
            format!("{p:.0}"),
            format!("{:.2} (goal ≤ 0.1)", w / p),
        );
        let n = runs as f64;
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get()) as f64;
        report.row(
            "second run, CPU ms per run: the server, and everything else on the machine (the sshds, the commands, the client) spread over its processors",
            format!("{:.0}", ours * 1000.0 / n),
            format!("{:.0} over {cores} = {:.0}", (all - ours) * 1000.0 / n, (all - ours) * 1000.0 / n / cores),
            String::new(),
        );
    }
    let fleet = Fleet::start_with(MANY, &pin);
    let (kh, cfg, _) = files(work.path(), &fleet);
    let srv = server(&cfg, &kh).await;
    let took = fanout(&srv, MANY).await;
    let peak = rss_kib(srv.pid, "VmHWM:");
    srv.stop().await;
    report.row(
        &format!("server peak RSS during a {MANY}-host ssh_fanout (concurrency 64), KiB"),
        peak.to_string(),
        "goal ≤ 65536".into(),
        format!("{took:.0} ms"),
    );
    report.notes.push(format!(
        "fan-out rows: {HOSTS} (and {MANY}) hosts are loopback addresses of sshds pinned to \
         curve25519-sha256 and {cipher}; parallel-ssh {} runs OpenSSH's ssh with the same key and \
         known_hosts; every ssh_fanout first run is a fresh server.",
        super::cmd_out("parallel-ssh", &["--version"])
    ));
}

/// known_hosts, the server's config and pssh's hosts file for a fleet.
fn files(dir: &Path, fleet: &Fleet) -> (String, String, String) {
    let kh = dir.join(format!("known_hosts_{}", fleet.hosts.len()));
    let mut lines = String::new();
    for (_, addr) in &fleet.hosts {
        let (host, port) = addr.rsplit_once(':').unwrap();
        let sshd = fleet
            .sshds
            .iter()
            .find(|s| s.port.to_string() == port)
            .unwrap();
        lines.push_str(&format!("[{host}]:{port} {}\n", sshd.host_key));
    }
    std::fs::write(&kh, lines).unwrap();
    let cfg = dir.join(format!("fleet_{}.toml", fleet.hosts.len()));
    std::fs::write(&cfg, fleet.config()).unwrap();
    let hosts = dir.join(format!("hosts_{}", fleet.hosts.len()));
    let list: String = fleet.hosts.iter().map(|(_, a)| format!("{a}\n")).collect();
    std::fs::write(&hosts, list).unwrap();
    let s = |p: std::path::PathBuf| p.display().to_string();
    (s(kh), s(cfg), s(hosts))
}

async fn server(cfg: &str, kh: &str) -> Server {
    let mut opts: Opts = quiet();
    opts.args.extend(
        [
            "--config",
            cfg,
            "--known-hosts",
            kh,
            "--host-key-policy",
            "strict",
            "--max-fanout",
            "1000",
        ]
        .map(String::from),
    );
    Server::start_with(Transport::Stdio, opts).await
}

/// One `ssh_fanout` over every named host; milliseconds.
async fn fanout(srv: &Server, hosts: usize) -> f64 {
    let t = Instant::now();
    let v = srv
        .ok(
            "ssh_fanout",
            json!({"targets": ["h*"], "command": COMMAND,
                   "concurrency": hosts.min(64)}),
        )
        .await;
    let took = ms_since(t);
    assert_eq!(v["summary"]["ok"], hosts, "{v}");
    took
}

/// One parallel-ssh run over the hosts file; milliseconds.
fn parallel_ssh(hosts: &str, kh: &str) -> f64 {
    let key = sshd::user().key.display().to_string();
    let t = Instant::now();
    let status = Command::new("parallel-ssh")
        .args(["-h", hosts, "-p", &HOSTS.to_string(), "-i", "-l", USER, "-x"])
        .arg(format!(
            "-F /dev/null -i {key} -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={kh}"
        ))
        .arg(COMMAND)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let took = ms_since(t);
    assert!(status.success(), "parallel-ssh failed");
    took
}
