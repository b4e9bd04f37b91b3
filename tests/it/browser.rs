//! A real browser for the tests: Debian's headless Chromium driven through `chromedriver`
//! (package `chromium-driver`) by the W3C WebDriver protocol, the one Selenium speaks.
//! Each [`Browser`] runs its own chromedriver in its own process group, killed on drop.
//! `SSH_MCP_CHROMEDRIVER` and `SSH_MCP_BROWSER` name other ones (Google Chrome and its
//! driver on GitHub's runners, whose Ubuntu ships Chromium as a snap).

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The browser itself (`/usr/bin/chromium` is a wrapper script).
const CHROMIUM: &str = "/usr/lib/chromium/chromium";

fn path_of(var: &str, default: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}
/// The W3C id of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A fresh headless browser, or `None` (after saying so) where Chromium or chromedriver
    /// is missing; under `CI` that fails the test instead.
    pub async fn start() -> Option<Self> {
        let driver_bin = path_of("SSH_MCP_CHROMEDRIVER", CHROMEDRIVER);
        let browser_bin = path_of("SSH_MCP_BROWSER", CHROMIUM);
        if !std::path::Path::new(&driver_bin).exists()
            || !std::path::Path::new(&browser_bin).exists()
        {
            let why = "headless Chromium and chromedriver are missing (apt install chromium chromium-driver; scripts/test does)";
            assert!(std::env::var_os("CI").is_none(), "{why}");
            eprintln!("SKIPPED: {why}");
            return None;
        }
        let port = crate::sshd::free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..200 {
            let up = http.get(format!("{base}/status")).send().await;
            if up.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": browser_bin,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     format!("--user-data-dir={}", profile.path().display())],
        }}}});
        let mut b = Browser {
            driver,
            base,
            session: String::new(),
            http,
            _profile: profile,
        };
        let v = b.call("POST", "/session", caps).await;
        b.session = v["sessionId"].as_str().unwrap().to_string();
        Some(b)
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "POST" => self.http.post(url).body(body.to_string()),
            "DELETE" => self.http.delete(url),
            _ => self.http.get(url),
        };
        let resp = tokio::time::timeout(Duration::from_secs(60), req.send())
            .await
            .expect("chromedriver did not answer")
            .unwrap();
        let text = resp.text().await.unwrap();
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        if v["value"]["error"].is_string() {
            panic!("webdriver {method} {path}: {v}");
        }
        v["value"].clone()
    }

    fn at(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens `url`.
    pub async fn open(&self, url: &str) {
        self.call("POST", &self.at("/url"), json!({ "url": url }))
            .await;
    }

    /// The current page's HTML as the browser sees it.
    pub async fn source(&self) -> String {
        let v = self.call("GET", &self.at("/source"), Value::Null).await;
        v.as_str().unwrap_or_default().to_string()
    }

    /// Types `text` into the element `css` selects.
    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.call(
            "POST",
            &self.at(&format!("/element/{el}/value")),
            json!({ "text": text }),
        )
        .await;
    }

    /// Clicks the element `css` selects.
    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.call("POST", &self.at(&format!("/element/{el}/click")), json!({}))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .call(
                "POST",
                &self.at("/element"),
                json!({"using": "css selector", "value": css}),
            )
            .await;
        v[ELEMENT].as_str().unwrap().to_string()
    }

    /// Does what a user does with a secret page: opens it, types `secret` into the password
    /// field and presses the button. Returns the page the server answered with.
    pub async fn fill_secret_page(&self, url: &str, secret: &str) -> String {
        self.open(url).await;
        self.type_into("input[type=password]", secret).await;
        self.click("button[type=submit]").await;
        // The click starts the navigation; the answer replaces the form when it arrives.
        let mut page = String::new();
        for _ in 0..100 {
            page = self.source().await;
            if !page.contains("<form") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        page
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver and the browsers it started share its process group.
        let pgid = self.driver.id() as i32;
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .status();
        let _ = self.driver.wait();
    }
}
