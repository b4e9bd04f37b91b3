//! The official MCP tooling against the built binaries: the conformance suite over HTTP at both
//! protocol eras, the Python SDK's client over stdio and HTTP, the Inspector CLI over stdio.
//!
//! `scripts/interop-setup` installs the tools (pinned in `tests/interop/`) and prints their
//! directory; `scripts/test` passes it in `SSH_MCP_INTEROP_DIR`. Without that variable these
//! tests are skipped with a notice on stderr, except where `CI` is set: there they fail.
//! `SSH_MCP_INTEROP=skip` skips them on purpose (`scripts/test` does, for its second run).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{HttpServer, Opts};
use crate::sshd::{self, Sshd};

/// Conformance scenarios that apply to a server without the suite's fixture tools, prompts and
/// resources, at the 2025-11-25 wire (`initialize`, HTTP sessions).
const LEGACY_SCENARIOS: &[&str] = &[
    "server-initialize",
    "ping",
    "tools-list",
    "server-session-lifecycle",
    "server-sse-multiple-streams",
    "server-sse-polling",
    "dns-rebinding-protection",
];

/// The same at the 2026-07-28 wire (stateless).
const MODERN_SCENARIOS: &[&str] = &[
    "server-stateless",
    "tools-list",
    "caching",
    "http-header-validation",
    "server-sse-multiple-streams",
    "input-required-result-unsupported-methods",
    "dns-rebinding-protection",
];

/// Upper bound for one run of an external tool.
const TOOL_LIMIT: Duration = Duration::from_secs(120);

#[tokio::test]
async fn conformance_suite_should_pass_at_the_2025_11_25_wire() {
    conformance("2025-11-25", LEGACY_SCENARIOS).await;
}

#[tokio::test]
async fn conformance_suite_should_pass_at_the_2026_07_28_wire() {
    conformance("2026-07-28", MODERN_SCENARIOS).await;
}

#[tokio::test]
async fn python_sdk_client_should_work_over_stdio_at_2026_07_28() {
    python_client(false, "auto").await;
}

#[tokio::test]
async fn python_sdk_client_should_work_over_stdio_at_2025_11_25() {
    python_client(false, "legacy").await;
}

#[tokio::test]
async fn python_sdk_client_should_work_over_http_at_2026_07_28() {
    python_client(true, "auto").await;
}

#[tokio::test]
async fn python_sdk_client_should_work_over_http_at_2025_11_25() {
    python_client(true, "legacy").await;
}

#[tokio::test]
async fn inspector_cli_should_list_and_call_tools_over_stdio() {
    let Some(tools) = Tools::get("inspector_cli") else {
        return;
    };
    let sshd = Sshd::start();
    // The Inspector keeps its catalog under $HOME and hands $HOME on to the server, whose
    // known_hosts then lands here too.
    let home = tempfile::tempdir().unwrap();
    let inspector = |args: &[&str]| {
        let mut cmd = tools.node(tools.inspector());
        cmd.arg("--cli")
            .arg(env!("CARGO_BIN_EXE_ssh-mcp-stdio"))
            .args(args)
            .args(["--format", "json", "-q"])
            .env("HOME", home.path());
        cmd
    };

    // --strict: any tool schema the Inspector judges unportable at error severity is exit 6.
    let (status, out, err) = run(inspector(&["--method", "tools/list", "--strict"])).await;
    assert!(status.success(), "tools/list: {status}\n{out}\n{err}");
    let list: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools: {out}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for want in ["ssh_connect", "ssh_execute", "ssh_job", "ssh_disconnect"] {
        assert!(names.contains(&want), "{want} missing: {names:?}");
    }
    assert_eq!(
        names.contains(&"ssh_forward"),
        cfg!(feature = "port_forward"),
        "{names:?}"
    );

    let key = format!("key_path={}", sshd::user().key.display());
    let address = format!("address={}", sshd.address());
    let username = format!("username={}", sshd::USER);
    let (status, out, err) = run(inspector(&[
        "--method",
        "tools/call",
        "--tool-name",
        "ssh_connect",
        "--tool-arg",
        &address,
        &username,
        &key,
    ]))
    .await;
    assert!(status.success(), "ssh_connect: {status}\n{out}\n{err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let result = &v["result"];
    assert_eq!(result["isError"], false, "{out}");
    assert_eq!(result["structuredContent"]["authenticated"], true, "{out}");
    assert_eq!(
        result["structuredContent"]["host_key_status"], "learned",
        "{out}"
    );
    assert!(
        result["structuredContent"]["session_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{out}"
    );

    // A tool error is a result with isError, which the Inspector reports with exit status 5.
    let (status, out, err) = run(inspector(&[
        "--method",
        "tools/call",
        "--tool-name",
        "ssh_execute",
        "--tool-arg",
        "session_id=no-such-session",
        "command=uptime",
    ]))
    .await;
    assert_eq!(
        status.code(),
        Some(5),
        "ssh_execute: {status}\n{out}\n{err}"
    );
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["result"]["isError"], true, "{out}");
}

/// Runs the conformance scenarios of one era against a fresh `ssh-mcp`, each with that era's
/// baseline of expected failures (`tests/interop/conformance-ERA.yml`).
async fn conformance(era: &str, scenarios: &[&str]) {
    let Some(tools) = Tools::get(&format!("conformance {era}")) else {
        return;
    };
    let srv = HttpServer::start(Opts::default()).await;
    let baseline = spec_dir().join(format!("conformance-{era}.yml"));
    let mut failures = Vec::new();
    for scenario in scenarios {
        let mut cmd = tools.node(tools.conformance());
        cmd.args(["server", "--url", &srv.url, "--scenario", scenario])
            .args(["--spec-version", era, "--timeout", "30000"])
            .arg("--expected-failures")
            .arg(&baseline);
        let (status, out, err) = run(cmd).await;
        // The suite exits 0 for a scenario that does not apply at this era, having checked
        // nothing: a scenario must have passed checks to count.
        if !status.success() || passed_checks(&out) == 0 {
            failures.push(format!("---- {scenario}: {status}\n{out}\n{err}"));
        }
    }
    assert!(
        failures.is_empty(),
        "conformance at {era}: {} of {} scenarios failed\n{}",
        failures.len(),
        scenarios.len(),
        failures.join("\n")
    );
}

/// `N` of the suite's `Passed: N/M` line, 0 without one.
fn passed_checks(out: &str) -> u32 {
    out.lines()
        .find_map(|l| l.trim().strip_prefix("Passed: "))
        .and_then(|rest| rest.split('/').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Runs `tests/interop/client.py` (the Python SDK's `Client`) against the stdio binary it
/// starts itself, or against an `ssh-mcp` started here; `mode` is `auto` (2026-07-28) or
/// `legacy` (2025-11-25).
async fn python_client(http: bool, mode: &str) {
    let transport = if http { "http" } else { "stdio" };
    let Some(tools) = Tools::get(&format!("python_sdk_client {transport} {mode}")) else {
        return;
    };
    let sshd = Sshd::start();
    let server = if http {
        Some(HttpServer::start(Opts::default()).await)
    } else {
        None
    };
    // The stdio server inherits $HOME from the client, and keeps its known_hosts there.
    let home = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(tools.python());
    cmd.arg(spec_dir().join("client.py"));
    match &server {
        Some(s) => cmd.args(["--http", &s.url]),
        None => cmd.args(["--stdio", env!("CARGO_BIN_EXE_ssh-mcp-stdio")]),
    };
    cmd.args(["--mode", mode, "--address", &sshd.address()])
        .args(["--user", sshd::USER, "--key"])
        .arg(&sshd::user().key)
        .env("HOME", home.path())
        .env("USER", sshd::USER)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("SSH_AUTH_SOCK");
    let (status, out, err) = run(cmd).await;
    assert!(
        status.success() && out.contains("all checks passed"),
        "Python SDK client ({transport}, {mode}): {status}\n--- stdout ---\n{out}\n--- stderr ---\n{err}"
    );
    // The client saw the cancelled command go with pgrep; the process table agrees.
    let sleeping: Vec<String> = sshd
        .descendants()
        .iter()
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.starts_with("sleep 60."))
        .collect();
    assert!(sleeping.is_empty(), "left running: {sleeping:?}");
}

/// `tests/interop`: the Python client and the conformance baselines.
pub(crate) fn spec_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// The tools `scripts/interop-setup` installed.
pub(crate) struct Tools {
    dir: PathBuf,
}

impl Tools {
    /// The tools, or `None` when this run goes without them (see the module docs).
    pub(crate) fn get(test: &str) -> Option<Tools> {
        if std::env::var("SSH_MCP_INTEROP").as_deref() == Ok("skip") {
            return None;
        }
        let Some(dir) = std::env::var_os("SSH_MCP_INTEROP_DIR").filter(|d| !d.is_empty()) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "SSH_MCP_INTEROP_DIR is not set: run ./scripts/test, or set it to the directory \
                 scripts/interop-setup prints"
            );
            // Written to stderr itself: the test harness captures `eprintln!` and shows it only
            // for failing tests.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: SSH_MCP_INTEROP_DIR is not set (run ./scripts/test, or \
                 `export SSH_MCP_INTEROP_DIR=$(scripts/interop-setup)`)"
            );
            return None;
        };
        let tools = Tools {
            dir: PathBuf::from(dir),
        };
        for path in [
            tools.node_bin().join("node"),
            tools.conformance(),
            tools.inspector(),
            tools.python(),
        ] {
            assert!(
                path.exists(),
                "{} is missing: run scripts/interop-setup with SSH_MCP_INTEROP_DIR={}",
                path.display(),
                tools.dir.display()
            );
        }
        Some(tools)
    }

    fn node_bin(&self) -> PathBuf {
        self.dir.join("node/node_modules/.bin")
    }

    fn conformance(&self) -> PathBuf {
        self.node_bin().join("conformance")
    }

    fn inspector(&self) -> PathBuf {
        self.node_bin().join("mcp-inspector")
    }

    pub(crate) fn python(&self) -> PathBuf {
        self.dir.join("venv/bin/python")
    }

    /// `script` run by the installed Node.js 22, which is also first on `PATH` for whatever
    /// the script starts.
    fn node(&self, script: PathBuf) -> tokio::process::Command {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![self.node_bin()];
        paths.extend(std::env::split_paths(&path));
        let mut cmd = tokio::process::Command::new(self.node_bin().join("node"));
        cmd.arg(script)
            .env("PATH", std::env::join_paths(paths).unwrap())
            .env("NO_COLOR", "1");
        cmd
    }
}

/// Runs `cmd` in its own process group for at most [`TOOL_LIMIT`]; returns its exit status,
/// stdout and stderr. On time-out the whole group is killed and the test fails with the output.
pub(crate) async fn run(mut cmd: tokio::process::Command) -> (ExitStatus, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    match tokio::time::timeout(TOOL_LIMIT, child.wait()).await {
        Ok(status) => (status.unwrap(), read(&out), read(&err)),
        Err(_) => {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", "--", &format!("-{pid}")])
                    .status();
            }
            panic!(
                "{cmd:?} did not finish within {TOOL_LIMIT:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                read(&out),
                read(&err)
            );
        }
    }
}
