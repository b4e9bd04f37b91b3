//! The test client of the secret pages: an rmcp client that declares URL elicitation and
//! hands each link to a real browser, recording every MCP message it sends and receives.

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
use serde_json::Value;

use crate::browser::Browser;
use crate::harness::{self, CALL_LIMIT, Opts, Transport as Kind};

/// What the user does when the client shows the link.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum User {
    /// Opens the page and types this secret.
    Types(&'static str),
    /// Agrees to open the page (the client answers at once), then types it a moment later.
    AcceptsThenTypes(&'static str),
    /// Agrees to open the page the first time without typing yet, types it when asked again.
    TypesWhenAskedAgain(&'static str),
    Declines,
}

/// The test client: answers URL elicitation through the browser.
#[derive(Clone)]
pub struct Asker {
    pub user: User,
    pub browser: Arc<Browser>,
    /// `(url, elicitationId, message)` of each URL elicitation.
    pub asked: Arc<Mutex<Vec<(String, String, String)>>>,
    /// The `elicitationId`s of `notifications/elicitation/complete`.
    pub completed: Arc<Mutex<Vec<String>>>,
    /// The pages the browser showed after each submission (and the statuses of forged
    /// submissions).
    pub answers: Arc<Mutex<Vec<String>>>,
    /// Before the user types, post to the page from a foreign origin with the form's token,
    /// and from the page's origin without it.
    pub forge: Arc<std::sync::atomic::AtomicBool>,
}

impl Asker {
    /// The pages the browser showed, once there are `n` of them (or after 5 s): a call may
    /// end as soon as the server has the secret, before the browser has read the answer.
    pub async fn answers(&self, n: usize) -> Vec<String> {
        let mut answers = Vec::new();
        for _ in 0..50 {
            answers = self.answers.lock().unwrap().clone();
            if answers.len() >= n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        answers
    }
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
        let times = {
            let mut asked = self.asked.lock().unwrap();
            asked.push((url.clone(), elicitation_id, message));
            asked.len()
        };
        match self.user {
            User::Declines => Ok(ElicitResult::new(ElicitationAction::Decline)),
            User::AcceptsThenTypes(secret) => {
                let (browser, answers) = (self.browser.clone(), self.answers.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    let page = browser.fill_secret_page(&url, secret).await;
                    answers.lock().unwrap().push(page);
                });
                Ok(ElicitResult::new(ElicitationAction::Accept))
            }
            User::TypesWhenAskedAgain(_) if times == 1 => {
                Ok(ElicitResult::new(ElicitationAction::Accept))
            }
            User::Types(secret) | User::TypesWhenAskedAgain(secret) => {
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
pub struct Recording<T> {
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
pub struct Setup {
    pub client: RunningService<RoleClient, Asker>,
    pub asker: Asker,
    pub messages: Arc<Mutex<Vec<String>>>,
    pub home: tempfile::TempDir,
    pub _http: Option<tokio::process::Child>,
}

impl Setup {
    pub async fn start(kind: Kind, modern: bool, user: User, browser: Browser) -> Self {
        Self::start_with(kind, modern, user, browser, "").await
    }

    /// The same, with `config` added to the server's config file.
    pub async fn start_with(
        kind: Kind,
        modern: bool,
        user: User,
        browser: Browser,
        config: &str,
    ) -> Self {
        let extra = config;
        let home = tempfile::Builder::new()
            .prefix("ssh-mcp-home-")
            .tempdir()
            .unwrap();
        let config = home.path().join("config.toml");
        let audit = home.path().join("audit.jsonl");
        let text = format!("{extra}\n[audit]\nfile = \"{}\"\n", audit.display());
        std::fs::write(&config, text).unwrap();
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

    pub async fn call(&self, tool: &str, args: Value) -> CallToolResult {
        let Value::Object(map) = args else {
            panic!("arguments must be an object")
        };
        let req = CallToolRequestParams::new(tool.to_string()).with_arguments(map);
        tokio::time::timeout(CALL_LIMIT, self.client.call_tool(req))
            .await
            .unwrap_or_else(|_| panic!("{tool} did not answer within {CALL_LIMIT:?}"))
            .unwrap_or_else(|e| panic!("{tool} failed at the protocol level: {e}"))
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.home.path().join("server.log")).unwrap_or_default()
    }

    /// The secret appears nowhere the model, the client or the logs could see it.
    pub fn assert_nowhere(&self, secret: &str, results: &[&CallToolResult]) {
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
pub async fn forge(url: &str) -> Vec<u16> {
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
