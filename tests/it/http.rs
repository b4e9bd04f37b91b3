//! The Streamable HTTP binary: both protocol eras, Origin validation, shared sessions.

use serde_json::json;

use crate::harness::{Opts, Server, Transport};
use crate::sshd::Sshd;

#[tokio::test]
async fn http_legacy_and_stateless_eras_should_both_run_commands() {
    let sshd = Sshd::start();
    for t in [Transport::Http, Transport::HttpModern] {
        let srv = Server::start(t).await;
        let s = srv.connect(&sshd).await;
        let v = srv.exec(&s, "echo hi; exit 5").await;
        assert_eq!(v["stdout"], "hi\n", "{t:?}");
        assert_eq!(v["exit_code"], 5, "{t:?}");
        let list = srv.ok("ssh_list_sessions", json!({})).await;
        assert_eq!(list["sessions"][0]["session_id"], s.as_str(), "{t:?}");
        assert_eq!(list["sessions"][0]["alive"], true);
        srv.stop().await;
    }
}

#[tokio::test]
async fn ssh_sessions_should_outlive_the_mcp_client_that_opened_them() {
    let sshd = Sshd::start();
    let srv = Server::start(Transport::Http).await;
    let s = srv.connect(&sshd).await;
    // A second, independent MCP client (stateless era) of the same server uses the session.
    let url = srv.url.clone().unwrap();
    let t = rmcp::transport::StreamableHttpClientTransport::from_uri(url);
    use rmcp::ClientServiceExt;
    let other = ()
        .serve_with_lifecycle(
            t,
            rmcp::ClientLifecycleMode::Discover {
                preferred_versions: vec![rmcp::model::ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .unwrap();
    let args = json!({"session_id": s, "command": "echo shared"});
    let r = other
        .call_tool(
            rmcp::model::CallToolRequestParams::new("ssh_execute")
                .with_arguments(args.as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_eq!(r.structured_content.unwrap()["stdout"], "shared\n");
}

#[tokio::test]
async fn a_foreign_origin_should_get_403() {
    let srv = Server::start(Transport::Http).await;
    let url = srv.url.clone().unwrap();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    let http = reqwest::Client::new();
    let post = |origin: Option<&str>| {
        let mut r = http
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body);
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send()
    };
    assert_eq!(
        post(Some("http://evil.example")).await.unwrap().status(),
        403
    );
    assert_eq!(
        post(Some("http://localhost.evil.example:8000"))
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        post(Some("http://localhost:3000")).await.unwrap().status(),
        200
    );
    assert_eq!(post(None).await.unwrap().status(), 200);
    // DNS rebinding: a foreign Host header is refused too.
    let r = http
        .post(&url)
        .header("host", "evil.example")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

/// Every MCP session costs memory until it ends or expires, so their number is capped: an
/// `initialize` past the cap gets 503, and ending a session makes room again.
#[tokio::test]
async fn mcp_sessions_should_be_capped() {
    let srv = Server::start_with(
        Transport::Http,
        Opts {
            args: vec!["--max-mcp-sessions".into(), "3".into()],
            ..Default::default()
        },
    )
    .await;
    let url = srv.url.clone().unwrap();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    let http = reqwest::Client::new();
    let initialize = || {
        http.post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body)
    };
    // The harness's own client holds one session.
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = initialize().send().await.unwrap();
        assert_eq!(r.status(), 200);
        ids.push(r.headers()["mcp-session-id"].to_str().unwrap().to_string());
    }
    // Counted by the body's method, whatever the headers say.
    let r = initialize()
        .header("mcp-method", "initialize")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains("3 MCP sessions are open"));
    // Sessions already open, and stateless requests, are unaffected.
    assert_eq!(
        srv.call("ssh_list_sessions", json!({})).await.is_error,
        Some(false)
    );
    let r = http
        .delete(&url)
        .header("mcp-session-id", &ids[0])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(initialize().send().await.unwrap().status(), 200);
}

/// A client that sends its request's headers, or its body, too slowly is cut off after
/// 30 s, so that stalled connections cannot pile up (each holds a socket and a task).
#[tokio::test]
async fn slow_requests_should_be_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let srv = Server::start(Transport::Http).await;
    let url = srv.url.clone().unwrap();
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_string();
    let stall = |request: &'static str| {
        let addr = addr.clone();
        async move {
            let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
            c.write_all(request.as_bytes()).await.unwrap();
            let t = std::time::Instant::now();
            let mut answer = Vec::new();
            let read = tokio::time::timeout(
                std::time::Duration::from_secs(45),
                c.read_to_end(&mut answer),
            )
            .await;
            assert!(read.is_ok(), "the stalled connection stayed open");
            (t.elapsed(), String::from_utf8_lossy(&answer).into_owned())
        }
    };
    let (nothing, headers, body) = tokio::join!(
        stall(""),
        stall("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl"),
        stall(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nContent-Length: 100\r\n\r\n{\"json"
        ),
    );
    for (took, _) in [&nothing, &headers, &body] {
        assert!(*took >= std::time::Duration::from_secs(29), "{took:?}");
    }
    assert!(body.1.starts_with("HTTP/1.1 408"), "{}", body.1);
    // A body over 1 MiB is refused before it is read.
    let big = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(vec![b' '; (1 << 20) + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);
    // The server still serves.
    assert_eq!(
        srv.call("ssh_list_sessions", json!({})).await.is_error,
        Some(false)
    );
}
