//! The page itself: `GET /secrets/<id>` shows a form (no JavaScript), `POST` takes the
//! secret. Every response forbids caching, referrers and framing and carries a strict
//! Content-Security-Policy. A POST must carry the form's anti-forgery token and comes
//! from the page's own origin: browsers send `Origin: null` for a page served with
//! `Referrer-Policy: no-referrer`, which is accepted; any other origin is refused. The
//! request body is bounded, read within a deadline, never logged, and wiped once parsed.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use zeroize::Zeroize;

use super::{PageInfo, Pages};
use crate::secret::Secret;

/// Largest accepted form body: a token and a secret of a few KiB.
const MAX_FORM_BYTES: usize = 8 * 1024;

/// Time a browser has to send the form.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

const CSP: &str = "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

impl Pages {
    /// The routes `/secrets/{id}` (GET shows the form, POST takes the secret).
    pub fn router(self: &Arc<Self>) -> axum::Router {
        axum::Router::new()
            .route("/secrets/{id}", axum::routing::get(show).post(receive))
            .with_state(self.clone())
    }
}

async fn show(State(pages): State<Arc<Pages>>, Path(id): Path<String>) -> Response {
    match pages.showing(&id) {
        Some((info, token)) => respond(StatusCode::OK, &form(&info, &token, None)),
        None => gone(),
    }
}

async fn receive(
    State(pages): State<Arc<Pages>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let own = pages.origin().await;
        let origin = origin.to_str().unwrap_or("").to_ascii_lowercase();
        if origin != "null" && Some(&origin) != own.as_ref() {
            return respond(
                StatusCode::FORBIDDEN,
                &message("Refused", "This form may only be sent from its own page."),
            );
        }
    }
    let read = axum::body::to_bytes(body, MAX_FORM_BYTES);
    let mut raw: Vec<u8> = match tokio::time::timeout(READ_TIMEOUT, read).await {
        Ok(Ok(bytes)) => bytes.into(),
        _ => {
            return respond(
                StatusCode::PAYLOAD_TOO_LARGE,
                &message("Refused", "The form was too large or too slow."),
            );
        }
    };
    let (token, secret) = fields(&raw);
    raw.zeroize();
    let Some((info, _)) = pages.showing(&id) else {
        return gone();
    };
    let token = token.unwrap_or_default();
    match secret {
        Some(s) if !s.is_empty() => match pages.submit(&id, &token, s) {
            Ok(()) => respond(
                StatusCode::OK,
                &message(
                    "Received",
                    "The secret was handed to the SSH MCP server. You can close this page and return to your MCP client.",
                ),
            ),
            Err(()) => respond(
                StatusCode::FORBIDDEN,
                &message("Refused", "The form's token is missing or wrong."),
            ),
        },
        _ => {
            // Nothing typed: show the form again, unless the token is wrong.
            match pages.showing(&id) {
                Some((_, t)) if crate::secret::constant_time_eq(t.as_bytes(), token.as_bytes()) => {
                    respond(
                        StatusCode::BAD_REQUEST,
                        &form(&info, &t, Some("Type the secret, then send it.")),
                    )
                }
                _ => respond(
                    StatusCode::FORBIDDEN,
                    &message("Refused", "The form's token is missing or wrong."),
                ),
            }
        }
    }
}

/// `token` and `secret` of an `application/x-www-form-urlencoded` body.
fn fields(raw: &[u8]) -> (Option<String>, Option<Secret>) {
    let (mut token, mut secret) = (None, None);
    for pair in raw.split(|b| *b == b'&') {
        let mut kv = pair.splitn(2, |b| *b == b'=');
        let (Some(k), Some(v)) = (kv.next(), kv.next()) else {
            continue;
        };
        let mut value = percent_decode(v);
        match k {
            b"token" => token = String::from_utf8(value.clone()).ok(),
            b"secret" => secret = String::from_utf8(value.clone()).ok().map(Secret::new),
            _ => {}
        }
        value.zeroize();
    }
    (token, secret)
}

fn percent_decode(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while let Some(&b) = v.get(i) {
        let hex = v
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(x)) => {
                out.push(x);
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    out
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn form(info: &PageInfo, token: &str, note: Option<&str>) -> String {
    let fingerprint = info
        .fingerprint
        .as_deref()
        .map(|f| format!("<dt>Host key</dt><dd><code>{}</code></dd>", escape(f)))
        .unwrap_or_default();
    let note = note
        .map(|n| format!("<p><strong>{}</strong></p>", escape(n)))
        .unwrap_or_default();
    let host = if info.host.contains(':') {
        format!("[{}]:{}", info.host, info.port)
    } else {
        format!("{}:{}", info.host, info.port)
    };
    page(
        "Enter a secret for SSH",
        &format!(
            "<h1>Enter {purpose}</h1>\
             <p>An AI agent asked the SSH MCP server to use this. What you type here goes \
             to that server only, never to the agent.</p>\
             <dl><dt>Host</dt><dd><code>{host}</code></dd><dt>User</dt><dd><code>{user}</code></dd>{fingerprint}</dl>\
             {note}<form method=\"post\"><input type=\"hidden\" name=\"token\" value=\"{token}\">\
             <label>{purpose_cap} <input type=\"password\" name=\"secret\" autocomplete=\"off\" autofocus required></label> \
             <button type=\"submit\">Send</button></form>\
             <p>Close this page to refuse. The link works once, for a few minutes.</p>",
            purpose = escape(&info.purpose),
            purpose_cap = escape(&capitalized(&info.purpose)),
            host = escape(&host),
            user = escape(&info.user),
            token = escape(token),
        ),
    )
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn message(title: &str, text: &str) -> String {
    page(
        title,
        &format!("<h1>{}</h1><p>{}</p>", escape(title), escape(text)),
    )
}

fn gone() -> Response {
    respond(
        StatusCode::NOT_FOUND,
        &message(
            "Link not valid",
            "This link was already used, has expired, or never existed. Ask for a new one from your MCP client.",
        ),
    )
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{}</title></head>\
         <body>{body}</body></html>",
        escape(title)
    )
}

fn respond(status: StatusCode, html: &str) -> Response {
    let mut r = Response::new(Body::from(html.to_string()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CONTENT_SECURITY_POLICY, CSP),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    r
}
