//! The Streamable HTTP front end of `ssh-mcp`: axum serving rmcp's service at `/mcp`.
//!
//! Hardening over rmcp's defaults: `Origin` is validated (a browser page from a foreign
//! origin gets 403, which rmcp leaves off by default), `Host` must be loopback or the bound
//! address (DNS-rebinding protection), and request bodies are capped.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::manager::SessionManager;
use crate::mcp::SshMcp;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Browser origins allowed by default: pages served from this machine.
pub const LOOPBACK_ORIGINS: [&str; 3] =
    ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"];

/// Options of the HTTP front end.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// Extra browser origins to accept (`scheme://host:port`, `:*` for any port).
    pub allowed_origins: Vec<String>,
    /// Extra `Host` header values to accept, beyond loopback and the bound address.
    pub allowed_hosts: Vec<String>,
}

/// The axum router serving MCP at `/mcp`.
pub fn router(
    manager: Arc<SessionManager>,
    bound: SocketAddr,
    options: &HttpOptions,
    shutdown: CancellationToken,
) -> axum::Router {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1", "[::1]"]
        .into_iter()
        .map(String::from)
        .collect();
    if !bound.ip().is_unspecified() && !bound.ip().is_loopback() {
        hosts.push(host_literal(bound.ip()));
    }
    hosts.extend(options.allowed_hosts.iter().cloned());
    let origins = LOOPBACK_ORIGINS
        .iter()
        .map(|s| s.to_string())
        .chain(options.allowed_origins.iter().cloned());
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .enforce_origin_validation()
        .with_max_request_body_bytes(MAX_BODY_BYTES)
        .with_cancellation_token(shutdown.child_token());
    let service = StreamableHttpService::new(
        move || Ok(SshMcp::new(manager.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    axum::Router::new().nest_service("/mcp", service)
}

fn host_literal(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// Serves until `shutdown` is cancelled, then closes every SSH session.
pub async fn serve(
    listener: TcpListener,
    manager: Arc<SessionManager>,
    options: HttpOptions,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let bound = listener.local_addr()?;
    let app = router(manager.clone(), bound, &options, shutdown.clone());
    tracing::info!(url = %format!("http://{bound}/mcp"), "serving MCP over Streamable HTTP");
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    manager.shutdown().await;
    result
}
