//! `ssh-mcp-stdio`: the SSH MCP server over stdin/stdout.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use rmcp::ServiceExt;
use ssh_mcp::config::cli::{SettingsArgs, shutdown_on_signals};
use ssh_mcp::mcp::stdio_transport::LineTransport;
use ssh_mcp::{SessionManager, SshMcp, logging};

/// MCP server giving an AI agent SSH access, speaking MCP over stdin/stdout.
/// Logs go to stderr (filter with RUST_LOG, default info).
#[derive(Debug, Parser)]
#[command(name = "ssh-mcp-stdio", version, about)]
struct Cli {
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
    let (mut settings, _) = cli.settings.load().context("loading settings")?;
    // The client runs on the user's behalf: the roots it declares count, and so does the
    // directory it started the server in.
    settings.client_roots = true;
    settings.start_dir = ssh_mcp::local_paths::start_dir();
    let manager = Arc::new(SessionManager::new(settings));
    let shutdown = shutdown_on_signals();
    manager.spawn_reaper(shutdown.clone());
    // Secret pages get a loopback listener of their own on first need.
    let pages = ssh_mcp::secret_page::Pages::on_demand(shutdown.clone());
    let (stdin, stdout) = rmcp::transport::stdio_pipes();
    let server = SshMcp::with_pages(manager.clone(), pages)
        .serve(LineTransport::new(stdin, stdout))
        .await
        .context("starting the MCP stdio server")?;
    tracing::info!("serving MCP over stdio");
    let cancel = server.cancellation_token();
    tokio::select! {
        r = server.waiting() => { r.context("MCP stdio server")?; }
        _ = shutdown.cancelled() => cancel.cancel(),
    }
    manager.shutdown().await;
    Ok(())
}
