//! The Streamable HTTP front end of `ssh-mcp`: axum serving rmcp's service at `/mcp`.
//!
//! Hardening over rmcp's defaults: `Origin` is validated (a browser page from a foreign
//! origin gets 403, which rmcp leaves off by default), `Host` must be loopback or the bound
//! address (DNS-rebinding protection), request bodies and the number of MCP sessions are
//! capped, a request's headers and body must arrive within 30 s each, and with bearer
//! tokens configured every request must carry one (401 otherwise).
//! A non-loopback address is refused without tokens. SSH sessions belong to the token that
//! opened them. The one-time secret pages (`/secrets/<id>`, see [`crate::secret_page`]) are
//! served here too, outside the token check and the MCP body limits (they have their own).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::manager::SessionManager;
use crate::mcp::{Caller, SshMcp};
use crate::secret::Secret;
use crate::secret_page::Pages;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Time a client has to send a request's headers, and then its body: a connection that
/// sends a request slowly or not at all would otherwise hold a socket and a task forever.
/// hyper applies it to idle keep-alive connections too, which are closed after it, as
/// nginx closes them after 75 s; 30 s is hyper's own default.
pub const REQUEST_READ_TIMEOUT: Duration = crate::serve_loop::HEADER_READ_TIMEOUT;

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
    /// The base of the links to secret pages (`https://mcp.example.com` behind a TLS
    /// proxy); `None`: `http://` and the bound address.
    pub public_url: Option<String>,
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
    let pages = Pages::fixed(&match &options.public_url {
        Some(url) => url.clone(),
        None => format!("http://{}", link_address(bound)),
    });
    let page_routes = pages.router();
    let service = StreamableHttpService::new(
        move || Ok(SshMcp::with_pages(manager.clone(), pages.clone())),
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
                read_request(sessions.clone(), limit, req, next)
            }));
    // The secret pages are opened by the user's browser, which has no bearer token: they
    // are reached by their unguessable one-time link, past the token check.
    if options.tokens.is_empty() {
        return router.merge(page_routes);
    }
    let tokens = Arc::new(options.tokens.clone());
    router
        .layer(axum::middleware::from_fn(move |req, next| {
            require_token(tokens.clone(), req, next)
        }))
        .merge(page_routes)
}

/// The address links name: the bound one, or loopback for an unspecified bind address.
fn link_address(bound: SocketAddr) -> SocketAddr {
    if !bound.ip().is_unspecified() {
        return bound;
    }
    let ip = match bound.ip() {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
    };
    SocketAddr::new(ip, bound.port())
}

/// Reads the request body within [`REQUEST_READ_TIMEOUT`] (408 otherwise) and at most
/// [`MAX_BODY_BYTES`] of it (413), before anything else looks at the request. Then refuses
/// an `initialize` (which opens an MCP session) while `limit` sessions are open (503): each
/// holds memory until it is closed or expires, so an unbounded number of them could exhaust
/// the machine's memory. `initialize` is recognised by the body's method, whatever the
/// headers say. Concurrent `initialize` calls are counted before rmcp adds their sessions,
/// so the count may pass the limit by the number of those in flight.
async fn read_request(
    sessions: Arc<LocalSessionManager>,
    limit: usize,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::StatusCode;
    #[derive(serde::Deserialize)]
    struct Method<'a> {
        #[serde(borrow)]
        method: Option<std::borrow::Cow<'a, str>>,
    }
    let refuse = |status: StatusCode, text: String| {
        axum::response::Response::builder()
            .status(status)
            .body(axum::body::Body::from(text))
            .unwrap_or_default()
    };
    let (parts, body) = req.into_parts();
    let declared_too_large = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES as u64);
    if declared_too_large {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body exceeds {MAX_BODY_BYTES} bytes\n"),
        );
    }
    let read = axum::body::to_bytes(body, MAX_BODY_BYTES);
    let bytes = match tokio::time::timeout(REQUEST_READ_TIMEOUT, read).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("reading the request body failed (at most {MAX_BODY_BYTES} bytes): {e}\n"),
            );
        }
        Err(_) => {
            return refuse(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s\n",
                    REQUEST_READ_TIMEOUT.as_secs()
                ),
            );
        }
    };
    let opens_session = parts.method == axum::http::Method::POST
        && !parts.headers.contains_key("mcp-session-id")
        && serde_json::from_slice::<Method>(&bytes)
            .is_ok_and(|m| m.method.as_deref() == Some("initialize"));
    if opens_session && sessions.sessions.read().await.len() >= limit {
        tracing::warn!(limit, "refusing a new MCP session: the limit is reached");
        let mut refused = refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{limit} MCP sessions are open, the most this server keeps: end one (HTTP DELETE \
                 with its Mcp-Session-Id) or retry when idle ones have expired (5 minutes)\n"
            ),
        );
        refused.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("60"),
        );
        return refused;
    }
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
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
            if crate::secret::constant_time_eq(p.as_bytes(), token.expose().as_bytes()) {
                matched = Some(name);
            }
        }
    }
    match matched {
        Some(name) => {
            req.extensions_mut().insert(Caller(name.to_string()));
            next.run(req).await
        }
        None => axum::response::Response::builder()
            .status(axum::http::StatusCode::UNAUTHORIZED)
            .header(axum::http::header::WWW_AUTHENTICATE, "Bearer")
            .body(axum::body::Body::from("a valid bearer token is required\n"))
            .unwrap_or_default(),
    }
}

/// Longest token name.
pub const MAX_TOKEN_NAME: usize = 64;

/// Shortest accepted token.
pub const MIN_TOKEN_LEN: usize = 16;

/// Whether `name` may name a token: 1 to [`MAX_TOKEN_NAME`] ASCII letters, digits, `_`,
/// `.` or `-`.
pub fn is_token_name(name: &str) -> bool {
    (1..=MAX_TOKEN_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Reads bearer tokens, one per line; blank lines and `#` comments are skipped. A line
/// with a `:` is always `name:token`, split at the first `:` (so a token may contain `:`
/// only behind a name), and the name must pass [`is_token_name`]; a line without `:` is a
/// bare token, named `token<line number>`. Tokens are at least [`MIN_TOKEN_LEN`]
/// characters. A line that does not follow these rules, and a name or token used twice,
/// stop the reading with the line named (never the token).
pub fn read_token_file(path: &std::path::Path) -> crate::Result<Vec<(String, Secret)>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| crate::Error::io(format!("reading token file {}", path.display()), e))?;
    let mut out: Vec<(String, Secret)> = Vec::new();
    let mut lines: Vec<usize> = Vec::new();
    for (i, line) in text.lines().map(str::trim).enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let n = i + 1;
        let bad = |what: String| {
            crate::Error::InvalidArgument(format!("token file {} line {n}: {what}", path.display()))
        };
        let (name, token) = match line.split_once(':') {
            Some((name, token)) if is_token_name(name.trim()) => {
                (name.trim().to_string(), token.trim())
            }
            Some(_) => {
                return Err(bad(format!(
                    "the part before the first `:` is not a token name (1 to {MAX_TOKEN_NAME} \
                     letters, digits, `_`, `.` or `-`): write `name:token`, or the token alone \
                     if it has no `:`"
                )));
            }
            None => (format!("token{n}"), line),
        };
        if token.len() < MIN_TOKEN_LEN {
            return Err(bad(format!(
                "tokens must be at least {MIN_TOKEN_LEN} characters"
            )));
        }
        if let Some(k) = out.iter().position(|(other, _)| *other == name) {
            return Err(bad(format!(
                "the name `{name}` is already used on line {}: every token needs its own name",
                lines.get(k).copied().unwrap_or_default()
            )));
        }
        if let Some(k) = out.iter().position(|(_, t)| t.expose() == token) {
            return Err(bad(format!(
                "the same token as on line {}: every client needs its own token",
                lines.get(k).copied().unwrap_or_default()
            )));
        }
        out.push((name, Secret::new(token)));
        lines.push(n);
    }
    Ok(out)
}

/// Refuses tokens that share a name or a value: SSH sessions and jobs belong to the name
/// of the token that opened them, so two tokens with one name would share them, and one
/// value would be matched to either name. The error names the tokens, never a value.
pub fn check_tokens(tokens: &[(String, Secret)]) -> crate::Result<()> {
    for (i, (name, token)) in tokens.iter().enumerate() {
        for (other, other_token) in tokens.iter().skip(i + 1) {
            if name == other {
                return Err(crate::Error::InvalidArgument(format!(
                    "two bearer tokens are named `{name}` (SSH_MCP_TOKEN is named `env`): \
                     every token needs its own name"
                )));
            }
            if token.expose() == other_token.expose() {
                return Err(crate::Error::InvalidArgument(format!(
                    "bearer tokens `{name}` and `{other}` are the same token: every client \
                     needs its own token"
                )));
            }
        }
    }
    Ok(())
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
    check_tokens(&options.tokens)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
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
    crate::serve_loop::serve(listener, app, shutdown).await;
    manager.shutdown().await;
    Ok(())
}
