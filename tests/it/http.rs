//! The Streamable HTTP binary: both protocol eras, Origin validation, shared sessions,
//! bearer token files.

use serde_json::json;

use crate::harness::{Opts, Server, Transport, binary, http_client, text};
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

/// Starts `ssh-mcp` with this token file (and `SSH_MCP_TOKEN`, if given), expecting it to
/// refuse to start; returns what it printed.
async fn refused_at_start(tokens: &str, env_token: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens");
    std::fs::write(&file, tokens).unwrap();
    let mut cmd = tokio::process::Command::new(binary("ssh-mcp"));
    cmd.env("MCP_PORT", "0")
        .env("HOME", dir.path())
        .env_remove("SSH_MCP_TOKEN")
        .arg("--token-file")
        .arg(&file)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(t) = env_token {
        cmd.env("SSH_MCP_TOKEN", t);
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(20), cmd.output())
        .await
        .expect("ssh-mcp started serving instead of refusing its tokens")
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{err}");
    assert!(!err.contains("serving MCP"), "{err}");
    err
}

const ALICE: &str = "alice-token-0123456789";
const ENV: &str = "env-token-0123456789ab";

/// Sessions belong to a token's name: two tokens with one name would share them, so a
/// token file that reuses a name (`env` being the name of SSH_MCP_TOKEN) or a token is
/// refused at start, and so is a line whose part before `:` is no name (it is never split
/// into a shorter token). The token itself is never printed.
#[tokio::test]
async fn token_files_with_duplicate_or_ambiguous_entries_should_be_refused_at_start() {
    let cases = [
        (
            format!("alice:{ALICE}\nenv:other-token-0123456789\n"),
            Some(ENV),
            "two bearer tokens are named `env`",
        ),
        (
            format!("alice:{ALICE}\nalice:other-token-0123456789\n"),
            None,
            "line 2: the name `alice` is already used on line 1",
        ),
        (
            format!("alice:{ALICE}\n# bob\nbob:{ALICE}\n"),
            None,
            "line 3: the same token as on line 1",
        ),
        (
            format!("alice:{ALICE}\n"),
            Some(ALICE),
            "`alice` and `env` are the same token",
        ),
        // A bare token with a `:` is not cut into a name and a shorter token.
        (
            format!("# tokens\n\nab+c/{ALICE}:{ALICE}\n"),
            None,
            "line 3: the part before the first `:` is not a token name",
        ),
        (
            format!("{}:{ALICE}\n", "n".repeat(65)),
            None,
            "line 1: the part before the first `:` is not a token name",
        ),
    ];
    for (file, env, expected) in cases {
        let err = refused_at_start(&file, env).await;
        assert!(err.contains(expected), "{file:?}: {err}");
        assert!(!err.contains(ALICE) && !err.contains(ENV), "{err}");
    }
}

/// Tokens with distinct names each authenticate and each see only their own sessions: a
/// file token, a bare one (named by its line) and SSH_MCP_TOKEN; a token may contain `:`
/// behind its name.
#[tokio::test]
async fn tokens_with_distinct_names_should_each_work() {
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens");
    let colon = "with:colon-token-0123456789";
    let bare = "bare-token-0123456789abc";
    std::fs::write(
        &file,
        format!("# team\nalice:{ALICE}\nbob:{colon}\n{bare}\n"),
    )
    .unwrap();
    let srv = Server::start_with(
        Transport::Http,
        Opts {
            args: vec!["--token-file".into(), file.display().to_string()],
            env: vec![("SSH_MCP_TOKEN".into(), ENV.into())],
            token: Some(ENV.into()),
            ..Default::default()
        },
    )
    .await;
    let url = srv.url.clone().unwrap();
    let s = srv.connect(&sshd).await;
    let call = |tool: &str, args: serde_json::Value| {
        rmcp::model::CallToolRequestParams::new(tool.to_string())
            .with_arguments(args.as_object().unwrap().clone())
    };
    for token in [ALICE, colon, bare] {
        let other = http_client(&url, Some(token)).await;
        let r = other
            .call_tool(call("ssh_list_sessions", json!({})))
            .await
            .unwrap();
        assert_eq!(
            r.structured_content.unwrap()["sessions"],
            json!([]),
            "{token}"
        );
        let r = other
            .call_tool(call(
                "ssh_execute",
                json!({"session_id": s, "command": "true"}),
            ))
            .await
            .unwrap();
        assert!(text(&r).contains("no session with id"), "{token}");
    }
    // Only the part behind the name is the token.
    let r = reqwest::Client::new()
        .post(&url)
        .header("authorization", "Bearer colon-token-0123456789")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let list = srv.ok("ssh_list_sessions", json!({})).await;
    assert_eq!(list["sessions"][0]["session_id"], s.as_str());
}
