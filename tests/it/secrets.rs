//! Secrets the user types on a one-time page (MCP URL elicitation), with a real browser:
//! the test client declares URL elicitation and, asked, hands the link to headless
//! Chromium, which fills in the password field and presses the button as a user would.
//! Every MCP message in both directions is recorded at the client; the secret must appear
//! in none of them, nor in the results, the server's `RUST_LOG=trace` log or the audit log.

use serde_json::{Value, json};

use crate::browser::Browser;
use crate::harness::{self, HttpServer, Opts, Transport as Kind, text};
use crate::official::{self, Tools};
use crate::secret_client::{Setup, User};
use crate::sshd::{self, PASSPHRASE, PASSWORD, Sshd, USER};

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
    let answers = s.asker.answers(1).await;
    assert!(
        answers.first().is_some_and(|a| a.contains("Received")),
        "{answers:?}"
    );
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
    let sshd = password_only_sshd();
    for modern in [false, true] {
        let Some(browser) = Browser::start().await else {
            return;
        };
        let s = Setup::start(Kind::Stdio, modern, User::Declines, browser).await;
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
}

/// On 2025-11-25 `accept` means the user agreed to open the page: the call waits for the
/// submission, then says the elicitation is complete.
#[tokio::test]
async fn an_accepted_link_should_be_waited_for_until_the_page_is_sent() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let sshd = password_only_sshd();
    let s = Setup::start(Kind::Http, false, User::AcceptsThenTypes(PASSWORD), browser).await;
    let r = s
        .call(
            "ssh_connect",
            json!({"address": sshd.address(), "username": USER}),
        )
        .await;
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    let asked = s.asker.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1);
    assert_eq!(*s.asker.completed.lock().unwrap(), [asked[0].1.clone()]);
    let answers = s.asker.answers(1).await;
    assert!(
        answers.first().is_some_and(|a| a.contains("Received")),
        "{answers:?}"
    );
    s.assert_nowhere(PASSWORD, &[&r]);
}

/// On 2026-07-28 the client's answer can come before the user has typed: the call waits a
/// while for the page, then asks again with the same link.
#[tokio::test]
async fn an_answer_before_the_page_is_sent_should_be_asked_again_with_the_same_link() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let sshd = password_only_sshd();
    let s = Setup::start(
        Kind::Stdio,
        true,
        User::TypesWhenAskedAgain(PASSWORD),
        browser,
    )
    .await;
    let r = s
        .call(
            "ssh_connect",
            json!({"address": sshd.address(), "username": USER}),
        )
        .await;
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    let asked = s.asker.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert_eq!(asked[0].0, asked[1].0, "the same link");
    s.assert_nowhere(PASSWORD, &[&r]);
}

/// Where the model may not pass credentials, the page is how a typed password gets in.
#[tokio::test]
async fn a_password_typed_on_the_page_should_work_where_arguments_may_not_carry_one() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let sshd = password_only_sshd();
    let s = Setup::start_with(
        Kind::Stdio,
        false,
        User::Types(PASSWORD),
        browser,
        "[security]\nallow_credentials_in_arguments = false",
    )
    .await;
    let args = json!({"address": sshd.address(), "username": USER, "password": PASSWORD});
    let refused = s.call("ssh_connect", args).await;
    assert_eq!(refused.is_error, Some(true), "{}", text(&refused));
    assert!(s.asker.asked.lock().unwrap().is_empty());
    let r = s
        .call(
            "ssh_connect",
            json!({"address": sshd.address(), "username": USER}),
        )
        .await;
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    assert_eq!(s.asker.asked.lock().unwrap().len(), 1);
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
    let answers = s.asker.answers(3).await;
    assert_eq!(answers.len(), 3, "{answers:?}");
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

/// A `requestState` that answered the question for one key's passphrase does not answer it
/// for another key (on 2026-07-28 the client sends the arguments again, and may change
/// them): the passphrase was typed for the key the page was about.
#[tokio::test]
async fn a_passphrase_answer_should_not_unlock_another_key() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let sshd = Sshd::start();
    let key = sshd::user().encrypted_key.display().to_string();
    let s = Setup::start(Kind::Stdio, true, User::Types(PASSPHRASE), browser).await;
    let first = s
        .call(
            "ssh_connect",
            json!({"address": sshd.address(), "username": USER, "key_path": key}),
        )
        .await;
    assert_ne!(first.is_error, Some(true), "{}", text(&first));
    let state = s
        .messages
        .lock()
        .unwrap()
        .iter()
        .find_map(|m| {
            let v: Value = serde_json::from_str(m).unwrap();
            v["result"]["requestState"].as_str().map(String::from)
        })
        .expect("an input-required result with a requestState");
    let other = s.home.path().join("other_key");
    std::fs::copy(&key, &other).unwrap();
    let args = json!({"address": sshd.address(), "username": USER,
        "key_path": other.display().to_string()});
    let Value::Object(args) = args else {
        unreachable!()
    };
    let mut responses = rmcp::model::InputResponses::new();
    responses.insert("secret".into(), json!({"action": "accept"}));
    let mut req = rmcp::model::CallToolRequestParams::new("ssh_connect").with_arguments(args);
    req.request_state = Some(state);
    req.input_responses = Some(responses);
    let r = tokio::time::timeout(harness::CALL_LIMIT, s.client.call_tool(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.is_error, Some(true), "{}", text(&r));
    assert!(text(&r).contains("requestState is not one"), "{}", text(&r));
}
