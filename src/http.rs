//! The Streamable HTTP front end of `ssh-mcp`: axum serving rmcp's service at `/mcp`.
//!
//! Hardening over rmcp's defaults: `Origin` is validated (a browser page from a foreign
//! origin gets 403, which rmcp leaves off by default), `Host` must be loopback or the bound
//! address (DNS-rebinding protection), request bodies and the number of MCP sessions are
//! capped, and with bearer tokens configured every request must carry one (401 otherwise).
//! A non-loopback address is refused without tokens. SSH sessions belong to the token that
//! opened them.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::manager::SessionManager;
use crate::mcp::SshMcp;
use crate::secret::Secret;

/// The name of the bearer token a request came with, put in the request's extensions by
/// the token check, so that tools can tell clients apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenName(pub String);

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// MCP sessions (2025-11-25 and earlier, opened by `initialize`) kept at most by default.
/// Each costs about 50 KB until it is closed or has been idle for 5 minutes.
pub const DEFAULT_MAX_MCP_SESSIONS: usize = 1000;

/// Browser origins allowed by default: pages served from this machine.
pub const LOOPBACK_ORIGINS: [&str; 3] =
    ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"];

/// Options of the HTTP front end.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// Accepted bearer tokens with their names. Empty: no authentication, which is only
    /// allowed on a loopback address.
    pub tokens: Vec<(String, Secret)>,
    /// Extra browser origins to accept (`scheme://host:port`, `:*` for any port).
    pub allowed_origins: Vec<String>,
    /// Extra `Host` header values to accept, beyond loopback and the bound address.
    pub allowed_hosts: Vec<String>,
    /// MCP sessions kept at most; an `initialize` past it gets 503. 0: the default,
    /// [`DEFAULT_MAX_MCP_SESSIONS`].
    pub max_mcp_sessions: usize,
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
    let sessions = Arc::new(LocalSessionManager::default());
    let service = StreamableHttpService::new(
        move || Ok(SshMcp::new(manager.clone())),
        sessions.clone(),
        config,
    );
    let limit = match options.max_mcp_sessions {
        0 => DEFAULT_MAX_MCP_SESSIONS,
        n => n,
    };
    let router =
        axum::Router::new()
            .nest_service("/mcp", service)
            .layer(axum::middleware::from_fn(move |req, next| {
                limit_sessions(sessions.clone(), limit, req, next)
            }));
    if options.tokens.is_empty() {
        return router;
    }
    let tokens = Arc::new(options.tokens.clone());
    router.layer(axum::middleware::from_fn(move |req, next| {
        require_token(tokens.clone(), req, next)
    }))
}

/// Refuses a request that would open an MCP session (a POST without `Mcp-Session-Id`, and
/// without the `Mcp-Method` header that stateless 2026-07-28 requests carry) while `limit`
/// sessions are open: each holds memory until it is closed or expires, so an unbounded
/// number of `initialize` calls could exhaust the machine's memory.
async fn limit_sessions(
    sessions: Arc<LocalSessionManager>,
    limit: usize,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let headers = req.headers();
    let opens_session = req.method() == axum::http::Method::POST
        && !headers.contains_key("mcp-session-id")
        && !headers.contains_key("mcp-method");
    if opens_session && sessions.sessions.read().await.len() >= limit {
        tracing::warn!(limit, "refusing a new MCP session: the limit is reached");
        return axum::response::Response::builder()
            .status(axum::http::StatusCode::SERVICE_UNAVAILABLE)
            .header(axum::http::header::RETRY_AFTER, "60")
            .body(axum::body::Body::from(format!(
                "{limit} MCP sessions are open, the most this server keeps: end one (HTTP DELETE \
                 with its Mcp-Session-Id) or retry when idle ones have expired (5 minutes)\n"
            )))
            .unwrap_or_default();
    }
    next.run(req).await
}

/// Lets a request through only with `Authorization: Bearer <one of the tokens>`, and tags it
/// with that token's name.
async fn require_token(
    tokens: Arc<Vec<(String, Secret)>>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let presented = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    // Compare against every token without stopping early, so timing tells nothing about
    // which token, or how much of one, matched.
    let mut matched: Option<&str> = None;
    if let Some(p) = presented {
        for (name, token) in tokens.iter() {
            if constant_time_eq(p.as_bytes(), token.expose().as_bytes()) {
                matched = Some(name);
            }
        }
    }
    match matched {
        Some(name) => {
            req.extensions_mut().insert(TokenName(name.to_string()));
            next.run(req).await
        }
        None => axum::response::Response::builder()
            .status(axum::http::StatusCode::UNAUTHORIZED)
            .header(axum::http::header::WWW_AUTHENTICATE, "Bearer")
            .body(axum::body::Body::from("a valid bearer token is required\n"))
            .unwrap_or_default(),
    }
}

/// Equality whose running time depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (i, x) in a.iter().enumerate() {
        diff |= x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0);
    }
    diff == 0
}

/// Reads bearer tokens: one per line, `name:token` or just `token` (named `token1`, …);
/// blank lines and `#` comments are skipped.
pub fn read_token_file(path: &std::path::Path) -> crate::Result<Vec<(String, Secret)>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| crate::Error::io(format!("reading token file {}", path.display()), e))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().map(str::trim).enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, token) = match line.split_once(':') {
            Some((n, t)) => (n.trim().to_string(), t.trim()),
            None => (format!("token{}", i + 1), line),
        };
        if token.len() < 16 {
            return Err(crate::Error::InvalidArgument(format!(
                "token file {} line {}: tokens must be at least 16 characters",
                path.display(),
                i + 1
            )));
        }
        out.push((name, Secret::new(token)));
    }
    Ok(out)
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
    if !bound.ip().is_loopback() && options.tokens.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "refusing to serve on {bound} without authentication: set SSH_MCP_TOKEN or --token-file, or bind 127.0.0.1"
            ),
        ));
    }
    let app = router(manager.clone(), bound, &options, shutdown.clone());
    tracing::info!(url = %format!("http://{bound}/mcp"), "serving MCP over Streamable HTTP");
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    manager.shutdown().await;
    result
}
