//! `ssh-mcp`: the SSH MCP server over Streamable HTTP at `/mcp`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use ssh_mcp::config::cli::{SettingsArgs, shutdown_on_signals};
use ssh_mcp::http::{self, HttpOptions};
use ssh_mcp::{SessionManager, logging};

/// MCP server giving an AI agent SSH access, over Streamable HTTP at http://HOST:PORT/mcp.
/// Logs go to stderr (filter with RUST_LOG, default info).
#[derive(Debug, Parser)]
#[command(name = "ssh-mcp", version, about)]
struct Cli {
    /// Address to bind.
    #[arg(long, env = "MCP_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to bind (0: any free port; the log says which).
    #[arg(long, env = "MCP_PORT", default_value_t = 8000)]
    port: u16,
    /// Extra browser Origin to accept (repeatable), e.g. https://app.example.com:443.
    #[arg(
        long = "allowed-origin",
        env = "SSH_MCP_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    allowed_origins: Vec<String>,
    /// File of bearer tokens (one per line, `name:token` or `token`; a name is 1 to 64 of
    /// A-Z a-z 0-9 _ . -); every request must carry one. SSH_MCP_TOKEN adds one more (named
    /// `env`). Names and tokens must all differ.
    #[arg(long, env = "SSH_MCP_TOKEN_FILE")]
    token_file: Option<std::path::PathBuf>,
    /// Extra Host header value to accept (repeatable), e.g. mcp.example.com.
    #[arg(
        long = "allowed-host",
        env = "SSH_MCP_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    allowed_hosts: Vec<String>,
    /// MCP sessions (clients that opened with `initialize`) kept at most; another gets
    /// HTTP 503 until one ends or an idle one expires (after 5 minutes).
    #[arg(long, env = "SSH_MCP_MAX_MCP_SESSIONS", default_value_t = http::DEFAULT_MAX_MCP_SESSIONS)]
    max_mcp_sessions: usize,
    /// Base of the links to the one-time pages where users type secrets, as their browser
    /// reaches this server (e.g. https://mcp.example.com behind a TLS proxy; default
    /// http:// and the bound address).
    #[arg(long, env = "SSH_MCP_PUBLIC_URL")]
    public_url: Option<String>,
    #[command(flatten)]
    settings: SettingsArgs,
}

// One thread runs all async work. The server waits on the network almost all the time:
// hand-offs between worker threads cost more than they win (SFTP used about a third less
// CPU per byte than on the multi-threaded runtime), and one thread keeps the process small
// (no worker threads, no per-thread allocator arenas). Blocking work (local file IO and
// hashing, key decryption, name lookups) runs on tokio's blocking pool.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    logging::init();
    let addr = SocketAddr::new(cli.host, cli.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let (mut settings, file) = cli.settings.load().context("loading settings")?;
    settings.own_listeners.push(listener.local_addr()?);
    if let Some(t) = &cli.token_file {
        settings.protected.add_file(t.clone());
    }
    let manager = Arc::new(SessionManager::new(settings));
    let token_file = cli.token_file.or(file
        .http
        .token_file
        .as_deref()
        .map(ssh_mcp::paths::expand_tilde));
    let mut tokens = match &token_file {
        Some(p) => http::read_token_file(p).context("reading the token file")?,
        None => Vec::new(),
    };
    if let Some(t) = std::env::var("SSH_MCP_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
    {
        anyhow::ensure!(
            t.len() >= http::MIN_TOKEN_LEN,
            "SSH_MCP_TOKEN must be at least {} characters",
            http::MIN_TOKEN_LEN
        );
        tokens.push(("env".into(), ssh_mcp::Secret::new(t)));
    }
    http::check_tokens(&tokens).context("checking the bearer tokens")?;
    let mut options = HttpOptions {
        tokens,
        allowed_origins: cli.allowed_origins,
        allowed_hosts: cli.allowed_hosts,
        max_mcp_sessions: cli.max_mcp_sessions,
        public_url: cli.public_url.or(file.http.public_url),
    };
    options.allowed_origins.extend(file.http.allowed_origins);
    options.allowed_hosts.extend(file.http.allowed_hosts);
    let shutdown = shutdown_on_signals();
    manager.spawn_reaper(shutdown.clone());
    http::serve(listener, manager, options, shutdown)
        .await
        .context("serving HTTP")
}
