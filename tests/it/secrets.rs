//! Secrets the user types on a one-time page (MCP URL elicitation), with a real browser:
//! the test client declares URL elicitation and, asked, hands the link to headless
//! Chromium, which fills in the password field and presses the button as a user would.
//! Every MCP message in both directions is recorded at the client; the secret must appear
//! in none of them, nor in the results, the server's `RUST_LOG=trace` log or the audit log.

use std::sync::{Arc, Mutex};

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, CustomNotification,
    ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationCapability, ProtocolVersion,
    UrlElicitationCapability,
};
use rmcp::service::{NotificationContext, RequestContext, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess, Transport};
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt, RoleClient};
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::harness::{self, CALL_LIMIT, HttpServer, Opts, Transport as Kind, text};
use crate::official::{self, Tools};
use crate::sshd::{self, PASSPHRASE, PASSWORD, Sshd, USER};

/// What the user does when the client shows the link.
#[derive(Clone, Copy, PartialEq, Eq)]
enum User {
    /// Opens the page and types this secret.
    Types(&'static str),
    Declines,
}

/// The test client: answers URL elicitation through the browser.
#[derive(Clone)]
struct Asker {
    user: User,
    browser: Arc<Browser>,
    /// `(url, elicitationId, message)` of each URL elicitation.
    asked: Arc<Mutex<Vec<(String, String, String)>>>,
    /// The `elicitationId`s of `notifications/elicitation/complete`.
    completed: Arc<Mutex<Vec<String>>>,
    /// The pages the browser showed after each submission (and the statuses of forged
    /// submissions).
    answers: Arc<Mutex<Vec<String>>>,
    /// Before the user types, post to the page from a foreign origin with the form's token,
    /// and from the page's origin without it.
    forge: Arc<std::sync::atomic::AtomicBool>,
}

impl ClientHandler for Asker {
    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        info.capabilities = ClientCapabilities::builder()
            .enable_elicitation_with(
                ElicitationCapability::new().with_url(UrlElicitationCapability::new()),
            )
            .build();
        info
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, rmcp::ErrorData> {
        let ElicitRequestParams::UrlElicitationParams {
            url,
            elicitation_id,
            message,
            ..
        } = request
        else {
            return Ok(ElicitResult::new(ElicitationAction::Decline));
        };
        self.asked
            .lock()
            .unwrap()
            .push((url.clone(), elicitation_id, message));
        match self.user {
            User::Declines => Ok(ElicitResult::new(ElicitationAction::Decline)),
            User::Types(secret) => {
                if self.forge.load(std::sync::atomic::Ordering::SeqCst) {
                    for status in forge(&url).await {
                        self.answers
                            .lock()
                            .unwrap()
                            .push(format!("forged: {status}"));
                    }
                }
                let page = self.browser.fill_secret_page(&url, secret).await;
                self.answers.lock().unwrap().push(page);
                Ok(ElicitResult::new(ElicitationAction::Accept))
            }
        }
    }

    async fn on_custom_notification(
        &self,
        n: CustomNotification,
        _: NotificationContext<RoleClient>,
    ) {
        if n.method == "notifications/elicitation/complete" {
            let id = n.params.unwrap_or_default()["elicitationId"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            self.completed.lock().unwrap().push(id);
        }
    }
}

/// A client transport that records every message it sends and receives, as JSON.
struct Recording<T> {
    inner: T,
    log: Arc<Mutex<Vec<String>>>,
}

impl<T: Transport<RoleClient>> Transport<RoleClient> for Recording<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: rmcp::service::TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.log
            .lock()
            .unwrap()
            .push(serde_json::to_string(&item).unwrap());
        self.inner.send(item)
    }

    fn receive(
        &mut self,
    ) -> impl Future<Output = Option<rmcp::service::RxJsonRpcMessage<RoleClient>>> + Send {
        let log = self.log.clone();
        let next = self.inner.receive();
        async move {
            let m = next.await;
            if let Some(m) = &m {
                log.lock().unwrap().push(serde_json::to_string(m).unwrap());
            }
            m
        }
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}

/// A server (stdio or HTTP, either era) at `RUST_LOG=trace` with an audit log, and a client
/// recording every message.
struct Setup {
    client: RunningService<RoleClient, Asker>,
    asker: Asker,
    messages: Arc<Mutex<Vec<String>>>,
    home: tempfile::TempDir,
    _http: Option<tokio::process::Child>,
}

impl Setup {
    async fn start(kind: Kind, modern: bool, user: User, browser: Browser) -> Self {
        let home = tempfile::Builder::new()
            .prefix("ssh-mcp-home-")
            .tempdir()
            .unwrap();
        let config = home.path().join("config.toml");
        let audit = home.path().join("audit.jsonl");
        std::fs::write(
            &config,
            format!("[audit]\nfile = \"{}\"\n", audit.display()),
        )
        .unwrap();
        let opts = Opts {
            env: vec![("RUST_LOG".into(), "trace".into())],
            args: vec!["--config".into(), config.display().to_string()],
            ..Default::default()
        };
        let log = home.path().join("server.log");
        let asker = Asker {
            user,
            browser: Arc::new(browser),
            asked: Arc::default(),
            completed: Arc::default(),
            answers: Arc::default(),
            forge: Arc::default(),
        };
        let messages: Arc<Mutex<Vec<String>>> = Arc::default();
        let lifecycle = if modern {
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            }
        } else {
            ClientLifecycleMode::Initialize
        };
        let (client, http) = if kind == Kind::Stdio {
            let cmd = harness::server_command(
                &harness::binary("ssh-mcp-stdio"),
                home.path(),
                &log,
                &opts,
            );
            let (proc, _) = TokioChildProcess::builder(cmd)
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap();
            let t = Recording {
                inner: proc,
                log: messages.clone(),
            };
            let c = asker.clone().serve_with_lifecycle(t, lifecycle);
            (tokio::time::timeout(CALL_LIMIT, c).await, None)
        } else {
            let mut cmd =
                harness::server_command(&harness::binary("ssh-mcp"), home.path(), &log, &opts);
            cmd.stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null());
            let child = cmd.spawn().unwrap();
            let url = harness::wait_for_url(&log).await;
            let t = Recording {
                inner: StreamableHttpClientTransport::from_config(
                    StreamableHttpClientTransportConfig::with_uri(url),
                ),
                log: messages.clone(),
            };
            let c = asker.clone().serve_with_lifecycle(t, lifecycle);
            (tokio::time::timeout(CALL_LIMIT, c).await, Some(child))
        };
        let client = client
            .expect("handshake timed out")
            .expect("handshake failed");
        Setup {
            client,
            asker,
            messages,
            home,
            _http: http,
        }
    }

    async fn call(&self, tool: &str, args: Value) -> CallToolResult {
        let Value::Object(map) = args else {
            panic!("arguments must be an object")
        };
        let req = CallToolRequestParams::new(tool.to_string()).with_arguments(map);
        tokio::time::timeout(CALL_LIMIT, self.client.call_tool(req))
            .await
            .unwrap_or_else(|_| panic!("{tool} did not answer within {CALL_LIMIT:?}"))
            .unwrap_or_else(|e| panic!("{tool} failed at the protocol level: {e}"))
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(self.home.path().join("server.log")).unwrap_or_default()
    }

    /// The secret appears nowhere the model, the client or the logs could see it.
    fn assert_nowhere(&self, secret: &str, results: &[&CallToolResult]) {
        let messages = self.messages.lock().unwrap().join("\n");
        assert!(messages.contains("tools/call"), "no messages recorded");
        assert!(
            !messages.contains(secret),
            "the secret is in an MCP message"
        );
        for r in results {
            let r = serde_json::to_string(r).unwrap();
            assert!(!r.contains(secret), "the secret is in a result: {r}");
        }
        let log = self.server_log();
        // RUST_LOG=trace: everything the server logs at any level is here.
        assert!(log.contains("DEBUG"), "the server did not log verbosely");
        assert!(!log.contains(secret), "the secret is in the server's log");
        let audit = std::fs::read_to_string(self.home.path().join("audit.jsonl")).unwrap();
        assert!(audit.contains("ssh_connect"), "{audit}");
        assert!(!audit.contains(secret), "the secret is in the audit log");
    }
}

/// Posts to a live page as an attacker would: from a foreign origin with the form's token,
/// and without the token. Returns the two statuses.
async fn forge(url: &str) -> Vec<u16> {
    let client = reqwest::Client::new();
    let html = client.get(url).send().await.unwrap().text().await.unwrap();
    let at = html.find("name=\"token\" value=\"").unwrap() + 20;
    let token = &html[at..at + 32];
    let mut statuses = Vec::new();
    for (origin, body) in [
        (
            "http://evil.example",
            format!("token={token}&secret=forged"),
        ),
        ("null", "secret=forged".to_string()),
    ] {
        let r = client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", origin)
            .body(body)
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    statuses
}

/// An sshd that takes passwords only.
fn password_only_sshd() -> Sshd {
    Sshd::builder().config("PubkeyAuthentication no").start()
}

/// The password typed on the page logs in to a password-only host, the session works, and
/// the password appears nowhere else.
async fn password_typed_on_the_page(kind: Kind, modern: bool) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let sshd = password_only_sshd();
    let s = Setup::start(kind, modern, User::Types(PASSWORD), browser).await;
    let r = s
        .call(
            "ssh_connect",
            json!({"address": sshd.address(), "username": USER}),
        )
        .await;
    assert_ne!(r.is_error, Some(true), "{}\n{}", text(&r), s.server_log());
    let v = r.structured_content.clone().unwrap();
    assert_eq!(v["auth_method"], "password", "{v}");
    let asked = s.asker.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1, "asked once: {asked:?}");
    let (url, elicitation_id, message) = &asked[0];
    // The link names nothing but the page: /secrets/ and 128 random bits in hex.
    let id = url.rsplit_once("/secrets/").unwrap().1;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{url}"
    );
    assert!(
        message.contains("SSH password") && message.contains(USER),
        "{message}"
    );
    let answers = s.asker.answers.lock().unwrap().clone();
    assert!(answers[0].contains("Received"), "{answers:?}");
    // Pushed as a request of its own up to 2025-11-25; inside an input-required result from
    // 2026-07-28 on.
    let pushed = s
        .messages
        .lock()
        .unwrap()
        .iter()
        .filter(|m| serde_json::from_str::<Value>(m).unwrap()["method"] == "elicitation/create")
        .count();
    let wire = s.messages.lock().unwrap().join("\n");
    if modern {
        assert_eq!(pushed, 0);
        assert!(wire.contains("input_required") && wire.contains("requestState"));
    } else {
        assert_eq!(pushed, 1);
        // The completion notification names the elicitation the client was asked.
        assert_eq!(
            *s.asker.completed.lock().unwrap(),
            std::slice::from_ref(elicitation_id)
        );
    }
    // A used link shows and takes nothing more.
    s.asker.browser.open(url).await;
    let again = s.asker.browser.source().await;
    assert!(again.contains("Link not valid"), "{again}");
    let session = v["session_id"].as_str().unwrap();
    let who = s
        .call(
            "ssh_execute",
            json!({"session_id": session, "command": "whoami"}),
        )
        .await;
    assert!(text(&who).contains(USER), "{}", text(&who));
    // The typed password stays with the session: a lost connection is reconnected with it,
    // without asking again.
    sshd.signal_connections("KILL");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let again = s
        .call(
            "ssh_execute",
            json!({"session_id": session, "command": "whoami"}),
        )
        .await;
    assert!(text(&again).contains(USER), "{}", text(&again));
    assert_eq!(s.asker.asked.lock().unwrap().len(), 1, "asked again");
    let list = s.call("ssh_list_sessions", json!({})).await;
    assert_eq!(
        list.structured_content.clone().unwrap()["sessions"][0]["reconnects"],
        1
    );
    s.assert_nowhere(PASSWORD, &[&r, &who, &again, &list]);
}

#[tokio::test]
async fn a_password_typed_on_the_page_should_log_in_over_stdio_at_2025_11_25() {
    password_typed_on_the_page(Kind::Stdio, false).await;
}

#[tokio::test]
async fn a_password_typed_on_the_page_should_log_in_over_stdio_at_2026_07_28() {
    password_typed_on_the_page(Kind::Stdio, true).await;
}

#[tokio::test]
async fn a_password_typed_on_the_page_should_log_in_over_http_at_2025_11_25() {
    password_typed_on_the_page(Kind::Http, false).await;
}

#[tokio::test]
async fn a_password_typed_on_the_page_should_log_in_over_http_at_2026_07_28() {
    password_typed_on_the_page(Kind::Http, true).await;
}

#[tokio::test]
async fn an_encrypted_keys_passphrase_typed_on_the_page_should_unlock_it() {
    let sshd = Sshd::start();
    let key = sshd::user().encrypted_key.display().to_string();
    for modern in [false, true] {
        let Some(browser) = Browser::start().await else {
            return;
        };
        let s = Setup::start(Kind::Stdio, modern, User::Types(PASSPHRASE), browser).await;
        let r = s
            .call(
                "ssh_connect",
                json!({"address": sshd.address(), "username": USER, "key_path": key}),
            )
            .await;
        assert_ne!(r.is_error, Some(true), "{}", text(&r));
        let v = r.structured_content.clone().unwrap();
        assert!(
            v["auth_method"].as_str().unwrap().starts_with("key "),
            "{v}"
        );
        let message = s.asker.asked.lock().unwrap()[0].2.clone();
        assert!(message.contains("passphrase"), "{message}");
        s.assert_nowhere(PASSPHRASE, &[&r]);
    }
}

#[tokio::test]
async fn a_declined_page_should_end_the_call_with_a_refusal() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let sshd = password_only_sshd();
    let s = Setup::start(Kind::Stdio, false, User::Declines, browser).await;
    let r = s
        .call(
            "ssh_connect",
            json!({"address": sshd.address(), "username": USER}),
        )
        .await;
    assert_eq!(r.is_error, Some(true));
    let t = text(&r);
    assert!(
        t.contains("REFUSED by the user") && t.contains("declined"),
        "{t}"
    );
    // The link was withdrawn.
    let url = s.asker.asked.lock().unwrap()[0].0.clone();
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 404);
}

#[tokio::test]
async fn without_url_elicitation_the_error_should_name_the_page() {
    let sshd = password_only_sshd();
    let srv = harness::Server::stdio().await;
    let e = srv
        .err(
            "ssh_connect",
            json!({"address": sshd.address(), "username": USER}),
        )
        .await;
    assert!(
        e.contains("authentication failed") && e.contains("URL elicitation"),
        "{e}"
    );
}

#[tokio::test]
async fn a_forged_post_to_a_live_page_should_be_refused() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let sshd = password_only_sshd();
    let s = Setup::start(Kind::Http, false, User::Types(PASSWORD), browser).await;
    s.asker
        .forge
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let r = s
        .call(
            "ssh_connect",
            json!({"address": sshd.address(), "username": USER}),
        )
        .await;
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    let answers = s.asker.answers.lock().unwrap().clone();
    assert_eq!(
        answers[..2],
        ["forged: 403".to_string(), "forged: 403".to_string()],
        "{answers:?}"
    );
    assert!(answers[2].contains("Received"), "{answers:?}");
}

/// The official Python SDK's client, answering through headless Chromium; the password is
/// in no result (the script checks) and not in the server's trace log.
async fn python_sdk_client(http: bool, mode: &str) {
    let transport = if http { "http" } else { "stdio" };
    let Some(tools) = Tools::get(&format!("python_sdk_client secrets {transport} {mode}")) else {
        return;
    };
    if Browser::start().await.is_none() {
        return;
    }
    let sshd = password_only_sshd();
    let server = if http {
        Some(
            HttpServer::start(Opts {
                env: vec![("RUST_LOG".into(), "trace".into())],
                ..Default::default()
            })
            .await,
        )
    } else {
        None
    };
    let home = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(tools.python());
    cmd.arg(official::spec_dir().join("secret_client.py"));
    match &server {
        Some(s) => cmd.args(["--http", &s.url]),
        None => cmd.args(["--stdio", env!("CARGO_BIN_EXE_ssh-mcp-stdio")]),
    };
    cmd.args(["--mode", mode, "--address", &sshd.address()])
        .args(["--user", USER, "--password", PASSWORD])
        .env("HOME", home.path())
        .env("USER", USER)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("SSH_AUTH_SOCK");
    let (status, out, err) = official::run(cmd).await;
    assert!(
        status.success() && out.contains("all checks passed"),
        "Python SDK client ({transport}, {mode}): {status}\n--- stdout ---\n{out}\n--- stderr ---\n{err}"
    );
    // Over stdio the server's log is the client's stderr (with the password on the command
    // line of the script, which is not in it); over HTTP it is the server's own.
    let log = match &server {
        Some(s) => s.log(),
        None => err,
    };
    assert!(log.contains("DEBUG"), "no verbose server log: {log}");
    assert!(
        !log.contains(PASSWORD),
        "the password is in the server's log"
    );
}

#[tokio::test]
async fn python_sdk_client_should_type_a_password_on_the_page_over_stdio_at_2025_11_25() {
    python_sdk_client(false, "legacy").await;
}

#[tokio::test]
async fn python_sdk_client_should_type_a_password_on_the_page_over_stdio_at_2026_07_28() {
    python_sdk_client(false, "auto").await;
}

#[tokio::test]
async fn python_sdk_client_should_type_a_password_on_the_page_over_http_at_2025_11_25() {
    python_sdk_client(true, "legacy").await;
}

#[tokio::test]
async fn python_sdk_client_should_type_a_password_on_the_page_over_http_at_2026_07_28() {
    python_sdk_client(true, "auto").await;
}
