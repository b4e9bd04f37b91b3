//! The page over a real loopback listener.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::*;

fn info() -> PageInfo {
    PageInfo {
        purpose: "the SSH password".into(),
        host: "<script>h".into(),
        port: 22,
        user: "u\"&".into(),
        fingerprint: Some("SHA256:abc".into()),
    }
}

/// Pages served on a fresh loopback listener, with links working for `lifetime`.
async fn serve(lifetime: Duration) -> (Arc<Pages>, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let pages = Pages::with_lifetime(&base, lifetime);
    let app = pages.router();
    tokio::spawn(crate::serve_loop::serve(
        listener,
        app,
        CancellationToken::new(),
    ));
    (pages, base)
}

fn token_of(html: &str) -> String {
    let at = html.find("name=\"token\" value=\"").unwrap() + 20;
    html[at..at + 32].to_string()
}

async fn post(url: &str, origin: Option<&str>, body: String) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn a_page_should_take_one_secret_from_its_own_form_only() {
    let (pages, base) = serve(LIFETIME).await;
    let page = pages.open(info(), "").await.unwrap();
    assert!(page.url.starts_with(&format!("{base}/secrets/")));
    assert_eq!(page.id.len(), 32, "128 random bits");
    let got = reqwest::get(&page.url).await.unwrap();
    let h = got.headers().clone();
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-frame-options"], "DENY");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    let html = got.text().await.unwrap();
    assert!(
        html.contains("&lt;script&gt;h:22") && html.contains("u&quot;&amp;"),
        "{html}"
    );
    assert!(!html.contains("<script"), "{html}");
    assert!(html.contains("SHA256:abc") && html.contains("type=\"password\""));
    let token = token_of(&html);

    // No token, a wrong token, a foreign origin: refused, and the page still waits.
    let no_token = post(&page.url, Some("null"), "secret=pw".into()).await;
    assert_eq!(no_token.status(), 403);
    let wrong = post(
        &page.url,
        Some("null"),
        format!("token={}&secret=pw", "0".repeat(32)),
    )
    .await;
    assert_eq!(wrong.status(), 403);
    let foreign = post(
        &page.url,
        Some("http://evil.example"),
        format!("token={token}&secret=pw"),
    )
    .await;
    assert_eq!(foreign.status(), 403);
    let huge = post(
        &page.url,
        Some("null"),
        format!("token={token}&secret={}", "a".repeat(20_000)),
    )
    .await;
    assert_eq!(huge.status(), 413);
    assert!(pages.is_open(&page.id));

    // The page's own form (Origin: null under no-referrer), with its token: taken.
    let ok = post(
        &page.url,
        Some("null"),
        format!("token={token}&secret=p%26w+d"),
    )
    .await;
    assert_eq!(ok.status(), 200);
    let secret = pages
        .wait(&page.id, Duration::from_secs(5), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(secret.expose(), "p&w d");

    // Used: the link shows nothing more and takes nothing more.
    assert_eq!(reqwest::get(&page.url).await.unwrap().status(), 404);
    let again = post(&page.url, Some("null"), format!("token={token}&secret=x")).await;
    assert_eq!(again.status(), 404);
}

#[tokio::test]
async fn a_secret_sent_from_the_same_origin_should_be_taken_before_anyone_waits() {
    let (pages, base) = serve(LIFETIME).await;
    let page = pages.open(info(), "").await.unwrap();
    let html = reqwest::get(&page.url).await.unwrap().text().await.unwrap();
    let token = token_of(&html);
    let ok = post(&page.url, Some(&base), format!("token={token}&secret=s")).await;
    assert_eq!(ok.status(), 200);
    let got = pages
        .wait(&page.id, Duration::ZERO, &CancellationToken::new())
        .await;
    assert_eq!(got.unwrap().expose(), "s");
}

#[tokio::test]
async fn an_expired_link_should_show_and_take_nothing() {
    let (pages, _) = serve(Duration::from_millis(300)).await;
    let page = pages.open(info(), "").await.unwrap();
    let html = reqwest::get(&page.url).await.unwrap().text().await.unwrap();
    let token = token_of(&html);
    let waited = pages
        .wait(&page.id, Duration::from_secs(5), &CancellationToken::new())
        .await;
    assert_eq!(waited.unwrap_err(), NoSecret::Expired);
    assert_eq!(reqwest::get(&page.url).await.unwrap().status(), 404);
    let late = post(&page.url, Some("null"), format!("token={token}&secret=s")).await;
    assert_eq!(late.status(), 404);
}

#[tokio::test]
async fn waiting_should_end_on_cancel_or_deadline_and_leave_the_page_open() {
    let (pages, _) = serve(LIFETIME).await;
    let page = pages.open(info(), "").await.unwrap();
    let short = pages
        .wait(
            &page.id,
            Duration::from_millis(50),
            &CancellationToken::new(),
        )
        .await;
    assert_eq!(short.unwrap_err(), NoSecret::StillOpen);
    let cancel = CancellationToken::new();
    cancel.cancel();
    let cancelled = pages.wait(&page.id, Duration::from_secs(5), &cancel).await;
    assert_eq!(cancelled.unwrap_err(), NoSecret::Cancelled);
    assert!(pages.is_open(&page.id));
    pages.close(&page.id);
    assert!(!pages.is_open(&page.id));
}

#[tokio::test]
async fn on_demand_pages_should_start_one_loopback_listener() {
    let pages = Pages::on_demand(CancellationToken::new());
    let a = pages.open(info(), "").await.unwrap();
    let b = pages.open(info(), "").await.unwrap();
    assert!(a.url.starts_with("http://127.0.0.1:"));
    let base = |u: &str| u[..u.find("/secrets/").unwrap()].to_string();
    assert_eq!(base(&a.url), base(&b.url));
    assert_ne!(a.id, b.id);
    assert_eq!(reqwest::get(&a.url).await.unwrap().status(), 200);
}

#[tokio::test]
async fn pages_left_open_should_stop_neither_a_new_one_nor_another_clients() {
    let (pages, _) = serve(LIFETIME).await;
    let mut opened = Vec::new();
    for _ in 0..100 {
        opened.push(pages.open(info(), "a").await.unwrap().id);
    }
    // The newest are open, the oldest withdrawn.
    assert!(
        opened
            .iter()
            .rev()
            .take(MAX_OPEN_PER_OWNER)
            .all(|id| pages.is_open(id))
    );
    assert!(!pages.is_open(&opened[0]));
    // A call waiting for a withdrawn page hears of it at once.
    let oldest = opened[opened.len() - MAX_OPEN_PER_OWNER].clone();
    let waiting = {
        let pages = pages.clone();
        tokio::spawn(async move {
            pages
                .wait(&oldest, Duration::from_secs(60), &CancellationToken::new())
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    pages.open(info(), "a").await.unwrap();
    let waited = tokio::time::timeout(Duration::from_secs(5), waiting).await;
    assert_eq!(waited.unwrap().unwrap().unwrap_err(), NoSecret::Expired);
    let theirs = pages.open(info(), "b").await.unwrap();
    assert!(pages.is_open(&theirs.id));
    for _ in 0..100 {
        pages.open(info(), "a").await.unwrap();
    }
    assert!(pages.is_open(&theirs.id), "another client's page stays");
}

#[tokio::test]
async fn the_on_demand_listener_should_hold_a_bounded_number_of_connections() {
    let pages = Pages::on_demand(CancellationToken::new());
    let page = pages.open(info(), "").await.unwrap();
    let addr = page.url["http://".len()..page.url.find("/secrets/").unwrap()].to_string();
    // Idle connections, as another local user could open by the thousand.
    let mut held = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        held.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    let mut extra = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut extra, &mut buf),
    )
    .await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "a connection past the cap is closed at once"
    );
    drop(held);
    let shown = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(r) = reqwest::get(&page.url).await {
                return r.status();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(shown, 200);
}
