//! A real MCP client (rmcp) driving the built binaries over their real transports.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ProgressNotificationParam, ProtocolVersion,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::sshd::{self, Sshd};

/// Upper bound for any single tool call in the tests.
pub const CALL_LIMIT: Duration = Duration::from_secs(90);

/// The server binary `name`: the one cargo built for these tests, or the one in
/// `SSH_MCP_BIN_DIR` (scripts/bench measures the binaries `cargo build --release` ships,
/// whose dependencies are built without the tests' extra features).
pub fn binary(name: &str) -> String {
    match std::env::var_os("SSH_MCP_BIN_DIR") {
        Some(dir) => std::path::Path::new(&dir).join(name).display().to_string(),
        None if name == "ssh-mcp" => env!("CARGO_BIN_EXE_ssh-mcp").to_string(),
        None => env!("CARGO_BIN_EXE_ssh-mcp-stdio").to_string(),
    }
}

/// Which transport and protocol era to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Stdio,
    /// Streamable HTTP, 2025-11-25 with `initialize`.
    Http,
    /// Streamable HTTP, 2026-07-28 stateless.
    HttpModern,
}

/// How to start the server.
#[derive(Debug, Default)]
pub struct Opts {
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Extra command-line flags.
    pub args: Vec<String>,
    /// Bearer token the HTTP client sends.
    pub token: Option<String>,
    /// Directory the server starts in (default: this crate's).
    pub cwd: Option<PathBuf>,
    /// Roots the client declares (`file://` URIs).
    pub roots: Vec<String>,
}

/// The test client: records the progress notifications it receives, and declares roots
/// when given some.
#[derive(Clone, Default)]
pub struct Recorder {
    pub progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
    /// `file://` URIs the client lists as its roots; empty: no roots capability.
    pub roots: Arc<Mutex<Vec<String>>>,
}

#[allow(deprecated)]
impl ClientHandler for Recorder {
    fn get_info(&self) -> rmcp::model::ClientInfo {
        let mut info = rmcp::model::ClientInfo::default();
        if !self.roots.lock().unwrap().is_empty() {
            info.capabilities = rmcp::model::ClientCapabilities::builder()
                .enable_roots()
                .enable_roots_list_changed()
                .build();
        }
        info
    }

    async fn list_roots(
        &self,
        _: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<rmcp::model::ListRootsResult, rmcp::ErrorData> {
        let roots = self.roots.lock().unwrap().clone();
        Ok(rmcp::model::ListRootsResult::new(
            roots.into_iter().map(rmcp::model::Root::new).collect(),
        ))
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params);
    }
}

/// A running server with a connected client.
pub struct Server {
    pub client: RunningService<RoleClient, Recorder>,
    pub recorder: Recorder,
    /// Process id of the server.
    pub pid: u32,
    /// The server's `$HOME`: its `~/.ssh/known_hosts` lives here.
    pub home: TempDir,
    stderr: PathBuf,
    /// The HTTP server process (stdio children are owned by the transport).
    http: Option<tokio::process::Child>,
    pub url: Option<String>,
}

impl Server {
    pub async fn start(transport: Transport) -> Self {
        Self::start_with(transport, Opts::default()).await
    }

    pub async fn stdio() -> Self {
        Self::start(Transport::Stdio).await
    }

    /// A stdio server with this `--host-key-policy` and known_hosts file.
    pub async fn with_host_keys(policy: &str, known_hosts: &std::path::Path) -> Self {
        let args = vec![
            "--host-key-policy".into(),
            policy.into(),
            "--known-hosts".into(),
            known_hosts.display().to_string(),
        ];
        Self::start_with(
            Transport::Stdio,
            Opts {
                args,
                ..Default::default()
            },
        )
        .await
    }

    pub async fn start_with(transport: Transport, opts: Opts) -> Self {
        let home = tempfile::Builder::new()
            .prefix("ssh-mcp-home-")
            .tempdir()
            .unwrap();
        let stderr = home.path().join("server.log");
        let bin = match transport {
            Transport::Stdio => binary("ssh-mcp-stdio"),
            _ => binary("ssh-mcp"),
        };
        let mut cmd = server_command(&bin, home.path(), &stderr, &opts);
        match transport {
            Transport::Stdio => {
                let (proc, _) = TokioChildProcess::builder(cmd)
                    .stderr(std::fs::File::create(&stderr).unwrap())
                    .spawn()
                    .unwrap();
                let pid = proc.id().unwrap();
                let recorder = Recorder::default();
                *recorder.roots.lock().unwrap() = opts.roots.clone();
                let client = tokio::time::timeout(CALL_LIMIT, recorder.clone().serve(proc))
                    .await
                    .expect("initialize timed out")
                    .expect("initialize failed");
                Server {
                    client,
                    recorder,
                    pid,
                    home,
                    stderr,
                    http: None,
                    url: None,
                }
            }
            Transport::Http | Transport::HttpModern => {
                cmd.stdin(Stdio::null()).stdout(Stdio::null());
                let child = cmd.spawn().unwrap();
                let pid = child.id().unwrap();
                let recorder = Recorder::default();
                let url = wait_for_url(&stderr).await;
                let mut config = StreamableHttpClientTransportConfig::with_uri(url.clone());
                if let Some(tok) = &opts.token {
                    config = config.auth_header(tok.clone());
                }
                let t = StreamableHttpClientTransport::from_config(config);
                let client = if transport == Transport::Http {
                    tokio::time::timeout(CALL_LIMIT, recorder.clone().serve(t)).await
                } else {
                    tokio::time::timeout(
                        CALL_LIMIT,
                        recorder.clone().serve_with_lifecycle(
                            t,
                            ClientLifecycleMode::Discover {
                                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                            },
                        ),
                    )
                    .await
                }
                .expect("handshake timed out")
                .expect("handshake failed");
                Server {
                    client,
                    recorder,
                    pid,
                    home,
                    stderr,
                    http: Some(child),
                    url: Some(url),
                }
            }
        }
    }

    /// Calls a tool.
    pub async fn call(&self, tool: &str, args: Value) -> CallToolResult {
        let Value::Object(map) = args else {
            panic!("arguments must be an object")
        };
        let req = CallToolRequestParams::new(tool.to_string()).with_arguments(map);
        tokio::time::timeout(CALL_LIMIT, self.client.call_tool(req))
            .await
            .unwrap_or_else(|_| panic!("{tool} did not answer within {CALL_LIMIT:?}"))
            .unwrap_or_else(|e| panic!("{tool} failed at the protocol level: {e}"))
    }

    /// Calls a tool that must succeed; returns its structured content.
    pub async fn ok(&self, tool: &str, args: Value) -> Value {
        let r = self.call(tool, args).await;
        assert_ne!(r.is_error, Some(true), "{tool} failed: {}", text(&r));
        r.structured_content
            .clone()
            .unwrap_or_else(|| panic!("{tool}: no structured content"))
    }

    /// Calls a tool that must fail with a tool error; returns its text.
    pub async fn err(&self, tool: &str, args: Value) -> String {
        let r = self.call(tool, args).await;
        assert_eq!(r.is_error, Some(true), "{tool} should have failed: {r:?}");
        text(&r)
    }

    /// Connects with the test user's plain key; returns the session id.
    pub async fn connect(&self, sshd: &Sshd) -> String {
        self.connect_address(&sshd.address()).await
    }

    /// Connects to any SSH server at `address` as the test user with its key; returns the
    /// session id.
    pub async fn connect_address(&self, address: &str) -> String {
        let v = self
            .ok(
                "ssh_connect",
                json!({"address": address, "username": sshd::USER,
                       "key_path": sshd::user().key.to_str().unwrap()}),
            )
            .await;
        v["session_id"].as_str().unwrap().to_string()
    }

    /// Runs a command that must succeed at the tool level.
    pub async fn exec(&self, session: &str, command: &str) -> Value {
        self.ok(
            "ssh_execute",
            json!({"session_id": session, "command": command}),
        )
        .await
    }

    /// Peak resident memory of the server process (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// `~/.ssh/known_hosts` of the server.
    pub fn known_hosts(&self) -> PathBuf {
        self.home.path().join(".ssh").join("known_hosts")
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Closes the client; waits for the server process to exit.
    pub async fn stop(mut self) {
        let _ = self.client.cancel().await;
        if let Some(mut child) = self.http.take() {
            let _ = child.kill().await;
        }
    }
}

/// The command line of a server under test: `home` as `$HOME`, the test user as `$USER`, no
/// agent, debug logs to `stderr`, any free port, then the options' flags and variables.
pub fn server_command(
    bin: &str,
    home: &Path,
    stderr: &Path,
    opts: &Opts,
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.env("HOME", home)
        .env("USER", sshd::USER)
        .env("RUST_LOG", "debug")
        .env("MCP_PORT", "0")
        .env_remove("SSH_AUTH_SOCK")
        .args(&opts.args)
        .stderr(std::fs::File::create(stderr).unwrap())
        .kill_on_drop(true);
    // Local files of the tests live in the temporary directory; the tests of the
    // confinement itself set their own roots (or none).
    cmd.env("SSH_MCP_LOCAL_ROOTS", std::env::temp_dir());
    for (k, v) in &opts.env {
        cmd.env(k, v);
    }
    if let Some(dir) = &opts.cwd {
        cmd.current_dir(dir);
    }
    cmd
}

/// An `ssh-mcp` process without a client of its own, for clients outside this process.
/// Killed on drop; its log is printed when the test failed.
pub struct HttpServer {
    /// `http://127.0.0.1:PORT/mcp`.
    pub url: String,
    stderr: PathBuf,
    _child: tokio::process::Child,
    /// The server's `$HOME`, removed after the server is killed.
    _home: TempDir,
}

impl HttpServer {
    pub async fn start(opts: Opts) -> Self {
        let home = tempfile::Builder::new()
            .prefix("ssh-mcp-home-")
            .tempdir()
            .unwrap();
        let stderr = home.path().join("server.log");
        let mut cmd = server_command(&binary("ssh-mcp"), home.path(), &stderr, &opts);
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        let child = cmd.spawn().unwrap();
        let url = wait_for_url(&stderr).await;
        HttpServer {
            url,
            stderr,
            _child: child,
            _home: home,
        }
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- ssh-mcp log ({}) ----\n{}", self.url, self.log());
        }
    }
}

/// A further MCP client (2025-11-25 era) of an HTTP server, with an optional bearer token.
pub async fn http_client(url: &str, token: Option<&str>) -> RunningService<RoleClient, Recorder> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_string());
    if let Some(t) = token {
        config = config.auth_header(t.to_string());
    }
    Recorder::default()
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .unwrap()
}

/// The text content of a result.
pub fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

pub async fn wait_for_url(log: &PathBuf) -> String {
    for _ in 0..500 {
        let s = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(i) = s.find("url=http://") {
            let rest = &s[i + 4..];
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            return rest[..end].to_string();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "ssh-mcp did not report its URL:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}
